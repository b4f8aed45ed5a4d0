// libFuzzer target: UDP header parsing, checksum verification over IPv4 and IPv6 pseudo
// headers, and repr parse -> emit -> parse agreement.
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/udp.hpp>

namespace {

using namespace vnet;
using namespace vnet::wire;

const ipv4_address src4(10, 0, 2, 15);
const ipv4_address dst4(10, 0, 2, 3);
const ipv6_address src6 = ipv6_address::from_groups({0xfe80, 0, 0, 0, 0x0215, 0x5dff, 0xfe00, 0x0010});
const ipv6_address dst6 = ipv6_address::from_groups({0xff02, 0, 0, 0, 0, 0, 1, 3});

// Re-emits a datagram whose checksum was made valid and checks it comes back unchanged.
template <class Addr>
void round_trip(const udp_view& u, const Addr& src, const Addr& dst) {
    std::vector<std::byte> fixed(u.bytes().begin(), u.bytes().end());
    store_be16(fixed, udp_view::field::checksum, 0);
    checksum_acc acc;
    if constexpr (std::is_same_v<Addr, ipv4_address>) acc = pseudo_header_v4(src, dst, 17, u.length());
    else acc = pseudo_header_v6(src, dst, 17, u.length());
    std::uint16_t c = acc.add(fixed).finish();
    store_be16(fixed, udp_view::field::checksum, c == 0 ? 0xffff : c);

    auto v = udp_view::parse(fixed);
    if (!v || !v->checksum_ok(src, dst)) __builtin_trap();
    auto r = udp_repr::parse(*v, src, dst);
    if (!r) __builtin_trap();
    if (r->src_port != u.src_port() || r->dst_port != u.dst_port() || r->payload_len != u.payload().size()) __builtin_trap();
    std::vector<std::byte> out(r->buffer_len());
    auto n = r->emit(out, v->payload(), src, dst);
    if (!n || *n != fixed.size() || !equal_bytes(out, fixed)) __builtin_trap();
    auto again = udp_repr::parse(*udp_view::parse(out), src, dst);
    if (!again || !(*again == *r)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bytes_view in = as_bytes_view({data, size});
    auto u = udp_view::parse(in);
    if (!u) return 0;
    if (u->length() != u->bytes().size() || u->bytes().size() > in.size()) __builtin_trap();
    if (u->payload().size() + udp_view::header_len != u->length()) __builtin_trap();
    volatile bool ok4 = u->checksum_ok(src4, dst4);
    volatile bool ok6 = u->checksum_ok(src6, dst6);
    (void)ok4;
    (void)ok6;
    if (u->checksum() == 0 && (!u->checksum_ok(src4, dst4) || u->checksum_ok(src6, dst6))) __builtin_trap();
    if (udp_repr::parse(*u, src4, dst4).has_value() != u->checksum_ok(src4, dst4)) __builtin_trap();
    round_trip(*u, src4, dst4);
    round_trip(*u, src6, dst6);
    return 0;
}
