// The host vNIC's ARP / gateway responder (include/vnet/services/gateway.hpp): RFC 826
// ARP replies and the merge rule, RFC 5227 probes and conflict defence, RFC 792 echo
// replies, and the neighbor table the Default Switch uses to reach its VMs.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <vnet/services/gateway.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/icmpv4.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/udp.hpp>
#include <vnet/wire/vlan.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::svc;
using namespace vnet::wire;
using namespace std::chrono_literals;

VNET_TEST_PRINTABLE_NAMESPACE(vnet::svc)

namespace vnet::svc {
inline std::ostream& operator<<(std::ostream& os, gateway_verdict v) { return os << to_string(v); }
inline std::ostream& operator<<(std::ostream& os, gateway_drop d) { return os << to_string(d); }
}  // namespace vnet::svc

namespace {

using time_point = gateway_responder::time_point;
const time_point t0 = time_point(std::chrono::seconds(1000));

const mac_address gw_mac(0x00, 0x15, 0x5d, 0x00, 0x00, 0x01);
const ipv4_address gw_ip(172, 31, 96, 1);
const mac_address vm_mac(0x00, 0x15, 0x5d, 0x00, 0x00, 0x10);
const ipv4_address vm_ip(172, 31, 100, 171);  // the [TS] example address (docs/eflow-facts.md)
const mac_address other_mac(0x00, 0x15, 0x5d, 0x00, 0x00, 0x11);

gateway_responder make_gw() {
    auto g = gateway_responder::make({gw_mac, ipv4_prefix(gw_ip, 20)});
    BOOST_REQUIRE(g);
    return std::move(*g);
}

std::vector<std::byte> eth_frame(mac_address dst, mac_address src, std::uint16_t type, bytes_view payload) {
    std::vector<std::byte> f(ethernet_view::header_len + payload.size());
    BOOST_REQUIRE((ethernet_repr{dst, src, type}.emit(f)));
    store_bytes(f, ethernet_view::header_len, payload);
    return f;
}

std::vector<std::byte> arp_frame(const arp_repr& a, mac_address dst = mac_address::broadcast()) {
    std::vector<std::byte> p(arp_repr::header_len);
    BOOST_REQUIRE(a.emit(p));
    return eth_frame(dst, a.sender_mac, ethertype::arp, p);
}

std::vector<std::byte> ip_frame(mac_address dst_mac, mac_address src_mac, ipv4_address src, ipv4_address dst, std::uint8_t proto,
                                bytes_view l4, std::uint8_t ttl = 64) {
    ipv4_repr h;
    h.src = src;
    h.dst = dst;
    h.protocol = proto;
    h.ttl = ttl;
    h.payload_len = l4.size();
    std::vector<std::byte> p(h.buffer_len());
    BOOST_REQUIRE(h.emit(p));
    store_bytes(p, h.header_len(), l4);
    return eth_frame(dst_mac, src_mac, ethertype::ipv4, p);
}

std::vector<std::byte> echo_request(std::uint16_t id, std::uint16_t seq, bytes_view data) {
    icmpv4_repr r{icmpv4_echo_request{id, seq, data}};
    std::vector<std::byte> b(r.buffer_len());
    BOOST_REQUIRE(r.emit(b));
    return b;
}

struct reply {
    gateway_result r;
    std::vector<std::byte> frame;
};

reply handle(gateway_responder& g, bytes_view f, time_point now = t0) {
    std::vector<std::byte> out(std::max<std::size_t>(f.size(), 60) + 64);
    reply rp;
    rp.r = g.handle_frame(f, now, out);
    out.resize(rp.r.length);
    rp.frame = std::move(out);
    return rp;
}

arp_repr arp_of(bytes_view frame) {
    auto f = frame_view::parse(frame);
    BOOST_REQUIRE(f);
    BOOST_REQUIRE_EQUAL(f->ethertype(), ethertype::arp);
    auto v = arp_view::parse(f->payload());
    BOOST_REQUIRE(v);
    auto a = arp_repr::parse(*v);
    BOOST_REQUIRE(a);
    return *a;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gateway_arp)

// RFC 826 "Packet Reception": a request for our address is answered with our hardware
// address, swapping sender and target, unicast to the requester.
BOOST_AUTO_TEST_CASE(request_for_our_address_gets_a_unicast_reply) {
    auto g = make_gw();
    const auto rq = arp_frame(arp_repr::make_request(vm_mac, vm_ip, gw_ip));
    auto rp = handle(g, rq);
    BOOST_TEST(rp.r.verdict == gateway_verdict::replied);
    BOOST_REQUIRE_EQUAL(rp.frame.size(), 60u);  // 14 + 28 padded to the 802.3 minimum
    auto e = ethernet_view::parse(rp.frame);
    BOOST_REQUIRE(e);
    BOOST_TEST(e->dst() == vm_mac);
    BOOST_TEST(e->src() == gw_mac);
    const arp_repr a = arp_of(rp.frame);
    BOOST_TEST((a.operation == arp_operation::reply));
    BOOST_TEST(a.sender_mac == gw_mac);
    BOOST_TEST(a.sender_ip == gw_ip);
    BOOST_TEST(a.target_mac == vm_mac);
    BOOST_TEST(a.target_ip == vm_ip);
    BOOST_TEST(g.counters().arp_requests == 1u);
    BOOST_TEST(g.counters().arp_replies == 1u);
    // "Am I the target protocol address? Yes: add the triplet" (RFC 826).
    BOOST_TEST((g.neighbor(vm_ip, t0) == std::optional<mac_address>(vm_mac)));
    BOOST_TEST(g.counters().learned == 1u);
}

// RFC 826: a request for another address is not answered, and its sender is only merged
// when already known.
BOOST_AUTO_TEST_CASE(request_for_another_address_is_not_ours_and_not_learned) {
    auto g = make_gw();
    auto rp = handle(g, arp_frame(arp_repr::make_request(vm_mac, vm_ip, ipv4_address(172, 31, 96, 50))));
    BOOST_TEST(rp.r.verdict == gateway_verdict::not_ours);
    BOOST_TEST(rp.r.length == 0u);
    BOOST_TEST(!g.neighbor(vm_ip, t0).has_value());
    BOOST_TEST(g.counters().not_ours == 1u);
}

// RFC 826 merge: a known sender's new hardware address replaces the old one, even in a
// packet for someone else (a gratuitous ARP after a NIC change).
BOOST_AUTO_TEST_CASE(known_sender_is_merged_from_any_arp) {
    auto g = make_gw();
    (void)handle(g, arp_frame(arp_repr::make_request(vm_mac, vm_ip, gw_ip)));
    auto rp = handle(g, arp_frame(arp_repr::make_announcement(other_mac, vm_ip)));
    BOOST_TEST(rp.r.verdict == gateway_verdict::absorbed);
    BOOST_TEST((g.neighbor(vm_ip, t0) == std::optional<mac_address>(other_mac)));
}

// Only stations inside the host vNIC's prefix are kept.
BOOST_AUTO_TEST_CASE(sender_outside_the_prefix_is_answered_but_not_kept) {
    auto g = make_gw();
    auto rp = handle(g, arp_frame(arp_repr::make_request(vm_mac, ipv4_address(10, 0, 0, 5), gw_ip)));
    BOOST_TEST(rp.r.verdict == gateway_verdict::replied);
    BOOST_TEST(g.neighbors().size() == 0u);
}

// RFC 5227 section 2.1.1: a probe (sender IP 0.0.0.0) for our address is answered, which
// tells the prober the address is in use; it is counted as a defended probe.
BOOST_AUTO_TEST_CASE(probe_for_our_address_is_answered_and_counted) {
    auto g = make_gw();
    auto rp = handle(g, arp_frame(arp_repr::make_probe(other_mac, gw_ip)));
    BOOST_TEST(rp.r.verdict == gateway_verdict::replied);
    const arp_repr a = arp_of(rp.frame);
    BOOST_TEST(a.sender_ip == gw_ip);
    BOOST_TEST(a.target_mac == other_mac);
    BOOST_TEST(a.target_ip == ipv4_address::any());
    BOOST_TEST(g.counters().probes_defended == 1u);
    BOOST_TEST(g.neighbors().size() == 0u);  // 0.0.0.0 is never learned
    // A probe for another address is none of our business.
    (void)handle(g, arp_frame(arp_repr::make_probe(other_mac, vm_ip)));
    BOOST_TEST(g.counters().probes_defended == 1u);
}

// RFC 5227 section 2.4: an ARP packet with our address as sender IP and another MAC is a
// conflict; we defend with one announcement per DEFEND_INTERVAL (10 s) and keep the address.
BOOST_AUTO_TEST_CASE(conflicting_arp_is_counted_and_defended_once_per_interval) {
    auto g = make_gw();
    const auto claim = arp_frame(arp_repr::make_announcement(other_mac, gw_ip));
    auto r1 = handle(g, claim, t0);
    BOOST_TEST(r1.r.verdict == gateway_verdict::replied);
    BOOST_TEST(g.counters().conflicts == 1u);
    BOOST_TEST(g.counters().announcements == 1u);
    auto e = ethernet_view::parse(r1.frame);
    BOOST_REQUIRE(e);
    BOOST_TEST(e->dst() == mac_address::broadcast());
    const arp_repr a = arp_of(r1.frame);
    BOOST_TEST((a == arp_repr::make_announcement(gw_mac, gw_ip)));

    auto r2 = handle(g, claim, t0 + 5s);
    BOOST_TEST(r2.r.verdict == gateway_verdict::absorbed);
    BOOST_TEST(g.counters().conflicts == 2u);
    BOOST_TEST(g.counters().announcements == 1u);

    auto r3 = handle(g, claim, t0 + 10s);
    BOOST_TEST(r3.r.verdict == gateway_verdict::replied);
    BOOST_TEST(g.counters().announcements == 2u);
    BOOST_TEST(!g.neighbor(gw_ip, t0).has_value());  // a conflicting packet is never learned

    // Our own announcement coming back is no conflict.
    (void)handle(g, arp_frame(arp_repr::make_announcement(gw_mac, gw_ip)), t0 + 30s);
    BOOST_TEST(g.counters().conflicts == 3u);
}

BOOST_AUTO_TEST_CASE(bad_arp_is_dropped_with_a_reason) {
    auto g = make_gw();
    auto rq = arp_frame(arp_repr::make_request(vm_mac, vm_ip, gw_ip));
    store_be16(rq, ethernet_view::header_len + arp_view::field::oper, 3);  // RARP request
    BOOST_TEST(handle(g, rq).r.drop == gateway_drop::arp_unsupported);
    auto grp = arp_frame(arp_repr::make_request(mac_address(0x01, 0, 0x5e, 0, 0, 1), vm_ip, gw_ip));
    BOOST_TEST(handle(g, grp).r.drop == gateway_drop::arp_bad_sender);
    const auto good = arp_frame(arp_repr::make_request(vm_mac, vm_ip, gw_ip));
    test::for_each_truncation(good, [&](bytes_view b) {
        auto r = handle(g, b);
        BOOST_TEST(r.r.length == 0u);
    });
    BOOST_TEST(g.counters().drop(gateway_drop::malformed) == 14u + 28u);
}

// 802.1Q: the reply keeps the request's tags.
BOOST_AUTO_TEST_CASE(reply_keeps_vlan_tags) {
    auto g = make_gw();
    auto f = arp_frame(arp_repr::make_request(vm_mac, vm_ip, gw_ip));
    std::vector<std::byte> tagged(f.size() + 4);
    store_bytes(tagged, 0, bytes_view(f).first(12));
    vlan_tag{ethertype::vlan, 0, false, 10}.store(tagged, 12);
    store_bytes(tagged, 16, bytes_view(f).subspan(12));
    auto rp = handle(g, tagged);
    BOOST_REQUIRE(rp.r);
    auto v = frame_view::parse(rp.frame);
    BOOST_REQUIRE(v);
    BOOST_TEST((v->vlan_id() == std::optional<std::uint16_t>(10)));
    BOOST_TEST(arp_of(rp.frame).target_ip == vm_ip);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(gateway_icmp)

// RFC 792 "Echo or Echo Reply Message": the reply carries the request's identifier,
// sequence number and data; source and destination are swapped.
BOOST_AUTO_TEST_CASE(echo_request_to_our_address_gets_an_echo_reply) {
    auto g = make_gw();
    const std::vector<std::byte> data = test::hex("de ad be ef 01 02 03 04 05 06 07 08");
    const auto icmp = echo_request(0x1234, 7, data);
    auto rp = handle(g, ip_frame(gw_mac, vm_mac, vm_ip, gw_ip, ip_protocol::icmp, icmp));
    BOOST_REQUIRE(rp.r);
    auto e = ethernet_view::parse(rp.frame);
    BOOST_REQUIRE(e);
    BOOST_TEST(e->dst() == vm_mac);
    BOOST_TEST(e->src() == gw_mac);
    auto ip = ipv4_view::parse(e->payload());
    BOOST_REQUIRE(ip);
    BOOST_TEST(ip->checksum_ok());
    BOOST_TEST(ip->src() == gw_ip);
    BOOST_TEST(ip->dst() == vm_ip);
    BOOST_TEST(ip->ttl() == 128u);
    auto iv = icmpv4_view::parse(ip->payload());
    BOOST_REQUIRE(iv);
    auto r = icmpv4_repr::parse(*iv);  // verifies the ICMP checksum
    BOOST_REQUIRE(r);
    BOOST_TEST((*r == icmpv4_repr{icmpv4_echo_reply{0x1234, 7, data}}));
    BOOST_TEST(g.counters().echo_requests == 1u);
    BOOST_TEST(g.counters().echo_replies == 1u);
}

// RFC 1812 5.2.2 / RFC 792: checksums are checked before answering.
BOOST_AUTO_TEST_CASE(echo_with_a_bad_checksum_is_dropped) {
    auto g = make_gw();
    auto icmp = echo_request(1, 1, test::hex("00 11 22 33"));
    icmp[2] ^= std::byte{0xff};
    auto rp = handle(g, ip_frame(gw_mac, vm_mac, vm_ip, gw_ip, ip_protocol::icmp, icmp));
    BOOST_TEST(rp.r.verdict == gateway_verdict::dropped);
    BOOST_TEST(rp.r.drop == gateway_drop::bad_checksum);
    auto f = ip_frame(gw_mac, vm_mac, vm_ip, gw_ip, ip_protocol::icmp, echo_request(1, 1, {}));
    f[ethernet_view::header_len + ipv4_view::field::checksum] ^= std::byte{1};
    BOOST_TEST(handle(g, f).r.drop == gateway_drop::bad_checksum);
    BOOST_TEST(g.counters().drop(gateway_drop::bad_checksum) == 2u);
}

// A minimal echo (no data) makes a 42-octet frame, padded to 60.
BOOST_AUTO_TEST_CASE(short_echo_reply_is_padded) {
    auto g = make_gw();
    auto rp = handle(g, ip_frame(gw_mac, vm_mac, vm_ip, gw_ip, ip_protocol::icmp, echo_request(9, 9, {})));
    BOOST_REQUIRE(rp.r);
    BOOST_TEST(rp.frame.size() == 60u);
    auto ip = ipv4_view::parse(bytes_view(rp.frame).subspan(14));
    BOOST_REQUIRE(ip);
    BOOST_TEST(ip->total_length() == 28u);
}

// RFC 1122 3.2.2.6: an echo to a broadcast address MAY be silently discarded.
BOOST_AUTO_TEST_CASE(echo_to_broadcast_is_not_answered) {
    auto g = make_gw();
    auto rp = handle(g, ip_frame(mac_address::broadcast(), vm_mac, vm_ip, ipv4_address(172, 31, 111, 255), ip_protocol::icmp,
                                 echo_request(1, 1, {})));
    BOOST_TEST(rp.r.drop == gateway_drop::echo_to_broadcast);
    BOOST_TEST(rp.r.length == 0u);
}

// Everything else for our address goes on to the next service; other addresses are not ours.
BOOST_AUTO_TEST_CASE(other_ipv4_is_passed_or_not_ours) {
    auto g = make_gw();
    const auto udp = test::hex("c0 00 00 35 00 08 00 00");
    auto p = handle(g, ip_frame(gw_mac, vm_mac, vm_ip, gw_ip, ip_protocol::udp, udp));
    BOOST_TEST(p.r.verdict == gateway_verdict::pass);
    auto unreach = icmpv4_repr{icmpv4_dest_unreachable{icmpv4_unreachable::port, 0, {}}};
    std::vector<std::byte> ub(unreach.buffer_len());
    BOOST_REQUIRE(unreach.emit(ub));
    BOOST_TEST(handle(g, ip_frame(gw_mac, vm_mac, vm_ip, gw_ip, ip_protocol::icmp, ub)).r.verdict == gateway_verdict::pass);
    auto o = handle(g,
                    ip_frame(gw_mac, vm_mac, vm_ip, ipv4_address(198, 51, 100, 10), ip_protocol::icmp, echo_request(1, 1, {})));
    BOOST_TEST(o.r.verdict == gateway_verdict::not_ours);
    BOOST_TEST(g.counters().passed == 2u);
    BOOST_TEST(g.counters().echo_replies == 0u);
    const auto ipv6 = eth_frame(gw_mac, vm_mac, ethertype::ipv6, test::hex("60 00 00 00"));
    BOOST_TEST(handle(g, ipv6).r.verdict == gateway_verdict::not_ours);
}

BOOST_AUTO_TEST_CASE(truncated_echo_never_reads_out_of_bounds) {
    auto g = make_gw();
    const auto f = ip_frame(gw_mac, vm_mac, vm_ip, gw_ip, ip_protocol::icmp, echo_request(1, 2, test::hex("aa bb")));
    std::size_t replied = 0;
    test::for_each_truncation(f, [&](bytes_view b) {
        if (handle(g, b).r) ++replied;
    });
    BOOST_TEST(replied == 0u);
    BOOST_TEST(g.counters().drop(gateway_drop::malformed) > 0u);
    // A buffer too small for the reply is a named drop, not an overflow.
    std::vector<std::byte> tiny(20);
    BOOST_TEST(g.handle_frame(f, t0, tiny).drop == gateway_drop::buffer_too_small);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(gateway_neighbors)

BOOST_AUTO_TEST_CASE(neighbor_entries_expire_with_the_injected_time) {
    neighbor_table t(4, 300s);
    BOOST_TEST(t.learn(vm_ip, vm_mac, t0));
    BOOST_TEST((t.lookup(vm_ip, t0 + 299s) == std::optional<mac_address>(vm_mac)));
    BOOST_TEST(!t.lookup(vm_ip, t0 + 300s).has_value());
    t.confirm(vm_ip, vm_mac, t0 + 200s);  // traffic confirms it: 300 s from then
    BOOST_TEST(t.lookup(vm_ip, t0 + 499s).has_value());
    t.confirm(vm_ip, other_mac, t0 + 400s);  // another MAC does not
    BOOST_TEST(!t.lookup(vm_ip, t0 + 500s).has_value());
    BOOST_TEST(t.expire(t0 + 500s) == 1u);
    BOOST_TEST(t.size() == 0u);
}

BOOST_AUTO_TEST_CASE(full_table_evicts_expired_then_oldest) {
    neighbor_table t(2, 100s);
    (void)t.learn(ipv4_address(172, 31, 96, 2), vm_mac, t0);
    (void)t.learn(ipv4_address(172, 31, 96, 3), vm_mac, t0 + 10s);
    (void)t.learn(ipv4_address(172, 31, 96, 4), vm_mac, t0 + 20s);
    BOOST_TEST(t.size() == 2u);
    BOOST_TEST(!t.contains(ipv4_address(172, 31, 96, 2)));
    BOOST_TEST(t.contains(ipv4_address(172, 31, 96, 4)));
    BOOST_TEST(t.evictions() == 1u);
}

BOOST_AUTO_TEST_CASE(make_rejects_bad_configurations) {
    BOOST_TEST(!gateway_responder::make({mac_address::broadcast(), ipv4_prefix(gw_ip, 20)}));
    BOOST_TEST(!gateway_responder::make({gw_mac, ipv4_prefix(ipv4_address(172, 31, 96, 0), 20)}));  // network address
    BOOST_TEST(!gateway_responder::make({gw_mac, ipv4_prefix(gw_ip, 31)}));
    auto e = gateway_responder::make({gw_mac, ipv4_prefix(gw_ip, 0)});
    BOOST_REQUIRE(!e);
    BOOST_TEST(e.error().message() == "service.gateway address must be a host address of a /1 to /30 prefix: bad value");
}

BOOST_AUTO_TEST_CASE(formatter_shows_address_neighbors_and_counters) {
    auto g = make_gw();
    (void)handle(g, arp_frame(arp_repr::make_request(vm_mac, vm_ip, gw_ip)));
    const std::string s = fmt::format("{}", g);
    BOOST_TEST(s.find("gateway 172.31.96.1/20 at 00:15:5d:00:00:01, 1 neighbors") == 0u);
    BOOST_TEST(s.find("172.31.100.171 at 00:15:5d:00:00:10") != std::string::npos);
    BOOST_TEST(s.find("arp requests 1 replies 1") != std::string::npos);
    BOOST_TEST(s.find("drops: none") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
