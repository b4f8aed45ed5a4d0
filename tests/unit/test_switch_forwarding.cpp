// Forwarding (include/vnet/switch/vswitch.hpp): hub until learned, then one port; never
// back out of the input port; batches; counters; range-v3 batches; fmt of counters.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <ostream>
#include <vector>

#include <fmt/format.h>
#include <range/v3/view/filter.hpp>
#include <range/v3/view/transform.hpp>

#include <vnet/switch/vswitch.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::sw;
using namespace std::chrono_literals;

namespace vnet::sw {
inline std::ostream& operator<<(std::ostream& os, drop_reason r) { return os << to_string(r); }
}  // namespace vnet::sw

namespace {
using test_switch = vswitch<memory_port, manual_clock>;
using frame_bytes = std::vector<std::byte>;

mac_address station(int n) { return mac_address::from_u64(0x00155d000000ULL + static_cast<std::uint64_t>(n)); }

// A 64-byte Ethernet II frame (IPv4 EtherType, payload bytes count up).
frame_bytes frame(mac_address dst, mac_address src, std::size_t len = 64) {
    frame_bytes f(len);
    dst.store(f, 0);
    src.store(f, 6);
    store_be16(f, 12, 0x0800);
    for (std::size_t i = 14; i < len; ++i) f[i] = std::byte(i & 0xff);
    return f;
}

struct lab {
    test_switch sw{switch_spec{"Lab", switch_kind::private_, {}, false}};
    std::vector<port_index> vm;

    explicit lab(int n) {
        for (int i = 0; i < n; ++i)
            vm.push_back(*sw.add_port(port_config::vm(fmt::format("vm{}", i), station(i)), memory_port{}));
    }
    memory_port& rx(int i) { return sw.transport(vm[static_cast<std::size_t>(i)]); }
    void send(int i, const frame_bytes& f) { sw.send(vm[static_cast<std::size_t>(i)], bytes_view(f)); }
    void clear() {
        for (auto p : vm)
            if (sw.has_port(p)) sw.transport(p).clear();
    }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(switch_forwarding)

// [HV] (last section): before it has learned, the switch "will act as a 'hub'
// rather than a switch and send packets out on all virtual switch ports"; once it knows
// the port it directs traffic there only.
BOOST_AUTO_TEST_CASE(flooding_before_and_after_learning) {
    lab l(4);
    l.send(0, frame(station(1), station(0)));  // vm1 not learned yet: flooded
    BOOST_TEST(l.rx(0).size() == 0u);          // never back to the sender
    BOOST_TEST(l.rx(1).size() == 1u);
    BOOST_TEST(l.rx(2).size() == 1u);
    BOOST_TEST(l.rx(3).size() == 1u);
    BOOST_TEST(l.sw.counters(l.vm[0]).flooded == 1u);
    BOOST_TEST(l.sw.counters(l.vm[0]).flooded_unknown == 1u);  // a unicast flooded: its destination was unknown
    l.clear();
    l.send(1, frame(station(0), station(1)));  // vm0 was learned: exactly one port
    BOOST_TEST(l.rx(0).size() == 1u);
    BOOST_TEST(l.rx(2).size() == 0u);
    BOOST_TEST(l.rx(3).size() == 0u);
    l.clear();
    l.send(0, frame(station(1), station(0)));  // vm1 learned from its reply
    BOOST_TEST(l.rx(1).size() == 1u);
    BOOST_TEST(l.rx(2).size() + l.rx(3).size() == 0u);
    BOOST_TEST(test::view(l.rx(1).frames[0]).size() == 64u);
    BOOST_TEST(equal_bytes(l.rx(1).frame(0), bytes_view(frame(station(1), station(0)))));
}

// Broadcast and multicast always go to every other port of the VLAN ([HV]).
BOOST_AUTO_TEST_CASE(broadcast_and_multicast_flood) {
    lab l(3);
    l.send(1, frame(station(0), station(1)));
    l.send(0, frame(station(1), station(0)));  // both learned
    l.clear();
    l.send(0, frame(mac_address::broadcast(), station(0)));
    l.send(0, frame(mac_address{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}, station(0)));
    l.send(0, frame(mac_address{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}, station(0)));
    BOOST_TEST(l.rx(0).size() == 0u);
    BOOST_TEST(l.rx(1).size() == 3u);
    BOOST_TEST(l.rx(2).size() == 3u);
    BOOST_TEST(l.sw.counters(l.vm[0]).flooded == 3u);
    BOOST_TEST(l.sw.counters(l.vm[0]).flooded_unknown == 0u);  // group frames are not unknown unicast
}

// docs/style.md (VPP l2_fwd REFLECT_DROP): a frame never goes back out of its input port.
BOOST_AUTO_TEST_CASE(reflect_is_dropped_and_counted) {
    lab l(2);
    auto up = l.vm[0];
    auto c = port_config::vm("vm0", station(0));
    c.mac_spoofing = true;  // a port that may send for several stations (a nested switch)
    BOOST_REQUIRE(l.sw.configure(up, c));
    l.send(0, frame(station(1), station(50)));
    l.send(0, frame(station(50), station(51)));  // station 50 was learned on port 0 itself
    BOOST_TEST(l.sw.counters(up).drop(drop_reason::reflect) == 1u);
    BOOST_TEST(l.rx(0).size() == 0u);
    BOOST_TEST(l.rx(1).size() == 1u);  // only the first (flooded) frame
}

// docs/style.md (Open vSwitch / VPP): a station that moves is found on its new port.
BOOST_AUTO_TEST_CASE(mac_move_between_ports) {
    lab l(3);
    auto c = port_config::vm("vm2", station(2));
    c.mac_spoofing = true;
    BOOST_REQUIRE(l.sw.configure(l.vm[2], c));
    l.send(1, frame(station(0), station(1)));
    l.clear();
    l.send(2, frame(station(0), station(1)));  // station 1 now behind port 2 (live migration)
    l.clear();
    l.send(0, frame(station(1), station(0)));
    BOOST_TEST(l.rx(2).size() == 1u);
    BOOST_TEST(l.rx(1).size() == 0u);
    BOOST_TEST(l.sw.table().stats().moved == 1u);
}

// [HV] comments (Simone / jhoward): "virtual network switches operate at level 2":
// the switch forwards on MAC addresses only and never routes or rewrites IP; a frame for a
// router MAC nobody has is flooded like any unknown unicast, and no routed copy appears.
BOOST_AUTO_TEST_CASE(layer_2_only) {
    lab l(3);
    l.send(1, frame(station(0), station(1)));
    l.clear();
    auto f = frame(station(1), station(0));
    // IPv4 header: 10.0.0.2 -> 10.0.1.2 (another subnet); the switch does not care
    f[14] = std::byte{0x45};
    ipv4_address(10, 0, 0, 2).store(f, 26);
    ipv4_address(10, 0, 1, 2).store(f, 30);
    l.send(0, f);
    BOOST_TEST(l.rx(1).size() == 1u);
    BOOST_TEST(l.rx(2).size() == 0u);
    BOOST_TEST(equal_bytes(l.rx(1).frame(0), bytes_view(f)));
}

// docs/style.md (VPP): switching works on batches; each output port gets one batch per send().
BOOST_AUTO_TEST_CASE(one_delivery_per_port_per_batch) {
    lab l(3);
    l.send(1, frame(station(0), station(1)));
    l.send(2, frame(station(0), station(2)));
    l.clear();
    std::vector<frame_bytes> batch;
    for (int i = 0; i < 10; ++i) batch.push_back(frame(station(1 + i % 2), station(0)));
    l.sw.send(l.vm[0], batch);
    BOOST_TEST(l.rx(1).size() == 5u);
    BOOST_TEST(l.rx(2).size() == 5u);
    BOOST_TEST(l.rx(1).batches == 1u);
    BOOST_TEST(l.rx(2).batches == 1u);
    BOOST_TEST(l.sw.counters(l.vm[0]).rx_frames == 10u);
    BOOST_TEST(l.sw.counters(l.vm[0]).rx_bytes == 640u);
    BOOST_TEST(l.sw.counters(l.vm[1]).tx_frames == 6u);  // 1 flooded before + 5
    BOOST_TEST(l.sw.counters(l.vm[1]).tx_bytes == 384u);
}

// A batch is any range of frames: range-v3 views filter or transform a frame stream.
BOOST_AUTO_TEST_CASE(range_v3_batches) {
    lab l(2);
    std::vector<frame_bytes> frames;
    for (std::size_t len : {60u, 64u, 128u, 1514u}) frames.push_back(frame(mac_address::broadcast(), station(0), len));
    auto small = frames | ranges::views::filter([](const frame_bytes& f) { return f.size() <= 128; });
    l.sw.send(l.vm[0], small);
    BOOST_TEST(l.rx(1).size() == 3u);
    auto views = frames | ranges::views::transform([](const frame_bytes& f) { return bytes_view(f).first(60); });
    l.sw.send(l.vm[0], views);
    BOOST_TEST(l.rx(1).size() == 7u);
    BOOST_TEST(l.rx(1).frame(6).size() == 60u);
}

// Malformed frames are dropped with a named reason, never read out of bounds.
BOOST_AUTO_TEST_CASE(malformed_frames) {
    lab l(2);
    auto f = frame(mac_address::broadcast(), station(0));
    l.sw.send(l.vm[0], bytes_view(f).first(13));
    auto tag = test::hex("ffffffffffff 00155d000000 8100 0f");  // tag cut short
    l.sw.send(l.vm[0], test::view(tag));
    auto reserved = test::hex("ffffffffffff 00155d000000 8100 0fff 0800");  // VID 4095
    l.sw.send(l.vm[0], test::view(reserved));
    BOOST_TEST(l.sw.counters(l.vm[0]).drop(drop_reason::malformed) == 3u);
    BOOST_TEST(l.rx(1).size() == 0u);
}

// Aging through the switch's injected clock: after 300 s idle the switch floods again.
BOOST_AUTO_TEST_CASE(aging_through_the_injected_clock) {
    lab l(3);
    l.send(1, frame(station(0), station(1)));
    l.clear();
    l.sw.clock().advance(299s);
    l.send(0, frame(station(1), station(0)));
    BOOST_TEST(l.rx(2).size() == 0u);  // still known
    l.sw.clock().advance(300s);
    l.send(0, frame(station(1), station(0)));
    BOOST_TEST(l.rx(2).size() == 1u);       // aged out: flooded
    BOOST_TEST(l.sw.table().size() == 1u);  // only station 0 (refreshed just now)
}

// Removing a port forgets its stations; frames for them are flooded to the others.
BOOST_AUTO_TEST_CASE(removing_a_port_forgets_its_stations) {
    lab l(3);
    l.send(1, frame(station(0), station(1)));
    BOOST_REQUIRE(l.sw.remove_port(l.vm[1]));
    l.clear();
    l.send(0, frame(station(1), station(0)));
    BOOST_TEST(l.rx(2).size() == 1u);
    BOOST_TEST(l.sw.table().count(l.vm[1]) == 0u);
}

// docs/style.md (VPP learn limit): with the refuse policy new sources on a full table are
// dropped as table_full; the table never grows past its limit.
BOOST_AUTO_TEST_CASE(table_full_drop) {
    vswitch<memory_port, manual_clock> s(switch_spec{"S", switch_kind::private_, {}, false}, manual_clock{},
                                         mac_table_config{2, 300s, table_full_policy::refuse});
    auto a = port_config::vm("a", station(0));
    a.mac_spoofing = true;
    auto pa = *s.add_port(a, memory_port{});
    auto pb = *s.add_port(port_config::vm("b", station(1)), memory_port{});
    for (int i = 0; i < 5; ++i) s.send(pa, bytes_view(frame(mac_address::broadcast(), station(100 + i))));
    BOOST_TEST(s.table().size() == 2u);
    BOOST_TEST(s.counters(pa).drop(drop_reason::table_full) == 3u);
    BOOST_TEST(s.transport(pb).size() == 2u);
}

// Counters are readable and formatted with fmt (for `vnet lab` and debugging).
BOOST_AUTO_TEST_CASE(format_counters) {
    lab l(2);
    l.send(0, frame(mac_address::broadcast(), station(0)));
    l.send(0, frame(station(1), station(7)));  // spoofed
    BOOST_TEST(fmt::format("{}", l.sw.counters(l.vm[0])) ==
               "rx 2 frames 128 bytes, tx 0 frames 0 bytes, flooded 1, mirrored 0, drops: spoofed_source=1");
    BOOST_TEST(fmt::format("{}", l.sw.counters(l.vm[1])) ==
               "rx 0 frames 0 bytes, tx 1 frames 64 bytes, flooded 0, mirrored 0, drops: none");
    BOOST_TEST(fmt::format("{}", drop_reason::storm_limit) == "storm_limit");
    const auto text = fmt::format("{}", l.sw);
    BOOST_TEST(text.find("switch Lab (private)") == 0u);
    BOOST_TEST(text.find("   1 vm1 (vm, untagged): rx 0 frames") != std::string::npos);
    l.sw.reset_counters();
    BOOST_TEST(l.sw.counters(l.vm[0]).rx_frames == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
