// vnet/netvsc/vmbus_packet.hpp - VMBus channel packets: the 16-byte descriptor and the
// type-specific headers of transfer-page (type 7) and GPA-direct (type 9) packets.
//
// Layouts from docs/netvsc-facts.md section 1 (L-hv vmpacket_descriptor,
// vmtransfer_page_packet_header, vmbus_channel_packet_page_buffer):
//   descriptor: u16 type @0, u16 offset8 @2, u16 len8 @4, u16 flags @6, u64 trans_id @8.
//   offset8 = header length / 8 (>= 2), len8 = packet length without the trailer / 8.
//   type 7: u16 xfer_pageset_id @16, u8 sender_owns_set @18, u8 reserved @19,
//           u32 range_cnt @20, ranges @24 of {u32 byte_count, u32 byte_offset}.
//   type 9: u32 reserved @16, u32 range_cnt @20, ranges @24, each {u32 len, u32 offset,
//           u64 pfn[pages]} with pages = ceil((offset + len) / 4096) and offset < 4096: a
//           range is one contiguous buffer that may cross pages, one pfn per page it
//           touches (L-hv struct hv_mpb_array; the Linux driver's netvsc_build_mpb_array
//           emits pfn_array[HVPFN_UP(offset + len)] since it moved to
//           vmbus_sendpacket_mpb_desc). A range inside one page is the old 16-byte
//           hv_page_buffer {len, offset, pfn}, so both guests' packets parse alike.
// All little-endian. vmbus_packet_view is checked once by parse(): offset8 and len8 agree
// with the buffer, and every range of a type 7 / 9 packet lies inside the header, so no
// accessor can fail afterwards.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>

namespace vnet::netvsc {

/// VMBus packet types (docs/netvsc-facts.md section 1, L-hv enum vmbus_packet_type).
enum class vmbus_packet_type : std::uint16_t {
    invalid = 0,
    synch = 1,
    add_xfer_pageset = 2,
    rm_xfer_pageset = 3,
    establish_gpadl = 4,
    teardown_gpadl = 5,
    data_inband = 6,
    data_using_xfer_pages = 7,
    data_using_gpadl = 8,
    data_using_gpa_direct = 9,
    cancel_request = 0xA,
    completion = 0xB,
    data_using_additional_packet = 0xC,
    additional_data = 0xD,
};

constexpr std::string_view to_string(vmbus_packet_type t) noexcept {
    switch (t) {
        case vmbus_packet_type::invalid: return "invalid";
        case vmbus_packet_type::synch: return "synch";
        case vmbus_packet_type::add_xfer_pageset: return "add_xfer_pageset";
        case vmbus_packet_type::rm_xfer_pageset: return "rm_xfer_pageset";
        case vmbus_packet_type::establish_gpadl: return "establish_gpadl";
        case vmbus_packet_type::teardown_gpadl: return "teardown_gpadl";
        case vmbus_packet_type::data_inband: return "data_inband";
        case vmbus_packet_type::data_using_xfer_pages: return "data_using_xfer_pages";
        case vmbus_packet_type::data_using_gpadl: return "data_using_gpadl";
        case vmbus_packet_type::data_using_gpa_direct: return "data_using_gpa_direct";
        case vmbus_packet_type::cancel_request: return "cancel_request";
        case vmbus_packet_type::completion: return "completion";
        case vmbus_packet_type::data_using_additional_packet: return "data_using_additional_packet";
        case vmbus_packet_type::additional_data: return "additional_data";
    }
    return "unknown";
}

/// Descriptor flag 1: the sender wants a completion packet (docs/netvsc-facts.md section 1).
inline constexpr std::uint16_t vmbus_flag_completion_requested = 1;
inline constexpr std::size_t vmbus_page_size = 4096;
inline constexpr std::size_t vmbus_descriptor_len = 16;
inline constexpr std::size_t vmbus_trailer_len = 8;
/// Descriptor plus the fixed part of the type 7 and type 9 headers (ranges start at 24).
inline constexpr std::size_t vmbus_ranges_offset = 24;
inline constexpr std::size_t xfer_page_range_len = 8;
/// A GPA range inside one page: {u32 len, u32 offset, u64 pfn}.
inline constexpr std::size_t gpa_range_len = 16;
/// The fixed part of a GPA range: {u32 len, u32 offset}, then the pfns.
inline constexpr std::size_t gpa_range_head_len = 8;

/// The pfns a GPA range of len bytes at offset carries: HVPFN_UP(offset + len), as Linux
/// counts them (0 only for an empty range at offset 0).
constexpr std::size_t gpa_page_count(std::uint32_t offset, std::uint32_t len) noexcept {
    return (std::size_t{offset} + len + vmbus_page_size - 1) / vmbus_page_size;
}

constexpr std::size_t align8(std::size_t n) noexcept { return (n + 7) & ~std::size_t{7}; }

namespace vmbus_field {
inline constexpr std::size_t type = 0, offset8 = 2, len8 = 4, flags = 6, trans_id = 8;
inline constexpr std::size_t xfer_pageset_id = 16, sender_owns_set = 18, range_count = 20;
}  // namespace vmbus_field
static_assert(vmbus_field::trans_id + 8 == vmbus_descriptor_len);
static_assert(vmbus_field::range_count + 4 == vmbus_ranges_offset);

/// One range of a transfer-page packet: a piece of the transfer page set (the receive buffer).
struct xfer_page_range {
    std::uint32_t byte_count = 0;
    std::uint32_t byte_offset = 0;
    friend constexpr bool operator==(const xfer_page_range&, const xfer_page_range&) = default;
};

/// One range of a GPA-direct packet as a sender describes it: len bytes from offset in
/// page pfn, running on through pages pfn + 1, pfn + 2, ... when offset + len > 4096
/// (guest memory contiguous, as the Linux driver requires of each range).
struct gpa_range {
    std::uint32_t len = 0;
    std::uint32_t offset = 0;
    std::uint64_t pfn = 0;
    friend constexpr bool operator==(const gpa_range&, const gpa_range&) = default;
};

/// One range of a received GPA-direct packet: len bytes from offset in the first of
/// page_count() pages, whose numbers need not be consecutive.
class gpa_range_view {
public:
    constexpr std::uint32_t len() const noexcept { return load_le32(b_, 0); }
    constexpr std::uint32_t offset() const noexcept { return load_le32(b_, 4); }
    constexpr std::size_t page_count() const noexcept { return (b_.size() - gpa_range_head_len) / 8; }
    /// Precondition: i < page_count().
    constexpr std::uint64_t pfn(std::size_t i) const noexcept { return load_le64(b_, gpa_range_head_len + 8 * i); }

private:
    friend class vmbus_packet_view;
    constexpr explicit gpa_range_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

/// One packet as copied out of a ring: exactly len8 * 8 bytes, trailer excluded.
class vmbus_packet_view {
public:
    static constexpr result<vmbus_packet_view> parse(bytes_view b) noexcept {
        if (b.size() < vmbus_descriptor_len) return fail(layer::netvsc, errc::truncated, "vmbus.descriptor");
        std::size_t off = std::size_t{load_le16(b, vmbus_field::offset8)} * 8;
        std::size_t len = std::size_t{load_le16(b, vmbus_field::len8)} * 8;
        if (len != b.size()) return fail(layer::netvsc, errc::bad_length, "vmbus.len8");
        if (off < vmbus_descriptor_len || off > len) return fail(layer::netvsc, errc::bad_length, "vmbus.offset8");
        auto t = static_cast<vmbus_packet_type>(load_le16(b, vmbus_field::type));
        if (t == vmbus_packet_type::data_using_xfer_pages || t == vmbus_packet_type::data_using_gpa_direct) {
            if (off < vmbus_ranges_offset) return fail(layer::netvsc, errc::truncated, "vmbus.range_header");
            std::size_t n = load_le32(b, vmbus_field::range_count);
            std::size_t room = off - vmbus_ranges_offset;
            if (t == vmbus_packet_type::data_using_xfer_pages) {
                if (n > room / xfer_page_range_len) return fail(layer::netvsc, errc::bad_length, "vmbus.range_count");
            } else {
                // Walk the variable-length ranges once; each must lie inside the header.
                std::size_t at = vmbus_ranges_offset;
                for (std::size_t i = 0; i < n; ++i) {
                    if (off - at < gpa_range_head_len) return fail(layer::netvsc, errc::bad_length, "vmbus.range_count");
                    std::uint32_t roff = load_le32(b, at + 4);
                    if (roff >= vmbus_page_size) return fail(layer::netvsc, errc::bad_pointer, "vmbus.gpa_offset");
                    std::size_t pages = gpa_page_count(roff, load_le32(b, at));
                    if ((off - at - gpa_range_head_len) / 8 < pages)
                        return fail(layer::netvsc, errc::bad_length, "vmbus.gpa_pages");
                    at += gpa_range_head_len + 8 * pages;
                }
            }
        }
        return vmbus_packet_view(b);
    }

    constexpr vmbus_packet_type type() const noexcept { return static_cast<vmbus_packet_type>(load_le16(b_, vmbus_field::type)); }
    constexpr std::uint16_t flags() const noexcept { return load_le16(b_, vmbus_field::flags); }
    constexpr bool completion_requested() const noexcept { return (flags() & vmbus_flag_completion_requested) != 0; }
    constexpr std::uint64_t trans_id() const noexcept { return load_le64(b_, vmbus_field::trans_id); }
    constexpr std::size_t header_len() const noexcept { return std::size_t{load_le16(b_, vmbus_field::offset8)} * 8; }
    /// The bytes after the header, padding included (the packet length is in 8-byte units).
    constexpr bytes_view payload() const noexcept { return b_.subspan(header_len()); }
    constexpr bytes_view bytes() const noexcept { return b_; }

    // ---- type 7 (data_using_xfer_pages) and type 9 (data_using_gpa_direct) ----
    constexpr bool has_ranges() const noexcept {
        return type() == vmbus_packet_type::data_using_xfer_pages || type() == vmbus_packet_type::data_using_gpa_direct;
    }
    constexpr std::uint16_t xfer_pageset_id() const noexcept { return load_le16(b_, vmbus_field::xfer_pageset_id); }
    constexpr bool sender_owns_set() const noexcept { return load_u8(b_, vmbus_field::sender_owns_set) != 0; }
    /// Number of ranges; 0 for packets of other types.
    constexpr std::size_t range_count() const noexcept { return has_ranges() ? load_le32(b_, vmbus_field::range_count) : 0; }
    /// Precondition: type 7 and i < range_count().
    constexpr xfer_page_range xfer_range(std::size_t i) const noexcept {
        std::size_t o = vmbus_ranges_offset + i * xfer_page_range_len;
        return {load_le32(b_, o), load_le32(b_, o + 4)};
    }
    /// Calls f(gpa_range_view) for each range of a type 9 packet, in order (parse() has
    /// checked that every range and its pfns lie inside the header).
    template <class F>
    constexpr void for_each_gpa(F&& f) const {
        std::size_t at = vmbus_ranges_offset;
        for (std::size_t i = 0; i < range_count(); ++i) {
            std::size_t pages = gpa_page_count(load_le32(b_, at + 4), load_le32(b_, at));
            std::size_t n = gpa_range_head_len + 8 * pages;
            f(gpa_range_view(b_.subspan(at, n)));
            at += n;
        }
    }

private:
    constexpr explicit vmbus_packet_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

/// Writes the type-7 header that follows the descriptor (bytes 16 .. 24 + 8n) into out;
/// returns its length or buffer_too_small.
constexpr result<std::size_t> emit_xfer_page_header(bytes_span out, std::uint16_t pageset_id, bool sender_owns,
                                                    std::span<const xfer_page_range> ranges) noexcept {
    std::size_t n = vmbus_ranges_offset - vmbus_descriptor_len + ranges.size() * xfer_page_range_len;
    if (out.size() < n) return fail(layer::netvsc, errc::buffer_too_small, "vmbus.xfer_header");
    store_le16(out, 0, pageset_id);
    store_u8(out, 2, sender_owns ? 1 : 0);
    store_u8(out, 3, 0);
    store_le32(out, 4, static_cast<std::uint32_t>(ranges.size()));
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        store_le32(out, 8 + i * xfer_page_range_len, ranges[i].byte_count);
        store_le32(out, 12 + i * xfer_page_range_len, ranges[i].byte_offset);
    }
    return n;
}

/// Length of the type-9 header emit_gpa_direct_header writes for ranges.
constexpr std::size_t gpa_direct_header_len(std::span<const gpa_range> ranges) noexcept {
    std::size_t n = vmbus_ranges_offset - vmbus_descriptor_len;
    for (const auto& r : ranges) n += gpa_range_head_len + 8 * gpa_page_count(r.offset, r.len);
    return n;
}

/// Writes the type-9 header that follows the descriptor into out, the way the Linux
/// driver builds it: each range {len, offset, pfn, pfn + 1, ...} with one pfn per page
/// touched. Errors: buffer_too_small, bad_pointer for an offset of 4096 or more.
constexpr result<std::size_t> emit_gpa_direct_header(bytes_span out, std::span<const gpa_range> ranges) noexcept {
    std::size_t n = gpa_direct_header_len(ranges);
    if (out.size() < n) return fail(layer::netvsc, errc::buffer_too_small, "vmbus.gpa_header");
    store_le32(out, 0, 0);
    store_le32(out, 4, static_cast<std::uint32_t>(ranges.size()));
    std::size_t at = 8;
    for (const auto& r : ranges) {
        if (r.offset >= vmbus_page_size) return fail(layer::netvsc, errc::bad_pointer, "vmbus.gpa_offset");
        store_le32(out, at, r.len);
        store_le32(out, at + 4, r.offset);
        at += gpa_range_head_len;
        for (std::size_t j = 0; j < gpa_page_count(r.offset, r.len); ++j, at += 8) store_le64(out, at, r.pfn + j);
    }
    return n;
}

}  // namespace vnet::netvsc

template <>
struct fmt::formatter<vnet::netvsc::vmbus_packet_type> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(vnet::netvsc::vmbus_packet_type t, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(vnet::netvsc::to_string(t), ctx);
    }
};

template <>
struct fmt::formatter<vnet::netvsc::xfer_page_range> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::xfer_page_range& r, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "{}@{}", r.byte_count, r.byte_offset);
    }
};

template <>
struct fmt::formatter<vnet::netvsc::gpa_range> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::gpa_range& r, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "{}@{:#x}+{}", r.len, r.pfn, r.offset);
    }
};
