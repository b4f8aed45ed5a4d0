// vnet/services/gateway.hpp - the ARP / gateway responder of a host vNIC: what the host's
// own IP stack answers on a switch where it is the gateway (the Default Switch, an internal
// switch with NAT). docs/design.md "Layers", services: "ARP/ICMP gateway responder".
//
//   gateway_responder gw = *gateway_responder::make({host_mac, ipv4_prefix(host_ip, 20)});
//   auto r = gw.handle_frame(frame, now, out);   // out: at least max(frame.size(), 60) octets
//   if (r) send(out.first(r.length));             // an ARP reply, announcement or echo reply
//   else if (r.verdict == gateway_verdict::pass) next_service(frame);
//
// Pure: frames in, frames out, time injected (steady_clock time points), no allocation per
// frame (the neighbor table allocates when it learns a new address).
//
// Behaviour and its sources:
// - ARP (RFC 826 "Packet Reception"): a request for the responder's address is answered
//   with a unicast reply to the sender; the sender's binding is merged into the neighbor
//   table when the table already has the sender's address, and added when the packet was
//   for the responder ("merge_flag" / "Am I the target protocol address?"). Only senders
//   inside the responder's prefix are kept; a group or zero sender MAC is dropped.
// - ARP probes (RFC 5227 section 2.1.1): a probe (sender IP 0.0.0.0) for the responder's
//   address is someone else trying to claim it; it is answered like any request, which is
//   what tells the prober the address is in use, and counted (probes_defended).
// - Conflicts (RFC 5227 section 2.4): an ARP packet whose sender IP is the responder's
//   address and whose sender MAC is another one is a conflicting ARP packet (counted in
//   conflicts). The responder defends (2.4 (b)/(c)): it broadcasts one ARP announcement
//   (section 2.3) unless it already did in the last DEFEND_INTERVAL (10 s, section 1.1);
//   a host vNIC never gives up its address. A conflicting packet is never learned.
// - ICMP echo (RFC 792; RFC 1122 section 3.2.2.6): an echo request to the responder's
//   address gets an echo reply with the same identifier, sequence number and data, from
//   the responder's address to the requester; the IPv4 header checksum and the ICMP
//   checksum are checked first (RFC 1812 section 5.2.2, RFC 792). An echo to a broadcast
//   address is not answered (RFC 1122 3.2.2.6: MAY be silently discarded).
// - Everything else addressed to the responder's IPv4 address is handed to the next
//   service (verdict pass: DHCP, DNS, ...); frames for other addresses are not_ours.
// Reply frames keep the request's VLAN tags and are padded to the 60-octet minimum.
// Every frame not answered has a verdict and every drop a named counter (gateway_drop).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/icmpv4.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/vlan.hpp>

namespace vnet::svc {

using vnet::to_string;

/// One IPv4 -> MAC binding of a station on the switch.
struct neighbor_entry {
    ipv4_address address{};
    mac_address mac{};
    std::chrono::steady_clock::time_point expires{};
    friend bool operator==(const neighbor_entry&, const neighbor_entry&) = default;
};

/// The IPv4 -> MAC table a gateway keeps of its stations ("ARP cache"), bounded, aged with
/// the injected time. Full: expired entries go first, then the one closest to expiring.
class neighbor_table {
public:
    using time_point = std::chrono::steady_clock::time_point;

    explicit neighbor_table(std::size_t capacity = 4096, std::chrono::seconds timeout = std::chrono::seconds(300))
            : capacity_(std::max<std::size_t>(capacity, 1)), timeout_(timeout) {}

    std::size_t size() const noexcept { return map_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }
    std::chrono::seconds timeout() const noexcept { return timeout_; }
    std::uint64_t evictions() const noexcept { return evictions_; }

    /// Adds or updates the binding; returns true when the address was not in the table.
    bool learn(ipv4_address a, const mac_address& m, time_point now) {
        auto it = map_.find(a.to_u32());
        if (it != map_.end()) {
            it->second = {a, m, now + timeout_};
            return false;
        }
        if (map_.size() >= capacity_) evict_one(now);
        map_.emplace(a.to_u32(), neighbor_entry{a, m, now + timeout_});
        return true;
    }
    /// Updates the binding only when the address is already in the table (RFC 826 merge).
    bool merge(ipv4_address a, const mac_address& m, time_point now) {
        auto it = map_.find(a.to_u32());
        if (it == map_.end()) return false;
        it->second = {a, m, now + timeout_};
        return true;
    }
    /// Extends a live binding of exactly this address and MAC (traffic confirms it).
    void confirm(ipv4_address a, const mac_address& m, time_point now) noexcept {
        auto it = map_.find(a.to_u32());
        if (it != map_.end() && it->second.mac == m && now < it->second.expires) it->second.expires = now + timeout_;
    }
    bool contains(ipv4_address a) const noexcept { return map_.count(a.to_u32()) != 0; }
    /// The live binding's MAC.
    std::optional<mac_address> lookup(ipv4_address a, time_point now) const noexcept {
        auto it = map_.find(a.to_u32());
        if (it == map_.end() || !(now < it->second.expires)) return std::nullopt;
        return it->second.mac;
    }
    bool erase(ipv4_address a) { return map_.erase(a.to_u32()) != 0; }
    /// Removes expired bindings; returns how many went.
    std::size_t expire(time_point now) {
        std::size_t n = 0;
        for (auto it = map_.begin(); it != map_.end();) {
            if (!(now < it->second.expires)) {
                it = map_.erase(it);
                ++n;
            } else {
                ++it;
            }
        }
        return n;
    }
    void clear() noexcept { map_.clear(); }
    /// The bindings sorted by address.
    std::vector<neighbor_entry> sorted() const {
        std::vector<neighbor_entry> v;
        v.reserve(map_.size());
        for (const auto& [k, e] : map_) v.push_back(e);
        std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return x.address < y.address; });
        return v;
    }

private:
    void evict_one(time_point now) {
        auto victim = map_.end();
        for (auto it = map_.begin(); it != map_.end(); ++it) {
            if (!(now < it->second.expires)) {
                victim = it;
                break;
            }
            if (victim == map_.end() || it->second.expires < victim->second.expires) victim = it;
        }
        if (victim != map_.end()) {
            map_.erase(victim);
            ++evictions_;
        }
    }

    std::size_t capacity_;
    std::chrono::seconds timeout_;
    std::unordered_map<std::uint32_t, neighbor_entry> map_;
    std::uint64_t evictions_ = 0;
};

struct gateway_config {
    mac_address mac{};       // the host vNIC's MAC
    ipv4_prefix address{};   // its address and prefix length, e.g. 172.31.96.1/20
    std::uint8_t ttl = 128;  // TTL of echo replies (Windows' DefaultTTL)
    std::size_t max_neighbors = 4096;
    std::chrono::seconds neighbor_timeout{300};
    std::chrono::seconds defend_interval{10};  // RFC 5227 section 1.1 DEFEND_INTERVAL
};

enum class gateway_drop : std::uint8_t {
    malformed,          // Ethernet, ARP, IPv4 or ICMP header cut short or malformed
    bad_checksum,       // IPv4 header or ICMP checksum of an echo to us does not verify
    fragment,           // an ICMP fragment to our address (no reassembly)
    arp_unsupported,    // ARP for another hardware / protocol type or another operation
    arp_bad_sender,     // ARP sender MAC is a group or zero address
    echo_to_broadcast,  // an echo request to a broadcast address (not answered)
    buffer_too_small,   // the caller's buffer cannot hold the reply frame
    count_
};

inline constexpr std::size_t gateway_drop_count = static_cast<std::size_t>(gateway_drop::count_);

inline constexpr enum_name<gateway_drop> gateway_drop_names[] = {
    {gateway_drop::malformed, "malformed"},
    {gateway_drop::bad_checksum, "bad_checksum"},
    {gateway_drop::fragment, "fragment"},
    {gateway_drop::arp_unsupported, "arp_unsupported"},
    {gateway_drop::arp_bad_sender, "arp_bad_sender"},
    {gateway_drop::echo_to_broadcast, "echo_to_broadcast"},
    {gateway_drop::buffer_too_small, "buffer_too_small"},
};
constexpr std::span<const enum_name<gateway_drop>> enum_names(gateway_drop) noexcept { return gateway_drop_names; }

enum class gateway_verdict : std::uint8_t {
    replied,   // a reply frame was written (length > 0)
    absorbed,  // ARP acted on (learned, conflict counted) without a reply
    pass,      // IPv4 to our address that is not an echo: for the next service
    not_ours,  // neither ARP for us nor IPv4 to our address
    dropped,   // the reason is in gateway_result::drop
};

inline constexpr enum_name<gateway_verdict> gateway_verdict_names[] = {
    {gateway_verdict::replied, "replied"},   {gateway_verdict::absorbed, "absorbed"}, {gateway_verdict::pass, "pass"},
    {gateway_verdict::not_ours, "not_ours"}, {gateway_verdict::dropped, "dropped"},
};
constexpr std::span<const enum_name<gateway_verdict>> enum_names(gateway_verdict) noexcept { return gateway_verdict_names; }

struct gateway_result {
    gateway_verdict verdict = gateway_verdict::not_ours;
    gateway_drop drop = gateway_drop::count_;  // count_ unless dropped
    std::size_t length = 0;                    // the reply frame's length in the caller's buffer
    constexpr explicit operator bool() const noexcept { return length != 0; }
};

struct gateway_counters {
    std::uint64_t arp_requests = 0;     // ARP requests for our address (probes included)
    std::uint64_t arp_replies = 0;      // ARP replies sent
    std::uint64_t probes_defended = 0;  // RFC 5227 probes for our address, answered
    std::uint64_t conflicts = 0;        // conflicting ARP packets: another MAC using our address
    std::uint64_t announcements = 0;    // ARP announcements sent to defend the address
    std::uint64_t echo_requests = 0;    // ICMP echo requests to our address
    std::uint64_t echo_replies = 0;     // echo replies sent
    std::uint64_t learned = 0;          // neighbor entries added
    std::uint64_t passed = 0;           // IPv4 to our address handed on (verdict pass)
    std::uint64_t not_ours = 0;         // frames for someone else
    std::array<std::uint64_t, gateway_drop_count> drops{};

    constexpr std::uint64_t drop(gateway_drop d) const noexcept { return drops[static_cast<std::size_t>(d)]; }
    constexpr void count_drop(gateway_drop d) noexcept { ++drops[static_cast<std::size_t>(d)]; }
    constexpr std::uint64_t total_drops() const noexcept {
        std::uint64_t n = 0;
        for (auto d : drops) n += d;
        return n;
    }
};

class gateway_responder {
public:
    using time_point = std::chrono::steady_clock::time_point;
    /// Ethernet frames shorter than this (without FCS) are padded (IEEE 802.3 minimum).
    static constexpr std::size_t min_frame_len = 60;

    /// Checks the configuration: a unicast, non-zero MAC; a /1 to /30 prefix whose address
    /// is a host address of it.
    static result<gateway_responder> make(gateway_config c) {
        if (c.mac.is_multicast() || c.mac.is_zero())
            return fail(layer::service, errc::bad_value, "gateway MAC must be a unicast address");
        const auto& p = c.address;
        if (p.length() == 0 || p.length() > 30 || p.is_network_or_broadcast(p.address()) || p.address().is_unspecified() ||
            p.address().is_multicast() || p.address().is_loopback())
            return fail(layer::service, errc::bad_value, "gateway address must be a host address of a /1 to /30 prefix");
        if (c.ttl == 0) return fail(layer::service, errc::bad_value, "gateway TTL must be from 1 to 255");
        if (c.defend_interval.count() < 0 || c.neighbor_timeout.count() < 1)
            return fail(layer::service, errc::bad_value, "gateway timers must be positive");
        return gateway_responder(c);
    }

    const gateway_config& config() const noexcept { return cfg_; }
    ipv4_address address() const noexcept { return cfg_.address.address(); }
    ipv4_prefix prefix() const noexcept { return cfg_.address.canonical(); }
    const mac_address& mac() const noexcept { return cfg_.mac; }
    const gateway_counters& counters() const noexcept { return counters_; }
    const neighbor_table& neighbors() const noexcept { return neighbors_; }
    neighbor_table& neighbors() noexcept { return neighbors_; }

    /// The station's MAC, if its binding is live.
    std::optional<mac_address> neighbor(ipv4_address a, time_point now) const noexcept { return neighbors_.lookup(a, now); }

    /// Handles one frame (802.1Q / QinQ tags allowed). A reply goes into out, which must
    /// not overlap frame and should hold max(frame.size(), 60) octets.
    gateway_result handle_frame(bytes_view frame, time_point now, bytes_span out) {
        auto f = wire::frame_view::parse(frame);
        if (!f) return dropped(gateway_drop::malformed);
        if (f->ethertype() == wire::ethertype::arp) return arp(*f, now, out);
        if (f->ethertype() == wire::ethertype::ipv4) return ipv4(*f, out);
        return not_ours();
    }

private:
    explicit gateway_responder(const gateway_config& c) : cfg_(c), neighbors_(c.max_neighbors, c.neighbor_timeout) {}

    gateway_result dropped(gateway_drop d) noexcept {
        counters_.count_drop(d);
        return {gateway_verdict::dropped, d, 0};
    }
    gateway_result not_ours() noexcept {
        ++counters_.not_ours;
        return {gateway_verdict::not_ours, gateway_drop::count_, 0};
    }
    static constexpr gateway_result absorbed() noexcept { return {gateway_verdict::absorbed, gateway_drop::count_, 0}; }

    /// Writes the Ethernet header (with f's tags) and returns its length, or 0 when out
    /// cannot hold header + payload_len padded to the minimum.
    static std::size_t l2_header(const wire::frame_view& f, const mac_address& dst, const mac_address& src, std::uint16_t type,
                                 std::size_t payload_len, bytes_span out) noexcept {
        const std::size_t l2 = wire::ethernet_view::header_len + f.tag_count() * wire::vlan_tag::size;
        if (out.size() < std::max(min_frame_len, l2 + payload_len)) return 0;
        dst.store(out, wire::ethernet_view::field::dst);
        src.store(out, wire::ethernet_view::field::src);
        std::size_t off = wire::ethernet_view::field::ethertype;
        for (std::size_t i = 0; i < f.tag_count(); ++i) {
            f.tag(i).store(out, off);
            off += wire::vlan_tag::size;
        }
        store_be16(out, off, type);
        return l2;
    }
    static std::size_t pad(bytes_span out, std::size_t n) noexcept {
        for (; n < min_frame_len; ++n) out[n] = std::byte{0};
        return n;
    }

    gateway_result emit_arp(const wire::frame_view& f, const mac_address& dst, const wire::arp_repr& a, bytes_span out) {
        const std::size_t l2 = l2_header(f, dst, cfg_.mac, wire::ethertype::arp, a.buffer_len(), out);
        if (l2 == 0) return dropped(gateway_drop::buffer_too_small);
        auto n = a.emit(out.subspan(l2));
        if (!n) return dropped(gateway_drop::buffer_too_small);
        return {gateway_verdict::replied, gateway_drop::count_, pad(out, l2 + *n)};
    }

    gateway_result arp(const wire::frame_view& f, time_point now, bytes_span out) {
        auto v = wire::arp_view::parse(f.payload());
        if (!v) return dropped(v.error().what == errc::unsupported ? gateway_drop::arp_unsupported : gateway_drop::malformed);
        auto a = wire::arp_repr::parse(*v);
        if (!a) return dropped(gateway_drop::arp_unsupported);
        if (a->sender_mac.is_multicast() || a->sender_mac.is_zero()) return dropped(gateway_drop::arp_bad_sender);
        const ipv4_address me = address();
        const bool for_me = a->target_ip == me;

        // RFC 5227 section 2.4: another station using our address.
        if (a->sender_ip == me) {
            if (a->sender_mac == cfg_.mac) return absorbed();  // our own announcement looped back
            ++counters_.conflicts;
            if (!defended_ || now - *defended_ >= cfg_.defend_interval) {
                defended_ = now;
                ++counters_.announcements;
                return emit_arp(f, mac_address::broadcast(), wire::arp_repr::make_announcement(cfg_.mac, me), out);
            }
            return absorbed();
        }

        // RFC 826 "Packet Reception": merge, then add when we are the target.
        const ipv4_address s = a->sender_ip;
        const bool keepable = !s.is_unspecified() && cfg_.address.contains(s) && !cfg_.address.is_network_or_broadcast(s);
        bool merged = false;
        if (keepable) merged = neighbors_.merge(s, a->sender_mac, now);
        if (!for_me) {
            if (merged) return absorbed();
            return not_ours();
        }
        if (keepable && !merged && neighbors_.learn(s, a->sender_mac, now)) ++counters_.learned;
        if (a->operation != wire::arp_operation::request) return absorbed();
        ++counters_.arp_requests;
        if (a->is_probe()) ++counters_.probes_defended;
        auto r = emit_arp(f, a->sender_mac, wire::arp_repr::make_reply(*a, cfg_.mac), out);
        if (r) ++counters_.arp_replies;
        return r;
    }

    gateway_result ipv4(const wire::frame_view& f, bytes_span out) {
        auto ip = wire::ipv4_view::parse(f.payload());
        if (!ip) return dropped(gateway_drop::malformed);
        const ipv4_address me = address();
        if (ip->dst() != me) {
            const bool bcast = ip->dst().is_broadcast() || ip->dst() == cfg_.address.broadcast();
            if (bcast && ip->protocol() == wire::ip_protocol::icmp && !ip->is_fragment() &&
                ip->payload_len() >= wire::icmpv4_view::header_len &&
                load_u8(ip->payload(), 0) == wire::icmpv4_type::echo_request)
                return dropped(gateway_drop::echo_to_broadcast);
            return not_ours();
        }
        if (ip->protocol() != wire::ip_protocol::icmp) return pass();
        if (!ip->checksum_ok()) return dropped(gateway_drop::bad_checksum);
        if (ip->is_fragment()) return dropped(gateway_drop::fragment);
        auto icmp = wire::icmpv4_view::parse(ip->payload());
        if (!icmp) return dropped(gateway_drop::malformed);
        if (!icmp->is_echo_request() || icmp->code() != 0) return pass();
        ++counters_.echo_requests;
        if (!icmp->checksum_ok()) return dropped(gateway_drop::bad_checksum);
        if (ip->src().is_unspecified() || ip->src().is_broadcast() || ip->src().is_multicast())
            return dropped(gateway_drop::malformed);

        const wire::icmpv4_repr reply{wire::icmpv4_echo_reply{icmp->identifier(), icmp->sequence(), icmp->data()}};
        wire::ipv4_repr h;
        h.src = me;
        h.dst = ip->src();
        h.protocol = wire::ip_protocol::icmp;
        h.ttl = cfg_.ttl;
        h.identification = ip_id_++;
        h.payload_len = reply.buffer_len();
        const std::size_t l2 = l2_header(f, f.src(), cfg_.mac, wire::ethertype::ipv4, h.buffer_len(), out);
        if (l2 == 0 || h.buffer_len() > 0xffff) return dropped(gateway_drop::buffer_too_small);
        auto hn = h.emit(out.subspan(l2));
        if (!hn) return dropped(gateway_drop::buffer_too_small);
        auto in = reply.emit(out.subspan(l2 + *hn));
        if (!in) return dropped(gateway_drop::buffer_too_small);
        ++counters_.echo_replies;
        return {gateway_verdict::replied, gateway_drop::count_, pad(out, l2 + *hn + *in)};
    }

    gateway_result pass() noexcept {
        ++counters_.passed;
        return {gateway_verdict::pass, gateway_drop::count_, 0};
    }

    gateway_config cfg_;
    neighbor_table neighbors_;
    gateway_counters counters_{};
    std::optional<time_point> defended_;
    std::uint16_t ip_id_ = 0;
};

}  // namespace vnet::svc

/// "arp requests 2 replies 2 probes 1 conflicts 0 announcements 0, echo 1/1, learned 2,
/// passed 3, not ours 5, drops: none" (only non-zero drop reasons).
template <>
struct fmt::formatter<vnet::svc::gateway_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::gateway_counters& c, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(),
                                  "arp requests {} replies {} probes {} conflicts {} announcements {}, echo {}/{}, "
                                  "learned {}, passed {}, not ours {}, drops:",
                                  c.arp_requests, c.arp_replies, c.probes_defended, c.conflicts, c.announcements, c.echo_requests,
                                  c.echo_replies, c.learned, c.passed, c.not_ours);
        return vnet::format_counters<vnet::svc::gateway_drop>(out, c.drops);
    }
};

/// "172.31.96.10 at 00:15:5d:00:00:10" (expiry times are relative to the injected clock
/// and not printed).
template <>
struct fmt::formatter<vnet::svc::neighbor_entry> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::neighbor_entry& e, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "{} at {}", e.address, e.mac);
    }
};

/// "gateway 172.31.96.1/20 at 00:15:5d:..., 2 neighbors" then the neighbors, one a line,
/// then the counters.
template <>
struct fmt::formatter<vnet::svc::gateway_responder> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::gateway_responder& g, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "gateway {} at {}, {} neighbors", g.config().address, g.mac(), g.neighbors().size());
        for (const auto& e : g.neighbors().sorted()) out = fmt::format_to(out, "\n  {}", e);
        return fmt::format_to(out, "\n  {}", g.counters());
    }
};
