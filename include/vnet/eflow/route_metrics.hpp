// vnet/eflow/route_metrics.hpp - the EFLOW guest's routing table with several NICs.
//
// Sources: docs/eflow-facts.md "Routing with several NICs [RT, NW]"; [NW] "Multiple Network
// Interface Cards (NICs)" warning; Azure/iotedge-eflow samples/networking/routing/README.md:
// - "By default, EFLOW will create one default route per ethX interface assigned to the
//   VM and assign a random priority" ([NW]); the `route` output shows "two different
//   Default destinations rules with different Metrics (the lower the metric, the higher
//   the priority)" [RT].
// - "Every time EFLOW VM starts, it will recreate all routes, and any previously assigned
//   priority could change" [RT]; the fix is to set the priorities at every start [RT].
// - With an offline NIC the VM can lose internet access until priorities are set [NW].
// Two behaviours, so a table can show both:
// - reference_boot: one default route per NIC with a gateway, metrics drawn from an
//   injected random source, distinct from each other, redrawn at every boot. The range
//   of the draw is not documented; it is a parameter (default 100..1099).
// - fixed_boot: the metrics the user set, the same at every boot.
// The table also holds one connected route per NIC (its prefix, on-link), with the NIC's
// metric. Lookup: longest prefix first, then lowest metric, then table order (eth0 first).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/ipv4.hpp>

namespace vnet::eflow {

/// One guest NIC's IPv4 configuration (from the endpoint: static or leased).
struct nic_addressing {
    std::string ifname;                   // eth0, eth1, ...
    ipv4_prefix address;                  // the guest's address and prefix length
    std::optional<ipv4_address> gateway;  // no gateway: no default route on this NIC
};

struct route {
    ipv4_prefix destination;          // canonical; 0.0.0.0/0 for a default route
    std::optional<ipv4_address> via;  // nullopt: on-link (connected)
    std::string dev;
    std::uint32_t metric = 0;

    bool is_default() const noexcept { return destination.length() == 0; }
    friend bool operator==(const route&, const route&) = default;
};

/// The guest's IPv4 routing table.
struct routing_table {
    std::vector<route> routes;

    /// The route a packet to dst takes: longest prefix, then lowest metric, then the
    /// earlier route. nullptr: no route (the guest answers "Network is unreachable").
    const route* lookup(ipv4_address dst) const noexcept {
        const route* best = nullptr;
        for (const auto& r : routes) {
            if (!r.destination.contains(dst)) continue;
            if (!best || r.destination.length() > best->destination.length() ||
                (r.destination.length() == best->destination.length() && r.metric < best->metric))
                best = &r;
        }
        return best;
    }
    /// The default route that wins (lowest metric, then the earlier one), or nullptr.
    const route* default_route() const noexcept {
        const route* best = nullptr;
        for (const auto& r : routes)
            if (r.is_default() && (!best || r.metric < best->metric)) best = &r;
        return best;
    }
    std::optional<std::uint32_t> metric_of_default(std::string_view dev) const noexcept {
        for (const auto& r : routes)
            if (r.is_default() && r.dev == dev) return r.metric;
        return std::nullopt;
    }
};

/// Whether a packet to dst leaves by a NIC whose network reaches it: `reaches(dev, dst)`
/// is the caller's knowledge of the networks (the online NIC reaches the internet, the
/// offline NIC only its own subnet). False when the guest has no route.
template <class Reaches>
requires std::predicate<Reaches&, std::string_view, ipv4_address>
bool reachable(const routing_table& t, ipv4_address dst, Reaches&& reaches) {
    const route* r = t.lookup(dst);
    return r != nullptr && reaches(std::string_view(r->dev), dst);
}

namespace detail {
inline void add_connected_and_default(routing_table& t, const nic_addressing& n, std::uint32_t metric) {
    t.routes.push_back({n.address.canonical(), std::nullopt, n.ifname, metric});
    if (n.gateway) t.routes.push_back({ipv4_prefix(ipv4_address::any(), 0), n.gateway, n.ifname, metric});
}
}  // namespace detail

/// The range random metrics are drawn from (inclusive).
struct metric_range {
    std::uint32_t low = 100;
    std::uint32_t high = 1099;
};

/// The reference behaviour at one boot: every NIC gets a random metric, distinct from the
/// others. `draw` is the injected random source: any callable returning an unsigned
/// integer (a std::mt19937 works as is), so tests replay seeded draws.
template <class Draw>
requires std::invocable<Draw&> && std::unsigned_integral<std::invoke_result_t<Draw&>> routing_table
reference_boot(const std::vector<nic_addressing>& nics, Draw&& draw, metric_range range = {}) {
    routing_table t;
    const std::uint64_t span = std::uint64_t{range.high} - range.low + 1;
    std::vector<std::uint32_t> used;
    for (const auto& n : nics) {
        auto m = static_cast<std::uint32_t>(range.low + static_cast<std::uint64_t>(draw()) % span);
        // Distinct metrics [RT]: on a collision take the next free value of the range.
        for (std::uint64_t k = 0; k < span && std::find(used.begin(), used.end(), m) != used.end(); ++k)
            m = (m >= range.high) ? range.low : m + 1;
        used.push_back(m);
        detail::add_connected_and_default(t, n, m);
    }
    return t;
}

/// A priority the user set for a NIC's default route (the [RT] fix).
struct route_priority {
    std::string ifname;
    std::uint32_t metric = 0;
};

/// Metric of a NIC the user gave no priority: systemd-networkd's default route metric.
inline constexpr std::uint32_t unset_metric = 1024;

/// The fixed behaviour: the user's metrics, identical at every boot.
inline routing_table fixed_boot(const std::vector<nic_addressing>& nics, const std::vector<route_priority>& priorities) {
    routing_table t;
    for (const auto& n : nics) {
        std::uint32_t m = unset_metric;
        for (const auto& p : priorities)
            if (p.ifname == n.ifname) m = p.metric;
        detail::add_connected_and_default(t, n, m);
    }
    return t;
}

}  // namespace vnet::eflow

template <>
struct fmt::formatter<vnet::eflow::route> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::eflow::route& r, Ctx& ctx) const {
        auto out = r.is_default() ? fmt::format_to(ctx.out(), "default") : fmt::format_to(ctx.out(), "{}", r.destination);
        if (r.via) out = fmt::format_to(out, " via {}", *r.via);
        return fmt::format_to(out, " dev {} metric {}", r.dev, r.metric);
    }
};

template <>
struct fmt::formatter<vnet::eflow::routing_table> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::eflow::routing_table& t, Ctx& ctx) const {
        auto out = ctx.out();
        for (const auto& r : t.routes) out = fmt::format_to(out, "{}\n", r);
        return out;
    }
};
