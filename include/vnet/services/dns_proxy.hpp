// vnet/services/dns_proxy.hpp - the DNS proxy of the Default Switch (Windows ICS): VMs
// send their queries to the host's address on the switch, the proxy answers local names
// itself and forwards the rest to the host's DNS servers, with a cache.
//
// Pure: no sockets, no clock. Messages go in (a UDP payload or a TCP-framed message with
// the peer's address and port, and `now`), messages come out (dns_outgoing: to a client or
// to an upstream server, over UDP or TCP) as a span valid until the next call. poll(now)
// returns what is due by time (failover, SERVFAIL after the timeout).
//
// Behaviour and its sources:
// - Local names (docs/eflow-facts.md "Hyper-V port and switch features": on the Default Switch
//   "VM names resolve as <name>.mshome.net"): the proxy is authoritative (AA) for the
//   local domain (default mshome.net) over a host name -> address table the caller keeps
//   (set_host / remove_host, e.g. from DHCP leases); a name of the domain not in the table
//   is NXDOMAIN and a name with no A record NODATA, both with the zone's SOA in the
//   authority section (RFC 2308 section 3). PTR queries under in-addr.arpa for a table
//   address are answered (RFC 1035 3.5). Static names (a lab's `dns = { name = address }`)
//   are answered for exactly those names; every other name is forwarded.
// - Forwarding ([NW] "DNS", [TS] "Check DNS": the VM's resolver depends on the
//   servers it is given; public DNS may be blocked, so the proxy uses the configured
//   servers, Set-EflowVmDnsServers style): each forwarded query gets a new ID from the
//   proxy's own ID space (a seeded generator, never the client's ID; RFC 5452 section 9.2),
//   carries the client's question (case kept) and an OPT record with the proxy's UDP size
//   (RFC 6891 6.1.2), and remembers the client. The answer is matched on source server,
//   ID and question (RFC 5452 section 9.1); anything else is dropped as
//   upstream_unmatched. The client gets the answer with its own ID and question, RA set,
//   and an OPT record only when it sent one (RFC 6891 7).
// - Upstream selection: the first server, then the next one after server_timeout (and
//   round again to the first after the last) until query_timeout; then SERVFAIL to the
//   client (RFC 1035 4.1.1 "server failure"). An upstream SERVFAIL, REFUSED or NOTIMP
//   makes the proxy try the next server not yet asked at once; when none is left that
//   answer goes to the client.
// - TCP fallback (RFC 7766 section 5, RFC 1035 4.2.1/4.2.2): an upstream UDP answer with
//   TC set makes the proxy send the same query TCP-framed to the same server; the TCP
//   answer goes to a UDP client cut to what the client can take (RFC 2181 section 9,
//   dns_message_repr::emit_truncated: 512 bytes without EDNS, else the client's OPT UDP
//   payload size, RFC 6891 6.2.3 and 6.2.5, at most edns_udp_size), whole if it fits.
// - Cache (RFC 1035 7.4, RFC 2181 sections 5.2 and 8, RFC 2308): keyed by (name, type,
//   class), the name case-insensitive (RFC 4343). A positive answer lives for the least
//   TTL of its answer records (a TTL with the top bit set counts as 0, RFC 2181 8; TTL 0
//   is not cached, RFC 1035 3.2.1), capped at max_cache_ttl. NXDOMAIN and NODATA answers
//   are cached for min(SOA TTL, SOA MINIMUM) of the authority section's SOA (RFC 2308
//   sections 3 and 5), capped at max_negative_ttl; without a SOA for
//   negative_ttl_without_soa (0 by default: RFC 2308 5 says such answers SHOULD NOT be
//   cached). Served answers have every TTL decreased by the whole seconds spent in the
//   cache and AA clear (they do not come from an authority, RFC 1035 4.1.1). Bounded to
//   cache_capacity entries, least recently used evicted first; expired entries go when
//   looked up or in purge_expired().
// - Malformed queries: fewer than 12 bytes cannot be answered and are dropped
//   (client_short); a header that reads but a message that does not is FORMERR, as is a
//   QDCOUNT other than 1 (RFC 1035 4.1.1, 4.1.2); an opcode other than QUERY is NOTIMP
//   (RFC 1035 4.1.1); an OPT version other than 0 is BADVERS (RFC 6891 6.1.3); a response
//   (QR set) from a client is dropped (client_response).
// Every outcome has a counter (dns_proxy_counters); drops have a named reason.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/mutant.hpp>
#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/wire/dns.hpp>

namespace vnet::svc {

using vnet::to_string;

/// An address and UDP/TCP port: a client (a VM's resolver) or an upstream server.
struct dns_endpoint {
    ipv4_address address{};
    std::uint16_t port = wire::dns_port;
    friend constexpr bool operator==(const dns_endpoint&, const dns_endpoint&) = default;
};

enum class dns_transport : std::uint8_t { udp, tcp };

inline constexpr enum_name<dns_transport> dns_transport_names[] = {
    {dns_transport::udp, "udp"},
    {dns_transport::tcp, "tcp"},
};
constexpr std::span<const enum_name<dns_transport>> enum_names(dns_transport) noexcept { return dns_transport_names; }

/// Who a message the proxy emits is for.
enum class dns_peer : std::uint8_t { client, upstream };

inline constexpr enum_name<dns_peer> dns_peer_names[] = {
    {dns_peer::client, "client"},
    {dns_peer::upstream, "upstream"},
};
constexpr std::span<const enum_name<dns_peer>> enum_names(dns_peer) noexcept { return dns_peer_names; }

/// One message the proxy wants sent. Over TCP the payload is framed: the 2-byte length
/// then the message (RFC 1035 4.2.2).
struct dns_outgoing {
    dns_peer to = dns_peer::client;
    dns_transport transport = dns_transport::udp;
    dns_endpoint endpoint{};
    std::vector<std::byte> payload;

    /// The DNS message itself (without the TCP length prefix).
    bytes_view message() const noexcept {
        bytes_view b(payload);
        return transport == dns_transport::tcp && b.size() >= wire::dns_tcp_length_len ? b.subspan(wire::dns_tcp_length_len) : b;
    }
};

/// The proxy's settings. Times are whole milliseconds; TTLs seconds.
struct dns_proxy_config {
    std::string local_domain = "mshome.net";         // the ICS domain of Default Switch VMs
    std::vector<dns_endpoint> upstreams;             // tried in this order (at most 16)
    std::chrono::milliseconds server_timeout{2000};  // wait per server before the next
    std::chrono::milliseconds query_timeout{10000};  // then SERVFAIL to the client
    std::uint32_t local_ttl = 60;                    // TTL of local and static answers
    std::size_t cache_capacity = 1024;               // entries; 0 disables the cache
    std::uint32_t max_cache_ttl = 86400;             // cap of positive TTLs
    std::uint32_t max_negative_ttl = 10800;          // cap of negative TTLs (RFC 2308 5: 1-3 h)
    std::uint32_t negative_ttl_without_soa = 0;      // NXDOMAIN/NODATA without SOA; 0: not cached
    std::uint16_t edns_udp_size = 1232;              // the proxy's EDNS UDP payload size (>= 512)
    std::size_t max_outstanding = 1024;              // forwarded queries waiting for an answer
    std::uint64_t id_seed = 0x646e735f70726f78ULL;   // set a secret value: IDs must be unguessable
};

enum class dns_proxy_drop : std::uint8_t {
    client_short,        // under 12 bytes (or an incomplete TCP frame): no header to answer
    client_response,     // a response (QR set) arrived from a client
    upstream_malformed,  // an upstream message that does not parse (or is not a response)
    upstream_unmatched,  // no outstanding query with that server, transport, ID and question
    outstanding_full,    // max_outstanding queries are waiting: the client got SERVFAIL
    encode_failed,       // a reply could not be encoded (never expected; counted, not sent)
    count_
};

inline constexpr std::size_t dns_proxy_drop_count = static_cast<std::size_t>(dns_proxy_drop::count_);

inline constexpr enum_name<dns_proxy_drop> dns_proxy_drop_names[] = {
    {dns_proxy_drop::client_short, "client_short"},
    {dns_proxy_drop::client_response, "client_response"},
    {dns_proxy_drop::upstream_malformed, "upstream_malformed"},
    {dns_proxy_drop::upstream_unmatched, "upstream_unmatched"},
    {dns_proxy_drop::outstanding_full, "outstanding_full"},
    {dns_proxy_drop::encode_failed, "encode_failed"},
};
constexpr std::span<const enum_name<dns_proxy_drop>> enum_names(dns_proxy_drop) noexcept { return dns_proxy_drop_names; }

struct dns_proxy_counters {
    // client side
    std::uint64_t queries = 0;               // client messages with a readable header
    std::uint64_t local_answers = 0;         // <vm>.<local domain> A answered from the host table
    std::uint64_t local_nxdomain = 0;        // under the local domain, no such host
    std::uint64_t local_nodata = 0;          // a local or static name, no record of that type
    std::uint64_t ptr_answers = 0;           // in-addr.arpa PTR for a local or static address
    std::uint64_t static_answers = 0;        // a configured static name
    std::uint64_t cache_answers = 0;         // answered from the cache
    std::uint64_t forwarded = 0;             // client queries sent upstream
    std::uint64_t formerr = 0;               // FORMERR sent (malformed query)
    std::uint64_t notimp = 0;                // NOTIMP sent (opcode not QUERY)
    std::uint64_t badvers = 0;               // BADVERS sent (EDNS version not 0)
    std::uint64_t servfail_timeout = 0;      // SERVFAIL sent: no server answered before query_timeout
    std::uint64_t servfail_busy = 0;         // SERVFAIL sent: max_outstanding reached
    std::uint64_t servfail_no_upstream = 0;  // SERVFAIL sent: no upstream server configured
    std::uint64_t truncated_replies = 0;     // replies the proxy cut to the client's size (TC set)
    // upstream side
    std::uint64_t upstream_queries = 0;  // messages sent upstream (first tries, failovers, TCP)
    std::uint64_t failovers = 0;         // moves to a server not asked yet (timeout or error answer)
    std::uint64_t retransmits = 0;       // the query sent again to a server already asked (timeout)
    std::uint64_t tcp_fallbacks = 0;     // TC answers retried over TCP
    std::uint64_t upstream_answers = 0;  // matched answers relayed to a client
    std::uint64_t cached = 0;            // answers stored in the cache (positive and negative)
    std::uint64_t negative_cached = 0;   // of which NXDOMAIN / NODATA
    std::array<std::uint64_t, dns_proxy_drop_count> drops{};

    constexpr std::uint64_t drop(dns_proxy_drop d) const noexcept { return drops[static_cast<std::size_t>(d)]; }
    constexpr void count_drop(dns_proxy_drop d) noexcept { ++drops[static_cast<std::size_t>(d)]; }
    constexpr std::uint64_t total_drops() const noexcept {
        std::uint64_t n = 0;
        for (auto d : drops) n += d;
        return n;
    }
};

// ---------------------------------------------------------------------------------------
// The cache
// ---------------------------------------------------------------------------------------

/// One cached answer: the upstream's header and sections (OPT removed) as received.
struct dns_cache_entry {
    using time_point = std::chrono::steady_clock::time_point;

    wire::dns_question question;
    wire::dns_message_repr answer;
    std::uint32_t ttl = 0;  // seconds from stored_at
    bool negative = false;  // NXDOMAIN or NODATA (RFC 2308)
    time_point stored_at{};

    time_point expires_at() const noexcept { return stored_at + std::chrono::seconds(ttl); }
    /// Whole seconds spent in the cache at now.
    std::uint32_t age(time_point now) const noexcept {
        if (now <= stored_at) return 0;
        auto s = std::chrono::duration_cast<std::chrono::seconds>(now - stored_at).count();
        return s > 0xffffffffLL ? 0xffffffffu : static_cast<std::uint32_t>(s);
    }
};

struct dns_cache_counters {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t inserts = 0;
    std::uint64_t evictions = 0;  // least recently used entries removed to make room
    std::uint64_t expired = 0;    // entries removed because their TTL ran out
};

/// A TTL cache of answers keyed by (name, type, class), names case-insensitive, bounded
/// to capacity entries with least-recently-used eviction.
class dns_cache {
public:
    using time_point = dns_cache_entry::time_point;

    explicit dns_cache(std::size_t capacity = 1024) : capacity_(capacity) {
        index_.reserve(std::min<std::size_t>(capacity, 4096));
    }

    std::size_t size() const noexcept { return index_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }
    const dns_cache_counters& counters() const noexcept { return counters_; }

    /// The live entry for q at now (it becomes the most recently used), or nullptr; an
    /// expired entry is removed.
    const dns_cache_entry* find(const wire::dns_question& q, time_point now) {
        make_key(q);
        auto it = index_.find(key_);
        if (it == index_.end()) {
            ++counters_.misses;
            return nullptr;
        }
        if (now >= it->second->second.expires_at()) {
            lru_.erase(it->second);
            index_.erase(it);
            ++counters_.expired;
            ++counters_.misses;
            return nullptr;
        }
        lru_.splice(lru_.begin(), lru_, it->second);
        ++counters_.hits;
        return &it->second->second;
    }

    /// Stores answer for q for ttl seconds from now (replacing an entry for q). Nothing is
    /// stored when ttl is 0 or the capacity is 0.
    void insert(const wire::dns_question& q, wire::dns_message_repr answer, std::uint32_t ttl, bool negative, time_point now) {
        if (ttl == 0 || capacity_ == 0) return;
        make_key(q);
        dns_cache_entry e{q, std::move(answer), ttl, negative, now};
        if (auto it = index_.find(key_); it != index_.end()) {
            it->second->second = std::move(e);
            lru_.splice(lru_.begin(), lru_, it->second);
            ++counters_.inserts;
            return;
        }
        if (index_.size() >= capacity_) {
            index_.erase(lru_.back().first);
            lru_.pop_back();
            ++counters_.evictions;
        }
        lru_.emplace_front(key_, std::move(e));
        index_.emplace(key_, lru_.begin());
        ++counters_.inserts;
    }

    /// Removes every entry expired at now; returns how many went.
    std::size_t purge_expired(time_point now) {
        std::size_t n = 0;
        for (auto it = lru_.begin(); it != lru_.end();) {
            if (now >= it->second.expires_at()) {
                index_.erase(it->first);
                it = lru_.erase(it);
                ++n;
            } else {
                ++it;
            }
        }
        counters_.expired += n;
        return n;
    }

    void clear() noexcept {
        lru_.clear();
        index_.clear();
    }

    /// Calls f(const dns_cache_entry&) from the most to the least recently used.
    template <class F>
    void for_each(F&& f) const {
        for (const auto& [k, e] : lru_) f(e);
    }

private:
    /// key_ = lower-case name wire form, type, class.
    void make_key(const wire::dns_question& q) {
        key_.clear();
        for (std::byte b : q.name.wire()) key_.push_back(static_cast<char>(wire::dns_name::lower(u8(b))));
        key_.push_back(static_cast<char>(q.type >> 8));
        key_.push_back(static_cast<char>(q.type & 0xff));
        key_.push_back(static_cast<char>(q.qclass >> 8));
        key_.push_back(static_cast<char>(q.qclass & 0xff));
    }

    using lru_list = std::list<std::pair<std::string, dns_cache_entry>>;
    std::size_t capacity_;
    lru_list lru_;  // front: most recently used
    std::unordered_map<std::string, lru_list::iterator> index_;
    std::string key_;
    dns_cache_counters counters_;
};

// ---------------------------------------------------------------------------------------
// The proxy
// ---------------------------------------------------------------------------------------

/// A forwarded query waiting for its answer, as poll() and the formatter see it.
struct dns_pending_info {
    std::uint16_t upstream_id = 0;
    std::uint16_t client_id = 0;
    dns_endpoint client{};
    wire::dns_question question;
    dns_endpoint server{};  // the server asked last
    dns_transport transport = dns_transport::udp;
};

class dns_proxy {
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;
    using outbox = std::span<const dns_outgoing>;

    static constexpr std::size_t max_upstreams = 16;
    static constexpr std::size_t max_outstanding_limit = 16384;

    /// Checks the configuration.
    static result<dns_proxy> make(dns_proxy_config cfg) {
        auto domain = wire::dns_name::parse(cfg.local_domain);
        if (!domain || domain->is_root())
            return fail(layer::service, errc::bad_value, "DNS proxy local domain must be a DNS name below the root");
        if (cfg.upstreams.size() > max_upstreams)
            return fail(layer::service, errc::too_long, "DNS proxy takes at most 16 upstream servers");
        for (const auto& u : cfg.upstreams)
            if (u.address.is_unspecified() || u.address.is_broadcast() || u.address.is_multicast() || u.port == 0)
                return fail(layer::service, errc::bad_value, "DNS proxy upstream must be a unicast address and a port");
        if (cfg.server_timeout.count() <= 0 || cfg.query_timeout < cfg.server_timeout)
            return fail(layer::service, errc::bad_value,
                        "DNS proxy timeouts must be positive with query_timeout >= server_timeout");
        if (cfg.edns_udp_size < wire::dns_udp_max)
            return fail(layer::service, errc::bad_value, "DNS proxy EDNS UDP size must be at least 512");
        if (cfg.max_outstanding == 0 || cfg.max_outstanding > max_outstanding_limit)
            return fail(layer::service, errc::bad_value, "DNS proxy max_outstanding must be from 1 to 16384");
        return dns_proxy(std::move(cfg), *domain);
    }

    const dns_proxy_config& config() const noexcept { return cfg_; }
    const dns_proxy_counters& counters() const noexcept { return counters_; }
    const dns_cache& cache() const noexcept { return cache_; }
    dns_cache& cache() noexcept { return cache_; }
    const wire::dns_name& local_domain() const noexcept { return domain_; }
    std::size_t outstanding() const noexcept { return by_id_.size(); }

    // ---- names the proxy answers itself ----

    /// <host>.<local domain> -> address (a Default Switch VM; replaces an earlier entry).
    result<void> set_host(std::string_view host, ipv4_address address) {
        auto n = wire::dns_name::parse(host);
        if (!n || n->is_root()) return fail(layer::service, errc::bad_value, "DNS host name must be a DNS name");
        wire::dns_name full = *n;
        for (std::size_t i = 0; i < domain_.label_count(); ++i)
            if (auto r = full.append_label(domain_.label(i)); !r)
                return fail(layer::service, errc::too_long, "DNS host name is too long for the local domain");
        for (auto& h : hosts_)
            if (h.name == full) {
                h.address = address;
                return {};
            }
        hosts_.push_back({full, address});
        return {};
    }
    /// Forgets <host>.<local domain>; not_found when absent.
    result<void> remove_host(std::string_view host) {
        auto n = wire::dns_name::parse(host);
        if (n) {
            wire::dns_name full = *n;
            for (std::size_t i = 0; i < domain_.label_count(); ++i) (void)full.append_label(domain_.label(i));
            for (auto it = hosts_.begin(); it != hosts_.end(); ++it)
                if (it->name == full) {
                    hosts_.erase(it);
                    return {};
                }
        }
        return fail(layer::service, errc::not_found, "no such DNS host");
    }
    /// A static name (a lab's `dns = { name = address }`); several addresses per name give
    /// several A records.
    result<void> add_static(std::string_view name, ipv4_address address) {
        auto n = wire::dns_name::parse(name);
        if (!n || n->is_root()) return fail(layer::service, errc::bad_value, "DNS static name must be a DNS name");
        for (const auto& s : statics_)
            if (s.name == *n && s.address == address) return {};
        statics_.push_back({*n, address});
        return {};
    }

    // ---- messages ----

    /// A message from a client (a VM's resolver). UDP: the datagram's payload; TCP: the
    /// framed message (2-byte length then the message).
    outbox on_client_query(const dns_endpoint& client, bytes_view payload, time_point now,
                           dns_transport transport = dns_transport::udp) {
        out_n_ = 0;
        if (mutant::on(mutant::id::dns_proxy_silent)) return dropped(dns_proxy_drop::client_short);
        bytes_view msg = payload;
        if (transport == dns_transport::tcp) {
            auto f = wire::split_dns_tcp(payload);
            if (!f) return dropped(dns_proxy_drop::client_short);
            msg = f->message;
        }
        auto hdr = wire::dns_header::parse(msg);
        if (!hdr) return dropped(dns_proxy_drop::client_short);
        if (hdr->qr) return dropped(dns_proxy_drop::client_response);
        ++counters_.queries;
        reply_ctx rc{client, transport, wire::dns_udp_max, false};
        // RFC 1035 4.1.1: an opcode other than QUERY is "not implemented" here.
        if (hdr->opcode != wire::dns_opcode::query) {
            ++counters_.notimp;
            send_reply(rc, wire::make_response(*hdr, wire::dns_rcode::notimp));
            return outbox_view();
        }
        auto v = wire::dns_view::parse(msg);
        if (!v || v->qdcount() != 1) {
            ++counters_.formerr;
            send_reply(rc, wire::make_response(*hdr, wire::dns_rcode::formerr));
            return outbox_view();
        }
        if (const auto& o = v->edns()) {
            rc.edns = true;
            rc.udp_limit = std::min<std::size_t>(o->effective_udp_payload_size(), cfg_.edns_udp_size);
        }
        const wire::dns_question q = *v->first_question();
        if (rc.edns && v->edns()->version != 0) {
            // RFC 6891 6.1.3: BADVERS (16) = extended RCODE 1, header RCODE 0.
            ++counters_.badvers;
            auto r = wire::make_response(*v, wire::dns_rcode::noerror);
            r.additional.push_back(wire::dns_record_repr::make_opt(cfg_.edns_udp_size, false, 1));
            send_reply(rc, r);
            return outbox_view();
        }
        if (answer_locally(rc, *v, q)) return outbox_view();
        if (const dns_cache_entry* e = cache_.find(q, now)) {
            ++counters_.cache_answers;
            send_answer(rc, e->answer, hdr->id, hdr->rd, hdr->cd, q, e->age(now), true);
            return outbox_view();
        }
        forward(rc, *hdr, q, now);
        return outbox_view();
    }

    /// A message from an upstream server. UDP: the payload; TCP: the framed message.
    outbox on_upstream_answer(const dns_endpoint& from, bytes_view payload, time_point now,
                              dns_transport transport = dns_transport::udp) {
        out_n_ = 0;
        bytes_view msg = payload;
        if (transport == dns_transport::tcp) {
            auto f = wire::split_dns_tcp(payload);
            if (!f) return dropped(dns_proxy_drop::upstream_malformed);
            msg = f->message;
        }
        auto hdr = wire::dns_header::parse(msg);
        if (!hdr || !hdr->qr) return dropped(dns_proxy_drop::upstream_malformed);
        auto idx = by_id_.find(hdr->id);
        if (idx == by_id_.end()) return dropped(dns_proxy_drop::upstream_unmatched);
        pending& p = slots_[idx->second];
        // RFC 5452 9.1: accept only from a server asked, over the transport used.
        std::size_t server = cfg_.upstreams.size();
        for (std::size_t i = 0; i < cfg_.upstreams.size(); ++i)
            if ((p.asked & (1u << i)) != 0 && cfg_.upstreams[i] == from) {
                server = i;
                break;
            }
        if (server == cfg_.upstreams.size()) return dropped(dns_proxy_drop::upstream_unmatched);
        if (p.over_tcp != (transport == dns_transport::tcp) || (p.over_tcp && server != p.server))
            return dropped(dns_proxy_drop::upstream_unmatched);
        auto v = wire::dns_view::parse(msg);
        if (!v) return dropped(dns_proxy_drop::upstream_malformed);
        auto aq = v->first_question();
        if (v->qdcount() != 1 || !aq || !(aq->name == p.question.name) || aq->type != p.question.type ||
            aq->qclass != p.question.qclass)
            return dropped(dns_proxy_drop::upstream_unmatched);
        // RFC 7766 5 / RFC 1035 4.2.1: a truncated UDP answer is retried over TCP.
        if (v->truncated() && transport == dns_transport::udp) {
            ++counters_.tcp_fallbacks;
            p.over_tcp = true;
            p.server = server;
            p.retry_at = now + cfg_.server_timeout;
            send_upstream(p, dns_transport::tcp);
            return outbox_view();
        }
        const std::uint8_t rc = v->rcode();
        if (rc == wire::dns_rcode::servfail || rc == wire::dns_rcode::refused || rc == wire::dns_rcode::notimp) {
            for (std::size_t i = 0; i < cfg_.upstreams.size(); ++i) {
                if (p.asked & (1u << i)) continue;
                ++counters_.failovers;
                move_to(p, i, now);
                return outbox_view();
            }
        }
        auto m = wire::dns_message_repr::parse(*v);
        if (!m) return dropped(dns_proxy_drop::upstream_malformed);
        strip_opt(*m);
        ++counters_.upstream_answers;
        reply_ctx ctx{p.client, p.client_transport, p.client_udp_limit, p.client_edns};
        send_answer(ctx, *m, p.client_id, p.client_rd, p.client_cd, p.question, 0, false);
        maybe_cache(p.question, std::move(*m), now);
        (void)release(idx);
        return outbox_view();
    }

    /// What is due at now: the next server for queries whose server timed out, SERVFAIL
    /// for queries past query_timeout.
    outbox poll(time_point now) {
        out_n_ = 0;
        for (auto it = by_id_.begin(); it != by_id_.end();) {
            pending& p = slots_[it->second];
            if (now >= p.deadline) {
                ++counters_.servfail_timeout;
                reply_ctx ctx{p.client, p.client_transport, p.client_udp_limit, p.client_edns};
                send_reply(ctx, servfail_for(p));
                it = release(it);
                continue;
            }
            if (now >= p.retry_at) {
                const std::size_t next = (p.server + 1) % cfg_.upstreams.size();
                if (p.asked & (1u << next)) ++counters_.retransmits;
                else ++counters_.failovers;
                move_to(p, next, now);
            }
            ++it;
        }
        return outbox_view();
    }

    /// The earliest time poll() has something to do, if any query is waiting.
    std::optional<time_point> next_deadline() const noexcept {
        std::optional<time_point> t;
        for (const auto& [id, slot] : by_id_) {
            const pending& p = slots_[slot];
            time_point d = std::min(p.deadline, p.retry_at);
            if (!t || d < *t) t = d;
        }
        return t;
    }

    /// Calls f(const dns_pending_info&) for every forwarded query waiting for its answer.
    template <class F>
    void for_each_pending(F&& f) const {
        for (const auto& [id, slot] : by_id_) {
            const pending& p = slots_[slot];
            dns_pending_info i{p.upstream_id,
                               p.client_id,
                               p.client,
                               p.question,
                               p.server < cfg_.upstreams.size() ? cfg_.upstreams[p.server] : dns_endpoint{},
                               p.over_tcp ? dns_transport::tcp : dns_transport::udp};
            f(i);
        }
    }

private:
    struct local_name {
        wire::dns_name name;
        ipv4_address address;
    };

    struct pending {
        std::uint16_t upstream_id = 0;
        std::uint16_t client_id = 0;
        dns_endpoint client{};
        dns_transport client_transport = dns_transport::udp;
        std::size_t client_udp_limit = wire::dns_udp_max;
        bool client_edns = false;
        bool client_rd = false;
        bool client_cd = false;
        wire::dns_question question;
        std::size_t server = 0;   // index of the server asked last
        std::uint32_t asked = 0;  // bit i: server i was asked
        bool over_tcp = false;
        time_point retry_at{};
        time_point deadline{};
        std::vector<std::byte> query;  // the upstream query message
    };

    struct reply_ctx {
        dns_endpoint client;
        dns_transport transport;
        std::size_t udp_limit;
        bool edns;
    };

    using id_map = std::unordered_map<std::uint16_t, std::uint32_t>;

    dns_proxy(dns_proxy_config cfg, wire::dns_name domain)
            : cfg_(std::move(cfg)), domain_(domain), cache_(cfg_.cache_capacity), rng_(cfg_.id_seed) {
        slots_.resize(cfg_.max_outstanding);
        free_.reserve(cfg_.max_outstanding);
        for (std::size_t i = cfg_.max_outstanding; i > 0; --i) free_.push_back(static_cast<std::uint32_t>(i - 1));
        by_id_.reserve(cfg_.max_outstanding);
        // The SOA's RNAME: hostmaster.<domain>, or the domain itself when that is too long.
        hostmaster_ = wire::dns_name::parse("hostmaster").value();
        for (std::size_t i = 0; i < domain_.label_count(); ++i)
            if (!hostmaster_.append_label(domain_.label(i))) {
                hostmaster_ = domain_;
                break;
            }
    }

    // ---- outbox ----

    dns_outgoing& next_out(dns_peer to, dns_transport t, const dns_endpoint& ep) {
        if (out_n_ == outbox_.size()) outbox_.emplace_back();
        dns_outgoing& o = outbox_[out_n_++];
        o.to = to;
        o.transport = t;
        o.endpoint = ep;
        o.payload.clear();
        return o;
    }
    outbox outbox_view() const noexcept { return outbox(outbox_.data(), out_n_); }
    outbox dropped(dns_proxy_drop d) noexcept {
        counters_.count_drop(d);
        return outbox_view();
    }

    /// Encodes m for the client: over UDP cut to the client's size (RFC 2181 9), over TCP
    /// framed (RFC 1035 4.2.2) up to 65535 bytes.
    void send_reply(const reply_ctx& rc, const wire::dns_message_repr& m) {
        dns_outgoing& o = next_out(dns_peer::client, rc.transport, rc.client);
        const bool tcp = rc.transport == dns_transport::tcp;
        const std::size_t limit = tcp ? 0xFFFF : rc.udp_limit;
        const std::size_t prefix = tcp ? wire::dns_tcp_length_len : 0;
        o.payload.resize(prefix + std::min(limit, m.buffer_len()));
        auto n = m.emit_truncated(bytes_span(o.payload).subspan(prefix), limit);
        if (!n) {
            --out_n_;
            counters_.count_drop(dns_proxy_drop::encode_failed);
            return;
        }
        o.payload.resize(prefix + *n);
        if (tcp) (void)wire::store_dns_tcp_length(o.payload, *n);
        if (!m.header.tc && (load_be16(o.message(), wire::dns_header::field::flags) & 0x0200u) != 0)
            ++counters_.truncated_replies;
    }

    /// Sends a cached or upstream answer to a client: its ID, RD, CD and question (case
    /// kept), RA set, the TTLs lowered by age, AA clear when from the cache, an OPT record
    /// only when the client sent one (RFC 6891 7).
    void send_answer(const reply_ctx& rc, const wire::dns_message_repr& a, std::uint16_t id, bool rd, bool cd,
                     const wire::dns_question& q, std::uint32_t age, bool from_cache) {
        scratch_ = a;
        scratch_.header.id = id;
        scratch_.header.qr = true;
        scratch_.header.rd = rd;
        scratch_.header.cd = cd;
        scratch_.header.ra = true;
        scratch_.header.tc = false;
        scratch_.header.z = false;
        if (from_cache) scratch_.header.aa = false;
        scratch_.questions.assign(1, q);
        if (mutant::on(mutant::id::dns_proxy_wrong_address))
            for (auto& r : scratch_.answers)
                if (auto* a4 = std::get_if<wire::dns_a>(&r.rdata)) a4->address = ipv4_address(a4->address.to_u32() + 1);
        if (age > 0)
            for (auto* s : {&scratch_.answers, &scratch_.authority, &scratch_.additional})
                for (auto& r : *s) r.ttl = r.ttl > age ? r.ttl - age : 0;
        if (rc.edns) scratch_.additional.push_back(wire::dns_record_repr::make_opt(cfg_.edns_udp_size));
        send_reply(rc, scratch_);
    }

    static void strip_opt(wire::dns_message_repr& m) {
        std::erase_if(m.additional, [](const wire::dns_record_repr& r) { return r.type == wire::dns_type::opt; });
    }

    // ---- local answers ----

    wire::dns_record_repr local_soa() const {
        return wire::dns_record_repr::make(domain_, cfg_.local_ttl,
                                           wire::dns_soa{domain_, hostmaster_, 1, 900, 900, 86400, cfg_.local_ttl});
    }

    /// "d.c.b.a.in-addr.arpa" -> a.b.c.d (RFC 1035 3.5).
    static std::optional<ipv4_address> reverse_address(const wire::dns_name& n) {
        if (n.label_count() != 6) return std::nullopt;
        auto is = [](bytes_view l, std::string_view s) {
            if (l.size() != s.size()) return false;
            for (std::size_t i = 0; i < s.size(); ++i)
                if (wire::dns_name::lower(u8(l[i])) != static_cast<std::uint8_t>(s[i])) return false;
            return true;
        };
        if (!is(n.label(4), "in-addr") || !is(n.label(5), "arpa")) return std::nullopt;
        std::uint32_t v = 0;
        for (std::size_t i = 4; i > 0; --i) {
            bytes_view l = n.label(i - 1);
            if (l.size() > 3 || (l.size() > 1 && u8(l[0]) == '0')) return std::nullopt;
            std::uint32_t octet = 0;
            for (std::byte b : l) {
                std::uint8_t c = u8(b);
                if (c < '0' || c > '9') return std::nullopt;
                octet = octet * 10 + (c - '0');
            }
            if (octet > 255) return std::nullopt;
            v = (v << 8) | octet;
        }
        return ipv4_address(v);
    }

    bool answer_locally(const reply_ctx& rc, const wire::dns_view& v, const wire::dns_question& q) {
        if (q.qclass != wire::dns_class::in && q.qclass != wire::dns_class::any) return false;
        const bool want_a = q.type == wire::dns_type::a || q.type == wire::dns_type::any;
        auto reply = [&](std::uint8_t rcode) {
            auto r = wire::make_response(v, rcode);
            r.header.aa = true;
            r.header.tc = false;
            r.header.z = false;
            if (rc.edns) r.additional.push_back(wire::dns_record_repr::make_opt(cfg_.edns_udp_size));
            return r;
        };
        if (q.name.is_subdomain_of(domain_)) {
            auto r = reply(wire::dns_rcode::noerror);
            bool exists = q.name == domain_;
            for (const auto& h : hosts_) {
                if (!(h.name == q.name)) continue;
                exists = true;
                if (want_a) r.answers.push_back(wire::dns_record_repr::make(q.name, cfg_.local_ttl, wire::dns_a{h.address}));
            }
            if (q.name == domain_ && q.type == wire::dns_type::soa) r.answers.push_back(local_soa());
            if (!exists) {
                r.header.rcode = wire::dns_rcode::nxdomain;
                ++counters_.local_nxdomain;
            } else if (r.answers.empty()) {
                ++counters_.local_nodata;
            } else {
                ++counters_.local_answers;
            }
            if (r.answers.empty()) r.authority.push_back(local_soa());  // RFC 2308 3
            send_reply(rc, r);
            return true;
        }
        bool is_static = false;
        auto r = reply(wire::dns_rcode::noerror);
        for (const auto& s : statics_) {
            if (!(s.name == q.name)) continue;
            is_static = true;
            if (want_a) r.answers.push_back(wire::dns_record_repr::make(q.name, cfg_.local_ttl, wire::dns_a{s.address}));
        }
        if (is_static) {
            if (r.answers.empty()) ++counters_.local_nodata;
            else ++counters_.static_answers;
            send_reply(rc, r);
            return true;
        }
        if (q.type == wire::dns_type::ptr || q.type == wire::dns_type::any) {
            auto addr = reverse_address(q.name);
            if (!addr) return false;
            for (const auto* table : {&hosts_, &statics_})
                for (const auto& h : *table)
                    if (h.address == *addr)
                        r.answers.push_back(wire::dns_record_repr::make(q.name, cfg_.local_ttl, wire::dns_ptr{h.name}));
            if (r.answers.empty()) return false;
            ++counters_.ptr_answers;
            send_reply(rc, r);
            return true;
        }
        return false;
    }

    // ---- forwarding ----

    wire::dns_message_repr servfail_for(const pending& p) const {
        wire::dns_message_repr m;
        m.header.id = p.client_id;
        m.header.qr = true;
        m.header.rd = p.client_rd;
        m.header.cd = p.client_cd;
        m.header.ra = true;
        m.header.rcode = wire::dns_rcode::servfail;
        m.questions.push_back(p.question);
        if (p.client_edns) m.additional.push_back(wire::dns_record_repr::make_opt(cfg_.edns_udp_size));
        return m;
    }

    std::uint16_t draw_id() noexcept {
        for (;;) {
            // splitmix64
            rng_ += 0x9e3779b97f4a7c15ULL;
            std::uint64_t z = rng_;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            z ^= z >> 31;
            auto id = static_cast<std::uint16_t>(z & 0xffff);
            if (by_id_.find(id) == by_id_.end()) return id;
        }
    }

    void forward(const reply_ctx& rc, const wire::dns_header& h, const wire::dns_question& q, time_point now) {
        if (cfg_.upstreams.empty() || free_.empty()) {
            if (!cfg_.upstreams.empty()) {
                ++counters_.servfail_busy;
                counters_.count_drop(dns_proxy_drop::outstanding_full);
            } else {
                ++counters_.servfail_no_upstream;
            }
            pending tmp;
            tmp.client_id = h.id;
            tmp.client_rd = h.rd;
            tmp.client_cd = h.cd;
            tmp.client_edns = rc.edns;
            tmp.question = q;
            send_reply(rc, servfail_for(tmp));
            return;
        }
        const std::uint32_t slot = free_.back();
        free_.pop_back();
        pending& p = slots_[slot];
        p.upstream_id = draw_id();
        p.client_id = h.id;
        p.client = rc.client;
        p.client_transport = rc.transport;
        p.client_udp_limit = rc.udp_limit;
        p.client_edns = rc.edns;
        p.client_rd = h.rd;
        p.client_cd = h.cd;
        p.question = q;
        p.asked = 0;
        p.over_tcp = false;
        p.deadline = now + cfg_.query_timeout;
        build_query(p);
        by_id_.emplace(p.upstream_id, slot);
        ++counters_.forwarded;
        move_to(p, 0, now);
    }

    /// The upstream query: the proxy's ID, RD, CD as the client's, the question, an OPT
    /// record with the proxy's UDP size (RFC 6891 6.1.2). Written by hand: no allocation
    /// once the slot's buffer has grown.
    void build_query(pending& p) {
        using field = wire::dns_header::field;
        wire::dns_header h;
        h.id = p.upstream_id;
        h.rd = true;
        h.cd = p.client_cd;
        const bytes_view name = p.question.name.wire();
        const std::size_t len = wire::dns_header::header_len + name.size() + 4 + 11;
        p.query.assign(len, std::byte{0});
        bytes_span b(p.query);
        store_be16(b, field::id, h.id);
        store_be16(b, field::flags, h.flags());
        store_be16(b, field::qdcount, 1);
        store_be16(b, field::arcount, 1);
        std::size_t off = wire::dns_header::header_len;
        store_bytes(b, off, name);
        off += name.size();
        store_be16(b, off, p.question.type);
        store_be16(b, off + 2, p.question.qclass);
        off += 4;
        // OPT: root owner (the zero byte already there), TYPE 41, CLASS = UDP size, TTL 0, RDLENGTH 0.
        store_be16(b, off + 1, wire::dns_type::opt);
        store_be16(b, off + 3, cfg_.edns_udp_size);
    }

    /// Asks server i (UDP) and restarts its timer.
    void move_to(pending& p, std::size_t i, time_point now) {
        p.server = i;
        p.asked |= 1u << i;
        p.over_tcp = false;
        p.retry_at = now + cfg_.server_timeout;
        send_upstream(p, dns_transport::udp);
    }

    void send_upstream(const pending& p, dns_transport t) {
        dns_outgoing& o = next_out(dns_peer::upstream, t, cfg_.upstreams[p.server]);
        if (t == dns_transport::tcp) {
            o.payload.resize(wire::dns_tcp_length_len);
            (void)wire::store_dns_tcp_length(o.payload, p.query.size());
        }
        o.payload.insert(o.payload.end(), p.query.begin(), p.query.end());
        ++counters_.upstream_queries;
    }

    // ---- caching (RFC 1035 3.2.1, RFC 2181 5.2 and 8, RFC 2308 3 and 5) ----

    static std::uint32_t sane_ttl(std::uint32_t t) noexcept { return t > 0x7fffffffu ? 0 : t; }

    void maybe_cache(const wire::dns_question& q, wire::dns_message_repr m, time_point now) {
        if (cfg_.cache_capacity == 0 || m.header.tc) return;
        const std::uint8_t rc = m.header.rcode;
        const bool nodata = rc == wire::dns_rcode::noerror && m.answers.empty();
        if (rc == wire::dns_rcode::noerror && !nodata) {
            std::uint32_t ttl = 0xffffffffu;
            for (const auto& r : m.answers) ttl = std::min(ttl, sane_ttl(r.ttl));
            ttl = std::min(ttl, cfg_.max_cache_ttl);
            if (ttl == 0) return;
            cache_.insert(q, std::move(m), ttl, false, now);
            ++counters_.cached;
            return;
        }
        if (rc != wire::dns_rcode::nxdomain && !nodata) return;
        std::uint32_t ttl = cfg_.negative_ttl_without_soa;
        for (auto& r : m.authority) {
            if (r.type != wire::dns_type::soa) continue;
            const auto* soa = std::get_if<wire::dns_soa>(&r.rdata);
            if (!soa) continue;
            ttl = std::min(sane_ttl(r.ttl), sane_ttl(soa->minimum));
            r.ttl = ttl;  // RFC 2308 3: the SOA's TTL becomes the negative TTL
            break;
        }
        ttl = std::min(ttl, cfg_.max_negative_ttl);
        if (ttl == 0) return;
        cache_.insert(q, std::move(m), ttl, true, now);
        ++counters_.cached;
        ++counters_.negative_cached;
    }

    id_map::iterator release(id_map::iterator it) {
        free_.push_back(it->second);
        return by_id_.erase(it);
    }

    dns_proxy_config cfg_;
    wire::dns_name domain_;
    wire::dns_name hostmaster_;
    std::vector<local_name> hosts_;
    std::vector<local_name> statics_;
    dns_cache cache_;
    std::vector<pending> slots_;
    std::vector<std::uint32_t> free_;
    id_map by_id_;
    std::uint64_t rng_;
    std::vector<dns_outgoing> outbox_;
    std::size_t out_n_ = 0;
    wire::dns_message_repr scratch_;
    dns_proxy_counters counters_;
};

}  // namespace vnet::svc

/// "172.31.96.1:53"
template <>
struct fmt::formatter<vnet::svc::dns_endpoint> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::dns_endpoint& e, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "{}:{}", e.address, e.port);
    }
};

/// "upstream udp 192.168.0.1:53, 40 bytes"
template <>
struct fmt::formatter<vnet::svc::dns_outgoing> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::dns_outgoing& o, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "{} {} {}, {} bytes", o.to, o.transport, o.endpoint, o.message().size());
    }
};

/// "queries 5, local 1 (nxdomain 0, nodata 0, ptr 1, static 0), cache 1, forwarded 2, ..."
/// then the non-zero drop reasons ("drops: none" when there are none).
template <>
struct fmt::formatter<vnet::svc::dns_proxy_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::dns_proxy_counters& c, Ctx& ctx) const {
        auto out = fmt::format_to(
            ctx.out(),
            "queries {}, local {} (nxdomain {}, nodata {}, ptr {}, static {}), cache {}, forwarded {}, formerr {}, "
            "notimp {}, badvers {}, servfail timeout {} busy {} no upstream {}, truncated {}; upstream queries {}, "
            "failovers {}, retransmits {}, tcp fallbacks {}, answers {}, cached {} (negative {}); drops:",
            c.queries, c.local_answers, c.local_nxdomain, c.local_nodata, c.ptr_answers, c.static_answers, c.cache_answers,
            c.forwarded, c.formerr, c.notimp, c.badvers, c.servfail_timeout, c.servfail_busy, c.servfail_no_upstream,
            c.truncated_replies, c.upstream_queries, c.failovers, c.retransmits, c.tcp_fallbacks, c.upstream_answers, c.cached,
            c.negative_cached);
        return vnet::format_counters<vnet::svc::dns_proxy_drop>(out, c.drops);
    }
};

/// "iothub.example A IN NOERROR 1 answer ttl 300" or
/// "nope.example AAAA IN NXDOMAIN negative ttl 60" (the type as a number when unnamed).
template <>
struct fmt::formatter<vnet::svc::dns_cache_entry> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::dns_cache_entry& e, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "{} ", e.question.name);
        auto tn = vnet::wire::dns_type_name(e.question.type);
        if (tn.empty()) out = fmt::format_to(out, "TYPE{}", e.question.type);
        else out = fmt::format_to(out, "{}", tn);
        out = fmt::format_to(out, " {}", e.question.qclass == vnet::wire::dns_class::in ? "IN" : "CLASS");
        if (e.question.qclass != vnet::wire::dns_class::in) out = fmt::format_to(out, "{}", e.question.qclass);
        std::string_view rc;
        switch (e.answer.header.rcode) {
            case vnet::wire::dns_rcode::noerror: rc = "NOERROR"; break;
            case vnet::wire::dns_rcode::nxdomain: rc = "NXDOMAIN"; break;
            default: rc = "RCODE"; break;
        }
        out = fmt::format_to(out, " {}", rc);
        if (rc == "RCODE") out = fmt::format_to(out, "{}", e.answer.header.rcode);
        if (e.negative) return fmt::format_to(out, " negative ttl {}", e.ttl);
        return fmt::format_to(out, " {} answer{} ttl {}", e.answer.answers.size(), e.answer.answers.size() == 1 ? "" : "s",
                              e.ttl);
    }
};

/// "dns cache 2/1024 entries, hits 3 misses 2 inserts 2 evictions 0 expired 0" then one
/// entry per line, most recently used first.
template <>
struct fmt::formatter<vnet::svc::dns_cache> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::dns_cache& c, Ctx& ctx) const {
        const auto& k = c.counters();
        auto out = fmt::format_to(ctx.out(), "dns cache {}/{} entries, hits {} misses {} inserts {} evictions {} expired {}",
                                  c.size(), c.capacity(), k.hits, k.misses, k.inserts, k.evictions, k.expired);
        c.for_each([&](const vnet::svc::dns_cache_entry& e) { out = fmt::format_to(out, "\n  {}", e); });
        return out;
    }
};

/// "dns proxy mshome.net -> 192.168.0.1:53, 10.0.0.53:53, 1 waiting" then the waiting
/// queries, one per line, then the counters and the cache.
template <>
struct fmt::formatter<vnet::svc::dns_proxy> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::dns_proxy& p, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "dns proxy {} ->", p.local_domain());
        const auto& ups = p.config().upstreams;
        if (ups.empty()) out = fmt::format_to(out, " (no upstream)");
        for (std::size_t i = 0; i < ups.size(); ++i) out = fmt::format_to(out, "{} {}", i == 0 ? "" : ",", ups[i]);
        out = fmt::format_to(out, ", {} waiting", p.outstanding());
        p.for_each_pending([&](const vnet::svc::dns_pending_info& i) {
            out = fmt::format_to(out, "\n  id {:#06x} for {} id {:#06x}: {} type {} -> {} {}", i.upstream_id, i.client,
                                 i.client_id, i.question.name, i.question.type, i.transport, i.server);
        });
        out = fmt::format_to(out, "\n{}\n{}", p.counters(), p.cache());
        return out;
    }
};
