// netvsc channel throughput in memory: frames per second from the guest model (VSC)
// through the guest-to-host VMBus ring into the host model (VSP), 64- and 1500-byte
// frames, through send-buffer sections (the Linux guest's path for small frames) and
// GPA direct. Each iteration sends a batch of frames, then the VSP polls them (frames
// counted by a sink) and the VSC takes the completions back.
//
// netvsc_into_switch: a netvsc link (vnet/netvsc/port.hpp) in front of a switch port; a
// batch of frames crosses VSC -> ring -> VSP and enters the switch, which forwards it to a
// counting port; items = frames the switch delivered.
// The switch rows: two netvsc ports on a vswitch; a batch of frames
// from guest A crosses its link (VSC -> ring -> VSP), is switched (unicast to B, learned)
// and crosses B's link (VSP -> ring -> VSC) to B's guest sink, completions taken back on
// both links; items = frames that reached guest B.
//
// Counters: items_per_second = frames per second VSC -> ring -> VSP (-> switch -> VSP ->
// ring -> VSC for the switch rows).
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <vnet/netvsc/port.hpp>
#include <vnet/netvsc/vsc.hpp>
#include <vnet/netvsc/vsp.hpp>
#include <vnet/switch/vswitch.hpp>

namespace {

using namespace vnet;
using namespace vnet::netvsc;

constexpr std::size_t batch = 64;
constexpr std::uint32_t recv_gpadl = 1, send_gpadl = 2;

struct channel {
    std::vector<std::byte> gpadl = std::vector<std::byte>(2 * 65 * vmbus_page_size);  // 256 KiB rings
    std::vector<std::byte> recv_buf = std::vector<std::byte>(1728 * 256);
    std::vector<std::byte> send_buf = std::vector<std::byte>(6144 * 128);
    std::vector<std::byte> guest_mem = std::vector<std::byte>(1024 * vmbus_page_size);
    std::optional<vsc> guest;
    std::optional<vsp> host;
    std::size_t frames = 0;

    explicit channel(bool gpa_direct) {
        auto rings = *split_channel_memory(gpadl, 65);
        vsc_config gc;
        gc.receive_gpadl = recv_gpadl;
        gc.send_gpadl = send_gpadl;
        gc.gpa_direct = gpa_direct;
        gc.gpa_slots = batch;
        guest.emplace(*vsc::create(rings, recv_buf, send_buf, gc, guest_mem));
        vsp_config hc;
        hc.mac = mac_address(0, 0x15, 0x5d, 0, 0, 1);
        host.emplace(*vsp::attach(rings, hc));
        (void)host->add_gpadl(recv_gpadl, recv_buf);
        (void)host->add_gpadl(send_gpadl, send_buf);
        host->set_guest_memory(guest_mem);
        (void)guest->start();
        pump();
        (void)guest->open();
        pump();
    }
    void pump() {
        for (;;) {
            auto h = host->poll([&](bytes_view, const rndis_packet_info&) { ++frames; }, 1024);
            auto g = guest->poll([](bytes_view, const rndis_packet_info&) {}, 1024);
            if (!h || !g || (h->packets == 0 && g->packets == 0)) return;
        }
    }
};

void guest_to_host(benchmark::State& state, bool gpa_direct) {
    channel ch(gpa_direct);
    if (ch.guest->state() != vsc_state::ready) {
        state.SkipWithError("channel did not come up");
        return;
    }
    std::vector<std::byte> frame(static_cast<std::size_t>(state.range(0)));
    mac_address::broadcast().store(frame, 0);
    mac_address(0, 0x15, 0x5d, 0, 0, 2).store(frame, 6);
    store_be16(frame, 12, 0x0800);
    for (auto _ : state) {
        for (std::size_t i = 0; i < batch; ++i) {
            auto r = ch.guest->send(frame);
            benchmark::DoNotOptimize(r);
        }
        ch.pump();
    }
    if (ch.frames != state.iterations() * batch) state.SkipWithError("frames lost");
    state.SetItemsProcessed(static_cast<std::int64_t>(ch.frames));
    state.SetBytesProcessed(static_cast<std::int64_t>(ch.frames) * state.range(0));
}

void send_buffer_path(benchmark::State& state) { guest_to_host(state, false); }

/// Guest A's link in front of switch port A; port B counts what the switch delivers.
void netvsc_into_switch(benchmark::State& state) {
    sw::vswitch<sw::counting_port> s(sw::switch_spec{"Private", sw::switch_kind::private_, "", false});
    const mac_address a(0, 0x15, 0x5d, 0, 0, 1), b(0, 0x15, 0x5d, 0, 0, 2);
    auto pa = s.add_port(sw::port_config::vm("a", a), {});
    auto pb = s.add_port(sw::port_config::vm("b", b), {});
    netvsc_link_config c;
    c.mac = a;
    auto link = netvsc_link::make(c);
    if (!pa || !pb || !link) {
        state.SkipWithError("setup failed");
        return;
    }
    std::vector<std::byte> from_b(64);
    a.store(from_b, 0);
    b.store(from_b, 6);
    store_be16(from_b, 12, 0x0800);
    s.send(*pb, bytes_view(from_b));  // the switch learns B
    std::vector<std::byte> frame(static_cast<std::size_t>(state.range(0)));
    b.store(frame, 0);
    a.store(frame, 6);
    store_be16(frame, 12, 0x0800);
    std::array<bytes_view, batch> frames;
    frames.fill(bytes_view(frame));
    for (auto _ : state)
        benchmark::DoNotOptimize(
            link->guest_send(std::span<const bytes_view>(frames), [&](std::span<const bytes_view> f) { s.send(*pa, f); }));
    const auto got = s.transport(*pb).frames;
    if (got != static_cast<std::uint64_t>(state.iterations()) * batch) state.SkipWithError("frames lost");
    state.SetItemsProcessed(static_cast<std::int64_t>(got));
    state.SetBytesProcessed(static_cast<std::int64_t>(got) * state.range(0));
}

/// Two netvsc ports on a switch: guest A -> link A -> switch -> link B -> guest B.
void switch_two_netvsc_ports(benchmark::State& state) {
    using nv_switch = sw::vswitch<netvsc_port<sw::counting_port>>;
    nv_switch s(sw::switch_spec{"Private", sw::switch_kind::private_, "", false});
    const mac_address a(0, 0x15, 0x5d, 0, 0, 1), b(0, 0x15, 0x5d, 0, 0, 2);
    std::array<sw::port_index, 2> ids{};
    for (std::size_t i = 0; i < 2; ++i) {
        netvsc_link_config c;
        c.mac = i == 0 ? a : b;
        auto l = netvsc_link::make(c);
        if (!l) {
            state.SkipWithError("link did not come up");
            return;
        }
        auto id = s.add_port(sw::port_config::vm(i == 0 ? "a" : "b", c.mac), netvsc_port<sw::counting_port>(std::move(*l), {}));
        if (!id) {
            state.SkipWithError("port refused");
            return;
        }
        ids[i] = *id;
    }
    std::vector<std::byte> from_b(64);
    a.store(from_b, 0);
    b.store(from_b, 6);
    store_be16(from_b, 12, 0x0800);
    (void)send_from_guest(s, ids[1], bytes_view(from_b));  // the switch learns B
    std::vector<std::byte> frame(static_cast<std::size_t>(state.range(0)));
    b.store(frame, 0);
    a.store(frame, 6);
    store_be16(frame, 12, 0x0800);
    std::array<bytes_view, batch> frames;
    frames.fill(bytes_view(frame));
    for (auto _ : state) benchmark::DoNotOptimize(send_from_guest(s, ids[0], std::span<const bytes_view>(frames)));
    const auto got = s.transport(ids[1]).guest().frames;
    if (got != static_cast<std::uint64_t>(state.iterations()) * batch) state.SkipWithError("frames lost");
    state.SetItemsProcessed(static_cast<std::int64_t>(got));
    state.SetBytesProcessed(static_cast<std::int64_t>(got) * state.range(0));
}
void gpa_direct_path(benchmark::State& state) { guest_to_host(state, true); }

}  // namespace

BENCHMARK(send_buffer_path)->Arg(64)->Arg(1500);
BENCHMARK(gpa_direct_path)->Arg(64)->Arg(1500);
BENCHMARK(netvsc_into_switch)->Arg(64)->Arg(1500);
BENCHMARK(switch_two_netvsc_ports)->Arg(64)->Arg(1500);

BENCHMARK_MAIN();
