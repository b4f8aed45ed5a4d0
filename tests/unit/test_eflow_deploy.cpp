// Deploy-Eflow options and their validation (include/vnet/eflow/deploy.hpp).
// Sources: docs/eflow-facts.md "Validation messages in the reference deployment script [AD]"
// (Azure/iotedge-eflow eflowautodeploy/eflowAutoDeploy.ps1, Test-EadUserConfigNetwork,
// Test-EadEflowVmSwitch, New-EadEflowVmSwitch, Invoke-EadEflowDeploy), "Support matrix
// [NW]", and [NW] "IP address allocations".
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <set>
#include <type_traits>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/eflow/deploy.hpp>

#include "test_util.hpp"

VNET_TEST_PRINTABLE_NAMESPACE(vnet::eflow)
VNET_TEST_PRINTABLE_NAMESPACE(vnet::sw)

using namespace vnet;
using namespace vnet::eflow;

namespace {

/// A network where the addresses in `up` answer the probe; records every probe.
struct fake_network {
    std::set<std::uint32_t> up;
    std::vector<ipv4_address> probed;
    network_probe probe() {
        return {[this](ipv4_address a) {
            probed.push_back(a);
            return up.count(a.to_u32()) > 0;
        }};
    }
    void answer(ipv4_address a) { up.insert(a.to_u32()); }
    bool was_probed(ipv4_address a) const {
        for (auto p : probed)
            if (p == a) return true;
        return false;
    }
};

host_state client_host() {
    host_state h;
    h.sku = host_sku::client;
    h.adapters_up = {"Ethernet"};
    h.switches = {{"ExternalEflow", switch_type::external, std::nullopt}};
    return h;
}

host_state server_host() {
    host_state h = client_host();
    h.sku = host_sku::server;
    h.switches.push_back({"InternalEflow", switch_type::internal, ipv4_prefix(ipv4_address(172, 20, 1, 1), 24)});
    h.nats = {{"InternalEflow-NAT", ipv4_prefix(ipv4_address(172, 20, 1, 0), 24)}};
    h.gateway_next_hops = {ipv4_address(192, 168, 0, 1)};
    h.dns_servers = {ipv4_address(192, 168, 0, 1), ipv4_address(10, 1, 1, 1)};
    return h;
}

const ipv4_address lan_gw(192, 168, 0, 1);

/// The external static example of [NW] with one option replaced.
std::string ext(std::string_view addr, std::string_view gw, std::string_view len) {
    return fmt::format(
        "Deploy-Eflow -vSwitchName \"ExternalEflow\" -vswitchType \"External\" -ip4Address {} "
        "-ip4GatewayAddress {} -ip4PrefixLength {}",
        addr, gw, len);
}

deploy_result run(std::string_view line, const host_state& h, fake_network& net) {
    auto r = validate_deploy_command(line, h, net.probe());
    // Nothing is deployed when validation fails: a plan exists exactly when no error does.
    BOOST_TEST(r.plan.has_value() == r.report.ok());
    return r;
}

void expect_error(const deploy_result& r, check rule, std::string_view message) {
    BOOST_REQUIRE(r.report.error.has_value());
    BOOST_TEST(to_string(r.report.error->rule) == to_string(rule));
    BOOST_TEST(r.report.error->message == message);
    BOOST_TEST(!r.plan.has_value());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(eflow_deploy)

// [NW] "IP address allocations", Static IP: the documented example deploys.
BOOST_AUTO_TEST_CASE(documented_external_static_example_is_planned) {
    fake_network net;
    net.answer(lan_gw);
    auto r = run(
        "Deploy-Eflow -vSwitchName \"ExternalEflow\" -vswitchType \"External\" -ip4Address 192.168.0.100 "
        "-ip4GatewayAddress 192.168.0.1 -ip4PrefixLength 24",
        client_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(r.plan->type == switch_type::external);
    BOOST_TEST(!r.plan->create_switch);
    BOOST_REQUIRE(r.plan->static_ip);
    BOOST_TEST(fmt::format("{}", r.plan->static_ip->address) == "192.168.0.100/24");
    BOOST_TEST(r.plan->static_ip->gateway == lan_gw);
    BOOST_TEST(r.plan->mode() == ip_mode::static_ip);
    // The address was probed free and the gateway probed reachable ([AD]).
    BOOST_TEST(net.was_probed(ipv4_address(192, 168, 0, 100)));
    BOOST_TEST(net.was_probed(lan_gw));
}

// docs/eflow-facts.md [AD]: "Server SKU with no network configuration".
BOOST_AUTO_TEST_CASE(server_sku_without_network_is_refused) {
    fake_network net;
    auto r = run("Deploy-Eflow", server_host(), net);
    expect_error(r, check::server_needs_network, "Error: Server SKU, requires Network configuration");
}

// [NW] "Networking": without -vSwitchName/-vSwitchType the VM goes on the Default
// Switch (client SKU), with DHCP.
BOOST_AUTO_TEST_CASE(client_without_switch_uses_default_switch) {
    fake_network net;
    auto r = run("Deploy-Eflow", client_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(r.plan->type == switch_type::default_switch);
    BOOST_TEST(r.plan->switch_name == "Default Switch");
    BOOST_TEST(r.plan->mode() == ip_mode::dhcp);
    BOOST_TEST(r.plan->dns == dns_origin::default_switch);
    BOOST_TEST(net.probed.empty());
}

// docs/eflow-facts.md [AD]: "Internal switch on a client".
BOOST_AUTO_TEST_CASE(internal_switch_on_client_is_refused) {
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName InternalEflow -vSwitchType Internal", client_host(), net);
    expect_error(r, check::internal_on_client,
                 "Error: vSwitchType is incorrect. Supported types : External (Client and Server) and Internal (Server)");
}

// [AD] Test-EadUserConfigNetwork, `default` branch: on a client an unknown -vSwitchType
// silently means the Default Switch (a defect vnet does not copy); vnet refuses it on
// both SKUs with the reference's message.
BOOST_AUTO_TEST_CASE(unknown_switch_type_is_refused_on_both_skus) {
    for (const auto& h : {client_host(), server_host()}) {
        fake_network net;
        auto r = run("Deploy-Eflow -vSwitchName Lab -vSwitchType Private", h, net);
        expect_error(r, check::switch_type_incorrect, msg_switch_type_incorrect);
    }
}

// [AD] same branch: a switch name without a type.
BOOST_AUTO_TEST_CASE(switch_name_without_type_is_refused) {
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName ExternalEflow", client_host(), net);
    expect_error(r, check::switch_type_incorrect, msg_switch_type_incorrect);
}

// vnet rule (the reference has no message): a type without a switch name.
BOOST_AUTO_TEST_CASE(switch_type_without_name_is_refused) {
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchType External", client_host(), net);
    expect_error(r, check::switch_name_missing, "Error: vSwitchName required for External switch");
}

// vnet rule: the named switch exists with another type.
BOOST_AUTO_TEST_CASE(existing_switch_of_other_type_is_refused) {
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName InternalEflow -vSwitchType External", server_host(), net);
    expect_error(r, check::switch_type_mismatch, "Error: virtual switch InternalEflow is Internal, not External");
}

// docs/eflow-facts.md [AD]: "External switch without an adapter".
BOOST_AUTO_TEST_CASE(new_external_switch_needs_an_adapter) {
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName NewExt -vSwitchType External", client_host(), net);
    expect_error(r, check::adapter_required, "Error: adapterName required for External switch");
}

// docs/eflow-facts.md [AD]: "adapter not a physical adapter that is up".
BOOST_AUTO_TEST_CASE(new_external_switch_needs_an_adapter_that_is_up) {
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName NewExt -vSwitchType External -adapterName Wi-Fi", client_host(), net);
    expect_error(r, check::adapter_not_found, "Error: Wi-Fi not found. External switch creation will fail.");
    auto ok = run("Deploy-Eflow -vSwitchName NewExt -vSwitchType External -adapterName Ethernet", client_host(), net);
    BOOST_REQUIRE(ok.plan);
    BOOST_TEST(ok.plan->create_switch);
    BOOST_TEST(ok.plan->adapter.value_or("") == "Ethernet");
    BOOST_TEST(ok.plan->dns == dns_origin::dhcp_lease);
}

// [NW] "IP address allocations": Default switch - static IP not supported.
BOOST_AUTO_TEST_CASE(default_switch_with_static_ip_is_refused) {
    fake_network net;
    auto r = run("Deploy-Eflow -ip4Address 172.31.100.171 -ip4GatewayAddress 172.31.96.1 -ip4PrefixLength 20", client_host(),
                 net);
    expect_error(r, check::default_switch_static,
                 "Error: static IP is not supported on the Default Switch; use DHCP, or an External or Internal switch");
    BOOST_TEST(net.probed.empty());
}

// docs/eflow-facts.md [AD]: "Some but not all static parameters"; [NW]: "All three parameters
// must be input". Every partial combination.
BOOST_AUTO_TEST_CASE(partial_static_parameters_are_refused) {
    const char* a = " -ip4Address 192.168.0.100";
    const char* g = " -ip4GatewayAddress 192.168.0.1";
    const char* l = " -ip4PrefixLength 24";
    const std::vector<std::string> partial = {a, g, l, std::string(a) + g, std::string(a) + l, std::string(g) + l};
    for (const auto& p : partial) {
        fake_network net;
        auto r = run("Deploy-Eflow -vSwitchName ExternalEflow -vSwitchType External" + p, client_host(), net);
        expect_error(r, check::static_incomplete,
                     "Error: IP4Address, IP4GatewayAddress and IP4PrefixLength parameters are needed");
        BOOST_TEST(net.probed.empty());
    }
}

// docs/eflow-facts.md [AD]: "Unparsable address". The reference's `-as [IPAddress]` accepts
// "192.168.1" and IPv6 text (defect); vnet takes dotted-quad IPv4 only ([NW]: "EFLOW
// only supports static IP for IPv4 addresses").
BOOST_AUTO_TEST_CASE(invalid_address_text_is_refused_verbatim) {
    for (std::string_view bad : {"192.168.0.300", "192.168.1", "fe80::1", "abc", "192.168.0.010", "1"}) {
        fake_network net;
        net.answer(lan_gw);
        auto r = run(ext(bad, "192.168.0.1", "24"), client_host(), net);
        expect_error(r, check::address_invalid, fmt::format("Error: Invalid IP4Address {}", bad));
        BOOST_TEST(net.probed.empty());
    }
}

// vnet rules (the reference misses them): addresses that are not a host's unicast address
// are refused before any probe.
BOOST_AUTO_TEST_CASE(non_unicast_address_is_refused_without_probing) {
    const std::vector<std::pair<std::string_view, std::string_view>> cases = {
        {"0.0.0.0", "the unspecified address"},
        {"127.0.0.1", "a loopback address (127.0.0.0/8)"},
        {"224.0.0.5", "a multicast address (224.0.0.0/4)"},
        {"169.254.10.20", "a link-local address (169.254.0.0/16)"},
        {"255.255.255.255", "the limited broadcast address"},
        {"240.0.0.1", "a reserved address (240.0.0.0/4)"},
        {"0.1.2.3", "in 0.0.0.0/8 (this network)"},
    };
    for (auto [addr, why] : cases) {
        fake_network net;
        net.answer(lan_gw);
        auto r = run(ext(addr, "192.168.0.1", "24"), client_host(), net);
        expect_error(r, check::address_not_unicast, fmt::format("Error: ip4Address {} is {}, not a host address", addr, why));
        BOOST_TEST(net.probed.empty());
    }
}

// docs/eflow-facts.md [AD]: "Address answers a probe".
BOOST_AUTO_TEST_CASE(address_in_use_is_refused_verbatim) {
    fake_network net;
    net.answer(lan_gw);
    net.answer(ipv4_address(192, 168, 0, 50));
    auto r = run(ext("192.168.0.50", "192.168.0.1", "24"), client_host(), net);
    expect_error(r, check::address_in_use, "Error: ip4Address 192.168.0.50 in use");
    BOOST_TEST(!net.was_probed(lan_gw));  // the first error stops validation
}

// docs/eflow-facts.md [AD]: "Unparsable ... gateway".
BOOST_AUTO_TEST_CASE(invalid_gateway_text_is_refused_verbatim) {
    for (std::string_view bad : {"192.168.0", "gateway", "192.168.0.256"}) {
        fake_network net;
        auto r = run(ext("192.168.0.100", bad, "24"), client_host(), net);
        expect_error(r, check::gateway_invalid, fmt::format("Error: Invalid IP4GatewayAddress {}", bad));
    }
}

// vnet rule: a gateway that cannot be a router's unicast address.
BOOST_AUTO_TEST_CASE(non_unicast_gateway_is_refused) {
    fake_network net;
    auto r = run(ext("192.168.0.100", "224.0.0.1", "24"), client_host(), net);
    expect_error(r, check::gateway_not_unicast,
                 "Error: ip4GatewayAddress 224.0.0.1 is a multicast address (224.0.0.0/4), not a gateway address");
    BOOST_TEST(!net.was_probed(ipv4_address(224, 0, 0, 1)));
}

// docs/eflow-facts.md known defect / iotedge-eflow issue #221: the reference accepts an address
// equal to the gateway. vnet refuses it, before probing the gateway.
BOOST_AUTO_TEST_CASE(address_equal_to_gateway_is_refused) {
    fake_network net;
    auto r = run(ext("192.168.0.100", "192.168.0.100", "24"), client_host(), net);
    expect_error(r, check::gateway_equals_address,
                 "Error: ip4GatewayAddress 192.168.0.100 is the same as ip4Address; the gateway must be another device");
    BOOST_TEST(net.probed.size() == 1u);  // only the address-in-use probe ran
}

// docs/eflow-facts.md [AD]: "External switch, gateway does not answer".
BOOST_AUTO_TEST_CASE(unreachable_gateway_on_external_switch_is_refused) {
    fake_network net;
    auto r = run(ext("192.168.0.100", "192.168.0.1", "24"), client_host(), net);
    expect_error(r, check::gateway_unreachable,
                 "Error: ip4GatewayAddress 192.168.0.1 is not reachable. Required for external switch");
}

// docs/eflow-facts.md [AD]: "(Internal switch: a warning only)". On an existing internal switch a
// silent gateway is a warning and the plan is produced.
BOOST_AUTO_TEST_CASE(unreachable_gateway_on_internal_switch_is_a_warning) {
    fake_network net;
    auto r = run(
        "Deploy-Eflow -vSwitchName InternalEflow -vSwitchType Internal -ip4Address 172.20.1.10 "
        "-ip4GatewayAddress 172.20.1.254 -ip4PrefixLength 24",
        server_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(r.report.has_warning(check::gateway_unreachable));
    BOOST_TEST(r.plan->warnings.size() == r.report.warnings.size());
    BOOST_TEST(r.report.warnings.front().message.starts_with("Warning: ip4GatewayAddress 172.20.1.254 is not reachable"));
}

// [AD] Test-EadUserConfigNetwork: on an Internal switch a gateway that answers gives
// "Warning: ip4GatewayAddress <x> may be in use already"; vnet says it only when the switch
// (and so the host vNIC that takes the gateway) does not exist yet.
BOOST_AUTO_TEST_CASE(gateway_answering_before_new_internal_switch_is_a_warning) {
    fake_network net;
    net.answer(ipv4_address(10, 9, 0, 1));
    auto r = run(
        "Deploy-Eflow -vSwitchName NewInt -vSwitchType Internal -ip4Address 10.9.0.2 "
        "-ip4GatewayAddress 10.9.0.1 -ip4PrefixLength 24",
        server_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_REQUIRE(!r.report.warnings.empty());
    BOOST_TEST(r.report.warnings.front().message == "Warning: ip4GatewayAddress 10.9.0.1 may be in use already");
}

// docs/eflow-facts.md known defect: "the prefix-length check can never fail". vnet refuses text
// that is not an integer 1..30 (deploy.hpp explains the range).
BOOST_AUTO_TEST_CASE(prefix_length_out_of_range_is_refused) {
    for (std::string_view bad : {"0", "31", "32", "33", "-1", "24abc", "abc", "024", "255.255.255.0", "100"}) {
        fake_network net;
        net.answer(lan_gw);
        auto r = run(ext("192.168.0.100", "192.168.0.1", bad), client_host(), net);
        expect_error(r, check::prefix_invalid,
                     fmt::format("Error: Invalid IP4PrefixLength {}. Should be an integer between 1 and 30", bad));
    }
    for (std::string_view good : {"1", "8", "24", "30"}) {
        fake_network net;
        net.answer(lan_gw);
        auto r = run(ext("192.168.0.2", "192.168.0.1", good), client_host(), net);
        BOOST_TEST(r.report.ok(), good);
    }
}

// docs/eflow-facts.md known defect: "the subnet check always uses a /24 mask whatever the prefix
// length". vnet uses the real prefix: a /16 whose gateway is outside the /24 is accepted,
// a /25 whose gateway is in the other half is refused with the reference's message.
BOOST_AUTO_TEST_CASE(same_subnet_uses_the_real_prefix_length) {
    {
        fake_network net;
        net.answer(lan_gw);
        auto r = run(ext("192.168.5.10", "192.168.0.1", "16"), client_host(), net);
        BOOST_TEST(r.report.ok());  // the reference's /24 check refuses this
    }
    {
        fake_network net;
        net.answer(lan_gw);
        auto r = run(ext("192.168.0.130", "192.168.0.1", "25"), client_host(), net);
        expect_error(r, check::not_same_subnet, "Error: ip4GatewayAddress and ip4Address are not in the same subnet");
    }
    {
        fake_network net;
        net.answer(ipv4_address(10, 0, 1, 1));
        auto r = run(ext("10.0.0.10", "10.0.1.1", "24"), client_host(), net);
        expect_error(r, check::not_same_subnet, msg_not_same_subnet);
    }
}

// vnet rules: the network and broadcast addresses of the prefix are not host addresses.
BOOST_AUTO_TEST_CASE(network_and_broadcast_addresses_are_refused) {
    {
        fake_network net;
        net.answer(lan_gw);
        auto r = run(ext("192.168.0.255", "192.168.0.1", "24"), client_host(), net);
        expect_error(r, check::address_network_or_broadcast,
                     "Error: ip4Address 192.168.0.255 is the broadcast address of 192.168.0.0/24");
    }
    {
        fake_network net;
        net.answer(lan_gw);
        auto r = run(ext("192.168.0.0", "192.168.0.1", "24"), client_host(), net);
        expect_error(r, check::address_network_or_broadcast,
                     "Error: ip4Address 192.168.0.0 is the network address of 192.168.0.0/24");
    }
    {
        fake_network net;
        net.answer(ipv4_address(192, 168, 0, 3));
        auto r = run(ext("192.168.0.2", "192.168.0.3", "30"), client_host(), net);
        expect_error(r, check::gateway_network_or_broadcast,
                     "Error: ip4GatewayAddress 192.168.0.3 is the broadcast address of 192.168.0.0/30");
    }
    {
        // 192.168.0.255 is a host address in a /23.
        fake_network net;
        net.answer(lan_gw);
        BOOST_TEST(run(ext("192.168.0.255", "192.168.0.1", "23"), client_host(), net).report.ok());
    }
}

// Check order (deploy.hpp): the reference's order where it has one — the address before
// the gateway, "in use" before the gateway text.
BOOST_AUTO_TEST_CASE(checks_run_in_the_reference_order) {
    fake_network net;
    net.answer(ipv4_address(192, 168, 0, 50));
    auto r = run(ext("192.168.0.50", "nope", "99"), client_host(), net);
    expect_error(r, check::address_in_use, "Error: ip4Address 192.168.0.50 in use");
    auto r2 = run(ext("x", "nope", "99"), client_host(), net);
    expect_error(r2, check::address_invalid, "Error: Invalid IP4Address x");
    auto r3 = run(ext("192.168.0.100", "nope", "99"), client_host(), net);
    expect_error(r3, check::gateway_invalid, "Error: Invalid IP4GatewayAddress nope");
}

// The result keeps every warning found before the first error.
BOOST_AUTO_TEST_CASE(warnings_are_kept_with_the_first_error) {
    fake_network net;
    auto r = run(
        "Deploy-Eflow -vSwitchName InternalEflow -vSwitchType Internal -ip4Address 172.20.1.10 "
        "-ip4GatewayAddress 172.20.1.254 -ip4PrefixLength 40",
        server_host(), net);
    BOOST_TEST(r.report.has_warning(check::gateway_unreachable));
    expect_error(r, check::prefix_invalid, "Error: Invalid IP4PrefixLength 40. Should be an integer between 1 and 30");
}

// docs/eflow-facts.md [AD]: "Internal switch with no NAT".
BOOST_AUTO_TEST_CASE(existing_internal_switch_without_nat_is_refused) {
    host_state h = server_host();
    h.nats.clear();
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName InternalEflow -vSwitchType Internal", h, net);
    expect_error(r, check::internal_without_nat, "Error: Internal switch found. NAT not found. Delete switch and recreate.");
}

// [AD] Test-EadEflowVmSwitch: an existing internal switch with its NAT and no IP given:
// the VM takes <a.b.c>.2 with the host vNIC as gateway.
BOOST_AUTO_TEST_CASE(existing_internal_switch_gives_the_vm_the_next_address) {
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName InternalEflow -vSwitchType Internal", server_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_REQUIRE(r.plan->static_ip);
    BOOST_TEST(fmt::format("{}", r.plan->static_ip->address) == "172.20.1.2/24");
    BOOST_TEST(r.plan->static_ip->gateway == ipv4_address(172, 20, 1, 1));
    BOOST_TEST(!r.plan->nat);  // it exists already
}

// [NW] "IP address allocations": Internal - DHCP yes. An existing internal switch whose
// network has a DHCP server: the VM uses DHCP.
BOOST_AUTO_TEST_CASE(existing_internal_switch_with_dhcp_server_uses_dhcp) {
    host_state h = server_host();
    h.switches[1].dhcp_server = true;
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName InternalEflow -vSwitchType Internal", h, net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(r.plan->mode() == ip_mode::dhcp);
    BOOST_TEST(r.plan->dns == dns_origin::host_next_hops);  // [AD]: host servers even with DHCP
}

// docs/eflow-facts.md [AD]: "Internal switch with no IP given: host vNIC a.b.c.1, VM a.b.c.2/24,
// NAT named <switch>-NAT on a.b.c.0/24".
BOOST_AUTO_TEST_CASE(new_internal_switch_without_ip_gets_the_automatic_plan) {
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName NewInt -vSwitchType Internal", server_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(r.plan->create_switch);
    BOOST_REQUIRE(r.plan->host_vnic);
    BOOST_TEST(fmt::format("{}", *r.plan->host_vnic) == "172.20.0.1/24");
    BOOST_TEST(fmt::format("{}", r.plan->static_ip->address) == "172.20.0.2/24");
    BOOST_REQUIRE(r.plan->nat);
    BOOST_TEST(r.plan->nat->name == "NewInt-NAT");
    BOOST_TEST(fmt::format("{}", r.plan->nat->internal_prefix) == "172.20.0.0/24");
}

// [AD] New-EadEflowVmSwitch builds the NAT prefix as "<first three octets>.0/<len>" (a
// defect for lengths other than 24). vnet uses the real network of the prefix.
BOOST_AUTO_TEST_CASE(new_internal_switch_nat_uses_the_real_network) {
    fake_network net;
    auto r = run(
        "Deploy-Eflow -vSwitchName NewInt -vSwitchType Internal -ip4Address 10.0.5.10 "
        "-ip4GatewayAddress 10.0.5.1 -ip4PrefixLength 16",
        server_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_REQUIRE(r.plan->nat);
    BOOST_TEST(fmt::format("{}", r.plan->nat->internal_prefix) == "10.0.0.0/16");
    BOOST_TEST(fmt::format("{}", *r.plan->host_vnic) == "10.0.5.1/16");
}

// docs/eflow-facts.md [AD]: "Internal switch with no DNS given: the host's gateway next hops plus
// the host's DNS servers" (duplicates removed, Select-Object -uniq).
BOOST_AUTO_TEST_CASE(internal_switch_dns_defaults_to_host_next_hops_and_servers) {
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName InternalEflow -vSwitchType Internal", server_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(r.plan->dns == dns_origin::host_next_hops);
    BOOST_REQUIRE(r.plan->dns_servers.size() == 2u);
    BOOST_TEST(r.plan->dns_servers[0] == ipv4_address(192, 168, 0, 1));
    BOOST_TEST(r.plan->dns_servers[1] == ipv4_address(10, 1, 1, 1));
}

// [AD] Invoke-EadEflowDeploy: dnsServers given are set as they are.
BOOST_AUTO_TEST_CASE(given_dns_servers_are_used) {
    fake_network net;
    net.answer(lan_gw);
    auto r = run(ext("192.168.0.100", "192.168.0.1", "24") + " -dnsServers 192.168.0.1,1.1.1.1", client_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(r.plan->dns == dns_origin::user);
    BOOST_TEST(r.plan->dns_servers.size() == 2u);
    BOOST_TEST(!r.report.has_warning(check::static_without_dns));
}

// vnet rule: DNS server text is checked (the reference does not check dnsServers).
BOOST_AUTO_TEST_CASE(invalid_dns_server_is_refused) {
    fake_network net;
    net.answer(lan_gw);
    auto r = run(ext("192.168.0.100", "192.168.0.1", "24") + " -dnsServers @(\"8.8.8.8\",\"dns.local\")", client_host(), net);
    expect_error(r, check::dns_invalid, "Error: Invalid DNS server dns.local");
    auto r2 = run(ext("192.168.0.100", "192.168.0.1", "24") + " -dnsServers 224.0.0.251", client_host(), net);
    expect_error(r2, check::dns_invalid, "Error: DNS server 224.0.0.251 is a multicast address (224.0.0.0/4)");
}

// docs/eflow-facts.md "Problems users report": static IP without DNS -> "Temporary failure in
// name resolution" (#221 #219 #246). vnet warns at validation.
BOOST_AUTO_TEST_CASE(static_ip_without_dns_on_external_switch_warns) {
    fake_network net;
    net.answer(lan_gw);
    auto r = run(ext("192.168.0.100", "192.168.0.1", "24"), client_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(r.plan->dns == dns_origin::none);
    BOOST_TEST(r.report.has_warning(check::static_without_dns));
}

// Command line as typed: PowerShell names are case-insensitive, -name:value works, quotes
// are removed, other Deploy-Eflow parameters are reported as not modelled.
BOOST_AUTO_TEST_CASE(command_line_forms) {
    fake_network net;
    net.answer(lan_gw);
    auto r = run(
        "deploy-eflow -VSWITCHNAME:ExternalEflow -vswitchtype 'external' -IP4ADDRESS \"192.168.0.100\" "
        "-ip4gatewayaddress 192.168.0.1 -ip4prefixlength:24 -cpuCore 2",
        client_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(r.report.has_warning(check::unmodelled_parameter));
    BOOST_TEST(r.report.warnings.back().message == "Warning: parameter -cpuCore is not modelled by vnet and was ignored");
}

BOOST_AUTO_TEST_CASE(command_line_errors) {
    fake_network net;
    const std::vector<std::pair<std::string_view, std::string_view>> cases = {
        {"", "Error: empty command"},
        {"Deploy-Eflow -ip4Address", "Error: missing a value for parameter -ip4Address"},
        {"Deploy-Eflow -ip4Address -ip4PrefixLength 24", "Error: missing a value for parameter -ip4Address"},
        {"Deploy-Eflow -vSwitchName \"Ext", "Error: unterminated quote"},
        {"Deploy-Eflow 192.168.0.1", "Error: positional value 192.168.0.1 is not accepted; name its parameter"},
        {"Deploy-Eflow -vSwitchName a -vswitchname b", "Error: parameter -vswitchname is given more than once"},
        {"Deploy-Eflow -dnsServers @(\"1.1.1.1\"", "Error: unbalanced parenthesis"},
        {"Remove-EflowVmEndpoint -vendpointName x", "Error: expected Deploy-Eflow, got Remove-EflowVmEndpoint"},
    };
    for (auto [line, message] : cases) {
        auto r = run(line, client_host(), net);
        expect_error(r, check::command_syntax, message);
    }
    // A negative number is a value, not a parameter name.
    auto neg = run(ext("192.168.0.100", "192.168.0.1", "-1"), client_host(), net);
    BOOST_REQUIRE(neg.report.error);
    BOOST_TEST(to_string(neg.report.error->rule) == to_string(check::gateway_unreachable));
}

// Empty values count as not given ([AD] Read-EadUserConfig removes empty network
// properties): Deploy-Eflow -ip4Address "" on a client is the Default Switch with DHCP.
BOOST_AUTO_TEST_CASE(empty_values_count_as_absent) {
    fake_network net;
    auto r = run("Deploy-Eflow -ip4Address \"\"", client_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(r.plan->type == switch_type::default_switch);
}

// Without a probe (validation of text only) the probe checks are skipped.
BOOST_AUTO_TEST_CASE(no_probe_skips_probe_checks) {
    auto r = validate_deploy_command(ext("192.168.0.100", "192.168.0.1", "24"), client_host(), network_probe{});
    BOOST_TEST(r.report.ok());
}

// Named counters: refusals and warnings per rule.
BOOST_AUTO_TEST_CASE(counters_count_refusals_and_warnings) {
    deploy_counters c;
    fake_network net;
    c.count(run("Deploy-Eflow", server_host(), net).report);
    c.count(run("Deploy-Eflow", server_host(), net).report);
    net.answer(lan_gw);
    c.count(run(ext("192.168.0.100", "192.168.0.1", "24"), client_host(), net).report);
    BOOST_TEST(c.refusals(check::server_needs_network) == 2u);
    BOOST_TEST(c.warnings(check::static_without_dns) == 1u);
    BOOST_TEST(c.planned == 1u);
    BOOST_TEST(c.refusals(check::address_in_use) == 0u);
}

BOOST_AUTO_TEST_CASE(plan_and_finding_format) {
    fake_network net;
    auto r = run("Deploy-Eflow -vSwitchName NewInt -vSwitchType Internal", server_host(), net);
    BOOST_REQUIRE(r.plan);
    BOOST_TEST(fmt::format("{}", *r.plan) ==
               "Internal switch \"NewInt\" (to create) on server SKU, static 172.20.0.2/24 via 172.20.0.1, NAT NewInt-NAT on "
               "172.20.0.0/24, DNS from host gateways and DNS servers 192.168.0.1 10.1.1.1");
    auto e = run("Deploy-Eflow", server_host(), net);
    BOOST_TEST(fmt::format("{}", *e.report.error) == "[server_needs_network] Error: Server SKU, requires Network configuration");
}

BOOST_AUTO_TEST_SUITE_END()
