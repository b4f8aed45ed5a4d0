// vnet/lab/check_env.hpp - what a check of a running lab sees: the lab file, the topology and the
// VMs, probes run from a VM or a namespace, the addresses a check names.
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
#include <vnet/io/netns.hpp>
#include <vnet/io/process.hpp>
#include <vnet/io/tap.hpp>
#include <vnet/lab/dhcp_host.hpp>
#include <vnet/lab/guest_agent.hpp>
#include <vnet/lab/ics_host.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/lab/nat_host.hpp>
#include <vnet/lab/plan.hpp>
#include <vnet/lab/qemu.hpp>
#include <vnet/lab/report.hpp>
#include <vnet/lab/verdicts.hpp>
#include <vnet/lab/switch_pump.hpp>
#include <vnet/lab/fleet.hpp>
#include <vnet/lab/topology.hpp>

namespace vnet::lab {

/// What a check sees of the running lab: the lab file, the topology, the VMs; how to run a
/// probe from a VM or a namespace and how to resolve a check's `to`.
class check_env {
public:
    check_env(lab_topology& topo, vm_fleet& fleet) : topo_(topo), fleet_(fleet) {}

    const lab_file& lf() const noexcept { return topo_.file(); }
    lab_topology& topology() noexcept { return topo_; }
    vm_fleet& fleet() noexcept { return fleet_; }
    switch_pump& pump() noexcept { return topo_.pump(); }
    std::optional<ipv4_prefix> default_switch_subnet() const { return topo_.default_switch_subnet(); }

    bool is_vm(std::string_view who) const { return lf().find_vm(who) != nullptr; }
    std::string netns_of(std::string_view who) const { return topo_.netns_of(who); }
    result<io::run_output> ns_exec(std::string_view who, const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
        return topo_.ns_exec(who, argv, timeout);
    }
    void wait_for_leases(std::string_view vm) { fleet_.wait_for_leases(vm); }
    std::optional<std::size_t> switch_index(std::string_view name) const { return topo_.switch_index(name); }
    std::optional<sw::port_index> vm_port(std::string_view vm, std::size_t nic) const { return fleet_.vm_port(vm, nic); }
    void note(const std::string& line) const { topo_.note(line); }

    /// The address `to` names: an address, a VM (its first NIC), "host" (seen from
    /// `from`: its vNIC on the VM's switch), a peer, a network (its gateway), "internet".
    std::optional<ipv4_address> resolve(std::string_view to, std::string_view from = {}) {
        if (auto a = ipv4_address::parse(to)) return *a;
        if (to == "internet") return internet_server;
        if (to == "host") {
            // From a VM: the host's address on a switch the VM is plugged into.
            if (const auto* vm = lf().find_vm(from)) {
                for (const auto& nic : vm->nics) {
                    const auto* s = lf().find_switch(nic.switch_name);
                    if (s->kind == switch_kind::internal && s->host_address) return s->host_address->address();
                    if (s->kind == switch_kind::default_ && topo_.default_switch_subnet())
                        return default_switch_host_address(*topo_.default_switch_subnet()).address();
                    if (s->kind == switch_kind::external && s->allow_management_os && s->network == lf().host.network &&
                        lf().host.address)
                        return lf().host.address->address();
                }
            }
            if (lf().host.address) return lf().host.address->address();
            for (const auto& s : lf().switches)
                if (s.host_address) return s.host_address->address();
            if (topo_.default_switch_subnet()) return default_switch_host_address(*topo_.default_switch_subnet()).address();
            auto r = topo_.ns_exec("host", {"ip", "-o", "-4", "addr", "show", "scope", "global"});
            if (r && r->status == 0)
                if (auto p = first_inet(r->out)) return p->address();
            return std::nullopt;
        }
        if (const auto* n = lf().find_network(to)) return n->gateway;
        for (const auto& n : lf().networks)
            for (const auto& p : n.peers)
                if (p.name == to) return p.address.address();
        if (const auto* vm = lf().find_vm(to)) {
            if (vm->nics.front().address) return vm->nics.front().address->address();
            fleet_.wait_for_leases(to);
            auto r = fleet_.vm_exec(to, "ip -o -4 addr show dev eth0", std::chrono::seconds(5));
            if (r && r->ok())
                if (auto p = first_inet(r->out)) return p->address();
        }
        return std::nullopt;
    }

    /// Runs a shell command from `from` (a VM through its agent, else a namespace with sh -c).
    struct outcome {
        bool ran = false;
        int status = -1;
        std::string out;
        std::string why;  // when it did not run
    };
    outcome run_from(std::string_view from, const std::string& command, std::chrono::seconds timeout) {
        outcome o;
        if (is_vm(from)) {
            fleet_.wait_for_leases(from);
            auto r = fleet_.vm_exec(from, command, timeout);
            if (!r) {
                o.why = r.error().message();
                return o;
            }
            o.ran = true;
            o.status = r->exit_status;
            o.out = r->out + r->err;
            return o;
        }
        auto r = topo_.ns_exec(from, {"sh", "-c", command}, timeout + std::chrono::seconds(2));
        if (!r) {
            o.why = r.error().message();
            return o;
        }
        o.ran = true;
        o.status = r->status;
        o.out = r->out + r->err;
        return o;
    }

    /// The address of a check's `to` (set as the result's target), or nullopt with the
    /// result an error.
    std::optional<ipv4_address> target(const check_config& c, check_result& r) {
        auto a = resolve(c.to, c.from);
        if (!a) {
            r.observed = "error";
            r.detail = fmt::format("cannot resolve '{}' to an address", c.to);
            return std::nullopt;
        }
        r.target = fmt::format("{}", *a);
        return a;
    }

private:
    lab_topology& topo_;
    vm_fleet& fleet_;
};

}  // namespace vnet::lab
