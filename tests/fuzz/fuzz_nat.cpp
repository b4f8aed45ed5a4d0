// libFuzzer target: the NAT (include/vnet/services/nat.hpp) fed arbitrary datagrams in
// both directions. The first input octet picks the direction and advances the injected
// clock; the rest is the datagram. One NAT lives across inputs (with a static mapping
// and a small table and port range, so exhaustion, eviction and hairpinning are reached).
// Checks: no crash or out-of-bounds access (ASan/UBSan), a translated packet still parses
// as IPv4 with a verifying header checksum when the input's did, the octets past the
// IPv4 total length are never touched, and the table never exceeds its capacity.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vnet/services/nat.hpp>
#include <vnet/wire/ipv4.hpp>

namespace {

vnet::svc::nat& the_nat() {
    static vnet::svc::nat n = [] {
        vnet::svc::nat_config c;
        c.name = "fuzz-NAT";
        c.internal_prefix = vnet::ipv4_prefix(vnet::ipv4_address(172, 20, 0, 0), 24);
        c.external_address = vnet::ipv4_address(192, 168, 0, 10);
        c.port_first = 40000;
        c.port_last = 40063;
        c.max_flows = 512;
        auto made = vnet::svc::nat::make(c);
        if (!made) __builtin_trap();
        auto nat = std::move(*made);
        if (!nat.add_static_mapping(
                {vnet::svc::nat_protocol::tcp, vnet::ipv4_address::any(), 8883, vnet::ipv4_address(172, 20, 0, 2), 8883}))
            __builtin_trap();
        if (!nat.add_static_mapping(
                {vnet::svc::nat_protocol::udp, vnet::ipv4_address::any(), 5000, vnet::ipv4_address(172, 20, 0, 3), 53}))
            __builtin_trap();
        return nat;
    }();
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vnet;
    if (size == 0) return 0;
    static auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    const std::uint8_t ctl = data[0];
    now += std::chrono::seconds(ctl >> 1);  // up to 127 s per input: flows expire as they go
    std::vector<std::byte> buf(size - 1);
    for (std::size_t i = 1; i < size; ++i) buf[i - 1] = std::byte{data[i]};
    const std::vector<std::byte> before = buf;

    auto& n = the_nat();
    auto in = wire::ipv4_view::parse(bytes_view(before));
    const bool header_ok = in && in->checksum_ok();
    const auto r = (ctl & 1) ? n.outbound(buf, now) : n.inbound(buf, now);
    if (r) {
        if (!header_ok) __builtin_trap();
        auto out = wire::ipv4_view::parse(bytes_view(buf));
        if (!out || !out->checksum_ok() || out->total_length() != in->total_length()) __builtin_trap();
        for (std::size_t i = in->total_length(); i < buf.size(); ++i)
            if (buf[i] != before[i]) __builtin_trap();
    } else if (r.drop == svc::nat_drop::count_) {
        __builtin_trap();
    }
    if (n.flow_count() > n.config().max_flows) __builtin_trap();
    return 0;
}
