// vnet/lab/switch_pump.hpp - the lab's data path: vnet vswitches whose ports are real
// interfaces, driven by one epoll thread (Linux only).
//
// docs/design.md "How a frame travels in a lab": TAP (QEMU's NIC) -> AF_PACKET socket -> vnet
// vswitch port -> out port(s). A port is one file descriptor:
//   packet_socket  an AF_PACKET SOCK_RAW socket bound to an interface (a VM's TAP, whose
//                  other end QEMU holds). Frames the socket itself sent come back as
//                  PACKET_OUTGOING (docs/lab-notes.md) and are skipped, or the switch would loop.
//   tap_fd         the fd of a TAP this process holds (a host vNIC in the host namespace,
//                  an uplink on a network's bridge): read() is what the kernel sent,
//                  write() is what the kernel receives.
// Every frame a port sends into the switch and every frame the switch delivers to it is
// also written to the port's pcap file when it has one.
//
// Offloads: a packet-socket port reads and writes with PACKET_VNET_HDR, so what QEMU's
// virtio-net NIC negotiated with the guest (checksum offload, TSO: QEMU opens the TAP
// with IFF_VNET_HDR and sets TUNSETOFFLOAD from the guest's features) crosses the switch
// as it is: GSO super-frames and partial checksums with their virtio-net headers
// (wire/offload.hpp), between VM ports; towards ports that cannot take them (tap_fd
// ports: host vNICs, uplinks; netvsc channels) the switch finishes them in software and
// counts it (vswitch.hpp "Offloads"). A netvsc port's guest frames are finished before
// they enter the channel, as a netvsc guest without LSO sends them (the VSP offers none).
//
// A packet-socket port can run its frames through a netvsc channel (attach_netvsc, for
// NICs with model = "netvsc"; docs/design.md: "the frame additionally crosses the netvsc
// channel (guest model -> VMBus ring -> host model) between the TAP and the switch port"):
// frames read from the TAP are the guest's frames and cross VSC -> ring -> VSP before they
// enter the switch; frames the switch delivers cross VSP -> ring -> VSC before they are
// written to the TAP. The port's pcap then records the switch side: what came out of the
// VSP and what the switch delivered, before it entered the channel.
//
// The pump thread is an io::reactor (io/reactor_thread.hpp): one callback per port fd that
// drains it in batches, and a one-second timer that ages the MAC tables. The switches are
// touched only by that thread while it runs; counters() and with_switch() take the same
// lock, so readers see a consistent state.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/os_error.hpp>
#include <vnet/io/packet_fd.hpp>
#include <vnet/io/reactor.hpp>
#include <vnet/io/reactor_thread.hpp>
#include <vnet/netvsc/port.hpp>
#include <vnet/switch/vswitch.hpp>
#include <vnet/wire/offload.hpp>
#include <vnet/wire/pcap.hpp>

namespace vnet::lab {

enum class port_fd_kind : std::uint8_t { packet_socket, tap_fd };

/// Counters of one port's file descriptor (beside the switch's own port counters).
struct fd_port_counters {
    std::uint64_t write_errors = 0;          // send()/write() refused (link down, queue full)
    std::uint64_t truncated = 0;             // frames longer than the receive buffer, dropped
    std::uint64_t outgoing_skipped = 0;      // PACKET_OUTGOING copies of our own sends
    std::uint64_t bad_vnet_hdr = 0;          // a virtio-net header that does not parse, or does not fit its frame: dropped
    std::uint64_t gso_received = 0;          // GSO super-frames read (passed on as they are)
    std::uint64_t finished_for_channel = 0;  // offloaded frames finished in software before a netvsc channel
};

/// The switch transport: writes each delivered frame to the port's fd (and pcap); through
/// the port's netvsc link first when it has one.
struct fd_port {
    int fd = -1;
    port_fd_kind kind = port_fd_kind::packet_socket;
    wire::pcap_writer* pcap = nullptr;
    fd_port_counters* ctr = nullptr;
    netvsc::netvsc_link* link = nullptr;
    bool vnet_hdr = false;  // the socket has PACKET_VNET_HDR: every frame is written after its header

    void receive(std::span<const bytes_view> batch) { receive(batch, {}); }
    void receive(std::span<const bytes_view> batch, std::span<const wire::offload_info> offloads) {
        if (pcap)
            for (auto f : batch) pcap->write(f, std::chrono::system_clock::now().time_since_epoch());
        if (link) link->host_send(batch, [this](std::span<const bytes_view> to_guest) { write_all(to_guest, {}); });
        else write_all(batch, offloads);
    }
    /// A VM's TAP takes every offload (the kernel finishes what QEMU did not negotiate);
    /// a netvsc channel and a TAP this process reads take none.
    std::uint32_t offload_caps() const noexcept { return vnet_hdr && !link ? wire::offload_cap::all : 0; }

private:
    void write_all(std::span<const bytes_view> frames, std::span<const wire::offload_info> offloads) {
        for (std::size_t i = 0; i < frames.size(); ++i) {
            const bytes_view f = frames[i];
            ssize_t n = -1;
            if (kind == port_fd_kind::tap_fd) {
                n = ::write(fd, f.data(), f.size());
            } else if (!vnet_hdr) {
                n = ::send(fd, f.data(), f.size(), MSG_DONTWAIT);
            } else {
                std::array<std::byte, wire::offload_info::size> hdr{};
                if (i < offloads.size()) offloads[i].store(hdr, 0);
                std::array<iovec, 2> iov{iovec{hdr.data(), hdr.size()}, iovec{const_cast<std::byte*>(f.data()), f.size()}};
                msghdr m{};
                m.msg_iov = iov.data();
                m.msg_iovlen = iov.size();
                n = ::sendmsg(fd, &m, MSG_DONTWAIT);
            }
            if (n < 0 && ctr) ++ctr->write_errors;
        }
    }
};
static_assert(sw::offload_sink<fd_port>);

using lab_switch = sw::vswitch<fd_port>;

/// Opens an AF_PACKET socket bound to `ifname` inside namespace `netns` (empty: ours),
/// non-blocking, not receiving its own sends where the kernel supports that.
inline result<io::unique_fd> open_packet_socket(const std::string& netns, const std::string& ifname) {
    return io::in_netns(netns, [&] { return io::open_packet_fd(ifname, {.ignore_outgoing = true, .receive_buffer = 1 << 20}); });
}

/// PACKET_VNET_HDR on a packet socket without rings: each frame read or written is
/// preceded by its virtio-net header.
inline result<void> enable_vnet_hdr(int fd) {
    int one = 1;
    if (::setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0) return io::os_fail("pump.vnet_hdr", errno);
    return {};
}

/// The switches of a lab and the thread that moves frames between them and the kernel.
class switch_pump {
public:
    static constexpr std::size_t max_frame = 2048;  // MTU 1500 guests, a frame without offloads
    /// A read with a virtio-net header: the header and a GSO super-frame (64 KiB of IP
    /// packet, Ethernet and two tags).
    static constexpr std::size_t max_read = wire::offload_info::size + 65535 + 22;
    static constexpr std::size_t batch_size = 32;

    switch_pump() = default;
    switch_pump(const switch_pump&) = delete;
    switch_pump& operator=(const switch_pump&) = delete;
    ~switch_pump() { stop(); }

    /// Adds a switch; its index.
    std::size_t add_switch(sw::switch_spec spec) {
        switches_.push_back(std::make_unique<lab_switch>(std::move(spec)));
        return switches_.size() - 1;
    }

    /// Connects `fd` as a port of switch `sw`; the pump closes it when it goes (io::dup_fd
    /// lends it a descriptor someone else keeps open). pcap_path empty: no capture. While
    /// the pump runs (a NIC hot-plugged into a running VM), the port joins the switch under
    /// the lock and the pump thread starts reading it.
    result<sw::port_index> add_port(std::size_t sw_index, sw::port_config cfg, io::unique_fd fd, port_fd_kind kind,
                                    const std::string& pcap_path) {
        if (sw_index >= switches_.size()) return fail(layer::lab, errc::not_found, "pump.switch");
        auto p = std::make_unique<port>();
        p->sw = sw_index;
        p->kind = kind;
        p->name = cfg.name;
        if (!pcap_path.empty()) {
            auto w = wire::pcap_writer::create(pcap_path);
            if (!w) return fail(layer::lab, errc::io, "pump.pcap");
            p->pcap.emplace(std::move(*w));
        }
        if (kind == port_fd_kind::tap_fd) {
            const int fl = ::fcntl(fd.get(), F_GETFL);
            if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl | O_NONBLOCK) != 0) return io::os_fail("pump.nonblock", errno);
        } else if (auto v = enable_vnet_hdr(fd.get()); !v) {
            return unexpected(v.error());
        }
        p->fd = std::move(fd);
        fd_port t{p->fd.get(), kind, p->pcap ? &*p->pcap : nullptr, &p->fdc, nullptr, kind == port_fd_kind::packet_socket};
        std::lock_guard lock(mu_);
        auto id = switches_[sw_index]->add_port(std::move(cfg), t);
        if (!id) return unexpected(id.error());
        p->id = *id;
        if (auto* r = loop_.running() ? loop_.loop() : nullptr) r->post([this, q = p.get(), r] { (void)watch(*r, *q); });
        ports_.push_back(std::move(p));
        return *id;
    }

    /// Disconnects port `id` of switch `sw_index` (an endpoint removed from a running VM):
    /// it leaves the switch under the lock; the pump thread stops reading it and then its
    /// descriptor and capture are closed.
    result<void> remove_port(std::size_t sw_index, sw::port_index id) {
        std::lock_guard lock(mu_);
        auto it = std::find_if(ports_.begin(), ports_.end(), [&](const auto& p) { return p->sw == sw_index && p->id == id; });
        if (it == ports_.end()) return fail(layer::lab, errc::not_found, "pump.port");
        if (auto r = switches_[sw_index]->remove_port(id); !r) return r;
        std::shared_ptr<port> gone(std::move(*it));
        ports_.erase(it);
        if (auto* r = loop_.running() ? loop_.loop() : nullptr) r->post([r, gone] { (void)r->unwatch(gone->watch); });
        return {};
    }

    /// Runs packet-socket port `id` of switch `sw_index` through a netvsc channel (brought
    /// up here; cfg.mac defaults to the port's MAC). Before start() only.
    result<void> attach_netvsc(std::size_t sw_index, sw::port_index id, netvsc::netvsc_link_config cfg = {}) {
        if (loop_.running()) return fail(layer::lab, errc::conflict, "pump.running");
        auto it = std::find_if(ports_.begin(), ports_.end(), [&](const auto& p) { return p->sw == sw_index && p->id == id; });
        if (it == ports_.end()) return fail(layer::lab, errc::not_found, "pump.port");
        port& p = **it;
        if (p.kind != port_fd_kind::packet_socket) return fail(layer::lab, errc::unsupported, "pump.netvsc_port_kind");
        if (p.link) return fail(layer::lab, errc::conflict, "pump.netvsc");
        if (cfg.mac.is_zero())
            if (const auto& m = switches_[sw_index]->config(id).mac) cfg.mac = *m;
        auto l = netvsc::netvsc_link::make(cfg);
        if (!l) return unexpected(l.error());
        p.link.emplace(std::move(*l));
        switches_[sw_index]->transport(id).link = &*p.link;
        return {};
    }

    /// Starts the pump thread.
    result<void> start() {
        return loop_.start([this](io::reactor& r) -> result<void> {
            for (auto& p : ports_)
                if (auto w = watch(r, *p); !w) return w;
            // MAC aging: entries idle for the table's age limit (300 s) go.
            auto t = r.every(std::chrono::seconds(1), [this](std::uint64_t) {
                std::lock_guard lock(mu_);
                for (auto& s : switches_) (void)s->table().expire(s->clock().now());
            });
            if (!t) return unexpected(t.error());
            return {};
        });
    }

    /// Stops the thread and flushes the captures (idempotent).
    void stop() {
        if (!loop_.running()) return;
        loop_.stop();
        for (auto& p : ports_)
            if (p->pcap) (void)p->pcap->flush();
    }

    std::size_t switch_count() const noexcept { return switches_.size(); }

    /// Runs f(const lab_switch&) under the pump's lock.
    template <class F>
    auto with_switch(std::size_t sw_index, F&& f) const {
        std::lock_guard lock(mu_);
        return f(static_cast<const lab_switch&>(*switches_[sw_index]));
    }

    /// A copy of a port's switch counters.
    sw::port_counters counters(std::size_t sw_index, sw::port_index id) const {
        std::lock_guard lock(mu_);
        return switches_[sw_index]->counters(id);
    }

    /// Forgets every MAC switch `sw_index` learned (as aging does), so that the next
    /// unicast frame to any port is to an unknown destination.
    void clear_mac_table(std::size_t sw_index) {
        std::lock_guard lock(mu_);
        switches_[sw_index]->table().clear();
    }

    /// Ports as (switch index, port id, name, fd counters, netvsc link counters when the
    /// port runs through a netvsc channel).
    struct port_info {
        std::size_t sw;
        sw::port_index id;
        std::string name;
        fd_port_counters fd;
        std::optional<netvsc::netvsc_link_counters> netvsc;
    };
    std::vector<port_info> ports() const {
        std::lock_guard lock(mu_);
        std::vector<port_info> out;
        for (const auto& p : ports_) {
            std::optional<netvsc::netvsc_link_counters> nc;
            if (p->link) nc = p->link->counters();
            out.push_back({p->sw, p->id, p->name, p->fdc, nc});
        }
        return out;
    }

    /// Flushes the pcap files (under the lock) so readers see every frame so far.
    void flush_captures() {
        std::lock_guard lock(mu_);
        for (auto& p : ports_)
            if (p->pcap) (void)p->pcap->flush();
    }

private:
    struct port {
        std::size_t sw = 0;
        sw::port_index id = 0;
        io::unique_fd fd;
        port_fd_kind kind = port_fd_kind::packet_socket;
        std::string name;
        std::optional<wire::pcap_writer> pcap;
        fd_port_counters fdc;
        std::optional<netvsc::netvsc_link> link;  // model = "netvsc": the channel between the TAP and the switch
        io::reactor::handle watch = 0;            // the pump thread's watch of fd
    };

    /// The pump thread starts reading port p (on the pump thread, or before it runs).
    result<void> watch(io::reactor& r, port& p) {
        auto h = r.watch(p.fd.get(), EPOLLIN, [this, q = &p](std::uint32_t) { drain(*q); });
        if (!h) return unexpected(h.error());
        p.watch = *h;
        return {};
    }

    /// Moves what port p's fd holds into its switch, in batches (on the pump thread).
    void drain(port& p) {
        std::lock_guard lock(mu_);
        const bool vnet = p.kind == port_fd_kind::packet_socket;
        const std::size_t hdr = vnet ? wire::offload_info::size : 0, room = vnet ? max_read : max_frame;
        for (;;) {
            frames_.clear();
            offs_.clear();
            std::size_t used = 0, reads = 0;
            bool drained = false;
            while (reads < batch_size) {
                if (buf_.size() - used < room) break;
                std::byte* at = buf_.data() + used;
                ssize_t r;
                if (p.kind == port_fd_kind::packet_socket) {
                    sockaddr_ll from{};
                    socklen_t fl = sizeof from;
                    r = ::recvfrom(p.fd.get(), at, room, MSG_TRUNC, reinterpret_cast<sockaddr*>(&from), &fl);
                    if (r >= 0 && from.sll_pkttype == PACKET_OUTGOING) {
                        ++p.fdc.outgoing_skipped;
                        continue;
                    }
                } else {
                    r = ::read(p.fd.get(), at, max_frame);
                }
                if (r < 0) {
                    drained = true;  // EAGAIN: nothing more now
                    break;
                }
                ++reads;
                if (static_cast<std::size_t>(r) > room) {
                    ++p.fdc.truncated;
                    continue;
                }
                wire::offload_info meta{};
                if (vnet) {
                    auto m = wire::offload_info::parse(bytes_view(at, static_cast<std::size_t>(r)));
                    if (!m || static_cast<std::size_t>(r) < hdr + 14) {
                        ++p.fdc.bad_vnet_hdr;
                        continue;
                    }
                    meta = *m;
                    if (meta.gso() != wire::gso_kind::none) ++p.fdc.gso_received;
                }
                auto f = bytes_view(at + hdr, static_cast<std::size_t>(r) - hdr);
                if (p.pcap && !p.link) p.pcap->write(f, std::chrono::system_clock::now().time_since_epoch());
                frames_.push_back(f);
                offs_.push_back(meta);
                used += align8(static_cast<std::size_t>(r));
            }
            if (frames_.empty()) return;
            if (p.link) {
                // The guest's frames cross the channel; what the VSP takes out enters the switch.
                finish_for_channel(p);
                p.link->guest_send(frames_, [&](std::span<const bytes_view> to_switch) {
                    if (p.pcap)
                        for (auto f : to_switch) p.pcap->write(f, std::chrono::system_clock::now().time_since_epoch());
                    switches_[p.sw]->send(p.id, to_switch);
                });
            } else {
                switches_[p.sw]->send(p.id, frames_, offs_);
            }
            if (drained) return;
        }
    }

    static constexpr std::size_t align8(std::size_t n) noexcept { return (n + 7) & ~std::size_t{7}; }

    /// A netvsc channel carries wire frames only: the batch's offloaded frames are
    /// finished in software (segmented, checksums written) into finished_ first.
    void finish_for_channel(port& p) {
        bool any = false;
        for (const auto& o : offs_) any = any || !o.complete();
        if (!any) return;
        finished_.clear();
        scratch_.clear();
        for (std::size_t i = 0; i < frames_.size(); ++i) {
            if (offs_[i].complete()) {
                finished_.push_back(frames_[i]);
                continue;
            }
            auto n = wire::segment(
                frames_[i], offs_[i],
                [this](std::size_t len) {
                    scratch_.emplace_back(len);
                    return bytes_span(scratch_.back());
                },
                [this](bytes_view seg) { finished_.push_back(seg); });
            if (!n) ++p.fdc.bad_vnet_hdr;
            else ++p.fdc.finished_for_channel;
        }
        frames_.assign(finished_.begin(), finished_.end());
        offs_.assign(frames_.size(), wire::offload_info{});
    }

    std::vector<std::unique_ptr<lab_switch>> switches_;
    std::vector<std::unique_ptr<port>> ports_;
    mutable std::mutex mu_;
    // The pump thread's: room for a batch of frames without offloads, or a few super-frames.
    std::vector<std::byte> buf_ = std::vector<std::byte>(4 * max_read);
    std::vector<bytes_view> frames_;
    std::vector<wire::offload_info> offs_;        // parallel to frames_
    std::vector<bytes_view> finished_;            // finish_for_channel's output
    std::deque<std::vector<std::byte>> scratch_;  // its segments (a deque: earlier ones stay put)
    io::reactor_thread loop_;                     // last: stopped before the ports and switches go
};

}  // namespace vnet::lab
