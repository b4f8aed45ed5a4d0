// vnet/lab/service_thread.hpp - what a lab service (lab/ics_host.hpp, lab/dhcp_host.hpp)
// runs on: a thread that polls the service's file descriptors and calls it when one is
// readable and at every tick, until stop(); and the AF_PACKET socket a service serves a
// kernel interface through (Linux only).
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include <string>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vnet/core/error.hpp>
#include <vnet/io/os_error.hpp>

namespace vnet::lab {

class service_thread {
public:
    /// on_ready(i): fds[i] is readable; on_tick(): every `tick`; both on the thread, one at a time.
    struct callbacks {
        std::function<void(std::size_t)> on_ready;
        std::function<void()> on_tick;
    };

    service_thread() = default;
    service_thread(const service_thread&) = delete;
    service_thread& operator=(const service_thread&) = delete;
    ~service_thread() {
        stop();
        if (wake_ >= 0) ::close(wake_);
    }

    result<void> start(std::vector<int> fds, std::chrono::milliseconds tick, callbacks cb) {
        if (thread_.joinable()) return {};
        if (wake_ < 0) wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_ < 0) return io::os_fail("service_thread.eventfd", errno);
        thread_ = std::thread([this, fds = std::move(fds), tick, cb = std::move(cb)] { loop(fds, tick, cb); });
        return {};
    }

    /// Stops and joins the thread (idempotent).
    void stop() {
        if (!thread_.joinable()) return;
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
        thread_.join();
    }

private:
    void loop(const std::vector<int>& fds, std::chrono::milliseconds tick, const callbacks& cb) {
        std::vector<pollfd> p(fds.size() + 1);
        p[0] = {wake_, POLLIN, 0};
        for (std::size_t i = 0; i < fds.size(); ++i) p[i + 1] = {fds[i], POLLIN, 0};
        auto next_tick = std::chrono::steady_clock::now() + tick;
        for (;;) {
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - std::chrono::steady_clock::now());
            for (auto& e : p) e.revents = 0;
            const int r = ::poll(p.data(), p.size(), static_cast<int>(std::max<std::int64_t>(0, wait.count())));
            if (r < 0 && errno != EINTR) return;
            if (p[0].revents) return;
            for (std::size_t i = 1; i < p.size(); ++i)
                if (p[i].revents & POLLIN) cb.on_ready(i - 1);
            if (std::chrono::steady_clock::now() >= next_tick) {
                cb.on_tick();
                next_tick = std::chrono::steady_clock::now() + tick;
            }
        }
    }

    std::thread thread_;
    int wake_ = -1;
};

}  // namespace vnet::lab
