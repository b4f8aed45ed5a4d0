// NAT benchmarks (Google Benchmark): translations per second on established flows,
// new-flow setup rate, and the table's memory per flow at 1 million flows.
#include <malloc.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include <vnet/services/nat.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/udp.hpp>

namespace {

using namespace vnet;
using bytes = std::vector<std::byte>;
const ipv4_address host_ext{192, 168, 0, 10};
const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);

svc::nat make_nat(std::size_t max_flows) {
    svc::nat_config c;
    c.name = "bench-NAT";
    c.internal_prefix = ipv4_prefix(ipv4_address(10, 0, 0, 0), 8);
    c.external_address = host_ext;
    c.max_flows = max_flows;
    auto n = svc::nat::make(c);
    if (!n) std::abort();
    return std::move(*n);
}

/// A 64-octet UDP datagram (36 octets of payload).
bytes udp(ipv4_address src, std::uint16_t sport, ipv4_address dst, std::uint16_t dport) {
    static const std::string_view payload = "0123456789abcdef0123456789abcdef0123";
    wire::udp_repr u{sport, dport, payload.size()};
    wire::ipv4_repr ip;
    ip.src = src;
    ip.dst = dst;
    ip.protocol = wire::ip_protocol::udp;
    ip.payload_len = u.buffer_len();
    bytes out(ip.buffer_len());
    (void)ip.emit(out);
    (void)u.emit(bytes_span(out).subspan(20), as_bytes_view(payload), src, dst);
    return out;
}

/// Flow i of a set with distinct (remote, remote port, external port) triples:
/// inside 10.x.y.z:40000+i/65536, remote 203.0.(i%65536 as two octets):443.
struct flow_addr {
    ipv4_address inside;
    std::uint16_t inside_port;
    ipv4_address remote;
};
flow_addr flow(std::uint32_t i) {
    return {ipv4_address(0x0a000000u + 1 + i), static_cast<std::uint16_t>(40000 + i / 65536),
            ipv4_address(0xcb000000u | (i % 65536))};
}

// Established flows: one outbound and one inbound translation per iteration (the
// templates are copied in, as a datapath would hand fresh frames).
void BM_nat_translate_established(benchmark::State& state) {
    const auto flows = static_cast<std::uint32_t>(state.range(0));
    auto n = make_nat(flows);
    n.reserve(flows);
    std::vector<bytes> out_tpl, in_tpl;
    for (std::uint32_t i = 0; i < flows; ++i) {
        const auto f = flow(i);
        auto p = udp(f.inside, f.inside_port, f.remote, 443);
        if (!n.outbound(p, t0)) std::abort();
        if (i < 4096) {
            out_tpl.push_back(udp(f.inside, f.inside_port, f.remote, 443));
            in_tpl.push_back(udp(f.remote, 443, host_ext, f.inside_port));
        }
    }
    const std::size_t k = out_tpl.size();
    bytes buf(64);
    std::size_t i = 0;
    for (auto _ : state) {
        std::memcpy(buf.data(), out_tpl[i].data(), 64);
        benchmark::DoNotOptimize(n.outbound(buf, t0));
        std::memcpy(buf.data(), in_tpl[i].data(), 64);
        benchmark::DoNotOptimize(n.inbound(buf, t0));
        benchmark::ClobberMemory();
        if (++i == k) i = 0;
    }
    if (n.counters().total_drops() != 0) state.SkipWithError("dropped packets");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 2);
    state.counters["flows"] = flows;
}
BENCHMARK(BM_nat_translate_established)->Arg(1024)->Arg(65536)->Arg(1 << 20);

// New flows: every packet sets up a flow (port preservation, two index inserts); the
// table is cleared (outside the timing) when it fills.
void BM_nat_new_flow(benchmark::State& state) {
    constexpr std::uint32_t cap = 1 << 20;
    auto n = make_nat(cap);
    n.reserve(cap);
    std::vector<bytes> tpl;
    for (std::uint32_t i = 0; i < cap; ++i) {
        const auto f = flow(i);
        tpl.push_back(udp(f.inside, f.inside_port, f.remote, 443));
    }
    bytes buf(64);
    std::uint32_t i = 0;
    for (auto _ : state) {
        if (i == cap) {
            state.PauseTiming();
            n = make_nat(cap);
            n.reserve(cap);
            i = 0;
            state.ResumeTiming();
        }
        std::memcpy(buf.data(), tpl[i].data(), 64);
        benchmark::DoNotOptimize(n.outbound(buf, t0));
        ++i;
    }
    if (n.counters().total_drops() != 0) state.SkipWithError("dropped packets");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_nat_new_flow);

// Memory per flow at 1 million flows: heap bytes the NAT holds (glibc mallinfo2, the
// real allocation including allocator overhead) divided by flows, next to the table's own
// count of its vectors' capacities. The table grows as it would in use (no reserve).
void BM_nat_bytes_per_flow(benchmark::State& state) {
    constexpr std::uint32_t flows = 1'000'000;
    for (auto _ : state) {
        const auto before = mallinfo2().uordblks;
        auto n = make_nat(flows);
        bytes buf(64);
        for (std::uint32_t i = 0; i < flows; ++i) {
            const auto f = flow(i);
            buf = udp(f.inside, f.inside_port, f.remote, 443);
            if (!n.outbound(buf, t0)) std::abort();
        }
        const auto after = mallinfo2().uordblks;
        state.counters["flows"] = static_cast<double>(n.flow_count());
        state.counters["heap_bytes_per_flow"] = static_cast<double>(after - before) / flows;
        state.counters["table_bytes_per_flow"] = static_cast<double>(n.memory_bytes()) / flows;
    }
}
BENCHMARK(BM_nat_bytes_per_flow)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
