// index.html of report folders (vnet/lab/report_html.hpp): matrices drawn from the rows,
// every result coloured, text escaped, evidence linked.
#include <boost/test/unit_test.hpp>

#include <string>

#include <vnet/lab/report_html.hpp>

using namespace vnet::lab;

namespace {

cell_result cell(std::string label, std::string expected, std::string observed, cell_status st) {
    cell_result c;
    c.label = std::move(label);
    c.expected = std::move(expected);
    c.observed = std::move(observed);
    c.status = st;
    c.origin = cell_origin::guest;
    return c;
}

table_result switch_sku() {
    table_result t;
    t.name = "switch-sku";
    t.title = "Switch type x host SKU";
    t.number = 1;
    t.matrix = table_matrix{"switch type", {"external", "internal"}, "host SKU", {"client", "server"}};
    row_result a;
    a.id = "external-client";
    a.cells = {cell("support", "ok", "ok", cell_status::pass)};
    row_result b;
    b.id = "internal-client";
    b.cells = {cell("support", "fail", "ok", cell_status::mismatch), cell("ping", "ok", "", cell_status::error)};
    row_result c;
    c.id = "unknown-type-server";
    c.cells = {cell("deploy", "Error: <bad> & \"quoted\"", "Error: <bad> & \"quoted\"", cell_status::pass)};
    t.rows = {a, b, c};
    return t;
}

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(matrix_cells_take_the_worst_result_of_their_row) {
    html_report rep;
    rep.tables = {switch_sku()};
    const std::string html = to_html(rep);
    BOOST_TEST(count(html, "<table class=\"matrix\"") == 1u);
    // external-client passed; internal-client has an ERROR cell (worse than its FAIL)
    BOOST_TEST(html.find("<td class=\"pass\"><a href=\"#switch-sku--external-client\"><b>PASS</b>") != std::string::npos);
    BOOST_TEST(html.find("<td class=\"error\"><a href=\"#switch-sku--internal-client\"><b>ERROR</b>") != std::string::npos);
    // the two server columns have no row in this run: said so, not drawn as a result
    BOOST_TEST(count(html, "<td class=\"absent\">not in this run</td>") == 2u);
    // the row outside the matrix still has its section
    BOOST_TEST(html.find("id=\"switch-sku--unknown-type-server\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(summary_counts_and_verdict) {
    html_report rep;
    rep.tables = {switch_sku()};
    const std::string html = to_html(rep);
    BOOST_TEST(html.find("<span class=\"pass\">2 PASS</span><span class=\"fail\">1 FAIL</span>") != std::string::npos);
    BOOST_TEST(html.find("<span class=\"error\">1 ERROR</span>") != std::string::npos);
    BOOST_TEST(html.find("<b id=\"verdict\">failed</b>") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(text_is_escaped) {
    html_report rep;
    rep.title = "a <lab> & co";
    rep.tables = {switch_sku()};
    const std::string html = to_html(rep);
    BOOST_TEST(html.find("<lab>") == std::string::npos);
    BOOST_TEST(html.find("a &lt;lab&gt; &amp; co") != std::string::npos);
    BOOST_TEST(html.find("Error: &lt;bad&gt; &amp; &quot;quoted&quot;") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(evidence_links_are_url_encoded_and_escaped) {
    html_report rep;
    rep.tables = {switch_sku()};
    rep.evidence = [](const table_result& t, const row_result& r) {
        html_evidence ev;
        ev.files = {"rows/" + t.name + "-" + r.id + "/serial eflow.log"};
        ev.topology_svg = "rows/" + t.name + "-" + r.id + "/topology.svg";
        ev.command = "vnet conformance --table " + t.name;
        return ev;
    };
    const std::string html = to_html(rep);
    BOOST_TEST(html.find("<a href=\"rows/switch-sku-external-client/serial%20eflow.log\">") != std::string::npos);
    BOOST_TEST(html.find("src=\"rows/switch-sku-internal-client/topology.svg\"") != std::string::npos);
    BOOST_TEST(count(html, "Run alone: <code>vnet conformance --table switch-sku</code>") == 3u);
}

BOOST_AUTO_TEST_CASE(mutation_score_table) {
    html_report rep;
    rep.tables = {switch_sku()};
    rep.mutation_markdown = "| mutant | killed |\n|---|---|\n| switch-floods | yes |\nscore: 1/1\n";
    const std::string html = to_html(rep);
    BOOST_TEST(html.find("<h2 id=\"mutation\">Mutation score</h2>") != std::string::npos);
    BOOST_TEST(html.find("<tr><th>mutant</th><th>killed</th></tr>") != std::string::npos);
    BOOST_TEST(html.find("<tr><td>switch-floods</td><td>yes</td></tr>") != std::string::npos);
    BOOST_TEST(html.find("<p>score: 1/1</p>") != std::string::npos);
}
