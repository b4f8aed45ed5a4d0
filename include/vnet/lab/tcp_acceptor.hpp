// vnet/lab/tcp_acceptor.hpp - the internet server's TCP ports: accept and close, on a thread of its own.
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

}  // namespace vnet::lab
