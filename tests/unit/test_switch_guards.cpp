// Port security and features (include/vnet/switch/vswitch.hpp, acl.hpp): MAC address
// spoofing, DHCP guard, router guard, storm limit, port ACLs, port mirroring.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <ostream>
#include <vector>

#include <fmt/format.h>

#include <vnet/switch/vswitch.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::sw;
using namespace std::chrono_literals;

namespace vnet::sw {
inline std::ostream& operator<<(std::ostream& os, drop_reason r) { return os << to_string(r); }
}  // namespace vnet::sw

namespace {
using test_switch = vswitch<memory_port, manual_clock>;
using frame_bytes = std::vector<std::byte>;

mac_address station(int n) { return mac_address::from_u64(0x00155d000000ULL + static_cast<std::uint64_t>(n)); }

frame_bytes eth(mac_address dst, mac_address src, std::uint16_t type, std::size_t payload) {
    frame_bytes f(14 + payload);
    dst.store(f, 0);
    src.store(f, 6);
    store_be16(f, 12, type);
    return f;
}
// IPv4 (RFC 791) with a UDP / TCP port pair or an ICMP type at the start of the payload.
frame_bytes ip4(mac_address dst, mac_address src, ipv4_address s, ipv4_address d, std::uint8_t proto, std::uint16_t sport,
                std::uint16_t dport) {
    auto f = eth(dst, src, 0x0800, 20 + 20);
    store_u8(f, 14, 0x45);
    store_be16(f, 16, 40);
    store_u8(f, 22, 64);
    store_u8(f, 23, proto);
    s.store(f, 26);
    d.store(f, 30);
    if (proto == ip_proto::icmp) {
        store_u8(f, 34, static_cast<std::uint8_t>(sport));
    } else {
        store_be16(f, 34, sport);
        store_be16(f, 36, dport);
    }
    return f;
}
// IPv6 (RFC 8200) with UDP ports or an ICMPv6 type.
frame_bytes ip6(mac_address dst, mac_address src, std::uint8_t nh, std::uint16_t sport_or_type, std::uint16_t dport) {
    auto f = eth(dst, src, 0x86dd, 40 + 16);
    store_u8(f, 14, 0x60);
    store_be16(f, 18, 16);
    store_u8(f, 20, nh);
    store_u8(f, 21, 255);
    ipv6_address::link_local_from_mac(src).store(f, 22);
    ipv6_address::all_nodes().store(f, 38);
    if (nh == ip_proto::icmpv6) {
        store_u8(f, 54, static_cast<std::uint8_t>(sport_or_type));
    } else {
        store_be16(f, 54, sport_or_type);
        store_be16(f, 56, dport);
    }
    return f;
}

const ipv4_address vm_ip(192, 168, 0, 100), lan_ip(192, 168, 0, 50), cloud_ip(198, 51, 100, 10);

struct lab {
    test_switch sw{switch_spec{"Ext", switch_kind::external, "Ethernet", true}};
    port_index vm, other, up;
    lab() {
        vm = *sw.add_port(port_config::vm("eflow", station(1)), memory_port{});
        other = *sw.add_port(port_config::vm("other", station(2)), memory_port{});
        up = *sw.add_port(port_config::uplink("Ethernet"), memory_port{});
    }
    void set(port_index p, const port_config& c) { BOOST_REQUIRE(sw.configure(p, c)); }
    std::size_t got(port_index p) const { return sw.transport(p).size(); }
    std::uint64_t dropped(port_index p, drop_reason r) const { return sw.counters(p).drop(r); }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(switch_guards)

// docs/eflow-facts.md "Hyper-V port and switch features": MacAddressSpoofing off (the default):
// only the assigned MAC may send.
BOOST_AUTO_TEST_CASE(mac_spoofing_off_by_default) {
    lab l;
    BOOST_TEST(!l.sw.config(l.vm).mac_spoofing);
    l.sw.send(l.vm, test::view(eth(mac_address::broadcast(), station(1), 0x0806, 28)));
    l.sw.send(l.vm, test::view(eth(mac_address::broadcast(), station(66), 0x0806, 28)));
    BOOST_TEST(l.got(l.other) == 1u);
    BOOST_TEST(l.dropped(l.vm, drop_reason::spoofed_source) == 1u);
    BOOST_TEST(l.sw.table().size() == 1u);  // the spoofed source was not learned
    // the LAN side carries many stations: no spoofing check on the adapter port
    l.sw.send(l.up, test::view(eth(mac_address::broadcast(), station(77), 0x0806, 28)));
    BOOST_TEST(l.dropped(l.up, drop_reason::spoofed_source) == 0u);
    // MacAddressSpoofing on: any source (a nested switch, a bridge in the VM)
    auto c = l.sw.config(l.vm);
    c.mac_spoofing = true;
    l.set(l.vm, c);
    l.sw.send(l.vm, test::view(eth(mac_address::broadcast(), station(66), 0x0806, 28)));
    BOOST_TEST(l.dropped(l.vm, drop_reason::spoofed_source) == 1u);
    BOOST_TEST(l.got(l.other) == 3u);
}

// docs/eflow-facts.md "Hyper-V port and switch features": DhcpGuard drops DHCP server messages
// from the VM (DHCPv4 server port 67, RFC 2131; DHCPv6 server / relay port 547, RFC 8415).
BOOST_AUTO_TEST_CASE(dhcp_guard) {
    lab l;
    auto offer = ip4(mac_address::broadcast(), station(1), vm_ip, ipv4_address::broadcast(), ip_proto::udp, 67, 68);
    auto request = ip4(mac_address::broadcast(), station(1), ipv4_address::any(), ipv4_address::broadcast(), ip_proto::udp, 68,
                       67);
    auto advertise6 = ip6(station(2), station(1), ip_proto::udp, 547, 546);
    l.sw.send(l.vm, test::view(offer));  // guard off: a rogue DHCP server gets through
    BOOST_TEST(l.got(l.other) == 1u);
    auto c = l.sw.config(l.vm);
    c.dhcp_guard = true;
    l.set(l.vm, c);
    l.sw.send(l.vm, test::view(offer));
    l.sw.send(l.vm, test::view(advertise6));
    l.sw.send(l.vm, test::view(request));  // a client message is fine
    BOOST_TEST(l.dropped(l.vm, drop_reason::dhcp_guard) == 2u);
    BOOST_TEST(l.got(l.other) == 2u);
    // the real DHCP server on the LAN is not behind a guarded port
    l.sw.send(l.up, test::view(ip4(station(1), station(80), lan_ip, vm_ip, ip_proto::udp, 67, 68)));
    BOOST_TEST(l.got(l.vm) == 1u);
}

// docs/eflow-facts.md "Hyper-V port and switch features": RouterGuard drops router
// advertisements and redirects from the VM (ICMPv6 134 / 137, RFC 4861; ICMPv4 redirect 5).
BOOST_AUTO_TEST_CASE(router_guard) {
    lab l;
    auto c = l.sw.config(l.vm);
    c.router_guard = true;
    l.set(l.vm, c);
    const auto all_nodes_mac = ipv6_address::all_nodes().multicast_mac();
    l.sw.send(l.vm, test::view(ip6(all_nodes_mac, station(1), ip_proto::icmpv6, 134, 0)));          // RA
    l.sw.send(l.vm, test::view(ip6(station(2), station(1), ip_proto::icmpv6, 137, 0)));             // redirect
    l.sw.send(l.vm, test::view(ip4(station(2), station(1), vm_ip, lan_ip, ip_proto::icmp, 5, 0)));  // redirect
    l.sw.send(l.vm, test::view(ip6(all_nodes_mac, station(1), ip_proto::icmpv6, 133, 0)));          // RS is fine
    l.sw.send(l.vm, test::view(ip4(station(2), station(1), vm_ip, lan_ip, ip_proto::icmp, 8, 0)));  // echo is fine
    BOOST_TEST(l.dropped(l.vm, drop_reason::router_guard) == 3u);
    BOOST_TEST(l.got(l.other) == 2u);
}

// docs/eflow-facts.md "Hyper-V port and switch features": StormLimit counts broadcast,
// multicast and unknown-unicast packets per second; the excess is dropped per 1 s
// interval; 0 = none. Known unicast is not limited.
BOOST_AUTO_TEST_CASE(storm_limit) {
    lab l;
    auto c = l.sw.config(l.vm);
    c.storm_limit = 10;
    l.set(l.vm, c);
    l.sw.send(l.other, test::view(eth(mac_address::broadcast(), station(2), 0x0806, 28)));  // learn "other"
    std::vector<frame_bytes> burst;
    for (int i = 0; i < 6; ++i) burst.push_back(eth(mac_address::broadcast(), station(1), 0x0806, 28));
    for (int i = 0; i < 6; ++i) burst.push_back(eth(mac_address{0x01, 0x00, 0x5e, 0, 0, 1}, station(1), 0x0800, 28));
    for (int i = 0; i < 6; ++i) burst.push_back(eth(station(99), station(1), 0x0800, 28));  // unknown unicast
    for (int i = 0; i < 6; ++i) burst.push_back(eth(station(2), station(1), 0x0800, 28));   // known unicast
    l.sw.send(l.vm, burst);
    BOOST_TEST(l.dropped(l.vm, drop_reason::storm_limit) == 8u);
    BOOST_TEST(l.got(l.other) == 16u);
    l.sw.clock().advance(999ms);  // still the same 1 s interval
    l.sw.send(l.vm, test::view(burst[0]));
    BOOST_TEST(l.dropped(l.vm, drop_reason::storm_limit) == 9u);
    l.sw.clock().advance(1ms);  // a new interval
    l.sw.send(l.vm, burst);
    BOOST_TEST(l.dropped(l.vm, drop_reason::storm_limit) == 17u);
    BOOST_TEST(l.got(l.other) == 32u);
    c.storm_limit = 0;  // none
    l.set(l.vm, c);
    l.sw.send(l.vm, burst);
    BOOST_TEST(l.dropped(l.vm, drop_reason::storm_limit) == 17u);
}

// docs/eflow-facts.md "Firewall guidance": inbound 8883 (MQTT), 5671 (AMQP), 443 (HTTPS)
// blocked, outbound open; port ACLs deny / allow by direction, local and remote address or
// prefix, protocol and port; the highest weight decides.
BOOST_AUTO_TEST_CASE(acl_firewall_table) {
    lab l;
    auto c = l.sw.config(l.vm);
    for (std::uint16_t p : {8883, 5671, 443}) {
        acl_rule r;
        r.direction = acl_direction::inbound;
        r.action = acl_action::deny;
        r.protocol = ip_proto::tcp;
        r.local_port = port_range::single(p);
        c.acls.add(r);
    }
    l.set(l.vm, c);
    // from the LAN to the VM: blocked inbound ports, another port passes
    l.sw.send(l.vm, test::view(eth(mac_address::broadcast(), station(1), 0x0806, 28)));  // learn the VM
    l.sw.send(l.up, test::view(ip4(station(1), station(80), lan_ip, vm_ip, ip_proto::tcp, 40000, 8883)));
    l.sw.send(l.up, test::view(ip4(station(1), station(80), lan_ip, vm_ip, ip_proto::tcp, 40000, 443)));
    l.sw.send(l.up, test::view(ip4(station(1), station(80), lan_ip, vm_ip, ip_proto::tcp, 40000, 22)));
    l.sw.send(l.up, test::view(ip4(station(1), station(80), lan_ip, vm_ip, ip_proto::udp, 40000, 8883)));
    BOOST_TEST(l.got(l.vm) == 2u);
    BOOST_TEST(l.dropped(l.vm, drop_reason::acl_deny) == 2u);  // counted on the port the ACL protects
    // outbound from the VM to the cloud on 8883 is open
    l.sw.send(l.vm, test::view(ip4(station(80), station(1), vm_ip, cloud_ip, ip_proto::tcp, 40000, 8883)));
    BOOST_TEST(l.got(l.up) == 2u);  // the ARP broadcast and this
}

// Address / prefix matches and weights: deny a remote prefix, allow one host in it with a
// higher weight; an outbound rule drops on the sending port.
BOOST_AUTO_TEST_CASE(acl_prefixes_weights_and_directions) {
    lab l;
    auto c = l.sw.config(l.vm);
    acl_rule deny_lan{acl_direction::outbound,
                      acl_action::deny,
                      ip_match::any(),
                      ip_match::of(*ipv4_prefix::parse("192.168.0.0/24")),
                      std::nullopt,
                      {},
                      {},
                      1};
    acl_rule allow_gw{acl_direction::outbound,
                      acl_action::allow,
                      ip_match::of(vm_ip),
                      ip_match::of(ipv4_address(192, 168, 0, 1)),
                      std::nullopt,
                      {},
                      {},
                      10};
    c.acls.add(deny_lan);
    c.acls.add(allow_gw);
    l.set(l.vm, c);
    l.sw.send(l.vm, test::view(ip4(mac_address::broadcast(), station(1), vm_ip, lan_ip, ip_proto::udp, 1, 2)));
    l.sw.send(l.vm,
              test::view(ip4(mac_address::broadcast(), station(1), vm_ip, ipv4_address(192, 168, 0, 1), ip_proto::udp, 1, 2)));
    l.sw.send(l.vm, test::view(ip4(mac_address::broadcast(), station(1), vm_ip, cloud_ip, ip_proto::udp, 1, 2)));
    BOOST_TEST(l.dropped(l.vm, drop_reason::acl_deny) == 1u);
    BOOST_TEST(l.got(l.other) == 2u);
    // IPv6 prefixes: deny inbound from fe80::/10
    auto o = l.sw.config(l.other);
    o.acls.add(acl_rule{acl_direction::inbound,
                        acl_action::deny,
                        ip_match::any(),
                        ip_match::of(*ipv6_address::parse("fe80::"), 10),
                        std::nullopt,
                        {},
                        {},
                        0});
    l.set(l.other, o);
    l.sw.send(l.vm, test::view(ip6(station(2), station(1), ip_proto::udp, 5000, 5001)));
    BOOST_TEST(l.dropped(l.other, drop_reason::acl_deny) == 1u);
    BOOST_TEST(l.got(l.other) == 2u);
}

// docs/eflow-facts.md "Hyper-V port and switch features": PortMirroring Source / Destination on
// the same switch: the destination gets a copy of what the source sends and receives.
BOOST_AUTO_TEST_CASE(port_mirroring) {
    test_switch s(switch_spec{"Priv", switch_kind::private_, {}, false});
    auto src_cfg = port_config::vm("watched", station(1));
    auto a = *s.add_port(src_cfg, memory_port{});
    auto b = *s.add_port(port_config::vm("peer", station(2)), memory_port{});
    auto c = *s.add_port(port_config::vm("bystander", station(3)), memory_port{});
    auto mon_cfg = port_config::vm("monitor", station(4));
    mon_cfg.mirror = mirror_mode::destination;
    mon_cfg.vlan = vlan_setting::access(99);  // mirroring ignores the monitor's VLAN
    auto mon = *s.add_port(mon_cfg, memory_port{});
    // everyone is learned first, then "watched" becomes a mirror source
    s.send(b, test::view(eth(station(4), station(2), 0x0800, 46)));
    s.send(c, test::view(eth(station(4), station(3), 0x0800, 46)));
    src_cfg.mirror = mirror_mode::source;
    BOOST_REQUIRE(s.configure(a, src_cfg));
    s.transport(a).clear();

    s.send(a, test::view(eth(mac_address::broadcast(), station(1), 0x0806, 28)));  // a sends (flood)
    s.send(b, test::view(eth(station(1), station(2), 0x0800, 46)));                // b -> a (a receives)
    s.send(b, test::view(eth(station(3), station(2), 0x0800, 46)));                // b -> c (not mirrored)
    s.send(c, test::view(eth(station(2), station(3), 0x0800, 46)));                // c -> b (not mirrored)
    BOOST_TEST(s.transport(mon).size() == 2u);
    BOOST_TEST(s.counters(mon).mirrored == 2u);
    BOOST_TEST(equal_bytes(s.transport(mon).frame(1), test::view(eth(station(1), station(2), 0x0800, 46))));
    BOOST_TEST(s.transport(a).size() == 1u);  // never a copy of its own frames
    // a source and a destination that also gets the frame by flooding: one copy only
    s.send(b, test::view(eth(mac_address::broadcast(), station(2), 0x0806, 28)));
    BOOST_TEST(s.transport(mon).size() == 3u);
    auto off = s.config(a);
    off.mirror = mirror_mode::none;
    BOOST_REQUIRE(s.configure(a, off));
    s.send(a, test::view(eth(station(2), station(1), 0x0800, 46)));
    BOOST_TEST(s.transport(mon).size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
