// The conformance tables and their runner (include/vnet/lab/conformance.hpp): the loader's
// errors (FILE:LINE: KEY), every table of fixtures/conformance loads, row -> lab_file
// generation, sharding, the reports (JUnit XML well-formed), and the runner with a fake
// executor (pass, mismatch, missing, error, exit status, parallel rows).
// Sources of the rules checked here: docs/design.md "CLI" (vnet conformance, exit status),
// the issue "Conformance tables" / "Running them" (missing cells never pass, rows marked
// model or VM), and the sources each fixture row cites (docs/sources.md).
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <vnet/lab/conformance.hpp>

using namespace vnet;
using namespace vnet::lab;

namespace {

/// Whether a row's source names a source of docs/sources.md (by tag) or docs/eflow-facts.md.
bool cites_a_source(std::string_view source) {
    static constexpr std::string_view cited[] = {
        "[NW]", "[TS]", "[HV]", "[IS]", "[FN]", "[MN]", "[VS]", "[AD]", "[RT]", "[PS]", "docs/eflow-facts.md"};
    return std::ranges::any_of(cited, [&](std::string_view c) { return source.find(c) != std::string_view::npos; });
}

const std::string tables_dir = vnet::test::source_dir() + "/fixtures/conformance";

/// A fake VM executor: every check observes what it expects, except the overrides
/// (by "<lab name>/<check index>"), which give a chosen outcome. Thread-safe.
struct fake_executor : lab_executor {
    std::map<std::string, check_outcome> overrides;
    std::map<std::string, std::string> errors;  // lab name -> execution error
    std::atomic<int> runs{0};
    std::atomic<int> in_flight{0};
    std::atomic<int> max_in_flight{0};
    std::mutex mu;
    std::vector<std::string> labs;

    execution run(const lab_file& lf, const exec_options&) override {
        ++runs;
        int now = ++in_flight;
        int seen = max_in_flight.load();
        while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {}
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        execution ex;
        {
            std::lock_guard lock(mu);
            labs.push_back(lf.name);
            if (auto e = errors.find(lf.name); e != errors.end()) ex.error = e->second;
            for (std::size_t i = 0; i < lf.checks.size(); ++i) {
                auto o = overrides.find(fmt::format("{}/{}", lf.name, i));
                // as the runtime does: a check from a VM is observed in that guest
                const bool guest = lf.find_vm(lf.checks[i].from) != nullptr && rules_of(lf.checks[i].kind).in_guest;
                ex.checks.push_back(o != overrides.end() ? o->second : check_outcome{lf.checks[i].expect, "fake", true, guest});
            }
        }
        --in_flight;
        return ex;
    }
};

std::string error_of(std::string_view text) {
    auto t = parse_table(text, "t.toml");
    BOOST_REQUIRE(!t);
    return t.error().to_string();
}

const std::string header = R"([table]
name = "demo"
number = 42
title = "Demo"
)";

/// A minimal XML 1.0 well-formedness check: tags nest, attributes are quoted, '&' starts
/// a known entity or a character reference, no raw '<' in text, no control characters.
bool well_formed_xml(std::string_view x, std::string& why) {
    std::vector<std::string> stack;
    std::size_t i = 0;
    if (x.substr(0, 5) == "<?xml") i = x.find("?>") + 2;
    auto entity_ok = [&](std::size_t at) {
        for (std::string_view e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
            if (x.substr(at, e.size()) == e) return true;
        if (x.substr(at, 2) == "&#") {
            auto semi = x.find(';', at);
            return semi != std::string_view::npos && semi - at <= 10;
        }
        return false;
    };
    while (i < x.size()) {
        char c = x[i];
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 && c != '\n' && c != '\t' && c != '\r') return why = "control character", false;
        if (c == '&') {
            if (!entity_ok(i)) return why = fmt::format("bad entity at {}", i), false;
            ++i;
            continue;
        }
        if (c != '<') {
            ++i;
            continue;
        }
        auto end = x.find('>', i);
        if (end == std::string_view::npos) return why = "unclosed tag", false;
        std::string_view tag = x.substr(i + 1, end - i - 1);
        // attribute values: quoted, no raw '<' inside
        bool in_q = false;
        for (std::size_t k = 0; k < tag.size(); ++k) {
            if (tag[k] == '"') in_q = !in_q;
            else if (tag[k] == '<') return why = "'<' inside a tag", false;
            else if (tag[k] == '&' && !entity_ok(i + 1 + k)) return why = "bad entity in an attribute", false;
        }
        if (in_q) return why = "unbalanced quote", false;
        if (tag.empty()) return why = "empty tag", false;
        if (tag[0] == '/') {
            std::string name(tag.substr(1));
            if (stack.empty() || stack.back() != name) return why = fmt::format("mismatched </{}>", name), false;
            stack.pop_back();
        } else if (tag.back() != '/') {
            stack.emplace_back(tag.substr(0, tag.find_first_of(" \t\n")));
        }
        i = end + 1;
    }
    if (!stack.empty()) return why = fmt::format("unclosed <{}>", stack.back()), false;
    return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(loader)

BOOST_AUTO_TEST_CASE(errors_name_file_line_and_key) {
    // An unknown row key: line of the key.
    BOOST_TEST(error_of(header + "[[row]]\nid = \"a\"\nsource = \"s\"\neval = \"model\"\ncolour = 1\n"
                                 "cells = [ { kind = \"switch_op\", op = \"vnic x\", expect = \"none\" } ]\n")
                   .find("t.toml:9: row.colour: unknown key") == 0);
    // Every row cites its source.
    BOOST_TEST(error_of(header + "[[row]]\nid = \"a\"\neval = \"model\"\ncells = []\n").find("row.source: missing") !=
               std::string::npos);
    // eval must be model | vm.
    BOOST_TEST(error_of(header + "[[row]]\nid = \"a\"\nsource = \"s\"\neval = \"maybe\"\n")
                   .find("t.toml:8: row.eval: 'maybe' is not one of model | vm") == 0);
    // A VM cell on a model row is refused: a model row never pretends to observe a VM.
    BOOST_TEST(error_of(header + "[[row]]\nid = \"a\"\nsource = \"s\"\neval = \"model\"\n"
                                 "cells = [\n  { kind = \"ping\", to = \"internet\", expect = \"ok\" },\n]\n")
                   .find("t.toml:10: row.cells.kind: a ping cell needs a VM") == 0);
    // Unknown cell kind.
    BOOST_TEST(error_of(header + "[[row]]\nid = \"a\"\nsource = \"s\"\neval = \"model\"\n"
                                 "cells = [ { kind = \"telepathy\", expect = \"ok\" } ]\n")
                   .find("row.cells.kind: 'telepathy' is not one of") != std::string::npos);
    // Duplicate row ids.
    std::string row =
        "[[row]]\nid = \"a\"\nsource = \"s\"\neval = \"model\"\n"
        "cells = [ { kind = \"switch_op\", op = \"vnic x\", expect = \"none\" } ]\n";
    BOOST_TEST(error_of(header + row + row).find("row.id: the row id 'a' is used twice") != std::string::npos);
    // TOML syntax error: its line.
    BOOST_TEST(error_of(header + "[[row]]\nid = \n").find("t.toml:6") == 0);
    // No [table].
    BOOST_TEST(error_of("[[row]]\nid = \"a\"\n").find("table") != std::string::npos);
    // A bad deploy command (unterminated quote).
    BOOST_TEST(error_of(header + "[[row]]\nid = \"a\"\nsource = \"s\"\neval = \"model\"\n"
                                 "deploy = 'Deploy-Eflow -vSwitchName \"x'\ncells = [ { kind = \"deploy\", expect = \"ok\" } ]\n")
                   .find("t.toml:9: row.deploy:") == 0);
}

BOOST_AUTO_TEST_CASE(fragment_errors_keep_the_fragment_line) {
    // A bad address in a [[row.vm.nic]]: the lab-file reader reports the line in the table file.
    auto e = error_of(header + R"([[row]]
id = "frag"
source = "s"
eval = "vm"
cells = [ { kind = "ping", from = "vm1", to = "internet", expect = "ok" } ]
  [[row.switch]]
  name = "P"
  kind = "private"
  [[row.vm]]
  name = "vm1"
    [[row.vm.nic]]
    switch = "P"
    ip = "static"
    address = "10.0.0.300/24"
)");
    BOOST_TEST(e.find("t.toml:18: vm.nic.address:") == 0, e);
    BOOST_TEST(e.find("(row frag)") != std::string::npos, e);
    // A reference to a switch that no fragment declares.
    auto e2 = error_of(header + R"([[row]]
id = "frag"
source = "s"
eval = "vm"
cells = [ { kind = "ping", from = "vm1", to = "internet", expect = "ok" } ]
  [[row.vm]]
  name = "vm1"
    [[row.vm.nic]]
    switch = "Nowhere"
)");
    BOOST_TEST(e2.find("vm.nic.switch: no [[switch]] named 'Nowhere'") != std::string::npos, e2);
}

BOOST_AUTO_TEST_CASE(every_table_loads) {
    auto t = load_tables(tables_dir);
    BOOST_REQUIRE_MESSAGE(t.has_value(), (t ? std::string() : t.error().to_string()));
    BOOST_TEST(t->size() == 9u);
    std::set<std::string> names;
    for (std::size_t i = 0; i < t->size(); ++i) {
        const auto& tab = (*t)[i];
        BOOST_TEST(tab.number == static_cast<int>(i + 1));
        names.insert(tab.name);
        for (const auto& r : tab.rows) {
            // Every row cites its source: a tag of docs/sources.md or docs/eflow-facts.md.
            BOOST_TEST(cites_a_source(r.source), tab.name << "/" << r.id << ": " << r.source);
            for (const auto& c : r.cells)
                if (is_vm_kind(c.kind)) {
                    BOOST_TEST((r.eval == row_eval::vm));
                    BOOST_REQUIRE(c.check_index.has_value());
                    BOOST_TEST(r.lab.checks.at(*c.check_index).expect == c.expect);
                }
        }
    }
    BOOST_TEST(names.count("switch-sku") == 1u);
    BOOST_TEST(names.count("troubleshooting") == 1u);
}

BOOST_AUTO_TEST_CASE(a_bad_table_folder_is_refused) { BOOST_TEST(!load_tables("/nonexistent-folder")); }

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(generation)

const table_spec& table(const std::vector<table_spec>& ts, std::string_view name) {
    for (const auto& t : ts)
        if (t.name == name) return t;
    BOOST_FAIL("no table " << name);
    return ts.front();
}
const row_spec& row(const table_spec& t, std::string_view id) {
    for (const auto& r : t.rows)
        if (r.id == id) return r;
    BOOST_FAIL("no row " << id);
    return t.rows.front();
}

BOOST_AUTO_TEST_CASE(static_external_row) {
    // [NW] "IP address allocations": the Deploy-Eflow static example.
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    const auto& r = row(table(*ts, "switch-ip"), "external-static");
    BOOST_TEST(r.needs_vm());
    BOOST_REQUIRE(r.deploy);
    BOOST_TEST(r.deploy->report.ok());
    const auto* sw = r.lab.find_switch("ExternalEflow");
    BOOST_REQUIRE(sw);
    BOOST_TEST((sw->kind == switch_kind::external));
    BOOST_TEST(*sw->network == "lan");
    const auto* vm = r.lab.find_vm("eflow");
    BOOST_REQUIRE(vm);
    BOOST_REQUIRE(vm->nics.size() == 1u);
    BOOST_TEST((vm->nics[0].ip == ip_mode::static_));
    BOOST_TEST(fmt::format("{}", *vm->nics[0].address) == "192.168.0.100/24");
    BOOST_TEST(fmt::format("{}", *vm->nics[0].gateway) == "192.168.0.1");
    BOOST_REQUIRE(vm->nics[0].dns.size() == 1u);
    // The cells' symbolic targets are resolved: gateway -> 192.168.0.1, internet -> 198.51.100.10.
    // Then the ARP probes of the address (free) and the gateway (the LAN router answers),
    // run on the lab network before the VM boots (docs/eflow-facts.md [AD] rules 12 and 16).
    BOOST_REQUIRE(r.lab.checks.size() == 4u);
    BOOST_TEST(r.lab.checks[0].to == "192.168.0.1");
    BOOST_TEST(r.lab.checks[1].to == "198.51.100.10");
    BOOST_TEST((r.lab.checks[2].kind == check_kind::arp));
    BOOST_TEST(r.lab.checks[2].from == "host");
    BOOST_TEST(r.lab.checks[2].to == "192.168.0.100");
    BOOST_TEST(r.lab.checks[2].expect == "fail");
    BOOST_TEST(r.lab.checks[3].to == "192.168.0.1");
    BOOST_TEST(r.lab.checks[3].expect == "ok");
    BOOST_REQUIRE(r.probe_checks.size() == 2u);
    BOOST_TEST(r.probe_checks[1].second == 3u);
    BOOST_TEST(r.lab.name == "t2-external-static");
    BOOST_TEST(r.lab.find_network("lan")->dhcp.has_value());
}

BOOST_AUTO_TEST_CASE(dhcp_rows_add_the_lease_check_and_the_mac_filter) {
    // [TS] "Check IP addresses" External | DHCP: a MAC-filtering DHCP server.
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    const auto& r = row(table(*ts, "dhcp"), "mac-filter-denied");
    const auto* lan = r.lab.find_network("lan");
    BOOST_REQUIRE(lan && lan->dhcp);
    BOOST_REQUIRE(lan->dhcp->allow_macs.size() == 1u);
    BOOST_TEST(fmt::format("{}", lan->dhcp->allow_macs[0]) == "00:15:5d:00:00:99");
    BOOST_TEST(fmt::format("{}", *r.lab.find_vm("eflow")->nics[0].mac) == "00:15:5d:00:00:10");
    BOOST_REQUIRE(r.lease_check.has_value());
    BOOST_TEST((r.lab.checks.at(*r.lease_check).kind == check_kind::dhcp));
    // No DHCP server: the LAN has none.
    BOOST_TEST(!row(table(*ts, "dhcp"), "no-dhcp-server").lab.find_network("lan")->dhcp.has_value());
}

BOOST_AUTO_TEST_CASE(refused_deploy_deploys_nothing) {
    // docs/eflow-facts.md [AD]: the address answers a probe -> "in use"; nothing is deployed.
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    const auto& r = row(table(*ts, "static-ip"), "address-in-use");
    BOOST_TEST(!r.deployed());
    BOOST_TEST(r.deploy->report.error->message == "Error: ip4Address 192.168.0.50 in use");
    BOOST_TEST(r.lab.vms.empty());
    // A lab still runs: its ARP probes decide the deploy cell on the real network.
    BOOST_TEST(r.needs_vm());
    BOOST_REQUIRE(r.lab.checks.size() == 2u);
    BOOST_TEST((r.lab.checks[0].kind == check_kind::arp));
    BOOST_TEST(r.lab.checks[0].to == "192.168.0.50");
    BOOST_TEST(r.lab.checks[0].expect == "ok");
}

BOOST_AUTO_TEST_CASE(draw_seed_fixes_the_metrics) {
    // docs/eflow-facts.md "Routing with several NICs": random metric per NIC; the row fixes the draw.
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    const auto& failing = row(table(*ts, "multi-nic"), "random-draw-failing");
    const auto* vm = failing.lab.find_vm("eflow");
    BOOST_REQUIRE(vm && vm->nics.size() == 2u);
    BOOST_REQUIRE(vm->nics[0].metric && vm->nics[1].metric);
    BOOST_TEST(*vm->nics[0].metric > *vm->nics[1].metric);  // eth1 wins: the failing draw
    const auto* vm2 = row(table(*ts, "multi-nic"), "random-draw-working").lab.find_vm("eflow");
    BOOST_TEST(*vm2->nics[0].metric < *vm2->nics[1].metric);  // eth0 wins
}

BOOST_AUTO_TEST_CASE(diagnosis_rows_append_the_guides_checks) {
    // [TS]: lease, gateway, internet, name, DNS server, 8883/5671/443.
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    const auto& r = row(table(*ts, "troubleshooting"), "dns-server-down");
    BOOST_REQUIRE(r.diag_plan);
    BOOST_TEST(r.diag_first_check == 0u);
    BOOST_TEST(r.lab.checks.size() == r.diag_plan->checks.size());
    std::size_t tcp = 0;
    for (const auto& c : r.lab.checks) tcp += c.kind == check_kind::tcp;
    BOOST_TEST(tcp == 3u);
}

BOOST_AUTO_TEST_CASE(internal_dhcp_declares_a_dhcp_server_on_the_switch) {
    // [TS] "Check IP addresses": Internal | DHCP needs a DHCP server on the internal
    // network; the row's switch declares one (dnsmasq on the host vNIC in the lab).
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    const auto& r = row(table(*ts, "switch-ip"), "internal-dhcp");
    BOOST_TEST(r.missing_reason.empty());
    BOOST_TEST(r.needs_vm());
    const auto* sw = r.lab.find_switch("InternalEflow");
    BOOST_REQUIRE(sw);
    BOOST_REQUIRE(sw->dhcp);
    BOOST_TEST(fmt::format("{}", sw->dhcp->range_first) == "172.20.0.100");
    BOOST_TEST(fmt::format("{}", sw->dhcp->range_last) == "172.20.0.199");
    BOOST_REQUIRE(sw->dhcp->dns.size() == 1u);
    BOOST_TEST(fmt::format("{}", sw->dhcp->dns[0]) == "172.20.0.1");
    fake_executor fx;
    auto res = evaluate_row(r, &fx, {});
    BOOST_TEST(fx.runs.load() == 1);
    for (const auto& c : res.cells) BOOST_TEST((c.status == cell_status::pass), c.label);
}

BOOST_AUTO_TEST_CASE(a_dhcp_vm_on_an_internal_switch_without_a_server_stays_missing) {
    auto t = parse_table(header + R"T([[row]]
id = "x"
source = "[TS] test"
eval = "vm"
cells = [ { kind = "ping", from = "vm9", to = "172.20.0.1", expect = "ok" } ]
  [[row.switch]]
  name = "Bare"
  kind = "internal"
  host_address = "172.21.0.1/24"
  [[row.vm]]
  name = "vm9"
    [[row.vm.nic]]
    switch = "Bare"
)T",
                         "x.toml");
    BOOST_REQUIRE_MESSAGE(t.has_value(), (t ? std::string() : t.error().to_string()));
    const auto& r = t->rows.at(0);
    BOOST_TEST(r.missing_reason.find("no DHCP server on internal switch Bare") != std::string::npos);
    BOOST_TEST(!r.needs_vm());
}

BOOST_AUTO_TEST_CASE(flooding_and_reboot_cells_become_lab_checks) {
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    const auto& learning = row(table(*ts, "switch"), "learning");
    BOOST_REQUIRE(learning.lab.checks.size() == 3u);
    const auto& fl = learning.lab.checks[2];
    BOOST_TEST((fl.kind == check_kind::flooding));
    BOOST_TEST(fl.from == "vm1");
    BOOST_TEST(fl.to == "vm2");
    BOOST_TEST(fl.expect == "first frame flooded, later frames to one port");
    BOOST_TEST(learning.lab.vms.size() == 3u);  // a third port to see the flood
    const auto& reboot = row(table(*ts, "switch"), "mac-kept-reboot");
    BOOST_REQUIRE(reboot.lab.checks.size() == 2u);
    BOOST_TEST((reboot.lab.checks[1].kind == check_kind::reboot));
    BOOST_TEST(reboot.lab.checks[1].from == "eflow");
    BOOST_TEST(reboot.lab.checks[1].expect == "00:15:5d:00:0a:00");
    // mac = "dynamic": the lab gives the NIC no MAC, so the host's pool allocates one.
    BOOST_REQUIRE(reboot.lab.vms.size() == 1u);
    BOOST_TEST(!reboot.lab.vms[0].nics[0].mac.has_value());
    BOOST_TEST(reboot.needs_vm());
}

// host_dhcp = true leases the host's LAN address; link_local cells become link_local checks
// from the host or a VM; route_via_host reaches the lab file's peer.
BOOST_AUTO_TEST_CASE(apipa_and_inbound_rows_build_their_labs) {
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    const auto& apipa = row(table(*ts, "dhcp"), "apipa-no-server");
    BOOST_TEST(apipa.lab.host.dhcp);
    BOOST_TEST(!apipa.lab.host.address.has_value());
    BOOST_TEST(!apipa.lab.networks.at(0).dhcp.has_value());
    BOOST_REQUIRE(apipa.lab.vms.size() == 1u);
    BOOST_TEST(apipa.lab.vms[0].apipa);
    BOOST_REQUIRE(apipa.lab.checks.size() == 4u);
    BOOST_TEST((apipa.lab.checks[0].kind == check_kind::link_local));
    BOOST_TEST(apipa.lab.checks[0].from == "host");
    BOOST_TEST(apipa.cells[0].label == "link-local address of host");
    BOOST_TEST(apipa.cells[1].label == "link-local address of vm1 eth0");
    const auto& inbound = row(table(*ts, "switch"), "default-no-inbound");
    BOOST_TEST(!inbound.lab.host.dhcp);
    BOOST_REQUIRE(inbound.lab.networks.at(0).peers.size() == 1u);
    BOOST_TEST(inbound.lab.networks[0].peers[0].route_via_host);
}

// lan_dhcp_lease sets the LAN server's lease time; an address_after_lease_loss cell is a
// lease_loss check from the deployed VM to the peer that takes the address.
BOOST_AUTO_TEST_CASE(lease_loss_row_builds_its_lab) {
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    const auto& lost = row(table(*ts, "dhcp"), "lease-lost-new-address");
    BOOST_REQUIRE(lost.lab.networks.at(0).dhcp.has_value());
    BOOST_TEST(lost.lab.networks[0].dhcp->lease_time.count() == 8);
    BOOST_TEST(row(table(*ts, "dhcp"), "lease-gateway-dns").lab.networks.at(0).dhcp->lease_time.count() == 3600);
    const check_config* check = nullptr;
    for (const auto& c : lost.lab.checks)
        if (c.kind == check_kind::lease_loss) check = &c;
    BOOST_REQUIRE(check != nullptr);
    BOOST_TEST(check->from == "eflow");
    BOOST_TEST(check->to == "laptop");
    BOOST_TEST(lost.cells.at(1).label == "eflow eth0 after its lease ran out and laptop took the address");

    const std::string vm_row = header + "[[row]]\nid = \"a\"\nsource = \"s\"\neval = \"vm\"\n";
    BOOST_TEST(error_of(vm_row + "cells = [ { kind = \"address_after_lease_loss\", expect = \"kept\" } ]\n")
                   .find("row.cells.to: an address_after_lease_loss cell needs the peer that takes the address") !=
               std::string::npos);
    BOOST_TEST(error_of(vm_row + "lan_dhcp = false\nlan_dhcp_lease = 8\n"
                                 "cells = [ { kind = \"ping\", from = \"host\", to = \"internet\", expect = \"ok\" } ]\n")
                   .find("row.lan_dhcp_lease: needs the LAN's DHCP server (lan_dhcp = true)") != std::string::npos);
    BOOST_TEST(error_of(vm_row + "lan_dhcp_lease = \"8s\"\n"
                                 "cells = [ { kind = \"ping\", from = \"host\", to = \"internet\", expect = \"ok\" } ]\n")
                   .find("row.lan_dhcp_lease: must be an integer (seconds)") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sharding)

BOOST_AUTO_TEST_CASE(shards_cover_every_row_exactly_once) {
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    std::size_t total = 0;
    for (const auto& t : *ts) total += t.rows.size();
    BOOST_TEST(select_rows(*ts).size() == total);
    for (unsigned n = 1; n <= 7; ++n) {
        std::map<std::pair<std::size_t, std::size_t>, int> seen;
        for (unsigned i = 1; i <= n; ++i) {
            auto part = select_rows(*ts, {i, n});
            BOOST_TEST(part == select_rows(*ts, {i, n}));  // deterministic
            for (const auto& r : part) ++seen[{r.table, r.row}];
        }
        BOOST_TEST(seen.size() == total);
        BOOST_TEST(std::all_of(seen.begin(), seen.end(), [](const auto& kv) { return kv.second == 1; }));
    }
    // --table selects one table.
    auto only = select_rows(*ts, {}, "firewall");
    BOOST_TEST(!only.empty());
    BOOST_TEST(std::all_of(only.begin(), only.end(), [&](const row_ref& r) { return (*ts)[r.table].name == "firewall"; }));
}

BOOST_AUTO_TEST_CASE(parse_shard_checks_its_text) {
    BOOST_TEST(parse_shard("2/4")->index == 2u);
    BOOST_TEST(parse_shard("2/4")->count == 4u);
    BOOST_TEST(!parse_shard("0/4"));
    BOOST_TEST(!parse_shard("5/4"));
    BOOST_TEST(!parse_shard("1/0"));
    BOOST_TEST(!parse_shard("1-4"));
    BOOST_TEST(!parse_shard("a/4"));
    BOOST_TEST(!parse_shard(""));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(runner)

const std::string vm_table = header + R"T(
[[row]]
id = "reach"
source = "[NW] test"
eval = "vm"
deploy = 'Deploy-Eflow -vSwitchName "ExternalEflow" -vSwitchType "External" -ip4Address 192.168.0.100 -ip4GatewayAddress 192.168.0.1 -ip4PrefixLength 24'
cells = [
  { kind = "deploy", expect = "ok" },
  { kind = "ping", to = "gateway", expect = "ok" },
  { kind = "tcp", port = 8883, expect = "ok" },
]

[[row]]
id = "lease"
source = "[NW] test"
eval = "vm"
deploy = 'Deploy-Eflow -vSwitchName "ExternalEflow" -vSwitchType "External"'
cells = [
  { kind = "deploy", expect = "ok" },
  { kind = "dhcp", expect = "ok" },
]

[[row]]
id = "rule"
source = "[NW] test"
eval = "model"
sku = "client"
deploy = 'Deploy-Eflow -vSwitchName "I" -vSwitchType "Internal"'
cells = [
  { kind = "support", expect = "fail" },
  { kind = "deploy", expect = "Error: vSwitchType is incorrect. Supported types : External (Client and Server) and Internal (Server)" },
]

[[row]]
id = "reboot"
source = "[NW] test"
eval = "vm"
deploy = 'Deploy-Eflow -vSwitchName "ExternalEflow" -vSwitchType "External"'
cells = [
  { kind = "mac_after_reboot", expect = "00:15:5d:00:00:10" },
]
)T";

std::vector<table_result> run_demo(fake_executor& fx, unsigned parallel = 2) {
    auto t = parse_table(vm_table, "demo.toml");
    BOOST_REQUIRE_MESSAGE(t.has_value(), (t ? std::string() : t.error().to_string()));
    std::vector<table_spec> ts{*t};
    run_config cfg;
    cfg.parallel = parallel;
    return run_conformance(ts, select_rows(ts), &fx, cfg);
}

const cell_result& cell(const std::vector<table_result>& r, std::string_view row_id, std::string_view label) {
    for (const auto& t : r)
        for (const auto& row : t.rows)
            if (row.id == row_id)
                for (const auto& c : row.cells)
                    if (c.label == label) return c;
    BOOST_FAIL("no cell " << row_id << " / " << label);
    return r.front().rows.front().cells.front();
}

BOOST_AUTO_TEST_CASE(all_expected_passes_except_the_missing_cell) {
    fake_executor fx;
    fx.overrides["t42-reboot/0"] = {"", "this executor cannot reboot a VM", false};
    auto r = run_demo(fx);
    BOOST_TEST(fx.runs.load() == 3);  // three VM rows with checks; the model row does not run
    BOOST_TEST((cell(r, "reach", "ping eflow -> gateway").status == cell_status::pass));
    BOOST_TEST((cell(r, "reach", "ping eflow -> gateway").origin == cell_origin::guest));
    BOOST_TEST((cell(r, "reach", "deploy").origin == cell_origin::lab));  // validated with the lab's ARP probes
    BOOST_TEST((cell(r, "reach", "deploy").status == cell_status::pass));
    BOOST_TEST((cell(r, "lease", "deploy").origin == cell_origin::guest));  // decided by the lease in the guest
    BOOST_TEST((cell(r, "rule", "support").origin == cell_origin::model));
    BOOST_TEST((cell(r, "rule", "deploy").status == cell_status::pass));
    BOOST_TEST((cell(r, "reboot", "mac_after_reboot").status == cell_status::missing));
    auto n = count_cells(r);
    BOOST_TEST(n.pass == 7u);
    BOOST_TEST(n.missing == 1u);
    BOOST_TEST(exit_status(r) == 1);  // a missing cell fails the run

    fake_executor all;  // an executor that reboots: the cell is observed on the VM
    auto r2 = run_demo(all);
    BOOST_TEST((cell(r2, "reboot", "mac_after_reboot").status == cell_status::pass));
    BOOST_TEST((cell(r2, "reboot", "mac_after_reboot").origin == cell_origin::guest));
    BOOST_TEST(exit_status(r2) == 0);
}

BOOST_AUTO_TEST_CASE(mismatch_missing_and_error) {
    fake_executor fx;
    fx.overrides["t42-reach/1"] = {"fail", "connection refused", true};  // tcp 8883
    fx.overrides["t42-reach/0"] = {"", "no ping in this executor", false};
    fx.overrides["t42-lease/1"] = {"fail", "no lease", true};  // the lease check behind the deploy cell
    auto r = run_demo(fx);
    const auto& tcp = cell(r, "reach", "tcp eflow -> internet:8883");
    BOOST_TEST((tcp.status == cell_status::mismatch));
    BOOST_TEST(tcp.observed == "fail");
    BOOST_TEST((cell(r, "reach", "ping eflow -> gateway").status == cell_status::missing));
    const auto& dep = cell(r, "lease", "deploy");
    BOOST_TEST((dep.status == cell_status::mismatch));
    BOOST_TEST(dep.observed == "Error: no DHCP lease on ExternalEflow: the VM has no IP address");
    BOOST_TEST(exit_status(r) == 1);

    fake_executor broken;
    broken.errors["t42-reach"] = "qemu: cannot boot";
    auto r2 = run_demo(broken);
    BOOST_TEST((cell(r2, "reach", "ping eflow -> gateway").status == cell_status::error));
    BOOST_TEST((cell(r2, "reach", "deploy").status == cell_status::error));  // its probes did not run
    BOOST_TEST((cell(r2, "rule", "deploy").status == cell_status::pass));    // the model row still evaluates
    BOOST_TEST(exit_status(r2) == 1);
}

BOOST_AUTO_TEST_CASE(a_check_that_could_not_run_is_an_error_never_an_observed_fail) {
    // The guest's ping is missing (exit 127): the check is an error, whatever the cell expects.
    fake_executor fx;
    fx.overrides["t42-reach/0"] = {"error", "ping could not run (exit 127, not found: sh: ping: not found)", true, true};
    fx.overrides["t42-reach/3"] = {"error", "cannot probe from host on eth0: socket", true, false};
    auto r = run_demo(fx);
    const auto& ping = cell(r, "reach", "ping eflow -> gateway");
    BOOST_TEST((ping.status == cell_status::error));
    BOOST_TEST((ping.origin == cell_origin::none));
    BOOST_TEST(ping.detail.find("exit 127") != std::string::npos);
    const auto& dep = cell(r, "reach", "deploy");  // its gateway probe could not run
    BOOST_TEST((dep.status == cell_status::error));
    BOOST_TEST(dep.detail.find("could not be carried out") != std::string::npos);
    BOOST_TEST(count_cells(r).error == 2u);
    BOOST_TEST(exit_status(r) == 1);
}

BOOST_AUTO_TEST_CASE(deploy_cell_follows_the_lab_probes) {
    // docs/eflow-facts.md [AD]: "ip4GatewayAddress ... is not reachable. Required for external
    // switch" when the gateway does not answer; "ip4Address ... in use" when the address
    // does. The model expects the router 192.168.0.1 to answer; the lab decides.
    fake_executor silent;  // reach: checks 0-1 are the cells, 2 probes .100, 3 probes the gateway
    silent.overrides["t42-reach/3"] = {"fail", "no answer for 192.168.0.1 to 3 ARP probes on eth", true};
    auto r = run_demo(silent);
    const auto& dep = cell(r, "reach", "deploy");
    BOOST_TEST((dep.origin == cell_origin::lab));
    BOOST_TEST((dep.status == cell_status::mismatch));
    BOOST_TEST(dep.observed == "Error: ip4GatewayAddress 192.168.0.1 is not reachable. Required for external switch");
    BOOST_TEST(dep.detail.find("no answer for 192.168.0.1") != std::string::npos);

    fake_executor taken;
    taken.overrides["t42-reach/2"] = {"ok", "192.168.0.100 answered from 02:00:00:00:00:01", true};
    auto r2 = run_demo(taken);
    BOOST_TEST(cell(r2, "reach", "deploy").observed == "Error: ip4Address 192.168.0.100 in use");

    fake_executor unprobed;
    unprobed.overrides["t42-reach/3"] = {"", "this executor cannot probe", false};
    auto r3 = run_demo(unprobed);
    BOOST_TEST((cell(r3, "reach", "deploy").status == cell_status::missing));
}

// A VM row's dns_servers cell is what the guest uses, put in the table's words only when
// it matches what the lab offered the NIC: the DHCP server's servers on its network, or
// the Default Switch's host address.
BOOST_AUTO_TEST_CASE(guest_resolvers_in_the_tables_words) {
    const std::string head =
        "[lab]\nname = \"t\"\n"
        "[[network]]\nname = \"lan\"\nsubnet = \"192.168.0.0/24\"\ngateway = \"192.168.0.1\"\n"
        "dhcp = { range = \"192.168.0.100-192.168.0.199\", dns = [\"192.168.0.1\"] }\n";
    auto ext = parse_lab(head +
                             "[[switch]]\nname = \"x\"\nkind = \"external\"\nnetwork = \"lan\"\n"
                             "[[vm]]\nname = \"eflow\"\n[[vm.nic]]\nswitch = \"x\"\n",
                         "t.toml");
    BOOST_REQUIRE_MESSAGE(ext.has_value(), (ext ? std::string() : ext.error().to_string()));
    std::string why;
    BOOST_TEST(detail::resolvers_in_table_terms(*ext, "eflow", "192.168.0.1", why) == "from the DHCP lease");
    BOOST_TEST(why.find("DHCP server on x") != std::string::npos);
    BOOST_TEST(detail::resolvers_in_table_terms(*ext, "eflow", "192.168.0.1, 8.8.8.8", why) == "192.168.0.1 8.8.8.8");
    BOOST_TEST(detail::resolvers_in_table_terms(*ext, "eflow", "none", why) == "none");
    BOOST_TEST(detail::resolvers_in_table_terms(*ext, "eflow", "127.0.0.53x", why) == "127.0.0.53x");  // not an address: as is

    auto def = parse_lab(head +
                             "[[switch]]\nname = \"d\"\nkind = \"default\"\n"
                             "[[vm]]\nname = \"eflow\"\n[[vm.nic]]\nswitch = \"d\"\n",
                         "t.toml");
    BOOST_REQUIRE_MESSAGE(def.has_value(), (def ? std::string() : def.error().to_string()));
    const auto ics = default_switch_host_address(*pick_default_switch_subnet(prefixes_in_use(*def))).address();
    BOOST_TEST(detail::resolvers_in_table_terms(*def, "eflow", fmt::format("{}", ics), why) == "the Default Switch's DNS proxy");
    BOOST_TEST(detail::resolvers_in_table_terms(*def, "eflow", "192.168.0.1", why) == "192.168.0.1");

    // A NIC given its servers (static, Set-EflowVmDnsServers): the addresses, even when they
    // equal the lease's.
    auto fixed = parse_lab(head +
                               "[[switch]]\nname = \"x\"\nkind = \"external\"\nnetwork = \"lan\"\n"
                               "[[vm]]\nname = \"eflow\"\n[[vm.nic]]\nswitch = \"x\"\ndns = [\"192.168.0.1\"]\n",
                           "t.toml");
    BOOST_REQUIRE_MESSAGE(fixed.has_value(), (fixed ? std::string() : fixed.error().to_string()));
    BOOST_TEST(detail::resolvers_in_table_terms(*fixed, "eflow", "192.168.0.1", why) == "192.168.0.1");
}

BOOST_AUTO_TEST_CASE(exit_status_zero_only_when_every_cell_passes) {
    auto t = parse_table(header + R"([[row]]
id = "rule"
source = "[IS] \"However\""
eval = "model"
cells = [ { kind = "switch_op", op = "remove \"Default Switch\"", expect = "switch.the Default Switch cannot be removed: conflict" } ]
)",
                         "x.toml");
    BOOST_REQUIRE(t);
    std::vector<table_spec> ts{*t};
    auto ok = run_conformance(ts, select_rows(ts), nullptr, {});
    BOOST_TEST(exit_status(ok) == 0);
    ts[0].rows[0].cells[0].expect = "ok";
    auto bad = run_conformance(ts, select_rows(ts), nullptr, {});
    BOOST_TEST(exit_status(bad) == 1);
}

BOOST_AUTO_TEST_CASE(vm_rows_run_in_parallel_bounded) {
    auto t = parse_table(vm_table, "demo.toml");
    BOOST_REQUIRE(t);
    std::vector<table_spec> ts;
    for (int k = 0; k < 3; ++k) {
        ts.push_back(*t);
        ts.back().name = fmt::format("demo{}", k);
        ts.back().number = k + 1;
    }
    fake_executor fx;
    run_config cfg;
    cfg.parallel = 2;
    std::atomic<int> rows_seen{0};
    cfg.on_row = [&](const table_spec&, const row_result&) { ++rows_seen; };
    auto r = run_conformance(ts, select_rows(ts), &fx, cfg);
    BOOST_TEST(fx.runs.load() == 9);
    BOOST_TEST(fx.max_in_flight.load() <= 2);
    BOOST_TEST(rows_seen.load() == 12);
    BOOST_REQUIRE(r.size() == 3u);
    BOOST_TEST(r[0].rows[0].id == "reach");  // table and row order kept
    BOOST_TEST(r[2].rows[3].id == "reboot");
}

BOOST_AUTO_TEST_CASE(fixture_tables_with_a_perfect_executor) {
    // Every model cell of the fixtures passes; VM cells pass with an executor that observes
    // what they expect; the cells the lab cannot observe stay missing.
    auto ts = load_tables(tables_dir);
    BOOST_REQUIRE(ts);
    fake_executor fx;
    run_config cfg;
    cfg.parallel = 4;
    auto r = run_conformance(*ts, select_rows(*ts), &fx, cfg);
    for (const auto& t : r)
        for (const auto& row : t.rows)
            for (const auto& c : row.cells) {
                if (c.origin == cell_origin::model)
                    BOOST_TEST((c.status == cell_status::pass), t.name << "/" << row.id << " " << c.label << ": " << c.observed);
                if (c.status == cell_status::missing) BOOST_TEST(!c.detail.empty());
            }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(reports)

std::vector<table_result> sample() {
    table_result t{"demo", "Demo <table> & \"quotes\"", "d.toml", 3, {}, std::nullopt};
    row_result r;
    r.id = "row-1";
    r.source = "[TS] \"Check DNS\" | pipes";
    r.eval = row_eval::vm;
    r.cells.push_back({"ping eflow -> 1.2.3.4", "ok", "ok", "3/3 replies", cell_origin::guest, cell_status::pass, 5});
    r.cells.push_back({"deploy <x> & 'y'", "Error: a < b", std::string("Error: \x01 ctrl") + "\xc3\xa9", "", cell_origin::model,
                       cell_status::mismatch, 6});
    r.cells.push_back({"flooding", "x", "", "no check", cell_origin::none, cell_status::missing, 7});
    r.cells.push_back({"dhcp", "ok", "error", "boot failed: ]]> end", cell_origin::none, cell_status::error, 8});
    t.rows.push_back(r);
    return {t};
}

BOOST_AUTO_TEST_CASE(junit_xml_is_well_formed_and_counts) {
    auto x = to_junit_xml(sample());
    std::string why;
    BOOST_TEST(well_formed_xml(x, why), why);
    BOOST_TEST(x.find("tests=\"4\" failures=\"2\" errors=\"1\"") != std::string::npos, x);
    BOOST_TEST(x.find("<failure type=\"missing\"") != std::string::npos);
    BOOST_TEST(x.find("deploy &lt;x&gt; &amp; &apos;y&apos;") != std::string::npos);
    BOOST_TEST(x.find('\x01') == std::string::npos);
    BOOST_TEST(x.find("\xc3\xa9") != std::string::npos);  // UTF-8 kept
    // The checker itself rejects broken XML.
    BOOST_TEST(!well_formed_xml("<a><b></a>", why));
    BOOST_TEST(!well_formed_xml("<a>x & y</a>", why));
}

BOOST_AUTO_TEST_CASE(xml_escape_covers_the_special_characters) {
    BOOST_TEST(xml_escape("<&>\"'") == "&lt;&amp;&gt;&quot;&apos;");
    BOOST_TEST(xml_escape("a\nb") == "a&#10;b");
    BOOST_TEST(xml_escape(std::string("\x02", 1)) == "\xEF\xBF\xBD");
}

BOOST_AUTO_TEST_CASE(markdown_and_text_show_expected_and_observed) {
    auto md = to_markdown(sample());
    BOOST_TEST(md.find("| row | source | cell | expected | observed | result | evaluated |") != std::string::npos);
    BOOST_TEST(md.find("\\| pipes") != std::string::npos);  // a '|' in a cell is escaped
    BOOST_TEST(md.find("observed on a VM") != std::string::npos);
    BOOST_TEST(md.find("evaluated by the model") != std::string::npos);
    BOOST_TEST(md.find("**failed**") != std::string::npos);
    auto txt = format_table(sample()[0]);
    BOOST_TEST(txt.find("PASS") != std::string::npos);
    BOOST_TEST(txt.find("FAIL") != std::string::npos);
    BOOST_TEST(txt.find("MISSING") != std::string::npos);
    BOOST_TEST(txt.find("expected: Error: a < b") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
