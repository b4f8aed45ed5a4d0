// libFuzzer target: Ethernet header and VLAN tag stack parsing, and tag push/pop.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/vlan.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    vnet::bytes_view in = vnet::as_bytes_view({data, size});
    if (auto e = vnet::wire::ethernet_view::parse(in)) {
        volatile auto t = e->ethertype();
        (void)t;
        (void)e->payload().size();
    }
    if (auto f = vnet::wire::frame_view::parse(in)) {
        for (std::size_t i = 0; i < f->tag_count(); ++i) (void)f->tag(i).vid;
        if (f->header_len() > in.size()) __builtin_trap();
        std::vector<std::byte> out(in.size() + 4);
        if (auto n = vnet::wire::push_vlan_tag(in, vnet::wire::vlan_tag{0x8100, 1, false, 7}, out)) {
            auto back = vnet::wire::frame_view::parse({out.data(), *n});
            if (back && f->tag_count() < 2 && back->ethertype() != f->ethertype()) __builtin_trap();
        }
        if (f->tag_count() > 0) {
            auto m = vnet::wire::pop_vlan_tag(in, out);
            if (!m || *m != in.size() - 4) __builtin_trap();
        }
    }
    return 0;
}
