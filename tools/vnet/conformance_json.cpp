// conformance.json: the machine-readable form of a conformance run (every table, row and
// cell with its expectation, observation, origin and status), written next to
// conformance.md and conformance.xml; and `vnet conformance merge`, which joins the
// conformance.json of several shards (`--shard I/N` runs, e.g. one per CI job) into one
// report: conformance.md, conformance.xml, conformance.json and index.html, with the rows'
// evidence folders copied along.
#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <vnet/lab/conformance.hpp>

#include "commands.hpp"
#include "data_dir.hpp"
#include "run_control.hpp"

namespace vnet::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr std::string_view format_tag = "vnet-conformance 1";
constexpr std::array<std::string_view, 4> status_names{"pass", "mismatch", "missing", "error"};
constexpr std::array<std::string_view, 4> origin_names{"model", "guest", "lab", "none"};
constexpr std::array<std::string_view, 2> eval_names{"model", "vm"};

template <class E, std::size_t N>
std::string_view name_of(E v, const std::array<std::string_view, N>& names) {
    return names[static_cast<std::size_t>(v)];
}
template <class E, std::size_t N>
E value_of(const std::string& s, const std::array<std::string_view, N>& names, const char* what) {
    for (std::size_t i = 0; i < N; ++i)
        if (names[i] == s) return static_cast<E>(i);
    throw std::runtime_error(fmt::format("unknown {} \"{}\"", what, s));
}

json to_json(const lab::table_result& t) {
    json j{{"name", t.name}, {"title", t.title}, {"file", t.file}, {"number", t.number}};
    if (t.matrix)
        j["matrix"] = {{"rows_name", t.matrix->rows_name},
                       {"rows", t.matrix->rows},
                       {"cols_name", t.matrix->cols_name},
                       {"cols", t.matrix->cols}};
    json rows = json::array();
    for (const auto& r : t.rows) {
        json cells = json::array();
        for (const auto& c : r.cells)
            cells.push_back({{"label", c.label},
                             {"expected", c.expected},
                             {"observed", c.observed},
                             {"status", name_of(c.status, status_names)},
                             {"origin", name_of(c.origin, origin_names)},
                             {"detail", c.detail},
                             {"line", c.line}});
        rows.push_back({{"id", r.id},
                        {"source", r.source},
                        {"note", r.note},
                        {"eval", name_of(r.eval, eval_names)},
                        {"line", r.line},
                        {"seconds", r.seconds},
                        {"cells", std::move(cells)}});
    }
    j["rows"] = std::move(rows);
    return j;
}

lab::table_result table_from_json(const json& j) {
    lab::table_result t;
    t.name = j.at("name").get<std::string>();
    t.title = j.at("title").get<std::string>();
    t.file = j.at("file").get<std::string>();
    t.number = j.at("number").get<int>();
    if (j.contains("matrix")) {
        const auto& m = j.at("matrix");
        t.matrix = lab::table_matrix{m.at("rows_name").get<std::string>(), m.at("rows").get<std::vector<std::string>>(),
                                     m.at("cols_name").get<std::string>(), m.at("cols").get<std::vector<std::string>>()};
    }
    for (const auto& rj : j.at("rows")) {
        lab::row_result r;
        r.id = rj.at("id").get<std::string>();
        r.source = rj.at("source").get<std::string>();
        r.note = rj.at("note").get<std::string>();
        r.eval = value_of<lab::row_eval>(rj.at("eval").get<std::string>(), eval_names, "eval");
        r.line = rj.at("line").get<std::uint32_t>();
        r.seconds = rj.at("seconds").get<double>();
        for (const auto& cj : rj.at("cells")) {
            lab::cell_result c;
            c.label = cj.at("label").get<std::string>();
            c.expected = cj.at("expected").get<std::string>();
            c.observed = cj.at("observed").get<std::string>();
            c.status = value_of<lab::cell_status>(cj.at("status").get<std::string>(), status_names, "status");
            c.origin = value_of<lab::cell_origin>(cj.at("origin").get<std::string>(), origin_names, "origin");
            c.detail = cj.at("detail").get<std::string>();
            c.line = cj.at("line").get<std::uint32_t>();
            r.cells.push_back(std::move(c));
        }
        t.rows.push_back(std::move(r));
    }
    return t;
}

std::string slurp_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// Copies a shard's per-row evidence folders into the merged report.
void copy_rows(const std::string& from_dir, const std::string& to_dir) {
    std::error_code ec;
    if (!fs::exists(from_dir + "/rows", ec)) return;
    fs::create_directories(to_dir + "/rows", ec);
    fs::copy(from_dir + "/rows", to_dir + "/rows", fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
    if (ec) report_error("conformance merge", fmt::format("cannot copy {}/rows: {}", from_dir, ec.message()), 1);
}

}  // namespace

std::string conformance_json(const std::vector<lab::table_result>& results, lab::nic_model nics, double seconds,
                             const std::string& shard) {
    json j{{"format", format_tag}, {"nic_model", lab::nic_model_name(nics)}, {"shard", shard}, {"seconds", seconds}};
    json tables = json::array();
    for (const auto& t : results) tables.push_back(to_json(t));
    j["tables"] = std::move(tables);
    auto n = lab::count_cells(results);
    j["summary"] = {{"cells", n.total()}, {"pass", n.pass}, {"mismatch", n.mismatch}, {"missing", n.missing}, {"error", n.error}};
    return j.dump(2) + "\n";
}

int run_conformance_merge(const conformance_merge_options& o) {
    if (o.shards.empty()) return report_error("conformance merge", "name the shards' report folders");
    std::map<std::string, lab::table_result> tables;
    std::map<std::string, std::string> row_from;  // "table/row" -> the shard that has it
    std::string model;
    double seconds = 0;
    for (const auto& dir : o.shards) {
        const std::string path = dir + "/conformance.json";
        std::error_code ec;
        if (!fs::exists(path, ec)) return report_error("conformance merge", fmt::format("{}: no such file", path));
        try {
            const json j = json::parse(slurp_file(path));
            if (j.at("format").get<std::string>() != format_tag)
                return report_error("conformance merge", fmt::format("{}: format is not \"{}\"", path, format_tag));
            const auto m = j.at("nic_model").get<std::string>();
            if (!model.empty() && m != model)
                return report_error("conformance merge",
                                    fmt::format("{}: NIC model {} but an earlier shard ran {}", path, m, model));
            model = m;
            seconds = std::max(seconds, j.at("seconds").get<double>());  // shards run side by side
            for (const auto& tj : j.at("tables")) {
                auto t = table_from_json(tj);
                auto [it, fresh] = tables.try_emplace(t.name, t);
                if (!fresh) it->second.rows.insert(it->second.rows.end(), t.rows.begin(), t.rows.end());
                for (const auto& r : t.rows) {
                    auto key = t.name + "/" + r.id;
                    if (auto [p, added] = row_from.emplace(key, dir); !added)
                        return report_error("conformance merge", fmt::format("row {} is in {} and in {}", key, p->second, dir));
                }
            }
        } catch (const std::exception& e) {
            return report_error("conformance merge", fmt::format("{}: {}", path, e.what()));
        }
    }
    std::vector<lab::table_result> results;
    for (auto& [name, t] : tables) {
        std::sort(t.rows.begin(), t.rows.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
        results.push_back(std::move(t));
    }
    std::sort(results.begin(), results.end(), [](const auto& a, const auto& b) { return a.number < b.number; });
    const auto nics = parse_enum<lab::nic_model>(model);
    if (!nics) return report_error("conformance merge", fmt::format("unknown NIC model {}", model));
    std::error_code ec;
    fs::create_directories(o.report_dir, ec);
    if (ec) return report_error("conformance merge", fmt::format("cannot create {}: {}", o.report_dir, ec.message()));
    for (const auto& dir : o.shards) copy_rows(dir, o.report_dir);
    if (!write_text(o.report_dir + "/conformance.md", lab::to_markdown(results, *nics)) ||
        !write_text(o.report_dir + "/conformance.xml", lab::to_junit_xml(results, *nics)) ||
        !write_text(o.report_dir + "/conformance.json", conformance_json(results, *nics, seconds, "merged")))
        return report_error("conformance merge", fmt::format("cannot write the report in {}", o.report_dir), 1);
    std::vector<lab::table_spec> specs;
    // The tables themselves (for the topologies in index.html), when they can be found.
    std::string tables_dir = o.dir;
    if (tables_dir.empty())
        if (auto src = find_data_root(); !src.empty()) tables_dir = src + "/fixtures/conformance";
    if (!tables_dir.empty())
        if (auto t = lab::load_tables(tables_dir)) specs = std::move(*t);
    write_conformance_html(o.report_dir, specs, results,
                           fmt::format("VM NICs: model = \"{}\"; merged from {} shards", model, o.shards.size()), seconds);
    auto n = lab::count_cells(results);
    fmt::print("conformance merge: {} cells in {} rows from {} shards: {} pass, {} fail, {} missing, {} error\n", n.total(),
               row_from.size(), o.shards.size(), n.pass, n.mismatch, n.missing, n.error);
    return lab::exit_status(results);
}

}  // namespace vnet::cli
