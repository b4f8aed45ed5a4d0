// vnet/wire/checksum.hpp - the Internet checksum (RFC 1071), pseudo headers for UDP/TCP/ICMPv6
// (RFC 768, RFC 793, RFC 8200 section 8.1) and incremental update (RFC 1624, eqn. 3).
#pragma once

#include <cstddef>
#include <cstdint>

#include <vnet/core/bytes.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>

namespace vnet::wire {

/// A running one's-complement sum. Add data, then finish() for the checksum field value.
class checksum_acc {
public:
    constexpr checksum_acc() noexcept = default;

    /// Add bytes as 16-bit big-endian words. An odd tail byte is padded with zero; call
    /// add() with an odd length only for the last chunk.
    constexpr checksum_acc& add(bytes_view b) noexcept {
        std::size_t i = 0;
        for (; i + 1 < b.size(); i += 2) sum_ += load_be16(b, i);
        if (i < b.size()) sum_ += std::uint32_t{u8(b[i])} << 8;
        fold32();
        return *this;
    }
    constexpr checksum_acc& add16(std::uint16_t v) noexcept {
        sum_ += v;
        fold32();
        return *this;
    }
    constexpr checksum_acc& add32(std::uint32_t v) noexcept {
        sum_ += (v >> 16) + (v & 0xffff);
        fold32();
        return *this;
    }
    /// The folded 16-bit sum, not complemented.
    constexpr std::uint16_t sum() const noexcept {
        std::uint64_t s = sum_;
        while (s >> 16) s = (s & 0xffff) + (s >> 16);
        return static_cast<std::uint16_t>(s);
    }
    /// The value to put in a checksum field: the complement of the folded sum.
    constexpr std::uint16_t finish() const noexcept { return static_cast<std::uint16_t>(~sum()); }

private:
    constexpr void fold32() noexcept {
        if (sum_ > 0xffffffffULL) sum_ = (sum_ & 0xffffffffULL) + (sum_ >> 32);
    }
    std::uint64_t sum_ = 0;
};

/// The checksum of b (for an IPv4 header: over the header with the field zeroed).
constexpr std::uint16_t internet_checksum(bytes_view b) noexcept { return checksum_acc{}.add(b).finish(); }

/// Sum over data that includes its own checksum field verifies when it folds to 0xffff.
constexpr bool checksum_verifies(const checksum_acc& acc) noexcept { return acc.sum() == 0xffff; }

/// IPv4 pseudo header: src, dst, zero, protocol, upper-layer length.
constexpr checksum_acc pseudo_header_v4(ipv4_address src, ipv4_address dst, std::uint8_t proto, std::uint16_t length) noexcept {
    checksum_acc a;
    a.add32(src.to_u32()).add32(dst.to_u32()).add16(proto).add16(length);
    return a;
}

/// IPv6 pseudo header: src, dst, 32-bit upper-layer length, next header.
constexpr checksum_acc pseudo_header_v6(const ipv6_address& src, const ipv6_address& dst, std::uint8_t next_header,
                                        std::uint32_t length) noexcept {
    checksum_acc a;
    for (std::size_t i = 0; i < 8; ++i) a.add16(src.group(i));
    for (std::size_t i = 0; i < 8; ++i) a.add16(dst.group(i));
    a.add32(length).add16(next_header);
    return a;
}

/// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for a 16-bit field changing from m to m'.
constexpr std::uint16_t checksum_update16(std::uint16_t hc, std::uint16_t old_v, std::uint16_t new_v) noexcept {
    std::uint32_t s = static_cast<std::uint16_t>(~hc);
    s += static_cast<std::uint16_t>(~old_v);
    s += new_v;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(~s);
}
/// The same for a 32-bit field (an IPv4 address).
constexpr std::uint16_t checksum_update32(std::uint16_t hc, std::uint32_t old_v, std::uint32_t new_v) noexcept {
    hc = checksum_update16(hc, static_cast<std::uint16_t>(old_v >> 16), static_cast<std::uint16_t>(new_v >> 16));
    return checksum_update16(hc, static_cast<std::uint16_t>(old_v & 0xffff), static_cast<std::uint16_t>(new_v & 0xffff));
}

}  // namespace vnet::wire
