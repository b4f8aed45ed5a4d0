// vnet/wire/dissect.hpp - decode every layer of a frame into named fields.
//
// The dissector walks a frame with the codecs' views (Ethernet, 802.1Q/QinQ, ARP, IPv4,
// ICMPv4, IPv6 with extension headers, ICMPv6/NDP/MLD, UDP, TCP, DHCP, DNS) and records
// each field under a stable dotted name ("eth.src", "ip.ttl", "udp.dport", "dhcp.msgtype",
// "dns.qname", ...), plus a tcpdump-like one-line summary. A malformed layer stops the
// walk and is reported in `error` ("ip.total_length: bad length"); the fields of the
// layers before it stay. This is a tool-level API: it allocates (strings, vectors), unlike
// the views it is built on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/dhcp.hpp>
#include <vnet/wire/dns.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/icmpv4.hpp>
#include <vnet/wire/icmpv6.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/ipv6.hpp>
#include <vnet/wire/ndp.hpp>
#include <vnet/wire/tcp.hpp>
#include <vnet/wire/udp.hpp>
#include <vnet/wire/vlan.hpp>

namespace vnet::wire {

/// A field value: a number, a flag, text (addresses are text), or a list of texts.
using field_value = std::variant<std::uint64_t, bool, std::string, std::vector<std::string>>;

struct dissected_field {
    std::string name;
    field_value value;
};

struct frame_dissection {
    std::vector<std::string> layers;  // "eth", "vlan", "ip", "udp", "dns", ...
    std::vector<dissected_field> fields;
    std::string summary;
    std::optional<vnet::error> error;

    const field_value* find(std::string_view name) const {
        for (auto& f : fields)
            if (f.name == name) return &f.value;
        return nullptr;
    }
};

/// The text of a value as tshark-like plain text ("1", "true", "a,b").
inline std::string field_text(const field_value& v) {
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::uint64_t>) return fmt::format("{}", x);
            else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
            else if constexpr (std::is_same_v<T, std::string>) return x;
            else return fmt::format("{}", fmt::join(x, ","));
        },
        v);
}

namespace detail {

class dissector {
public:
    frame_dissection run(bytes_view frame) {
        auto f = frame_view::parse(frame);
        if (!f) return stop(f.error());
        layer("eth");
        put("eth.dst", fmt::format("{}", f->dst()));
        put("eth.src", fmt::format("{}", f->src()));
        put("eth.type", std::uint64_t{f->outer_ethertype()});
        summary_ = fmt::format("{} > {}", f->src(), f->dst());
        if (f->tag_count() > 0) {
            layer("vlan");
            std::vector<std::string> ids;
            for (std::size_t i = 0; i < f->tag_count(); ++i) ids.push_back(fmt::format("{}", f->tag(i).vid));
            put("vlan.id", std::uint64_t{f->tag(0).vid});
            put("vlan.pcp", std::uint64_t{f->tag(0).pcp});
            put("vlan.dei", f->tag(0).dei);
            if (f->tag_count() > 1) put("vlan.inner_id", std::uint64_t{f->tag(1).vid});
            put("vlan.etype", std::uint64_t{f->ethertype()});
            summary_ += f->tag_count() > 1 ? fmt::format(", vlan {}/{}", ids[0], ids[1]) : fmt::format(", vlan {}", ids[0]);
        }
        switch (f->ethertype()) {
            case ethertype::arp: arp(f->payload()); break;
            case ethertype::ipv4: ipv4(f->payload()); break;
            case ethertype::ipv6: ipv6(f->payload()); break;
            default:
                summary_ += f->ethertype() < ethertype::min_ethertype
                                ? fmt::format(", 802.3 length {}", f->ethertype())
                                : fmt::format(", ethertype 0x{:04x}, length {}", f->ethertype(), frame.size());
        }
        return finish();
    }

private:
    void layer(const char* l) { d_.layers.emplace_back(l); }
    void put(std::string name, field_value v) { d_.fields.push_back({std::move(name), std::move(v)}); }
    frame_dissection stop(const vnet::error& e) {
        d_.error = e;
        return finish();
    }
    frame_dissection finish() {
        if (d_.error) summary_ += fmt::format(" [malformed: {}]", d_.error->message());
        d_.summary = std::move(summary_);
        return std::move(d_);
    }
    void fail(const vnet::error& e) { d_.error = e; }

    void arp(bytes_view b) {
        auto a = arp_view::parse(b);
        if (!a) return fail(a.error());
        layer("arp");
        put("arp.opcode", std::uint64_t{a->operation()});
        put("arp.src.mac", fmt::format("{}", a->sender_mac()));
        put("arp.src.ip", fmt::format("{}", a->sender_ip()));
        put("arp.dst.mac", fmt::format("{}", a->target_mac()));
        put("arp.dst.ip", fmt::format("{}", a->target_ip()));
        if (a->is_request())
            summary_ += a->is_probe() ? fmt::format(", ARP, Probe who-has {}", a->target_ip())
                                      : fmt::format(", ARP, Request who-has {} tell {}", a->target_ip(), a->sender_ip());
        else if (a->is_reply()) summary_ += fmt::format(", ARP, Reply {} is-at {}", a->sender_ip(), a->sender_mac());
        else summary_ += fmt::format(", ARP, operation {}", a->operation());
    }

    void ipv4(bytes_view b) {
        auto ip = ipv4_view::parse(b);
        if (!ip) return fail(ip.error());
        layer("ip");
        put("ip.version", std::uint64_t{ip->version()});
        put("ip.hdr_len", std::uint64_t{ip->header_len()});
        put("ip.dscp", std::uint64_t{ip->dscp()});
        put("ip.ecn", std::uint64_t{ip->ecn()});
        put("ip.len", std::uint64_t{ip->total_length()});
        put("ip.id", std::uint64_t{ip->identification()});
        put("ip.df", ip->dont_fragment());
        put("ip.mf", ip->more_fragments());
        put("ip.frag_offset", std::uint64_t{ip->fragment_offset()});
        put("ip.ttl", std::uint64_t{ip->ttl()});
        put("ip.proto", std::uint64_t{ip->protocol()});
        put("ip.checksum", std::uint64_t{ip->checksum()});
        put("ip.checksum_ok", ip->checksum_ok());
        put("ip.src", fmt::format("{}", ip->src()));
        put("ip.dst", fmt::format("{}", ip->dst()));
        if (!ip->is_first_fragment()) {
            summary_ += fmt::format(", IPv4 {} > {}: fragment offset {}, length {}", ip->src(), ip->dst(), ip->fragment_offset(),
                                    ip->payload_len());
            return;
        }
        const auto src = fmt::format("{}", ip->src()), dst = fmt::format("{}", ip->dst());
        switch (ip->protocol()) {
            case ip_protocol::icmp: icmpv4(ip->payload(), src, dst); break;
            case ip_protocol::udp:
                udp(ip->payload(), src, dst,
                    pseudo_header_v4(ip->src(), ip->dst(), ip_protocol::udp, static_cast<std::uint16_t>(ip->payload_len())),
                    true);
                break;
            case ip_protocol::tcp:
                tcp(ip->payload(), src, dst,
                    pseudo_header_v4(ip->src(), ip->dst(), ip_protocol::tcp, static_cast<std::uint16_t>(ip->payload_len())));
                break;
            default:
                summary_ += fmt::format(", IPv4 {} > {}: protocol {}, length {}", src, dst, ip->protocol(), ip->payload_len());
        }
    }

    void icmpv4(bytes_view b, const std::string& src, const std::string& dst) {
        auto m = icmpv4_view::parse(b);
        if (!m) return fail(m.error());
        layer("icmp");
        put("icmp.type", std::uint64_t{m->type()});
        put("icmp.code", std::uint64_t{m->code()});
        put("icmp.checksum", std::uint64_t{m->checksum()});
        put("icmp.checksum_ok", m->checksum_ok());
        summary_ += fmt::format(", IPv4 {} > {}: ICMP", src, dst);
        if (m->is_echo_request() || m->is_echo_reply()) {
            put("icmp.id", std::uint64_t{m->identifier()});
            put("icmp.seq", std::uint64_t{m->sequence()});
            summary_ += fmt::format(" echo {}, id {}, seq {}, length {}", m->is_echo_request() ? "request" : "reply",
                                    m->identifier(), m->sequence(), b.size());
            return;
        }
        // Error messages read as tcpdump prints them: what was unreachable, from the quoted
        // datagram ("ICMP 198.51.100.10 udp port 1883 unreachable").
        std::optional<embedded_ipv4_view> e;
        if (m->is_error())
            if (auto q = m->embedded_ipv4()) e = *q;
        const bool ports = e && (e->protocol() == ip_protocol::udp || e->protocol() == ip_protocol::tcp ||
                                 e->protocol() == ip_protocol::sctp);
        switch (m->type()) {
            case icmpv4_type::dest_unreachable:
                summary_ += unreachable_text(m->code(), e, ports);
                if (m->code() == icmpv4_unreachable::fragmentation_needed) {
                    put("icmp.mtu", std::uint64_t{m->next_hop_mtu()});
                    summary_ += fmt::format(" (mtu {})", m->next_hop_mtu());
                }
                break;
            case icmpv4_type::time_exceeded:
                summary_ += m->code() == icmpv4_time_exceeded_code::ttl_exceeded ? " time exceeded in-transit"
                            : m->code() == icmpv4_time_exceeded_code::reassembly_time_exceeded
                                ? " ip reassembly time exceeded"
                                : fmt::format(" time exceeded, code {}", m->code());
                break;
            case icmpv4_type::redirect:
                put("icmp.gateway", fmt::format("{}", m->gateway()));
                summary_ += fmt::format(" redirect to {}", m->gateway());
                break;
            default: summary_ += fmt::format(" type {}, code {}", m->type(), m->code());
        }
        if (!e) return;
        put("icmp.orig.src", fmt::format("{}", e->src()));
        put("icmp.orig.dst", fmt::format("{}", e->dst()));
        put("icmp.orig.proto", std::uint64_t{e->protocol()});
        put("icmp.orig.ttl", std::uint64_t{e->ttl()});
        if (ports) {
            put("icmp.orig.sport", std::uint64_t{e->source_port()});
            put("icmp.orig.dport", std::uint64_t{e->destination_port()});
            summary_ += fmt::format(" (for {} {}:{} > {}:{}, ttl {})", proto_name(e->protocol()), e->src(), e->source_port(),
                                    e->dst(), e->destination_port(), e->ttl());
        } else {
            summary_ += fmt::format(" (for {} {} > {}, ttl {})", proto_name(e->protocol()), e->src(), e->dst(), e->ttl());
        }
    }

    /// "udp", "tcp", "icmp", "sctp" or "proto N", as tcpdump names the quoted protocol.
    static std::string proto_name(std::uint8_t p) {
        switch (p) {
            case ip_protocol::udp: return "udp";
            case ip_protocol::tcp: return "tcp";
            case ip_protocol::icmp: return "icmp";
            case ip_protocol::sctp: return "sctp";
            default: return fmt::format("proto {}", p);
        }
    }

    /// tcpdump's words for a destination unreachable (print-icmp.c): " host 10.0.0.1
    /// unreachable", " 198.51.100.10 udp port 1883 unreachable", " 10.0.0.1 unreachable -
    /// need to frag", " host 10.0.0.1 unreachable - admin prohibited filter", ...
    static std::string unreachable_text(std::uint8_t code, const std::optional<embedded_ipv4_view>& e, bool ports) {
        namespace u = icmpv4_unreachable;
        if (!e) return fmt::format(" unreachable, code {}", code);
        const auto dst = e->dst();
        switch (code) {
            case u::net: return fmt::format(" net {} unreachable", dst);
            case u::host: return fmt::format(" host {} unreachable", dst);
            case u::protocol: return fmt::format(" {} protocol {} unreachable", dst, e->protocol());
            case u::port:
                if (ports)
                    return fmt::format(" {} {} port {} unreachable", dst, proto_name(e->protocol()), e->destination_port());
                return fmt::format(" {} {} port unreachable", dst, proto_name(e->protocol()));
            case u::fragmentation_needed: return fmt::format(" {} unreachable - need to frag", dst);
            case u::net_prohibited: return fmt::format(" net {} unreachable - admin prohibited", dst);
            case u::host_prohibited: return fmt::format(" host {} unreachable - admin prohibited", dst);
            case u::communication_prohibited: return fmt::format(" host {} unreachable - admin prohibited filter", dst);
            default: return fmt::format(" {} unreachable, code {}", dst, code);
        }
    }

    void ipv6(bytes_view b) {
        auto ip = ipv6_view::parse(b);
        if (!ip) return fail(ip.error());
        layer("ipv6");
        put("ipv6.version", std::uint64_t{ip->version()});
        put("ipv6.tclass", std::uint64_t{ip->traffic_class()});
        put("ipv6.flow", std::uint64_t{ip->flow_label()});
        put("ipv6.plen", std::uint64_t{ip->payload_length()});
        put("ipv6.nxt", std::uint64_t{ip->next_header()});
        put("ipv6.hlim", std::uint64_t{ip->hop_limit()});
        put("ipv6.src", fmt::format("{}", ip->src()));
        put("ipv6.dst", fmt::format("{}", ip->dst()));
        auto ul = ip->upper_layer();
        if (!ul) return fail(ul.error());
        std::vector<std::string> ext;
        for (auto h : ip->extension_headers())
            if (h) ext.push_back(fmt::format("{}", h->type));
        if (!ext.empty()) put("ipv6.ext", ext);
        const auto src = fmt::format("{}", ip->src()), dst = fmt::format("{}", ip->dst());
        if (ul->fragmented && ul->fragment_offset != 0) {
            summary_ += fmt::format(", IPv6 {} > {}: fragment", src, dst);
            return;
        }
        const auto plen = static_cast<std::uint32_t>(ul->payload.size());
        switch (ul->protocol) {
            case ip_protocol::icmpv6: icmpv6(*ip, ul->payload, src, dst); break;
            case ip_protocol::udp:
                udp(ul->payload, src, dst, pseudo_header_v6(ip->src(), ip->dst(), ip_protocol::udp, plen), false);
                break;
            case ip_protocol::tcp:
                tcp(ul->payload, src, dst, pseudo_header_v6(ip->src(), ip->dst(), ip_protocol::tcp, plen));
                break;
            default: summary_ += fmt::format(", IPv6 {} > {}: next header {}", src, dst, ul->protocol);
        }
    }

    void icmpv6(const ipv6_view& ip, bytes_view b, const std::string& src, const std::string& dst) {
        auto m = icmpv6_view::parse(b);
        if (!m) return fail(m.error());
        layer("icmpv6");
        put("icmpv6.type", std::uint64_t{m->msg_type()});
        put("icmpv6.code", std::uint64_t{m->code()});
        put("icmpv6.checksum", std::uint64_t{m->checksum()});
        put("icmpv6.checksum_ok", m->checksum_ok(ip.src(), ip.dst()));
        summary_ += fmt::format(", IPv6 {} > {}: ICMP6", src, dst);
        switch (m->msg_type()) {
            case icmpv6_type::echo_request:
            case icmpv6_type::echo_reply:
                put("icmpv6.echo.id", std::uint64_t{m->echo_identifier()});
                put("icmpv6.echo.seq", std::uint64_t{m->echo_sequence()});
                summary_ += fmt::format(", echo {}, id {}, seq {}",
                                        m->msg_type() == icmpv6_type::echo_request ? "request" : "reply", m->echo_identifier(),
                                        m->echo_sequence());
                return;
            case icmpv6_type::packet_too_big:
                put("icmpv6.mtu", std::uint64_t{m->mtu()});
                summary_ += fmt::format(", packet too big, mtu {}", m->mtu());
                return;
            case icmpv6_type::mldv2_report: {
                put("icmpv6.mldv2.records", std::uint64_t{m->mldv2_record_count()});
                std::vector<std::string> groups;
                for (auto r : m->mldv2_records())
                    if (r) groups.push_back(fmt::format("{}", r->multicast_address()));
                put("icmpv6.mldv2.groups", groups);
                summary_ += fmt::format(", multicast listener report v2, {} group record(s)", m->mldv2_record_count());
                return;
            }
            case icmpv6_type::router_solicitation:
            case icmpv6_type::router_advertisement:
            case icmpv6_type::neighbor_solicitation:
            case icmpv6_type::neighbor_advertisement:
            case icmpv6_type::redirect: ndp(*m); return;
            default: summary_ += fmt::format(", type {}, code {}", m->msg_type(), m->code());
        }
    }

    void ndp(const icmpv6_view& m) {
        auto n = ndp_view::parse(m);
        if (!n) return fail(n.error());
        layer("ndp");
        switch (n->msg_type()) {
            case icmpv6_type::router_solicitation: summary_ += ", router solicitation"; break;
            case icmpv6_type::router_advertisement:
                put("icmpv6.nd.ra.cur_hop_limit", std::uint64_t{n->cur_hop_limit()});
                put("icmpv6.nd.ra.managed", n->managed_flag());
                put("icmpv6.nd.ra.other", n->other_flag());
                put("icmpv6.nd.ra.router_lifetime", std::uint64_t{n->router_lifetime()});
                put("icmpv6.nd.ra.reachable_time", std::uint64_t{n->reachable_time()});
                put("icmpv6.nd.ra.retrans_timer", std::uint64_t{n->retrans_timer()});
                summary_ += fmt::format(", router advertisement, lifetime {}s", n->router_lifetime());
                break;
            case icmpv6_type::neighbor_solicitation:
                put("icmpv6.nd.target", fmt::format("{}", n->target()));
                summary_ += fmt::format(", neighbor solicitation, who has {}", n->target());
                break;
            case icmpv6_type::neighbor_advertisement:
                put("icmpv6.nd.target", fmt::format("{}", n->target()));
                put("icmpv6.nd.na.router", n->router_flag());
                put("icmpv6.nd.na.solicited", n->solicited_flag());
                put("icmpv6.nd.na.override", n->override_flag());
                summary_ += fmt::format(", neighbor advertisement, tgt is {}", n->target());
                break;
            case icmpv6_type::redirect:
                put("icmpv6.nd.target", fmt::format("{}", n->target()));
                put("icmpv6.nd.destination", fmt::format("{}", n->destination()));
                summary_ += fmt::format(", redirect, {} to {}", n->destination(), n->target());
                break;
            default: break;
        }
        std::vector<std::string> types;
        for (auto o : n->options()) {
            if (!o) return fail(o.error());
            types.push_back(fmt::format("{}", o->type()));
            switch (o->type()) {
                case ndp_option_type::source_link_layer_address:
                    put("icmpv6.nd.opt.src_lladdr", fmt::format("{}", o->link_layer_address()));
                    break;
                case ndp_option_type::target_link_layer_address:
                    put("icmpv6.nd.opt.tgt_lladdr", fmt::format("{}", o->link_layer_address()));
                    break;
                case ndp_option_type::prefix_information:
                    put("icmpv6.nd.opt.prefix", fmt::format("{}/{}", o->prefix(), o->prefix_length()));
                    break;
                case ndp_option_type::mtu: put("icmpv6.nd.opt.mtu", std::uint64_t{o->mtu()}); break;
                default: break;
            }
        }
        if (!types.empty()) put("icmpv6.nd.opt.types", types);
    }

    void udp(bytes_view b, const std::string& src, const std::string& dst, const checksum_acc& pseudo, bool v4) {
        auto u = udp_view::parse(b);
        if (!u) return fail(u.error());
        layer("udp");
        put("udp.sport", std::uint64_t{u->src_port()});
        put("udp.dport", std::uint64_t{u->dst_port()});
        put("udp.len", std::uint64_t{u->length()});
        put("udp.checksum", std::uint64_t{u->checksum()});
        put("udp.checksum_ok", u->checksum_ok(pseudo, v4 ? udp_zero_checksum::none : udp_zero_checksum::invalid));
        const auto s = fmt::format("{}.{} > {}.{}", src, u->src_port(), dst, u->dst_port());
        const auto sp = u->src_port(), dp = u->dst_port();
        if (sp == well_known_port::dhcp_server || dp == well_known_port::dhcp_server || sp == well_known_port::dhcp_client ||
            dp == well_known_port::dhcp_client) {
            if (dhcp(u->payload(), s)) return;
        }
        if (sp == well_known_port::dns || dp == well_known_port::dns) {
            if (dns(u->payload(), s)) return;
        }
        summary_ += fmt::format(", {}: UDP, length {}", s, u->payload().size());
    }

    void tcp(bytes_view b, const std::string& src, const std::string& dst, const checksum_acc& pseudo) {
        auto t = tcp_view::parse(b);
        if (!t) return fail(t.error());
        layer("tcp");
        put("tcp.sport", std::uint64_t{t->src_port()});
        put("tcp.dport", std::uint64_t{t->dst_port()});
        put("tcp.seq", std::uint64_t{t->seq_number()});
        put("tcp.ack", std::uint64_t{t->ack_number()});
        put("tcp.hdr_len", std::uint64_t{t->header_len()});
        put("tcp.flags", std::uint64_t{t->flags()});
        put("tcp.flags_str", std::string(tcpdump_flags(t->flags()).str()));
        put("tcp.window", std::uint64_t{t->window_len()});
        put("tcp.checksum", std::uint64_t{t->checksum()});
        put("tcp.checksum_ok", t->checksum_ok(pseudo));
        put("tcp.urgent", std::uint64_t{t->urgent_pointer()});
        put("tcp.len", std::uint64_t{t->payload().size()});
        std::vector<std::string> opts;
        for (auto o : t->options()) {
            if (!o) return fail(o.error());
            switch (o->kind()) {
                case tcp_option_kind::eol: break;
                case tcp_option_kind::nop: opts.emplace_back("nop"); break;
                case tcp_option_kind::mss:
                    put("tcp.options.mss", std::uint64_t{o->mss()});
                    opts.push_back(fmt::format("mss {}", o->mss()));
                    break;
                case tcp_option_kind::window_scale:
                    put("tcp.options.wscale", std::uint64_t{o->window_scale_raw()});
                    opts.push_back(fmt::format("wscale {}", o->window_scale_raw()));
                    break;
                case tcp_option_kind::sack_permitted:
                    put("tcp.options.sack_perm", true);
                    opts.emplace_back("sackOK");
                    break;
                case tcp_option_kind::sack:
                    put("tcp.options.sack_blocks", std::uint64_t{o->sack_block_count()});
                    opts.push_back(fmt::format("sack {}", o->sack_block_count()));
                    break;
                case tcp_option_kind::timestamps:
                    put("tcp.options.ts.val", std::uint64_t{o->timestamps().value});
                    put("tcp.options.ts.ecr", std::uint64_t{o->timestamps().echo_reply});
                    opts.push_back(fmt::format("TS val {} ecr {}", o->timestamps().value, o->timestamps().echo_reply));
                    break;
                default: opts.push_back(fmt::format("opt-{}", o->kind()));
            }
        }
        summary_ += fmt::format(", {}.{} > {}.{}: Flags [{}], seq {}", src, t->src_port(), dst, t->dst_port(),
                                tcpdump_flags(t->flags()).str(), t->seq_number());
        if (t->ack()) summary_ += fmt::format(", ack {}", t->ack_number());
        summary_ += fmt::format(", win {}", t->window_len());
        if (!opts.empty()) {
            summary_ += fmt::format(", options [{}]", fmt::join(opts, ","));
        }
        summary_ += fmt::format(", length {}", t->payload().size());
    }

    /// Returns false when the payload is not DHCP (the caller prints plain UDP).
    bool dhcp(bytes_view b, const std::string& endpoints);
    bool dns(bytes_view b, const std::string& endpoints);

    frame_dissection d_;
    std::string summary_;
};

}  // namespace detail

inline bool detail::dissector::dhcp(bytes_view b, const std::string& endpoints) {
    auto m = dhcp_view::parse(b);
    if (!m) {
        fail(m.error());
        summary_ += fmt::format(", {}: BOOTP/DHCP", endpoints);
        return true;
    }
    layer("dhcp");
    put("dhcp.op", std::uint64_t{m->op()});
    put("dhcp.xid", std::uint64_t{m->xid()});
    put("dhcp.secs", std::uint64_t{m->secs()});
    put("dhcp.broadcast", m->broadcast());
    put("dhcp.ciaddr", fmt::format("{}", m->ciaddr()));
    put("dhcp.yiaddr", fmt::format("{}", m->yiaddr()));
    put("dhcp.siaddr", fmt::format("{}", m->siaddr()));
    put("dhcp.giaddr", fmt::format("{}", m->giaddr()));
    if (auto mac = m->client_mac()) put("dhcp.chaddr", fmt::format("{}", *mac));
    std::string what = m->op() == bootp_op::request ? "Request" : "Reply";  // options were checked by parse()
    auto opt_addr = [&](const char* name, result<ipv4_address> a) {
        if (a) put(name, fmt::format("{}", *a));
    };
    auto opt_u32 = [&](const char* name, result<std::uint32_t> v) {
        if (v) put(name, std::uint64_t{*v});
    };
    if (m->has_option(dhcp_option_code::message_type)) {
        auto t = m->message_type();
        if (!t) {
            fail(t.error());
        } else {
            put("dhcp.msgtype", std::uint64_t{static_cast<std::uint8_t>(*t)});
            what = std::string(to_string(*t));
        }
    }
    opt_addr("dhcp.requested_ip", m->requested_address());
    opt_addr("dhcp.server_id", m->server_identifier());
    opt_addr("dhcp.subnet_mask", m->subnet_mask());
    opt_u32("dhcp.lease_time", m->lease_time());
    opt_u32("dhcp.renewal_time", m->renewal_time());
    opt_u32("dhcp.rebinding_time", m->rebinding_time());
    auto addr_list = [&](const char* name, std::size_t count, auto get) {
        if (count == 0) return;
        std::vector<ipv4_address> addrs(count);
        auto n = get(std::span<ipv4_address>(addrs));
        if (!n) return;
        std::vector<std::string> texts;
        for (std::size_t i = 0; i < *n; ++i) texts.push_back(fmt::format("{}", addrs[i]));
        put(name, texts);
    };
    addr_list("dhcp.router", m->router_count(), [&](std::span<ipv4_address> o) { return m->routers(o); });
    addr_list("dhcp.dns", m->dns_server_count(), [&](std::span<ipv4_address> o) { return m->dns_servers(o); });
    std::array<char, 256> text{};
    if (auto h = m->host_name(text)) put("dhcp.hostname", std::string(*h));
    if (auto d = m->domain_name(text)) put("dhcp.domain", std::string(*d));
    std::array<std::byte, 256> raw{};
    if (auto prl = m->parameter_request_list(raw)) {
        std::vector<std::string> codes;
        for (auto c : *prl) codes.push_back(fmt::format("{}", static_cast<unsigned>(c)));
        put("dhcp.param_list", codes);
    }
    summary_ += fmt::format(", {}: BOOTP/DHCP, {}", endpoints, what);
    if (auto mac = m->client_mac()) summary_ += fmt::format(" {} {}", m->op() == bootp_op::request ? "from" : "for", *mac);
    if (!m->yiaddr().is_unspecified()) summary_ += fmt::format(", your address {}", m->yiaddr());
    return true;
}

inline bool detail::dissector::dns(bytes_view b, const std::string& endpoints) {
    auto m = dns_view::parse(b);
    if (!m) {
        fail(m.error());
        summary_ += fmt::format(", {}: DNS", endpoints);
        return true;
    }
    layer("dns");
    auto h = m->header();
    put("dns.id", std::uint64_t{m->id()});
    put("dns.flags", std::uint64_t{m->flags()});
    put("dns.qr", h.qr);
    put("dns.opcode", std::uint64_t{h.opcode});
    put("dns.aa", h.aa);
    put("dns.tc", h.tc);
    put("dns.rd", h.rd);
    put("dns.ra", h.ra);
    put("dns.rcode", std::uint64_t{m->full_rcode()});
    put("dns.qdcount", std::uint64_t{m->qdcount()});
    put("dns.ancount", std::uint64_t{m->ancount()});
    put("dns.nscount", std::uint64_t{m->nscount()});
    put("dns.arcount", std::uint64_t{m->arcount()});
    std::string text = fmt::format(", {}: DNS {}{}", endpoints, m->id(), h.qr ? "" : (h.rd ? "+" : ""));
    bool first = true;
    for (auto q : m->questions()) {
        if (!q) {
            fail(q.error());
            summary_ += text;
            return true;
        }
        if (first) {
            put("dns.qname", q->name.to_string());
            put("dns.qtype", std::uint64_t{q->type});
            if (!h.qr) text += fmt::format(" {}? {}", dns_type_name(q->type), q->name.to_string());
            first = false;
        }
    }
    std::vector<std::string> answers, a, aaaa, cname, ptr, txt, srv, ns, mx;
    for (auto section : {dns_section::answer, dns_section::authority, dns_section::additional}) {
        for (auto r : m->records(section)) {
            if (!r) {
                fail(r.error());
                summary_ += text;
                return true;
            }
            std::string data;
            auto keep = [&](std::vector<std::string>& list, std::string v) {
                if (section == dns_section::answer) list.push_back(v);
                data = std::move(v);
            };
            result<bool> ok = true;
            switch (r->type) {
                case dns_type::a:
                    if (auto x = dns_a::parse(*r)) keep(a, fmt::format("{}", x->address));
                    else ok = unexpected(x.error());
                    break;
                case dns_type::aaaa:
                    if (auto x = dns_aaaa::parse(*r)) keep(aaaa, fmt::format("{}", x->address));
                    else ok = unexpected(x.error());
                    break;
                case dns_type::cname:
                    if (auto x = dns_single_name<dns_type::cname>::parse(*r)) keep(cname, x->target.to_string());
                    else ok = unexpected(x.error());
                    break;
                case dns_type::ptr:
                    if (auto x = dns_single_name<dns_type::ptr>::parse(*r)) keep(ptr, x->target.to_string());
                    else ok = unexpected(x.error());
                    break;
                case dns_type::ns:
                    if (auto x = dns_single_name<dns_type::ns>::parse(*r)) keep(ns, x->target.to_string());
                    else ok = unexpected(x.error());
                    break;
                case dns_type::mx:
                    if (auto x = dns_mx::parse(*r)) keep(mx, fmt::format("{} {}", x->preference, x->exchange.to_string()));
                    else ok = unexpected(x.error());
                    break;
                case dns_type::srv:
                    if (auto x = dns_srv::parse(*r))
                        keep(srv, fmt::format("{} {} {} {}", x->priority, x->weight, x->port, x->target.to_string()));
                    else ok = unexpected(x.error());
                    break;
                case dns_type::txt:
                    if (auto x = dns_txt_view::parse(*r)) {
                        std::string joined;
                        for (auto part : *x) {
                            if (!part) break;
                            joined += (joined.empty() ? "\"" : " \"");
                            for (auto c : *part) joined += static_cast<char>(c);
                            joined += '"';
                        }
                        keep(txt, joined);
                    } else {
                        ok = unexpected(x.error());
                    }
                    break;
                case dns_type::opt:
                    if (auto x = dns_opt::parse(*r)) {
                        put("dns.edns.udp_size", std::uint64_t{x->udp_payload_size});
                        put("dns.edns.do", x->dnssec_ok);
                    } else {
                        ok = unexpected(x.error());
                    }
                    break;
                default: data = fmt::format("{} bytes", r->rdata.size());
            }
            if (!ok) {
                fail(ok.error());
                summary_ += text;
                return true;
            }
            if (section == dns_section::answer)
                answers.push_back(fmt::format("{} {} {}", r->name.to_string(), dns_type_name(r->type), data));
        }
    }
    if (!answers.empty()) put("dns.answers", answers);
    if (!a.empty()) put("dns.a", a);
    if (!aaaa.empty()) put("dns.aaaa", aaaa);
    if (!cname.empty()) put("dns.cname", cname);
    if (!ptr.empty()) put("dns.ptr", ptr);
    if (!ns.empty()) put("dns.ns", ns);
    if (!mx.empty()) put("dns.mx", mx);
    if (!srv.empty()) put("dns.srv", srv);
    if (!txt.empty()) put("dns.txt", txt);
    if (h.qr) {
        text += m->full_rcode() == 0
                    ? fmt::format(" {}/{}/{}", m->ancount(), m->nscount(), m->arcount())
                    : fmt::format(" rcode {} {}/{}/{}", m->full_rcode(), m->ancount(), m->nscount(), m->arcount());
        for (auto& x : answers) text += " " + x;
    }
    summary_ += text;
    return true;
}

/// Decodes every layer of an Ethernet frame.
inline frame_dissection dissect_frame(bytes_view frame) { return detail::dissector{}.run(frame); }

}  // namespace vnet::wire
