// vnet/netvsc/vsp.hpp - the host side of a netvsc channel (the VSP), in memory.
//
// What it answers, from docs/netvsc-facts.md section 2 and 3:
// - NVSP INIT: the highest version it supports inside the guest's [min, max] (the Linux
//   guest asks min = max, newest first); INIT_COMPLETE status 1 with that version, or
//   status 2 (failure) so the guest retries an older one. Completions for INIT,
//   SEND_RECV_BUF, SEND_SEND_BUF and SUBCHANNEL are COMP packets echoing trans_id.
// - NDIS_CONFIG (from NVSP 2) and SEND_NDIS_VER are recorded. NDIS_CONFIG's mtu (the
//   guest's MTU + 14) sets the largest frame either way, kept within [1514, max_mtu + 14]
//   as OpenVMM's netvsp does (MIN_MTU 1514, MAX_MTU 9216), and what
//   OID_GEN_MAXIMUM_FRAME_SIZE answers (mtu - 14). These two, and SWITCH_DATA_PATH, are
//   answered with an empty completion (a COMP packet with no payload, echoing trans_id)
//   when the guest sets the completion flag: Linux waits for exactly that after
//   SWITCH_DATA_PATH (netvsc_send_completion, "completion without data payload").
// - SEND_RECV_BUF: the GPADL (a span the caller registered with add_gpadl) becomes the
//   receive buffer, cut into sections of receive_section_size, or of 256 + mtu + 36 when
//   a jumbo MTU needs more (OpenVMM sub_allocation_size_for_mtu: room for the RNDIS header
//   and PPIs, the frame, and a 36-byte footer some guests cannot use); the completion
//   carries one section {offset 0, sub_alloc_size, num_sub_allocs, end_offset}.
// - SEND_SEND_BUF: the GPADL becomes the send buffer; the completion gives section_size.
// - SEND_RNDIS_PKT in-band (send-buffer section i) or GPA-direct (type 9): every RNDIS
//   message in it is handled (several are batched, each padded to 8 bytes, the alignment
//   this VSP advertises in INIT_C); a COMP {108, status} is returned when the guest asked
//   for one. A type 9 packet whose section index is not 0xFFFFFFFF is the Linux driver's
//   partial copy (netvsc_send, cp_partial): the section holds section_size bytes (earlier
//   batched messages and the RNDIS header and PPIs of the last one) and the GPA ranges
//   the rest of the last frame; the host joins section bytes and ranges in that order.
//   Each GPA range may cross pages (one pfn per page, vmbus_packet.hpp).
// - RNDIS INIT, QUERY, SET, RESET, HALT, KEEPALIVE; the OIDs the Linux guest uses
//   (section 3, "Linux guest RNDIS init order"). RSS is not offered (the guest stays on
//   one queue), SUBCHANNEL requests fail.
// - Host to guest: every RNDIS message (frames, control completions, status indications)
//   goes into one free receive-buffer section and a type 7 packet (pageset 0xCAFE, one
//   range, payload NVSP 107) with trans_id = section; the guest's COMP {108} frees it.
//   A frame with an 802.1Q tag travels as the untagged frame plus the IEEE_8021Q PPI when
//   the guest negotiated ieee8021q (every Linux guest from NVSP 2 does).
// - Nothing owed to the guest is dropped: a completion or a control reply that finds the
//   host-to-guest ring full (or, for a reply, no free receive section) waits in a queue,
//   in order, and goes out as soon as there is room; while the queue is full the VSP stops
//   reading the guest's ring (the guest then waits for ring space, as with a real host).
//   deliver() keeps control_reserve bytes of the ring free for them, as OpenVMM's netvsp
//   checks MIN_CONTROL_RING_SIZE before handling a control message.
// - Link changes are spaced: a MEDIA_CONNECT / DISCONNECT indication goes out at least
//   link_spacing (5 s, OpenVMM's LINK_DELAY_DURATION: "Linux guests are known to not act on
//   link state change notifications if they happen in quick succession") after the
//   previous one; a quick down-up still shows the guest a disconnect, then a connect.
//
// For a switch port adapter: poll(on_frame) hands each frame from the guest to on_frame
// (bytes_view valid during the call) and deliver(frame, info) sends one to the guest,
// returning an error value when it cannot (no receive section free, ring full, link down,
// RNDIS not initialised, packet filter 0). set_link(up) raises MEDIA_CONNECT / DISCONNECT.
// Every refusal is a named counter in vsp_counters.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/netvsc/channel.hpp>
#include <vnet/netvsc/nvsp.hpp>
#include <vnet/netvsc/rndis.hpp>
#include <vnet/netvsc/vmbus_packet.hpp>
#include <vnet/wire/ethernet.hpp>

namespace vnet::netvsc {

/// Bit of nvsp_version::newest_first[i] in vsp_config::versions.
constexpr std::uint8_t nvsp_version_bit(std::uint32_t version) noexcept {
    for (std::size_t i = 0; i < nvsp_version::newest_first.size(); ++i)
        if (nvsp_version::newest_first[i] == version) return static_cast<std::uint8_t>(1u << i);
    return 0;
}

struct vsp_config {
    mac_address mac{};
    std::uint32_t mtu = 1500;                   // until the guest's NDIS_CONFIG (NVSP 1 guests keep it)
    std::uint32_t max_mtu = 9216 - 14;          // the largest MTU a guest's NDIS_CONFIG gets
    std::uint32_t link_speed = 100'000'000;     // OID_GEN_LINK_SPEED, units of 100 bps: 10 Gbps
    std::uint8_t versions = 0x3f;               // nvsp_version_bit of each supported version
    std::uint32_t receive_section_size = 1728;  // sub_alloc_size (docs/netvsc-facts.md section 2, step 5)
    std::uint32_t send_section_size = 6144;     // vnet's choice; the guest takes what the completion says
    bool link_up = true;
    std::chrono::steady_clock::duration link_spacing = std::chrono::seconds(5);
    std::size_t pending_capacity = 256;  // completions and replies waiting for ring space
    std::size_t control_reserve = 512;   // ring bytes deliver() leaves for completions and replies
};

/// Named counters: what the VSP did and every refusal.
struct vsp_counters {
    std::uint64_t packets = 0;                // VMBus packets read from the guest
    std::uint64_t ring_errors = 0;            // the guest-to-host ring was corrupt (see the reader's counters)
    std::uint64_t unexpected_packets = 0;     // packet types the guest does not send
    std::uint64_t short_messages = 0;         // NVSP messages shorter than 28 bytes
    std::uint64_t bad_messages = 0;           // NVSP messages that do not parse
    std::uint64_t unexpected_messages = 0;    // well-formed but not valid from a guest or in this state
    std::uint64_t version_refused = 0;        // INIT answered with failure
    std::uint64_t unknown_gpadl = 0;          // SEND_RECV_BUF / SEND_SEND_BUF naming no registered GPADL
    std::uint64_t bad_send_section = 0;       // section index / size outside the send buffer
    std::uint64_t bad_gpa_range = 0;          // GPA-direct range outside guest memory or too long
    std::uint64_t bad_rndis = 0;              // RNDIS messages that do not parse
    std::uint64_t rndis_control = 0;          // RNDIS control messages handled
    std::uint64_t unknown_oids = 0;           // QUERY / SET answered NOT_SUPPORTED
    std::uint64_t control_reply_dropped = 0;  // a reply that does not fit a receive section (never for lack of room)
    std::uint64_t queued = 0;                 // completions and replies that had to wait for room
    std::uint64_t backpressure = 0;           // polls that stopped reading because the queue was full
    std::uint64_t frames_from_guest = 0;
    std::uint64_t bytes_from_guest = 0;
    std::uint64_t frames_to_guest = 0;
    std::uint64_t bytes_to_guest = 0;
    std::uint64_t not_ready = 0;           // deliver() before RNDIS INIT / receive buffer
    std::uint64_t link_down = 0;           // deliver() while the link is down
    std::uint64_t filtered = 0;            // deliver() with packet filter 0
    std::uint64_t too_long = 0;            // deliver() of a frame above MTU + 14 (+ 4 tagged)
    std::uint64_t no_receive_section = 0;  // deliver(): every receive section in flight
    std::uint64_t ring_full = 0;           // deliver(): the frame did not fit next to the reserve
    std::uint64_t bad_completions = 0;     // COMP for a section not in flight
    std::uint64_t status_indications = 0;  // MEDIA_CONNECT / DISCONNECT sent
    std::uint64_t empty_completions = 0;   // COMP without payload (NDIS_CONFIG, NDIS_VER, SWITCH_DATA_PATH)
};

struct vsp_poll_result {
    std::size_t packets = 0;    // packets consumed
    bool signal_guest = false;  // the ring rules say the guest must be interrupted
};

class vsp {
public:
    static constexpr std::size_t max_gpadls = 8;
    /// The largest RNDIS message gathered from GPA-direct ranges.
    static constexpr std::size_t max_gather_len = 65536;

    static result<vsp> attach(channel_rings rings, const vsp_config& cfg) {
        auto ep = channel_endpoint::attach(rings, channel_side::host);
        if (!ep) return unexpected(ep.error());
        return vsp(std::move(*ep), cfg);
    }

    /// Registers guest memory described by a GPADL (the test or lab owns the span).
    result<void> add_gpadl(std::uint32_t id, bytes_span mem) {
        for (auto& g : gpadls_)
            if (g.mem.data() != nullptr && g.id == id) return fail(layer::netvsc, errc::conflict, "vsp.gpadl");
        for (auto& g : gpadls_)
            if (g.mem.data() == nullptr) {
                g = {id, mem};
                return {};
            }
        return fail(layer::netvsc, errc::exhausted, "vsp.gpadl");
    }
    /// Guest physical memory for GPA-direct packets: page pfn is bytes [pfn * 4096, +4096).
    void set_guest_memory(bytes_span mem) noexcept { guest_memory_ = mem; }

    /// Handles up to budget packets from the guest; frames go to on_frame(bytes_view frame,
    /// const rndis_packet_info&). An error means the guest-to-host ring is corrupt.
    template <class OnFrame>
    result<vsp_poll_result> poll(OnFrame&& on_frame, std::size_t budget = 64) {
        vsp_poll_result res;
        flush();
        while (res.packets < budget) {
            if (pending_.size() >= cfg_.pending_capacity) {
                // What is owed to the guest waits for ring space: take nothing more from it.
                ++counters_.backpressure;
                break;
            }
            auto p = ep_.read();
            if (!p) {
                ++counters_.ring_errors;
                res.signal_guest = ep_.take_signal();
                return unexpected(p.error());
            }
            if (!*p) break;
            ++res.packets;
            ++counters_.packets;
            handle_packet(**p, on_frame);
        }
        flush();
        res.signal_guest = ep_.take_signal();
        return res;
    }

    /// Sends one frame to the guest as an RNDIS PACKET in a receive section. The returned
    /// bool says whether the guest must be signalled.
    result<bool> deliver(bytes_view frame, const rndis_packet_info& info = {}) {
        if (!rndis_ready_ || !receive_.mem.data()) {
            ++counters_.not_ready;
            return fail(layer::netvsc, errc::unsupported, "vsp.not_ready");
        }
        if (!link_up_) {
            ++counters_.link_down;
            return fail(layer::netvsc, errc::unsupported, "vsp.link_down");
        }
        if (packet_filter_ == 0) {
            ++counters_.filtered;
            return fail(layer::netvsc, errc::unsupported, "vsp.packet_filter");
        }
        const bool inline_tag = !info.vlan && frame.size() >= 14 && load_be16(frame, 12) == wire::ethertype::vlan;
        if (frame.size() > std::size_t{frame_mtu_} + (inline_tag ? 4 : 0)) {
            ++counters_.too_long;
            return fail(layer::netvsc, errc::too_long, "vsp.frame");
        }
        // Completions and replies first, and never crowded out by frames.
        flush();
        auto space = ep_.writer().space();
        if (!pending_.empty() || !space || *space < data_packet_len + cfg_.control_reserve) {
            ++counters_.ring_full;
            return fail(layer::netvsc, errc::exhausted, "ring.space");
        }
        auto sec = receive_pool_.take();
        if (!sec) {
            ++counters_.no_receive_section;
            return fail(layer::netvsc, errc::exhausted, "vsp.receive_buffer");
        }
        const auto parts = packet_parts_of(frame, info, (ndis_config_.capabilities & ndis_config_cap::ieee8021q) != 0);
        auto n = emit_rndis_packet(section(*sec), parts.info, parts.head, parts.tail);
        if (!n) {
            receive_pool_.give_back(*sec);
            ++counters_.too_long;
            return unexpected(n.error());
        }
        if (auto w = post_section(*sec, *n, nvsp_rndis_packet::data); !w) {
            ++counters_.ring_full;
            return unexpected(w.error());
        }
        ++counters_.frames_to_guest;
        counters_.bytes_to_guest += frame.size();
        return ep_.take_signal();
    }

    /// Link up / down: answered by OID_GEN_MEDIA_CONNECT_STATUS and, once RNDIS is
    /// initialised, indicated with RNDIS_STATUS_MEDIA_CONNECT / MEDIA_DISCONNECT, spaced by
    /// link_spacing (see the top of this file); call tick() to send one that had to wait.
    /// Returns whether the guest must be signalled.
    bool set_link(bool up, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
        if (up == link_up_) return false;
        link_up_ = up;
        if (rndis_ready_) {
            bool last = link_queue_.empty() ? guest_link_ : link_queue_.back();
            if (link_queue_.size() == 2 && last != up) link_queue_.pop_back();  // a waiting pair cancels out
            else if (last != up) link_queue_.push_back(up);
        }
        return tick(now);
    }
    /// Sends a link indication whose time has come; returns whether the guest must be signalled.
    bool tick(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
        while (!link_queue_.empty() && rndis_ready_ && (!last_indication_ || now - *last_indication_ >= cfg_.link_spacing)) {
            bool up = link_queue_.front();
            link_queue_.erase(link_queue_.begin());
            send_control(rndis_indicate_status{up ? rndis_status::media_connect : rndis_status::media_disconnect});
            guest_link_ = up;
            last_indication_ = now;
            ++counters_.status_indications;
        }
        if (!rndis_ready_) link_queue_.clear();
        return ep_.take_signal();
    }
    /// When the next waiting link indication is due (nullopt when none waits).
    std::optional<std::chrono::steady_clock::time_point> next_link_indication() const noexcept {
        if (link_queue_.empty() || !last_indication_) return std::nullopt;
        return *last_indication_ + cfg_.link_spacing;
    }

    // ---- state, for tests and port adapters ----
    std::uint32_t protocol_version() const noexcept { return version_; }
    std::uint32_t ndis_version() const noexcept { return ndis_version_; }
    const nvsp_ndis_config& ndis_config() const noexcept { return ndis_config_; }
    bool rndis_ready() const noexcept { return rndis_ready_; }
    std::uint32_t packet_filter() const noexcept { return packet_filter_; }
    bool link_up() const noexcept { return link_up_; }
    /// The link state the guest was last told (OID answer or indication).
    bool guest_link_up() const noexcept { return guest_link_; }
    /// The largest frame either way: the negotiated MTU + 14 (an 802.1Q tag not counted).
    std::uint32_t max_frame() const noexcept { return frame_mtu_; }
    std::uint32_t receive_section_size() const noexcept { return section_size_; }
    /// Completions and control replies waiting for ring space or a receive section.
    std::size_t pending() const noexcept { return pending_.size(); }
    bool offload_parameters_set() const noexcept { return offload_set_; }
    std::uint32_t data_path() const noexcept { return data_path_; }
    /// Ready for deliver(): RNDIS initialised, receive buffer mapped, link up, filter set.
    bool ready() const noexcept { return rndis_ready_ && receive_.mem.data() && link_up_ && packet_filter_ != 0; }
    const section_pool& receive_sections() const noexcept { return receive_pool_; }
    std::size_t send_section_count() const noexcept { return send_sections_; }
    const vsp_counters& counters() const noexcept { return counters_; }
    const channel_endpoint& endpoint() const noexcept { return ep_; }
    const vsp_config& config() const noexcept { return cfg_; }

private:
    struct gpadl {
        std::uint32_t id = 0;
        bytes_span mem{};
    };

    /// A type 7 packet with one range and an NVSP 107 payload, trailer included.
    static constexpr std::size_t data_packet_len = align8(vmbus_ranges_offset + xfer_page_range_len + nvsp_message_len) +
                                                   vmbus_trailer_len;
    /// The largest RNDIS control reply (QUERY_C with the offload capabilities).
    static constexpr std::size_t max_control_reply = 256;

    /// Something owed to the guest that waits for room: a completion (msg, or none for
    /// an empty one) or a control reply (its RNDIS bytes, to go into a receive section).
    struct pending_reply {
        std::uint64_t trans_id = 0;
        std::optional<nvsp_message> completion;
        bool empty_completion = false;
        std::size_t control_len = 0;
        std::array<std::byte, max_control_reply> control{};
    };

    vsp(channel_endpoint ep, const vsp_config& cfg)
            : ep_(std::move(ep)),
              cfg_(cfg),
              frame_mtu_(cfg.mtu + 14),
              section_size_(cfg.receive_section_size),
              link_up_(cfg.link_up),
              guest_link_(cfg.link_up),
              gather_(max_gather_len) {}

    std::optional<bytes_span> find_gpadl(std::uint32_t id) const noexcept {
        for (const auto& g : gpadls_)
            if (g.mem.data() != nullptr && g.id == id) return g.mem;
        return std::nullopt;
    }

    bytes_span section(std::uint32_t i) noexcept { return receive_.mem.subspan(std::size_t{i} * section_size_, section_size_); }

    /// Posts receive section sec holding len bytes of RNDIS as a type 7 packet; on failure
    /// the section goes back to the pool.
    result<void> post_section(std::uint32_t sec, std::size_t len, std::uint32_t channel_type) {
        std::array<xfer_page_range, 1> range{{{static_cast<std::uint32_t>(len), sec * section_size_}}};
        std::array<std::byte, 16> th{};
        auto n = emit_xfer_page_header(th, nvsp_receive_buffer_id, false, range);
        auto msg = make_nvsp(nvsp_rndis_packet{channel_type, nvsp_no_section, 0});
        auto w = ep_.write(vmbus_packet_type::data_using_xfer_pages, vmbus_flag_completion_requested, sec,
                           bytes_view(th).first(*n), msg.view());
        if (!w) {
            receive_pool_.give_back(sec);
            return unexpected(w.error());
        }
        return {};
    }

    /// Sends what waits, in order, until something does not fit.
    void flush() {
        while (!pending_.empty()) {
            auto& r = pending_.front();
            if (r.completion || r.empty_completion) {
                auto w = r.completion ? ep_.send_completion(*r.completion, r.trans_id)
                                      : ep_.write(vmbus_packet_type::completion, 0, r.trans_id, {}, {});
                if (!w) return;
            } else {
                if (!receive_.mem.data()) {  // the buffer was revoked: nowhere to put the reply
                    ++counters_.control_reply_dropped;
                    pending_.pop_front();
                    continue;
                }
                auto sec = receive_pool_.take();
                if (!sec) return;
                auto dst = section(*sec);
                std::copy_n(r.control.begin(), r.control_len, dst.begin());
                if (!post_section(*sec, r.control_len, nvsp_rndis_packet::control)) return;
            }
            pending_.pop_front();
        }
    }
    void enqueue(pending_reply r) {
        ++counters_.queued;
        pending_.push_back(std::move(r));
    }

    template <class OnFrame>
    void handle_packet(const vmbus_packet_view& p, OnFrame& on_frame) {
        switch (p.type()) {
            case vmbus_packet_type::data_inband:
            case vmbus_packet_type::data_using_gpa_direct: break;
            case vmbus_packet_type::completion: {
                auto m = parse_nvsp(p.payload(), nvsp_direction::guest_to_host);
                if (!m || !std::holds_alternative<nvsp_rndis_packet_complete>(*m) || !receive_pool_.give_back(p.trans_id()))
                    ++counters_.bad_completions;
                return;
            }
            default: ++counters_.unexpected_packets; return;
        }
        if (p.payload().size() < nvsp_min_host_message_len) {
            ++counters_.short_messages;
            return;
        }
        auto m = parse_nvsp(p.payload(), nvsp_direction::guest_to_host);
        if (!m) {
            ++counters_.bad_messages;
            return;
        }
        if (p.type() == vmbus_packet_type::data_using_gpa_direct && !std::holds_alternative<nvsp_rndis_packet>(*m)) {
            ++counters_.unexpected_messages;
            return;
        }
        if (version_ == 0 && !std::holds_alternative<nvsp_init>(*m)) {
            ++counters_.unexpected_messages;
            if (std::holds_alternative<nvsp_rndis_packet>(*m) && p.completion_requested())
                (void)ep_.send_completion(nvsp_rndis_packet_complete{nvsp_status::failure}, p.trans_id());
            return;
        }
        std::visit([&](const auto& x) { on_message(x, p, on_frame); }, *m);
    }

    // ---- NVSP messages from the guest ----
    template <class OnFrame>
    void on_message(const nvsp_init& x, const vmbus_packet_view& p, OnFrame&) {
        std::uint32_t chosen = 0;
        for (std::uint32_t v : nvsp_version::newest_first)
            if ((cfg_.versions & nvsp_version_bit(v)) && x.min_version <= v && v <= x.max_version) {
                chosen = v;
                break;
            }
        if (chosen == 0) ++counters_.version_refused;
        else version_ = chosen;
        reply(nvsp_init_complete{chosen, 0, chosen ? nvsp_status::success : nvsp_status::failure}, p);
    }
    template <class OnFrame>
    void on_message(const nvsp_ndis_config& x, const vmbus_packet_view& p, OnFrame&) {
        if (version_ < nvsp_version::v2) {
            ++counters_.unexpected_messages;
            return;
        }
        ndis_config_ = x;
        frame_mtu_ = std::clamp<std::uint32_t>(x.mtu, 1514, cfg_.max_mtu + 14);
        complete_empty(p);
    }
    template <class OnFrame>
    void on_message(const nvsp_ndis_version& x, const vmbus_packet_view& p, OnFrame&) {
        ndis_version_ = (x.major << 16) | (x.minor & 0xffff);
        complete_empty(p);
    }
    template <class OnFrame>
    void on_message(const nvsp_send_receive_buffer& x, const vmbus_packet_view& p, OnFrame&) {
        auto mem = find_gpadl(x.gpadl);
        section_size_ = frame_mtu_ <= 1514
                            ? cfg_.receive_section_size
                            : std::max<std::uint32_t>(cfg_.receive_section_size,
                                                      static_cast<std::uint32_t>(align8(256 + std::size_t{frame_mtu_} + 36)));
        std::size_t count = mem ? mem->size() / section_size_ : 0;
        if (!mem || count == 0 || count > 0xffffffffu / section_size_) {
            ++counters_.unknown_gpadl;
            reply(nvsp_receive_buffer_complete{nvsp_status::failure, 0, {}}, p);
            return;
        }
        receive_.mem = *mem;
        receive_pool_.reset(static_cast<std::uint32_t>(count));
        auto n = static_cast<std::uint32_t>(count);
        reply(nvsp_receive_buffer_complete{nvsp_status::success, 1, {0, section_size_, n, n * section_size_}}, p);
    }
    template <class OnFrame>
    void on_message(const nvsp_send_send_buffer& x, const vmbus_packet_view& p, OnFrame&) {
        auto mem = find_gpadl(x.gpadl);
        if (!mem || mem->size() < cfg_.send_section_size) {
            ++counters_.unknown_gpadl;
            reply(nvsp_send_buffer_complete{nvsp_status::failure, 0}, p);
            return;
        }
        send_buf_ = *mem;
        send_sections_ = mem->size() / cfg_.send_section_size;
        reply(nvsp_send_buffer_complete{nvsp_status::success, cfg_.send_section_size}, p);
    }
    template <class OnFrame>
    void on_message(const nvsp_revoke_receive_buffer&, const vmbus_packet_view&, OnFrame&) {
        receive_.mem = {};
        receive_pool_.reset(0);
    }
    template <class OnFrame>
    void on_message(const nvsp_revoke_send_buffer&, const vmbus_packet_view&, OnFrame&) {
        send_buf_ = {};
        send_sections_ = 0;
    }
    template <class OnFrame>
    void on_message(const nvsp_switch_data_path& x, const vmbus_packet_view& p, OnFrame&) {
        data_path_ = x.datapath;
        complete_empty(p);
    }
    template <class OnFrame>
    void on_message(const nvsp_subchannel_request& x, const vmbus_packet_view& p, OnFrame&) {
        (void)x;
        reply(nvsp_subchannel_complete{nvsp_status::failure, 0}, p);
    }
    template <class OnFrame>
    void on_message(const nvsp_rndis_packet& x, const vmbus_packet_view& p, OnFrame& on_frame) {
        bool gpa = p.type() == vmbus_packet_type::data_using_gpa_direct;
        bytes_view in_section;
        if (!gpa || x.section_index != nvsp_no_section) {
            if (x.section_index == nvsp_no_section || x.section_index >= send_sections_ ||
                x.section_size > cfg_.send_section_size) {
                ++counters_.bad_send_section;
                complete(p, nvsp_status::failure);
                return;
            }
            in_section = bytes_view(send_buf_).subspan(std::size_t{x.section_index} * cfg_.send_section_size, x.section_size);
        }
        bytes_view rndis = in_section;
        if (gpa) {
            // Section bytes first (a partial copy), then the ranges.
            std::copy(in_section.begin(), in_section.end(), gather_.begin());
            auto g = gather(p, in_section.size());
            if (!g) {
                complete(p, nvsp_status::failure);
                return;
            }
            rndis = *g;
        }
        complete(p, handle_rndis_batch(rndis, on_frame));
    }
    /// Messages a guest never sends (completions, host-to-guest messages).
    template <class T, class OnFrame>
    void on_message(const T&, const vmbus_packet_view&, OnFrame&) {
        ++counters_.unexpected_messages;
    }

    void reply(const nvsp_message& m, const vmbus_packet_view& p) {
        if (pending_.empty() && ep_.send_completion(m, p.trans_id())) return;
        pending_reply r;
        r.trans_id = p.trans_id();
        r.completion = m;
        enqueue(std::move(r));
    }
    void complete(const vmbus_packet_view& p, std::uint32_t status) {
        if (p.completion_requested()) reply(nvsp_rndis_packet_complete{status}, p);
    }
    /// A COMP packet without payload, when the guest asked for a completion.
    void complete_empty(const vmbus_packet_view& p) {
        if (!p.completion_requested()) return;
        ++counters_.empty_completions;
        if (pending_.empty() && ep_.write(vmbus_packet_type::completion, 0, p.trans_id(), {}, {})) return;
        pending_reply r;
        r.trans_id = p.trans_id();
        r.empty_completion = true;
        enqueue(std::move(r));
    }

    /// Copies the GPA-direct ranges of p out of guest memory into gather_ after the first
    /// `at` bytes; each range runs from offset in its first page through its next pages.
    result<bytes_view> gather(const vmbus_packet_view& p, std::size_t at) {
        constexpr std::size_t page = vmbus_page_size;
        bool ok = true;
        p.for_each_gpa([&](const gpa_range_view& r) {
            if (!ok) return;
            if (!in_bounds(gather_.size(), at, r.len())) {
                ok = false;
                return;
            }
            std::size_t left = r.len(), in_page = r.offset();
            for (std::size_t j = 0; j < r.page_count() && left > 0; ++j, in_page = 0) {
                std::size_t n = std::min(left, page - in_page);
                if (r.pfn(j) >= guest_memory_.size() / page) {
                    ok = false;
                    return;
                }
                auto src = bytes_view(guest_memory_).subspan(r.pfn(j) * page + in_page, n);
                std::copy(src.begin(), src.end(), gather_.begin() + static_cast<std::ptrdiff_t>(at));
                at += n;
                left -= n;
            }
        });
        if (!ok) {
            ++counters_.bad_gpa_range;
            return fail(layer::netvsc, errc::bad_pointer, "vsp.gpa_range");
        }
        return bytes_view(gather_).first(at);
    }

    /// Handles every RNDIS message of a send section or gather buffer; each but the last
    /// is padded to 8 bytes (the alignment advertised in INIT_C).
    template <class OnFrame>
    std::uint32_t handle_rndis_batch(bytes_view b, OnFrame& on_frame) {
        std::size_t off = 0;
        bool any = false;
        while (b.size() - off >= rndis_message_view::header_len) {
            auto m = rndis_message_view::parse(b.subspan(off));
            if (!m) {
                ++counters_.bad_rndis;
                return nvsp_status::invalid_rndis_packet;
            }
            if (!handle_rndis(*m, on_frame)) return nvsp_status::invalid_rndis_packet;
            any = true;
            off += align8(m->length());
            if (off >= b.size()) break;
        }
        if (!any) {
            ++counters_.bad_rndis;
            return nvsp_status::invalid_rndis_packet;
        }
        return nvsp_status::success;
    }

    template <class OnFrame>
    bool handle_rndis(const rndis_message_view& m, OnFrame& on_frame) {
        if (m.type() == rndis_type::packet) {
            auto pkt = rndis_packet_view::parse(m);
            if (!pkt) {
                ++counters_.bad_rndis;
                return false;
            }
            ++counters_.frames_from_guest;
            counters_.bytes_from_guest += pkt->frame().size();
            on_frame(pkt->frame(), pkt->info());
            return true;
        }
        ++counters_.rndis_control;
        switch (m.type()) {
            case rndis_type::init: {
                rndis_init_complete c{m.u32(8)};  // request id @8
                c.max_transfer_size = cfg_.send_section_size;
                rndis_ready_ = true;
                send_control(c);
                return true;
            }
            case rndis_type::query:
            case rndis_type::set: {
                auto r = rndis_oid_request::parse(m);
                if (!r) {
                    ++counters_.bad_rndis;
                    return false;
                }
                if (r->type == rndis_type::query) on_query(*r);
                else on_set(*r);
                return true;
            }
            case rndis_type::reset:
                packet_filter_ = 0;
                send_control(rndis_reset_complete{rndis_status::success, 0});
                return true;
            case rndis_type::halt: rndis_ready_ = false; return true;
            case rndis_type::keepalive:
                send_control(rndis_simple_complete{rndis_type::keepalive_complete, m.u32(8), rndis_status::success});
                return true;
            default: ++counters_.unexpected_messages; return true;
        }
    }

    void on_query(const rndis_oid_request& r) {
        std::array<std::byte, ndis_offload_size_min> info{};
        std::size_t n = 4;
        std::uint32_t status = rndis_status::success;
        switch (r.oid) {
            case rndis_oid::gen_maximum_frame_size: store_le32(info, 0, frame_mtu_ - 14); break;
            case rndis_oid::gen_link_speed: store_le32(info, 0, cfg_.link_speed); break;
            case rndis_oid::gen_media_connect_status:
                // The guest now knows the current state; a waiting indication is moot.
                store_le32(info, 0, link_up_ ? rndis_media_connected : rndis_media_disconnected);
                guest_link_ = link_up_;
                link_queue_.clear();
                break;
            case rndis_oid::gen_current_packet_filter: store_le32(info, 0, packet_filter_); break;
            case rndis_oid::permanent_address_802_3:
            case rndis_oid::current_address_802_3:
                cfg_.mac.store(info, 0);
                n = mac_address::size;
                break;
            case rndis_oid::tcp_offload_hardware_capabilities:
                // NDIS_OBJECT_HEADER {u8 type 0xA7, u8 revision 1, u16 size 112}; every
                // capability zero: the guest enables no offload.
                store_u8(info, 0, ndis_object_type_offload);
                store_u8(info, 1, 1);
                store_le16(info, 2, static_cast<std::uint16_t>(ndis_offload_size_min));
                n = ndis_offload_size_min;
                break;
            default:
                ++counters_.unknown_oids;
                status = rndis_status::not_supported;
                n = 0;
                break;
        }
        send_control(rndis_query_complete{r.request_id, status, bytes_view(info).first(n)});
    }

    void on_set(const rndis_oid_request& r) {
        std::uint32_t status = rndis_status::success;
        switch (r.oid) {
            case rndis_oid::gen_current_packet_filter:
                if (r.info.size() < 4) status = rndis_status::invalid_data;
                else packet_filter_ = load_le32(r.info, 0);
                break;
            case rndis_oid::tcp_offload_parameters:
                if (r.info.size() < 4 || load_u8(r.info, 0) != ndis_object_type_offload_parameters)
                    status = rndis_status::invalid_data;
                else offload_set_ = true;
                break;
            case rndis_oid::gen_rndis_config_parameter: break;
            default:
                ++counters_.unknown_oids;
                status = rndis_status::not_supported;
                break;
        }
        send_control(rndis_simple_complete{rndis_type::set_complete, r.request_id, status});
    }

    template <class Msg>
    void send_control(const Msg& msg) {
        pending_reply r;
        auto n = msg.emit(r.control);
        if (!n) {
            ++counters_.control_reply_dropped;
            return;
        }
        r.control_len = *n;
        if (pending_.empty() && receive_.mem.data()) {
            if (auto sec = receive_pool_.take()) {
                std::copy_n(r.control.begin(), r.control_len, section(*sec).begin());
                if (post_section(*sec, r.control_len, nvsp_rndis_packet::control)) return;
            }
        }
        enqueue(std::move(r));
    }

    channel_endpoint ep_;
    vsp_config cfg_;
    std::array<gpadl, max_gpadls> gpadls_{};
    bytes_span guest_memory_{};
    struct {
        bytes_span mem{};
    } receive_;
    section_pool receive_pool_;
    bytes_span send_buf_{};
    std::size_t send_sections_ = 0;
    std::uint32_t version_ = 0;
    std::uint32_t ndis_version_ = 0;
    nvsp_ndis_config ndis_config_{};
    std::uint32_t frame_mtu_;     // negotiated MTU + 14
    std::uint32_t section_size_;  // receive section size chosen when the buffer was mapped
    bool rndis_ready_ = false;
    bool link_up_ = true;
    bool guest_link_ = true;        // what the guest was last told
    std::vector<bool> link_queue_;  // indications waiting for link_spacing (at most 2)
    std::optional<std::chrono::steady_clock::time_point> last_indication_;
    std::deque<pending_reply> pending_;
    bool offload_set_ = false;
    std::uint32_t packet_filter_ = 0;
    std::uint32_t data_path_ = nvsp_switch_data_path::synthetic;
    std::vector<std::byte> gather_;
    vsp_counters counters_{};
};

}  // namespace vnet::netvsc

template <>
struct fmt::formatter<vnet::netvsc::vsp_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::vsp_counters& c, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "packets {}, from guest {} frames {} bytes, to guest {} frames {} bytes", c.packets,
                                  c.frames_from_guest, c.bytes_from_guest, c.frames_to_guest, c.bytes_to_guest);
        const std::pair<const char*, std::uint64_t> refusals[] = {
            {"ring_errors", c.ring_errors},
            {"unexpected_packets", c.unexpected_packets},
            {"short_messages", c.short_messages},
            {"bad_messages", c.bad_messages},
            {"unexpected_messages", c.unexpected_messages},
            {"version_refused", c.version_refused},
            {"unknown_gpadl", c.unknown_gpadl},
            {"bad_send_section", c.bad_send_section},
            {"bad_gpa_range", c.bad_gpa_range},
            {"bad_rndis", c.bad_rndis},
            {"unknown_oids", c.unknown_oids},
            {"control_reply_dropped", c.control_reply_dropped},
            {"queued", c.queued},
            {"backpressure", c.backpressure},
            {"not_ready", c.not_ready},
            {"link_down", c.link_down},
            {"filtered", c.filtered},
            {"too_long", c.too_long},
            {"no_receive_section", c.no_receive_section},
            {"ring_full", c.ring_full},
            {"bad_completions", c.bad_completions},
        };
        for (const auto& [name, v] : refusals)
            if (v != 0) out = fmt::format_to(out, ", {} {}", name, v);
        return out;
    }
};
