// The DHCP server (include/vnet/services/dhcp_server.hpp, dhcp_leases.hpp): RFC 2131,
// RFC 2132, RFC 3442, the troubleshooting guide's MAC filter ([TS]), the lease file.
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/services/dhcp_server.hpp>
#include <vnet/wire/dhcp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/udp.hpp>
#include <vnet/wire/vlan.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::svc;
using namespace vnet::wire;
using namespace std::chrono_literals;
namespace code = vnet::wire::dhcp_option_code;
using mt = vnet::wire::dhcp_message_type;

VNET_TEST_PRINTABLE_NAMESPACE(vnet::svc)

namespace vnet::wire {
inline std::ostream& operator<<(std::ostream& os, dhcp_message_type t) { return os << to_string(t); }
}  // namespace vnet::wire
namespace vnet::svc {
inline std::ostream& operator<<(std::ostream& os, dhcp_drop d) { return os << to_string(d); }
inline std::ostream& operator<<(std::ostream& os, dhcp_delivery d) { return os << to_string(d); }
inline std::ostream& operator<<(std::ostream& os, dhcp_lease_state s) { return os << to_string(s); }
inline std::ostream& operator<<(std::ostream& os, dhcp_outcome o) { return os << static_cast<int>(o); }
inline std::ostream& operator<<(std::ostream& os, const dhcp_result& r) {
    return os << "{outcome " << static_cast<int>(r.outcome) << ", drop " << to_string(r.drop) << "}";
}
}  // namespace vnet::svc

namespace {

const dhcp_time t0 = dhcp_time(std::chrono::seconds(1'700'000'000));
const ipv4_address server_ip(172, 20, 0, 1);
const mac_address server_mac(0x00, 0x15, 0x5d, 0x00, 0x00, 0x01);
const ipv4_address other_server(172, 20, 0, 254);

mac_address client_mac(std::uint8_t n) { return mac_address(0x00, 0x15, 0x5d, 0x2a, 0x2f, n); }
ipv4_address host(std::uint8_t n) { return ipv4_address(172, 20, 0, n); }

/// A Default-Switch-like network: 172.20.0.0/24, server and gateway .1, pool .100-.199.
dhcp_server_config base_config() {
    dhcp_server_config c;
    c.subnet = ipv4_prefix(ipv4_address(172, 20, 0, 0), 24);
    c.server_address = server_ip;
    c.server_mac = server_mac;
    c.range_first = host(100);
    c.range_last = host(199);
    c.routers = {server_ip};
    c.dns_servers = {server_ip};
    c.domain_name = "mshome.net";
    c.lease_time = 3600s;
    c.offer_hold = 60s;
    c.conflict_hold = 600s;
    return c;
}

dhcp_server make_server(const dhcp_server_config& c = base_config()) {
    auto s = dhcp_server::make(c);
    BOOST_REQUIRE(s);
    return std::move(*s);
}

/// A client message: op request, chaddr, xid and message type; option 55 asks for the
/// usual udhcpc list.
dhcp_repr client_msg(mt type, mac_address mac, std::uint32_t xid = 0x1234) {
    dhcp_repr r;
    r.op = bootp_op::request;
    r.xid = xid;
    r.set_client_mac(mac);
    r.message_type = type;
    r.parameter_request_list = {1, 3, 6, 12, 15, 28, 51, 54, 58, 59};
    return r;
}

std::vector<std::byte> bytes_of(const dhcp_repr& r) {
    std::vector<std::byte> b(r.buffer_len());
    auto n = r.emit(b);
    BOOST_REQUIRE(n);
    b.resize(*n);
    return b;
}

struct exchange {
    dhcp_result result;
    dhcp_reply reply;
    wire::dhcp_repr& msg() { return reply.message; }
};

/// Sends r from its chaddr, broadcast from 0.0.0.0 unless told otherwise.
exchange send(dhcp_server& s, const dhcp_repr& r, dhcp_time now, std::optional<dhcp_ingress> in = std::nullopt) {
    auto b = bytes_of(r);
    auto v = dhcp_view::parse(test::view(b));
    BOOST_REQUIRE(v);
    dhcp_ingress ing = in ? *in : dhcp_ingress{*r.client_mac(), ipv4_address::any(), ipv4_address::broadcast()};
    exchange e;
    e.result = s.handle(*v, ing, now, e.reply);
    return e;
}

/// DISCOVER then SELECTING REQUEST; returns the ACKed address.
ipv4_address dora(dhcp_server& s, mac_address mac, dhcp_time now, std::optional<ipv4_address> want = std::nullopt) {
    auto d = client_msg(mt::discover, mac);
    d.requested_address = want;
    auto offer = send(s, d, now);
    BOOST_REQUIRE(offer.result);
    BOOST_REQUIRE(*offer.msg().message_type == mt::offer);
    auto r = client_msg(mt::request, mac);
    r.server_identifier = server_ip;
    r.requested_address = offer.msg().yiaddr;
    auto ack = send(s, r, now);
    BOOST_REQUIRE(ack.result);
    BOOST_REQUIRE(*ack.msg().message_type == mt::ack);
    BOOST_REQUIRE(ack.msg().yiaddr == offer.msg().yiaddr);
    return ack.msg().yiaddr;
}

/// Option codes of an emitted reply, in wire order.
std::vector<std::uint8_t> wire_codes(const dhcp_repr& r) {
    auto b = bytes_of(r);
    auto v = dhcp_view::parse(test::view(b));
    BOOST_REQUIRE(v);
    std::vector<std::uint8_t> c;
    for (const auto& o : v->options()) c.push_back(o.code);
    return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dhcp_server_exchanges)

// RFC 2131 section 3.1 (DORA) and table 3 (the fields of DHCPOFFER / DHCPACK); options of
// RFC 2132: 1, 3, 6, 15, 28, 51, 54, 58 (T1 = 0.5) and 59 (T2 = 0.875, section 4.4.5).
BOOST_AUTO_TEST_CASE(full_dora) {
    auto s = make_server();
    auto d = client_msg(mt::discover, client_mac(1), 0xabcd);
    d.broadcast = true;
    auto offer = send(s, d, t0);
    BOOST_REQUIRE(offer.result);
    auto& o = offer.msg();
    BOOST_TEST(o.op == bootp_op::reply);
    BOOST_TEST(o.xid == 0xabcdu);
    BOOST_TEST(*o.message_type == mt::offer);
    BOOST_TEST(o.yiaddr == host(100));
    BOOST_TEST(o.ciaddr.is_unspecified());
    BOOST_TEST(*o.client_mac() == client_mac(1));
    BOOST_TEST(*o.server_identifier == server_ip);
    BOOST_TEST(*o.lease_time == 3600u);
    BOOST_TEST(*o.renewal_time == 1800u);
    BOOST_TEST(*o.rebinding_time == 3150u);
    BOOST_TEST(*o.subnet_mask == ipv4_address(255, 255, 255, 0));
    BOOST_TEST(*o.broadcast_address == ipv4_address(172, 20, 0, 255));
    BOOST_TEST(o.routers == std::vector<ipv4_address>{server_ip}, boost::test_tools::per_element());
    BOOST_TEST(o.dns_servers == std::vector<ipv4_address>{server_ip}, boost::test_tools::per_element());
    BOOST_TEST(o.domain_name == "mshome.net");
    BOOST_TEST(o.classless_static_routes.empty());  // no routes configured: no option 121
    BOOST_TEST(s.lease_at(host(100))->state == dhcp_lease_state::offered);
    BOOST_TEST((s.lease_at(host(100))->expires == t0 + 60s));

    auto r = client_msg(mt::request, client_mac(1), 0xabce);
    r.server_identifier = server_ip;
    r.requested_address = o.yiaddr;
    r.broadcast = true;
    auto ack = send(s, r, t0 + 1s);
    BOOST_REQUIRE(ack.result);
    BOOST_TEST(*ack.msg().message_type == mt::ack);
    BOOST_TEST(ack.msg().xid == 0xabceu);
    BOOST_TEST(ack.msg().yiaddr == host(100));
    BOOST_TEST(*ack.msg().lease_time == 3600u);
    const auto* l = s.lease_of(client_mac(1));
    BOOST_REQUIRE(l);
    BOOST_TEST(l->state == dhcp_lease_state::bound);
    BOOST_TEST(l->address == host(100));
    BOOST_TEST((l->expires == t0 + 1s + 3600s));
    BOOST_TEST(s.counters().received_of(mt::discover) == 1u);
    BOOST_TEST(s.counters().received_of(mt::request) == 1u);
    BOOST_TEST(s.counters().sent_of(mt::offer) == 1u);
    BOOST_TEST(s.counters().sent_of(mt::ack) == 1u);
    BOOST_TEST(s.counters().selecting == 1u);
    BOOST_TEST(s.counters().total_drops() == 0u);
}

// RFC 2131 section 4.3.1: the requested address when free, else the client's previous
// binding, else a free one.
BOOST_AUTO_TEST_CASE(offer_prefers_requested_then_previous_then_free) {
    auto s = make_server();
    auto d = client_msg(mt::discover, client_mac(1));
    d.requested_address = host(150);
    BOOST_TEST(send(s, d, t0).msg().yiaddr == host(150));

    // Requested address held by another client: a free one instead.
    auto d2 = client_msg(mt::discover, client_mac(2));
    d2.requested_address = host(150);
    BOOST_TEST(send(s, d2, t0).msg().yiaddr == host(100));

    // Requested address outside the range: not offered.
    auto d3 = client_msg(mt::discover, client_mac(3));
    d3.requested_address = host(20);
    BOOST_TEST(send(s, d3, t0).msg().yiaddr == host(101));

    // Client 1 comes back after its offer ran out: its previous address again.
    auto again = send(s, client_msg(mt::discover, client_mac(1)), t0 + 10min);
    BOOST_TEST(again.msg().yiaddr == host(150));
}

// RFC 2131 section 4.3.2, SELECTING: a server identifier naming another server means the
// client chose that server's offer; the offer is withdrawn and not answered.
BOOST_AUTO_TEST_CASE(request_for_other_server_withdraws_offer) {
    auto s = make_server();
    auto offer = send(s, client_msg(mt::discover, client_mac(1)), t0);
    BOOST_REQUIRE(offer.result);
    auto r = client_msg(mt::request, client_mac(1));
    r.server_identifier = other_server;
    r.requested_address = ipv4_address(172, 20, 0, 50);
    auto e = send(s, r, t0);
    BOOST_TEST(e.result.outcome == dhcp_outcome::absorbed);
    BOOST_TEST(s.counters().offers_withdrawn == 1u);
    BOOST_TEST(s.lease_at(host(100))->state == dhcp_lease_state::released);
    // The address is free again at once for another client.
    auto d2 = client_msg(mt::discover, client_mac(2));
    d2.requested_address = host(100);
    BOOST_TEST(send(s, d2, t0).msg().yiaddr == host(100));
}

// RFC 2131 section 4.3.2: SELECTING for an address another client holds gets a DHCPNAK;
// table 3: a NAK has no yiaddr and no lease time, a server identifier, optionally a message.
BOOST_AUTO_TEST_CASE(nak_for_unavailable_address) {
    auto s = make_server();
    dora(s, client_mac(1), t0);
    auto r = client_msg(mt::request, client_mac(2));
    r.server_identifier = server_ip;
    r.requested_address = host(100);
    auto e = send(s, r, t0);
    BOOST_REQUIRE(e.result);
    BOOST_TEST(*e.msg().message_type == mt::nak);
    BOOST_TEST(e.msg().yiaddr.is_unspecified());
    BOOST_TEST(!e.msg().lease_time.has_value());
    BOOST_TEST(*e.msg().server_identifier == server_ip);
    BOOST_TEST(e.msg().message == "requested address not available");
    BOOST_TEST(e.reply.delivery == dhcp_delivery::broadcast);     // section 4.1: NAKs are broadcast
    BOOST_TEST(s.lease_of(client_mac(1))->address == host(100));  // untouched
    BOOST_TEST(s.counters().sent_of(mt::nak) == 1u);
}

// RFC 2131 section 4.3.2, INIT-REBOOT: the recorded address is ACKed; another address or
// an address of another network is NAKed; a client without a record gets silence.
BOOST_AUTO_TEST_CASE(init_reboot) {
    auto s = make_server();
    const auto a = dora(s, client_mac(1), t0);
    auto r = client_msg(mt::request, client_mac(1));
    r.requested_address = a;
    auto ok = send(s, r, t0 + 10s);
    BOOST_REQUIRE(ok.result);
    BOOST_TEST(*ok.msg().message_type == mt::ack);
    BOOST_TEST(ok.msg().yiaddr == a);
    BOOST_TEST(s.counters().init_reboot == 1u);

    r.requested_address = host(120);  // a free address, but not this client's
    auto wrong = send(s, r, t0 + 20s);
    BOOST_TEST(*wrong.msg().message_type == mt::nak);

    r.requested_address = ipv4_address(192, 168, 1, 50);  // the network changed (Default Switch reboot)
    auto moved = send(s, r, t0 + 30s);
    BOOST_TEST(*moved.msg().message_type == mt::nak);
    BOOST_TEST(moved.msg().message == "wrong network");

    auto stranger = client_msg(mt::request, client_mac(9));
    stranger.requested_address = host(130);
    auto silent = send(s, stranger, t0);
    BOOST_TEST(silent.result.outcome == dhcp_outcome::dropped);
    BOOST_TEST(silent.result.drop == dhcp_drop::no_binding);
    BOOST_TEST(s.counters().drop(dhcp_drop::no_binding) == 1u);
    // A stranger on the wrong network is NAKed even without a record.
    stranger.requested_address = ipv4_address(10, 0, 0, 5);
    BOOST_TEST(*send(s, stranger, t0).msg().message_type == mt::nak);
}

// An authoritative server (dnsmasq --dhcp-authoritative) answers clients it has no record
// of: ACK when the address is free, NAK otherwise.
BOOST_AUTO_TEST_CASE(authoritative_init_reboot) {
    auto c = base_config();
    c.authoritative = true;
    auto s = make_server(c);
    dora(s, client_mac(1), t0);
    auto r = client_msg(mt::request, client_mac(9));
    r.requested_address = host(130);
    auto e = send(s, r, t0);
    BOOST_TEST(*e.msg().message_type == mt::ack);
    BOOST_TEST(s.lease_of(client_mac(9))->address == host(130));
    auto r2 = client_msg(mt::request, client_mac(8));
    r2.requested_address = host(100);  // client 1's
    BOOST_TEST(*send(s, r2, t0).msg().message_type == mt::nak);
}

// RFC 2131 section 4.3.2 RENEWING (unicast at T1) and REBINDING (broadcast at T2), with
// the clock advancing; section 4.1: the ACK goes to ciaddr; table 3: ciaddr copied.
BOOST_AUTO_TEST_CASE(renew_and_rebind) {
    auto s = make_server();
    const auto a = dora(s, client_mac(1), t0);
    auto renew = client_msg(mt::request, client_mac(1));
    renew.ciaddr = a;
    const auto t1 = t0 + 1800s;
    auto e = send(s, renew, t1, dhcp_ingress{client_mac(1), a, server_ip});
    BOOST_REQUIRE(e.result);
    BOOST_TEST(*e.msg().message_type == mt::ack);
    BOOST_TEST(e.msg().ciaddr == a);
    BOOST_TEST(e.msg().yiaddr == a);
    BOOST_TEST(e.reply.delivery == dhcp_delivery::unicast);
    BOOST_TEST(e.reply.dst_ip == a);
    BOOST_TEST(e.reply.dst_mac == client_mac(1));
    BOOST_TEST((s.lease_of(client_mac(1))->expires == t1 + 3600s));
    BOOST_TEST(s.counters().renewing == 1u);

    const auto t2 = t1 + 3150s;  // T2 of the renewed lease
    auto b = send(s, renew, t2, dhcp_ingress{client_mac(1), a, ipv4_address::broadcast()});
    BOOST_TEST(*b.msg().message_type == mt::ack);
    BOOST_TEST(b.reply.dst_ip == a);
    BOOST_TEST(s.counters().rebinding == 1u);
    BOOST_TEST((s.lease_of(client_mac(1))->expires == t2 + 3600s));

    // Renewing an address that is not the client's: NAK.
    auto bad = client_msg(mt::request, client_mac(1));
    bad.ciaddr = host(177);
    BOOST_TEST(*send(s, bad, t2, dhcp_ingress{client_mac(1), host(177), server_ip}).msg().message_type == mt::nak);
}

// Leases end with the injected clock (RFC 2131 section 4.4.5: the client must stop using
// the address at expiry) and the address is then handed to someone else.
BOOST_AUTO_TEST_CASE(expiry_then_reuse) {
    auto c = base_config();
    c.range_last = c.range_first;  // one address
    auto s = make_server(c);
    dora(s, client_mac(1), t0);
    auto d = client_msg(mt::discover, client_mac(2));
    auto none = send(s, d, t0 + 3599s);
    BOOST_TEST(none.result.drop == dhcp_drop::pool_exhausted);
    const auto later = t0 + 3600s;
    BOOST_TEST(s.expire(later) == 1u);
    BOOST_TEST(s.counters().expired == 1u);
    BOOST_TEST(s.lease_at(host(100))->state == dhcp_lease_state::released);
    BOOST_TEST(dora(s, client_mac(2), later) == host(100));
    BOOST_TEST(s.lease_of(client_mac(1)) == nullptr);
    // The first client renewing its old address is refused.
    auto renew = client_msg(mt::request, client_mac(1));
    renew.ciaddr = host(100);
    auto e = send(s, renew, later, dhcp_ingress{client_mac(1), host(100), server_ip});
    BOOST_TEST(e.result.drop == dhcp_drop::no_binding);
}

// Lookups treat an expired binding as free even before expire() runs.
BOOST_AUTO_TEST_CASE(expired_binding_is_free_without_sweep) {
    auto c = base_config();
    c.range_last = c.range_first;
    auto s = make_server(c);
    dora(s, client_mac(1), t0);
    BOOST_TEST(dora(s, client_mac(2), t0 + 3601s) == host(100));
}

// RFC 2131 section 4.3.4: DHCPRELEASE ends the binding; the record keeps the client so
// that it gets the same address back (section 4.3.1, "previous address").
BOOST_AUTO_TEST_CASE(release) {
    auto s = make_server();
    const auto a = dora(s, client_mac(1), t0);
    auto rel = client_msg(mt::release, client_mac(1));
    rel.ciaddr = a;
    rel.server_identifier = server_ip;
    auto e = send(s, rel, t0 + 5s, dhcp_ingress{client_mac(1), a, server_ip});
    BOOST_TEST(e.result.outcome == dhcp_outcome::absorbed);
    BOOST_TEST(s.lease_at(a)->state == dhcp_lease_state::released);
    BOOST_TEST(s.counters().released == 1u);
    BOOST_TEST(dora(s, client_mac(1), t0 + 10s) == a);

    // Releasing someone else's address does nothing.
    auto rel2 = client_msg(mt::release, client_mac(2));
    rel2.ciaddr = a;
    BOOST_TEST(send(s, rel2, t0 + 20s).result.drop == dhcp_drop::unknown_lease);
    BOOST_TEST(s.lease_at(a)->state == dhcp_lease_state::bound);
}

// RFC 2131 section 4.3.3: DHCPDECLINE marks the address as in use on the network; it is not
// offered again for conflict_hold (600 s here), then it is.
BOOST_AUTO_TEST_CASE(decline_holds_address) {
    auto c = base_config();
    c.range_last = host(101);  // two addresses
    auto s = make_server(c);
    const auto a = dora(s, client_mac(1), t0);
    BOOST_TEST(a == host(100));
    auto dec = client_msg(mt::decline, client_mac(1));
    dec.requested_address = a;
    dec.server_identifier = server_ip;
    BOOST_TEST(send(s, dec, t0 + 1s).result.outcome == dhcp_outcome::absorbed);
    BOOST_TEST(s.lease_at(a)->state == dhcp_lease_state::conflict);
    BOOST_TEST(s.counters().conflicts == 1u);
    BOOST_TEST(s.lease_of(client_mac(1)) == nullptr);

    // The declining client asks again: it gets the other address, even when requesting a.
    BOOST_TEST(dora(s, client_mac(1), t0 + 2s, a) == host(101));
    // A third client: nothing left while a is held.
    BOOST_TEST(send(s, client_msg(mt::discover, client_mac(3)), t0 + 599s).result.drop == dhcp_drop::pool_exhausted);
    // A REQUEST for the held address is NAKed.
    auto r = client_msg(mt::request, client_mac(3));
    r.server_identifier = server_ip;
    r.requested_address = a;
    BOOST_TEST(*send(s, r, t0 + 599s).msg().message_type == mt::nak);
    // Hold over (t0 + 1 s + 600 s): offered again.
    BOOST_TEST(send(s, client_msg(mt::discover, client_mac(3)), t0 + 601s).msg().yiaddr == a);

    // A DECLINE for an address the client does not hold is ignored.
    auto stray = client_msg(mt::decline, client_mac(4));
    stray.requested_address = host(101);
    BOOST_TEST(send(s, stray, t0 + 700s).result.drop == dhcp_drop::unknown_lease);
}

// Reservations by MAC: the client always gets its static address (here outside the range)
// and its host name (option 12); no one else gets that address even when asking for it.
BOOST_AUTO_TEST_CASE(reservations) {
    auto c = base_config();
    c.reservations = {{client_mac(7), host(10), "eflow"}, {client_mac(8), host(150), ""}};
    auto s = make_server(c);
    auto d = client_msg(mt::discover, client_mac(7));
    d.requested_address = host(120);
    auto o = send(s, d, t0);
    BOOST_TEST(o.msg().yiaddr == host(10));
    BOOST_TEST(o.msg().host_name == "eflow");
    BOOST_TEST(dora(s, client_mac(7), t0) == host(10));
    BOOST_TEST(s.lease_of(client_mac(7))->host_name == "eflow");

    auto other = client_msg(mt::discover, client_mac(1));
    other.requested_address = host(150);  // reserved for client 8
    BOOST_TEST(send(s, other, t0).msg().yiaddr == host(100));
    auto take = client_msg(mt::request, client_mac(2));
    take.requested_address = host(10);
    take.server_identifier = server_ip;
    BOOST_TEST(*send(s, take, t0).msg().message_type == mt::nak);

    // INIT-REBOOT of the reserved client with another address: NAK (its address is the reservation).
    auto r = client_msg(mt::request, client_mac(7));
    r.requested_address = host(100);
    BOOST_TEST(*send(s, r, t0).msg().message_type == mt::nak);
    // The pool scan skips reserved addresses inside the range.
    auto c2 = base_config();
    c2.range_last = host(101);
    c2.reservations = {{client_mac(8), host(100), ""}};
    auto s2 = make_server(c2);
    BOOST_TEST(dora(s2, client_mac(1), t0) == host(101));
    BOOST_TEST(send(s2, client_msg(mt::discover, client_mac(2)), t0).result.drop == dhcp_drop::pool_exhausted);
    BOOST_TEST(dora(s2, client_mac(8), t0) == host(100));
}

// Seed 001 (troubleshooting guide, "Check IP addresses", External / DHCP row): "make sure
// that DHCP server has no firewall policy regarding MAC addresses" - a refused MAC gets no
// answer at all; the server counts it.
BOOST_AUTO_TEST_CASE(mac_filter) {
    auto c = base_config();
    c.mac_filter = dhcp_mac_filter::allow;
    c.mac_filter_list = {client_mac(2), client_mac(1)};
    auto s = make_server(c);
    BOOST_TEST(send(s, client_msg(mt::discover, client_mac(1)), t0).result);
    auto e = send(s, client_msg(mt::discover, client_mac(3)), t0);
    BOOST_TEST(e.result.outcome == dhcp_outcome::dropped);
    BOOST_TEST(e.result.drop == dhcp_drop::mac_filtered);
    BOOST_TEST(s.counters().drop(dhcp_drop::mac_filtered) == 1u);
    BOOST_TEST(s.counters().received_of(mt::discover) == 2u);
    BOOST_TEST(s.lease_of(client_mac(3)) == nullptr);
    // An allowed chaddr in a frame from a refused source MAC (not relayed) is refused too.
    auto spoof = send(s, client_msg(mt::discover, client_mac(2)), t0,
                      dhcp_ingress{client_mac(3), ipv4_address::any(), ipv4_address::broadcast()});
    BOOST_TEST(spoof.result.drop == dhcp_drop::mac_filtered);

    auto c2 = base_config();
    c2.mac_filter = dhcp_mac_filter::deny;
    c2.mac_filter_list = {client_mac(3)};
    auto s2 = make_server(c2);
    BOOST_TEST(send(s2, client_msg(mt::discover, client_mac(1)), t0).result);
    BOOST_TEST(send(s2, client_msg(mt::discover, client_mac(3)), t0).result.drop == dhcp_drop::mac_filtered);
    auto req = client_msg(mt::request, client_mac(3));
    req.requested_address = host(100);
    BOOST_TEST(send(s2, req, t0).result.drop == dhcp_drop::mac_filtered);
}

// RFC 2131 section 4.3.1 / RFC 2132 section 9.8: the reply follows the order of the
// client's parameter request list (after the message type), the other options after.
BOOST_AUTO_TEST_CASE(option_55_order) {
    auto s = make_server();
    auto d = client_msg(mt::discover, client_mac(1));
    d.parameter_request_list = {6, 15, 3, 1, 58, 59, 51, 54};
    auto o = send(s, d, t0);
    auto codes = wire_codes(o.msg());
    BOOST_REQUIRE(codes.size() >= 9u);
    BOOST_TEST(std::vector<std::uint8_t>(codes.begin(), codes.begin() + 9) ==
                   (std::vector<std::uint8_t>{53, 6, 15, 3, 1, 58, 59, 51, 54}),
               boost::test_tools::per_element());
    BOOST_TEST((std::find(codes.begin(), codes.end(), code::broadcast_address) != codes.end()));

    auto d2 = client_msg(mt::discover, client_mac(2));
    d2.parameter_request_list = {1, 3};
    auto codes2 = wire_codes(send(s, d2, t0).msg());
    BOOST_TEST(std::vector<std::uint8_t>(codes2.begin(), codes2.begin() + 3) == (std::vector<std::uint8_t>{53, 1, 3}),
               boost::test_tools::per_element());
}

// RFC 2131 section 4.1: giaddr zero, ciaddr zero: broadcast bit set -> broadcast; clear ->
// unicast to yiaddr and chaddr. giaddr set -> to the relay's server port; a NAK through a
// relay sets the broadcast bit. The reply's flags copy the client's (table 3).
BOOST_AUTO_TEST_CASE(broadcast_flag_and_destinations) {
    auto s = make_server();
    auto d = client_msg(mt::discover, client_mac(1));
    auto uni = send(s, d, t0);
    BOOST_TEST(uni.reply.delivery == dhcp_delivery::unicast);
    BOOST_TEST(uni.reply.dst_ip == uni.msg().yiaddr);
    BOOST_TEST(uni.reply.dst_mac == client_mac(1));
    BOOST_TEST(uni.reply.dst_port == dhcp_port::client);
    BOOST_TEST(!uni.msg().broadcast);

    d.broadcast = true;
    auto bc = send(s, d, t0);
    BOOST_TEST(bc.reply.delivery == dhcp_delivery::broadcast);
    BOOST_TEST(bc.reply.dst_ip == ipv4_address::broadcast());
    BOOST_TEST(bc.reply.dst_mac == mac_address::broadcast());
    BOOST_TEST(bc.msg().broadcast);

    const ipv4_address relay(172, 20, 0, 2);
    const mac_address relay_mac(0x02, 0, 0, 0, 0, 2);
    auto rd = client_msg(mt::discover, client_mac(2));
    rd.giaddr = relay;
    rd.hops = 1;
    auto via = send(s, rd, t0, dhcp_ingress{relay_mac, relay, server_ip});
    BOOST_TEST(via.reply.delivery == dhcp_delivery::relay);
    BOOST_TEST(via.reply.dst_ip == relay);
    BOOST_TEST(via.reply.dst_mac == relay_mac);
    BOOST_TEST(via.reply.dst_port == dhcp_port::server);
    BOOST_TEST(via.msg().giaddr == relay);

    auto rn = client_msg(mt::request, client_mac(2));
    rn.giaddr = relay;
    rn.requested_address = ipv4_address(10, 1, 1, 1);
    auto nak = send(s, rn, t0, dhcp_ingress{relay_mac, relay, server_ip});
    BOOST_TEST(*nak.msg().message_type == mt::nak);
    BOOST_TEST(nak.reply.delivery == dhcp_delivery::relay);
    BOOST_TEST(nak.msg().broadcast);

    // A relay outside the served subnet is not served.
    rd.giaddr = ipv4_address(10, 9, 9, 1);
    BOOST_TEST(send(s, rd, t0, dhcp_ingress{relay_mac, rd.giaddr, server_ip}).result.drop == dhcp_drop::foreign_relay);
}

// RFC 2131 section 4.3.5: DHCPINFORM gets a DHCPACK with the configuration, no yiaddr, no
// lease time (51, 58, 59), sent to ciaddr; no binding is created.
BOOST_AUTO_TEST_CASE(inform) {
    auto s = make_server();
    const ipv4_address statik(172, 20, 0, 50);
    auto inf = client_msg(mt::inform, client_mac(5));
    inf.ciaddr = statik;
    auto e = send(s, inf, t0, dhcp_ingress{client_mac(5), statik, server_ip});
    BOOST_REQUIRE(e.result);
    BOOST_TEST(*e.msg().message_type == mt::ack);
    BOOST_TEST(e.msg().yiaddr.is_unspecified());
    BOOST_TEST(e.msg().ciaddr == statik);
    BOOST_TEST(!e.msg().lease_time.has_value());
    BOOST_TEST(!e.msg().renewal_time.has_value());
    BOOST_TEST(!e.msg().rebinding_time.has_value());
    BOOST_TEST(*e.msg().subnet_mask == ipv4_address(255, 255, 255, 0));
    BOOST_TEST(e.msg().dns_servers.size() == 1u);
    BOOST_TEST(e.reply.delivery == dhcp_delivery::unicast);
    BOOST_TEST(e.reply.dst_ip == statik);
    BOOST_TEST(s.leases().empty());
    BOOST_TEST(s.counters().received_of(mt::inform) == 1u);
}

// RFC 2132 section 3.14: option 12 - the client's own name is echoed back (a reservation's
// name wins, see `reservations`).
BOOST_AUTO_TEST_CASE(host_name_echo) {
    auto s = make_server();
    auto d = client_msg(mt::discover, client_mac(1));
    d.host_name = "iotedge-vm";
    BOOST_TEST(send(s, d, t0).msg().host_name == "iotedge-vm");
    auto r = client_msg(mt::request, client_mac(1));
    r.server_identifier = server_ip;
    r.requested_address = host(100);
    r.host_name = "iotedge-vm";
    auto ack = send(s, r, t0);
    BOOST_TEST(ack.msg().host_name == "iotedge-vm");
    BOOST_TEST(s.lease_of(client_mac(1))->host_name == "iotedge-vm");
    // No name sent: none returned.
    BOOST_TEST(send(s, client_msg(mt::discover, client_mac(2)), t0).msg().host_name.empty());
}

// RFC 2132 section 5.1 (26), RFC 3397 (119) and RFC 3442 (121): option 121 carries the
// configured routes plus the default route through the first router ("specify the default
// router(s) both in the Router option and in the Classless Static Routes option").
BOOST_AUTO_TEST_CASE(mtu_search_and_classless_routes) {
    auto c = base_config();
    c.interface_mtu = 1400;
    c.domain_search = {"mshome.net", "corp.example"};
    c.static_routes = {{ipv4_prefix(ipv4_address(10, 0, 0, 0), 8), host(2)}};
    auto s = make_server(c);
    auto o = send(s, client_msg(mt::discover, client_mac(1)), t0);
    auto b = bytes_of(o.msg());
    auto v = dhcp_view::parse(test::view(b));
    BOOST_REQUIRE(v);
    BOOST_TEST(*v->interface_mtu() == 1400u);
    std::vector<std::string> names;
    std::array<std::byte, 256> scratch{};
    BOOST_REQUIRE(v->domain_search(scratch, [&](std::string_view n) { names.emplace_back(n); }));
    BOOST_TEST(names == (std::vector<std::string>{"mshome.net", "corp.example"}), boost::test_tools::per_element());
    std::vector<classless_route> routes;
    BOOST_REQUIRE(v->classless_static_routes([&](const classless_route& r) { routes.push_back(r); }));
    BOOST_REQUIRE(routes.size() == 2u);
    BOOST_TEST(routes[0].destination == ipv4_prefix(ipv4_address(10, 0, 0, 0), 8));
    BOOST_TEST(routes[0].router == host(2));
    BOOST_TEST(routes[1].destination == ipv4_prefix(ipv4_address::any(), 0));
    BOOST_TEST(routes[1].router == server_ip);
    BOOST_TEST(v->router_count() == 1u);  // option 3 still sent for clients without 121
}

// RFC 2131 section 4.3.1: a client's lease time request (51) may be honoured; vnet gives
// the shorter of it and the configured time, never below min_lease_time.
BOOST_AUTO_TEST_CASE(lease_time_request) {
    auto s = make_server();
    auto d = client_msg(mt::discover, client_mac(1));
    d.lease_time = 600;
    auto o = send(s, d, t0);
    BOOST_TEST(*o.msg().lease_time == 600u);
    BOOST_TEST(*o.msg().renewal_time == 300u);
    BOOST_TEST(*o.msg().rebinding_time == 525u);
    d.lease_time = 5;
    BOOST_TEST(*send(s, d, t0).msg().lease_time == 60u);
    d.lease_time = 999999;
    BOOST_TEST(*send(s, d, t0).msg().lease_time == 3600u);
}

// Pool exhaustion: no offer, a counter, never a crash; ten clients, a pool of three.
BOOST_AUTO_TEST_CASE(exhaustion_with_tiny_pool) {
    auto c = base_config();
    c.range_last = host(102);
    auto s = make_server(c);
    std::size_t offered = 0, refused = 0;
    for (std::uint8_t i = 1; i <= 10; ++i) {
        auto e = send(s, client_msg(mt::discover, client_mac(i)), t0);
        if (e.result) ++offered;
        else if (e.result.drop == dhcp_drop::pool_exhausted) ++refused;
    }
    BOOST_TEST(offered == 3u);
    BOOST_TEST(refused == 7u);
    BOOST_TEST(s.counters().drop(dhcp_drop::pool_exhausted) == 7u);
    // Offers run out after offer_hold: the others get their turn.
    BOOST_TEST(send(s, client_msg(mt::discover, client_mac(9)), t0 + 61s).result);
}

// RFC 2131 section 2: a reply must fit 576 octets of IP unless the client's option 57
// allows more; vnet drops 119, 121, 12, 15 in that order to fit.
BOOST_AUTO_TEST_CASE(oversized_reply_is_trimmed) {
    auto c = base_config();
    for (int i = 0; i < 20; ++i) c.domain_search.push_back(fmt::format("zone{}.subdomain{}.example{}.test", i, i, i));
    auto s = make_server(c);
    auto o = send(s, client_msg(mt::discover, client_mac(1)), t0);
    BOOST_TEST(o.msg().buffer_len() <= dhcp_server::default_max_message);
    BOOST_TEST(o.msg().domain_search.empty());
    BOOST_TEST(s.counters().trimmed_replies == 1u);
    auto big = client_msg(mt::discover, client_mac(2));
    big.max_message_size = 1500;
    auto o2 = send(s, big, t0);
    BOOST_TEST(o2.msg().domain_search.size() == 20u);
    BOOST_TEST(s.counters().trimmed_replies == 1u);
}

// Messages the server does not answer, each under its reason.
BOOST_AUTO_TEST_CASE(refused_messages_are_counted) {
    auto s = make_server();
    auto reply_op = client_msg(mt::discover, client_mac(1));
    reply_op.op = bootp_op::reply;
    BOOST_TEST(send(s, reply_op, t0).result.drop == dhcp_drop::not_request);
    auto bootp = client_msg(mt::discover, client_mac(1));
    bootp.message_type.reset();
    BOOST_TEST(send(s, bootp, t0).result.drop == dhcp_drop::not_dhcp);
    BOOST_TEST(send(s, client_msg(mt::offer, client_mac(1)), t0).result.drop == dhcp_drop::bad_message_type);
    auto token = client_msg(mt::discover, client_mac(1));
    token.htype = 6;  // IEEE 802 token ring
    BOOST_TEST(send(s, token, t0).result.drop == dhcp_drop::bad_hardware);
    auto empty = client_msg(mt::request, client_mac(1));  // no 50, no 54, no ciaddr
    BOOST_TEST(send(s, empty, t0).result.drop == dhcp_drop::bad_request);
    auto other = client_msg(mt::release, client_mac(1));
    other.server_identifier = other_server;
    BOOST_TEST(send(s, other, t0).result.drop == dhcp_drop::not_our_server);
    BOOST_TEST(s.counters().total_drops() == 6u);
    BOOST_TEST(s.leases().empty());
}

// Configuration errors are values naming the setting.
BOOST_AUTO_TEST_CASE(config_validation) {
    auto c = base_config();
    c.range_last = ipv4_address(172, 20, 1, 5);
    BOOST_TEST(dhcp_server::make(c).error().message() == "service.dhcp.range: bad value");
    c = base_config();
    c.server_address = ipv4_address(10, 0, 0, 1);
    BOOST_TEST(dhcp_server::make(c).error().field == "dhcp.server_address");
    c = base_config();
    c.reservations = {{client_mac(1), host(10), ""}, {client_mac(1), host(11), ""}};
    BOOST_TEST(dhcp_server::make(c).error().what == errc::conflict);
    c = base_config();
    c.subnet = ipv4_prefix(ipv4_address(172, 20, 0, 0), 31);
    BOOST_TEST(dhcp_server::make(c).error().field == "dhcp.subnet");
    c = base_config();
    c.domain_search = {"bad..name"};
    BOOST_TEST(dhcp_server::make(c).error().field == "dhcp.domain_search");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dhcp_server_leases)

// Leases survive a restart: save, load into a new server, the clients keep their addresses
// (INIT-REBOOT ACKed, a new client does not get a saved address).
BOOST_AUTO_TEST_CASE(save_load_round_trip) {
    auto s = make_server();
    auto d = client_msg(mt::discover, client_mac(1));
    d.host_name = "eflow vm%1";  // escaped in the file
    send(s, d, t0);
    auto r = client_msg(mt::request, client_mac(1));
    r.server_identifier = server_ip;
    r.requested_address = host(100);
    r.host_name = "eflow vm%1";
    send(s, r, t0);
    dora(s, client_mac(2), t0);
    const auto third = dora(s, client_mac(3), t0);
    auto dec = client_msg(mt::decline, client_mac(3));
    dec.requested_address = third;
    send(s, dec, t0);
    send(s, client_msg(mt::discover, client_mac(4)), t0);  // offered

    const std::string file = s.save_leases();
    BOOST_TEST(file.substr(0, file.find('\n')) == "vnet-dhcp-leases 1");
    BOOST_TEST(file.find("lease 172.20.0.100 00:15:5d:2a:2f:01 bound 1700003600 eflow%20vm%251\n") != std::string::npos);
    BOOST_TEST(file.find("lease 172.20.0.102 00:15:5d:2a:2f:03 conflict 1700000600 -\n") != std::string::npos);

    auto restarted = make_server();
    auto n = restarted.load_leases(file);
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == 4u);
    BOOST_TEST(restarted.leases().sorted() == s.leases().sorted(), boost::test_tools::per_element());
    BOOST_TEST(restarted.lease_of(client_mac(1))->host_name == "eflow vm%1");
    BOOST_TEST(restarted.save_leases() == file);

    auto reboot = client_msg(mt::request, client_mac(2));
    reboot.requested_address = host(101);
    BOOST_TEST(*send(restarted, reboot, t0 + 100s).msg().message_type == mt::ack);
    auto fresh = send(restarted, client_msg(mt::discover, client_mac(9)), t0 + 100s);
    BOOST_TEST(fresh.msg().yiaddr == host(104));  // .100-.102 bound or held; .103's offer ran out, never-used first
}

// A corrupt lease file is an error value naming the line; the table stays as it was.
BOOST_AUTO_TEST_CASE(corrupt_lease_file) {
    auto s = make_server();
    dora(s, client_mac(1), t0);
    const auto before = s.save_leases();
    auto err = [&](std::string_view text) {
        auto r = s.load_leases(text);
        BOOST_REQUIRE(!r);
        return r.error();
    };
    BOOST_TEST(err("").line == 1u);
    BOOST_TEST(err("hello\n").what == "not a lease file (expected 'vnet-dhcp-leases 1')");
    BOOST_TEST(err("vnet-dhcp-leases 2\n").what == "unsupported lease file version (expected 'vnet-dhcp-leases 1')");
    const auto bad_mac = err(
        "vnet-dhcp-leases 1\n"
        "lease 172.20.0.100 00:15:5d:2a:2f:01 bound 1700003600 -\n"
        "lease 172.20.0.101 00:15:zz:2a:2f:02 bound 1700003600 -\n");
    BOOST_TEST(bad_mac.line == 3u);
    BOOST_TEST(bad_mac.message() == "lease file line 3: invalid MAC address");
    BOOST_TEST(err("vnet-dhcp-leases 1\n# c\n\nlease 172.20.0.300 00:15:5d:2a:2f:01 bound 1 -\n").line == 4u);
    BOOST_TEST(err("vnet-dhcp-leases 1\nlease 172.20.0.100 00:15:5d:2a:2f:01 bound soon -\n").what ==
               "invalid expiry (expected seconds since the Unix epoch)");
    // An expiry past what the clock can hold (found by fuzz_dhcp_server) is refused, not overflowed.
    BOOST_TEST(err("vnet-dhcp-leases 1\nlease 172.20.0.100 00:15:5d:2a:2f:01 bound 17000036002 -\n").what ==
               "invalid expiry (expected seconds since the Unix epoch)");
    BOOST_TEST(err("vnet-dhcp-leases 1\nlease 172.20.0.100 00:15:5d:2a:2f:01 leased 1 -\n").what ==
               "invalid state (expected offered, bound, released or conflict)");
    BOOST_TEST(err("vnet-dhcp-leases 1\nlease 172.20.0.100 00:15:5d:2a:2f:01 bound 1\n").what ==
               "wrong field count (expected 'lease address mac state expires host_name')");
    BOOST_TEST(err("vnet-dhcp-leases 1\nlease 172.20.0.100 00:15:5d:2a:2f:01 bound 1 a%4\n").what ==
               "invalid host name escape (expected %XX)");
    const auto dup = err(
        "vnet-dhcp-leases 1\n"
        "lease 172.20.0.100 00:15:5d:2a:2f:01 bound 1 -\n"
        "lease 172.20.0.101 00:15:5d:2a:2f:01 bound 1 -\n");
    BOOST_TEST(dup.line == 3u);
    BOOST_TEST(dup.what == "duplicate MAC address");
    BOOST_TEST(err("vnet-dhcp-leases 1\nlease 172.20.0.100 00:15:5d:2a:2f:01 bound 1 -\n"
                   "lease 172.20.0.100 00:15:5d:2a:2f:02 bound 1 -\n")
                   .what == "duplicate address");
    BOOST_TEST(err("vnet-dhcp-leases 1\nlease 192.168.0.100 00:15:5d:2a:2f:01 bound 1 -\n").what ==
               "address outside the served subnet");
    BOOST_TEST(err("vnet-dhcp-leases 1\nlaese 172.20.0.100 00:15:5d:2a:2f:01 bound 1 -\n").what ==
               "unknown record (expected 'lease')");
    BOOST_TEST(s.save_leases() == before);
    // Windows line ends are accepted.
    BOOST_TEST(s.load_leases("vnet-dhcp-leases 1\r\nlease 172.20.0.100 00:15:5d:2a:2f:01 bound 1 -\r\n").has_value());
}

// The lease table prints one lease a line, sorted by address.
BOOST_AUTO_TEST_CASE(formatters) {
    auto s = make_server();
    BOOST_TEST(fmt::format("{}", s.leases()) == "no leases");
    dora(s, client_mac(2), t0);
    auto d = client_msg(mt::discover, client_mac(1));
    d.host_name = "eflow";
    send(s, d, t0);
    const auto text = fmt::format("{}", s.leases());
    BOOST_TEST(text ==
               "address         mac               state         expires host\n"
               "172.20.0.100    00:15:5d:2a:2f:02 bound      1700003600 -\n"
               "172.20.0.101    00:15:5d:2a:2f:01 offered    1700000060 eflow");
    BOOST_TEST(fmt::format("{}", *s.lease_of(client_mac(1))) ==
               "172.20.0.101 00:15:5d:2a:2f:01 offered expires 1700000060 host eflow");
    send(s, client_msg(mt::offer, client_mac(1)), t0);
    BOOST_TEST(fmt::format("{}", s.counters()) ==
               "received DHCPDISCOVER=2 DHCPOFFER=1 DHCPREQUEST=1, sent DHCPOFFER=2 DHCPACK=1, requests selecting 1 "
               "init_reboot 0 renewing 0 rebinding 0, withdrawn 0, conflicts 0, released 0, expired 0, trimmed 0, "
               "drops: bad_message_type=1");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dhcp_server_frames)

namespace {

/// A DHCP message inside Ethernet / IPv4 / UDP 68 -> 67, built with the wire reprs.
std::vector<std::byte> client_frame(const dhcp_repr& m, ipv4_address src = ipv4_address::any(),
                                    ipv4_address dst = ipv4_address::broadcast(), std::optional<vlan_tag> tag = std::nullopt) {
    const auto payload = bytes_of(m);
    udp_repr udp{dhcp_port::client, dhcp_port::server, payload.size()};
    ipv4_repr ip;
    ip.src = src;
    ip.dst = dst;
    ip.protocol = udp_view::ip_protocol;
    ip.payload_len = udp.buffer_len();
    ethernet_repr eth{mac_address::broadcast(), *m.client_mac(), ethertype::ipv4};
    std::vector<std::byte> f(eth.buffer_len() + ip.buffer_len());
    BOOST_REQUIRE(eth.emit(f));
    BOOST_REQUIRE(ip.emit(bytes_span(f).subspan(ethernet_view::header_len)));
    BOOST_REQUIRE(udp.emit(bytes_span(f).subspan(ethernet_view::header_len + ip.header_len()), test::view(payload), src, dst));
    if (!tag) return f;
    std::vector<std::byte> tagged(f.size() + vlan_tag::size);
    BOOST_REQUIRE(push_vlan_tag(test::view(f), *tag, tagged));
    return tagged;
}

struct parsed_reply {
    std::vector<std::byte> bytes;
    mac_address dst, src;
    std::size_t tags = 0;
    std::uint16_t vid = 0;
    ipv4_repr ip;
    udp_repr udp;
    dhcp_repr dhcp;
};

/// Re-parses a reply frame with the wire views; checksums must verify (the reprs' parse
/// rejects bad IPv4 and UDP checksums).
parsed_reply reparse(bytes_view frame) {
    parsed_reply p;
    p.bytes.assign(frame.begin(), frame.end());
    auto f = frame_view::parse(frame);
    BOOST_REQUIRE(f);
    p.dst = f->dst();
    p.src = f->src();
    p.tags = f->tag_count();
    if (p.tags) p.vid = f->tag(0).vid;
    BOOST_REQUIRE(f->ethertype() == ethertype::ipv4);
    auto ipv = ipv4_view::parse(f->payload());
    BOOST_REQUIRE(ipv);
    BOOST_TEST(ipv->checksum_ok());
    auto ip = ipv4_repr::parse(*ipv);
    BOOST_REQUIRE(ip);
    p.ip = *ip;
    auto udpv = udp_view::parse(ipv->payload());
    BOOST_REQUIRE(udpv);
    BOOST_TEST(udpv->checksum() != 0);
    BOOST_TEST(udpv->checksum_ok(ipv->src(), ipv->dst()));
    auto udp = udp_repr::parse(*udpv, ipv->src(), ipv->dst());
    BOOST_REQUIRE(udp);
    p.udp = *udp;
    auto dv = dhcp_view::parse(udpv->payload());
    BOOST_REQUIRE(dv);
    auto d = dhcp_repr::parse(*dv);
    BOOST_REQUIRE(d);
    p.dhcp = *d;
    return p;
}

}  // namespace

// The whole-frame layer: a DISCOVER frame in, an OFFER frame out from the server's MAC and
// address, UDP 67 -> 68, whose IPv4 and UDP checksums verify; then the REQUEST / ACK.
BOOST_AUTO_TEST_CASE(discover_frame_to_offer_frame) {
    auto s = make_server();
    std::array<std::byte, dhcp_server::max_frame_len> out{};
    auto d = client_msg(mt::discover, client_mac(1), 0x5150);
    d.broadcast = true;
    const auto in = client_frame(d);
    auto r = s.handle_frame(test::view(in), t0, out);
    BOOST_REQUIRE(r);
    BOOST_TEST(r.result.outcome == dhcp_outcome::replied);
    auto p = reparse(bytes_view(out).first(r.length));
    BOOST_TEST(p.dst == mac_address::broadcast());
    BOOST_TEST(p.src == server_mac);
    BOOST_TEST(p.ip.src == server_ip);
    BOOST_TEST(p.ip.dst == ipv4_address::broadcast());
    BOOST_TEST(p.ip.protocol == udp_view::ip_protocol);
    BOOST_TEST(p.udp.src_port == dhcp_port::server);
    BOOST_TEST(p.udp.dst_port == dhcp_port::client);
    BOOST_TEST(*p.dhcp.message_type == mt::offer);
    BOOST_TEST(p.dhcp.xid == 0x5150u);
    BOOST_TEST(p.dhcp.yiaddr == host(100));
    BOOST_TEST(r.length == ethernet_view::header_len + 20 + 8 + p.dhcp.min_len);

    auto req = client_msg(mt::request, client_mac(1), 0x5151);
    req.server_identifier = server_ip;
    req.requested_address = host(100);
    const auto in2 = client_frame(req);
    auto r2 = s.handle_frame(test::view(in2), t0, out);
    BOOST_REQUIRE(r2);
    auto p2 = reparse(bytes_view(out).first(r2.length));
    BOOST_TEST(*p2.dhcp.message_type == mt::ack);
    // broadcast bit clear: unicast to yiaddr and chaddr (RFC 2131 section 4.1)
    BOOST_TEST(p2.dst == client_mac(1));
    BOOST_TEST(p2.ip.dst == host(100));
}

// Tags are kept: a reply goes out on the VLAN the request came in on.
BOOST_AUTO_TEST_CASE(tagged_frame_reply_keeps_tag) {
    auto s = make_server();
    std::array<std::byte, dhcp_server::max_frame_len> out{};
    const auto in = client_frame(client_msg(mt::discover, client_mac(1)), ipv4_address::any(), ipv4_address::broadcast(),
                                 vlan_tag{ethertype::vlan, 0, false, 10});
    auto r = s.handle_frame(test::view(in), t0, out);
    BOOST_REQUIRE(r);
    auto p = reparse(bytes_view(out).first(r.length));
    BOOST_TEST(p.tags == 1u);
    BOOST_TEST(p.vid == 10u);
    BOOST_TEST(*p.dhcp.message_type == mt::offer);
}

// A unicast RENEWING frame to the server address gets a unicast ACK frame.
BOOST_AUTO_TEST_CASE(renew_frame) {
    auto s = make_server();
    const auto a = dora(s, client_mac(1), t0);
    std::array<std::byte, dhcp_server::max_frame_len> out{};
    auto renew = client_msg(mt::request, client_mac(1));
    renew.ciaddr = a;
    const auto in = client_frame(renew, a, server_ip);
    auto r = s.handle_frame(test::view(in), t0 + 1800s, out);
    BOOST_REQUIRE(r);
    auto p = reparse(bytes_view(out).first(r.length));
    BOOST_TEST(p.ip.dst == a);
    BOOST_TEST(p.dst == client_mac(1));
    BOOST_TEST(s.counters().renewing == 1u);
}

// Frames that are not for the server, or broken, are counted and never answered.
BOOST_AUTO_TEST_CASE(frame_drops) {
    auto s = make_server();
    std::array<std::byte, dhcp_server::max_frame_len> out{};
    auto good = client_frame(client_msg(mt::discover, client_mac(1)));

    auto bad_udp = good;
    bad_udp[ethernet_view::header_len + 20 + 6] ^= std::byte{0x01};  // UDP checksum
    BOOST_TEST(s.handle_frame(test::view(bad_udp), t0, out).result.drop == dhcp_drop::bad_checksum);
    auto bad_ip = good;
    bad_ip[ethernet_view::header_len + 10] ^= std::byte{0x01};  // IPv4 header checksum
    BOOST_TEST(s.handle_frame(test::view(bad_ip), t0, out).result.drop == dhcp_drop::bad_checksum);
    auto to_other = client_frame(client_msg(mt::discover, client_mac(1)), ipv4_address::any(), host(77));
    BOOST_TEST(s.handle_frame(test::view(to_other), t0, out).result.drop == dhcp_drop::not_server_frame);
    auto arp = good;
    arp[12] = std::byte{0x08};
    arp[13] = std::byte{0x06};
    BOOST_TEST(s.handle_frame(test::view(arp), t0, out).result.drop == dhcp_drop::not_server_frame);
    BOOST_TEST(s.handle_frame(test::view(good).first(10), t0, out).result.drop == dhcp_drop::bad_frame);

    std::array<std::byte, 100> tiny{};
    auto small = s.handle_frame(test::view(good), t0, tiny);
    BOOST_TEST(!small);
    BOOST_TEST(small.result.drop == dhcp_drop::buffer_too_small);
    BOOST_TEST(s.counters().drop(dhcp_drop::bad_checksum) == 2u);
    BOOST_TEST(s.counters().drop(dhcp_drop::buffer_too_small) == 1u);
}

// Truncated and garbage input never crashes and never gets a reply: every prefix of a
// DISCOVER frame, and frames with random payload bytes.
BOOST_AUTO_TEST_CASE(truncated_and_garbage_frames) {
    auto s = make_server();
    std::array<std::byte, dhcp_server::max_frame_len> out{};
    auto good = client_frame(client_msg(mt::discover, client_mac(1)));
    std::size_t replies = 0;
    test::for_each_truncation(test::view(good), [&](bytes_view prefix) {
        if (s.handle_frame(prefix, t0, out)) ++replies;
    });
    BOOST_TEST(replies == 0u);
    BOOST_TEST(s.leases().empty());

    // DHCP payloads cut at every length, handed to handle() directly.
    const auto payload = bytes_of(client_msg(mt::discover, client_mac(2)));
    test::for_each_truncation(test::view(payload), [&](bytes_view prefix) {
        auto v = dhcp_view::parse(prefix);
        if (!v) return;
        dhcp_reply rep;
        (void)s.handle(*v, dhcp_ingress{client_mac(2)}, t0, rep);
    });

    std::uint32_t x = 12345;
    for (int i = 0; i < 2000; ++i) {
        auto g = good;
        for (std::size_t k = ethernet_view::header_len; k < g.size(); ++k) {
            x = x * 1103515245u + 12345u;
            if ((x >> 16) % 7 == 0) g[k] = std::byte(x >> 24);
        }
        (void)s.handle_frame(test::view(g), t0, out);
    }
    BOOST_TEST(s.leases().consistent());
}

BOOST_AUTO_TEST_SUITE_END()
