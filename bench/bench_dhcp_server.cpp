// DHCP server benchmarks (Google Benchmark): DORA transactions (DISCOVER -> OFFER,
// REQUEST -> ACK) per second with 1000 clients, through the whole-frame layer
// (Ethernet / IPv4 / UDP parsed and checksummed both ways) and through handle() alone;
// steady state (the clients hold leases and come back) and fresh (an empty table per round).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include <benchmark/benchmark.h>

#include <vnet/services/dhcp_server.hpp>
#include <vnet/wire/dhcp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/udp.hpp>

namespace {

using namespace vnet;
using bytes = std::vector<std::byte>;
constexpr std::size_t clients = 1000;
const svc::dhcp_time t0 = svc::dhcp_time(std::chrono::seconds(1'700'000'000));
const ipv4_address server_ip(172, 20, 0, 1);

svc::dhcp_server make_server() {
    svc::dhcp_server_config c;
    c.subnet = ipv4_prefix(ipv4_address(172, 20, 0, 0), 21);
    c.server_address = server_ip;
    c.server_mac = mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, 0x01);
    c.range_first = ipv4_address(172, 20, 0, 100);
    c.range_last = ipv4_address(172, 20, 7, 250);  // 1947 addresses
    c.routers = {server_ip};
    c.dns_servers = {server_ip};
    c.domain_name = "mshome.net";
    c.lease_time = std::chrono::seconds(3600);
    auto s = svc::dhcp_server::make(c);
    if (!s) std::abort();
    return std::move(*s);
}

mac_address client_mac(std::size_t i) { return mac_address::from_u64(0x00155d000000ULL + i); }

wire::dhcp_repr client_msg(wire::dhcp_message_type t, std::size_t i) {
    wire::dhcp_repr r;
    r.xid = static_cast<std::uint32_t>(0x10000 + i);
    r.set_client_mac(client_mac(i));
    r.message_type = t;
    r.parameter_request_list = {1, 3, 6, 12, 15, 28, 51, 54, 58, 59};  // udhcpc's list
    return r;
}

bytes payload(const wire::dhcp_repr& r) {
    bytes b(r.buffer_len());
    if (!r.emit(b)) std::abort();
    return b;
}

bytes frame(const wire::dhcp_repr& r) {
    const auto p = payload(r);
    wire::udp_repr udp{wire::dhcp_port::client, wire::dhcp_port::server, p.size()};
    wire::ipv4_repr ip;
    ip.src = ipv4_address::any();
    ip.dst = ipv4_address::broadcast();
    ip.protocol = wire::udp_view::ip_protocol;
    ip.payload_len = udp.buffer_len();
    wire::ethernet_repr eth{mac_address::broadcast(), *r.client_mac(), wire::ethertype::ipv4};
    bytes f(eth.buffer_len() + ip.buffer_len());
    if (!eth.emit(f) || !ip.emit(bytes_span(f).subspan(14)) ||
        !udp.emit(bytes_span(f).subspan(34), bytes_view(p), ip.src, ip.dst))
        std::abort();
    return f;
}

/// Each client's DISCOVER and its SELECTING REQUEST for the address a fresh server offers
/// it (clients come in order, so client i gets the i-th address of the range).
struct workload {
    std::vector<bytes> discover, request;
};

workload make_workload(bool frames) {
    workload w;
    auto s = make_server();
    for (std::size_t i = 0; i < clients; ++i) {
        const auto d = client_msg(wire::dhcp_message_type::discover, i);
        const auto dp = payload(d);
        auto offer = s.handle(*wire::dhcp_view::parse(bytes_view(dp)), svc::dhcp_ingress{client_mac(i)}, t0);
        if (!offer) std::abort();
        auto r = client_msg(wire::dhcp_message_type::request, i);
        r.server_identifier = server_ip;
        r.requested_address = offer->message.yiaddr;
        w.discover.push_back(frames ? frame(d) : dp);
        w.request.push_back(frames ? frame(r) : payload(r));
    }
    return w;
}

/// One DORA through the frame layer; false when either reply is missing.
bool dora_frames(svc::dhcp_server& s, const workload& w, std::size_t i, bytes_span out) {
    auto o = s.handle_frame(bytes_view(w.discover[i]), t0, out);
    auto a = s.handle_frame(bytes_view(w.request[i]), t0, out);
    benchmark::DoNotOptimize(out.data());
    return o && a;
}

bool dora_messages(svc::dhcp_server& s, const workload& w, std::size_t i, svc::dhcp_reply& reply) {
    const svc::dhcp_ingress in{client_mac(i)};
    auto o = s.handle(*wire::dhcp_view::parse(bytes_view(w.discover[i])), in, t0, reply);
    auto a = s.handle(*wire::dhcp_view::parse(bytes_view(w.request[i])), in, t0, reply);
    benchmark::DoNotOptimize(reply.message.yiaddr);
    return o && a;
}

// Steady state: 1000 clients holding leases run DORA again, round robin.
void BM_dora_frames_steady(benchmark::State& state) {
    const auto w = make_workload(true);
    auto s = make_server();
    bytes out(svc::dhcp_server::max_frame_len);
    for (std::size_t i = 0; i < clients; ++i)
        if (!dora_frames(s, w, i, out)) std::abort();
    std::size_t i = 0;
    for (auto _ : state) {
        if (!dora_frames(s, w, i, out)) state.SkipWithError("no reply");
        if (++i == clients) i = 0;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["leases"] = static_cast<double>(s.leases().size());
}
BENCHMARK(BM_dora_frames_steady);

// Fresh: each round starts from an empty lease table and leases 1000 addresses.
void BM_dora_frames_fresh_1000(benchmark::State& state) {
    const auto w = make_workload(true);
    bytes out(svc::dhcp_server::max_frame_len);
    for (auto _ : state) {
        auto s = make_server();
        for (std::size_t i = 0; i < clients; ++i)
            if (!dora_frames(s, w, i, out)) state.SkipWithError("no reply");
        benchmark::DoNotOptimize(s.leases().size());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * clients));
}
BENCHMARK(BM_dora_frames_fresh_1000)->Unit(benchmark::kMillisecond);

// handle() alone: DHCP payloads in, dhcp_repr replies out (no frame parse or emit).
void BM_dora_messages_steady(benchmark::State& state) {
    const auto w = make_workload(false);
    auto s = make_server();
    svc::dhcp_reply reply;
    for (std::size_t i = 0; i < clients; ++i)
        if (!dora_messages(s, w, i, reply)) std::abort();
    std::size_t i = 0;
    for (auto _ : state) {
        if (!dora_messages(s, w, i, reply)) state.SkipWithError("no reply");
        if (++i == clients) i = 0;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_dora_messages_steady);

}  // namespace

BENCHMARK_MAIN();
