// Switch throughput in memory: 64-byte frames, 1,024 learned MACs, batches of 256.
//
//   learned_unicast      untagged VM ports, every destination known (the 30 Mfps target)
//   flood_broadcast      broadcast from one port to 4 / 16 others (frames in per second)
//   access_to_access     access VLAN 10 on both sides, learned unicast
//   access_to_trunk      access VLAN 10 -> tagged uplink (a tag inserted per frame)
//   trunk_to_access      tagged uplink -> access VLAN 10 (a tag removed per frame)
//
// Counters: items_per_second = frames per second through the switch; time_per_frame
// = CPU time per frame ("33.2n" = 33.2 ns).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include <vnet/switch/vswitch.hpp>
#include <vnet/wire/vlan.hpp>

namespace {

using namespace vnet;
using namespace vnet::sw;

using bench_switch = vswitch<counting_port, steady_clock_source>;

constexpr std::size_t frame_len = 64;
constexpr std::size_t batch_len = 256;
constexpr int stations = 1024;  // learned MACs: 512 behind each side

mac_address station(int side, int i) {
    return mac_address::from_u64(0x00155d000000ULL | (std::uint64_t(side) << 16) | std::uint64_t(i));
}

std::vector<std::byte> make_frame(mac_address dst, mac_address src, int tag_vid = -1) {
    std::vector<std::byte> f(frame_len);
    dst.store(f, 0);
    src.store(f, 6);
    store_be16(f, 12, 0x0800);
    if (tag_vid >= 0) {
        std::vector<std::byte> t(frame_len + 4);
        (void)wire::push_vlan_tag(f, wire::vlan_tag{wire::ethertype::vlan, 0, false, static_cast<std::uint16_t>(tag_vid)}, t);
        t.resize(frame_len);  // keep 64 bytes on the wire
        return t;
    }
    return f;
}

struct traffic {
    std::vector<std::vector<std::byte>> storage;
    std::vector<bytes_view> views;
    void add(std::vector<std::byte> f) { storage.push_back(std::move(f)); }
    void finish() {
        for (auto& f : storage) views.emplace_back(f.data(), f.size());
    }
};

void report(benchmark::State& state, std::size_t frames) {
    state.SetItemsProcessed(static_cast<std::int64_t>(frames));
    // seconds per frame, printed with an SI prefix ("33.2n" = 33.2 ns)
    state.counters["time_per_frame"] = benchmark::Counter(static_cast<double>(frames),
                                                          benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Two sides, 512 stations each, all learned; frames from side 0 to side 1.
void run_unicast(benchmark::State& state, const port_config& a_cfg, const port_config& b_cfg, int tag_from_a) {
    bench_switch sw(switch_spec{"bench", switch_kind::external, "eth0", true});
    auto a = *sw.add_port(a_cfg, counting_port{});
    auto b = *sw.add_port(b_cfg, counting_port{});
    traffic learn_a, learn_b, t;
    const int per_side = stations / 2;
    const int tag_to_b = tag_from_a;  // untagged (-1) or the tag side 1 would send
    for (int i = 0; i < per_side; ++i) {
        learn_a.add(make_frame(mac_address::broadcast(), station(0, i), a_cfg.role == port_role::external_adapter ? 10 : -1));
        learn_b.add(make_frame(mac_address::broadcast(), station(1, i), b_cfg.role == port_role::external_adapter ? 10 : -1));
        t.add(make_frame(station(1, i), station(0, i), tag_from_a));
    }
    (void)tag_to_b;
    learn_a.finish();
    learn_b.finish();
    t.finish();
    sw.send(a, learn_a.views);
    sw.send(b, learn_b.views);
    if (sw.table().size() != static_cast<std::size_t>(stations)) state.SkipWithError("stations not learned");
    std::size_t off = 0, frames = 0;
    for (auto _ : state) {
        sw.send(a, std::span<const bytes_view>(t.views.data() + off, batch_len));
        off = (off + batch_len) % t.views.size();
        frames += batch_len;
    }
    if (sw.transport(b).frames < frames) state.SkipWithError("frames lost");
    report(state, frames);
}

port_config vm_port(const char* name) {
    port_config c;
    c.name = name;
    c.mac_spoofing = true;  // 512 stations behind the port
    return c;
}

void learned_unicast(benchmark::State& state) { run_unicast(state, vm_port("a"), vm_port("b"), -1); }

void access_to_access(benchmark::State& state) {
    auto a = vm_port("a"), b = vm_port("b");
    a.vlan = b.vlan = vlan_setting::access(10);
    run_unicast(state, a, b, -1);
}

void access_to_trunk(benchmark::State& state) {
    auto a = vm_port("a");
    a.vlan = vlan_setting::access(10);
    run_unicast(state, a, port_config::uplink("eth0"), -1);
}

void trunk_to_access(benchmark::State& state) {
    auto b = vm_port("b");
    b.vlan = vlan_setting::access(10);
    run_unicast(state, port_config::uplink("eth0"), b, 10);
}

void flood_broadcast(benchmark::State& state) {
    bench_switch sw(switch_spec{"bench", switch_kind::private_, {}, false});
    const auto fanout = static_cast<int>(state.range(0));
    auto a = *sw.add_port(vm_port("a"), counting_port{});
    for (int i = 0; i < fanout; ++i) (void)sw.add_port(vm_port("peer"), counting_port{});
    traffic t;
    for (int i = 0; i < stations; ++i) t.add(make_frame(mac_address::broadcast(), station(0, i)));
    t.finish();
    std::size_t off = 0, frames = 0;
    for (auto _ : state) {
        sw.send(a, std::span<const bytes_view>(t.views.data() + off, batch_len));
        off = (off + batch_len) % t.views.size();
        frames += batch_len;
    }
    report(state, frames);
    state.counters["copies_per_frame"] = static_cast<double>(fanout);
}

}  // namespace

BENCHMARK(learned_unicast);
BENCHMARK(access_to_access);
BENCHMARK(access_to_trunk);
BENCHMARK(trunk_to_access);
BENCHMARK(flood_broadcast)->Arg(4)->Arg(16);

BENCHMARK_MAIN();
