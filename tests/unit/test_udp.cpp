// UDP header, length rules and checksum over IPv4 and IPv6 pseudo headers (include/vnet/wire/udp.hpp).
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/udp.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::cat;
using vnet::test::hand_sum;
using vnet::test::hex;
using vnet::test::view;

namespace {

ipv4_address v4(const char* s) { return *ipv4_address::parse(s); }
ipv6_address v6(const char* s) { return *ipv6_address::parse(s); }

// A DNS response (NXDOMAIN for 2.2.0.10.in-addr.arpa PTR) from QEMU user networking's DNS
// proxy 10.0.2.3 to the guest 10.0.2.15, from a published `tcpdump -X` capture of a QEMU
// guest (IPv4 header 4500 0075 1347 0000 4011 4f20 0a00 0203 0a00 020f). The UDP part:
const auto slirp_dns_response = hex(
    "0035 835b 0061 9def"
    "90d6 8183 0001 0000 0001 0000 0132 0132 0130 0231 3007 696e 2d61 6464 7204 6172"
    "7061 0000 0c00 0102 3130 0749 4e2d 4144 4452 0441 5250 4100 0006 0001 0000 2237"
    "0017 c027 0000 0000 0000 0070 8000 001c 2000 093a 8000 0151 80");
const auto slirp_dns = v4("10.0.2.3");
const auto slirp_guest = v4("10.0.2.15");

// A DNS query "A? picslife.ru" with EDNS0 from 109.194.160.4:57766 to 95.211.92.14:53, from
// a published `tcpdump -X` capture (IPv4 header 4500 0044 89c4 0000 3811 2f3d ...).
const auto picslife_query = hex(
    "e1a6 0035 0030 a597"
    "f618 0010 0001 0000 0000 0001 0870 6963 736c 6966 6502 7275 0000 0100 0100 0029"
    "1000 0000 8000 0000");

}  // namespace

BOOST_AUTO_TEST_SUITE(udp)

BOOST_AUTO_TEST_CASE(dns_response_fields) {
    auto u = udp_view::parse(view(slirp_dns_response));
    BOOST_REQUIRE(u);
    BOOST_TEST(u->src_port() == well_known_port::dns);
    BOOST_TEST(u->dst_port() == 33627);
    BOOST_TEST(u->length() == 97);
    BOOST_TEST(u->checksum() == 0x9def);
    BOOST_TEST(u->payload().size() == 89u);
    BOOST_TEST(load_be16(u->payload(), 0) == 0x90d6);  // the DNS ID
    BOOST_TEST(u->bytes().size() == slirp_dns_response.size());
}

// RFC 768 "Checksum": the sum over pseudo header, header and data verifies. The hand sum
// below adds src, dst, zero/protocol 17 and the UDP length as words independently.
BOOST_AUTO_TEST_CASE(dns_checksums_verify_by_hand_and_by_view) {
    auto pseudo = hex("0a00 0203 0a00 020f 0011 0061");
    BOOST_TEST(hand_sum(cat(pseudo, slirp_dns_response)) == 0xffff);
    BOOST_TEST(udp_view::parse(view(slirp_dns_response))->checksum_ok(slirp_dns, slirp_guest));

    auto pseudo2 = hex("6dc2 a004 5fd3 5c0e 0011 0030");
    BOOST_TEST(hand_sum(cat(pseudo2, picslife_query)) == 0xffff);
    auto q = udp_view::parse(view(picslife_query));
    BOOST_REQUIRE(q);
    BOOST_TEST(q->checksum_ok(v4("109.194.160.4"), v4("95.211.92.14")));
    BOOST_TEST(q->dst_port() == 53);
    // swapping the addresses sums the same (the sum commutes); another address fails
    BOOST_TEST(q->checksum_ok(v4("95.211.92.14"), v4("109.194.160.4")));
    BOOST_TEST(!q->checksum_ok(v4("109.194.160.5"), v4("95.211.92.14")));
}

// A query captured on its sender before checksum offload: the field holds only the
// pseudo-header sum (Linux CHECKSUM_PARTIAL), so it does not verify. Same published capture,
// 10.0.2.15:46318 -> 10.0.2.3:53 "PTR? 15.2.0.10.in-addr.arpa".
BOOST_AUTO_TEST_CASE(offloaded_checksum_does_not_verify) {
    auto b = hex(
        "b4ee 0035 0030 1853 2369 0100 0001 0000 0000 0000 0231 3501 3201 3002 3130 0769"
        "6e2d 6164 6472 0461 7270 6100 000c 0001");
    auto u = udp_view::parse(view(b));
    BOOST_REQUIRE(u);
    BOOST_TEST(u->checksum() == hand_sum(hex("0a00 020f 0a00 0203 0011 0030")));
    BOOST_TEST(!u->checksum_ok(slirp_guest, slirp_dns));
    BOOST_TEST(udp_repr::parse(*u, slirp_guest, slirp_dns).error() == (error{layer::udp, errc::bad_checksum, "checksum"}));
}

BOOST_AUTO_TEST_CASE(repr_round_trip_v4) {
    auto u = *udp_view::parse(view(slirp_dns_response));
    auto r = udp_repr::parse(u, slirp_dns, slirp_guest);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->src_port == 53);
    BOOST_TEST(r->dst_port == 33627);
    BOOST_TEST(r->payload_len == 89u);
    BOOST_TEST(r->buffer_len() == slirp_dns_response.size());
    std::vector<std::byte> out(r->buffer_len());
    auto n = r->emit(out, u.payload(), slirp_dns, slirp_guest);
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == slirp_dns_response.size());
    BOOST_TEST(equal_bytes(out, view(slirp_dns_response)));
    // the payload already in place is left as it is
    std::vector<std::byte> inplace(out.size());
    store_bytes(inplace, 8, u.payload());
    BOOST_TEST(*r->emit(inplace, bytes_view(inplace).subspan(8), slirp_dns, slirp_guest) == out.size());
    BOOST_TEST(equal_bytes(inplace, out));
}

// RFC 8200 section 8.1: the IPv6 pseudo header is src, dst, 32-bit upper-layer length,
// three zero bytes and next header 17.
BOOST_AUTO_TEST_CASE(repr_round_trip_v6) {
    auto src = v6("fe80::215:5dff:fe00:10");
    auto dst = v6("ff02::1:3");  // LLMNR
    auto payload = hex("1234 0000 0001 0000 0000 0000 0465 666c 6f77 0000 0100 01");
    udp_repr r{50000, 5355, payload.size()};
    std::vector<std::byte> out(r.buffer_len());
    BOOST_REQUIRE(r.emit(out, view(payload), src, dst));
    auto pseudo = hex(
        "fe80 0000 0000 0000 0215 5dff fe00 0010 ff02 0000 0000 0000 0000 0000 0001 0003"
        "0000 001f 0000 0011");
    BOOST_TEST(hand_sum(cat(pseudo, out)) == 0xffff);
    auto u = udp_view::parse(out);
    BOOST_REQUIRE(u);
    BOOST_TEST(u->length() == 31);
    BOOST_TEST(u->checksum_ok(src, dst));
    BOOST_TEST(!u->checksum_ok(dst, v6("fe80::1")));
    auto back = udp_repr::parse(*u, src, dst);
    BOOST_REQUIRE(back);
    BOOST_TEST((*back == r));
    // the generic form with an explicit pseudo header agrees
    BOOST_TEST(u->checksum_ok(pseudo_header_v6(src, dst, udp_view::ip_protocol, 31), udp_zero_checksum::invalid));
}

// RFC 768: zero means the sender computed no checksum (IPv4). RFC 8200 section 8.1: over
// IPv6 a zero checksum is invalid and the datagram must be discarded.
BOOST_AUTO_TEST_CASE(zero_checksum_v4_none_v6_invalid) {
    auto b = slirp_dns_response;
    store_be16(b, udp_view::field::checksum, 0);
    auto u = *udp_view::parse(view(b));
    BOOST_TEST(u.checksum() == 0);
    BOOST_TEST(u.checksum_ok(slirp_dns, slirp_guest));
    BOOST_TEST(u.checksum_ok(v4("1.2.3.4"), v4("5.6.7.8")));  // nothing to verify
    BOOST_TEST(udp_repr::parse(u, slirp_dns, slirp_guest).has_value());
    auto s6 = v6("fe80::1");
    auto d6 = v6("fe80::2");
    BOOST_TEST(!u.checksum_ok(s6, d6));
    BOOST_TEST(udp_repr::parse(u, s6, d6).error() == (error{layer::udp, errc::bad_checksum, "checksum"}));
    BOOST_TEST(!u.checksum_ok(checksum_acc{}, udp_zero_checksum::invalid));
    BOOST_TEST(u.checksum_ok(checksum_acc{}, udp_zero_checksum::none));
}

// RFC 768 / RFC 8200 section 8.1: a computed checksum of zero is transmitted as all ones.
BOOST_AUTO_TEST_CASE(computed_zero_goes_out_as_ffff) {
    // Over 0.0.0.0 -> 0.0.0.0 with ports 0 -> 0 and a 2-byte payload P the sum is
    // 0x0011 (protocol) + 0x000a (pseudo length) + 0x000a (UDP length) + P; P = 0xffda makes
    // it 0xffff, whose complement is 0.
    auto payload = hex("ffda");
    BOOST_TEST(hand_sum(cat(hex("0000 0000 0000 0000 0011 000a 0000 0000 000a 0000"), payload)) == 0xffff);
    udp_repr r{0, 0, 2};
    std::vector<std::byte> out(10);
    BOOST_REQUIRE(r.emit(out, view(payload), ipv4_address::any(), ipv4_address::any()));
    BOOST_TEST(load_be16(out, udp_view::field::checksum) == 0xffff);
    auto u = *udp_view::parse(out);
    BOOST_TEST(u.checksum_ok(ipv4_address::any(), ipv4_address::any()));
    // the same over IPv6 (:: -> ::, 32-bit length 10, next header 17): sum 0x0011 + 0x000a + 0x000a + P
    BOOST_REQUIRE(r.emit(out, view(payload), ipv6_address{}, ipv6_address{}));
    BOOST_TEST(load_be16(out, udp_view::field::checksum) == 0xffff);
    BOOST_TEST(udp_view::parse(out)->checksum_ok(ipv6_address{}, ipv6_address{}));
}

BOOST_AUTO_TEST_CASE(bad_checksum_v4_and_v6) {
    auto b = slirp_dns_response;
    b[20] ^= std::byte{0x01};
    auto u = *udp_view::parse(view(b));
    BOOST_TEST(!u.checksum_ok(slirp_dns, slirp_guest));
    BOOST_TEST(udp_repr::parse(u, slirp_dns, slirp_guest).error() == (error{layer::udp, errc::bad_checksum, "checksum"}));

    auto src = v6("2001:db8::1");
    auto dst = v6("2001:db8::35");
    udp_repr r{40000, 53, 4};
    auto payload = hex("abcd ef01");
    std::vector<std::byte> out(12);
    BOOST_REQUIRE(r.emit(out, view(payload), src, dst));
    BOOST_TEST(udp_repr::parse(*udp_view::parse(out), src, dst).has_value());
    out[11] ^= std::byte{0x80};
    BOOST_TEST(udp_repr::parse(*udp_view::parse(out), src, dst).error() == (error{layer::udp, errc::bad_checksum, "checksum"}));
}

// RFC 768 "Length": the length in octets of the header and the data; the minimum is eight.
BOOST_AUTO_TEST_CASE(length_field_rules) {
    for (std::uint16_t len = 0; len < 8; ++len) {
        auto b = slirp_dns_response;
        store_be16(b, udp_view::field::length, len);
        BOOST_TEST(udp_view::parse(view(b)).error() == (error{layer::udp, errc::bad_length, "length"}));
    }
    auto longer = slirp_dns_response;
    store_be16(longer, udp_view::field::length, static_cast<std::uint16_t>(longer.size() + 1));
    BOOST_TEST(udp_view::parse(view(longer)).error() == (error{layer::udp, errc::bad_length, "length"}));

    // a buffer longer than the datagram (Ethernet minimum-frame padding): payload stops at length
    auto padded = slirp_dns_response;
    padded.insert(padded.end(), 6, std::byte{0});
    auto u = udp_view::parse(view(padded));
    BOOST_REQUIRE(u);
    BOOST_TEST(u->bytes().size() == 97u);
    BOOST_TEST(u->payload().size() == 89u);
    BOOST_TEST(u->checksum_ok(slirp_dns, slirp_guest));

    // an empty datagram (length 8) is valid
    auto empty = hex("0044 0043 0008 0000");
    auto e = udp_view::parse(view(empty));
    BOOST_REQUIRE(e);
    BOOST_TEST(e->payload().empty());
    BOOST_TEST(e->src_port() == well_known_port::dhcp_client);
    BOOST_TEST(e->dst_port() == well_known_port::dhcp_server);
}

BOOST_AUTO_TEST_CASE(truncated_at_every_byte) {
    test::for_each_truncation(view(slirp_dns_response), [](bytes_view b) {
        auto u = udp_view::parse(b);
        BOOST_TEST(!u);
        if (b.size() < 8) BOOST_TEST(u.error() == (error{layer::udp, errc::truncated, "header"}));
        else BOOST_TEST(u.error() == (error{layer::udp, errc::bad_length, "length"}));
    });
}

BOOST_AUTO_TEST_CASE(emit_errors) {
    auto payload = hex("0102 0304");
    udp_repr r{1, 2, 4};
    std::vector<std::byte> small(11);
    BOOST_TEST(r.emit(small, view(payload), slirp_dns, slirp_guest).error() ==
               (error{layer::udp, errc::buffer_too_small, "datagram"}));
    std::vector<std::byte> out(12);
    BOOST_TEST(r.emit(out, view(payload).first(3), slirp_dns, slirp_guest).error() ==
               (error{layer::udp, errc::bad_length, "payload"}));
    std::vector<std::byte> big(0x10000);
    udp_repr huge{1, 2, big.size() - 8};  // one byte more than the length field can say
    std::vector<std::byte> out2(big.size() + 8);
    BOOST_TEST(huge.emit(out2, view(big).first(huge.payload_len), slirp_dns, slirp_guest).error() ==
               (error{layer::udp, errc::too_long, "length"}));
    udp_repr largest{1, 2, udp_repr::max_payload_len};
    auto n = largest.emit(out2, view(big).first(largest.payload_len), slirp_dns, slirp_guest);
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == 0xffffu);
    BOOST_TEST(udp_view::parse(bytes_view(out2).first(*n))->checksum_ok(slirp_dns, slirp_guest));
}

// IANA service name registry: the ports the lab's internet server answers on (docs/design.md).
BOOST_AUTO_TEST_CASE(well_known_ports) {
    BOOST_TEST(well_known_port::dns == 53);
    BOOST_TEST(well_known_port::dhcp_server == 67);
    BOOST_TEST(well_known_port::dhcp_client == 68);
    BOOST_TEST(well_known_port::http == 80);
    BOOST_TEST(well_known_port::https == 443);
    BOOST_TEST(well_known_port::mqtt == 1883);
    BOOST_TEST(well_known_port::mqtts == 8883);
    BOOST_TEST(well_known_port::amqp == 5672);
    BOOST_TEST(well_known_port::amqps == 5671);
}

BOOST_AUTO_TEST_SUITE_END()
