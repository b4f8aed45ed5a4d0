// vnet/services/dhcp_leases.hpp - the DHCP server's lease table and its lease file.
//
// A lease binds one address to one client hardware address (chaddr) for a time
// (RFC 2131 section 1: "binding"). States:
// - offered:   reserved for a client between DHCPOFFER and its DHCPREQUEST (RFC 2131
//              section 4.3.1: "the server ... SHOULD reserve the address"), until the offer
//              hold ends;
// - bound:     acknowledged (DHCPACK), until the lease time ends;
// - released:  given back by DHCPRELEASE, or expired: free, but the record keeps the MAC so
//              that the client gets the same address again ("the client's previous address
//              as recorded in the client's (now expired or released) binding", section 4.3.1);
// - conflict:  declined by a client (DHCPDECLINE, section 4.3.3: the address is in use on
//              the network) and not offered to anyone until the conflict hold ends.
// An offered or bound record is "active" while now < expires; an inactive one is free.
// The table keeps at most one record per address and at most one (non-conflict) record per
// MAC, so one address is never held for two MACs at once.
//
// Time is injected: `now` is wall-clock time (std::chrono::system_clock) because the lease
// file stores absolute expiry times (seconds since the Unix epoch, as ISC dhcpd's lease
// file does) and leases must survive a restart of the server.
//
// The lease file is versioned text, one lease a line:
//     vnet-dhcp-leases 1
//     # address mac state expires host_name
//     lease 172.20.0.100 00:15:5d:00:00:10 bound 1700003600 eflow
// Blank lines and lines starting with '#' are ignored. host_name is "-" when empty; octets
// outside '!'..'~' and '%' are written %XX. A line that does not parse is an error value
// naming the line number and what is wrong.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/core/mutant.hpp>

namespace vnet::svc {

using vnet::to_string;

/// The server's time: injected wall-clock time, one-second resolution in the lease file.
using dhcp_time = std::chrono::system_clock::time_point;

enum class dhcp_lease_state : std::uint8_t { offered, bound, released, conflict };

inline constexpr enum_name<dhcp_lease_state> dhcp_lease_state_names[] = {
    {dhcp_lease_state::offered, "offered"},
    {dhcp_lease_state::bound, "bound"},
    {dhcp_lease_state::released, "released"},
    {dhcp_lease_state::conflict, "conflict"},
};
constexpr std::span<const enum_name<dhcp_lease_state>> enum_names(dhcp_lease_state) noexcept { return dhcp_lease_state_names; }

constexpr std::optional<dhcp_lease_state> dhcp_lease_state_from(std::string_view s) noexcept {
    for (auto st : {dhcp_lease_state::offered, dhcp_lease_state::bound, dhcp_lease_state::released, dhcp_lease_state::conflict})
        if (to_string(st) == s) return st;
    return std::nullopt;
}

struct dhcp_lease {
    ipv4_address address{};
    mac_address mac{};  // the client (conflict: the client that declined it)
    dhcp_lease_state state = dhcp_lease_state::offered;
    dhcp_time expires{};    // offered / bound: end of the offer hold / lease; conflict: end of the hold
    std::string host_name;  // the client's option 12 or the reservation's name

    /// Offered or bound and not yet expired: the address is taken by `mac`.
    bool active(dhcp_time now) const noexcept {
        return (state == dhcp_lease_state::offered || state == dhcp_lease_state::bound) &&
               (now < expires || (state == dhcp_lease_state::bound && mutant::on(mutant::id::dhcp_leases_never_expire)));
    }
    /// A declined address still inside its hold time.
    bool held(dhcp_time now) const noexcept { return state == dhcp_lease_state::conflict && now < expires; }

    friend bool operator==(const dhcp_lease&, const dhcp_lease&) = default;
};

/// A lease file that does not parse: the 1-based line and what is wrong there.
struct dhcp_lease_file_error {
    std::size_t line = 0;
    std::string_view what{};  // a literal: "expected 'vnet-dhcp-leases 1'", "invalid MAC address", ...

    /// "lease file line 3: invalid MAC address"
    std::string message() const { return fmt::format("lease file line {}: {}", line, what); }
    friend constexpr bool operator==(const dhcp_lease_file_error&, const dhcp_lease_file_error&) = default;
};

/// Leases indexed by address and by MAC.
class dhcp_lease_table {
public:
    static constexpr std::string_view file_magic = "vnet-dhcp-leases";
    static constexpr int file_version = 1;

    std::size_t size() const noexcept { return by_addr_.size(); }
    bool empty() const noexcept { return by_addr_.empty(); }

    const dhcp_lease* find(ipv4_address a) const noexcept {
        auto it = by_addr_.find(a.to_u32());
        return it == by_addr_.end() ? nullptr : &it->second;
    }
    dhcp_lease* find(ipv4_address a) noexcept {
        auto it = by_addr_.find(a.to_u32());
        return it == by_addr_.end() ? nullptr : &it->second;
    }
    /// The MAC's record (any state but conflict).
    const dhcp_lease* find(const mac_address& m) const noexcept {
        auto it = by_mac_.find(m.to_u64());
        return it == by_mac_.end() ? nullptr : find(ipv4_address(it->second));
    }
    dhcp_lease* find(const mac_address& m) noexcept {
        auto it = by_mac_.find(m.to_u64());
        return it == by_mac_.end() ? nullptr : find(ipv4_address(it->second));
    }

    /// Makes `l` the record of its address, replacing that address's previous record and
    /// the MAC's previous record elsewhere (one record per MAC). Returns the stored record.
    /// Updating an existing address reuses its node (no allocation).
    dhcp_lease& put(dhcp_lease l) {
        const auto key = l.address.to_u32();
        if (l.state != dhcp_lease_state::conflict) {
            auto m = by_mac_.find(l.mac.to_u64());
            if (m != by_mac_.end() && m->second != key) by_addr_.erase(m->second);  // its entry is rewritten below
        }
        auto it = by_addr_.find(key);
        if (it != by_addr_.end()) {
            const dhcp_lease& old = it->second;
            if (old.state != dhcp_lease_state::conflict && (old.mac != l.mac || l.state == dhcp_lease_state::conflict)) {
                auto om = by_mac_.find(old.mac.to_u64());
                if (om != by_mac_.end() && om->second == key) by_mac_.erase(om);
            }
            it->second = std::move(l);
        } else {
            it = by_addr_.emplace(key, std::move(l)).first;
        }
        if (it->second.state != dhcp_lease_state::conflict) by_mac_[it->second.mac.to_u64()] = key;
        return it->second;
    }

    /// Removes the address's record; returns whether there was one.
    bool erase(ipv4_address a) {
        auto it = by_addr_.find(a.to_u32());
        if (it == by_addr_.end()) return false;
        if (it->second.state != dhcp_lease_state::conflict) {
            auto m = by_mac_.find(it->second.mac.to_u64());
            if (m != by_mac_.end() && m->second == a.to_u32()) by_mac_.erase(m);
        }
        by_addr_.erase(it);
        return true;
    }

    /// Turns the record into a conflict hold (it leaves the MAC index).
    void mark_conflict(ipv4_address a, dhcp_time until) {
        auto it = by_addr_.find(a.to_u32());
        if (it == by_addr_.end()) return;
        dhcp_lease& l = it->second;
        if (l.state != dhcp_lease_state::conflict) {
            auto m = by_mac_.find(l.mac.to_u64());
            if (m != by_mac_.end() && m->second == a.to_u32()) by_mac_.erase(m);
        }
        l.state = dhcp_lease_state::conflict;
        l.expires = until;
        l.host_name.clear();
    }

    void clear() noexcept {
        by_addr_.clear();
        by_mac_.clear();
    }

    /// Calls f(const dhcp_lease&) for every record (unordered).
    template <class F>
    void for_each(F&& f) const {
        for (const auto& [k, l] : by_addr_) f(l);
    }
    /// The records sorted by address.
    std::vector<dhcp_lease> sorted() const {
        std::vector<dhcp_lease> v;
        v.reserve(by_addr_.size());
        for (const auto& [k, l] : by_addr_) v.push_back(l);
        std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.address < b.address; });
        return v;
    }

    /// Index consistency: every MAC entry points at a non-conflict record of that MAC and
    /// every non-conflict record is indexed under its MAC.
    bool consistent() const noexcept {
        std::size_t indexed = 0;
        for (const auto& [k, l] : by_addr_) {
            if (l.address.to_u32() != k) return false;
            if (l.state == dhcp_lease_state::conflict) continue;
            ++indexed;
            auto m = by_mac_.find(l.mac.to_u64());
            if (m == by_mac_.end() || m->second != k) return false;
        }
        return indexed == by_mac_.size();
    }

    // ---- the lease file ----

    /// The whole table in the lease file format, sorted by address.
    std::string save() const {
        std::string out = fmt::format("{} {}\n# address mac state expires host_name\n", file_magic, file_version);
        for (const auto& l : sorted()) {
            const auto secs = std::chrono::duration_cast<std::chrono::seconds>(l.expires.time_since_epoch()).count();
            out += fmt::format("lease {} {} {} {} {}\n", l.address, l.mac, to_string(l.state), secs, escape(l.host_name));
        }
        return out;
    }

    /// Parses a lease file into a new table. Errors name the line.
    /// With `subnet`, an address outside it is an error too (the served network changed).
    static expected<dhcp_lease_table, dhcp_lease_file_error> load(std::string_view text,
                                                                  std::optional<ipv4_prefix> subnet = std::nullopt) {
        dhcp_lease_table t;
        std::size_t line_no = 0;
        bool header = false;
        while (!text.empty()) {
            const auto nl = text.find('\n');
            std::string_view line = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
            ++line_no;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            auto err = [&](std::string_view what) { return unexpected(dhcp_lease_file_error{line_no, what}); };
            if (!header) {
                if (line != "vnet-dhcp-leases 1") {
                    if (line.substr(0, file_magic.size()) == file_magic)
                        return err("unsupported lease file version (expected 'vnet-dhcp-leases 1')");
                    return err("not a lease file (expected 'vnet-dhcp-leases 1')");
                }
                header = true;
                continue;
            }
            if (line.empty() || line.front() == '#') continue;
            std::string_view words[7];
            std::size_t n = 0;
            for (std::string_view rest = line; !rest.empty();) {
                const auto b = rest.find_first_not_of(' ');
                if (b == std::string_view::npos) break;
                rest = rest.substr(b);
                const auto e = rest.find(' ');
                if (n == std::size(words)) return err("too many fields (expected 'lease address mac state expires host_name')");
                words[n++] = rest.substr(0, e);
                rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e);
            }
            if (n == 0) continue;
            if (words[0] != "lease") return err("unknown record (expected 'lease')");
            if (n != 6) return err("wrong field count (expected 'lease address mac state expires host_name')");
            dhcp_lease l;
            auto a = ipv4_address::parse(words[1]);
            if (!a) return err("invalid IPv4 address");
            l.address = *a;
            if (subnet && !subnet->contains(l.address)) return err("address outside the served subnet");
            auto m = mac_address::parse(words[2]);
            if (!m) return err("invalid MAC address");
            l.mac = *m;
            auto st = dhcp_lease_state_from(words[3]);
            if (!st) return err("invalid state (expected offered, bound, released or conflict)");
            l.state = *st;
            auto secs = parse_seconds(words[4]);
            if (!secs) return err("invalid expiry (expected seconds since the Unix epoch)");
            l.expires = dhcp_time(std::chrono::seconds(*secs));
            auto name = unescape(words[5]);
            if (!name) return err("invalid host name escape (expected %XX)");
            l.host_name = std::move(*name);
            if (t.find(l.address)) return err("duplicate address");
            if (l.state != dhcp_lease_state::conflict && t.find(l.mac)) return err("duplicate MAC address");
            t.put(std::move(l));
        }
        if (!header) return unexpected(dhcp_lease_file_error{line_no + 1, "empty lease file (expected 'vnet-dhcp-leases 1')"});
        return t;
    }

private:
    static std::string escape(std::string_view s) {
        if (s.empty()) return "-";
        std::string out;
        for (char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
            if (c < 0x21 || c > 0x7e || c == '%' || (s.size() == 1 && c == '-')) out += fmt::format("%{:02X}", c);
            else out += ch;
        }
        return out;
    }
    static std::optional<std::string> unescape(std::string_view s) {
        if (s == "-") return std::string{};
        std::string out;
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] != '%') {
                out += s[i];
                continue;
            }
            if (i + 2 >= s.size()) return std::nullopt;
            const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        return out;
    }
    /// Seconds since the epoch that dhcp_time can hold (system_clock counts nanoseconds
    /// in libstdc++: up to the year 2262).
    static std::optional<std::int64_t> parse_seconds(std::string_view s) {
        constexpr std::int64_t max = std::chrono::duration_cast<std::chrono::seconds>(dhcp_time::duration::max()).count();
        if (s.empty() || s.size() > 12) return std::nullopt;
        std::int64_t v = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + (c - '0');
        }
        if (v > max) return std::nullopt;
        return v;
    }

    std::unordered_map<std::uint32_t, dhcp_lease> by_addr_;
    std::unordered_map<std::uint64_t, std::uint32_t> by_mac_;
};

}  // namespace vnet::svc

/// "172.20.0.100 00:15:5d:00:00:10 bound expires 1700003600 host eflow"
template <>
struct fmt::formatter<vnet::svc::dhcp_lease> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::dhcp_lease& l, Ctx& ctx) const {
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(l.expires.time_since_epoch()).count();
        auto out = fmt::format_to(ctx.out(), "{} {} {} expires {}", l.address, l.mac, vnet::svc::to_string(l.state), secs);
        if (!l.host_name.empty()) out = fmt::format_to(out, " host {}", l.host_name);
        return out;
    }
};

/// One lease a line, sorted by address, under a header; "no leases" when empty.
template <>
struct fmt::formatter<vnet::svc::dhcp_lease_table> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::svc::dhcp_lease_table& t, Ctx& ctx) const {
        if (t.empty()) return fmt::format_to(ctx.out(), "no leases");
        auto out = fmt::format_to(ctx.out(), "{:<15} {:<17} {:<8} {:>12} {}", "address", "mac", "state", "expires", "host");
        for (const auto& l : t.sorted()) {
            const auto secs = std::chrono::duration_cast<std::chrono::seconds>(l.expires.time_since_epoch()).count();
            out = fmt::format_to(out, "\n{:<15} {:<17} {:<8} {:>12} {}", fmt::format("{}", l.address), fmt::format("{}", l.mac),
                                 vnet::svc::to_string(l.state), secs, l.host_name.empty() ? "-" : l.host_name);
        }
        return out;
    }
};
