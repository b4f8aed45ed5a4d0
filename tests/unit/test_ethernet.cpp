// Ethernet II, 802.1Q / QinQ tag stacks and the Internet checksum (include/vnet/wire/).
#include <boost/test/unit_test.hpp>

#include <vector>

#include <fmt/format.h>

#include <vnet/wire/checksum.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/vlan.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::hex;
using vnet::test::view;

BOOST_AUTO_TEST_SUITE(ethernet)

// An ARP request from a Hyper-V MAC (00:15:5d:...) as it appears on the wire.
static const auto arp_frame = hex(
    "ffffffffffff 00155d000010 0806"
    "0001 0800 06 04 0001 00155d000010 c0a80064 000000000000 c0a80001");

BOOST_AUTO_TEST_CASE(parse_header) {
    auto f = ethernet_view::parse(view(arp_frame));
    BOOST_REQUIRE(f);
    BOOST_TEST(f->dst().is_broadcast());
    BOOST_TEST(fmt::format("{}", f->src()) == "00:15:5d:00:00:10");
    BOOST_TEST(f->ethertype() == ethertype::arp);
    BOOST_TEST(f->payload().size() == 28u);
    BOOST_TEST(!f->is_length());
}

BOOST_AUTO_TEST_CASE(truncated_at_every_byte) {
    test::for_each_truncation(view(arp_frame).first(14), [](bytes_view b) {
        auto f = ethernet_view::parse(b);
        BOOST_TEST(!f);
        BOOST_TEST(f.error() == (error{layer::ethernet, errc::truncated, "header"}));
    });
}

BOOST_AUTO_TEST_CASE(emit_round_trip) {
    auto f = *ethernet_view::parse(view(arp_frame));
    auto r = ethernet_repr::parse(f);
    std::vector<std::byte> out(r.buffer_len());
    BOOST_TEST(*r.emit(out) == 14u);
    BOOST_TEST(equal_bytes(out, view(arp_frame).first(14)));
    std::vector<std::byte> small(13);
    BOOST_TEST(r.emit(small).error().what == errc::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(single_tag) {
    // 802.1Q tag PCP 5, DEI 0, VID 10 in front of IPv4
    auto b = hex("00155d000020 00155d000010 8100 a00a 0800 4500");
    auto f = frame_view::parse(view(b));
    BOOST_REQUIRE(f);
    BOOST_TEST(f->tag_count() == 1u);
    BOOST_TEST(f->tag(0).pcp == 5);
    BOOST_TEST(f->tag(0).vid == 10);
    BOOST_TEST(!f->tag(0).dei);
    BOOST_TEST(*f->vlan_id() == 10);
    BOOST_TEST(f->ethertype() == ethertype::ipv4);
    BOOST_TEST(f->outer_ethertype() == ethertype::vlan);
    BOOST_TEST(f->header_len() == 18u);
    BOOST_TEST(f->payload().size() == 2u);
}

BOOST_AUTO_TEST_CASE(qinq_stack) {
    // S-tag VID 100 (0x88a8), C-tag VID 20 with DEI, then ARP
    auto b = hex("ffffffffffff 00155d000010 88a8 0064 8100 1014 0806");
    auto f = frame_view::parse(view(b));
    BOOST_REQUIRE(f);
    BOOST_TEST(f->tag_count() == 2u);
    BOOST_TEST(f->tag(0).tpid == ethertype::qinq);
    BOOST_TEST(f->tag(0).vid == 100);
    BOOST_TEST(f->tag(1).vid == 20);
    BOOST_TEST(f->tag(1).dei);
    BOOST_TEST(f->ethertype() == ethertype::arp);
    BOOST_TEST(f->header_len() == 22u);
}

BOOST_AUTO_TEST_CASE(priority_tag_has_no_vlan) {
    auto b = hex("ffffffffffff 00155d000010 8100 6000 0806");
    auto f = frame_view::parse(view(b));
    BOOST_REQUIRE(f);
    BOOST_TEST(f->tag_count() == 1u);
    BOOST_TEST(!f->vlan_id());
}

BOOST_AUTO_TEST_CASE(malformed_tag_stacks) {
    auto three = hex("ffffffffffff 00155d000010 88a8 0064 8100 0014 8100 0015 0806");
    BOOST_TEST(frame_view::parse(view(three)).error() == (error{layer::vlan, errc::too_long, "tags"}));
    auto reserved = hex("ffffffffffff 00155d000010 8100 0fff 0806");
    BOOST_TEST(frame_view::parse(view(reserved)).error() == (error{layer::vlan, errc::bad_value, "id"}));
    auto tagged = hex("ffffffffffff 00155d000010 88a8 0064 8100 1014 0806");
    test::for_each_truncation(view(tagged), [](bytes_view b) { BOOST_TEST(!frame_view::parse(b)); });
}

BOOST_AUTO_TEST_CASE(push_and_pop_tag) {
    std::vector<std::byte> tagged(arp_frame.size() + 4);
    auto n = push_vlan_tag(view(arp_frame), vlan_tag{ethertype::vlan, 0, false, 42}, tagged);
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == arp_frame.size() + 4);
    auto f = *frame_view::parse(tagged);
    BOOST_TEST(*f.vlan_id() == 42);
    BOOST_TEST(f.ethertype() == ethertype::arp);
    std::vector<std::byte> back(arp_frame.size());
    BOOST_TEST(*pop_vlan_tag(tagged, back) == arp_frame.size());
    BOOST_TEST(equal_bytes(back, view(arp_frame)));
    BOOST_TEST(pop_vlan_tag(view(arp_frame), back).error().what == errc::bad_value);
    BOOST_TEST(push_vlan_tag(view(arp_frame), vlan_tag{ethertype::vlan, 0, false, 4095}, tagged).error().what == errc::bad_value);
    std::vector<std::byte> small(arp_frame.size());
    BOOST_TEST(push_vlan_tag(view(arp_frame), vlan_tag{}, small).error().what == errc::buffer_too_small);
}

// RFC 1071 section 3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
BOOST_AUTO_TEST_CASE(rfc1071_example) {
    auto b = hex("0001f203f4f5f6f7");
    BOOST_TEST(checksum_acc{}.add(view(b)).sum() == 0xddf2);
    BOOST_TEST(internet_checksum(view(b)) == static_cast<std::uint16_t>(~0xddf2));
}

BOOST_AUTO_TEST_CASE(ipv4_header_checksum_known_vector) {
    // A widely cited IPv4 header whose checksum is 0xb861.
    auto h = hex("4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7");
    BOOST_TEST(internet_checksum(view(h)) == 0xb861);
    auto with = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
    BOOST_TEST(checksum_verifies(checksum_acc{}.add(view(with))));
}

BOOST_AUTO_TEST_CASE(incremental_update_matches_recompute) {
    // RFC 1624: change the source address and the checksum updated incrementally equals a fresh one.
    auto h = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
    std::uint16_t updated = checksum_update32(0xb861, 0xc0a80001u, 0xac110002u);
    auto h2 = hex("4500 0073 0000 4000 4011 0000 ac11 0002 c0a8 00c7");
    BOOST_TEST(updated == internet_checksum(view(h2)));
    // odd-length data is padded with a zero byte
    auto odd = hex("01");
    BOOST_TEST(checksum_acc{}.add(view(odd)).sum() == 0x0100);
}

BOOST_AUTO_TEST_SUITE_END()
