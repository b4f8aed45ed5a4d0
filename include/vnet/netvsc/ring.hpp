// vnet/netvsc/ring.hpp - one VMBus ring buffer over caller-provided shared memory, and the
// split of a channel's GPADL into its two rings.
//
// Layout and rules from docs/netvsc-facts.md section 1 (L-hv struct hv_ring_buffer, L-rb):
//   header page (4096 bytes): u32 write_index @0, u32 read_index @4, u32 interrupt_mask @8,
//   u32 pending_send_sz @12, u32 feature_bits @64 (bit 0 feat_pending_send_sz); the data
//   area follows. Indices are byte offsets into the data area.
//   A packet is the descriptor, its type header, payload, zero padding to 8 bytes, then
//   the u64 trailer (start write index << 32). The reader advances len8 * 8 + 8.
//   Readable = w >= r ? w - r : size - r + w; writable = size - readable; empty when r == w.
//   A write fails when writable <= total + 8: the ring is never filled completely.
//   The writer signals only if interrupt_mask == 0 and the ring was empty before its write
//   (old write_index == read_index). The reader, after advancing, signals only if
//   feat_pending_send_sz is set, pending_send_sz != 0, space before <= pending and space
//   after >= pending.
// No I/O: write() and read() return "signal needed" booleans; the caller rings the doorbell.
//
// Hostile peer: each side keeps its own index privately and reads the peer's index, the
// interrupt mask, pending_send_sz and feature bits from shared memory exactly once per
// operation into a local, validates it (inside the data area, 8-byte aligned, lengths no
// larger than what is readable) and turns a bad value into an error value and a named
// counter. A packet is copied out of the ring into the caller's scratch buffer before it
// is parsed, so the peer cannot change it under the parser. Hyper-V rings are whole pages;
// this model accepts any data area that is a multiple of 8 bytes (small rings keep the
// wrap-around tests short).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/netvsc/vmbus_packet.hpp>

namespace vnet::netvsc {

inline constexpr std::size_t ring_header_len = 4096;
/// The smallest data area accepted: room for one descriptor, trailer and the gap.
inline constexpr std::size_t ring_min_data_len = 64;
/// feature_bits bit 0: the reader honours pending_send_sz (docs/netvsc-facts.md section 1).
inline constexpr std::uint32_t ring_feature_pending_send_size = 1;

namespace ring_field {
inline constexpr std::size_t write_index = 0, read_index = 4, interrupt_mask = 8, pending_send_size = 12, feature_bits = 64;
}  // namespace ring_field
static_assert(ring_field::feature_bits == 16 + 12 * 4);

/// Checks that mem can hold a ring: the header page plus a data area of at least
/// ring_min_data_len bytes, a multiple of 8, below 2^31.
constexpr result<std::size_t> ring_data_len(std::size_t mem_len) noexcept {
    if (mem_len < ring_header_len + ring_min_data_len) return fail(layer::netvsc, errc::truncated, "ring.memory");
    std::size_t n = mem_len - ring_header_len;
    if (n % 8 != 0 || n >= (std::size_t{1} << 31)) return fail(layer::netvsc, errc::bad_length, "ring.memory");
    return n;
}

/// Zeroes the header page (both indices 0, not masked, nothing pending) and advertises
/// feat_pending_send_sz, as the side that creates the ring does.
constexpr result<void> ring_init(bytes_span mem) noexcept {
    auto n = ring_data_len(mem.size());
    if (!n) return unexpected(n.error());
    for (std::size_t i = 0; i < ring_header_len; ++i) mem[i] = std::byte{0};
    store_le32(mem, ring_field::feature_bits, ring_feature_pending_send_size);
    return {};
}

/// Readable bytes between r and w in a data area of size n (docs/netvsc-facts.md section 1).
constexpr std::size_t ring_readable(std::size_t w, std::size_t r, std::size_t n) noexcept { return w >= r ? w - r : n - r + w; }

/// Refusals of one ring endpoint, each a named counter.
struct ring_counters {
    std::uint64_t packets = 0;         // packets written or read
    std::uint64_t full = 0;            // writes refused: not enough space (never fill completely)
    std::uint64_t bad_peer_index = 0;  // the peer's index out of the data area or misaligned
    std::uint64_t bad_descriptor = 0;  // offset8 / len8 impossible or longer than what is readable
    std::uint64_t bad_packet = 0;      // a type 7 / 9 range header that does not fit
    std::uint64_t scratch_too_small = 0;
    std::uint64_t bad_request = 0;  // a write whose type header is not a multiple of 8 or too long
    friend constexpr bool operator==(const ring_counters&, const ring_counters&) = default;
};

namespace detail {
/// Copies src into the data area at ring offset off, wrapping at the end.
constexpr std::size_t ring_copy_in(bytes_span data, std::size_t off, bytes_view src) noexcept {
    std::size_t n = data.size();
    std::size_t first = std::min(src.size(), n - off);
    std::copy(src.begin(), src.begin() + static_cast<std::ptrdiff_t>(first), data.begin() + static_cast<std::ptrdiff_t>(off));
    std::copy(src.begin() + static_cast<std::ptrdiff_t>(first), src.end(), data.begin());
    return (off + src.size()) % n;
}
/// Copies out.size() bytes from the data area at ring offset off into out, wrapping.
constexpr void ring_copy_out(bytes_view data, std::size_t off, bytes_span out) noexcept {
    std::size_t n = data.size();
    std::size_t first = std::min(out.size(), n - off);
    std::copy(data.begin() + static_cast<std::ptrdiff_t>(off), data.begin() + static_cast<std::ptrdiff_t>(off + first),
              out.begin());
    std::copy(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(out.size() - first),
              out.begin() + static_cast<std::ptrdiff_t>(first));
}
inline void full_barrier() noexcept { std::atomic_thread_fence(std::memory_order_seq_cst); }
}  // namespace detail

struct write_outcome {
    bool signal_reader = false;  // interrupt_mask was 0 and the ring went from empty to non-empty
    std::size_t bytes = 0;       // bytes taken in the ring, trailer included
};

/// The producer end of one ring.
class ring_writer {
public:
    /// Attaches to an initialised ring; the write index in shared memory becomes this
    /// writer's private index (it must be inside the data area and 8-byte aligned).
    static result<ring_writer> attach(bytes_span mem) noexcept {
        auto n = ring_data_len(mem.size());
        if (!n) return unexpected(n.error());
        std::uint32_t w = load_le32(mem, ring_field::write_index);
        if (w >= *n || w % 8 != 0) return fail(layer::netvsc, errc::bad_pointer, "ring.write_index");
        return ring_writer(mem, w);
    }

    /// Writes one packet: the descriptor (type, offset8, len8, flags, trans_id), type_header
    /// (the bytes after the descriptor: empty for in-band and completion packets, a multiple
    /// of 8), payload, padding to 8 and the trailer. Errors: exhausted when the packet does
    /// not fit (nothing written), bad_pointer when the peer's read index is invalid.
    result<write_outcome> write(vmbus_packet_type type, std::uint16_t flags, std::uint64_t trans_id, bytes_view type_header,
                                bytes_view payload) noexcept {
        std::size_t header = vmbus_descriptor_len + type_header.size();
        std::size_t total = align8(header + payload.size());
        if (type_header.size() % 8 != 0 || total / 8 > 0xffff) {
            ++counters_.bad_request;
            return fail(layer::netvsc, errc::bad_length, "ring.packet");
        }
        std::uint32_t r = load_le32(hdr_, ring_field::read_index);  // read once
        if (r >= data_.size() || r % 8 != 0) {
            ++counters_.bad_peer_index;
            return fail(layer::netvsc, errc::bad_pointer, "ring.read_index");
        }
        std::size_t writable = data_.size() - ring_readable(w_, r, data_.size());
        if (writable <= total + vmbus_trailer_len) {
            ++counters_.full;
            return fail(layer::netvsc, errc::exhausted, "ring.space");
        }
        std::array<std::byte, vmbus_descriptor_len> d{};
        store_le16(d, vmbus_field::type, static_cast<std::uint16_t>(type));
        store_le16(d, vmbus_field::offset8, static_cast<std::uint16_t>(header / 8));
        store_le16(d, vmbus_field::len8, static_cast<std::uint16_t>(total / 8));
        store_le16(d, vmbus_field::flags, flags);
        store_le64(d, vmbus_field::trans_id, trans_id);
        std::size_t old = w_;
        std::size_t off = detail::ring_copy_in(data_, w_, d);
        off = detail::ring_copy_in(data_, off, type_header);
        off = detail::ring_copy_in(data_, off, payload);
        constexpr std::array<std::byte, 8> zeros{};
        off = detail::ring_copy_in(data_, off, bytes_view(zeros).first(total - header - payload.size()));
        std::array<std::byte, 8> trailer{};
        store_le64(trailer, 0, std::uint64_t{old} << 32);
        off = detail::ring_copy_in(data_, off, trailer);
        detail::full_barrier();
        w_ = static_cast<std::uint32_t>(off);
        store_le32(hdr_, ring_field::write_index, w_);
        detail::full_barrier();
        std::uint32_t mask = load_le32(hdr_, ring_field::interrupt_mask);
        ++counters_.packets;
        return write_outcome{mask == 0 && old == r, total + vmbus_trailer_len};
    }

    /// Bytes the next write may take in all, trailer included (writable - 1 rounded down to 8,
    /// since the ring is never filled completely); errors on an invalid peer read index.
    result<std::size_t> space() noexcept {
        std::uint32_t r = load_le32(hdr_, ring_field::read_index);
        if (r >= data_.size() || r % 8 != 0) {
            ++counters_.bad_peer_index;
            return fail(layer::netvsc, errc::bad_pointer, "ring.read_index");
        }
        std::size_t writable = data_.size() - ring_readable(w_, r, data_.size());
        return writable <= 8 ? 0 : writable - 8;
    }

    /// A blocked writer asks the reader to signal once this many bytes are free
    /// (pending_send_sz); 0 withdraws the request.
    void set_pending_send_size(std::uint32_t bytes) noexcept { store_le32(hdr_, ring_field::pending_send_size, bytes); }

    std::size_t data_len() const noexcept { return data_.size(); }
    std::uint32_t write_index() const noexcept { return w_; }
    const ring_counters& counters() const noexcept { return counters_; }

private:
    ring_writer(bytes_span mem, std::uint32_t w) noexcept
            : hdr_(mem.first(ring_header_len)), data_(mem.subspan(ring_header_len)), w_(w) {}
    bytes_span hdr_;
    bytes_span data_;
    std::uint32_t w_;
    ring_counters counters_{};
};

struct read_outcome {
    vmbus_packet_view packet;    // over the caller's scratch buffer
    bool signal_writer = false;  // the pending_send_sz rule says the blocked writer must be woken
};

/// The consumer end of one ring.
class ring_reader {
public:
    static result<ring_reader> attach(bytes_span mem) noexcept {
        auto n = ring_data_len(mem.size());
        if (!n) return unexpected(n.error());
        std::uint32_t r = load_le32(mem, ring_field::read_index);
        if (r >= *n || r % 8 != 0) return fail(layer::netvsc, errc::bad_pointer, "ring.read_index");
        return ring_reader(mem, r);
    }

    /// Copies the next packet into scratch, checks it and consumes it. nullopt when the
    /// ring is empty. On an error nothing is consumed and the ring stays as it was.
    result<std::optional<read_outcome>> read(bytes_span scratch) noexcept {
        std::uint32_t w = load_le32(hdr_, ring_field::write_index);  // read once
        if (w >= data_.size() || w % 8 != 0) {
            ++counters_.bad_peer_index;
            return fail(layer::netvsc, errc::bad_pointer, "ring.write_index");
        }
        std::size_t readable = ring_readable(w, r_, data_.size());
        if (readable == 0) return std::optional<read_outcome>{};
        detail::full_barrier();
        if (readable < vmbus_descriptor_len + vmbus_trailer_len) {
            ++counters_.bad_descriptor;
            return fail(layer::netvsc, errc::truncated, "ring.packet");
        }
        if (scratch.size() < vmbus_descriptor_len) {
            ++counters_.scratch_too_small;
            return fail(layer::netvsc, errc::buffer_too_small, "ring.scratch");
        }
        // The descriptor is copied once; the copy is what is validated and parsed.
        detail::ring_copy_out(data_, r_, scratch.first(vmbus_descriptor_len));
        std::size_t len = std::size_t{load_le16(scratch, vmbus_field::len8)} * 8;
        std::size_t off = std::size_t{load_le16(scratch, vmbus_field::offset8)} * 8;
        if (len < vmbus_descriptor_len || off < vmbus_descriptor_len || off > len || len + vmbus_trailer_len > readable) {
            ++counters_.bad_descriptor;
            return fail(layer::netvsc, errc::bad_length, "ring.descriptor");
        }
        if (scratch.size() < len) {
            ++counters_.scratch_too_small;
            return fail(layer::netvsc, errc::buffer_too_small, "ring.scratch");
        }
        detail::ring_copy_out(data_, (r_ + vmbus_descriptor_len) % data_.size(),
                              scratch.subspan(vmbus_descriptor_len, len - vmbus_descriptor_len));
        auto v = vmbus_packet_view::parse(scratch.first(len));
        if (!v) {
            ++counters_.bad_packet;
            return unexpected(v.error());
        }
        std::size_t before = data_.size() - readable;
        r_ = static_cast<std::uint32_t>((r_ + len + vmbus_trailer_len) % data_.size());
        detail::full_barrier();
        store_le32(hdr_, ring_field::read_index, r_);
        detail::full_barrier();
        std::size_t after = before + len + vmbus_trailer_len;
        ++counters_.packets;
        return std::optional<read_outcome>{read_outcome{*v, signal_after_read(before, after)}};
    }

    /// Sets interrupt_mask: the writer need not signal while this reader is polling.
    void mask_interrupts() noexcept { store_le32(hdr_, ring_field::interrupt_mask, 1); }
    /// Clears interrupt_mask; true when data arrived meanwhile (the reader must poll again,
    /// since the writer saw the mask and did not signal).
    result<bool> unmask_interrupts() noexcept {
        store_le32(hdr_, ring_field::interrupt_mask, 0);
        detail::full_barrier();
        std::uint32_t w = load_le32(hdr_, ring_field::write_index);
        if (w >= data_.size() || w % 8 != 0) {
            ++counters_.bad_peer_index;
            return fail(layer::netvsc, errc::bad_pointer, "ring.write_index");
        }
        return w != r_;
    }

    std::size_t data_len() const noexcept { return data_.size(); }
    std::uint32_t read_index() const noexcept { return r_; }
    const ring_counters& counters() const noexcept { return counters_; }

private:
    ring_reader(bytes_span mem, std::uint32_t r) noexcept
            : hdr_(mem.first(ring_header_len)), data_(mem.subspan(ring_header_len)), r_(r) {}

    bool signal_after_read(std::size_t before, std::size_t after) const noexcept {
        std::uint32_t features = load_le32(hdr_, ring_field::feature_bits);
        if ((features & ring_feature_pending_send_size) == 0) return false;
        std::uint32_t pending = load_le32(hdr_, ring_field::pending_send_size);
        return pending != 0 && before <= pending && after >= pending;
    }

    bytes_span hdr_;
    bytes_span data_;
    std::uint32_t r_;
    ring_counters counters_{};
};

/// The two rings of a channel inside its one GPADL (docs/netvsc-facts.md section 1): the
/// guest-to-host ring at offset 0, the host-to-guest ring at downstream_page_offset pages.
struct channel_rings {
    bytes_span guest_to_host;
    bytes_span host_to_guest;
};

constexpr result<channel_rings> split_channel_memory(bytes_span gpadl, std::size_t downstream_page_offset) noexcept {
    if (downstream_page_offset == 0 || downstream_page_offset > gpadl.size() / vmbus_page_size)
        return fail(layer::netvsc, errc::bad_value, "ring.downstream_offset");
    std::size_t split = downstream_page_offset * vmbus_page_size;
    channel_rings c{gpadl.first(split), gpadl.subspan(split)};
    if (auto a = ring_data_len(c.guest_to_host.size()); !a) return unexpected(a.error());
    if (auto b = ring_data_len(c.host_to_guest.size()); !b) return unexpected(b.error());
    return c;
}

}  // namespace vnet::netvsc

template <>
struct fmt::formatter<vnet::netvsc::ring_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::netvsc::ring_counters& c, Ctx& ctx) const {
        return fmt::format_to(ctx.out(),
                              "packets {}, full {}, bad_peer_index {}, bad_descriptor {}, bad_packet {}, "
                              "scratch_too_small {}, bad_request {}",
                              c.packets, c.full, c.bad_peer_index, c.bad_descriptor, c.bad_packet, c.scratch_too_small,
                              c.bad_request);
    }
};
