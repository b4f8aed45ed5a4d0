// libFuzzer target: IPv6 header parsing, the extension header walk and re-emission.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

#include <vnet/wire/ipv6.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vnet::wire;
    vnet::bytes_view in = vnet::as_bytes_view({data, size});
    auto p = ipv6_view::parse(in);
    if (!p) return 0;
    if (p->version() != 6 || p->bytes().size() != ipv6_view::header_len + p->payload_length()) __builtin_trap();
    volatile std::uint32_t sink = p->traffic_class() + p->flow_label() + p->dscp() + p->ecn() + p->hop_limit();
    sink = sink + p->src().group(7) + p->dst().group(0);

    // The iterator and upper_layer() must agree: same error, or the upper layer sits
    // right after the last header.
    std::size_t end = ipv6_view::header_len;
    std::uint8_t next = p->next_header();
    bool failed = false;
    vnet::error first_error{};
    for (const auto& h : p->extension_headers()) {
        if (!h) {
            failed = true;
            first_error = h.error();
            break;
        }
        if (h->offset != end || h->type != next || h->length < 8 || h->bytes.size() != h->length) __builtin_trap();
        if (h->offset + h->length > p->bytes().size()) __builtin_trap();
        sink = sink + h->data().size();
        if (h->type == ipv6_next_header::fragment) sink = sink + h->fragment_offset() + h->more_fragments() + h->identification();
        if (h->type == ipv6_next_header::routing) sink = sink + h->routing_type() + h->segments_left();
        end += h->length;
        next = h->next_header;
    }
    auto u = p->upper_layer();
    if (failed != !u) __builtin_trap();
    if (!u) {
        if (!(u.error() == first_error)) __builtin_trap();
    } else if (u->offset != end || u->protocol != next || u->offset + u->payload.size() != p->bytes().size()) {
        __builtin_trap();
    }

    // parse -> repr -> emit gives the same packet.
    auto r = ipv6_repr::parse(*p);
    if (!r) __builtin_trap();
    std::vector<std::byte> out(r->buffer_len());
    auto n = r->emit(out, p->payload());
    if (!n || *n != p->bytes().size() || !vnet::equal_bytes(out, p->bytes())) __builtin_trap();
    auto back = ipv6_view::parse(out);
    if (!back || !(*ipv6_repr::parse(*back) == *r)) __builtin_trap();
    (void)sink;
    return 0;
}
