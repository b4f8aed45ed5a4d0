// vnet/lab/conformance/load.hpp - loading conformance tables: table files, rows, cells (FILE:LINE: KEY:
// MESSAGE on a bad one)
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
#include <vnet/lab/check_kinds.hpp>
#include <vnet/lab/diagnosis.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/switch/kinds.hpp>
#include <vnet/lab/conformance/generate.hpp>
#include <vnet/lab/conformance/table.hpp>

namespace vnet::lab {

namespace detail {

class table_reader : public row_generator {
public:
    explicit table_reader(std::string file) : row_generator(std::move(file)) {}

    table_spec read(toml::table& root) {
        table_spec t;
        t.file = file_;
        allow(root, "", {"table", "row"});
        toml::node* tn = root.get("table");
        if (!tn || !tn->is_table()) fail_at(tn ? tn : &root, "table", "missing [table] with name, number and title");
        toml::table& tt = *tn->as_table();
        allow(tt, "table", {"name", "number", "title", "source", "matrix"});
        t.name = str(tt, "name", "table", true);
        if (t.name.empty() || t.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
            fail_at(tt.get("name"), "table.name", "must be a-z, 0-9 and '-'");
        const toml::node* num = tt.get("number");
        if (!num || !num->is_integer() || num->as_integer()->get() < 1 || num->as_integer()->get() > 99)
            fail_at(num ? num : &tt, "table.number", "must be an integer 1-99");
        t.number = static_cast<int>(num->as_integer()->get());
        t.title = str(tt, "title", "table", true);
        if (toml::node* mn = tt.get("matrix")) t.matrix = read_matrix(mn);
        toml::node* rows = root.get("row");
        if (!rows) fail_at(&root, "row", "a table needs at least one [[row]]");
        toml::array* ra = rows->as_array();
        if (!ra || !ra->is_array_of_tables()) fail_at(rows, "row", "must be an array of tables ([[row]])");
        std::set<std::string> ids;
        for (auto& rn : *ra) {
            row_spec r = read_row(*rn.as_table(), t);
            if (!ids.insert(r.id).second) fail_line(r.line, "row.id", fmt::format("the row id '{}' is used twice", r.id));
            t.rows.push_back(std::move(r));
        }
        return t;
    }

private:
    table_matrix read_matrix(toml::node* mn) const {
        toml::table* m = mn->as_table();
        if (!m) fail_at(mn, "table.matrix", "must be { rows = ..., row_values = [...], cols = ..., col_values = [...] }");
        allow(*m, "table.matrix", {"rows", "row_values", "cols", "col_values"});
        table_matrix out;
        out.rows_name = str(*m, "rows", "table.matrix", true);
        out.cols_name = str(*m, "cols", "table.matrix", true);
        auto values = [&](std::string_view key) {
            std::vector<std::string> v;
            toml::node* n = m->get(key);
            toml::array* a = n ? n->as_array() : nullptr;
            if (!a || a->empty())
                fail_at(n ? n : mn, fmt::format("table.matrix.{}", key), "must be a non-empty array of strings");
            for (auto& e : *a) {
                if (!e.is_string()) fail_at(&e, fmt::format("table.matrix.{}", key), "must be a non-empty array of strings");
                v.push_back(e.as_string()->get());
            }
            return v;
        };
        out.rows = values("row_values");
        out.cols = values("col_values");
        return out;
    }
    // ---- one row ----
    row_spec read_row(toml::table& rt, const table_spec& t) {
        row_spec r;
        r.line = line_of(&rt);
        allow(rt, "row",
              {"id",
               "source",
               "eval",
               "note",
               "sku",
               "deploy",
               "switch_exists",
               "nat",
               "internal_dhcp",
               "adapters",
               "lan_dhcp",
               "lan_dhcp_lease",
               "host_dhcp",
               "lan_allow_macs",
               "lan_blocked_ports",
               "lan_blocked_addresses",
               "mac",
               "guest",
               "set_dns",
               "draw_seed",
               "draw_vm",
               "observe",
               "diagnose",
               "cells",
               "network",
               "switch",
               "vm",
               "peer"});
        r.id = str(rt, "id", "row", true);
        if (r.id.empty() || r.id.size() > 24 ||
            r.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
            fail_at(rt.get("id"), "row.id", fmt::format("'{}': must be 1-24 characters of a-z, 0-9, '-'", r.id));
        r.source = str(rt, "source", "row", true);
        if (r.source.empty()) fail_at(rt.get("source"), "row.source", "every row cites its source (seed file and section)");
        r.note = str(rt, "note", "row", false);
        const std::string ev = str(rt, "eval", "row", true);
        if (ev == "model") r.eval = row_eval::model;
        else if (ev == "vm") r.eval = row_eval::vm;
        else fail_at(rt.get("eval"), "row.eval", fmt::format("'{}' is not one of model | vm", ev));
        const std::string sku = str(rt, "sku", "row", false);
        if (sku == "client") r.sku = host_sku::client;
        else if (sku.empty() || sku == "server") r.sku = host_sku::server;
        else fail_at(rt.get("sku"), "row.sku", fmt::format("'{}' is not one of client | server", sku));
        if (rt.get("deploy")) r.deploy_command = str(rt, "deploy", "row", true);
        if (rt.get("set_dns")) r.set_dns_command = str(rt, "set_dns", "row", true);
        if (const toml::node* s = rt.get("draw_seed")) {
            if (!s->is_integer() || s->as_integer()->get() < 0) fail_at(s, "row.draw_seed", "must be a non-negative integer");
            r.draw_seed = static_cast<std::uint64_t>(s->as_integer()->get());
        }
        if (rt.get("draw_vm")) r.draw_vm = str(rt, "draw_vm", "row", true);
        if (rt.get("diagnose")) r.diagnose_vm = str(rt, "diagnose", "row", true);
        if (const toml::node* o = rt.get("observe")) {
            if (!o->is_table()) fail_at(o, "row.observe", "must be a table of observations");
            r.given = read_observations(*o->as_table());
        }
        read_cells(rt, r);
        generate(rt, r, t);
        return r;
    }

    observations read_observations(const toml::table& ot) const {
        allow(
            ot, "row.observe",
            {"switch", "ip", "has_address", "address_matches", "address_free", "gateway_reachable", "default_route_primary",
             "internet_reachable", "dns_configured", "name_resolves", "dns_server_reachable", "dns_server", "outbound_blocked"});
        observations o;
        const std::string sw = str(ot, "switch", "row.observe", false);
        if (sw == "internal") o.sw = eflow::switch_type::internal;
        else if (sw == "default") o.sw = eflow::switch_type::default_switch;
        else if (sw.empty() || sw == "external") o.sw = eflow::switch_type::external;
        else fail_at(ot.get("switch"), "row.observe.switch", "must be external | internal | default");
        const std::string ip = str(ot, "ip", "row.observe", false);
        if (ip == "static") o.mode = eflow::ip_mode::static_ip;
        else if (ip.empty() || ip == "dhcp") o.mode = eflow::ip_mode::dhcp;
        else fail_at(ot.get("ip"), "row.observe.ip", "must be static | dhcp");
        auto f = [&](std::string_view key, std::optional<fact>& out) {
            const toml::node* n = ot.get(key);
            if (!n) return;
            if (!n->is_boolean()) fail_at(n, fmt::format("row.observe.{}", key), "must be true or false");
            out = fact{n->as_boolean()->get(), fact_source::model, "given"};
        };
        f("has_address", o.has_address);
        f("address_matches", o.address_matches);
        f("address_free", o.address_free);
        f("gateway_reachable", o.gateway_reachable);
        f("default_route_primary", o.default_route_primary);
        f("internet_reachable", o.internet_reachable);
        f("dns_configured", o.dns_configured);
        f("name_resolves", o.name_resolves);
        f("dns_server_reachable", o.dns_server_reachable);
        if (const toml::node* n = ot.get("dns_server")) {
            auto a = n->is_string() ? ipv4_address::parse(n->as_string()->get()) : ipv4_address::parse("");
            if (!a) fail_at(n, "row.observe.dns_server", "must be an IPv4 address");
            o.dns_server = *a;
        }
        std::set<std::int64_t> blocked;
        if (const toml::node* n = ot.get("outbound_blocked")) {
            const toml::array* a = n->as_array();
            if (!a) fail_at(n, "row.observe.outbound_blocked", "must be an array of ports");
            for (auto& e : *a) {
                if (!e.is_integer()) fail_at(&e, "row.observe.outbound_blocked", "must be an array of ports");
                blocked.insert(e.as_integer()->get());
            }
        }
        for (auto p : cloud_ports) o.outbound.emplace_back(p, fact{blocked.count(p) == 0, fact_source::model, "given"});
        return o;
    }

    void read_cells(const toml::table& rt, row_spec& r) const {
        const toml::node* cn = rt.get("cells");
        if (!cn) fail_at(&rt, "row.cells", "a row needs cells = [ { kind = ..., expect = ... }, ... ]");
        const toml::array* ca = cn->as_array();
        if (!ca || ca->empty()) fail_at(cn, "row.cells", "must be a non-empty array of inline tables");
        for (const auto& e : *ca) {
            const toml::table* ct = e.as_table();
            if (!ct) fail_at(&e, "row.cells", "each cell is an inline table { kind = ..., expect = ... }");
            allow(*ct, "row.cells", {"kind", "expect", "from", "to", "port", "name", "op", "direction", "boots", "listen"});
            cell_spec c;
            c.line = line_of(ct);
            if (!c.line) c.line = line_of(&e);
            const std::string kind = str(*ct, "kind", "row.cells", true);
            static constexpr cell_kind all[] = {cell_kind::ping,
                                                cell_kind::tcp,
                                                cell_kind::dns,
                                                cell_kind::dhcp,
                                                cell_kind::route,
                                                cell_kind::deploy,
                                                cell_kind::support,
                                                cell_kind::ip_support,
                                                cell_kind::default_route,
                                                cell_kind::dns_servers,
                                                cell_kind::port_policy,
                                                cell_kind::diagnosis,
                                                cell_kind::remedy,
                                                cell_kind::switch_op,
                                                cell_kind::mac_after_reboot,
                                                cell_kind::address_after_reboot,
                                                cell_kind::flooding,
                                                cell_kind::metrics,
                                                cell_kind::link_local,
                                                cell_kind::address_after_lease_loss};
            bool known = false;
            std::vector<std::string_view> names;
            for (auto k : all) {
                names.push_back(to_string(k));
                if (to_string(k) == kind) {
                    c.kind = k;
                    known = true;
                }
            }
            if (!known)
                fail_at(ct->get("kind"), "row.cells.kind", fmt::format("'{}' is not one of {}", kind, fmt::join(names, " | ")));
            if (!ct->get("expect")) fail_at(ct, "row.cells.expect", "missing: every cell states what it expects");
            c.expect = str(*ct, "expect", "row.cells", true);
            if (ct->get("from")) c.from = str(*ct, "from", "row.cells", true);
            c.to = str(*ct, "to", "row.cells", false);
            c.name = str(*ct, "name", "row.cells", false);
            c.op = str(*ct, "op", "row.cells", false);
            c.direction = str(*ct, "direction", "row.cells", false);
            if (const toml::node* l = ct->get("listen")) {
                if (!l->is_boolean() || c.kind != cell_kind::tcp) fail_at(l, "row.cells.listen", "true or false, tcp cells only");
                c.listen = l->as_boolean()->get();
            }
            if (const toml::node* p = ct->get("port")) {
                if (!p->is_integer() || p->as_integer()->get() < 1 || p->as_integer()->get() > 65535)
                    fail_at(p, "row.cells.port", "must be an integer 1-65535");
                c.port = static_cast<std::uint16_t>(p->as_integer()->get());
            }
            if (const toml::node* b = ct->get("boots")) {
                if (!b->is_integer() || b->as_integer()->get() < 1 || b->as_integer()->get() > 1000)
                    fail_at(b, "row.cells.boots", "must be an integer 1-1000");
                c.boots = static_cast<std::uint32_t>(b->as_integer()->get());
            }
            validate_cell(c, r);
            r.cells.push_back(std::move(c));
        }
    }

    void validate_cell(cell_spec& c, const row_spec& r) const {
        auto need = [&](bool ok, const char* key, const char* why) {
            if (!ok) fail_line(c.line, fmt::format("row.cells.{}", key), why);
        };
        if (is_vm_kind(c.kind)) {
            if (r.eval == row_eval::model)
                fail_line(c.line, "row.cells.kind",
                          fmt::format("a {} cell needs a VM: this row has eval = \"model\"", to_string(c.kind)));
            if (!is_text_vm_kind(c.kind)) need(c.expect == "ok" || c.expect == "fail", "expect", "must be \"ok\" or \"fail\"");
        }
        switch (c.kind) {
            case cell_kind::tcp: need(c.port.has_value(), "port", "a tcp cell needs a port"); break;
            case cell_kind::ping: need(!c.to.empty(), "to", "a ping cell needs a target"); break;
            case cell_kind::dns: need(!c.name.empty(), "name", "a dns cell needs a name"); break;
            case cell_kind::deploy:
            case cell_kind::support:
            case cell_kind::ip_support:
            case cell_kind::dns_servers:
                need(r.deploy_command.has_value(), "kind", "this cell needs the row's deploy command");
                break;
            case cell_kind::port_policy:
                need(c.port.has_value(), "port", "a port_policy cell needs a port");
                need(c.direction == "inbound" || c.direction == "outbound", "direction", "must be inbound | outbound");
                break;
            case cell_kind::switch_op: need(!c.op.empty(), "op", "a switch_op cell needs op = \"...\""); break;
            case cell_kind::flooding: need(!c.to.empty(), "to", "a flooding cell needs a destination VM"); break;
            case cell_kind::address_after_lease_loss:
                need(!c.to.empty(), "to", "an address_after_lease_loss cell needs the peer that takes the address");
                break;
            case cell_kind::diagnosis:
            case cell_kind::remedy:
                need(r.given.has_value() || r.diagnose_vm.has_value(), "kind",
                     "a diagnosis needs row.observe (model) or row.diagnose = \"VM\" (vm)");
                break;
            default: break;
        }
        c.label = cell_label(c);
    }

    static std::string cell_label(const cell_spec& c) {
        switch (c.kind) {
            case cell_kind::ping: return fmt::format("ping {} -> {}", c.from, c.to);
            case cell_kind::tcp: return fmt::format("tcp {} -> {}:{}", c.from, c.to.empty() ? "internet" : c.to, *c.port);
            case cell_kind::dns: return fmt::format("dns {} {}", c.from, c.name);
            case cell_kind::dhcp: return fmt::format("dhcp {} {}", c.from, c.to.empty() ? "eth0" : c.to);
            case cell_kind::link_local:
                if (!c.to.empty()) return fmt::format("link-local address of {} {}", c.from, c.to);
                return c.from == "host" ? std::string("link-local address of host")
                                        : fmt::format("link-local address of {} eth0", c.from);
            case cell_kind::route:
                return fmt::format("route {} -> {}{}", c.from, c.to.empty() ? "internet" : c.to,
                                   c.name.empty() ? "" : fmt::format(" via {}", c.name));
            case cell_kind::default_route: return fmt::format("default route over {} boot{}", c.boots, c.boots == 1 ? "" : "s");
            case cell_kind::metrics: return fmt::format("route metrics of {} over {} boots", c.from, metrics_boots);
            case cell_kind::address_after_lease_loss:
                return fmt::format("{} eth0 after its lease ran out and {} took the address", c.from, c.to);
            case cell_kind::port_policy: return fmt::format("guide: {} {}", c.direction, *c.port);
            case cell_kind::switch_op: return fmt::format("switch: {}", c.op);
            default: return std::string(to_string(c.kind));
        }
    }
};

}  // namespace detail

/// Parses a table from TOML text (file: the name used in messages).
inline expected<table_spec, lab_error> parse_table(std::string_view text, const std::string& file) {
    try {
        toml::table root = toml::parse(text, file);
        return detail::table_reader(file).read(root);
    } catch (const toml::parse_error& e) {
        return unexpected(lab_error{file, static_cast<std::uint32_t>(e.source().begin.line), "", std::string(e.description())});
    } catch (const lab_error& e) {
        return unexpected(e);
    }
}

inline expected<table_spec, lab_error> load_table(const std::string& path) {
    try {
        toml::table root = toml::parse_file(path);
        return detail::table_reader(path).read(root);
    } catch (const toml::parse_error& e) {
        return unexpected(lab_error{path, static_cast<std::uint32_t>(e.source().begin.line), "", std::string(e.description())});
    } catch (const lab_error& e) {
        return unexpected(e);
    }
}

/// Every *.toml of a folder, ordered by table number; names and numbers unique.
inline expected<std::vector<table_spec>, lab_error> load_tables(const std::string& dir) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.path().extension() == ".toml") files.push_back(e.path().string());
    if (ec) return unexpected(lab_error{dir, 0, "", ec.message()});
    std::sort(files.begin(), files.end());
    std::vector<table_spec> out;
    for (const auto& f : files) {
        auto t = load_table(f);
        if (!t) return unexpected(t.error());
        for (const auto& o : out)
            if (o.name == t->name || o.number == t->number)
                return unexpected(lab_error{f, 0, "table", fmt::format("table name or number also used by {}", o.file)});
        out.push_back(std::move(*t));
    }
    if (out.empty()) return unexpected(lab_error{dir, 0, "", "no *.toml table in this folder"});
    std::sort(out.begin(), out.end(), [](const table_spec& a, const table_spec& b) { return a.number < b.number; });
    return out;
}

}  // namespace vnet::lab
