// vnet decode FILE.pcap [--json]: one line per frame (tcpdump-like), or one JSON object
// per frame with the dissector's fields and an "error" field where a layer is malformed.
#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <vnet/wire/dissect.hpp>
#include <vnet/wire/pcap.hpp>

#include "commands.hpp"

namespace vnet::cli {

namespace {
nlohmann::ordered_json to_json(const wire::field_value& v) {
    return std::visit([](const auto& x) { return nlohmann::ordered_json(x); }, v);
}

std::string clock_text(std::chrono::nanoseconds ts) {
    using namespace std::chrono;
    auto secs = duration_cast<seconds>(ts);
    auto us = duration_cast<microseconds>(ts - secs).count();
    auto day = secs.count() % 86400;
    return fmt::format("{:02}:{:02}:{:02}.{:06}", day / 3600, (day / 60) % 60, day % 60, us);
}
}  // namespace

int run_decode(const decode_options& o) {
    auto r = wire::pcap_reader::open(o.file);
    if (!r) return report_error(fmt::format("decode: {}", o.file), r.error().message);
    if (r->link_type() != wire::linktype::ethernet)
        return report_error(fmt::format("decode: {}", o.file), fmt::format("link type {} is not Ethernet (1)", r->link_type()));
    std::uint64_t n = 0;
    for (;;) {
        auto rec = r->next();
        if (!rec) return report_error(fmt::format("decode: {}: frame {}", o.file, n + 1), rec.error().message);
        if (!rec->has_value()) break;
        ++n;
        const auto& record = **rec;
        auto d = wire::dissect_frame(record.data);
        if (o.json) {
            nlohmann::ordered_json j;
            j["frame"] = n;
            j["time"] = std::chrono::duration<double>(record.timestamp).count();
            j["len"] = record.orig_len;
            j["caplen"] = record.data.size();
            j["layers"] = d.layers;
            for (auto& f : d.fields) j[f.name] = to_json(f.value);
            if (d.error) j["error"] = d.error->message();
            fmt::print("{}\n", j.dump());
        } else {
            fmt::print("{} {}\n", clock_text(record.timestamp), d.summary);
        }
    }
    return exit_ok;
}

}  // namespace vnet::cli
