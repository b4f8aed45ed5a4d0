// vnet/wire/tcp.hpp - Transmission Control Protocol header (RFC 9293 section 3.1) with its
// options: End of Option List, No-Operation, Maximum Segment Size (RFC 9293 section
// 3.2), Window Scale and Timestamps (RFC 7323 sections 2 and 3), SACK-Permitted and SACK
// (RFC 2018 sections 2 and 3), and the ECN flags ECE and CWR (RFC 3168 section 6.1).
//
// tcp_view is a zero-copy view checked once by parse(): the data offset must be at least
// 5 words and the header must lie inside the buffer. The options are walked by
// tcp_options, an iterator that yields each option or an errc::bad_option error for an
// option whose length is wrong for its kind or runs past the header; unknown kinds are
// yielded raw (RFC 9293 section 3.1: a TCP implementation must ignore unknown options).
// The checksum covers the pseudo header (RFC 9293 section 3.1 for IPv4, RFC 8200
// section 8.1 for IPv6) and the whole segment, so a view must span exactly the IP payload.
//
// tcp_repr is the value type. Its emit() writes the options in the layout Linux uses
// (net/ipv4/tcp_output.c, tcp_options_write): MSS; SACK-Permitted + Timestamps (or
// NOP NOP Timestamps); NOP NOP SACK-Permitted when there are no timestamps; NOP Window
// Scale; NOP NOP SACK. Every piece is a multiple of 4 bytes, so a Linux segment
// round-trips byte for byte. When that layout would not fit in the 40 bytes of option
// space (e.g. timestamps, window scale and three SACK blocks, which fit unaligned), the
// options are written back to back without NOPs and padded with EOL and zeros to a
// multiple of 4 (RFC 9293 section 3.1), so every header that parses can be emitted again.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string_view>
#include <utility>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/tlv.hpp>

namespace vnet::wire {

/// Bits of the 12-bit flags field (the low 4 bits of byte 12 and byte 13).
namespace tcp_flag {
inline constexpr std::uint16_t fin = 0x001;
inline constexpr std::uint16_t syn = 0x002;
inline constexpr std::uint16_t rst = 0x004;
inline constexpr std::uint16_t psh = 0x008;
inline constexpr std::uint16_t ack = 0x010;
inline constexpr std::uint16_t urg = 0x020;
inline constexpr std::uint16_t ece = 0x040;  // RFC 3168 section 6.1
inline constexpr std::uint16_t cwr = 0x080;  // RFC 3168 section 6.1
/// The four "Rsrvd" bits of RFC 9293 section 3.1. The lowest (0x100) was the ECN nonce
/// of RFC 3540 (historic, RFC 8311) and is AccECN's AE flag.
inline constexpr std::uint16_t reserved = 0xf00;
inline constexpr std::uint16_t ae = 0x100;
inline constexpr std::uint16_t all = 0xfff;
}  // namespace tcp_flag

/// Option kinds (IANA "TCP Option Kind Numbers").
namespace tcp_option_kind {
inline constexpr std::uint8_t eol = 0;
inline constexpr std::uint8_t nop = 1;
inline constexpr std::uint8_t mss = 2;
inline constexpr std::uint8_t window_scale = 3;
inline constexpr std::uint8_t sack_permitted = 4;
inline constexpr std::uint8_t sack = 5;
inline constexpr std::uint8_t timestamps = 8;
}  // namespace tcp_option_kind

/// RFC 7323 section 2.3: a shift count above 14 is used as 14.
inline constexpr std::uint8_t max_window_scale = 14;

/// One SACK block: the first sequence number of a received block and the one after it.
struct sack_block {
    std::uint32_t left = 0;
    std::uint32_t right = 0;
    friend constexpr bool operator==(const sack_block&, const sack_block&) = default;
};

/// The Timestamps option: TSval and TSecr (RFC 7323 section 3.2).
struct tcp_timestamps {
    std::uint32_t value = 0;
    std::uint32_t echo_reply = 0;
    friend constexpr bool operator==(const tcp_timestamps&, const tcp_timestamps&) = default;
};

/// One option as yielded by tcp_options; its length was checked for its kind. The typed
/// accessors return a value only for their own kind (zero / empty otherwise).
class tcp_option {
public:
    static constexpr std::size_t max_sack_blocks = 4;

    constexpr std::uint8_t kind() const noexcept { return load_u8(b_, 0); }
    /// The option as on the wire: kind, length and data (one byte for EOL and NOP).
    constexpr bytes_view bytes() const noexcept { return b_; }
    /// The data after kind and length; empty for EOL and NOP.
    constexpr bytes_view data() const noexcept { return b_.size() < 2 ? bytes_view{} : b_.subspan(2); }

    constexpr std::uint16_t mss() const noexcept { return kind() == tcp_option_kind::mss ? load_be16(b_, 2) : 0; }
    /// The shift count as sent, possibly above 14.
    constexpr std::uint8_t window_scale_raw() const noexcept {
        return kind() == tcp_option_kind::window_scale ? load_u8(b_, 2) : 0;
    }
    /// The shift count to use: clamped to 14 (RFC 7323 section 2.3).
    constexpr std::uint8_t window_scale() const noexcept {
        auto s = window_scale_raw();
        return s > max_window_scale ? max_window_scale : s;
    }
    constexpr std::size_t sack_block_count() const noexcept { return kind() == tcp_option_kind::sack ? (b_.size() - 2) / 8 : 0; }
    constexpr sack_block sack(std::size_t i) const noexcept {
        if (i >= sack_block_count()) return {};
        return {load_be32(b_, 2 + 8 * i), load_be32(b_, 6 + 8 * i)};
    }
    constexpr tcp_timestamps timestamps() const noexcept {
        if (kind() != tcp_option_kind::timestamps) return {};
        return {load_be32(b_, 2), load_be32(b_, 6)};
    }

private:
    friend struct tcp_option_layout;
    constexpr explicit tcp_option(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

/// The layout of a TCP options area: kind, then length and data except for EOL and NOP;
/// EOL ends the walk.
struct tcp_option_layout {
    using value_type = result<tcp_option>;
    struct cursor {
        std::size_t off = 0;
    };
    static constexpr bool next(bytes_view area, cursor& c, value_type& out) noexcept {
        if (c.off >= area.size()) return false;
        std::size_t n = area.size();
        out = decode(area, c.off, n);
        c.off = n;
        return true;
    }

    /// Decodes the option at off (precondition: off < b.size()) and sets next to the
    /// offset after it (b.size() after EOL).
    static constexpr result<tcp_option> decode(bytes_view b, std::size_t off, std::size_t& next) noexcept {
        std::uint8_t kind = load_u8(b, off);
        if (kind == tcp_option_kind::eol || kind == tcp_option_kind::nop) {
            next = kind == tcp_option_kind::eol ? b.size() : off + 1;
            return tcp_option(b.subspan(off, 1));
        }
        if (off + 1 >= b.size()) return fail(layer::tcp, errc::bad_option, "option_length");
        std::size_t len = load_u8(b, off + 1);
        switch (kind) {
            case tcp_option_kind::mss:
                if (len != 4) return fail(layer::tcp, errc::bad_option, "mss");
                break;
            case tcp_option_kind::window_scale:
                if (len != 3) return fail(layer::tcp, errc::bad_option, "window_scale");
                break;
            case tcp_option_kind::sack_permitted:
                if (len != 2) return fail(layer::tcp, errc::bad_option, "sack_permitted");
                break;
            case tcp_option_kind::sack:
                // RFC 2018 section 3: length 2 + 8 * n, n from 1 to 4
                if (len < 10 || (len - 2) % 8 != 0 || (len - 2) / 8 > tcp_option::max_sack_blocks)
                    return fail(layer::tcp, errc::bad_option, "sack");
                break;
            case tcp_option_kind::timestamps:
                if (len != 10) return fail(layer::tcp, errc::bad_option, "timestamps");
                break;
            default:
                if (len < 2) return fail(layer::tcp, errc::bad_option, "option_length");
                break;
        }
        if (len > b.size() - off) return fail(layer::tcp, errc::bad_option, "option_length");
        next = off + len;
        return tcp_option(b.subspan(off, len));
    }
};

/// The options area of a header as a range of result<tcp_option>. Iteration stops after
/// EOL, at the end of the area, or after yielding an error.
class tcp_options : public tlv_range<tcp_option_layout> {
public:
    using tlv_range::tlv_range;
};

class tcp_view {
public:
    /// The header without options; the data offset ranges from 5 to 15 words.
    static constexpr std::size_t min_header_len = 20;
    static constexpr std::size_t max_header_len = 60;
    static constexpr std::size_t max_options_len = max_header_len - min_header_len;
    /// The IP protocol / IPv6 next header number of TCP.
    static constexpr std::uint8_t ip_protocol = 6;
    struct field {
        static constexpr std::size_t src_port = 0, dst_port = 2, seq_number = 4, ack_number = 8, data_offset = 12, flags = 12,
                                     window_len = 14, checksum = 16, urgent_pointer = 18, options = 20;
    };
    static_assert(field::options == min_header_len);
    static_assert(max_header_len == 15 * 4);

    /// Checks the header length; options are checked as they are iterated.
    static constexpr result<tcp_view> parse(bytes_view b) noexcept {
        if (b.size() < min_header_len) return fail(layer::tcp, errc::truncated, "header");
        std::size_t hlen = std::size_t{load_u8(b, field::data_offset)} / 16 * 4;
        if (hlen < min_header_len || hlen > b.size()) return fail(layer::tcp, errc::bad_length, "data_offset");
        return tcp_view(b);
    }

    constexpr std::uint16_t src_port() const noexcept { return load_be16(b_, field::src_port); }
    constexpr std::uint16_t dst_port() const noexcept { return load_be16(b_, field::dst_port); }
    constexpr std::uint32_t seq_number() const noexcept { return load_be32(b_, field::seq_number); }
    constexpr std::uint32_t ack_number() const noexcept { return load_be32(b_, field::ack_number); }
    /// The data offset in 32-bit words.
    constexpr std::uint8_t data_offset() const noexcept {
        return static_cast<std::uint8_t>(load_u8(b_, field::data_offset) >> 4);
    }
    constexpr std::size_t header_len() const noexcept { return std::size_t{data_offset()} * 4; }
    /// The 12 flag bits, reserved bits included (tcp_flag::*).
    constexpr std::uint16_t flags() const noexcept { return load_be16(b_, field::flags) & tcp_flag::all; }
    constexpr bool has(std::uint16_t flag) const noexcept { return (flags() & flag) != 0; }
    constexpr bool fin() const noexcept { return has(tcp_flag::fin); }
    constexpr bool syn() const noexcept { return has(tcp_flag::syn); }
    constexpr bool rst() const noexcept { return has(tcp_flag::rst); }
    constexpr bool psh() const noexcept { return has(tcp_flag::psh); }
    constexpr bool ack() const noexcept { return has(tcp_flag::ack); }
    constexpr bool urg() const noexcept { return has(tcp_flag::urg); }
    constexpr bool ece() const noexcept { return has(tcp_flag::ece); }
    constexpr bool cwr() const noexcept { return has(tcp_flag::cwr); }
    /// The four reserved bits as a number 0-15.
    constexpr std::uint8_t reserved() const noexcept { return static_cast<std::uint8_t>((flags() & tcp_flag::reserved) >> 8); }
    constexpr std::uint16_t window_len() const noexcept { return load_be16(b_, field::window_len); }
    constexpr std::uint16_t checksum() const noexcept { return load_be16(b_, field::checksum); }
    constexpr std::uint16_t urgent_pointer() const noexcept { return load_be16(b_, field::urgent_pointer); }
    constexpr bytes_view options_bytes() const noexcept { return b_.subspan(min_header_len, header_len() - min_header_len); }
    constexpr tcp_options options() const noexcept { return tcp_options(options_bytes()); }
    constexpr bytes_view payload() const noexcept { return b_.subspan(header_len()); }
    /// SEG.LEN of RFC 9293 section 3.4: the payload plus one for SYN and one for FIN.
    constexpr std::size_t segment_len() const noexcept { return payload().size() + (syn() ? 1 : 0) + (fin() ? 1 : 0); }
    constexpr bytes_view bytes() const noexcept { return b_; }

    /// Verifies the checksum over pseudo (a pseudo_header_v4/v6 whose length is
    /// bytes().size()) and the segment.
    constexpr bool checksum_ok(const checksum_acc& pseudo) const noexcept {
        checksum_acc acc = pseudo;
        return checksum_verifies(acc.add(b_));
    }
    constexpr bool checksum_ok(ipv4_address src, ipv4_address dst) const noexcept {
        return checksum_ok(pseudo_header_v4(src, dst, ip_protocol, static_cast<std::uint16_t>(b_.size())));
    }
    constexpr bool checksum_ok(const ipv6_address& src, const ipv6_address& dst) const noexcept {
        return checksum_ok(pseudo_header_v6(src, dst, ip_protocol, static_cast<std::uint32_t>(b_.size())));
    }

private:
    constexpr explicit tcp_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

/// The flags the way tcpdump prints them inside "Flags [...]": F S R P . U E W e in this
/// order ("S", "S.", "P.", "F.", "R", "."), "none" when no flag is set.
struct tcp_flags_text {
    std::array<char, 12> chars{};
    std::size_t size = 0;
    constexpr std::string_view str() const noexcept { return {chars.data(), size}; }
};

constexpr tcp_flags_text tcpdump_flags(std::uint16_t flags) noexcept {
    // tcpdump print-tcp.c, tcp_flag_values
    constexpr std::array<std::pair<std::uint16_t, char>, 9> order{{{tcp_flag::fin, 'F'},
                                                                   {tcp_flag::syn, 'S'},
                                                                   {tcp_flag::rst, 'R'},
                                                                   {tcp_flag::psh, 'P'},
                                                                   {tcp_flag::ack, '.'},
                                                                   {tcp_flag::urg, 'U'},
                                                                   {tcp_flag::ece, 'E'},
                                                                   {tcp_flag::cwr, 'W'},
                                                                   {tcp_flag::ae, 'e'}}};
    tcp_flags_text t;
    for (const auto& [bit, c] : order)
        if (flags & bit) t.chars[t.size++] = c;
    if (t.size == 0) {
        for (char c : std::string_view("none")) t.chars[t.size++] = c;
    }
    return t;
}

struct tcp_repr {
    static constexpr std::size_t max_sack_blocks = tcp_option::max_sack_blocks;

    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    std::uint32_t seq_number = 0;
    std::uint32_t ack_number = 0;
    std::uint16_t flags = 0;  // tcp_flag bits, reserved bits included
    std::uint16_t window_len = 0;
    std::uint16_t urgent_pointer = 0;
    std::optional<std::uint16_t> mss{};
    std::optional<std::uint8_t> window_scale{};  // the shift count as sent
    bool sack_permitted = false;
    std::array<sack_block, max_sack_blocks> sack_blocks{};  // the first sack_block_count are used
    std::uint8_t sack_block_count = 0;
    std::optional<tcp_timestamps> timestamps{};
    std::size_t payload_len = 0;

    /// Decodes the header and its options after verifying the checksum. Malformed options
    /// are errors; unknown options, NOP and EOL are skipped; for a repeated option the
    /// last one counts.
    static constexpr result<tcp_repr> parse(const tcp_view& v, const checksum_acc& pseudo) noexcept {
        if (!v.checksum_ok(pseudo)) return fail(layer::tcp, errc::bad_checksum, "checksum");
        tcp_repr r;
        r.src_port = v.src_port();
        r.dst_port = v.dst_port();
        r.seq_number = v.seq_number();
        r.ack_number = v.ack_number();
        r.flags = v.flags();
        r.window_len = v.window_len();
        r.urgent_pointer = v.urgent_pointer();
        r.payload_len = v.payload().size();
        for (const auto& o : v.options()) {
            if (!o) return unexpected(o.error());
            switch (o->kind()) {
                case tcp_option_kind::mss: r.mss = o->mss(); break;
                case tcp_option_kind::window_scale: r.window_scale = o->window_scale_raw(); break;
                case tcp_option_kind::sack_permitted: r.sack_permitted = true; break;
                case tcp_option_kind::timestamps: r.timestamps = o->timestamps(); break;
                case tcp_option_kind::sack:
                    r.sack_blocks = {};
                    r.sack_block_count = static_cast<std::uint8_t>(o->sack_block_count());
                    for (std::size_t i = 0; i < r.sack_block_count; ++i) r.sack_blocks[i] = o->sack(i);
                    break;
                default: break;
            }
        }
        return r;
    }
    static constexpr result<tcp_repr> parse(const tcp_view& v, ipv4_address src, ipv4_address dst) noexcept {
        return parse(v, pseudo_header_v4(src, dst, tcp_view::ip_protocol, static_cast<std::uint16_t>(v.bytes().size())));
    }
    static constexpr result<tcp_repr> parse(const tcp_view& v, const ipv6_address& src, const ipv6_address& dst) noexcept {
        return parse(v, pseudo_header_v6(src, dst, tcp_view::ip_protocol, static_cast<std::uint32_t>(v.bytes().size())));
    }

    /// The options area in the Linux layout (may exceed the 40 bytes of option space).
    constexpr std::size_t linux_layout_len() const noexcept {
        std::size_t n = 0;
        if (mss) n += 4;
        if (timestamps) n += 12;                    // SACK-Permitted rides in its two NOPs
        if (sack_permitted && !timestamps) n += 4;  // NOP NOP SACK-Permitted
        if (window_scale) n += 4;                   // NOP Window Scale
        if (sack_block_count > 0) n += 4 + 8 * std::size_t{sack_block_count};
        return n;
    }
    /// The options back to back, padded to a multiple of 4.
    constexpr std::size_t packed_layout_len() const noexcept {
        std::size_t n = 0;
        if (mss) n += 4;
        if (sack_permitted) n += 2;
        if (timestamps) n += 10;
        if (window_scale) n += 3;
        if (sack_block_count > 0) n += 2 + 8 * std::size_t{sack_block_count};
        return (n + 3) / 4 * 4;
    }
    /// The options area emit() writes: the Linux layout when it fits, else the packed one
    /// (emit() rejects more than 40 bytes).
    constexpr std::size_t options_len() const noexcept {
        auto n = linux_layout_len();
        return n <= tcp_view::max_options_len ? n : packed_layout_len();
    }
    constexpr std::size_t header_len() const noexcept { return tcp_view::min_header_len + options_len(); }
    constexpr std::size_t buffer_len() const noexcept { return header_len() + payload_len; }

    /// Writes header, options and payload at the start of out over IPv4; returns the bytes
    /// written. payload.size() must equal payload_len. A payload already in place at
    /// out + header_len() is not copied; otherwise it must not overlap out.
    constexpr result<std::size_t> emit(bytes_span out, bytes_view payload, ipv4_address src, ipv4_address dst) const noexcept {
        auto n = emit_unchecksummed(out, payload);
        if (!n) return n;
        finish(out, *n, pseudo_header_v4(src, dst, tcp_view::ip_protocol, static_cast<std::uint16_t>(*n)));
        return n;
    }
    /// The same over IPv6.
    constexpr result<std::size_t> emit(bytes_span out, bytes_view payload, const ipv6_address& src,
                                       const ipv6_address& dst) const noexcept {
        auto n = emit_unchecksummed(out, payload);
        if (!n) return n;
        finish(out, *n, pseudo_header_v6(src, dst, tcp_view::ip_protocol, static_cast<std::uint32_t>(*n)));
        return n;
    }

    friend constexpr bool operator==(const tcp_repr&, const tcp_repr&) = default;

private:
    static constexpr std::size_t max_segment_len = 0xffff;

    constexpr result<std::size_t> emit_unchecksummed(bytes_span out, bytes_view payload) const noexcept {
        using f = tcp_view::field;
        if ((flags & ~tcp_flag::all) != 0) return fail(layer::tcp, errc::bad_value, "flags");
        if (sack_block_count > max_sack_blocks) return fail(layer::tcp, errc::bad_value, "sack");
        if (options_len() > tcp_view::max_options_len) return fail(layer::tcp, errc::too_long, "options");
        if (payload.size() != payload_len) return fail(layer::tcp, errc::bad_length, "payload");
        std::size_t hlen = header_len();
        if (payload_len > max_segment_len - hlen) return fail(layer::tcp, errc::too_long, "segment");
        std::size_t len = hlen + payload_len;
        if (out.size() < len) return fail(layer::tcp, errc::buffer_too_small, "segment");

        store_be16(out, f::src_port, src_port);
        store_be16(out, f::dst_port, dst_port);
        store_be32(out, f::seq_number, seq_number);
        store_be32(out, f::ack_number, ack_number);
        store_be16(out, f::flags, static_cast<std::uint16_t>(((hlen / 4) << 12) | flags));
        store_be16(out, f::window_len, window_len);
        store_be16(out, f::checksum, 0);
        store_be16(out, f::urgent_pointer, urgent_pointer);

        if (linux_layout_len() <= tcp_view::max_options_len) write_linux_layout(out);
        else write_packed_layout(out, hlen);
        if (payload.data() != out.data() + hlen) store_bytes(out, hlen, payload);
        return len;
    }
    constexpr void write_linux_layout(bytes_span out) const noexcept {
        namespace kind = tcp_option_kind;
        std::size_t off = tcp_view::field::options;
        auto put4 = [&](std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
            store_u8(out, off, a);
            store_u8(out, off + 1, b);
            store_u8(out, off + 2, c);
            store_u8(out, off + 3, d);
            off += 4;
        };
        if (mss) {
            put4(kind::mss, 4, static_cast<std::uint8_t>(*mss >> 8), static_cast<std::uint8_t>(*mss & 0xff));
        }
        if (timestamps) {
            if (sack_permitted) put4(kind::sack_permitted, 2, kind::timestamps, 10);
            else put4(kind::nop, kind::nop, kind::timestamps, 10);
            store_be32(out, off, timestamps->value);
            store_be32(out, off + 4, timestamps->echo_reply);
            off += 8;
        } else if (sack_permitted) {
            put4(kind::nop, kind::nop, kind::sack_permitted, 2);
        }
        if (window_scale) put4(kind::nop, kind::window_scale, 3, *window_scale);
        if (sack_block_count > 0) {
            put4(kind::nop, kind::nop, kind::sack, static_cast<std::uint8_t>(2 + 8 * sack_block_count));
            write_sack_blocks(out, off);
        }
    }
    /// Precondition: packed_layout_len() <= 40. Pads with EOL and zeros up to hlen.
    constexpr void write_packed_layout(bytes_span out, std::size_t hlen) const noexcept {
        namespace kind = tcp_option_kind;
        std::size_t off = tcp_view::field::options;
        auto put2 = [&](std::uint8_t k, std::uint8_t len) {
            store_u8(out, off, k);
            store_u8(out, off + 1, len);
            off += 2;
        };
        if (mss) {
            put2(kind::mss, 4);
            store_be16(out, off, *mss);
            off += 2;
        }
        if (sack_permitted) put2(kind::sack_permitted, 2);
        if (timestamps) {
            put2(kind::timestamps, 10);
            store_be32(out, off, timestamps->value);
            store_be32(out, off + 4, timestamps->echo_reply);
            off += 8;
        }
        if (window_scale) {
            put2(kind::window_scale, 3);
            store_u8(out, off++, *window_scale);
        }
        if (sack_block_count > 0) {
            put2(kind::sack, static_cast<std::uint8_t>(2 + 8 * sack_block_count));
            off = write_sack_blocks(out, off);
        }
        while (off < hlen) store_u8(out, off++, kind::eol);  // EOL, then zero padding
    }
    constexpr std::size_t write_sack_blocks(bytes_span out, std::size_t off) const noexcept {
        for (std::size_t i = 0; i < sack_block_count; ++i) {
            store_be32(out, off, sack_blocks[i].left);
            store_be32(out, off + 4, sack_blocks[i].right);
            off += 8;
        }
        return off;
    }
    static constexpr void finish(bytes_span out, std::size_t len, checksum_acc pseudo) noexcept {
        store_be16(out, tcp_view::field::checksum, pseudo.add(bytes_view(out.data(), len)).finish());
    }
};

}  // namespace vnet::wire
