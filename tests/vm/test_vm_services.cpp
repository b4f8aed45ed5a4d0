// vnet's Default Switch services (svc::default_switch: DHCP server, DNS proxy, ICS NAT)
// served on kernel interfaces by lab::ics_host, driven by real clients nobody here wrote:
// busybox udhcpc, ISC dhclient, dhcpcd, dig, and the kernel's own TCP/UDP stacks. Boots
// no VM: every peer is a network namespace.
//
// Topology (one per test case, all namespaces "vsvc-<pid>-<n>"):
//   client namespaces  eth0 (a fixed MAC) --veth-- port cN of bridge "vsw" in the host
//   host namespace     vsw = the Default Switch's host vNIC: 172.16.0.1/20, MAC vnic_mac;
//                      up0 = the uplink 203.0.113.2/24 (kernel offloads on, as the
//                      runtime's host adapter), default route via 203.0.113.1;
//                      ics_host serves vsw and NATs out of up0, set up as the lab runtime
//                      does (runtime.hpp start_ics(): ip_local_port_range below the NAT's
//                      ports, ics_kernel_rules() through nft -f, make, start)
//   internet namespace wan0 203.0.113.1/24, 198.51.100.10/32 on lo with dnsmasq (the
//                      host's DNS server, iothub.example -> 198.51.100.10), a TCP server
//                      and a UDP echo server that print the peer they see
// Every case reads what the client saw beside what the bundle recorded (ics_host::inspect:
// DHCP counters and lease table, DNS proxy counters, NAT flows).
//
// Clean-up: the fixture's members are declared in teardown order, so a failed assertion
// (an exception) still stops ics_host, kills every process left in the namespaces (found by
// `ip netns pids`, i.e. only processes this run started there), deletes the veths and the
// namespaces, the clients' files in /var/lib/dhcpcd and /run/dhcpcd, and the temporary
// folder. The DHCP clients run with scripts written here: dhclient never runs
// dhclient-script and dhcpcd never runs its hooks, so /etc/resolv.conf is never touched
// (checked). Traffic stays inside the namespaces (docs/lab-notes.md "Limits to plan for").
// Needs root and: ip, nft, sysctl, dnsmasq, python3, dig, busybox, dhclient, dhcpcd.
#include <boost/test/unit_test.hpp>

#include "vm_test_util.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/process.hpp>
#include <vnet/io/veth.hpp>
#include <vnet/lab/ics_host.hpp>
#include <vnet/services/default_switch.hpp>
#include <vnet/services/nat.hpp>
#include <vnet/wire/dhcp.hpp>

VNET_TEST_PRINTABLE_NAMESPACE(vnet::svc)

using namespace vnet;
using namespace std::chrono_literals;
namespace utf = boost::unit_test;
namespace fs = std::filesystem;

namespace {

using vnet::test::is_root;
using bundle = lab::ics_host::bundle_type;
using msg = wire::dhcp_message_type;

constexpr std::string_view ns_prefix = "vsvc";
const ipv4_address vnic_address{172, 16, 0, 1};
const ipv4_prefix ics_range{ipv4_address{172, 16, 0, 0}, 20};
const ipv4_address uplink_address{203, 0, 113, 2};
const ipv4_address internet_gateway{203, 0, 113, 1};
const ipv4_address internet_server{198, 51, 100, 10};
constexpr mac_address vnic_mac{0x00, 0x15, 0x5d, 0x00, 0x00, 0x01};
constexpr std::uint16_t tcp_port = 7000;
constexpr std::uint16_t udp_port = 7001;

template <class T>
T need(result<T> r, std::string_view what) {
    if (!r) BOOST_FAIL(fmt::format("{}: {}", what, r.error().message()));
    return std::move(*r);
}
void need(result<void> r, std::string_view what) {
    if (!r) BOOST_FAIL(fmt::format("{}: {}", what, r.error().message()));
}

std::string join(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
    return s;
}

/// Runs argv in the namespace; the captured output (a spawn failure or timeout fails the case).
io::run_output run_in(const io::netns& ns, const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 20s) {
    return need(ns.exec(argv, timeout), join(argv));
}

/// Runs argv in the namespace and requires exit status 0.
io::run_output must(const io::netns& ns, const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 20s) {
    auto r = run_in(ns, argv, timeout);
    BOOST_REQUIRE_MESSAGE(r.status == 0, join(argv) << " -> " << r.status << ": " << r.err << r.out);
    return r;
}

/// `command -v tool` succeeds; otherwise the case fails naming the Debian package.
void require_tools(std::initializer_list<std::pair<std::string_view, std::string_view>> tools) {
    for (const auto& [tool, package] : tools) {
        auto r = io::run({"sh", "-c", "command -v \"$0\"", std::string(tool)}, {}, 10s);
        BOOST_REQUIRE_MESSAGE(r && r->status == 0, tool << " is not installed (Debian package " << package << ")");
    }
}

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

void write_file(const std::string& path, std::string_view text, bool executable = false) {
    std::ofstream(path) << text;
    if (executable) ::chmod(path.c_str(), 0755);
}

/// Polls pred every 20 ms until it holds or the timeout passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(20ms);
    }
}

/// SIGKILLs every process inside the namespace (`ip netns pids`): only processes this run
/// started can be in a namespace it made.
void kill_processes_in(const std::string& ns) {
    if (ns.empty()) return;
    for (int round = 0; round < 3; ++round) {
        auto r = io::run({"ip", "netns", "pids", ns}, {}, 5s);
        if (!r || r->status != 0 || r->out.empty()) return;
        std::istringstream in(r->out);
        for (long pid = 0; in >> pid;)
            if (pid > 1 && pid != ::getpid()) ::kill(static_cast<pid_t>(pid), SIGKILL);
        std::this_thread::sleep_for(20ms);
    }
}

/// Removes namespaces of earlier runs of this test whose process is gone.
void remove_leftovers() {
    for (const auto& name : io::netns::list(std::string(ns_prefix) + "-")) {
        auto rest = name.substr(ns_prefix.size() + 1);
        auto pid = std::atoi(rest.substr(0, rest.find('-')).c_str());
        if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) {
            kill_processes_in(name);
            (void)io::netns::remove(name);
        }
    }
}

/// A namespace of this run with IPv6 off (the services are IPv4 only); on destruction
/// the processes left in it are killed before its name goes.
struct lab_netns {
    io::netns ns;
    lab_netns() {
        ns = need(io::netns::create(ns_prefix), "netns");
        need(ns.run_in([]() -> result<void> {
            for (const char* p : {"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"}) {
                std::ofstream f(p);
                f << "1\n";
                if (!f) return fail(layer::io, errc::io, "disable_ipv6");
            }
            return {};
        }),
             "disable IPv6");
    }
    lab_netns(const lab_netns&) = delete;
    lab_netns& operator=(const lab_netns&) = delete;
    ~lab_netns() { kill_processes_in(ns.name()); }
};

/// The run's temporary folder and files outside it; removed last.
struct scratch {
    std::string dir;
    std::vector<std::string> extra_files;
    scratch() {
        std::string t = (fs::temp_directory_path() / "vsvc-XXXXXX").string();
        BOOST_REQUIRE(::mkdtemp(t.data()) != nullptr);
        dir = t;
    }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    ~scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
        for (const auto& f : extra_files) fs::remove(f, ec);
    }
    std::string file(std::string_view name) const { return dir + "/" + std::string(name); }
};

/// /etc/resolv.conf as it is now: the DHCP clients must leave it alone.
struct resolv_conf_state {
    std::string text;
    std::int64_t mtime_ns = 0;
    bool exists = false;
    static resolv_conf_state now() {
        resolv_conf_state s;
        struct stat st {};
        s.exists = ::stat("/etc/resolv.conf", &st) == 0;
        if (s.exists) s.mtime_ns = std::int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
        s.text = slurp("/etc/resolv.conf");
        return s;
    }
    friend bool operator==(const resolv_conf_state&, const resolv_conf_state&) = default;
};

// ---------------------------------------------------------------------------------------
// Programs the peers run
// ---------------------------------------------------------------------------------------

/// argv: address port. Each connection: one line in, "peer A:P LINE" out (and on stdout).
constexpr std::string_view tcp_server_py = R"py(import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print('ready', flush=True)
while True:
    c, peer = s.accept()
    with c:
        c.settimeout(5)
        try:
            line = c.makefile('rb').readline().decode().strip()
            print('tcp peer %s:%d %s' % (peer[0], peer[1], line), flush=True)
            c.sendall(('peer %s:%d %s\n' % (peer[0], peer[1], line)).encode())
        except OSError:
            pass
)py";

/// argv: address port. Each datagram comes back prefixed with "peer A:P ".
constexpr std::string_view udp_server_py = R"py(import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print('ready', flush=True)
while True:
    d, peer = s.recvfrom(2048)
    print('udp peer %s:%d %s' % (peer[0], peer[1], d.decode(errors='replace')), flush=True)
    s.sendto(('peer %s:%d ' % peer).encode() + d, peer)
)py";

/// argv: address port line. Prints the server's reply line.
constexpr std::string_view tcp_client_py = R"py(import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall((sys.argv[3] + '\n').encode())
print(s.makefile('rb').readline().decode().strip())
)py";

/// argv: address port payload. Prints the first reply; up to 5 tries, 1 s apart.
constexpr std::string_view udp_client_py = R"py(import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(5):
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    try:
        print(s.recvfrom(2048)[0].decode())
        sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
)py";

/// argv: server hex. Sends the raw bytes to server:53, prints the reply in hex.
constexpr std::string_view raw_dns_py = R"py(import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(3):
    s.sendto(bytes.fromhex(sys.argv[2]), (sys.argv[1], 53))
    try:
        print(s.recvfrom(4096)[0].hex())
        sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
)py";

/// A DHCP client script: appends "EVENT key=value ..." to `events` (spaces in values become
/// commas) and, when `apply`, sets or removes the address and default route. $1 is the
/// event for udhcpc, $reason for dhclient and dhcpcd.
std::string client_script(const std::string& events, bool apply) {
    return fmt::format(R"sh(#!/bin/sh
ev="${{1:-$reason}}"
kv() {{ line="$line $1=$(printf '%s' "$2" | tr ' ' ',')"; }}
line="$ev"
kv ip "${{ip:-$new_ip_address}}"; kv mask "$mask"; kv subnet "${{subnet:-$new_subnet_mask}}"
kv router "${{router:-$new_routers}}"; kv dns "${{dns:-$new_domain_name_servers}}"
kv domain "${{domain:-$new_domain_name}}"; kv lease "${{lease:-$new_dhcp_lease_time}}"
kv serverid "${{serverid:-$new_dhcp_server_identifier}}"
printf '%s\n' "$line" >> '{0}'
[ '{1}' = yes ] || exit 0
case "$ev" in
  bound|renew) ip addr replace "$ip/$mask" dev "$interface"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done ;;
  deconfig) ip -4 addr flush dev "$interface" ;;
  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
    for r in $new_routers; do ip route replace default via "$r" dev "$interface"; break; done ;;
  RELEASE|EXPIRE|FAIL|STOP) ip -4 addr flush dev "$interface" ;;
esac
exit 0
)sh",
                       events, apply ? "yes" : "no");
}

struct client_event {
    std::string name;
    std::map<std::string, std::string> kv;
    std::string get(const std::string& k) const {
        auto it = kv.find(k);
        return it == kv.end() ? std::string{} : it->second;
    }
};

std::vector<client_event> read_events(const std::string& path) {
    std::vector<client_event> out;
    auto text = slurp(path);
    text.erase(text.find_last_of('\n') == std::string::npos ? 0 : text.find_last_of('\n') + 1);  // whole lines only
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        client_event e;
        words >> e.name;
        for (std::string w; words >> w;)
            if (auto eq = w.find('='); eq != std::string::npos) e.kv[w.substr(0, eq)] = w.substr(eq + 1);
        if (!e.name.empty()) out.push_back(std::move(e));
    }
    return out;
}

/// The nth (1-based) event among `names` in the file, waiting up to `timeout` for it.
std::optional<client_event> wait_event(const std::string& path, std::initializer_list<std::string_view> names, std::size_t nth,
                                       std::chrono::milliseconds timeout) {
    std::optional<client_event> found;
    eventually(
        [&] {
            std::size_t n = 0;
            for (auto& e : read_events(path))
                if (std::find(names.begin(), names.end(), e.name) != names.end() && ++n == nth) {
                    found = std::move(e);
                    return true;
                }
            return false;
        },
        timeout);
    return found;
}

std::size_t count_events(const std::string& path, std::string_view name) {
    auto ev = read_events(path);
    return static_cast<std::size_t>(std::count_if(ev.begin(), ev.end(), [&](const client_event& e) { return e.name == name; }));
}

std::optional<ipv4_address> address_of(const std::string& s) {
    auto a = ipv4_address::parse(s);
    return a ? std::optional(*a) : std::nullopt;
}

// ---------------------------------------------------------------------------------------
// The lab
// ---------------------------------------------------------------------------------------

struct lab_client {
    lab_netns ns;  // declared first: destroyed last
    io::veth link;
    std::string ifname;
    mac_address mac{};
};

/// Clients on a bridge (the host vNIC), the host with ics_host, the internet with its
/// servers. Members are destroyed in reverse order: ics_host stops, the servers and every
/// process left in the namespaces are killed, the veths and namespaces go, then the files.
class services_lab {
public:
    scratch files;
    lab_netns host;
    lab_netns internet;
    std::vector<std::unique_ptr<lab_client>> clients;
    io::veth uplink;
    std::vector<io::child> servers;
    std::unique_ptr<lab::ics_host> ics;

    explicit services_lab(std::vector<std::string> client_ifnames = {"eth0"}) {
        require_tools({{"ip", "iproute2"},
                       {"nft", "nftables"},
                       {"sysctl", "procps"},
                       {"dnsmasq", "dnsmasq-base"},
                       {"python3", "python3"},
                       {"dig", "bind9-dnsutils"}});
        must(host.ns, {"ip", "link", "add", "name", "vsw", "address", fmt::format("{}", vnic_mac), "type", "bridge",
                       "forward_delay", "0"});
        must(host.ns, {"ip", "addr", "add", fmt::format("{}/20", vnic_address), "dev", "vsw"});
        must(host.ns, {"ip", "link", "set", "vsw", "up"});
        for (const auto& n : client_ifnames) add_client(n);
        // The bridge keeps the address given (no port's MAC takes over).
        auto shown = must(host.ns, {"ip", "-br", "link", "show", "vsw"});
        BOOST_REQUIRE_MESSAGE(shown.out.find(fmt::format("{}", vnic_mac)) != std::string::npos, shown.out);

        // The uplink keeps the kernel's offloads, as the runtime's `ip link add ... type veth`
        // host adapter does: the internet's packets reach ics_host with partial checksums.
        io::veth_options uo;
        uo.offloads = true;
        uplink = need(io::veth::create(host.ns.name(), "up0", internet.ns.name(), "wan0", uo), "uplink veth");
        must(host.ns, {"ip", "addr", "add", fmt::format("{}/24", uplink_address), "dev", "up0"});
        must(host.ns, {"ip", "route", "add", "default", "via", fmt::format("{}", internet_gateway)});
        must(internet.ns, {"ip", "addr", "add", fmt::format("{}/24", internet_gateway), "dev", "wan0"});
        must(internet.ns, {"ip", "addr", "add", fmt::format("{}/32", internet_server), "dev", "lo"});

        start_internet();
        start_ics();
    }

    lab_client& client(std::size_t i = 0) { return *clients.at(i); }

    /// ics_host::inspect on the bundle only.
    template <class F>
    auto look(F&& f) const {
        return ics->inspect([&](const bundle& b, const lab::ics_host_counters&) { return f(b); });
    }
    lab::ics_host_counters glue() const {
        return ics->inspect([](const bundle&, const lab::ics_host_counters& c) { return c; });
    }
    svc::dhcp_counters dhcp() const {
        return look([](const bundle& b) { return b.dhcp().counters(); });
    }
    svc::dns_proxy_counters dns() const {
        return look([](const bundle& b) { return b.dns().counters(); });
    }
    svc::nat_counters nat() const {
        return look([](const bundle& b) { return b.nat().counters(); });
    }
    std::optional<svc::dhcp_lease> lease_of(const mac_address& m) const {
        return look([&](const bundle& b) -> std::optional<svc::dhcp_lease> {
            if (const auto* l = b.dhcp().lease_of(m)) return *l;
            return std::nullopt;
        });
    }
    std::vector<svc::nat_flow_info> flows() const {
        return look([](const bundle& b) {
            std::vector<svc::nat_flow_info> v;
            b.nat().for_each_flow([&](const svc::nat_flow_info& f) { v.push_back(f); });
            return v;
        });
    }
    std::string summary() const { return ics->summary(); }

    /// A python3 program (source in a file of the scratch folder) run to completion in ns.
    io::run_output python(const io::netns& ns, std::string_view name, std::string_view source, std::vector<std::string> args,
                          std::chrono::milliseconds timeout = 20s) {
        const auto path = files.file(name);
        if (!fs::exists(path)) write_file(path, source);
        args.insert(args.begin(), {"python3", path});
        return run_in(ns, args, timeout);
    }

    /// A python3 server started in ns, stdout to <name>.log; waits for its "ready" line.
    io::child& start_python_server(const io::netns& ns, std::string_view name, std::string_view source,
                                   std::vector<std::string> args) {
        const auto path = files.file(std::string(name) + ".py");
        write_file(path, source);
        io::spawn_options o;
        o.stdout_path = log_of(name);
        o.stderr_path = files.file(std::string(name) + ".err");
        o.die_with_parent = true;
        args.insert(args.begin(), {"python3", path});
        auto& c = servers.emplace_back(need(ns.spawn(args, o), std::string(name)));
        BOOST_REQUIRE_MESSAGE(eventually([&] { return slurp(log_of(name)).find("ready") != std::string::npos; }, 10s),
                              name << " did not start: " << slurp(o.stderr_path));
        return c;
    }
    std::string log_of(std::string_view name) const { return files.file(std::string(name) + ".log"); }

    /// busybox udhcpc -q: one lease for client i (option 12 when host_name is given), the
    /// bound event it reported.
    client_event udhcpc_lease(std::size_t i, const std::string& host_name = {}) {
        auto& c = client(i);
        const auto events = files.file(fmt::format("udhcpc{}.events", i));
        const auto script = files.file(fmt::format("udhcpc{}.sh", i));
        write_file(script, client_script(events, true), true);
        std::vector<std::string> argv{"busybox", "udhcpc", "-i", c.ifname, "-n", "-q", "-f", "-s", script, "-T", "1", "-t", "5"};
        if (!host_name.empty()) argv.insert(argv.end(), {"-x", "hostname:" + host_name});
        auto r = run_in(c.ns.ns, argv);
        BOOST_REQUIRE_MESSAGE(r.status == 0, "udhcpc: " << r.err << r.out << "\n" << summary());
        auto ev = wait_event(events, {"bound"}, count_events(events, "bound"), 1s);
        BOOST_REQUIRE(ev.has_value());
        return *ev;
    }

private:
    void add_client(const std::string& ifname) {
        const auto i = clients.size();
        auto& c = *clients.emplace_back(std::make_unique<lab_client>());
        c.ifname = ifname;
        c.mac = mac_address{0x00, 0x15, 0x5d, 0x00, 0x10, static_cast<std::uint8_t>(i + 1)};
        io::veth_options vo;
        vo.mac_a = c.mac;
        const auto port = fmt::format("c{}", i);
        c.link = need(io::veth::create(c.ns.ns.name(), ifname, host.ns.name(), port, vo), "client veth");
        must(host.ns, {"ip", "link", "set", port, "master", "vsw"});
    }

    void start_internet() {
        io::spawn_options o;
        o.stdout_path = o.stderr_path = log_of("dnsmasq");
        o.die_with_parent = true;
        // --local-ttl: dnsmasq answers its --address names with TTL 0 by default, which no
        // cache keeps (RFC 1035 3.2.1); the proxy's cache needs a TTL to show.
        servers.push_back(need(internet.ns.spawn({"dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                                                  "--no-hosts", fmt::format("--listen-address={}", internet_server),
                                                  "--bind-interfaces", "--address=/iothub.example/198.51.100.10",
                                                  "--local-ttl=300", "--pid-file=" + files.file("dnsmasq.pid")},
                                                 o),
                               "dnsmasq"));
        start_python_server(internet.ns, "tcp_server", tcp_server_py,
                            {fmt::format("{}", internet_server), std::to_string(tcp_port)});
        start_python_server(internet.ns, "udp_server", udp_server_py,
                            {fmt::format("{}", internet_server), std::to_string(udp_port)});
        BOOST_REQUIRE_MESSAGE(
            eventually(
                [&] {
                    auto r = internet.ns.exec(
                        {"dig", fmt::format("@{}", internet_server), "iothub.example", "+short", "+time=1", "+tries=1"}, 5s);
                    return r && r->status == 0 && r->out.find("198.51.100.10") != std::string::npos;
                },
                10s),
            "dnsmasq does not answer: " << slurp(log_of("dnsmasq")));
    }

    /// As lab/runtime.hpp start_ics(): the kernel's ephemeral ports below the NAT's, the
    /// nft rules, then ics_host::make and start.
    void start_ics() {
        lab::ics_host_options o;
        o.netns = host.ns.name();
        o.vnic = "vsw";
        o.vnic_mac = vnic_mac;
        o.range = ics_range;
        o.uplink = "up0";
        o.uplink_address = uplink_address;
        o.host_networks = {ipv4_prefix{uplink_address, 24}};
        o.dns_upstreams = {svc::dns_endpoint{internet_server, wire::dns_port}};
        must(host.ns, {"sysctl", "-q", "-w", fmt::format("net.ipv4.ip_local_port_range={} {}", 32768, o.nat_port_first - 1)});
        const auto rules = files.file("nft-ics.conf");
        write_file(rules, lab::ics_kernel_rules(o));
        must(host.ns, {"nft", "-f", rules});
        ics = need(lab::ics_host::make(std::move(o)), "ics_host::make");
        need(ics->start(), "ics_host::start");
    }
};

/// The address of an interface in a namespace ("ip -4 -o addr show"), as "A/len".
std::string shown_addresses(const io::netns& ns, const std::string& ifname) {
    return run_in(ns, {"ip", "-4", "-o", "addr", "show", "dev", ifname}).out;
}

/// Whether the interface holds ip/20 (the Default Switch's mask).
bool has_address(const io::netns& ns, const std::string& ifname, ipv4_address ip) {
    return shown_addresses(ns, ifname).find(fmt::format("{}/20", ip)) != std::string::npos;
}

std::string default_route(const io::netns& ns) { return run_in(ns, {"ip", "-4", "route", "show", "default"}).out; }

struct leftover_guard {
    leftover_guard() {
        if (::geteuid() == 0) remove_leftovers();
    }
};

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(vm_services, *utf::precondition(is_root))

// busybox udhcpc (RFC 2131 4.3.1, 4.3.2; ICS: a 172.16.0.0/12 /20, the host as router and
// DNS server, domain mshome.net, docs/eflow-facts.md): DISCOVER/OFFER/REQUEST/ACK gives a lease
// in the range; a second client run asking for that address (-r) gets it again; SIGUSR1
// renews it by a unicast REQUEST from the bound address (RENEWING, 4.3.2); -R releases it
// on exit (DHCPRELEASE, 4.4.6), and the server's record is released.
BOOST_AUTO_TEST_CASE(busybox_udhcpc_obtains_renews_and_releases) {
    leftover_guard g;
    require_tools({{"busybox", "busybox"}});
    const auto resolv_before = resolv_conf_state::now();
    services_lab L;
    auto& c = L.client();
    const auto lease_time = L.look([](const bundle& b) { return b.dhcp().config().lease_time.count(); });

    const auto bound = L.udhcpc_lease(0, "udhcpc-vm");
    const auto ip = address_of(bound.get("ip"));
    BOOST_REQUIRE_MESSAGE(ip.has_value(), bound.get("ip"));
    BOOST_TEST(ics_range.contains(*ip));
    BOOST_TEST(*ip != vnic_address);
    BOOST_TEST(bound.get("router") == "172.16.0.1");
    BOOST_TEST(bound.get("dns") == "172.16.0.1");
    BOOST_TEST(bound.get("serverid") == "172.16.0.1");
    BOOST_TEST(bound.get("subnet") == "255.255.240.0");
    BOOST_TEST(bound.get("domain") == "mshome.net");
    BOOST_TEST(bound.get("lease") == std::to_string(lease_time));
    BOOST_TEST(has_address(c.ns.ns, c.ifname, *ip));
    BOOST_TEST(default_route(c.ns.ns).find("via 172.16.0.1") != std::string::npos);

    auto l = L.lease_of(c.mac);
    BOOST_REQUIRE(l.has_value());
    BOOST_TEST(l->address == *ip);
    BOOST_TEST(l->state == svc::dhcp_lease_state::bound);
    BOOST_TEST(l->host_name == "udhcpc-vm");
    auto d = L.dhcp();
    BOOST_TEST(d.received_of(msg::discover) >= 1u);
    BOOST_TEST(d.received_of(msg::request) >= 1u);
    BOOST_TEST(d.sent_of(msg::offer) >= 1u);
    BOOST_TEST(d.sent_of(msg::ack) >= 1u);
    BOOST_TEST(d.selecting >= 1u);
    BOOST_TEST(d.sent_of(msg::nak) == 0u);
    const auto glue = L.glue();
    BOOST_TEST(glue.vnic_frames >= 2u);
    BOOST_TEST(glue.vnic_sent >= 2u);
    BOOST_TEST(glue.send_errors == 0u);

    // Again, asking for the address (option 50), in the foreground with release on exit.
    const auto events = L.files.file("udhcpc0.events");
    const auto bound_before = count_events(events, "bound");
    const auto acks_before = d.sent_of(msg::ack);
    io::spawn_options o;
    o.stdout_path = o.stderr_path = L.files.file("udhcpc-fg.log");
    o.die_with_parent = true;
    auto fg = need(c.ns.ns.spawn({"busybox", "udhcpc", "-i", c.ifname, "-f", "-R", "-s", L.files.file("udhcpc0.sh"), "-r",
                                  fmt::format("{}", *ip), "-T", "1", "-t", "5", "-x", "hostname:udhcpc-vm"},
                                 o),
                   "udhcpc -f");
    auto again = wait_event(events, {"bound"}, bound_before + 1, 15s);
    BOOST_REQUIRE_MESSAGE(again.has_value(), slurp(o.stdout_path) << "\n" << L.summary());
    BOOST_TEST(again->get("ip") == fmt::format("{}", *ip));
    BOOST_TEST(L.dhcp().sent_of(msg::ack) > acks_before);

    // SIGUSR1: renew (unicast REQUEST with ciaddr, RENEWING).
    const auto renewing_before = L.dhcp().renewing;
    fg.signal(SIGUSR1);
    auto renewed = wait_event(events, {"renew"}, 1, 15s);
    BOOST_REQUIRE_MESSAGE(renewed.has_value(), slurp(o.stdout_path) << "\n" << L.summary());
    BOOST_TEST(renewed->get("ip") == fmt::format("{}", *ip));
    BOOST_TEST(renewed->get("lease") == std::to_string(lease_time));
    BOOST_TEST(L.dhcp().renewing == renewing_before + 1);
    BOOST_TEST(L.lease_of(c.mac)->state == svc::dhcp_lease_state::bound);

    // SIGTERM with -R: DHCPRELEASE, then deconfig.
    const auto released_before = L.dhcp().released;
    fg.signal(SIGTERM);
    BOOST_TEST(fg.wait_for(10s).has_value());
    BOOST_TEST(eventually([&] { return L.dhcp().released == released_before + 1; }, 5s), L.summary());
    BOOST_TEST(L.dhcp().received_of(msg::release) >= 1u);
    l = L.lease_of(c.mac);
    BOOST_REQUIRE(l.has_value());
    BOOST_TEST(l->state == svc::dhcp_lease_state::released);
    BOOST_TEST(l->address == *ip);
    BOOST_TEST(shown_addresses(c.ns.ns, c.ifname).find("inet ") == std::string::npos);
    BOOST_TEST(L.dhcp().total_drops() == 0u, L.summary());
    BOOST_TEST((resolv_conf_state::now() == resolv_before));
    BOOST_TEST_MESSAGE(L.summary());
}

// ISC dhclient with a script of this test (never dhclient-script): the lease carries
// address, mask, router, DNS server, domain and lease time (options 1, 3, 6, 15, 51); a
// second run with the same lease file reboots into the same address with a REQUEST and no
// DISCOVER (INIT-REBOOT, RFC 2131 4.3.2); `dhclient -r` releases it (4.4.6).
BOOST_AUTO_TEST_CASE(isc_dhclient_obtains_reboots_and_releases) {
    leftover_guard g;
    require_tools({{"dhclient", "isc-dhcp-client"}});
    const auto resolv_before = resolv_conf_state::now();
    services_lab L;
    auto& c = L.client();
    const auto lease_time = L.look([](const bundle& b) { return b.dhcp().config().lease_time.count(); });
    const auto events = L.files.file("dhclient.events");
    const auto script = L.files.file("dhclient.sh");
    const auto conf = L.files.file("dhclient.conf");
    const auto leases = L.files.file("dhclient.leases");
    const auto pid = L.files.file("dhclient.pid");
    write_file(script, client_script(events, true), true);
    write_file(conf,
               "send host-name \"dhclient-vm\";\n"
               "request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, host-name;\n");
    auto dhclient = [&](std::vector<std::string> extra, std::string_view log) {
        std::vector<std::string> argv{"dhclient", "-4", "-v", "-cf", conf, "-sf", script, "-lf", leases, "-pf", pid};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back(c.ifname);
        io::spawn_options o;
        o.stdout_path = o.stderr_path = L.files.file(log);
        o.die_with_parent = true;
        return need(c.ns.ns.spawn(argv, o), "dhclient");
    };

    // -1 -d: one try, in the foreground (the child stays ours).
    auto first = dhclient({"-1", "-d"}, "dhclient1.log");
    auto bound = wait_event(events, {"BOUND"}, 1, 20s);
    BOOST_REQUIRE_MESSAGE(bound.has_value(), slurp(L.files.file("dhclient1.log")) << "\n" << L.summary());
    const auto ip = address_of(bound->get("ip"));
    BOOST_REQUIRE(ip.has_value());
    BOOST_TEST(ics_range.contains(*ip));
    BOOST_TEST(bound->get("subnet") == "255.255.240.0");
    BOOST_TEST(bound->get("router") == "172.16.0.1");
    BOOST_TEST(bound->get("dns") == "172.16.0.1");
    BOOST_TEST(bound->get("domain") == "mshome.net");
    BOOST_TEST(bound->get("lease") == std::to_string(lease_time));
    BOOST_TEST(bound->get("serverid") == "172.16.0.1");
    BOOST_TEST(eventually([&] { return has_address(c.ns.ns, c.ifname, *ip); }, 5s));
    BOOST_TEST(default_route(c.ns.ns).find("via 172.16.0.1") != std::string::npos);
    const auto lease_text = slurp(leases);
    BOOST_TEST(lease_text.find(fmt::format("fixed-address {};", *ip)) != std::string::npos, lease_text);
    BOOST_TEST(lease_text.find("option domain-name \"mshome.net\";") != std::string::npos, lease_text);
    auto l = L.lease_of(c.mac);
    BOOST_REQUIRE(l.has_value());
    BOOST_TEST(l->address == *ip);
    BOOST_TEST(l->state == svc::dhcp_lease_state::bound);
    BOOST_TEST(l->host_name == "dhclient-vm");
    const auto d1 = L.dhcp();
    BOOST_TEST(d1.received_of(msg::discover) >= 1u);
    BOOST_TEST(d1.selecting >= 1u);
    BOOST_TEST(d1.init_reboot == 0u);

    // Stop it without releasing (-x), then run again on the same lease file.
    auto stopped = run_in(c.ns.ns, {"dhclient", "-4", "-x", "-cf", conf, "-sf", script, "-lf", leases, "-pf", pid, c.ifname});
    BOOST_TEST(stopped.status == 0, stopped.err);
    BOOST_TEST(first.wait_for(10s).has_value());
    BOOST_TEST(L.lease_of(c.mac)->state == svc::dhcp_lease_state::bound);
    // dhclient 4.4's -x run sends an INIT-REBOOT REQUEST of its own before it exits (seen
    // with 4.4.3-P1): the second client's exchange is counted from here.
    const auto dx = L.dhcp();
    BOOST_TEST(dx.received_of(msg::discover) == d1.received_of(msg::discover));
    auto second = dhclient({"-1", "-d"}, "dhclient2.log");
    auto rebooted = wait_event(events, {"REBOOT"}, 1, 20s);
    BOOST_REQUIRE_MESSAGE(rebooted.has_value(), slurp(L.files.file("dhclient2.log")) << "\n" << L.summary());
    BOOST_TEST(rebooted->get("ip") == fmt::format("{}", *ip));
    BOOST_TEST(rebooted->get("lease") == std::to_string(lease_time));
    const auto d2 = L.dhcp();
    BOOST_TEST(d2.init_reboot == dx.init_reboot + 1, slurp(L.files.file("dhclient2.log")));
    BOOST_TEST(d2.received_of(msg::discover) == d1.received_of(msg::discover));  // no DISCOVER
    BOOST_TEST(d2.sent_of(msg::ack) == dx.sent_of(msg::ack) + 1);
    BOOST_TEST(d2.sent_of(msg::nak) == 0u);
    const auto log2 = slurp(L.files.file("dhclient2.log"));
    BOOST_TEST(log2.find(fmt::format("DHCPREQUEST for {}", *ip)) != std::string::npos, log2);
    BOOST_TEST(log2.find("DHCPDISCOVER") == std::string::npos, log2);
    BOOST_TEST(eventually([&] { return has_address(c.ns.ns, c.ifname, *ip); }, 5s));

    // Release: stops the running client (its pid file) and sends DHCPRELEASE.
    auto released = run_in(c.ns.ns,
                           {"dhclient", "-4", "-r", "-v", "-cf", conf, "-sf", script, "-lf", leases, "-pf", pid, c.ifname});
    BOOST_TEST(released.status == 0, released.err);
    BOOST_TEST(second.wait_for(10s).has_value());
    BOOST_TEST(eventually([&] { return L.dhcp().released == d2.released + 1; }, 5s), L.summary());
    l = L.lease_of(c.mac);
    BOOST_REQUIRE(l.has_value());
    BOOST_TEST(l->state == svc::dhcp_lease_state::released);
    BOOST_TEST(count_events(events, "RELEASE") == 1u);
    BOOST_TEST(shown_addresses(c.ns.ns, c.ifname).find("inet ") == std::string::npos);
    BOOST_TEST(run_in(L.host.ns, {"ip", "netns", "pids", c.ns.ns.name()}).out.empty());  // no dhclient left
    BOOST_TEST(L.dhcp().total_drops() == 0u, L.summary());
    BOOST_TEST((resolv_conf_state::now() == resolv_before));
    BOOST_TEST_MESSAGE(L.summary());
}

// dhcpcd (Debian dhcpcd-base, privilege separation on) with its own config (no ARP probe,
// no start delay, no IPv4LL) and a script of this test in place of dhcpcd-run-hooks, so
// no hook (resolv.conf, hostname, ntp) runs: it obtains a lease, `dhcpcd -n` makes the
// running daemon ask again for the same address, `dhcpcd -k` releases it and the daemon
// exits. The interface name carries the pid: dhcpcd's files under /var/lib/dhcpcd and
// /run/dhcpcd are named after it, and are removed with the lab.
BOOST_AUTO_TEST_CASE(dhcpcd_obtains_renews_and_releases) {
    leftover_guard g;
    require_tools({{"dhcpcd", "dhcpcd-base"}});
    const auto resolv_before = resolv_conf_state::now();
    const auto ifname = fmt::format("vsvc{}", ::getpid());
    services_lab L({ifname});
    for (const auto* f : {"/var/lib/dhcpcd/{}.lease", "/run/dhcpcd/{}-4.pid", "/run/dhcpcd/{}-4.sock",
                          "/run/dhcpcd/{}-4.unpriv.sock", "/run/dhcpcd/{}.pid", "/run/dhcpcd/{}.sock"})
        L.files.extra_files.push_back(fmt::format(fmt::runtime(f), ifname));
    auto& c = L.client();
    const auto lease_time = L.look([](const bundle& b) { return b.dhcp().config().lease_time.count(); });
    const auto events = L.files.file("dhcpcd.events");
    const auto script = L.files.file("dhcpcd.sh");
    const auto conf = L.files.file("dhcpcd.conf");
    write_file(script, client_script(events, false), true);  // dhcpcd applies the lease itself
    write_file(conf,
               "nodelay\nnoarp\nnoipv4ll\nnohook resolv.conf\nhostname dhcpcd-vm\n"
               "option domain_name_servers, domain_name\n");
    const std::vector<std::string> common{"-4", "-f", conf, "-c", script, "--nohook", "resolv.conf"};
    auto with = [&](std::vector<std::string> argv) {
        argv.insert(argv.begin() + 1, common.begin(), common.end());
        argv.push_back(ifname);
        return argv;
    };

    io::spawn_options o;
    o.stdout_path = o.stderr_path = L.files.file("dhcpcd.log");
    o.die_with_parent = true;
    auto daemon = need(c.ns.ns.spawn(with({"dhcpcd", "-B"}), o), "dhcpcd");
    auto bound = wait_event(events, {"BOUND"}, 1, 20s);
    BOOST_REQUIRE_MESSAGE(bound.has_value(), slurp(o.stdout_path) << "\n" << L.summary());
    const auto ip = address_of(bound->get("ip"));
    BOOST_REQUIRE(ip.has_value());
    BOOST_TEST(ics_range.contains(*ip));
    BOOST_TEST(bound->get("subnet") == "255.255.240.0");
    BOOST_TEST(bound->get("router") == "172.16.0.1");
    BOOST_TEST(bound->get("dns") == "172.16.0.1");
    BOOST_TEST(bound->get("domain") == "mshome.net");
    BOOST_TEST(bound->get("lease") == std::to_string(lease_time));
    BOOST_TEST(eventually([&] { return has_address(c.ns.ns, ifname, *ip); }, 5s));
    BOOST_TEST(eventually([&] { return default_route(c.ns.ns).find("via 172.16.0.1") != std::string::npos; }, 5s));
    auto l = L.lease_of(c.mac);
    BOOST_REQUIRE(l.has_value());
    BOOST_TEST(l->address == *ip);
    BOOST_TEST(l->state == svc::dhcp_lease_state::bound);
    BOOST_TEST(l->host_name == "dhcpcd-vm");
    const auto d1 = L.dhcp();

    // -n: SIGHUP to the daemon of the pid file, which rebinds (a REQUEST for the same
    // address). A signal that lands while the daemon is still finishing the bind may be
    // lost: up to three tries, 5 s apart.
    bool acked = false;
    for (int attempt = 1; attempt <= 3 && !acked; ++attempt) {
        auto renew = run_in(c.ns.ns, with({"dhcpcd", "-n"}));
        BOOST_TEST(renew.status == 0, renew.out << renew.err);
        acked = eventually([&] { return L.dhcp().sent_of(msg::ack) > d1.sent_of(msg::ack); }, 5s);
        if (!acked) BOOST_TEST_MESSAGE("dhcpcd -n: no REQUEST within 5 s (try " << attempt << ")");
    }
    BOOST_TEST(acked, slurp(o.stdout_path) << "\n" << L.summary());
    const auto d2 = L.dhcp();
    BOOST_TEST(d2.received_of(msg::request) > d1.received_of(msg::request));
    BOOST_TEST(d2.received_of(msg::discover) == d1.received_of(msg::discover));
    BOOST_TEST(d2.init_reboot + d2.renewing + d2.rebinding > d1.init_reboot + d1.renewing + d1.rebinding);
    auto after = wait_event(events, {"BOUND", "RENEW", "REBIND", "REBOOT"}, 2, 10s);
    BOOST_REQUIRE_MESSAGE(after.has_value(), slurp(events));
    BOOST_TEST(after->get("ip") == fmt::format("{}", *ip));
    BOOST_TEST(L.lease_of(c.mac)->address == *ip);
    BOOST_TEST(L.lease_of(c.mac)->state == svc::dhcp_lease_state::bound);

    // -k: release; the daemon, serving only this interface, exits.
    auto release = run_in(c.ns.ns, with({"dhcpcd", "-k"}));
    BOOST_TEST(release.status == 0, release.err);
    BOOST_TEST(daemon.wait_for(15s).has_value(), slurp(o.stdout_path));
    BOOST_TEST(eventually([&] { return L.dhcp().released == d2.released + 1; }, 5s), L.summary());
    l = L.lease_of(c.mac);
    BOOST_REQUIRE(l.has_value());
    BOOST_TEST(l->state == svc::dhcp_lease_state::released);
    BOOST_TEST(eventually([&] { return shown_addresses(c.ns.ns, ifname).find("inet ") == std::string::npos; }, 5s));
    BOOST_TEST(eventually(
                   [&] {
                       return run_in(L.host.ns, {"ip", "netns", "pids", c.ns.ns.name()}).out.empty();
                   },
                   5s),
               "a dhcpcd process is left in the client namespace");
    BOOST_TEST(L.dhcp().total_drops() == 0u, L.summary());
    BOOST_TEST((resolv_conf_state::now() == resolv_before));
    BOOST_TEST_MESSAGE(slurp(o.stdout_path) << L.summary());
}

// The DNS proxy (dns_proxy.hpp), asked by one VM: a name it does not own is forwarded to
// the host's DNS server and the answer cached (a second query does not go upstream, RFC
// 1035 7.4); <host>.mshome.net resolves to the address leased to the other VM, which sent
// that host name (option 12); a name of the domain nobody registered is NXDOMAIN (RFC
// 2308); a query whose header reads but whose question does not is FORMERR (RFC 1035
// 4.1.1).
BOOST_AUTO_TEST_CASE(dig_through_the_dns_proxy) {
    leftover_guard g;
    require_tools({{"busybox", "busybox"}});
    services_lab L({"eth0", "eth0"});  // two VMs on the vNIC's bridge
    const auto ip = L.udhcpc_lease(0, "edge-vm").get("ip");
    auto& c = L.client(1);  // the resolver: another VM
    const auto own = L.udhcpc_lease(1).get("ip");
    BOOST_TEST(own != ip);
    auto dig = [&](const std::string& name) {
        return run_in(c.ns.ns, {"dig", "@172.16.0.1", name, "+short", "+time=2", "+tries=2"});
    };

    const auto q0 = L.dns();
    const auto g0 = L.glue();
    auto first = dig("iothub.example");
    BOOST_TEST(first.status == 0, first.err);
    BOOST_TEST(trim(first.out) == "198.51.100.10");
    const auto q1 = L.dns();
    BOOST_TEST(q1.forwarded == q0.forwarded + 1);
    BOOST_TEST(q1.upstream_answers == q0.upstream_answers + 1);
    BOOST_TEST(q1.cached >= q0.cached + 1);
    BOOST_TEST(L.glue().dns_sent >= g0.dns_sent + 1);
    BOOST_TEST(L.glue().dns_received >= g0.dns_received + 1);

    auto second = dig("iothub.example");
    BOOST_TEST(trim(second.out) == "198.51.100.10");
    const auto q2 = L.dns();
    BOOST_TEST(q2.cache_answers == q1.cache_answers + 1);
    BOOST_TEST(q2.forwarded == q1.forwarded);

    auto local = dig("edge-vm.mshome.net");
    BOOST_TEST(local.status == 0, local.err);
    BOOST_TEST(trim(local.out) == ip);
    const auto q3 = L.dns();
    BOOST_TEST(q3.local_answers == q2.local_answers + 1);
    BOOST_TEST(q3.forwarded == q2.forwarded);
    const bool named = L.look([&](const bundle& b) {
        for (const auto& n : b.names())
            if (n.host == "edge-vm" && fmt::format("{}", n.address) == ip && n.mac == L.client(0).mac) return true;
        return false;
    });
    BOOST_TEST(named);
    auto missing = run_in(c.ns.ns, {"dig", "@172.16.0.1", "no-such-vm.mshome.net", "+time=2", "+tries=2"});
    BOOST_TEST(missing.out.find("status: NXDOMAIN") != std::string::npos, missing.out);

    // ID 0x4242, RD, QDCOUNT 1, then a label of 3 octets cut after 2.
    auto bad = L.python(c.ns.ns, "raw_dns.py", raw_dns_py,
                        {"172.16.0.1",
                         "424201000001000000000000"
                         "03666f"});
    BOOST_REQUIRE_MESSAGE(bad.status == 0, "no answer to the malformed query: " << bad.err);
    const auto reply = trim(bad.out);
    BOOST_REQUIRE(reply.size() >= 24u);
    BOOST_TEST(reply.substr(0, 4) == "4242");
    const auto flags = std::stoul(reply.substr(4, 4), nullptr, 16);
    BOOST_TEST((flags & 0x8000u) != 0u);  // QR
    BOOST_TEST((flags & 0x000fu) == 1u);  // RCODE FORMERR
    BOOST_TEST(L.dns().formerr >= q3.formerr + 1);
    BOOST_TEST(L.dns().forwarded == q3.forwarded);
    BOOST_TEST_MESSAGE(L.summary());
}

// ICS NAT (nat.hpp, RFC 4787 / RFC 5382): a client with a lease reaches a TCP server and
// a UDP echo server on the internet through vnet's NAT; the servers see the host's uplink
// address and the external port of the flow the NAT recorded.
BOOST_AUTO_TEST_CASE(tcp_and_udp_through_the_nat) {
    leftover_guard g;
    require_tools({{"busybox", "busybox"}});
    services_lab L;
    auto& c = L.client();
    const auto ip = address_of(L.udhcpc_lease(0).get("ip"));
    BOOST_REQUIRE(ip.has_value());
    const auto n0 = L.nat();

    auto tcp = L.python(c.ns.ns, "tcp_client.py", tcp_client_py, {"198.51.100.10", std::to_string(tcp_port), "hello-tcp"});
    BOOST_TEST(tcp.status == 0, tcp.err << "\n" << L.summary());
    BOOST_TEST(tcp.out.find("peer 203.0.113.2:") == 0u, tcp.out);
    BOOST_TEST(tcp.out.find("hello-tcp") != std::string::npos, tcp.out);
    auto udp = L.python(c.ns.ns, "udp_client.py", udp_client_py, {"198.51.100.10", std::to_string(udp_port), "hello-udp"});
    BOOST_TEST(udp.status == 0, udp.err << "\n" << L.summary());
    BOOST_TEST(udp.out.find("peer 203.0.113.2:") == 0u, udp.out);
    BOOST_TEST(udp.out.find("hello-udp") != std::string::npos, udp.out);

    const auto flows = L.flows();
    auto flow = [&](svc::nat_protocol p, std::uint16_t port) -> std::optional<svc::nat_flow_info> {
        for (const auto& f : flows)
            if (f.protocol == p && f.inside_address == *ip && f.remote_address == internet_server && f.remote_port == port)
                return f;
        return std::nullopt;
    };
    const auto tf = flow(svc::nat_protocol::tcp, tcp_port);
    const auto uf = flow(svc::nat_protocol::udp, udp_port);
    BOOST_REQUIRE_MESSAGE(tf.has_value(), L.summary());
    BOOST_REQUIRE_MESSAGE(uf.has_value(), L.summary());
    for (const auto& f : {*tf, *uf}) {
        BOOST_TEST(f.external_address == uplink_address);
        BOOST_TEST(f.external_port >= 49152u);
    }
    // The servers saw exactly the NAT's external address and port.
    const auto tcp_log = slurp(L.log_of("tcp_server"));
    const auto udp_log = slurp(L.log_of("udp_server"));
    BOOST_TEST(tcp_log.find(fmt::format("tcp peer 203.0.113.2:{} hello-tcp", tf->external_port)) != std::string::npos, tcp_log);
    BOOST_TEST(udp_log.find(fmt::format("udp peer 203.0.113.2:{} hello-udp", uf->external_port)) != std::string::npos, udp_log);
    BOOST_TEST(tcp.out.find(fmt::format("peer 203.0.113.2:{} ", tf->external_port)) == 0u, tcp.out);
    BOOST_TEST(tcp_log.find(fmt::format("{}", *ip)) == std::string::npos);  // the inside address never leaves

    const auto n1 = L.nat();
    BOOST_TEST(n1.flows_created >= n0.flows_created + 2);
    BOOST_TEST(n1.outbound >= n0.outbound + 4);  // SYN, ACK, data, FIN / the datagram
    BOOST_TEST(n1.inbound >= n0.inbound + 3);
    const auto glue = L.glue();
    BOOST_TEST(glue.uplink.sent >= 4u);
    BOOST_TEST(glue.uplink.received >= 3u);
    BOOST_TEST(glue.uplink.checksums_completed >= 1u);  // the uplink's partial checksums, completed
    BOOST_TEST(L.look([](const bundle& b) { return b.counters().routed_out; }) >= 4u);
    BOOST_TEST(L.look([](const bundle& b) { return b.counters().routed_in; }) >= 3u);
    BOOST_TEST_MESSAGE(L.summary());
}

// ICS port forwarding (default_switch::add_port_mapping, a NAT static mapping): a TCP
// connection from the internet to the uplink address, port 50080, reaches the client's
// listener on 8080; the client sees the internet peer's own address.
BOOST_AUTO_TEST_CASE(port_mapping_reaches_the_client_from_outside) {
    leftover_guard g;
    require_tools({{"busybox", "busybox"}});
    services_lab L;
    auto& c = L.client();
    const auto ip = address_of(L.udhcpc_lease(0).get("ip"));
    BOOST_REQUIRE(ip.has_value());
    L.start_python_server(c.ns.ns, "listener", tcp_server_py, {"0.0.0.0", "8080"});
    need(L.ics->add_port_mapping({svc::nat_protocol::tcp, uplink_address, 50080, *ip, 8080}), "add_port_mapping");
    const auto n0 = L.nat();

    auto r = L.python(L.internet.ns, "tcp_client.py", tcp_client_py, {"203.0.113.2", "50080", "knock"});
    BOOST_TEST(r.status == 0, r.err << "\n" << L.summary());
    BOOST_TEST(r.out.find("peer 203.0.113.1:") == 0u, r.out);
    BOOST_TEST(r.out.find("knock") != std::string::npos, r.out);
    const auto log = slurp(L.log_of("listener"));
    BOOST_TEST(log.find("tcp peer 203.0.113.1:") != std::string::npos, log);
    const auto n1 = L.nat();
    BOOST_TEST(n1.inbound >= n0.inbound + 3);    // SYN, ACK, data
    BOOST_TEST(n1.outbound >= n0.outbound + 2);  // SYN-ACK, reply
    bool mapped_flow = false;
    for (const auto& f : L.flows())
        if (f.protocol == svc::nat_protocol::tcp && f.inside_address == *ip && f.inside_port == 8080 &&
            f.external_port == 50080 && f.remote_address == internet_gateway)
            mapped_flow = true;
    BOOST_TEST(mapped_flow, L.summary());
    BOOST_TEST_MESSAGE(L.summary());
}

BOOST_AUTO_TEST_SUITE_END()
