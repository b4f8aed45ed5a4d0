// libFuzzer target: ICMPv4 message parsing (RFC 792), the embedded original datagram
// of error messages, repr round trip.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vnet/wire/icmpv4.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vnet;
    using namespace vnet::wire;
    bytes_view in = as_bytes_view({data, size});
    auto v = icmpv4_view::parse(in);
    if (!v) return 0;
    volatile auto sink = v->identifier() + v->sequence() + v->next_hop_mtu() + v->pointer() + v->gateway().to_u32() +
                         v->rest_of_header() + v->data().size();
    (void)sink;
    if (auto e = v->embedded_ipv4()) {
        if (!v->is_error()) __builtin_trap();
        if (e->transport_offset() + embedded_ipv4_view::transport_len > v->original_datagram().size()) __builtin_trap();
        volatile auto s2 = e->src().to_u32() + e->dst().to_u32() + e->protocol() + e->total_length() + e->source_port() +
                           e->destination_port() + e->icmp_identifier() + e->fragment_offset() + e->payload().size() +
                           (e->checksum_ok() ? 1 : 0);
        (void)s2;
        for (const auto& o : e->options())
            if (o) (void)o->length();
    }
    auto r = icmpv4_repr::parse(*v);
    if (!r) {
        if (v->checksum_ok()) __builtin_trap();
        return 0;
    }
    if (r->type() != v->type() || r->buffer_len() != in.size()) __builtin_trap();
    std::vector<std::byte> out(r->buffer_len());
    auto n = r->emit(out);
    if (!n || *n != in.size()) __builtin_trap();
    auto back = icmpv4_view::parse(out);
    if (!back || !back->checksum_ok()) __builtin_trap();
    auto again = icmpv4_repr::parse(*back);
    if (!again || !(*again == *r)) __builtin_trap();
    return 0;
}
