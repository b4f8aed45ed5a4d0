// libFuzzer target: DHCP / BOOTP message parsing (dhcp_view), every typed accessor, the
// option walk across overloaded fields, and dhcp_repr parse -> emit -> parse agreement.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <vnet/wire/dhcp.hpp>

namespace {

using namespace vnet;
using namespace vnet::wire;

void walk_accessors(const dhcp_view& v) {
    volatile std::uint32_t sink = v.xid() ^ v.flags() ^ v.secs() ^ v.hops() ^ v.htype() ^ v.ciaddr().to_u32() ^
                                  v.yiaddr().to_u32() ^ v.siaddr().to_u32() ^ v.giaddr().to_u32();
    if (v.chaddr().size() != v.hlen() || v.hlen() > dhcp_view::max_hlen) __builtin_trap();
    if (auto m = v.client_mac()) sink = sink + static_cast<std::uint32_t>(m->to_u64() & 0xff);
    sink = sink + static_cast<std::uint32_t>(v.sname().size() + v.file().size());
    if (!v.has_cookie() && !v.options().empty()) __builtin_trap();

    // The walk stays inside the message; instances add up to option_len().
    std::array<std::size_t, 256> total{};
    for (const auto& o : v.options()) {
        if (o.code == dhcp_option_code::pad || o.code == dhcp_option_code::end) __builtin_trap();
        if (o.data.data() < v.bytes().data() || o.data.data() + o.data.size() > v.bytes().data() + v.bytes().size())
            __builtin_trap();
        total[o.code] += o.data.size();
    }
    std::vector<std::byte> buf(v.bytes().size());
    for (std::size_t c = 1; c < 255; ++c) {
        const auto code = static_cast<std::uint8_t>(c);
        if (total[c] == 0 && c % 16 != 0) continue;  // sample the codes not seen: each walk is O(options)
        if (v.option_len(code) != total[c]) __builtin_trap();
        std::size_t sum = 0;
        v.for_each_instance(code, [&](bytes_view d) { sum += d.size(); });
        if (sum != total[c]) __builtin_trap();
        if (v.has_option(code)) {
            auto copy = v.copy_option(code, buf);
            if (!copy || copy->size() != total[c]) __builtin_trap();
        }
    }

    (void)v.message_type();
    (void)v.subnet_mask();
    (void)v.broadcast_address();
    (void)v.requested_address();
    (void)v.server_identifier();
    (void)v.lease_time();
    (void)v.renewal_time();
    (void)v.rebinding_time();
    (void)v.interface_mtu();
    (void)v.max_message_size();
    std::vector<ipv4_address> addrs(v.bytes().size() / 4 + 1);
    if (auto n = v.routers(addrs); n && *n != v.router_count()) __builtin_trap();
    if (auto n = v.dns_servers(addrs); n && *n != v.dns_server_count()) __builtin_trap();
    std::vector<char> text(v.bytes().size());
    (void)v.host_name(text);
    (void)v.domain_name(text);
    (void)v.message(text);
    (void)v.parameter_request_list(buf);
    (void)v.vendor_class_id(buf);
    (void)v.client_identifier(buf);
    std::size_t names = 0;
    auto ds = v.domain_search(buf, [&](std::string_view s) {
        if (s.size() > 253) __builtin_trap();
        ++names;
    });
    if (ds && *ds != names) __builtin_trap();
    std::size_t routes = 0;
    auto cr = v.classless_static_routes([&](const classless_route& r) {
        if (r.destination.length() > 32 || r.destination.canonical() != r.destination) __builtin_trap();
        ++routes;
    });
    if (cr && *cr != routes) __builtin_trap();
    // The streaming 121 decoder agrees with the decoder over the concatenated data.
    if (v.has_option(dhcp_option_code::classless_static_routes)) {
        auto data = v.copy_option(dhcp_option_code::classless_static_routes, buf);
        auto flat = for_each_classless_route(*data, [](const classless_route&) {});
        if (flat.has_value() != cr.has_value() || (flat && *flat != *cr)) __builtin_trap();
    }
    (void)sink;
}

/// A decoded search name whose text cannot be told apart from other labels (a label
/// holding a dot at its edges) does not survive re-encoding from text; skip those.
bool ambiguous_names(const dhcp_repr& r) {
    for (const auto& n : r.domain_search)
        if (!n.empty() && (n.front() == '.' || n.back() == '.' || n.find("..") != std::string::npos)) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const bytes_view in = as_bytes_view({data, size});
    auto v = dhcp_view::parse(in);
    if (!v) return 0;
    walk_accessors(*v);

    auto r = dhcp_repr::parse(*v);
    if (!r || ambiguous_names(*r)) return 0;
    std::vector<std::byte> out(r->buffer_len());
    auto n = r->emit(out);
    if (!n) {
        // Send-side rules stricter than receive: sname/file must keep their NUL, search
        // names must be well-formed labels.
        const auto f = n.error().field;
        if (n.error().what == errc::too_long && (f == "sname" || f == "file")) return 0;
        if (f == "domain_search") return 0;
        __builtin_trap();
    }
    if (*n != out.size()) __builtin_trap();
    auto v2 = dhcp_view::parse(out);
    if (!v2) __builtin_trap();
    walk_accessors(*v2);
    auto r2 = dhcp_repr::parse(*v2);
    if (!r2) __builtin_trap();
    auto expected = *r;
    expected.min_len = r2->min_len;
    if (!(*r2 == expected)) __builtin_trap();
    std::vector<std::byte> again(r2->buffer_len());
    auto n2 = r2->emit(again);
    if (!n2 || !equal_bytes(again, out)) __builtin_trap();
    return 0;
}
