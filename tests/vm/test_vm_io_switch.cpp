// The vnet switch on real interfaces (include/vnet/io/switch_host.hpp, packet_socket.hpp,
// veth.hpp, reactor.hpp). Boots no VM: each "leaf" is a network namespace with one veth
// (eth0, a fixed MAC, 10.77.0.N/24) whose other end is in a "switch" namespace, where a
// switch_host attaches an AF_PACKET port to it. The kernel's own stacks then ping each
// other through the vnet switch: the data path of docs/design.md "How a frame travels in a
// lab" with veths in place of TAPs. Needs root (namespaces, veths, packet sockets) and
// iputils ping. Label vm.
//
// Every namespace and veth a case creates is owned by RAII objects declared in teardown
// order, so a failed assertion (an exception) still removes them; names carry the pid
// ("vnio-<pid>-<n>" namespaces, "vnio<pid>p<i>" switch-side veth ends), so parallel runs
// never collide, and namespaces of earlier runs whose pid is gone are removed first.
// Traffic stays inside the namespaces made here (docs/lab-notes.md "Limits to plan for").
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <net/if.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/packet_socket.hpp>
#include <vnet/io/process.hpp>
#include <vnet/io/reactor.hpp>
#include <vnet/io/switch_host.hpp>
#include <vnet/io/veth.hpp>
#include <vnet/switch/mac_table.hpp>
#include <vnet/switch/port.hpp>
#include <vnet/switch/vlan_mode.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace std::chrono_literals;
namespace utf = boost::unit_test;

namespace {

constexpr std::string_view ns_prefix = "vnio";

boost::test_tools::assertion_result is_root(utf::test_unit_id) {
    boost::test_tools::assertion_result r(::geteuid() == 0);
    r.message() << "the io switch tests need root (namespaces, veths, packet sockets)";
    return r;
}

template <class T>
T need(result<T> r, std::string_view what) {
    if (!r) BOOST_FAIL(fmt::format("{}: {}", what, r.error().message()));
    return std::move(*r);
}
inline void need(result<void> r, std::string_view what) {
    if (!r) BOOST_FAIL(fmt::format("{}: {}", what, r.error().message()));
}

/// Removes namespaces of earlier runs of this test whose process is gone.
void remove_leftovers() {
    for (const auto& name : io::netns::list(std::string(ns_prefix) + "-")) {
        auto rest = name.substr(ns_prefix.size() + 1);
        auto pid = std::atoi(rest.substr(0, rest.find('-')).c_str());
        if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) (void)io::netns::remove(name);
    }
}

std::string run_prefix() { return fmt::format("{}-{}-", ns_prefix, ::getpid()); }

/// A namespace with IPv6 off, so the only frames its stack sends are the test's own.
io::netns quiet_netns() {
    auto ns = need(io::netns::create(ns_prefix), "netns");
    need(ns.run_in([]() -> result<void> {
        for (const char* p : {"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"}) {
            std::ofstream f(p);
            f << "1\n";
            if (!f) return fail(layer::io, errc::io, "disable_ipv6");
        }
        return {};
    }),
         "disable IPv6");
    return ns;
}

std::string port_name(int i) { return fmt::format("{}{}p{}", ns_prefix, ::getpid(), i); }
mac_address leaf_mac(int i) { return mac_address{0x02, 0x00, 0x5e, 0x10, 0x00, static_cast<std::uint8_t>(i + 1)}; }
std::string leaf_ip(int i) { return fmt::format("10.77.0.{}", i + 1); }

struct ping_result {
    int status = -1;
    double avg_ms = 0;
    std::string out;
};

ping_result ping(const io::netns& from, const std::string& to, int count = 3, std::string_view interval = "0.2") {
    auto r = need(from.exec({"ping", "-n", "-q", "-c", std::to_string(count), "-i", std::string(interval), "-W", "1", to}, 30s),
                  "ping");
    ping_result p{r.status, 0, r.out};
    std::smatch m;
    static const std::regex rtt(R"(= [0-9.]+/([0-9.]+)/)");
    if (std::regex_search(r.out, m, rtt)) p.avg_ms = std::stod(m[1]);
    return p;
}

/// A leaf's interface counter, read in its namespace through `ip -s -j` (netlink).
std::uint64_t leaf_tx_packets(const io::netns& ns) {
    auto r = need(ns.exec({"ip", "-s", "-j", "link", "show", "eth0"}), "ip -s link");
    std::smatch m;
    static const std::regex tx(R"("tx":\{"bytes":[0-9]+,"packets":([0-9]+))");
    BOOST_REQUIRE_MESSAGE(std::regex_search(r.out, m, tx), r.out);
    return std::stoull(m[1]);
}

/// Runs a reactor on its own thread; stops and joins on destruction.
struct loop_thread {
    io::reactor* r = nullptr;
    std::thread t;
    void start(io::reactor& rr) {
        r = &rr;
        t = std::thread([this] { (void)r->run(); });
    }
    void stop() {
        if (t.joinable()) {
            r->stop();
            t.join();
        }
    }
    bool running() const { return t.joinable(); }
    ~loop_thread() { stop(); }
};

struct leaf {
    io::netns ns;  // declared first: destroyed last
    io::veth link;
    sw::port_index port = sw::no_port;
};

/// N leaves on one private vnet switch. Members are destroyed in reverse order: the loop
/// stops, the host closes its sockets, the veths go, then the namespaces.
class lab {
public:
    /// veth_offloads: the leaves' veths keep TSO, GSO and checksum offload (the default of
    /// a veth), so their stacks send super-frames and partial checksums.
    explicit lab(int n, io::packet_socket_options opt = {}, bool veth_offloads = false) : opt_(opt), offloads_(veth_offloads) {
        sw_ns = quiet_netns();
        r = need(io::reactor::create(), "reactor");
        host = need(io::switch_host<>::create(r, sw::switch_spec{"vnio", sw::switch_kind::private_, {}, false}), "switch host");
        for (int i = 0; i < n; ++i) add_leaf();
        loop.start(r);
    }

    /// A new leaf; attached directly while the loop is stopped, through post() while it runs.
    /// opt / veth_offloads: this leaf's own socket options and veth offloads (otherwise the lab's).
    leaf& add_leaf(std::optional<sw::vlan_setting> vlan = std::nullopt,
                   std::optional<io::packet_socket_options> opt = std::nullopt,
                   std::optional<bool> veth_offloads = std::nullopt) {
        const int i = static_cast<int>(leaves.size());
        auto& l = *leaves.emplace_back(std::make_unique<leaf>());
        l.ns = quiet_netns();
        io::veth_options vo;
        vo.mac_a = leaf_mac(i);
        vo.offloads = veth_offloads.value_or(offloads_);
        const io::packet_socket_options so = opt.value_or(opt_);
        l.link = need(io::veth::create(l.ns.name(), "eth0", sw_ns.name(), port_name(i), vo), "veth");
        auto addr = need(l.ns.exec({"ip", "addr", "add", leaf_ip(i) + "/24", "dev", "eth0"}), "ip addr");
        BOOST_REQUIRE_MESSAGE(addr.status == 0, addr.err);
        auto cfg = sw::port_config::vm(fmt::format("leaf{}", i), leaf_mac(i));
        if (vlan) cfg.vlan = *vlan;
        if (loop.running()) {
            std::promise<result<sw::port_index>> done;
            auto f = done.get_future();
            r.post([&] { done.set_value(host->attach(sw_ns.name(), port_name(i), cfg, so)); });
            l.port = need(f.get(), "attach while running");
        } else {
            l.port = need(host->attach(sw_ns.name(), port_name(i), cfg, so), "attach");
        }
        return l;
    }

    /// Stops the loop so the test thread may read the switch (it is not thread safe).
    void pause() {
        std::this_thread::sleep_for(30ms);  // let the last ring blocks retire and be forwarded
        loop.stop();
    }
    void resume() { loop.start(r); }

    const sw::port_counters& ctr(int i) const { return host->vswitch().counters(leaves[static_cast<std::size_t>(i)]->port); }
    const io::packet_socket& sock(int i) const { return host->socket(leaves[static_cast<std::size_t>(i)]->port); }
    leaf& at(int i) { return *leaves[static_cast<std::size_t>(i)]; }

    io::netns sw_ns;
    std::vector<std::unique_ptr<leaf>> leaves;
    io::reactor r;
    std::unique_ptr<io::switch_host<>> host;
    loop_thread loop;

private:
    io::packet_socket_options opt_;
    bool offloads_ = false;
};

/// One TCP stream of `seconds` from leaf `from` to leaf `to` (iperf3); the bytes the
/// receiver got, or 0 with the output in the test log.
double tcp_stream_bytes(lab& L, int from, int to, int seconds = 1) {
    auto server = need(L.at(to).ns.spawn({"iperf3", "-s", "-1", "-B", leaf_ip(to)}), "iperf3 -s");
    std::this_thread::sleep_for(300ms);
    auto c = need(L.at(from).ns.exec({"iperf3", "-c", leaf_ip(to), "-t", std::to_string(seconds), "-J"}, 30s), "iperf3 -c");
    std::smatch m;
    static const std::regex rx(R"("sum_received":\s*\{[^}]*"bytes":\s*([0-9]+))");
    if (c.status != 0 || !std::regex_search(c.out, m, rx)) {
        BOOST_TEST_MESSAGE("iperf3: " << c.out << c.err);
        return 0;
    }
    return std::stod(m[1]);
}

/// Frames a socket receives within `timeout`, copied.
std::vector<std::vector<std::byte>> collect(io::packet_socket& s, std::chrono::milliseconds timeout) {
    std::vector<std::vector<std::byte>> out;
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (!s.wait(10ms)) continue;
        for (auto f : s.receive()) out.emplace_back(f.begin(), f.end());
        s.release();
    }
    return out;
}

double thread_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct leftover_guard {
    leftover_guard() {
        if (::geteuid() == 0) remove_leftovers();
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(vm_io_switch, *utf::precondition(is_root))

// The switch connects three namespaces: every pair pings ([HV]: VMs on one
// virtual switch reach each other at layer 2), and with the switch stopped they do not
// (the switch, not a kernel bridge, carries the frames).
BOOST_AUTO_TEST_CASE(ping_between_namespaces_through_the_switch) {
    leftover_guard g;
    lab L(3);
    for (auto [a, b] : {std::pair{0, 1}, std::pair{0, 2}, std::pair{1, 2}}) {
        auto p = ping(L.at(a).ns, leaf_ip(b));
        BOOST_TEST(p.status == 0, "leaf" << a << " -> leaf" << b << ": " << p.out);
    }
    auto p = ping(L.at(0).ns, leaf_ip(1), 20, "0.05");
    BOOST_TEST(p.status == 0);
    BOOST_TEST(p.avg_ms > 0.0);
    BOOST_TEST_MESSAGE(fmt::format("ping RTT through the vnet switch (20 pings, 1 ms block timeout): avg {:.3f} ms", p.avg_ms));

    L.pause();
    auto stopped = ping(L.at(0).ns, leaf_ip(1), 2);
    BOOST_TEST(stopped.status != 0, "ping must fail while the switch is stopped: " << stopped.out);
    L.resume();
    auto again = ping(L.at(0).ns, leaf_ip(1), 2);
    BOOST_TEST(again.status == 0, again.out);
}

// Learning ([HV] last section: a switch floods "until it has learned", then
// sends a known unicast to one port only): after the first exchange the table holds both
// stations on their ports, and a third port sees none of the later unicast frames.
BOOST_AUTO_TEST_CASE(learning_stops_flooding_to_the_third_port) {
    leftover_guard g;
    lab L(3);
    BOOST_TEST(ping(L.at(0).ns, leaf_ip(1), 1).status == 0);
    L.pause();
    auto& sw = L.host->vswitch();
    const auto now = sw.clock().now();
    BOOST_TEST(sw.table().lookup(sw::mac_key(0, leaf_mac(0)), now) == L.at(0).port);
    BOOST_TEST(sw.table().lookup(sw::mac_key(0, leaf_mac(1)), now) == L.at(1).port);
    BOOST_TEST(sw.table().lookup(sw::mac_key(0, leaf_mac(2)), now) == sw::no_port);
    BOOST_TEST(L.ctr(0).flooded >= 1u);    // the ARP request
    BOOST_TEST(L.ctr(2).tx_frames >= 1u);  // ... reached the third port
    const auto c_before = L.ctr(2).tx_frames;
    const auto b_before = L.ctr(1).tx_frames;
    const auto flooded_before = L.ctr(0).flooded;
    L.resume();
    BOOST_TEST(ping(L.at(0).ns, leaf_ip(1), 5).status == 0);
    L.pause();
    BOOST_TEST(L.ctr(2).tx_frames == c_before);  // no unicast leaked to leaf2
    BOOST_TEST(L.ctr(1).tx_frames >= b_before + 5);
    BOOST_TEST(L.ctr(0).flooded == flooded_before);
    BOOST_TEST_MESSAGE(fmt::format("{}", *L.host));
}

// A frame never loops (docs/lab-notes.md: an AF_PACKET socket also sees frames sent on its
// interface, PACKET_OUTGOING, which must be skipped or the switch loops). The switch
// receives exactly the frames the leaves sent, no more; and with the kernel filter
// (PACKET_IGNORE_OUTGOING) off, frames another socket sends out of a port's interface
// reach the leaf but are skipped by the port's socket in user space, never switched.
BOOST_AUTO_TEST_CASE(frames_never_loop) {
    leftover_guard g;
    io::packet_socket_options opt;
    opt.kernel_ignore_outgoing = false;
    lab L(3, opt);
    BOOST_TEST(ping(L.at(0).ns, leaf_ip(1), 3).status == 0);
    BOOST_TEST(ping(L.at(2).ns, leaf_ip(0), 3).status == 0);
    L.pause();
    std::uint64_t sent_by_leaves = 0, received_by_switch = 0, sent_by_switch = 0;
    for (int i = 0; i < 3; ++i) {
        const auto leaf_tx = leaf_tx_packets(L.at(i).ns);
        BOOST_TEST(L.ctr(i).rx_frames == leaf_tx, "port " << i);
        BOOST_TEST(L.sock(i).counters().rx_frames == leaf_tx, "socket " << i);
        sent_by_leaves += leaf_tx;
        received_by_switch += L.ctr(i).rx_frames;
        sent_by_switch += L.sock(i).counters().tx_frames;
    }
    BOOST_TEST(received_by_switch == sent_by_leaves);
    BOOST_TEST(sent_by_switch > 0u);
    BOOST_TEST_MESSAGE(
        fmt::format("leaves sent {}, switch received {}, switch sent {}", sent_by_leaves, received_by_switch, sent_by_switch));

    // Another sender on port 0's interface (through the qdisc, so taps see it as outgoing).
    io::packet_socket_options inj_opt;
    inj_opt.qdisc_bypass = false;
    inj_opt.promiscuous = false;
    auto injector = need(io::packet_socket::open(L.sw_ns.name(), port_name(0), inj_opt), "injector");
    auto sniff = need(io::packet_socket::open(L.at(0).ns.name(), "eth0"), "leaf0 socket");
    std::array<std::byte, 60> frame{};
    mac_address::broadcast().store(frame, 0);
    mac_address{0x02, 0x00, 0x5e, 0x10, 0x00, 0x99}.store(frame, 6);
    store_be16(frame, 12, 0x88b5);
    const auto rx_before = L.ctr(0).rx_frames;
    const auto skipped_before = L.sock(0).counters().rx_outgoing_skipped;
    const auto flooded_before = L.ctr(0).flooded;
    L.resume();
    std::vector<bytes_view> five(5, bytes_view(frame));
    BOOST_TEST(injector.send(five) == 5u);
    auto at_leaf = collect(sniff, 200ms);
    BOOST_TEST(std::count_if(at_leaf.begin(), at_leaf.end(),
                             [](const auto& f) { return f.size() >= 14 && load_be16(f, 12) == 0x88b5; }) == 5);
    L.pause();
    BOOST_TEST(L.sock(0).counters().rx_outgoing_skipped == skipped_before + 5);
    BOOST_TEST(L.ctr(0).rx_frames == rx_before);
    BOOST_TEST(L.ctr(0).flooded == flooded_before);
}

// VLAN access ports isolate (docs/eflow-facts.md "Hyper-V port and switch features", access
// mode): leaves in VLAN 10 reach each other, a leaf in VLAN 20 on the same subnet does not.
BOOST_AUTO_TEST_CASE(access_vlans_isolate) {
    leftover_guard g;
    lab L(3);
    L.pause();
    auto& sw = L.host->vswitch();
    for (auto [i, vid] : {std::pair{0, 10}, std::pair{1, 10}, std::pair{2, 20}}) {
        auto cfg = sw.config(L.at(i).port);
        cfg.vlan = sw::vlan_setting::access(static_cast<std::uint16_t>(vid));
        need(sw.configure(L.at(i).port, cfg), "configure");
    }
    const auto c_before = L.ctr(2).tx_frames;
    L.resume();
    BOOST_TEST(ping(L.at(0).ns, leaf_ip(1), 2).status == 0);
    BOOST_TEST(ping(L.at(0).ns, leaf_ip(2), 2).status != 0);
    BOOST_TEST(ping(L.at(2).ns, leaf_ip(1), 2).status != 0);
    L.pause();
    BOOST_TEST(L.ctr(2).tx_frames == c_before);  // nothing of VLAN 10 reached the VLAN 20 port
}

// Tags survive the packet sockets (the kernel moves a received 802.1Q tag into
// tpacket3_hdr.hv1; the socket puts it back) and ports come and go while the switch runs
// ([HV]: "ports can be added and removed dynamically"). A trunk leaf attached
// at run time sees VLAN 10 frames tagged, and a frame it sends tagged with VLAN 20
// reaches only the VLAN 20 access port, untagged.
BOOST_AUTO_TEST_CASE(trunk_port_added_at_run_time_keeps_tags) {
    leftover_guard g;
    lab L(3);
    L.pause();
    auto& sw = L.host->vswitch();
    for (auto [i, vid] : {std::pair{0, 10}, std::pair{1, 10}, std::pair{2, 20}}) {
        auto cfg = sw.config(L.at(i).port);
        cfg.vlan = sw::vlan_setting::access(static_cast<std::uint16_t>(vid));
        need(sw.configure(L.at(i).port, cfg), "configure");
    }
    L.resume();
    auto& t = L.add_leaf(sw::vlan_setting::trunk({10, 20}));  // attached through post()
    auto tsock = need(io::packet_socket::open(t.ns.name(), "eth0"), "trunk leaf socket");
    auto csock = need(io::packet_socket::open(L.at(2).ns.name(), "eth0"), "leaf2 socket");

    BOOST_TEST(ping(L.at(0).ns, leaf_ip(1), 1).status == 0);  // its ARP request is flooded in VLAN 10
    auto seen = collect(tsock, 200ms);
    const auto tagged10 = std::count_if(seen.begin(), seen.end(), [](const auto& f) {
        return f.size() >= 18 && load_be16(f, 12) == 0x8100 && (load_be16(f, 14) & 0x0fff) == 10 &&
               mac_address::load(f, 6) == leaf_mac(0);
    });
    BOOST_TEST(tagged10 >= 1);
    BOOST_TEST(tsock.counters().rx_vlan_restored >= 1u);

    // A broadcast tagged with VLAN 20 from the trunk leaf.
    std::array<std::byte, 64> frame{};
    mac_address::broadcast().store(frame, 0);
    leaf_mac(3).store(frame, 6);
    store_be16(frame, 12, 0x8100);
    store_be16(frame, 14, 20);
    store_be16(frame, 16, 0x88b5);  // IEEE 802 local experimental ethertype
    L.pause();
    const auto a_tx = L.ctr(0).tx_frames, b_tx = L.ctr(1).tx_frames, c_tx = L.ctr(2).tx_frames;
    L.resume();
    (void)collect(csock, 50ms);
    BOOST_TEST(tsock.send(bytes_view(frame)) == 1u);
    auto at_c = collect(csock, 200ms);
    const auto got = std::count_if(at_c.begin(), at_c.end(), [](const auto& f) {
        return f.size() >= 14 && load_be16(f, 12) == 0x88b5 && mac_address::load(f, 6) == leaf_mac(3);
    });
    BOOST_TEST(got == 1);  // once, untagged
    L.pause();
    BOOST_TEST(L.ctr(2).tx_frames == c_tx + 1);
    BOOST_TEST(L.ctr(0).tx_frames == a_tx);
    BOOST_TEST(L.ctr(1).tx_frames == b_tx);
    BOOST_TEST(L.host->socket(t.port).counters().rx_vlan_restored >= 1u);  // the switch saw the tag

    // Remove the trunk port while the switch runs; the others keep working.
    L.resume();
    std::promise<result<void>> done;
    auto f = done.get_future();
    L.r.post([&] { done.set_value(L.host->detach(t.port)); });
    need(f.get(), "detach while running");
    BOOST_TEST(ping(L.at(0).ns, leaf_ip(1), 2).status == 0);
    L.pause();
    BOOST_TEST(L.host->vswitch().port_count() == 3u);
    BOOST_TEST(!L.host->attached(t.port));
}

// veth.hpp: a pair is created with its ends in the given namespaces and nowhere else,
// and removing it removes both ends.
BOOST_AUTO_TEST_CASE(veth_pair_lives_in_its_namespaces) {
    leftover_guard g;
    auto x = need(io::netns::create(ns_prefix), "netns");
    auto y = need(io::netns::create(ns_prefix), "netns");
    const auto a = port_name(90), b = port_name(91);
    auto v = need(io::veth::create(x.name(), a, y.name(), b), "veth");
    auto index_in = [](const io::netns& ns, const std::string& n) {
        return need(ns.run_in([&]() -> result<unsigned> { return ::if_nametoindex(n.c_str()); }), "if_nametoindex");
    };
    BOOST_TEST(index_in(x, a) != 0u);
    BOOST_TEST(index_in(y, b) != 0u);
    BOOST_TEST(index_in(x, b) == 0u);
    BOOST_TEST(::if_nametoindex(a.c_str()) == 0u);  // never in the caller's namespace
    auto dup = io::veth::create(x.name(), a, y.name(), "other0");
    BOOST_REQUIRE(!dup.has_value());
    BOOST_TEST(dup.error().what == errc::conflict);
    auto bad_ns = io::veth::create(x.name(), "z0", "vnio-no-such-ns", "z1");
    BOOST_REQUIRE(!bad_ns.has_value());
    BOOST_TEST(bad_ns.error().what == errc::not_found);
    BOOST_TEST_MESSAGE(bad_ns.error().message());
    need(v.remove(), "veth remove");
    BOOST_TEST(index_in(x, a) == 0u);
    BOOST_TEST(index_in(y, b) == 0u);
    auto missing = io::packet_socket::open(x.name(), a);
    BOOST_REQUIRE(!missing.has_value());
    BOOST_TEST(missing.error().what == errc::not_found);
    BOOST_TEST(missing.error().message() == "io.packet_socket.if_nametoindex (ENODEV: No such device): not found");
}

// Teardown on a failure path: a lab destroyed by an exception leaves no namespace and no
// veth end behind.
BOOST_AUTO_TEST_CASE(teardown_after_an_exception_leaves_nothing) {
    leftover_guard g;
    std::vector<std::string> names;
    try {
        lab L(3);
        names.push_back(L.sw_ns.name());
        for (auto& l : L.leaves) names.push_back(l->ns.name());
        BOOST_TEST(io::netns::list(run_prefix()).size() >= 4u);
        throw std::runtime_error("a check failed");
    } catch (const std::runtime_error&) {}
    for (const auto& n : names) BOOST_TEST(::access(io::netns_path(n).c_str(), F_OK) != 0, n);
    for (int i = 0; i < 3; ++i) BOOST_TEST(::if_nametoindex(port_name(i).c_str()) == 0u);
}

// TX: sendmmsg against PACKET_TX_RING (TPACKET_V3 frames) on one veth, the same batches
// of 64 frames of 60 and of 1514 bytes; both deliver the bytes unchanged. The faster is
// the default (packet_socket.hpp header). Rates are printed, not asserted (2 shared cores).
BOOST_AUTO_TEST_CASE(tx_methods) {
    leftover_guard g;
    auto x = quiet_netns();
    auto y = quiet_netns();
    auto v = need(io::veth::create(x.name(), "tx0", y.name(), "rx0"), "veth");
    constexpr int per_batch = 64;
    for (std::size_t size : {std::size_t{60}, std::size_t{1514}}) {
        const int batches = size < 100 ? 2000 : 500;
        std::vector<std::vector<std::byte>> frames(per_batch, std::vector<std::byte>(size));
        for (int i = 0; i < per_batch; ++i) {
            auto& f = frames[static_cast<std::size_t>(i)];
            mac_address::broadcast().store(f, 0);
            leaf_mac(7).store(f, 6);
            store_be16(f, 12, 0x88b5);
            store_be16(f, 14, static_cast<std::uint16_t>(i));
        }
        std::vector<bytes_view> batch;
        for (auto& f : frames) batch.emplace_back(f);
        std::vector<double> rates[2];
        std::vector<double> cpu_ns[2];  // CPU time of the sending thread per frame (less noisy than wall time)
        const char* env_rounds = std::getenv("VNIO_TX_ROUNDS");
        const int rounds = env_rounds ? std::max(1, std::atoi(env_rounds)) : 3;
        for (int round = 0; round < rounds; ++round) {
            for (io::tx_method m : {io::tx_method::sendmmsg, io::tx_method::ring}) {
                io::packet_socket_options o;
                o.tx = m;
                o.promiscuous = false;
                auto tx = need(io::packet_socket::open(x.name(), "tx0", o), "tx socket");
                auto rx = need(io::packet_socket::open(y.name(), "rx0"), "rx socket");
                std::atomic<bool> done{false};
                std::uint64_t got = 0;
                bool same = true;
                std::thread reader([&] {
                    while (!done.load() || rx.wait(20ms)) {
                        if (!rx.wait(5ms)) continue;
                        for (auto f : rx.receive()) {
                            if (got == 0) same = std::equal(f.begin(), f.end(), frames[0].begin(), frames[0].end());
                            ++got;
                        }
                        rx.release();
                    }
                });
                const auto t0 = std::chrono::steady_clock::now();
                const double c0 = thread_cpu_seconds();
                std::uint64_t sent = 0;
                for (int b = 0; b < batches; ++b) sent += tx.send(batch);
                const double cpu = thread_cpu_seconds() - c0;
                const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                done = true;
                reader.join();
                const double fps = static_cast<double>(sent) / secs;
                rates[m == io::tx_method::ring ? 1 : 0].push_back(fps);
                cpu_ns[m == io::tx_method::ring ? 1 : 0].push_back(cpu * 1e9 / static_cast<double>(sent ? sent : 1));
                BOOST_TEST(sent > 0u);
                BOOST_TEST(got > 0u);
                BOOST_TEST(same, "first frame received unchanged via " << io::to_string(m));
                BOOST_TEST(tx.counters().tx_errors == 0u);
                BOOST_TEST(tx.counters().tx_too_big == 0u);
                BOOST_TEST_MESSAGE(
                    fmt::format("{} B {}: {} of {} frames in {:.3f} s = {:.0f} frames/s, {:.0f} ns CPU "
                                "per frame; received {}",
                                size, io::to_string(m), sent, batches * per_batch, secs, fps,
                                cpu_ns[m == io::tx_method::ring ? 1 : 0].back(), got));
            }
        }
        for (auto& r : rates) std::sort(r.begin(), r.end());
        for (auto& r : cpu_ns) std::sort(r.begin(), r.end());
        BOOST_TEST_MESSAGE(
            fmt::format("{} B median of {}: sendmmsg {:.0f} frames/s {:.0f} ns CPU/frame, tx ring {:.0f} "
                        "frames/s {:.0f} ns CPU/frame",
                        size, rounds, rates[0][rates[0].size() / 2], cpu_ns[0][cpu_ns[0].size() / 2],
                        rates[1][rates[1].size() / 2], cpu_ns[1][cpu_ns[1].size() / 2]));
    }
}

// Offloads kept (packet_socket_options::vnet_hdr on veths with TSO on): a TCP stream's
// super-frames cross the switch unsplit; both sockets count GSO frames and the switch
// segmented nothing in software.
BOOST_AUTO_TEST_CASE(tcp_super_frames_cross_the_switch_unsplit) {
    leftover_guard g;
    io::packet_socket_options o;
    o.vnet_hdr = true;
    lab L(2, o, true);
    const double bytes = tcp_stream_bytes(L, 0, 1);
    L.pause();
    BOOST_TEST(bytes > 1e6);
    BOOST_TEST(L.sock(0).counters().rx_gso > 0u, fmt::format("{}", L.sock(0).counters()));
    BOOST_TEST(L.sock(1).counters().tx_gso > 0u, fmt::format("{}", L.sock(1).counters()));
    BOOST_TEST(L.sock(1).counters().tx_too_big == 0u);
    BOOST_TEST(L.ctr(1).sw_segmented == 0u);
    BOOST_TEST_MESSAGE(fmt::format("one TCP stream, 1 s, offloads kept: {:.0f} MB; {}", bytes / 1e6, *L.host));
}

// A port that cannot take offloads (its socket has no vnet_hdr) gets wire frames: the
// switch segments the sender's super-frames for it in software and counts them, and the
// stream still arrives. (Without that step every super-frame would be too big for it.)
BOOST_AUTO_TEST_CASE(super_frames_are_segmented_for_a_port_without_offloads) {
    leftover_guard g;
    io::packet_socket_options o;
    o.vnet_hdr = true;
    lab L(1, o, true);
    L.pause();
    L.add_leaf(std::nullopt, io::packet_socket_options{}, false);
    L.resume();
    const double bytes = tcp_stream_bytes(L, 0, 1);
    L.pause();
    BOOST_TEST(bytes > 1e6);
    BOOST_TEST(L.sock(0).counters().rx_gso > 0u, fmt::format("{}", L.sock(0).counters()));
    BOOST_TEST(L.ctr(1).sw_segmented > 0u, fmt::format("{}", L.ctr(1)));
    BOOST_TEST(L.ctr(1).sw_segments > L.ctr(1).sw_segmented);
    BOOST_TEST(L.sock(1).counters().tx_too_big == 0u, fmt::format("{}", L.sock(1).counters()));
    BOOST_TEST(L.ctr(1).drop(sw::drop_reason::bad_offload) == 0u);
}

// A socket with vnet_hdr takes every offload, so the switch hands it super-frames even when
// its interface has no TSO (here a veth with offloads off): the kernel segments them on
// the way out (validate_xmit_skb), and the stream arrives.
BOOST_AUTO_TEST_CASE(the_kernel_segments_for_an_interface_without_tso) {
    leftover_guard g;
    io::packet_socket_options o;
    o.vnet_hdr = true;
    lab L(1, o, true);
    L.pause();
    L.add_leaf(std::nullopt, o, false);
    L.resume();
    const double bytes = tcp_stream_bytes(L, 0, 1);
    L.pause();
    BOOST_TEST(bytes > 1e6);
    BOOST_TEST(L.sock(1).counters().tx_gso > 0u, fmt::format("{}", L.sock(1).counters()));
    BOOST_TEST(L.ctr(1).sw_segmented == 0u);
}

// Nothing of this run is left: every namespace named after this process is gone.
BOOST_AUTO_TEST_CASE(no_namespace_of_this_run_is_left) { BOOST_TEST(io::netns::list(run_prefix()).empty()); }

BOOST_AUTO_TEST_SUITE_END()
