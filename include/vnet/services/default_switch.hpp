// vnet/services/default_switch.hpp - the Hyper-V "Default Switch" of Windows client SKUs: an
// internal switch whose host vNIC runs Internet Connection Sharing (ICS): DHCP, NAT to the
// host's uplink and a DNS proxy. EFLOW deploys there when no switch is named ([NW]
// "Networking"; docs/eflow-facts.md "Support matrix").
//
//   std::mt19937_64 rng(seed);
//   auto ds = *default_switch<sw::memory_port, sw::manual_clock>::make(cfg, rng);
//   auto vm = *ds.add_vm("eflow", mac, sw::memory_port{});
//   ds.send(vm, frame);                 // switched; what reaches the host vNIC is served
//   for (auto& p : ds.uplink()) ...     // IPv4 packets from cfg.uplink_address, NATed
//   ds.clear_uplink();
//   ds.on_uplink(packet);               // a packet for cfg.uplink_address back to a VM
//   for (auto& q : ds.dns_upstream()) ...  // DNS queries for the host's DNS servers
//   ds.on_dns_answer(server, payload);  ds.poll();
//
// What it models and the sources:
// - Seed 000 "Virtual switch choices": "The default switch is a particular internal virtual
//   switch ... already has a DHCP Server for IP assignments, Internet Connection Sharing
//   (ICS) enabled, and a NAT table". docs/eflow-facts.md "Hyper-V port and switch features":
//   "an Internal switch with DHCP, ICS NAT and a DNS proxy to the host; VM names resolve as
//   <name>.mshome.net on the host; its range is chosen again at boot or when the physical
//   network changes (static guests then break). Example in [TS]: 172.31.100.171 with mask
//   255.255.240.0 (a /20)."
// - The range: a /20 of 172.16.0.0/12 that overlaps none of the host's other networks nor
//   its uplink address, chosen with an injected random source (choose_ics_range); none
//   free is an error. The host vNIC takes the first host address of the /20, the DHCP pool
//   is the rest of it (the [TS] example address 172.31.100.171/20 lies beyond the first
//   /24). reselect() chooses again (boot, physical network change) and moves every service
//   to the new /20: the gateway, the DHCP server (leases of the old range are gone, so a
//   client's INIT-REBOOT or REBINDING for its old address gets DHCPNAK "wrong network",
//   RFC 2131 section 4.3.2, and it starts over with DHCPDISCOVER), the DNS names, the NAT
//   (its flows are gone). A static guest keeps its old address: its gateway no longer
//   answers ARP and the NAT refuses its packets (not_inside), so it reaches nothing
//   beyond the switch; switching between VMs (layer 2) still works.
// - Static IP is not supported on the Default Switch ([NW] "IP address allocations"
//   table; docs/eflow-facts.md support matrix): nothing here configures a static guest. A
//   guest that sets an address itself gets service only if that address happens to lie
//   inside the current range (and the next reselect() breaks it).
// - Services on the host vNIC port (a switch port whose transport queues frames for the
//   bundle, so the switch never calls back into itself): ARP and ICMP echo for the host
//   address (gateway_responder), DHCP (dhcp_server: router and DNS server = the host
//   address, domain mshome.net; a bound lease with a host name (option 12) registers
//   <host>.mshome.net in the DNS proxy, an ended one removes it), DNS to the host
//   address port 53 over UDP (dns_proxy; upstream queries go to dns_upstream() for the
//   owner to send, answers come back through on_dns_answer()), and NAT: an IPv4 packet a
//   VM sends to the host vNIC MAC for an address outside the /20 is a routed packet: TTL
//   decremented (RFC 1812 section 5.3.1; TTL 1 or 0 is dropped as ttl_expired, no ICMP
//   time exceeded is sent), translated (nat::outbound) and queued for the uplink. A packet
//   from the uplink is translated back (nat::inbound), TTL decremented, and sent into the
//   switch from the host vNIC MAC to the VM's MAC from the neighbor (ARP) table, else
//   from a bound DHCP lease of that address.
// - The ICS NAT is not a WinNAT NetNat (it is not the host's one nat_registry NAT): the
//   bundle owns its own nat instance.
// Every frame the service port does not answer or forward is counted under a named
// reason (default_switch_drop), beside the counters of each service.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/services/dhcp_server.hpp>
#include <vnet/services/dns_proxy.hpp>
#include <vnet/services/gateway.hpp>
#include <vnet/services/nat.hpp>
#include <vnet/switch/clock.hpp>
#include <vnet/switch/kinds.hpp>
#include <vnet/switch/port.hpp>
#include <vnet/switch/vswitch.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/dhcp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/udp.hpp>
#include <vnet/wire/vlan.hpp>

namespace vnet::svc {

using vnet::to_string;

// ---------------------------------------------------------------------------------------
// The range
// ---------------------------------------------------------------------------------------

/// 172.16.0.0/12, where ICS takes the Default Switch's range from.
inline constexpr ipv4_prefix ics_space{ipv4_address(172, 16, 0, 0), 12};
/// The Default Switch's prefix length (docs/eflow-facts.md: mask 255.255.240.0).
inline constexpr std::uint8_t ics_range_length = 20;
/// /20s in 172.16.0.0/12.
inline constexpr std::size_t ics_range_count = std::size_t{1} << (ics_range_length - 12);

/// Anything that returns random 64-bit (or narrower unsigned) values: std::mt19937_64,
/// std::random_device, a test's fixed sequence.
template <class R>
concept random_source = requires(R& r) {
    { r() } -> std::convertible_to<std::uint64_t>;
};

/// The /20s of 172.16.0.0/12 that overlap none of `taken`, ascending.
inline std::vector<ipv4_prefix> free_ics_ranges(std::span<const ipv4_prefix> taken) {
    std::vector<ipv4_prefix> out;
    const std::uint32_t base = ics_space.network().to_u32();
    for (std::size_t i = 0; i < ics_range_count; ++i) {
        const ipv4_prefix p(ipv4_address(base + static_cast<std::uint32_t>(i << (32 - ics_range_length))), ics_range_length);
        if (std::none_of(taken.begin(), taken.end(), [&](const ipv4_prefix& t) { return t.canonical().overlaps(p); }))
            out.push_back(p);
    }
    return out;
}

/// One free /20 picked with rng (one draw, modulo the number of free ranges: the same
/// sequence gives the same range). `avoid` is skipped when another range is free.
template <random_source R>
result<ipv4_prefix> choose_ics_range(std::span<const ipv4_prefix> taken, R& rng,
                                     std::optional<ipv4_prefix> avoid = std::nullopt) {
    auto free = free_ics_ranges(taken);
    if (avoid && free.size() > 1) std::erase(free, avoid->canonical());
    if (free.empty())
        return fail(layer::service, errc::exhausted,
                    "Default Switch range (every /20 of 172.16.0.0/12 overlaps a network of the host)");
    const std::uint64_t x = static_cast<std::uint64_t>(rng());
    return free[static_cast<std::size_t>(x % free.size())];
}

// ---------------------------------------------------------------------------------------
// Configuration, counters
// ---------------------------------------------------------------------------------------

struct default_switch_config {
    std::string name = std::string(sw::default_switch_name);
    mac_address host_mac{0x00, 0x15, 0x5d, 0x00, 0x00, 0x01};  // "vEthernet (Default Switch)"
    std::vector<ipv4_prefix> host_networks;                    // the host's other networks (adapters, vNICs, VPNs)
    ipv4_address uplink_address{};                             // the host's address on its uplink: the NAT's outside
    std::vector<dns_endpoint> dns_upstreams;                   // the host's DNS servers
    std::optional<ipv4_prefix> range;                          // a given /20 instead of a random one (a restored state)
    std::string domain = "mshome.net";
    std::chrono::seconds lease_time{86400};
    bool dhcp_authoritative = true;  // the only DHCP server on its switch: answers clients it has no record of
    std::size_t max_nat_flows = 65536;
    std::uint16_t nat_port_first = 1024;  // the uplink ports (and echo identifiers) the NAT hands out
    std::uint16_t nat_port_last = 65535;
    nat_timeouts timeouts{};
    std::size_t uplink_queue = 1024;   // packets waiting in uplink() before new ones are dropped
    std::size_t dns_queue = 256;       // queries waiting in dns_upstream()
    std::size_t service_queue = 4096;  // frames queued for the services within one send()
    /// Wall-clock time at clock 0: DHCP lease times are wall-clock times (dhcp_leases.hpp).
    std::chrono::system_clock::time_point wall_epoch{};
    std::uint64_t dns_id_seed = 0x646e735f70726f78ULL;  // set secret values (RFC 5452, hash flooding)
    std::uint64_t nat_hash_seed = 0x6e61745f7461626cULL;
};

enum class default_switch_drop : std::uint8_t {
    malformed,              // Ethernet / IPv4 / UDP header cut short or malformed
    not_for_host,           // unicast to another MAC (flooded unknown unicast)
    unsupported_ethertype,  // not ARP, IPv4 or IPv6
    ipv6,                   // IPv6 (ICS here serves IPv4 only)
    broadcast_ignored,      // IPv4 broadcast / multicast that is not DHCP (NetBIOS, mDNS, ...)
    bad_checksum,           // a DNS query's UDP checksum does not verify
    fragment,               // a fragmented UDP datagram to the host address (no reassembly)
    host_port_closed,       // IPv4 to the host address no service takes (TCP, other UDP ports)
    onlink_not_routed,      // to the host MAC for another address of the /20
    not_routable,           // to the host MAC for a broadcast, multicast, loopback or zero address
    ttl_expired,            // a routed packet with TTL 1 or 0
    nat_refused,            // the NAT dropped an outbound packet (reason in its counters)
    uplink_refused,         // the NAT dropped a packet from the uplink (reason in its counters)
    no_neighbor,            // no MAC known for the VM a packet or DNS reply is for
    uplink_queue_full,      // uplink() holds uplink_queue packets
    dns_queue_full,         // dns_upstream() holds dns_queue queries
    service_queue_full,     // more than service_queue frames for the services in one send()
    dns_tcp_client,         // a DNS reply for a TCP client (the bundle takes UDP queries only)
    count_
};

inline constexpr std::size_t default_switch_drop_count = static_cast<std::size_t>(default_switch_drop::count_);

inline constexpr enum_name<default_switch_drop> default_switch_drop_names[] = {
    {default_switch_drop::malformed, "malformed"},
    {default_switch_drop::not_for_host, "not_for_host"},
    {default_switch_drop::unsupported_ethertype, "unsupported_ethertype"},
    {default_switch_drop::ipv6, "ipv6"},
    {default_switch_drop::broadcast_ignored, "broadcast_ignored"},
    {default_switch_drop::bad_checksum, "bad_checksum"},
    {default_switch_drop::fragment, "fragment"},
    {default_switch_drop::host_port_closed, "host_port_closed"},
    {default_switch_drop::onlink_not_routed, "onlink_not_routed"},
    {default_switch_drop::not_routable, "not_routable"},
    {default_switch_drop::ttl_expired, "ttl_expired"},
    {default_switch_drop::nat_refused, "nat_refused"},
    {default_switch_drop::uplink_refused, "uplink_refused"},
    {default_switch_drop::no_neighbor, "no_neighbor"},
    {default_switch_drop::uplink_queue_full, "uplink_queue_full"},
    {default_switch_drop::dns_queue_full, "dns_queue_full"},
    {default_switch_drop::service_queue_full, "service_queue_full"},
    {default_switch_drop::dns_tcp_client, "dns_tcp_client"},
};
constexpr std::span<const enum_name<default_switch_drop>> enum_names(default_switch_drop) noexcept {
    return default_switch_drop_names;
}

struct default_switch_counters {
    std::uint64_t frames_in = 0;         // frames the host vNIC port received from the switch
    std::uint64_t frames_out = 0;        // frames the services sent into the switch
    std::uint64_t arp = 0;               // ARP frames given to the gateway responder
    std::uint64_t dhcp = 0;              // DHCP frames given to the DHCP server
    std::uint64_t dns_queries = 0;       // UDP queries given to the DNS proxy
    std::uint64_t dns_replies = 0;       // DNS replies sent to VMs
    std::uint64_t dns_upstream = 0;      // queries queued for upstream servers
    std::uint64_t dns_answers = 0;       // upstream messages given to the proxy
    std::uint64_t host_icmp = 0;         // other IPv4 to the host address given to the gateway responder
    std::uint64_t routed_out = 0;        // packets NATed to the uplink
    std::uint64_t uplink_in = 0;         // packets received from the uplink
    std::uint64_t routed_in = 0;         // of which delivered to a VM
    std::uint64_t hairpinned = 0;        // NAT hairpins delivered back inside
    std::uint64_t names_registered = 0;  // <host>.<domain> names set in the DNS proxy
    std::uint64_t names_removed = 0;
    std::uint64_t names_rejected = 0;  // DHCP host names that are not DNS names
    std::uint64_t range_changes = 0;   // reselect() / move_to() that moved the range
    std::array<std::uint64_t, default_switch_drop_count> drops{};

    constexpr std::uint64_t drop(default_switch_drop d) const noexcept { return drops[static_cast<std::size_t>(d)]; }
    constexpr void count_drop(default_switch_drop d) noexcept { ++drops[static_cast<std::size_t>(d)]; }
    constexpr std::uint64_t total_drops() const noexcept {
        std::uint64_t n = 0;
        for (auto d : drops) n += d;
        return n;
    }
};

/// A DNS name the bundle registered from a DHCP lease.
struct default_switch_name_entry {
    mac_address mac{};
    std::string host;  // without the domain
    ipv4_address address{};
};

// ---------------------------------------------------------------------------------------
// Buffers and the port transport
// ---------------------------------------------------------------------------------------

/// Byte buffers reused from one batch to the next (no allocation once they have grown).
class packet_queue {
public:
    explicit packet_queue(std::size_t capacity = 1024) : capacity_(capacity) {}

    std::size_t size() const noexcept { return n_; }
    bool empty() const noexcept { return n_ == 0; }
    bool full() const noexcept { return n_ >= capacity_; }
    std::size_t capacity() const noexcept { return capacity_; }
    /// The queued packets; valid until the next change of the queue.
    std::span<const std::vector<std::byte>> items() const noexcept { return {slots_.data(), n_}; }
    bytes_view operator[](std::size_t i) const noexcept { return slots_[i]; }
    void clear() noexcept { n_ = 0; }

    /// A writable buffer of n octets behind the queued ones (precondition: !full()); it is
    /// queued by commit().
    bytes_span prepare(std::size_t n) {
        if (n_ == slots_.size()) slots_.emplace_back();
        slots_[n_].resize(n);
        return slots_[n_];
    }
    /// Queues the prepared buffer cut to n octets.
    void commit(std::size_t n) {
        slots_[n_].resize(n);
        ++n_;
    }
    bool push(bytes_view b) {
        if (full()) return false;
        auto s = prepare(b.size());
        store_bytes(s, 0, b);
        commit(b.size());
        return true;
    }

private:
    std::vector<std::vector<std::byte>> slots_;
    std::size_t n_ = 0;
    std::size_t capacity_;
};

namespace detail {
/// Frames the switch delivered to the host vNIC port, waiting for the services.
struct service_inbox {
    packet_queue frames;
    std::uint64_t overflow = 0;
    explicit service_inbox(std::size_t capacity) : frames(capacity) {}
    void take(std::span<const bytes_view> batch) {
        for (auto f : batch)
            if (!frames.push(f)) ++overflow;
    }
};
}  // namespace detail

/// The transport of every port of the bundle's switch: a VM's own transport (Port), or
/// the host vNIC port feeding the services. One branch per batch, no virtual call.
template <sw::frame_sink Port>
class default_switch_port {
public:
    explicit default_switch_port(Port p) : port_(std::move(p)) {}
    explicit default_switch_port(detail::service_inbox* inbox) noexcept : inbox_(inbox) {}

    void receive(std::span<const bytes_view> batch) {
        if (inbox_) inbox_->take(batch);
        else port_->receive(batch);
    }
    bool is_service() const noexcept { return inbox_ != nullptr; }
    /// The VM's transport; null on the host vNIC port.
    Port* port() noexcept { return port_ ? &*port_ : nullptr; }
    const Port* port() const noexcept { return port_ ? &*port_ : nullptr; }

private:
    std::optional<Port> port_;
    detail::service_inbox* inbox_ = nullptr;
};

// ---------------------------------------------------------------------------------------
// The bundle
// ---------------------------------------------------------------------------------------

template <sw::frame_sink Port = sw::memory_port, sw::clock_source Clock = sw::steady_clock_source>
class default_switch {
public:
    using port_type = default_switch_port<Port>;
    using switch_type = sw::vswitch<port_type, Clock>;
    using time_point = std::chrono::steady_clock::time_point;

    /// Creates the Default Switch: the range (cfg.range when given, else a random free /20),
    /// the switch with its host vNIC port and the services.
    template <random_source R>
    static result<default_switch> make(default_switch_config cfg, R& rng, Clock clock = Clock{}) {
        ipv4_prefix range{};
        if (cfg.range) {
            range = cfg.range->canonical();
            if (auto r = check_range(cfg, range); !r) return unexpected(r.error());
        } else {
            auto c = choose_ics_range(taken_by_host(cfg), rng);
            if (!c) return unexpected(c.error());
            range = *c;
        }
        auto net = make_network(cfg, range);
        if (!net) return unexpected(net.error());
        default_switch ds(std::move(cfg), std::move(*net), std::move(clock));
        auto svc = ds.sw_.add_port(sw::port_config::host(fmt::format("vEthernet ({})", ds.cfg_.name), ds.cfg_.host_mac),
                                   port_type(ds.inbox_.get()));
        if (!svc) return unexpected(svc.error());
        ds.service_port_ = *svc;
        return ds;
    }

    default_switch(default_switch&&) noexcept = default;
    default_switch& operator=(default_switch&&) noexcept = default;

    // ---- state ----

    const default_switch_config& config() const noexcept { return cfg_; }
    ipv4_prefix range() const noexcept { return net_->range; }
    ipv4_address host_address() const noexcept { return net_->gateway.address(); }
    const mac_address& host_mac() const noexcept { return cfg_.host_mac; }
    const default_switch_counters& counters() const noexcept { return counters_; }
    const gateway_responder& gateway() const noexcept { return net_->gateway; }
    const dhcp_server& dhcp() const noexcept { return net_->dhcp; }
    const dns_proxy& dns() const noexcept { return net_->dns; }
    const svc::nat& nat() const noexcept { return net_->nat; }
    std::span<const default_switch_name_entry> names() const noexcept { return names_; }
    switch_type& vswitch() noexcept { return sw_; }
    const switch_type& vswitch() const noexcept { return sw_; }
    sw::port_index service_port() const noexcept { return service_port_; }
    Clock& clock() noexcept { return sw_.clock(); }

    // ---- VM ports ----

    /// Connects a VM network adapter (MAC address spoofing off: it sends from mac only).
    result<sw::port_index> add_vm(std::string name, const mac_address& mac, Port p) {
        return sw_.add_port(sw::port_config::vm(std::move(name), mac), port_type(std::move(p)));
    }
    /// Connects a port with a full configuration (role vm).
    result<sw::port_index> add_port(sw::port_config c, Port p) { return sw_.add_port(std::move(c), port_type(std::move(p))); }
    result<void> remove_port(sw::port_index id) {
        if (id == service_port_) return fail(layer::vswitch, errc::conflict, "the host vNIC port of the Default Switch");
        return sw_.remove_port(id);
    }
    /// The VM's transport (precondition: a port added by add_vm / add_port).
    Port& port(sw::port_index id) noexcept { return *sw_.transport(id).port(); }

    // ---- datapath ----

    /// Frames a VM sends: switched, then what reached the host vNIC is served and the
    /// services' replies are switched.
    template <class R>
    requires sw::frame_batch<R>
    void send(sw::port_index from, R&& frames) {
        sw_.send(from, std::forward<R>(frames));
        drain();
    }
    void send(sw::port_index from, bytes_view frame) {
        std::array<bytes_view, 1> one{frame};
        send(from, one);
    }

    /// A frame handled as if the switch had delivered it to the host vNIC port.
    void service_receive(bytes_view frame) {
        const bytes_view one[1] = {frame};
        inbox_->take(std::span<const bytes_view>(one));
        drain();
    }

    /// An IPv4 packet from the uplink (for cfg.uplink_address): translated back and sent
    /// to the VM.
    void on_uplink(bytes_view packet) {
        const auto t = now();
        from_uplink(packet, t.steady, t.wall);
        flush();
    }
    /// A batch of them: the VMs get one batch.
    template <class R>
    requires sw::frame_batch<R>
    void on_uplink(R&& packets) {
        const auto t = now();
        for (auto&& p : packets) from_uplink(bytes_view(p), t.steady, t.wall);
        flush();
    }

    /// A message from an upstream DNS server (UDP payload, or TCP-framed).
    void on_dns_answer(const dns_endpoint& from, bytes_view payload, dns_transport tr = dns_transport::udp) {
        const auto t = now();
        ++counters_.dns_answers;
        dispatch_dns(net_->dns.on_upstream_answer(from, payload, t.steady, tr), t, std::nullopt);
        flush();
    }

    /// Time-driven work: DNS retries and SERVFAIL, DHCP lease expiry (and the names of
    /// ended leases), NAT and neighbor expiry.
    void poll() {
        const auto t = now();
        dispatch_dns(net_->dns.poll(t.steady), t, std::nullopt);
        net_->dhcp.expire(t.wall);
        for (std::size_t i = 0; i < names_.size();) {
            const auto before = names_.size();
            sync_name(names_[i].mac, t.wall);
            if (names_.size() == before) ++i;
        }
        net_->nat.expire(t.steady);
        net_->gateway.neighbors().expire(t.steady);
        flush();
    }

    /// IPv4 packets for the uplink, source cfg.uplink_address; valid until clear_uplink()
    /// or the next call that queues packets.
    std::span<const std::vector<std::byte>> uplink() const noexcept { return uplink_.items(); }
    void clear_uplink() noexcept { uplink_.clear(); }
    /// Queries for the host's DNS servers (dns_outgoing::to is upstream).
    std::span<const dns_outgoing> dns_upstream() const noexcept { return {dns_out_.data(), dns_n_}; }
    void clear_dns_upstream() noexcept { dns_n_ = 0; }

    // ---- port forwarding ----

    /// ICS port forwarding (the "Services" list of the shared adapter): packets from the
    /// uplink to m.external_port reach m.internal_address:m.internal_port. A mapping is a
    /// NAT static mapping; it lasts until the range moves.
    result<void> add_port_mapping(const nat_static_mapping& m) {
        if (!net_->range.contains(m.internal_address))
            return fail(layer::service, errc::bad_value, "port mapping to an address outside the Default Switch range");
        return net_->nat.add_static_mapping(m);
    }

    // ---- the range ----

    /// Chooses the range again, as at boot or after the physical network changed: the
    /// host's networks are now `host_networks`; another free /20 than the current one is
    /// taken when there is one.
    template <random_source R>
    result<void> reselect(std::vector<ipv4_prefix> host_networks, R& rng) {
        default_switch_config c = cfg_;
        c.host_networks = std::move(host_networks);
        auto r = choose_ics_range(taken_by_host(c), rng, net_->range);
        if (!r) return unexpected(r.error());
        cfg_.host_networks = std::move(c.host_networks);
        return move_to(*r);
    }

    /// Moves every service to `range` (a /20 of 172.16.0.0/12 free of the host's networks):
    /// leases, names, NAT flows and neighbors of the old range are gone.
    result<void> move_to(ipv4_prefix range) {
        range = range.canonical();
        if (auto r = check_range(cfg_, range); !r) return r;
        auto net = make_network(cfg_, range);
        if (!net) return unexpected(net.error());
        const bool moved = range != net_->range;
        net_ = std::make_unique<network>(std::move(*net));
        names_.clear();
        cfg_.range = range;
        if (moved) ++counters_.range_changes;
        return {};
    }

private:
    struct network {
        ipv4_prefix range;
        gateway_responder gateway;
        dhcp_server dhcp;
        dns_proxy dns;
        svc::nat nat;
    };

    struct instant {
        time_point steady;
        dhcp_time wall;
    };

    default_switch(default_switch_config cfg, network net, Clock clock)
            : cfg_(std::move(cfg)),
              sw_(sw::switch_spec{cfg_.name, sw::switch_kind::default_switch, {}, false}, std::move(clock)),
              net_(std::make_unique<network>(std::move(net))),
              inbox_(std::make_unique<detail::service_inbox>(cfg_.service_queue)),
              work_(std::make_unique<packet_queue>(cfg_.service_queue)),
              tx_(std::numeric_limits<std::size_t>::max()),
              uplink_(cfg_.uplink_queue) {
        cfg_.range = net_->range;
    }

    static std::vector<ipv4_prefix> taken_by_host(const default_switch_config& c) {
        std::vector<ipv4_prefix> t = c.host_networks;
        if (!c.uplink_address.is_unspecified()) t.emplace_back(c.uplink_address, 32);
        for (const auto& u : c.dns_upstreams) t.emplace_back(u.address, 32);
        return t;
    }

    static result<void> check_range(const default_switch_config& c, ipv4_prefix range) {
        if (range.length() != ics_range_length || !ics_space.contains(range))
            return fail(layer::service, errc::bad_value, "Default Switch range must be a /20 of 172.16.0.0/12");
        for (const auto& t : taken_by_host(c))
            if (t.canonical().overlaps(range))
                return fail(layer::service, errc::conflict, "Default Switch range overlaps a network of the host");
        return {};
    }

    static result<network> make_network(const default_switch_config& c, ipv4_prefix range) {
        const ipv4_address host(range.network().to_u32() + 1);
        auto gw = gateway_responder::make({c.host_mac, ipv4_prefix(host, range.length())});
        if (!gw) return unexpected(gw.error());
        dhcp_server_config d;
        d.subnet = range;
        d.server_address = host;
        d.server_mac = c.host_mac;
        d.range_first = ipv4_address(host.to_u32() + 1);
        d.range_last = ipv4_address(range.broadcast().to_u32() - 1);
        d.routers = {host};
        d.dns_servers = {host};
        d.domain_name = c.domain;
        d.lease_time = c.lease_time;
        d.authoritative = c.dhcp_authoritative;
        auto dhcp = dhcp_server::make(std::move(d));
        if (!dhcp) return unexpected(dhcp.error());
        dns_proxy_config p;
        p.local_domain = c.domain;
        p.upstreams = c.dns_upstreams;
        p.id_seed = c.dns_id_seed;
        auto dns = dns_proxy::make(std::move(p));
        if (!dns) return unexpected(dns.error());
        nat_config n;
        n.name = fmt::format("{} (ICS)", c.name);
        n.internal_prefix = range;
        n.external_address = c.uplink_address;
        n.max_flows = c.max_nat_flows;
        n.port_first = c.nat_port_first;
        n.port_last = c.nat_port_last;
        n.timeouts = c.timeouts;
        n.hash_seed = c.nat_hash_seed;
        auto nt = svc::nat::make(std::move(n));
        if (!nt) return unexpected(nt.error());
        return network{range, std::move(*gw), std::move(*dhcp), std::move(*dns), std::move(*nt)};
    }

    instant now() {
        const std::chrono::nanoseconds ns = sw_.clock().now();
        return {time_point(std::chrono::duration_cast<time_point::duration>(ns)),
                cfg_.wall_epoch + std::chrono::duration_cast<std::chrono::system_clock::duration>(ns)};
    }

    void drop(default_switch_drop d) noexcept { counters_.count_drop(d); }

    // ---- the service loop ----

    void drain() {
        // Frames the services send go from the host vNIC port to other ports only, so one
        // round empties the inbox; the bound guards against a transport that loops back.
        for (int round = 0; round < 4 && (!inbox_->frames.empty() || inbox_->overflow != 0); ++round) {
            std::swap(inbox_->frames, *work_);
            counters_.drops[static_cast<std::size_t>(default_switch_drop::service_queue_full)] += inbox_->overflow;
            inbox_->overflow = 0;
            const auto t = now();
            for (std::size_t i = 0; i < work_->size(); ++i) serve((*work_)[i], t);
            work_->clear();
            flush();
        }
    }

    void flush() {
        if (tx_.empty()) return;
        counters_.frames_out += tx_.size();
        sw_.send(service_port_, tx_.items());
        tx_.clear();
    }

    void serve(bytes_view fr, const instant& t) {
        ++counters_.frames_in;
        auto f = wire::frame_view::parse(fr);
        if (!f) return drop(default_switch_drop::malformed);
        const mac_address dst = f->dst();
        if (dst != cfg_.host_mac && !dst.is_multicast()) return drop(default_switch_drop::not_for_host);
        switch (f->ethertype()) {
            case wire::ethertype::arp: {
                ++counters_.arp;
                auto out = tx_.prepare(std::max(fr.size(), gateway_responder::min_frame_len));
                const auto r = net_->gateway.handle_frame(fr, t.steady, out);
                if (r) tx_.commit(r.length);
                return;
            }
            case wire::ethertype::ipv4: return serve_ipv4(*f, fr, t);
            case wire::ethertype::ipv6: return drop(default_switch_drop::ipv6);
            default: return drop(default_switch_drop::unsupported_ethertype);
        }
    }

    void serve_ipv4(const wire::frame_view& f, bytes_view fr, const instant& t) {
        auto ip = wire::ipv4_view::parse(f.payload());
        if (!ip) return drop(default_switch_drop::malformed);
        const auto dport = wire::udp_dst_port(*ip);
        if (dport == wire::dhcp_port::server) return serve_dhcp(*ip, fr, t);
        if (f.dst().is_multicast()) return drop(default_switch_drop::broadcast_ignored);

        // Unicast to the host vNIC MAC.
        const ipv4_address host = host_address();
        if (net_->range.contains(ip->src())) net_->gateway.neighbors().confirm(ip->src(), f.src(), t.steady);
        if (ip->dst() == host) {
            if (ip->protocol() == wire::udp_view::ip_protocol && ip->is_fragment()) return drop(default_switch_drop::fragment);
            if (dport == wire::dns_port) return serve_dns(*ip, f.src(), t);
            if (ip->protocol() == wire::ip_protocol::icmp) {
                ++counters_.host_icmp;
                auto out = tx_.prepare(std::max(fr.size(), gateway_responder::min_frame_len));
                const auto r = net_->gateway.handle_frame(fr, t.steady, out);
                if (r) tx_.commit(r.length);
                else if (r.verdict == gateway_verdict::pass) drop(default_switch_drop::host_port_closed);
                return;
            }
            return drop(default_switch_drop::host_port_closed);
        }
        const ipv4_address d = ip->dst();
        if (net_->range.contains(d)) return drop(default_switch_drop::onlink_not_routed);
        if (d.is_unspecified() || d.is_broadcast() || d.is_multicast() || d.is_loopback())
            return drop(default_switch_drop::not_routable);
        route_out(*ip, t);
    }

    void serve_dhcp(const wire::ipv4_view& ip, bytes_view fr, const instant& t) {
        ++counters_.dhcp;
        auto out = tx_.prepare(dhcp_server::max_frame_len);
        const auto r = net_->dhcp.handle_frame(fr, t.wall, out);
        if (r) tx_.commit(r.length);
        if (r.result.outcome == dhcp_outcome::dropped) return;
        // The client's name follows its lease (registered when bound, removed when ended).
        auto u = wire::udp_view::parse(ip.payload());
        if (!u) return;
        auto m = wire::dhcp_view::parse(u->payload());
        if (!m) return;
        if (auto mac = m->client_mac()) sync_name(*mac, t.wall);
    }

    void serve_dns(const wire::ipv4_view& ip, const mac_address& src_mac, const instant& t) {
        if (ip.is_fragment()) return drop(default_switch_drop::fragment);
        auto u = wire::udp_view::parse(ip.payload());
        if (!u) return drop(default_switch_drop::malformed);
        if (!u->checksum_ok(ip.src(), ip.dst())) return drop(default_switch_drop::bad_checksum);
        ++counters_.dns_queries;
        const dns_endpoint client{ip.src(), u->src_port()};
        dispatch_dns(net_->dns.on_client_query(client, u->payload(), t.steady), t,
                     std::optional<std::pair<ipv4_address, mac_address>>({ip.src(), src_mac}));
    }

    /// Sends what the DNS proxy emitted: replies to VMs as frames, queries upstream to the
    /// queue. `hint`: the querying VM's address and MAC, when known from its frame.
    void dispatch_dns(dns_proxy::outbox box, const instant& t, std::optional<std::pair<ipv4_address, mac_address>> hint) {
        for (const auto& o : box) {
            if (o.to == dns_peer::upstream) {
                if (dns_n_ >= cfg_.dns_queue) {
                    drop(default_switch_drop::dns_queue_full);
                    continue;
                }
                if (dns_n_ == dns_out_.size()) dns_out_.push_back(o);
                else dns_out_[dns_n_] = o;
                ++dns_n_;
                ++counters_.dns_upstream;
                continue;
            }
            if (o.transport != dns_transport::udp) {
                drop(default_switch_drop::dns_tcp_client);
                continue;
            }
            std::optional<mac_address> mac;
            if (hint && hint->first == o.endpoint.address) mac = hint->second;
            else mac = neighbor_mac(o.endpoint.address, t);
            if (!mac) {
                drop(default_switch_drop::no_neighbor);
                continue;
            }
            if (emit_udp(*mac, host_address(), wire::dns_port, o.endpoint.address, o.endpoint.port, o.payload))
                ++counters_.dns_replies;
        }
    }

    /// The VM's MAC: the neighbor table, else a bound DHCP lease of the address.
    std::optional<mac_address> neighbor_mac(ipv4_address a, const instant& t) const {
        if (auto m = net_->gateway.neighbor(a, t.steady)) return m;
        if (const auto* l = net_->dhcp.lease_at(a); l && l->state == dhcp_lease_state::bound && l->active(t.wall)) return l->mac;
        return std::nullopt;
    }

    /// An untagged Ethernet II header for IPv4 from the host vNIC (precondition: 14 octets).
    void write_eth(bytes_span out, const mac_address& dst) const noexcept {
        dst.store(out, wire::ethernet_view::field::dst);
        cfg_.host_mac.store(out, wire::ethernet_view::field::src);
        store_be16(out, wire::ethernet_view::field::ethertype, wire::ethertype::ipv4);
    }

    bool emit_udp(const mac_address& dst_mac, ipv4_address src, std::uint16_t sport, ipv4_address dst, std::uint16_t dport,
                  bytes_view payload) {
        constexpr std::size_t l2 = wire::ethernet_view::header_len;
        constexpr std::size_t l3 = l2 + wire::ipv4_view::header_len_min;
        constexpr std::size_t l4 = l3 + wire::udp_view::header_len;
        if (payload.size() > 0xffff - (l4 - l2)) return false;
        const std::size_t len = std::max(l4 + payload.size(), gateway_responder::min_frame_len);
        auto out = tx_.prepare(len);
        std::fill(out.begin(), out.end(), std::byte{0});
        const wire::udp_repr u{sport, dport, payload.size()};
        auto un = u.emit(out.subspan(l3), payload, src, dst);
        if (!un) return false;
        wire::ipv4_repr h;
        h.src = src;
        h.dst = dst;
        h.protocol = wire::udp_view::ip_protocol;
        h.ttl = net_->gateway.config().ttl;
        h.identification = ip_id_++;
        h.payload_len = *un;
        if (!h.emit(out.subspan(l2))) return false;
        write_eth(out, dst_mac);
        tx_.commit(len);
        return true;
    }

    /// RFC 1812 section 5.3.1: a forwarded packet's TTL goes down by one; the header
    /// checksum is updated incrementally (RFC 1624). False when it would reach zero.
    static bool decrement_ttl(bytes_span ip) noexcept {
        using fld = wire::ipv4_view::field;
        const std::uint8_t ttl = load_u8(ip, fld::ttl);
        if (ttl <= 1) return false;
        const std::uint16_t old_w = load_be16(ip, fld::ttl);  // TTL and protocol
        store_u8(ip, fld::ttl, static_cast<std::uint8_t>(ttl - 1));
        const std::uint16_t new_w = load_be16(ip, fld::ttl);
        store_be16(ip, fld::checksum, wire::checksum_update16(load_be16(ip, fld::checksum), old_w, new_w));
        return true;
    }

    void route_out(const wire::ipv4_view& ip, const instant& t) {
        if (ip.ttl() <= 1) return drop(default_switch_drop::ttl_expired);
        if (uplink_.full()) return drop(default_switch_drop::uplink_queue_full);
        const bytes_view pkt = ip.packet();
        auto buf = uplink_.prepare(pkt.size());
        store_bytes(buf, 0, pkt);
        decrement_ttl(buf);
        const auto r = net_->nat.outbound(buf, t.steady);
        if (r.verdict == nat_verdict::translated) {
            uplink_.commit(pkt.size());
            ++counters_.routed_out;
            return;
        }
        if (r.verdict == nat_verdict::hairpinned) {
            ++counters_.hairpinned;
            deliver_inside(buf, t);
            return;
        }
        drop(default_switch_drop::nat_refused);
    }

    void from_uplink(bytes_view packet, time_point steady, dhcp_time wall) {
        ++counters_.uplink_in;
        const instant t{steady, wall};
        constexpr std::size_t l2 = wire::ethernet_view::header_len;
        auto out = tx_.prepare(l2 + packet.size());
        store_bytes(out, l2, packet);
        const bytes_span ip = out.subspan(l2);
        if (!net_->nat.inbound(ip, steady)) return drop(default_switch_drop::uplink_refused);
        auto v = wire::ipv4_view::parse(ip);
        if (!v) return drop(default_switch_drop::malformed);
        if (!decrement_ttl(ip)) return drop(default_switch_drop::ttl_expired);
        const std::size_t total = v->total_length();
        auto mac = neighbor_mac(v->dst(), t);
        if (!mac) return drop(default_switch_drop::no_neighbor);
        write_eth(out, *mac);
        std::size_t len = l2 + total;
        if (len < gateway_responder::min_frame_len) {
            out = tx_.prepare(gateway_responder::min_frame_len);  // the same buffer, grown; zero the padding
            std::fill(out.begin() + static_cast<std::ptrdiff_t>(len), out.end(), std::byte{0});
            len = gateway_responder::min_frame_len;
        }
        tx_.commit(len);
        ++counters_.routed_in;
    }

    /// A hairpinned packet (already translated) back to a VM.
    void deliver_inside(bytes_view ip, const instant& t) {
        constexpr std::size_t l2 = wire::ethernet_view::header_len;
        auto v = wire::ipv4_view::parse(ip);
        if (!v) return drop(default_switch_drop::malformed);
        auto mac = neighbor_mac(v->dst(), t);
        if (!mac) return drop(default_switch_drop::no_neighbor);
        const std::size_t len = std::max(l2 + v->total_length(), gateway_responder::min_frame_len);
        auto out = tx_.prepare(len);
        std::fill(out.begin(), out.end(), std::byte{0});
        store_bytes(out, l2, v->packet());
        write_eth(out, *mac);
        tx_.commit(len);
    }

    // ---- names ----

    /// Makes the DNS proxy's <host>.<domain> for this MAC follow its DHCP lease.
    void sync_name(const mac_address& mac, dhcp_time wall) {
        const dhcp_lease* l = net_->dhcp.lease_of(mac);
        const bool want = l && l->state == dhcp_lease_state::bound && l->active(wall) && !l->host_name.empty();
        auto it = std::find_if(names_.begin(), names_.end(), [&](const auto& e) { return e.mac == mac; });
        if (it != names_.end()) {
            if (want && it->host == l->host_name && it->address == l->address) return;
            const std::string old = std::move(it->host);
            names_.erase(it);
            forget_name(old);
        }
        if (!want) return;
        if (!net_->dns.set_host(l->host_name, l->address)) {
            ++counters_.names_rejected;
            return;
        }
        names_.push_back({mac, l->host_name, l->address});
        ++counters_.names_registered;
    }

    /// Removes a name from the proxy, or points it at another VM that registered it too.
    void forget_name(const std::string& host) {
        ++counters_.names_removed;
        for (const auto& e : names_)
            if (e.host == host) {
                (void)net_->dns.set_host(e.host, e.address);
                return;
            }
        (void)net_->dns.remove_host(host);
    }

    default_switch_config cfg_;
    switch_type sw_;
    std::unique_ptr<network> net_;
    std::unique_ptr<detail::service_inbox> inbox_;  // stable address: the host vNIC transport points at it
    std::unique_ptr<packet_queue> work_;            // the inbox being served
    sw::port_index service_port_ = 0;
    packet_queue tx_;  // frames the services send into the switch
    packet_queue uplink_;
    std::vector<dns_outgoing> dns_out_;
    std::size_t dns_n_ = 0;
    std::vector<default_switch_name_entry> names_;
    default_switch_counters counters_{};
    std::uint16_t ip_id_ = 0;
};

}  // namespace vnet::svc

/// "in 5, out 4, arp 1, dhcp 2, dns 1 replies 1 upstream 0 answers 0, host icmp 1, routed
/// out 2 in 1 (uplink 1), hairpinned 0, names +1 -0 rejected 0, range changes 0, drops: none"
template <>
struct fmt::formatter<vnet::svc::default_switch_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::default_switch_counters& c, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(),
                                  "in {}, out {}, arp {}, dhcp {}, dns {} replies {} upstream {} answers {}, host icmp {}, "
                                  "routed out {} in {} (uplink {}), hairpinned {}, names +{} -{} rejected {}, "
                                  "range changes {}, drops:",
                                  c.frames_in, c.frames_out, c.arp, c.dhcp, c.dns_queries, c.dns_replies, c.dns_upstream,
                                  c.dns_answers, c.host_icmp, c.routed_out, c.routed_in, c.uplink_in, c.hairpinned,
                                  c.names_registered, c.names_removed, c.names_rejected, c.range_changes);
        return vnet::format_counters<vnet::svc::default_switch_drop>(out, c.drops);
    }
};

/// The bundle's state: range and host vNIC, leases, names, neighbors, NAT flows, then the
/// counters of the bundle and of each service:
///   Default Switch 172.31.96.0/20, host vNIC 172.31.96.1 at 00:15:5d:00:00:01, uplink 192.168.0.10
///   lease 172.31.96.2 00:15:5d:00:00:10 bound eflow
///   name eflow.mshome.net -> 172.31.96.2
///   neighbor 172.31.96.2 at 00:15:5d:00:00:10
///   nat Default Switch (ICS) 172.31.96.0/20 -> 192.168.0.10 ... (one flow a line)
///   counters ...; gateway ...; dhcp ...; dns ...; nat ...
template <vnet::sw::frame_sink P, vnet::sw::clock_source C>
struct fmt::formatter<vnet::svc::default_switch<P, C>> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::default_switch<P, C>& d, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "{} {}, host vNIC {} at {}, uplink {}, {} ports", d.config().name, d.range(),
                                  d.host_address(), d.host_mac(), d.config().uplink_address, d.vswitch().port_count());
        for (const auto& l : d.dhcp().leases().sorted())
            out = fmt::format_to(out, "\n  lease {} {} {} {}", l.address, l.mac, vnet::svc::to_string(l.state),
                                 l.host_name.empty() ? std::string_view("-") : std::string_view(l.host_name));
        for (const auto& n : d.names()) out = fmt::format_to(out, "\n  name {}.{} -> {}", n.host, d.config().domain, n.address);
        for (const auto& e : d.gateway().neighbors().sorted()) out = fmt::format_to(out, "\n  neighbor {}", e);
        out = fmt::format_to(out, "\n  {}", d.nat());
        out = fmt::format_to(out, "\n  counters {}", d.counters());
        out = fmt::format_to(out, "\n  gateway {}", d.gateway().counters());
        out = fmt::format_to(out, "\n  dhcp {}", d.dhcp().counters());
        out = fmt::format_to(out, "\n  dns {}", d.dns().counters());
        return fmt::format_to(out, "\n  nat {}", d.nat().counters());
    }
};
