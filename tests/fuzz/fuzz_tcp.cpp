// libFuzzer target: TCP header parsing, the option iterator, checksum verification over
// IPv4 and IPv6 pseudo headers, and repr parse -> emit -> parse agreement.
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include <vnet/core/ipv4.hpp>
#include <vnet/core/ipv6.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/tcp.hpp>

namespace {

using namespace vnet;
using namespace vnet::wire;

const ipv4_address src4(192, 168, 1, 140);
const ipv4_address dst4(192, 168, 1, 194);
const ipv6_address src6 = ipv6_address::from_groups({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1});
const ipv6_address dst6 = ipv6_address::from_groups({0x2001, 0xdb8, 0, 0, 0, 0, 0, 2});

template <class Addr>
checksum_acc pseudo(const Addr& src, const Addr& dst, std::size_t len) {
    if constexpr (std::is_same_v<Addr, ipv4_address>) return pseudo_header_v4(src, dst, 6, static_cast<std::uint16_t>(len));
    else return pseudo_header_v6(src, dst, 6, static_cast<std::uint32_t>(len));
}

// The first option error the iterator yields, if any.
bool first_option_error(const tcp_view& t, error& e) {
    for (const auto& o : t.options())
        if (!o) {
            e = o.error();
            return true;
        }
    return false;
}

// Makes the checksum valid, then parse -> emit -> parse must give the same repr.
template <class Addr>
void round_trip(const tcp_view& t, const Addr& src, const Addr& dst) {
    if (t.bytes().size() > 0xffff) return;
    std::vector<std::byte> fixed(t.bytes().begin(), t.bytes().end());
    store_be16(fixed, tcp_view::field::checksum, 0);
    store_be16(fixed, tcp_view::field::checksum, pseudo(src, dst, fixed.size()).add(fixed).finish());
    auto v = tcp_view::parse(fixed);
    if (!v || !v->checksum_ok(src, dst)) __builtin_trap();
    auto r = tcp_repr::parse(*v, src, dst);
    error e;
    if (first_option_error(*v, e)) {
        if (r || r.error() != e || e.what != errc::bad_option) __builtin_trap();
        return;
    }
    if (!r) __builtin_trap();
    if (r->options_len() > tcp_view::max_options_len) __builtin_trap();  // every parsed header can be emitted
    std::vector<std::byte> out(r->buffer_len());
    auto n = r->emit(out, v->payload(), src, dst);
    if (!n || *n != out.size()) __builtin_trap();
    auto w = tcp_view::parse(out);
    if (!w || !w->checksum_ok(src, dst) || !equal_bytes(w->payload(), v->payload())) __builtin_trap();
    auto again = tcp_repr::parse(*w, src, dst);
    if (!again || !(*again == *r)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bytes_view in = as_bytes_view({data, size});
    auto t = tcp_view::parse(in);
    if (!t) return 0;
    if (t->header_len() < 20 || t->header_len() > 60 || t->header_len() > in.size()) __builtin_trap();
    if (t->options_bytes().size() + 20 + t->payload().size() != in.size()) __builtin_trap();
    volatile std::uint32_t sink = t->src_port() + t->dst_port() + t->seq_number() + t->ack_number() + t->flags() +
                                  t->window_len() + t->checksum() + t->urgent_pointer() + t->reserved() +
                                  static_cast<std::uint32_t>(t->segment_len());
    (void)sink;
    (void)tcpdump_flags(t->flags()).str();
    std::size_t walked = 0;
    for (const auto& o : t->options()) {
        if (!o) break;
        walked += o->bytes().size();
        if (walked > t->options_bytes().size()) __builtin_trap();
        if (o->window_scale() > max_window_scale) __builtin_trap();
        std::uint32_t acc = o->mss() + o->window_scale_raw() + o->timestamps().value + o->timestamps().echo_reply +
                            static_cast<std::uint32_t>(o->data().size());
        for (std::size_t i = 0; i < o->sack_block_count(); ++i) acc += o->sack(i).left + o->sack(i).right;
        if (o->sack_block_count() > tcp_option::max_sack_blocks) __builtin_trap();
        sink = acc;
    }
    volatile bool ok = t->checksum_ok(src4, dst4) || t->checksum_ok(src6, dst6);
    (void)ok;
    round_trip(*t, src4, dst4);
    round_trip(*t, src6, dst6);
    return 0;
}
