// vnet/wire/ipv6.hpp - the IPv6 header and its extension header chain (RFC 8200).
//
// RFC 8200 section 3: the fixed 40-byte header (version, traffic class, flow label,
// payload length, next header, hop limit, source, destination). The packet ends at
// 40 + payload length; a longer buffer (Ethernet padding of a short frame) is trimmed.
// Jumbograms (RFC 2675: payload length 0 and a Jumbo Payload hop-by-hop option) are not
// supported. Section 4: extension headers are walked in order; hop-by-hop (0) is only
// allowed first (section 4.1), routing (43, section 4.4), fragment (44, section 4.5:
// offset, M flag, identification), destination options (60, section 4.6) and the
// Authentication Header (51, RFC 4302 section 2.2: length in 4-octet units minus 2).
// No Next Header (59, section 4.7), ESP (50) and everything else end the chain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/wire/tlv.hpp>

namespace vnet::wire {

/// Next Header values (IANA "Assigned Internet Protocol Numbers").
namespace ipv6_next_header {
inline constexpr std::uint8_t hop_by_hop = 0;
inline constexpr std::uint8_t tcp = 6;
inline constexpr std::uint8_t udp = 17;
inline constexpr std::uint8_t routing = 43;
inline constexpr std::uint8_t fragment = 44;
inline constexpr std::uint8_t esp = 50;
inline constexpr std::uint8_t authentication = 51;
inline constexpr std::uint8_t icmpv6 = 58;
inline constexpr std::uint8_t no_next_header = 59;
inline constexpr std::uint8_t destination_options = 60;
}  // namespace ipv6_next_header

/// True for the extension headers this codec walks (RFC 8200 section 4, RFC 4302).
constexpr bool is_ipv6_extension_header(std::uint8_t t) noexcept {
    return t == ipv6_next_header::hop_by_hop || t == ipv6_next_header::routing || t == ipv6_next_header::fragment ||
           t == ipv6_next_header::destination_options || t == ipv6_next_header::authentication;
}

/// The name an error carries for an extension header (the error's field).
constexpr std::string_view ipv6_extension_header_name(std::uint8_t t) noexcept {
    switch (t) {
        case ipv6_next_header::hop_by_hop: return "hop_by_hop";
        case ipv6_next_header::routing: return "routing";
        case ipv6_next_header::fragment: return "fragment";
        case ipv6_next_header::destination_options: return "destination_options";
        case ipv6_next_header::authentication: return "authentication";
        default: return "next_header";
    }
}

/// One extension header found by the walk. `bytes` holds the whole header.
struct ipv6_extension_header {
    std::uint8_t type = 0;         // the Next Header value that named this header
    std::uint8_t next_header = 0;  // the type of what follows it
    std::size_t offset = 0;        // from the start of the IPv6 header
    std::size_t length = 0;        // in bytes, including the Next Header and length octets
    bytes_view bytes{};

    static constexpr std::size_t fragment_header_len = 8;

    /// Everything after the Next Header and length octets (options, routing data, ...).
    constexpr bytes_view data() const noexcept { return bytes.subspan(2); }
    /// Routing header (section 4.4): Routing Type and Segments Left.
    constexpr std::uint8_t routing_type() const noexcept { return load_u8(bytes, 2); }
    constexpr std::uint8_t segments_left() const noexcept { return load_u8(bytes, 3); }
    /// Fragment header (section 4.5): offset in 8-octet units, M flag, Identification.
    constexpr std::uint16_t fragment_offset() const noexcept { return static_cast<std::uint16_t>(load_be16(bytes, 2) >> 3); }
    constexpr bool more_fragments() const noexcept { return (load_u8(bytes, 3) & 0x01) != 0; }
    constexpr std::uint32_t identification() const noexcept { return load_be32(bytes, 4); }
};

/// The layout of the extension header chain (RFC 8200 section 4.1): from the end of the
/// fixed header, each header says the type of the next one; the walk ends at the first type
/// that is not an extension header. Every header consumes at least 8 bytes, so the walk
/// ends; after yielding an error it ends too.
struct ipv6_extension_header_layout {
    using value_type = result<ipv6_extension_header>;
    static constexpr std::size_t fixed_header_len = 40;
    struct cursor {
        std::size_t off = fixed_header_len;                           // where the next header starts
        std::uint8_t next_header = ipv6_next_header::no_next_header;  // its type
    };
    /// packet: the IPv6 header and payload (trimmed to the payload length).
    static constexpr bool next(bytes_view packet, cursor& c, value_type& out) noexcept {
        if (!is_ipv6_extension_header(c.next_header)) return false;
        const std::string_view name = ipv6_extension_header_name(c.next_header);
        // RFC 8200 section 4.1: the Hop-by-Hop Options header is restricted to appear
        // immediately after an IPv6 header.
        if (c.next_header == ipv6_next_header::hop_by_hop && c.off != fixed_header_len) {
            out = fail(layer::ipv6, errc::bad_value, name);
            return true;
        }
        if (!in_bounds(packet.size(), c.off, 2)) {
            out = fail(layer::ipv6, errc::bad_length, name);
            return true;
        }
        const std::size_t len_field = load_u8(packet, c.off + 1);
        std::size_t len = 0;
        switch (c.next_header) {
            case ipv6_next_header::fragment: len = ipv6_extension_header::fragment_header_len; break;
            case ipv6_next_header::authentication: len = (len_field + 2) * 4; break;  // RFC 4302 section 2.2
            default: len = (len_field + 1) * 8; break;                                // RFC 8200 sections 4.3-4.6
        }
        if (!in_bounds(packet.size(), c.off, len)) {
            out = fail(layer::ipv6, errc::bad_length, name);
            return true;
        }
        ipv6_extension_header h{c.next_header, load_u8(packet, c.off), c.off, len, packet.subspan(c.off, len)};
        out = h;
        c.next_header = h.next_header;
        c.off += len;
        return true;
    }
};

/// Input iterator over the extension header chain; yields result<ipv6_extension_header>.
/// position() is where the walk stands: the type of the next header and its offset.
using ipv6_extension_header_iterator = tlv_iterator<ipv6_extension_header_layout>;

class ipv6_extension_header_range : public tlv_range<ipv6_extension_header_layout> {
public:
    constexpr ipv6_extension_header_range(bytes_view packet, std::uint8_t first_next_header) noexcept
            : tlv_range(packet, {ipv6_extension_header_layout::fixed_header_len, first_next_header}) {}
};

/// The protocol after the extension headers and its bytes.
struct ipv6_upper_layer {
    std::uint8_t protocol = 0;          // tcp, udp, icmpv6, no_next_header, esp, ...
    std::size_t offset = 0;             // from the start of the IPv6 header
    bytes_view payload{};               // up to the end of the IPv6 payload
    bool fragmented = false;            // a Fragment header was walked
    std::uint16_t fragment_offset = 0;  // in 8-octet units; non-zero: payload is not the upper-layer header
};

class ipv6_view {
public:
    static constexpr std::size_t header_len = 40;
    static constexpr std::uint8_t version_6 = 6;
    struct field {
        static constexpr std::size_t version_class_flow = 0, payload_length = 4, next_header = 6, hop_limit = 7, src = 8,
                                     dst = 24;
    };
    static_assert(field::dst + 16 == header_len);

    static constexpr result<ipv6_view> parse(bytes_view b) noexcept {
        if (b.size() < header_len) return fail(layer::ipv6, errc::truncated, "header");
        if ((load_u8(b, 0) >> 4) != version_6) return fail(layer::ipv6, errc::bad_version, "version");
        const std::size_t plen = load_be16(b, field::payload_length);
        // RFC 2675: a jumbogram has payload length 0 and starts with a hop-by-hop header.
        if (plen == 0 && load_u8(b, field::next_header) == ipv6_next_header::hop_by_hop)
            return fail(layer::ipv6, errc::unsupported, "payload_length");
        if (header_len + plen > b.size()) return fail(layer::ipv6, errc::bad_length, "payload_length");
        return ipv6_view(b.first(header_len + plen));
    }

    constexpr std::uint8_t version() const noexcept { return static_cast<std::uint8_t>(load_u8(b_, 0) >> 4); }
    constexpr std::uint8_t traffic_class() const noexcept { return static_cast<std::uint8_t>((load_be16(b_, 0) >> 4) & 0xff); }
    /// The DS field (RFC 2474) and ECN (RFC 3168) halves of the traffic class.
    constexpr std::uint8_t dscp() const noexcept { return static_cast<std::uint8_t>(traffic_class() >> 2); }
    constexpr std::uint8_t ecn() const noexcept { return static_cast<std::uint8_t>(traffic_class() & 0x3); }
    constexpr std::uint32_t flow_label() const noexcept { return load_be32(b_, 0) & 0xfffffu; }
    constexpr std::uint16_t payload_length() const noexcept { return load_be16(b_, field::payload_length); }
    constexpr std::uint8_t next_header() const noexcept { return load_u8(b_, field::next_header); }
    constexpr std::uint8_t hop_limit() const noexcept { return load_u8(b_, field::hop_limit); }
    constexpr ipv6_address src() const noexcept { return ipv6_address::load(b_, field::src); }
    constexpr ipv6_address dst() const noexcept { return ipv6_address::load(b_, field::dst); }
    /// The payload_length bytes after the fixed header (extension headers included).
    constexpr bytes_view payload() const noexcept { return b_.subspan(header_len); }
    /// The packet: header and payload, without any padding that followed it.
    constexpr bytes_view bytes() const noexcept { return b_; }

    /// The extension header chain, in order (RFC 8200 section 4.1).
    constexpr ipv6_extension_header_range extension_headers() const noexcept { return {b_, next_header()}; }

    /// Walks the extension headers to the upper-layer protocol. An error names the
    /// extension header at fault.
    constexpr result<ipv6_upper_layer> upper_layer() const noexcept {
        ipv6_upper_layer u;
        auto it = extension_headers().begin();
        for (; it != std::default_sentinel; ++it) {
            if (!*it) return unexpected((*it).error());
            if ((*it)->type == ipv6_next_header::fragment) {
                u.fragmented = true;
                u.fragment_offset = (*it)->fragment_offset();
            }
        }
        u.protocol = it.position().next_header;
        u.offset = it.position().off;
        u.payload = b_.subspan(u.offset);
        return u;
    }

private:
    constexpr explicit ipv6_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

struct ipv6_repr {
    std::uint8_t traffic_class = 0;
    std::uint32_t flow_label = 0;  // 20 bits
    std::uint16_t payload_length = 0;
    std::uint8_t next_header = 0;
    std::uint8_t hop_limit = 64;
    ipv6_address src{};
    ipv6_address dst{};

    static constexpr std::size_t header_len = ipv6_view::header_len;
    static constexpr std::uint32_t max_flow_label = 0xfffff;

    static constexpr result<ipv6_repr> parse(const ipv6_view& v) noexcept {
        return ipv6_repr{v.traffic_class(), v.flow_label(), v.payload_length(), v.next_header(), v.hop_limit(), v.src(), v.dst()};
    }
    constexpr std::size_t buffer_len() const noexcept { return header_len + payload_length; }

    /// Writes the 40-byte header with payload_length; the caller writes the payload after
    /// it. Returns the bytes written (the header).
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        if (flow_label > max_flow_label) return fail(layer::ipv6, errc::bad_value, "flow_label");
        if (out.size() < header_len) return fail(layer::ipv6, errc::buffer_too_small, "header");
        write_header(out, payload_length);
        return header_len;
    }

    /// Writes the header and copies payload after it; the payload length field comes from
    /// payload.size() (not from the payload_length member). Returns the bytes written.
    constexpr result<std::size_t> emit(bytes_span out, bytes_view payload) const noexcept {
        if (flow_label > max_flow_label) return fail(layer::ipv6, errc::bad_value, "flow_label");
        if (payload.size() > 0xffff) return fail(layer::ipv6, errc::too_long, "payload_length");
        if (out.size() < header_len + payload.size()) return fail(layer::ipv6, errc::buffer_too_small, "packet");
        write_header(out, static_cast<std::uint16_t>(payload.size()));
        store_bytes(out, header_len, payload);
        return header_len + payload.size();
    }

    friend constexpr bool operator==(const ipv6_repr&, const ipv6_repr&) = default;

private:
    constexpr void write_header(bytes_span out, std::uint16_t plen) const noexcept {
        store_be32(out, ipv6_view::field::version_class_flow,
                   (std::uint32_t{ipv6_view::version_6} << 28) | (std::uint32_t{traffic_class} << 20) | flow_label);
        store_be16(out, ipv6_view::field::payload_length, plen);
        store_u8(out, ipv6_view::field::next_header, next_header);
        store_u8(out, ipv6_view::field::hop_limit, hop_limit);
        src.store(out, ipv6_view::field::src);
        dst.store(out, ipv6_view::field::dst);
    }
};

}  // namespace vnet::wire
