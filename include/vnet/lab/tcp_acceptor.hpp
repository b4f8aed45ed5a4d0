// vnet/lab/tcp_acceptor.hpp - the internet server's TCP ports: accept and close, on a thread of its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/packet_fd.hpp>
#include <vnet/io/reactor.hpp>
#include <vnet/io/reactor_thread.hpp>

namespace vnet::lab {

/// TCP servers of the "internet" namespace: accept and close.
class tcp_acceptor {
public:
    tcp_acceptor() = default;
    tcp_acceptor(const tcp_acceptor&) = delete;
    tcp_acceptor& operator=(const tcp_acceptor&) = delete;
    ~tcp_acceptor() { stop(); }

    result<void> start(const std::string& netns, ipv4_address addr, std::span<const std::uint16_t> ports) {
        auto fds = io::in_netns(netns, [&]() -> result<std::vector<io::unique_fd>> {
            std::vector<io::unique_fd> out;
            for (auto port : ports) {
                io::unique_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
                if (!s) return fail(layer::io, errc::io, "tcp_acceptor.socket");
                int one = 1;
                ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                sockaddr_in sa{};
                sa.sin_family = AF_INET;
                sa.sin_port = htons(port);
                sa.sin_addr.s_addr = htonl(addr.to_u32());
                if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 || ::listen(s.get(), 64) != 0)
                    return fail(layer::io, errc::io, "tcp_acceptor.bind");
                out.push_back(std::move(s));
            }
            return out;
        });
        if (!fds) return unexpected(fds.error());
        fds_ = std::move(*fds);
        return loop_.start([&](io::reactor& r) -> result<void> {
            for (const auto& f : fds_)
                if (auto h = r.watch(f.get(), EPOLLIN, [this, fd = f.get()](std::uint32_t) { accept_all(fd); }); !h)
                    return unexpected(h.error());
            return {};
        });
    }

    void stop() {
        loop_.stop();
        fds_.clear();
    }

    std::uint64_t accepted() const noexcept { return accepted_.load(); }

private:
    void accept_all(int fd) {
        int c;
        while ((c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0) {
            ::close(c);
            ++accepted_;
        }
    }

    std::vector<io::unique_fd> fds_;
    io::reactor_thread loop_;  // after fds_: stopped before they close
    std::atomic<std::uint64_t> accepted_{0};
};

}  // namespace vnet::lab
