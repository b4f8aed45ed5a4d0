// vnet/services/dhcp_server.hpp - a DHCP server (RFC 2131, RFC 2132) for the networks the
// emulated host serves: the Default Switch (ICS), an internal switch, a lab LAN.
//
// It is pure: handle() takes a parsed DHCP message (a wire::dhcp_view of a UDP payload on
// port 67) with its ingress metadata (source MAC, source and destination IPv4 address) and
// the injected time, and fills in the reply to send (a wire::dhcp_repr) and where to send it.
// handle_frame() is the layer a switch port attaches: a whole Ethernet frame in (IPv4 / UDP
// to port 67, 802.1Q tags kept), a whole reply frame out into the caller's buffer (Ethernet,
// IPv4 and UDP with their checksums), without allocating once its scratch reply has grown.
//
// Behaviour and its sources:
// - Address choice for DHCPDISCOVER (RFC 2131 section 4.3.1): the client's reservation
//   (a static address by MAC); else the address in "requested IP address" (50) when it is
//   free; else the client's current or previous (expired or released) binding when it is
//   free; else a never-used address of the range; else the address whose binding ended
//   longest ago. The requested address goes before the recorded binding, as in libslirp and
//   the brief; the RFC lists the binding first. No address: no offer, counted as
//   pool_exhausted. The offered address is reserved for offer_hold (section 4.3.1 "SHOULD
//   reserve"). One client (chaddr) holds at most one address.
// - DHCPREQUEST (section 4.3.2), told apart by its fields:
//   SELECTING (server identifier 54 present): another server's identifier means the client
//   chose that server, so our offer is withdrawn (offers_withdrawn, no reply); ours: ACK the
//   requested address when it is available to the client, else NAK.
//   INIT-REBOOT (50 present, ciaddr zero): NAK an address outside the subnet ("wrong
//   network") or other than the client's recorded one; no record of the client: silent
//   (section 4.3.2 "MUST remain silent") unless the server is authoritative (then ACK when
//   available, NAK otherwise, as dnsmasq --dhcp-authoritative).
//   RENEWING (ciaddr set, unicast to the server) and REBINDING (ciaddr set, broadcast): the
//   same checks on ciaddr; the ACK goes to ciaddr.
// - DHCPDECLINE (section 4.3.3): the address is marked in conflict and not offered to
//   anyone for conflict_hold. DHCPRELEASE (section 4.3.4): the binding ends now; the record
//   keeps the MAC so the client gets the address back. Neither is answered.
// - DHCPINFORM (section 4.3.5): ACK with the configuration, without yiaddr and without
//   lease time options, sent to ciaddr; no binding is looked at.
// - Leases expire with the injected clock; expire(now) sweeps, lookups also treat an
//   expired binding as free.
// - Options: 1, 3, 6, 12 (the reservation's name, else the client's own echoed), 15, 26,
//   28, 51, 54, 58 (T1 = 0.5 lease) and 59 (T2 = 0.875 lease, section 4.4.5), 119, 121 (with
//   the default route through the first router added, RFC 3442: "specify the default
//   router(s) both in the Router option and in the Classless Static Routes option"). A
//   client's lease time request (51) is honoured down to min_lease_time. Options go in the
//   order of the client's parameter request list (55), then the default order. A reply that
//   does not fit 576 octets of IP (section 2: 312 octets of options) or the client's maximum
//   message size (57) loses 119, 121, 12, 15 in that order (trimmed_replies).
// - Destination (section 4.1): giaddr set: to the relay's server port (NAK with the
//   broadcast bit set); NAK otherwise: broadcast; ciaddr set: unicast to ciaddr; broadcast
//   bit set: broadcast; else unicast to yiaddr and chaddr. The reply copies the flags.
// - A MAC allow / deny filter on chaddr (and on the Ethernet source when not relayed), the
//   troubleshooting guide's "DHCP server has ... firewall policy regarding MAC addresses"
//   ([TS], "Check IP addresses"): a refused client gets no answer at all, only the
//   mac_filtered counter.
// Every message received is counted by type, every reply by type, every message not
// answered under a named reason (dhcp_drop). Clients are identified by chaddr (Ethernet,
// hlen 6); option 61 (client identifier) is not used as the key.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
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
#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/services/dhcp_leases.hpp>
#include <vnet/wire/dhcp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/udp.hpp>
#include <vnet/wire/vlan.hpp>

namespace vnet::svc {

using vnet::to_string;

/// off: every client; allow: only the listed MACs; deny: every MAC but the listed ones.
enum class dhcp_mac_filter : std::uint8_t { off, allow, deny };

/// A static address for one MAC (and optionally its host name, option 12).
struct dhcp_reservation {
    mac_address mac{};
    ipv4_address address{};
    std::string host_name;
    friend bool operator==(const dhcp_reservation&, const dhcp_reservation&) = default;
};

struct dhcp_server_config {
    ipv4_prefix subnet{};                              // the served network: option 1 (mask) and 28 (broadcast)
    ipv4_address server_address{};                     // option 54 and the source of every reply; inside subnet
    mac_address server_mac{};                          // the source of reply frames
    ipv4_address range_first{}, range_last{};          // the dynamic pool, inside subnet
    std::vector<ipv4_address> routers;                 // option 3
    std::vector<ipv4_address> dns_servers;             // option 6
    std::string domain_name;                           // option 15
    std::vector<std::string> domain_search;            // option 119
    std::optional<std::uint16_t> interface_mtu;        // option 26
    std::vector<wire::classless_route> static_routes;  // option 121 (sent when not empty)
    std::chrono::seconds lease_time{86400};            // option 51
    std::chrono::seconds min_lease_time{60};           // floor for a client's lease time request
    std::chrono::seconds offer_hold{60};               // an offered address stays reserved this long
    std::chrono::seconds conflict_hold{3600};          // a declined address is not offered this long
    bool authoritative = false;                        // answer INIT-REBOOT / REBINDING of clients without a record
    std::vector<dhcp_reservation> reservations;
    dhcp_mac_filter mac_filter = dhcp_mac_filter::off;
    std::vector<mac_address> mac_filter_list;
};

/// Why a message got no reply (RELEASE and DECLINE are answered by nobody: they are
/// "absorbed", not dropped, when the server acted on them).
enum class dhcp_drop : std::uint8_t {
    malformed,         // not a DHCP message, or a malformed option the server needs
    not_request,       // op is BOOTREPLY (a server's message)
    not_dhcp,          // no option 53: plain BOOTP, which this server does not answer
    bad_hardware,      // htype / hlen are not Ethernet / 6
    bad_message_type,  // OFFER, ACK, NAK or an unknown type sent to the server
    mac_filtered,      // the MAC filter refused the client
    pool_exhausted,    // DISCOVER with no free address
    not_our_server,    // DECLINE / RELEASE naming another server's identifier
    bad_request,       // REQUEST with neither option 50 nor ciaddr, DECLINE without option 50
    no_binding,        // INIT-REBOOT / RENEWING / REBINDING of an unknown client (non-authoritative)
    unknown_lease,     // RELEASE / DECLINE of an address the client does not hold
    foreign_relay,     // relayed from a giaddr outside the served subnet
    not_server_frame,  // frame layer: not IPv4 / UDP to port 67 for this server
    bad_frame,         // frame layer: truncated or malformed Ethernet / IPv4 / UDP
    bad_checksum,      // frame layer: IPv4 header or UDP checksum does not verify
    fragment,          // frame layer: an IPv4 fragment
    buffer_too_small,  // frame layer: the caller's buffer cannot hold the reply frame
    count_
};

inline constexpr std::size_t dhcp_drop_count = static_cast<std::size_t>(dhcp_drop::count_);

inline constexpr enum_name<dhcp_drop> dhcp_drop_names[] = {
    {dhcp_drop::malformed, "malformed"},
    {dhcp_drop::not_request, "not_request"},
    {dhcp_drop::not_dhcp, "not_dhcp"},
    {dhcp_drop::bad_hardware, "bad_hardware"},
    {dhcp_drop::bad_message_type, "bad_message_type"},
    {dhcp_drop::mac_filtered, "mac_filtered"},
    {dhcp_drop::pool_exhausted, "pool_exhausted"},
    {dhcp_drop::not_our_server, "not_our_server"},
    {dhcp_drop::bad_request, "bad_request"},
    {dhcp_drop::no_binding, "no_binding"},
    {dhcp_drop::unknown_lease, "unknown_lease"},
    {dhcp_drop::foreign_relay, "foreign_relay"},
    {dhcp_drop::not_server_frame, "not_server_frame"},
    {dhcp_drop::bad_frame, "bad_frame"},
    {dhcp_drop::bad_checksum, "bad_checksum"},
    {dhcp_drop::fragment, "fragment"},
    {dhcp_drop::buffer_too_small, "buffer_too_small"},
};
constexpr std::span<const enum_name<dhcp_drop>> enum_names(dhcp_drop) noexcept { return dhcp_drop_names; }

enum class dhcp_outcome : std::uint8_t {
    replied,   // a reply was built (and, in the frame layer, written)
    absorbed,  // acted on without a reply: RELEASE, DECLINE, REQUEST for another server
    dropped,   // ignored; the reason is in dhcp_result::drop
};

struct dhcp_result {
    dhcp_outcome outcome = dhcp_outcome::dropped;
    dhcp_drop drop = dhcp_drop::count_;  // count_ unless dropped
    constexpr explicit operator bool() const noexcept { return outcome == dhcp_outcome::replied; }
};

/// How the reply travels (RFC 2131 section 4.1).
enum class dhcp_delivery : std::uint8_t {
    broadcast,  // 255.255.255.255 and ff:ff:ff:ff:ff:ff, port 68
    unicast,    // to ciaddr or yiaddr and chaddr, port 68
    relay,      // to giaddr, port 67, and the relay's MAC (the frame's source)
};

inline constexpr enum_name<dhcp_delivery> dhcp_delivery_names[] = {
    {dhcp_delivery::broadcast, "broadcast"},
    {dhcp_delivery::unicast, "unicast"},
    {dhcp_delivery::relay, "relay"},
};
constexpr std::span<const enum_name<dhcp_delivery>> enum_names(dhcp_delivery) noexcept { return dhcp_delivery_names; }

/// What the server needs to know about the frame a message came in.
struct dhcp_ingress {
    mac_address src_mac{};                            // Ethernet source (the client, or the relay)
    ipv4_address src_ip{};                            // 0.0.0.0 from a client without an address
    ipv4_address dst_ip = ipv4_address::broadcast();  // the server's address: a unicast RENEWING request
};

struct dhcp_reply {
    wire::dhcp_repr message;
    dhcp_delivery delivery = dhcp_delivery::broadcast;
    ipv4_address dst_ip = ipv4_address::broadcast();
    mac_address dst_mac = mac_address::broadcast();
    std::uint16_t dst_port = wire::dhcp_port::client;
};

/// The result of handle_frame: what happened, and the reply frame's length in the
/// caller's buffer (0 when there is none).
struct dhcp_frame_result {
    dhcp_result result{};
    std::size_t length = 0;
    constexpr explicit operator bool() const noexcept { return length != 0; }
};

struct dhcp_counters {
    std::array<std::uint64_t, 9> received{};                                    // by message type 1-8 (index 0 unused)
    std::array<std::uint64_t, 9> sent{};                                        // OFFER, ACK, NAK by message type
    std::uint64_t selecting = 0, init_reboot = 0, renewing = 0, rebinding = 0;  // REQUEST states
    std::uint64_t offers_withdrawn = 0;  // SELECTING REQUEST naming another server: our offer ended
    std::uint64_t conflicts = 0;         // addresses declined (put on hold)
    std::uint64_t released = 0;          // bindings ended by RELEASE
    std::uint64_t expired = 0;           // bindings ended by time (counted by expire())
    std::uint64_t trimmed_replies = 0;   // replies that lost options to fit the size limit
    std::array<std::uint64_t, dhcp_drop_count> drops{};

    constexpr std::uint64_t received_of(wire::dhcp_message_type t) const noexcept {
        return received[static_cast<std::size_t>(t)];
    }
    constexpr std::uint64_t sent_of(wire::dhcp_message_type t) const noexcept { return sent[static_cast<std::size_t>(t)]; }
    constexpr std::uint64_t drop(dhcp_drop d) const noexcept { return drops[static_cast<std::size_t>(d)]; }
    constexpr void count_drop(dhcp_drop d) noexcept { ++drops[static_cast<std::size_t>(d)]; }
    constexpr std::uint64_t total_drops() const noexcept {
        std::uint64_t n = 0;
        for (auto d : drops) n += d;
        return n;
    }
};

class dhcp_server {
public:
    /// The largest reply frame: Ethernet with two tags, IPv4, UDP and a 1500-octet datagram.
    static constexpr std::size_t max_frame_len = wire::ethernet_view::header_len + 2 * wire::vlan_tag::size + 1500;
    /// RFC 2131 section 2: a client accepts 576 octets of IP, i.e. 312 octets of options.
    static constexpr std::size_t default_max_message = 576 - 20 - 8;

    /// Checks the configuration: subnet /1 to /30, server address, range and reservations
    /// inside it, a range of at most 65536 addresses, unique reservations, times from 1 s
    /// (conflict hold from 0 s) to 2^32 - 1 s.
    static result<dhcp_server> make(dhcp_server_config c) {
        const auto& s = c.subnet;
        auto bad = [](std::string_view field) { return fail(layer::service, errc::bad_value, field); };
        if (s.length() == 0 || s.length() > 30) return bad("dhcp.subnet");
        c.subnet = s.canonical();
        if (!s.contains(c.server_address) || s.is_network_or_broadcast(c.server_address)) return bad("dhcp.server_address");
        if (!s.contains(c.range_first) || !s.contains(c.range_last) || c.range_last < c.range_first ||
            s.is_network_or_broadcast(c.range_first) || s.is_network_or_broadcast(c.range_last))
            return bad("dhcp.range");
        if (c.range_last.to_u32() - c.range_first.to_u32() >= 65536) return fail(layer::service, errc::too_long, "dhcp.range");
        if (c.lease_time < std::chrono::seconds(1) || c.min_lease_time < std::chrono::seconds(1) ||
            c.lease_time.count() > 0xfffffffeLL)
            return bad("dhcp.lease_time");
        constexpr std::chrono::seconds longest(0xffffffffLL);  // 136 years: now + hold stays representable
        if (c.offer_hold < std::chrono::seconds(1) || c.offer_hold > longest) return bad("dhcp.offer_hold");
        if (c.conflict_hold < std::chrono::seconds(0) || c.conflict_hold > longest) return bad("dhcp.conflict_hold");
        if (c.interface_mtu && *c.interface_mtu < 68) return bad("dhcp.interface_mtu");
        if (!c.domain_search.empty() && !wire::dhcp_repr::encode_domain_search(c.domain_search)) return bad("dhcp.domain_search");
        for (const auto& r : c.static_routes)
            if (r.destination.length() > 32) return bad("dhcp.static_routes");
        for (std::size_t i = 0; i < c.reservations.size(); ++i) {
            const auto& r = c.reservations[i];
            if (!s.contains(r.address) || s.is_network_or_broadcast(r.address) || r.address == c.server_address)
                return bad("dhcp.reservation");
            for (std::size_t j = 0; j < i; ++j)
                if (c.reservations[j].mac == r.mac || c.reservations[j].address == r.address)
                    return fail(layer::service, errc::conflict, "dhcp.reservation");
        }
        std::sort(c.mac_filter_list.begin(), c.mac_filter_list.end());
        if (mutant::on(mutant::id::dhcp_wrong_gateway) && !c.routers.empty())
            c.routers.front() = ipv4_address(c.routers.front().to_u32() + 100);
        if (mutant::on(mutant::id::dhcp_no_dns)) c.dns_servers.clear();
        return dhcp_server(std::move(c));
    }

    const dhcp_server_config& config() const noexcept { return cfg_; }
    const dhcp_counters& counters() const noexcept { return counters_; }
    const dhcp_lease_table& leases() const noexcept { return leases_; }
    /// The client's lease record (any state but conflict), or null.
    const dhcp_lease* lease_of(const mac_address& m) const noexcept { return leases_.find(m); }
    /// The address's record, or null.
    const dhcp_lease* lease_at(ipv4_address a) const noexcept { return leases_.find(a); }

    /// Whether the MAC filter lets the client in.
    bool allowed(const mac_address& m) const noexcept {
        if (cfg_.mac_filter == dhcp_mac_filter::off || mutant::on(mutant::id::dhcp_ignores_mac_filter)) return true;
        const bool listed = std::binary_search(cfg_.mac_filter_list.begin(), cfg_.mac_filter_list.end(), m);
        return cfg_.mac_filter == dhcp_mac_filter::allow ? listed : !listed;
    }

    /// Ends bindings and offers whose time has passed (kept as released records, so the
    /// client gets the address back) and conflict holds that are over. Returns how many.
    std::size_t expire(dhcp_time now) {
        std::vector<ipv4_address> ended_holds;
        std::size_t n = 0;
        leases_.for_each([&](const dhcp_lease& l) {
            if (l.state == dhcp_lease_state::conflict && !l.held(now)) ended_holds.push_back(l.address);
        });
        for (auto a : ended_holds) leases_.erase(a);
        n += ended_holds.size();
        std::vector<ipv4_address> ended;
        leases_.for_each([&](const dhcp_lease& l) {
            if ((l.state == dhcp_lease_state::offered || l.state == dhcp_lease_state::bound) && !l.active(now))
                ended.push_back(l.address);
        });
        for (auto a : ended)
            if (auto* l = leases_.find(a)) {
                if (l->state == dhcp_lease_state::bound) ++counters_.expired;
                l->state = dhcp_lease_state::released;
            }
        return n + ended.size();
    }

    /// The lease table in the lease file format (dhcp_leases.hpp).
    std::string save_leases() const { return leases_.save(); }
    /// Replaces the lease table with a saved one; addresses outside the subnet are errors.
    /// On error the table is unchanged.
    expected<std::size_t, dhcp_lease_file_error> load_leases(std::string_view text) {
        auto t = dhcp_lease_table::load(text, cfg_.subnet);
        if (!t) return unexpected(t.error());
        leases_ = std::move(*t);
        return leases_.size();
    }

    /// Handles one client message. On dhcp_outcome::replied, `out` holds the reply and its
    /// destination. `out` is reused storage: pass the same object to avoid allocations.
    dhcp_result handle(const wire::dhcp_view& msg, const dhcp_ingress& in, dhcp_time now, dhcp_reply& out) {
        using mt = wire::dhcp_message_type;
        if (mutant::on(mutant::id::dhcp_silent)) return dropped(dhcp_drop::not_server_frame);
        if (msg.op() != wire::bootp_op::request) return dropped(dhcp_drop::not_request);
        const auto type = msg.message_type();
        if (!type) return dropped(type.error().what == errc::not_found ? dhcp_drop::not_dhcp : dhcp_drop::malformed);
        const auto t = static_cast<std::uint8_t>(*type);
        if (t < 1 || t > 8) return dropped(dhcp_drop::bad_message_type);
        ++counters_.received[t];
        const auto mac = msg.client_mac();
        if (!mac) return dropped(dhcp_drop::bad_hardware);
        const bool relayed = !msg.giaddr().is_unspecified();
        if (!allowed(*mac) || (!relayed && !allowed(in.src_mac))) return dropped(dhcp_drop::mac_filtered);
        if (relayed && !cfg_.subnet.contains(msg.giaddr())) return dropped(dhcp_drop::foreign_relay);

        client_message c;
        c.mac = *mac;
        if (auto e = read_options(msg, c); e != dhcp_drop::count_) return dropped(e);
        switch (*type) {
            case mt::discover: return discover(msg, in, c, now, out);
            case mt::request: return request(msg, in, c, now, out);
            case mt::decline: return decline(c, now);
            case mt::release: return release(msg, c, now);
            case mt::inform: return inform(msg, in, c, out);
            case mt::offer:
            case mt::ack:
            case mt::nak: break;
        }
        return dropped(dhcp_drop::bad_message_type);
    }

    /// Convenience: the reply as a value, or nullopt when there is none.
    std::optional<dhcp_reply> handle(const wire::dhcp_view& msg, const dhcp_ingress& in, dhcp_time now) {
        dhcp_reply r;
        if (handle(msg, in, now, r)) return r;
        return std::nullopt;
    }

    /// Handles one Ethernet frame (802.1Q / QinQ tags allowed) holding IPv4 / UDP to port 67
    /// for this server (to 255.255.255.255 or the server address) and writes the reply frame
    /// into out: same tags, Ethernet + IPv4 + UDP with checksums. out should hold
    /// max_frame_len octets.
    dhcp_frame_result handle_frame(bytes_view frame, dhcp_time now, bytes_span out) {
        dhcp_frame_result fr;
        auto drop = [&](dhcp_drop d) {
            fr.result = dropped(d);
            return fr;
        };
        auto eth = wire::frame_view::parse(frame);
        if (!eth) return drop(dhcp_drop::bad_frame);
        if (eth->ethertype() != wire::ethertype::ipv4) return drop(dhcp_drop::not_server_frame);
        auto ip = wire::ipv4_view::parse(eth->payload());
        if (!ip) return drop(dhcp_drop::bad_frame);
        if (ip->protocol() != wire::udp_view::ip_protocol) return drop(dhcp_drop::not_server_frame);
        if (ip->dst() != cfg_.server_address && !ip->dst().is_broadcast() && ip->dst() != cfg_.subnet.broadcast())
            return drop(dhcp_drop::not_server_frame);
        if (!ip->checksum_ok()) return drop(dhcp_drop::bad_checksum);
        if (ip->is_fragment()) return drop(dhcp_drop::fragment);
        auto udp = wire::udp_view::parse(ip->payload());
        if (!udp) return drop(dhcp_drop::bad_frame);
        if (udp->dst_port() != wire::dhcp_port::server) return drop(dhcp_drop::not_server_frame);
        if (!udp->checksum_ok(ip->src(), ip->dst())) return drop(dhcp_drop::bad_checksum);
        auto msg = wire::dhcp_view::parse(udp->payload());
        if (!msg) return drop(dhcp_drop::malformed);

        fr.result = handle(*msg, dhcp_ingress{eth->src(), ip->src(), ip->dst()}, now, scratch_);
        if (!fr.result) return fr;
        auto n = emit_frame(*eth, scratch_, out);
        if (!n) {
            counters_.count_drop(dhcp_drop::buffer_too_small);
            fr.result = dhcp_result{dhcp_outcome::dropped, dhcp_drop::buffer_too_small};
            return fr;
        }
        fr.length = *n;
        return fr;
    }

    /// Writes reply as a frame from this server: Ethernet (with `like`'s VLAN tags), IPv4
    /// from the server address, UDP 67 -> reply.dst_port. Returns the frame length.
    result<std::size_t> emit_frame(const wire::frame_view& like, const dhcp_reply& reply, bytes_span out) {
        const std::size_t l2 = wire::ethernet_view::header_len + like.tag_count() * wire::vlan_tag::size;
        const std::size_t l3 = l2 + wire::ipv4_view::header_len_min;
        const std::size_t l4 = l3 + wire::udp_view::header_len;
        if (out.size() < l4) return fail(layer::service, errc::buffer_too_small, "dhcp.frame");
        auto n = reply.message.emit(out.subspan(l4));
        if (!n) return unexpected(n.error());
        reply.dst_mac.store(out, wire::ethernet_view::field::dst);
        cfg_.server_mac.store(out, wire::ethernet_view::field::src);
        std::size_t off = wire::ethernet_view::field::ethertype;
        for (std::size_t i = 0; i < like.tag_count(); ++i) {
            like.tag(i).store(out, off);
            off += wire::vlan_tag::size;
        }
        store_be16(out, off, wire::ethertype::ipv4);
        const wire::udp_repr udp{wire::dhcp_port::server, reply.dst_port, *n};
        auto u = udp.emit(out.subspan(l3), bytes_view(out.subspan(l4, *n)), cfg_.server_address, reply.dst_ip);
        if (!u) return unexpected(u.error());
        wire::ipv4_repr ip;
        ip.src = cfg_.server_address;
        ip.dst = reply.dst_ip;
        ip.protocol = wire::udp_view::ip_protocol;
        ip.ttl = 64;
        ip.identification = ip_id_++;
        ip.payload_len = *u;
        auto h = ip.emit(out.subspan(l2));
        if (!h) return unexpected(h.error());
        return l3 + *u;
    }

private:
    explicit dhcp_server(dhcp_server_config c) : cfg_(std::move(c)) {
        for (const auto& r : cfg_.reservations) {
            reserved_by_mac_.emplace_back(r.mac.to_u64(), r.address.to_u32());
            reserved_by_addr_.emplace_back(r.address.to_u32(), r.mac.to_u64());
        }
        std::sort(reserved_by_mac_.begin(), reserved_by_mac_.end());
        std::sort(reserved_by_addr_.begin(), reserved_by_addr_.end());
        routes_ = cfg_.static_routes;
        if (!routes_.empty() && !cfg_.routers.empty() &&
            std::none_of(routes_.begin(), routes_.end(), [](const auto& r) { return r.destination.length() == 0; }))
            routes_.push_back({ipv4_prefix(ipv4_address::any(), 0), cfg_.routers.front()});
    }

    /// What handle() reads from a client message once.
    struct client_message {
        mac_address mac{};
        std::optional<ipv4_address> requested, server_id;
        std::optional<std::uint32_t> lease_time;
        std::optional<std::uint16_t> max_message;
        std::array<char, 255> host_buf{};
        std::size_t host_len = 0;
        std::array<std::uint8_t, 255> prl{};  // parameter request list, first occurrence of each code
        std::size_t prl_len = 0;
        std::string_view host_name() const noexcept { return {host_buf.data(), host_len}; }
    };

    dhcp_result dropped(dhcp_drop d) noexcept {
        counters_.count_drop(d);
        return {dhcp_outcome::dropped, d};
    }
    static constexpr dhcp_result absorbed() noexcept { return {dhcp_outcome::absorbed, dhcp_drop::count_}; }

    /// Optional fields: absent is fine, malformed is `malformed` (only for the ones acted on).
    static dhcp_drop read_options(const wire::dhcp_view& msg, client_message& c) {
        auto opt_addr = [](result<ipv4_address> r, std::optional<ipv4_address>& dst) {
            if (r) dst = *r;
            return r || r.error().what == errc::not_found;
        };
        if (!opt_addr(msg.requested_address(), c.requested)) return dhcp_drop::malformed;
        if (!opt_addr(msg.server_identifier(), c.server_id)) return dhcp_drop::malformed;
        if (auto lt = msg.lease_time()) c.lease_time = *lt;
        if (auto mm = msg.max_message_size()) c.max_message = *mm;
        // Host name: the first instance, at most 255 octets (a longer concatenation is ignored).
        if (auto h = msg.option(wire::dhcp_option_code::host_name); h && !h->empty()) {
            c.host_len = std::min(h->size(), c.host_buf.size());
            for (std::size_t i = 0; i < c.host_len; ++i) c.host_buf[i] = static_cast<char>((*h)[i]);
        }
        std::array<bool, 256> seen{};
        msg.for_each_instance(wire::dhcp_option_code::parameter_request_list, [&](bytes_view d) {
            for (std::byte b : d) {
                const auto code = u8(b);
                if (seen[code] || c.prl_len == c.prl.size()) continue;
                seen[code] = true;
                c.prl[c.prl_len++] = code;
            }
        });
        return dhcp_drop::count_;
    }

    // ---- the pool ----

    std::optional<ipv4_address> reservation_of(const mac_address& m) const noexcept {
        auto it = std::lower_bound(reserved_by_mac_.begin(), reserved_by_mac_.end(),
                                   std::pair<std::uint64_t, std::uint32_t>{m.to_u64(), 0});
        if (it == reserved_by_mac_.end() || it->first != m.to_u64()) return std::nullopt;
        return ipv4_address(it->second);
    }
    std::optional<std::uint64_t> reserved_for(ipv4_address a) const noexcept {
        auto it = std::lower_bound(reserved_by_addr_.begin(), reserved_by_addr_.end(),
                                   std::pair<std::uint32_t, std::uint64_t>{a.to_u32(), 0});
        if (it == reserved_by_addr_.end() || it->first != a.to_u32()) return std::nullopt;
        return it->second;
    }
    /// Addresses never handed out dynamically: network, broadcast, the server, routers, DNS servers.
    bool excluded(ipv4_address a) const noexcept {
        if (!cfg_.subnet.contains(a) || cfg_.subnet.is_network_or_broadcast(a) || a == cfg_.server_address) return true;
        return std::find(cfg_.routers.begin(), cfg_.routers.end(), a) != cfg_.routers.end() ||
               std::find(cfg_.dns_servers.begin(), cfg_.dns_servers.end(), a) != cfg_.dns_servers.end();
    }
    bool in_range(ipv4_address a) const noexcept { return a >= cfg_.range_first && a <= cfg_.range_last; }

    /// Whether the client may have the address now: its reservation, or a free address of
    /// the range not reserved for anyone, not held by another client, not in conflict.
    bool available_for(const mac_address& m, ipv4_address a, dhcp_time now) const noexcept {
        if (auto r = reserved_for(a)) {
            if (*r != m.to_u64()) return false;
        } else if (!in_range(a) || excluded(a)) {
            return false;
        }
        const dhcp_lease* l = leases_.find(a);
        if (!l) return true;
        if (l->held(now)) return false;
        if (l->state == dhcp_lease_state::conflict) return true;  // hold over
        return l->mac == m || !l->active(now);
    }

    /// RFC 2131 section 4.3.1 address choice (order in the header comment).
    std::optional<ipv4_address> choose(const client_message& c, dhcp_time now) {
        if (auto r = reservation_of(c.mac)) {
            if (available_for(c.mac, *r, now)) return *r;
            return std::nullopt;
        }
        if (c.requested && available_for(c.mac, *c.requested, now)) return *c.requested;
        if (const auto* l = leases_.find(c.mac); l && available_for(c.mac, l->address, now)) return l->address;
        if (mutant::on(mutant::id::dhcp_outside_range)) return ipv4_address(cfg_.range_last.to_u32() + 1);
        const std::uint32_t first = cfg_.range_first.to_u32();
        const std::uint32_t n = cfg_.range_last.to_u32() - first + 1;
        std::optional<ipv4_address> reuse;
        dhcp_time reuse_since = dhcp_time::max();
        for (std::uint32_t i = 0; i < n; ++i) {
            const std::uint32_t off = (cursor_ + i) % n;
            const ipv4_address a(first + off);
            if (excluded(a) || reserved_for(a)) continue;
            const dhcp_lease* l = leases_.find(a);
            if (!l) {
                cursor_ = (off + 1) % n;
                return a;
            }
            if (l->active(now) || l->held(now)) continue;
            if (l->expires < reuse_since) {
                reuse = a;
                reuse_since = l->expires;
            }
        }
        return reuse;
    }

    std::uint32_t lease_seconds(const client_message& c) const noexcept {
        auto secs = static_cast<std::uint32_t>(cfg_.lease_time.count());
        if (c.lease_time) {
            const auto floor = static_cast<std::uint32_t>(std::min<std::int64_t>(cfg_.min_lease_time.count(), secs));
            secs = std::min(secs, std::max(*c.lease_time, floor));
        }
        return secs;
    }

    void set_host_name(dhcp_lease& l, const client_message& c) const {
        if (auto it = std::find_if(cfg_.reservations.begin(), cfg_.reservations.end(),
                                   [&](const auto& r) { return r.mac == c.mac; });
            it != cfg_.reservations.end() && !it->host_name.empty())
            l.host_name = it->host_name;
        else if (c.host_len != 0) l.host_name.assign(c.host_name());
    }

    // ---- messages ----

    dhcp_result discover(const wire::dhcp_view& msg, const dhcp_ingress& in, const client_message& c, dhcp_time now,
                         dhcp_reply& out) {
        const auto a = choose(c, now);
        if (!a) return dropped(dhcp_drop::pool_exhausted);
        const std::uint32_t secs = lease_seconds(c);
        dhcp_lease* l = leases_.find(*a);
        if (!(l && l->mac == c.mac && l->state == dhcp_lease_state::bound && l->active(now))) {
            dhcp_lease fresh;
            fresh.address = *a;
            fresh.mac = c.mac;
            fresh.state = dhcp_lease_state::offered;
            fresh.expires = now + cfg_.offer_hold;
            l = &leases_.put(std::move(fresh));
        }
        set_host_name(*l, c);
        begin_reply(msg, c, wire::dhcp_message_type::offer, out.message);
        out.message.yiaddr = *a;
        add_configuration(out.message, l->host_name, secs);
        finish_reply(c, out.message);
        deliver(msg, in, false, out);
        return replied(wire::dhcp_message_type::offer);
    }

    dhcp_result request(const wire::dhcp_view& msg, const dhcp_ingress& in, const client_message& c, dhcp_time now,
                        dhcp_reply& out) {
        const ipv4_address ciaddr = msg.ciaddr();
        if (c.server_id) {  // SELECTING
            ++counters_.selecting;
            if (*c.server_id != cfg_.server_address) {
                if (auto* l = leases_.find(c.mac); l && l->state == dhcp_lease_state::offered) {
                    l->state = dhcp_lease_state::released;
                    l->expires = now;
                    ++counters_.offers_withdrawn;
                }
                return absorbed();
            }
            const ipv4_address a = c.requested ? *c.requested : ciaddr;
            if (a.is_unspecified()) return dropped(dhcp_drop::bad_request);
            if (!available_for(c.mac, a, now)) return nak(msg, in, c, "requested address not available", out);
            return ack(msg, in, c, a, now, out);
        }
        ipv4_address a;
        if (c.requested && ciaddr.is_unspecified()) {  // INIT-REBOOT
            ++counters_.init_reboot;
            a = *c.requested;
        } else if (!ciaddr.is_unspecified()) {  // RENEWING (unicast) or REBINDING (broadcast)
            ++(in.dst_ip == cfg_.server_address ? counters_.renewing : counters_.rebinding);
            a = ciaddr;
        } else {
            return dropped(dhcp_drop::bad_request);
        }
        if (!cfg_.subnet.contains(a)) return nak(msg, in, c, "wrong network", out);
        const dhcp_lease* l = leases_.find(c.mac);
        const auto reserved = reservation_of(c.mac);
        if (reserved) {
            if (a != *reserved || !available_for(c.mac, a, now)) return nak(msg, in, c, "requested address not available", out);
        } else if (l) {
            if (l->address != a || !available_for(c.mac, a, now)) return nak(msg, in, c, "requested address not available", out);
        } else if (!cfg_.authoritative) {
            return dropped(dhcp_drop::no_binding);
        } else if (!available_for(c.mac, a, now)) {
            return nak(msg, in, c, "requested address not available", out);
        }
        return ack(msg, in, c, a, now, out);
    }

    dhcp_result ack(const wire::dhcp_view& msg, const dhcp_ingress& in, const client_message& c, ipv4_address a, dhcp_time now,
                    dhcp_reply& out) {
        const std::uint32_t secs = lease_seconds(c);
        dhcp_lease bound;
        bound.address = a;
        bound.mac = c.mac;
        bound.state = dhcp_lease_state::bound;
        bound.expires = now + std::chrono::seconds(secs);
        if (const auto* prev = leases_.find(a); prev && prev->mac == c.mac) bound.host_name = prev->host_name;
        set_host_name(bound, c);
        dhcp_lease& l = leases_.put(std::move(bound));
        begin_reply(msg, c, wire::dhcp_message_type::ack, out.message);
        out.message.ciaddr = msg.ciaddr();
        out.message.yiaddr = a;
        add_configuration(out.message, l.host_name, secs);
        finish_reply(c, out.message);
        deliver(msg, in, false, out);
        return replied(wire::dhcp_message_type::ack);
    }

    dhcp_result nak(const wire::dhcp_view& msg, const dhcp_ingress& in, const client_message& c, std::string_view why,
                    dhcp_reply& out) {
        auto& r = out.message;
        begin_reply(msg, c, wire::dhcp_message_type::nak, r);
        r.server_identifier = cfg_.server_address;
        r.message.assign(why);
        deliver(msg, in, true, out);
        return replied(wire::dhcp_message_type::nak);
    }

    dhcp_result decline(const client_message& c, dhcp_time now) {
        if (c.server_id && *c.server_id != cfg_.server_address) return dropped(dhcp_drop::not_our_server);
        if (!c.requested) return dropped(dhcp_drop::bad_request);
        const dhcp_lease* l = leases_.find(*c.requested);
        if (!l || l->mac != c.mac || l->state == dhcp_lease_state::conflict) return dropped(dhcp_drop::unknown_lease);
        leases_.mark_conflict(*c.requested, now + cfg_.conflict_hold);
        ++counters_.conflicts;
        return absorbed();
    }

    dhcp_result release(const wire::dhcp_view& msg, const client_message& c, dhcp_time now) {
        if (c.server_id && *c.server_id != cfg_.server_address) return dropped(dhcp_drop::not_our_server);
        dhcp_lease* l = leases_.find(msg.ciaddr());
        if (!l || l->mac != c.mac || (l->state != dhcp_lease_state::bound && l->state != dhcp_lease_state::offered))
            return dropped(dhcp_drop::unknown_lease);
        l->state = dhcp_lease_state::released;
        l->expires = now;
        ++counters_.released;
        return absorbed();
    }

    dhcp_result inform(const wire::dhcp_view& msg, const dhcp_ingress& in, const client_message& c, dhcp_reply& out) {
        begin_reply(msg, c, wire::dhcp_message_type::ack, out.message);
        out.message.ciaddr = msg.ciaddr();
        std::string_view host;
        if (auto it = std::find_if(cfg_.reservations.begin(), cfg_.reservations.end(),
                                   [&](const auto& r) { return r.mac == c.mac; });
            it != cfg_.reservations.end() && !it->host_name.empty())
            host = it->host_name;
        else host = c.host_name();
        add_configuration(out.message, host, std::nullopt);
        finish_reply(c, out.message);
        deliver(msg, in, false, out);
        return replied(wire::dhcp_message_type::ack);
    }

    dhcp_result replied(wire::dhcp_message_type t) noexcept {
        ++counters_.sent[static_cast<std::size_t>(t)];
        return {dhcp_outcome::replied, dhcp_drop::count_};
    }

    // ---- reply building (RFC 2131 section 4.3.1, table 3) ----

    /// Resets r (keeping its storage) to a reply header for msg.
    static void begin_reply(const wire::dhcp_view& msg, const client_message& c, wire::dhcp_message_type t, wire::dhcp_repr& r) {
        r.op = wire::bootp_op::reply;
        r.htype = msg.htype();
        r.hlen = msg.hlen();
        r.hops = 0;
        r.xid = msg.xid();
        r.secs = 0;
        r.broadcast = msg.broadcast();
        r.ciaddr = r.yiaddr = r.siaddr = ipv4_address{};
        r.giaddr = msg.giaddr();
        for (std::size_t i = 0; i < r.chaddr.size(); ++i) r.chaddr[i] = load_u8(msg.bytes(), wire::dhcp_view::field::chaddr + i);
        r.sname.clear();
        r.file.clear();
        r.magic_cookie = true;
        r.message_type = t;
        r.subnet_mask.reset();
        r.broadcast_address.reset();
        r.requested_address.reset();
        r.server_identifier.reset();
        r.lease_time.reset();
        r.renewal_time.reset();
        r.rebinding_time.reset();
        r.interface_mtu.reset();
        r.max_message_size.reset();
        r.routers.clear();
        r.dns_servers.clear();
        r.host_name.clear();
        r.domain_name.clear();
        r.message.clear();
        r.parameter_request_list.clear();
        r.vendor_class_id.clear();
        r.client_identifier.clear();
        r.domain_search.clear();
        r.classless_static_routes.clear();
        r.extra_options.clear();
        r.option_order.assign(c.prl.begin(), c.prl.begin() + static_cast<std::ptrdiff_t>(c.prl_len));
        r.min_len = wire::dhcp_view::bootp_min_len;
    }

    /// The configured options; lease times when lease_secs is set (not for INFORM).
    void add_configuration(wire::dhcp_repr& r, std::string_view host_name, std::optional<std::uint32_t> lease_secs) const {
        r.server_identifier = cfg_.server_address;
        if (lease_secs) {
            r.lease_time = *lease_secs;
            r.renewal_time = *lease_secs / 2;                                                   // T1 = 0.5 (section 4.4.5)
            r.rebinding_time = static_cast<std::uint32_t>(std::uint64_t{*lease_secs} * 7 / 8);  // T2 = 0.875
        }
        r.subnet_mask = cfg_.subnet.netmask();
        r.broadcast_address = cfg_.subnet.broadcast();
        r.routers.assign(cfg_.routers.begin(), cfg_.routers.end());
        r.dns_servers.assign(cfg_.dns_servers.begin(), cfg_.dns_servers.end());
        r.host_name.assign(host_name);
        r.domain_name.assign(cfg_.domain_name);
        r.interface_mtu = cfg_.interface_mtu;
        r.domain_search.assign(cfg_.domain_search.begin(), cfg_.domain_search.end());
        r.classless_static_routes.assign(routes_.begin(), routes_.end());
    }

    /// Trims options until the reply fits what the client accepts (RFC 2131 section 2,
    /// RFC 2132 section 9.10).
    void finish_reply(const client_message& c, wire::dhcp_repr& r) {
        std::size_t limit = default_max_message;
        if (c.max_message) limit = std::max(limit, std::size_t{std::min<std::uint16_t>(*c.max_message, 1500)} - 28);
        if (r.buffer_len() <= limit) return;
        ++counters_.trimmed_replies;
        if (r.domain_search.clear(); r.buffer_len() <= limit) return;
        if (r.classless_static_routes.clear(); r.buffer_len() <= limit) return;
        if (r.host_name.clear(); r.buffer_len() <= limit) return;
        r.domain_name.clear();
    }

    /// RFC 2131 section 4.1: where the reply goes.
    static void deliver(const wire::dhcp_view& msg, const dhcp_ingress& in, bool is_nak, dhcp_reply& out) {
        if (!msg.giaddr().is_unspecified()) {
            out.delivery = dhcp_delivery::relay;
            out.dst_ip = msg.giaddr();
            out.dst_mac = in.src_mac;
            out.dst_port = wire::dhcp_port::server;
            if (is_nak) out.message.broadcast = true;
            return;
        }
        out.dst_port = wire::dhcp_port::client;
        const auto chaddr = msg.client_mac().value_or(in.src_mac);
        if (is_nak || (msg.ciaddr().is_unspecified() && (msg.broadcast() || out.message.yiaddr.is_unspecified()))) {
            out.delivery = dhcp_delivery::broadcast;
            out.dst_ip = ipv4_address::broadcast();
            out.dst_mac = mac_address::broadcast();
            return;
        }
        out.delivery = dhcp_delivery::unicast;
        out.dst_ip = msg.ciaddr().is_unspecified() ? out.message.yiaddr : msg.ciaddr();
        out.dst_mac = chaddr;
    }

    dhcp_server_config cfg_;
    dhcp_counters counters_{};
    dhcp_lease_table leases_{};
    std::vector<std::pair<std::uint64_t, std::uint32_t>> reserved_by_mac_;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> reserved_by_addr_;
    std::vector<wire::classless_route> routes_;  // option 121 as sent (default route added)
    std::uint32_t cursor_ = 0;                   // next range offset to try for a new address
    std::uint16_t ip_id_ = 0;
    dhcp_reply scratch_{};  // handle_frame's reply storage
};

}  // namespace vnet::svc

/// "received DHCPDISCOVER=2 DHCPREQUEST=2, sent DHCPOFFER=2 DHCPACK=2, requests selecting 2
/// init_reboot 0 renewing 0 rebinding 0, withdrawn 0, conflicts 0, released 0, expired 0,
/// trimmed 0, drops: mac_filtered=1" (only non-zero message and drop counters listed).
template <>
struct fmt::formatter<vnet::svc::dhcp_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::dhcp_counters& c, Ctx& ctx) const {
        using vnet::wire::dhcp_message_type;
        auto out = vnet::format_counters<dhcp_message_type>(fmt::format_to(ctx.out(), "received"), c.received);
        out = vnet::format_counters<dhcp_message_type>(fmt::format_to(out, ", sent"), c.sent);
        out = fmt::format_to(out,
                             ", requests selecting {} init_reboot {} renewing {} rebinding {}, withdrawn {}, "
                             "conflicts {}, released {}, expired {}, trimmed {}, drops:",
                             c.selecting, c.init_reboot, c.renewing, c.rebinding, c.offers_withdrawn, c.conflicts, c.released,
                             c.expired, c.trimmed_replies);
        return vnet::format_counters<vnet::svc::dhcp_drop>(out, c.drops);
    }
};
