// Offloads (include/vnet/wire/offload.hpp and vswitch::send with offloads): the
// virtio-net header, partial checksums finished, GSO super-frames cut into valid wire
// frames, and the switch passing them as they are to ports that take them and finishing
// them in software (counted) for the others.
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

#include <vnet/switch/vswitch.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/ipv6.hpp>
#include <vnet/wire/offload.hpp>
#include <vnet/wire/tcp.hpp>
#include <vnet/wire/udp.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::hex;
using vnet::test::view;

namespace {

using frame_bytes = std::vector<std::byte>;
constexpr std::size_t eth = 14;

const mac_address mac_a = mac_address::from_u64(0x00155d000001ULL);
const mac_address mac_b = mac_address::from_u64(0x00155d000002ULL);

std::byte payload_byte(std::size_t i) { return std::byte(static_cast<std::uint8_t>(i * 7 + 3)); }

/// Ethernet (optionally with an 802.1Q tag) + IPv4 or IPv6 + TCP (NOP NOP timestamps) or
/// UDP + `payload` bytes, lengths set for the whole super-frame and the transport
/// checksum seeded with the pseudo-header sum, as a Linux stack hands a frame to a device
/// with checksum and segmentation offload.
frame_bytes superframe(bool v6, bool tcp, std::size_t payload, std::uint16_t flags = 0, bool tagged = false) {
    const std::size_t l3 = eth + (tagged ? 4 : 0), ip_len = v6 ? 40 : 20, l4_hdr = tcp ? 32 : 8;
    const std::size_t l4 = l3 + ip_len;
    frame_bytes f(l4 + l4_hdr + payload);
    mac_b.store(f, 0);
    mac_a.store(f, 6);
    if (tagged) {
        store_be16(f, 12, 0x8100);
        store_be16(f, 14, 10);
    }
    store_be16(f, l3 - 2, v6 ? 0x86dd : 0x0800);
    const std::uint8_t proto = tcp ? 6 : 17;
    const std::size_t l4_len = l4_hdr + payload;
    checksum_acc pseudo;
    if (v6) {
        store_be32(f, l3, 0x60000000);
        store_be16(f, l3 + 4, static_cast<std::uint16_t>(l4_len));
        store_u8(f, l3 + 6, proto);
        store_u8(f, l3 + 7, 64);
        for (std::size_t i = 0; i < 16; ++i) {
            store_u8(f, l3 + 8 + i, i == 0 ? 0xfd : static_cast<std::uint8_t>(i));
            store_u8(f, l3 + 24 + i, i == 0 ? 0xfd : static_cast<std::uint8_t>(0x80 + i));
        }
        pseudo.add(bytes_view(f).subspan(l3 + 8, 32)).add32(static_cast<std::uint32_t>(l4_len)).add16(proto);
    } else {
        store_u8(f, l3, 0x45);
        store_be16(f, l3 + 2, static_cast<std::uint16_t>(ip_len + l4_len));
        store_be16(f, l3 + 4, 0x1000);
        store_be16(f, l3 + 6, 0x4000);  // DF
        store_u8(f, l3 + 8, 64);
        store_u8(f, l3 + 9, proto);
        store_be32(f, l3 + 12, 0x0a4e0001);
        store_be32(f, l3 + 16, 0x0a4e0002);
        store_be16(f, l3 + 10, internet_checksum(bytes_view(f).subspan(l3, 20)));
        pseudo.add(bytes_view(f).subspan(l3 + 12, 8)).add16(proto).add16(static_cast<std::uint16_t>(l4_len));
    }
    store_be16(f, l4, 40000);
    store_be16(f, l4 + 2, 5201);
    if (tcp) {
        store_be32(f, l4 + 4, 0xfffff000);  // the sequence number wraps inside the super-frame
        store_be32(f, l4 + 8, 77);
        store_be16(f, l4 + 12, static_cast<std::uint16_t>(0x8000 | flags));  // 8 words
        store_be16(f, l4 + 14, 502);
        store_be32(f, l4 + 20, 0x0101080a);  // NOP NOP timestamps
        store_be32(f, l4 + 24, 1234);
        store_be32(f, l4 + 28, 5678);
        store_be16(f, l4 + 16, pseudo.sum());
    } else {
        store_be16(f, l4 + 4, static_cast<std::uint16_t>(l4_len));
        store_be16(f, l4 + 6, pseudo.sum());
    }
    for (std::size_t i = 0; i < payload; ++i) f[l4 + l4_hdr + i] = payload_byte(i);
    return f;
}

offload_info partial(const frame_bytes& f, bool v6, bool tcp, bool tagged = false) {
    offload_info o;
    o.flags = offload_flag::needs_csum;
    o.csum_start = static_cast<std::uint16_t>(eth + (tagged ? 4 : 0) + (v6 ? 40 : 20));
    o.csum_offset = tcp ? 16 : 6;
    o.hdr_len = static_cast<std::uint16_t>(o.csum_start + (tcp ? 32 : 8));
    (void)f;
    return o;
}

offload_info gso(const frame_bytes& f, bool v6, bool tcp, std::uint16_t mss, bool tagged = false) {
    offload_info o = partial(f, v6, tcp, tagged);
    o.gso_type = static_cast<std::uint8_t>(tcp ? (v6 ? gso_kind::tcpv6 : gso_kind::tcpv4) : gso_kind::udp_l4);
    o.gso_size = mss;
    return o;
}

/// A segment's transport header and payload, checked: IP header checksum, lengths and the
/// transport checksum over the pseudo header.
struct checked_segment {
    bytes_view l4;  // transport header + payload
    std::size_t header_len = 0;
    std::uint16_t ip_id = 0;
};

checked_segment check(bytes_view s, bool v6, bool tcp, bool tagged = false) {
    checked_segment c;
    const std::size_t l3 = eth + (tagged ? 4 : 0);
    auto transport_ok = [&](const auto& src, const auto& dst) {
        if (tcp) {
            auto t = tcp_view::parse(c.l4);
            BOOST_REQUIRE(t);
            BOOST_TEST(t->checksum_ok(src, dst));
        } else {
            auto u = udp_view::parse(c.l4);
            BOOST_REQUIRE(u);
            BOOST_TEST(u->checksum_ok(src, dst));
            BOOST_TEST(u->length() == c.l4.size());
        }
    };
    if (v6) {
        auto ip = ipv6_view::parse(s.subspan(l3));
        BOOST_REQUIRE(ip);
        BOOST_TEST(ip->payload_length() == s.size() - l3 - 40);
        c.l4 = s.subspan(l3 + 40);
        transport_ok(ip->src(), ip->dst());
    } else {
        auto ip = ipv4_view::parse(s.subspan(l3));
        BOOST_REQUIRE(ip);
        BOOST_TEST(ip->checksum_ok());
        BOOST_TEST(ip->total_length() == s.size() - l3);
        c.ip_id = ip->identification();
        c.l4 = ip->payload();
        transport_ok(ip->src(), ip->dst());
    }
    c.header_len = tcp ? 32 : 8;
    return c;
}

/// Segments into owned buffers.
struct segments {
    std::vector<frame_bytes> out;
    result<std::size_t> run(bytes_view f, const offload_info& o) {
        std::vector<std::unique_ptr<frame_bytes>> store;
        auto n = segment(
            f, o,
            [&](std::size_t len) {
                store.push_back(std::make_unique<frame_bytes>(len));
                return bytes_span(*store.back());
            },
            [&](bytes_view s) { out.emplace_back(s.begin(), s.end()); });
        return n;
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(offload)

BOOST_AUTO_TEST_CASE(virtio_net_header_layout) {
    // A TCPv4 GSO header as Linux writes it for a 1448-byte MSS (virtio 1.2 5.1.6:
    // flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, little-endian).
    const auto b = hex("01 01 42 00 a8 05 22 00 10 00");
    auto o = offload_info::parse(view(b));
    BOOST_REQUIRE(o);
    BOOST_TEST(o->needs_csum());
    BOOST_TEST((o->gso() == gso_kind::tcpv4));
    BOOST_TEST(o->hdr_len == 66);
    BOOST_TEST(o->gso_size == 1448);
    BOOST_TEST(o->csum_start == 34);
    BOOST_TEST(o->csum_offset == 16);
    BOOST_TEST(o->needs() == offload_cap::tso4);
    std::vector<std::byte> out(offload_info::size);
    o->store(out, 0);
    BOOST_TEST(out == b);
    // ECN bit: still TCPv4.
    BOOST_TEST((offload_info::parse(view(hex("01 81 42 00 a8 05 22 00 10 00")))->gso() == gso_kind::tcpv4));
    // Only a partial checksum; nothing at all.
    BOOST_TEST(offload_info::parse(view(hex("01 00 00 00 00 00 22 00 10 00")))->needs() == offload_cap::csum);
    BOOST_TEST(offload_info::parse(view(hex("02 00 00 00 00 00 00 00 00 00")))->complete());
}

BOOST_AUTO_TEST_CASE(bad_headers_are_errors) {
    BOOST_TEST(offload_info::parse(view(hex("01 01 42 00 a8 05 22 00 10"))).error().what == errc::truncated);
    BOOST_TEST(offload_info::parse(view(hex("01 03 42 00 a8 05 22 00 10 00"))).error().what == errc::unsupported);  // UFO
    BOOST_TEST(offload_info::parse(view(hex("01 02 42 00 a8 05 22 00 10 00"))).error().what == errc::bad_value);
    BOOST_TEST(offload_info::parse(view(hex("01 01 42 00 00 00 22 00 10 00"))).error().what == errc::bad_value);  // gso_size 0
}

BOOST_AUTO_TEST_CASE(partial_checksums_are_finished) {
    for (bool v6 : {false, true})
        for (bool tcp : {false, true}) {
            auto f = superframe(v6, tcp, 301, 0x018);
            auto o = partial(f, v6, tcp);
            BOOST_REQUIRE(complete_checksum(f, o));
            check(view(f), v6, tcp);
        }
    auto f = superframe(false, true, 10);
    offload_info o = partial(f, false, true);
    o.csum_start = static_cast<std::uint16_t>(f.size());
    BOOST_TEST(complete_checksum(f, o).error().what == errc::bad_pointer);
    o.csum_start = static_cast<std::uint16_t>(f.size() - 1);
    o.csum_offset = 0;
    BOOST_TEST(!complete_checksum(f, o));  // the field would run past the end
}

BOOST_AUTO_TEST_CASE(tcp_super_frames_become_wire_segments) {
    for (bool v6 : {false, true}) {
        BOOST_TEST_CONTEXT((v6 ? "IPv6" : "IPv4")) {
            const std::size_t payload = 4000;
            const std::uint16_t mss = 1448;
            auto f = superframe(v6, true, payload, tcp_flag::ack | tcp_flag::psh | tcp_flag::fin | tcp_flag::cwr);
            segments s;
            auto n = s.run(view(f), gso(f, v6, true, mss));
            BOOST_REQUIRE(n);
            BOOST_TEST(*n == 3u);
            BOOST_REQUIRE(s.out.size() == 3u);
            std::vector<std::byte> joined;
            for (std::size_t i = 0; i < 3; ++i) {
                auto c = check(view(s.out[i]), v6, true);
                auto t = *tcp_view::parse(c.l4);
                BOOST_TEST(t.seq_number() == static_cast<std::uint32_t>(0xfffff000u + i * mss));
                BOOST_TEST(t.ack_number() == 77u);
                BOOST_TEST(((t.flags() & tcp_flag::fin) != 0) == (i == 2));
                BOOST_TEST(((t.flags() & tcp_flag::psh) != 0) == (i == 2));
                BOOST_TEST(((t.flags() & tcp_flag::cwr) != 0) == (i == 0));
                BOOST_TEST((t.flags() & tcp_flag::ack) != 0);
                if (!v6) BOOST_TEST(c.ip_id == 0x1000 + i);
                const auto data = c.l4.subspan(c.header_len);
                BOOST_TEST(data.size() == (i < 2 ? mss : payload - 2 * mss));
                joined.insert(joined.end(), data.begin(), data.end());
            }
            BOOST_REQUIRE(joined.size() == payload);
            for (std::size_t i = 0; i < payload; ++i) BOOST_TEST_REQUIRE((joined[i] == payload_byte(i)));
        }
    }
}

BOOST_AUTO_TEST_CASE(udp_super_frames_become_datagrams) {
    auto f = superframe(false, false, 2500);
    segments s;
    auto n = s.run(view(f), gso(f, false, false, 1000));
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == 3u);
    for (std::size_t i = 0; i < s.out.size(); ++i) {
        auto c = check(view(s.out[i]), false, false);
        BOOST_TEST(c.l4.size() - 8 == (i < 2 ? 1000u : 500u));
    }
}

BOOST_AUTO_TEST_CASE(a_tagged_super_frame_keeps_its_tag) {
    auto f = superframe(false, true, 3000, tcp_flag::ack, true);
    segments s;
    auto n = s.run(view(f), gso(f, false, true, 1460, true));
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == 3u);
    for (const auto& seg : s.out) {
        BOOST_TEST(load_be16(seg, 12) == 0x8100);
        check(view(seg), false, true, true);
    }
}

BOOST_AUTO_TEST_CASE(headers_that_do_not_match_are_errors) {
    auto f = superframe(true, true, 3000);
    segments s;
    BOOST_TEST(!s.run(view(f), gso(f, false, true, 1000)));  // TCPv4 offload on an IPv6 frame
    auto u = superframe(false, false, 3000);
    BOOST_TEST(!s.run(view(u), gso(u, false, true, 1000)));  // TCP offload on a UDP frame
    auto arp = hex("ff ff ff ff ff ff 00 15 5d 00 00 01 08 06 00 01 08 00 06 04 00 01");
    BOOST_TEST(s.run(view(arp), gso(f, false, true, 1000)).error().what == errc::unsupported);
    // Every cut inside the headers is an error, never a read out of bounds.
    auto t = superframe(false, true, 100);
    for (std::size_t len = 0; len < eth + 20 + 32; ++len) BOOST_TEST_CONTEXT("length " << len) {
            BOOST_TEST(!s.run(view(t).first(len), gso(t, false, true, 1000)));
        }
    BOOST_TEST(s.out.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(switch_offload)

using namespace vnet::sw;
using offload_switch = vswitch<memory_port, manual_clock>;

struct three_ports {
    offload_switch sw{switch_spec{"Lab", switch_kind::private_, {}, false}};
    port_index a = 0, takes_all = 0, takes_none = 0;
    three_ports(vlan_setting receiver_vlan = {}, vlan_setting sender_vlan = {}) {
        auto pc = port_config::vm("a", mac_a);
        pc.vlan = sender_vlan;
        a = *sw.add_port(pc, memory_port{});
        memory_port all;
        all.caps = offload_cap::all;
        auto p1 = port_config::vm("all", mac_address::from_u64(0x00155d000010ULL));
        p1.vlan = receiver_vlan;
        takes_all = *sw.add_port(p1, std::move(all));
        auto p2 = port_config::vm("none", mac_address::from_u64(0x00155d000011ULL));
        p2.vlan = receiver_vlan;
        takes_none = *sw.add_port(p2, memory_port{});
    }
    memory_port& rx(port_index p) { return sw.transport(p); }
};

BOOST_AUTO_TEST_CASE(a_port_that_takes_offloads_gets_the_super_frame_as_it_is) {
    three_ports L;
    auto f = superframe(false, true, 4000, tcp_flag::ack);
    const offload_info o = gso(f, false, true, 1448);
    const std::array<bytes_view, 1> batch{view(f)};
    L.sw.send(L.a, batch, std::span<const offload_info>(&o, 1));  // mac_b is unknown: flooded to both

    BOOST_REQUIRE(L.rx(L.takes_all).size() == 1u);
    BOOST_TEST((L.rx(L.takes_all).frames[0] == f));
    BOOST_REQUIRE(L.rx(L.takes_all).offloads.size() == 1u);
    BOOST_TEST(L.rx(L.takes_all).offloads[0] == o);
    BOOST_TEST(L.sw.counters(L.takes_all).sw_segmented == 0u);

    // The other port gets three checked wire segments, and the switch counts the work.
    BOOST_REQUIRE(L.rx(L.takes_none).size() == 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        check(L.rx(L.takes_none).frame(i), false, true);
        BOOST_TEST(L.rx(L.takes_none).offloads[i].complete());
    }
    BOOST_TEST(L.sw.counters(L.takes_none).sw_segmented == 1u);
    BOOST_TEST(L.sw.counters(L.takes_none).sw_segments == 3u);
    BOOST_TEST(fmt::format("{}", L.sw.counters(L.takes_none)) ==
               fmt::format("rx 0 frames 0 bytes, tx 1 frames {} bytes, flooded 0, mirrored 0, software gso 1 into 3 "
                           "segments, software checksums 0, drops: none",
                           f.size()));
}

BOOST_AUTO_TEST_CASE(a_partial_checksum_is_finished_only_where_needed) {
    three_ports L;
    auto f = superframe(true, false, 200);
    const offload_info o = partial(f, true, false);
    const std::array<bytes_view, 1> batch{view(f)};
    L.sw.send(L.a, batch, std::span<const offload_info>(&o, 1));
    BOOST_TEST((L.rx(L.takes_all).frames.at(0) == f));  // still partial, with its metadata
    BOOST_TEST(L.rx(L.takes_all).offloads.at(0) == o);
    BOOST_REQUIRE(L.rx(L.takes_none).size() == 1u);
    check(L.rx(L.takes_none).frame(0), true, false);
    BOOST_TEST(L.sw.counters(L.takes_none).sw_checksummed == 1u);
}

BOOST_AUTO_TEST_CASE(a_pushed_tag_moves_the_offsets) {
    three_ports L(vlan_setting::trunk({10}), vlan_setting::access(10));
    auto f = superframe(false, true, 3000, tcp_flag::ack);
    const offload_info o = gso(f, false, true, 1448);
    const std::array<bytes_view, 1> batch{view(f)};
    L.sw.send(L.a, batch, std::span<const offload_info>(&o, 1));
    BOOST_REQUIRE(L.rx(L.takes_all).size() == 1u);
    const offload_info& got = L.rx(L.takes_all).offloads.at(0);
    BOOST_TEST(got.csum_start == o.csum_start + 4);
    BOOST_TEST(got.hdr_len == o.hdr_len + 4);
    BOOST_TEST(got.gso_size == o.gso_size);
    BOOST_REQUIRE(L.rx(L.takes_none).size() == 3u);
    for (std::size_t i = 0; i < 3; ++i) check(L.rx(L.takes_none).frame(i), false, true, true);
}

BOOST_AUTO_TEST_CASE(metadata_that_does_not_fit_the_frame_is_dropped_where_it_must_be_used) {
    three_ports L;
    auto arp = hex(
        "ff ff ff ff ff ff 00 15 5d 00 00 01 08 06 00 01 08 00 06 04 00 01 00 15 5d 00 00 01 0a 00 00 01 "
        "00 00 00 00 00 00 0a 00 00 02");
    auto f = superframe(false, true, 10);
    const offload_info o = gso(f, false, true, 1000);
    const std::array<bytes_view, 1> batch{view(arp)};
    L.sw.send(L.a, batch, std::span<const offload_info>(&o, 1));
    BOOST_TEST(L.rx(L.takes_all).size() == 1u);  // passed on: the taker's device refuses it
    BOOST_TEST(L.rx(L.takes_none).size() == 0u);
    BOOST_TEST(L.sw.counters(L.takes_none).drop(drop_reason::bad_offload) == 1u);
}

BOOST_AUTO_TEST_CASE(a_send_without_offloads_carries_no_metadata) {
    three_ports L;
    auto f = superframe(false, true, 100);
    L.sw.send(L.a, view(f));
    BOOST_TEST(L.rx(L.takes_all).size() == 1u);
    BOOST_TEST(L.rx(L.takes_all).offloads.empty());
    BOOST_TEST(L.rx(L.takes_none).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
