// The lab file model: the docs/design.md keys parse, and every bad input names file, line and key.
#include <boost/test/unit_test.hpp>

#include <string>

#include <vnet/lab/lab_file.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::lab;

namespace {
lab_error parse_error(const std::string& text) {
    auto r = parse_lab(text, "t.toml");
    BOOST_REQUIRE_MESSAGE(!r.has_value(), "expected an error for:\n" + text);
    return r.error();
}
/// The lab file is refused at `key` with exactly `message`.
void expect_error(const std::string& text, const std::string& key, const std::string& message) {
    auto e = parse_error(text);
    BOOST_TEST(e.key == key);
    BOOST_TEST(e.message == message);
}
const std::string head = "[lab]\nname = \"t\"\n";
}  // namespace

BOOST_AUTO_TEST_SUITE(lab_file_model)

BOOST_AUTO_TEST_CASE(example_lab_parses) {
    auto r = load_lab(test::source_dir() + "/fixtures/labs/external-static.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST(r->name == "external-static");
    BOOST_TEST((r->sku == host_sku::server));
    BOOST_REQUIRE(r->networks.size() == 1u);
    auto& lan = r->networks[0];
    BOOST_TEST(fmt::format("{}", lan.subnet) == "192.168.0.0/24");
    BOOST_REQUIRE(lan.dhcp.has_value());
    BOOST_TEST(fmt::format("{}", lan.dhcp->range_last) == "192.168.0.199");
    BOOST_TEST(fmt::format("{}", lan.dns.at("iothub.example")) == "198.51.100.10");
    BOOST_REQUIRE(lan.peers.size() == 1u);
    BOOST_TEST(lan.peers[0].name == "plc");
    BOOST_REQUIRE(r->switches.size() == 1u);
    BOOST_TEST((r->switches[0].kind == switch_kind::external));
    BOOST_REQUIRE(r->vms.size() == 1u);
    auto& nic = r->vms[0].nics.at(0);
    BOOST_TEST((nic.ip == ip_mode::static_));
    BOOST_TEST(fmt::format("{}", *nic.address) == "192.168.0.20/24");
    BOOST_TEST(fmt::format("{}", *nic.mac) == "00:15:5d:00:00:10");
    BOOST_TEST((nic.model == nic_model::virtio));
    BOOST_REQUIRE(r->checks.size() == 5u);
    BOOST_TEST(*r->checks[3].port == 8883);
    BOOST_TEST(r->checks[3].line == 56u);
    BOOST_TEST((r->checks[4].kind == check_kind::resolvers));
    BOOST_TEST(r->checks[4].expect == "192.168.0.1");
}

BOOST_AUTO_TEST_CASE(unknown_key_names_line_and_key) {
    auto e = parse_error(head + "\n[[switch]]\nname = \"s\"\nkind = \"private\"\ncolour = \"red\"\n");
    BOOST_TEST(e.file == "t.toml");
    BOOST_TEST(e.line == 7u);
    BOOST_TEST(e.key == "switch.colour");
    BOOST_TEST(e.to_string().find("t.toml:7: switch.colour: unknown key") == 0u);
}

BOOST_AUTO_TEST_CASE(bad_values_name_the_key) {
    auto e = parse_error(head + "[[network]]\nname = \"lan\"\nsubnet = \"192.168.0.0/24\"\ngateway = \"192.168.0.256\"\n");
    BOOST_TEST(e.key == "network.gateway");
    BOOST_TEST(e.line == 6u);
    BOOST_TEST(e.message.find("invalid IPv4 address") != std::string::npos);

    e = parse_error(head + "[[network]]\nname = \"lan\"\nsubnet = \"192.168.0.1/24\"\ngateway = \"192.168.0.1\"\n");
    BOOST_TEST(e.key == "network.subnet");
    BOOST_TEST(e.message.find("host bits") != std::string::npos);

    e = parse_error(head + "[[network]]\nname = \"lan\"\nsubnet = \"192.168.0.0/24\"\ngateway = \"10.0.0.1\"\n");
    BOOST_TEST(e.key == "network.gateway");

    e = parse_error(head + "[[switch]]\nname = \"s\"\nkind = \"bridge\"\n");
    BOOST_TEST(e.key == "switch.kind");
    BOOST_TEST(e.message.find("external | internal | private | default") != std::string::npos);

    e = parse_error(
        head + "[[switch]]\nname = \"s\"\nkind = \"private\"\n[[vm]]\nname = \"v\"\n[[vm.nic]]\nswitch = \"s\"\nvlan = 4095\n");
    BOOST_TEST(e.key == "vm.nic.vlan");
    BOOST_TEST(e.line == 10u);

    e = parse_error(head +
                    "[[switch]]\nname = \"s\"\nkind = \"private\"\n[[vm]]\nname = \"v\"\n[[vm.nic]]\nswitch = \"s\"\nmac = "
                    "\"01:00:5e:00:00:01\"\n");
    BOOST_TEST(e.key == "vm.nic.mac");
    BOOST_TEST(e.message.find("multicast") != std::string::npos);

    e = parse_error(
        head +
        "[[switch]]\nname = \"s\"\nkind = \"private\"\n[[vm]]\nname = \"v\"\n[[vm.nic]]\nswitch = \"s\"\nmetric = \"low\"\n");
    BOOST_TEST(e.key == "vm.nic.metric");
    BOOST_TEST(e.message == "must be an integer");
}

BOOST_AUTO_TEST_CASE(references_must_exist) {
    auto e = parse_error(head + "[[vm]]\nname = \"v\"\n[[vm.nic]]\nswitch = \"nowhere\"\n");
    BOOST_TEST(e.key == "vm.nic.switch");
    BOOST_TEST(e.line == 5u);
    BOOST_TEST(e.message.find("nowhere") != std::string::npos);

    e = parse_error(head + "[[switch]]\nname = \"x\"\nkind = \"external\"\nnetwork = \"lan\"\n");
    BOOST_TEST(e.key == "switch.network");

    e = parse_error(head + "[[check]]\nkind = \"ping\"\nfrom = \"ghost\"\nto = \"1.2.3.4\"\n");
    BOOST_TEST(e.key == "check.from");
}

BOOST_AUTO_TEST_CASE(kind_specific_keys) {
    auto e = parse_error(head + "[[switch]]\nname = \"p\"\nkind = \"private\"\nnat = true\n");
    BOOST_TEST(e.key == "switch.nat");
    BOOST_TEST(e.message.find("only for kind = \"internal\"") != std::string::npos);
    e = parse_error(head + "[[switch]]\nname = \"x\"\nkind = \"external\"\n");
    BOOST_TEST(e.key == "switch.network");
    e = parse_error(head + "[[check]]\nkind = \"tcp\"\nfrom = \"host\"\nto = \"1.2.3.4\"\n");
    BOOST_TEST(e.key == "check.port");
    e = parse_error(head + "[[check]]\nkind = \"ping\"\nfrom = \"host\"\nto = \"1.2.3.4\"\nexpect = \"maybe\"\n");
    BOOST_TEST(e.key == "check.expect");
}

BOOST_AUTO_TEST_CASE(internal_switch_dhcp_server) {
    const std::string sw = head + "[[switch]]\nname = \"i\"\nkind = \"internal\"\nhost_address = \"172.20.0.1/24\"\n";
    auto r = parse_lab(sw + "dhcp = { range = \"172.20.0.100-172.20.0.199\", dns = [\"172.20.0.1\"] }\n", "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_REQUIRE(r->switches.at(0).dhcp.has_value());
    BOOST_TEST(fmt::format("{}", r->switches[0].dhcp->range_first) == "172.20.0.100");
    BOOST_TEST(fmt::format("{}", r->switches[0].dhcp->range_last) == "172.20.0.199");
    BOOST_REQUIRE(r->switches[0].dhcp->dns.size() == 1u);
    BOOST_TEST(r->switches[0].dhcp->lease_time.count() == 3600);  // the default: an hour
    auto plain = parse_lab(sw, "t.toml");
    BOOST_REQUIRE(plain);
    BOOST_TEST(!plain->switches.at(0).dhcp.has_value());  // omitted: no DHCP server
    // lease_time: seconds, 1 .. 2^32 - 2 (option 51's range less "infinite")
    auto short_lease = parse_lab(sw + "dhcp = { range = \"172.20.0.100-172.20.0.199\", lease_time = 8 }\n", "t.toml");
    BOOST_REQUIRE_MESSAGE(short_lease.has_value(), (short_lease ? std::string() : short_lease.error().to_string()));
    BOOST_TEST(short_lease->switches.at(0).dhcp->lease_time.count() == 8);
    expect_error(sw + "dhcp = { range = \"172.20.0.100-172.20.0.199\", lease_time = 0 }\n", "switch.dhcp.lease_time",
                 "must be between 1 and 4294967294");
    expect_error(sw + "dhcp = { range = \"172.20.0.100-172.20.0.199\", lease_time = \"1h\" }\n", "switch.dhcp.lease_time",
                 "must be an integer");

    // unknown key inside the table: file, line and dotted key
    auto e = parse_error(sw + "dhcp = { range = \"172.20.0.100-172.20.0.199\", lease = \"1h\" }\n");
    BOOST_TEST(e.key == "switch.dhcp.lease");
    BOOST_TEST(e.line == 7u);
    BOOST_TEST(e.to_string().find("t.toml:7: switch.dhcp.lease: unknown key") == 0u);
    // bad values
    e = parse_error(sw + "dhcp = { range = \"172.20.0.199-172.20.0.100\" }\n");
    BOOST_TEST(e.key == "switch.dhcp.range");
    BOOST_TEST(e.line == 7u);
    e = parse_error(sw + "dhcp = { range = \"10.0.0.100-10.0.0.199\" }\n");
    BOOST_TEST(e.key == "switch.dhcp.range");
    BOOST_TEST(e.message.find("not inside 172.20.0.0/24") != std::string::npos);
    e = parse_error(sw + "dhcp = { range = \"172.20.0.1-172.20.0.9\" }\n");
    BOOST_TEST(e.key == "switch.dhcp.range");
    BOOST_TEST(e.message.find("host vNIC") != std::string::npos);
    e = parse_error(sw + "dhcp = { range = \"172.20.0.100-172.20.0.199\", dns = [\"x\"] }\n");
    BOOST_TEST(e.key == "switch.dhcp.dns");
    e = parse_error(sw + "dhcp = \"yes\"\n");
    BOOST_TEST(e.key == "switch.dhcp");
    BOOST_TEST(e.line == 7u);
    // only on internal switches, and only with a host vNIC address
    e = parse_error(head + "[[switch]]\nname = \"p\"\nkind = \"private\"\ndhcp = { range = \"10.0.0.100-10.0.0.199\" }\n");
    BOOST_TEST(e.key == "switch.dhcp");
    BOOST_TEST(e.message.find("only for kind = \"internal\"") != std::string::npos);
    e = parse_error(head + "[[switch]]\nname = \"i\"\nkind = \"internal\"\ndhcp = { range = \"10.0.0.100-10.0.0.199\" }\n");
    BOOST_TEST(e.key == "switch.dhcp");
    BOOST_TEST(e.message.find("host_address") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(flooding_and_reboot_checks) {
    const std::string lab = head +
                            "[[switch]]\nname = \"s\"\nkind = \"private\"\n"
                            "[[vm]]\nname = \"a\"\n[[vm.nic]]\nswitch = \"s\"\n"
                            "[[vm]]\nname = \"b\"\n[[vm.nic]]\nswitch = \"s\"\n";
    auto r = parse_lab(lab +
                           "[[check]]\nkind = \"flooding\"\nfrom = \"a\"\nto = \"b\"\n"
                           "expect = \"first frame flooded, later frames to one port\"\n"
                           "[[check]]\nkind = \"reboot\"\nfrom = \"a\"\nexpect = \"00:15:5d:00:00:10\"\n",
                       "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST((r->checks.at(0).kind == check_kind::flooding));
    BOOST_TEST(r->checks[0].expect == "first frame flooded, later frames to one port");
    BOOST_TEST((r->checks.at(1).kind == check_kind::reboot));
    BOOST_TEST(r->checks[1].expect == "00:15:5d:00:00:10");
    BOOST_TEST((r->checks[1].read == reboot_reads::mac));  // the default
    auto addr = parse_lab(lab + "[[check]]\nkind = \"reboot\"\nfrom = \"a\"\nread = \"address\"\nexpect = \"10.0.0.2/24\"\n",
                          "t.toml");
    BOOST_REQUIRE(addr.has_value());
    BOOST_TEST((addr->checks.at(0).read == reboot_reads::address));
    expect_error(lab + "[[check]]\nkind = \"reboot\"\nfrom = \"a\"\nread = \"gateway\"\n", "check.read",
                 "'gateway' is not one of mac | address");
    expect_error(lab + "[[check]]\nkind = \"ping\"\nfrom = \"a\"\nto = \"b\"\nread = \"mac\"\n", "check.read",
                 "only for kind = \"reboot\"");
    auto e = parse_error(lab + "[[check]]\nkind = \"flooding\"\nfrom = \"a\"\n");
    BOOST_TEST(e.key == "check.to");
    e = parse_error(lab + "[[check]]\nkind = \"flooding\"\nfrom = \"a\"\nto = \"1.2.3.4\"\n");
    BOOST_TEST(e.key == "check.to");
    e = parse_error(lab + "[[check]]\nkind = \"reboot\"\nfrom = \"host\"\n");
    BOOST_TEST(e.key == "check.from");
}

// A network's firewall: outbound TCP ports and whole destinations its router drops.
BOOST_AUTO_TEST_CASE(network_firewall_keys) {
    const std::string net = head + "[[network]]\nname = \"lan\"\nsubnet = \"192.168.0.0/24\"\ngateway = \"192.168.0.1\"\n";
    auto r = parse_lab(net + "blocked_tcp_ports = [8883]\nblocked_addresses = [\"8.8.8.8\", \"8.8.4.4\"]\n", "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST(r->networks.at(0).blocked_tcp_ports == std::vector<std::uint16_t>{8883});
    BOOST_REQUIRE(r->networks[0].blocked_addresses.size() == 2u);
    BOOST_TEST(fmt::format("{}", r->networks[0].blocked_addresses[1]) == "8.8.4.4");
    auto e = parse_error(net + "blocked_addresses = [\"8.8.8\"]\n");
    BOOST_TEST(e.key == "network.blocked_addresses");
    BOOST_TEST(e.line == 7u);
    e = parse_error(net + "blocked_addresses = \"8.8.8.8\"\n");
    BOOST_TEST(e.message == "must be an array of addresses");
}

// network.peer.route_via_host: off by default; on, it needs the host's static address on
// the peer's network (the route's next hop).
BOOST_AUTO_TEST_CASE(peer_route_via_host) {
    const std::string net = head + "[[network]]\nname = \"lan\"\nsubnet = \"192.168.0.0/24\"\ngateway = \"192.168.0.1\"\n";
    const std::string peer = "  [[network.peer]]\n  name = \"laptop\"\n  address = \"192.168.0.60/24\"\n";
    const std::string host = "[host]\nnetwork = \"lan\"\naddress = \"192.168.0.10/24\"\n";
    auto r = parse_lab(net + peer, "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST(!r->networks.at(0).peers.at(0).route_via_host);
    r = parse_lab(host + net + peer + "  route_via_host = true\n", "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST(r->networks.at(0).peers.at(0).route_via_host);
    const std::string why = "needs the host's static address on network 'lan' (host.network and host.address)";
    auto e = parse_error(net + peer + "  route_via_host = true\n");
    BOOST_TEST(e.key == "network.peer.route_via_host");
    BOOST_TEST(e.message == why);
    BOOST_TEST(e.line == 7u);
    expect_error("[host]\nnetwork = \"lan\"\naddress = \"dhcp\"\n" + net + peer + "  route_via_host = true\n",
                 "network.peer.route_via_host", why);
    expect_error(host + net + peer + "  route_via_host = \"yes\"\n", "network.peer.route_via_host", "must be true or false");
}

// network.peer.vlan (a device behind a tagged port) and switch.management_os_vlan (the host
// vNIC's access VLAN): 1-4094; a VLAN peer routes nothing and runs no check.
BOOST_AUTO_TEST_CASE(vlan_peer_and_host_vnic_vlan) {
    const std::string host = "[host]\nnetwork = \"lan\"\naddress = \"192.168.0.10/24\"\n";
    const std::string net = head + "[[network]]\nname = \"lan\"\nsubnet = \"192.168.0.0/24\"\ngateway = \"192.168.0.1\"\n";
    const std::string peer = "  [[network.peer]]\n  name = \"plc10\"\n  address = \"192.168.0.60/24\"\n";
    const std::string ext = "[[switch]]\nname = \"x\"\nkind = \"external\"\nnetwork = \"lan\"\n";
    auto r = parse_lab(host + net + peer + "  vlan = 10\n" + ext + "management_os_vlan = 20\n", "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST(r->networks.at(0).peers.at(0).vlan.value() == 10u);
    BOOST_TEST(r->switches.at(0).management_os_vlan.value() == 20u);
    r = parse_lab(host + net + peer + ext, "t.toml");
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(!r->networks.at(0).peers.at(0).vlan.has_value());
    BOOST_TEST(!r->switches.at(0).management_os_vlan.has_value());
    BOOST_TEST(parse_error(host + net + peer + "  vlan = 4095\n").key == "network.peer.vlan");
    expect_error(host + net + peer + "  vlan = 10\n  route_via_host = true\n", "network.peer.route_via_host",
                 "a VLAN peer answers ARP and ping only: it routes nothing");
    expect_error(
        host + net + peer + "  vlan = 10\n[[check]]\nkind = \"ping\"\nfrom = \"plc10\"\nto = \"host\"\nexpect = \"ok\"\n",
        "check.from", "'plc10' is a VLAN peer: it answers ARP and ping, it runs no check");
    expect_error(host + net + ext + "allow_management_os = false\nmanagement_os_vlan = 20\n", "switch.management_os_vlan",
                 "the host has no vNIC on this switch (allow_management_os = false)");
    expect_error(head + "[[switch]]\nname = \"p\"\nkind = \"private\"\nmanagement_os_vlan = 20\n", "switch.management_os_vlan",
                 "only for kind = \"external\" (this switch is \"private\")");
}

// vm.apipa: off by default; refused for the EFLOW VM, which takes no APIPA address.
BOOST_AUTO_TEST_CASE(vm_apipa_key) {
    const std::string sw = head + "[[switch]]\nname = \"s\"\nkind = \"private\"\n";
    const std::string vm = "[[vm]]\nname = \"v\"\n";
    const std::string nic = "  [[vm.nic]]\n  switch = \"s\"\n";
    auto r = parse_lab(sw + vm + nic, "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST(!r->vms.at(0).apipa);
    r = parse_lab(sw + vm + "apipa = true\n" + nic, "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST(r->vms.at(0).apipa);
    expect_error(sw + vm + "profile = \"eflow\"\napipa = true\n" + nic, "vm.apipa",
                 "the EFLOW VM takes no APIPA address (profile = \"busybox\" only)");
    expect_error(sw + vm + "apipa = 1\n" + nic, "vm.apipa", "must be true or false");
}

// vm.forwarding: bridge or router between two or more NICs of a busybox guest; a bridging
// VM's NICs carry no address.
BOOST_AUTO_TEST_CASE(vm_forwarding_key) {
    const std::string sw = head + "[[switch]]\nname = \"a\"\nkind = \"private\"\n[[switch]]\nname = \"b\"\nkind = \"private\"\n";
    const std::string bare =
        "  [[vm.nic]]\n  switch = \"a\"\n  ip = \"static\"\n  [[vm.nic]]\n  switch = \"b\"\n  ip = \"static\"\n";
    auto r = parse_lab(sw + "[[vm]]\nname = \"v\"\nforwarding = \"bridge\"\n" + bare, "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST((r->vms.at(0).forwarding == guest_forwarding::bridge));
    r = parse_lab(sw + "[[vm]]\nname = \"v\"\n" + bare, "t.toml");
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST((r->vms.at(0).forwarding == guest_forwarding::none));
    expect_error(sw + "[[vm]]\nname = \"v\"\nforwarding = \"router\"\n  [[vm.nic]]\n  switch = \"a\"\n", "vm.forwarding",
                 "needs two or more [[vm.nic]] to forward between");
    expect_error(sw + "[[vm]]\nname = \"v\"\nforwarding = \"bridge\"\n" + bare + "  address = \"10.0.0.1/24\"\n", "vm.nic.ip",
                 "a bridging VM's NICs carry no address (ip = \"static\" without address)");
    expect_error(sw + "[[vm]]\nname = \"v\"\nprofile = \"eflow\"\nforwarding = \"router\"\n" + bare, "vm.forwarding",
                 "only a busybox guest runs bridging or routing software");
    auto e = parse_error(sw + "[[vm]]\nname = \"v\"\nforwarding = \"switch\"\n" + bare);
    BOOST_TEST(e.key == "vm.forwarding");
}

// check_kinds.hpp: every rule comes from the kind's row; resolvers (free text, from a VM)
// and the port rule (only the kinds whose row needs one) as examples.
BOOST_AUTO_TEST_CASE(check_rules_come_from_the_kind_row) {
    const std::string lab = head +
                            "[[switch]]\nname = \"s\"\nkind = \"private\"\n"
                            "[[vm]]\nname = \"a\"\n[[vm.nic]]\nswitch = \"s\"\n";
    auto r = parse_lab(lab + "[[check]]\nkind = \"resolvers\"\nfrom = \"a\"\nexpect = \"192.168.0.1, 8.8.8.8\"\n", "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST((r->checks.at(0).kind == check_kind::resolvers));
    BOOST_TEST(r->checks[0].expect == "192.168.0.1, 8.8.8.8");
    auto e = parse_error(lab + "[[check]]\nkind = \"resolvers\"\nfrom = \"host\"\n");
    BOOST_TEST(e.key == "check.from");
    BOOST_TEST(e.message == "a resolvers check runs from a VM ('host' is not one)");
    e = parse_error(lab + "[[check]]\nkind = \"ping\"\nfrom = \"a\"\nto = \"b\"\nport = 80\n");
    BOOST_TEST(e.key == "check.port");
    BOOST_TEST(e.message == "only for kind = \"tcp\"");
    e = parse_error(lab + "[[check]]\nkind = \"arp\"\nfrom = \"a\"\nto = \"1.2.3.4\"\n");
    BOOST_TEST(e.message == "an arp check probes from the host, a network or a peer before the VMs boot ('a' is a VM)");
    for (const auto& row : check_kinds) BOOST_TEST(to_string(row.kind) == row.name);
}

BOOST_AUTO_TEST_CASE(arp_checks_probe_from_outside_the_vms) {
    // RFC 5227 section 2.1.1 probes, run before the VMs boot (as Deploy-Eflow probes the
    // address and gateway before it creates the VM, docs/eflow-facts.md [AD]).
    const std::string lab = head +
                            "[[switch]]\nname = \"s\"\nkind = \"private\"\n"
                            "[[vm]]\nname = \"a\"\n[[vm.nic]]\nswitch = \"s\"\n";
    auto r = parse_lab(lab + "[[check]]\nkind = \"arp\"\nfrom = \"host\"\nto = \"192.168.0.50\"\nexpect = \"fail\"\n", "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST((r->checks.at(0).kind == check_kind::arp));
    BOOST_TEST(r->checks[0].to == "192.168.0.50");
    BOOST_TEST(r->checks[0].expect == "fail");
    auto e = parse_error(lab + "[[check]]\nkind = \"arp\"\nfrom = \"host\"\n");
    BOOST_TEST(e.key == "check.to");
    e = parse_error(lab + "[[check]]\nkind = \"arp\"\nfrom = \"a\"\nto = \"192.168.0.50\"\n");
    BOOST_TEST(e.key == "check.from");
    BOOST_TEST(e.message.find("before the VMs boot") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(deploy_checks_keep_exact_messages) {
    auto r = parse_lab(head +
                           "[[check]]\nkind = \"deploy\"\nfrom = \"host\"\n"
                           "expect = \"Error: IP4Address, IP4GatewayAddress and IP4PrefixLength parameters are needed\"\n",
                       "t.toml");
    BOOST_REQUIRE(r);
    BOOST_TEST(r->checks[0].expect == "Error: IP4Address, IP4GatewayAddress and IP4PrefixLength parameters are needed");
}

BOOST_AUTO_TEST_CASE(duplicates_and_reserved_names) {
    auto e = parse_error(head +
                         "[[switch]]\nname = \"s\"\nkind = \"private\"\n"
                         "[[vm]]\nname = \"a\"\n[[vm.nic]]\nswitch = \"s\"\n[[vm]]\nname = \"a\"\n[[vm.nic]]\nswitch = \"s\"\n");
    BOOST_TEST(e.message.find("used twice") != std::string::npos);
    BOOST_TEST(e.line == 10u);
    e = parse_error(head + "[[switch]]\nname = \"s\"\nkind = \"private\"\n[[switch]]\nname = \"s\"\nkind = \"private\"\n");
    BOOST_TEST(e.key == "switch.name");
}

BOOST_AUTO_TEST_CASE(toml_syntax_error_has_line) {
    auto e = parse_error(head + "[[vm]]\nname = \"v\nx = 1\n");
    BOOST_TEST(e.line == 4u);
    BOOST_TEST(!e.message.empty());
    auto missing = load_lab("/nonexistent/lab.toml");
    BOOST_REQUIRE(!missing);
    BOOST_TEST(missing.error().file == "/nonexistent/lab.toml");
}

BOOST_AUTO_TEST_CASE(missing_required_keys) {
    auto e = parse_error("[lab]\nhost_sku = \"client\"\n");
    BOOST_TEST(e.key == "lab.name");
    e = parse_error("[host]\n");
    BOOST_TEST(e.key == "lab");
    e = parse_error(head + "[[vm]]\nname = \"v\"\n");
    BOOST_TEST(e.key == "vm.nic");
}

BOOST_AUTO_TEST_SUITE_END()
