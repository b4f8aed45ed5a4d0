// vnet/switch/acl.hpp - port ACLs (Add-VMNetworkAdapterAcl / -ExtendedAcl).
//
// A rule allows or denies frames in one direction seen from the VM (inbound: towards the
// VM, outbound: from the VM), matching the local (VM side) and remote address or prefix,
// the IP protocol and the local and remote port ranges. Rules are tried by weight, highest
// first (extended ACLs); the first matching rule decides; no match allows. The firewall
// tables of docs/eflow-facts.md "Firewall guidance" (inbound 8883 / 5671 / 443 blocked,
// outbound open) are expressed with these rules.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/switch/classify.hpp>

namespace vnet::sw {

/// Direction from the VM's point of view.
enum class acl_direction : std::uint8_t { inbound = 1, outbound = 2, both = 3 };
enum class acl_action : std::uint8_t { allow, deny };

/// Any address, an IPv4 prefix or an IPv6 prefix.
struct ip_match {
    std::uint8_t version = 0;  // 0: any
    ipv4_prefix v4{};
    ipv6_address v6{};
    std::uint8_t v6_len = 0;

    static constexpr ip_match any() noexcept { return {}; }
    static constexpr ip_match of(ipv4_prefix p) noexcept { return {4, p, {}, 0}; }
    static constexpr ip_match of(ipv4_address a) noexcept { return {4, ipv4_prefix(a, 32), {}, 0}; }
    static constexpr ip_match of(ipv6_address a, std::uint8_t len = 128) noexcept {
        return {6, {}, a, static_cast<std::uint8_t>(len > 128 ? 128 : len)};
    }

    constexpr bool is_any() const noexcept { return version == 0; }

    constexpr bool matches(const flow_key& k, bool source) const noexcept {
        if (version == 0) return true;
        if (version != k.ip_version) return false;
        if (version == 4) return v4.contains(source ? k.src4 : k.dst4);
        const auto& a = (source ? k.src6 : k.dst6).octets();
        const auto& p = v6.octets();
        std::size_t bits = v6_len;
        for (std::size_t i = 0; bits > 0; ++i) {
            const std::size_t take = bits >= 8 ? 8 : bits;
            const auto mask = static_cast<std::uint8_t>(0xff00u >> take);
            if ((a[i] & mask) != (p[i] & mask)) return false;
            bits -= take;
        }
        return true;
    }
};

struct port_range {
    std::uint16_t lo = 0, hi = 65535;
    static constexpr port_range any() noexcept { return {}; }
    static constexpr port_range single(std::uint16_t p) noexcept { return {p, p}; }
    constexpr bool is_any() const noexcept { return lo == 0 && hi == 65535; }
    constexpr bool contains(std::uint16_t p) const noexcept { return lo <= p && p <= hi; }
};

struct acl_rule {
    acl_direction direction = acl_direction::both;
    acl_action action = acl_action::deny;
    ip_match local{};
    ip_match remote{};
    std::optional<std::uint8_t> protocol;  // IP protocol number, e.g. ip_proto::tcp
    port_range local_port{};
    port_range remote_port{};
    int weight = 0;  // higher first

    /// True when the rule needs L3/L4 fields (anything but "all frames in a direction").
    constexpr bool needs_l3() const noexcept {
        return !local.is_any() || !remote.is_any() || protocol || !local_port.is_any() || !remote_port.is_any();
    }

    /// dir is the direction of this frame seen from the VM of the port the rules belong to.
    constexpr bool matches(const flow_key& k, acl_direction dir) const noexcept {
        if ((static_cast<std::uint8_t>(direction) & static_cast<std::uint8_t>(dir)) == 0) return false;
        const bool out = dir == acl_direction::outbound;  // the VM is the source
        if (!local.matches(k, out) || !remote.matches(k, !out)) return false;
        if (protocol && (!k.is_ip() || k.proto != *protocol)) return false;
        if (!local_port.is_any() || !remote_port.is_any()) {
            if (!k.has_ports) return false;
            const std::uint16_t lp = out ? k.sport : k.dport;
            const std::uint16_t rp = out ? k.dport : k.sport;
            if (!local_port.contains(lp) || !remote_port.contains(rp)) return false;
        }
        return true;
    }
};

/// A port's rules, kept sorted by weight (highest first; equal weights in insertion order).
class acl_list {
public:
    void add(const acl_rule& r) {
        auto it = std::upper_bound(rules_.begin(), rules_.end(), r,
                                   [](const acl_rule& a, const acl_rule& b) { return a.weight > b.weight; });
        rules_.insert(it, r);
        l3_ = l3_ || r.needs_l3();
        update_dirs();
    }
    void clear() noexcept {
        rules_.clear();
        l3_ = false;
        dirs_ = 0;
    }
    bool empty() const noexcept { return rules_.empty(); }
    std::span<const acl_rule> rules() const noexcept { return rules_; }
    bool needs_l3() const noexcept { return l3_; }
    /// True when some rule applies to frames in direction d.
    bool applies(acl_direction d) const noexcept { return (dirs_ & static_cast<std::uint8_t>(d)) != 0; }

    /// The decision for one frame (allow when no rule matches).
    acl_action evaluate(const flow_key& k, acl_direction d) const noexcept {
        for (const auto& r : rules_)
            if (r.matches(k, d)) return r.action;
        return acl_action::allow;
    }

private:
    void update_dirs() noexcept {
        dirs_ = 0;
        for (const auto& r : rules_) dirs_ |= static_cast<std::uint8_t>(r.direction);
    }
    std::vector<acl_rule> rules_;
    bool l3_ = false;
    std::uint8_t dirs_ = 0;
};

}  // namespace vnet::sw
