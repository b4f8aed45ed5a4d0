// DHCP / BOOTP messages (include/vnet/wire/dhcp.hpp): RFC 2131, RFC 2132, RFC 3396,
// RFC 3397, RFC 3442, RFC 1542.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/wire/dhcp.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::hex;
using vnet::test::view;
namespace code = vnet::wire::dhcp_option_code;

namespace vnet::wire {
inline std::ostream& operator<<(std::ostream& os, dhcp_message_type t) { return os << to_string(t); }
inline std::ostream& operator<<(std::ostream& os, dhcp_option_region r) { return os << static_cast<int>(r); }
}  // namespace vnet::wire

namespace {

/// Header octets 0-43 (op .. chaddr), 192 zero octets of sname and file, then tail (cookie
/// and options), zero-padded to total octets.
std::vector<std::byte> bootp(std::string_view head, std::string_view tail, std::size_t total = 0) {
    auto b = hex(head);
    b.resize(dhcp_view::field::sname + dhcp_view::sname_len + dhcp_view::file_len);
    auto t = hex(tail);
    b.insert(b.end(), t.begin(), t.end());
    if (b.size() < total) b.resize(total);
    return b;
}

// The four messages of Wireshark's sample capture dhcp.pcap
// (https://wiki.wireshark.org/SampleCaptures, "dhcp.pcap": a DISCOVER / OFFER / REQUEST /
// ACK exchange between client 00:0b:82:01:fc:42 and server 192.168.0.1). These are the
// UDP payloads of its four frames, byte for byte: the fixed header is all zero from octet
// 44 to 235 (no sname, no file), DISCOVER and REQUEST are 272 octets (the client did not
// pad to 300), OFFER and ACK 300.
const std::string_view client_head =
    "0101060000003d1d 00000000 00000000 00000000 00000000 00000000 000b8201fc42 00000000000000000000";
const auto discover = bootp(client_head, "63825363 350101 3d0701000b8201fc42 320400000000 3704 0103062a ff", 272);
const auto offer = bootp("0201060000003d1d 00000000 00000000 c0a8000a c0a80001 00000000 000b8201fc42 00000000000000000000",
                         "63825363 350102 0104ffffff00 3a0400000708 3b0400000c4e 330400000e10 3604c0a80001 ff", 300);
const auto request = bootp("0101060000003d1e 00000000 00000000 00000000 00000000 00000000 000b8201fc42 00000000000000000000",
                           "63825363 350103 3d0701000b8201fc42 3204c0a8000a 3604c0a80001 3704 0103062a ff", 272);
const auto ack = bootp("0201060000003d1e 00000000 00000000 c0a8000a 00000000 00000000 000b8201fc42 00000000000000000000",
                       "63825363 350105 3a0400000708 3b0400000c4e 330400000e10 3604c0a80001 0104ffffff00 ff", 300);

/// A client message from the capture's header with the given options after the cookie.
std::vector<std::byte> with_options(std::string_view options, std::size_t total = 0) {
    return bootp(client_head, fmt::format("63825363 {}", options), total);
}

std::vector<std::uint8_t> codes(const dhcp_view& v) {
    std::vector<std::uint8_t> c;
    for (const auto& o : v.options()) c.push_back(o.code);
    return c;
}

error dhcp_err(errc e, std::string_view field) { return error{layer::dhcp, e, field}; }

/// A message that owns its bytes together with its (successfully parsed) view.
struct parsed_message {
    std::vector<std::byte> bytes;
    dhcp_view v;
    const dhcp_view* operator->() const { return &v; }
};

parsed_message parse_options(std::string_view options) {
    auto b = with_options(options);
    auto v = dhcp_view::parse(view(b));
    BOOST_REQUIRE(v);
    return parsed_message{std::move(b), *v};  // moving the vector keeps its storage
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dhcp)

// RFC 2131 section 2 fixed header and RFC 2132 options of the capture's DISCOVER.
BOOST_AUTO_TEST_CASE(wireshark_discover) {
    BOOST_REQUIRE_EQUAL(discover.size(), 272u);
    auto v = dhcp_view::parse(view(discover));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->op() == bootp_op::request);
    BOOST_TEST(v->htype() == bootp_htype::ethernet);
    BOOST_TEST(v->hlen() == 6);
    BOOST_TEST(v->hops() == 0);
    BOOST_TEST(v->xid() == 0x3d1du);
    BOOST_TEST(v->secs() == 0);
    BOOST_TEST(!v->broadcast());
    BOOST_TEST(v->ciaddr().is_unspecified());
    BOOST_TEST(v->yiaddr().is_unspecified());
    BOOST_TEST(fmt::format("{}", *v->client_mac()) == "00:0b:82:01:fc:42");
    BOOST_TEST(v->chaddr().size() == 6u);
    BOOST_TEST(v->sname().empty());
    BOOST_TEST(v->file().empty());
    BOOST_TEST(v->has_cookie());
    BOOST_TEST(v->has_end());
    BOOST_TEST(v->overload() == 0);
    BOOST_TEST(codes(*v) == (std::vector<std::uint8_t>{53, 61, 50, 55}), boost::test_tools::per_element());
    BOOST_TEST(*v->message_type() == dhcp_message_type::discover);
    BOOST_TEST(fmt::format("{}", *v->message_type()) == "DHCPDISCOVER");
    BOOST_TEST(*v->requested_address() == ipv4_address::any());
    std::array<std::byte, 16> buf{};
    auto cid = v->client_identifier(buf);
    BOOST_REQUIRE(cid);
    BOOST_TEST(equal_bytes(*cid, view(hex("01000b8201fc42"))));
    auto prl = v->parameter_request_list(buf);
    BOOST_REQUIRE(prl);
    BOOST_TEST(equal_bytes(*prl, view(hex("0103062a"))));
    // absent options are errc::not_found naming the option
    BOOST_TEST(v->server_identifier().error() == dhcp_err(errc::not_found, "server_identifier"));
    BOOST_TEST(v->lease_time().error() == dhcp_err(errc::not_found, "lease_time"));
}

BOOST_AUTO_TEST_CASE(wireshark_offer) {
    auto v = dhcp_view::parse(view(offer));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->op() == bootp_op::reply);
    BOOST_TEST(v->xid() == 0x3d1du);
    BOOST_TEST(v->yiaddr() == ipv4_address(192, 168, 0, 10));
    BOOST_TEST(v->siaddr() == ipv4_address(192, 168, 0, 1));
    BOOST_TEST(*v->message_type() == dhcp_message_type::offer);
    BOOST_TEST(*v->subnet_mask() == ipv4_address(255, 255, 255, 0));
    BOOST_TEST(*v->renewal_time() == 1800u);
    BOOST_TEST(*v->rebinding_time() == 3150u);
    BOOST_TEST(*v->lease_time() == 3600u);
    BOOST_TEST(*v->server_identifier() == ipv4_address(192, 168, 0, 1));
    BOOST_TEST(codes(*v) == (std::vector<std::uint8_t>{53, 1, 58, 59, 51, 54}), boost::test_tools::per_element());
    std::array<ipv4_address, 4> routers{};
    BOOST_TEST(v->routers(routers).error() == dhcp_err(errc::not_found, "router"));
}

BOOST_AUTO_TEST_CASE(wireshark_request_and_ack) {
    auto r = dhcp_view::parse(view(request));
    BOOST_REQUIRE(r);
    BOOST_TEST(r->xid() == 0x3d1eu);
    BOOST_TEST(*r->message_type() == dhcp_message_type::request);
    BOOST_TEST(*r->requested_address() == ipv4_address(192, 168, 0, 10));
    BOOST_TEST(*r->server_identifier() == ipv4_address(192, 168, 0, 1));
    auto a = dhcp_view::parse(view(ack));
    BOOST_REQUIRE(a);
    BOOST_TEST(a->xid() == r->xid());
    BOOST_TEST(*a->message_type() == dhcp_message_type::ack);
    BOOST_TEST(a->yiaddr() == *r->requested_address());
    BOOST_TEST(a->siaddr().is_unspecified());
    BOOST_TEST(*a->subnet_mask() == ipv4_address(255, 255, 255, 0));
    BOOST_TEST(*a->lease_time() == 3600u);
}

// parse -> repr -> emit reproduces each captured message octet for octet (option order and
// length are recorded by parse).
BOOST_AUTO_TEST_CASE(wireshark_round_trips) {
    for (const auto* msg : {&discover, &offer, &request, &ack}) {
        auto v = dhcp_view::parse(view(*msg));
        BOOST_REQUIRE(v);
        auto r = dhcp_repr::parse(*v);
        BOOST_REQUIRE(r);
        BOOST_TEST(r->buffer_len() == msg->size());
        std::vector<std::byte> out(r->buffer_len());
        auto n = r->emit(out);
        BOOST_REQUIRE(n);
        BOOST_TEST(*n == msg->size());
        BOOST_TEST(equal_bytes(out, view(*msg)));
        auto again = dhcp_repr::parse(*dhcp_view::parse(out));
        BOOST_REQUIRE(again);
        BOOST_TEST((*again == *r));
    }
    auto d = *dhcp_repr::parse(*dhcp_view::parse(view(discover)));
    BOOST_TEST(*d.client_mac() == mac_address(0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42));
    BOOST_TEST(d.parameter_request_list == (std::vector<std::uint8_t>{1, 3, 6, 42}), boost::test_tools::per_element());
    BOOST_TEST(d.client_identifier == (std::vector<std::uint8_t>{1, 0, 0x0b, 0x82, 0x01, 0xfc, 0x42}),
               boost::test_tools::per_element());
    std::vector<std::byte> small(271);
    BOOST_TEST(d.emit(small).error() == dhcp_err(errc::buffer_too_small, "message"));
}

// A server builds the OFFER from scratch: the options come in the order of the client's
// parameter request list (option 55), after the message type, and the options the client
// did not ask for follow. RFC 1542 section 2.1: the message is padded to 300 octets.
BOOST_AUTO_TEST_CASE(reply_follows_parameter_request_list) {
    dhcp_repr r;
    r.op = bootp_op::reply;
    r.xid = 0x3d1d;
    r.yiaddr = ipv4_address(192, 168, 0, 10);
    r.siaddr = ipv4_address(192, 168, 0, 1);
    r.set_client_mac(mac_address(0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42));
    r.message_type = dhcp_message_type::offer;
    r.server_identifier = ipv4_address(192, 168, 0, 1);
    r.lease_time = 3600;
    r.subnet_mask = ipv4_address(255, 255, 255, 0);
    r.routers = {ipv4_address(192, 168, 0, 1)};
    r.dns_servers = {ipv4_address(192, 168, 0, 1), ipv4_address(8, 8, 8, 8)};
    r.domain_name = "lab.example";
    r.interface_mtu = 1500;
    // dhclient-style request: 1 28 2 3 15 6 119 12 ... 121 26 (2 and 12 not served)
    r.option_order = {1, 28, 2, 3, 15, 6, 119, 12, 121, 26};
    std::vector<std::byte> out(r.buffer_len());
    BOOST_TEST(out.size() == 300u);
    BOOST_REQUIRE(r.emit(out));
    auto v = dhcp_view::parse(out);
    BOOST_REQUIRE(v);
    BOOST_TEST(codes(*v) == (std::vector<std::uint8_t>{53, 1, 3, 15, 6, 26, 54, 51}), boost::test_tools::per_element());
    BOOST_TEST(v->has_end());
    // other flag bits are zero on send (RFC 2131 section 2)
    BOOST_TEST(v->flags() == 0);
    std::array<ipv4_address, 2> dns{};
    BOOST_TEST(*v->dns_servers(dns) == 2u);
    BOOST_TEST(dns[1] == ipv4_address(8, 8, 8, 8));
    BOOST_TEST(v->dns_server_count() == 2u);
    std::array<ipv4_address, 1> one{};
    BOOST_TEST(v->dns_servers(one).error() == dhcp_err(errc::buffer_too_small, "dns_servers"));
    std::array<char, 64> text{};
    BOOST_TEST(*v->domain_name(text) == "lab.example");
    BOOST_TEST(*v->interface_mtu() == 1500);
    // the end option sits right after the last option, then zero padding
    const std::size_t end_at = 240 + 3 + 6 + 6 + 13 + 10 + 4 + 6 + 6;
    BOOST_TEST(u8(out[end_at]) == 255);
    BOOST_TEST(u8(out[end_at + 1]) == 0);
    BOOST_TEST(u8(out.back()) == 0);
}

// RFC 2131 section 2: flags bits other than broadcast must be zero on send, ignored on receive.
BOOST_AUTO_TEST_CASE(flags_reserved_bits_tolerated) {
    auto b = with_options("350101 ff");
    b[dhcp_view::field::flags] = std::byte{0x80};
    b[dhcp_view::field::flags + 1] = std::byte{0x01};
    auto v = dhcp_view::parse(view(b));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->broadcast());
    BOOST_TEST(v->flags() == 0x8001);
    auto r = *dhcp_repr::parse(*v);
    BOOST_TEST(r.broadcast);
    std::vector<std::byte> out(r.buffer_len());
    BOOST_REQUIRE(r.emit(out));
    BOOST_TEST(load_be16(out, dhcp_view::field::flags) == 0x8000);
}

// RFC 2131 section 3 / RFC 951: the cookie 99.130.83.99 starts the options. A message that
// ends at the vendor field, or carries a zero vendor field, is plain BOOTP; any other
// cookie is rejected.
BOOST_AUTO_TEST_CASE(magic_cookie) {
    auto plain = bootp(client_head, "");
    BOOST_REQUIRE_EQUAL(plain.size(), 236u);
    auto p = dhcp_view::parse(view(plain));
    BOOST_REQUIRE(p);
    BOOST_TEST(!p->has_cookie());
    BOOST_TEST(p->options().empty());
    BOOST_TEST(p->message_type().error() == dhcp_err(errc::not_found, "message_type"));

    auto zero_vendor = bootp(client_head, "", 300);
    auto z = dhcp_view::parse(view(zero_vendor));
    BOOST_REQUIRE(z);
    BOOST_TEST(!z->has_cookie());
    auto zr = *dhcp_repr::parse(*z);
    BOOST_TEST(!zr.magic_cookie);
    std::vector<std::byte> out(zr.buffer_len());
    BOOST_TEST(*zr.emit(out) == 300u);
    BOOST_TEST(equal_bytes(out, view(zero_vendor)));

    auto wrong = bootp(client_head, "63825364 350101 ff");
    BOOST_TEST(dhcp_view::parse(view(wrong)).error() == dhcp_err(errc::bad_value, "cookie"));
    auto partial = bootp(client_head, "6382");
    BOOST_TEST(dhcp_view::parse(view(partial)).error() == dhcp_err(errc::truncated, "cookie"));
}

// RFC 2131 section 2: hlen is at most 16 (the size of chaddr); op is BOOTREQUEST or BOOTREPLY.
BOOST_AUTO_TEST_CASE(header_fields_checked) {
    auto b = with_options("350101 ff");
    b[dhcp_view::field::hlen] = std::byte{17};
    BOOST_TEST(dhcp_view::parse(view(b)).error() == dhcp_err(errc::bad_value, "hlen"));
    b[dhcp_view::field::hlen] = std::byte{16};
    BOOST_TEST(dhcp_view::parse(view(b))->chaddr().size() == 16u);
    BOOST_TEST(!dhcp_view::parse(view(b))->client_mac());
    b[dhcp_view::field::op] = std::byte{3};
    BOOST_TEST(dhcp_view::parse(view(b)).error() == dhcp_err(errc::bad_value, "op"));
    dhcp_repr r;
    r.hlen = 17;
    std::vector<std::byte> out(400);
    BOOST_TEST(r.emit(out).error() == dhcp_err(errc::bad_value, "hlen"));
    r.hlen = 6;
    r.sname = std::string(64, 's');
    BOOST_TEST(r.emit(out).error() == dhcp_err(errc::too_long, "sname"));
    r.sname = "boot-server";
    r.file = "pxelinux.0";
    auto n = r.emit(out);
    BOOST_REQUIRE(n);
    auto v = dhcp_view::parse(bytes_view(out).first(*n));
    BOOST_TEST(v->sname() == "boot-server");
    BOOST_TEST(v->file() == "pxelinux.0");
}

// Truncated at every byte: the fixed header is "truncated header", a partial cookie
// "truncated cookie", an option cut inside its length or data "bad option" naming
// "options"; a cut between options parses (the end option is missing, as real clients
// sometimes send) and says so through has_end().
BOOST_AUTO_TEST_CASE(truncated_at_every_byte) {
    for (const auto* msg : {&discover, &offer}) {
        // option boundaries of the message: after the cookie, after each option
        std::vector<std::size_t> boundaries{240};
        for (std::size_t pos = 240; u8((*msg)[pos]) != 255; pos += 2 + u8((*msg)[pos + 1]))
            boundaries.push_back(pos + 2 + u8((*msg)[pos + 1]));
        const std::size_t end_at = boundaries.back();
        test::for_each_truncation(view(*msg), [&](bytes_view b) {
            auto v = dhcp_view::parse(b);
            const std::size_t n = b.size();
            if (n < 236) {
                BOOST_TEST(v.error() == dhcp_err(errc::truncated, "header"));
            } else if (n == 236) {
                BOOST_TEST((v && !v->has_cookie()));
            } else if (n < 240) {
                BOOST_TEST(v.error() == dhcp_err(errc::truncated, "cookie"));
            } else if (n > end_at) {
                BOOST_TEST((v && v->has_end()));
            } else if (std::find(boundaries.begin(), boundaries.end(), n) != boundaries.end()) {
                BOOST_REQUIRE(v);
                BOOST_TEST(!v->has_end());
                auto r = dhcp_repr::parse(*v);
                BOOST_TEST(r.has_value());
            } else {
                BOOST_TEST(v.error() == dhcp_err(errc::bad_option, "options"));
            }
        });
    }
}

// RFC 2132 section 2: an option's length octet and data must lie inside the message.
BOOST_AUTO_TEST_CASE(options_overflowing_the_buffer) {
    BOOST_TEST(dhcp_view::parse(view(with_options("350101 0c05616263"))).error() == dhcp_err(errc::bad_option, "options"));
    BOOST_TEST(dhcp_view::parse(view(with_options("350101 0c"))).error() == dhcp_err(errc::bad_option, "options"));
    BOOST_TEST(dhcp_view::parse(view(with_options("35ff01"))).error() == dhcp_err(errc::bad_option, "options"));
    // pads are single octets, and bytes after the end option are not options
    auto ok = parse_options("00 00 350101 00 ff 0c ff 01");
    BOOST_TEST(ok->has_end());
    BOOST_TEST(codes(ok.v) == (std::vector<std::uint8_t>{53}), boost::test_tools::per_element());
}

// RFC 2132 section 9.3 and RFC 2131 section 4.1: option 52 = 3 continues the options in
// `file`, then in `sname`; each region ends with its own end option.
BOOST_AUTO_TEST_CASE(overload_in_file_and_sname) {
    auto b = with_options("350105 340103 3304 00000e10 ff");
    // file (octet 108): subnet mask, end
    const auto file_opts = hex("0104ffffff00 ff");
    std::copy(file_opts.begin(), file_opts.end(), b.begin() + dhcp_view::field::file);
    // sname (octet 44): host name "vm1", router, end
    const auto sname_opts = hex("0c03766d31 0304c0a80001 ff");
    std::copy(sname_opts.begin(), sname_opts.end(), b.begin() + dhcp_view::field::sname);
    auto v = dhcp_view::parse(view(b));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->overload() == 3);
    BOOST_TEST(v->has_end());
    BOOST_TEST(codes(*v) == (std::vector<std::uint8_t>{53, 52, 51, 1, 12, 3}), boost::test_tools::per_element());
    std::vector<dhcp_option_region> regions;
    for (const auto& o : v->options()) regions.push_back(o.region);
    BOOST_TEST((regions == std::vector<dhcp_option_region>{dhcp_option_region::options, dhcp_option_region::options,
                                                           dhcp_option_region::options, dhcp_option_region::file,
                                                           dhcp_option_region::sname, dhcp_option_region::sname}));
    BOOST_TEST(v->sname().empty());
    BOOST_TEST(v->file().empty());
    BOOST_TEST(*v->subnet_mask() == ipv4_address(255, 255, 255, 0));
    std::array<char, 16> name{};
    BOOST_TEST(*v->host_name(name) == "vm1");
    auto r = dhcp_repr::parse(*v);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->host_name == "vm1");
    BOOST_TEST(r->routers == std::vector<ipv4_address>{ipv4_address(192, 168, 0, 1)}, boost::test_tools::per_element());
    BOOST_TEST(r->sname.empty());
    // re-emitted without overload: everything in the options field, same values
    std::vector<std::byte> out(r->buffer_len());
    BOOST_REQUIRE(r->emit(out));
    auto back = dhcp_view::parse(out);
    BOOST_TEST(back->overload() == 0);
    auto r2 = *dhcp_repr::parse(*back);
    r2.min_len = r->min_len;
    BOOST_TEST((r2 == *r));

    // overload 1: only file holds options; sname stays text
    auto b1 = b;
    b1[240 + 3 + 2] = std::byte{1};
    std::fill(b1.begin() + dhcp_view::field::sname, b1.begin() + dhcp_view::field::file, std::byte{0});
    const std::string_view server = "dhcp-1";
    std::copy(server.begin(), server.end(), reinterpret_cast<char*>(b1.data()) + dhcp_view::field::sname);
    auto v1 = dhcp_view::parse(view(b1));
    BOOST_REQUIRE(v1);
    BOOST_TEST(v1->sname() == "dhcp-1");
    BOOST_TEST(codes(*v1) == (std::vector<std::uint8_t>{53, 52, 51, 1}), boost::test_tools::per_element());

    // malformed: option 52 of length 2, value 4, an option running past `file`
    BOOST_TEST(dhcp_view::parse(view(with_options("34020303 ff"))).error() == dhcp_err(errc::bad_length, "overload"));
    BOOST_TEST(dhcp_view::parse(view(with_options("340104 ff"))).error() == dhcp_err(errc::bad_value, "overload"));
    auto past = with_options("340101 ff");
    past[dhcp_view::field::cookie - 2] = std::byte{12};
    past[dhcp_view::field::cookie - 1] = std::byte{5};
    BOOST_TEST(dhcp_view::parse(view(past)).error() == dhcp_err(errc::bad_option, "file"));
    auto past_sname = with_options("340102 ff");
    past_sname[dhcp_view::field::file - 1] = std::byte{12};
    BOOST_TEST(dhcp_view::parse(view(past_sname)).error() == dhcp_err(errc::bad_option, "sname"));
    // a missing end in `file` is tolerated and reported
    auto no_end = with_options("340101 ff");
    std::fill(no_end.begin() + dhcp_view::field::file, no_end.begin() + dhcp_view::field::cookie, std::byte{0});
    auto ne = dhcp_view::parse(view(no_end));
    BOOST_REQUIRE(ne);
    BOOST_TEST(!ne->has_end());
}

// RFC 3396 section 4 / 5: instances of one option are concatenated in order; a sender
// splits values over 255 octets into consecutive instances.
BOOST_AUTO_TEST_CASE(concatenated_long_options) {
    dhcp_repr r;
    r.message_type = dhcp_message_type::ack;
    r.message = std::string(300, 'x') + std::string(300, 'y');
    r.extra_options.push_back({43, std::vector<std::uint8_t>(255, 0xab)});  // exactly one full instance
    r.extra_options.push_back({80, {}});                                    // RFC 4039 rapid commit: length 0
    std::vector<std::byte> out(r.buffer_len());
    BOOST_TEST(out.size() == 240u + 3 + (2 * 3 + 600) + (2 + 255) + 2 + 1);
    BOOST_REQUIRE(r.emit(out));
    auto v = dhcp_view::parse(out);
    BOOST_REQUIRE(v);
    BOOST_TEST(codes(*v) == (std::vector<std::uint8_t>{53, 56, 56, 56, 43, 80}), boost::test_tools::per_element());
    BOOST_TEST(v->option_len(code::message) == 600u);
    BOOST_TEST(v->option(code::message)->size() == 255u);  // the first instance only
    std::vector<std::size_t> sizes;
    BOOST_TEST(v->for_each_instance(code::message, [&](bytes_view d) { sizes.push_back(d.size()); }) == 3u);
    BOOST_TEST(sizes == (std::vector<std::size_t>{255, 255, 90}), boost::test_tools::per_element());
    std::vector<char> text(600);
    BOOST_TEST(*v->message(text) == r.message);
    std::vector<char> small(599);
    BOOST_TEST(v->message(small).error() == dhcp_err(errc::buffer_too_small, "message"));
    BOOST_TEST(v->option(80)->empty());
    auto back = *dhcp_repr::parse(*v);
    BOOST_TEST(back.message == r.message);
    BOOST_TEST(back.extra_options.size() == 2u);
    BOOST_TEST((back.extra_options[0] == r.extra_options[0]));
    BOOST_TEST((back.extra_options[1] == r.extra_options[1]));

    // a 4-octet lease time split over two instances is one value of 3600
    auto split = parse_options("350105 33020000 33020e10 ff");
    BOOST_TEST(*split->lease_time() == 3600u);
    std::array<std::byte, 4> first{};
    BOOST_TEST(split->copy_option(code::lease_time, first)->size() == 4u);
    BOOST_TEST(split->option(code::lease_time)->size() == 2u);
    // a router list split inside an address
    auto routers = parse_options("0306c0a80001c0a8 0302 0002 ff");
    std::array<ipv4_address, 2> addrs{};
    BOOST_TEST(*routers->routers(addrs) == 2u);
    BOOST_TEST(addrs[1] == ipv4_address(192, 168, 0, 2));
}

// RFC 3397 section 2's example: "eng.apple.com." and "marketing.apple.com." with the
// second compressed to a pointer at offset 4, the 27 octets split over three instances of
// 9 octets (RFC 3396), pointer offsets counted in the concatenated data.
BOOST_AUTO_TEST_CASE(domain_search_rfc3397_example) {
    auto b = with_options(
        "770903656e6705617070 6c"
        "7709 6503636f6d00096d61"
        "7709 726b6574696e67c004 ff");
    auto v = dhcp_view::parse(view(b));
    BOOST_REQUIRE(v);
    BOOST_TEST(v->option_len(code::domain_search) == 27u);
    std::array<std::byte, 64> scratch{};
    std::vector<std::string> names;
    auto n = v->domain_search(scratch, [&](std::string_view s) { names.emplace_back(s); });
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == 2u);
    BOOST_TEST(names == (std::vector<std::string>{"eng.apple.com", "marketing.apple.com"}), boost::test_tools::per_element());
    std::array<std::byte, 26> small{};
    BOOST_TEST(v->domain_search(small, [](std::string_view) {}).error() == dhcp_err(errc::buffer_too_small, "domain_search"));
    auto r = dhcp_repr::parse(*v);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->domain_search == names, boost::test_tools::per_element());
    // the encoder compresses the same way as the RFC
    auto enc = dhcp_repr::encode_domain_search({"eng.apple.com", "marketing.apple.com."});
    BOOST_REQUIRE(enc);
    const auto rfc = hex("03656e6705617070 6c 6503636f6d00096d61 726b6574696e67c004");
    BOOST_TEST(equal_bytes(as_bytes_view(std::span<const std::uint8_t>(*enc)), view(rfc)));
    BOOST_TEST(dhcp_repr::encode_domain_search({"a..b"}).error() == dhcp_err(errc::bad_value, "domain_search"));
    BOOST_TEST(dhcp_repr::encode_domain_search({std::string(64, 'a')}).error() == dhcp_err(errc::bad_value, "domain_search"));
}

// RFC 1035 section 4.1.4 pointers inside option 119 (RFC 3397 section 2): only backward
// pointers to data not yet read for the name; loops, forward pointers, overruns and names
// over 255 octets are errors.
BOOST_AUTO_TEST_CASE(domain_search_malformed) {
    auto decode = [](std::string_view h) {
        auto d = hex(h);
        return for_each_search_domain(view(d), [](std::string_view) {});
    };
    BOOST_TEST(decode("c000").error() == dhcp_err(errc::loop, "domain_search"));
    BOOST_TEST(decode("0161c000").error() == dhcp_err(errc::loop, "domain_search"));
    BOOST_TEST(decode("016100 0162c003").error() == dhcp_err(errc::loop, "domain_search"));
    BOOST_TEST(decode("c00200").error() == dhcp_err(errc::bad_pointer, "domain_search"));
    BOOST_TEST(decode("016100 0162c009 00 00 00").error() == dhcp_err(errc::bad_pointer, "domain_search"));
    BOOST_TEST(decode("03656e").error() == dhcp_err(errc::bad_length, "domain_search"));
    BOOST_TEST(decode("016100 0162c0").error() == dhcp_err(errc::bad_length, "domain_search"));
    BOOST_TEST(decode("0161").error() == dhcp_err(errc::bad_length, "domain_search"));
    BOOST_TEST(decode("").error() == dhcp_err(errc::bad_length, "domain_search"));
    BOOST_TEST(decode("4161 00").error() == dhcp_err(errc::bad_value, "domain_search"));
    std::string longname;
    for (int i = 0; i < 5; ++i) longname += "3f" + std::string(126, '6');
    BOOST_TEST(decode(longname + "00").error() == dhcp_err(errc::too_long, "domain_search"));
    // a chain of backward pointers to earlier names is fine
    std::vector<std::string> names;
    auto ok = hex("016100 0162c000 0163c003");
    BOOST_TEST(*for_each_search_domain(view(ok), [&](std::string_view s) { names.emplace_back(s); }) == 3u);
    BOOST_TEST(names == (std::vector<std::string>{"a", "b.a", "c.b.a"}), boost::test_tools::per_element());
    // the same errors through a message and dhcp_repr::parse
    auto loop = parse_options("7704 0161c000 ff");
    BOOST_TEST(dhcp_repr::parse(loop.v).error() == dhcp_err(errc::loop, "domain_search"));
}

// RFC 3442 section 3's destination descriptor examples: width, then only the significant
// octets of the destination, then the router.
BOOST_AUTO_TEST_CASE(classless_static_routes_rfc3442) {
    auto b = with_options(
        "79 34"
        "00 c0a80001"          // 0.0.0.0/0 (default route) via 192.168.0.1
        "080a c0a80002"        // 10.0.0.0/8
        "180a0000 c0a80003"    // 10.0.0.0/24
        "100a11 c0a80004"      // 10.17.0.0/16
        "180a1b81 c0a80005"    // 10.27.129.0/24
        "190ae50080 c0a80006"  // 10.229.0.128/25
        "200ac67a2f c0a80007"  // 10.198.122.47/32
        "ff");
    auto v = dhcp_view::parse(view(b));
    BOOST_REQUIRE(v);
    std::vector<std::string> got;
    auto n = v->classless_static_routes(
        [&](const classless_route& r) { got.push_back(fmt::format("{} via {}", r.destination, r.router)); });
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == 7u);
    const std::vector<std::string> want{"0.0.0.0/0 via 192.168.0.1",       "10.0.0.0/8 via 192.168.0.2",
                                        "10.0.0.0/24 via 192.168.0.3",     "10.17.0.0/16 via 192.168.0.4",
                                        "10.27.129.0/24 via 192.168.0.5",  "10.229.0.128/25 via 192.168.0.6",
                                        "10.198.122.47/32 via 192.168.0.7"};
    BOOST_TEST(got == want, boost::test_tools::per_element());
    auto r = dhcp_repr::parse(*v);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->classless_static_routes.size() == 7u);
    auto enc = dhcp_repr::encode_classless_routes(r->classless_static_routes);
    BOOST_TEST(equal_bytes(as_bytes_view(std::span<const std::uint8_t>(enc)), *v->option(code::classless_static_routes)));
    std::vector<std::byte> out(r->buffer_len());
    BOOST_REQUIRE(r->emit(out));
    BOOST_TEST(equal_bytes(out, view(b)));

    // split across two instances inside a descriptor (RFC 3396)
    auto split = parse_options("7903 180a1b 7905 81c0a80005 ff");
    std::vector<classless_route> routes;
    BOOST_TEST(*split->classless_static_routes([&](const classless_route& x) { routes.push_back(x); }) == 1u);
    BOOST_TEST(routes[0].destination == *ipv4_prefix::parse("10.27.129.0/24"));

    // bad widths and lengths
    auto bad = [](std::string_view opt) {
        auto m = parse_options(opt);
        return m->classless_static_routes([](const classless_route&) {}).error();
    };
    BOOST_TEST(bad("7905 21c0a80001 ff") == dhcp_err(errc::bad_value, "classless_static_routes"));
    BOOST_TEST(bad("7909 ff0a0000000a000001 ff") == dhcp_err(errc::bad_value, "classless_static_routes"));
    BOOST_TEST(bad("7904 00c0a800 ff") == dhcp_err(errc::bad_length, "classless_static_routes"));
    BOOST_TEST(bad("7907 180a0000c0a800 ff") == dhcp_err(errc::bad_length, "classless_static_routes"));
    BOOST_TEST(bad("7900 ff") == dhcp_err(errc::bad_length, "classless_static_routes"));
    auto d = hex("21 0a000000 0a000001");
    BOOST_TEST(for_each_classless_route(view(d), [](const classless_route&) {}).error() ==
               dhcp_err(errc::bad_value, "classless_static_routes"));
}

// RFC 2132: each typed option has a fixed length or a minimum; a wrong length is an error
// naming the option (through the accessor and through dhcp_repr::parse).
BOOST_AUTO_TEST_CASE(bad_lengths_for_each_typed_option) {
    struct bad_case {
        std::string_view options;
        errc what;
        std::string_view field;
    };
    const bad_case cases[] = {
        {"350201 01", errc::bad_length, "message_type"},  // RFC 2132 9.6: length 1
        {"3500", errc::bad_length, "message_type"},
        {"350100", errc::bad_value, "message_type"},
        {"3203c0a800", errc::bad_length, "requested_address"},      // 9.1: length 4
        {"3605c0a8000101", errc::bad_length, "server_identifier"},  // 9.7
        {"330300000e", errc::bad_length, "lease_time"},             // 9.2
        {"3a020007", errc::bad_length, "renewal_time"},             // 9.11
        {"3b0500000c4e00", errc::bad_length, "rebinding_time"},     // 9.12
        {"0103ffffff", errc::bad_length, "subnet_mask"},            // 3.3
        {"1c00", errc::bad_length, "broadcast_address"},            // 5.3
        {"0300", errc::bad_length, "router"},                       // 3.5: multiple of 4, at least 4
        {"0305c0a8000101", errc::bad_length, "router"},
        {"0602c0a8", errc::bad_length, "dns_servers"},         // 3.8
        {"0c00", errc::bad_length, "host_name"},               // 3.14: at least 1
        {"0f00", errc::bad_length, "domain_name"},             // 3.17
        {"1a0105", errc::bad_length, "interface_mtu"},         // 5.1: length 2
        {"1a020043", errc::bad_value, "interface_mtu"},        //      at least 68
        {"3700", errc::bad_length, "parameter_request_list"},  // 9.8: at least 1
        {"3800", errc::bad_length, "message"},                 // 9.9
        {"3903000240", errc::bad_length, "max_message_size"},  // 9.10: length 2
        {"39020200", errc::bad_value, "max_message_size"},
        {"3902023f", errc::bad_value, "max_message_size"},               //       at least 576
        {"3c00", errc::bad_length, "vendor_class_id"},                   // 9.13
        {"3d0101", errc::bad_length, "client_identifier"},               // 9.14: at least 2
        {"7700", errc::bad_length, "domain_search"},                     // RFC 3397
        {"7904 00c0a800", errc::bad_length, "classless_static_routes"},  // RFC 3442
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT("options " << c.options) {
            auto b = with_options(fmt::format("{} ff", c.options));
            auto v = dhcp_view::parse(view(b));
            BOOST_REQUIRE(v);
            auto r = dhcp_repr::parse(*v);
            BOOST_REQUIRE(!r);
            BOOST_TEST(r.error() == dhcp_err(c.what, c.field));
        }
    }
}

// Every typed accessor reports the same error as dhcp_repr::parse for its option.
BOOST_AUTO_TEST_CASE(typed_accessors_report_errors) {
    std::array<std::byte, 300> buf{};
    std::array<char, 300> text{};
    std::array<ipv4_address, 8> addrs{};
    auto v = [](std::string_view o) { return parse_options(fmt::format("{} ff", o)); };
    BOOST_TEST(v("3203c0a800")->requested_address().error() == dhcp_err(errc::bad_length, "requested_address"));
    BOOST_TEST(v("1c03ffffff")->broadcast_address().error() == dhcp_err(errc::bad_length, "broadcast_address"));
    BOOST_TEST(v("1a020043")->interface_mtu().error() == dhcp_err(errc::bad_value, "interface_mtu"));
    BOOST_TEST(*v("1a0205dc")->interface_mtu() == 1500);
    BOOST_TEST(*v("39020240")->max_message_size() == 576);
    BOOST_TEST(v("0305c0a8000101")->routers(addrs).error() == dhcp_err(errc::bad_length, "router"));
    BOOST_TEST(v("0c00")->host_name(text).error() == dhcp_err(errc::bad_length, "host_name"));
    BOOST_TEST(*v("0c03766d31")->host_name(text) == "vm1");
    BOOST_TEST(v("3800")->message(text).error() == dhcp_err(errc::bad_length, "message"));
    BOOST_TEST(v("3c00")->vendor_class_id(buf).error() == dhcp_err(errc::bad_length, "vendor_class_id"));
    BOOST_TEST(v("3d0101")->client_identifier(buf).error() == dhcp_err(errc::bad_length, "client_identifier"));
    BOOST_TEST(v("3700")->parameter_request_list(buf).error() == dhcp_err(errc::bad_length, "parameter_request_list"));
    BOOST_TEST(v("7700")->domain_search(buf, [](std::string_view) {}).error() == dhcp_err(errc::bad_length, "domain_search"));
    auto udhcpc = v("3c0c756468637020312e33362e31");  // busybox udhcpc's default vendor class "udhcp 1.36.1"
    BOOST_TEST(udhcpc->vendor_class_id(buf)->size() == 12u);
    BOOST_TEST(udhcpc->option_len(code::vendor_class_id) == 12u);
}

// Every field set: emit -> parse -> repr gives the same values; the emitted order is kept.
BOOST_AUTO_TEST_CASE(full_repr_round_trip) {
    dhcp_repr r;
    r.op = bootp_op::reply;
    r.hops = 1;
    r.xid = 0xdeadbeef;
    r.secs = 7;
    r.broadcast = true;
    r.ciaddr = ipv4_address(10, 0, 0, 5);
    r.yiaddr = ipv4_address(10, 0, 0, 6);
    r.siaddr = ipv4_address(10, 0, 0, 1);
    r.giaddr = ipv4_address(10, 0, 1, 1);
    r.set_client_mac(mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, 0x10));
    r.sname = "server";
    r.file = "boot.img";
    r.message_type = dhcp_message_type::ack;
    r.subnet_mask = ipv4_address(255, 255, 255, 0);
    r.broadcast_address = ipv4_address(10, 0, 0, 255);
    r.requested_address = ipv4_address(10, 0, 0, 6);
    r.server_identifier = ipv4_address(10, 0, 0, 1);
    r.lease_time = 0xffffffffu;
    r.renewal_time = 1800;
    r.rebinding_time = 3150;
    r.interface_mtu = 1400;
    r.max_message_size = 1500;
    r.routers = {ipv4_address(10, 0, 0, 1)};
    r.dns_servers = {ipv4_address(10, 0, 0, 1), ipv4_address(1, 1, 1, 1)};
    r.host_name = "eflow";
    r.domain_name = "lab.example";
    r.message = "ok";
    r.parameter_request_list = {1, 3, 6, 15, 119, 121};
    r.vendor_class_id = {'d', 'h', 'c', 'p', 'c', 'd'};
    r.client_identifier = {1, 0x00, 0x15, 0x5d, 0x00, 0x00, 0x10};
    r.domain_search = {"lab.example", "corp.lab.example"};
    r.classless_static_routes = {{*ipv4_prefix::parse("0.0.0.0/0"), ipv4_address(10, 0, 0, 1)},
                                 {*ipv4_prefix::parse("172.16.0.0/12"), ipv4_address(10, 0, 0, 2)}};
    r.extra_options = {{42, {10, 0, 0, 1}}};
    std::vector<std::byte> out(r.buffer_len());
    auto n = r.emit(out);
    BOOST_REQUIRE(n);
    auto v = dhcp_view::parse(out);
    BOOST_REQUIRE(v);
    BOOST_TEST(v->flags() == 0x8000);
    BOOST_TEST(v->hops() == 1);
    auto back = dhcp_repr::parse(*v);
    BOOST_REQUIRE(back);
    std::vector<std::uint8_t> want_order{53};
    for (auto c : dhcp_repr::default_option_order)
        if (c != 53) want_order.push_back(c);
    want_order.push_back(42);
    BOOST_TEST(back->option_order == want_order, boost::test_tools::per_element());
    auto expected = r;
    expected.option_order = back->option_order;
    expected.min_len = *n;
    BOOST_TEST((*back == expected));
    std::vector<std::byte> again(back->buffer_len());
    BOOST_REQUIRE(back->emit(again));
    BOOST_TEST(equal_bytes(again, out));
    // a raw option with a typed code is sent when the typed field is unset
    dhcp_repr raw;
    raw.message_type = dhcp_message_type::inform;
    raw.extra_options = {{code::host_name, {'h'}}};
    std::vector<std::byte> o2(raw.buffer_len());
    BOOST_REQUIRE(raw.emit(o2));
    std::array<char, 4> t{};
    BOOST_TEST(*dhcp_view::parse(o2)->host_name(t) == "h");
    raw.extra_options = {{code::end, {}}};
    BOOST_TEST(raw.emit(o2).error() == dhcp_err(errc::bad_value, "option"));
}

BOOST_AUTO_TEST_CASE(message_type_names) {
    BOOST_TEST(to_string(dhcp_message_type::offer) == "DHCPOFFER");
    BOOST_TEST(to_string(dhcp_message_type::nak) == "DHCPNAK");
    BOOST_TEST(to_string(dhcp_message_type::inform) == "DHCPINFORM");
    BOOST_TEST(to_string(static_cast<dhcp_message_type>(13)) == "unknown");
    BOOST_TEST(dhcp_option_name(121) == "classless_static_routes");
    BOOST_TEST(dhcp_option_name(200) == "option");
}

BOOST_AUTO_TEST_SUITE_END()
