// libFuzzer target: the DNS proxy (include/vnet/services/dns_proxy.hpp) fed arbitrary
// bytes as client queries and as upstream answers, over UDP and TCP, with time moving.
//
// Input: a sequence of records [ctrl][len_hi][len_lo][len bytes]. ctrl & 3 picks the
// path: 0 client UDP, 1 client TCP (framed here), 2 upstream UDP, 3 upstream TCP (framed
// here). For upstream paths with ctrl & 4, the message's ID is overwritten with the ID of
// a waiting query and it comes from that query's server, so the fuzzer reaches past the
// anti-spoofing match. ctrl >> 4 moves the clock by that many half seconds, then poll().
// Checks: every message to a client parses, is a response, and over UDP fits what the
// client may take (at most the proxy's EDNS size); the waiting queries stay within
// max_outstanding; upstream messages are queries.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include <vnet/services/dns_proxy.hpp>
#include <vnet/wire/dns.hpp>

namespace {

using namespace vnet;
using namespace vnet::wire;
using namespace vnet::svc;
using namespace std::chrono_literals;

const dns_endpoint client_ep{ipv4_address(172, 31, 100, 171), 40000};
const dns_endpoint lan_dns{ipv4_address(192, 168, 0, 1), 53};
const dns_endpoint corp_dns{ipv4_address(10, 0, 0, 53), 53};

void check(const dns_proxy& p, dns_proxy::outbox out) {
    for (const auto& o : out) {
        if (o.transport == dns_transport::tcp) {
            auto f = split_dns_tcp(o.payload);
            if (!f || f->consumed != o.payload.size()) __builtin_trap();
        }
        auto v = dns_view::parse(o.message());
        if (!v) __builtin_trap();
        if (o.to == dns_peer::client) {
            if (!v->is_response()) __builtin_trap();
            if (o.transport == dns_transport::udp && o.payload.size() > p.config().edns_udp_size) __builtin_trap();
            if (!(o.endpoint == client_ep)) __builtin_trap();
        } else {
            if (v->is_response() || v->qdcount() != 1) __builtin_trap();
        }
    }
    if (p.outstanding() > p.config().max_outstanding) __builtin_trap();
}

std::vector<std::byte> framed(bytes_view msg) {
    std::vector<std::byte> f(dns_tcp_length_len + msg.size());
    if (!store_dns_tcp_length(f, msg.size())) f.resize(0);
    for (std::size_t i = 0; i < msg.size() && !f.empty(); ++i) f[dns_tcp_length_len + i] = msg[i];
    return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    dns_proxy_config cfg;
    cfg.upstreams = {lan_dns, corp_dns};
    cfg.cache_capacity = 8;
    cfg.max_outstanding = 8;
    cfg.negative_ttl_without_soa = 5;
    auto made = dns_proxy::make(cfg);
    if (!made) __builtin_trap();
    dns_proxy& p = *made;
    if (!p.set_host("eflow", ipv4_address(172, 31, 100, 171))) __builtin_trap();
    if (!p.add_static("iothub.example", ipv4_address(198, 51, 100, 10))) __builtin_trap();

    bytes_view in = as_bytes_view({data, size});
    auto now = dns_proxy::time_point{} + 1000s;
    std::vector<std::byte> buf;
    std::size_t off = 0;
    while (off + 3 <= in.size()) {
        const std::uint8_t ctrl = load_u8(in, off);
        std::size_t len = load_be16(in, off + 1);
        off += 3;
        len = std::min(len, in.size() - off);
        buf.assign(in.begin() + static_cast<std::ptrdiff_t>(off), in.begin() + static_cast<std::ptrdiff_t>(off + len));
        off += len;

        dns_endpoint from = lan_dns;
        if ((ctrl & 2) && (ctrl & 4) && buf.size() >= 2) {
            bool picked = false;
            p.for_each_pending([&](const dns_pending_info& i) {
                if (picked) return;
                store_be16(buf, 0, i.upstream_id);
                from = i.server;
                picked = true;
            });
        }
        dns_proxy::outbox out;
        switch (ctrl & 3) {
            case 0: out = p.on_client_query(client_ep, buf, now); break;
            case 1: out = p.on_client_query(client_ep, framed(buf), now, dns_transport::tcp); break;
            case 2: out = p.on_upstream_answer(from, buf, now); break;
            default: out = p.on_upstream_answer(from, framed(buf), now, dns_transport::tcp); break;
        }
        check(p, out);
        now += (ctrl >> 4) * 500ms;
        check(p, p.poll(now));
    }
    // everything waiting ends in SERVFAIL once the query timeout has passed
    check(p, p.poll(now + p.config().query_timeout));
    if (p.outstanding() != 0) __builtin_trap();
    (void)fmt::format("{}", p);
    return 0;
}
