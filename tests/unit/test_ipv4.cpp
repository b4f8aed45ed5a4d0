// IPv4 header, options, DSCP/ECN and header checksum (include/vnet/wire/ipv4.hpp):
// RFC 791, RFC 1071, RFC 2113, RFC 2474, RFC 3168, RFC 6864.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/wire/ipv4.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::hex;
using vnet::test::view;

namespace {

// The IPv4 header checksum example of Wikipedia's "Internet checksum" / "IPv4 header
// checksum" articles (also gopacket layers/ip4_test.go "wikipedia case"): a UDP header
// 192.168.0.1 -> 192.168.0.199, total length 115, checksum 0xb861.
std::vector<std::byte> wikipedia_packet() {
    auto p = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
    p.resize(0x73, std::byte{0});
    return p;
}

// A Linux `ping localhost` echo request, captured with `tcpdump -i lo -X` and published
// in "ping and traceroute" (https://dev.jendekhane.com/post/learn/61d8ee3c9c67d2983d9740fb):
// "IP localhost > localhost: ICMP echo request, id 21780, seq 1, length 64".
const auto linux_ping = hex(
    "4500 0054 9210 4000 4001 aa96 7f00 0001"
    "7f00 0001 0800 492b 5514 0001 2d08 f460"
    "0000 0000 6c83 0d00 0000 0000 1011 1213"
    "1415 1617 1819 1a1b 1c1d 1e1f 2021 2223"
    "2425 2627 2829 2a2b 2c2d 2e2f 3031 3233"
    "3435 3637");

// smoltcp src/wire/ipv4.rs PACKET_BYTES: identification 0x0102, DF and MF set,
// fragment offset 0x203 units, TTL 26, ICMP, 17.18.19.20 -> 33.34.35.36, 10 payload octets.
const auto smoltcp_packet = hex(
    "4500 001e 0102 6203 1a01 d56e 1112 1314 2122 2324"
    "aa00 0000 0000 0000 00ff");

// A header 10.0.0.1 -> 10.0.0.2 (ICMP) with the given option octets (a multiple of 4)
// and no payload. The checksum is left zero: only the view is tested on these.
std::vector<std::byte> with_options(std::string_view opts_hex) {
    auto opts = hex(opts_hex);
    const std::size_t hlen = 20 + opts.size();
    auto h = hex("4500 0000 0000 0000 4001 0000 0a00 0001 0a00 0002");
    h[0] = std::byte(0x40 | (hlen / 4));
    h[3] = std::byte(hlen);
    h.insert(h.end(), opts.begin(), opts.end());
    return h;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ipv4)

// RFC 791 section 3.1 header layout; RFC 1071 checksum.
BOOST_AUTO_TEST_CASE(wikipedia_header) {
    auto p = wikipedia_packet();
    auto v = ipv4_view::parse(view(p));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->version() == 4);
    BOOST_TEST(v->ihl() == 5);
    BOOST_TEST(v->header_len() == 20u);
    BOOST_TEST(v->dscp() == 0);
    BOOST_TEST(v->ecn() == 0);
    BOOST_TEST(v->total_length() == 115);
    BOOST_TEST(v->identification() == 0);
    BOOST_TEST(v->dont_fragment());
    BOOST_TEST(!v->more_fragments());
    BOOST_TEST(!v->is_fragment());
    BOOST_TEST(v->ttl() == 64);
    BOOST_TEST(v->protocol() == ip_protocol::udp);
    BOOST_TEST(v->checksum() == 0xb861);
    BOOST_TEST(v->checksum_ok());
    BOOST_TEST(fmt::format("{}", v->src()) == "192.168.0.1");
    BOOST_TEST(fmt::format("{}", v->dst()) == "192.168.0.199");
    BOOST_TEST(v->payload().size() == 95u);
    BOOST_TEST(v->options().empty());

    auto r = ipv4_repr::parse(*v);
    BOOST_REQUIRE(r);
    std::vector<std::byte> out(r->header_len());
    BOOST_TEST(*r->emit(out) == 20u);
    BOOST_TEST(equal_bytes(out, view(p).first(20)));  // the emitted checksum is 0xb861 again
}

BOOST_AUTO_TEST_CASE(checksum_negative_zero_is_accepted_and_emitted_as_zero) {
    // RFC 1071 / RFC 1624 section 3: one's complement has two zeros. A header whose other
    // words sum to 0xffff verifies with a checksum of 0x0000 or 0xffff (an incremental
    // update can leave the latter); vnet accepts both and computes 0x0000 (~0xffff). The
    // header (options included, 56 octets) is the libFuzzer input that found the case.
    auto p = hex(
        "4e200045820100014502ffffffff5c01450202020202020202020202020202020202000102019404ff469404"
        "0404019404010094040202010000000000005002020202020201000400");
    auto v = ipv4_view::parse(view(p));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->checksum() == 0xffff);
    BOOST_TEST(v->checksum_ok());
    auto r = ipv4_repr::parse(*v);
    BOOST_REQUIRE(r);
    std::vector<std::byte> out(r->buffer_len());
    BOOST_REQUIRE(r->emit(out, v->payload()));
    auto back = ipv4_view::parse(view(out));
    BOOST_REQUIRE(back);
    BOOST_TEST(back->checksum() == 0x0000);
    BOOST_TEST(back->checksum_ok());
    store_be16(out, ipv4_view::field::checksum, 0xffff);
    BOOST_TEST(equal_bytes(out, v->packet()));  // every other octet is the same
}

BOOST_AUTO_TEST_CASE(linux_ping_round_trip) {
    auto v = ipv4_view::parse(view(linux_ping));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->identification() == 0x9210);
    BOOST_TEST(v->dont_fragment());
    BOOST_TEST(v->protocol() == ip_protocol::icmp);
    BOOST_TEST(v->src() == ipv4_address(127, 0, 0, 1));
    BOOST_TEST(v->checksum_ok());
    BOOST_TEST(v->payload().size() == 64u);
    BOOST_TEST(v->padding().empty());

    auto r = ipv4_repr::parse(*v);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->payload_len == 64u);
    BOOST_TEST(r->buffer_len() == linux_ping.size());
    std::vector<std::byte> out(r->buffer_len());
    BOOST_TEST(*r->emit(out, v->payload()) == linux_ping.size());
    BOOST_TEST(equal_bytes(out, view(linux_ping)));
    auto back = ipv4_repr::parse(*ipv4_view::parse(out));
    BOOST_REQUIRE(back);
    BOOST_TEST((*back == *r));
}

// RFC 791 section 3.1 flags and fragment offset (in units of 8 octets); RFC 6864 identification.
BOOST_AUTO_TEST_CASE(fragment_fields) {
    auto v = ipv4_view::parse(view(smoltcp_packet));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->identification() == 0x0102);
    BOOST_TEST(v->dont_fragment());
    BOOST_TEST(v->more_fragments());
    BOOST_TEST(v->fragment_offset_units() == 0x203);
    BOOST_TEST(v->fragment_offset() == 0x203u * 8);
    BOOST_TEST(v->is_fragment());
    BOOST_TEST(!v->is_first_fragment());
    BOOST_TEST(v->ttl() == 26);
    BOOST_TEST(v->src() == ipv4_address(17, 18, 19, 20));
    BOOST_TEST(v->dst() == ipv4_address(33, 34, 35, 36));
    BOOST_TEST(equal_bytes(v->payload(), view(smoltcp_packet).subspan(20)));

    auto r = *ipv4_repr::parse(*v);
    BOOST_TEST(r.fragment_offset == 4120u);
    std::vector<std::byte> out(r.buffer_len());
    BOOST_REQUIRE(r.emit(out, v->payload()));
    BOOST_TEST(equal_bytes(out, view(smoltcp_packet)));

    // only the last fragment has MF clear and a non-zero offset; still a fragment
    r.more_fragments = false;
    BOOST_REQUIRE(r.emit(out, v->payload()));
    BOOST_TEST(ipv4_view::parse(out)->is_fragment());
    r.fragment_offset = 0;
    BOOST_REQUIRE(r.emit(out, v->payload()));
    BOOST_TEST(!ipv4_view::parse(out)->is_fragment());
}

// RFC 791: total length counts the datagram; octets after it (Ethernet's 46-octet
// minimum payload padding) are not part of it.
BOOST_AUTO_TEST_CASE(padding_beyond_total_length_ignored) {
    auto p = smoltcp_packet;
    p.resize(46, std::byte{0xee});
    auto v = ipv4_view::parse(view(p));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->payload().size() == 10u);
    BOOST_TEST(v->packet().size() == 30u);
    BOOST_TEST(v->padding().size() == 16u);
    BOOST_TEST(equal_bytes(v->payload(), view(smoltcp_packet).subspan(20)));
    auto r = ipv4_repr::parse(*v);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->payload_len == 10u);
}

BOOST_AUTO_TEST_CASE(truncated_at_every_byte) {
    test::for_each_truncation(view(linux_ping), [](bytes_view b) {
        auto v = ipv4_view::parse(b);
        BOOST_REQUIRE(!v);
        if (b.size() < 20) BOOST_TEST(v.error() == (error{layer::ipv4, errc::truncated, "header"}));
        else BOOST_TEST(v.error() == (error{layer::ipv4, errc::bad_length, "total_length"}));
    });
}

// RFC 791 section 3.1: Version is 4.
BOOST_AUTO_TEST_CASE(bad_version) {
    auto p = linux_ping;
    p[0] = std::byte{0x65};
    BOOST_TEST(ipv4_view::parse(view(p)).error() == (error{layer::ipv4, errc::bad_version, "version"}));
    auto v6 = hex("6000 0000 0008 3a40");
    BOOST_TEST(ipv4_view::parse(view(v6)).error() == (error{layer::ipv4, errc::bad_version, "version"}));
}

// RFC 791 section 3.1: "the minimum value for a correct header is 5" (IHL in 32-bit words).
BOOST_AUTO_TEST_CASE(bad_ihl) {
    auto p = linux_ping;
    p[0] = std::byte{0x44};
    BOOST_TEST(ipv4_view::parse(view(p)).error() == (error{layer::ipv4, errc::bad_length, "ihl"}));
    p[0] = std::byte{0x40};
    BOOST_TEST(ipv4_view::parse(view(p)).error() == (error{layer::ipv4, errc::bad_length, "ihl"}));
    // IHL 15 (60 octets) but only 30 octets in the buffer
    auto s = smoltcp_packet;
    s[0] = std::byte{0x4f};
    BOOST_TEST(ipv4_view::parse(view(s)).error() == (error{layer::ipv4, errc::bad_length, "ihl"}));
}

// RFC 791 section 3.1: Total Length is the datagram's length including the header.
BOOST_AUTO_TEST_CASE(bad_total_length) {
    auto p = smoltcp_packet;
    p[3] = std::byte{31};  // one more than the buffer
    BOOST_TEST(ipv4_view::parse(view(p)).error() == (error{layer::ipv4, errc::bad_length, "total_length"}));
    p[3] = std::byte{19};  // shorter than the 20-octet header
    BOOST_TEST(ipv4_view::parse(view(p)).error() == (error{layer::ipv4, errc::bad_length, "total_length"}));
    p[3] = std::byte{20};  // exactly the header: no payload
    auto v = ipv4_view::parse(view(p));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->payload().empty());
    BOOST_TEST(v->padding().size() == 10u);
}

// RFC 791 section 3.1: flag bit 0 is reserved, must be zero.
BOOST_AUTO_TEST_CASE(reserved_flag) {
    auto p = linux_ping;
    p[6] = std::byte{0xc0};
    BOOST_TEST(ipv4_view::parse(view(p)).error() == (error{layer::ipv4, errc::bad_value, "flags"}));
}

BOOST_AUTO_TEST_CASE(bad_checksum) {
    auto p = linux_ping;
    p[11] = std::byte{0x97};  // 0xaa96 -> 0xaa97
    auto v = ipv4_view::parse(view(p));
    BOOST_REQUIRE(v);  // the view reports, the repr enforces
    BOOST_TEST(!v->checksum_ok());
    BOOST_TEST(ipv4_repr::parse(*v).error() == (error{layer::ipv4, errc::bad_checksum, "checksum"}));
    // a changed TTL without a checksum update is caught too
    p = linux_ping;
    p[8] = std::byte{0x3f};
    BOOST_TEST(!ipv4_view::parse(view(p))->checksum_ok());
}

// RFC 2474 section 3 (DSCP, the six high bits) and RFC 3168 section 5 (ECN, the two low bits).
BOOST_AUTO_TEST_CASE(dscp_and_ecn) {
    auto p = smoltcp_packet;
    p[1] = std::byte{0xbb};  // DSCP 46 (EF, RFC 3246), ECN CE
    auto v = *ipv4_view::parse(view(p));
    BOOST_TEST(v.tos() == 0xbb);
    BOOST_TEST(v.dscp() == 46);
    BOOST_TEST(v.ecn() == ecn::ce);
    ipv4_repr r{};
    r.dscp = 46;
    r.ecn = ecn::ect0;
    std::vector<std::byte> out(20);
    BOOST_REQUIRE(r.emit(out));
    BOOST_TEST(std::to_integer<int>(out[1]) == 0xba);
}

// RFC 791 section 3.1 options: end of list, no operation, record route, timestamp;
// RFC 2113 router alert.
BOOST_AUTO_TEST_CASE(options_walk) {
    auto h = with_options(
        "01"                             // no operation
        "07 0b 08 0a000001 00000000"     // record route, 2 slots, pointer 8 (one recorded)
        "44 0c 05 10 00000000 00000000"  // timestamp, 2 slots, pointer 5, overflow 1, flag 0
        "94 04 0000"                     // router alert 0
        "00 000000");                    // end of list, padding
    auto v = ipv4_view::parse(view(h));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->header_len() == 52u);
    std::vector<std::uint8_t> types;
    for (const auto& o : v->options()) {
        BOOST_REQUIRE(o);
        types.push_back(o->type());
        if (o->type() == ipv4_option_type::record_route) {
            BOOST_TEST(o->name() == "record route");
            BOOST_TEST(o->length() == 11u);
            BOOST_TEST(o->pointer() == 8);
            BOOST_TEST(o->route_size() == 2u);
            BOOST_TEST(o->route_address(0) == ipv4_address(10, 0, 0, 1));
            BOOST_TEST(!o->copied());
            BOOST_TEST(o->option_class() == 0);
            BOOST_TEST(o->number() == 7);
        } else if (o->type() == ipv4_option_type::timestamp) {
            BOOST_TEST(o->pointer() == 5);
            BOOST_TEST(o->timestamp_overflow() == 1);
            BOOST_TEST(o->timestamp_flag() == 0);
            BOOST_TEST(o->timestamp_data().size() == 8u);
            BOOST_TEST(o->option_class() == 2);  // debugging and measurement
        } else if (o->type() == ipv4_option_type::router_alert) {
            BOOST_TEST(o->name() == "router alert");
            BOOST_TEST(o->copied());
            BOOST_TEST(o->router_alert_value() == 0);
            BOOST_TEST(o->length() == 4u);
        }
    }
    // iteration stops after end of list: the padding after it is not walked
    BOOST_TEST(types == (std::vector<std::uint8_t>{1, 7, 68, 148, 0}));

    // the options survive a repr round trip
    auto opts = ipv4_option_bytes::make(v->options_bytes());
    BOOST_REQUIRE(opts);
    ipv4_repr r{};
    r.src = ipv4_address(10, 0, 0, 1);
    r.dst = ipv4_address(10, 0, 0, 2);
    r.protocol = ip_protocol::igmp;
    r.ttl = 1;
    r.options = *opts;
    std::vector<std::byte> out(r.buffer_len());
    BOOST_TEST(*r.emit(out) == 52u);
    auto back = ipv4_view::parse(out);
    BOOST_REQUIRE(back);
    BOOST_TEST(back->checksum_ok());
    BOOST_TEST(equal_bytes(back->options_bytes(), v->options_bytes()));
    BOOST_TEST((*ipv4_repr::parse(*back) == r));
}

// RFC 1108 section 2 basic security option: type 130, length >= 3, classification level.
BOOST_AUTO_TEST_CASE(security_option) {
    auto h = with_options("82 04 3d 00");  // classification level 0x3d (secret), one authority octet
    auto v = ipv4_view::parse(view(h));
    BOOST_REQUIRE(v);
    auto it = v->options().begin();
    BOOST_REQUIRE(*it);
    BOOST_TEST((*it)->name() == "security");
    BOOST_TEST((*it)->security_classification() == 0x3d);
    BOOST_TEST(ipv4_option_name(250) == "unknown");
}

// RFC 791 section 3.1: an option is a single octet, or type, length (counting type
// and length octets) and data, within the header. Each malformation is rejected.
BOOST_AUTO_TEST_CASE(option_errors) {
    const error bad{layer::ipv4, errc::bad_option, "options"};
    for (auto opts : {
             "07 00 0000",             // length 0
             "07 01 0000",             // length 1
             "88 08 0000",             // length past the end of the header
             "01 01 01 88",            // type octet without its length octet
             "94 03 00 00",            // router alert must be 4 octets (RFC 2113)
             "94 05 00 00 00 000000",  // nor 5
             "44 03 05 00",            // timestamp shorter than 4
             "07 02 0000",             // record route without its pointer
             "83 02 0000",             // loose source route without its pointer
             "89 02 0000",             // strict source route without its pointer
             "88 02 0000",             // stream id must be 4 octets
             "82 02 0000",             // security without classification level
         }) {
        auto h = with_options(opts);
        BOOST_TEST_CONTEXT("options " << opts) { BOOST_TEST(ipv4_view::parse(view(h)).error() == bad); }
    }
    // the range over raw option octets yields the error and stops
    auto raw = hex("01 07 00");
    std::size_t n = 0, errors = 0;
    for (const auto& o : ipv4_options(view(raw))) {
        ++n;
        if (!o) {
            ++errors;
            BOOST_TEST(o.error() == bad);
        }
    }
    BOOST_TEST(n == 2u);
    BOOST_TEST(errors == 1u);
    BOOST_TEST(ipv4_options::validate(view(raw)).error() == bad);
    // octets after end of list are padding, whatever they hold
    auto after_eol = with_options("00 07 00 00");
    BOOST_TEST(ipv4_view::parse(view(after_eol)).has_value());
}

BOOST_AUTO_TEST_CASE(repr_emit_errors) {
    ipv4_repr r{};
    std::vector<std::byte> out(64);
    r.dscp = 64;
    BOOST_TEST(r.emit(out).error() == (error{layer::ipv4, errc::bad_value, "dscp"}));
    r.dscp = 0;
    r.ecn = 4;
    BOOST_TEST(r.emit(out).error() == (error{layer::ipv4, errc::bad_value, "ecn"}));
    r.ecn = 0;
    r.fragment_offset = 12;  // not a multiple of 8
    BOOST_TEST(r.emit(out).error() == (error{layer::ipv4, errc::bad_value, "fragment_offset"}));
    r.fragment_offset = 8192 * 8;  // past the 13-bit field
    BOOST_TEST(r.emit(out).error() == (error{layer::ipv4, errc::bad_value, "fragment_offset"}));
    r.fragment_offset = 8191 * 8;
    BOOST_TEST(r.emit(out).has_value());
    r.fragment_offset = 0;
    r.payload_len = 65535 - 20 + 1;
    BOOST_TEST(r.emit(out).error() == (error{layer::ipv4, errc::too_long, "total_length"}));
    r.payload_len = 65535 - 20;
    BOOST_TEST(r.emit(out).has_value());  // the header alone fits; the caller writes the payload
    r.payload_len = 4;
    std::vector<std::byte> small(19);
    BOOST_TEST(r.emit(small).error() == (error{layer::ipv4, errc::buffer_too_small, "header"}));
    auto four = hex("01020304");
    std::vector<std::byte> hdr_only(20);
    BOOST_TEST(r.emit(hdr_only, view(four)).error() == (error{layer::ipv4, errc::buffer_too_small, "packet"}));
    auto three = hex("010203");
    BOOST_TEST(r.emit(out, view(three)).error() == (error{layer::ipv4, errc::bad_length, "payload"}));
    BOOST_TEST(*r.emit(out, view(four)) == 24u);
    // options: at most 40 octets, padded to a multiple of 4, well formed
    std::vector<std::byte> opts41(41, std::byte{1});
    BOOST_TEST(ipv4_option_bytes::make(opts41).error() == (error{layer::ipv4, errc::too_long, "options"}));
    auto nop3 = hex("010101");
    auto padded = ipv4_option_bytes::make(view(nop3));
    BOOST_REQUIRE(padded);
    BOOST_TEST(padded->size() == 4u);
    BOOST_TEST(std::to_integer<int>(padded->bytes()[3]) == 0);  // padded with end of list
    r.options = *ipv4_option_bytes::make(view(hex("9403 0000")));
    BOOST_TEST(r.emit(out).error() == (error{layer::ipv4, errc::bad_option, "options"}));
}

BOOST_AUTO_TEST_CASE(protocol_numbers) {
    // IANA "Assigned Internet Protocol Numbers"
    BOOST_TEST(ip_protocol::icmp == 1);
    BOOST_TEST(ip_protocol::igmp == 2);
    BOOST_TEST(ip_protocol::tcp == 6);
    BOOST_TEST(ip_protocol::udp == 17);
    BOOST_TEST(ip_protocol::ipv6 == 41);
    BOOST_TEST(ip_protocol::gre == 47);
    BOOST_TEST(ip_protocol::esp == 50);
    BOOST_TEST(ip_protocol::icmpv6 == 58);
}

BOOST_AUTO_TEST_SUITE_END()
