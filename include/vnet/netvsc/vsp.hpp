// vnet/netvsc/vsp.hpp - the host side of a netvsc channel (the VSP), in memory.
//
// What it answers, from docs/netvsc-facts.md section 2 and 3:
// - NVSP INIT: the highest version it supports inside the guest's [min, max] (the Linux
//   guest asks min = max, newest first); INIT_COMPLETE status 1 with that version, or
//   status 2 (failure) so the guest retries an older one. Completions for INIT,
//   SEND_RECV_BUF, SEND_SEND_BUF and SUBCHANNEL are COMP packets echoing trans_id.
// - NDIS_CONFIG (from NVSP 2) and SEND_NDIS_VER are recorded; no reply.
// - SEND_RECV_BUF: the GPADL (a span the caller registered with add_gpadl) becomes the
//   receive buffer, cut into sections of receive_section_size; the completion carries one
//   section {offset 0, sub_alloc_size, num_sub_allocs, end_offset}.
// - SEND_SEND_BUF: the GPADL becomes the send buffer; the completion gives section_size.
// - SEND_RNDIS_PKT in-band (send-buffer section i) or GPA-direct (type 9, index
//   0xFFFFFFFF): every RNDIS message in it is handled (several are batched, each padded
//   to 8 bytes, the alignment this VSP advertises in INIT_C); a COMP {108, status} is
//   returned when the guest asked for one.
// - RNDIS INIT, QUERY, SET, RESET, HALT, KEEPALIVE; the OIDs the Linux guest uses
//   (section 3, "Linux guest RNDIS init order"). RSS is not offered (the guest stays on
//   one queue), SUBCHANNEL requests fail.
// - Host to guest: every RNDIS message (frames, control completions, status indications)
//   goes into one free receive-buffer section and a type 7 packet (pageset 0xCAFE, one
//   range, payload NVSP 107) with trans_id = section; the guest's COMP {108} frees it.
//
// For a switch port adapter: poll(on_frame) hands each frame from the guest to on_frame
// (bytes_view valid during the call) and deliver(frame, info) sends one to the guest,
// returning an error value when it cannot (no receive section free, ring full, link down,
// RNDIS not initialised, packet filter 0). set_link(up) raises MEDIA_CONNECT / DISCONNECT.
// Every refusal is a named counter in vsp_counters.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
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

namespace vnet::netvsc {

/// Bit of nvsp_version::newest_first[i] in vsp_config::versions.
constexpr std::uint8_t nvsp_version_bit(std::uint32_t version) noexcept {
    for (std::size_t i = 0; i < nvsp_version::newest_first.size(); ++i)
        if (nvsp_version::newest_first[i] == version) return static_cast<std::uint8_t>(1u << i);
    return 0;
}

struct vsp_config {
    mac_address mac{};
    std::uint32_t mtu = 1500;
    std::uint32_t link_speed = 100'000'000;     // OID_GEN_LINK_SPEED, units of 100 bps: 10 Gbps
    std::uint8_t versions = 0x3f;               // nvsp_version_bit of each supported version
    std::uint32_t receive_section_size = 1728;  // sub_alloc_size (docs/netvsc-facts.md section 2, step 5)
    std::uint32_t send_section_size = 6144;     // vnet's choice; the guest takes what the completion says
    bool link_up = true;
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
    std::uint64_t control_reply_dropped = 0;  // no receive section or ring space for a reply
    std::uint64_t frames_from_guest = 0;
    std::uint64_t bytes_from_guest = 0;
    std::uint64_t frames_to_guest = 0;
    std::uint64_t bytes_to_guest = 0;
    std::uint64_t not_ready = 0;           // deliver() before RNDIS INIT / receive buffer
    std::uint64_t link_down = 0;           // deliver() while the link is down
    std::uint64_t filtered = 0;            // deliver() with packet filter 0
    std::uint64_t too_long = 0;            // deliver() of a frame above MTU + 14 (+ 4 tagged)
    std::uint64_t no_receive_section = 0;  // deliver(): every receive section in flight
    std::uint64_t ring_full = 0;           // a write to the host-to-guest ring did not fit
    std::uint64_t bad_completions = 0;     // COMP for a section not in flight
    std::uint64_t status_indications = 0;  // MEDIA_CONNECT / DISCONNECT sent
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
        while (res.packets < budget) {
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
        if (frame.size() > std::size_t{cfg_.mtu} + 14 + (info.vlan ? 0 : 4)) {
            ++counters_.too_long;
            return fail(layer::netvsc, errc::too_long, "vsp.frame");
        }
        auto sec = receive_pool_.take();
        if (!sec) {
            ++counters_.no_receive_section;
            return fail(layer::netvsc, errc::exhausted, "vsp.receive_buffer");
        }
        auto n = emit_rndis_packet(section(*sec), info, frame);
        if (!n) {
            receive_pool_.give_back(*sec);
            ++counters_.too_long;
            return unexpected(n.error());
        }
        if (auto w = post_section(*sec, *n, nvsp_rndis_packet::data); !w) return unexpected(w.error());
        ++counters_.frames_to_guest;
        counters_.bytes_to_guest += frame.size();
        return ep_.take_signal();
    }

    /// Link up / down: answered by OID_GEN_MEDIA_CONNECT_STATUS and, once RNDIS is
    /// initialised, indicated with RNDIS_STATUS_MEDIA_CONNECT / MEDIA_DISCONNECT.
    /// Returns whether the guest must be signalled.
    result<bool> set_link(bool up) {
        if (up == link_up_) return false;
        link_up_ = up;
        if (!rndis_ready_ || !receive_.mem.data()) return false;
        auto sec = receive_pool_.take();
        if (!sec) {
            ++counters_.control_reply_dropped;
            return fail(layer::netvsc, errc::exhausted, "vsp.receive_buffer");
        }
        auto n = rndis_indicate_status{up ? rndis_status::media_connect : rndis_status::media_disconnect}.emit(section(*sec));
        if (auto w = post_section(*sec, *n, nvsp_rndis_packet::control); !w) return unexpected(w.error());
        ++counters_.status_indications;
        return ep_.take_signal();
    }

    // ---- state, for tests and port adapters ----
    std::uint32_t protocol_version() const noexcept { return version_; }
    std::uint32_t ndis_version() const noexcept { return ndis_version_; }
    const nvsp_ndis_config& ndis_config() const noexcept { return ndis_config_; }
    bool rndis_ready() const noexcept { return rndis_ready_; }
    std::uint32_t packet_filter() const noexcept { return packet_filter_; }
    bool link_up() const noexcept { return link_up_; }
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

    vsp(channel_endpoint ep, const vsp_config& cfg)
            : ep_(std::move(ep)), cfg_(cfg), link_up_(cfg.link_up), gather_(max_gather_len) {}

    std::optional<bytes_span> find_gpadl(std::uint32_t id) const noexcept {
        for (const auto& g : gpadls_)
            if (g.mem.data() != nullptr && g.id == id) return g.mem;
        return std::nullopt;
    }

    bytes_span section(std::uint32_t i) noexcept {
        return receive_.mem.subspan(std::size_t{i} * cfg_.receive_section_size, cfg_.receive_section_size);
    }

    /// Posts receive section sec holding len bytes of RNDIS as a type 7 packet.
    result<void> post_section(std::uint32_t sec, std::size_t len, std::uint32_t channel_type) {
        std::array<xfer_page_range, 1> range{{{static_cast<std::uint32_t>(len), sec * cfg_.receive_section_size}}};
        std::array<std::byte, 16> th{};
        auto n = emit_xfer_page_header(th, nvsp_receive_buffer_id, false, range);
        auto msg = make_nvsp(nvsp_rndis_packet{channel_type, nvsp_no_section, 0});
        auto w = ep_.write(vmbus_packet_type::data_using_xfer_pages, vmbus_flag_completion_requested, sec,
                           bytes_view(th).first(*n), msg.view());
        if (!w) {
            receive_pool_.give_back(sec);
            ++counters_.ring_full;
            return unexpected(w.error());
        }
        return {};
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
    void on_message(const nvsp_ndis_config& x, const vmbus_packet_view&, OnFrame&) {
        if (version_ < nvsp_version::v2) {
            ++counters_.unexpected_messages;
            return;
        }
        ndis_config_ = x;
    }
    template <class OnFrame>
    void on_message(const nvsp_ndis_version& x, const vmbus_packet_view&, OnFrame&) {
        ndis_version_ = (x.major << 16) | (x.minor & 0xffff);
    }
    template <class OnFrame>
    void on_message(const nvsp_send_receive_buffer& x, const vmbus_packet_view& p, OnFrame&) {
        auto mem = find_gpadl(x.gpadl);
        std::size_t count = mem ? mem->size() / cfg_.receive_section_size : 0;
        if (!mem || count == 0 || count > 0xffffffffu / cfg_.receive_section_size) {
            ++counters_.unknown_gpadl;
            reply(nvsp_receive_buffer_complete{nvsp_status::failure, 0, {}}, p);
            return;
        }
        receive_.mem = *mem;
        receive_pool_.reset(static_cast<std::uint32_t>(count));
        auto n = static_cast<std::uint32_t>(count);
        reply(
            nvsp_receive_buffer_complete{
                nvsp_status::success, 1, {0, cfg_.receive_section_size, n, n * cfg_.receive_section_size}},
            p);
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
    void on_message(const nvsp_switch_data_path& x, const vmbus_packet_view&, OnFrame&) {
        data_path_ = x.datapath;
    }
    template <class OnFrame>
    void on_message(const nvsp_subchannel_request& x, const vmbus_packet_view& p, OnFrame&) {
        (void)x;
        reply(nvsp_subchannel_complete{nvsp_status::failure, 0}, p);
    }
    template <class OnFrame>
    void on_message(const nvsp_rndis_packet& x, const vmbus_packet_view& p, OnFrame& on_frame) {
        bytes_view rndis;
        if (p.type() == vmbus_packet_type::data_using_gpa_direct) {
            auto g = gather(p);
            if (!g) {
                complete(p, nvsp_status::failure);
                return;
            }
            rndis = *g;
        } else {
            if (x.section_index == nvsp_no_section || x.section_index >= send_sections_ ||
                x.section_size > cfg_.send_section_size) {
                ++counters_.bad_send_section;
                complete(p, nvsp_status::failure);
                return;
            }
            rndis = bytes_view(send_buf_).subspan(std::size_t{x.section_index} * cfg_.send_section_size, x.section_size);
        }
        complete(p, handle_rndis_batch(rndis, on_frame));
    }
    /// Messages a guest never sends (completions, host-to-guest messages).
    template <class T, class OnFrame>
    void on_message(const T&, const vmbus_packet_view&, OnFrame&) {
        ++counters_.unexpected_messages;
    }

    void reply(const nvsp_message& m, const vmbus_packet_view& p) {
        if (!ep_.send_completion(m, p.trans_id())) ++counters_.ring_full;
    }
    void complete(const vmbus_packet_view& p, std::uint32_t status) {
        if (p.completion_requested()) reply(nvsp_rndis_packet_complete{status}, p);
    }

    /// Copies the GPA-direct ranges of p out of guest memory into gather_.
    result<bytes_view> gather(const vmbus_packet_view& p) {
        std::size_t total = 0;
        for (std::size_t i = 0; i < p.range_count(); ++i) {
            gpa_range r = p.gpa(i);
            std::size_t page = vmbus_page_size;
            bool ok = r.pfn < guest_memory_.size() / page && in_bounds(page, r.offset, r.len) &&
                      in_bounds(gather_.size(), total, r.len);
            if (!ok) {
                ++counters_.bad_gpa_range;
                return fail(layer::netvsc, errc::bad_pointer, "vsp.gpa_range");
            }
            auto src = bytes_view(guest_memory_).subspan(r.pfn * page + r.offset, r.len);
            std::copy(src.begin(), src.end(), gather_.begin() + static_cast<std::ptrdiff_t>(total));
            total += r.len;
        }
        return bytes_view(gather_).first(total);
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
            case rndis_oid::gen_maximum_frame_size: store_le32(info, 0, cfg_.mtu); break;
            case rndis_oid::gen_link_speed: store_le32(info, 0, cfg_.link_speed); break;
            case rndis_oid::gen_media_connect_status:
                store_le32(info, 0, link_up_ ? rndis_media_connected : rndis_media_disconnected);
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
        if (!receive_.mem.data()) {
            ++counters_.control_reply_dropped;
            return;
        }
        auto sec = receive_pool_.take();
        if (!sec) {
            ++counters_.control_reply_dropped;
            return;
        }
        auto n = msg.emit(section(*sec));
        if (!n) {
            receive_pool_.give_back(*sec);
            ++counters_.control_reply_dropped;
            return;
        }
        if (!post_section(*sec, *n, nvsp_rndis_packet::control)) ++counters_.control_reply_dropped;
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
    bool rndis_ready_ = false;
    bool link_up_ = true;
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
