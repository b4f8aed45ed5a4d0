// vnet/core/bytes.hpp - byte spans and big-endian loads/stores.
//
// Every codec reads and writes the wire through these helpers: byte-wise, constexpr,
// no reinterpret_cast onto packed structs, no alignment assumptions. The unchecked
// forms take an offset the caller has already bounds-checked (a view checks its
// length once in parse()); the checked forms return an error instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace vnet {

using bytes_view = std::span<const std::byte>;
using bytes_span = std::span<std::byte>;

/// View any contiguous range of uint8_t/char as bytes.
inline bytes_view as_bytes_view(std::span<const std::uint8_t> s) noexcept { return std::as_bytes(s); }
inline bytes_view as_bytes_view(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};  // byte aliasing is defined
}
inline bytes_span as_writable(std::span<std::uint8_t> s) noexcept { return std::as_writable_bytes(s); }

constexpr std::uint8_t u8(std::byte b) noexcept { return static_cast<std::uint8_t>(b); }

// ---- unchecked loads (precondition: off + N <= b.size()) ----
constexpr std::uint8_t load_u8(bytes_view b, std::size_t off) noexcept { return u8(b[off]); }
constexpr std::uint16_t load_be16(bytes_view b, std::size_t off) noexcept {
    return static_cast<std::uint16_t>((u8(b[off]) << 8) | u8(b[off + 1]));
}
constexpr std::uint32_t load_be32(bytes_view b, std::size_t off) noexcept {
    return (std::uint32_t{u8(b[off])} << 24) | (std::uint32_t{u8(b[off + 1])} << 16) | (std::uint32_t{u8(b[off + 2])} << 8) |
           std::uint32_t{u8(b[off + 3])};
}
constexpr std::uint64_t load_be64(bytes_view b, std::size_t off) noexcept {
    return (std::uint64_t{load_be32(b, off)} << 32) | load_be32(b, off + 4);
}
constexpr std::uint16_t load_le16(bytes_view b, std::size_t off) noexcept {
    return static_cast<std::uint16_t>(u8(b[off]) | (u8(b[off + 1]) << 8));
}
constexpr std::uint32_t load_le32(bytes_view b, std::size_t off) noexcept {
    return std::uint32_t{u8(b[off])} | (std::uint32_t{u8(b[off + 1])} << 8) | (std::uint32_t{u8(b[off + 2])} << 16) |
           (std::uint32_t{u8(b[off + 3])} << 24);
}
constexpr std::uint64_t load_le64(bytes_view b, std::size_t off) noexcept {
    return std::uint64_t{load_le32(b, off)} | (std::uint64_t{load_le32(b, off + 4)} << 32);
}

// ---- unchecked stores (precondition: off + N <= b.size()) ----
constexpr void store_u8(bytes_span b, std::size_t off, std::uint8_t v) noexcept { b[off] = std::byte{v}; }
constexpr void store_be16(bytes_span b, std::size_t off, std::uint16_t v) noexcept {
    b[off] = std::byte(v >> 8);
    b[off + 1] = std::byte(v & 0xff);
}
constexpr void store_be32(bytes_span b, std::size_t off, std::uint32_t v) noexcept {
    store_be16(b, off, static_cast<std::uint16_t>(v >> 16));
    store_be16(b, off + 2, static_cast<std::uint16_t>(v & 0xffff));
}
constexpr void store_be64(bytes_span b, std::size_t off, std::uint64_t v) noexcept {
    store_be32(b, off, static_cast<std::uint32_t>(v >> 32));
    store_be32(b, off + 4, static_cast<std::uint32_t>(v & 0xffffffffu));
}
constexpr void store_le16(bytes_span b, std::size_t off, std::uint16_t v) noexcept {
    b[off] = std::byte(v & 0xff);
    b[off + 1] = std::byte(v >> 8);
}
constexpr void store_le32(bytes_span b, std::size_t off, std::uint32_t v) noexcept {
    store_le16(b, off, static_cast<std::uint16_t>(v & 0xffff));
    store_le16(b, off + 2, static_cast<std::uint16_t>(v >> 16));
}
constexpr void store_le64(bytes_span b, std::size_t off, std::uint64_t v) noexcept {
    store_le32(b, off, static_cast<std::uint32_t>(v & 0xffffffffu));
    store_le32(b, off + 4, static_cast<std::uint32_t>(v >> 32));
}

/// Copy src into dst at off (precondition: off + src.size() <= dst.size()).
constexpr void store_bytes(bytes_span dst, std::size_t off, bytes_view src) noexcept {
    for (std::size_t i = 0; i < src.size(); ++i) dst[off + i] = src[i];
}

/// True when [off, off+len) lies inside a buffer of size n, without overflow.
constexpr bool in_bounds(std::size_t n, std::size_t off, std::size_t len) noexcept { return off <= n && len <= n - off; }

/// Compare two byte ranges for equality.
constexpr bool equal_bytes(bytes_view a, bytes_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}

}  // namespace vnet
