// vnet/io/packet_socket.hpp - an AF_PACKET port on a real interface (Linux only, needs
// CAP_NET_RAW in the interface's namespace).
//
//   auto s = *io::packet_socket::open("lab-sw", "p0");   // created inside namespace lab-sw
//   for (;;) {                                            // the fd works from any thread
//       auto batch = s.receive();                         // frames of up to N ring blocks
//       if (batch.empty()) break;
//       use(batch);                                       // views valid until release()
//       s.release();
//   }
//   s.send(frames);                                       // a batch out of the interface
//
// Receive: a TPACKET_V3 RX ring (PACKET_RX_RING with blocks that the kernel retires when
// full or after block_timeout, mapped once with mmap). receive() walks the retired blocks
// and returns views straight into the ring, without a copy, except for frames whose
// 802.1Q tag the kernel moved into the frame's metadata: the kernel strips the tag on
// receive (skb_vlan_untag) and reports it in tpacket3_hdr.hv1 (tp_vlan_tci, tp_vlan_tpid
// with TP_STATUS_VLAN_VALID / TP_STATUS_VLAN_TPID_VALID, the same data PACKET_AUXDATA
// carries); receive() puts the tag back after the MAC addresses, so a switch sees a
// tagged frame exactly as it was sent. Those frames are copied into a scratch area owned
// by the socket, so receiving never allocates.
//
// An AF_PACKET socket also sees the frames other senders put on its interface
// (sll_pkttype == PACKET_OUTGOING: the namespace's stack, a second socket, a capture
// tool): they are skipped and counted (docs/lab-notes.md: otherwise a switch loops).
// PACKET_IGNORE_OUTGOING asks the kernel not to queue them at all (kernel_ignore_outgoing,
// on by default); the ring check stays as the second line. (The kernel never loops a
// socket's own frames back to that socket, and with PACKET_QDISC_BYPASS it does not show
// them to other sockets' taps either.)
//
// Send: either through a PACKET_TX_RING (TPACKET_V3 frames copied into the mapped ring,
// one send() per batch kicks the kernel, which builds the skbs on the ring pages without
// a second copy) or with one sendmmsg() per batch (the kernel copies from the caller's
// views). tx_method::ring is the default: on a veth pair (tests/vm/test_vm_io_switch.cpp
// "tx_methods", batches of 64, PACKET_QDISC_BYPASS, -O2, 15 rounds, medians of the
// sending thread's CPU time per frame on a loaded 2-core machine) it cost 12-17 % less
// CPU than sendmmsg for 1514-byte frames and was even (within 3-8 %, either way) for
// 60-byte frames; and end to end, one iperf3 TCP stream through io::switch_host
// (bench/bench_io_switch.cpp, three runs) made 1.39-1.81 Gbit/s with the TX ring against
// 1.04-1.24 Gbit/s with sendmmsg.
// Frames the kernel hands over with a partial checksum (TP_STATUS_CSUMNOTREADY, a
// checksum offloaded by the sending stack) are counted; a lab turns checksum offload
// off on its veths (veth_options::offloads) so frames cross the switch complete.
//
// Offloads kept (packet_socket_options::vnet_hdr, PACKET_VNET_HDR): the kernel then
// writes each received frame's virtio-net header just before the frame in the ring
// (tpacket_rcv: the frame at macoff, the header at macoff - 10), so a GSO super-frame of
// up to 64 KiB and a partial checksum arrive as they are, described by offloads() (a
// restored 802.1Q tag shifts its offsets by 4); send() puts a header before each frame
// as the first iovec of sendmmsg, and the kernel builds the GSO skb from it
// (virtio_net_hdr_to_skb) and segments it only if the device cannot (validate_xmit_skb).
// Such a socket always sends with sendmmsg: a TX ring slot cannot hold a 64 KiB
// super-frame, and once a socket has a TX ring every send() and sendmsg() only flushes
// the ring (packet_sendmsg calls tpacket_snd), so a frame cannot go around it. And it
// never bypasses the qdisc layer: PACKET_QDISC_BYPASS sends through __dev_direct_xmit,
// which drops a frame that validate_xmit_skb had to segment (an interface without TSO),
// where dev_queue_xmit sends the segments (tests/vm/test_vm_io_switch.cpp
// "the_kernel_segments_for_an_interface_without_tso": 8.7 kB of a stream got through
// with the bypass).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/enum_names.hpp>
#include <vnet/core/error.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/os_error.hpp>
#include <vnet/wire/offload.hpp>

namespace vnet::io {

using vnet::to_string;

/// How a packet_socket sends a batch.
enum class tx_method : std::uint8_t {
    ring,      // PACKET_TX_RING (TPACKET_V3 frames), one send() per batch (default: measured cheaper)
    sendmmsg,  // one sendmmsg() per batch
};

inline constexpr enum_name<tx_method> tx_method_names[] = {
    {tx_method::ring, "tx_ring"},
    {tx_method::sendmmsg, "sendmmsg"},
};
constexpr std::span<const enum_name<tx_method>> enum_names(tx_method) noexcept { return tx_method_names; }

struct rx_ring_config {
    std::uint32_t block_size = 1u << 17;  // bytes per block, a multiple of the page size
    std::uint32_t block_count = 32;       // 4 MiB of ring by default
    /// A block with frames is handed to user space after this long even when not full:
    /// the receive latency added by the ring.
    std::chrono::milliseconds block_timeout{1};
};

struct packet_socket_options {
    rx_ring_config rx{};
    bool promiscuous = true;             // PACKET_ADD_MEMBERSHIP(PACKET_MR_PROMISC)
    bool kernel_ignore_outgoing = true;  // PACKET_IGNORE_OUTGOING (outgoing frames are skipped either way)
    bool qdisc_bypass = true;            // PACKET_QDISC_BYPASS: send straight to the driver
    tx_method tx = tx_method::ring;
    std::uint32_t tx_frame_size = 2048;      // ring: bytes per slot, header included (frames up to 2000 bytes)
    std::uint32_t tx_frame_count = 512;      // ring: slots (1 MiB)
    std::uint32_t max_blocks_per_batch = 8;  // receive() returns frames of at most this many blocks
    std::uint32_t max_tx_batch = 256;        // sendmmsg: frames per system call
    /// PACKET_VNET_HDR: frames keep their offloads (offloads(), send with offloads);
    /// implies tx_method::sendmmsg and no qdisc bypass ("Offloads kept" above).
    bool vnet_hdr = false;
};

/// What the socket saw and did. Every frame it did not pass on is counted here.
struct packet_counters {
    std::uint64_t rx_frames = 0;  // frames returned by receive()
    std::uint64_t rx_bytes = 0;
    std::uint64_t rx_blocks = 0;            // ring blocks consumed
    std::uint64_t rx_outgoing_skipped = 0;  // PACKET_OUTGOING frames (sent on this interface)
    std::uint64_t rx_vlan_restored = 0;     // frames whose 802.1Q tag was put back from the metadata
    std::uint64_t rx_truncated = 0;         // longer than the ring could hold: dropped
    std::uint64_t rx_malformed = 0;         // shorter than two MAC addresses, or a bad ring entry: dropped
    std::uint64_t rx_checksum_partial = 0;  // TP_STATUS_CSUMNOTREADY (passed on as is)
    std::uint64_t rx_gso = 0;               // vnet_hdr: GSO super-frames received (passed on as is)
    std::uint64_t rx_kernel_drops = 0;      // ring full in the kernel (PACKET_STATISTICS), after poll_kernel_stats()
    std::uint64_t tx_frames = 0;            // frames handed to the kernel
    std::uint64_t tx_bytes = 0;
    std::uint64_t tx_batches = 0;
    std::uint64_t tx_gso = 0;      // vnet_hdr: GSO super-frames handed to the kernel
    std::uint64_t tx_too_big = 0;  // longer than MTU + 18 (or than a ring slot): dropped
    std::uint64_t tx_busy = 0;     // the kernel could not take it (EAGAIN/ENOBUFS, ring full): dropped
    std::uint64_t tx_errors = 0;   // any other send failure: dropped (last_error() says why)
};

class packet_socket {
public:
    packet_socket() = default;
    packet_socket(const packet_socket&) = delete;
    packet_socket& operator=(const packet_socket&) = delete;
    packet_socket(packet_socket&& o) noexcept { take(o); }
    packet_socket& operator=(packet_socket&& o) noexcept {
        if (this != &o) {
            close();
            take(o);
        }
        return *this;
    }
    ~packet_socket() { close(); }

    /// Opens a socket on interface `ifname` of namespace `netns_name` (empty: the caller's).
    /// The socket is created by a thread inside that namespace; the fd works anywhere.
    static result<packet_socket> open(std::string_view netns_name, std::string_view ifname, packet_socket_options opt = {}) {
        if (!detail::valid_name(ifname, IFNAMSIZ - 1)) return fail(layer::io, errc::bad_value, "packet_socket.ifname");
        const long page = ::sysconf(_SC_PAGESIZE);
        const auto pg = static_cast<std::uint32_t>(page > 0 ? page : 4096);
        if (opt.rx.block_size == 0 || opt.rx.block_size % pg != 0 || opt.rx.block_count == 0)
            return fail(layer::io, errc::bad_value, "packet_socket.rx_ring");
        if (opt.max_blocks_per_batch == 0 || opt.max_blocks_per_batch > opt.rx.block_count)
            return fail(layer::io, errc::bad_value, "packet_socket.max_blocks_per_batch");
        if (opt.max_tx_batch == 0) return fail(layer::io, errc::bad_value, "packet_socket.max_tx_batch");
        if (opt.tx == tx_method::ring &&
            (opt.tx_frame_size < 256 || opt.tx_frame_size % TPACKET_ALIGNMENT != 0 || pg % opt.tx_frame_size != 0 ||
             opt.tx_frame_count == 0 || opt.tx_frame_count % (pg / opt.tx_frame_size) != 0))
            return fail(layer::io, errc::bad_value, "packet_socket.tx_ring");
        if (opt.vnet_hdr) {  // see "Offloads kept" above
            opt.tx = tx_method::sendmmsg;
            opt.qdisc_bypass = false;
        }
        std::string name(ifname);
        packet_socket s;
        auto made = in_netns(netns_name, [&]() -> result<void> { return s.setup(name, opt, pg); });
        if (!made) return unexpected(made.error());
        s.netns_ = std::string(netns_name);
        s.ifname_ = std::move(name);
        return s;
    }

    int fd() const noexcept { return fd_; }
    int ifindex() const noexcept { return ifindex_; }
    const std::string& ifname() const noexcept { return ifname_; }
    const std::string& netns() const noexcept { return netns_; }
    unsigned mtu() const noexcept { return mtu_; }
    bool valid() const noexcept { return fd_ >= 0; }
    const packet_socket_options& options() const noexcept { return opt_; }
    const packet_counters& counters() const noexcept { return ctr_; }
    /// The last send failure counted in tx_errors.
    std::optional<error> last_error() const noexcept { return last_error_; }

    /// With vnet_hdr: the offload metadata of the frames of the last receive(), one per
    /// frame (empty without vnet_hdr).
    std::span<const wire::offload_info> offloads() const noexcept {
        return opt_.vnet_hdr ? std::span<const wire::offload_info>(offs_.data(), views_count_)
                             : std::span<const wire::offload_info>{};
    }

    /// Frames of the retired ring blocks (at most max_blocks_per_batch), in arrival order.
    /// Empty when no block is ready. The views stay valid until release() (or the next
    /// receive(), which releases first). Never blocks, never allocates.
    std::span<const bytes_view> receive() noexcept {
        release();
        const std::uint32_t nblocks = opt_.rx.block_count;
        while (held_ < opt_.max_blocks_per_batch) {
            const std::uint32_t b = (next_block_ + held_) % nblocks;
            auto* bd = reinterpret_cast<tpacket_block_desc*>(ring_ + std::size_t{b} * opt_.rx.block_size);
            if ((__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
            walk_block(bd);
            ++held_;
            ++ctr_.rx_blocks;
        }
        return {views_.data(), views_count_};
    }

    /// Gives the blocks of the last receive() back to the kernel.
    void release() noexcept {
        const std::uint32_t nblocks = opt_.rx.block_count;
        for (; held_ > 0; --held_) {
            auto* bd = reinterpret_cast<tpacket_block_desc*>(ring_ + std::size_t{next_block_} * opt_.rx.block_size);
            __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
            next_block_ = (next_block_ + 1) % nblocks;
        }
        views_count_ = 0;
        scratch_used_ = 0;
    }

    /// Waits up to `timeout` for a retired block (poll); true when receive() has frames.
    bool wait(std::chrono::milliseconds timeout) const noexcept {
        pollfd p{fd_, POLLIN, 0};
        return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0 && (p.revents & POLLIN);
    }

    /// Sends a batch out of the interface; returns how many frames the kernel took. Frames
    /// it could not send are counted (tx_too_big, tx_busy, tx_errors), never retried.
    std::size_t send(std::span<const bytes_view> frames) noexcept { return send(frames, {}); }
    /// The same with each frame's offload metadata (offloads[i] for frames[i]; missing
    /// entries: complete frames). Without vnet_hdr the metadata is not sent, so only
    /// complete frames should be given.
    std::size_t send(std::span<const bytes_view> frames, std::span<const wire::offload_info> offloads) noexcept {
        if (fd_ < 0 || frames.empty()) return 0;
        ++ctr_.tx_batches;
        return opt_.tx == tx_method::ring ? send_ring(frames) : send_mmsg(frames, offloads);
    }
    std::size_t send(bytes_view frame) noexcept { return send(std::span<const bytes_view>(&frame, 1)); }

    /// Reads (and resets) the kernel's PACKET_STATISTICS into rx_kernel_drops; returns the
    /// frames dropped since the last call.
    result<std::uint64_t> poll_kernel_stats() noexcept {
        tpacket_stats_v3 st{};
        socklen_t len = sizeof st;
        if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return os_fail("packet_socket.statistics", errno);
        ctr_.rx_kernel_drops += st.tp_drops;
        return std::uint64_t{st.tp_drops};
    }

    /// Closes the socket and unmaps the rings (idempotent).
    void close() noexcept {
        if (ring_) ::munmap(ring_, map_size_);
        if (fd_ >= 0) ::close(fd_);
        ring_ = nullptr;
        map_size_ = 0;
        fd_ = -1;
        held_ = next_block_ = 0;
        views_count_ = scratch_used_ = 0;
    }

private:
    static constexpr std::size_t tx_data_offset = TPACKET_ALIGN(sizeof(tpacket3_hdr));
    static constexpr std::size_t ll_offset = TPACKET_ALIGN(sizeof(tpacket3_hdr));

    void take(packet_socket& o) noexcept {
        fd_ = std::exchange(o.fd_, -1);
        ifindex_ = o.ifindex_;
        mtu_ = o.mtu_;
        ring_ = std::exchange(o.ring_, nullptr);
        map_size_ = std::exchange(o.map_size_, 0);
        tx_ring_ = std::exchange(o.tx_ring_, nullptr);
        next_block_ = std::exchange(o.next_block_, 0);
        held_ = std::exchange(o.held_, 0);
        tx_next_ = std::exchange(o.tx_next_, 0);
        opt_ = o.opt_;
        ctr_ = o.ctr_;
        last_error_ = o.last_error_;
        views_ = std::move(o.views_);
        offs_ = std::move(o.offs_);
        hdrs_ = std::move(o.hdrs_);
        views_count_ = std::exchange(o.views_count_, 0);
        scratch_ = std::move(o.scratch_);
        scratch_used_ = std::exchange(o.scratch_used_, 0);
        msgs_ = std::move(o.msgs_);
        iovs_ = std::move(o.iovs_);
        netns_ = std::move(o.netns_);
        ifname_ = std::move(o.ifname_);
    }

    // Runs on a thread inside the interface's namespace.
    result<void> setup(const std::string& name, const packet_socket_options& opt, std::uint32_t page) {
        opt_ = opt;
        // Protocol 0: nothing is queued before the rings exist and bind() names ETH_P_ALL.
        fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd_ < 0) return os_fail("packet_socket.socket", errno);
        auto failed = [&](std::string_view what) {
            const int e = errno;
            close();
            return os_fail(what, e);
        };
        ifindex_ = static_cast<int>(::if_nametoindex(name.c_str()));
        if (ifindex_ == 0) return failed("packet_socket.if_nametoindex");
        ifreq ifr{};
        std::memcpy(ifr.ifr_name, name.data(), name.size());
        if (::ioctl(fd_, SIOCGIFMTU, &ifr) != 0) return failed("packet_socket.mtu");
        mtu_ = static_cast<unsigned>(ifr.ifr_mtu);

        int v = TPACKET_V3;
        if (::setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &v, sizeof v) != 0) return failed("packet_socket.version");
        int vnet = 1;  // before any ring (the kernel refuses it once a ring exists)
        if (opt.vnet_hdr && ::setsockopt(fd_, SOL_PACKET, PACKET_VNET_HDR, &vnet, sizeof vnet) != 0)
            return failed("packet_socket.vnet_hdr");
        if (opt.tx == tx_method::ring) {
            int loss = 1;  // a frame the kernel refuses is skipped, not a stuck ring (set before any ring)
            if (::setsockopt(fd_, SOL_PACKET, PACKET_LOSS, &loss, sizeof loss) != 0) return failed("packet_socket.loss");
        }
        tpacket_req3 rx{};
        rx.tp_block_size = opt.rx.block_size;
        rx.tp_block_nr = opt.rx.block_count;
        rx.tp_frame_size = TPACKET_ALIGNMENT * 128;  // V3 packs frames of any size; only a consistency check
        rx.tp_frame_nr = (rx.tp_block_size / rx.tp_frame_size) * rx.tp_block_nr;
        rx.tp_retire_blk_tov = static_cast<unsigned>(std::max<std::int64_t>(1, opt.rx.block_timeout.count()));
        rx.tp_feature_req_word = 0;
        if (::setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &rx, sizeof rx) != 0) return failed("packet_socket.rx_ring");
        std::size_t rx_bytes = std::size_t{rx.tp_block_size} * rx.tp_block_nr;
        std::size_t tx_bytes = 0;
        if (opt.tx == tx_method::ring) {
            tpacket_req3 tx{};
            tx.tp_block_size = page;
            tx.tp_frame_size = opt.tx_frame_size;
            tx.tp_block_nr = opt.tx_frame_count / (page / opt.tx_frame_size);
            tx.tp_frame_nr = opt.tx_frame_count;
            if (::setsockopt(fd_, SOL_PACKET, PACKET_TX_RING, &tx, sizeof tx) != 0) return failed("packet_socket.tx_ring");
            tx_bytes = std::size_t{tx.tp_block_size} * tx.tp_block_nr;
        }
        void* m = ::mmap(nullptr, rx_bytes + tx_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, 0);
        if (m == MAP_FAILED) return failed("packet_socket.mmap");
        ring_ = static_cast<std::byte*>(m);
        map_size_ = rx_bytes + tx_bytes;
        tx_ring_ = tx_bytes ? ring_ + rx_bytes : nullptr;

        int one = 1;
        if (opt.qdisc_bypass && ::setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0)
            return failed("packet_socket.qdisc_bypass");
        if (opt.kernel_ignore_outgoing && ::setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0)
            return failed("packet_socket.ignore_outgoing");
        sockaddr_ll sll{};
        sll.sll_family = AF_PACKET;
        sll.sll_protocol = htons(ETH_P_ALL);
        sll.sll_ifindex = ifindex_;
        if (::bind(fd_, reinterpret_cast<const sockaddr*>(&sll), sizeof sll) != 0) return failed("packet_socket.bind");
        if (opt.promiscuous) {
            packet_mreq mr{};
            mr.mr_ifindex = ifindex_;
            mr.mr_type = PACKET_MR_PROMISC;
            if (::setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0)
                return failed("packet_socket.promiscuous");
        }
        // Preallocated per-batch storage: a block of B bytes holds frames of fewer than B
        // bytes in all (each has a header), so B bytes per block hold the restored copies.
        const std::size_t max_frames = std::size_t{opt.max_blocks_per_batch} * (opt.rx.block_size / 64);
        views_.resize(max_frames);
        if (opt.vnet_hdr) offs_.resize(max_frames);
        scratch_.resize(std::size_t{opt.max_blocks_per_batch} * opt.rx.block_size);
        msgs_.resize(opt.max_tx_batch);
        iovs_.resize(std::size_t{opt.max_tx_batch} * 2);
        if (opt.vnet_hdr) hdrs_.resize(opt.max_tx_batch);
        return {};
    }

    void walk_block(tpacket_block_desc* bd) noexcept {
        const std::size_t bsize = opt_.rx.block_size;
        auto* base = reinterpret_cast<std::byte*>(bd);
        const std::uint32_t n = bd->hdr.bh1.num_pkts;
        std::size_t off = bd->hdr.bh1.offset_to_first_pkt;
        for (std::uint32_t i = 0; i < n; ++i) {
            if (off < sizeof(tpacket_block_desc) || off + ll_offset + sizeof(sockaddr_ll) > bsize) {
                ++ctr_.rx_malformed;
                return;
            }
            auto* h = reinterpret_cast<const tpacket3_hdr*>(base + off);
            auto* ll = reinterpret_cast<const sockaddr_ll*>(base + off + ll_offset);
            take_frame(base, off, *h, *ll, bsize);
            if (h->tp_next_offset == 0) break;
            off += h->tp_next_offset;
        }
    }

    void take_frame(const std::byte* base, std::size_t off, const tpacket3_hdr& h, const sockaddr_ll& ll,
                    std::size_t bsize) noexcept {
        if (ll.sll_pkttype == PACKET_OUTGOING) {
            ++ctr_.rx_outgoing_skipped;
            return;
        }
        if (off + h.tp_mac + std::size_t{h.tp_snaplen} > bsize || h.tp_snaplen < 12) {
            ++ctr_.rx_malformed;
            return;
        }
        if (h.tp_snaplen < h.tp_len) {
            ++ctr_.rx_truncated;
            return;
        }
        if (h.tp_status & TP_STATUS_CSUMNOTREADY) ++ctr_.rx_checksum_partial;
        if (views_count_ == views_.size()) {  // cannot happen with frames of 64+ bytes of ring each
            ++ctr_.rx_malformed;
            return;
        }
        bytes_view f{base + off + h.tp_mac, h.tp_snaplen};
        wire::offload_info meta{};
        if (opt_.vnet_hdr) {
            // The header lies just before the frame (the kernel reserved room for it).
            result<wire::offload_info> m = fail(layer::io, errc::truncated, "packet_socket.vnet_hdr");
            if (h.tp_mac >= wire::offload_info::size)
                m = wire::offload_info::parse(
                    bytes_view(base + off + h.tp_mac - wire::offload_info::size, wire::offload_info::size));
            if (!m) {
                ++ctr_.rx_malformed;
                return;
            }
            meta = *m;
            if (meta.gso() != wire::gso_kind::none) ++ctr_.rx_gso;
        }
        if (h.tp_status & TP_STATUS_VLAN_VALID) {
            const std::size_t n = f.size() + 4;
            if (scratch_used_ + n > scratch_.size()) {
                ++ctr_.rx_truncated;
                return;
            }
            std::byte* out = scratch_.data() + scratch_used_;
            const std::uint16_t tpid = (h.tp_status & TP_STATUS_VLAN_TPID_VALID) && h.hv1.tp_vlan_tpid ? h.hv1.tp_vlan_tpid
                                                                                                       : ETH_P_8021Q;
            const auto tci = static_cast<std::uint16_t>(h.hv1.tp_vlan_tci);
            std::memcpy(out, f.data(), 12);
            store_be16({out + 12, 2}, 0, tpid);
            store_be16({out + 14, 2}, 0, tci);
            std::memcpy(out + 16, f.data() + 12, f.size() - 12);
            scratch_used_ += n;
            f = {out, n};
            ++ctr_.rx_vlan_restored;
            meta = meta.complete() ? meta : meta.shifted(4);
        }
        if (opt_.vnet_hdr) offs_[views_count_] = meta;
        views_[views_count_++] = f;
        ++ctr_.rx_frames;
        ctr_.rx_bytes += f.size();
    }

    /// Longer than the interface takes: MTU + 18 (Ethernet and one tag), 64 KiB + 18 for a
    /// GSO super-frame.
    bool too_big(bytes_view f, const wire::offload_info& o) const noexcept {
        return f.size() > (o.gso() != wire::gso_kind::none ? std::size_t{65535} : std::size_t{mtu_}) + 18;
    }
    static wire::offload_info meta_of(std::span<const wire::offload_info> offloads, std::size_t i) noexcept {
        return i < offloads.size() ? offloads[i] : wire::offload_info{};
    }

    void record(std::string_view what, int e) noexcept {
        ++ctr_.tx_errors;
        try {
            last_error_ = os_fail(what, e).error();
        } catch (...) {
            last_error_ = error{layer::io, errc_from_errno(e), what};
        }
    }

    std::size_t send_mmsg(std::span<const bytes_view> frames, std::span<const wire::offload_info> offloads) noexcept {
        std::size_t sent = 0;
        std::size_t i = 0;
        const bool vnet = opt_.vnet_hdr;
        while (i < frames.size()) {
            unsigned k = 0;
            while (i < frames.size() && k < msgs_.size()) {
                const wire::offload_info o = meta_of(offloads, i);
                const bytes_view f = frames[i++];
                if (too_big(f, o)) {
                    ++ctr_.tx_too_big;
                    continue;
                }
                iovec* iov = &iovs_[std::size_t{k} * 2];
                std::size_t n = 0;
                if (vnet) {
                    o.store(hdrs_[k], 0);
                    iov[n++] = {hdrs_[k].data(), wire::offload_info::size};
                }
                iov[n++] = {const_cast<std::byte*>(f.data()), f.size()};
                msgs_[k] = {};
                msgs_[k].msg_hdr.msg_iov = iov;
                msgs_[k].msg_hdr.msg_iovlen = n;
                ++k;
            }
            unsigned done = 0;
            while (done < k) {
                int r = ::sendmmsg(fd_, msgs_.data() + done, k - done, MSG_DONTWAIT);
                if (r > 0) {
                    for (unsigned j = done; j < done + static_cast<unsigned>(r); ++j) {
                        const auto& frame_iov = iovs_[std::size_t{j} * 2 + (vnet ? 1 : 0)];
                        ctr_.tx_bytes += frame_iov.iov_len;
                        ctr_.tx_gso += vnet && load_u8(bytes_view(hdrs_[j]), 1) != 0;
                    }
                    ctr_.tx_frames += static_cast<unsigned>(r);
                    sent += static_cast<unsigned>(r);
                    done += static_cast<unsigned>(r);
                    continue;
                }
                const int e = r < 0 ? errno : EIO;
                if (e == EINTR) continue;
                if (e == EAGAIN || e == ENOBUFS) {
                    ctr_.tx_busy += k - done;
                    break;
                }
                if (e == EMSGSIZE) ++ctr_.tx_too_big;
                else record("packet_socket.sendmmsg", e);
                ++done;  // skip the frame the kernel refused, go on with the rest
            }
        }
        return sent;
    }

    tpacket3_hdr* tx_slot(std::uint32_t i) const noexcept {
        return reinterpret_cast<tpacket3_hdr*>(tx_ring_ + std::size_t{i} * opt_.tx_frame_size);
    }

    void kick() noexcept {
        while (::send(fd_, nullptr, 0, MSG_DONTWAIT) < 0) {
            const int e = errno;
            if (e == EINTR) continue;
            if (e != EAGAIN && e != ENOBUFS) record("packet_socket.tx_ring_send", e);
            break;
        }
    }

    // Never with vnet_hdr (open() sends those with sendmmsg).
    std::size_t send_ring(std::span<const bytes_view> frames) noexcept {
        const std::size_t room = opt_.tx_frame_size - tx_data_offset;
        std::size_t queued = 0;
        bool kicked = false;
        for (const bytes_view f : frames) {
            if (too_big(f, {}) || f.size() > room) {
                ++ctr_.tx_too_big;
                continue;
            }
            tpacket3_hdr* h = tx_slot(tx_next_);
            auto st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
            if (st != TP_STATUS_AVAILABLE && !kicked) {
                kick();  // let the kernel drain what is queued, then look again
                kicked = true;
                st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
            }
            if (st & TP_STATUS_WRONG_FORMAT) {
                record("packet_socket.tx_ring_format", EINVAL);
                st = TP_STATUS_AVAILABLE;
            }
            if (st != TP_STATUS_AVAILABLE) {
                ++ctr_.tx_busy;
                continue;
            }
            std::memcpy(reinterpret_cast<std::byte*>(h) + tx_data_offset, f.data(), f.size());
            h->tp_len = static_cast<std::uint32_t>(f.size());
            h->tp_snaplen = static_cast<std::uint32_t>(f.size());
            h->tp_next_offset = 0;
            __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
            tx_next_ = (tx_next_ + 1) % opt_.tx_frame_count;
            ++queued;
            ctr_.tx_bytes += f.size();
        }
        if (queued) kick();
        ctr_.tx_frames += queued;
        return queued;
    }

    int fd_ = -1;
    int ifindex_ = 0;
    unsigned mtu_ = 1500;
    std::byte* ring_ = nullptr;
    std::size_t map_size_ = 0;
    std::byte* tx_ring_ = nullptr;
    std::uint32_t next_block_ = 0;  // oldest block not yet given back
    std::uint32_t held_ = 0;        // blocks held by the last receive()
    std::uint32_t tx_next_ = 0;
    packet_socket_options opt_{};
    packet_counters ctr_{};
    std::optional<error> last_error_;
    std::vector<bytes_view> views_;
    std::vector<wire::offload_info> offs_;  // vnet_hdr: parallel to views_
    std::size_t views_count_ = 0;
    std::vector<std::byte> scratch_;
    std::size_t scratch_used_ = 0;
    std::vector<mmsghdr> msgs_;
    std::vector<iovec> iovs_;                                            // two per message: header, frame
    std::vector<std::array<std::byte, wire::offload_info::size>> hdrs_;  // vnet_hdr: sendmmsg headers
    std::string netns_;
    std::string ifname_;
};

}  // namespace vnet::io

/// "rx 10 frames 980 bytes (outgoing skipped 3, vlan restored 1, ...), tx ..."
template <>
struct fmt::formatter<vnet::io::packet_counters> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::io::packet_counters& c, Ctx& ctx) const {
        return fmt::format_to(ctx.out(),
                              "rx {} frames {} bytes {} blocks (outgoing skipped {}, vlan restored {}, truncated {}, "
                              "malformed {}, checksum partial {}, gso {}, kernel drops {}), tx {} frames {} bytes {} batches "
                              "(gso {}, too big {}, busy {}, errors {})",
                              c.rx_frames, c.rx_bytes, c.rx_blocks, c.rx_outgoing_skipped, c.rx_vlan_restored, c.rx_truncated,
                              c.rx_malformed, c.rx_checksum_partial, c.rx_gso, c.rx_kernel_drops, c.tx_frames, c.tx_bytes,
                              c.tx_batches, c.tx_gso, c.tx_too_big, c.tx_busy, c.tx_errors);
    }
};
