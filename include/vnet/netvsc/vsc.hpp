// vnet/netvsc/vsc.hpp - the guest side of a netvsc channel (the VSC), in memory, following
// the Linux guest's init order step by step (docs/netvsc-facts.md section 2 "Linux guest init
// order" and section 3 "Linux guest RNDIS init order"):
//   1. INIT with min = max = version, newest first (6.1, 6, 5, 4, 2, 1), completion
//      requested; status 1 accepts, anything else tries the next older version.
//   2. From NVSP 2: NDIS_CONFIG (mtu = MTU + 14, ieee8021q; from 5 also sriov and
//      teaming; from 6.1 also rsc), no completion.
//   3. SEND_NDIS_VER, no completion: NDIS 6.1 up to NVSP 4, else 6.30.
//   4. SEND_RECV_BUF (id 0xCAFE), completion requested; the completion must have exactly
//      one section at offset 0.
//   5. SEND_SEND_BUF (id 0), completion requested; sections = buffer size / section_size.
//   6. RNDIS INIT; QUERY MAXIMUM_FRAME_SIZE; QUERY PERMANENT_ADDRESS (fatal on failure);
//      QUERY OFFLOAD_HARDWARE_CAPABILITIES (type 0xA7, revision >= 1, 112 <= size <=
//      buffer); SET OFFLOAD_PARAMETERS (type 0x80, revision 3); failure of either aborts;
//      QUERY MEDIA_CONNECT_STATUS; from NVSP 5 QUERY LINK_SPEED and
//      RECEIVE_SCALE_CAPABILITIES (a failure leaves one queue).
//   7. open(): SET CURRENT_PACKET_FILTER 0xD; close(): SET 0.
// RNDIS control messages go through send-buffer sections (channel type 1); frames through
// send-buffer sections or, with gpa_direct, as type 9 packets over guest memory laid out
// as the Linux driver does it (init_page_array): one range for the RNDIS header and PPIs,
// one for the frame, which crosses into the next page when it does not fit the first.
// A frame with an 802.1Q tag goes out untagged with the tag in the IEEE_8021Q PPI (the
// Linux driver sends a hardware-accelerated tag that way, netvsc_xmit).
// Everything the VSC sends is recorded in sent() so tests can check the order.
//
// The guest's offload parameters body beyond the NDIS object header is not in
// docs/netvsc-facts.md; the VSC sends the header {0x80, 3, size} and zero fields (no change).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/netvsc/channel.hpp>
#include <vnet/netvsc/nvsp.hpp>
#include <vnet/netvsc/rndis.hpp>
#include <vnet/netvsc/ring.hpp>
#include <vnet/netvsc/vmbus_packet.hpp>

namespace vnet::netvsc {

enum class vsc_state : std::uint8_t {
    idle,
    nvsp_init,       // waiting for INIT_COMPLETE
    receive_buffer,  // waiting for SEND_RECV_BUF_COMPLETE
    send_buffer,     // waiting for SEND_SEND_BUF_COMPLETE
    rndis_init,      // waiting for INIT_C
    query_frame_size,
    query_permanent_address,
    query_offload_caps,
    set_offload_parameters,
    query_media_status,
    query_link_speed,
    query_rss_caps,
    ready,
    failed,
};

constexpr std::string_view to_string(vsc_state s) noexcept {
    switch (s) {
        case vsc_state::idle: return "idle";
        case vsc_state::nvsp_init: return "nvsp_init";
        case vsc_state::receive_buffer: return "receive_buffer";
        case vsc_state::send_buffer: return "send_buffer";
        case vsc_state::rndis_init: return "rndis_init";
        case vsc_state::query_frame_size: return "query_frame_size";
        case vsc_state::query_permanent_address: return "query_permanent_address";
        case vsc_state::query_offload_caps: return "query_offload_caps";
        case vsc_state::set_offload_parameters: return "set_offload_parameters";
        case vsc_state::query_media_status: return "query_media_status";
        case vsc_state::query_link_speed: return "query_link_speed";
        case vsc_state::query_rss_caps: return "query_rss_caps";
        case vsc_state::ready: return "ready";
        case vsc_state::failed: return "failed";
    }
    return "?";
}

/// One control message the VSC sent: an NVSP message (nvsp = its type, value = version,
/// NDIS version or gpadl) or an RNDIS control message (nvsp = 107, rndis = its type,
/// oid for QUERY / SET, value = the u32 set).
struct vsc_sent {
    std::uint32_t nvsp = 0;
    std::uint32_t rndis = 0;
    std::uint32_t oid = 0;
    std::uint32_t value = 0;
    friend constexpr bool operator==(const vsc_sent&, const vsc_sent&) = default;
};

struct vsc_config {
    std::uint32_t mtu = 1500;
    std::array<std::uint32_t, 6> versions = nvsp_version::newest_first;  // tried in this order
    std::size_t version_count = 6;
    std::uint32_t receive_gpadl = 0x100;
    std::uint32_t send_gpadl = 0x101;
    bool gpa_direct = false;         // frames as type 9 packets over guest memory
    std::size_t gpa_first_page = 0;  // the GPA-direct area in guest memory: slots of gpa_slot_pages
    std::size_t gpa_slots = 16;
};

struct vsc_counters {
    std::uint64_t packets = 0;
    std::uint64_t ring_errors = 0;
    std::uint64_t unexpected = 0;    // packets or messages not valid in this state
    std::uint64_t bad_messages = 0;  // NVSP messages that do not parse
    std::uint64_t bad_ranges = 0;    // transfer-page ranges outside the receive buffer
    std::uint64_t bad_rndis = 0;
    std::uint64_t frames_received = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t frames_sent = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t no_send_section = 0;  // send(): every section / GPA slot in flight
    std::uint64_t not_ready = 0;        // send() / open() / close() before the channel is ready
    std::uint64_t too_long = 0;         // send(): the RNDIS message does not fit a section / GPA slot
    std::uint64_t ring_full = 0;
    std::uint64_t bad_completions = 0;
    std::uint64_t status_indications = 0;
};

struct vsc_poll_result {
    std::size_t packets = 0;
    bool signal_host = false;
};

class vsc {
public:
    static constexpr std::size_t gpa_slot_pages = 4;
    static constexpr std::size_t gpa_slot_skew = 3000;                // where the message starts in its slot
    static constexpr std::uint64_t gpa_tag = std::uint64_t{1} << 63;  // trans_id of GPA-direct sends

    /// Initialises both rings (the guest creates them) and attaches. receive_buffer and
    /// send_buffer are the memory behind cfg.receive_gpadl / cfg.send_gpadl; guest_memory
    /// holds the GPA-direct area when cfg.gpa_direct is set.
    static result<vsc> create(channel_rings rings, bytes_span receive_buffer, bytes_span send_buffer, const vsc_config& cfg,
                              bytes_span guest_memory = {}) {
        if (auto a = ring_init(rings.guest_to_host); !a) return unexpected(a.error());
        if (auto b = ring_init(rings.host_to_guest); !b) return unexpected(b.error());
        if (cfg.version_count == 0 || cfg.version_count > cfg.versions.size())
            return fail(layer::netvsc, errc::bad_value, "vsc.versions");
        if (cfg.gpa_direct && !in_bounds(guest_memory.size(), cfg.gpa_first_page * vmbus_page_size,
                                         cfg.gpa_slots * gpa_slot_pages * vmbus_page_size))
            return fail(layer::netvsc, errc::bad_length, "vsc.guest_memory");
        auto ep = channel_endpoint::attach(rings, channel_side::guest);
        if (!ep) return unexpected(ep.error());
        return vsc(std::move(*ep), receive_buffer, send_buffer, cfg, guest_memory);
    }

    /// Step 1: INIT with the first (newest) version. Returns whether to signal the host.
    result<bool> start() {
        version_index_ = 0;
        state_ = vsc_state::nvsp_init;
        if (auto r = send_init(); !r) return unexpected(r.error());
        return ep_.take_signal();
    }

    /// Handles up to budget packets from the host; frames go to on_frame(bytes_view,
    /// const rndis_packet_info&).
    template <class OnFrame>
    result<vsc_poll_result> poll(OnFrame&& on_frame, std::size_t budget = 64) {
        vsc_poll_result res;
        while (res.packets < budget) {
            auto p = ep_.read();
            if (!p) {
                ++counters_.ring_errors;
                state_ = vsc_state::failed;
                return unexpected(p.error());
            }
            if (!*p) break;
            ++res.packets;
            ++counters_.packets;
            if ((*p)->type() == vmbus_packet_type::completion) on_completion(**p);
            else if ((*p)->type() == vmbus_packet_type::data_using_xfer_pages) on_xfer(**p, on_frame);
            else ++counters_.unexpected;
        }
        res.signal_host = ep_.take_signal();
        return res;
    }

    /// Step 7: SET OID_GEN_CURRENT_PACKET_FILTER 0xD (open) or 0 (close).
    result<bool> open() { return set_filter(rndis_packet_filter_linux_open); }
    result<bool> close() { return set_filter(0); }

    /// Sends one frame as an RNDIS PACKET; returns whether to signal the host.
    result<bool> send(bytes_view frame, const rndis_packet_info& info = {}) {
        if (state_ != vsc_state::ready) {
            ++counters_.not_ready;
            return fail(layer::netvsc, errc::unsupported, "vsc.not_ready");
        }
        const auto parts = packet_parts_of(frame, info, true);
        std::size_t len = rndis_packet_len(parts.info, parts.head.size() + parts.tail.size());
        if (cfg_.gpa_direct) return send_gpa_direct(parts.head, parts.tail, parts.info, len, frame.size());
        if (len > send_section_size_) {
            ++counters_.too_long;
            return fail(layer::netvsc, errc::too_long, "vsc.frame");
        }
        auto sec = send_pool_.take();
        if (!sec) {
            ++counters_.no_send_section;
            return fail(layer::netvsc, errc::exhausted, "vsc.send_buffer");
        }
        (void)emit_rndis_packet(send_section(*sec), parts.info, parts.head, parts.tail);  // len <= section size
        auto w = ep_.send_inband(nvsp_rndis_packet{nvsp_rndis_packet::data, *sec, static_cast<std::uint32_t>(len)}, *sec, true);
        if (!w) {
            send_pool_.give_back(*sec);
            ++counters_.ring_full;
            return unexpected(w.error());
        }
        ++counters_.frames_sent;
        counters_.bytes_sent += frame.size();
        return ep_.take_signal();
    }

    // ---- what the VSC learned ----
    vsc_state state() const noexcept { return state_; }
    std::uint32_t protocol_version() const noexcept { return version_; }
    mac_address mac() const noexcept { return mac_; }
    std::uint32_t host_mtu() const noexcept { return host_mtu_; }
    bool link_up() const noexcept { return link_up_; }
    std::uint32_t link_speed() const noexcept { return link_speed_; }
    std::uint32_t packet_filter() const noexcept { return filter_; }
    std::uint32_t receive_section_size() const noexcept { return receive_section_.sub_alloc_size; }
    std::uint32_t receive_section_count() const noexcept { return receive_section_.num_sub_allocs; }
    std::uint32_t send_section_size() const noexcept { return send_section_size_; }
    const section_pool& send_sections() const noexcept { return send_pool_; }
    const std::vector<vsc_sent>& sent() const noexcept { return sent_; }
    const vsc_counters& counters() const noexcept { return counters_; }
    const channel_endpoint& endpoint() const noexcept { return ep_; }
    channel_endpoint& endpoint() noexcept { return ep_; }

private:
    vsc(channel_endpoint ep, bytes_span rb, bytes_span sb, const vsc_config& cfg, bytes_span gm)
            : ep_(std::move(ep)), receive_buf_(rb), send_buf_(sb), guest_memory_(gm), cfg_(cfg) {
        gpa_pool_.reset(static_cast<std::uint32_t>(cfg.gpa_direct ? cfg.gpa_slots : 0));
    }

    // ---- NVSP steps ----
    result<void> send_nvsp(const nvsp_message& m, bool completion, std::uint32_t value) {
        sent_.push_back({static_cast<std::uint32_t>(type_of(m)), 0, 0, value});
        auto w = ep_.send_inband(m, static_cast<std::uint64_t>(type_of(m)), completion);
        if (!w) {
            ++counters_.ring_full;
            state_ = vsc_state::failed;
        }
        return w;
    }
    result<void> send_init() {
        std::uint32_t v = cfg_.versions[version_index_];
        return send_nvsp(nvsp_init{v, v}, true, v);
    }
    void after_version() {
        if (version_ > nvsp_version::v1) {
            std::uint64_t caps = ndis_config_cap::ieee8021q;
            if (version_ >= nvsp_version::v5) caps |= ndis_config_cap::sriov | ndis_config_cap::teaming;
            if (version_ >= nvsp_version::v61) caps |= ndis_config_cap::rsc;
            if (!send_nvsp(nvsp_ndis_config{cfg_.mtu + 14, 0, caps}, false, cfg_.mtu + 14)) return;
        }
        std::uint32_t ndis = version_ <= nvsp_version::v4 ? ndis_version::v6_1 : ndis_version::v6_30;
        if (!send_nvsp(nvsp_ndis_version{ndis >> 16, ndis & 0xffff}, false, ndis)) return;
        state_ = vsc_state::receive_buffer;
        (void)send_nvsp(nvsp_send_receive_buffer{cfg_.receive_gpadl, nvsp_receive_buffer_id}, true, cfg_.receive_gpadl);
    }

    void on_completion(const vmbus_packet_view& p) {
        auto m = parse_nvsp(p.payload(), nvsp_direction::host_to_guest);
        if (!m) {
            ++counters_.bad_messages;
            return;
        }
        if (auto* c = std::get_if<nvsp_rndis_packet_complete>(&*m)) {
            (void)c;
            bool ok = (p.trans_id() & gpa_tag) ? gpa_pool_.give_back(p.trans_id() & ~gpa_tag)
                                               : send_pool_.give_back(p.trans_id());
            if (!ok) ++counters_.bad_completions;
            return;
        }
        if (auto* c = std::get_if<nvsp_init_complete>(&*m); c && state_ == vsc_state::nvsp_init) {
            if (c->status == nvsp_status::success) {
                version_ = cfg_.versions[version_index_];
                after_version();
            } else if (++version_index_ < cfg_.version_count) {
                (void)send_init();
            } else {
                state_ = vsc_state::failed;
            }
            return;
        }
        if (auto* c = std::get_if<nvsp_receive_buffer_complete>(&*m); c && state_ == vsc_state::receive_buffer) {
            // L-nvsc: exactly one section at offset 0, inside the buffer.
            const auto& s = c->section;
            if (c->status != nvsp_status::success || c->num_sections != 1 || s.offset != 0 || s.sub_alloc_size == 0 ||
                std::uint64_t{s.sub_alloc_size} * s.num_sub_allocs > receive_buf_.size()) {
                state_ = vsc_state::failed;
                return;
            }
            receive_section_ = s;
            state_ = vsc_state::send_buffer;
            (void)send_nvsp(nvsp_send_send_buffer{cfg_.send_gpadl, nvsp_send_buffer_id}, true, cfg_.send_gpadl);
            return;
        }
        if (auto* c = std::get_if<nvsp_send_buffer_complete>(&*m); c && state_ == vsc_state::send_buffer) {
            if (c->status != nvsp_status::success || c->section_size < rndis_packet_view::header_len ||
                c->section_size > send_buf_.size()) {
                state_ = vsc_state::failed;
                return;
            }
            send_section_size_ = c->section_size;
            send_pool_.reset(static_cast<std::uint32_t>(send_buf_.size() / send_section_size_));
            state_ = vsc_state::rndis_init;
            (void)send_control(rndis_init_request{next_request_id()}, 0, 0);
            return;
        }
        ++counters_.unexpected;
    }

    // ---- RNDIS from the host ----
    template <class OnFrame>
    void on_xfer(const vmbus_packet_view& p, OnFrame& on_frame) {
        std::uint32_t status = nvsp_status::success;
        auto m = parse_nvsp(p.payload(), nvsp_direction::host_to_guest);
        if (!m || !std::holds_alternative<nvsp_rndis_packet>(*m) || p.xfer_pageset_id() != nvsp_receive_buffer_id) {
            ++counters_.bad_messages;
            status = nvsp_status::failure;
        } else {
            for (std::size_t i = 0; i < p.range_count(); ++i) {
                auto r = p.xfer_range(i);
                if (!in_bounds(receive_buf_.size(), r.byte_offset, r.byte_count)) {
                    ++counters_.bad_ranges;
                    status = nvsp_status::failure;
                    continue;
                }
                auto msg = rndis_message_view::parse(bytes_view(receive_buf_).subspan(r.byte_offset, r.byte_count));
                if (!msg) {
                    ++counters_.bad_rndis;
                    status = nvsp_status::invalid_rndis_packet;
                    continue;
                }
                on_rndis(*msg, on_frame);
            }
        }
        if (!ep_.send_completion(nvsp_rndis_packet_complete{status}, p.trans_id())) ++counters_.ring_full;
    }

    template <class OnFrame>
    void on_rndis(const rndis_message_view& m, OnFrame& on_frame) {
        switch (m.type()) {
            case rndis_type::packet: {
                auto pkt = rndis_packet_view::parse(m);
                if (!pkt) {
                    ++counters_.bad_rndis;
                    return;
                }
                ++counters_.frames_received;
                counters_.bytes_received += pkt->frame().size();
                on_frame(pkt->frame(), pkt->info());
                return;
            }
            case rndis_type::indicate_status: {
                auto s = rndis_indicate_status::parse(m);
                if (!s) {
                    ++counters_.bad_rndis;
                    return;
                }
                ++counters_.status_indications;
                if (s->status == rndis_status::media_connect) link_up_ = true;
                if (s->status == rndis_status::media_disconnect) link_up_ = false;
                return;
            }
            case rndis_type::init_complete: {
                auto c = rndis_init_complete::parse(m);
                if (state_ != vsc_state::rndis_init || !c || c->request_id != request_id_) break;
                if (c->status != rndis_status::success) {
                    state_ = vsc_state::failed;
                    return;
                }
                query(vsc_state::query_frame_size, rndis_oid::gen_maximum_frame_size);
                return;
            }
            case rndis_type::query_complete: {
                auto c = rndis_query_complete::parse(m);
                if (!c || c->request_id != request_id_) break;
                on_query_complete(*c);
                return;
            }
            case rndis_type::set_complete: {
                auto c = rndis_simple_complete::parse(m);
                if (!c || c->request_id != request_id_) break;
                on_set_complete(*c);
                return;
            }
            default: break;
        }
        ++counters_.unexpected;
    }

    void on_query_complete(const rndis_query_complete& c) {
        bool ok = c.status == rndis_status::success;
        auto u32 = [&]() -> std::optional<std::uint32_t> {
            if (!ok || c.info.size() < 4) return std::nullopt;
            return load_le32(c.info, 0);
        };
        switch (state_) {
            case vsc_state::query_frame_size:
                if (auto v = u32()) host_mtu_ = *v;
                query(vsc_state::query_permanent_address, rndis_oid::permanent_address_802_3);
                return;
            case vsc_state::query_permanent_address:
                if (!ok || c.info.size() < mac_address::size) {
                    state_ = vsc_state::failed;
                    return;
                }
                mac_ = mac_address::load(c.info, 0);
                query(vsc_state::query_offload_caps, rndis_oid::tcp_offload_hardware_capabilities);
                return;
            case vsc_state::query_offload_caps: {
                if (!ok || c.info.size() < 4 || load_u8(c.info, 0) != ndis_object_type_offload || load_u8(c.info, 1) < 1 ||
                    load_le16(c.info, 2) < ndis_offload_size_min || load_le16(c.info, 2) > c.info.size()) {
                    state_ = vsc_state::failed;
                    return;
                }
                std::array<std::byte, 32> params{};
                store_u8(params, 0, ndis_object_type_offload_parameters);
                store_u8(params, 1, 3);
                store_le16(params, 2, static_cast<std::uint16_t>(params.size()));
                state_ = vsc_state::set_offload_parameters;
                (void)send_control(
                    rndis_oid_request{rndis_type::set, next_request_id(), rndis_oid::tcp_offload_parameters, params},
                    rndis_oid::tcp_offload_parameters, 0);
                return;
            }
            case vsc_state::query_media_status:
                if (auto v = u32()) link_up_ = *v == rndis_media_connected;
                if (version_ >= nvsp_version::v5) query(vsc_state::query_link_speed, rndis_oid::gen_link_speed);
                else state_ = vsc_state::ready;
                return;
            case vsc_state::query_link_speed:
                if (auto v = u32()) link_speed_ = *v;
                query(vsc_state::query_rss_caps, rndis_oid::gen_receive_scale_capabilities);
                return;
            case vsc_state::query_rss_caps:
                // Failure or fewer than 2 queues: one queue, no SUBCHANNEL, no RSS parameters.
                state_ = vsc_state::ready;
                return;
            default: ++counters_.unexpected; return;
        }
    }

    void on_set_complete(const rndis_simple_complete& c) {
        if (state_ == vsc_state::set_offload_parameters) {
            if (c.status != rndis_status::success) {
                state_ = vsc_state::failed;
                return;
            }
            query(vsc_state::query_media_status, rndis_oid::gen_media_connect_status);
            return;
        }
        if (state_ == vsc_state::ready && filter_pending_) {
            if (c.status == rndis_status::success) filter_ = *filter_pending_;
            filter_pending_.reset();
            return;
        }
        ++counters_.unexpected;
    }

    void query(vsc_state next, std::uint32_t oid) {
        state_ = next;
        (void)send_control(rndis_oid_request{rndis_type::query, next_request_id(), oid, {}}, oid, 0);
    }

    result<bool> set_filter(std::uint32_t filter) {
        if (state_ != vsc_state::ready) {
            ++counters_.not_ready;
            return fail(layer::netvsc, errc::unsupported, "vsc.not_ready");
        }
        std::array<std::byte, 4> v{};
        store_le32(v, 0, filter);
        filter_pending_ = filter;
        auto r = send_control(rndis_oid_request{rndis_type::set, next_request_id(), rndis_oid::gen_current_packet_filter, v},
                              rndis_oid::gen_current_packet_filter, filter);
        if (!r) return unexpected(r.error());
        return ep_.take_signal();
    }

    /// Puts an RNDIS control message into a send section and sends SEND_RNDIS_PKT (control).
    template <class Msg>
    result<void> send_control(const Msg& msg, std::uint32_t oid, std::uint32_t value) {
        auto sec = send_pool_.take();
        if (!sec) {
            ++counters_.no_send_section;
            state_ = vsc_state::failed;
            return fail(layer::netvsc, errc::exhausted, "vsc.send_buffer");
        }
        auto n = msg.emit(send_section(*sec));
        if (!n) {
            send_pool_.give_back(*sec);
            state_ = vsc_state::failed;
            return unexpected(n.error());
        }
        sent_.push_back({static_cast<std::uint32_t>(nvsp_type::send_rndis_packet), load_le32(send_section(*sec), 0), oid, value});
        auto w = ep_.send_inband(nvsp_rndis_packet{nvsp_rndis_packet::control, *sec, static_cast<std::uint32_t>(*n)}, *sec, true);
        if (!w) {
            send_pool_.give_back(*sec);
            ++counters_.ring_full;
            state_ = vsc_state::failed;
            return unexpected(w.error());
        }
        return {};
    }

    /// A GPA-direct send: the RNDIS message is written gpa_slot_skew bytes into its slot,
    /// so a full-size frame crosses a page boundary as skb data does; two ranges as in
    /// Linux's init_page_array (RNDIS header + PPIs, then the frame).
    result<bool> send_gpa_direct(bytes_view head, bytes_view tail, const rndis_packet_info& info, std::size_t len,
                                 std::size_t frame_len) {
        constexpr std::size_t slot_len = gpa_slot_pages * vmbus_page_size;
        if (len > slot_len - gpa_slot_skew) {
            ++counters_.too_long;
            return fail(layer::netvsc, errc::too_long, "vsc.frame");
        }
        auto slot = gpa_pool_.take();
        if (!slot) {
            ++counters_.no_send_section;
            return fail(layer::netvsc, errc::exhausted, "vsc.gpa_slots");
        }
        std::size_t base = (cfg_.gpa_first_page + *slot * gpa_slot_pages) * vmbus_page_size + gpa_slot_skew;
        (void)emit_rndis_packet(guest_memory_.subspan(base, len), info, head, tail);
        std::size_t hdr = len - (head.size() + tail.size());
        auto range_at = [](std::size_t addr, std::size_t n) {
            return gpa_range{static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(addr % vmbus_page_size),
                             addr / vmbus_page_size};
        };
        std::array<gpa_range, 2> ranges{range_at(base, hdr), range_at(base + hdr, len - hdr)};
        std::array<std::byte, 8 + 2 * (gpa_range_head_len + 8 * (gpa_slot_pages + 1))> th{};
        auto hn = emit_gpa_direct_header(th, ranges);
        auto msg = make_nvsp(nvsp_rndis_packet{nvsp_rndis_packet::data, nvsp_no_section, 0});
        auto w = ep_.write(vmbus_packet_type::data_using_gpa_direct, vmbus_flag_completion_requested, gpa_tag | *slot,
                           bytes_view(th).first(*hn), msg.view());
        if (!w) {
            gpa_pool_.give_back(*slot);
            ++counters_.ring_full;
            return unexpected(w.error());
        }
        ++counters_.frames_sent;
        counters_.bytes_sent += frame_len;
        return ep_.take_signal();
    }

    bytes_span send_section(std::uint32_t i) noexcept {
        return send_buf_.subspan(std::size_t{i} * send_section_size_, send_section_size_);
    }
    std::uint32_t next_request_id() noexcept { return ++request_id_; }

    channel_endpoint ep_;
    bytes_span receive_buf_;
    bytes_span send_buf_;
    bytes_span guest_memory_;
    vsc_config cfg_;
    vsc_state state_ = vsc_state::idle;
    std::size_t version_index_ = 0;
    std::uint32_t version_ = 0;
    nvsp_receive_section receive_section_{};
    std::uint32_t send_section_size_ = 0;
    section_pool send_pool_;
    section_pool gpa_pool_;
    std::uint32_t request_id_ = 0;
    mac_address mac_{};
    std::uint32_t host_mtu_ = 0;
    bool link_up_ = false;
    std::uint32_t link_speed_ = 0;
    std::uint32_t filter_ = 0;
    std::optional<std::uint32_t> filter_pending_;
    std::vector<vsc_sent> sent_;
    vsc_counters counters_{};
};

}  // namespace vnet::netvsc

template <>
struct fmt::formatter<vnet::netvsc::vsc_state> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(vnet::netvsc::vsc_state s, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(vnet::netvsc::to_string(s), ctx);
    }
};

template <>
struct fmt::formatter<vnet::netvsc::vsc_sent> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::vsc_sent& s, Ctx& ctx) const {
        auto t = static_cast<vnet::netvsc::nvsp_type>(s.nvsp);
        if (s.rndis == 0) return fmt::format_to(ctx.out(), "{} {:#x}", t, s.value);
        return fmt::format_to(ctx.out(), "{} rndis {:#x} oid {:#x} value {:#x}", t, s.rndis, s.oid, s.value);
    }
};

template <>
struct fmt::formatter<vnet::netvsc::vsc_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::vsc_counters& c, Ctx& ctx) const {
        return fmt::format_to(ctx.out(),
                              "packets {}, received {} frames {} bytes, sent {} frames {} bytes, status {}, "
                              "ring_errors {}, unexpected {}, bad_messages {}, bad_ranges {}, bad_rndis {}, "
                              "no_send_section {}, not_ready {}, too_long {}, ring_full {}, bad_completions {}",
                              c.packets, c.frames_received, c.bytes_received, c.frames_sent, c.bytes_sent, c.status_indications,
                              c.ring_errors, c.unexpected, c.bad_messages, c.bad_ranges, c.bad_rndis, c.no_send_section,
                              c.not_ready, c.too_long, c.ring_full, c.bad_completions);
    }
};
