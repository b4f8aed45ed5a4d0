// NAT (include/vnet/services/nat.hpp): masquerade with port preservation (RFC 4787),
// TCP (RFC 5382), ICMP (RFC 5508), incremental checksums (RFC 1624), static mappings and
// one NAT per host as WinNAT (docs/eflow-facts.md, "Hyper-V port and switch features").
// Every translated packet is re-parsed with the wire codecs: ipv4_repr::parse checks the
// header checksum, udp/tcp/icmp repr parse the transport checksum over the new addresses.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <ostream>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/services/nat.hpp>
#include <vnet/wire/icmpv4.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/tcp.hpp>
#include <vnet/wire/udp.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using namespace vnet::svc;
using namespace std::chrono_literals;
using vnet::test::view;

namespace vnet::svc {
// Boost.Test prints the NAT's enums by name.
inline std::ostream& operator<<(std::ostream& os, nat_verdict v) { return os << to_string(v); }
inline std::ostream& operator<<(std::ostream& os, nat_drop d) { return os << to_string(d); }
inline std::ostream& operator<<(std::ostream& os, nat_tcp_phase p) { return os << to_string(p); }
}  // namespace vnet::svc

namespace {

using bytes = std::vector<std::byte>;

// The EFLOW internal switch layout (docs/eflow-facts.md [AD]: host vNIC a.b.c.1, VM a.b.c.2/24,
// NAT on a.b.c.0/24), the host's uplink address and the lab's internet server (docs/design.md).
const ipv4_address vm1{172, 20, 0, 2};
const ipv4_address vm2{172, 20, 0, 3};
const ipv4_address host_ext{192, 168, 0, 10};
const ipv4_address server{198, 51, 100, 10};
const ipv4_address server2{198, 51, 100, 11};
const ipv4_address router{203, 0, 113, 1};
const nat::time_point t0 = nat::time_point{} + 1000s;

nat_config config() {
    nat_config c;
    c.name = "EflowSwitch-NAT";
    c.internal_prefix = ipv4_prefix(ipv4_address(172, 20, 0, 0), 24);
    c.external_address = host_ext;
    return c;
}

nat make_nat(nat_config c = config()) {
    auto n = nat::make(std::move(c));
    BOOST_REQUIRE(n);
    return std::move(*n);
}

bytes ip_packet(ipv4_address src, ipv4_address dst, std::uint8_t proto, const bytes& l4) {
    ipv4_repr ip;
    ip.src = src;
    ip.dst = dst;
    ip.protocol = proto;
    ip.identification = 0x1234;
    ip.payload_len = l4.size();
    bytes out(ip.buffer_len());
    BOOST_REQUIRE(ip.emit(out, view(l4)));
    return out;
}

bytes udp(ipv4_address src, std::uint16_t sport, ipv4_address dst, std::uint16_t dport,
          std::string_view payload = "hello, world") {
    udp_repr u{sport, dport, payload.size()};
    bytes l4(u.buffer_len());
    BOOST_REQUIRE(u.emit(l4, as_bytes_view(payload), src, dst));
    return ip_packet(src, dst, ip_protocol::udp, l4);
}

bytes tcp(ipv4_address src, std::uint16_t sport, ipv4_address dst, std::uint16_t dport, std::uint16_t flags,
          std::string_view payload = "") {
    tcp_repr t;
    t.src_port = sport;
    t.dst_port = dport;
    t.seq_number = 1000;
    t.ack_number = (flags & tcp_flag::ack) ? 2000 : 0;
    t.flags = flags;
    t.window_len = 64240;
    if (flags & tcp_flag::syn) t.mss = 1460;
    t.payload_len = payload.size();
    bytes l4(t.buffer_len());
    BOOST_REQUIRE(t.emit(l4, as_bytes_view(payload), src, dst));
    return ip_packet(src, dst, ip_protocol::tcp, l4);
}

bytes echo(ipv4_address src, ipv4_address dst, std::uint16_t id, bool reply = false) {
    static const auto data = vnet::test::hex("0102030405060708");
    icmpv4_repr r;
    if (reply) r.message = icmpv4_echo_reply{id, 7, view(data)};
    else r.message = icmpv4_echo_request{id, 7, view(data)};
    bytes l4(r.buffer_len());
    BOOST_REQUIRE(r.emit(l4));
    return ip_packet(src, dst, ip_protocol::icmp, l4);
}

/// An ICMP error from src to dst quoting (the first quote_len octets of) datagram.
bytes icmp_error(ipv4_address src, ipv4_address dst, std::uint8_t type, std::uint8_t code, const bytes& datagram,
                 std::size_t quote_len = 576) {
    const bytes_view quote = icmpv4_quote(view(datagram), quote_len);
    icmpv4_repr r;
    if (type == icmpv4_type::dest_unreachable) r.message = icmpv4_dest_unreachable{code, 0, quote};
    else r.message = icmpv4_time_exceeded{code, quote};
    bytes l4(r.buffer_len());
    BOOST_REQUIRE(r.emit(l4));
    return ip_packet(src, dst, ip_protocol::icmp, l4);
}

/// The IPv4 header parses and its checksum verifies.
ipv4_view checked_ip(const bytes& p) {
    auto v = ipv4_view::parse(view(p));
    BOOST_REQUIRE(v);
    BOOST_TEST(ipv4_repr::parse(*v).has_value(), "IPv4 header checksum after translation");
    return *v;
}

struct ends {
    ipv4_address src;
    std::uint16_t sport;
    ipv4_address dst;
    std::uint16_t dport;
};

ends checked_udp(const bytes& p) {
    auto v = checked_ip(p);
    auto u = udp_view::parse(v.payload());
    BOOST_REQUIRE(u);
    BOOST_TEST(udp_repr::parse(*u, v.src(), v.dst()).has_value(), "UDP checksum over the new pseudo header");
    return {v.src(), u->src_port(), v.dst(), u->dst_port()};
}

ends checked_tcp(const bytes& p) {
    auto v = checked_ip(p);
    auto t = tcp_view::parse(v.payload());
    BOOST_REQUIRE(t);
    BOOST_TEST(tcp_repr::parse(*t, v.src(), v.dst()).has_value(), "TCP checksum over the new pseudo header");
    return {v.src(), t->src_port(), v.dst(), t->dst_port()};
}

/// ICMP echo: addresses and identifier, checksum verified.
ends checked_echo(const bytes& p) {
    auto v = checked_ip(p);
    auto i = icmpv4_view::parse(v.payload());
    BOOST_REQUIRE(i);
    BOOST_TEST(icmpv4_repr::parse(*i).has_value(), "ICMP checksum after translation");
    return {v.src(), i->identifier(), v.dst(), i->identifier()};
}

/// Re-sets total length and header checksum after a payload was cut at n octets.
bytes cut_payload(const bytes& p, std::size_t n) {
    auto v = ipv4_view::parse(view(p));
    BOOST_REQUIRE(v);
    const auto r = ipv4_repr::parse(*v);
    BOOST_REQUIRE(r);
    auto ip = *r;
    ip.payload_len = n;
    bytes out(ip.buffer_len());
    BOOST_REQUIRE(ip.emit(out, v->payload().first(n)));
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(nat_translation)

// RFC 4787 section 4.1 / REQ-3 (port preservation), RFC 1624 (incremental update): the
// source becomes the external address with the inside port kept, the reply comes back.
BOOST_AUTO_TEST_CASE(udp_out_and_back) {
    auto n = make_nat();
    auto p = udp(vm1, 40000, server, 53);
    auto r = n.outbound(p, t0);
    BOOST_TEST(r.verdict == nat_verdict::translated);
    auto e = checked_udp(p);
    BOOST_TEST(e.src == host_ext);
    BOOST_TEST(e.sport == 40000);
    BOOST_TEST(e.dst == server);
    BOOST_TEST(e.dport == 53);

    auto reply = udp(server, 53, host_ext, 40000, "answer");
    BOOST_TEST(n.inbound(reply, t0 + 1s).verdict == nat_verdict::translated);
    auto b = checked_udp(reply);
    BOOST_TEST(b.src == server);
    BOOST_TEST(b.sport == 53);
    BOOST_TEST(b.dst == vm1);
    BOOST_TEST(b.dport == 40000);
    BOOST_TEST(n.counters().outbound == 1u);
    BOOST_TEST(n.counters().inbound == 1u);
    BOOST_TEST(n.flow_count() == 1u);
}

// RFC 768: a zero UDP checksum means "none" and stays zero through the NAT.
BOOST_AUTO_TEST_CASE(udp_zero_checksum_stays_zero) {
    auto n = make_nat();
    auto p = udp(vm1, 40000, server, 53);
    p[20 + 6] = std::byte{0};
    p[20 + 7] = std::byte{0};
    BOOST_TEST(n.outbound(p, t0).verdict == nat_verdict::translated);
    auto v = checked_ip(p);
    BOOST_TEST(load_be16(v.payload(), 6) == 0);
}

// RFC 5382 section 4 / RFC 4787 REQ-3: TCP with port preservation; the handshake in both
// directions makes the flow established (RFC 5382 section 5).
BOOST_AUTO_TEST_CASE(tcp_handshake) {
    auto n = make_nat();
    auto syn = tcp(vm1, 50000, server, 8883, tcp_flag::syn);
    BOOST_TEST(n.outbound(syn, t0).verdict == nat_verdict::translated);
    auto e = checked_tcp(syn);
    BOOST_TEST(e.src == host_ext);
    BOOST_TEST(e.sport == 50000);
    auto f = n.find_flow(nat_protocol::tcp, vm1, 50000, server, 8883);
    BOOST_REQUIRE(f);
    BOOST_TEST(f->tcp_phase == nat_tcp_phase::opening);

    auto synack = tcp(server, 8883, host_ext, 50000, tcp_flag::syn | tcp_flag::ack);
    BOOST_TEST(n.inbound(synack, t0).verdict == nat_verdict::translated);
    auto b = checked_tcp(synack);
    BOOST_TEST(b.dst == vm1);
    BOOST_TEST(b.dport == 50000);
    BOOST_TEST(n.find_flow(nat_protocol::tcp, vm1, 50000, server, 8883)->tcp_phase == nat_tcp_phase::established);

    auto data = tcp(vm1, 50000, server, 8883, tcp_flag::ack | tcp_flag::psh, "MQTT CONNECT");
    BOOST_TEST(n.outbound(data, t0 + 1s).verdict == nat_verdict::translated);
    checked_tcp(data);
}

// RFC 5508 section 3 (ICMP query mapping): the echo identifier plays the port.
BOOST_AUTO_TEST_CASE(icmp_echo) {
    auto n = make_nat();
    auto rq = echo(vm1, server, 0x5514);
    BOOST_TEST(n.outbound(rq, t0).verdict == nat_verdict::translated);
    auto e = checked_echo(rq);
    BOOST_TEST(e.src == host_ext);
    BOOST_TEST(e.sport == 0x5514);

    auto rp = echo(server, host_ext, 0x5514, true);
    BOOST_TEST(n.inbound(rp, t0).verdict == nat_verdict::translated);
    auto b = checked_echo(rp);
    BOOST_TEST(b.dst == vm1);
    BOOST_TEST(b.dport == 0x5514);

    // a second host with the same identifier to the same server gets another one
    auto rq2 = echo(vm2, server, 0x5514);
    BOOST_TEST(n.outbound(rq2, t0).verdict == nat_verdict::translated);
    auto e2 = checked_echo(rq2);
    BOOST_TEST(e2.sport != 0x5514);
    auto rp2 = echo(server, host_ext, e2.sport, true);
    BOOST_TEST(n.inbound(rp2, t0).verdict == nat_verdict::translated);
    BOOST_TEST(checked_echo(rp2).dst == vm2);
    BOOST_TEST(checked_echo(rp2).dport == 0x5514);
}

// RFC 4787 REQ-3: keep the port when free; on a collision take another from the range,
// and the replies of each flow reach their own host.
BOOST_AUTO_TEST_CASE(port_preservation_and_collision) {
    auto n = make_nat();
    auto a = udp(vm1, 40000, server, 53);
    auto b = udp(vm2, 40000, server, 53);
    BOOST_TEST(n.outbound(a, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.outbound(b, t0).verdict == nat_verdict::translated);
    const auto pa = checked_udp(a).sport, pb = checked_udp(b).sport;
    BOOST_TEST(pa == 40000);
    BOOST_TEST(pb != 40000);
    BOOST_TEST(pb >= 1024);

    auto ra = udp(server, 53, host_ext, pa), rb = udp(server, 53, host_ext, pb);
    BOOST_TEST(n.inbound(ra, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.inbound(rb, t0).verdict == nat_verdict::translated);
    BOOST_TEST(checked_udp(ra).dst == vm1);
    BOOST_TEST(checked_udp(rb).dst == vm2);
    BOOST_TEST(checked_udp(rb).dport == 40000);

    // the same inside endpoint keeps its external port for later packets
    auto a2 = udp(vm1, 40000, server, 53);
    BOOST_TEST(n.outbound(a2, t0 + 5s).verdict == nat_verdict::translated);
    BOOST_TEST(checked_udp(a2).sport == 40000);
    BOOST_TEST(n.flow_count() == 2u);
}

// RFC 4787 REQ-3: a well-known inside port (below the range) is not preserved.
BOOST_AUTO_TEST_CASE(port_below_range_is_mapped_into_range) {
    auto n = make_nat();
    auto p = udp(vm1, 123, server, 123);
    BOOST_TEST(n.outbound(p, t0).verdict == nat_verdict::translated);
    BOOST_TEST(checked_udp(p).sport >= 1024);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nat_timeouts_suite)

// RFC 4787 REQ-5: UDP mapping timer at least 2 minutes (default 120 s here).
BOOST_AUTO_TEST_CASE(udp_timeout_120s) {
    auto n = make_nat();
    auto p = udp(vm1, 40000, server, 53);
    BOOST_TEST(n.outbound(p, t0).verdict == nat_verdict::translated);
    auto r1 = udp(server, 53, host_ext, 40000);
    BOOST_TEST(n.inbound(r1, t0 + 119s).verdict == nat_verdict::translated);
    // RFC 4787 REQ-6: the inbound packet refreshed it (until 239 s)
    auto r2 = udp(server, 53, host_ext, 40000);
    BOOST_TEST(n.inbound(r2, t0 + 238s).verdict == nat_verdict::translated);
    auto r3 = udp(server, 53, host_ext, 40000);
    auto r = n.inbound(r3, t0 + 238s + 120s);
    BOOST_TEST(r.verdict == nat_verdict::dropped);
    BOOST_TEST(r.drop == nat_drop::no_mapping);
    BOOST_TEST(n.counters().flows_expired == 1u);
    BOOST_TEST(n.flow_count() == 0u);
}

// libslirp keeps UDP 180-240 s (docs/style.md): the UDP timeout is configurable.
BOOST_AUTO_TEST_CASE(udp_timeout_configurable) {
    auto c = config();
    c.timeouts.udp = 180s;
    auto n = make_nat(c);
    auto p = udp(vm1, 40000, server, 53);
    BOOST_TEST(n.outbound(p, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.expire(t0 + 179s) == 0u);
    BOOST_TEST(n.expire(t0 + 180s) == 1u);
}

// ICMP query mapping timeout 60 s (libslirp; RFC 5508 REQ-1 allows it configurable).
BOOST_AUTO_TEST_CASE(icmp_timeout_60s) {
    auto n = make_nat();
    auto rq = echo(vm1, server, 9);
    BOOST_TEST(n.outbound(rq, t0).verdict == nat_verdict::translated);
    auto ok = echo(server, host_ext, 9, true);
    BOOST_TEST(n.inbound(ok, t0 + 59s).verdict == nat_verdict::translated);
    auto late = echo(server, host_ext, 9, true);
    BOOST_TEST(n.inbound(late, t0 + 59s + 60s).drop == nat_drop::no_mapping);
}

// RFC 5382 REQ-5: transitory (opening) at least 4 min is for the partially open state;
// here a SYN alone keeps the flow 120 s as the brief's "SYN seen" state.
BOOST_AUTO_TEST_CASE(tcp_opening_timeout) {
    auto n = make_nat();
    auto syn = tcp(vm1, 50000, server, 443, tcp_flag::syn);
    BOOST_TEST(n.outbound(syn, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.expire(t0 + 119s) == 0u);
    BOOST_TEST(n.expire(t0 + 120s) == 1u);
}

// RFC 5382 REQ-5: established idle timeout at least 2 h 4 min (7440 s).
BOOST_AUTO_TEST_CASE(tcp_established_timeout) {
    auto n = make_nat();
    auto syn = tcp(vm1, 50000, server, 443, tcp_flag::syn);
    BOOST_TEST(n.outbound(syn, t0).verdict == nat_verdict::translated);
    auto synack = tcp(server, 443, host_ext, 50000, tcp_flag::syn | tcp_flag::ack);
    BOOST_TEST(n.inbound(synack, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.expire(t0 + 7439s) == 0u);
    auto f = n.find_flow(nat_protocol::tcp, vm1, 50000, server, 443);
    BOOST_REQUIRE(f);
    BOOST_TEST((f->expires_at == t0 + 7440s));
    BOOST_TEST(n.expire(t0 + 7440s) == 1u);
}

// RFC 5382 section 5: after a FIN the connection is transitory (closing, 240 s = 2 MSL).
BOOST_AUTO_TEST_CASE(tcp_fin_timeout) {
    auto n = make_nat();
    auto syn = tcp(vm1, 50000, server, 443, tcp_flag::syn);
    auto synack = tcp(server, 443, host_ext, 50000, tcp_flag::syn | tcp_flag::ack);
    auto fin = tcp(server, 443, host_ext, 50000, tcp_flag::fin | tcp_flag::ack);
    BOOST_TEST(n.outbound(syn, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.inbound(synack, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.inbound(fin, t0 + 100s).verdict == nat_verdict::translated);
    BOOST_TEST(n.find_flow(nat_protocol::tcp, vm1, 50000, server, 443)->tcp_phase == nat_tcp_phase::closing);
    BOOST_TEST(n.expire(t0 + 339s) == 0u);
    BOOST_TEST(n.expire(t0 + 340s) == 1u);
}

// RST seen: closing (240 s); a new SYN on the same tuple starts a new connection.
BOOST_AUTO_TEST_CASE(tcp_rst_then_new_syn) {
    auto n = make_nat();
    auto syn = tcp(vm1, 50000, server, 443, tcp_flag::syn);
    auto rst = tcp(server, 443, host_ext, 50000, tcp_flag::rst | tcp_flag::ack);
    BOOST_TEST(n.outbound(syn, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.inbound(rst, t0).verdict == nat_verdict::translated);
    auto f = n.find_flow(nat_protocol::tcp, vm1, 50000, server, 443);
    BOOST_TEST(f->tcp_phase == nat_tcp_phase::closing);
    BOOST_TEST((f->expires_at == t0 + 240s));
    auto syn2 = tcp(vm1, 50000, server, 443, tcp_flag::syn);
    BOOST_TEST(n.outbound(syn2, t0 + 10s).verdict == nat_verdict::translated);
    BOOST_TEST(n.find_flow(nat_protocol::tcp, vm1, 50000, server, 443)->tcp_phase == nat_tcp_phase::opening);
}

// An outbound RST without a flow sets nothing up.
BOOST_AUTO_TEST_CASE(tcp_rst_without_flow) {
    auto n = make_nat();
    auto rst = tcp(vm1, 50000, server, 443, tcp_flag::rst);
    BOOST_TEST(n.outbound(rst, t0).drop == nat_drop::no_mapping);
    BOOST_TEST(n.flow_count() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nat_filtering)

// RFC 4787 section 5 (REQ-8): unsolicited inbound packets are filtered.
BOOST_AUTO_TEST_CASE(unsolicited_inbound_dropped) {
    auto n = make_nat();
    auto u = udp(server, 53, host_ext, 40000);
    auto r = n.inbound(u, t0);
    BOOST_TEST(r.verdict == nat_verdict::dropped);
    BOOST_TEST(r.drop == nat_drop::no_mapping);
    auto s = tcp(server, 443, host_ext, 50000, tcp_flag::syn);
    BOOST_TEST(n.inbound(s, t0).drop == nat_drop::no_mapping);
    auto ping = echo(server, host_ext, 1);
    BOOST_TEST(n.inbound(ping, t0).drop == nat_drop::no_mapping);
    BOOST_TEST(n.counters().drop(nat_drop::no_mapping) == 3u);

    // a mapping to one server does not open the port to another (address-dependent)
    auto out = udp(vm1, 40000, server, 53);
    BOOST_TEST(n.outbound(out, t0).verdict == nat_verdict::translated);
    auto other = udp(server2, 53, host_ext, 40000);
    BOOST_TEST(n.inbound(other, t0).drop == nat_drop::no_mapping);
}

BOOST_AUTO_TEST_CASE(wrong_addresses_dropped) {
    auto n = make_nat();
    auto from_outside_prefix = udp(ipv4_address(10, 0, 0, 5), 40000, server, 53);
    BOOST_TEST(n.outbound(from_outside_prefix, t0).drop == nat_drop::not_inside);
    auto not_ours = udp(server, 53, ipv4_address(192, 168, 0, 11), 40000);
    BOOST_TEST(n.inbound(not_ours, t0).drop == nat_drop::not_external);
}

// RFC 1812 section 5.2.2: a router verifies the IPv4 header checksum.
BOOST_AUTO_TEST_CASE(bad_header_checksum_dropped) {
    auto n = make_nat();
    auto p = udp(vm1, 40000, server, 53);
    p[10] ^= std::byte{0x01};
    BOOST_TEST(n.outbound(p, t0).drop == nat_drop::bad_checksum);
}

BOOST_AUTO_TEST_CASE(other_protocols_dropped) {
    auto n = make_nat();
    auto gre = ip_packet(vm1, server, ip_protocol::gre, bytes(8));
    BOOST_TEST(n.outbound(gre, t0).drop == nat_drop::unsupported_protocol);
    auto ts = ip_packet(vm1, server, ip_protocol::icmp, vnet::test::hex("0d00f2ff00000000"));  // timestamp request
    BOOST_TEST(n.outbound(ts, t0).drop == nat_drop::unsupported_icmp);
}

// RFC 791 fragments: only the first carries the ports; it is translated, the others
// are dropped (no fragment tracking).
BOOST_AUTO_TEST_CASE(fragments) {
    auto n = make_nat();
    auto first = udp(vm1, 40000, server, 53, std::string(100, 'x'));
    auto ip = *ipv4_repr::parse(*ipv4_view::parse(view(first)));
    ip.more_fragments = true;
    ip.payload_len = 48;
    bytes frag(ip.buffer_len());
    BOOST_REQUIRE(ip.emit(frag, ipv4_view::parse(view(first))->payload().first(48)));
    BOOST_TEST(n.outbound(frag, t0).verdict == nat_verdict::translated);
    auto v = checked_ip(frag);
    BOOST_TEST(v.src() == host_ext);

    ip.more_fragments = false;
    ip.fragment_offset = 48;
    ip.payload_len = 60;
    bytes rest(ip.buffer_len());
    BOOST_REQUIRE(ip.emit(rest, ipv4_view::parse(view(first))->payload().subspan(48)));
    BOOST_TEST(n.outbound(rest, t0).drop == nat_drop::fragment);
    BOOST_TEST(n.counters().drop(nat_drop::fragment) == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nat_static)

// Add-NetNatStaticMapping (docs/eflow-facts.md: exposing a module port on the host IP, #51 #218).
BOOST_AUTO_TEST_CASE(static_mapping_inbound_and_reply) {
    auto n = make_nat();
    BOOST_REQUIRE(n.add_static_mapping({nat_protocol::tcp, ipv4_address::any(), 8883, vm1, 8883}));
    BOOST_REQUIRE(n.add_static_mapping({nat_protocol::udp, host_ext, 5000, vm2, 53}));

    auto syn = tcp(server, 61000, host_ext, 8883, tcp_flag::syn);
    BOOST_TEST(n.inbound(syn, t0).verdict == nat_verdict::translated);
    auto e = checked_tcp(syn);
    BOOST_TEST(e.dst == vm1);
    BOOST_TEST(e.dport == 8883);
    auto synack = tcp(vm1, 8883, server, 61000, tcp_flag::syn | tcp_flag::ack);
    BOOST_TEST(n.outbound(synack, t0).verdict == nat_verdict::translated);
    auto b = checked_tcp(synack);
    BOOST_TEST(b.src == host_ext);
    BOOST_TEST(b.sport == 8883);
    BOOST_TEST(n.find_flow(nat_protocol::tcp, vm1, 8883, server, 61000)->tcp_phase == nat_tcp_phase::established);

    auto q = udp(server, 3333, host_ext, 5000);
    BOOST_TEST(n.inbound(q, t0).verdict == nat_verdict::translated);
    BOOST_TEST(checked_udp(q).dst == vm2);
    BOOST_TEST(checked_udp(q).dport == 53);

    // RFC 4787 REQ-1: the mapped endpoint goes out on its external port to any remote
    auto out = udp(vm2, 53, server2, 9999);
    BOOST_TEST(n.outbound(out, t0).verdict == nat_verdict::translated);
    BOOST_TEST(checked_udp(out).sport == 5000);

    // a static port is never handed out to another host
    auto other = udp(vm1, 5000, server, 53);
    BOOST_TEST(n.outbound(other, t0).verdict == nat_verdict::translated);
    BOOST_TEST(checked_udp(other).sport != 5000);
}

// A TCP segment other than a SYN opens nothing through a static mapping.
BOOST_AUTO_TEST_CASE(static_mapping_needs_syn) {
    auto n = make_nat();
    BOOST_REQUIRE(n.add_static_mapping({nat_protocol::tcp, ipv4_address::any(), 8883, vm1, 8883}));
    auto ack = tcp(server, 61000, host_ext, 8883, tcp_flag::ack);
    BOOST_TEST(n.inbound(ack, t0).drop == nat_drop::no_mapping);
    auto other_port = tcp(server, 61000, host_ext, 8884, tcp_flag::syn);
    BOOST_TEST(n.inbound(other_port, t0).drop == nat_drop::no_mapping);
}

BOOST_AUTO_TEST_CASE(static_mapping_validation) {
    auto n = make_nat();
    BOOST_REQUIRE(n.add_static_mapping({nat_protocol::tcp, ipv4_address::any(), 443, vm1, 443}));
    auto dup = n.add_static_mapping({nat_protocol::tcp, host_ext, 443, vm2, 443});
    BOOST_REQUIRE(!dup);
    BOOST_TEST(dup.error().what == errc::conflict);
    BOOST_TEST(n.add_static_mapping({nat_protocol::udp, host_ext, 443, vm2, 443}).has_value());  // other protocol
    BOOST_TEST(n.add_static_mapping({nat_protocol::tcp, host_ext, 444, vm1, 443}).error().what == errc::conflict);
    BOOST_TEST(n.add_static_mapping({nat_protocol::icmp, host_ext, 1, vm1, 1}).error().what == errc::unsupported);
    BOOST_TEST(n.add_static_mapping({nat_protocol::tcp, server, 80, vm1, 80}).error().what == errc::bad_value);
    BOOST_TEST(n.add_static_mapping({nat_protocol::tcp, host_ext, 80, server, 80}).error().what == errc::bad_value);
    BOOST_TEST(n.add_static_mapping({nat_protocol::tcp, host_ext, 0, vm1, 80}).error().what == errc::bad_value);
    BOOST_TEST(n.static_mappings().size() == 2u);
    BOOST_TEST(n.remove_static_mapping(nat_protocol::tcp, 443).has_value());
    BOOST_TEST(n.remove_static_mapping(nat_protocol::tcp, 443).error().what == errc::not_found);
    auto syn = tcp(server, 61000, host_ext, 443, tcp_flag::syn);
    BOOST_TEST(n.inbound(syn, t0).drop == nat_drop::no_mapping);
}

// RFC 4787 REQ-9, RFC 5382 REQ-8: hairpinning, with the external address and port as
// the source the server sees.
BOOST_AUTO_TEST_CASE(hairpinning) {
    auto n = make_nat();
    BOOST_REQUIRE(n.add_static_mapping({nat_protocol::tcp, ipv4_address::any(), 8080, vm2, 80}));
    auto syn = tcp(vm1, 8080, host_ext, 8080, tcp_flag::syn);
    BOOST_TEST(n.outbound(syn, t0).verdict == nat_verdict::hairpinned);
    auto e = checked_tcp(syn);
    BOOST_TEST(e.src == host_ext);
    BOOST_TEST(e.sport != 8080);
    BOOST_TEST(e.dst == vm2);
    BOOST_TEST(e.dport == 80);

    auto synack = tcp(vm2, 80, host_ext, e.sport, tcp_flag::syn | tcp_flag::ack);
    BOOST_TEST(n.outbound(synack, t0).verdict == nat_verdict::hairpinned);
    auto b = checked_tcp(synack);
    BOOST_TEST(b.src == host_ext);
    BOOST_TEST(b.sport == 8080);
    BOOST_TEST(b.dst == vm1);
    BOOST_TEST(b.dport == 8080);
    BOOST_TEST(n.counters().hairpinned == 2u);

    // no static mapping: nothing to hairpin to, and no flow is left behind
    auto none = udp(vm1, 40000, host_ext, 9);
    BOOST_TEST(n.outbound(none, t0).drop == nat_drop::no_mapping);
    BOOST_TEST(!n.find_flow(nat_protocol::udp, vm1, 40000, host_ext, 9));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nat_icmp_errors)

// RFC 5508 section 4.2 / REQ-3: an ICMP error about an outbound UDP datagram is sent back
// to the inside host with its quote translated (quoted source address, its header
// checksum, the quoted port and UDP checksum) and the ICMP checksum updated.
BOOST_AUTO_TEST_CASE(port_unreachable_for_udp) {
    auto n = make_nat();
    auto q = udp(vm2, 40000, server, 53);  // vm2 after vm1 took 40000: a translated port
    auto first = udp(vm1, 40000, server, 53);
    BOOST_TEST(n.outbound(first, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.outbound(q, t0).verdict == nat_verdict::translated);
    const auto ep = checked_udp(q).sport;

    auto err = icmp_error(server, host_ext, icmpv4_type::dest_unreachable, icmpv4_unreachable::port, q);
    BOOST_TEST(n.inbound(err, t0).verdict == nat_verdict::translated);
    auto v = checked_ip(err);
    BOOST_TEST(v.dst() == vm2);
    auto i = icmpv4_view::parse(v.payload());
    BOOST_REQUIRE(i);
    BOOST_TEST(icmpv4_repr::parse(*i).has_value(), "outer ICMP checksum");
    auto emb = i->embedded_ipv4();
    BOOST_REQUIRE(emb);
    BOOST_TEST(emb->src() == vm2);
    BOOST_TEST(emb->dst() == server);
    BOOST_TEST(emb->checksum_ok(), "quoted IPv4 header checksum");
    BOOST_TEST(emb->source_port() == 40000);
    // the whole datagram was quoted: its UDP checksum verifies with the inside address
    auto u = udp_view::parse(emb->payload());
    BOOST_REQUIRE(u);
    BOOST_TEST(u->checksum_ok(vm2, server));
    BOOST_TEST(n.counters().icmp_errors == 1u);
    BOOST_TEST(ep != 40000);
}

// RFC 5508 REQ-3 with a TCP quote (time exceeded from a router on the path), both with
// the whole segment quoted and with only the 8 octets RFC 792 requires.
BOOST_AUTO_TEST_CASE(time_exceeded_for_tcp) {
    for (std::size_t quote : {std::size_t{576}, std::size_t{28}}) {
        auto n = make_nat();
        auto syn = tcp(vm1, 50000, server, 443, tcp_flag::syn);
        BOOST_TEST(n.outbound(syn, t0).verdict == nat_verdict::translated);
        auto err = icmp_error(router, host_ext, icmpv4_type::time_exceeded, 0, syn, quote);
        BOOST_TEST(n.inbound(err, t0).verdict == nat_verdict::translated);
        auto v = checked_ip(err);
        BOOST_TEST(v.src() == router);
        BOOST_TEST(v.dst() == vm1);
        auto i = icmpv4_view::parse(v.payload());
        BOOST_TEST(icmpv4_repr::parse(*i).has_value(), "outer ICMP checksum");
        auto emb = i->embedded_ipv4();
        BOOST_REQUIRE(emb);
        BOOST_TEST(emb->checksum_ok());
        BOOST_TEST(emb->src() == vm1);
        BOOST_TEST(emb->source_port() == 50000);
        if (quote == 576) {
            auto t = tcp_view::parse(emb->payload());
            BOOST_REQUIRE(t);
            BOOST_TEST(t->checksum_ok(vm1, server));
        }
    }
}

// RFC 5508 REQ-3: errors about ICMP echo (traceroute -I) carry the identifier.
BOOST_AUTO_TEST_CASE(time_exceeded_for_echo) {
    auto n = make_nat();
    auto a = echo(vm1, server, 77), b = echo(vm2, server, 77);
    BOOST_TEST(n.outbound(a, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.outbound(b, t0).verdict == nat_verdict::translated);
    auto err = icmp_error(router, host_ext, icmpv4_type::time_exceeded, 0, b);
    BOOST_TEST(n.inbound(err, t0).verdict == nat_verdict::translated);
    auto v = checked_ip(err);
    BOOST_TEST(v.dst() == vm2);
    auto i = icmpv4_view::parse(v.payload());
    BOOST_TEST(icmpv4_repr::parse(*i).has_value());
    auto emb = i->embedded_ipv4();
    BOOST_REQUIRE(emb);
    BOOST_TEST(emb->checksum_ok());
    BOOST_TEST(emb->icmp_identifier() == 77);
    auto inner = icmpv4_view::parse(emb->payload());
    BOOST_TEST(inner->checksum_ok(), "quoted echo checksum");
}

// RFC 5508 REQ-3 the other way: an inside server's port unreachable about an inbound
// datagram (through a static mapping) leaves with the external address and port.
BOOST_AUTO_TEST_CASE(outbound_error_from_inside) {
    auto n = make_nat();
    BOOST_REQUIRE(n.add_static_mapping({nat_protocol::udp, ipv4_address::any(), 5000, vm1, 53}));
    auto q = udp(server, 3333, host_ext, 5000);
    BOOST_TEST(n.inbound(q, t0).verdict == nat_verdict::translated);
    auto err = icmp_error(vm1, server, icmpv4_type::dest_unreachable, icmpv4_unreachable::port, q);
    BOOST_TEST(n.outbound(err, t0).verdict == nat_verdict::translated);
    auto v = checked_ip(err);
    BOOST_TEST(v.src() == host_ext);
    auto i = icmpv4_view::parse(v.payload());
    BOOST_TEST(icmpv4_repr::parse(*i).has_value());
    auto emb = i->embedded_ipv4();
    BOOST_TEST(emb->dst() == host_ext);
    BOOST_TEST(emb->destination_port() == 5000);
    BOOST_TEST(emb->checksum_ok());
    BOOST_TEST(udp_view::parse(emb->payload())->checksum_ok(server, host_ext));
}

// An error about no known flow is dropped; errors never create flows.
BOOST_AUTO_TEST_CASE(error_without_flow_dropped) {
    auto n = make_nat();
    auto q = udp(host_ext, 40000, server, 53);
    auto err = icmp_error(server, host_ext, icmpv4_type::dest_unreachable, icmpv4_unreachable::port, q);
    BOOST_TEST(n.inbound(err, t0).drop == nat_drop::no_mapping);
    BOOST_TEST(n.flow_count() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nat_limits)

// Port exhaustion: a 2-port range serves two flows to one server, the third is dropped
// with a counter; another server still has both ports.
BOOST_AUTO_TEST_CASE(port_exhaustion) {
    auto c = config();
    c.port_first = 5000;
    c.port_last = 5001;
    auto n = make_nat(c);
    auto a = udp(vm1, 40000, server, 53), b = udp(vm2, 40000, server, 53),
         d = udp(ipv4_address(172, 20, 0, 4), 40000, server, 53);
    BOOST_TEST(n.outbound(a, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.outbound(b, t0).verdict == nat_verdict::translated);
    auto r = n.outbound(d, t0);
    BOOST_TEST(r.verdict == nat_verdict::dropped);
    BOOST_TEST(r.drop == nat_drop::port_exhausted);
    BOOST_TEST(n.counters().drop(nat_drop::port_exhausted) == 1u);
    auto e = udp(ipv4_address(172, 20, 0, 4), 40000, server2, 53);
    BOOST_TEST(n.outbound(e, t0).verdict == nat_verdict::translated);
    // once the first flows expire, their ports are free again
    auto late = udp(ipv4_address(172, 20, 0, 4), 40000, server, 53);
    BOOST_TEST(n.outbound(late, t0 + 120s).verdict == nat_verdict::translated);
}

// Capacity: a full table evicts expired flows first and drops as table_full otherwise.
BOOST_AUTO_TEST_CASE(capacity_and_eviction) {
    auto c = config();
    c.max_flows = 2;
    auto n = make_nat(c);
    auto a = udp(vm1, 40000, server, 53);
    auto b = tcp(vm1, 50000, server, 443, tcp_flag::syn);
    BOOST_TEST(n.outbound(a, t0).verdict == nat_verdict::translated);
    BOOST_TEST(n.outbound(b, t0 + 60s).verdict == nat_verdict::translated);
    auto x = echo(vm2, server, 1);
    BOOST_TEST(n.outbound(x, t0 + 100s).drop == nat_drop::table_full);
    BOOST_TEST(n.counters().drop(nat_drop::table_full) == 1u);
    // at 120 s the UDP flow has expired and makes room; the TCP one stays
    auto y = echo(vm2, server, 1);
    BOOST_TEST(n.outbound(y, t0 + 120s).verdict == nat_verdict::translated);
    BOOST_TEST(n.flow_count() == 2u);
    BOOST_TEST(n.find_flow(nat_protocol::tcp, vm1, 50000, server, 443).has_value());
    BOOST_TEST(!n.find_flow(nat_protocol::udp, vm1, 40000, server, 53).has_value());
    BOOST_TEST(n.counters().flows_expired == 1u);
}

// Many flows: the table grows, every flow stays reachable from both sides, and expiry
// removes them all (exercises index growth and backward-shift deletion).
BOOST_AUTO_TEST_CASE(many_flows) {
    auto n = make_nat();
    for (std::uint16_t i = 0; i < 3000; ++i) {
        auto p = udp(ipv4_address(172, 20, 0, static_cast<std::uint8_t>(2 + i % 200)), static_cast<std::uint16_t>(20000 + i),
                     ipv4_address(198, 51, 100, static_cast<std::uint8_t>(i % 7)), 53);
        BOOST_REQUIRE(n.outbound(p, t0 + std::chrono::seconds(i % 50)).verdict == nat_verdict::translated);
    }
    BOOST_TEST(n.flow_count() == 3000u);
    for (std::uint16_t i = 0; i < 3000; i += 7) {
        auto r = udp(ipv4_address(198, 51, 100, static_cast<std::uint8_t>(i % 7)), 53, host_ext,
                     static_cast<std::uint16_t>(20000 + i));
        BOOST_REQUIRE(n.inbound(r, t0 + 60s).verdict == nat_verdict::translated);
        BOOST_TEST(checked_udp(r).dst == ipv4_address(172, 20, 0, static_cast<std::uint8_t>(2 + i % 200)));
    }
    BOOST_TEST(n.expire(t0 + 169s) == 3000u - 429u);  // the refreshed ones live to 180 s
    BOOST_TEST(n.expire(t0 + 180s) == 429u);
    BOOST_TEST(n.flow_count() == 0u);
    BOOST_TEST(n.memory_bytes() > 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nat_host)

// docs/eflow-facts.md ("Hyper-V port and switch features"): one NAT network per host.
BOOST_AUTO_TEST_CASE(second_nat_refused) {
    nat_registry host;
    auto first = host.create(config());
    BOOST_REQUIRE(first);
    BOOST_TEST((*first)->name() == "EflowSwitch-NAT");

    auto c2 = config();
    c2.name = "Other-NAT";
    c2.internal_prefix = ipv4_prefix(ipv4_address(172, 21, 0, 0), 24);
    auto second = host.create(c2);
    BOOST_REQUIRE(!second);
    BOOST_TEST(second.error().what == errc::conflict);
    BOOST_TEST(second.error().message() ==
               "service.a NAT already exists on this host (WinNAT supports one NAT network per host): conflict");

    auto c3 = config();
    c3.internal_prefix = ipv4_prefix(ipv4_address(172, 20, 0, 0), 16);
    auto overlapping = host.create(c3);
    BOOST_REQUIRE(!overlapping);
    BOOST_TEST(std::string(overlapping.error().field).find("overlaps") != std::string::npos);

    BOOST_TEST(host.remove("nope").error().what == errc::not_found);
    BOOST_TEST(host.remove("EflowSwitch-NAT").has_value());
    BOOST_TEST(host.get() == nullptr);
    BOOST_TEST(host.create(c2).has_value());
    BOOST_TEST(host.find("Other-NAT") != nullptr);
}

// New-NetNat must not take a prefix the host is attached to, nor bad values.
BOOST_AUTO_TEST_CASE(config_errors) {
    nat_registry host;
    const ipv4_prefix uplinks[] = {ipv4_prefix(ipv4_address(172, 20, 0, 0), 16)};
    BOOST_TEST(host.create(config(), uplinks).error().what == errc::conflict);

    auto c = config();
    c.external_address = vm1;
    BOOST_TEST(nat::make(c).error().what == errc::conflict);
    c = config();
    c.external_address = ipv4_address::any();
    BOOST_TEST(nat::make(c).error().what == errc::bad_value);
    c = config();
    c.port_first = 2000;
    c.port_last = 1999;
    BOOST_TEST(nat::make(c).error().what == errc::bad_value);
    c = config();
    c.internal_prefix = ipv4_prefix(ipv4_address(172, 20, 0, 0), 0);
    BOOST_TEST(nat::make(c).error().what == errc::bad_value);
    c = config();
    c.max_flows = 0;
    BOOST_TEST(nat::make(c).error().what == errc::bad_value);
    c = config();
    c.timeouts.udp = 0s;
    BOOST_TEST(nat::make(c).error().what == errc::bad_value);
}

BOOST_AUTO_TEST_CASE(formatting) {
    auto n = make_nat();
    BOOST_REQUIRE(n.add_static_mapping({nat_protocol::tcp, ipv4_address::any(), 8883, vm1, 8883}));
    auto syn = tcp(vm1, 50000, server, 443, tcp_flag::syn);
    BOOST_TEST(n.outbound(syn, t0).verdict == nat_verdict::translated);
    auto bad = udp(server, 53, host_ext, 1);
    const auto r = n.inbound(bad, t0);
    BOOST_TEST(fmt::format("{}", r) == "dropped (no_mapping)");
    BOOST_TEST(fmt::format("{}", n.counters()) ==
               "out 1, in 0, hairpinned 0, icmp errors 0, flows created 1 expired 0, drops: no_mapping=1");
    BOOST_TEST(fmt::format("{}", n) ==
               "nat EflowSwitch-NAT 172.20.0.0/24 -> 192.168.0.10 ports 1024-65535, 1/65536 flows, 1 static mappings\n"
               "  static tcp 0.0.0.0:8883 -> 172.20.0.2:8883\n"
               "  tcp 172.20.0.2:50000 -> 192.168.0.10:50000 -> 198.51.100.10:443 opening");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nat_malformed)

// docs/design.md "Principles": a malformed frame never crashes. Every packet kind is cut at
// every octet, both as a short buffer and with its IPv4 total length re-set (so the
// transport or quoted header itself is short), in both directions.
BOOST_AUTO_TEST_CASE(truncated_at_every_byte) {
    auto n = make_nat();
    BOOST_REQUIRE(n.add_static_mapping({nat_protocol::udp, ipv4_address::any(), 5000, vm1, 53}));
    BOOST_REQUIRE(n.add_static_mapping({nat_protocol::tcp, ipv4_address::any(), 8883, vm1, 8883}));
    auto seed_flow = udp(vm1, 40000, server, 53);
    BOOST_REQUIRE(n.outbound(seed_flow, t0));
    auto seed_tcp = tcp(vm2, 50000, server, 443, tcp_flag::syn);
    BOOST_REQUIRE(n.outbound(seed_tcp, t0));

    const std::vector<bytes> outs = {
        udp(vm1, 40000, server, 53), tcp(vm2, 50000, server, 443, tcp_flag::ack, "data"), echo(vm1, server, 3),
        icmp_error(vm1, server, icmpv4_type::dest_unreachable, 3, udp(server, 3333, host_ext, 5000))};
    const std::vector<bytes> ins = {
        udp(server, 53, host_ext, 40000),
        tcp(server, 443, host_ext, 50000, tcp_flag::syn | tcp_flag::ack),
        tcp(server, 1, host_ext, 8883, tcp_flag::syn),
        echo(server, host_ext, 3, true),
        icmp_error(router, host_ext, icmpv4_type::time_exceeded, 0, tcp(host_ext, 50000, server, 443, tcp_flag::syn)),
        icmp_error(router, host_ext, icmpv4_type::time_exceeded, 0, echo(host_ext, server, 3))};
    std::size_t runs = 0;
    auto run = [&](const bytes& whole, bool outbound) {
        vnet::test::for_each_truncation(view(whole), [&](bytes_view cut) {
            bytes buf(cut.begin(), cut.end());
            auto r = outbound ? n.outbound(buf, t0) : n.inbound(buf, t0);
            BOOST_TEST(r.verdict == nat_verdict::dropped);
            ++runs;
        });
        auto v = ipv4_view::parse(view(whole));
        for (std::size_t len = 0; len < v->payload_len(); ++len) {
            auto buf = cut_payload(whole, len);
            auto r = outbound ? n.outbound(buf, t0) : n.inbound(buf, t0);
            if (r) BOOST_TEST(ipv4_view::parse(view(buf)).has_value());
            ++runs;
        }
    };
    for (const auto& p : outs) run(p, true);
    for (const auto& p : ins) run(p, false);
    BOOST_TEST(runs > 700u);
    BOOST_TEST(n.counters().drop(nat_drop::malformed) > 0u);
}

BOOST_AUTO_TEST_SUITE_END()
