// vnet/lab/port_capture.hpp - what one switch port's capture holds about a ping since a
// given moment: the layer-2 evidence of a ping between two VMs.
//
// A port's pcap (lab/switch_pump.hpp) holds both directions: the frames its station put
// into the switch (Ethernet source = the station's MAC) and the frames the switch handed
// it. Counted from the capture, independently of the switch's own counters:
//   - what the station sent: ARP requests (and for which addresses), ICMP echo requests
//     to the target;
//   - what it was handed: ARP replies to it, ICMP echo requests to the target (at the
//     destination's port: what reached it), echo replies from the target.
// A switch that routed between subnets would hand the destination's port the echo
// requests; a layer-2 switch hands it nothing but the sender's broadcasts.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>

#include <fmt/format.h>

#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/icmpv4.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/pcap.hpp>
#include <vnet/wire/vlan.hpp>

namespace vnet::lab {

struct port_capture {
    std::uint64_t sent = 0, handed = 0;  // frames in the window: from the station / to it
    std::uint64_t arp_requests_sent = 0;
    std::set<ipv4_address> arp_asked;  // the addresses the station asked for
    std::uint64_t arp_replies_handed = 0;
    std::uint64_t echo_requests_sent = 0;    // to the target
    std::uint64_t echo_requests_handed = 0;  // to the target, handed to this port
    std::uint64_t echo_replies_handed = 0;   // from the target
    std::uint64_t undecodable = 0;           // frames the decoders rejected (counted, not read)
};

/// Reads the capture at path: the records stamped at or after `since`, seen from the
/// station whose MAC is `station`, about pings to `target`.
inline wire::io_result<port_capture> read_port_capture(const std::string& path, std::chrono::nanoseconds since,
                                                       mac_address station, ipv4_address target) {
    auto rd = wire::pcap_reader::open(path);
    if (!rd) return unexpected(rd.error());
    port_capture pc;
    for (;;) {
        auto rec = rd->next();
        if (!rec) return unexpected(rec.error());
        if (!*rec) break;
        if ((*rec)->timestamp < since) continue;
        auto f = wire::frame_view::parse((*rec)->data);
        if (!f) {
            ++pc.undecodable;
            continue;
        }
        const bool from_station = f->src() == station;
        ++(from_station ? pc.sent : pc.handed);
        if (f->ethertype() == wire::ethertype::arp) {
            auto a = wire::arp_view::parse(f->payload());
            if (!a) {
                ++pc.undecodable;
                continue;
            }
            if (from_station && a->is_request()) {
                ++pc.arp_requests_sent;
                pc.arp_asked.insert(a->target_ip());
            } else if (!from_station && a->is_reply() && a->target_mac() == station) {
                ++pc.arp_replies_handed;
            }
        } else if (f->ethertype() == wire::ethertype::ipv4) {
            auto ip = wire::ipv4_view::parse(f->payload());
            if (!ip) {
                ++pc.undecodable;
                continue;
            }
            if (ip->protocol() != wire::ip_protocol::icmp || !ip->is_first_fragment()) continue;
            auto icmp = wire::icmpv4_view::parse(ip->payload());
            if (!icmp) {
                ++pc.undecodable;
                continue;
            }
            if (icmp->type() == wire::icmpv4_type::echo_request && ip->dst() == target)
                ++(from_station ? pc.echo_requests_sent : pc.echo_requests_handed);
            else if (icmp->type() == wire::icmpv4_type::echo_reply && ip->src() == target && !from_station)
                ++pc.echo_replies_handed;
        }
    }
    return pc;
}

/// "vm1-eth0's capture: 3 frames sent: 3 ARP requests (who-has 10.0.1.1), 0 echo requests
/// to 10.0.2.12; 0 ARP replies handed to it"
inline std::string describe_sender(const std::string& port, const port_capture& pc, ipv4_address target) {
    std::string asked;
    for (const auto& a : pc.arp_asked) asked += (asked.empty() ? "" : ", ") + fmt::format("{}", a);
    return fmt::format("{}'s capture: {} frame{} sent: {} ARP request{}{}, {} echo request{} to {}; {} ARP repl{} handed to it",
                       port, pc.sent, pc.sent == 1 ? "" : "s", pc.arp_requests_sent, pc.arp_requests_sent == 1 ? "" : "s",
                       asked.empty() ? "" : " (who-has " + asked + ")", pc.echo_requests_sent,
                       pc.echo_requests_sent == 1 ? "" : "s", target, pc.arp_replies_handed,
                       pc.arp_replies_handed == 1 ? "y" : "ies");
}

/// "vm2-eth0's capture: 0 echo requests to 10.0.2.12 handed to it (2 frames in all)"
inline std::string describe_receiver(const std::string& port, const port_capture& pc, ipv4_address target) {
    return fmt::format("{}'s capture: {} echo request{} to {} handed to it ({} frame{} in all)", port, pc.echo_requests_handed,
                       pc.echo_requests_handed == 1 ? "" : "s", target, pc.handed, pc.handed == 1 ? "" : "s");
}

}  // namespace vnet::lab
