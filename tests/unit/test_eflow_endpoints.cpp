// The EFLOW VM's networks and endpoints (include/vnet/eflow/endpoints.hpp).
// Sources: docs/eflow-facts.md "Deployment cmdlets [FN]" (+ [MN], [NW], [PS]); [NW]
// "Static MAC Address" and "Multiple Network Interface Cards";
// [TS] "Check IP addresses".
#include <boost/test/unit_test.hpp>

#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <type_traits>

#include <fmt/format.h>

#include <vnet/eflow/endpoints.hpp>

#include "test_util.hpp"

VNET_TEST_PRINTABLE_NAMESPACE(vnet::eflow)
VNET_TEST_PRINTABLE_NAMESPACE(vnet::sw)

using namespace vnet;
using namespace vnet::eflow;

namespace {

const ipv4_address host_ip(192, 168, 10, 100);  // dd-ee = 0a:64

deploy_plan external_dhcp_plan() {
    deploy_plan p;
    p.sku = host_sku::server;
    p.type = switch_type::external;
    p.switch_name = "ExternalEflow";
    return p;
}

network_probe silent() {
    return {[](ipv4_address) { return false; }};
}

endpoint_options ep(std::string sw, std::string name) {
    endpoint_options o;
    o.vswitch_name = std::move(sw);
    o.vendpoint_name = std::move(name);
    return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(eflow_endpoints)

// [PS] Hyper-V dynamic MACs 00:15:5D:dd:ee:ff, dd-ee from the host IP's last two octets;
// [TS] "Check IP addresses": the primary is eth0.
BOOST_AUTO_TEST_CASE(primary_endpoint_is_eth0_with_a_hyper_v_mac) {
    vm_endpoints vm("eflow", host_ip, external_dhcp_plan());
    BOOST_REQUIRE(vm.endpoints().size() == 1u);
    const auto& p = vm.endpoints().front();
    BOOST_TEST(p.primary);
    BOOST_TEST(p.ifname == "eth0");
    BOOST_TEST(fmt::format("{}", p.mac) == "00:15:5d:0a:64:00");
    BOOST_TEST(p.mode() == ip_mode::dhcp);
    BOOST_TEST(vm.networks().front().name == "ExternalEflow");
}

// [MN]: "The first added NIC appears in the guest as eth1"; later ones eth2, ...
BOOST_AUTO_TEST_CASE(added_endpoints_are_eth1_eth2) {
    vm_endpoints vm("eflow", host_ip, external_dhcp_plan());
    BOOST_REQUIRE(vm.add_network("OT", "External", host_sku::server));
    auto a = vm.add_endpoint(ep("OT", "ot1"), silent());
    BOOST_REQUIRE(a);
    BOOST_TEST(a->ifname == "eth1");
    BOOST_TEST(!a->primary);
    auto b = vm.add_endpoint(ep("OT", "ot2"), silent());
    BOOST_REQUIRE(b);
    BOOST_TEST(b->ifname == "eth2");
    BOOST_TEST(a->mac != b->mac);
    // Removing eth1 does not rename eth2; the next one is eth3.
    BOOST_TEST(vm.remove_endpoint("ot1").has_value());
    BOOST_TEST(vm.find("ot2")->ifname == "eth2");
    auto c = vm.add_endpoint(ep("OT", "ot3"), silent());
    BOOST_REQUIRE(c);
    BOOST_TEST(c->ifname == "eth3");
}

// [NW] "the MAC address is randomly generated and stored locally to keep the same MAC
// address across virtual machine or Windows host reboots": the same endpoint keeps its
// MAC; distinct endpoints get distinct MACs from the host's pool.
BOOST_AUTO_TEST_CASE(macs_are_kept_and_distinct) {
    vm_endpoints vm("eflow", host_ip, external_dhcp_plan());
    BOOST_REQUIRE(vm.add_network("OT", "External", host_sku::server));
    std::set<mac_address> seen{vm.endpoints().front().mac};
    for (int i = 0; i < 5; ++i) {
        auto e = vm.add_endpoint(ep("OT", fmt::format("n{}", i)), silent());
        BOOST_REQUIRE(e);
        BOOST_TEST(vm.macs().contains(e->mac));
        seen.insert(e->mac);
    }
    BOOST_TEST(seen.size() == 6u);
    auto before = vm.find("n2")->mac;
    BOOST_TEST(vm.macs().find("eflow/n2").value() == before);  // the stored mapping
    BOOST_TEST(vm.find("n2")->mac == before);
}

// [MN]: "The primary switch/endpoint manages the VM's lifecycle and cannot be removed".
BOOST_AUTO_TEST_CASE(primary_endpoint_cannot_be_removed) {
    vm_endpoints vm("eflow", host_ip, external_dhcp_plan());
    auto r = vm.remove_endpoint("eth0");
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().rule == check::primary_endpoint_removal);
    BOOST_TEST(r.error().message ==
               "Error: vendpointName eth0 is the primary endpoint; it manages the VM lifecycle and cannot be removed");
    BOOST_TEST(vm.endpoints().size() == 1u);
    auto missing = vm.remove_endpoint("nope");
    BOOST_REQUIRE(!missing);
    BOOST_TEST(missing.error().message == "Error: vendpointName nope not found");
}

// [FN] Add-EflowNetwork (vswitchName, vswitchType) with Deploy-Eflow's type rules
// (docs/eflow-facts.md [AD] messages).
BOOST_AUTO_TEST_CASE(add_network_rules) {
    vm_endpoints vm("eflow", host_ip, external_dhcp_plan());
    auto bad = vm.add_network("X", "Private", host_sku::server);
    BOOST_REQUIRE(!bad);
    BOOST_TEST(bad.error().message == msg_switch_type_incorrect);
    auto client_internal = vm.add_network("I", "Internal", host_sku::client);
    BOOST_REQUIRE(!client_internal);
    BOOST_TEST(client_internal.error().rule == check::internal_on_client);
    auto dup = vm.add_network("externaleflow", "External", host_sku::server);
    BOOST_REQUIRE(!dup);
    BOOST_TEST(dup.error().rule == check::network_exists);
    BOOST_TEST(dup.error().message == "Error: network externaleflow already exists");
    auto ok = vm.add_network("I", "Internal", host_sku::server);
    BOOST_REQUIRE(ok);
    BOOST_TEST(ok->type == switch_type::internal);
}

// [FN] Add-EflowVmEndpoint: optional static parameters, validated like Deploy-Eflow's
// (docs/eflow-facts.md [AD] messages, vnet's own rules).
BOOST_AUTO_TEST_CASE(add_endpoint_validates_static_parameters) {
    vm_endpoints vm("eflow", host_ip, external_dhcp_plan());
    BOOST_REQUIRE(vm.add_network("OT", "External", host_sku::server));
    const ipv4_address ot_gw(10, 10, 0, 1);
    network_probe probe{[ot_gw](ipv4_address a) { return a == ot_gw; }};

    auto partial = endpoint_options::parse("Add-EflowVmEndpoint -vSwitchName OT -vendpointName ot -ip4Address 10.10.0.100");
    BOOST_REQUIRE(partial);
    auto r1 = vm.add_endpoint(*partial, probe);
    BOOST_REQUIRE(!r1);
    BOOST_TEST(r1.error().message == msg_static_incomplete);

    auto same = endpoint_options::parse(
        "Add-EflowVmEndpoint -vSwitchName OT -vendpointName ot -ip4Address 10.10.0.1 -ip4GatewayAddress 10.10.0.1 "
        "-ip4PrefixLength 24");
    BOOST_REQUIRE(same);
    auto r2 = vm.add_endpoint(*same, network_probe{});
    BOOST_REQUIRE(!r2);
    BOOST_TEST(r2.error().rule == check::gateway_equals_address);

    auto good = endpoint_options::parse(
        "Add-EflowVmEndpoint -vSwitchName OT -vendpointName ot -ip4Address 10.10.0.100 -ip4GatewayAddress 10.10.0.1 "
        "-ip4PrefixLength 24");
    BOOST_REQUIRE(good);
    auto r3 = vm.add_endpoint(*good, probe);
    BOOST_REQUIRE(r3);
    BOOST_REQUIRE(r3->static_ip);
    BOOST_TEST(fmt::format("{}", r3->static_ip->address) == "10.10.0.100/24");
    BOOST_TEST(fmt::format("{}", *r3) == "ot (eth1) on OT mac 00:15:5d:0a:64:01 Unknown static 10.10.0.100/24 via 10.10.0.1");
    // Refused attempts allocated no MAC and no interface number.
    BOOST_TEST(vm.macs().size() == 2u);
}

BOOST_AUTO_TEST_CASE(add_endpoint_errors) {
    vm_endpoints vm("eflow", host_ip, external_dhcp_plan());
    auto no_switch = vm.add_endpoint(endpoint_options{std::nullopt, std::string("x"), {}, {}, {}}, silent());
    BOOST_REQUIRE(!no_switch);
    BOOST_TEST(no_switch.error().message == "Error: vSwitchName is required");
    auto no_name = vm.add_endpoint(endpoint_options{std::string("ExternalEflow"), std::nullopt, {}, {}, {}}, silent());
    BOOST_REQUIRE(!no_name);
    BOOST_TEST(no_name.error().message == "Error: vendpointName is required");
    auto unknown = vm.add_endpoint(ep("OT", "ot"), silent());
    BOOST_REQUIRE(!unknown);
    BOOST_TEST(unknown.error().rule == check::network_not_found);
    BOOST_TEST(unknown.error().message == "Error: network OT not found; add it with Add-EflowNetwork first");
    auto dup = vm.add_endpoint(ep("ExternalEflow", "ETH0"), silent());
    BOOST_REQUIRE(!dup);
    BOOST_TEST(dup.error().message == "Error: vendpointName ETH0 already exists");
    auto bad_param = endpoint_options::parse("Add-EflowVmEndpoint -vSwitchName OT -name ot");
    BOOST_REQUIRE(!bad_param);
    BOOST_TEST(bad_param.error() == "Error: A parameter cannot be found that matches parameter name 'name'");
    auto wrong_verb = endpoint_options::parse("Add-EflowNetwork -vSwitchName OT");
    BOOST_REQUIRE(!wrong_verb);
}

// [FN] Get-EflowVmAddr -> the current IP and MAC of the primary endpoint; [TS] "Check IP
// addresses": compare it with what the guest shows (observed).
BOOST_AUTO_TEST_CASE(get_vm_addr_reports_the_primary) {
    vm_endpoints vm("eflow", host_ip, external_dhcp_plan());
    auto before = vm.get_vm_addr();
    BOOST_TEST(!before.ip.has_value());  // DHCP without a lease yet
    BOOST_TEST(fmt::format("{}", before.mac) == "00:15:5d:0a:64:00");
    BOOST_TEST(vm.observe("eth0", ipv4_prefix(ipv4_address(192, 168, 0, 123), 24), endpoint_health::healthy));
    auto after = vm.get_vm_addr();
    BOOST_REQUIRE(after.ip);
    BOOST_TEST(*after.ip == ipv4_address(192, 168, 0, 123));
    BOOST_TEST(vm.endpoints().front().health == endpoint_health::healthy);
    BOOST_TEST(!vm.observe("nope", std::nullopt, endpoint_health::unhealthy));

    deploy_plan s = external_dhcp_plan();
    s.static_ip = static_ipv4{ipv4_prefix(ipv4_address(192, 168, 0, 100), 24), ipv4_address(192, 168, 0, 1)};
    vm_endpoints vm2("eflow2", host_ip, s);
    BOOST_TEST(vm2.get_vm_addr().ip.value() == ipv4_address(192, 168, 0, 100));
}

BOOST_AUTO_TEST_SUITE_END()
