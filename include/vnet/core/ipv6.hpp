// vnet/core/ipv6.hpp - IPv6 addresses: text forms of RFC 4291 section 2.2, printed in the
// canonical form of RFC 5952 (lower case, longest run of two or more zero groups as "::").
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>

namespace vnet {

class ipv6_address {
public:
    constexpr ipv6_address() noexcept = default;
    constexpr explicit ipv6_address(const std::array<std::uint8_t, 16>& o) noexcept : o_(o) {}

    /// Precondition: off + 16 <= b.size().
    static constexpr ipv6_address load(bytes_view b, std::size_t off = 0) noexcept {
        ipv6_address a;
        for (std::size_t i = 0; i < 16; ++i) a.o_[i] = u8(b[off + i]);
        return a;
    }
    constexpr void store(bytes_span b, std::size_t off = 0) const noexcept {
        for (std::size_t i = 0; i < 16; ++i) b[off + i] = std::byte{o_[i]};
    }

    /// Eight 16-bit groups in host order.
    static constexpr ipv6_address from_groups(const std::array<std::uint16_t, 8>& g) noexcept {
        ipv6_address a;
        for (std::size_t i = 0; i < 8; ++i) {
            a.o_[2 * i] = static_cast<std::uint8_t>(g[i] >> 8);
            a.o_[2 * i + 1] = static_cast<std::uint8_t>(g[i] & 0xff);
        }
        return a;
    }
    constexpr std::uint16_t group(std::size_t i) const noexcept {
        return static_cast<std::uint16_t>((o_[2 * i] << 8) | o_[2 * i + 1]);
    }

    /// Full, compressed ("fe80::1") and IPv4-suffixed ("::ffff:192.0.2.1") forms.
    static constexpr result<ipv6_address> parse(std::string_view s) noexcept {
        constexpr std::string_view msg = "invalid IPv6 address (expected RFC 4291 text form like fe80::1)";
        auto bad = [&] { return fail(layer::address, errc::syntax, msg); };
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        std::array<std::uint16_t, 8> g{};
        int n = 0;     // groups written
        int gap = -1;  // index in g where "::" stood
        std::size_t i = 0;
        if (s.empty()) return bad();
        if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
            gap = 0;
            i = 2;
        } else if (s[0] == ':') {
            return bad();
        }
        while (i < s.size()) {
            if (n >= 8) return bad();
            // an IPv4 tail?
            std::size_t j = i;
            while (j < s.size() && s[j] != ':' && s[j] != '.') ++j;
            if (j < s.size() && s[j] == '.') {
                if (n > 6) return bad();
                auto v4 = ipv4_address::parse(s.substr(i));
                if (!v4) return bad();
                g[static_cast<std::size_t>(n++)] = static_cast<std::uint16_t>(v4->to_u32() >> 16);
                g[static_cast<std::size_t>(n++)] = static_cast<std::uint16_t>(v4->to_u32() & 0xffff);
                i = s.size();
                break;
            }
            if (j == i || j - i > 4) return bad();
            std::uint16_t v = 0;
            for (std::size_t k = i; k < j; ++k) {
                int h = hex(s[k]);
                if (h < 0) return bad();
                v = static_cast<std::uint16_t>((v << 4) | h);
            }
            g[static_cast<std::size_t>(n++)] = v;
            i = j;
            if (i == s.size()) break;
            // s[i] == ':'
            if (i + 1 < s.size() && s[i + 1] == ':') {
                if (gap >= 0) return bad();
                gap = n;
                i += 2;
            } else {
                ++i;
                if (i == s.size()) return bad();  // trailing single ':'
            }
        }
        std::array<std::uint16_t, 8> out{};
        if (gap < 0) {
            if (n != 8) return bad();
            out = g;
        } else {
            if (n > 7) return bad();
            int tail = n - gap;
            for (int k = 0; k < gap; ++k) out[static_cast<std::size_t>(k)] = g[static_cast<std::size_t>(k)];
            for (int k = 0; k < tail; ++k) out[static_cast<std::size_t>(8 - tail + k)] = g[static_cast<std::size_t>(gap + k)];
        }
        return from_groups(out);
    }

    static constexpr ipv6_address unspecified() noexcept { return {}; }
    static constexpr ipv6_address loopback() noexcept { return from_groups({0, 0, 0, 0, 0, 0, 0, 1}); }
    /// ff02::1, all nodes on the link.
    static constexpr ipv6_address all_nodes() noexcept { return from_groups({0xff02, 0, 0, 0, 0, 0, 0, 1}); }
    /// ff02::2, all routers on the link.
    static constexpr ipv6_address all_routers() noexcept { return from_groups({0xff02, 0, 0, 0, 0, 0, 0, 2}); }
    /// fe80::/64 with a modified EUI-64 interface id from a MAC (RFC 4291 appendix A).
    static constexpr ipv6_address link_local_from_mac(const mac_address& m) noexcept {
        ipv6_address a;
        a.o_[0] = 0xfe;
        a.o_[1] = 0x80;
        a.o_[8] = static_cast<std::uint8_t>(m[0] ^ 0x02);
        a.o_[9] = m[1];
        a.o_[10] = m[2];
        a.o_[11] = 0xff;
        a.o_[12] = 0xfe;
        a.o_[13] = m[3];
        a.o_[14] = m[4];
        a.o_[15] = m[5];
        return a;
    }

    constexpr const std::array<std::uint8_t, 16>& octets() const noexcept { return o_; }
    constexpr bool is_unspecified() const noexcept { return *this == ipv6_address{}; }
    constexpr bool is_loopback() const noexcept { return *this == loopback(); }
    constexpr bool is_multicast() const noexcept { return o_[0] == 0xff; }
    constexpr bool is_link_local() const noexcept { return o_[0] == 0xfe && (o_[1] & 0xc0) == 0x80; }
    /// ff02::1:ffXX:XXXX for this address (RFC 4291 section 2.7.1).
    constexpr ipv6_address solicited_node() const noexcept {
        ipv6_address a = from_groups({0xff02, 0, 0, 0, 0, 1, 0xff00, 0});
        a.o_[13] = o_[13];
        a.o_[14] = o_[14];
        a.o_[15] = o_[15];
        return a;
    }
    /// 33:33:xx:xx:xx:xx, the Ethernet group address of a multicast IPv6 address (RFC 2464 section 7).
    constexpr mac_address multicast_mac() const noexcept { return {0x33, 0x33, o_[12], o_[13], o_[14], o_[15]}; }

    friend constexpr auto operator<=>(const ipv6_address&, const ipv6_address&) = default;

private:
    std::array<std::uint8_t, 16> o_{};
};

}  // namespace vnet

template <>
struct fmt::formatter<vnet::ipv6_address> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::ipv6_address& a, Ctx& ctx) const {
        // RFC 5952 section 4.2: compress the longest run (first if tied) of >= 2 zero groups.
        int best = -1, best_len = 0;
        for (int i = 0; i < 8;) {
            if (a.group(static_cast<std::size_t>(i)) != 0) {
                ++i;
                continue;
            }
            int j = i;
            while (j < 8 && a.group(static_cast<std::size_t>(j)) == 0) ++j;
            if (j - i > best_len && j - i >= 2) {
                best = i;
                best_len = j - i;
            }
            i = j;
        }
        auto out = ctx.out();
        for (int i = 0; i < 8; ++i) {
            if (i == best) {
                out = fmt::format_to(out, "::");
                i += best_len - 1;
                continue;
            }
            if (i > 0 && i != best + best_len) out = fmt::format_to(out, ":");
            out = fmt::format_to(out, "{:x}", a.group(static_cast<std::size_t>(i)));
        }
        return out;
    }
};
