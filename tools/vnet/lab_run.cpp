// vnet lab run | up | down: build a lab, boot its VMs, run its checks, tear it down
// (docs/design.md "CLI"; the work is in vnet/lab/runtime.hpp).
//
// Exit status: 0 every check observed what it expected, 1 otherwise (or the lab could not
// be built), 2 bad input (a bad lab file: "vnet: lab: FILE:LINE: KEY: MESSAGE").
// SIGINT / SIGTERM stop the run and the lab is torn down; a second signal ends the
// process at once (the next run removes what it leaves).
// `run --keep` and `up` keep the lab: a child process (its own session) holds it, the
// command returns once it is ready; `vnet lab down NAME` stops that process and removes
// whatever is left.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/lab/runtime.hpp>

#include "commands.hpp"
#include "data_dir.hpp"
#include "run_control.hpp"
#include "running_lab.hpp"

namespace vnet::cli {

namespace {

/// Loads and checks the lab file; prints the error and returns nullopt on bad input.
std::optional<lab::lab_file> load(const std::string& file) {
    auto lf = lab::load_lab(file);
    if (!lf) {
        report_error("lab", lf.error().to_string());
        return std::nullopt;
    }
    if (auto u = lab::unsupported_by_runtime(*lf)) {
        report_error("lab", u->to_string());
        return std::nullopt;
    }
    return std::move(*lf);
}

lab::run_options options(const lab_run_options& o) {
    lab::run_options opt;
    opt.source_dir = find_data_root();
    // The guest image up to date with the recipe (a no-op when the cached one matches);
    // a failure is left to the runtime, which reports a missing image as a lab error.
    if (!opt.source_dir.empty()) (void)lab::build_image(opt.source_dir, lab::default_image_dir());
    opt.report_dir = o.report_dir;
    opt.parallel = o.parallel;
    opt.boot_timeout = std::chrono::seconds(o.boot_timeout);
    if (o.accel == "kvm") {
        auto img = lab::guest_image::in_dir(opt.image_dir.empty() ? lab::default_image_dir() : opt.image_dir);
        if (img) {
            auto p = lab::probe_kvm(*img);
            fmt::print(stderr, "[lab] accelerator: {} ({})\n", lab::to_string(p.accel), p.reason);
            opt.accel = p.accel;
        }
    }
    opt.progress = [](const std::string& line) { fmt::print(stderr, "[lab] {}\n", line); };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout);
    opt.should_stop = [deadline] { return stop_requested() || std::chrono::steady_clock::now() > deadline; };
    return opt;
}

/// Writes the report folder.
void write_report(const std::string& dir, const lab::run_report& r) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (!write_text(dir + "/summary.md", lab::to_markdown(r)) || !write_text(dir + "/summary.json", lab::to_json(r) + "\n"))
        report_error("lab", fmt::format("cannot write the report in {}", dir), 1);
    auto lf = lab::load_lab(r.file);
    write_lab_html(dir, lf ? &*lf : nullptr, r);
}

/// One request to a kept lab's runner (running_lab.hpp, control_socket): the answer line.
std::string answer_request(lab::lab_runtime& rt, const std::string& request) {
    const auto w = split_words(request);
    if (w.size() == 3 && w[0] == "remove-nic") {
        auto r = rt.remove_vm_nic(w[1], w[2]);
        if (!r) return "error " + r.error();
        fmt::print(stderr, "[lab] {}: NIC {} removed\n", w[1], w[2]);
        return "ok";
    }
    if (w.size() < 4 || w[0] != "add-nic" || (w[3] != "dhcp" && w[3] != "static"))
        return fmt::format(
            "error unknown request '{}' (add-nic VM SWITCH dhcp|static [ADDRESS/LEN [GATEWAY]] | remove-nic VM MAC)", request);
    lab::nic_config nic;
    nic.switch_name = w[2];
    if (w[3] == "static") {
        nic.ip = lab::ip_mode::static_;
        auto a = ipv4_prefix::parse(w.size() > 4 ? w[4] : std::string());
        if (!a) return "error a static NIC needs ADDRESS/LEN";
        nic.address = *a;
        if (w.size() > 5) {
            auto g = ipv4_address::parse(w[5]);
            if (!g) return fmt::format("error bad gateway '{}'", w[5]);
            nic.gateway = *g;
        }
    }
    auto made = rt.add_vm_nic(w[1], std::move(nic));
    if (!made) return "error " + made.error();
    fmt::print(stderr, "[lab] {}: NIC {} added on switch {} (TAP {})\n", w[1], made->mac, w[2], made->tap);
    return fmt::format("ok {} {}", made->mac, made->tap);
}

/// Serves the control socket until a stop signal (a kept lab's runner).
void serve_control(lab::lab_runtime& rt) {
    const auto path = control_socket(rt.names().state_dir());
    io::unique_fd ls(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() < sizeof sa.sun_path) std::memcpy(sa.sun_path, path.data(), path.size());
    ::unlink(path.c_str());
    if (!ls || path.size() >= sizeof sa.sun_path || ::bind(ls.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(ls.get(), 4) != 0) {
        fmt::print(stderr, "[lab] no control socket {}: {} (hot-plug is not available)\n", path, std::strerror(errno));
        ls.reset();
    }
    ::chmod(path.c_str(), 0600);
    while (!stop_requested()) {
        if (!ls) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            continue;
        }
        pollfd p{ls.get(), POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0) continue;
        io::unique_fd c(::accept4(ls.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!c) continue;
        std::string request;
        char buf[512];
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (request.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
            pollfd q{c.get(), POLLIN, 0};
            if (::poll(&q, 1, 200) <= 0) continue;
            auto n = ::recv(c.get(), buf, sizeof buf, 0);
            if (n <= 0) break;
            request.append(buf, static_cast<std::size_t>(n));
        }
        auto answer = answer_request(rt, request.substr(0, request.find('\n'))) + "\n";
        [[maybe_unused]] auto n = ::send(c.get(), answer.data(), answer.size(), MSG_NOSIGNAL);
    }
    ::unlink(path.c_str());
}

int finish(const lab_run_options& o, const lab::run_report& r) {
    if (!o.report_dir.empty()) write_report(o.report_dir, r);
    std::size_t passed = 0;
    for (const auto& c : r.checks) passed += c.pass();
    if (!r.error.empty()) fmt::print(stderr, "vnet: lab: {}\n", r.error);
    std::string boots;
    for (const auto& b : r.boots)
        boots += fmt::format("{}{} {:.1f} s{}", boots.empty() ? "" : ", ", b.name, b.seconds_to_agent,
                             b.ready ? "" : " (not ready)");
    fmt::print(o.json ? stderr : stdout, "lab {}: {}/{} checks passed in {:.1f} s (run {}; boot to agent: {})\n", r.lab, passed,
               r.checks.size(), r.seconds, r.run_id.empty() ? "-" : r.run_id, boots.empty() ? "no VMs" : boots);
    std::fflush(stdout);
    return r.passed() ? exit_ok : exit_check_failed;
}

/// Runs the lab in this process; with keep, holds it until a signal.
int run_here(lab::lab_file lf, const lab_run_options& o, bool keep, bool checks, int ready_fd) {
    auto opt = options(o);
    std::function<void(const lab::check_result&)> print = [&](const lab::check_result& c) {
        fmt::print("{}\n", o.json ? lab::to_json(c) : lab::format_line(c));
        std::fflush(stdout);
    };
    if (!checks) lf.checks.clear();
    auto out = lab::run_lab(std::move(lf), opt, keep, print);
    int status = finish(o, out.report);
    if (!keep || !out.kept) {
        if (ready_fd >= 0) {
            char s = static_cast<char>(status);
            [[maybe_unused]] auto n = ::write(ready_fd, &s, 1);
        }
        return status;
    }
    auto& rt = *out.kept;
    rt.release_agents();
    fmt::print(stderr,
               "[lab] {} is up as run {}: namespaces {}host, {}inet, ... (ip netns exec NAME ...), guest agents "
               "{}/<vm>.agent; remove it with: vnet lab down {}\n",
               rt.file().name, rt.run_id(), rt.names().netns(""), rt.names().netns(""), rt.names().state_dir(), rt.file().name);
    if (ready_fd >= 0) {
        char s = static_cast<char>(status);
        [[maybe_unused]] auto n = ::write(ready_fd, &s, 1);
        ::close(ready_fd);
        // The command that started us has returned: log to the run's folder from now on.
        int log = ::open((rt.names().state_dir() + "/runner.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log >= 0) {
            ::dup2(log, 1);
            ::dup2(log, 2);
            ::close(log);
        }
    }
    serve_control(rt);
    fmt::print(stderr, "[lab] signal {}: tearing down run {}\n", stop_signal(), rt.run_id());
    out.kept.reset();
    return status;
}

/// Holds the lab in a child process of its own session; returns once it is ready.
int run_detached(lab::lab_file lf, const lab_run_options& o, bool checks) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return report_error("lab", "pipe failed", 1);
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = ::fork();
    if (pid < 0) return report_error("lab", "fork failed", 1);
    if (pid == 0) {
        ::close(p[0]);
        ::setsid();
        int st = run_here(std::move(lf), o, true, checks, p[1]);
        std::fflush(stdout);
        ::_exit(st);
    }
    ::close(p[1]);
    char s = 0;
    ssize_t n;
    bool forwarded = false;
    while ((n = ::read(p[0], &s, 1)) < 0 && errno == EINTR) {
        if (stop_requested() && !forwarded) {
            ::kill(pid, SIGTERM);
            forwarded = true;
        }
    }
    ::close(p[0]);
    if (n == 1) return static_cast<unsigned char>(s);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(st) ? WEXITSTATUS(st) : exit_check_failed;
}

}  // namespace

int run_lab_run(const lab_run_options& o) {
    auto lf = load(o.file);
    if (!lf) return exit_bad_input;
    install_stop_signals();
    if (o.keep) return run_detached(std::move(*lf), o, true);
    return run_here(std::move(*lf), o, false, true, -1);
}

int run_lab_up(const lab_run_options& o) {
    auto lf = load(o.file);
    if (!lf) return exit_bad_input;
    install_stop_signals();
    return run_detached(std::move(*lf), o, false);
}

int run_lab_exec(const lab_exec_options& o) {
    if (::geteuid() != 0) return report_error("lab exec", "needs root");
    auto l = find_running_lab("lab exec", o.name);
    if (!l) return exit_bad_input;
    if (!has_vm("lab exec", *l, o.vm)) return exit_bad_input;
    auto agent = connect_agent("lab exec", *l, o.vm);
    if (!agent) return exit_check_failed;
    std::string command;
    for (const auto& w : o.command) command += (command.empty() ? "" : " ") + w;
    auto r = agent->run(command, std::chrono::seconds(o.timeout));
    if (!r) return report_error("lab exec", fmt::format("{}: {}", o.vm, r.error().message()), 1);
    std::fwrite(r->out.data(), 1, r->out.size(), stdout);
    std::fwrite(r->err.data(), 1, r->err.size(), stderr);
    std::fflush(stdout);
    return r->exit_status < 0 ? 1 : r->exit_status & 0xff;
}

int run_lab_down(const lab_down_options& o) {
    if (::geteuid() != 0) return report_error("lab down", "needs root");
    std::size_t found = 0;
    for (const auto& run : lab::list_runs()) {
        if (run.id != o.name && run.lab != o.name) continue;
        ++found;
        auto r = lab::remove_run(run.id);
        fmt::print("removed run {} of lab {} ({} namespaces, {} processes{})\n", run.id, run.lab, r.namespaces, r.processes,
                   run.owner_alive ? ", runner stopped" : "");
    }
    auto left = lab::remove_leftovers();
    if (left.runs || left.namespaces)
        fmt::print("removed {} leftover run{} of killed runners ({} namespaces)\n", left.runs, left.runs == 1 ? "" : "s",
                   left.namespaces);
    if (found == 0) return report_error("lab down", fmt::format("no lab or run id '{}' is running", o.name));
    return exit_ok;
}

}  // namespace vnet::cli
