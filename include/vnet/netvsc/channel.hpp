// vnet/netvsc/channel.hpp - one end of a netvsc VMBus channel: the ring it reads, the ring
// it writes, and a scratch buffer packets are copied into before they are parsed.
//
// The host (vsp.hpp) reads the guest-to-host ring and writes the host-to-guest ring; the
// guest (vsc.hpp) the other way round (docs/netvsc-facts.md section 1: one GPADL, guest-to-host
// ring at offset 0). Signals are accumulated into a flag the owner hands back to its
// caller ("signal the peer"), never raised here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/netvsc/nvsp.hpp>
#include <vnet/netvsc/ring.hpp>
#include <vnet/netvsc/vmbus_packet.hpp>

namespace vnet::netvsc {

/// Which end of the channel this is.
enum class channel_side : std::uint8_t { host, guest };

class channel_endpoint {
public:
    /// The largest packet accepted from the peer (copied into scratch before parsing).
    static constexpr std::size_t max_packet_len = 16384;

    /// Attaches to the two rings of a channel (initialised by the guest with ring_init).
    static result<channel_endpoint> attach(channel_rings rings, channel_side side) {
        bytes_span in = side == channel_side::host ? rings.guest_to_host : rings.host_to_guest;
        bytes_span out = side == channel_side::host ? rings.host_to_guest : rings.guest_to_host;
        auto r = ring_reader::attach(in);
        if (!r) return unexpected(r.error());
        auto w = ring_writer::attach(out);
        if (!w) return unexpected(w.error());
        return channel_endpoint(*r, *w);
    }

    /// Reads the next packet (nullopt when the ring is empty); a writer blocked on the
    /// other side is noted in signal_peer.
    result<std::optional<vmbus_packet_view>> read() noexcept {
        auto got = in_.read(scratch_);
        if (!got) return unexpected(got.error());
        if (!*got) return std::optional<vmbus_packet_view>{};
        if ((*got)->signal_writer) signal_ = true;
        return std::optional<vmbus_packet_view>{(*got)->packet};
    }

    /// Writes a packet; signal_peer notes the writer-side rule.
    result<void> write(vmbus_packet_type type, std::uint16_t flags, std::uint64_t trans_id, bytes_view type_header,
                       bytes_view payload) noexcept {
        auto w = out_.write(type, flags, trans_id, type_header, payload);
        if (!w) return unexpected(w.error());
        if (w->signal_reader) signal_ = true;
        return {};
    }
    /// An NVSP message in an in-band packet.
    result<void> send_inband(const nvsp_message& m, std::uint64_t trans_id, bool completion) noexcept {
        auto b = make_nvsp(m);
        return write(vmbus_packet_type::data_inband, completion ? vmbus_flag_completion_requested : 0, trans_id, {}, b.view());
    }
    /// An NVSP message in a completion packet echoing trans_id.
    result<void> send_completion(const nvsp_message& m, std::uint64_t trans_id) noexcept {
        auto b = make_nvsp(m);
        return write(vmbus_packet_type::completion, 0, trans_id, {}, b.view());
    }

    /// True when a signal to the peer is owed since the last call; clears it.
    bool take_signal() noexcept {
        bool s = signal_;
        signal_ = false;
        return s;
    }

    ring_reader& reader() noexcept { return in_; }
    ring_writer& writer() noexcept { return out_; }
    const ring_reader& reader() const noexcept { return in_; }
    const ring_writer& writer() const noexcept { return out_; }

private:
    channel_endpoint(ring_reader r, ring_writer w) : in_(r), out_(w), scratch_(max_packet_len) {}
    ring_reader in_;
    ring_writer out_;
    std::vector<std::byte> scratch_;
    bool signal_ = false;
};

/// A fixed-capacity stack of free section indices (allocated once when a buffer is
/// mapped, never per frame).
class section_pool {
public:
    void reset(std::uint32_t count) {
        free_.clear();
        busy_.assign(count, false);
        free_.reserve(count);
        for (std::uint32_t i = count; i > 0; --i) free_.push_back(i - 1);
    }
    std::optional<std::uint32_t> take() noexcept {
        if (free_.empty()) return std::nullopt;
        std::uint32_t i = free_.back();
        free_.pop_back();
        busy_[i] = true;
        return i;
    }
    /// Frees a section; false when it is out of range or not in use (a bogus completion).
    bool give_back(std::uint64_t i) noexcept {
        if (i >= busy_.size() || !busy_[i]) return false;
        busy_[i] = false;
        free_.push_back(static_cast<std::uint32_t>(i));
        return true;
    }
    std::size_t count() const noexcept { return busy_.size(); }
    std::size_t available() const noexcept { return free_.size(); }
    std::size_t in_use() const noexcept { return busy_.size() - free_.size(); }

private:
    std::vector<std::uint32_t> free_;
    std::vector<bool> busy_;
};

}  // namespace vnet::netvsc
