// vnet/wire/icmpv4.hpp - ICMP for IPv4 (RFC 792), the fragmentation-needed next-hop MTU
// (RFC 1191 section 4), the codes added by RFC 1122 section 3.2.2 and RFC 1812
// section 5.2.7.1, and the quoted original datagram of error messages (RFC 792, RFC 1812
// section 4.3.2.3).
//
// icmpv4_view is a zero-copy view over a whole ICMP message (the IPv4 payload) checked
// once by parse(): the 8-octet header present. The checksum covers the whole message and
// is reported by checksum_ok() and enforced by icmpv4_repr::parse().
// Error messages (destination unreachable, source quench, redirect, time exceeded,
// parameter problem) carry the original datagram's IP header and at least the first 8
// octets of its payload. That quote is normally cut short, so embedded_ipv4() gives an
// embedded_ipv4_view that needs only ihl*4 + 8 octets and never checks the quoted
// total length or checksum; its offsets (field, transport_field, transport_offset())
// let NAT rewrite the quoted addresses and ports in place.
// icmpv4_repr holds one of the message kinds in a std::variant; emit() fills the checksum.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <variant>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/ipv4.hpp>

namespace vnet::wire {

/// ICMP message types (RFC 792, RFC 950, RFC 1256; IANA "ICMP Type Numbers").
namespace icmpv4_type {
inline constexpr std::uint8_t echo_reply = 0;
inline constexpr std::uint8_t dest_unreachable = 3;
inline constexpr std::uint8_t source_quench = 4;  // deprecated by RFC 6633
inline constexpr std::uint8_t redirect = 5;
inline constexpr std::uint8_t echo_request = 8;
inline constexpr std::uint8_t router_advertisement = 9;  // RFC 1256
inline constexpr std::uint8_t router_solicitation = 10;  // RFC 1256
inline constexpr std::uint8_t time_exceeded = 11;
inline constexpr std::uint8_t parameter_problem = 12;
inline constexpr std::uint8_t timestamp = 13;
inline constexpr std::uint8_t timestamp_reply = 14;
inline constexpr std::uint8_t address_mask_request = 17;  // RFC 950
inline constexpr std::uint8_t address_mask_reply = 18;    // RFC 950
}  // namespace icmpv4_type

/// Destination unreachable codes (RFC 792; 6-12 RFC 1122 section 3.2.2.1; 13-15 RFC 1812 section 5.2.7.1).
namespace icmpv4_unreachable {
inline constexpr std::uint8_t net = 0;
inline constexpr std::uint8_t host = 1;
inline constexpr std::uint8_t protocol = 2;
inline constexpr std::uint8_t port = 3;
inline constexpr std::uint8_t fragmentation_needed = 4;  // carries the next-hop MTU (RFC 1191)
inline constexpr std::uint8_t source_route_failed = 5;
inline constexpr std::uint8_t net_unknown = 6;
inline constexpr std::uint8_t host_unknown = 7;
inline constexpr std::uint8_t source_host_isolated = 8;
inline constexpr std::uint8_t net_prohibited = 9;
inline constexpr std::uint8_t host_prohibited = 10;
inline constexpr std::uint8_t net_unreachable_for_tos = 11;
inline constexpr std::uint8_t host_unreachable_for_tos = 12;
inline constexpr std::uint8_t communication_prohibited = 13;
inline constexpr std::uint8_t host_precedence_violation = 14;
inline constexpr std::uint8_t precedence_cutoff = 15;
}  // namespace icmpv4_unreachable

/// Time exceeded codes (RFC 792).
namespace icmpv4_time_exceeded_code {
inline constexpr std::uint8_t ttl_exceeded = 0;
inline constexpr std::uint8_t reassembly_time_exceeded = 1;
}  // namespace icmpv4_time_exceeded_code

/// Redirect codes (RFC 792).
namespace icmpv4_redirect_code {
inline constexpr std::uint8_t network = 0;
inline constexpr std::uint8_t host = 1;
inline constexpr std::uint8_t tos_network = 2;
inline constexpr std::uint8_t tos_host = 3;
}  // namespace icmpv4_redirect_code

/// Parameter problem codes (RFC 792; 1 RFC 1108, 2 RFC 1812 section 5.2.7.3).
namespace icmpv4_parameter_problem_code {
inline constexpr std::uint8_t pointer = 0;
inline constexpr std::uint8_t missing_option = 1;
inline constexpr std::uint8_t bad_length = 2;
}  // namespace icmpv4_parameter_problem_code

/// True for the message types that quote an original datagram.
constexpr bool icmpv4_is_error(std::uint8_t type) noexcept {
    return type == icmpv4_type::dest_unreachable || type == icmpv4_type::source_quench || type == icmpv4_type::redirect ||
           type == icmpv4_type::time_exceeded || type == icmpv4_type::parameter_problem;
}

/// The IPv4 header and first payload octets quoted inside an ICMP error message. Lenient:
/// the quoted total length and checksum are not checked (the quote is cut short and
/// may have been rewritten); only version, IHL and ihl*4 + 8 octets are required.
class embedded_ipv4_view {
public:
    /// Octets of the original payload an error message must quote (RFC 792).
    static constexpr std::size_t transport_len = 8;
    using field = ipv4_view::field;
    /// Offsets inside the quoted transport header (from transport_offset()).
    struct transport_field {
        static constexpr std::size_t source_port = 0, destination_port = 2;  // UDP, TCP, SCTP
        static constexpr std::size_t udp_length = 4, udp_checksum = 6;       // UDP
        static constexpr std::size_t icmp_type = 0, icmp_code = 1, icmp_checksum = 2, icmp_identifier = 4,
                                     icmp_sequence = 6;  // an ICMP query (echo)
    };

    static constexpr result<embedded_ipv4_view> parse(bytes_view b) noexcept {
        if (b.size() < ipv4_view::header_len_min) return fail(layer::icmpv4, errc::truncated, "original_datagram");
        if ((load_u8(b, field::version_ihl) >> 4) != 4) return fail(layer::icmpv4, errc::bad_version, "version");
        const std::size_t hlen = std::size_t{load_u8(b, field::version_ihl) & 0x0fu} * 4;
        if (hlen < ipv4_view::header_len_min) return fail(layer::icmpv4, errc::bad_length, "ihl");
        if (b.size() < hlen + transport_len) return fail(layer::icmpv4, errc::truncated, "original_datagram");
        return embedded_ipv4_view(b);
    }

    constexpr std::uint8_t version() const noexcept { return load_u8(b_, field::version_ihl) >> 4; }
    constexpr std::uint8_t ihl() const noexcept { return load_u8(b_, field::version_ihl) & 0x0f; }
    constexpr std::size_t header_len() const noexcept { return std::size_t{ihl()} * 4; }
    constexpr std::uint8_t dscp() const noexcept { return load_u8(b_, field::dscp_ecn) >> 2; }
    constexpr std::uint8_t ecn() const noexcept { return load_u8(b_, field::dscp_ecn) & 0x3; }
    /// The original datagram's total length (larger than the quote, as a rule).
    constexpr std::uint16_t total_length() const noexcept { return load_be16(b_, field::total_length); }
    constexpr std::uint16_t identification() const noexcept { return load_be16(b_, field::identification); }
    constexpr bool dont_fragment() const noexcept {
        return (load_be16(b_, field::flags_fragment_offset) & ipv4_view::flag_dont_fragment) != 0;
    }
    constexpr bool more_fragments() const noexcept {
        return (load_be16(b_, field::flags_fragment_offset) & ipv4_view::flag_more_fragments) != 0;
    }
    constexpr std::uint32_t fragment_offset() const noexcept {
        return std::uint32_t{
                   static_cast<std::uint16_t>(load_be16(b_, field::flags_fragment_offset) & ipv4_view::fragment_offset_mask)} *
               8;
    }
    constexpr std::uint8_t ttl() const noexcept { return load_u8(b_, field::ttl); }
    constexpr std::uint8_t protocol() const noexcept { return load_u8(b_, field::protocol); }
    constexpr std::uint16_t checksum() const noexcept { return load_be16(b_, field::checksum); }
    constexpr bool checksum_ok() const noexcept { return checksum_verifies(checksum_acc{}.add(header())); }
    constexpr ipv4_address src() const noexcept { return ipv4_address::load(b_, field::src); }
    constexpr ipv4_address dst() const noexcept { return ipv4_address::load(b_, field::dst); }
    constexpr bytes_view options_bytes() const noexcept {
        return b_.subspan(field::options, header_len() - ipv4_view::header_len_min);
    }
    /// Quoted options, not validated by parse(): malformed entries come out as errors.
    constexpr ipv4_options options() const noexcept { return ipv4_options(options_bytes()); }
    constexpr bytes_view header() const noexcept { return b_.first(header_len()); }

    /// Offset of the quoted transport header inside the quote (= header_len()).
    constexpr std::size_t transport_offset() const noexcept { return header_len(); }
    /// The first 8 octets of the original payload.
    constexpr bytes_view transport() const noexcept { return b_.subspan(header_len(), transport_len); }
    /// Everything quoted after the IP header (8 octets or more).
    constexpr bytes_view payload() const noexcept { return b_.subspan(header_len()); }
    /// UDP/TCP/SCTP ports of the original datagram.
    constexpr std::uint16_t source_port() const noexcept { return load_be16(transport(), transport_field::source_port); }
    constexpr std::uint16_t destination_port() const noexcept {
        return load_be16(transport(), transport_field::destination_port);
    }
    /// The identifier of a quoted ICMP query (echo request).
    constexpr std::uint16_t icmp_identifier() const noexcept { return load_be16(transport(), transport_field::icmp_identifier); }
    constexpr bytes_view bytes() const noexcept { return b_; }

private:
    constexpr explicit embedded_ipv4_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

class icmpv4_view {
public:
    static constexpr std::size_t header_len = 8;
    struct field {
        static constexpr std::size_t type = 0, code = 1, checksum = 2, rest_of_header = 4;
        static constexpr std::size_t identifier = 4, sequence = 6;  // echo and the other queries
        static constexpr std::size_t gateway = 4;                   // redirect
        static constexpr std::size_t pointer = 4;                   // parameter problem
        static constexpr std::size_t next_hop_mtu = 6;              // fragmentation needed (RFC 1191)
        static constexpr std::size_t data = 8;                      // echo data / original datagram
    };
    static_assert(field::data == header_len);

    static constexpr result<icmpv4_view> parse(bytes_view b) noexcept {
        if (b.size() < header_len) return fail(layer::icmpv4, errc::truncated, "header");
        return icmpv4_view(b);
    }

    constexpr std::uint8_t type() const noexcept { return load_u8(b_, field::type); }
    constexpr std::uint8_t code() const noexcept { return load_u8(b_, field::code); }
    constexpr std::uint16_t checksum() const noexcept { return load_be16(b_, field::checksum); }
    /// The whole message sums to 0xffff including its checksum field (RFC 792).
    constexpr bool checksum_ok() const noexcept { return checksum_verifies(checksum_acc{}.add(b_)); }
    constexpr bool is_error() const noexcept { return icmpv4_is_error(type()); }
    constexpr bool is_echo_request() const noexcept { return type() == icmpv4_type::echo_request; }
    constexpr bool is_echo_reply() const noexcept { return type() == icmpv4_type::echo_reply; }

    /// The four octets after the checksum, whatever the type.
    constexpr std::uint32_t rest_of_header() const noexcept { return load_be32(b_, field::rest_of_header); }
    /// Echo (and timestamp, address mask) identifier and sequence number.
    constexpr std::uint16_t identifier() const noexcept { return load_be16(b_, field::identifier); }
    constexpr std::uint16_t sequence() const noexcept { return load_be16(b_, field::sequence); }
    /// Destination unreachable / fragmentation needed: the next-hop MTU (RFC 1191 section 4;
    /// 0 from routers that predate it). 0 for every other type and code.
    constexpr std::uint16_t next_hop_mtu() const noexcept {
        return type() == icmpv4_type::dest_unreachable && code() == icmpv4_unreachable::fragmentation_needed
                   ? load_be16(b_, field::next_hop_mtu)
                   : 0;
    }
    /// Redirect: the gateway address to use.
    constexpr ipv4_address gateway() const noexcept { return ipv4_address::load(b_, field::gateway); }
    /// Parameter problem: the octet offset of the error in the original datagram.
    constexpr std::uint8_t pointer() const noexcept { return load_u8(b_, field::pointer); }

    /// Everything after the 8-octet header: echo data, or the original datagram.
    constexpr bytes_view data() const noexcept { return b_.subspan(header_len); }
    /// Error messages: the quoted original datagram (empty for other types).
    constexpr bytes_view original_datagram() const noexcept { return is_error() ? data() : bytes_view{}; }
    /// Error messages: a lenient view of the quoted IPv4 header and its first 8 payload
    /// octets. Other types: errc::bad_value ("type"). In the ICMP message the quoted
    /// field X sits at field::data + embedded_ipv4_view::field::X.
    constexpr result<embedded_ipv4_view> embedded_ipv4() const noexcept {
        if (!is_error()) return fail(layer::icmpv4, errc::bad_value, "type");
        return embedded_ipv4_view::parse(data());
    }

    constexpr bytes_view bytes() const noexcept { return b_; }

private:
    constexpr explicit icmpv4_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

// ---- message kinds of icmpv4_repr; their bytes_view members point into the caller's buffer ----

struct icmpv4_echo_request {
    std::uint16_t identifier = 0;
    std::uint16_t sequence = 0;
    bytes_view data{};
    friend constexpr bool operator==(const icmpv4_echo_request& a, const icmpv4_echo_request& b) noexcept {
        return a.identifier == b.identifier && a.sequence == b.sequence && equal_bytes(a.data, b.data);
    }
};

struct icmpv4_echo_reply {
    std::uint16_t identifier = 0;
    std::uint16_t sequence = 0;
    bytes_view data{};
    /// The reply to a request echoes its identifier, sequence number and data (RFC 792).
    static constexpr icmpv4_echo_reply to(const icmpv4_echo_request& rq) noexcept {
        return {rq.identifier, rq.sequence, rq.data};
    }
    friend constexpr bool operator==(const icmpv4_echo_reply& a, const icmpv4_echo_reply& b) noexcept {
        return a.identifier == b.identifier && a.sequence == b.sequence && equal_bytes(a.data, b.data);
    }
};

struct icmpv4_dest_unreachable {
    std::uint8_t code = icmpv4_unreachable::port;
    std::uint16_t next_hop_mtu = 0;  // code fragmentation_needed only; emitted as 0 otherwise
    bytes_view original_datagram{};
    friend constexpr bool operator==(const icmpv4_dest_unreachable& a, const icmpv4_dest_unreachable& b) noexcept {
        return a.code == b.code && a.next_hop_mtu == b.next_hop_mtu && equal_bytes(a.original_datagram, b.original_datagram);
    }
};

struct icmpv4_time_exceeded {
    std::uint8_t code = icmpv4_time_exceeded_code::ttl_exceeded;
    bytes_view original_datagram{};
    friend constexpr bool operator==(const icmpv4_time_exceeded& a, const icmpv4_time_exceeded& b) noexcept {
        return a.code == b.code && equal_bytes(a.original_datagram, b.original_datagram);
    }
};

struct icmpv4_redirect {
    std::uint8_t code = icmpv4_redirect_code::host;
    ipv4_address gateway{};
    bytes_view original_datagram{};
    friend constexpr bool operator==(const icmpv4_redirect& a, const icmpv4_redirect& b) noexcept {
        return a.code == b.code && a.gateway == b.gateway && equal_bytes(a.original_datagram, b.original_datagram);
    }
};

struct icmpv4_parameter_problem {
    std::uint8_t code = icmpv4_parameter_problem_code::pointer;
    std::uint8_t pointer = 0;
    bytes_view original_datagram{};
    friend constexpr bool operator==(const icmpv4_parameter_problem& a, const icmpv4_parameter_problem& b) noexcept {
        return a.code == b.code && a.pointer == b.pointer && equal_bytes(a.original_datagram, b.original_datagram);
    }
};

/// Any other type (and echo with a non-zero code), kept as raw fields.
struct icmpv4_other {
    std::uint8_t type = 0;
    std::uint8_t code = 0;
    std::uint32_t rest_of_header = 0;
    bytes_view data{};
    friend constexpr bool operator==(const icmpv4_other& a, const icmpv4_other& b) noexcept {
        return a.type == b.type && a.code == b.code && a.rest_of_header == b.rest_of_header && equal_bytes(a.data, b.data);
    }
};

using icmpv4_message = std::variant<icmpv4_echo_request, icmpv4_echo_reply, icmpv4_dest_unreachable, icmpv4_time_exceeded,
                                    icmpv4_redirect, icmpv4_parameter_problem, icmpv4_other>;

/// The original datagram an error message should quote: as much as keeps the error
/// within 576 octets (RFC 1812 section 4.3.2.3), by default.
constexpr bytes_view icmpv4_quote(bytes_view datagram, std::size_t max_len = 576 - 20 - 8) noexcept {
    return datagram.first(std::min(datagram.size(), max_len));
}

struct icmpv4_repr {
    icmpv4_message message{};

    /// Rejects a message whose checksum does not verify (errc::bad_checksum, "checksum").
    static constexpr result<icmpv4_repr> parse(const icmpv4_view& v) noexcept {
        if (!v.checksum_ok()) return fail(layer::icmpv4, errc::bad_checksum, "checksum");
        const bool code0 = v.code() == 0;
        switch (v.type()) {
            case icmpv4_type::echo_request:
                if (code0) return icmpv4_repr{icmpv4_echo_request{v.identifier(), v.sequence(), v.data()}};
                break;
            case icmpv4_type::echo_reply:
                if (code0) return icmpv4_repr{icmpv4_echo_reply{v.identifier(), v.sequence(), v.data()}};
                break;
            case icmpv4_type::dest_unreachable: return icmpv4_repr{icmpv4_dest_unreachable{v.code(), v.next_hop_mtu(), v.data()}};
            case icmpv4_type::time_exceeded: return icmpv4_repr{icmpv4_time_exceeded{v.code(), v.data()}};
            case icmpv4_type::redirect: return icmpv4_repr{icmpv4_redirect{v.code(), v.gateway(), v.data()}};
            case icmpv4_type::parameter_problem: return icmpv4_repr{icmpv4_parameter_problem{v.code(), v.pointer(), v.data()}};
            default: break;
        }
        return icmpv4_repr{icmpv4_other{v.type(), v.code(), v.rest_of_header(), v.data()}};
    }

    constexpr std::uint8_t type() const noexcept { return wire_fields().type; }
    constexpr std::uint8_t code() const noexcept { return wire_fields().code; }
    constexpr bool is_error() const noexcept { return icmpv4_is_error(type()); }
    /// The octets after the 8-octet header.
    constexpr bytes_view data() const noexcept { return wire_fields().data; }
    constexpr std::size_t buffer_len() const noexcept { return icmpv4_view::header_len + data().size(); }

    /// Writes the whole message at the start of out with its checksum; returns buffer_len().
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        const auto w = wire_fields();
        const std::size_t n = icmpv4_view::header_len + w.data.size();
        if (out.size() < n) return fail(layer::icmpv4, errc::buffer_too_small, "message");
        using f = icmpv4_view::field;
        store_u8(out, f::type, w.type);
        store_u8(out, f::code, w.code);
        store_be16(out, f::checksum, 0);
        store_be32(out, f::rest_of_header, w.rest_of_header);
        store_bytes(out, f::data, w.data);
        store_be16(out, f::checksum, internet_checksum(bytes_view(out).first(n)));
        return n;
    }

    friend constexpr bool operator==(const icmpv4_repr&, const icmpv4_repr&) = default;

private:
    struct fields {
        std::uint8_t type;
        std::uint8_t code;
        std::uint32_t rest_of_header;
        bytes_view data;
    };
    static constexpr std::uint32_t pack16(std::uint16_t hi, std::uint16_t lo) noexcept { return (std::uint32_t{hi} << 16) | lo; }
    constexpr fields wire_fields() const noexcept {
        if (auto* m = std::get_if<icmpv4_echo_request>(&message))
            return {icmpv4_type::echo_request, 0, pack16(m->identifier, m->sequence), m->data};
        if (auto* m = std::get_if<icmpv4_echo_reply>(&message))
            return {icmpv4_type::echo_reply, 0, pack16(m->identifier, m->sequence), m->data};
        if (auto* m = std::get_if<icmpv4_dest_unreachable>(&message)) {
            const std::uint16_t mtu = m->code == icmpv4_unreachable::fragmentation_needed ? m->next_hop_mtu : 0;
            return {icmpv4_type::dest_unreachable, m->code, mtu, m->original_datagram};
        }
        if (auto* m = std::get_if<icmpv4_time_exceeded>(&message))
            return {icmpv4_type::time_exceeded, m->code, 0, m->original_datagram};
        if (auto* m = std::get_if<icmpv4_redirect>(&message))
            return {icmpv4_type::redirect, m->code, m->gateway.to_u32(), m->original_datagram};
        if (auto* m = std::get_if<icmpv4_parameter_problem>(&message))
            return {icmpv4_type::parameter_problem, m->code, std::uint32_t{m->pointer} << 24, m->original_datagram};
        if (auto* m = std::get_if<icmpv4_other>(&message)) return {m->type, m->code, m->rest_of_header, m->data};
        return {0, 0, 0, {}};  // valueless_by_exception: cannot happen with these alternatives
    }
};

}  // namespace vnet::wire
