// vnet/lab/diagnosis.hpp - the troubleshooting order of the EFLOW networking guide, as
// code: given what was observed on a VM, name the first failing component and the
// guide's remedy.
//
// Source: [TS] ("Troubleshoot networking - Azure IoT Edge for Linux on
// Windows networking"):
// - "Isolate the issue": three components, in this order: IP addresses configuration, DNS,
//   Firewall.
// - "Check IP addresses": the inet address of eth0 must be set and be the expected one;
//   the remedy depends on the switch and the IP allocation (the guide's table, quoted
//   verbatim in ip_remedy()).
// - "Check DNS": ping the DNS server; no response -> connection issue; response -> other
//   DNS server configuration or an allow list; public DNS servers may be blocked -> define
//   a valid server and set it with Set-EflowVmDnsServers.
// - "Check your firewall and port configuration rules": outbound 8883 (MQTT), 5671 (AMQP),
//   443 (HTTPS); 1883, 5672 and 80 are not supported; inbound blocked by default.
// Two rules come from [NW] ("Azure IoT Edge for Linux on Windows networking"), because the guide's IP step
// covers them only as "IP communication is misconfigured":
// - "Multiple Network Interface Cards (NICs)" warning: with an offline NIC preferred by
//   its random route priority the VM loses internet access; prioritise the online NIC.
// - "DNS": "If there's no IP address, or the IP address isn't a valid DNS server IP
//   address, then the DNS service won't work"; Set-EflowVmDnsServers sets servers.
//
// Every fact records where it came from: observed on a VM (a check that ran in the guest,
// or, for "is the address free", an ARP probe the host sent on the lab network before the
// VM booted) or taken from the lab model (the lab file's topology, e.g. another device
// declared with the VM's address, when no probe could run). A diagnosis says which kind
// of fact decided it.
//
// Pure: no I/O. plan_diagnosis() turns a lab file and a VM name into the checks to run;
// observe() turns their outcomes into observations; diagnose() walks the guide's order.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/eflow/support_matrix.hpp>
#include <vnet/lab/lab_file.hpp>

namespace vnet::lab {

/// The "internet" server behind every lab network (docs/design.md "Lab file").
inline constexpr ipv4_address internet_address{198, 51, 100, 10};

/// The components of [TS] "Isolate the issue", in the order the guide checks them.
enum class net_component : std::uint8_t { none, ip_configuration, dns, firewall };

constexpr std::string_view to_string(net_component c) noexcept {
    switch (c) {
        case net_component::none: return "none";
        case net_component::ip_configuration: return "IP addresses configuration";
        case net_component::dns: return "DNS";
        case net_component::firewall: return "Firewall";
    }
    return "?";
}

/// Where a fact comes from.
enum class fact_source : std::uint8_t { vm, model };

constexpr std::string_view to_string(fact_source s) noexcept {
    return s == fact_source::vm ? "observed on a VM" : "evaluated by the model";
}

struct fact {
    bool value = false;
    fact_source source = fact_source::vm;
    std::string detail;
};

/// What the guide asks to look at. An absent fact was not looked at (not applicable or
/// not observable); the walk skips it.
struct observations {
    eflow::switch_type sw = eflow::switch_type::external;
    eflow::ip_mode mode = eflow::ip_mode::dhcp;
    // IP addresses configuration
    std::optional<fact> has_address;            // eth0 has an inet address (ifconfig eth0 / the lease)
    std::optional<fact> address_matches;        // eth0's inet is the address Get-EflowVmAddr gives
    std::optional<fact> address_free;           // no other device holds the VM's address
    std::optional<fact> gateway_reachable;      // the default gateway answers
    std::optional<fact> default_route_primary;  // the default route leaves by the online (primary) NIC
    std::optional<fact> internet_reachable;     // the server behind the gateway answers
    // DNS
    std::optional<fact> dns_configured;  // at least one valid DNS server
    std::optional<fact> name_resolves;
    std::optional<fact> dns_server_reachable;  // ping <DNS-Server-IP-Address>
    std::optional<ipv4_address> dns_server;
    // Firewall: outbound TCP to the cloud ports of the guide
    std::vector<std::pair<std::uint16_t, fact>> outbound;
};

/// The first failing component, the guide's remedy, and what decided it.
struct diagnosis {
    net_component component = net_component::none;
    std::string step;     // the guide's section
    std::string finding;  // what failed, in words
    std::string remedy;   // the guide's text
    std::string source;   // seed file and section of the remedy
    fact_source decided_by = fact_source::vm;
};

// ---- the guide's texts (verbatim) ----

/// [TS] "Check IP addresses", the Troubleshoot column of the table, per switch and
/// IP allocation.
constexpr std::string_view ip_remedy(eflow::switch_type sw, eflow::ip_mode mode) noexcept {
    using eflow::ip_mode;
    using eflow::switch_type;
    if (sw == switch_type::external && mode == ip_mode::static_ip)
        return "Ensure that the IP configuration was correctly set up. All three parameters `ip4Address` "
               "`ip4GateWayAddress` and `ip4PrefixLength` should be used, and the IP address assigned to the VM should "
               "be valid and free on the external network. You can check EFLOW VM interface configurations by checking "
               "the files under `/etc/systemd/network/`.";
    if (sw == switch_type::external)
        return "Ensure that there's a DHCP server on the external network. If no DHCP server is available, then use "
               "Static IP configurations. Also, make sure that DHCP server has no firewall policy regarding MAC "
               "addresses, and if it has, you can get the EFLOW MAC address by using the `Get-EflowVmAddr` cmdlet.";
    if (sw == switch_type::default_switch)
        return "Generally the issue is related to a malfunction of the Default Switch. Try rebooting the Windows host "
               "OS. If the problem persists, try disabling and enabling Hyper-V";
    if (mode == ip_mode::static_ip)
        return "Ensure that the IP configuration was correctly set up. All three parameters `ip4Address` "
               "`ip4GateWayAddress` and `ip4PrefixLength` should be used, and the IP address assigned to the VM should "
               "be valid and free on the internal network. Also, to get connected to internet, you will need to set up "
               "a NAT table, so ensure to follow NAT configuration steps on [Azure IoT Edge for Linux on Windows "
               "virtual switch creation](./how-to-create-virtual-switch.md).";
    return "Ensure that there's a DHCP server on the internal network. To set up a DHCP server and a NAT table on "
           "Windows Server, follow the steps on [Azure IoT Edge for Linux on Windows virtual switch "
           "creation](./how-to-create-virtual-switch.md). If no DHCP server is available, then use Static IP "
           "configurations.";
}

/// [NW] "Multiple Network Interface Cards (NICs)", the warning.
inline constexpr std::string_view route_remedy =
    "If all interfaces are connected to the internet, random priorities may not be a problem. However, if one of the "
    "NICs is connected to an offline network, you may want to prioritize the online NIC over the offline NIC to get "
    "the EFLOW VM connected to the internet.";
/// [NW] "DNS".
inline constexpr std::string_view dns_missing_remedy =
    "If there's no IP address, or the IP address isn't a valid DNS server IP address, then the DNS service won't "
    "work. It's possible to configure the EFLOW virtual machine to use a specific DNS server, or list of servers. To "
    "do so, you can use the `Set-EflowVmDnsServers` PowerShell cmdlet.";
/// [TS] "Check DNS", ping step, no response.
inline constexpr std::string_view dns_unreachable_remedy =
    "If there's no response, then you probably have a connection issue to the server.";
/// [TS] "Check DNS", ping step answered, then the allow-list paragraph.
inline constexpr std::string_view dns_config_remedy =
    "If the server is reachable, you should get a response and your issue may be related to other DNS server "
    "configurations. Second, some networking environments will limit the access of the DNS servers to specific "
    "whitelisted addresses. If this is the case, first make sure that you can access the DNS server from the Windows "
    "host OS, and then check with your networking team if you need to whitelist the EFLOW IP address.";
/// [TS] "Check DNS", last paragraph.
inline constexpr std::string_view dns_public_remedy =
    "Finally, some networking environment will block public DNS servers, like Google DNS (8.8.8.8 and 8.8.4.4). If "
    "this is the case, talk with your networking environment team to define a valid DNS server, and then set it up "
    "using the `Set-EflowVmDnsServers` cmdlet.";

/// One row of the guide's firewall table ([TS] "Check your firewall and port
/// configuration rules").
struct port_rule {
    std::uint16_t port;
    std::string_view protocol;
    std::string_view inbound;   // what the guide says for incoming connections
    std::string_view outbound;  // ... and for outgoing ones
    std::string_view guidance;  // the outbound guidance bullet, verbatim
};

inline constexpr std::array<port_rule, 6> firewall_rules{{
    {8883, "MQTT", "blocked", "blocked (default); open when MQTT is used",
     "Configure Outgoing (Outbound) to be Open when using MQTT as the communication protocol."},
    {5671, "AMQP", "blocked", "open",
     "Must be configured to be Open if Azure IoT Edge is not configured for other supported protocols or AMQP is the "
     "desired communication protocol."},
    {443, "HTTPS", "blocked (open only for gateway and C2D scenarios)", "open",
     "Configure Outgoing (Outbound) to be Open on 443 for IoT Edge provisioning. This configuration is required when "
     "using manual scripts or Azure IoT Device Provisioning Service (DPS)."},
    {1883, "MQTT", "not supported", "not supported", "1883 for MQTT is not supported by IoT Edge."},
    {5672, "AMQP", "not supported", "not supported", "5672 for AMQP is not supported by IoT Edge."},
    {80, "HTTP", "not supported", "not supported", "80 for HTTP is not supported by IoT Edge."},
}};

/// The guide's rule for a port, or nullptr when the guide does not name it.
constexpr const port_rule* find_port_rule(std::uint16_t port) noexcept {
    for (const auto& r : firewall_rules)
        if (r.port == port) return &r;
    return nullptr;
}

/// The outbound ports the firewall step checks, in the guide's order.
inline constexpr std::array<std::uint16_t, 3> cloud_ports{8883, 5671, 443};

/// A DNS server the guide calls public (Google DNS), or any address outside the private,
/// loopback and link-local ranges.
constexpr bool is_public_dns(ipv4_address a) noexcept {
    return !a.is_private() && !a.is_loopback() && !a.is_link_local() && !a.is_unspecified();
}

/// Walks the guide's order and stops at the first failing component.
inline diagnosis diagnose(const observations& o) {
    diagnosis d;
    auto failed = [](const std::optional<fact>& f) { return f && !f->value; };
    auto set = [&](net_component c, std::string step, const fact& f, std::string finding, std::string_view remedy,
                   std::string source) {
        d.component = c;
        d.step = std::move(step);
        d.finding = std::move(finding);
        if (!f.detail.empty()) d.finding += fmt::format(" ({})", f.detail);
        d.remedy = std::string(remedy);
        d.source = std::move(source);
        d.decided_by = f.source;
        return d;
    };
    const std::string ip_step = "Check IP addresses";
    const std::string ip_src = fmt::format("[TS] \"Check IP addresses\", row {} | {}", eflow::hyperv_name(o.sw),
                                           o.mode == eflow::ip_mode::static_ip ? "Static IP" : "DHCP");
    if (failed(o.has_address))
        return set(net_component::ip_configuration, ip_step, *o.has_address, "eth0 has no IPv4 address", ip_remedy(o.sw, o.mode),
                   ip_src);
    // [TS] "Check IP addresses": "If the IP address (inet) is blank or different from the one
    // provided by using the Get-EflowVmAddr cmdlet" -> the same table of remedies.
    if (failed(o.address_matches))
        return set(net_component::ip_configuration, ip_step, *o.address_matches,
                   "eth0's IPv4 address differs from the one Get-EflowVmAddr gives", ip_remedy(o.sw, o.mode), ip_src);
    if (failed(o.address_free))
        return set(net_component::ip_configuration, ip_step, *o.address_free,
                   "the VM's address is used by another device on the network", ip_remedy(o.sw, o.mode), ip_src);
    if (failed(o.gateway_reachable))
        return set(net_component::ip_configuration, ip_step, *o.gateway_reachable, "the default gateway does not answer",
                   ip_remedy(o.sw, o.mode), ip_src);
    // [TS] "Internal | Static IP" (and DHCP): "to get connected to internet, you will need to
    // set up a NAT table": the host's vNIC answers, nothing beyond it does.
    if (o.sw == eflow::switch_type::internal && o.gateway_reachable && failed(o.internet_reachable))
        return set(net_component::ip_configuration, ip_step, *o.internet_reachable,
                   "the gateway on the internal switch answers but the internet does not (no NAT table behind it)",
                   ip_remedy(o.sw, o.mode), ip_src);
    if (failed(o.default_route_primary) && (!o.internet_reachable || !o.internet_reachable->value))
        return set(net_component::ip_configuration, ip_step, *o.default_route_primary,
                   "the default route leaves by a NIC that does not reach the internet", route_remedy,
                   "[NW] \"Multiple Network Interface Cards (NICs)\"");

    const std::string dns_step = "Check DNS";
    if (failed(o.dns_configured))
        return set(net_component::dns, dns_step, *o.dns_configured, "no valid DNS server is configured", dns_missing_remedy,
                   "[NW] \"DNS\"");
    if (failed(o.name_resolves)) {
        const fact& nr = *o.name_resolves;
        if (o.dns_server && is_public_dns(*o.dns_server) && failed(o.dns_server_reachable))
            return set(net_component::dns, dns_step, *o.dns_server_reachable,
                       fmt::format("name resolution fails and the public DNS server {} does not answer", *o.dns_server),
                       dns_public_remedy, "[TS] \"Check DNS\" (public DNS servers blocked)");
        if (failed(o.dns_server_reachable))
            return set(net_component::dns, dns_step, *o.dns_server_reachable,
                       o.dns_server
                           ? fmt::format("name resolution fails and the DNS server {} does not answer ping", *o.dns_server)
                           : std::string("name resolution fails and the DNS server does not answer ping"),
                       dns_unreachable_remedy, "[TS] \"Check DNS\" (ping the DNS server)");
        return set(net_component::dns, dns_step, nr,
                   o.dns_server ? fmt::format("name resolution fails although the DNS server {} answers ping", *o.dns_server)
                                : std::string("name resolution fails"),
                   dns_config_remedy, "[TS] \"Check DNS\" (server reachable, allow lists)");
    }

    for (const auto& [port, f] : o.outbound) {
        if (f.value) continue;
        const port_rule* r = find_port_rule(port);
        return set(net_component::firewall, "Check your firewall and port configuration rules", f,
                   fmt::format("outbound TCP {} ({}) does not connect", port, r ? r->protocol : "?"),
                   r ? r->guidance : std::string_view("Check the outbound rules of the network's firewall."),
                   "[TS] \"Check your firewall and port configuration rules\"");
    }
    d.step = "all three components";
    d.finding = "IP configuration, DNS and the outbound cloud ports work";
    return d;
}

// ---- from a lab file to the checks the guide asks for ----

/// What a diagnostic check tells.
enum class diag_role : std::uint8_t {
    has_address,
    gateway_reachable,
    default_route_primary,
    internet_reachable,
    name_resolves,
    dns_server_reachable,
    outbound_port,
    address_free,  // an arp check from the host before the VM boots: "ok" = another device answers
};

struct diag_check {
    diag_role role = diag_role::has_address;
    check_config check;  // expect = "ok": a diagnostic check asks whether something works
    std::uint16_t port = 0;
};

/// The checks to run on one VM, and the facts the lab model gives without a VM.
struct diagnostic_plan {
    std::string vm;
    eflow::switch_type sw = eflow::switch_type::external;
    eflow::ip_mode mode = eflow::ip_mode::dhcp;
    std::vector<diag_check> checks;
    std::optional<fact> address_free;    // model: no other device of the lab file holds the address
    std::optional<fact> dns_configured;  // model: the NIC's DNS servers (static NICs only)
    std::optional<ipv4_address> dns_server;
};

/// One diagnostic check's outcome (ran = false: it could not run).
struct observed_check {
    bool ran = false;
    bool ok = false;
    std::string detail;
};

namespace detail {
/// The switch whose remedies apply: a private switch gets an internal switch's (no uplink,
/// addresses set by hand or by a DHCP server on the same switch).
constexpr eflow::switch_type eflow_type(switch_kind k) noexcept { return k == switch_kind::private_ ? switch_kind::internal : k; }
}  // namespace detail

/// The guide's checks for VM `vm` of a lab file: IP (lease, gateway, route, internet),
/// DNS (a name the lab declares, ping of the server), firewall (outbound 8883, 5671, 443).
inline expected<diagnostic_plan, std::string> plan_diagnosis(const lab_file& lf, std::string_view vm) {
    const vm_config* v = lf.find_vm(vm);
    if (!v) return unexpected(fmt::format("no [[vm]] named '{}' in {}", vm, lf.path));
    const nic_config& nic = v->nics.front();
    const switch_config* sw = lf.find_switch(nic.switch_name);
    diagnostic_plan p;
    p.vm = v->name;
    p.sw = sw ? detail::eflow_type(sw->kind) : eflow::switch_type::external;
    p.mode = nic.ip == ip_mode::static_ ? eflow::ip_mode::static_ip : eflow::ip_mode::dhcp;
    const network_config* net = sw && sw->network ? lf.find_network(*sw->network) : nullptr;
    auto add = [&](diag_role role, check_kind kind, std::string to, std::string name = {}, std::uint16_t port = 0) {
        diag_check c;
        c.role = role;
        c.port = port;
        c.check.kind = kind;
        c.check.from = v->name;
        c.check.to = std::move(to);
        c.check.name = std::move(name);
        if (kind == check_kind::tcp) c.check.port = port;
        c.check.expect = "ok";
        p.checks.push_back(std::move(c));
    };
    // IP addresses configuration
    if (nic.ip == ip_mode::dhcp) add(diag_role::has_address, check_kind::dhcp, "eth0");
    if (nic.ip == ip_mode::static_ && nic.address) {
        const ipv4_address mine = nic.address->address();
        std::string holder;
        for (const auto& n : lf.networks) {
            if (n.gateway == mine) holder = fmt::format("the gateway of network {}", n.name);
            for (const auto& peer : n.peers)
                if (peer.address.address() == mine) holder = fmt::format("peer {} of network {}", peer.name, n.name);
        }
        if (lf.host.address && lf.host.address->address() == mine) holder = "the host";
        for (const auto& other : lf.vms)
            for (std::size_t k = 0; k < other.nics.size(); ++k)
                if ((other.name != v->name || k != 0) && other.nics[k].address && other.nics[k].address->address() == mine)
                    holder = fmt::format("{} eth{}", other.name, k);
        p.address_free = fact{holder.empty(), fact_source::model,
                              holder.empty() ? fmt::format("{} is held by no other device of the lab", mine)
                                             : fmt::format("{} is also held by {}", mine, holder)};
    }
    std::optional<ipv4_address> gw = nic.gateway;
    if (!gw && nic.ip == ip_mode::dhcp && net) gw = net->gateway;
    if (!gw && sw && sw->kind == switch_kind::internal && sw->host_address) gw = sw->host_address->address();
    if (gw) add(diag_role::gateway_reachable, check_kind::ping, fmt::format("{}", *gw));
    if (v->nics.size() > 1) {
        add(diag_role::default_route_primary, check_kind::route, fmt::format("{}", internet_address), "eth0");
    }
    add(diag_role::internet_reachable, check_kind::ping, fmt::format("{}", internet_address));
    // DNS
    if (nic.ip == ip_mode::static_) {
        p.dns_configured = fact{!nic.dns.empty(), fact_source::model,
                                nic.dns.empty() ? std::string("eth0 has no DNS server (static IP without dns)")
                                                : fmt::format("eth0 DNS servers: {}", fmt::join(nic.dns, " "))};
        if (!nic.dns.empty()) p.dns_server = nic.dns.front();
    } else if (net && net->dhcp && !net->dhcp->dns.empty()) {
        p.dns_server = net->dhcp->dns.front();
    }
    std::string name;
    for (const auto& n : lf.networks)
        if (name.empty() && !n.dns.empty()) name = n.dns.begin()->first;
    if (!name.empty()) add(diag_role::name_resolves, check_kind::dns, "", name);
    if (p.dns_server) add(diag_role::dns_server_reachable, check_kind::ping, fmt::format("{}", *p.dns_server));
    // Firewall
    for (auto port : cloud_ports) add(diag_role::outbound_port, check_kind::tcp, fmt::format("{}", internet_address), {}, port);
    // "valid and free on the external network": an ARP probe of the static address from
    // the host, on the VM's segment, before the VM boots (the model's fact stays as the
    // fallback when the probe cannot run).
    const bool host_on_segment = sw && ((sw->kind == switch_kind::external && sw->allow_management_os && lf.host.network &&
                                         sw->network == lf.host.network) ||
                                        (sw->kind == switch_kind::internal && sw->host_address));
    if (nic.ip == ip_mode::static_ && nic.address && host_on_segment) {
        diag_check c;
        c.role = diag_role::address_free;
        c.check.kind = check_kind::arp;
        c.check.from = "host";
        c.check.to = fmt::format("{}", nic.address->address());
        c.check.expect = p.address_free && !p.address_free->value ? "ok" : "fail";
        p.checks.push_back(std::move(c));
    }
    return p;
}

/// Observations from the plan's facts and its checks' outcomes (same order as plan.checks;
/// a check that did not run gives no fact).
inline observations observe(const diagnostic_plan& p, const std::vector<observed_check>& outcomes) {
    observations o;
    o.sw = p.sw;
    o.mode = p.mode;
    o.address_free = p.address_free;
    o.dns_configured = p.dns_configured;
    o.dns_server = p.dns_server;
    if (p.mode == eflow::ip_mode::static_ip) o.has_address = fact{true, fact_source::model, "static address configured"};
    for (std::size_t i = 0; i < p.checks.size() && i < outcomes.size(); ++i) {
        const auto& oc = outcomes[i];
        if (!oc.ran) continue;
        fact f{oc.ok, fact_source::vm, oc.detail};
        switch (p.checks[i].role) {
            case diag_role::has_address: o.has_address = f; break;
            case diag_role::gateway_reachable: o.gateway_reachable = f; break;
            case diag_role::default_route_primary: o.default_route_primary = f; break;
            case diag_role::internet_reachable: o.internet_reachable = f; break;
            case diag_role::name_resolves: o.name_resolves = f; break;
            case diag_role::dns_server_reachable: o.dns_server_reachable = f; break;
            case diag_role::outbound_port: o.outbound.emplace_back(p.checks[i].port, f); break;
            case diag_role::address_free: o.address_free = fact{!oc.ok, fact_source::vm, oc.detail}; break;
        }
    }
    return o;
}

constexpr std::string_view to_string(diag_role r) noexcept {
    switch (r) {
        case diag_role::has_address: return "eth0 has an address";
        case diag_role::gateway_reachable: return "gateway answers";
        case diag_role::default_route_primary: return "default route by eth0";
        case diag_role::internet_reachable: return "internet server answers";
        case diag_role::name_resolves: return "name resolves";
        case diag_role::dns_server_reachable: return "DNS server answers ping";
        case diag_role::outbound_port: return "outbound port connects";
        case diag_role::address_free: return "another device answers ARP for the address";
    }
    return "?";
}

}  // namespace vnet::lab

template <>
struct fmt::formatter<vnet::lab::diagnosis> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::lab::diagnosis& d, Ctx& ctx) const {
        if (d.component == vnet::lab::net_component::none)
            return fmt::format_to(ctx.out(), "no failing component: {}", d.finding);
        return fmt::format_to(ctx.out(), "{}: {} [{}; {}] remedy: {}", to_string(d.component), d.finding, d.step,
                              to_string(d.decided_by), d.remedy);
    }
};
