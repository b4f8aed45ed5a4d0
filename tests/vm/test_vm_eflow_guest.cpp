// The EFLOW-like guest (profile = "eflow", vm-images/build-eflow.sh) in a lab, observed from
// inside the guest through the guest agent: systemd-networkd configures ethX from
// /etc/systemd/network/*.network, systemd-resolved answers on 127.0.0.53 (the only entry of
// /etc/resolv.conf) with the per-link DNS servers of the lab, each ethX has its own default
// route with a priority the guest draws at every boot, the inbound firewall drops a port
// that has a listener while outbound connections work, and the commands the troubleshooting
// guide tells a user to run in the VM work as written.
// Sources: [NW] "DNS" and "Multiple Network Interface Cards (NICs)"; [TS] "Check IP addresses", "Check DNS",
// "Check your firewall and port configuration rules"; [RT] (docs/eflow-facts.md).
// Needs root, QEMU and the eflow image ($VNET_EFLOW_IMAGE_DIR, or built from this tree).
#include <boost/test/unit_test.hpp>

#include "vm_test_util.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <vnet/lab/runtime.hpp>

using namespace vnet;
using namespace std::chrono_literals;
namespace utf = boost::unit_test;

namespace {

using vnet::test::is_root;

// eth0: static with a gateway and one DNS server; eth1: DHCP from the host vNIC of a
// second internal switch, with two DNS servers that replace the lease's. No metric is
// given: the guest draws them.
constexpr std::string_view lab_text = R"(
[lab]
name = "vmtest-eflow"

[[switch]]
name = "Internal"
kind = "internal"
host_address = "172.20.0.1/24"

[[switch]]
name = "Internal2"
kind = "internal"
host_address = "172.21.0.1/24"
dhcp = { range = "172.21.0.100-172.21.0.150" }

[[vm]]
name = "eflow"
profile = "eflow"
  [[vm.nic]]
  switch = "Internal"
  ip = "static"
  address = "172.20.0.2/24"
  gateway = "172.20.0.1"
  dns = ["172.20.0.1"]
  mac = "00:15:5d:2a:2f:62"
  [[vm.nic]]
  switch = "Internal2"
  ip = "dhcp"
  dns = ["192.0.2.53", "172.21.0.1"]
)";

struct eflow_lab {
    std::unique_ptr<lab::lab_runtime> rt;
    double boot_seconds = 0;
    eflow_lab() {
        // The image of the current recipe (a no-op when the cached one is current; the lab
        // itself takes any cached image as it is).
        if (!std::getenv("VNET_EFLOW_IMAGE_DIR")) {
            std::string log;
            auto t0 = std::chrono::steady_clock::now();
            auto img = lab::build_image(vnet::test::source_dir(), lab::guest_profile::eflow,
                                        lab::default_image_dir(lab::guest_profile::eflow), &log);
            if (!img) throw std::runtime_error(fmt::format("vm-images/build-eflow.sh: {}\n{}", img.error().message(), log));
            std::printf("eflow image ready in %.1f s\n",
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        auto lf = lab::parse_lab(lab_text, "eflow.toml");
        if (!lf) throw std::runtime_error(lf.error().to_string());
        auto o = vnet::test::lab_test_options();
        (void)lab::remove_leftovers();
        auto r = lab::lab_runtime::create(std::move(*lf), o);
        if (!r) throw std::runtime_error(r.error());
        rt = std::move(*r);
        for (const auto& b : rt->boot()) {
            if (!b.ready) throw std::runtime_error(fmt::format("{} did not boot: {}", b.name, b.error));
            boot_seconds = b.seconds_to_agent;
            std::printf("eflow profile: boot to agent ready %.2f s\n", b.seconds_to_agent);
        }
    }
    lab::command_result run(const std::string& cmd, std::chrono::milliseconds timeout = 20s) {
        auto r = rt->vm_exec("eflow", cmd, timeout);
        BOOST_REQUIRE_MESSAGE(r.has_value(), fmt::format("`{}`: {}", cmd, r ? "" : r.error().message()));
        return std::move(*r);
    }
    io::run_output ns(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 20s) {
        auto r = rt->ns_exec("host", argv, timeout);
        BOOST_REQUIRE_MESSAGE(r.has_value(), fmt::format("host: {}", r ? "" : r.error().message()));
        return std::move(*r);
    }
};

std::unique_ptr<eflow_lab>& lab_slot() {
    static std::unique_ptr<eflow_lab> l;
    return l;
}
eflow_lab& the_lab() {
    auto& l = lab_slot();
    if (!l) l = std::make_unique<eflow_lab>();
    return *l;
}

/// dev -> metric of the default routes in `ip -4 route show default` output.
std::map<std::string, unsigned> default_metrics(const std::string& routes) {
    std::map<std::string, unsigned> out;
    std::istringstream in(routes);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream w(line);
        std::vector<std::string> t;
        for (std::string s; w >> s;) t.push_back(s);
        std::string dev;
        unsigned metric = 0;
        for (std::size_t i = 0; i + 1 < t.size(); ++i) {
            if (t[i] == "dev") dev = t[i + 1];
            if (t[i] == "metric") metric = static_cast<unsigned>(std::stoul(t[i + 1]));
        }
        if (!t.empty() && t[0] == "default" && !dev.empty()) out[dev] = metric;
    }
    return out;
}

/// The line of `text` that contains `needle` (empty when none).
std::string line_with(const std::string& text, std::string_view needle) {
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (l.find(needle) != std::string::npos) return l;
    return {};
}

std::map<std::string, unsigned> first_boot_metrics;

}  // namespace

BOOST_AUTO_TEST_SUITE(vm_eflow_guest, *utf::precondition(is_root))

// [TS] "Check IP addresses": the interface configuration is in /etc/systemd/network/, and
// systemd-networkd is what applied it.
BOOST_AUTO_TEST_CASE(networkd_manages_ethx_from_etc_systemd_network) {
    auto& l = the_lab();
    auto pid1 = l.run("cat /proc/1/comm");
    BOOST_TEST(pid1.out == "systemd\n");
    auto files = l.run("ls /etc/systemd/network/");
    BOOST_TEST_INFO(files.out);
    BOOST_TEST(files.out.find("20-vnet-eth0.network") != std::string::npos);
    BOOST_TEST(files.out.find("20-vnet-eth1.network") != std::string::npos);
    auto active = l.run("systemctl is-active systemd-networkd systemd-resolved");
    BOOST_TEST(active.out == "active\nactive\n");
    for (int k : {0, 1}) {
        auto st = l.run(fmt::format("networkctl status eth{} --no-pager", k));
        BOOST_TEST_INFO(st.out);
        BOOST_TEST(st.ok());
        BOOST_TEST(line_with(st.out, "Network File:").find(fmt::format("/etc/systemd/network/20-vnet-eth{}.network", k)) !=
                   std::string::npos);
        BOOST_TEST(line_with(st.out, "State:").find("routable (configured)") != std::string::npos);
    }
    // The static address and the MAC the lab gave, on the interface networkd configured.
    auto a = l.run("ip -o -4 addr show dev eth0; cat /sys/class/net/eth0/address");
    BOOST_TEST_INFO(a.out);
    BOOST_TEST(a.out.find("inet 172.20.0.2/24") != std::string::npos);
    BOOST_TEST(a.out.find("00:15:5d:2a:2f:62") != std::string::npos);
    // eth1's lease came from the lab's DHCP server (range 172.21.0.100-150).
    auto d = l.run("ip -o -4 addr show dev eth1");
    BOOST_TEST_INFO(d.out);
    BOOST_TEST(d.out.find("inet 172.21.0.1") != std::string::npos);
    BOOST_TEST(d.out.find("dynamic") != std::string::npos);
    // ... and is mirrored where the lab runtime looks for leases (busybox guest's format).
    auto lease = l.run("cat /run/vnet/lease.eth1");
    BOOST_TEST_INFO(lease.out);
    BOOST_TEST(lease.out.find("ip=172.21.0.1") == 0u);
    BOOST_TEST_INFO(lease.out);
    BOOST_TEST(lease.out.find("\nrouter=172.21.0.1\ndns=192.0.2.53 172.21.0.1\nlease=") != std::string::npos);
}

// [NW] "DNS": the stub 127.0.0.53 is the only entry of /etc/resolv.conf; `resolvectl`
// shows the servers of each link.
BOOST_AUTO_TEST_CASE(resolved_stub_and_per_link_dns) {
    auto& l = the_lab();
    auto rc = l.run("grep '^nameserver' /etc/resolv.conf");
    BOOST_TEST(rc.out == "nameserver 127.0.0.53\n");
    auto dns = l.run("resolvectl dns");
    BOOST_TEST_INFO(dns.out);
    BOOST_TEST(dns.ok());
    auto e0 = line_with(dns.out, "(eth0)");
    auto e1 = line_with(dns.out, "(eth1)");
    BOOST_TEST(e0.substr(e0.find(':') + 1) == " 172.20.0.1");
    BOOST_TEST(e1.substr(e1.find(':') + 1) == " 192.0.2.53 172.21.0.1");
    auto global = line_with(dns.out, "Global:");
    BOOST_TEST(global == "Global:");  // no global (fallback) servers
}

// [RT], [NW] "Multiple Network Interface Cards (NICs)": one default route per ethX, each
// with a priority the guest chose (the lab gave none).
BOOST_AUTO_TEST_CASE(one_default_route_per_nic_with_a_guest_chosen_metric) {
    auto& l = the_lab();
    auto r = l.run("ip -4 route show default");
    BOOST_TEST_INFO(r.out);
    auto m = default_metrics(r.out);
    BOOST_REQUIRE(m.size() == 2u);
    BOOST_REQUIRE(m.count("eth0") == 1u);
    BOOST_REQUIRE(m.count("eth1") == 1u);
    BOOST_TEST(r.out.find("default via 172.20.0.1 dev eth0") != std::string::npos);
    BOOST_TEST(r.out.find("default via 172.21.0.1 dev eth1") != std::string::npos);
    BOOST_TEST(m["eth0"] != m["eth1"]);
    auto drawn = l.run("cat /run/vnet/metric.eth0 /run/vnet/metric.eth1");
    BOOST_TEST(drawn.out == fmt::format("{}\n{}\n", m["eth0"], m["eth1"]));
    first_boot_metrics = m;
}

// EFLOW's inbound policy: a port with a listener in the guest is not reachable from the
// host vNIC until a rule opens it; the guest's own outbound connections work ([TS]: 5671
// outbound open by default).
BOOST_AUTO_TEST_CASE(inbound_blocked_outbound_open) {
    auto& l = the_lab();
    auto listen = l.run("setsid nc -lk 8883 </dev/null >/dev/null 2>&1 & sleep 0.5; ss -ltnH 'sport = :8883'");
    BOOST_TEST_INFO(listen.out);
    BOOST_REQUIRE(listen.out.find(":8883") != std::string::npos);
    auto local = l.run("nc -z -w 2 127.0.0.1 8883");
    BOOST_TEST(local.ok());  // the listener answers (loopback is accepted)
    auto drops = [&] {
        auto c = l.run("iptables -L INPUT -n -v -x | head -n1");
        auto p = c.out.find("policy DROP ");
        BOOST_REQUIRE_MESSAGE(p != std::string::npos, c.out);
        return std::stoul(c.out.substr(p + 12));
    };
    auto before = drops();
    auto in = l.ns({"timeout", "4", "bash", "-c", "exec 3<>/dev/tcp/172.20.0.2/8883"});
    BOOST_TEST(in.status != 0);  // no connection
    auto after = drops();
    BOOST_TEST(after > before);  // ... because the guest's INPUT policy dropped the SYNs
    // Opened the documented way, the same port answers.
    BOOST_REQUIRE(l.run("iptables -I INPUT -p tcp --dport 8883 -j ACCEPT").ok());
    auto open = l.ns({"timeout", "4", "bash", "-c", "exec 3<>/dev/tcp/172.20.0.2/8883"});
    BOOST_TEST(open.status == 0);
    BOOST_REQUIRE(l.run("iptables -D INPUT -p tcp --dport 8883 -j ACCEPT; pkill -x nc; true").ok());

    // Outbound: the guest connects to a server on the host vNIC.
    std::thread server([&] {
        (void)l.rt->ns_exec("host",
                            {"timeout", "20", "python3", "-c",
                             "import socket\n"
                             "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                             "s.bind(('172.20.0.1', 5671)); s.listen(1); s.settimeout(15)\n"
                             "c, _ = s.accept(); c.sendall(b'amqp-ok\\n'); c.close()\n"},
                            25s);
    });
    std::this_thread::sleep_for(1500ms);
    auto out = l.run("nc -w 5 172.20.0.1 5671 </dev/null");
    server.join();
    BOOST_TEST_INFO(out.err);
    BOOST_TEST(out.out == "amqp-ok\n");
}

// [TS] "Check IP addresses" and "Check DNS": the commands it has the user run in the VM,
// as written there (plus `sudo iptables -L` for the firewall section).
BOOST_AUTO_TEST_CASE(troubleshooting_guide_commands_work_literally) {
    auto& l = the_lab();
    auto ifc = l.run("ifconfig eth0");
    BOOST_TEST_INFO(ifc.out);
    BOOST_TEST(ifc.ok());
    BOOST_TEST(ifc.out.find("eth0: flags=") == 0u);
    BOOST_TEST(ifc.out.find("inet 172.20.0.2  netmask 255.255.255.0  broadcast 172.20.0.255") != std::string::npos);
    BOOST_TEST(ifc.out.find("ether 00:15:5d:2a:2f:62") != std::string::npos);
    auto ping = l.run("ping -c 2 -W 2 172.20.0.1");  // "ping <DNS-Server-IP-Address>"
    BOOST_TEST_INFO(ping.out);
    BOOST_TEST(ping.ok());
    // resolved names a link's "Current DNS Server" once it has sent it a query: one lookup
    // first (nothing answers DNS on the lab's host vNICs; the query only has to be sent).
    (void)l.run("resolvectl query -4 --cache=no eflow-check.example", 30s);
    auto st = l.run("resolvectl status");
    BOOST_TEST(st.ok());
    auto eth0 = st.out.substr(0, st.out.find("Link 3 (eth1)"));
    auto eth1 = st.out.substr(std::min(st.out.size(), st.out.find("Link 3 (eth1)")));
    BOOST_TEST_INFO(st.out);
    BOOST_TEST(eth0.find("Link 2 (eth0)") != std::string::npos);
    BOOST_TEST_INFO(st.out);
    BOOST_TEST(eth0.find("Current DNS Server: 172.20.0.1") != std::string::npos);
    BOOST_TEST_INFO(st.out);
    BOOST_TEST(eth0.find("DNS Servers: 172.20.0.1") != std::string::npos);
    BOOST_TEST_INFO(st.out);
    BOOST_TEST(eth1.find("DNS Servers: 192.0.2.53 172.21.0.1") != std::string::npos);
    auto files = l.run("cat /etc/systemd/network/20-vnet-eth0.network");
    BOOST_TEST(files.out.find("Address=172.20.0.2/24") != std::string::npos);
    auto ipt = l.run("sudo iptables -L");
    BOOST_TEST_INFO(ipt.out + ipt.err);
    BOOST_TEST(ipt.ok());
    BOOST_TEST(ipt.out.find("Chain INPUT (policy DROP)") != std::string::npos);
    for (const char* cmd : {"ip route", "route -n", "cat /etc/resolv.conf", "nslookup -timeout=1 localhost 127.0.0.53"}) {
        auto r = l.run(cmd);
        BOOST_TEST_INFO(cmd << ": " << r.out << r.err);
        BOOST_TEST(r.ok());
    }
}

// A second boot of the same lab: the guest draws the default-route priorities again
// ([RT]: "recreated at every boot, so a previously set priority can change").
BOOST_AUTO_TEST_CASE(route_priorities_change_between_boots) {
    BOOST_REQUIRE_MESSAGE(first_boot_metrics.size() == 2u, "the first boot's metrics were not read");
    lab_slot().reset();  // tear the first lab down
    auto& l = the_lab();
    auto r = l.run("ip -4 route show default");
    BOOST_TEST_INFO(r.out);
    auto m = default_metrics(r.out);
    BOOST_REQUIRE(m.size() == 2u);
    std::printf("metrics: boot 1 eth0 %u eth1 %u; boot 2 eth0 %u eth1 %u\n", first_boot_metrics["eth0"],
                first_boot_metrics["eth1"], m["eth0"], m["eth1"]);
    // Each is drawn from 1000 values: both equal to the first boot's by chance has odds 1e-6.
    BOOST_TEST((m != first_boot_metrics));
    lab_slot().reset();
}

BOOST_AUTO_TEST_SUITE_END()
