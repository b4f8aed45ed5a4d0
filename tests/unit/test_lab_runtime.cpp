// The pure part of the lab runtime (lab/plan.hpp, lab/report.hpp, and the checks of
// lab/runtime.hpp that need no root): run ids, the names a run gives its namespaces and
// interfaces, the Default Switch subnet, generated MACs, reading ping / nslookup / ip
// output, and the check lines and JSON.
#include <boost/test/unit_test.hpp>

#include <array>
#include <filesystem>
#include <set>
#include <string>

#include <unistd.h>

#include <vnet/lab/mac_store.hpp>
#include <vnet/lab/plan.hpp>
#include <vnet/lab/report.hpp>
#include <vnet/lab/runtime.hpp>
#include <vnet/lab/vm_store.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::lab;

namespace {

lab_file parse(std::string_view text) {
    auto lf = parse_lab(text, "t.toml");
    BOOST_REQUIRE_MESSAGE(lf.has_value(), (lf ? std::string() : lf.error().to_string()));
    return std::move(*lf);
}

constexpr std::string_view external_lab = R"(
[lab]
name = "x"
[host]
network = "lan"
address = "192.168.0.10/24"
gateway = "192.168.0.1"
[[network]]
name = "lan"
subnet = "192.168.0.0/24"
gateway = "192.168.0.1"
[[switch]]
name = "ext"
kind = "external"
network = "lan"
[[switch]]
name = "Default Switch"
kind = "default"
[[vm]]
name = "eflow"
  [[vm.nic]]
  switch = "ext"
  ip = "dhcp"
  [[vm.nic]]
  switch = "Default Switch"
  ip = "dhcp"
  mac = "00:15:5d:00:00:10"
)";

}  // namespace

BOOST_AUTO_TEST_SUITE(lab_runtime_plan)

// docs/design.md "Principles": every lab is named with a per-run id.
BOOST_AUTO_TEST_CASE(run_ids_are_six_base36_characters) {
    std::set<std::string> seen;
    for (std::uint64_t r : {0ull, 1ull, 35ull, 36ull, 0xffffffffffffffffull, 0x123456789abcdefull}) {
        auto id = make_run_id(r);
        BOOST_TEST(id.size() == run_id_length);
        BOOST_TEST(valid_run_id(id));
        seen.insert(id);
    }
    BOOST_TEST(seen.size() == 6u);
    BOOST_TEST(make_run_id(0) == "000000");
    BOOST_TEST(make_run_id(35) == "z00000");
    BOOST_TEST(!valid_run_id("ABCDEF"));
    BOOST_TEST(!valid_run_id("abc"));
    BOOST_TEST(!valid_run_id("abc-ef"));
}

// Linux interface names are at most IFNAMSIZ - 1 = 15 characters.
BOOST_AUTO_TEST_CASE(every_interface_name_fits_ifnamsiz) {
    run_names n{make_run_id(0xffffffffffffffffull)};
    for (const auto& s : {n.bridge(), n.transit_net(199), n.transit_inet(199), n.host_adapter(), n.host_adapter_bridge(),
                          n.peer_bridge(999), n.peer_if(999), n.uplink(99), n.host_vnic(99), n.vm_tap(98, 8)}) {
        BOOST_TEST_INFO(s);
        BOOST_TEST(s.size() <= 15u);
        BOOST_TEST(s.find(n.id) != std::string::npos);  // the run id is in every name
    }
    BOOST_TEST(n.host_ns() == "vlab-" + n.id + "-host");
    BOOST_TEST(n.network_ns("lan") == "vlab-" + n.id + "-net-lan");
    BOOST_TEST(n.state_dir() == "/run/vnet/" + n.id);
}

BOOST_AUTO_TEST_CASE(run_id_is_read_back_from_a_namespace_name) {
    BOOST_TEST(run_id_of_netns("vlab-ab12cd-host").value_or("") == "ab12cd");
    BOOST_TEST(run_id_of_netns("vlab-ab12cd-net-lan").value_or("") == "ab12cd");
    BOOST_TEST(!run_id_of_netns("vnet-vmtest-123-0").has_value());  // another harness's namespace
    BOOST_TEST(!run_id_of_netns("vlab-ab12c-host").has_value());
    BOOST_TEST(!run_id_of_netns("vlab-AB12CD-host").has_value());
}

// docs/eflow-facts.md: the Default Switch takes a /20 from 172.16.0.0/12 that does not collide
// with the host's networks.
// A LAN's firewall drops what the lab file says on the way out, and counts it.
BOOST_AUTO_TEST_CASE(lan_firewall_drops_ports_and_addresses_with_counters) {
    network_config n;
    n.blocked_tcp_ports = {8883, 5671};
    n.blocked_addresses = {ipv4_address(8, 8, 8, 8), ipv4_address(8, 8, 4, 4)};
    const auto rules = lan_firewall_rules(n, "vt-n0");
    BOOST_TEST(rules.find("oifname \"vt-n0\" tcp dport { 8883, 5671 } counter drop") != std::string::npos, rules);
    BOOST_TEST(rules.find("oifname \"vt-n0\" ip daddr { 8.8.8.8, 8.8.4.4 } counter drop") != std::string::npos, rules);
    n.blocked_tcp_ports.clear();
    BOOST_TEST(lan_firewall_rules(n, "vt-n0").find("tcp dport") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(default_switch_subnet_avoids_the_labs_networks) {
    auto free = pick_default_switch_subnet({});
    BOOST_REQUIRE(free.has_value());
    BOOST_TEST(fmt::format("{}", *free) == "172.16.0.0/20");
    auto p = pick_default_switch_subnet({*ipv4_prefix::parse("172.16.5.0/24"), *ipv4_prefix::parse("172.16.16.0/20")});
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(fmt::format("{}", *p) == "172.16.32.0/20");
    auto all = pick_default_switch_subnet({*ipv4_prefix::parse("172.16.0.0/12")});
    BOOST_TEST(!all.has_value());
    auto h = default_switch_host_address(*free);
    BOOST_TEST(fmt::format("{}", h) == "172.16.0.1/20");
    auto [first, last] = default_switch_range(*free);
    BOOST_TEST(fmt::format("{}-{}", first, last) == "172.16.0.2-172.16.15.254");
}

// RFC 3927 section 2.1: 169.254.1.0-169.254.254.255, drawn from the MAC (the same at every
// start), the next one per attempt; the guest's udhcpc script draws the same.
BOOST_AUTO_TEST_CASE(apipa_candidates_come_from_the_mac) {
    auto mac = [](const char* s) { return mac_address::parse(s).value(); };
    BOOST_TEST(fmt::format("{}", apipa_candidate(mac("00:15:5d:00:00:00"), 0)) == "169.254.1.0");
    BOOST_TEST(fmt::format("{}", apipa_candidate(mac("00:15:5d:00:d5:c3"), 0)) == "169.254.214.195");
    BOOST_TEST(fmt::format("{}", apipa_candidate(mac("00:15:5d:00:d5:c3"), 1)) == "169.254.214.196");
    BOOST_TEST(fmt::format("{}", apipa_candidate(mac("00:15:5d:00:fd:ff"), 1)) == "169.254.254.0");  // L wraps, H stays
    // 0xfe and 0xff: 254 mod 254 + 1 = 1, 255 mod 254 + 1 = 2: never 169.254.0.x or 169.254.255.x
    BOOST_TEST(fmt::format("{}", apipa_candidate(mac("00:15:5d:00:fe:01"), 0)) == "169.254.1.1");
    BOOST_TEST(fmt::format("{}", apipa_candidate(mac("00:15:5d:00:ff:01"), 0)) == "169.254.2.1");
    for (unsigned b = 0; b < 256; ++b) {
        auto a = apipa_candidate(mac_address(std::array<std::uint8_t, 6>{0, 0x15, 0x5d, 0, static_cast<std::uint8_t>(b), 7}), 0);
        BOOST_TEST(a.is_link_local());
        const auto third = (a.to_u32() >> 8) & 0xff;
        BOOST_TEST((third >= 1 && third <= 254));
    }
}

BOOST_AUTO_TEST_CASE(prefixes_in_use_include_networks_host_and_static_nics) {
    auto lf = parse(external_lab);
    auto used = prefixes_in_use(lf);
    BOOST_TEST(used.size() == 2u);  // the LAN and the host's address (same /24)
    BOOST_TEST(fmt::format("{}", used.front()) == "192.168.0.0/24");
}

// docs/design.md "Lab file": mac is optional, otherwise the host's dynamic pool
// 00:15:5d:dd:ee:00-ff (dd-ee: the host address's last two octets) gives one, which the
// state directory keeps: every later start reads it back (lab/mac_store.hpp).
BOOST_AUTO_TEST_CASE(nic_macs_come_from_the_hosts_stored_pool) {
    auto lf = parse(external_lab);
    auto pool = host_mac_pool(lf);
    BOOST_TEST(fmt::format("{}", pool.first()) == "00:15:5d:00:0a:00");  // host 192.168.0.10
    auto m0 = pool.allocate(pool_nic_name("eflow", 0));
    BOOST_REQUIRE(m0);
    BOOST_TEST(fmt::format("{}", *m0) == "00:15:5d:00:0a:00");
    auto dir = std::filesystem::temp_directory_path() / fmt::format("vnet-macs-{}", ::getpid());
    std::filesystem::create_directories(dir);
    BOOST_REQUIRE(save_mac_pool(dir.string(), pool));
    auto back = stored_mac(dir.string(), "eflow/eth0");
    BOOST_REQUIRE(back);
    BOOST_TEST((*back == *m0));
    BOOST_TEST(stored_mac(dir.string(), "eflow/eth1").error().find("no stored MAC for eflow/eth1") != std::string::npos);
    std::filesystem::remove_all(dir);
    BOOST_TEST(stored_mac(dir.string(), "eflow/eth0").error().find("MAC pool state") != std::string::npos);
    BOOST_TEST((host_vnic_mac(lf, 0) != host_vnic_mac(lf, 1)));
}

// EFLOW keeps a static IP across VM and host reboots ([NW] "IP address allocations"): the
// host stores each NIC's settings when the VM is created and every later start reads them
// back (lab/vm_store.hpp); bad stored text is an error naming the line.
BOOST_AUTO_TEST_CASE(vm_settings_are_stored_and_read_back) {
    std::vector<vm_nic> nics(3);
    nics[0].mode = nic_mode::static_ip;
    nics[0].address = "192.168.0.100/24";
    nics[0].gateway = "192.168.0.1";
    nics[0].dns = {"192.168.0.1", "8.8.8.8"};
    nics[1].mode = nic_mode::dhcp;
    nics[1].metric = 150;
    nics[2].mode = nic_mode::none;
    const auto text = format_vm_settings(nics);
    BOOST_TEST(text == "static 192.168.0.100/24 192.168.0.1 - 192.168.0.1+8.8.8.8\ndhcp - - 150 -\nnone - - - -\n");
    std::vector<vm_nic> back(3);
    back[0].mac = "00:15:5d:00:00:10";  // kept: the MACs are stored apart
    BOOST_REQUIRE(parse_vm_settings(text, back));
    BOOST_TEST(back[0].mac == "00:15:5d:00:00:10");
    BOOST_TEST((back[0].mode == nic_mode::static_ip));
    BOOST_TEST(back[0].address == "192.168.0.100/24");
    BOOST_TEST(back[0].gateway == "192.168.0.1");
    BOOST_TEST(back[0].dns.size() == 2u);
    BOOST_TEST((back[1].mode == nic_mode::dhcp));
    BOOST_TEST(back[1].metric.value_or(0) == 150u);
    BOOST_TEST(back[1].address.empty());
    BOOST_TEST((back[2].mode == nic_mode::none));

    auto err = [](std::string_view t, std::size_t n) {
        std::vector<vm_nic> v(n);
        auto r = parse_vm_settings(t, v);
        return r ? std::string() : r.error();
    };
    BOOST_TEST(err("static 192.168.0.300/24 - - -\n", 1) == "line 1: bad address '192.168.0.300/24'");
    BOOST_TEST(err("dhcp - - x -\n", 1) == "line 1: bad metric 'x'");
    BOOST_TEST(err("bridge - - - -\n", 1) == "line 1: unknown mode 'bridge'");
    BOOST_TEST(err("dhcp - - -\n", 1) == "line 1: expected MODE ADDRESS GATEWAY METRIC DNS");
    BOOST_TEST(err("dhcp - - - -\n", 2) == "1 NICs stored, the VM has 2");
    BOOST_TEST(err("dhcp - - - -\ndhcp - - - -\n", 1) == "line 2: more NICs than the VM has (1)");
    BOOST_TEST(err("static 10.0.0.2/24 - - 10.0.0.1+bad\n", 1) == "line 1: bad DNS server 'bad'");

    auto dir = std::filesystem::temp_directory_path() / fmt::format("vnet-settings-{}", ::getpid());
    std::filesystem::create_directories(dir);
    BOOST_REQUIRE(save_vm_settings(dir.string(), "eflow", nics));
    std::vector<vm_nic> loaded(3);
    BOOST_REQUIRE(load_vm_settings(dir.string(), "eflow", loaded));
    BOOST_TEST(loaded[0].address == "192.168.0.100/24");
    std::filesystem::remove_all(dir);
    auto gone = load_vm_settings(dir.string(), "eflow", loaded);
    BOOST_REQUIRE(!gone);
    BOOST_TEST(gone.error().find("vm-eflow.nics: 0 NICs stored") != std::string::npos);
}

// Hyper-V moves the host's address to "vEthernet (<switch>)" when an External switch
// shares the adapter (allow_management_os), and leaves the host without it otherwise.
BOOST_AUTO_TEST_CASE(host_address_goes_where_hyper_v_puts_it) {
    auto lf = parse(external_lab);
    auto a = plan_host_adapter(lf);
    BOOST_TEST((a.use == host_adapter_use::switch_vnic));
    BOOST_TEST(a.switch_index == 0u);
    lf.switches[0].allow_management_os = false;
    BOOST_TEST((plan_host_adapter(lf).use == host_adapter_use::dedicated_to_switch));
    lf.switches.erase(lf.switches.begin());
    BOOST_TEST((plan_host_adapter(lf).use == host_adapter_use::own_adapter));
    lf.host.network.reset();
    BOOST_TEST((plan_host_adapter(lf).use == host_adapter_use::none));
}

BOOST_AUTO_TEST_CASE(ping_summaries_of_busybox_and_iputils) {
    BOOST_TEST(ping_received("--- 10.0.0.2 ping statistics ---\n3 packets transmitted, 3 packets received, 0% packet loss\n")
                   .value_or(99) == 3u);
    BOOST_TEST(ping_received("3 packets transmitted, 0 packets received, 100% packet loss\n").value_or(99) == 0u);
    BOOST_TEST(ping_received("3 packets transmitted, 2 received, 33.3333% packet loss, time 2003ms\n").value_or(99) == 2u);
    BOOST_TEST(!ping_received("ping: sendto: Network unreachable\n").has_value());
}

BOOST_AUTO_TEST_CASE(nslookup_answer_section_skips_the_server) {
    constexpr std::string_view out =
        "Server:\t\t192.168.0.1\nAddress:\t192.168.0.1:53\n\nName:\tiothub.example\nAddress: 198.51.100.10\n\n"
        "** server can't find iothub.example: REFUSED\n";
    auto a = nslookup_addresses(out);
    BOOST_REQUIRE(a.size() == 1u);
    BOOST_TEST(fmt::format("{}", a[0]) == "198.51.100.10");
    BOOST_TEST(
        nslookup_addresses("Server:\t\t192.168.0.1\nAddress:\t192.168.0.1:53\n\n** server can't find x: NXDOMAIN\n").empty());
}

BOOST_AUTO_TEST_CASE(ip_output_fields) {
    auto p = first_inet("2: eth0    inet 192.168.0.150/24 brd 192.168.0.255 scope global eth0\n");
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(fmt::format("{}", *p) == "192.168.0.150/24");
    BOOST_TEST(!first_inet("").has_value());
    std::string_view get = "198.51.100.10 via 192.168.0.1 dev eth0  src 192.168.0.20 \n";
    BOOST_TEST(route_field(get, "dev") == "eth0");
    BOOST_TEST(route_field(get, "via") == "192.168.0.1");
    BOOST_TEST(route_field("10.0.0.2 dev eth0  src 10.0.0.1 \n", "via") == "");
}

BOOST_AUTO_TEST_CASE(check_commands) {
    auto a = *ipv4_address::parse("198.51.100.10");
    BOOST_TEST(ping_command(a) == "ping -c 3 -i 0.3 -W 1 -w 4 198.51.100.10");
    BOOST_TEST(tcp_command(a, 8883) == "nc -w 3 198.51.100.10 8883 </dev/null");  // guest nc has no -z
    BOOST_TEST(dns_command("iothub.example") == "nslookup iothub.example");
}

// A model = "netvsc" NIC's channel counters reach summary.json and summary.md; a virtio
// port has none (JSON null, no section).
BOOST_AUTO_TEST_CASE(netvsc_channel_counters_in_the_report) {
    run_report r;
    port_report virtio;
    virtio.switch_name = "s";
    virtio.port = "a-eth0";
    r.ports.push_back(virtio);
    BOOST_TEST(to_json(r).find("\"netvsc\":null") != std::string::npos);
    BOOST_TEST(to_markdown(r).find("netvsc channels") == std::string::npos);
    port_report nv = virtio;
    nv.port = "b-eth0";
    nv.netvsc.emplace();
    nv.netvsc->guest_to_host.frames = 7;
    nv.netvsc->host_to_guest.frames = 5;
    nv.netvsc->host_to_guest.count_drop(netvsc::link_drop::link_down, 2);
    r.ports.push_back(nv);
    auto j = to_json(r);
    BOOST_TEST(j.find("\"netvsc\":{\"guest_to_host\":{\"frames\":7,") != std::string::npos);
    BOOST_TEST(j.find("\"host_to_guest\":{\"frames\":5,\"bytes\":0,\"drops\":2}") != std::string::npos);
    auto md = to_markdown(r);
    BOOST_TEST(md.find("## netvsc channels") != std::string::npos);
    BOOST_TEST(md.find("| s | b-eth0 |") != std::string::npos);
}

// docs/design.md "CLI": one line per check with expected, observed and pass/fail; exit 0 only
// when every check observed what it expected.
BOOST_AUTO_TEST_CASE(check_lines_and_json) {
    check_result c;
    c.index = 2;
    c.line = 40;
    c.kind = check_kind::ping;
    c.from = "eflow";
    c.to = "plc";
    c.target = "192.168.0.50";
    c.expected = "ok";
    c.observed = "fail";
    c.detail = "0/3 replies from 192.168.0.50";
    BOOST_TEST(!c.pass());
    BOOST_TEST(format_line(c) == "FAIL  ping eflow -> plc  expected ok, observed fail (0/3 replies from 192.168.0.50)");
    auto j = to_json(c);
    BOOST_TEST(j.find("\"kind\":\"ping\"") != std::string::npos);
    BOOST_TEST(j.find("\"pass\":false") != std::string::npos);
    BOOST_TEST(j.find("\"line\":40") != std::string::npos);
    BOOST_TEST(json_string("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");

    run_report r;
    r.checks.push_back(c);
    BOOST_TEST(!r.passed());
    r.checks[0].observed = "ok";
    BOOST_TEST(r.passed());
    r.error = "stopped by a signal";
    BOOST_TEST(!r.passed());  // a run that stopped early never passes
    auto md = to_markdown(r);
    BOOST_TEST(md.find("Stopped early: stopped by a signal") != std::string::npos);
}

// What `vnet lab run` cannot do is bad input (exit 2) with file, line and key.
BOOST_AUTO_TEST_CASE(unsupported_lab_files_name_line_and_key) {
    auto lf = parse(R"(
[lab]
name = "x"
[[switch]]
name = "p"
kind = "private"
[[vm]]
name = "v"
  [[vm.nic]]
  switch = "p"
  ip = "static"
  address = "10.0.0.1/24"
[[check]]
kind = "deploy"
from = "host"
expect = "some message"
)");
    auto u = unsupported_by_runtime(lf);
    BOOST_REQUIRE(u.has_value());
    BOOST_TEST(u->line == 13u);
    BOOST_TEST(u->key == "check.kind");
    lf.checks.clear();
    BOOST_TEST(!unsupported_by_runtime(lf).has_value());
    // model = "netvsc" runs: the NIC's frames cross the netvsc channel (switch_pump.hpp).
    lf.vms[0].nics[0].model = nic_model::netvsc;
    BOOST_TEST(!unsupported_by_runtime(lf).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
