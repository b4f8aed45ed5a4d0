// NVSP and RNDIS codecs (include/vnet/netvsc/nvsp.hpp, rndis.hpp). Byte vectors are
// written from the layouts in docs/netvsc-facts.md section 2 (NVSP) and section 3
// (RNDIS); all fields little-endian.
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <type_traits>
#include <vector>

#include <vnet/netvsc/nvsp.hpp>
#include <vnet/netvsc/rndis.hpp>

#include "test_util.hpp"

VNET_TEST_PRINTABLE_NAMESPACE(vnet::netvsc)

using namespace vnet;
using namespace vnet::netvsc;
using vnet::test::hex;
using vnet::test::view;

namespace {

error nv_err(errc e, std::string_view f) { return error{layer::netvsc, e, f}; }

/// hex, zero-padded to n bytes.
std::vector<std::byte> padded(std::string_view s, std::size_t n) {
    auto b = hex(s);
    b.resize(n);
    return b;
}

template <class T>
T nvsp_as(const std::vector<std::byte>& b, nvsp_direction d = nvsp_direction::guest_to_host) {
    auto m = parse_nvsp(view(b), d);
    BOOST_REQUIRE(m);
    BOOST_REQUIRE(std::holds_alternative<T>(*m));
    return std::get<T>(*m);
}

void check_emit(const nvsp_message& m, const std::vector<std::byte>& expect) {
    auto b = make_nvsp(m);
    BOOST_TEST(b.len == expect.size());
    BOOST_TEST(equal_bytes(b.view(), view(expect)));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(netvsc_nvsp)

// docs/netvsc-facts.md section 2: versions 1 = 0x2, 2 = 0x30002, 4 = 0x40000, 5 = 0x50000,
// 6 = 0x60000, 6.1 = 0x60001; NDIS 6.1 = 0x60001, 6.30 = 0x6001e.
BOOST_AUTO_TEST_CASE(version_constants) {
    BOOST_TEST(nvsp_version::v1 == 0x2u);
    BOOST_TEST(nvsp_version::v2 == 0x30002u);
    BOOST_TEST(nvsp_version::v4 == 0x40000u);
    BOOST_TEST(nvsp_version::v5 == 0x50000u);
    BOOST_TEST(nvsp_version::v6 == 0x60000u);
    BOOST_TEST(nvsp_version::v61 == 0x60001u);
    BOOST_TEST(nvsp_version::newest_first.front() == nvsp_version::v61);
    BOOST_TEST(nvsp_version::newest_first.back() == nvsp_version::v1);
    BOOST_TEST(ndis_version::v6_30 == 0x0006001eu);
}

// docs/netvsc-facts.md section 2: INIT min_ver @4, max_ver @8; vnet emits 40 bytes (DPDK size).
BOOST_AUTO_TEST_CASE(init_bytes) {
    auto b = padded("01000000 01000600 01000600", 40);
    check_emit(nvsp_init{nvsp_version::v61, nvsp_version::v61}, b);
    auto m = nvsp_as<nvsp_init>(b);
    BOOST_TEST(m.min_version == 0x60001u);
    BOOST_TEST(m.max_version == 0x60001u);
    // A 28-byte (OpenVMM v1) and a 32-byte (FreeBSD) message decode the same.
    BOOST_TEST(nvsp_as<nvsp_init>(padded("01000000 02000000 02000000", 28)).max_version == 2u);
    BOOST_TEST(nvsp_as<nvsp_init>(padded("01000000 02000000 02000000", 32)).min_version == 2u);
}

// docs/netvsc-facts.md section 2: INIT_COMPLETE negotiated @4, max_mdl_chain_len @8, status @12.
BOOST_AUTO_TEST_CASE(init_complete_bytes) {
    auto b = padded("02000000 00000500 22000000 01000000", 40);
    check_emit(nvsp_init_complete{0x50000, 34, nvsp_status::success}, b);
    auto m = nvsp_as<nvsp_init_complete>(b);
    BOOST_TEST(m.status == nvsp_status::success);
    BOOST_TEST(m.max_mdl_chain_len == 34u);
}

// docs/netvsc-facts.md section 2: 100 ndis_major @4, minor @8; 125 mtu @4, reserved @8, u64 caps @12.
BOOST_AUTO_TEST_CASE(ndis_version_and_config_bytes) {
    check_emit(nvsp_ndis_version{6, 30}, padded("64000000 06000000 1e000000", 40));
    auto cfg = padded("7d000000 ea050000 00000000 ac00000000000000", 40);  // mtu 1514; sriov|ieee8021q|teaming|rsc
    check_emit(
        nvsp_ndis_config{1514, 0,
                         ndis_config_cap::sriov | ndis_config_cap::ieee8021q | ndis_config_cap::teaming | ndis_config_cap::rsc},
        cfg);
    auto m = nvsp_as<nvsp_ndis_config>(cfg);
    BOOST_TEST(m.mtu == 1514u);
    BOOST_TEST(m.capabilities == 0xacu);
}

// docs/netvsc-facts.md section 2: 101 / 104 gpadl @4, u16 id @8 (0xCAFE receive, 0 send);
// 102 status @4, num_sections @8, section @12 {offset, sub_alloc_size, num_sub_allocs,
// end_offset}; 105 status @4, section_size @8.
BOOST_AUTO_TEST_CASE(buffer_messages_bytes) {
    check_emit(nvsp_send_receive_buffer{0x1234, nvsp_receive_buffer_id}, padded("65000000 34120000 feca", 40));
    check_emit(nvsp_send_send_buffer{0x99, nvsp_send_buffer_id}, padded("68000000 99000000 0000", 40));
    auto c = padded("66000000 01000000 01000000 00000000 c0060000 b8250000 009afe00", 40);
    check_emit(nvsp_receive_buffer_complete{1, 1, {0, 1728, 9656, 1728 * 9656}}, c);
    auto m = nvsp_as<nvsp_receive_buffer_complete>(c, nvsp_direction::host_to_guest);
    BOOST_TEST(m.section.num_sub_allocs == 9656u);
    BOOST_TEST(m.section.end_offset == 1728u * 9656u);
    check_emit(nvsp_send_buffer_complete{1, 6144}, padded("69000000 01000000 00180000", 40));
    check_emit(nvsp_revoke_receive_buffer{}, padded("67000000 feca", 40));
    check_emit(nvsp_revoke_send_buffer{}, padded("6a000000 0000", 40));
}

// docs/netvsc-facts.md section 2: 107 channel_type @4, section index @8 (0xFFFFFFFF none),
// section size @12; 108 status @4.
BOOST_AUTO_TEST_CASE(rndis_packet_messages_bytes) {
    check_emit(nvsp_rndis_packet{0, 3, 98}, padded("6b000000 00000000 03000000 62000000", 40));
    check_emit(nvsp_rndis_packet{1, nvsp_no_section, 0}, padded("6b000000 01000000 ffffffff 00000000", 40));
    check_emit(nvsp_rndis_packet_complete{nvsp_status::success}, padded("6c000000 01000000", 40));
}

// docs/netvsc-facts.md section 2: 128 allocated @4, serial @8; 129 datapath @4; 133 op @4 /
// status @4, num_subchannels @8; 134 count @4 (16), offset @8.
BOOST_AUTO_TEST_CASE(vf_subchannel_table_bytes) {
    check_emit(nvsp_vf_association{1, 7}, padded("80000000 01000000 07000000", 40));
    check_emit(nvsp_switch_data_path{nvsp_switch_data_path::vf}, padded("81000000 01000000", 40));
    auto sc = padded("85000000 01000000 03000000", 40);
    BOOST_TEST(nvsp_as<nvsp_subchannel_request>(sc, nvsp_direction::guest_to_host).num_subchannels == 3u);
    BOOST_TEST(nvsp_as<nvsp_subchannel_complete>(sc, nvsp_direction::host_to_guest).status == 1u);
    nvsp_indirection_table t;
    for (std::size_t i = 0; i < 16; ++i) t.table[i] = static_cast<std::uint32_t>(i % 2);
    auto b = make_nvsp(t);
    BOOST_TEST(b.len == 76u);
    BOOST_TEST(equal_bytes(b.view().first(12), view(hex("86000000 10000000 0c000000"))));
    auto back = parse_nvsp(b.view(), nvsp_direction::host_to_guest);
    BOOST_REQUIRE(back);
    BOOST_TEST((std::get<nvsp_indirection_table>(*back) == t));
    // A table offset that points past the message is an error.
    auto bad = padded("86000000 10000000 1c000000", 40);
    BOOST_TEST(parse_nvsp(view(bad), nvsp_direction::host_to_guest).error() == nv_err(errc::bad_length, "nvsp.offset"));
}

// Every message type must be long enough for its fields; unknown types are unsupported.
BOOST_AUTO_TEST_CASE(truncated_and_unknown) {
    BOOST_TEST(nvsp_view::parse(view(hex("0100"))).error() == nv_err(errc::truncated, "nvsp.header"));
    BOOST_TEST(nvsp_view::parse(view(hex("01000000 02000000"))).error() == nv_err(errc::truncated, "nvsp.fields"));
    BOOST_TEST(nvsp_view::parse(view(hex("66000000 01000000 01000000"))).error() == nv_err(errc::truncated, "nvsp.fields"));
    BOOST_TEST(parse_nvsp(view(padded("83000000", 40)), nvsp_direction::guest_to_host).error() ==
               nv_err(errc::unsupported, "nvsp.type"));
    BOOST_TEST(parse_nvsp(view(padded("ffff0000", 40)), nvsp_direction::guest_to_host).error() ==
               nv_err(errc::unsupported, "nvsp.type"));
    for (const nvsp_message& m : {nvsp_message{nvsp_init{2, 2}}, nvsp_message{nvsp_ndis_config{1514, 0, 8}},
                                  nvsp_message{nvsp_receive_buffer_complete{1, 1, {0, 1728, 10, 17280}}}}) {
        auto b = make_nvsp(m);
        vnet::test::for_each_truncation(b.view().first(nvsp_fields_len(static_cast<std::uint32_t>(type_of(m)))),
                                        [](bytes_view t) { BOOST_TEST(!nvsp_view::parse(t)); });
        auto back = parse_nvsp(b.view(), nvsp_direction::guest_to_host);
        BOOST_REQUIRE(back);
        BOOST_TEST((*back == m));
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(netvsc_rndis)

// docs/netvsc-facts.md section 3: INIT req_id @8, major 1 @12, minor 0 @16, max_xfer @20
// (Linux 0x4000); 24 bytes.
BOOST_AUTO_TEST_CASE(init_request_bytes) {
    auto expect = hex("02000000 18000000 01000000 01000000 00000000 00400000");
    std::array<std::byte, 64> out{};
    auto n = rndis_init_request{1}.emit(out);
    BOOST_REQUIRE(n);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(expect)));
    auto v = rndis_message_view::parse(view(expect));
    BOOST_REQUIRE(v);
    auto r = rndis_init_request::parse(*v);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->max_transfer_size == 0x4000u);
}

// docs/netvsc-facts.md section 3: INIT_C req_id @8, status @12, major @16, minor @20, devflags
// @24 (1), medium @28 (0), max_pkt_per_msg @32, max_xfer @36, align @40, af_off @44,
// af_len @48; 52 bytes.
BOOST_AUTO_TEST_CASE(init_complete_bytes) {
    auto expect = hex(
        "02000080 34000000 01000000 00000000 01000000 00000000 01000000 00000000"
        "08000000 00400000 03000000 00000000 00000000");
    std::array<std::byte, 64> out{};
    auto n = rndis_init_complete{1}.emit(out);
    BOOST_REQUIRE(n);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(expect)));
    auto r = rndis_init_complete::parse(*rndis_message_view::parse(view(expect)));
    BOOST_REQUIRE(r);
    BOOST_TEST((*r == rndis_init_complete{1}));
}

// docs/netvsc-facts.md section 3: QUERY req_id @8, oid @12, info_len @16, info_off @20 (from
// byte 8; Linux 20), vc @24, info @28; QUERY_C info_off counted from byte 8.
BOOST_AUTO_TEST_CASE(query_and_complete_bytes) {
    auto q = hex("04000000 1c000000 02000000 06010100 00000000 14000000 00000000");
    std::array<std::byte, 64> out{};
    auto n = rndis_oid_request{rndis_type::query, 2, rndis_oid::gen_maximum_frame_size}.emit(out);
    BOOST_REQUIRE(n);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(q)));
    auto qc = hex("04000080 1c000000 02000000 00000000 04000000 10000000 dc050000");
    auto c = rndis_query_complete::parse(*rndis_message_view::parse(view(qc)));
    BOOST_REQUIRE(c);
    BOOST_TEST(c->request_id == 2u);
    BOOST_REQUIRE(c->info.size() == 4u);
    BOOST_TEST(load_le32(c->info, 0) == 1500u);
    std::array<std::byte, 4> mtu{};
    store_le32(mtu, 0, 1500);
    n = rndis_query_complete{2, rndis_status::success, mtu}.emit(out);
    BOOST_REQUIRE(n);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(qc)));
    // An info buffer past the end of the message is an error.
    auto bad = hex("04000080 1c000000 02000000 00000000 08000000 10000000 dc050000");
    BOOST_TEST(rndis_query_complete::parse(*rndis_message_view::parse(view(bad))).error() ==
               nv_err(errc::bad_length, "rndis.info"));
}

// docs/netvsc-facts.md section 3: SET with the info buffer; SET_C req_id @8, status @12.
BOOST_AUTO_TEST_CASE(set_and_complete_bytes) {
    auto s = hex("05000000 20000000 07000000 0e010100 04000000 14000000 00000000 0d000000");
    auto r = rndis_oid_request::parse(*rndis_message_view::parse(view(s)));
    BOOST_REQUIRE(r);
    BOOST_TEST(r->type == rndis_type::set);
    BOOST_TEST(r->oid == rndis_oid::gen_current_packet_filter);
    BOOST_TEST(load_le32(r->info, 0) == rndis_packet_filter_linux_open);
    std::array<std::byte, 64> out{};
    auto n = r->emit(out);
    BOOST_REQUIRE(n);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(s)));
    n = rndis_simple_complete{rndis_type::set_complete, 7, rndis_status::success}.emit(out);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(hex("05000080 10000000 07000000 00000000"))));
}

// docs/netvsc-facts.md section 3: RESET reserved @8; RESET_C status @8, addressing_reset @12;
// HALT and KEEPALIVE req_id @8; KEEPALIVE_C req_id @8, status @12.
BOOST_AUTO_TEST_CASE(reset_halt_keepalive_bytes) {
    std::array<std::byte, 64> out{};
    auto n = rndis_simple_request{rndis_type::reset, 0}.emit(out);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(hex("06000000 0c000000 00000000"))));
    n = rndis_reset_complete{0, 1}.emit(out);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(hex("06000080 10000000 00000000 01000000"))));
    n = rndis_simple_request{rndis_type::halt, 9}.emit(out);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(hex("03000000 0c000000 09000000"))));
    n = rndis_simple_request{rndis_type::keepalive, 10}.emit(out);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(hex("08000000 0c000000 0a000000"))));
    n = rndis_simple_complete{rndis_type::keepalive_complete, 10, 0}.emit(out);
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(hex("08000080 10000000 0a000000 00000000"))));
}

// docs/netvsc-facts.md section 3: INDICATE_STATUS status @8, buf_len @12, buf_off @16;
// MEDIA_CONNECT 0x4001000B, MEDIA_DISCONNECT 0x4001000C.
BOOST_AUTO_TEST_CASE(indicate_status_bytes) {
    std::array<std::byte, 64> out{};
    auto n = rndis_indicate_status{rndis_status::media_disconnect}.emit(out);
    auto expect = hex("07000000 14000000 0c000140 00000000 00000000");
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(expect)));
    auto r = rndis_indicate_status::parse(*rndis_message_view::parse(view(expect)));
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 0x4001000Cu);
    BOOST_TEST(r->buffer.empty());
}

// docs/netvsc-facts.md section 3: PACKET header 44 bytes, offsets from byte 8; Linux TX puts
// ppi_off = 36 and the data after the PPIs; a PPI is {size, type, ppi_offset 12} + data;
// VLAN PPI type 6 with priority bits 0-2, CFI 3, VLAN ID 4-15.
BOOST_AUTO_TEST_CASE(packet_with_vlan_ppi_bytes) {
    auto frame = hex("ffffffffffff 00155d000010 0806 0001");
    rndis_packet_info info;
    info.vlan = ieee8021q_info{5, false, 10};
    std::array<std::byte, 128> out{};
    auto n = emit_rndis_packet(out, info, view(frame));
    BOOST_REQUIRE(n);
    auto expect = hex(
        "01000000 4c000000 34000000 10000000 00000000 00000000 00000000 24000000 10000000 00000000 00000000"
        "10000000 06000000 0c000000 a5000000"
        "ffffffffffff 00155d000010 0806 0001");
    BOOST_REQUIRE(*n == expect.size());
    BOOST_TEST(equal_bytes(bytes_view(out).first(*n), view(expect)));
    auto p = rndis_packet_view::parse(view(expect));
    BOOST_REQUIRE(p);
    BOOST_TEST(equal_bytes(p->frame(), view(frame)));
    BOOST_REQUIRE(p->info().vlan.has_value());
    BOOST_TEST(p->info().vlan->vlan_id == 10u);
    BOOST_TEST(p->info().vlan->priority == 5u);
    BOOST_TEST(!p->info().checksum.has_value());
    BOOST_TEST((ieee8021q_info{7, true, 4094}.to_u32() == 0xffefu));
}

// Checksum (type 0) and hash value (type 8) PPIs round trip next to the VLAN one.
BOOST_AUTO_TEST_CASE(packet_all_ppis_round_trip) {
    auto frame = hex("0015 5d000011 00155d000010 0800 4500");
    rndis_packet_info info{ieee8021q_info{0, false, 4094}, rx_checksum::ip_ok | rx_checksum::tcp_ok, 0xdeadbeef};
    std::vector<std::byte> out(rndis_packet_len(info, frame.size()));
    BOOST_REQUIRE(emit_rndis_packet(out, info, view(frame)));
    auto p = rndis_packet_view::parse(view(out));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->info() == info);
    int count = 0;
    p->for_each_ppi([&](const rndis_ppi& x) {
        ++count;
        BOOST_TEST(x.data.size() == 4u);
    });
    BOOST_TEST(count == 3);
    rndis_packet_info none;
    std::vector<std::byte> plain(rndis_packet_len(none, frame.size()));
    BOOST_REQUIRE(emit_rndis_packet(plain, none, view(frame)));
    BOOST_TEST(load_le32(plain, 8) == 36u);  // data right after the header
    BOOST_TEST(fmt::format("{}", info) == "vlan 4094 prio 0 csum 0x28 hash 0xdeadbeef ");
}

// A hostile PACKET: offsets below 36 or misaligned, areas past the message, PPI chains
// with sizes below 12, not multiples of 4, past the area, data offsets past the element.
BOOST_AUTO_TEST_CASE(packet_malformed) {
    const std::string_view head = "01000000 4c000000";
    struct bad_case {
        const char* fields;  // data_off .. reserved (36 bytes)
        const char* ppi;     // 16 bytes at 44
        error err;
    };
    const bad_case cases[] = {
        {"20000000 10000000 00000000 00000000 00000000 24000000 10000000 00000000 00000000",
         "10000000 06000000 0c000000 00000000", nv_err(errc::bad_pointer, "rndis.data")},  // data off 32 < 36
        {"35000000 10000000 00000000 00000000 00000000 24000000 10000000 00000000 00000000",
         "10000000 06000000 0c000000 00000000", nv_err(errc::bad_pointer, "rndis.data")},  // misaligned
        {"34000000 11000000 00000000 00000000 00000000 24000000 10000000 00000000 00000000",
         "10000000 06000000 0c000000 00000000", nv_err(errc::bad_length, "rndis.data")},  // past the end
        {"34000000 10000000 00000000 00000000 00000000 24000000 14000000 00000000 00000000",
         "10000000 06000000 0c000000 00000000", nv_err(errc::truncated, "rndis.ppi")},  // 4 trailing bytes
        {"34000000 10000000 00000000 00000000 00000000 24000000 10000000 00000000 00000000",
         "08000000 06000000 0c000000 00000000", nv_err(errc::bad_length, "rndis.ppi_size")},  // size 8
        {"34000000 10000000 00000000 00000000 00000000 24000000 10000000 00000000 00000000",
         "0e000000 06000000 0c000000 00000000", nv_err(errc::bad_length, "rndis.ppi_size")},  // size 14
        {"34000000 10000000 00000000 00000000 00000000 24000000 10000000 00000000 00000000",
         "20000000 06000000 0c000000 00000000", nv_err(errc::bad_length, "rndis.ppi_size")},  // size past area
        {"34000000 10000000 00000000 00000000 00000000 24000000 10000000 00000000 00000000",
         "10000000 06000000 14000000 00000000", nv_err(errc::bad_pointer, "rndis.ppi_offset")},  // offset 20 > 16
        {"34000000 10000000 00000000 00000000 00000000 24000000 10000000 00000000 00000000",
         "10000000 06000000 04000000 00000000", nv_err(errc::bad_pointer, "rndis.ppi_offset")},  // offset 4 < 12
        {"34000000 10000000 40000000 ff000000 00000000 24000000 10000000 00000000 00000000",
         "10000000 06000000 0c000000 00000000", nv_err(errc::bad_length, "rndis.oob")},
    };
    for (const auto& c : cases) {
        auto b = hex(head);
        auto f = hex(c.fields);
        auto p = hex(c.ppi);
        b.insert(b.end(), f.begin(), f.end());
        b.insert(b.end(), p.begin(), p.end());
        b.resize(0x4c);
        auto v = rndis_packet_view::parse(view(b));
        BOOST_REQUIRE(!v);
        BOOST_TEST(v.error() == c.err);
    }
    // The message length field: below 8, past the buffer, below the PACKET header.
    BOOST_TEST(rndis_message_view::parse(view(hex("01000000 04000000"))).error() == nv_err(errc::bad_length, "rndis.length"));
    BOOST_TEST(rndis_message_view::parse(view(hex("01000000 40000000"))).error() == nv_err(errc::bad_length, "rndis.length"));
    BOOST_TEST(rndis_message_view::parse(view(padded("01000000 20000000", 32))).error() ==
               nv_err(errc::truncated, "rndis.fields"));
    BOOST_TEST(rndis_message_view::parse(view(padded("09000000 20000000", 32))).error() ==
               nv_err(errc::unsupported, "rndis.type"));
    // Every truncation of a good packet is refused.
    auto frame = hex("ffffffffffff 00155d000010 0806");
    rndis_packet_info info;
    info.vlan = ieee8021q_info{0, false, 5};
    info.hash_value = 7u;
    std::vector<std::byte> good(rndis_packet_len(info, frame.size()));
    BOOST_REQUIRE(emit_rndis_packet(good, info, view(frame)));
    vnet::test::for_each_truncation(view(good), [](bytes_view t) { BOOST_TEST(!rndis_packet_view::parse(t)); });
}

BOOST_AUTO_TEST_SUITE_END()
