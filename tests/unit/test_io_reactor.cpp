// The epoll reactor (include/vnet/io/reactor.hpp) and the errno-carrying error values
// (include/vnet/io/os_error.hpp), with pipes, eventfds and timerfds only: no root needed.
// The rules are the reactor's own contract, stated in its header comment.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <csignal>
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/io/os_error.hpp>
#include <vnet/io/reactor.hpp>
#include <vnet/io/reactor_thread.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace std::chrono_literals;

namespace vnet::io {
inline std::ostream& operator<<(std::ostream& os, run_exit e) { return os << to_string(e); }
}  // namespace vnet::io

namespace {

/// A pipe closed on scope exit.
struct pipe_pair {
    int r = -1, w = -1;
    pipe_pair() {
        int p[2];
        BOOST_REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
        r = p[0];
        w = p[1];
    }
    ~pipe_pair() {
        ::close(r);
        ::close(w);
    }
    void put(char c = 'x') const { BOOST_REQUIRE(::write(w, &c, 1) == 1); }
    int drain() const {
        char b[64];
        int n = 0;
        ssize_t k;
        while ((k = ::read(r, b, sizeof b)) > 0) n += static_cast<int>(k);
        return n;
    }
};

io::reactor make() {
    auto r = io::reactor::create();
    BOOST_REQUIRE(r.has_value());
    return std::move(*r);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(io_reactor)

// Header: "Calls f(events) whenever fd is ready".
BOOST_AUTO_TEST_CASE(calls_back_when_a_pipe_is_readable) {
    auto r = make();
    pipe_pair p;
    int bytes = 0;
    std::uint32_t seen = 0;
    auto h = r.watch(p.r, EPOLLIN, [&](std::uint32_t ev) {
        seen = ev;
        bytes += p.drain();
    });
    BOOST_REQUIRE(h.has_value());
    auto idle = r.run_once(0ms);
    BOOST_REQUIRE(idle.has_value());
    BOOST_TEST(*idle == 0u);  // nothing ready: no callback
    p.put();
    p.put();
    auto once = r.run_once(100ms);
    BOOST_REQUIRE(once.has_value());
    BOOST_TEST(*once == 1u);
    BOOST_TEST(bytes == 2);
    BOOST_TEST((seen & EPOLLIN) != 0u);
    BOOST_TEST(r.size() == 1u);
}

// Header: "a stop() before run() makes the next run() return at once"; stop() works from
// any thread.
BOOST_AUTO_TEST_CASE(stop_from_another_thread_ends_run) {
    auto r = make();
    r.stop();
    auto first = r.run();
    BOOST_REQUIRE(first.has_value());
    BOOST_TEST(*first == io::run_exit::stopped);

    const auto t0 = std::chrono::steady_clock::now();
    std::thread t([&] {
        std::this_thread::sleep_for(50ms);
        r.stop();
    });
    auto second = r.run_until(std::chrono::steady_clock::now() + 5s);
    t.join();
    BOOST_REQUIRE(second.has_value());
    BOOST_TEST(*second == io::run_exit::stopped);
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));
}

// Header: run_until returns run_exit::deadline at the deadline.
BOOST_AUTO_TEST_CASE(run_until_returns_at_the_deadline) {
    auto r = make();
    const auto t0 = std::chrono::steady_clock::now();
    auto e = r.run_for(60ms);
    const auto took = std::chrono::steady_clock::now() - t0;
    BOOST_REQUIRE(e.has_value());
    BOOST_TEST(*e == io::run_exit::deadline);
    BOOST_TEST((took >= 60ms));
    BOOST_TEST((took < 1s));
}

// Header: every() fires periodically from a timerfd (MAC aging, lease and NAT expiry).
BOOST_AUTO_TEST_CASE(periodic_timer_fires_repeatedly) {
    auto r = make();
    std::uint64_t fires = 0;
    auto h = r.every(10ms, [&](std::uint64_t n) {
        fires += n;
        if (fires >= 5) r.stop();
    });
    BOOST_REQUIRE(h.has_value());
    auto e = r.run_for(3s);
    BOOST_REQUIRE(e.has_value());
    BOOST_TEST(*e == io::run_exit::stopped);
    BOOST_TEST(fires >= 5u);
    BOOST_TEST(r.stats().timer_fires >= 5u);
    BOOST_TEST(r.every(0ns, [](std::uint64_t) {}).has_value() == false);
}

// Header: after() runs once and removes itself.
BOOST_AUTO_TEST_CASE(one_shot_timer_runs_once) {
    auto r = make();
    int calls = 0;
    BOOST_REQUIRE(r.after(5ms, [&](std::uint64_t) { ++calls; }).has_value());
    BOOST_TEST(r.size() == 1u);
    auto e = r.run_for(80ms);
    BOOST_REQUIRE(e.has_value());
    BOOST_TEST(calls == 1);
    BOOST_TEST(r.size() == 0u);
}

// Header: "A callback may watch / unwatch / cancel anything, itself included: a removed
// entry gets no further calls".
BOOST_AUTO_TEST_CASE(callback_may_remove_itself_and_others) {
    auto r = make();
    pipe_pair a, b;
    int calls_a = 0, calls_b = 0;
    io::reactor::handle hb = 0;
    io::reactor::handle ha = 0;
    auto wa = r.watch(a.r, EPOLLIN, [&](std::uint32_t) {
        ++calls_a;
        (void)r.unwatch(ha);  // itself
        (void)r.unwatch(hb);  // the other one, ready in the same round
    });
    auto wb = r.watch(b.r, EPOLLIN, [&](std::uint32_t) {
        ++calls_b;
        (void)r.unwatch(hb);
        (void)r.unwatch(ha);
    });
    BOOST_REQUIRE(wa.has_value());
    BOOST_REQUIRE(wb.has_value());
    ha = *wa;
    hb = *wb;
    a.put();
    b.put();
    auto n = r.run_once(100ms);
    BOOST_REQUIRE(n.has_value());
    BOOST_TEST(calls_a + calls_b == 1);  // whichever ran first removed the other
    BOOST_TEST(r.size() == 0u);
    a.put();
    b.put();
    auto again = r.run_once(20ms);
    BOOST_REQUIRE(again.has_value());
    BOOST_TEST(*again == 0u);
    BOOST_TEST(calls_a + calls_b == 1);
    auto gone = r.unwatch(ha);
    BOOST_REQUIRE(!gone.has_value());
    BOOST_TEST(gone.error().what == errc::not_found);
}

// Header: a level-triggered watch keeps firing while data is left; unwatch stops it.
BOOST_AUTO_TEST_CASE(level_triggered_until_unwatched) {
    auto r = make();
    int ev = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    BOOST_REQUIRE(ev >= 0);
    int calls = 0;
    auto h = r.watch(ev, EPOLLIN, [&](std::uint32_t) { ++calls; });  // never reads: stays ready
    BOOST_REQUIRE(h.has_value());
    std::uint64_t one = 1;
    BOOST_REQUIRE(::write(ev, &one, sizeof one) == static_cast<ssize_t>(sizeof one));
    for (int i = 0; i < 3; ++i) BOOST_REQUIRE(r.run_once(50ms).has_value());
    BOOST_TEST(calls == 3);
    BOOST_REQUIRE(r.unwatch(*h).has_value());
    BOOST_REQUIRE(r.run_once(20ms).has_value());
    BOOST_TEST(calls == 3);
    ::close(ev);
}

// Header: "post(f) queues f to run on the loop thread (thread safe)".
BOOST_AUTO_TEST_CASE(post_runs_on_the_loop_thread) {
    auto r = make();
    std::thread::id loop_id, ran_on;
    std::atomic<int> ran{0};
    std::thread loop([&] {
        loop_id = std::this_thread::get_id();
        (void)r.run_for(5s);
    });
    std::thread poster([&] {
        for (int i = 0; i < 100; ++i)
            r.post([&] {
                ran_on = std::this_thread::get_id();
                if (++ran == 100) r.stop();
            });
    });
    poster.join();
    loop.join();
    BOOST_TEST(ran.load() == 100);
    BOOST_TEST((ran_on == loop_id));
}

// Header: stop_on_signals() makes run() return run_exit::signal and names the signal.
BOOST_AUTO_TEST_CASE(signal_ends_run) {
    sigset_t old;
    BOOST_REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &old) == 0);
    {
        auto r = make();
        BOOST_REQUIRE(r.stop_on_signals({SIGUSR1}).has_value());
        BOOST_REQUIRE(::pthread_kill(::pthread_self(), SIGUSR1) == 0);  // pending: blocked
        auto e = r.run_for(2s);
        BOOST_REQUIRE(e.has_value());
        BOOST_TEST(*e == io::run_exit::signal);
        BOOST_TEST(r.last_signal() == SIGUSR1);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// os_error.hpp: a failed call is an error value that names the call and carries the
// errno text.
BOOST_AUTO_TEST_CASE(failed_syscalls_are_error_values_with_errno_text) {
    auto r = make();
    int fd = ::eventfd(0, EFD_CLOEXEC);
    BOOST_REQUIRE(fd >= 0);
    ::close(fd);
    auto w = r.watch(fd, EPOLLIN, [](std::uint32_t) {});
    BOOST_REQUIRE(!w.has_value());
    BOOST_TEST(w.error().where == layer::io);
    BOOST_TEST(w.error().message() == "io.reactor.epoll_ctl_add (EBADF: Bad file descriptor): I/O error");
    auto neg = r.watch(-1, EPOLLIN, [](std::uint32_t) {});
    BOOST_REQUIRE(!neg.has_value());
    BOOST_TEST(neg.error().what == errc::bad_value);

    auto e = io::os_fail("packet_socket.bind", ENODEV).error();
    BOOST_TEST(e.what == errc::not_found);
    BOOST_TEST(e.message() == "io.packet_socket.bind (ENODEV: No such device): not found");
    // the same (call, errno) pair is interned once: the same storage
    BOOST_TEST((io::os_fail("packet_socket.bind", ENODEV).error().field.data() == e.field.data()));
    BOOST_TEST(io::errc_from_errno(EEXIST) == errc::conflict);
    BOOST_TEST(io::errc_from_errno(ENOBUFS) == errc::exhausted);
    BOOST_TEST(io::errc_from_errno(EPERM) == errc::io);
}

// The reactor is movable: a moved-to reactor keeps its entries and its stop channel.
BOOST_AUTO_TEST_CASE(moved_reactor_keeps_entries) {
    auto a = make();
    pipe_pair p;
    int calls = 0;
    BOOST_REQUIRE(a.watch(p.r, EPOLLIN, [&](std::uint32_t) {
                       ++calls;
                       p.drain();
                   }).has_value());
    io::reactor b = std::move(a);
    BOOST_TEST(!a.valid());
    p.put();
    BOOST_REQUIRE(b.run_once(100ms).has_value());
    BOOST_TEST(calls == 1);
    b.stop();
    auto e = b.run();
    BOOST_REQUIRE(e.has_value());
    BOOST_TEST(*e == io::run_exit::stopped);
}

// reactor_thread header: setup runs before the thread exists; the callbacks run on the
// loop thread until stop(), which joins; a stopped thread starts again with a fresh loop.
BOOST_AUTO_TEST_CASE(reactor_thread_runs_callbacks_until_stop_and_restarts) {
    io::reactor_thread t;
    BOOST_TEST(!t.running());
    BOOST_TEST(t.loop() == nullptr);
    pipe_pair p;
    std::atomic<int> bytes{0};
    std::atomic<int> ticks{0};
    std::atomic<bool> off_thread{false};
    const auto caller = std::this_thread::get_id();
    auto setup = [&](io::reactor& r) -> result<void> {
        if (auto h = r.watch(p.r, EPOLLIN,
                             [&](std::uint32_t) {
                                 off_thread = std::this_thread::get_id() != caller;
                                 bytes += p.drain();
                             });
            !h)
            return unexpected(h.error());
        if (auto h = r.every(5ms, [&](std::uint64_t) { ++ticks; }); !h) return unexpected(h.error());
        return {};
    };
    BOOST_REQUIRE(t.start(setup).has_value());
    BOOST_TEST(t.running());
    BOOST_TEST(t.start(setup).has_value());  // running already: nothing is done
    p.put();
    p.put();
    p.put();
    const auto until = std::chrono::steady_clock::now() + 5s;
    while ((bytes < 3 || ticks < 2) && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
    BOOST_TEST(bytes.load() == 3);
    BOOST_TEST(ticks.load() >= 2);
    BOOST_TEST(off_thread.load());
    t.stop();
    BOOST_TEST(!t.running());
    BOOST_TEST(!t.failure().has_value());
    const int ticks_at_stop = ticks;
    p.put();
    std::this_thread::sleep_for(30ms);
    BOOST_TEST(bytes.load() == 3);  // stopped: no callback, the byte waits
    BOOST_TEST(ticks.load() == ticks_at_stop);
    t.stop();  // idempotent

    BOOST_REQUIRE(t.start(setup).has_value());
    const auto again = std::chrono::steady_clock::now() + 5s;
    while (bytes < 4 && std::chrono::steady_clock::now() < again) std::this_thread::sleep_for(1ms);
    BOOST_TEST(bytes.load() == 4);
}

// A failing setup leaves no thread behind and says why.
BOOST_AUTO_TEST_CASE(reactor_thread_setup_failure_starts_nothing) {
    io::reactor_thread t;
    auto r = t.start([](io::reactor& loop) -> result<void> {
        if (auto h = loop.watch(-1, EPOLLIN, [](std::uint32_t) {}); !h) return unexpected(h.error());
        return {};
    });
    BOOST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().what == errc::bad_value);
    BOOST_TEST(!t.running());
}

BOOST_AUTO_TEST_SUITE_END()
