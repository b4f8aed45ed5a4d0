// Boots real guests (vm-images/ image, QEMU TCG) on TAPs in a namespace made for the test,
// and talks to them through the guest agent. Needs root, qemu-system-x86 and, for the
// DHCP case, dnsmasq. The image comes from $VNET_IMAGE_DIR when it holds one, otherwise
// vm-images/build.sh builds it (a no-op when the cached image is current).
//
// Everything a case creates (namespace, TAPs, QEMU, dnsmasq, temp folder) is owned by RAII
// objects, so a failed assertion still tears it down; a namespace left by a killed run
// (its pid gone) is removed at the start.
#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/io/netns.hpp>
#include <vnet/io/process.hpp>
#include <vnet/io/tap.hpp>
#include <vnet/lab/guest_agent.hpp>
#include <vnet/lab/qemu.hpp>

#include "vm_test_util.hpp"

using namespace vnet;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace utf = boost::unit_test;

namespace {

constexpr std::string_view ns_prefix = "vnet-vmtest";

using vnet::test::is_root;

bool pid_gone(std::string_view after_prefix) {
    auto pid = std::atoi(std::string(after_prefix.substr(0, after_prefix.find_first_of("-."))).c_str());
    return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

/// Removes namespaces and temp folders of earlier runs of this test whose process is gone
/// (a run killed with SIGKILL; its QEMU and dnsmasq died with it through PDEATHSIG).
void remove_leftovers() {
    for (const auto& name : io::netns::list(std::string(ns_prefix) + "-"))
        if (pid_gone(std::string_view(name).substr(ns_prefix.size() + 1))) (void)io::netns::remove(name);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/tmp", ec)) {
        auto n = e.path().filename().string();
        if (n.rfind("vnet-vmtest-", 0) == 0 && pid_gone(std::string_view(n).substr(12))) fs::remove_all(e.path(), ec);
    }
}

/// Cleans up after killed runs once, before the first case.
struct leftovers_fixture {
    leftovers_fixture() {
        if (::geteuid() == 0) remove_leftovers();
    }
};
BOOST_TEST_GLOBAL_FIXTURE(leftovers_fixture);

/// The guest image, built once per test process.
const lab::guest_image& image() {
    static const lab::guest_image img = [] {
        const char* env = std::getenv("VNET_IMAGE_DIR");
        if (env && *env) {
            if (auto g = lab::guest_image::in_dir(env)) return *g;
        }
        std::string log;
        auto t0 = std::chrono::steady_clock::now();
        auto g = lab::build_image(vnet::test::source_dir(), lab::default_image_dir(), &log);
        if (!g) {
            std::fprintf(stderr, "vm-images/build.sh failed: %s\n%s\n", g.error().message().c_str(), log.c_str());
            throw std::runtime_error("cannot build the guest image");
        }
        std::printf("guest image ready in %.1f s: %s\n",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), g->kernel.c_str());
        return *g;
    }();
    return img;
}

std::string manifest_value(std::string_view key) {
    std::ifstream f(fs::path(image().kernel).parent_path() / "manifest");
    std::string line;
    while (std::getline(f, line))
        if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 && line[key.size()] == '=')
            return line.substr(key.size() + 1);
    return {};
}

/// A temp folder removed on destruction.
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string t = fmt::format("/tmp/vnet-vmtest-{}.XXXXXX", ::getpid());
        if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
        path = t;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

std::string must(const result<io::run_output>& r, std::string_view what) {
    BOOST_REQUIRE_MESSAGE(r.has_value(), fmt::format("{}: {}", what, r ? "" : r.error().message()));
    BOOST_REQUIRE_MESSAGE(r->status == 0, fmt::format("{}: exit {}: {}", what, r->status, r->err));
    return r->out;
}

/// One lab: a namespace, TAPs in it with host addresses, optionally dnsmasq, one VM.
/// Members are destroyed in reverse order: agent, QEMU, dnsmasq, TAPs, namespace, folder.
struct vm_lab {
    temp_dir dir;
    io::netns ns;
    std::vector<io::tap> taps;
    io::child dnsmasq;
    lab::qemu_vm vm;
    lab::agent_client agent;
    double boot_seconds = 0;

    vm_lab() {
        auto n = io::netns::create(ns_prefix);
        BOOST_REQUIRE_MESSAGE(n.has_value(), (n ? std::string() : n.error().message()));
        ns = std::move(*n);
    }

    ~vm_lab() {
        // On a failure, show what the guest printed.
        if (vm.pid() > 0 && !utf::results_collector.results(utf::framework::current_test_case().p_id).passed()) {
            std::fprintf(stderr, "---- serial console of %s ----\n%s\n---- qemu ----\n%s\n", vm.config().name.c_str(),
                         vm.serial_text().c_str(), vm.qemu_text().c_str());
        }
    }

    void add_tap(const std::string& name, const std::string& host_cidr) {
        auto t = io::tap::create(ns.name(), name);
        BOOST_REQUIRE_MESSAGE(t.has_value(), (t ? std::string() : t.error().message()));
        taps.push_back(std::move(*t));
        must(ns.exec({"ip", "addr", "add", host_cidr, "dev", name}), "ip addr add");
    }

    void boot(lab::qemu_vm_config c) {
        c.netns = ns.name();
        c.image = image();
        c.agent_socket = (dir.path / "agent.sock").string();
        c.serial_log = (dir.path / "console.log").string();
        c.qemu_log = (dir.path / "qemu.log").string();
        auto v = lab::qemu_vm::start(std::move(c));
        BOOST_REQUIRE_MESSAGE(v.has_value(), (v ? std::string() : v.error().message()));
        vm = std::move(*v);
        auto a = vm.connect_agent(120s);
        auto took = std::chrono::steady_clock::now() - vm.started_at();
        BOOST_REQUIRE_MESSAGE(a.has_value(), (a ? std::string() : a.error().message()));
        agent = std::move(*a);
        boot_seconds = std::chrono::duration<double>(took).count();
        double load = 0;
        std::ifstream("/proc/loadavg") >> load;
        std::printf("boot to agent ready: %.2f s (%s, load average %.2f)\n", boot_seconds, vm.config().name.c_str(), load);
        std::fflush(stdout);
        std::ofstream(fs::path(vnet::test::binary_dir()) / "vm-boot-times.log", std::ios::app)
            << fmt::format("{} {:.2f} load={:.2f}\n", vm.config().name, boot_seconds, load);
    }

    lab::command_result run(const std::string& cmd, std::chrono::milliseconds timeout = 30s) {
        auto r = agent.run(cmd, timeout);
        BOOST_REQUIRE_MESSAGE(r.has_value(), fmt::format("`{}`: {}", cmd, r ? "" : r.error().message()));
        return std::move(*r);
    }
};

lab::vm_nic nic(std::string tap, std::string mac, lab::nic_mode mode, std::string address = {}, std::string gateway = {},
                std::optional<unsigned> metric = {}, std::vector<std::string> dns = {}) {
    lab::vm_nic n;
    n.tap = std::move(tap);
    n.mac = std::move(mac);
    n.mode = mode;
    n.address = std::move(address);
    n.gateway = std::move(gateway);
    n.metric = metric;
    n.dns = std::move(dns);
    return n;
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(vm_boot, *utf::precondition(is_root))

BOOST_AUTO_TEST_CASE(kernel_cmdline_and_argv) {
    lab::qemu_vm_config c;
    c.name = "g1";
    c.image = {"/k", "/i"};
    c.nics.push_back(nic("vt0", "00-15-5D-00-00-10", lab::nic_mode::static_ip, "192.168.0.100/24", "192.168.0.1", 100,
                         {"192.168.0.1", "1.1.1.1"}));
    c.nics.push_back(nic("vt1", "00:15:5d:00:00:11", lab::nic_mode::dhcp, {}, {}, 200));
    c.agent_socket = "/tmp/a,b.sock";
    auto cmd = lab::kernel_cmdline(c);
    BOOST_REQUIRE(cmd.has_value());
    BOOST_TEST(*cmd ==
               "console=ttyS0 quiet panic=-1 cryptomgr.notests acpi=off vnet.hostname=g1 "
               "vnet.nic0=00:15:5d:00:00:10,static,192.168.0.100/24,192.168.0.1,100,192.168.0.1+1.1.1.1 "
               "vnet.nic1=00:15:5d:00:00:11,dhcp,,,200,");
    auto argv = lab::qemu_argv(c);
    BOOST_REQUIRE(argv.has_value());
    std::string joined;
    for (const auto& a : *argv) joined += a + " ";
    BOOST_TEST(contains(joined, "-accel tcg "));
    BOOST_TEST(contains(joined, "tap,id=net1,ifname=vt1,script=no,downscript=no"));
    BOOST_TEST(contains(joined, "virtio-net-pci,netdev=net0,mac=00:15:5d:00:00:10,romfile="));
    BOOST_TEST(contains(joined, "socket,id=agent,path=/tmp/a,,b.sock,server=on,wait=off"));

    auto bad = c;
    bad.nics[0].address = "192.168.0.100";  // no prefix length
    BOOST_TEST(lab::kernel_cmdline(bad).error().field == "vm.nic.address");
    bad = c;
    bad.nics[1].gateway = "192.168.0.1";  // a gateway on a DHCP NIC
    BOOST_TEST(lab::kernel_cmdline(bad).error().field == "vm.nic.gateway");
    bad = c;
    bad.nics[0].mac = "00:15:5d";
    BOOST_TEST(lab::kernel_cmdline(bad).error().field == "vm.nic.mac");
    bad = c;
    bad.hostname = "bad host";
    BOOST_TEST(lab::kernel_cmdline(bad).error().field == "vm.hostname");
    bad = c;
    bad.nics[0].tap = "a-name-longer-than-15";
    BOOST_TEST(lab::qemu_argv(bad).error().field == "vm.nic.tap");
}

BOOST_AUTO_TEST_CASE(namespace_and_tap_are_removed) {
    std::string ns_name, ns_path;
    {
        auto n = io::netns::create(ns_prefix);
        BOOST_REQUIRE(n.has_value());
        ns_name = n->name();
        ns_path = n->path();
        auto t = io::tap::create(n->name(), "vtx0");
        BOOST_REQUIRE(t.has_value());
        auto again = io::tap::create(n->name(), "vtx0");
        BOOST_REQUIRE(!again);
        BOOST_TEST(again.error().what == errc::conflict);
        auto links = must(n->exec({"ip", "-o", "link"}), "ip -o link");
        BOOST_TEST(contains(links, "vtx0"));
        BOOST_TEST(contains(links, "lo: <LOOPBACK,UP"));
        BOOST_REQUIRE(t->remove().has_value());
        BOOST_TEST(!contains(must(n->exec({"ip", "-o", "link"}), "ip -o link"), "vtx0"));
        BOOST_TEST(fs::exists(ns_path));
        auto dup = io::netns::create_named(ns_name);
        BOOST_REQUIRE(!dup);
        BOOST_TEST(dup.error().what == errc::conflict);
    }
    BOOST_TEST(!fs::exists(ns_path));
    auto gone = io::run({"ip", "-n", ns_name, "link"});
    BOOST_REQUIRE(gone.has_value());
    BOOST_TEST(gone->status != 0);
}

BOOST_AUTO_TEST_CASE(one_guest_static_address) {
    vm_lab l;
    l.add_tap("vt0", "192.168.77.1/24");
    lab::qemu_vm_config c;
    c.name = "guest1";
    c.nics.push_back(
        nic("vt0", "52:54:00:77:00:10", lab::nic_mode::static_ip, "192.168.77.10/24", "192.168.77.1", 100, {"192.168.77.1"}));
    l.boot(c);

    auto uname = l.run("uname -r");
    BOOST_TEST(uname.ok());
    auto release = manifest_value("kernel_release");
    BOOST_TEST(uname.out == release + "\n");

    auto addr = l.run("ip -o addr");
    BOOST_TEST_INFO(addr.out);
    BOOST_TEST(contains(addr.out, "eth0    inet 192.168.77.10/24"));

    auto link = l.run("cat /sys/class/net/eth0/address");
    BOOST_TEST(link.out == "52:54:00:77:00:10\n");

    auto ping = l.run("ping -c 3 -W 2 192.168.77.1", 20s);
    BOOST_TEST_INFO(ping.out << ping.err);
    BOOST_TEST(ping.exit_status == 0);
    BOOST_TEST(contains(ping.out, "3 packets received"));

    auto etc = l.run("hostname; cat /etc/resolv.conf");
    BOOST_TEST(etc.out == "guest1\nnameserver 192.168.77.1\n");

    // Exit status, stderr and awkward bytes come back intact.
    auto st = l.run("printf 'a b\\tc\\n\\001\\377'; echo err >&2; exit 7");
    BOOST_TEST(st.exit_status == 7);
    BOOST_TEST(st.out == "a b\tc\n\001\377");
    BOOST_TEST(st.err == "err\n");

    // The guest enforces the timeout and the agent keeps serving afterwards.
    auto slow = l.agent.run("sleep 30", 1s);
    BOOST_REQUIRE(!slow);
    BOOST_TEST(slow.error().field == "agent.command_timeout");
    BOOST_TEST(l.run("echo still here").out == "still here\n");

    // A second connection (the first closed) gets a fresh banner.
    l.agent.close();
    auto again = l.vm.connect_agent(30s);
    BOOST_REQUIRE_MESSAGE(again.has_value(), (again ? std::string() : again.error().message()));
    l.agent = std::move(*again);
    BOOST_TEST(l.run("echo reconnected").out == "reconnected\n");

    BOOST_TEST(l.boot_seconds < 60.0);
}

BOOST_AUTO_TEST_CASE(two_nics_routes_and_metrics) {
    vm_lab l;
    l.add_tap("vt0", "192.168.77.1/24");
    l.add_tap("vt1", "10.0.5.1/24");
    lab::qemu_vm_config c;
    c.name = "guest2";
    c.nics.push_back(
        nic("vt0", "52:54:00:77:00:20", lab::nic_mode::static_ip, "192.168.77.20/24", "192.168.77.1", 100, {"192.168.77.1"}));
    c.nics.push_back(nic("vt1", "52:54:00:77:00:21", lab::nic_mode::static_ip, "10.0.5.20/24", "10.0.5.1", 500, {"10.0.5.1"}));
    l.boot(c);

    auto macs = l.run("cat /sys/class/net/eth0/address /sys/class/net/eth1/address");
    BOOST_TEST(macs.out == "52:54:00:77:00:20\n52:54:00:77:00:21\n");

    auto routes = l.run("ip route");
    BOOST_TEST_INFO(routes.out);
    BOOST_TEST(contains(routes.out, "default via 192.168.77.1 dev eth0  metric 100"));
    BOOST_TEST(contains(routes.out, "default via 10.0.5.1 dev eth1  metric 500"));
    BOOST_TEST(contains(routes.out, "192.168.77.0/24 dev eth0"));
    BOOST_TEST(contains(routes.out, "10.0.5.0/24 dev eth1"));

    // The lower metric wins for off-link destinations.
    auto get = l.run("ip route get 198.51.100.10");
    BOOST_TEST_INFO(get.out);
    BOOST_TEST(contains(get.out, "via 192.168.77.1 dev eth0"));

    auto resolv = l.run("cat /etc/resolv.conf");
    BOOST_TEST(resolv.out == "nameserver 192.168.77.1\nnameserver 10.0.5.1\n");

    BOOST_TEST(l.run("ping -c 2 -W 2 192.168.77.1", 20s).exit_status == 0);
    BOOST_TEST(l.run("ping -c 2 -W 2 10.0.5.1", 20s).exit_status == 0);
}

BOOST_AUTO_TEST_CASE(dhcp_lease_from_dnsmasq) {
    auto have = io::run({"sh", "-c", "command -v dnsmasq"});
    BOOST_REQUIRE_MESSAGE(have && have->status == 0, "dnsmasq is not installed (apt-get install dnsmasq-base)");

    vm_lab l;
    l.add_tap("vt0", "192.168.77.1/24");
    auto leases = (l.dir.path / "dnsmasq.leases").string();
    io::spawn_options o;
    o.stdout_path = (l.dir.path / "dnsmasq.log").string();
    o.stderr_path = o.stdout_path;
    o.die_with_parent = true;
    auto d = l.ns.spawn(
        {"dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--user=root", "--port=0", "--interface=vt0",
         "--bind-interfaces", "--dhcp-authoritative", "--no-ping", "--dhcp-range=192.168.77.100,192.168.77.150,255.255.255.0,1h",
         "--dhcp-option=option:router,192.168.77.1", "--dhcp-option=option:dns-server,192.168.77.53",
         "--dhcp-leasefile=" + leases, "--pid-file=", "--log-dhcp", "--log-facility=-"},
        o);
    BOOST_REQUIRE_MESSAGE(d.has_value(), (d ? std::string() : d.error().message()));
    l.dnsmasq = std::move(*d);

    lab::qemu_vm_config c;
    c.name = "guest3";
    c.nics.push_back(nic("vt0", "52:54:00:77:00:30", lab::nic_mode::dhcp, {}, {}, 200));
    l.boot(c);

    auto t0 = std::chrono::steady_clock::now();
    std::string addr;
    while (std::chrono::steady_clock::now() - t0 < 60s) {
        addr = l.run("ip -o -4 addr show dev eth0").out;
        if (contains(addr, "inet 192.168.77.1")) break;
        std::this_thread::sleep_for(500ms);
    }
    BOOST_TEST_INFO(addr);
    BOOST_REQUIRE(contains(addr, "inet 192.168.77.1"));
    std::printf("DHCP lease after %.2f s of agent time\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

    auto routes = l.run("ip route");
    BOOST_TEST_INFO(routes.out);
    BOOST_TEST(contains(routes.out, "default via 192.168.77.1 dev eth0  metric 200"));
    BOOST_TEST(l.run("cat /etc/resolv.conf").out == "nameserver 192.168.77.53\n");
    BOOST_TEST(l.run("ping -c 2 -W 2 192.168.77.1", 20s).exit_status == 0);

    std::ifstream lf(leases);
    std::string lease((std::istreambuf_iterator<char>(lf)), std::istreambuf_iterator<char>());
    BOOST_TEST_INFO(lease);
    BOOST_TEST(contains(lease, "52:54:00:77:00:30 192.168.77.1"));
    BOOST_TEST(contains(lease, "guest3"));
}

BOOST_AUTO_TEST_CASE(dead_guest_is_an_error) {
    vm_lab l;
    l.add_tap("vt0", "192.168.77.1/24");
    lab::qemu_vm_config c;
    c.name = "guest4";
    c.nics.push_back(nic("vt0", "52:54:00:77:00:40", lab::nic_mode::none));
    l.boot(c);
    l.vm.stop();
    auto r = l.agent.run("uname -r", 30s);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().field == "agent.connection_closed");
    auto again = l.vm.connect_agent(5s);
    BOOST_REQUIRE(!again);
}

BOOST_AUTO_TEST_CASE(kvm_probe_answers_within_its_timeout) {
    auto t0 = std::chrono::steady_clock::now();
    auto p = lab::probe_kvm(image(), 8s);
    auto took = std::chrono::steady_clock::now() - t0;
    std::printf("KVM probe: %s (%s)\n", std::string(lab::to_string(p.accel)).c_str(), p.reason.c_str());
    BOOST_TEST(!p.reason.empty());
    BOOST_TEST((took < 12s));
    if (p.accel == lab::accel::kvm) BOOST_TEST(contains(p.reason, "booted"));
    auto left = io::run({"pgrep", "-f", "vnet-kvm-probe"});
    BOOST_REQUIRE(left.has_value());
    BOOST_TEST(left->out == "");  // no probe QEMU left behind
}

BOOST_AUTO_TEST_SUITE_END()
