// vnet/lab/report.hpp - what a lab run observed: one result per check, boot times, port
// counters; printed one line per check, as JSON, and as a report folder (summary.md,
// summary.json).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/lab/check_kinds.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/netvsc/port.hpp>
#include <vnet/switch/counters.hpp>

namespace vnet::lab {

/// The outcome of one [[check]].
struct check_result {
    std::size_t index = 0;   // 1-based position in the lab file
    std::uint32_t line = 0;  // the [[check]]'s line
    check_kind kind = check_kind::ping;
    std::string from;
    std::string to;         // as written (a name, an address, "host", ...)
    std::string target;     // what it resolved to (an address), when it has one
    std::string expected;   // "ok" | "fail"
    std::string observed;   // "ok" | "fail" | "error" (could not be carried out; verdicts.hpp)
    std::string detail;     // what was seen: "3/3 replies", "198.51.100.10", "dev eth0 via ...", or why not
    bool in_guest = false;  // observed inside a guest (else on the lab's host, network or switch)
    double seconds = 0;
    bool pass() const noexcept { return expected == observed; }
    /// The check could not be carried out: nothing was observed (never a pass, never a fail).
    bool error() const noexcept { return observed == "error"; }
    /// "PASS", "FAIL" (observed something else than expected) or "ERROR".
    std::string_view mark() const noexcept { return error() ? "ERROR" : pass() ? "PASS" : "FAIL"; }
};

/// Boot of one VM.
struct vm_boot {
    std::string name;
    bool ready = false;
    double seconds_to_agent = 0;  // QEMU start to the agent's ready banner
    std::string error;            // why it is not ready
};

/// Counters of one switch port at the end of the run.
struct port_report {
    std::string switch_name;
    std::string port;
    sw::port_counters counters;
    std::string pcap;                                    // file name in the report folder, or empty
    std::optional<netvsc::netvsc_link_counters> netvsc;  // a model = "netvsc" NIC's channel
};

struct run_report {
    std::string lab;
    std::string file;
    std::string run_id;
    double seconds = 0;  // wall time of the whole run
    std::vector<vm_boot> boots;
    std::vector<check_result> checks;
    std::vector<port_report> ports;
    std::string error;  // set when the run stopped before its checks (and why)

    bool passed() const noexcept {
        if (!error.empty()) return false;
        for (const auto& c : checks)
            if (!c.pass()) return false;
        return true;
    }
};

/// "ping eflow -> 192.168.0.1" and friends: what a check is, in one phrase.
inline std::string describe(const check_result& c) {
    if (c.to.empty()) return fmt::format("{} {}", to_string(c.kind), c.from);
    return fmt::format(fmt::runtime(rules_of(c.kind).arrow ? "{} {} -> {}" : "{} {} {}"), to_string(c.kind), c.from, c.to);
}

/// "PASS  ping eflow -> 192.168.0.1  expected ok, observed ok (3/3 replies)"
inline std::string format_line(const check_result& c) {
    return fmt::format("{:<5} {}  expected {}, observed {}{}", c.mark(), describe(c), c.expected, c.observed,
                       c.detail.empty() ? std::string() : fmt::format(" ({})", c.detail));
}

/// A JSON string literal.
inline std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        switch (ch) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) out += fmt::format("\\u{:04x}", c);
                else out += ch;
        }
    }
    return out + "\"";
}

inline std::string to_json(const check_result& c) {
    return fmt::format(
        "{{\"check\":{},\"line\":{},\"kind\":{},\"from\":{},\"to\":{},\"target\":{},\"expected\":{},\"observed\":{},"
        "\"detail\":{},\"pass\":{},\"result\":{},\"where\":{},\"seconds\":{:.3f}}}",
        c.index, c.line, json_string(to_string(c.kind)), json_string(c.from), json_string(c.to), json_string(c.target),
        json_string(c.expected), json_string(c.observed), json_string(c.detail), c.pass() ? "true" : "false",
        json_string(c.mark()), json_string(c.in_guest ? "guest" : "lab"), c.seconds);
}

inline std::string to_json(const run_report& r) {
    std::string s = fmt::format("{{\"lab\":{},\"file\":{},\"run_id\":{},\"seconds\":{:.3f},\"passed\":{},\"error\":{},",
                                json_string(r.lab), json_string(r.file), json_string(r.run_id), r.seconds,
                                r.passed() ? "true" : "false", json_string(r.error));
    s += "\"vms\":[";
    for (std::size_t i = 0; i < r.boots.size(); ++i) {
        const auto& b = r.boots[i];
        s += fmt::format("{}{{\"name\":{},\"ready\":{},\"seconds_to_agent\":{:.3f},\"error\":{}}}", i ? "," : "",
                         json_string(b.name), b.ready ? "true" : "false", b.seconds_to_agent, json_string(b.error));
    }
    s += "],\"checks\":[";
    for (std::size_t i = 0; i < r.checks.size(); ++i) s += (i ? "," : "") + to_json(r.checks[i]);
    s += "],\"ports\":[";
    for (std::size_t i = 0; i < r.ports.size(); ++i) {
        const auto& p = r.ports[i];
        std::string drops;
        for (std::size_t d = 0; d < sw::drop_reason_count; ++d)
            drops += fmt::format("{}{}:{}", d ? "," : "", json_string(sw::to_string(static_cast<sw::drop_reason>(d))),
                                 p.counters.drops[d]);
        std::string nv = "null";
        if (p.netvsc) {
            auto dir = [](const netvsc::link_direction_counters& c) {
                return fmt::format("{{\"frames\":{},\"bytes\":{},\"drops\":{}}}", c.frames, c.bytes, c.total_drops());
            };
            nv = fmt::format("{{\"guest_to_host\":{},\"host_to_guest\":{},\"link_changes\":{}}}", dir(p.netvsc->guest_to_host),
                             dir(p.netvsc->host_to_guest), p.netvsc->link_changes);
        }
        s += fmt::format(
            "{}{{\"switch\":{},\"port\":{},\"rx_frames\":{},\"tx_frames\":{},\"flooded\":{},\"drops\":{{{}}},\"pcap\":{},"
            "\"netvsc\":{}}}",
            i ? "," : "", json_string(p.switch_name), json_string(p.port), p.counters.rx_frames, p.counters.tx_frames,
            p.counters.flooded, drops, json_string(p.pcap), nv);
    }
    return s + "]}";
}

/// summary.md of the report folder.
inline std::string to_markdown(const run_report& r) {
    std::string s = fmt::format("# Lab {} ({})\n\nRun `{}`, {:.1f} s wall time, **{}**.\n\n", r.lab, r.file, r.run_id, r.seconds,
                                r.passed() ? "passed" : "failed");
    if (!r.error.empty()) s += fmt::format("Stopped early: {}\n\n", r.error);
    s += "## VMs\n\n| VM | boot to agent ready | state |\n|---|---|---|\n";
    for (const auto& b : r.boots)
        s += fmt::format("| {} | {:.2f} s | {} |\n", b.name, b.seconds_to_agent, b.ready ? "ready" : b.error);
    s += "\n## Checks\n\n| # | line | check | expected | observed | detail | result |\n|---|---|---|---|---|---|---|\n";
    for (const auto& c : r.checks)
        s += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", c.index, c.line, describe(c), c.expected, c.observed, c.detail,
                         c.mark());
    s += "\n## Switch ports\n\n| switch | port | rx | tx | flooded | drops | capture |\n|---|---|---|---|---|---|---|\n";
    for (const auto& p : r.ports)
        s += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", p.switch_name, p.port, p.counters.rx_frames,
                         p.counters.tx_frames, p.counters.flooded, p.counters.total_drops(), p.pcap);
    bool any = false;
    for (const auto& p : r.ports)
        if (p.netvsc) {
            if (!any) s += "\n## netvsc channels (VSC, VMBus ring, VSP)\n\n| switch | port | counters |\n|---|---|---|\n";
            any = true;
            s += fmt::format("| {} | {} | {} |\n", p.switch_name, p.port, *p.netvsc);
        }
    return s;
}

}  // namespace vnet::lab
