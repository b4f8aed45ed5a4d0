// vnet conformance: run the conformance tables of fixtures/conformance/ (docs/design.md "CLI";
// the tables, their loader, the runner and the reports are in vnet/lab/conformance.hpp).
//
// Model rows are evaluated in this process; VM rows run their generated lab through the
// lab runtime (vnet/lab/runtime.hpp), `--parallel` rows at a time, each row's VMs booting
// one after the other. Exit status: 0 every cell passed, 1 a cell mismatched, is missing
// or could not run, 2 bad input (a bad table file: "vnet: conformance: FILE:LINE: KEY:
// MESSAGE", an unknown --table, a bad --shard, a bad --nic-model).
// `--nic-model netvsc` sets model = "netvsc" on every VM NIC of every generated lab, so
// every VM cell is observed with the frames crossing the netvsc channel; the printed
// summary and both reports say which model ran.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

#include <vnet/lab/conformance.hpp>
#include <vnet/lab/runtime.hpp>

#include "commands.hpp"
#include "data_dir.hpp"
#include "run_control.hpp"

namespace vnet::cli {

namespace {

/// The lab runtime as a lab_executor: one run_lab per row.
class runtime_executor final : public lab::lab_executor {
public:
    runtime_executor(std::string src, unsigned boot_timeout, bool verbose)
            : src_(std::move(src)), boot_timeout_(boot_timeout), verbose_(verbose) {}

    lab::execution run(const lab::lab_file& lf, const lab::exec_options& o) override {
        lab::execution ex;
        if (auto u = lab::unsupported_by_runtime(lf)) {
            ex.error = u->to_string();
            return ex;
        }
        lab::run_options opt;
        opt.source_dir = src_;
        opt.report_dir = o.report_dir;
        opt.parallel = 1;  // rows run in parallel; a row's VMs boot one after the other
        opt.boot_timeout = std::chrono::seconds(boot_timeout_);
        const std::string name = lf.name;
        if (verbose_) opt.progress = [name](const std::string& line) { fmt::print(stderr, "[{}] {}\n", name, line); };
        auto deadline = std::chrono::steady_clock::now() + o.timeout;
        auto stop = o.should_stop;
        opt.should_stop = [deadline, stop] { return (stop && stop()) || std::chrono::steady_clock::now() > deadline; };
        auto out = lab::run_lab(lf, opt, false);
        const auto& r = out.report;
        if (!r.error.empty()) {
            ex.error = r.error;
            return ex;
        }
        for (const auto& b : r.boots)
            if (!b.ready) {
                ex.error = fmt::format("VM {} did not come up: {}", b.name, b.error);
                return ex;
            }
        // every kind but deploy (vnet conformance validates deploy commands itself)
        for (const auto& c : r.checks) ex.checks.push_back({c.observed, c.detail, lab::rules_of(c.kind).lab_run, c.in_guest});
        if (ex.checks.size() < lf.checks.size())
            ex.error = fmt::format("the run stopped after {} of {} checks", ex.checks.size(), lf.checks.size());
        return ex;
    }

private:
    std::string src_;
    unsigned boot_timeout_;
    bool verbose_;
};

}  // namespace

std::unique_ptr<lab::lab_executor> make_runtime_executor(unsigned boot_timeout, bool verbose) {
    return std::make_unique<runtime_executor>(find_data_root(), boot_timeout, verbose);
}

int run_conformance_command(const conformance_options& o) {
    std::string dir = o.dir;
    if (dir.empty()) {
        auto src = find_data_root();
        if (src.empty())
            return report_error("conformance", fmt::format("cannot find fixtures/conformance (looked in $VNET_SOURCE_DIR, the "
                                                           "folders around the current directory and the executable, and {}; "
                                                           "set VNET_SOURCE_DIR or use --dir)",
                                                           data_root_candidates().back()));
        dir = src + "/fixtures/conformance";
    }
    auto tables = lab::load_tables(dir);
    if (!tables) return report_error("conformance", tables.error().to_string());
    const auto nics = lab::parse_nic_model(o.nic_model);
    if (!nics) return report_error("conformance", fmt::format("--nic-model {}: not virtio or netvsc", o.nic_model));
    lab::set_nic_model(*tables, *nics);
    // --table takes a table's name or its number ("8" or "08").
    std::string table_name = o.table;
    for (const auto& t : *tables)
        if (!o.table.empty() && o.table.find_first_not_of("0123456789") == std::string::npos && o.table.size() <= 2 &&
            std::stoi(o.table) == t.number)
            table_name = t.name;
    if (!table_name.empty() &&
        std::none_of(tables->begin(), tables->end(), [&](const lab::table_spec& t) { return t.name == table_name; })) {
        std::string names;
        for (const auto& t : *tables) names += fmt::format("{}{}", names.empty() ? "" : ", ", t.name);
        return report_error("conformance", fmt::format("no table named '{}' (tables: {})", o.table, names));
    }
    lab::shard sh;
    if (!o.shard.empty()) {
        auto s = lab::parse_shard(o.shard);
        if (!s) return report_error("conformance", fmt::format("--shard {}", s.error()));
        sh = *s;
    }
    auto rows = lab::select_rows(*tables, sh, table_name);
    if (!o.rows.empty()) {  // --row TABLE/ROW
        std::vector<lab::row_ref> picked;
        for (const auto& want : o.rows) {
            const auto slash = want.find('/');
            bool found = false;
            for (const auto& r : rows) {
                const auto& t = (*tables)[r.table];
                if (slash != std::string::npos && t.name == want.substr(0, slash) && t.rows[r.row].id == want.substr(slash + 1)) {
                    picked.push_back(r);
                    found = true;
                }
            }
            if (!found) return report_error("conformance", fmt::format("--row {}: no row TABLE/ROW of that name", want));
        }
        rows = std::move(picked);
    }
    if (o.eval != "all") {
        const auto want = o.eval == "vm" ? lab::row_eval::vm : lab::row_eval::model;
        std::erase_if(rows, [&](const lab::row_ref& r) { return (*tables)[r.table].rows[r.row].eval != want; });
    }
    std::size_t vm_rows = 0;
    for (const auto& r : rows) vm_rows += (*tables)[r.table].rows[r.row].needs_vm();

    install_stop_signals();
    // The guest image is brought up to date once here (vm-images/build.sh is a no-op when
    // the cached image matches the recipe); every row's lab then uses the cached one.
    if (vm_rows > 0) {
        if (auto src = find_data_root(); !src.empty()) {
            std::string log;
            if (auto g = lab::build_image(src, lab::default_image_dir(), &log); !g)
                return report_error("conformance", fmt::format("vm-images/build.sh failed: {}\n{}", g.error().message(), log), 1);
        }
    }
    auto executor = make_runtime_executor(o.boot_timeout, o.verbose);
    lab::run_config cfg;
    cfg.parallel = o.parallel ? o.parallel : std::max(1u, std::thread::hardware_concurrency());
    cfg.exec.timeout = std::chrono::seconds(o.row_timeout);
    cfg.exec.should_stop = [] { return stop_requested(); };
    if (!o.report_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(o.report_dir + "/rows", ec);
        if (ec) return report_error("conformance", fmt::format("cannot create {}: {}", o.report_dir, ec.message()));
        cfg.exec.report_dir = o.report_dir + "/rows";
    }
    std::size_t done = 0;
    cfg.on_row = [&](const lab::table_spec& t, const lab::row_result& r) {
        ++done;
        if (r.eval == lab::row_eval::vm || o.verbose)
            fmt::print(stderr, "[conformance] {}/{} {} {}: {} ({:.1f} s)\n", done, rows.size(), t.name, r.id,
                       r.passed() ? "pass" : "not passing", r.seconds);
    };
    fmt::print(stderr, "[conformance] {} rows from {} ({} on VMs, {} at a time, NIC model {})\n", rows.size(), dir, vm_rows,
               cfg.parallel, lab::nic_model_name(*nics));
    auto t0 = std::chrono::steady_clock::now();
    auto results = lab::run_conformance(*tables, rows, executor.get(), cfg);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    for (const auto& t : results) fmt::print("{}\n", lab::format_table(t));
    auto n = lab::count_cells(results);
    fmt::print("conformance: {} cells in {} rows: {} pass, {} fail, {} missing, {} error ({:.1f} s, NIC model {})\n", n.total(),
               rows.size(), n.pass, n.mismatch, n.missing, n.error, secs, lab::nic_model_name(*nics));
    if (!o.report_dir.empty()) {
        if (!write_text(o.report_dir + "/conformance.md", lab::to_markdown(results, *nics)) ||
            !write_text(o.report_dir + "/conformance.xml", lab::to_junit_xml(results, *nics)) ||
            !write_text(o.report_dir + "/conformance.json", conformance_json(results, *nics, secs, o.shard)))
            report_error("conformance", fmt::format("cannot write the report in {}", o.report_dir), 1);
        write_conformance_html(o.report_dir, *tables, results,
                               fmt::format("VM NICs: model = \"{}\"; tables from {}", lab::nic_model_name(*nics), dir), secs);
    }
    return lab::exit_status(results);
}

}  // namespace vnet::cli
