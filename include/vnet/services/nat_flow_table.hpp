// vnet/services/nat_flow_table.hpp - the NAT's translation table: one 20-byte record per
// flow and two hash indexes over it, one per direction.
//
// A flow is a 5-tuple seen from the inside (protocol, inside address and port, remote
// address and port) plus the external port the NAT gave it. The outbound index is keyed
// by that 5-tuple; the inbound index by (protocol, remote address, remote port, external
// port), which is what a reply carries (the external address is the NAT's only one).
// Records live in one vector with a free list (indexes, not pointers, so growth does not
// invalidate anything); each index is open addressing with linear probing over 32-bit
// record numbers and backward-shift deletion (no tombstones), kept at most half full.
// Memory per flow is therefore sizeof(nat_flow) + 2 * 4 bytes / load factor, about
// 36-40 bytes (bench/bench_nat.cpp measures it at 1 million flows). Lookups never
// allocate; insert() allocates only when the record vector or an index grows.
// For ICMP echo the identifier takes the place of the inside and external ports and the
// remote port is 0. The table knows nothing about time: the NAT stores a deadline in each
// record and decides what has expired.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vnet::svc {

/// One translation. Addresses are host-order IPv4 values (ipv4_address::to_u32()).
struct nat_flow {
    std::uint32_t inside_addr = 0;
    std::uint32_t remote_addr = 0;    // next free record while the record is free
    std::uint16_t inside_port = 0;    // or the inside ICMP echo identifier
    std::uint16_t remote_port = 0;    // 0 for ICMP echo
    std::uint16_t external_port = 0;  // or the external ICMP echo identifier
    std::uint8_t protocol = 0;        // IP protocol number; 0 marks a free record
    std::uint8_t tcp_state = 0;       // nat_tcp_bits of the flow (TCP only)
    std::uint32_t deadline = 0;       // the NAT's clock, in seconds: expired once now >= deadline
};
static_assert(sizeof(nat_flow) == 20, "a flow record is 20 bytes");

class nat_flow_table {
public:
    using index_type = std::uint32_t;
    static constexpr index_type npos = 0xffffffffu;

    explicit nat_flow_table(std::uint64_t seed = 0x6e61745f7461626cULL) : seed_(seed) { rehash(min_slots); }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

    /// The flow whose outbound 5-tuple matches, or npos.
    index_type find_outbound(std::uint8_t proto, std::uint32_t inside_addr, std::uint16_t inside_port, std::uint32_t remote_addr,
                             std::uint16_t remote_port) const noexcept {
        std::size_t i = out_hash(proto, inside_addr, inside_port, remote_addr, remote_port) & mask_;
        for (;; i = (i + 1) & mask_) {
            const index_type f = out_[i];
            if (f == npos) return npos;
            const nat_flow& r = flows_[f];
            if (r.inside_addr == inside_addr && r.remote_addr == remote_addr && r.inside_port == inside_port &&
                r.remote_port == remote_port && r.protocol == proto)
                return f;
        }
    }

    /// The flow a packet from (remote_addr, remote_port) to external_port belongs to, or npos.
    index_type find_inbound(std::uint8_t proto, std::uint32_t remote_addr, std::uint16_t remote_port,
                            std::uint16_t external_port) const noexcept {
        std::size_t i = in_hash(proto, remote_addr, remote_port, external_port) & mask_;
        for (;; i = (i + 1) & mask_) {
            const index_type f = in_[i];
            if (f == npos) return npos;
            const nat_flow& r = flows_[f];
            if (r.remote_addr == remote_addr && r.external_port == external_port && r.remote_port == remote_port &&
                r.protocol == proto)
                return f;
        }
    }

    /// Adds a flow (precondition: f.protocol != 0 and neither key is present) and returns
    /// its record number.
    index_type insert(const nat_flow& f) {
        if ((size_ + 1) * 2 > out_.size()) rehash(out_.size() * 2);
        index_type idx;
        if (free_ != npos) {
            idx = free_;
            free_ = flows_[idx].remote_addr;
            flows_[idx] = f;
        } else {
            idx = static_cast<index_type>(flows_.size());
            flows_.push_back(f);
        }
        place(out_, out_slot_of(flows_[idx]), idx);
        place(in_, in_slot_of(flows_[idx]), idx);
        ++size_;
        return idx;
    }

    /// Removes the flow at idx (precondition: a live record).
    void erase(index_type idx) noexcept {
        remove(out_, idx, true);
        remove(in_, idx, false);
        flows_[idx] = nat_flow{};
        flows_[idx].remote_addr = free_;
        free_ = idx;
        --size_;
    }

    /// Removes every flow; keeps the memory.
    void clear() noexcept {
        flows_.clear();
        std::fill(out_.begin(), out_.end(), npos);
        std::fill(in_.begin(), in_.end(), npos);
        free_ = npos;
        size_ = 0;
    }

    nat_flow& operator[](index_type idx) noexcept { return flows_[idx]; }
    const nat_flow& operator[](index_type idx) const noexcept { return flows_[idx]; }

    /// Calls f(index, flow) for every live flow, in record order.
    template <class F>
    void for_each(F&& f) const {
        for (std::size_t i = 0; i < flows_.size(); ++i)
            if (flows_[i].protocol != 0) f(static_cast<index_type>(i), flows_[i]);
    }
    /// Record numbers run from 0 to record_count() - 1 (free records included).
    std::size_t record_count() const noexcept { return flows_.size(); }

    /// Bytes the table holds on the heap: records and both indexes, at their capacities.
    std::size_t memory_bytes() const noexcept {
        return flows_.capacity() * sizeof(nat_flow) + (out_.capacity() + in_.capacity()) * sizeof(index_type);
    }
    /// Sizes records and indexes for n flows up front.
    void reserve(std::size_t n) {
        flows_.reserve(n);
        std::size_t slots = out_.size();
        while (n * 2 > slots) slots *= 2;
        if (slots != out_.size()) rehash(slots);
    }

private:
    static constexpr std::size_t min_slots = 64;

    static constexpr std::uint64_t mix(std::uint64_t a, std::uint64_t b) noexcept {
        std::uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        h *= 0x94d049bb133111ebULL;
        h ^= h >> 29;
        return h;
    }
    std::size_t out_hash(std::uint8_t proto, std::uint32_t ia, std::uint16_t ip, std::uint32_t ra,
                         std::uint16_t rp) const noexcept {
        return static_cast<std::size_t>(
            mix((std::uint64_t{ia} << 32 | ra) ^ seed_, std::uint64_t{proto} << 32 | std::uint64_t{ip} << 16 | rp));
    }
    std::size_t in_hash(std::uint8_t proto, std::uint32_t ra, std::uint16_t rp, std::uint16_t ep) const noexcept {
        return static_cast<std::size_t>(mix((std::uint64_t{ra} << 16 | ep) ^ (seed_ >> 1), std::uint64_t{proto} << 32 | rp));
    }
    std::size_t out_slot_of(const nat_flow& r) const noexcept {
        return out_hash(r.protocol, r.inside_addr, r.inside_port, r.remote_addr, r.remote_port) & mask_;
    }
    std::size_t in_slot_of(const nat_flow& r) const noexcept {
        return in_hash(r.protocol, r.remote_addr, r.remote_port, r.external_port) & mask_;
    }

    void place(std::vector<index_type>& t, std::size_t i, index_type idx) noexcept {
        while (t[i] != npos) i = (i + 1) & mask_;
        t[i] = idx;
    }

    // Backward-shift deletion: after emptying slot i, move later entries of the same
    // probe run back so that every entry stays reachable from its home slot.
    void remove(std::vector<index_type>& t, index_type idx, bool outbound) noexcept {
        std::size_t i = outbound ? out_slot_of(flows_[idx]) : in_slot_of(flows_[idx]);
        while (t[i] != idx) i = (i + 1) & mask_;
        std::size_t j = i;
        for (;;) {
            t[i] = npos;
            for (;;) {
                j = (j + 1) & mask_;
                if (t[j] == npos) return;
                const std::size_t home = outbound ? out_slot_of(flows_[t[j]]) : in_slot_of(flows_[t[j]]);
                // the entry at j may move to i unless its home lies cyclically in (i, j]
                const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
                if (!stays) break;
            }
            t[i] = t[j];
            i = j;
        }
    }

    void rehash(std::size_t slots) {
        out_.assign(slots, npos);
        in_.assign(slots, npos);
        mask_ = slots - 1;
        for (std::size_t i = 0; i < flows_.size(); ++i) {
            if (flows_[i].protocol == 0) continue;
            place(out_, out_slot_of(flows_[i]), static_cast<index_type>(i));
            place(in_, in_slot_of(flows_[i]), static_cast<index_type>(i));
        }
    }

    std::vector<nat_flow> flows_;
    std::vector<index_type> out_;
    std::vector<index_type> in_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
    index_type free_ = npos;
    std::uint64_t seed_;
};

}  // namespace vnet::svc
