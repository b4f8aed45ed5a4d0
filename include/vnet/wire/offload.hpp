// vnet/wire/offload.hpp - offload metadata of a frame (the virtio-net header) and the
// software fallbacks for it: finishing a partial checksum and segmenting a GSO
// super-frame.
//
// A Linux stack that sends through a device with checksum and segmentation offload hands
// it frames that are not yet wire frames: TCP "super-frames" of up to 64 KiB with one
// header (GSO, generic segmentation offload) and checksums that are only seeded with the
// pseudo-header sum (CHECKSUM_PARTIAL). Interfaces that carry such frames to user space
// describe them with the virtio-net header (virtio 1.2 section 5.1.6 "struct
// virtio_net_hdr", Linux include/uapi/linux/virtio_net.h): TAPs opened with IFF_VNET_HDR
// and packet sockets with PACKET_VNET_HDR put it before each frame, in little-endian
// order on these hosts (Linux virtio_legacy_is_little_endian). offload_info is that
// header, without num_buffers (the 10-byte form both interfaces use by default).
//
// - needs_csum: the checksum at csum_start + csum_offset holds the pseudo-header sum;
//   the sender owes the one's-complement sum from csum_start to the end of the frame
//   (Linux skb_checksum_help, which writes 0xffff for a sum of 0, CSUM_MANGLED_0).
// - gso_type tcpv4 / tcpv6 / udp_l4 with gso_size: the frame is one header (hdr_len
//   bytes, a hint) and a payload to be cut into gso_size pieces; each segment gets the
//   header with its lengths, IPv4 id (+1 per segment), TCP sequence number and flags
//   (FIN and PSH only on the last, CWR only on the first: Linux tcp_gso_segment) and
//   its checksums computed (RFC 9293 section 3.1, RFC 768, RFC 791 section 3.1). The
//   ECN bit (0x80) only says the sender set CWR on the super-frame. gso_type 3 (UDP
//   fragmentation offload) was removed from Linux (4.14) and is refused as unsupported.
//
// segment() writes each segment into memory the caller allocates (alloc(n) returns a
// bytes_span of n bytes) and hands it to out(bytes_view); a frame that does not hold the
// headers its offload names is an error value, never read out of bounds.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/vlan.hpp>

namespace vnet::wire {

/// virtio_net_hdr flags (VIRTIO_NET_HDR_F_*).
namespace offload_flag {
inline constexpr std::uint8_t needs_csum = 1;
inline constexpr std::uint8_t data_valid = 2;
}  // namespace offload_flag

/// virtio_net_hdr gso_type values (VIRTIO_NET_HDR_GSO_*), without the ECN bit.
enum class gso_kind : std::uint8_t { none = 0, tcpv4 = 1, udp = 3, tcpv6 = 4, udp_l4 = 5 };
inline constexpr std::uint8_t gso_ecn = 0x80;

/// What an egress can take as it is (bits of offload_caps()); the rest is finished in
/// software before it gets the frame.
namespace offload_cap {
inline constexpr std::uint32_t csum = 1;  // partial checksums
inline constexpr std::uint32_t tso4 = 2;  // TCP over IPv4 super-frames
inline constexpr std::uint32_t tso6 = 4;  // TCP over IPv6 super-frames
inline constexpr std::uint32_t uso = 8;   // UDP (L4) super-frames
inline constexpr std::uint32_t all = csum | tso4 | tso6 | uso;
}  // namespace offload_cap

struct offload_info {
    static constexpr std::size_t size = 10;  // struct virtio_net_hdr

    std::uint8_t flags = 0;
    std::uint8_t gso_type = 0;  // gso_kind, possibly with gso_ecn
    std::uint16_t hdr_len = 0;
    std::uint16_t gso_size = 0;
    std::uint16_t csum_start = 0;
    std::uint16_t csum_offset = 0;

    constexpr bool needs_csum() const noexcept { return (flags & offload_flag::needs_csum) != 0; }
    constexpr gso_kind gso() const noexcept { return static_cast<gso_kind>(gso_type & ~gso_ecn); }
    /// Nothing is owed: the frame is a complete wire frame.
    constexpr bool complete() const noexcept { return !needs_csum() && gso() == gso_kind::none; }
    /// The capability an egress needs to take the frame as it is (0: none).
    constexpr std::uint32_t needs() const noexcept {
        switch (gso()) {
            case gso_kind::tcpv4: return offload_cap::tso4;
            case gso_kind::tcpv6: return offload_cap::tso6;
            case gso_kind::udp_l4: return offload_cap::uso;
            case gso_kind::none:
            case gso_kind::udp: break;
        }
        return needs_csum() ? offload_cap::csum : 0;
    }

    /// Reads a header; an unknown gso_type, or a GSO frame without gso_size, is an error.
    static constexpr result<offload_info> parse(bytes_view b) noexcept {
        if (b.size() < size) return fail(layer::ethernet, errc::truncated, "virtio_net_hdr");
        offload_info o{load_u8(b, 0), load_u8(b, 1), load_le16(b, 2), load_le16(b, 4), load_le16(b, 6), load_le16(b, 8)};
        switch (o.gso()) {
            case gso_kind::none: break;
            case gso_kind::tcpv4:
            case gso_kind::tcpv6:
            case gso_kind::udp_l4:
                if (o.gso_size == 0) return fail(layer::ethernet, errc::bad_value, "virtio_net_hdr.gso_size");
                break;
            case gso_kind::udp: return fail(layer::ethernet, errc::unsupported, "virtio_net_hdr.gso_type");
            default: return fail(layer::ethernet, errc::bad_value, "virtio_net_hdr.gso_type");
        }
        return o;
    }
    /// Precondition: out holds off + size bytes.
    constexpr void store(bytes_span out, std::size_t off) const noexcept {
        store_u8(out, off, flags);
        store_u8(out, off + 1, gso_type);
        store_le16(out, off + 2, hdr_len);
        store_le16(out, off + 4, gso_size);
        store_le16(out, off + 6, csum_start);
        store_le16(out, off + 8, csum_offset);
    }
    /// The same offload for the frame with its link header grown by `delta` bytes (an
    /// 802.1Q tag pushed: +4, popped: -4); the offsets count from the frame's start.
    constexpr offload_info shifted(int delta) const noexcept {
        offload_info o = *this;
        if (needs_csum()) o.csum_start = static_cast<std::uint16_t>(csum_start + delta);
        if (hdr_len != 0) o.hdr_len = static_cast<std::uint16_t>(hdr_len + delta);
        return o;
    }
    friend constexpr bool operator==(const offload_info&, const offload_info&) = default;
};

/// Writes the checksum a needs_csum frame owes (the frame is changed in place).
inline result<void> complete_checksum(bytes_span frame, const offload_info& o) noexcept {
    if (!o.needs_csum()) return {};
    const std::size_t start = o.csum_start, field = std::size_t{o.csum_start} + o.csum_offset;
    if (start >= frame.size() || !in_bounds(frame.size(), field, 2) || o.csum_offset % 2 != 0)
        return fail(layer::ethernet, errc::bad_pointer, "virtio_net_hdr.csum_start");
    std::uint16_t c = checksum_acc{}.add(bytes_view(frame).subspan(start)).finish();
    store_be16(frame, field, c == 0 ? 0xffff : c);
    return {};
}

namespace detail {

/// Where the headers of a GSO frame are: network and transport header offsets, the
/// transport protocol and the length of all headers.
struct gso_layout {
    std::size_t l3 = 0, l4 = 0, headers = 0;
    bool v4 = false;
    std::uint8_t proto = 0;
};

inline result<gso_layout> gso_headers(bytes_view f, gso_kind kind) noexcept {
    gso_layout g;
    auto eth = frame_view::parse(f);  // Ethernet and up to two tags
    if (!eth) return unexpected(eth.error());
    const std::uint16_t type = eth->ethertype();
    g.l3 = f.size() - eth->payload().size();
    if (type == ethertype::ipv4) {
        if (!in_bounds(f.size(), g.l3, 20)) return fail(layer::ipv4, errc::truncated, "gso.header");
        const std::size_t ihl = std::size_t{load_u8(f, g.l3) & 0x0fu} * 4;
        if ((load_u8(f, g.l3) >> 4) != 4 || ihl < 20 || !in_bounds(f.size(), g.l3, ihl))
            return fail(layer::ipv4, errc::bad_length, "gso.header_length");
        g.v4 = true;
        g.proto = load_u8(f, g.l3 + 9);
        g.l4 = g.l3 + ihl;
    } else if (type == ethertype::ipv6) {
        if (!in_bounds(f.size(), g.l3, 40)) return fail(layer::ipv6, errc::truncated, "gso.header");
        g.proto = load_u8(f, g.l3 + 6);  // extension headers are not segmented here
        g.l4 = g.l3 + 40;
    } else {
        return fail(layer::ethernet, errc::unsupported, "gso.ethertype");
    }
    const bool tcp = kind == gso_kind::tcpv4 || kind == gso_kind::tcpv6;
    if ((kind == gso_kind::tcpv4 && !g.v4) || (kind == gso_kind::tcpv6 && g.v4))
        return fail(layer::ethernet, errc::bad_value, "gso.ethertype");
    if (g.proto != (tcp ? 6 : 17)) return fail(g.v4 ? layer::ipv4 : layer::ipv6, errc::unsupported, "gso.protocol");
    if (tcp) {
        if (!in_bounds(f.size(), g.l4, 20)) return fail(layer::tcp, errc::truncated, "gso.header");
        const std::size_t doff = static_cast<std::size_t>(load_u8(f, g.l4 + 12) >> 4) * 4;
        if (doff < 20 || !in_bounds(f.size(), g.l4, doff)) return fail(layer::tcp, errc::bad_length, "gso.data_offset");
        g.headers = g.l4 + doff;
    } else {
        if (!in_bounds(f.size(), g.l4, 8)) return fail(layer::udp, errc::truncated, "gso.header");
        g.headers = g.l4 + 8;
    }
    return g;
}

}  // namespace detail

/// Cuts a GSO super-frame into wire frames of at most gso_size payload bytes each, with
/// every checksum computed; returns how many segments it handed to out. A frame whose
/// offload is not GSO is copied once with its checksum completed.
template <class Alloc, class Out>
result<std::size_t> segment(bytes_view frame, const offload_info& o, Alloc&& alloc, Out&& out) {
    if (o.gso() == gso_kind::none) {
        bytes_span copy = alloc(frame.size());
        store_bytes(copy, 0, frame);
        if (auto r = complete_checksum(copy, o); !r) return unexpected(r.error());
        out(bytes_view(copy));
        return std::size_t{1};
    }
    auto lay = detail::gso_headers(frame, o.gso());
    if (!lay) return unexpected(lay.error());
    const detail::gso_layout& g = *lay;
    const bool tcp = g.proto == 6;
    const std::size_t mss = o.gso_size, payload = frame.size() - g.headers;
    const std::size_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
    const std::uint16_t id0 = g.v4 ? load_be16(frame, g.l3 + 4) : 0;
    const std::uint32_t seq0 = tcp ? load_be32(frame, g.l4 + 4) : 0;
    const std::uint16_t flags0 = tcp ? static_cast<std::uint16_t>(load_be16(frame, g.l4 + 12) & 0x0fff) : 0;
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t at = i * mss, n = std::min(mss, payload - at);
        bytes_span s = alloc(g.headers + n);
        store_bytes(s, 0, frame.first(g.headers));
        store_bytes(s, g.headers, frame.subspan(g.headers + at, n));
        const std::size_t l4_len = g.headers - g.l4 + n;
        checksum_acc pseudo;
        if (g.v4) {
            store_be16(s, g.l3 + 2, static_cast<std::uint16_t>(g.headers - g.l3 + n));
            store_be16(s, g.l3 + 4, static_cast<std::uint16_t>(id0 + i));
            store_be16(s, g.l3 + 10, 0);
            store_be16(s, g.l3 + 10, internet_checksum(bytes_view(s).subspan(g.l3, g.l4 - g.l3)));
            pseudo.add(bytes_view(s).subspan(g.l3 + 12, 8)).add16(g.proto).add16(static_cast<std::uint16_t>(l4_len));
        } else {
            store_be16(s, g.l3 + 4, static_cast<std::uint16_t>(g.headers - g.l3 - 40 + n));
            pseudo.add(bytes_view(s).subspan(g.l3 + 8, 32)).add32(static_cast<std::uint32_t>(l4_len)).add16(g.proto);
        }
        std::size_t field = 0;
        if (tcp) {
            std::uint16_t fl = flags0;
            if (i + 1 < count) fl &= static_cast<std::uint16_t>(~(0x001u | 0x008u));  // FIN, PSH on the last only
            if (i > 0) fl &= static_cast<std::uint16_t>(~0x080u);                     // CWR on the first only
            store_be32(s, g.l4 + 4, static_cast<std::uint32_t>(seq0 + at));
            store_be16(s, g.l4 + 12, static_cast<std::uint16_t>((load_be16(s, g.l4 + 12) & 0xf000) | fl));
            field = g.l4 + 16;
        } else {
            store_be16(s, g.l4 + 4, static_cast<std::uint16_t>(l4_len));
            field = g.l4 + 6;
        }
        store_be16(s, field, 0);
        std::uint16_t c = pseudo.add(bytes_view(s).subspan(g.l4)).finish();
        if (!tcp && c == 0) c = 0xffff;  // RFC 768: a computed 0 is sent as all ones
        store_be16(s, field, c);
        out(bytes_view(s));
    }
    return count;
}

}  // namespace vnet::wire

/// "complete", "csum 34+16", "tcpv4 gso 1448 hdr 66 csum 34+16" (ECN: "tcpv4+ecn ...").
template <>
struct fmt::formatter<vnet::wire::offload_info> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::wire::offload_info& o, Ctx& ctx) const {
        using vnet::wire::gso_kind;
        auto out = ctx.out();
        if (o.complete()) return fmt::format_to(out, "complete");
        if (o.gso() != gso_kind::none) {
            const char* kind = o.gso() == gso_kind::tcpv4    ? "tcpv4"
                               : o.gso() == gso_kind::tcpv6  ? "tcpv6"
                               : o.gso() == gso_kind::udp_l4 ? "udp_l4"
                                                             : "udp";
            out = fmt::format_to(out, "{}{} gso {} hdr {}", kind, (o.gso_type & vnet::wire::gso_ecn) ? "+ecn" : "", o.gso_size,
                                 o.hdr_len);
            if (o.needs_csum()) out = fmt::format_to(out, " ");
        }
        if (o.needs_csum()) out = fmt::format_to(out, "csum {}+{}", o.csum_start, o.csum_offset);
        return out;
    }
};
