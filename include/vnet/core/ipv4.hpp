// vnet/core/ipv4.hpp - IPv4 addresses and prefixes (CIDR).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>

namespace vnet {

class ipv4_address {
public:
    constexpr ipv4_address() noexcept = default;
    /// From a host-order 32-bit value (0xC0A80001 is 192.168.0.1).
    constexpr explicit ipv4_address(std::uint32_t v) noexcept : v_(v) {}
    constexpr ipv4_address(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) noexcept
            : v_((std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d) {}

    /// Precondition: off + 4 <= b.size().
    static constexpr ipv4_address load(bytes_view b, std::size_t off = 0) noexcept { return ipv4_address(load_be32(b, off)); }
    constexpr void store(bytes_span b, std::size_t off = 0) const noexcept { store_be32(b, off, v_); }

    /// Strict dotted quad: four decimal parts 0-255, no leading zeros (as inet_pton).
    static constexpr result<ipv4_address> parse(std::string_view s) noexcept {
        constexpr std::string_view msg = "invalid IPv4 address (expected four decimal octets 0-255 like 192.168.0.10)";
        std::uint32_t v = 0;
        std::size_t i = 0;
        for (int part = 0; part < 4; ++part) {
            if (part > 0) {
                if (i >= s.size() || s[i] != '.') return fail(layer::address, errc::syntax, msg);
                ++i;
            }
            std::size_t start = i;
            std::uint32_t octet = 0;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                octet = octet * 10 + static_cast<std::uint32_t>(s[i] - '0');
                if (octet > 255 || i - start >= 3) return fail(layer::address, errc::syntax, msg);
                ++i;
            }
            if (i == start) return fail(layer::address, errc::syntax, msg);
            if (i - start > 1 && s[start] == '0') return fail(layer::address, errc::syntax, msg);
            v = (v << 8) | octet;
        }
        if (i != s.size()) return fail(layer::address, errc::syntax, msg);
        return ipv4_address(v);
    }

    static constexpr ipv4_address any() noexcept { return ipv4_address(0u); }
    static constexpr ipv4_address broadcast() noexcept { return ipv4_address(0xffffffffu); }

    constexpr std::uint32_t to_u32() const noexcept { return v_; }
    constexpr std::uint8_t octet(int i) const noexcept { return static_cast<std::uint8_t>((v_ >> (24 - 8 * i)) & 0xff); }

    constexpr bool is_unspecified() const noexcept { return v_ == 0; }
    constexpr bool is_broadcast() const noexcept { return v_ == 0xffffffffu; }
    constexpr bool is_loopback() const noexcept { return (v_ >> 24) == 127; }
    constexpr bool is_multicast() const noexcept { return (v_ >> 28) == 0xe; }
    constexpr bool is_link_local() const noexcept { return (v_ >> 16) == 0xa9fe; }  // 169.254/16
    constexpr bool is_private() const noexcept {                                    // RFC 1918
        return (v_ >> 24) == 10 || (v_ >> 20) == 0xac1 || (v_ >> 16) == 0xc0a8;
    }
    constexpr bool is_reserved() const noexcept { return (v_ >> 28) == 0xf && !is_broadcast(); }  // 240/4

    friend constexpr auto operator<=>(const ipv4_address&, const ipv4_address&) = default;

private:
    std::uint32_t v_ = 0;
};

/// An address with a prefix length: "192.168.0.10/24". Host bits are kept (an interface
/// address is a prefix too); network() clears them.
class ipv4_prefix {
public:
    constexpr ipv4_prefix() noexcept = default;
    /// Precondition: len <= 32 (checked by make()).
    constexpr ipv4_prefix(ipv4_address a, std::uint8_t len) noexcept : a_(a), len_(len) {}

    static constexpr result<ipv4_prefix> make(ipv4_address a, unsigned len) noexcept {
        if (len > 32) return fail(layer::address, errc::syntax, "invalid IPv4 prefix length (expected 0-32)");
        return ipv4_prefix(a, static_cast<std::uint8_t>(len));
    }

    /// "a.b.c.d/len" with len 0-32. A bare address is a /32.
    static constexpr result<ipv4_prefix> parse(std::string_view s) noexcept {
        auto slash = s.find('/');
        auto addr = ipv4_address::parse(s.substr(0, slash));
        if (!addr) return unexpected(addr.error());
        if (slash == std::string_view::npos) return ipv4_prefix(*addr, 32);
        auto rest = s.substr(slash + 1);
        constexpr std::string_view msg = "invalid IPv4 prefix length (expected /0 to /32)";
        if (rest.empty() || rest.size() > 2) return fail(layer::address, errc::syntax, msg);
        unsigned len = 0;
        for (char c : rest) {
            if (c < '0' || c > '9') return fail(layer::address, errc::syntax, msg);
            len = len * 10 + static_cast<unsigned>(c - '0');
        }
        if (rest.size() == 2 && rest[0] == '0') return fail(layer::address, errc::syntax, msg);
        if (len > 32) return fail(layer::address, errc::syntax, msg);
        return ipv4_prefix(*addr, static_cast<std::uint8_t>(len));
    }

    /// The prefix length of a contiguous netmask, or nullopt (255.0.255.0 is not one).
    static constexpr std::optional<std::uint8_t> mask_length(ipv4_address mask) noexcept {
        std::uint32_t m = mask.to_u32();
        std::uint32_t inv = ~m;
        if ((inv & (inv + 1)) != 0) return std::nullopt;  // inverse must be 0...01...1
        std::uint8_t n = 0;
        while (m & 0x80000000u) {
            ++n;
            m <<= 1;
        }
        return n;
    }

    constexpr ipv4_address address() const noexcept { return a_; }
    constexpr std::uint8_t length() const noexcept { return len_; }
    constexpr ipv4_address netmask() const noexcept { return ipv4_address(len_ == 0 ? 0u : (0xffffffffu << (32 - len_))); }
    constexpr ipv4_address network() const noexcept { return ipv4_address(a_.to_u32() & netmask().to_u32()); }
    constexpr ipv4_address broadcast() const noexcept { return ipv4_address(network().to_u32() | ~netmask().to_u32()); }
    /// The prefix with host bits cleared.
    constexpr ipv4_prefix canonical() const noexcept { return ipv4_prefix(network(), len_); }
    constexpr bool contains(ipv4_address x) const noexcept { return (x.to_u32() & netmask().to_u32()) == network().to_u32(); }
    constexpr bool contains(const ipv4_prefix& p) const noexcept { return p.len_ >= len_ && contains(p.a_); }
    constexpr bool overlaps(const ipv4_prefix& p) const noexcept { return contains(p.a_) || p.contains(a_); }
    /// Number of addresses in the prefix (2^(32-len)).
    constexpr std::uint64_t size() const noexcept { return std::uint64_t{1} << (32 - len_); }
    /// True when the address is the network or broadcast address of a prefix shorter than /31.
    constexpr bool is_network_or_broadcast(ipv4_address x) const noexcept {
        return len_ < 31 && (x == network() || x == broadcast());
    }

    friend constexpr auto operator<=>(const ipv4_prefix&, const ipv4_prefix&) = default;

private:
    ipv4_address a_{};
    std::uint8_t len_ = 0;
};

}  // namespace vnet

template <>
struct fmt::formatter<vnet::ipv4_address> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::ipv4_address& a, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "{}.{}.{}.{}", a.octet(0), a.octet(1), a.octet(2), a.octet(3));
    }
};

template <>
struct fmt::formatter<vnet::ipv4_prefix> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::ipv4_prefix& p, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "{}/{}", p.address(), p.length());
    }
};

template <>
struct std::hash<vnet::ipv4_address> {
    std::size_t operator()(const vnet::ipv4_address& a) const noexcept { return std::hash<std::uint32_t>{}(a.to_u32()); }
};
