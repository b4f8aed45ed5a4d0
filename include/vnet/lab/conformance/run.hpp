// vnet/lab/conformance/run.hpp - selecting (tables, shards) and running conformance rows
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
#include <vnet/lab/conformance/evaluate.hpp>
#include <vnet/lab/conformance/table.hpp>

namespace vnet::lab {

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

}  // namespace vnet::lab
