// vnet/io/packet_fd.hpp - an owned file descriptor, and the one opener of the plain
// AF_PACKET sockets the lab binds to its interfaces (TAPs, host vNICs, uplinks).
//
// open_packet_fd(ifname) makes a non-blocking SOCK_RAW socket for every protocol
// (ETH_P_ALL) bound to the interface in the calling thread's namespace (use io::in_netns
// for another one): it receives every frame the interface receives and, unless
// ignore_outgoing is set, every frame it sends (PACKET_OUTGOING); send() transmits a frame
// out of the interface. The ring-mapped port of io/packet_socket.hpp sets its rings up
// before it binds and opens its own socket for that reason.
#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <vnet/core/error.hpp>
#include <vnet/io/os_error.hpp>

namespace vnet::io {

/// A file descriptor closed when its owner goes; moves, never copies.
class unique_fd {
public:
    constexpr unique_fd() noexcept = default;
    constexpr explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.fd_, -1));
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    constexpr int get() const noexcept { return fd_; }
    constexpr explicit operator bool() const noexcept { return fd_ >= 0; }
    /// Gives the descriptor up without closing it.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

/// A descriptor of its own for what `fd` refers to (F_DUPFD_CLOEXEC): how a part that
/// closes its descriptors borrows one that another part keeps (a TAP the topology holds).
inline result<unique_fd> dup_fd(int fd) {
    const int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0) return os_fail("dup_fd", errno);
    return unique_fd(d);
}

struct packet_fd_options {
    bool ignore_outgoing = false;  // PACKET_IGNORE_OUTGOING: not the frames the interface sends
    int receive_buffer = 0;        // SO_RCVBUF in bytes; 0: the kernel's default
    bool auxdata = false;          // PACKET_AUXDATA: recv_frame reports checksum and VLAN state
};

/// A non-blocking AF_PACKET SOCK_RAW socket bound to `ifname` in the calling thread's
/// namespace. ignore_outgoing is best effort (kernels before 4.20 lack it).
inline result<unique_fd> open_packet_fd(const std::string& ifname, packet_fd_options o = {}) {
    const unsigned idx = ::if_nametoindex(ifname.c_str());
    if (idx == 0) return os_fail("packet_socket.if_nametoindex", errno);
    unique_fd s(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)));
    if (!s) return os_fail("packet_socket.socket", errno);
    if (o.ignore_outgoing) {
#ifdef PACKET_IGNORE_OUTGOING
        int one = 1;
        (void)::setsockopt(s.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
#endif
    }
    sockaddr_ll sa{};
    sa.sll_family = AF_PACKET;
    sa.sll_protocol = htons(ETH_P_ALL);
    sa.sll_ifindex = static_cast<int>(idx);
    if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return os_fail("packet_socket.bind", errno);
    if (o.receive_buffer > 0) (void)::setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &o.receive_buffer, sizeof o.receive_buffer);
    if (o.auxdata) {
        int one = 1;
        if (::setsockopt(s.get(), SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) != 0)
            return os_fail("packet_socket.auxdata", errno);
    }
    return s;
}

/// One frame read from a packet socket (non-blocking): its length in the buffer (-1: none
/// waiting, or an error in errno), the link-layer address it came with (sll_pkttype), and
/// the kernel's PACKET_AUXDATA (tp_status 0 unless the socket was opened with auxdata:
/// TP_STATUS_CSUMNOTREADY for a partial checksum, TP_STATUS_VLAN_VALID with tp_vlan_tci
/// for an outer VLAN tag the kernel took off the frame).
struct received_frame {
    ssize_t length = -1;
    sockaddr_ll from{};
    tpacket_auxdata aux{};
};
inline received_frame recv_frame(int fd, std::span<std::byte> buf) {
    received_frame f;
    alignas(cmsghdr) std::array<std::byte, CMSG_SPACE(sizeof(tpacket_auxdata))> control{};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &f.from;
    msg.msg_namelen = sizeof f.from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    f.length = ::recvmsg(fd, &msg, 0);
    if (f.length < 0) return f;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) std::memcpy(&f.aux, CMSG_DATA(c), sizeof f.aux);
    return f;
}

}  // namespace vnet::io
