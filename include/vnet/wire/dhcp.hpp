// vnet/wire/dhcp.hpp - DHCP / BOOTP messages (the UDP payload on ports 67/68).
//
// Implements:
// - RFC 2131 section 2 (figure 1): the fixed BOOTP header (op, htype, hlen, hops, xid, secs,
//   flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file) and section 3 (the magic
//   cookie 99.130.83.99 in front of the options). A message that ends at the vendor field
//   or carries four zero octets there is plain BOOTP (RFC 951) with no options; any other
//   cookie is an error. Flags bits other than the broadcast bit are tolerated on receive
//   and never sent (section 2).
// - RFC 2132 section 2: options as TLVs, pad (0) and end (255) single octets; a missing end
//   option is tolerated (has_end() reports it). Section 9.3: option overload (52) continues
//   the options in `file` (1), `sname` (2) or both (3), walked options, file, sname.
// - RFC 3396: several instances of one option are one value, concatenated in order
//   (for_each_instance / copy_option; option() gives the first instance only). emit splits
//   values longer than 255 octets into consecutive instances.
// - Typed options of RFC 2132 (1, 3, 6, 12, 15, 26, 28, 50, 51, 53-61), RFC 3397 (119,
//   domain search: DNS names with RFC 1035 section 4.1.4 compression inside the option,
//   pointers counted from the start of the concatenated option data) and RFC 3442 (121,
//   classless static routes: width, significant destination octets, router).
// - RFC 1542 section 2.1: emit pads a message to the 300-octet BOOTP minimum.
//
// dhcp_view is checked once by parse() (fixed header, cookie, every option TLV in every
// region it is walked); afterwards walking options cannot fail and no accessor reads out
// of bounds. Typed accessors return result<T>: errc::not_found when the option is absent,
// errc::bad_length / bad_value naming the option when its data is malformed. Accessors for
// variable-length data write into a caller's buffer (no allocation). dhcp_repr is the
// value type for building messages (it owns strings and vectors).
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
#include <vector>

#include <vnet/core/bytes.hpp>
#include <vnet/core/enum_names.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/wire/tlv.hpp>

namespace vnet::wire {

using vnet::to_string;

/// UDP ports (RFC 2131 section 4.1).
namespace dhcp_port {
inline constexpr std::uint16_t server = 67;
inline constexpr std::uint16_t client = 68;
}  // namespace dhcp_port

/// The op field (RFC 951).
namespace bootp_op {
inline constexpr std::uint8_t request = 1;  // BOOTREQUEST
inline constexpr std::uint8_t reply = 2;    // BOOTREPLY
}  // namespace bootp_op

/// htype values (IANA ARP hardware types) vnet uses.
namespace bootp_htype {
inline constexpr std::uint8_t ethernet = 1;
}

/// Option codes (RFC 2132 unless noted).
namespace dhcp_option_code {
inline constexpr std::uint8_t pad = 0;
inline constexpr std::uint8_t subnet_mask = 1;
inline constexpr std::uint8_t router = 3;
inline constexpr std::uint8_t dns_servers = 6;
inline constexpr std::uint8_t host_name = 12;
inline constexpr std::uint8_t domain_name = 15;
inline constexpr std::uint8_t interface_mtu = 26;
inline constexpr std::uint8_t broadcast_address = 28;
inline constexpr std::uint8_t requested_address = 50;
inline constexpr std::uint8_t lease_time = 51;
inline constexpr std::uint8_t overload = 52;
inline constexpr std::uint8_t message_type = 53;
inline constexpr std::uint8_t server_identifier = 54;
inline constexpr std::uint8_t parameter_request_list = 55;
inline constexpr std::uint8_t message = 56;
inline constexpr std::uint8_t max_message_size = 57;
inline constexpr std::uint8_t renewal_time = 58;    // T1
inline constexpr std::uint8_t rebinding_time = 59;  // T2
inline constexpr std::uint8_t vendor_class_id = 60;
inline constexpr std::uint8_t client_identifier = 61;
inline constexpr std::uint8_t domain_search = 119;            // RFC 3397
inline constexpr std::uint8_t classless_static_routes = 121;  // RFC 3442
inline constexpr std::uint8_t end = 255;
}  // namespace dhcp_option_code

/// The name vnet uses for an option code in error fields and dissectors ("option" when
/// vnet has no typed accessor for it).
constexpr std::string_view dhcp_option_name(std::uint8_t code) noexcept {
    namespace c = dhcp_option_code;
    switch (code) {
        case c::pad: return "pad";
        case c::subnet_mask: return "subnet_mask";
        case c::router: return "router";
        case c::dns_servers: return "dns_servers";
        case c::host_name: return "host_name";
        case c::domain_name: return "domain_name";
        case c::interface_mtu: return "interface_mtu";
        case c::broadcast_address: return "broadcast_address";
        case c::requested_address: return "requested_address";
        case c::lease_time: return "lease_time";
        case c::overload: return "overload";
        case c::message_type: return "message_type";
        case c::server_identifier: return "server_identifier";
        case c::parameter_request_list: return "parameter_request_list";
        case c::message: return "message";
        case c::max_message_size: return "max_message_size";
        case c::renewal_time: return "renewal_time";
        case c::rebinding_time: return "rebinding_time";
        case c::vendor_class_id: return "vendor_class_id";
        case c::client_identifier: return "client_identifier";
        case c::domain_search: return "domain_search";
        case c::classless_static_routes: return "classless_static_routes";
        case c::end: return "end";
        default: return "option";
    }
}

/// Option 53 (RFC 2132 section 9.6).
enum class dhcp_message_type : std::uint8_t {
    discover = 1,
    offer = 2,
    request = 3,
    decline = 4,
    ack = 5,
    nak = 6,
    release = 7,
    inform = 8,
};

inline constexpr enum_name<dhcp_message_type> dhcp_message_type_names[] = {
    {dhcp_message_type::discover, "DHCPDISCOVER"}, {dhcp_message_type::offer, "DHCPOFFER"},
    {dhcp_message_type::request, "DHCPREQUEST"},   {dhcp_message_type::decline, "DHCPDECLINE"},
    {dhcp_message_type::ack, "DHCPACK"},           {dhcp_message_type::nak, "DHCPNAK"},
    {dhcp_message_type::release, "DHCPRELEASE"},   {dhcp_message_type::inform, "DHCPINFORM"},
};
constexpr std::span<const enum_name<dhcp_message_type>> enum_names(dhcp_message_type) noexcept { return dhcp_message_type_names; }
constexpr std::string_view enum_unnamed(dhcp_message_type) noexcept { return "unknown"; }

/// One RFC 3442 route: destination prefix (host bits cleared) and router.
struct classless_route {
    ipv4_prefix destination{};
    ipv4_address router{};
    friend constexpr bool operator==(const classless_route&, const classless_route&) = default;
};

/// Which field of the message an option instance was found in (RFC 2132 section 9.3).
enum class dhcp_option_region : std::uint8_t { options, file, sname };

/// One option instance: code and its data (pad and end are never yielded).
struct dhcp_option {
    std::uint8_t code = 0;
    bytes_view data{};
    dhcp_option_region region = dhcp_option_region::options;
};

namespace detail {

struct dhcp_region {
    std::size_t begin = 0, end = 0;
    dhcp_option_region kind = dhcp_option_region::options;
};

/// Walks one region's TLVs; returns whether an end option was found. first_overload is
/// set to where the first overload option (52) before the end starts, or left alone.
constexpr result<bool> check_dhcp_region(bytes_view b, dhcp_region r, std::string_view field,
                                         std::size_t& first_overload) noexcept {
    bool overload_seen = false;
    std::size_t pos = r.begin;
    while (pos < r.end) {
        const std::uint8_t code = load_u8(b, pos);
        if (code == dhcp_option_code::pad) {
            ++pos;
            continue;
        }
        if (code == dhcp_option_code::end) return true;
        if (pos + 1 >= r.end) return fail(layer::dhcp, errc::bad_option, field);
        const std::size_t len = load_u8(b, pos + 1);
        if (!in_bounds(r.end, pos + 2, len)) return fail(layer::dhcp, errc::bad_option, field);
        if (code == dhcp_option_code::overload && !overload_seen) {
            first_overload = pos;
            overload_seen = true;
        }
        pos += 2 + len;
    }
    return false;
}
constexpr result<bool> check_dhcp_region(bytes_view b, dhcp_region r, std::string_view field) noexcept {
    std::size_t unused = 0;
    return check_dhcp_region(b, r, field, unused);
}

/// Decodes one RFC 1035 name at pos of RFC 3397 data into out (dotted, no trailing dot).
/// Returns the offset after the name in the stream and the name's text length.
struct decoded_name {
    std::size_t next = 0;
    std::size_t len = 0;
};

constexpr result<decoded_name> decode_search_name(bytes_view d, std::size_t pos, std::span<char, 255> out) noexcept {
    constexpr std::string_view f = "domain_search";
    std::size_t segment = pos;  // lowest offset read so far for this name: pointers must go below it
    std::size_t text = 0;
    std::size_t wire = 0;  // uncompressed wire length of the name (RFC 1035: at most 255)
    std::optional<std::size_t> next;
    for (;;) {
        if (pos >= d.size()) return fail(layer::dhcp, errc::bad_length, f);
        const std::uint8_t len = load_u8(d, pos);
        if ((len & 0xc0) == 0xc0) {
            if (pos + 1 >= d.size()) return fail(layer::dhcp, errc::bad_length, f);
            const std::size_t target = static_cast<std::size_t>(((len & 0x3f) << 8) | load_u8(d, pos + 1));
            if (!next) next = pos + 2;
            if (target > pos) return fail(layer::dhcp, errc::bad_pointer, f);
            if (target >= segment) return fail(layer::dhcp, errc::loop, f);
            segment = target;
            pos = target;
            continue;
        }
        if ((len & 0xc0) != 0) return fail(layer::dhcp, errc::bad_value, f);  // 0x40 / 0x80 label types
        wire += 1 + len;
        if (wire > 255) return fail(layer::dhcp, errc::too_long, f);
        if (len == 0) break;
        if (!in_bounds(d.size(), pos + 1, len)) return fail(layer::dhcp, errc::bad_length, f);
        if (text != 0) out[text++] = '.';
        for (std::size_t i = 0; i < len; ++i) out[text++] = static_cast<char>(load_u8(d, pos + 1 + i));
        pos += 1 + len;
    }
    return decoded_name{next ? *next : pos + 1, text};
}

}  // namespace detail

/// Calls f(std::string_view name) for each name of RFC 3397 option data (already
/// concatenated per RFC 3396); names are dotted without the trailing dot ("" for the root).
/// Returns the number of names. Loops (errc::loop), forward pointers (errc::bad_pointer),
/// names running past the data (errc::bad_length) and names over 255 octets (errc::too_long)
/// are errors naming "domain_search"; empty data is errc::bad_length.
template <class F>
constexpr result<std::size_t> for_each_search_domain(bytes_view data, F&& f) {
    if (data.empty()) return fail(layer::dhcp, errc::bad_length, "domain_search");
    std::array<char, 255> buf{};
    std::size_t pos = 0, count = 0;
    while (pos < data.size()) {
        auto n = detail::decode_search_name(data, pos, std::span<char, 255>(buf));
        if (!n) return unexpected(n.error());
        f(std::string_view(buf.data(), n->len));
        ++count;
        pos = n->next;
    }
    return count;
}

/// Calls f(classless_route) for each route of RFC 3442 option data (already concatenated).
/// A width over 32 is errc::bad_value, a descriptor running past the data errc::bad_length,
/// both naming "classless_static_routes". Host bits past the width are cleared.
template <class F>
constexpr result<std::size_t> for_each_classless_route(bytes_view data, F&& f) {
    constexpr std::string_view field = "classless_static_routes";
    if (data.size() < 5) return fail(layer::dhcp, errc::bad_length, field);
    std::size_t pos = 0, count = 0;
    while (pos < data.size()) {
        const std::uint8_t width = load_u8(data, pos);
        if (width > 32) return fail(layer::dhcp, errc::bad_value, field);
        const std::size_t octets = (width + 7u) / 8u;
        if (!in_bounds(data.size(), pos + 1, octets + 4)) return fail(layer::dhcp, errc::bad_length, field);
        std::uint32_t dest = 0;
        for (std::size_t i = 0; i < octets; ++i) dest |= std::uint32_t{load_u8(data, pos + 1 + i)} << (24 - 8 * i);
        const ipv4_prefix p(ipv4_address(dest), width);
        f(classless_route{p.canonical(), ipv4_address::load(data, pos + 1 + octets)});
        ++count;
        pos += 1 + octets + 4;
    }
    return count;
}

/// The layout of the option instances of a checked dhcp_view: the options field, then
/// file, then sname when option 52 says so (RFC 2131 section 4.1, RFC 2132 section 9.3).
/// Pad and end are skipped; lengths were checked by dhcp_view::parse, so it cannot fail.
struct dhcp_option_layout {
    using value_type = dhcp_option;
    struct cursor {
        std::array<detail::dhcp_region, 3> regions{};  // in walking order
        std::size_t count = 0;                         // regions in use
        std::size_t region = 0;                        // the region being walked
        std::size_t pos = 0;                           // where in the message
    };
    static constexpr bool next(bytes_view b, cursor& c, value_type& out) noexcept {
        while (c.region < c.count) {
            const auto& r = c.regions[c.region];
            if (c.pos >= r.end || load_u8(b, c.pos) == dhcp_option_code::end) {
                if (++c.region < c.count) c.pos = c.regions[c.region].begin;
                continue;
            }
            const std::uint8_t code = load_u8(b, c.pos);
            if (code == dhcp_option_code::pad) {
                ++c.pos;
                continue;
            }
            const std::size_t len = load_u8(b, c.pos + 1);  // in bounds: checked by dhcp_view::parse
            out = dhcp_option{code, b.subspan(c.pos + 2, len), r.kind};
            c.pos += 2 + len;
            return true;
        }
        return false;
    }
};

/// The option instances of a dhcp_view as a range of dhcp_option.
class dhcp_options : public tlv_range<dhcp_option_layout> {
public:
    using tlv_range::tlv_range;
};

class dhcp_view {
public:
    /// Offsets of RFC 2131 figure 1.
    struct field {
        static constexpr std::size_t op = 0, htype = 1, hlen = 2, hops = 3, xid = 4, secs = 8, flags = 10, ciaddr = 12,
                                     yiaddr = 16, siaddr = 20, giaddr = 24, chaddr = 28, sname = 44, file = 108, cookie = 236,
                                     options = 240;
    };
    static constexpr std::size_t chaddr_len = 16, sname_len = 64, file_len = 128;
    /// The fixed header up to the vendor / options field.
    static constexpr std::size_t header_len = 236;
    static_assert(field::sname == field::chaddr + chaddr_len && field::file == field::sname + sname_len &&
                  field::cookie == field::file + file_len && header_len == field::cookie);
    static constexpr std::uint32_t magic_cookie = 0x63825363;  // 99.130.83.99
    static constexpr std::uint16_t flag_broadcast = 0x8000;
    /// RFC 1542 section 2.1: the smallest BOOTP message a relay or client must accept.
    static constexpr std::size_t bootp_min_len = 300;
    static constexpr std::size_t max_hlen = 16;

    static constexpr result<dhcp_view> parse(bytes_view b) noexcept {
        if (b.size() < header_len) return fail(layer::dhcp, errc::truncated, "header");
        const std::uint8_t op = load_u8(b, field::op);
        if (op != bootp_op::request && op != bootp_op::reply) return fail(layer::dhcp, errc::bad_value, "op");
        if (load_u8(b, field::hlen) > max_hlen) return fail(layer::dhcp, errc::bad_value, "hlen");
        dhcp_view v(b);
        if (b.size() == header_len) return v;  // plain BOOTP, empty vendor field
        if (b.size() < field::options) return fail(layer::dhcp, errc::truncated, "cookie");
        const std::uint32_t cookie = load_be32(b, field::cookie);
        if (cookie == 0) return v;  // plain BOOTP, vendor field unused
        if (cookie != magic_cookie) return fail(layer::dhcp, errc::bad_value, "cookie");
        v.cookie_ = true;

        const detail::dhcp_region opts{field::options, b.size(), dhcp_option_region::options};
        // The overload option must be in the options field (RFC 2131 section 4.1); the walk
        // that checks the field also finds it, so the options are read once.
        std::size_t overload_at = 0;
        auto end = detail::check_dhcp_region(b, opts, "options", overload_at);
        if (!end) return unexpected(end.error());
        v.has_end_ = *end;
        if (overload_at != 0) {
            if (load_u8(b, overload_at + 1) != 1) return fail(layer::dhcp, errc::bad_length, "overload");
            const std::uint8_t o = load_u8(b, overload_at + 2);
            if (o < 1 || o > 3) return fail(layer::dhcp, errc::bad_value, "overload");
            v.overload_ = o;
        }
        if (v.overload_ & 1) {
            auto e = detail::check_dhcp_region(b, {field::file, field::cookie, dhcp_option_region::file}, "file");
            if (!e) return unexpected(e.error());
            v.has_end_ = v.has_end_ && *e;
        }
        if (v.overload_ & 2) {
            auto e = detail::check_dhcp_region(b, {field::sname, field::file, dhcp_option_region::sname}, "sname");
            if (!e) return unexpected(e.error());
            v.has_end_ = v.has_end_ && *e;
        }
        return v;
    }

    // ---- fixed header (RFC 2131 section 2) ----
    constexpr std::uint8_t op() const noexcept { return load_u8(b_, field::op); }
    constexpr std::uint8_t htype() const noexcept { return load_u8(b_, field::htype); }
    constexpr std::uint8_t hlen() const noexcept { return load_u8(b_, field::hlen); }
    constexpr std::uint8_t hops() const noexcept { return load_u8(b_, field::hops); }
    constexpr std::uint32_t xid() const noexcept { return load_be32(b_, field::xid); }
    constexpr std::uint16_t secs() const noexcept { return load_be16(b_, field::secs); }
    /// All 16 bits as received (bits other than broadcast are tolerated).
    constexpr std::uint16_t flags() const noexcept { return load_be16(b_, field::flags); }
    constexpr bool broadcast() const noexcept { return (flags() & flag_broadcast) != 0; }
    constexpr ipv4_address ciaddr() const noexcept { return ipv4_address::load(b_, field::ciaddr); }
    constexpr ipv4_address yiaddr() const noexcept { return ipv4_address::load(b_, field::yiaddr); }
    constexpr ipv4_address siaddr() const noexcept { return ipv4_address::load(b_, field::siaddr); }
    constexpr ipv4_address giaddr() const noexcept { return ipv4_address::load(b_, field::giaddr); }
    /// The first hlen octets of chaddr.
    constexpr bytes_view chaddr() const noexcept { return b_.subspan(field::chaddr, hlen()); }
    /// chaddr as a MAC address when htype is Ethernet and hlen 6.
    constexpr std::optional<mac_address> client_mac() const noexcept {
        if (htype() != bootp_htype::ethernet || hlen() != mac_address::size) return std::nullopt;
        return mac_address::load(b_, field::chaddr);
    }
    /// The sname / file fields as NUL-terminated text; empty when they hold options.
    std::string_view sname() const noexcept { return (overload_ & 2) ? std::string_view{} : c_string(field::sname, sname_len); }
    std::string_view file() const noexcept { return (overload_ & 1) ? std::string_view{} : c_string(field::file, file_len); }
    constexpr bytes_view sname_bytes() const noexcept { return b_.subspan(field::sname, sname_len); }
    constexpr bytes_view file_bytes() const noexcept { return b_.subspan(field::file, file_len); }

    /// The magic cookie is present: a DHCP message (or BOOTP with RFC 1497 vendor options).
    constexpr bool has_cookie() const noexcept { return cookie_; }
    /// Option 52's value: 0 none, 1 file, 2 sname, 3 both.
    constexpr std::uint8_t overload() const noexcept { return overload_; }
    /// Every options region walked ended with an end option (false is tolerated).
    constexpr bool has_end() const noexcept { return has_end_; }
    constexpr bytes_view bytes() const noexcept { return b_; }

    // ---- options (RFC 2132, RFC 3396) ----
    constexpr dhcp_options options() const noexcept {
        dhcp_option_layout::cursor c;
        if (cookie_) {
            c.regions[c.count++] = {field::options, b_.size(), dhcp_option_region::options};
            if (overload_ & 1) c.regions[c.count++] = {field::file, field::cookie, dhcp_option_region::file};
            if (overload_ & 2) c.regions[c.count++] = {field::sname, field::file, dhcp_option_region::sname};
            c.pos = c.regions[0].begin;
        }
        return dhcp_options(b_, c);
    }
    /// The data of the first instance of code.
    constexpr std::optional<bytes_view> option(std::uint8_t code) const noexcept {
        for (const auto& o : options())
            if (o.code == code) return o.data;
        return std::nullopt;
    }
    constexpr bool has_option(std::uint8_t code) const noexcept { return option(code).has_value(); }
    /// Calls f(bytes_view) for each instance of code in order; returns the instance count.
    template <class F>
    constexpr std::size_t for_each_instance(std::uint8_t code, F&& f) const {
        std::size_t n = 0;
        for (const auto& o : options())
            if (o.code == code) {
                f(o.data);
                ++n;
            }
        return n;
    }
    /// The length of code's value: all instances concatenated (RFC 3396).
    constexpr std::size_t option_len(std::uint8_t code) const noexcept {
        std::size_t n = 0;
        for (const auto& o : options())
            if (o.code == code) n += o.data.size();
        return n;
    }
    /// Copies code's concatenated value into out; returns the filled part of out.
    /// errc::not_found when absent, errc::buffer_too_small when out is shorter.
    constexpr result<bytes_view> copy_option(std::uint8_t code, bytes_span out) const noexcept {
        if (!has_option(code)) return fail(layer::dhcp, errc::not_found, dhcp_option_name(code));
        const std::size_t n = option_len(code);
        if (out.size() < n) return fail(layer::dhcp, errc::buffer_too_small, dhcp_option_name(code));
        std::size_t off = 0;
        for (const auto& o : options())
            if (o.code == code) {
                store_bytes(out, off, o.data);
                off += o.data.size();
            }
        return bytes_view(out.first(n));
    }

    // ---- typed options ----
    constexpr result<dhcp_message_type> message_type() const noexcept {
        auto v = fixed<1>(dhcp_option_code::message_type);
        if (!v) return unexpected(v.error());
        if ((*v)[0] == std::byte{0}) return fail(layer::dhcp, errc::bad_value, "message_type");
        return static_cast<dhcp_message_type>((*v)[0]);
    }
    constexpr result<ipv4_address> subnet_mask() const noexcept { return address(dhcp_option_code::subnet_mask); }
    constexpr result<ipv4_address> broadcast_address() const noexcept { return address(dhcp_option_code::broadcast_address); }
    constexpr result<ipv4_address> requested_address() const noexcept { return address(dhcp_option_code::requested_address); }
    constexpr result<ipv4_address> server_identifier() const noexcept { return address(dhcp_option_code::server_identifier); }
    /// Seconds; 0xffffffff is infinite (RFC 2131 section 3.3).
    constexpr result<std::uint32_t> lease_time() const noexcept { return seconds(dhcp_option_code::lease_time); }
    constexpr result<std::uint32_t> renewal_time() const noexcept { return seconds(dhcp_option_code::renewal_time); }
    constexpr result<std::uint32_t> rebinding_time() const noexcept { return seconds(dhcp_option_code::rebinding_time); }
    /// RFC 2132 section 5.1: at least 68.
    constexpr result<std::uint16_t> interface_mtu() const noexcept { return u16_at_least(dhcp_option_code::interface_mtu, 68); }
    /// RFC 2132 section 9.10: at least 576.
    constexpr result<std::uint16_t> max_message_size() const noexcept {
        return u16_at_least(dhcp_option_code::max_message_size, 576);
    }
    /// Address lists (length a non-zero multiple of 4): the count written to out.
    constexpr result<std::size_t> routers(std::span<ipv4_address> out) const noexcept {
        return addresses(dhcp_option_code::router, out);
    }
    constexpr result<std::size_t> dns_servers(std::span<ipv4_address> out) const noexcept {
        return addresses(dhcp_option_code::dns_servers, out);
    }
    /// The number of addresses in option 3 / 6 (0 when absent or malformed).
    constexpr std::size_t router_count() const noexcept { return option_len(dhcp_option_code::router) / 4; }
    constexpr std::size_t dns_server_count() const noexcept { return option_len(dhcp_option_code::dns_servers) / 4; }
    /// Text options (at least one octet), copied into out.
    result<std::string_view> host_name(std::span<char> out) const noexcept { return text(dhcp_option_code::host_name, out); }
    result<std::string_view> domain_name(std::span<char> out) const noexcept { return text(dhcp_option_code::domain_name, out); }
    result<std::string_view> message(std::span<char> out) const noexcept { return text(dhcp_option_code::message, out); }
    /// Opaque options copied into out: 55 and 60 at least one octet, 61 at least two.
    constexpr result<bytes_view> parameter_request_list(bytes_span out) const noexcept {
        return opaque(dhcp_option_code::parameter_request_list, 1, out);
    }
    constexpr result<bytes_view> vendor_class_id(bytes_span out) const noexcept {
        return opaque(dhcp_option_code::vendor_class_id, 1, out);
    }
    constexpr result<bytes_view> client_identifier(bytes_span out) const noexcept {
        return opaque(dhcp_option_code::client_identifier, 2, out);
    }
    /// Option 119: the concatenated data goes to scratch (at least option_len(119) octets),
    /// then f(std::string_view) is called per name. Returns the name count.
    template <class F>
    constexpr result<std::size_t> domain_search(bytes_span scratch, F&& f) const {
        auto d = copy_option(dhcp_option_code::domain_search, scratch);
        if (!d) return unexpected(d.error());
        return for_each_search_domain(*d, f);
    }
    /// Option 121: f(classless_route) per route, read across instances without a copy.
    template <class F>
    constexpr result<std::size_t> classless_static_routes(F&& f) const {
        constexpr std::string_view name = "classless_static_routes";
        constexpr auto code = dhcp_option_code::classless_static_routes;
        if (!has_option(code)) return fail(layer::dhcp, errc::not_found, name);
        std::array<std::byte, 9> desc{};  // one descriptor: width, up to 4 octets, router
        std::size_t have = 0, need = 0, count = 0;
        for (const auto& o : options()) {
            if (o.code != code) continue;
            for (std::byte x : o.data) {
                if (have == 0) {
                    const std::uint8_t width = u8(x);
                    if (width > 32) return fail(layer::dhcp, errc::bad_value, name);
                    need = 1 + (width + 7u) / 8u + 4;
                }
                desc[have++] = x;
                if (have == need) {
                    (void)for_each_classless_route(bytes_view(desc.data(), need), f);  // one complete descriptor
                    ++count;
                    have = 0;
                }
            }
        }
        if (have != 0 || count == 0) return fail(layer::dhcp, errc::bad_length, name);
        return count;
    }

private:
    constexpr explicit dhcp_view(bytes_view b) noexcept : b_(b) {}

    std::string_view c_string(std::size_t off, std::size_t len) const noexcept {
        std::size_t n = 0;
        while (n < len && load_u8(b_, off + n) != 0) ++n;
        return {reinterpret_cast<const char*>(b_.data() + off), n};  // byte aliasing is defined
    }
    template <std::size_t N>
    constexpr result<std::array<std::byte, N>> fixed(std::uint8_t code) const noexcept {
        if (!has_option(code)) return fail(layer::dhcp, errc::not_found, dhcp_option_name(code));
        if (option_len(code) != N) return fail(layer::dhcp, errc::bad_length, dhcp_option_name(code));
        std::array<std::byte, N> a{};
        (void)copy_option(code, a);
        return a;
    }
    constexpr result<ipv4_address> address(std::uint8_t code) const noexcept {
        auto v = fixed<4>(code);
        if (!v) return unexpected(v.error());
        return ipv4_address::load(*v);
    }
    constexpr result<std::uint32_t> seconds(std::uint8_t code) const noexcept {
        auto v = fixed<4>(code);
        if (!v) return unexpected(v.error());
        return load_be32(*v, 0);
    }
    constexpr result<std::uint16_t> u16_at_least(std::uint8_t code, std::uint16_t min) const noexcept {
        auto v = fixed<2>(code);
        if (!v) return unexpected(v.error());
        const std::uint16_t x = load_be16(*v, 0);
        if (x < min) return fail(layer::dhcp, errc::bad_value, dhcp_option_name(code));
        return x;
    }
    constexpr result<std::size_t> addresses(std::uint8_t code, std::span<ipv4_address> out) const noexcept {
        if (!has_option(code)) return fail(layer::dhcp, errc::not_found, dhcp_option_name(code));
        const std::size_t len = option_len(code);
        if (len == 0 || len % 4 != 0) return fail(layer::dhcp, errc::bad_length, dhcp_option_name(code));
        if (out.size() < len / 4) return fail(layer::dhcp, errc::buffer_too_small, dhcp_option_name(code));
        std::array<std::byte, 4> a{};
        std::size_t have = 0, n = 0;
        for (const auto& o : options()) {
            if (o.code != code) continue;
            for (std::byte x : o.data) {
                a[have++] = x;
                if (have == 4) {
                    out[n++] = ipv4_address::load(a);
                    have = 0;
                }
            }
        }
        return n;
    }
    constexpr result<bytes_view> opaque(std::uint8_t code, std::size_t min, bytes_span out) const noexcept {
        if (!has_option(code)) return fail(layer::dhcp, errc::not_found, dhcp_option_name(code));
        if (option_len(code) < min) return fail(layer::dhcp, errc::bad_length, dhcp_option_name(code));
        return copy_option(code, out);
    }
    result<std::string_view> text(std::uint8_t code, std::span<char> out) const noexcept {
        auto v = opaque(code, 1, std::as_writable_bytes(out));
        if (!v) return unexpected(v.error());
        return std::string_view(out.data(), v->size());
    }

    bytes_view b_;
    bool cookie_ = false;
    bool has_end_ = false;
    std::uint8_t overload_ = 0;
};

/// An option vnet has no typed field for, kept as code and (concatenated) data.
struct dhcp_raw_option {
    std::uint8_t code = 0;
    std::vector<std::uint8_t> data;
    friend bool operator==(const dhcp_raw_option&, const dhcp_raw_option&) = default;
};

/// A DHCP / BOOTP message as values, for building replies and requests.
struct dhcp_repr {
    std::uint8_t op = bootp_op::request;
    std::uint8_t htype = bootp_htype::ethernet;
    std::uint8_t hlen = 6;
    std::uint8_t hops = 0;
    std::uint32_t xid = 0;
    std::uint16_t secs = 0;
    bool broadcast = false;
    ipv4_address ciaddr{}, yiaddr{}, siaddr{}, giaddr{};
    std::array<std::uint8_t, 16> chaddr{};
    std::string sname;  // at most 63 octets (NUL-terminated on the wire)
    std::string file;   // at most 127 octets
    /// false: plain BOOTP, the vendor field stays zero and no options are sent.
    bool magic_cookie = true;

    std::optional<dhcp_message_type> message_type;
    std::optional<ipv4_address> subnet_mask, broadcast_address, requested_address, server_identifier;
    std::optional<std::uint32_t> lease_time, renewal_time, rebinding_time;
    std::optional<std::uint16_t> interface_mtu, max_message_size;
    std::vector<ipv4_address> routers, dns_servers;                                        // empty: not sent
    std::string host_name, domain_name, message;                                           // empty: not sent
    std::vector<std::uint8_t> parameter_request_list, vendor_class_id, client_identifier;  // empty: not sent
    std::vector<std::string> domain_search;                                                // RFC 3397, dotted names
    std::vector<classless_route> classless_static_routes;                                  // RFC 3442
    /// Options without a typed field, emitted after the typed ones in this order.
    std::vector<dhcp_raw_option> extra_options;
    /// Codes emitted in this order, after the message type (53) unless 53 is listed here: a
    /// server copies the client's parameter request list here so that the reply follows the
    /// client's option-55 order; options not listed follow in default_option_order, then
    /// extra_options. parse() records the received order, so a round trip keeps it.
    std::vector<std::uint8_t> option_order;
    /// emit pads with zero octets up to this length (RFC 1542 section 2.1); parse() records
    /// the received length so that a round trip reproduces the bytes.
    std::size_t min_len = dhcp_view::bootp_min_len;

    static constexpr std::array<std::uint8_t, 20> default_option_order = {
        dhcp_option_code::message_type,
        dhcp_option_code::server_identifier,
        dhcp_option_code::lease_time,
        dhcp_option_code::renewal_time,
        dhcp_option_code::rebinding_time,
        dhcp_option_code::subnet_mask,
        dhcp_option_code::broadcast_address,
        dhcp_option_code::router,
        dhcp_option_code::dns_servers,
        dhcp_option_code::host_name,
        dhcp_option_code::domain_name,
        dhcp_option_code::interface_mtu,
        dhcp_option_code::domain_search,
        dhcp_option_code::classless_static_routes,
        dhcp_option_code::requested_address,
        dhcp_option_code::client_identifier,
        dhcp_option_code::vendor_class_id,
        dhcp_option_code::max_message_size,
        dhcp_option_code::parameter_request_list,
        dhcp_option_code::message,
    };

    /// chaddr as a MAC (sets htype Ethernet, hlen 6).
    void set_client_mac(const mac_address& m) {
        htype = bootp_htype::ethernet;
        hlen = mac_address::size;
        chaddr = {};
        bytes_span s(reinterpret_cast<std::byte*>(chaddr.data()), chaddr.size());  // byte aliasing is defined
        m.store(s, 0);
    }
    std::optional<mac_address> client_mac() const {
        if (htype != bootp_htype::ethernet || hlen != mac_address::size) return std::nullopt;
        return mac_address(chaddr[0], chaddr[1], chaddr[2], chaddr[3], chaddr[4], chaddr[5]);
    }

    /// Collects the header and every option (instances concatenated, overloaded fields
    /// included). Malformed typed options are errors naming the option.
    static result<dhcp_repr> parse(const dhcp_view& v) {
        namespace c = dhcp_option_code;
        dhcp_repr r;
        r.op = v.op();
        r.htype = v.htype();
        r.hlen = v.hlen();
        r.hops = v.hops();
        r.xid = v.xid();
        r.secs = v.secs();
        r.broadcast = v.broadcast();
        r.ciaddr = v.ciaddr();
        r.yiaddr = v.yiaddr();
        r.siaddr = v.siaddr();
        r.giaddr = v.giaddr();
        for (std::size_t i = 0; i < dhcp_view::chaddr_len; ++i) r.chaddr[i] = load_u8(v.bytes(), dhcp_view::field::chaddr + i);
        r.sname = std::string(v.sname());
        r.file = std::string(v.file());
        r.magic_cookie = v.has_cookie();
        r.min_len = v.bytes().size();

        for (const auto& o : v.options()) {
            if (o.code == c::overload) continue;
            if (std::find(r.option_order.begin(), r.option_order.end(), o.code) == r.option_order.end())
                r.option_order.push_back(o.code);
        }
        for (std::uint8_t code : r.option_order) {
            std::vector<std::byte> data(v.option_len(code));
            (void)v.copy_option(code, data);
            auto e = r.set_option(code, v, data);
            if (!e) return unexpected(e.error());
        }
        return r;
    }

    /// Options area length: typed and extra options, each split into 255-octet instances.
    std::size_t options_len() const {
        std::size_t n = 0;
        for_each_encoded([&](std::uint8_t, bytes_view data) { n += instances_len(data.size()); });
        return n;
    }
    std::size_t buffer_len() const {
        if (!magic_cookie) {
            // A vendor field shorter than the cookie would read as a truncated cookie.
            const std::size_t n = std::max(dhcp_view::header_len, min_len);
            return n == dhcp_view::header_len ? n : std::max(n, dhcp_view::field::options);
        }
        return std::max(dhcp_view::field::options + options_len() + 1, min_len);
    }

    /// Writes the message at the start of out; returns the bytes written.
    result<std::size_t> emit(bytes_span out) const {
        if (hlen > dhcp_view::max_hlen) return fail(layer::dhcp, errc::bad_value, "hlen");
        if (sname.size() >= dhcp_view::sname_len) return fail(layer::dhcp, errc::too_long, "sname");
        if (file.size() >= dhcp_view::file_len) return fail(layer::dhcp, errc::too_long, "file");
        auto valid = check_options();
        if (!valid) return unexpected(valid.error());
        const std::size_t n = buffer_len();
        if (out.size() < n) return fail(layer::dhcp, errc::buffer_too_small, "message");
        using f = dhcp_view::field;
        std::fill(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), std::byte{0});
        store_u8(out, f::op, op);
        store_u8(out, f::htype, htype);
        store_u8(out, f::hlen, hlen);
        store_u8(out, f::hops, hops);
        store_be32(out, f::xid, xid);
        store_be16(out, f::secs, secs);
        store_be16(out, f::flags, broadcast ? dhcp_view::flag_broadcast : 0);
        ciaddr.store(out, f::ciaddr);
        yiaddr.store(out, f::yiaddr);
        siaddr.store(out, f::siaddr);
        giaddr.store(out, f::giaddr);
        for (std::size_t i = 0; i < dhcp_view::chaddr_len; ++i) store_u8(out, f::chaddr + i, chaddr[i]);
        store_bytes(out, f::sname, as_bytes_view(sname));
        store_bytes(out, f::file, as_bytes_view(file));
        if (!magic_cookie) return n;
        store_be32(out, f::cookie, dhcp_view::magic_cookie);
        std::size_t pos = f::options;
        for_each_encoded([&](std::uint8_t code, bytes_view data) {
            std::size_t off = 0;
            do {
                const std::size_t len = std::min<std::size_t>(255, data.size() - off);
                store_u8(out, pos, code);
                store_u8(out, pos + 1, static_cast<std::uint8_t>(len));
                store_bytes(out, pos + 2, data.subspan(off, len));
                pos += 2 + len;
                off += len;
            } while (off < data.size());
        });
        store_u8(out, pos, dhcp_option_code::end);
        return n;
    }

    /// RFC 3397 encoding of names with RFC 1035 suffix compression.
    static result<std::vector<std::uint8_t>> encode_domain_search(const std::vector<std::string>& names) {
        constexpr std::string_view fld = "domain_search";
        std::vector<std::uint8_t> out;
        std::vector<std::pair<std::string, std::size_t>> suffixes;  // suffix text -> offset
        for (const auto& full : names) {
            std::string_view name = full;
            if (!name.empty() && name.back() == '.') name.remove_suffix(1);
            if (name.size() > 253) return fail(layer::dhcp, errc::too_long, fld);
            bool pointed = false;
            while (!name.empty()) {
                auto hit = std::find_if(suffixes.begin(), suffixes.end(), [&](const auto& s) { return s.first == name; });
                if (hit != suffixes.end()) {
                    out.push_back(static_cast<std::uint8_t>(0xc0 | (hit->second >> 8)));
                    out.push_back(static_cast<std::uint8_t>(hit->second & 0xff));
                    pointed = true;
                    break;
                }
                const auto dot = name.find('.');
                const auto label = name.substr(0, dot);
                if (label.empty() || label.size() > 63) return fail(layer::dhcp, errc::bad_value, fld);
                if (out.size() <= 0x3fff) suffixes.emplace_back(std::string(name), out.size());
                out.push_back(static_cast<std::uint8_t>(label.size()));
                for (char ch : label) out.push_back(static_cast<std::uint8_t>(ch));
                name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
            }
            if (!pointed) out.push_back(0);
        }
        return out;
    }

    /// RFC 3442 encoding: width, significant octets of the destination, router.
    static std::vector<std::uint8_t> encode_classless_routes(const std::vector<classless_route>& routes) {
        std::vector<std::uint8_t> out;
        for (const auto& r : routes) {
            const std::uint8_t width = r.destination.length();
            out.push_back(width);
            const auto net = r.destination.network();
            for (int i = 0; i < (width + 7) / 8; ++i) out.push_back(net.octet(i));
            for (int i = 0; i < 4; ++i) out.push_back(r.router.octet(i));
        }
        return out;
    }

    friend bool operator==(const dhcp_repr&, const dhcp_repr&) = default;

private:
    static constexpr std::size_t instances_len(std::size_t data_len) noexcept {
        const std::size_t instances = data_len == 0 ? 1 : (data_len + 254) / 255;
        return instances * 2 + data_len;
    }

    static void push_u32(std::vector<std::uint8_t>& v, std::uint32_t x) {
        for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<std::uint8_t>(x >> s));
    }

    result<void> check_options() const {
        if (!domain_search.empty()) {
            auto e = encode_domain_search(domain_search);
            if (!e) return unexpected(e.error());
        }
        for (const auto& x : extra_options)
            if (x.code == dhcp_option_code::pad || x.code == dhcp_option_code::end || x.code == dhcp_option_code::overload)
                return fail(layer::dhcp, errc::bad_value, "option");
        if (interface_mtu && *interface_mtu < 68) return fail(layer::dhcp, errc::bad_value, "interface_mtu");
        if (max_message_size && *max_message_size < 576) return fail(layer::dhcp, errc::bad_value, "max_message_size");
        if (message_type && static_cast<std::uint8_t>(*message_type) == 0)
            return fail(layer::dhcp, errc::bad_value, "message_type");
        for (const auto& r : classless_static_routes)
            if (r.destination.length() > 32) return fail(layer::dhcp, errc::bad_value, "classless_static_routes");
        return {};
    }

    /// The encoded data of a typed option, or nullopt when the field is unset.
    std::optional<std::vector<std::uint8_t>> encoded(std::uint8_t code) const {
        namespace c = dhcp_option_code;
        std::vector<std::uint8_t> v;
        auto addr = [&](const std::optional<ipv4_address>& a) -> std::optional<std::vector<std::uint8_t>> {
            if (!a) return std::nullopt;
            push_u32(v, a->to_u32());
            return v;
        };
        auto u32 = [&](const std::optional<std::uint32_t>& x) -> std::optional<std::vector<std::uint8_t>> {
            if (!x) return std::nullopt;
            push_u32(v, *x);
            return v;
        };
        auto u16 = [&](const std::optional<std::uint16_t>& x) -> std::optional<std::vector<std::uint8_t>> {
            if (!x) return std::nullopt;
            v = {static_cast<std::uint8_t>(*x >> 8), static_cast<std::uint8_t>(*x & 0xff)};
            return v;
        };
        auto list = [&](const std::vector<ipv4_address>& l) -> std::optional<std::vector<std::uint8_t>> {
            if (l.empty()) return std::nullopt;
            for (const auto& a : l) push_u32(v, a.to_u32());
            return v;
        };
        auto str = [&](const std::string& s) -> std::optional<std::vector<std::uint8_t>> {
            if (s.empty()) return std::nullopt;
            return std::vector<std::uint8_t>(s.begin(), s.end());
        };
        auto raw = [&](const std::vector<std::uint8_t>& s) -> std::optional<std::vector<std::uint8_t>> {
            if (s.empty()) return std::nullopt;
            return s;
        };
        switch (code) {
            case c::message_type:
                if (!message_type) return std::nullopt;
                return std::vector<std::uint8_t>{static_cast<std::uint8_t>(*message_type)};
            case c::subnet_mask: return addr(subnet_mask);
            case c::broadcast_address: return addr(broadcast_address);
            case c::requested_address: return addr(requested_address);
            case c::server_identifier: return addr(server_identifier);
            case c::lease_time: return u32(lease_time);
            case c::renewal_time: return u32(renewal_time);
            case c::rebinding_time: return u32(rebinding_time);
            case c::interface_mtu: return u16(interface_mtu);
            case c::max_message_size: return u16(max_message_size);
            case c::router: return list(routers);
            case c::dns_servers: return list(dns_servers);
            case c::host_name: return str(host_name);
            case c::domain_name: return str(domain_name);
            case c::message: return str(message);
            case c::parameter_request_list: return raw(parameter_request_list);
            case c::vendor_class_id: return raw(vendor_class_id);
            case c::client_identifier: return raw(client_identifier);
            case c::domain_search: {
                if (domain_search.empty()) return std::nullopt;
                auto e = encode_domain_search(domain_search);
                if (!e) return std::nullopt;  // rejected by check_options before emit
                return *e;
            }
            case c::classless_static_routes:
                if (classless_static_routes.empty()) return std::nullopt;
                return encode_classless_routes(classless_static_routes);
            default: return std::nullopt;
        }
    }

    static constexpr bool is_typed(std::uint8_t code) noexcept {
        return std::find(default_option_order.begin(), default_option_order.end(), code) != default_option_order.end();
    }

    /// Calls f(code, data) for every option to send, in emission order, each code once.
    template <class F>
    void for_each_encoded(F&& f) const {
        std::array<bool, 256> done{};
        auto emit_code = [&](std::uint8_t code) {
            if (done[code] || code == dhcp_option_code::pad || code == dhcp_option_code::end) return;
            if (is_typed(code)) {
                if (auto d = encoded(code)) {
                    done[code] = true;
                    f(code, as_bytes_view(std::span<const std::uint8_t>(*d)));
                    return;
                }
            }
            for (const auto& x : extra_options)
                if (x.code == code) {
                    done[code] = true;
                    f(code, as_bytes_view(std::span<const std::uint8_t>(x.data)));
                }
        };
        // The message type leads unless option_order places it (ISC dhcpd and libslirp put it first).
        if (std::find(option_order.begin(), option_order.end(), dhcp_option_code::message_type) == option_order.end())
            emit_code(dhcp_option_code::message_type);
        for (std::uint8_t code : option_order) emit_code(code);
        for (std::uint8_t code : default_option_order) emit_code(code);
        for (const auto& x : extra_options) emit_code(x.code);
    }

    result<void> set_option(std::uint8_t code, const dhcp_view& v, std::span<const std::byte> data) {
        namespace c = dhcp_option_code;
        auto take = [](auto r, auto& dst) -> result<void> {
            if (!r) return unexpected(r.error());
            dst = *r;
            return {};
        };
        switch (code) {
            case c::message_type: return take(v.message_type(), message_type);
            case c::subnet_mask: return take(v.subnet_mask(), subnet_mask);
            case c::broadcast_address: return take(v.broadcast_address(), broadcast_address);
            case c::requested_address: return take(v.requested_address(), requested_address);
            case c::server_identifier: return take(v.server_identifier(), server_identifier);
            case c::lease_time: return take(v.lease_time(), lease_time);
            case c::renewal_time: return take(v.renewal_time(), renewal_time);
            case c::rebinding_time: return take(v.rebinding_time(), rebinding_time);
            case c::interface_mtu: return take(v.interface_mtu(), interface_mtu);
            case c::max_message_size: return take(v.max_message_size(), max_message_size);
            case c::router:
            case c::dns_servers: {
                auto& dst = code == c::router ? routers : dns_servers;
                dst.resize(data.size() / 4);
                auto n = code == c::router ? v.routers(dst) : v.dns_servers(dst);
                if (!n) return unexpected(n.error());
                return {};
            }
            case c::host_name:
            case c::domain_name:
            case c::message: {
                auto& dst = code == c::host_name ? host_name : code == c::domain_name ? domain_name : message;
                if (data.empty()) return fail(layer::dhcp, errc::bad_length, dhcp_option_name(code));
                dst.assign(reinterpret_cast<const char*>(data.data()), data.size());  // byte aliasing is defined
                return {};
            }
            case c::parameter_request_list:
            case c::vendor_class_id:
            case c::client_identifier: {
                auto& dst = code == c::parameter_request_list ? parameter_request_list
                            : code == c::vendor_class_id      ? vendor_class_id
                                                              : client_identifier;
                if (data.size() < (code == c::client_identifier ? 2u : 1u))
                    return fail(layer::dhcp, errc::bad_length, dhcp_option_name(code));
                dst.clear();
                for (std::byte b : data) dst.push_back(u8(b));
                return {};
            }
            case c::domain_search: {
                auto n = for_each_search_domain(data, [&](std::string_view s) { domain_search.emplace_back(s); });
                if (!n) return unexpected(n.error());
                return {};
            }
            case c::classless_static_routes: {
                auto n = for_each_classless_route(data, [&](const classless_route& r) { classless_static_routes.push_back(r); });
                if (!n) return unexpected(n.error());
                return {};
            }
            default: {
                dhcp_raw_option x{code, {}};
                for (std::byte b : data) x.data.push_back(u8(b));
                extra_options.push_back(std::move(x));
                return {};
            }
        }
    }
};

}  // namespace vnet::wire
