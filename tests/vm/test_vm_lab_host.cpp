// A real guest with two NICs, built by the lab runtime (lab/runtime.hpp): one on an
// internal switch (it reaches the host vNIC, and the host reaches it), one on an external
// switch bound to a LAN (it reaches a LAN peer, the peer reaches it, and the host shares
// the adapter through its vNIC). Needs root, QEMU and the guest image (vm-images/).
#include <boost/test/unit_test.hpp>

#include "vm_test_util.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <unistd.h>

#include <fmt/format.h>

#include <vnet/lab/runtime.hpp>

using namespace vnet;
using namespace std::chrono_literals;
namespace utf = boost::unit_test;

namespace {

using vnet::test::is_root;

constexpr std::string_view lab_text = R"(
[lab]
name = "vmtest-host"

[host]
network = "lan"
address = "192.168.0.10/24"
gateway = "192.168.0.1"

[[network]]
name = "lan"
subnet = "192.168.0.0/24"
gateway = "192.168.0.1"
  [[network.peer]]
  name = "plc"
  address = "192.168.0.50/24"

[[switch]]
name = "External"
kind = "external"
network = "lan"
allow_management_os = true

[[switch]]
name = "Internal"
kind = "internal"
host_address = "172.20.0.1/24"

[[vm]]
name = "eflow"
  [[vm.nic]]
  switch = "Internal"
  ip = "static"
  address = "172.20.0.2/24"
  [[vm.nic]]
  switch = "External"
  ip = "static"
  address = "192.168.0.20/24"
  gateway = "192.168.0.1"
)";

struct host_lab {
    std::unique_ptr<lab::lab_runtime> rt;
    host_lab() {
        auto lf = lab::parse_lab(lab_text, "host.toml");
        if (!lf) throw std::runtime_error(lf.error().to_string());
        auto o = vnet::test::lab_test_options();
        (void)lab::remove_leftovers();
        auto r = lab::lab_runtime::create(std::move(*lf), o);
        if (!r) throw std::runtime_error(r.error());
        rt = std::move(*r);
        for (const auto& b : rt->boot()) {
            if (!b.ready) throw std::runtime_error(fmt::format("{} did not boot: {}", b.name, b.error));
            std::printf("boot to agent ready: %.2f s (%s)\n", b.seconds_to_agent, b.name.c_str());
        }
    }
    lab::command_result run(const std::string& cmd) {
        auto r = rt->vm_exec("eflow", cmd, 20s);
        BOOST_REQUIRE_MESSAGE(r.has_value(), fmt::format("`{}`: {}", cmd, r ? "" : r.error().message()));
        return std::move(*r);
    }
    io::run_output ns(const std::string& who, const std::vector<std::string>& argv) {
        auto r = rt->ns_exec(who, argv, 20s);
        BOOST_REQUIRE_MESSAGE(r.has_value(), fmt::format("{}: {}", who, r ? "" : r.error().message()));
        return std::move(*r);
    }
};

host_lab& the_lab() {
    static host_lab l;
    return l;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(vm_lab_host, *utf::precondition(is_root))

// Internal switch: VMs and the host's vNIC "vEthernet (Internal)" (docs/eflow-facts.md).
BOOST_AUTO_TEST_CASE(vm_and_host_vnic_on_an_internal_switch) {
    auto& l = the_lab();
    auto r = l.run("ping -c 3 -W 2 172.20.0.1");
    BOOST_TEST_INFO(r.out);
    BOOST_TEST(r.exit_status == 0);
    auto h = l.ns("host", {"ping", "-c", "3", "-W", "2", "172.20.0.2"});
    BOOST_TEST_INFO(h.out);
    BOOST_TEST(h.status == 0);
    // The frames crossed the vnet switch: the host vNIC port and the VM port both count them.
    auto sw = l.rt->switch_index("Internal");
    BOOST_REQUIRE(sw.has_value());
    auto p = l.rt->vm_port("eflow", 0);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(l.rt->pump().counters(*sw, *p).rx_frames >= 6u);
}

// External switch: the VM is on the physical LAN next to its peers; the host keeps its
// address on the shared adapter's vNIC.
BOOST_AUTO_TEST_CASE(vm_and_lan_peer_on_an_external_switch) {
    auto& l = the_lab();
    auto r = l.run("ping -c 3 -W 2 192.168.0.50");
    BOOST_TEST_INFO(r.out);
    BOOST_TEST(r.exit_status == 0);
    auto p = l.ns("plc", {"ping", "-c", "3", "-W", "2", "192.168.0.20"});
    BOOST_TEST_INFO(p.out);
    BOOST_TEST(p.status == 0);
    auto h = l.run("ping -c 2 -W 2 192.168.0.10");  // the host through its vNIC on the same switch
    BOOST_TEST(h.exit_status == 0);
    auto gw = l.run("ping -c 2 -W 2 198.51.100.10");  // the LAN gateway routes to the internet
    BOOST_TEST(gw.exit_status == 0);
}

// A private internal prefix is not reachable from the LAN without NAT or a route.
BOOST_AUTO_TEST_CASE(lan_peer_does_not_reach_the_internal_switch) {
    auto& l = the_lab();
    auto p = l.ns("plc", {"ping", "-c", "2", "-W", "1", "172.20.0.2"});
    BOOST_TEST(p.status != 0);
}

BOOST_AUTO_TEST_SUITE_END()
