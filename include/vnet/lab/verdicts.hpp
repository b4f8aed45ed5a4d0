// vnet/lab/verdicts.hpp - what a lab check observed, decided from what its probe printed:
// pure functions of (exit status, output), unit-tested without a lab.
//
// Three outcomes, never more, never fewer:
//   ok     the thing worked, and the output shows it ("3/3 replies", an address, "open");
//   fail   the thing did not work, and the output shows *that* ("3 sent, 0 received",
//          "connection refused by 192.168.0.1:8883", "NXDOMAIN from 192.168.0.1", "no route:
//          Network is unreachable");
//   error  the check could not be carried out, so nothing was observed: the tool is missing
//          in the guest (exit 127), not executable (126), killed by the agent's timeout, or
//          its output is not what the tool prints when it ran. An error is never read as a
//          failure: a cell that expects "fail" does not pass on it.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/ipv4.hpp>

namespace vnet::lab {

enum class observation : std::uint8_t { ok, fail, error };

/// "ok" | "fail" | "error": the words lab files and reports use.
constexpr std::string_view to_string(observation o) noexcept {
    switch (o) {
        case observation::ok: return "ok";
        case observation::fail: return "fail";
        case observation::error: return "error";
    }
    return "error";
}

struct verdict {
    observation observed = observation::error;
    std::string detail;  // the evidence (ok, fail) or why nothing could be observed (error)
};

inline verdict observed_ok(std::string detail) { return {observation::ok, std::move(detail)}; }
inline verdict observed_fail(std::string detail) { return {observation::fail, std::move(detail)}; }
inline verdict not_observed(std::string why) { return {observation::error, std::move(why)}; }

namespace detail {

inline bool contains(std::string_view s, std::string_view what) noexcept { return s.find(what) != std::string_view::npos; }

/// The first non-empty line of `s`, at most 120 characters: the excerpt an error quotes.
inline std::string first_line(std::string_view s) {
    std::size_t b = s.find_first_not_of("\r\n \t");
    if (b == std::string_view::npos) return "no output";
    auto e = s.find('\n', b);
    auto line = s.substr(b, e == std::string_view::npos ? s.size() - b : e - b);
    if (line.size() > 120) return std::string(line.substr(0, 117)) + "...";
    return std::string(line);
}

/// The number just before `word` in `s` ("3 packets transmitted" with word " packets transmitted").
inline std::optional<unsigned> number_before(std::string_view s, std::string_view word) {
    auto pos = s.find(word);
    if (pos == std::string_view::npos) return std::nullopt;
    auto start = pos;
    while (start > 0 && s[start - 1] >= '0' && s[start - 1] <= '9') --start;
    if (start == pos || pos - start > 9) return std::nullopt;
    unsigned n = 0;
    for (auto i = start; i < pos; ++i) n = n * 10 + static_cast<unsigned>(s[i] - '0');
    return n;
}

/// Exit statuses and messages of a shell that could not run the command at all.
inline std::optional<std::string> could_not_run(std::string_view tool, int status, std::string_view out) {
    if (status == 127) return fmt::format("{} could not run (exit 127, not found: {})", tool, first_line(out));
    if (status == 126) return fmt::format("{} could not run (exit 126, not executable: {})", tool, first_line(out));
    if (status == 137 || status == 128 + 9)
        return fmt::format("{} was killed before it finished (exit {}, the agent's timeout)", tool, status);
    if (status < 0) return fmt::format("{} did not report an exit status", tool);
    return std::nullopt;
}

/// A routing refusal the guest's own kernel reports: positive evidence that nothing left.
inline std::optional<std::string> unreachable(std::string_view out) {
    for (std::string_view m : {"Network is unreachable", "Network unreachable", "No route to host", "Host is unreachable"})
        if (contains(out, m)) return std::string(m);
    return std::nullopt;
}

}  // namespace detail

/// ping -c N (busybox or iputils): its statistics line is the evidence either way.
inline verdict ping_verdict(int status, std::string_view out, ipv4_address target) {
    if (auto why = detail::could_not_run("ping", status, out)) return not_observed(*why);
    const auto sent = detail::number_before(out, " packets transmitted");
    auto received = detail::number_before(out, " packets received");    // busybox
    if (!received) received = detail::number_before(out, " received");  // iputils
    if (sent && received) {
        if (*received > 0) return observed_ok(fmt::format("{}/{} replies from {}", *received, *sent, target));
        if (*sent > 0) {
            std::string why;
            if (auto u = detail::unreachable(out)) why = fmt::format(" ({})", *u);
            return observed_fail(fmt::format("{} sent, 0 received from {}{}", *sent, target, why));
        }
        return not_observed(fmt::format("ping sent nothing to {}: {}", target, detail::first_line(out)));
    }
    // No statistics: the kernel refused to send at all (no route) is an observation;
    // anything else means ping did not do its work.
    if (auto u = detail::unreachable(out)) return observed_fail(fmt::format("nothing sent to {}: {}", target, *u));
    return not_observed(
        fmt::format("ping {}: no statistics in its output (exit {}): {}", target, status, detail::first_line(out)));
}

/// busybox `nc -w 3 ADDRESS PORT </dev/null`: exit 0 when the connection opened.
inline verdict nc_verdict(int status, std::string_view out, ipv4_address to, std::uint16_t port) {
    if (auto why = detail::could_not_run("nc", status, out)) return not_observed(*why);
    if (status == 0) return observed_ok(fmt::format("{}:{} open", to, port));
    if (detail::contains(out, "Connection refused")) return observed_fail(fmt::format("connection refused by {}:{}", to, port));
    if (detail::contains(out, "timed out") || detail::contains(out, "timeout"))
        return observed_fail(fmt::format("{}:{}: timed out after SYN, no answer", to, port));
    if (auto u = detail::unreachable(out)) return observed_fail(fmt::format("{}:{}: {}", to, port, *u));
    return not_observed(
        fmt::format("nc {}:{} exit {} without a connection result: {}", to, port, status, detail::first_line(out)));
}

/// A non-blocking connect() from a lab namespace: `err` is 0 (connected) or the errno,
/// `timed_out` when no answer came within the wait.
inline verdict connect_verdict(int err, bool timed_out, ipv4_address to, std::uint16_t port, int waited_ms) {
    if (timed_out) return observed_fail(fmt::format("{}:{}: timed out after SYN, no answer in {} ms", to, port, waited_ms));
    switch (err) {
        case 0: return observed_ok(fmt::format("{}:{} open", to, port));
        case ECONNREFUSED: return observed_fail(fmt::format("connection refused by {}:{}", to, port));
        case EHOSTUNREACH: return observed_fail(fmt::format("{}:{}: host unreachable", to, port));
        case ENETUNREACH: return observed_fail(fmt::format("{}:{}: network unreachable", to, port));
        case ETIMEDOUT: return observed_fail(fmt::format("{}:{}: timed out after SYN, no answer", to, port));
        default: return not_observed(fmt::format("connect to {}:{} failed locally (errno {})", to, port, err));
    }
}

/// busybox nslookup NAME [SERVER]: `addresses` are the A answers read from `out` (the
/// server's own address is not among them).
template <class Addresses>
verdict nslookup_verdict(int status, std::string_view out, std::string_view name, const Addresses& addresses) {
    if (auto why = detail::could_not_run("nslookup", status, out)) return not_observed(*why);
    std::string server = "the server";
    if (auto p = out.find("Server:"); p != std::string_view::npos) {
        auto v = out.substr(p + 7);
        auto b = v.find_first_not_of(" \t");
        if (b != std::string_view::npos) {
            v = v.substr(b);
            server = std::string(v.substr(0, v.find_first_of(" \t\r\n")));
        }
    }
    if (!addresses.empty()) {
        std::string list;
        for (const auto& a : addresses) list += fmt::format("{}{}", list.empty() ? "" : " ", a);
        return observed_ok(fmt::format("{} from {}", list, server));
    }
    if (detail::contains(out, "NXDOMAIN")) return observed_fail(fmt::format("NXDOMAIN for {} from {}", name, server));
    if (detail::contains(out, "SERVFAIL")) return observed_fail(fmt::format("SERVFAIL for {} from {}", name, server));
    if (detail::contains(out, "REFUSED")) return observed_fail(fmt::format("REFUSED for {} by {}", name, server));
    // busybox: "nslookup: write to 'A': Connection refused" (an ICMP port unreachable came
    // back), then ";; connection timed out; no servers could be reached"
    if (detail::contains(out, "Connection refused"))
        return observed_fail(fmt::format("{} refused the query for {} (port 53 closed)", server, name));
    if (detail::contains(out, "no servers could be reached") || detail::contains(out, "timed out"))
        return observed_fail(fmt::format("no answer for {} from {}: timed out", name, server));
    if (detail::contains(out, "Name:") || detail::contains(out, "can't find"))
        return observed_fail(fmt::format("no A record for {} from {}", name, server));
    if (auto u = detail::unreachable(out)) return observed_fail(fmt::format("query for {} not sent: {}", name, *u));
    return not_observed(fmt::format("nslookup {}: output with neither an answer nor an error (exit {}): {}", name, status,
                                    detail::first_line(out)));
}

/// `ip route get ADDRESS`: the route's device (and `want_dev`, when set, must be it).
inline verdict route_verdict(int status, std::string_view first_line, std::string_view dev, std::string_view via,
                             std::string_view defaults, std::string_view want_dev) {
    if (auto why = detail::could_not_run("ip route get", status, first_line)) return not_observed(*why);
    if (status != 0 || dev.empty()) {
        if (auto u = detail::unreachable(first_line)) return observed_fail(fmt::format("no route: {}", *u));
        return not_observed(fmt::format("ip route get exit {}: {}", status, detail::first_line(first_line)));
    }
    std::string d = fmt::format("dev {}{}{}; default: {}", dev, via.empty() ? "" : " via ", via,
                                defaults.empty() ? std::string_view("none") : defaults);
    if (!want_dev.empty() && dev != want_dev) return observed_fail(fmt::format("{} (wanted dev {})", d, want_dev));
    return observed_ok(std::move(d));
}

/// A DHCP NIC's lease as the guest shows it (`ip -o -4 addr show dev ethK`): ok when the
/// NIC leases its address by DHCP and the address is in the server's range (when known);
/// fail with what was seen otherwise (no address, a static address, outside the range).
inline verdict dhcp_lease_verdict(std::size_t nic, std::optional<ipv4_prefix> address, bool dhcp_nic,
                                  std::optional<std::pair<ipv4_address, ipv4_address>> range) {
    if (!address) return observed_fail(fmt::format("eth{}: no address", nic));
    if (!dhcp_nic) return observed_fail(fmt::format("eth{}: static {}", nic, *address));
    if (!range) return observed_ok(fmt::format("eth{}: {}", nic, *address));
    const auto a = address->address().to_u32();
    const bool in = a >= range->first.to_u32() && a <= range->second.to_u32();
    auto d = fmt::format("eth{}: {} ({} range {}-{})", nic, *address, in ? "in" : "outside", range->first, range->second);
    return in ? observed_ok(std::move(d)) : observed_fail(std::move(d));
}

/// The IPv4 addresses an interface (or a namespace) holds, from `ip -o -4 addr show`: ok
/// with the first link-local one (169.254.0.0/16, RFC 3927), fail with what it holds
/// instead ("no IPv4 address" when the listing showed none).
inline verdict link_local_verdict(const std::vector<ipv4_prefix>& addresses) {
    for (const auto& a : addresses)
        if (a.address().is_link_local()) return observed_ok(fmt::format("{} (link-local)", a));
    if (addresses.empty()) return observed_fail("no IPv4 address");
    std::string held;
    for (const auto& a : addresses) held += fmt::format("{}{}", held.empty() ? "" : ", ", a);
    return observed_fail(fmt::format("no link-local address; holds {}", held));
}

/// What a switch's port counters moved by while the sender sent one frame (flooding check):
/// the unicast frames the sender's port flooded because their destination was unknown,
/// the destination port's transmitted frames, for each other port the frames the switch
/// delivered to it and, of those, how many the remaining ports (not the sender) flooded
/// meanwhile (the guests' own broadcasts), and the broadcasts and multicasts the sender
/// itself sent meanwhile (an ARP refresh, a router solicitation), which every port gets too.
struct flood_window {
    std::uint64_t src_flooded = 0;
    std::uint64_t dst_tx = 0;
    std::vector<std::uint64_t> others_tx;
    std::vector<std::uint64_t> others_own;
    bool replied = false;
    std::uint64_t src_group = 0;
    std::uint64_t dst_rx = 0;  // frames the destination's port sent into the switch meanwhile
};

/// Whether a window meant to start with the destination unknown may not have: the
/// destination sent more than its echo reply (an ARP or ND refresh, a router
/// solicitation), and the switch may have learned it from that frame before the sender's
/// frame arrived. Such a window proves nothing about flooding; the check empties the
/// table and measures again. (Seen once in 20 soak runs: the destination's broadcast
/// in the window, then the echo request went to one port.)
inline bool destination_spoke_first(const flood_window& w) { return w.dst_rx > (w.replied ? 1u : 0u); }

/// Unknown-unicast frames other port i received from the sender: what it received less
/// what other ports flooded and less the sender's own broadcasts and multicasts.
inline std::uint64_t flood_from_sender(const flood_window& w, std::size_t i) {
    const auto noise = w.others_own[i] + w.src_group;
    return w.others_tx[i] > noise ? w.others_tx[i] - noise : std::uint64_t{0};
}

/// "flooded" (the sender's port flooded and every other port got a frame from it), "to one
/// port" (nothing flooded, the destination got it, no other port got one from the
/// sender) or "neither".
inline std::string_view flood_word(const flood_window& w) {
    bool all = w.src_flooded > 0, none = w.src_flooded == 0 && w.dst_tx > 0;
    for (std::size_t i = 0; i < w.others_tx.size(); ++i) {
        all = all && flood_from_sender(w, i) > 0;
        none = none && flood_from_sender(w, i) == 0;
    }
    return all ? "flooded" : none ? "to one port" : "neither";
}

/// What the metrics seen at consecutive boots say: "redrawn at every boot" (each boot's
/// differ from the boot before), "kept" (all the same) or "redrawn at some boots".
inline std::string metrics_verdict(const std::vector<std::string>& boots) {
    std::size_t changed = 0;
    for (std::size_t i = 1; i < boots.size(); ++i) changed += boots[i] != boots[i - 1];
    if (boots.size() < 2) return "error";
    return changed == boots.size() - 1 ? "redrawn at every boot" : changed == 0 ? "kept" : "redrawn at some boots";
}

/// The DNS servers a guest uses, in order, from what it printed: /etc/resolv.conf
/// ("nameserver 192.168.0.1"; comments, search and options lines skipped) or, where that
/// file names only systemd-resolved's stub, `resolvectl dns` ("Global: ...",
/// "Link 2 (eth0): 192.168.0.1 8.8.8.8"). A server listed twice is kept once.
inline std::vector<std::string> guest_resolvers(std::string_view out) {
    std::vector<std::string> servers;
    auto add_words = [&](std::string_view rest) {
        while (!rest.empty()) {
            const auto start = rest.find_first_not_of(" \t");
            if (start == std::string_view::npos) break;
            rest.remove_prefix(start);
            const auto end = std::min(rest.find_first_of(" \t"), rest.size());
            std::string w(rest.substr(0, end));
            if (std::find(servers.begin(), servers.end(), w) == servers.end()) servers.push_back(std::move(w));
            rest.remove_prefix(end);
        }
    };
    while (!out.empty()) {
        const auto nl = std::min(out.find('\n'), out.size());
        std::string_view line = out.substr(0, nl);
        out.remove_prefix(std::min(nl + 1, out.size()));
        if (line.starts_with("nameserver")) add_words(line.substr(10).substr(0, line.substr(10).find('#')));
        else if (line.starts_with("Global:") || (line.starts_with("Link ") && detail::contains(line, "):")))
            add_words(line.substr(line.find(':') + 1));
    }
    return servers;
}

}  // namespace vnet::lab
