// bench/xsk_fabric.cpp - experiment: the vnet switch (sw::vswitch) on AF_XDP sockets
// instead of AF_PACKET, for bench_io_switch's vnet_switch_xdp rows. Built only when
// libxdp and libbpf are found (Debian libxdp-dev libbpf-dev; VNET_BENCH_XDP).
//
// Each port is one xsk socket (libxdp: xsk_umem__create + xsk_socket__create on queue 0,
// libxdp's default program redirecting to its XSKMAP) bound in copy mode (XDP_COPY, a
// veth has no zero-copy), on the interface in the given namespace. XDP mode: native veth
// XDP (XDP_FLAGS_DRV_MODE) by default, generic with VNET_BENCH_XDP_MODE=skb. Each socket
// has its own UMEM: the first half of its frames feed the fill ring, the second half are
// TX buffers. One thread polls both sockets: RX descriptors become bytes_views into the
// UMEM, vswitch::send() switches them, and the output port's transport copies each frame
// into one of its TX buffers and kicks the kernel (sendto; copy mode sends through
// xsk_generic_xmit -> __dev_direct_xmit, so the veth peer's input still runs in this
// thread's softirq, as with AF_PACKET).
#include "xsk_fabric.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/switch/vswitch.hpp>

namespace vnet::bench_xsk {
namespace {

inline constexpr std::uint32_t frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE;  // 4096
inline constexpr std::uint32_t n_frames = 8192;                            // 32 MiB per port
inline constexpr std::uint32_t ring_size = 4096;
inline constexpr std::uint32_t rx_batch = 64;

/// One AF_XDP port: its UMEM, fill and completion rings, socket, RX and TX rings.
struct xsk_port {
    void* area = nullptr;
    xsk_umem* umem = nullptr;
    xsk_ring_prod fq{};
    xsk_ring_cons cq{};
    xsk_socket* xsk = nullptr;
    xsk_ring_cons rx{};
    xsk_ring_prod tx{};
    std::vector<std::uint64_t> free_tx;
    std::uint32_t outstanding = 0;  // TX descriptors submitted and not completed yet
    xsk_counters ctr;

    xsk_port() = default;
    xsk_port(const xsk_port&) = delete;
    xsk_port& operator=(const xsk_port&) = delete;
    ~xsk_port() {
        if (xsk) xsk_socket__delete(xsk);
        if (umem) xsk_umem__delete(umem);
        if (area) ::munmap(area, std::size_t{n_frames} * frame_size);
    }
    int fd() const { return xsk_socket__fd(xsk); }

    void reclaim() {
        std::uint32_t idx = 0;
        std::uint32_t n = xsk_ring_cons__peek(&cq, ring_size, &idx);
        for (std::uint32_t i = 0; i < n; ++i) free_tx.push_back(*xsk_ring_cons__comp_addr(&cq, idx + i));
        if (n) xsk_ring_cons__release(&cq, n);
        outstanding -= n;
    }
    void kick() {
        ++ctr.kicks;
        if (::sendto(fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
            ++ctr.kick_errors;
    }
    /// Kicks until the kernel has taken every submitted descriptor: in copy mode one
    /// sendto() sends at most a budget of frames (32, xsk_generic_xmit) synchronously.
    void drain() {
        for (int i = 0; i < 256 && xsk_prod_nb_free(&tx, ring_size) < ring_size; ++i) {
            kick();
            reclaim();
        }
    }
    /// The transport: copies the batch into TX buffers and kicks.
    void send(std::span<const bytes_view> batch) {
        reclaim();
        std::uint32_t n = 0;
        for (const auto& f : batch) {
            if (free_tx.empty() || f.size() > frame_size) {
                ++ctr.tx_no_buffer;
                continue;
            }
            std::uint32_t idx = 0;
            if (xsk_ring_prod__reserve(&tx, 1, &idx) != 1) {
                ++ctr.tx_no_buffer;
                continue;
            }
            std::uint64_t addr = free_tx.back();
            free_tx.pop_back();
            std::memcpy(xsk_umem__get_data(area, addr), f.data(), f.size());
            auto* d = xsk_ring_prod__tx_desc(&tx, idx);
            d->addr = addr;
            d->len = static_cast<std::uint32_t>(f.size());
            d->options = 0;
            ++n;
        }
        if (n) {
            xsk_ring_prod__submit(&tx, n);
            outstanding += n;
            ctr.tx += n;
            drain();
        }
    }
};

struct xsk_sink {
    xsk_port* p = nullptr;
    void receive(std::span<const bytes_view> batch) noexcept {
        if (p) p->send(batch);
    }
};

/// Opens an xsk port on `ifname` in namespace `ns`; the error text says what failed.
inline std::optional<std::string> open_port(xsk_port& p, const std::string& ns, const std::string& ifname) {
    std::string err;
    const bool skb = [] {
        const char* m = std::getenv("VNET_BENCH_XDP_MODE");
        return m && std::string(m) == "skb";
    }();
    auto r = io::in_netns(ns, [&]() -> result<void> {
        const std::size_t size = std::size_t{n_frames} * frame_size;
        p.area = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p.area == MAP_FAILED) {
            p.area = nullptr;
            err = fmt::format("mmap: {}", std::strerror(errno));
            return fail(layer::io, errc::io, "xsk");
        }
        xsk_umem_config uc{};
        uc.fill_size = ring_size;
        uc.comp_size = ring_size;
        uc.frame_size = frame_size;
        uc.frame_headroom = 0;
        uc.flags = 0;
        if (int e = xsk_umem__create(&p.umem, p.area, size, &p.fq, &p.cq, &uc); e) {
            err = fmt::format("xsk_umem__create: {}", std::strerror(-e));
            return fail(layer::io, errc::io, "xsk");
        }
        xsk_socket_config sc{};
        sc.rx_size = ring_size;
        sc.tx_size = ring_size;
        sc.libxdp_flags = 0;  // libxdp loads its default program and XSKMAP
        sc.xdp_flags = skb ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
        sc.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
        if (int e = xsk_socket__create(&p.xsk, ifname.c_str(), 0, p.umem, &p.rx, &p.tx, &sc); e) {
            p.xsk = nullptr;
            err = fmt::format("xsk_socket__create({}, {} mode): {}", ifname, skb ? "skb" : "drv", std::strerror(-e));
            return fail(layer::io, errc::io, "xsk");
        }
        return {};
    });
    if (!r) return err.empty() ? std::string("xsk: cannot enter the namespace") : err;
    // Fill ring: the first half of the UMEM; TX buffers: the second half.
    std::uint32_t idx = 0;
    const std::uint32_t nfill = n_frames / 2;
    if (xsk_ring_prod__reserve(&p.fq, nfill, &idx) != nfill) return std::string("xsk: fill ring reserve failed");
    for (std::uint32_t i = 0; i < nfill; ++i) *xsk_ring_prod__fill_addr(&p.fq, idx + i) = std::uint64_t{i} * frame_size;
    xsk_ring_prod__submit(&p.fq, nfill);
    for (std::uint32_t i = nfill; i < n_frames; ++i) p.free_tx.push_back(std::uint64_t{i} * frame_size);
    return std::nullopt;
}

}  // namespace

/// The xsk ports joined by a vswitch, forwarded by one thread until stop().
class xsk_switch_impl final : public xsk_switch {
public:
    using switch_type = sw::vswitch<xsk_sink>;

    explicit xsk_switch_impl(sw::switch_spec spec) : sw_(std::move(spec)) {}
    ~xsk_switch_impl() override { stop(); }

    std::optional<std::string> add(const std::string& ns, const std::string& ifname, sw::port_config cfg) override {
        auto p = std::make_unique<xsk_port>();
        if (auto e = open_port(*p, ns, ifname)) return e;
        auto id = sw_.add_port(std::move(cfg), xsk_sink{p.get()});
        if (!id) return std::string("vswitch.add_port failed");
        ports_.push_back({std::move(p), *id});
        return std::nullopt;
    }
    void start() override {
        t_ = std::thread([this] { run(); });
    }
    void stop() override {
        if (!t_.joinable()) return;
        stop_ = true;
        t_.join();
    }
    xsk_counters totals() const override {
        xsk_counters c;
        for (const auto& p : ports_) {
            c.rx += p.port->ctr.rx;
            c.tx += p.port->ctr.tx;
            c.tx_no_buffer += p.port->ctr.tx_no_buffer;
            c.kicks += p.port->ctr.kicks;
            c.kick_errors += p.port->ctr.kick_errors;
        }
        return c;
    }
    /// Kernel-side drops (XDP_STATISTICS): rx_dropped + rx_ring_full + rx_fill_ring_empty.
    std::uint64_t kernel_drops() const override {
        std::uint64_t d = 0;
        for (const auto& p : ports_) {
            xdp_statistics st{};
            socklen_t len = sizeof st;
            if (::getsockopt(p.port->fd(), SOL_XDP, XDP_STATISTICS, &st, &len) == 0)
                d += st.rx_dropped + st.rx_ring_full + st.rx_fill_ring_empty_descs;
        }
        return d;
    }

private:
    struct entry {
        std::unique_ptr<xsk_port> port;
        sw::port_index id;
    };

    bool pump(entry& e) {
        xsk_port& p = *e.port;
        std::uint32_t idx = 0;
        const std::uint32_t n = xsk_ring_cons__peek(&p.rx, rx_batch, &idx);
        if (n == 0) return false;
        std::array<bytes_view, rx_batch> views;
        std::array<std::uint64_t, rx_batch> addrs;
        for (std::uint32_t i = 0; i < n; ++i) {
            const auto* d = xsk_ring_cons__rx_desc(&p.rx, idx + i);
            addrs[i] = xsk_umem__extract_addr(d->addr);
            views[i] = bytes_view(static_cast<const std::byte*>(xsk_umem__get_data(p.area, d->addr)), d->len);
        }
        sw_.send(e.id, std::span<const bytes_view>(views.data(), n));
        xsk_ring_cons__release(&p.rx, n);
        p.ctr.rx += n;
        std::uint32_t fidx = 0;
        while (xsk_ring_prod__reserve(&p.fq, n, &fidx) != n) {}
        for (std::uint32_t i = 0; i < n; ++i) *xsk_ring_prod__fill_addr(&p.fq, fidx + i) = addrs[i];
        xsk_ring_prod__submit(&p.fq, n);
        return true;
    }

    void run() {
        std::vector<pollfd> fds;
        for (auto& e : ports_) fds.push_back({e.port->fd(), POLLIN, 0});
        while (!stop_.load(std::memory_order_relaxed)) {
            bool work = false;
            for (auto& e : ports_) {
                while (pump(e)) work = true;
            }
            for (auto& e : ports_) {  // TX left in the ring (a kick sends a budget's worth)
                e.port->reclaim();
                if (e.port->outstanding > 0) e.port->drain();
            }
            bool pending = false;
            for (auto& e : ports_) pending = pending || e.port->outstanding > 0;
            if (!work) ::poll(fds.data(), fds.size(), pending ? 0 : 10);
        }
    }

    switch_type sw_;
    std::vector<entry> ports_;
    std::thread t_;
    std::atomic<bool> stop_{false};
};

std::unique_ptr<xsk_switch> make_xsk_switch(sw::switch_spec spec) { return std::make_unique<xsk_switch_impl>(std::move(spec)); }

}  // namespace vnet::bench_xsk
