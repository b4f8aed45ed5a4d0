// vnet/core/mac.hpp - 48-bit IEEE MAC addresses.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>

namespace vnet {

class mac_address {
public:
    static constexpr std::size_t size = 6;

    constexpr mac_address() noexcept = default;
    constexpr explicit mac_address(const std::array<std::uint8_t, 6>& o) noexcept : o_(o) {}
    constexpr mac_address(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint8_t e, std::uint8_t f) noexcept
            : o_{a, b, c, d, e, f} {}

    /// The low 48 bits of v, most significant octet first.
    static constexpr mac_address from_u64(std::uint64_t v) noexcept {
        mac_address m;
        for (int i = 5; i >= 0; --i) {
            m.o_[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v & 0xff);
            v >>= 8;
        }
        return m;
    }
    /// Precondition: b.size() >= 6.
    static constexpr mac_address load(bytes_view b, std::size_t off = 0) noexcept {
        mac_address m;
        for (std::size_t i = 0; i < 6; ++i) m.o_[i] = u8(b[off + i]);
        return m;
    }
    constexpr void store(bytes_span b, std::size_t off = 0) const noexcept {
        for (std::size_t i = 0; i < 6; ++i) b[off + i] = std::byte{o_[i]};
    }

    /// Accepts "00:15:5d:0a:0b:0c", "00-15-5D-0A-0B-0C" (Hyper-V style) and "00155d0a0b0c".
    static constexpr result<mac_address> parse(std::string_view s) noexcept {
        constexpr std::string_view msg = "invalid MAC address (expected six hex octets like 00:15:5d:00:00:10)";
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        mac_address m;
        if (s.size() == 12) {
            for (std::size_t i = 0; i < 6; ++i) {
                int hi = hex(s[2 * i]), lo = hex(s[2 * i + 1]);
                if (hi < 0 || lo < 0) return fail(layer::address, errc::syntax, msg);
                m.o_[i] = static_cast<std::uint8_t>(hi * 16 + lo);
            }
            return m;
        }
        if (s.size() != 17) return fail(layer::address, errc::syntax, msg);
        const char sep = s[2];
        if (sep != ':' && sep != '-') return fail(layer::address, errc::syntax, msg);
        for (std::size_t i = 0; i < 6; ++i) {
            int hi = hex(s[3 * i]), lo = hex(s[3 * i + 1]);
            if (hi < 0 || lo < 0) return fail(layer::address, errc::syntax, msg);
            if (i < 5 && s[3 * i + 2] != sep) return fail(layer::address, errc::syntax, msg);
            m.o_[i] = static_cast<std::uint8_t>(hi * 16 + lo);
        }
        return m;
    }

    static constexpr mac_address broadcast() noexcept { return from_u64(0xffffffffffffULL); }

    constexpr std::uint64_t to_u64() const noexcept {
        std::uint64_t v = 0;
        for (auto o : o_) v = (v << 8) | o;
        return v;
    }
    constexpr const std::array<std::uint8_t, 6>& octets() const noexcept { return o_; }
    constexpr std::uint8_t operator[](std::size_t i) const noexcept { return o_[i]; }

    /// Group bit (I/G) set: multicast or broadcast.
    constexpr bool is_multicast() const noexcept { return (o_[0] & 0x01) != 0; }
    constexpr bool is_broadcast() const noexcept { return to_u64() == 0xffffffffffffULL; }
    constexpr bool is_unicast() const noexcept { return !is_multicast(); }
    /// U/L bit set: locally administered.
    constexpr bool is_local() const noexcept { return (o_[0] & 0x02) != 0; }
    constexpr bool is_zero() const noexcept { return to_u64() == 0; }

    friend constexpr auto operator<=>(const mac_address&, const mac_address&) = default;

private:
    std::array<std::uint8_t, 6> o_{};
};

}  // namespace vnet

template <>
struct fmt::formatter<vnet::mac_address> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::mac_address& m, Ctx& ctx) const {
        const auto& o = m.octets();
        return fmt::format_to(ctx.out(), "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3], o[4], o[5]);
    }
};

template <>
struct std::hash<vnet::mac_address> {
    std::size_t operator()(const vnet::mac_address& m) const noexcept { return std::hash<std::uint64_t>{}(m.to_u64()); }
};
