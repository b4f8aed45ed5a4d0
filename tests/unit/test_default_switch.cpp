// The Default Switch bundle (include/vnet/services/default_switch.hpp): an internal switch
// with the host vNIC's ICS services, driven in memory through the switch's memory_port
// transports and a manual clock. Sources: [NW] "Virtual switch choices" and "IP address
// allocations"; docs/eflow-facts.md "Support matrix" and "Hyper-V port and switch features"
// (DHCP, ICS NAT, DNS proxy, <name>.mshome.net, the /20 chosen again at boot or when the
// physical network changes, static guests then break); RFC 2131, RFC 826, RFC 792,
// RFC 1812, RFC 4787.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <vnet/services/default_switch.hpp>
#include <vnet/switch/clock.hpp>
#include <vnet/switch/port.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/dhcp.hpp>
#include <vnet/wire/dns.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/icmpv4.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/tcp.hpp>
#include <vnet/wire/udp.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::svc;
using namespace vnet::wire;
using namespace std::chrono_literals;
using mt = vnet::wire::dhcp_message_type;
using ds_type = default_switch<sw::memory_port, sw::manual_clock>;

VNET_TEST_PRINTABLE_NAMESPACE(vnet::svc)

namespace vnet::svc {
inline std::ostream& operator<<(std::ostream& os, default_switch_drop d) { return os << to_string(d); }
}  // namespace vnet::svc
namespace vnet::wire {
inline std::ostream& operator<<(std::ostream& os, dhcp_message_type t) { return os << to_string(t); }
}  // namespace vnet::wire

namespace {

const ipv4_address uplink_ip(192, 168, 0, 10);
const ipv4_prefix lan(ipv4_address(192, 168, 0, 0), 24);
const dns_endpoint upstream{ipv4_address(192, 168, 0, 1), 53};
const ipv4_address internet(198, 51, 100, 10);  // docs/design.md: the lab's "internet" server
const mac_address mac1(0x00, 0x15, 0x5d, 0x00, 0x00, 0x10);
const mac_address mac2(0x00, 0x15, 0x5d, 0x00, 0x00, 0x11);
const mac_address mac3(0x00, 0x15, 0x5d, 0x00, 0x00, 0x12);

default_switch_config base_config() {
    default_switch_config c;
    c.host_networks = {lan};
    c.uplink_address = uplink_ip;
    c.dns_upstreams = {upstream};
    c.lease_time = 3600s;
    return c;
}

ds_type make_ds(default_switch_config c = base_config(), std::uint64_t seed = 7) {
    std::mt19937_64 rng(seed);
    auto d = ds_type::make(std::move(c), rng, sw::manual_clock(std::chrono::seconds(1000)));
    BOOST_REQUIRE(d);
    return std::move(*d);
}

// ---- frames a guest sends ----

std::vector<std::byte> eth_frame(mac_address dst, mac_address src, std::uint16_t type, bytes_view payload) {
    std::vector<std::byte> f(ethernet_view::header_len + payload.size());
    BOOST_REQUIRE((ethernet_repr{dst, src, type}.emit(f)));
    store_bytes(f, ethernet_view::header_len, payload);
    return f;
}

std::vector<std::byte> ip_packet(ipv4_address src, ipv4_address dst, std::uint8_t proto, bytes_view l4, std::uint8_t ttl = 64) {
    ipv4_repr h;
    h.src = src;
    h.dst = dst;
    h.protocol = proto;
    h.ttl = ttl;
    h.payload_len = l4.size();
    std::vector<std::byte> p(h.buffer_len());
    BOOST_REQUIRE(h.emit(p));
    store_bytes(p, h.header_len(), l4);
    return p;
}

std::vector<std::byte> udp_packet(ipv4_address src, std::uint16_t sport, ipv4_address dst, std::uint16_t dport,
                                  bytes_view payload, std::uint8_t ttl = 64) {
    std::vector<std::byte> u(udp_view::header_len + payload.size());
    BOOST_REQUIRE((udp_repr{sport, dport, payload.size()}.emit(u, payload, src, dst)));
    return ip_packet(src, dst, ip_protocol::udp, u, ttl);
}

std::vector<std::byte> tcp_packet(ipv4_address src, std::uint16_t sport, ipv4_address dst, std::uint16_t dport,
                                  std::uint16_t flags, std::uint32_t seq, std::uint32_t ack = 0) {
    tcp_repr t;
    t.src_port = sport;
    t.dst_port = dport;
    t.flags = flags;
    t.seq_number = seq;
    t.ack_number = ack;
    t.window_len = 64240;
    t.mss = 1460;
    std::vector<std::byte> b(t.buffer_len());
    BOOST_REQUIRE(t.emit(b, {}, src, dst));
    return ip_packet(src, dst, ip_protocol::tcp, b);
}

std::vector<std::byte> ip_frame(mac_address dst, mac_address src, const std::vector<std::byte>& packet) {
    return eth_frame(dst, src, ethertype::ipv4, packet);
}

std::vector<std::byte> arp_frame(const arp_repr& a) {
    std::vector<std::byte> p(arp_repr::header_len);
    BOOST_REQUIRE(a.emit(p));
    return eth_frame(mac_address::broadcast(), a.sender_mac, ethertype::arp, p);
}

dhcp_repr client_msg(mt type, mac_address mac, std::uint32_t xid, std::string_view host = {}) {
    dhcp_repr r;
    r.op = bootp_op::request;
    r.xid = xid;
    r.set_client_mac(mac);
    r.message_type = type;
    r.host_name = std::string(host);
    r.parameter_request_list = {1, 3, 6, 12, 15, 28, 51, 54};
    return r;
}

/// A client message in a frame: from src (0.0.0.0 for a client without an address) to the
/// broadcast address, UDP 68 -> 67 (RFC 2131 section 4.1).
std::vector<std::byte> dhcp_frame(const dhcp_repr& r, mac_address mac, ipv4_address src = ipv4_address::any()) {
    std::vector<std::byte> m(r.buffer_len());
    auto n = r.emit(m);
    BOOST_REQUIRE(n);
    m.resize(*n);
    return ip_frame(mac_address::broadcast(), mac,
                    udp_packet(src, dhcp_port::client, ipv4_address::broadcast(), dhcp_port::server, m));
}

// ---- what a guest receives ----

struct rx_ip {
    ethernet_repr eth;
    ipv4_address src, dst;
    std::uint8_t protocol = 0, ttl = 0;
    std::vector<std::byte> l4;  // the transport header and payload
};

/// The IPv4 frames a port received, with verified IPv4 header checksums.
std::vector<rx_ip> ip_frames(const sw::memory_port& p) {
    std::vector<rx_ip> out;
    for (std::size_t i = 0; i < p.size(); ++i) {
        auto e = ethernet_view::parse(p.frame(i));
        BOOST_REQUIRE(e);
        if (e->ethertype() != ethertype::ipv4) continue;
        auto ip = ipv4_view::parse(e->payload());
        BOOST_REQUIRE(ip);
        BOOST_TEST(ip->checksum_ok());
        out.push_back({ethernet_repr::parse(*e), ip->src(), ip->dst(), ip->protocol(), ip->ttl(),
                       std::vector<std::byte>(ip->payload().begin(), ip->payload().end())});
    }
    return out;
}

/// The UDP datagrams among them from port sport, checksums verified.
struct rx_udp {
    rx_ip ip;
    std::uint16_t sport = 0, dport = 0;
    std::vector<std::byte> payload;
};
std::vector<rx_udp> udp_frames(const sw::memory_port& p, std::uint16_t sport) {
    std::vector<rx_udp> out;
    for (auto& f : ip_frames(p)) {
        if (f.protocol != ip_protocol::udp) continue;
        auto u = udp_view::parse(f.l4);
        BOOST_REQUIRE(u);
        if (u->src_port() != sport) continue;
        BOOST_TEST(udp_repr::parse(*u, f.src, f.dst).has_value());  // checksum over the pseudo header
        out.push_back({f, u->src_port(), u->dst_port(), std::vector<std::byte>(u->payload().begin(), u->payload().end())});
    }
    return out;
}

std::optional<dhcp_repr> last_dhcp(const sw::memory_port& p) {
    auto us = udp_frames(p, dhcp_port::server);
    if (us.empty()) return std::nullopt;
    auto v = dhcp_view::parse(us.back().payload);
    BOOST_REQUIRE(v);
    auto r = dhcp_repr::parse(*v);
    BOOST_REQUIRE(r);
    return *r;
}

/// DISCOVER, OFFER, REQUEST, ACK over the switch; returns the bound address.
ipv4_address dora(ds_type& ds, sw::port_index port, mac_address mac, std::string_view host, std::uint32_t xid,
                  std::optional<ipv4_address> want = std::nullopt) {
    auto& p = ds.port(port);
    p.clear();
    auto d = client_msg(mt::discover, mac, xid, host);
    d.requested_address = want;
    ds.send(port, dhcp_frame(d, mac));
    auto offer = last_dhcp(p);
    BOOST_REQUIRE(offer);
    BOOST_REQUIRE_EQUAL(*offer->message_type, mt::offer);
    p.clear();
    auto r = client_msg(mt::request, mac, xid, host);
    r.server_identifier = offer->server_identifier;
    r.requested_address = offer->yiaddr;
    ds.send(port, dhcp_frame(r, mac));
    auto ack = last_dhcp(p);
    BOOST_REQUIRE(ack);
    BOOST_REQUIRE_EQUAL(*ack->message_type, mt::ack);
    BOOST_REQUIRE(ack->yiaddr == offer->yiaddr);
    p.clear();
    return ack->yiaddr;
}

/// ARP for the host vNIC address; true when it answered with its MAC.
bool arp_gateway(ds_type& ds, sw::port_index port, mac_address mac, ipv4_address ip, ipv4_address gw) {
    auto& p = ds.port(port);
    p.clear();
    ds.send(port, arp_frame(arp_repr::make_request(mac, ip, gw)));
    for (std::size_t i = 0; i < p.size(); ++i) {
        auto e = ethernet_view::parse(p.frame(i));
        if (!e || e->ethertype() != ethertype::arp) continue;
        auto a = arp_view::parse(e->payload());
        if (a && a->is_reply() && a->sender_ip() == gw && a->target_ip() == ip) {
            const bool from_host = a->sender_mac() == ds.host_mac();
            p.clear();
            return from_host;
        }
    }
    p.clear();
    return false;
}

std::vector<std::byte> dns_query(std::uint16_t id, std::string_view name) {
    auto n = dns_name::parse(name);
    BOOST_REQUIRE(n);
    auto q = make_query(id, *n, dns_type::a);
    std::vector<std::byte> b(512);
    auto len = q.emit(b);
    BOOST_REQUIRE(len);
    b.resize(*len);
    return b;
}

dns_message_repr dns_of(bytes_view payload) {
    auto v = dns_view::parse(payload);
    BOOST_REQUIRE(v);
    auto m = dns_message_repr::parse(*v);
    BOOST_REQUIRE(m);
    return *m;
}

/// Two DHCP guests with leases: "eflow" (mac1) and "plc" (mac2).
struct two_vms {
    ds_type ds = make_ds();
    sw::port_index p1 = 0, p2 = 0;
    ipv4_address a1, a2;
    two_vms() {
        auto x = ds.add_vm("eflow", mac1, sw::memory_port{});
        auto y = ds.add_vm("plc", mac2, sw::memory_port{});
        BOOST_REQUIRE(x);
        BOOST_REQUIRE(y);
        p1 = *x;
        p2 = *y;
        a1 = dora(ds, p1, mac1, "eflow", 0x1001);
        a2 = dora(ds, p2, mac2, "plc", 0x2002);
    }
};

}  // namespace

// ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(default_switch_range)

// docs/eflow-facts.md: the Default Switch takes a /20 (mask 255.255.240.0); ICS takes it from
// 172.16.0.0/12: 256 candidates.
BOOST_AUTO_TEST_CASE(every_20_of_172_16_12_is_a_candidate) {
    auto all = free_ics_ranges({});
    BOOST_REQUIRE_EQUAL(all.size(), 256u);
    BOOST_TEST(all.front() == ipv4_prefix(ipv4_address(172, 16, 0, 0), 20));
    BOOST_TEST(all.back() == ipv4_prefix(ipv4_address(172, 31, 240, 0), 20));
}

// "does not collide with the host's other networks": several networks of the host leave
// only 172.31.128.0/17 free; every seed picks a /20 there.
BOOST_AUTO_TEST_CASE(chosen_range_avoids_every_host_network) {
    const std::vector<ipv4_prefix> host = {
        ipv4_prefix(ipv4_address(172, 16, 0, 0), 13), ipv4_prefix(ipv4_address(172, 24, 0, 0), 14),
        ipv4_prefix(ipv4_address(172, 28, 0, 0), 15), ipv4_prefix(ipv4_address(172, 30, 0, 0), 16),
        ipv4_prefix(ipv4_address(172, 31, 5, 7), 17),  // host bits set: an interface address
        ipv4_prefix(ipv4_address(10, 0, 0, 0), 8),    lan};
    BOOST_TEST(free_ics_ranges(host).size() == 8u);
    for (std::uint64_t seed = 0; seed < 64; ++seed) {
        std::mt19937_64 rng(seed);
        auto r = choose_ics_range(host, rng);
        BOOST_REQUIRE(r);
        BOOST_TEST(ipv4_prefix(ipv4_address(172, 31, 128, 0), 17).contains(*r));
        for (const auto& h : host) BOOST_TEST(!h.canonical().overlaps(*r));
    }
}

// Deterministic given the injected random source.
BOOST_AUTO_TEST_CASE(choice_is_deterministic_given_the_random_source) {
    std::mt19937_64 a(42), b(42);
    auto ra = choose_ics_range({}, a);
    auto rb = choose_ics_range({}, b);
    BOOST_REQUIRE(ra);
    BOOST_TEST(*ra == *rb);
    auto fixed = [] { return std::uint64_t{3}; };
    auto r3 = choose_ics_range({}, fixed);
    BOOST_REQUIRE(r3);
    BOOST_TEST(*r3 == ipv4_prefix(ipv4_address(172, 16, 48, 0), 20));
    // With a network on the first /20 the same draw lands one further.
    const std::vector<ipv4_prefix> first = {ipv4_prefix(ipv4_address(172, 16, 0, 1), 24)};
    BOOST_TEST(*choose_ics_range(first, fixed) == ipv4_prefix(ipv4_address(172, 16, 64, 0), 20));
}

BOOST_AUTO_TEST_CASE(no_free_range_is_a_clear_error) {
    auto fixed = [] { return std::uint64_t{0}; };
    const std::vector<ipv4_prefix> all = {ipv4_prefix(ipv4_address(172, 16, 0, 0), 12)};
    auto r = choose_ics_range(all, fixed);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().what == errc::exhausted);
    BOOST_TEST(r.error().message() ==
               "service.Default Switch range (every /20 of 172.16.0.0/12 overlaps a network of the host): exhausted");
    auto c = base_config();
    c.host_networks.push_back(all.front());
    std::mt19937_64 rng(1);
    BOOST_TEST(!ds_type::make(c, rng).has_value());
}

// The uplink address counts as a host network even when its prefix is not listed.
BOOST_AUTO_TEST_CASE(uplink_address_inside_172_16_12_is_avoided) {
    auto c = base_config();
    c.host_networks.clear();
    c.uplink_address = ipv4_address(172, 16, 0, 10);
    for (std::uint64_t seed = 0; seed < 300; ++seed) {
        auto d = make_ds(c, seed);
        BOOST_TEST(!d.range().contains(c.uplink_address));
    }
}

// The host vNIC takes the first address of the /20; DHCP hands out the rest.
BOOST_AUTO_TEST_CASE(host_vnic_and_dhcp_pool_follow_the_range) {
    auto c = base_config();
    c.range = ipv4_prefix(ipv4_address(172, 31, 96, 0), 20);
    auto d = make_ds(c);
    BOOST_TEST(d.range() == *c.range);
    BOOST_TEST(d.host_address() == ipv4_address(172, 31, 96, 1));
    BOOST_TEST(d.dhcp().config().range_first == ipv4_address(172, 31, 96, 2));
    BOOST_TEST(d.dhcp().config().range_last == ipv4_address(172, 31, 111, 254));
    BOOST_TEST(d.dhcp().config().domain_name == "mshome.net");
    BOOST_TEST(d.nat().config().internal_prefix == *c.range);
    BOOST_TEST(d.nat().config().external_address == uplink_ip);
    BOOST_TEST((d.vswitch().spec().kind == sw::switch_kind::default_switch));
    BOOST_TEST((d.vswitch().config(d.service_port()).role == sw::port_role::host_vnic));
    // A given range must be a free /20 of 172.16.0.0/12.
    auto bad = base_config();
    std::mt19937_64 rng(1);
    bad.range = ipv4_prefix(ipv4_address(172, 31, 96, 0), 24);
    BOOST_TEST(!ds_type::make(bad, rng).has_value());
    bad.range = ipv4_prefix(ipv4_address(192, 168, 0, 0), 20);
    BOOST_TEST(!ds_type::make(bad, rng).has_value());
    bad.range = ipv4_prefix(ipv4_address(172, 31, 96, 0), 20);
    bad.host_networks.push_back(ipv4_prefix(ipv4_address(172, 31, 100, 0), 24));
    auto e = ds_type::make(bad, rng);
    BOOST_REQUIRE(!e);
    BOOST_TEST(e.error().what == errc::conflict);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(default_switch_dhcp)

// Seed 000: the Default Switch "already has a DHCP Server for IP assignments"; RFC 2131
// section 3.1: DISCOVER, OFFER, REQUEST, ACK. The options: router and DNS server = the
// host vNIC, domain mshome.net (docs/eflow-facts.md), mask 255.255.240.0 ([TS] example).
BOOST_AUTO_TEST_CASE(a_vm_completes_dora_through_the_switch) {
    auto c = base_config();
    c.range = ipv4_prefix(ipv4_address(172, 31, 96, 0), 20);
    auto ds = make_ds(c);
    auto port = ds.add_vm("eflow", mac1, sw::memory_port{});
    BOOST_REQUIRE(port);
    auto& p = ds.port(*port);

    auto d = client_msg(mt::discover, mac1, 0xabcd, "eflow");
    d.requested_address = ipv4_address(172, 31, 100, 171);  // the [TS] example address
    ds.send(*port, dhcp_frame(d, mac1));
    auto us = udp_frames(p, dhcp_port::server);
    BOOST_REQUIRE_EQUAL(us.size(), 1u);
    BOOST_TEST(us[0].ip.eth.src == ds.host_mac());
    BOOST_TEST(us[0].ip.src == ipv4_address(172, 31, 96, 1));
    BOOST_TEST(us[0].dport == dhcp_port::client);
    auto offer = last_dhcp(p);
    BOOST_REQUIRE(offer);
    BOOST_TEST(*offer->message_type == mt::offer);
    BOOST_TEST(offer->yiaddr == ipv4_address(172, 31, 100, 171));
    BOOST_TEST((offer->subnet_mask == std::optional<ipv4_address>(ipv4_address(255, 255, 240, 0))));
    BOOST_REQUIRE_EQUAL(offer->routers.size(), 1u);
    BOOST_TEST(offer->routers[0] == ds.host_address());
    BOOST_REQUIRE_EQUAL(offer->dns_servers.size(), 1u);
    BOOST_TEST(offer->dns_servers[0] == ds.host_address());
    BOOST_TEST(offer->domain_name == "mshome.net");
    BOOST_TEST((offer->server_identifier == std::optional<ipv4_address>(ds.host_address())));

    p.clear();
    auto r = client_msg(mt::request, mac1, 0xabcd, "eflow");
    r.server_identifier = ds.host_address();
    r.requested_address = offer->yiaddr;
    ds.send(*port, dhcp_frame(r, mac1));
    auto ack = last_dhcp(p);
    BOOST_REQUIRE(ack);
    BOOST_TEST(*ack->message_type == mt::ack);
    BOOST_TEST(ack->yiaddr == ipv4_address(172, 31, 100, 171));
    const auto* lease = ds.dhcp().lease_of(mac1);
    BOOST_REQUIRE(lease);
    BOOST_TEST(lease->state == dhcp_lease_state::bound);
    BOOST_TEST(ds.counters().dhcp == 2u);
    // "VM names resolve as <name>.mshome.net" (docs/eflow-facts.md): registered at the ACK.
    BOOST_REQUIRE_EQUAL(ds.names().size(), 1u);
    BOOST_TEST(ds.names()[0].host == "eflow");
    BOOST_TEST(ds.names()[0].address == ack->yiaddr);
}

// One client, one address: a second VM gets another lease.
BOOST_AUTO_TEST_CASE(a_second_vm_gets_a_different_lease) {
    two_vms L;
    BOOST_TEST(L.a1 != L.a2);
    BOOST_TEST(L.ds.range().contains(L.a1));
    BOOST_TEST(L.ds.range().contains(L.a2));
    BOOST_TEST(L.a1 != L.ds.host_address());
    BOOST_TEST(L.ds.dhcp().lease_of(mac2)->address == L.a2);
    BOOST_TEST(L.ds.names().size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(default_switch_gateway)

// RFC 826 then RFC 792: the guest resolves its gateway and pings it.
BOOST_AUTO_TEST_CASE(a_vm_pings_its_gateway) {
    two_vms L;
    auto& p = L.ds.port(L.p1);
    BOOST_TEST(arp_gateway(L.ds, L.p1, mac1, L.a1, L.ds.host_address()));
    BOOST_TEST((L.ds.gateway().neighbor(L.a1, std::chrono::steady_clock::time_point(1000s)) == std::optional<mac_address>(mac1)));

    icmpv4_repr echo{icmpv4_echo_request{0x77, 1, {}}};
    const std::vector<std::byte> data = test::hex("01 02 03 04 05 06 07 08");
    echo = icmpv4_repr{icmpv4_echo_request{0x77, 1, data}};
    std::vector<std::byte> ib(echo.buffer_len());
    BOOST_REQUIRE(echo.emit(ib));
    L.ds.send(L.p1, ip_frame(L.ds.host_mac(), mac1, ip_packet(L.a1, L.ds.host_address(), ip_protocol::icmp, ib)));
    auto in = ip_frames(p);
    BOOST_REQUIRE_EQUAL(in.size(), 1u);
    BOOST_TEST(in[0].eth.dst == mac1);
    BOOST_TEST(in[0].src == L.ds.host_address());
    BOOST_TEST(in[0].dst == L.a1);
    auto iv = icmpv4_view::parse(in[0].l4);
    BOOST_REQUIRE(iv);
    auto r = icmpv4_repr::parse(*iv);
    BOOST_REQUIRE(r);
    BOOST_TEST((*r == icmpv4_repr{icmpv4_echo_reply{0x77, 1, data}}));
    BOOST_TEST(L.ds.counters().host_icmp == 1u);
    // The other VM heard the broadcast ARP request but none of the unicast replies.
    BOOST_TEST(ip_frames(L.ds.port(L.p2)).empty());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(default_switch_dns)

// docs/eflow-facts.md: "VM names resolve as <name>.mshome.net"; the proxy answers for the
// registered DHCP host name with the VM's lease address.
BOOST_AUTO_TEST_CASE(a_vm_resolves_another_vm_by_its_mshome_net_name) {
    two_vms L;
    auto& p = L.ds.port(L.p1);
    BOOST_REQUIRE(arp_gateway(L.ds, L.p1, mac1, L.a1, L.ds.host_address()));
    L.ds.send(L.p1, ip_frame(L.ds.host_mac(), mac1,
                             udp_packet(L.a1, 40000, L.ds.host_address(), 53, dns_query(0x4242, "plc.mshome.net"))));
    auto us = udp_frames(p, 53);
    BOOST_REQUIRE_EQUAL(us.size(), 1u);
    BOOST_TEST(us[0].dport == 40000u);
    BOOST_TEST(us[0].ip.dst == L.a1);
    auto m = dns_of(us[0].payload);
    BOOST_TEST(m.header.id == 0x4242u);
    BOOST_TEST(m.header.aa);
    BOOST_REQUIRE_EQUAL(m.answers.size(), 1u);
    BOOST_TEST(std::get<dns_a>(m.answers[0].rdata).address == L.a2);
    BOOST_TEST(L.ds.dns_upstream().empty());
    BOOST_TEST(L.ds.counters().dns_replies == 1u);
}

// Seed 000 "DNS": other names go to the host's DNS servers; the answer comes back with the
// VM's own ID.
BOOST_AUTO_TEST_CASE(other_names_are_forwarded_upstream) {
    two_vms L;
    auto& p = L.ds.port(L.p1);
    BOOST_REQUIRE(arp_gateway(L.ds, L.p1, mac1, L.a1, L.ds.host_address()));
    L.ds.send(L.p1, ip_frame(L.ds.host_mac(), mac1,
                             udp_packet(L.a1, 40001, L.ds.host_address(), 53, dns_query(0x0101, "iothub.example"))));
    BOOST_TEST(udp_frames(p, 53).empty());
    BOOST_REQUIRE_EQUAL(L.ds.dns_upstream().size(), 1u);
    const dns_outgoing q = L.ds.dns_upstream()[0];
    L.ds.clear_dns_upstream();
    BOOST_TEST(q.to == dns_peer::upstream);
    BOOST_TEST(q.endpoint == upstream);
    auto query = dns_of(q.message());
    auto resp = make_response(query);
    resp.answers.push_back(dns_record_repr::make(query.questions[0].name, 300, dns_a{internet}));
    std::vector<std::byte> b(512);
    auto n = resp.emit(b);
    BOOST_REQUIRE(n);
    b.resize(*n);
    L.ds.on_dns_answer(upstream, b);
    auto us = udp_frames(p, 53);
    BOOST_REQUIRE_EQUAL(us.size(), 1u);
    auto m = dns_of(us[0].payload);
    BOOST_TEST(m.header.id == 0x0101u);
    BOOST_REQUIRE_EQUAL(m.answers.size(), 1u);
    BOOST_TEST(std::get<dns_a>(m.answers[0].rdata).address == internet);
    BOOST_TEST(us[0].ip.eth.dst == mac1);
}

// RFC 1035 4.1.1: an upstream that never answers gives SERVFAIL after the query timeout
// (driven by poll() and the manual clock).
BOOST_AUTO_TEST_CASE(unanswered_upstream_gives_servfail_on_poll) {
    two_vms L;
    auto& p = L.ds.port(L.p1);
    BOOST_REQUIRE(arp_gateway(L.ds, L.p1, mac1, L.a1, L.ds.host_address()));
    L.ds.send(L.p1, ip_frame(L.ds.host_mac(), mac1,
                             udp_packet(L.a1, 40002, L.ds.host_address(), 53, dns_query(0x0202, "down.example"))));
    L.ds.clock().advance(11s);
    L.ds.poll();
    auto us = udp_frames(p, 53);
    BOOST_REQUIRE_EQUAL(us.size(), 1u);
    BOOST_TEST(dns_of(us[0].payload).header.rcode == dns_rcode::servfail);
}

// The name follows the lease: DHCPRELEASE (RFC 2131 section 4.4.6) removes it, and so
// does expiry.
BOOST_AUTO_TEST_CASE(names_leave_with_their_lease) {
    two_vms L;
    auto& p = L.ds.port(L.p1);
    BOOST_REQUIRE(arp_gateway(L.ds, L.p1, mac1, L.a1, L.ds.host_address()));
    auto rel = client_msg(mt::release, mac2, 0x3003);
    rel.ciaddr = L.a2;
    rel.server_identifier = L.ds.host_address();
    L.ds.send(L.p2, dhcp_frame(rel, mac2, L.a2));
    BOOST_TEST(L.ds.names().size() == 1u);
    BOOST_TEST(L.ds.counters().names_removed == 1u);
    L.ds.send(L.p1,
              ip_frame(L.ds.host_mac(), mac1, udp_packet(L.a1, 40003, L.ds.host_address(), 53, dns_query(7, "plc.mshome.net"))));
    auto us = udp_frames(p, 53);
    BOOST_REQUIRE_EQUAL(us.size(), 1u);
    BOOST_TEST(dns_of(us[0].payload).header.rcode == dns_rcode::nxdomain);

    L.ds.clock().advance(3601s);
    L.ds.poll();
    BOOST_TEST(L.ds.names().empty());
    BOOST_TEST(L.ds.counters().names_removed == 2u);
}

// Two VMs with the same host name: the later lease wins, and when it ends the name points
// back at the VM that still holds its lease (no VM is left unresolvable by the other's RELEASE).
BOOST_AUTO_TEST_CASE(a_shared_host_name_follows_the_remaining_lease) {
    auto ds = make_ds();
    auto x = ds.add_vm("a", mac1, sw::memory_port{});
    auto y = ds.add_vm("b", mac2, sw::memory_port{});
    BOOST_REQUIRE(x);
    BOOST_REQUIRE(y);
    const auto a1 = dora(ds, *x, mac1, "edge", 1);
    const auto a2 = dora(ds, *y, mac2, "edge", 2);
    BOOST_REQUIRE(arp_gateway(ds, *x, mac1, a1, ds.host_address()));
    auto resolve = [&](std::uint16_t id) {
        auto& p = ds.port(*x);
        p.clear();
        ds.send(*x,
                ip_frame(ds.host_mac(), mac1, udp_packet(a1, 40000, ds.host_address(), 53, dns_query(id, "edge.mshome.net"))));
        auto us = udp_frames(p, 53);
        BOOST_REQUIRE_EQUAL(us.size(), 1u);
        auto m = dns_of(us[0].payload);
        BOOST_REQUIRE_EQUAL(m.answers.size(), 1u);
        return std::get<dns_a>(m.answers[0].rdata).address;
    };
    BOOST_TEST(resolve(1) == a2);
    auto rel = client_msg(mt::release, mac2, 3);
    rel.ciaddr = a2;
    rel.server_identifier = ds.host_address();
    ds.send(*y, dhcp_frame(rel, mac2, a2));
    BOOST_TEST(resolve(2) == a1);
}

// RFC 2131 section 4.4.5: at T1 the client renews by unicast to the server; the ACK
// extends the lease and keeps the name.
BOOST_AUTO_TEST_CASE(a_unicast_renew_is_acknowledged) {
    two_vms L;
    L.ds.clock().advance(1800s);
    auto& p = L.ds.port(L.p1);
    p.clear();
    auto r = client_msg(mt::request, mac1, 0x6006, "eflow");
    r.ciaddr = L.a1;
    std::vector<std::byte> m(r.buffer_len());
    auto n = r.emit(m);
    BOOST_REQUIRE(n);
    m.resize(*n);
    L.ds.send(L.p1,
              ip_frame(L.ds.host_mac(), mac1, udp_packet(L.a1, dhcp_port::client, L.ds.host_address(), dhcp_port::server, m)));
    auto ack = last_dhcp(p);
    BOOST_REQUIRE(ack);
    BOOST_TEST(*ack->message_type == mt::ack);
    BOOST_TEST(ack->yiaddr == L.a1);
    BOOST_TEST(L.ds.dhcp().counters().renewing == 1u);
    L.ds.clock().advance(1900s);  // past the first lease's end, inside the renewed one
    L.ds.poll();
    BOOST_TEST(L.ds.names().size() == 1u);  // plc's lease (not renewed) ended; eflow's did not
    BOOST_TEST(L.ds.names()[0].host == "eflow");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(default_switch_nat)

// Seed 000: ICS NAT. A UDP datagram to the internet leaves with the host's uplink address
// (port kept, RFC 4787 REQ-3), TTL one lower (RFC 1812 5.3.1), checksums valid; the reply
// comes back to the VM from the host vNIC MAC.
BOOST_AUTO_TEST_CASE(udp_to_the_internet_is_translated_both_ways) {
    two_vms L;
    auto& p1 = L.ds.port(L.p1);
    BOOST_REQUIRE(arp_gateway(L.ds, L.p1, mac1, L.a1, L.ds.host_address()));
    const auto payload = test::hex("68 65 6c 6c 6f");
    L.ds.send(L.p1, ip_frame(L.ds.host_mac(), mac1, udp_packet(L.a1, 40000, internet, 5000, payload)));
    BOOST_REQUIRE_EQUAL(L.ds.uplink().size(), 1u);
    const std::vector<std::byte> out = L.ds.uplink()[0];
    L.ds.clear_uplink();
    auto ip = ipv4_view::parse(out);
    BOOST_REQUIRE(ip);
    BOOST_TEST(ip->checksum_ok());
    BOOST_TEST(ip->src() == uplink_ip);
    BOOST_TEST(ip->dst() == internet);
    BOOST_TEST(ip->ttl() == 63u);
    auto u = udp_view::parse(ip->payload());
    BOOST_REQUIRE(u);
    BOOST_TEST(udp_repr::parse(*u, ip->src(), ip->dst()).has_value());
    BOOST_TEST(u->src_port() == 40000u);
    BOOST_TEST(test::view(payload).size() == u->payload().size());

    L.ds.on_uplink(udp_packet(internet, 5000, uplink_ip, u->src_port(), test::hex("6f 6b")));
    auto back = udp_frames(p1, 5000);
    BOOST_REQUIRE_EQUAL(back.size(), 1u);
    BOOST_TEST(back[0].ip.eth.src == L.ds.host_mac());
    BOOST_TEST(back[0].ip.eth.dst == mac1);
    BOOST_TEST(back[0].ip.src == internet);
    BOOST_TEST(back[0].ip.dst == L.a1);
    BOOST_TEST(back[0].ip.ttl == 63u);
    BOOST_TEST(back[0].dport == 40000u);
    BOOST_TEST(udp_frames(L.ds.port(L.p2), 5000).empty());
    BOOST_TEST(L.ds.counters().routed_out == 1u);
    BOOST_TEST(L.ds.counters().routed_in == 1u);
}

// TCP: two VMs open a connection from the same port to the same server; the second gets
// another external port, and each SYN-ACK reaches the VM that sent the SYN.
BOOST_AUTO_TEST_CASE(tcp_syn_leaves_translated_and_the_syn_ack_finds_its_vm) {
    two_vms L;
    BOOST_REQUIRE(arp_gateway(L.ds, L.p1, mac1, L.a1, L.ds.host_address()));
    BOOST_REQUIRE(arp_gateway(L.ds, L.p2, mac2, L.a2, L.ds.host_address()));
    L.ds.send(L.p1, ip_frame(L.ds.host_mac(), mac1, tcp_packet(L.a1, 50000, internet, 8883, tcp_flag::syn, 100)));
    L.ds.send(L.p2, ip_frame(L.ds.host_mac(), mac2, tcp_packet(L.a2, 50000, internet, 8883, tcp_flag::syn, 200)));
    BOOST_REQUIRE_EQUAL(L.ds.uplink().size(), 2u);
    std::uint16_t ext[2] = {};
    for (std::size_t i = 0; i < 2; ++i) {
        auto ip = ipv4_view::parse(L.ds.uplink()[i]);
        BOOST_REQUIRE(ip);
        BOOST_TEST(ip->checksum_ok());
        BOOST_TEST(ip->src() == uplink_ip);
        auto t = tcp_view::parse(ip->payload());
        BOOST_REQUIRE(t);
        auto tr = tcp_repr::parse(*t, ip->src(), ip->dst());  // verifies the checksum
        BOOST_REQUIRE(tr);
        BOOST_TEST(tr->flags == tcp_flag::syn);
        BOOST_TEST(tr->seq_number == (i == 0 ? 100u : 200u));
        ext[i] = tr->src_port;
    }
    BOOST_TEST(ext[0] == 50000u);
    BOOST_TEST(ext[1] != ext[0]);
    L.ds.clear_uplink();

    const std::vector<std::vector<std::byte>> batch = {
        tcp_packet(internet, 8883, uplink_ip, ext[1], tcp_flag::syn | tcp_flag::ack, 9000, 201)};
    L.ds.on_uplink(batch);
    BOOST_TEST(ip_frames(L.ds.port(L.p1)).empty());
    auto in = ip_frames(L.ds.port(L.p2));
    BOOST_REQUIRE_EQUAL(in.size(), 1u);
    BOOST_TEST(in[0].dst == L.a2);
    BOOST_TEST(in[0].eth.dst == mac2);
    auto t = tcp_view::parse(in[0].l4);
    BOOST_REQUIRE(t);
    auto tr = tcp_repr::parse(*t, in[0].src, in[0].dst);
    BOOST_REQUIRE(tr);
    BOOST_TEST(tr->dst_port == 50000u);
    BOOST_TEST(tr->ack_number == 201u);
    auto flow = L.ds.nat().find_flow(nat_protocol::tcp, L.a2, 50000, internet, 8883);
    BOOST_REQUIRE(flow);
    BOOST_TEST(flow->tcp_phase == nat_tcp_phase::established);
}

// Every packet the services do not serve is counted under a named reason.
BOOST_AUTO_TEST_CASE(unserved_traffic_is_counted_by_reason) {
    auto c = base_config();
    c.uplink_queue = 2;
    auto ds = make_ds(c);
    auto port = ds.add_vm("eflow", mac1, sw::memory_port{});
    BOOST_REQUIRE(port);
    const auto a = dora(ds, *port, mac1, "eflow", 1);
    const auto host = ds.host_address();
    using d = default_switch_drop;
    ds.send(*port, ip_frame(ds.host_mac(), mac1, tcp_packet(a, 50000, host, 445, tcp_flag::syn, 1)));
    BOOST_TEST(ds.counters().drop(d::host_port_closed) == 1u);
    {  // a first fragment of a UDP datagram to the host: no reassembly
        ipv4_repr h;
        h.src = a;
        h.dst = host;
        h.protocol = ip_protocol::udp;
        h.more_fragments = true;
        h.payload_len = 16;
        std::vector<std::byte> frag(h.buffer_len());
        BOOST_REQUIRE(h.emit(frag));
        store_be16(frag, 20 + udp_view::field::dst_port, 53);
        store_be16(frag, 20 + udp_view::field::length, 100);
        ds.send(*port, ip_frame(ds.host_mac(), mac1, frag));
        BOOST_TEST(ds.counters().drop(d::fragment) == 1u);
        BOOST_TEST(ds.counters().dns_queries == 0u);
    }
    ds.send(*port, eth_frame(ds.host_mac(), mac1, ethertype::ipv6, test::hex("60 00 00 00 00 00 3b 40")));
    BOOST_TEST(ds.counters().drop(d::ipv6) == 1u);
    ds.send(*port, ip_frame(ds.host_mac(), mac1, udp_packet(a, 1, ipv4_address(a.to_u32() + 1), 2, {})));
    BOOST_TEST(ds.counters().drop(d::onlink_not_routed) == 1u);
    ds.send(*port, ip_frame(ds.host_mac(), mac1, udp_packet(a, 1, internet, 2, {}, 1)));
    BOOST_TEST(ds.counters().drop(d::ttl_expired) == 1u);
    ds.send(*port, ip_frame(mac_address::broadcast(), mac1, udp_packet(a, 137, ipv4_address::broadcast(), 137, {})));
    BOOST_TEST(ds.counters().drop(d::broadcast_ignored) == 1u);
    // Unknown unicast is flooded to the host vNIC port too, which is not its destination.
    ds.send(*port, ip_frame(mac3, mac1, udp_packet(a, 1, internet, 2, {})));
    BOOST_TEST(ds.counters().drop(d::not_for_host) == 1u);
    // An unsolicited packet from the uplink matches no flow (RFC 4787 section 5).
    ds.on_uplink(udp_packet(internet, 53, uplink_ip, 40000, {}));
    BOOST_TEST(ds.counters().drop(d::uplink_refused) == 1u);
    BOOST_TEST(ds.nat().counters().drop(nat_drop::no_mapping) == 1u);
    // The owner does not drain the uplink queue: the third packet is dropped.
    for (std::uint16_t i = 0; i < 3; ++i)
        ds.send(*port, ip_frame(ds.host_mac(), mac1, udp_packet(a, static_cast<std::uint16_t>(40000 + i), internet, 9, {})));
    BOOST_TEST(ds.uplink().size() == 2u);
    BOOST_TEST(ds.counters().drop(d::uplink_queue_full) == 1u);
    // A reply for an address with neither an ARP entry nor a lease: no MAC to send it to.
    ds.clear_uplink();
    const ipv4_address unknown(a.to_u32() + 10);
    ds.send(*port, ip_frame(ds.host_mac(), mac1, udp_packet(unknown, 41000, internet, 9, {})));
    BOOST_REQUIRE_EQUAL(ds.uplink().size(), 1u);
    ds.on_uplink(udp_packet(internet, 9, uplink_ip, 41000, {}));
    BOOST_TEST(ds.counters().drop(d::no_neighbor) == 1u);
    BOOST_TEST(ds.counters().routed_in == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(default_switch_static_guests)

// docs/eflow-facts.md support matrix: static IP on the Default Switch is not supported. A guest
// that configures an address outside the range (the classic ICS 192.168.137.0/24) gets no
// ARP answer from a gateway and the NAT refuses its packets; it still reaches VMs on the
// switch at layer 2.
BOOST_AUTO_TEST_CASE(static_guest_outside_the_range_reaches_nothing_beyond_the_switch) {
    two_vms L;
    auto port = L.ds.add_vm("static", mac3, sw::memory_port{});
    BOOST_REQUIRE(port);
    const ipv4_address s(192, 168, 137, 50), gw(192, 168, 137, 1);
    BOOST_TEST(!arp_gateway(L.ds, *port, mac3, s, gw));
    // Even with the host vNIC MAC as next hop, nothing is routed.
    L.ds.send(*port, ip_frame(L.ds.host_mac(), mac3, udp_packet(s, 40000, internet, 53, test::hex("00"))));
    BOOST_TEST(L.ds.uplink().empty());
    BOOST_TEST(L.ds.counters().drop(default_switch_drop::nat_refused) == 1u);
    BOOST_TEST(L.ds.nat().counters().drop(nat_drop::not_inside) == 1u);
    // The host's DNS proxy is out of reach too (its address is not on the guest's subnet).
    // Layer 2 still works: a frame to another VM's MAC is switched to it.
    L.ds.port(L.p1).clear();
    L.ds.send(*port, ip_frame(mac1, mac3, udp_packet(s, 1, L.a1, 2, test::hex("aa"))));
    BOOST_TEST(udp_frames(L.ds.port(L.p1), 1).size() == 1u);
}

// "unless it happens to be inside the current range": then ARP and NAT serve it.
BOOST_AUTO_TEST_CASE(static_guest_inside_the_range_is_served) {
    two_vms L;
    auto port = L.ds.add_vm("static", mac3, sw::memory_port{});
    BOOST_REQUIRE(port);
    const ipv4_address s(L.ds.range().broadcast().to_u32() - 5);
    BOOST_TEST(arp_gateway(L.ds, *port, mac3, s, L.ds.host_address()));
    L.ds.send(*port, ip_frame(L.ds.host_mac(), mac3, udp_packet(s, 40000, internet, 53, test::hex("00"))));
    BOOST_TEST(L.ds.uplink().size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(default_switch_reselect)

// docs/eflow-facts.md: "its range is chosen again at boot or when the physical network changes
// (static guests then break)". The physical network now uses the old /20: the bundle moves.
// The static guest's traffic is no longer routed; the DHCP guest's INIT-REBOOT and
// REBINDING for its old address get DHCPNAK "wrong network" (RFC 2131 section 4.3.2) and it
// recovers with a new DISCOVER.
BOOST_AUTO_TEST_CASE(static_guest_breaks_and_dhcp_guest_recovers_after_a_range_change) {
    two_vms L;
    const ipv4_prefix old_range = L.ds.range();
    const ipv4_address old_gw = L.ds.host_address();
    auto sp = L.ds.add_vm("static", mac3, sw::memory_port{});
    BOOST_REQUIRE(sp);
    const ipv4_address s(old_range.broadcast().to_u32() - 5);
    BOOST_REQUIRE(arp_gateway(L.ds, *sp, mac3, s, old_gw));
    L.ds.send(*sp, ip_frame(L.ds.host_mac(), mac3, udp_packet(s, 40000, internet, 53, test::hex("00"))));
    BOOST_REQUIRE_EQUAL(L.ds.uplink().size(), 1u);  // routed while it was inside the range
    L.ds.clear_uplink();

    std::mt19937_64 rng(99);
    auto moved = L.ds.reselect({lan, old_range}, rng);  // e.g. a Wi-Fi network on the old /20
    BOOST_REQUIRE(moved);
    const ipv4_prefix new_range = L.ds.range();
    BOOST_TEST(!new_range.overlaps(old_range));
    BOOST_TEST(L.ds.host_address() == ipv4_address(new_range.network().to_u32() + 1));
    BOOST_TEST(L.ds.counters().range_changes == 1u);
    BOOST_TEST(L.ds.names().empty());

    // The static guest: no gateway at its old address, and nothing is routed.
    BOOST_TEST(!arp_gateway(L.ds, *sp, mac3, s, old_gw));
    L.ds.send(*sp, ip_frame(L.ds.host_mac(), mac3, udp_packet(s, 40001, internet, 53, test::hex("00"))));
    BOOST_TEST(L.ds.uplink().empty());
    BOOST_TEST(L.ds.nat().counters().drop(nat_drop::not_inside) == 1u);

    // The DHCP guest after a reboot: INIT-REBOOT for its old address.
    auto& p1 = L.ds.port(L.p1);
    p1.clear();
    auto ir = client_msg(mt::request, mac1, 0x5005, "eflow");
    ir.requested_address = L.a1;
    L.ds.send(L.p1, dhcp_frame(ir, mac1));
    auto nak = last_dhcp(p1);
    BOOST_REQUIRE(nak);
    BOOST_TEST(*nak->message_type == mt::nak);
    BOOST_TEST(nak->message == "wrong network");
    // A running guest's REBINDING broadcast (ciaddr = its old address) is refused too.
    p1.clear();
    auto rb = client_msg(mt::request, mac1, 0x5006, "eflow");
    rb.ciaddr = L.a1;
    L.ds.send(L.p1, dhcp_frame(rb, mac1, L.a1));
    auto nak2 = last_dhcp(p1);
    BOOST_REQUIRE(nak2);
    BOOST_TEST(*nak2->message_type == mt::nak);

    // It starts over (RFC 2131 section 3.2: NAK -> INIT) and is served in the new range.
    const ipv4_address a = dora(L.ds, L.p1, mac1, "eflow", 0x5007);
    BOOST_TEST(new_range.contains(a));
    BOOST_TEST(arp_gateway(L.ds, L.p1, mac1, a, L.ds.host_address()));
    L.ds.send(L.p1, ip_frame(L.ds.host_mac(), mac1, udp_packet(a, 40002, internet, 53, test::hex("00"))));
    BOOST_REQUIRE_EQUAL(L.ds.uplink().size(), 1u);
    auto ip = ipv4_view::parse(L.ds.uplink()[0]);
    BOOST_REQUIRE(ip);
    BOOST_TEST(ip->src() == uplink_ip);
    BOOST_REQUIRE_EQUAL(L.ds.names().size(), 1u);
    BOOST_TEST(L.ds.names()[0].address == a);
}

// The old /20 is avoided when another is free; move_to checks its range.
BOOST_AUTO_TEST_CASE(reselect_moves_and_move_to_checks_the_range) {
    auto ds = make_ds();
    const ipv4_prefix r0 = ds.range();
    std::mt19937_64 rng(5);
    for (int i = 0; i < 20; ++i) {
        const ipv4_prefix before = ds.range();
        BOOST_REQUIRE(ds.reselect({lan}, rng));
        BOOST_TEST(ds.range() != before);
    }
    BOOST_TEST(ds.counters().range_changes == 20u);
    BOOST_TEST(!ds.move_to(ipv4_prefix(ipv4_address(10, 0, 0, 0), 20)));
    BOOST_TEST(!ds.move_to(ipv4_prefix(ipv4_address(172, 20, 0, 0), 24)));
    auto all = ds.reselect({ipv4_prefix(ipv4_address(172, 16, 0, 0), 12)}, rng);
    BOOST_REQUIRE(!all);
    BOOST_TEST(all.error().what == errc::exhausted);
    BOOST_TEST(ds.range().length() == 20u);  // unchanged by the failure
    BOOST_REQUIRE(ds.move_to(r0));
    BOOST_TEST(ds.range() == r0);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(default_switch_state)

BOOST_AUTO_TEST_CASE(formatter_shows_range_leases_names_flows_and_counters) {
    two_vms L;
    BOOST_REQUIRE(arp_gateway(L.ds, L.p1, mac1, L.a1, L.ds.host_address()));
    L.ds.send(L.p1, ip_frame(L.ds.host_mac(), mac1, udp_packet(L.a1, 40000, internet, 53, test::hex("00"))));
    const std::string s = fmt::format("{}", L.ds);
    BOOST_TEST(s.find(fmt::format("Default Switch {}, host vNIC {} at 00:15:5d:00:00:01, uplink 192.168.0.10", L.ds.range(),
                                  L.ds.host_address())) == 0u);
    BOOST_TEST(s.find(fmt::format("lease {} 00:15:5d:00:00:10 bound eflow", L.a1)) != std::string::npos);
    BOOST_TEST(s.find(fmt::format("name plc.mshome.net -> {}", L.a2)) != std::string::npos);
    BOOST_TEST(s.find(fmt::format("neighbor {} at 00:15:5d:00:00:10", L.a1)) != std::string::npos);
    BOOST_TEST(s.find(fmt::format("udp {}:40000 -> 192.168.0.10:40000 -> 198.51.100.10:53", L.a1)) != std::string::npos);
    BOOST_TEST(s.find("counters in ") != std::string::npos);
    BOOST_TEST(s.find("routed out 1") != std::string::npos);
    BOOST_TEST(s.find("gateway arp requests 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_host_vnic_port_cannot_be_removed) {
    auto ds = make_ds();
    BOOST_TEST(!ds.remove_port(ds.service_port()));
    auto port = ds.add_vm("eflow", mac1, sw::memory_port{});
    BOOST_REQUIRE(port);
    BOOST_TEST(ds.remove_port(*port).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
