// vnet/eflow/cmdlets.hpp - the EFLOW host cmdlets that read or change a running VM
// (`vnet eflow LAB CMDLET ...`): what the VM reports, how it is printed, and the
// validation of the parameters as typed.
//
// Sources (docs/eflow-facts.md "Deployment cmdlets [FN]", [NW] "Static MAC Address", [TS]
// "Check IP addresses"):
// - Get-EflowVmAddr gives the VM's current IP and MAC; the troubleshooting guide compares
//   that IP with eth0's `inet` inside the VM.
// - Get-EflowVmEndpoint -> Name, MacAddress, HealthStatus, IpConfiguration;
//   Get-EflowNetwork -> Name, AllocationMethod, Cidr, Type.
// - Set-EflowVmDnsServers (vendpointName, dnsServers).
// Objects print as PowerShell's Format-List does ("Name             : eth0"); a nested
// object as "@{IpAddress=...; PrefixLength=...}".
//
// What the VM reports comes from one shell command (guest_nics_command) that works on both
// guest profiles (busybox and the systemd one): per ethX its MAC, operstate and carrier
// from sysfs, its IPv4 addresses (`ip -4 -o addr`) and its default route.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/eflow/command_line.hpp>
#include <vnet/eflow/deploy.hpp>
#include <vnet/eflow/endpoints.hpp>

namespace vnet::eflow {

/// One guest interface as the VM reports it.
struct guest_nic {
    std::string ifname;  // eth0, eth1, ...
    mac_address mac{};
    bool up = false;                      // operstate "up" and carrier
    std::optional<ipv4_prefix> address;   // the first IPv4 address
    std::optional<ipv4_address> gateway;  // of the interface's default route

    endpoint_health health() const noexcept { return up ? endpoint_health::healthy : endpoint_health::unhealthy; }
};

/// The command the guest runs; its output is read by parse_guest_nics.
inline constexpr std::string_view guest_nics_command =
    "for d in /sys/class/net/eth*; do [ -e \"$d\" ] || continue; n=${d##*/}; "
    "printf 'nic %s %s %s %s\\n' \"$n\" \"$(cat $d/address)\" \"$(cat $d/operstate)\" \"$(cat $d/carrier 2>/dev/null || "
    "echo 0)\"; ip -4 -o addr show dev \"$n\"; ip -4 route show default dev \"$n\"; done";

namespace detail {
inline std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> w;
    while (!line.empty()) {
        auto s = line.find_first_not_of(" \t\\");
        if (s == std::string_view::npos) break;
        line.remove_prefix(s);
        auto e = std::min(line.find_first_of(" \t"), line.size());
        w.push_back(line.substr(0, e));
        line.remove_prefix(e);
    }
    return w;
}
}  // namespace detail

/// The interfaces in guest_nics_command's output, eth0 first (numeric order). Lines that
/// belong to no "nic" line, and addresses that do not parse, are skipped.
inline std::vector<guest_nic> parse_guest_nics(std::string_view out) {
    std::vector<guest_nic> nics;
    while (!out.empty()) {
        const auto nl = std::min(out.find('\n'), out.size());
        auto w = detail::words(out.substr(0, nl));
        out.remove_prefix(std::min(nl + 1, out.size()));
        if (w.empty()) continue;
        if (w[0] == "nic" && w.size() >= 5) {
            guest_nic n;
            n.ifname = std::string(w[1]);
            if (auto m = mac_address::parse(w[2])) n.mac = *m;
            n.up = w[3] == "up" && w[4] == "1";
            nics.push_back(std::move(n));
            continue;
        }
        if (nics.empty()) continue;
        auto& n = nics.back();
        for (std::size_t i = 0; i + 1 < w.size(); ++i) {
            if (w[i] == "inet" && !n.address) {
                if (auto p = ipv4_prefix::parse(w[i + 1])) n.address = *p;
            }
            if (w[0] == "default" && w[i] == "via" && !n.gateway) {
                if (auto a = ipv4_address::parse(w[i + 1])) n.gateway = *a;
            }
        }
    }
    std::stable_sort(nics.begin(), nics.end(),
                     [](const guest_nic& a, const guest_nic& b) { return eth_number(a.ifname) < eth_number(b.ifname); });
    return nics;
}

/// "Name             : value" lines, names padded to the longest as Format-List does.
inline std::string format_list(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::size_t width = 0;
    for (const auto& f : fields) width = std::max(width, f.first.size());
    std::string s;
    for (const auto& [k, v] : fields) s += fmt::format("{:<{}} : {}\n", k, width, v);
    return s;
}

/// Get-EflowVmAddr: the query line, the two summary lines, then the MAC and the IP alone
/// (what a script takes from the cmdlet's output). No address: "no IPv4 address".
inline std::string format_vm_addr(std::string_view vm, const guest_nic& eth0) {
    auto ip = eth0.address ? fmt::format("{}", eth0.address->address()) : std::string("no IPv4 address");
    return fmt::format(
        "Querying IP and MAC addresses from virtual machine ({})\n - Virtual machine MAC: {}\n - Virtual machine IP : {} "
        "retrieved directly from virtual machine\n{}\n{}\n",
        vm, eth0.mac, ip, eth0.mac, ip);
}

/// Get-EflowVmEndpoint, one object.
inline std::string format_endpoint(const guest_nic& n) {
    std::string ipc = "@{}";
    if (n.address) {
        ipc = fmt::format("@{{IpAddress={}; PrefixLength={}", n.address->address(), n.address->length());
        if (n.gateway) ipc += fmt::format("; GatewayAddress={}", *n.gateway);
        ipc += "}";
    }
    return format_list({{"Name", n.ifname},
                        {"MacAddress", fmt::format("{}", n.mac)},
                        {"HealthStatus", std::string(to_string(n.health()))},
                        {"IpConfiguration", ipc}});
}

/// Set-EflowVmDnsServers' parameters, validated against the VM's endpoints (their guest
/// names): the same messages as the deployment's checks. No -vendpointName: eth0.
struct dns_request {
    std::string endpoint;
    std::vector<ipv4_address> servers;
};

inline expected<dns_request, std::string> parse_set_dns_servers(const command_line& cmd,
                                                                const std::vector<std::string>& endpoints) {
    auto d = read_dns_parameters(cmd);
    if (!d) return unexpected(d.error());
    const auto& texts = d->servers;
    dns_request r;
    r.endpoint = d->endpoint.value_or("eth0");
    auto known = std::find_if(endpoints.begin(), endpoints.end(), [&](const std::string& e) { return iequals(e, r.endpoint); });
    if (known == endpoints.end()) return unexpected(msg_endpoint_not_found(r.endpoint));
    r.endpoint = *known;
    if (texts.empty()) return unexpected(std::string(msg_dns_servers_missing));
    findings f;
    auto servers = check_dns_servers(texts, f);
    if (!servers) return unexpected(f.error->message);
    for (auto a : *servers)
        if (std::find(r.servers.begin(), r.servers.end(), a) == r.servers.end()) r.servers.push_back(a);
    return r;
}

/// Parameters a read-only cmdlet accepts: only `allowed` (a filter), else the PowerShell
/// message for an unknown parameter.
inline expected<std::optional<std::string>, std::string> single_filter(const command_line& cmd, std::string_view allowed) {
    std::optional<std::string> v;
    for (const auto& p : cmd.parameters) {
        if (!allowed.empty() && iequals(p.name, allowed)) v = p.value;
        else return unexpected(unknown_parameter(p.name));
    }
    return v;
}

/// A NIC hot-plugged into a running VM (Add-EflowVmEndpoint on a lab that is up), as the
/// guest is to take it.
struct hot_plug_nic {
    mac_address mac{};
    std::string ifname;                    // the endpoint's guest name: eth1 for the first added
    std::optional<static_ipv4> static_ip;  // nullopt: DHCP
    bool networkd = false;                 // the EFLOW-like guest (systemd-networkd); else busybox
};

/// What the guest runs after QEMU added the device: rescan the PCI bus (the lab guests
/// boot with acpi=off, so no hot-plug event arrives; QEMU keeps the devices of removed
/// endpoints, listed in /run/vnet/removed-macs, which the rescan finds again and which are
/// removed once more), wait up to 10 s for the interface
/// with the NIC's MAC, give it the endpoint's name and configure it. On the EFLOW-like
/// guest a .network file for systemd-networkd; on busybox `ip` for a static address,
/// udhcpc for DHCP. A static default route gets a random metric (100-1099, as the EFLOW
/// guest draws them at boot: one default route per ethX, random priority). Exits non-zero
/// with the reason on stderr when the interface does not appear or cannot be named.
inline std::string hot_plug_script(const hot_plug_nic& n) {
    const auto mac = fmt::format("{}", n.mac);
    std::string s = fmt::format(
        "echo 1 > /sys/bus/pci/rescan; for a in /sys/class/net/*/address; do "
        "grep -qxF \"$(cat $a)\" /run/vnet/removed-macs 2>/dev/null && echo 1 > \"$(readlink -f "
        "${{a%/address}}/device)/../remove\"; "
        "done; i=0; dev=; while [ $i -lt 50 ]; do "
        "for a in /sys/class/net/*/address; do [ \"$(cat $a)\" = {0} ] && dev=${{a%/address}} && dev=${{dev##*/}}; done; "
        "[ -n \"$dev\" ] && break; i=$((i + 1)); sleep 0.2; done; "
        "[ -n \"$dev\" ] || {{ echo 'no interface with MAC {0} appeared in 10 s' >&2; exit 1; }}; "
        "if [ \"$dev\" != {1} ]; then ip link set dev \"$dev\" down && ip link set dev \"$dev\" name {1} || exit 1; fi; ",
        mac, n.ifname);
    s += "m=$((100 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 1000)); ";
    if (n.networkd) {
        s += fmt::format(
            "printf '%s\\n' '# Add-EflowVmEndpoint' '[Match]' 'MACAddress={0}' '' '[Link]' 'RequiredForOnline=no' '' '[Network]' "
            "'IPv6AcceptRA=no' {1} > /etc/systemd/network/20-vnet-{2}.network && ",
            mac,
            n.static_ip
                ? fmt::format("'Address={}' '' '[Route]' 'Gateway={}' \"Metric=$m\"", n.static_ip->address, n.static_ip->gateway)
                : std::string("'DHCP=ipv4' '' '[DHCPv4]' 'ClientIdentifier=mac' \"RouteMetric=$m\""),
            n.ifname);
        s += fmt::format("echo \"$m\" > /run/vnet/metric.{0} && networkctl reload && networkctl reconfigure {0}", n.ifname);
    } else if (n.static_ip) {
        s += fmt::format("ip link set dev {0} up && ip addr add {1} dev {0} && ip route add default via {2} dev {0} metric $m",
                         n.ifname, n.static_ip->address, n.static_ip->gateway);
    } else {
        s += fmt::format(
            "ip link set dev {0} up && udhcpc -b -i {0} -s /usr/share/udhcpc/default.script -x hostname:$(hostname) "
            "-T 1 -t 4 -A 2 < /dev/null > /run/vnet/udhcpc.{0}.log 2>&1",
            n.ifname);
    }
    return s;
}

}  // namespace vnet::eflow
