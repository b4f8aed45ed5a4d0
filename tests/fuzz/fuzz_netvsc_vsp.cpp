// libFuzzer target: the VSP control and data paths (include/vnet/netvsc/vsp.hpp) driven by
// a hostile guest. Input: byte 0 bit 0 = start from a fully set-up channel (NVSP 6.1, both
// buffers, RNDIS initialised, packet filter set), then records of [u8 op][u8 len][len
// bytes]: op % 6 = 0 in-band packet with those bytes as NVSP message, 1 completion packet,
// 2 GPA-direct packet (bytes = type header then NVSP), 3 copy the bytes into the send
// buffer (or guest memory when op bit 7 is set) (the RNDIS messages the next SEND_RNDIS_PKT points at), 4 host deliver() of the
// bytes as a frame, 5 link flip. After each record the VSP polls and the guest side
// drains the host-to-guest ring, completing transfer-page packets.
// Invariants: no crash or out-of-bounds access (ASan / UBSan); receive sections in flight
// never exceed the section count; frames handed on lie inside the send buffer or the
// gather buffer the VSP owns.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <vnet/core/bytes.hpp>
#include <vnet/netvsc/nvsp.hpp>
#include <vnet/netvsc/ring.hpp>
#include <vnet/netvsc/rndis.hpp>
#include <vnet/netvsc/vsp.hpp>

namespace {

using namespace vnet;
using namespace vnet::netvsc;

constexpr std::uint32_t recv_gpadl = 1, send_gpadl = 2;

struct harness {
    std::vector<std::byte> gpadl = std::vector<std::byte>(2 * 3 * vmbus_page_size);
    std::vector<std::byte> recv_buf = std::vector<std::byte>(1728 * 8);
    std::vector<std::byte> send_buf = std::vector<std::byte>(6144 * 2);
    std::vector<std::byte> guest_mem = std::vector<std::byte>(4 * vmbus_page_size);
    std::vector<std::byte> scratch = std::vector<std::byte>(channel_endpoint::max_packet_len);
    std::optional<ring_writer> out;
    std::optional<ring_reader> in;
    std::optional<vsp> host;

    harness() {
        auto rings = split_channel_memory(gpadl, 3);
        (void)ring_init(rings->guest_to_host);
        (void)ring_init(rings->host_to_guest);
        out.emplace(*ring_writer::attach(rings->guest_to_host));
        in.emplace(*ring_reader::attach(rings->host_to_guest));
        vsp_config c;
        c.mac = mac_address(0, 0x15, 0x5d, 0, 0, 1);
        host.emplace(*vsp::attach(*rings, c));
        (void)host->add_gpadl(recv_gpadl, recv_buf);
        (void)host->add_gpadl(send_gpadl, send_buf);
        host->set_guest_memory(guest_mem);
    }

    void poll() {
        auto r = host->poll([&](bytes_view f, const rndis_packet_info&) {
            bool in_send = f.data() >= send_buf.data() && f.data() + f.size() <= send_buf.data() + send_buf.size();
            if (!in_send && f.size() > vsp::max_gather_len) __builtin_trap();
        });
        (void)r;
        if (host->receive_sections().in_use() > host->receive_sections().count()) __builtin_trap();
        // The guest side: complete every transfer-page packet.
        for (int i = 0; i < 64; ++i) {
            auto p = in->read(scratch);
            if (!p || !*p) break;
            if ((*p)->packet.type() == vmbus_packet_type::data_using_xfer_pages)
                (void)out->write(vmbus_packet_type::completion, 0, (*p)->packet.trans_id(), {},
                                 make_nvsp(nvsp_rndis_packet_complete{nvsp_status::success}).view());
        }
        (void)host->poll([](bytes_view, const rndis_packet_info&) {});
    }

    void inband(const nvsp_message& m, std::uint64_t tid) {
        (void)out->write(vmbus_packet_type::data_inband, vmbus_flag_completion_requested, tid, {}, make_nvsp(m).view());
        poll();
    }

    void rndis_control(bytes_view msg) {
        store_bytes(send_buf, 0, msg);
        inband(nvsp_rndis_packet{1, 0, static_cast<std::uint32_t>(msg.size())}, 100);
    }

    void setup() {
        inband(nvsp_init{nvsp_version::v61, nvsp_version::v61}, 1);
        inband(nvsp_send_receive_buffer{recv_gpadl, nvsp_receive_buffer_id}, 2);
        inband(nvsp_send_send_buffer{send_gpadl, nvsp_send_buffer_id}, 3);
        std::array<std::byte, 64> b{};
        rndis_control(bytes_view(b).first(*rndis_init_request{1}.emit(b)));
        std::array<std::byte, 4> filter{};
        store_le32(filter, 0, rndis_packet_filter_linux_open);
        rndis_control(
            bytes_view(b).first(*rndis_oid_request{rndis_type::set, 2, rndis_oid::gen_current_packet_filter, filter}.emit(b)));
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    bytes_view in = as_bytes_view({data, size});
    harness h;
    if (load_u8(in, 0) & 1) h.setup();
    std::size_t off = 1;
    std::uint64_t tid = 1000;
    auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    while (off + 2 <= in.size()) {
        std::uint8_t op = load_u8(in, off);
        std::size_t len = std::min<std::size_t>(load_u8(in, off + 1), in.size() - off - 2);
        bytes_view body = in.subspan(off + 2, len);
        off += 2 + len;
        switch (op % 6) {
            case 0: (void)h.out->write(vmbus_packet_type::data_inband, op & 0x80 ? 1 : 0, tid++, {}, body); break;
            case 1: (void)h.out->write(vmbus_packet_type::completion, 0, load_u8(in, off - 1), {}, body); break;
            case 2: {
                std::size_t th = std::min<std::size_t>(body.size(), (std::size_t{op} >> 3) * 8);
                (void)h.out->write(vmbus_packet_type::data_using_gpa_direct, 1, tid++, body.first(th), body.subspan(th));
                break;
            }
            case 3: store_bytes(op & 0x80 ? h.guest_mem : h.send_buf, (std::size_t{op} >> 3) * 8, body); break;
            case 4: (void)h.host->deliver(body); break;
            case 5:
                // Link changes on a clock the input drives: spaced indications wait, then go.
                now += std::chrono::milliseconds(std::size_t{op} * 40);
                (void)h.host->set_link(!h.host->link_up(), now);
                (void)h.host->tick(now);
                break;
        }
        h.poll();
    }
    return 0;
}
