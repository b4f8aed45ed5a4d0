// vnet/netvsc/rndis.hpp - Remote NDIS messages as carried by netvsc: control messages
// (INITIALIZE, QUERY, SET, RESET, HALT, KEEPALIVE, INDICATE_STATUS) and PACKET with its
// per-packet information (VLAN, checksum, hash value).
//
// Constants and layouts from docs/netvsc-facts.md section 3 (L-rndis, L-rf, F-rndis, D-ndis,
// Microsoft's REMOTE_NDIS_* pages). Every message: u32 type @0, u32 length @4, all fields
// little-endian u32. Offsets inside QUERY / SET / QUERY_C / INDICATE_STATUS / PACKET count
// from byte 8 (the request id / data offset field), so absolute = 8 + offset.
//
// rndis_message_view checks the length field against the buffer and the minimum length of
// the type. rndis_packet_view additionally checks the data, out-of-band and per-packet
// info areas and walks the whole PPI chain once, so its accessors cannot fail. The control
// messages are value types with parse(view) and emit(out).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/vlan.hpp>

namespace vnet::netvsc {

/// Message types (docs/netvsc-facts.md section 3).
namespace rndis_type {
inline constexpr std::uint32_t packet = 1, init = 2, init_complete = 0x80000002, halt = 3, query = 4, query_complete = 0x80000004,
                               set = 5, set_complete = 0x80000005, reset = 6, reset_complete = 0x80000006, indicate_status = 7,
                               keepalive = 8, keepalive_complete = 0x80000008;
}  // namespace rndis_type

/// Status codes (docs/netvsc-facts.md section 3).
namespace rndis_status {
inline constexpr std::uint32_t success = 0, pending = 0x103, media_connect = 0x4001000B, media_disconnect = 0x4001000C,
                               link_speed_change = 0x40010013, network_change = 0x40010018, buffer_overflow = 0x80000005,
                               failure = 0xC0000001, resources = 0xC000009A, not_supported = 0xC00000BB,
                               invalid_data = 0xC0010015;
}  // namespace rndis_status

/// The OIDs the Linux guest queries and sets (docs/netvsc-facts.md section 3).
namespace rndis_oid {
inline constexpr std::uint32_t gen_maximum_frame_size = 0x00010106, gen_link_speed = 0x00010107,
                               gen_current_packet_filter = 0x0001010E, gen_media_connect_status = 0x00010114,
                               gen_receive_scale_capabilities = 0x00010203, gen_receive_scale_parameters = 0x00010204,
                               gen_rndis_config_parameter = 0x0001021B, permanent_address_802_3 = 0x01010101,
                               current_address_802_3 = 0x01010102, tcp_offload_current_config = 0xFC01020B,
                               tcp_offload_parameters = 0xFC01020C, tcp_offload_hardware_capabilities = 0xFC01020D;
}  // namespace rndis_oid

/// OID_GEN_CURRENT_PACKET_FILTER value the Linux guest sets on open: directed |
/// all-multicast | broadcast (docs/netvsc-facts.md section 3).
inline constexpr std::uint32_t rndis_packet_filter_linux_open = 0xD;
/// OID_GEN_MEDIA_CONNECT_STATUS: 0 connected (docs/netvsc-facts.md section 3), 1 disconnected.
inline constexpr std::uint32_t rndis_media_connected = 0, rndis_media_disconnected = 1;
/// NDIS object header types of the offload OIDs (docs/netvsc-facts.md section 3, step 4 and 5):
/// {u8 type, u8 revision, u16 size}; the capabilities reply must be at least 112 bytes.
inline constexpr std::uint8_t ndis_object_type_offload = 0xA7, ndis_object_type_offload_parameters = 0x80;
inline constexpr std::size_t ndis_offload_size_min = 112;

/// Per-packet info types (docs/netvsc-facts.md section 3); bit 31 marks internal types.
namespace ppi_type {
inline constexpr std::uint32_t tcpip_checksum = 0, ipsec = 1, tcp_large_send = 2, classification_handle = 3, sg_list = 5,
                               ieee_8021q = 6, original = 7, hash_value = 8, original_net_buflist = 9, cached_net_buflist = 10,
                               short_pkt_pad = 11;
inline constexpr std::uint32_t internal_flag = 0x80000000u;
inline constexpr std::uint32_t pktinfo_id = internal_flag | 1;
}  // namespace ppi_type

/// Receive checksum info bits (docs/netvsc-facts.md section 3).
namespace rx_checksum {
inline constexpr std::uint32_t tcp_failed = 0x1, udp_failed = 0x2, ip_failed = 0x4, tcp_ok = 0x8, udp_ok = 0x10, ip_ok = 0x20;
}  // namespace rx_checksum
/// Transmit checksum info bits (docs/netvsc-facts.md section 3); TCP header offset in bits 16-25.
namespace tx_checksum {
inline constexpr std::uint32_t ipv4 = 0x1, ipv6 = 0x2, tcp = 0x4, udp = 0x8, ip_checksum = 0x10;
constexpr std::uint32_t tcp_header_offset(std::uint32_t v) noexcept { return (v >> 16) & 0x3ff; }
}  // namespace tx_checksum

/// IEEE 802.1Q per-packet info: priority bits 0-2, CFI bit 3, VLAN ID bits 4-15
/// (docs/netvsc-facts.md section 3).
struct ieee8021q_info {
    std::uint8_t priority = 0;
    bool cfi = false;
    std::uint16_t vlan_id = 0;

    constexpr std::uint32_t to_u32() const noexcept {
        return std::uint32_t{priority & 0x7u} | (cfi ? 0x8u : 0u) | (std::uint32_t{vlan_id & 0xfffu} << 4);
    }
    static constexpr ieee8021q_info from_u32(std::uint32_t v) noexcept {
        return {static_cast<std::uint8_t>(v & 0x7), (v & 0x8) != 0, static_cast<std::uint16_t>((v >> 4) & 0xfff)};
    }
    friend constexpr bool operator==(const ieee8021q_info&, const ieee8021q_info&) = default;
};

/// Minimum length of each message type (fixed fields); 0 for unknown types.
constexpr std::size_t rndis_min_len(std::uint32_t type) noexcept {
    switch (type) {
        case rndis_type::packet: return 44;
        case rndis_type::init: return 24;
        case rndis_type::init_complete: return 52;
        case rndis_type::halt: return 12;
        case rndis_type::query:
        case rndis_type::set: return 28;
        case rndis_type::query_complete: return 24;
        case rndis_type::set_complete: return 16;
        case rndis_type::reset: return 12;
        case rndis_type::reset_complete: return 16;
        case rndis_type::indicate_status: return 20;
        case rndis_type::keepalive: return 12;
        case rndis_type::keepalive_complete: return 16;
        default: return 0;
    }
}

/// Any RNDIS message: type and length checked; the view covers exactly `length` bytes.
class rndis_message_view {
public:
    static constexpr std::size_t header_len = 8;

    static constexpr result<rndis_message_view> parse(bytes_view b) noexcept {
        if (b.size() < header_len) return fail(layer::netvsc, errc::truncated, "rndis.header");
        std::size_t len = load_le32(b, 4);
        if (len < header_len || len > b.size()) return fail(layer::netvsc, errc::bad_length, "rndis.length");
        std::size_t min = rndis_min_len(load_le32(b, 0));
        if (min == 0) return fail(layer::netvsc, errc::unsupported, "rndis.type");
        if (len < min) return fail(layer::netvsc, errc::truncated, "rndis.fields");
        return rndis_message_view(b.first(len));
    }
    constexpr std::uint32_t type() const noexcept { return load_le32(b_, 0); }
    constexpr std::uint32_t length() const noexcept { return load_le32(b_, 4); }
    /// u32 at an absolute offset inside the type's fixed fields.
    constexpr std::uint32_t u32(std::size_t off) const noexcept { return load_le32(b_, off); }
    constexpr bytes_view bytes() const noexcept { return b_; }

    /// The info buffer at (8 + off, len) of a QUERY / SET / QUERY_C / INDICATE_STATUS; an
    /// empty buffer when len is 0.
    constexpr result<bytes_view> buffer(std::size_t len_field, std::size_t off_field, std::string_view name) const noexcept {
        std::size_t len = u32(len_field);
        if (len == 0) return bytes_view{};
        std::size_t off = std::size_t{u32(off_field)} + header_len;
        if (!in_bounds(b_.size(), off, len)) return fail(layer::netvsc, errc::bad_length, name);
        return b_.subspan(off, len);
    }

private:
    constexpr explicit rndis_message_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

namespace detail {
constexpr result<rndis_message_view> rndis_expect(const rndis_message_view& v, std::uint32_t type) noexcept {
    if (v.type() != type) return fail(layer::netvsc, errc::bad_value, "rndis.type");
    return v;
}
constexpr result<std::size_t> rndis_begin(bytes_span out, std::size_t len, std::uint32_t type) noexcept {
    if (out.size() < len) return fail(layer::netvsc, errc::buffer_too_small, "rndis.message");
    for (std::size_t i = 0; i < len; ++i) out[i] = std::byte{0};
    store_le32(out, 0, type);
    store_le32(out, 4, static_cast<std::uint32_t>(len));
    return len;
}
}  // namespace detail

/// REMOTE_NDIS_INITIALIZE_MSG: req_id @8, major @12, minor @16, max_xfer @20; 24 bytes.
struct rndis_init_request {
    std::uint32_t request_id = 0;
    std::uint32_t major = 1;
    std::uint32_t minor = 0;
    std::uint32_t max_transfer_size = 0x4000;  // what the Linux guest sends
    static constexpr std::size_t len = 24;

    static constexpr result<rndis_init_request> parse(const rndis_message_view& v) noexcept {
        if (auto e = detail::rndis_expect(v, rndis_type::init); !e) return unexpected(e.error());
        return rndis_init_request{v.u32(8), v.u32(12), v.u32(16), v.u32(20)};
    }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        auto n = detail::rndis_begin(out, len, rndis_type::init);
        if (!n) return n;
        store_le32(out, 8, request_id);
        store_le32(out, 12, major);
        store_le32(out, 16, minor);
        store_le32(out, 20, max_transfer_size);
        return n;
    }
    friend constexpr bool operator==(const rndis_init_request&, const rndis_init_request&) = default;
};

/// REMOTE_NDIS_INITIALIZE_CMPLT: req_id @8, status @12, major @16, minor @20, devflags @24,
/// medium @28, max_pkt_per_msg @32, max_xfer @36, align @40 (log2), af_off @44, af_len @48.
struct rndis_init_complete {
    std::uint32_t request_id = 0;
    std::uint32_t status = rndis_status::success;
    std::uint32_t major = 1;
    std::uint32_t minor = 0;
    std::uint32_t device_flags = 1;  // connectionless
    std::uint32_t medium = 0;        // 802.3
    std::uint32_t max_packets_per_message = 8;
    std::uint32_t max_transfer_size = 0x4000;
    std::uint32_t packet_alignment = 3;  // log2: 8 bytes
    std::uint32_t af_list_offset = 0;
    std::uint32_t af_list_size = 0;
    static constexpr std::size_t len = 52;

    static constexpr result<rndis_init_complete> parse(const rndis_message_view& v) noexcept {
        if (auto e = detail::rndis_expect(v, rndis_type::init_complete); !e) return unexpected(e.error());
        return rndis_init_complete{v.u32(8),  v.u32(12), v.u32(16), v.u32(20), v.u32(24), v.u32(28),
                                   v.u32(32), v.u32(36), v.u32(40), v.u32(44), v.u32(48)};
    }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        auto n = detail::rndis_begin(out, len, rndis_type::init_complete);
        if (!n) return n;
        const std::uint32_t f[] = {
            request_id,        status,           major,          minor,       device_flags, medium, max_packets_per_message,
            max_transfer_size, packet_alignment, af_list_offset, af_list_size};
        for (std::size_t i = 0; i < 11; ++i) store_le32(out, 8 + 4 * i, f[i]);
        return n;
    }
    friend constexpr bool operator==(const rndis_init_complete&, const rndis_init_complete&) = default;
};

/// REMOTE_NDIS_QUERY_MSG / SET_MSG: req_id @8, oid @12, info_len @16, info_off @20 (from
/// byte 8; the Linux guest uses 20), vc @24, info @28. `info` views the parsed message.
struct rndis_oid_request {
    std::uint32_t type = rndis_type::query;  // query or set
    std::uint32_t request_id = 0;
    std::uint32_t oid = 0;
    bytes_view info{};
    static constexpr std::size_t header_len = 28;
    static constexpr std::uint32_t info_offset = 20;

    static constexpr result<rndis_oid_request> parse(const rndis_message_view& v) noexcept {
        if (v.type() != rndis_type::query && v.type() != rndis_type::set)
            return fail(layer::netvsc, errc::bad_value, "rndis.type");
        auto info = v.buffer(16, 20, "rndis.info");
        if (!info) return unexpected(info.error());
        return rndis_oid_request{v.type(), v.u32(8), v.u32(12), *info};
    }
    constexpr std::size_t buffer_len() const noexcept { return header_len + info.size(); }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        auto n = detail::rndis_begin(out, buffer_len(), type);
        if (!n) return n;
        store_le32(out, 8, request_id);
        store_le32(out, 12, oid);
        store_le32(out, 16, static_cast<std::uint32_t>(info.size()));
        store_le32(out, 20, info_offset);
        store_bytes(out, header_len, info);
        return n;
    }
};

/// REMOTE_NDIS_QUERY_CMPLT: req_id @8, status @12, info_len @16, info_off @20 (from byte 8).
struct rndis_query_complete {
    std::uint32_t request_id = 0;
    std::uint32_t status = rndis_status::success;
    bytes_view info{};
    static constexpr std::size_t header_len = 24;
    static constexpr std::uint32_t info_offset = 16;

    static constexpr result<rndis_query_complete> parse(const rndis_message_view& v) noexcept {
        if (auto e = detail::rndis_expect(v, rndis_type::query_complete); !e) return unexpected(e.error());
        auto info = v.buffer(16, 20, "rndis.info");
        if (!info) return unexpected(info.error());
        return rndis_query_complete{v.u32(8), v.u32(12), *info};
    }
    constexpr std::size_t buffer_len() const noexcept { return header_len + info.size(); }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        auto n = detail::rndis_begin(out, buffer_len(), rndis_type::query_complete);
        if (!n) return n;
        store_le32(out, 8, request_id);
        store_le32(out, 12, status);
        store_le32(out, 16, static_cast<std::uint32_t>(info.size()));
        store_le32(out, 20, info_offset);  // also when empty: Linux reads offset 0 as a failed query
        store_bytes(out, header_len, info);
        return n;
    }
};

/// Completions that carry request id and status only: SET_C and KEEPALIVE_C (16 bytes).
struct rndis_simple_complete {
    std::uint32_t type = rndis_type::set_complete;
    std::uint32_t request_id = 0;
    std::uint32_t status = rndis_status::success;
    static constexpr std::size_t len = 16;

    static constexpr result<rndis_simple_complete> parse(const rndis_message_view& v) noexcept {
        if (v.type() != rndis_type::set_complete && v.type() != rndis_type::keepalive_complete)
            return fail(layer::netvsc, errc::bad_value, "rndis.type");
        return rndis_simple_complete{v.type(), v.u32(8), v.u32(12)};
    }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        auto n = detail::rndis_begin(out, len, type);
        if (!n) return n;
        store_le32(out, 8, request_id);
        store_le32(out, 12, status);
        return n;
    }
    friend constexpr bool operator==(const rndis_simple_complete&, const rndis_simple_complete&) = default;
};

/// Requests that carry one u32 after the header: HALT and KEEPALIVE (request id @8), RESET
/// (reserved @8). 12 bytes.
struct rndis_simple_request {
    std::uint32_t type = rndis_type::keepalive;
    std::uint32_t request_id = 0;
    static constexpr std::size_t len = 12;

    static constexpr result<rndis_simple_request> parse(const rndis_message_view& v) noexcept {
        if (v.type() != rndis_type::halt && v.type() != rndis_type::keepalive && v.type() != rndis_type::reset)
            return fail(layer::netvsc, errc::bad_value, "rndis.type");
        return rndis_simple_request{v.type(), v.u32(8)};
    }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        auto n = detail::rndis_begin(out, len, type);
        if (!n) return n;
        store_le32(out, 8, request_id);
        return n;
    }
    friend constexpr bool operator==(const rndis_simple_request&, const rndis_simple_request&) = default;
};

/// REMOTE_NDIS_RESET_CMPLT: status @8, addressing_reset @12; 16 bytes.
struct rndis_reset_complete {
    std::uint32_t status = rndis_status::success;
    std::uint32_t addressing_reset = 0;
    static constexpr std::size_t len = 16;

    static constexpr result<rndis_reset_complete> parse(const rndis_message_view& v) noexcept {
        if (auto e = detail::rndis_expect(v, rndis_type::reset_complete); !e) return unexpected(e.error());
        return rndis_reset_complete{v.u32(8), v.u32(12)};
    }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        auto n = detail::rndis_begin(out, len, rndis_type::reset_complete);
        if (!n) return n;
        store_le32(out, 8, status);
        store_le32(out, 12, addressing_reset);
        return n;
    }
    friend constexpr bool operator==(const rndis_reset_complete&, const rndis_reset_complete&) = default;
};

/// REMOTE_NDIS_INDICATE_STATUS_MSG: status @8, buf_len @12, buf_off @16 (counted from
/// byte 8 like the other offsets: docs/netvsc-facts.md marks this base UNCONFIRMED); 20 bytes
/// plus the buffer.
struct rndis_indicate_status {
    std::uint32_t status = 0;
    bytes_view buffer{};
    static constexpr std::size_t header_len = 20;
    static constexpr std::uint32_t buffer_offset = 12;

    static constexpr result<rndis_indicate_status> parse(const rndis_message_view& v) noexcept {
        if (auto e = detail::rndis_expect(v, rndis_type::indicate_status); !e) return unexpected(e.error());
        auto buf = v.buffer(12, 16, "rndis.status_buffer");
        if (!buf) return unexpected(buf.error());
        return rndis_indicate_status{v.u32(8), *buf};
    }
    constexpr std::size_t buffer_len() const noexcept { return header_len + buffer.size(); }
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        auto n = detail::rndis_begin(out, buffer_len(), rndis_type::indicate_status);
        if (!n) return n;
        store_le32(out, 8, status);
        store_le32(out, 12, static_cast<std::uint32_t>(buffer.size()));
        store_le32(out, 16, buffer.empty() ? 0 : buffer_offset);
        store_bytes(out, header_len, buffer);
        return n;
    }
};

/// One per-packet info element: {u32 size, u32 type, u32 ppi_offset} then data.
struct rndis_ppi {
    std::uint32_t type = 0;  // bit 31: internal
    bytes_view data{};
};

/// What the PPIs of a packet say, for the types netvsc uses.
struct rndis_packet_info {
    std::optional<ieee8021q_info> vlan;
    std::optional<std::uint32_t> checksum;    // rx_checksum or tx_checksum bits
    std::optional<std::uint32_t> hash_value;  // the RSS hash of the frame
    friend constexpr bool operator==(const rndis_packet_info&, const rndis_packet_info&) = default;
};

/// REMOTE_NDIS_PACKET_MSG: data_offset @8, data_len @12, oob_off @16, oob_len @20,
/// num_oob @24, ppi_off @28, ppi_len @32, vc_handle @36, reserved @40; header 44 bytes.
/// Offsets count from byte 8, are multiples of 4 and at least 36.
class rndis_packet_view {
public:
    static constexpr std::size_t header_len = 44;
    static constexpr std::size_t ppi_header_len = 12;
    static constexpr std::size_t min_offset = 36;
    struct field {
        static constexpr std::size_t data_offset = 8, data_len = 12, oob_offset = 16, oob_len = 20, num_oob = 24, ppi_offset = 28,
                                     ppi_len = 32, vc_handle = 36, reserved = 40;
    };
    static_assert(field::reserved + 4 == header_len);

    static constexpr result<rndis_packet_view> parse(bytes_view b) noexcept {
        auto m = rndis_message_view::parse(b);
        if (!m) return unexpected(m.error());
        return parse(*m);
    }
    static constexpr result<rndis_packet_view> parse(const rndis_message_view& m) noexcept {
        if (m.type() != rndis_type::packet) return fail(layer::netvsc, errc::bad_value, "rndis.type");
        bytes_view b = m.bytes();
        auto area = [&](std::size_t off_f, std::size_t len_f, std::string_view name) -> result<bytes_view> {
            std::size_t len = load_le32(b, len_f);
            if (len == 0) return bytes_view{};
            std::size_t off = load_le32(b, off_f);
            if (off % 4 != 0 || off < min_offset) return fail(layer::netvsc, errc::bad_pointer, name);
            if (!in_bounds(b.size(), off + 8, len)) return fail(layer::netvsc, errc::bad_length, name);
            return b.subspan(off + 8, len);
        };
        auto data = area(field::data_offset, field::data_len, "rndis.data");
        if (!data) return unexpected(data.error());
        if (auto oob = area(field::oob_offset, field::oob_len, "rndis.oob"); !oob) return unexpected(oob.error());
        auto ppi = area(field::ppi_offset, field::ppi_len, "rndis.ppi");
        if (!ppi) return unexpected(ppi.error());
        // Walk the chain once: each element fits, its size is a multiple of 4 and at
        // least the 12-byte header, its data offset inside it.
        for (std::size_t off = 0; off < ppi->size();) {
            if (ppi->size() - off < ppi_header_len) return fail(layer::netvsc, errc::truncated, "rndis.ppi");
            std::size_t size = load_le32(*ppi, off);
            std::size_t doff = load_le32(*ppi, off + 8);
            if (size < ppi_header_len || size % 4 != 0 || size > ppi->size() - off)
                return fail(layer::netvsc, errc::bad_length, "rndis.ppi_size");
            if (doff < ppi_header_len || doff > size) return fail(layer::netvsc, errc::bad_pointer, "rndis.ppi_offset");
            off += size;
        }
        return rndis_packet_view(b, *data, *ppi);
    }

    /// The Ethernet frame.
    constexpr bytes_view frame() const noexcept { return data_; }
    constexpr bytes_view bytes() const noexcept { return b_; }
    constexpr std::uint32_t length() const noexcept { return load_le32(b_, 4); }

    /// Calls f(rndis_ppi) for each element, in order.
    template <class F>
    constexpr void for_each_ppi(F&& f) const {
        for (std::size_t off = 0; off < ppi_.size();) {
            std::size_t size = load_le32(ppi_, off);
            std::size_t doff = load_le32(ppi_, off + 8);
            f(rndis_ppi{load_le32(ppi_, off + 4), ppi_.subspan(off + doff, size - doff)});
            off += size;
        }
    }
    /// The data of the first element of type t, if any.
    constexpr std::optional<bytes_view> find_ppi(std::uint32_t t) const noexcept {
        std::optional<bytes_view> found;
        for_each_ppi([&](const rndis_ppi& p) {
            if (!found && p.type == t) found = p.data;
        });
        return found;
    }
    /// VLAN, checksum and hash value from their PPIs (a PPI whose data is shorter than
    /// its u32 is ignored).
    constexpr rndis_packet_info info() const noexcept {
        rndis_packet_info i;
        auto u32_of = [this](std::uint32_t t) -> std::optional<std::uint32_t> {
            auto d = find_ppi(t);
            if (!d || d->size() < 4) return std::nullopt;
            return load_le32(*d, 0);
        };
        if (auto v = u32_of(ppi_type::ieee_8021q)) i.vlan = ieee8021q_info::from_u32(*v);
        i.checksum = u32_of(ppi_type::tcpip_checksum);
        i.hash_value = u32_of(ppi_type::hash_value);
        return i;
    }

private:
    constexpr rndis_packet_view(bytes_view b, bytes_view data, bytes_view ppi) noexcept : b_(b), data_(data), ppi_(ppi) {}
    bytes_view b_;
    bytes_view data_;
    bytes_view ppi_;
};

/// Bytes one PPI element with a u32 of data takes.
inline constexpr std::size_t rndis_ppi_u32_len = 16;

constexpr std::size_t rndis_ppi_len(const rndis_packet_info& info) noexcept {
    return rndis_ppi_u32_len * ((info.vlan ? 1 : 0) + (info.checksum ? 1 : 0) + (info.hash_value ? 1 : 0));
}
/// Length of the PACKET message emit_rndis_packet writes.
constexpr std::size_t rndis_packet_len(const rndis_packet_info& info, std::size_t frame_len) noexcept {
    return rndis_packet_view::header_len + rndis_ppi_len(info) + frame_len;
}

/// Writes a PACKET message the way the Linux guest lays it out: ppi_offset 36 (the PPIs
/// right after the header: VLAN, checksum, hash), data after the PPIs. The frame is head
/// followed by tail (a frame whose 802.1Q tag is moved into the PPI is written as the
/// addresses and what follows the tag, without a copy first). Returns the length.
constexpr result<std::size_t> emit_rndis_packet(bytes_span out, const rndis_packet_info& info, bytes_view head,
                                                bytes_view tail = {}) noexcept {
    std::size_t ppi_len = rndis_ppi_len(info);
    std::size_t frame_len = head.size() + tail.size();
    std::size_t len = rndis_packet_len(info, frame_len);
    if (len > 0xffffffffu) return fail(layer::netvsc, errc::too_long, "rndis.packet");
    auto n = detail::rndis_begin(out, len, rndis_type::packet);
    if (!n) return n;
    using f = rndis_packet_view::field;
    store_le32(out, f::data_offset, static_cast<std::uint32_t>(rndis_packet_view::min_offset + ppi_len));
    store_le32(out, f::data_len, static_cast<std::uint32_t>(frame_len));
    store_le32(out, f::ppi_offset, ppi_len ? static_cast<std::uint32_t>(rndis_packet_view::min_offset) : 0);
    store_le32(out, f::ppi_len, static_cast<std::uint32_t>(ppi_len));
    std::size_t off = rndis_packet_view::header_len;
    auto put = [&](std::uint32_t type, std::uint32_t v) {
        store_le32(out, off, static_cast<std::uint32_t>(rndis_ppi_u32_len));
        store_le32(out, off + 4, type);
        store_le32(out, off + 8, static_cast<std::uint32_t>(rndis_packet_view::ppi_header_len));
        store_le32(out, off + 12, v);
        off += rndis_ppi_u32_len;
    };
    if (info.vlan) put(ppi_type::ieee_8021q, info.vlan->to_u32());
    if (info.checksum) put(ppi_type::tcpip_checksum, *info.checksum);
    if (info.hash_value) put(ppi_type::hash_value, *info.hash_value);
    if (head.data() != out.data() + off) std::copy(head.begin(), head.end(), out.begin() + static_cast<std::ptrdiff_t>(off));
    std::copy(tail.begin(), tail.end(), out.begin() + static_cast<std::ptrdiff_t>(off + head.size()));
    return n;
}

/// An Ethernet frame with its first 802.1Q tag taken out: the tag as PPI data, and the
/// frame as head (the two addresses) and tail (from the inner EtherType on).
struct untagged_frame {
    ieee8021q_info tag{};
    bytes_view head{};
    bytes_view tail{};
};
/// The frame's C-tag (TPID 0x8100 after the addresses), if it has one. A guest that
/// negotiated NDIS_CONFIG ieee8021q gets the tag in the IEEE_8021Q PPI, not in the frame
/// (docs/netvsc-facts.md section 3 "PPI types" and "Bit fields").
constexpr std::optional<untagged_frame> split_8021q(bytes_view frame) noexcept {
    if (frame.size() < 18 || load_be16(frame, 12) != wire::ethertype::vlan) return std::nullopt;
    const auto t = wire::vlan_tag::from_tci(wire::ethertype::vlan, load_be16(frame, 14));
    return untagged_frame{{t.pcp, t.dei, t.vid}, frame.first(12), frame.subspan(16)};
}
/// What a PACKET message carries for frame: with tag_to_ppi and no tag given in info, the
/// frame's own 802.1Q tag moves into the PPI and the frame is written without it.
struct packet_parts {
    rndis_packet_info info;
    bytes_view head;
    bytes_view tail;
};
constexpr packet_parts packet_parts_of(bytes_view frame, const rndis_packet_info& info, bool tag_to_ppi) noexcept {
    packet_parts p{info, frame, {}};
    if (tag_to_ppi && !info.vlan)
        if (auto u = split_8021q(frame)) p = {rndis_packet_info{u->tag, info.checksum, info.hash_value}, u->head, u->tail};
    return p;
}

/// Writes frame with tag inserted after the addresses into out (frame.size() + 4 bytes);
/// returns the tagged frame, or an error when out is too small or the frame is shorter
/// than its addresses.
constexpr result<bytes_view> insert_8021q(bytes_span out, bytes_view frame, const ieee8021q_info& tag) noexcept {
    if (frame.size() < 12) return fail(layer::netvsc, errc::truncated, "rndis.vlan_frame");
    if (out.size() < frame.size() + 4) return fail(layer::netvsc, errc::buffer_too_small, "rndis.vlan_frame");
    std::copy(frame.begin(), frame.begin() + 12, out.begin());
    wire::vlan_tag{wire::ethertype::vlan, tag.priority, tag.cfi, tag.vlan_id}.store(out, 12);
    std::copy(frame.begin() + 12, frame.end(), out.begin() + 16);
    return bytes_view(out.first(frame.size() + 4));
}

}  // namespace vnet::netvsc

template <>
struct fmt::formatter<vnet::netvsc::ieee8021q_info> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::ieee8021q_info& v, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "vlan {} prio {}{}", v.vlan_id, v.priority, v.cfi ? " cfi" : "");
    }
};

template <>
struct fmt::formatter<vnet::netvsc::rndis_packet_info> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::rndis_packet_info& i, Ctx& ctx) const {
        auto out = ctx.out();
        if (i.vlan) out = fmt::format_to(out, "{} ", *i.vlan);
        if (i.checksum) out = fmt::format_to(out, "csum {:#x} ", *i.checksum);
        if (i.hash_value) out = fmt::format_to(out, "hash {:#x} ", *i.hash_value);
        return fmt::format_to(out, "{}", (i.vlan || i.checksum || i.hash_value) ? "" : "no ppi");
    }
};
