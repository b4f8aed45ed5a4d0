// VLAN modes per port (include/vnet/switch/vlan_mode.hpp, vswitch.hpp): untagged, access,
// trunk with allowed list and native VLAN, private VLAN isolated / community /
// promiscuous, the tagged External adapter port. Every pair of modes is exercised.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <vnet/switch/vswitch.hpp>
#include <vnet/wire/vlan.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::sw;

namespace vnet::sw {
inline std::ostream& operator<<(std::ostream& os, drop_reason r) { return os << to_string(r); }
}  // namespace vnet::sw

namespace {
using test_switch = vswitch<memory_port, manual_clock>;
using frame_bytes = std::vector<std::byte>;

mac_address station(int n) { return mac_address::from_u64(0x00155d000000ULL + static_cast<std::uint64_t>(n)); }

frame_bytes frame(mac_address dst, mac_address src) {
    frame_bytes f(64);
    dst.store(f, 0);
    src.store(f, 6);
    store_be16(f, 12, 0x0800);
    for (std::size_t i = 14; i < f.size(); ++i) f[i] = std::byte(i & 0xff);
    return f;
}
frame_bytes tagged(const frame_bytes& f, std::uint16_t vid, std::uint8_t pcp = 0) {
    frame_bytes out(f.size() + 4);
    auto n = wire::push_vlan_tag(test::view(f), wire::vlan_tag{wire::ethertype::vlan, pcp, false, vid}, out);
    BOOST_REQUIRE(n);
    return out;
}

// One switch with a port in every mode.
struct vlan_lab {
    test_switch sw{switch_spec{"Ext", switch_kind::external, "Ethernet", true}};
    std::vector<std::pair<std::string, port_index>> ports;
    int next = 1;

    void add(const std::string& name, vlan_setting v, port_role role = port_role::vm) {
        port_config c = port_config::vm(name, station(next++));
        c.role = role;
        c.vlan = v;
        c.mac_spoofing = true;  // the frames below come from many stations
        auto id = sw.add_port(c, memory_port{});
        BOOST_REQUIRE(id);
        ports.emplace_back(name, *id);
    }
    port_index id(const std::string& name) const {
        for (const auto& [n, i] : ports)
            if (n == name) return i;
        BOOST_FAIL("no port " + name);
        return no_port;
    }
    // Sends f from `from` and lists who got it: "name:u" untagged, "name:<vid>" tagged.
    std::string flood(const std::string& from, const frame_bytes& f) {
        for (const auto& [n, i] : ports) sw.transport(i).clear();
        sw.send(id(from), test::view(f));
        std::string out;
        for (const auto& [n, i] : ports) {
            auto& t = sw.transport(i);
            if (t.size() == 0) continue;
            BOOST_REQUIRE(t.size() == 1u);
            auto v = wire::frame_view::parse(t.frame(0));
            BOOST_REQUIRE(v);
            if (!out.empty()) out += ' ';
            out += n + ":" + (v->tag_count() == 0 ? std::string("u") : std::to_string(v->tag(0).vid));
        }
        return out;
    }
};

vlan_lab make_lab() {
    vlan_lab l;
    l.add("U", vlan_setting::untagged());
    l.add("A10", vlan_setting::access(10));
    l.add("A10b", vlan_setting::access(10));
    l.add("A20", vlan_setting::access(20));
    l.add("T", vlan_setting::trunk({10, 20}, 0));
    l.add("TN", vlan_setting::trunk({10}, 20));
    l.add("I1", vlan_setting::isolated(100, 101));
    l.add("I2", vlan_setting::isolated(100, 101));
    l.add("C1", vlan_setting::community(100, 102));
    l.add("C1b", vlan_setting::community(100, 102));
    l.add("C2", vlan_setting::community(100, 103));
    l.add("P", vlan_setting::promiscuous(100));
    l.add("TP", vlan_setting::trunk({100, 101, 102, 103}, 0));
    return l;
}

const frame_bytes bcast = frame(mac_address::broadcast(), station(99));
}  // namespace

BOOST_AUTO_TEST_SUITE(switch_vlan)

// docs/eflow-facts.md "Hyper-V port and switch features": VLAN modes Access (VlanId), Trunk
// (AllowedVlanIdList + NativeVlanId, native untagged), Untagged. Frames are flooded only
// to ports of the same VLAN; the tag is removed towards access ports and added towards
// trunks.
BOOST_AUTO_TEST_CASE(untagged_access_and_trunk_pairs) {
    auto l = make_lab();
    BOOST_TEST(l.flood("U", bcast) == "T:u TP:u");
    BOOST_TEST(l.flood("A10", bcast) == "A10b:u T:10 TN:10");
    BOOST_TEST(l.flood("A20", bcast) == "T:20 TN:u");
    BOOST_TEST(l.flood("T", tagged(bcast, 10)) == "A10:u A10b:u TN:10");
    BOOST_TEST(l.flood("T", tagged(bcast, 20)) == "A20:u TN:u");
    BOOST_TEST(l.flood("T", bcast) == "U:u TP:u");     // native 0: the untagged network
    BOOST_TEST(l.flood("TN", bcast) == "A20:u T:20");  // native 20
    BOOST_TEST(l.flood("TN", tagged(bcast, 20)) == "A20:u T:20");
    BOOST_TEST(l.flood("TN", tagged(bcast, 10)) == "A10:u A10b:u T:10");
}

// Frames a port's mode does not admit are dropped as vlan_filter: tagged frames from
// untagged / access / private VLAN ports, VLANs outside a trunk's allowed list.
BOOST_AUTO_TEST_CASE(frames_outside_the_port_vlan_are_filtered) {
    auto l = make_lab();
    BOOST_TEST(l.flood("U", tagged(bcast, 10)) == "");
    BOOST_TEST(l.flood("A10", tagged(bcast, 10)) == "");
    BOOST_TEST(l.flood("A10", tagged(bcast, 20)) == "");
    BOOST_TEST(l.flood("T", tagged(bcast, 30)) == "");
    BOOST_TEST(l.flood("I1", tagged(bcast, 101)) == "");
    BOOST_TEST(l.sw.counters(l.id("U")).drop(drop_reason::vlan_filter) == 1u);
    BOOST_TEST(l.sw.counters(l.id("A10")).drop(drop_reason::vlan_filter) == 2u);
    BOOST_TEST(l.sw.counters(l.id("T")).drop(drop_reason::vlan_filter) == 1u);
    BOOST_TEST(l.sw.counters(l.id("I1")).drop(drop_reason::vlan_filter) == 1u);
}

// docs/eflow-facts.md "Hyper-V port and switch features": Private VLAN (Isolated, Community,
// Promiscuous): isolated reaches promiscuous only, community its community and
// promiscuous, promiscuous everyone; on a trunk isolated / community traffic carries the
// secondary VLAN id and promiscuous traffic the primary one.
BOOST_AUTO_TEST_CASE(private_vlan_pairs) {
    auto l = make_lab();
    BOOST_TEST(l.flood("I1", bcast) == "P:u TP:101");
    BOOST_TEST(l.flood("C1", bcast) == "C1b:u P:u TP:102");
    BOOST_TEST(l.flood("C2", bcast) == "P:u TP:103");
    BOOST_TEST(l.flood("P", bcast) == "I1:u I2:u C1:u C1b:u C2:u TP:100");
    BOOST_TEST(l.flood("TP", tagged(bcast, 101)) == "P:u");
    BOOST_TEST(l.flood("TP", tagged(bcast, 102)) == "C1:u C1b:u P:u");
    BOOST_TEST(l.flood("TP", tagged(bcast, 100)) == "I1:u I2:u C1:u C1b:u C2:u P:u");
    BOOST_TEST(l.flood("TP", bcast) == "U:u T:u");
}

// Learned unicast obeys the same rules: a known destination in a VLAN the output port
// does not carry is dropped (vlan_filter on the output port), never leaked.
BOOST_AUTO_TEST_CASE(known_unicast_respects_vlans) {
    auto l = make_lab();
    const auto s1 = station(201), s2 = station(202);
    l.flood("I1", frame(mac_address::broadcast(), s1));  // s1 learned on I1 in PVLAN 100
    BOOST_TEST(l.flood("P", frame(s1, s2)) == "I1:u");   // promiscuous -> isolated: yes
    BOOST_TEST(l.flood("I2", frame(s1, s2)) == "");      // isolated -> isolated: no
    BOOST_TEST(l.sw.counters(l.id("I1")).drop(drop_reason::vlan_filter) == 1u);
    l.flood("A10", frame(mac_address::broadcast(), s1));  // the same MAC in VLAN 10 is another station
    BOOST_TEST(l.flood("T", tagged(frame(s1, s2), 10)) == "A10:u");
    BOOST_TEST(l.flood("TP", tagged(frame(s1, s2), 100)) == "I1:u");
}

// [IS] "VLANs": the physical adapter's connection is "tagged": it carries the VLAN
// ids configured on the VM adapters (and the host vNIC) with their tags; untagged traffic
// stays untagged.
BOOST_AUTO_TEST_CASE(external_adapter_port_carries_tags) {
    test_switch s(switch_spec{"Ext", switch_kind::external, "Ethernet", true});
    auto up = *s.add_port(port_config::uplink("Ethernet"), memory_port{});
    auto host_cfg = port_config::host("vEthernet (Ext)", station(1));
    host_cfg.vlan = vlan_setting::access(5);  // Set-VMNetworkAdapterVlan -ManagementOS -Access -VlanId 5
    auto host = *s.add_port(host_cfg, memory_port{});
    auto vm_cfg = port_config::vm("eflow", station(2));
    vm_cfg.vlan = vlan_setting::access(10);
    auto vm = *s.add_port(vm_cfg, memory_port{});
    auto plain = *s.add_port(port_config::vm("plain", station(3)), memory_port{});

    s.send(vm, test::view(frame(mac_address::broadcast(), station(2))));
    s.send(host, test::view(frame(mac_address::broadcast(), station(1))));
    s.send(plain, test::view(frame(mac_address::broadcast(), station(3))));
    auto& wire_side = s.transport(up);
    BOOST_REQUIRE(wire_side.size() == 3u);
    BOOST_TEST(*wire::frame_view::parse(wire_side.frame(0))->vlan_id() == 10);
    BOOST_TEST(*wire::frame_view::parse(wire_side.frame(1))->vlan_id() == 5);
    BOOST_TEST(wire::frame_view::parse(wire_side.frame(2))->tag_count() == 0u);
    // from the LAN, tagged 10: to the VM without its tag, byte for byte the original frame
    const auto f = frame(station(2), station(50));
    s.send(up, test::view(tagged(f, 10, 3)));
    BOOST_REQUIRE(s.transport(vm).size() == 1u);
    BOOST_TEST(equal_bytes(s.transport(vm).frame(0), test::view(f)));
    BOOST_TEST(s.transport(host).size() == 0u);
    BOOST_TEST(s.transport(plain).size() == 0u);
}

// A trunk-to-trunk frame keeps its tag and priority; a priority-tagged frame (VID 0) on an
// untagged port is the untagged network.
BOOST_AUTO_TEST_CASE(tags_between_trunks_and_priority_tags) {
    auto l = make_lab();
    const auto f = tagged(bcast, 10, 5);
    l.flood("T", f);
    auto& tn = l.sw.transport(l.id("TN"));
    BOOST_REQUIRE(tn.size() == 1u);
    BOOST_TEST(equal_bytes(tn.frame(0), test::view(f)));
    BOOST_TEST(l.flood("U", tagged(bcast, 0)) == "T:u TP:u");
    BOOST_TEST(l.flood("TN", tagged(bcast, 0, 6)) == "A20:u T:20");  // priority tag -> native 20
    auto& t = l.sw.transport(l.id("T"));
    BOOST_TEST(wire::frame_view::parse(t.frame(0))->tag(0).pcp == 6);  // PCP kept
}

// Changing a port's VLAN forgets what was learned on it (the old VLAN's entries).
BOOST_AUTO_TEST_CASE(vlan_change_flushes_the_port) {
    auto l = make_lab();
    l.flood("A10", frame(mac_address::broadcast(), station(300)));
    BOOST_TEST(l.sw.table().count(l.id("A10")) == 1u);
    auto c = l.sw.config(l.id("A10"));
    c.vlan = vlan_setting::access(20);
    BOOST_REQUIRE(l.sw.configure(l.id("A10"), c));
    BOOST_TEST(l.sw.table().count(l.id("A10")) == 0u);
    BOOST_TEST(l.flood("A20", bcast) == "A10:u T:20 TN:u");
}

BOOST_AUTO_TEST_SUITE_END()
