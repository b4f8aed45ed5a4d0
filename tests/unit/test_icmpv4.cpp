// ICMP for IPv4 (include/vnet/wire/icmpv4.hpp): RFC 792, RFC 1191, RFC 1812.
#include <boost/test/unit_test.hpp>

#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <vnet/wire/icmpv4.hpp>
#include <vnet/wire/ipv4.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::hex;
using vnet::test::view;

namespace {

// smoltcp src/wire/icmpv4.rs ECHO_PACKET_BYTES: echo request, identifier 0x1234,
// sequence 0xabcd, data aa 00 00 ff, checksum 0x8efe.
const auto smoltcp_echo = hex("0800 8efe 1234 abcd aa00 00ff");

// The ICMP part of a Linux `ping localhost` request and its reply, captured with
// `tcpdump -i lo -X` and published in "ping and traceroute"
// (https://dev.jendekhane.com/post/learn/61d8ee3c9c67d2983d9740fb): id 21780 (0x5514),
// seq 1, 56 data octets (struct timeval, then 0x10..0x37).
const auto ping_data =
    "2d08 f460 0000 0000 6c83 0d00 0000 0000 1011 1213 1415 1617 1819 1a1b 1c1d 1e1f"
    "2021 2223 2425 2627 2829 2a2b 2c2d 2e2f 3031 3233 3435 3637";
const auto linux_request = hex(std::string("0800 492b 5514 0001") + ping_data);
const auto linux_reply = hex(std::string("0000 512b 5514 0001") + ping_data);

// Port unreachable (RFC 792) from 192.168.0.1 for a DNS query 192.168.0.100:54321 ->
// 192.168.0.1:53: the quoted IP header (checksum 0x9cb5) and the 8-octet UDP header.
// Built field by field from RFC 792; both checksums computed independently (Python).
const auto port_unreachable = hex(
    "0303 e6ab 0000 0000"
    "4500 003c 1c46 4000 4011 9cb5 c0a8 0064 c0a8 0001"
    "d431 0035 0028 41c2");

// Time exceeded in transit (RFC 792) quoting the first 28 octets of the Linux ping
// above (its IP header and echo header); checksum 0x4ebf computed independently.
const auto ttl_exceeded = hex(
    "0b00 4ebf 0000 0000"
    "4500 0054 9210 4000 4001 aa96 7f00 0001 7f00 0001"
    "0800 492b 5514 0001");

}  // namespace

BOOST_AUTO_TEST_SUITE(icmpv4)

// RFC 792 "Echo or Echo Reply Message".
BOOST_AUTO_TEST_CASE(smoltcp_echo_request) {
    auto v = icmpv4_view::parse(view(smoltcp_echo));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->type() == icmpv4_type::echo_request);
    BOOST_TEST(v->code() == 0);
    BOOST_TEST(v->checksum() == 0x8efe);
    BOOST_TEST(v->checksum_ok());
    BOOST_TEST(v->is_echo_request());
    BOOST_TEST(!v->is_error());
    BOOST_TEST(v->identifier() == 0x1234);
    BOOST_TEST(v->sequence() == 0xabcd);
    BOOST_TEST(equal_bytes(v->data(), view(hex("aa0000ff"))));
    BOOST_TEST(v->original_datagram().empty());
    BOOST_TEST(v->embedded_ipv4().error() == (error{layer::icmpv4, errc::bad_value, "type"}));

    auto r = icmpv4_repr::parse(*v);
    BOOST_REQUIRE(r);
    auto* echo = std::get_if<icmpv4_echo_request>(&r->message);
    BOOST_REQUIRE(echo);
    BOOST_TEST(echo->identifier == 0x1234);
    BOOST_TEST(r->buffer_len() == 12u);
    std::vector<std::byte> out(r->buffer_len());
    BOOST_TEST(*r->emit(out) == 12u);
    BOOST_TEST(equal_bytes(out, view(smoltcp_echo)));
}

// RFC 792: "the source and destination addresses are simply reversed, the type code
// changed to 0, and the checksum recomputed"; identifier, sequence and data are echoed.
BOOST_AUTO_TEST_CASE(linux_ping_reply_matches_capture) {
    auto rq = icmpv4_repr::parse(*icmpv4_view::parse(view(linux_request)));
    BOOST_REQUIRE(rq);
    auto* echo = std::get_if<icmpv4_echo_request>(&rq->message);
    BOOST_REQUIRE(echo);
    BOOST_TEST(echo->identifier == 21780);
    BOOST_TEST(echo->sequence == 1);
    BOOST_TEST(echo->data.size() == 56u);
    icmpv4_repr reply{icmpv4_echo_reply::to(*echo)};
    BOOST_TEST(reply.type() == icmpv4_type::echo_reply);
    std::vector<std::byte> out(reply.buffer_len());
    BOOST_TEST(*reply.emit(out) == 64u);
    BOOST_TEST(equal_bytes(out, view(linux_reply)));  // checksum 0x512b as the kernel wrote it
    auto back = icmpv4_repr::parse(*icmpv4_view::parse(view(linux_reply)));
    BOOST_REQUIRE(back);
    BOOST_TEST((*back == reply));
}

// RFC 792 destination unreachable; RFC 792 "Internet Header + 64 bits of Original Data Datagram".
BOOST_AUTO_TEST_CASE(port_unreachable_embedded_header) {
    auto v = icmpv4_view::parse(view(port_unreachable));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->checksum_ok());
    BOOST_TEST(v->is_error());
    BOOST_TEST(v->type() == icmpv4_type::dest_unreachable);
    BOOST_TEST(v->code() == icmpv4_unreachable::port);
    BOOST_TEST(v->next_hop_mtu() == 0);
    BOOST_TEST(v->original_datagram().size() == 28u);
    auto e = v->embedded_ipv4();
    BOOST_REQUIRE(e);
    BOOST_TEST(e->version() == 4);
    BOOST_TEST(e->header_len() == 20u);
    BOOST_TEST(e->total_length() == 60);  // the original was longer than the quote
    BOOST_TEST(e->identification() == 0x1c46);
    BOOST_TEST(e->dont_fragment());
    BOOST_TEST(e->protocol() == ip_protocol::udp);
    BOOST_TEST(e->checksum_ok());
    BOOST_TEST(e->src() == ipv4_address(192, 168, 0, 100));
    BOOST_TEST(e->dst() == ipv4_address(192, 168, 0, 1));
    BOOST_TEST(e->source_port() == 54321);
    BOOST_TEST(e->destination_port() == 53);
    BOOST_TEST(e->transport().size() == 8u);
    BOOST_TEST(e->transport_offset() == 20u);

    auto r = icmpv4_repr::parse(*v);
    BOOST_REQUIRE(r);
    BOOST_REQUIRE(std::holds_alternative<icmpv4_dest_unreachable>(r->message));
    std::vector<std::byte> out(r->buffer_len());
    BOOST_REQUIRE(r->emit(out));
    BOOST_TEST(equal_bytes(out, view(port_unreachable)));
}

// NAT rewrites the quoted addresses and ports in place: the offsets the views publish
// must address exactly those octets of the ICMP message.
BOOST_AUTO_TEST_CASE(embedded_offsets_for_nat) {
    auto msg = port_unreachable;
    auto e = *icmpv4_view::parse(view(msg))->embedded_ipv4();
    const std::size_t base = icmpv4_view::field::data;
    BOOST_TEST(ipv4_address::load(view(msg), base + embedded_ipv4_view::field::src) == e.src());
    BOOST_TEST(load_be16(view(msg), base + embedded_ipv4_view::field::checksum) == e.checksum());
    const std::size_t sport = base + e.transport_offset() + embedded_ipv4_view::transport_field::source_port;
    BOOST_TEST(load_be16(view(msg), sport) == 54321);
    // a NAT maps 192.168.0.100:54321 back to the VM 172.20.0.10:40000
    ipv4_address(172, 20, 0, 10).store(msg, base + embedded_ipv4_view::field::src);
    store_be16(msg, sport, 40000);
    auto e2 = *icmpv4_view::parse(view(msg))->embedded_ipv4();
    BOOST_TEST(e2.src() == ipv4_address(172, 20, 0, 10));
    BOOST_TEST(e2.source_port() == 40000);
    BOOST_TEST(!e2.checksum_ok());  // the quoted checksum is the rewriter's job, never required by the view
}

// RFC 1191 section 4: fragmentation needed carries the next-hop MTU in the low 16 bits.
BOOST_AUTO_TEST_CASE(fragmentation_needed_mtu) {
    // the first 28 octets of a 1500-octet TCP segment with DF, quoted
    auto quoted = hex("4500 05dc 0001 4000 4006 0000 c0a8 0064 c633 640a 9c40 01bb 0000 0001");
    icmpv4_repr r{icmpv4_dest_unreachable{icmpv4_unreachable::fragmentation_needed, 1400, view(quoted)}};
    std::vector<std::byte> out(r.buffer_len());
    BOOST_TEST(*r.emit(out) == 36u);
    BOOST_TEST(load_be32(out, 4) == 1400u);  // unused 16 bits, then the MTU
    auto v = icmpv4_view::parse(out);
    BOOST_REQUIRE(v);
    BOOST_TEST(v->checksum_ok());
    BOOST_TEST(v->code() == icmpv4_unreachable::fragmentation_needed);
    BOOST_TEST(v->next_hop_mtu() == 1400);
    auto e = v->embedded_ipv4();
    BOOST_REQUIRE(e);
    BOOST_TEST(e->total_length() == 1500);
    BOOST_TEST(e->protocol() == ip_protocol::tcp);
    BOOST_TEST(e->destination_port() == 443);
    BOOST_TEST((*icmpv4_repr::parse(*v) == r));
    // for other codes the field is unused: the view reports 0 and emit writes 0
    out[1] = std::byte{icmpv4_unreachable::host};
    BOOST_TEST(icmpv4_view::parse(out)->next_hop_mtu() == 0);
    icmpv4_repr host{icmpv4_dest_unreachable{icmpv4_unreachable::host, 1400, view(quoted)}};
    BOOST_REQUIRE(host.emit(out));
    BOOST_TEST(load_be32(out, 4) == 0u);
}

// RFC 792 time exceeded; the quote of an ICMP echo exposes its identifier for NAT.
BOOST_AUTO_TEST_CASE(time_exceeded_quotes_echo) {
    auto v = icmpv4_view::parse(view(ttl_exceeded));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->checksum_ok());
    BOOST_TEST(v->type() == icmpv4_type::time_exceeded);
    BOOST_TEST(v->code() == icmpv4_time_exceeded_code::ttl_exceeded);
    auto e = v->embedded_ipv4();
    BOOST_REQUIRE(e);
    BOOST_TEST(e->total_length() == 84);  // the quote holds 28 of them: not required to fit
    BOOST_TEST(e->protocol() == ip_protocol::icmp);
    BOOST_TEST(e->icmp_identifier() == 0x5514);
    BOOST_TEST(load_u8(e->transport(), embedded_ipv4_view::transport_field::icmp_type) == icmpv4_type::echo_request);
    auto r = icmpv4_repr::parse(*v);
    BOOST_REQUIRE(r);
    auto* te = std::get_if<icmpv4_time_exceeded>(&r->message);
    BOOST_REQUIRE(te);
    BOOST_TEST(te->original_datagram.size() == 28u);
    std::vector<std::byte> out(r->buffer_len());
    BOOST_REQUIRE(r->emit(out));
    BOOST_TEST(equal_bytes(out, view(ttl_exceeded)));
}

// RFC 792 redirect (gateway address) and parameter problem (pointer in the first octet).
BOOST_AUTO_TEST_CASE(redirect_and_parameter_problem) {
    auto quoted = view(ttl_exceeded).subspan(8);
    icmpv4_repr redirect{icmpv4_redirect{icmpv4_redirect_code::host, ipv4_address(192, 168, 0, 254), quoted}};
    std::vector<std::byte> out(redirect.buffer_len());
    BOOST_REQUIRE(redirect.emit(out));
    auto v = *icmpv4_view::parse(out);
    BOOST_TEST(v.checksum_ok());
    BOOST_TEST(v.type() == icmpv4_type::redirect);
    BOOST_TEST(v.code() == icmpv4_redirect_code::host);
    BOOST_TEST(v.gateway() == ipv4_address(192, 168, 0, 254));
    BOOST_TEST(v.embedded_ipv4()->src() == ipv4_address(127, 0, 0, 1));
    BOOST_TEST((*icmpv4_repr::parse(v) == redirect));

    icmpv4_repr problem{icmpv4_parameter_problem{icmpv4_parameter_problem_code::pointer, 8, quoted}};
    BOOST_REQUIRE(problem.emit(out));
    v = *icmpv4_view::parse(out);
    BOOST_TEST(v.type() == icmpv4_type::parameter_problem);
    BOOST_TEST(v.pointer() == 8);  // octet 8 of the original: its TTL
    BOOST_TEST(load_be32(out, 4) == 0x08000000u);
    BOOST_TEST((*icmpv4_repr::parse(v) == problem));
    BOOST_TEST(problem.is_error());
}

BOOST_AUTO_TEST_CASE(other_types_kept_raw) {
    // RFC 792 timestamp request: identifier, sequence, three 32-bit timestamps
    const auto stamps = hex("0000 1000 0000 0000 0000 0000");
    icmpv4_repr ts{icmpv4_other{icmpv4_type::timestamp, 0, 0x00070001, view(stamps)}};
    std::vector<std::byte> out(ts.buffer_len());
    BOOST_TEST(*ts.emit(out) == 20u);
    auto v = *icmpv4_view::parse(out);
    BOOST_TEST(v.identifier() == 7);
    BOOST_TEST(v.sequence() == 1);
    auto back = icmpv4_repr::parse(v);
    BOOST_REQUIRE(back);
    BOOST_TEST((*back == ts));
    // an echo request with a non-zero code is not silently normalised
    auto odd = smoltcp_echo;
    odd[1] = std::byte{1};
    odd[3] = std::byte{0xfd};  // checksum 0x8efe -> 0x8efd for the code change
    auto r = icmpv4_repr::parse(*icmpv4_view::parse(view(odd)));
    BOOST_REQUIRE(r);
    BOOST_TEST(std::holds_alternative<icmpv4_other>(r->message));
    BOOST_TEST(r->code() == 1);
}

BOOST_AUTO_TEST_CASE(truncated_at_every_byte) {
    test::for_each_truncation(view(smoltcp_echo).first(8), [](bytes_view b) {
        BOOST_TEST(icmpv4_view::parse(b).error() == (error{layer::icmpv4, errc::truncated, "header"}));
    });
    // the header alone is a valid echo with no data
    auto hdr = icmpv4_view::parse(view(smoltcp_echo).first(8));
    BOOST_REQUIRE(hdr);
    BOOST_TEST(hdr->data().empty());
    // a quote cut before ihl*4 + 8 octets has no embedded view (the message itself parses)
    test::for_each_truncation(view(port_unreachable), [](bytes_view b) {
        auto v = icmpv4_view::parse(b);
        if (b.size() < 8) {
            BOOST_TEST(!v);
            return;
        }
        BOOST_REQUIRE(v);
        auto e = v->embedded_ipv4();
        BOOST_REQUIRE(!e);
        BOOST_TEST(e.error() == (error{layer::icmpv4, errc::truncated, "original_datagram"}));
    });
}

BOOST_AUTO_TEST_CASE(embedded_header_errors) {
    auto bad_version = port_unreachable;
    bad_version[8] = std::byte{0x65};
    BOOST_TEST(icmpv4_view::parse(view(bad_version))->embedded_ipv4().error() ==
               (error{layer::icmpv4, errc::bad_version, "version"}));
    auto bad_ihl = port_unreachable;
    bad_ihl[8] = std::byte{0x44};
    BOOST_TEST(icmpv4_view::parse(view(bad_ihl))->embedded_ipv4().error() == (error{layer::icmpv4, errc::bad_length, "ihl"}));
    // IHL 6: 24 header octets + 8 needed, 28 quoted
    auto long_ihl = port_unreachable;
    long_ihl[8] = std::byte{0x46};
    BOOST_TEST(icmpv4_view::parse(view(long_ihl))->embedded_ipv4().error() ==
               (error{layer::icmpv4, errc::truncated, "original_datagram"}));
    // quoted options are not validated by the lenient view, but walking them reports errors
    auto with_opt = hex(
        "0300 0000 0000 0000 4600 0020 0000 0000 4011 0000 0a00 0001 0a00 0002 9403 0000"
        "1111 2222 0008 0000");
    auto e = icmpv4_view::parse(view(with_opt))->embedded_ipv4();
    BOOST_REQUIRE(e);
    BOOST_TEST(e->transport_offset() == 24u);
    BOOST_TEST(e->source_port() == 0x1111);
    auto it = e->options().begin();
    BOOST_TEST(!*it);
    BOOST_TEST(it->error() == (error{layer::ipv4, errc::bad_option, "options"}));
}

BOOST_AUTO_TEST_CASE(bad_checksum) {
    auto b = linux_request;
    BOOST_REQUIRE(!b.empty());
    b[b.size() - 1] = std::byte{0x38};
    auto v = icmpv4_view::parse(view(b));
    BOOST_REQUIRE(v);
    BOOST_TEST(!v->checksum_ok());
    BOOST_TEST(icmpv4_repr::parse(*v).error() == (error{layer::icmpv4, errc::bad_checksum, "checksum"}));
}

BOOST_AUTO_TEST_CASE(emit_buffer_too_small) {
    auto r = *icmpv4_repr::parse(*icmpv4_view::parse(view(smoltcp_echo)));
    std::vector<std::byte> small(11);
    BOOST_TEST(r.emit(small).error() == (error{layer::icmpv4, errc::buffer_too_small, "message"}));
}

// RFC 1812 section 4.3.2.3: quote as much as keeps the error within 576 octets.
BOOST_AUTO_TEST_CASE(quote_length) {
    std::vector<std::byte> big(1500);
    BOOST_TEST(icmpv4_quote(big).size() == 548u);
    BOOST_TEST(icmpv4_quote(view(port_unreachable)).size() == port_unreachable.size());
}

BOOST_AUTO_TEST_SUITE_END()
