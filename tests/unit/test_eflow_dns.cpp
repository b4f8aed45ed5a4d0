// The EFLOW guest's DNS settings (include/vnet/eflow/dns_settings.hpp).
// Sources: [NW] "DNS"; [TS]
// "Check DNS"; docs/eflow-facts.md "Validation messages ... [AD]" (Invoke-EadEflowDeploy),
// "Hyper-V port and switch features" (Default Switch DNS proxy), "Problems users report".
#include <boost/test/unit_test.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include <vnet/eflow/deploy.hpp>
#include <vnet/eflow/dns_settings.hpp>

#include "test_util.hpp"

VNET_TEST_PRINTABLE_NAMESPACE(vnet::eflow)
VNET_TEST_PRINTABLE_NAMESPACE(vnet::sw)

using namespace vnet;
using namespace vnet::eflow;

namespace {

host_state host() {
    host_state h;
    h.sku = host_sku::server;
    h.gateway_next_hops = {ipv4_address(192, 168, 0, 1), ipv4_address::any()};
    h.dns_servers = {ipv4_address(10, 1, 1, 1), ipv4_address(192, 168, 0, 1), ipv4_address(10, 1, 1, 2)};
    return h;
}

const ipv4_address ics(172, 31, 96, 1);

deploy_plan plan_for(std::string_view line, const host_state& h) {
    auto r = validate_deploy_command(line, h, network_probe{});
    BOOST_REQUIRE(r.plan);
    return *r.plan;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(eflow_dns)

// [AD] Invoke-EadEflowDeploy: Internal switch, no servers given -> the host's gateway next
// hops plus its IPv4 DNS servers, empty ones dropped, each once, order kept.
BOOST_AUTO_TEST_CASE(internal_switch_default_is_host_next_hops_then_host_servers) {
    auto [origin, servers] = default_dns(switch_type::internal, ip_mode::static_ip, host(), {}, std::nullopt);
    BOOST_TEST(origin == dns_origin::host_next_hops);
    BOOST_REQUIRE(servers.size() == 3u);
    BOOST_TEST(servers[0] == ipv4_address(192, 168, 0, 1));
    BOOST_TEST(servers[1] == ipv4_address(10, 1, 1, 1));
    BOOST_TEST(servers[2] == ipv4_address(10, 1, 1, 2));
}

// [NW] "DHCP": the DHCP server provides all the information -> the lease's servers.
BOOST_AUTO_TEST_CASE(external_dhcp_default_is_the_lease) {
    auto [origin, servers] = default_dns(switch_type::external, ip_mode::dhcp, host(),
                                         {ipv4_address(192, 168, 0, 1), ipv4_address(192, 168, 0, 1)}, std::nullopt);
    BOOST_TEST(origin == dns_origin::dhcp_lease);
    BOOST_REQUIRE(servers.size() == 1u);
    BOOST_TEST(servers[0] == ipv4_address(192, 168, 0, 1));
}

// docs/eflow-facts.md "Hyper-V port and switch features": the Default Switch has a DNS proxy to the
// host -> the ICS host address.
BOOST_AUTO_TEST_CASE(default_switch_default_is_the_ics_host) {
    auto [origin, servers] = default_dns(switch_type::default_switch, ip_mode::dhcp, host(), {}, ics);
    BOOST_TEST(origin == dns_origin::default_switch);
    BOOST_REQUIRE(servers.size() == 1u);
    BOOST_TEST(servers[0] == ics);
}

// docs/eflow-facts.md "Problems users report": static IP without DNS -> "Temporary failure in name
// resolution" (#221 #219 #246): no servers, and upstream resolv.conf has no nameserver.
BOOST_AUTO_TEST_CASE(external_static_without_servers_has_none) {
    auto [origin, servers] = default_dns(switch_type::external, ip_mode::static_ip, host(), {}, std::nullopt);
    BOOST_TEST(origin == dns_origin::none);
    BOOST_TEST(servers.empty());
    host_state h = host();
    h.switches = {{"Ext", switch_type::external, std::nullopt}};
    dns_settings d(
        plan_for("Deploy-Eflow -vSwitchName Ext -vSwitchType External -ip4Address 192.168.0.100 "
                 "-ip4GatewayAddress 192.168.0.1 -ip4PrefixLength 24",
                 h));
    BOOST_TEST(d.upstream_resolv_conf().empty());
}

// [NW] "DNS": "By default, the EFLOW VM DNS configuration file contains the local stub
// 127.0.0.53 as the only DNS server".
BOOST_AUTO_TEST_CASE(resolv_conf_is_the_local_stub) { BOOST_TEST(dns_settings::stub_resolv_conf() == "nameserver 127.0.0.53\n"); }

// [NW] "DNS" and [FN] Set-EflowVmDnsServers(vendpointName, dnsServers): it replaces the
// endpoint's servers; the per-link servers are what resolvectl shows.
BOOST_AUTO_TEST_CASE(set_dns_servers_replaces_the_endpoint_servers) {
    host_state h = host();
    dns_settings d(plan_for("Deploy-Eflow -vSwitchName Int -vSwitchType Internal", h));
    BOOST_TEST(d.links().front().origin == dns_origin::host_next_hops);
    auto r = d.set_dns_servers_command("Set-EflowVmDnsServers -vendpointName eth0 -dnsServers @(\"10.0.0.53\", \"10.0.0.54\")");
    BOOST_TEST(r.has_value());
    const link_dns* l = d.find("eth0");
    BOOST_REQUIRE(l);
    BOOST_TEST(l->origin == dns_origin::user);
    BOOST_REQUIRE(l->servers.size() == 2u);
    BOOST_TEST(l->servers[0] == ipv4_address(10, 0, 0, 53));
    BOOST_TEST(d.upstream_resolv_conf() == "nameserver 10.0.0.53\nnameserver 10.0.0.54\n");
    BOOST_TEST(fmt::format("{}", *l) == "Link eth0 (eth0) DNS Servers: 10.0.0.53 10.0.0.54 [user]");
    // Without a name: the primary endpoint.
    BOOST_TEST(d.set_dns_servers(std::nullopt, {"1.1.1.1"}).has_value());
    BOOST_TEST(d.upstream_resolv_conf() == "nameserver 1.1.1.1\n");
}

// vnet rules for Set-EflowVmDnsServers input.
BOOST_AUTO_TEST_CASE(set_dns_servers_errors) {
    host_state h = host();
    dns_settings d(plan_for("Deploy-Eflow -vSwitchName Int -vSwitchType Internal", h));
    auto e1 = d.set_dns_servers("eth9", {"1.1.1.1"});
    BOOST_REQUIRE(!e1);
    BOOST_TEST(e1.error().message == "Error: vendpointName eth9 not found");
    auto e2 = d.set_dns_servers("eth0", {});
    BOOST_REQUIRE(!e2);
    BOOST_TEST(e2.error().message == "Error: dnsServers is required");
    auto e3 = d.set_dns_servers_command("Set-EflowVmDnsServers -dnsServers 8.8.8.8,not-an-ip");
    BOOST_REQUIRE(!e3);
    BOOST_TEST(e3.error().message == "Error: Invalid DNS server not-an-ip");
    auto e4 = d.set_dns_servers_command("Set-EflowVmDnsServers -servers 8.8.8.8");
    BOOST_REQUIRE(!e4);
    BOOST_TEST(e4.error().message == "Error: A parameter cannot be found that matches parameter name 'servers'");
    // Nothing changed after the refusals.
    BOOST_TEST(d.links().front().origin == dns_origin::host_next_hops);
}

// A lease updates the servers only where the lease is their origin; servers the user set
// stay (Set-EflowVmDnsServers replaces them until set again).
BOOST_AUTO_TEST_CASE(lease_updates_only_lease_links) {
    host_state h = host();
    h.switches = {{"Ext", switch_type::external, std::nullopt}};
    dns_settings d(plan_for("Deploy-Eflow -vSwitchName Ext -vSwitchType External", h));
    BOOST_TEST(d.apply_lease("eth0", {ipv4_address(192, 168, 0, 1)}));
    BOOST_TEST(d.upstream_resolv_conf() == "nameserver 192.168.0.1\n");
    BOOST_TEST(d.set_dns_servers("eth0", {"9.9.9.9"}).has_value());
    BOOST_TEST(!d.apply_lease("eth0", {ipv4_address(192, 168, 0, 1)}));
    BOOST_TEST(d.upstream_resolv_conf() == "nameserver 9.9.9.9\n");
}

// Several endpoints: every link's servers, primary first, each once.
BOOST_AUTO_TEST_CASE(several_links_primary_first) {
    host_state h = host();
    dns_settings d(plan_for("Deploy-Eflow -vSwitchName Int -vSwitchType Internal", h));
    d.add_link("ot", "eth1", switch_type::external, ip_mode::dhcp, h);
    BOOST_TEST(d.links().size() == 2u);
    BOOST_TEST(d.apply_lease("ot", {ipv4_address(10, 10, 0, 1), ipv4_address(10, 1, 1, 1)}));
    BOOST_TEST(d.upstream_resolv_conf() ==
               "nameserver 192.168.0.1\nnameserver 10.1.1.1\nnameserver 10.1.1.2\nnameserver 10.10.0.1\n");
}

// The Default Switch plan takes the ICS address handed in.
BOOST_AUTO_TEST_CASE(default_switch_plan_uses_ics_address) {
    host_state h = host();
    h.sku = host_sku::client;
    dns_settings d(plan_for("Deploy-Eflow", h), "eth0", ics);
    BOOST_TEST(d.links().front().origin == dns_origin::default_switch);
    BOOST_TEST(d.upstream_resolv_conf() == "nameserver 172.31.96.1\n");
}

BOOST_AUTO_TEST_SUITE_END()
