// libFuzzer target: IPv4 header and option parsing (RFC 791), repr round trip.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vnet/wire/ipv4.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vnet;
    using namespace vnet::wire;
    bytes_view in = as_bytes_view({data, size});

    // the option walker over arbitrary octets must terminate and stay in bounds
    std::size_t walked = 0;
    for (const auto& o : ipv4_options(in)) {
        if (o) {
            walked += o->length();
            (void)o->name();
            (void)o->pointer();
            for (std::size_t i = 0; i < o->route_size(); ++i) (void)o->route_address(i);
            (void)o->timestamp_flag();
            (void)o->timestamp_data().size();
            (void)o->router_alert_value();
            (void)o->security_classification();
        }
    }
    if (walked > in.size()) __builtin_trap();

    auto v = ipv4_view::parse(in);
    if (!v) return 0;
    if (v->header_len() < 20 || v->header_len() > v->total_length() || v->total_length() > in.size()) __builtin_trap();
    if (v->header().size() + v->payload().size() + v->padding().size() != in.size()) __builtin_trap();
    volatile auto sink = v->dscp() + v->ecn() + v->identification() + v->fragment_offset() + v->ttl() + v->protocol() +
                         v->src().to_u32() + v->dst().to_u32();
    (void)sink;
    for (const auto& o : v->options())
        if (!o) __builtin_trap();  // parse() validated every option

    auto r = ipv4_repr::parse(*v);
    if (!r) {
        if (v->checksum_ok()) __builtin_trap();
        return 0;
    }
    std::vector<std::byte> out(r->buffer_len());
    auto n = r->emit(out, v->payload());
    if (!n || *n != v->total_length()) __builtin_trap();
    // A parsed header re-emits octet for octet, but for one's complement zero: a received
    // checksum of 0xffff (negative zero, which an RFC 1624 eqn. 2 update can leave) verifies
    // like the 0x0000 the emitter computes (RFC 1071), so only that field may differ then.
    if (!equal_bytes(out, v->packet())) {
        const auto cs = ipv4_view::field::checksum;
        if (v->checksum() != 0xffff || load_be16(out, cs) != 0x0000) __builtin_trap();
        store_be16(out, cs, 0xffff);
        if (!equal_bytes(out, v->packet())) __builtin_trap();
        store_be16(out, cs, 0x0000);
    }
    auto back = ipv4_view::parse(out);
    if (!back || !back->checksum_ok()) __builtin_trap();
    auto again = ipv4_repr::parse(*back);
    if (!again || !(*again == *r)) __builtin_trap();
    return 0;
}
