// Real guests on one private vnet switch built by the lab runtime (lab/runtime.hpp):
// two VMs ping each other; the switch's learning seen from a third VM's port (its
// capture and counters: unknown unicast is flooded to it, learned unicast is not); VMs on
// different access VLANs are isolated; different subnets on one switch do not reach each
// other without a router. Needs root, QEMU and the guest image (vm-images/).
//
// One lab serves every case (seven guests boot once, two at a time).
#include <boost/test/unit_test.hpp>

#include "vm_test_util.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include <vnet/lab/runtime.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/pcap.hpp>

using namespace vnet;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace utf = boost::unit_test;

namespace {

using vnet::test::is_root;

constexpr std::string_view lab_text = R"(
[lab]
name = "vmtest-switching"

[[switch]]
name = "Lab"
kind = "private"

[[vm]]
name = "a"
  [[vm.nic]]
  switch = "Lab"
  ip = "static"
  address = "10.0.0.1/24"
  gateway = "10.0.0.254"
  mac = "00:15:5d:10:00:01"
[[vm]]
name = "b"
  [[vm.nic]]
  switch = "Lab"
  ip = "static"
  address = "10.0.0.2/24"
  mac = "00:15:5d:10:00:02"
[[vm]]
name = "c"
  [[vm.nic]]
  switch = "Lab"
  ip = "static"
  address = "10.0.0.3/24"
  mac = "00:15:5d:10:00:03"
[[vm]]
name = "d"
  [[vm.nic]]
  switch = "Lab"
  ip = "static"
  address = "10.0.1.4/24"
  vlan = 10
[[vm]]
name = "e"
  [[vm.nic]]
  switch = "Lab"
  ip = "static"
  address = "10.0.1.5/24"
  vlan = 20
[[vm]]
name = "f"
  [[vm.nic]]
  switch = "Lab"
  ip = "static"
  address = "10.0.9.6/24"
  gateway = "10.0.9.254"
[[vm]]
name = "g"
  [[vm.nic]]
  switch = "Lab"
  ip = "static"
  address = "10.0.0.7/24"
  model = "netvsc"
)";

/// The lab, built and booted once for the whole file.
struct switching_lab {
    std::string report = fmt::format("/tmp/vnet-vmtest-lab-{}", ::getpid());
    std::unique_ptr<lab::lab_runtime> rt;

    switching_lab() {
        auto lf = lab::parse_lab(lab_text, "switching.toml");
        if (!lf) throw std::runtime_error(lf.error().to_string());
        auto o = vnet::test::lab_test_options();
        o.report_dir = report;
        (void)lab::remove_leftovers();
        auto r = lab::lab_runtime::create(std::move(*lf), o);
        if (!r) throw std::runtime_error(r.error());
        rt = std::move(*r);
        auto t0 = std::chrono::steady_clock::now();
        for (const auto& b : rt->boot())
            if (!b.ready) throw std::runtime_error(fmt::format("{} did not boot: {}", b.name, b.error));
        std::printf("seven guests ready in %.1f s\n",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    ~switching_lab() {
        rt.reset();
        std::error_code ec;
        fs::remove_all(report, ec);
    }

    /// The size of `path` in `vm`, read again until it reaches `want` or 30 s have passed.
    long wait_for_size(std::string_view vm, const std::string& path, long want) {
        long n = 0;
        for (auto end = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < end;) {
            n = std::atol(run(vm, "wc -c < " + path).out.c_str());
            if (n >= want) break;
            std::this_thread::sleep_for(500ms);
        }
        return n;
    }
    /// `bytes` zero bytes over one TCP connection from `from` to `to` (address `to_ip`,
    /// busybox nc on `port`); what `to` received. The listener's stdin stays open, or
    /// busybox nc would close the connection at its end.
    long stream(std::string_view from, std::string_view to, std::string_view to_ip, int port, long bytes) {
        run(to,
            fmt::format("rm -f /tmp/got; setsid sh -c 'sleep 60 | nc -l -p {} >/tmp/got' </dev/null >/dev/null 2>&1 & sleep 0.5",
                        port));
        run(from, fmt::format("dd if=/dev/zero bs=65536 count={} 2>/dev/null | nc -w 2 {} {}", bytes / 65536, to_ip, port));
        const long got = wait_for_size(to, "/tmp/got", bytes);
        run(from, "pkill nc; true");
        run(to, "pkill nc; true");
        return got;
    }
    lab::command_result run(std::string_view vm, const std::string& cmd) {
        auto r = rt->vm_exec(vm, cmd, 20s);
        BOOST_REQUIRE_MESSAGE(r.has_value(), fmt::format("{}: `{}`: {}", vm, cmd, r ? "" : r.error().message()));
        return std::move(*r);
    }
    sw::port_counters counters(std::string_view vm) {
        auto p = rt->vm_port(vm, 0);
        BOOST_REQUIRE(p.has_value());
        return rt->pump().counters(0, *p);
    }
    /// ICMP echo frames in the capture of `vm`'s port with this destination MAC.
    std::size_t icmp_frames_to(std::string_view vm, mac_address dst) {
        rt->pump().flush_captures();
        auto rd = wire::pcap_reader::open(rt->vm_pcap(vm, 0));
        BOOST_REQUIRE(rd.has_value());
        std::size_t n = 0;
        for (;;) {
            auto rec = rd->next();
            if (!rec || !*rec) break;
            auto f = (*rec)->data;
            // Ethernet II, IPv4 (0x0800), protocol ICMP (1) at byte 14 + 9.
            if (f.size() < 14 + 20 || mac_address::load(f, 0) != dst) continue;
            if (load_be16(f, 12) == 0x0800 && std::to_integer<int>(f[23]) == 1) ++n;
        }
        return n;
    }
};

switching_lab& the_lab() {
    static switching_lab l;
    return l;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(vm_lab_switching, *utf::precondition(is_root))

// A private switch connects VMs with each other only (docs/eflow-facts.md "Hyper-V port and
// switch features": private = VM to VM).
BOOST_AUTO_TEST_CASE(two_vms_on_a_private_switch_ping_each_other) {
    auto& l = the_lab();
    auto r = l.run("a", "ping -c 3 -W 2 10.0.0.2");
    BOOST_TEST_INFO(r.out);
    BOOST_TEST(r.exit_status == 0);
    BOOST_TEST(lab::ping_received(r.out).value_or(0) == 3u);
    auto back = l.run("b", "ping -c 3 -W 2 10.0.0.1");
    BOOST_TEST(back.exit_status == 0);
}

// Learning (Open vSwitch mac-learning, VPP l2_learn / l2_fwd): a frame to a MAC the
// switch has not learned is flooded to every port of the domain, including a third VM's;
// a frame to a learned MAC goes to that port only.
BOOST_AUTO_TEST_CASE(learning_seen_from_a_third_vm) {
    auto& l = the_lab();
    const auto unknown = *mac_address::parse("02:00:00:00:00:99");
    const auto b_mac = *mac_address::parse("00:15:5d:10:00:02");
    // Before: a sends to a MAC nobody has (a static neighbour entry, so no ARP first).
    auto flood_before = l.counters("a").flooded;
    // (busybox ip has no `neigh replace`; its arp -s makes a permanent entry.)
    auto r = l.run("a", "arp -s 10.0.0.99 02:00:00:00:00:99 && ping -c 3 -W 1 10.0.0.99; arp -n");
    BOOST_TEST_MESSAGE(r.out + r.err);
    BOOST_TEST(r.out.find("02:00:00:00:00:99") != std::string::npos);
    BOOST_TEST(l.counters("a").flooded >= flood_before + 3);
    BOOST_TEST(l.icmp_frames_to("c", unknown) >= 3u);  // the observer saw the flooded echo requests
    BOOST_TEST(l.icmp_frames_to("b", unknown) >= 3u);
    // After: b is learned (it answered ARP and pings above), so a -> b is not flooded to c.
    BOOST_TEST(l.run("a", "ping -c 2 -W 2 10.0.0.2").exit_status == 0);
    auto c_tx = l.counters("c").tx_frames;
    auto r2 = l.run("a", "ping -c 5 -i 0.2 -W 2 10.0.0.2");
    BOOST_TEST(r2.exit_status == 0);
    BOOST_TEST(l.icmp_frames_to("b", b_mac) >= 7u);     // b's own port carried them
    BOOST_TEST(l.icmp_frames_to("c", b_mac) == 0u);     // c never saw a frame for b
    BOOST_TEST(l.counters("c").tx_frames - c_tx < 5u);  // at most stray multicast, not 10 echoes
}

// Access VLANs (Set-VMNetworkAdapterVlan -Access): ports on different VLANs are separate
// broadcast domains; same subnet or not, they do not reach each other.
BOOST_AUTO_TEST_CASE(different_access_vlans_are_isolated) {
    auto& l = the_lab();
    auto e_before = l.counters("e");
    auto d_before = l.counters("d");
    auto r = l.run("d", "ping -c 3 -W 1 10.0.1.5");
    BOOST_TEST_INFO(r.out);
    BOOST_TEST(r.exit_status != 0);
    BOOST_TEST(lab::ping_received(r.out).value_or(99) == 0u);
    BOOST_TEST(l.counters("d").rx_frames > d_before.rx_frames);   // d's ARP requests reached the switch
    BOOST_TEST(l.counters("e").tx_frames == e_before.tx_frames);  // and none of them reached e
}

// Different IPv4 subnets on one switch share the segment but need a router: a's frames
// for its (absent) gateway reach f's port, yet a and f cannot ping each other.
BOOST_AUTO_TEST_CASE(different_subnets_do_not_reach_each_other_without_a_router) {
    auto& l = the_lab();
    auto f_before = l.counters("f");
    auto r = l.run("a", "ping -c 2 -W 1 10.0.9.6");
    BOOST_TEST_INFO(r.out);
    BOOST_TEST(r.exit_status != 0);
    BOOST_TEST(lab::ping_received(r.out).value_or(0) == 0u);
    BOOST_TEST(l.counters("f").tx_frames > f_before.tx_frames);  // a's ARP broadcasts reached f
    auto back = l.run("f", "ping -c 2 -W 1 10.0.0.1");
    BOOST_TEST(back.exit_status != 0);
}

// The runtime's own checks report the same through the lab-file path.
BOOST_AUTO_TEST_CASE(report_counts_every_port) {
    auto& l = the_lab();
    auto ports = l.rt->port_reports();
    BOOST_TEST(ports.size() == 7u);
    for (const auto& p : ports) {
        BOOST_TEST(p.switch_name == "Lab");
        BOOST_TEST(fs::exists(fs::path(l.report) / "pcap" / p.pcap));
    }
}

// Offloads kept between guests (lab/switch_pump.hpp "Offloads"): a 4 MiB TCP stream from
// a to b arrives whole, and a's port read GSO super-frames from its TAP (the guest's
// virtio-net TSO), which crossed the switch as they are.
BOOST_AUTO_TEST_CASE(a_tcp_stream_between_vms_crosses_the_switch_with_its_offloads) {
    auto& l = the_lab();
    auto gso_of = [&](std::string_view port) {
        for (const auto& p : l.rt->pump().ports())
            if (p.name == port) return p.fd.gso_received;
        return std::uint64_t{0};
    };
    const auto before = gso_of("a-eth0");
    BOOST_TEST(l.stream("a", "b", "10.0.0.2", 5001, 4194304) == 4194304L);
    BOOST_TEST(gso_of("a-eth0") > before);
    const auto c = l.counters("b");
    BOOST_TEST(c.sw_segmented == 0u);  // a VM's TAP takes super-frames as they are
    BOOST_TEST_MESSAGE(fmt::format("a -> b: {} super-frames read from a's TAP", gso_of("a-eth0") - before));
}

// A netvsc NIC carries wire frames only: g's super-frames and partial checksums are
// finished before they enter its channel (as a netvsc guest without LSO sends), the
// stream arrives whole and the channel drops nothing.
BOOST_AUTO_TEST_CASE(a_netvsc_port_gets_its_guests_super_frames_as_wire_frames) {
    auto& l = the_lab();
    BOOST_TEST(l.stream("g", "b", "10.0.0.2", 5002, 2097152) == 2097152L);
    for (const auto& p : l.rt->pump().ports()) {
        if (p.name != "g-eth0") continue;
        BOOST_REQUIRE(p.netvsc.has_value());
        BOOST_TEST(p.fd.finished_for_channel > 0u);
        BOOST_TEST(p.fd.bad_vnet_hdr == 0u);
        BOOST_TEST(p.netvsc->guest_to_host.total_drops() == 0u);
        BOOST_TEST(p.netvsc->host_to_guest.total_drops() == 0u);
        BOOST_TEST_MESSAGE(
            fmt::format("g -> b over netvsc: {} offloaded frames finished before the channel", p.fd.finished_for_channel));
    }
}

BOOST_AUTO_TEST_SUITE_END()
