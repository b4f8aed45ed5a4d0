// Switching on real interfaces: the vnet switch against the Linux kernel bridge and
// vde_switch (Debian vde2), TCP throughput and UDP small-packet rate. Needs root, iperf3
// (Debian iperf3) and, for the vde rows, vde_switch; without them a benchmark is skipped
// with the reason.
//
// Two leaf namespaces a (10.78.0.1) and b (10.78.0.2) and a "switch" namespace:
//   vnet_switch           a veth per leaf (offloads off, veth_options default: MTU-sized,
//                         checksummed frames) whose other end, in the switch namespace, is
//                         a port of io::switch_host (TPACKET_V3 RX ring, TX ring); the
//                         reactor runs on a thread of this process
//   vnet_switch_sendmmsg  the same with sendmmsg() batches instead of the TX ring
//   vnet_switch_offload   the veths with their default offloads (as kernel_bridge_offload)
//                         and the ports' sockets with PACKET_VNET_HDR
//                         (packet_socket_options::vnet_hdr): GSO super-frames and partial
//                         checksums cross the vnet switch unsplit, with their virtio-net
//                         headers; gso_frames counts the super-frames the receiving port sent
//   vnet_switch_netvsc    the lab's switch pump with both ports on model = "netvsc": every
//                         frame also crosses an emulated VMBus channel (VSC, ring, VSP:
//                         RNDIS in send / receive sections) as a lab VM's NIC does;
//                         netvsc_drops counts what either channel dropped (expected 0)
//   vnet_switch_xdp       experiment (built when libxdp/libbpf are found): the vnet switch
//                         on AF_XDP sockets (bench/xsk_fabric.cpp: libxdp's default program
//                         and XSKMAP on each switch-side end, native veth XDP or, with
//                         VNET_BENCH_XDP_MODE=skb, generic; copy mode; one thread)
//   kernel_bridge         the same veths enslaved to a Linux bridge (ip link add type bridge)
//   kernel_bridge_offload the same bridge with the veths' default offloads (checksum, TSO,
//                         GSO, GRO on), as a bridge is run in practice: 64 KiB TCP
//                         super-frames with partial checksums cross it unsplit
//   vde_switch            vde_switch -t A -t B in the switch namespace, attached to two TAPs
//                         that are then moved into the leaves (one per leaf, their eth0):
//                         one user-space process reading both interfaces, as vnet does
//                         (no TAP offloads are enabled, so frames are MTU-sized too)
// Each fabric runs two tests, iperf3 -s in b and iperf3 -c in a:
//   _tcp    one TCP stream for 3 s; Gbit_s = receiver throughput (sum_received), retransmits
//   _udp64  iperf3 -u -l 64 -b 0 for 3 s (64-byte UDP payloads, 106-byte frames, sent as
//           fast as the sender can); rx_kpps = datagrams received per second (sum_received
//           packets - lost_packets), tx_kpps = datagrams sent per second, loss_pct
// On 2 shared cores the sender, the switch and the receiver compete for CPU: compare the
// rows of one run (ci/bench.sh prints the ratios), not figures across runs.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vnet/core/mac.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/process.hpp>
#include <vnet/io/reactor.hpp>
#include <vnet/io/switch_host.hpp>
#include <vnet/io/veth.hpp>
#include <vnet/lab/switch_pump.hpp>

#ifdef VNET_BENCH_XDP
#include "xsk_fabric.hpp"
#endif

namespace {

using namespace vnet;
using namespace std::chrono_literals;

constexpr std::string_view prefix = "vniob";

enum class fabric { vnet_ring, vnet_sendmmsg, vnet_offload, vnet_netvsc, vnet_xdp, kernel_bridge, kernel_bridge_offload, vde };
enum class traffic { tcp, udp64 };

/// The vde_switch process and its files. vde_switch exits at EOF on stdin, so its stdin is
/// a FIFO this object keeps open for writing; the child RAII kills it.
struct vde_run {
    std::string dir;
    int fifo_fd = -1;
    std::optional<io::child> proc;

    ~vde_run() {
        proc.reset();
        if (fifo_fd >= 0) ::close(fifo_fd);
        std::error_code ec;
        if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
};

/// Everything one run needs; members are destroyed in reverse order (vde_switch, loop,
/// host, veths, namespaces).
struct bench_lab {
    std::optional<io::netns> sw, a, b;
    std::optional<io::veth> va, vb;
    std::optional<io::reactor> r;
    std::unique_ptr<io::switch_host<>> host;
    std::thread loop;
    std::optional<vde_run> vde;
    std::optional<lab::switch_pump> pump;
#ifdef VNET_BENCH_XDP
    std::unique_ptr<bench_xsk::xsk_switch> xsk;
#endif

    ~bench_lab() {
        vde.reset();
        pump.reset();
#ifdef VNET_BENCH_XDP
        xsk.reset();
#endif
        if (loop.joinable()) {
            r->stop();
            loop.join();
        }
    }
};

std::string end_name(char side) { return fmt::format("{}{}{}", prefix, ::getpid(), side); }

std::optional<std::string> run_all(const io::netns& ns, const std::vector<std::vector<std::string>>& cmds) {
    for (const auto& cmd : cmds) {
        auto r = ns.exec(cmd);
        if (!r || r->status != 0) return fmt::format("{} failed", fmt::join(cmd, " "));
    }
    return std::nullopt;
}

bool has_program(const char* name) {
    for (const char* dir : {"/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/local/bin/"})
        if (::access((std::string(dir) + name).c_str(), X_OK) == 0) return true;
    return false;
}

/// vde_switch on two TAPs made in the switch namespace, then moved into the leaves as eth0.
std::optional<std::string> build_vde(bench_lab& L) {
    L.vde.emplace();
    auto& v = *L.vde;
    v.dir = fmt::format("/tmp/{}{}-vde", prefix, ::getpid());
    std::error_code ec;
    std::filesystem::create_directories(v.dir, ec);
    if (ec) return "cannot create " + v.dir;
    const std::string fifo = v.dir + "/stdin";
    if (::mkfifo(fifo.c_str(), 0600) != 0) return "mkfifo failed";
    v.fifo_fd = ::open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // a writer for as long as we live
    if (v.fifo_fd < 0) return "cannot open the vde_switch stdin FIFO";
    const std::string ta = end_name('a'), tb = end_name('b');
    if (auto e = run_all(*L.sw, {{"ip", "tuntap", "add", ta, "mode", "tap"}, {"ip", "tuntap", "add", tb, "mode", "tap"}}))
        return e;
    io::spawn_options o;
    o.netns = L.sw->name();
    o.stderr_path = v.dir + "/vde_switch.log";
    auto c = io::spawn({"sh", "-c", fmt::format("exec vde_switch -t {} -t {} -s {}/ctl < {}", ta, tb, v.dir, fifo)}, o);
    if (!c) return c.error().message();
    v.proc.emplace(std::move(*c));
    // vde_switch opens its TAPs before it creates its control socket.
    for (int i = 0; i < 50 && !std::filesystem::exists(v.dir + "/ctl/ctl"); ++i) std::this_thread::sleep_for(20ms);
    if (!std::filesystem::exists(v.dir + "/ctl/ctl")) return "vde_switch did not start (see its log)";
    for (auto [tap, leaf] : {std::pair{ta, &*L.a}, std::pair{tb, &*L.b}}) {
        if (auto e = run_all(*L.sw, {{"ip", "link", "set", tap, "netns", leaf->name()}})) return e;
        if (auto e = run_all(*leaf, {{"ip", "link", "set", tap, "name", "eth0"}})) return e;
    }
    return std::nullopt;
}

/// Experiments (opt-in, vnet fabrics only; the bridge rows stay as they are):
///   VNET_BENCH_GRO=leaf|switch|both   ethtool -K gro on: the leaf b's eth0 (the receiver's
///                                     end) and/or the switch-side ends: the veth then has
///                                     NAPI (veth_poll) instead of the per-CPU backlog
///   VNET_BENCH_THREADED=1|2           /sys/class/net/<those ends>/threaded (1: NAPI in a
///                                     kernel thread napi/<dev>-N; 2: threaded busy poll)
std::optional<std::string> apply_napi_knobs(bench_lab& L) {
    const char* g = std::getenv("VNET_BENCH_GRO");
    if (!g || !*g) return std::nullopt;
    const std::string where = g;
    const char* th = std::getenv("VNET_BENCH_THREADED");
    std::vector<std::pair<std::string, std::string>> ends;  // (namespace, interface)
    if (where == "leaf" || where == "both") ends.emplace_back(L.b->name(), "eth0");
    if (where == "switch" || where == "both")
        for (char side : {'a', 'b'}) ends.emplace_back(L.sw->name(), end_name(side));
    // `ip netns exec` mounts the namespace's own /sys, where its interfaces' threaded files are.
    std::vector<std::vector<std::string>> cmds;
    for (const auto& [ns, dev] : ends) {
        cmds.push_back({"ip", "netns", "exec", ns, "ethtool", "-K", dev, "gro", "on"});
        if (th && *th)
            cmds.push_back({"ip", "netns", "exec", ns, "sh", "-c", fmt::format("echo {} > /sys/class/net/{}/threaded", th, dev)});
    }
    for (const auto& cmd : cmds) {
        auto r = io::run(cmd, {}, std::chrono::seconds(10));
        if (!r || r->status != 0) return fmt::format("{} failed", fmt::join(cmd, " "));
    }
    return std::nullopt;
}

std::optional<std::string> build(bench_lab& L, fabric f) {
    auto mk = [](std::optional<io::netns>& n) -> std::optional<std::string> {
        auto r = io::netns::create(prefix);
        if (!r) return r.error().message();
        n.emplace(std::move(*r));
        return std::nullopt;
    };
    for (auto* n : {&L.sw, &L.a, &L.b})
        if (auto e = mk(*n)) return e;
    if (f == fabric::vde) {
        if (auto e = build_vde(L)) return e;
    } else {
        io::veth_options vo;
        vo.offloads = f == fabric::kernel_bridge_offload || f == fabric::vnet_offload;
        auto va = io::veth::create(L.a->name(), "eth0", L.sw->name(), end_name('a'), vo);
        if (!va) return va.error().message();
        L.va.emplace(std::move(*va));
        auto vb = io::veth::create(L.b->name(), "eth0", L.sw->name(), end_name('b'), vo);
        if (!vb) return vb.error().message();
        L.vb.emplace(std::move(*vb));
    }
    for (auto [ns, ip] : {std::pair{&*L.a, "10.78.0.1/24"}, std::pair{&*L.b, "10.78.0.2/24"}})
        if (auto e = run_all(*ns, {{"ip", "addr", "add", ip, "dev", "eth0"}, {"ip", "link", "set", "eth0", "up"}})) return e;
    if (f == fabric::vde) return std::nullopt;
    if (f != fabric::kernel_bridge && f != fabric::kernel_bridge_offload)
        if (auto e = apply_napi_knobs(L)) return e;
    if (f == fabric::vnet_xdp) {
#ifdef VNET_BENCH_XDP
        L.xsk = bench_xsk::make_xsk_switch(sw::switch_spec{"bench", sw::switch_kind::private_, {}, false});
        for (char side : {'a', 'b'}) {
            sw::port_config cfg;
            cfg.name = std::string(1, side);
            if (auto e = L.xsk->add(L.sw->name(), end_name(side), cfg)) return e;
        }
        L.xsk->start();
        return std::nullopt;
#else
        return std::string("built without libxdp (apt-get install libxdp-dev libbpf-dev)");
#endif
    }
    if (f == fabric::kernel_bridge || f == fabric::kernel_bridge_offload)
        return run_all(*L.sw, {{"ip", "link", "add", "br0", "type", "bridge"},
                               {"ip", "link", "set", end_name('a'), "master", "br0"},
                               {"ip", "link", "set", end_name('b'), "master", "br0"},
                               {"ip", "link", "set", "br0", "up"}});
    if (f == fabric::vnet_netvsc) {
        L.pump.emplace();
        auto s = L.pump->add_switch(sw::switch_spec{"bench", sw::switch_kind::private_, {}, false});
        for (char side : {'a', 'b'}) {
            auto fd = lab::open_packet_socket(L.sw->name(), end_name(side));
            if (!fd) return fd.error().message();
            sw::port_config cfg;
            cfg.name = std::string(1, side);
            auto id = L.pump->add_port(s, cfg, std::move(*fd), lab::port_fd_kind::packet_socket, "");
            if (!id) return id.error().message();
            if (auto n = L.pump->attach_netvsc(s, *id); !n) return n.error().message();
        }
        if (auto st = L.pump->start(); !st) return st.error().message();
        return std::nullopt;
    }
    auto r = io::reactor::create();
    if (!r) return r.error().message();
    L.r.emplace(std::move(*r));
    auto h = io::switch_host<>::create(*L.r, sw::switch_spec{"bench", sw::switch_kind::private_, {}, false});
    if (!h) return h.error().message();
    L.host = std::move(*h);
    for (char side : {'a', 'b'}) {
        sw::port_config cfg;
        cfg.name = std::string(1, side);
        io::packet_socket_options o;
        o.tx = f == fabric::vnet_sendmmsg ? io::tx_method::sendmmsg : io::tx_method::ring;
        o.vnet_hdr = f == fabric::vnet_offload;
        auto p = L.host->attach(L.sw->name(), end_name(side), cfg, o);
        if (!p) return p.error().message();
    }
    L.loop = std::thread([&L] { (void)L.r->run(); });
    return std::nullopt;
}

/// The number after "key": inside the JSON object that follows "section":.
std::optional<double> json_number(const std::string& json, const std::string& section, const std::string& key) {
    const std::regex re("\"" + section + "\":\\s*\\{[^}]*\"" + key + "\":\\s*([0-9.eE+-]+)");
    std::smatch m;
    if (!std::regex_search(json, m, re)) return std::nullopt;
    return std::stod(m[1]);
}

void run_iperf(benchmark::State& state, fabric f, traffic t) {
    if (::geteuid() != 0) {
        state.SkipWithError("needs root");
        return;
    }
    if (!has_program("iperf3")) {
        state.SkipWithError("iperf3 not found (apt-get install iperf3)");
        return;
    }
    if (f == fabric::vde && !has_program("vde_switch")) {
        state.SkipWithError("vde_switch not found (apt-get install vde2)");
        return;
    }
    for (auto _ : state) {
        bench_lab L;
        if (auto e = build(L, f)) {
            state.SkipWithError(e->c_str());
            return;
        }
        auto server = L.b->spawn({"iperf3", "-s", "-1", "-B", "10.78.0.2"});
        if (!server) {
            state.SkipWithError("iperf3 -s failed to start");
            return;
        }
        std::this_thread::sleep_for(300ms);
        std::vector<std::string> client{"iperf3", "-c", "10.78.0.2", "-t", "3", "-J"};
        if (t == traffic::udp64) client.insert(client.end(), {"-u", "-l", "64", "-b", "0"});
        auto c = L.a->exec(client, 30s);
        if (!c || c->status != 0) {
            state.SkipWithError("iperf3 client failed");
            return;
        }
        if (t == traffic::tcp) {
            if (auto v = json_number(c->out, "sum_received", "bits_per_second")) state.counters["Gbit_s"] = *v / 1e9;
            if (auto v = json_number(c->out, "sum_sent", "retransmits")) state.counters["retransmits"] = *v;
        } else {
            auto secs = json_number(c->out, "sum_received", "seconds");
            auto rx = json_number(c->out, "sum_received", "packets");
            auto lost = json_number(c->out, "sum_received", "lost_packets");
            auto tx = json_number(c->out, "sum_sent", "packets");
            auto tx_secs = json_number(c->out, "sum_sent", "seconds");
            if (secs && rx && lost && *secs > 0) state.counters["rx_kpps"] = (*rx - *lost) / *secs / 1e3;
            if (tx && tx_secs && *tx_secs > 0) state.counters["tx_kpps"] = *tx / *tx_secs / 1e3;
            if (auto v = json_number(c->out, "sum_received", "lost_percent")) state.counters["loss_pct"] = *v;
        }
        if (L.host) {
            L.r->stop();
            L.loop.join();
            std::uint64_t drops = 0, gso = 0, sw_gso = 0;
            for (auto id : L.host->vswitch().ports()) {
                drops += L.host->socket(id).counters().rx_kernel_drops;
                gso += L.host->socket(id).counters().tx_gso;
                sw_gso += L.host->vswitch().counters(id).sw_segmented;
            }
            state.counters["ring_drops"] = static_cast<double>(drops);
            if (f == fabric::vnet_offload) {
                state.counters["gso_frames"] = static_cast<double>(gso);
                state.counters["sw_segmented"] = static_cast<double>(sw_gso);
            }
        }
#ifdef VNET_BENCH_XDP
        if (L.xsk) {
            L.xsk->stop();
            auto xc = L.xsk->totals();
            state.counters["xsk_rx"] = static_cast<double>(xc.rx);
            state.counters["xsk_tx"] = static_cast<double>(xc.tx);
            state.counters["xsk_tx_nobuf"] = static_cast<double>(xc.tx_no_buffer);
            state.counters["xsk_kdrops"] = static_cast<double>(L.xsk->kernel_drops());
        }
#endif
        if (L.pump) {
            L.pump->stop();
            std::uint64_t drops = 0, frames = 0;
            for (const auto& p : L.pump->ports())
                if (p.netvsc) {
                    drops += p.netvsc->guest_to_host.total_drops() + p.netvsc->host_to_guest.total_drops();
                    frames += p.netvsc->guest_to_host.frames + p.netvsc->host_to_guest.frames;
                }
            state.counters["netvsc_drops"] = static_cast<double>(drops);
            state.counters["netvsc_frames"] = static_cast<double>(frames);
        }
    }
}

void vnet_switch_tcp(benchmark::State& s) { run_iperf(s, fabric::vnet_ring, traffic::tcp); }
void vnet_switch_sendmmsg_tcp(benchmark::State& s) { run_iperf(s, fabric::vnet_sendmmsg, traffic::tcp); }
void vnet_switch_netvsc_tcp(benchmark::State& s) { run_iperf(s, fabric::vnet_netvsc, traffic::tcp); }
void vnet_switch_offload_tcp(benchmark::State& s) { run_iperf(s, fabric::vnet_offload, traffic::tcp); }
void kernel_bridge_tcp(benchmark::State& s) { run_iperf(s, fabric::kernel_bridge, traffic::tcp); }
void kernel_bridge_offload_tcp(benchmark::State& s) { run_iperf(s, fabric::kernel_bridge_offload, traffic::tcp); }
void vde_switch_tcp(benchmark::State& s) { run_iperf(s, fabric::vde, traffic::tcp); }
void vnet_switch_udp64(benchmark::State& s) { run_iperf(s, fabric::vnet_ring, traffic::udp64); }
void vnet_switch_sendmmsg_udp64(benchmark::State& s) { run_iperf(s, fabric::vnet_sendmmsg, traffic::udp64); }
void vnet_switch_netvsc_udp64(benchmark::State& s) { run_iperf(s, fabric::vnet_netvsc, traffic::udp64); }
void vnet_switch_offload_udp64(benchmark::State& s) { run_iperf(s, fabric::vnet_offload, traffic::udp64); }
void vnet_switch_xdp_tcp(benchmark::State& s) { run_iperf(s, fabric::vnet_xdp, traffic::tcp); }
void vnet_switch_xdp_udp64(benchmark::State& s) { run_iperf(s, fabric::vnet_xdp, traffic::udp64); }
void kernel_bridge_udp64(benchmark::State& s) { run_iperf(s, fabric::kernel_bridge, traffic::udp64); }
void kernel_bridge_offload_udp64(benchmark::State& s) { run_iperf(s, fabric::kernel_bridge_offload, traffic::udp64); }
void vde_switch_udp64(benchmark::State& s) { run_iperf(s, fabric::vde, traffic::udp64); }

BENCHMARK(vnet_switch_tcp)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vnet_switch_sendmmsg_tcp)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vnet_switch_netvsc_tcp)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vnet_switch_offload_tcp)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(kernel_bridge_tcp)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(kernel_bridge_offload_tcp)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vde_switch_tcp)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vnet_switch_udp64)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vnet_switch_sendmmsg_udp64)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vnet_switch_netvsc_udp64)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vnet_switch_offload_udp64)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vnet_switch_xdp_tcp)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vnet_switch_xdp_udp64)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(kernel_bridge_udp64)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(kernel_bridge_offload_udp64)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vde_switch_udp64)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
