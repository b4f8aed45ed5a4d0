// The netvsc switch port (vnet/netvsc/port.hpp): a vswitch whose ports are netvsc links,
// each a guest model (VSC) and a host model (VSP) over VMBus rings in memory. Frames from
// the switch reach the guest as RNDIS packets in receive sections and back (docs/netvsc-facts.md
// section 2 "Data path"); the switch's rules ([HV] flooding and learning, VLANs)
// must hold unchanged across the channel. The oracle for the carried frames is tshark
// (docs/netvsc-facts.md section 4: "take the Ethernet frame out of an RNDIS PACKET ... write it
// to a pcap, and let tshark check it").
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/ipv4.hpp>
#include <vnet/netvsc/port.hpp>
#include <vnet/switch/vswitch.hpp>
#include <vnet/wire/pcap.hpp>

#include "test_util.hpp"

VNET_TEST_PRINTABLE_NAMESPACE(vnet::netvsc)
VNET_TEST_PRINTABLE_NAMESPACE(vnet::sw)

using namespace vnet;
using namespace vnet::netvsc;

namespace {

using nv_switch = sw::vswitch<netvsc_port<sw::memory_port>>;

mac_address guest_mac(std::uint8_t i) { return mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, i); }

/// Ethernet II + IPv4 + UDP, `len` bytes in all (>= 42), optionally with an 802.1Q tag
/// (then len + 4 bytes). The IPv4 header checksum is computed by hand (RFC 1071).
std::vector<std::byte> udp_frame(mac_address src, mac_address dst, std::uint8_t src_host, std::uint8_t dst_host, std::size_t len,
                                 std::uint16_t sport = 40000, std::uint16_t dport = 5000,
                                 std::optional<std::uint16_t> vid = std::nullopt) {
    const std::size_t l2 = vid ? 18 : 14;
    std::vector<std::byte> f(len + (vid ? 4 : 0));
    dst.store(f, 0);
    src.store(f, 6);
    if (vid) {
        store_be16(f, 12, 0x8100);
        store_be16(f, 14, *vid);
    }
    store_be16(f, l2 - 2, 0x0800);
    const std::size_t ip_len = len - 14;
    std::vector<std::byte> ip(20);
    store_u8(ip, 0, 0x45);
    store_be16(ip, 2, static_cast<std::uint16_t>(ip_len));
    store_u8(ip, 8, 64);
    store_u8(ip, 9, 17);
    store_be32(ip, 12, ipv4_address(192, 168, 0, src_host).to_u32());
    store_be32(ip, 16, ipv4_address(192, 168, 0, dst_host).to_u32());
    store_be16(ip, 10, static_cast<std::uint16_t>(~test::hand_sum(ip)));
    for (std::size_t i = 0; i < 20; ++i) f[l2 + i] = ip[i];
    store_be16(f, l2 + 20, sport);
    store_be16(f, l2 + 22, dport);
    store_be16(f, l2 + 24, static_cast<std::uint16_t>(ip_len - 20));
    for (std::size_t i = l2 + 28; i < f.size(); ++i) f[i] = std::byte(static_cast<std::uint8_t>(i * 7));
    return f;
}

std::vector<std::byte> copy(bytes_view v) { return {v.begin(), v.end()}; }

/// Bytes as hex, so that a mismatch prints where the frames differ.
std::string hex_of(bytes_view v) {
    std::string s;
    for (auto b : v) s += fmt::format("{:02x}", static_cast<unsigned>(b));
    return s;
}

/// A switch with `n` netvsc ports, guest i with MAC guest_mac(i + 1); optional access VLANs.
struct nv_lab {
    nv_switch sw{sw::switch_spec{"Private", sw::switch_kind::private_, "", false}};
    std::vector<sw::port_index> ports;

    explicit nv_lab(std::size_t n, std::vector<std::optional<std::uint16_t>> vlans = {}) {
        for (std::size_t i = 0; i < n; ++i) {
            netvsc_link_config c;
            c.mac = guest_mac(static_cast<std::uint8_t>(i + 1));
            auto l = netvsc_link::make(c);
            BOOST_REQUIRE(l);
            auto cfg = sw::port_config::vm(fmt::format("vm{}", i), c.mac);
            if (i < vlans.size() && vlans[i]) cfg.vlan = sw::vlan_setting::access(*vlans[i]);
            auto id = sw.add_port(std::move(cfg), netvsc_port<sw::memory_port>(std::move(*l), {}));
            BOOST_REQUIRE(id);
            ports.push_back(*id);
        }
    }
    netvsc_port<sw::memory_port>& port(std::size_t i) { return sw.transport(ports[i]); }
    sw::memory_port& guest(std::size_t i) { return port(i).guest(); }
    netvsc_link& link(std::size_t i) { return port(i).link(); }
    std::size_t send(std::size_t i, const std::vector<std::byte>& f) { return send_from_guest(sw, ports[i], test::view(f)); }
};

/// Runs a command and returns its standard output.
std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return out;
    std::array<char, 4096> buf{};
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    ::pclose(p);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(netvsc_port_suite)

// docs/netvsc-facts.md section 2 "Linux guest init order" and section 3 "Linux guest RNDIS init
// order": make() runs the whole sequence; the guest learns the MAC from
// OID_802_3_PERMANENT_ADDRESS, the carrier from OID_GEN_MEDIA_CONNECT_STATUS, and step 8
// sets the packet filter 0xD on both sides.
BOOST_AUTO_TEST_CASE(make_brings_the_channel_up) {
    netvsc_link_config c;
    c.mac = guest_mac(7);
    auto l = netvsc_link::make(c);
    BOOST_REQUIRE(l);
    BOOST_TEST(l->guest().state() == vsc_state::ready);
    BOOST_TEST(l->protocol_version() == nvsp_version::v61);
    BOOST_TEST(l->mac() == guest_mac(7));
    BOOST_TEST(l->guest_carrier());
    BOOST_TEST(l->guest().packet_filter() == 0xDu);
    BOOST_TEST(l->host().packet_filter() == 0xDu);
    BOOST_TEST(l->host().ready());
    BOOST_TEST(l->host().receive_sections().in_use() == 0u);
    BOOST_TEST(l->guest().send_sections().in_use() == 0u);

    // A host that speaks only NVSP 2: the guest steps down (section 2 step 2).
    c.versions = nvsp_version_bit(nvsp_version::v2);
    auto old = netvsc_link::make(c);
    BOOST_REQUIRE(old);
    BOOST_TEST(old->protocol_version() == nvsp_version::v2);

    // A host that accepts no version the guest offers: make() names the failure.
    c.versions = 0;
    auto none = netvsc_link::make(c);
    BOOST_REQUIRE(!none);
    BOOST_TEST(none.error().field == "netvsc_link.vsc_not_ready");

    netvsc_link_config bad;
    bad.batch = 0;
    BOOST_TEST(!netvsc_link::make(bad));
}

// Seed 002 / 003: until it has learned, the switch floods ("act as a 'hub'"): a broadcast
// from guest 0 reaches guests 1 and 2 through their channels, byte for byte, and the switch
// learns guest 0's MAC on its port. Then unicast back to guest 0 reaches only guest 0.
BOOST_AUTO_TEST_CASE(broadcast_then_unicast_both_directions) {
    nv_lab lab(3);
    auto bc = udp_frame(guest_mac(1), mac_address::broadcast(), 1, 255, 342, 68, 67);
    BOOST_TEST(lab.send(0, bc) == 1u);
    BOOST_TEST(lab.guest(0).size() == 0u);
    for (std::size_t g : {1u, 2u}) {
        BOOST_REQUIRE_EQUAL(lab.guest(g).size(), 1u);
        BOOST_TEST(hex_of(lab.guest(g).frame(0)) == hex_of(test::view(bc)));
    }
    BOOST_TEST(lab.sw.table().lookup(sw::mac_key(0, guest_mac(1).to_u64()), lab.sw.clock().now()) == lab.ports[0]);

    auto uc = udp_frame(guest_mac(2), guest_mac(1), 2, 1, 128);
    BOOST_TEST(lab.send(1, uc) == 1u);
    BOOST_REQUIRE_EQUAL(lab.guest(0).size(), 1u);
    BOOST_TEST(hex_of(lab.guest(0).frame(0)) == hex_of(test::view(uc)));
    BOOST_TEST(lab.guest(2).size() == 1u);  // only the broadcast
    BOOST_TEST(lab.sw.table().lookup(sw::mac_key(0, guest_mac(2).to_u64()), lab.sw.clock().now()) == lab.ports[1]);

    // Counted on both sides of each channel.
    BOOST_TEST(lab.link(0).counters().guest_to_host.frames == 1u);
    BOOST_TEST(lab.link(0).counters().host_to_guest.frames == 1u);
    BOOST_TEST(lab.link(1).counters().guest_to_host.frames == 1u);
    BOOST_TEST(lab.link(2).counters().host_to_guest.frames == 1u);
    BOOST_TEST(lab.link(0).guest().counters().frames_sent == 1u);
    BOOST_TEST(lab.link(1).host().counters().frames_to_guest == 1u);
    BOOST_TEST(lab.sw.counters(lab.ports[0]).rx_frames == 1u);
}

// Every frame size a 1500-byte MTU carries (64 .. 1514 bytes, and 1518 with a tag on a
// trunk) crosses both ways unchanged; batches larger than the link's chunk get through, and
// no section stays in flight afterwards (completions are taken back: docs/netvsc-facts.md
// section 2 "Data path", COMP {108}).
BOOST_AUTO_TEST_CASE(every_size_both_directions_in_batches) {
    nv_lab lab(2);
    std::vector<std::vector<std::byte>> sent;
    for (std::size_t len = 64; len <= 1514; len += 10) sent.push_back(udp_frame(guest_mac(1), guest_mac(2), 1, 2, len));
    sent.push_back(udp_frame(guest_mac(1), guest_mac(2), 1, 2, 1514));
    std::vector<bytes_view> views;
    for (const auto& f : sent) views.push_back(test::view(f));
    BOOST_REQUIRE_GT(views.size(), lab.link(0).config().batch);
    BOOST_TEST(send_from_guest(lab.sw, lab.ports[0], views) == views.size());
    BOOST_REQUIRE_EQUAL(lab.guest(1).size(), sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) BOOST_TEST(hex_of(lab.guest(1).frame(i)) == hex_of(test::view(sent[i])));
    // And back.
    std::vector<std::vector<std::byte>> back;
    for (std::size_t len = 64; len <= 1514; len += 50) back.push_back(udp_frame(guest_mac(2), guest_mac(1), 2, 1, len));
    for (const auto& f : back) BOOST_TEST(lab.send(1, f) == 1u);
    BOOST_REQUIRE_EQUAL(lab.guest(0).size(), back.size());
    for (std::size_t i = 0; i < back.size(); ++i) BOOST_TEST(hex_of(lab.guest(0).frame(i)) == hex_of(test::view(back[i])));
    for (std::size_t i = 0; i < 2; ++i) {
        BOOST_TEST(lab.link(i).host().receive_sections().in_use() == 0u);
        BOOST_TEST(lab.link(i).guest().send_sections().in_use() == 0u);
        BOOST_TEST(lab.link(i).counters().guest_to_host.total_drops() == 0u);
        BOOST_TEST(lab.link(i).counters().host_to_guest.total_drops() == 0u);
    }

    // Steady state: many chunks later the rings and buffers are still not full.
    for (int round = 0; round < 200; ++round) BOOST_REQUIRE(send_from_guest(lab.sw, lab.ports[0], views) == views.size());
    BOOST_TEST(lab.guest(1).size() == sent.size() * 201);
    BOOST_TEST(lab.link(1).host().counters().no_receive_section == 0u);
    BOOST_TEST(lab.link(0).guest().counters().no_send_section == 0u);
}

// GPA direct (docs/netvsc-facts.md section 2 "Data path": type 9, index 0xFFFFFFFF, size 0):
// the same frames arrive, copied out of guest memory.
BOOST_AUTO_TEST_CASE(gpa_direct_link_carries_frames) {
    netvsc_link_config c;
    c.gpa_direct = true;
    auto l = netvsc_link::make(c);
    BOOST_REQUIRE(l);
    std::vector<std::vector<std::byte>> frames;
    for (std::size_t len = 64; len <= 1514; len += 25) frames.push_back(udp_frame(guest_mac(1), guest_mac(2), 1, 2, len));
    std::vector<bytes_view> views;
    for (const auto& f : frames) views.push_back(test::view(f));
    std::vector<std::vector<std::byte>> got;
    auto n = l->guest_send(views, [&](std::span<const bytes_view> b) {
        for (auto f : b) got.push_back(copy(f));
    });
    BOOST_TEST(n == frames.size());
    BOOST_REQUIRE_EQUAL(got.size(), frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) BOOST_TEST(hex_of(test::view(got[i])) == hex_of(test::view(frames[i])));
    BOOST_TEST(l->host().counters().bad_gpa_range == 0u);
}

// Hyper-V access VLANs (Set-VMNetworkAdapterVlan -Access, docs/eflow-facts.md "Hyper-V port and
// switch features"): guests on VLAN 10 see each other's broadcasts, the guest on VLAN 20
// does not; a frame the guest tags itself is not accepted on an access port.
BOOST_AUTO_TEST_CASE(access_vlans_across_the_channel) {
    nv_lab lab(3, {std::uint16_t{10}, std::uint16_t{10}, std::uint16_t{20}});
    auto bc = udp_frame(guest_mac(1), mac_address::broadcast(), 1, 255, 100);
    BOOST_TEST(lab.send(0, bc) == 1u);
    BOOST_REQUIRE_EQUAL(lab.guest(1).size(), 1u);
    BOOST_TEST(hex_of(lab.guest(1).frame(0)) == hex_of(test::view(bc)));  // untagged on the access port
    BOOST_TEST(lab.guest(2).size() == 0u);
    auto tagged = udp_frame(guest_mac(1), mac_address::broadcast(), 1, 255, 100, 1, 2, std::uint16_t{20});
    BOOST_TEST(lab.send(0, tagged) == 1u);  // crosses the channel, then the switch refuses it
    BOOST_TEST(lab.sw.counters(lab.ports[0]).drop(sw::drop_reason::vlan_filter) == 1u);
    BOOST_TEST(lab.guest(2).size() == 0u);
}

// Link down (RNDIS_STATUS_MEDIA_DISCONNECT, docs/netvsc-facts.md section 3 status codes): the
// guest's carrier goes down, frames both ways are dropped under link_down; link up again
// (MEDIA_CONNECT) and they flow.
BOOST_AUTO_TEST_CASE(link_down_drops_and_indicates) {
    nv_lab lab(2);
    const auto t0 = std::chrono::steady_clock::now();
    lab.link(1).set_link(false, t0);
    BOOST_TEST(!lab.link(1).guest_carrier());
    BOOST_TEST(!lab.link(1).link_up());
    BOOST_TEST(lab.link(1).guest().counters().status_indications == 1u);
    auto bc = udp_frame(guest_mac(1), mac_address::broadcast(), 1, 255, 64);
    BOOST_TEST(lab.send(0, bc) == 1u);
    BOOST_TEST(lab.guest(1).size() == 0u);
    BOOST_TEST(lab.link(1).counters().host_to_guest.drop(link_drop::link_down) == 1u);
    BOOST_TEST(lab.send(1, udp_frame(guest_mac(2), guest_mac(1), 2, 1, 64)) == 0u);
    BOOST_TEST(lab.link(1).counters().guest_to_host.drop(link_drop::link_down) == 1u);
    BOOST_TEST(lab.guest(0).size() == 0u);

    // The connect goes out 5 s after the disconnect (vsp_config::link_spacing).
    lab.link(1).set_link(true, t0 + std::chrono::seconds(1));
    BOOST_TEST(!lab.link(1).guest_carrier());
    lab.link(1).tick(t0 + std::chrono::seconds(5));
    BOOST_TEST(lab.link(1).guest_carrier());
    BOOST_TEST(lab.link(1).counters().link_changes == 2u);
    BOOST_TEST(lab.send(0, bc) == 1u);
    BOOST_TEST(lab.guest(1).size() == 1u);
    BOOST_TEST(lab.send(1, udp_frame(guest_mac(2), guest_mac(1), 2, 1, 64)) == 1u);
    BOOST_TEST(lab.guest(0).size() == 1u);
    BOOST_TEST(lab.link(1).host().receive_sections().in_use() == 0u);
}

// docs/design.md "Principles": a malformed frame yields a counted drop, never a crash. Random
// bytes of every length from the guest side: each is either carried or counted.
BOOST_AUTO_TEST_CASE(guest_input_is_carried_or_counted) {
    auto l = netvsc_link::make({});
    BOOST_REQUIRE(l);
    std::mt19937 rng(7);
    std::vector<std::byte> buf(4000);
    std::size_t carried = 0, offered = 0;
    for (std::size_t len = 0; len < buf.size(); len += 1 + rng() % 13) {
        for (std::size_t i = 0; i < len; ++i) buf[i] = std::byte(static_cast<std::uint8_t>(rng()));
        ++offered;
        carried += l->guest_send(bytes_view(buf).first(len), [&](std::span<const bytes_view> b) {
            BOOST_TEST(b.size() == 1u);
            BOOST_TEST(b[0].size() == len);
        });
    }
    const auto& c = l->counters().guest_to_host;
    BOOST_TEST(c.frames == carried);
    BOOST_TEST(c.frames + c.total_drops() == offered);
    BOOST_TEST(c.drop(link_drop::too_short) > 0u);
    BOOST_TEST(c.drop(link_drop::too_long) > 0u);
    BOOST_TEST(carried > 0u);
    // Same from the host side: untagged frames up to MTU + 14, tagged ones 4 bytes more.
    std::size_t to_guest = 0;
    store_be16(buf, 12, 0x0800);
    for (std::size_t len : {0u, 13u, 14u, 60u, 1515u, 1518u, 1519u, 3000u})
        to_guest += l->host_send(bytes_view(buf).first(len), [](std::span<const bytes_view>) {});
    BOOST_TEST(to_guest == 2u);
    store_be16(buf, 12, 0x8100);
    to_guest += l->host_send(bytes_view(buf).first(1518), [](std::span<const bytes_view> b) {
        BOOST_REQUIRE(b.size() == 1u);
        BOOST_TEST(b[0].size() == 1518u);  // the tag crossed in the PPI and is back in the frame
    });
    BOOST_TEST(to_guest == 3u);
    BOOST_TEST(l->counters().host_to_guest.drop(link_drop::too_short) == 2u);
    BOOST_TEST(l->counters().host_to_guest.drop(link_drop::too_long) == 4u);
}

// fmt formatters for the state users debug.
BOOST_AUTO_TEST_CASE(formatter_names_state_and_drops) {
    netvsc_link_config c;
    c.mac = guest_mac(3);
    auto l = netvsc_link::make(c);
    BOOST_REQUIRE(l);
    std::vector<std::byte> runt(10);
    (void)l->guest_send(test::view(runt), [](std::span<const bytes_view>) {});
    BOOST_TEST(fmt::format("{}", *l) ==
               "netvsc 00:15:5d:00:00:03 nvsp 0x60001 link up (guest carrier up): guest->host 0 frames 0 bytes, "
               "drops: too_short=1; host->guest 0 frames 0 bytes, drops: none; link changes 0");
}

// docs/netvsc-facts.md section 4: tshark has no RNDIS dissector; the Ethernet frames taken out
// of the RNDIS PACKETs on each side of the channel are written to a pcap and tshark must
// read back the addresses and ports that were sent.
BOOST_AUTO_TEST_CASE(frames_out_of_the_channel_read_back_by_tshark) {
    if (std::system("command -v tshark > /dev/null 2>&1") != 0) {
        BOOST_TEST_MESSAGE("tshark is not installed (CI installs it): cannot check the carried frames");
        BOOST_FAIL("tshark missing");
    }
    nv_lab lab(2);
    struct sent_frame {
        std::uint8_t from, to;
        std::size_t len;
        std::uint16_t sport, dport;
    };
    const std::vector<sent_frame> plan = {{1, 2, 64, 40001, 5001},
                                          {2, 1, 200, 40002, 5002},
                                          {1, 2, 1514, 40003, 5003},
                                          {2, 1, 777, 40004, 5004},
                                          {1, 2, 1000, 40005, 5005}};
    for (const auto& p : plan) {
        auto f = udp_frame(guest_mac(p.from), guest_mac(p.to), p.from, p.to, p.len, p.sport, p.dport);
        BOOST_REQUIRE_EQUAL(lab.send(p.from - 1u, f), 1u);
    }
    // What the VSCs received, in the order sent (guest 1 got frames to 2, guest 0 frames to 1).
    std::vector<std::vector<std::byte>> carried;
    std::array<std::size_t, 2> next{};
    for (const auto& p : plan) {
        const std::size_t g = p.to - 1u;
        BOOST_REQUIRE_LT(next[g], lab.guest(g).size());
        carried.push_back(copy(lab.guest(g).frame(next[g]++)));
    }
    const auto path = (std::filesystem::temp_directory_path() / fmt::format("vnet-netvsc-port-{}.pcap", ::getpid())).string();
    {
        auto w = wire::pcap_writer::create(path);
        BOOST_REQUIRE(w);
        for (const auto& f : carried) w->write(test::view(f));
    }
    auto out = run("tshark -r " + path +
                   " -T fields -E separator=, -e frame.len -e eth.src -e eth.dst -e ip.src -e ip.dst -e udp.srcport "
                   "-e udp.dstport 2>/dev/null");
    std::filesystem::remove(path);
    std::string expect;
    for (const auto& p : plan)
        expect += fmt::format("{},{},{},192.168.0.{},192.168.0.{},{},{}\n", p.len, guest_mac(p.from), guest_mac(p.to), p.from,
                              p.to, p.sport, p.dport);
    BOOST_TEST(out == expect);
}

BOOST_AUTO_TEST_SUITE_END()
