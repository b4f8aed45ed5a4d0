// vnet/eflow/endpoints.hpp - the EFLOW VM's networks and endpoints (Add-EflowNetwork,
// Add-EflowVmEndpoint, Remove-EflowVmEndpoint, Get-EflowVmEndpoint, Get-EflowVmAddr).
//
// Sources (docs/eflow-facts.md "Deployment cmdlets [FN]" and [MN], [NW], [PS]):
// - Add-EflowNetwork (vswitchName, vswitchType) -> Name, AllocationMethod, Cidr, Type;
//   Add-EflowVmEndpoint (vswitchName, vendpointName, optional ip4Address, ip4PrefixLength,
//   ip4GatewayAddress) -> Name, MacAddress, HealthStatus, IpConfiguration.
// - The primary switch/endpoint manages the VM's lifecycle and cannot be removed [MN].
// - The first added NIC appears in the guest as eth1 [MN]; the primary is eth0 ([TS]
//   "Check IP addresses": "Check the eth0 VM network interface configuration").
// - MAC: generated at creation, stored, kept across reboots [NW]; Hyper-V dynamic MACs
//   are 00:15:5D:dd:ee:ff with dd-ee the last two octets of the host's IP [PS]
//   (vnet::sw::mac_pool).
// Guest interface numbers: an added endpoint takes the number after the highest in use;
// a removed endpoint's number is not reused while later ones exist (the reference does
// not document renumbering, and the guest's names must not move under a running config).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/eflow/deploy.hpp>
#include <vnet/switch/mac_pool.hpp>

namespace vnet::eflow {

using vnet::to_string;

enum class endpoint_health : std::uint8_t { unknown, healthy, unhealthy };

inline constexpr enum_name<endpoint_health> endpoint_health_names[] = {
    {endpoint_health::unknown, "Unknown"},
    {endpoint_health::healthy, "Healthy"},
    {endpoint_health::unhealthy, "Unhealthy"},
};
constexpr std::span<const enum_name<endpoint_health>> enum_names(endpoint_health) noexcept { return endpoint_health_names; }

/// The number of a guest interface name: 1 for "eth1" (characters that are not digits
/// after "eth" are skipped).
inline unsigned eth_number(std::string_view ifname) noexcept {
    unsigned v = 0;
    for (char c : ifname.substr(std::min<std::size_t>(3, ifname.size())))
        if (c >= '0' && c <= '9') v = v * 10 + static_cast<unsigned>(c - '0');
    return v;
}

/// A network added with Add-EflowNetwork (or the primary's, from Deploy-Eflow).
struct eflow_network {
    std::string name;  // the switch name
    switch_type type = switch_type::external;
};

/// One VM network adapter.
struct vm_endpoint {
    std::string name;         // vendpointName
    std::string switch_name;  // the network it is on
    std::string ifname;       // the guest's name: eth0 for the primary, eth1, eth2, ... after
    mac_address mac{};
    endpoint_health health = endpoint_health::unknown;
    std::optional<static_ipv4> static_ip;  // nullopt: DHCP
    std::optional<ipv4_prefix> observed;   // the address the guest reports (lease or static)
    bool primary = false;

    ip_mode mode() const noexcept { return static_ip ? ip_mode::static_ip : ip_mode::dhcp; }
};

/// Get-EflowVmAddr: the primary endpoint's current IP and MAC.
struct vm_addr {
    std::optional<ipv4_address> ip;  // nullopt: no address yet (DHCP without lease)
    mac_address mac{};
};

/// Add-EflowVmEndpoint's options as typed.
struct endpoint_options {
    std::optional<std::string> vswitch_name;
    std::optional<std::string> vendpoint_name;
    std::optional<std::string> ip4_address;
    std::optional<std::string> ip4_gateway_address;
    std::optional<std::string> ip4_prefix_length;

    static expected<endpoint_options, std::string> parse(std::string_view line) {
        auto cmd = parse_command_line(line);
        if (!cmd) return unexpected(cmd.error());
        if (!iequals(cmd->verb, "Add-EflowVmEndpoint"))
            return unexpected(fmt::format("Error: expected Add-EflowVmEndpoint, got {}", cmd->verb));
        endpoint_options o;
        for (const auto& p : cmd->parameters) {
            auto set = [&](std::optional<std::string>& f) {
                if (!p.value.empty()) f = p.value;
            };
            if (iequals(p.name, "vSwitchName")) set(o.vswitch_name);
            else if (iequals(p.name, "vendpointName")) set(o.vendpoint_name);
            else if (iequals(p.name, "ip4Address")) set(o.ip4_address);
            else if (iequals(p.name, "ip4GatewayAddress")) set(o.ip4_gateway_address);
            else if (iequals(p.name, "ip4PrefixLength")) set(o.ip4_prefix_length);
            else return unexpected(unknown_parameter(p.name));
        }
        return o;
    }
};

/// The VM's endpoints. Owns the MAC pool, so MACs are kept for as long as the VM exists
/// (reboots do not touch this object).
class vm_endpoints {
public:
    /// The VM deployed from a plan: its primary endpoint (guest eth0) on the plan's switch.
    vm_endpoints(std::string vm_name, ipv4_address host_address, const deploy_plan& plan, std::string primary_name = "eth0")
            : vm_(std::move(vm_name)), pool_(host_address) {
        networks_.push_back({plan.switch_name, plan.type});
        vm_endpoint e;
        e.name = std::move(primary_name);
        e.switch_name = plan.switch_name;
        e.ifname = "eth0";
        e.static_ip = plan.static_ip;
        e.primary = true;
        auto m = pool_.allocate(key(e.name));
        e.mac = m ? *m : mac_address{};
        if (plan.static_ip) e.observed = plan.static_ip->address;
        endpoints_.push_back(std::move(e));
    }

    /// Add-EflowNetwork. The switch type rules of Deploy-Eflow apply (checks 2-4).
    expected<eflow_network, finding> add_network(std::string_view vswitch_name, std::string_view vswitch_type, host_sku sku) {
        findings f;
        auto t = parse_switch_type(vswitch_type);
        if (!t) f.refuse(check::switch_type_incorrect, std::string(msg_switch_type_incorrect));
        else if (*t == switch_type::internal && sku == host_sku::client)
            f.refuse(check::internal_on_client, std::string(msg_switch_type_incorrect));
        else if (vswitch_name.empty()) f.refuse(check::switch_name_missing, msg_switch_name_required(*t));
        else if (find_network(vswitch_name)) f.refuse(check::network_exists, msg_network_exists(vswitch_name));
        if (f.error) return unexpected(*f.error);
        networks_.push_back({std::string(vswitch_name), *t});
        return networks_.back();
    }

    /// Add-EflowVmEndpoint, validated like Deploy-Eflow's static parameters (checks 9-20)
    /// when any of them is given; DHCP otherwise.
    expected<vm_endpoint, finding> add_endpoint(const endpoint_options& o, const network_probe& probe) {
        findings f;
        if (!o.vswitch_name) {
            f.refuse(check::switch_name_missing, std::string(msg_vswitch_name_missing));
            return unexpected(*f.error);
        }
        if (!o.vendpoint_name) {
            f.refuse(check::endpoint_name_missing, std::string(msg_vendpoint_name_missing));
            return unexpected(*f.error);
        }
        const eflow_network* net = find_network(*o.vswitch_name);
        if (!net) {
            f.refuse(check::network_not_found, msg_network_not_found(*o.vswitch_name));
            return unexpected(*f.error);
        }
        if (find(*o.vendpoint_name)) {
            f.refuse(check::endpoint_exists, msg_endpoint_exists(*o.vendpoint_name));
            return unexpected(*f.error);
        }
        vm_endpoint e;
        e.name = *o.vendpoint_name;
        e.switch_name = net->name;
        if (o.ip4_address || o.ip4_gateway_address || o.ip4_prefix_length) {
            auto s = check_static(o.ip4_address, o.ip4_gateway_address, o.ip4_prefix_length, {net->type, true, net->name}, probe,
                                  f);
            if (!s) return unexpected(*f.error);
            e.static_ip = *s;
            e.observed = s->address;
        }
        auto m = pool_.allocate(key(e.name));
        if (!m) {
            f.refuse(check::mac_pool_exhausted, "Error: the dynamic MAC address pool of the host is exhausted");
            return unexpected(*f.error);
        }
        e.mac = *m;
        unsigned next = 0;
        for (const auto& x : endpoints_) next = std::max(next, eth_number(x.ifname) + 1);
        e.ifname = fmt::format("eth{}", next);
        endpoints_.push_back(e);
        return e;
    }

    /// Remove-EflowVmEndpoint. The primary endpoint cannot be removed [MN].
    expected<void, finding> remove_endpoint(std::string_view name) {
        for (auto it = endpoints_.begin(); it != endpoints_.end(); ++it) {
            if (!iequals(it->name, name)) continue;
            if (it->primary)
                return unexpected(finding{check::primary_endpoint_removal, severity::error, msg_primary_endpoint(it->name)});
            pool_.release(key(it->name));
            endpoints_.erase(it);
            return {};
        }
        return unexpected(finding{check::endpoint_not_found, severity::error, msg_endpoint_not_found(name)});
    }

    /// What the lab observes: the guest's address on an endpoint, and its health.
    bool observe(std::string_view name, std::optional<ipv4_prefix> address, endpoint_health h) {
        for (auto& e : endpoints_)
            if (iequals(e.name, name)) {
                e.observed = address;
                e.health = h;
                return true;
            }
        return false;
    }

    /// Get-EflowVmAddr.
    vm_addr get_vm_addr() const {
        const vm_endpoint& p = endpoints_.front();
        vm_addr a;
        if (p.observed) a.ip = p.observed->address();
        a.mac = p.mac;
        return a;
    }

    const vm_endpoint* find(std::string_view name) const noexcept {
        for (const auto& e : endpoints_)
            if (iequals(e.name, name)) return &e;
        return nullptr;
    }
    const eflow_network* find_network(std::string_view name) const noexcept {
        for (const auto& n : networks_)
            if (iequals(n.name, name)) return &n;
        return nullptr;
    }
    const std::vector<vm_endpoint>& endpoints() const noexcept { return endpoints_; }  // primary first
    const std::vector<eflow_network>& networks() const noexcept { return networks_; }
    const sw::mac_pool& macs() const noexcept { return pool_; }

private:
    std::string key(std::string_view endpoint) const { return vm_ + "/" + std::string(endpoint); }

    std::string vm_;
    sw::mac_pool pool_;
    std::vector<eflow_network> networks_;
    std::vector<vm_endpoint> endpoints_;
};

}  // namespace vnet::eflow

template <>
struct fmt::formatter<vnet::eflow::vm_endpoint> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::eflow::vm_endpoint& e, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "{} ({}) on {} mac {} {} ", e.name, e.ifname, e.switch_name, e.mac, e.health);
        if (e.static_ip) return fmt::format_to(out, "static {} via {}", e.static_ip->address, e.static_ip->gateway);
        return fmt::format_to(out, "dhcp");
    }
};
