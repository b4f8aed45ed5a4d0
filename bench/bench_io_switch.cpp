// TCP throughput through the vnet switch on real interfaces against the kernel bridge.
// Needs root and iperf3 (Debian package iperf3); without them each benchmark is skipped.
//
// Two leaf namespaces, each with a veth (offloads off, veth_options default: MTU-sized,
// checksummed frames) whose other end is in a "switch" namespace:
//   vnet_switch    the ends are ports of io::switch_host (TPACKET_V3 RX ring, TX ring),
//                  its reactor on a thread of this process
//   vnet_switch_sendmmsg  the same with sendmmsg() batches instead of the TX ring
//   kernel_bridge  the same ends enslaved to a Linux bridge (ip link add type bridge)
// iperf3 -s runs in leaf b, iperf3 -c (3 s, one TCP stream) in leaf a.
//
// Counters: Gbit_s = receiver throughput reported by iperf3 (sum_received); retransmits.
// Wall-clock figures on 2 shared cores: compare the two rows of one run, not across runs.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vnet/core/mac.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/process.hpp>
#include <vnet/io/reactor.hpp>
#include <vnet/io/switch_host.hpp>
#include <vnet/io/veth.hpp>

namespace {

using namespace vnet;
using namespace std::chrono_literals;

constexpr std::string_view prefix = "vniob";

/// Everything one run needs; members are destroyed in reverse order (loop, host, veths,
/// namespaces).
struct bench_lab {
    std::optional<io::netns> sw, a, b;
    std::optional<io::veth> va, vb;
    std::optional<io::reactor> r;
    std::unique_ptr<io::switch_host<>> host;
    std::thread loop;

    ~bench_lab() {
        if (loop.joinable()) {
            r->stop();
            loop.join();
        }
    }
};

std::string end_name(char side) { return fmt::format("{}{}{}", prefix, ::getpid(), side); }

std::optional<std::string> build(bench_lab& L, bool kernel_bridge, io::tx_method tx) {
    auto mk = [](std::optional<io::netns>& n) -> std::optional<std::string> {
        auto r = io::netns::create(prefix);
        if (!r) return r.error().message();
        n.emplace(std::move(*r));
        return std::nullopt;
    };
    for (auto* n : {&L.sw, &L.a, &L.b})
        if (auto e = mk(*n)) return e;
    auto va = io::veth::create(L.a->name(), "eth0", L.sw->name(), end_name('a'));
    if (!va) return va.error().message();
    L.va.emplace(std::move(*va));
    auto vb = io::veth::create(L.b->name(), "eth0", L.sw->name(), end_name('b'));
    if (!vb) return vb.error().message();
    L.vb.emplace(std::move(*vb));
    for (auto [ns, ip] : {std::pair{&*L.a, "10.78.0.1/24"}, std::pair{&*L.b, "10.78.0.2/24"}}) {
        auto r = ns->exec({"ip", "addr", "add", ip, "dev", "eth0"});
        if (!r || r->status != 0) return std::string("ip addr add failed");
    }
    if (kernel_bridge) {
        for (const std::vector<std::string>& cmd :
             {std::vector<std::string>{"ip", "link", "add", "br0", "type", "bridge"},
              std::vector<std::string>{"ip", "link", "set", end_name('a'), "master", "br0"},
              std::vector<std::string>{"ip", "link", "set", end_name('b'), "master", "br0"},
              std::vector<std::string>{"ip", "link", "set", "br0", "up"}}) {
            auto r = L.sw->exec(cmd);
            if (!r || r->status != 0) return fmt::format("{} failed", fmt::join(cmd, " "));
        }
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
        o.tx = tx;
        auto p = L.host->attach(L.sw->name(), end_name(side), cfg, o);
        if (!p) return p.error().message();
    }
    L.loop = std::thread([&L] { (void)L.r->run(); });
    return std::nullopt;
}

void run_iperf(benchmark::State& state, bool kernel_bridge, io::tx_method tx = io::tx_method::ring) {
    if (::geteuid() != 0) {
        state.SkipWithError("needs root");
        return;
    }
    for (auto _ : state) {
        bench_lab L;
        if (auto e = build(L, kernel_bridge, tx)) {
            state.SkipWithError(e->c_str());
            return;
        }
        auto server = L.b->spawn({"iperf3", "-s", "-1", "-B", "10.78.0.2"});
        if (!server) {
            state.SkipWithError("iperf3 not found (apt-get install iperf3)");
            return;
        }
        std::this_thread::sleep_for(300ms);
        auto c = L.a->exec({"iperf3", "-c", "10.78.0.2", "-t", "3", "-J"}, 30s);
        if (!c || c->status != 0) {
            state.SkipWithError("iperf3 client failed");
            return;
        }
        std::smatch m;
        static const std::regex recv(R"("sum_received":\s*\{[^}]*"bits_per_second":\s*([0-9.e+]+))");
        static const std::regex retr(R"("sum_sent":\s*\{[^}]*"retransmits":\s*([0-9]+))");
        if (std::regex_search(c->out, m, recv)) state.counters["Gbit_s"] = std::stod(m[1]) / 1e9;
        if (std::regex_search(c->out, m, retr)) state.counters["retransmits"] = std::stod(m[1]);
        if (L.host) {
            L.r->stop();
            L.loop.join();
            std::uint64_t drops = 0;
            for (auto id : L.host->vswitch().ports()) drops += L.host->socket(id).counters().rx_kernel_drops;
            state.counters["ring_drops"] = static_cast<double>(drops);
        }
    }
}

void vnet_switch(benchmark::State& state) { run_iperf(state, false); }
void vnet_switch_sendmmsg(benchmark::State& state) { run_iperf(state, false, io::tx_method::sendmmsg); }
void kernel_bridge(benchmark::State& state) { run_iperf(state, true); }

BENCHMARK(vnet_switch)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(vnet_switch_sendmmsg)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(kernel_bridge)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
