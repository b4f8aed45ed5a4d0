// vnet/lab/run_registry.hpp - the run registry under /run/vnet/<id>/ (owner pid + start time, namespaces,
// child pids) and the removal of what a run left behind (lab/runtime.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vnet/core/expected.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/process.hpp>
#include <vnet/io/tap.hpp>
#include <vnet/lab/dhcp_host.hpp>
#include <vnet/lab/guest_agent.hpp>
#include <vnet/lab/ics_host.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/lab/nat_host.hpp>
#include <vnet/lab/plan.hpp>
#include <vnet/lab/qemu.hpp>
#include <vnet/lab/report.hpp>
#include <vnet/lab/verdicts.hpp>
#include <vnet/lab/switch_pump.hpp>

namespace vnet::lab {

/// The runtime's own failure (a command that failed, a missing tool): a message.
using run_error = std::string;

namespace detail {

struct run_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Start time of a process (field 22 of /proc/PID/stat), 0 when it does not exist.
inline unsigned long long process_start_time(pid_t pid) {
    std::ifstream f(fmt::format("/proc/{}/stat", pid));
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto rp = s.rfind(')');
    if (rp == std::string::npos) return 0;
    std::istringstream in(s.substr(rp + 2));
    std::string field;
    for (int i = 3; i <= 22 && in >> field; ++i)
        if (i == 22) return std::strtoull(field.c_str(), nullptr, 10);
    return 0;
}

/// "PID STARTTIME" lines of a state file whose process still runs as recorded.
inline std::vector<pid_t> live_recorded_pids(const std::string& file) {
    std::vector<pid_t> out;
    std::ifstream f(file);
    long long pid = 0;
    unsigned long long start = 0;
    while (f >> pid >> start)
        if (pid > 1 && process_start_time(static_cast<pid_t>(pid)) == start) out.push_back(static_cast<pid_t>(pid));
    return out;
}

inline void append_line(const std::string& file, const std::string& line) {
    std::ofstream f(file, std::ios::app);
    f << line << '\n';
}

inline std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

/// A file-system-safe form of a name ("Default Switch" -> "Default_Switch").
inline std::string file_safe(std::string_view s) {
    std::string out;
    for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
    return out;
}

}  // namespace detail

/// A run recorded under /run/vnet/.
struct recorded_run {
    std::string id;
    std::string lab;
    pid_t owner = 0;
    bool owner_alive = false;
    bool kept = false;
};

inline std::vector<recorded_run> list_runs() {
    std::vector<recorded_run> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(std::string(run_state_dir), ec)) {
        auto id = e.path().filename().string();
        if (!valid_run_id(id)) continue;
        recorded_run r;
        r.id = id;
        auto lab = detail::slurp(e.path() / "lab");
        r.lab = lab.substr(0, lab.find('\n'));
        auto owners = detail::live_recorded_pids((e.path() / "owner").string());
        std::ifstream of(e.path() / "owner");
        long long pid = 0;
        of >> pid;
        r.owner = static_cast<pid_t>(pid);
        r.owner_alive = !owners.empty();
        r.kept = std::filesystem::exists(e.path() / "kept", ec);
        out.push_back(std::move(r));
    }
    return out;
}

/// What remove_run / remove_leftovers removed.
struct removal {
    std::size_t runs = 0;
    std::size_t namespaces = 0;
    std::size_t processes = 0;
};

/// Removes run `id`: SIGTERM to its owner (a kept lab's runner) and up to `grace` for it
/// to tear down itself, then SIGKILL to every process it recorded, its namespaces (every
/// vlab-<id>-*) and its state folder.
inline removal remove_run(const std::string& id, std::chrono::milliseconds grace = std::chrono::seconds(20)) {
    removal r;
    if (!valid_run_id(id)) return r;
    run_names names{id};
    auto dir = names.state_dir();
    auto owners = detail::live_recorded_pids(dir + "/owner");
    for (auto pid : owners)
        if (pid != ::getpid()) ::kill(pid, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (!owners.empty() && owners.front() != ::getpid() && std::chrono::steady_clock::now() < deadline &&
           !detail::live_recorded_pids(dir + "/owner").empty())
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (auto pid : detail::live_recorded_pids(dir + "/pids")) {
        ::kill(pid, SIGKILL);
        ++r.processes;
    }
    for (auto pid : detail::live_recorded_pids(dir + "/owner"))
        if (pid != ::getpid()) ::kill(pid, SIGKILL);
    for (const auto& ns : io::netns::list(fmt::format("{}{}-", run_netns_prefix, id)))
        if (io::netns::remove(ns)) ++r.namespaces;
    std::error_code ec;
    if (std::filesystem::remove_all(dir, ec) > 0 || r.namespaces > 0) ++r.runs;
    return r;
}

/// Removes every run whose owner process is gone (a killed runner), and lab namespaces
/// without a state folder (a runner killed while it created them).
inline removal remove_leftovers() {
    removal total;
    for (const auto& run : list_runs()) {
        if (run.owner_alive) continue;
        auto r = remove_run(run.id, std::chrono::milliseconds(0));
        total.runs += r.runs;
        total.namespaces += r.namespaces;
        total.processes += r.processes;
    }
    std::error_code ec;
    for (const auto& ns : io::netns::list(std::string(run_netns_prefix))) {
        auto id = run_id_of_netns(ns);
        if (!id || std::filesystem::exists(run_names{*id}.state_dir(), ec)) continue;
        if (io::netns::remove(ns)) ++total.namespaces;
    }
    return total;
}

}  // namespace vnet::lab
