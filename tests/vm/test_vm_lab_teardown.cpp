// Teardown of a lab on the exit paths docs/design.md names ("Principles": every lab lives in
// namespaces named with a per-run id and is removed on every exit path; a later run
// removes leftovers of a crashed one):
//   - a runner killed with SIGKILL leaves namespaces and a state folder; its QEMU dies
//     with it (PR_SET_PDEATHSIG), and the next run (remove_leftovers) removes the rest;
//   - `vnet lab run` and `vnet conformance` stopped with SIGINT, SIGTERM or SIGHUP tear
//     their labs down themselves.
// Needs root, QEMU and the guest image (vm-images/).
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "vm_test_util.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/io/process.hpp>
#include <vnet/lab/runtime.hpp>

using namespace vnet;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace utf = boost::unit_test;

namespace {

using vnet::test::is_root;

constexpr std::string_view one_vm_lab = R"(
[lab]
name = "vmtest-teardown"

[[network]]
name = "lan"
subnet = "192.168.5.0/24"
gateway = "192.168.5.1"
  [[network.peer]]
  name = "peer"
  address = "192.168.5.50/24"

[[switch]]
name = "ext"
kind = "external"
network = "lan"
allow_management_os = false

[[vm]]
name = "guest"
  [[vm.nic]]
  switch = "ext"
  ip = "static"
  address = "192.168.5.20/24"

[[check]]
kind = "ping"
from = "guest"
to = "peer"
expect = "ok"
)";

std::string fresh_id() {
    std::random_device rd;
    return lab::make_run_id((std::uint64_t{rd()} << 32) ^ rd());
}

std::size_t lab_namespaces(const std::string& id) { return io::netns::list(fmt::format("vlab-{}-", id)).size(); }

bool process_alive(pid_t pid) {
    if (::kill(pid, 0) != 0) return false;
    std::ifstream f(fmt::format("/proc/{}/stat", pid));
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto rp = s.rfind(')');
    return rp != std::string::npos && rp + 2 < s.size() && s[rp + 2] != 'Z';
}

std::vector<pid_t> recorded_pids(const std::string& id) {
    std::vector<pid_t> out;
    std::ifstream f(lab::run_names{id}.state_dir() + "/pids");
    long long pid = 0;
    unsigned long long start = 0;
    while (f >> pid >> start) out.push_back(static_cast<pid_t>(pid));
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(vm_lab_teardown, *utf::precondition(is_root))

BOOST_AUTO_TEST_CASE(sigkilled_runner_leaves_nothing_after_the_next_run) {
    const auto id = fresh_id();
    int p[2];
    BOOST_REQUIRE(::pipe(p) == 0);
    pid_t runner = ::fork();
    BOOST_REQUIRE(runner >= 0);
    if (runner == 0) {
        // The runner: build and boot, report, then wait to be killed.
        ::close(p[0]);
        auto lf = lab::parse_lab(one_vm_lab, "teardown.toml");
        auto o = vnet::test::lab_test_options(false);
        o.run_id = id;
        auto rt = lab::lab_runtime::create(std::move(*lf), o);
        char c = 'x';
        if (rt && !(*rt)->boot().empty() && (*rt)->boot().front().ready) c = 'r';
        [[maybe_unused]] auto n = ::write(p[1], &c, 1);
        for (;;) ::pause();
    }
    ::close(p[1]);
    pollfd pf{p[0], POLLIN, 0};
    BOOST_REQUIRE_MESSAGE(::poll(&pf, 1, 180'000) == 1, "the runner did not report within 180 s");
    char c = 0;
    BOOST_REQUIRE(::read(p[0], &c, 1) == 1);
    ::close(p[0]);
    BOOST_TEST(c == 'r');

    // The lab exists: namespaces (inet, lan, peer, host), a state folder, QEMU + dnsmasq.
    BOOST_TEST(lab_namespaces(id) == 4u);
    BOOST_TEST(fs::exists(lab::run_names{id}.state_dir()));
    auto pids = recorded_pids(id);
    BOOST_TEST(pids.size() >= 3u);  // dnsmasq (lan), dnsmasq (internet), QEMU

    ::kill(runner, SIGKILL);
    int st = 0;
    BOOST_REQUIRE(::waitpid(runner, &st, 0) == runner);
    BOOST_TEST(WIFSIGNALED(st));

    // QEMU dies with it (PR_SET_PDEATHSIG). dnsmasq does not: it changes its credentials
    // (drops capabilities), which clears the parent-death signal, so the next run kills
    // it by the recorded pid. The namespaces and the folder stay until then.
    auto is_qemu = [](pid_t pid) {
        std::ifstream f(fmt::format("/proc/{}/comm", pid));
        std::string comm;
        f >> comm;
        return comm.rfind("qemu", 0) == 0;
    };
    std::vector<pid_t> qemus;
    for (auto pid : pids)
        if (is_qemu(pid)) qemus.push_back(pid);
    BOOST_TEST(qemus.size() == 1u);
    auto alive = [](const std::vector<pid_t>& v) {
        for (auto pid : v)
            if (process_alive(pid)) return true;
        return false;
    };
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (alive(qemus) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
    BOOST_TEST(!alive(qemus));
    BOOST_TEST(lab_namespaces(id) == 4u);
    BOOST_TEST(fs::exists(lab::run_names{id}.state_dir()));

    // What the next run does first.
    auto removed = lab::remove_leftovers();
    BOOST_TEST(removed.runs >= 1u);
    BOOST_TEST(lab_namespaces(id) == 0u);
    BOOST_TEST(!fs::exists(lab::run_names{id}.state_dir()));
    deadline = std::chrono::steady_clock::now() + 10s;
    while (alive(pids) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
    BOOST_TEST(!alive(pids));  // every recorded process is gone
}

/// A vnet command and the stop signal it gets while its first guest boots.
struct stop_case {
    const char* what;
    std::vector<std::string> args;  // after the tool; "{lab}" is the lab file, "{dir}" a folder
    int sig;
};

// Every command that builds labs answers every stop signal (tools/vnet/run_control.hpp) by
// tearing its labs down: interrupt, terminate and a closed terminal.
const stop_case stop_cases[] = {
    {"lab run, SIGINT", {"lab", "run", "{lab}"}, SIGINT},
    {"lab run, SIGHUP", {"lab", "run", "{lab}"}, SIGHUP},
    {"conformance, SIGHUP", {"conformance", "--table", "dhcp", "--dir", "{tables}", "--report", "{dir}/report"}, SIGHUP},
    {"conformance, SIGTERM", {"conformance", "--table", "dhcp", "--dir", "{tables}", "--report", "{dir}/report"}, SIGTERM},
};

BOOST_DATA_TEST_CASE(a_stop_signal_tears_the_labs_down, boost::unit_test::data::xrange(std::size(stop_cases)), i) {
    const stop_case& sc = stop_cases[i];
    BOOST_TEST_MESSAGE(sc.what);
    const std::string tool = vnet::test::binary_dir() + "/tools/vnet/vnet";
    if (::access(tool.c_str(), X_OK) != 0) {
        BOOST_TEST_MESSAGE("the vnet tool is not built (VNET_BUILD_TOOLS=OFF): nothing to signal");
        return;
    }
    auto dir = fs::temp_directory_path() / fmt::format("vnet-vmtest-signal-{}-{}", ::getpid(), i);
    fs::create_directories(dir);
    auto file = (dir / "lab.toml").string();
    std::ofstream(file) << one_vm_lab;
    std::vector<std::string> argv{tool};
    for (std::string a : sc.args) {
        auto put = [&](std::string_view key, const std::string& v) {
            if (auto p = a.find(key); p != std::string::npos) a.replace(p, key.size(), v);
        };
        put("{lab}", file);
        put("{dir}", dir.string());
        put("{tables}", vnet::test::source_dir() + "/fixtures/conformance");
        argv.push_back(a);
    }
    io::spawn_options o;
    o.stdout_path = (dir / "out.log").string();
    o.stderr_path = (dir / "err.log").string();
    auto c = io::spawn(argv, o);
    BOOST_REQUIRE(c.has_value());

    // Wait for its first QEMU to be recorded, then stop it while the guest boots.
    std::string id;
    auto deadline = std::chrono::steady_clock::now() + 90s;
    while (id.empty() && std::chrono::steady_clock::now() < deadline) {
        for (const auto& r : lab::list_runs())
            if (r.owner == c->pid() && recorded_pids(r.id).size() >= 3) id = r.id;
        std::this_thread::sleep_for(50ms);
    }
    BOOST_REQUIRE_MESSAGE(!id.empty(), sc.what << ": no QEMU recorded within 90 s");
    auto pids = recorded_pids(id);
    c->signal(sc.sig);
    auto status = c->wait_for(90s);
    BOOST_REQUIRE_MESSAGE(status.has_value(), sc.what << ": did not end within 90 s of the signal");
    BOOST_TEST(*status == 1, sc.what << ": exit " << *status << " (1: stopped, not every check observed)");
    for (const auto& r : lab::list_runs()) BOOST_TEST(r.owner != c->pid(), sc.what << ": run " << r.id << " left behind");
    BOOST_TEST(lab_namespaces(id) == 0u);
    BOOST_TEST(!fs::exists(lab::run_names{id}.state_dir()));
    for (auto pid : pids) BOOST_TEST(!process_alive(pid));
    std::error_code ec;
    fs::remove_all(dir, ec);
}

BOOST_AUTO_TEST_SUITE_END()
