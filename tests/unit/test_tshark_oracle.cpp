// The independent oracle: frames built with vnet's reprs are written to a pcap, and tshark
// (a dissector nobody here wrote) must decode every field to the values vnet's dissector
// reports. Runs `vnet decode FILE --compare-tshark`, which exits 0 only when every field
// both decoders name agrees.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <vnet/wire/arp.hpp>
#include <vnet/wire/dhcp.hpp>
#include <vnet/wire/dissect.hpp>
#include <vnet/wire/dns.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/icmpv4.hpp>
#include <vnet/wire/icmpv6.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/ipv6.hpp>
#include <vnet/wire/ndp.hpp>
#include <vnet/wire/pcap.hpp>
#include <vnet/wire/tcp.hpp>
#include <vnet/wire/udp.hpp>
#include <vnet/wire/vlan.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using bytes = std::vector<std::byte>;

namespace {

const mac_address vm_mac = *mac_address::parse("00:15:5d:00:00:10");
const mac_address gw_mac = *mac_address::parse("00:15:5d:00:00:01");
const ipv4_address vm_ip = *ipv4_address::parse("192.168.0.100");
const ipv4_address gw_ip = *ipv4_address::parse("192.168.0.1");
const ipv4_address server_ip = *ipv4_address::parse("198.51.100.10");

template <class R, class... A>
bytes emit(const R& r, A&&... args) {
    bytes out(r.buffer_len());
    auto n = r.emit(out, std::forward<A>(args)...);
    BOOST_REQUIRE_MESSAGE(n.has_value(), (n ? std::string() : n.error().message()));
    out.resize(*n);
    return out;
}

bytes ipv4(ipv4_address src, ipv4_address dst, std::uint8_t proto, const bytes& payload, std::uint8_t ttl = 64,
           std::uint16_t id = 0x1234, bool df = true) {
    ipv4_repr r;
    r.src = src;
    r.dst = dst;
    r.protocol = proto;
    r.ttl = ttl;
    r.identification = id;
    r.dont_fragment = df;
    r.payload_len = payload.size();
    return emit(r, bytes_view(payload));
}

bytes ipv6(const ipv6_address& src, const ipv6_address& dst, std::uint8_t nh, const bytes& payload, std::uint8_t hlim = 64) {
    ipv6_repr r;
    r.src = src;
    r.dst = dst;
    r.next_header = nh;
    r.hop_limit = hlim;
    r.flow_label = 0x12345;
    r.payload_length = static_cast<std::uint16_t>(payload.size());
    return emit(r, bytes_view(payload));
}

bytes udp4(ipv4_address src, ipv4_address dst, std::uint16_t sport, std::uint16_t dport, const bytes& payload) {
    udp_repr u{sport, dport, payload.size()};
    return ipv4(src, dst, ip_protocol::udp, emit(u, bytes_view(payload), src, dst));
}

bytes eth(const mac_address& dst, const mac_address& src, std::uint16_t type, const bytes& payload,
          std::vector<vlan_tag> tags = {}) {
    ethernet_repr e{dst, src, type};
    bytes f = emit(e);
    f.insert(f.end(), payload.begin(), payload.end());
    if (f.size() < 60) f.resize(60);  // Ethernet minimum frame without FCS
    for (auto it = tags.rbegin(); it != tags.rend(); ++it) {
        bytes t(f.size() + vlan_tag::size);
        auto n = push_vlan_tag(f, *it, t);
        BOOST_REQUIRE(n.has_value());
        f = t;
    }
    return f;
}

std::vector<bytes> build_frames() {
    std::vector<bytes> frames;
    // ARP request and reply, plain and on an access VLAN, and a QinQ-tagged request.
    auto req = arp_repr::make_request(vm_mac, vm_ip, gw_ip);
    frames.push_back(eth(mac_address::broadcast(), vm_mac, ethertype::arp, emit(req)));
    frames.push_back(eth(vm_mac, gw_mac, ethertype::arp, emit(arp_repr::make_reply(req, gw_mac))));
    frames.push_back(eth(mac_address::broadcast(), vm_mac, ethertype::arp, emit(req), {vlan_tag{ethertype::vlan, 3, false, 10}}));
    frames.push_back(eth(mac_address::broadcast(), vm_mac, ethertype::arp, emit(req),
                         {vlan_tag{ethertype::qinq, 0, false, 100}, vlan_tag{ethertype::vlan, 5, true, 20}}));
    // ICMP echo request and reply.
    icmpv4_echo_request echo{0x4242, 7, as_bytes_view("vnet ping payload")};
    bytes icmp_req = emit(icmpv4_repr{echo});
    frames.push_back(eth(gw_mac, vm_mac, ethertype::ipv4, ipv4(vm_ip, server_ip, ip_protocol::icmp, icmp_req)));
    frames.push_back(eth(vm_mac, gw_mac, ethertype::ipv4,
                         ipv4(server_ip, vm_ip, ip_protocol::icmp, emit(icmpv4_repr{icmpv4_echo_reply::to(echo)}), 57)));
    // Port unreachable quoting a UDP datagram, and fragmentation needed with an MTU.
    bytes quoted = udp4(vm_ip, server_ip, 40000, 1883, bytes(12, std::byte{0x55}));
    frames.push_back(eth(vm_mac, gw_mac, ethertype::ipv4,
                         ipv4(server_ip, vm_ip, ip_protocol::icmp,
                              emit(icmpv4_repr{icmpv4_dest_unreachable{icmpv4_unreachable::port, 0, quoted}}))));
    frames.push_back(
        eth(vm_mac, gw_mac, ethertype::ipv4,
            ipv4(gw_ip, vm_ip, ip_protocol::icmp,
                 emit(icmpv4_repr{icmpv4_dest_unreachable{icmpv4_unreachable::fragmentation_needed, 1400, quoted}}))));
    // TCP: a Linux-style SYN with every option, a SYN-ACK, data with SACK blocks.
    {
        tcp_repr syn;
        syn.src_port = 51000;
        syn.dst_port = 8883;
        syn.seq_number = 0x01020304;
        syn.flags = tcp_flag::syn;
        syn.window_len = 64240;
        syn.mss = 1460;
        syn.window_scale = 7;
        syn.sack_permitted = true;
        syn.timestamps = tcp_timestamps{123456, 0};
        frames.push_back(eth(gw_mac, vm_mac, ethertype::ipv4,
                             ipv4(vm_ip, server_ip, ip_protocol::tcp, emit(syn, bytes_view{}, vm_ip, server_ip))));
        // A firewall's refusal of that SYN (administratively prohibited, RFC 1812) and a
        // router's time exceeded, each quoting the IP header and 8 octets of the SYN.
        const bytes syn_ip = ipv4(vm_ip, server_ip, ip_protocol::tcp, emit(syn, bytes_view{}, vm_ip, server_ip), 1);
        const bytes syn_quote(syn_ip.begin(), syn_ip.begin() + 28);
        frames.push_back(
            eth(vm_mac, gw_mac, ethertype::ipv4,
                ipv4(gw_ip, vm_ip, ip_protocol::icmp,
                     emit(icmpv4_repr{icmpv4_dest_unreachable{icmpv4_unreachable::communication_prohibited, 0, syn_quote}}))));
        frames.push_back(eth(vm_mac, gw_mac, ethertype::ipv4,
                             ipv4(gw_ip, vm_ip, ip_protocol::icmp,
                                  emit(icmpv4_repr{icmpv4_time_exceeded{icmpv4_time_exceeded_code::ttl_exceeded, syn_quote}}))));
        tcp_repr synack = syn;
        std::swap(synack.src_port, synack.dst_port);
        synack.ack_number = syn.seq_number + 1;
        synack.seq_number = 0xa0b0c0d0;
        synack.flags = tcp_flag::syn | tcp_flag::ack;
        synack.timestamps = tcp_timestamps{999, 123456};
        frames.push_back(eth(vm_mac, gw_mac, ethertype::ipv4,
                             ipv4(server_ip, vm_ip, ip_protocol::tcp, emit(synack, bytes_view{}, server_ip, vm_ip))));
        tcp_repr data;
        data.src_port = 51000;
        data.dst_port = 8883;
        data.seq_number = 0x01020305;
        data.ack_number = 0xa0b0c0d1;
        data.flags = tcp_flag::psh | tcp_flag::ack;
        data.window_len = 502;
        data.sack_block_count = 2;
        data.sack_blocks[0] = {100, 200};
        data.sack_blocks[1] = {300, 400};
        bytes payload(100, std::byte{0x61});
        data.payload_len = payload.size();
        frames.push_back(eth(gw_mac, vm_mac, ethertype::ipv4,
                             ipv4(vm_ip, server_ip, ip_protocol::tcp, emit(data, bytes_view(payload), vm_ip, server_ip))));
        tcp_repr rst;
        rst.src_port = 8883;
        rst.dst_port = 51000;
        rst.flags = tcp_flag::rst | tcp_flag::ack;
        frames.push_back(eth(vm_mac, gw_mac, ethertype::ipv4,
                             ipv4(server_ip, vm_ip, ip_protocol::tcp, emit(rst, bytes_view{}, server_ip, vm_ip), 64, 0, false),
                             {vlan_tag{ethertype::vlan, 0, false, 42}}));
    }
    // DHCP: a DISCOVER from the VM and the server's ACK with the usual options.
    {
        dhcp_repr d;
        d.op = bootp_op::request;
        d.xid = 0x3903f326;
        d.broadcast = true;
        d.set_client_mac(vm_mac);
        d.message_type = dhcp_message_type::discover;
        d.parameter_request_list = {1, 3, 6, 15, 119, 121, 26};
        d.host_name = "eflow";
        d.max_message_size = 1500;
        bytes payload = emit(d);
        frames.push_back(eth(mac_address::broadcast(), vm_mac, ethertype::ipv4,
                             udp4(ipv4_address::any(), ipv4_address::broadcast(), 68, 67, payload)));
        dhcp_repr ack;
        ack.op = bootp_op::reply;
        ack.xid = 0x3903f326;
        ack.set_client_mac(vm_mac);
        ack.yiaddr = vm_ip;
        ack.siaddr = gw_ip;
        ack.message_type = dhcp_message_type::ack;
        ack.server_identifier = gw_ip;
        ack.lease_time = 86400;
        ack.renewal_time = 43200;
        ack.rebinding_time = 75600;
        ack.subnet_mask = *ipv4_address::parse("255.255.255.0");
        ack.routers = {gw_ip};
        ack.dns_servers = {gw_ip, server_ip};
        ack.domain_name = "lab.example";
        ack.option_order = d.parameter_request_list;
        frames.push_back(eth(vm_mac, gw_mac, ethertype::ipv4, udp4(gw_ip, vm_ip, 67, 68, emit(ack))));
    }
    // DNS: a query and a compressed answer with A, CNAME and AAAA records, and NXDOMAIN.
    {
        auto name = *dns_name::parse("mqtt.iothub.example");
        auto target = *dns_name::parse("iothub.example");
        auto q = make_query(0xbeef, name, dns_type::a);
        bytes qb(q.buffer_len());
        auto qn = q.emit(qb, dns_compression::on);
        BOOST_REQUIRE(qn.has_value());
        qb.resize(*qn);
        frames.push_back(eth(gw_mac, vm_mac, ethertype::ipv4, udp4(vm_ip, gw_ip, 40001, 53, qb)));
        auto r = make_response(q);
        r.header.ra = true;
        r.answers.push_back(dns_record_repr::make(name, 300, dns_cname{target}));
        r.answers.push_back(dns_record_repr::make(target, 300, dns_a{server_ip}));
        r.answers.push_back(dns_record_repr::make(target, 300, dns_aaaa{*ipv6_address::parse("2001:db8::10")}));
        bytes rb(r.buffer_len());
        auto rn = r.emit(rb, dns_compression::on);
        BOOST_REQUIRE(rn.has_value());
        rb.resize(*rn);
        frames.push_back(eth(vm_mac, gw_mac, ethertype::ipv4, udp4(gw_ip, vm_ip, 53, 40001, rb)));
        auto nx = make_response(q, dns_rcode::nxdomain);
        bytes nb(nx.buffer_len());
        auto nn = nx.emit(nb, dns_compression::on);
        BOOST_REQUIRE(nn.has_value());
        nb.resize(*nn);
        frames.push_back(eth(vm_mac, gw_mac, ethertype::ipv4, udp4(gw_ip, vm_ip, 53, 40001, nb)));
    }
    // IPv6: echo, and NDP router advertisement / neighbour solicitation / advertisement.
    {
        auto ll = ipv6_address::link_local_from_mac(vm_mac);
        auto gw_ll = ipv6_address::link_local_from_mac(gw_mac);
        auto global = *ipv6_address::parse("2001:db8:0:1::10");
        icmpv6_echo_repr e6{icmpv6_type::echo_request, 7, 1, as_bytes_view("v6 payload")};
        frames.push_back(eth(gw_mac, vm_mac, ethertype::ipv6,
                             ipv6(global, *ipv6_address::parse("2001:db8::1"), ip_protocol::icmpv6,
                                  emit(e6, global, *ipv6_address::parse("2001:db8::1")))));
        bytes opts;
        auto sll = emit(ndp_link_layer_address_option{ndp_option_type::source_link_layer_address, gw_mac});
        opts.insert(opts.end(), sll.begin(), sll.end());
        auto mtu = emit(ndp_mtu_option{1500});
        opts.insert(opts.end(), mtu.begin(), mtu.end());
        router_advertisement_repr ra;
        ra.cur_hop_limit = 64;
        ra.managed = true;
        ra.router_lifetime = 1800;
        ra.reachable_time = 30000;
        ra.retrans_timer = 1000;
        ra.options = opts;
        frames.push_back(
            eth(ipv6_address::all_nodes().multicast_mac(), gw_mac, ethertype::ipv6,
                ipv6(gw_ll, ipv6_address::all_nodes(), ip_protocol::icmpv6, emit(ra, gw_ll, ipv6_address::all_nodes()), 255)));
        neighbor_solicitation_repr ns;
        ns.target = global;
        auto sn = global.solicited_node();
        frames.push_back(
            eth(sn.multicast_mac(), vm_mac, ethertype::ipv6,
                ipv6(ipv6_address::unspecified(), sn, ip_protocol::icmpv6, emit(ns, ipv6_address::unspecified(), sn), 255)));
        neighbor_advertisement_repr na;
        na.target = gw_ll;
        na.router = true;
        na.solicited = true;
        na.override_flag = true;
        frames.push_back(eth(vm_mac, gw_mac, ethertype::ipv6, ipv6(gw_ll, ll, ip_protocol::icmpv6, emit(na, gw_ll, ll), 255)));
    }
    return frames;
}

/// The vnet command: $VNET_TOOL (CTest sets it), else the one in this build tree.
std::string vnet_tool() {
    const char* t = std::getenv("VNET_TOOL");
    return t && *t ? std::string(t) : test::binary_dir() + "/tools/vnet/vnet";
}

std::string temp_path(const char* name) {
    return (std::filesystem::temp_directory_path() / (std::string("vnet-oracle-") + std::to_string(::getpid()) + name)).string();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tshark_oracle)

BOOST_AUTO_TEST_CASE(vnet_built_frames_decode_the_same_in_tshark) {
    auto path = temp_path(".pcap");
    auto frames = build_frames();
    {
        auto w = pcap_writer::create(path);
        BOOST_REQUIRE(w.has_value());
        std::int64_t t = 1700000000;
        for (auto& f : frames) w->write(f, std::chrono::seconds(t++));
    }
    // vnet's own dissector must find no malformed frame in what vnet built.
    for (std::size_t i = 0; i < frames.size(); ++i) {
        auto d = dissect_frame(frames[i]);
        BOOST_TEST_INFO("frame " << i + 1 << ": " << d.summary);
        BOOST_TEST(!d.error.has_value());
    }
    auto out = temp_path(".txt");
    std::string cmd = vnet_tool() + " decode " + path + " --compare-tshark > " + out + " 2>&1";
    int rc = std::system(cmd.c_str());
    std::string report;
    if (std::FILE* f = std::fopen(out.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) report.append(buf, n);
        std::fclose(f);
    }
    BOOST_TEST_MESSAGE(report);
    BOOST_TEST(rc == 0);
    BOOST_TEST(report.find(" 0 disagree") != std::string::npos);
    // Every layer was compared: a field of each must appear in the report.
    for (auto field : {"vlan.id",          "arp.opcode",
                       "icmp.mtu",         "icmp.orig.dst",
                       "icmp.orig.dport",  "icmp.orig.ttl",
                       "tcp.options.mss",  "tcp.options.ts.ecr",
                       "icmpv6.nd.target", "icmpv6.nd.ra.router_lifetime",
                       "icmpv6.echo.seq",  "udp.dport",
                       "ip.checksum",      "dhcp.msgtype",
                       "dhcp.dns",         "dhcp.param_list",
                       "dns.qname",        "dns.a",
                       "dns.aaaa",         "dns.cname",
                       "dns.rcode"}) {
        BOOST_TEST_INFO(field);
        BOOST_TEST(report.find(field) != std::string::npos);
    }
    std::filesystem::remove(path);
    std::filesystem::remove(out);
}

// ICMP errors say what was unreachable as tcpdump does, and carry the quoted datagram's
// addresses, ports and TTL as fields (--json): what a user diagnosing a blocked port reads.
BOOST_AUTO_TEST_CASE(icmp_errors_name_the_quoted_datagram) {
    auto frames = build_frames();
    std::vector<frame_dissection> errs;
    for (const auto& f : frames) {
        auto d = dissect_frame(f);
        if (d.find("icmp.orig.proto")) errs.push_back(std::move(d));
    }
    BOOST_REQUIRE(errs.size() == 4u);  // port unreachable, need to frag, admin prohibited, time exceeded
    BOOST_TEST(errs[0].summary.find("ICMP 198.51.100.10 udp port 1883 unreachable") != std::string::npos, errs[0].summary);
    BOOST_TEST(errs[0].summary.find("(for udp 192.168.0.100:40000 > 198.51.100.10:1883, ttl 64)") != std::string::npos,
               errs[0].summary);
    BOOST_TEST(field_text(*errs[0].find("icmp.orig.sport")) == "40000");
    BOOST_TEST(field_text(*errs[0].find("icmp.orig.dport")) == "1883");
    BOOST_TEST(field_text(*errs[0].find("icmp.orig.ttl")) == "64");
    BOOST_TEST(errs[1].summary.find("ICMP 198.51.100.10 unreachable - need to frag (mtu 1400)") != std::string::npos,
               errs[1].summary);
    BOOST_TEST(errs[2].summary.find("ICMP host 198.51.100.10 unreachable - admin prohibited filter") != std::string::npos,
               errs[2].summary);
    BOOST_TEST(field_text(*errs[2].find("icmp.orig.dport")) == "8883");
    BOOST_TEST(errs[3].summary.find("ICMP time exceeded in-transit (for tcp 192.168.0.100:51000 > 198.51.100.10:8883, ttl 1)") !=
                   std::string::npos,
               errs[3].summary);
}

BOOST_AUTO_TEST_CASE(real_captures_decode_the_same_in_tshark) {
    // lab-mix.pcap: Linux kernel, dhclient, dnsmasq, dig and a TCP client (ci/make-captures.sh);
    // guest-default-switch.pcap: a QEMU guest's port on the vnet Default Switch (vnet lab run).
    for (const char* capture : {"lab-mix.pcap", "guest-default-switch.pcap"}) {
        BOOST_TEST_INFO(capture);
        std::string cmd = vnet_tool() + " decode " + test::source_dir() + "/fixtures/captures/" + capture +
                          " --compare-tshark > /dev/null 2>&1";
        BOOST_TEST(std::system(cmd.c_str()) == 0);
    }
}

BOOST_AUTO_TEST_SUITE_END()
