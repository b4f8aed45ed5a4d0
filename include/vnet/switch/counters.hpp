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
#include <span>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>

namespace vnet::sw {

using vnet::to_string;

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
    bad_offload,     // the frame's offload metadata does not match its headers (egress that needed it finished)
    count_
};

inline constexpr std::size_t drop_reason_count = static_cast<std::size_t>(drop_reason::count_);

inline constexpr enum_name<drop_reason> drop_reason_names[] = {
    {drop_reason::malformed, "malformed"},
    {drop_reason::vlan_filter, "vlan_filter"},
    {drop_reason::spoofed_source, "spoofed_source"},
    {drop_reason::dhcp_guard, "dhcp_guard"},
    {drop_reason::router_guard, "router_guard"},
    {drop_reason::acl_deny, "acl_deny"},
    {drop_reason::storm_limit, "storm_limit"},
    {drop_reason::table_full, "table_full"},
    {drop_reason::reflect, "reflect"},
    {drop_reason::bad_offload, "bad_offload"},
};
constexpr std::span<const enum_name<drop_reason>> enum_names(drop_reason) noexcept { return drop_reason_names; }

struct port_counters {
    std::uint64_t rx_frames = 0;  // frames the port sent into the switch
    std::uint64_t rx_bytes = 0;
    std::uint64_t tx_frames = 0;  // frames the switch delivered to the port (mirror copies included)
    std::uint64_t tx_bytes = 0;
    std::uint64_t flooded = 0;          // received frames flooded (broadcast, multicast, unknown unicast)
    std::uint64_t flooded_unknown = 0;  // of those, unicast frames whose destination was not learned
    std::uint64_t mirrored = 0;         // mirror copies delivered to this port
    std::uint64_t sw_segmented = 0;     // GSO super-frames this port could not take, segmented in software
    std::uint64_t sw_segments = 0;      // the segments they became
    std::uint64_t sw_checksummed = 0;   // partial checksums this port could not take, completed in software
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

/// "rx 3 frames 192 bytes, tx 2 frames 128 bytes, flooded 1, mirrored 0, drops: reflect=1"
/// (only non-zero drop reasons are listed; "drops: none" when there are none; the software
/// offload counters only when the port needed them: ", software gso 2 into 90 segments,
/// software checksums 3").
template <>
struct fmt::formatter<vnet::sw::port_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::sw::port_counters& c, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "rx {} frames {} bytes, tx {} frames {} bytes, flooded {}, mirrored {}", c.rx_frames,
                                  c.rx_bytes, c.tx_frames, c.tx_bytes, c.flooded, c.mirrored);
        if (c.sw_segmented != 0 || c.sw_checksummed != 0)
            out = fmt::format_to(out, ", software gso {} into {} segments, software checksums {}", c.sw_segmented, c.sw_segments,
                                 c.sw_checksummed);
        out = fmt::format_to(out, ", drops:");
        return vnet::format_counters<vnet::sw::drop_reason>(out, c.drops);
    }
};
