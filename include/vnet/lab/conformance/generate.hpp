// vnet/lab/conformance/generate.hpp - a conformance row generated into the lab file that observes it
// (the whole: vnet/lab/conformance.hpp).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/eflow/deploy.hpp>
#include <vnet/eflow/dns_settings.hpp>
#include <vnet/eflow/route_metrics.hpp>
#include <vnet/eflow/support_matrix.hpp>
#include <vnet/lab/diagnosis.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/switch/kinds.hpp>
#include <vnet/lab/conformance/table.hpp>

namespace vnet::lab {

namespace detail {

using lab_failure = lab_error;  // thrown inside the loader, returned at its boundary

[[noreturn]] inline void conf_fail(const std::string& file, std::uint32_t line, std::string key, std::string msg) {
    throw lab_failure{file, line, std::move(key), std::move(msg)};
}

inline std::uint32_t line_of(const toml::node* n) { return n ? n->source().begin.line : 0; }

/// The TOML reading both the loader and the row generator use: file:line:key errors and
/// typed, checked reads.
class toml_rows {
public:
    explicit toml_rows(std::string file) : file_(std::move(file)) {}

protected:
    [[noreturn]] void fail_at(const toml::node* n, std::string key, std::string msg) const {
        conf_fail(file_, line_of(n), std::move(key), std::move(msg));
    }
    [[noreturn]] void fail_line(std::uint32_t line, std::string key, std::string msg) const {
        conf_fail(file_, line, std::move(key), std::move(msg));
    }

    void allow(const toml::table& t, std::string_view prefix, std::initializer_list<std::string_view> keys) const {
        for (auto&& [k, v] : t) {
            if (std::find(keys.begin(), keys.end(), k.str()) == keys.end())
                fail_at(&v, prefix.empty() ? std::string(k.str()) : fmt::format("{}.{}", prefix, k.str()),
                        fmt::format("unknown key (expected one of: {})", fmt::join(keys, ", ")));
        }
    }
    std::string str(const toml::table& t, std::string_view key, std::string_view prefix, bool required) const {
        const toml::node* n = t.get(key);
        if (!n) {
            if (required) fail_at(&t, fmt::format("{}.{}", prefix, key), "missing");
            return {};
        }
        if (!n->is_string()) fail_at(n, fmt::format("{}.{}", prefix, key), "must be a string");
        return std::string(n->as_string()->get());
    }
    std::optional<bool> opt_bool(const toml::table& t, std::string_view key) const {
        const toml::node* n = t.get(key);
        if (!n) return std::nullopt;
        if (!n->is_boolean()) fail_at(n, fmt::format("row.{}", key), "must be true or false");
        return n->as_boolean()->get();
    }
    std::vector<std::string> str_list(const toml::table& t, std::string_view key) const {
        std::vector<std::string> out;
        const toml::node* n = t.get(key);
        if (!n) return out;
        const toml::array* a = n->as_array();
        if (!a) fail_at(n, fmt::format("row.{}", key), "must be an array of strings");
        for (auto& e : *a) {
            if (!e.is_string()) fail_at(&e, fmt::format("row.{}", key), "must be an array of strings");
            out.emplace_back(e.as_string()->get());
        }
        return out;
    }

    static toml::array str_array(const std::vector<std::string>& v) {
        toml::array a;
        for (const auto& s : v) a.push_back(s);
        return a;
    }

    std::string file_;
};

/// Generation: a row -> its lab file (the standard EFLOW topology, the deployed switch and
/// VM, the row's fragments, one [[check]] per VM cell).
class row_generator : protected toml_rows {
public:
    explicit row_generator(std::string file) : toml_rows(std::move(file)) {}

protected:
    // ---- generation: row -> lab_file ----

    /// The host as validate_deploy sees it, from the row.
    eflow::host_state host_for(const toml::table& rt, const row_spec& r, const eflow::deploy_options& o) const {
        eflow::host_state h;
        h.sku = r.sku == host_sku::client ? eflow::host_sku::client : eflow::host_sku::server;
        h.adapters_up = rt.get("adapters") ? str_list(rt, "adapters") : std::vector<std::string>{"Ethernet"};
        h.gateway_next_hops = {ipv4_address(192, 168, 0, 1)};
        h.dns_servers = {ipv4_address(192, 168, 0, 1)};
        const bool exists = opt_bool(rt, "switch_exists").value_or(true);
        if (exists && o.vswitch_name && o.vswitch_type) {
            if (auto ty = eflow::parse_switch_type(*o.vswitch_type)) {
                eflow::existing_switch s;
                s.name = *o.vswitch_name;
                s.type = *ty;
                if (*ty == eflow::switch_type::internal) {
                    s.host_vnic = ipv4_prefix(ipv4_address(172, 20, 0, 1), 24);
                    s.dhcp_server = opt_bool(rt, "internal_dhcp").value_or(false);
                    if (opt_bool(rt, "nat").value_or(true))
                        h.nats.push_back({s.name + "-NAT", ipv4_prefix(ipv4_address(172, 20, 0, 0), 24)});
                }
                h.switches.push_back(std::move(s));
            }
        }
        return h;
    }

    static std::string s(ipv4_address a) { return fmt::format("{}", a); }
    static std::string s(ipv4_prefix p) { return fmt::format("{}", p); }

    void generate(toml::table& rt, row_spec& r, const table_spec& t) {
        toml::table root;
        root.insert("lab", toml::table{{"name", fmt::format("t{}-{}", t.number, r.id)},
                                       {"host_sku", r.sku == host_sku::client ? "client" : "server"}});
        // host_dhcp = true: the host leases its LAN address (and falls back to APIPA without
        // an answer, lab/topology.hpp host_apipa)
        if (opt_bool(rt, "host_dhcp").value_or(false)) root.insert("host", toml::table{{"network", "lan"}, {"address", "dhcp"}});
        else root.insert("host", toml::table{{"network", "lan"}, {"address", "192.168.0.10/24"}, {"gateway", "192.168.0.1"}});
        toml::table lan{{"name", "lan"},
                        {"subnet", "192.168.0.0/24"},
                        {"gateway", "192.168.0.1"},
                        {"dns", toml::table{{"iothub.example", s(internet_address)}}}};
        if (opt_bool(rt, "lan_dhcp").value_or(true)) {
            toml::table dhcp{{"range", "192.168.0.100-192.168.0.199"}, {"dns", toml::array{"192.168.0.1"}}};
            if (rt.get("lan_allow_macs")) dhcp.insert("allow_macs", str_array(str_list(rt, "lan_allow_macs")));
            // lan_dhcp_lease = SECONDS: the LAN server's lease time (network.dhcp.lease_time;
            // the lab file reader checks the value)
            if (toml::node* l = rt.get("lan_dhcp_lease")) {
                if (!l->is_integer()) fail_at(l, "row.lan_dhcp_lease", "must be an integer (seconds)");
                dhcp.insert("lease_time", *l->as_integer());
            }
            lan.insert("dhcp", std::move(dhcp));
        } else {
            for (const char* k : {"lan_allow_macs", "lan_dhcp_lease"})
                if (rt.get(k)) fail_at(rt.get(k), fmt::format("row.{}", k), "needs the LAN's DHCP server (lan_dhcp = true)");
        }
        // The LAN's firewall: its router drops outbound TCP to these ports (lab key
        // network.blocked_tcp_ports; the lab file reader checks the values).
        if (toml::node* b = rt.get("lan_blocked_ports")) {
            if (!b->is_array()) fail_at(b, "row.lan_blocked_ports", "must be an array of TCP ports");
            lan.insert("blocked_tcp_ports", *b->as_array());
        }
        // ... and everything to these addresses (network.blocked_addresses).
        if (toml::node* b = rt.get("lan_blocked_addresses")) {
            if (!b->is_array()) fail_at(b, "row.lan_blocked_addresses", "must be an array of IPv4 addresses");
            lan.insert("blocked_addresses", *b->as_array());
        }
        toml::array peers;
        take(rt, "peer", peers);
        if (!peers.empty()) lan.insert("peer", std::move(peers));
        toml::array networks;
        networks.push_back(std::move(lan));
        take(rt, "network", networks);
        toml::array switches;
        toml::array vms;
        // The deploy command: validate, then the switch and VM the plan describes.
        std::set<std::uint32_t> present;  // what the model's probe answers for
        if (r.deploy_command) {
            auto o = eflow::deploy_options::parse(*r.deploy_command);
            if (!o) fail_at(rt.get("deploy"), "row.deploy", o.error());
            eflow::host_state host = host_for(rt, r, *o);
            present = present_addresses(networks, rt);
            for (const auto& sw : host.switches)
                if (sw.host_vnic) present.insert(sw.host_vnic->address().to_u32());
            eflow::network_probe probe{[present](ipv4_address a) { return present.count(a.to_u32()) > 0; }};
            r.deploy = eflow::validate_deploy(*o, host, probe);
            r.deploy_options = *o;
            r.deploy_host = host;
            if (r.deploy->plan) add_deployed(rt, r, *r.deploy->plan, switches, vms);
        }
        take(rt, "switch", switches);
        take(rt, "vm", vms);
        if (!switches.empty()) root.insert("switch", std::move(switches));
        if (!vms.empty()) root.insert("vm", std::move(vms));
        root.insert("network", std::move(networks));

        // Checks: one per VM cell, then the helpers.
        toml::array checks;
        std::size_t next = 0;
        for (auto& c : r.cells) {
            if (!is_vm_kind(c.kind)) continue;
            c.check_index = next++;
            checks.push_back(check_table(c, root));
        }
        // dns_servers: the servers the deployed guest uses, read in the guest.
        if (r.eval == row_eval::vm && r.deploy && r.deploy->plan)
            for (auto& c : r.cells)
                if (c.kind == cell_kind::dns_servers) {
                    c.check_index = next++;
                    checks.push_back(toml::table{{"kind", "resolvers"}, {"from", "eflow"}, {"expect", c.expect}});
                }
        if (r.eval == row_eval::vm && r.deploy && r.deploy->plan && !r.deploy->plan->static_ip &&
            std::any_of(r.cells.begin(), r.cells.end(), [](const cell_spec& c) { return c.kind == cell_kind::deploy; })) {
            r.lease_check = next++;
            checks.push_back(toml::table{{"kind", "dhcp"}, {"from", "eflow"}, {"to", "eth0"}, {"expect", "ok"}});
        }
        // A VM row's static address and gateway are probed on the lab network (ARP, from
        // the host, before the VM boots); the deploy cell is validated again with what
        // the probes observed (docs/eflow-facts.md [AD]: "in use", "not reachable").
        if (r.eval == row_eval::vm && r.deploy_options) {
            std::set<std::uint32_t> probed;
            for (const auto& text : {r.deploy_options->ip4_address, r.deploy_options->ip4_gateway_address}) {
                if (!text) continue;
                auto a = ipv4_address::parse(*text);
                if (!a || !probed.insert(a->to_u32()).second) continue;
                r.probe_checks.emplace_back(*a, next++);
                checks.push_back(toml::table{{"kind", "arp"},
                                             {"from", "host"},
                                             {"to", s(*a)},
                                             {"expect", std::string(present.count(a->to_u32()) ? "ok" : "fail")}});
            }
        }
        if (!checks.empty()) root.insert("check", std::move(checks));

        try {
            r.lab = lab::detail::lab_reader(file_).read(root);
        } catch (lab_error& e) {
            if (!e.line) e.line = r.line;
            e.message += fmt::format(" (row {})", r.id);
            throw;
        }
        if (r.draw_seed) apply_draw(r);
        if (r.diagnose_vm) {
            auto p = plan_diagnosis(r.lab, *r.diagnose_vm);
            if (!p) fail_at(rt.get("diagnose"), "row.diagnose", p.error());
            r.diag_first_check = r.lab.checks.size();
            for (const auto& dc : p->checks) {
                check_config cc = dc.check;
                cc.line = r.line;
                r.lab.checks.push_back(std::move(cc));
            }
            r.diag_plan = std::move(*p);
        }
        // A row that diagnoses a VM may lack the DHCP server on purpose (the fault it shows).
        if (!r.diagnose_vm) r.missing_reason = unexpressible(r.lab);
        if (r.eval == row_eval::vm && r.lab.vms.empty() && r.deployed())
            fail_line(r.line, "row.eval", "eval = \"vm\" but the row has no VM (add deploy = ... or [[row.vm]])");
        if (r.eval == row_eval::model && r.diagnose_vm)
            fail_at(rt.get("diagnose"), "row.diagnose", "diagnosing a VM needs eval = \"vm\"");
    }

    /// Moves the row's fragment array `key` (keeping source lines) into `into`.
    void take(toml::table& rt, std::string_view key, toml::array& into) const {
        toml::node* n = rt.get(key);
        if (!n) return;
        toml::array* a = n->as_array();
        if (!a || !a->is_array_of_tables()) fail_at(n, fmt::format("row.{}", key), fmt::format("must be [[row.{}]] tables", key));
        for (auto& e : *a) into.push_back(std::move(*e.as_table()));
    }

    /// Addresses some device of the generated lab holds (the lab network answers a probe
    /// for them): gateways, the host, peers, and static addresses of fragment VMs.
    std::set<std::uint32_t> present_addresses(const toml::array& networks, const toml::table& rt) const {
        std::set<std::uint32_t> out{ipv4_address(192, 168, 0, 10).to_u32()};
        auto add_text = [&](const toml::node* n) {
            if (!n || !n->is_string()) return;
            std::string_view v = n->as_string()->get();
            auto slash = v.find('/');
            if (auto a = ipv4_address::parse(v.substr(0, slash))) out.insert(a->to_u32());
        };
        for (const auto& n : networks) {
            const toml::table* nt = n.as_table();
            add_text(nt->get("gateway"));
            if (const toml::node* ps = nt->get("peer"))
                if (const toml::array* pa = ps->as_array())
                    for (const auto& p : *pa)
                        if (p.is_table()) add_text(p.as_table()->get("address"));
        }
        if (const toml::node* vms = rt.get("vm"))
            if (const toml::array* va = vms->as_array())
                for (const auto& v : *va)
                    if (const toml::table* vt = v.as_table())
                        if (const toml::node* nics = vt->get("nic"))
                            if (const toml::array* na = nics->as_array())
                                for (const auto& nic : *na)
                                    if (nic.is_table()) add_text(nic.as_table()->get("address"));
        return out;
    }

    void add_deployed(const toml::table& rt, row_spec& r, const eflow::deploy_plan& p, toml::array& switches,
                      toml::array& vms) const {
        toml::table sw{{"name", p.switch_name}};
        switch (p.type) {
            case eflow::switch_type::external:
                sw.insert("kind", "external");
                sw.insert("network", "lan");
                break;
            case eflow::switch_type::internal: {
                sw.insert("kind", "internal");
                ipv4_prefix vnic = p.host_vnic.value_or(ipv4_prefix(ipv4_address(172, 20, 0, 1), 24));
                sw.insert("host_address", s(vnic));
                sw.insert("nat", true);
                if (opt_bool(rt, "internal_dhcp").value_or(false)) {
                    // The admin's DHCP server on the internal network: .100-.199 of the host
                    // vNIC's prefix, router and DNS the host vNIC ([TS] "Check IP addresses").
                    if (vnic.length() > 24)
                        fail_at(rt.get("internal_dhcp"), "row.internal_dhcp",
                                fmt::format("needs a /24 or larger host vNIC prefix, not {}", vnic));
                    const auto base = vnic.network().to_u32();
                    sw.insert("dhcp",
                              toml::table{{"range", fmt::format("{}-{}", ipv4_address(base + 100), ipv4_address(base + 199))},
                                          {"dns", toml::array{s(vnic.address())}}});
                }
                break;
            }
            case eflow::switch_type::default_switch:
            case eflow::switch_type::private_: sw.insert("kind", std::string(to_string(p.type))); break;
        }
        switches.push_back(std::move(sw));
        std::vector<ipv4_address> dns = p.dns_servers;
        if (r.set_dns_command) {
            eflow::dns_settings settings(p, "eth0");
            if (auto ok = settings.set_dns_servers_command(*r.set_dns_command); !ok)
                fail_at(rt.get("set_dns"), "row.set_dns", ok.error().message);
            dns = settings.find("eth0")->servers;
        }
        toml::table nic{{"switch", p.switch_name}};
        if (p.static_ip) {
            nic.insert("ip", "static");
            nic.insert("address", s(p.static_ip->address));
            nic.insert("gateway", s(p.static_ip->gateway));
        } else {
            nic.insert("ip", "dhcp");
        }
        if (!dns.empty() && (p.static_ip || r.set_dns_command)) {
            toml::array d;
            for (auto a : dns) d.push_back(s(a));
            nic.insert("dns", std::move(d));
        }
        // mac = "dynamic": none in the lab file, so the host allocates one from its pool.
        const std::string mac = rt.get("mac") ? str(rt, "mac", "row", true) : std::string("00:15:5d:00:00:10");
        if (mac != "dynamic") nic.insert("mac", mac);
        toml::table vm{{"name", "eflow"}, {"nic", toml::array{std::move(nic)}}};
        // guest = "eflow": the EFLOW-like guest (systemd, resolved, its inbound policy).
        if (rt.get("guest")) vm.insert("profile", str(rt, "guest", "row", true));
        vms.push_back(std::move(vm));
    }

    /// A cell's [[check]], with its symbolic target resolved.
    toml::table check_table(const cell_spec& c, const toml::table& root) const {
        const bool reboot = c.kind == cell_kind::mac_after_reboot || c.kind == cell_kind::address_after_reboot;
        const std::string_view kind = reboot                                          ? "reboot"
                                      : c.kind == cell_kind::address_after_lease_loss ? "lease_loss"
                                                                                      : to_string(c.kind);
        toml::table ct{{"kind", std::string(kind)}, {"from", c.from}, {"expect", c.expect}};
        if (c.kind == cell_kind::address_after_reboot) ct.insert("read", "address");
        std::string to = c.to;
        if (to.empty() && (c.kind == cell_kind::tcp || c.kind == cell_kind::route)) to = "internet";
        if (to == "internet") to = s(internet_address);
        else if (to == "gateway" || to == "dns-server") to = symbolic(c, to, root);
        if (!to.empty()) ct.insert("to", to);
        if (c.port) ct.insert("port", static_cast<std::int64_t>(*c.port));
        if (!c.name.empty()) ct.insert("name", c.name);
        if (c.listen) ct.insert("listen", true);
        return ct;
    }

    /// "gateway" / "dns-server" of the cell's `from` VM, eth0, from the generated tables.
    std::string symbolic(const cell_spec& c, const std::string& what, const toml::table& root) const {
        const toml::table* nic = nullptr;
        if (const toml::node* vms = root.get("vm"))
            for (const auto& v : *vms->as_array())
                if (const toml::table* vt = v.as_table();
                    vt && vt->get("name") && vt->get("name")->is_string() && vt->get("name")->as_string()->get() == c.from)
                    if (const toml::node* nics = vt->get("nic"); nics && nics->as_array() && !nics->as_array()->empty())
                        nic = (*nics->as_array())[0].as_table();
        if (!nic) fail_line(c.line, "row.cells.to", fmt::format("'{}' needs a VM '{}' with a NIC", what, c.from));
        auto text = [&](const toml::table& t, std::string_view k) -> std::string {
            const toml::node* n = t.get(k);
            return n && n->is_string() ? std::string(n->as_string()->get()) : std::string();
        };
        if (what == "dns-server") {
            if (const toml::node* d = nic->get("dns");
                d && d->as_array() && !d->as_array()->empty() && (*d->as_array())[0].is_string())
                return std::string((*d->as_array())[0].as_string()->get());
            return "192.168.0.1";  // the LAN's DHCP option 6
        }
        if (auto gw = text(*nic, "gateway"); !gw.empty()) return gw;
        const std::string sw_name = text(*nic, "switch");
        if (const toml::node* sws = root.get("switch"))
            for (const auto& sn : *sws->as_array()) {
                const toml::table* st = sn.as_table();
                if (!st || text(*st, "name") != sw_name) continue;
                const std::string kind = text(*st, "kind");
                if (kind == "external") {
                    const std::string net = text(*st, "network");
                    for (const auto& nn : *root.get("network")->as_array())
                        if (text(*nn.as_table(), "name") == net) return text(*nn.as_table(), "gateway");
                }
                if (kind == "internal") {
                    auto ha = text(*st, "host_address");
                    return ha.substr(0, ha.find('/'));
                }
            }
        fail_line(
            c.line, "row.cells.to",
            fmt::format("the gateway of {} is not known from the lab file (a Default Switch lease); use an address", c.from));
    }

    /// The reference boot's random metrics for the draw VM, written into its NICs.
    void apply_draw(row_spec& r) const {
        vm_config* vm = nullptr;
        for (auto& v : r.lab.vms)
            if (v.name == r.draw_vm) vm = &v;
        if (!vm) fail_line(r.line, "row.draw_vm", fmt::format("no VM '{}' to draw metrics for", r.draw_vm));
        std::mt19937 gen(static_cast<std::mt19937::result_type>(*r.draw_seed));
        auto table = eflow::reference_boot(addressing(*vm), gen);
        for (std::size_t k = 0; k < vm->nics.size(); ++k)
            if (auto m = table.metric_of_default(fmt::format("eth{}", k))) vm->nics[k].metric = *m;
    }

public:
    /// The NICs of a VM as the route model sees them (DHCP NICs get a placeholder prefix:
    /// only their default route matters here).
    static std::vector<eflow::nic_addressing> addressing(const vm_config& vm) {
        std::vector<eflow::nic_addressing> out;
        for (std::size_t k = 0; k < vm.nics.size(); ++k) {
            const auto& n = vm.nics[k];
            out.push_back({fmt::format("eth{}", k), n.address.value_or(ipv4_prefix(ipv4_address(0, 0, 0, 0), 32)),
                           n.gateway ? n.gateway : std::optional<ipv4_address>(ipv4_address(0, 0, 0, 1))});
        }
        return out;
    }

    /// Why the lab cannot run this row's VM part, or empty: a DHCP NIC on a switch no DHCP
    /// server can serve would observe nothing about the rule its row cites.
    static std::string unexpressible(const lab_file& lf) {
        for (const auto& vm : lf.vms)
            for (const auto& nic : vm.nics) {
                const switch_config* sw = lf.find_switch(nic.switch_name);
                if (nic.ip == ip_mode::dhcp && sw &&
                    ((sw->kind == switch_kind::internal && !sw->dhcp) || sw->kind == switch_kind::private_))
                    return fmt::format("the lab has no DHCP server on {} switch {}{}", to_string(sw->kind), sw->name,
                                       sw->kind == switch_kind::internal ? " (declare one with dhcp = { range = ... })"
                                                                         : " (a private switch has no host vNIC to serve one)");
            }
        return {};
    }
};

}  // namespace detail

}  // namespace vnet::lab
