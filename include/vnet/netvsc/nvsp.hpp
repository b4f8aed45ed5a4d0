// vnet/netvsc/nvsp.hpp - NVSP (network virtual service protocol) messages, the payload of
// the VMBus packets of a netvsc channel.
//
// Constants and layouts from docs/netvsc-facts.md section 2 (L-net.h, D-nvs, F-hn, O-proto):
// every message starts with u32 msg_type; fields are little-endian u32 (u16 for buffer
// ids, u64 for the NDIS config capabilities) at fixed offsets. Messages on the wire are
// padded: 28 bytes (OpenVMM v1), 32 (FreeBSD), 40 (DPDK, OpenVMM v6.1); nvsp_message_len
// is what vnet emits.
//
// nvsp_view::parse checks the header and that the message is long enough for the fields
// of its type (unknown types need only the header). nvsp_message is the value type: a
// variant with one struct per message; parse(view, direction) and emit(out, message).
// SUBCHANNEL (133) is the only type whose request and completion share a number; the
// direction says which one a message is.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>

namespace vnet::netvsc {

/// NVSP protocol versions (docs/netvsc-facts.md section 2).
namespace nvsp_version {
inline constexpr std::uint32_t v1 = 0x2, v2 = 0x30002, v4 = 0x40000, v5 = 0x50000, v6 = 0x60000, v61 = 0x60001;
/// Newest first: the order in which the Linux guest tries them (L-nvsc netvsc_connect_vsp).
inline constexpr std::array<std::uint32_t, 6> newest_first{v61, v6, v5, v4, v2, v1};
}  // namespace nvsp_version

/// NDIS versions sent in SEND_NDIS_VER (docs/netvsc-facts.md section 2).
namespace ndis_version {
inline constexpr std::uint32_t v6_1 = 0x00060001, v6_20 = 0x00060014, v6_30 = 0x0006001e;
}  // namespace ndis_version

/// Message types (docs/netvsc-facts.md section 2).
enum class nvsp_type : std::uint32_t {
    init = 1,
    init_complete = 2,
    send_ndis_version = 100,
    send_receive_buffer = 101,
    send_receive_buffer_complete = 102,
    revoke_receive_buffer = 103,
    send_send_buffer = 104,
    send_send_buffer_complete = 105,
    revoke_send_buffer = 106,
    send_rndis_packet = 107,
    send_rndis_packet_complete = 108,
    send_ndis_config = 125,
    send_vf_association = 128,
    switch_data_path = 129,
    oid_query_ex = 131,
    oid_query_ex_complete = 132,
    subchannel = 133,
    send_indirection_table = 134,
    pd_api = 135,
    pd_post_batch = 136,
};

constexpr std::string_view to_string(nvsp_type t) noexcept {
    switch (t) {
        case nvsp_type::init: return "INIT";
        case nvsp_type::init_complete: return "INIT_COMPLETE";
        case nvsp_type::send_ndis_version: return "SEND_NDIS_VER";
        case nvsp_type::send_receive_buffer: return "SEND_RECV_BUF";
        case nvsp_type::send_receive_buffer_complete: return "SEND_RECV_BUF_COMPLETE";
        case nvsp_type::revoke_receive_buffer: return "REVOKE_RECV_BUF";
        case nvsp_type::send_send_buffer: return "SEND_SEND_BUF";
        case nvsp_type::send_send_buffer_complete: return "SEND_SEND_BUF_COMPLETE";
        case nvsp_type::revoke_send_buffer: return "REVOKE_SEND_BUF";
        case nvsp_type::send_rndis_packet: return "SEND_RNDIS_PKT";
        case nvsp_type::send_rndis_packet_complete: return "SEND_RNDIS_PKT_COMPLETE";
        case nvsp_type::send_ndis_config: return "SEND_NDIS_CONFIG";
        case nvsp_type::send_vf_association: return "SEND_VF_ASSOCIATION";
        case nvsp_type::switch_data_path: return "SWITCH_DATA_PATH";
        case nvsp_type::oid_query_ex: return "OID_QUERY_EX";
        case nvsp_type::oid_query_ex_complete: return "OID_QUERY_EX_COMP";
        case nvsp_type::subchannel: return "SUBCHANNEL";
        case nvsp_type::send_indirection_table: return "SEND_INDIRECTION_TABLE";
        case nvsp_type::pd_api: return "PD_API";
        case nvsp_type::pd_post_batch: return "PD_POST_BATCH";
    }
    return "unknown";
}

/// Status values of completions (docs/netvsc-facts.md section 2).
namespace nvsp_status {
inline constexpr std::uint32_t none = 0, success = 1, failure = 2, protocol_too_new = 3, protocol_too_old = 4,
                               invalid_rndis_packet = 5, busy = 6, protocol_unsupported = 7;
}  // namespace nvsp_status

/// The buffer ids the Linux guest uses (docs/netvsc-facts.md section 2, message 101 / 104).
inline constexpr std::uint16_t nvsp_receive_buffer_id = 0xCAFE;
inline constexpr std::uint16_t nvsp_send_buffer_id = 0;
/// SEND_RNDIS_PKT send_buf_section_index when the message is not in the send buffer.
inline constexpr std::uint32_t nvsp_no_section = 0xFFFFFFFF;
/// The size vnet emits (DPDK, OpenVMM v6.1); parsers accept any length that holds the fields.
inline constexpr std::size_t nvsp_message_len = 40;
/// The shortest message a host answers (docs/netvsc-facts.md section 2: 28, 32 or 40 are seen).
inline constexpr std::size_t nvsp_min_host_message_len = 28;
inline constexpr std::size_t nvsp_header_len = 4;

/// NDIS config capability bits (message 125, u64 @12).
namespace ndis_config_cap {
inline constexpr std::uint64_t vmq = 1u << 0, chimney = 1u << 1, sriov = 1u << 2, ieee8021q = 1u << 3, correlation_id = 1u << 4,
                               teaming = 1u << 5, vsubnetid = 1u << 6, rsc = 1u << 7;
}  // namespace ndis_config_cap

/// Which side sent a message: only SUBCHANNEL needs it to be decoded.
enum class nvsp_direction : std::uint8_t { guest_to_host, host_to_guest };

// ---- one struct per message: fields in wire order, the type as a constant ----
struct nvsp_init {
    static constexpr nvsp_type type = nvsp_type::init;
    std::uint32_t min_version = 0;  // @4
    std::uint32_t max_version = 0;  // @8
    friend constexpr bool operator==(const nvsp_init&, const nvsp_init&) = default;
};
struct nvsp_init_complete {
    static constexpr nvsp_type type = nvsp_type::init_complete;
    std::uint32_t negotiated_version = 0;  // @4 (deprecated)
    std::uint32_t max_mdl_chain_len = 0;   // @8
    std::uint32_t status = 0;              // @12
    friend constexpr bool operator==(const nvsp_init_complete&, const nvsp_init_complete&) = default;
};
struct nvsp_ndis_version {
    static constexpr nvsp_type type = nvsp_type::send_ndis_version;
    std::uint32_t major = 0;  // @4
    std::uint32_t minor = 0;  // @8
    friend constexpr bool operator==(const nvsp_ndis_version&, const nvsp_ndis_version&) = default;
};
struct nvsp_send_receive_buffer {
    static constexpr nvsp_type type = nvsp_type::send_receive_buffer;
    std::uint32_t gpadl = 0;                    // @4
    std::uint16_t id = nvsp_receive_buffer_id;  // @8
    friend constexpr bool operator==(const nvsp_send_receive_buffer&, const nvsp_send_receive_buffer&) = default;
};
/// One receive-buffer section (message 102 @12): 16 bytes.
struct nvsp_receive_section {
    std::uint32_t offset = 0;
    std::uint32_t sub_alloc_size = 0;
    std::uint32_t num_sub_allocs = 0;
    std::uint32_t end_offset = 0;
    friend constexpr bool operator==(const nvsp_receive_section&, const nvsp_receive_section&) = default;
};
struct nvsp_receive_buffer_complete {
    static constexpr nvsp_type type = nvsp_type::send_receive_buffer_complete;
    std::uint32_t status = 0;        // @4
    std::uint32_t num_sections = 0;  // @8
    nvsp_receive_section section{};  // @12: the first section (Linux requires exactly one)
    friend constexpr bool operator==(const nvsp_receive_buffer_complete&, const nvsp_receive_buffer_complete&) = default;
};
struct nvsp_revoke_receive_buffer {
    static constexpr nvsp_type type = nvsp_type::revoke_receive_buffer;
    std::uint16_t id = nvsp_receive_buffer_id;  // @4
    friend constexpr bool operator==(const nvsp_revoke_receive_buffer&, const nvsp_revoke_receive_buffer&) = default;
};
struct nvsp_send_send_buffer {
    static constexpr nvsp_type type = nvsp_type::send_send_buffer;
    std::uint32_t gpadl = 0;                 // @4
    std::uint16_t id = nvsp_send_buffer_id;  // @8
    friend constexpr bool operator==(const nvsp_send_send_buffer&, const nvsp_send_send_buffer&) = default;
};
struct nvsp_send_buffer_complete {
    static constexpr nvsp_type type = nvsp_type::send_send_buffer_complete;
    std::uint32_t status = 0;        // @4
    std::uint32_t section_size = 0;  // @8
    friend constexpr bool operator==(const nvsp_send_buffer_complete&, const nvsp_send_buffer_complete&) = default;
};
struct nvsp_revoke_send_buffer {
    static constexpr nvsp_type type = nvsp_type::revoke_send_buffer;
    std::uint16_t id = nvsp_send_buffer_id;  // @4
    friend constexpr bool operator==(const nvsp_revoke_send_buffer&, const nvsp_revoke_send_buffer&) = default;
};
/// channel_type: 0 data, 1 control.
struct nvsp_rndis_packet {
    static constexpr nvsp_type type = nvsp_type::send_rndis_packet;
    static constexpr std::uint32_t data = 0, control = 1;
    std::uint32_t channel_type = data;              // @4
    std::uint32_t section_index = nvsp_no_section;  // @8
    std::uint32_t section_size = 0;                 // @12
    friend constexpr bool operator==(const nvsp_rndis_packet&, const nvsp_rndis_packet&) = default;
};
struct nvsp_rndis_packet_complete {
    static constexpr nvsp_type type = nvsp_type::send_rndis_packet_complete;
    std::uint32_t status = 0;  // @4
    friend constexpr bool operator==(const nvsp_rndis_packet_complete&, const nvsp_rndis_packet_complete&) = default;
};
struct nvsp_ndis_config {
    static constexpr nvsp_type type = nvsp_type::send_ndis_config;
    std::uint32_t mtu = 0;           // @4
    std::uint32_t reserved = 0;      // @8
    std::uint64_t capabilities = 0;  // @12, ndis_config_cap bits
    friend constexpr bool operator==(const nvsp_ndis_config&, const nvsp_ndis_config&) = default;
};
struct nvsp_vf_association {
    static constexpr nvsp_type type = nvsp_type::send_vf_association;
    std::uint32_t allocated = 0;  // @4
    std::uint32_t serial = 0;     // @8
    friend constexpr bool operator==(const nvsp_vf_association&, const nvsp_vf_association&) = default;
};
struct nvsp_switch_data_path {
    static constexpr nvsp_type type = nvsp_type::switch_data_path;
    static constexpr std::uint32_t synthetic = 0, vf = 1;
    std::uint32_t datapath = synthetic;  // @4
    friend constexpr bool operator==(const nvsp_switch_data_path&, const nvsp_switch_data_path&) = default;
};
struct nvsp_subchannel_request {
    static constexpr nvsp_type type = nvsp_type::subchannel;
    static constexpr std::uint32_t allocate = 1;
    std::uint32_t op = allocate;        // @4
    std::uint32_t num_subchannels = 0;  // @8
    friend constexpr bool operator==(const nvsp_subchannel_request&, const nvsp_subchannel_request&) = default;
};
struct nvsp_subchannel_complete {
    static constexpr nvsp_type type = nvsp_type::subchannel;
    std::uint32_t status = 0;           // @4
    std::uint32_t num_subchannels = 0;  // @8
    friend constexpr bool operator==(const nvsp_subchannel_complete&, const nvsp_subchannel_complete&) = default;
};
/// The RSS indirection table the host sends: count (16) u32 entries at offset from the
/// start of the message.
struct nvsp_indirection_table {
    static constexpr nvsp_type type = nvsp_type::send_indirection_table;
    static constexpr std::size_t entries = 16;
    static constexpr std::uint32_t table_offset = 12;  // where vnet puts the table
    std::array<std::uint32_t, entries> table{};
    friend constexpr bool operator==(const nvsp_indirection_table&, const nvsp_indirection_table&) = default;
};

using nvsp_message =
    std::variant<nvsp_init, nvsp_init_complete, nvsp_ndis_version, nvsp_send_receive_buffer, nvsp_receive_buffer_complete,
                 nvsp_revoke_receive_buffer, nvsp_send_send_buffer, nvsp_send_buffer_complete, nvsp_revoke_send_buffer,
                 nvsp_rndis_packet, nvsp_rndis_packet_complete, nvsp_ndis_config, nvsp_vf_association, nvsp_switch_data_path,
                 nvsp_subchannel_request, nvsp_subchannel_complete, nvsp_indirection_table>;

/// Bytes a message of type t needs for its fields (header included); 4 for types vnet
/// does not decode.
constexpr std::size_t nvsp_fields_len(std::uint32_t t) noexcept {
    switch (static_cast<nvsp_type>(t)) {
        case nvsp_type::init: return 12;
        case nvsp_type::init_complete: return 16;
        case nvsp_type::send_ndis_version: return 12;
        case nvsp_type::send_receive_buffer: return 10;
        case nvsp_type::send_receive_buffer_complete: return 28;
        case nvsp_type::revoke_receive_buffer: return 6;
        case nvsp_type::send_send_buffer: return 10;
        case nvsp_type::send_send_buffer_complete: return 12;
        case nvsp_type::revoke_send_buffer: return 6;
        case nvsp_type::send_rndis_packet: return 16;
        case nvsp_type::send_rndis_packet_complete: return 8;
        case nvsp_type::send_ndis_config: return 20;
        case nvsp_type::send_vf_association: return 12;
        case nvsp_type::switch_data_path: return 8;
        case nvsp_type::subchannel: return 12;
        case nvsp_type::send_indirection_table: return 12;
        default: return nvsp_header_len;
    }
}

/// A checked view: the header and the fields of its type are inside the buffer.
class nvsp_view {
public:
    static constexpr result<nvsp_view> parse(bytes_view b) noexcept {
        if (b.size() < nvsp_header_len) return fail(layer::netvsc, errc::truncated, "nvsp.header");
        if (b.size() < nvsp_fields_len(load_le32(b, 0))) return fail(layer::netvsc, errc::truncated, "nvsp.fields");
        return nvsp_view(b);
    }
    constexpr std::uint32_t raw_type() const noexcept { return load_le32(b_, 0); }
    constexpr nvsp_type type() const noexcept { return static_cast<nvsp_type>(raw_type()); }
    /// u32 at off; precondition: off + 4 <= the fields length of this type.
    constexpr std::uint32_t u32(std::size_t off) const noexcept { return load_le32(b_, off); }
    constexpr std::uint16_t u16(std::size_t off) const noexcept { return load_le16(b_, off); }
    constexpr std::uint64_t u64(std::size_t off) const noexcept { return load_le64(b_, off); }
    constexpr bytes_view bytes() const noexcept { return b_; }

private:
    constexpr explicit nvsp_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

/// Decodes a checked view. Types vnet does not model (131, 132, 135, 136, unknown) are
/// errc::unsupported.
constexpr result<nvsp_message> parse_nvsp(const nvsp_view& v, nvsp_direction dir) noexcept {
    switch (v.type()) {
        case nvsp_type::init: return nvsp_message{nvsp_init{v.u32(4), v.u32(8)}};
        case nvsp_type::init_complete: return nvsp_message{nvsp_init_complete{v.u32(4), v.u32(8), v.u32(12)}};
        case nvsp_type::send_ndis_version: return nvsp_message{nvsp_ndis_version{v.u32(4), v.u32(8)}};
        case nvsp_type::send_receive_buffer: return nvsp_message{nvsp_send_receive_buffer{v.u32(4), v.u16(8)}};
        case nvsp_type::send_receive_buffer_complete:
            return nvsp_message{nvsp_receive_buffer_complete{v.u32(4), v.u32(8),
                                                             nvsp_receive_section{v.u32(12), v.u32(16), v.u32(20), v.u32(24)}}};
        case nvsp_type::revoke_receive_buffer: return nvsp_message{nvsp_revoke_receive_buffer{v.u16(4)}};
        case nvsp_type::send_send_buffer: return nvsp_message{nvsp_send_send_buffer{v.u32(4), v.u16(8)}};
        case nvsp_type::send_send_buffer_complete: return nvsp_message{nvsp_send_buffer_complete{v.u32(4), v.u32(8)}};
        case nvsp_type::revoke_send_buffer: return nvsp_message{nvsp_revoke_send_buffer{v.u16(4)}};
        case nvsp_type::send_rndis_packet: return nvsp_message{nvsp_rndis_packet{v.u32(4), v.u32(8), v.u32(12)}};
        case nvsp_type::send_rndis_packet_complete: return nvsp_message{nvsp_rndis_packet_complete{v.u32(4)}};
        case nvsp_type::send_ndis_config: return nvsp_message{nvsp_ndis_config{v.u32(4), v.u32(8), v.u64(12)}};
        case nvsp_type::send_vf_association: return nvsp_message{nvsp_vf_association{v.u32(4), v.u32(8)}};
        case nvsp_type::switch_data_path: return nvsp_message{nvsp_switch_data_path{v.u32(4)}};
        case nvsp_type::subchannel:
            if (dir == nvsp_direction::guest_to_host) return nvsp_message{nvsp_subchannel_request{v.u32(4), v.u32(8)}};
            return nvsp_message{nvsp_subchannel_complete{v.u32(4), v.u32(8)}};
        case nvsp_type::send_indirection_table: {
            std::size_t count = v.u32(4);
            std::size_t off = v.u32(8);
            if (count != nvsp_indirection_table::entries) return fail(layer::netvsc, errc::bad_value, "nvsp.count");
            if (!in_bounds(v.bytes().size(), off, count * 4)) return fail(layer::netvsc, errc::bad_length, "nvsp.offset");
            nvsp_indirection_table t;
            for (std::size_t i = 0; i < count; ++i) t.table[i] = v.u32(off + 4 * i);
            return nvsp_message{t};
        }
        default: return fail(layer::netvsc, errc::unsupported, "nvsp.type");
    }
}

constexpr result<nvsp_message> parse_nvsp(bytes_view b, nvsp_direction dir) noexcept {
    auto v = nvsp_view::parse(b);
    if (!v) return unexpected(v.error());
    return parse_nvsp(*v, dir);
}

constexpr nvsp_type type_of(const nvsp_message& m) noexcept {
    return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::type; }, m);
}

/// The length emit() writes for m: nvsp_message_len, longer for the indirection table.
constexpr std::size_t nvsp_emit_len(const nvsp_message& m) noexcept {
    if (std::holds_alternative<nvsp_indirection_table>(m))
        return nvsp_indirection_table::table_offset + 4 * nvsp_indirection_table::entries;
    return nvsp_message_len;
}

/// Writes m zero-padded to nvsp_emit_len(m) bytes; returns the length.
constexpr result<std::size_t> emit_nvsp(bytes_span out, const nvsp_message& m) noexcept {
    std::size_t n = nvsp_emit_len(m);
    if (out.size() < n) return fail(layer::netvsc, errc::buffer_too_small, "nvsp.message");
    for (std::size_t i = 0; i < n; ++i) out[i] = std::byte{0};
    store_le32(out, 0, static_cast<std::uint32_t>(type_of(m)));
    auto b = out.first(n);
    std::visit(
        [b](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, nvsp_init>) {
                store_le32(b, 4, x.min_version);
                store_le32(b, 8, x.max_version);
            } else if constexpr (std::is_same_v<T, nvsp_init_complete>) {
                store_le32(b, 4, x.negotiated_version);
                store_le32(b, 8, x.max_mdl_chain_len);
                store_le32(b, 12, x.status);
            } else if constexpr (std::is_same_v<T, nvsp_ndis_version>) {
                store_le32(b, 4, x.major);
                store_le32(b, 8, x.minor);
            } else if constexpr (std::is_same_v<T, nvsp_send_receive_buffer> || std::is_same_v<T, nvsp_send_send_buffer>) {
                store_le32(b, 4, x.gpadl);
                store_le16(b, 8, x.id);
            } else if constexpr (std::is_same_v<T, nvsp_receive_buffer_complete>) {
                store_le32(b, 4, x.status);
                store_le32(b, 8, x.num_sections);
                store_le32(b, 12, x.section.offset);
                store_le32(b, 16, x.section.sub_alloc_size);
                store_le32(b, 20, x.section.num_sub_allocs);
                store_le32(b, 24, x.section.end_offset);
            } else if constexpr (std::is_same_v<T, nvsp_revoke_receive_buffer> || std::is_same_v<T, nvsp_revoke_send_buffer>) {
                store_le16(b, 4, x.id);
            } else if constexpr (std::is_same_v<T, nvsp_send_buffer_complete>) {
                store_le32(b, 4, x.status);
                store_le32(b, 8, x.section_size);
            } else if constexpr (std::is_same_v<T, nvsp_rndis_packet>) {
                store_le32(b, 4, x.channel_type);
                store_le32(b, 8, x.section_index);
                store_le32(b, 12, x.section_size);
            } else if constexpr (std::is_same_v<T, nvsp_rndis_packet_complete>) {
                store_le32(b, 4, x.status);
            } else if constexpr (std::is_same_v<T, nvsp_ndis_config>) {
                store_le32(b, 4, x.mtu);
                store_le32(b, 8, x.reserved);
                store_le64(b, 12, x.capabilities);
            } else if constexpr (std::is_same_v<T, nvsp_vf_association>) {
                store_le32(b, 4, x.allocated);
                store_le32(b, 8, x.serial);
            } else if constexpr (std::is_same_v<T, nvsp_switch_data_path>) {
                store_le32(b, 4, x.datapath);
            } else if constexpr (std::is_same_v<T, nvsp_subchannel_request>) {
                store_le32(b, 4, x.op);
                store_le32(b, 8, x.num_subchannels);
            } else if constexpr (std::is_same_v<T, nvsp_subchannel_complete>) {
                store_le32(b, 4, x.status);
                store_le32(b, 8, x.num_subchannels);
            } else if constexpr (std::is_same_v<T, nvsp_indirection_table>) {
                store_le32(b, 4, static_cast<std::uint32_t>(nvsp_indirection_table::entries));
                store_le32(b, 8, nvsp_indirection_table::table_offset);
                for (std::size_t i = 0; i < nvsp_indirection_table::entries; ++i)
                    store_le32(b, nvsp_indirection_table::table_offset + 4 * i, x.table[i]);
            }
        },
        m);
    return n;
}

/// A fixed buffer holding one emitted message (no allocation).
struct nvsp_buffer {
    std::array<std::byte, 80> bytes{};
    std::size_t len = 0;
    bytes_view view() const noexcept { return bytes_view(bytes).first(len); }
};
static_assert(nvsp_indirection_table::table_offset + 4 * nvsp_indirection_table::entries <= 80);

inline nvsp_buffer make_nvsp(const nvsp_message& m) noexcept {
    nvsp_buffer b;
    b.len = *emit_nvsp(b.bytes, m);  // the buffer always fits (static_assert above)
    return b;
}

}  // namespace vnet::netvsc

template <>
struct fmt::formatter<vnet::netvsc::nvsp_type> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(vnet::netvsc::nvsp_type t, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(vnet::netvsc::to_string(t), ctx);
    }
};
