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
#include <vnet/core/mac.hpp>

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
        if (f.size() < 42 || load_be16(f, 12) == 0x8100) return {};
        const std::uint16_t type = load_be16(f, 12);
        if (type == 0x0806 && load_be16(f, 20) == 1) {  // ARP request
            const std::uint32_t sender = load_be32(f, 28), target = load_be32(f, 38);
            if (sender != 0) hosts_[sender] = mac_address::load(f, 22);
            if (target == sender || hosts_.count(target) != 0) return {};
            auto r = alloc(42);
            mac_address::load(f, 6).store(r, 0);
            mac().store(r, 6);
            store_bytes(r, 12, f.subspan(12, 8));  // ethertype, htype, ptype, hlen, plen
            store_be16(r, 20, 2);                  // reply
            mac().store(r, 22);
            store_be32(r, 28, target);
            store_bytes(r, 32, f.subspan(22, 10));  // the requester's MAC and address
            return {action::reply, r};
        }
        if (type == 0x0806 && load_be16(f, 20) == 2) {  // ARP reply: learn the sender
            hosts_[load_be32(f, 28)] = mac_address::load(f, 22);
            return {};
        }
        if (type != 0x0800) return {};
        const std::uint32_t src = load_be32(f, 26), dst = load_be32(f, 30);
        if (mac_address::load(f, 6) != mac()) hosts_[src] = mac_address::load(f, 6);
        if (mac_address::load(f, 0) != mac()) return {};
        auto it = hosts_.find(dst);
        if (it == hosts_.end()) {  // ask for it: who has dst, tell <dst's .1>
            auto q = alloc(42);
            mac_address::broadcast().store(q, 0);
            mac().store(q, 6);
            store_be16(q, 12, 0x0806);
            store_be16(q, 14, 1);
            store_be16(q, 16, 0x0800);
            store_u8(q, 18, 6);
            store_u8(q, 19, 4);
            store_be16(q, 20, 1);
            mac().store(q, 22);
            store_be32(q, 28, (dst & 0xffffff00u) | 1u);
            mac_address{}.store(q, 32);
            store_be32(q, 38, dst);
            return {action::replace, q};
        }
        auto out = alloc(f.size());
        store_bytes(out, 0, f);
        it->second.store(out, 0);
        mac().store(out, 6);
        return {action::replace, out};
    }

private:
    std::map<std::uint32_t, mac_address> hosts_;
};

}  // namespace vnet::sw
