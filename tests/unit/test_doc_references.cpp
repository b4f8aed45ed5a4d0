// Every document a comment, a string or a doc page points to is in the repository, and
// sources are named by their public tags (docs/sources.md), never by a file number of a
// private collection. The test reads the source tree (VNET_SOURCE_DIR) as text and lists
// every offender with file, line and what is wrong, so a broken reference is found where
// it is written.
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fs = std::filesystem;

namespace {

/// One reference that does not resolve.
struct offender {
    std::string file;  // relative to the source folder
    std::size_t line = 0;
    std::string token;  // what is written
    std::string kind;   // which rule it breaks: a key of known_offenders
    std::string why;
};

std::ostream& operator<<(std::ostream& os, const offender& o) {
    return os << o.file << ":" << o.line << ": " << o.token << ": " << o.why;
}

/// The folders and files of the tree that may cite documents. Captures and fuzz seeds are
/// data, not text.
const std::vector<std::string> scanned_roots = {
    "include", "tools", "tests", "fixtures/conformance", "fixtures/labs", "fixtures/captures/README.md", "ci", "vm-images",
    "bench",   "cmake", "docs",  "CMakeLists.txt",       "README.md"};

/// This file names the patterns it looks for.
constexpr std::string_view this_file = "tests/unit/test_doc_references.cpp";

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool is_text(const std::string& s) { return s.find('\0') == std::string::npos; }

/// The tree's text files, relative to `root`, sorted.
std::vector<std::string> tree_files(const fs::path& root) {
    std::vector<std::string> out;
    for (const auto& r : scanned_roots) {
        const fs::path p = root / r;
        if (fs::is_regular_file(p)) {
            out.push_back(r);
        } else if (fs::is_directory(p)) {
            for (const auto& e : fs::recursive_directory_iterator(p))
                if (e.is_regular_file()) out.push_back(fs::relative(e.path(), root).generic_string());
        }
    }
    std::ranges::sort(out);
    return out;
}

/// Every reference in `text` (the file `file`, relative to `root`) that does not resolve.
std::vector<offender> check_text(const fs::path& root, const std::string& file, const std::string& text) {
    static const std::regex seed_number(R"(seed 00[0-9])");
    static const std::regex seed_file(R"(\b00[0-9]_[0-9a-f]{16}(\.txt)?)");
    static const std::regex outside(R"((\.\./shared|/work/shared)\b)");
    static const std::regex old_doc(R"(\b(DESIGN|STYLE|LAB-NOTES|EFLOW-FACTS|NETVSC-FACTS)(\.md)?\b)");
    static const std::regex docs_path(R"(\bdocs/[A-Za-z0-9_.-]+\.md\b)");
    static const std::regex md_link(R"(\]\(([^)#:\s]+\.md)(#[^)]*)?\))");

    std::vector<offender> out;
    std::istringstream in(text);
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
        auto each = [&](const std::regex& re, auto&& judge) {
            for (std::sregex_iterator it(line.begin(), line.end(), re), end; it != end; ++it) judge(*it);
        };
        each(seed_number, [&](const std::smatch& m) {
            out.push_back({file, n, m.str(), "file number",
                           "a file number means nothing to a reader: cite the source's tag and section (docs/sources.md)"});
        });
        each(seed_file, [&](const std::smatch& m) {
            out.push_back({file, n, m.str(), "file name",
                           "a file name outside the repository: cite the source's tag and section (docs/sources.md)"});
        });
        each(outside, [&](const std::smatch& m) {
            out.push_back({file, n, m.str(), "outside path", "a path outside the repository: cite docs/ instead"});
        });
        each(old_doc, [&](const std::smatch& m) {
            const std::string name = m.str(1) + ".md";
            if (!fs::exists(root / name) && !fs::exists(root / "docs" / name))
                out.push_back(
                    {file, n, m.str(), "old document", "no such document in the repository: cite the docs/ file that holds it"});
        });
        each(docs_path, [&](const std::smatch& m) {
            if (!fs::exists(root / m.str())) out.push_back({file, n, m.str(), "missing file", "no such file in the repository"});
        });
        if (file.ends_with(".md"))
            each(md_link, [&](const std::smatch& m) {
                const fs::path target = (root / file).parent_path() / m.str(1);
                if (!fs::exists(target)) out.push_back({file, n, m.str(1), "broken link", "the link's target does not exist"});
            });
    }
    return out;
}

/// Offenders known when the check was written, in files other developers are rewriting at
/// the same time: file -> kind of offence -> how many. Each owner's rewrite removes its entries; the
/// test fails when a count grows (a new offender) and when it shrinks (lower the entry),
/// so the list only gets shorter until it is empty.
/// Files allowed to break a rule, with how many times: none. A file that must break one for
/// a while is listed here with its count, and the test asks for the entry to shrink.
const std::map<std::string, std::map<std::string, std::size_t>> known_offenders = {};

}  // namespace

BOOST_AUTO_TEST_SUITE(doc_references)

// The checker itself: each kind of broken reference is found, and good ones are not.
BOOST_AUTO_TEST_CASE(the_checker_finds_each_kind) {
    const fs::path root = vnet::test::source_dir();
    auto found = [&](const std::string& file, const std::string& text) { return check_text(root, file, text).size(); };
    BOOST_TEST(found("a.hpp", "// seed 000 \"DNS\"") == 1u);
    BOOST_TEST(found("a.hpp", "// (000_ad1f2ef22b99d459.txt) \"DNS\"") == 1u);
    BOOST_TEST(found("a.hpp", "// see ../shared/x") == 1u);
    BOOST_TEST(found("a.hpp", "// DESIGN.md \"Principles\"; EFLOW-FACTS [AD]") == 2u);
    BOOST_TEST(found("a.hpp", "// docs/no-such-page.md") == 1u);
    BOOST_TEST(found("docs/a.md", "see [the design](nothing-here.md)") == 1u);
    BOOST_TEST(found("a.hpp", "// [NW] \"DNS\"; docs/design.md \"Principles\"; docs/sources.md") == 0u);
    BOOST_TEST(found("docs/a.md", "see [the design](design.md#layers) and [x](https://example.org/a.md)") == 0u);
}

// The tree: every reference resolves, apart from the known offenders listed above.
BOOST_AUTO_TEST_CASE(every_reference_in_the_tree_resolves) {
    const fs::path root = vnet::test::source_dir();
    BOOST_REQUIRE(fs::is_directory(root / "docs"));
    std::map<std::string, std::map<std::string, std::size_t>> counts;
    std::vector<offender> all;
    std::size_t files = 0;
    for (const auto& f : tree_files(root)) {
        if (f == this_file) continue;
        const std::string text = slurp(root / f);
        if (!is_text(text)) continue;
        ++files;
        for (auto& o : check_text(root, f, text)) {
            ++counts[o.file][o.kind];
            all.push_back(std::move(o));
        }
    }
    BOOST_TEST(files > 100u);
    for (const auto& o : all) {
        const auto f = known_offenders.find(o.file);
        const bool known = f != known_offenders.end() && f->second.contains(o.kind);
        if (known) BOOST_TEST_MESSAGE("known, to be fixed by its owner: " << o);
        else BOOST_ERROR(o);
    }
    for (const auto& [file, kinds] : known_offenders)
        for (const auto& [kind, allowed] : kinds) {
            const auto f = counts.find(file);
            const std::size_t now = f == counts.end() || !f->second.contains(kind) ? 0 : f->second.at(kind);
            BOOST_TEST(now <= allowed, file << ": " << kind << ": " << now << " offenders, " << allowed << " known");
            BOOST_TEST(now >= allowed, file << ": " << kind << ": " << now << " offenders left of " << allowed
                                            << " known: lower the entry in known_offenders");
        }
}

BOOST_AUTO_TEST_SUITE_END()
