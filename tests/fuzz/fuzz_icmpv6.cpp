// libFuzzer target: ICMPv6, MLD and NDP parsing, validation and re-emission. The input is
// a 16-byte source address, a 16-byte destination address, then the ICMPv6 message.
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include <vnet/wire/icmpv6.hpp>
#include <vnet/wire/ndp.hpp>

namespace {

using namespace vnet::wire;
using vnet::ipv6_address;

volatile std::uint64_t sink;

// Every accessor on every message type: none may read outside the message.
void walk(const icmpv6_view& m) {
    sink = sink + m.msg_type() + m.code() + m.checksum() + m.parameter() + m.mtu() + m.pointer();
    sink = sink + m.invoking_packet().size() + m.echo_identifier() + m.echo_sequence() + m.echo_data().size();
    sink = sink + m.mld_max_response_delay() + m.mld_multicast_address().group(7) + m.mldv2_record_count();
    for (const auto& rec : m.mldv2_records()) {
        if (!rec) break;
        sink = sink + rec->record_type() + rec->aux_data_len() + rec->aux_data().size() + rec->multicast_address().group(0);
        for (std::size_t i = 0; i <= rec->source_count(); ++i) sink = sink + rec->source(i).group(3);
    }
}

void walk(const ndp_view& n) {
    sink = sink + n.cur_hop_limit() + n.managed_flag() + n.other_flag() + n.router_lifetime() + n.reachable_time() +
           n.retrans_timer() + n.router_flag() + n.solicited_flag() + n.override_flag() + n.target().group(1);
    sink = sink + n.destination().group(2);
    std::size_t total = ndp_view::options_offset(n.msg_type());
    for (const auto& o : n.options()) {
        if (!o) break;
        if (o->bytes.size() != 8u * o->length() || o->length() == 0) __builtin_trap();
        total += o->bytes.size();
        sink = sink + o->link_layer_address().to_u64() + o->prefix_length() + o->on_link_flag() + o->autonomous_flag() +
               o->valid_lifetime() + o->preferred_lifetime() + o->prefix().group(0) + o->redirected_packet().size() + o->mtu() +
               o->rdnss_lifetime() + o->data().size();
        for (std::size_t i = 0; i <= o->rdnss_address_count(); ++i) sink = sink + o->rdnss_address(i).group(5);
        if (o->type() == ndp_option_type::prefix_information && !ndp_prefix_information_option::parse(*o)) __builtin_trap();
    }
    if (total > n.bytes().size()) __builtin_trap();
}

// parse -> repr -> emit -> parse gives the same repr (reserved bytes are written as zero,
// so the bytes may differ there).
template <class Repr>
void round_trip(const Repr& r, const ipv6_address& src, const ipv6_address& dst) {
    std::vector<std::byte> out(r.buffer_len());
    auto n = r.emit(out, src, dst);
    if (!n || *n != out.size()) __builtin_trap();
    auto v = icmpv6_view::parse(out);
    if (!v || !v->checksum_ok(src, dst)) __builtin_trap();
    if constexpr (std::is_same_v<Repr, ndp_repr>) {
        auto back = ndp_repr::parse(*ndp_view::parse(*v), src, dst);
        if (!back || !(*back == r)) __builtin_trap();
    } else {
        auto back = icmpv6_repr::parse(*v, src, dst);
        if (!back || !(*back == r)) __builtin_trap();
    }
}

void check(vnet::bytes_view msg, const ipv6_address& src, const ipv6_address& dst) {
    auto m = icmpv6_view::parse(msg);
    if (!m) return;
    walk(*m);
    const bool sum_ok = m->checksum_ok(src, dst);
    // one's complement: a computed 0 also verifies when written as 0xffff
    if (sum_ok !=
        (m->compute_checksum(src, dst) == m->checksum() || (m->compute_checksum(src, dst) == 0 && m->checksum() == 0xffff)))
        __builtin_trap();
    if (auto r = icmpv6_repr::parse(*m, src, dst)) {
        if (!sum_ok) __builtin_trap();
        round_trip(*r, src, dst);
    }
    if (auto n = ndp_view::parse(*m)) {
        walk(*n);
        auto ok = ndp_validate(*n, 255, src, dst);
        if (auto r = ndp_repr::parse(*n, src, dst)) {
            if (!sum_ok) __builtin_trap();
            round_trip(*r, src, dst);
        } else if (ok) {
            __builtin_trap();  // a message that validates has a valid checksum and options
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 32) return 0;
    vnet::bytes_view in = vnet::as_bytes_view({data, size});
    const auto src = ipv6_address::load(in, 0);
    const auto dst = ipv6_address::load(in, 16);
    check(in.subspan(32), src, dst);
    // The same message with a correct checksum, so the repr paths run too.
    std::vector<std::byte> fixed(in.begin() + 32, in.end());
    if (fixed.size() >= 4) {
        icmpv6_fill_checksum(fixed, src, dst);
        check(fixed, src, dst);
    }
    return 0;
}
