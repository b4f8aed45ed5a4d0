// vnet/eflow/support_matrix.hpp - which switch type works on which host SKU with which
// IP allocation, as data with its source per row.
//
// Source: [NW] (azure-docs iot-edge-for-linux-on-windows-networking.md), the tables
// under "Virtual switch choices" (switch type x SKU) and "IP address allocations" (switch
// type x static IP / DHCP), restated in docs/eflow-facts.md "Support matrix [NW]".
// - "Without -vSwitchName/-vSwitchType the VM goes on the Default Switch" ([NW]
//   "Networking"), and Windows Server has no Default Switch ("On Windows Server SKUs
//   devices ... there's no default switch available").
// - Static IP is IPv4 only ([NW] "IP address allocations", Static IP bullet).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/switch/kinds.hpp>

namespace vnet::eflow {

using vnet::to_string;

/// The Windows edition of the host.
enum class host_sku : std::uint8_t { client, server };

/// The switch the VM's primary endpoint goes on: the switch's own kind (switch/kinds.hpp).
/// default_switch is what the VM gets when neither -vSwitchName nor -vSwitchType is given;
/// a private switch is none of EFLOW's choices (its row below supports nothing).
using switch_type = sw::switch_kind;

/// The switch type as Hyper-V and the EFLOW cmdlets spell it ("External", "Internal",
/// "Private", and "Default Switch", which is a name rather than a -SwitchType value).
constexpr std::string_view hyperv_name(switch_type t) noexcept {
    switch (t) {
        case switch_type::external: return "External";
        case switch_type::internal: return "Internal";
        case switch_type::private_: return "Private";
        case switch_type::default_switch: return "Default Switch";
    }
    return "?";
}

/// How the VM's address is configured.
enum class ip_mode : std::uint8_t { static_ip, dhcp };

inline constexpr enum_name<host_sku> host_sku_names[] = {
    {host_sku::client, "client"},
    {host_sku::server, "server"},
};
constexpr std::span<const enum_name<host_sku>> enum_names(host_sku) noexcept { return host_sku_names; }

inline constexpr enum_name<ip_mode> ip_mode_names[] = {
    {ip_mode::static_ip, "static"},
    {ip_mode::dhcp, "dhcp"},
};
constexpr std::span<const enum_name<ip_mode>> enum_names(ip_mode) noexcept { return ip_mode_names; }

namespace detail {
constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace detail

/// Case-insensitive ASCII comparison (PowerShell compares parameter values that way).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (detail::lower(a[i]) != detail::lower(b[i])) return false;
    return true;
}

/// "client" | "server" (the lab file's host_sku key), case-insensitive.
constexpr std::optional<host_sku> parse_host_sku(std::string_view s) noexcept { return parse_enum<host_sku>(s, iequals); }

/// The values Deploy-Eflow accepts for -vSwitchType: "External" | "Internal",
/// case-insensitive (docs/eflow-facts.md "Deployment cmdlets [FN]": vswitchType Internal|External).
/// The Default Switch has no -vSwitchType value: it is what no switch means.
constexpr std::optional<switch_type> parse_switch_type(std::string_view s) noexcept {
    if (iequals(s, "External")) return switch_type::external;
    if (iequals(s, "Internal")) return switch_type::internal;
    return std::nullopt;
}

/// One row of the matrix: a switch type, where it is supported, and the source.
struct support_row {
    switch_type type;
    bool client_sku;
    bool server_sku;
    bool static_ip;
    bool dhcp;
    std::string_view sku_source;  // the row of the switch type x SKU table
    std::string_view ip_source;   // the row of the switch type x IP allocation table
};

/// The matrix, one row per switch type ([NW], docs/eflow-facts.md "Support matrix [NW]").
inline constexpr std::array<support_row, 4> support_matrix{{
    {switch_type::external, true, true, true, true, "[NW] \"Virtual switch choices\": External - client yes, server yes",
     "[NW] \"IP address allocations\": External - static IP yes, DHCP yes"},
    {switch_type::internal, false, true, true, true, "[NW] \"Virtual switch choices\": Internal - client no, server yes",
     "[NW] \"IP address allocations\": Internal - static IP yes, DHCP yes"},
    {switch_type::default_switch, true, false, false, true,
     "[NW] \"Virtual switch choices\": Default switch - client yes, server no",
     "[NW] \"IP address allocations\": Default switch - static IP no, DHCP yes"},
    {switch_type::private_, false, false, false, false,
     "[NW] \"Virtual switch choices\": a private switch is not among the choices (External, Internal, Default switch)",
     "[NW] \"IP address allocations\": a private switch is not among the choices"},
}};

constexpr const support_row& support_for(switch_type t) noexcept {
    for (const auto& r : support_matrix)
        if (r.type == t) return r;
    return support_matrix[0];  // unreachable: every enumerator has a row (checked below)
}

/// Whether the switch type is supported on the host SKU.
constexpr bool switch_supported(switch_type t, host_sku s) noexcept {
    const auto& r = support_for(t);
    return s == host_sku::client ? r.client_sku : r.server_sku;
}

/// Whether the switch type supports the IP allocation method.
constexpr bool ip_mode_supported(switch_type t, ip_mode m) noexcept {
    const auto& r = support_for(t);
    return m == ip_mode::static_ip ? r.static_ip : r.dhcp;
}

/// The whole matrix: switch type x SKU x IP mode.
constexpr bool supported(switch_type t, host_sku s, ip_mode m) noexcept {
    return switch_supported(t, s) && ip_mode_supported(t, m);
}

static_assert(support_matrix[0].type == switch_type::external && support_matrix[1].type == switch_type::internal &&
                  support_matrix[2].type == switch_type::default_switch && support_matrix[3].type == switch_type::private_,
              "one row per switch type");

}  // namespace vnet::eflow

template <>
struct fmt::formatter<vnet::eflow::support_row> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::eflow::support_row& r, Ctx& ctx) const {
        auto yn = [](bool b) { return b ? "yes" : "no"; };
        return fmt::format_to(ctx.out(), "{}: client {}, server {}, static {}, dhcp {}", vnet::eflow::hyperv_name(r.type),
                              yn(r.client_sku), yn(r.server_sku), yn(r.static_ip), yn(r.dhcp));
    }
};
