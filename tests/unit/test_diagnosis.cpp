// The troubleshooting order (include/vnet/lab/diagnosis.hpp): for each fault of
// conformance table 9, the component the guide names and its remedy, verbatim.
// Source: [TS] "Isolate the issue", "Check IP addresses",
// "Check DNS", "Check your firewall and port configuration rules"; [NW]
// "Multiple Network Interface Cards (NICs)" and "DNS" (docs/sources.md).
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <vnet/lab/diagnosis.hpp>

using namespace vnet;
using namespace vnet::lab;

namespace {

fact vm_fact(bool v) { return {v, fact_source::vm, "observed"}; }

observations healthy(eflow::switch_type sw = eflow::switch_type::external, eflow::ip_mode m = eflow::ip_mode::static_ip) {
    observations o;
    o.sw = sw;
    o.mode = m;
    o.has_address = vm_fact(true);
    o.address_free = fact{true, fact_source::model, ""};
    o.gateway_reachable = vm_fact(true);
    o.internet_reachable = vm_fact(true);
    o.dns_configured = vm_fact(true);
    o.name_resolves = vm_fact(true);
    o.dns_server = ipv4_address(192, 168, 0, 1);
    o.dns_server_reachable = vm_fact(true);
    for (auto p : cloud_ports) o.outbound.emplace_back(p, vm_fact(true));
    return o;
}

// The guide's texts, copied from [TS] and [NW] (not from the header), so a changed constant fails.
const std::string ext_dhcp =
    "Ensure that there's a DHCP server on the external network. If no DHCP server is available, then use Static IP "
    "configurations. Also, make sure that DHCP server has no firewall policy regarding MAC addresses, and if it has, "
    "you can get the EFLOW MAC address by using the `Get-EflowVmAddr` cmdlet.";
const std::string ext_static =
    "Ensure that the IP configuration was correctly set up. All three parameters `ip4Address` `ip4GateWayAddress` and "
    "`ip4PrefixLength` should be used, and the IP address assigned to the VM should be valid and free on the external "
    "network. You can check EFLOW VM interface configurations by checking the files under `/etc/systemd/network/`.";

const std::string int_static =
    "Ensure that the IP configuration was correctly set up. All three parameters `ip4Address` `ip4GateWayAddress` and "
    "`ip4PrefixLength` should be used, and the IP address assigned to the VM should be valid and free on the internal "
    "network. Also, to get connected to internet, you will need to set up a NAT table, so ensure to follow NAT "
    "configuration steps on [Azure IoT Edge for Linux on Windows virtual switch "
    "creation](./how-to-create-virtual-switch.md).";
const std::string int_dhcp =
    "Ensure that there's a DHCP server on the internal network. To set up a DHCP server and a NAT table on Windows "
    "Server, follow the steps on [Azure IoT Edge for Linux on Windows virtual switch "
    "creation](./how-to-create-virtual-switch.md). If no DHCP server is available, then use Static IP configurations.";

}  // namespace

BOOST_AUTO_TEST_SUITE(diagnosis_faults)

BOOST_AUTO_TEST_CASE(internal_switch_without_nat_is_ip_with_the_internal_static_remedy) {
    // [TS] "Check IP addresses", Internal | Static IP: the host's vNIC answers, the internet
    // does not ("to get connected to internet, you will need to set up a NAT table").
    auto o = healthy(eflow::switch_type::internal, eflow::ip_mode::static_ip);
    o.internet_reachable = vm_fact(false);
    o.name_resolves = vm_fact(false);  // DNS fails too, but the IP step comes first
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::ip_configuration));
    BOOST_TEST(d.remedy == int_static);
    BOOST_TEST(d.source == "[TS] \"Check IP addresses\", row Internal | Static IP");
    // an external switch whose internet is down is not an IP configuration fault
    auto e = healthy(eflow::switch_type::external, eflow::ip_mode::static_ip);
    e.internet_reachable = vm_fact(false);
    BOOST_TEST((diagnose(e).component == net_component::none));
}

BOOST_AUTO_TEST_CASE(internal_switch_without_dhcp_server_is_ip_with_the_internal_dhcp_remedy) {
    // [TS] "Check IP addresses", Internal | DHCP.
    auto o = healthy(eflow::switch_type::internal, eflow::ip_mode::dhcp);
    o.has_address = vm_fact(false);
    o.gateway_reachable = vm_fact(false);
    o.internet_reachable = vm_fact(false);
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::ip_configuration));
    BOOST_TEST(d.remedy == int_dhcp);
    BOOST_TEST(d.finding.find("eth0 has no IPv4 address") == 0);
}

BOOST_AUTO_TEST_CASE(no_dhcp_server_is_ip_with_the_external_dhcp_remedy) {
    // [TS] "Check IP addresses", External | DHCP.
    auto o = healthy(eflow::switch_type::external, eflow::ip_mode::dhcp);
    o.has_address = vm_fact(false);
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::ip_configuration));
    BOOST_TEST(d.remedy == ext_dhcp);
    BOOST_TEST((d.decided_by == fact_source::vm));
    BOOST_TEST(std::string(to_string(d.component)) == "IP addresses configuration");
}

BOOST_AUTO_TEST_CASE(an_address_other_than_get_eflowvmaddrs_is_ip_with_the_tables_remedy) {
    // [TS] "Check IP addresses": inet "blank or different from the one provided by using the
    // Get-EflowVmAddr cmdlet"; the address check comes before the gateway.
    auto o = healthy(eflow::switch_type::external, eflow::ip_mode::dhcp);
    o.address_matches = fact{false, fact_source::model, "given"};
    o.gateway_reachable = vm_fact(false);
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::ip_configuration));
    BOOST_TEST(d.remedy == ext_dhcp);
    BOOST_TEST(d.finding == "eth0's IPv4 address differs from the one Get-EflowVmAddr gives (given)");
    o.address_matches = fact{true, fact_source::model, "given"};
    BOOST_TEST(diagnose(o).finding.find("default gateway") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(wrong_gateway_is_ip_with_the_external_static_remedy) {
    // [TS] "Check IP addresses", External | Static IP.
    auto o = healthy();
    o.gateway_reachable = vm_fact(false);
    o.internet_reachable = vm_fact(false);
    o.name_resolves = vm_fact(false);
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::ip_configuration));
    BOOST_TEST(d.remedy == ext_static);
}

BOOST_AUTO_TEST_CASE(address_conflict_is_ip_decided_by_the_model) {
    // [TS]: "the IP address assigned to the VM should be valid and free on the external network".
    auto o = healthy();
    o.address_free = fact{false, fact_source::model, "192.168.0.100 is also held by peer plc"};
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::ip_configuration));
    BOOST_TEST(d.remedy == ext_static);
    BOOST_TEST((d.decided_by == fact_source::model));
    BOOST_TEST(d.finding.find("peer plc") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(dns_server_down_is_dns_connection_issue) {
    // [TS] "Check DNS": "If there's no response, then you probably have a connection issue to the server."
    auto o = healthy();
    o.name_resolves = vm_fact(false);
    o.dns_server = ipv4_address(192, 168, 0, 53);
    o.dns_server_reachable = vm_fact(false);
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::dns));
    BOOST_TEST(d.remedy == "If there's no response, then you probably have a connection issue to the server.");
}

BOOST_AUTO_TEST_CASE(public_dns_blocked_is_dns_with_set_eflowvmdnsservers) {
    // [TS] "Check DNS", last paragraph (Google DNS 8.8.8.8 and 8.8.4.4).
    auto o = healthy();
    o.name_resolves = vm_fact(false);
    o.dns_server = ipv4_address(8, 8, 8, 8);
    o.dns_server_reachable = vm_fact(false);
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::dns));
    BOOST_TEST(d.remedy ==
               "Finally, some networking environment will block public DNS servers, like Google DNS (8.8.8.8 and "
               "8.8.4.4). If this is the case, talk with your networking environment team to define a valid DNS server, "
               "and then set it up using the `Set-EflowVmDnsServers` cmdlet.");
}

BOOST_AUTO_TEST_CASE(dns_server_answering_ping_points_to_its_configuration) {
    // [TS] "Check DNS": reachable -> other DNS server configurations, allow lists.
    auto o = healthy();
    o.name_resolves = vm_fact(false);
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::dns));
    BOOST_TEST(d.remedy.find("If the server is reachable, you should get a response and your issue may be related to "
                             "other DNS server configurations.") == 0u);
    BOOST_TEST(d.remedy.find("whitelist the EFLOW IP address") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_dns_server_configured) {
    // [NW] "DNS": no valid server -> the DNS service won't work; Set-EflowVmDnsServers.
    auto o = healthy();
    o.dns_configured = fact{false, fact_source::model, ""};
    o.name_resolves = vm_fact(false);
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::dns));
    BOOST_TEST(d.remedy.find("If there's no IP address, or the IP address isn't a valid DNS server IP address, then "
                             "the DNS service won't work.") == 0u);
}

BOOST_AUTO_TEST_CASE(outbound_port_blocked_is_firewall_with_the_ports_guidance) {
    // [TS] firewall table: MQTT 8883, AMQP 5671, HTTPS 443.
    auto o = healthy();
    o.outbound[0].second = vm_fact(false);  // 8883
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::firewall));
    BOOST_TEST(d.remedy == "Configure Outgoing (Outbound) to be Open when using MQTT as the communication protocol.");
    auto o2 = healthy();
    o2.outbound[1].second = vm_fact(false);  // 5671
    BOOST_TEST(diagnose(o2).remedy.find("AMQP is the desired communication protocol") != std::string::npos);
    auto o3 = healthy();
    o3.outbound[2].second = vm_fact(false);  // 443
    BOOST_TEST(diagnose(o3).remedy.find("Configure Outgoing (Outbound) to be Open on 443 for IoT Edge provisioning.") == 0u);
}

BOOST_AUTO_TEST_CASE(offline_nic_preferred_is_ip_routing) {
    // [NW] "Multiple Network Interface Cards (NICs)" warning.
    auto o = healthy();
    o.default_route_primary = vm_fact(false);
    o.internet_reachable = vm_fact(false);
    o.name_resolves = vm_fact(false);
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::ip_configuration));
    BOOST_TEST(d.remedy.find("you may want to prioritize the online NIC over the offline NIC") != std::string::npos);
    // The same route with the internet still reachable is not a fault.
    auto o2 = healthy();
    o2.default_route_primary = vm_fact(false);
    BOOST_TEST((diagnose(o2).component == net_component::none));
}

BOOST_AUTO_TEST_CASE(the_guides_order_ip_then_dns_then_firewall) {
    // [TS] "Isolate the issue": IP addresses configuration, DNS, firewall.
    auto o = healthy();
    o.outbound[0].second = vm_fact(false);
    o.name_resolves = vm_fact(false);
    BOOST_TEST((diagnose(o).component == net_component::dns));
    o.gateway_reachable = vm_fact(false);
    BOOST_TEST((diagnose(o).component == net_component::ip_configuration));
    BOOST_TEST((diagnose(healthy()).component == net_component::none));
}

BOOST_AUTO_TEST_CASE(ip_remedy_per_switch_and_allocation) {
    // [TS] "Check IP addresses": five rows.
    using eflow::ip_mode;
    using eflow::switch_type;
    BOOST_TEST(std::string(ip_remedy(switch_type::default_switch, ip_mode::dhcp)).find("malfunction of the Default Switch") !=
               std::string::npos);
    BOOST_TEST(std::string(ip_remedy(switch_type::internal, ip_mode::static_ip)).find("set up a NAT table") != std::string::npos);
    BOOST_TEST(std::string(ip_remedy(switch_type::internal, ip_mode::dhcp)).find("DHCP server on the internal network") !=
               std::string::npos);
    BOOST_TEST(std::string(ip_remedy(switch_type::external, ip_mode::static_ip)) == ext_static);
    BOOST_TEST(std::string(ip_remedy(switch_type::external, ip_mode::dhcp)) == ext_dhcp);
}

BOOST_AUTO_TEST_CASE(firewall_rules_of_the_guide) {
    // [TS] table: 1883, 5672, 80 not supported; inbound blocked.
    BOOST_TEST(find_port_rule(1883)->outbound == "not supported");
    BOOST_TEST(find_port_rule(5672)->outbound == "not supported");
    BOOST_TEST(find_port_rule(80)->outbound == "not supported");
    BOOST_TEST(find_port_rule(5671)->outbound == "open");
    BOOST_TEST(find_port_rule(8883)->inbound == "blocked");
    BOOST_TEST(find_port_rule(22) == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(diagnosis_plan)

const char* lab_text = R"([lab]
name = "diag"
[host]
network = "lan"
address = "192.168.0.10/24"
[[network]]
name = "lan"
subnet = "192.168.0.0/24"
gateway = "192.168.0.1"
dns = { "iothub.example" = "198.51.100.10" }
  [[network.peer]]
  name = "plc"
  address = "192.168.0.100/24"
[[switch]]
name = "ExternalEflow"
kind = "external"
network = "lan"
[[vm]]
name = "eflow"
  [[vm.nic]]
  switch = "ExternalEflow"
  ip = "static"
  address = "192.168.0.100/24"
  gateway = "192.168.0.1"
  dns = ["192.168.0.53"]
)";

BOOST_AUTO_TEST_CASE(plan_lists_the_guides_checks_and_model_facts) {
    auto lf = parse_lab(lab_text, "diag.toml");
    BOOST_REQUIRE_MESSAGE(lf.has_value(), (lf ? std::string() : lf.error().to_string()));
    auto p = plan_diagnosis(*lf, "eflow");
    BOOST_REQUIRE(p);
    BOOST_TEST((p->sw == eflow::switch_type::external));
    BOOST_TEST((p->mode == eflow::ip_mode::static_ip));
    // Static NIC: no lease check; gateway, internet, name, DNS server ping, three ports,
    // then the ARP probe of the address from the host (on the VM's LAN).
    BOOST_REQUIRE(p->checks.size() == 8u);
    BOOST_TEST((p->checks[7].role == diag_role::address_free));
    BOOST_TEST((p->checks[7].check.kind == check_kind::arp));
    BOOST_TEST(p->checks[7].check.from == "host");
    BOOST_TEST(p->checks[7].check.to == "192.168.0.100");
    BOOST_TEST(p->checks[7].check.expect == "ok");  // the model knows plc holds it
    BOOST_TEST((p->checks[0].role == diag_role::gateway_reachable));
    BOOST_TEST(p->checks[0].check.to == "192.168.0.1");
    BOOST_TEST((p->checks[2].role == diag_role::name_resolves));
    BOOST_TEST(p->checks[2].check.name == "iothub.example");
    BOOST_TEST(p->checks[3].check.to == "192.168.0.53");
    BOOST_TEST(*p->checks[4].check.port == 8883);
    // The peer plc holds the VM's address: the model says so.
    BOOST_REQUIRE(p->address_free);
    BOOST_TEST(!p->address_free->value);
    BOOST_TEST((p->address_free->source == fact_source::model));
    BOOST_TEST(!plan_diagnosis(*lf, "nobody"));
}

BOOST_AUTO_TEST_CASE(observe_maps_outcomes_to_facts) {
    auto lf = parse_lab(lab_text, "diag.toml");
    BOOST_REQUIRE(lf);
    auto p = plan_diagnosis(*lf, "eflow");
    BOOST_REQUIRE(p);
    p->address_free->value = true;  // as if the conflict were gone
    std::vector<observed_check> oc(p->checks.size(), observed_check{true, true, "ok"});
    oc[2] = {true, false, "no address"};                                   // name does not resolve
    oc[3] = {true, false, "0/3 replies"};                                  // DNS server silent
    oc[7] = {true, false, "no answer for 192.168.0.100 to 3 ARP probes"};  // the address is free
    auto o = observe(*p, oc);
    BOOST_REQUIRE(o.address_free);
    BOOST_TEST(o.address_free->value);
    BOOST_TEST((o.address_free->source == fact_source::vm));
    BOOST_REQUIRE(o.name_resolves);
    BOOST_TEST(!o.name_resolves->value);
    BOOST_TEST(o.outbound.size() == 3u);
    auto d = diagnose(o);
    BOOST_TEST((d.component == net_component::dns));
    BOOST_TEST(d.remedy == std::string(dns_unreachable_remedy));
    BOOST_TEST((d.decided_by == fact_source::vm));
    // A device answers ARP for the address: a conflict observed on the lab, the guide's IP step.
    oc[7] = {true, true, "192.168.0.100 answered from 02:00:00:00:00:01"};
    auto conflict = observe(*p, oc);
    BOOST_TEST(!conflict.address_free->value);
    BOOST_TEST((diagnose(conflict).component == net_component::ip_configuration));
    // A check that did not run gives no fact.
    std::vector<observed_check> none(p->checks.size());
    auto o2 = observe(*p, none);
    BOOST_TEST(!o2.gateway_reachable.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
