// vnet/switch/counters.hpp - per-port frame, byte and drop counters.
//
// Every frame the switch drops is counted on one port under a named reason, the way VPP
// graph nodes declare their error counters and Open vSwitch bumps named coverage
// counters instead of logging (docs/style.md). Ingress reasons count on the input port,
// egress reasons (vlan_filter and acl_deny towards a port) on the output port.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

namespace vnet::sw {

enum class drop_reason : std::uint8_t {
    malformed,       // shorter than an Ethernet header, too many tags, VID 4095
    vlan_filter,     // the frame's VLAN is not allowed on the port (or the PVLAN pair is not allowed)
    spoofed_source,  // source MAC is not the port's MAC and MAC address spoofing is off
    dhcp_guard,      // a DHCP server message from a port with DHCP guard on
    router_guard,    // a router advertisement or redirect from a port with router guard on
    acl_deny,        // a port ACL denied the frame
    storm_limit,     // broadcast / multicast / unknown unicast above the port's storm limit
    table_full,      // the MAC table is full and its policy refuses new sources
    reflect,         // the destination was learned on the input port itself
    count_
};

inline constexpr std::size_t drop_reason_count = static_cast<std::size_t>(drop_reason::count_);

constexpr std::string_view to_string(drop_reason r) noexcept {
    switch (r) {
        case drop_reason::malformed: return "malformed";
        case drop_reason::vlan_filter: return "vlan_filter";
        case drop_reason::spoofed_source: return "spoofed_source";
        case drop_reason::dhcp_guard: return "dhcp_guard";
        case drop_reason::router_guard: return "router_guard";
        case drop_reason::acl_deny: return "acl_deny";
        case drop_reason::storm_limit: return "storm_limit";
        case drop_reason::table_full: return "table_full";
        case drop_reason::reflect: return "reflect";
        case drop_reason::count_: break;
    }
    return "?";
}

struct port_counters {
    std::uint64_t rx_frames = 0;  // frames the port sent into the switch
    std::uint64_t rx_bytes = 0;
    std::uint64_t tx_frames = 0;  // frames the switch delivered to the port (mirror copies included)
    std::uint64_t tx_bytes = 0;
    std::uint64_t flooded = 0;    // received frames flooded (broadcast, multicast, unknown unicast)
    std::uint64_t mirrored = 0;   // mirror copies delivered to this port
    std::array<std::uint64_t, drop_reason_count> drops{};

    constexpr std::uint64_t drop(drop_reason r) const noexcept { return drops[static_cast<std::size_t>(r)]; }
    constexpr void count_drop(drop_reason r) noexcept { ++drops[static_cast<std::size_t>(r)]; }
    constexpr std::uint64_t total_drops() const noexcept {
        std::uint64_t n = 0;
        for (auto d : drops) n += d;
        return n;
    }
};

}  // namespace vnet::sw

template <>
struct fmt::formatter<vnet::sw::drop_reason> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(vnet::sw::drop_reason r, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(vnet::sw::to_string(r), ctx);
    }
};

/// "rx 3 frames 192 bytes, tx 2 frames 128 bytes, flooded 1, mirrored 0, drops: reflect=1"
/// (only non-zero drop reasons are listed; "drops: none" when there are none).
template <>
struct fmt::formatter<vnet::sw::port_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::sw::port_counters& c, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "rx {} frames {} bytes, tx {} frames {} bytes, flooded {}, mirrored {}, drops:",
                                  c.rx_frames, c.rx_bytes, c.tx_frames, c.tx_bytes, c.flooded, c.mirrored);
        bool any = false;
        for (std::size_t i = 0; i < vnet::sw::drop_reason_count; ++i) {
            if (c.drops[i] == 0) continue;
            out = fmt::format_to(out, " {}={}", vnet::sw::to_string(static_cast<vnet::sw::drop_reason>(i)), c.drops[i]);
            any = true;
        }
        if (!any) out = fmt::format_to(out, " none");
        return out;
    }
};
