// The vnet command's subcommands. Each returns the process exit status:
// 0 success, 1 a check observed something other than what it expected, 2 bad input.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace vnet::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_check_failed = 1;
inline constexpr int exit_bad_input = 2;

/// "vnet: <what>: <why>" on stderr.
inline int report_error(const std::string& what, const std::string& why, int status = exit_bad_input) {
    fmt::print(stderr, "vnet: {}: {}\n", what, why);
    return status;
}

struct decode_options {
    std::string file;
    bool json = false;
    bool compare_tshark = false;
};
int run_decode(const decode_options& o);
/// Decodes with vnet and with tshark and compares every field both name (exit 1 on any difference).
int run_compare_tshark(const decode_options& o);

struct graph_options {
    std::string file;
};
int run_lab_graph(const graph_options& o);

struct lab_run_options {
    std::string file;
    bool json = false;
    bool keep = false;
    std::string report_dir;
    unsigned parallel = 0;        // VMs booting at once; 0: the number of cores
    unsigned timeout = 900;       // seconds for the whole run
    unsigned boot_timeout = 120;  // seconds per VM to its guest agent
    std::string accel = "tcg";    // tcg | kvm (kvm only after a successful probe)
};
/// vnet lab run FILE [--json] [--keep] [--report DIR]
int run_lab_run(const lab_run_options& o);
/// vnet lab up FILE: build and boot, keep it running (no checks).
int run_lab_up(const lab_run_options& o);

struct lab_down_options {
    std::string name;  // the lab's name or its run id
};
/// vnet lab down NAME
int run_lab_down(const lab_down_options& o);

struct lab_exec_options {
    std::string name;                  // the lab's name or its run id
    std::string vm;                    // a VM of the lab
    std::vector<std::string> command;  // run by the guest's shell, words joined by spaces
    unsigned timeout = 60;             // seconds
};
struct eflow_options {
    std::string name;               // the lab's name or its run id
    std::string vm;                 // --vm: the EFLOW VM; empty: the lab's only eflow-profile VM, or its only VM
    std::string cmdlet;             // Get-EflowVmAddr, Set-EflowVmDnsServers, Connect-EflowVm, ...
    std::vector<std::string> args;  // the cmdlet's parameters as typed (-name value ...)
};
/// vnet eflow NAME [--vm VM] CMDLET [-param value ...]: an EFLOW host cmdlet against a lab
/// that is up (tools/vnet/eflow.cpp).
int run_eflow(const eflow_options& o);

/// vnet lab exec NAME VM -- CMD...: runs CMD in the VM of a lab that is up (through its
/// guest agent); prints its output and exits with its status.
int run_lab_exec(const lab_exec_options& o);

struct conformance_options {
    std::string dir;           // the tables; empty: <source>/fixtures/conformance
    std::string table;         // --table NAME; empty: all
    std::string shard;         // --shard I/N; empty: all rows
    std::string report_dir;    // conformance.md, conformance.xml, per-row logs
    std::string eval = "all";  // all | model | vm: which rows
    unsigned parallel = 0;     // VM rows at once; 0: the number of cores
    unsigned boot_timeout = 120;
    unsigned row_timeout = 600;  // seconds per VM row
    bool verbose = false;
    std::string nic_model = "virtio";  // virtio | netvsc: the model of every VM NIC of every generated lab
    std::vector<std::string> rows;     // --row TABLE/ROW: only these rows
};
/// vnet conformance [--table NAME] [--shard I/N] [--report DIR] [--nic-model virtio|netvsc]
int run_conformance_command(const conformance_options& o);

struct conformance_merge_options {
    std::string report_dir;           // --report OUT: the merged report
    std::string dir;                  // --dir: the tables (for index.html's topologies); empty: found as for a run
    std::vector<std::string> shards;  // the shards' report folders, each with a conformance.json
};
/// vnet conformance merge --report OUT SHARD_DIR...: one report from the shards' conformance.json.
int run_conformance_merge(const conformance_merge_options& o);

}  // namespace vnet::cli

namespace vnet::lab {
struct lab_file;
struct table_spec;
struct table_result;
struct run_report;
enum class nic_model;
}  // namespace vnet::lab

namespace vnet::cli {

/// conformance.json of a run (conformance_json.cpp); shard is "I/N", "" or "merged".
std::string conformance_json(const std::vector<lab::table_result>& results, lab::nic_model nics, double seconds,
                             const std::string& shard);

/// index.html of a conformance report folder (html_report.cpp).
void write_conformance_html(const std::string& report_dir, const std::vector<lab::table_spec>& specs,
                            const std::vector<lab::table_result>& results, const std::string& subtitle, double seconds);
/// index.html of a lab report folder; lf: the lab, for its topology (may be null).
void write_lab_html(const std::string& dir, const lab::lab_file* lf, const lab::run_report& r);

struct diag_options {
    std::string file;
    std::string vm;
    std::string report_dir;
    unsigned boot_timeout = 120;
    bool verbose = false;
};
/// vnet diag FILE.toml --vm NAME
int run_diag(const diag_options& o);

}  // namespace vnet::cli

namespace vnet::lab {
struct lab_executor;
}  // namespace vnet::lab

namespace vnet::cli {
/// The lab runtime behind the lab_executor interface (tools/vnet/conformance.cpp).
std::unique_ptr<lab::lab_executor> make_runtime_executor(unsigned boot_timeout, bool verbose);

}  // namespace vnet::cli
