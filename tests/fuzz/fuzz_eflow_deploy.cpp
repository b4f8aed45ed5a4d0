// libFuzzer target: arbitrary option text into EFLOW deploy validation
// (include/vnet/eflow/deploy.hpp), Add-EflowVmEndpoint (endpoints.hpp) and
// Set-EflowVmDnsServers (dns_settings.hpp).
// The first input octet picks the host (SKU, which switches and NATs exist) and which
// addresses answer the probe; the rest is the command line, prefixed with "Deploy-Eflow "
// when bit 7 of that octet is set (so the fuzzer reaches option validation quickly).
// Checks: no crash (ASan/UBSan); always either a plan or an error, never both; messages
// are in the "Error: " / "Warning: " style; a planned static configuration is a usable one
// (unicast address, gateway distinct, both in the prefix, neither network nor broadcast,
// prefix length 1..30).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <vnet/eflow/deploy.hpp>
#include <vnet/eflow/dns_settings.hpp>
#include <vnet/eflow/endpoints.hpp>

namespace {

using namespace vnet;
using namespace vnet::eflow;

void check_static(const static_ipv4& s) {
    const auto& p = s.address;
    if (p.length() < 1 || p.length() > 30) __builtin_trap();
    if (!non_unicast_reason(p.address()).empty() || !non_unicast_reason(s.gateway).empty()) __builtin_trap();
    if (p.address() == s.gateway) __builtin_trap();
    if (!p.contains(s.gateway)) __builtin_trap();
    if (p.is_network_or_broadcast(p.address()) || p.is_network_or_broadcast(s.gateway)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t ctl = data[0];
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

    host_state h;
    h.sku = (ctl & 1) ? host_sku::server : host_sku::client;
    h.adapters_up = {"Ethernet"};
    h.switches = {{"Ext", switch_type::external, std::nullopt},
                  {"Int", switch_type::internal, ipv4_prefix(ipv4_address(172, 20, 1, 1), 24), (ctl & 8) != 0}};
    if (ctl & 2) h.nats = {{"Int-NAT", ipv4_prefix(ipv4_address(172, 20, 1, 0), 24)}};
    h.gateway_next_hops = {ipv4_address(192, 168, 0, 1)};
    h.dns_servers = {ipv4_address(192, 168, 0, 1)};
    const std::uint8_t answer_mask = static_cast<std::uint8_t>((ctl >> 4) & 3);
    network_probe probe{[answer_mask](ipv4_address a) { return (a.octet(3) & 3) == answer_mask; }};

    std::string line = (ctl & 0x80) ? "Deploy-Eflow " + std::string(text) : std::string(text);
    auto r = validate_deploy_command(line, h, (ctl & 4) ? probe : network_probe{});
    if (r.plan.has_value() == r.report.error.has_value()) __builtin_trap();
    if (r.report.error && !r.report.error->message.starts_with("Error: ")) __builtin_trap();
    for (const auto& w : r.report.warnings)
        if (!w.message.starts_with("Warning: ")) __builtin_trap();
    if (r.plan) {
        if (r.plan->static_ip) check_static(*r.plan->static_ip);
        if (r.plan->type == switch_type::internal && h.sku == host_sku::client) __builtin_trap();
        if (r.plan->type == switch_type::default_switch && (h.sku == host_sku::server || r.plan->static_ip)) __builtin_trap();

        // The same text as an endpoint and as DNS servers on the planned VM.
        vm_endpoints vm("fuzz", ipv4_address(192, 168, 0, 10), *r.plan);
        (void)vm.add_network("Ext2", "External", h.sku);
        std::string ep_line = "Add-EflowVmEndpoint " + std::string(text);
        if (auto o = endpoint_options::parse(ep_line)) {
            auto e = vm.add_endpoint(*o, probe);
            if (e && e->static_ip) check_static(*e->static_ip);
            if (!e && !e.error().message.starts_with("Error: ")) __builtin_trap();
        }
        dns_settings dns(*r.plan);
        auto d = dns.set_dns_servers_command("Set-EflowVmDnsServers " + std::string(text));
        if (!d && !d.error().message.starts_with("Error: ")) __builtin_trap();
        (void)dns.upstream_resolv_conf();
    }
    return 0;
}
