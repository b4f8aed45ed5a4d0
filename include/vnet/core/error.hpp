// vnet/core/error.hpp - errors as values.
//
// A parse or build failure says which layer failed, which field, and why, e.g.
// "ipv4.total_length: bad length". It is a small trivially copyable value (no
// allocation), so parsers on the hot path can return it freely. Text parsers
// (addresses, lab values) use errc::syntax, whose field holds the whole message.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
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

inline constexpr enum_name<layer> layer_names[] = {
    {layer::none, "none"},       {layer::address, "address"}, {layer::ethernet, "eth"}, {layer::vlan, "vlan"},
    {layer::arp, "arp"},         {layer::ipv4, "ip"},         {layer::icmpv4, "icmp"},  {layer::udp, "udp"},
    {layer::tcp, "tcp"},         {layer::dhcp, "dhcp"},       {layer::dns, "dns"},      {layer::ipv6, "ipv6"},
    {layer::icmpv6, "icmpv6"},   {layer::ndp, "ndp"},         {layer::pcap, "pcap"},    {layer::vswitch, "switch"},
    {layer::service, "service"}, {layer::netvsc, "netvsc"},   {layer::eflow, "eflow"},  {layer::io, "io"},
    {layer::lab, "lab"},
};
constexpr std::span<const enum_name<layer>> enum_names(layer) noexcept { return layer_names; }

inline constexpr enum_name<errc> errc_names[] = {
    {errc::truncated, "truncated"},
    {errc::bad_length, "bad length"},
    {errc::bad_version, "bad version"},
    {errc::bad_checksum, "bad checksum"},
    {errc::bad_option, "bad option"},
    {errc::bad_value, "bad value"},
    {errc::bad_pointer, "bad pointer"},
    {errc::loop, "pointer loop"},
    {errc::too_long, "too long"},
    {errc::unsupported, "unsupported"},
    {errc::buffer_too_small, "buffer too small"},
    {errc::syntax, "syntax error"},
    {errc::conflict, "conflict"},
    {errc::exhausted, "exhausted"},
    {errc::not_found, "not found"},
    {errc::io, "I/O error"},
};
constexpr std::span<const enum_name<errc>> enum_names(errc) noexcept { return errc_names; }

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
