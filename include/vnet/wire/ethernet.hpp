// vnet/wire/ethernet.hpp - Ethernet II header (IEEE 802.3 clause 3.2, DIX framing).
//
// ethernet_view is a zero-copy view checked once by parse(); after that no accessor can
// fail. ethernet_repr is the value type that emits a header into a caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/mac.hpp>

namespace vnet::wire {

/// EtherType values vnet decodes (IEEE registry).
namespace ethertype {
inline constexpr std::uint16_t ipv4 = 0x0800;
inline constexpr std::uint16_t arp = 0x0806;
inline constexpr std::uint16_t vlan = 0x8100;      // 802.1Q C-tag
inline constexpr std::uint16_t qinq = 0x88a8;      // 802.1ad S-tag
inline constexpr std::uint16_t qinq_old = 0x9100;  // pre-802.1ad QinQ, still seen on switches
inline constexpr std::uint16_t ipv6 = 0x86dd;
inline constexpr std::uint16_t lldp = 0x88cc;
/// Values below this are an 802.3 length, not an EtherType.
inline constexpr std::uint16_t min_ethertype = 0x0600;
}  // namespace ethertype

/// True for the TPIDs that start a VLAN tag.
constexpr bool is_vlan_tpid(std::uint16_t t) noexcept {
    return t == ethertype::vlan || t == ethertype::qinq || t == ethertype::qinq_old;
}

class ethernet_view {
public:
    static constexpr std::size_t header_len = 14;
    struct field {
        static constexpr std::size_t dst = 0, src = 6, ethertype = 12;
    };

    static constexpr result<ethernet_view> parse(bytes_view b) noexcept {
        if (b.size() < header_len) return fail(layer::ethernet, errc::truncated, "header");
        return ethernet_view(b);
    }

    constexpr mac_address dst() const noexcept { return mac_address::load(b_, field::dst); }
    constexpr mac_address src() const noexcept { return mac_address::load(b_, field::src); }
    constexpr std::uint16_t ethertype() const noexcept { return load_be16(b_, field::ethertype); }
    /// An 802.3 length field instead of an EtherType (LLC frames).
    constexpr bool is_length() const noexcept { return ethertype() < ethertype::min_ethertype; }
    constexpr bytes_view payload() const noexcept { return b_.subspan(header_len); }
    constexpr bytes_view bytes() const noexcept { return b_; }

private:
    constexpr explicit ethernet_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

struct ethernet_repr {
    mac_address dst{};
    mac_address src{};
    std::uint16_t ethertype = 0;

    static constexpr std::size_t header_len = ethernet_view::header_len;

    static constexpr ethernet_repr parse(const ethernet_view& v) noexcept { return {v.dst(), v.src(), v.ethertype()}; }
    constexpr std::size_t buffer_len() const noexcept { return header_len; }

    /// Writes the 14-byte header at the start of out; returns the bytes written.
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        if (out.size() < header_len) return fail(layer::ethernet, errc::buffer_too_small, "header");
        dst.store(out, ethernet_view::field::dst);
        src.store(out, ethernet_view::field::src);
        store_be16(out, ethernet_view::field::ethertype, ethertype);
        return header_len;
    }

    friend constexpr bool operator==(const ethernet_repr&, const ethernet_repr&) = default;
};

}  // namespace vnet::wire
