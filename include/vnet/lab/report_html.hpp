// vnet/lab/report_html.hpp - index.html of a report folder (`vnet conformance --report`,
// `vnet lab run --report`): a page a person opens in a browser.
//
// - A summary: cells by result (PASS, FAIL, MISSING, ERROR), NIC model, run time.
// - Each table whose [table] declares a matrix (matrix = { rows = ..., cols = ... }) drawn
//   as the matrix it is in the source document (switch type x host SKU, switch type x IP
//   mode): one square per row "<row value>-<column value>", coloured by the row's result,
//   linked to the row. Rows outside the matrix are listed below it.
// - Every row: its cells (expected, observed, result, where the value came from, detail),
//   its source, its time, and its evidence: the files of its lab's report folder (serial
//   logs, a pcap per switch port, summary.md), the topology as an SVG, the command run.
// - The mutation score, when the report folder has one (a Markdown table).
// Everything is escaped; the page has no script and loads nothing from outside.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/lab/conformance.hpp>

namespace vnet::lab {

/// What a report links for one row; paths are relative to the report folder.
struct html_evidence {
    std::vector<std::string> files;  // the row's lab report files (logs, pcaps, summaries)
    std::string topology_svg;        // the row's lab drawn by Graphviz, empty: none
    std::string command;             // how to run the row alone
};

struct html_report {
    std::string title = "vnet conformance";
    std::string subtitle;  // e.g. the NIC model every VM ran with
    double seconds = 0;    // wall time of the whole run
    std::vector<table_result> tables;
    std::function<html_evidence(const table_result&, const row_result&)> evidence;
    std::string mutation_markdown;  // a Markdown pipe table, empty: no mutation score
};

namespace detail {

inline std::string html_escape(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char ch : v) {
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += ch;
        }
    }
    return out;
}

/// A link target: the path with characters outside [A-Za-z0-9/._-] percent-encoded.
inline std::string url_path(std::string_view p) {
    std::string out;
    for (unsigned char c : p) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '.' || c == '_' ||
            c == '-')
            out += static_cast<char>(c);
        else out += fmt::format("%{:02X}", c);
    }
    return out;
}

inline std::string_view status_class(cell_status s) noexcept {
    switch (s) {
        case cell_status::pass: return "pass";
        case cell_status::mismatch: return "fail";
        case cell_status::missing: return "missing";
        case cell_status::error: return "error";
    }
    return "error";
}

/// The worst result of a row's cells: error > fail > missing > pass.
inline cell_status row_status(const row_result& r) noexcept {
    auto rank = [](cell_status s) {
        switch (s) {
            case cell_status::pass: return 0;
            case cell_status::missing: return 1;
            case cell_status::mismatch: return 2;
            case cell_status::error: return 3;
        }
        return 3;
    };
    cell_status worst = cell_status::pass;
    for (const auto& c : r.cells)
        if (rank(c.status) > rank(worst)) worst = c.status;
    return worst;
}

inline std::string row_anchor(const table_result& t, const row_result& r) { return fmt::format("{}--{}", t.name, r.id); }

/// A Markdown pipe table as an HTML table (other lines as paragraphs).
inline std::string markdown_table_html(std::string_view md) {
    std::string out;
    bool in_table = false, header = true;
    std::size_t pos = 0;
    while (pos <= md.size()) {
        std::size_t nl = md.find('\n', pos);
        std::string_view line = md.substr(pos, nl == std::string_view::npos ? md.size() - pos : nl - pos);
        pos = nl == std::string_view::npos ? md.size() + 1 : nl + 1;
        if (!line.empty() && line.front() == '|') {
            if (!in_table) {
                out += "<table class=\"cells\">\n";
                in_table = true;
                header = true;
            }
            if (line.find_first_not_of("|-: ") == std::string_view::npos) continue;  // the |---| line
            std::string row = "<tr>";
            std::size_t a = 1;
            while (a < line.size()) {
                std::size_t b = line.find('|', a);
                if (b == std::string_view::npos) b = line.size();
                std::string_view cell = line.substr(a, b - a);
                while (!cell.empty() && cell.front() == ' ') cell.remove_prefix(1);
                while (!cell.empty() && cell.back() == ' ') cell.remove_suffix(1);
                row += fmt::format("<{0}>{1}</{0}>", header ? "th" : "td", html_escape(cell));
                a = b + 1;
            }
            out += row + "</tr>\n";
            header = false;
        } else {
            if (in_table) out += "</table>\n";
            in_table = false;
            if (!line.empty()) out += fmt::format("<p>{}</p>\n", html_escape(line));
        }
    }
    if (in_table) out += "</table>\n";
    return out;
}

inline std::string matrix_html(const table_result& t) {
    const table_matrix& m = *t.matrix;
    std::string s = fmt::format("<table class=\"matrix\" data-table=\"{}\">\n<tr><th>{} \\ {}</th>", html_escape(t.name),
                                html_escape(m.rows_name), html_escape(m.cols_name));
    for (const auto& c : m.cols) s += fmt::format("<th>{}</th>", html_escape(c));
    s += "</tr>\n";
    for (const auto& rv : m.rows) {
        s += fmt::format("<tr><th>{}</th>", html_escape(rv));
        for (const auto& cv : m.cols) {
            const std::string id = rv + "-" + cv;
            const row_result* row = nullptr;
            for (const auto& r : t.rows)
                if (r.id == id) row = &r;
            if (!row) {
                s += "<td class=\"absent\">not in this run</td>";
                continue;
            }
            const cell_status st = row_status(*row);
            std::string lines;
            for (const auto& c : row->cells)
                lines += fmt::format("<div class=\"c {}\">{}: {}</div>", status_class(c.status), html_escape(c.label),
                                     html_escape(c.observed.empty() ? "-" : c.observed));
            s += fmt::format("<td class=\"{}\"><a href=\"#{}\"><b>{}</b></a>{}</td>", status_class(st),
                             html_escape(row_anchor(t, *row)), to_string(st), lines);
        }
        s += "</tr>\n";
    }
    return s + "</table>\n";
}

}  // namespace detail

/// The report page.
inline std::string to_html(const html_report& rep) {
    using detail::html_escape;
    auto n = count_cells(rep.tables);
    std::size_t rows = 0;
    for (const auto& t : rep.tables) rows += t.rows.size();
    std::string s = fmt::format(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n"
        "body{{font-family:sans-serif;margin:1.5em;color:#222}} h1{{margin-bottom:0.2em}}\n"
        "table{{border-collapse:collapse;margin:0.6em 0}} th,td{{border:1px solid #bbb;padding:3px 6px;vertical-align:top;"
        "font-size:13px}}\n"
        ".pass{{background:#d7f5d7}} .fail{{background:#f8c9c9}} .missing{{background:#fde3b0}} "
        ".error{{background:#e3cdf5}} .absent{{background:#eee;color:#888}}\n"
        "table.matrix td{{min-width:11em}} table.matrix a{{color:inherit}} .c{{font-size:11px}}\n"
        ".summary span{{display:inline-block;padding:3px 10px;margin-right:6px;border-radius:3px}}\n"
        "details{{margin:0.3em 0}} img.topology{{max-width:100%;border:1px solid #ccc;background:#fff}}\n"
        "code{{background:#f3f3f3;padding:1px 3px}}\n</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        html_escape(rep.title), html_escape(rep.title));
    if (!rep.subtitle.empty()) s += fmt::format("<p>{}</p>\n", html_escape(rep.subtitle));
    s += fmt::format(
        "<p class=\"summary\" id=\"summary\"><span class=\"pass\">{} PASS</span><span class=\"fail\">{} FAIL</span>"
        "<span class=\"missing\">{} MISSING</span><span class=\"error\">{} ERROR</span> {} cells in {} rows, {:.1f} s: "
        "<b id=\"verdict\">{}</b></p>\n",
        n.pass, n.mismatch, n.missing, n.error, n.total(), rows, rep.seconds, exit_status(rep.tables) == 0 ? "passed" : "failed");
    s += "<p>A cell is <i>observed</i> (in a guest, or on the lab's host and network) or <i>evaluated by the model</i>; "
         "the last column says which. A cell nothing could observe is MISSING; a check that could not be carried out "
         "is ERROR. Both fail the run.</p>\n";
    if (!rep.mutation_markdown.empty())
        s += "<h2 id=\"mutation\">Mutation score</h2>\n" + detail::markdown_table_html(rep.mutation_markdown);
    s += "<h2>Tables</h2>\n<ul>\n";
    for (const auto& t : rep.tables) {
        auto tn = count_cells({t});
        s += fmt::format("<li><a href=\"#table-{}\">Table {}: {}</a> ({} of {} cells pass)</li>\n", html_escape(t.name), t.number,
                         html_escape(t.title), tn.pass, tn.total());
    }
    s += "</ul>\n";
    for (const auto& t : rep.tables) {
        s += fmt::format("<h2 id=\"table-{}\">Table {}: {}</h2>\n<p><code>{}</code> from <code>{}</code></p>\n",
                         html_escape(t.name), t.number, html_escape(t.title), html_escape(t.name), html_escape(t.file));
        if (t.matrix) s += detail::matrix_html(t);
        for (const auto& r : t.rows) {
            const cell_status st = detail::row_status(r);
            s += fmt::format("<h3 id=\"{}\" class=\"{}\">{} <small>({}, {:.1f} s)</small></h3>\n",
                             html_escape(detail::row_anchor(t, r)), detail::status_class(st), html_escape(r.id), to_string(st),
                             r.seconds);
            s += fmt::format("<p>Source: {}</p>\n", html_escape(r.source));
            if (!r.note.empty()) s += fmt::format("<p>{}</p>\n", html_escape(r.note));
            s += "<table class=\"cells\"><tr><th>cell</th><th>expected</th><th>observed</th><th>result</th>"
                 "<th>evaluated</th><th>detail</th></tr>\n";
            for (const auto& c : r.cells)
                s += fmt::format("<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                                 detail::status_class(c.status), html_escape(c.label), html_escape(c.expected),
                                 html_escape(c.observed.empty() ? "-" : c.observed), to_string(c.status),
                                 html_escape(to_string(c.origin)), html_escape(c.detail));
            s += "</table>\n";
            if (!rep.evidence) continue;
            const html_evidence ev = rep.evidence(t, r);
            if (!ev.command.empty()) s += fmt::format("<p>Run alone: <code>{}</code></p>\n", html_escape(ev.command));
            if (!ev.files.empty()) {
                s += "<details><summary>Evidence: the lab's report files</summary><ul>\n";
                for (const auto& f : ev.files)
                    s += fmt::format("<li><a href=\"{}\">{}</a></li>\n", html_escape(detail::url_path(f)), html_escape(f));
                s += "</ul></details>\n";
            }
            if (!ev.topology_svg.empty())
                s += fmt::format(
                    "<details><summary>Topology</summary><img class=\"topology\" src=\"{}\" alt=\"topology of "
                    "row {}\"></details>\n",
                    html_escape(detail::url_path(ev.topology_svg)), html_escape(r.id));
        }
    }
    s += "</body>\n</html>\n";
    return s;
}

}  // namespace vnet::lab
