// vnet/switch/mac_pool.hpp - Hyper-V dynamic MAC addresses.
//
// Hyper-V hands out dynamic MACs from 00:15:5D:dd:ee:00 - 00:15:5D:dd:ee:FF, where dd-ee
// are the last two octets of the host's IP address: 256 addresses by default
// (docs/eflow-facts.md "Deployment cmdlets", [PS]). A NIC keeps its MAC across restarts
// ("generated at creation, stored, kept across reboots", [NW]): the pool maps NIC names to
// addresses and saves / loads that map as text:
//
//   vnet-mac-pool 1
//   prefix 00:15:5d:0a:64
//   nic 00:15:5d:0a:64:00 eflow/eth0
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>

namespace vnet::sw {

class mac_pool {
public:
    static constexpr std::size_t pool_size = 256;

    /// The pool of a host with this IPv4 address.
    explicit mac_pool(ipv4_address host) noexcept : dd_(host.octet(2)), ee_(host.octet(3)) {}

    /// 00:15:5d:dd:ee:00, the first address of the pool.
    mac_address first() const noexcept { return {0x00, 0x15, 0x5d, dd_, ee_, 0x00}; }
    mac_address last() const noexcept { return {0x00, 0x15, 0x5d, dd_, ee_, 0xff}; }
    bool contains(const mac_address& m) const noexcept {
        return m[0] == 0x00 && m[1] == 0x15 && m[2] == 0x5d && m[3] == dd_ && m[4] == ee_;
    }

    /// The NIC's MAC: the one it already has, else the lowest free address of the pool.
    result<mac_address> allocate(std::string_view nic) {
        if (nic.empty()) return fail(layer::vswitch, errc::bad_value, "NIC name is empty");
        if (nic.find('\n') != std::string_view::npos || nic.find('\r') != std::string_view::npos)
            return fail(layer::vswitch, errc::bad_value, "NIC name contains a line break");
        if (auto m = find(nic)) return *m;
        for (std::size_t i = 0; i < pool_size; ++i) {
            if (used_[i].empty()) {
                used_[i] = std::string(nic);
                by_nic_.emplace(std::string(nic), static_cast<std::uint8_t>(i));
                return address(i);
            }
        }
        return fail(layer::vswitch, errc::exhausted, "dynamic MAC address pool (256 addresses)");
    }

    /// Returns the NIC's address to the pool (the NIC was deleted); false if it had none.
    bool release(std::string_view nic) {
        auto it = by_nic_.find(std::string(nic));
        if (it == by_nic_.end()) return false;
        used_[it->second].clear();
        by_nic_.erase(it);
        return true;
    }

    std::optional<mac_address> find(std::string_view nic) const {
        auto it = by_nic_.find(std::string(nic));
        if (it == by_nic_.end()) return std::nullopt;
        return address(it->second);
    }
    std::size_t size() const noexcept { return by_nic_.size(); }
    std::size_t available() const noexcept { return pool_size - by_nic_.size(); }

    /// The state as text (see the top of this file); load(save()) gives the same pool.
    std::string save() const {
        std::string out = fmt::format("vnet-mac-pool 1\nprefix 00:15:5d:{:02x}:{:02x}\n", dd_, ee_);
        for (const auto& [nic, i] : by_nic_) out += fmt::format("nic {} {}\n", address(i), nic);
        return out;
    }

    static result<mac_pool> load(std::string_view text) {
        constexpr std::string_view bad_header = "MAC pool state: first line must be \"vnet-mac-pool 1\"";
        constexpr std::string_view bad_prefix = "MAC pool state: second line must be \"prefix 00:15:5d:dd:ee\"";
        constexpr std::string_view bad_nic = "MAC pool state: expected \"nic <MAC> <name>\" with a MAC of the pool";
        constexpr std::string_view dup = "MAC pool state: a MAC or NIC name appears twice";
        std::size_t pos = 0;
        auto next_line = [&]() -> std::optional<std::string_view> {
            while (pos < text.size()) {
                std::size_t end = text.find('\n', pos);
                if (end == std::string_view::npos) end = text.size();
                std::string_view line = text.substr(pos, end - pos);
                pos = end + 1;
                if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
                if (!line.empty()) return line;
            }
            return std::nullopt;
        };
        auto header = next_line();
        if (!header || *header != "vnet-mac-pool 1") return fail(layer::vswitch, errc::syntax, bad_header);
        auto prefix = next_line();
        if (!prefix || prefix->size() != 21 || prefix->substr(0, 7) != "prefix ")
            return fail(layer::vswitch, errc::syntax, bad_prefix);
        auto pm = mac_address::parse(fmt::format("{}:00", prefix->substr(7)));
        if (!pm || (*pm)[0] != 0x00 || (*pm)[1] != 0x15 || (*pm)[2] != 0x5d)
            return fail(layer::vswitch, errc::syntax, bad_prefix);
        mac_pool pool(ipv4_address(0, 0, (*pm)[3], (*pm)[4]));
        while (auto line = next_line()) {
            if (line->size() < 4 + 17 + 2 || line->substr(0, 4) != "nic " || (*line)[21] != ' ')
                return fail(layer::vswitch, errc::syntax, bad_nic);
            auto m = mac_address::parse(line->substr(4, 17));
            if (!m || !pool.contains(*m)) return fail(layer::vswitch, errc::syntax, bad_nic);
            const std::string_view nic = line->substr(22);
            const std::size_t i = (*m)[5];
            if (!pool.used_[i].empty() || pool.by_nic_.count(std::string(nic)) != 0)
                return fail(layer::vswitch, errc::syntax, dup);
            pool.used_[i] = std::string(nic);
            pool.by_nic_.emplace(std::string(nic), static_cast<std::uint8_t>(i));
        }
        return pool;
    }

private:
    mac_address address(std::size_t i) const noexcept { return {0x00, 0x15, 0x5d, dd_, ee_, static_cast<std::uint8_t>(i)}; }

    std::uint8_t dd_, ee_;
    std::array<std::string, pool_size> used_{};
    std::map<std::string, std::uint8_t> by_nic_;
};

}  // namespace vnet::sw
