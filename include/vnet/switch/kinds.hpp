// vnet/switch/kinds.hpp - switch kinds and the host's set of switches.
//
// The rules come from [HV], [IS] and docs/eflow-facts.md (docs/sources.md):
// - External: bound to exactly one physical adapter; with allow_management_os the host
//   shares the adapter through a host vNIC that takes over the adapter's IPv4
//   configuration ([HV], the External switch walkthrough and the comments "the
//   virtual NIC should get the physical NIC's config? Correct (for ipv4)"; docs/eflow-facts.md
//   "Hyper-V port and switch features").
// - Internal: VM ports and one host vNIC "vEthernet (Name)"; Private: VM ports only
//   (docs/eflow-facts.md "Hyper-V port and switch features").
// - Default: an internal switch created by the host; "You cannot change the Default
//   switch" ([IS] "However"); it cannot be created or removed by the user.
// - One physical adapter per switch, an adapter on one switch at a time, one host vNIC per
//   switch; an adapter can be added to a switch that has none, removed, or changed at any
//   time, which turns the switch into / out of an External switch ([IS] "Hyper-V
//   Virtual Switches" and "However").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>

namespace vnet::sw {

using vnet::to_string;

/// The kind of a switch, for the switch itself, the lab files (which spell the names of the
/// table below) and the conformance tables. default_ is the lab file's spelling of
/// default_switch, the same value.
enum class switch_kind : std::uint8_t { external, internal, private_, default_switch, default_ = default_switch };

inline constexpr enum_name<switch_kind> switch_kind_names[] = {
    {switch_kind::external, "external"},
    {switch_kind::internal, "internal"},
    {switch_kind::private_, "private"},
    {switch_kind::default_switch, "default"},
};
constexpr std::span<const enum_name<switch_kind>> enum_names(switch_kind) noexcept { return switch_kind_names; }

/// What is plugged into a switch port.
enum class port_role : std::uint8_t {
    vm,                // a VM network adapter
    host_vnic,         // the management OS adapter "vEthernet (Name)"
    external_adapter,  // the physical adapter of an External switch (the uplink)
};

inline constexpr enum_name<port_role> port_role_names[] = {
    {port_role::vm, "vm"},
    {port_role::host_vnic, "host_vnic"},
    {port_role::external_adapter, "external_adapter"},
};
constexpr std::span<const enum_name<port_role>> enum_names(port_role) noexcept { return port_role_names; }

/// The name the Default Switch has on every host.
inline constexpr std::string_view default_switch_name = "Default Switch";

/// One switch as the host configures it.
struct switch_spec {
    std::string name;
    switch_kind kind = switch_kind::private_;
    std::string adapter;               // external only: the physical adapter's name
    bool allow_management_os = false;  // external only: the host shares the adapter

    /// Whether the switch has a host vNIC.
    bool has_host_vnic() const noexcept {
        return kind == switch_kind::internal || kind == switch_kind::default_switch ||
               (kind == switch_kind::external && allow_management_os);
    }
    friend bool operator==(const switch_spec&, const switch_spec&) = default;
};

/// A physical adapter of the host, with the IPv4 configuration the host has on it.
struct physical_adapter {
    std::string name;
    mac_address mac{};
    std::optional<ipv4_prefix> address;  // the host's address on it, if any
    std::optional<ipv4_address> gateway;
    friend bool operator==(const physical_adapter&, const physical_adapter&) = default;
};

/// The management OS adapter of a switch.
struct host_vnic {
    std::string name;                    // "vEthernet (<switch name>)"
    std::optional<mac_address> mac;      // an External switch's host vNIC uses the adapter's MAC
    std::optional<ipv4_prefix> address;  // taken over from the adapter on an External switch
    std::optional<ipv4_address> gateway;
    friend bool operator==(const host_vnic&, const host_vnic&) = default;
};

/// The host's switches and physical adapters. Starts with the Default Switch present.
class switch_registry {
public:
    switch_registry() {
        switches_.push_back({switch_spec{std::string(default_switch_name), switch_kind::default_switch, {}, false},
                             host_vnic{"vEthernet (Default Switch)", {}, {}, {}}});
    }

    /// Declares a physical adapter of the host (an adapter must be known to be bound).
    result<void> add_adapter(physical_adapter a) {
        if (a.name.empty()) return fail(layer::vswitch, errc::bad_value, "adapter name is empty");
        if (find_adapter(a.name)) return fail(layer::vswitch, errc::conflict, "adapter already exists");
        adapters_.push_back(std::move(a));
        return {};
    }

    /// The adapter as the host sees it now (its IPv4 configuration moves to the host vNIC
    /// while an External switch with allow_management_os holds it).
    const physical_adapter* adapter(std::string_view name) const noexcept { return find_adapter(name); }

    /// New-VMSwitch.
    result<void> create(const switch_spec& s) {
        if (s.kind == switch_kind::default_switch)
            return fail(layer::vswitch, errc::conflict, "the Default Switch is created by the host, not by the user");
        if (s.name.empty()) return fail(layer::vswitch, errc::bad_value, "switch name is empty");
        if (find(s.name)) return fail(layer::vswitch, errc::conflict, "a switch with this name already exists");
        if (s.kind != switch_kind::external && (!s.adapter.empty() || s.allow_management_os))
            return fail(layer::vswitch, errc::bad_value, "only an external switch has a physical adapter");
        if (s.kind == switch_kind::external) {
            if (auto r = check_adapter_free(s.adapter, nullptr); !r) return r;
        }
        switches_.push_back({s, std::nullopt});
        auto& e = switches_.back();
        if (s.kind == switch_kind::external) bind(e);
        else if (s.kind == switch_kind::internal) e.vnic = host_vnic{vnic_name(s.name), {}, {}, {}};
        return {};
    }

    /// Remove-VMSwitch.
    result<void> remove(std::string_view name) {
        auto* e = find(name);
        if (!e) return fail(layer::vswitch, errc::not_found, "switch");
        if (e->spec.kind == switch_kind::default_switch)
            return fail(layer::vswitch, errc::conflict, "the Default Switch cannot be removed");
        unbind(*e);
        switches_.erase(switches_.begin() + (e - switches_.data()));
        return {};
    }

    /// Set-VMSwitch -NetAdapterName: binds (or re-binds) a physical adapter, which makes
    /// the switch External.
    result<void> set_adapter(std::string_view name, std::string_view adapter_name, bool allow_management_os) {
        auto* e = find(name);
        if (!e) return fail(layer::vswitch, errc::not_found, "switch");
        if (e->spec.kind == switch_kind::default_switch)
            return fail(layer::vswitch, errc::conflict, "the Default Switch cannot be changed");
        if (auto r = check_adapter_free(adapter_name, e); !r) return r;
        unbind(*e);
        e->spec.kind = switch_kind::external;
        e->spec.adapter = std::string(adapter_name);
        e->spec.allow_management_os = allow_management_os;
        bind(*e);
        return {};
    }

    /// Set-VMSwitch -SwitchType Internal|Private: drops the physical adapter (if any); an
    /// Internal switch gets a host vNIC, a Private one loses it.
    result<void> set_kind(std::string_view name, switch_kind kind) {
        auto* e = find(name);
        if (!e) return fail(layer::vswitch, errc::not_found, "switch");
        if (e->spec.kind == switch_kind::default_switch)
            return fail(layer::vswitch, errc::conflict, "the Default Switch cannot be changed");
        if (kind == switch_kind::default_switch)
            return fail(layer::vswitch, errc::conflict, "the Default Switch is created by the host, not by the user");
        if (kind == switch_kind::external)
            return fail(layer::vswitch, errc::bad_value, "an external switch needs a physical adapter (use set_adapter)");
        unbind(*e);
        e->spec.kind = kind;
        if (kind == switch_kind::internal && !e->vnic) e->vnic = host_vnic{vnic_name(e->spec.name), {}, {}, {}};
        if (kind == switch_kind::private_) e->vnic.reset();
        return {};
    }

    /// Set-VMSwitch -AllowManagementOS on an External switch.
    result<void> set_allow_management_os(std::string_view name, bool allow) {
        auto* e = find(name);
        if (!e) return fail(layer::vswitch, errc::not_found, "switch");
        if (e->spec.kind == switch_kind::default_switch)
            return fail(layer::vswitch, errc::conflict, "the Default Switch cannot be changed");
        if (e->spec.kind != switch_kind::external)
            return fail(layer::vswitch, errc::bad_value, "allow_management_os applies to an external switch only");
        const std::string adapter_name = e->spec.adapter;
        unbind(*e);
        e->spec.adapter = adapter_name;
        e->spec.allow_management_os = allow;
        bind(*e);
        return {};
    }

    const switch_spec* get(std::string_view name) const noexcept {
        const auto* e = find(name);
        return e ? &e->spec : nullptr;
    }
    /// The switch's host vNIC, if it has one.
    const host_vnic* vnic(std::string_view name) const noexcept {
        const auto* e = find(name);
        return e && e->vnic ? &*e->vnic : nullptr;
    }
    std::vector<switch_spec> list() const {
        std::vector<switch_spec> out;
        for (const auto& e : switches_) out.push_back(e.spec);
        return out;
    }

private:
    struct entry {
        switch_spec spec;
        std::optional<host_vnic> vnic;
    };

    static std::string vnic_name(std::string_view sw) { return fmt::format("vEthernet ({})", sw); }

    entry* find(std::string_view name) noexcept {
        for (auto& e : switches_)
            if (e.spec.name == name) return &e;
        return nullptr;
    }
    const entry* find(std::string_view name) const noexcept {
        for (const auto& e : switches_)
            if (e.spec.name == name) return &e;
        return nullptr;
    }
    physical_adapter* find_adapter(std::string_view name) noexcept {
        for (auto& a : adapters_)
            if (a.name == name) return &a;
        return nullptr;
    }
    const physical_adapter* find_adapter(std::string_view name) const noexcept {
        for (const auto& a : adapters_)
            if (a.name == name) return &a;
        return nullptr;
    }

    result<void> check_adapter_free(std::string_view adapter_name, const entry* self) const {
        if (adapter_name.empty()) return fail(layer::vswitch, errc::bad_value, "external switch needs a physical adapter");
        if (!find_adapter(adapter_name)) return fail(layer::vswitch, errc::not_found, "physical adapter");
        for (const auto& e : switches_) {
            if (&e == self) continue;
            if (e.spec.kind == switch_kind::external && e.spec.adapter == adapter_name)
                return fail(layer::vswitch, errc::conflict, "adapter already bound to another switch");
        }
        return {};
    }

    // External binding: the host vNIC (allow_management_os) takes over the adapter's MAC and
    // IPv4 configuration; without it the host loses the adapter entirely.
    void bind(entry& e) {
        auto* a = find_adapter(e.spec.adapter);
        if (!a) return;
        if (e.spec.allow_management_os) {
            e.vnic = host_vnic{vnic_name(e.spec.name), a->mac, a->address, a->gateway};
        } else {
            e.vnic.reset();
            parked_.push_back(*a);
        }
        a->address.reset();
        a->gateway.reset();
    }
    // Undoing the binding gives the adapter its IPv4 configuration back.
    void unbind(entry& e) {
        if (e.spec.kind != switch_kind::external) return;
        if (auto* a = find_adapter(e.spec.adapter)) {
            if (e.vnic) {
                a->address = e.vnic->address;
                a->gateway = e.vnic->gateway;
            } else {
                for (auto it = parked_.begin(); it != parked_.end(); ++it) {
                    if (it->name == a->name) {
                        a->address = it->address;
                        a->gateway = it->gateway;
                        parked_.erase(it);
                        break;
                    }
                }
            }
        }
        e.vnic.reset();
        e.spec.adapter.clear();
        e.spec.allow_management_os = false;
    }

    std::vector<entry> switches_;
    std::vector<physical_adapter> adapters_;
    std::vector<physical_adapter> parked_;  // IPv4 configuration of adapters dedicated to VMs
};

}  // namespace vnet::sw
