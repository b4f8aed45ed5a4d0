// DNS messages (include/vnet/wire/dns.hpp): RFC 1035 3.1, 4.1, 4.1.4, 4.2.2; RFC 2181 9;
// RFC 2782; RFC 4035 3.2; RFC 6891 6.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <fmt/format.h>

#include <vnet/wire/dns.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::hex;
using vnet::test::view;

namespace {

dns_name name_of(std::string_view s) { return dns_name::parse(s).value(); }

std::vector<std::byte> emit_vec(const dns_message_repr& m, dns_compression c = dns_compression::on) {
    std::vector<std::byte> out(m.buffer_len());
    auto n = m.emit(out, c);
    BOOST_REQUIRE(n);
    out.resize(*n);
    return out;
}

error dns_error(errc e, std::string_view f) { return error{layer::dns, e, f}; }

// A dig 9.18.49 query "dig @127.0.0.1 -p 53535 example.com A", captured from the UDP
// socket on this machine: ID 0x2918, flags 0x0120 (RD, AD), QDCOUNT 1, ARCOUNT 1;
// question example.com A IN; OPT (UDP payload 1232, DO 0) with a COOKIE option (code 10)
// holding an 8-byte client cookie.
const auto dig_query = hex(
    "2918 0120 0001 0000 0000 0001"
    "07 6578616d706c65 03 636f6d 00 0001 0001"
    "00 0029 04d0 00000000 000c 000a 0008 90388ca82f19430a");

// The same dig query with +noedns (ID 0x95c0): header and question only, 29 bytes.
const auto dig_query_noedns = hex(
    "95c0 0120 0001 0000 0000 0000"
    "07 6578616d706c65 03 636f6d 00 0001 0001");

// A response to dig_query in the layout recursive servers send it (RFC 1035 4.1):
//   0  2918             ID
//   2  81a0             QR RD RA AD, NOERROR
//   4  0001 0001 0000 0001
//  12  07'example'03'com'00 0001 0001         question (example.com is at offset 12)
//  29  c00c 0001 0001 00000e10 0004 5db8d70e  answer: pointer to 12, A, IN, TTL 3600, 93.184.215.14
//  45  00 0029 04d0 00000000 0000             OPT, UDP payload 1232, no options
const auto a_response = hex(
    "2918 81a0 0001 0001 0000 0001"
    "07 6578616d706c65 03 636f6d 00 0001 0001"
    "c00c 0001 0001 00000e10 0004 5db8d70e"
    "00 0029 04d0 00000000 0000");

// www.example.com A with a CNAME chain, compressed in owner names and in rdata:
//  12  03'www'07'example'03'com'00 0001 0001  question (example.com suffix at 16)
//  33  c00c 0005 0001 0000012c 0002 c010      www.example.com CNAME -> pointer to 16
//  47  c010 0001 0001 0000012c 0004 c0000201  example.com A 192.0.2.1 (RFC 5737 address)
const auto cname_response = hex(
    "beef 8180 0001 0002 0000 0000"
    "03 777777 07 6578616d706c65 03 636f6d 00 0001 0001"
    "c00c 0005 0001 0000012c 0002 c010"
    "c010 0001 0001 0000012c 0004 c0000201");

}  // namespace

BOOST_AUTO_TEST_SUITE(dns)

// ---- header (RFC 1035 4.1.1, RFC 4035 3.2) ----

BOOST_AUTO_TEST_CASE(dig_query_header_and_question) {
    auto v = dns_view::parse(view(dig_query));
    BOOST_REQUIRE(v);
    auto h = v->header();
    BOOST_TEST(h.id == 0x2918);
    BOOST_TEST(!h.qr);
    BOOST_TEST(h.opcode == dns_opcode::query);
    BOOST_TEST(h.rd);
    BOOST_TEST(h.ad);
    BOOST_TEST(!h.cd);
    BOOST_TEST(!h.ra);
    BOOST_TEST(!h.tc);
    BOOST_TEST(h.rcode == dns_rcode::noerror);
    BOOST_TEST(h.flags() == 0x0120);
    BOOST_TEST(v->qdcount() == 1);
    BOOST_TEST(v->arcount() == 1);
    BOOST_TEST(v->size() == dig_query.size());
    BOOST_TEST(v->trailing().empty());
    std::size_t n = 0;
    for (const auto& q : v->questions()) {
        BOOST_REQUIRE(q);
        BOOST_TEST(q->name == name_of("example.com"));
        BOOST_TEST(fmt::format("{}", q->name) == "example.com");
        BOOST_TEST(q->type == dns_type::a);
        BOOST_TEST(q->qclass == dns_class::in);
        ++n;
    }
    BOOST_TEST(n == 1u);
    BOOST_TEST(v->first_question()->name.to_string() == "example.com");
}

BOOST_AUTO_TEST_CASE(header_flag_bits) {
    // RFC 1035 4.1.1 bit layout: QR|Opcode(4)|AA|TC|RD|RA|Z|AD|CD|RCODE(4)
    auto h = dns_header::from_flags(7, 0xffff);
    BOOST_TEST(h.qr);
    BOOST_TEST(h.opcode == 15);
    BOOST_TEST((h.aa && h.tc && h.rd && h.ra && h.z && h.ad && h.cd));
    BOOST_TEST(h.rcode == 15);
    BOOST_TEST(h.flags() == 0xffff);
    for (std::uint16_t bit = 1; bit != 0; bit = static_cast<std::uint16_t>(bit << 1))
        BOOST_TEST(dns_header::from_flags(0, bit).flags() == bit);
    BOOST_TEST(dns_header::parse(view(dig_query).first(11)).error() == dns_error(errc::truncated, "header"));
    BOOST_TEST(dns_header::parse(view(dig_query))->id == 0x2918);
}

// ---- OPT (RFC 6891 6.1.2, 6.1.3, 6.2.3) ----

BOOST_AUTO_TEST_CASE(dig_query_opt_record) {
    auto v = *dns_view::parse(view(dig_query));
    BOOST_REQUIRE(v.edns());
    const dns_opt& o = *v.edns();
    BOOST_TEST(o.udp_payload_size == 1232);
    BOOST_TEST(o.effective_udp_payload_size() == 1232u);
    BOOST_TEST(o.version == 0);
    BOOST_TEST(!o.dnssec_ok);
    BOOST_TEST(o.extended_rcode == 0);
    std::size_t n = 0;
    for (const auto& opt : o) {
        BOOST_REQUIRE(opt);
        BOOST_TEST(opt->code == dns_edns_code::cookie);
        BOOST_TEST(equal_bytes(opt->data, view(hex("90388ca82f19430a"))));
        ++n;
    }
    BOOST_TEST(n == 1u);
    for (const auto& rr : v.additional()) {
        BOOST_REQUIRE(rr);
        BOOST_TEST(rr->type == dns_type::opt);
        BOOST_TEST(rr->name.is_root());
    }
}

BOOST_AUTO_TEST_CASE(opt_flags_and_extended_rcode) {
    // RFC 6891 6.1.3: TTL = EXTENDED-RCODE(8) VERSION(8) DO(1) Z(15); BADVERS is 16.
    auto b = hex("0001 8000 0000 0000 0000 0001  00 0029 0100 01008000 0000");
    auto v = dns_view::parse(view(b));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->edns()->dnssec_ok);
    BOOST_TEST(v->edns()->extended_rcode == 1);
    BOOST_TEST(v->edns()->version == 0);
    BOOST_TEST(v->full_rcode() == 16);
    // RFC 6891 6.2.3: a payload size below 512 is treated as 512.
    BOOST_TEST(v->edns()->effective_udp_payload_size() == 512u);
    BOOST_TEST(v->edns()->udp_payload_size == 256);
}

BOOST_AUTO_TEST_CASE(opt_errors) {
    // option header cut short / option data past the rdata
    auto short_option = hex("0001 0000 0000 0000 0000 0001  00 0029 04d0 00000000 0003 000a00");
    BOOST_TEST(dns_view::parse(view(short_option)).error() == dns_error(errc::bad_option, "opt"));
    auto long_option = hex("0001 0000 0000 0000 0000 0001  00 0029 04d0 00000000 0005 000a 0002 00");
    BOOST_TEST(dns_view::parse(view(long_option)).error() == dns_error(errc::bad_option, "opt"));
    // RFC 6891 6.1.2: the owner is the root
    auto not_root = hex("0001 0000 0000 0000 0000 0001  01 61 00 0029 04d0 00000000 0000");
    BOOST_TEST(dns_view::parse(view(not_root)).error() == dns_error(errc::bad_value, "opt"));
    // RFC 6891 6.1.1: at most one OPT, only in the additional section
    auto two = hex("0001 0000 0000 0000 0000 0002  00 0029 04d0 00000000 0000 00 0029 04d0 00000000 0000");
    BOOST_TEST(dns_view::parse(view(two)).error() == dns_error(errc::bad_value, "opt"));
    auto in_answer = hex("0001 0000 0000 0001 0000 0000  00 0029 04d0 00000000 0000");
    BOOST_TEST(dns_view::parse(view(in_answer)).error() == dns_error(errc::bad_value, "opt"));
}

// ---- answers and compression on parse (RFC 1035 4.1.3, 4.1.4) ----

BOOST_AUTO_TEST_CASE(response_with_compressed_answer) {
    auto v = dns_view::parse(view(a_response));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->is_response());
    BOOST_TEST(v->header().ra);
    BOOST_TEST(v->ancount() == 1);
    std::size_t n = 0;
    for (const auto& rr : v->answers()) {
        BOOST_REQUIRE(rr);
        BOOST_TEST(fmt::format("{}", rr->name) == "example.com");
        BOOST_TEST(rr->type == dns_type::a);
        BOOST_TEST(rr->rclass == dns_class::in);
        BOOST_TEST(rr->ttl == 3600u);
        BOOST_TEST(rr->offset == 29u);
        BOOST_TEST(rr->rdata_offset == 41u);
        BOOST_TEST((rr->section == dns_section::answer));
        auto a = dns_a::parse(*rr);
        BOOST_REQUIRE(a);
        BOOST_TEST(a->address == ipv4_address(93, 184, 215, 14));
        ++n;
    }
    BOOST_TEST(n == 1u);
    BOOST_TEST(v->edns()->udp_payload_size == 1232);
}

BOOST_AUTO_TEST_CASE(cname_chain_compressed_in_rdata) {
    auto v = dns_view::parse(view(cname_response));
    BOOST_REQUIRE(v);
    auto it = v->answers().begin();
    BOOST_REQUIRE(*it);
    BOOST_TEST((*it)->name.to_string() == "www.example.com");
    auto cname = dns_cname::parse(**it);
    BOOST_REQUIRE(cname);
    BOOST_TEST(cname->target.to_string() == "example.com");
    ++it;
    BOOST_REQUIRE(*it);
    BOOST_TEST((*it)->name.to_string() == "example.com");
    BOOST_TEST(dns_a::parse(**it)->address == ipv4_address(192, 0, 2, 1));
    ++it;
    BOOST_TEST((it == std::default_sentinel));
}

// parse -> repr -> emit gives the original bytes: dig's query (no names to compress) and
// the responses (our compressor picks the same targets as the sender).
BOOST_AUTO_TEST_CASE(round_trips_are_byte_identical) {
    for (const auto* msg : {&dig_query, &dig_query_noedns, &a_response, &cname_response}) {
        auto v = dns_view::parse(view(*msg));
        BOOST_REQUIRE(v);
        auto r = dns_message_repr::parse(*v);
        BOOST_REQUIRE(r);
        auto out = emit_vec(*r);
        BOOST_TEST(equal_bytes(view(out), view(*msg)));
    }
}

// ---- names in text form (RFC 1035 2.3.4, 3.1, 5.1) ----

BOOST_AUTO_TEST_CASE(name_text_form) {
    auto n = name_of("iothub.example");
    BOOST_TEST(n.label_count() == 2u);
    BOOST_TEST(n.wire_len() == 16u);
    BOOST_TEST(equal_bytes(n.wire(), view(hex("06 696f74687562 07 6578616d706c65 00"))));
    BOOST_TEST(fmt::format("{}", n) == "iothub.example");
    BOOST_TEST(name_of("iothub.example.") == n);  // the final dot is optional
    BOOST_TEST(name_of(".").is_root());
    BOOST_TEST(fmt::format("{}", dns_name::root()) == ".");
    BOOST_TEST(dns_name::root().wire_len() == 1u);
    BOOST_TEST(equal_bytes(n.label(1), as_bytes_view(std::string_view("example"))));
}

BOOST_AUTO_TEST_CASE(name_comparison_is_case_insensitive) {
    // RFC 1035 2.3.3 / RFC 4343: ASCII case does not matter, but it is preserved
    auto upper = name_of("IoTHub.EXAMPLE");
    BOOST_TEST(upper == name_of("iothub.example"));
    BOOST_TEST(upper.to_string() == "IoTHub.EXAMPLE");
    BOOST_TEST(!(name_of("iothub.example") == name_of("iothub.example.com")));
    BOOST_TEST(name_of("a.iothub.EXAMPLE").is_subdomain_of(name_of("iothub.example")));
    BOOST_TEST(name_of("iothub.example").is_subdomain_of(name_of("iothub.example")));
    BOOST_TEST(name_of("iothub.example").is_subdomain_of(dns_name::root()));
    BOOST_TEST(!name_of("xiothub.example").is_subdomain_of(name_of("iothub.example")));
    BOOST_TEST(!name_of("example").is_subdomain_of(name_of("iothub.example")));
}

BOOST_AUTO_TEST_CASE(name_escapes_like_dig) {
    // "\." is a dot inside a label, "\DDD" a byte; printing escapes them again
    auto n = name_of("a\\.b.example");
    BOOST_TEST(n.label_count() == 2u);
    BOOST_TEST(n.label(0).size() == 3u);
    BOOST_TEST(n.to_string() == "a\\.b.example");
    auto sp = name_of("with\\032space.\\000.example");
    BOOST_TEST(sp.label_count() == 3u);
    BOOST_TEST(u8(sp.label(0)[4]) == 0x20);
    BOOST_TEST(u8(sp.label(1)[0]) == 0);
    BOOST_TEST(sp.to_string() == "with\\032space.\\000.example");
    BOOST_TEST(name_of("back\\\\slash").to_string() == "back\\\\slash");
    BOOST_TEST(name_of("\\255\\127").to_string() == "\\255\\127");
    BOOST_TEST(name_of("semi\\;colon").to_string() == "semi\\;colon");
    BOOST_TEST(name_of("\\a\\b") == name_of("ab"));  // "\c" stands for c
    for (std::string_view bad : {"", "..", "a..b", ".a", "a\\", "a\\25", "a\\2x5", "\\256"}) {
        auto r = dns_name::parse(bad);
        BOOST_TEST(!r, bad);
        if (!r) BOOST_TEST(r.error().what == errc::syntax);
    }
}

BOOST_AUTO_TEST_CASE(label_64_is_too_long) {
    // RFC 1035 2.3.4: labels are 63 octets or less
    std::string l63(63, 'a');
    BOOST_TEST(dns_name::parse(l63 + ".example").has_value());
    BOOST_TEST(dns_name::parse(l63 + "a.example").error() == dns_error(errc::too_long, "label"));
    dns_name n;
    std::vector<std::byte> l64(64, std::byte{'a'});
    BOOST_TEST(n.append_label(view(l64)).error() == dns_error(errc::too_long, "label"));
    BOOST_TEST(n.append_label(view(l64).first(0)).error() == dns_error(errc::bad_value, "label"));
    BOOST_TEST(n.is_root());
    // RFC 1035 4.1.4: on the wire a length byte 0x40 (label type 01) or 0x80 (10) is reserved
    auto wire40 = hex("0001 0000 0001 0000 0000 0000  40" + std::string(128, 'a') + "00 0001 0001");
    BOOST_TEST(dns_view::parse(view(wire40)).error() == dns_error(errc::bad_value, "label"));
    auto wire80 = hex("0001 0000 0001 0000 0000 0000  80 00 0001 0001");
    BOOST_TEST(dns_view::parse(view(wire80)).error() == dns_error(errc::bad_value, "label"));
}

BOOST_AUTO_TEST_CASE(name_256_is_too_long) {
    // RFC 1035 3.1: 255 octets or less on the wire (so 253 text characters)
    std::string l63(63, 'a');
    std::string max = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');  // 3*64 + 62 + 1 = 255
    auto n = dns_name::parse(max);
    BOOST_REQUIRE(n);
    BOOST_TEST(n->wire_len() == 255u);
    BOOST_TEST(n->to_string().size() == dns_name::max_text_len);
    BOOST_TEST(dns_name::parse(max + "b").error() == dns_error(errc::too_long, "name"));
    BOOST_TEST(dns_name::parse(max + ".c").error() == dns_error(errc::too_long, "name"));
    // the same on the wire: four labels of 63 (3*64 + 64 + 1 = 257 > 255)
    std::string label = "3f" + std::string(126, '6') + " ";
    auto wire = hex("0001 0000 0001 0000 0000 0000" + label + label + label + label + "00 0001 0001");
    BOOST_TEST(dns_view::parse(view(wire)).error() == dns_error(errc::too_long, "name"));
    // and one built from compressed pieces: 255 bytes allowed through pointers too
    auto ok = hex(
        "0001 0000 0002 0000 0000 0000"
        "3f" +
        std::string(126, '6') + "3f" + std::string(126, '6') + "3f" + std::string(126, '6') +
        "00 0001 0001"  // question 1 at 12: 193 bytes
        "3d" +
        std::string(122, '6') + "c00c 0001 0001");  // 62 bytes + pointer: 255
    auto v = dns_view::parse(view(ok));
    BOOST_REQUIRE(v);
    auto it = v->questions().begin();
    ++it;
    BOOST_TEST((*it)->name.wire_len() == 255u);
    auto over = hex(
        "0001 0000 0002 0000 0000 0000"
        "3f" +
        std::string(126, '6') + "3f" + std::string(126, '6') + "3f" + std::string(126, '6') +
        "00 0001 0001"
        "3e" +
        std::string(124, '6') + "c00c 0001 0001");  // 63 bytes + 193: 256
    BOOST_TEST(dns_view::parse(view(over)).error() == dns_error(errc::too_long, "name"));
}

// ---- compression pointers (RFC 1035 4.1.4) ----

BOOST_AUTO_TEST_CASE(self_pointer) {
    // the question name at 12 is a pointer to 12
    auto b = hex("0001 0000 0001 0000 0000 0000  c00c 0001 0001");
    BOOST_TEST(dns_view::parse(view(b)).error() == dns_error(errc::bad_pointer, "pointer"));
}

BOOST_AUTO_TEST_CASE(forward_pointer) {
    // the question name points to offset 18, after itself
    auto b = hex("0001 0000 0001 0000 0000 0000  c012 0001 0001  01 61 00");
    BOOST_TEST(dns_view::parse(view(b)).error() == dns_error(errc::bad_pointer, "pointer"));
    // pointing back into the name being read (its own first label) is not allowed either
    auto into = hex("0001 0000 0001 0000 0000 0000  01 61 c00c 0001 0001");
    BOOST_TEST(dns_view::parse(view(into)).error() == dns_error(errc::bad_pointer, "pointer"));
}

BOOST_AUTO_TEST_CASE(pointer_out_of_the_message) {
    auto b = hex("0001 0000 0001 0000 0000 0000  ffff 0001 0001");
    BOOST_TEST(dns_view::parse(view(b)).error() == dns_error(errc::bad_pointer, "pointer"));
    // a pointer cut after its first byte
    auto cut = hex("0001 0000 0001 0000 0000 0000  c0");
    BOOST_TEST(dns_view::parse(view(cut)).error() == dns_error(errc::truncated, "name"));
}

BOOST_AUTO_TEST_CASE(pointer_loop) {
    // question 1 at 12: "a" then a pointer to 12 -- reading it is a pointer into itself;
    // question 2 at 20 points to 12, whose pointer leads back to 12: a loop.
    auto b = hex("0001 0000 0001 0000 0000 0000  01 61 c00c 0001 0001");
    BOOST_TEST(dns_view::parse(view(b)).error() == dns_error(errc::bad_pointer, "pointer"));
    std::size_t off = 12;
    auto q = dns_question::read(view(b), off, dns_section::question);
    BOOST_TEST(!q);
    auto msg = hex("0001 0000 0002 0000 0000 0000  01 61 c00c 0001 0001  c00c 0001 0001");
    auto r = read_dns_name(view(msg), 20);
    BOOST_TEST(r.error() == dns_error(errc::loop, "pointer"));
    // the loop is found at the first revisit, before the growing name would be too long
    auto long_label = hex("0001 0000 0000 0000 0000 0000  3f" + std::string(126, '6') + "c00c  c00c");
    BOOST_TEST(read_dns_name(view(long_label), 12 + 64 + 2).error() == dns_error(errc::loop, "pointer"));
    // two names pointing into each other: 12 "a" -> 16, 16 "b" -> 12, read from 20. The
    // pointer at 14 goes forward, so mutual recursion cannot pass the backward rule.
    auto mutual = hex("0001 0000 0000 0000 0000 0000  01 61 c010  01 62 c00c  c00c");
    BOOST_TEST(read_dns_name(view(mutual), 20).error() == dns_error(errc::bad_pointer, "pointer"));
}

BOOST_AUTO_TEST_CASE(pointer_hops_are_bounded) {
    // A chain of pointers, each pointing to the one before, ending at the root at 12.
    auto chain = [](std::size_t hops) {
        std::vector<std::byte> b = hex("0001 0000 0000 0000 0000 0000 00");
        for (std::size_t k = 0; k < hops; ++k) {
            std::size_t target = k == 0 ? 12 : b.size() - 2;
            b.push_back(std::byte(0xC0 | (target >> 8)));
            b.push_back(std::byte(target & 0xff));
        }
        return b;
    };
    auto ok = chain(dns_max_pointer_hops);
    auto r = read_dns_name(view(ok), ok.size() - 2);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->name.is_root());
    BOOST_TEST(r->end == ok.size());
    auto too_many = chain(dns_max_pointer_hops + 1);
    BOOST_TEST(read_dns_name(view(too_many), too_many.size() - 2).error() == dns_error(errc::loop, "pointer"));
}

// ---- counts and lengths (RFC 1035 4.1) ----

BOOST_AUTO_TEST_CASE(count_mismatches_name_the_section) {
    auto q2 = hex("0001 0000 0002 0000 0000 0000  00 0001 0001");
    BOOST_TEST(dns_view::parse(view(q2)).error() == dns_error(errc::truncated, "question"));
    auto an = hex("0001 8000 0001 0001 0000 0000  00 0001 0001");
    BOOST_TEST(dns_view::parse(view(an)).error() == dns_error(errc::truncated, "answer"));
    auto ns = hex("0001 8000 0000 0000 0001 0000");
    BOOST_TEST(dns_view::parse(view(ns)).error() == dns_error(errc::truncated, "authority"));
    auto ar = hex("0001 8000 0000 0001 0000 0001  00 0001 0001 00000000 0004 01020304");
    BOOST_TEST(dns_view::parse(view(ar)).error() == dns_error(errc::truncated, "additional"));
    // fixed fields of a record cut short
    auto fixed = hex("0001 8000 0000 0001 0000 0000  00 0001 0001 0000");
    BOOST_TEST(dns_view::parse(view(fixed)).error() == dns_error(errc::truncated, "answer"));
    // RDLENGTH past the end of the message
    auto rdlen = hex("0001 8000 0000 0001 0000 0000  00 0001 0001 00000000 0005 01020304");
    BOOST_TEST(dns_view::parse(view(rdlen)).error() == dns_error(errc::bad_length, "rdlength"));
    // more records than counted are trailing bytes, not records
    auto extra = hex("0001 8000 0000 0000 0000 0000  00 0001 0001 00000000 0004 01020304");
    auto v = dns_view::parse(view(extra));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->size() == 12u);
    BOOST_TEST(v->trailing().size() == 15u);
}

BOOST_AUTO_TEST_CASE(iteration_stops_at_the_first_error) {
    // a range over a section that claims three records where one is present
    auto b = hex("0001 8000 0000 0003 0000 0000  00 0001 0001 00000000 0004 01020304");
    dns_section_range<dns_record> answers(view(b), 12, 3, dns_section::answer);
    std::vector<bool> seen;
    for (const auto& rr : answers) seen.push_back(rr.has_value());
    BOOST_TEST(seen.size() == 2u);
    BOOST_TEST(seen[0]);
    BOOST_TEST(!seen[1]);
    auto it = answers.begin();
    ++it;
    BOOST_TEST((*it).error() == dns_error(errc::truncated, "answer"));
}

BOOST_AUTO_TEST_CASE(truncated_at_every_byte) {
    for (const auto* msg : {&dig_query, &dig_query_noedns, &a_response, &cname_response}) {
        test::for_each_truncation(view(*msg), [](bytes_view b) {
            auto v = dns_view::parse(b);
            BOOST_TEST(!v);
            if (!v) BOOST_TEST(v.error().where == layer::dns);
            if (!v && b.size() < 12) BOOST_TEST(v.error() == dns_error(errc::truncated, "header"));
        });
    }
}

// ---- typed rdata (RFC 1035 3.3, 3.4; RFC 3596 2.2; RFC 2782) ----

BOOST_AUTO_TEST_CASE(every_rdata_type_round_trip) {
    auto zone = name_of("iothub.example");
    dns_message_repr m = make_response(make_query(0x4242, zone, dns_type::any));
    m.header.aa = true;
    m.answers.push_back(dns_record_repr::make(zone, 300, dns_a{ipv4_address(198, 51, 100, 10)}));
    m.answers.push_back(dns_record_repr::make(zone, 300, dns_aaaa{ipv6_address::parse("2001:db8::10").value()}));
    m.answers.push_back(dns_record_repr::make(zone, 300, dns_ns{name_of("ns1.iothub.example")}));
    m.answers.push_back(dns_record_repr::make(name_of("www.iothub.example"), 300, dns_cname{zone}));
    m.answers.push_back(dns_record_repr::make(name_of("10.100.51.198.in-addr.arpa"), 300, dns_ptr{zone}));
    m.answers.push_back(dns_record_repr::make(zone, 300, dns_mx{10, name_of("mail.iothub.example")}));
    m.answers.push_back(dns_record_repr::make(zone, 300, dns_txt{{"v=spf1 -all", "", std::string(255, 'x')}}));
    m.answers.push_back(
        dns_record_repr::make(name_of("_mqtt._tcp.iothub.example"), 300, dns_srv{0, 5, 8883, name_of("broker.iothub.example")}));
    m.authority.push_back(dns_record_repr::make(
        zone, 3600,
        dns_soa{name_of("ns1.iothub.example"), name_of("hostmaster.iothub.example"), 2026112101, 7200, 900, 1209600, 300}));
    m.additional.push_back(dns_record_repr{zone, 99, dns_class::in, 60, dns_raw_rdata{hex("00 01 02 c0 0c")}});
    m.additional.push_back(dns_record_repr::make_opt(1232, true, 0, 0, hex("000a 0008 0102030405060708")));

    for (auto c : {dns_compression::on, dns_compression::off}) {
        auto bytes = emit_vec(m, c);
        auto v = dns_view::parse(view(bytes));
        BOOST_REQUIRE(v);
        auto back = dns_message_repr::parse(*v);
        BOOST_REQUIRE(back);
        BOOST_TEST((*back == m));
        BOOST_TEST(equal_bytes(view(emit_vec(*back, c)), view(bytes)));
        // the typed decoders over the view agree with what was built
        auto it = v->answers().begin();
        BOOST_TEST(dns_a::parse(**it)->address == ipv4_address(198, 51, 100, 10));
        ++it;
        BOOST_TEST(fmt::format("{}", dns_aaaa::parse(**it)->address) == "2001:db8::10");
        ++it;
        BOOST_TEST(dns_ns::parse(**it)->target.to_string() == "ns1.iothub.example");
        ++it;
        BOOST_TEST(dns_cname::parse(**it)->target == zone);
        ++it;
        BOOST_TEST((*it)->name.to_string() == "10.100.51.198.in-addr.arpa");
        BOOST_TEST(dns_ptr::parse(**it)->target == zone);
        ++it;
        auto mx = dns_mx::parse(**it);
        BOOST_TEST(mx->preference == 10);
        BOOST_TEST(mx->exchange.to_string() == "mail.iothub.example");
        ++it;
        auto txt = dns_txt_view::parse(**it);
        BOOST_REQUIRE(txt);
        std::vector<std::size_t> sizes;
        for (const auto& s : *txt) sizes.push_back(s->size());
        BOOST_TEST((sizes == std::vector<std::size_t>{11, 0, 255}));
        ++it;
        auto srv = dns_srv::parse(**it);
        BOOST_TEST(srv->weight == 5);
        BOOST_TEST(srv->port == 8883);
        BOOST_TEST(srv->target.to_string() == "broker.iothub.example");
        ++it;
        BOOST_TEST((it == std::default_sentinel));
        auto soa = dns_soa::parse(**v->authority().begin());
        BOOST_REQUIRE(soa);
        BOOST_TEST(soa->rname.to_string() == "hostmaster.iothub.example");
        BOOST_TEST(soa->serial == 2026112101u);
        BOOST_TEST(soa->minimum == 300u);
        BOOST_TEST(v->edns()->dnssec_ok);
        BOOST_TEST(v->edns()->udp_payload_size == 1232);
    }
}

BOOST_AUTO_TEST_CASE(rdata_too_short_names_the_type) {
    // one answer of the given type and rdata, owner the root
    auto with_rdata = [](std::string_view type, std::string_view rdata) {
        auto rd = hex(rdata);
        auto b = hex(fmt::format("0001 8000 0000 0001 0000 0000  00 {} 0001 00000000 {:04x}", type, rd.size()));
        b.insert(b.end(), rd.begin(), rd.end());
        return b;
    };
    auto check = [&](std::string_view type, std::string_view rdata, error want) {
        auto b = with_rdata(type, rdata);
        auto v = dns_view::parse(view(b));
        BOOST_REQUIRE(v);  // structure is fine; the typed decoder rejects the rdata
        auto r = dns_message_repr::parse(*v);
        BOOST_TEST(!r, type << " " << rdata);
        if (!r) BOOST_TEST(r.error() == want);
    };
    check("0001", "010203", dns_error(errc::bad_length, "a"));
    check("0001", "0102030405", dns_error(errc::bad_length, "a"));
    check("001c", "20010db8000000000000000000000010ff", dns_error(errc::bad_length, "aaaa"));
    check("0002", "", dns_error(errc::bad_length, "ns"));
    check("0005", "01 61 00 00", dns_error(errc::bad_length, "cname"));  // a byte after the name
    check("0005", "01 61", dns_error(errc::bad_length, "cname"));        // name runs past the rdata
    check("000c", "05 61", dns_error(errc::bad_length, "ptr"));
    check("000f", "000a", dns_error(errc::bad_length, "mx"));
    check("0021", "0000 0005 22b3", dns_error(errc::bad_length, "srv"));
    check("0006", "00 00 00000001 00000002 00000003 00000004", dns_error(errc::bad_length, "soa"));
    check("0010", "", dns_error(errc::bad_length, "txt"));
    check("0010", "05 6162", dns_error(errc::bad_length, "txt"));
    // a name inside rdata obeys the pointer rules: pointer to itself
    check("0005", "c017", dns_error(errc::bad_pointer, "pointer"));
}

// ---- building: compression (RFC 1035 4.1.4) ----

BOOST_AUTO_TEST_CASE(compression_on_emit) {
    auto zone = name_of("iothub.example");
    dns_message_repr m = make_response(make_query(7, zone, dns_type::a));
    for (int i = 0; i < 4; ++i)
        m.answers.push_back(dns_record_repr::make(zone, 60, dns_a{ipv4_address(198, 51, 100, static_cast<std::uint8_t>(i))}));
    m.answers.push_back(
        dns_record_repr::make(name_of("device1.iothub.example"), 60, dns_cname{name_of("edge.device1.iothub.example")}));
    auto on = emit_vec(m, dns_compression::on);
    auto off = emit_vec(m, dns_compression::off);
    BOOST_TEST(off.size() == m.buffer_len());
    BOOST_TEST(on.size() < off.size());
    // every answer owner "iothub.example" is a pointer to the question name at offset 12
    std::size_t first_answer = 12 + zone.wire_len() + 4;
    BOOST_TEST(equal_bytes(view(on).subspan(first_answer, 2), view(hex("c00c"))));
    // "device1" written once then reused by "edge.device1...": 1+4 label + pointer in rdata
    auto v = dns_view::parse(view(on));
    BOOST_REQUIRE(v);
    auto back = dns_message_repr::parse(*v);
    BOOST_REQUIRE(back);
    BOOST_TEST((*back == m));
    BOOST_TEST(std::get<dns_cname>(back->answers.back().rdata).target.to_string() == "edge.device1.iothub.example");
    std::size_t rdlength = load_be16(view(on), on.size() - 9);
    BOOST_TEST(rdlength == 7u);  // 04'edge' + pointer
    // uncompressed output parses to the same message
    auto v_off = dns_view::parse(view(off));
    BOOST_REQUIRE(v_off);
    BOOST_TEST((*dns_message_repr::parse(*v_off) == m));
}

BOOST_AUTO_TEST_CASE(compression_keeps_case) {
    // pointers only replace byte-identical suffixes, so the case of every name survives
    dns_message_repr m = make_query(1, name_of("Example.COM"), dns_type::a);
    m.questions.push_back(dns_question{name_of("www.example.com"), dns_type::a, dns_class::in});
    auto b = emit_vec(m);
    auto back = dns_message_repr::parse(*dns_view::parse(view(b)));
    BOOST_REQUIRE(back);
    BOOST_TEST(back->questions[0].name.to_string() == "Example.COM");
    BOOST_TEST(back->questions[1].name.to_string() == "www.example.com");
    BOOST_TEST(b.size() == 12u + 17u + 21u);  // nothing shared byte for byte but the root
}

BOOST_AUTO_TEST_CASE(pointers_only_to_offsets_below_0x3fff) {
    // A DNS-over-TCP sized message. "early" is first written near the start and reused;
    // "late" is first written past offset 0x3FFF, where a 14-bit pointer cannot reach, so
    // its second use is written in full (then points to "iothub.example" at 12).
    auto zone = name_of("iothub.example");
    dns_message_repr m = make_response(make_query(9, zone, dns_type::txt));
    auto txt = [](std::string_view owner) { return dns_record_repr::make(name_of(owner), 60, dns_txt{{std::string(100, 't')}}); };
    m.answers.push_back(txt("a.early.iothub.example"));
    m.answers.push_back(txt("b.early.iothub.example"));
    for (int i = 0; i < 200; ++i) m.answers.push_back(txt(fmt::format("host{}.iothub.example", i)));
    m.answers.push_back(txt("a.late.iothub.example"));
    m.answers.push_back(txt("b.late.iothub.example"));
    auto out = emit_vec(m);
    BOOST_TEST(out.size() > 0x4000u);
    auto v = dns_view::parse(view(out));
    BOOST_REQUIRE(v);
    std::vector<dns_record> rrs;
    for (const auto& rr : v->answers()) {
        BOOST_REQUIRE(rr);
        BOOST_TEST(rr->name == m.answers[rrs.size()].name);
        rrs.push_back(*rr);
    }
    BOOST_REQUIRE(rrs.size() == 204u);
    // b.early: 01'b' then a pointer to "early..." inside a.early (below 0x3FFF)
    BOOST_TEST(equal_bytes(view(out).subspan(rrs[1].offset, 2), view(hex("0162"))));
    BOOST_TEST((load_u8(view(out), rrs[1].offset + 2) & 0xC0) == 0xC0);
    // b.late: 01'b' 04'late' c00c -- "late" was past the reach of a pointer
    BOOST_TEST(rrs[202].offset > 0x3FFFu);
    BOOST_TEST(equal_bytes(view(out).subspan(rrs[203].offset, 9), view(hex("0162 046c617465 c00c"))));
}

BOOST_AUTO_TEST_CASE(emit_errors) {
    auto m = make_query(1, name_of("iothub.example"), dns_type::a);
    std::vector<std::byte> small(m.buffer_len() - 1);
    BOOST_TEST(m.emit(small).error() == dns_error(errc::buffer_too_small, "message"));
    std::vector<std::byte> tiny(11);
    BOOST_TEST(m.emit(tiny).error() == dns_error(errc::buffer_too_small, "message"));
    // the rdata alternative disagrees with the type
    m.answers.push_back(dns_record_repr{name_of("a.example"), dns_type::mx, dns_class::in, 0, dns_a{}});
    std::vector<std::byte> out(512);
    BOOST_TEST(m.emit(out).error() == dns_error(errc::bad_value, "rdata"));
    m.answers.back() = dns_record_repr::make(name_of("a.example"), 0, dns_txt{{std::string(256, 'x')}});
    BOOST_TEST(m.emit(out).error() == dns_error(errc::too_long, "txt"));
    m.answers.back() = dns_record_repr::make(name_of("a.example"), 0, dns_txt{});
    BOOST_TEST(m.emit(out).error() == dns_error(errc::bad_length, "txt"));
}

// ---- queries and responses ----

BOOST_AUTO_TEST_CASE(make_query_matches_dig_layout) {
    // dig +noedns sends exactly this for "example.com A" except for AD (dig sets it)
    auto q = make_query(0x95c0, name_of("example.com"), dns_type::a);
    q.header.ad = true;
    BOOST_TEST(equal_bytes(view(emit_vec(q)), view(dig_query_noedns)));
}

BOOST_AUTO_TEST_CASE(make_response_codes) {
    auto v = *dns_view::parse(view(dig_query));
    for (std::uint8_t rc :
         {dns_rcode::noerror, dns_rcode::formerr, dns_rcode::servfail, dns_rcode::nxdomain, dns_rcode::refused}) {
        auto r = make_response(v, rc);
        BOOST_TEST(r.header.id == 0x2918);
        BOOST_TEST(r.header.qr);
        BOOST_TEST(r.header.ra);
        BOOST_TEST(r.header.rd);
        BOOST_TEST(r.header.rcode == rc);
        BOOST_REQUIRE(r.questions.size() == 1u);
        BOOST_TEST(r.questions[0].name.to_string() == "example.com");
        auto b = emit_vec(r);
        auto back = dns_view::parse(view(b));
        BOOST_REQUIRE(back);
        BOOST_TEST(back->rcode() == rc);
        BOOST_TEST(back->is_response());
    }
    BOOST_TEST(dns_rcode::nxdomain == 3);
    BOOST_TEST(dns_rcode::refused == 5);
    // FORMERR for a query that does not parse: only its header is echoed
    auto broken = hex("abcd 0100 0001 0000 0000 0000  c00c 0001 0001");
    BOOST_TEST(!dns_view::parse(view(broken)));
    auto r = make_response(*dns_header::parse(view(broken)));
    BOOST_TEST(r.header.id == 0xabcd);
    BOOST_TEST(r.header.rcode == dns_rcode::formerr);
    BOOST_TEST(r.questions.empty());
    BOOST_TEST(emit_vec(r).size() == 12u);
}

// ---- truncation (RFC 2181 9, RFC 1035 4.2.1, RFC 6891 7) ----

BOOST_AUTO_TEST_CASE(tc_set_when_answers_do_not_fit) {
    auto name = name_of("a-rather-long-name-for-a-device.iothub.example");
    dns_message_repr m = make_response(make_query(0x77, name, dns_type::a));
    for (int i = 0; i < 60; ++i)
        m.answers.push_back(dns_record_repr::make(name, 60, dns_a{ipv4_address(198, 51, 100, static_cast<std::uint8_t>(i))}));
    m.additional.push_back(dns_record_repr::make_opt(1232));
    std::vector<std::byte> out(4096);
    // plain emit into 512 bytes fails; emit_truncated keeps what fits and sets TC
    BOOST_TEST(m.emit(bytes_span(out).first(dns_udp_max)).error() == dns_error(errc::buffer_too_small, "message"));
    auto n = m.emit_truncated(out, dns_udp_max);
    BOOST_REQUIRE(n);
    BOOST_TEST(*n <= dns_udp_max);
    auto v = dns_view::parse(bytes_view(out).first(*n));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->truncated());
    BOOST_TEST(v->ancount() > 0);
    BOOST_TEST(v->ancount() < 60);
    // every record sent is whole; one more would not have fit with the OPT record
    BOOST_TEST(*n + 16 > dns_udp_max);
    BOOST_TEST(v->arcount() == 1);  // the OPT record is kept (RFC 6891 7)
    BOOST_REQUIRE(v->edns());
    // with room for everything nothing is dropped and TC stays clear
    auto all = m.emit_truncated(out, 4096);
    BOOST_REQUIRE(all);
    auto va = dns_view::parse(bytes_view(out).first(*all));
    BOOST_TEST(!va->truncated());
    BOOST_TEST(va->ancount() == 60);
}

BOOST_AUTO_TEST_CASE(additional_records_are_dropped_without_tc) {
    // RFC 2181 9: TC is not set merely because extra information did not fit
    auto zone = name_of("iothub.example");
    dns_message_repr m = make_response(make_query(1, zone, dns_type::mx));
    m.answers.push_back(dns_record_repr::make(zone, 60, dns_mx{10, name_of("mail.iothub.example")}));
    for (int i = 0; i < 40; ++i)
        m.additional.push_back(
            dns_record_repr::make(name_of("mail.iothub.example"), 60, dns_aaaa{ipv6_address::parse("2001:db8::1").value()}));
    std::vector<std::byte> out(512);
    auto n = m.emit_truncated(out);
    BOOST_REQUIRE(n);
    auto v = dns_view::parse(bytes_view(out).first(*n));
    BOOST_REQUIRE(v);
    BOOST_TEST(!v->truncated());
    BOOST_TEST(v->ancount() == 1);
    BOOST_TEST(v->arcount() > 0);
    BOOST_TEST(v->arcount() < 40);
    // a received TC flag round-trips through the repr
    auto tc = hex("0001 8300 0000 0000 0000 0000");
    auto r = dns_message_repr::parse(*dns_view::parse(view(tc)));
    BOOST_TEST(r->header.tc);
    BOOST_TEST(equal_bytes(view(emit_vec(*r)), view(tc)));
}

// ---- DNS over TCP (RFC 1035 4.2.2) ----

BOOST_AUTO_TEST_CASE(tcp_length_prefix) {
    auto q = make_query(0x95c0, name_of("example.com"), dns_type::a);
    q.header.ad = true;
    std::vector<std::byte> stream(2 * (2 + dig_query_noedns.size()));
    auto n1 = q.emit_tcp(stream);
    BOOST_REQUIRE(n1);
    BOOST_TEST(*n1 == 31u);
    BOOST_TEST(load_be16(view(stream), 0) == 29);
    auto n2 = q.emit_tcp(bytes_span(stream).subspan(*n1));
    BOOST_REQUIRE(n2);
    auto f1 = split_dns_tcp(view(stream));
    BOOST_REQUIRE(f1);
    BOOST_TEST(f1->consumed == 31u);
    BOOST_TEST(equal_bytes(f1->message, view(dig_query_noedns)));
    auto f2 = split_dns_tcp(bytes_view(stream).subspan(f1->consumed));
    BOOST_REQUIRE(f2);
    BOOST_TEST(dns_view::parse(f2->message)->id() == 0x95c0);
    test::for_each_truncation(bytes_view(stream).first(31), [](bytes_view b) {
        BOOST_TEST(split_dns_tcp(b).error() == dns_error(errc::truncated, "tcp_length"));
    });
    std::array<std::byte, 1> one{};
    BOOST_TEST(store_dns_tcp_length(one, 5).error().what == errc::buffer_too_small);
    std::array<std::byte, 2> two{};
    BOOST_TEST(store_dns_tcp_length(two, 70000).error().what == errc::too_long);
}

BOOST_AUTO_TEST_SUITE_END()
