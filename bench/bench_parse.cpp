// Parsing and building frames: vnet's views and reprs against libtins, on the same frames,
// in the same run. The frames are fixtures/captures/lab-mix.pcap (real Linux traffic:
// ARP, DHCP, DNS with EDNS, TCP with options, ICMP, ICMPv6/NDP/MLD). Each benchmark
// reports frames per second; the ratio vnet/libtins is the figure that matters.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <tins/tins.h>

#include <vnet/wire/arp.hpp>
#include <vnet/wire/dhcp.hpp>
#include <vnet/wire/dissect.hpp>
#include <vnet/wire/dns.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/icmpv4.hpp>
#include <vnet/wire/icmpv6.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/ipv6.hpp>
#include <vnet/wire/pcap.hpp>
#include <vnet/wire/tcp.hpp>
#include <vnet/wire/udp.hpp>
#include <vnet/wire/vlan.hpp>

namespace {

using namespace vnet;
using namespace vnet::wire;

const std::vector<std::vector<std::uint8_t>>& frames() {
    static const auto f = [] {
        std::vector<std::vector<std::uint8_t>> out;
        auto r = pcap_reader::open(VNET_SOURCE_DIR "/fixtures/captures/lab-mix.pcap");
        if (!r) {
            std::fprintf(stderr, "bench_parse: %s\n", r.error().message.c_str());
            std::abort();
        }
        for (;;) {
            auto rec = r->next();
            if (!rec || !rec->has_value()) break;
            auto d = (**rec).data;
            const auto* p = reinterpret_cast<const std::uint8_t*>(d.data());
            out.emplace_back(p, p + d.size());
        }
        return out;
    }();
    return f;
}

/// Every layer vnet knows, checked the way a switch or service would: returns the number of
/// layers that parsed, so the work cannot be optimised away.
int vnet_walk(bytes_view b) {
    auto f = frame_view::parse(b);
    if (!f) return 0;
    int layers = 1;
    auto transport = [&](std::uint8_t proto, bytes_view l4) {
        if (proto == ip_protocol::udp) {
            auto u = udp_view::parse(l4);
            if (!u) return;
            ++layers;
            if (u->dst_port() == 53 || u->src_port() == 53) layers += dns_view::parse(u->payload()).has_value();
            else if (u->dst_port() == 67 || u->dst_port() == 68) layers += dhcp_view::parse(u->payload()).has_value();
        } else if (proto == ip_protocol::tcp) {
            auto t = tcp_view::parse(l4);
            if (!t) return;
            ++layers;
            int options = 0;
            for (auto o : t->options()) options += o.has_value();
            layers += options > 0;
        } else if (proto == ip_protocol::icmp) {
            layers += icmpv4_view::parse(l4).has_value();
        } else if (proto == ip_protocol::icmpv6) {
            layers += icmpv6_view::parse(l4).has_value();
        }
    };
    switch (f->ethertype()) {
        case ethertype::arp: layers += arp_view::parse(f->payload()).has_value(); break;
        case ethertype::ipv4:
            if (auto ip = ipv4_view::parse(f->payload())) {
                ++layers;
                transport(ip->protocol(), ip->payload());
            }
            break;
        case ethertype::ipv6:
            if (auto ip = ipv6_view::parse(f->payload())) {
                ++layers;
                if (auto ul = ip->upper_layer()) transport(ul->protocol, ul->payload);
            }
            break;
        default: break;
    }
    return layers;
}

/// libtins parses every layer it knows in the EthernetII constructor (DNS and DHCP by port).
int tins_walk(const std::vector<std::uint8_t>& b) {
    try {
        Tins::EthernetII pdu(b.data(), static_cast<std::uint32_t>(b.size()));
        int layers = 0;
        for (const Tins::PDU* p = &pdu; p; p = p->inner_pdu()) ++layers;
        return layers;
    } catch (const Tins::malformed_packet&) {
        return 0;
    }
}

void BM_parse_vnet(benchmark::State& st) {
    const auto& fs = frames();
    std::int64_t n = 0;
    for (auto _ : st) {
        for (const auto& f : fs) benchmark::DoNotOptimize(vnet_walk(as_bytes_view(f)));
        n += static_cast<std::int64_t>(fs.size());
    }
    st.SetItemsProcessed(n);
}
BENCHMARK(BM_parse_vnet);

void BM_parse_libtins(benchmark::State& st) {
    const auto& fs = frames();
    std::int64_t n = 0;
    for (auto _ : st) {
        for (const auto& f : fs) benchmark::DoNotOptimize(tins_walk(f));
        n += static_cast<std::int64_t>(fs.size());
    }
    st.SetItemsProcessed(n);
}
BENCHMARK(BM_parse_libtins);

/// The full dissector behind `vnet decode` (strings for every field): for scale only.
void BM_dissect_vnet(benchmark::State& st) {
    const auto& fs = frames();
    std::int64_t n = 0;
    for (auto _ : st) {
        for (const auto& f : fs) benchmark::DoNotOptimize(dissect_frame(as_bytes_view(f)).fields.size());
        n += static_cast<std::int64_t>(fs.size());
    }
    st.SetItemsProcessed(n);
}
BENCHMARK(BM_dissect_vnet);

const mac_address src_mac{0x00, 0x15, 0x5d, 0, 0, 0x10};
const mac_address dst_mac{0x00, 0x15, 0x5d, 0, 0, 0x01};
const ipv4_address src_ip(192, 168, 0, 100), dst_ip(198, 51, 100, 10);

/// Build a 64-byte-class UDP datagram (Ethernet + IPv4 + UDP + 18 bytes) with checksums.
void BM_emit_udp_vnet(benchmark::State& st) {
    std::array<std::byte, 128> buf{};
    const std::array<std::byte, 18> payload{};
    std::int64_t n = 0;
    for (auto _ : st) {
        (void)ethernet_repr{dst_mac, src_mac, ethertype::ipv4}.emit(buf);
        ipv4_repr ip;
        ip.src = src_ip;
        ip.dst = dst_ip;
        ip.protocol = ip_protocol::udp;
        ip.payload_len = udp_view::header_len + payload.size();
        ip.identification = static_cast<std::uint16_t>(n);  // a new datagram each time: checksums change
        (void)ip.emit(bytes_span(buf).subspan(14));
        udp_repr u{static_cast<std::uint16_t>(40000 + (n & 0x3ff)), 8883, payload.size()};
        auto r = u.emit(bytes_span(buf).subspan(34), payload, src_ip, dst_ip);
        benchmark::DoNotOptimize(r);
        benchmark::ClobberMemory();
        ++n;
    }
    st.SetItemsProcessed(n);
}
BENCHMARK(BM_emit_udp_vnet);

void BM_emit_udp_libtins(benchmark::State& st) {
    const std::vector<std::uint8_t> payload(18);
    std::int64_t n = 0;
    for (auto _ : st) {
        Tins::IP ip("198.51.100.10", "192.168.0.100");
        ip.id(static_cast<std::uint16_t>(n));
        Tins::EthernetII pkt = Tins::EthernetII("00:15:5d:00:00:01", "00:15:5d:00:00:10") / ip /
                               Tins::UDP(8883, static_cast<std::uint16_t>(40000 + (n & 0x3ff))) /
                               Tins::RawPDU(payload.data(), static_cast<std::uint32_t>(payload.size()));
        auto bytes = pkt.serialize();
        benchmark::DoNotOptimize(bytes.data());
        ++n;
    }
    st.SetItemsProcessed(n);
}
BENCHMARK(BM_emit_udp_libtins);

}  // namespace

BENCHMARK_MAIN();
