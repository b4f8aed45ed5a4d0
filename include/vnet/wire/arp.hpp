// vnet/wire/arp.hpp - ARP for Ethernet and IPv4 (RFC 826), with the RFC 5227 probe and
// announcement forms.
//
// arp_view is a zero-copy view checked once by parse(): hardware type 1 (Ethernet),
// protocol type 0x0800 (IPv4), hardware length 6 and protocol length 4, the 28-byte
// packet present. Other hardware or protocol types are well formed ARP but not handled
// here (errc::unsupported naming the field). Bytes after the 28 (Ethernet padding up
// to the 60-byte minimum frame) are allowed and exposed as padding().
// arp_repr is the value type; make_request/make_reply/make_probe/make_announcement
// build what a host or a gateway responder sends.
#pragma once

#include <cstddef>
#include <cstdint>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/wire/ethernet.hpp>

namespace vnet::wire {

/// ar$op values (RFC 826; IANA "ARP Operation Codes").
enum class arp_operation : std::uint16_t {
    request = 1,
    reply = 2,
};

/// ar$hrd and ar$pro values this codec speaks.
namespace arp_hardware {
inline constexpr std::uint16_t ethernet = 1;
}  // namespace arp_hardware

class arp_view {
public:
    static constexpr std::size_t header_len = 28;
    /// Bytes up to and including plen: enough to know whether the packet is Ethernet/IPv4.
    static constexpr std::size_t fixed_len = 8;
    struct field {
        static constexpr std::size_t htype = 0, ptype = 2, hlen = 4, plen = 5, oper = 6, sha = 8, spa = 14, tha = 18, tpa = 24;
    };
    static_assert(field::tpa + 4 == header_len);
    static_assert(field::sha + mac_address::size == field::spa);

    static constexpr result<arp_view> parse(bytes_view b) noexcept {
        if (b.size() < fixed_len) return fail(layer::arp, errc::truncated, "header");
        if (load_be16(b, field::htype) != arp_hardware::ethernet) return fail(layer::arp, errc::unsupported, "htype");
        if (load_be16(b, field::ptype) != ethertype::ipv4) return fail(layer::arp, errc::unsupported, "ptype");
        if (load_u8(b, field::hlen) != mac_address::size) return fail(layer::arp, errc::unsupported, "hlen");
        if (load_u8(b, field::plen) != 4) return fail(layer::arp, errc::unsupported, "plen");
        if (b.size() < header_len) return fail(layer::arp, errc::truncated, "header");
        return arp_view(b);
    }

    constexpr std::uint16_t hardware_type() const noexcept { return load_be16(b_, field::htype); }
    constexpr std::uint16_t protocol_type() const noexcept { return load_be16(b_, field::ptype); }
    constexpr std::uint8_t hardware_len() const noexcept { return load_u8(b_, field::hlen); }
    constexpr std::uint8_t protocol_len() const noexcept { return load_u8(b_, field::plen); }
    /// The raw ar$op value (1 request, 2 reply; others are RARP/InARP and not built here).
    constexpr std::uint16_t operation() const noexcept { return load_be16(b_, field::oper); }
    constexpr bool is_request() const noexcept { return operation() == static_cast<std::uint16_t>(arp_operation::request); }
    constexpr bool is_reply() const noexcept { return operation() == static_cast<std::uint16_t>(arp_operation::reply); }

    constexpr mac_address sender_mac() const noexcept { return mac_address::load(b_, field::sha); }
    constexpr ipv4_address sender_ip() const noexcept { return ipv4_address::load(b_, field::spa); }
    constexpr mac_address target_mac() const noexcept { return mac_address::load(b_, field::tha); }
    constexpr ipv4_address target_ip() const noexcept { return ipv4_address::load(b_, field::tpa); }

    /// Gratuitous ARP: sender and target protocol address are the same, non-zero address
    /// (a request or reply announcing the sender's own binding; RFC 5227 section 3).
    constexpr bool is_gratuitous() const noexcept { return sender_ip() == target_ip() && !sender_ip().is_unspecified(); }
    /// ARP Probe (RFC 5227 section 2.1.1): a request whose sender IP is 0.0.0.0, sent to
    /// check whether the target address is in use before claiming it.
    constexpr bool is_probe() const noexcept { return is_request() && sender_ip().is_unspecified(); }

    /// The 28-byte ARP packet, without trailing padding.
    constexpr bytes_view packet() const noexcept { return b_.first(header_len); }
    /// Bytes after the ARP packet (Ethernet minimum-frame padding).
    constexpr bytes_view padding() const noexcept { return b_.subspan(header_len); }
    constexpr bytes_view bytes() const noexcept { return b_; }

private:
    constexpr explicit arp_view(bytes_view b) noexcept : b_(b) {}
    bytes_view b_;
};

struct arp_repr {
    arp_operation operation = arp_operation::request;
    mac_address sender_mac{};
    ipv4_address sender_ip{};
    mac_address target_mac{};
    ipv4_address target_ip{};

    static constexpr std::size_t header_len = arp_view::header_len;

    /// Operations other than request and reply are errc::unsupported ("oper").
    static constexpr result<arp_repr> parse(const arp_view& v) noexcept {
        if (!v.is_request() && !v.is_reply()) return fail(layer::arp, errc::unsupported, "oper");
        return arp_repr{static_cast<arp_operation>(v.operation()), v.sender_mac(), v.sender_ip(), v.target_mac(), v.target_ip()};
    }

    /// "Who has target_ip? Tell sender_ip": target MAC left zero (RFC 826, RFC 5227 section 2.1.1).
    static constexpr arp_repr make_request(mac_address sender_mac, ipv4_address sender_ip, ipv4_address target_ip) noexcept {
        return {arp_operation::request, sender_mac, sender_ip, mac_address{}, target_ip};
    }
    /// The reply a responder owning request.target_ip sends back (RFC 826 "swap the
    /// hardware and protocol fields, putting the local hardware and protocol addresses
    /// in the sender fields, set ar$op to reply").
    static constexpr arp_repr make_reply(const arp_repr& request, mac_address responder_mac) noexcept {
        return {arp_operation::reply, responder_mac, request.target_ip, request.sender_mac, request.sender_ip};
    }
    /// ARP Probe (RFC 5227 section 2.1.1): sender IP 0.0.0.0, target MAC zero.
    static constexpr arp_repr make_probe(mac_address sender_mac, ipv4_address target_ip) noexcept {
        return {arp_operation::request, sender_mac, ipv4_address::any(), mac_address{}, target_ip};
    }
    /// ARP Announcement (RFC 5227 section 2.3): a request with sender and target IP both
    /// the claimed address, target MAC zero.
    static constexpr arp_repr make_announcement(mac_address sender_mac, ipv4_address address) noexcept {
        return {arp_operation::request, sender_mac, address, mac_address{}, address};
    }

    constexpr bool is_gratuitous() const noexcept { return sender_ip == target_ip && !sender_ip.is_unspecified(); }
    constexpr bool is_probe() const noexcept { return operation == arp_operation::request && sender_ip.is_unspecified(); }

    constexpr std::size_t buffer_len() const noexcept { return header_len; }

    /// Writes the 28-byte packet at the start of out; returns the bytes written.
    constexpr result<std::size_t> emit(bytes_span out) const noexcept {
        if (out.size() < header_len) return fail(layer::arp, errc::buffer_too_small, "header");
        store_be16(out, arp_view::field::htype, arp_hardware::ethernet);
        store_be16(out, arp_view::field::ptype, ethertype::ipv4);
        store_u8(out, arp_view::field::hlen, mac_address::size);
        store_u8(out, arp_view::field::plen, 4);
        store_be16(out, arp_view::field::oper, static_cast<std::uint16_t>(operation));
        sender_mac.store(out, arp_view::field::sha);
        sender_ip.store(out, arp_view::field::spa);
        target_mac.store(out, arp_view::field::tha);
        target_ip.store(out, arp_view::field::tpa);
        return header_len;
    }

    friend constexpr bool operator==(const arp_repr&, const arp_repr&) = default;
};

}  // namespace vnet::wire
