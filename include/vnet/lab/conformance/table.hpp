// vnet/lab/conformance/table.hpp - the conformance table model: tables, rows and cells as loaded; the
// executor interface a row runs its lab through; the results of cells, rows and tables
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
    ping,
    tcp,
    dns,
    dhcp,
    route,
    // evaluated by the model (or, for deploy on a DHCP VM row, derived from the VM's lease)
    deploy,         // Deploy-Eflow validation: "ok" or the exact message
    support,        // the switch type on the host SKU (support matrix): ok | fail
    ip_support,     // the IP allocation on the switch type (support matrix): ok | fail
    default_route,  // which NIC the default route leaves by: eth0 | eth1 | varies
    dns_servers,    // the VM's DNS servers after deploy (and set_dns): "a b" | none
    port_policy,    // the guide's firewall rule for a port and direction
    diagnosis,      // the first failing component of the troubleshooting order
    remedy,         // the guide's remedy text for it
    switch_op,      // Hyper-V switch operations on the switch registry: ok | the error
    // observed on a VM, compared as text (lab check kinds "reboot" and "flooding")
    mac_after_reboot,          // the MAC of eth0 after the VM rebooted (when it kept the one before)
    address_after_reboot,      // eth0's IPv4 address/prefix after the VM and the host restarted (when it kept it)
    flooding,                  // from -> to: "first frame flooded|to one port, later frames flooded|to one port"
    metrics,                   // the default routes' metrics over metrics_boots boots: "redrawn at every boot" | "kept" | ...
    link_local,                // `from` (a VM's ethN, the host) holds a 169.254.0.0/16 (APIPA) address: ok | fail
    address_after_lease_loss,  // eth0 after its lease ran out with the VM off and peer `to` took the address:
                               // "changed: A -> B" | "kept A"
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
        case cell_kind::address_after_reboot: return "address_after_reboot";
        case cell_kind::flooding: return "flooding";
        case cell_kind::metrics: return "metrics";
        case cell_kind::link_local: return "link_local";
        case cell_kind::address_after_lease_loss: return "address_after_lease_loss";
    }
    return "?";
}

constexpr bool is_vm_kind(cell_kind k) noexcept {
    return k == cell_kind::ping || k == cell_kind::tcp || k == cell_kind::dns || k == cell_kind::dhcp || k == cell_kind::route ||
           k == cell_kind::mac_after_reboot || k == cell_kind::address_after_reboot || k == cell_kind::flooding ||
           k == cell_kind::metrics || k == cell_kind::link_local || k == cell_kind::address_after_lease_loss;
}
/// VM kinds whose expect is a text of their own rather than "ok" | "fail".
constexpr bool is_text_vm_kind(cell_kind k) noexcept {
    return k == cell_kind::mac_after_reboot || k == cell_kind::address_after_reboot || k == cell_kind::flooding ||
           k == cell_kind::metrics || k == cell_kind::address_after_lease_loss;
}

struct cell_spec {
    cell_kind kind = cell_kind::deploy;
    std::string expect;
    std::string label;  // what the cell is, in one phrase (for reports)
    std::uint32_t line = 0;
    // VM kinds
    std::string from = "eflow";
    std::string to;
    std::optional<std::uint16_t> port;
    std::string name;
    bool listen = false;  // tcp into a VM: a listener on the port in that VM first
    // model kinds
    std::string op;                          // switch_op script
    std::string direction;                   // port_policy: inbound | outbound
    std::uint32_t boots = 1;                 // default_route: boots to look at
    std::optional<std::size_t> check_index;  // vm kinds, and dns_servers in a VM row: index into the row's lab.checks
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
    lab_file lab;                                                    // the row's lab (checks = its VM cells, then helpers)
    std::optional<eflow::deploy_result> deploy;                      // the validated deploy command
    std::optional<std::size_t> lease_check;                          // DHCP deploy: the lease check deciding the deploy cell
    std::optional<eflow::deploy_options> deploy_options;             // the parsed deploy command and the host it ran on,
    std::optional<eflow::host_state> deploy_host;                    // for validating again with the lab's probe answers
    std::vector<std::pair<ipv4_address, std::size_t>> probe_checks;  // eval = "vm": the ARP probe check per address
    std::optional<diagnostic_plan> diag_plan;                        // diagnose_vm: the guide's checks
    std::size_t diag_first_check = 0;                                // their first index in lab.checks
    std::string missing_reason;                                      // non-empty: the lab cannot express this row's VM part

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
        return static_cast<std::size_t>(
            std::count_if(rows.begin(), rows.end(), [](const row_spec& r) { return r.eval == row_eval::vm; }));
    }
};

// ======================================================================================
// The executor: what runs a lab on VMs
// ======================================================================================

/// The outcome of one [[check]] of a lab.
struct check_outcome {
    std::string observed;     // "ok" | "fail" | "error" (not carried out: nothing observed), or a text kind's text
    std::string detail;       // the evidence, or why nothing was observed
    bool implemented = true;  // false: this executor cannot run the check's kind
    bool in_guest = false;    // observed inside a guest (else on the lab's host, network or switch)
};

/// A whole lab run: one outcome per [[check]], in order, or why the lab did not run.
struct execution {
    std::vector<check_outcome> checks;
    std::string error;
};

struct exec_options {
    std::string report_dir;  // per-row logs and captures, empty: none
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

/// 0 when every cell passed, 1 on any mismatch, missing cell or error (docs/design.md "CLI").
inline int exit_status(const std::vector<table_result>& tables) {
    auto n = count_cells(tables);
    return n.mismatch + n.missing + n.error == 0 ? 0 : 1;
}

/// The lab-file spelling of a NIC model ("virtio" | "netvsc").
constexpr std::string_view nic_model_name(nic_model m) noexcept { return m == nic_model::netvsc ? "netvsc" : "virtio"; }
inline std::optional<nic_model> parse_nic_model(std::string_view s) noexcept {
    if (s == "virtio") return nic_model::virtio;
    if (s == "netvsc") return nic_model::netvsc;
    return std::nullopt;
}

/// Sets the model of every VM NIC of every generated lab (`vnet conformance --nic-model`):
/// with netvsc, every frame of every VM row crosses the netvsc channel (docs/design.md "How a
/// frame travels in a lab").
inline void set_nic_model(std::vector<table_spec>& tables, nic_model m) {
    for (auto& t : tables)
        for (auto& r : t.rows)
            for (auto& vm : r.lab.vms)
                for (auto& nic : vm.nics) nic.model = m;
}

}  // namespace vnet::lab
