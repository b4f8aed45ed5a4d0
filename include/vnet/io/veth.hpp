// vnet/io/veth.hpp - veth pairs with RAII (Linux only, needs CAP_NET_ADMIN).
//
//   auto v = *io::veth::create("lab-a", "eth0", "lab-sw", "p0");   // eth0 in lab-a, p0 in lab-sw
//
// The pair is made with one rtnetlink RTM_NEWLINK request (kind "veth", the peer in
// VETH_INFO_PEER) sent from a thread inside the first end's namespace, with the peer
// placed by IFLA_NET_NS_FD, so neither end ever exists in the caller's namespace.
// Destruction deletes the first end (RTM_DELLINK), which deletes the pair; a pair also
// disappears with either namespace.
//
// By default both ends come up with checksum offload, TSO, GSO and GRO off
// (veth_options::offloads = false): a frame that crosses a user-space switch (an
// AF_PACKET socket) must be a complete, checksummed, MTU-sized Ethernet frame, and a veth
// with offloads on hands over 64 KiB TCP super-frames with partial checksums.
#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vnet/core/error.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/os_error.hpp>

namespace vnet::io {

struct veth_options {
    bool up = true;
    bool offloads = false;             // false: tx checksum, TSO, GSO, GRO off on both ends
    std::optional<mac_address> mac_a;  // otherwise the kernel picks random ones
    std::optional<mac_address> mac_b;
    unsigned mtu = 0;  // 0: the kernel default (1500)
};

namespace detail {

/// A netlink request being built in a fixed buffer (no allocation).
class nl_request {
public:
    nl_request(std::uint16_t type, std::uint16_t flags) noexcept {
        auto* h = hdr();
        h->nlmsg_len = NLMSG_LENGTH(0);
        h->nlmsg_type = type;
        h->nlmsg_flags = static_cast<std::uint16_t>(flags | NLM_F_REQUEST | NLM_F_ACK);
        h->nlmsg_seq = 1;
    }
    nlmsghdr* hdr() noexcept { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
    bool ok() const noexcept { return ok_; }

    void put(const void* data, std::size_t n) noexcept {
        const std::size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
        if (at + NLMSG_ALIGN(n) > buf_.size()) {
            ok_ = false;
            return;
        }
        std::memcpy(buf_.data() + at, data, n);
        hdr()->nlmsg_len = static_cast<std::uint32_t>(at + NLMSG_ALIGN(n));
    }
    void attr(std::uint16_t type, const void* data, std::size_t n) noexcept {
        rtattr a{};
        a.rta_len = static_cast<unsigned short>(RTA_LENGTH(n));
        a.rta_type = type;
        const std::size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
        if (at + RTA_SPACE(n) > buf_.size()) {
            ok_ = false;
            return;
        }
        std::memcpy(buf_.data() + at, &a, sizeof a);
        if (n) std::memcpy(buf_.data() + at + RTA_LENGTH(0), data, n);
        hdr()->nlmsg_len = static_cast<std::uint32_t>(at + RTA_SPACE(n));
    }
    void attr_str(std::uint16_t type, std::string_view s) noexcept {
        std::array<char, IFNAMSIZ> b{};
        std::memcpy(b.data(), s.data(), std::min(s.size(), b.size() - 1));
        attr(type, b.data(), s.size() + 1);
    }
    template <class T>
    void attr_val(std::uint16_t type, T v) noexcept {
        attr(type, &v, sizeof v);
    }
    /// Opens a nested attribute; returns its offset for end_nest().
    std::size_t begin_nest(std::uint16_t type) noexcept {
        const std::size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
        attr(type, nullptr, 0);
        return at;
    }
    void end_nest(std::size_t at) noexcept {
        if (!ok_) return;
        auto* a = reinterpret_cast<rtattr*>(buf_.data() + at);
        a->rta_len = static_cast<unsigned short>(hdr()->nlmsg_len - at);
    }

private:
    alignas(nlmsghdr) std::array<std::byte, 1024> buf_{};
    bool ok_ = true;
};

/// Sends a request on a NETLINK_ROUTE socket of the calling thread's namespace and
/// waits for its acknowledgement.
inline result<void> nl_transact(nl_request& req, std::string_view what) {
    if (!req.ok()) return fail(layer::io, errc::buffer_too_small, "netlink.request");
    int s = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0) return os_fail("netlink.socket", errno);
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (::sendto(s, req.hdr(), req.hdr()->nlmsg_len, 0, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0) {
        const int e = errno;
        ::close(s);
        return os_fail("netlink.send", e);
    }
    alignas(nlmsghdr) std::array<std::byte, 4096> buf{};
    for (;;) {
        ssize_t n = ::recv(s, buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int e = errno;
            ::close(s);
            return os_fail("netlink.recv", e);
        }
        // Messages start at NLMSG_ALIGN (4-byte) offsets of the aligned buffer.
        std::size_t off = 0;
        const auto total = static_cast<std::size_t>(n);
        while (off + sizeof(nlmsghdr) <= total) {
            nlmsghdr h{};
            std::memcpy(&h, buf.data() + off, sizeof h);
            if (h.nlmsg_len < sizeof h || off + h.nlmsg_len > total) break;
            if (h.nlmsg_type == NLMSG_ERROR && h.nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))) {
                nlmsgerr err{};
                std::memcpy(&err, buf.data() + off + NLMSG_HDRLEN, sizeof err);
                ::close(s);
                if (err.error == 0) return {};
                return os_fail(what, -err.error);
            }
            off += NLMSG_ALIGN(h.nlmsg_len);
        }
    }
}

/// Turns one ethtool feature on or off (legacy ETHTOOL_S* commands).
inline result<void> ethtool_set(int sock, std::string_view ifname, std::uint32_t cmd, bool on) {
    ethtool_value ev{};
    ev.cmd = cmd;
    ev.data = on ? 1 : 0;
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, ifname.data(), std::min<std::size_t>(ifname.size(), IFNAMSIZ - 1));
    ifr.ifr_data = reinterpret_cast<char*>(&ev);
    if (::ioctl(sock, SIOCETHTOOL, &ifr) != 0) return os_fail("veth.ethtool", errno);
    return {};
}

/// Brings an end of the calling thread's namespace up and sets its offloads.
inline result<void> configure_end(std::string_view ifname, const veth_options& opt) {
    if (!opt.offloads) {
        int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0) return os_fail("veth.socket", errno);
        for (std::uint32_t cmd : {ETHTOOL_STXCSUM, ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO}) {
            if (auto r = ethtool_set(s, ifname, cmd, false); !r) {
                ::close(s);
                return r;
            }
        }
        ::close(s);
    }
    if (opt.up) return set_link_up(ifname);
    return {};
}

/// Deletes interface `ifname` of the calling thread's namespace; absent is fine.
inline result<void> delete_link(std::string_view ifname) {
    std::string n(ifname);
    const unsigned idx = ::if_nametoindex(n.c_str());
    if (idx == 0) return {};
    nl_request req(RTM_DELLINK, 0);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = static_cast<int>(idx);
    req.put(&ifi, sizeof ifi);
    auto r = nl_transact(req, "veth.dellink");
    if (!r && r.error().what == errc::not_found) return {};
    return r;
}

}  // namespace detail

/// A veth pair owned by this object (deleted on destruction).
class veth {
public:
    veth() = default;
    veth(const veth&) = delete;
    veth& operator=(const veth&) = delete;
    veth(veth&& o) noexcept
            : netns_a_(std::exchange(o.netns_a_, {})),
              name_a_(std::exchange(o.name_a_, {})),
              netns_b_(std::exchange(o.netns_b_, {})),
              name_b_(std::exchange(o.name_b_, {})) {}
    veth& operator=(veth&& o) noexcept {
        if (this != &o) {
            (void)remove();
            netns_a_ = std::exchange(o.netns_a_, {});
            name_a_ = std::exchange(o.name_a_, {});
            netns_b_ = std::exchange(o.netns_b_, {});
            name_b_ = std::exchange(o.name_b_, {});
        }
        return *this;
    }
    ~veth() { (void)remove(); }

    /// Creates end `name_a` in namespace `netns_a` and its peer `name_b` in `netns_b`
    /// (empty: the caller's namespace). errc::conflict when a name is taken.
    static result<veth> create(std::string_view netns_a, std::string_view name_a, std::string_view netns_b,
                               std::string_view name_b, veth_options opt = {}) {
        if (!detail::valid_name(name_a, IFNAMSIZ - 1) || !detail::valid_name(name_b, IFNAMSIZ - 1))
            return fail(layer::io, errc::bad_value, "veth.name");
        const std::string path_b = netns_b.empty() ? std::string("/proc/thread-self/ns/net") : netns_path(netns_b);
        int fd_b = ::open(path_b.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_b < 0) return os_fail("veth.netns_b", errno);
        std::string a(name_a), b(name_b);
        auto made = in_netns(netns_a, [&]() -> result<void> {
            if (::if_nametoindex(a.c_str()) != 0) return fail(layer::io, errc::conflict, "veth.name_a");
            detail::nl_request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
            ifinfomsg ifi{};
            ifi.ifi_family = AF_UNSPEC;
            req.put(&ifi, sizeof ifi);
            req.attr_str(IFLA_IFNAME, a);
            if (opt.mac_a) req.attr(IFLA_ADDRESS, opt.mac_a->octets().data(), 6);
            if (opt.mtu) req.attr_val<std::uint32_t>(IFLA_MTU, opt.mtu);
            const auto li = req.begin_nest(IFLA_LINKINFO);
            req.attr_str(IFLA_INFO_KIND, "veth");
            const auto data = req.begin_nest(IFLA_INFO_DATA);
            const auto peer = req.begin_nest(VETH_INFO_PEER);
            ifinfomsg pi{};
            pi.ifi_family = AF_UNSPEC;
            req.put(&pi, sizeof pi);
            req.attr_str(IFLA_IFNAME, b);
            req.attr_val<std::uint32_t>(IFLA_NET_NS_FD, static_cast<std::uint32_t>(fd_b));
            if (opt.mac_b) req.attr(IFLA_ADDRESS, opt.mac_b->octets().data(), 6);
            if (opt.mtu) req.attr_val<std::uint32_t>(IFLA_MTU, opt.mtu);
            req.end_nest(peer);
            req.end_nest(data);
            req.end_nest(li);
            auto r = detail::nl_transact(req, "veth.newlink");
            if (!r) return r;
            if (auto c = detail::configure_end(a, opt); !c) {
                (void)detail::delete_link(a);
                return c;
            }
            return {};
        });
        ::close(fd_b);
        if (!made) return unexpected(made.error());
        veth v;
        v.netns_a_ = std::string(netns_a);
        v.name_a_ = std::move(a);
        v.netns_b_ = std::string(netns_b);
        v.name_b_ = std::move(b);
        auto c = in_netns(netns_b, [&]() -> result<void> { return detail::configure_end(v.name_b_, opt); });
        if (!c) return unexpected(c.error());  // v's destructor deletes the pair
        return v;
    }

    /// Deletes the pair that has end `name` in namespace `netns_name`. Fine when the
    /// interface or the namespace no longer exists.
    static result<void> remove(std::string_view netns_name, std::string_view name) {
        if (!detail::valid_name(name, IFNAMSIZ - 1)) return fail(layer::io, errc::bad_value, "veth.name");
        if (!netns_name.empty() && ::access(netns_path(netns_name).c_str(), F_OK) != 0) return {};
        std::string n(name);
        auto r = in_netns(netns_name, [&]() -> result<void> { return detail::delete_link(n); });
        if (!r && r.error().what == errc::not_found) return {};
        return r;
    }

    /// Deletes the pair now (idempotent).
    result<void> remove() {
        if (name_a_.empty()) return {};
        auto r = remove(netns_a_, name_a_);
        name_a_.clear();
        name_b_.clear();
        netns_a_.clear();
        netns_b_.clear();
        return r;
    }

    const std::string& name_a() const noexcept { return name_a_; }
    const std::string& name_b() const noexcept { return name_b_; }
    const std::string& netns_a() const noexcept { return netns_a_; }
    const std::string& netns_b() const noexcept { return netns_b_; }
    bool valid() const noexcept { return !name_a_.empty(); }

private:
    std::string netns_a_, name_a_, netns_b_, name_b_;
};

}  // namespace vnet::io
