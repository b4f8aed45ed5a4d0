// ARP for Ethernet/IPv4 (include/vnet/wire/arp.hpp): RFC 826, RFC 5227.
#include <boost/test/unit_test.hpp>

#include <vector>

#include <fmt/format.h>

#include <vnet/wire/arp.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::hex;
using vnet::test::view;

BOOST_AUTO_TEST_SUITE(arp)

// A Linux who-has and its reply captured with `tcpdump -X` (ARP payload only, the
// request with its 18 octets of Ethernet padding), published in "ARP learning notes
// (Linux high performance service programming)",
// https://topic.alibabacloud.com/a/arp-learning-notes-linux-high-performance-service-programming_1_16_30212073.html
// "Request who-has 192.168.5.190 tell 192.168.5.109, length 46"
static const auto linux_request = hex(
    "0001 0800 0604 0001 bcee 7b9d ee02 c0a8"
    "056d 0000 0000 0000 c0a8 05be 0000 0000"
    "0000 0000 0000 0000 0000 0000 0000");
// "Reply 192.168.5.190 is-at 40:16:7e:79:c7:36, length 28"
static const auto linux_reply = hex(
    "0001 0800 0604 0002 4016 7e79 c736 c0a8"
    "05be bcee 7b9d ee02 c0a8 056d");

BOOST_AUTO_TEST_CASE(parse_captured_request) {
    auto a = arp_view::parse(view(linux_request));
    BOOST_REQUIRE(a);
    BOOST_TEST(a->hardware_type() == 1);
    BOOST_TEST(a->protocol_type() == 0x0800);
    BOOST_TEST(a->hardware_len() == 6);
    BOOST_TEST(a->protocol_len() == 4);
    BOOST_TEST(a->is_request());
    BOOST_TEST(!a->is_reply());
    BOOST_TEST(fmt::format("{}", a->sender_mac()) == "bc:ee:7b:9d:ee:02");
    BOOST_TEST(a->sender_ip() == ipv4_address(192, 168, 5, 109));
    BOOST_TEST(a->target_mac().is_zero());
    BOOST_TEST(a->target_ip() == ipv4_address(192, 168, 5, 190));
    BOOST_TEST(!a->is_gratuitous());
    BOOST_TEST(!a->is_probe());
    // RFC 826 packets are 28 octets; the rest of a 60-octet frame is padding.
    BOOST_TEST(a->packet().size() == 28u);
    BOOST_TEST(a->padding().size() == 18u);
}

BOOST_AUTO_TEST_CASE(gateway_reply_matches_capture) {
    // RFC 826 "Packet Reception": swap sender and target, fill in the local hardware
    // address, set the opcode to reply. The responder's answer must equal the capture.
    auto rq = arp_repr::parse(*arp_view::parse(view(linux_request)));
    BOOST_REQUIRE(rq);
    auto rp = arp_repr::make_reply(*rq, mac_address(0x40, 0x16, 0x7e, 0x79, 0xc7, 0x36));
    std::vector<std::byte> out(rp.buffer_len());
    BOOST_TEST(*rp.emit(out) == 28u);
    BOOST_TEST(equal_bytes(out, view(linux_reply)));
    auto parsed = arp_repr::parse(*arp_view::parse(view(linux_reply)));
    BOOST_REQUIRE(parsed);
    BOOST_TEST((*parsed == rp));
    BOOST_TEST((parsed->operation == arp_operation::reply));
}

BOOST_AUTO_TEST_CASE(emit_round_trip) {
    auto r = arp_repr::make_request(mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, 0x10), ipv4_address(172, 20, 0, 10),
                                    ipv4_address(172, 20, 0, 1));
    std::vector<std::byte> out(28);
    BOOST_REQUIRE(r.emit(out));
    auto back = arp_repr::parse(*arp_view::parse(out));
    BOOST_REQUIRE(back);
    BOOST_TEST((*back == r));
    // the request of the capture: parse -> repr -> emit gives the same 28 octets
    auto cap = *arp_repr::parse(*arp_view::parse(view(linux_request)));
    BOOST_REQUIRE(cap.emit(out));
    BOOST_TEST(equal_bytes(out, view(linux_request).first(28)));
    std::vector<std::byte> small(27);
    BOOST_TEST(r.emit(small).error() == (error{layer::arp, errc::buffer_too_small, "header"}));
}

// RFC 5227 section 2.1.1: a probe has sender IP 0.0.0.0 and target MAC zero.
BOOST_AUTO_TEST_CASE(probe_per_rfc5227) {
    auto p = arp_repr::make_probe(mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, 0x10), ipv4_address(192, 168, 0, 100));
    std::vector<std::byte> out(28);
    BOOST_REQUIRE(p.emit(out));
    auto v = *arp_view::parse(out);
    BOOST_TEST(v.is_probe());
    BOOST_TEST(!v.is_gratuitous());
    BOOST_TEST(v.sender_ip().is_unspecified());
    BOOST_TEST(v.target_mac().is_zero());
    BOOST_TEST(p.is_probe());
}

// RFC 5227 section 2.3: an announcement has sender IP == target IP (a gratuitous ARP).
BOOST_AUTO_TEST_CASE(announcement_is_gratuitous) {
    auto a = arp_repr::make_announcement(mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, 0x10), ipv4_address(192, 168, 0, 100));
    std::vector<std::byte> out(28);
    BOOST_REQUIRE(a.emit(out));
    auto v = *arp_view::parse(out);
    BOOST_TEST(v.is_gratuitous());
    BOOST_TEST(!v.is_probe());
    BOOST_TEST(a.is_gratuitous());
    // a gratuitous reply counts too
    auto reply = hex("0001 0800 0604 0002 00155d000010 c0a80064 ffffffffffff c0a80064");
    BOOST_TEST(arp_view::parse(view(reply))->is_gratuitous());
}

BOOST_AUTO_TEST_CASE(truncated_at_every_byte) {
    test::for_each_truncation(view(linux_reply), [](bytes_view b) {
        auto a = arp_view::parse(b);
        BOOST_TEST(!a);
        BOOST_TEST(a.error() == (error{layer::arp, errc::truncated, "header"}));
    });
}

// RFC 826: ar$hrd, ar$pro, ar$hln, ar$pln describe the addresses; vnet speaks Ethernet/IPv4 only.
BOOST_AUTO_TEST_CASE(other_hardware_or_protocol_unsupported) {
    auto b = linux_reply;
    b[1] = std::byte{6};  // IEEE 802 networks
    BOOST_TEST(arp_view::parse(view(b)).error() == (error{layer::arp, errc::unsupported, "htype"}));
    b = linux_reply;
    b[2] = std::byte{0x86};
    b[3] = std::byte{0xdd};
    BOOST_TEST(arp_view::parse(view(b)).error() == (error{layer::arp, errc::unsupported, "ptype"}));
    b = linux_reply;
    b[4] = std::byte{8};
    BOOST_TEST(arp_view::parse(view(b)).error() == (error{layer::arp, errc::unsupported, "hlen"}));
    b = linux_reply;
    b[5] = std::byte{16};
    BOOST_TEST(arp_view::parse(view(b)).error() == (error{layer::arp, errc::unsupported, "plen"}));
    // the unsupported field is reported even when the packet is shorter than 28 octets
    BOOST_TEST(arp_view::parse(view(b).first(10)).error().what == errc::unsupported);
}

BOOST_AUTO_TEST_CASE(other_operation_not_a_repr) {
    auto b = linux_reply;
    b[7] = std::byte{3};  // RARP request
    auto v = arp_view::parse(view(b));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->operation() == 3);
    BOOST_TEST(!v->is_request());
    BOOST_TEST(!v->is_reply());
    BOOST_TEST(arp_repr::parse(*v).error() == (error{layer::arp, errc::unsupported, "oper"}));
}

BOOST_AUTO_TEST_SUITE_END()
