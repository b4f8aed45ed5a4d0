// vnet/io/netns.hpp - named network namespaces with RAII (Linux only, needs CAP_SYS_ADMIN).
//
// A namespace is created the way `ip netns add` does it (a bind mount of the namespace
// file on /run/netns/<name>, with /run/netns made a shared mount point), so `ip -n NAME`,
// `ip netns exec NAME` and io::spawn(..., {.netns = NAME}) all reach it. Loopback is
// brought up at creation. The netns object deletes the name on destruction; the kernel
// frees the namespace (and the TAPs / veths in it) when the last process in it is gone.
//
// in_netns(name, f) runs f on a short-lived thread that joined the namespace, so the
// caller's own thread never changes namespace. f returns a vnet::result<T>.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vnet/core/error.hpp>
#include <vnet/io/process.hpp>

namespace vnet::io {

namespace detail {

template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<expected<T, error>> : std::true_type {};

inline constexpr const char* netns_run_dir = "/run/netns";

/// Interface and namespace names: 1-64 characters of [A-Za-z0-9_.-], not "." or "..".
inline bool valid_name(std::string_view n, std::size_t max) noexcept {
    if (n.empty() || n.size() > max || n == "." || n == "..") return false;
    for (char c : n) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

/// Sets IFF_UP on an interface of the calling thread's namespace.
inline result<void> set_link_up(std::string_view ifname) {
    if (ifname.size() >= IFNAMSIZ) return fail(layer::io, errc::too_long, "link.name");
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return fail(layer::io, errc::io, "link.socket");
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
    bool ok = ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    int e = errno;
    if (ok) {
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
        ok = ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
        e = errno;
    }
    ::close(s);
    if (!ok) return fail(layer::io, e == ENODEV ? errc::not_found : errc::io, "link.up");
    return {};
}

/// Makes /run/netns exist and be a shared mount point (as iproute2 does).
inline result<void> prepare_run_dir() {
    if (::mkdir(netns_run_dir, 0755) != 0 && errno != EEXIST) return fail(layer::io, errc::io, "netns.run_dir");
    bool bound = false;
    while (::mount("", netns_run_dir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
        if (errno != EINVAL || bound) return fail(layer::io, errc::io, "netns.run_dir_mount");
        if (::mount(netns_run_dir, netns_run_dir, "none", MS_BIND | MS_REC, nullptr) != 0)
            return fail(layer::io, errc::io, "netns.run_dir_mount");
        bound = true;
    }
    return {};
}

}  // namespace detail

/// Runs f() -> result<T> on a thread inside the named namespace (empty name: the
/// caller's namespace, on the calling thread). Exceptions from f propagate.
template <class F>
auto in_netns(std::string_view name, F&& f) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    static_assert(detail::is_result<R>::value, "in_netns: f must return vnet::result<T>");
    if (name.empty()) return f();
    int fd = ::open(netns_path(name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(layer::io, errno == ENOENT ? errc::not_found : errc::io, "netns.open");
    R out = fail(layer::io, errc::io, "netns.thread");
    std::exception_ptr ex;
    std::thread t([&] {
        if (::setns(fd, CLONE_NEWNET) != 0) {
            out = fail(layer::io, errc::io, "netns.setns");
            return;
        }
        try {
            out = f();
        } catch (...) {
            ex = std::current_exception();
        }
    });
    t.join();
    ::close(fd);
    if (ex) std::rethrow_exception(ex);
    return out;
}

/// A named network namespace owned by this object (deleted on destruction).
class netns {
public:
    netns() = default;
    netns(const netns&) = delete;
    netns& operator=(const netns&) = delete;
    netns(netns&& o) noexcept : name_(std::exchange(o.name_, {})) {}
    netns& operator=(netns&& o) noexcept {
        if (this != &o) {
            (void)remove();
            name_ = std::exchange(o.name_, {});
        }
        return *this;
    }
    ~netns() { (void)remove(); }

    /// Creates "<prefix>-<pid>-<n>" with the first free n. The prefix names the run, so
    /// remove_all(prefix) finds a crashed run's leftovers.
    static result<netns> create(std::string_view prefix = "vnet") {
        static std::atomic<unsigned> counter{0};
        for (int attempt = 0; attempt < 64; ++attempt) {
            auto name = fmt::format("{}-{}-{}", prefix, ::getpid(), counter.fetch_add(1));
            auto r = create_named(name);
            if (r || r.error().what != errc::conflict) return r;
        }
        return fail(layer::io, errc::exhausted, "netns.name");
    }

    /// Creates the namespace `name`; errc::conflict when the name is taken.
    static result<netns> create_named(std::string name) {
        if (!detail::valid_name(name, 64)) return fail(layer::io, errc::bad_value, "netns.name");
        if (auto p = detail::prepare_run_dir(); !p) return unexpected(p.error());
        auto path = netns_path(name);
        int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
        if (fd < 0) return fail(layer::io, errno == EEXIST ? errc::conflict : errc::io, "netns.file");
        ::close(fd);
        result<void> made = fail(layer::io, errc::io, "netns.thread");
        std::thread t([&] {
            if (::unshare(CLONE_NEWNET) != 0) {
                made = fail(layer::io, errc::io, "netns.unshare");
                return;
            }
            if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
                made = fail(layer::io, errc::io, "netns.bind_mount");
                return;
            }
            made = detail::set_link_up("lo");
        });
        t.join();
        if (!made) {
            ::umount2(path.c_str(), MNT_DETACH);
            ::unlink(path.c_str());
            return unexpected(made.error());
        }
        netns n;
        n.name_ = std::move(name);
        return n;
    }

    /// Deletes a namespace name (unmount + unlink). Absent names are fine.
    static result<void> remove(std::string_view name) {
        if (!detail::valid_name(name, 64)) return fail(layer::io, errc::bad_value, "netns.name");
        auto path = netns_path(name);
        ::umount2(path.c_str(), MNT_DETACH);
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail(layer::io, errc::io, "netns.unlink");
        return {};
    }

    /// Names in /run/netns that start with prefix.
    static std::vector<std::string> list(std::string_view prefix = {}) {
        std::vector<std::string> out;
        DIR* d = ::opendir(detail::netns_run_dir);
        if (!d) return out;
        while (auto* e = ::readdir(d)) {
            std::string_view n = e->d_name;
            if (n == "." || n == "..") continue;
            if (n.substr(0, prefix.size()) == prefix) out.emplace_back(n);
        }
        ::closedir(d);
        return out;
    }

    /// Removes every namespace whose name starts with prefix + "-" (leftovers of a run).
    static std::size_t remove_all(std::string_view prefix) {
        std::size_t n = 0;
        for (const auto& name : list(std::string(prefix) + "-"))
            if (remove(name)) ++n;
        return n;
    }

    const std::string& name() const noexcept { return name_; }
    std::string path() const { return netns_path(name_); }
    bool valid() const noexcept { return !name_.empty(); }

    /// Deletes the name now (idempotent).
    result<void> remove() {
        if (name_.empty()) return {};
        auto r = remove(name_);
        name_.clear();
        return r;
    }

    /// Gives up ownership: the namespace outlives this object.
    std::string release() noexcept { return std::exchange(name_, {}); }

    template <class F>
    auto run_in(F&& f) const -> std::invoke_result_t<F&> {
        if (name_.empty()) return fail(layer::io, errc::not_found, "netns.name");
        return in_netns(name_, f);
    }

    /// Runs a program inside the namespace and captures its output.
    result<run_output> exec(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout = std::chrono::seconds(30)) const {
        if (name_.empty()) return fail(layer::io, errc::not_found, "netns.name");
        spawn_options o;
        o.netns = name_;
        return run(argv, o, timeout);
    }

    /// Starts a program inside the namespace (opt.netns is set to this namespace).
    result<child> spawn(const std::vector<std::string>& argv, spawn_options opt = {}) const {
        if (name_.empty()) return fail(layer::io, errc::not_found, "netns.name");
        opt.netns = name_;
        return io::spawn(argv, opt);
    }

private:
    std::string name_;
};

}  // namespace vnet::io
