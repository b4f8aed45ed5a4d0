// vnet/io/reactor_thread.hpp - an io::reactor run on a thread of its own (Linux only).
//
//   io::reactor_thread t;
//   auto ok = t.start([&](io::reactor& r) -> result<void> {      // on the calling thread
//       if (auto h = r.watch(fd, EPOLLIN, on_readable); !h) return unexpected(h.error());
//       if (auto h = r.every(1s, on_tick); !h) return unexpected(h.error());
//       return {};
//   });
//   ...
//   t.stop();  // the loop returns, the thread is joined; the destructor does the same
//
// What the lab's long-running parts run on: the switch pump, the DHCP, ICS and NAT hosts and
// the internet namespace's TCP servers. Each start() makes a fresh reactor, so a stopped
// thread can be started again with other descriptors; `setup` registers everything before
// the thread exists, so a failed registration leaves no thread behind. The descriptors a
// setup watches stay the caller's: close them only after stop().
#pragma once

#include <functional>
#include <optional>
#include <thread>
#include <utility>

#include <vnet/core/error.hpp>
#include <vnet/io/reactor.hpp>

namespace vnet::io {

class reactor_thread {
public:
    using setup_fn = std::function<result<void>(reactor&)>;

    reactor_thread() = default;
    reactor_thread(const reactor_thread&) = delete;
    reactor_thread& operator=(const reactor_thread&) = delete;
    ~reactor_thread() { stop(); }

    /// Makes a reactor, lets `setup` watch descriptors and start timers on it, then runs it
    /// on a new thread until stop(). Running already: nothing is done.
    result<void> start(const setup_fn& setup) {
        if (thread_.joinable()) return {};
        auto r = reactor::create();
        if (!r) return unexpected(r.error());
        if (auto s = setup(*r); !s) return unexpected(s.error());
        loop_.emplace(std::move(*r));
        failure_.reset();
        thread_ = std::thread([this] {
            if (auto x = loop_->run(); !x) failure_ = x.error();
        });
        return {};
    }

    /// Makes run() return and joins the thread (idempotent). The reactor, with its entries,
    /// lives until the next start() or the destructor.
    void stop() {
        if (!thread_.joinable()) return;
        loop_->stop();
        thread_.join();
    }

    bool running() const noexcept { return thread_.joinable(); }

    /// The loop while it runs (for post(), or stats() after stop()); nullptr before start().
    reactor* loop() noexcept { return loop_ ? &*loop_ : nullptr; }

    /// Why the loop ended on its own (epoll_wait failed), read after stop().
    const std::optional<error>& failure() const noexcept { return failure_; }

private:
    std::optional<reactor> loop_;
    std::optional<error> failure_;
    std::thread thread_;
};

}  // namespace vnet::io
