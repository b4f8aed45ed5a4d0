// vnet/io/process.hpp - child processes, optionally inside a network namespace (Linux only).
//
// spawn() starts a program (fork + exec) with stdin from /dev/null and stdout/stderr to
// files or /dev/null, after joining a named network namespace (setns on
// /run/netns/<name>) in the child. An exec failure is reported to the caller as an error
// value (through a close-on-exec pipe), not as a child that exits 127.
//
// child is the RAII owner: its destructor sends SIGKILL and reaps, so no zombie or stray
// process survives the owner. run() is spawn + capture of stdout/stderr + a deadline.
//
// Exit status convention everywhere: the exit code, or 128 + signal number when the
// process was killed by a signal (as a shell reports it).
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vnet/core/error.hpp>

namespace vnet::io {

/// The path of a named network namespace: "/run/netns/<name>"; an absolute path is kept.
inline std::string netns_path(std::string_view name) {
    if (!name.empty() && name.front() == '/') return std::string(name);
    return "/run/netns/" + std::string(name);
}

struct spawn_options {
    std::string netns;        // named network namespace to run in; empty: the caller's
    std::string stdout_path;  // file (created/truncated); empty: /dev/null
    std::string stderr_path;  // file (created/truncated); empty: /dev/null; may equal stdout_path
    /// SIGKILL the child when the *thread* that spawned it exits (PR_SET_PDEATHSIG), so a
    /// killed harness leaves no process behind. Leave false when spawning from a
    /// short-lived worker thread.
    bool die_with_parent = false;
};

/// Exit code, or 128 + signal number.
inline int decode_wait_status(int st) noexcept {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

/// A running (or finished, not yet reaped) child process. Move-only.
class child {
public:
    child() noexcept = default;
    explicit child(pid_t pid) noexcept : pid_(pid) {}
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    child(child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), status_(o.status_) {}
    child& operator=(child&& o) noexcept {
        if (this != &o) {
            kill_and_reap();
            pid_ = std::exchange(o.pid_, -1);
            status_ = o.status_;
        }
        return *this;
    }
    ~child() { kill_and_reap(); }

    pid_t pid() const noexcept { return pid_; }
    bool valid() const noexcept { return pid_ > 0; }
    /// The exit status once reaped (by wait_for / poll), else nullopt.
    std::optional<int> exit_status() const noexcept { return status_; }

    /// Reaps without blocking; true while the process runs.
    bool running() {
        if (pid_ <= 0 || status_) return false;
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            status_ = decode_wait_status(st);
            return false;
        }
        if (r < 0 && errno == ECHILD) {  // reaped elsewhere: treat as gone
            status_ = -1;
            return false;
        }
        return true;
    }

    /// Waits up to `timeout` for the process to end. The exit status, or nullopt when it
    /// still runs at the deadline.
    std::optional<int> wait_for(std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        auto step = std::chrono::milliseconds(1);
        while (running()) {
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(step);
            if (step < std::chrono::milliseconds(20)) step *= 2;
        }
        return status_;
    }

    /// Sends a signal (no effect once reaped).
    void signal(int sig) noexcept {
        if (pid_ > 0 && !status_) ::kill(pid_, sig);
    }

    /// SIGTERM, up to `grace` for it to end, then SIGKILL; reaps. Returns the status.
    int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0)) {
        if (pid_ <= 0) return -1;
        if (!status_) {
            if (grace.count() > 0) {
                signal(SIGTERM);
                if (wait_for(grace)) return *status_;
            }
            kill_and_reap();
        }
        return status_.value_or(-1);
    }

private:
    void kill_and_reap() noexcept {
        if (pid_ <= 0 || status_) return;
        ::kill(pid_, SIGKILL);
        int st = 0;
        while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {}
        status_ = decode_wait_status(st);
    }

    pid_t pid_ = -1;
    std::optional<int> status_;
};

namespace detail {

inline int open_output(const std::string& path) noexcept {
    if (path.empty()) return ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    return ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/// When VNET_EXEC_LOG names a file, every program started is appended to it: a line
/// "exec<TAB>argv[0]", and for `sh -c SCRIPT` also "sh<TAB>SCRIPT" with newlines written as
/// \n. ci/check-programs.sh reads it to check that ci/deps.sh installs each of them.
inline void log_exec(const std::vector<std::string>& argv) {
    const char* path = std::getenv("VNET_EXEC_LOG");
    if (path == nullptr || *path == '\0') return;
    std::string line = "exec\t" + argv.front() + "\n";
    if (argv.size() >= 3 && (argv[0] == "sh" || argv[0] == "bash") && argv[1] == "-c") {
        line += "sh\t";
        for (char ch : argv[2]) {
            if (ch == '\n') line += "\\n";
            else if (ch == '\\') line += "\\\\";
            else line += ch;
        }
        line += '\n';
    }
    int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    // one write per record: O_APPEND keeps records of concurrent processes whole
    [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
    ::close(fd);
}

/// fork + exec with explicit fds for 0/1/2. out_fd/err_fd of -1 use the paths in `opt`.
inline result<child> spawn_fds(const std::vector<std::string>& argv, const spawn_options& opt, int out_fd, int err_fd) {
    if (argv.empty() || argv.front().empty()) return fail(layer::io, errc::bad_value, "spawn.argv");
    log_exec(argv);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    int ns_fd = -1;
    if (!opt.netns.empty()) {
        ns_fd = ::open(netns_path(opt.netns).c_str(), O_RDONLY | O_CLOEXEC);
        if (ns_fd < 0) return fail(layer::io, errno == ENOENT ? errc::not_found : errc::io, "spawn.netns");
    }
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = out_fd >= 0 ? out_fd : open_output(opt.stdout_path);
    int err = err_fd >= 0                                                        ? err_fd
              : (!opt.stderr_path.empty() && opt.stderr_path == opt.stdout_path) ? out
                                                                                 : open_output(opt.stderr_path);
    int report[2] = {-1, -1};
    auto close_all = [&] {
        for (int fd : {ns_fd, in, report[0], report[1]})
            if (fd >= 0) ::close(fd);
        if (out_fd < 0 && out >= 0) ::close(out);
        if (err_fd < 0 && err >= 0 && err != out) ::close(err);
    };
    if (in < 0 || out < 0 || err < 0) {
        close_all();
        return fail(layer::io, errc::io, "spawn.output_file");
    }
    if (::pipe2(report, O_CLOEXEC) != 0) {
        close_all();
        return fail(layer::io, errc::io, "spawn.pipe");
    }
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        close_all();
        return fail(layer::io, errc::io, "spawn.fork");
    }
    if (pid == 0) {
        // Child: async-signal-safe calls only.
        auto die = [&](int stage) {
            int e[2] = {stage, errno};
            [[maybe_unused]] auto n = ::write(report[1], e, sizeof e);
            ::_exit(127);
        };
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) ::signal(s, SIG_DFL);
        if (opt.die_with_parent) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
        }
        if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNET) != 0) die(1);
        if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) die(2);
        ::setpgid(0, 0);  // own process group: a terminal's ^C goes to the harness only
        ::execvp(args[0], args.data());
        die(3);
    }
    ::close(report[1]);
    report[1] = -1;
    int e[2] = {0, 0};
    ssize_t n;
    while ((n = ::read(report[0], e, sizeof e)) < 0 && errno == EINTR) {}
    child c(pid);
    close_all();
    if (n > 0) {
        c.wait_for(std::chrono::milliseconds(1000));
        if (e[0] == 1) return fail(layer::io, errc::io, "spawn.setns");
        if (e[0] == 3 && e[1] == ENOENT) return fail(layer::io, errc::not_found, "spawn.program");
        return fail(layer::io, errc::io, e[0] == 3 ? "spawn.exec" : "spawn.dup2");
    }
    return c;
}

}  // namespace detail

/// Starts argv[0] (looked up in PATH) with stdin from /dev/null.
inline result<child> spawn(const std::vector<std::string>& argv, const spawn_options& opt = {}) {
    return detail::spawn_fds(argv, opt, -1, -1);
}

struct run_output {
    int status = -1;  // exit code, or 128 + signal
    std::string out;
    std::string err;
};

/// Runs argv to completion and captures stdout and stderr. When it is still running at
/// `timeout` it is killed and the result is an error (io, "run.timeout").
inline result<run_output> run(const std::vector<std::string>& argv, const spawn_options& opt = {},
                              std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    int po[2], pe[2];
    if (::pipe2(po, O_CLOEXEC) != 0) return fail(layer::io, errc::io, "run.pipe");
    if (::pipe2(pe, O_CLOEXEC) != 0) {
        ::close(po[0]);
        ::close(po[1]);
        return fail(layer::io, errc::io, "run.pipe");
    }
    auto c = detail::spawn_fds(argv, opt, po[1], pe[1]);
    ::close(po[1]);
    ::close(pe[1]);
    if (!c) {
        ::close(po[0]);
        ::close(pe[0]);
        return unexpected(c.error());
    }
    run_output r;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    bool timed_out = false;
    char buf[4096];
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        int k = ::poll(fds, 2, static_cast<int>(left.count()));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) ::close(f.fd);
    if (timed_out) {
        c->stop();
        return fail(layer::io, errc::io, "run.timeout");
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto st = c->wait_for(std::max(left, std::chrono::milliseconds(0)));
    if (!st) {
        c->stop();
        return fail(layer::io, errc::io, "run.timeout");
    }
    r.status = *st;
    return r;
}

}  // namespace vnet::io
