// The EFLOW host cmdlets on a running VM (include/vnet/eflow/cmdlets.hpp): what the VM
// reports is read from guest_nics_command's output, printed as the cmdlets print it, and
// Set-EflowVmDnsServers' parameters are refused with the reference's messages; a NIC
// hot-plugged by Add-EflowVmEndpoint is found, named and configured by a valid script.
// Sources: docs/eflow-facts.md "Deployment cmdlets [FN]"; [TS] "Check IP addresses".
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <vnet/eflow/cmdlets.hpp>
#include <vnet/io/process.hpp>

#include "test_util.hpp"

VNET_TEST_PRINTABLE_NAMESPACE(vnet::eflow)

using namespace vnet;
using namespace vnet::eflow;

namespace {

// What the systemd guest (iproute2) printed, eth1 listed before eth0 and an eth10.
constexpr std::string_view iproute2_output =
    "nic eth1 00:15:5d:00:0a:01 down 0\n"
    "nic eth0 00:15:5d:00:0a:00 up 1\n"
    "2: eth0    inet 192.168.0.20/24 brd 192.168.0.255 scope global eth0\\       valid_lft forever preferred_lft forever\n"
    "default via 192.168.0.1 proto static metric 101 \n"
    "nic eth10 00:15:5d:00:0a:02 up 1\n"
    "4: eth10    inet 10.0.0.5/8 scope global eth10\\       valid_lft forever preferred_lft forever\n";

// What the busybox guest printed.
constexpr std::string_view busybox_output =
    "nic eth0 00:15:5d:00:00:10 up 1\n"
    "2: eth0    inet 192.168.0.20/24 scope global eth0\n"
    "default via 192.168.0.1 \n";

command_line cmd(std::string_view s) { return parse_command_line(s).value(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(eflow_cmdlets)

BOOST_AUTO_TEST_CASE(guest_interfaces_in_numeric_order_with_address_gateway_and_health) {
    auto nics = parse_guest_nics(iproute2_output);
    BOOST_TEST_REQUIRE(nics.size() == 3u);
    BOOST_TEST(nics[0].ifname == "eth0");
    BOOST_TEST(nics[1].ifname == "eth1");
    BOOST_TEST(nics[2].ifname == "eth10");
    BOOST_TEST(fmt::format("{}", nics[0].mac) == "00:15:5d:00:0a:00");
    BOOST_TEST(fmt::format("{}", nics[0].address.value()) == "192.168.0.20/24");
    BOOST_TEST(fmt::format("{}", nics[0].gateway.value()) == "192.168.0.1");
    BOOST_TEST(nics[0].up);
    BOOST_TEST(!nics[1].up);  // operstate down, no carrier
    BOOST_TEST(!nics[1].address.has_value());
    BOOST_TEST(!nics[2].gateway.has_value());  // its address line is not a default route
}

BOOST_AUTO_TEST_CASE(an_interface_up_without_carrier_is_unhealthy) {
    auto nics = parse_guest_nics("nic eth0 00:15:5d:00:00:10 up 0\n");
    BOOST_TEST_REQUIRE(nics.size() == 1u);
    BOOST_TEST(nics[0].health() == endpoint_health::unhealthy);
    BOOST_TEST(parse_guest_nics("2: eth0 inet 1.2.3.4/24\nrubbish\n").empty());  // no "nic" line: nothing
}

BOOST_AUTO_TEST_CASE(get_eflow_vm_addr_prints_the_summary_then_mac_and_ip) {
    auto nics = parse_guest_nics(busybox_output);
    BOOST_TEST_REQUIRE(nics.size() == 1u);
    BOOST_TEST(format_vm_addr("eflow", nics[0]) ==
               "Querying IP and MAC addresses from virtual machine (eflow)\n"
               " - Virtual machine MAC: 00:15:5d:00:00:10\n"
               " - Virtual machine IP : 192.168.0.20 retrieved directly from virtual machine\n"
               "00:15:5d:00:00:10\n"
               "192.168.0.20\n");
    guest_nic none;
    none.ifname = "eth0";
    BOOST_TEST(format_vm_addr("eflow", none).ends_with("00:00:00:00:00:00\nno IPv4 address\n"));
}

BOOST_AUTO_TEST_CASE(get_eflow_vm_endpoint_prints_a_format_list) {
    auto nics = parse_guest_nics(iproute2_output);
    BOOST_TEST(format_endpoint(nics[0]) ==
               "Name            : eth0\n"
               "MacAddress      : 00:15:5d:00:0a:00\n"
               "HealthStatus    : Healthy\n"
               "IpConfiguration : @{IpAddress=192.168.0.20; PrefixLength=24; GatewayAddress=192.168.0.1}\n");
    BOOST_TEST(format_endpoint(nics[1]).ends_with("HealthStatus    : Unhealthy\nIpConfiguration : @{}\n"));
    BOOST_TEST(format_endpoint(nics[2]).ends_with("@{IpAddress=10.0.0.5; PrefixLength=8}\n"));
}

BOOST_AUTO_TEST_CASE(set_eflow_vm_dns_servers_parameters) {
    const std::vector<std::string> eps = {"eth0", "eth1"};
    auto r = parse_set_dns_servers(
        cmd(R"(Set-EflowVmDnsServers -vendpointName "ETH1" -dnsServers @("10.0.0.1", "10.0.0.1", "8.8.8.8"))"), eps);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->endpoint == "eth1");    // the endpoint's own spelling
    BOOST_TEST(r->servers.size() == 2u);  // a server given twice is kept once
    auto d = parse_set_dns_servers(cmd("Set-EflowVmDnsServers -dnsServers 1.1.1.1"), eps);
    BOOST_TEST(d.value().endpoint == "eth0");  // no -vendpointName: the primary
    BOOST_TEST(parse_set_dns_servers(cmd("Set-EflowVmDnsServers -vendpointName eth7 -dnsServers 1.1.1.1"), eps).error() ==
               "Error: vendpointName eth7 not found");
    BOOST_TEST(parse_set_dns_servers(cmd("Set-EflowVmDnsServers -vendpointName eth0"), eps).error() ==
               "Error: dnsServers is required");
    BOOST_TEST(parse_set_dns_servers(cmd("Set-EflowVmDnsServers -dnsServers 1.1.1.300"), eps).error() ==
               "Error: Invalid DNS server 1.1.1.300");
    BOOST_TEST(parse_set_dns_servers(cmd("Set-EflowVmDnsServers -dnsServers 1.1.1.1 -force 1"), eps).error() ==
               "Error: A parameter cannot be found that matches parameter name 'force'");
}

BOOST_AUTO_TEST_CASE(read_only_cmdlets_take_only_their_filter) {
    BOOST_TEST(!single_filter(cmd("Get-EflowVmAddr"), "").value().has_value());
    BOOST_TEST(single_filter(cmd("Get-EflowVmEndpoint -VENDPOINTNAME eth1"), "vendpointName").value().value() == "eth1");
    BOOST_TEST(single_filter(cmd("Get-EflowVmAddr -x 1"), "").error() ==
               "Error: A parameter cannot be found that matches parameter name 'x'");
}

// Add-EflowVmEndpoint on a running lab: what the guest runs once QEMU added the device.
namespace {
/// The script is valid shell (sh -n), checked without running it.
bool parses_as_shell(const std::string& script) {
    const auto path = std::filesystem::temp_directory_path() / ("vnet-test-hotplug-" + std::to_string(::getpid()) + ".sh");
    std::ofstream(path) << script << "\n";
    auto r = io::run({"sh", "-n", path.string()}, {}, std::chrono::seconds(10));
    std::filesystem::remove(path);
    return r && r->status == 0;
}
hot_plug_nic nic(bool networkd, bool dhcp) {
    hot_plug_nic n;
    n.mac = *mac_address::parse("00:15:5d:00:0a:01");
    n.ifname = "eth1";
    n.networkd = networkd;
    if (!dhcp) n.static_ip = static_ipv4{*ipv4_prefix::parse("192.168.0.31/24"), *ipv4_address::parse("192.168.0.1")};
    return n;
}
bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }
}  // namespace

BOOST_AUTO_TEST_CASE(hot_plug_script_finds_names_and_configures_the_nic) {
    for (bool networkd : {false, true})
        for (bool dhcp : {false, true}) {
            BOOST_TEST_CONTEXT("networkd " << networkd << " dhcp " << dhcp) {
                auto s = hot_plug_script(nic(networkd, dhcp));
                BOOST_TEST(parses_as_shell(s));
                // acpi=off guests get no hot-plug event: the bus is rescanned, the NIC found by its MAC
                BOOST_TEST(has(s, "echo 1 > /sys/bus/pci/rescan"));
                BOOST_TEST(has(s, "/run/vnet/removed-macs"));  // devices of removed endpoints stay out
                BOOST_TEST(has(s, "= 00:15:5d:00:0a:01 ]"));
                BOOST_TEST(has(s, "ip link set dev \"$dev\" name eth1"));
                BOOST_TEST(has(s, "no interface with MAC 00:15:5d:00:0a:01 appeared in 10 s"));
            }
        }
    auto nd_static = hot_plug_script(nic(true, false));
    BOOST_TEST(has(nd_static, "'MACAddress=00:15:5d:00:0a:01'"));
    BOOST_TEST(has(nd_static, "'Address=192.168.0.31/24' '' '[Route]' 'Gateway=192.168.0.1' \"Metric=$m\""));
    BOOST_TEST(has(nd_static, "> /etc/systemd/network/20-vnet-eth1.network"));
    BOOST_TEST(has(nd_static, "networkctl reload && networkctl reconfigure eth1"));
    auto nd_dhcp = hot_plug_script(nic(true, true));
    BOOST_TEST(has(nd_dhcp, "'DHCP=ipv4'"));
    BOOST_TEST(has(nd_dhcp, "\"RouteMetric=$m\""));
    BOOST_TEST(!has(nd_dhcp, "'Address="));
    auto bb_static = hot_plug_script(nic(false, false));
    BOOST_TEST(has(bb_static, "ip addr add 192.168.0.31/24 dev eth1 && ip route add default via 192.168.0.1 dev eth1 metric $m"));
    BOOST_TEST(!has(bb_static, "networkctl"));
    auto bb_dhcp = hot_plug_script(nic(false, true));
    BOOST_TEST(has(bb_dhcp, "udhcpc -b -i eth1 -s /usr/share/udhcpc/default.script"));
}

BOOST_AUTO_TEST_SUITE_END()
