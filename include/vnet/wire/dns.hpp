// vnet/wire/dns.hpp - DNS messages (RFC 1035 sections 3.1, 4.1, 4.1.4, 4.2.2; RFC 2181
// sections 8, 9; RFC 2782 SRV; RFC 3597 section 4; RFC 4035 section 3.2 AD/CD bits;
// RFC 6891 section 6 OPT pseudo-RR).
//
// Parsing side (no allocation, no exceptions):
// - dns_name: a fixed-capacity name (up to 255 wire bytes), compared case-insensitively,
//   parsed from and printed in text form ("iothub.example", "." for the root, \DDD and
//   \. escapes as dig prints them).
// - read_dns_name(): decodes a possibly compressed name from a message. A compression
//   pointer must point strictly before the start of the name being read and before the
//   pointer itself (otherwise bad_pointer); a chain that revisits bytes it has already read
//   is a loop, and the number of hops is bounded.
// - dns_view: the whole message walked and checked once by parse(): header, every
//   question and record (names, fixed fields, rdlength), the counts against what is
//   present, the OPT record. Sections are ranges whose iterators yield result<dns_question>
//   or result<dns_record> and stop at the first error.
// - Typed rdata decoders: dns_a, dns_aaaa, dns_ns, dns_cname, dns_ptr, dns_mx, dns_txt_view,
//   dns_srv, dns_soa, dns_opt; each parse(const dns_record&) checks the rdata length.
//
// Building side (owns std::vector): dns_message_repr with emit() (RFC 1035 4.1.4 name
// compression, or none), emit_truncated() (RFC 2181 section 9: TC set and only what fits),
// make_query() and make_response(). DNS over TCP (RFC 1035 4.2.2): split_dns_tcp() and
// store_dns_tcp_length() for the 2-byte length prefix.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/wire/tlv.hpp>

namespace vnet::wire {

using vnet::to_string;

inline constexpr std::uint16_t dns_port = 53;
/// RFC 1035 4.2.1: plain UDP messages are at most 512 bytes.
inline constexpr std::size_t dns_udp_max = 512;

/// RR TYPE values (RFC 1035 3.2.2, RFC 3596, RFC 2782, RFC 6891).
namespace dns_type {
inline constexpr std::uint16_t a = 1;
inline constexpr std::uint16_t ns = 2;
inline constexpr std::uint16_t cname = 5;
inline constexpr std::uint16_t soa = 6;
inline constexpr std::uint16_t ptr = 12;
inline constexpr std::uint16_t mx = 15;
inline constexpr std::uint16_t txt = 16;
inline constexpr std::uint16_t aaaa = 28;
inline constexpr std::uint16_t srv = 33;
inline constexpr std::uint16_t opt = 41;
inline constexpr std::uint16_t any = 255;
}  // namespace dns_type

/// CLASS values (RFC 1035 3.2.4).
namespace dns_class {
inline constexpr std::uint16_t in = 1;
inline constexpr std::uint16_t ch = 3;
inline constexpr std::uint16_t any = 255;
}  // namespace dns_class

/// OPCODE values (RFC 1035 4.1.1).
namespace dns_opcode {
inline constexpr std::uint8_t query = 0;
inline constexpr std::uint8_t status = 2;
}  // namespace dns_opcode

/// RCODE values (RFC 1035 4.1.1).
namespace dns_rcode {
inline constexpr std::uint8_t noerror = 0;
inline constexpr std::uint8_t formerr = 1;
inline constexpr std::uint8_t servfail = 2;
inline constexpr std::uint8_t nxdomain = 3;
inline constexpr std::uint8_t notimp = 4;
inline constexpr std::uint8_t refused = 5;
}  // namespace dns_rcode

/// EDNS option codes (IANA registry) that vnet names.
namespace dns_edns_code {
inline constexpr std::uint16_t client_subnet = 8;  // RFC 7871
inline constexpr std::uint16_t cookie = 10;        // RFC 7873
inline constexpr std::uint16_t padding = 12;       // RFC 7830
}  // namespace dns_edns_code

/// "A", "AAAA", ... for the types above; "" for others (print them as TYPEnnn, RFC 3597 5).
constexpr std::string_view dns_type_name(std::uint16_t t) noexcept {
    switch (t) {
        case dns_type::a: return "A";
        case dns_type::ns: return "NS";
        case dns_type::cname: return "CNAME";
        case dns_type::soa: return "SOA";
        case dns_type::ptr: return "PTR";
        case dns_type::mx: return "MX";
        case dns_type::txt: return "TXT";
        case dns_type::aaaa: return "AAAA";
        case dns_type::srv: return "SRV";
        case dns_type::opt: return "OPT";
        case dns_type::any: return "ANY";
        default: return "";
    }
}

enum class dns_section : std::uint8_t { question, answer, authority, additional };

/// The section's name as used in error fields ("dns.answer: truncated").
inline constexpr enum_name<dns_section> dns_section_names[] = {
    {dns_section::question, "question"},
    {dns_section::answer, "answer"},
    {dns_section::authority, "authority"},
    {dns_section::additional, "additional"},
};
constexpr std::span<const enum_name<dns_section>> enum_names(dns_section) noexcept { return dns_section_names; }

// ---------------------------------------------------------------------------------------
// Names (RFC 1035 3.1, 2.3.4)
// ---------------------------------------------------------------------------------------

/// A domain name in uncompressed wire form (length-prefixed labels ending with the root's
/// zero byte), at most 255 bytes, so at most 253 text characters. Comparison is
/// case-insensitive for ASCII letters (RFC 1035 2.3.3, RFC 4343); wire() keeps the case.
class dns_name {
public:
    static constexpr std::size_t max_wire_len = 255;  // RFC 1035 3.1
    static constexpr std::size_t max_label_len = 63;  // RFC 1035 2.3.4
    static constexpr std::size_t max_text_len = 253;

    /// The root name ".".
    constexpr dns_name() noexcept = default;
    static constexpr dns_name root() noexcept { return dns_name(); }

    /// Text form: labels separated by '.', an optional final '.', "." for the root.
    /// "\." and "\\" (any "\c") stand for the character itself, "\DDD" for the byte DDD
    /// (RFC 1035 5.1). Empty labels are a syntax error; a label over 63 bytes is
    /// dns.label: too long, a name over 255 wire bytes is dns.name: too long.
    static constexpr result<dns_name> parse(std::string_view s) noexcept {
        if (s.empty()) return fail(layer::dns, errc::syntax, "invalid DNS name: empty");
        if (s == ".") return dns_name();
        dns_name n;
        std::array<std::byte, max_label_len> label{};
        std::size_t len = 0;
        std::size_t i = 0;
        bool label_open = false;
        while (i < s.size()) {
            char c = s[i];
            if (c == '.') {
                if (!label_open || len == 0) return fail(layer::dns, errc::syntax, "invalid DNS name: empty label");
                if (auto r = n.append_label(bytes_view(label).first(len)); !r) return unexpected(r.error());
                len = 0;
                label_open = false;
                ++i;
                continue;
            }
            std::uint8_t byte = static_cast<std::uint8_t>(c);
            if (c == '\\') {
                if (i + 1 >= s.size()) return fail(layer::dns, errc::syntax, "invalid DNS name: trailing backslash");
                if (is_digit(s[i + 1])) {
                    if (i + 3 >= s.size() || !is_digit(s[i + 2]) || !is_digit(s[i + 3]))
                        return fail(layer::dns, errc::syntax, "invalid DNS name: \\DDD needs three digits");
                    unsigned v = static_cast<unsigned>(s[i + 1] - '0') * 100 + static_cast<unsigned>(s[i + 2] - '0') * 10 +
                                 static_cast<unsigned>(s[i + 3] - '0');
                    if (v > 255) return fail(layer::dns, errc::syntax, "invalid DNS name: \\DDD above 255");
                    byte = static_cast<std::uint8_t>(v);
                    i += 4;
                } else {
                    byte = static_cast<std::uint8_t>(s[i + 1]);
                    i += 2;
                }
            } else {
                ++i;
            }
            if (len == max_label_len) return fail(layer::dns, errc::too_long, "label");
            label[len++] = std::byte{byte};
            label_open = true;
        }
        if (label_open) {
            if (auto r = n.append_label(bytes_view(label).first(len)); !r) return unexpected(r.error());
        }
        return n;
    }

    /// Appends a label below the current name (before the root). Errors: dns.label: too
    /// long (over 63 bytes), dns.label: bad value (empty), dns.name: too long (over 255).
    constexpr result<void> append_label(bytes_view label) noexcept {
        if (label.empty()) return fail(layer::dns, errc::bad_value, "label");
        if (label.size() > max_label_len) return fail(layer::dns, errc::too_long, "label");
        if (len_ + 1 + label.size() > max_wire_len) return fail(layer::dns, errc::too_long, "name");
        std::size_t pos = len_ - 1u;
        wire_[pos] = static_cast<std::byte>(label.size());
        for (std::size_t k = 0; k < label.size(); ++k) wire_[pos + 1 + k] = label[k];
        wire_[pos + 1 + label.size()] = std::byte{0};
        len_ = static_cast<std::uint8_t>(len_ + 1 + label.size());
        return {};
    }

    /// Uncompressed wire form, ending with the root's zero byte.
    constexpr bytes_view wire() const noexcept { return bytes_view(wire_).first(len_); }
    constexpr std::size_t wire_len() const noexcept { return len_; }
    constexpr bool is_root() const noexcept { return len_ == 1; }

    constexpr std::size_t label_count() const noexcept {
        std::size_t n = 0;
        for (std::size_t off = 0; at(off) != 0; off += 1u + at(off)) ++n;
        return n;
    }
    /// Label i (0 is the leftmost). Precondition: i < label_count().
    constexpr bytes_view label(std::size_t i) const noexcept {
        std::size_t off = 0;
        for (; i > 0; --i) off += 1u + at(off);
        return wire().subspan(off + 1, at(off));
    }

    /// True when this name equals zone or lies below it (label-wise, case-insensitive).
    constexpr bool is_subdomain_of(const dns_name& zone) const noexcept {
        if (zone.len_ > len_) return false;
        std::size_t skip = len_ - zone.len_;
        std::size_t off = 0;
        while (off < skip) off += 1u + at(off);
        if (off != skip) return false;
        for (std::size_t k = 0; k < zone.len_; ++k)
            if (lower(at(skip + k)) != lower(zone.at(k))) return false;
        return true;
    }

    /// Text form as dig prints it (without the final dot; "." for the root): '.', '\\',
    /// '"', '(', ')', ';', '@', '$' escaped with a backslash, other bytes outside
    /// 0x21-0x7E as \DDD (RFC 1035 5.1).
    std::string to_string() const {
        std::string s;
        write_text(std::back_inserter(s));
        return s;
    }
    template <class Out>
    Out write_text(Out out) const {
        if (is_root()) {
            *out++ = '.';
            return out;
        }
        std::size_t off = 0;
        while (at(off) != 0) {
            if (off != 0) *out++ = '.';
            std::size_t len = at(off);
            for (std::size_t k = 1; k <= len; ++k) {
                std::uint8_t b = at(off + k);
                char c = static_cast<char>(b);
                if (b <= 0x20 || b >= 0x7F) {
                    out = fmt::format_to(out, "\\{:03}", b);
                    continue;
                }
                switch (c) {
                    case '.':
                    case '\\':
                    case '"':
                    case '(':
                    case ')':
                    case ';':
                    case '@':
                    case '$': *out++ = '\\'; break;
                    default: break;
                }
                *out++ = c;
            }
            off += 1 + len;
        }
        return out;
    }

    friend constexpr bool operator==(const dns_name& a, const dns_name& b) noexcept {
        if (a.len_ != b.len_) return false;
        // Length bytes are at most 63 and so never inside 'A'..'Z': lowering them is harmless.
        for (std::size_t k = 0; k < a.len_; ++k)
            if (lower(a.at(k)) != lower(b.at(k))) return false;
        return true;
    }

    static constexpr std::uint8_t lower(std::uint8_t c) noexcept {
        return (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + ('a' - 'A')) : c;
    }

private:
    static constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
    constexpr std::uint8_t at(std::size_t i) const noexcept { return u8(wire_[i]); }

    std::array<std::byte, max_wire_len> wire_{};
    std::uint8_t len_ = 1;
};

/// A name decoded from a message and the offset just after it at the place it was read
/// (after the first pointer when the name is compressed).
struct dns_name_read {
    dns_name name;
    std::size_t end = 0;
};

/// At most this many compression pointers are followed for one name (a 255-byte name has
/// at most 127 labels); a longer chain is reported as a loop.
inline constexpr std::size_t dns_max_pointer_hops = 127;

namespace detail {
/// The walk behind read_dns_name() and scan_dns_name(): follows labels and pointers from
/// start, checks everything read_dns_name() documents, and hands each label to on_label
/// (which returns result<void>; its error ends the walk). Returns the offset just after the
/// name at the place it was read.
template <class OnLabel>
constexpr result<std::size_t> walk_dns_name(bytes_view message, std::size_t start, OnLabel&& on_label) noexcept {
    // The byte ranges read so far, one per pointer followed; only [0, hops) is ever read,
    // so the array is left uninitialised (zeroing 2 KiB per name dominated DNS parsing).
    struct segment {
        std::size_t lo, hi;
    };
    std::array<segment, dns_max_pointer_hops> seen;
    std::size_t hops = 0;
    std::size_t end = 0;
    bool jumped = false;
    std::size_t off = start;
    std::size_t seg_start = start;
    for (;;) {
        if (off >= message.size()) return fail(layer::dns, errc::truncated, "name");
        std::uint8_t len = load_u8(message, off);
        std::uint8_t kind = len & 0xC0;
        if (kind == 0xC0) {
            if (off + 1 >= message.size()) return fail(layer::dns, errc::truncated, "name");
            std::size_t target = load_be16(message, off) & 0x3FFFu;
            if (!jumped) {
                end = off + 2;
                jumped = true;
            }
            if (target >= start || target >= off) return fail(layer::dns, errc::bad_pointer, "pointer");
            if (hops == dns_max_pointer_hops) return fail(layer::dns, errc::loop, "pointer");
            seen[hops++] = {seg_start, off + 2};
            for (std::size_t k = 0; k < hops; ++k)
                if (target >= seen[k].lo && target < seen[k].hi) return fail(layer::dns, errc::loop, "pointer");
            off = target;
            seg_start = target;
            continue;
        }
        if (kind != 0) return fail(layer::dns, errc::bad_value, "label");
        if (len == 0) {
            if (!jumped) end = off + 1;
            return end;
        }
        if (!in_bounds(message.size(), off + 1, len)) return fail(layer::dns, errc::truncated, "name");
        if (auto r = on_label(message.subspan(off + 1, len)); !r) return unexpected(r.error());
        off += 1u + len;
    }
}
}  // namespace detail

/// Decodes the name at offset start of message (RFC 1035 4.1.4). Errors: dns.name:
/// truncated; dns.label: bad value (label types 0x40 and 0x80, RFC 1035 4.1.4 / RFC 6891
/// 5); dns.name: too long (over 255 bytes); dns.pointer: bad pointer (pointing at or after
/// the start of the name being read or at or after the pointer itself, which includes
/// forward, self and out-of-message pointers); dns.pointer: pointer loop (the chain comes
/// back to bytes it has read, or has more than dns_max_pointer_hops hops).
constexpr result<dns_name_read> read_dns_name(bytes_view message, std::size_t start) noexcept {
    dns_name_read out;
    auto end = detail::walk_dns_name(message, start, [&](bytes_view label) { return out.name.append_label(label); });
    if (!end) return unexpected(end.error());
    out.end = *end;
    return out;
}

/// Where a name ends and how long its uncompressed wire form is, without building it.
struct dns_name_extent {
    std::size_t end = 0;       // as dns_name_read::end
    std::size_t wire_len = 1;  // as dns_name::wire_len(): 1 for the root
};

/// Checks the name at offset start exactly as read_dns_name() does (same errors in the
/// same order) without copying its labels: what dns_view::parse() needs to walk a message.
constexpr result<dns_name_extent> scan_dns_name(bytes_view message, std::size_t start) noexcept {
    dns_name_extent out;
    // Labels reaching on_label are 1..63 bytes (the length byte's top bits are 00 and it
    // is not 0), so of dns_name::append_label()'s checks only the total length can fail.
    auto end = detail::walk_dns_name(message, start, [&](bytes_view label) -> result<void> {
        if (out.wire_len + 1 + label.size() > dns_name::max_wire_len) return fail(layer::dns, errc::too_long, "name");
        out.wire_len += 1 + label.size();
        return {};
    });
    if (!end) return unexpected(end.error());
    out.end = *end;
    return out;
}

// ---------------------------------------------------------------------------------------
// Header (RFC 1035 4.1.1, RFC 4035 3.2)
// ---------------------------------------------------------------------------------------

/// The 12-byte header's ID and flags; the counts live in dns_view and in the repr's
/// section sizes.
struct dns_header {
    static constexpr std::size_t header_len = 12;
    struct field {
        static constexpr std::size_t id = 0, flags = 2, qdcount = 4, ancount = 6, nscount = 8, arcount = 10;
    };

    std::uint16_t id = 0;
    bool qr = false;          // response
    std::uint8_t opcode = 0;  // 4 bits
    bool aa = false;          // authoritative answer
    bool tc = false;          // truncated
    bool rd = false;          // recursion desired
    bool ra = false;          // recursion available
    bool z = false;           // reserved, must be zero on send
    bool ad = false;          // authentic data (RFC 4035 3.2.3)
    bool cd = false;          // checking disabled (RFC 4035 3.2.2)
    std::uint8_t rcode = 0;   // 4 bits (the low bits of the extended RCODE with EDNS)

    constexpr std::uint16_t flags() const noexcept {
        return static_cast<std::uint16_t>((qr ? 0x8000 : 0) | ((opcode & 0xF) << 11) | (aa ? 0x0400 : 0) | (tc ? 0x0200 : 0) |
                                          (rd ? 0x0100 : 0) | (ra ? 0x0080 : 0) | (z ? 0x0040 : 0) | (ad ? 0x0020 : 0) |
                                          (cd ? 0x0010 : 0) | (rcode & 0xF));
    }
    static constexpr dns_header from_flags(std::uint16_t id, std::uint16_t f) noexcept {
        dns_header h;
        h.id = id;
        h.qr = (f & 0x8000) != 0;
        h.opcode = static_cast<std::uint8_t>((f >> 11) & 0xF);
        h.aa = (f & 0x0400) != 0;
        h.tc = (f & 0x0200) != 0;
        h.rd = (f & 0x0100) != 0;
        h.ra = (f & 0x0080) != 0;
        h.z = (f & 0x0040) != 0;
        h.ad = (f & 0x0020) != 0;
        h.cd = (f & 0x0010) != 0;
        h.rcode = static_cast<std::uint8_t>(f & 0xF);
        return h;
    }
    /// Reads only the first 12 bytes: enough to answer FORMERR to a malformed query.
    static constexpr result<dns_header> parse(bytes_view b) noexcept {
        if (b.size() < header_len) return fail(layer::dns, errc::truncated, "header");
        return from_flags(load_be16(b, field::id), load_be16(b, field::flags));
    }

    friend constexpr bool operator==(const dns_header&, const dns_header&) = default;
};

// ---------------------------------------------------------------------------------------
// Questions and records (RFC 1035 4.1.2, 4.1.3)
// ---------------------------------------------------------------------------------------

namespace detail {
constexpr std::string_view dns_section_field(dns_section s) noexcept { return to_string(s); }
}  // namespace detail

/// A question: a value (the name is decoded), usable on both the parsing and building sides.
struct dns_question {
    dns_name name;
    std::uint16_t type = dns_type::a;
    std::uint16_t qclass = dns_class::in;

    static constexpr std::size_t fixed_len = 4;

    /// Reads the question at off and advances off past it.
    static constexpr result<dns_question> read(bytes_view message, std::size_t& off, dns_section s) noexcept {
        if (off >= message.size()) return fail(layer::dns, errc::truncated, detail::dns_section_field(s));
        auto n = read_dns_name(message, off);
        if (!n) return unexpected(n.error());
        if (!in_bounds(message.size(), n->end, fixed_len)) return fail(layer::dns, errc::truncated, detail::dns_section_field(s));
        dns_question q{n->name, load_be16(message, n->end), load_be16(message, n->end + 2)};
        off = n->end + fixed_len;
        return q;
    }

    constexpr std::size_t buffer_len() const noexcept { return name.wire_len() + fixed_len; }

    friend constexpr bool operator==(const dns_question&, const dns_question&) = default;
};

/// A resource record read from a message: the owner name decoded, rdata as a view into
/// the message (names inside rdata may point anywhere earlier in the message, so the
/// typed decoders take the record with its message).
struct dns_record {
    dns_name name;
    std::uint16_t type = 0;
    std::uint16_t rclass = 0;
    std::uint32_t ttl = 0;
    bytes_view rdata{};
    std::size_t offset = 0;        // where the record starts in the message
    std::size_t rdata_offset = 0;  // where rdata starts in the message
    bytes_view message{};
    dns_section section = dns_section::answer;

    static constexpr std::size_t fixed_len = 10;  // TYPE, CLASS, TTL, RDLENGTH

    /// Reads the record at off and advances off past it. Errors: dns.<section>: truncated
    /// (nothing or not the fixed fields left), name errors, dns.rdlength: bad length.
    static constexpr result<dns_record> read(bytes_view message, std::size_t& off, dns_section s) noexcept {
        if (off >= message.size()) return fail(layer::dns, errc::truncated, detail::dns_section_field(s));
        auto n = read_dns_name(message, off);
        if (!n) return unexpected(n.error());
        std::size_t p = n->end;
        if (!in_bounds(message.size(), p, fixed_len)) return fail(layer::dns, errc::truncated, detail::dns_section_field(s));
        dns_record r;
        r.name = n->name;
        r.type = load_be16(message, p);
        r.rclass = load_be16(message, p + 2);
        r.ttl = load_be32(message, p + 4);
        std::size_t rdlength = load_be16(message, p + 8);
        if (!in_bounds(message.size(), p + fixed_len, rdlength)) return fail(layer::dns, errc::bad_length, "rdlength");
        r.offset = off;
        r.rdata_offset = p + fixed_len;
        r.rdata = message.subspan(r.rdata_offset, rdlength);
        r.message = message;
        r.section = s;
        off = r.rdata_offset + rdlength;
        return r;
    }

    constexpr std::size_t rdata_end() const noexcept { return rdata_offset + rdata.size(); }
};

/// The layout of one section: `count` entries from an offset of the whole message (names
/// may point anywhere before them); Entry::read decodes one and moves the offset. A section
/// that ends before its count is dns.<section>: truncated.
template <class Entry>
struct dns_entry_layout {
    using value_type = result<Entry>;
    struct cursor {
        std::size_t off = 0;   // just past the last entry read
        std::size_t left = 0;  // entries still to read
        dns_section section = dns_section::question;
    };
    static constexpr bool next(bytes_view message, cursor& c, value_type& out) noexcept {
        if (c.left == 0) return false;
        --c.left;
        out = Entry::read(message, c.off, c.section);
        return true;
    }
};

/// Iterates the entries of one section; yields result<Entry> and ends after the first
/// error.
template <class Entry>
using dns_entry_iterator = tlv_iterator<dns_entry_layout<Entry>>;

/// A section as a range: `for (const auto& rr : view.answers()) if (rr) use(*rr);`
template <class Entry>
class dns_section_range : public tlv_range<dns_entry_layout<Entry>> {
public:
    constexpr dns_section_range() noexcept = default;
    constexpr dns_section_range(bytes_view message, std::size_t off, std::size_t count, dns_section s) noexcept
            : tlv_range<dns_entry_layout<Entry>>(message, {off, count, s}), count_(count), section_(s) {}
    constexpr std::size_t size() const noexcept { return count_; }
    constexpr bool empty() const noexcept { return count_ == 0; }
    constexpr dns_section section() const noexcept { return section_; }

private:
    std::size_t count_ = 0;
    dns_section section_ = dns_section::question;
};

// ---------------------------------------------------------------------------------------
// Typed rdata (RFC 1035 3.3, 3.4; RFC 3596; RFC 2782; RFC 6891)
// ---------------------------------------------------------------------------------------

namespace detail {
/// A name that must fill the rest of the record's rdata exactly (NS, CNAME, PTR, the end
/// of MX); errors name the type.
constexpr result<dns_name_read> dns_rdata_name(const dns_record& r, std::size_t off, std::string_view type_field) noexcept {
    if (off >= r.rdata_end()) return fail(layer::dns, errc::bad_length, type_field);
    auto n = read_dns_name(r.message.first(r.rdata_end()), off);
    if (!n) {
        if (n.error().what == errc::truncated) return fail(layer::dns, errc::bad_length, type_field);
        return unexpected(n.error());
    }
    return n;
}
}  // namespace detail

struct dns_a {
    ipv4_address address{};
    static constexpr std::uint16_t type = dns_type::a;
    static constexpr result<dns_a> parse(const dns_record& r) noexcept {
        if (r.rdata.size() != 4) return fail(layer::dns, errc::bad_length, "a");
        return dns_a{ipv4_address::load(r.rdata)};
    }
    friend constexpr bool operator==(const dns_a&, const dns_a&) = default;
};

struct dns_aaaa {
    ipv6_address address{};
    static constexpr std::uint16_t type = dns_type::aaaa;
    static constexpr result<dns_aaaa> parse(const dns_record& r) noexcept {
        if (r.rdata.size() != 16) return fail(layer::dns, errc::bad_length, "aaaa");
        return dns_aaaa{ipv6_address::load(r.rdata)};
    }
    friend constexpr bool operator==(const dns_aaaa&, const dns_aaaa&) = default;
};

/// NS, CNAME and PTR: one name filling the rdata (compressible, RFC 1035 3.3).
template <std::uint16_t Type>
struct dns_single_name {
    dns_name target;
    static constexpr std::uint16_t type = Type;
    static constexpr std::string_view type_field() noexcept {
        return Type == dns_type::ns ? "ns" : Type == dns_type::cname ? "cname" : "ptr";
    }
    static constexpr result<dns_single_name> parse(const dns_record& r) noexcept {
        auto n = detail::dns_rdata_name(r, r.rdata_offset, type_field());
        if (!n) return unexpected(n.error());
        if (n->end != r.rdata_end()) return fail(layer::dns, errc::bad_length, type_field());
        return dns_single_name{n->name};
    }
    friend constexpr bool operator==(const dns_single_name&, const dns_single_name&) = default;
};
using dns_ns = dns_single_name<dns_type::ns>;
using dns_cname = dns_single_name<dns_type::cname>;
using dns_ptr = dns_single_name<dns_type::ptr>;

struct dns_mx {
    std::uint16_t preference = 0;
    dns_name exchange;
    static constexpr std::uint16_t type = dns_type::mx;
    static constexpr result<dns_mx> parse(const dns_record& r) noexcept {
        if (r.rdata.size() < 3) return fail(layer::dns, errc::bad_length, "mx");
        auto n = detail::dns_rdata_name(r, r.rdata_offset + 2, "mx");
        if (!n) return unexpected(n.error());
        if (n->end != r.rdata_end()) return fail(layer::dns, errc::bad_length, "mx");
        return dns_mx{load_be16(r.rdata, 0), n->name};
    }
    friend constexpr bool operator==(const dns_mx&, const dns_mx&) = default;
};

/// SRV (RFC 2782). The target is never compressed when emitted; a compressed target is
/// accepted on parse.
struct dns_srv {
    std::uint16_t priority = 0;
    std::uint16_t weight = 0;
    std::uint16_t port = 0;
    dns_name target;
    static constexpr std::uint16_t type = dns_type::srv;
    static constexpr result<dns_srv> parse(const dns_record& r) noexcept {
        if (r.rdata.size() < 7) return fail(layer::dns, errc::bad_length, "srv");
        auto n = detail::dns_rdata_name(r, r.rdata_offset + 6, "srv");
        if (!n) return unexpected(n.error());
        if (n->end != r.rdata_end()) return fail(layer::dns, errc::bad_length, "srv");
        return dns_srv{load_be16(r.rdata, 0), load_be16(r.rdata, 2), load_be16(r.rdata, 4), n->name};
    }
    friend constexpr bool operator==(const dns_srv&, const dns_srv&) = default;
};

struct dns_soa {
    dns_name mname;  // primary server
    dns_name rname;  // responsible mailbox
    std::uint32_t serial = 0;
    std::uint32_t refresh = 0;
    std::uint32_t retry = 0;
    std::uint32_t expire = 0;
    std::uint32_t minimum = 0;
    static constexpr std::uint16_t type = dns_type::soa;
    static constexpr result<dns_soa> parse(const dns_record& r) noexcept {
        auto m = detail::dns_rdata_name(r, r.rdata_offset, "soa");
        if (!m) return unexpected(m.error());
        auto n = detail::dns_rdata_name(r, m->end, "soa");
        if (!n) return unexpected(n.error());
        if (n->end + 20 != r.rdata_end()) return fail(layer::dns, errc::bad_length, "soa");
        std::size_t p = n->end - r.rdata_offset;
        return dns_soa{m->name,
                       n->name,
                       load_be32(r.rdata, p),
                       load_be32(r.rdata, p + 4),
                       load_be32(r.rdata, p + 8),
                       load_be32(r.rdata, p + 12),
                       load_be32(r.rdata, p + 16)};
    }
    friend constexpr bool operator==(const dns_soa&, const dns_soa&) = default;
};

/// The layout of <character-string>s (a length byte then that many bytes, RFC 1035 3.3);
/// yields result<bytes_view>, dns.txt: bad length when a string runs past the data.
struct dns_character_string_layout {
    using value_type = result<bytes_view>;
    struct cursor {
        std::size_t off = 0;
    };
    static constexpr bool next(bytes_view data, cursor& c, value_type& out) noexcept {
        if (c.off >= data.size()) return false;
        const std::size_t len = load_u8(data, c.off);
        if (!in_bounds(data.size(), c.off + 1, len)) {
            out = fail(layer::dns, errc::bad_length, "txt");
            return true;
        }
        out = data.subspan(c.off + 1, len);
        c.off += 1 + len;
        return true;
    }
};
using dns_character_strings = tlv_range<dns_character_string_layout>;

/// TXT rdata without copying: one or more character-strings filling the rdata.
class dns_txt_view {
public:
    static constexpr std::uint16_t type = dns_type::txt;
    static constexpr result<dns_txt_view> parse(const dns_record& r) noexcept {
        if (r.rdata.empty()) return fail(layer::dns, errc::bad_length, "txt");
        if (auto ok = dns_character_strings(r.rdata).validate(); !ok) return unexpected(ok.error());
        return dns_txt_view(r.rdata);
    }
    constexpr tlv_iterator<dns_character_string_layout> begin() const noexcept { return dns_character_strings(data_).begin(); }
    constexpr std::default_sentinel_t end() const noexcept { return {}; }
    constexpr bytes_view bytes() const noexcept { return data_; }

private:
    constexpr explicit dns_txt_view(bytes_view d) noexcept : data_(d) {}
    bytes_view data_;
};

/// One EDNS option (RFC 6891 6.1.2): code and data.
struct dns_edns_option {
    std::uint16_t code = 0;
    bytes_view data{};
};

/// The layout of EDNS options (code, length, data); yields result<dns_edns_option>,
/// dns.opt: bad option when an option header or its data runs past the rdata.
struct dns_edns_option_layout {
    using value_type = result<dns_edns_option>;
    struct cursor {
        std::size_t off = 0;
    };
    static constexpr bool next(bytes_view data, cursor& c, value_type& out) noexcept {
        if (c.off >= data.size()) return false;
        if (!in_bounds(data.size(), c.off, 4)) {
            out = fail(layer::dns, errc::bad_option, "opt");
            return true;
        }
        const std::uint16_t code = load_be16(data, c.off);
        const std::size_t len = load_be16(data, c.off + 2);
        if (!in_bounds(data.size(), c.off + 4, len)) {
            out = fail(layer::dns, errc::bad_option, "opt");
            return true;
        }
        out = dns_edns_option{code, data.subspan(c.off + 4, len)};
        c.off += 4 + len;
        return true;
    }
};
using dns_edns_options = tlv_range<dns_edns_option_layout>;

/// The OPT pseudo-RR (RFC 6891 6.1.2, 6.1.3): CLASS holds the requestor's UDP payload
/// size, TTL holds the extended RCODE (high 8 bits), the version and the DO flag.
struct dns_opt {
    std::uint16_t udp_payload_size = 0;
    std::uint8_t extended_rcode = 0;  // the upper 8 bits of the 12-bit RCODE
    std::uint8_t version = 0;
    bool dnssec_ok = false;
    std::uint16_t z = 0;  // the other 15 flag bits
    bytes_view options{};
    static constexpr std::uint16_t type = dns_type::opt;

    /// Errors: dns.opt: bad value (owner not the root), dns.opt: bad option.
    static constexpr result<dns_opt> parse(const dns_record& r) noexcept {
        return parse(r.name.is_root(), r.rclass, r.ttl, r.rdata);
    }
    /// The same from the record's fields (what dns_view::parse() has without decoding the
    /// owner name).
    static constexpr result<dns_opt> parse(bool owner_is_root, std::uint16_t rclass, std::uint32_t ttl,
                                           bytes_view rdata) noexcept {
        if (!owner_is_root) return fail(layer::dns, errc::bad_value, "opt");
        if (auto ok = dns_edns_options(rdata).validate(); !ok) return unexpected(ok.error());
        return dns_opt{rclass,
                       static_cast<std::uint8_t>(ttl >> 24),
                       static_cast<std::uint8_t>((ttl >> 16) & 0xFF),
                       (ttl & 0x8000u) != 0,
                       static_cast<std::uint16_t>(ttl & 0x7FFFu),
                       rdata};
    }
    /// RFC 6891 6.2.3: values below 512 are treated as 512.
    constexpr std::size_t effective_udp_payload_size() const noexcept {
        return std::max<std::size_t>(udp_payload_size, dns_udp_max);
    }
    /// The 12-bit RCODE from this record and the header's 4 bits (RFC 6891 6.1.3).
    constexpr std::uint16_t full_rcode(std::uint8_t header_rcode) const noexcept {
        return static_cast<std::uint16_t>((extended_rcode << 4) | (header_rcode & 0xF));
    }
    constexpr std::uint32_t ttl() const noexcept {
        return (std::uint32_t{extended_rcode} << 24) | (std::uint32_t{version} << 16) | (dnssec_ok ? 0x8000u : 0u) |
               (z & 0x7FFFu);
    }
    constexpr tlv_iterator<dns_edns_option_layout> begin() const noexcept { return dns_edns_options(options).begin(); }
    constexpr std::default_sentinel_t end() const noexcept { return {}; }
};

// ---------------------------------------------------------------------------------------
// The message view
// ---------------------------------------------------------------------------------------

class dns_view {
public:
    static constexpr std::size_t header_len = dns_header::header_len;
    using field = dns_header::field;
    static_assert(header_len == 12);

    /// Walks the whole message once: header (dns.header: truncated), every question and
    /// record with the counts the header gives (dns.<section>: truncated when fewer are
    /// present), names and rdlengths, and OPT (RFC 6891 6.1.1: only in the additional
    /// section and at most once, else dns.opt: bad value). Bytes after the last record
    /// are allowed and exposed as trailing().
    static constexpr result<dns_view> parse(bytes_view b) noexcept {
        // One named result filled in place and returned on every path (so it is the
        // caller's object): building a view and then copying it into the result stalled on
        // store forwarding for every message.
        result<dns_view> out = dns_view(b);
        if (auto r = out->walk(); !r) out = unexpected(r.error());
        return out;
    }

    constexpr dns_header header() const noexcept {
        return dns_header::from_flags(load_be16(b_, field::id), load_be16(b_, field::flags));
    }
    constexpr std::uint16_t id() const noexcept { return load_be16(b_, field::id); }
    constexpr std::uint16_t flags() const noexcept { return load_be16(b_, field::flags); }
    constexpr bool is_response() const noexcept { return (flags() & 0x8000) != 0; }
    constexpr bool truncated() const noexcept { return (flags() & 0x0200) != 0; }
    constexpr std::uint8_t rcode() const noexcept { return static_cast<std::uint8_t>(flags() & 0xF); }
    /// The 12-bit RCODE when an OPT record is present, else the header's 4 bits.
    constexpr std::uint16_t full_rcode() const noexcept { return opt_ ? opt_->full_rcode(rcode()) : rcode(); }

    constexpr std::uint16_t qdcount() const noexcept { return load_be16(b_, field::qdcount); }
    constexpr std::uint16_t ancount() const noexcept { return load_be16(b_, field::ancount); }
    constexpr std::uint16_t nscount() const noexcept { return load_be16(b_, field::nscount); }
    constexpr std::uint16_t arcount() const noexcept { return load_be16(b_, field::arcount); }
    constexpr std::uint16_t count(dns_section s) const noexcept {
        return load_be16(b_, field::qdcount + 2 * static_cast<std::size_t>(s));
    }

    constexpr dns_section_range<dns_question> questions() const noexcept {
        return {b_, header_len, qdcount(), dns_section::question};
    }
    /// Precondition: s is not dns_section::question.
    constexpr dns_section_range<dns_record> records(dns_section s) const noexcept {
        return {b_, start_[static_cast<std::size_t>(s)], count(s), s};
    }
    constexpr dns_section_range<dns_record> answers() const noexcept { return records(dns_section::answer); }
    constexpr dns_section_range<dns_record> authority() const noexcept { return records(dns_section::authority); }
    constexpr dns_section_range<dns_record> additional() const noexcept { return records(dns_section::additional); }

    /// The first question (what `vnet decode` prints as dns.qname), if any.
    constexpr std::optional<dns_question> first_question() const noexcept {
        if (qdcount() == 0) return std::nullopt;
        std::size_t off = header_len;
        auto q = dns_question::read(b_, off, dns_section::question);
        if (!q) return std::nullopt;
        return *q;
    }
    /// The OPT record of the additional section (RFC 6891), if any.
    constexpr const std::optional<dns_opt>& edns() const noexcept { return opt_; }

    /// The message up to the end of the last record; trailing() is what follows.
    constexpr std::size_t size() const noexcept { return end_; }
    constexpr bytes_view trailing() const noexcept { return b_.subspan(end_); }
    constexpr bytes_view bytes() const noexcept { return b_; }

private:
    /// The checks parse() documents, in the same order as reading every entry with
    /// dns_question::read() and dns_record::read(), but names are only scanned, not
    /// copied. Fills start_, end_ and opt_.
    constexpr result<void> walk() noexcept {
        const bytes_view b = b_;
        if (b.size() < header_len) return fail(layer::dns, errc::truncated, "header");
        std::size_t off = header_len;
        for (std::size_t k = qdcount(); k > 0; --k) {
            auto e = scan_entry(b, off, dns_section::question, dns_question::fixed_len);
            if (!e) return unexpected(e.error());
            off = e->next;
        }
        constexpr std::array<dns_section, 3> rr_sections{dns_section::answer, dns_section::authority, dns_section::additional};
        for (dns_section s : rr_sections) {
            start_[static_cast<std::size_t>(s)] = off;
            for (std::size_t k = count(s); k > 0; --k) {
                auto e = scan_entry(b, off, s, dns_record::fixed_len);
                if (!e) return unexpected(e.error());
                if (load_be16(b, e->fixed) == dns_type::opt) {
                    if (s != dns_section::additional || opt_) return fail(layer::dns, errc::bad_value, "opt");
                    std::size_t p = e->fixed;
                    auto o = dns_opt::parse(e->owner_wire_len == 1, load_be16(b, p + 2), load_be32(b, p + 4),
                                            b.subspan(p + dns_record::fixed_len, load_be16(b, p + 8)));
                    if (!o) return unexpected(o.error());
                    opt_.emplace(*o);
                }
                off = e->next;
            }
        }
        end_ = off;
        return {};
    }

    struct entry_extent {
        std::size_t fixed = 0;  // where TYPE starts (after the owner name)
        std::size_t next = 0;   // where the next entry starts
        std::size_t owner_wire_len = 1;
    };
    /// One question (fixed_len 4) or record (fixed_len 10) at off, with the errors of
    /// dns_question::read() / dns_record::read().
    static constexpr result<entry_extent> scan_entry(bytes_view m, std::size_t off, dns_section s,
                                                     std::size_t fixed_len) noexcept {
        if (off >= m.size()) return fail(layer::dns, errc::truncated, detail::dns_section_field(s));
        auto n = scan_dns_name(m, off);
        if (!n) return unexpected(n.error());
        if (!in_bounds(m.size(), n->end, fixed_len)) return fail(layer::dns, errc::truncated, detail::dns_section_field(s));
        if (fixed_len == dns_question::fixed_len) return entry_extent{n->end, n->end + fixed_len, n->wire_len};
        std::size_t rdlength = load_be16(m, n->end + 8);
        if (!in_bounds(m.size(), n->end + fixed_len, rdlength)) return fail(layer::dns, errc::bad_length, "rdlength");
        return entry_extent{n->end, n->end + fixed_len + rdlength, n->wire_len};
    }

    constexpr explicit dns_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
    std::array<std::size_t, 4> start_{header_len, header_len, header_len, header_len};
    std::size_t end_ = header_len;
    std::optional<dns_opt> opt_{};
};

// ---------------------------------------------------------------------------------------
// DNS over TCP (RFC 1035 4.2.2): every message is preceded by its 2-byte length.
// ---------------------------------------------------------------------------------------

inline constexpr std::size_t dns_tcp_length_len = 2;

struct dns_tcp_frame {
    bytes_view message;    // without the length prefix
    std::size_t consumed;  // prefix plus message: where the next frame starts in the stream
};

/// The first complete message of a TCP byte stream. dns.tcp_length: truncated when the
/// stream does not hold the prefix and the whole message yet (read more and retry).
constexpr result<dns_tcp_frame> split_dns_tcp(bytes_view stream) noexcept {
    if (stream.size() < dns_tcp_length_len) return fail(layer::dns, errc::truncated, "tcp_length");
    std::size_t len = load_be16(stream, 0);
    if (!in_bounds(stream.size(), dns_tcp_length_len, len)) return fail(layer::dns, errc::truncated, "tcp_length");
    return dns_tcp_frame{stream.subspan(dns_tcp_length_len, len), dns_tcp_length_len + len};
}

/// Writes the 2-byte length prefix of a message_len-byte message at the start of out.
constexpr result<std::size_t> store_dns_tcp_length(bytes_span out, std::size_t message_len) noexcept {
    if (message_len > 0xFFFF) return fail(layer::dns, errc::too_long, "tcp_length");
    if (out.size() < dns_tcp_length_len) return fail(layer::dns, errc::buffer_too_small, "tcp_length");
    store_be16(out, 0, static_cast<std::uint16_t>(message_len));
    return dns_tcp_length_len;
}

// ---------------------------------------------------------------------------------------
// Building side
// ---------------------------------------------------------------------------------------

/// Rdata of a type this codec does not decode (or OPT options), copied as is. RFC 3597 4:
/// such rdata holds no compression pointers.
struct dns_raw_rdata {
    std::vector<std::byte> data;
    friend bool operator==(const dns_raw_rdata&, const dns_raw_rdata&) = default;
};

/// TXT rdata as owned strings (each at most 255 bytes, at least one string).
struct dns_txt {
    std::vector<std::string> strings;
    static constexpr std::uint16_t type = dns_type::txt;
    static result<dns_txt> parse(const dns_record& r) {
        auto v = dns_txt_view::parse(r);
        if (!v) return unexpected(v.error());
        dns_txt t;
        for (const auto& s : *v) t.strings.emplace_back(reinterpret_cast<const char*>(s->data()), s->size());
        return t;
    }
    friend bool operator==(const dns_txt&, const dns_txt&) = default;
};

using dns_rdata = std::variant<dns_raw_rdata, dns_a, dns_aaaa, dns_ns, dns_cname, dns_ptr, dns_mx, dns_txt, dns_srv, dns_soa>;

/// A record to emit. For the typed alternatives of rdata, type must be that alternative's
/// type (emit checks: dns.rdata: bad value).
struct dns_record_repr {
    dns_name name;
    std::uint16_t type = 0;
    std::uint16_t rclass = dns_class::in;
    std::uint32_t ttl = 0;
    dns_rdata rdata;

    /// A record of class IN whose type follows from the rdata.
    template <class Rdata>
    static dns_record_repr make(const dns_name& owner, std::uint32_t ttl, Rdata rd) {
        return dns_record_repr{owner, Rdata::type, dns_class::in, ttl, dns_rdata(std::move(rd))};
    }

    /// An OPT pseudo-RR (RFC 6891 6.1.2) with the given options (already encoded).
    static dns_record_repr make_opt(std::uint16_t udp_payload_size, bool dnssec_ok = false, std::uint8_t extended_rcode = 0,
                                    std::uint8_t version = 0, std::vector<std::byte> options = {}) {
        dns_opt o{udp_payload_size, extended_rcode, version, dnssec_ok, 0, {}};
        return dns_record_repr{dns_name::root(), dns_type::opt, udp_payload_size, o.ttl(),
                               dns_rdata(dns_raw_rdata{std::move(options)})};
    }

    /// Decodes the rdata of the types in dns_rdata (so that compressed names inside it
    /// are expanded); other types (and OPT) are kept raw. Typed decoding errors pass through.
    static result<dns_record_repr> parse(const dns_record& r) {
        dns_record_repr out{r.name, r.type, r.rclass, r.ttl, dns_rdata()};
        auto take = [&out](auto decoded) -> result<dns_record_repr> {
            if (!decoded) return unexpected(decoded.error());
            out.rdata = std::move(*decoded);
            return out;
        };
        switch (r.type) {
            case dns_type::a: return take(dns_a::parse(r));
            case dns_type::aaaa: return take(dns_aaaa::parse(r));
            case dns_type::ns: return take(dns_ns::parse(r));
            case dns_type::cname: return take(dns_cname::parse(r));
            case dns_type::ptr: return take(dns_ptr::parse(r));
            case dns_type::mx: return take(dns_mx::parse(r));
            case dns_type::txt: return take(dns_txt::parse(r));
            case dns_type::srv: return take(dns_srv::parse(r));
            case dns_type::soa: return take(dns_soa::parse(r));
            default: out.rdata = dns_raw_rdata{std::vector<std::byte>(r.rdata.begin(), r.rdata.end())}; return out;
        }
    }

    /// Uncompressed size on the wire.
    std::size_t buffer_len() const {
        return name.wire_len() + dns_record::fixed_len + std::visit([](const auto& rd) { return rdata_len(rd); }, rdata);
    }

    friend bool operator==(const dns_record_repr&, const dns_record_repr&) = default;

private:
    static std::size_t rdata_len(const dns_raw_rdata& r) { return r.data.size(); }
    static std::size_t rdata_len(const dns_a&) { return 4; }
    static std::size_t rdata_len(const dns_aaaa&) { return 16; }
    template <std::uint16_t T>
    static std::size_t rdata_len(const dns_single_name<T>& r) {
        return r.target.wire_len();
    }
    static std::size_t rdata_len(const dns_mx& r) { return 2 + r.exchange.wire_len(); }
    static std::size_t rdata_len(const dns_txt& r) {
        std::size_t n = 0;
        for (const auto& s : r.strings) n += 1 + s.size();
        return n;
    }
    static std::size_t rdata_len(const dns_srv& r) { return 6 + r.target.wire_len(); }
    static std::size_t rdata_len(const dns_soa& r) { return r.mname.wire_len() + r.rname.wire_len() + 20; }
};

enum class dns_compression : std::uint8_t { on, off };

namespace detail {

/// Writes a message into a caller's buffer up to a limit, remembering where each name
/// suffix was written for RFC 1035 4.1.4 compression.
class dns_writer {
public:
    /// A pointer holds 14 bits: suffixes written past this offset cannot be targets.
    static constexpr std::size_t max_pointer_target = 0x3FFF;

    dns_writer(bytes_span out, std::size_t limit, dns_compression c)
            : out_(out), limit_(std::min(limit, out.size())), compress_(c == dns_compression::on) {}

    std::size_t pos() const noexcept { return pos_; }
    bytes_span out() const noexcept { return out_; }

    struct mark {
        std::size_t pos;
        std::size_t suffixes;
    };
    mark save() const noexcept { return {pos_, suffixes_.size()}; }
    void restore(mark m) {
        pos_ = m.pos;
        suffixes_.resize(m.suffixes);
    }

    result<void> room(std::size_t n) const noexcept {
        if (!in_bounds(limit_, pos_, n)) return fail(layer::dns, errc::buffer_too_small, "message");
        return {};
    }
    result<void> u8(std::uint8_t v) {
        if (auto r = room(1); !r) return r;
        store_u8(out_, pos_, v);
        pos_ += 1;
        return {};
    }
    result<void> be16(std::uint16_t v) {
        if (auto r = room(2); !r) return r;
        store_be16(out_, pos_, v);
        pos_ += 2;
        return {};
    }
    result<void> be32(std::uint32_t v) {
        if (auto r = room(4); !r) return r;
        store_be32(out_, pos_, v);
        pos_ += 4;
        return {};
    }
    result<void> zeros(std::size_t n) {
        if (auto r = room(n); !r) return r;
        for (std::size_t k = 0; k < n; ++k) store_u8(out_, pos_ + k, 0);
        pos_ += n;
        return {};
    }
    result<void> raw(bytes_view b) {
        if (auto r = room(b.size()); !r) return r;
        store_bytes(out_, pos_, b);
        pos_ += b.size();
        return {};
    }

    /// Writes name, replacing its longest suffix already written (same bytes) by a
    /// pointer when compressible; every suffix written out in full becomes a target.
    result<void> name(const dns_name& n, bool compressible) {
        bytes_view w = n.wire();
        std::size_t name_start = pos_;
        std::size_t i = 0;
        while (u8_at(w, i) != 0) {
            bytes_view suffix = w.subspan(i);
            if (compress_ && compressible) {
                for (const auto& s : suffixes_) {
                    if (s.offset >= name_start || s.len != suffix.size()) continue;
                    auto prior = read_dns_name(bytes_view(out_.first(pos_)), s.offset);
                    if (prior && equal_bytes(prior->name.wire(), suffix))
                        return be16(static_cast<std::uint16_t>(0xC000u | s.offset));
                }
            }
            std::size_t label_len = 1u + u8_at(w, i);
            if (compress_ && pos_ <= max_pointer_target)
                suffixes_.push_back({static_cast<std::uint16_t>(pos_), static_cast<std::uint16_t>(suffix.size())});
            if (auto r = raw(w.subspan(i, label_len)); !r) return r;
            i += label_len;
        }
        return u8(0);
    }

private:
    static constexpr std::uint8_t u8_at(bytes_view b, std::size_t i) noexcept { return load_u8(b, i); }

    struct suffix_at {
        std::uint16_t offset;
        std::uint16_t len;
    };
    bytes_span out_;
    std::size_t limit_;
    bool compress_;
    std::size_t pos_ = 0;
    std::vector<suffix_at> suffixes_;
};

inline result<void> emit_rdata(dns_writer& w, const dns_raw_rdata& r) { return w.raw(r.data); }
inline result<void> emit_rdata(dns_writer& w, const dns_a& r) { return w.be32(r.address.to_u32()); }
inline result<void> emit_rdata(dns_writer& w, const dns_aaaa& r) {
    std::array<std::byte, 16> b{};
    r.address.store(b);
    return w.raw(b);
}
template <std::uint16_t T>
result<void> emit_rdata(dns_writer& w, const dns_single_name<T>& r) {
    return w.name(r.target, true);
}
inline result<void> emit_rdata(dns_writer& w, const dns_mx& r) {
    if (auto e = w.be16(r.preference); !e) return e;
    return w.name(r.exchange, true);
}
inline result<void> emit_rdata(dns_writer& w, const dns_txt& r) {
    if (r.strings.empty()) return fail(layer::dns, errc::bad_length, "txt");
    for (const auto& s : r.strings) {
        if (s.size() > 255) return fail(layer::dns, errc::too_long, "txt");
        if (auto e = w.u8(static_cast<std::uint8_t>(s.size())); !e) return e;
        if (auto e = w.raw(as_bytes_view(std::string_view(s))); !e) return e;
    }
    return {};
}
inline result<void> emit_rdata(dns_writer& w, const dns_srv& r) {
    if (auto e = w.be16(r.priority); !e) return e;
    if (auto e = w.be16(r.weight); !e) return e;
    if (auto e = w.be16(r.port); !e) return e;
    return w.name(r.target, false);  // RFC 2782: no compression of the target
}
inline result<void> emit_rdata(dns_writer& w, const dns_soa& r) {
    if (auto e = w.name(r.mname, true); !e) return e;
    if (auto e = w.name(r.rname, true); !e) return e;
    for (std::uint32_t v : {r.serial, r.refresh, r.retry, r.expire, r.minimum})
        if (auto e = w.be32(v); !e) return e;
    return {};
}

inline result<void> emit_record(dns_writer& w, const dns_record_repr& rr) {
    bool typed_ok = std::visit(
        [&rr](const auto& rd) {
            using T = std::decay_t<decltype(rd)>;
            if constexpr (std::is_same_v<T, dns_raw_rdata>) return true;
            else return T::type == rr.type;
        },
        rr.rdata);
    if (!typed_ok) return fail(layer::dns, errc::bad_value, "rdata");
    if (auto e = w.name(rr.name, true); !e) return e;
    if (auto e = w.be16(rr.type); !e) return e;
    if (auto e = w.be16(rr.rclass); !e) return e;
    if (auto e = w.be32(rr.ttl); !e) return e;
    std::size_t len_at = w.pos();
    if (auto e = w.be16(0); !e) return e;
    if (auto e = std::visit([&w](const auto& rd) { return emit_rdata(w, rd); }, rr.rdata); !e) return e;
    std::size_t rdlength = w.pos() - len_at - 2;
    if (rdlength > 0xFFFF) return fail(layer::dns, errc::too_long, "rdata");
    store_be16(w.out(), len_at, static_cast<std::uint16_t>(rdlength));
    return {};
}

}  // namespace detail

/// A whole message to build. Name comparison in operator== is case-insensitive (as DNS).
struct dns_message_repr {
    dns_header header;
    std::vector<dns_question> questions;
    std::vector<dns_record_repr> answers;
    std::vector<dns_record_repr> authority;
    std::vector<dns_record_repr> additional;

    static result<dns_message_repr> parse(const dns_view& v) {
        dns_message_repr m;
        m.header = v.header();
        for (const auto& q : v.questions()) {
            if (!q) return unexpected(q.error());
            m.questions.push_back(*q);
        }
        constexpr std::array<dns_section, 3> rr_sections{dns_section::answer, dns_section::authority, dns_section::additional};
        for (dns_section s : rr_sections) {
            for (const auto& r : v.records(s)) {
                if (!r) return unexpected(r.error());
                auto rr = dns_record_repr::parse(*r);
                if (!rr) return unexpected(rr.error());
                m.section(s).push_back(std::move(*rr));
            }
        }
        return m;
    }

    /// Precondition: s is not dns_section::question.
    std::vector<dns_record_repr>& section(dns_section s) {
        return s == dns_section::answer ? answers : s == dns_section::authority ? authority : additional;
    }
    const std::vector<dns_record_repr>& section(dns_section s) const {
        return s == dns_section::answer ? answers : s == dns_section::authority ? authority : additional;
    }

    /// The OPT record of the additional section, if any.
    const dns_record_repr* opt_record() const {
        for (const auto& r : additional)
            if (r.type == dns_type::opt) return &r;
        return nullptr;
    }

    /// Uncompressed size: an upper bound of what emit() writes.
    std::size_t buffer_len() const {
        std::size_t n = dns_header::header_len;
        for (const auto& q : questions) n += q.buffer_len();
        for (const auto* s : {&answers, &authority, &additional})
            for (const auto& r : *s) n += r.buffer_len();
        return n;
    }

    /// Writes the whole message; dns.message: buffer too small when it does not fit.
    result<std::size_t> emit(bytes_span out, dns_compression c = dns_compression::on) const {
        return emit_impl(out, out.size(), c, false);
    }

    /// RFC 2181 section 9: writes header, questions and as many whole answer and
    /// authority records as fit into min(limit, out.size()) bytes and sets TC when one
    /// of them is left out; additional records that do not fit are dropped without TC.
    /// The OPT record is always kept (RFC 6891 7). The counts say what was written.
    result<std::size_t> emit_truncated(bytes_span out, std::size_t limit = dns_udp_max,
                                       dns_compression c = dns_compression::on) const {
        return emit_impl(out, limit, c, true);
    }

    /// RFC 1035 4.2.2: the 2-byte length prefix, then the message.
    result<std::size_t> emit_tcp(bytes_span out, dns_compression c = dns_compression::on) const {
        if (out.size() < dns_tcp_length_len) return fail(layer::dns, errc::buffer_too_small, "message");
        auto n = emit(out.subspan(dns_tcp_length_len), c);
        if (!n) return n;
        if (auto p = store_dns_tcp_length(out, *n); !p) return unexpected(p.error());
        return dns_tcp_length_len + *n;
    }

    friend bool operator==(const dns_message_repr&, const dns_message_repr&) = default;

private:
    result<std::size_t> emit_impl(bytes_span out, std::size_t limit, dns_compression c, bool truncate) const {
        using field = dns_header::field;
        for (const auto* s : {&answers, &authority, &additional})
            if (s->size() > 0xFFFF) return fail(layer::dns, errc::too_long, "count");
        if (questions.size() > 0xFFFF) return fail(layer::dns, errc::too_long, "count");
        detail::dns_writer w(out, limit, c);
        if (auto e = w.room(dns_header::header_len); !e) return unexpected(e.error());
        if (auto e = w.zeros(dns_header::header_len); !e) return unexpected(e.error());  // filled in at the end
        for (const auto& q : questions) {
            if (auto e = w.name(q.name, true); !e) return unexpected(e.error());
            if (auto e = w.be16(q.type); !e) return unexpected(e.error());
            if (auto e = w.be16(q.qclass); !e) return unexpected(e.error());
        }
        const dns_record_repr* opt = truncate ? opt_record() : nullptr;
        // Room kept for the OPT record (root owner, uncompressed) while filling the sections.
        std::size_t opt_room = opt ? opt->buffer_len() : 0;
        std::array<std::size_t, 3> written{};
        bool tc = header.tc;
        bool stop = false;
        constexpr std::array<dns_section, 3> rr_sections{dns_section::answer, dns_section::authority, dns_section::additional};
        for (std::size_t si = 0; si < rr_sections.size() && !stop; ++si) {
            dns_section s = rr_sections[si];
            for (const auto& rr : section(s)) {
                if (&rr == opt) continue;
                auto m = w.save();
                auto e = detail::emit_record(w, rr);
                bool over = e && truncate && w.pos() + opt_room > std::min(limit, out.size());
                if (e && !over) {
                    ++written[si];
                    continue;
                }
                if (!e && (!truncate || e.error().what != errc::buffer_too_small)) return unexpected(e.error());
                w.restore(m);
                if (s == dns_section::additional) continue;  // extra information: no TC (RFC 2181 9)
                tc = true;
                stop = true;
                break;
            }
        }
        if (opt) {
            if (auto e = detail::emit_record(w, *opt); !e) return unexpected(e.error());
            ++written[2];
        }
        dns_header h = header;
        h.tc = tc;
        store_be16(out, field::id, h.id);
        store_be16(out, field::flags, h.flags());
        store_be16(out, field::qdcount, static_cast<std::uint16_t>(questions.size()));
        store_be16(out, field::ancount, static_cast<std::uint16_t>(written[0]));
        store_be16(out, field::nscount, static_cast<std::uint16_t>(written[1]));
        store_be16(out, field::arcount, static_cast<std::uint16_t>(written[2]));
        return w.pos();
    }
};

/// A standard query (opcode QUERY, RD set as host resolvers send it) for one name and type.
inline dns_message_repr make_query(std::uint16_t id, const dns_name& name, std::uint16_t type, bool recursion_desired = true) {
    dns_message_repr m;
    m.header.id = id;
    m.header.rd = recursion_desired;
    m.questions.push_back(dns_question{name, type, dns_class::in});
    return m;
}

/// A response to query: same ID, opcode, RD and CD, the questions copied, QR and RA set,
/// and rcode (dns_rcode::*, the low 4 bits) with no records yet.
inline dns_message_repr make_response(const dns_message_repr& query, std::uint8_t rcode = dns_rcode::noerror) {
    dns_message_repr m;
    m.header.id = query.header.id;
    m.header.opcode = query.header.opcode;
    m.header.rd = query.header.rd;
    m.header.cd = query.header.cd;
    m.header.qr = true;
    m.header.ra = true;
    m.header.rcode = static_cast<std::uint8_t>(rcode & 0xF);
    m.questions = query.questions;
    return m;
}

/// The same from a parsed query view.
inline dns_message_repr make_response(const dns_view& query, std::uint8_t rcode = dns_rcode::noerror) {
    dns_message_repr q;
    q.header = query.header();
    for (const auto& qq : query.questions())
        if (qq) q.questions.push_back(*qq);
    return make_response(q, rcode);
}

/// A response carrying only the header (no question) to a message that could not be
/// parsed: the ID (and opcode, RD) of whatever header could be read; FORMERR by default.
inline dns_message_repr make_response(const dns_header& query, std::uint8_t rcode = dns_rcode::formerr) {
    dns_message_repr q;
    q.header = query;
    return make_response(q, rcode);
}

}  // namespace vnet::wire

/// Text form as dig prints it: "iothub.example", "." for the root (dns_name::write_text).
template <>
struct fmt::formatter<vnet::wire::dns_name> {
    constexpr auto parse(format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::wire::dns_name& n, Ctx& ctx) const {
        return n.write_text(ctx.out());
    }
};
