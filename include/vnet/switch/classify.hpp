// vnet/switch/classify.hpp - the switch's frame classifier: the one place where the
// switch reads L2, L3 and L4 fields.
//
// classify_l2 reads what every frame needs (destination, source, outer 802.1Q tag, the
// EtherType after the tag stack); classify_l3 reads, only when a port feature asks for it
// (DHCP guard, router guard, ACLs), the fixed offsets of IPv4 / IPv6 and of the UDP, TCP,
// ICMPv4 and ICMPv6 headers. Both read through vnet/core/bytes.hpp loaders after a bounds
// check: a short or malformed frame yields "not classified", never an out-of-bounds read.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include <vnet/core/bytes.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/vlan.hpp>

namespace vnet::sw {

/// IP protocol numbers the switch looks at (IANA registry).
namespace ip_proto {
inline constexpr std::uint8_t icmp = 1;
inline constexpr std::uint8_t tcp = 6;
inline constexpr std::uint8_t udp = 17;
inline constexpr std::uint8_t icmpv6 = 58;
}  // namespace ip_proto

/// Layer 2 facts of one frame, read once on ingress.
struct l2_info {
    std::uint64_t dst = 0;  // 48-bit MAC, most significant octet first
    std::uint64_t src = 0;
    std::uint16_t vid = 0;        // outer tag's VID (0: untagged or priority-tagged)
    bool tagged = false;          // an outer 802.1Q / 802.1ad tag is present
    std::uint16_t ethertype = 0;  // after the tag stack
    std::uint16_t l3_offset = 0;  // where the L3 header starts

    static constexpr bool is_group(std::uint64_t mac) noexcept { return (mac >> 40) & 0x01; }
    constexpr bool dst_is_group() const noexcept { return is_group(dst); }
    constexpr bool src_is_group() const noexcept { return is_group(src); }
    constexpr bool dst_is_broadcast() const noexcept { return dst == 0xffffffffffffULL; }
};

namespace detail {
constexpr std::uint64_t load_mac48(bytes_view b, std::size_t off) noexcept {
    return (std::uint64_t{load_be16(b, off)} << 32) | load_be32(b, off + 2);
}
}  // namespace detail

/// Reads destination, source and the tag stack (up to frame_view::max_tags tags, like
/// vnet::wire::frame_view). False for frames shorter than their headers, for more tags
/// than that, and for the reserved VID 4095.
constexpr bool classify_l2(bytes_view f, l2_info& out) noexcept {
    if (f.size() < wire::ethernet_view::header_len) return false;
    out.dst = detail::load_mac48(f, 0);
    out.src = detail::load_mac48(f, 6);
    std::size_t off = 12;
    std::uint16_t type = load_be16(f, off);
    out.tagged = false;
    out.vid = 0;
    std::size_t ntags = 0;
    while (wire::is_vlan_tpid(type)) {
        if (ntags == wire::frame_view::max_tags) return false;
        if (!in_bounds(f.size(), off, 6)) return false;
        const std::uint16_t vid = load_be16(f, off + 2) & 0x0fff;
        if (vid == 0x0fff) return false;
        if (ntags == 0) {
            out.tagged = true;
            out.vid = vid;
        }
        ++ntags;
        off += wire::vlan_tag::size;
        type = load_be16(f, off);
    }
    out.ethertype = type;
    out.l3_offset = static_cast<std::uint16_t>(off + 2);
    return true;
}

/// Layer 3 / 4 facts, read only for ports whose features need them.
struct flow_key {
    std::uint8_t ip_version = 0;  // 0: not IP (or malformed IP), 4 or 6
    std::uint8_t proto = 0;       // IPv4 protocol / IPv6 upper-layer next header
    ipv4_address src4{}, dst4{};
    ipv6_address src6{}, dst6{};
    bool has_ports = false;  // UDP / TCP with a readable port pair (first fragment)
    std::uint16_t sport = 0, dport = 0;
    bool has_icmp_type = false;  // ICMPv4 / ICMPv6 with a readable type
    std::uint8_t icmp_type = 0;

    constexpr bool is_ip() const noexcept { return ip_version != 0; }
    constexpr bool is_udp() const noexcept { return is_ip() && proto == ip_proto::udp && has_ports; }

    /// A DHCP server message: UDP from the DHCPv4 server port 67 or the DHCPv6 server /
    /// relay port 547 (RFC 2131 section 4.1, RFC 8415 section 7.2).
    constexpr bool is_dhcp_server() const noexcept {
        return is_udp() && ((ip_version == 4 && sport == 67) || (ip_version == 6 && sport == 547));
    }
    /// A router message a router guard drops: ICMPv6 router advertisement (134) or
    /// redirect (137) (RFC 4861 section 4), ICMPv4 redirect (5) (RFC 792).
    constexpr bool is_router_message() const noexcept {
        if (!has_icmp_type) return false;
        if (ip_version == 6 && proto == ip_proto::icmpv6) return icmp_type == 134 || icmp_type == 137;
        if (ip_version == 4 && proto == ip_proto::icmp) return icmp_type == 5;
        return false;
    }
};

namespace detail {
constexpr void read_l4(bytes_view f, std::size_t off, flow_key& k) noexcept {
    if (k.proto == ip_proto::udp || k.proto == ip_proto::tcp) {
        if (!in_bounds(f.size(), off, 4)) return;
        k.sport = load_be16(f, off);
        k.dport = load_be16(f, off + 2);
        k.has_ports = true;
    } else if (k.proto == ip_proto::icmp || k.proto == ip_proto::icmpv6) {
        if (!in_bounds(f.size(), off, 1)) return;
        k.icmp_type = load_u8(f, off);
        k.has_icmp_type = true;
    }
}

constexpr ipv6_address load_ipv6(bytes_view f, std::size_t off) noexcept { return ipv6_address::load(f, off); }
}  // namespace detail

/// Reads the IP header at l2.l3_offset and the first bytes of the transport header.
/// Fields that the frame does not hold stay at their defaults (ip_version 0 for non-IP
/// or malformed IP; has_ports false for non-first fragments and short frames).
constexpr flow_key classify_l3(bytes_view f, const l2_info& l2) noexcept {
    flow_key k;
    const std::size_t off = l2.l3_offset;
    if (l2.ethertype == wire::ethertype::ipv4) {
        // RFC 791 section 3.1: version/IHL at 0, flags/fragment offset at 6, protocol at 9,
        // source at 12, destination at 16.
        if (!in_bounds(f.size(), off, 20)) return k;
        const std::uint8_t vihl = load_u8(f, off);
        const std::size_t ihl = std::size_t{vihl & 0x0fu} * 4;
        if ((vihl >> 4) != 4 || ihl < 20 || !in_bounds(f.size(), off, ihl)) return k;
        k.ip_version = 4;
        k.proto = load_u8(f, off + 9);
        k.src4 = ipv4_address(load_be32(f, off + 12));
        k.dst4 = ipv4_address(load_be32(f, off + 16));
        const bool later_fragment = (load_be16(f, off + 6) & 0x1fff) != 0;
        if (!later_fragment) detail::read_l4(f, off + ihl, k);
        return k;
    }
    if (l2.ethertype == wire::ethertype::ipv6) {
        // RFC 8200 section 3: next header at 6, source at 8, destination at 24; extension
        // headers (hop-by-hop 0, routing 43, destination options 60: length in 8-octet
        // units after the first 8; fragment 44: 8 octets) are skipped, at most 8 of them.
        if (!in_bounds(f.size(), off, 40)) return k;
        if ((load_u8(f, off) >> 4) != 6) return k;
        k.ip_version = 6;
        k.src6 = detail::load_ipv6(f, off + 8);
        k.dst6 = detail::load_ipv6(f, off + 24);
        std::uint8_t nh = load_u8(f, off + 6);
        std::size_t pos = off + 40;
        bool later_fragment = false;
        for (int i = 0; i < 8; ++i) {
            if (nh == 0 || nh == 43 || nh == 60) {
                if (!in_bounds(f.size(), pos, 2)) return k;
                const std::uint8_t next = load_u8(f, pos);
                pos += (std::size_t{load_u8(f, pos + 1)} + 1) * 8;
                nh = next;
            } else if (nh == 44) {
                if (!in_bounds(f.size(), pos, 8)) return k;
                const std::uint8_t next = load_u8(f, pos);
                later_fragment = later_fragment || (load_be16(f, pos + 2) & 0xfff8) != 0;
                pos += 8;
                nh = next;
            } else {
                break;
            }
        }
        k.proto = nh;
        if (!later_fragment) detail::read_l4(f, pos, k);
        return k;
    }
    return k;
}

}  // namespace vnet::sw
