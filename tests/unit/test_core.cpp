// Addresses, big-endian helpers and the expected type (include/vnet/core/).
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/core/mac.hpp>

#include "test_util.hpp"

using namespace vnet;

BOOST_AUTO_TEST_SUITE(core)

BOOST_AUTO_TEST_CASE(big_endian_round_trip) {
    std::array<std::byte, 8> buf{};
    store_be16(buf, 0, 0x1234);
    BOOST_TEST(u8(buf[0]) == 0x12);
    BOOST_TEST(u8(buf[1]) == 0x34);
    store_be32(buf, 2, 0xdeadbeef);
    BOOST_TEST(load_be32(buf, 2) == 0xdeadbeefu);
    store_be64(buf, 0, 0x0102030405060708ULL);
    BOOST_TEST(load_be64(buf, 0) == 0x0102030405060708ULL);
    BOOST_TEST(load_le32(buf, 0) == 0x04030201u);
    store_le16(buf, 0, 0xabcd);
    BOOST_TEST(load_be16(buf, 0) == 0xcdab);
    static_assert(load_be16(std::array<std::byte, 2>{std::byte{1}, std::byte{2}}, 0) == 0x0102);
}

BOOST_AUTO_TEST_CASE(in_bounds_has_no_overflow) {
    BOOST_TEST(in_bounds(10, 0, 10));
    BOOST_TEST(!in_bounds(10, 1, 10));
    BOOST_TEST(!in_bounds(10, 11, 0));
    BOOST_TEST(!in_bounds(10, 5, SIZE_MAX));
}

BOOST_AUTO_TEST_CASE(mac_parse_and_format) {
    auto m = mac_address::parse("00:15:5D:0a:0B:0c");
    BOOST_REQUIRE(m);
    BOOST_TEST(fmt::format("{}", *m) == "00:15:5d:0a:0b:0c");
    BOOST_TEST(*mac_address::parse("00-15-5D-0A-0B-0C") == *m);  // Hyper-V / Windows form
    BOOST_TEST(*mac_address::parse("00155d0a0b0c") == *m);
    BOOST_TEST(m->to_u64() == 0x00155d0a0b0cULL);
    BOOST_TEST(mac_address::from_u64(0x00155d0a0b0cULL) == *m);
    for (auto bad : {"", "00:15:5d:0a:0b", "00:15:5d:0a:0b:0g", "00:15-5d:0a:0b:0c", "00:15:5d:0a:0b:0c:", "0:15:5d:0a:0b:0c0"}) {
        auto r = mac_address::parse(bad);
        BOOST_TEST_INFO(bad);
        BOOST_TEST(!r);
        if (!r) BOOST_TEST(r.error().message().find("invalid MAC address") == 0u);
    }
}

BOOST_AUTO_TEST_CASE(mac_classes) {
    BOOST_TEST(mac_address::broadcast().is_broadcast());
    BOOST_TEST(mac_address::broadcast().is_multicast());
    BOOST_TEST((mac_address{0x01, 0x00, 0x5e, 0, 0, 1}).is_multicast());
    BOOST_TEST((mac_address{0x33, 0x33, 0, 0, 0, 1}).is_multicast());
    BOOST_TEST((mac_address{0x00, 0x15, 0x5d, 0, 0, 1}).is_unicast());
    BOOST_TEST((mac_address{0x02, 0, 0, 0, 0, 1}).is_local());
}

BOOST_AUTO_TEST_CASE(ipv4_parse_and_format) {
    auto a = ipv4_address::parse("192.168.0.10");
    BOOST_REQUIRE(a);
    BOOST_TEST(a->to_u32() == 0xc0a8000au);
    BOOST_TEST(fmt::format("{}", *a) == "192.168.0.10");
    BOOST_TEST(fmt::format("{}", ipv4_address(255, 255, 255, 255)) == "255.255.255.255");
    BOOST_TEST(ipv4_address::parse("0.0.0.0")->is_unspecified());
    // inet_pton rules: exactly four parts, 0-255, no leading zeros, nothing trailing
    for (auto bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.04", "1..2.3", "1.2.3.4 ", " 1.2.3.4", "a.b.c.d", "1.2.3.4/24",
                     "1.2.3.", "1234.1.1.1"}) {
        BOOST_TEST_INFO(bad);
        BOOST_TEST(!ipv4_address::parse(bad));
    }
    BOOST_TEST(ipv4_address::parse("1.2.3").error().message().find("invalid IPv4 address") == 0u);
}

BOOST_AUTO_TEST_CASE(ipv4_classes) {
    BOOST_TEST(ipv4_address(127, 0, 0, 1).is_loopback());
    BOOST_TEST(ipv4_address(224, 0, 0, 251).is_multicast());
    BOOST_TEST(ipv4_address(169, 254, 1, 1).is_link_local());
    BOOST_TEST(ipv4_address(172, 16, 0, 1).is_private());
    BOOST_TEST(ipv4_address(172, 31, 255, 1).is_private());
    BOOST_TEST(!ipv4_address(172, 32, 0, 1).is_private());
    BOOST_TEST(ipv4_address(10, 1, 2, 3).is_private());
    BOOST_TEST(ipv4_address(192, 168, 1, 1).is_private());
    BOOST_TEST(!ipv4_address(198, 51, 100, 10).is_private());
}

BOOST_AUTO_TEST_CASE(ipv4_prefix_arithmetic) {
    auto p = ipv4_prefix::parse("192.168.0.10/24");
    BOOST_REQUIRE(p);
    BOOST_TEST(fmt::format("{}", *p) == "192.168.0.10/24");
    BOOST_TEST(fmt::format("{}", p->network()) == "192.168.0.0");
    BOOST_TEST(fmt::format("{}", p->broadcast()) == "192.168.0.255");
    BOOST_TEST(fmt::format("{}", p->netmask()) == "255.255.255.0");
    BOOST_TEST(p->contains(*ipv4_address::parse("192.168.0.1")));
    BOOST_TEST(!p->contains(*ipv4_address::parse("192.168.1.1")));
    BOOST_TEST(p->is_network_or_broadcast(*ipv4_address::parse("192.168.0.255")));
    BOOST_TEST(p->size() == 256u);
    auto p20 = *ipv4_prefix::parse("172.17.240.0/20");
    BOOST_TEST(fmt::format("{}", p20.broadcast()) == "172.17.255.255");
    auto zero = *ipv4_prefix::parse("0.0.0.0/0");
    BOOST_TEST(zero.contains(ipv4_address(8, 8, 8, 8)));
    auto host = *ipv4_prefix::parse("10.0.0.1");
    BOOST_TEST(host.length() == 32);
    auto p31 = *ipv4_prefix::parse("10.0.0.0/31");
    BOOST_TEST(!p31.is_network_or_broadcast(ipv4_address(10, 0, 0, 0)));  // RFC 3021
    BOOST_TEST(ipv4_prefix::parse("10.0.0.0/8")->contains(*ipv4_prefix::parse("10.1.0.0/16")));
    for (auto bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0/8", "10.0.0.0/2a"}) {
        BOOST_TEST_INFO(bad);
        BOOST_TEST(!ipv4_prefix::parse(bad));
    }
    BOOST_TEST(ipv4_prefix::parse("10.0.0.0/33").error().message().find("prefix length") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(netmask_to_length) {
    BOOST_TEST(*ipv4_prefix::mask_length(ipv4_address(255, 255, 255, 0)) == 24);
    BOOST_TEST(*ipv4_prefix::mask_length(ipv4_address(255, 255, 240, 0)) == 20);
    BOOST_TEST(*ipv4_prefix::mask_length(ipv4_address(0, 0, 0, 0)) == 0);
    BOOST_TEST(*ipv4_prefix::mask_length(ipv4_address(255, 255, 255, 255)) == 32);
    BOOST_TEST(!ipv4_prefix::mask_length(ipv4_address(255, 0, 255, 0)));
}

BOOST_AUTO_TEST_CASE(ipv6_parse_and_canonical_format) {
    // RFC 5952 section 4 examples
    struct {
        const char* in;
        const char* out;
    } cases[] = {
        {"2001:db8:0:0:0:0:2:1", "2001:db8::2:1"},
        {"2001:0db8::0001", "2001:db8::1"},
        {"2001:db8::0:1", "2001:db8::1"},
        {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // a single zero group is not compressed
        {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},           // longest run wins
        {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},     // first of equal runs
        {"::", "::"},
        {"::1", "::1"},
        {"fe80::215:5dff:fe00:10", "fe80::215:5dff:fe00:10"},
        {"FF02::1:FF00:10", "ff02::1:ff00:10"},
        {"1::", "1::"},
        {"::ffff:192.0.2.1", "::ffff:c000:201"},
    };
    for (auto& c : cases) {
        BOOST_TEST_INFO(c.in);
        auto a = ipv6_address::parse(c.in);
        BOOST_REQUIRE(a);
        BOOST_TEST(fmt::format("{}", *a) == c.out);
    }
    for (auto bad : {"", ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3",
                     "12345::", "g::", "1:2:3:4:5:6:7:8::", ":1::", "1:", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4"}) {
        BOOST_TEST_INFO(bad);
        BOOST_TEST(!ipv6_address::parse(bad));
    }
}

BOOST_AUTO_TEST_CASE(ipv6_derived_addresses) {
    auto mac = *mac_address::parse("00:15:5d:00:00:10");
    auto ll = ipv6_address::link_local_from_mac(mac);
    BOOST_TEST(fmt::format("{}", ll) == "fe80::215:5dff:fe00:10");  // RFC 4291 appendix A
    BOOST_TEST(ll.is_link_local());
    BOOST_TEST(fmt::format("{}", ll.solicited_node()) == "ff02::1:ff00:10");
    BOOST_TEST(fmt::format("{}", ll.solicited_node().multicast_mac()) == "33:33:ff:00:00:10");
    BOOST_TEST(ipv6_address::all_nodes().is_multicast());
}

BOOST_AUTO_TEST_CASE(expected_holds_value_or_error) {
    result<int> ok = 5;
    BOOST_TEST(ok.has_value());
    BOOST_TEST(*ok == 5);
    result<int> bad = fail(layer::ipv4, errc::truncated, "header");
    BOOST_TEST(!bad);
    BOOST_TEST(bad.error().message() == "ip.header: truncated");
    BOOST_CHECK_THROW(bad.value(), bad_expected_access);
    BOOST_TEST(bad.value_or(7) == 7);
    result<std::string> s = std::string("abc");
    result<std::string> s2 = s;
    BOOST_TEST(*s2 == "abc");
    s2 = fail(layer::dns, errc::loop, "name");
    BOOST_TEST(fmt::format("{}", s2.error()) == "dns.name: pointer loop");
    expected<void, error> v;
    BOOST_TEST(v.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
