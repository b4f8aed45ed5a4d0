// pcap read/write through libpcap (include/vnet/wire/pcap.hpp).
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/lab/port_capture.hpp>
#include <vnet/wire/pcap.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using namespace std::chrono_literals;

namespace {
std::string temp_path(const char* name) {
    return (std::filesystem::temp_directory_path() / (std::string("vnet-test-") + std::to_string(::getpid()) + name)).string();
}
}  // namespace

BOOST_AUTO_TEST_SUITE(pcap_io)

BOOST_AUTO_TEST_CASE(write_then_read_back) {
    auto path = temp_path("-rw.pcap");
    auto f1 = test::hex("ffffffffffff00155d0000100806 0001080006040001");
    auto f2 = test::hex("00155d00002000155d0000100800 4500");
    {
        auto w = pcap_writer::create(path);
        BOOST_REQUIRE(w);
        w->write(test::view(f1), 1700000000s + 123456us);
        w->write(test::view(f2), 1700000001s);
        BOOST_TEST(w->flush().has_value());
    }
    auto r = pcap_reader::open(path);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->link_type() == linktype::ethernet);
    auto a = r->next();
    BOOST_REQUIRE(a);
    BOOST_REQUIRE(a->has_value());
    BOOST_TEST(equal_bytes((*a)->data, test::view(f1)));
    BOOST_TEST((*a)->timestamp.count() == std::chrono::nanoseconds(1700000000s + 123456us).count());
    BOOST_TEST((*a)->orig_len == f1.size());
    auto b = r->next();
    BOOST_REQUIRE(b);
    BOOST_REQUIRE(b->has_value());
    BOOST_TEST(equal_bytes((*b)->data, test::view(f2)));
    auto end = r->next();
    BOOST_REQUIRE(end);
    BOOST_TEST(!end->has_value());
    std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(snaplen_cuts_but_keeps_original_length) {
    auto path = temp_path("-snap.pcap");
    std::vector<std::byte> big(200, std::byte{0xab});
    {
        auto w = pcap_writer::create(path, linktype::ethernet, 64);
        BOOST_REQUIRE(w);
        w->write(big);
    }
    auto r = pcap_reader::open(path);
    BOOST_REQUIRE(r);
    auto a = r->next();
    BOOST_REQUIRE(a);
    BOOST_REQUIRE(a->has_value());
    BOOST_TEST((*a)->data.size() == 64u);
    BOOST_TEST((*a)->orig_len == 200u);
    std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(errors_carry_the_reason) {
    auto r = pcap_reader::open("/nonexistent/vnet.pcap");
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().message.find("No such file") != std::string::npos);
    auto path = temp_path("-garbage.pcap");
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        std::fputs("this is not a capture file at all", f);
        std::fclose(f);
    }
    auto g = pcap_reader::open(path);
    BOOST_TEST(!g);
    std::filesystem::remove(path);
    auto w = pcap_writer::create("/nonexistent/dir/out.pcap");
    BOOST_TEST(!w);
}

BOOST_AUTO_TEST_SUITE_END()

// What a port's capture says about a ping (include/vnet/lab/port_capture.hpp): vm1
// (00:15:5d:00:00:11, 10.0.1.11/24) pings vm2 (00:15:5d:00:00:22, 10.0.2.12) through a
// gateway 10.0.1.1 on the same switch.
namespace {
const auto vm1_mac = *mac_address::parse("00:15:5d:00:00:11");
const auto vm2_mac = *mac_address::parse("00:15:5d:00:00:22");
const auto target = *ipv4_address::parse("10.0.2.12");
// who-has 10.0.1.1 tell 10.0.1.11
const auto arp_request = test::hex("ffffffffffff 00155d000011 0806 0001080006040001 00155d000011 0a00010b 000000000000 0a000101");
// 10.0.1.1 is-at 00:15:5d:00:00:99 (a router that owns the gateway)
const auto arp_reply = test::hex("00155d000011 00155d000099 0806 0001080006040002 00155d000099 0a000101 00155d000011 0a00010b");
// echo request 10.0.1.11 -> 10.0.2.12, as vm1 sends it to the gateway (TTL 64) and as a
// router hands it to vm2 (TTL 63)
const auto echo_sent = test::hex("00155d000099 00155d000011 0800 4500001c00000000400163cb0a00010b0a00020c 0800f7fd00010001");
const auto echo_routed = test::hex("00155d000022 00155d000099 0800 4500001c000000003f0164cb0a00010b0a00020c 0800f7fd00010001");

void write_capture(const std::string& path,
                   const std::vector<std::pair<std::chrono::nanoseconds, std::vector<std::byte>>>& frames) {
    auto w = pcap_writer::create(path);
    BOOST_REQUIRE(w);
    for (const auto& [t, f] : frames) w->write(test::view(f), t);
    BOOST_REQUIRE(w->flush().has_value());
}
}  // namespace

BOOST_AUTO_TEST_SUITE(port_capture_evidence)

BOOST_AUTO_TEST_CASE(a_layer2_switch_leaves_the_destination_without_echo_requests) {
    const std::chrono::nanoseconds t0 = 1700000000s;
    auto from = temp_path("-l2-from.pcap"), to = temp_path("-l2-to.pcap");
    // One request before the window (not counted), three in it, none answered.
    write_capture(from, {{t0 - 1s, arp_request}, {t0, arp_request}, {t0 + 1s, arp_request}, {t0 + 2s, arp_request}});
    write_capture(to,
                  {{t0 - 1s, arp_request}, {t0 + 1ms, arp_request}, {t0 + 1s + 1ms, arp_request}, {t0 + 2s + 1ms, arp_request}});
    auto s = lab::read_port_capture(from, t0, vm1_mac, target);
    auto d = lab::read_port_capture(to, t0, vm2_mac, target);
    BOOST_REQUIRE(s);
    BOOST_REQUIRE(d);
    BOOST_TEST(s->sent == 3u);
    BOOST_TEST(s->arp_requests_sent == 3u);
    BOOST_TEST(s->arp_replies_handed == 0u);
    BOOST_TEST(s->echo_requests_sent == 0u);
    BOOST_TEST(d->handed == 3u);
    BOOST_TEST(d->echo_requests_handed == 0u);
    BOOST_TEST(lab::describe_sender("vm1-eth0", *s, target) ==
               "vm1-eth0's capture: 3 frames sent: 3 ARP requests (who-has 10.0.1.1), 0 echo requests to 10.0.2.12; 0 ARP "
               "replies handed to it");
    BOOST_TEST(lab::describe_receiver("vm2-eth0", *d, target) ==
               "vm2-eth0's capture: 0 echo requests to 10.0.2.12 handed to it (3 frames in all)");
    std::filesystem::remove(from);
    std::filesystem::remove(to);
}

BOOST_AUTO_TEST_CASE(a_routing_switch_hands_the_destination_the_echo_request) {
    const std::chrono::nanoseconds t0 = 1700000000s;
    auto from = temp_path("-r-from.pcap"), to = temp_path("-r-to.pcap");
    write_capture(from, {{t0, arp_request}, {t0 + 1ms, arp_reply}, {t0 + 2ms, echo_sent}});
    write_capture(to, {{t0 + 1ms, arp_request}, {t0 + 3ms, echo_routed}});
    auto s = lab::read_port_capture(from, t0, vm1_mac, target);
    auto d = lab::read_port_capture(to, t0, vm2_mac, target);
    BOOST_REQUIRE(s);
    BOOST_REQUIRE(d);
    BOOST_TEST(s->arp_replies_handed == 1u);
    BOOST_TEST(s->echo_requests_sent == 1u);
    BOOST_TEST(d->echo_requests_handed == 1u);
    BOOST_TEST(lab::describe_sender("vm1-eth0", *s, target) ==
               "vm1-eth0's capture: 2 frames sent: 1 ARP request (who-has 10.0.1.1), 1 echo request to 10.0.2.12; 1 ARP reply "
               "handed to it");
    BOOST_TEST(lab::describe_receiver("vm2-eth0", *d, target) ==
               "vm2-eth0's capture: 1 echo request to 10.0.2.12 handed to it (2 frames in all)");
    std::filesystem::remove(from);
    std::filesystem::remove(to);
}

BOOST_AUTO_TEST_CASE(malformed_frames_are_counted_and_a_missing_capture_is_an_error) {
    const std::chrono::nanoseconds t0 = 1700000000s;
    auto path = temp_path("-bad.pcap");
    auto cut_arp = arp_request;
    cut_arp.resize(20);  // Ethernet header and 6 octets of ARP
    auto cut_icmp = echo_routed;
    cut_icmp.resize(14 + 20 + 2);  // an IPv4 header claiming 28 octets, 2 present
    write_capture(path, {{t0, test::hex("0011")}, {t0, cut_arp}, {t0, cut_icmp}, {t0, echo_routed}});
    auto d = lab::read_port_capture(path, t0, vm2_mac, target);
    BOOST_REQUIRE(d);
    BOOST_TEST(d->undecodable == 3u);
    BOOST_TEST(d->echo_requests_handed == 1u);
    std::filesystem::remove(path);
    auto missing = lab::read_port_capture(path, t0, vm2_mac, target);
    BOOST_REQUIRE(!missing);
    BOOST_TEST(!missing.error().message.empty());
}

BOOST_AUTO_TEST_SUITE_END()
