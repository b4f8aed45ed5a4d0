// vnet/wire/vlan.hpp - IEEE 802.1Q tags and 802.1ad (QinQ) tag stacks.
//
// A tag is TPID (0x8100 C-tag, 0x88a8 S-tag, 0x9100 legacy) then TCI: PCP (3 bits),
// DEI (1 bit), VID (12 bits). frame_view walks the destination, source and up to
// max_tags tags to the inner EtherType and payload. VID 0 is priority tagging (no VLAN);
// VID 4095 is reserved (802.1Q table 9-2) and rejected.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/wire/ethernet.hpp>

namespace vnet::wire {

struct vlan_tag {
    std::uint16_t tpid = ethertype::vlan;
    std::uint8_t pcp = 0;  // 0-7
    bool dei = false;
    std::uint16_t vid = 0;  // 0-4094

    static constexpr std::size_t size = 4;

    constexpr std::uint16_t tci() const noexcept {
        return static_cast<std::uint16_t>(((pcp & 0x7) << 13) | (dei ? 0x1000 : 0) | (vid & 0x0fff));
    }
    static constexpr vlan_tag from_tci(std::uint16_t tpid, std::uint16_t tci) noexcept {
        return {tpid, static_cast<std::uint8_t>(tci >> 13), (tci & 0x1000) != 0, static_cast<std::uint16_t>(tci & 0x0fff)};
    }
    /// Precondition: off + 4 <= out.size().
    constexpr void store(bytes_span out, std::size_t off) const noexcept {
        store_be16(out, off, tpid);
        store_be16(out, off + 2, tci());
    }
    friend constexpr bool operator==(const vlan_tag&, const vlan_tag&) = default;
};

inline constexpr std::uint16_t max_vid = 4094;

/// An Ethernet frame with its VLAN tag stack walked.
class frame_view {
public:
    static constexpr std::size_t max_tags = 2;

    static constexpr result<frame_view> parse(bytes_view b) noexcept {
        if (b.size() < ethernet_view::header_len) return fail(layer::ethernet, errc::truncated, "header");
        constexpr std::size_t type_off = ethernet_view::field::ethertype;
        const std::uint16_t type = load_be16(b, type_off);
        // Written out for max_tags == 2, and the view built in one go from values: a tag
        // array filled at a variable index kept the view in memory and cost a stalled copy
        // (store forwarding) on every frame.
        static_assert(max_tags == 2);
        if (!is_vlan_tpid(type)) return frame_view(b, {}, {}, 0, type);
        auto outer = read_tag(b, type_off, type);
        if (!outer) return unexpected(outer.error());
        const std::uint16_t type1 = load_be16(b, type_off + vlan_tag::size);
        if (!is_vlan_tpid(type1)) return frame_view(b, *outer, {}, 1, type1);
        auto inner = read_tag(b, type_off + vlan_tag::size, type1);
        if (!inner) return unexpected(inner.error());
        const std::uint16_t type2 = load_be16(b, type_off + 2 * vlan_tag::size);
        if (is_vlan_tpid(type2)) return fail(layer::vlan, errc::too_long, "tags");
        return frame_view(b, *outer, *inner, 2, type2);
    }

    constexpr mac_address dst() const noexcept { return mac_address::load(b_, 0); }
    constexpr mac_address src() const noexcept { return mac_address::load(b_, 6); }
    /// Tags outermost first.
    constexpr std::size_t tag_count() const noexcept { return ntags_; }
    constexpr const vlan_tag& tag(std::size_t i) const noexcept { return tags_[i]; }
    /// The outermost tag's VID, if the frame is tagged with a non-zero VID.
    constexpr std::optional<std::uint16_t> vlan_id() const noexcept {
        if (ntags_ == 0 || tags_[0].vid == 0) return std::nullopt;
        return tags_[0].vid;
    }
    /// The EtherType after the last tag.
    constexpr std::uint16_t ethertype() const noexcept { return type_; }
    /// The EtherType in the untagged position (the outer TPID when tagged).
    constexpr std::uint16_t outer_ethertype() const noexcept { return load_be16(b_, 12); }
    constexpr std::size_t header_len() const noexcept { return hdr_len_; }
    constexpr bytes_view payload() const noexcept { return b_.subspan(hdr_len_); }
    constexpr bytes_view bytes() const noexcept { return b_; }

private:
    constexpr frame_view(bytes_view b, const vlan_tag& outer, const vlan_tag& inner, std::size_t ntags,
                         std::uint16_t type) noexcept
            : b_(b),
              tags_{outer, inner},
              ntags_(ntags),
              type_(type),
              hdr_len_(ethernet_view::header_len + ntags * vlan_tag::size) {}
    /// The tag whose TPID is at off (the TPID already read); the frame must hold its TCI
    /// and the EtherType after it.
    static constexpr result<vlan_tag> read_tag(bytes_view b, std::size_t off, std::uint16_t tpid) noexcept {
        if (!in_bounds(b.size(), off, 6)) return fail(layer::vlan, errc::truncated, "tci");
        auto tag = vlan_tag::from_tci(tpid, load_be16(b, off + 2));
        if (tag.vid == 0xfff) return fail(layer::vlan, errc::bad_value, "id");
        return tag;
    }

    bytes_view b_;
    std::array<vlan_tag, max_tags> tags_{};
    std::size_t ntags_ = 0;
    std::uint16_t type_ = 0;
    std::size_t hdr_len_ = ethernet_view::header_len;
};

/// Copies frame into out with tag inserted as the new outermost tag; returns the new length.
constexpr result<std::size_t> push_vlan_tag(bytes_view frame, const vlan_tag& tag, bytes_span out) noexcept {
    if (frame.size() < ethernet_view::header_len) return fail(layer::ethernet, errc::truncated, "header");
    if (tag.vid > max_vid) return fail(layer::vlan, errc::bad_value, "id");
    if (out.size() < frame.size() + vlan_tag::size) return fail(layer::vlan, errc::buffer_too_small, "frame");
    store_bytes(out, 0, frame.first(12));
    tag.store(out, 12);
    store_bytes(out, 16, frame.subspan(12));
    return frame.size() + vlan_tag::size;
}

/// Copies frame into out without its outermost tag; returns the new length. An untagged
/// frame is an error (vlan.tags: bad value).
constexpr result<std::size_t> pop_vlan_tag(bytes_view frame, bytes_span out) noexcept {
    if (frame.size() < ethernet_view::header_len) return fail(layer::ethernet, errc::truncated, "header");
    if (!is_vlan_tpid(load_be16(frame, 12))) return fail(layer::vlan, errc::bad_value, "tags");
    if (frame.size() < ethernet_view::header_len + vlan_tag::size) return fail(layer::vlan, errc::truncated, "tci");
    if (out.size() < frame.size() - vlan_tag::size) return fail(layer::vlan, errc::buffer_too_small, "frame");
    store_bytes(out, 0, frame.first(12));
    store_bytes(out, 12, frame.subspan(16));
    return frame.size() - vlan_tag::size;
}

}  // namespace vnet::wire
