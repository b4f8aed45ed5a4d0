// What a lab check observed, from what its probe printed (vnet/lab/verdicts.hpp). The
// outputs are busybox's and iputils' own, as the guest and the lab namespaces print them.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <vnet/lab/plan.hpp>
#include <vnet/lab/verdicts.hpp>

using namespace vnet;
using namespace vnet::lab;

namespace {
const ipv4_address gw = *ipv4_address::parse("192.168.0.1");
const ipv4_address srv = *ipv4_address::parse("198.51.100.10");
}  // namespace

BOOST_AUTO_TEST_SUITE(ping)

BOOST_AUTO_TEST_CASE(replies_are_ok) {
    auto v = ping_verdict(0,
                          "PING 192.168.0.1 (192.168.0.1): 56 data bytes\n64 bytes from 192.168.0.1: seq=0 ttl=64\n\n"
                          "--- 192.168.0.1 ping statistics ---\n3 packets transmitted, 3 packets received, 0% packet loss\n",
                          gw);
    BOOST_TEST((v.observed == observation::ok));
    BOOST_TEST(v.detail == "3/3 replies from 192.168.0.1");
}

BOOST_AUTO_TEST_CASE(iputils_summary_is_read_too) {
    auto v = ping_verdict(
        1, "--- 192.168.0.1 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time 2043ms\n", gw);
    BOOST_TEST((v.observed == observation::fail));
    BOOST_TEST(v.detail == "3 sent, 0 received from 192.168.0.1");
}

BOOST_AUTO_TEST_CASE(no_reply_is_a_fail_with_the_counts) {
    auto v = ping_verdict(
        1, "--- 198.51.100.10 ping statistics ---\n3 packets transmitted, 0 packets received, 100% packet loss\n", srv);
    BOOST_TEST((v.observed == observation::fail));
    BOOST_TEST(v.detail == "3 sent, 0 received from 198.51.100.10");
}

BOOST_AUTO_TEST_CASE(no_route_in_the_guest_is_a_fail_seen_by_its_kernel) {
    auto v = ping_verdict(1, "PING 10.9.9.9 (10.9.9.9): 56 data bytes\nping: sendto: Network is unreachable\n",
                          *ipv4_address::parse("10.9.9.9"));
    BOOST_TEST((v.observed == observation::fail));
    BOOST_TEST(v.detail == "nothing sent to 10.9.9.9: Network is unreachable");
}

BOOST_AUTO_TEST_CASE(a_missing_ping_is_an_error_not_a_fail) {
    auto v = ping_verdict(127, "sh: ping: not found\n", gw);
    BOOST_TEST((v.observed == observation::error));
    BOOST_TEST(v.detail == "ping could not run (exit 127, not found: sh: ping: not found)");
    BOOST_TEST((ping_verdict(126, "sh: ping: Permission denied", gw).observed == observation::error));
    BOOST_TEST((ping_verdict(137, "", gw).observed == observation::error));
}

BOOST_AUTO_TEST_CASE(output_without_statistics_is_an_error) {
    // exit 1 alone says nothing: ping did not print what it prints when it ran
    auto v = ping_verdict(1, "ping: bad address 'gateway'\n", gw);
    BOOST_TEST((v.observed == observation::error));
    BOOST_TEST(v.detail.find("no statistics") != std::string::npos);
    BOOST_TEST((ping_verdict(0, "", gw).observed == observation::error));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tcp)

BOOST_AUTO_TEST_CASE(nc_connection_and_refusal) {
    BOOST_TEST((nc_verdict(0, "", srv, 8883).observed == observation::ok));
    auto refused = nc_verdict(1, "nc: can't connect to remote host (198.51.100.10): Connection refused\n", srv, 8883);
    BOOST_TEST((refused.observed == observation::fail));
    BOOST_TEST(refused.detail == "connection refused by 198.51.100.10:8883");
    auto timed = nc_verdict(1, "nc: timeout\n", srv, 8883);
    BOOST_TEST((timed.observed == observation::fail));
    BOOST_TEST(timed.detail == "198.51.100.10:8883: timed out after SYN, no answer");
    auto unreach = nc_verdict(1, "nc: can't connect to remote host (10.9.9.9): Network is unreachable\n", srv, 80);
    BOOST_TEST((unreach.observed == observation::fail));
}

BOOST_AUTO_TEST_CASE(nc_that_could_not_run_or_said_nothing_is_an_error) {
    BOOST_TEST((nc_verdict(127, "sh: nc: not found", srv, 8883).observed == observation::error));
    BOOST_TEST((nc_verdict(1, "", srv, 8883).observed == observation::error));
}

BOOST_AUTO_TEST_CASE(connect_from_a_namespace) {
    BOOST_TEST((connect_verdict(0, false, srv, 443, 3000).observed == observation::ok));
    auto refused = connect_verdict(ECONNREFUSED, false, srv, 1883, 3000);
    BOOST_TEST((refused.observed == observation::fail));
    BOOST_TEST(refused.detail == "connection refused by 198.51.100.10:1883");
    auto timed = connect_verdict(EINPROGRESS, true, srv, 8883, 3000);
    BOOST_TEST((timed.observed == observation::fail));
    BOOST_TEST(timed.detail == "198.51.100.10:8883: timed out after SYN, no answer in 3000 ms");
    BOOST_TEST((connect_verdict(EHOSTUNREACH, false, srv, 80, 3000).observed == observation::fail));
    BOOST_TEST((connect_verdict(EMFILE, false, srv, 80, 3000).observed == observation::error));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dns)

const std::string answer = "Server:\t\t192.168.0.1\nAddress:\t192.168.0.1:53\n\nName:\tiothub.example\nAddress: 198.51.100.10\n";

BOOST_AUTO_TEST_CASE(an_answer_is_ok) {
    std::vector<ipv4_address> a{srv};
    auto v = nslookup_verdict(0, answer, "iothub.example", a);
    BOOST_TEST((v.observed == observation::ok));
    BOOST_TEST(v.detail == "198.51.100.10 from 192.168.0.1");
}

BOOST_AUTO_TEST_CASE(nxdomain_timeout_and_refusal_are_fails_with_the_server) {
    std::vector<ipv4_address> none;
    auto nx = nslookup_verdict(
        1, "Server:\t\t192.168.0.1\nAddress:\t192.168.0.1:53\n\n** server can't find nope.example: NXDOMAIN\n", "nope.example",
        none);
    BOOST_TEST((nx.observed == observation::fail));
    BOOST_TEST(nx.detail == "NXDOMAIN for nope.example from 192.168.0.1");
    auto to = nslookup_verdict(1, ";; connection timed out; no servers could be reached\n", "iothub.example", none);
    BOOST_TEST((to.observed == observation::fail));
    BOOST_TEST(to.detail == "no answer for iothub.example from the server: timed out");
    // busybox, when an ICMP port unreachable comes back (nothing listens on port 53)
    auto refused = nslookup_verdict(
        1, "nslookup: write to '192.168.0.1': Connection refused\n;; connection timed out; no servers could be reached\n",
        "iothub.example", none);
    BOOST_TEST((refused.observed == observation::fail));
    BOOST_TEST(refused.detail.find("refused the query") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_nslookup_or_no_output_is_an_error) {
    std::vector<ipv4_address> none;
    BOOST_TEST((nslookup_verdict(127, "sh: nslookup: not found", "iothub.example", none).observed == observation::error));
    BOOST_TEST((nslookup_verdict(1, "", "iothub.example", none).observed == observation::error));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(route)

BOOST_AUTO_TEST_CASE(the_route_and_its_device) {
    auto ok = route_verdict(0, "198.51.100.10 via 192.168.0.1 dev eth0 src 192.168.0.100", "eth0", "192.168.0.1",
                            "eth0 via 192.168.0.1 metric 100", "");
    BOOST_TEST((ok.observed == observation::ok));
    BOOST_TEST(ok.detail == "dev eth0 via 192.168.0.1; default: eth0 via 192.168.0.1 metric 100");
    auto wrong = route_verdict(0, "...", "eth0", "192.168.0.1", "", "eth1");
    BOOST_TEST((wrong.observed == observation::fail));
    BOOST_TEST(wrong.detail.find("(wanted dev eth1)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_route_is_a_fail_and_no_ip_an_error) {
    auto none = route_verdict(2, "RTNETLINK answers: Network is unreachable", "", "", "", "");
    BOOST_TEST((none.observed == observation::fail));
    BOOST_TEST(none.detail == "no route: Network is unreachable");
    BOOST_TEST((route_verdict(127, "sh: ip: not found", "", "", "", "").observed == observation::error));
    BOOST_TEST((route_verdict(1, "Error: any valid prefix is expected rather than \"x\".", "", "", "", "").observed ==
                observation::error));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dhcp_lease)

const std::pair<ipv4_address, ipv4_address> lan_range{*ipv4_address::parse("192.168.0.100"),
                                                      *ipv4_address::parse("192.168.0.199")};

BOOST_AUTO_TEST_CASE(a_lease_in_the_range_is_ok) {
    auto v = dhcp_lease_verdict(0, ipv4_prefix::parse("192.168.0.150/24").value(), true, lan_range);
    BOOST_TEST((v.observed == observation::ok));
    BOOST_TEST(v.detail == "eth0: 192.168.0.150/24 (in range 192.168.0.100-192.168.0.199)");
    BOOST_TEST(
        (dhcp_lease_verdict(1, ipv4_prefix::parse("172.16.5.3/20").value(), true, std::nullopt).observed == observation::ok));
}

BOOST_AUTO_TEST_CASE(no_address_a_static_one_or_one_outside_the_range_fails) {
    auto none = dhcp_lease_verdict(1, std::nullopt, true, lan_range);
    BOOST_TEST((none.observed == observation::fail));
    BOOST_TEST(none.detail == "eth1: no address");
    auto fixed = dhcp_lease_verdict(0, ipv4_prefix::parse("192.168.0.150/24").value(), false, lan_range);
    BOOST_TEST((fixed.observed == observation::fail));
    BOOST_TEST(fixed.detail == "eth0: static 192.168.0.150/24");
    auto outside = dhcp_lease_verdict(0, ipv4_prefix::parse("192.168.0.200/24").value(), true, lan_range);
    BOOST_TEST((outside.observed == observation::fail));
    BOOST_TEST(outside.detail.find("outside range") != std::string::npos);
    // the range's ends are in it
    BOOST_TEST(
        (dhcp_lease_verdict(0, ipv4_prefix::parse("192.168.0.199/24").value(), true, lan_range).observed == observation::ok));
}

// link_local: ok only with a 169.254.0.0/16 address; a fail says what is held instead.
BOOST_AUTO_TEST_CASE(a_link_local_address_is_ok_anything_else_fails) {
    auto p = [](const char* s) { return ipv4_prefix::parse(s).value(); };
    auto ok = link_local_verdict({p("192.168.0.10/24"), p("169.254.214.195/16")});
    BOOST_TEST((ok.observed == observation::ok));
    BOOST_TEST(ok.detail == "169.254.214.195/16 (link-local)");
    auto none = link_local_verdict({});
    BOOST_TEST((none.observed == observation::fail));
    BOOST_TEST(none.detail == "no IPv4 address");
    auto leased = link_local_verdict({p("192.168.0.150/24"), p("10.0.0.2/8")});
    BOOST_TEST((leased.observed == observation::fail));
    BOOST_TEST(leased.detail == "no link-local address; holds 192.168.0.150/24, 10.0.0.2/8");
    // the prefix's edges: 169.253.255.255 and 169.255.0.0 are not link-local
    BOOST_TEST((link_local_verdict({p("169.253.255.255/16"), p("169.255.0.0/16")}).observed == observation::fail));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(flooding)

BOOST_AUTO_TEST_CASE(a_flood_reaches_every_other_port_from_the_sender) {
    flood_window w{1, 1, {2, 1}, {1, 0}, true};  // port a: 2 frames, 1 of them another port's broadcast
    BOOST_TEST(flood_from_sender(w, 0) == 1u);
    BOOST_TEST(flood_word(w) == "flooded");
}

BOOST_AUTO_TEST_CASE(a_learned_destination_gets_the_frame_alone) {
    flood_window w{0, 1, {1, 1}, {1, 1}, true};  // what the others got, other ports flooded
    BOOST_TEST(flood_word(w) == "to one port");
}

BOOST_AUTO_TEST_CASE(anything_else_is_neither) {
    BOOST_TEST(flood_word(flood_window{1, 1, {1, 0}, {0, 0}, true}) == "neither");  // one port missed the flood
    BOOST_TEST(flood_word(flood_window{0, 0, {0}, {0}, false}) == "neither");       // nothing arrived anywhere
    BOOST_TEST(flood_word(flood_window{0, 1, {3}, {1}, true}) == "neither");        // a frame leaked to another port
    BOOST_TEST(flood_from_sender(flood_window{0, 0, {1}, {4}, false}, 0) == 0u);    // never below zero
}

// The sender's own broadcast in the window (an ARP refresh) reaches every port; it is not
// a flood of the unicast frame (counters seen on a loaded machine: sender flooded one
// broadcast, the third port got exactly that one).
BOOST_AUTO_TEST_CASE(the_senders_own_broadcast_is_not_a_flood_of_the_frame) {
    flood_window w{0, 4, {1}, {0}, true, 1};
    BOOST_TEST(flood_from_sender(w, 0) == 0u);
    BOOST_TEST(flood_word(w) == "to one port");
    flood_window both{1, 2, {2}, {0}, true, 1};  // unknown unicast and a broadcast: still a flood
    BOOST_TEST(flood_word(both) == "flooded");
}

// The destination's own broadcast in the unknown-destination window can teach the switch
// its port before the sender's frame arrives (soak run netvsc 7: the third port got one
// frame, flooded by the destination's port, and the echo request went to one port). Such a
// window is measured again; the echo reply alone is not that.
BOOST_AUTO_TEST_CASE(a_destination_that_spoke_first_voids_the_window) {
    flood_window seen{0, 1, {1}, {1}, true, 0, 2};  // the counters of that run: reply + one broadcast
    BOOST_TEST(flood_word(seen) == "to one port");
    BOOST_TEST(destination_spoke_first(seen));
    BOOST_TEST(!destination_spoke_first(flood_window{1, 1, {1}, {0}, true, 0, 1}));   // only the reply
    BOOST_TEST(!destination_spoke_first(flood_window{1, 1, {1}, {0}, false, 0, 0}));  // silent
    BOOST_TEST(destination_spoke_first(flood_window{0, 0, {0}, {0}, false, 0, 1}));   // no reply, yet it sent
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(resolvers)

BOOST_AUTO_TEST_CASE(resolv_conf_nameservers_in_order) {
    const auto v = guest_resolvers(
        "# written by the guest's init\nsearch lan\nnameserver 192.168.0.1\nnameserver 8.8.8.8 # public\n"
        "options ndots:1\nnameserver 192.168.0.1\n");
    BOOST_TEST((v == std::vector<std::string>{"192.168.0.1", "8.8.8.8"}));
}

BOOST_AUTO_TEST_CASE(resolvectl_per_link_servers) {
    const auto v = guest_resolvers("Global:\nLink 1 (lo):\nLink 2 (eth0): 192.168.0.1 10.0.0.53\nLink 3 (eth1): 172.20.0.1\n");
    BOOST_TEST((v == std::vector<std::string>{"192.168.0.1", "10.0.0.53", "172.20.0.1"}));
}

BOOST_AUTO_TEST_CASE(nothing_listed_is_empty) {
    BOOST_TEST(guest_resolvers("").empty());
    BOOST_TEST(guest_resolvers("search lan\n# nameserver 1.1.1.1\n").empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(route_metrics)

// `ip -4 route show default` of iproute2 (the systemd guest) and of busybox.
BOOST_AUTO_TEST_CASE(default_routes_by_interface_with_their_metric) {
    BOOST_TEST(default_route_metrics("default via 10.10.0.50 dev eth1 proto static metric 239 \n"
                                     "default via 192.168.0.1 dev eth0 proto static metric 945 \n") == "eth0 945, eth1 239");
    BOOST_TEST(default_route_metrics("default via 192.168.0.1 dev eth0 \n10.0.0.0/8 dev eth1 scope link\n") == "eth0 0");
    BOOST_TEST(default_route_metrics("").empty());
}

BOOST_AUTO_TEST_CASE(metrics_redrawn_kept_or_partly) {
    BOOST_TEST(metrics_verdict({"eth0 945, eth1 239", "eth0 630, eth1 794", "eth0 101, eth1 1000"}) == "redrawn at every boot");
    BOOST_TEST(metrics_verdict({"eth0 100, eth1 100", "eth0 100, eth1 100", "eth0 100, eth1 100"}) == "kept");
    BOOST_TEST(metrics_verdict({"eth0 945, eth1 239", "eth0 945, eth1 239", "eth0 101, eth1 1000"}) == "redrawn at some boots");
    BOOST_TEST(metrics_verdict({"eth0 945, eth1 239"}) == "error");  // one boot says nothing
}

BOOST_AUTO_TEST_SUITE_END()
