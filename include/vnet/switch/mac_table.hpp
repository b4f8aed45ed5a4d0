// vnet/switch/mac_table.hpp - the switch's learning table.
//
// Keyed by (VLAN, MAC) packed into one 64-bit integer (VPP l2_fib: bridge domain + MAC
// in a u64), open addressing with linear probing and backward-shift deletion, so a
// lookup touches one or two cache lines and never allocates. Entries live in a fixed
// array sized at construction; each port keeps its entries on an intrusive list in
// least-recently-seen order, which gives
// - idle aging (Open vSwitch mac-learning: 300 s by default) by popping list heads, and
// - fair eviction when the table is full (Open vSwitch: evict the oldest entry of the
//   port that has the most entries), so one port flooding random source MACs cannot push
//   out every other port's stations.
// Time is passed in by the caller (the switch's injected clock); the table reads no clock.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/mac.hpp>

namespace vnet::sw {

using port_index = std::uint32_t;
inline constexpr port_index no_port = 0xffffffffu;

/// (VLAN, MAC) in 64 bits: VLAN id in bits 48-59, the MAC in bits 0-47.
constexpr std::uint64_t mac_key(std::uint16_t vlan, std::uint64_t mac48) noexcept {
    return (std::uint64_t{vlan & 0x0fffu} << 48) | (mac48 & 0xffffffffffffULL);
}
constexpr std::uint64_t mac_key(std::uint16_t vlan, const mac_address& m) noexcept { return mac_key(vlan, m.to_u64()); }
constexpr std::uint16_t key_vlan(std::uint64_t key) noexcept { return static_cast<std::uint16_t>(key >> 48); }
constexpr mac_address key_mac(std::uint64_t key) noexcept { return mac_address::from_u64(key & 0xffffffffffffULL); }

/// What to do with a new source when the table is full.
enum class table_full_policy : std::uint8_t {
    evict_fair,  // evict the oldest entry of the port with the most entries (Open vSwitch)
    refuse,      // do not learn; the switch drops the frame as table_full (VPP learn limit)
};

struct mac_table_config {
    std::size_t capacity = 8192;                                 // Open vSwitch default
    std::chrono::nanoseconds aging = std::chrono::seconds(300);  // idle time before an entry expires
    table_full_policy when_full = table_full_policy::evict_fair;
    /// An entry's last-seen time moves only when it is this much older (Open vSwitch keeps
    /// MAC learning times in whole seconds), so steady traffic does not rewrite the
    /// entry and its list links on every frame. Aging is exact to this resolution.
    std::chrono::nanoseconds refresh = std::chrono::seconds(1);
};

enum class learn_outcome : std::uint8_t { refreshed, learned, moved, evicted_and_learned, refused, ignored };

struct mac_table_stats {
    std::uint64_t learned = 0;
    std::uint64_t moved = 0;    // a MAC seen on another port than the one it was learned on
    std::uint64_t evicted = 0;  // entries removed to make room (fair eviction)
    std::uint64_t aged = 0;     // entries removed after the idle time
    std::uint64_t refused = 0;  // sources not learned because the table was full
};

class mac_table {
public:
    explicit mac_table(mac_table_config cfg = {}) : cfg_(cfg) {
        if (cfg_.capacity == 0) cfg_.capacity = 1;
        std::size_t nslots = 8;
        int bits = 3;
        while (nslots < cfg_.capacity * 2) {
            nslots <<= 1;
            ++bits;
        }
        slots_.assign(nslots, slot{0, 0, no_port, nil});
        mask_ = nslots - 1;
        shift_ = 64 - bits;
        entries_.resize(cfg_.capacity);
        for (std::size_t i = 0; i < entries_.size(); ++i) entries_[i].next = static_cast<std::uint32_t>(i + 1);
        entries_.back().next = nil;
        free_head_ = 0;
    }

    const mac_table_config& config() const noexcept { return cfg_; }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return cfg_.capacity; }
    const mac_table_stats& stats() const noexcept { return stats_; }
    /// Entries currently held for port p.
    std::size_t count(port_index p) const noexcept { return p < ports_.size() ? ports_[p].count : 0; }

    /// Makes room for per-port bookkeeping of ports 0..p (called when a port is added, so
    /// that learn() never allocates).
    void ensure_port(port_index p) {
        if (p >= ports_.size()) ports_.resize(std::size_t{p} + 1);
    }

    /// The port key was learned on, or no_port when unknown or idle for the aging time.
    port_index lookup(std::uint64_t key, std::chrono::nanoseconds now) const noexcept {
        const std::size_t s = find(key);
        if (s == npos) return no_port;
        const slot& sl = slots_[s];
        if (now.count() - sl.last_seen >= cfg_.aging.count()) return no_port;
        return sl.port;
    }

    /// Learns or refreshes key on port p. Group (multicast / broadcast) sources are never
    /// learned. Precondition: ensure_port(p).
    learn_outcome learn(std::uint64_t key, port_index p, std::chrono::nanoseconds now) noexcept {
        if ((key >> 40) & 0x01) return learn_outcome::ignored;
        const std::int64_t t = now.count();
        const std::size_t s = find(key);
        if (s != npos) {
            slot& sl = slots_[s];
            const std::uint32_t idx = sl.entry;
            if (sl.port == p) {
                if (t - sl.last_seen >= cfg_.refresh.count()) {
                    sl.last_seen = t;
                    unlink(idx);
                    link_tail(idx);
                }
                return learn_outcome::refreshed;
            }
            unlink(idx);
            entries_[idx].port = p;
            sl.port = p;
            sl.last_seen = t;
            link_tail(idx);
            ++stats_.moved;
            return learn_outcome::moved;
        }
        bool evicted = false;
        if (size_ == cfg_.capacity) {
            expire(now);
            if (size_ == cfg_.capacity) {
                if (cfg_.when_full == table_full_policy::refuse) {
                    ++stats_.refused;
                    return learn_outcome::refused;
                }
                evict_one();
                evicted = true;
            }
        }
        const std::uint32_t idx = free_head_;
        free_head_ = entries_[idx].next;
        entries_[idx] = entry{key, p, nil, nil};
        link_tail(idx);
        insert_slot(slot{key, t, p, idx});
        ++size_;
        ++stats_.learned;
        return evicted ? learn_outcome::evicted_and_learned : learn_outcome::learned;
    }

    /// Removes entries idle for the aging time; returns how many.
    std::size_t expire(std::chrono::nanoseconds now) noexcept {
        std::size_t n = 0;
        for (auto& pl : ports_) {
            while (pl.head != nil) {
                const std::size_t s = find(entries_[pl.head].key);
                if (now.count() - slots_[s].last_seen < cfg_.aging.count()) break;
                remove_entry(pl.head);
                ++n;
            }
        }
        stats_.aged += n;
        return n;
    }

    /// Removes every entry of port p (the port was removed or reconfigured).
    std::size_t flush_port(port_index p) noexcept {
        if (p >= ports_.size()) return 0;
        std::size_t n = 0;
        while (ports_[p].head != nil) {
            remove_entry(ports_[p].head);
            ++n;
        }
        return n;
    }

    /// Removes one key; true when it was present.
    bool erase(std::uint64_t key) noexcept {
        const std::size_t s = find(key);
        if (s == npos) return false;
        remove_entry(slots_[s].entry);
        return true;
    }

    void clear() noexcept {
        for (port_index p = 0; p < ports_.size(); ++p) flush_port(p);
    }

    /// Calls f(vlan, mac, port, last_seen) for every entry, in no particular order.
    template <class F>
    void for_each(F&& f) const {
        for (const auto& s : slots_) {
            if (s.entry == nil) continue;
            f(key_vlan(s.key), key_mac(s.key), s.port, std::chrono::nanoseconds(s.last_seen));
        }
    }

private:
    static constexpr std::uint32_t nil = 0xffffffffu;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    // The hash index holds what a lookup needs (key, port, last seen): one memory access.
    struct slot {
        std::uint64_t key;
        std::int64_t last_seen;
        port_index port;
        std::uint32_t entry;  // nil: empty
    };
    // Stable storage for the per-port lists (slots move on deletion, entries do not).
    struct entry {
        std::uint64_t key = 0;
        port_index port = no_port;
        std::uint32_t prev = nil, next = nil;  // the port's list, least recently seen first
    };
    struct port_list {
        std::uint32_t head = nil, tail = nil, count = 0;
    };

    std::size_t home(std::uint64_t key) const noexcept {
        return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_);
    }

    std::size_t find(std::uint64_t key) const noexcept {
        std::size_t i = home(key);
        for (;;) {
            const slot& s = slots_[i];
            if (s.entry == nil) return npos;
            if (s.key == key) return i;
            i = (i + 1) & mask_;
        }
    }

    void insert_slot(const slot& n) noexcept {
        std::size_t i = home(n.key);
        while (slots_[i].entry != nil) i = (i + 1) & mask_;
        slots_[i] = n;
    }

    // Backward-shift deletion keeps every remaining key reachable from its home slot.
    void erase_slot(std::size_t i) noexcept {
        std::size_t j = i;
        for (;;) {
            j = (j + 1) & mask_;
            if (slots_[j].entry == nil) break;
            const std::size_t k = home(slots_[j].key);
            const bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
            if (!stays) {
                slots_[i] = slots_[j];
                i = j;
            }
        }
        slots_[i] = slot{0, 0, no_port, nil};
    }

    void link_tail(std::uint32_t idx) noexcept {
        entry& e = entries_[idx];
        port_list& pl = ports_[e.port];
        e.prev = pl.tail;
        e.next = nil;
        if (pl.tail != nil) entries_[pl.tail].next = idx;
        else pl.head = idx;
        pl.tail = idx;
        ++pl.count;
    }

    void unlink(std::uint32_t idx) noexcept {
        entry& e = entries_[idx];
        port_list& pl = ports_[e.port];
        if (e.prev != nil) entries_[e.prev].next = e.next;
        else pl.head = e.next;
        if (e.next != nil) entries_[e.next].prev = e.prev;
        else pl.tail = e.prev;
        e.prev = e.next = nil;
        --pl.count;
    }

    void remove_entry(std::uint32_t idx) noexcept {
        erase_slot(find(entries_[idx].key));
        unlink(idx);
        entries_[idx].port = no_port;
        entries_[idx].next = free_head_;
        free_head_ = idx;
        --size_;
    }

    void evict_one() noexcept {
        port_index victim = no_port;
        std::uint32_t most = 0;
        for (port_index p = 0; p < ports_.size(); ++p) {
            if (ports_[p].count > most) {
                most = ports_[p].count;
                victim = p;
            }
        }
        if (victim == no_port) return;
        remove_entry(ports_[victim].head);
        ++stats_.evicted;
    }

    mac_table_config cfg_;
    std::vector<slot> slots_;
    std::size_t mask_ = 0;
    int shift_ = 61;
    std::vector<entry> entries_;
    std::uint32_t free_head_ = nil;
    std::vector<port_list> ports_;
    std::size_t size_ = 0;
    mac_table_stats stats_;
};

}  // namespace vnet::sw

/// One line per entry, sorted by VLAN then MAC:
/// "VLAN  MAC                PORT  LAST SEEN" header, then e.g. "  10  00:15:5d:00:00:10     2  12.000s".
template <>
struct fmt::formatter<vnet::sw::mac_table> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::sw::mac_table& t, Ctx& ctx) const {
        struct row {
            std::uint16_t vlan;
            vnet::mac_address mac;
            vnet::sw::port_index port;
            std::chrono::nanoseconds seen;
        };
        std::vector<row> rows;
        rows.reserve(t.size());
        t.for_each([&](std::uint16_t v, vnet::mac_address m, vnet::sw::port_index p, std::chrono::nanoseconds s) {
            rows.push_back({v, m, p, s});
        });
        std::sort(rows.begin(), rows.end(),
                  [](const row& a, const row& b) { return a.vlan != b.vlan ? a.vlan < b.vlan : a.mac < b.mac; });
        auto out = fmt::format_to(ctx.out(), "VLAN  MAC                PORT  LAST SEEN\n");
        for (const auto& r : rows) {
            out = fmt::format_to(out, "{:>4}  {}  {:>4}  {:.3f}s\n", r.vlan, r.mac, r.port,
                                 std::chrono::duration<double>(r.seen).count());
        }
        return out;
    }
};
