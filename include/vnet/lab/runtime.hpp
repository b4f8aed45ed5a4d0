// vnet/lab/runtime.hpp - run a lab: build its topology in network namespaces, boot its
// VMs, run its checks, tear everything down (Linux only, root).
//
// What a run builds (docs/design.md "Lab file", "How a frame travels in a lab"; names in
// lab/plan.hpp):
//   - "inet": a namespace holding 198.51.100.10 (on lo) that answers ping, DNS for every
//     name the lab declares (dnsmasq, no upstream) and TCP on 80, 443, 1883, 5671, 5672,
//     8883 (accept and close, a thread of this process).
//   - per [[network]]: a namespace with a Linux bridge holding the gateway address,
//     ip_forward, a transit veth to "inet" and nftables masquerade out of it; dnsmasq on
//     the bridge for the network's DNS names and, with `dhcp`, vnet's DHCP server on the
//     bridge (lab/dhcp_host.hpp: range, DNS list, allow_macs as a MAC filter: only listed
//     MACs get leases).
//     blocked_tcp_ports: the router drops outbound TCP to those ports (a firewall).
//   - per [[network.peer]]: a namespace with a veth into the bridge, default route via
//     the gateway.
//   - "host" (the emulated Windows host): its physical adapter is a veth into its
//     network's bridge, or, when an external switch shares that adapter, the host's
//     address sits on that switch's host vNIC (as Hyper-V moves it to "vEthernet (...)").
//   - per [[switch]]: a vnet vswitch in this process (lab/switch_pump.hpp). external: an
//     uplink port on a TAP in the network's bridge, and with allow_management_os a host
//     vNIC; internal: a host vNIC with host_address, `nat` is New-NetNat: vnet's NAT
//     (lab/nat_host.hpp) translates the prefix to the host's adapter address, `dhcp` runs vnet's DHCP server and dnsmasq (DNS for
//     the lab's names) on the host vNIC; default: internal with a /20 of 172.16.0.0/12 that collides with
//     nothing, its host vNIC served by vnet's own ICS services (lab/ics_host.hpp: the
//     svc::default_switch bundle's DHCP server, DNS proxy to the lab's public DNS server
//     and NAT out of the host's adapter); private: VM ports only.
//     A host vNIC is a TAP whose kernel side is in "host"; this process holds its fd.
//   - per [[vm]]: QEMU (TCG) in "host" with one TAP per NIC (arp off, no IPv6: only the
//     switch sees the guest's frames); an AF_PACKET socket on each TAP is its switch port,
//     in access mode when the NIC has a vlan.
//
// Every namespace, interface and process is named with the run id and recorded under
// /run/vnet/<id>/ (owner pid + start time, namespaces, child pids). The destructor removes
// it all; remove_leftovers() removes what a run whose owner is gone left behind (a
// SIGKILLed runner), remove_run() what a kept lab (`vnet lab up`) holds.
//
// The parts: lab/run_registry.hpp (the registry, leftover removal), lab/topology.hpp
// (realise() / teardown() of the above), lab/fleet.hpp (the VMs: boot, restart, exec,
// leases), lab/check_env.hpp + lab/checks.hpp (one function per check kind, one table of
// them; verdicts in lab/verdicts.hpp). lab_runtime below puts them together.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/expected.hpp>
#include <vnet/lab/check_env.hpp>
#include <vnet/lab/checks.hpp>
#include <vnet/lab/fleet.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/lab/report.hpp>
#include <vnet/lab/run_registry.hpp>
#include <vnet/lab/topology.hpp>

namespace vnet::lab {

/// A lab file the runtime cannot run (exit 2, like a bad lab file): "FILE:LINE: KEY: MESSAGE".
inline std::optional<lab_error> unsupported_by_runtime(const lab_file& lf) {
    for (const auto& c : lf.checks)
        if (!rules_of(c.kind).lab_run)
            return lab_error{lf.path, c.line, "check.kind",
                             fmt::format("{} checks are run by `vnet conformance`, not `vnet lab run`", to_string(c.kind))};
    if (lf.vms.size() > 99) return lab_error{lf.path, 0, "vm", "at most 99 VMs per lab"};
    for (const auto& vm : lf.vms)
        if (vm.nics.size() > 9) return lab_error{lf.path, vm.line, "vm.nic", "at most 9 NICs per VM"};
    if (lf.networks.size() > 200) return lab_error{lf.path, 0, "network", "at most 200 networks per lab"};
    const switch_config* nat_switch = nullptr;
    for (const auto& s : lf.switches)
        if (s.kind == switch_kind::internal && s.nat) {
            if (nat_switch)
                return lab_error{lf.path, s.line, "switch.nat",
                                 fmt::format("switch '{}' and switch '{}' both want a NAT; a Windows host has one NetNat",
                                             nat_switch->name, s.name)};
            nat_switch = &s;
        }
    for (std::size_t i = 0; i < lf.switches.size(); ++i)
        if (lf.switches[i].kind == switch_kind::internal && !lf.switches[i].host_address)
            return lab_error{lf.path, lf.switches[i].line, "switch.host_address",
                             "an internal switch needs host_address (the host vNIC's address) in a lab"};
    return std::nullopt;
}

/// A lab built and running. Move-free; create() builds it, the destructor removes it.
class lab_runtime {
public:
    using clock = std::chrono::steady_clock;

    lab_runtime(const lab_runtime&) = delete;
    lab_runtime& operator=(const lab_runtime&) = delete;

    /// Builds the lab's topology (no VM booted yet). On failure everything made so far is
    /// removed and the message says what failed.
    static expected<std::unique_ptr<lab_runtime>, run_error> create(lab_file lf, run_options opt) {
        if (auto u = unsupported_by_runtime(lf)) return unexpected(u->to_string());
        if (::geteuid() != 0) return unexpected(run_error("a lab needs root (network namespaces, TAPs)"));
        std::unique_ptr<lab_runtime> rt(new lab_runtime(std::move(lf), std::move(opt)));
        try {
            rt->topo_->realise();
            rt->fleet_ = std::make_unique<vm_fleet>(rt->topo_->vm_slots(), rt->topo_->options(), rt->topo_->names().state_dir());
        } catch (const std::exception& e) {
            return unexpected(run_error(e.what()));
        }
        return rt;
    }

    ~lab_runtime() {
        fleet_.reset();  // the VMs first, then what they were plugged into
        topo_.reset();
    }

    const lab_file& file() const noexcept { return topo_->file(); }
    const std::string& run_id() const noexcept { return topo_->names().id; }
    const run_names& names() const noexcept { return topo_->names(); }
    /// Where serial logs, dnsmasq logs and captures go.
    const std::string& log_dir() const noexcept { return topo_->log_dir(); }
    std::optional<ipv4_prefix> default_switch_subnet() const { return topo_->default_switch_subnet(); }
    lab_topology& topology() noexcept { return *topo_; }
    vm_fleet& fleet() noexcept { return *fleet_; }

    /// Boots every VM, `parallel` at a time, and waits for each guest agent. Progress goes
    /// to options.progress. The boots (also in report()).
    const std::vector<vm_boot>& boot() { return fleet_->boot(); }

    /// Runs a command in a VM through its agent.
    result<command_result> vm_exec(std::string_view vm, std::string_view command,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        return fleet_->vm_exec(vm, command, timeout);
    }

    /// The namespace a check's `from` names: "host", a network (its gateway), a peer;
    /// empty when it is a VM or unknown.
    std::string netns_of(std::string_view who) const { return topo_->netns_of(who); }

    /// Runs a program in a lab namespace.
    result<io::run_output> ns_exec(std::string_view who, const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
        return topo_->ns_exec(who, argv, timeout);
    }

    /// The address `to` names (check_env::resolve).
    std::optional<ipv4_address> resolve(std::string_view to, std::string_view from = {}) {
        return check_env(*topo_, *fleet_).resolve(to, from);
    }

    /// Runs the arp checks now (run_lab: before the VMs boot, as Deploy-Eflow probes the
    /// network before it creates the VM); run_checks() reports them in their place.
    void run_probes() {
        for (std::size_t i = 0; i < topo_->file().checks.size(); ++i)
            if (rules_of(topo_->file().checks[i].kind).before_boot && !topo_->stopping()) probes_[i] = run_check(i);
    }

    /// Runs every [[check]] in order; each result also goes to `on_result` as it is known.
    std::vector<check_result> run_checks(const std::function<void(const check_result&)>& on_result = {}) {
        checks_.clear();
        for (std::size_t i = 0; i < topo_->file().checks.size(); ++i) {
            if (topo_->stopping()) break;
            auto early = probes_.find(i);
            auto c = early != probes_.end() ? early->second : run_check(i);
            if (on_result) on_result(c);
            checks_.push_back(std::move(c));
        }
        return checks_;
    }

    /// One check (index into file().checks).
    check_result run_check(std::size_t i) {
        const auto& cc = topo_->file().checks[i];
        check_result r;
        r.index = i + 1;
        r.line = cc.line;
        r.kind = cc.kind;
        r.from = cc.from;
        const auto& rule = rules_of(cc.kind);
        r.to = rule.needs_name ? cc.name : cc.to;
        r.expected = cc.expect;
        auto t0 = clock::now();
        try {
            auto env = check_env(*topo_, *fleet_);
            lab::run_check(env, cc, r);
        } catch (const std::exception& e) {
            r.observed = "error";
            r.detail = fmt::format("the check stopped: {}", e.what());
        }
        // A check that returned without an observation could not be carried out: never
        // read as a failure (verdicts.hpp).
        if (r.observed.empty()) {
            r.observed = "error";
            if (r.detail.empty()) r.detail = "the check observed nothing";
        }
        r.in_guest = topo_->file().find_vm(cc.from) != nullptr && rule.in_guest;
        r.seconds = std::chrono::duration<double>(clock::now() - t0).count();
        return r;
    }

    /// Index of a switch by name.
    std::optional<std::size_t> switch_index(std::string_view name) const { return topo_->switch_index(name); }
    /// The switch port of NIC `nic` of VM `vm`.
    std::optional<sw::port_index> vm_port(std::string_view vm, std::size_t nic) const { return fleet_->vm_port(vm, nic); }
    const switch_pump& pump() const noexcept { return topo_->pump(); }
    switch_pump& pump() noexcept { return topo_->pump(); }
    /// The pcap file of a VM NIC's port (empty without a report folder).
    std::string vm_pcap(std::string_view vm, std::size_t nic) const { return topo_->vm_pcap(vm, nic); }
    /// Counters of every switch port now.
    std::vector<port_report> port_reports() const { return topo_->port_reports(); }

    /// Adds NIC `nic` to running VM `vm` (Add-EflowVmEndpoint on a lab that is up): TAP,
    /// MAC from the host's pool and switch port (lab_topology::add_vm_nic), then QEMU's
    /// device (vm_fleet::hot_plug). The NIC as the VM was given it, or what failed.
    expected<vm_nic, std::string> add_vm_nic(std::string_view vm, nic_config nic) {
        try {
            auto [port, made] = topo_->add_vm_nic(vm, std::move(nic));
            auto k = fleet_->hot_plug(vm, made, port);
            if (!k) {  // QEMU refused: the port and the lab file's NIC go again
                topo_->remove_vm_nic(vm, topo_->file().find_vm(vm)->nics.size() - 1, port);
                return unexpected(k.error());
            }
            return made;
        } catch (const std::exception& e) {
            return unexpected(std::string(e.what()));
        }
    }

    /// Removes the NIC with MAC `mac` from running VM `vm` (Remove-EflowVmEndpoint, after the
    /// guest let go of the device): out of the VM's configuration and off its switch. QEMU
    /// keeps the device until the VM restarts (its removal needs the guest's ACPI).
    expected<void, std::string> remove_vm_nic(std::string_view vm, std::string_view mac) {
        auto k = fleet_->unplug(vm, mac);
        if (!k) return unexpected(k.error());
        try {
            topo_->remove_vm_nic(vm, k->first, k->second);
        } catch (const std::exception& e) {
            return unexpected(std::string(e.what()));
        }
        return {};
    }

    /// Closes the connections to the guest agents, so that another client (a user's, on
    /// the agent sockets in /run/vnet/<id>/) can connect; the guest agent serves one at a time.
    void release_agents() { fleet_->release_agents(); }

    /// Marks the run as kept (`vnet lab up`, --keep): `vnet lab down` removes it.
    void mark_kept() { detail::append_line(topo_->names().state_dir() + "/kept", "kept"); }

    /// Leases the host's address by DHCP when the lab says address = "dhcp" (after the
    /// switches run), then starts the host's NATs (lab_topology::lease_host_address).
    void lease_host_address() { topo_->lease_host_address(); }
    /// Waits (once per VM, up to options.dhcp_wait) until every DHCP NIC of `vm` has a lease.
    void wait_for_leases(std::string_view vm) { fleet_->wait_for_leases(vm); }

private:
    lab_runtime(lab_file lf, run_options opt) : topo_(std::make_unique<lab_topology>(std::move(lf), std::move(opt))) {}

    std::unique_ptr<lab_topology> topo_;
    std::unique_ptr<vm_fleet> fleet_;
    std::vector<check_result> checks_;
    std::map<std::size_t, check_result> probes_;  // arp checks run before the VMs booted
};

/// The whole of `vnet lab run` as a function: remove leftovers, build, boot, check,
/// collect the report (the runtime is torn down before it returns unless `keep` gets it).
struct run_outcome {
    run_report report;
    std::unique_ptr<lab_runtime> kept;  // set when keep = true and the lab was built
};

inline run_outcome run_lab(lab_file lf, run_options opt, bool keep = false,
                           const std::function<void(const check_result&)>& on_result = {}) {
    run_outcome out;
    auto t0 = std::chrono::steady_clock::now();
    out.report.lab = lf.name;
    out.report.file = lf.path;
    auto left = remove_leftovers();
    if (left.runs && opt.progress)
        opt.progress(fmt::format("removed {} leftover run{} ({} namespaces, {} processes)", left.runs, left.runs == 1 ? "" : "s",
                                 left.namespaces, left.processes));
    auto rt = lab_runtime::create(std::move(lf), opt);
    if (!rt) {
        out.report.error = rt.error();
        out.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return out;
    }
    auto& r = **rt;
    out.report.run_id = r.run_id();
    r.lease_host_address();
    r.run_probes();
    out.report.boots = r.boot();
    if (opt.should_stop && opt.should_stop()) out.report.error = "stopped before the end (a signal or the run's timeout)";
    else out.report.checks = r.run_checks(on_result);
    if (opt.should_stop && opt.should_stop() && out.report.error.empty())
        out.report.error = "stopped before the end (a signal or the run's timeout)";
    r.pump().flush_captures();
    out.report.ports = r.port_reports();
    out.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (keep) {
        r.mark_kept();
        out.kept = std::move(*rt);
    }
    return out;
}

}  // namespace vnet::lab
