// vnet decode FILE.pcap --compare-tshark: decode every frame with vnet and with tshark
// (an independent dissector nobody here wrote) and compare every field both decoders name.
// Prints one line per field (how many frames agreed, which disagreed) and exits 1 on any
// disagreement, or when no field could be compared at all.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vnet/wire/dissect.hpp>
#include <vnet/wire/pcap.hpp>

#include "commands.hpp"

namespace vnet::cli {

namespace {

/// How a vnet field relates to tshark's: which tshark fields, and whether all occurrences
/// (a list) or one of them is meant.
struct field_map {
    std::string_view vnet;
    std::vector<std::string_view> tshark;  // the first one that has a value is used
    bool list = false;
    std::size_t occurrence = 0;  // which one: 1 is the datagram an ICMP error quotes (ip.src of the inner header)
};

const std::vector<field_map>& mappings() {
    static const std::vector<field_map> m = {
        {"eth.dst", {"eth.dst"}},
        {"eth.src", {"eth.src"}},
        {"eth.type", {"eth.type"}},
        {"vlan.id", {"ieee8021ad.id", "vlan.id"}},
        {"vlan.pcp", {"ieee8021ad.priority", "vlan.priority"}},
        {"arp.opcode", {"arp.opcode"}},
        {"arp.src.mac", {"arp.src.hw_mac"}},
        {"arp.src.ip", {"arp.src.proto_ipv4"}},
        {"arp.dst.mac", {"arp.dst.hw_mac"}},
        {"arp.dst.ip", {"arp.dst.proto_ipv4"}},
        {"ip.version", {"ip.version"}},
        {"ip.hdr_len", {"ip.hdr_len"}},
        {"ip.dscp", {"ip.dsfield.dscp"}},
        {"ip.ecn", {"ip.dsfield.ecn"}},
        {"ip.len", {"ip.len"}},
        {"ip.id", {"ip.id"}},
        {"ip.df", {"ip.flags.df"}},
        {"ip.mf", {"ip.flags.mf"}},
        {"ip.ttl", {"ip.ttl"}},
        {"ip.proto", {"ip.proto"}},
        {"ip.checksum", {"ip.checksum"}},
        {"ip.src", {"ip.src"}},
        {"ip.dst", {"ip.dst"}},
        {"icmp.type", {"icmp.type"}},
        {"icmp.code", {"icmp.code"}},
        {"icmp.checksum", {"icmp.checksum"}},
        {"icmp.id", {"icmp.ident"}},
        {"icmp.seq", {"icmp.seq"}},
        {"icmp.mtu", {"icmp.mtu"}},
        {"icmp.orig.src", {"ip.src"}, false, 1},
        {"icmp.orig.dst", {"ip.dst"}, false, 1},
        {"icmp.orig.proto", {"ip.proto"}, false, 1},
        {"icmp.orig.ttl", {"ip.ttl"}, false, 1},
        {"icmp.orig.sport", {"udp.srcport", "tcp.srcport"}},
        {"icmp.orig.dport", {"udp.dstport", "tcp.dstport"}},
        {"ipv6.version", {"ipv6.version"}},
        {"ipv6.tclass", {"ipv6.tclass"}},
        {"ipv6.flow", {"ipv6.flow"}},
        {"ipv6.plen", {"ipv6.plen"}},
        {"ipv6.nxt", {"ipv6.nxt"}},
        {"ipv6.hlim", {"ipv6.hlim"}},
        {"ipv6.src", {"ipv6.src"}},
        {"ipv6.dst", {"ipv6.dst"}},
        {"icmpv6.type", {"icmpv6.type"}},
        {"icmpv6.code", {"icmpv6.code"}},
        {"icmpv6.checksum", {"icmpv6.checksum"}},
        {"icmpv6.echo.id", {"icmpv6.echo.identifier"}},
        {"icmpv6.echo.seq", {"icmpv6.echo.sequence_number"}},
        {"icmpv6.mtu", {"icmpv6.mtu"}},
        {"icmpv6.nd.target", {"icmpv6.nd.ns.target_address", "icmpv6.nd.na.target_address", "icmpv6.nd.rd.target_address"}},
        {"icmpv6.nd.ra.cur_hop_limit", {"icmpv6.nd.ra.cur_hop_limit"}},
        {"icmpv6.nd.ra.router_lifetime", {"icmpv6.nd.ra.router_lifetime"}},
        {"icmpv6.nd.ra.reachable_time", {"icmpv6.nd.ra.reachable_time"}},
        {"icmpv6.nd.ra.retrans_timer", {"icmpv6.nd.ra.retrans_timer"}},
        {"icmpv6.nd.ra.managed", {"icmpv6.nd.ra.flag.m"}},
        {"icmpv6.nd.ra.other", {"icmpv6.nd.ra.flag.o"}},
        {"icmpv6.nd.na.router", {"icmpv6.nd.na.flag.r"}},
        {"icmpv6.nd.na.solicited", {"icmpv6.nd.na.flag.s"}},
        {"icmpv6.nd.na.override", {"icmpv6.nd.na.flag.o"}},
        {"icmpv6.nd.opt.mtu", {"icmpv6.opt.mtu"}},
        {"icmpv6.mldv2.records", {"icmpv6.mldr.nb_mcast_records"}},
        {"icmpv6.mldv2.groups", {"icmpv6.mldr.mar.multicast_address"}, true},
        {"udp.sport", {"udp.srcport"}},
        {"udp.dport", {"udp.dstport"}},
        {"udp.len", {"udp.length"}},
        {"udp.checksum", {"udp.checksum"}},
        {"tcp.sport", {"tcp.srcport"}},
        {"tcp.dport", {"tcp.dstport"}},
        {"tcp.seq", {"tcp.seq_raw"}},
        {"tcp.ack", {"tcp.ack_raw"}},
        {"tcp.hdr_len", {"tcp.hdr_len"}},
        {"tcp.flags", {"tcp.flags"}},
        {"tcp.window", {"tcp.window_size_value"}},
        {"tcp.checksum", {"tcp.checksum"}},
        {"tcp.urgent", {"tcp.urgent_pointer"}},
        {"tcp.len", {"tcp.len"}},
        {"tcp.options.mss", {"tcp.options.mss_val"}},
        {"tcp.options.wscale", {"tcp.options.wscale.shift"}},
        {"tcp.options.ts.val", {"tcp.options.timestamp.tsval"}},
        {"tcp.options.ts.ecr", {"tcp.options.timestamp.tsecr"}},
        {"dhcp.op", {"dhcp.type"}},
        {"dhcp.xid", {"dhcp.id"}},
        {"dhcp.secs", {"dhcp.secs"}},
        {"dhcp.broadcast", {"dhcp.flags.bc"}},
        {"dhcp.ciaddr", {"dhcp.ip.client"}},
        {"dhcp.yiaddr", {"dhcp.ip.your"}},
        {"dhcp.siaddr", {"dhcp.ip.server"}},
        {"dhcp.giaddr", {"dhcp.ip.relay"}},
        {"dhcp.chaddr", {"dhcp.hw.mac_addr"}},
        {"dhcp.msgtype", {"dhcp.option.dhcp"}},
        {"dhcp.requested_ip", {"dhcp.option.requested_ip_address"}},
        {"dhcp.server_id", {"dhcp.option.dhcp_server_id"}},
        {"dhcp.subnet_mask", {"dhcp.option.subnet_mask"}},
        {"dhcp.lease_time", {"dhcp.option.ip_address_lease_time"}},
        {"dhcp.renewal_time", {"dhcp.option.renewal_time_value"}},
        {"dhcp.rebinding_time", {"dhcp.option.rebinding_time_value"}},
        {"dhcp.router", {"dhcp.option.router"}, true},
        {"dhcp.dns", {"dhcp.option.domain_name_server"}, true},
        {"dhcp.hostname", {"dhcp.option.hostname"}},
        {"dhcp.domain", {"dhcp.option.domain_name"}},
        {"dhcp.param_list", {"dhcp.option.request_list_item"}, true},
        {"dns.id", {"dns.id"}},
        {"dns.flags", {"dns.flags"}},
        {"dns.qr", {"dns.flags.response"}},
        {"dns.opcode", {"dns.flags.opcode"}},
        {"dns.tc", {"dns.flags.truncated"}},
        {"dns.rd", {"dns.flags.recdesired"}},
        {"dns.ra", {"dns.flags.recavail"}},
        {"dns.rcode", {"dns.flags.rcode"}},
        {"dns.qdcount", {"dns.count.queries"}},
        {"dns.ancount", {"dns.count.answers"}},
        {"dns.nscount", {"dns.count.auth_rr"}},
        {"dns.arcount", {"dns.count.add_rr"}},
        {"dns.qname", {"dns.qry.name"}},
        {"dns.qtype", {"dns.qry.type"}},
        {"dns.a", {"dns.a"}, true},
        {"dns.aaaa", {"dns.aaaa"}, true},
        {"dns.cname", {"dns.cname"}, true},
        {"dns.ptr", {"dns.ptr.domain_name"}, true},
        {"dns.edns.udp_size", {"dns.rr.udp_payload_size"}},
    };
    return m;
}

/// tshark prints numbers in decimal or 0x-hex and booleans as 1/0; vnet prints decimal and
/// true/false. Bring both to one form.
std::string normalise(std::string_view v) {
    if (v == "True" || v == "true") return "1";
    if (v == "False" || v == "false") return "0";
    if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        unsigned long long x = 0;
        for (char c : v.substr(2)) {
            int d = (c >= '0' && c <= '9')   ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
            if (d < 0) return std::string(v);
            x = x * 16 + static_cast<unsigned>(d);
        }
        return fmt::format("{}", x);
    }
    return std::string(v);
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        auto p = s.find(sep, start);
        out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
        if (p == std::string_view::npos) break;
        start = p + 1;
    }
    return out;
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'') q += "'\\''";
        else q += c;
    }
    return q + "'";
}

std::string vnet_value(const wire::field_value& v, bool list) {
    if (auto* b = std::get_if<bool>(&v)) return *b ? "1" : "0";
    if (list) {
        if (auto* l = std::get_if<std::vector<std::string>>(&v)) {
            std::vector<std::string> n;
            for (auto& e : *l) n.push_back(normalise(e));
            return fmt::format("{}", fmt::join(n, "|"));
        }
    }
    return normalise(wire::field_text(v));
}

}  // namespace

int run_compare_tshark(const decode_options& o) {
    // tshark's fields, one row per frame.
    std::vector<std::string_view> tshark_fields;
    std::map<std::string_view, std::size_t> column;
    for (auto& m : mappings())
        for (auto t : m.tshark)
            if (column.emplace(t, tshark_fields.size() + 1).second) tshark_fields.push_back(t);
    std::string cmd = "tshark -n -r " + shell_quote(o.file) +
                      " -T fields -E separator=/t -E occurrence=a -E aggregator='|' -e frame.number";
    for (auto t : tshark_fields) cmd += " -e " + std::string(t);
    cmd += " 2>/dev/null";
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
    if (!p) return report_error("decode --compare-tshark", "cannot run tshark");
    std::vector<std::vector<std::string>> rows;
    std::string line;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p.get())) {
        line += buf.data();
        if (!line.empty() && line.back() == '\n') {
            line.pop_back();
            rows.push_back(split(line, '\t'));
            line.clear();
        }
    }
    int status = ::pclose(p.release());
    if (status != 0 || rows.empty())
        return report_error("decode --compare-tshark", fmt::format("tshark could not read {} (is tshark installed?)", o.file));

    auto r = wire::pcap_reader::open(o.file);
    if (!r) return report_error(fmt::format("decode: {}", o.file), r.error().message);
    struct tally {
        std::size_t agree = 0;
        std::vector<std::string> disagree;
    };
    std::map<std::string_view, tally> per_field;
    std::size_t frame = 0, malformed = 0;
    for (;;) {
        auto rec = r->next();
        if (!rec) return report_error(fmt::format("decode: {}", o.file), rec.error().message);
        if (!rec->has_value()) break;
        ++frame;
        if (frame > rows.size()) return report_error("decode --compare-tshark", "tshark saw fewer frames than vnet");
        const auto& row = rows[frame - 1];
        auto d = wire::dissect_frame((**rec).data);
        if (d.error) ++malformed;
        for (auto& m : mappings()) {
            const wire::field_value* mine = d.find(m.vnet);
            if (!mine) continue;
            std::string theirs;
            for (auto t : m.tshark) {
                std::size_t c = column.at(t);
                if (c < row.size() && !row[c].empty()) {
                    theirs = row[c];
                    break;
                }
            }
            if (theirs.empty()) continue;  // tshark does not show this field for this frame
            std::string expected;
            if (m.list) {
                std::vector<std::string> n;
                for (auto& e : split(theirs, '|')) n.push_back(normalise(e));
                expected = fmt::format("{}", fmt::join(n, "|"));
            } else {
                const auto all = split(theirs, '|');
                if (m.occurrence >= all.size()) continue;  // tshark did not decode that far
                expected = normalise(all[m.occurrence]);
            }
            std::string got = vnet_value(*mine, m.list);
            auto& t = per_field[m.vnet];
            if (got == expected) ++t.agree;
            else t.disagree.push_back(fmt::format("frame {}: vnet {} tshark {}", frame, got, expected));
        }
    }
    std::size_t compared = 0, bad = 0;
    fmt::print("{}: {} frames, {} malformed by vnet\n", o.file, frame, malformed);
    for (auto& [name, t] : per_field) {
        compared += t.agree + t.disagree.size();
        bad += t.disagree.size();
        fmt::print("  {:<30} {:>5} agree{}\n", name, t.agree,
                   t.disagree.empty() ? "" : fmt::format(", {} DISAGREE", t.disagree.size()));
        for (std::size_t i = 0; i < t.disagree.size() && i < 5; ++i) fmt::print("      {}\n", t.disagree[i]);
    }
    fmt::print("{}: {} field values compared over {} fields, {} disagree\n", o.file, compared, per_field.size(), bad);
    if (compared == 0) return report_error("decode --compare-tshark", "no field could be compared", exit_check_failed);
    return bad == 0 ? exit_ok : exit_check_failed;
}

}  // namespace vnet::cli
