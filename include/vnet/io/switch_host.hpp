// vnet/io/switch_host.hpp - a vnet switch whose ports are real interfaces (Linux only).
//
//   auto r = *io::reactor::create();
//   auto host = *io::switch_host<>::create(r, sw::switch_spec{"lab", sw::switch_kind::private_});
//   auto a = *host->attach("lab-sw", "p0", sw::port_config::vm("a", mac_a));
//   auto b = *host->attach("lab-sw", "p1", sw::port_config::vm("b", mac_b));
//   std::thread t([&] { (void)r.run(); });
//   r.post([&] { (void)host->detach(b); });     // ports come and go while it runs
//   r.stop(); t.join();
//
// Each port is a packet_socket (TPACKET_V3 RX ring) on an interface; the reactor calls
// the host when a port's ring has retired blocks, the host hands each batch to
// vswitch::send(), and the switch calls each output port's transport (socket_port) once
// with that port's batch, which one sendmmsg() (or TX ring kick) puts on the wire. A
// timer ages the MAC table and collects the kernel's ring drop counts, so aging happens
// without traffic too. Ports attached with packet_socket_options::vnet_hdr keep offloads:
// GSO super-frames and partial checksums cross the switch unsplit between such ports,
// and are finished in software towards the others (vswitch.hpp "Offloads").
//
// Threading: everything runs on the reactor's thread. attach() / detach() are called
// while the reactor is not running or from the loop thread (a callback, reactor::post).
// The reactor must outlive the host.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/epoll.h>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/io/packet_socket.hpp>
#include <vnet/io/reactor.hpp>
#include <vnet/switch/clock.hpp>
#include <vnet/switch/port.hpp>
#include <vnet/switch/vswitch.hpp>
#include <vnet/wire/offload.hpp>

namespace vnet::io {

/// A switch port transport that sends every batch out of a packet socket. A socket with
/// vnet_hdr takes every offload as it is (the kernel finishes what the device cannot).
struct socket_port {
    packet_socket* socket = nullptr;
    void receive(std::span<const bytes_view> batch) noexcept {
        if (socket) socket->send(batch);
    }
    void receive(std::span<const bytes_view> batch, std::span<const wire::offload_info> offloads) noexcept {
        if (socket) socket->send(batch, offloads);
    }
    std::uint32_t offload_caps() const noexcept { return socket && socket->options().vnet_hdr ? wire::offload_cap::all : 0; }
};
static_assert(sw::offload_sink<socket_port>);

struct switch_host_options {
    std::chrono::nanoseconds housekeeping = std::chrono::seconds(1);  // MAC aging and kernel drop counts
    std::uint32_t max_batches_per_wake = 16;                          // ring batches one port forwards before others get a turn
};

template <sw::clock_source Clock = sw::steady_clock_source>
class switch_host {
public:
    using switch_type = sw::vswitch<socket_port, Clock>;

    struct counters {
        std::uint64_t wakeups = 0;       // reactor callbacks for port sockets
        std::uint64_t batches = 0;       // ring batches handed to the switch
        std::uint64_t housekeeping = 0;  // timer rounds
        std::uint64_t aged = 0;          // MAC entries removed by the timer
    };

    switch_host(const switch_host&) = delete;
    switch_host& operator=(const switch_host&) = delete;
    ~switch_host() {
        for (auto& p : ports_)
            if (p.socket) (void)r_->unwatch(p.watch);
        if (timer_) (void)r_->unwatch(timer_);
    }

    static result<std::unique_ptr<switch_host>> create(reactor& r, sw::switch_spec spec, Clock clock = Clock{},
                                                       sw::mac_table_config table = {}, switch_host_options opt = {}) {
        std::unique_ptr<switch_host> h(new switch_host(r, std::move(spec), std::move(clock), table, opt));
        auto t = r.every(opt.housekeeping, [p = h.get()](std::uint64_t) { p->housekeep(); });
        if (!t) return unexpected(t.error());
        h->timer_ = *t;
        return h;
    }

    /// Opens a packet socket on `ifname` in namespace `netns_name` and connects it to the
    /// switch as a port configured by `cfg`.
    result<sw::port_index> attach(std::string_view netns_name, std::string_view ifname, sw::port_config cfg,
                                  packet_socket_options opt = {}) {
        auto s = packet_socket::open(netns_name, ifname, opt);
        if (!s) return unexpected(s.error());
        auto sock = std::make_unique<packet_socket>(std::move(*s));
        auto id = sw_.add_port(std::move(cfg), socket_port{sock.get()});
        if (!id) return unexpected(id.error());
        auto w = r_->watch(sock->fd(), EPOLLIN, [this, port = *id](std::uint32_t) { pump(port); });
        if (!w) {
            (void)sw_.remove_port(*id);
            return unexpected(w.error());
        }
        if (ports_.size() <= *id) ports_.resize(std::size_t{*id} + 1);
        ports_[*id] = port_io{std::move(sock), *w};
        return *id;
    }

    /// Disconnects a port, forgets what the switch learned on it and closes its socket.
    result<void> detach(sw::port_index id) {
        if (id >= ports_.size() || !ports_[id].socket) return fail(layer::io, errc::not_found, "switch_host.port");
        (void)r_->unwatch(ports_[id].watch);
        auto r = sw_.remove_port(id);
        ports_[id] = {};
        return r;
    }

    switch_type& vswitch() noexcept { return sw_; }
    const switch_type& vswitch() const noexcept { return sw_; }
    reactor& loop() noexcept { return *r_; }
    /// Precondition: the port is attached.
    const packet_socket& socket(sw::port_index id) const noexcept { return *ports_[id].socket; }
    bool attached(sw::port_index id) const noexcept { return id < ports_.size() && ports_[id].socket != nullptr; }
    const counters& stats() const noexcept { return ctr_; }

    /// Forwards what the port's ring holds now (what the reactor calls on readiness).
    void pump(sw::port_index id) {
        ++ctr_.wakeups;
        if (!attached(id)) return;
        packet_socket& s = *ports_[id].socket;
        for (std::uint32_t i = 0; i < opt_.max_batches_per_wake; ++i) {
            auto batch = s.receive();
            if (batch.empty()) break;
            ++ctr_.batches;
            sw_.send(id, batch, s.offloads());
            s.release();
        }
    }

private:
    struct port_io {
        std::unique_ptr<packet_socket> socket;
        reactor::handle watch = 0;
    };

    switch_host(reactor& r, sw::switch_spec spec, Clock clock, sw::mac_table_config table, switch_host_options opt)
            : r_(&r), sw_(std::move(spec), std::move(clock), table), opt_(opt) {}

    void housekeep() {
        ++ctr_.housekeeping;
        ctr_.aged += sw_.table().expire(sw_.clock().now());
        for (auto& p : ports_)
            if (p.socket) (void)p.socket->poll_kernel_stats();
    }

    reactor* r_;
    switch_type sw_;
    switch_host_options opt_;
    std::vector<port_io> ports_;
    reactor::handle timer_ = 0;
    counters ctr_{};
};

}  // namespace vnet::io

/// The switch's port lines, each followed by its socket's counters.
template <vnet::sw::clock_source C>
struct fmt::formatter<vnet::io::switch_host<C>> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::io::switch_host<C>& h, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "{}", h.vswitch());
        for (auto id : h.vswitch().ports())
            if (h.attached(id))
                out = fmt::format_to(out, "{:>4} socket {}/{}: {}\n", id, h.socket(id).netns(), h.socket(id).ifname(),
                                     h.socket(id).counters());
        return out;
    }
};
