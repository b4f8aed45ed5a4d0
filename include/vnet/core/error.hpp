// vnet/core/error.hpp - errors as values.
//
// A parse or build failure says which layer failed, which field, and why, e.g.
// "ipv4.total_length: bad length". It is a small trivially copyable value (no
// allocation), so parsers on the hot path can return it freely. Text parsers
// (addresses, lab values) use errc::syntax, whose field holds the whole message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/expected.hpp>

namespace vnet {

/// The protocol layer or subsystem an error comes from.
enum class layer : std::uint8_t {
    none,
    address,  // text forms of MAC / IPv4 / IPv6 addresses and prefixes
    ethernet,
    vlan,
    arp,
    ipv4,
    icmpv4,
    udp,
    tcp,
    dhcp,
    dns,
    ipv6,
    icmpv6,
    ndp,
    pcap,
    vswitch,
    service,
    netvsc,
    eflow,
    io,
    lab,
};

/// Why it failed.
enum class errc : std::uint8_t {
    truncated,         // the input ends before the field
    bad_length,        // a length field disagrees with the data or with the protocol
    bad_version,       // version field not the one this codec speaks
    bad_checksum,      // checksum does not verify
    bad_option,        // malformed option / TLV
    bad_value,         // a field holds a value the protocol forbids
    bad_pointer,       // a compression pointer or offset points outside or forward
    loop,              // a pointer chain loops
    too_long,          // exceeds a protocol limit (name length, tag count, ...)
    unsupported,       // well-formed but not handled by this codec
    buffer_too_small,  // the caller's output buffer cannot hold the result
    syntax,            // text input not in the expected form (field holds the message)
    conflict,          // a configuration conflicts with existing state
    exhausted,         // a pool or table has no room left
    not_found,         // a named thing does not exist
    io,                // an operating-system call failed
};

constexpr std::string_view to_string(layer l) noexcept {
    switch (l) {
        case layer::none: return "none";
        case layer::address: return "address";
        case layer::ethernet: return "eth";
        case layer::vlan: return "vlan";
        case layer::arp: return "arp";
        case layer::ipv4: return "ip";
        case layer::icmpv4: return "icmp";
        case layer::udp: return "udp";
        case layer::tcp: return "tcp";
        case layer::dhcp: return "dhcp";
        case layer::dns: return "dns";
        case layer::ipv6: return "ipv6";
        case layer::icmpv6: return "icmpv6";
        case layer::ndp: return "ndp";
        case layer::pcap: return "pcap";
        case layer::vswitch: return "switch";
        case layer::service: return "service";
        case layer::netvsc: return "netvsc";
        case layer::eflow: return "eflow";
        case layer::io: return "io";
        case layer::lab: return "lab";
    }
    return "?";
}

constexpr std::string_view to_string(errc e) noexcept {
    switch (e) {
        case errc::truncated: return "truncated";
        case errc::bad_length: return "bad length";
        case errc::bad_version: return "bad version";
        case errc::bad_checksum: return "bad checksum";
        case errc::bad_option: return "bad option";
        case errc::bad_value: return "bad value";
        case errc::bad_pointer: return "bad pointer";
        case errc::loop: return "pointer loop";
        case errc::too_long: return "too long";
        case errc::unsupported: return "unsupported";
        case errc::buffer_too_small: return "buffer too small";
        case errc::syntax: return "syntax error";
        case errc::conflict: return "conflict";
        case errc::exhausted: return "exhausted";
        case errc::not_found: return "not found";
        case errc::io: return "I/O error";
    }
    return "?";
}

/// One failure: layer, field (a string literal, never owned) and reason.
struct error {
    vnet::layer where = layer::none;
    vnet::errc what = errc::bad_value;
    std::string_view field{};  // must point at storage that outlives the error (a literal)

    friend constexpr bool operator==(const error&, const error&) = default;

    /// "ip.total_length: bad length"; for errc::syntax the field is the whole message.
    std::string message() const {
        if (what == errc::syntax) return std::string(field);
        return fmt::format("{}.{}: {}", to_string(where), field, to_string(what));
    }
};

template <class T>
using result = expected<T, error>;

/// Shorthand: `return fail(layer::ipv4, errc::truncated, "header");`
constexpr unexpected<error> fail(layer l, errc e, std::string_view field) noexcept {
    return unexpected<error>(error{l, e, field});
}

}  // namespace vnet

template <>
struct fmt::formatter<vnet::error> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const vnet::error& e, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(e.message(), ctx);
    }
};
