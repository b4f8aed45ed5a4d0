// vnet/lab/dhcp_host.hpp - vnet's DHCP server (svc::dhcp_server) serving a kernel
// interface of a lab: a network's bridge (the LAN's DHCP server, on its router) or an
// internal switch's host vNIC (an admin's DHCP server on the host) (Linux only, root).
//
// The interface keeps its kernel address; the server answers as that address and MAC
// from an AF_PACKET socket on it: a frame for port 67 (broadcast, or to the interface's
// MAC) goes to dhcp_server::handle_frame and its reply leaves through the same socket.
// The owner keeps the kernel from answering port 67 itself (kernel_rules(): nft drops
// UDP 67 delivered locally on the interface; the packet socket sees the frame first).
// Leases expire at every tick; the lease table is written out by save_leases() (the
// runtime keeps it beside the lab's logs).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/packet_fd.hpp>
#include <vnet/lab/service_thread.hpp>
#include <vnet/services/dhcp_server.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/udp.hpp>

namespace vnet::lab {

struct dhcp_host_options {
    std::string netns;  // the interface's namespace
    std::string ifname;
    svc::dhcp_server_config server;  // server_address / server_mac: the interface's
    std::chrono::milliseconds tick{1000};
};

/// Counters of the glue, beside the server's own.
struct dhcp_host_counters {
    std::uint64_t frames = 0;       // frames for port 67 given to the server
    std::uint64_t replies = 0;      // reply frames sent
    std::uint64_t send_errors = 0;  // send() refused
};

/// The nft ruleset (table inet vnet_dhcp_<ifname>) that keeps the kernel off port 67 there.
inline std::string dhcp_kernel_rules(const std::string& ifname) {
    return fmt::format(
        "table inet vnet_dhcp_{0} {{\n"
        "  chain input {{\n"
        "    type filter hook input priority filter; policy accept;\n"
        "    iifname \"{0}\" udp dport 67 drop\n"
        "  }}\n"
        "}}\n",
        ifname);
}

class dhcp_host {
public:
    static result<std::unique_ptr<dhcp_host>> make(dhcp_host_options o) {
        auto srv = svc::dhcp_server::make(o.server);
        if (!srv) return unexpected(srv.error());
        std::unique_ptr<dhcp_host> h(new dhcp_host(std::move(o), std::move(*srv)));
        auto fd = io::in_netns(h->o_.netns, [&] { return io::open_packet_fd(h->o_.ifname); });
        if (!fd) return unexpected(fd.error());
        h->fd_ = std::move(*fd);
        return h;
    }

    dhcp_host(const dhcp_host&) = delete;
    dhcp_host& operator=(const dhcp_host&) = delete;
    ~dhcp_host() { stop(); }

    result<void> start() {
        return thread_.start({fd_.get()}, o_.tick,
                             {[this](std::size_t) { drain(); },
                              [this] {
                                  std::lock_guard lock(mu_);
                                  server_.expire(std::chrono::system_clock::now());
                              }});
    }
    void stop() { thread_.stop(); }

    /// Runs f(const svc::dhcp_server&, const dhcp_host_counters&) under the lock.
    template <class F>
    auto inspect(F&& f) const {
        std::lock_guard lock(mu_);
        return f(static_cast<const svc::dhcp_server&>(server_), counters_);
    }

    std::string summary() const {
        return inspect([&](const svc::dhcp_server& s, const dhcp_host_counters& c) {
            return fmt::format("DHCP server {} on {}\n{}\n{}\nlab glue: frames={} replies={} send_errors={}",
                               o_.server.server_address, o_.ifname, s.counters(), s.leases(), c.frames, c.replies, c.send_errors);
        });
    }

    /// Writes the lease table (svc::dhcp_server::save_leases) to `path`.
    result<void> save_leases(const std::string& path) const {
        std::lock_guard lock(mu_);
        std::ofstream f(path);
        f << server_.save_leases();
        if (!f) return fail(layer::lab, errc::io, "dhcp_host.save_leases");
        return {};
    }

private:
    dhcp_host(dhcp_host_options o, svc::dhcp_server s) : o_(std::move(o)), server_(std::move(s)) {}

    /// Port 67 over IPv4 to the broadcast or the interface's MAC.
    bool for_server(bytes_view fr) const {
        auto f = wire::ethernet_view::parse(fr);
        if (!f || f->ethertype() != wire::ethertype::ipv4) return false;
        if (f->dst() != o_.server.server_mac && !f->dst().is_broadcast()) return false;
        auto ip = wire::ipv4_view::parse(f->payload());
        return ip && wire::udp_dst_port(*ip) == wire::dhcp_port::server;
    }

    void drain() {
        std::lock_guard lock(mu_);
        for (int i = 0; i < 64; ++i) {
            sockaddr_ll from{};
            socklen_t fl = sizeof from;
            const ssize_t r = ::recvfrom(fd_.get(), in_.data(), in_.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
            if (r < 0) return;
            if (from.sll_pkttype == PACKET_OUTGOING) continue;
            const bytes_view fr(in_.data(), static_cast<std::size_t>(r));
            if (!for_server(fr)) continue;
            ++counters_.frames;
            const auto res = server_.handle_frame(fr, std::chrono::system_clock::now(), out_);
            if (!res) continue;
            if (::send(fd_.get(), out_.data(), res.length, MSG_DONTWAIT) < 0) ++counters_.send_errors;
            else ++counters_.replies;
        }
    }

    dhcp_host_options o_;
    svc::dhcp_server server_;
    dhcp_host_counters counters_{};
    std::array<std::byte, 2048> in_{};
    std::array<std::byte, svc::dhcp_server::max_frame_len> out_{};
    io::unique_fd fd_;
    mutable std::mutex mu_;
    service_thread thread_;  // after what its callbacks use: destroyed (joined) before them
};

}  // namespace vnet::lab
