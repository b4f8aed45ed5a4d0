// vnet/services/nat.hpp - the host's NAT (WinNAT / New-NetNat, and the ICS NAT of the
// Default Switch): masquerade of TCP, UDP and ICMP echo from an internal prefix to one
// external address, static port mappings (Add-NetNatStaticMapping), translated ICMP
// errors and hairpinning.
//
// Behaviour and its sources:
// - Port preservation (RFC 4787 REQ-3, section 4.2.1): an inside TCP/UDP port inside the
//   configured range (default 1024-65535) is kept when free, an ICMP echo identifier is
//   kept whatever its value; otherwise the next free one of the range is taken. A port is
//   "free" for a flow when no live flow to the same remote endpoint uses it, so the range
//   bounds flows per remote endpoint, not flows in all (as Linux conntrack). A static
//   mapping's internal endpoint always goes out on its external port (RFC 4787 REQ-1).
// - Filtering: an inbound packet passes only when it matches a flow's 5-tuple, or opens
//   a flow through a static mapping (a UDP datagram, a TCP SYN); everything else is
//   dropped as no_mapping (RFC 4787 section 5, address and port-dependent filtering).
// - Timeouts (RFC 4787 REQ-5: UDP at least 2 min, default 120 s; ICMP echo 60 s as
//   libslirp; RFC 5382 REQ-5: TCP established at least 2 h 4 min = 7440 s, transitory
//   (partially open or closing) at least 4 min). TCP is tracked from the flags in both
//   directions: opening until a packet has been seen each way (120 s), then established
//   (7440 s), closing once a FIN or RST is seen (240 s, 2 MSL); a new SYN on a closing
//   flow starts over. Mappings are refreshed by packets in both directions (RFC 4787
//   REQ-6), not by ICMP errors. Time is injected: every call takes `now`, resolution
//   one second; expired flows go on lookup (lazily) and in expire(now).
// - ICMP errors (RFC 5508 section 4.2, REQ-3): an error about a translated packet is
//   translated with its quote: the outer address, the quoted IP address and its header
//   checksum, the quoted port or echo identifier and the quoted transport checksum when
//   the quote holds it, and the outer ICMP checksum. Errors never create flows.
// - Checksums are updated incrementally (RFC 1624 eqn. 3), so a corrupt transport
//   checksum stays corrupt; a UDP checksum of zero (none, RFC 768) stays zero and an
//   updated one never becomes zero. The IPv4 header checksum is verified (RFC 1812
//   section 5.2.2) and a bad one dropped.
// - Fragments: a first fragment carries the ports and is translated; non-first fragments
//   carry none and are dropped as `fragment` (no fragment tracking).
// - Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8): an inside host reaching the external
//   address on a static mapping's port is translated both ways and comes back inside
//   with the external address and port as its source (verdict hairpinned).
// - One NAT per host as WinNAT (docs/eflow-facts.md "Hyper-V port and switch features": one NAT
//   network per host): nat_registry refuses a second one.
// Every dropped packet is counted under a named reason (nat_drop). The table has a
// capacity; a new flow that does not fit first makes expired flows go, and is dropped
// as table_full when none can.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/mutant.hpp>
#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/services/nat_flow_table.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/icmpv4.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/tcp.hpp>

namespace vnet::svc {

using vnet::to_string;

/// What the NAT translates; the values are the IP protocol numbers.
enum class nat_protocol : std::uint8_t { icmp = 1, tcp = 6, udp = 17 };

inline constexpr enum_name<nat_protocol> nat_protocol_names[] = {
    {nat_protocol::icmp, "icmp"},
    {nat_protocol::tcp, "tcp"},
    {nat_protocol::udp, "udp"},
};
constexpr std::span<const enum_name<nat_protocol>> enum_names(nat_protocol) noexcept { return nat_protocol_names; }

/// Idle timeouts (see the header comment for their sources).
struct nat_timeouts {
    std::chrono::seconds udp{120};
    std::chrono::seconds icmp{60};
    std::chrono::seconds tcp_opening{120};
    std::chrono::seconds tcp_established{7440};
    std::chrono::seconds tcp_closing{240};
};

/// New-NetNat: Name, InternalIPInterfaceAddressPrefix, and the address it hides them behind.
struct nat_config {
    std::string name = "nat";
    ipv4_prefix internal_prefix{};
    ipv4_address external_address{};
    std::uint16_t port_first = 1024;  // external ports (and echo identifiers) handed out
    std::uint16_t port_last = 65535;
    std::size_t max_flows = 65536;
    nat_timeouts timeouts{};
    std::uint64_t hash_seed = 0x6e61745f7461626cULL;  // set a secret value against hash flooding
};

/// Add-NetNatStaticMapping: Protocol, ExternalIPAddress (0.0.0.0: any), ExternalPort,
/// InternalIPAddress, InternalPort.
struct nat_static_mapping {
    nat_protocol protocol = nat_protocol::tcp;
    ipv4_address external_address{};
    std::uint16_t external_port = 0;
    ipv4_address internal_address{};
    std::uint16_t internal_port = 0;
    friend constexpr bool operator==(const nat_static_mapping&, const nat_static_mapping&) = default;
};

enum class nat_drop : std::uint8_t {
    malformed,             // not an IPv4 datagram, or its transport / ICMP header is cut short
    bad_checksum,          // the IPv4 header checksum does not verify
    not_inside,            // outbound: the source is not inside the internal prefix
    not_external,          // inbound: the destination is not the external address
    unsupported_protocol,  // not TCP, UDP or ICMP
    unsupported_icmp,      // an ICMP type the NAT does not translate (not echo, not an error)
    fragment,              // a non-first fragment: it has no ports (no fragment tracking)
    no_mapping,            // no flow and no static mapping matches (unsolicited inbound, stale error)
    port_exhausted,        // no free external port towards that remote endpoint
    table_full,            // the table is at capacity and no flow has expired
    count_
};

inline constexpr std::size_t nat_drop_count = static_cast<std::size_t>(nat_drop::count_);

inline constexpr enum_name<nat_drop> nat_drop_names[] = {
    {nat_drop::malformed, "malformed"},
    {nat_drop::bad_checksum, "bad_checksum"},
    {nat_drop::not_inside, "not_inside"},
    {nat_drop::not_external, "not_external"},
    {nat_drop::unsupported_protocol, "unsupported_protocol"},
    {nat_drop::unsupported_icmp, "unsupported_icmp"},
    {nat_drop::fragment, "fragment"},
    {nat_drop::no_mapping, "no_mapping"},
    {nat_drop::port_exhausted, "port_exhausted"},
    {nat_drop::table_full, "table_full"},
};
constexpr std::span<const enum_name<nat_drop>> enum_names(nat_drop) noexcept { return nat_drop_names; }

enum class nat_verdict : std::uint8_t {
    translated,  // rewritten: send it on (outbound: to the outside; inbound: to the inside)
    hairpinned,  // an outbound packet rewritten back to an inside host
    dropped,     // untouched reason in nat_result::drop (the packet may have been partly rewritten)
};

inline constexpr enum_name<nat_verdict> nat_verdict_names[] = {
    {nat_verdict::translated, "translated"},
    {nat_verdict::hairpinned, "hairpinned"},
    {nat_verdict::dropped, "dropped"},
};
constexpr std::span<const enum_name<nat_verdict>> enum_names(nat_verdict) noexcept { return nat_verdict_names; }

struct nat_result {
    nat_verdict verdict = nat_verdict::dropped;
    nat_drop drop = nat_drop::count_;  // why, when verdict == dropped (count_ otherwise)
    constexpr explicit operator bool() const noexcept { return verdict != nat_verdict::dropped; }
};

struct nat_counters {
    std::uint64_t outbound = 0;     // packets translated inside -> outside
    std::uint64_t inbound = 0;      // packets translated outside -> inside
    std::uint64_t hairpinned = 0;   // packets translated inside -> inside
    std::uint64_t icmp_errors = 0;  // ICMP errors translated with their quote (also in outbound/inbound)
    std::uint64_t flows_created = 0;
    std::uint64_t flows_expired = 0;
    std::array<std::uint64_t, nat_drop_count> drops{};

    constexpr std::uint64_t drop(nat_drop d) const noexcept { return drops[static_cast<std::size_t>(d)]; }
    constexpr void count_drop(nat_drop d) noexcept { ++drops[static_cast<std::size_t>(d)]; }
    constexpr std::uint64_t total_drops() const noexcept {
        std::uint64_t n = 0;
        for (auto d : drops) n += d;
        return n;
    }
};

/// Where a TCP flow is (RFC 5382 section 5): opening and closing are "transitory".
enum class nat_tcp_phase : std::uint8_t { opening, established, closing };

inline constexpr enum_name<nat_tcp_phase> nat_tcp_phase_names[] = {
    {nat_tcp_phase::opening, "opening"},
    {nat_tcp_phase::established, "established"},
    {nat_tcp_phase::closing, "closing"},
};
constexpr std::span<const enum_name<nat_tcp_phase>> enum_names(nat_tcp_phase) noexcept { return nat_tcp_phase_names; }

/// Bits of nat_flow::tcp_state.
namespace nat_tcp_bits {
inline constexpr std::uint8_t seen_out = 0x01, seen_in = 0x02, fin_out = 0x04, fin_in = 0x08, rst = 0x10;
}

constexpr nat_tcp_phase tcp_phase_of(std::uint8_t bits) noexcept {
    using namespace nat_tcp_bits;
    if (bits & (fin_out | fin_in | rst)) return nat_tcp_phase::closing;
    if ((bits & seen_out) && (bits & seen_in)) return nat_tcp_phase::established;
    return nat_tcp_phase::opening;
}

/// One flow as the NAT reports it.
struct nat_flow_info {
    nat_protocol protocol = nat_protocol::udp;
    ipv4_address inside_address{};
    std::uint16_t inside_port = 0;  // or the echo identifier
    ipv4_address external_address{};
    std::uint16_t external_port = 0;
    ipv4_address remote_address{};
    std::uint16_t remote_port = 0;
    nat_tcp_phase tcp_phase = nat_tcp_phase::opening;  // TCP only
    std::chrono::steady_clock::time_point expires_at{};
};

class nat {
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;

    /// Checks the configuration (New-NetNat would refuse the same things).
    static result<nat> make(nat_config cfg) {
        if (cfg.internal_prefix.length() == 0 || cfg.internal_prefix.length() > 30)
            return fail(layer::service, errc::bad_value, "NAT internal prefix length must be from /1 to /30");
        const ipv4_address e = cfg.external_address;
        if (e.is_unspecified() || e.is_broadcast() || e.is_multicast() || e.is_loopback())
            return fail(layer::service, errc::bad_value, "NAT external address must be a unicast address");
        if (cfg.internal_prefix.contains(e))
            return fail(layer::service, errc::conflict, "NAT external address lies inside the internal prefix");
        if (cfg.port_first == 0 || cfg.port_first > cfg.port_last)
            return fail(layer::service, errc::bad_value, "NAT port range must lie in 1-65535 with first <= last");
        if (cfg.max_flows == 0 || cfg.max_flows > (std::size_t{1} << 30))
            return fail(layer::service, errc::bad_value, "NAT max_flows must be from 1 to 2^30");
        const auto& t = cfg.timeouts;
        for (auto s : {t.udp, t.icmp, t.tcp_opening, t.tcp_established, t.tcp_closing})
            if (s.count() < 1 || s.count() > 0x7fffffff)
                return fail(layer::service, errc::bad_value, "NAT timeouts must be from 1 s to 2^31 s");
        cfg.internal_prefix = cfg.internal_prefix.canonical();
        return nat(std::move(cfg));
    }

    const nat_config& config() const noexcept { return cfg_; }
    const std::string& name() const noexcept { return cfg_.name; }
    const nat_counters& counters() const noexcept { return counters_; }
    std::size_t flow_count() const noexcept { return table_.size(); }
    /// Heap bytes of the translation table (records and indexes).
    std::size_t memory_bytes() const noexcept { return table_.memory_bytes(); }
    /// Sizes the table for n flows so that setting them up does not allocate.
    void reserve(std::size_t n) { table_.reserve(std::min(n, cfg_.max_flows)); }

    // ---- static mappings (Add-NetNatStaticMapping / Remove-NetNatStaticMapping) ----

    result<void> add_static_mapping(const nat_static_mapping& m) {
        if (m.protocol == nat_protocol::icmp)
            return fail(layer::service, errc::unsupported, "NAT static mappings are TCP or UDP");
        if (!m.external_address.is_unspecified() && m.external_address != cfg_.external_address)
            return fail(layer::service, errc::bad_value,
                        "NAT static mapping external address must be the NAT's external address or 0.0.0.0");
        if (m.external_port == 0 || m.internal_port == 0)
            return fail(layer::service, errc::bad_value, "NAT static mapping ports must be from 1 to 65535");
        if (!cfg_.internal_prefix.contains(m.internal_address) ||
            cfg_.internal_prefix.is_network_or_broadcast(m.internal_address))
            return fail(layer::service, errc::bad_value,
                        "NAT static mapping internal address must be a host of the internal prefix");
        for (const auto& s : statics_) {
            if (s.protocol != m.protocol) continue;
            if (s.external_port == m.external_port)
                return fail(layer::service, errc::conflict,
                            "a NAT static mapping for this protocol and external port already exists");
            if (s.internal_address == m.internal_address && s.internal_port == m.internal_port)
                return fail(layer::service, errc::conflict,
                            "a NAT static mapping for this internal address and port already exists");
        }
        if (static_bits_.empty()) static_bits_.assign(2 * 1024, 0);
        statics_.push_back(m);
        set_static_bit(m.protocol, m.external_port, true);
        return {};
    }

    result<void> remove_static_mapping(nat_protocol p, std::uint16_t external_port) {
        for (auto it = statics_.begin(); it != statics_.end(); ++it) {
            if (it->protocol == p && it->external_port == external_port) {
                statics_.erase(it);
                set_static_bit(p, external_port, false);
                return {};
            }
        }
        return fail(layer::service, errc::not_found, "no NAT static mapping for this protocol and external port");
    }

    std::span<const nat_static_mapping> static_mappings() const noexcept { return statics_; }

    // ---- packets ----

    /// A datagram from the inside (IPv4 header first; link-layer padding after the total
    /// length is ignored and left alone), rewritten in place.
    nat_result outbound(bytes_span packet, time_point now) {
        const std::uint32_t t = tick(now);
        auto v = wire::ipv4_view::parse(packet);
        if (!v) return dropped(nat_drop::malformed);
        if (!v->checksum_ok()) return dropped(nat_drop::bad_checksum);
        if (!cfg_.internal_prefix.contains(v->src())) return dropped(nat_drop::not_inside);
        if (!v->is_first_fragment()) return dropped(nat_drop::fragment);
        const bytes_span p = packet.first(v->total_length());
        const std::size_t h = v->header_len();
        switch (v->protocol()) {
            case wire::ip_protocol::tcp:
            case wire::ip_protocol::udp: return outbound_l4(p, h, v->protocol(), t);
            case wire::ip_protocol::icmp: return outbound_icmp(p, h, t);
            default: return dropped(nat_drop::unsupported_protocol);
        }
    }

    /// A datagram from the outside, rewritten in place.
    nat_result inbound(bytes_span packet, time_point now) {
        if (mutant::on(mutant::id::nat_drops_replies)) return dropped(nat_drop::no_mapping);
        const std::uint32_t t = tick(now);
        auto v = wire::ipv4_view::parse(packet);
        if (!v) return dropped(nat_drop::malformed);
        if (!v->checksum_ok()) return dropped(nat_drop::bad_checksum);
        if (v->dst() != cfg_.external_address) return dropped(nat_drop::not_external);
        if (!v->is_first_fragment()) return dropped(nat_drop::fragment);
        const bytes_span p = packet.first(v->total_length());
        const std::size_t h = v->header_len();
        switch (v->protocol()) {
            case wire::ip_protocol::tcp:
            case wire::ip_protocol::udp: {
                const auto r = inbound_l4(p, h, v->protocol(), t);
                if (r) ++counters_.inbound;
                return r;
            }
            case wire::ip_protocol::icmp: return inbound_icmp(p, h, t);
            default: return dropped(nat_drop::unsupported_protocol);
        }
    }

    /// Removes every flow idle past its timeout at now; returns how many went.
    std::size_t expire(time_point now) { return expire_at(tick(now)); }

    /// The flow of an inside endpoint towards a remote endpoint (remote_port 0 and the
    /// identifier as inside_port for ICMP echo), expired or not.
    std::optional<nat_flow_info> find_flow(nat_protocol p, ipv4_address inside, std::uint16_t inside_port, ipv4_address remote,
                                           std::uint16_t remote_port) const noexcept {
        const auto idx = table_.find_outbound(static_cast<std::uint8_t>(p), inside.to_u32(), inside_port, remote.to_u32(),
                                              remote_port);
        if (idx == nat_flow_table::npos) return std::nullopt;
        return info(table_[idx]);
    }

    /// Calls f(const nat_flow_info&) for every flow in the table.
    template <class F>
    void for_each_flow(F&& f) const {
        table_.for_each([&](nat_flow_table::index_type, const nat_flow& r) { f(info(r)); });
    }

private:
    using index_type = nat_flow_table::index_type;
    static constexpr index_type npos = nat_flow_table::npos;
    static constexpr std::uint8_t proto_icmp = wire::ip_protocol::icmp;
    static constexpr std::uint8_t proto_tcp = wire::ip_protocol::tcp;
    static constexpr std::uint8_t proto_udp = wire::ip_protocol::udp;
    static constexpr std::uint32_t time_max = 0xffffffffu;

    explicit nat(nat_config cfg) : cfg_(std::move(cfg)), table_(cfg_.hash_seed) {}

    // ---- checksum bookkeeping (RFC 1624) ----

    enum class sum_kind : std::uint8_t { none, plain, udp };
    struct sum_ref {
        std::size_t off = 0;
        sum_kind kind = sum_kind::none;
    };

    static void fold(bytes_span b, sum_ref c, std::uint16_t old_v, std::uint16_t new_v) noexcept {
        if (c.kind == sum_kind::none) return;
        const std::uint16_t cur = load_be16(b, c.off);
        if (c.kind == sum_kind::udp && cur == 0) return;  // no checksum was sent (RFC 768)
        std::uint16_t s = wire::checksum_update16(cur, old_v, new_v);
        if (c.kind == sum_kind::udp && s == 0) s = 0xffff;  // zero would mean "none" (RFC 768)
        store_be16(b, c.off, s);
    }
    /// Writes v at off and folds the change into each checksum field of sums.
    static void set16(bytes_span b, std::size_t off, std::uint16_t v, std::initializer_list<sum_ref> sums) noexcept {
        const std::uint16_t old_v = load_be16(b, off);
        if (old_v == v) return;
        store_be16(b, off, v);
        for (const auto& c : sums) fold(b, c, old_v, v);
    }
    static void set32(bytes_span b, std::size_t off, std::uint32_t v, std::initializer_list<sum_ref> sums) noexcept {
        set16(b, off, static_cast<std::uint16_t>(v >> 16), sums);
        set16(b, off + 2, static_cast<std::uint16_t>(v & 0xffff), sums);
    }

    // ---- time ----

    /// The NAT's clock: whole seconds since the first call, plus one (0 is "never").
    std::uint32_t tick(time_point now) noexcept {
        if (!started_) {
            base_ = now;
            started_ = true;
        }
        if (now <= base_) return 1;
        const auto s = std::chrono::duration_cast<std::chrono::seconds>(now - base_).count();
        return s >= static_cast<std::int64_t>(time_max - 1) ? time_max - 1 : static_cast<std::uint32_t>(s) + 1;
    }

    std::chrono::seconds timeout_of(const nat_flow& f) const noexcept {
        const auto& to = cfg_.timeouts;
        switch (f.protocol) {
            case proto_udp: return to.udp;
            case proto_icmp: return to.icmp;
            default: break;
        }
        switch (tcp_phase_of(f.tcp_state)) {
            case nat_tcp_phase::opening: return to.tcp_opening;
            case nat_tcp_phase::established: return to.tcp_established;
            case nat_tcp_phase::closing: return to.tcp_closing;
        }
        return to.tcp_closing;
    }

    void refresh(nat_flow& f, std::uint32_t t) noexcept {
        const std::uint64_t d = std::uint64_t{t} + static_cast<std::uint64_t>(timeout_of(f).count());
        f.deadline = d > time_max ? time_max : static_cast<std::uint32_t>(d);
        min_deadline_ = std::min(min_deadline_, f.deadline);
    }

    static void track_tcp(nat_flow& f, std::uint16_t flags, bool outbound) noexcept {
        using namespace nat_tcp_bits;
        const bool bare_syn = (flags & wire::tcp_flag::syn) && !(flags & wire::tcp_flag::ack);
        if (bare_syn && (f.tcp_state & (fin_out | fin_in | rst))) f.tcp_state = 0;  // the tuple is reused
        f.tcp_state |= outbound ? seen_out : seen_in;
        if (flags & wire::tcp_flag::fin) f.tcp_state |= outbound ? fin_out : fin_in;
        if (flags & wire::tcp_flag::rst) f.tcp_state |= rst;
    }

    bool live(index_type idx, std::uint32_t t) {
        if (idx == npos) return false;
        if (t < table_[idx].deadline) return true;
        table_.erase(idx);
        ++counters_.flows_expired;
        return false;
    }

    std::size_t expire_at(std::uint32_t t) {
        std::size_t n = 0;
        std::uint32_t next = time_max;
        for (std::size_t i = 0; i < table_.record_count(); ++i) {
            const nat_flow& f = table_[static_cast<index_type>(i)];
            if (f.protocol == 0) continue;
            if (t >= f.deadline) {
                table_.erase(static_cast<index_type>(i));
                ++n;
            } else {
                next = std::min(next, f.deadline);
            }
        }
        min_deadline_ = next;
        counters_.flows_expired += n;
        return n;
    }

    /// Room for one more flow: expired flows go first when the table is full.
    bool make_room(std::uint32_t t) {
        if (table_.size() < cfg_.max_flows) return true;
        if (t >= min_deadline_) expire_at(t);
        return table_.size() < cfg_.max_flows;
    }

    index_type add_flow(const nat_flow& f, std::uint32_t t) {
        const index_type idx = table_.insert(f);
        refresh(table_[idx], t);
        ++counters_.flows_created;
        return idx;
    }

    // ---- static mappings and ports ----

    void set_static_bit(nat_protocol p, std::uint16_t port, bool on) noexcept {
        auto& w = static_bits_[(p == nat_protocol::udp ? 1024u : 0u) + port / 64u];
        const std::uint64_t bit = std::uint64_t{1} << (port % 64u);
        w = on ? (w | bit) : (w & ~bit);
    }
    bool is_static_port(std::uint8_t proto, std::uint16_t port) const noexcept {
        if (static_bits_.empty() || proto == proto_icmp) return false;
        return (static_bits_[(proto == proto_udp ? 1024u : 0u) + port / 64u] >> (port % 64u)) & 1u;
    }
    const nat_static_mapping* static_by_external(std::uint8_t proto, std::uint16_t port) const noexcept {
        if (!is_static_port(proto, port)) return nullptr;
        for (const auto& s : statics_)
            if (static_cast<std::uint8_t>(s.protocol) == proto && s.external_port == port) return &s;
        return nullptr;
    }
    const nat_static_mapping* static_by_internal(std::uint8_t proto, std::uint32_t addr, std::uint16_t port) const noexcept {
        for (const auto& s : statics_)
            if (static_cast<std::uint8_t>(s.protocol) == proto && s.internal_address.to_u32() == addr && s.internal_port == port)
                return &s;
        return nullptr;
    }

    /// No live flow from (remote, remote_port) uses external port ep.
    bool inbound_free(std::uint8_t proto, std::uint32_t remote, std::uint16_t remote_port, std::uint16_t ep, std::uint32_t t) {
        return !live(table_.find_inbound(proto, remote, remote_port, ep), t);
    }

    std::optional<std::uint16_t> allocate(std::uint8_t proto, std::uint32_t inside, std::uint16_t inside_port,
                                          std::uint32_t remote, std::uint16_t remote_port, std::uint32_t t) {
        // a hairpinned flow (remote = the external address) must not get the port it is
        // sent to: its reverse key would then be its own
        const bool hairpin = remote == cfg_.external_address.to_u32();
        if (const auto* s = static_by_internal(proto, inside, inside_port)) {
            if (!(hairpin && s->external_port == remote_port) && inbound_free(proto, remote, remote_port, s->external_port, t))
                return s->external_port;
            return std::nullopt;
        }
        auto usable = [&](std::uint16_t p) {
            return !(hairpin && p == remote_port) && !is_static_port(proto, p) && inbound_free(proto, remote, remote_port, p, t);
        };
        const bool preserve = proto == proto_icmp || (inside_port >= cfg_.port_first && inside_port <= cfg_.port_last);
        if (preserve && usable(inside_port)) return inside_port;
        const std::uint32_t range = std::uint32_t{cfg_.port_last} - cfg_.port_first + 1;
        std::uint32_t& cursor = cursor_[proto == proto_icmp ? 0 : proto == proto_tcp ? 1 : 2];
        for (std::uint32_t i = 0; i < range; ++i) {
            const std::uint32_t k = (cursor + i) % range;
            const auto p = static_cast<std::uint16_t>(cfg_.port_first + k);
            if (usable(p)) {
                cursor = (k + 1) % range;
                return p;
            }
        }
        return std::nullopt;
    }

    // ---- the flows a packet belongs to ----

    struct lookup {
        index_type idx = npos;
        bool created = false;
        nat_drop drop = nat_drop::no_mapping;
    };

    /// The flow of an outbound packet, set up when there is none.
    lookup outbound_flow(std::uint8_t proto, std::uint32_t inside, std::uint16_t inside_port, std::uint32_t remote,
                         std::uint16_t remote_port, std::uint16_t tcp_flags, std::uint32_t t) {
        index_type idx = table_.find_outbound(proto, inside, inside_port, remote, remote_port);
        if (live(idx, t)) return {idx, false, nat_drop::no_mapping};
        if (proto == proto_tcp && (tcp_flags & wire::tcp_flag::rst)) return {npos, false, nat_drop::no_mapping};
        const auto ep = allocate(proto, inside, inside_port, remote, remote_port, t);
        if (!ep) return {npos, false, nat_drop::port_exhausted};
        if (!make_room(t)) return {npos, false, nat_drop::table_full};
        nat_flow f;
        f.inside_addr = inside;
        f.remote_addr = remote;
        f.inside_port = inside_port;
        f.remote_port = remote_port;
        f.external_port = *ep;
        f.protocol = proto;
        return {add_flow(f, t), true, nat_drop::no_mapping};
    }

    /// The flow of an inbound TCP/UDP packet, set up through a static mapping when there
    /// is none (a UDP datagram or a TCP SYN).
    lookup inbound_flow(std::uint8_t proto, std::uint32_t remote, std::uint16_t remote_port, std::uint16_t ep,
                        std::uint16_t tcp_flags, std::uint32_t t) {
        index_type idx = table_.find_inbound(proto, remote, remote_port, ep);
        if (live(idx, t)) return {idx, false, nat_drop::no_mapping};
        const auto* s = static_by_external(proto, ep);
        if (!s) return {npos, false, nat_drop::no_mapping};
        if (proto == proto_tcp &&
            (!(tcp_flags & wire::tcp_flag::syn) || (tcp_flags & (wire::tcp_flag::ack | wire::tcp_flag::rst))))
            return {npos, false, nat_drop::no_mapping};
        const std::uint32_t inside = s->internal_address.to_u32();
        // the server already talks to this remote endpoint from that port through another mapping
        if (live(table_.find_outbound(proto, inside, s->internal_port, remote, remote_port), t))
            return {npos, false, nat_drop::no_mapping};
        if (!make_room(t)) return {npos, false, nat_drop::table_full};
        nat_flow f;
        f.inside_addr = inside;
        f.remote_addr = remote;
        f.inside_port = s->internal_port;
        f.remote_port = remote_port;
        f.external_port = ep;
        f.protocol = proto;
        return {add_flow(f, t), true, nat_drop::no_mapping};
    }

    // ---- TCP and UDP ----

    /// The transport header is there (TCP: the whole header; UDP: 8 octets); its flags.
    static std::optional<std::uint16_t> transport_flags(bytes_span p, std::size_t h, std::uint8_t proto) noexcept {
        const bytes_view l4 = bytes_view(p).subspan(h);
        if (proto == proto_tcp) {
            auto tv = wire::tcp_view::parse(l4);
            if (!tv) return std::nullopt;
            return tv->flags();
        }
        if (l4.size() < 8) return std::nullopt;
        return std::uint16_t{0};
    }
    static sum_ref transport_sum(std::size_t h, std::uint8_t proto) noexcept {
        return proto == proto_tcp ? sum_ref{h + 16, sum_kind::plain} : sum_ref{h + 6, sum_kind::udp};
    }

    nat_result outbound_l4(bytes_span p, std::size_t h, std::uint8_t proto, std::uint32_t t) {
        using f = wire::ipv4_view::field;
        const auto flags = transport_flags(p, h, proto);
        if (!flags) return dropped(nat_drop::malformed);
        const std::uint32_t src = load_be32(p, f::src), dst = load_be32(p, f::dst);
        const std::uint16_t sport = load_be16(p, h), dport = load_be16(p, h + 2);
        const auto look = outbound_flow(proto, src, sport, dst, dport, *flags, t);
        if (look.idx == npos) return dropped(look.drop);
        nat_flow& fl = table_[look.idx];
        if (proto == proto_tcp) track_tcp(fl, *flags, true);
        refresh(fl, t);
        const std::uint16_t ep = fl.external_port;
        const sum_ref ipsum{f::checksum, sum_kind::plain}, l4sum = transport_sum(h, proto);
        set32(p, f::src, cfg_.external_address.to_u32(), {ipsum, l4sum});
        set16(p, h, ep, {l4sum});
        if (dst != cfg_.external_address.to_u32()) {
            ++counters_.outbound;
            return done(nat_verdict::translated);
        }
        // hairpinning: the destination is our own external address; translate it as an
        // inbound packet from (external address, ep) would be
        const auto r = inbound_l4(p, h, proto, t);
        if (!r) {
            if (look.created) table_.erase(look.idx);
            return r;
        }
        ++counters_.hairpinned;
        return done(nat_verdict::hairpinned);
    }

    /// Rewrites the destination of a TCP/UDP packet addressed to the external address.
    nat_result inbound_l4(bytes_span p, std::size_t h, std::uint8_t proto, std::uint32_t t) {
        using f = wire::ipv4_view::field;
        const auto flags = transport_flags(p, h, proto);
        if (!flags) return dropped(nat_drop::malformed);
        const std::uint32_t src = load_be32(p, f::src);
        const std::uint16_t sport = load_be16(p, h), dport = load_be16(p, h + 2);
        const auto look = inbound_flow(proto, src, sport, dport, *flags, t);
        if (look.idx == npos) return dropped(look.drop);
        nat_flow& fl = table_[look.idx];
        if (proto == proto_tcp) track_tcp(fl, *flags, false);
        refresh(fl, t);
        const sum_ref ipsum{f::checksum, sum_kind::plain}, l4sum = transport_sum(h, proto);
        set32(p, f::dst, fl.inside_addr, {ipsum, l4sum});
        set16(p, h + 2, fl.inside_port, {l4sum});
        return done(nat_verdict::translated);
    }

    // ---- ICMP ----

    nat_result outbound_icmp(bytes_span p, std::size_t h, std::uint32_t t) {
        using f = wire::ipv4_view::field;
        using icmp = wire::icmpv4_view::field;
        if (p.size() - h < wire::icmpv4_view::header_len) return dropped(nat_drop::malformed);
        const std::uint8_t type = load_u8(p, h + icmp::type);
        if (wire::icmpv4_is_error(type)) return icmp_error(p, h, true, t);
        if (type != wire::icmpv4_type::echo_request) return dropped(nat_drop::unsupported_icmp);
        const std::uint32_t src = load_be32(p, f::src), dst = load_be32(p, f::dst);
        if (dst == cfg_.external_address.to_u32()) return dropped(nat_drop::no_mapping);  // the host's own address
        const std::uint16_t id = load_be16(p, h + icmp::identifier);
        const auto look = outbound_flow(proto_icmp, src, id, dst, 0, 0, t);
        if (look.idx == npos) return dropped(look.drop);
        nat_flow& fl = table_[look.idx];
        refresh(fl, t);
        set32(p, f::src, cfg_.external_address.to_u32(), {{f::checksum, sum_kind::plain}});
        set16(p, h + icmp::identifier, fl.external_port, {{h + icmp::checksum, sum_kind::plain}});
        ++counters_.outbound;
        return done(nat_verdict::translated);
    }

    nat_result inbound_icmp(bytes_span p, std::size_t h, std::uint32_t t) {
        using f = wire::ipv4_view::field;
        using icmp = wire::icmpv4_view::field;
        if (p.size() - h < wire::icmpv4_view::header_len) return dropped(nat_drop::malformed);
        const std::uint8_t type = load_u8(p, h + icmp::type);
        if (wire::icmpv4_is_error(type)) return icmp_error(p, h, false, t);
        if (type == wire::icmpv4_type::echo_request) return dropped(nat_drop::no_mapping);  // for the host itself
        if (type != wire::icmpv4_type::echo_reply) return dropped(nat_drop::unsupported_icmp);
        const std::uint16_t id = load_be16(p, h + icmp::identifier);
        const index_type idx = table_.find_inbound(proto_icmp, load_be32(p, f::src), 0, id);
        if (!live(idx, t)) return dropped(nat_drop::no_mapping);
        nat_flow& fl = table_[idx];
        refresh(fl, t);
        set32(p, f::dst, fl.inside_addr, {{f::checksum, sum_kind::plain}});
        set16(p, h + icmp::identifier, fl.inside_port, {{h + icmp::checksum, sum_kind::plain}});
        ++counters_.inbound;
        return done(nat_verdict::translated);
    }

    /// An ICMP error at h. Its quote is a packet that crossed the NAT the other way:
    /// for an inbound error an outbound packet (external address:port -> remote), for an
    /// outbound error (sent by an inside host) an inbound one (remote -> inside host).
    nat_result icmp_error(bytes_span p, std::size_t h, bool outbound, std::uint32_t t) {
        using f = wire::ipv4_view::field;
        using tf = wire::embedded_ipv4_view::transport_field;
        auto icmp = wire::icmpv4_view::parse(bytes_view(p).subspan(h));
        if (!icmp) return dropped(nat_drop::malformed);
        auto emb = icmp->embedded_ipv4();
        if (!emb) return dropped(nat_drop::malformed);
        if (emb->fragment_offset() != 0) return dropped(nat_drop::fragment);
        const std::size_t q = h + wire::icmpv4_view::field::data;  // the quoted IP header
        const std::size_t qt = q + emb->header_len();              // the quoted transport header
        const std::size_t quoted = p.size() - qt;                  // transport octets quoted (>= 8)
        const std::uint8_t proto = emb->protocol();
        const std::uint32_t qsrc = emb->src().to_u32(), qdst = emb->dst().to_u32();

        index_type idx = npos;
        std::size_t port_off = 0;  // the quoted port or identifier to rewrite
        sum_ref qsum{};            // the quoted transport checksum, when quoted
        bool pseudo = false;       // that checksum covers the addresses (TCP, UDP)
        if (proto == proto_tcp || proto == proto_udp) {
            const std::uint16_t qsport = load_be16(p, qt + tf::source_port);
            const std::uint16_t qdport = load_be16(p, qt + tf::destination_port);
            if (outbound) {
                idx = table_.find_outbound(proto, qdst, qdport, qsrc, qsport);
                port_off = qt + tf::destination_port;
            } else {
                if (qsrc == cfg_.external_address.to_u32()) idx = table_.find_inbound(proto, qdst, qdport, qsport);
                port_off = qt + tf::source_port;
            }
            if (proto == proto_udp) qsum = {qt + tf::udp_checksum, sum_kind::udp};
            else if (quoted >= 18) qsum = {qt + 16, sum_kind::plain};
            pseudo = true;
        } else if (proto == proto_icmp) {
            const std::uint8_t qtype = load_u8(p, qt + tf::icmp_type);
            if (qtype != wire::icmpv4_type::echo_request && qtype != wire::icmpv4_type::echo_reply)
                return dropped(nat_drop::unsupported_icmp);
            const std::uint16_t qid = load_be16(p, qt + tf::icmp_identifier);
            if (outbound) idx = table_.find_outbound(proto_icmp, qdst, qid, qsrc, 0);
            else if (qsrc == cfg_.external_address.to_u32()) idx = table_.find_inbound(proto_icmp, qdst, 0, qid);
            port_off = qt + tf::icmp_identifier;
            qsum = {qt + tf::icmp_checksum, sum_kind::plain};
        } else {
            return dropped(nat_drop::unsupported_protocol);
        }
        if (!live(idx, t)) return dropped(nat_drop::no_mapping);
        const nat_flow& fl = table_[idx];

        const sum_ref ipsum{f::checksum, sum_kind::plain};
        const sum_ref outer{h + wire::icmpv4_view::field::checksum, sum_kind::plain};
        const sum_ref qip{q + f::checksum, sum_kind::plain};
        const sum_ref qaddr_sum = pseudo ? qsum : sum_ref{};
        const std::uint16_t qip_before = load_be16(p, qip.off);
        const std::uint16_t qsum_before = qsum.kind == sum_kind::none ? 0 : load_be16(p, qsum.off);
        const std::uint32_t external = cfg_.external_address.to_u32();
        if (outbound) {
            set32(p, f::src, external, {ipsum});
            set32(p, q + f::dst, external, {qip, qaddr_sum, outer});
            set16(p, port_off, fl.external_port, {qsum, outer});
        } else {
            set32(p, f::dst, fl.inside_addr, {ipsum});
            set32(p, q + f::src, fl.inside_addr, {qip, qaddr_sum, outer});
            set16(p, port_off, fl.inside_port, {qsum, outer});
        }
        // the quoted checksums are part of the ICMP message too
        fold(p, outer, qip_before, load_be16(p, qip.off));
        if (qsum.kind != sum_kind::none) fold(p, outer, qsum_before, load_be16(p, qsum.off));
        ++counters_.icmp_errors;
        ++(outbound ? counters_.outbound : counters_.inbound);
        return done(nat_verdict::translated);
    }

    static constexpr nat_result done(nat_verdict v) noexcept { return {v, nat_drop::count_}; }
    nat_result dropped(nat_drop d) noexcept {
        counters_.count_drop(d);
        return {nat_verdict::dropped, d};
    }

    nat_flow_info info(const nat_flow& r) const noexcept {
        nat_flow_info i;
        i.protocol = static_cast<nat_protocol>(r.protocol);
        i.inside_address = ipv4_address(r.inside_addr);
        i.inside_port = r.inside_port;
        i.external_address = cfg_.external_address;
        i.external_port = r.external_port;
        i.remote_address = ipv4_address(r.remote_addr);
        i.remote_port = r.remote_port;
        i.tcp_phase = tcp_phase_of(r.tcp_state);
        i.expires_at = base_ + std::chrono::seconds(r.deadline == 0 ? 0 : r.deadline - 1);
        return i;
    }

    nat_config cfg_;
    nat_flow_table table_;
    std::vector<nat_static_mapping> statics_;
    std::vector<std::uint64_t> static_bits_;  // TCP then UDP: one bit per external port with a static mapping
    nat_counters counters_{};
    std::array<std::uint32_t, 3> cursor_{};  // next port to try, per protocol (ICMP, TCP, UDP)
    time_point base_{};
    bool started_ = false;
    std::uint32_t min_deadline_ = time_max;  // no flow expires before this (a lower bound)
};

/// The host's NATs: at most one, as WinNAT (docs/eflow-facts.md: one NAT network per host).
class nat_registry {
public:
    /// New-NetNat. uplink_networks are the prefixes of the host's other interfaces; the
    /// internal prefix must not overlap them.
    result<nat*> create(nat_config cfg, std::span<const ipv4_prefix> uplink_networks = {}) {
        if (nat_) {
            if (nat_->config().internal_prefix.overlaps(cfg.internal_prefix))
                return fail(layer::service, errc::conflict,
                            "the NAT internal prefix overlaps the prefix of the host's existing NAT");
            return fail(layer::service, errc::conflict,
                        "a NAT already exists on this host (WinNAT supports one NAT network per host)");
        }
        for (const auto& u : uplink_networks)
            if (u.overlaps(cfg.internal_prefix))
                return fail(layer::service, errc::conflict, "the NAT internal prefix overlaps a network the host is attached to");
        auto n = nat::make(std::move(cfg));
        if (!n) return unexpected(n.error());
        nat_.emplace(std::move(*n));
        return &*nat_;
    }

    /// Remove-NetNat.
    result<void> remove(std::string_view name) {
        if (!nat_ || nat_->name() != name) return fail(layer::service, errc::not_found, "no NAT with this name");
        nat_.reset();
        return {};
    }

    nat* find(std::string_view name) noexcept { return nat_ && nat_->name() == name ? &*nat_ : nullptr; }
    nat* get() noexcept { return nat_ ? &*nat_ : nullptr; }
    const nat* get() const noexcept { return nat_ ? &*nat_ : nullptr; }

private:
    std::optional<nat> nat_;
};

}  // namespace vnet::svc

/// "translated", or "dropped (no_mapping)".
template <>
struct fmt::formatter<vnet::svc::nat_result> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::nat_result& r, Ctx& ctx) const {
        if (r) return fmt::format_to(ctx.out(), "{}", r.verdict);
        return fmt::format_to(ctx.out(), "dropped ({})", r.drop);
    }
};

/// "out 3, in 2, hairpinned 0, icmp errors 1, flows created 2 expired 0, drops: no_mapping=1"
/// (only non-zero drop reasons; "drops: none" when there are none).
template <>
struct fmt::formatter<vnet::svc::nat_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::nat_counters& c, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(),
                                  "out {}, in {}, hairpinned {}, icmp errors {}, flows created {} expired {}, drops:", c.outbound,
                                  c.inbound, c.hairpinned, c.icmp_errors, c.flows_created, c.flows_expired);
        return vnet::format_counters<vnet::svc::nat_drop>(out, c.drops);
    }
};

/// "tcp 172.20.0.2:40000 -> 192.168.0.10:40000 -> 198.51.100.10:443 established"
/// (inside, external, remote; the TCP phase for TCP only).
template <>
struct fmt::formatter<vnet::svc::nat_flow_info> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::nat_flow_info& f, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "{} {}:{} -> {}:{} -> {}:{}", f.protocol, f.inside_address, f.inside_port,
                                  f.external_address, f.external_port, f.remote_address, f.remote_port);
        if (f.protocol == vnet::svc::nat_protocol::tcp) out = fmt::format_to(out, " {}", f.tcp_phase);
        return out;
    }
};

/// The NAT and its table, one flow per line:
/// "nat EflowNAT 172.20.0.0/24 -> 192.168.0.10 ports 1024-65535, 1/65536 flows, 0 static mappings"
template <>
struct fmt::formatter<vnet::svc::nat> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::nat& n, Ctx& ctx) const {
        const auto& c = n.config();
        auto out = fmt::format_to(ctx.out(), "nat {} {} -> {} ports {}-{}, {}/{} flows, {} static mappings", c.name,
                                  c.internal_prefix, c.external_address, c.port_first, c.port_last, n.flow_count(), c.max_flows,
                                  n.static_mappings().size());
        for (const auto& s : n.static_mappings())
            out = fmt::format_to(out, "\n  static {} {}:{} -> {}:{}", s.protocol, s.external_address, s.external_port,
                                 s.internal_address, s.internal_port);
        n.for_each_flow([&](const vnet::svc::nat_flow_info& f) { out = fmt::format_to(out, "\n  {}", f); });
        return out;
    }
};
