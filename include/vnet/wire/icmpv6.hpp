// vnet/wire/icmpv6.hpp - ICMPv6 (RFC 4443) and Multicast Listener Discovery (RFC 2710, RFC 3810).
//
// RFC 4443 section 2.1: type, code, checksum; section 2.3: the checksum covers the IPv6
// pseudo header (RFC 8200 section 8.1, next header 58) and the whole message. Error
// messages (section 3): destination unreachable 1, packet too big 2 (MTU), time exceeded 3,
// parameter problem 4 (pointer), each followed by as much of the invoking packet as fits.
// Informational messages (section 4): echo request 128 / reply 129 (identifier, sequence,
// data). MLDv1 (RFC 2710 section 3): query 130, report 131, done 132 (maximum response
// delay, multicast address). MLDv2 report 143 (RFC 3810 section 5.2): number of multicast
// address records, each with record type, aux data len, number of sources, multicast
// address, source addresses and auxiliary data. NDP messages (133-137) have their body
// decoded in vnet/wire/ndp.hpp; icmpv6_view::parse checks their minimum lengths here so
// that every accessor of both headers is in bounds after parse.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string_view>
#include <variant>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/ipv6.hpp>
#include <vnet/wire/tlv.hpp>

namespace vnet::wire {

/// ICMPv6 Type values (IANA "ICMPv6 Parameters").
namespace icmpv6_type {
inline constexpr std::uint8_t destination_unreachable = 1;
inline constexpr std::uint8_t packet_too_big = 2;
inline constexpr std::uint8_t time_exceeded = 3;
inline constexpr std::uint8_t parameter_problem = 4;
inline constexpr std::uint8_t echo_request = 128;
inline constexpr std::uint8_t echo_reply = 129;
inline constexpr std::uint8_t multicast_listener_query = 130;
inline constexpr std::uint8_t multicast_listener_report = 131;
inline constexpr std::uint8_t multicast_listener_done = 132;
inline constexpr std::uint8_t router_solicitation = 133;
inline constexpr std::uint8_t router_advertisement = 134;
inline constexpr std::uint8_t neighbor_solicitation = 135;
inline constexpr std::uint8_t neighbor_advertisement = 136;
inline constexpr std::uint8_t redirect = 137;
inline constexpr std::uint8_t mldv2_report = 143;
}  // namespace icmpv6_type

/// RFC 4443 section 2.1: error messages have the high-order bit of the type clear.
constexpr bool is_icmpv6_error(std::uint8_t type) noexcept { return type < 128; }

/// The message's name; also the field of a truncation error for it.
constexpr std::string_view icmpv6_message_name(std::uint8_t type) noexcept {
    switch (type) {
        case icmpv6_type::destination_unreachable: return "destination_unreachable";
        case icmpv6_type::packet_too_big: return "packet_too_big";
        case icmpv6_type::time_exceeded: return "time_exceeded";
        case icmpv6_type::parameter_problem: return "parameter_problem";
        case icmpv6_type::echo_request: return "echo_request";
        case icmpv6_type::echo_reply: return "echo_reply";
        case icmpv6_type::multicast_listener_query: return "multicast_listener_query";
        case icmpv6_type::multicast_listener_report: return "multicast_listener_report";
        case icmpv6_type::multicast_listener_done: return "multicast_listener_done";
        case icmpv6_type::router_solicitation: return "router_solicitation";
        case icmpv6_type::router_advertisement: return "router_advertisement";
        case icmpv6_type::neighbor_solicitation: return "neighbor_solicitation";
        case icmpv6_type::neighbor_advertisement: return "neighbor_advertisement";
        case icmpv6_type::redirect: return "redirect";
        case icmpv6_type::mldv2_report: return "mldv2_report";
        default: return "header";
    }
}

/// The smallest valid message of a type, in bytes (4 for types this codec does not know).
/// NDP minimums are the "ICMP length" rules of RFC 4861 sections 6.1.1, 6.1.2, 7.1.1,
/// 7.1.2 and 8.1.
constexpr std::size_t icmpv6_min_length(std::uint8_t type) noexcept {
    switch (type) {
        case icmpv6_type::destination_unreachable:
        case icmpv6_type::packet_too_big:
        case icmpv6_type::time_exceeded:
        case icmpv6_type::parameter_problem:
        case icmpv6_type::echo_request:
        case icmpv6_type::echo_reply:
        case icmpv6_type::router_solicitation:
        case icmpv6_type::mldv2_report: return 8;
        case icmpv6_type::router_advertisement: return 16;
        case icmpv6_type::multicast_listener_query:
        case icmpv6_type::multicast_listener_report:
        case icmpv6_type::multicast_listener_done:
        case icmpv6_type::neighbor_solicitation:
        case icmpv6_type::neighbor_advertisement: return 24;
        case icmpv6_type::redirect: return 40;
        default: return 4;
    }
}

namespace detail {
// Type-specific accessors read through these: a field outside the message (an accessor
// called on a message of another, shorter type) reads as zero, never out of bounds.
constexpr std::uint8_t load_u8_or_zero(bytes_view b, std::size_t off) noexcept {
    return in_bounds(b.size(), off, 1) ? load_u8(b, off) : 0;
}
constexpr std::uint16_t load_be16_or_zero(bytes_view b, std::size_t off) noexcept {
    return in_bounds(b.size(), off, 2) ? load_be16(b, off) : 0;
}
constexpr std::uint32_t load_be32_or_zero(bytes_view b, std::size_t off) noexcept {
    return in_bounds(b.size(), off, 4) ? load_be32(b, off) : 0;
}
constexpr ipv6_address load_ipv6_or_unspecified(bytes_view b, std::size_t off) noexcept {
    return in_bounds(b.size(), off, 16) ? ipv6_address::load(b, off) : ipv6_address{};
}
constexpr bytes_view tail_or_empty(bytes_view b, std::size_t off) noexcept {
    return off <= b.size() ? b.subspan(off) : bytes_view{};
}
}  // namespace detail

/// Multicast address record types (RFC 3810 section 5.2.12).
namespace mldv2_record_type {
inline constexpr std::uint8_t mode_is_include = 1;
inline constexpr std::uint8_t mode_is_exclude = 2;
inline constexpr std::uint8_t change_to_include_mode = 3;
inline constexpr std::uint8_t change_to_exclude_mode = 4;
inline constexpr std::uint8_t allow_new_sources = 5;
inline constexpr std::uint8_t block_old_sources = 6;
}  // namespace mldv2_record_type

/// One Multicast Address Record of an MLDv2 report (RFC 3810 section 5.2.4), checked to
/// lie inside the message: every source and the aux data are in bounds.
struct mldv2_record {
    static constexpr std::size_t header_len = 20;

    bytes_view bytes{};  // the whole record

    constexpr std::uint8_t record_type() const noexcept { return load_u8(bytes, 0); }
    /// In 32-bit words (RFC 3810 section 5.2.5).
    constexpr std::uint8_t aux_data_len() const noexcept { return load_u8(bytes, 1); }
    constexpr std::uint16_t source_count() const noexcept { return load_be16(bytes, 2); }
    constexpr ipv6_address multicast_address() const noexcept { return ipv6_address::load(bytes, 4); }
    /// Source i < source_count(); :: for any other i.
    constexpr ipv6_address source(std::size_t i) const noexcept {
        return i < source_count() ? ipv6_address::load(bytes, header_len + 16 * i) : ipv6_address{};
    }
    constexpr bytes_view aux_data() const noexcept { return bytes.subspan(header_len + 16 * std::size_t{source_count()}); }
};

/// The layout of the records of an MLDv2 report: `count` records, each a header, its
/// sources and its auxiliary data. A record that runs past the message is an error
/// (icmpv6.mldv2_record: truncated), after which the walk ends.
struct mldv2_record_layout {
    using value_type = result<mldv2_record>;
    struct cursor {
        std::size_t off = 0;
        std::uint16_t left = 0;  // records still to read
    };
    static constexpr bool next(bytes_view b, cursor& c, value_type& out) noexcept {
        if (c.left == 0) return false;
        --c.left;
        if (!in_bounds(b.size(), c.off, mldv2_record::header_len)) {
            out = fail(layer::icmpv6, errc::truncated, "mldv2_record");
            return true;
        }
        const std::size_t len = mldv2_record::header_len + 16 * std::size_t{load_be16(b, c.off + 2)} +
                                4 * std::size_t{load_u8(b, c.off + 1)};
        if (!in_bounds(b.size(), c.off, len)) {
            out = fail(layer::icmpv6, errc::truncated, "mldv2_record");
            return true;
        }
        out = mldv2_record{b.subspan(c.off, len)};
        c.off += len;
        return true;
    }
};
using mldv2_record_iterator = tlv_iterator<mldv2_record_layout>;

/// The records of an MLDv2 report as a range of result<mldv2_record>.
class mldv2_record_range : public tlv_range<mldv2_record_layout> {
public:
    constexpr mldv2_record_range(bytes_view records, std::uint16_t count) noexcept : tlv_range(records, {0, count}) {}
};

class icmpv6_view {
public:
    static constexpr std::size_t header_len = 4;
    struct field {
        static constexpr std::size_t type = 0, code = 1, checksum = 2,
                                     // errors: MTU (2), pointer (4), unused otherwise; echo: id, seq
            parameter = 4, identifier = 4, sequence = 6,
                                     // MLDv1 (RFC 2710 section 3)
            max_response_delay = 4, multicast_address = 8,
                                     // MLDv2 report (RFC 3810 section 5.2)
            record_count = 6, records = 8,
                                     // errors: invoking packet; echo: data
            body = 8;
    };
    static_assert(field::multicast_address + 16 == 24);

    /// Checks the 4-byte header and the minimum length of the message's type.
    static constexpr result<icmpv6_view> parse(bytes_view b) noexcept {
        if (b.size() < header_len) return fail(layer::icmpv6, errc::truncated, "header");
        const std::uint8_t t = load_u8(b, field::type);
        if (b.size() < icmpv6_min_length(t)) return fail(layer::icmpv6, errc::truncated, icmpv6_message_name(t));
        return icmpv6_view(b);
    }

    constexpr std::uint8_t msg_type() const noexcept { return load_u8(b_, field::type); }
    constexpr std::uint8_t code() const noexcept { return load_u8(b_, field::code); }
    constexpr std::uint16_t checksum() const noexcept { return load_be16(b_, field::checksum); }
    constexpr std::size_t size() const noexcept { return b_.size(); }
    constexpr bytes_view bytes() const noexcept { return b_; }

    /// The IPv6 pseudo header for this message (RFC 8200 section 8.1).
    constexpr checksum_acc pseudo_header(const ipv6_address& src, const ipv6_address& dst) const noexcept {
        return pseudo_header_v6(src, dst, ipv6_next_header::icmpv6, static_cast<std::uint32_t>(b_.size()));
    }
    /// True when the message sums with the given pseudo header to all ones.
    constexpr bool checksum_ok(checksum_acc pseudo) const noexcept { return checksum_verifies(pseudo.add(b_)); }
    constexpr bool checksum_ok(const ipv6_address& src, const ipv6_address& dst) const noexcept {
        return checksum_ok(pseudo_header(src, dst));
    }
    /// The value the checksum field should hold.
    constexpr std::uint16_t compute_checksum(const ipv6_address& src, const ipv6_address& dst) const noexcept {
        checksum_acc a = pseudo_header(src, dst);
        a.add(b_.first(field::checksum)).add(b_.subspan(field::checksum + 2));
        return a.finish();
    }

    // Type-specific accessors: parse checked the length of the message's own type; called
    // on another type they read fields outside the message as zero.

    // ---- error messages (types 1-4, length >= 8) ----
    /// Packet Too Big (RFC 4443 section 3.2).
    constexpr std::uint32_t mtu() const noexcept { return detail::load_be32_or_zero(b_, field::parameter); }
    /// Parameter Problem (RFC 4443 section 3.4): offset of the error in the invoking packet.
    constexpr std::uint32_t pointer() const noexcept { return detail::load_be32_or_zero(b_, field::parameter); }
    /// The 32-bit word after the checksum: MTU, pointer, or unused.
    constexpr std::uint32_t parameter() const noexcept { return detail::load_be32_or_zero(b_, field::parameter); }
    constexpr bytes_view invoking_packet() const noexcept { return detail::tail_or_empty(b_, field::body); }

    // ---- echo request / reply (types 128, 129, length >= 8) ----
    constexpr std::uint16_t echo_identifier() const noexcept { return detail::load_be16_or_zero(b_, field::identifier); }
    constexpr std::uint16_t echo_sequence() const noexcept { return detail::load_be16_or_zero(b_, field::sequence); }
    constexpr bytes_view echo_data() const noexcept { return detail::tail_or_empty(b_, field::body); }

    // ---- MLDv1 query / report / done (types 130-132, length >= 24) ----
    /// In milliseconds (RFC 2710 section 3.4).
    constexpr std::uint16_t mld_max_response_delay() const noexcept {
        return detail::load_be16_or_zero(b_, field::max_response_delay);
    }
    constexpr ipv6_address mld_multicast_address() const noexcept {
        return detail::load_ipv6_or_unspecified(b_, field::multicast_address);
    }

    // ---- MLDv2 report (type 143, length >= 8) ----
    constexpr std::uint16_t mldv2_record_count() const noexcept { return detail::load_be16_or_zero(b_, field::record_count); }
    constexpr mldv2_record_range mldv2_records() const noexcept {
        return {detail::tail_or_empty(b_, field::records), mldv2_record_count()};
    }

private:
    constexpr explicit icmpv6_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

/// Writes the checksum of msg (its checksum field is at offset 2) for src and dst.
constexpr void icmpv6_fill_checksum(bytes_span msg, const ipv6_address& src, const ipv6_address& dst) noexcept {
    store_be16(msg, icmpv6_view::field::checksum, 0);
    const auto sum = pseudo_header_v6(src, dst, ipv6_next_header::icmpv6, static_cast<std::uint32_t>(msg.size()))
                         .add(bytes_view(msg))
                         .finish();
    store_be16(msg, icmpv6_view::field::checksum, sum);
}

namespace detail {
constexpr result<void> icmpv6_check(const icmpv6_view& v, const ipv6_address& src, const ipv6_address& dst,
                                    bool type_ok) noexcept {
    if (!type_ok) return fail(layer::icmpv6, errc::bad_value, "type");
    if (!v.checksum_ok(src, dst)) return fail(layer::icmpv6, errc::bad_checksum, "checksum");
    return {};
}
}  // namespace detail

/// Echo Request / Echo Reply (RFC 4443 sections 4.1, 4.2).
struct icmpv6_echo_repr {
    std::uint8_t type = icmpv6_type::echo_request;
    std::uint16_t identifier = 0;
    std::uint16_t sequence = 0;
    bytes_view data{};

    static constexpr std::size_t header_len = 8;

    static constexpr result<icmpv6_echo_repr> parse(const icmpv6_view& v, const ipv6_address& src,
                                                    const ipv6_address& dst) noexcept {
        const auto t = v.msg_type();
        if (auto ok = detail::icmpv6_check(v, src, dst, t == icmpv6_type::echo_request || t == icmpv6_type::echo_reply); !ok)
            return unexpected(ok.error());
        if (v.code() != 0) return fail(layer::icmpv6, errc::bad_value, "code");
        return icmpv6_echo_repr{t, v.echo_identifier(), v.echo_sequence(), v.echo_data()};
    }
    constexpr std::size_t buffer_len() const noexcept { return header_len + data.size(); }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        if (out.size() < buffer_len()) return fail(layer::icmpv6, errc::buffer_too_small, "echo");
        auto m = out.first(buffer_len());
        store_u8(m, icmpv6_view::field::type, type);
        store_u8(m, icmpv6_view::field::code, 0);
        store_be16(m, icmpv6_view::field::identifier, identifier);
        store_be16(m, icmpv6_view::field::sequence, sequence);
        store_bytes(m, header_len, data);
        icmpv6_fill_checksum(m, src, dst);
        return m.size();
    }
    friend constexpr bool operator==(const icmpv6_echo_repr& a, const icmpv6_echo_repr& b) noexcept {
        return a.type == b.type && a.identifier == b.identifier && a.sequence == b.sequence && equal_bytes(a.data, b.data);
    }
};

/// Destination Unreachable, Packet Too Big, Time Exceeded, Parameter Problem (RFC 4443
/// section 3). parameter is the MTU (type 2), the pointer (type 4), or the unused word.
/// RFC 4443 section 2.4 (c) keeps an error message within the minimum IPv6 MTU: the
/// caller trims invoking_packet.
struct icmpv6_error_repr {
    std::uint8_t type = icmpv6_type::destination_unreachable;
    std::uint8_t code = 0;
    std::uint32_t parameter = 0;
    bytes_view invoking_packet{};

    static constexpr std::size_t header_len = 8;

    static constexpr result<icmpv6_error_repr> parse(const icmpv6_view& v, const ipv6_address& src,
                                                     const ipv6_address& dst) noexcept {
        const auto t = v.msg_type();
        if (auto ok = detail::icmpv6_check(v, src, dst,
                                           t >= icmpv6_type::destination_unreachable && t <= icmpv6_type::parameter_problem);
            !ok)
            return unexpected(ok.error());
        return icmpv6_error_repr{t, v.code(), v.parameter(), v.invoking_packet()};
    }
    constexpr std::size_t buffer_len() const noexcept { return header_len + invoking_packet.size(); }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        if (out.size() < buffer_len()) return fail(layer::icmpv6, errc::buffer_too_small, "error_message");
        auto m = out.first(buffer_len());
        store_u8(m, icmpv6_view::field::type, type);
        store_u8(m, icmpv6_view::field::code, code);
        store_be32(m, icmpv6_view::field::parameter, parameter);
        store_bytes(m, header_len, invoking_packet);
        icmpv6_fill_checksum(m, src, dst);
        return m.size();
    }
    friend constexpr bool operator==(const icmpv6_error_repr& a, const icmpv6_error_repr& b) noexcept {
        return a.type == b.type && a.code == b.code && a.parameter == b.parameter &&
               equal_bytes(a.invoking_packet, b.invoking_packet);
    }
};

/// MLDv1 Query / Report / Done (RFC 2710 section 3), 24 bytes. An MLDv2 query (type 130,
/// 28 bytes or more, RFC 3810 section 5.1) is not modelled here: parse says unsupported.
struct mld_repr {
    std::uint8_t type = icmpv6_type::multicast_listener_report;
    std::uint16_t max_response_delay = 0;
    ipv6_address multicast_address{};

    static constexpr std::size_t message_len = 24;

    static constexpr result<mld_repr> parse(const icmpv6_view& v, const ipv6_address& src, const ipv6_address& dst) noexcept {
        const auto t = v.msg_type();
        if (auto ok = detail::icmpv6_check(
                v, src, dst, t >= icmpv6_type::multicast_listener_query && t <= icmpv6_type::multicast_listener_done);
            !ok)
            return unexpected(ok.error());
        if (t == icmpv6_type::multicast_listener_query && v.size() != message_len)
            return fail(layer::icmpv6, errc::unsupported, "mldv2_query");
        return mld_repr{t, v.mld_max_response_delay(), v.mld_multicast_address()};
    }
    constexpr std::size_t buffer_len() const noexcept { return message_len; }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        if (out.size() < message_len) return fail(layer::icmpv6, errc::buffer_too_small, "mld");
        auto m = out.first(message_len);
        store_u8(m, icmpv6_view::field::type, type);
        store_u8(m, icmpv6_view::field::code, 0);
        store_be16(m, icmpv6_view::field::max_response_delay, max_response_delay);
        store_be16(m, icmpv6_view::field::max_response_delay + 2, 0);
        multicast_address.store(m, icmpv6_view::field::multicast_address);
        icmpv6_fill_checksum(m, src, dst);
        return m.size();
    }
    friend constexpr bool operator==(const mld_repr&, const mld_repr&) = default;
};

/// Builds one Multicast Address Record (RFC 3810 section 5.2.4) with no auxiliary data
/// (section 5.2.10: MLDv2 defines none).
struct mldv2_record_repr {
    std::uint8_t record_type = mldv2_record_type::change_to_exclude_mode;
    ipv6_address multicast_address{};
    std::span<const ipv6_address> sources{};

    constexpr std::size_t buffer_len() const noexcept { return mldv2_record::header_len + 16 * sources.size(); }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        if (sources.size() > 0xffff) return fail(layer::icmpv6, errc::too_long, "number_of_sources");
        if (out.size() < buffer_len()) return fail(layer::icmpv6, errc::buffer_too_small, "mldv2_record");
        store_u8(out, 0, record_type);
        store_u8(out, 1, 0);
        store_be16(out, 2, static_cast<std::uint16_t>(sources.size()));
        multicast_address.store(out, 4);
        for (std::size_t i = 0; i < sources.size(); ++i) sources[i].store(out, mldv2_record::header_len + 16 * i);
        return buffer_len();
    }
    friend constexpr bool operator==(const mldv2_record_repr& a, const mldv2_record_repr& b) noexcept {
        return a.record_type == b.record_type && a.multicast_address == b.multicast_address &&
               std::equal(a.sources.begin(), a.sources.end(), b.sources.begin(), b.sources.end());
    }
};

/// MLDv2 Listener Report (RFC 3810 section 5.2). records holds the encoded records
/// (build them with mldv2_record_repr); parse checks that record_count records fit.
struct mldv2_report_repr {
    std::uint16_t record_count = 0;
    bytes_view records{};

    static constexpr std::size_t header_len = 8;

    static constexpr result<mldv2_report_repr> parse(const icmpv6_view& v, const ipv6_address& src,
                                                     const ipv6_address& dst) noexcept {
        if (auto ok = detail::icmpv6_check(v, src, dst, v.msg_type() == icmpv6_type::mldv2_report); !ok)
            return unexpected(ok.error());
        for (const auto& r : v.mldv2_records())
            if (!r) return unexpected(r.error());
        return mldv2_report_repr{v.mldv2_record_count(), v.bytes().subspan(icmpv6_view::field::records)};
    }
    constexpr std::size_t buffer_len() const noexcept { return header_len + records.size(); }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        if (out.size() < buffer_len()) return fail(layer::icmpv6, errc::buffer_too_small, "mldv2_report");
        auto m = out.first(buffer_len());
        store_u8(m, icmpv6_view::field::type, icmpv6_type::mldv2_report);
        store_u8(m, icmpv6_view::field::code, 0);
        store_be16(m, 4, 0);
        store_be16(m, icmpv6_view::field::record_count, record_count);
        store_bytes(m, header_len, records);
        icmpv6_fill_checksum(m, src, dst);
        return m.size();
    }
    friend constexpr bool operator==(const mldv2_report_repr& a, const mldv2_report_repr& b) noexcept {
        return a.record_count == b.record_count && equal_bytes(a.records, b.records);
    }
};

/// Any ICMPv6 message this header models (NDP messages: see ndp_repr in ndp.hpp).
struct icmpv6_repr {
    std::variant<icmpv6_echo_repr, icmpv6_error_repr, mld_repr, mldv2_report_repr> message;

    /// Verifies the checksum with src and dst; other types are errc::unsupported.
    static constexpr result<icmpv6_repr> parse(const icmpv6_view& v, const ipv6_address& src, const ipv6_address& dst) noexcept {
        auto wrap = [](auto r) -> result<icmpv6_repr> {
            if (!r) return unexpected(r.error());
            return icmpv6_repr{*r};
        };
        switch (v.msg_type()) {
            case icmpv6_type::destination_unreachable:
            case icmpv6_type::packet_too_big:
            case icmpv6_type::time_exceeded:
            case icmpv6_type::parameter_problem: return wrap(icmpv6_error_repr::parse(v, src, dst));
            case icmpv6_type::echo_request:
            case icmpv6_type::echo_reply: return wrap(icmpv6_echo_repr::parse(v, src, dst));
            case icmpv6_type::multicast_listener_query:
            case icmpv6_type::multicast_listener_report:
            case icmpv6_type::multicast_listener_done: return wrap(mld_repr::parse(v, src, dst));
            case icmpv6_type::mldv2_report: return wrap(mldv2_report_repr::parse(v, src, dst));
            default: return fail(layer::icmpv6, errc::unsupported, "type");
        }
    }
    constexpr std::size_t buffer_len() const noexcept {
        return std::visit([](const auto& m) { return m.buffer_len(); }, message);
    }
    constexpr result<std::size_t> emit(bytes_span out, const ipv6_address& src, const ipv6_address& dst) const noexcept {
        return std::visit([&](const auto& m) { return m.emit(out, src, dst); }, message);
    }
    friend constexpr bool operator==(const icmpv6_repr&, const icmpv6_repr&) = default;
};

}  // namespace vnet::wire
