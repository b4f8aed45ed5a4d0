// vnet/switch/port.hpp - switch ports: their configuration and the transport concept.
//
// A port's transport is anything that can receive a batch of frames:
//     void receive(std::span<const vnet::bytes_view> batch);
// The switch calls it once per output port per batch (never once per frame, never through
// a virtual call); the views are valid for the duration of the call only. memory_port
// keeps copies (tests, the lab's in-memory peers); counting_port only counts (benchmarks).
//
// Port features follow Set-VMNetworkAdapter (docs/eflow-facts.md "Hyper-V port and switch
// features"): MAC address spoofing off by default (only the assigned MAC may send),
// DHCP guard, router guard, storm limit (packets per second, 0 = none), port mirroring
// none / source / destination, and port ACLs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <concepts>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/bytes.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/switch/acl.hpp>
#include <vnet/switch/kinds.hpp>
#include <vnet/switch/vlan_mode.hpp>
#include <vnet/wire/offload.hpp>

namespace vnet::sw {

using vnet::to_string;

template <class T>
concept frame_sink = requires(T& t, std::span<const bytes_view> batch) {
    t.receive(batch);
};

/// A transport that also takes frames that are not finished yet (GSO super-frames,
/// partial checksums) with their virtio-net headers, for the offloads offload_caps()
/// names (wire::offload_cap bits); the switch finishes the others in software first.
/// offloads[i] belongs to batch[i].
template <class T>
concept offload_sink = frame_sink<T> &&
    requires(T& t, const T& ct, std::span<const bytes_view> batch, std::span<const wire::offload_info> offloads) {
    t.receive(batch, offloads);
    { ct.offload_caps() } -> std::convertible_to<std::uint32_t>;
};

enum class mirror_mode : std::uint8_t { none, source, destination };

inline constexpr enum_name<mirror_mode> mirror_mode_names[] = {
    {mirror_mode::none, "none"},
    {mirror_mode::source, "source"},
    {mirror_mode::destination, "destination"},
};
constexpr std::span<const enum_name<mirror_mode>> enum_names(mirror_mode) noexcept { return mirror_mode_names; }

struct port_config {
    std::string name;
    port_role role = port_role::vm;
    std::optional<mac_address> mac;  // the adapter's assigned MAC (static or from the dynamic pool)
    vlan_setting vlan{};
    bool mac_spoofing = false;      // off: a VM port may send only from its assigned MAC
    bool dhcp_guard = false;        // drop DHCP server messages sent by the port
    bool router_guard = false;      // drop router advertisements and redirects sent by the port
    std::uint32_t storm_limit = 0;  // broadcast + multicast + unknown unicast frames per second, 0: none
    mirror_mode mirror = mirror_mode::none;
    acl_list acls{};

    /// A VM adapter with its assigned MAC.
    static port_config vm(std::string name, mac_address mac) {
        port_config c;
        c.name = std::move(name);
        c.mac = mac;
        return c;
    }
    /// The physical adapter of an External switch: a trunk carrying every VLAN tagged,
    /// the untagged network untagged.
    static port_config uplink(std::string name) {
        port_config c;
        c.name = std::move(name);
        c.role = port_role::external_adapter;
        c.vlan = vlan_setting::trunk_all();
        return c;
    }
    /// The management OS adapter "vEthernet (Name)".
    static port_config host(std::string name, std::optional<mac_address> mac = std::nullopt) {
        port_config c;
        c.name = std::move(name);
        c.role = port_role::host_vnic;
        c.mac = mac;
        return c;
    }
};

/// A transport that keeps a copy of every frame it receives, and, from a send with
/// offloads, each frame's offload metadata (offloads[i] for frames[i] of such batches);
/// it takes as they are the offloads `caps` names (none by default).
struct memory_port {
    std::vector<std::vector<std::byte>> frames;
    std::vector<wire::offload_info> offloads;
    std::size_t batches = 0;
    std::uint32_t caps = 0;

    void receive(std::span<const bytes_view> batch) {
        ++batches;
        for (auto f : batch) frames.emplace_back(f.begin(), f.end());
    }
    void receive(std::span<const bytes_view> batch, std::span<const wire::offload_info> offs) {
        receive(batch);
        offloads.resize(frames.size() - batch.size());
        offloads.insert(offloads.end(), offs.begin(), offs.end());
    }
    std::uint32_t offload_caps() const noexcept { return caps; }
    void clear() noexcept {
        frames.clear();
        offloads.clear();
        batches = 0;
    }
    std::size_t size() const noexcept { return frames.size(); }
    bytes_view frame(std::size_t i) const noexcept { return {frames[i].data(), frames[i].size()}; }
};

/// A transport that only counts.
struct counting_port {
    std::uint64_t frames = 0;
    std::uint64_t bytes = 0;
    std::uint64_t batches = 0;

    void receive(std::span<const bytes_view> batch) noexcept {
        ++batches;
        frames += batch.size();
        for (auto f : batch) bytes += f.size();
    }
};

static_assert(offload_sink<memory_port>);
static_assert(frame_sink<counting_port>);

}  // namespace vnet::sw
