// vnet/lab/vlan_peer.hpp - a LAN device behind a tagged port of the LAN's switch (lab key
// network.peer.vlan): it answers ARP and ICMP echo for its address (svc::gateway_responder)
// on one VLAN only, and its replies carry that VLAN's 802.1Q tag (Linux only, root).
//
// Why in vnet's process: the lab machines' kernels have neither the 8021q module nor VLAN
// filtering on bridges, so no namespace can terminate a VLAN. The device runs instead on
// a packet socket of the peer's interface, in the peer's namespace, where the kernel holds
// no address (it answers nothing itself).
//
// Frames reach the socket with their outer tag either inline or taken off by the kernel on
// receive (skb_vlan_untag) and reported in PACKET_AUXDATA (TP_STATUS_VLAN_VALID,
// tp_vlan_tci); both are read. A frame of the device's VLAN is handed to the responder
// untagged and the reply is sent with the tag put back; untagged frames and other VLANs'
// are counted and never answered, which is what a device behind an access port of that
// VLAN sees of the LAN.
#pragma once

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/os_error.hpp>
#include <vnet/io/packet_fd.hpp>
#include <vnet/lab/service_thread.hpp>
#include <vnet/services/gateway.hpp>
#include <vnet/wire/vlan.hpp>

namespace vnet::lab {

struct vlan_peer_options {
    std::string netns;      // the peer's namespace
    std::string ifname;     // its interface (a veth into the LAN's bridge)
    ipv4_prefix address{};  // its address on the VLAN
    std::uint16_t vid = 0;  // 1-4094
};

struct vlan_peer_counters {
    std::uint64_t answered = 0;    // ARP and echo replies sent (tagged)
    std::uint64_t on_vlan = 0;     // frames of the device's VLAN
    std::uint64_t untagged = 0;    // untagged frames, not answered
    std::uint64_t other_vlan = 0;  // frames of other VLANs, not answered
    std::uint64_t send_errors = 0;
};

class vlan_peer {
public:
    static result<std::unique_ptr<vlan_peer>> make(vlan_peer_options o) {
        if (o.vid == 0 || o.vid > wire::max_vid) return fail(layer::lab, errc::bad_value, "peer.vlan");
        std::unique_ptr<vlan_peer> p(new vlan_peer(std::move(o)));
        auto r = io::in_netns(p->o_.netns, [&]() -> result<void> {
            auto fd = io::open_packet_fd(p->o_.ifname, {.auxdata = true});
            if (!fd) return unexpected(fd.error());
            p->fd_ = std::move(*fd);
            ifreq ifr{};
            std::strncpy(ifr.ifr_name, p->o_.ifname.c_str(), IFNAMSIZ - 1);
            if (::ioctl(p->fd_.get(), SIOCGIFHWADDR, &ifr) != 0) return io::os_fail("vlan_peer.hwaddr", errno);
            std::array<std::uint8_t, 6> m{};
            std::memcpy(m.data(), ifr.ifr_hwaddr.sa_data, m.size());
            p->mac_ = mac_address(m);
            return {};
        });
        if (!r) return unexpected(r.error());
        auto gw = svc::gateway_responder::make({.mac = p->mac_, .address = p->o_.address, .ttl = 64});
        if (!gw) return unexpected(gw.error());
        p->responder_.emplace(std::move(*gw));
        return p;
    }

    ~vlan_peer() { stop(); }
    vlan_peer(const vlan_peer&) = delete;
    vlan_peer& operator=(const vlan_peer&) = delete;

    result<void> start() {
        return thread_.start({fd_.get()}, std::chrono::milliseconds(1000), {[this](std::size_t) { drain(); }, [] {}});
    }
    void stop() { thread_.stop(); }

    vlan_peer_counters counters() const {
        std::lock_guard lock(mu_);
        return ctr_;
    }
    std::string summary() const {
        auto c = counters();
        return fmt::format(
            "peer {} on VLAN {} ({}): {} answered, {} frames of its VLAN, {} untagged and {} of other VLANs "
            "not answered, {} send errors",
            o_.address, o_.vid, mac_, c.answered, c.on_vlan, c.untagged, c.other_vlan, c.send_errors);
    }

private:
    explicit vlan_peer(vlan_peer_options o) : o_(std::move(o)) {}

    void drain() {
        std::lock_guard lock(mu_);
        for (int i = 0; i < 64; ++i) {
            const auto got = io::recv_frame(fd_.get(), in_);
            if (got.length < 0) return;
            if (got.from.sll_pkttype == PACKET_OUTGOING) continue;
            // the outer tag, when the kernel took it off the frame (else it is still inline)
            const int aux_vid = (got.aux.tp_status & TP_STATUS_VLAN_VALID) ? got.aux.tp_vlan_tci & 0x0fff : -1;
            handle(bytes_view(in_.data(), static_cast<std::size_t>(got.length)), aux_vid);
        }
    }

    void handle(bytes_view frame, int aux_vid) {
        bytes_view untagged = frame;
        int vid = aux_vid;
        if (vid < 0) {  // the tag, if any, is still inline
            auto f = wire::frame_view::parse(frame);
            if (!f) return;
            if (f->tag_count() > 0) {
                vid = f->tag(0).vid;
                auto n = wire::pop_vlan_tag(frame, bytes_span(strip_));
                if (!n) return;
                untagged = bytes_view(strip_.data(), *n);
            }
        }
        if (vid <= 0) {
            ++ctr_.untagged;
            return;
        }
        if (vid != o_.vid) {
            ++ctr_.other_vlan;
            return;
        }
        ++ctr_.on_vlan;
        auto r = responder_->handle_frame(untagged, std::chrono::steady_clock::now(), bytes_span(reply_));
        if (r.length == 0) return;
        auto n = wire::push_vlan_tag(bytes_view(reply_.data(), r.length), wire::vlan_tag{.vid = o_.vid}, bytes_span(out_));
        if (!n) return;
        if (::send(fd_.get(), out_.data(), *n, MSG_DONTWAIT) < 0) ++ctr_.send_errors;
        else ++ctr_.answered;
    }

    vlan_peer_options o_;
    mac_address mac_{};
    io::unique_fd fd_;
    std::optional<svc::gateway_responder> responder_;
    std::vector<std::byte> in_ = std::vector<std::byte>(65536);
    std::vector<std::byte> strip_ = std::vector<std::byte>(65536);
    std::vector<std::byte> reply_ = std::vector<std::byte>(65536);
    std::vector<std::byte> out_ = std::vector<std::byte>(65536 + wire::vlan_tag::size);
    mutable std::mutex mu_;
    vlan_peer_counters ctr_;
    service_thread thread_;
};

}  // namespace vnet::lab
