// vnet/lab/vm_store.hpp - the emulated host's stored VM settings: each NIC's IP
// configuration as the VM was deployed with it, kept in the lab's state directory.
//
// EFLOW assigns a static IP "permanently to the EFLOW VM during installation" and it
// "doesn't change across EFLOW VM or Windows host reboots" ([NW] "IP address
// allocations"). A lab guest has no disk of its own (an initramfs), so the host's state
// stands in for the VM's stored configuration: the settings are written to
// <state dir>/vm-<name>.nics when the VM is created (and when a NIC is hot-plugged), and
// every later start of the VM (guest reboot, emulated host restart) reads them back from
// that file, so what the guest shows after a restart is what was stored, not what the
// runtime happens to hold in memory. The MACs are stored apart (mac_store.hpp).
//
// One line per NIC, in NIC order: MODE ADDRESS GATEWAY METRIC DNS, "-" for an empty field,
// DNS servers joined by '+' (static dhcp none as in vm_nic).
#pragma once

#include <charconv>
#include <cstddef>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mutant.hpp>
#include <vnet/lab/qemu.hpp>
#include <vnet/lab/run_registry.hpp>

namespace vnet::lab {

inline std::string vm_settings_path(const std::string& state_dir, std::string_view vm) {
    return fmt::format("{}/vm-{}.nics", state_dir, vm);
}

/// The stored form of the NICs' IP settings. Mutant static-ip-not-stored: a static NIC
/// is stored without its address, gateway and mode.
inline std::string format_vm_settings(const std::vector<vm_nic>& nics) {
    auto field = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
    std::string out;
    for (vm_nic n : nics) {
        if (n.mode == nic_mode::static_ip && mutant::on(mutant::id::static_ip_not_stored)) {
            n.mode = nic_mode::none;
            n.address.clear();
            n.gateway.clear();
        }
        out += fmt::format("{} {} {} {} {}\n", to_string(n.mode), field(n.address), field(n.gateway),
                           n.metric ? fmt::format("{}", *n.metric) : "-", field(fmt::format("{}", fmt::join(n.dns, "+"))));
    }
    return out;
}

/// Reads stored settings into `nics` (same NICs, same order: the MACs and TAPs stay);
/// the error says what is wrong with the text.
inline expected<void, std::string> parse_vm_settings(std::string_view text, std::vector<vm_nic>& nics) {
    std::istringstream in{std::string(text)};
    std::string line;
    std::size_t k = 0;
    auto value = [](const std::string& s) { return s == "-" ? std::string() : s; };
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        if (k == nics.size()) return unexpected(fmt::format("line {}: more NICs than the VM has ({})", k + 1, nics.size()));
        std::istringstream f(line);
        std::string mode, address, gateway, metric, dns, extra;
        if (!(f >> mode >> address >> gateway >> metric >> dns) || (f >> extra))
            return unexpected(fmt::format("line {}: expected MODE ADDRESS GATEWAY METRIC DNS", k + 1));
        vm_nic n = nics[k];
        auto parsed_mode = parse_enum<nic_mode>(mode);
        if (!parsed_mode) return unexpected(fmt::format("line {}: unknown mode '{}'", k + 1, mode));
        n.mode = *parsed_mode;
        n.address = value(address);
        n.gateway = value(gateway);
        if (!n.address.empty() && !ipv4_prefix::parse(n.address))
            return unexpected(fmt::format("line {}: bad address '{}'", k + 1, n.address));
        if (!n.gateway.empty() && !ipv4_address::parse(n.gateway))
            return unexpected(fmt::format("line {}: bad gateway '{}'", k + 1, n.gateway));
        n.metric.reset();
        if (metric != "-") {
            unsigned m = 0;
            auto [p, ec] = std::from_chars(metric.data(), metric.data() + metric.size(), m);
            if (ec != std::errc{} || p != metric.data() + metric.size())
                return unexpected(fmt::format("line {}: bad metric '{}'", k + 1, metric));
            n.metric = m;
        }
        n.dns.clear();
        for (std::size_t pos = 0; dns != "-" && pos <= dns.size();) {
            auto plus = dns.find('+', pos);
            auto d = dns.substr(pos, plus == std::string::npos ? std::string::npos : plus - pos);
            if (!ipv4_address::parse(d)) return unexpected(fmt::format("line {}: bad DNS server '{}'", k + 1, d));
            n.dns.push_back(d);
            if (plus == std::string::npos) break;
            pos = plus + 1;
        }
        nics[k++] = std::move(n);
    }
    if (k != nics.size()) return unexpected(fmt::format("{} NICs stored, the VM has {}", k, nics.size()));
    return {};
}

/// Stores VM `vm`'s NIC settings in the state directory.
inline expected<void, std::string> save_vm_settings(const std::string& state_dir, std::string_view vm,
                                                    const std::vector<vm_nic>& nics) {
    const auto path = vm_settings_path(state_dir, vm);
    std::ofstream f(path, std::ios::trunc);
    f << format_vm_settings(nics);
    f.close();
    if (!f) return unexpected(fmt::format("cannot write {}", path));
    return {};
}

/// Reads VM `vm`'s stored NIC settings into `nics`; the error names the file.
inline expected<void, std::string> load_vm_settings(const std::string& state_dir, std::string_view vm,
                                                    std::vector<vm_nic>& nics) {
    const auto path = vm_settings_path(state_dir, vm);
    if (auto r = parse_vm_settings(detail::slurp(path), nics); !r) return unexpected(fmt::format("{}: {}", path, r.error()));
    return {};
}

}  // namespace vnet::lab
