// vnet/lab/topology.hpp - the topology of a running lab (namespaces, TAPs, services, the switch
// pump) with realise() and teardown(); what it builds: lab/runtime.hpp.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vnet/core/expected.hpp>
#include <vnet/core/mutant.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/process.hpp>
#include <vnet/io/tap.hpp>
#include <vnet/lab/dhcp_host.hpp>
#include <vnet/lab/guest_agent.hpp>
#include <vnet/lab/ics_host.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/lab/mac_store.hpp>
#include <vnet/lab/nat_host.hpp>
#include <vnet/lab/plan.hpp>
#include <vnet/lab/qemu.hpp>
#include <vnet/lab/report.hpp>
#include <vnet/lab/verdicts.hpp>
#include <vnet/lab/switch_pump.hpp>
#include <vnet/lab/run_registry.hpp>
#include <vnet/lab/tcp_acceptor.hpp>
#include <vnet/lab/vlan_peer.hpp>

namespace vnet::lab {

struct run_options {
    std::string source_dir;  // the vnet source tree (vm-images/build.sh), for building the image
    std::string image_dir;   // empty: default_image_dir()
    std::string report_dir;  // empty: no report folder (logs stay in /run/vnet/<id>/)
    std::string run_id;      // empty: a random one
    unsigned parallel = 0;   // VMs booting at once; 0: the number of cores
    std::chrono::seconds boot_timeout{120};
    std::chrono::seconds dhcp_wait{15};  // how long checks wait for a DHCP NIC's lease
    lab::accel accel = accel::tcg;
    std::function<void(const std::string&)> progress;  // one line of progress (no newline)
    std::function<bool()> should_stop;                 // polled; true stops the run
};

/// A VM as the topology made it: its QEMU configuration (NICs on TAPs, MACs) and the
/// switch port of each NIC. The fleet (lab/fleet.hpp) boots it.
struct vm_slot {
    qemu_vm_config config;
    std::vector<sw::port_index> ports;
};

/// The lab's topology: namespaces, the internet server, networks with their gateways and
/// peers, the emulated host, the switches in a switch_pump, the host's services (DHCP,
/// DNS, ICS, NetNat) and each VM's TAPs and switch ports. realise() builds it (throws
/// detail::run_failure on the first step that fails), teardown() removes everything it made.
class lab_topology {
public:
    lab_topology(lab_file lf, run_options opt) : lf_(std::move(lf)), opt_(std::move(opt)) {
        if (opt_.run_id.empty()) {
            std::random_device rd;
            opt_.run_id = make_run_id((std::uint64_t{rd()} << 32) ^ rd() ^ static_cast<std::uint64_t>(::getpid()));
        }
        names_.id = opt_.run_id;
    }
    lab_topology(const lab_topology&) = delete;
    lab_topology& operator=(const lab_topology&) = delete;
    ~lab_topology() { teardown(); }

    void realise() {
        std::error_code ec;
        auto dir = names_.state_dir();
        if (std::filesystem::exists(dir, ec)) failure(fmt::format("run id {} is in use ({})", names_.id, dir));
        // The folder appears complete (lab name and owner inside) by a rename, so a run
        // starting at the same time never takes it for a dead run's leftovers.
        auto tmp = fmt::format("{}/.new-{}", run_state_dir, names_.id);
        std::filesystem::create_directories(tmp, ec);
        if (ec) failure(fmt::format("cannot create {}: {}", tmp, ec.message()));
        detail::append_line(tmp + "/lab", lf_.name);
        if (!lf_.path.empty()) std::filesystem::copy_file(lf_.path, tmp + "/lab.toml", ec);  // for `vnet eflow`
        detail::append_line(tmp + "/owner", fmt::format("{} {}", ::getpid(), detail::process_start_time(::getpid())));
        std::filesystem::rename(tmp, dir, ec);
        if (ec) {
            std::filesystem::remove_all(tmp, ec);
            failure(fmt::format("cannot create {}", dir));
        }
        state_made_ = true;
        log_dir_ = opt_.report_dir.empty() ? dir : opt_.report_dir;
        if (!opt_.report_dir.empty()) {
            std::filesystem::create_directories(opt_.report_dir + "/pcap", ec);
            if (ec) failure(fmt::format("cannot create {}: {}", opt_.report_dir, ec.message()));
        }
        for (const char* tool : {"ip", "dnsmasq", "nft", "ping", "qemu-system-x86_64"}) {
            auto r = io::run({"sh", "-c", fmt::format("command -v {}", tool)});
            if (!r || r->status != 0)
                failure(fmt::format("{} is not installed (Debian: iproute2 dnsmasq-base nftables iputils-ping qemu-system-x86)",
                                    tool));
        }
        for (const auto& vm : lf_.vms)
            if (!images_.count(vm.profile)) images_[vm.profile] = locate_image(vm.profile);
        note(fmt::format("run {}: building the topology", names_.id));

        // The internet.
        make_ns(names_.inet_ns());
        ip(names_.inet_ns(), {"addr", "add", fmt::format("{}/32", internet_server), "dev", "lo"});
        for (auto a : public_resolvers) ip(names_.inet_ns(), {"addr", "add", fmt::format("{}/32", a), "dev", "lo"});
        std::map<std::string, ipv4_address> all_names;
        for (const auto& n : lf_.networks) all_names.insert(n.dns.begin(), n.dns.end());

        // Networks, their gateways and peers.
        for (std::size_t i = 0; i < lf_.networks.size(); ++i) {
            const auto& n = lf_.networks[i];
            auto ns = names_.network_ns(n.name);
            make_ns(ns);
            ip(ns, {"link", "add", names_.bridge(), "type", "bridge", "forward_delay", "0", "stp_state", "0"});
            // A fixed MAC (a bridge otherwise takes its ports' lowest): the DHCP server's.
            ip(ns, {"link", "set", names_.bridge(), "address", fmt::format("{}", bridge_mac(lf_, i))});
            ip(ns, {"addr", "add", fmt::format("{}/{}", n.gateway, n.subnet.length()), "dev", names_.bridge()});
            ip(ns, {"link", "set", names_.bridge(), "up"});
            ip(ns, {"link", "add", names_.transit_net(i), "type", "veth", "peer", "name", names_.transit_inet(i), "netns",
                    names_.inet_ns()});
            ip(ns, {"addr", "add", fmt::format("{}", transit_gateway_side(i)), "dev", names_.transit_net(i)});
            ip(ns, {"link", "set", names_.transit_net(i), "up"});
            ip(names_.inet_ns(), {"addr", "add", fmt::format("{}", transit_internet_side(i)), "dev", names_.transit_inet(i)});
            ip(names_.inet_ns(), {"link", "set", names_.transit_inet(i), "up"});
            ip(ns, {"route", "add", "default", "via", fmt::format("{}", transit_internet_side(i).address())});
            if (!mutant::on(mutant::id::router_no_nat))
                load_nft(
                    ns, "nat",
                    fmt::format("table ip vnet_nat {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; "
                                "policy accept;\n    oifname \"{}\" masquerade\n  }}\n}}\n",
                                names_.transit_net(i)));
            if ((!n.blocked_tcp_ports.empty() || !n.blocked_addresses.empty()) &&
                !mutant::on(mutant::id::firewall_open))  // the LAN's firewall: what it drops on the way out, counted
                load_nft(ns, "fw", lan_firewall_rules(n, names_.transit_net(i)));
            start_dnsmasq(ns, "net-" + n.name, names_.bridge(), n.dns);
            if (n.dhcp) start_dhcp(ns, "net-" + n.name, names_.bridge(), bridge_mac(lf_, i), *n.dhcp, n.subnet, n.gateway);
            for (std::size_t j = 0; j < n.peers.size(); ++j) {
                const auto& p = n.peers[j];
                auto pns = names_.peer_ns(p.name);
                make_ns(pns);
                ip(ns, {"link", "add", names_.peer_bridge(peer_count_), "type", "veth", "peer", "name",
                        names_.peer_if(peer_count_), "netns", pns});
                ip(ns, {"link", "set", names_.peer_bridge(peer_count_), "master", names_.bridge(), "up"});
                ip(pns, {"link", "set", names_.peer_if(peer_count_), "up"});
                if (p.vlan) {  // behind a tagged port: answers on its VLAN only (lab/vlan_peer.hpp)
                    start_vlan_peer(p, pns, names_.peer_if(peer_count_));
                } else {
                    ip(pns, {"addr", "add", fmt::format("{}", p.address), "dev", names_.peer_if(peer_count_)});
                    ip(pns, {"route", "add", "default", "via", fmt::format("{}", n.gateway)});
                }
                ++peer_count_;
            }
        }
        spawn_internet(all_names);

        // The host.
        make_ns(names_.host_ns());
        auto adapter = plan_host_adapter(lf_);
        if (adapter.use == host_adapter_use::own_adapter) {
            auto ns = names_.network_ns(*lf_.host.network);
            ip(names_.host_ns(),
               {"link", "add", names_.host_adapter(), "type", "veth", "peer", "name", names_.host_adapter_bridge(), "netns", ns});
            ip(ns, {"link", "set", names_.host_adapter_bridge(), "master", names_.bridge(), "up"});
            configure_host_ip(names_.host_adapter());
        }

        // Switches.
        pump_ = std::make_unique<switch_pump>();
        for (std::size_t i = 0; i < lf_.switches.size(); ++i) {
            const auto& s = lf_.switches[i];
            sw::switch_spec spec;
            spec.name = s.name;
            spec.kind = s.kind;
            if (s.kind == switch_kind::external) {
                spec.adapter = names_.uplink(i);
                spec.allow_management_os = host_shares_adapter(s);
            }
            auto swi = pump_->add_switch(spec);
            if (s.kind == switch_kind::external) {
                auto ns = names_.network_ns(*s.network);
                auto& t = held_tap(ns, names_.uplink(i));
                ip(ns, {"link", "set", t.name(), "master", names_.bridge(), "up"});
                add_port(swi, sw::port_config::uplink("uplink"), io::dup_fd(t.fd()), port_fd_kind::tap_fd);
            }
            if (!spec.has_host_vnic()) continue;
            auto& v = held_tap(names_.host_ns(), names_.host_vnic(i));
            auto mac = host_vnic_mac(lf_, i);
            ip(names_.host_ns(), {"link", "set", v.name(), "address", fmt::format("{}", mac)});
            auto host_port = sw::port_config::host("host", mac);
            if (s.management_os_vlan) host_port.vlan = sw::vlan_setting::access(*s.management_os_vlan);
            add_port(swi, std::move(host_port), io::dup_fd(v.fd()), port_fd_kind::tap_fd);
            if (s.kind == switch_kind::external) {
                if (adapter.use == host_adapter_use::switch_vnic && adapter.switch_index == i) configure_host_ip(v.name());
            } else if (s.kind == switch_kind::internal) {
                if (!mutant::on(mutant::id::host_vnic_unaddressed))
                    ip(names_.host_ns(), {"addr", "add", fmt::format("{}", *s.host_address), "dev", v.name()});
                if (s.nat) netnat_switch_ = i;  // vnet's NAT (lab/nat_host.hpp), one per host as WinNAT
                if (s.dhcp) {                   // the admin's DHCP server (and DNS) on the internal network, on the host vNIC
                    const auto tag = "switch-" + detail::file_safe(s.name);
                    start_dnsmasq(names_.host_ns(), tag, v.name(), all_names);
                    start_dhcp(names_.host_ns(), tag, v.name(), mac, *s.dhcp, *s.host_address, s.host_address->address());
                }
            } else if (s.kind == switch_kind::default_) {
                if (default_subnet_) failure("a lab has one Default Switch");
                default_subnet_ = pick_default_switch_subnet(prefixes_in_use(lf_));
                if (!default_subnet_) failure("no free /20 in 172.16.0.0/12 for the Default Switch");
                auto host_addr = default_switch_host_address(*default_subnet_);
                ip(names_.host_ns(), {"addr", "add", fmt::format("{}", host_addr), "dev", v.name()});
                default_vnic_ = v.name();
                default_vnic_mac_ = mac;
            }
        }
        // A host that leases its address starts its NATs once it has one (lease_host_address).
        if (!lf_.host.dhcp) start_host_nats();
        route_peers_via_host();

        // VMs: TAPs and their switch ports.
        auto pool = host_mac_pool(lf_);
        for (std::size_t v = 0; v < lf_.vms.size(); ++v) {
            const auto& vm = lf_.vms[v];
            vm_slot st;
            st.config.name = vm.name;
            std::string host = vm.name;
            std::replace(host.begin(), host.end(), '_', '-');
            st.config.hostname = host;
            use_profile(st.config, vm.profile, images_.at(vm.profile));
            st.config.apipa = vm.apipa;
            if (vm.forwarding != guest_forwarding::none) st.config.forwarding = std::string(to_string(vm.forwarding));
            st.config.netns = names_.host_ns();
            st.config.accel = opt_.accel;
            st.config.agent_socket = fmt::format("{}/{}.agent", names_.state_dir(), vm.name);
            st.config.console_socket = fmt::format("{}/{}.console", names_.state_dir(), vm.name);
            st.config.qmp_socket = fmt::format("{}/{}.qmp", names_.state_dir(), vm.name);
            st.config.serial_log = fmt::format("{}/{}.serial.log", log_dir_, vm.name);
            st.config.qemu_log = fmt::format("{}/{}.qemu.log", names_.state_dir(), vm.name);
            if (auto g = apply_guest_switches(st.config); !g) failure(g.error());
            for (std::size_t k = 0; k < vm.nics.size(); ++k) {
                st.ports.push_back(connect_nic(v, k, k, pool));
                st.config.nics.push_back(last_nic_);
            }
            if (auto a = kernel_cmdline(st.config); !a) failure(fmt::format("VM {}: {}", vm.name, a.error().message()));
            slots_.push_back(std::move(st));
        }
        if (auto s = save_mac_pool(names_.state_dir(), pool); !s) failure(s.error());
        if (auto r = pump_->start(); !r) failure(fmt::format("cannot start the switches: {}", r.error().message()));
        note(fmt::format("run {}: {} namespaces, {} switch{}, {} VM{}", names_.id, namespaces_.size(), lf_.switches.size(),
                         lf_.switches.size() == 1 ? "" : "es", lf_.vms.size(), lf_.vms.size() == 1 ? "" : "s"));
    }

    void teardown() {
        for (auto& v : vlan_peers_) {
            v->stop();
            std::ofstream(fmt::format("{}/peer-vlan.log", log_dir_), std::ios::app) << v->summary() << "\n";
        }
        vlan_peers_.clear();
        for (auto& [tag, h] : dhcp_hosts_) {
            h->stop();
            std::ofstream(fmt::format("{}/dhcp-{}.log", log_dir_, tag)) << h->summary() << "\n";
            (void)h->save_leases(fmt::format("{}/dhcp-{}.leases", log_dir_, tag));
        }
        dhcp_hosts_.clear();
        if (netnat_) {
            netnat_->stop();
            std::ofstream(fmt::format("{}/netnat.log", log_dir_)) << netnat_->summary() << "\n";
            netnat_.reset();
        }
        if (ics_) {
            ics_->stop();
            std::ofstream(fmt::format("{}/default-switch-ics.log", log_dir_)) << ics_->summary() << "\n";
            ics_.reset();
        }
        if (pump_) pump_->stop();
        for (auto& s : services_) s.stop(std::chrono::milliseconds(200));
        services_.clear();
        internet_tcp_.stop();
        pump_.reset();
        held_taps_.clear();
        vm_taps_.clear();
        namespaces_.clear();
        // A namespace another process still holds (none should) goes with the name anyway.
        for (const auto& ns : io::netns::list(fmt::format("{}{}-", run_netns_prefix, names_.id))) (void)io::netns::remove(ns);
        std::error_code ec;
        if (state_made_) std::filesystem::remove_all(names_.state_dir(), ec);
    }

    const lab_file& file() const noexcept { return lf_; }
    const run_options& options() const noexcept { return opt_; }
    const run_names& names() const noexcept { return names_; }
    /// Where serial logs, dnsmasq logs and captures go.
    const std::string& log_dir() const noexcept { return log_dir_; }
    std::optional<ipv4_prefix> default_switch_subnet() const { return default_subnet_; }
    /// The VMs as realise() made them, in lab-file order.
    const std::vector<vm_slot>& vm_slots() const noexcept { return slots_; }

    /// NIC k of VM `vm` removed (Remove-EflowVmEndpoint): its switch port goes.
    void remove_vm_nic(std::string_view vm, std::size_t k, sw::port_index port) {
        auto& nics = lf_.vms[vm_index(vm)].nics;
        if (k >= nics.size()) failure(fmt::format("VM {} has no NIC {}", vm, k));
        if (auto r = pump_->remove_port(*switch_index(nics[k].switch_name), port); !r) failure(r.error().message());
        nics.erase(nics.begin() + static_cast<std::ptrdiff_t>(k));
    }
    /// A NIC added to running VM `vm` (Add-EflowVmEndpoint): its TAP, a MAC from the host's
    /// stored pool and its switch port, as realise() makes them; it joins the lab file's VM.
    std::pair<sw::port_index, vm_nic> add_vm_nic(std::string_view vm, nic_config nic) {
        const auto v = vm_index(vm);
        if (!switch_index(nic.switch_name)) failure(fmt::format("no switch {}", nic.switch_name));
        auto pool = load_mac_pool(names_.state_dir());
        if (!pool) failure(pool.error());
        lf_.vms[v].nics.push_back(std::move(nic));
        sw::port_index port{};
        try {
            port = connect_nic(v, lf_.vms[v].nics.size() - 1, 10 * ++hot_plugs_, *pool);  // a TAP name never used
        } catch (...) {
            lf_.vms[v].nics.pop_back();  // a NIC that never connected is not the VM's
            throw;
        }
        if (auto s = save_mac_pool(names_.state_dir(), *pool); !s) failure(s.error());
        return {port, last_nic_};
    }

    /// The namespace a check's `from` names: "host", a network (its gateway), a peer;
    /// empty when it is a VM or unknown.
    std::string netns_of(std::string_view who) const {
        if (who == "host") return names_.host_ns();
        if (lf_.find_network(who)) return names_.network_ns(who);
        for (const auto& n : lf_.networks)
            for (const auto& p : n.peers)
                if (p.name == who) return names_.peer_ns(who);
        if (who == "internet") return names_.inet_ns();
        return {};
    }

    /// Runs a program in a lab namespace.
    result<io::run_output> ns_exec(std::string_view who, const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
        auto ns = netns_of(who);
        if (ns.empty()) return fail(layer::lab, errc::not_found, "netns");
        io::spawn_options o;
        o.netns = ns;
        return io::run(argv, o, timeout);
    }

    /// Leases the host's address by DHCP when the lab says address = "dhcp" (after the switches
    /// run; harmless otherwise), then starts the host's NATs, which translate to that address.
    void lease_host_address() {
        if (!host_dhcp_if_.empty()) {
            auto r = ns_exec("host",
                             {"busybox", "udhcpc", "-i", host_dhcp_if_, "-n", "-q", "-t", "5", "-T", "1", "-s",
                              names_.state_dir() + "/udhcpc.sh"},
                             std::chrono::seconds(15));
            if (!r || r->status != 0) {
                note("host: no DHCP lease on its adapter");
                host_apipa(host_dhcp_if_);
            } else {
                note("host: address leased by DHCP");
            }
        }
        start_host_nats();
    }

    /// What Windows does when its adapter gets no DHCP lease: an APIPA address
    /// (plan.hpp apipa_candidate), probed first with ARP (arping -D: no device may answer
    /// for it), so the host and a guest left without DHCP share 169.254.0.0/16.
    void host_apipa(const std::string& ifname) {
        if (mutant::on(mutant::id::host_no_apipa)) return;
        auto link = ns_exec("host", {"ip", "-o", "link", "show", "dev", ifname});
        auto mac = link && link->status == 0 ? mac_address::parse(route_field(link->out, "link/ether"))
                                             : result<mac_address>(fail(layer::lab, errc::not_found, "host.mac"));
        if (!mac) return note(fmt::format("host: no APIPA address: cannot read the MAC of {}", ifname));
        for (unsigned i = 0; i < apipa_attempts; ++i) {
            const auto a = apipa_candidate(*mac, i);
            auto probe = ns_exec("host",
                                 {"busybox", "arping", "-D", "-q", "-c", "2", "-w", "3", "-I", ifname, fmt::format("{}", a)},
                                 std::chrono::seconds(6));
            if (!probe) return note(fmt::format("host: no APIPA address: arping: {}", probe.error().message()));
            if (probe->status != 0) {
                note(fmt::format("host: APIPA {} is in use", a));
                continue;
            }
            ip(names_.host_ns(),
               {"addr", "add", fmt::format("{}/{}", a, apipa_prefix_length), "broadcast", "169.254.255.255", "dev", ifname});
            return note(fmt::format("host: APIPA {}/{} on {}", a, apipa_prefix_length, ifname));
        }
        note(fmt::format("host: no APIPA address: {} candidates in use", apipa_attempts));
    }

    /// Index of a switch by name.
    std::optional<std::size_t> switch_index(std::string_view name) const {
        for (std::size_t i = 0; i < lf_.switches.size(); ++i)
            if (lf_.switches[i].name == name) return i;
        return std::nullopt;
    }
    const switch_pump& pump() const noexcept { return *pump_; }
    switch_pump& pump() noexcept { return *pump_; }
    /// The pcap file of a VM NIC's port (empty without a report folder).
    std::string vm_pcap(std::string_view vm, std::size_t nic) const {
        const auto* v = lf_.find_vm(vm);
        if (opt_.report_dir.empty() || !v || nic >= v->nics.size()) return {};
        return pcap_path(v->nics[nic].switch_name, fmt::format("{}-eth{}", vm, nic));
    }

    /// Counters of every switch port now.
    std::vector<port_report> port_reports() const {
        std::vector<port_report> out;
        if (!pump_) return out;
        for (const auto& p : pump_->ports()) {
            port_report pr;
            pr.switch_name = lf_.switches[p.sw].name;
            pr.port = p.name;
            pr.counters = pump_->counters(p.sw, p.id);
            pr.netvsc = p.netvsc;
            if (!opt_.report_dir.empty()) pr.pcap = std::filesystem::path(pcap_path(pr.switch_name, p.name)).filename().string();
            out.push_back(std::move(pr));
        }
        return out;
    }

    bool stopping() const { return opt_.should_stop && opt_.should_stop(); }
    void note(const std::string& line) const {
        if (opt_.progress) opt_.progress(line);
    }

private:
    [[noreturn]] static void failure(const std::string& what) { throw detail::run_failure(what); }

    /// Runs a program (in namespace ns when not empty); throws with its stderr on failure.
    static std::string must(const std::vector<std::string>& argv, const std::string& ns = {},
                            std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        io::spawn_options o;
        o.netns = ns;
        auto r = io::run(argv, o, timeout);
        const auto cmd = fmt::format("{}", fmt::join(argv, " "));
        if (!r) failure(fmt::format("{}{}: {}", ns.empty() ? "" : "[" + ns + "] ", cmd, r.error().message()));
        if (r->status != 0)
            failure(fmt::format("{}{}: exit {}: {}", ns.empty() ? "" : "[" + ns + "] ", cmd, r->status,
                                r->err.substr(0, r->err.find_last_not_of("\n") + 1)));
        return r->out;
    }
    static void ip(const std::string& ns, std::vector<std::string> args) {
        args.insert(args.begin(), {"ip", "-n", ns});
        must(args);
    }

    io::netns& make_ns(const std::string& name) {
        detail::append_line(names_.state_dir() + "/netns", name);
        auto n = io::netns::create_named(name);
        if (!n) failure(fmt::format("cannot create namespace {}: {}", name, n.error().message()));
        namespaces_.push_back(std::move(*n));
        // No IPv6 anywhere in a lab (the guests' NDP/MLD noise stays out of the switch
        // tests; the lab file is IPv4 only); forwarding where a namespace routes.
        must({"sh", "-c",
              "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 "
              "&& echo 1 > /proc/sys/net/ipv4/ip_forward"},
             name);
        return namespaces_.back();
    }

    std::string pcap_path(std::string_view sw_name, std::string_view port) const {
        if (opt_.report_dir.empty()) return {};
        return fmt::format("{}/pcap/{}-{}.pcap", opt_.report_dir, detail::file_safe(sw_name), detail::file_safe(port));
    }

    /// A TAP this process holds (host vNIC, uplink).
    io::tap& held_tap(const std::string& ns, const std::string& name) {
        io::tap_options o;
        o.persistent = false;
        auto t = io::tap::create(ns, name, o);
        if (!t) failure(fmt::format("cannot create TAP {} in {}: {}", name, ns, t.error().message()));
        held_taps_.push_back(std::move(*t));
        return held_taps_.back();
    }

    void spawn_service(const std::string& ns, std::vector<std::string> argv, const std::string& log) {
        io::spawn_options o;
        o.netns = ns;
        o.stdout_path = log;
        o.stderr_path = log;
        o.die_with_parent = true;
        auto c = io::spawn(argv, o);
        if (!c) failure(fmt::format("cannot start {} in {}: {}", argv.front(), ns, c.error().message()));
        detail::append_line(names_.state_dir() + "/pids", fmt::format("{} {}", c->pid(), detail::process_start_time(c->pid())));
        services_.push_back(std::move(*c));
    }

    /// dnsmasq: DNS for `names` on `ifname`'s addresses (or on the internet server's).
    void start_dnsmasq(const std::string& ns, const std::string& tag, const std::string& ifname,
                       const std::map<std::string, ipv4_address>& dns_names, bool listen_lo = false) {
        auto a = dnsmasq_argv(listen_lo ? std::string() : ifname, dns_names);
        spawn_service(ns, std::move(a), fmt::format("{}/dnsmasq-{}.log", log_dir_, tag));
    }

    /// vnet's DHCP server (lab/dhcp_host.hpp) on `ifname` in `ns`, answering as `server`
    /// from `mac`: the lab file's range, DNS list (default: the server itself), MAC allow list.
    void start_dhcp(const std::string& ns, const std::string& tag, const std::string& ifname, const mac_address& mac,
                    const dhcp_config& d, ipv4_prefix subnet, ipv4_address server) {
        dhcp_host_options o;
        o.netns = ns;
        o.ifname = ifname;
        o.server.subnet = subnet.canonical();
        o.server.server_address = server;
        o.server.server_mac = mac;
        o.server.range_first = d.range_first;
        o.server.range_last = d.range_last;
        o.server.routers = {server};
        o.server.dns_servers = d.dns.empty() ? std::vector<ipv4_address>{server} : d.dns;
        o.server.lease_time = d.lease_time;
        o.server.min_lease_time = std::min(o.server.min_lease_time, d.lease_time);  // a short lease stays short
        o.server.authoritative = true;                                              // the only DHCP server of its segment
        if (!d.allow_macs.empty()) {
            o.server.mac_filter = svc::dhcp_mac_filter::allow;
            o.server.mac_filter_list = d.allow_macs;
        }
        load_nft(ns, "dhcp-" + detail::file_safe(tag), dhcp_kernel_rules(ifname));
        auto h = dhcp_host::make(std::move(o));
        if (!h) failure(fmt::format("DHCP server {}: {}", tag, h.error().message()));
        if (auto r = (*h)->start(); !r) failure(fmt::format("DHCP server {}: {}", tag, r.error().message()));
        dhcp_hosts_.emplace_back(tag, std::move(*h));
    }

    /// Loads an nft ruleset into namespace ns (kept as <state dir>/nft-<name>-<ns>.conf).
    void load_nft(const std::string& ns, std::string_view name, const std::string& ruleset) {
        auto file = fmt::format("{}/nft-{}-{}.conf", names_.state_dir(), name, ns);
        std::ofstream(file) << ruleset;
        must({"nft", "-f", file}, ns);
    }

    /// NIC k of VM v on TAP number `tap`: its TAP, its MAC (the lab file's, or the host's pool),
    /// its switch port (returned); the guest's side of it is left in last_nic_.
    sw::port_index connect_nic(std::size_t v, std::size_t k, std::size_t tap, sw::mac_pool& pool) {
        const auto& vm = lf_.vms[v];
        const auto& nic = vm.nics[k];
        auto tap_name = names_.vm_tap(v, tap);
        auto t = io::tap::create(names_.host_ns(), tap_name);
        if (!t) failure(fmt::format("cannot create TAP {}: {}", tap_name, t.error().message()));
        vm_taps_.push_back(std::move(*t));
        ip(names_.host_ns(), {"link", "set", tap_name, "arp", "off"});
        // No MAC in the lab file: the host's dynamic pool, stored in the state directory.
        std::string pool_name = nic.mac ? std::string() : pool_nic_name(vm.name, tap);
        auto m = nic.mac ? result<mac_address>(*nic.mac) : pool.allocate(pool_name);
        if (!m) failure(fmt::format("VM {} eth{}: {}", vm.name, k, m.error().message()));
        const mac_address mac = *m;
        auto fd = open_packet_socket(names_.host_ns(), tap_name);
        if (!fd) failure(fmt::format("cannot open a packet socket on {}: {}", tap_name, fd.error().message()));
        auto cfg = sw::port_config::vm(fmt::format("{}-eth{}", vm.name, k), mac);
        if (nic.vlan) cfg.vlan = sw::vlan_setting::access(*nic.vlan);
        auto swi = *switch_index(nic.switch_name);
        const auto port = add_port(swi, std::move(cfg), std::move(fd), port_fd_kind::packet_socket);
        if (nic.model == nic_model::netvsc)  // VSC -> VMBus ring -> VSP between the TAP and the port
            if (auto r = pump_->attach_netvsc(swi, port); !r) {
                (void)pump_->remove_port(swi, port);  // no port left behind without its channel
                failure(fmt::format("VM {} eth{}: cannot bring up the netvsc channel: {}", vm.name, k, r.error().message()));
            }
        vm_nic vn;
        vn.tap = tap_name;
        vn.mac = fmt::format("{}", mac);
        vn.pool_name = std::move(pool_name);
        // ip = "static" without an address: the link up and nothing on it (a bridging VM's ports)
        vn.mode = nic.ip == ip_mode::dhcp ? nic_mode::dhcp : nic.address ? nic_mode::static_ip : nic_mode::none;
        if (nic.address) vn.address = fmt::format("{}", *nic.address);
        if (nic.gateway) vn.gateway = fmt::format("{}", *nic.gateway);
        vn.metric = nic.metric;
        for (auto d : nic.dns) vn.dns.push_back(fmt::format("{}", d));
        last_nic_ = std::move(vn);
        return port;
    }

    std::size_t vm_index(std::string_view vm) const {
        if (const auto* v = lf_.find_vm(vm)) return static_cast<std::size_t>(v - lf_.vms.data());
        failure(fmt::format("no VM {}", vm));
    }

    /// Connects a port to switch swi; fd is the port's own descriptor (or why there is none).
    sw::port_index add_port(std::size_t swi, sw::port_config cfg, result<io::unique_fd> fd, port_fd_kind kind) {
        auto name = cfg.name;
        auto id = fd ? pump_->add_port(swi, std::move(cfg), std::move(*fd), kind, pcap_path(lf_.switches[swi].name, name))
                     : result<sw::port_index>(unexpected(fd.error()));
        if (!id) failure(fmt::format("switch {}: cannot add port {}: {}", lf_.switches[swi].name, name, id.error().message()));
        return *id;
    }

    void configure_host_ip(const std::string& ifname) {
        const auto ns = names_.host_ns();
        ip(ns, {"link", "set", ifname, "up"});
        if (lf_.host.address) {
            ip(ns, {"addr", "add", fmt::format("{}", *lf_.host.address), "dev", ifname});
            if (lf_.host.gateway) ip(ns, {"route", "add", "default", "via", fmt::format("{}", *lf_.host.gateway)});
        } else if (lf_.host.dhcp) {
            host_dhcp_if_ = ifname;  // leased once the switches run (see boot of DHCP below)
            auto script = names_.state_dir() + "/udhcpc.sh";
            std::ofstream(script) << host_udhcpc_script;
            ::chmod(script.c_str(), 0755);
        }
    }

    /// A peer with `vlan`: vnet's VLAN device on its interface (no kernel address there).
    void start_vlan_peer(const network_peer& p, const std::string& pns, const std::string& ifname) {
        auto v = vlan_peer::make({.netns = pns, .ifname = ifname, .address = p.address, .vid = *p.vlan});
        if (!v) failure(fmt::format("peer {}: cannot open its VLAN {} device: {}", p.name, *p.vlan, v.error().message()));
        if (auto r = (*v)->start(); !r) failure(fmt::format("peer {}: cannot start it: {}", p.name, r.error().message()));
        vlan_peers_.push_back(std::move(*v));
    }

    /// Peers with route_via_host: a route to each network behind the host (the Default
    /// Switch's subnet, each internal switch's) through the host's address on their network
    /// (the lab file reader makes sure the host has a static one there).
    void route_peers_via_host() {
        std::vector<ipv4_prefix> behind;
        if (default_subnet_) behind.push_back(default_subnet_->canonical());
        for (const auto& s : lf_.switches)
            if (s.kind == switch_kind::internal && s.host_address) behind.push_back(s.host_address->canonical());
        for (const auto& n : lf_.networks)
            for (const auto& p : n.peers) {
                if (!p.route_via_host || !lf_.host.address) continue;
                for (const auto& b : behind)
                    ip(names_.peer_ns(p.name),
                       {"route", "add", fmt::format("{}", b), "via", fmt::format("{}", lf_.host.address->address())});
            }
    }

    /// The host's NATs, once its adapter has its address (idempotent): the Default Switch's
    /// ICS (ports 49152-57343) and an internal switch's NetNat (57344-65535); the kernel's
    /// own ephemeral ports stay below both.
    void start_host_nats() {
        if (host_nats_started_ || (!default_subnet_ && !netnat_switch_)) return;
        host_nats_started_ = true;
        const auto ns = names_.host_ns();
        must({"sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=32768 49151"}, ns);
        std::string uplink;
        const auto adapter = plan_host_adapter(lf_);
        if (adapter.use == host_adapter_use::own_adapter) uplink = names_.host_adapter();
        else if (adapter.use == host_adapter_use::switch_vnic) uplink = names_.host_vnic(adapter.switch_index);
        std::optional<ipv4_address> address;
        if (!uplink.empty()) {
            auto r = ns_exec("host", {"ip", "-o", "-4", "addr", "show", "dev", uplink});
            if (auto p = r && r->status == 0 ? first_inet(r->out) : std::nullopt) address = p->address();
        }
        if (!address) {
            note("host: its adapter has no address; its NATs share no uplink");
            uplink.clear();
        }
        if (default_subnet_) start_ics(uplink, address.value_or(ipv4_address{}));
        if (netnat_switch_ && !uplink.empty()) start_netnat(*netnat_switch_, uplink, *address);
    }

    /// New-NetNat of an internal switch: vnet's NAT (lab/nat_host.hpp) behind a TUN that a
    /// policy rule sends the vNIC's routed packets to.
    void start_netnat(std::size_t swi, const std::string& uplink, ipv4_address address) {
        const auto ns = names_.host_ns();
        const auto& s = lf_.switches[swi];
        nat_host_options o;
        o.netns = ns;
        o.tun = names_.netnat_tun();
        o.uplink = uplink;
        o.uplink_address = address;
        o.nat.name = fmt::format("{}-NAT", s.name);
        o.nat.internal_prefix = s.host_address->canonical();
        o.nat.port_first = 57344;
        o.nat.port_last = 65535;
        auto h = nat_host::make(std::move(o));
        if (!h) failure(fmt::format("switch {}: cannot start its NAT: {}", s.name, h.error().message()));
        netnat_ = std::move(*h);
        load_nft(ns, "netnat", netnat_->kernel_rules());
        const auto table = std::to_string(100 + swi);
        const auto vnic = names_.host_vnic(swi);
        for (const auto& conf : {std::string("all"), netnat_->tun_name()})
            must({"sysctl", "-q", "-w", fmt::format("net.ipv4.conf.{}.rp_filter=0", conf)}, ns);
        ip(ns, {"route", "add", "default", "dev", netnat_->tun_name(), "table", table});
        ip(ns, {"rule", "add", "iif", vnic, "lookup", table, "priority", "1000"});
        if (auto r = netnat_->start(); !r)
            failure(fmt::format("switch {}: cannot start its NAT: {}", s.name, r.error().message()));
        note(fmt::format("switch {}: NetNat {} -> {} (vnet NAT)", s.name, s.host_address->canonical(), address));
    }

    /// The Default Switch's ICS (lab/ics_host.hpp) on its host vNIC: NAT out of the host's
    /// adapter (or the external switch's vNIC holding the host's address), DNS to the lab's
    /// public DNS server, the kernel kept out of its way by nft.
    void start_ics(const std::string& uplink, ipv4_address address) {
        const auto ns = names_.host_ns();
        ics_host_options o;
        o.netns = ns;
        o.vnic = default_vnic_;
        o.vnic_mac = default_vnic_mac_;
        o.range = *default_subnet_;
        o.uplink = uplink;
        o.uplink_address = address;
        o.nat_port_first = 49152;
        o.nat_port_last = 57343;
        if (auto r = ns_exec("host", {"ip", "-o", "-4", "addr", "show", "scope", "global"}); r && r->status == 0)
            for (const auto& p : all_inet(r->out))
                if (!default_subnet_->contains(p.address())) o.host_networks.push_back(p);
        o.dns_upstreams = {svc::dns_endpoint{internet_server, wire::dns_port}};
        load_nft(ns, "ics", ics_kernel_rules(o));
        auto h = ics_host::make(std::move(o));
        if (!h) failure(fmt::format("Default Switch: cannot start ICS: {}", h.error().message()));
        ics_ = std::move(*h);
        if (auto r = ics_->start(); !r) failure(fmt::format("Default Switch: cannot start ICS: {}", r.error().message()));
        note(fmt::format("Default Switch: ICS on {} ({}), NAT out of {}", default_vnic_, *default_subnet_,
                         ics_->options().uplink.empty() ? "nothing" : ics_->options().uplink));
    }

    void spawn_internet(const std::map<std::string, ipv4_address>& all_names) {
        start_dnsmasq(names_.inet_ns(), "internet", "lo", all_names, true);
        if (auto r = internet_tcp_.start(names_.inet_ns(), internet_server, internet_tcp_ports); !r)
            failure(fmt::format("cannot listen on the internet server's TCP ports: {}", r.error().message()));
    }

    guest_image locate_image(guest_profile profile) {
        // image_dir names the busybox image; the eflow image is in default_image_dir(eflow).
        auto dir = profile == guest_profile::busybox && !opt_.image_dir.empty() ? opt_.image_dir : default_image_dir(profile);
        auto script = build_script(profile);
        // A cached image is used as it is (the vm-images/ scripts and the ci scripts refresh it).
        if (auto g = guest_image::in_dir(dir)) return *g;
        if (opt_.source_dir.empty())
            failure(fmt::format("no {} guest image in {} (build it with {})", to_string(profile), dir, script));
        note(fmt::format("guest image: {} (cached when current)", script));
        std::string log;
        auto g = build_image(opt_.source_dir, profile, dir, &log);
        if (!g) failure(fmt::format("{} failed: {}\n{}", script, g.error().message(), log));
        return *g;
    }

    lab_file lf_;
    run_options opt_;
    run_names names_;
    bool state_made_ = false;
    std::string log_dir_;
    std::map<guest_profile, guest_image> images_;
    std::vector<io::netns> namespaces_;
    std::vector<io::tap> vm_taps_;
    std::vector<io::tap> held_taps_;
    std::unique_ptr<switch_pump> pump_;
    tcp_acceptor internet_tcp_;
    std::vector<io::child> services_;
    std::vector<vm_slot> slots_;
    vm_nic last_nic_;            // connect_nic's guest side
    std::size_t hot_plugs_ = 0;  // NICs added to running VMs
    std::optional<ipv4_prefix> default_subnet_;
    std::string default_vnic_;
    mac_address default_vnic_mac_{};
    std::unique_ptr<ics_host> ics_;
    std::optional<std::size_t> netnat_switch_;  // the internal switch with nat = true
    std::unique_ptr<nat_host> netnat_;
    bool host_nats_started_ = false;
    std::vector<std::pair<std::string, std::unique_ptr<dhcp_host>>> dhcp_hosts_;  // by tag
    std::string host_dhcp_if_;
    std::size_t peer_count_ = 0;
    std::vector<std::unique_ptr<vlan_peer>> vlan_peers_;
};

}  // namespace vnet::lab
