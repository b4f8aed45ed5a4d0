// IPv6 header and extension header chain (include/vnet/wire/ipv6.hpp), RFC 8200.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <iterator>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/wire/ipv6.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::hex;
using vnet::test::view;

namespace {

// A router solicitation as Linux sends it when an interface with MAC 00:15:5d:00:00:10
// comes up (the ICMPv6 part is decoded in test_icmpv6.cpp). Built field by field from
// RFC 8200 section 3 and RFC 4861 section 4.1; tshark 3.6 decodes it as "Router
// Solicitation from 00:15:5d:00:00:10" with a good checksum.
//   6 00 00000        version 6, traffic class 0, flow label 0
//   0010 3a ff        payload length 16, next header 58 (ICMPv6), hop limit 255
//   fe80::215:5dff:fe00:10 -> ff02::2 (all routers)
const auto router_solicitation = hex(
    "6000 0000 0010 3aff"
    "fe80 0000 0000 0000 0215 5dff fe00 0010"
    "ff02 0000 0000 0000 0000 0000 0000 0002"
    "8500 c0e3 0000 0000 0101 0015 5d00 0010");

// An MLDv2 report as Linux sends it for the solicited-node group it joins before DAD
// (RFC 3810 section 5.2, section 5: hop limit 1, a Router Alert option, RFC 2711, in a
// hop-by-hop header). The hop-by-hop header: next header 58, length 0 (8 bytes), Router
// Alert (type 5, length 2, value 0 = MLD), PadN of 0 bytes (01 00).
const auto mldv2_report = hex(
    "6000 0000 0024 0001"
    "fe80 0000 0000 0000 0215 5dff fe00 0010"
    "ff02 0000 0000 0000 0000 0000 0000 0016"
    "3a00 0502 0000 0100"
    "8f00 12d4 0000 0001 0400 0000 ff02 0000 0000 0000 0000 0001 ff00 0010");

/// A packet with the given next header and payload, from 2001:db8::1 to 2001:db8::2.
std::vector<std::byte> packet(std::uint8_t next_header, const std::vector<std::byte>& payload) {
    ipv6_repr r;
    r.next_header = next_header;
    r.hop_limit = 64;
    r.src = *ipv6_address::parse("2001:db8::1");
    r.dst = *ipv6_address::parse("2001:db8::2");
    std::vector<std::byte> out(ipv6_view::header_len + payload.size());
    BOOST_REQUIRE(r.emit(out, view(payload)));
    return out;
}

// Every extension header RFC 8200 section 4.1 lists, in its recommended order, then UDP:
//   hop-by-hop (0):   next 60, len 0 -> 8 bytes, PadN 6 (01 04 00000000)
//   dest options (60): next 43, len 1 -> 16 bytes, PadN 14 (01 0c ...)
//   routing (43):     next 44, len 0 -> 8 bytes, routing type 4 (SRH), segments left 0
//   fragment (44):    next 51, offset 0, M = 1, identification 0xdeadbeef
//   AH (51):          next 17, payload len 1 -> (1 + 2) * 4 = 12 bytes (RFC 4302 2.2)
//   UDP header (8 bytes)
const auto full_chain = hex(
    "3c00 0104 0000 0000"
    "2b01 010c 0000 0000 0000 0000 0000 0000"
    "2c00 0400 0000 0000"
    "3300 0001 dead beef"
    "1101 0000 0000 0100 0000 0001"
    "d431 0035 0008 0000");

}  // namespace

BOOST_AUTO_TEST_SUITE(ipv6)

// RFC 8200 section 3: the fixed header fields.
BOOST_AUTO_TEST_CASE(parse_fixed_header) {
    auto p = ipv6_view::parse(view(router_solicitation));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->version() == 6);
    BOOST_TEST(p->traffic_class() == 0);
    BOOST_TEST(p->flow_label() == 0u);
    BOOST_TEST(p->payload_length() == 16);
    BOOST_TEST(p->next_header() == ipv6_next_header::icmpv6);
    BOOST_TEST(p->hop_limit() == 255);
    BOOST_TEST(fmt::format("{}", p->src()) == "fe80::215:5dff:fe00:10");
    BOOST_TEST(p->dst() == ipv6_address::all_routers());
    BOOST_TEST(p->payload().size() == 16u);
    BOOST_TEST(p->bytes().size() == 56u);
}

// RFC 8200 section 3: traffic class is the 8 bits after the version, flow label the low 20.
BOOST_AUTO_TEST_CASE(traffic_class_and_flow_label) {
    auto b = router_solicitation;
    b[0] = std::byte{0x6a};
    b[1] = std::byte{0xbc};
    b[2] = std::byte{0xde};
    b[3] = std::byte{0xf5};
    auto p = ipv6_view::parse(view(b));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->traffic_class() == 0xab);
    BOOST_TEST(p->dscp() == 0x2a);  // RFC 2474: the upper 6 bits
    BOOST_TEST(p->ecn() == 3);      // RFC 3168: the lower 2 bits
    BOOST_TEST(p->flow_label() == 0xcdef5u);
    auto r = *ipv6_repr::parse(*p);
    BOOST_TEST(r.traffic_class == 0xab);
    BOOST_TEST(r.flow_label == 0xcdef5u);
    std::vector<std::byte> out(r.buffer_len());
    BOOST_TEST(*r.emit(out, p->payload()) == b.size());
    BOOST_TEST(equal_bytes(out, view(b)));
}

// A 56-byte packet in a 64-byte minimum Ethernet frame carries padding after the
// payload: the packet stops at payload length (RFC 8200 section 3, Payload Length).
BOOST_AUTO_TEST_CASE(padding_after_payload_is_not_payload) {
    auto b = router_solicitation;
    b.insert(b.end(), 6, std::byte{0});
    auto p = ipv6_view::parse(view(b));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->payload().size() == 16u);
    BOOST_TEST(p->bytes().size() == 56u);
    BOOST_TEST(equal_bytes(p->bytes(), view(router_solicitation)));
}

BOOST_AUTO_TEST_CASE(truncated_at_every_byte) {
    test::for_each_truncation(view(router_solicitation), [](bytes_view b) {
        auto p = ipv6_view::parse(b);
        BOOST_TEST(!p);
        if (b.size() < ipv6_view::header_len) BOOST_TEST(p.error() == (error{layer::ipv6, errc::truncated, "header"}));
        else BOOST_TEST(p.error() == (error{layer::ipv6, errc::bad_length, "payload_length"}));
    });
}

// RFC 8200 section 3: Version = 6.
BOOST_AUTO_TEST_CASE(bad_version) {
    for (unsigned v : {0u, 4u, 5u, 7u, 15u}) {
        auto b = router_solicitation;
        b[0] = std::byte(v << 4);
        BOOST_TEST(ipv6_view::parse(view(b)).error() == (error{layer::ipv6, errc::bad_version, "version"}));
    }
}

// RFC 8200 section 3: the payload length counts the bytes after the fixed header.
BOOST_AUTO_TEST_CASE(payload_length_longer_than_buffer) {
    auto b = router_solicitation;
    b[5] = std::byte{0x11};  // 17 > 16 bytes present
    BOOST_TEST(ipv6_view::parse(view(b)).error() == (error{layer::ipv6, errc::bad_length, "payload_length"}));
    b[4] = std::byte{0xff};
    b[5] = std::byte{0xff};
    BOOST_TEST(ipv6_view::parse(view(b)).error() == (error{layer::ipv6, errc::bad_length, "payload_length"}));
    b[4] = std::byte{0};
    b[5] = std::byte{0x0f};  // shorter than the buffer: the rest is padding
    auto p = ipv6_view::parse(view(b));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->payload().size() == 15u);
}

// RFC 2675 section 2: a jumbogram has payload length 0 and a hop-by-hop header.
BOOST_AUTO_TEST_CASE(jumbogram_unsupported) {
    auto b = packet(ipv6_next_header::hop_by_hop, hex("3a00 c204 0001 0000"));
    b[4] = std::byte{0};
    b[5] = std::byte{0};
    BOOST_TEST(ipv6_view::parse(view(b)).error() == (error{layer::ipv6, errc::unsupported, "payload_length"}));
    // payload length 0 with nothing after the header is an ordinary empty packet
    auto empty = packet(ipv6_next_header::no_next_header, {});
    auto p = ipv6_view::parse(view(empty));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->payload().empty());
}

// RFC 3810 section 5: an MLDv2 report with its hop-by-hop Router Alert header.
BOOST_AUTO_TEST_CASE(hop_by_hop_then_icmpv6) {
    auto p = ipv6_view::parse(view(mldv2_report));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->hop_limit() == 1);
    BOOST_TEST(p->next_header() == ipv6_next_header::hop_by_hop);
    int n = 0;
    for (const auto& h : p->extension_headers()) {
        BOOST_REQUIRE(h);
        BOOST_TEST(h->type == ipv6_next_header::hop_by_hop);
        BOOST_TEST(h->next_header == ipv6_next_header::icmpv6);
        BOOST_TEST(h->offset == 40u);
        BOOST_TEST(h->length == 8u);
        // Router Alert option (RFC 2711): type 5, length 2, value 0 (MLD)
        BOOST_TEST(equal_bytes(h->data(), view(hex("0502 0000 0100"))));
        ++n;
    }
    BOOST_TEST(n == 1);
    auto u = p->upper_layer();
    BOOST_REQUIRE(u);
    BOOST_TEST(u->protocol == ipv6_next_header::icmpv6);
    BOOST_TEST(u->offset == 48u);
    BOOST_TEST(u->payload.size() == 28u);
    BOOST_TEST(!u->fragmented);
}

BOOST_AUTO_TEST_CASE(no_extension_headers) {
    auto p = *ipv6_view::parse(view(router_solicitation));
    auto r = p.extension_headers();
    BOOST_TEST((r.begin() == r.end()));
    auto u = p.upper_layer();
    BOOST_REQUIRE(u);
    BOOST_TEST(u->protocol == ipv6_next_header::icmpv6);
    BOOST_TEST(u->offset == 40u);
    BOOST_TEST(equal_bytes(u->payload, p.payload()));
}

// RFC 8200 section 4.1 order; lengths of sections 4.3-4.6 and RFC 4302 section 2.2.
BOOST_AUTO_TEST_CASE(walk_every_extension_header) {
    auto b = packet(ipv6_next_header::hop_by_hop, full_chain);
    auto p = ipv6_view::parse(view(b));
    BOOST_REQUIRE(p);
    struct expect_t {
        std::uint8_t type, next;
        std::size_t offset, length;
    };
    const expect_t expect[] = {{0, 60, 40, 8}, {60, 43, 48, 16}, {43, 44, 64, 8}, {44, 51, 72, 8}, {51, 17, 80, 12}};
    std::size_t i = 0;
    for (const auto& h : p->extension_headers()) {
        BOOST_REQUIRE(h);
        BOOST_REQUIRE(i < std::size(expect));
        BOOST_TEST(h->type == expect[i].type);
        BOOST_TEST(h->next_header == expect[i].next);
        BOOST_TEST(h->offset == expect[i].offset);
        BOOST_TEST(h->length == expect[i].length);
        BOOST_TEST(h->bytes.size() == expect[i].length);
        if (h->type == ipv6_next_header::routing) {
            BOOST_TEST(h->routing_type() == 4);
            BOOST_TEST(h->segments_left() == 0);
        }
        if (h->type == ipv6_next_header::fragment) {
            BOOST_TEST(h->fragment_offset() == 0);
            BOOST_TEST(h->more_fragments());
            BOOST_TEST(h->identification() == 0xdeadbeefu);
        }
        ++i;
    }
    BOOST_TEST(i == std::size(expect));
    auto u = p->upper_layer();
    BOOST_REQUIRE(u);
    BOOST_TEST(u->protocol == ipv6_next_header::udp);
    BOOST_TEST(u->offset == 92u);
    BOOST_TEST(u->payload.size() == 8u);
    BOOST_TEST(u->fragmented);
    BOOST_TEST(u->fragment_offset == 0);
}

// RFC 8200 section 4.5: a later fragment carries offset != 0; its payload is not a header.
BOOST_AUTO_TEST_CASE(non_first_fragment) {
    // fragment header: next 58, offset 185 (1480 bytes / 8) << 3, M = 0, id 1
    auto b = packet(ipv6_next_header::fragment, hex("3a00 05c8 0000 0001 aabb ccdd"));
    auto p = *ipv6_view::parse(view(b));
    auto h = *p.extension_headers().begin();
    BOOST_REQUIRE(h);
    BOOST_TEST(h->fragment_offset() == 185);
    BOOST_TEST(!h->more_fragments());
    BOOST_TEST(h->identification() == 1u);
    auto u = p.upper_layer();
    BOOST_REQUIRE(u);
    BOOST_TEST(u->fragmented);
    BOOST_TEST(u->fragment_offset == 185);
    BOOST_TEST(u->protocol == ipv6_next_header::icmpv6);
    BOOST_TEST(u->payload.size() == 4u);
}

// RFC 8200 section 4.7: No Next Header ends the chain; what follows is ignored.
BOOST_AUTO_TEST_CASE(no_next_header_ends_chain) {
    auto b = packet(ipv6_next_header::destination_options, hex("3b00 0104 0000 0000 ffff"));
    auto u = ipv6_view::parse(view(b))->upper_layer();
    BOOST_REQUIRE(u);
    BOOST_TEST(u->protocol == ipv6_next_header::no_next_header);
    BOOST_TEST(u->offset == 48u);
    BOOST_TEST(u->payload.size() == 2u);
}

// RFC 8200 section 4.1: the Hop-by-Hop Options header only immediately after the IPv6 header.
BOOST_AUTO_TEST_CASE(hop_by_hop_not_first) {
    auto b = packet(ipv6_next_header::destination_options, hex("0000 0104 0000 0000 3a00 0104 0000 0000"));
    auto p = *ipv6_view::parse(view(b));
    auto it = p.extension_headers().begin();
    BOOST_REQUIRE(*it);
    BOOST_TEST((*it)->type == ipv6_next_header::destination_options);
    ++it;
    BOOST_REQUIRE(it != std::default_sentinel);
    BOOST_TEST((*it).error() == (error{layer::ipv6, errc::bad_value, "hop_by_hop"}));
    ++it;
    BOOST_TEST((it == std::default_sentinel));
    BOOST_TEST(p.upper_layer().error() == (error{layer::ipv6, errc::bad_value, "hop_by_hop"}));
    // two hop-by-hop headers in a row: the second is not first either
    auto twice = packet(ipv6_next_header::hop_by_hop, hex("0000 0104 0000 0000 3a00 0104 0000 0000"));
    BOOST_TEST(ipv6_view::parse(view(twice))->upper_layer().error() == (error{layer::ipv6, errc::bad_value, "hop_by_hop"}));
}

// An extension header that runs past the payload (RFC 8200 section 4: lengths in 8-octet
// units not counting the first 8; RFC 4302 section 2.2: AH in 4-octet units minus 2).
BOOST_AUTO_TEST_CASE(extension_header_past_payload) {
    struct case_t {
        std::uint8_t first;
        std::string_view payload;
        std::string_view field;
    };
    const case_t cases[] = {
        {ipv6_next_header::destination_options, "3a01 0104 0000 0000", "destination_options"},  // says 16
        {ipv6_next_header::hop_by_hop, "3a", "hop_by_hop"},                                     // 1 byte
        {ipv6_next_header::routing, "3a00 0000 0000", "routing"},                               // 6 of 8
        {ipv6_next_header::fragment, "3a00 0001 0000 00", "fragment"},                          // 7 of 8
        {ipv6_next_header::authentication, "3a02 0000 0000 0100 0000 0001", "authentication"},  // 16 of 12
        {ipv6_next_header::destination_options, "2c00 0104 0000 0000 3a00", "fragment"},        // second cut
    };
    for (const auto& c : cases) {
        auto b = packet(c.first, hex(c.payload));
        auto p = ipv6_view::parse(view(b));
        BOOST_REQUIRE(p);
        BOOST_TEST(p->upper_layer().error() == (error{layer::ipv6, errc::bad_length, c.field}));
    }
}

// Cutting the payload length of the full chain at every byte names the header it cuts.
BOOST_AUTO_TEST_CASE(chain_cut_at_every_byte) {
    const std::string_view at[] = {"hop_by_hop", "destination_options", "routing", "fragment", "authentication"};
    const std::size_t ends[] = {8, 24, 32, 40, 52};
    auto b = packet(ipv6_next_header::hop_by_hop, full_chain);
    for (std::size_t n = 1; n <= full_chain.size(); ++n) {
        auto cut = b;
        cut[4] = std::byte(n >> 8);
        cut[5] = std::byte(n & 0xff);
        auto p = ipv6_view::parse(view(cut));
        BOOST_REQUIRE(p);
        auto u = p->upper_layer();
        std::size_t k = 0;
        while (k < std::size(ends) && ends[k] <= n) ++k;
        if (k == std::size(ends)) {
            BOOST_REQUIRE(u);
            BOOST_TEST(u->payload.size() == n - 52);
        } else {
            BOOST_TEST(u.error() == (error{layer::ipv6, errc::bad_length, at[k]}));
        }
    }
}

BOOST_AUTO_TEST_CASE(repr_round_trip) {
    for (const auto* vec : {&router_solicitation, &mldv2_report}) {
        auto p = *ipv6_view::parse(view(*vec));
        auto r = ipv6_repr::parse(p);
        BOOST_REQUIRE(r);
        BOOST_TEST(r->buffer_len() == vec->size());
        std::vector<std::byte> out(r->buffer_len());
        BOOST_TEST(*r->emit(out, p.payload()) == vec->size());
        BOOST_TEST(equal_bytes(out, view(*vec)));
        // header-only emit: the payload length comes from the repr
        std::vector<std::byte> hdr(r->buffer_len());
        BOOST_TEST(*r->emit(hdr) == 40u);
        BOOST_TEST(equal_bytes(view(hdr).first(40), view(*vec).first(40)));
        BOOST_TEST((*ipv6_repr::parse(*ipv6_view::parse(out)) == *r));
    }
}

BOOST_AUTO_TEST_CASE(emit_fills_payload_length) {
    ipv6_repr r;
    r.payload_length = 999;  // ignored by the payload overload
    r.next_header = ipv6_next_header::udp;
    auto payload = hex("0102 0304 05");
    std::vector<std::byte> out(45);
    BOOST_TEST(*r.emit(out, view(payload)) == 45u);
    auto p = ipv6_view::parse(out);
    BOOST_REQUIRE(p);
    BOOST_TEST(p->payload_length() == 5);
    BOOST_TEST(p->hop_limit() == 64);
    BOOST_TEST(equal_bytes(p->payload(), view(payload)));
}

BOOST_AUTO_TEST_CASE(emit_errors) {
    ipv6_repr r;
    std::vector<std::byte> small(39);
    BOOST_TEST(r.emit(small).error() == (error{layer::ipv6, errc::buffer_too_small, "header"}));
    std::vector<std::byte> out(44);
    auto payload = hex("0102 0304 05");
    BOOST_TEST(r.emit(out, view(payload)).error() == (error{layer::ipv6, errc::buffer_too_small, "packet"}));
    r.flow_label = 0x100000;  // 21 bits
    std::vector<std::byte> big(64);
    BOOST_TEST(r.emit(big).error() == (error{layer::ipv6, errc::bad_value, "flow_label"}));
    r.flow_label = 0;
    std::vector<std::byte> jumbo(65536);
    std::vector<std::byte> jumbo_out(65536 + 40);
    BOOST_TEST(r.emit(jumbo_out, view(jumbo)).error() == (error{layer::ipv6, errc::too_long, "payload_length"}));
}

BOOST_AUTO_TEST_CASE(parse_is_constexpr) {
    static constexpr std::array<std::byte, 40> h{std::byte{0x60}, {}, {}, {}, {}, {}, std::byte{59}, std::byte{1}};
    static_assert(ipv6_view::parse(bytes_view(h)).has_value());
    static_assert(ipv6_view::parse(bytes_view(h))->upper_layer()->protocol == ipv6_next_header::no_next_header);
    BOOST_TEST(ipv6_view::parse(bytes_view(h))->hop_limit() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
