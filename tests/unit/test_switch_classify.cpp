// The switch's classifier (include/vnet/switch/classify.hpp): the one place where the
// switch reads L2 / L3 / L4 fields; bounds-checked at every byte.
#include <boost/test/unit_test.hpp>

#include <vector>

#include <vnet/switch/classify.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::sw;
using vnet::test::hex;
using vnet::test::view;

BOOST_AUTO_TEST_SUITE(switch_classify)

// A DHCPOFFER as a rogue server in a VM sends it: IPv4 (RFC 791) + UDP 67 -> 68 (RFC 2131).
static const auto dhcp_offer = hex(
    "ffffffffffff 00155d000010 0800"
    "45 00 0148 0000 0000 40 11 0000 c0a80064 ffffffff"
    "0043 0044 0134 0000");

// A router advertisement in 802.1Q VLAN 10: IPv6 (RFC 8200) + ICMPv6 type 134 (RFC 4861).
static const auto tagged_ra = hex(
    "333300000001 00155d000010 8100 000a 86dd"
    "60000000 0010 3a ff fe800000000000000215 5dfffe000010 ff020000000000000000000000000001"
    "86 00 0000");

BOOST_AUTO_TEST_CASE(l2_fields) {
    l2_info l2;
    BOOST_REQUIRE(classify_l2(view(tagged_ra), l2));
    BOOST_TEST(l2.tagged);
    BOOST_TEST(l2.vid == 10);
    BOOST_TEST(l2.ethertype == 0x86dd);
    BOOST_TEST(l2.l3_offset == 18);
    BOOST_TEST(l2.dst_is_group());
    BOOST_TEST(!l2.src_is_group());
    BOOST_TEST(l2.src == 0x00155d000010ULL);
}

BOOST_AUTO_TEST_CASE(dhcp_server_message) {
    l2_info l2;
    BOOST_REQUIRE(classify_l2(view(dhcp_offer), l2));
    const auto k = classify_l3(view(dhcp_offer), l2);
    BOOST_TEST(k.ip_version == 4);
    BOOST_TEST(k.proto == ip_proto::udp);
    BOOST_TEST(k.sport == 67);
    BOOST_TEST(k.dport == 68);
    BOOST_TEST(k.src4 == ipv4_address(192, 168, 0, 100));
    BOOST_TEST(k.is_dhcp_server());
    BOOST_TEST(!k.is_router_message());
}

BOOST_AUTO_TEST_CASE(router_advertisement) {
    l2_info l2;
    BOOST_REQUIRE(classify_l2(view(tagged_ra), l2));
    const auto k = classify_l3(view(tagged_ra), l2);
    BOOST_TEST(k.ip_version == 6);
    BOOST_TEST(k.proto == ip_proto::icmpv6);
    BOOST_TEST(k.icmp_type == 134);
    BOOST_TEST(k.is_router_message());
    BOOST_TEST(k.dst6 == ipv6_address::all_nodes());
}

// RFC 8200 section 4: extension headers before the upper layer are walked; a later
// fragment has no ports.
BOOST_AUTO_TEST_CASE(ipv6_extension_headers_and_fragments) {
    auto f = hex(
        "00155d000020 00155d000010 86dd"
        "60000000 0018 00 40 fe800000000000000000000000000001 fe800000000000000000000000000002"
        "11 00 0000 00000000"    // hop-by-hop, 8 octets, next UDP
        "0223 0222 0008 0000");  // UDP 547 -> 546
    l2_info l2;
    BOOST_REQUIRE(classify_l2(view(f), l2));
    auto k = classify_l3(view(f), l2);
    BOOST_TEST(k.proto == ip_proto::udp);
    BOOST_TEST(k.is_dhcp_server());
    auto frag = hex(
        "00155d000020 00155d000010 86dd"
        "60000000 0010 2c 40 fe800000000000000000000000000001 fe800000000000000000000000000002"
        "11 00 0008 00000001"  // fragment header, offset 1 (a later fragment)
        "0223 0222 0008 0000");
    BOOST_REQUIRE(classify_l2(view(frag), l2));
    k = classify_l3(view(frag), l2);
    BOOST_TEST(k.proto == ip_proto::udp);
    BOOST_TEST(!k.has_ports);
    BOOST_TEST(!k.is_dhcp_server());
}

// docs/design.md "Principles": parsing never reads out of bounds; every truncation is safe
// (run under ASan / UBSan in the sanitizer build).
BOOST_AUTO_TEST_CASE(every_truncation_is_safe) {
    for (const auto* frame : {&dhcp_offer, &tagged_ra}) {
        test::for_each_truncation(view(*frame), [](bytes_view b) {
            l2_info l2;
            if (!classify_l2(b, l2)) {
                BOOST_TEST(b.size() < 18u);
                return;
            }
            const auto k = classify_l3(b, l2);
            // ports are read only when all four octets are there; a truncated offer that
            // still holds them is a DHCP server message (a guard drops it too)
            BOOST_TEST(k.has_ports == (k.ip_version == 4 && b.size() >= 14u + 20u + 4u));
            BOOST_TEST(k.has_icmp_type == (k.ip_version == 6 && b.size() >= 18u + 40u + 1u));
        });
    }
    l2_info l2;
    BOOST_TEST(!classify_l2(view(hex("ffffffffffff 00155d000010 8100 0fff 0800")), l2));  // VID 4095
    BOOST_TEST(!classify_l2(view(hex("ffffffffffff 00155d000010 8100 0001 8100 0002 8100 0003 0800")), l2));
}

BOOST_AUTO_TEST_SUITE_END()
