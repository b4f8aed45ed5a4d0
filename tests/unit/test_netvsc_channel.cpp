// The host (VSP) and guest (VSC) models of a netvsc channel against each other over two
// rings in memory, and the VSP against hand-made guest packets. Message orders and
// constants are from docs/netvsc-facts.md section 2 (NVSP, "Linux guest init
// order", "Data path") and section 3 (RNDIS, "Linux guest RNDIS init order").
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include <vnet/netvsc/vsc.hpp>
#include <vnet/netvsc/vsp.hpp>

#include "test_util.hpp"

VNET_TEST_PRINTABLE_NAMESPACE(vnet::netvsc)

using namespace vnet;
using namespace vnet::netvsc;
using vnet::test::hex;
using vnet::test::view;

namespace {

const mac_address host_mac(0x00, 0x15, 0x5d, 0x00, 0x00, 0x10);
constexpr std::uint32_t recv_gpadl = 0x100, send_gpadl = 0x101;
constexpr std::size_t ring_pages = 8;  // 32 KiB of data area per ring

struct received {
    std::vector<std::byte> frame;
    rndis_packet_info info;
};

/// Both models over one channel GPADL, a receive buffer, a send buffer and guest memory.
struct channel_lab {
    std::vector<std::byte> gpadl = std::vector<std::byte>(2 * (ring_pages + 1) * vmbus_page_size);
    std::vector<std::byte> recv_buf = std::vector<std::byte>(1728 * 64);
    std::vector<std::byte> send_buf = std::vector<std::byte>(6144 * 16);
    std::vector<std::byte> guest_mem = std::vector<std::byte>(128 * vmbus_page_size);
    std::optional<vsc> guest;
    std::optional<vsp> host;
    std::vector<received> at_host, at_guest;

    explicit channel_lab(vsp_config hc = {}, vsc_config gc = {}, std::size_t receive_sections = 64) {
        recv_buf.resize(1728 * receive_sections);
        hc.mac = host_mac;
        gc.receive_gpadl = recv_gpadl;
        gc.send_gpadl = send_gpadl;
        auto rings = split_channel_memory(gpadl, ring_pages + 1);
        BOOST_REQUIRE(rings);
        auto g = vsc::create(*rings, recv_buf, send_buf, gc, guest_mem);
        BOOST_REQUIRE(g);
        guest.emplace(std::move(*g));
        auto h = vsp::attach(*rings, hc);
        BOOST_REQUIRE(h);
        host.emplace(std::move(*h));
        BOOST_REQUIRE(host->add_gpadl(recv_gpadl, recv_buf));
        BOOST_REQUIRE(host->add_gpadl(send_gpadl, send_buf));
        host->set_guest_memory(guest_mem);
    }

    /// Polls both sides until neither has anything left.
    void pump() {
        for (int i = 0; i < 1000; ++i) {
            auto h = host->poll([&](bytes_view f, const rndis_packet_info& info) {
                at_host.push_back({{f.begin(), f.end()}, info});
            });
            BOOST_REQUIRE(h);
            auto g = guest->poll([&](bytes_view f, const rndis_packet_info& info) {
                at_guest.push_back({{f.begin(), f.end()}, info});
            });
            BOOST_REQUIRE(g);
            if (h->packets == 0 && g->packets == 0) return;
        }
        BOOST_FAIL("channel does not settle");
    }

    void bring_up() {
        BOOST_REQUIRE(guest->start());
        pump();
        BOOST_REQUIRE_EQUAL(guest->state(), vsc_state::ready);
        BOOST_REQUIRE(guest->open());
        pump();
    }
};

vsp_config host_with(std::uint8_t versions) {
    vsp_config c;
    c.versions = versions;
    return c;
}

std::vector<std::byte> test_frame(std::size_t len, std::uint8_t seed) {
    std::vector<std::byte> f(len);
    auto dst = mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, 0x20);
    dst.store(f, 0);
    host_mac.store(f, 6);
    store_be16(f, 12, 0x0800);
    for (std::size_t i = 14; i < len; ++i) f[i] = std::byte(static_cast<std::uint8_t>(seed + i));
    return f;
}

constexpr auto nv = [](nvsp_type t, std::uint32_t v) { return vsc_sent{static_cast<std::uint32_t>(t), 0, 0, v}; };
constexpr auto rq = [](std::uint32_t rtype, std::uint32_t oid, std::uint32_t v = 0) {
    return vsc_sent{static_cast<std::uint32_t>(nvsp_type::send_rndis_packet), rtype, oid, v};
};

/// The messages the Linux guest sends for a host that accepts `version` (docs/netvsc-facts.md
/// section 2 steps 2-6 and section 3 steps 1-7), after the refused newer INITs.
std::vector<vsc_sent> linux_init_order(std::uint32_t version) {
    std::vector<vsc_sent> s;
    for (std::uint32_t v : nvsp_version::newest_first) {
        s.push_back(nv(nvsp_type::init, v));
        if (v == version) break;
    }
    if (version > nvsp_version::v1) s.push_back(nv(nvsp_type::send_ndis_config, 1514));
    s.push_back(nv(nvsp_type::send_ndis_version, version <= nvsp_version::v4 ? 0x00060001u : 0x0006001eu));
    s.push_back(nv(nvsp_type::send_receive_buffer, recv_gpadl));
    s.push_back(nv(nvsp_type::send_send_buffer, send_gpadl));
    s.push_back(rq(rndis_type::init, 0));
    s.push_back(rq(rndis_type::query, 0x00010106));  // OID_GEN_MAXIMUM_FRAME_SIZE
    s.push_back(rq(rndis_type::query, 0x01010101));  // OID_802_3_PERMANENT_ADDRESS
    s.push_back(rq(rndis_type::query, 0xFC01020D));  // OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES
    s.push_back(rq(rndis_type::set, 0xFC01020C));    // OID_TCP_OFFLOAD_PARAMETERS
    s.push_back(rq(rndis_type::query, 0x00010114));  // OID_GEN_MEDIA_CONNECT_STATUS
    if (version >= nvsp_version::v5) {
        s.push_back(rq(rndis_type::query, 0x00010107));  // OID_GEN_LINK_SPEED
        s.push_back(rq(rndis_type::query, 0x00010203));  // OID_GEN_RECEIVE_SCALE_CAPABILITIES
    }
    return s;
}

/// A guest played by hand: raw rings and the VSP.
struct raw_guest {
    std::vector<std::byte> gpadl = std::vector<std::byte>(2 * 5 * vmbus_page_size);
    std::vector<std::byte> recv_buf = std::vector<std::byte>(1728 * 8);
    std::vector<std::byte> send_buf = std::vector<std::byte>(6144 * 4);
    std::vector<std::byte> guest_mem = std::vector<std::byte>(4 * vmbus_page_size);
    std::vector<std::byte> scratch = std::vector<std::byte>(4096);
    std::optional<ring_writer> out;
    std::optional<ring_reader> in;
    std::optional<vsp> host;
    std::size_t frames = 0;
    std::vector<received> got;

    raw_guest() {
        auto rings = split_channel_memory(gpadl, 5);
        BOOST_REQUIRE(ring_init(rings->guest_to_host));
        BOOST_REQUIRE(ring_init(rings->host_to_guest));
        out.emplace(*ring_writer::attach(rings->guest_to_host));
        in.emplace(*ring_reader::attach(rings->host_to_guest));
        vsp_config c;
        c.mac = host_mac;
        host.emplace(*vsp::attach(*rings, c));
        BOOST_REQUIRE(host->add_gpadl(recv_gpadl, recv_buf));
        BOOST_REQUIRE(host->add_gpadl(send_gpadl, send_buf));
        host->set_guest_memory(guest_mem);
    }
    void send(bytes_view nvsp, std::uint64_t tid, bool completion = true, vmbus_packet_type t = vmbus_packet_type::data_inband,
              bytes_view th = {}) {
        BOOST_REQUIRE(out->write(t, completion ? vmbus_flag_completion_requested : 0, tid, th, nvsp));
        BOOST_REQUIRE(host->poll([&](bytes_view f, const rndis_packet_info& info) {
            ++frames;
            got.push_back({{f.begin(), f.end()}, info});
        }));
    }
    void send(const nvsp_message& m, std::uint64_t tid, bool completion = true) { send(make_nvsp(m).view(), tid, completion); }
    /// The next host packet (must exist).
    vmbus_packet_view next() {
        auto p = in->read(scratch);
        BOOST_REQUIRE(p);
        BOOST_REQUIRE(p->has_value());
        return (*p)->packet;
    }
    bool empty() {
        auto p = in->read(scratch);
        return p && !p->has_value();
    }
    /// Negotiates 6.1 and maps both buffers.
    void setup() {
        send(nvsp_init{nvsp_version::v61, nvsp_version::v61}, 1);
        (void)next();
        send(nvsp_send_receive_buffer{recv_gpadl, nvsp_receive_buffer_id}, 2);
        (void)next();
        send(nvsp_send_send_buffer{send_gpadl, nvsp_send_buffer_id}, 3);
        (void)next();
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(netvsc_channel)

// docs/netvsc-facts.md section 2 "Linux guest init order": for each version the host accepts,
// the guest tries the newer ones first (each refused with a failure status), then sends
// NDIS_CONFIG (from NVSP 2), SEND_NDIS_VER (6.1 up to NVSP 4, else 6.30), SEND_RECV_BUF,
// SEND_SEND_BUF and the RNDIS sequence of section 3 (link speed and RSS from NVSP 5).
BOOST_AUTO_TEST_CASE(init_sequence_for_each_version) {
    for (std::uint32_t v : nvsp_version::newest_first) {
        BOOST_TEST_CONTEXT("NVSP version " << std::hex << v) {
            channel_lab lab(host_with(nvsp_version_bit(v)));
            BOOST_REQUIRE(lab.guest->start());
            lab.pump();
            BOOST_TEST(lab.guest->state() == vsc_state::ready);
            BOOST_TEST(lab.guest->protocol_version() == v);
            BOOST_TEST(lab.host->protocol_version() == v);
            auto expect = linux_init_order(v);
            BOOST_TEST(lab.guest->sent() == expect, boost::test_tools::per_element());
            std::size_t refused = 0;
            for (std::uint32_t w : nvsp_version::newest_first) {
                if (w == v) break;
                ++refused;
            }
            BOOST_TEST(lab.host->counters().version_refused == refused);
            BOOST_TEST(lab.host->ndis_version() == (v <= nvsp_version::v4 ? 0x00060001u : 0x0006001eu));
            // NDIS_CONFIG: mtu + 14, ieee8021q; sriov and teaming from 5; rsc from 6.1.
            std::uint64_t caps = 0;
            if (v > nvsp_version::v1) caps |= 0x8;
            if (v >= nvsp_version::v5) caps |= 0x4 | 0x20;
            if (v >= nvsp_version::v61) caps |= 0x80;
            BOOST_TEST(lab.host->ndis_config().capabilities == caps);
            BOOST_TEST(lab.host->ndis_config().mtu == (v > nvsp_version::v1 ? 1514u : 0u));
            BOOST_TEST(lab.guest->mac() == host_mac);
            BOOST_TEST(lab.guest->host_mtu() == 1500u);
            BOOST_TEST(lab.guest->link_up());
            BOOST_TEST(lab.guest->link_speed() == (v >= nvsp_version::v5 ? 100'000'000u : 0u));
            BOOST_TEST(lab.guest->receive_section_size() == 1728u);
            BOOST_TEST(lab.guest->receive_section_count() == 64u);
            BOOST_TEST(lab.guest->send_section_size() == 6144u);
            BOOST_TEST(lab.host->offload_parameters_set());
            BOOST_TEST(lab.host->rndis_ready());
            // Every receive section used for the control replies came back.
            BOOST_TEST(lab.host->receive_sections().in_use() == 0u);
            BOOST_TEST(lab.guest->send_sections().in_use() == 0u);
            // Step 8: open sets the packet filter 0xD.
            BOOST_REQUIRE(lab.guest->open());
            lab.pump();
            BOOST_TEST(lab.host->packet_filter() == 0xDu);
            BOOST_TEST(lab.guest->packet_filter() == 0xDu);
            BOOST_TEST(lab.host->ready());
        }
    }
}

// Version downgrade: a host with NVSP 4 and 2 answers 6.1, 6 and 5 with failure and
// accepts 4 (docs/netvsc-facts.md section 2 step 2: "Status 1 accepts; else next version").
BOOST_AUTO_TEST_CASE(version_downgrade) {
    channel_lab lab(host_with(nvsp_version_bit(nvsp_version::v4) | nvsp_version_bit(nvsp_version::v2)));
    BOOST_REQUIRE(lab.guest->start());
    lab.pump();
    BOOST_TEST(lab.guest->state() == vsc_state::ready);
    BOOST_TEST(lab.guest->protocol_version() == nvsp_version::v4);
    BOOST_TEST(lab.host->counters().version_refused == 3u);
    // The counters print for debugging, refusals by name.
    auto text = fmt::format("{}", lab.host->counters());
    BOOST_TEST(text.find("version_refused 3") != std::string::npos);
    BOOST_TEST(fmt::format("{}", lab.guest->counters()).find("bad_ranges 0") != std::string::npos);
    BOOST_TEST(fmt::format("{}", lab.guest->sent().front()) == "INIT 0x60001");
    BOOST_TEST(fmt::format("{}", lab.guest->state()) == "ready");
    BOOST_TEST(fmt::format("{}", lab.host->endpoint().reader().counters()).find("bad_descriptor 0") != std::string::npos);
}

// A guest asking only for versions the host does not speak ends failed; every INIT was
// answered with INIT_COMPLETE status 2.
BOOST_AUTO_TEST_CASE(guest_asks_unsupported_version) {
    vsc_config gc;
    gc.versions = {0x70000, 0x1, 0, 0, 0, 0};
    gc.version_count = 2;
    channel_lab lab({}, gc);
    BOOST_REQUIRE(lab.guest->start());
    lab.pump();
    BOOST_TEST(lab.guest->state() == vsc_state::failed);
    BOOST_TEST(lab.host->protocol_version() == 0u);
    BOOST_TEST(lab.host->counters().version_refused == 2u);
    BOOST_TEST(lab.guest->sent().size() == 2u);
}

// docs/netvsc-facts.md section 1 and 2: the guest's INIT is an INBAND packet (type 6, flag 1)
// whose payload is INIT {min @4, max @8}; the host answers with a COMP (type 0xB) echoing
// trans_id whose payload is INIT_COMPLETE {status @12}: 1 for 6.1, 2 for 0x70000.
BOOST_AUTO_TEST_CASE(init_bytes_on_the_rings) {
    raw_guest g;
    auto init = hex("01000000 01000600 01000600");  // 12 bytes: too short for a host (below 28)
    g.send(view(init), 0x77);
    BOOST_TEST(g.host->counters().short_messages == 1u);
    BOOST_TEST(g.empty());
    auto init28 = hex("01000000 01000600 01000600 00000000 00000000 00000000 00000000");
    g.send(view(init28), 0x77);
    auto p = g.next();
    BOOST_TEST(p.type() == vmbus_packet_type::completion);
    BOOST_TEST(p.trans_id() == 0x77u);
    BOOST_TEST(equal_bytes(p.bytes().first(8), view(hex("0b00 0200 0700 0000"))));  // 16 + 40 bytes
    BOOST_TEST(equal_bytes(p.payload().first(16), view(hex("02000000 01000600 00000000 01000000"))));
    auto bad = hex("01000000 00000700 00000700 00000000 00000000 00000000 00000000 00000000");  // 32 bytes
    g.send(view(bad), 0x78);
    auto q = g.next();
    BOOST_TEST(q.trans_id() == 0x78u);
    BOOST_TEST(equal_bytes(q.payload().first(16), view(hex("02000000 00000000 00000000 02000000"))));
}

// docs/netvsc-facts.md section 2 step 5: the receive-buffer completion has one section at
// offset 0; an unknown GPADL is answered with status 2.
BOOST_AUTO_TEST_CASE(receive_and_send_buffer_completions) {
    raw_guest g;
    g.send(nvsp_init{nvsp_version::v5, nvsp_version::v5}, 1);
    (void)g.next();
    g.send(nvsp_send_receive_buffer{0x999, nvsp_receive_buffer_id}, 2);
    auto f = g.next();
    BOOST_TEST(equal_bytes(f.payload().first(8), view(hex("66000000 02000000"))));
    BOOST_TEST(g.host->counters().unknown_gpadl == 1u);
    g.send(nvsp_send_receive_buffer{recv_gpadl, nvsp_receive_buffer_id}, 3);
    auto r = g.next();
    BOOST_TEST(r.trans_id() == 3u);
    BOOST_TEST(equal_bytes(r.payload().first(28), view(hex("66000000 01000000 01000000 00000000 c0060000 08000000 00360000"))));
    g.send(nvsp_send_send_buffer{send_gpadl, nvsp_send_buffer_id}, 4);
    auto s = g.next();
    BOOST_TEST(equal_bytes(s.payload().first(12), view(hex("69000000 01000000 00180000"))));
    BOOST_TEST(g.host->send_section_count() == 4u);
    // SUBCHANNEL allocate: this host offers no subchannels (COMP status 2).
    g.send(nvsp_subchannel_request{1, 4}, 5);
    auto sc = g.next();
    BOOST_TEST(equal_bytes(sc.payload().first(12), view(hex("85000000 02000000 00000000"))));
    // SWITCH_DATA_PATH is recorded; without the completion flag, no reply.
    g.send(nvsp_switch_data_path{nvsp_switch_data_path::vf}, 6, false);
    BOOST_TEST(g.host->data_path() == 1u);
    BOOST_TEST(g.empty());
    // With it (Linux netvsc_switch_datapath waits for it), a COMP with no payload echoing
    // trans_id: Linux's netvsc_send_completion takes msglen 0 as "completion without data
    // payload" and completes the SWITCH_DATA_PATH it sent.
    g.send(nvsp_switch_data_path{nvsp_switch_data_path::synthetic}, 7);
    auto dp = g.next();
    BOOST_TEST(dp.type() == vmbus_packet_type::completion);
    BOOST_TEST(dp.trans_id() == 7u);
    BOOST_TEST(dp.payload().size() == 0u);
    BOOST_TEST(equal_bytes(dp.bytes(), view(hex("0b00 0200 0200 0000 0700000000000000"))));
    BOOST_TEST(g.host->data_path() == 0u);
    // NDIS_VER and NDIS_CONFIG the same way when asked (Linux does not ask).
    g.send(nvsp_ndis_version{6, 30}, 8);
    BOOST_TEST(g.next().payload().size() == 0u);
    g.send(nvsp_ndis_config{1514, 0, ndis_config_cap::ieee8021q}, 9);
    auto nc = g.next();
    BOOST_TEST(nc.trans_id() == 9u);
    BOOST_TEST(nc.payload().size() == 0u);
    BOOST_TEST(g.host->counters().empty_completions == 3u);
    BOOST_TEST(g.empty());
}

// Hostile guest data path: a section index past the send buffer, a section size above the
// section, a packet before INIT, GPA ranges outside guest memory, a garbage RNDIS message:
// each a failure completion and a named counter, never an out-of-bounds access.
BOOST_AUTO_TEST_CASE(hostile_guest_data_path) {
    raw_guest g;
    g.send(nvsp_rndis_packet{0, 0, 64}, 1);  // before INIT
    auto a = g.next();
    BOOST_TEST(equal_bytes(a.payload().first(8), view(hex("6c000000 02000000"))));
    BOOST_TEST(g.host->counters().unexpected_messages == 1u);
    g.setup();
    g.send(nvsp_rndis_packet{0, 4, 64}, 2);  // 4 sections: index 4 is past the end
    BOOST_TEST(equal_bytes(g.next().payload().first(8), view(hex("6c000000 02000000"))));
    g.send(nvsp_rndis_packet{0, 0, 6145}, 3);
    BOOST_TEST(equal_bytes(g.next().payload().first(8), view(hex("6c000000 02000000"))));
    BOOST_TEST(g.host->counters().bad_send_section == 2u);
    // Section 0 holds a message whose length field runs past the section size given.
    store_bytes(g.send_buf, 0, view(hex("01000000 00010000")));
    g.send(nvsp_rndis_packet{0, 0, 64}, 4);
    BOOST_TEST(equal_bytes(g.next().payload().first(8), view(hex("6c000000 05000000"))));  // INVALID_RNDIS_PKT
    BOOST_TEST(g.host->counters().bad_rndis == 1u);
    // GPA direct with a pfn past guest memory (4 pages), and a range that crosses from the
    // last page into one past the end.
    for (gpa_range r : {gpa_range{64, 0, 4}, gpa_range{64, 4090, 3}}) {
        std::array<gpa_range, 1> rs{r};
        std::array<std::byte, 32> th{};
        auto n = emit_gpa_direct_header(th, rs);
        g.send(make_nvsp(nvsp_rndis_packet{0, nvsp_no_section, 0}).view(), 9, true, vmbus_packet_type::data_using_gpa_direct,
               bytes_view(th).first(*n));
        BOOST_TEST(equal_bytes(g.next().payload().first(8), view(hex("6c000000 02000000"))));
    }
    BOOST_TEST(g.host->counters().bad_gpa_range == 2u);
    // A partial copy (type 9 with a section) naming a section past the send buffer.
    {
        std::array<gpa_range, 1> rs{{{64, 0, 0}}};
        std::array<std::byte, 24> th{};
        auto n = emit_gpa_direct_header(th, rs);
        g.send(make_nvsp(nvsp_rndis_packet{0, 9, 44}).view(), 10, true, vmbus_packet_type::data_using_gpa_direct,
               bytes_view(th).first(*n));
        BOOST_TEST(equal_bytes(g.next().payload().first(8), view(hex("6c000000 02000000"))));
        BOOST_TEST(g.host->counters().bad_send_section == 3u);
    }
    // A completion for a section that is not in flight.
    g.send(nvsp_rndis_packet_complete{1}, 5, false);
    BOOST_REQUIRE(g.out->write(vmbus_packet_type::completion, 0, 3, {}, make_nvsp(nvsp_rndis_packet_complete{1}).view()));
    BOOST_REQUIRE(g.host->poll([](bytes_view, const rndis_packet_info&) {}));
    BOOST_TEST(g.host->counters().bad_completions == 1u);
    BOOST_TEST(g.host->counters().unexpected_messages == 2u);  // the in-band 108
    BOOST_TEST(g.frames == 0u);
}

// A corrupt guest-to-host ring (write index out of range) stops the poll with an error.
BOOST_AUTO_TEST_CASE(corrupt_ring_is_an_error) {
    raw_guest g;
    store_le32(g.gpadl, ring_field::write_index, 0x12345);
    auto r = g.host->poll([](bytes_view, const rndis_packet_info&) {});
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error() == (error{layer::netvsc, errc::bad_pointer, "ring.write_index"}));
    BOOST_TEST(g.host->counters().ring_errors == 1u);
}

// docs/netvsc-facts.md section 2 "Data path" and section 3 PACKET / PPI: frames guest -> host
// through send-buffer sections and host -> guest through receive-buffer sections, with
// the VLAN per-packet info (priority bits 0-2, VLAN ID bits 4-15) carried both ways.
BOOST_AUTO_TEST_CASE(frames_both_ways_with_vlan) {
    channel_lab lab;
    lab.bring_up();
    auto f1 = test_frame(60, 1);
    rndis_packet_info vlan10;
    vlan10.vlan = ieee8021q_info{3, false, 10};
    BOOST_REQUIRE(lab.guest->send(view(f1), vlan10));
    auto f2 = test_frame(1514, 2);
    BOOST_REQUIRE(lab.guest->send(view(f2)));
    lab.pump();
    BOOST_REQUIRE(lab.at_host.size() == 2u);
    BOOST_TEST((lab.at_host[0].frame == f1));
    BOOST_TEST(lab.at_host[0].info == vlan10);
    BOOST_TEST((lab.at_host[1].frame == f2));
    BOOST_TEST(!lab.at_host[1].info.vlan.has_value());
    BOOST_TEST(lab.guest->send_sections().in_use() == 0u);  // completions freed the sections

    rndis_packet_info vlan20;
    vlan20.vlan = ieee8021q_info{0, false, 20};
    vlan20.checksum = rx_checksum::ip_ok | rx_checksum::udp_ok;
    auto f3 = test_frame(1514, 3);
    auto d = lab.host->deliver(view(f3), vlan20);
    BOOST_REQUIRE(d);
    BOOST_TEST(*d);  // the host-to-guest ring went from empty to non-empty
    BOOST_TEST(lab.host->receive_sections().in_use() == 1u);
    lab.pump();
    BOOST_REQUIRE(lab.at_guest.size() == 1u);
    BOOST_TEST((lab.at_guest[0].frame == f3));
    BOOST_TEST(lab.at_guest[0].info == vlan20);
    BOOST_TEST(lab.host->receive_sections().in_use() == 0u);  // the guest's COMP freed it
    BOOST_TEST(lab.host->counters().frames_to_guest == 1u);
    BOOST_TEST(lab.host->counters().frames_from_guest == 2u);
    BOOST_TEST(lab.guest->counters().frames_received == 1u);
}

// docs/netvsc-facts.md section 2 "Data path": GPA direct (type 9) with section index
// 0xFFFFFFFF and size 0; the host gathers the ranges from guest memory.
BOOST_AUTO_TEST_CASE(frames_gpa_direct) {
    vsc_config gc;
    gc.gpa_direct = true;
    gc.gpa_first_page = 8;
    gc.gpa_slots = 4;
    channel_lab lab({}, gc);
    lab.bring_up();
    rndis_packet_info vlan;
    vlan.vlan = ieee8021q_info{0, false, 100};
    for (int i = 0; i < 4; ++i) BOOST_REQUIRE(lab.guest->send(view(test_frame(1514, static_cast<std::uint8_t>(i))), vlan));
    auto busy = lab.guest->send(view(test_frame(64, 9)));
    BOOST_REQUIRE(!busy);  // every GPA slot in flight until the host completes
    BOOST_TEST(busy.error() == (error{layer::netvsc, errc::exhausted, "vsc.gpa_slots"}));
    lab.pump();
    BOOST_REQUIRE(lab.at_host.size() == 4u);
    for (int i = 0; i < 4; ++i) {
        BOOST_TEST((lab.at_host[static_cast<std::size_t>(i)].frame == test_frame(1514, static_cast<std::uint8_t>(i))));
        BOOST_TEST(lab.at_host[static_cast<std::size_t>(i)].info.vlan->vlan_id == 100u);
    }
    BOOST_TEST(lab.guest->send(view(test_frame(64, 9))).has_value());
}

// docs/netvsc-facts.md section 3: link down / up are INDICATE_STATUS MEDIA_DISCONNECT
// (0x4001000C) / MEDIA_CONNECT (0x4001000B) and OID_GEN_MEDIA_CONNECT_STATUS answers 0 for
// connected.
BOOST_AUTO_TEST_CASE(media_disconnect_and_connect) {
    channel_lab lab;
    lab.bring_up();
    BOOST_TEST(lab.guest->link_up());
    const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    BOOST_TEST(lab.host->set_link(false, t0));
    // The indication sits in the receive buffer section the type 7 packet points at.
    BOOST_TEST(lab.host->receive_sections().in_use() == 1u);
    int found = 0;
    for (std::size_t sec = 0; sec < 64; ++sec)
        if (equal_bytes(bytes_view(lab.recv_buf).subspan(sec * 1728, 20),
                        view(hex("07000000 14000000 0c000140 00000000 00000000"))))
            ++found;
    BOOST_TEST(found == 1);
    lab.pump();
    BOOST_TEST(!lab.guest->link_up());
    BOOST_TEST(lab.guest->counters().status_indications == 1u);
    auto refused = lab.host->deliver(view(test_frame(60, 0)));
    BOOST_REQUIRE(!refused);
    BOOST_TEST(refused.error() == (error{layer::netvsc, errc::unsupported, "vsp.link_down"}));
    BOOST_TEST(lab.host->counters().link_down == 1u);
    // Up again one second later: the connect waits until 5 s after the disconnect
    // (OpenVMM LINK_DELAY_DURATION), so the guest does see the link go down.
    (void)lab.host->set_link(true, t0 + std::chrono::seconds(1));
    lab.pump();
    BOOST_TEST(!lab.guest->link_up());
    BOOST_TEST(lab.host->guest_link_up() == false);
    BOOST_TEST((lab.host->next_link_indication() == t0 + std::chrono::seconds(5)));
    (void)lab.host->tick(t0 + std::chrono::milliseconds(4999));
    lab.pump();
    BOOST_TEST(!lab.guest->link_up());
    (void)lab.host->tick(t0 + std::chrono::seconds(5));
    lab.pump();
    BOOST_TEST(lab.guest->link_up());
    BOOST_TEST(lab.host->counters().status_indications == 2u);
    BOOST_TEST(!lab.host->set_link(true, t0 + std::chrono::seconds(6)));  // no change: no indication
    BOOST_TEST(lab.host->counters().status_indications == 2u);
    BOOST_TEST(lab.host->deliver(view(test_frame(60, 0))).has_value());
    // Down, up, down within two seconds, 7 s after the last indication: the disconnect
    // goes at once, and the guest sees each later change 5 s after the one before.
    const auto t1 = t0 + std::chrono::seconds(12);
    (void)lab.host->set_link(false, t1);
    (void)lab.host->set_link(true, t1 + std::chrono::seconds(1));
    (void)lab.host->set_link(false, t1 + std::chrono::seconds(2));
    lab.pump();
    BOOST_TEST(lab.host->counters().status_indications == 3u);
    (void)lab.host->tick(t1 + std::chrono::seconds(5));
    lab.pump();
    BOOST_TEST(lab.guest->link_up());
    BOOST_TEST((lab.host->next_link_indication() == t1 + std::chrono::seconds(10)));
    (void)lab.host->tick(t1 + std::chrono::seconds(10));
    lab.pump();
    BOOST_TEST(!lab.guest->link_up());
    BOOST_TEST(lab.host->counters().status_indications == 5u);
    BOOST_TEST(!lab.host->next_link_indication().has_value());
    // Down-up-down while one change still waits: the pending pair cancels out.
    (void)lab.host->set_link(true, t1 + std::chrono::seconds(11));
    (void)lab.host->set_link(false, t1 + std::chrono::seconds(12));
    (void)lab.host->set_link(true, t1 + std::chrono::seconds(13));
    (void)lab.host->tick(t1 + std::chrono::seconds(15));
    lab.pump();
    BOOST_TEST(lab.guest->link_up());
    BOOST_TEST(lab.host->counters().status_indications == 6u);
}

// A host whose link is down at init answers OID_GEN_MEDIA_CONNECT_STATUS with 1
// (disconnected), and the guest starts with the link down.
BOOST_AUTO_TEST_CASE(link_down_at_init) {
    vsp_config hc;
    hc.link_up = false;
    channel_lab lab(hc);
    BOOST_REQUIRE(lab.guest->start());
    lab.pump();
    BOOST_TEST(lab.guest->state() == vsc_state::ready);
    BOOST_TEST(!lab.guest->link_up());
    (void)lab.host->set_link(true);
    lab.pump();
    BOOST_TEST(lab.guest->link_up());
}

// deliver() refusals: not initialised, packet filter 0 (the guest has not opened or has
// closed), too long, every receive section in flight (the guest has not completed them).
BOOST_AUTO_TEST_CASE(deliver_refusals) {
    channel_lab lab;
    auto f = test_frame(60, 0);
    BOOST_TEST(lab.guest->send(view(f)).error() == (error{layer::netvsc, errc::unsupported, "vsc.not_ready"}));
    BOOST_TEST(lab.guest->counters().not_ready == 1u);
    auto a = lab.host->deliver(view(f));
    BOOST_REQUIRE(!a);
    BOOST_TEST(a.error() == (error{layer::netvsc, errc::unsupported, "vsp.not_ready"}));
    BOOST_REQUIRE(lab.guest->start());
    lab.pump();
    auto b = lab.host->deliver(view(f));
    BOOST_REQUIRE(!b);
    BOOST_TEST(b.error() == (error{layer::netvsc, errc::unsupported, "vsp.packet_filter"}));
    BOOST_REQUIRE(lab.guest->open());
    lab.pump();
    auto big = test_frame(1519, 0);
    BOOST_TEST(lab.host->deliver(view(big)).error() == (error{layer::netvsc, errc::too_long, "vsp.frame"}));
    // 64 sections: the 65th frame finds none until the guest polls.
    for (int i = 0; i < 64; ++i) BOOST_REQUIRE(lab.host->deliver(view(f)));
    auto c = lab.host->deliver(view(f));
    BOOST_REQUIRE(!c);
    BOOST_TEST(c.error() == (error{layer::netvsc, errc::exhausted, "vsp.receive_buffer"}));
    BOOST_TEST(lab.host->counters().no_receive_section == 1u);
    lab.pump();
    BOOST_TEST(lab.at_guest.size() == 64u);
    BOOST_TEST(lab.host->deliver(view(f)).has_value());
    BOOST_REQUIRE(lab.guest->close());
    lab.pump();
    BOOST_TEST(lab.host->packet_filter() == 0u);
    BOOST_TEST(lab.host->deliver(view(f)).error() == (error{layer::netvsc, errc::unsupported, "vsp.packet_filter"}));
    BOOST_TEST(lab.host->counters().filtered == 2u);
}

// The guest runs out of send sections when the host does not complete them.
BOOST_AUTO_TEST_CASE(send_sections_exhausted) {
    channel_lab lab;
    lab.bring_up();
    auto f = test_frame(60, 0);
    for (int i = 0; i < 16; ++i) BOOST_REQUIRE(lab.guest->send(view(f)));
    auto r = lab.guest->send(view(f));
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error() == (error{layer::netvsc, errc::exhausted, "vsc.send_buffer"}));
    BOOST_TEST(lab.guest->counters().no_send_section == 1u);
    auto huge = test_frame(6144, 0);  // 44 + 6144 bytes: more than one 6144-byte section
    BOOST_TEST(lab.guest->send(view(huge)).error() == (error{layer::netvsc, errc::too_long, "vsc.frame"}));
    BOOST_TEST(lab.guest->counters().too_long == 1u);
    lab.pump();
    BOOST_TEST(lab.at_host.size() == 16u);
    BOOST_TEST(lab.guest->send(view(f)).has_value());
}

// RNDIS control answers of the VSP (docs/netvsc-facts.md section 3): KEEPALIVE_C echoes the
// request id, RESET_C, unknown OIDs NOT_SUPPORTED, HALT has no reply.
BOOST_AUTO_TEST_CASE(rndis_control_answers) {
    raw_guest g;
    g.setup();
    // The VSP answers a control message with the reply (type 7 into a receive section),
    // then completes the guest's SEND_RNDIS_PKT with COMP {108, success}.
    auto reply = [&]() -> bytes_view {
        auto p = g.next();
        BOOST_TEST(p.type() == vmbus_packet_type::data_using_xfer_pages);
        BOOST_TEST(p.xfer_pageset_id() == 0xCAFEu);
        BOOST_REQUIRE(p.range_count() == 1u);
        auto r = p.xfer_range(0);
        return bytes_view(g.recv_buf).subspan(r.byte_offset, r.byte_count);
    };
    auto completed = [&]() {
        auto done = g.next();
        BOOST_TEST(done.type() == vmbus_packet_type::completion);
        BOOST_TEST(equal_bytes(done.payload().first(8), view(hex("6c000000 01000000"))));
    };
    auto control = [&](auto msg, std::uint64_t tid, bool answered = true) -> bytes_view {
        auto n = msg.emit(g.send_buf);
        BOOST_REQUIRE(n);
        g.send(nvsp_rndis_packet{1, 0, static_cast<std::uint32_t>(*n)}, tid);
        bytes_view r = answered ? reply() : bytes_view{};
        completed();
        return r;
    };
    auto ic = rndis_init_complete::parse(*rndis_message_view::parse(control(rndis_init_request{5}, 10)));
    BOOST_REQUIRE(ic);
    BOOST_TEST(ic->request_id == 5u);
    BOOST_TEST(ic->status == rndis_status::success);
    BOOST_TEST(ic->packet_alignment == 3u);
    BOOST_TEST(equal_bytes(control(rndis_simple_request{rndis_type::keepalive, 6}, 11),
                           view(hex("08000080 10000000 06000000 00000000"))));
    // Unknown OID: NOT_SUPPORTED, info_len 0 and info_off 16 all the same (the size of the
    // completion's fields after the header, as OpenVMM's netvsp writes it; Linux's
    // rndis_filter_query takes an offset below that as a failed query).
    BOOST_TEST(equal_bytes(control(rndis_oid_request{rndis_type::query, 7, 0x12345678, {}}, 12),
                           view(hex("04000080 18000000 07000000 bb0000c0 00000000 10000000"))));
    BOOST_TEST(equal_bytes(control(rndis_oid_request{rndis_type::query, 8, rndis_oid::permanent_address_802_3, {}}, 13),
                           view(hex("04000080 1e000000 08000000 00000000 06000000 10000000 00155d000010"))));
    BOOST_TEST(
        equal_bytes(control(rndis_simple_request{rndis_type::reset, 0}, 14), view(hex("06000080 10000000 00000000 00000000"))));
    control(rndis_simple_request{rndis_type::halt, 9}, 15, false);
    BOOST_TEST(!g.host->rndis_ready());
    BOOST_TEST(g.empty());
    BOOST_TEST(g.host->counters().unknown_oids == 1u);
}

// docs/netvsc-facts.md section 2 "Data path" / section 3: the Linux guest batches several RNDIS
// messages in one send section, each but the last padded to the device's alignment (the
// VSP advertises 8 in INIT_C); the VSP hands every frame on and completes once.
BOOST_AUTO_TEST_CASE(batched_packets_in_one_section) {
    raw_guest g;
    g.setup();
    auto f1 = test_frame(61, 1);  // 44 + 61 = 105 bytes: padded to 112
    auto f2 = test_frame(60, 2);
    rndis_packet_info none;
    auto n1 = emit_rndis_packet(g.send_buf, none, view(f1));
    BOOST_REQUIRE(n1);
    BOOST_REQUIRE(*n1 == 105u);
    auto n2 = emit_rndis_packet(bytes_span(g.send_buf).subspan(112), none, view(f2));
    BOOST_REQUIRE(n2);
    std::vector<std::vector<std::byte>> got;
    BOOST_REQUIRE(g.out->write(vmbus_packet_type::data_inband, vmbus_flag_completion_requested, 1, {},
                               make_nvsp(nvsp_rndis_packet{0, 0, static_cast<std::uint32_t>(112 + *n2)}).view()));
    BOOST_REQUIRE(g.host->poll([&](bytes_view f, const rndis_packet_info&) { got.emplace_back(f.begin(), f.end()); }));
    BOOST_REQUIRE(got.size() == 2u);
    BOOST_TEST((got[0] == f1));
    BOOST_TEST((got[1] == f2));
    auto done = g.next();
    BOOST_TEST(done.trans_id() == 1u);
    BOOST_TEST(equal_bytes(done.payload().first(8), view(hex("6c000000 01000000"))));
    BOOST_TEST(g.empty());
}

// A hostile host: a transfer-page range outside the receive buffer is counted and
// completed with a failure status; the guest reads nothing from outside its buffer.
BOOST_AUTO_TEST_CASE(guest_refuses_bad_ranges) {
    channel_lab lab;
    lab.bring_up();
    auto rings = split_channel_memory(lab.gpadl, ring_pages + 1);
    auto host_ring = ring_writer::attach(rings->host_to_guest);
    BOOST_REQUIRE(host_ring);
    std::array<xfer_page_range, 1> r{{{64, static_cast<std::uint32_t>(lab.recv_buf.size() - 32)}}};
    std::array<std::byte, 16> th{};
    auto n = emit_xfer_page_header(th, nvsp_receive_buffer_id, false, r);
    BOOST_REQUIRE(host_ring->write(vmbus_packet_type::data_using_xfer_pages, 1, 42, bytes_view(th).first(*n),
                                   make_nvsp(nvsp_rndis_packet{0, nvsp_no_section, 0}).view()));
    auto g = lab.guest->poll([](bytes_view, const rndis_packet_info&) {});
    BOOST_REQUIRE(g);
    BOOST_TEST(lab.guest->counters().bad_ranges == 1u);
    BOOST_TEST(lab.at_guest.empty());
}

// The guest's first packet, byte for byte (docs/netvsc-facts.md section 1 descriptor and
// trailer, section 2 INIT): INBAND (type 6), offset8 2, len8 7 (16 + 40 bytes), flag 1
// (completion requested), INIT {min = max = 0x60001} padded to 40 bytes, trailer 0 << 32.
// The ring went from empty to non-empty with interrupt_mask 0: start() says signal.
BOOST_AUTO_TEST_CASE(guest_init_bytes_on_the_ring) {
    channel_lab lab;
    auto s = lab.guest->start();
    BOOST_REQUIRE(s);
    BOOST_TEST(*s);
    auto ring = bytes_view(lab.gpadl);
    BOOST_TEST(load_le32(ring, ring_field::write_index) == 64u);
    auto expect = hex(
        "0600 0200 0700 0100 0100000000000000"
        "01000000 01000600 01000600 00000000 00000000 00000000 00000000 00000000 00000000 00000000"
        "0000000000000000");
    BOOST_TEST(equal_bytes(ring.subspan(ring_header_len, 64), view(expect)));
    // The host answers with a COMP into the host-to-guest ring at (ring_pages + 1) pages.
    auto h = lab.host->poll([](bytes_view, const rndis_packet_info&) {});
    BOOST_REQUIRE(h);
    BOOST_TEST(h->signal_guest);
    auto down = ring.subspan((ring_pages + 1) * vmbus_page_size);
    BOOST_TEST(equal_bytes(down.subspan(ring_header_len, 32),
                           view(hex("0b00 0200 0700 0000 0100000000000000 02000000 01000600 00000000 01000000"))));
}

// The bulk TCP transmit pattern of the Linux driver (netvsc_send with xmit_more): segments
// of 1514 bytes are copied into one 6144-byte send section, each RNDIS PACKET padded to 8
// with the padding added to its msg_len (netvsc_copy_to_send_buf); the fourth does not fit,
// so only its RNDIS header goes into the section after the other three (cp_partial) and its
// data travels as a GPA range, here 1514 bytes from offset 3500 of page 1 (crossing into
// page 2). The one type 9 packet carries section 0, section_size = 3 * 1560 + 44 = 4724.
BOOST_AUTO_TEST_CASE(linux_batched_transmit_with_partial_copy) {
    raw_guest g;
    g.setup();
    std::vector<std::vector<std::byte>> segs;
    for (std::uint8_t i = 0; i < 4; ++i) segs.push_back(test_frame(1514, i));
    bytes_span sec = bytes_span(g.send_buf).first(6144);
    std::size_t msd = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        auto n = emit_rndis_packet(sec.subspan(msd), {}, view(segs[i]));
        BOOST_REQUIRE(n);
        BOOST_REQUIRE(*n == 1558u);
        store_le32(sec, msd + 4, 1560);  // msg_len += padding
        msd += 1560;
    }
    // The fourth: header only (msg_len 1558, data_len 1514, data_offset 36), data in the range.
    store_bytes(sec, msd,
                view(hex("01000000 16060000 24000000 ea050000 00000000 00000000 00000000 00000000 00000000"
                         "00000000 00000000")));
    std::copy(segs[3].begin(), segs[3].end(), g.guest_mem.begin() + 4096 + 3500);
    std::array<gpa_range, 1> rs{{{1514, 3500, 1}}};
    std::array<std::byte, 32> th{};
    auto hn = emit_gpa_direct_header(th, rs);
    BOOST_REQUIRE(hn);
    BOOST_TEST(equal_bytes(bytes_view(th).first(*hn), view(hex("00000000 01000000 ea050000 ac0d0000 0100000000000000"
                                                               "0200000000000000"))));
    g.send(make_nvsp(nvsp_rndis_packet{0, 0, static_cast<std::uint32_t>(msd + 44)}).view(), 0xffff888012345678u, true,
           vmbus_packet_type::data_using_gpa_direct, bytes_view(th).first(*hn));
    BOOST_REQUIRE(g.got.size() == 4u);
    for (std::size_t i = 0; i < 4; ++i) BOOST_TEST((g.got[i].frame == segs[i]));
    auto c = g.next();
    BOOST_TEST(c.type() == vmbus_packet_type::completion);
    BOOST_TEST(c.trans_id() == 0xffff888012345678u);
    BOOST_TEST(equal_bytes(c.payload().first(8), view(hex("6c000000 01000000"))));
    BOOST_TEST(g.host->counters().bad_rndis == 0u);
    BOOST_TEST(g.host->counters().bad_gpa_range == 0u);
    // The same frame without a section: the header range crosses from page 0 into page 1
    // (4080 + 60 > 4096) and the data range sits in page 3.
    rndis_packet_info csum;
    csum.checksum = 0x11;  // a TX checksum PPI: 60-byte header
    std::vector<std::byte> whole(60 + 1514);
    BOOST_REQUIRE(emit_rndis_packet(whole, csum, view(segs[3])));
    std::copy(whole.begin(), whole.begin() + 60, g.guest_mem.begin() + 4080);
    std::copy(whole.begin() + 60, whole.end(), g.guest_mem.begin() + 3 * 4096 + 100);
    std::array<gpa_range, 2> two{{{60, 4080, 0}, {1514, 100, 3}}};
    std::array<std::byte, 48> th2{};
    auto hn2 = emit_gpa_direct_header(th2, two);
    BOOST_REQUIRE(hn2);
    BOOST_TEST(*hn2 == 48u);  // 8, then 8 + 2 pfns, then 8 + 1 pfn
    g.send(make_nvsp(nvsp_rndis_packet{0, nvsp_no_section, 0}).view(), 11, true, vmbus_packet_type::data_using_gpa_direct,
           bytes_view(th2).first(*hn2));
    BOOST_REQUIRE(g.got.size() == 5u);
    BOOST_TEST((g.got[4].frame == segs[3]));
    BOOST_TEST(g.got[4].info.checksum.value_or(0) == 0x11u);
    BOOST_TEST(equal_bytes(g.next().payload().first(8), view(hex("6c000000 01000000"))));
}

// NDIS_CONFIG's mtu is the guest's MTU + 14 (Linux netvsc_connect_vsp). A guest at MTU
// 9000 gets 9000 from OID_GEN_MAXIMUM_FRAME_SIZE, receive sections of 256 + 9014 + 36
// rounded to 8 = 9312 bytes, and 9014-byte frames; one at MTU 16000 is held to the
// host's 9216 - 14 (OpenVMM MAX_MTU).
BOOST_AUTO_TEST_CASE(ndis_config_mtu_sets_frame_and_section_size) {
    vsc_config jumbo;
    jumbo.mtu = 9000;
    channel_lab lab({}, jumbo);
    lab.bring_up();
    BOOST_TEST(lab.host->ndis_config().mtu == 9014u);
    BOOST_TEST(lab.host->max_frame() == 9014u);
    BOOST_TEST(lab.guest->host_mtu() == 9000u);
    BOOST_TEST(lab.host->receive_section_size() == 9312u);
    BOOST_TEST(lab.guest->receive_section_size() == 9312u);
    BOOST_TEST(lab.guest->receive_section_count() == 1728u * 64 / 9312);
    auto f = test_frame(9014, 7);
    BOOST_REQUIRE(lab.host->deliver(view(f)));
    lab.pump();
    BOOST_REQUIRE(lab.at_guest.size() == 1u);
    BOOST_TEST((lab.at_guest[0].frame == f));
    BOOST_TEST(lab.host->deliver(view(test_frame(9015, 7))).error() == (error{layer::netvsc, errc::too_long, "vsp.frame"}));

    vsc_config huge;
    huge.mtu = 16000;
    channel_lab big({}, huge);
    big.bring_up();
    BOOST_TEST(big.host->max_frame() == 9216u);
    BOOST_TEST(big.guest->host_mtu() == 9202u);
}

// Nothing owed to the guest is dropped: with the host-to-guest ring full of frames (deliver
// stops at the control reserve), the completions of 15 guest sends and the SET_C of the
// guest's close() wait in order and arrive once the guest has read its ring.
BOOST_AUTO_TEST_CASE(completions_wait_for_ring_space) {
    channel_lab lab({}, {}, 512);
    lab.bring_up();
    auto f = test_frame(60, 1);
    std::size_t delivered = 0;
    for (;;) {
        auto d = lab.host->deliver(view(f));
        if (!d) {
            BOOST_TEST(d.error() == (error{layer::netvsc, errc::exhausted, "ring.space"}));
            break;
        }
        ++delivered;
    }
    BOOST_TEST(delivered > 300u);  // 32 KiB of ring, 80 bytes a frame
    for (std::uint8_t i = 0; i < 15; ++i) BOOST_REQUIRE(lab.guest->send(view(test_frame(100, i))));
    BOOST_REQUIRE(lab.guest->close());
    // The host handles the guest's packets; what does not fit waits.
    BOOST_REQUIRE(lab.host->poll([&](bytes_view fr, const rndis_packet_info&) {
        lab.at_host.push_back({{fr.begin(), fr.end()}, {}});
    }));
    BOOST_TEST(lab.at_host.size() == 15u);
    BOOST_TEST(lab.host->pending() > 0u);
    BOOST_TEST(lab.host->counters().queued > 0u);
    lab.pump();
    BOOST_TEST(lab.host->pending() == 0u);
    BOOST_TEST(lab.at_guest.size() == delivered);
    BOOST_TEST(lab.guest->send_sections().in_use() == 0u);  // every completion arrived
    BOOST_TEST(lab.guest->packet_filter() == 0u);           // and the SET_C
    BOOST_TEST(lab.host->packet_filter() == 0u);
    BOOST_TEST(lab.host->counters().control_reply_dropped == 0u);
    BOOST_TEST(lab.guest->counters().bad_completions == 0u);
}

// An 802.1Q-tagged frame for the guest travels untagged with the IEEE_8021Q PPI {size 16,
// type 6, offset 12, priority bits 0-2, VLAN ID bits 4-15} (docs/netvsc-facts.md section 3),
// as Hyper-V hands Linux a hardware-accelerated tag; the VSC's tagged frame goes the same
// way to the host.
BOOST_AUTO_TEST_CASE(vlan_travels_in_the_ppi) {
    channel_lab lab;
    lab.bring_up();
    auto plain = test_frame(100, 4);
    std::vector<std::byte> tagged(plain.size() + 4);
    BOOST_REQUIRE(insert_8021q(tagged, view(plain), ieee8021q_info{5, false, 20}));
    BOOST_TEST(equal_bytes(bytes_view(tagged).subspan(12, 6), view(hex("8100 a014 0800"))));
    BOOST_REQUIRE(lab.host->deliver(view(tagged)));
    int found = 0;
    for (std::size_t sec = 0; sec < 64; ++sec) {
        auto m = bytes_view(lab.recv_buf).subspan(sec * 1728, 76);
        if (!equal_bytes(m.first(4), view(hex("01000000")))) continue;
        ++found;
        // msg_len 44 + 16 + 100, data_offset 52, data_len 100, ppi_offset 36, ppi_len 16.
        BOOST_TEST(equal_bytes(m.first(16), view(hex("01000000 a0000000 34000000 64000000"))));
        BOOST_TEST(equal_bytes(m.subspan(28, 8), view(hex("24000000 10000000"))));
        BOOST_TEST(equal_bytes(m.subspan(44, 16), view(hex("10000000 06000000 0c000000 45010000"))));
        BOOST_TEST(equal_bytes(m.subspan(60, 16), bytes_view(plain).first(16)));
    }
    BOOST_TEST(found == 1);
    lab.pump();
    BOOST_REQUIRE(lab.at_guest.size() == 1u);
    BOOST_TEST((lab.at_guest[0].frame == plain));
    BOOST_TEST((lab.at_guest[0].info.vlan == ieee8021q_info{5, false, 20}));
    BOOST_REQUIRE(lab.guest->send(view(tagged)));
    lab.pump();
    BOOST_REQUIRE(lab.at_host.size() == 1u);
    BOOST_TEST((lab.at_host[0].frame == plain));
    BOOST_TEST((lab.at_host[0].info.vlan == ieee8021q_info{5, false, 20}));
}

BOOST_AUTO_TEST_SUITE_END()
