// Builds an Ethernet frame with the installed vnet headers, writes it to a pcap, reads it
// back and checks every field: proof that find_package(vnet) gives a working library.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/pcap.hpp>
#include <vnet/switch/vswitch.hpp>
#include <vnet/wire/vlan.hpp>

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "consumer.pcap";
    auto src = vnet::mac_address::parse("00:15:5d:00:00:10");
    auto net = vnet::ipv4_prefix::parse("192.168.0.100/24");
    if (!src || !net) return 1;
    std::vector<std::byte> frame(60);
    vnet::wire::ethernet_repr eth{vnet::mac_address::broadcast(), *src, vnet::wire::ethertype::arp};
    if (!eth.emit(frame)) return 1;
    std::vector<std::byte> tagged(64);
    auto n = vnet::wire::push_vlan_tag(frame, vnet::wire::vlan_tag{vnet::wire::ethertype::vlan, 0, false, 10}, tagged);
    if (!n) return 1;
    {
        auto w = vnet::wire::pcap_writer::create(path);
        if (!w) {
            fmt::print(stderr, "consumer: {}\n", w.error().message);
            return 1;
        }
        w->write({tagged.data(), *n});
    }
    auto r = vnet::wire::pcap_reader::open(path);
    if (!r) return 1;
    auto rec = r->next();
    if (!rec || !rec->has_value()) return 1;
    auto f = vnet::wire::frame_view::parse((*rec)->data);
    if (!f || f->src() != *src || !f->vlan_id() || *f->vlan_id() != 10 || f->ethertype() != vnet::wire::ethertype::arp) return 1;
    // The README's switch example: a frame from one VM port reaches the other and is learned.
    auto peer = vnet::mac_address::parse("00:15:5d:00:00:11");
    vnet::sw::vswitch<vnet::sw::memory_port> s({"Private", vnet::sw::switch_kind::private_});
    auto a = s.add_port(vnet::sw::port_config::vm("eflow", *src), {});
    auto b = s.add_port(vnet::sw::port_config::vm("peer", *peer), {});
    if (!a || !b) return 1;
    std::vector<std::byte> unicast(60);
    if (!vnet::wire::ethernet_repr{*peer, *src, vnet::wire::ethertype::ipv4}.emit(unicast)) return 1;
    std::vector<vnet::bytes_view> frames{vnet::bytes_view(unicast)};
    s.send(*a, frames);
    if (s.transport(*b).frames.size() != 1 || s.table().size() != 1) return 1;
    fmt::print("consumer: {} vlan {} network {} switched {} ok\n", f->src(), *f->vlan_id(), net->network(),
               s.counters(*b).tx_frames);
    std::remove(path.c_str());
    return 0;
}
