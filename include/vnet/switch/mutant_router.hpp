// vnet/switch/mutant_router.hpp - the defect of mutant switch-routes-subnets: a switch that
// routes between IPv4 subnets on its own segment, as a layer 3 switch with proxy ARP would.
// A Hyper-V virtual switch works at layer 2 only (two subnets need a router, [HV]); the
// conformance row switch/layer2-only must catch this.
//
// What it does to untagged frames: it answers every ARP request for an address it has not
// seen a station use, with its own MAC (so each VM's gateway "exists"); it learns which MAC
// uses which IPv4 address from ARP senders and IPv4 sources; an IPv4 frame sent to its MAC
// is rewritten (destination MAC of the station that has the destination address, source
// MAC its own) and switched on; for a destination it has not seen it floods an ARP request
// instead. Only the vnet-mutant tool ever runs this (mutant::on() is false elsewhere).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

#include <vnet/core/bytes.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/ipv4.hpp>

namespace vnet::sw {

class mutant_router {
public:
    /// The router's own MAC (locally administered).
    static constexpr mac_address mac() noexcept { return {0x02, 0x00, 0x5e, 0x00, 0x00, 0xfe}; }

    enum class action : std::uint8_t { none, reply, replace };
    struct outcome {
        action what = action::none;
        bytes_span frame{};  // reply: send back to the input port; replace: switch this instead
    };

    /// Looks at frame f; alloc(n) gives n bytes that live until the batch is flushed.
    template <class Alloc>
    outcome handle(bytes_view f, Alloc&& alloc) {
        auto eth = wire::ethernet_view::parse(f);
        if (!eth) return {};
        const auto l3 = f.subspan(wire::ethernet_view::header_len);
        if (eth->ethertype() == wire::ethertype::arp) {
            auto v = wire::arp_view::parse(l3);
            if (!v) return {};
            auto a = wire::arp_repr::parse(*v);
            if (!a) return {};
            if (!a->sender_ip.is_unspecified()) hosts_[a->sender_ip.to_u32()] = a->sender_mac;
            if (!v->is_request() || a->target_ip == a->sender_ip || hosts_.count(a->target_ip.to_u32()) != 0) return {};
            return {action::reply, arp_frame(eth->src(), wire::arp_repr::make_reply(*a, mac()), alloc)};
        }
        if (eth->ethertype() != wire::ethertype::ipv4) return {};
        auto ip = wire::ipv4_view::parse(l3);
        if (!ip) return {};
        if (eth->src() != mac()) hosts_[ip->src().to_u32()] = eth->src();
        if (eth->dst() != mac()) return {};
        auto it = hosts_.find(ip->dst().to_u32());
        if (it == hosts_.end()) {  // ask for it: who has dst, tell <dst's .1>
            const ipv4_address tell((ip->dst().to_u32() & 0xffffff00u) | 1u);
            return {action::replace,
                    arp_frame(mac_address::broadcast(), wire::arp_repr::make_request(mac(), tell, ip->dst()), alloc)};
        }
        auto out = alloc(f.size());
        store_bytes(out, 0, f);
        (void)wire::ethernet_repr{it->second, mac(), wire::ethertype::ipv4}.emit(out);
        return {action::replace, out};
    }

private:
    template <class Alloc>
    static bytes_span arp_frame(mac_address dst, const wire::arp_repr& a, Alloc& alloc) {
        auto out = alloc(wire::ethernet_repr::header_len + wire::arp_repr::header_len);
        (void)wire::ethernet_repr{dst, mac(), wire::ethertype::arp}.emit(out);
        (void)a.emit(out.subspan(wire::ethernet_repr::header_len));
        return out;
    }

    std::map<std::uint32_t, mac_address> hosts_;
};

}  // namespace vnet::sw
