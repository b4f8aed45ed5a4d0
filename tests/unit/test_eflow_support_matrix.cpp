// The EFLOW support matrix (include/vnet/eflow/support_matrix.hpp), exhaustively, and its
// agreement with deploy validation.
// Source: [NW] "Virtual switch choices" and "IP address
// allocations" tables; docs/eflow-facts.md "Support matrix [NW]".
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <type_traits>

#include <fmt/format.h>

#include <vnet/eflow/deploy.hpp>
#include <vnet/eflow/support_matrix.hpp>

#include "test_util.hpp"

VNET_TEST_PRINTABLE_NAMESPACE(vnet::eflow)
VNET_TEST_PRINTABLE_NAMESPACE(vnet::sw)

using namespace vnet;
using namespace vnet::eflow;

BOOST_AUTO_TEST_SUITE(eflow_support_matrix)

// Every cell of switch type x SKU x IP mode, against the two tables of [NW].
BOOST_AUTO_TEST_CASE(every_cell_matches_seed_000) {
    struct cell {
        switch_type t;
        host_sku s;
        ip_mode m;
        bool expected;
    };
    const cell cells[] = {
        // External: client yes, server yes; static yes, DHCP yes.
        {switch_type::external, host_sku::client, ip_mode::static_ip, true},
        {switch_type::external, host_sku::client, ip_mode::dhcp, true},
        {switch_type::external, host_sku::server, ip_mode::static_ip, true},
        {switch_type::external, host_sku::server, ip_mode::dhcp, true},
        // Internal: client no, server yes; static yes, DHCP yes.
        {switch_type::internal, host_sku::client, ip_mode::static_ip, false},
        {switch_type::internal, host_sku::client, ip_mode::dhcp, false},
        {switch_type::internal, host_sku::server, ip_mode::static_ip, true},
        {switch_type::internal, host_sku::server, ip_mode::dhcp, true},
        // Default switch: client yes, server no; static no, DHCP yes.
        {switch_type::default_switch, host_sku::client, ip_mode::static_ip, false},
        {switch_type::default_switch, host_sku::client, ip_mode::dhcp, true},
        {switch_type::default_switch, host_sku::server, ip_mode::static_ip, false},
        {switch_type::default_switch, host_sku::server, ip_mode::dhcp, false},
    };
    for (const auto& c : cells)
        BOOST_TEST(supported(c.t, c.s, c.m) == c.expected,
                   fmt::format("{} / {} / {}", to_string(c.t), to_string(c.s), to_string(c.m)));
}

// [NW] "Virtual switch choices" alone.
BOOST_AUTO_TEST_CASE(switch_type_by_sku) {
    BOOST_TEST(switch_supported(switch_type::external, host_sku::client));
    BOOST_TEST(switch_supported(switch_type::external, host_sku::server));
    BOOST_TEST(!switch_supported(switch_type::internal, host_sku::client));
    BOOST_TEST(switch_supported(switch_type::internal, host_sku::server));
    BOOST_TEST(switch_supported(switch_type::default_switch, host_sku::client));
    BOOST_TEST(!switch_supported(switch_type::default_switch, host_sku::server));
}

// [NW] "IP address allocations" alone.
BOOST_AUTO_TEST_CASE(ip_mode_by_switch_type) {
    BOOST_TEST(ip_mode_supported(switch_type::external, ip_mode::static_ip));
    BOOST_TEST(ip_mode_supported(switch_type::external, ip_mode::dhcp));
    BOOST_TEST(ip_mode_supported(switch_type::internal, ip_mode::static_ip));
    BOOST_TEST(ip_mode_supported(switch_type::internal, ip_mode::dhcp));
    BOOST_TEST(!ip_mode_supported(switch_type::default_switch, ip_mode::static_ip));
    BOOST_TEST(ip_mode_supported(switch_type::default_switch, ip_mode::dhcp));
}

// Every row cites its seed and section.
BOOST_AUTO_TEST_CASE(every_row_cites_its_source) {
    BOOST_TEST(support_matrix.size() == 4u);  // one row per switch kind
    for (const auto& r : support_matrix) {
        BOOST_TEST(r.sku_source.starts_with("[NW] \"Virtual switch choices\""));
        BOOST_TEST(r.ip_source.starts_with("[NW] \"IP address allocations\""));
        const std::string name(hyperv_name(r.type));
        BOOST_TEST(std::string(r.sku_source)
                       .find(name == "Default Switch" ? "Default switch"
                             : name == "Private"      ? "private"
                                                      : name) != std::string::npos);
    }
    // A private switch is none of EFLOW's choices: supported nowhere.
    BOOST_TEST(!switch_supported(switch_type::private_, host_sku::client));
    BOOST_TEST(!switch_supported(switch_type::private_, host_sku::server));
    BOOST_TEST(!ip_mode_supported(switch_type::private_, ip_mode::dhcp));
    BOOST_TEST(fmt::format("{}", support_for(switch_type::internal)) == "Internal: client no, server yes, static yes, dhcp yes");
}

// docs/eflow-facts.md "Deployment cmdlets [FN]": vswitchType Internal|External, case-insensitive as
// PowerShell; lab files say client | server.
BOOST_AUTO_TEST_CASE(parsing_names) {
    BOOST_TEST(parse_switch_type("external").value() == switch_type::external);
    BOOST_TEST(parse_switch_type("INTERNAL").value() == switch_type::internal);
    BOOST_TEST(!parse_switch_type("Private"));
    BOOST_TEST(!parse_switch_type("Default"));
    BOOST_TEST(!parse_switch_type(""));
    BOOST_TEST(parse_host_sku("Server").value() == host_sku::server);
    BOOST_TEST(parse_host_sku("client").value() == host_sku::client);
    BOOST_TEST(!parse_host_sku("workstation"));
}

// The matrix and deploy validation agree on every cell: a supported cell yields a plan, an
// unsupported one an error (the fake network answers for every gateway and no address is
// in use).
BOOST_AUTO_TEST_CASE(validation_agrees_with_the_matrix) {
    for (auto t : {switch_type::external, switch_type::internal, switch_type::default_switch})
        for (auto s : {host_sku::client, host_sku::server})
            for (auto m : {ip_mode::static_ip, ip_mode::dhcp}) {
                host_state h;
                h.sku = s;
                h.switches = {{"Ext", switch_type::external, std::nullopt},
                              {"Int", switch_type::internal, ipv4_prefix(ipv4_address(172, 20, 1, 1), 24)}};
                h.switches[1].dhcp_server = (m == ip_mode::dhcp);
                h.nats = {{"Int-NAT", ipv4_prefix(ipv4_address(172, 20, 1, 0), 24)}};
                deploy_options o;
                if (t == switch_type::external) {
                    o.vswitch_name = "Ext";
                    o.vswitch_type = "External";
                } else if (t == switch_type::internal) {
                    o.vswitch_name = "Int";
                    o.vswitch_type = "Internal";
                }
                if (m == ip_mode::static_ip) {
                    o.ip4_address = "172.20.1.10";
                    o.ip4_gateway_address = "172.20.1.1";
                    o.ip4_prefix_length = "24";
                }
                const ipv4_address gw(172, 20, 1, 1);
                network_probe probe{[gw](ipv4_address a) { return a == gw; }};
                auto r = validate_deploy(o, h, probe);
                BOOST_TEST(r.plan.has_value() == supported(t, s, m),
                           fmt::format("{} / {} / {}: {}", to_string(t), to_string(s), to_string(m),
                                       r.report.error ? r.report.error->message : std::string("plan")));
                if (r.plan) {
                    BOOST_TEST(r.plan->type == t);
                    BOOST_TEST(r.plan->mode() == m);
                }
            }
}

BOOST_AUTO_TEST_SUITE_END()
