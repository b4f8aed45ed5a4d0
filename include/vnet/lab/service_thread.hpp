// vnet/lab/service_thread.hpp - what a lab service (lab/ics_host.hpp, lab/dhcp_host.hpp,
// lab/nat_host.hpp) runs on: an io::reactor on a thread of its own that calls the service
// when one of its file descriptors is readable and at every tick, until stop() (Linux only).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include <sys/epoll.h>

#include <vnet/core/error.hpp>
#include <vnet/io/reactor.hpp>
#include <vnet/io/reactor_thread.hpp>

namespace vnet::lab {

class service_thread {
public:
    /// on_ready(i): fds[i] is readable (or has an error to read); on_tick(): every `tick`;
    /// both on the thread, one at a time.
    struct callbacks {
        std::function<void(std::size_t)> on_ready;
        std::function<void()> on_tick;
    };

    /// Starts the thread (running already: nothing is done). The fds stay the caller's.
    result<void> start(std::vector<int> fds, std::chrono::milliseconds tick, callbacks cb) {
        return loop_.start([&](io::reactor& r) -> result<void> {
            for (std::size_t i = 0; i < fds.size(); ++i)
                if (auto h = r.watch(fds[i], EPOLLIN, [f = cb.on_ready, i](std::uint32_t) { f(i); }); !h)
                    return unexpected(h.error());
            if (auto h = r.every(tick, [f = cb.on_tick](std::uint64_t) { f(); }); !h) return unexpected(h.error());
            return {};
        });
    }

    /// Stops and joins the thread (idempotent).
    void stop() { loop_.stop(); }

private:
    io::reactor_thread loop_;
};

}  // namespace vnet::lab
