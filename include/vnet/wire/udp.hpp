// vnet/wire/udp.hpp - User Datagram Protocol header (RFC 768) and its checksum over the
// IPv4 pseudo header (RFC 768) and the IPv6 pseudo header (RFC 8200 section 8.1).
//
// udp_view is a zero-copy view checked once by parse(): the length field must be at
// least the 8-byte header and must not exceed the buffer. A buffer longer than the
// length field (Ethernet padding, a trailer) is accepted and the datagram ends where the
// length says. Checksum rules:
// - over IPv4 a transmitted checksum of zero means "no checksum computed" (RFC 768);
// - over IPv6 the checksum is mandatory and a zero checksum is invalid (RFC 8200
//   section 8.1: "IPv6 receivers must discard UDP packets containing a zero checksum");
// - a sender whose computed checksum is zero transmits 0xffff instead (RFC 768,
//   RFC 8200 section 8.1).
// udp_repr is the value type; its emit() fills the length and checksum fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/ipv4.hpp>

namespace vnet::wire {

/// Well-known ports of the services vnet emulates and checks (IANA service name registry).
namespace well_known_port {
inline constexpr std::uint16_t dns = 53;
inline constexpr std::uint16_t dhcp_server = 67;  // bootps
inline constexpr std::uint16_t dhcp_client = 68;  // bootpc
inline constexpr std::uint16_t http = 80;
inline constexpr std::uint16_t https = 443;
inline constexpr std::uint16_t mqtt = 1883;
inline constexpr std::uint16_t amqps = 5671;
inline constexpr std::uint16_t amqp = 5672;
inline constexpr std::uint16_t mqtts = 8883;
}  // namespace well_known_port

/// What a zero checksum field means: "none" over IPv4 (RFC 768), invalid over IPv6
/// (RFC 8200 section 8.1).
enum class udp_zero_checksum : std::uint8_t { none, invalid };

class udp_view {
public:
    static constexpr std::size_t header_len = 8;
    /// The IP protocol / IPv6 next header number of UDP.
    static constexpr std::uint8_t ip_protocol = 17;
    struct field {
        static constexpr std::size_t src_port = 0, dst_port = 2, length = 4, checksum = 6;
    };
    static_assert(field::checksum + 2 == header_len);

    /// Checks the header and the length field; the view covers exactly `length` bytes.
    static constexpr result<udp_view> parse(bytes_view b) noexcept {
        if (b.size() < header_len) return fail(layer::udp, errc::truncated, "header");
        std::size_t len = load_be16(b, field::length);
        if (len < header_len || len > b.size()) return fail(layer::udp, errc::bad_length, "length");
        return udp_view(b.first(len));
    }

    constexpr std::uint16_t src_port() const noexcept { return load_be16(b_, field::src_port); }
    constexpr std::uint16_t dst_port() const noexcept { return load_be16(b_, field::dst_port); }
    /// The length field: header plus payload.
    constexpr std::uint16_t length() const noexcept { return load_be16(b_, field::length); }
    constexpr std::uint16_t checksum() const noexcept { return load_be16(b_, field::checksum); }
    constexpr bytes_view payload() const noexcept { return b_.subspan(header_len); }
    /// The datagram: header and payload, `length()` bytes.
    constexpr bytes_view bytes() const noexcept { return b_; }

    /// Verifies the checksum over `pseudo` (a pseudo_header_v4/v6 whose length is
    /// length()) and the datagram. zero says what a zero checksum field means.
    constexpr bool checksum_ok(const checksum_acc& pseudo, udp_zero_checksum zero) const noexcept {
        if (checksum() == 0) return zero == udp_zero_checksum::none;
        checksum_acc acc = pseudo;
        return checksum_verifies(acc.add(b_));
    }
    /// Over IPv4: zero means no checksum and is accepted (RFC 768).
    constexpr bool checksum_ok(ipv4_address src, ipv4_address dst) const noexcept {
        return checksum_ok(pseudo_header_v4(src, dst, ip_protocol, length()), udp_zero_checksum::none);
    }
    /// Over IPv6: zero is invalid (RFC 8200 section 8.1).
    constexpr bool checksum_ok(const ipv6_address& src, const ipv6_address& dst) const noexcept {
        return checksum_ok(pseudo_header_v6(src, dst, ip_protocol, length()), udp_zero_checksum::invalid);
    }

private:
    constexpr explicit udp_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

struct udp_repr {
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    std::size_t payload_len = 0;

    static constexpr std::size_t header_len = udp_view::header_len;
    /// The largest payload the 16-bit length field can describe.
    static constexpr std::size_t max_payload_len = 0xffff - header_len;

    /// Decodes the header after verifying the checksum; errc::bad_checksum when it fails.
    static constexpr result<udp_repr> parse(const udp_view& v, const checksum_acc& pseudo, udp_zero_checksum zero) noexcept {
        if (!v.checksum_ok(pseudo, zero)) return fail(layer::udp, errc::bad_checksum, "checksum");
        return udp_repr{v.src_port(), v.dst_port(), v.payload().size()};
    }
    static constexpr result<udp_repr> parse(const udp_view& v, ipv4_address src, ipv4_address dst) noexcept {
        return parse(v, pseudo_header_v4(src, dst, udp_view::ip_protocol, v.length()), udp_zero_checksum::none);
    }
    static constexpr result<udp_repr> parse(const udp_view& v, const ipv6_address& src, const ipv6_address& dst) noexcept {
        return parse(v, pseudo_header_v6(src, dst, udp_view::ip_protocol, v.length()), udp_zero_checksum::invalid);
    }

    constexpr std::size_t buffer_len() const noexcept { return header_len + payload_len; }

    /// Writes header and payload at the start of out over IPv4; returns the bytes written.
    /// payload.size() must equal payload_len. A payload already in place at out + 8 is
    /// not copied; otherwise it must not overlap out.
    constexpr result<std::size_t> emit(bytes_span out, bytes_view payload, ipv4_address src, ipv4_address dst) const noexcept {
        auto n = emit_unchecksummed(out, payload);
        if (!n) return n;
        finish(out, pseudo_header_v4(src, dst, udp_view::ip_protocol, static_cast<std::uint16_t>(*n)));
        return n;
    }
    /// The same over IPv6.
    constexpr result<std::size_t> emit(bytes_span out, bytes_view payload, const ipv6_address& src,
                                       const ipv6_address& dst) const noexcept {
        auto n = emit_unchecksummed(out, payload);
        if (!n) return n;
        finish(out, pseudo_header_v6(src, dst, udp_view::ip_protocol, static_cast<std::uint32_t>(*n)));
        return n;
    }

    friend constexpr bool operator==(const udp_repr&, const udp_repr&) = default;

private:
    constexpr result<std::size_t> emit_unchecksummed(bytes_span out, bytes_view payload) const noexcept {
        if (payload.size() != payload_len) return fail(layer::udp, errc::bad_length, "payload");
        if (payload_len > max_payload_len) return fail(layer::udp, errc::too_long, "length");
        std::size_t len = buffer_len();
        if (out.size() < len) return fail(layer::udp, errc::buffer_too_small, "datagram");
        store_be16(out, udp_view::field::src_port, src_port);
        store_be16(out, udp_view::field::dst_port, dst_port);
        store_be16(out, udp_view::field::length, static_cast<std::uint16_t>(len));
        store_be16(out, udp_view::field::checksum, 0);
        if (payload.data() != out.data() + header_len) store_bytes(out, header_len, payload);
        return len;
    }
    /// Computes the checksum over pseudo and the datagram; a computed zero goes out as 0xffff.
    constexpr void finish(bytes_span out, checksum_acc pseudo) const noexcept {
        if (out.size() < buffer_len()) return;  // emit_unchecksummed() checked it; said again for the optimiser
        std::uint16_t c = pseudo.add(out.first(buffer_len())).finish();
        store_be16(out, udp_view::field::checksum, c == 0 ? 0xffff : c);
    }
};

/// The destination port of the UDP datagram an IPv4 packet carries: a dispatch peek at the
/// first fragment's header, nothing checked beyond its length (udp_view::parse checks the
/// rest). nullopt for another protocol, a non-first fragment or fewer than 8 octets.
constexpr std::optional<std::uint16_t> udp_dst_port(const ipv4_view& ip) noexcept {
    if (ip.protocol() != udp_view::ip_protocol || !ip.is_first_fragment() || ip.payload_len() < udp_view::header_len)
        return std::nullopt;
    return load_be16(ip.payload(), udp_view::field::dst_port);
}

}  // namespace vnet::wire
