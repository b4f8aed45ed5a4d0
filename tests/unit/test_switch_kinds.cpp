// Switch kinds and their constraints (include/vnet/switch/kinds.hpp, vswitch.hpp).
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>

#include <fmt/format.h>

#include <vnet/switch/kinds.hpp>
#include <vnet/switch/port.hpp>
#include <vnet/switch/vswitch.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::sw;

namespace vnet::sw {
inline std::ostream& operator<<(std::ostream& os, switch_kind k) { return os << to_string(k); }
}  // namespace vnet::sw

namespace {
using test_switch = vswitch<memory_port, manual_clock>;

const mac_address vm_mac{0x00, 0x15, 0x5d, 0x00, 0x00, 0x10};
const mac_address nic_mac{0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e};

switch_registry host_with_adapters() {
    switch_registry r;
    BOOST_REQUIRE(
        r.add_adapter({"Ethernet", nic_mac, *ipv4_prefix::parse("192.168.0.10/24"), *ipv4_address::parse("192.168.0.1")}));
    BOOST_REQUIRE(r.add_adapter({"Wi-Fi", mac_address{0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5f}, std::nullopt, std::nullopt}));
    return r;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(switch_kinds)

// docs/eflow-facts.md "Hyper-V port and switch features" / [NW]: the host always has the
// Default Switch, an internal switch the host creates.
BOOST_AUTO_TEST_CASE(default_switch_exists_from_the_start) {
    switch_registry r;
    const auto* d = r.get("Default Switch");
    BOOST_REQUIRE(d);
    BOOST_TEST(d->kind == switch_kind::default_switch);
    BOOST_TEST(d->has_host_vnic());
    BOOST_REQUIRE(r.vnic("Default Switch"));
    BOOST_TEST(r.vnic("Default Switch")->name == "vEthernet (Default Switch)");
}

// [IS] "However": "You cannot change the Default switch. It is what it is and you leave it alone."
BOOST_AUTO_TEST_CASE(default_switch_cannot_be_created_changed_or_removed) {
    auto r = host_with_adapters();
    auto c = r.create({"Mine", switch_kind::default_switch, {}, false});
    BOOST_REQUIRE(!c);
    BOOST_TEST(c.error().message() == "switch.the Default Switch is created by the host, not by the user: conflict");
    auto rm = r.remove("Default Switch");
    BOOST_REQUIRE(!rm);
    BOOST_TEST(rm.error().message() == "switch.the Default Switch cannot be removed: conflict");
    auto ch = r.set_adapter("Default Switch", "Ethernet", true);
    BOOST_REQUIRE(!ch);
    BOOST_TEST(ch.error().message() == "switch.the Default Switch cannot be changed: conflict");
    BOOST_TEST(!r.set_kind("Default Switch", switch_kind::private_));
    BOOST_TEST(!r.set_allow_management_os("Default Switch", false));
    BOOST_TEST(r.get("Default Switch")->kind == switch_kind::default_switch);

    // the datapath refuses the same changes
    test_switch d(switch_spec{"Default Switch", switch_kind::default_switch, {}, false});
    auto s = d.set_spec({"Default Switch", switch_kind::internal, {}, false});
    BOOST_REQUIRE(!s);
    BOOST_TEST(s.error().message() == "switch.the Default Switch cannot be changed: conflict");
    test_switch i(switch_spec{"Int", switch_kind::internal, {}, false});
    BOOST_TEST(!i.set_spec({"Int", switch_kind::default_switch, {}, false}));
    // VMs connect to it like to any switch ([NW]: without -vSwitchName the VM goes on the Default Switch)
    BOOST_TEST(d.add_port(port_config::vm("eflow", vm_mac), memory_port{}).has_value());
}

// docs/eflow-facts.md [AD]: "Error: adapterName required for External switch".
BOOST_AUTO_TEST_CASE(external_needs_an_adapter_the_host_has) {
    auto r = host_with_adapters();
    auto a = r.create({"Ext", switch_kind::external, {}, true});
    BOOST_REQUIRE(!a);
    BOOST_TEST(a.error().message() == "switch.external switch needs a physical adapter: bad value");
    auto b = r.create({"Ext", switch_kind::external, "Ethernet 7", true});
    BOOST_REQUIRE(!b);
    BOOST_TEST(b.error() == (error{layer::vswitch, errc::not_found, "physical adapter"}));
    BOOST_TEST(!r.create({"Int", switch_kind::internal, "Ethernet", false}));  // only external has an adapter
}

// [IS] "However": "there is no provision for two adapters to be connected to the same
// switch"; an adapter is on one switch at a time.
BOOST_AUTO_TEST_CASE(adapter_already_bound_to_another_switch) {
    auto r = host_with_adapters();
    BOOST_REQUIRE(r.create({"Ext1", switch_kind::external, "Ethernet", true}));
    auto e = r.create({"Ext2", switch_kind::external, "Ethernet", false});
    BOOST_REQUIRE(!e);
    BOOST_TEST(e.error().message() == "switch.adapter already bound to another switch: conflict");
    BOOST_TEST(r.create({"Ext2", switch_kind::external, "Wi-Fi", false}).has_value());
    BOOST_TEST(!r.create({"Ext2", switch_kind::private_, {}, false}));  // duplicate name
}

// [HV] (walkthrough and comments): with a shared adapter the host's traffic goes through
// the host vNIC, which gets the physical NIC's configuration ("Correct (for ipv4)").
BOOST_AUTO_TEST_CASE(allow_management_os_moves_ip_configuration_to_host_vnic) {
    auto r = host_with_adapters();
    BOOST_REQUIRE(r.create({"ExternalEflow", switch_kind::external, "Ethernet", true}));
    const auto* v = r.vnic("ExternalEflow");
    BOOST_REQUIRE(v);
    BOOST_TEST(v->name == "vEthernet (ExternalEflow)");
    BOOST_TEST(*v->mac == nic_mac);
    BOOST_TEST(fmt::format("{}", *v->address) == "192.168.0.10/24");
    BOOST_TEST(fmt::format("{}", *v->gateway) == "192.168.0.1");
    BOOST_TEST(!r.adapter("Ethernet")->address);  // only the switch protocol is bound to it now
    // removing the switch gives the adapter its configuration back
    BOOST_REQUIRE(r.remove("ExternalEflow"));
    BOOST_TEST(fmt::format("{}", *r.adapter("Ethernet")->address) == "192.168.0.10/24");
}

// docs/eflow-facts.md "Hyper-V port and switch features": AllowManagementOS off dedicates the
// adapter to the VMs; the host has no vNIC on it.
BOOST_AUTO_TEST_CASE(external_without_management_os_has_no_host_vnic) {
    auto r = host_with_adapters();
    BOOST_REQUIRE(r.create({"Dedicated", switch_kind::external, "Ethernet", false}));
    BOOST_TEST(!r.vnic("Dedicated"));
    BOOST_TEST(!r.adapter("Ethernet")->address);
    BOOST_REQUIRE(r.set_allow_management_os("Dedicated", true));
    BOOST_REQUIRE(r.vnic("Dedicated"));
    BOOST_TEST(fmt::format("{}", *r.vnic("Dedicated")->address) == "192.168.0.10/24");
}

// [IS] "Hyper-V Virtual Switches": attaching an adapter "changes it to an External
// Hyper-V switch. You can do this when you create the switch or at any time in the future.
// You can remove an Ethernet adapter from a switch, or you can change which adapter is
// connected to which switch at any time."
BOOST_AUTO_TEST_CASE(adapter_added_removed_and_changed_at_any_time) {
    auto r = host_with_adapters();
    BOOST_REQUIRE(r.create({"Lab", switch_kind::private_, {}, false}));
    BOOST_TEST(!r.vnic("Lab"));  // docs/eflow-facts.md: Private (VMs only)
    BOOST_REQUIRE(r.set_adapter("Lab", "Ethernet", true));
    BOOST_TEST(r.get("Lab")->kind == switch_kind::external);
    BOOST_REQUIRE(r.set_adapter("Lab", "Wi-Fi", false));
    BOOST_TEST(r.get("Lab")->adapter == "Wi-Fi");
    BOOST_TEST(fmt::format("{}", *r.adapter("Ethernet")->address) == "192.168.0.10/24");  // given back
    BOOST_REQUIRE(r.set_kind("Lab", switch_kind::internal));
    BOOST_TEST(r.get("Lab")->adapter.empty());
    BOOST_REQUIRE(r.vnic("Lab"));  // docs/eflow-facts.md: Internal (VMs + host vNIC "vEthernet (Name)")
    BOOST_TEST(r.vnic("Lab")->name == "vEthernet (Lab)");
    BOOST_REQUIRE(r.set_kind("Lab", switch_kind::private_));
    BOOST_TEST(!r.vnic("Lab"));
    BOOST_TEST(r.list().size() == 2u);
}

// [IS] "However": "You can only have one physical network adapter connected to a switch".
BOOST_AUTO_TEST_CASE(second_physical_adapter_port_is_an_error) {
    test_switch s(switch_spec{"Ext", switch_kind::external, "Ethernet", true});
    BOOST_REQUIRE(s.add_port(port_config::uplink("Ethernet"), memory_port{}));
    auto e = s.add_port(port_config::uplink("Ethernet 2"), memory_port{});
    BOOST_REQUIRE(!e);
    BOOST_TEST(e.error().message() == "switch.external switch already bound to adapter: conflict");
    test_switch in(switch_spec{"Int", switch_kind::internal, {}, false});
    auto f = in.add_port(port_config::uplink("Ethernet"), memory_port{});
    BOOST_REQUIRE(!f);
    BOOST_TEST(f.error().message() == "switch.only an external switch has a physical adapter port: conflict");
}

// [IS] "However": "You can only have one host dummy network adapter connected to a
// switch at any time"; docs/eflow-facts.md: Private (VMs only).
BOOST_AUTO_TEST_CASE(host_vnic_rules) {
    test_switch in(switch_spec{"Int", switch_kind::internal, {}, false});
    BOOST_REQUIRE(in.add_port(port_config::host("vEthernet (Int)"), memory_port{}));
    auto two = in.add_port(port_config::host("vEthernet (Int) 2"), memory_port{});
    BOOST_REQUIRE(!two);
    BOOST_TEST(two.error().message() == "switch.switch already has a host vNIC: conflict");

    test_switch pr(switch_spec{"Priv", switch_kind::private_, {}, false});
    auto p = pr.add_port(port_config::host("vEthernet (Priv)"), memory_port{});
    BOOST_REQUIRE(!p);
    BOOST_TEST(p.error().message() == "switch.a private switch has no host vNIC: conflict");

    test_switch ded(switch_spec{"Ded", switch_kind::external, "Ethernet", false});
    BOOST_TEST(!ded.add_port(port_config::host("vEthernet (Ded)"), memory_port{}));
    test_switch shared(switch_spec{"Shared", switch_kind::external, "Ethernet", true});
    BOOST_TEST(shared.add_port(port_config::host("vEthernet (Shared)"), memory_port{}).has_value());
    // the kind cannot change under ports it does not admit
    BOOST_TEST(!shared.set_spec({"Shared", switch_kind::private_, {}, false}));
    BOOST_TEST(in.set_spec({"Int", switch_kind::external, "Ethernet", true}).has_value());
}

// [HV]: "in the virtual world, ports can be added and removed dynamically as needed".
BOOST_AUTO_TEST_CASE(ports_added_and_removed_at_any_time) {
    test_switch s(switch_spec{"Priv", switch_kind::private_, {}, false});
    std::vector<port_index> ids;
    for (int i = 0; i < 100; ++i) {
        auto p = s.add_port(port_config::vm(fmt::format("vm{}", i), mac_address::from_u64(0x00155d000000ULL + i)), memory_port{});
        BOOST_REQUIRE(p);
        ids.push_back(*p);
    }
    BOOST_TEST(s.port_count() == 100u);
    BOOST_REQUIRE(s.remove_port(ids[10]));
    BOOST_TEST(!s.has_port(ids[10]));
    BOOST_TEST(!s.remove_port(ids[10]));
    BOOST_TEST(s.port_count() == 99u);
    auto again = s.add_port(port_config::vm("vm-new", vm_mac), memory_port{});
    BOOST_REQUIRE(again);
    BOOST_TEST(s.port_count() == 100u);
    BOOST_TEST(s.config(*again).name == "vm-new");
}

// VLAN ids are 1-4094 (802.1Q table 9-2; vnet/wire/vlan.hpp): invalid port settings are refused.
BOOST_AUTO_TEST_CASE(invalid_vlan_settings_are_refused) {
    test_switch s(switch_spec{"Priv", switch_kind::private_, {}, false});
    auto c = port_config::vm("a", vm_mac);
    c.vlan = vlan_setting::access(4095);
    auto r = s.add_port(c, memory_port{});
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().message() == "switch.access VLAN id must be 1-4094: bad value");
    c.vlan = vlan_setting::isolated(100, 100);
    BOOST_TEST(!s.add_port(c, memory_port{}));
    c.vlan = vlan_setting::isolated(100, 101);
    BOOST_REQUIRE(s.add_port(c, memory_port{}));
    c.vlan = vlan_setting::community(200, 101);  // 101 is already isolated under 100
    auto clash = s.add_port(c, memory_port{});
    BOOST_REQUIRE(!clash);
    BOOST_TEST(clash.error().what == errc::conflict);
}

BOOST_AUTO_TEST_SUITE_END()
