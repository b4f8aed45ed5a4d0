// vnet/lab/mac_store.hpp - the emulated host's dynamic MAC addresses, kept in the lab's
// state directory.
//
// A NIC whose lab file gives no `mac` gets one the way Hyper-V gives it: the host takes
// the lowest free address of its dynamic pool 00:15:5D:dd:ee:00-FF (dd-ee: the last two
// octets of the host's address) when the VM is created, and stores it; the VM keeps it
// across VM and host restarts ("Static MAC Address", [NW]; docs/eflow-facts.md
// "Deployment cmdlets", [PS]). Here the store is <state dir>/mac-pool in the text form of
// sw::mac_pool, and every start of a VM (boot, guest reboot, emulated host restart) reads
// the NIC's address back from that file, so what the guest shows after a restart is what
// the host stored, not what the runtime happens to hold in memory.
#pragma once

#include <fstream>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/core/mutant.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/lab/run_registry.hpp>
#include <vnet/switch/mac_pool.hpp>

namespace vnet::lab {

/// The host's pool: keyed by the host's own address (0.0.0.0 when the lab gives none).
inline sw::mac_pool host_mac_pool(const lab_file& lf) {
    return sw::mac_pool(lf.host.address ? lf.host.address->address() : ipv4_address{});
}

/// The name a NIC's address is stored under: "<vm>/eth<k>".
inline std::string pool_nic_name(std::string_view vm, std::size_t k) { return fmt::format("{}/eth{}", vm, k); }

inline std::string mac_pool_path(const std::string& state_dir) { return state_dir + "/mac-pool"; }

/// Writes the pool to the state directory; the error says what failed.
inline expected<void, std::string> save_mac_pool(const std::string& state_dir, const sw::mac_pool& pool) {
    const auto path = mac_pool_path(state_dir);
    std::ofstream f(path, std::ios::trunc);
    f << pool.save();
    f.close();
    if (!f) return unexpected(fmt::format("cannot write {}", path));
    return {};
}

/// The pool as stored in the state directory; the error names the file.
inline expected<sw::mac_pool, std::string> load_mac_pool(const std::string& state_dir) {
    const auto path = mac_pool_path(state_dir);
    auto pool = sw::mac_pool::load(detail::slurp(path));
    if (!pool) return unexpected(fmt::format("{}: {}", path, pool.error().message()));
    return std::move(*pool);
}

/// The stored address of NIC `nic`, read from the state directory. Mutant
/// mac-regenerated-on-reboot: the host allocates a fresh address at each start instead.
inline expected<mac_address, std::string> stored_mac(const std::string& state_dir, std::string_view nic) {
    const auto path = mac_pool_path(state_dir);
    auto pool = load_mac_pool(state_dir);
    if (!pool) return unexpected(pool.error());
    if (mutant::on(mutant::id::mac_regenerated_on_reboot)) {
        std::size_t n = 1;
        while (pool->find(fmt::format("{}#{}", nic, n))) ++n;
        auto fresh = pool->allocate(fmt::format("{}#{}", nic, n));
        if (!fresh) return unexpected(fresh.error().message());
        if (auto s = save_mac_pool(state_dir, *pool); !s) return unexpected(s.error());
        return *fresh;
    }
    auto m = pool->find(nic);
    if (!m) return unexpected(fmt::format("{}: no stored MAC for {}", path, nic));
    return *m;
}

}  // namespace vnet::lab
