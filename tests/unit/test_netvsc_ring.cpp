// VMBus ring buffer (include/vnet/netvsc/ring.hpp, vmbus_packet.hpp). Every layout and
// rule is from docs/netvsc-facts.md section 1 (L-hv, L-rb).
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <vnet/netvsc/ring.hpp>

#include "test_util.hpp"

VNET_TEST_PRINTABLE_NAMESPACE(vnet::netvsc)

using namespace vnet;
using namespace vnet::netvsc;
using vnet::test::hex;
using vnet::test::view;

namespace {

/// Ring memory: the 4096-byte header page then `data` bytes of data area, initialised.
struct ring_mem {
    std::vector<std::byte> mem;
    explicit ring_mem(std::size_t data) : mem(ring_header_len + data) { BOOST_REQUIRE(ring_init(mem)); }
    bytes_span span() { return mem; }
    bytes_span data() { return bytes_span(mem).subspan(ring_header_len); }
    std::uint32_t get(std::size_t field) const { return load_le32(mem, field); }
    void set(std::size_t field, std::uint32_t v) { store_le32(mem, field, v); }
    /// Puts both indices at off (an empty ring whose next packet starts there).
    void at(std::uint32_t off) {
        set(ring_field::write_index, off);
        set(ring_field::read_index, off);
    }
};

std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<std::uint8_t>(seed + i * 7));
    return v;
}

error nv_err(errc e, std::string_view f) { return error{layer::netvsc, e, f}; }

}  // namespace

BOOST_AUTO_TEST_SUITE(netvsc_ring)

// docs/netvsc-facts.md section 1: header page fields at 0, 4, 8, 12 and feature_bits at 64;
// the creator advertises feat_pending_send_sz (bit 0).
BOOST_AUTO_TEST_CASE(header_page_layout) {
    ring_mem m(256);
    BOOST_TEST(ring_field::write_index == 0u);
    BOOST_TEST(ring_field::read_index == 4u);
    BOOST_TEST(ring_field::interrupt_mask == 8u);
    BOOST_TEST(ring_field::pending_send_size == 12u);
    BOOST_TEST(ring_field::feature_bits == 64u);
    BOOST_TEST(ring_header_len == 4096u);
    BOOST_TEST(equal_bytes(bytes_view(m.mem).subspan(64, 4), view(hex("01000000"))));
    for (std::size_t i = 0; i < 64; ++i) BOOST_TEST(u8(m.mem[i]) == 0);
}

// docs/netvsc-facts.md section 1: an in-band packet is descriptor {type 6, offset8 2, len8,
// flags, trans_id}, payload, zero padding to 8, then the u64 trailer start_write_index << 32.
BOOST_AUTO_TEST_CASE(inband_packet_bytes) {
    ring_mem m(256);
    m.at(0x20);
    auto w = ring_writer::attach(m.span());
    BOOST_REQUIRE(w);
    auto payload = hex("01000000 02000000 03000000");  // 12 bytes: padded to 16
    auto out = w->write(vmbus_packet_type::data_inband, vmbus_flag_completion_requested, 0x1122334455667788ULL, {},
                        view(payload));
    BOOST_REQUIRE(out);
    BOOST_TEST(out->bytes == 40u);
    auto expect = hex(
        "0600 0200 0400 0100 8877665544332211"  // descriptor: len8 4 = 32 bytes
        "01000000 02000000 03000000 00000000"   // payload and padding
        "00000000 20000000");                   // trailer: 0x20 << 32
    BOOST_TEST(equal_bytes(bytes_view(m.data()).subspan(0x20, 40), view(expect)));
    BOOST_TEST(m.get(ring_field::write_index) == 0x48u);
    BOOST_TEST(w->write_index() == 0x48u);

    auto r = ring_reader::attach(m.span());
    BOOST_REQUIRE(r);
    std::vector<std::byte> scratch(256);
    auto got = r->read(scratch);
    BOOST_REQUIRE(got);
    BOOST_REQUIRE(got->has_value());
    const auto& p = (*got)->packet;
    BOOST_TEST(p.type() == vmbus_packet_type::data_inband);
    BOOST_TEST(p.completion_requested());
    BOOST_TEST(p.trans_id() == 0x1122334455667788ULL);
    BOOST_TEST(p.header_len() == 16u);
    BOOST_TEST(equal_bytes(p.payload(), view(hex("01000000 02000000 03000000 00000000"))));
    BOOST_TEST(m.get(ring_field::read_index) == 0x48u);
    auto again = r->read(scratch);
    BOOST_REQUIRE(again);
    BOOST_TEST(!again->has_value());  // empty when r == w
}

// docs/netvsc-facts.md section 1: type 7 header u16 pageset @16, u8 sender_owns @18, u32
// range_cnt @20, ranges @24 {byte_count, byte_offset}; offset8 covers the ranges.
BOOST_AUTO_TEST_CASE(xfer_page_packet) {
    ring_mem m(512);
    auto w = ring_writer::attach(m.span());
    BOOST_REQUIRE(w);
    std::array<xfer_page_range, 2> ranges{{{100, 0}, {60, 1728}}};
    std::array<std::byte, 64> th{};
    auto n = emit_xfer_page_header(th, 0xCAFE, false, ranges);
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == 24u);
    BOOST_TEST(equal_bytes(bytes_view(th).first(24), view(hex("feca 00 00 02000000 64000000 00000000 3c000000 c0060000"))));
    auto payload = hex("6b000000 00000000 ffffffff 00000000");
    BOOST_REQUIRE(w->write(vmbus_packet_type::data_using_xfer_pages, 1, 7, bytes_view(th).first(*n), view(payload)));
    BOOST_TEST(equal_bytes(bytes_view(m.data()).first(8), view(hex("0700 0500 0700 0100"))));  // offset8 5, len8 7

    auto r = ring_reader::attach(m.span());
    std::vector<std::byte> scratch(512);
    auto got = r->read(scratch);
    BOOST_REQUIRE(got);
    BOOST_REQUIRE(got->has_value());
    const auto& p = (*got)->packet;
    BOOST_TEST(p.type() == vmbus_packet_type::data_using_xfer_pages);
    BOOST_TEST(p.xfer_pageset_id() == 0xCAFEu);
    BOOST_TEST(!p.sender_owns_set());
    BOOST_REQUIRE(p.range_count() == 2u);
    BOOST_TEST(p.xfer_range(0) == ranges[0]);
    BOOST_TEST(p.xfer_range(1) == ranges[1]);
    BOOST_TEST(equal_bytes(p.payload(), view(payload)));
}

// docs/netvsc-facts.md section 1: type 9 header u32 reserved @16, u32 range_cnt @20, ranges @24
// {u32 len, u32 offset, u64 pfn[ceil((offset + len) / 4096)]}: a range inside one page is
// 16 bytes, one that crosses pages carries one pfn per page (Linux netvsc_build_mpb_array,
// struct hv_mpb_array). Here 4000 bytes at 96 (one page, ends exactly at 4096) and 6000
// bytes at 200 (pages 0x20000 and 0x20001).
BOOST_AUTO_TEST_CASE(gpa_direct_packet) {
    ring_mem m(512);
    auto w = ring_writer::attach(m.span());
    std::array<gpa_range, 2> ranges{{{4000, 96, 0x12345}, {6000, 200, 0x20000}}};
    std::array<std::byte, 64> th{};
    auto n = emit_gpa_direct_header(th, ranges);
    BOOST_REQUIRE(n);
    BOOST_TEST(*n == 48u);
    BOOST_TEST(equal_bytes(bytes_view(th).first(48), view(hex("00000000 02000000 a00f0000 60000000 4523010000000000"
                                                              "70170000 c8000000 0000020000000000 0100020000000000"))));
    auto payload = hex("6b000000 00000000 ffffffff 00000000");
    BOOST_REQUIRE(w->write(vmbus_packet_type::data_using_gpa_direct, 1, 9, bytes_view(th).first(*n), view(payload)));
    auto r = ring_reader::attach(m.span());
    std::vector<std::byte> scratch(512);
    auto got = r->read(scratch);
    BOOST_REQUIRE(got);
    BOOST_REQUIRE(got->has_value());
    const auto& p = (*got)->packet;
    BOOST_TEST(p.header_len() == 64u);
    BOOST_REQUIRE(p.range_count() == 2u);
    std::vector<std::string> seen;
    p.for_each_gpa([&](const gpa_range_view& g) {
        std::string s = fmt::format("{}@{}:", g.len(), g.offset());
        for (std::size_t i = 0; i < g.page_count(); ++i) s += fmt::format(" {:#x}", g.pfn(i));
        seen.push_back(s);
    });
    BOOST_TEST(seen == (std::vector<std::string>{"4000@96: 0x12345", "6000@200: 0x20000 0x20001"}),
               boost::test_tools::per_element());
    // An offset of 4096 is refused by the emitter and by the parser.
    std::array<gpa_range, 1> bad{{{10, 4096, 1}}};
    BOOST_TEST(emit_gpa_direct_header(th, bad).error() == (error{layer::netvsc, errc::bad_pointer, "vmbus.gpa_offset"}));
}

// A type 9 header whose last range claims more pages than the header holds, or an offset
// past the page, does not parse: nothing is read past the header.
BOOST_AUTO_TEST_CASE(gpa_direct_ranges_checked) {
    // 16-byte descriptor (offset8 = 5: a 40-byte header), reserved, count 1, then
    // {len 5000, offset 0}: two pages needed, one pfn present.
    auto short_pfns = hex("0900 0500 0500 0100 0900000000000000 00000000 01000000 88130000 00000000 0100000000000000");
    auto p = vmbus_packet_view::parse(view(short_pfns));
    BOOST_REQUIRE(!p);
    BOOST_TEST(p.error() == (error{layer::netvsc, errc::bad_length, "vmbus.gpa_pages"}));
    auto big_offset = hex("0900 0500 0500 0100 0900000000000000 00000000 01000000 10000000 00100000 0100000000000000");
    auto q = vmbus_packet_view::parse(view(big_offset));
    BOOST_REQUIRE(!q);
    BOOST_TEST(q.error() == (error{layer::netvsc, errc::bad_pointer, "vmbus.gpa_offset"}));
    auto ok = hex("0900 0500 0500 0100 0900000000000000 00000000 01000000 00100000 00000000 0100000000000000");
    BOOST_TEST(vmbus_packet_view::parse(view(ok)).has_value());  // 4096 bytes at 0: one page
}

// docs/netvsc-facts.md section 1: a completion (type 0xB) echoes the request's trans_id.
BOOST_AUTO_TEST_CASE(completion_packet) {
    ring_mem m(256);
    auto w = ring_writer::attach(m.span());
    auto body = hex("02000000 00000000 00000000 01000000");
    BOOST_REQUIRE(w->write(vmbus_packet_type::completion, 0, 42, {}, view(body)));
    auto r = ring_reader::attach(m.span());
    std::vector<std::byte> scratch(256);
    auto got = r->read(scratch);
    BOOST_REQUIRE(got);
    BOOST_REQUIRE(got->has_value());
    BOOST_TEST((*got)->packet.type() == vmbus_packet_type::completion);
    BOOST_TEST((*got)->packet.trans_id() == 42u);
    BOOST_TEST(!(*got)->packet.completion_requested());
}

// docs/netvsc-facts.md section 1: indices are byte offsets modulo the data size; a packet that
// crosses the end continues at offset 0, the reader advances len8 * 8 + 8 modulo size.
// Every 8-byte start offset and several payload lengths.
BOOST_AUTO_TEST_CASE(wrap_around_at_every_offset) {
    constexpr std::size_t size = 256;
    std::vector<std::byte> scratch(size);
    int checked = 0;
    for (std::size_t start = 0; start < size; start += 8) {
        for (std::size_t len : {1u, 8u, 13u, 64u, 150u, 200u, 240u}) {
            ring_mem m(size);
            m.at(static_cast<std::uint32_t>(start));
            auto w = ring_writer::attach(m.span());
            auto r = ring_reader::attach(m.span());
            BOOST_REQUIRE(w);
            BOOST_REQUIRE(r);
            auto payload = pattern(len, static_cast<std::uint8_t>(start));
            auto out = w->write(vmbus_packet_type::data_inband, 0, start * 1000 + len, {}, view(payload));
            std::size_t total = align8(16 + len) + 8;
            if (total >= size) {  // an empty ring has size writable bytes; a write needs more than it takes
                BOOST_TEST(!out);
                continue;
            }
            BOOST_REQUIRE(out);
            BOOST_TEST(out->bytes == total);
            BOOST_TEST(m.get(ring_field::write_index) == (start + total) % size);
            // The trailer holds the start index in its upper half, wherever it lands.
            std::array<std::byte, 8> trailer{};
            detail::ring_copy_out(m.data(), (start + total - 8) % size, trailer);
            BOOST_TEST(load_le64(trailer, 0) == (std::uint64_t{start} << 32));
            auto got = r->read(scratch);
            BOOST_REQUIRE(got);
            BOOST_REQUIRE(got->has_value());
            BOOST_TEST((*got)->packet.trans_id() == start * 1000 + len);
            BOOST_TEST(equal_bytes((*got)->packet.payload().first(len), view(payload)));
            BOOST_TEST(m.get(ring_field::read_index) == (start + total) % size);
            ++checked;
        }
    }
    BOOST_TEST(checked == 32 * 6);
}

// docs/netvsc-facts.md section 1: a write fails if writable <= total_len + 8; the ring is
// never filled completely, so a full ring is distinguishable from an empty one.
BOOST_AUTO_TEST_CASE(full_ring_rules) {
    ring_mem m(256);
    auto w = ring_writer::attach(m.span());
    // Each packet: 16 descriptor + 24 payload + 8 trailer = 48 bytes.
    auto payload = pattern(24, 1);
    int written = 0;
    while (w->write(vmbus_packet_type::data_inband, 0, 0, {}, view(payload))) ++written;
    // 256 bytes: after 4 packets 64 are free; a fifth needs writable > 48 + 8 = 56: fits.
    // After 5, 16 free: no room.
    BOOST_TEST(written == 5);
    BOOST_TEST(w->counters().full == 1u);
    auto space = w->space();
    BOOST_REQUIRE(space);
    BOOST_TEST(*space == 8u);
    // A packet that takes exactly all free bytes but the 8-byte gap is refused too.
    ring_mem e(256);
    auto w2 = ring_writer::attach(e.span());
    auto big = pattern(256 - 16 - 8, 3);  // 248 bytes + 8 trailer: writable 256 <= 256
    BOOST_TEST(!w2->write(vmbus_packet_type::data_inband, 0, 0, {}, view(big)));
    auto fits = pattern(256 - 16 - 16, 3);  // 240 bytes + 8 trailer: 256 > 248
    BOOST_TEST(w2->write(vmbus_packet_type::data_inband, 0, 0, {}, view(fits)).has_value());
    // Reading frees space again.
    auto r = ring_reader::attach(m.span());
    std::vector<std::byte> scratch(256);
    BOOST_REQUIRE(r->read(scratch));
    BOOST_TEST(w->write(vmbus_packet_type::data_inband, 0, 0, {}, view(payload)).has_value());
}

// docs/netvsc-facts.md section 1: the writer signals only if interrupt_mask == 0 and the ring
// went from empty to non-empty.
BOOST_AUTO_TEST_CASE(writer_signal_rule) {
    ring_mem m(512);
    auto w = ring_writer::attach(m.span());
    auto r = ring_reader::attach(m.span());
    auto p = pattern(8, 0);
    auto a = w->write(vmbus_packet_type::data_inband, 0, 1, {}, view(p));
    BOOST_REQUIRE(a);
    BOOST_TEST(a->signal_reader);  // empty -> non-empty, not masked
    auto b = w->write(vmbus_packet_type::data_inband, 0, 2, {}, view(p));
    BOOST_REQUIRE(b);
    BOOST_TEST(!b->signal_reader);  // ring was not empty
    std::vector<std::byte> scratch(512);
    BOOST_REQUIRE(r->read(scratch));
    BOOST_REQUIRE(r->read(scratch));
    r->mask_interrupts();
    BOOST_TEST(m.get(ring_field::interrupt_mask) == 1u);
    auto c = w->write(vmbus_packet_type::data_inband, 0, 3, {}, view(p));
    BOOST_REQUIRE(c);
    BOOST_TEST(!c->signal_reader);  // empty -> non-empty but masked
    auto pending = r->unmask_interrupts();
    BOOST_REQUIRE(pending);
    BOOST_TEST(*pending);  // data arrived while masked: the reader must poll again
    BOOST_REQUIRE(r->read(scratch));
    auto none = r->unmask_interrupts();
    BOOST_REQUIRE(none);
    BOOST_TEST(!*none);
    auto d = w->write(vmbus_packet_type::data_inband, 0, 4, {}, view(p));
    BOOST_REQUIRE(d);
    BOOST_TEST(d->signal_reader);
}

// docs/netvsc-facts.md section 1: the reader signals after advancing only if
// feat_pending_send_sz is set, pending_send_sz != 0, space before <= pending and space
// after >= pending.
BOOST_AUTO_TEST_CASE(reader_signal_rule) {
    std::vector<std::byte> scratch(512);
    auto fill = [](ring_mem& m) {
        auto w = ring_writer::attach(m.span());
        auto p = pattern(24, 0);  // 48 bytes a packet
        for (int i = 0; i < 5; ++i) BOOST_REQUIRE(w->write(vmbus_packet_type::data_inband, 0, 0, {}, view(p)));
    };  // 256-byte ring: 240 used, 16 free
    {
        ring_mem m(256);
        fill(m);
        m.set(ring_field::pending_send_size, 60);
        auto r = ring_reader::attach(m.span());
        auto a = r->read(scratch);  // 16 -> 64 free: crosses 60
        BOOST_REQUIRE(a);
        BOOST_TEST((*a)->signal_writer);
        auto b = r->read(scratch);  // 64 -> 112: was already above
        BOOST_REQUIRE(b);
        BOOST_TEST(!(*b)->signal_writer);
    }
    {
        ring_mem m(256);
        fill(m);
        m.set(ring_field::pending_send_size, 100);
        auto r = ring_reader::attach(m.span());
        auto a = r->read(scratch);  // 16 -> 64: not enough yet
        BOOST_TEST(!(*a)->signal_writer);
        auto b = r->read(scratch);  // 64 -> 112
        BOOST_TEST((*b)->signal_writer);
    }
    {
        ring_mem m(256);
        fill(m);
        m.set(ring_field::pending_send_size, 64);  // after == pending counts
        auto r = ring_reader::attach(m.span());
        BOOST_TEST((*r->read(scratch))->signal_writer);
    }
    {
        ring_mem m(256);  // pending_send_sz 0: never
        fill(m);
        auto r = ring_reader::attach(m.span());
        for (int i = 0; i < 5; ++i) BOOST_TEST(!(*r->read(scratch))->signal_writer);
    }
    {
        ring_mem m(256);  // feature bit off: never
        fill(m);
        m.set(ring_field::pending_send_size, 60);
        m.set(ring_field::feature_bits, 0);
        auto r = ring_reader::attach(m.span());
        BOOST_TEST(!(*r->read(scratch))->signal_writer);
    }
    // The writer side sets pending_send_sz in the ring it writes.
    ring_mem m(256);
    auto w = ring_writer::attach(m.span());
    w->set_pending_send_size(200);
    BOOST_TEST(m.get(ring_field::pending_send_size) == 200u);
}

// Hostile peer: the write index (read by the reader) and the read index (read by the
// writer) out of range or misaligned are errors, counted, and nothing is consumed.
BOOST_AUTO_TEST_CASE(hostile_indices) {
    std::vector<std::byte> scratch(512);
    for (std::uint32_t bad : {256u, 257u, 0xfffffff8u, 4u, 12u, 255u}) {
        ring_mem m(256);
        auto r = ring_reader::attach(m.span());
        auto w = ring_writer::attach(m.span());
        BOOST_REQUIRE(r);
        BOOST_REQUIRE(w);
        m.set(ring_field::write_index, bad);
        auto got = r->read(scratch);
        BOOST_REQUIRE(!got);
        BOOST_TEST(got.error() == nv_err(errc::bad_pointer, "ring.write_index"));
        BOOST_TEST(r->counters().bad_peer_index == 1u);
        BOOST_TEST(r->read_index() == 0u);
        m.set(ring_field::write_index, 0);
        m.set(ring_field::read_index, bad);
        auto p = pattern(8, 0);
        auto out = w->write(vmbus_packet_type::data_inband, 0, 0, {}, view(p));
        BOOST_REQUIRE(!out);
        BOOST_TEST(out.error() == nv_err(errc::bad_pointer, "ring.read_index"));
        BOOST_TEST(w->counters().bad_peer_index == 1u);
        BOOST_TEST(m.get(ring_field::write_index) == 0u);
        // attach refuses them as well
        BOOST_TEST(!ring_reader::attach(m.span()));
    }
}

// Hostile peer: descriptors whose len8 runs past the written data, offset8 below 2 or past
// len8, a range count that does not fit the header, and a scratch buffer too small.
BOOST_AUTO_TEST_CASE(hostile_descriptors) {
    std::vector<std::byte> scratch(512);
    struct bad_case {
        const char* desc;  // 16 descriptor bytes
        std::size_t written;
        error err;
    };
    const bad_case cases[] = {
        {"0600 0200 0800 0000 0000000000000000", 40, nv_err(errc::bad_length, "ring.descriptor")},  // 64 > 32 + 8
        {"0600 0100 0400 0000 0000000000000000", 40, nv_err(errc::bad_length, "ring.descriptor")},  // offset8 1
        {"0600 0500 0400 0000 0000000000000000", 40, nv_err(errc::bad_length, "ring.descriptor")},  // offset8 > len8
        {"0600 0200 0100 0000 0000000000000000", 40, nv_err(errc::bad_length, "ring.descriptor")},  // len8 1
        {"0600 0200 ffff 0000 0000000000000000", 40, nv_err(errc::bad_length, "ring.descriptor")},  // huge
        {"0600 0200 0200 0000 0000000000000000", 16, nv_err(errc::truncated, "ring.packet")},       // < 24 readable
        // type 7 with 3 ranges but offset8 = 4 (room for 1): range header does not fit
        {"0700 0400 0400 0000 0000000000000000", 40, nv_err(errc::bad_length, "vmbus.range_count")},
        // type 9 with offset8 2: no room for the range header
        {"0900 0200 0400 0000 0000000000000000", 40, nv_err(errc::truncated, "vmbus.range_header")},
    };
    for (const auto& c : cases) {
        ring_mem m(256);
        auto d = hex(c.desc);
        store_bytes(m.data(), 0, view(d));
        store_le32(m.data(), 20, 3);  // range_cnt for the type 7 case
        m.set(ring_field::write_index, static_cast<std::uint32_t>(c.written));
        auto r = ring_reader::attach(m.span());
        auto got = r->read(scratch);
        BOOST_REQUIRE(!got);
        BOOST_TEST(got.error() == c.err);
        BOOST_TEST(r->read_index() == 0u);
        BOOST_TEST(m.get(ring_field::read_index) == 0u);
    }
    ring_mem m(256);
    auto w = ring_writer::attach(m.span());
    auto p = pattern(100, 0);
    BOOST_REQUIRE(w->write(vmbus_packet_type::data_inband, 0, 0, {}, view(p)));
    auto r = ring_reader::attach(m.span());
    std::vector<std::byte> small(64);
    auto got = r->read(small);
    BOOST_REQUIRE(!got);
    BOOST_TEST(got.error() == nv_err(errc::buffer_too_small, "ring.scratch"));
    BOOST_TEST(r->counters().scratch_too_small == 1u);
    BOOST_TEST(r->read(scratch).has_value());  // a bigger scratch gets it
}

// The type header after the descriptor is a multiple of 8 (offset8 counts 8-byte units).
BOOST_AUTO_TEST_CASE(writer_rejects_bad_requests) {
    ring_mem m(256);
    auto w = ring_writer::attach(m.span());
    std::array<std::byte, 4> th{};
    BOOST_TEST(!w->write(vmbus_packet_type::data_using_xfer_pages, 0, 0, th, {}));
    BOOST_TEST(w->counters().bad_request == 1u);
    std::vector<std::byte> mem(ring_header_len + 60);
    BOOST_TEST(!ring_init(mem));  // data area not a multiple of 8
    std::vector<std::byte> tiny(ring_header_len + 8);
    BOOST_TEST(!ring_init(tiny));
}

// docs/netvsc-facts.md section 1: one GPADL holds both rings, guest-to-host at offset 0, the
// host-to-guest ring at downstream_ringbuffer_pageoffset pages.
BOOST_AUTO_TEST_CASE(channel_memory_split) {
    std::vector<std::byte> g(8 * vmbus_page_size);
    auto c = split_channel_memory(g, 4);
    BOOST_REQUIRE(c);
    BOOST_TEST(c->guest_to_host.data() == g.data());
    BOOST_TEST(c->guest_to_host.size() == 4 * vmbus_page_size);
    BOOST_TEST(c->host_to_guest.data() == g.data() + 4 * vmbus_page_size);
    BOOST_TEST(!split_channel_memory(g, 0));
    BOOST_TEST(!split_channel_memory(g, 8));
    BOOST_TEST(!split_channel_memory(g, 9));
}

BOOST_AUTO_TEST_SUITE_END()
