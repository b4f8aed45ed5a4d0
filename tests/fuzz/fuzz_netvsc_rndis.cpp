// libFuzzer target: the RNDIS message and PACKET parsers (include/vnet/netvsc/rndis.hpp).
// Invariants: no crash or out-of-bounds read (ASan / UBSan); a parsed packet's frame and
// PPIs lie inside the message; re-emitting a packet from its frame and per-packet info
// and parsing it again gives the same frame and info; control messages that parse
// re-emit and parse to the same values.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vnet/core/bytes.hpp>
#include <vnet/netvsc/rndis.hpp>

namespace {

using namespace vnet;
using namespace vnet::netvsc;

bool inside(bytes_view part, bytes_view whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bytes_view in = as_bytes_view({data, size});
    auto m = rndis_message_view::parse(in);
    if (!m) return 0;
    if (m->bytes().size() != m->length() || m->bytes().size() > in.size()) __builtin_trap();
    std::vector<std::byte> out(m->length() + 64);
    switch (m->type()) {
        case rndis_type::packet: {
            auto p = rndis_packet_view::parse(*m);
            if (!p) return 0;
            if (!inside(p->frame(), m->bytes())) __builtin_trap();
            p->for_each_ppi([&](const rndis_ppi& x) {
                if (!inside(x.data, m->bytes())) __builtin_trap();
            });
            auto info = p->info();
            std::vector<std::byte> re(rndis_packet_len(info, p->frame().size()));
            auto n = emit_rndis_packet(re, info, p->frame());
            if (!n || *n != re.size()) __builtin_trap();
            auto again = rndis_packet_view::parse(re);
            if (!again || !equal_bytes(again->frame(), p->frame()) || !(again->info() == info)) __builtin_trap();
            break;
        }
        case rndis_type::init: {
            auto r = rndis_init_request::parse(*m);
            if (!r || !r->emit(out)) __builtin_trap();
            auto again = rndis_init_request::parse(*rndis_message_view::parse(out));
            if (!again || !(*again == *r)) __builtin_trap();
            break;
        }
        case rndis_type::init_complete: {
            auto r = rndis_init_complete::parse(*m);
            if (!r || !r->emit(out)) __builtin_trap();
            auto again = rndis_init_complete::parse(*rndis_message_view::parse(out));
            if (!again || !(*again == *r)) __builtin_trap();
            break;
        }
        case rndis_type::query:
        case rndis_type::set: {
            auto r = rndis_oid_request::parse(*m);
            if (!r) return 0;
            if (!inside(r->info, m->bytes())) __builtin_trap();
            std::vector<std::byte> re(r->buffer_len());
            if (!r->emit(re)) __builtin_trap();
            auto again = rndis_oid_request::parse(*rndis_message_view::parse(re));
            if (!again || again->oid != r->oid || !equal_bytes(again->info, r->info)) __builtin_trap();
            break;
        }
        case rndis_type::query_complete: {
            auto r = rndis_query_complete::parse(*m);
            if (!r) return 0;
            std::vector<std::byte> re(r->buffer_len());
            if (!r->emit(re)) __builtin_trap();
            auto again = rndis_query_complete::parse(*rndis_message_view::parse(re));
            if (!again || again->status != r->status || !equal_bytes(again->info, r->info)) __builtin_trap();
            break;
        }
        case rndis_type::indicate_status: {
            auto r = rndis_indicate_status::parse(*m);
            if (!r) return 0;
            std::vector<std::byte> re(r->buffer_len());
            if (!r->emit(re)) __builtin_trap();
            auto again = rndis_indicate_status::parse(*rndis_message_view::parse(re));
            if (!again || again->status != r->status || !equal_bytes(again->buffer, r->buffer)) __builtin_trap();
            break;
        }
        case rndis_type::set_complete:
        case rndis_type::keepalive_complete: {
            auto r = rndis_simple_complete::parse(*m);
            if (!r || !r->emit(out) || !(*rndis_simple_complete::parse(*rndis_message_view::parse(out)) == *r)) __builtin_trap();
            break;
        }
        case rndis_type::halt:
        case rndis_type::keepalive:
        case rndis_type::reset: {
            auto r = rndis_simple_request::parse(*m);
            if (!r || !r->emit(out) || !(*rndis_simple_request::parse(*rndis_message_view::parse(out)) == *r)) __builtin_trap();
            break;
        }
        case rndis_type::reset_complete: {
            auto r = rndis_reset_complete::parse(*m);
            if (!r || !r->emit(out) || !(*rndis_reset_complete::parse(*rndis_message_view::parse(out)) == *r)) __builtin_trap();
            break;
        }
        default: __builtin_trap();  // parse() accepts only the types above
    }
    return 0;
}
