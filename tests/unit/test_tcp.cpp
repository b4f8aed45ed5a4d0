// TCP header, options, flags and checksum (include/vnet/wire/tcp.hpp).
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/tcp.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::cat;
using vnet::test::hand_sum;
using vnet::test::hex;
using vnet::test::view;

namespace {

ipv4_address v4(const char* s) { return *ipv4_address::parse(s); }
ipv6_address v6(const char* s) { return *ipv6_address::parse(s); }

// The TCP parts of real SYN and SYN-ACK segments from the p0f test set of pyp0f
// (github.com/Nisitay/pyp0f, tests/_packets/tcp.py). Each checksum verifies over its
// IP addresses (checked by hand_sum below).

// LINUX_26_SYN: 192.168.1.140:56760 -> 192.168.1.194:23. Options: MSS 1460, SACK-Permitted,
// Timestamps, NOP, Window Scale 7 - the classic 40-byte Linux SYN header.
const auto linux_syn = hex(
    "ddb8 0017 dacf 21d5 0000 0000 a002 16d0 7110 0000"
    "0204 05b4 0402 080a 0027 60e5 0000 0000 0103 0307");
const auto linux_syn_src = v4("192.168.1.140");
const auto linux_syn_dst = v4("192.168.1.194");

// LINUX_26_SYN_ACK_ANOTHER: 63.116.243.97:80 -> 192.168.1.3:58816, same layout.
const auto linux_syn_ack = hex(
    "0050 e5c0 a3c4 809f e594 3dab a012 16a0 4e07 0000"
    "0204 05b4 0402 080a 8d9d 9dfa 0017 9565 0103 0305");
const auto linux_syn_ack_src = v4("63.116.243.97");
const auto linux_syn_ack_dst = v4("192.168.1.3");

// LINUX_26_SYN_ACK: 140.99.93.175:80 -> 10.255.228.169:3884, a Linux SYN-ACK without
// timestamps: MSS 1380, NOP NOP SACK-Permitted, NOP Window Scale 9.
const auto linux_syn_ack_nots = hex(
    "0050 0f2c ff15 564e babd 6b49 8012 16d0 f3dc 0000"
    "0204 0564 0101 0402 0103 0309");
// WINDOWS_XP: the SYN this SYN-ACK answers (its seq + 1 is the ack above): MSS 1260,
// NOP Window Scale 2, NOP NOP SACK-Permitted - not the Linux order.
const auto xp_syn = hex(
    "0f2c 0050 babd 6b48 0000 0000 8002 ffff 60a1 0000"
    "0204 04ec 0103 0302 0101 0402");
const auto xp_host = v4("10.255.228.169");
const auto web_server = v4("140.99.93.175");

// WINDOWS_7_OR_8_FUZZY_TTL: an IPv6 SYN 2001:470:e5bf:dead:4957:2174:e82c:4887:63943 ->
// 2607:f8b0:400c:c03::1a:25. Options: MSS 1420, NOP Window Scale 8, NOP NOP SACK-Permitted.
const auto win_v6_syn = hex(
    "f9c7 0019 03a0 8830 0000 0000 8002 2000 da47 0000"
    "0204 058c 0103 0308 0101 0402");
const auto win_v6_src = v6("2001:470:e5bf:dead:4957:2174:e82c:4887");
const auto win_v6_dst = v6("2607:f8b0:400c:c03::1a");

const auto doc_src = v4("192.0.2.1");
const auto doc_dst = v4("192.0.2.2");

// A header from ports 1 -> 2 with the given options bytes (length a multiple of 4), the
// data offset set to match, and a checksum computed by hand over 192.0.2.1 -> 192.0.2.2.
std::vector<std::byte> segment_with_options(const std::vector<std::byte>& options) {
    auto h = hex("0001 0002 0000 0001 0000 0000 5010 ffff 0000 0000");
    h[12] = std::byte(static_cast<std::uint8_t>((20 + options.size()) / 4 << 4));
    h = cat(h, options);
    auto pseudo = hex("c000 0201 c000 0202 0006");
    pseudo = cat(pseudo, {std::byte(0), std::byte(h.size())});
    std::uint16_t c = static_cast<std::uint16_t>(~hand_sum(cat(pseudo, h)));
    h[16] = std::byte(c >> 8);
    h[17] = std::byte(c & 0xff);
    return h;
}

// Walks an options area and returns the first error, or error{} with field "" when none.
error first_option_error(bytes_view options) {
    for (const auto& o : tcp_options(options))
        if (!o) return o.error();
    return error{};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tcp)

// RFC 9293 section 3.1 header layout.
BOOST_AUTO_TEST_CASE(linux_syn_fields) {
    auto t = tcp_view::parse(view(linux_syn));
    BOOST_REQUIRE(t);
    BOOST_TEST(t->src_port() == 56760);
    BOOST_TEST(t->dst_port() == 23);
    BOOST_TEST(t->seq_number() == 0xdacf21d5u);
    BOOST_TEST(t->ack_number() == 0u);
    BOOST_TEST(t->data_offset() == 10);
    BOOST_TEST(t->header_len() == 40u);
    BOOST_TEST(t->flags() == tcp_flag::syn);
    BOOST_TEST(t->syn());
    BOOST_TEST(!t->ack());
    BOOST_TEST(!t->fin());
    BOOST_TEST(t->reserved() == 0);
    BOOST_TEST(t->window_len() == 5840);
    BOOST_TEST(t->checksum() == 0x7110);
    BOOST_TEST(t->urgent_pointer() == 0);
    BOOST_TEST(t->options_bytes().size() == 20u);
    BOOST_TEST(t->payload().empty());
    BOOST_TEST(t->segment_len() == 1u);  // RFC 9293 section 3.4: SYN occupies one sequence number
    BOOST_TEST(tcpdump_flags(t->flags()).str() == "S");
}

BOOST_AUTO_TEST_CASE(linux_syn_options) {
    auto t = *tcp_view::parse(view(linux_syn));
    std::vector<std::uint8_t> kinds;
    for (const auto& o : t.options()) {
        BOOST_REQUIRE(o.has_value());
        kinds.push_back(o->kind());
        switch (o->kind()) {
            case tcp_option_kind::mss: BOOST_TEST(o->mss() == 1460); break;
            case tcp_option_kind::window_scale:
                BOOST_TEST(o->window_scale_raw() == 7);
                BOOST_TEST(o->window_scale() == 7);
                break;
            case tcp_option_kind::timestamps:
                BOOST_TEST(o->timestamps().value == 0x002760e5u);
                BOOST_TEST(o->timestamps().echo_reply == 0u);
                BOOST_TEST(o->data().size() == 8u);
                break;
            case tcp_option_kind::sack_permitted: BOOST_TEST(o->bytes().size() == 2u); break;
            case tcp_option_kind::nop: BOOST_TEST(o->data().empty()); break;
            default: BOOST_FAIL("unexpected option kind"); break;
        }
    }
    BOOST_TEST(kinds == (std::vector<std::uint8_t>{2, 4, 8, 1, 3}), boost::test_tools::per_element());
}

// RFC 9293 section 3.1 "Checksum": over the pseudo header (src, dst, zero, PTCL 6, TCP length)
// and the segment.
BOOST_AUTO_TEST_CASE(checksums_of_real_segments_verify) {
    BOOST_TEST(hand_sum(cat(hex("c0a8 018c c0a8 01c2 0006 0028"), linux_syn)) == 0xffff);
    BOOST_TEST(tcp_view::parse(view(linux_syn))->checksum_ok(linux_syn_src, linux_syn_dst));
    BOOST_TEST(tcp_view::parse(view(linux_syn_ack))->checksum_ok(linux_syn_ack_src, linux_syn_ack_dst));
    BOOST_TEST(tcp_view::parse(view(linux_syn_ack_nots))->checksum_ok(web_server, xp_host));
    BOOST_TEST(tcp_view::parse(view(xp_syn))->checksum_ok(xp_host, web_server));
    // RFC 8200 section 8.1: src, dst, 32-bit length, three zero bytes, next header 6
    auto pseudo6 = hex(
        "2001 0470 e5bf dead 4957 2174 e82c 4887 2607 f8b0 400c 0c03 0000 0000 0000 001a"
        "0000 0020 0000 0006");
    BOOST_TEST(hand_sum(cat(pseudo6, win_v6_syn)) == 0xffff);
    BOOST_TEST(tcp_view::parse(view(win_v6_syn))->checksum_ok(win_v6_src, win_v6_dst));
    BOOST_TEST(
        tcp_view::parse(view(win_v6_syn))->checksum_ok(pseudo_header_v6(win_v6_src, win_v6_dst, tcp_view::ip_protocol, 32)));
}

BOOST_AUTO_TEST_CASE(bad_checksum_v4_and_v6) {
    auto b = linux_syn;
    b[30] ^= std::byte{0x01};  // inside the TSval
    auto t = *tcp_view::parse(view(b));
    BOOST_TEST(!t.checksum_ok(linux_syn_src, linux_syn_dst));
    BOOST_TEST(tcp_repr::parse(t, linux_syn_src, linux_syn_dst).error() == (error{layer::tcp, errc::bad_checksum, "checksum"}));
    // right bytes, wrong pseudo header: another destination
    auto good = *tcp_view::parse(view(linux_syn));
    BOOST_TEST(!good.checksum_ok(linux_syn_src, v4("192.168.1.195")));

    auto b6 = win_v6_syn;
    b6[20 + 3] ^= std::byte{0x10};  // the MSS
    auto t6 = *tcp_view::parse(view(b6));
    BOOST_TEST(!t6.checksum_ok(win_v6_src, win_v6_dst));
    BOOST_TEST(tcp_repr::parse(t6, win_v6_src, win_v6_dst).error() == (error{layer::tcp, errc::bad_checksum, "checksum"}));
    // the v6 segment over a v6 pseudo header with the addresses of another host fails too
    BOOST_TEST(!tcp_view::parse(view(win_v6_syn))->checksum_ok(win_v6_src, v6("2607:f8b0:400c:c03::1b")));
}

BOOST_AUTO_TEST_CASE(linux_syn_round_trips_byte_for_byte) {
    auto t = *tcp_view::parse(view(linux_syn));
    auto r = tcp_repr::parse(t, linux_syn_src, linux_syn_dst);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->src_port == 56760);
    BOOST_TEST(r->flags == tcp_flag::syn);
    BOOST_TEST(*r->mss == 1460);
    BOOST_TEST(*r->window_scale == 7);
    BOOST_TEST(r->sack_permitted);
    BOOST_TEST(r->timestamps->value == 0x002760e5u);
    BOOST_TEST(r->sack_block_count == 0);
    BOOST_TEST(r->options_len() == 20u);
    BOOST_TEST(r->buffer_len() == 40u);
    std::vector<std::byte> out(r->buffer_len());
    auto n = r->emit(out, {}, linux_syn_src, linux_syn_dst);
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == 40u);
    BOOST_TEST(equal_bytes(out, view(linux_syn)));
}

BOOST_AUTO_TEST_CASE(linux_syn_acks_round_trip_byte_for_byte) {
    auto t = *tcp_view::parse(view(linux_syn_ack));
    BOOST_TEST(t.flags() == 0x012);
    BOOST_TEST(tcpdump_flags(t.flags()).str() == "S.");
    BOOST_TEST(t.ack_number() == 0xe5943dabu);
    auto r = *tcp_repr::parse(t, linux_syn_ack_src, linux_syn_ack_dst);
    BOOST_TEST(r.timestamps->echo_reply == 0x00179565u);
    BOOST_TEST(*r.window_scale == 5);
    std::vector<std::byte> out(r.buffer_len());
    BOOST_REQUIRE(r.emit(out, {}, linux_syn_ack_src, linux_syn_ack_dst));
    BOOST_TEST(equal_bytes(out, view(linux_syn_ack)));

    auto t2 = *tcp_view::parse(view(linux_syn_ack_nots));
    auto r2 = *tcp_repr::parse(t2, web_server, xp_host);
    BOOST_TEST(!r2.timestamps);
    BOOST_TEST(r2.sack_permitted);
    BOOST_TEST(*r2.mss == 1380);
    BOOST_TEST(*r2.window_scale == 9);
    std::vector<std::byte> out2(r2.buffer_len());
    BOOST_REQUIRE(r2.emit(out2, {}, web_server, xp_host));
    BOOST_TEST(equal_bytes(out2, view(linux_syn_ack_nots)));
}

// A layout that is not Linux's comes back with the same values in the Linux order.
BOOST_AUTO_TEST_CASE(windows_layout_reemitted_in_linux_order) {
    auto t = *tcp_view::parse(view(xp_syn));
    auto r = *tcp_repr::parse(t, xp_host, web_server);
    BOOST_TEST(*r.mss == 1260);
    BOOST_TEST(*r.window_scale == 2);
    BOOST_TEST(r.sack_permitted);
    BOOST_TEST(r.window_len == 0xffff);
    std::vector<std::byte> out(r.buffer_len());
    BOOST_REQUIRE(r.emit(out, {}, xp_host, web_server));
    BOOST_TEST(equal_bytes(bytes_view(out).subspan(20), view(hex("0204 04ec 0101 0402 0103 0302"))));
    auto again = tcp_repr::parse(*tcp_view::parse(out), xp_host, web_server);
    BOOST_REQUIRE(again);
    BOOST_TEST((*again == r));

    auto t6 = *tcp_view::parse(view(win_v6_syn));
    auto r6 = *tcp_repr::parse(t6, win_v6_src, win_v6_dst);
    BOOST_TEST(*r6.mss == 1420);
    BOOST_TEST(*r6.window_scale == 8);
    std::vector<std::byte> out6(r6.buffer_len());
    BOOST_REQUIRE(r6.emit(out6, {}, win_v6_src, win_v6_dst));
    BOOST_TEST(tcp_view::parse(out6)->checksum_ok(win_v6_src, win_v6_dst));
    BOOST_TEST((*tcp_repr::parse(*tcp_view::parse(out6), win_v6_src, win_v6_dst) == r6));
}

// RFC 7323 section 3 + RFC 2018 section 3: a data segment carrying timestamps and two SACK
// blocks, laid out as Linux does (NOP NOP TS, NOP NOP SACK).
BOOST_AUTO_TEST_CASE(data_segment_with_timestamps_and_sack) {
    tcp_repr r;
    r.src_port = 8883;
    r.dst_port = 50123;
    r.seq_number = 1000;
    r.ack_number = 2000;
    r.flags = tcp_flag::psh | tcp_flag::ack;
    r.window_len = 501;
    r.timestamps = tcp_timestamps{0x01020304, 0x05060708};
    r.sack_blocks[0] = {3000, 3100};
    r.sack_blocks[1] = {3200, 3300};
    r.sack_block_count = 2;
    auto payload = hex("3000 0568 656c 6c6f");  // an MQTT PUBLISH fragment
    r.payload_len = payload.size();
    BOOST_TEST(r.options_len() == 32u);
    std::vector<std::byte> out(r.buffer_len());
    auto n = r.emit(out, view(payload), doc_src, doc_dst);
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == 20u + 32u + 8u);
    auto expected_options = hex(
        "0101 080a 0102 0304 0506 0708"
        "0101 0512 0000 0bb8 0000 0c1c 0000 0c80 0000 0ce4");
    BOOST_TEST(equal_bytes(bytes_view(out).subspan(20, 32), view(expected_options)));
    BOOST_TEST(load_u8(out, 12) == 0xd0);  // data offset 13 words
    auto t = tcp_view::parse(out);
    BOOST_REQUIRE(t);
    BOOST_TEST(tcpdump_flags(t->flags()).str() == "P.");
    BOOST_TEST(equal_bytes(t->payload(), view(payload)));
    BOOST_TEST(t->segment_len() == 8u);
    auto pseudo = hex("c000 0201 c000 0202 0006 003c");
    BOOST_TEST(hand_sum(cat(pseudo, out)) == 0xffff);
    std::size_t sacks = 0;
    for (const auto& o : t->options()) {
        BOOST_REQUIRE(o.has_value());
        if (o->kind() != tcp_option_kind::sack) continue;
        ++sacks;
        BOOST_TEST(o->sack_block_count() == 2u);
        BOOST_TEST((o->sack(1) == sack_block{3200, 3300}));
        BOOST_TEST((o->sack(2) == sack_block{}));  // past the last block
    }
    BOOST_TEST(sacks == 1u);
    auto back = tcp_repr::parse(*t, doc_src, doc_dst);
    BOOST_REQUIRE(back);
    BOOST_TEST((*back == r));
    // SACK-Permitted without timestamps goes out as NOP NOP SACK-Permitted
    tcp_repr s;
    s.flags = tcp_flag::syn;
    s.sack_permitted = true;
    std::vector<std::byte> out2(s.buffer_len());
    BOOST_REQUIRE(s.emit(out2, {}, doc_src, doc_dst));
    BOOST_TEST(equal_bytes(bytes_view(out2).subspan(20), view(hex("0101 0402"))));
}

// The payload already written at out + header_len() is not copied over itself.
BOOST_AUTO_TEST_CASE(emit_with_payload_in_place) {
    tcp_repr r;
    r.flags = tcp_flag::ack;
    r.mss = 1460;
    r.payload_len = 3;
    std::vector<std::byte> out(r.buffer_len());
    out[24] = std::byte{'a'};
    out[25] = std::byte{'b'};
    out[26] = std::byte{'c'};
    BOOST_REQUIRE(r.emit(out, bytes_view(out).subspan(24), doc_src, doc_dst));
    auto t = *tcp_view::parse(out);
    BOOST_TEST(equal_bytes(t.payload(), view(hex("616263"))));
    BOOST_TEST(t.checksum_ok(doc_src, doc_dst));
}

// tcpdump print-tcp.c tcp_flag_values: F S R P . U E W e, "none" for no flags.
BOOST_AUTO_TEST_CASE(tcpdump_flag_rendering) {
    using namespace tcp_flag;
    BOOST_TEST(tcpdump_flags(syn).str() == "S");
    BOOST_TEST(tcpdump_flags(syn | ack).str() == "S.");
    BOOST_TEST(tcpdump_flags(psh | ack).str() == "P.");
    BOOST_TEST(tcpdump_flags(fin | ack).str() == "F.");
    BOOST_TEST(tcpdump_flags(rst).str() == "R");
    BOOST_TEST(tcpdump_flags(rst | ack).str() == "R.");
    BOOST_TEST(tcpdump_flags(ack).str() == ".");
    BOOST_TEST(tcpdump_flags(0).str() == "none");
    // RFC 3168 section 6.1.1: an ECN-setup SYN carries ECE and CWR
    BOOST_TEST(tcpdump_flags(syn | ece | cwr).str() == "SEW");
    BOOST_TEST(tcpdump_flags(ack | urg).str() == ".U");
    BOOST_TEST(tcpdump_flags(all).str() == "FSRP.UEWe");
}

// RFC 9293 section 3.1: the four reserved bits; they are kept so a round trip is exact.
BOOST_AUTO_TEST_CASE(reserved_bits_and_ecn_flags) {
    auto b = segment_with_options({});
    b[12] = std::byte{0x5f};  // data offset 5, all reserved bits set
    b[13] = std::byte{0xc2};  // CWR ECE SYN
    auto pseudo = hex("c000 0201 c000 0202 0006 0014");
    b[16] = b[17] = std::byte{0};
    std::uint16_t c = static_cast<std::uint16_t>(~hand_sum(cat(pseudo, b)));
    store_be16(b, 16, c);
    auto t = *tcp_view::parse(view(b));
    BOOST_TEST(t.reserved() == 15);
    BOOST_TEST(t.flags() == 0xfc2);
    BOOST_TEST(t.ece());
    BOOST_TEST(t.cwr());
    BOOST_TEST(t.syn());
    BOOST_TEST(!t.urg());
    BOOST_TEST(t.has(tcp_flag::ae));
    auto r = *tcp_repr::parse(t, doc_src, doc_dst);
    BOOST_TEST(r.flags == 0xfc2);
    std::vector<std::byte> out(r.buffer_len());
    BOOST_REQUIRE(r.emit(out, {}, doc_src, doc_dst));
    BOOST_TEST(equal_bytes(out, view(b)));
}

// RFC 9293 section 3.1 "Data Offset": the header is at least 5 words and must fit.
BOOST_AUTO_TEST_CASE(truncated_at_every_byte) {
    test::for_each_truncation(view(linux_syn), [](bytes_view b) {
        auto t = tcp_view::parse(b);
        BOOST_TEST(!t);
        if (b.size() < 20) BOOST_TEST(t.error() == (error{layer::tcp, errc::truncated, "header"}));
        else BOOST_TEST(t.error() == (error{layer::tcp, errc::bad_length, "data_offset"}));
    });
}

BOOST_AUTO_TEST_CASE(data_offset_rules) {
    for (std::uint8_t off = 0; off < 5; ++off) {
        auto b = linux_syn;
        b[12] = std::byte(static_cast<std::uint8_t>(off << 4));
        BOOST_TEST(tcp_view::parse(view(b)).error() == (error{layer::tcp, errc::bad_length, "data_offset"}));
    }
    auto b = linux_syn;
    b[12] = std::byte{0xb0};  // 44 bytes in a 40-byte buffer
    BOOST_TEST(tcp_view::parse(view(b)).error() == (error{layer::tcp, errc::bad_length, "data_offset"}));
    b[12] = std::byte{0x50};  // the options become payload
    auto t = tcp_view::parse(view(b));
    BOOST_REQUIRE(t);
    BOOST_TEST(t->payload().size() == 20u);
    BOOST_TEST((t->options().begin() == std::default_sentinel));
}

// RFC 9293 section 3.2 (MSS length 4), RFC 7323 sections 2.2 and 3.2 (Window Scale length 3,
// Timestamps length 10), RFC 2018 sections 2 and 3 (SACK-Permitted length 2, SACK 2 + 8n).
BOOST_AUTO_TEST_CASE(every_option_length_error) {
    auto err = [](std::string_view field) { return error{layer::tcp, errc::bad_option, field}; };
    BOOST_TEST(first_option_error(view(hex("0203 0000"))) == err("mss"));
    BOOST_TEST(first_option_error(view(hex("0205 0000 00"))) == err("mss"));
    BOOST_TEST(first_option_error(view(hex("0302 0000"))) == err("window_scale"));
    BOOST_TEST(first_option_error(view(hex("0304 0000"))) == err("window_scale"));
    BOOST_TEST(first_option_error(view(hex("0403 0000"))) == err("sack_permitted"));
    BOOST_TEST(first_option_error(view(hex("0400 0000"))) == err("sack_permitted"));
    BOOST_TEST(first_option_error(view(hex("0808 0000 0000 0000"))) == err("timestamps"));
    BOOST_TEST(first_option_error(view(hex("080c 0000 0000 0000 0000 0000"))) == err("timestamps"));
    // SACK with zero blocks, a partial block, and five blocks (RFC 2018 section 3: at most 4)
    BOOST_TEST(first_option_error(view(hex("0502 0000"))) == err("sack"));
    BOOST_TEST(first_option_error(view(hex("0509 0000 0000 0000 00"))) == err("sack"));
    std::vector<std::byte> five(42, std::byte{0});
    five[0] = std::byte{5};
    five[1] = std::byte{42};
    BOOST_TEST(first_option_error(view(five)) == err("sack"));
    // an unknown kind with a length below 2
    BOOST_TEST(first_option_error(view(hex("fe00 0000"))) == err("option_length"));
    BOOST_TEST(first_option_error(view(hex("fe01 0000"))) == err("option_length"));
    // options running past the header: a length byte missing, a length beyond the area
    BOOST_TEST(first_option_error(view(hex("0101 0102"))) == err("option_length"));
    BOOST_TEST(first_option_error(view(hex("0101 0204"))) == err("option_length"));
    BOOST_TEST(first_option_error(view(hex("0101 080a 0000 0000"))) == err("option_length"));
    BOOST_TEST(first_option_error(view(hex("0101 050a 0000 0000"))) == err("option_length"));
    BOOST_TEST(first_option_error(view(hex("1e08 0000"))) == err("option_length"));
    // and good ones for contrast
    BOOST_TEST(first_option_error(view(hex("0204 05b4"))) == error{});
    BOOST_TEST(first_option_error(view(hex("0101 050a 0000 0001 0000 0002"))) == error{});
    BOOST_TEST(first_option_error(view(
                   hex("0101 0522 0000 0001 0000 0002 0000 0003 0000 0004 0000 0005 0000 0006 0000 0007 0000 0008"))) == error{});
}

// A malformed option inside a header: the view parses (ports are still readable), the
// iterator yields the error once and stops, and the repr refuses the segment.
BOOST_AUTO_TEST_CASE(option_error_in_a_segment) {
    auto b = segment_with_options(hex("0101 0203 0000 0000"));
    auto t = tcp_view::parse(view(b));
    BOOST_REQUIRE(t);
    BOOST_TEST(t->checksum_ok(doc_src, doc_dst));
    std::size_t yielded = 0, errors = 0;
    for (const auto& o : t->options()) {
        ++yielded;
        if (!o) {
            ++errors;
            BOOST_TEST(o.error() == (error{layer::tcp, errc::bad_option, "mss"}));
        }
    }
    BOOST_TEST(yielded == 3u);  // NOP, NOP, the error
    BOOST_TEST(errors == 1u);
    BOOST_TEST(tcp_repr::parse(*t, doc_src, doc_dst).error() == (error{layer::tcp, errc::bad_option, "mss"}));

    auto past = segment_with_options(hex("0101 0101 0101 0204"));
    BOOST_TEST(tcp_repr::parse(*tcp_view::parse(view(past)), doc_src, doc_dst).error() ==
               (error{layer::tcp, errc::bad_option, "option_length"}));
}

// RFC 9293 section 3.1: unknown options are skipped by their length; EOL ends the list and
// what follows it is padding.
BOOST_AUTO_TEST_CASE(unknown_options_and_eol) {
    // MPTCP (kind 30, length 4), MSS, EOL, then padding that would be a bad MSS if read
    auto opts = hex("1e04 abcd 0204 05b4 0002 0300");
    std::vector<std::uint8_t> kinds;
    for (const auto& o : tcp_options(view(opts))) {
        BOOST_REQUIRE(o.has_value());
        kinds.push_back(o->kind());
        if (o->kind() == 30) {
            BOOST_TEST(equal_bytes(o->data(), view(hex("abcd"))));
            BOOST_TEST(o->mss() == 0);  // typed accessors answer only for their own kind
            BOOST_TEST(o->timestamps().value == 0u);
            BOOST_TEST(o->sack_block_count() == 0u);
        }
    }
    BOOST_TEST(kinds == (std::vector<std::uint8_t>{30, 2, 0}), boost::test_tools::per_element());
    auto b = segment_with_options(opts);
    auto r = tcp_repr::parse(*tcp_view::parse(view(b)), doc_src, doc_dst);
    BOOST_REQUIRE(r);
    BOOST_TEST(*r->mss == 1460);
    BOOST_TEST(!r->window_scale);
    BOOST_TEST(r->options_len() == 4u);
}

// RFC 7323 section 2.3: a shift count above 14 is logged and used as 14; the raw value is
// reported and kept for the round trip.
BOOST_AUTO_TEST_CASE(window_scale_above_14) {
    auto b = segment_with_options(hex("0103 030f"));
    auto t = *tcp_view::parse(view(b));
    for (const auto& o : t.options()) {
        BOOST_REQUIRE(o.has_value());
        if (o->kind() != tcp_option_kind::window_scale) continue;
        BOOST_TEST(o->window_scale_raw() == 15);
        BOOST_TEST(o->window_scale() == max_window_scale);
    }
    auto r = *tcp_repr::parse(t, doc_src, doc_dst);
    BOOST_TEST(*r.window_scale == 15);
    std::vector<std::byte> out(r.buffer_len());
    BOOST_REQUIRE(r.emit(out, {}, doc_src, doc_dst));
    BOOST_TEST(equal_bytes(out, view(b)));
}

BOOST_AUTO_TEST_CASE(emit_errors) {
    tcp_repr r;
    r.flags = tcp_flag::ack;
    r.mss = 1460;
    r.payload_len = 2;
    auto payload = hex("0102");
    std::vector<std::byte> out(r.buffer_len() - 1);
    BOOST_TEST(r.emit(out, view(payload), doc_src, doc_dst).error() == (error{layer::tcp, errc::buffer_too_small, "segment"}));
    out.resize(r.buffer_len());
    BOOST_TEST(r.emit(out, view(payload).first(1), doc_src, doc_dst).error() == (error{layer::tcp, errc::bad_length, "payload"}));
    auto bad_flags = r;
    bad_flags.flags = 0x1000;
    BOOST_TEST(bad_flags.emit(out, view(payload), doc_src, doc_dst).error() == (error{layer::tcp, errc::bad_value, "flags"}));
    auto five = r;
    five.sack_block_count = 5;
    BOOST_TEST(five.emit(out, view(payload), doc_src, doc_dst).error() == (error{layer::tcp, errc::bad_value, "sack"}));
    // MSS 4 + TS 12 + WS 4 + SACK with 4 blocks 36 = 56 > 40 bytes of option space
    auto crowded = r;
    crowded.timestamps = tcp_timestamps{1, 2};
    crowded.window_scale = 7;
    crowded.sack_block_count = 4;
    BOOST_TEST(crowded.linux_layout_len() == 56u);
    BOOST_TEST(crowded.options_len() == 52u);  // 51 bytes packed, still too many
    std::vector<std::byte> big(crowded.buffer_len());
    BOOST_TEST(crowded.emit(big, view(payload), doc_src, doc_dst).error() == (error{layer::tcp, errc::too_long, "options"}));
    // with timestamps three blocks fit exactly: 12 + 4 + 24 = 40
    auto full = crowded;
    full.mss.reset();
    full.window_scale.reset();
    full.sack_block_count = 3;
    BOOST_TEST(full.options_len() == 40u);
    BOOST_TEST(full.emit(big, view(payload), doc_src, doc_dst).value() == 62u);
    BOOST_TEST(tcp_view::parse(bytes_view(big).first(62))->header_len() == 60u);
}

// Timestamps, window scale and three SACK blocks fit the 40 bytes of option space only
// without alignment NOPs (39 bytes): they are packed and padded with EOL (RFC 9293 section 3.1).
BOOST_AUTO_TEST_CASE(packed_layout_when_linux_layout_does_not_fit) {
    tcp_repr r;
    r.flags = tcp_flag::ack;
    r.timestamps = tcp_timestamps{0x11111111, 0x22222222};
    r.window_scale = 7;
    r.sack_blocks = {sack_block{1, 2}, sack_block{3, 4}, sack_block{5, 6}, sack_block{}};
    r.sack_block_count = 3;
    BOOST_TEST(r.linux_layout_len() == 44u);
    BOOST_TEST(r.options_len() == 40u);
    std::vector<std::byte> out(r.buffer_len());
    BOOST_REQUIRE(r.emit(out, {}, doc_src, doc_dst));
    auto expected_options = hex(
        "080a 1111 1111 2222 2222 0303 07 051a 0000 0001 0000 0002 0000 0003 0000 0004 0000 0005"
        "0000 0006 00");
    BOOST_TEST(equal_bytes(bytes_view(out).subspan(20), view(expected_options)));
    auto back = tcp_repr::parse(*tcp_view::parse(out), doc_src, doc_dst);
    BOOST_REQUIRE(back);
    BOOST_TEST((*back == r));
}

BOOST_AUTO_TEST_SUITE_END()
