// vnet/io/reactor.hpp - an epoll event loop (Linux only).
//
//   auto r = *io::reactor::create();
//   r.watch(sock.fd(), EPOLLIN, [&](std::uint32_t) { ... });        // fd stays the caller's
//   r.every(1s, [&](std::uint64_t) { table.expire(clock.now()); });  // a timerfd the reactor owns
//   r.stop_on_signals({SIGINT, SIGTERM});                            // a signalfd
//   std::thread t([&] { (void)r.run(); });  ...  r.stop();  t.join();
//
// - Callbacks run on the thread that calls run(), one at a time, in epoll order.
// - A callback may watch / unwatch / cancel anything, itself included: a removed entry
//   gets no further calls, and its std::function is destroyed after the current round.
// - stop() may be called from any thread and from a signal handler (one eventfd write);
//   a stop() before run() makes the next run() return at once.
// - stop_on_signals() blocks the signals in the calling thread (pthread_sigmask) and reads
//   them from a signalfd: call it on the thread that will run() before other threads
//   start, so they inherit the mask; the mask is left as it is afterwards.
// - post(f) queues f to run on the loop thread (thread safe): how another thread changes
//   what the loop owns (a switch host's ports) while it runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <csignal>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/error.hpp>
#include <vnet/io/os_error.hpp>

namespace vnet::io {

using vnet::to_string;

/// Why run() returned.
enum class run_exit : std::uint8_t { stopped, signal, deadline };

inline constexpr enum_name<run_exit> run_exit_names[] = {
    {run_exit::stopped, "stopped"},
    {run_exit::signal, "signal"},
    {run_exit::deadline, "deadline"},
};
constexpr std::span<const enum_name<run_exit>> enum_names(run_exit) noexcept { return run_exit_names; }

class reactor {
public:
    using handle = std::uint64_t;
    using fd_handler = std::function<void(std::uint32_t events)>;
    using timer_handler = std::function<void(std::uint64_t expirations)>;
    using clock = std::chrono::steady_clock;

    struct counters {
        std::uint64_t waits = 0;        // epoll_wait calls
        std::uint64_t dispatched = 0;   // callbacks run
        std::uint64_t timer_fires = 0;  // timer expirations delivered
        std::uint64_t stale = 0;        // events for entries removed earlier in the same round
    };

    reactor() = default;
    reactor(const reactor&) = delete;
    reactor& operator=(const reactor&) = delete;
    reactor(reactor&& o) noexcept { take(o); }
    reactor& operator=(reactor&& o) noexcept {
        if (this != &o) {
            close_all();
            take(o);
        }
        return *this;
    }
    ~reactor() { close_all(); }

    static result<reactor> create() {
        reactor r;
        r.epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (r.epfd_ < 0) return os_fail("reactor.epoll_create", errno);
        r.stopfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (r.stopfd_ < 0) return os_fail("reactor.eventfd", errno);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = stop_handle;
        if (::epoll_ctl(r.epfd_, EPOLL_CTL_ADD, r.stopfd_, &ev) != 0) return os_fail("reactor.epoll_ctl_add", errno);
        r.postfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (r.postfd_ < 0) return os_fail("reactor.eventfd", errno);
        ev.data.u64 = post_handle;
        if (::epoll_ctl(r.epfd_, EPOLL_CTL_ADD, r.postfd_, &ev) != 0) return os_fail("reactor.epoll_ctl_add", errno);
        r.posted_ = std::make_unique<post_queue>();
        return r;
    }

    /// Calls f(events) whenever fd is ready for `events` (EPOLLIN, EPOLLOUT, ...; level
    /// triggered unless EPOLLET is given). The fd stays owned by the caller, who must
    /// unwatch() it before closing it.
    result<handle> watch(int fd, std::uint32_t events, fd_handler f) { return add(fd, events, false, std::move(f), {}); }

    /// Stops calling the entry's callback and forgets it (closes it when the reactor owns
    /// the fd: timers). errc::not_found for an unknown or already removed handle.
    result<void> unwatch(handle h) {
        auto it = entries_.find(h);
        if (it == entries_.end() || it->second.dead) return fail(layer::io, errc::not_found, "reactor.handle");
        entry& e = it->second;
        int rc = ::epoll_ctl(epfd_, EPOLL_CTL_DEL, e.fd, nullptr);
        const int err = errno;
        if (e.owned) ::close(e.fd);
        if (dispatching_) {
            e.dead = true;
            graveyard_.push_back(h);
        } else {
            entries_.erase(it);
        }
        if (rc != 0 && err != EBADF && err != ENOENT) return os_fail("reactor.epoll_ctl_del", err);
        return {};
    }

    /// Calls f(expirations) every `period` (first after `first`, default one period) from
    /// a timerfd on CLOCK_MONOTONIC. expirations > 1 when the loop was late.
    result<handle> every(std::chrono::nanoseconds period, timer_handler f,
                         std::optional<std::chrono::nanoseconds> first = std::nullopt) {
        if (period.count() <= 0) return fail(layer::io, errc::bad_value, "reactor.period");
        return start_timer(first.value_or(period), period, std::move(f));
    }

    /// Calls f(1) once after `delay`; the entry removes itself after the call.
    result<handle> after(std::chrono::nanoseconds delay, timer_handler f) {
        if (delay.count() <= 0) delay = std::chrono::nanoseconds(1);
        return start_timer(delay, std::chrono::nanoseconds(0), std::move(f));
    }

    /// Makes run() return run_exit::signal when one of `signals` arrives (see the header).
    result<void> stop_on_signals(std::initializer_list<int> signals) {
        sigset_t set;
        sigemptyset(&set);
        for (int s : signals) sigaddset(&set, s);
        if (int e = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); e != 0) return os_fail("reactor.sigmask", e);
        if (sigfd_ >= 0) {
            sigset_t all = sigmask_;
            for (int s : signals) sigaddset(&all, s);
            if (::signalfd(sigfd_, &all, SFD_NONBLOCK | SFD_CLOEXEC) < 0) return os_fail("reactor.signalfd", errno);
            sigmask_ = all;
            return {};
        }
        sigfd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sigfd_ < 0) return os_fail("reactor.signalfd", errno);
        sigmask_ = set;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = signal_handle;
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, sigfd_, &ev) != 0) return os_fail("reactor.epoll_ctl_add", errno);
        return {};
    }

    /// Makes the running (or next) run() return run_exit::stopped. Thread and
    /// async-signal safe.
    void stop() const noexcept {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(stopfd_, &one, sizeof one);
    }

    /// Queues f to run on the loop thread during the next round (thread safe; not from a
    /// signal handler). Functions still queued when the reactor is destroyed never run.
    void post(std::function<void()> f) {
        {
            std::lock_guard<std::mutex> lock(posted_->m);
            posted_->q.push_back(std::move(f));
        }
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(postfd_, &one, sizeof one);
    }

    /// Dispatches events until stop() or a watched signal.
    result<run_exit> run() { return loop(std::nullopt); }

    /// Dispatches events until stop(), a watched signal or the deadline.
    result<run_exit> run_until(clock::time_point deadline) { return loop(deadline); }
    result<run_exit> run_for(std::chrono::nanoseconds d) { return loop(clock::now() + d); }

    /// One epoll_wait of at most `timeout` (0: poll) and its callbacks; returns how many
    /// callbacks ran. A stop() or signal seen here is kept for the next run().
    result<std::size_t> run_once(std::chrono::milliseconds timeout) {
        auto r = wait_and_dispatch(static_cast<int>(timeout.count()));
        if (!r) return unexpected(r.error());
        if (r->exit) pending_exit_ = r->exit;
        return r->callbacks;
    }

    /// The signal number that ended the last run() with run_exit::signal.
    int last_signal() const noexcept { return last_signal_; }
    /// Live entries (fds and timers).
    std::size_t size() const noexcept { return entries_.size() - graveyard_.size(); }
    const counters& stats() const noexcept { return ctr_; }
    bool valid() const noexcept { return epfd_ >= 0; }

private:
    static constexpr handle stop_handle = 0;
    static constexpr handle signal_handle = 1;
    static constexpr handle post_handle = 2;

    struct post_queue {
        std::mutex m;
        std::vector<std::function<void()>> q;
    };

    struct entry {
        int fd = -1;
        bool owned = false;  // a timerfd the reactor created
        bool oneshot = false;
        bool dead = false;
        fd_handler on_fd;
        timer_handler on_timer;
    };

    struct round {
        std::size_t callbacks = 0;
        std::optional<run_exit> exit;
    };

    void take(reactor& o) noexcept {
        epfd_ = std::exchange(o.epfd_, -1);
        stopfd_ = std::exchange(o.stopfd_, -1);
        postfd_ = std::exchange(o.postfd_, -1);
        posted_ = std::move(o.posted_);
        sigfd_ = std::exchange(o.sigfd_, -1);
        sigmask_ = o.sigmask_;
        next_ = o.next_;
        entries_ = std::move(o.entries_);
        graveyard_ = std::move(o.graveyard_);
        pending_exit_ = std::exchange(o.pending_exit_, std::nullopt);
        last_signal_ = o.last_signal_;
        ctr_ = o.ctr_;
    }

    void close_all() noexcept {
        for (auto& [h, e] : entries_)
            if (e.owned && !e.dead) ::close(e.fd);
        entries_.clear();
        graveyard_.clear();
        for (int* fd : {&sigfd_, &postfd_, &stopfd_, &epfd_}) {
            if (*fd >= 0) ::close(*fd);
            *fd = -1;
        }
    }

    result<handle> add(int fd, std::uint32_t events, bool owned, fd_handler f, timer_handler t, bool oneshot = false) {
        if (fd < 0) return fail(layer::io, errc::bad_value, "reactor.fd");
        const handle h = next_++;
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = h;
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return os_fail("reactor.epoll_ctl_add", errno);
        entry& e = entries_[h];
        e.fd = fd;
        e.owned = owned;
        e.oneshot = oneshot;
        e.on_fd = std::move(f);
        e.on_timer = std::move(t);
        return h;
    }

    static timespec to_timespec(std::chrono::nanoseconds d) noexcept {
        timespec ts{};
        ts.tv_sec = static_cast<time_t>(d.count() / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(d.count() % 1'000'000'000);
        return ts;
    }

    result<handle> start_timer(std::chrono::nanoseconds first, std::chrono::nanoseconds period, timer_handler f) {
        int tfd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (tfd < 0) return os_fail("reactor.timerfd_create", errno);
        itimerspec its{};
        its.it_value = to_timespec(first);
        its.it_interval = to_timespec(period);
        if (::timerfd_settime(tfd, 0, &its, nullptr) != 0) {
            const int e = errno;
            ::close(tfd);
            return os_fail("reactor.timerfd_settime", e);
        }
        auto h = add(tfd, EPOLLIN, true, {}, std::move(f), period.count() == 0);
        if (!h) ::close(tfd);
        return h;
    }

    result<run_exit> loop(std::optional<clock::time_point> deadline) {
        if (pending_exit_) return *std::exchange(pending_exit_, std::nullopt);
        for (;;) {
            int timeout = -1;
            if (deadline) {
                const auto left = *deadline - clock::now();
                if (left <= clock::duration::zero()) return run_exit::deadline;
                // round up so that the loop does not spin in the last millisecond
                timeout = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
            }
            auto r = wait_and_dispatch(timeout);
            if (!r) return unexpected(r.error());
            if (r->exit) return *r->exit;
        }
    }

    result<round> wait_and_dispatch(int timeout_ms) {
        epoll_event evs[64];
        ++ctr_.waits;
        const int n = ::epoll_wait(epfd_, evs, 64, timeout_ms);
        round out;
        if (n < 0) {
            if (errno == EINTR) return out;
            return os_fail("reactor.epoll_wait", errno);
        }
        dispatching_ = true;
        for (int i = 0; i < n; ++i) {
            const handle h = evs[i].data.u64;
            if (h == stop_handle) {
                std::uint64_t v = 0;
                [[maybe_unused]] auto k = ::read(stopfd_, &v, sizeof v);
                out.exit = run_exit::stopped;
                continue;
            }
            if (h == post_handle) {
                std::uint64_t v = 0;
                [[maybe_unused]] auto k = ::read(postfd_, &v, sizeof v);
                std::vector<std::function<void()>> run;
                {
                    std::lock_guard<std::mutex> lock(posted_->m);
                    run.swap(posted_->q);
                }
                for (auto& f : run) {
                    ++ctr_.dispatched;
                    ++out.callbacks;
                    f();
                }
                continue;
            }
            if (h == signal_handle) {
                signalfd_siginfo si{};
                if (::read(sigfd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                    last_signal_ = static_cast<int>(si.ssi_signo);
                    if (!out.exit) out.exit = run_exit::signal;
                }
                continue;
            }
            auto it = entries_.find(h);
            if (it == entries_.end() || it->second.dead) {
                ++ctr_.stale;
                continue;
            }
            entry& e = it->second;
            if (e.on_timer) {
                std::uint64_t exp = 0;
                if (::read(e.fd, &exp, sizeof exp) != static_cast<ssize_t>(sizeof exp) || exp == 0) continue;
                ctr_.timer_fires += exp;
                ++ctr_.dispatched;
                ++out.callbacks;
                e.on_timer(exp);
                if (e.oneshot && !e.dead) (void)unwatch(h);
            } else if (e.on_fd) {
                ++ctr_.dispatched;
                ++out.callbacks;
                e.on_fd(evs[i].events);
            }
        }
        dispatching_ = false;
        for (handle h : graveyard_) entries_.erase(h);
        graveyard_.clear();
        return out;
    }

    int epfd_ = -1;
    int stopfd_ = -1;
    int sigfd_ = -1;
    sigset_t sigmask_{};
    int postfd_ = -1;
    std::unique_ptr<post_queue> posted_;
    handle next_ = 3;
    std::unordered_map<handle, entry> entries_;
    std::vector<handle> graveyard_;
    bool dispatching_ = false;
    std::optional<run_exit> pending_exit_;
    int last_signal_ = 0;
    counters ctr_{};
};

}  // namespace vnet::io
