// vnet/lab/check_kinds.hpp - the kinds of a lab file's [[check]]: one row per kind with its
// name and every rule the lab file, the runtime and the reports apply to it.
//
// A new check kind is a value of check_kind, its row here, and its function in
// lab/checks.hpp (`template <> void run_check_kind<check_kind::NEW>(...)`). Everything else
// reads the row: the lab file's key validation and messages, the spelling in lab files and
// reports, whether the probe runs in the guest, before the VMs boot, or only under
// `vnet conformance`. A kind without a function does not link.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <vnet/core/enum_names.hpp>

namespace vnet::lab {

enum class check_kind : std::uint8_t {
    ping,
    tcp,
    dns,
    dhcp,
    route,
    deploy,
    flooding,
    reboot,
    arp,
    resolvers,
    metrics,
    link_local,
    lease_loss
};

/// What a reboot check reads in the guest before and after the restarts (key `read`).
enum class reboot_reads : std::uint8_t {
    mac,      // the NIC's MAC address
    address,  // the NIC's IPv4 address and prefix
};
inline constexpr enum_name<reboot_reads> reboot_reads_names[] = {
    {reboot_reads::mac, "mac"},
    {reboot_reads::address, "address"},
};
constexpr std::span<const enum_name<reboot_reads>> enum_names(reboot_reads) noexcept { return reboot_reads_names; }

/// Where a check's `from` (or `to`) may point.
enum class check_end : std::uint8_t {
    any,     // a VM, "host", a network or a network peer (`to`: also an address or name)
    vm,      // a VM of the lab
    not_vm,  // the host, a network or a peer: never a VM
};

/// What each kind is and observes: the comment of its function in lab/checks.hpp.
struct check_kind_rules {
    check_kind kind;
    std::string_view name;    // the lab file's spelling
    bool needs_to = false;    // `to` is required
    bool needs_port = false;  // `port` is required (and allowed only here)
    bool needs_name = false;  // `name` is required (the target shown in reports is the name)
    bool free_text = false;   // `expect` is the exact observed text, not "ok" / "fail"
    check_end from = check_end::any;
    check_end to = check_end::any;
    bool in_guest = false;     // the probe runs in the guest when `from` is a VM
    bool before_boot = false;  // run before the VMs boot (as Deploy-Eflow probes the network)
    bool lab_run = true;       // false: only `vnet conformance` carries it out
    bool arrow = true;         // reports write "KIND FROM -> TO" (else "KIND FROM TO")
};

inline constexpr check_kind_rules check_kinds[] = {
    {.kind = check_kind::ping, .name = "ping", .needs_to = true, .in_guest = true},
    {.kind = check_kind::tcp, .name = "tcp", .needs_to = true, .needs_port = true, .in_guest = true},
    {.kind = check_kind::dns, .name = "dns", .needs_name = true, .in_guest = true, .arrow = false},
    {.kind = check_kind::dhcp, .name = "dhcp", .in_guest = true, .arrow = false},
    {.kind = check_kind::route, .name = "route", .in_guest = true},
    {.kind = check_kind::deploy, .name = "deploy", .free_text = true, .lab_run = false},
    {.kind = check_kind::flooding,
     .name = "flooding",
     .needs_to = true,
     .free_text = true,
     .from = check_end::vm,
     .to = check_end::vm},
    {.kind = check_kind::reboot, .name = "reboot", .free_text = true, .from = check_end::vm, .in_guest = true},
    {.kind = check_kind::arp, .name = "arp", .needs_to = true, .from = check_end::not_vm, .before_boot = true},
    {.kind = check_kind::resolvers, .name = "resolvers", .free_text = true, .from = check_end::vm, .in_guest = true},
    {.kind = check_kind::metrics, .name = "metrics", .free_text = true, .from = check_end::vm, .in_guest = true},
    {.kind = check_kind::link_local, .name = "link_local", .in_guest = true, .arrow = false},
    {.kind = check_kind::lease_loss,
     .name = "lease_loss",
     .needs_to = true,
     .free_text = true,
     .from = check_end::vm,
     .to = check_end::not_vm,
     .in_guest = true},
};

/// How many real boots a metrics check reads the guest's default routes at (the first
/// boot and this many minus one reboots).
inline constexpr int metrics_boots = 3;

/// The row of kind k (every kind has one: checked below).
constexpr const check_kind_rules& rules_of(check_kind k) noexcept {
    for (const auto& r : check_kinds)
        if (r.kind == k) return r;
    return check_kinds[0];  // unreachable: every_kind_has_one_row
}

namespace detail {
constexpr bool every_kind_has_one_row() {
    for (std::size_t i = 0; i < std::size(check_kinds); ++i) {
        if (static_cast<std::size_t>(check_kinds[i].kind) != i) return false;  // rows in enum order, no gap
        if (check_kinds[i].name.empty()) return false;
    }
    return true;
}
static_assert(every_kind_has_one_row(), "check_kinds: one row per check_kind, in the enum's order");

constexpr auto make_check_kind_names() {
    std::array<enum_name<check_kind>, std::size(check_kinds)> out{};
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = {check_kinds[i].kind, check_kinds[i].name};
    return out;
}
}  // namespace detail

inline constexpr auto check_kind_names = detail::make_check_kind_names();
constexpr std::span<const enum_name<check_kind>> enum_names(check_kind) noexcept { return check_kind_names; }

}  // namespace vnet::lab
