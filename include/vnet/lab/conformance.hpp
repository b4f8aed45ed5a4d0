// vnet/lab/conformance.hpp - the conformance tables (fixtures/conformance/*.toml): the
// table model and its loader, the generation of a lab file per row, the evaluation of
// rows (on VMs through a lab_executor, or by the model), the results, the reports
// (text, Markdown, JUnit XML) and sharding.
//
// A table file:
//   [table]
//   name = "switch-sku"              # --table NAME
//   number = 1
//   title = "Switch type x host SKU"
//   [[row]]
//   id = "internal-client"           # a-z 0-9 '-', at most 24 characters, unique in the table
//   source = "seed 000 ... \"Virtual switch choices\""   # required: where the rule comes from
//   eval = "model"                   # model: every cell evaluated in process, no VM
//                                    # vm: the row's generated lab runs on VMs
//   note = "..."                     # optional: how a cell is observed
//   sku = "client"                   # the emulated Windows host (default server)
//   deploy = 'Deploy-Eflow -vSwitchName ... '   # the VM "eflow" as Deploy-Eflow makes it
//   cells = [ { kind = "deploy", expect = "Error: ..." }, { kind = "ping", to = "gateway", expect = "ok" } ]
//   [[row.vm]] / [[row.vm.nic]] / [[row.switch]] / [[row.network]] / [[row.peer]]   # lab-file fragments
// Row keys (all optional unless said): see row_keys below; cell kinds: cell_kind.
//
// Every row is generated into a lab_file at load time: the standard EFLOW topology (a LAN
// 192.168.0.0/24 with its router .1 that routes and NATs to the internet server
// 198.51.100.10, answers DNS for iothub.example, serves DHCP .100-.199 unless
// lan_dhcp = false; the host at .10 on it), the switch and VM "eflow" that the deploy
// command's validated plan describes, the row's fragments, and one [[check]] per VM cell.
// The whole is read by the lab-file reader, so a bad row is reported as FILE:LINE: KEY:
// MESSAGE like a bad lab file.
//
// Honesty rules: a cell is "evaluated by the model" or "observed on a VM", never both; a
// cell no executor can observe is "missing" (a failure), never a pass.
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

namespace vnet::lab {

// ======================================================================================
// The table model
// ======================================================================================

/// How a row is evaluated.
enum class row_eval : std::uint8_t { model, vm };

/// What a cell checks. VM kinds become a [[check]] of the row's lab; the others are
/// evaluated by the model.
enum class cell_kind : std::uint8_t {
    // observed on a VM (the lab file's check kinds)
    ping, tcp, dns, dhcp, route,
    // evaluated by the model (or, for deploy on a DHCP VM row, derived from the VM's lease)
    deploy,          // Deploy-Eflow validation: "ok" or the exact message
    support,         // the switch type on the host SKU (support matrix): ok | fail
    ip_support,      // the IP allocation on the switch type (support matrix): ok | fail
    default_route,   // which NIC the default route leaves by: eth0 | eth1 | varies
    dns_servers,     // the VM's DNS servers after deploy (and set_dns): "a b" | none
    port_policy,     // the guide's firewall rule for a port and direction
    diagnosis,       // the first failing component of the troubleshooting order
    remedy,          // the guide's remedy text for it
    switch_op,       // Hyper-V switch operations on the switch registry: ok | the error
    // observed on a VM, compared as text (lab check kinds "reboot" and "flooding")
    mac_after_reboot,  // the MAC of eth0 after the VM rebooted (when it kept the one before)
    flooding,          // from -> to: "first frame flooded|to one port, later frames flooded|to one port"
};

constexpr std::string_view to_string(cell_kind k) noexcept {
    switch (k) {
        case cell_kind::ping: return "ping";
        case cell_kind::tcp: return "tcp";
        case cell_kind::dns: return "dns";
        case cell_kind::dhcp: return "dhcp";
        case cell_kind::route: return "route";
        case cell_kind::deploy: return "deploy";
        case cell_kind::support: return "support";
        case cell_kind::ip_support: return "ip_support";
        case cell_kind::default_route: return "default_route";
        case cell_kind::dns_servers: return "dns_servers";
        case cell_kind::port_policy: return "port_policy";
        case cell_kind::diagnosis: return "diagnosis";
        case cell_kind::remedy: return "remedy";
        case cell_kind::switch_op: return "switch_op";
        case cell_kind::mac_after_reboot: return "mac_after_reboot";
        case cell_kind::flooding: return "flooding";
    }
    return "?";
}

constexpr bool is_vm_kind(cell_kind k) noexcept {
    return k == cell_kind::ping || k == cell_kind::tcp || k == cell_kind::dns || k == cell_kind::dhcp ||
           k == cell_kind::route || k == cell_kind::mac_after_reboot || k == cell_kind::flooding;
}
/// VM kinds whose expect is a text of their own rather than "ok" | "fail".
constexpr bool is_text_vm_kind(cell_kind k) noexcept {
    return k == cell_kind::mac_after_reboot || k == cell_kind::flooding;
}

struct cell_spec {
    cell_kind kind = cell_kind::deploy;
    std::string expect;
    std::string label;             // what the cell is, in one phrase (for reports)
    std::uint32_t line = 0;
    // VM kinds
    std::string from = "eflow";
    std::string to;
    std::optional<std::uint16_t> port;
    std::string name;
    // model kinds
    std::string op;                // switch_op script
    std::string direction;         // port_policy: inbound | outbound
    std::uint32_t boots = 1;       // default_route: boots to look at
    std::optional<std::size_t> check_index;  // vm kinds: index into the row's lab.checks
};

/// A diagnosis row's given observations (eval = "model").
struct given_observations {
    observations obs;
};

struct row_spec {
    std::string id;
    std::string source;
    std::string note;
    row_eval eval = row_eval::model;
    std::uint32_t line = 0;
    host_sku sku = host_sku::server;
    std::optional<std::string> deploy_command;
    std::optional<std::string> set_dns_command;
    std::optional<std::uint64_t> draw_seed;
    std::string draw_vm = "eflow";
    std::optional<observations> given;  // diagnosis on given observations
    std::optional<std::string> diagnose_vm;
    std::vector<cell_spec> cells;

    // ---- generated at load time ----
    lab_file lab;                                       // the row's lab (checks = its VM cells, then helpers)
    std::optional<eflow::deploy_result> deploy;         // the validated deploy command
    std::optional<std::size_t> lease_check;             // DHCP deploy: the lease check deciding the deploy cell
    std::optional<eflow::deploy_options> deploy_options;  // the parsed deploy command and the host it ran on,
    std::optional<eflow::host_state> deploy_host;          // for validating again with the lab's probe answers
    std::vector<std::pair<ipv4_address, std::size_t>> probe_checks;  // eval = "vm": the ARP probe check per address
    std::optional<diagnostic_plan> diag_plan;           // diagnose_vm: the guide's checks
    std::size_t diag_first_check = 0;                   // their first index in lab.checks
    std::string missing_reason;                         // non-empty: the lab cannot express this row's VM part

    bool deployed() const noexcept { return !deploy || deploy->report.ok(); }
    /// A lab runs for the row: its VM cells, or the ARP probes of a deploy that the model refused.
    bool needs_vm() const noexcept {
        return eval == row_eval::vm && (deployed() || !probe_checks.empty()) && missing_reason.empty() && !lab.checks.empty();
    }
};

/// A table that is a matrix in its source document (switch type x host SKU, ...): the
/// row "<r>-<c>" is the cell at row value r and column value c ([table] matrix = { rows =
/// "switch type", row_values = [...], cols = "host SKU", col_values = [...] }).
struct table_matrix {
    std::string rows_name;
    std::vector<std::string> rows;
    std::string cols_name;
    std::vector<std::string> cols;
};

struct table_spec {
    std::string file;
    std::string name;
    int number = 0;
    std::string title;
    std::optional<table_matrix> matrix;
    std::vector<row_spec> rows;

    std::size_t vm_rows() const noexcept {
        return static_cast<std::size_t>(std::count_if(rows.begin(), rows.end(), [](const row_spec& r) { return r.eval == row_eval::vm; }));
    }
};

// ======================================================================================
// The executor: what runs a lab on VMs
// ======================================================================================

/// The outcome of one [[check]] of a lab.
struct check_outcome {
    std::string observed;      // "ok" | "fail" | "error" (not carried out: nothing observed), or a text kind's text
    std::string detail;        // the evidence, or why nothing was observed
    bool implemented = true;   // false: this executor cannot run the check's kind
    bool in_guest = false;     // observed inside a guest (else on the lab's host, network or switch)
};

/// A whole lab run: one outcome per [[check]], in order, or why the lab did not run.
struct execution {
    std::vector<check_outcome> checks;
    std::string error;
};

struct exec_options {
    std::string report_dir;                 // per-row logs and captures, empty: none
    std::chrono::seconds timeout{600};
    std::function<bool()> should_stop;
};

/// Builds a lab, boots its VMs, runs its checks, removes it. Must be safe to call from
/// several threads at once (rows run in parallel).
struct lab_executor {
    virtual ~lab_executor() = default;
    virtual execution run(const lab_file& lab, const exec_options& opt) = 0;
};

// ======================================================================================
// Results
// ======================================================================================

/// Where a cell's value came from.
enum class cell_origin : std::uint8_t {
    model,  // computed by vnet's models of EFLOW and Hyper-V (no lab)
    guest,  // observed inside a guest: a command run by its agent, what it printed
    lab,    // observed on the lab's host, networks or switch: probes, counters, captures
    none,   // not observed (missing, error)
};
enum class cell_status : std::uint8_t { pass, mismatch, missing, error };

constexpr std::string_view to_string(cell_origin o) noexcept {
    switch (o) {
        case cell_origin::model: return "evaluated by the model";
        case cell_origin::guest: return "observed in a guest";
        case cell_origin::lab: return "observed on the lab network";
        case cell_origin::none: return "not observed";
    }
    return "?";
}
constexpr std::string_view short_origin(cell_origin o) noexcept {
    switch (o) {
        case cell_origin::model: return "model";
        case cell_origin::guest: return "guest";
        case cell_origin::lab: return "lab";
        case cell_origin::none: return "-";
    }
    return "?";
}
constexpr std::string_view to_string(cell_status s) noexcept {
    switch (s) {
        case cell_status::pass: return "PASS";
        case cell_status::mismatch: return "FAIL";
        case cell_status::missing: return "MISSING";
        case cell_status::error: return "ERROR";
    }
    return "?";
}

struct cell_result {
    std::string label;
    std::string expected;
    std::string observed;
    std::string detail;
    cell_origin origin = cell_origin::none;
    cell_status status = cell_status::missing;
    std::uint32_t line = 0;
};

struct row_result {
    std::string id;
    std::string source;
    std::string note;
    row_eval eval = row_eval::model;
    std::uint32_t line = 0;
    std::vector<cell_result> cells;
    double seconds = 0;

    bool passed() const noexcept {
        return std::all_of(cells.begin(), cells.end(), [](const cell_result& c) { return c.status == cell_status::pass; });
    }
};

struct table_result {
    std::string name;
    std::string title;
    std::string file;
    int number = 0;
    std::vector<row_result> rows;
    std::optional<table_matrix> matrix;
};

struct cell_counts {
    std::size_t pass = 0, mismatch = 0, missing = 0, error = 0;
    std::size_t total() const noexcept { return pass + mismatch + missing + error; }
};

inline cell_counts count_cells(const std::vector<table_result>& tables) {
    cell_counts n;
    for (const auto& t : tables)
        for (const auto& r : t.rows)
            for (const auto& c : r.cells) {
                switch (c.status) {
                    case cell_status::pass: ++n.pass; break;
                    case cell_status::mismatch: ++n.mismatch; break;
                    case cell_status::missing: ++n.missing; break;
                    case cell_status::error: ++n.error; break;
                }
            }
    return n;
}

/// 0 when every cell passed, 1 on any mismatch, missing cell or error (DESIGN.md "CLI").
inline int exit_status(const std::vector<table_result>& tables) {
    auto n = count_cells(tables);
    return n.mismatch + n.missing + n.error == 0 ? 0 : 1;
}

// ======================================================================================
// Loading
// ======================================================================================

namespace detail {

using lab_failure = lab_error;  // thrown inside the loader, returned at its boundary

[[noreturn]] inline void conf_fail(const std::string& file, std::uint32_t line, std::string key, std::string msg) {
    throw lab_failure{file, line, std::move(key), std::move(msg)};
}

inline std::uint32_t line_of(const toml::node* n) { return n ? n->source().begin.line : 0; }

class table_reader {
public:
    explicit table_reader(std::string file) : file_(std::move(file)) {}

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
            if (!a || a->empty()) fail_at(n ? n : mn, fmt::format("table.matrix.{}", key), "must be a non-empty array of strings");
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

    // ---- one row ----
    row_spec read_row(toml::table& rt, const table_spec& t) {
        row_spec r;
        r.line = line_of(&rt);
        allow(rt, "row",
              {"id", "source", "eval", "note", "sku", "deploy", "switch_exists", "nat", "internal_dhcp", "adapters",
               "lan_dhcp", "lan_allow_macs", "lan_blocked_ports", "mac", "set_dns", "draw_seed", "draw_vm", "observe", "diagnose", "cells",
               "network", "switch", "vm", "peer"});
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
        allow(ot, "row.observe",
              {"switch", "ip", "has_address", "address_free", "gateway_reachable", "default_route_primary",
               "internet_reachable", "dns_configured", "name_resolves", "dns_server_reachable", "dns_server",
               "outbound_blocked"});
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
            allow(*ct, "row.cells", {"kind", "expect", "from", "to", "port", "name", "op", "direction", "boots"});
            cell_spec c;
            c.line = line_of(ct);
            if (!c.line) c.line = line_of(&e);
            const std::string kind = str(*ct, "kind", "row.cells", true);
            static constexpr cell_kind all[] = {
                cell_kind::ping, cell_kind::tcp, cell_kind::dns, cell_kind::dhcp, cell_kind::route,
                cell_kind::deploy, cell_kind::support, cell_kind::ip_support, cell_kind::default_route,
                cell_kind::dns_servers, cell_kind::port_policy, cell_kind::diagnosis, cell_kind::remedy,
                cell_kind::switch_op, cell_kind::mac_after_reboot, cell_kind::flooding};
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
            case cell_kind::route:
                return fmt::format("route {} -> {}{}", c.from, c.to.empty() ? "internet" : c.to,
                                   c.name.empty() ? "" : fmt::format(" via {}", c.name));
            case cell_kind::default_route: return fmt::format("default route over {} boot{}", c.boots, c.boots == 1 ? "" : "s");
            case cell_kind::port_policy: return fmt::format("guide: {} {}", c.direction, *c.port);
            case cell_kind::switch_op: return fmt::format("switch: {}", c.op);
            default: return std::string(to_string(c.kind));
        }
    }

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
        root.insert("host", toml::table{{"network", "lan"}, {"address", "192.168.0.10/24"}, {"gateway", "192.168.0.1"}});
        toml::table lan{{"name", "lan"},
                        {"subnet", "192.168.0.0/24"},
                        {"gateway", "192.168.0.1"},
                        {"dns", toml::table{{"iothub.example", s(internet_address)}}}};
        if (opt_bool(rt, "lan_dhcp").value_or(true)) {
            toml::table dhcp{{"range", "192.168.0.100-192.168.0.199"}, {"dns", toml::array{"192.168.0.1"}}};
            if (rt.get("lan_allow_macs")) dhcp.insert("allow_macs", str_array(str_list(rt, "lan_allow_macs")));
            lan.insert("dhcp", std::move(dhcp));
        } else if (rt.get("lan_allow_macs")) {
            fail_at(rt.get("lan_allow_macs"), "row.lan_allow_macs", "needs the LAN's DHCP server (lan_dhcp = true)");
        }
        // The LAN's firewall: its router drops outbound TCP to these ports (lab key
        // network.blocked_tcp_ports; the lab file reader checks the values).
        if (toml::node* b = rt.get("lan_blocked_ports")) {
            if (!b->is_array()) fail_at(b, "row.lan_blocked_ports", "must be an array of TCP ports");
            lan.insert("blocked_tcp_ports", *b->as_array());
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
        if (r.eval == row_eval::vm && r.deploy && r.deploy->plan && !r.deploy->plan->static_ip &&
            std::any_of(r.cells.begin(), r.cells.end(), [](const cell_spec& c) { return c.kind == cell_kind::deploy; })) {
            r.lease_check = next++;
            checks.push_back(toml::table{{"kind", "dhcp"}, {"from", "eflow"}, {"to", "eth0"}, {"expect", "ok"}});
        }
        // A VM row's static address and gateway are probed on the lab network (ARP, from
        // the host, before the VM boots); the deploy cell is validated again with what
        // the probes observed (EFLOW-FACTS.md [AD]: "in use", "not reachable").
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
        r.missing_reason = unexpressible(r.lab);
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
                    // vNIC's prefix, router and DNS the host vNIC (seed 001 "Check IP addresses").
                    if (vnic.length() > 24)
                        fail_at(rt.get("internal_dhcp"), "row.internal_dhcp", fmt::format("needs a /24 or larger host vNIC prefix, not {}", vnic));
                    const auto base = vnic.network().to_u32();
                    sw.insert("dhcp", toml::table{{"range", fmt::format("{}-{}", ipv4_address(base + 100),
                                                                         ipv4_address(base + 199))},
                                                  {"dns", toml::array{s(vnic.address())}}});
                }
                break;
            }
            case eflow::switch_type::default_switch: sw.insert("kind", "default"); break;
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
        nic.insert("mac", rt.get("mac") ? str(rt, "mac", "row", true) : std::string("00:15:5d:00:00:10"));
        vms.push_back(toml::table{{"name", "eflow"}, {"nic", toml::array{std::move(nic)}}});
    }

    /// A cell's [[check]], with its symbolic target resolved.
    toml::table check_table(const cell_spec& c, const toml::table& root) const {
        const std::string_view kind = c.kind == cell_kind::mac_after_reboot ? "reboot" : to_string(c.kind);
        toml::table ct{{"kind", std::string(kind)}, {"from", c.from}, {"expect", c.expect}};
        std::string to = c.to;
        if (to.empty() && (c.kind == cell_kind::tcp || c.kind == cell_kind::route)) to = "internet";
        if (to == "internet") to = s(internet_address);
        else if (to == "gateway" || to == "dns-server") to = symbolic(c, to, root);
        if (!to.empty()) ct.insert("to", to);
        if (c.port) ct.insert("port", static_cast<std::int64_t>(*c.port));
        if (!c.name.empty()) ct.insert("name", c.name);
        return ct;
    }

    /// "gateway" / "dns-server" of the cell's `from` VM, eth0, from the generated tables.
    std::string symbolic(const cell_spec& c, const std::string& what, const toml::table& root) const {
        const toml::table* nic = nullptr;
        if (const toml::node* vms = root.get("vm"))
            for (const auto& v : *vms->as_array())
                if (const toml::table* vt = v.as_table(); vt && vt->get("name") && vt->get("name")->is_string() &&
                                                          vt->get("name")->as_string()->get() == c.from)
                    if (const toml::node* nics = vt->get("nic"); nics && nics->as_array() && !nics->as_array()->empty())
                        nic = (*nics->as_array())[0].as_table();
        if (!nic) fail_line(c.line, "row.cells.to", fmt::format("'{}' needs a VM '{}' with a NIC", what, c.from));
        auto text = [&](const toml::table& t, std::string_view k) -> std::string {
            const toml::node* n = t.get(k);
            return n && n->is_string() ? std::string(n->as_string()->get()) : std::string();
        };
        if (what == "dns-server") {
            if (const toml::node* d = nic->get("dns"); d && d->as_array() && !d->as_array()->empty() &&
                                                        (*d->as_array())[0].is_string())
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
        fail_line(c.line, "row.cells.to",
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

    /// Why the lab cannot run this row's VM part, or empty.
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

private:
    std::string file_;
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

// ======================================================================================
// Selection and sharding
// ======================================================================================

struct shard {
    unsigned index = 1;  // 1-based
    unsigned count = 1;
};

/// "I/N" with 1 <= I <= N.
inline expected<shard, std::string> parse_shard(std::string_view s) {
    auto slash = s.find('/');
    auto num = [](std::string_view d) -> std::optional<unsigned> {
        if (d.empty() || d.size() > 4 || d.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
        unsigned v = 0;
        for (char c : d) v = v * 10 + static_cast<unsigned>(c - '0');
        return v;
    };
    if (slash == std::string_view::npos) return unexpected(fmt::format("'{}': expected I/N, like 1/4", s));
    auto i = num(s.substr(0, slash));
    auto n = num(s.substr(slash + 1));
    if (!i || !n || *n == 0 || *i == 0 || *i > *n) return unexpected(fmt::format("'{}': expected I/N with 1 <= I <= N", s));
    return shard{*i, *n};
}

struct row_ref {
    std::size_t table = 0;  // index into the tables
    std::size_t row = 0;    // index into its rows
    friend bool operator==(const row_ref&, const row_ref&) = default;
};

/// The rows of shard i of n: rows are numbered across the tables in order (tables by
/// number, rows in file order) and row k goes to shard (k mod n) + 1. Deterministic;
/// every row is in exactly one shard; VM rows spread evenly when tables alternate.
/// `table_name`: only that table (empty: all).
inline std::vector<row_ref> select_rows(const std::vector<table_spec>& tables, shard sh = {}, std::string_view table_name = {}) {
    std::vector<row_ref> out;
    std::size_t k = 0;
    for (std::size_t t = 0; t < tables.size(); ++t) {
        if (!table_name.empty() && tables[t].name != table_name) continue;
        for (std::size_t r = 0; r < tables[t].rows.size(); ++r, ++k)
            if (k % sh.count == sh.index - 1) out.push_back({t, r});
    }
    return out;
}

// ======================================================================================
// Evaluation
// ======================================================================================

namespace detail {

/// Runs a switch_op script on a fresh registry with adapters "Ethernet" and "Ethernet2".
/// Steps separated by ';': create NAME KIND [ADAPTER] | remove NAME | set-adapter NAME
/// ADAPTER | set-kind NAME KIND | vnic NAME. Names with blanks in double quotes. The
/// result: "ok", the first error, or the last vnic step's answer.
inline std::string run_switch_ops(std::string_view script) {
    sw::switch_registry reg;
    (void)reg.add_adapter({"Ethernet", mac_address{}, std::nullopt, std::nullopt});
    (void)reg.add_adapter({"Ethernet2", mac_address{}, std::nullopt, std::nullopt});
    auto kind_of = [](std::string_view k) -> std::optional<sw::switch_kind> {
        if (k == "external") return sw::switch_kind::external;
        if (k == "internal") return sw::switch_kind::internal;
        if (k == "private") return sw::switch_kind::private_;
        if (k == "default") return sw::switch_kind::default_switch;
        return std::nullopt;
    };
    std::string answer = "ok";
    std::size_t pos = 0;
    while (pos <= script.size()) {
        auto end = script.find(';', pos);
        std::string_view step = script.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? script.size() + 1 : end + 1;
        std::vector<std::string> w;
        for (std::size_t i = 0; i < step.size();) {
            if (step[i] == ' ') {
                ++i;
                continue;
            }
            if (step[i] == '"') {
                auto q = step.find('"', i + 1);
                if (q == std::string_view::npos) return fmt::format("bad step '{}': unclosed quote", step);
                w.emplace_back(step.substr(i + 1, q - i - 1));
                i = q + 1;
            } else {
                auto e = step.find(' ', i);
                w.emplace_back(step.substr(i, e == std::string_view::npos ? std::string_view::npos : e - i));
                i = e == std::string_view::npos ? step.size() : e;
            }
        }
        if (w.empty()) continue;
        result<void> r{};
        if (w[0] == "create" && (w.size() == 3 || w.size() == 4) && kind_of(w[2])) {
            sw::switch_spec spec{w[1], *kind_of(w[2]), w.size() == 4 ? w[3] : std::string(), false};
            r = reg.create(spec);
        } else if (w[0] == "remove" && w.size() == 2) {
            r = reg.remove(w[1]);
        } else if (w[0] == "set-adapter" && w.size() == 3) {
            r = reg.set_adapter(w[1], w[2], false);
        } else if (w[0] == "set-kind" && w.size() == 3 && kind_of(w[2])) {
            r = reg.set_kind(w[1], *kind_of(w[2]));
        } else if (w[0] == "vnic" && w.size() == 2) {
            const auto* v = reg.vnic(w[1]);
            answer = v ? v->name : "none";
            continue;
        } else {
            return fmt::format("bad step '{}'", step);
        }
        if (!r) return r.error().message();
        answer = "ok";
    }
    return answer;
}

inline std::string join_addresses(const std::vector<ipv4_address>& v) {
    if (v.empty()) return "none";
    return fmt::format("{}", fmt::join(v, " "));
}

}  // namespace detail

/// The row's diagnosis: from given observations (model) or from its executed checks.
inline diagnosis row_diagnosis(const row_spec& r, const execution* ex) {
    if (r.given) return diagnose(*r.given);
    std::vector<observed_check> oc;
    for (std::size_t i = 0; i < r.diag_plan->checks.size(); ++i) {
        std::size_t k = r.diag_first_check + i;
        if (ex && k < ex->checks.size() && ex->checks[k].implemented && ex->checks[k].observed != "error")
            oc.push_back({true, ex->checks[k].observed == "ok", ex->checks[k].detail});
        else
            oc.push_back({});
    }
    return diagnose(observe(*r.diag_plan, oc));
}

/// The deploy cell of a row whose address and gateway were ARP-probed on its lab: the
/// deploy command validated again, the probe answers being what the lab observed.
inline void deploy_on_lab(const row_spec& r, const std::optional<execution>& ex, cell_result& c) {
    if (!ex || !ex->error.empty()) {
        c.status = cell_status::error;
        c.observed = "error";
        c.detail = ex ? ex->error : "not run";
        return;
    }
    std::string probes;
    for (const auto& [a, idx] : r.probe_checks) {
        if (idx >= ex->checks.size() || !ex->checks[idx].implemented) {
            c.status = cell_status::missing;
            c.detail = fmt::format("the lab returned no ARP probe outcome for {}", a);
            return;
        }
        if (ex->checks[idx].observed == "error") {
            c.status = cell_status::error;
            c.observed = "error";
            c.detail = fmt::format("the ARP probe for {} could not be carried out: {}", a, ex->checks[idx].detail);
            return;
        }
        probes += fmt::format("{}{}", probes.empty() ? "" : "; ", ex->checks[idx].detail);
    }
    eflow::network_probe probe{[&](ipv4_address a) {
        for (const auto& [pa, idx] : r.probe_checks)
            if (pa == a) return ex->checks[idx].observed == "ok";
        return false;
    }};
    const auto rv = eflow::validate_deploy(*r.deploy_options, *r.deploy_host, probe);
    c.origin = cell_origin::lab;  // the model's validation fed with what the probes observed
    if (!rv.report.ok()) {
        c.observed = rv.report.error->message;
        c.detail = fmt::format("rule {}; ARP probes on the lab network: {}", eflow::to_string(rv.report.error->rule), probes);
    } else {
        c.observed = "ok";
        c.detail = fmt::format("{}; ARP probes on the lab network: {}", *rv.plan, probes);
    }
}

/// Evaluates one row. The executor is called only when the row needs a VM.
inline row_result evaluate_row(const row_spec& r, lab_executor* executor, const exec_options& opt) {
    row_result out;
    out.id = r.id;
    out.source = r.source;
    out.note = r.note;
    out.eval = r.eval;
    out.line = r.line;
    auto t0 = std::chrono::steady_clock::now();
    std::optional<execution> ex;
    if (r.needs_vm()) {
        if (executor) ex = executor->run(r.lab, opt);
        else ex = execution{{}, "no lab executor (VM rows need the lab runtime)"};
    }
    const eflow::deploy_plan* plan = r.deploy && r.deploy->plan ? &*r.deploy->plan : nullptr;
    auto vm_outcome = [&](std::size_t idx, cell_result& c) {
        if (!r.deployed()) {
            c.origin = cell_origin::model;
            c.observed = "fail";
            c.detail = fmt::format("nothing deployed: {}", r.deploy->report.error->message);
            return;
        }
        if (!r.missing_reason.empty()) {
            c.status = cell_status::missing;
            c.detail = r.missing_reason;
            return;
        }
        if (!ex || !ex->error.empty()) {
            c.status = cell_status::error;
            c.observed = "error";
            c.detail = ex ? ex->error : "not run";
            return;
        }
        if (idx >= ex->checks.size() || !ex->checks[idx].implemented) {
            c.status = cell_status::missing;
            c.detail = idx < ex->checks.size() ? ex->checks[idx].detail : "the executor returned no outcome for this check";
            return;
        }
        const check_outcome& o = ex->checks[idx];
        if (o.observed == "error") {  // not carried out: nothing observed, never a "fail"
            c.status = cell_status::error;
            c.observed = "error";
            c.detail = o.detail;
            return;
        }
        c.origin = o.in_guest ? cell_origin::guest : cell_origin::lab;
        c.observed = o.observed;
        c.detail = o.detail;
    };
    auto observed = [](const cell_result& c) { return c.origin == cell_origin::guest || c.origin == cell_origin::lab; };
    std::optional<diagnosis> diag;
    for (const auto& cs : r.cells) {
        cell_result c;
        c.label = cs.label;
        c.expected = cs.expect;
        c.line = cs.line;
        c.status = cell_status::pass;  // decided below unless missing / error
        switch (cs.kind) {
            case cell_kind::ping:
            case cell_kind::tcp:
            case cell_kind::dns:
            case cell_kind::dhcp:
            case cell_kind::route:
            case cell_kind::mac_after_reboot:
            case cell_kind::flooding: vm_outcome(*cs.check_index, c); break;
            case cell_kind::deploy:
                if (!r.probe_checks.empty()) {
                    deploy_on_lab(r, ex, c);
                    if (observed(c) && c.observed == "ok" && r.lease_check) {
                        vm_outcome(*r.lease_check, c);
                        if (observed(c) && c.observed != "ok")
                            c.observed = fmt::format("Error: no DHCP lease on {}: the VM has no IP address", plan->switch_name);
                    }
                } else if (!r.deploy->report.ok()) {
                    c.origin = cell_origin::model;
                    c.observed = r.deploy->report.error->message;
                    c.detail = fmt::format("rule {}", eflow::to_string(r.deploy->report.error->rule));
                } else if (r.lease_check) {
                    // DHCP: Deploy-Eflow fails when the VM gets no address (seed 000 "DHCP").
                    vm_outcome(*r.lease_check, c);
                    if (observed(c) && c.observed != "ok")
                        c.observed = fmt::format("Error: no DHCP lease on {}: the VM has no IP address", plan->switch_name);
                } else {
                    c.origin = cell_origin::model;
                    c.observed = "ok";
                    c.detail = fmt::format("{}", *plan);
                }
                break;
            case cell_kind::support:
            case cell_kind::ip_support: {
                c.origin = cell_origin::model;
                auto o = eflow::deploy_options::parse(*r.deploy_command);
                std::optional<eflow::switch_type> ty;
                if (o && !o->vswitch_name && !o->vswitch_type) ty = eflow::switch_type::default_switch;
                else if (o && o->vswitch_type) ty = eflow::parse_switch_type(*o->vswitch_type);
                if (!ty) {
                    c.observed = "fail";
                    c.detail = "not a switch type of the support matrix";
                    break;
                }
                const auto sku = r.sku == host_sku::client ? eflow::host_sku::client : eflow::host_sku::server;
                const auto mode = o->any_static() ? eflow::ip_mode::static_ip : eflow::ip_mode::dhcp;
                bool ok = cs.kind == cell_kind::support ? eflow::switch_supported(*ty, sku) : eflow::ip_mode_supported(*ty, mode);
                c.observed = ok ? "ok" : "fail";
                c.detail = std::string(cs.kind == cell_kind::support ? eflow::support_for(*ty).sku_source : eflow::support_for(*ty).ip_source);
                break;
            }
            case cell_kind::default_route: {
                c.origin = cell_origin::model;
                const vm_config* vm = r.lab.find_vm(r.draw_vm);
                if (!vm) {
                    c.status = cell_status::missing;
                    c.origin = cell_origin::none;
                    c.detail = fmt::format("no VM '{}'", r.draw_vm);
                    break;
                }
                auto nics = detail::table_reader::addressing(*vm);
                std::set<std::string> winners;
                std::string per_boot;
                if (r.draw_seed) {
                    std::mt19937 gen(static_cast<std::mt19937::result_type>(*r.draw_seed));
                    for (std::uint32_t b = 0; b < cs.boots; ++b) {
                        auto t = eflow::reference_boot(nics, gen);
                        const auto* d = t.default_route();
                        winners.insert(d ? d->dev : "none");
                        if (b < 8) per_boot += fmt::format("{}{}", per_boot.empty() ? "" : " ", d ? d->dev : "none");
                    }
                    c.detail = fmt::format("reference boot, draw seed {}: {}", *r.draw_seed, per_boot);
                } else {
                    std::vector<eflow::route_priority> prio;
                    for (std::size_t k = 0; k < vm->nics.size(); ++k)
                        if (vm->nics[k].metric) prio.push_back({fmt::format("eth{}", k), *vm->nics[k].metric});
                    for (std::uint32_t b = 0; b < cs.boots; ++b) {
                        auto t = eflow::fixed_boot(nics, prio);
                        const auto* d = t.default_route();
                        winners.insert(d ? d->dev : "none");
                    }
                    c.detail = "fixed boot: the priorities set by the user";
                }
                c.observed = winners.size() == 1 ? *winners.begin() : "varies";
                break;
            }
            case cell_kind::dns_servers: {
                c.origin = cell_origin::model;
                if (!plan) {
                    c.observed = "not deployed";
                    break;
                }
                std::vector<ipv4_address> servers = plan->dns_servers;
                std::string origin(eflow::to_string(plan->dns));
                if (r.set_dns_command) {
                    eflow::dns_settings settings(*plan, "eth0");
                    if (settings.set_dns_servers_command(*r.set_dns_command)) {
                        servers = settings.find("eth0")->servers;
                        origin = "Set-EflowVmDnsServers";
                    }
                }
                c.observed = plan->dns == eflow::dns_origin::dhcp_lease && !r.set_dns_command ? "from the DHCP lease"
                             : plan->dns == eflow::dns_origin::default_switch && !r.set_dns_command
                                 ? "the Default Switch's DNS proxy"
                                 : detail::join_addresses(servers);
                c.detail = origin;
                break;
            }
            case cell_kind::port_policy: {
                c.origin = cell_origin::model;
                const port_rule* pr = find_port_rule(*cs.port);
                c.observed = !pr ? "not in the guide" : cs.direction == "inbound" ? std::string(pr->inbound) : std::string(pr->outbound);
                if (pr) c.detail = std::string(pr->guidance);
                break;
            }
            case cell_kind::diagnosis:
            case cell_kind::remedy: {
                if (r.eval == row_eval::vm && (!r.missing_reason.empty() || !ex || !ex->error.empty())) {
                    vm_outcome(0, c);  // missing or error, as the row's VM part
                    break;
                }
                if (r.eval == row_eval::vm && r.diag_plan && ex) {
                    // a guide step that could not be carried out leaves the diagnosis unknown
                    std::string errors;
                    for (std::size_t i = 0; i < r.diag_plan->checks.size(); ++i) {
                        const std::size_t k = r.diag_first_check + i;
                        if (k < ex->checks.size() && ex->checks[k].observed == "error")
                            errors += fmt::format("{}check {}: {}", errors.empty() ? "" : "; ", k + 1, ex->checks[k].detail);
                    }
                    if (!errors.empty()) {
                        c.status = cell_status::error;
                        c.observed = "error";
                        c.detail = fmt::format("a step of the troubleshooting order could not be carried out: {}", errors);
                        break;
                    }
                }
                if (!diag) diag = row_diagnosis(r, ex ? &*ex : nullptr);
                c.origin = r.given ? cell_origin::model
                                   : (diag->component == net_component::none || diag->decided_by == fact_source::vm ? cell_origin::guest
                                                                                                                    : cell_origin::model);
                c.observed = cs.kind == cell_kind::diagnosis ? std::string(to_string(diag->component)) : diag->remedy;
                c.detail = diag->component == net_component::none ? diag->finding
                                                                   : fmt::format("{}: {}; {}", diag->step, diag->finding, diag->source);
                break;
            }
            case cell_kind::switch_op:
                c.origin = cell_origin::model;
                c.observed = detail::run_switch_ops(cs.op);
                break;
        }
        if (c.status == cell_status::pass) c.status = c.observed == c.expected ? cell_status::pass : cell_status::mismatch;
        if (c.status == cell_status::missing || c.status == cell_status::error) c.origin = cell_origin::none;
        out.cells.push_back(std::move(c));
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

/// The lab-file spelling of a NIC model ("virtio" | "netvsc").
constexpr std::string_view nic_model_name(nic_model m) noexcept { return m == nic_model::netvsc ? "netvsc" : "virtio"; }
inline std::optional<nic_model> parse_nic_model(std::string_view s) noexcept {
    if (s == "virtio") return nic_model::virtio;
    if (s == "netvsc") return nic_model::netvsc;
    return std::nullopt;
}

/// Sets the model of every VM NIC of every generated lab (`vnet conformance --nic-model`):
/// with netvsc, every frame of every VM row crosses the netvsc channel (DESIGN.md "How a
/// frame travels in a lab").
inline void set_nic_model(std::vector<table_spec>& tables, nic_model m) {
    for (auto& t : tables)
        for (auto& r : t.rows)
            for (auto& vm : r.lab.vms)
                for (auto& nic : vm.nics) nic.model = m;
}

struct run_config {
    unsigned parallel = 2;  // VM rows at once (each boots its VMs); model rows run inline
    exec_options exec;
    /// Called once per finished row (from the runner's threads, serialised).
    std::function<void(const table_spec&, const row_result&)> on_row;
};

/// Runs the selected rows; VM rows `parallel` at a time. Results keep table and row order.
inline std::vector<table_result> run_conformance(const std::vector<table_spec>& tables, const std::vector<row_ref>& rows,
                                                 lab_executor* executor, const run_config& cfg) {
    std::vector<row_result> results(rows.size());
    std::mutex mu;
    auto finish = [&](std::size_t i, row_result r) {
        std::lock_guard lock(mu);
        results[i] = std::move(r);
        if (cfg.on_row) cfg.on_row(tables[rows[i].table], results[i]);
    };
    std::vector<std::size_t> vm_rows;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const row_spec& r = tables[rows[i].table].rows[rows[i].row];
        if (r.needs_vm()) vm_rows.push_back(i);
        else finish(i, evaluate_row(r, executor, cfg.exec));
    }
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (std::size_t k; (k = next.fetch_add(1)) < vm_rows.size();) {
            std::size_t i = vm_rows[k];
            const row_spec& r = tables[rows[i].table].rows[rows[i].row];
            exec_options o = cfg.exec;
            if (!o.report_dir.empty()) o.report_dir = fmt::format("{}/{}-{}", o.report_dir, tables[rows[i].table].name, r.id);
            if (o.should_stop && o.should_stop()) {
                row_result rr = evaluate_row(r, nullptr, o);
                for (auto& c : rr.cells)
                    if (c.status == cell_status::error) c.detail = "stopped before this row ran";
                finish(i, std::move(rr));
                continue;
            }
            finish(i, evaluate_row(r, executor, o));
        }
    };
    const unsigned n = std::max(1u, std::min<unsigned>(cfg.parallel, static_cast<unsigned>(vm_rows.size())));
    if (!vm_rows.empty()) {
        std::vector<std::thread> pool;
        for (unsigned t = 1; t < n; ++t) pool.emplace_back(worker);
        worker();
        for (auto& t : pool) t.join();
    }
    std::vector<table_result> out;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const table_spec& t = tables[rows[i].table];
        if (out.empty() || out.back().name != t.name) out.push_back({t.name, t.title, t.file, t.number, {}, t.matrix});
        out.back().rows.push_back(std::move(results[i]));
    }
    return out;
}

// ======================================================================================
// Reports
// ======================================================================================

namespace detail {
inline std::string clip(std::string_view s, std::size_t w) {
    std::string one(s);
    std::replace(one.begin(), one.end(), '\n', ' ');
    if (one.size() <= w) return one;
    return one.substr(0, w - 3) + "...";
}
}  // namespace detail

/// One table as text: expected and observed side by side, a mark per cell, who evaluated
/// it; the full texts of every cell that did not pass below the table.
inline std::string format_table(const table_result& t) {
    std::string s = fmt::format("Table {}: {} ({}, {})\n", t.number, t.title, t.name, t.file);
    s += fmt::format("  {:<24} {:<34} {:<34} {:<34} {:<7} {}\n", "row", "cell", "expected", "observed", "mark", "by");
    std::string notes;
    for (const auto& r : t.rows)
        for (const auto& c : r.cells) {
            s += fmt::format("  {:<24} {:<34} {:<34} {:<34} {:<7} {}\n", r.id, detail::clip(c.label, 34),
                             detail::clip(c.expected, 34), detail::clip(c.observed.empty() ? "-" : c.observed, 34),
                             to_string(c.status), short_origin(c.origin));
            if (c.status != cell_status::pass)
                notes += fmt::format("  {} {} [{}]:\n    expected: {}\n    observed: {}\n    detail:   {}\n    source:   {}\n",
                                     r.id, c.label, to_string(c.status), c.expected, c.observed.empty() ? "-" : c.observed,
                                     c.detail.empty() ? "-" : c.detail, r.source);
        }
    if (!notes.empty()) s += "  not passing:\n" + notes;
    return s;
}

namespace detail {
inline std::string md_cell(std::string_view v) {
    std::string out;
    for (char ch : v) {
        if (ch == '|') out += "\\|";
        else if (ch == '\n') out += "<br>";
        else out += ch;
    }
    return out;
}
}  // namespace detail

/// The report folder's conformance.md; nics: the model every VM NIC ran with, when the
/// runner set one (`--nic-model`).
inline std::string to_markdown(const std::vector<table_result>& tables, std::optional<nic_model> nics = std::nullopt) {
    auto n = count_cells(tables);
    std::string s = fmt::format("# vnet conformance\n\n{} cells: {} pass, {} fail, {} missing, {} error: **{}**.\n\n",
                                n.total(), n.pass, n.mismatch, n.missing, n.error, exit_status(tables) == 0 ? "passed" : "failed");
    if (nics)
        s += fmt::format("VM NICs: model = \"{}\"{}.\n\n", nic_model_name(*nics),
                         *nics == nic_model::netvsc ? " (every frame crosses the netvsc channel: VSC, VMBus ring, VSP)" : "");
    s += "A cell is either *evaluated by the model* (the vnet models of EFLOW deployment, routing, DNS settings, "
         "switch registry and the troubleshooting guide) or *observed on a VM* of a generated lab; a VM row's deploy "
         "cell is validated with ARP probes of its address and gateway, sent from the lab's host on the lab network "
         "before the VM boots.\n";
    for (const auto& t : tables) {
        s += fmt::format("\n## Table {}: {}\n\n`{}` ({})\n\n", t.number, detail::md_cell(t.title), t.name, t.file);
        s += "| row | source | cell | expected | observed | result | evaluated |\n|---|---|---|---|---|---|---|\n";
        for (const auto& r : t.rows)
            for (const auto& c : r.cells)
                s += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", r.id, detail::md_cell(r.source),
                                 detail::md_cell(c.label), detail::md_cell(c.expected),
                                 detail::md_cell(c.observed.empty() ? "-" : c.observed), to_string(c.status),
                                 c.origin == cell_origin::none ? detail::md_cell(c.detail) : std::string(to_string(c.origin)));
    }
    return s;
}

/// Text for XML character data and attribute values: & < > " ' escaped; characters XML 1.0
/// does not allow (controls other than tab, LF, CR) replaced by U+FFFD.
inline std::string xml_escape(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char ch : v) {
        auto c = static_cast<unsigned char>(ch);
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            case '\t': out += "&#9;"; break;
            case '\n': out += "&#10;"; break;
            case '\r': out += "&#13;"; break;
            default:
                if (c < 0x20 || c == 0x7f) out += "\xEF\xBF\xBD";
                else out += ch;
        }
    }
    return out;
}

/// conformance.xml: one testsuite per table, one testcase per cell; a mismatch is a
/// <failure>, a missing cell a <failure type="missing">, an error an <error>. nics: the
/// model every VM NIC ran with, as a property of each testsuite, when the runner set one.
inline std::string to_junit_xml(const std::vector<table_result>& tables, std::optional<nic_model> nics = std::nullopt) {
    std::string body;
    cell_counts all;
    double all_seconds = 0;
    for (const auto& t : tables) {
        cell_counts n = count_cells({t});
        double secs = 0;
        for (const auto& r : t.rows) secs += r.seconds;
        all.pass += n.pass;
        all.mismatch += n.mismatch;
        all.missing += n.missing;
        all.error += n.error;
        all_seconds += secs;
        body += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{:.3f}\">\n",
                            xml_escape(fmt::format("{:02} {}", t.number, t.name)), n.total(), n.mismatch + n.missing,
                            n.error, secs);
        if (nics)
            body += fmt::format("    <properties>\n      <property name=\"nic_model\" value=\"{}\"/>\n    </properties>\n",
                                nic_model_name(*nics));
        for (const auto& r : t.rows) {
            double per = r.cells.empty() ? 0.0 : r.seconds / static_cast<double>(r.cells.size());
            for (const auto& c : r.cells) {
                body += fmt::format("    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.3f}\"",
                                    xml_escape(fmt::format("conformance.{}.{}", t.name, r.id)), xml_escape(c.label),
                                    xml_escape(t.file), c.line, per);
                const std::string text = fmt::format("expected: {}\nobserved: {}\n{}: {}\nsource: {}", c.expected,
                                                     c.observed, to_string(c.origin), c.detail, r.source);
                switch (c.status) {
                    case cell_status::pass:
                        body += fmt::format(">\n      <system-out>{}</system-out>\n    </testcase>\n", xml_escape(text));
                        break;
                    case cell_status::mismatch:
                        body += fmt::format(">\n      <failure type=\"mismatch\" message=\"{}\">{}</failure>\n    </testcase>\n",
                                            xml_escape(fmt::format("expected {}, observed {}", c.expected, c.observed)),
                                            xml_escape(text));
                        break;
                    case cell_status::missing:
                        body += fmt::format(">\n      <failure type=\"missing\" message=\"{}\">{}</failure>\n    </testcase>\n",
                                            xml_escape(fmt::format("missing: {}", c.detail)), xml_escape(text));
                        break;
                    case cell_status::error:
                        body += fmt::format(">\n      <error type=\"error\" message=\"{}\">{}</error>\n    </testcase>\n",
                                            xml_escape(c.detail), xml_escape(text));
                        break;
                }
            }
        }
        body += "  </testsuite>\n";
    }
    return fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"vnet conformance\" tests=\"{}\" "
                       "failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n{}</testsuites>\n",
                       all.total(), all.mismatch + all.missing, all.error, all_seconds, body);
}

}  // namespace vnet::lab
