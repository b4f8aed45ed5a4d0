// vnet/lab/lab_file.hpp - the lab file (TOML) as a checked model.
//
// The keys are the stable core of docs/design.md ("Lab file (TOML)") plus a few additions users
// need (network.dhcp.allow_macs for a MAC-filtering DHCP server; switch.dhcp for a DHCP
// server on an internal switch's host vNIC; vm.profile, the guest OS, "busybox" or "eflow"
// (guest_profile.hpp); the check kinds "flooding" and "reboot"). Every
// problem is reported
// with file, line and key: unknown keys, wrong types, bad addresses, references to
// switches, networks or VMs that do not exist, duplicate names, and values that cannot
// work together (a static NIC without an address, an external switch without a network).
// Parsing uses toml++.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/lab/check_kinds.hpp>
#include <vnet/lab/guest_profile.hpp>
#include <vnet/switch/kinds.hpp>

namespace vnet::lab {

using vnet::to_string;

/// A problem in a lab file: where it is and what is wrong.
struct lab_error {
    std::string file;
    std::uint32_t line = 0;  // 0: the whole file
    std::string key;         // dotted path, e.g. "vm.nic.address"
    std::string message;

    /// "lab.toml:12: vm.nic.address: invalid IPv4 address ..."
    std::string to_string() const {
        std::string s = file;
        if (line) s += fmt::format(":{}", line);
        if (!key.empty()) s += fmt::format(": {}", key);
        return s + ": " + message;
    }
};

enum class host_sku { client, server };
/// The switch kinds are the switch's own (external | internal | private | default).
using switch_kind = sw::switch_kind;
enum class ip_mode { static_, dhcp };
/// What a guest forwards between its NICs (vm.forwarding): nothing, every frame (a Linux
/// bridge of all its NICs: "bridging software"), or IPv4 packets between its NICs'
/// networks ("router software").
enum class guest_forwarding { none, bridge, router };
enum class nic_model { virtio, netvsc };

// The lab file's spellings.
inline constexpr enum_name<host_sku> host_sku_names[] = {{host_sku::client, "client"}, {host_sku::server, "server"}};
constexpr std::span<const enum_name<host_sku>> enum_names(host_sku) noexcept { return host_sku_names; }
inline constexpr enum_name<ip_mode> ip_mode_names[] = {{ip_mode::static_, "static"}, {ip_mode::dhcp, "dhcp"}};
constexpr std::span<const enum_name<ip_mode>> enum_names(ip_mode) noexcept { return ip_mode_names; }
inline constexpr enum_name<guest_forwarding> guest_forwarding_names[] = {
    {guest_forwarding::none, "none"}, {guest_forwarding::bridge, "bridge"}, {guest_forwarding::router, "router"}};
constexpr std::span<const enum_name<guest_forwarding>> enum_names(guest_forwarding) noexcept { return guest_forwarding_names; }
inline constexpr enum_name<nic_model> nic_model_names[] = {{nic_model::virtio, "virtio"}, {nic_model::netvsc, "netvsc"}};
constexpr std::span<const enum_name<nic_model>> enum_names(nic_model) noexcept { return nic_model_names; }

struct dhcp_config {
    ipv4_address range_first{};
    ipv4_address range_last{};
    std::vector<ipv4_address> dns;
    std::vector<mac_address> allow_macs;    // empty: every MAC gets a lease
    std::chrono::seconds lease_time{3600};  // option 51 (key lease_time, in seconds)
};

struct network_peer {
    std::string name;
    ipv4_prefix address{};
    // route_via_host = true: the peer routes the networks behind the host (the Default
    // Switch's subnet, each internal switch's) through the host's address on its network,
    // as a LAN admin would; whether the host forwards is then the host's own doing.
    bool route_via_host = false;
    // vlan = N: the peer's address is on VLAN N (its frames tagged 802.1Q on the LAN, as
    // a device behind a tagged switch port); the LAN's router stays untagged
    std::optional<std::uint16_t> vlan;
    std::uint32_t line = 0;
};

struct network_config {
    std::string name;
    ipv4_prefix subnet{};
    ipv4_address gateway{};
    std::optional<dhcp_config> dhcp;
    std::map<std::string, ipv4_address> dns;       // names the LAN's DNS answers
    std::vector<std::uint16_t> blocked_tcp_ports;  // the router drops these on the way out (a firewall)
    std::vector<ipv4_address> blocked_addresses;   // the router drops everything to these (a firewall)
    std::vector<network_peer> peers;
    std::uint32_t line = 0;
};

struct host_config {
    std::optional<std::string> network;
    bool dhcp = false;                   // address = "dhcp"
    std::optional<ipv4_prefix> address;  // a static address
    std::optional<ipv4_address> gateway;
    std::uint32_t line = 0;
};

struct switch_config {
    std::string name;
    switch_kind kind = switch_kind::private_;
    std::optional<std::string> network;  // external only
    bool allow_management_os = true;     // external only
    // external only: the host vNIC's access VLAN (Set-VMNetworkAdapterVlan -ManagementOS
    // -Access -VlanId N); none: untagged
    std::optional<std::uint16_t> management_os_vlan;
    std::optional<ipv4_prefix> host_address;  // internal only
    bool nat = false;                         // internal only
    std::optional<dhcp_config> dhcp;          // internal only: a DHCP server on the host vNIC
    std::uint32_t line = 0;
};

struct nic_config {
    std::string switch_name;
    ip_mode ip = ip_mode::dhcp;
    std::optional<ipv4_prefix> address;
    std::optional<ipv4_address> gateway;
    std::vector<ipv4_address> dns;
    std::optional<std::uint32_t> metric;
    std::optional<std::uint16_t> vlan;
    std::optional<mac_address> mac;
    nic_model model = nic_model::virtio;
    std::uint32_t line = 0;
};

struct vm_config {
    std::string name;
    guest_profile profile = guest_profile::busybox;  // profile = "busybox" | "eflow"
    // apipa = true: a DHCP NIC that gets no lease takes an IPv4 link-local (APIPA,
    // RFC 3927) address, as a Windows guest does; the EFLOW VM does not (busybox only)
    bool apipa = false;
    guest_forwarding forwarding = guest_forwarding::none;  // busybox only
    std::vector<nic_config> nics;
    std::uint32_t line = 0;
};

struct check_config {
    check_kind kind = check_kind::ping;
    std::string from;
    std::string to;
    std::optional<std::uint16_t> port;
    std::string name;                       // dns: the name to resolve
    std::string expect;                     // "ok", "fail", or the exact text for deploy, flooding and reboot checks
    bool listen = false;                    // tcp to a VM: a listener is started on the port in that VM first
    reboot_reads read = reboot_reads::mac;  // reboot: what is compared across the restarts
    std::uint32_t line = 0;
};

struct lab_file {
    std::string path;
    std::string name;
    host_sku sku = host_sku::server;
    host_config host;
    std::vector<network_config> networks;
    std::vector<switch_config> switches;
    std::vector<vm_config> vms;
    std::vector<check_config> checks;

    const network_config* find_network(std::string_view n) const {
        for (auto& x : networks)
            if (x.name == n) return &x;
        return nullptr;
    }
    const switch_config* find_switch(std::string_view n) const {
        for (auto& x : switches)
            if (x.name == n) return &x;
        return nullptr;
    }
    const vm_config* find_vm(std::string_view n) const {
        for (auto& x : vms)
            if (x.name == n) return &x;
        return nullptr;
    }
};

namespace detail {

/// Reads one lab file; the first problem found stops it (thrown as lab_error inside, caught
/// at the boundary so the public functions return values).
class lab_reader {
public:
    explicit lab_reader(std::string file) : file_(std::move(file)) {}

    lab_file read(const toml::table& root) {
        lab_file lf;
        lf.path = file_;
        allow_keys(root, "", {"lab", "host", "network", "switch", "vm", "check"});
        const toml::table& lab = need_table(root, "lab", "");
        allow_keys(lab, "lab", {"name", "host_sku"});
        lf.name = need_string(lab, "name", "lab");
        if (lf.name.empty() || lf.name.size() > 32 || lf.name.find_first_not_of(name_chars) != std::string::npos)
            fail_at(lab.get("name"), "lab.name", "must be 1-32 characters of a-z, A-Z, 0-9, '-', '_'");
        lf.sku = pick(lab, "host_sku", "lab", std::optional(host_sku::server));

        for (auto& [t, key] : tables(root, "network")) lf.networks.push_back(read_network(*t, key));
        if (auto h = root.get("host")) {
            const toml::table* ht = h->as_table();
            if (!ht) fail_at(h, "host", "must be a table");
            lf.host = read_host(*ht);
        }
        for (auto& [t, key] : tables(root, "switch")) lf.switches.push_back(read_switch(*t, key));
        for (auto& [t, key] : tables(root, "vm")) lf.vms.push_back(read_vm(*t, key));
        for (auto& [t, key] : tables(root, "check")) lf.checks.push_back(read_check(*t, key));
        cross_check(lf);
        return lf;
    }

    [[noreturn]] void fail_line(std::uint32_t line, std::string key, std::string msg) const {
        throw lab_error{file_, line, std::move(key), std::move(msg)};
    }

private:
    static constexpr std::string_view name_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

    static std::uint32_t line_of(const toml::node* n) { return n ? n->source().begin.line : 0; }

    [[noreturn]] void fail_at(const toml::node* n, std::string key, std::string msg) const {
        fail_line(line_of(n), std::move(key), std::move(msg));
    }

    static std::string join(std::string_view prefix, std::string_view key) {
        return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
    }

    void allow_keys(const toml::table& t, std::string_view prefix, std::initializer_list<std::string_view> allowed) const {
        for (auto&& [k, v] : t) {
            bool ok = false;
            for (auto a : allowed) ok = ok || a == k.str();
            if (!ok) {
                fail_at(&v, join(prefix, k.str()), fmt::format("unknown key (expected one of: {})", fmt::join(allowed, ", ")));
            }
        }
    }

    const toml::table& need_table(const toml::table& t, std::string_view key, std::string_view prefix) const {
        const toml::node* n = t.get(key);
        if (!n) fail_line(line_of(&t), join(prefix, key), "missing table");
        if (!n->is_table()) fail_at(n, join(prefix, key), "must be a table");
        return *n->as_table();
    }

    /// The [[key]] array of tables, each with its dotted key for messages.
    std::vector<std::pair<const toml::table*, std::string>> tables(const toml::table& t, std::string_view key) const {
        std::vector<std::pair<const toml::table*, std::string>> out;
        const toml::node* n = t.get(key);
        if (!n) return out;
        const toml::array* a = n->as_array();
        if (!a || !a->is_array_of_tables()) fail_at(n, std::string(key), fmt::format("must be an array of tables ([[{}]])", key));
        for (auto& e : *a) out.emplace_back(e.as_table(), std::string(key));
        return out;
    }

    std::string need_string(const toml::table& t, std::string_view key, std::string_view prefix) const {
        const toml::node* n = t.get(key);
        if (!n) fail_line(line_of(&t), join(prefix, key), "missing");
        if (!n->is_string()) fail_at(n, join(prefix, key), "must be a string");
        return std::string(n->as_string()->get());
    }
    std::optional<std::string> opt_string(const toml::table& t, std::string_view key, std::string_view prefix) const {
        if (!t.get(key)) return std::nullopt;
        return need_string(t, key, prefix);
    }
    bool opt_bool(const toml::table& t, std::string_view key, std::string_view prefix, bool def) const {
        const toml::node* n = t.get(key);
        if (!n) return def;
        if (!n->is_boolean()) fail_at(n, join(prefix, key), "must be true or false");
        return n->as_boolean()->get();
    }
    std::optional<std::int64_t> opt_int(const toml::table& t, std::string_view key, std::string_view prefix, std::int64_t lo,
                                        std::int64_t hi) const {
        const toml::node* n = t.get(key);
        if (!n) return std::nullopt;
        if (!n->is_integer()) fail_at(n, join(prefix, key), "must be an integer");
        std::int64_t v = n->as_integer()->get();
        if (v < lo || v > hi) fail_at(n, join(prefix, key), fmt::format("must be between {} and {}", lo, hi));
        return v;
    }

    /// One of the names of T's table (the lab file's spelling), or `def` when the key is absent.
    template <named_enum T>
    T pick(const toml::table& t, std::string_view key, std::string_view prefix, std::optional<T> def) const {
        const toml::node* n = t.get(key);
        std::vector<std::string_view> names;
        for (const auto& c : enum_names(T{})) names.push_back(c.name);
        const std::string list = fmt::format("{}", fmt::join(names, " | "));
        if (!n) {
            if (def) return *def;
            fail_line(line_of(&t), join(prefix, key), fmt::format("missing (expected {})", list));
        }
        if (!n->is_string()) fail_at(n, join(prefix, key), fmt::format("must be a string: {}", list));
        auto s = n->as_string()->get();
        if (auto v = parse_enum<T>(s)) return *v;
        fail_at(n, join(prefix, key), fmt::format("'{}' is not one of {}", s, list));
    }

    ipv4_address address(const toml::table& t, std::string_view key, std::string_view prefix) const {
        auto s = need_string(t, key, prefix);
        auto a = ipv4_address::parse(s);
        if (!a) fail_at(t.get(key), join(prefix, key), fmt::format("'{}': {}", s, a.error().message()));
        return *a;
    }
    std::optional<ipv4_address> opt_address(const toml::table& t, std::string_view key, std::string_view prefix) const {
        if (!t.get(key)) return std::nullopt;
        return address(t, key, prefix);
    }
    ipv4_prefix prefix_value(const toml::node* n, std::string_view key, const std::string& s, bool need_len) const {
        auto p = ipv4_prefix::parse(s);
        if (!p) fail_at(n, std::string(key), fmt::format("'{}': {}", s, p.error().message()));
        if (need_len && s.find('/') == std::string::npos)
            fail_at(n, std::string(key), fmt::format("'{}': needs a prefix length, like {}/24", s, s));
        return *p;
    }
    std::vector<ipv4_address> address_list(const toml::table& t, std::string_view key, std::string_view prefix) const {
        std::vector<ipv4_address> out;
        const toml::node* n = t.get(key);
        if (!n) return out;
        const toml::array* a = n->as_array();
        if (!a) fail_at(n, join(prefix, key), "must be an array of addresses");
        for (auto& e : *a) {
            if (!e.is_string()) fail_at(&e, join(prefix, key), "must be an array of address strings");
            auto s = std::string(e.as_string()->get());
            auto addr = ipv4_address::parse(s);
            if (!addr) fail_at(&e, join(prefix, key), fmt::format("'{}': {}", s, addr.error().message()));
            out.push_back(*addr);
        }
        return out;
    }
    std::string name_of(const toml::table& t, std::string_view prefix) const {
        auto n = need_string(t, "name", prefix);
        if (n.empty() || n.size() > 15 || n.find_first_not_of(name_chars) != std::string::npos)
            fail_at(t.get("name"), join(prefix, "name"),
                    fmt::format("'{}': must be 1-15 characters of a-z, A-Z, 0-9, '-', '_'", n));
        return n;
    }

    /// A DHCP server table { range = "FIRST-LAST", dns = [...], allow_macs = [...],
    /// lease_time = SECONDS } whose range lies inside `subnet`; `k` is its dotted key.
    dhcp_config read_dhcp(const toml::node* d, const std::string& k, const ipv4_prefix& subnet) const {
        const toml::table* dt = d->as_table();
        if (!dt) fail_at(d, k, "must be a table, like { range = \"a-b\", dns = [...] }");
        allow_keys(*dt, k, {"range", "dns", "allow_macs", "lease_time"});
        dhcp_config dc;
        auto range = need_string(*dt, "range", k);
        auto dash = range.find('-');
        auto first = ipv4_address::parse(std::string_view(range).substr(0, dash));
        auto last = dash == std::string::npos ? first : ipv4_address::parse(std::string_view(range).substr(dash + 1));
        if (dash == std::string::npos || !first || !last || last->to_u32() < first->to_u32())
            fail_at(dt->get("range"), k + ".range",
                    fmt::format("'{}': expected FIRST-LAST, like 192.168.0.100-192.168.0.199", range));
        if (!subnet.contains(*first) || !subnet.contains(*last))
            fail_at(dt->get("range"), k + ".range", fmt::format("'{}' is not inside {}", range, subnet));
        dc.range_first = *first;
        dc.range_last = *last;
        dc.dns = address_list(*dt, "dns", k);
        if (auto l = opt_int(*dt, "lease_time", k, 1, 0xfffffffeLL)) dc.lease_time = std::chrono::seconds(*l);
        if (auto am = dt->get("allow_macs")) {
            const toml::array* a = am->as_array();
            if (!a) fail_at(am, k + ".allow_macs", "must be an array of MAC addresses");
            for (auto& e : *a) {
                auto m = e.is_string() ? mac_address::parse(e.as_string()->get()) : mac_address::parse("");
                if (!m) fail_at(&e, k + ".allow_macs", m.error().message());
                dc.allow_macs.push_back(*m);
            }
        }
        return dc;
    }

    network_config read_network(const toml::table& t, const std::string& key) const {
        allow_keys(t, key, {"name", "subnet", "gateway", "dhcp", "dns", "peer", "blocked_tcp_ports", "blocked_addresses"});
        network_config n;
        n.line = line_of(&t);
        n.name = name_of(t, key);
        auto subnet_s = need_string(t, "subnet", key);
        n.subnet = prefix_value(t.get("subnet"), key + ".subnet", subnet_s, true);
        if (n.subnet.address() != n.subnet.network())
            fail_at(t.get("subnet"), key + ".subnet",
                    fmt::format("'{}' has host bits set (the network is {})", subnet_s, n.subnet.canonical()));
        n.gateway = address(t, "gateway", key);
        if (!n.subnet.contains(n.gateway) || n.subnet.is_network_or_broadcast(n.gateway))
            fail_at(t.get("gateway"), key + ".gateway",
                    fmt::format("{} is not a host address in subnet {}", n.gateway, n.subnet));
        if (auto d = t.get("dhcp")) n.dhcp = read_dhcp(d, key + ".dhcp", n.subnet);
        if (auto d = t.get("dns")) {
            const toml::table* dt = d->as_table();
            if (!dt) fail_at(d, key + ".dns", "must be a table of name = \"address\"");
            for (auto&& [k, v] : *dt) {
                if (!v.is_string()) fail_at(&v, key + ".dns." + std::string(k.str()), "must be an address string");
                auto a = ipv4_address::parse(v.as_string()->get());
                if (!a) fail_at(&v, key + ".dns." + std::string(k.str()), a.error().message());
                n.dns.emplace(std::string(k.str()), *a);
            }
        }
        if (auto b = t.get("blocked_tcp_ports")) {
            const toml::array* a = b->as_array();
            if (!a) fail_at(b, key + ".blocked_tcp_ports", "must be an array of TCP ports");
            for (auto&& v : *a) {
                auto port = v.value<std::int64_t>();
                if (!v.is_integer() || !port || *port < 1 || *port > 65535)
                    fail_at(&v, key + ".blocked_tcp_ports", "must be TCP ports from 1 to 65535");
                n.blocked_tcp_ports.push_back(static_cast<std::uint16_t>(*port));
            }
        }
        n.blocked_addresses = address_list(t, "blocked_addresses", key);
        for (auto& [pt, pkey] : tables(t, "peer")) {
            std::string pk = key + ".peer";
            allow_keys(*pt, pk, {"name", "address", "route_via_host", "vlan"});
            network_peer p;
            p.line = line_of(pt);
            p.name = name_of(*pt, pk);
            p.route_via_host = opt_bool(*pt, "route_via_host", pk, false);
            if (auto v = opt_int(*pt, "vlan", pk, 1, 4094)) p.vlan = static_cast<std::uint16_t>(*v);
            auto as = need_string(*pt, "address", pk);
            p.address = prefix_value(pt->get("address"), pk + ".address", as, true);
            if (!n.subnet.contains(p.address.address()))
                fail_at(pt->get("address"), pk + ".address", fmt::format("{} is not inside {}", as, n.subnet));
            n.peers.push_back(std::move(p));
        }
        return n;
    }

    host_config read_host(const toml::table& t) const {
        allow_keys(t, "host", {"network", "address", "gateway"});
        host_config h;
        h.line = line_of(&t);
        h.network = opt_string(t, "network", "host");
        if (auto a = opt_string(t, "address", "host")) {
            if (*a == "dhcp") h.dhcp = true;
            else h.address = prefix_value(t.get("address"), "host.address", *a, true);
        }
        h.gateway = opt_address(t, "gateway", "host");
        return h;
    }

    switch_config read_switch(const toml::table& t, const std::string& key) const {
        allow_keys(t, key,
                   {"name", "kind", "network", "allow_management_os", "management_os_vlan", "host_address", "nat", "dhcp"});
        switch_config s;
        s.line = line_of(&t);
        auto n = need_string(t, "name", key);  // Hyper-V switch names may be longer than interface names
        if (n.empty()) fail_at(t.get("name"), key + ".name", "must not be empty");
        s.name = n;
        s.kind = pick(t, "kind", key, std::optional<switch_kind>{});
        s.network = opt_string(t, "network", key);
        s.allow_management_os = opt_bool(t, "allow_management_os", key, true);
        if (auto v = opt_int(t, "management_os_vlan", key, 1, 4094)) s.management_os_vlan = static_cast<std::uint16_t>(*v);
        if (s.management_os_vlan && !s.allow_management_os)
            fail_at(t.get("management_os_vlan"), key + ".management_os_vlan",
                    "the host has no vNIC on this switch (allow_management_os = false)");
        if (auto ha = opt_string(t, "host_address", key))
            s.host_address = prefix_value(t.get("host_address"), key + ".host_address", *ha, true);
        s.nat = opt_bool(t, "nat", key, false);
        auto only = [&](std::string_view k, switch_kind kind) {
            if (t.get(k) && s.kind != kind)
                fail_at(t.get(k), key + "." + std::string(k),
                        fmt::format("only for kind = \"{}\" (this switch is \"{}\")", to_string(kind), to_string(s.kind)));
        };
        only("network", switch_kind::external);
        only("allow_management_os", switch_kind::external);
        only("management_os_vlan", switch_kind::external);
        only("host_address", switch_kind::internal);
        only("nat", switch_kind::internal);
        only("dhcp", switch_kind::internal);
        if (auto d = t.get("dhcp")) {
            if (!s.host_address)
                fail_at(d, key + ".dhcp", "a DHCP server on an internal switch serves from the host vNIC: add host_address");
            s.dhcp = read_dhcp(d, key + ".dhcp", s.host_address->canonical());
            const auto vnic = s.host_address->address().to_u32();
            if (vnic >= s.dhcp->range_first.to_u32() && vnic <= s.dhcp->range_last.to_u32())
                fail_at(d->as_table()->get("range"), key + ".dhcp.range",
                        fmt::format("the range holds the host vNIC's address {}", s.host_address->address()));
        }
        if (s.kind == switch_kind::external && !s.network)
            fail_line(s.line, key + ".network", "an external switch binds to a network: add network = \"<name>\"");
        return s;
    }

    vm_config read_vm(const toml::table& t, const std::string& key) const {
        allow_keys(t, key, {"name", "profile", "apipa", "forwarding", "nic"});
        vm_config vm;
        vm.line = line_of(&t);
        vm.name = name_of(t, key);
        vm.profile = pick(t, "profile", key, std::optional(guest_profile::busybox));
        vm.apipa = opt_bool(t, "apipa", key, false);
        if (vm.apipa && vm.profile != guest_profile::busybox)
            fail_at(t.get("apipa"), key + ".apipa", "the EFLOW VM takes no APIPA address (profile = \"busybox\" only)");
        vm.forwarding = pick(t, "forwarding", key, std::optional(guest_forwarding::none));
        if (vm.forwarding != guest_forwarding::none && vm.profile != guest_profile::busybox)
            fail_at(t.get("forwarding"), key + ".forwarding", "only a busybox guest runs bridging or routing software");
        auto nics = tables(t, "nic");
        if (nics.empty()) fail_line(vm.line, key + ".nic", fmt::format("VM '{}' needs at least one [[vm.nic]]", vm.name));
        for (auto& [nt, nkey] : nics) {
            std::string k = key + ".nic";
            allow_keys(*nt, k, {"switch", "ip", "address", "gateway", "dns", "metric", "vlan", "mac", "model"});
            nic_config nic;
            nic.line = line_of(nt);
            nic.switch_name = need_string(*nt, "switch", k);
            nic.ip = pick(*nt, "ip", k, std::optional(ip_mode::dhcp));
            if (auto a = opt_string(*nt, "address", k)) nic.address = prefix_value(nt->get("address"), k + ".address", *a, true);
            nic.gateway = opt_address(*nt, "gateway", k);
            nic.dns = address_list(*nt, "dns", k);
            if (auto m = opt_int(*nt, "metric", k, 0, 0xffffffffLL)) nic.metric = static_cast<std::uint32_t>(*m);
            if (auto v = opt_int(*nt, "vlan", k, 1, 4094)) nic.vlan = static_cast<std::uint16_t>(*v);
            if (auto m = opt_string(*nt, "mac", k)) {
                auto mac = mac_address::parse(*m);
                if (!mac) fail_at(nt->get("mac"), k + ".mac", fmt::format("'{}': {}", *m, mac.error().message()));
                if (mac->is_multicast()) fail_at(nt->get("mac"), k + ".mac", fmt::format("'{}' is a multicast address", *m));
                nic.mac = *mac;
            }
            nic.model = pick(*nt, "model", k, std::optional(nic_model::virtio));
            if (nic.ip == ip_mode::dhcp && (nic.address || nic.gateway))
                fail_at(nt->get(nic.address ? "address" : "gateway"), k + (nic.address ? ".address" : ".gateway"),
                        "only for ip = \"static\"");
            vm.nics.push_back(std::move(nic));
        }
        if (vm.forwarding != guest_forwarding::none && vm.nics.size() < 2)
            fail_at(t.get("forwarding"), key + ".forwarding", "needs two or more [[vm.nic]] to forward between");
        if (vm.forwarding == guest_forwarding::bridge)
            for (const auto& n : vm.nics)
                if (n.ip != ip_mode::static_ || n.address)
                    fail_line(n.line, key + ".nic.ip", "a bridging VM's NICs carry no address (ip = \"static\" without address)");
        return vm;
    }

    static std::string_view article(std::string_view word) {
        return !word.empty() && std::string_view("aeiou").find(word[0]) != std::string_view::npos ? "an" : "a";
    }

    /// "\"tcp\"" or "\"tcp\" or \"udp\"": the kinds whose row has `flag` set.
    static std::string kinds_with(bool check_kind_rules::*flag) {
        std::string out;
        for (const auto& r : check_kinds)
            if (r.*flag) out += fmt::format("{}\"{}\"", out.empty() ? "" : " or ", r.name);
        return out;
    }

    check_config read_check(const toml::table& t, const std::string& key) const {
        allow_keys(t, key, {"kind", "from", "to", "port", "name", "expect", "listen", "read"});
        check_config c;
        c.line = line_of(&t);
        c.kind = pick(t, "kind", key, std::optional<check_kind>{});
        c.from = need_string(t, "from", key);
        if (auto to = opt_string(t, "to", key)) c.to = *to;
        if (auto p = opt_int(t, "port", key, 1, 65535)) c.port = static_cast<std::uint16_t>(*p);
        if (auto n = opt_string(t, "name", key)) c.name = *n;
        c.expect = opt_string(t, "expect", key).value_or("ok");
        c.listen = opt_bool(t, "listen", key, false);
        if (c.listen && c.kind != check_kind::tcp) fail_at(t.get("listen"), key + ".listen", "only for kind = \"tcp\"");
        c.read = pick(t, "read", key, std::optional<reboot_reads>{reboot_reads::mac});
        if (t.get("read") && c.kind != check_kind::reboot) fail_at(t.get("read"), key + ".read", "only for kind = \"reboot\"");
        const auto& rule = rules_of(c.kind);
        if (!rule.free_text && c.expect != "ok" && c.expect != "fail")
            fail_at(t.get("expect"), key + ".expect", fmt::format("'{}': expected \"ok\" or \"fail\"", c.expect));
        if (rule.needs_port && !c.port) fail_line(c.line, key + ".port", fmt::format("a {} check needs a port", rule.name));
        if (!rule.needs_port && c.port)
            fail_at(t.get("port"), key + ".port", fmt::format("only for kind = {}", kinds_with(&check_kind_rules::needs_port)));
        if (rule.needs_name && c.name.empty())
            fail_line(c.line, key + ".name", fmt::format("{} {} check needs a name", article(rule.name), rule.name));
        if (rule.needs_to && c.to.empty())
            fail_line(c.line, key + ".to", fmt::format("{} {} check needs a target", article(rule.name), rule.name));
        return c;
    }

    void cross_check(const lab_file& lf) const {
        std::set<std::string> seen;
        auto unique = [&](const std::string& n, std::uint32_t line, const char* key) {
            if (!seen.insert(n).second) fail_line(line, key, fmt::format("the name '{}' is used twice", n));
        };
        for (auto& n : lf.networks) {
            unique(n.name, n.line, "network.name");
            for (auto& p : n.peers) {
                unique(p.name, p.line, "network.peer.name");
                if (p.route_via_host && p.vlan)
                    fail_line(p.line, "network.peer.route_via_host", "a VLAN peer answers ARP and ping only: it routes nothing");
                if (p.route_via_host && (lf.host.network != n.name || !lf.host.address))
                    fail_line(
                        p.line, "network.peer.route_via_host",
                        fmt::format("needs the host's static address on network '{}' (host.network and host.address)", n.name));
            }
        }
        for (auto& vm : lf.vms) unique(vm.name, vm.line, "vm.name");
        if (seen.count("host")) fail_line(0, "name", "'host' is reserved for the emulated Windows host");
        std::set<std::string> switch_names;
        for (auto& s : lf.switches) {
            if (!switch_names.insert(s.name).second)
                fail_line(s.line, "switch.name", fmt::format("the switch '{}' is declared twice", s.name));
            if (s.network && !lf.find_network(*s.network))
                fail_line(s.line, "switch.network", fmt::format("no [[network]] named '{}'", *s.network));
        }
        if (lf.host.network && !lf.find_network(*lf.host.network))
            fail_line(lf.host.line, "host.network", fmt::format("no [[network]] named '{}'", *lf.host.network));
        for (auto& vm : lf.vms)
            for (auto& nic : vm.nics)
                if (!lf.find_switch(nic.switch_name))
                    fail_line(nic.line, "vm.nic.switch", fmt::format("no [[switch]] named '{}'", nic.switch_name));
        for (auto& c : lf.checks) {
            bool known = c.from == "host" || lf.find_vm(c.from) || lf.find_network(c.from);
            for (auto& n : lf.networks)
                for (auto& p : n.peers) {
                    known = known || p.name == c.from;
                    if (p.name == c.from && p.vlan)
                        fail_line(c.line, "check.from",
                                  fmt::format("'{}' is a VLAN peer: it answers ARP and ping, it runs no check", c.from));
                }
            if (!known)
                fail_line(c.line, "check.from", fmt::format("'{}' is not a VM, \"host\", a network peer or a network", c.from));
            const auto& rule = rules_of(c.kind);
            if (rule.from == check_end::vm && !lf.find_vm(c.from))
                fail_line(c.line, "check.from",
                          fmt::format("{} {} check runs from a VM ('{}' is not one)", article(rule.name), rule.name, c.from));
            if (rule.from == check_end::not_vm && lf.find_vm(c.from))
                fail_line(c.line, "check.from",
                          fmt::format("{} {} check probes from the host, a network or a peer{} ('{}' is a VM)",
                                      article(rule.name), rule.name, rule.before_boot ? " before the VMs boot" : "", c.from));
            if (rule.to == check_end::vm && !lf.find_vm(c.to))
                fail_line(c.line, "check.to",
                          fmt::format("{} {} check sends to a VM ('{}' is not one)", article(rule.name), rule.name, c.to));
        }
    }

    std::string file_;
};

}  // namespace detail

/// Parses TOML text (file is the name used in messages).
inline expected<lab_file, lab_error> parse_lab(std::string_view text, const std::string& file) {
    try {
        toml::table root = toml::parse(text, file);
        return detail::lab_reader(file).read(root);
    } catch (const toml::parse_error& e) {
        return unexpected(lab_error{file, static_cast<std::uint32_t>(e.source().begin.line), "", std::string(e.description())});
    } catch (const lab_error& e) {
        return unexpected(e);
    }
}

/// Reads and parses a lab file.
inline expected<lab_file, lab_error> load_lab(const std::string& path) {
    try {
        toml::table root = toml::parse_file(path);
        return detail::lab_reader(path).read(root);
    } catch (const toml::parse_error& e) {
        return unexpected(lab_error{path, static_cast<std::uint32_t>(e.source().begin.line), "", std::string(e.description())});
    } catch (const lab_error& e) {
        return unexpected(e);
    }
}

}  // namespace vnet::lab
