// libFuzzer target: the VMBus ring reader over arbitrary shared memory
// (include/vnet/netvsc/ring.hpp). Input: 20 bytes of header fields (write_index,
// read_index, interrupt_mask, pending_send_sz, feature_bits), one byte choosing the
// scratch size, then the data area (cut to a multiple of 8, at least 64 bytes).
// Invariants: no crash or out-of-bounds access (ASan / UBSan); the read index stays inside
// the data area and 8-byte aligned; a parsed packet lies inside the scratch buffer with
// its ranges inside its header; once the reader has drained the ring, a packet the writer
// puts in comes back unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vnet/core/bytes.hpp>
#include <vnet/netvsc/ring.hpp>

namespace {

using namespace vnet;
using namespace vnet::netvsc;

void check_packet(const vmbus_packet_view& p, bytes_view scratch) {
    if (p.bytes().data() != scratch.data() || p.bytes().size() > scratch.size()) __builtin_trap();
    if (p.header_len() < vmbus_descriptor_len || p.header_len() > p.bytes().size()) __builtin_trap();
    volatile std::uint64_t sink = 0;
    if (p.type() == vmbus_packet_type::data_using_xfer_pages)
        for (std::size_t i = 0; i < p.range_count(); ++i) sink = sink + p.xfer_range(i).byte_count;
    if (p.type() == vmbus_packet_type::data_using_gpa_direct)
        p.for_each_gpa([&](const gpa_range_view& g) {
            if (g.page_count() != gpa_page_count(g.offset(), g.len()) || g.offset() >= vmbus_page_size) __builtin_trap();
            for (std::size_t j = 0; j < g.page_count(); ++j) sink = sink + g.pfn(j);
        });
    (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 21) return 0;
    bytes_view in = as_bytes_view({data, size});
    std::size_t data_len = (size - 21) & ~std::size_t{7};
    if (data_len < ring_min_data_len) data_len = ring_min_data_len;
    if (data_len > 16384) data_len = 16384;
    std::vector<std::byte> mem(ring_header_len + data_len);
    store_le32(mem, ring_field::write_index, load_le32(in, 0));
    store_le32(mem, ring_field::read_index, load_le32(in, 4));
    store_le32(mem, ring_field::interrupt_mask, load_le32(in, 8));
    store_le32(mem, ring_field::pending_send_size, load_le32(in, 12));
    store_le32(mem, ring_field::feature_bits, load_le32(in, 16));
    std::vector<std::byte> scratch(std::size_t{load_u8(in, 20)} * 64);
    bytes_view body = in.subspan(21);
    for (std::size_t i = 0; i < body.size() && i < data_len; ++i) mem[ring_header_len + i] = body[i];

    auto r = ring_reader::attach(mem);
    if (!r) return 0;
    bool drained = false;
    for (int i = 0; i < 256; ++i) {
        auto p = r->read(scratch);
        if (r->read_index() >= data_len || r->read_index() % 8 != 0) __builtin_trap();
        if (!p) break;
        if (!*p) {
            drained = true;
            break;
        }
        check_packet((*p)->packet, scratch);
    }
    (void)r->unmask_interrupts();
    if (!drained) return 0;

    auto w = ring_writer::attach(mem);
    if (!w) return 0;  // the header write index was invalid: the reader refused it too
    std::vector<std::byte> payload(body.begin(),
                                   body.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(body.size(), 40)));
    auto out = w->write(vmbus_packet_type::data_inband, 1, 0x5a5a, {}, payload);
    if (!out) return 0;  // not enough space
    std::vector<std::byte> big(data_len);
    auto back = r->read(big);
    if (!back || !*back) __builtin_trap();
    const auto& pk = (*back)->packet;
    if (pk.trans_id() != 0x5a5a || pk.type() != vmbus_packet_type::data_inband) __builtin_trap();
    if (!equal_bytes(pk.payload().first(payload.size()), payload)) __builtin_trap();
    return 0;
}
