// vnet/lab/runtime.hpp - run a lab: build its topology in network namespaces, boot its
// VMs, run its checks, tear everything down (Linux only, root).
//
// What a run builds (DESIGN.md "Lab file", "How a frame travels in a lab"; names in
// lab/plan.hpp):
//   - "inet": a namespace holding 198.51.100.10 (on lo) that answers ping, DNS for every
//     name the lab declares (dnsmasq, no upstream) and TCP on 80, 443, 1883, 5671, 5672,
//     8883 (accept and close, a thread of this process).
//   - per [[network]]: a namespace with a Linux bridge holding the gateway address,
//     ip_forward, a transit veth to "inet" and nftables masquerade out of it; dnsmasq on
//     the bridge for the network's DNS names and, with `dhcp`, vnet's DHCP server on the
//     bridge (lab/dhcp_host.hpp: range, DNS list, allow_macs as a MAC filter: only listed
//     MACs get leases).
//     blocked_tcp_ports: the router drops outbound TCP to those ports (a firewall).
//   - per [[network.peer]]: a namespace with a veth into the bridge, default route via
//     the gateway.
//   - "host" (the emulated Windows host): its physical adapter is a veth into its
//     network's bridge, or, when an external switch shares that adapter, the host's
//     address sits on that switch's host vNIC (as Hyper-V moves it to "vEthernet (...)").
//   - per [[switch]]: a vnet vswitch in this process (lab/switch_pump.hpp). external: an
//     uplink port on a TAP in the network's bridge, and with allow_management_os a host
//     vNIC; internal: a host vNIC with host_address, `nat` is New-NetNat: vnet's NAT
//     (lab/nat_host.hpp) translates the prefix to the host's adapter address, `dhcp` runs vnet's DHCP server and dnsmasq (DNS for
//     the lab's names) on the host vNIC; default: internal with a /20 of 172.16.0.0/12 that collides with
//     nothing, its host vNIC served by vnet's own ICS services (lab/ics_host.hpp: the
//     svc::default_switch bundle's DHCP server, DNS proxy to the lab's public DNS server
//     and NAT out of the host's adapter); private: VM ports only.
//     A host vNIC is a TAP whose kernel side is in "host"; this process holds its fd.
//   - per [[vm]]: QEMU (TCG) in "host" with one TAP per NIC (arp off, no IPv6: only the
//     switch sees the guest's frames); an AF_PACKET socket on each TAP is its switch port,
//     in access mode when the NIC has a vlan.
//
// Every namespace, interface and process is named with the run id and recorded under
// /run/vnet/<id>/ (owner pid + start time, namespaces, child pids). The destructor removes
// it all; remove_leftovers() removes what a run whose owner is gone left behind (a
// SIGKILLed runner), remove_run() what a kept lab (`vnet lab up`) holds.
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

#include <vnet/core/mutant.hpp>
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

/// A lab file the runtime cannot run (exit 2, like a bad lab file): "FILE:LINE: KEY: MESSAGE".
inline std::optional<lab_error> unsupported_by_runtime(const lab_file& lf) {
    for (const auto& c : lf.checks)
        if (c.kind == check_kind::deploy)
            return lab_error{lf.path, c.line, "check.kind", "deploy checks are run by `vnet conformance`, not `vnet lab run`"};
    if (lf.vms.size() > 99) return lab_error{lf.path, 0, "vm", "at most 99 VMs per lab"};
    for (const auto& vm : lf.vms)
        if (vm.nics.size() > 9) return lab_error{lf.path, vm.line, "vm.nic", "at most 9 NICs per VM"};
    if (lf.networks.size() > 200) return lab_error{lf.path, 0, "network", "at most 200 networks per lab"};
    const switch_config* nat_switch = nullptr;
    for (const auto& s : lf.switches)
        if (s.kind == switch_kind::internal && s.nat) {
            if (nat_switch)
                return lab_error{lf.path, s.line, "switch.nat",
                                 fmt::format("switch '{}' and switch '{}' both want a NAT; a Windows host has one NetNat",
                                             nat_switch->name, s.name)};
            nat_switch = &s;
        }
    for (std::size_t i = 0; i < lf.switches.size(); ++i)
        if (lf.switches[i].kind == switch_kind::internal && !lf.switches[i].host_address)
            return lab_error{lf.path, lf.switches[i].line, "switch.host_address",
                             "an internal switch needs host_address (the host vNIC's address) in a lab"};
    return std::nullopt;
}

struct run_options {
    std::string source_dir;          // the vnet source tree (vm-images/build.sh), for building the image
    std::string image_dir;           // empty: default_image_dir()
    std::string report_dir;          // empty: no report folder (logs stay in /run/vnet/<id>/)
    std::string run_id;              // empty: a random one
    unsigned parallel = 0;           // VMs booting at once; 0: the number of cores
    std::chrono::seconds boot_timeout{120};
    std::chrono::seconds dhcp_wait{15};  // how long checks wait for a DHCP NIC's lease
    lab::accel accel = accel::tcg;
    std::function<void(const std::string&)> progress;  // one line of progress (no newline)
    std::function<bool()> should_stop;                  // polled; true stops the run
};

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

/// TCP servers of the "internet" namespace: accept and close.
class tcp_acceptor {
public:
    tcp_acceptor() = default;
    tcp_acceptor(const tcp_acceptor&) = delete;
    tcp_acceptor& operator=(const tcp_acceptor&) = delete;
    ~tcp_acceptor() { stop(); }

    result<void> start(const std::string& netns, ipv4_address addr, std::span<const std::uint16_t> ports) {
        auto fds = io::in_netns(netns, [&]() -> result<std::vector<int>> {
            std::vector<int> out;
            for (auto port : ports) {
                int s = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (s < 0) return fail(layer::io, errc::io, "tcp_acceptor.socket");
                int one = 1;
                ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                sockaddr_in sa{};
                sa.sin_family = AF_INET;
                sa.sin_port = htons(port);
                sa.sin_addr.s_addr = htonl(addr.to_u32());
                if (::bind(s, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 || ::listen(s, 64) != 0) {
                    ::close(s);
                    for (int f : out) ::close(f);
                    return fail(layer::io, errc::io, "tcp_acceptor.bind");
                }
                out.push_back(s);
            }
            return out;
        });
        if (!fds) return unexpected(fds.error());
        fds_ = std::move(*fds);
        wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        thread_ = std::thread([this] {
            std::vector<pollfd> p;
            for (int f : fds_) p.push_back({f, POLLIN, 0});
            p.push_back({wake_, POLLIN, 0});
            for (;;) {
                if (::poll(p.data(), p.size(), -1) < 0 && errno != EINTR) return;
                if (p.back().revents) return;
                for (std::size_t i = 0; i + 1 < p.size(); ++i) {
                    if (!p[i].revents) continue;
                    int c;
                    while ((c = ::accept4(p[i].fd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0) {
                        ::close(c);
                        ++accepted_;
                    }
                }
            }
        });
        return {};
    }

    void stop() {
        if (thread_.joinable()) {
            std::uint64_t one = 1;
            [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
            thread_.join();
        }
        for (int f : fds_) ::close(f);
        fds_.clear();
        if (wake_ >= 0) ::close(wake_);
        wake_ = -1;
    }

    std::uint64_t accepted() const noexcept { return accepted_.load(); }

private:
    std::vector<int> fds_;
    int wake_ = -1;
    std::thread thread_;
    std::atomic<std::uint64_t> accepted_{0};
};

/// A lab built and running. Move-free; create() builds it, the destructor removes it.
class lab_runtime {
public:
    using clock = std::chrono::steady_clock;

    lab_runtime(const lab_runtime&) = delete;
    lab_runtime& operator=(const lab_runtime&) = delete;

    /// Builds the lab's topology (no VM booted yet). On failure everything made so far is
    /// removed and the message says what failed.
    static expected<std::unique_ptr<lab_runtime>, run_error> create(lab_file lf, run_options opt) {
        if (auto u = unsupported_by_runtime(lf)) return unexpected(u->to_string());
        if (::geteuid() != 0) return unexpected(run_error("a lab needs root (network namespaces, TAPs)"));
        std::unique_ptr<lab_runtime> rt(new lab_runtime(std::move(lf), std::move(opt)));
        try {
            rt->realise();
        } catch (const std::exception& e) {
            return unexpected(run_error(e.what()));
        }
        return rt;
    }

    ~lab_runtime() { teardown(); }

    const lab_file& file() const noexcept { return lf_; }
    const std::string& run_id() const noexcept { return names_.id; }
    const run_names& names() const noexcept { return names_; }
    /// Where serial logs, dnsmasq logs and captures go.
    const std::string& log_dir() const noexcept { return log_dir_; }
    std::optional<ipv4_prefix> default_switch_subnet() const { return default_subnet_; }

    /// Boots every VM, `parallel` at a time, and waits for each guest agent. Progress goes
    /// to options.progress. The boots (also in report()).
    const std::vector<vm_boot>& boot() {
        auto par = opt_.parallel ? opt_.parallel : std::max(1u, std::thread::hardware_concurrency());
        std::size_t next = 0, done = 0;
        struct waiter {
            std::thread t;
            std::atomic<bool> finished{false};
            result<agent_client> agent = fail(layer::lab, errc::io, "agent.not_started");
        };
        std::vector<std::unique_ptr<waiter>> waiters(vms_.size());
        std::size_t active = 0;
        auto last_note = clock::now();
        while (done < vms_.size()) {
            while (active < par && next < vms_.size() && !stopping()) {
                auto i = next++;
                auto& v = vms_[i];
                auto q = qemu_vm::start(v.config);
                if (!q) {
                    v.boot.error = fmt::format("cannot start QEMU: {}", q.error().message());
                    note(fmt::format("{}: {}", v.boot.name, v.boot.error));
                    ++done;
                    continue;
                }
                v.vm = std::move(*q);
                detail::append_line(names_.state_dir() + "/pids",
                                    fmt::format("{} {}", v.vm.pid(), detail::process_start_time(v.vm.pid())));
                note(fmt::format("{}: booting (QEMU pid {}, {} NIC{})", v.boot.name, v.vm.pid(), v.config.nics.size(),
                                 v.config.nics.size() == 1 ? "" : "s"));
                auto w = std::make_unique<waiter>();
                auto* wp = w.get();
                auto sock = v.config.agent_socket;
                auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(opt_.boot_timeout);
                pid_t qpid = v.vm.pid();
                w->t = std::thread([wp, sock, deadline, qpid, this] {
                    auto start = clock::now();
                    auto alive = [&] { return !stopping() && ::kill(qpid, 0) == 0 && !zombie(qpid); };
                    auto c = agent_client::connect(sock, deadline, alive);
                    if (c) {
                        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - (clock::now() - start));
                        auto r = c->wait_ready(std::max(left, std::chrono::milliseconds(1)));
                        if (!r) c = unexpected(r.error());
                    }
                    wp->agent = std::move(c);
                    wp->finished = true;
                });
                waiters[i] = std::move(w);
                ++active;
            }
            if (stopping() && active == 0) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            for (std::size_t i = 0; i < waiters.size(); ++i) {
                auto& w = waiters[i];
                if (!w || !w->finished) continue;
                w->t.join();
                auto& v = vms_[i];
                v.boot.seconds_to_agent =
                    std::chrono::duration<double>(clock::now() - v.vm.started_at()).count();
                if (w->agent) {
                    v.agent = std::move(*w->agent);
                    v.boot.ready = true;
                    note(fmt::format("{}: agent ready after {:.2f} s", v.boot.name, v.boot.seconds_to_agent));
                } else {
                    v.boot.error = stopping() ? "stopped" : fmt::format("no guest agent: {}", w->agent.error().message());
                    note(fmt::format("{}: {} after {:.2f} s", v.boot.name, v.boot.error, v.boot.seconds_to_agent));
                }
                w.reset();
                --active;
                ++done;
            }
            if (active > 0 && clock::now() - last_note > std::chrono::seconds(10)) {
                last_note = clock::now();
                std::string waiting;
                for (std::size_t i = 0; i < waiters.size(); ++i)
                    if (waiters[i]) waiting += (waiting.empty() ? "" : ", ") + vms_[i].boot.name;
                note(fmt::format("still booting: {}", waiting));
            }
        }
        for (auto& w : waiters)
            if (w && w->t.joinable()) w->t.join();
        for (auto& v : vms_)
            if (!v.boot.ready && v.boot.error.empty()) v.boot.error = "not started (stopped)";
        boots_.clear();
        for (auto& v : vms_) boots_.push_back(v.boot);
        return boots_;
    }

    /// Runs a command in a VM through its agent.
    result<command_result> vm_exec(std::string_view vm, std::string_view command,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        auto* v = find_vm(vm);
        if (!v) return fail(layer::lab, errc::not_found, "vm");
        if (!v->agent.connected()) return fail(layer::lab, errc::not_found, "vm.agent");
        return v->agent.run(command, timeout);
    }

    /// The namespace a check's `from` names: "host", a network (its gateway), a peer;
    /// empty when it is a VM or unknown.
    std::string netns_of(std::string_view who) const {
        if (who == "host") return names_.host_ns();
        if (lf_.find_network(who)) return names_.network_ns(who);
        for (const auto& n : lf_.networks)
            for (const auto& p : n.peers)
                if (p.name == who) return names_.peer_ns(who);
        if (who == "internet") return names_.inet_ns();
        return {};
    }

    /// Runs a program in a lab namespace.
    result<io::run_output> ns_exec(std::string_view who, const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
        auto ns = netns_of(who);
        if (ns.empty()) return fail(layer::lab, errc::not_found, "netns");
        io::spawn_options o;
        o.netns = ns;
        return io::run(argv, o, timeout);
    }

    /// The address `to` names: an address, a VM (its first NIC), "host" (seen from
    /// `from`: its vNIC on the VM's switch), a peer, a network (its gateway), "internet".
    std::optional<ipv4_address> resolve(std::string_view to, std::string_view from = {}) {
        if (auto a = ipv4_address::parse(to)) return *a;
        if (to == "internet") return internet_server;
        if (to == "host") {
            // From a VM: the host's address on a switch the VM is plugged into.
            if (const auto* vm = lf_.find_vm(from)) {
                for (const auto& nic : vm->nics) {
                    const auto* s = lf_.find_switch(nic.switch_name);
                    if (s->kind == switch_kind::internal && s->host_address) return s->host_address->address();
                    if (s->kind == switch_kind::default_ && default_subnet_)
                        return default_switch_host_address(*default_subnet_).address();
                    if (s->kind == switch_kind::external && s->allow_management_os && s->network == lf_.host.network &&
                        lf_.host.address)
                        return lf_.host.address->address();
                }
            }
            if (lf_.host.address) return lf_.host.address->address();
            for (const auto& s : lf_.switches)
                if (s.host_address) return s.host_address->address();
            if (default_subnet_) return default_switch_host_address(*default_subnet_).address();
            auto r = ns_exec("host", {"ip", "-o", "-4", "addr", "show", "scope", "global"});
            if (r && r->status == 0)
                if (auto p = first_inet(r->out)) return p->address();
            return std::nullopt;
        }
        if (const auto* n = lf_.find_network(to)) return n->gateway;
        for (const auto& n : lf_.networks)
            for (const auto& p : n.peers)
                if (p.name == to) return p.address.address();
        if (const auto* vm = lf_.find_vm(to)) {
            if (vm->nics.front().address) return vm->nics.front().address->address();
            wait_for_leases(to);
            auto r = vm_exec(to, "ip -o -4 addr show dev eth0", std::chrono::seconds(5));
            if (r && r->ok())
                if (auto p = first_inet(r->out)) return p->address();
        }
        return std::nullopt;
    }

    /// Runs the arp checks now (run_lab: before the VMs boot, as Deploy-Eflow probes the
    /// network before it creates the VM); run_checks() reports them in their place.
    void run_probes() {
        for (std::size_t i = 0; i < lf_.checks.size(); ++i)
            if (lf_.checks[i].kind == check_kind::arp && !stopping()) probes_[i] = run_check(i);
    }

    /// Runs every [[check]] in order; each result also goes to `on_result` as it is known.
    std::vector<check_result> run_checks(const std::function<void(const check_result&)>& on_result = {}) {
        checks_.clear();
        for (std::size_t i = 0; i < lf_.checks.size(); ++i) {
            if (stopping()) break;
            auto early = probes_.find(i);
            auto c = early != probes_.end() ? early->second : run_check(i);
            if (on_result) on_result(c);
            checks_.push_back(std::move(c));
        }
        return checks_;
    }

    /// One check (index into file().checks).
    check_result run_check(std::size_t i) {
        const auto& cc = lf_.checks[i];
        check_result r;
        r.index = i + 1;
        r.line = cc.line;
        r.kind = cc.kind;
        r.from = cc.from;
        r.to = cc.kind == check_kind::dns ? cc.name : cc.to;
        r.expected = cc.expect;
        auto t0 = clock::now();
        try {
            switch (cc.kind) {
                case check_kind::ping: check_ping(cc, r); break;
                case check_kind::tcp: check_tcp(cc, r); break;
                case check_kind::dns: check_dns(cc, r); break;
                case check_kind::dhcp: check_dhcp(cc, r); break;
                case check_kind::route: check_route(cc, r); break;
                case check_kind::flooding: check_flooding(cc, r); break;
                case check_kind::reboot: check_reboot(cc, r); break;
                case check_kind::arp: check_arp(cc, r); break;
                case check_kind::deploy:
                    r.observed = "error";
                    r.detail = "deploy checks are run by vnet conformance, not by the lab runtime";
                    break;
            }
        } catch (const std::exception& e) {
            r.observed = "error";
            r.detail = fmt::format("the check stopped: {}", e.what());
        }
        // A check that returned without an observation could not be carried out: never
        // read as a failure (verdicts.hpp).
        if (r.observed.empty()) {
            r.observed = "error";
            if (r.detail.empty()) r.detail = "the check observed nothing";
        }
        r.in_guest = is_vm(cc.from) && cc.kind != check_kind::flooding && cc.kind != check_kind::arp;
        r.seconds = std::chrono::duration<double>(clock::now() - t0).count();
        return r;
    }

    /// Index of a switch by name.
    std::optional<std::size_t> switch_index(std::string_view name) const {
        for (std::size_t i = 0; i < lf_.switches.size(); ++i)
            if (lf_.switches[i].name == name) return i;
        return std::nullopt;
    }
    /// The switch port of NIC `nic` of VM `vm`.
    std::optional<sw::port_index> vm_port(std::string_view vm, std::size_t nic) const {
        for (std::size_t i = 0; i < lf_.vms.size(); ++i)
            if (lf_.vms[i].name == vm && nic < vms_[i].ports.size()) return vms_[i].ports[nic];
        return std::nullopt;
    }
    const switch_pump& pump() const noexcept { return *pump_; }
    switch_pump& pump() noexcept { return *pump_; }
    /// The pcap file of a VM NIC's port (empty without a report folder).
    std::string vm_pcap(std::string_view vm, std::size_t nic) const {
        if (opt_.report_dir.empty()) return {};
        for (std::size_t i = 0; i < lf_.vms.size(); ++i)
            if (lf_.vms[i].name == vm && nic < lf_.vms[i].nics.size())
                return pcap_path(lf_.vms[i].nics[nic].switch_name, fmt::format("{}-eth{}", vm, nic));
        return {};
    }

    /// Counters of every switch port now.
    std::vector<port_report> port_reports() const {
        std::vector<port_report> out;
        if (!pump_) return out;
        for (const auto& p : pump_->ports()) {
            port_report pr;
            pr.switch_name = lf_.switches[p.sw].name;
            pr.port = p.name;
            pr.counters = pump_->counters(p.sw, p.id);
            pr.netvsc = p.netvsc;
            if (!opt_.report_dir.empty())
                pr.pcap = std::filesystem::path(pcap_path(pr.switch_name, p.name)).filename().string();
            out.push_back(std::move(pr));
        }
        return out;
    }

    /// Closes the connections to the guest agents, so that another client (a user's, on
    /// the agent sockets in /run/vnet/<id>/) can connect; the guest agent serves one at a time.
    void release_agents() {
        for (auto& v : vms_) v.agent.close();
    }

    /// Marks the run as kept (`vnet lab up`, --keep): `vnet lab down` removes it.
    void mark_kept() { detail::append_line(names_.state_dir() + "/kept", "kept"); }

private:
    struct vm_state {
        qemu_vm_config config;
        qemu_vm vm;
        agent_client agent;
        vm_boot boot;
        std::vector<sw::port_index> ports;
        bool leases_waited = false;
    };

    lab_runtime(lab_file lf, run_options opt) : lf_(std::move(lf)), opt_(std::move(opt)) {
        if (opt_.run_id.empty()) {
            std::random_device rd;
            opt_.run_id = make_run_id((std::uint64_t{rd()} << 32) ^ rd() ^ static_cast<std::uint64_t>(::getpid()));
        }
        names_.id = opt_.run_id;
    }

    bool stopping() const { return opt_.should_stop && opt_.should_stop(); }

    static bool zombie(pid_t pid) {
        auto s = detail::slurp(fmt::format("/proc/{}/stat", pid));
        auto rp = s.rfind(')');
        return rp == std::string::npos || (rp + 2 < s.size() && s[rp + 2] == 'Z');
    }

    void note(const std::string& line) const {
        if (opt_.progress) opt_.progress(line);
    }

    [[noreturn]] static void failure(const std::string& what) { throw detail::run_failure(what); }

    /// Runs a program (in namespace ns when not empty); throws with its stderr on failure.
    static std::string must(const std::vector<std::string>& argv, const std::string& ns = {},
                            std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        io::spawn_options o;
        o.netns = ns;
        auto r = io::run(argv, o, timeout);
        std::string cmd;
        for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
        if (!r) failure(fmt::format("{}{}: {}", ns.empty() ? "" : "[" + ns + "] ", cmd, r.error().message()));
        if (r->status != 0)
            failure(fmt::format("{}{}: exit {}: {}", ns.empty() ? "" : "[" + ns + "] ", cmd, r->status,
                                r->err.substr(0, r->err.find_last_not_of("\n") + 1)));
        return r->out;
    }
    static void ip(const std::string& ns, std::vector<std::string> args) {
        args.insert(args.begin(), {"ip", "-n", ns});
        must(args);
    }

    io::netns& make_ns(const std::string& name) {
        detail::append_line(names_.state_dir() + "/netns", name);
        auto n = io::netns::create_named(name);
        if (!n) failure(fmt::format("cannot create namespace {}: {}", name, n.error().message()));
        namespaces_.push_back(std::move(*n));
        // No IPv6 anywhere in a lab (the guests' NDP/MLD noise stays out of the switch
        // tests; the lab file is IPv4 only); forwarding where a namespace routes.
        must({"sh", "-c",
              "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 "
              "&& echo 1 > /proc/sys/net/ipv4/ip_forward"},
             name);
        return namespaces_.back();
    }

    std::string pcap_path(std::string_view sw_name, std::string_view port) const {
        if (opt_.report_dir.empty()) return {};
        return fmt::format("{}/pcap/{}-{}.pcap", opt_.report_dir, detail::file_safe(sw_name), detail::file_safe(port));
    }

    /// A TAP this process holds (host vNIC, uplink).
    io::tap& held_tap(const std::string& ns, const std::string& name) {
        io::tap_options o;
        o.persistent = false;
        auto t = io::tap::create(ns, name, o);
        if (!t) failure(fmt::format("cannot create TAP {} in {}: {}", name, ns, t.error().message()));
        held_taps_.push_back(std::move(*t));
        return held_taps_.back();
    }

    void spawn_service(const std::string& ns, std::vector<std::string> argv, const std::string& log) {
        io::spawn_options o;
        o.netns = ns;
        o.stdout_path = log;
        o.stderr_path = log;
        o.die_with_parent = true;
        auto c = io::spawn(argv, o);
        if (!c) failure(fmt::format("cannot start {} in {}: {}", argv.front(), ns, c.error().message()));
        detail::append_line(names_.state_dir() + "/pids", fmt::format("{} {}", c->pid(), detail::process_start_time(c->pid())));
        services_.push_back(std::move(*c));
    }

    /// dnsmasq: DNS for `names` on `ifname`'s addresses (or on the internet server's).
    void start_dnsmasq(const std::string& ns, const std::string& tag, const std::string& ifname,
                       const std::map<std::string, ipv4_address>& dns_names, bool listen_lo = false) {
        std::vector<std::string> a = {"dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--user=root",
                                      "--no-resolv", "--no-hosts", "--bind-interfaces", "--pid-file=",
                                      "--log-facility=-"};
        if (listen_lo) a.push_back(fmt::format("--listen-address={}", internet_server));
        else a.push_back("--interface=" + ifname);
        for (const auto& [n, addr] : dns_names) a.push_back(fmt::format("--address=/{}/{}", n, addr));
        a.push_back("--address=/#/");  // no upstream: every other name is NXDOMAIN at once
        spawn_service(ns, std::move(a), fmt::format("{}/dnsmasq-{}.log", log_dir_, tag));
    }

    /// vnet's DHCP server (lab/dhcp_host.hpp) on `ifname` in `ns`, answering as `server`
    /// from `mac`: the lab file's range, DNS list (default: the server itself), MAC allow list.
    void start_dhcp(const std::string& ns, const std::string& tag, const std::string& ifname, const mac_address& mac,
                    const dhcp_config& d, ipv4_prefix subnet, ipv4_address server) {
        dhcp_host_options o;
        o.netns = ns;
        o.ifname = ifname;
        o.server.subnet = subnet.canonical();
        o.server.server_address = server;
        o.server.server_mac = mac;
        o.server.range_first = d.range_first;
        o.server.range_last = d.range_last;
        o.server.routers = {server};
        o.server.dns_servers = d.dns.empty() ? std::vector<ipv4_address>{server} : d.dns;
        o.server.lease_time = std::chrono::hours(1);
        o.server.authoritative = true;  // the only DHCP server of its segment
        if (!d.allow_macs.empty()) {
            o.server.mac_filter = svc::dhcp_mac_filter::allow;
            o.server.mac_filter_list = d.allow_macs;
        }
        load_nft(ns, "dhcp-" + detail::file_safe(tag), dhcp_kernel_rules(ifname));
        auto h = dhcp_host::make(std::move(o));
        if (!h) failure(fmt::format("DHCP server {}: {}", tag, h.error().message()));
        if (auto r = (*h)->start(); !r) failure(fmt::format("DHCP server {}: {}", tag, r.error().message()));
        dhcp_hosts_.emplace_back(tag, std::move(*h));
    }

    /// Loads an nft ruleset into namespace ns (kept as <state dir>/nft-<name>-<ns>.conf).
    void load_nft(const std::string& ns, std::string_view name, const std::string& ruleset) {
        auto file = fmt::format("{}/nft-{}-{}.conf", names_.state_dir(), name, ns);
        std::ofstream(file) << ruleset;
        must({"nft", "-f", file}, ns);
    }

    void realise() {
        std::error_code ec;
        auto dir = names_.state_dir();
        if (std::filesystem::exists(dir, ec)) failure(fmt::format("run id {} is in use ({})", names_.id, dir));
        // The folder appears complete (lab name and owner inside) by a rename, so a run
        // starting at the same time never takes it for a dead run's leftovers.
        auto tmp = fmt::format("{}/.new-{}", run_state_dir, names_.id);
        std::filesystem::create_directories(tmp, ec);
        if (ec) failure(fmt::format("cannot create {}: {}", tmp, ec.message()));
        detail::append_line(tmp + "/lab", lf_.name);
        detail::append_line(tmp + "/owner", fmt::format("{} {}", ::getpid(), detail::process_start_time(::getpid())));
        std::filesystem::rename(tmp, dir, ec);
        if (ec) {
            std::filesystem::remove_all(tmp, ec);
            failure(fmt::format("cannot create {}", dir));
        }
        state_made_ = true;
        log_dir_ = opt_.report_dir.empty() ? dir : opt_.report_dir;
        if (!opt_.report_dir.empty()) {
            std::filesystem::create_directories(opt_.report_dir + "/pcap", ec);
            if (ec) failure(fmt::format("cannot create {}: {}", opt_.report_dir, ec.message()));
        }
        for (const char* tool : {"ip", "dnsmasq", "nft", "ping", "qemu-system-x86_64"}) {
            auto r = io::run({"sh", "-c", fmt::format("command -v {}", tool)});
            if (!r || r->status != 0)
                failure(fmt::format("{} is not installed (Debian: iproute2 dnsmasq-base nftables iputils-ping qemu-system-x86)",
                                    tool));
        }
        for (const auto& vm : lf_.vms)
            if (!images_.count(vm.profile)) images_[vm.profile] = locate_image(vm.profile);
        note(fmt::format("run {}: building the topology", names_.id));

        // The internet.
        make_ns(names_.inet_ns());
        ip(names_.inet_ns(), {"addr", "add", fmt::format("{}/32", internet_server), "dev", "lo"});
        std::map<std::string, ipv4_address> all_names;
        for (const auto& n : lf_.networks) all_names.insert(n.dns.begin(), n.dns.end());

        // Networks, their gateways and peers.
        for (std::size_t i = 0; i < lf_.networks.size(); ++i) {
            const auto& n = lf_.networks[i];
            auto ns = names_.network_ns(n.name);
            make_ns(ns);
            ip(ns, {"link", "add", names_.bridge(), "type", "bridge", "forward_delay", "0", "stp_state", "0"});
            // A fixed MAC (a bridge otherwise takes its ports' lowest): the DHCP server's.
            ip(ns, {"link", "set", names_.bridge(), "address", fmt::format("{}", bridge_mac(lf_, i))});
            ip(ns, {"addr", "add", fmt::format("{}/{}", n.gateway, n.subnet.length()), "dev", names_.bridge()});
            ip(ns, {"link", "set", names_.bridge(), "up"});
            ip(ns, {"link", "add", names_.transit_net(i), "type", "veth", "peer", "name", names_.transit_inet(i), "netns",
                    names_.inet_ns()});
            ip(ns, {"addr", "add", fmt::format("{}", transit_gateway_side(i)), "dev", names_.transit_net(i)});
            ip(ns, {"link", "set", names_.transit_net(i), "up"});
            ip(names_.inet_ns(), {"addr", "add", fmt::format("{}", transit_internet_side(i)), "dev", names_.transit_inet(i)});
            ip(names_.inet_ns(), {"link", "set", names_.transit_inet(i), "up"});
            ip(ns, {"route", "add", "default", "via", fmt::format("{}", transit_internet_side(i).address())});
            if (!mutant::on(mutant::id::router_no_nat))
                load_nft(ns, "nat",
                         fmt::format("table ip vnet_nat {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; "
                                     "policy accept;\n    oifname \"{}\" masquerade\n  }}\n}}\n",
                                     names_.transit_net(i)));
            if (!n.blocked_tcp_ports.empty() && !mutant::on(mutant::id::firewall_open))  // the LAN's firewall: outbound TCP to these ports dropped
                load_nft(ns, "fw",
                         fmt::format("table inet vnet_fw {{\n  chain forward {{\n    type filter hook forward priority "
                                     "filter; policy accept;\n    oifname \"{}\" tcp dport {{ {} }} drop\n  }}\n}}\n",
                                     names_.transit_net(i), fmt::join(n.blocked_tcp_ports, ", ")));
            start_dnsmasq(ns, "net-" + n.name, names_.bridge(), n.dns);
            if (n.dhcp) start_dhcp(ns, "net-" + n.name, names_.bridge(), bridge_mac(lf_, i), *n.dhcp, n.subnet, n.gateway);
            for (std::size_t j = 0; j < n.peers.size(); ++j) {
                const auto& p = n.peers[j];
                auto pns = names_.peer_ns(p.name);
                make_ns(pns);
                ip(ns, {"link", "add", names_.peer_bridge(peer_count_), "type", "veth", "peer", "name",
                        names_.peer_if(peer_count_), "netns", pns});
                ip(ns, {"link", "set", names_.peer_bridge(peer_count_), "master", names_.bridge(), "up"});
                ip(pns, {"addr", "add", fmt::format("{}", p.address), "dev", names_.peer_if(peer_count_)});
                ip(pns, {"link", "set", names_.peer_if(peer_count_), "up"});
                ip(pns, {"route", "add", "default", "via", fmt::format("{}", n.gateway)});
                ++peer_count_;
            }
        }
        spawn_internet(all_names);

        // The host.
        make_ns(names_.host_ns());
        auto adapter = plan_host_adapter(lf_);
        if (adapter.use == host_adapter_use::own_adapter) {
            auto ns = names_.network_ns(*lf_.host.network);
            ip(names_.host_ns(), {"link", "add", names_.host_adapter(), "type", "veth", "peer", "name",
                                  names_.host_adapter_bridge(), "netns", ns});
            ip(ns, {"link", "set", names_.host_adapter_bridge(), "master", names_.bridge(), "up"});
            configure_host_ip(names_.host_adapter());
        }

        // Switches.
        pump_ = std::make_unique<switch_pump>();
        for (std::size_t i = 0; i < lf_.switches.size(); ++i) {
            const auto& s = lf_.switches[i];
            sw::switch_spec spec;
            spec.name = s.name;
            spec.kind = s.kind == switch_kind::external   ? sw::switch_kind::external
                        : s.kind == switch_kind::internal ? sw::switch_kind::internal
                        : s.kind == switch_kind::private_ ? sw::switch_kind::private_
                                                          : sw::switch_kind::default_switch;
            if (s.kind == switch_kind::external) {
                spec.adapter = names_.uplink(i);
                spec.allow_management_os = s.allow_management_os;
            }
            auto swi = pump_->add_switch(spec);
            if (s.kind == switch_kind::external) {
                auto ns = names_.network_ns(*s.network);
                auto& t = held_tap(ns, names_.uplink(i));
                ip(ns, {"link", "set", t.name(), "master", names_.bridge(), "up"});
                add_port(swi, sw::port_config::uplink("uplink"), t.fd(), port_fd_kind::tap_fd);
            }
            if (!spec.has_host_vnic()) continue;
            auto& v = held_tap(names_.host_ns(), names_.host_vnic(i));
            auto mac = host_vnic_mac(lf_, i);
            ip(names_.host_ns(), {"link", "set", v.name(), "address", fmt::format("{}", mac)});
            add_port(swi, sw::port_config::host("host", mac), v.fd(), port_fd_kind::tap_fd);
            if (s.kind == switch_kind::external) {
                if (adapter.use == host_adapter_use::switch_vnic && adapter.switch_index == i) configure_host_ip(v.name());
            } else if (s.kind == switch_kind::internal) {
                if (!mutant::on(mutant::id::host_vnic_unaddressed))
                    ip(names_.host_ns(), {"addr", "add", fmt::format("{}", *s.host_address), "dev", v.name()});
                if (s.nat) netnat_switch_ = i;  // vnet's NAT (lab/nat_host.hpp), one per host as WinNAT
                if (s.dhcp) {  // the admin's DHCP server (and DNS) on the internal network, on the host vNIC
                    const auto tag = "switch-" + detail::file_safe(s.name);
                    start_dnsmasq(names_.host_ns(), tag, v.name(), all_names);
                    start_dhcp(names_.host_ns(), tag, v.name(), mac, *s.dhcp, *s.host_address, s.host_address->address());
                }
            } else if (s.kind == switch_kind::default_) {
                if (default_subnet_) failure("a lab has one Default Switch");
                default_subnet_ = pick_default_switch_subnet(prefixes_in_use(lf_));
                if (!default_subnet_) failure("no free /20 in 172.16.0.0/12 for the Default Switch");
                auto host_addr = default_switch_host_address(*default_subnet_);
                ip(names_.host_ns(), {"addr", "add", fmt::format("{}", host_addr), "dev", v.name()});
                default_vnic_ = v.name();
                default_vnic_mac_ = mac;
            }
        }
        // A host that leases its address starts its NATs once it has one (lease_host_address).
        if (!lf_.host.dhcp) start_host_nats();

        // VMs: TAPs and their switch ports.
        for (std::size_t v = 0; v < lf_.vms.size(); ++v) {
            const auto& vm = lf_.vms[v];
            vm_state st;
            st.boot.name = vm.name;
            st.config.name = vm.name;
            std::string host = vm.name;
            std::replace(host.begin(), host.end(), '_', '-');
            st.config.hostname = host;
            use_profile(st.config, vm.profile, images_.at(vm.profile));
            st.config.netns = names_.host_ns();
            st.config.accel = opt_.accel;
            st.config.agent_socket = fmt::format("{}/{}.agent", names_.state_dir(), vm.name);
            st.config.serial_log = fmt::format("{}/{}.serial.log", log_dir_, vm.name);
            st.config.qemu_log = fmt::format("{}/{}.qemu.log", names_.state_dir(), vm.name);
            // VNET_GUEST_HIDE=ping,nc: tools the guests' agents cannot run (a guest that
            // lacks a tool; its checks must come out as errors, never as observed fails)
            if (mutant::on(mutant::id::agent_cannot_run_ping)) st.config.extra_append = "vnet.hide=ping";
            if (const char* hide = std::getenv("VNET_GUEST_HIDE"); hide && *hide) {
                if (std::string_view(hide).find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789,._-") != std::string_view::npos)
                    throw detail::run_failure("VNET_GUEST_HIDE: tool names (a-z 0-9 . _ -) separated by commas");
                st.config.extra_append = fmt::format("vnet.hide={}", hide);
            }
            // No checksum or segmentation offload between guest and TAP: the switch moves
            // whole, checksummed frames of at most MTU size through AF_PACKET.
            st.config.extra_args = {"-global", "virtio-net-pci.csum=off", "-global", "virtio-net-pci.guest_csum=off",
                                    "-global", "virtio-net-pci.guest_tso4=off", "-global", "virtio-net-pci.host_tso4=off"};
            for (std::size_t k = 0; k < vm.nics.size(); ++k) {
                const auto& nic = vm.nics[k];
                auto tap_name = names_.vm_tap(v, k);
                auto t = io::tap::create(names_.host_ns(), tap_name);
                if (!t) failure(fmt::format("cannot create TAP {}: {}", tap_name, t.error().message()));
                vm_taps_.push_back(std::move(*t));
                ip(names_.host_ns(), {"link", "set", tap_name, "arp", "off"});
                auto mac = nic_mac(lf_, v, k);
                auto fd = open_packet_socket(names_.host_ns(), tap_name);
                if (!fd) failure(fmt::format("cannot open a packet socket on {}: {}", tap_name, fd.error().message()));
                auto cfg = sw::port_config::vm(fmt::format("{}-eth{}", vm.name, k), mac);
                if (nic.vlan) cfg.vlan = sw::vlan_setting::access(*nic.vlan);
                auto swi = *switch_index(nic.switch_name);
                st.ports.push_back(add_port(swi, std::move(cfg), *fd, port_fd_kind::packet_socket, true));
                if (nic.model == nic_model::netvsc)  // VSC -> VMBus ring -> VSP between the TAP and the port
                    if (auto r = pump_->attach_netvsc(swi, st.ports.back()); !r)
                        failure(fmt::format("VM {} eth{}: cannot bring up the netvsc channel: {}", vm.name, k,
                                            r.error().message()));
                vm_nic vn;
                vn.tap = tap_name;
                vn.mac = fmt::format("{}", mac);
                vn.mode = nic.ip == ip_mode::static_ ? nic_mode::static_ip : nic_mode::dhcp;
                if (nic.address) vn.address = fmt::format("{}", *nic.address);
                if (nic.gateway) vn.gateway = fmt::format("{}", *nic.gateway);
                vn.metric = nic.metric;
                for (auto d : nic.dns) vn.dns.push_back(fmt::format("{}", d));
                st.config.nics.push_back(std::move(vn));
            }
            if (auto a = kernel_cmdline(st.config); !a)
                failure(fmt::format("VM {}: {}", vm.name, a.error().message()));
            vms_.push_back(std::move(st));
        }
        if (auto r = pump_->start(); !r) failure(fmt::format("cannot start the switches: {}", r.error().message()));
        note(fmt::format("run {}: {} namespaces, {} switch{}, {} VM{}", names_.id, namespaces_.size(), lf_.switches.size(),
                         lf_.switches.size() == 1 ? "" : "es", lf_.vms.size(), lf_.vms.size() == 1 ? "" : "s"));
    }

    sw::port_index add_port(std::size_t swi, sw::port_config cfg, int fd, port_fd_kind kind, bool owns = false) {
        auto name = cfg.name;
        auto id = pump_->add_port(swi, std::move(cfg), fd, kind, owns, pcap_path(lf_.switches[swi].name, name));
        if (!id) {
            if (owns) ::close(fd);
            failure(fmt::format("switch {}: cannot add port {}: {}", lf_.switches[swi].name, name, id.error().message()));
        }
        return *id;
    }

    void configure_host_ip(const std::string& ifname) {
        const auto ns = names_.host_ns();
        ip(ns, {"link", "set", ifname, "up"});
        if (lf_.host.address) {
            ip(ns, {"addr", "add", fmt::format("{}", *lf_.host.address), "dev", ifname});
            if (lf_.host.gateway) ip(ns, {"route", "add", "default", "via", fmt::format("{}", *lf_.host.gateway)});
        } else if (lf_.host.dhcp) {
            host_dhcp_if_ = ifname;  // leased once the switches run (see boot of DHCP below)
            auto script = names_.state_dir() + "/udhcpc.sh";
            {
                std::ofstream f(script);
                f << "#!/bin/sh\ncase \"$1\" in bound|renew)\n"
                     "  ip addr flush dev \"$interface\"\n"
                     "  ip addr add \"$ip/${mask:-24}\" dev \"$interface\"\n"
                     "  for r in $router; do ip route replace default via \"$r\" dev \"$interface\"; break; done ;;\n"
                     "esac\n";
            }
            ::chmod(script.c_str(), 0755);
        }
    }

    /// The host's NATs, once its adapter has its address (idempotent): the Default Switch's
    /// ICS (ports 49152-57343) and an internal switch's NetNat (57344-65535); the kernel's
    /// own ephemeral ports stay below both.
    void start_host_nats() {
        if (host_nats_started_ || (!default_subnet_ && !netnat_switch_)) return;
        host_nats_started_ = true;
        const auto ns = names_.host_ns();
        must({"sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=32768 49151"}, ns);
        std::string uplink;
        const auto adapter = plan_host_adapter(lf_);
        if (adapter.use == host_adapter_use::own_adapter) uplink = names_.host_adapter();
        else if (adapter.use == host_adapter_use::switch_vnic) uplink = names_.host_vnic(adapter.switch_index);
        std::optional<ipv4_address> address;
        if (!uplink.empty()) {
            auto r = ns_exec("host", {"ip", "-o", "-4", "addr", "show", "dev", uplink});
            if (auto p = r && r->status == 0 ? first_inet(r->out) : std::nullopt) address = p->address();
        }
        if (!address) {
            note("host: its adapter has no address; its NATs share no uplink");
            uplink.clear();
        }
        if (default_subnet_) start_ics(uplink, address.value_or(ipv4_address{}));
        if (netnat_switch_ && !uplink.empty()) start_netnat(*netnat_switch_, uplink, *address);
    }

    /// New-NetNat of an internal switch: vnet's NAT (lab/nat_host.hpp) behind a TUN that a
    /// policy rule sends the vNIC's routed packets to.
    void start_netnat(std::size_t swi, const std::string& uplink, ipv4_address address) {
        const auto ns = names_.host_ns();
        const auto& s = lf_.switches[swi];
        nat_host_options o;
        o.netns = ns;
        o.tun = names_.netnat_tun();
        o.uplink = uplink;
        o.uplink_address = address;
        o.nat.name = fmt::format("{}-NAT", s.name);
        o.nat.internal_prefix = s.host_address->canonical();
        o.nat.port_first = 57344;
        o.nat.port_last = 65535;
        auto h = nat_host::make(std::move(o));
        if (!h) failure(fmt::format("switch {}: cannot start its NAT: {}", s.name, h.error().message()));
        netnat_ = std::move(*h);
        load_nft(ns, "netnat", netnat_->kernel_rules());
        const auto table = std::to_string(100 + swi);
        const auto vnic = names_.host_vnic(swi);
        for (const auto& conf : {std::string("all"), netnat_->tun_name()})
            must({"sysctl", "-q", "-w", fmt::format("net.ipv4.conf.{}.rp_filter=0", conf)}, ns);
        ip(ns, {"route", "add", "default", "dev", netnat_->tun_name(), "table", table});
        ip(ns, {"rule", "add", "iif", vnic, "lookup", table, "priority", "1000"});
        if (auto r = netnat_->start(); !r) failure(fmt::format("switch {}: cannot start its NAT: {}", s.name, r.error().message()));
        note(fmt::format("switch {}: NetNat {} -> {} (vnet NAT)", s.name, s.host_address->canonical(), address));
    }

    /// The Default Switch's ICS (lab/ics_host.hpp) on its host vNIC: NAT out of the host's
    /// adapter (or the external switch's vNIC holding the host's address), DNS to the lab's
    /// public DNS server, the kernel kept out of its way by nft.
    void start_ics(const std::string& uplink, ipv4_address address) {
        const auto ns = names_.host_ns();
        ics_host_options o;
        o.netns = ns;
        o.vnic = default_vnic_;
        o.vnic_mac = default_vnic_mac_;
        o.range = *default_subnet_;
        o.uplink = uplink;
        o.uplink_address = address;
        o.nat_port_first = 49152;
        o.nat_port_last = 57343;
        if (auto r = ns_exec("host", {"ip", "-o", "-4", "addr", "show", "scope", "global"}); r && r->status == 0)
            for (const auto& p : all_inet(r->out))
                if (!default_subnet_->contains(p.address())) o.host_networks.push_back(p);
        o.dns_upstreams = {svc::dns_endpoint{internet_server, wire::dns_port}};
        load_nft(ns, "ics", ics_kernel_rules(o));
        auto h = ics_host::make(std::move(o));
        if (!h) failure(fmt::format("Default Switch: cannot start ICS: {}", h.error().message()));
        ics_ = std::move(*h);
        if (auto r = ics_->start(); !r) failure(fmt::format("Default Switch: cannot start ICS: {}", r.error().message()));
        note(fmt::format("Default Switch: ICS on {} ({}), NAT out of {}", default_vnic_, *default_subnet_,
                         ics_->options().uplink.empty() ? "nothing" : ics_->options().uplink));
    }

    void spawn_internet(const std::map<std::string, ipv4_address>& all_names) {
        start_dnsmasq(names_.inet_ns(), "internet", "lo", all_names, true);
        if (auto r = internet_tcp_.start(names_.inet_ns(), internet_server, internet_tcp_ports); !r)
            failure(fmt::format("cannot listen on the internet server's TCP ports: {}", r.error().message()));
    }

    guest_image locate_image(guest_profile profile) {
        // image_dir names the busybox image; the eflow image is in default_image_dir(eflow).
        auto dir = profile == guest_profile::busybox && !opt_.image_dir.empty() ? opt_.image_dir
                                                                                 : default_image_dir(profile);
        auto script = build_script(profile);
        // A cached image is used as it is (the vm-images/ scripts and the ci scripts refresh it).
        if (auto g = guest_image::in_dir(dir)) return *g;
        if (opt_.source_dir.empty()) failure(fmt::format("no {} guest image in {} (build it with {})", to_string(profile), dir, script));
        note(fmt::format("guest image: {} (cached when current)", script));
        std::string log;
        auto g = build_image(opt_.source_dir, profile, dir, &log);
        if (!g) failure(fmt::format("{} failed: {}\n{}", script, g.error().message(), log));
        return *g;
    }

public:
    /// Leases the host's address by DHCP when the lab says address = "dhcp" (after the
    /// switches run). Called by run(); harmless otherwise.
    /// Then starts the host's NATs (ICS, NetNat), which translate to that address.
    void lease_host_address() {
        if (!host_dhcp_if_.empty()) {
            auto r = ns_exec("host",
                             {"busybox", "udhcpc", "-i", host_dhcp_if_, "-n", "-q", "-t", "5", "-T", "1", "-s",
                              names_.state_dir() + "/udhcpc.sh"},
                             std::chrono::seconds(15));
            if (!r || r->status != 0) note("host: no DHCP lease on its adapter");
            else note("host: address leased by DHCP");
        }
        start_host_nats();
    }

    /// Waits (once per VM, up to options.dhcp_wait) until every DHCP NIC of `vm` has a lease.
    void wait_for_leases(std::string_view vm) {
        auto* v = find_vm(vm);
        if (!v || v->leases_waited || !v->agent.connected()) return;
        v->leases_waited = true;
        std::string cmd;
        for (std::size_t k = 0; k < v->config.nics.size(); ++k)
            if (v->config.nics[k].mode == nic_mode::dhcp) cmd += fmt::format(" && [ -e /run/vnet/lease.eth{} ]", k);
        if (cmd.empty()) return;
        cmd = "true" + cmd;
        auto deadline = clock::now() + opt_.dhcp_wait;
        while (clock::now() < deadline && !stopping()) {
            auto r = v->agent.run(cmd, std::chrono::seconds(5));
            if (r && r->ok()) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    }

private:
    vm_state* find_vm(std::string_view name) {
        for (auto& v : vms_)
            if (v.config.name == name) return &v;
        return nullptr;
    }

    bool is_vm(std::string_view who) const { return lf_.find_vm(who) != nullptr; }

    /// Runs a shell command from `from` (a VM through its agent, else a namespace with sh -c).
    struct outcome {
        bool ran = false;
        int status = -1;
        std::string out;
        std::string why;  // when it did not run
    };
    outcome run_from(std::string_view from, const std::string& command, std::chrono::seconds timeout) {
        outcome o;
        if (is_vm(from)) {
            wait_for_leases(from);
            auto r = vm_exec(from, command, timeout);
            if (!r) {
                o.why = r.error().message();
                return o;
            }
            o.ran = true;
            o.status = r->exit_status;
            o.out = r->out + r->err;
            return o;
        }
        auto r = ns_exec(from, {"sh", "-c", command}, timeout + std::chrono::seconds(2));
        if (!r) {
            o.why = r.error().message();
            return o;
        }
        o.ran = true;
        o.status = r->status;
        o.out = r->out + r->err;
        return o;
    }

    /// A check whose probe never ran: nothing observed (agent or namespace error).
    static void not_run(const outcome& o, check_result& r) {
        r.observed = "error";
        r.detail = fmt::format("could not run the probe: {}", o.why);
    }
    static void take(const verdict& v, check_result& r) {
        r.observed = std::string(to_string(v.observed));
        r.detail = v.detail;
    }

    std::optional<ipv4_address> target(const check_config& c, check_result& r) {
        auto a = resolve(c.to, c.from);
        if (!a) {
            r.observed = "error";
            r.detail = fmt::format("cannot resolve '{}' to an address", c.to);
            return std::nullopt;
        }
        r.target = fmt::format("{}", *a);
        return a;
    }

    /// RFC 5227 section 2.1.1 ARP probes (sender IP 0.0.0.0) for the target from `from`'s
    /// interface towards it: "ok" when some device answers for the address (in use /
    /// reachable), "fail" when three probes 250 ms apart get nothing within a second. An
    /// address of `from` itself is "ok" without a probe (the host answers for itself).
    void check_arp(const check_config& c, check_result& r) {
        auto a = target(c, r);
        if (!a) return;
        const auto target_ip = *a;
        auto addrs = ns_exec(c.from, {"ip", "-o", "-4", "addr", "show"});
        if (addrs && addrs->status == 0)
            for (const auto& p : all_inet(addrs->out))
                if (p.address() == target_ip) {
                    r.observed = "ok";
                    r.detail = fmt::format("{} is an address of {} itself", target_ip, c.from);
                    return;
                }
        auto route = ns_exec(c.from, {"ip", "-o", "route", "get", fmt::format("{}", target_ip)});
        const auto dev = route && route->status == 0 ? route_field(route->out, "dev") : std::string{};
        if (dev.empty()) {
            r.observed = "error";
            r.detail = fmt::format("cannot probe: {} has no route to {}", c.from, target_ip);
            return;
        }
        auto link = ns_exec(c.from, {"ip", "-o", "link", "show", "dev", dev});
        auto mac = link && link->status == 0 ? mac_address::parse(route_field(link->out, "link/ether"))
                                             : result<mac_address>(fail(layer::lab, errc::not_found, "arp.mac"));
        auto fd = open_packet_socket(netns_of(c.from), dev);
        if (!mac || !fd) {
            r.observed = "error";
            r.detail = fmt::format("cannot probe from {} on {}: {}", c.from, dev,
                                   !fd ? fd.error().message() : std::string("no MAC address"));
            if (fd) ::close(*fd);
            return;
        }
        std::array<std::byte, 60> probe{};
        wire::ethernet_repr eth{mac_address::broadcast(), *mac, wire::ethertype::arp};
        (void)eth.emit(probe);
        (void)wire::arp_repr::make_probe(*mac, target_ip).emit(bytes_span(probe).subspan(wire::ethernet_view::header_len));
        std::optional<mac_address> answer;
        const auto deadline = clock::now() + std::chrono::seconds(1);
        auto next_probe = clock::now();
        int sent = 0;
        std::array<std::byte, 2048> buf{};
        while (!answer && clock::now() < deadline) {
            if (sent < 3 && clock::now() >= next_probe) {
                (void)::send(*fd, probe.data(), probe.size(), 0);
                ++sent;
                next_probe += std::chrono::milliseconds(250);
            }
            pollfd p{*fd, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            for (;;) {
                const ssize_t n = ::recv(*fd, buf.data(), buf.size(), MSG_DONTWAIT);
                if (n < 0) break;
                auto f = wire::ethernet_view::parse(bytes_view(buf.data(), static_cast<std::size_t>(n)));
                if (!f || f->ethertype() != wire::ethertype::arp) continue;
                auto v = wire::arp_view::parse(f->payload());
                // A reply, or another device's own probe or announcement, for the address
                // (RFC 5227 section 2.1.1: either is a conflict).
                if (v && v->sender_ip() == target_ip && v->sender_mac() != *mac) answer = v->sender_mac();
            }
        }
        ::close(*fd);
        r.observed = answer ? "ok" : "fail";
        r.detail = answer ? fmt::format("{} answered from {} ({} probe{} on {})", target_ip, *answer, sent,
                                        sent == 1 ? "" : "s", dev)
                          : fmt::format("no answer for {} to {} ARP probes on {}", target_ip, sent, dev);
    }

    void check_ping(const check_config& c, check_result& r) {
        auto a = target(c, r);
        if (!a) return;
        auto o = run_from(c.from, ping_command(*a), std::chrono::seconds(8));
        if (!o.ran) return not_run(o, r);
        take(ping_verdict(o.status, o.out, *a), r);
    }

    void check_tcp(const check_config& c, check_result& r) {
        auto a = target(c, r);
        if (!a) return;
        if (is_vm(c.from)) {
            auto o = run_from(c.from, tcp_command(*a, *c.port), std::chrono::seconds(6));
            if (!o.ran) return not_run(o, r);
            take(nc_verdict(o.status, o.out, *a, *c.port), r);
            return;
        }
        auto ns = netns_of(c.from);
        auto port = *c.port;
        auto addr = *a;
        constexpr int wait_ms = 3000;
        auto res = io::in_netns(ns, [&]() -> result<verdict> {
            int s = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s < 0) return fail(layer::io, errc::io, "tcp.socket");
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_port = htons(port);
            sa.sin_addr.s_addr = htonl(addr.to_u32());
            int err = ::connect(s, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 ? 0 : errno;
            bool timed_out = false;
            if (err == EINPROGRESS) {
                pollfd p{s, POLLOUT, 0};
                if (::poll(&p, 1, wait_ms) == 1) {
                    socklen_t len = sizeof err;
                    if (::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
                } else {
                    timed_out = true;
                }
            }
            ::close(s);
            return connect_verdict(err, timed_out, addr, port, wait_ms);
        });
        if (!res) {
            r.observed = "error";
            r.detail = fmt::format("cannot connect from {}: {}", c.from, res.error().message());
            return;
        }
        take(*res, r);
    }

    void check_dns(const check_config& c, check_result& r) {
        std::string cmd = dns_command(c.name);
        if (!is_vm(c.from)) {
            // A namespace has no resolver of its own: ask `to` or the network's gateway.
            std::optional<ipv4_address> server;
            if (!c.to.empty()) server = resolve(c.to);
            else if (const auto* n = lf_.find_network(c.from)) server = n->gateway;
            else if (c.from == "host" && lf_.host.network) server = lf_.find_network(*lf_.host.network)->gateway;
            else {
                for (const auto& net : lf_.networks)
                    for (const auto& p : net.peers)
                        if (p.name == c.from) server = net.gateway;
            }
            if (!server) {
                r.observed = "error";
                r.detail = "no DNS server to ask (set to = \"<server>\")";
                return;
            }
            cmd = fmt::format("busybox nslookup {} {}", c.name, *server);
        }
        auto o = run_from(c.from, cmd, std::chrono::seconds(10));
        if (!o.ran) return not_run(o, r);
        // busybox nslookup also asks for AAAA, which the lab's DNS does not answer: its
        // exit status says nothing about the A answer, the answer section does.
        const auto addrs = nslookup_addresses(o.out);
        auto v = nslookup_verdict(o.status, o.out, c.name, addrs);
        // A name the lab declares must resolve to the declared address: a wrong answer is
        // a failure of the resolver path, not a success.
        std::optional<ipv4_address> declared;
        for (const auto& n : lf_.networks)
            if (auto it = n.dns.find(c.name); it != n.dns.end()) declared = it->second;
        if (v.observed == observation::ok && declared &&
            std::find(addrs.begin(), addrs.end(), *declared) == addrs.end())
            v = observed_fail(fmt::format("{} (the lab's DNS has {} = {})", v.detail, c.name, *declared));
        take(v, r);
    }

    /// The DHCP range a NIC's switch leads to, if known.
    std::optional<std::pair<ipv4_address, ipv4_address>> dhcp_range_for(const nic_config& nic) const {
        const auto* s = lf_.find_switch(nic.switch_name);
        if (!s) return std::nullopt;
        if (s->kind == switch_kind::default_ && default_subnet_) return default_switch_range(*default_subnet_);
        if (s->kind == switch_kind::internal && s->dhcp) return std::pair{s->dhcp->range_first, s->dhcp->range_last};
        if (s->kind == switch_kind::external && s->network)
            if (const auto* n = lf_.find_network(*s->network); n && n->dhcp)
                return std::pair{n->dhcp->range_first, n->dhcp->range_last};
        return std::nullopt;
    }

    void check_dhcp(const check_config& c, check_result& r) {
        if (!is_vm(c.from)) {
            auto o = ns_exec(c.from, {"ip", "-o", "-4", "addr", "show", "scope", "global"});
            if (!o || o->status != 0) {
                r.observed = "error";
                r.detail = o ? fmt::format("ip addr show exit {}: {}", o->status, detail::first_line(o->out + o->err))
                             : o.error().message();
                return;
            }
            auto p = first_inet(o->out);
            r.observed = p ? "ok" : "fail";
            r.detail = p ? fmt::format("{}", *p) : fmt::format("{} has no global IPv4 address", c.from);
            return;
        }
        const auto* vm = lf_.find_vm(c.from);
        std::size_t k = 0;
        if (!c.to.empty()) {
            if (c.to.size() < 4 || c.to.substr(0, 3) != "eth") {
                r.observed = "error";
                r.detail = fmt::format("to = \"{}\": name a NIC as eth0, eth1, ...", c.to);
                return;
            }
            k = static_cast<std::size_t>(std::atoi(c.to.c_str() + 3));
        }
        if (k >= vm->nics.size()) {
            r.observed = "error";
            r.detail = fmt::format("{} has no eth{}", c.from, k);
            return;
        }
        r.target = fmt::format("eth{}", k);
        wait_for_leases(c.from);
        auto o = run_from(c.from, fmt::format("cat /run/vnet/lease.eth{} 2>/dev/null; ip -o -4 addr show dev eth{}", k, k),
                          std::chrono::seconds(5));
        if (!o.ran) return not_run(o, r);
        if (auto why = detail::could_not_run("ip addr show", o.status, o.out)) {
            r.observed = "error";
            r.detail = *why;
            return;
        }
        auto p = first_inet(o.out);
        bool leased = vm->nics[k].ip == ip_mode::dhcp && p.has_value();
        auto range = dhcp_range_for(vm->nics[k]);
        bool in_range = leased && (!range || (p->address().to_u32() >= range->first.to_u32() &&
                                              p->address().to_u32() <= range->second.to_u32()));
        r.observed = in_range ? "ok" : "fail";
        if (!p) r.detail = fmt::format("eth{}: no address", k);
        else if (vm->nics[k].ip != ip_mode::dhcp) r.detail = fmt::format("eth{}: static {}", k, *p);
        else if (range)
            r.detail = fmt::format("eth{}: {} ({} range {}-{})", k, *p, in_range ? "in" : "outside", range->first,
                                   range->second);
        else r.detail = fmt::format("eth{}: {}", k, *p);
    }

    void check_route(const check_config& c, check_result& r) {
        auto a = c.to.empty() ? std::optional<ipv4_address>(internet_server) : target(c, r);
        if (!a) return;
        r.target = fmt::format("{}", *a);
        auto o = run_from(c.from, fmt::format("ip route get {} && echo '--' && ip route show default", *a),
                          std::chrono::seconds(5));
        if (!o.ran) return not_run(o, r);
        auto first = o.out.substr(0, o.out.find('\n'));
        auto dev = route_field(first, "dev");
        auto via = route_field(first, "via");
        std::string defaults;
        auto sep = o.out.find("--\n");
        if (sep != std::string::npos) {
            std::istringstream in(o.out.substr(sep + 3));
            std::string line;
            while (std::getline(in, line)) {
                if (line.rfind("default", 0) != 0) continue;
                auto gw = route_field(" " + line, "via");
                auto d = route_field(" " + line, "dev");
                auto m = route_field(" " + line + " ", "metric");
                defaults += fmt::format("{}{} via {} metric {}", defaults.empty() ? "" : "; ", d, gw, m.empty() ? "0" : m);
            }
        }
        // name = "eth1": the route must leave through that interface.
        take(route_verdict(o.status, first, dev, via, defaults, c.name), r);
    }

    /// The NIC index a check's `to` names ("eth0", "eth1", ...; empty: eth0), or nullopt.
    static std::optional<std::size_t> nic_index(const std::string& to) {
        if (to.empty()) return 0;
        if (to.size() < 4 || to.substr(0, 3) != "eth" || to.find_first_not_of("0123456789", 3) != std::string::npos)
            return std::nullopt;
        return static_cast<std::size_t>(std::atoi(to.c_str() + 3));
    }

    /// flooding: `from` sends to `to` (two VMs on one switch) with the switch's MAC table
    /// emptied, then again once the switch has learned both; each time the switch's own
    /// port counters say whether the frame reached the switch's other ports (flooded) or
    /// only the destination's. Frames the other ports flooded meanwhile (the guests' own
    /// broadcasts and multicasts) are taken off what a third port received. Observed:
    /// "first frame flooded|to one port, later frames flooded|to one port".
    void check_flooding(const check_config& c, check_result& r) {
        const auto* src = lf_.find_vm(c.from);
        const auto* dst = lf_.find_vm(c.to);
        std::optional<std::size_t> swi;
        std::optional<sw::port_index> in, out;
        for (std::size_t k = 0; k < src->nics.size() && !swi; ++k)
            for (std::size_t j = 0; j < dst->nics.size() && !swi; ++j)
                if (src->nics[k].switch_name == dst->nics[j].switch_name) {
                    swi = switch_index(src->nics[k].switch_name);
                    in = vm_port(c.from, k);
                    out = vm_port(c.to, j);
                }
        if (!swi || !in || !out) {
            r.detail = fmt::format("{} and {} share no switch", c.from, c.to);
            return;
        }
        std::vector<std::pair<sw::port_index, std::string>> ports, others;  // the switch's ports; all but from and to
        std::string in_name, out_name;
        for (const auto& p : pump_->ports()) {
            if (p.sw != *swi) continue;
            ports.emplace_back(p.id, p.name);
            if (p.id == *in) in_name = p.name;
            else if (p.id == *out) out_name = p.name;
            else others.emplace_back(p.id, p.name);
        }
        if (others.empty()) {
            r.detail = fmt::format("switch {} has no third port to see a flood", lf_.switches[*swi].name);
            return;
        }
        auto a = target(c, r);
        if (!a) return;
        // The sender knows the destination's MAC (the frames are unicast, not ARP broadcasts).
        auto warm = run_from(c.from, fmt::format("ping -c 2 -i 0.3 -W 2 {}", *a), std::chrono::seconds(6));
        if (!warm.ran) return not_run(warm, r);
        if (warm.status != 0) {  // no unicast exchange to count: nothing observed about flooding
            r.observed = "error";
            r.detail = fmt::format("cannot make {} learn {}: {}", c.from, c.to, ping_verdict(warm.status, warm.out, *a).detail);
            return;
        }
        // Pinned, so that no ARP broadcast of the sender (its entry going stale on a busy
        // machine) is mistaken for a flood of the echo request.
        std::string pinned;
        for (std::size_t v = 0; v < lf_.vms.size(); ++v)
            if (lf_.vms[v].name == c.to) {
                for (std::size_t j = 0; j < dst->nics.size(); ++j)
                    if (dst->nics[j].switch_name == lf_.switches[*swi].name) {
                        auto mac = fmt::format("{}", nic_mac(lf_, v, j));
                        auto pin = run_from(c.from, fmt::format("arp -s {} {}", *a, mac), std::chrono::seconds(4));
                        if (pin.ran && pin.status == 0) pinned = mac;
                        break;
                    }
            }
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        struct window {
            std::uint64_t src_flooded = 0, dst_tx = 0;
            std::vector<std::uint64_t> others_tx;   // frames the switch delivered to each other port
            std::vector<std::uint64_t> others_own;  // of those, what the remaining ports flooded
            bool replied = false;
        };
        auto snapshot = [&] {
            std::map<sw::port_index, sw::port_counters> m;
            for (const auto& p : ports) m[p.first] = pump_->counters(*swi, p.first);
            return m;
        };
        auto one_frame = [&]() {
            window w;
            auto before = snapshot();
            auto o = run_from(c.from, fmt::format("ping -c 1 -W 2 {}", *a), std::chrono::seconds(4));
            w.replied = o.ran && o.status == 0;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the pump has moved every frame
            auto after = snapshot();
            w.src_flooded = after[*in].flooded - before[*in].flooded;
            w.dst_tx = after[*out].tx_frames - before[*out].tx_frames;
            for (const auto& [id, name] : others) {
                w.others_tx.push_back(after[id].tx_frames - before[id].tx_frames);
                std::uint64_t own = 0;
                for (const auto& p : ports)
                    if (p.first != *in && p.first != id) own += after[p.first].flooded - before[p.first].flooded;
                w.others_own.push_back(own);
            }
            return w;
        };
        pump_->clear_mac_table(*swi);  // every destination is unknown again (as after aging)
        auto first = one_frame();
        auto later = one_frame();
        auto from_sender = [](const window& w, std::size_t i) {
            return w.others_tx[i] > w.others_own[i] ? w.others_tx[i] - w.others_own[i] : std::uint64_t{0};
        };
        auto flooded = [&](const window& w) {
            bool all = w.src_flooded > 0;
            for (std::size_t i = 0; i < others.size(); ++i) all = all && from_sender(w, i) > 0;
            return all;
        };
        auto to_one = [&](const window& w) {
            bool none = w.src_flooded == 0 && w.dst_tx > 0;
            for (std::size_t i = 0; i < others.size(); ++i) none = none && from_sender(w, i) == 0;
            return none;
        };
        auto word = [&](const window& w) { return flooded(w) ? "flooded" : to_one(w) ? "to one port" : "neither"; };
        r.observed = fmt::format("first frame {}, later frames {}", word(first), word(later));
        auto counts = [&](const window& w) {
            std::string o;
            for (std::size_t i = 0; i < others.size(); ++i)
                o += fmt::format(", {} tx +{} ({} flooded by other ports)", others[i].second, w.others_tx[i], w.others_own[i]);
            return fmt::format("{} flooded +{}, {} tx +{}{}{}", in_name, w.src_flooded, out_name, w.dst_tx, o,
                               w.replied ? "" : " (no reply)");
        };
        r.detail = fmt::format("switch {} port counters; unknown destination: {}; learned: {}{}", lf_.switches[*swi].name,
                               counts(first), counts(later),
                               pinned.empty() ? "; the sender's ARP entry could not be pinned" : "");
        if (!pinned.empty()) (void)run_from(c.from, fmt::format("arp -d {}", *a), std::chrono::seconds(4));
    }

    /// The MAC of NIC k as the guest sees it (empty when it cannot be read).
    std::string guest_mac(std::string_view vm, std::size_t k) {
        auto m = vm_exec(vm, fmt::format("cat /sys/class/net/eth{}/address", k), std::chrono::seconds(5));
        if (!m || !m->ok()) return {};
        auto t = m->out;
        while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
        return t;
    }

    /// reboot: the guest reboots itself (`reboot -f`); QEMU runs with -no-reboot, so the VM
    /// is started again with its stored configuration (NICs and the MACs generated at
    /// creation), as Hyper-V keeps a VM's settings across a restart. Observed: the MAC of
    /// NIC `to` after the reboot when it equals the one before, else "changed: A -> B".
    void check_reboot(const check_config& c, check_result& r) {
        auto k = nic_index(c.to);
        auto* v = find_vm(c.from);
        if (!k || !v || *k >= v->config.nics.size()) {
            r.detail = fmt::format("to = \"{}\": name a NIC of {} as eth0, eth1, ...", c.to, c.from);
            return;
        }
        r.target = fmt::format("eth{}", *k);
        auto before = guest_mac(c.from, *k);
        if (before.empty()) {
            r.detail = fmt::format("cannot read the MAC of eth{} before the reboot", *k);
            return;
        }
        auto t0 = clock::now();
        note(fmt::format("{}: rebooting", c.from));
        (void)v->agent.run("(sleep 1; reboot -f) </dev/null >/dev/null 2>&1 &", std::chrono::seconds(5));
        v->agent.close();
        bool by_guest = v->vm.wait_for(std::chrono::seconds(30)).has_value();
        v->vm.stop(std::chrono::seconds(2));
        if (mutant::on(mutant::id::mac_regenerated_on_reboot))
            for (auto& n : v->config.nics)
                if (auto m = mac_address::parse(n.mac)) {
                    auto b = m->octets();
                    b[5] = static_cast<std::uint8_t>(b[5] + 1);
                    n.mac = fmt::format("{}", mac_address(b));
                }
        auto q = qemu_vm::start(v->config);
        if (!q) {
            r.detail = fmt::format("cannot start QEMU again: {}", q.error().message());
            return;
        }
        v->vm = std::move(*q);
        detail::append_line(names_.state_dir() + "/pids",
                            fmt::format("{} {}", v->vm.pid(), detail::process_start_time(v->vm.pid())));
        auto ag = v->vm.connect_agent(std::chrono::duration_cast<std::chrono::milliseconds>(opt_.boot_timeout));
        if (!ag) {
            r.detail = fmt::format("no guest agent after the reboot: {}", ag.error().message());
            return;
        }
        v->agent = std::move(*ag);
        v->leases_waited = false;
        double secs = std::chrono::duration<double>(clock::now() - t0).count();
        note(fmt::format("{}: agent ready again after {:.2f} s", c.from, secs));
        auto after = guest_mac(c.from, *k);
        r.observed = after == before ? after : fmt::format("changed: {} -> {}", before, after.empty() ? "unreadable" : after);
        r.detail = fmt::format("eth{} before {}, after {}; {} and QEMU started again, agent back after {:.1f} s", *k, before,
                               after.empty() ? "unreadable" : after,
                               by_guest ? "the guest ran reboot -f" : "the guest did not stop by itself: QEMU stopped", secs);
    }

    void teardown() {
        for (auto& v : vms_) {
            v.agent.close();
            v.vm.stop();
        }
        vms_.clear();
        for (auto& [tag, h] : dhcp_hosts_) {
            h->stop();
            std::ofstream(fmt::format("{}/dhcp-{}.log", log_dir_, tag)) << h->summary() << "\n";
            (void)h->save_leases(fmt::format("{}/dhcp-{}.leases", log_dir_, tag));
        }
        dhcp_hosts_.clear();
        if (netnat_) {
            netnat_->stop();
            std::ofstream(fmt::format("{}/netnat.log", log_dir_)) << netnat_->summary() << "\n";
            netnat_.reset();
        }
        if (ics_) {
            ics_->stop();
            std::ofstream(fmt::format("{}/default-switch-ics.log", log_dir_)) << ics_->summary() << "\n";
            ics_.reset();
        }
        if (pump_) pump_->stop();
        for (auto& s : services_) s.stop(std::chrono::milliseconds(200));
        services_.clear();
        internet_tcp_.stop();
        pump_.reset();
        held_taps_.clear();
        vm_taps_.clear();
        namespaces_.clear();
        // A namespace another process still holds (none should) goes with the name anyway.
        for (const auto& ns : io::netns::list(fmt::format("{}{}-", run_netns_prefix, names_.id)))
            (void)io::netns::remove(ns);
        if (state_made_) {
            std::error_code ec;
            std::filesystem::remove_all(names_.state_dir(), ec);
        }
    }

    lab_file lf_;
    run_options opt_;
    run_names names_;
    bool state_made_ = false;
    std::string log_dir_;
    std::map<guest_profile, guest_image> images_;
    std::vector<io::netns> namespaces_;
    std::vector<io::tap> vm_taps_;
    std::vector<io::tap> held_taps_;
    std::unique_ptr<switch_pump> pump_;
    tcp_acceptor internet_tcp_;
    std::vector<io::child> services_;
    std::vector<vm_state> vms_;
    std::vector<vm_boot> boots_;
    std::vector<check_result> checks_;
    std::map<std::size_t, check_result> probes_;  // arp checks run before the VMs booted
    std::optional<ipv4_prefix> default_subnet_;
    std::string default_vnic_;
    mac_address default_vnic_mac_{};
    std::unique_ptr<ics_host> ics_;
    std::optional<std::size_t> netnat_switch_;  // the internal switch with nat = true
    std::unique_ptr<nat_host> netnat_;
    bool host_nats_started_ = false;
    std::vector<std::pair<std::string, std::unique_ptr<dhcp_host>>> dhcp_hosts_;  // by tag
    std::string host_dhcp_if_;
    std::size_t peer_count_ = 0;
};

/// The whole of `vnet lab run` as a function: remove leftovers, build, boot, check,
/// collect the report (the runtime is torn down before it returns unless `keep` gets it).
struct run_outcome {
    run_report report;
    std::unique_ptr<lab_runtime> kept;  // set when keep = true and the lab was built
};

inline run_outcome run_lab(lab_file lf, run_options opt, bool keep = false,
                           const std::function<void(const check_result&)>& on_result = {}) {
    run_outcome out;
    auto t0 = std::chrono::steady_clock::now();
    out.report.lab = lf.name;
    out.report.file = lf.path;
    auto left = remove_leftovers();
    if (left.runs && opt.progress)
        opt.progress(fmt::format("removed {} leftover run{} ({} namespaces, {} processes)", left.runs,
                                 left.runs == 1 ? "" : "s", left.namespaces, left.processes));
    auto rt = lab_runtime::create(std::move(lf), opt);
    if (!rt) {
        out.report.error = rt.error();
        out.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return out;
    }
    auto& r = **rt;
    out.report.run_id = r.run_id();
    r.lease_host_address();
    r.run_probes();
    out.report.boots = r.boot();
    if (opt.should_stop && opt.should_stop()) out.report.error = "stopped before the end (a signal or the run's timeout)";
    else out.report.checks = r.run_checks(on_result);
    if (opt.should_stop && opt.should_stop() && out.report.error.empty()) out.report.error = "stopped before the end (a signal or the run's timeout)";
    r.pump().flush_captures();
    out.report.ports = r.port_reports();
    out.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (keep) {
        r.mark_kept();
        out.kept = std::move(*rt);
    }
    return out;
}

}  // namespace vnet::lab
