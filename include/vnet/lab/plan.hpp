// vnet/lab/plan.hpp - the pure part of running a lab: run ids, the names of every
// namespace and interface a run creates, the Default Switch subnet, generated MACs, the
// commands a check runs and how their output is read.
//
// Nothing here touches the operating system, so all of it is unit-tested without root
// (tests/unit/test_lab_runtime.cpp). lab/runtime.hpp builds the lab from these names.
//
// Naming (docs/design.md "Principles": every lab lives in namespaces named with a per-run id):
//   namespaces   vlab-<id>-host | -inet | -net-<network> | -peer-<peer>
//   interfaces   <letter><id><suffix>, at most 15 characters (IFNAMSIZ - 1):
//                b<id>        the bridge of a network (in its namespace)
//                x<id>n<i>    transit veth, network i side; x<id>i<i> its internet side
//                a<id>h       the host's physical adapter (host side); a<id>g bridge side
//                p<id>g<j>    peer j's veth, bridge side; p<id>e<j> the peer's side
//                u<id>s<i>    uplink TAP of switch i (in the network namespace, on the bridge)
//                h<id>s<i>    host vNIC TAP of switch i (in the host namespace)
//                t<id>v<v>n<k> the TAP of NIC k of VM v (in the host namespace)
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/core/mutant.hpp>
#include <vnet/lab/lab_file.hpp>

namespace vnet::lab {

/// Namespaces of every lab run start with this; nothing else on the machine uses it.
inline constexpr std::string_view run_netns_prefix = "vlab-";
/// Length of a run id.
inline constexpr std::size_t run_id_length = 6;
/// Where a run records what it made (one folder per run id).
inline constexpr std::string_view run_state_dir = "/run/vnet";

/// A run id from 64 random bits: 6 characters of [0-9a-z].
inline std::string make_run_id(std::uint64_t random) {
    constexpr std::string_view digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string id;
    for (std::size_t i = 0; i < run_id_length; ++i) {
        id.push_back(digits[random % digits.size()]);
        random /= digits.size();
    }
    return id;
}

inline bool valid_run_id(std::string_view id) noexcept {
    if (id.size() != run_id_length) return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return false;
    return true;
}

/// The run id in a lab namespace name ("vlab-ab12cd-host" -> "ab12cd"), if it is one.
inline std::optional<std::string> run_id_of_netns(std::string_view ns) {
    if (ns.substr(0, run_netns_prefix.size()) != run_netns_prefix) return std::nullopt;
    auto rest = ns.substr(run_netns_prefix.size());
    if (rest.size() < run_id_length + 1 || rest[run_id_length] != '-') return std::nullopt;
    auto id = rest.substr(0, run_id_length);
    if (!valid_run_id(id)) return std::nullopt;
    return std::string(id);
}

/// Every name a run uses, derived from its id.
struct run_names {
    std::string id;

    std::string netns(std::string_view role) const { return fmt::format("{}{}-{}", run_netns_prefix, id, role); }
    std::string host_ns() const { return netns("host"); }
    std::string inet_ns() const { return netns("inet"); }
    std::string network_ns(std::string_view network) const { return netns(fmt::format("net-{}", network)); }
    std::string peer_ns(std::string_view peer) const { return netns(fmt::format("peer-{}", peer)); }

    std::string bridge() const { return "b" + id; }
    std::string transit_net(std::size_t i) const { return fmt::format("x{}n{}", id, i); }
    std::string transit_inet(std::size_t i) const { return fmt::format("x{}i{}", id, i); }
    std::string host_adapter() const { return fmt::format("a{}h", id); }
    std::string host_adapter_bridge() const { return fmt::format("a{}g", id); }
    std::string peer_bridge(std::size_t j) const { return fmt::format("p{}g{}", id, j); }
    std::string peer_if(std::size_t j) const { return fmt::format("p{}e{}", id, j); }
    std::string uplink(std::size_t s) const { return fmt::format("u{}s{}", id, s); }
    std::string host_vnic(std::size_t s) const { return fmt::format("h{}s{}", id, s); }
    std::string netnat_tun() const { return fmt::format("n{}t", id); }
    std::string vm_tap(std::size_t v, std::size_t k) const { return fmt::format("t{}v{}n{}", id, v, k); }
    std::string state_dir() const { return fmt::format("{}/{}", run_state_dir, id); }
};

/// The transit link between network i's gateway and the internet namespace: 100.64.i.0/30
/// (shared address space, RFC 6598), gateway side .1, internet side .2.
inline ipv4_prefix transit_gateway_side(std::size_t i) {
    return ipv4_prefix(ipv4_address(100, 64, static_cast<std::uint8_t>(i), 1), 30);
}
inline ipv4_prefix transit_internet_side(std::size_t i) {
    return ipv4_prefix(ipv4_address(100, 64, static_cast<std::uint8_t>(i), 2), 30);
}

/// The "internet" server behind every network's gateway (docs/design.md "Lab file").
inline constexpr ipv4_address internet_server{198, 51, 100, 10};
/// The TCP ports it accepts.
inline constexpr std::uint16_t internet_tcp_ports[] = {80, 443, 1883, 5671, 5672, 8883};
/// Public resolvers in the lab's internet: Google DNS, the servers [TS] "Check DNS" names as
/// ones some networks block. They answer ping and resolve the lab's names, so a VM that
/// cannot use them is stopped by a firewall (network.blocked_addresses), not by absence.
inline constexpr ipv4_address public_resolvers[] = {{8, 8, 8, 8}, {8, 8, 4, 4}};

/// dnsmasq's argv for a lab's DNS: `names` answered on interface `ifname` (empty: on the
/// internet server's and the public resolvers' addresses), every other name NXDOMAIN at
/// once (no upstream), nothing else of the machine read (no resolv.conf, no hosts file).
inline std::vector<std::string> dnsmasq_argv(const std::string& ifname, const std::map<std::string, ipv4_address>& names) {
    std::vector<std::string> a = {"dnsmasq",    "--keep-in-foreground", "--conf-file=/dev/null", "--user=root",     "--no-resolv",
                                  "--no-hosts", "--bind-interfaces",    "--pid-file=",           "--log-facility=-"};
    if (ifname.empty()) {
        a.push_back(fmt::format("--listen-address={}", internet_server));
        for (auto r : public_resolvers) a.push_back(fmt::format("--listen-address={}", r));
    } else {
        a.push_back("--interface=" + ifname);
    }
    for (const auto& [n, addr] : names) a.push_back(fmt::format("--address=/{}/{}", n, addr));
    a.push_back("--address=/#/");
    return a;
}

/// The udhcpc script of a host that leases its address: the lease's address on the
/// interface and its first router as the default route.
inline constexpr std::string_view host_udhcpc_script =
    "#!/bin/sh\ncase \"$1\" in bound|renew)\n"
    "  ip addr flush dev \"$interface\"\n"
    "  ip addr add \"$ip/${mask:-24}\" dev \"$interface\"\n"
    "  for r in $router; do ip route replace default via \"$r\" dev \"$interface\"; break; done ;;\n"
    "esac\n";

/// An IPv4 link-local address (RFC 3927 section 2.1; Windows calls it APIPA) for an
/// interface with MAC `mac`, try `attempt` (0, 1, ...): 169.254.H.L with H = 1 + mac[4]
/// mod 254 and L = mac[5] + attempt mod 256, inside 169.254.1.0-169.254.254.255 as the RFC
/// asks, the same on every start. The lab guest's udhcpc script draws it the same way
/// (vm-images/README.md).
inline ipv4_address apipa_candidate(const mac_address& mac, unsigned attempt) {
    return ipv4_address(169, 254, static_cast<std::uint8_t>(1 + mac[4] % 254),
                        static_cast<std::uint8_t>((mac[5] + attempt) % 256));
}
inline constexpr std::uint8_t apipa_prefix_length = 16;
inline constexpr unsigned apipa_attempts = 10;

/// The nft ruleset of a network router's firewall on its way out (`out_if`, towards the
/// internet): outbound TCP to network.blocked_tcp_ports and everything to
/// network.blocked_addresses is dropped, each rule with a counter (`nft list ruleset` shows
/// what it stopped).
inline std::string lan_firewall_rules(const network_config& n, const std::string& out_if) {
    std::string rules;
    if (!n.blocked_tcp_ports.empty())
        rules += fmt::format("    oifname \"{}\" tcp dport {{ {} }} counter drop\n", out_if,
                             fmt::join(n.blocked_tcp_ports, ", "));
    if (!n.blocked_addresses.empty())
        rules += fmt::format("    oifname \"{}\" ip daddr {{ {} }} counter drop\n", out_if, fmt::join(n.blocked_addresses, ", "));
    return fmt::format(
        "table inet vnet_fw {{\n  chain forward {{\n    type filter hook forward priority filter; policy "
        "accept;\n{}  }}\n}}\n",
        rules);
}

/// Every prefix the lab uses outside the Default Switch (networks, host, internal switches).
inline std::vector<ipv4_prefix> prefixes_in_use(const lab_file& lf) {
    std::vector<ipv4_prefix> out;
    for (const auto& n : lf.networks) out.push_back(n.subnet);
    if (lf.host.address) out.push_back(lf.host.address->canonical());
    for (const auto& s : lf.switches)
        if (s.host_address) out.push_back(s.host_address->canonical());
    for (const auto& vm : lf.vms)
        for (const auto& nic : vm.nics)
            if (nic.address && lf.find_switch(nic.switch_name) && lf.find_switch(nic.switch_name)->kind != switch_kind::default_)
                out.push_back(nic.address->canonical());
    return out;
}

/// The Default Switch's subnet: the first /20 of 172.16.0.0/12 that overlaps none of
/// `in_use` (Hyper-V picks a /20 from that block that does not collide with the host's
/// networks; docs/eflow-facts.md). nullopt when all 256 are taken.
inline std::optional<ipv4_prefix> pick_default_switch_subnet(const std::vector<ipv4_prefix>& in_use) {
    for (std::uint32_t i = 0; i < 256; ++i) {
        ipv4_prefix p(ipv4_address((172u << 24) | (16u << 16) | (i << 12)), 20);
        bool clash = false;
        for (const auto& u : in_use) clash = clash || p.overlaps(u);
        if (!clash) return p;
    }
    return std::nullopt;
}

/// The Default Switch's host vNIC address (the first host of the subnet) and DHCP range
/// (the second host to the last).
inline ipv4_prefix default_switch_host_address(const ipv4_prefix& subnet) {
    return ipv4_prefix(ipv4_address(subnet.network().to_u32() + 1), subnet.length());
}
inline std::pair<ipv4_address, ipv4_address> default_switch_range(const ipv4_prefix& subnet) {
    return {ipv4_address(subnet.network().to_u32() + 2), ipv4_address(subnet.broadcast().to_u32() - 1)};
}

/// FNV-1a, for MACs that stay the same across runs of the same lab.
inline std::uint64_t stable_hash(std::string_view s) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    return h;
}

/// A host vNIC's MAC (00:15:5d, then 0xfe and two bytes from lab and switch index).
inline mac_address host_vnic_mac(const lab_file& lf, std::size_t sw) {
    auto h = stable_hash(fmt::format("{}/switch/{}", lf.name, sw));
    return mac_address(0x00, 0x15, 0x5d, 0xfe, static_cast<std::uint8_t>(h >> 8), static_cast<std::uint8_t>(h));
}

/// A network's bridge MAC (02, locally administered, then bytes from lab and network index):
/// the router's and its DHCP server's.
inline mac_address bridge_mac(const lab_file& lf, std::size_t net) {
    auto h = stable_hash(fmt::format("{}/network/{}", lf.name, net));
    return mac_address(0x02, 0x00, static_cast<std::uint8_t>(h >> 24), static_cast<std::uint8_t>(h >> 16),
                       static_cast<std::uint8_t>(h >> 8), static_cast<std::uint8_t>(h));
}

/// The network an external switch binds to, by switch index (nullptr: not external).
inline const network_config* uplink_network(const lab_file& lf, std::size_t sw) {
    const auto& s = lf.switches[sw];
    if (s.kind != switch_kind::external || !s.network) return nullptr;
    return lf.find_network(*s.network);
}

/// Where the host's address lives: on the host vNIC of the external switch bound to the
/// host's network (when the switch shares the adapter), on no interface (the adapter is
/// dedicated to a switch), or on the physical adapter itself.
enum class host_adapter_use : std::uint8_t { none, own_adapter, switch_vnic, dedicated_to_switch };
struct host_adapter_plan {
    host_adapter_use use = host_adapter_use::none;
    std::size_t switch_index = 0;  // switch_vnic / dedicated_to_switch
};
/// Whether the host shares external switch `s`'s adapter through a host vNIC (Hyper-V's
/// AllowManagementOS). Mutant management-os-ignored: always.
inline bool host_shares_adapter(const switch_config& s) {
    return s.allow_management_os || mutant::on(mutant::id::management_os_ignored);
}

inline host_adapter_plan plan_host_adapter(const lab_file& lf) {
    if (!lf.host.network) return {};
    for (std::size_t i = 0; i < lf.switches.size(); ++i) {
        const auto& s = lf.switches[i];
        if (s.kind == switch_kind::external && s.network == lf.host.network)
            return {host_shares_adapter(s) ? host_adapter_use::switch_vnic : host_adapter_use::dedicated_to_switch, i};
    }
    return {host_adapter_use::own_adapter, 0};
}

// ---- checks: the commands they run and how their output is read ----

/// busybox and iputils ping: "N packets transmitted, M packets received" (busybox) or
/// "M received" (iputils). The received count, or nullopt when there is no summary.
inline std::optional<unsigned> ping_received(std::string_view out) {
    auto pos = out.find(" received");
    if (pos == std::string_view::npos) return std::nullopt;
    auto end = pos;
    // " packets received" (busybox) has the number before "packets".
    constexpr std::string_view packets = " packets";
    if (end >= packets.size() && out.substr(end - packets.size(), packets.size()) == packets) end -= packets.size();
    auto start = end;
    while (start > 0 && out[start - 1] >= '0' && out[start - 1] <= '9') --start;
    if (start == end) return std::nullopt;
    unsigned n = 0;
    for (auto i = start; i < end; ++i) n = n * 10 + static_cast<unsigned>(out[i] - '0');
    return n;
}

inline std::string ping_command(ipv4_address to) { return fmt::format("ping -c 3 -i 0.3 -W 1 -w 4 {}", to); }
/// busybox nc of the guest has no -z: connect with stdin at EOF; the lab servers close at once.
inline std::string tcp_command(ipv4_address to, std::uint16_t port) { return fmt::format("nc -w 3 {} {} </dev/null", to, port); }
/// A listener on `port` in a guest (busybox and OpenBSD nc both take `-l -p`), in a session
/// of its own so it outlives the agent's command; succeeds once the kernel shows the socket
/// in LISTEN state (/proc/net/tcp: local 00000000:<port hex>, state 0A), else exits 1.
inline std::string listen_command(std::uint16_t port) {
    return fmt::format(
        "setsid nc -l -p {0} </dev/null >/dev/null 2>&1 & echo $! > /tmp/.vnet-listen-{0}; i=0; while [ $i -lt 30 ]; do "
        "grep -q ':{1:04X} 00000000:0000 0A' /proc/net/tcp && exit 0; i=$((i + 1)); sleep 0.1; done; "
        "echo 'no socket in LISTEN state on port {0}' >&2; exit 1",
        port, port);
}
inline std::string unlisten_command(std::uint16_t port) {
    return fmt::format("kill $(cat /tmp/.vnet-listen-{0}) 2>/dev/null; rm -f /tmp/.vnet-listen-{0}; true", port);
}
inline std::string dns_command(std::string_view name) { return fmt::format("nslookup {}", name); }
/// What the resolvers check runs in the guest: resolv.conf, or resolved's per-link servers
/// when resolv.conf names only its stub.
inline constexpr std::string_view resolvers_command =
    "if grep -qx 'nameserver 127.0.0.53' /etc/resolv.conf && command -v resolvectl >/dev/null 2>&1; "
    "then resolvectl dns; else cat /etc/resolv.conf; fi";

/// The addresses in busybox nslookup's answer section (after the "Name:" line; the
/// server's own address comes before it and is skipped).
inline std::vector<ipv4_address> nslookup_addresses(std::string_view out) {
    std::vector<ipv4_address> addrs;
    auto name = out.find("Name:");
    if (name == std::string_view::npos) return addrs;
    auto rest = out.substr(name);
    std::size_t pos = 0;
    while ((pos = rest.find("Address", pos)) != std::string_view::npos) {
        auto colon = rest.find(':', pos);
        auto eol = rest.find('\n', pos);
        if (colon == std::string_view::npos || (eol != std::string_view::npos && colon > eol)) break;
        auto v = rest.substr(colon + 1, (eol == std::string_view::npos ? rest.size() : eol) - colon - 1);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        auto sp = v.find_first_of(" \t\r");
        if (sp != std::string_view::npos) v = v.substr(0, sp);
        if (auto a = ipv4_address::parse(v)) addrs.push_back(*a);
        pos = colon;
    }
    return addrs;
}

/// "inet A.B.C.D/N" in `ip -o -4 addr show` output: the first address, if any.
inline std::optional<ipv4_prefix> first_inet(std::string_view out) {
    auto pos = out.find("inet ");
    if (pos == std::string_view::npos) return std::nullopt;
    auto v = out.substr(pos + 5);
    auto sp = v.find_first_of(" \t\n");
    if (sp != std::string_view::npos) v = v.substr(0, sp);
    auto p = ipv4_prefix::parse(v);
    if (!p) return std::nullopt;
    return *p;
}

/// Every address in `ip -o -4 addr show` output ("inet A/L" words), in order.
inline std::vector<ipv4_prefix> all_inet(std::string_view out) {
    std::vector<ipv4_prefix> r;
    while (auto p = first_inet(out)) {
        r.push_back(*p);
        out = out.substr(out.find("inet ") + 5);
    }
    return r;
}

/// The word after `key` in `ip route get` output ("dev", "via", "src").
inline std::string route_field(std::string_view out, std::string_view key) {
    auto k = fmt::format(" {} ", key);
    auto pos = out.find(k);
    if (pos == std::string_view::npos) return {};
    auto v = out.substr(pos + k.size());
    auto sp = v.find_first_of(" \t\n");
    return std::string(sp == std::string_view::npos ? v : v.substr(0, sp));
}

/// The default routes of `ip -4 route show default` as "eth0 945, eth1 239" (by interface
/// name; a route without a metric counts as metric 0), or "" when there is none.
inline std::string default_route_metrics(std::string_view out) {
    std::vector<std::pair<std::string, std::string>> routes;
    while (!out.empty()) {
        const auto nl = std::min(out.find('\n'), out.size());
        const auto line = fmt::format(" {} ", out.substr(0, nl));
        out.remove_prefix(std::min(nl + 1, out.size()));
        if (line.rfind(" default ", 0) != 0) continue;
        auto m = route_field(line, "metric");
        routes.emplace_back(route_field(line, "dev"), m.empty() ? "0" : m);
    }
    std::sort(routes.begin(), routes.end());
    std::string s;
    for (const auto& [dev, m] : routes) s += fmt::format("{}{} {}", s.empty() ? "" : ", ", dev, m);
    return s;
}

}  // namespace vnet::lab
