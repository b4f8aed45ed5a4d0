// vnet/wire/ndp.hpp - Neighbor Discovery for IPv6 (RFC 4861) messages and options.
//
// RFC 4861 section 4: router solicitation 133 (4.1), router advertisement 134 (4.2: cur
// hop limit, M and O flags, router lifetime, reachable time, retrans timer), neighbor
// solicitation 135 (4.3: target), neighbor advertisement 136 (4.4: R, S, O flags,
// target), redirect 137 (4.5: target, destination). Section 4.6 options, each a type, a
// length in units of 8 octets and data: source/target link-layer address (1/2, 4.6.1),
// prefix information (3, 4.6.2), redirected header (4, 4.6.3), MTU (5, 4.6.4), and the
// recursive DNS server option (25, RFC 8106 section 5.1); other types are yielded raw.
// A zero length makes the whole packet invalid (4.6: "Nodes MUST silently discard an ND
// packet that contains an option with length zero"), so the option iterator yields an
// error for it and for an option running past the message. ndp_validate applies the
// receiver checks of sections 6.1.1, 6.1.2, 7.1.1, 7.1.2 and 8.1.
//
// The switch's router guard (Hyper-V RouterGuard, the idea of RFC 6105) drops router
// advertisements and redirects from VM ports: is_router_guard_message(type) says which.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <variant>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/icmpv6.hpp>
#include <vnet/wire/ipv6.hpp>
#include <vnet/wire/tlv.hpp>

namespace vnet::wire {

/// True for an NDP message type (133-137).
constexpr bool is_ndp_message(std::uint8_t type) noexcept {
    return type >= icmpv6_type::router_solicitation && type <= icmpv6_type::redirect;
}
/// Messages only routers send: router advertisement and redirect (RFC 4861 sections 6, 8).
constexpr bool is_router_guard_message(std::uint8_t type) noexcept {
    return type == icmpv6_type::router_advertisement || type == icmpv6_type::redirect;
}

/// Option Type values (RFC 4861 section 4.6, RFC 8106 section 5.1).
namespace ndp_option_type {
inline constexpr std::uint8_t source_link_layer_address = 1;
inline constexpr std::uint8_t target_link_layer_address = 2;
inline constexpr std::uint8_t prefix_information = 3;
inline constexpr std::uint8_t redirected_header = 4;
inline constexpr std::uint8_t mtu = 5;
inline constexpr std::uint8_t recursive_dns_server = 25;
}  // namespace ndp_option_type

/// RFC 4861 section 6.1.1 etc.: the IP Hop Limit field of every NDP message.
inline constexpr std::uint8_t ndp_hop_limit = 255;

/// One option, checked by the iterator: it lies inside the message, its length is not
/// zero, and the known types have the length their accessors need. Every option is at
/// least 8 bytes; an accessor for a longer type called on a shorter option reads zero.
struct ndp_option {
    bytes_view bytes{};  // the whole option, type and length octets included

    constexpr std::uint8_t type() const noexcept { return load_u8(bytes, 0); }
    /// The Length field: units of 8 octets.
    constexpr std::uint8_t length() const noexcept { return load_u8(bytes, 1); }
    /// Everything after the type and length octets.
    constexpr bytes_view data() const noexcept { return bytes.subspan(2); }

    /// Source/target link-layer address (4.6.1), an Ethernet address (RFC 2464 section 6).
    constexpr mac_address link_layer_address() const noexcept { return mac_address::load(bytes, 2); }

    /// Prefix information (4.6.2).
    constexpr std::uint8_t prefix_length() const noexcept { return load_u8(bytes, 2); }
    constexpr bool on_link_flag() const noexcept { return (load_u8(bytes, 3) & 0x80) != 0; }
    constexpr bool autonomous_flag() const noexcept { return (load_u8(bytes, 3) & 0x40) != 0; }
    constexpr std::uint32_t valid_lifetime() const noexcept { return load_be32(bytes, 4); }
    constexpr std::uint32_t preferred_lifetime() const noexcept { return detail::load_be32_or_zero(bytes, 8); }
    /// Reads as :: on an option shorter than a prefix information option.
    constexpr ipv6_address prefix() const noexcept { return detail::load_ipv6_or_unspecified(bytes, 16); }

    /// Redirected header (4.6.3): the start of the redirected packet.
    constexpr bytes_view redirected_packet() const noexcept { return bytes.subspan(8); }

    /// MTU (4.6.4).
    constexpr std::uint32_t mtu() const noexcept { return load_be32(bytes, 4); }

    /// Recursive DNS server (RFC 8106 section 5.1): lifetime in seconds and addresses.
    constexpr std::uint32_t rdnss_lifetime() const noexcept { return load_be32(bytes, 4); }
    constexpr std::size_t rdnss_address_count() const noexcept { return (bytes.size() - 8) / 16; }
    /// Address i < rdnss_address_count(); :: for any other i.
    constexpr ipv6_address rdnss_address(std::size_t i) const noexcept {
        return i < rdnss_address_count() ? ipv6_address::load(bytes, 8 + 16 * i) : ipv6_address{};
    }
};

/// The layout of NDP options (RFC 4861 section 4.6): type, length in units of 8 octets
/// (never 0), data; the options vnet reads have their lengths checked. Yields
/// result<ndp_option> and ends after an error.
struct ndp_option_layout {
    using value_type = result<ndp_option>;
    struct cursor {
        std::size_t off = 0;
    };
    static constexpr bool next(bytes_view b, cursor& c, value_type& out) noexcept {
        if (c.off == b.size()) return false;
        out = decode(b, c.off);
        if (out) c.off += out->bytes.size();
        return true;
    }

private:
    static constexpr value_type decode(bytes_view b, std::size_t off) noexcept {
        if (!in_bounds(b.size(), off, 2)) return fail(layer::ndp, errc::truncated, "option");
        const std::uint8_t type = load_u8(b, off);
        const std::size_t units = load_u8(b, off + 1);
        if (units == 0) return fail(layer::ndp, errc::bad_option, "length");
        if (!in_bounds(b.size(), off, units * 8)) return fail(layer::ndp, errc::truncated, "option");
        switch (type) {
            case ndp_option_type::prefix_information:
                if (units != 4) return fail(layer::ndp, errc::bad_option, "prefix_information");
                break;
            case ndp_option_type::mtu:
                if (units != 1) return fail(layer::ndp, errc::bad_option, "mtu");
                break;
            case ndp_option_type::recursive_dns_server:
                // RFC 8106 section 5.1: 3 for one address, plus 2 for each further one.
                if (units < 3 || units % 2 == 0) return fail(layer::ndp, errc::bad_option, "recursive_dns_server");
                break;
            default: break;
        }
        return ndp_option{b.subspan(off, units * 8)};
    }
};
using ndp_option_iterator = tlv_iterator<ndp_option_layout>;
using ndp_option_range = tlv_range<ndp_option_layout>;

/// An NDP message (types 133-137) over a parsed ICMPv6 message, whose parse already
/// checked the type's minimum length.
class ndp_view {
public:
    struct field {
        static constexpr std::size_t cur_hop_limit = 4, ra_flags = 5, router_lifetime = 6, reachable_time = 8, retrans_timer = 12,
                                     na_flags = 4, target = 8, destination = 24;
    };
    /// Where the options start, per message type.
    static constexpr std::size_t options_offset(std::uint8_t type) noexcept {
        switch (type) {
            case icmpv6_type::router_solicitation: return 8;
            case icmpv6_type::router_advertisement: return 16;
            case icmpv6_type::neighbor_solicitation:
            case icmpv6_type::neighbor_advertisement: return 24;
            default: return 40;  // redirect
        }
    }

    static constexpr result<ndp_view> parse(const icmpv6_view& v) noexcept {
        if (!is_ndp_message(v.msg_type())) return fail(layer::ndp, errc::bad_value, "type");
        return ndp_view(v);
    }
    static constexpr result<ndp_view> parse(bytes_view b) noexcept {
        auto v = icmpv6_view::parse(b);
        if (!v) return unexpected(v.error());
        return parse(*v);
    }

    constexpr const icmpv6_view& icmp() const noexcept { return v_; }
    constexpr std::uint8_t msg_type() const noexcept { return v_.msg_type(); }
    constexpr std::uint8_t code() const noexcept { return v_.code(); }
    constexpr std::uint16_t checksum() const noexcept { return v_.checksum(); }
    constexpr bytes_view bytes() const noexcept { return v_.bytes(); }

    // Type-specific accessors: parse checked the length of the message's own type; called
    // on another type they read fields outside the message as zero (or ::).

    // ---- router advertisement (4.2) ----
    constexpr std::uint8_t cur_hop_limit() const noexcept { return detail::load_u8_or_zero(b(), field::cur_hop_limit); }
    /// M: addresses are available via DHCPv6.
    constexpr bool managed_flag() const noexcept { return (detail::load_u8_or_zero(b(), field::ra_flags) & 0x80) != 0; }
    /// O: other configuration is available via DHCPv6.
    constexpr bool other_flag() const noexcept { return (detail::load_u8_or_zero(b(), field::ra_flags) & 0x40) != 0; }
    /// Seconds; 0: not a default router.
    constexpr std::uint16_t router_lifetime() const noexcept { return detail::load_be16_or_zero(b(), field::router_lifetime); }
    /// Milliseconds; 0: unspecified.
    constexpr std::uint32_t reachable_time() const noexcept { return detail::load_be32_or_zero(b(), field::reachable_time); }
    constexpr std::uint32_t retrans_timer() const noexcept { return detail::load_be32_or_zero(b(), field::retrans_timer); }

    // ---- neighbor advertisement (4.4) ----
    constexpr bool router_flag() const noexcept { return (detail::load_u8_or_zero(b(), field::na_flags) & 0x80) != 0; }
    constexpr bool solicited_flag() const noexcept { return (detail::load_u8_or_zero(b(), field::na_flags) & 0x40) != 0; }
    constexpr bool override_flag() const noexcept { return (detail::load_u8_or_zero(b(), field::na_flags) & 0x20) != 0; }

    // ---- neighbor solicitation / advertisement, redirect (4.3-4.5) ----
    constexpr ipv6_address target() const noexcept { return detail::load_ipv6_or_unspecified(b(), field::target); }
    // ---- redirect (4.5) ----
    constexpr ipv6_address destination() const noexcept { return detail::load_ipv6_or_unspecified(b(), field::destination); }

    constexpr ndp_option_range options() const noexcept { return ndp_option_range(b().subspan(options_offset(msg_type()))); }

private:
    constexpr explicit ndp_view(const icmpv6_view& v) noexcept : v_(v) {}
    constexpr bytes_view b() const noexcept { return v_.bytes(); }
    icmpv6_view v_;
};

/// The receiver validity checks of RFC 4861 sections 6.1.1 (RS), 6.1.2 (RA), 7.1.1 (NS),
/// 7.1.2 (NA) and 8.1 (redirect), in the order listed there. The ICMP length rules are
/// checked by icmpv6_view::parse (icmpv6.<message>: truncated). Not checked: rules
/// needing state (8.1: the redirect's source is the current first-hop router).
constexpr result<void> ndp_validate(const ndp_view& m, std::uint8_t hop_limit, const ipv6_address& src,
                                    const ipv6_address& dst) noexcept {
    const std::uint8_t t = m.msg_type();
    // 6.1.2, 8.1: IP Source Address is a link-local address.
    if (is_router_guard_message(t) && !src.is_link_local()) return fail(layer::ndp, errc::bad_value, "ip_source");
    if (hop_limit != ndp_hop_limit) return fail(layer::ndp, errc::bad_value, "hop_limit");
    if (!m.icmp().checksum_ok(src, dst)) return fail(layer::ndp, errc::bad_checksum, "checksum");
    if (m.code() != 0) return fail(layer::ndp, errc::bad_value, "code");
    // 7.1.1, 7.1.2: Target Address is not a multicast address.
    if ((t == icmpv6_type::neighbor_solicitation || t == icmpv6_type::neighbor_advertisement) && m.target().is_multicast())
        return fail(layer::ndp, errc::bad_value, "target");
    if (t == icmpv6_type::redirect) {
        // 8.1: the ICMP Destination Address field is not a multicast address; the ICMP
        // Target Address is either a link-local address or the same as the destination.
        if (m.destination().is_multicast()) return fail(layer::ndp, errc::bad_value, "destination");
        if (!m.target().is_link_local() && m.target() != m.destination()) return fail(layer::ndp, errc::bad_value, "target");
    }
    // All included options have a length that is greater than zero (and lie inside the message).
    bool source_lla = false;
    for (const auto& o : m.options()) {
        if (!o) return unexpected(o.error());
        if (o->type() == ndp_option_type::source_link_layer_address) source_lla = true;
    }
    if (src.is_unspecified()) {
        // 6.1.1, 7.1.1: no source link-layer address option when the source is unspecified.
        if ((t == icmpv6_type::router_solicitation || t == icmpv6_type::neighbor_solicitation) && source_lla)
            return fail(layer::ndp, errc::bad_option, "source_link_layer_address");
        // 7.1.1: a DAD probe goes to a solicited-node multicast address.
        if (t == icmpv6_type::neighbor_solicitation && dst != m.target().solicited_node())
            return fail(layer::ndp, errc::bad_value, "ip_destination");
    }
    // 7.1.2: if the IP Destination Address is a multicast address the Solicited flag is zero.
    if (t == icmpv6_type::neighbor_advertisement && dst.is_multicast() && m.solicited_flag())
        return fail(layer::ndp, errc::bad_value, "solicited");
    return {};
}

/// The same with the hop limit and addresses taken from the IPv6 header.
constexpr result<void> ndp_validate(const ipv6_view& ip, const ndp_view& m) noexcept {
    return ndp_validate(m, ip.hop_limit(), ip.src(), ip.dst());
}

// ---- option builders (each writes one option; concatenate them into a repr's options) ----

/// Source or target link-layer address option (4.6.1) for Ethernet: 8 bytes.
struct ndp_link_layer_address_option {
    std::uint8_t type = ndp_option_type::source_link_layer_address;
    mac_address address{};

    static constexpr result<ndp_link_layer_address_option> parse(const ndp_option& o) noexcept {
        if (o.type() != ndp_option_type::source_link_layer_address && o.type() != ndp_option_type::target_link_layer_address)
            return fail(layer::ndp, errc::bad_option, "type");
        if (o.length() != 1) return fail(layer::ndp, errc::unsupported, "link_layer_address");
        return ndp_link_layer_address_option{o.type(), o.link_layer_address()};
    }
    constexpr std::size_t buffer_len() const noexcept { return 8; }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        if (out.size() < 8) return fail(layer::ndp, errc::buffer_too_small, "link_layer_address");
        store_u8(out, 0, type);
        store_u8(out, 1, 1);
        address.store(out, 2);
        return std::size_t{8};
    }
    friend constexpr bool operator==(const ndp_link_layer_address_option&, const ndp_link_layer_address_option&) = default;
};

/// Prefix information option (4.6.2): 32 bytes.
struct ndp_prefix_information_option {
    std::uint8_t prefix_length = 64;
    bool on_link = true;
    bool autonomous = true;
    std::uint32_t valid_lifetime = 0;
    std::uint32_t preferred_lifetime = 0;
    ipv6_address prefix{};

    static constexpr result<ndp_prefix_information_option> parse(const ndp_option& o) noexcept {
        if (o.type() != ndp_option_type::prefix_information) return fail(layer::ndp, errc::bad_option, "type");
        return ndp_prefix_information_option{o.prefix_length(),  o.on_link_flag(),       o.autonomous_flag(),
                                             o.valid_lifetime(), o.preferred_lifetime(), o.prefix()};
    }
    constexpr std::size_t buffer_len() const noexcept { return 32; }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        if (prefix_length > 128) return fail(layer::ndp, errc::bad_value, "prefix_length");
        if (out.size() < 32) return fail(layer::ndp, errc::buffer_too_small, "prefix_information");
        store_u8(out, 0, ndp_option_type::prefix_information);
        store_u8(out, 1, 4);
        store_u8(out, 2, prefix_length);
        store_u8(out, 3, static_cast<std::uint8_t>((on_link ? 0x80 : 0) | (autonomous ? 0x40 : 0)));
        store_be32(out, 4, valid_lifetime);
        store_be32(out, 8, preferred_lifetime);
        store_be32(out, 12, 0);
        prefix.store(out, 16);
        return std::size_t{32};
    }
    friend constexpr bool operator==(const ndp_prefix_information_option&, const ndp_prefix_information_option&) = default;
};

/// MTU option (4.6.4): 8 bytes.
struct ndp_mtu_option {
    std::uint32_t mtu = 1500;

    static constexpr result<ndp_mtu_option> parse(const ndp_option& o) noexcept {
        if (o.type() != ndp_option_type::mtu) return fail(layer::ndp, errc::bad_option, "type");
        return ndp_mtu_option{o.mtu()};
    }
    constexpr std::size_t buffer_len() const noexcept { return 8; }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        if (out.size() < 8) return fail(layer::ndp, errc::buffer_too_small, "mtu");
        store_u8(out, 0, ndp_option_type::mtu);
        store_u8(out, 1, 1);
        store_be16(out, 2, 0);
        store_be32(out, 4, mtu);
        return std::size_t{8};
    }
    friend constexpr bool operator==(const ndp_mtu_option&, const ndp_mtu_option&) = default;
};

/// Recursive DNS server option (RFC 8106 section 5.1): 8 + 16 bytes per address.
struct ndp_recursive_dns_server_option {
    std::uint32_t lifetime = 0;
    std::span<const ipv6_address> addresses{};

    static constexpr std::size_t max_addresses = 127;  // the length octet: 1 + 2n <= 255

    constexpr std::size_t buffer_len() const noexcept { return 8 + 16 * addresses.size(); }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        if (addresses.empty()) return fail(layer::ndp, errc::bad_value, "recursive_dns_server");
        if (addresses.size() > max_addresses) return fail(layer::ndp, errc::too_long, "recursive_dns_server");
        if (out.size() < buffer_len()) return fail(layer::ndp, errc::buffer_too_small, "recursive_dns_server");
        store_u8(out, 0, ndp_option_type::recursive_dns_server);
        store_u8(out, 1, static_cast<std::uint8_t>(1 + 2 * addresses.size()));
        store_be16(out, 2, 0);
        store_be32(out, 4, lifetime);
        for (std::size_t i = 0; i < addresses.size(); ++i) addresses[i].store(out, 8 + 16 * i);
        return buffer_len();
    }
    friend constexpr bool operator==(const ndp_recursive_dns_server_option& a,
                                     const ndp_recursive_dns_server_option& b) noexcept {
        return a.lifetime == b.lifetime &&
               std::equal(a.addresses.begin(), a.addresses.end(), b.addresses.begin(), b.addresses.end());
    }
};

// ---- message reprs: the fixed fields plus the encoded options ----

namespace detail {
/// Type, checksum and option checks shared by the NDP reprs' parse.
constexpr result<void> ndp_repr_check(const ndp_view& v, const ipv6_address& src, const ipv6_address& dst,
                                      std::uint8_t type) noexcept {
    if (v.msg_type() != type) return fail(layer::ndp, errc::bad_value, "type");
    if (!v.icmp().checksum_ok(src, dst)) return fail(layer::ndp, errc::bad_checksum, "checksum");
    for (const auto& o : v.options())
        if (!o) return unexpected(o.error());
    return {};
}
/// Checks the buffer, zeroes the fixed part, writes type and code 0 and copies options.
constexpr result<bytes_span> ndp_emit_start(bytes_span out, std::uint8_t type, bytes_view options) noexcept {
    const std::size_t fixed = ndp_view::options_offset(type);
    if (options.size() % 8 != 0) return fail(layer::ndp, errc::bad_option, "length");
    if (out.size() < fixed + options.size()) return fail(layer::ndp, errc::buffer_too_small, icmpv6_message_name(type));
    auto m = out.first(fixed + options.size());
    for (std::size_t i = 0; i < fixed; ++i) m[i] = std::byte{0};
    store_u8(m, icmpv6_view::field::type, type);
    store_bytes(m, fixed, options);
    return m;
}
}  // namespace detail

/// Router solicitation (4.1).
struct router_solicitation_repr {
    bytes_view options{};

    static constexpr std::uint8_t type = icmpv6_type::router_solicitation;

    static constexpr result<router_solicitation_repr> parse(const ndp_view& v, const ipv6_address& src,
                                                            const ipv6_address& dst) noexcept {
        if (auto ok = detail::ndp_repr_check(v, src, dst, type); !ok) return unexpected(ok.error());
        return router_solicitation_repr{v.options().bytes()};
    }
    constexpr std::size_t buffer_len() const noexcept { return ndp_view::options_offset(type) + options.size(); }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        auto m = detail::ndp_emit_start(out, type, options);
        if (!m) return unexpected(m.error());
        icmpv6_fill_checksum(*m, src, dst);
        return m->size();
    }
    friend constexpr bool operator==(const router_solicitation_repr& a, const router_solicitation_repr& b) noexcept {
        return equal_bytes(a.options, b.options);
    }
};

/// Router advertisement (4.2).
struct router_advertisement_repr {
    std::uint8_t cur_hop_limit = 64;
    bool managed = false;
    bool other = false;
    std::uint16_t router_lifetime = 1800;
    std::uint32_t reachable_time = 0;
    std::uint32_t retrans_timer = 0;
    bytes_view options{};

    static constexpr std::uint8_t type = icmpv6_type::router_advertisement;

    static constexpr result<router_advertisement_repr> parse(const ndp_view& v, const ipv6_address& src,
                                                             const ipv6_address& dst) noexcept {
        if (auto ok = detail::ndp_repr_check(v, src, dst, type); !ok) return unexpected(ok.error());
        return router_advertisement_repr{v.cur_hop_limit(),  v.managed_flag(),  v.other_flag(),     v.router_lifetime(),
                                         v.reachable_time(), v.retrans_timer(), v.options().bytes()};
    }
    constexpr std::size_t buffer_len() const noexcept { return ndp_view::options_offset(type) + options.size(); }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        auto m = detail::ndp_emit_start(out, type, options);
        if (!m) return unexpected(m.error());
        store_u8(*m, ndp_view::field::cur_hop_limit, cur_hop_limit);
        store_u8(*m, ndp_view::field::ra_flags, static_cast<std::uint8_t>((managed ? 0x80 : 0) | (other ? 0x40 : 0)));
        store_be16(*m, ndp_view::field::router_lifetime, router_lifetime);
        store_be32(*m, ndp_view::field::reachable_time, reachable_time);
        store_be32(*m, ndp_view::field::retrans_timer, retrans_timer);
        icmpv6_fill_checksum(*m, src, dst);
        return m->size();
    }
    friend constexpr bool operator==(const router_advertisement_repr& a, const router_advertisement_repr& b) noexcept {
        return a.cur_hop_limit == b.cur_hop_limit && a.managed == b.managed && a.other == b.other &&
               a.router_lifetime == b.router_lifetime && a.reachable_time == b.reachable_time &&
               a.retrans_timer == b.retrans_timer && equal_bytes(a.options, b.options);
    }
};

/// Neighbor solicitation (4.3).
struct neighbor_solicitation_repr {
    ipv6_address target{};
    bytes_view options{};

    static constexpr std::uint8_t type = icmpv6_type::neighbor_solicitation;

    static constexpr result<neighbor_solicitation_repr> parse(const ndp_view& v, const ipv6_address& src,
                                                              const ipv6_address& dst) noexcept {
        if (auto ok = detail::ndp_repr_check(v, src, dst, type); !ok) return unexpected(ok.error());
        return neighbor_solicitation_repr{v.target(), v.options().bytes()};
    }
    constexpr std::size_t buffer_len() const noexcept { return ndp_view::options_offset(type) + options.size(); }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        auto m = detail::ndp_emit_start(out, type, options);
        if (!m) return unexpected(m.error());
        target.store(*m, ndp_view::field::target);
        icmpv6_fill_checksum(*m, src, dst);
        return m->size();
    }
    friend constexpr bool operator==(const neighbor_solicitation_repr& a, const neighbor_solicitation_repr& b) noexcept {
        return a.target == b.target && equal_bytes(a.options, b.options);
    }
};

/// Neighbor advertisement (4.4).
struct neighbor_advertisement_repr {
    bool router = false;
    bool solicited = false;
    bool override_flag = false;
    ipv6_address target{};
    bytes_view options{};

    static constexpr std::uint8_t type = icmpv6_type::neighbor_advertisement;

    static constexpr result<neighbor_advertisement_repr> parse(const ndp_view& v, const ipv6_address& src,
                                                               const ipv6_address& dst) noexcept {
        if (auto ok = detail::ndp_repr_check(v, src, dst, type); !ok) return unexpected(ok.error());
        return neighbor_advertisement_repr{v.router_flag(), v.solicited_flag(), v.override_flag(), v.target(),
                                           v.options().bytes()};
    }
    constexpr std::size_t buffer_len() const noexcept { return ndp_view::options_offset(type) + options.size(); }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        auto m = detail::ndp_emit_start(out, type, options);
        if (!m) return unexpected(m.error());
        store_u8(*m, ndp_view::field::na_flags,
                 static_cast<std::uint8_t>((router ? 0x80 : 0) | (solicited ? 0x40 : 0) | (override_flag ? 0x20 : 0)));
        target.store(*m, ndp_view::field::target);
        icmpv6_fill_checksum(*m, src, dst);
        return m->size();
    }
    friend constexpr bool operator==(const neighbor_advertisement_repr& a, const neighbor_advertisement_repr& b) noexcept {
        return a.router == b.router && a.solicited == b.solicited && a.override_flag == b.override_flag && a.target == b.target &&
               equal_bytes(a.options, b.options);
    }
};

/// Redirect (4.5).
struct redirect_repr {
    ipv6_address target{};
    ipv6_address destination{};
    bytes_view options{};

    static constexpr std::uint8_t type = icmpv6_type::redirect;

    static constexpr result<redirect_repr> parse(const ndp_view& v, const ipv6_address& src, const ipv6_address& dst) noexcept {
        if (auto ok = detail::ndp_repr_check(v, src, dst, type); !ok) return unexpected(ok.error());
        return redirect_repr{v.target(), v.destination(), v.options().bytes()};
    }
    constexpr std::size_t buffer_len() const noexcept { return ndp_view::options_offset(type) + options.size(); }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        auto m = detail::ndp_emit_start(out, type, options);
        if (!m) return unexpected(m.error());
        target.store(*m, ndp_view::field::target);
        destination.store(*m, ndp_view::field::destination);
        icmpv6_fill_checksum(*m, src, dst);
        return m->size();
    }
    friend constexpr bool operator==(const redirect_repr& a, const redirect_repr& b) noexcept {
        return a.target == b.target && a.destination == b.destination && equal_bytes(a.options, b.options);
    }
};

/// Any NDP message.
struct ndp_repr {
    std::variant<router_solicitation_repr, router_advertisement_repr, neighbor_solicitation_repr, neighbor_advertisement_repr,
                 redirect_repr>
        message;

    /// Verifies the checksum and the options (not the section 6-8 rules: see ndp_validate).
    static constexpr result<ndp_repr> parse(const ndp_view& v, const ipv6_address& src, const ipv6_address& dst) noexcept {
        auto wrap = [](auto r) -> result<ndp_repr> {
            if (!r) return unexpected(r.error());
            return ndp_repr{*r};
        };
        switch (v.msg_type()) {
            case icmpv6_type::router_solicitation: return wrap(router_solicitation_repr::parse(v, src, dst));
            case icmpv6_type::router_advertisement: return wrap(router_advertisement_repr::parse(v, src, dst));
            case icmpv6_type::neighbor_solicitation: return wrap(neighbor_solicitation_repr::parse(v, src, dst));
            case icmpv6_type::neighbor_advertisement: return wrap(neighbor_advertisement_repr::parse(v, src, dst));
            default: return wrap(redirect_repr::parse(v, src, dst));
        }
    }
    constexpr std::size_t buffer_len() const noexcept {
        return std::visit([](const auto& m) { return m.buffer_len(); }, message);
    }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        return std::visit([&](const auto& m) { return m.emit(out, src, dst); }, message);
    }
    friend constexpr bool operator==(const ndp_repr&, const ndp_repr&) = default;
};

}  // namespace vnet::wire
