// vnet/switch/vlan_mode.hpp - per-port VLAN settings (Set-VMNetworkAdapterVlan).
//
// The modes are exclusive (docs/eflow-facts.md "Hyper-V port and switch features"):
// - untagged: the port is on the untagged network (VLAN 0 inside the switch);
// - access: one VLAN id, the tag is removed towards the VM and added towards trunks;
// - trunk: an allowed VLAN list plus a native VLAN sent untagged (native 0: untagged
//   frames belong to the untagged network);
// - private VLAN: a primary VLAN and a secondary one; isolated ports reach promiscuous
//   ports only, community ports reach their own community and promiscuous ports,
//   promiscuous ports reach all (IEEE 802.1Q private VLANs as Hyper-V offers them).
// An External switch's adapter port is a trunk that carries tags ("tagged" uplink, seed
// 004 "VLANs"); by default it allows every VLAN with the untagged network as native.
#pragma once

#include <bitset>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/error.hpp>

namespace vnet::sw {

using vnet::to_string;

enum class vlan_mode : std::uint8_t { untagged, access, trunk, pvlan };
enum class pvlan_mode : std::uint8_t { isolated, community, promiscuous };

inline constexpr enum_name<vlan_mode> vlan_mode_names[] = {
    {vlan_mode::untagged, "untagged"},
    {vlan_mode::access, "access"},
    {vlan_mode::trunk, "trunk"},
    {vlan_mode::pvlan, "private"},
};
constexpr std::span<const enum_name<vlan_mode>> enum_names(vlan_mode) noexcept { return vlan_mode_names; }

struct vlan_setting {
    vlan_mode mode = vlan_mode::untagged;
    std::uint16_t access_vid = 0;          // access
    std::bitset<4096> allowed{};           // trunk: allowed VLAN ids (1-4094)
    std::uint16_t native_vid = 0;          // trunk: the VLAN sent and received untagged (0: untagged network)
    pvlan_mode pv = pvlan_mode::isolated;  // pvlan
    std::uint16_t primary_vid = 0;         // pvlan
    std::uint16_t secondary_vid = 0;       // pvlan isolated / community

    static vlan_setting untagged() noexcept { return {}; }
    static vlan_setting access(std::uint16_t vid) noexcept {
        vlan_setting s;
        s.mode = vlan_mode::access;
        s.access_vid = vid;
        return s;
    }
    static vlan_setting trunk(std::initializer_list<std::uint16_t> allowed, std::uint16_t native = 0) noexcept {
        vlan_setting s;
        s.mode = vlan_mode::trunk;
        for (auto v : allowed)
            if (v >= 1 && v <= 4094) s.allowed.set(v);
        s.native_vid = native;
        return s;
    }
    /// A trunk that allows every VLAN id 1-4094 (the default of an External adapter port).
    static vlan_setting trunk_all(std::uint16_t native = 0) noexcept {
        vlan_setting s;
        s.mode = vlan_mode::trunk;
        s.allowed.set();
        s.allowed.reset(0);
        s.allowed.reset(4095);
        s.native_vid = native;
        return s;
    }
    static vlan_setting isolated(std::uint16_t primary, std::uint16_t secondary) noexcept {
        return pvlan(pvlan_mode::isolated, primary, secondary);
    }
    static vlan_setting community(std::uint16_t primary, std::uint16_t secondary) noexcept {
        return pvlan(pvlan_mode::community, primary, secondary);
    }
    static vlan_setting promiscuous(std::uint16_t primary) noexcept { return pvlan(pvlan_mode::promiscuous, primary, 0); }

    /// Checks the ids: VLAN ids are 1-4094 (802.1Q table 9-2), a trunk's native VLAN is
    /// 0 or one of 1-4094, a secondary VLAN differs from its primary.
    result<void> validate() const noexcept {
        auto ok = [](std::uint16_t v) { return v >= 1 && v <= 4094; };
        switch (mode) {
            case vlan_mode::untagged: return {};
            case vlan_mode::access:
                if (!ok(access_vid)) return fail(layer::vswitch, errc::bad_value, "access VLAN id must be 1-4094");
                return {};
            case vlan_mode::trunk:
                if (native_vid > 4094) return fail(layer::vswitch, errc::bad_value, "native VLAN id must be 0-4094");
                return {};
            case vlan_mode::pvlan:
                if (!ok(primary_vid)) return fail(layer::vswitch, errc::bad_value, "primary VLAN id must be 1-4094");
                if (pv != pvlan_mode::promiscuous) {
                    if (!ok(secondary_vid)) return fail(layer::vswitch, errc::bad_value, "secondary VLAN id must be 1-4094");
                    if (secondary_vid == primary_vid)
                        return fail(layer::vswitch, errc::bad_value, "secondary VLAN id must differ from the primary");
                }
                return {};
        }
        return {};
    }

private:
    static vlan_setting pvlan(pvlan_mode m, std::uint16_t primary, std::uint16_t secondary) noexcept {
        vlan_setting s;
        s.mode = vlan_mode::pvlan;
        s.pv = m;
        s.primary_vid = primary;
        s.secondary_vid = secondary;
        return s;
    }
};

}  // namespace vnet::sw
