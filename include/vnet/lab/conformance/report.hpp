// vnet/lab/conformance/report.hpp - conformance reports: text, Markdown, JUnit XML
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
    std::string s = fmt::format("# vnet conformance\n\n{} cells: {} pass, {} fail, {} missing, {} error: **{}**.\n\n", n.total(),
                                n.pass, n.mismatch, n.missing, n.error, exit_status(tables) == 0 ? "passed" : "failed");
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
        body += fmt::format(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{:.3f}\">\n",
            xml_escape(fmt::format("{:02} {}", t.number, t.name)), n.total(), n.mismatch + n.missing, n.error, secs);
        if (nics)
            body += fmt::format("    <properties>\n      <property name=\"nic_model\" value=\"{}\"/>\n    </properties>\n",
                                nic_model_name(*nics));
        for (const auto& r : t.rows) {
            double per = r.cells.empty() ? 0.0 : r.seconds / static_cast<double>(r.cells.size());
            for (const auto& c : r.cells) {
                body += fmt::format("    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.3f}\"",
                                    xml_escape(fmt::format("conformance.{}.{}", t.name, r.id)), xml_escape(c.label),
                                    xml_escape(t.file), c.line, per);
                const std::string text = fmt::format("expected: {}\nobserved: {}\n{}: {}\nsource: {}", c.expected, c.observed,
                                                     to_string(c.origin), c.detail, r.source);
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
    return fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"vnet conformance\" tests=\"{}\" "
        "failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n{}</testsuites>\n",
        all.total(), all.mismatch + all.missing, all.error, all_seconds, body);
}

}  // namespace vnet::lab
