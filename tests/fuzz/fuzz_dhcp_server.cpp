// libFuzzer target: the DHCP server (include/vnet/services/dhcp_server.hpp) fed arbitrary
// DHCP payloads, whole frames and lease files. The first input octet picks the mode
// (bits 0-1: 0 payload broadcast, 1 frame, 2 lease file text, 3 payload unicast to the
// server) and advances the injected clock by 4 s per unit of its upper six bits; the rest
// is the input. One server lives across inputs, with a pool of eight addresses, a
// reservation and a denied MAC, so exhaustion, reuse, conflicts and expiry are reached.
// Checks: no crash or out-of-bounds access (ASan/UBSan); the invariant that an address is
// never handed (OFFER or ACK) to a second MAC while an earlier OFFER / ACK of it to another
// MAC is still running (a shadow table built only from the replies and from the
// RELEASE / DECLINE the server acted on); a reply frame re-parses with verifying IPv4 and
// UDP checksums; the lease table stays consistent and its file round-trips; a lease file
// that loads saves and loads back to the same table.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <vnet/services/dhcp_server.hpp>
#include <vnet/wire/dhcp.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/udp.hpp>
#include <vnet/wire/vlan.hpp>

namespace {

using namespace vnet;

svc::dhcp_server& the_server() {
    static svc::dhcp_server s = [] {
        svc::dhcp_server_config c;
        c.subnet = ipv4_prefix(ipv4_address(10, 0, 0, 0), 24);
        c.server_address = ipv4_address(10, 0, 0, 1);
        c.server_mac = mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, 0x01);
        c.range_first = ipv4_address(10, 0, 0, 100);
        c.range_last = ipv4_address(10, 0, 0, 107);
        c.routers = {c.server_address};
        c.dns_servers = {c.server_address};
        c.domain_name = "mshome.net";
        c.domain_search = {"mshome.net"};
        c.static_routes = {{ipv4_prefix(ipv4_address(192, 168, 0, 0), 16), ipv4_address(10, 0, 0, 2)}};
        c.lease_time = std::chrono::seconds(300);
        c.offer_hold = std::chrono::seconds(30);
        c.conflict_hold = std::chrono::seconds(120);
        c.authoritative = true;
        c.reservations = {{mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, 0x10), ipv4_address(10, 0, 0, 10), "eflow"}};
        c.mac_filter = svc::dhcp_mac_filter::deny;
        c.mac_filter_list = {mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, 0x66)};
        auto made = svc::dhcp_server::make(c);
        if (!made) __builtin_trap();
        return std::move(*made);
    }();
    return s;
}

struct handed {
    std::uint64_t mac = 0;
    svc::dhcp_time until{};
};

std::unordered_map<std::uint32_t, handed>& shadow() {
    static std::unordered_map<std::uint32_t, handed> m;
    return m;
}

void forget_mac(std::uint64_t mac) {
    auto& sh = shadow();
    for (auto it = sh.begin(); it != sh.end();) {
        if (it->second.mac == mac) it = sh.erase(it);
        else ++it;
    }
}

/// The invariant on one reply to `mac`.
void check_reply(const wire::dhcp_repr& r, svc::dhcp_time now) {
    if (!r.message_type) __builtin_trap();
    const auto type = *r.message_type;
    if (type != wire::dhcp_message_type::offer && type != wire::dhcp_message_type::ack) return;
    if (r.yiaddr.is_unspecified()) return;  // an ACK to DHCPINFORM hands out nothing
    const auto m = r.client_mac();
    if (!m) __builtin_trap();
    const auto mac = m->to_u64();
    auto& sh = shadow();
    if (auto it = sh.find(r.yiaddr.to_u32()); it != sh.end() && it->second.mac != mac && now < it->second.until)
        __builtin_trap();  // handed to a second MAC while the first one's offer / lease runs
    forget_mac(mac);       // the server keeps one address per client
    const auto secs = type == wire::dhcp_message_type::ack ? (r.lease_time ? *r.lease_time : 0u) : 30u;
    sh[r.yiaddr.to_u32()] = handed{mac, now + std::chrono::seconds(secs)};
}

/// A RELEASE / DECLINE / REQUEST-for-another-server the server acted on frees the client's address.
void note_absorbed(const wire::dhcp_view& msg) {
    if (auto m = msg.client_mac()) forget_mac(m->to_u64());
}

void check_frame(bytes_view f) {
    auto eth = wire::frame_view::parse(f);
    if (!eth || eth->ethertype() != wire::ethertype::ipv4) __builtin_trap();
    auto ip = wire::ipv4_view::parse(eth->payload());
    if (!ip || !ip->checksum_ok()) __builtin_trap();
    auto udp = wire::udp_view::parse(ip->payload());
    if (!udp || !udp->checksum_ok(ip->src(), ip->dst()) || udp->src_port() != wire::dhcp_port::server) __builtin_trap();
    auto d = wire::dhcp_view::parse(udp->payload());
    if (!d || d->op() != wire::bootp_op::reply) __builtin_trap();
}

void check_table(const svc::dhcp_server& s) {
    if (!s.leases().consistent()) __builtin_trap();
    const auto text = s.save_leases();
    auto back = svc::dhcp_lease_table::load(text, s.config().subnet);
    if (!back || back->save() != text) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static svc::dhcp_time now = svc::dhcp_time(std::chrono::seconds(1'700'000'000));
    static svc::dhcp_reply reply;
    static std::vector<std::byte> out(svc::dhcp_server::max_frame_len);
    const std::uint8_t ctl = data[0];
    now += std::chrono::seconds(4 * (ctl >> 2));
    std::vector<std::byte> in(size - 1);
    for (std::size_t i = 1; i < size; ++i) in[i - 1] = std::byte{data[i]};
    auto& s = the_server();

    switch (ctl & 3) {
        case 0:
        case 3: {
            auto v = wire::dhcp_view::parse(bytes_view(in));
            if (!v) break;
            svc::dhcp_ingress ing;
            ing.src_mac = v->client_mac().value_or(mac_address(0x02, 0, 0, 0, 0, 1));
            if ((ctl & 3) == 3) {
                ing.src_ip = v->ciaddr();
                ing.dst_ip = s.config().server_address;
            }
            const auto r = s.handle(*v, ing, now, reply);
            if (r) check_reply(reply.message, now);
            else if (r.outcome == svc::dhcp_outcome::absorbed) note_absorbed(*v);
            else if (r.drop == svc::dhcp_drop::count_) __builtin_trap();
            break;
        }
        case 1: {
            const auto r = s.handle_frame(bytes_view(in), now, out);
            if (r) {
                check_frame(bytes_view(out).first(r.length));
                auto eth = wire::frame_view::parse(bytes_view(out).first(r.length));
                auto ip = wire::ipv4_view::parse(eth->payload());
                auto udp = wire::udp_view::parse(ip->payload());
                auto d = wire::dhcp_view::parse(udp->payload());
                auto repr = wire::dhcp_repr::parse(*d);
                if (!repr) __builtin_trap();
                check_reply(*repr, now);
            } else if (r.result.outcome == svc::dhcp_outcome::absorbed) {
                auto eth = wire::frame_view::parse(bytes_view(in));
                auto ip = wire::ipv4_view::parse(eth->payload());
                auto udp = wire::udp_view::parse(ip->payload());
                auto d = wire::dhcp_view::parse(udp->payload());
                note_absorbed(*d);
            } else if (r.result.drop == svc::dhcp_drop::count_) {
                __builtin_trap();
            }
            break;
        }
        case 2: {
            const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
            auto t = svc::dhcp_lease_table::load(text);
            if (t) {
                if (!t->consistent()) __builtin_trap();
                auto again = svc::dhcp_lease_table::load(t->save());
                if (!again || again->sorted() != t->sorted()) __builtin_trap();
            } else if (t.error().line == 0 || t.error().what.empty()) {
                __builtin_trap();
            }
            break;
        }
    }
    check_table(s);
    return 0;
}
