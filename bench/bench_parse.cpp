// Parsing and building frames: vnet's views and reprs against libtins, on the same frames,
// in the same run. Each benchmark reports frames per second; the ratio vnet/libtins is the
// figure that matters (ci/bench.sh prints it).
//
// The frames (189), read once into memory before timing:
// - fixtures/captures/lab-mix.pcap (69 frames of real Linux traffic: ARP, DHCP DORA and
//   RELEASE, DNS A/AAAA/CNAME/TXT/SRV/PTR/REFUSED with EDNS, TCP with options, ICMP echo,
//   ICMPv6 NDP and MLDv2),
// - fixtures/captures/guest-default-switch.pcap (51 frames: a QEMU guest on the Default
//   Switch: DHCP, DNS, ARP, ICMP, NDP, MLDv2, TCP connects),
// - every lab-mix frame again with an 802.1Q tag (VID 10) pushed, as a trunk port sees it.
//
// What each side does per frame (comparable work, no checksum verification on either side):
// - vnet (vnet_walk): frame_view::parse (Ethernet + VLAN tag stack), then by EtherType
//   arp_view / ipv4_view (header and options validated) / ipv6_view + upper_layer()
//   (extension headers walked); then udp_view, tcp_view with every TCP option iterated,
//   icmpv4_view, icmpv6_view with every NDP option or MLDv2 record iterated; UDP port 53:
//   dns_view::parse (every question and record checked, OPT decoded), ports 67/68:
//   dhcp_view::parse (every option region checked). Views are checked once and nothing
//   is copied or allocated.
// - libtins (tins_walk): Tins::EthernetII over the bytes, which builds the PDU chain
//   (Dot1Q, ARP, IP with options, IPv6 with extension headers, TCP with options, UDP,
//   ICMP, ICMPv6 with NDP options and MLDv2 records) on the heap; libtins leaves UDP
//   payloads as a RawPDU, so DNS (port 53) and DHCP (67/68) are decoded from it with
//   Tins::DNS / Tins::DHCP, as a libtins user does (RawPDU::to<DNS>()).
// Both return the number of layers decoded, so no work can be optimised away.
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
#include <vnet/wire/ndp.hpp>
#include <vnet/wire/pcap.hpp>
#include <vnet/wire/tcp.hpp>
#include <vnet/wire/udp.hpp>
#include <vnet/wire/vlan.hpp>

namespace {

using namespace vnet;
using namespace vnet::wire;

void read_capture(const char* path, std::vector<std::vector<std::uint8_t>>& out) {
    auto r = pcap_reader::open(path);
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
}

const std::vector<std::vector<std::uint8_t>>& frames() {
    static const auto f = [] {
        std::vector<std::vector<std::uint8_t>> out;
        read_capture(VNET_SOURCE_DIR "/fixtures/captures/lab-mix.pcap", out);
        const std::size_t lab_mix = out.size();
        read_capture(VNET_SOURCE_DIR "/fixtures/captures/guest-default-switch.pcap", out);
        for (std::size_t i = 0; i < lab_mix; ++i) {
            std::vector<std::uint8_t> tagged(out[i].size() + vlan_tag::size);
            auto n = push_vlan_tag(as_bytes_view(out[i]), vlan_tag{ethertype::vlan, 0, false, 10},
                                   std::as_writable_bytes(std::span(tagged)));
            if (!n) std::abort();
            out.push_back(std::move(tagged));
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
    int layers = 1 + static_cast<int>(f->tag_count());
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
            auto m = icmpv6_view::parse(l4);
            if (!m) return;
            ++layers;
            int parts = 0;
            if (auto nd = ndp_view::parse(*m)) {
                for (const auto& o : nd->options()) parts += o.has_value();
            } else if (m->msg_type() == icmpv6_type::mldv2_report) {
                for (const auto& r : m->mldv2_records()) parts += r.has_value();
            }
            layers += parts > 0;
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

/// libtins parses every layer it knows in the EthernetII constructor except application
/// payloads: DNS and DHCP are decoded from the UDP's RawPDU by port, as vnet_walk does.
int tins_walk(const std::vector<std::uint8_t>& b) {
    try {
        Tins::EthernetII pdu(b.data(), static_cast<std::uint32_t>(b.size()));
        int layers = 0;
        for (const Tins::PDU* p = &pdu; p; p = p->inner_pdu()) ++layers;
        if (const auto* udp = pdu.find_pdu<Tins::UDP>()) {
            if (const auto* raw = udp->find_pdu<Tins::RawPDU>()) {
                const auto& data = raw->payload();
                const auto size = static_cast<std::uint32_t>(data.size());
                try {
                    if (udp->dport() == 53 || udp->sport() == 53) {
                        Tins::DNS dns(data.data(), size);
                        benchmark::DoNotOptimize(dns);
                        ++layers;
                    } else if (udp->dport() == 67 || udp->dport() == 68) {
                        Tins::DHCP dhcp(data.data(), size);
                        benchmark::DoNotOptimize(dhcp);
                        ++layers;
                    }
                } catch (const Tins::malformed_packet&) {}
            }
        }
        return layers;
    } catch (const Tins::malformed_packet&) {
        return 0;
    }
}

void BM_parse_vnet(benchmark::State& st) {
    const auto& fs = frames();
    std::int64_t n = 0, layers = 0;
    for (auto _ : st) {
        for (const auto& f : fs) layers += vnet_walk(as_bytes_view(f));
        benchmark::DoNotOptimize(layers);
        n += static_cast<std::int64_t>(fs.size());
    }
    st.SetItemsProcessed(n);
    // Layers decoded per frame: shows both sides went as deep on the same frames.
    st.counters["layers"] = n ? static_cast<double>(layers) / static_cast<double>(n) : 0.0;
}
BENCHMARK(BM_parse_vnet);

void BM_parse_libtins(benchmark::State& st) {
    const auto& fs = frames();
    std::int64_t n = 0, layers = 0;
    for (auto _ : st) {
        for (const auto& f : fs) layers += tins_walk(f);
        benchmark::DoNotOptimize(layers);
        n += static_cast<std::int64_t>(fs.size());
    }
    st.SetItemsProcessed(n);
    // Layers decoded per frame: shows both sides went as deep on the same frames.
    st.counters["layers"] = n ? static_cast<double>(layers) / static_cast<double>(n) : 0.0;
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
