// vnet/wire/ipv4.hpp - the IPv4 header (RFC 791 section 3.1), its options (RFC 791
// section 3.1 "Options", router alert RFC 2113, basic security RFC 1108), DSCP and ECN
// (RFC 2474 section 3, RFC 3168 section 5), the identification field (RFC 6864) and the
// header checksum (RFC 791, computed as in RFC 1071).
//
// ipv4_view is a zero-copy view checked once by parse(): version 4, IHL of at least 5
// words and inside the buffer, total length covering the header and inside the buffer
// (the buffer may be longer: Ethernet pads short frames, payload() stops at total
// length), the reserved flag clear and every option well formed. The header checksum is
// reported by checksum_ok() and enforced by ipv4_repr::parse().
// ipv4_repr is the value type; emit() writes the header with total length and checksum,
// and the caller writes the payload after header_len() (or uses the emit overload that
// copies it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/tlv.hpp>

namespace vnet::wire {

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
namespace ip_protocol {
inline constexpr std::uint8_t hopopt = 0;
inline constexpr std::uint8_t icmp = 1;
inline constexpr std::uint8_t igmp = 2;
inline constexpr std::uint8_t ipip = 4;  // IPv4 in IPv4 (RFC 2003)
inline constexpr std::uint8_t tcp = 6;
inline constexpr std::uint8_t udp = 17;
inline constexpr std::uint8_t ipv6 = 41;  // IPv6 in IPv4 (RFC 4213)
inline constexpr std::uint8_t ipv6_route = 43;
inline constexpr std::uint8_t ipv6_frag = 44;
inline constexpr std::uint8_t gre = 47;
inline constexpr std::uint8_t esp = 50;
inline constexpr std::uint8_t ah = 51;
inline constexpr std::uint8_t icmpv6 = 58;
inline constexpr std::uint8_t ipv6_nonxt = 59;
inline constexpr std::uint8_t ipv6_opts = 60;
inline constexpr std::uint8_t vrrp = 112;
inline constexpr std::uint8_t l2tp = 115;
inline constexpr std::uint8_t sctp = 132;
inline constexpr std::uint8_t udplite = 136;
}  // namespace ip_protocol

/// ECN codepoints (RFC 3168 section 5).
namespace ecn {
inline constexpr std::uint8_t not_ect = 0;
inline constexpr std::uint8_t ect1 = 1;
inline constexpr std::uint8_t ect0 = 2;
inline constexpr std::uint8_t ce = 3;
}  // namespace ecn

/// IPv4 option types: the whole first octet (copied flag, class, number), IANA "IP Option Numbers".
namespace ipv4_option_type {
inline constexpr std::uint8_t end_of_list = 0;            // RFC 791
inline constexpr std::uint8_t no_operation = 1;           // RFC 791
inline constexpr std::uint8_t record_route = 7;           // RFC 791
inline constexpr std::uint8_t timestamp = 68;             // RFC 791
inline constexpr std::uint8_t security = 130;             // RFC 1108 basic security
inline constexpr std::uint8_t loose_source_route = 131;   // RFC 791
inline constexpr std::uint8_t extended_security = 133;    // RFC 1108
inline constexpr std::uint8_t commercial_security = 134;  // CIPSO (draft-ietf-cipso-ipsecurity)
inline constexpr std::uint8_t stream_id = 136;            // RFC 791 (obsolete, RFC 6814)
inline constexpr std::uint8_t strict_source_route = 137;  // RFC 791
inline constexpr std::uint8_t router_alert = 148;         // RFC 2113
}  // namespace ipv4_option_type

/// The name of an option type as in the IANA registry, or "unknown".
constexpr std::string_view ipv4_option_name(std::uint8_t type) noexcept {
    switch (type) {
        case ipv4_option_type::end_of_list: return "end of option list";
        case ipv4_option_type::no_operation: return "no operation";
        case ipv4_option_type::record_route: return "record route";
        case ipv4_option_type::timestamp: return "timestamp";
        case ipv4_option_type::security: return "security";
        case ipv4_option_type::loose_source_route: return "loose source route";
        case ipv4_option_type::extended_security: return "extended security";
        case ipv4_option_type::commercial_security: return "commercial security";
        case ipv4_option_type::stream_id: return "stream id";
        case ipv4_option_type::strict_source_route: return "strict source route";
        case ipv4_option_type::router_alert: return "router alert";
        default: return "unknown";
    }
}

/// One option inside an IPv4 header. End of list and no operation are the single type
/// octet; every other option is type, length (counting type and length) and data.
/// Typed accessors return 0 / empty when called on an option of another kind.
class ipv4_option {
public:
    constexpr ipv4_option() noexcept = default;

    constexpr std::uint8_t type() const noexcept { return b_.empty() ? 0 : load_u8(b_, 0); }
    /// RFC 791: copied flag (bit 0), option class (bits 1-2), option number (bits 3-7).
    constexpr bool copied() const noexcept { return (type() & 0x80) != 0; }
    constexpr std::uint8_t option_class() const noexcept { return static_cast<std::uint8_t>((type() >> 5) & 0x3); }
    constexpr std::uint8_t number() const noexcept { return static_cast<std::uint8_t>(type() & 0x1f); }
    constexpr std::string_view name() const noexcept { return ipv4_option_name(type()); }

    /// The whole option length in octets (1 for end of list and no operation).
    constexpr std::size_t length() const noexcept { return b_.size(); }
    /// The option data after type and length octets.
    constexpr bytes_view data() const noexcept { return b_.size() >= 2 ? b_.subspan(2) : bytes_view{}; }
    /// The option as it appears in the header.
    constexpr bytes_view bytes() const noexcept { return b_; }

    constexpr bool is_route() const noexcept {
        return type() == ipv4_option_type::record_route || type() == ipv4_option_type::loose_source_route ||
               type() == ipv4_option_type::strict_source_route;
    }
    /// Record route, loose/strict source route and timestamp: the 1-based octet offset of
    /// the next slot, counted from the option's type octet (RFC 791).
    constexpr std::uint8_t pointer() const noexcept {
        return (is_route() || type() == ipv4_option_type::timestamp) && data().size() >= 1 ? load_u8(data(), 0) : 0;
    }
    /// Route options: number of 4-octet address slots (filled or not).
    constexpr std::size_t route_size() const noexcept { return is_route() ? (data().size() - 1) / 4 : 0; }
    /// Route options: address slot i (precondition: i < route_size()).
    constexpr ipv4_address route_address(std::size_t i) const noexcept { return ipv4_address::load(data(), 1 + 4 * i); }
    /// Timestamp: the overflow count (high nibble of the third octet).
    constexpr std::uint8_t timestamp_overflow() const noexcept {
        return type() == ipv4_option_type::timestamp ? static_cast<std::uint8_t>(load_u8(data(), 1) >> 4) : 0;
    }
    /// Timestamp: the flag (0 timestamps only, 1 address and timestamp, 3 prespecified addresses).
    constexpr std::uint8_t timestamp_flag() const noexcept {
        return type() == ipv4_option_type::timestamp ? static_cast<std::uint8_t>(load_u8(data(), 1) & 0xf) : 0;
    }
    /// Timestamp: the slots after pointer and overflow/flag octets.
    constexpr bytes_view timestamp_data() const noexcept {
        return type() == ipv4_option_type::timestamp ? data().subspan(2) : bytes_view{};
    }
    /// Router alert (RFC 2113 section 2.1): 0 means "router shall examine packet".
    constexpr std::uint16_t router_alert_value() const noexcept {
        return type() == ipv4_option_type::router_alert ? load_be16(data(), 0) : 0;
    }
    /// Basic security (RFC 1108 section 2.1): the classification level octet.
    constexpr std::uint8_t security_classification() const noexcept {
        return type() == ipv4_option_type::security && !data().empty() ? load_u8(data(), 0) : 0;
    }

    /// Decodes the option starting at off of an options area. Checks the length octet
    /// (at least 2, inside the area) and the minimum length of the options vnet knows
    /// (route options 3, timestamp 4, router alert and stream id exactly 4, security 3).
    static constexpr result<ipv4_option> decode(bytes_view area, std::size_t off) noexcept {
        if (off >= area.size()) return fail(layer::ipv4, errc::truncated, "options");
        const std::uint8_t t = load_u8(area, off);
        if (t == ipv4_option_type::end_of_list || t == ipv4_option_type::no_operation) return ipv4_option(area.subspan(off, 1));
        if (!in_bounds(area.size(), off, 2)) return fail(layer::ipv4, errc::bad_option, "options");
        const std::size_t len = load_u8(area, off + 1);
        if (len < 2 || !in_bounds(area.size(), off, len)) return fail(layer::ipv4, errc::bad_option, "options");
        bool ok = true;
        switch (t) {
            case ipv4_option_type::record_route:
            case ipv4_option_type::loose_source_route:
            case ipv4_option_type::strict_source_route: ok = len >= 3; break;
            case ipv4_option_type::timestamp: ok = len >= 4; break;
            case ipv4_option_type::router_alert:
            case ipv4_option_type::stream_id: ok = len == 4; break;
            case ipv4_option_type::security: ok = len >= 3; break;
            default: break;
        }
        if (!ok) return fail(layer::ipv4, errc::bad_option, "options");
        return ipv4_option(area.subspan(off, len));
    }

    friend constexpr bool operator==(const ipv4_option& a, const ipv4_option& b) noexcept { return equal_bytes(a.b_, b.b_); }

private:
    constexpr explicit ipv4_option(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

/// The layout of an IPv4 options area: options one after the other, each as long as
/// ipv4_option::decode says; end of list ends the walk (octets after it are padding).
struct ipv4_option_layout {
    using value_type = result<ipv4_option>;
    struct cursor {
        std::size_t off = 0;
    };
    static constexpr bool next(bytes_view area, cursor& c, value_type& out) noexcept {
        if (c.off >= area.size()) return false;
        out = ipv4_option::decode(area, c.off);
        const bool last = !out || out->type() == ipv4_option_type::end_of_list;
        c.off = last ? area.size() : c.off + out->length();
        return true;
    }
};

/// The options area of a header as a range of result<ipv4_option>. Iteration stops after
/// end of list or after yielding the first error.
class ipv4_options : public tlv_range<ipv4_option_layout> {
public:
    using tlv_range::tlv_range;

    /// Walks every option; the first malformed one is the error.
    static constexpr result<void> validate(bytes_view area) noexcept { return ipv4_options(area).validate(); }
    using tlv_range::validate;
};

class ipv4_view {
public:
    static constexpr std::size_t header_len_min = 20;
    static constexpr std::size_t header_len_max = 60;
    static constexpr std::size_t options_len_max = header_len_max - header_len_min;
    struct field {
        static constexpr std::size_t version_ihl = 0, dscp_ecn = 1, total_length = 2, identification = 4,
                                     flags_fragment_offset = 6, ttl = 8, protocol = 9, checksum = 10, src = 12, dst = 16,
                                     options = 20;
    };
    static_assert(field::dst + 4 == header_len_min && field::options == header_len_min);
    /// Flag bits in the flags / fragment offset word (RFC 791 section 3.1).
    static constexpr std::uint16_t flag_reserved = 0x8000, flag_dont_fragment = 0x4000, flag_more_fragments = 0x2000,
                                   fragment_offset_mask = 0x1fff;

    static constexpr result<ipv4_view> parse(bytes_view b) noexcept {
        if (b.empty()) return fail(layer::ipv4, errc::truncated, "header");
        if ((load_u8(b, field::version_ihl) >> 4) != 4) return fail(layer::ipv4, errc::bad_version, "version");
        if (b.size() < header_len_min) return fail(layer::ipv4, errc::truncated, "header");
        const std::size_t hlen = std::size_t{load_u8(b, field::version_ihl) & 0x0fu} * 4;
        if (hlen < header_len_min || hlen > b.size()) return fail(layer::ipv4, errc::bad_length, "ihl");
        const std::size_t total = load_be16(b, field::total_length);
        if (total < hlen || total > b.size()) return fail(layer::ipv4, errc::bad_length, "total_length");
        if (load_be16(b, field::flags_fragment_offset) & flag_reserved) return fail(layer::ipv4, errc::bad_value, "flags");
        if (auto ok = ipv4_options::validate(b.subspan(field::options, hlen - header_len_min)); !ok)
            return unexpected(ok.error());
        return ipv4_view(b);
    }

    constexpr std::uint8_t version() const noexcept { return load_u8(b_, field::version_ihl) >> 4; }
    /// Internet header length in 32-bit words.
    constexpr std::uint8_t ihl() const noexcept { return load_u8(b_, field::version_ihl) & 0x0f; }
    constexpr std::size_t header_len() const noexcept { return std::size_t{ihl()} * 4; }
    /// The former type-of-service octet.
    constexpr std::uint8_t tos() const noexcept { return load_u8(b_, field::dscp_ecn); }
    constexpr std::uint8_t dscp() const noexcept { return tos() >> 2; }
    constexpr std::uint8_t ecn() const noexcept { return tos() & 0x3; }
    constexpr std::uint16_t total_length() const noexcept { return load_be16(b_, field::total_length); }
    constexpr std::uint16_t identification() const noexcept { return load_be16(b_, field::identification); }
    constexpr bool dont_fragment() const noexcept { return (flags_word() & flag_dont_fragment) != 0; }
    constexpr bool more_fragments() const noexcept { return (flags_word() & flag_more_fragments) != 0; }
    /// The fragment offset field: units of 8 octets.
    constexpr std::uint16_t fragment_offset_units() const noexcept { return flags_word() & fragment_offset_mask; }
    /// The fragment offset in octets.
    constexpr std::uint32_t fragment_offset() const noexcept { return std::uint32_t{fragment_offset_units()} * 8; }
    /// A fragment of a larger datagram (more fragments set or a non-zero offset).
    constexpr bool is_fragment() const noexcept { return more_fragments() || fragment_offset_units() != 0; }
    /// The first fragment (or an unfragmented datagram) carries the transport header.
    constexpr bool is_first_fragment() const noexcept { return fragment_offset_units() == 0; }
    constexpr std::uint8_t ttl() const noexcept { return load_u8(b_, field::ttl); }
    constexpr std::uint8_t protocol() const noexcept { return load_u8(b_, field::protocol); }
    constexpr std::uint16_t checksum() const noexcept { return load_be16(b_, field::checksum); }
    /// The header sums to 0xffff including its checksum field.
    constexpr bool checksum_ok() const noexcept { return checksum_verifies(checksum_acc{}.add(header())); }
    constexpr ipv4_address src() const noexcept { return ipv4_address::load(b_, field::src); }
    constexpr ipv4_address dst() const noexcept { return ipv4_address::load(b_, field::dst); }

    constexpr bytes_view options_bytes() const noexcept { return b_.subspan(field::options, header_len() - header_len_min); }
    /// The options; every entry is a value (parse() rejected malformed ones).
    constexpr ipv4_options options() const noexcept { return ipv4_options(options_bytes()); }

    constexpr bytes_view header() const noexcept { return b_.first(header_len()); }
    /// From the end of the header to total_length.
    constexpr bytes_view payload() const noexcept { return b_.subspan(header_len(), total_length() - header_len()); }
    constexpr std::size_t payload_len() const noexcept { return total_length() - header_len(); }
    /// The datagram: the first total_length octets.
    constexpr bytes_view packet() const noexcept { return b_.first(total_length()); }
    /// Octets after total_length (link-layer padding), ignored by IP.
    constexpr bytes_view padding() const noexcept { return b_.subspan(total_length()); }
    constexpr bytes_view bytes() const noexcept { return b_; }

private:
    constexpr explicit ipv4_view(bytes_view b) noexcept : b_(b) {}
    constexpr std::uint16_t flags_word() const noexcept { return load_be16(b_, field::flags_fragment_offset); }
    bytes_view b_;
};

/// Up to 40 octets of option bytes, padded with end-of-list octets to a multiple of 4.
struct ipv4_option_bytes {
    std::array<std::byte, ipv4_view::options_len_max> data{};
    std::uint8_t len = 0;

    /// Copies raw options and pads them to a multiple of 4 (errc::too_long beyond 40).
    static constexpr result<ipv4_option_bytes> make(bytes_view raw) noexcept {
        ipv4_option_bytes o;
        const std::size_t padded = (raw.size() + 3) / 4 * 4;
        if (padded > o.data.size()) return fail(layer::ipv4, errc::too_long, "options");
        for (std::size_t i = 0; i < raw.size(); ++i) o.data[i] = raw[i];
        o.len = static_cast<std::uint8_t>(padded);
        return o;
    }
    constexpr bytes_view bytes() const noexcept { return bytes_view(data).first(len); }
    constexpr std::size_t size() const noexcept { return len; }
    constexpr bool empty() const noexcept { return len == 0; }
    constexpr ipv4_options options() const noexcept { return ipv4_options(bytes()); }

    friend constexpr bool operator==(const ipv4_option_bytes&, const ipv4_option_bytes&) = default;
};

struct ipv4_repr {
    ipv4_address src{};
    ipv4_address dst{};
    std::uint8_t protocol = 0;
    std::uint8_t ttl = 64;
    std::uint8_t dscp = 0;  // 0-63
    std::uint8_t ecn = 0;   // 0-3
    std::uint16_t identification = 0;
    bool dont_fragment = false;
    bool more_fragments = false;
    std::uint32_t fragment_offset = 0;  // octets, a multiple of 8 up to 65528
    std::size_t payload_len = 0;
    ipv4_option_bytes options{};

    /// Rejects a header whose checksum does not verify (errc::bad_checksum, "checksum").
    static constexpr result<ipv4_repr> parse(const ipv4_view& v) noexcept {
        if (!v.checksum_ok()) return fail(layer::ipv4, errc::bad_checksum, "checksum");
        ipv4_repr r;
        r.src = v.src();
        r.dst = v.dst();
        r.protocol = v.protocol();
        r.ttl = v.ttl();
        r.dscp = v.dscp();
        r.ecn = v.ecn();
        r.identification = v.identification();
        r.dont_fragment = v.dont_fragment();
        r.more_fragments = v.more_fragments();
        r.fragment_offset = v.fragment_offset();
        r.payload_len = v.payload_len();
        auto o = ipv4_option_bytes::make(v.options_bytes());  // a parsed header's options always fit
        if (!o) return unexpected(o.error());
        r.options = *o;
        return r;
    }

    constexpr std::size_t header_len() const noexcept { return ipv4_view::header_len_min + options.size(); }
    constexpr std::size_t buffer_len() const noexcept { return header_len() + payload_len; }

    /// Writes the header (total length and checksum filled) at the start of out and
    /// returns header_len(); the caller writes payload_len payload octets after it.
    /// Checks dscp, ecn, fragment_offset, the options (as parse() would) and the
    /// 65535-octet total length first.
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        if (dscp > 63) return fail(layer::ipv4, errc::bad_value, "dscp");
        if (ecn > 3) return fail(layer::ipv4, errc::bad_value, "ecn");
        if (fragment_offset % 8 != 0 || fragment_offset / 8 > ipv4_view::fragment_offset_mask)
            return fail(layer::ipv4, errc::bad_value, "fragment_offset");
        if (options.size() % 4 != 0 || options.size() > ipv4_view::options_len_max)
            return fail(layer::ipv4, errc::bad_length, "options");
        if (auto ok = ipv4_options::validate(options.bytes()); !ok) return unexpected(ok.error());
        if (buffer_len() > 0xffff) return fail(layer::ipv4, errc::too_long, "total_length");
        const std::size_t hlen = header_len();
        if (out.size() < hlen) return fail(layer::ipv4, errc::buffer_too_small, "header");
        using f = ipv4_view::field;
        store_u8(out, f::version_ihl, static_cast<std::uint8_t>(0x40 | (hlen / 4)));
        store_u8(out, f::dscp_ecn, static_cast<std::uint8_t>((dscp << 2) | ecn));
        store_be16(out, f::total_length, static_cast<std::uint16_t>(buffer_len()));
        store_be16(out, f::identification, identification);
        std::uint16_t flags = static_cast<std::uint16_t>(fragment_offset / 8);
        if (dont_fragment) flags |= ipv4_view::flag_dont_fragment;
        if (more_fragments) flags |= ipv4_view::flag_more_fragments;
        store_be16(out, f::flags_fragment_offset, flags);
        store_u8(out, f::ttl, ttl);
        store_u8(out, f::protocol, protocol);
        store_be16(out, f::checksum, 0);
        src.store(out, f::src);
        dst.store(out, f::dst);
        store_bytes(out, f::options, options.bytes());
        store_be16(out, f::checksum, internet_checksum(bytes_view(out).first(hlen)));
        return hlen;
    }

    /// Writes header and payload (payload.size() must equal payload_len); returns buffer_len().
    constexpr result<std::size_t> emit(bytes_span out, bytes_view payload) const noexcept {
        if (payload.size() != payload_len) return fail(layer::ipv4, errc::bad_length, "payload");
        if (out.size() < buffer_len()) return fail(layer::ipv4, errc::buffer_too_small, "packet");
        auto n = emit(out);
        if (!n) return n;
        store_bytes(out, *n, payload);
        return *n + payload.size();
    }

    friend constexpr bool operator==(const ipv4_repr&, const ipv4_repr&) = default;
};

}  // namespace vnet::wire
