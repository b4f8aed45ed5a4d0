// vnet/core/mutant.hpp - deliberate single defects ("mutants") in the emulated world, for
// proving that the conformance suite can fail: each mutant breaks one rule the seeds state
// (fixtures/mutants.toml names the rule, its source and the rows that must catch it), and
// ci/mutants.sh runs those rows with it switched on: a cell citing the rule must FAIL or
// be ERROR.
//
// The hooks exist only in builds with VNET_MUTANTS defined (the `vnet-mutant` tool, and
// tests): elsewhere mutant::on() is a constant false and every hook compiles away, so the
// library and the released `vnet` carry no defect switch. The active mutant comes from the
// environment variable VNET_MUTANT (one name), read once.
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace vnet::mutant {

enum class id : std::uint8_t {
    none,
    switch_floods_unicast,      // known unicast is flooded as if unknown
    switch_never_learns,        // no (VLAN, MAC) -> port entry is ever learned
    switch_ignores_vlans,       // frames cross VLANs (access, trunk, private VLAN filters open)
    dhcp_silent,                // the DHCP servers answer nothing
    dhcp_ignores_mac_filter,    // the DHCP MAC allow/deny filter lets every client through
    dhcp_wrong_gateway,         // the router option points at an address nobody has
    nat_drops_replies,          // NAT translates out but drops every packet coming back
    dns_proxy_wrong_address,    // the Default Switch's DNS proxy answers with a wrong address
    dns_proxy_silent,           // the Default Switch's DNS proxy answers nothing
    mac_regenerated_on_reboot,  // the host allocates a fresh MAC at each VM start instead of reading its stored one
    firewall_open,              // the enterprise firewall (LAN router) blocks no port
    router_no_nat,              // the LAN router routes to the internet without NAT
    host_vnic_unaddressed,      // an internal switch's host vNIC gets no address
    dhcp_outside_range,         // leases come from outside the configured range
    agent_cannot_run_ping,      // the guests cannot run ping (exit 127)
    dhcp_no_dns,                // the DHCP servers send no DNS server option
    switch_routes_subnets,      // the switch routes between IPv4 subnets (proxy ARP, switch/mutant_router.hpp)
    guest_firewall_open,        // the EFLOW guest boots without its inbound policy (iptables.service masked)
    guest_metrics_fixed,        // the host writes one fixed route metric into the guest instead of the guest drawing them
    switch_vepa,                // an external switch sends its VMs' frames only to the uplink, never to another VM port
    management_os_ignored,      // the host keeps its vNIC and address on an external switch with AllowManagementOS off
    static_ip_not_stored,       // the host does not store a VM's static IP: the VM starts again without it
    ics_routes_inbound,         // the host's kernel routes between its networks and the Default Switch (ICS lets inbound in)
    host_no_apipa,              // a host adapter that gets no DHCP lease stays without an address (no APIPA)
    switch_allows_spoofing,     // a VM port sends frames from any source MAC (MAC address spoofing on everywhere)
    uplink_strips_tags,         // an external switch's adapter port sends every VLAN's frames untagged
    dhcp_leases_never_expire,   // a DHCP server's bindings never run out: a VM's address stays its own while it is off
};

struct entry {
    id value;
    std::string_view name;
};

inline constexpr std::array<entry, 28> names{{
    {id::none, "none"},
    {id::switch_floods_unicast, "switch-floods-unicast"},
    {id::switch_never_learns, "switch-never-learns"},
    {id::switch_ignores_vlans, "switch-ignores-vlans"},
    {id::dhcp_silent, "dhcp-silent"},
    {id::dhcp_ignores_mac_filter, "dhcp-ignores-mac-filter"},
    {id::dhcp_wrong_gateway, "dhcp-wrong-gateway"},
    {id::nat_drops_replies, "nat-drops-replies"},
    {id::dns_proxy_wrong_address, "dns-proxy-wrong-address"},
    {id::dns_proxy_silent, "dns-proxy-silent"},
    {id::mac_regenerated_on_reboot, "mac-regenerated-on-reboot"},
    {id::firewall_open, "firewall-open"},
    {id::router_no_nat, "router-no-nat"},
    {id::host_vnic_unaddressed, "host-vnic-unaddressed"},
    {id::dhcp_outside_range, "dhcp-outside-range"},
    {id::agent_cannot_run_ping, "agent-cannot-run-ping"},
    {id::dhcp_no_dns, "dhcp-no-dns"},
    {id::switch_routes_subnets, "switch-routes-subnets"},
    {id::guest_firewall_open, "guest-firewall-open"},
    {id::guest_metrics_fixed, "guest-metrics-fixed"},
    {id::switch_vepa, "switch-vepa"},
    {id::management_os_ignored, "management-os-ignored"},
    {id::static_ip_not_stored, "static-ip-not-stored"},
    {id::ics_routes_inbound, "ics-routes-inbound"},
    {id::host_no_apipa, "host-no-apipa"},
    {id::switch_allows_spoofing, "switch-allows-spoofing"},
    {id::uplink_strips_tags, "uplink-strips-tags"},
    {id::dhcp_leases_never_expire, "dhcp-leases-never-expire"},
}};

constexpr std::optional<id> parse(std::string_view s) noexcept {
    for (const auto& e : names)
        if (e.name == s) return e.value;
    return std::nullopt;
}

constexpr std::string_view to_string(id m) noexcept {
    for (const auto& e : names)
        if (e.value == m) return e.name;
    return "?";
}

#ifdef VNET_MUTANTS
inline constexpr bool enabled = true;
/// The mutant of this process: VNET_MUTANT, read once (an unknown name is no mutant).
inline id active() noexcept {
    static const id a = [] {
        const char* e = std::getenv("VNET_MUTANT");
        auto m = e ? parse(e) : std::nullopt;
        return m.value_or(id::none);
    }();
    return a;
}
inline bool on(id m) noexcept { return active() == m; }
#else
inline constexpr bool enabled = false;
constexpr id active() noexcept { return id::none; }
constexpr bool on(id) noexcept { return false; }
#endif

}  // namespace vnet::mutant
