// libFuzzer target: DNS message parsing (every section, every typed rdata decoder, EDNS
// options, names in text form), then emit with and without compression and truncated,
// and check that the re-parsed message agrees.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <vnet/wire/dns.hpp>

namespace {

using namespace vnet;
using namespace vnet::wire;

void check_name_text(const dns_name& n) {
    // the text form parses back to the same bytes (case included)
    std::string text = n.to_string();
    auto back = dns_name::parse(text);
    if (!back || !equal_bytes(back->wire(), n.wire())) __builtin_trap();
    if (text.size() > 4 * dns_name::max_wire_len) __builtin_trap();
}

void walk_record(const dns_record& r) {
    check_name_text(r.name);
    if (r.rdata_end() > r.message.size()) __builtin_trap();
    switch (r.type) {
        case dns_type::a: (void)dns_a::parse(r); break;
        case dns_type::aaaa: (void)dns_aaaa::parse(r); break;
        case dns_type::ns:
            if (auto n = dns_ns::parse(r)) check_name_text(n->target);
            break;
        case dns_type::cname:
            if (auto n = dns_cname::parse(r)) check_name_text(n->target);
            break;
        case dns_type::ptr:
            if (auto n = dns_ptr::parse(r)) check_name_text(n->target);
            break;
        case dns_type::mx:
            if (auto n = dns_mx::parse(r)) check_name_text(n->exchange);
            break;
        case dns_type::srv:
            if (auto n = dns_srv::parse(r)) check_name_text(n->target);
            break;
        case dns_type::soa:
            if (auto n = dns_soa::parse(r)) {
                check_name_text(n->mname);
                check_name_text(n->rname);
            }
            break;
        case dns_type::txt:
            if (auto t = dns_txt_view::parse(r)) {
                for (const auto& s : *t)
                    if (!s) __builtin_trap();  // checked by parse
            }
            break;
        default: break;
    }
}

std::vector<std::byte> emit(const dns_message_repr& m, dns_compression c) {
    std::vector<std::byte> out(m.buffer_len());
    auto n = m.emit(out, c);
    if (!n) __builtin_trap();  // buffer_len() is an upper bound
    out.resize(*n);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bytes_view in = as_bytes_view({data, size});

    // names read from any offset must never read out of bounds
    for (std::size_t off = 0; off < in.size() && off < 64; ++off)
        if (auto n = read_dns_name(in, off)) {
            if (n->end > in.size()) __builtin_trap();
            check_name_text(n->name);
        }
    (void)split_dns_tcp(in);
    (void)dns_header::parse(in);

    auto v = dns_view::parse(in);
    if (!v) return 0;
    if (v->size() > in.size()) __builtin_trap();
    std::size_t count = 0;
    for (const auto& q : v->questions()) {
        if (!q) __builtin_trap();  // parse checked every entry
        check_name_text(q->name);
        ++count;
    }
    if (count != v->qdcount()) __builtin_trap();
    for (auto s : {dns_section::answer, dns_section::authority, dns_section::additional}) {
        count = 0;
        for (const auto& r : v->records(s)) {
            if (!r) __builtin_trap();
            walk_record(*r);
            ++count;
        }
        if (count != v->count(s)) __builtin_trap();
    }
    if (const auto& o = v->edns()) {
        for (const auto& opt : *o)
            if (!opt) __builtin_trap();
        (void)v->full_rcode();
    }

    auto m = dns_message_repr::parse(*v);
    if (!m) return 0;
    for (auto c : {dns_compression::on, dns_compression::off}) {
        auto bytes = emit(*m, c);
        auto v2 = dns_view::parse(bytes);
        if (!v2) __builtin_trap();
        auto m2 = dns_message_repr::parse(*v2);
        if (!m2 || !(*m2 == *m)) __builtin_trap();
        // emitting the re-parsed message gives the same bytes
        if (!equal_bytes(emit(*m2, c), bytes)) __builtin_trap();
        if (c == dns_compression::off && bytes.size() != m->buffer_len()) __builtin_trap();
    }
    std::vector<std::byte> small(dns_udp_max);
    if (auto n = m->emit_truncated(small)) {
        auto v3 = dns_view::parse(bytes_view(small).first(*n));
        if (!v3 || *n > dns_udp_max) __builtin_trap();
        if (v3->ancount() > v->ancount() || v3->qdcount() != v->qdcount()) __builtin_trap();
    }
    return 0;
}
