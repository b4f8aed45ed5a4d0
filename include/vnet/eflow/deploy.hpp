// vnet/eflow/deploy.hpp - Deploy-Eflow options, their validation, and the deployment plan.
//
// Sources: docs/eflow-facts.md "Support matrix [NW]", "Deployment cmdlets [FN]", "Validation
// messages in the reference deployment script [AD]" (Azure/iotedge-eflow
// eflowautodeploy/eflowAutoDeploy.ps1, functions Test-EadUserConfigNetwork,
// Test-EadEflowVmSwitch, New-EadEflowVmSwitch, Invoke-EadEflowDeploy); [NW]
// "IP address allocations" and "Virtual switch choices".
//
// Messages: where the reference has one it is returned verbatim (msg_* below, each with
// its source). Where the reference misses a rule, vnet has its own message in the same
// "Error: ..." style. Known defects of the reference that vnet does not copy:
//  - the subnet check masks with 255.255.255.0 whatever ip4PrefixLength says; vnet uses
//    the real prefix length;
//  - the prefix-length check `-lt 0 -and -ge 32` can never fail; vnet refuses text that is
//    not an integer in 1..30 (see below);
//  - an address equal to the gateway is accepted (iotedge-eflow issue #221);
//  - a -vSwitchType other than External/Internal on a client silently uses the Default
//    Switch; vnet refuses it with the reference's vSwitchType message;
//  - `-as [IPAddress]` accepts "10.1", "1" and IPv6 text; vnet accepts dotted-quad IPv4
//    only (static IP is IPv4 only, [NW]);
//  - the NAT of a new internal switch is "<a.b.c>.0/<len>" from the gateway's first three
//    octets whatever the length; vnet uses the gateway's real network.
//
// Prefix length: vnet accepts 1..30. /0 would put every address on-link (the gateway is
// never used), /31 and /32 leave no room for a distinct gateway plus network and broadcast
// addresses on the LAN that EFLOW's single-gateway configuration assumes.
//
// Check order (the reference's order where it has one; the first error stops validation,
// every warning found before it is kept):
//   network   1 server SKU without network configuration      [AD] verbatim
//             2 -vSwitchType not External/Internal              [AD] verbatim
//             3 Internal on a client SKU                        [AD] verbatim
//             4 -vSwitchType without -vSwitchName               vnet
//             5 existing switch of another type                 vnet
//             6 External switch to create: adapterName missing  [AD] verbatim
//             7 External switch to create: adapter not up       [AD] verbatim
//   static    8 Default Switch with any static parameter        vnet ([NW] matrix)
//             9 some but not all of the three parameters        [AD] verbatim
//            10 address not IPv4 text                           [AD] verbatim
//            11 address unspecified/loopback/multicast/link-local/broadcast/reserved   vnet
//            12 address answers the probe (in use)              [AD] verbatim
//            13 gateway not IPv4 text                           [AD] verbatim
//            14 gateway unspecified/loopback/... (as 11)        vnet
//            15 gateway equal to the address (#221)             vnet
//            16 gateway probe: External -> error if silent      [AD] verbatim
//                              Internal, existing switch -> warning if silent   vnet
//                              Internal, new switch -> warning if it answers    [AD] verbatim
//            17 prefix length not an integer 1..30              vnet (reference text form)
//                 (the reference checks it after the subnet; vnet needs it for the subnet)
//            18 gateway and address not in the same subnet      [AD] verbatim, real prefix
//            19 address is the network or broadcast address     vnet
//            20 gateway is the network or broadcast address     vnet
//   dns      21 a DNS server that is not IPv4 text or not unicast   vnet
//   switch   22 existing Internal switch without "<name>-NAT"   [AD] verbatim
// Internal switch without static parameters: a new switch gets the automatic plan (host
// vNIC .1, VM .2, NAT); an existing one uses DHCP when its network has a DHCP server, and
// otherwise the first free address of the host vNIC's network with the vNIC as gateway
// (the reference's "<a.b.c>.2"/24), so the VM is not left without an address (#75 #41).
//   advice   23 static IP on an External switch and no DNS servers: warning (#221 #219 #246)
//            24 a parameter vnet does not model: warning
// Probes run only when every earlier check passed, so nothing probes an address that is
// not a usable unicast address.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/eflow/command_line.hpp>
#include <vnet/eflow/support_matrix.hpp>

namespace vnet::eflow {

using vnet::to_string;

// ---- reference messages (docs/eflow-facts.md "Validation messages ... [AD]") ----
inline constexpr std::string_view msg_server_needs_network = "Error: Server SKU, requires Network configuration";
inline constexpr std::string_view msg_switch_type_incorrect =
    "Error: vSwitchType is incorrect. Supported types : External (Client and Server) and Internal (Server)";
inline constexpr std::string_view msg_adapter_required = "Error: adapterName required for External switch";
inline constexpr std::string_view msg_static_incomplete =
    "Error: IP4Address, IP4GatewayAddress and IP4PrefixLength parameters are needed";
inline constexpr std::string_view msg_not_same_subnet = "Error: ip4GatewayAddress and ip4Address are not in the same subnet";
inline constexpr std::string_view msg_internal_without_nat =
    "Error: Internal switch found. NAT not found. Delete switch and recreate.";
// With a value: "Error: Invalid IP4Address <x>", "Error: Invalid IP4GatewayAddress <x>",
// "Error: ip4Address <x> in use", "Error: ip4GatewayAddress <x> is not reachable. Required
// for external switch", "Error: <name> not found. External switch creation will fail.",
// and the script's internal-switch warning "Warning: ip4GatewayAddress <x> may be in use
// already" (Test-EadUserConfigNetwork).

// The endpoint and network cmdlets' messages (docs/eflow-facts.md "Deployment cmdlets"),
// shared by the model (endpoints.hpp, dns_settings.hpp) and `vnet eflow` on a running lab.
inline constexpr std::string_view msg_vswitch_name_missing = "Error: vSwitchName is required";
inline constexpr std::string_view msg_vendpoint_name_missing = "Error: vendpointName is required";
inline constexpr std::string_view msg_dns_servers_missing = "Error: dnsServers is required";
inline std::string msg_switch_name_required(switch_type t) {
    return fmt::format("Error: vSwitchName required for {} switch", hyperv_name(t));
}
inline std::string msg_switch_type_mismatch(std::string_view name, std::string_view is, std::string_view wanted) {
    return fmt::format("Error: virtual switch {} is {}, not {}", name, is, wanted);
}
inline std::string msg_network_exists(std::string_view name) { return fmt::format("Error: network {} already exists", name); }
inline std::string msg_network_not_found(std::string_view name) {
    return fmt::format("Error: network {} not found; add it with Add-EflowNetwork first", name);
}
inline std::string msg_endpoint_exists(std::string_view name) {
    return fmt::format("Error: vendpointName {} already exists", name);
}
inline std::string msg_endpoint_not_found(std::string_view name) {
    return fmt::format("Error: vendpointName {} not found", name);
}
inline std::string msg_primary_network(std::string_view name) {
    return fmt::format("Error: network {} is the primary network; it manages the VM lifecycle and cannot be removed", name);
}
inline std::string msg_network_has_endpoint(std::string_view network, std::string_view endpoint) {
    return fmt::format("Error: network {} still has endpoint {}; remove it with Remove-EflowVmEndpoint first", network, endpoint);
}
inline std::string msg_primary_endpoint(std::string_view name) {
    return fmt::format("Error: vendpointName {} is the primary endpoint; it manages the VM lifecycle and cannot be removed",
                       name);
}

/// Every rule validation applies, in check order (see the top of this file).
enum class check : std::uint8_t {
    server_needs_network,
    switch_type_incorrect,
    internal_on_client,
    switch_name_missing,
    switch_type_mismatch,
    adapter_required,
    adapter_not_found,
    default_switch_static,
    static_incomplete,
    address_invalid,
    address_not_unicast,
    address_in_use,
    gateway_invalid,
    gateway_not_unicast,
    gateway_equals_address,
    gateway_unreachable,
    prefix_invalid,
    not_same_subnet,
    address_network_or_broadcast,
    gateway_network_or_broadcast,
    dns_invalid,
    internal_without_nat,
    static_without_dns,
    unmodelled_parameter,
    endpoint_name_missing,
    endpoint_exists,
    endpoint_not_found,
    primary_endpoint_removal,
    dns_servers_missing,
    network_not_found,
    network_exists,
    mac_pool_exhausted,
    command_syntax,
};
inline constexpr std::size_t check_count = static_cast<std::size_t>(check::command_syntax) + 1;

inline constexpr enum_name<check> check_names[] = {
    {check::server_needs_network, "server_needs_network"},
    {check::switch_type_incorrect, "switch_type_incorrect"},
    {check::internal_on_client, "internal_on_client"},
    {check::switch_name_missing, "switch_name_missing"},
    {check::switch_type_mismatch, "switch_type_mismatch"},
    {check::adapter_required, "adapter_required"},
    {check::adapter_not_found, "adapter_not_found"},
    {check::default_switch_static, "default_switch_static"},
    {check::static_incomplete, "static_incomplete"},
    {check::address_invalid, "address_invalid"},
    {check::address_not_unicast, "address_not_unicast"},
    {check::address_in_use, "address_in_use"},
    {check::gateway_invalid, "gateway_invalid"},
    {check::gateway_not_unicast, "gateway_not_unicast"},
    {check::gateway_equals_address, "gateway_equals_address"},
    {check::gateway_unreachable, "gateway_unreachable"},
    {check::prefix_invalid, "prefix_invalid"},
    {check::not_same_subnet, "not_same_subnet"},
    {check::address_network_or_broadcast, "address_network_or_broadcast"},
    {check::gateway_network_or_broadcast, "gateway_network_or_broadcast"},
    {check::dns_invalid, "dns_invalid"},
    {check::internal_without_nat, "internal_without_nat"},
    {check::static_without_dns, "static_without_dns"},
    {check::unmodelled_parameter, "unmodelled_parameter"},
    {check::endpoint_name_missing, "endpoint_name_missing"},
    {check::endpoint_exists, "endpoint_exists"},
    {check::endpoint_not_found, "endpoint_not_found"},
    {check::primary_endpoint_removal, "primary_endpoint_removal"},
    {check::dns_servers_missing, "dns_servers_missing"},
    {check::network_not_found, "network_not_found"},
    {check::network_exists, "network_exists"},
    {check::mac_pool_exhausted, "mac_pool_exhausted"},
    {check::command_syntax, "command_syntax"},
};
constexpr std::span<const enum_name<check>> enum_names(check) noexcept { return check_names; }

enum class severity : std::uint8_t { warning, error };

/// One message of validation: which rule, how bad, and the text the user sees.
struct finding {
    check rule = check::static_incomplete;
    vnet::eflow::severity level = severity::error;
    std::string message;
    friend bool operator==(const finding&, const finding&) = default;
};

/// Every warning found, and the first error (validation stops there).
struct findings {
    std::vector<finding> warnings;
    std::optional<finding> error;

    bool ok() const noexcept { return !error.has_value(); }
    void warn(check c, std::string m) { warnings.push_back({c, severity::warning, std::move(m)}); }
    void refuse(check c, std::string m) {
        if (!error) error = finding{c, severity::error, std::move(m)};
    }
    bool has_warning(check c) const noexcept {
        for (const auto& w : warnings)
            if (w.rule == c) return true;
        return false;
    }
};

/// What the observed network answers. The lab answers with a real ARP probe on the
/// switch's network, tests with a fake. `answers(a)` is true when some device answers for
/// address a (the reference pings it with Test-Connection). An empty probe skips the probe
/// checks (12 and 16): validation of text alone, without a network.
struct network_probe {
    std::function<bool(ipv4_address)> answers;
};

/// A switch that already exists on the host (Get-VMSwitch), with its host vNIC address.
struct existing_switch {
    std::string name;
    switch_type type = switch_type::external;
    std::optional<ipv4_prefix> host_vnic;  // "vEthernet (<name>)"'s IPv4 address and length
    /// Internal only: a DHCP server serves the switch's network ([TS] "Internal | DHCP":
    /// "Ensure that there's a DHCP server on the internal network"). Without one, a VM
    /// given no static parameters gets the reference script's automatic static address.
    bool dhcp_server = false;
};

/// A NAT network of the host (Get-NetNat).
struct host_nat {
    std::string name;  // the reference names it "<switch>-NAT"
    ipv4_prefix internal_prefix;
};

/// What validation needs to know about the Windows host (all values, no I/O).
struct host_state {
    host_sku sku = host_sku::client;
    std::vector<std::string> adapters_up;  // Get-NetAdapter -Physical | Status -eq "Up"
    std::vector<existing_switch> switches;
    std::vector<host_nat> nats;
    std::vector<ipv4_address> gateway_next_hops;  // Get-NetIPConfiguration IPv4DefaultGateway.NextHop
    std::vector<ipv4_address> dns_servers;        // Get-DnsClientServerAddress, IPv4
    /// The /24 a new internal switch without static parameters gets: host vNIC .1, VM .2
    /// (docs/eflow-facts.md [AD]). The reference takes it from the new vNIC; the caller chooses.
    ipv4_prefix new_internal_subnet{ipv4_address(172, 20, 0, 0), 24};

    const existing_switch* find_switch(std::string_view name) const noexcept {
        for (const auto& s : switches)
            if (iequals(s.name, name)) return &s;
        return nullptr;
    }
    const host_nat* find_nat(std::string_view name) const noexcept {
        for (const auto& n : nats)
            if (iequals(n.name, name)) return &n;
        return nullptr;
    }
};

/// The servers an Internal switch's VM gets when none are given [AD] Invoke-EadEflowDeploy:
/// the host's gateway next hops, then its IPv4 DNS servers; empty (0.0.0.0) entries
/// dropped, each address once (`Select-Object -uniq`), order kept.
inline std::vector<ipv4_address> host_dns_servers(const host_state& host) {
    std::vector<ipv4_address> out;
    auto add = [&](ipv4_address a) {
        if (!a.is_unspecified() && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    };
    for (auto a : host.gateway_next_hops) add(a);
    for (auto a : host.dns_servers) add(a);
    return out;
}

/// Deploy-Eflow's network options as typed (nullopt: not given).
struct deploy_options {
    std::optional<std::string> vswitch_name;
    std::optional<std::string> vswitch_type;
    std::optional<std::string> ip4_address;
    std::optional<std::string> ip4_gateway_address;
    std::optional<std::string> ip4_prefix_length;
    std::optional<std::string> adapter_name;  // eflowAutoDeploy network.adapterName
    std::vector<std::string> dns_servers;     // eflowAutoDeploy network.dnsServers
    std::vector<std::string> unmodelled;      // parameter names vnet does not model

    /// From a parsed "Deploy-Eflow ..." line. Empty values count as not given, as in the
    /// reference (it removes empty network properties before validating).
    static expected<deploy_options, std::string> from(const command_line& cmd) {
        if (!iequals(cmd.verb, "Deploy-Eflow")) return unexpected(fmt::format("Error: expected Deploy-Eflow, got {}", cmd.verb));
        deploy_options o;
        for (const auto& p : cmd.parameters) {
            auto set = [&](std::optional<std::string>& f) {
                if (!p.value.empty()) f = p.value;
            };
            if (iequals(p.name, "vSwitchName")) set(o.vswitch_name);
            else if (iequals(p.name, "vSwitchType")) set(o.vswitch_type);
            else if (iequals(p.name, "ip4Address")) set(o.ip4_address);
            else if (iequals(p.name, "ip4GatewayAddress")) set(o.ip4_gateway_address);
            else if (iequals(p.name, "ip4PrefixLength")) set(o.ip4_prefix_length);
            else if (iequals(p.name, "adapterName")) set(o.adapter_name);
            else if (iequals(p.name, "dnsServers")) o.dns_servers = split_array(p.value);
            else o.unmodelled.push_back(p.name);
        }
        return o;
    }
    static expected<deploy_options, std::string> parse(std::string_view line) {
        auto cmd = parse_command_line(line);
        if (!cmd) return unexpected(cmd.error());
        return from(*cmd);
    }
    bool any_static() const noexcept { return ip4_address || ip4_gateway_address || ip4_prefix_length; }
};

/// A static IPv4 configuration: address with prefix length, and the default gateway.
struct static_ipv4 {
    ipv4_prefix address;
    ipv4_address gateway;
    friend bool operator==(const static_ipv4&, const static_ipv4&) = default;
};

/// Why an address cannot be a host's unicast address, or empty when it can.
constexpr std::string_view non_unicast_reason(ipv4_address a) noexcept {
    if (a.is_unspecified()) return "the unspecified address";
    if (a.is_loopback()) return "a loopback address (127.0.0.0/8)";
    if (a.is_multicast()) return "a multicast address (224.0.0.0/4)";
    if (a.is_link_local()) return "a link-local address (169.254.0.0/16)";
    if (a.is_broadcast()) return "the limited broadcast address";
    if (a.is_reserved()) return "a reserved address (240.0.0.0/4)";
    if (a.octet(0) == 0) return "in 0.0.0.0/8 (this network)";
    return {};
}

/// The prefix-length text: a decimal integer 1..30, nothing else.
constexpr std::optional<std::uint8_t> parse_prefix_length(std::string_view s) noexcept {
    if (s.empty() || s.size() > 2) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (s.size() == 2 && s[0] == '0') return std::nullopt;
    if (v < 1 || v > 30) return std::nullopt;
    return static_cast<std::uint8_t>(v);
}

/// Where the switch of a static configuration stands, for the gateway probe rule.
struct static_context {
    switch_type type = switch_type::external;
    bool switch_exists = true;
    std::string_view switch_name;
};

/// Checks 9-20 on three optional texts; returns the configuration when all passed.
/// Shared by Deploy-Eflow and Add-EflowVmEndpoint.
inline std::optional<static_ipv4> check_static(const std::optional<std::string>& addr_text,
                                               const std::optional<std::string>& gw_text,
                                               const std::optional<std::string>& len_text, const static_context& ctx,
                                               const network_probe& probe, findings& out) {
    if (!addr_text || !gw_text || !len_text) {  // 9
        out.refuse(check::static_incomplete, std::string(msg_static_incomplete));
        return std::nullopt;
    }
    auto addr = ipv4_address::parse(*addr_text);  // 10
    if (!addr) {
        out.refuse(check::address_invalid, fmt::format("Error: Invalid IP4Address {}", *addr_text));
        return std::nullopt;
    }
    if (auto why = non_unicast_reason(*addr); !why.empty()) {  // 11
        out.refuse(check::address_not_unicast, fmt::format("Error: ip4Address {} is {}, not a host address", *addr, why));
        return std::nullopt;
    }
    if (probe.answers && probe.answers(*addr)) {  // 12
        out.refuse(check::address_in_use, fmt::format("Error: ip4Address {} in use", *addr_text));
        return std::nullopt;
    }
    auto gw = ipv4_address::parse(*gw_text);  // 13
    if (!gw) {
        out.refuse(check::gateway_invalid, fmt::format("Error: Invalid IP4GatewayAddress {}", *gw_text));
        return std::nullopt;
    }
    if (auto why = non_unicast_reason(*gw); !why.empty()) {  // 14
        out.refuse(check::gateway_not_unicast, fmt::format("Error: ip4GatewayAddress {} is {}, not a gateway address", *gw, why));
        return std::nullopt;
    }
    if (*gw == *addr) {  // 15
        out.refuse(check::gateway_equals_address,
                   fmt::format("Error: ip4GatewayAddress {} is the same as ip4Address; the gateway must be another device", *gw));
        return std::nullopt;
    }
    if (probe.answers) {  // 16
        bool up = probe.answers(*gw);
        if (ctx.type == switch_type::external && !up) {
            out.refuse(check::gateway_unreachable,
                       fmt::format("Error: ip4GatewayAddress {} is not reachable. Required for external switch", *gw_text));
            return std::nullopt;
        }
        if (ctx.type == switch_type::internal && ctx.switch_exists && !up)
            out.warn(check::gateway_unreachable,
                     fmt::format("Warning: ip4GatewayAddress {} is not reachable on internal switch {}; the VM has no route "
                                 "beyond the switch until the host vNIC or a router has this address",
                                 *gw_text, ctx.switch_name));
        if (ctx.type == switch_type::internal && !ctx.switch_exists && up)
            out.warn(check::gateway_unreachable, fmt::format("Warning: ip4GatewayAddress {} may be in use already", *gw_text));
    }
    auto len = parse_prefix_length(*len_text);  // 17
    if (!len) {
        out.refuse(check::prefix_invalid,
                   fmt::format("Error: Invalid IP4PrefixLength {}. Should be an integer between 1 and 30", *len_text));
        return std::nullopt;
    }
    ipv4_prefix net(*addr, *len);
    if (!net.contains(*gw)) {  // 18
        out.refuse(check::not_same_subnet, std::string(msg_not_same_subnet));
        return std::nullopt;
    }
    if (net.is_network_or_broadcast(*addr)) {  // 19
        out.refuse(check::address_network_or_broadcast,
                   fmt::format("Error: ip4Address {} is the {} address of {}", *addr,
                               *addr == net.network() ? "network" : "broadcast", net.canonical()));
        return std::nullopt;
    }
    if (net.is_network_or_broadcast(*gw)) {  // 20
        out.refuse(check::gateway_network_or_broadcast,
                   fmt::format("Error: ip4GatewayAddress {} is the {} address of {}", *gw,
                               *gw == net.network() ? "network" : "broadcast", net.canonical()));
        return std::nullopt;
    }
    return static_ipv4{net, *gw};
}

/// Check 21 on a list of DNS server texts.
inline std::optional<std::vector<ipv4_address>> check_dns_servers(const std::vector<std::string>& texts, findings& out) {
    std::vector<ipv4_address> servers;
    for (const auto& t : texts) {
        auto a = ipv4_address::parse(t);
        if (!a) {
            out.refuse(check::dns_invalid, fmt::format("Error: Invalid DNS server {}", t));
            return std::nullopt;
        }
        // A loopback server is allowed: a resolver inside the guest (such as the
        // 127.0.0.53 stub of [NW] "DNS") is a valid upstream.
        if (auto why = non_unicast_reason(*a); !why.empty() && !a->is_loopback()) {
            out.refuse(check::dns_invalid, fmt::format("Error: DNS server {} is {}", *a, why));
            return std::nullopt;
        }
        servers.push_back(*a);
    }
    return servers;
}

/// The NAT a new internal switch gets (New-NetNat -Name "<switch>-NAT").
struct nat_plan {
    std::string name;
    ipv4_prefix internal_prefix;  // canonical (host bits clear)
    friend bool operator==(const nat_plan&, const nat_plan&) = default;
};

/// Where the VM's DNS servers come from.
enum class dns_origin : std::uint8_t {
    user,            // -dnsServers / Set-EflowVmDnsServers
    host_next_hops,  // internal switch, none given: host gateways + host DNS servers [AD]
    dhcp_lease,      // DHCP option 6 of the lease
    default_switch,  // the Default Switch's ICS host address (its DNS proxy)
    none,            // static IP on an External switch without servers: no name resolution
};

inline constexpr enum_name<dns_origin> dns_origin_names[] = {
    {dns_origin::user, "user"},
    {dns_origin::host_next_hops, "host gateways and DNS servers"},
    {dns_origin::dhcp_lease, "DHCP lease"},
    {dns_origin::default_switch, "Default Switch (ICS)"},
    {dns_origin::none, "none"},
};
constexpr std::span<const enum_name<dns_origin>> enum_names(dns_origin) noexcept { return dns_origin_names; }

/// The deployment that validation allows: produced only when no check failed.
struct deploy_plan {
    host_sku sku = host_sku::client;
    switch_type type = switch_type::default_switch;
    std::string switch_name;               // "Default Switch" when none was given
    bool create_switch = false;            // the switch does not exist yet
    std::optional<std::string> adapter;    // External switch to create: bound adapter
    std::optional<ipv4_prefix> host_vnic;  // Internal switch to create: the host vNIC's address
    std::optional<nat_plan> nat;           // Internal switch to create: its NAT
    std::optional<static_ipv4> static_ip;  // nullopt: DHCP
    dns_origin dns = dns_origin::dhcp_lease;
    std::vector<ipv4_address> dns_servers;  // known now (user / host); DHCP ones come with the lease
    std::vector<finding> warnings;

    ip_mode mode() const noexcept { return static_ip ? ip_mode::static_ip : ip_mode::dhcp; }
};

/// The outcome of validation: every warning, and either the first error or the plan.
struct deploy_result {
    findings report;
    std::optional<deploy_plan> plan;  // set if and only if report.ok()
};

/// Refusals and warnings per rule, for users who run many validations (the lab, CI).
struct deploy_counters {
    std::array<std::uint64_t, check_count> refused{};
    std::array<std::uint64_t, check_count> warned{};
    std::uint64_t planned = 0;

    void count(const findings& f) {
        for (const auto& w : f.warnings) ++warned[static_cast<std::size_t>(w.rule)];
        if (f.error) ++refused[static_cast<std::size_t>(f.error->rule)];
        else ++planned;
    }
    std::uint64_t refusals(check c) const noexcept { return refused[static_cast<std::size_t>(c)]; }
    std::uint64_t warnings(check c) const noexcept { return warned[static_cast<std::size_t>(c)]; }
};

/// Validates Deploy-Eflow's options against the host and the probed network. Nothing is
/// deployed: the result carries a plan only when every check passed.
inline deploy_result validate_deploy(const deploy_options& o, const host_state& host, const network_probe& probe) {
    deploy_result r;
    findings& f = r.report;
    deploy_plan p;
    p.sku = host.sku;

    // ---- network: switch name and type against the SKU ----
    const bool no_switch = !o.vswitch_name && !o.vswitch_type;
    if (no_switch && host.sku == host_sku::server) {  // 1
        f.refuse(check::server_needs_network, std::string(msg_server_needs_network));
        return r;
    }
    if (no_switch) {
        p.type = switch_type::default_switch;
        p.switch_name = "Default Switch";
    } else {
        auto t = o.vswitch_type ? parse_switch_type(*o.vswitch_type) : std::nullopt;
        if (!t) {  // 2: unknown type text, or a name without a type
            f.refuse(check::switch_type_incorrect, std::string(msg_switch_type_incorrect));
            return r;
        }
        if (*t == switch_type::internal && host.sku == host_sku::client) {  // 3
            f.refuse(check::internal_on_client, std::string(msg_switch_type_incorrect));
            return r;
        }
        if (!o.vswitch_name) {  // 4
            f.refuse(check::switch_name_missing, msg_switch_name_required(*t));
            return r;
        }
        p.type = *t;
        p.switch_name = *o.vswitch_name;
        const existing_switch* sw = host.find_switch(*o.vswitch_name);
        if (sw && sw->type != *t) {  // 5
            f.refuse(check::switch_type_mismatch, msg_switch_type_mismatch(sw->name, hyperv_name(sw->type), hyperv_name(*t)));
            return r;
        }
        p.create_switch = (sw == nullptr);
        if (*t == switch_type::external && p.create_switch) {
            if (!o.adapter_name) {  // 6
                f.refuse(check::adapter_required, std::string(msg_adapter_required));
                return r;
            }
            bool up = false;
            for (const auto& a : host.adapters_up) up = up || a == *o.adapter_name;
            if (!up) {  // 7
                f.refuse(check::adapter_not_found,
                         fmt::format("Error: {} not found. External switch creation will fail.", *o.adapter_name));
                return r;
            }
            p.adapter = *o.adapter_name;
        }
    }

    // ---- static IPv4 ----
    if (o.any_static()) {
        if (p.type == switch_type::default_switch) {  // 8
            f.refuse(check::default_switch_static,
                     "Error: static IP is not supported on the Default Switch; use DHCP, or an External or Internal switch");
            return r;
        }
        auto s = check_static(o.ip4_address, o.ip4_gateway_address, o.ip4_prefix_length,
                              {p.type, !p.create_switch, p.switch_name}, probe, f);
        if (!s) return r;
        p.static_ip = *s;
    }

    // ---- DNS servers ----
    auto dns = check_dns_servers(o.dns_servers, f);  // 21
    if (!dns) return r;

    // ---- internal switch: NAT, automatic static address ----
    if (p.type == switch_type::internal) {
        const std::string nat_name = p.switch_name + "-NAT";
        if (!p.create_switch) {
            if (!host.find_nat(nat_name)) {  // 22
                f.refuse(check::internal_without_nat, std::string(msg_internal_without_nat));
                return r;
            }
            const existing_switch* sw = host.find_switch(p.switch_name);
            if (!p.static_ip && sw->host_vnic && !sw->dhcp_server) {
                // The VM takes the first address of the host vNIC's network that is not the
                // host's (the reference: "<a.b.c>.2"/24 with the vNIC as gateway).
                ipv4_prefix net = sw->host_vnic->canonical();
                std::uint32_t cand = net.network().to_u32() + 1;
                if (ipv4_address(cand) == sw->host_vnic->address()) ++cand;
                p.static_ip = static_ipv4{ipv4_prefix(ipv4_address(cand), net.length()), sw->host_vnic->address()};
            }
        } else {
            if (!p.static_ip) {
                ipv4_prefix net = host.new_internal_subnet.canonical();
                ipv4_address gw(net.network().to_u32() + 1);
                p.static_ip = static_ipv4{ipv4_prefix(ipv4_address(net.network().to_u32() + 2), net.length()), gw};
            }
            p.host_vnic = ipv4_prefix(p.static_ip->gateway, p.static_ip->address.length());
            p.nat = nat_plan{nat_name, p.static_ip->address.canonical()};
        }
    }

    // ---- where DNS comes from (Invoke-EadEflowDeploy) ----
    if (!dns->empty()) {
        p.dns = dns_origin::user;
        p.dns_servers = *dns;
    } else if (p.type == switch_type::internal) {
        p.dns = dns_origin::host_next_hops;
        p.dns_servers = host_dns_servers(host);
    } else if (p.type == switch_type::default_switch) {
        p.dns = dns_origin::default_switch;
    } else if (p.static_ip) {
        p.dns = dns_origin::none;  // 23
        f.warn(check::static_without_dns,
               "Warning: static IP without dnsServers: the VM has no DNS server and name resolution fails until "
               "Set-EflowVmDnsServers is run");
    } else {
        p.dns = dns_origin::dhcp_lease;
    }
    for (const auto& u : o.unmodelled)  // 24
        f.warn(check::unmodelled_parameter, fmt::format("Warning: parameter -{} is not modelled by vnet and was ignored", u));

    p.warnings = f.warnings;
    r.plan = std::move(p);
    return r;
}

/// Parses and validates one "Deploy-Eflow ..." line: a plan or the first error.
inline deploy_result validate_deploy_command(std::string_view line, const host_state& host, const network_probe& probe) {
    auto o = deploy_options::parse(line);
    if (!o) {
        deploy_result r;
        r.report.refuse(check::command_syntax, o.error());
        return r;
    }
    return validate_deploy(*o, host, probe);
}

}  // namespace vnet::eflow

template <>
struct fmt::formatter<vnet::eflow::finding> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::eflow::finding& f, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "[{}] {}", f.rule, f.message);
    }
};

template <>
struct fmt::formatter<vnet::eflow::deploy_plan> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::eflow::deploy_plan& p, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "{} switch \"{}\"{} on {} SKU, ", vnet::eflow::hyperv_name(p.type), p.switch_name,
                                  p.create_switch ? " (to create)" : "", p.sku);
        if (p.static_ip) out = fmt::format_to(out, "static {} via {}", p.static_ip->address, p.static_ip->gateway);
        else out = fmt::format_to(out, "dhcp");
        if (p.nat) out = fmt::format_to(out, ", NAT {} on {}", p.nat->name, p.nat->internal_prefix);
        out = fmt::format_to(out, ", DNS from {}", p.dns);
        for (const auto& a : p.dns_servers) out = fmt::format_to(out, " {}", a);
        return out;
    }
};
