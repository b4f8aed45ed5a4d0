// vnet/lab/nat_host.hpp - vnet's NAT (svc::nat) as an internal switch's New-NetNat in a
// lab (Linux only, root).
//
// The host's kernel keeps routing (TTL, neighbours, the vNIC); vnet does the translation:
//   out  a policy rule sends what arrives on the internal switch's host vNIC for a
//        non-local address to a TUN device this class holds (the owner's `ip rule iif
//        VNIC lookup TABLE`, TABLE: default dev TUN); each IPv4 packet read from it goes
//        through nat::outbound and leaves through the uplink's raw socket
//        (lab/nat_uplink.hpp), from the host's uplink address.
//   in   the uplink's packet socket takes the packets for the NAT's ports; nat::inbound
//        translates them back and they are written to the TUN, from where the kernel
//        routes them to the VM on the vNIC.
// A hairpinned packet (to the outside address and a static mapping) goes back into the
// TUN as well. Flows expire at every tick.
#pragma once

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/io/os_error.hpp>
#include <vnet/io/tap.hpp>
#include <vnet/lab/nat_uplink.hpp>
#include <vnet/lab/service_thread.hpp>
#include <vnet/services/nat.hpp>

namespace vnet::lab {

struct nat_host_options {
    std::string netns;   // the host's namespace
    std::string tun;     // the TUN device to create there
    std::string uplink;  // the interface holding uplink_address
    ipv4_address uplink_address{};
    svc::nat_config nat;  // internal_prefix, ports (external_address is set to uplink_address)
    std::chrono::milliseconds tick{1000};
};

struct nat_host_counters {
    std::uint64_t from_inside = 0;  // packets read from the TUN
    std::uint64_t to_inside = 0;    // packets written to the TUN (translated back, hairpinned)
    std::uint64_t tun_errors = 0;   // write() to the TUN refused
    nat_uplink_counters uplink{};
};

class nat_host {
public:
    static result<std::unique_ptr<nat_host>> make(nat_host_options o) {
        o.nat.external_address = o.uplink_address;
        auto n = svc::nat::make(o.nat);
        if (!n) return unexpected(n.error());
        auto t = io::tap::create(o.netns, o.tun, io::tap_options{false, true, true});
        if (!t) return unexpected(t.error());
        if (::fcntl(t->fd(), F_SETFL, ::fcntl(t->fd(), F_GETFL) | O_NONBLOCK) != 0)
            return io::os_fail("nat_host.tun_nonblock", errno);
        auto u = nat_uplink::open(o.netns, o.uplink, o.uplink_address, o.nat.port_first, o.nat.port_last);
        if (!u) return unexpected(u.error());
        return std::unique_ptr<nat_host>(new nat_host(std::move(o), std::move(*n), std::move(*t), std::move(*u)));
    }

    nat_host(const nat_host&) = delete;
    nat_host& operator=(const nat_host&) = delete;
    ~nat_host() { stop(); }

    result<void> start() {
        return thread_.start({tun_.fd(), uplink_.fd()}, o_.tick,
                             {[this](std::size_t i) { on_ready(i); },
                              [this] {
                                  std::lock_guard lock(mu_);
                                  (void)nat_.expire(std::chrono::steady_clock::now());
                              }});
    }
    void stop() { thread_.stop(); }

    /// Add-NetNatStaticMapping, before or while running.
    result<void> add_static_mapping(const svc::nat_static_mapping& m) {
        std::lock_guard lock(mu_);
        return nat_.add_static_mapping(m);
    }

    /// Runs f(const svc::nat&, const nat_host_counters&) under the lock.
    template <class F>
    auto inspect(F&& f) const {
        std::lock_guard lock(mu_);
        return f(static_cast<const svc::nat&>(nat_), counters_);
    }

    std::string summary() const {
        return inspect([](const svc::nat& n, const nat_host_counters& c) {
            return fmt::format(
                "{}\nlab glue: from_inside={} to_inside={} tun_errors={}, uplink received={} sent={} "
                "send_errors={} checksums_completed={}",
                n, c.from_inside, c.to_inside, c.tun_errors, c.uplink.received, c.uplink.sent, c.uplink.send_errors,
                c.uplink.checksums_completed);
        });
    }

    const std::string& tun_name() const noexcept { return tun_.name(); }
    std::string kernel_rules() const { return uplink_.kernel_rules(); }

private:
    static constexpr std::size_t max_packet = 2048;

    nat_host(nat_host_options o, svc::nat n, io::tap t, nat_uplink u)
            : o_(std::move(o)), nat_(std::move(n)), tun_(std::move(t)), uplink_(std::move(u)) {}

    void on_ready(std::size_t i) {
        std::lock_guard lock(mu_);
        const auto now = std::chrono::steady_clock::now();
        if (i == 0) {
            for (int k = 0; k < 64; ++k) {
                const ssize_t r = ::read(tun_.fd(), buf_.data(), buf_.size());
                if (r <= 0) break;
                ++counters_.from_inside;
                const bytes_span p(buf_.data(), static_cast<std::size_t>(r));
                const auto res = nat_.outbound(p, now);
                if (res.verdict == svc::nat_verdict::translated) uplink_.send(p);
                else if (res.verdict == svc::nat_verdict::hairpinned) to_inside(p);
            }
        } else {
            uplink_.drain(buf_, [&](bytes_span p) {
                if (nat_.inbound(p, now)) to_inside(p);
            });
        }
        counters_.uplink = uplink_.counters();
    }

    void to_inside(bytes_view p) {
        auto ip = wire::ipv4_view::parse(p);
        const std::size_t len = ip ? ip->total_length() : p.size();
        if (::write(tun_.fd(), p.data(), len) < 0) ++counters_.tun_errors;
        else ++counters_.to_inside;
    }

    nat_host_options o_;
    svc::nat nat_;
    io::tap tun_;
    nat_uplink uplink_;
    std::vector<std::byte> buf_ = std::vector<std::byte>(max_packet);
    nat_host_counters counters_{};
    mutable std::mutex mu_;
    service_thread thread_;  // after what its callbacks use: destroyed (joined) before them
};

}  // namespace vnet::lab
