// DNS proxy of the Default Switch (include/vnet/services/dns_proxy.hpp): local names
// (<vm>.mshome.net, docs/eflow-facts.md "Hyper-V port and switch features"), forwarding to the
// configured servers ([NW] "DNS", [TS] "Check DNS"), failover and SERVFAIL
// (RFC 1035 4.1.1), TCP fallback (RFC 7766 5, RFC 2181 9), cache (RFC 1035 3.2.1,
// RFC 2181 5.2 / 8, RFC 2308 3 / 5), FORMERR / NOTIMP / BADVERS (RFC 1035 4.1.1,
// RFC 6891 6.1.3), anti-spoofing (RFC 5452 9.1). Every message the proxy emits is
// re-parsed with the wire codec.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/services/dns_proxy.hpp>
#include <vnet/wire/dns.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using namespace vnet::svc;
using namespace std::chrono_literals;
using vnet::test::view;

namespace vnet::svc {
inline std::ostream& operator<<(std::ostream& os, dns_proxy_drop d) { return os << to_string(d); }
inline std::ostream& operator<<(std::ostream& os, dns_transport t) { return os << to_string(t); }
inline std::ostream& operator<<(std::ostream& os, dns_peer p) { return os << to_string(p); }
inline std::ostream& operator<<(std::ostream& os, const dns_endpoint& e) { return os << fmt::format("{}", e); }
}  // namespace vnet::svc

namespace {

using bytes = std::vector<std::byte>;
using time_point = dns_proxy::time_point;

// Seed 001 "Check IP addresses": a Default Switch VM at 172.31.100.171/20; a second VM
// beside it. Seed 001 "Check DNS": public DNS may be blocked, so the host's servers are a
// LAN resolver and a corporate one (Set-EflowVmDnsServers style), not 8.8.8.8.
const dns_endpoint vm1{ipv4_address(172, 31, 100, 171), 40000};
const dns_endpoint vm2{ipv4_address(172, 31, 100, 172), 40000};
const dns_endpoint lan_dns{ipv4_address(192, 168, 0, 1), 53};
const dns_endpoint corp_dns{ipv4_address(10, 0, 0, 53), 53};
const time_point t0 = time_point{} + 1000s;

dns_name name_of(std::string_view s) { return dns_name::parse(s).value(); }

dns_proxy_config config() {
    dns_proxy_config c;
    c.upstreams = {lan_dns, corp_dns};
    return c;
}

dns_proxy make_proxy(dns_proxy_config c = config()) {
    auto p = dns_proxy::make(std::move(c));
    BOOST_REQUIRE(p);
    return std::move(*p);
}

bytes emit(const dns_message_repr& m) {
    bytes out(m.buffer_len());
    auto n = m.emit(out);
    BOOST_REQUIRE(n);
    out.resize(*n);
    return out;
}

/// A resolver's query; with EDNS when udp_size is non-zero.
bytes query(std::uint16_t id, std::string_view name, std::uint16_t type = dns_type::a, std::uint16_t udp_size = 0) {
    auto q = make_query(id, name_of(name), type);
    if (udp_size != 0) q.additional.push_back(dns_record_repr::make_opt(udp_size));
    return emit(q);
}

dns_message_repr parse_msg(bytes_view b) {
    auto v = dns_view::parse(b);
    BOOST_REQUIRE_MESSAGE(v, "message parses");
    auto m = dns_message_repr::parse(*v);
    BOOST_REQUIRE(m);
    return *m;
}

dns_message_repr parse_out(const dns_outgoing& o) { return parse_msg(o.message()); }

bytes copy(const dns_outgoing& o) { return bytes(o.payload.begin(), o.payload.end()); }

/// The upstream server's answer to the proxy's query q (as it went out): same ID and
/// question, the records given, rcode.
bytes answer_to(const bytes& q, std::vector<dns_record_repr> answers, std::uint8_t rcode = dns_rcode::noerror,
                std::vector<dns_record_repr> authority = {}, bool tc = false) {
    auto qm = parse_msg(view(q));
    auto r = make_response(qm, rcode);
    r.answers = std::move(answers);
    r.authority = std::move(authority);
    r.header.tc = tc;
    r.additional.push_back(dns_record_repr::make_opt(1232));
    return emit(r);
}

dns_record_repr a_rr(std::string_view name, ipv4_address a, std::uint32_t ttl) {
    return dns_record_repr::make(name_of(name), ttl, dns_a{a});
}

dns_record_repr soa_rr(std::string_view zone, std::uint32_t ttl, std::uint32_t minimum) {
    return dns_record_repr::make(name_of(zone), ttl,
                                 dns_soa{name_of("ns1.example"), name_of("hostmaster.example"), 1, 7200, 900, 1209600, minimum});
}

/// Forwards a query from client through p and returns the upstream message (a copy).
bytes forward(dns_proxy& p, const dns_endpoint& client, const bytes& q, time_point now) {
    auto out = p.on_client_query(client, view(q), now);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_REQUIRE_EQUAL(out[0].to, dns_peer::upstream);
    return copy(out[0]);
}

std::uint16_t id_of(bytes_view b) { return load_be16(b, 0); }

}  // namespace

BOOST_AUTO_TEST_SUITE(dns_proxy_tests)

// ---- configuration ----

BOOST_AUTO_TEST_CASE(config_is_checked) {
    auto c = config();
    c.upstreams.assign(17, lan_dns);
    BOOST_TEST(!dns_proxy::make(c));
    c = config();
    c.query_timeout = 1s;
    c.server_timeout = 2s;
    BOOST_TEST(!dns_proxy::make(c));
    c = config();
    c.edns_udp_size = 511;  // RFC 6891 6.2.5: below 512 is not a sensible size
    BOOST_TEST(!dns_proxy::make(c));
    c = config();
    c.local_domain = "bad..name";
    BOOST_TEST(!dns_proxy::make(c));
    c = config();
    c.upstreams = {dns_endpoint{ipv4_address::any(), 53}};
    BOOST_TEST(!dns_proxy::make(c));
    BOOST_TEST(dns_proxy::make(config()).has_value());
}

// ---- local names (docs/eflow-facts.md: "VM names resolve as <name>.mshome.net") ----

BOOST_AUTO_TEST_CASE(vm_name_under_mshome_net_answered_locally) {
    auto p = make_proxy();
    BOOST_REQUIRE(p.set_host("eflow", vm1.address));
    // RFC 4343: case-insensitive match; RFC 1035 4.1.1: the question is echoed as sent.
    auto q = query(0x1111, "EFLOW.mshome.NET");
    auto out = p.on_client_query(vm2, view(q), t0);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].to == dns_peer::client);
    BOOST_TEST(out[0].endpoint == vm2);
    auto r = parse_out(out[0]);
    BOOST_TEST(r.header.id == 0x1111);
    BOOST_TEST(r.header.qr);
    BOOST_TEST(r.header.aa);  // authoritative for its own domain
    BOOST_TEST(r.header.rcode == dns_rcode::noerror);
    BOOST_REQUIRE_EQUAL(r.questions.size(), 1u);
    BOOST_TEST(r.questions[0].name.to_string() == "EFLOW.mshome.NET");
    BOOST_REQUIRE_EQUAL(r.answers.size(), 1u);
    BOOST_TEST(std::get<dns_a>(r.answers[0].rdata).address == vm1.address);
    BOOST_TEST(r.answers[0].ttl == 60u);
    BOOST_TEST(r.additional.empty());  // RFC 6891 7: no OPT to a query without one
    BOOST_TEST(p.counters().local_answers == 1u);
    BOOST_TEST(p.counters().forwarded == 0u);
}

BOOST_AUTO_TEST_CASE(unknown_vm_is_nxdomain_and_aaaa_is_nodata_with_soa) {
    auto p = make_proxy();
    BOOST_REQUIRE(p.set_host("eflow", vm1.address));
    // RFC 2308 3: negative answers carry the zone's SOA in the authority section.
    auto q = query(2, "other.mshome.net");
    auto r = parse_out(p.on_client_query(vm1, view(q), t0)[0]);
    BOOST_TEST(r.header.rcode == dns_rcode::nxdomain);
    BOOST_TEST(r.answers.empty());
    BOOST_REQUIRE_EQUAL(r.authority.size(), 1u);
    BOOST_TEST(r.authority[0].type == dns_type::soa);
    BOOST_TEST(r.authority[0].name == name_of("mshome.net"));

    auto q6 = query(3, "eflow.mshome.net", dns_type::aaaa);
    auto r6 = parse_out(p.on_client_query(vm1, view(q6), t0)[0]);
    BOOST_TEST(r6.header.rcode == dns_rcode::noerror);
    BOOST_TEST(r6.answers.empty());
    BOOST_TEST(r6.authority.size() == 1u);
    BOOST_TEST(p.counters().local_nxdomain == 1u);
    BOOST_TEST(p.counters().local_nodata == 1u);

    // a host removed (its lease released) is gone
    BOOST_REQUIRE(p.remove_host("eflow"));
    auto r2 = parse_out(p.on_client_query(vm1, view(query(4, "eflow.mshome.net")), t0)[0]);
    BOOST_TEST(r2.header.rcode == dns_rcode::nxdomain);
    BOOST_TEST(!p.remove_host("eflow"));
}

BOOST_AUTO_TEST_CASE(ptr_for_a_vm_address) {
    // RFC 1035 3.5: a.b.c.d is d.c.b.a.in-addr.arpa.
    auto p = make_proxy();
    BOOST_REQUIRE(p.set_host("eflow", vm1.address));
    auto q = query(5, "171.100.31.172.in-addr.arpa", dns_type::ptr);
    auto out = p.on_client_query(vm1, view(q), t0);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    auto r = parse_out(out[0]);
    BOOST_REQUIRE_EQUAL(r.answers.size(), 1u);
    BOOST_TEST(r.answers[0].type == dns_type::ptr);
    BOOST_TEST(std::get<dns_ptr>(r.answers[0].rdata).target == name_of("eflow.mshome.net"));
    BOOST_TEST(p.counters().ptr_answers == 1u);
    // an address the proxy does not know goes upstream
    auto q2 = query(6, "10.0.0.10.in-addr.arpa", dns_type::ptr);
    auto out2 = p.on_client_query(vm1, view(q2), t0);
    BOOST_REQUIRE_EQUAL(out2.size(), 1u);
    BOOST_TEST(out2[0].to == dns_peer::upstream);
}

BOOST_AUTO_TEST_CASE(static_names_of_a_lab) {
    // docs/design.md lab file: dns = { "iothub.example" = "198.51.100.10" }.
    auto p = make_proxy();
    BOOST_REQUIRE(p.add_static("iothub.example", ipv4_address(198, 51, 100, 10)));
    auto out = p.on_client_query(vm1, view(query(7, "IoTHub.example", dns_type::a, 1232)), t0);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].to == dns_peer::client);
    auto r = parse_out(out[0]);
    BOOST_REQUIRE_EQUAL(r.answers.size(), 1u);
    BOOST_TEST(std::get<dns_a>(r.answers[0].rdata).address == ipv4_address(198, 51, 100, 10));
    BOOST_TEST(r.opt_record() != nullptr);  // RFC 6891 7: the client sent OPT
    BOOST_TEST(p.counters().static_answers == 1u);
    // other names below it are not static: forwarded
    auto out2 = p.on_client_query(vm1, view(query(8, "www.iothub.example")), t0);
    BOOST_REQUIRE_EQUAL(out2.size(), 1u);
    BOOST_TEST(out2[0].to == dns_peer::upstream);
}

// ---- forwarding ([TS] "Check DNS"; RFC 5452 9.1, 9.2) ----

BOOST_AUTO_TEST_CASE(two_clients_with_the_same_id_get_their_own_answers) {
    auto p = make_proxy();
    auto up1 = forward(p, vm1, query(0x4242, "Example.COM"), t0);
    auto up2 = forward(p, vm2, query(0x4242, "example.org"), t0);
    // the proxy's own ID space: distinct upstream IDs
    BOOST_TEST(id_of(view(up1)) != id_of(view(up2)));
    BOOST_TEST(p.outstanding() == 2u);
    // the upstream query: RD, the client's question (case kept), OPT with the proxy's size
    auto m1 = parse_msg(view(up1));
    BOOST_TEST(m1.header.rd);
    BOOST_TEST(!m1.header.qr);
    BOOST_TEST(m1.questions[0].name.to_string() == "Example.COM");
    BOOST_REQUIRE(m1.opt_record());
    BOOST_TEST(m1.opt_record()->rclass == 1232);

    // answers in the other order
    auto a2 = answer_to(up2, {a_rr("example.org", ipv4_address(203, 0, 113, 2), 300)});
    auto out2 = p.on_upstream_answer(lan_dns, view(a2), t0 + 10ms);
    BOOST_REQUIRE_EQUAL(out2.size(), 1u);
    BOOST_TEST(out2[0].endpoint == vm2);
    auto r2 = parse_out(out2[0]);
    BOOST_TEST(r2.header.id == 0x4242);
    BOOST_TEST(r2.questions[0].name == name_of("example.org"));
    BOOST_TEST(std::get<dns_a>(r2.answers[0].rdata).address == ipv4_address(203, 0, 113, 2));
    BOOST_TEST(r2.opt_record() == nullptr);  // RFC 6891 7

    auto a1 = answer_to(up1, {a_rr("Example.COM", ipv4_address(203, 0, 113, 1), 300)});
    auto out1 = p.on_upstream_answer(lan_dns, view(a1), t0 + 20ms);
    BOOST_REQUIRE_EQUAL(out1.size(), 1u);
    BOOST_TEST(out1[0].endpoint == vm1);
    auto r1 = parse_out(out1[0]);
    BOOST_TEST(r1.header.id == 0x4242);
    BOOST_TEST(r1.questions[0].name.to_string() == "Example.COM");
    BOOST_TEST(std::get<dns_a>(r1.answers[0].rdata).address == ipv4_address(203, 0, 113, 1));
    BOOST_TEST(p.outstanding() == 0u);
    BOOST_TEST(p.counters().forwarded == 2u);
    BOOST_TEST(p.counters().upstream_answers == 2u);
}

BOOST_AUTO_TEST_CASE(failover_to_the_second_server_after_server_timeout) {
    auto p = make_proxy();  // server_timeout 2 s
    auto up = forward(p, vm1, query(9, "iothub.example"), t0);
    BOOST_TEST(p.poll(t0 + 1999ms).empty());
    BOOST_REQUIRE(p.next_deadline());
    BOOST_TEST((*p.next_deadline() == t0 + 2s));
    auto out = p.poll(t0 + 2s);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].to == dns_peer::upstream);
    BOOST_TEST(out[0].endpoint == corp_dns);
    auto again = copy(out[0]);
    BOOST_TEST(parse_msg(view(again)).questions[0].name == name_of("iothub.example"));
    BOOST_TEST(p.counters().failovers == 1u);
    // the second server answers
    auto a = answer_to(again, {a_rr("iothub.example", ipv4_address(198, 51, 100, 10), 60)});
    auto res = p.on_upstream_answer(corp_dns, view(a), t0 + 2500ms);
    BOOST_REQUIRE_EQUAL(res.size(), 1u);
    BOOST_TEST(res[0].endpoint == vm1);
    BOOST_TEST(parse_out(res[0]).header.id == 9);
    (void)up;
}

BOOST_AUTO_TEST_CASE(late_answer_from_the_first_server_is_still_taken) {
    // RFC 5452 9.1: an answer is genuine when it comes from a server that was asked.
    auto p = make_proxy();
    auto up = forward(p, vm1, query(11, "iothub.example"), t0);
    BOOST_REQUIRE_EQUAL(p.poll(t0 + 2s).size(), 1u);  // now asking the second server
    auto a = answer_to(up, {a_rr("iothub.example", ipv4_address(198, 51, 100, 10), 60)});
    auto out = p.on_upstream_answer(lan_dns, view(a), t0 + 2100ms);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].endpoint == vm1);
    BOOST_TEST(p.outstanding() == 0u);
    // and the second server's answer, arriving after, matches nothing
    BOOST_TEST(p.on_upstream_answer(corp_dns, view(a), t0 + 2200ms).empty());
    BOOST_TEST(p.counters().drop(dns_proxy_drop::upstream_unmatched) == 1u);
}

BOOST_AUTO_TEST_CASE(upstream_servfail_moves_to_the_next_server_at_once) {
    auto p = make_proxy();
    auto up = forward(p, vm1, query(10, "iothub.example"), t0);
    auto sf = answer_to(up, {}, dns_rcode::servfail);
    auto out = p.on_upstream_answer(lan_dns, view(sf), t0 + 5ms);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].to == dns_peer::upstream);
    BOOST_TEST(out[0].endpoint == corp_dns);
    // the last server's SERVFAIL goes to the client
    auto sf2 = answer_to(copy(out[0]), {}, dns_rcode::servfail);
    auto out2 = p.on_upstream_answer(corp_dns, view(sf2), t0 + 10ms);
    BOOST_REQUIRE_EQUAL(out2.size(), 1u);
    BOOST_TEST(out2[0].endpoint == vm1);
    BOOST_TEST(parse_out(out2[0]).header.rcode == dns_rcode::servfail);
    BOOST_TEST(p.cache().size() == 0u);  // not cached
}

BOOST_AUTO_TEST_CASE(servfail_after_the_query_timeout) {
    // issue 5: "an unreachable upstream gets SERVFAIL after a timeout" (RFC 1035 4.1.1).
    auto p = make_proxy();  // 2 s per server, 10 s in all
    (void)forward(p, vm1, query(0x0bad, "iothub.example", dns_type::a, 1232), t0);
    std::size_t upstream = 0;
    for (auto t = t0 + 1s; t < t0 + 10s; t += 1s)
        for (const auto& o : p.poll(t)) {
            BOOST_TEST(o.to == dns_peer::upstream);
            ++upstream;
        }
    BOOST_TEST(upstream == 4u);  // at 2, 4, 6, 8 s: corp, lan, corp, lan
    BOOST_TEST(p.counters().failovers == 1u);
    BOOST_TEST(p.counters().retransmits == 3u);
    auto out = p.poll(t0 + 10s);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].to == dns_peer::client);
    BOOST_TEST(out[0].endpoint == vm1);
    auto r = parse_out(out[0]);
    BOOST_TEST(r.header.id == 0x0bad);
    BOOST_TEST(r.header.rcode == dns_rcode::servfail);
    BOOST_TEST(r.questions[0].name == name_of("iothub.example"));
    BOOST_TEST(r.opt_record() != nullptr);
    BOOST_TEST(p.outstanding() == 0u);
    BOOST_TEST(p.counters().servfail_timeout == 1u);
    BOOST_TEST(!p.next_deadline());
}

BOOST_AUTO_TEST_CASE(no_upstream_configured_is_servfail_at_once) {
    auto c = config();
    c.upstreams.clear();
    auto p = make_proxy(c);
    auto out = p.on_client_query(vm1, view(query(1, "iothub.example")), t0);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(parse_out(out[0]).header.rcode == dns_rcode::servfail);
    BOOST_TEST(p.counters().servfail_no_upstream == 1u);
}

BOOST_AUTO_TEST_CASE(outstanding_table_full_is_servfail_with_a_counter) {
    auto c = config();
    c.max_outstanding = 1;
    auto p = make_proxy(c);
    (void)forward(p, vm1, query(1, "a.example"), t0);
    auto out = p.on_client_query(vm2, view(query(2, "b.example")), t0);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].to == dns_peer::client);
    BOOST_TEST(parse_out(out[0]).header.rcode == dns_rcode::servfail);
    BOOST_TEST(p.counters().drop(dns_proxy_drop::outstanding_full) == 1u);
    BOOST_TEST(p.counters().servfail_busy == 1u);
}

// ---- TCP fallback (RFC 7766 5, RFC 1035 4.2.2, RFC 2181 9, RFC 6891 6.2.5) ----

namespace {
/// 40 A records: about 40 * 16 + header = 700 bytes compressed, more than 512.
std::vector<dns_record_repr> many_records(std::string_view name) {
    std::vector<dns_record_repr> v;
    for (std::uint8_t i = 1; i <= 40; ++i) v.push_back(a_rr(name, ipv4_address(203, 0, 113, i), 300));
    return v;
}
}  // namespace

BOOST_AUTO_TEST_CASE(truncated_udp_answer_is_retried_over_tcp_and_cut_for_a_plain_client) {
    auto p = make_proxy();
    auto up = forward(p, vm1, query(0x7c, "big.example"), t0);  // no EDNS: 512 bytes
    auto tc = answer_to(up, {}, dns_rcode::noerror, {}, true);
    auto out = p.on_upstream_answer(lan_dns, view(tc), t0 + 5ms);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].to == dns_peer::upstream);
    BOOST_TEST(out[0].transport == dns_transport::tcp);
    BOOST_TEST(out[0].endpoint == lan_dns);
    auto frame = split_dns_tcp(out[0].payload);
    BOOST_REQUIRE(frame);
    BOOST_TEST(frame->consumed == out[0].payload.size());
    BOOST_TEST(equal_bytes(frame->message, view(up)));  // the same query, framed
    BOOST_TEST(p.counters().tcp_fallbacks == 1u);

    // a UDP answer is no longer accepted for it
    auto udp_again = answer_to(up, many_records("big.example"));
    BOOST_TEST(p.on_upstream_answer(lan_dns, view(udp_again), t0 + 6ms).empty());
    BOOST_TEST(p.counters().drop(dns_proxy_drop::upstream_unmatched) == 1u);

    auto body = answer_to(up, many_records("big.example"));
    BOOST_REQUIRE(body.size() > dns_udp_max);
    bytes framed(2);
    BOOST_REQUIRE(store_dns_tcp_length(framed, body.size()));
    framed.insert(framed.end(), body.begin(), body.end());
    auto res = p.on_upstream_answer(lan_dns, view(framed), t0 + 20ms, dns_transport::tcp);
    BOOST_REQUIRE_EQUAL(res.size(), 1u);
    BOOST_TEST(res[0].endpoint == vm1);
    BOOST_TEST(res[0].transport == dns_transport::udp);
    BOOST_TEST(res[0].payload.size() <= dns_udp_max);
    auto v = dns_view::parse(res[0].message());
    BOOST_REQUIRE(v);
    BOOST_TEST(v->truncated());  // RFC 2181 9: TC set, only whole records
    BOOST_TEST(v->id() == 0x7c);
    BOOST_TEST(v->ancount() < 40u);
    BOOST_TEST(v->ancount() > 0u);
    BOOST_TEST(p.counters().truncated_replies == 1u);
}

BOOST_AUTO_TEST_CASE(tcp_answer_goes_whole_to_an_edns_client_that_can_take_it) {
    auto p = make_proxy();
    auto up = forward(p, vm1, query(0x7d, "big.example", dns_type::a, 4096), t0);
    auto tc = answer_to(up, {}, dns_rcode::noerror, {}, true);
    auto out = p.on_upstream_answer(lan_dns, view(tc), t0 + 5ms);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    auto body = answer_to(up, many_records("big.example"));
    bytes framed(2);
    BOOST_REQUIRE(store_dns_tcp_length(framed, body.size()));
    framed.insert(framed.end(), body.begin(), body.end());
    auto res = p.on_upstream_answer(lan_dns, view(framed), t0 + 20ms, dns_transport::tcp);
    BOOST_REQUIRE_EQUAL(res.size(), 1u);
    // RFC 6891 6.2.5: the client's 4096 is capped at the proxy's 1232; 700 bytes fit.
    BOOST_TEST(res[0].payload.size() > dns_udp_max);
    auto r = parse_out(res[0]);
    BOOST_TEST(!r.header.tc);
    BOOST_TEST(r.answers.size() == 40u);
    BOOST_TEST(p.counters().truncated_replies == 0u);
}

BOOST_AUTO_TEST_CASE(tcp_client_gets_a_framed_whole_answer) {
    auto p = make_proxy();
    BOOST_REQUIRE(p.set_host("eflow", vm1.address));
    auto q = query(0x55, "eflow.mshome.net");
    bytes framed(2);
    BOOST_REQUIRE(store_dns_tcp_length(framed, q.size()));
    framed.insert(framed.end(), q.begin(), q.end());
    auto out = p.on_client_query(vm2, view(framed), t0, dns_transport::tcp);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].transport == dns_transport::tcp);
    auto f = split_dns_tcp(out[0].payload);
    BOOST_REQUIRE(f);
    BOOST_TEST(f->consumed == out[0].payload.size());
    BOOST_TEST(dns_view::parse(f->message)->id() == 0x55);
    // an incomplete frame is dropped
    BOOST_TEST(p.on_client_query(vm2, view(framed).first(framed.size() - 1), t0, dns_transport::tcp).empty());
    BOOST_TEST(p.counters().drop(dns_proxy_drop::client_short) == 1u);
}

BOOST_AUTO_TEST_CASE(large_cached_answer_is_cut_per_client) {
    // RFC 2181 9 / RFC 6891 6.2.5: the same cached answer goes whole to a client that can
    // take it and truncated to one that cannot.
    auto p = make_proxy();
    auto up = forward(p, vm1, query(1, "big.example", dns_type::a, 1232), t0);
    auto tc = answer_to(up, {}, dns_rcode::noerror, {}, true);
    BOOST_REQUIRE_EQUAL(p.on_upstream_answer(lan_dns, view(tc), t0).size(), 1u);
    auto body = answer_to(up, many_records("big.example"));
    bytes framed(2);
    BOOST_REQUIRE(store_dns_tcp_length(framed, body.size()));
    framed.insert(framed.end(), body.begin(), body.end());
    BOOST_REQUIRE_EQUAL(p.on_upstream_answer(lan_dns, view(framed), t0, dns_transport::tcp).size(), 1u);
    BOOST_TEST(p.cache().size() == 1u);
    auto plain = p.on_client_query(vm2, view(query(2, "big.example")), t0 + 1s);
    BOOST_REQUIRE_EQUAL(plain.size(), 1u);
    BOOST_TEST(plain[0].payload.size() <= dns_udp_max);
    BOOST_TEST(dns_view::parse(plain[0].message())->truncated());
    auto edns = p.on_client_query(vm2, view(query(3, "big.example", dns_type::a, 1232)), t0 + 1s);
    BOOST_REQUIRE_EQUAL(edns.size(), 1u);
    BOOST_TEST(!dns_view::parse(edns[0].message())->truncated());
    BOOST_TEST(parse_out(edns[0]).answers.size() == 40u);
}

// ---- cache (RFC 1035 3.2.1, RFC 2181 5.2 and 8, RFC 2308, RFC 4343) ----

BOOST_AUTO_TEST_CASE(cache_hit_with_ttls_decremented_by_time_in_cache) {
    auto p = make_proxy();
    auto up = forward(p, vm1, query(1, "iothub.example"), t0);
    auto a = answer_to(up, {dns_record_repr::make(name_of("iothub.example"), 600, dns_cname{name_of("hub.example")}),
                            a_rr("hub.example", ipv4_address(198, 51, 100, 10), 300)});
    auto a_with_aa = parse_msg(view(a));
    a_with_aa.header.aa = true;
    auto aa = emit(a_with_aa);
    BOOST_REQUIRE_EQUAL(p.on_upstream_answer(lan_dns, view(aa), t0).size(), 1u);
    BOOST_TEST(p.cache().size() == 1u);

    // 100 s later a second VM asks in another case: answered from the cache
    auto out = p.on_client_query(vm2, view(query(0x2222, "IOTHUB.example")), t0 + 100s + 500ms);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].to == dns_peer::client);
    BOOST_TEST(out[0].endpoint == vm2);
    auto r = parse_out(out[0]);
    BOOST_TEST(r.header.id == 0x2222);
    BOOST_TEST(r.questions[0].name.to_string() == "IOTHUB.example");
    BOOST_TEST(!r.header.aa);  // RFC 1035 4.1.1: a cached answer is not authoritative
    BOOST_REQUIRE_EQUAL(r.answers.size(), 2u);
    BOOST_TEST(r.answers[0].ttl == 500u);  // whole seconds spent: 100
    BOOST_TEST(r.answers[1].ttl == 200u);
    BOOST_TEST(p.counters().cache_answers == 1u);
    BOOST_TEST(p.counters().forwarded == 1u);
}

BOOST_AUTO_TEST_CASE(cache_entry_lives_for_the_least_ttl_then_expires) {
    auto p = make_proxy();
    auto up = forward(p, vm1, query(1, "iothub.example"), t0);
    auto a = answer_to(up, {a_rr("iothub.example", ipv4_address(198, 51, 100, 10), 300),
                            a_rr("iothub.example", ipv4_address(198, 51, 100, 11), 120)});
    (void)p.on_upstream_answer(lan_dns, view(a), t0);
    BOOST_TEST(p.cache().find(dns_question{name_of("iothub.example"), dns_type::a, dns_class::in}, t0)->ttl == 120u);
    auto hit = p.on_client_query(vm1, view(query(2, "iothub.example")), t0 + 119s);
    BOOST_REQUIRE_EQUAL(hit.size(), 1u);
    BOOST_TEST(hit[0].to == dns_peer::client);
    auto miss = p.on_client_query(vm1, view(query(3, "iothub.example")), t0 + 120s);
    BOOST_REQUIRE_EQUAL(miss.size(), 1u);
    BOOST_TEST(miss[0].to == dns_peer::upstream);
    BOOST_TEST(p.cache().counters().expired == 1u);
}

BOOST_AUTO_TEST_CASE(ttl_zero_and_top_bit_ttls_are_not_cached) {
    // RFC 1035 3.2.1: TTL 0 means not cached; RFC 2181 8: a TTL with the top bit set is 0.
    auto p = make_proxy();
    auto up = forward(p, vm1, query(1, "zero.example"), t0);
    (void)p.on_upstream_answer(lan_dns, view(answer_to(up, {a_rr("zero.example", ipv4_address(1, 2, 3, 4), 0)})), t0);
    auto up2 = forward(p, vm1, query(2, "huge.example"), t0);
    (void)p.on_upstream_answer(lan_dns, view(answer_to(up2, {a_rr("huge.example", ipv4_address(1, 2, 3, 5), 0x80000000u)})), t0);
    BOOST_TEST(p.cache().size() == 0u);
}

BOOST_AUTO_TEST_CASE(nxdomain_cached_for_the_soa_minimum) {
    // RFC 2308 5: negative TTL = min(SOA TTL, SOA MINIMUM); the SOA is served with it.
    auto p = make_proxy();
    auto up = forward(p, vm1, query(1, "nope.example"), t0);
    auto nx = answer_to(up, {}, dns_rcode::nxdomain, {soa_rr("example", 3600, 60)});
    auto out = p.on_upstream_answer(lan_dns, view(nx), t0);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(parse_out(out[0]).header.rcode == dns_rcode::nxdomain);
    BOOST_TEST(p.counters().negative_cached == 1u);

    auto hit = p.on_client_query(vm2, view(query(7, "nope.example")), t0 + 30s);
    BOOST_REQUIRE_EQUAL(hit.size(), 1u);
    BOOST_TEST(hit[0].to == dns_peer::client);
    auto r = parse_out(hit[0]);
    BOOST_TEST(r.header.rcode == dns_rcode::nxdomain);
    BOOST_REQUIRE_EQUAL(r.authority.size(), 1u);
    BOOST_TEST(r.authority[0].ttl == 30u);  // 60 less 30 s in the cache

    auto miss = p.on_client_query(vm2, view(query(8, "nope.example")), t0 + 60s);
    BOOST_REQUIRE_EQUAL(miss.size(), 1u);
    BOOST_TEST(miss[0].to == dns_peer::upstream);
}

BOOST_AUTO_TEST_CASE(nodata_is_cached_negatively_too) {
    // RFC 2308 5: NODATA (NOERROR, no answer) is cached like NXDOMAIN.
    auto p = make_proxy();
    auto up = forward(p, vm1, query(1, "v4only.example", dns_type::aaaa), t0);
    (void)p.on_upstream_answer(lan_dns, view(answer_to(up, {}, dns_rcode::noerror, {soa_rr("example", 300, 900)})), t0);
    const auto* e = p.cache().find(dns_question{name_of("v4only.example"), dns_type::aaaa, dns_class::in}, t0);
    BOOST_REQUIRE(e);
    BOOST_TEST(e->negative);
    BOOST_TEST(e->ttl == 300u);
}

BOOST_AUTO_TEST_CASE(negative_answer_without_soa_uses_the_configured_default) {
    // RFC 2308 5: without a SOA such answers SHOULD NOT be cached (default 0) ...
    auto p = make_proxy();
    auto up = forward(p, vm1, query(1, "nope.example"), t0);
    (void)p.on_upstream_answer(lan_dns, view(answer_to(up, {}, dns_rcode::nxdomain)), t0);
    BOOST_TEST(p.cache().size() == 0u);
    // ... unless the operator configures a time.
    auto c = config();
    c.negative_ttl_without_soa = 30;
    auto p2 = make_proxy(c);
    auto up2 = forward(p2, vm1, query(1, "nope.example"), t0);
    (void)p2.on_upstream_answer(lan_dns, view(answer_to(up2, {}, dns_rcode::nxdomain)), t0);
    const auto* e = p2.cache().find(dns_question{name_of("nope.example"), dns_type::a, dns_class::in}, t0);
    BOOST_REQUIRE(e);
    BOOST_TEST(e->ttl == 30u);
}

BOOST_AUTO_TEST_CASE(cache_is_bounded_and_evicts_the_least_recently_used) {
    dns_cache c(2);
    auto q = [](std::string_view n) { return dns_question{name_of(n), dns_type::a, dns_class::in}; };
    c.insert(q("a.example"), dns_message_repr{}, 300, false, t0);
    c.insert(q("b.example"), dns_message_repr{}, 300, false, t0);
    BOOST_TEST(c.find(q("A.EXAMPLE"), t0) != nullptr);  // RFC 4343: case-insensitive key; a is now recent
    c.insert(q("c.example"), dns_message_repr{}, 300, false, t0);
    BOOST_TEST(c.size() == 2u);
    BOOST_TEST(c.counters().evictions == 1u);
    BOOST_TEST(c.find(q("b.example"), t0) == nullptr);
    BOOST_TEST(c.find(q("a.example"), t0) != nullptr);
    BOOST_TEST(c.find(q("c.example"), t0) != nullptr);
    // (name, type, class) is the key: AAAA is another entry
    BOOST_TEST(c.find(dns_question{name_of("a.example"), dns_type::aaaa, dns_class::in}, t0) == nullptr);
    BOOST_TEST(c.purge_expired(t0 + 300s) == 2u);
    BOOST_TEST(c.size() == 0u);
}

// ---- malformed and unsupported queries (RFC 1035 4.1.1, 4.1.2; RFC 6891 6.1.3) ----

BOOST_AUTO_TEST_CASE(malformed_query_gets_formerr_with_its_id) {
    auto p = make_proxy();
    auto q = query(0xabcd, "iothub.example");
    q.resize(q.size() - 3);  // the question's class cut
    auto out = p.on_client_query(vm1, view(q), t0);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    auto r = parse_out(out[0]);
    BOOST_TEST(r.header.id == 0xabcd);
    BOOST_TEST(r.header.qr);
    BOOST_TEST(r.header.rcode == dns_rcode::formerr);
    BOOST_TEST(p.counters().formerr == 1u);
    // QDCOUNT 0 (RFC 1035 4.1.2: a query carries its question)
    auto none = test::hex("0102 0100 0000 0000 0000 0000");
    auto out2 = p.on_client_query(vm1, view(none), t0);
    BOOST_REQUIRE_EQUAL(out2.size(), 1u);
    BOOST_TEST(parse_out(out2[0]).header.rcode == dns_rcode::formerr);
    // under 12 bytes there is no ID to answer: dropped and counted
    BOOST_TEST(p.on_client_query(vm1, view(q).first(11), t0).empty());
    BOOST_TEST(p.counters().drop(dns_proxy_drop::client_short) == 1u);
}

BOOST_AUTO_TEST_CASE(opcode_other_than_query_gets_notimp) {
    auto p = make_proxy();
    auto m = make_query(0x0202, name_of("iothub.example"), dns_type::a);
    m.header.opcode = dns_opcode::status;
    auto q = emit(m);
    auto out = p.on_client_query(vm1, view(q), t0);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    auto r = parse_out(out[0]);
    BOOST_TEST(r.header.rcode == dns_rcode::notimp);
    BOOST_TEST(r.header.opcode == dns_opcode::status);
    BOOST_TEST(r.header.id == 0x0202);
    BOOST_TEST(p.counters().notimp == 1u);
}

BOOST_AUTO_TEST_CASE(edns_version_1_gets_badvers) {
    // RFC 6891 6.1.3: BADVERS (16) is extended RCODE 1 with header RCODE 0.
    auto p = make_proxy();
    auto m = make_query(3, name_of("iothub.example"), dns_type::a);
    m.additional.push_back(dns_record_repr::make_opt(1232, false, 0, 1));
    auto q = emit(m);
    auto out = p.on_client_query(vm1, view(q), t0);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    auto v = dns_view::parse(out[0].message());
    BOOST_REQUIRE(v);
    BOOST_TEST(v->full_rcode() == 16);
    BOOST_TEST(p.counters().badvers == 1u);
}

BOOST_AUTO_TEST_CASE(responses_from_clients_are_dropped) {
    auto p = make_proxy();
    auto m = make_response(make_query(4, name_of("iothub.example"), dns_type::a));
    auto b = emit(m);
    BOOST_TEST(p.on_client_query(vm1, view(b), t0).empty());
    BOOST_TEST(p.counters().drop(dns_proxy_drop::client_response) == 1u);
    BOOST_TEST(p.counters().queries == 0u);
}

// ---- anti-spoofing (RFC 5452 9.1: match server, ID and question) ----

BOOST_AUTO_TEST_CASE(spoofed_answers_are_dropped) {
    auto p = make_proxy();
    auto up = forward(p, vm1, query(1, "iothub.example"), t0);
    const auto evil = ipv4_address(6, 6, 6, 6);
    auto good = answer_to(up, {a_rr("iothub.example", ipv4_address(198, 51, 100, 10), 60)});

    // wrong ID
    auto wrong_id = good;
    store_be16(wrong_id, 0, static_cast<std::uint16_t>(id_of(view(up)) + 1));
    BOOST_TEST(p.on_upstream_answer(lan_dns, view(wrong_id), t0).empty());
    // right ID from a server that was not asked (the second one is asked only after 2 s)
    BOOST_TEST(p.on_upstream_answer(corp_dns, view(good), t0).empty());
    BOOST_TEST(p.on_upstream_answer(dns_endpoint{evil, 53}, view(good), t0).empty());
    BOOST_TEST(p.on_upstream_answer(dns_endpoint{lan_dns.address, 5353}, view(good), t0).empty());
    // right ID and server, another question
    auto other = parse_msg(view(good));
    other.questions[0].name = name_of("evil.example");
    BOOST_TEST(p.on_upstream_answer(lan_dns, view(emit(other)), t0).empty());
    // a query (QR clear) is not an answer
    BOOST_TEST(p.on_upstream_answer(lan_dns, view(up), t0).empty());
    BOOST_TEST(p.counters().drop(dns_proxy_drop::upstream_unmatched) == 5u);
    BOOST_TEST(p.counters().drop(dns_proxy_drop::upstream_malformed) == 1u);
    BOOST_TEST(p.outstanding() == 1u);
    BOOST_TEST(p.cache().size() == 0u);

    // the genuine answer still gets through, once
    BOOST_TEST(p.on_upstream_answer(lan_dns, view(good), t0).size() == 1u);
    BOOST_TEST(p.on_upstream_answer(lan_dns, view(good), t0).empty());
    BOOST_TEST(p.counters().drop(dns_proxy_drop::upstream_unmatched) == 6u);
}

// ---- robustness (docs/design.md "Principles": malformed input is an error value, never a crash) ----

BOOST_AUTO_TEST_CASE(queries_truncated_at_every_byte) {
    auto p = make_proxy();
    auto q = query(0x3131, "iothub.example", dns_type::a, 1232);
    std::size_t formerr = 0, dropped = 0;
    test::for_each_truncation(view(q), [&](bytes_view b) {
        auto out = p.on_client_query(vm1, b, t0);
        if (b.size() < dns_header::header_len) {
            BOOST_TEST(out.empty());
            ++dropped;
            return;
        }
        BOOST_REQUIRE_EQUAL(out.size(), 1u);
        BOOST_TEST(out[0].to == dns_peer::client);
        BOOST_TEST(parse_out(out[0]).header.rcode == dns_rcode::formerr);
        ++formerr;
    });
    BOOST_TEST(dropped == 12u);
    BOOST_TEST(formerr == q.size() - 12);
    BOOST_TEST(p.counters().forwarded == 0u);
}

BOOST_AUTO_TEST_CASE(upstream_answers_truncated_at_every_byte) {
    auto p = make_proxy();
    auto up = forward(p, vm1, query(1, "iothub.example"), t0);
    auto a = answer_to(up, {a_rr("iothub.example", ipv4_address(198, 51, 100, 10), 60)}, dns_rcode::noerror,
                       {soa_rr("example", 60, 60)});
    test::for_each_truncation(view(a), [&](bytes_view b) {
        BOOST_TEST(p.on_upstream_answer(lan_dns, b, t0).empty());
        BOOST_TEST(p.on_upstream_answer(lan_dns, b, t0, dns_transport::tcp).empty());
    });
    BOOST_TEST(p.outstanding() == 1u);
    BOOST_TEST(p.counters().upstream_answers == 0u);
    BOOST_TEST(p.on_upstream_answer(lan_dns, view(a), t0).size() == 1u);
}

// ---- formatting ----

BOOST_AUTO_TEST_CASE(cache_and_proxy_format_for_debugging) {
    auto p = make_proxy();
    auto up = forward(p, vm1, query(1, "iothub.example"), t0);
    (void)forward(p, vm2, query(2, "waiting.example"), t0);
    (void)p.on_upstream_answer(lan_dns, view(answer_to(up, {a_rr("iothub.example", ipv4_address(198, 51, 100, 10), 300)})), t0);
    auto up3 = forward(p, vm1, query(3, "nope.example", dns_type::aaaa), t0);
    (void)p.on_upstream_answer(lan_dns, view(answer_to(up3, {}, dns_rcode::nxdomain, {soa_rr("example", 60, 60)})), t0);
    std::string cache = fmt::format("{}", p.cache());
    BOOST_TEST(cache ==
               "dns cache 2/1024 entries, hits 0 misses 3 inserts 2 evictions 0 expired 0\n"
               "  nope.example AAAA IN NXDOMAIN negative ttl 60\n"
               "  iothub.example A IN NOERROR 1 answer ttl 300");
    std::string all = fmt::format("{}", p);
    BOOST_TEST(all.find("dns proxy mshome.net -> 192.168.0.1:53, 10.0.0.53:53, 1 waiting") == 0u);
    BOOST_TEST(all.find("for 172.31.100.172:40000 id 0x0002: waiting.example type 1 -> udp 192.168.0.1:53") != std::string::npos);
    BOOST_TEST(fmt::format("{}", p.counters()).find("drops: none") != std::string::npos);
    BOOST_TEST(fmt::format("{}", dns_proxy_drop::upstream_unmatched) == "upstream_unmatched");
}

BOOST_AUTO_TEST_SUITE_END()
