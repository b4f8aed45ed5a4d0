// index.html of report folders (vnet/lab/report_html.hpp): the files each row's lab left
// as its evidence, and each lab's topology drawn by Graphviz (`dot -Tsvg`, Debian graphviz).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <vnet/io/process.hpp>
#include <vnet/lab/graph.hpp>
#include <vnet/lab/report.hpp>
#include <vnet/lab/report_html.hpp>

#include "commands.hpp"
#include "run_control.hpp"

namespace vnet::cli {

namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

/// Every regular file under `dir`, as paths relative to `base`, sorted.
std::vector<std::string> files_under(const fs::path& dir, const fs::path& base) {
    std::vector<std::string> out;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return out;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec)) out.push_back(fs::relative(it->path(), base, ec).string());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

std::string draw_topology(const lab::lab_file& lf, const std::string& dir, const std::string& base) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    const std::string dot = dir + "/topology.dot", svg = dir + "/topology.svg";
    if (!write_text(dot, lab::to_dot(lf))) return {};
    auto r = io::run({"dot", "-Tsvg", "-o", svg, dot}, {}, std::chrono::seconds(30));
    if (!r || r->status != 0) {
        fmt::print(stderr, "vnet: report: dot -Tsvg failed for {} ({}): the topology is left as {}\n", lf.name,
                   r ? r->err : r.error().message(), dot);
        return {};
    }
    return fs::relative(svg, base, ec).string();
}

void write_conformance_html(const std::string& report_dir, const std::vector<lab::table_spec>& specs,
                            const std::vector<lab::table_result>& results, const std::string& subtitle, double seconds) {
    lab::html_report rep;
    rep.subtitle = subtitle;
    rep.seconds = seconds;
    rep.tables = results;
    if (std::error_code ec; fs::exists(report_dir + "/mutation.md", ec))
        rep.mutation_markdown = read_text(report_dir + "/mutation.md");
    rep.evidence = [&](const lab::table_result& t, const lab::row_result& r) {
        lab::html_evidence ev;
        ev.command = fmt::format("vnet conformance --row {}/{} --report DIR", t.name, r.id);
        const std::string row_dir = fmt::format("{}/rows/{}-{}", report_dir, t.name, r.id);
        for (const auto& s : specs) {
            if (s.name != t.name) continue;
            for (const auto& rs : s.rows)
                if (rs.id == r.id && rs.needs_vm()) ev.topology_svg = draw_topology(rs.lab, row_dir, report_dir);
        }
        ev.files = files_under(row_dir, report_dir);
        std::erase_if(ev.files, [](const std::string& f) { return f.ends_with("topology.dot") || f.ends_with("topology.svg"); });
        return ev;
    };
    if (!write_text(report_dir + "/index.html", lab::to_html(rep)))
        report_error("conformance", fmt::format("cannot write {}/index.html", report_dir), 1);
}

void write_lab_html(const std::string& dir, const lab::lab_file* lf, const lab::run_report& r) {
    lab::table_result t;
    t.name = r.lab;
    t.title = fmt::format("lab {} ({})", r.lab, r.file);
    t.file = r.file;
    t.number = 1;
    for (const auto& c : r.checks) {
        lab::row_result row;
        row.id = fmt::format("check-{}", c.index);
        row.source = fmt::format("{}:{}", r.file, c.line);
        row.eval = lab::row_eval::vm;
        row.line = c.line;
        row.seconds = c.seconds;
        lab::cell_result cell;
        cell.label = fmt::format("{} {} -> {}", lab::to_string(c.kind), c.from, c.to);
        cell.expected = c.expected;
        cell.observed = c.observed;
        cell.detail = c.detail;
        cell.origin = c.in_guest ? lab::cell_origin::guest : lab::cell_origin::lab;
        cell.status = c.observed == "error" ? lab::cell_status::error
                      : c.pass()            ? lab::cell_status::pass
                                            : lab::cell_status::mismatch;
        cell.line = c.line;
        row.cells.push_back(std::move(cell));
        t.rows.push_back(std::move(row));
    }
    lab::html_report rep;
    rep.title = fmt::format("vnet lab {}", r.lab);
    rep.subtitle = r.error.empty() ? fmt::format("run {}", r.run_id) : fmt::format("run {}: {}", r.run_id, r.error);
    rep.seconds = r.seconds;
    rep.tables.push_back(std::move(t));
    const std::string svg = lf ? draw_topology(*lf, dir, dir) : std::string();
    const auto files = files_under(dir, dir);
    rep.evidence = [&](const lab::table_result&, const lab::row_result&) {
        lab::html_evidence ev;
        ev.topology_svg = svg;
        ev.files = files;
        ev.command = fmt::format("vnet lab run {}", r.file);
        return ev;
    };
    if (!write_text(dir + "/index.html", lab::to_html(rep)))
        report_error("lab", fmt::format("cannot write {}/index.html", dir), 1);
}

}  // namespace vnet::cli
