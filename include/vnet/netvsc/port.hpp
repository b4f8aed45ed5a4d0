// vnet/netvsc/port.hpp - a netvsc switch port: one guest model (VSC) and one host model
// (VSP) over a VMBus channel in memory, between a VM's frames and a vswitch port.
//
//   auto link = *netvsc_link::make({.mac = nic_mac});           // NVSP + RNDIS brought up
//   link.guest_send(frames, [&](std::span<const bytes_view> b) { sw.send(id, b); });
//   link.host_send(frames, [&](std::span<const bytes_view> b) { tap.write(b); });
//
// Guest to host (docs/netvsc-facts.md section 2 "Data path"): the VSC copies each frame as an
// RNDIS PACKET into a send-buffer section (or guest memory, GPA direct), sends SEND_RNDIS_PKT
// on the guest-to-host ring; the VSP takes the RNDIS message out and hands the frame to the
// host sink; its COMP {108} is read back by the VSC, which frees the section.
// Host to guest: the VSP puts each frame into a receive-buffer section and sends a type 7
// packet (pageset 0xCAFE) on the host-to-guest ring; the VSC hands the frame to the guest
// sink and completes; the VSP reads the completion and frees the section.
// Frames move in chunks of at most config.batch: each chunk is sent, carried, handed to
// the sink as one batch and its completions are taken back before the next chunk, so the
// rings and buffers never fill in steady state and a batch of any size gets through.
//
// Everything (rings, receive and send buffers, guest memory for GPA direct, view and
// staging vectors) is allocated by make(); guest_send / host_send do not allocate. Every
// frame that does not reach the other side is counted under a link_drop reason, per
// direction. A frame from the guest that is not an Ethernet frame of a size the NIC
// carries is a counted drop, never an error.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/netvsc/nvsp.hpp>
#include <vnet/netvsc/ring.hpp>
#include <vnet/netvsc/rndis.hpp>
#include <vnet/netvsc/vmbus_packet.hpp>
#include <vnet/netvsc/vsc.hpp>
#include <vnet/netvsc/vsp.hpp>
#include <vnet/switch/mac_table.hpp>
#include <vnet/switch/port.hpp>

namespace vnet::netvsc {

/// Why a frame did not cross the channel.
enum class link_drop : std::uint8_t {
    too_short,  // shorter than an Ethernet header (14 bytes)
    too_long,   // longer than MTU + 14 + 4 (one VLAN tag), or than a section
    link_down,  // the link is down (set_link(false))
    not_ready,  // the sending model is not ready (RNDIS not initialised, packet filter 0)
    no_buffer,  // every send / receive section (or GPA-direct slot) in flight
    ring_full,  // the VMBus ring had no room for the packet
    refused,    // the receiving model did not hand the frame on (a malformed RNDIS message)
    count_
};

inline constexpr std::size_t link_drop_count = static_cast<std::size_t>(link_drop::count_);

constexpr std::string_view to_string(link_drop d) noexcept {
    switch (d) {
        case link_drop::too_short: return "too_short";
        case link_drop::too_long: return "too_long";
        case link_drop::link_down: return "link_down";
        case link_drop::not_ready: return "not_ready";
        case link_drop::no_buffer: return "no_buffer";
        case link_drop::ring_full: return "ring_full";
        case link_drop::refused: return "refused";
        case link_drop::count_: break;
    }
    return "?";
}

/// Frames and drops of one direction.
struct link_direction_counters {
    std::uint64_t frames = 0;  // handed to the far side's sink
    std::uint64_t bytes = 0;
    std::array<std::uint64_t, link_drop_count> drops{};

    constexpr std::uint64_t drop(link_drop d) const noexcept { return drops[static_cast<std::size_t>(d)]; }
    constexpr void count_drop(link_drop d, std::uint64_t n = 1) noexcept { drops[static_cast<std::size_t>(d)] += n; }
    constexpr std::uint64_t total_drops() const noexcept {
        std::uint64_t n = 0;
        for (auto d : drops) n += d;
        return n;
    }
};

struct netvsc_link_counters {
    link_direction_counters guest_to_host;  // guest_send: VSC -> ring -> VSP -> host sink
    link_direction_counters host_to_guest;  // host_send: VSP -> ring -> VSC -> guest sink
    std::uint64_t link_changes = 0;         // set_link() calls that changed the state
};

struct netvsc_link_config {
    mac_address mac{};  // the synthetic NIC's MAC (OID_802_3_PERMANENT_ADDRESS)
    std::uint32_t mtu = 1500;
    std::uint8_t versions = 0x3f;  // NVSP versions the VSP accepts (nvsp_version_bit)
    bool gpa_direct = false;       // guest frames as type 9 packets over guest memory
    bool link_up = true;
    std::size_t ring_pages = 64;         // data pages of each ring (256 KiB)
    std::size_t receive_sections = 256;  // receive buffer = sections * vsp_config::receive_section_size
    std::size_t send_sections = 64;      // send buffer = sections * vsp_config::send_section_size
    std::size_t batch = 32;              // frames in flight per chunk
};

class netvsc_link {
public:
    static constexpr std::uint32_t receive_gpadl = 0x100, send_gpadl = 0x101;

    /// Allocates the channel's memory and brings it up the way a Linux guest does: NVSP
    /// INIT (newest version first), NDIS config and version, receive and send buffers,
    /// RNDIS INIT, the OIDs, then the packet filter (open). Errors: a bad configuration,
    /// or a model that did not reach ready (its state named).
    static result<netvsc_link> make(const netvsc_link_config& cfg) {
        if (cfg.batch == 0 || cfg.ring_pages == 0 || cfg.receive_sections < cfg.batch || cfg.send_sections < cfg.batch)
            return fail(layer::netvsc, errc::bad_value, "netvsc_link.config");
        netvsc_link l(cfg);
        auto rings = split_channel_memory(l.channel_mem_, cfg.ring_pages + 1);
        if (!rings) return unexpected(rings.error());
        vsc_config gc;
        gc.mtu = cfg.mtu;
        gc.receive_gpadl = receive_gpadl;
        gc.send_gpadl = send_gpadl;
        gc.gpa_direct = cfg.gpa_direct;
        gc.gpa_slots = cfg.gpa_direct ? cfg.batch : 0;
        auto g = vsc::create(*rings, l.receive_buf_, l.send_buf_, gc, l.guest_mem_);
        if (!g) return unexpected(g.error());
        l.guest_.emplace(std::move(*g));
        vsp_config hc;
        hc.mac = cfg.mac;
        hc.mtu = cfg.mtu;
        hc.versions = cfg.versions;
        hc.link_up = cfg.link_up;
        auto h = vsp::attach(*rings, hc);
        if (!h) return unexpected(h.error());
        l.host_.emplace(std::move(*h));
        if (auto r = l.host_->add_gpadl(receive_gpadl, l.receive_buf_); !r) return unexpected(r.error());
        if (auto r = l.host_->add_gpadl(send_gpadl, l.send_buf_); !r) return unexpected(r.error());
        l.host_->set_guest_memory(l.guest_mem_);
        if (auto s = l.guest_->start(); !s) return unexpected(s.error());
        if (!l.settle()) return fail(layer::netvsc, errc::bad_value, "netvsc_link.ring");
        if (l.guest_->state() != vsc_state::ready) return fail(layer::netvsc, errc::unsupported, "netvsc_link.vsc_not_ready");
        if (auto o = l.guest_->open(); !o) return unexpected(o.error());
        if (!l.settle() || l.guest_->packet_filter() == 0 || l.host_->packet_filter() == 0)
            return fail(layer::netvsc, errc::unsupported, "netvsc_link.packet_filter");
        return l;
    }

    netvsc_link(netvsc_link&&) noexcept = default;
    netvsc_link& operator=(netvsc_link&&) noexcept = default;
    netvsc_link(const netvsc_link&) = delete;
    netvsc_link& operator=(const netvsc_link&) = delete;

    /// The guest sends frames: each crosses VSC -> guest-to-host ring -> VSP; what the VSP
    /// takes out goes to to_host(std::span<const bytes_view>) once per chunk (views valid
    /// during the call). Returns the frames handed to to_host.
    template <class HostSink>
    std::size_t guest_send(std::span<const bytes_view> frames, HostSink&& to_host) {
        std::size_t delivered = 0;
        auto& c = counters_.guest_to_host;
        for (std::size_t at = 0; at < frames.size();) {
            to_host_.clear();
            const std::size_t sent = admit(frames, at, c, [&](bytes_view f) { return guest_->send(f); });
            if (sent == 0) continue;
            // The VSP hands frames out of the send section (stable until the VSC takes the
            // completion back) or out of its gather buffer (GPA direct, reused per packet:
            // copied into the staging area). A VLAN tag the guest put in the 802.1Q PPI
            // goes back into the frame the switch sees (also in the staging area).
            std::size_t staged = 0;
            auto on_frame = [&](bytes_view f, const rndis_packet_info& info) {
                if (cfg_.gpa_direct || info.vlan) {
                    auto s = stage(staging_to_host_, staged, f, info, c);
                    if (!s) return;
                    f = *s;
                }
                to_host_.push_back(f);
            };
            drain_host(on_frame);
            delivered += hand_over(to_host_, sent, c, to_host);
            drain_guest_completions();
        }
        return delivered;
    }
    template <class HostSink>
    std::size_t guest_send(bytes_view frame, HostSink&& to_host) {
        return guest_send(std::span<const bytes_view>(&frame, 1), std::forward<HostSink>(to_host));
    }

    /// The host (the switch) sends frames to the guest: VSP -> receive sections and the
    /// host-to-guest ring -> VSC; what the VSC receives goes to to_guest(std::span<const
    /// bytes_view>) once per chunk. Returns the frames handed to to_guest.
    template <class GuestSink>
    std::size_t host_send(std::span<const bytes_view> frames, GuestSink&& to_guest) {
        std::size_t delivered = 0;
        auto& c = counters_.host_to_guest;
        for (std::size_t at = 0; at < frames.size();) {
            to_guest_.clear();
            const std::size_t sent = admit(frames, at, c, [&](bytes_view f) { return host_->deliver(f); });
            if (sent == 0) continue;
            // The VSC hands frames out of receive sections, stable until the VSP takes the
            // completions back below; a tag from the 802.1Q PPI is put back in the frame
            // (as the Linux driver hands the stack a VLAN-tagged skb).
            std::size_t staged = 0;
            drain_guest([&](bytes_view f, const rndis_packet_info& info) {
                if (info.vlan) {
                    auto s = stage(staging_to_guest_, staged, f, info, c);
                    if (!s) return;
                    f = *s;
                }
                to_guest_.push_back(f);
            });
            delivered += hand_over(to_guest_, sent, c, to_guest);
            drain_host_completions();
        }
        return delivered;
    }
    template <class GuestSink>
    std::size_t host_send(bytes_view frame, GuestSink&& to_guest) {
        return host_send(std::span<const bytes_view>(&frame, 1), std::forward<GuestSink>(to_guest));
    }

    /// Link up / down at the host (the switch port connected or not): the VSP indicates
    /// RNDIS_STATUS_MEDIA_CONNECT / MEDIA_DISCONNECT (spaced by vsp_config::link_spacing:
    /// call tick() until the guest carrier follows) and the VSC takes it. While down,
    /// frames in both directions are dropped as link_down.
    void set_link(bool up, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
        if (up == host_->link_up()) return;
        (void)host_->set_link(up, now);
        ++counters_.link_changes;
        drain_guest_completions();
        drain_host_completions();
    }
    /// Sends a link indication that waited for its spacing.
    void tick(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
        (void)host_->tick(now);
        drain_guest_completions();
        drain_host_completions();
    }

    // ---- state ----
    bool link_up() const noexcept { return host_->link_up(); }
    /// The carrier as the guest driver sees it (from MEDIA_CONNECT_STATUS and indications).
    bool guest_carrier() const noexcept { return guest_->link_up(); }
    mac_address mac() const noexcept { return guest_->mac(); }
    std::uint32_t protocol_version() const noexcept { return guest_->protocol_version(); }
    const netvsc_link_counters& counters() const noexcept { return counters_; }
    const netvsc_link_config& config() const noexcept { return cfg_; }
    const vsc& guest() const noexcept { return *guest_; }
    const vsp& host() const noexcept { return *host_; }
    /// The largest frame carried: MTU + Ethernet header + one VLAN tag.
    std::size_t max_frame() const noexcept { return std::size_t{cfg_.mtu} + 14 + 4; }

private:
    /// Puts up to cfg_.batch frames of frames[at...] on the channel with send(frame) ->
    /// result, counting each refusal; advances `at` past every frame it looked at. Returns
    /// the frames sent.
    template <class Send>
    std::size_t admit(std::span<const bytes_view> frames, std::size_t& at, link_direction_counters& c, Send&& send) {
        std::size_t sent = 0;
        for (; at < frames.size() && sent < cfg_.batch; ++at) {
            const bytes_view f = frames[at];
            if (auto d = size_check(f)) {
                c.count_drop(*d);
                continue;
            }
            if (!host_->link_up()) {
                c.count_drop(link_drop::link_down);
                continue;
            }
            if (auto r = send(f); !r) {
                c.count_drop(reason_of(r.error()));
                continue;
            }
            ++sent;
        }
        return sent;
    }

    /// Counts what came out of the far side of `sent` frames (the rest as refused) and
    /// hands it to the sink; returns the frames handed over.
    template <class Sink>
    static std::size_t hand_over(const std::vector<bytes_view>& out, std::size_t sent, link_direction_counters& c, Sink& sink) {
        if (out.size() < sent) c.count_drop(link_drop::refused, sent - out.size());
        if (out.empty()) return 0;
        c.frames += out.size();
        for (auto f : out) c.bytes += f.size();
        sink(std::span<const bytes_view>(out));
        return out.size();
    }

    explicit netvsc_link(const netvsc_link_config& cfg)
            : cfg_(cfg),
              channel_mem_(2 * (cfg.ring_pages + 1) * vmbus_page_size),
              receive_buf_(cfg.receive_sections * vsp_config{}.receive_section_size),
              send_buf_(cfg.send_sections * vsp_config{}.send_section_size),
              guest_mem_(cfg.gpa_direct ? cfg.batch * vsc::gpa_slot_pages * vmbus_page_size : 0),
              staging_to_host_(cfg.batch * (std::size_t{cfg.mtu} + 18)),
              staging_to_guest_(cfg.batch * (std::size_t{cfg.mtu} + 18)) {
        to_host_.reserve(cfg.batch);
        to_guest_.reserve(cfg.batch);
    }

    std::optional<link_drop> size_check(bytes_view f) const noexcept {
        if (f.size() < 14) return link_drop::too_short;
        if (f.size() > max_frame()) return link_drop::too_long;
        return std::nullopt;
    }

    /// Copies f (with info's VLAN tag put back after the addresses) into slot `staged` of
    /// area; nullopt (counted as too_long) when the chunk's slots are used up or it is too long.
    std::optional<bytes_view> stage(std::vector<std::byte>& area, std::size_t& staged, bytes_view f,
                                    const rndis_packet_info& info, link_direction_counters& c) {
        if (staged == cfg_.batch || f.size() + (info.vlan ? 4 : 0) > max_frame()) {
            c.count_drop(link_drop::too_long);
            return std::nullopt;
        }
        bytes_span slot(area.data() + staged * max_frame(), max_frame());
        ++staged;
        if (!info.vlan) {
            std::memcpy(slot.data(), f.data(), f.size());
            return bytes_view(slot.first(f.size()));
        }
        auto t = insert_8021q(slot, f, *info.vlan);
        if (!t) {
            c.count_drop(link_drop::too_short);
            return std::nullopt;
        }
        return *t;
    }

    static link_drop reason_of(const error& e) noexcept {
        if (e.what == errc::unsupported) return e.field == "vsp.link_down" ? link_drop::link_down : link_drop::not_ready;
        if (e.what == errc::too_long) return link_drop::too_long;
        if (e.what == errc::exhausted && e.field.substr(0, 5) != "ring.") return link_drop::no_buffer;
        return link_drop::ring_full;
    }

    /// Polls both models until neither has a packet left (bring-up); false on a corrupt ring.
    bool settle() {
        for (int i = 0; i < 1000; ++i) {
            auto h = host_->poll([](bytes_view, const rndis_packet_info&) {});
            auto g = guest_->poll([](bytes_view, const rndis_packet_info&) {});
            if (!h || !g) return false;
            if (h->packets == 0 && g->packets == 0) return true;
        }
        return false;
    }

    template <class OnFrame>
    void drain_host(OnFrame& on_frame) {
        for (;;) {
            auto h = host_->poll(on_frame, 256);
            if (!h || h->packets == 0) return;
        }
    }
    template <class OnFrame>
    void drain_guest(OnFrame&& on_frame) {
        for (;;) {
            auto g = guest_->poll(on_frame, 256);
            if (!g || g->packets == 0) return;
        }
    }
    /// The VSP's completions of a guest_send chunk back into the VSC (frees send sections).
    void drain_guest_completions() {
        drain_guest([&](bytes_view, const rndis_packet_info&) { counters_.host_to_guest.count_drop(link_drop::refused); });
    }
    /// The VSC's completions of a host_send chunk back into the VSP (frees receive sections).
    void drain_host_completions() {
        auto on_frame = [&](bytes_view, const rndis_packet_info&) { counters_.guest_to_host.count_drop(link_drop::refused); };
        drain_host(on_frame);
    }

    netvsc_link_config cfg_;
    std::vector<std::byte> channel_mem_;  // the channel GPADL: guest-to-host ring, then host-to-guest ring
    std::vector<std::byte> receive_buf_;
    std::vector<std::byte> send_buf_;
    std::vector<std::byte> guest_mem_;
    std::vector<std::byte> staging_to_host_;   // GPA direct or VLAN PPI: frames the switch gets
    std::vector<std::byte> staging_to_guest_;  // VLAN PPI: frames the guest side gets, tag put back
    std::vector<bytes_view> to_host_;
    std::vector<bytes_view> to_guest_;
    std::optional<vsc> guest_;
    std::optional<vsp> host_;
    netvsc_link_counters counters_{};
};

/// A vswitch transport: what the switch delivers crosses the link to the guest
/// (host_send) and the VSC's frames go to GuestSink::receive(std::span<const bytes_view>).
template <sw::frame_sink GuestSink>
class netvsc_port {
public:
    netvsc_port(netvsc_link link, GuestSink guest) : link_(std::move(link)), guest_(std::move(guest)) {}

    void receive(std::span<const bytes_view> batch) {
        link_.host_send(batch, [this](std::span<const bytes_view> b) { guest_.receive(b); });
    }

    netvsc_link& link() noexcept { return link_; }
    const netvsc_link& link() const noexcept { return link_; }
    GuestSink& guest() noexcept { return guest_; }
    const GuestSink& guest() const noexcept { return guest_; }

private:
    netvsc_link link_;
    GuestSink guest_;
};

/// The guest behind switch port `id` sends frames: they cross the port's link and enter
/// the switch as one batch per chunk. Returns the frames that entered the switch.
template <class Switch>
std::size_t send_from_guest(Switch& s, sw::port_index id, std::span<const bytes_view> frames) {
    return s.transport(id).link().guest_send(frames, [&](std::span<const bytes_view> b) { s.send(id, b); });
}
template <class Switch>
std::size_t send_from_guest(Switch& s, sw::port_index id, bytes_view frame) {
    return send_from_guest(s, id, std::span<const bytes_view>(&frame, 1));
}

}  // namespace vnet::netvsc

template <>
struct fmt::formatter<vnet::netvsc::link_drop> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(vnet::netvsc::link_drop d, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(vnet::netvsc::to_string(d), ctx);
    }
};

/// "3 frames 192 bytes, drops: link_down=1" ("drops: none" when there are none).
template <>
struct fmt::formatter<vnet::netvsc::link_direction_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::link_direction_counters& c, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "{} frames {} bytes, drops:", c.frames, c.bytes);
        bool any = false;
        for (std::size_t i = 0; i < vnet::netvsc::link_drop_count; ++i) {
            if (c.drops[i] == 0) continue;
            out = fmt::format_to(out, " {}={}", vnet::netvsc::to_string(static_cast<vnet::netvsc::link_drop>(i)), c.drops[i]);
            any = true;
        }
        if (!any) out = fmt::format_to(out, " none");
        return out;
    }
};

template <>
struct fmt::formatter<vnet::netvsc::netvsc_link_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::netvsc_link_counters& c, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "guest->host {}; host->guest {}; link changes {}", c.guest_to_host, c.host_to_guest,
                              c.link_changes);
    }
};

/// "netvsc 00:15:5d:00:00:10 nvsp 0x60001 link up (guest carrier up): <counters>"
template <>
struct fmt::formatter<vnet::netvsc::netvsc_link> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::netvsc_link& l, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "netvsc {} nvsp {:#x} link {} (guest carrier {}): {}", l.mac(), l.protocol_version(),
                              l.link_up() ? "up" : "down", l.guest_carrier() ? "up" : "down", l.counters());
    }
};
