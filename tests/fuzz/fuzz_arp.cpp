// libFuzzer target: ARP packet parsing (RFC 826), repr round trip and reply building.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vnet/wire/arp.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vnet;
    using namespace vnet::wire;
    bytes_view in = as_bytes_view({data, size});
    auto v = arp_view::parse(in);
    if (!v) return 0;
    if (v->packet().size() + v->padding().size() != in.size()) __builtin_trap();
    volatile bool flags = v->is_gratuitous() || v->is_probe() || v->is_request() || v->is_reply();
    (void)flags;
    (void)v->sender_mac();
    (void)v->target_mac();
    auto r = arp_repr::parse(*v);
    if (!r) {
        if (v->is_request() || v->is_reply()) __builtin_trap();
        return 0;
    }
    std::vector<std::byte> out(r->buffer_len());
    auto n = r->emit(out);
    if (!n || *n != arp_view::header_len) __builtin_trap();
    if (!equal_bytes(out, v->packet())) __builtin_trap();  // ARP has no field emit could normalise
    auto back = arp_view::parse(out);
    if (!back) __builtin_trap();
    auto again = arp_repr::parse(*back);
    if (!again || !(*again == *r)) __builtin_trap();
    if (r->is_gratuitous() != v->is_gratuitous() || r->is_probe() != v->is_probe()) __builtin_trap();
    auto reply = arp_repr::make_reply(*r, mac_address(0x00, 0x15, 0x5d, 0x00, 0x00, 0x01));
    if (reply.target_ip != r->sender_ip || reply.sender_ip != r->target_ip) __builtin_trap();
    return 0;
}
