// vnet/lab/nat_uplink.hpp - the host's uplink as a vnet NAT in a lab uses it (the Default
// Switch's ICS in lab/ics_host.hpp, New-NetNat in lab/nat_host.hpp) (Linux only, root).
//
// The NAT's outside address is the host's own address on its adapter, as on Windows:
//   receive  an AF_PACKET socket on the adapter takes the IPv4 packets for that address
//            and a port of the NAT's range (TCP, UDP) or ICMP. A packet whose TCP/UDP
//            checksum the sender left to offload (TP_STATUS_CSUMNOTREADY in
//            PACKET_AUXDATA: veths pass partial checksums along) gets it computed first,
//            as a NIC would.
//   send     a raw IPv4 socket (IPPROTO_RAW): NATed packets leave through the host's
//            routing table, which resolves the next hop.
// The kernel must not answer for the NAT's ports (nat_uplink::kernel_rules(): nft drops
// them on local delivery; the packet socket sees them first) and its own ephemeral ports
// stay below the range (ip_local_port_range, set by the owner).
#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/packet_fd.hpp>
#include <vnet/io/os_error.hpp>
#include <vnet/lab/service_thread.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/ipv4.hpp>

namespace vnet::lab {

struct nat_uplink_counters {
    std::uint64_t received = 0;             // packets taken for the NAT
    std::uint64_t sent = 0;                 // packets sent through the raw socket
    std::uint64_t send_errors = 0;          // sendto() refused
    std::uint64_t checksums_completed = 0;  // received packets with a checksum left to offload
};

/// nft rules (table inet vnet_nat_<ifname>) keeping the kernel off the NAT's ports.
inline std::string nat_uplink_rules(const std::string& ifname, ipv4_address address, std::uint16_t first, std::uint16_t last) {
    return fmt::format(
        "table inet vnet_nat_{0} {{\n"
        "  chain input {{\n"
        "    type filter hook input priority filter; policy accept;\n"
        "    iifname \"{0}\" ip daddr {1} tcp dport {2}-{3} drop\n"
        "    iifname \"{0}\" ip daddr {1} udp dport {2}-{3} drop\n"
        "  }}\n"
        "}}\n",
        ifname, address, first, last);
}

class nat_uplink {
public:
    nat_uplink() = default;
    nat_uplink(const nat_uplink&) = delete;
    nat_uplink& operator=(const nat_uplink&) = delete;
    nat_uplink(nat_uplink&&) noexcept = default;
    nat_uplink& operator=(nat_uplink&&) noexcept = default;

    /// Opens the sockets on `ifname` (holding `address`) in namespace `netns`, for the NAT
    /// ports first..last.
    static result<nat_uplink> open(const std::string& netns, const std::string& ifname, ipv4_address address, std::uint16_t first,
                                   std::uint16_t last) {
        nat_uplink u;
        u.ifname_ = ifname;
        u.address_ = address;
        u.first_ = first;
        u.last_ = last;
        auto r = io::in_netns(netns, [&]() -> result<void> {
            auto p = io::open_packet_fd(ifname, {.auxdata = true});
            if (!p) return unexpected(p.error());
            u.packet_fd_ = std::move(*p);
            u.raw_fd_.reset(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
            if (!u.raw_fd_) return io::os_fail("nat_uplink.raw_socket", errno);
            return {};
        });
        if (!r) return unexpected(r.error());
        return u;
    }

    std::string kernel_rules() const { return nat_uplink_rules(ifname_, address_, first_, last_); }

    int fd() const noexcept { return packet_fd_.get(); }
    const std::string& ifname() const noexcept { return ifname_; }
    ipv4_address address() const noexcept { return address_; }
    const nat_uplink_counters& counters() const noexcept { return ctr_; }

    /// Reads what is waiting (at most 64 frames): f(bytes_span packet) for each IPv4 packet
    /// for the NAT, in `buf` (checksum completed when the sender left it to offload).
    template <class F>
    void drain(std::vector<std::byte>& buf, F&& f) {
        for (int i = 0; i < 64; ++i) {
            const auto got = io::recv_frame(packet_fd_.get(), buf);
            if (got.length < 0) return;
            if (got.from.sll_pkttype != PACKET_HOST) continue;
            const bool partial = (got.aux.tp_status & TP_STATUS_CSUMNOTREADY) != 0;
            auto fr = wire::ethernet_view::parse(bytes_view(buf.data(), static_cast<std::size_t>(got.length)));
            if (!fr || fr->ethertype() != wire::ethertype::ipv4) continue;
            auto ip = wire::ipv4_view::parse(fr->payload());
            if (!ip || ip->dst() != address_) continue;
            const auto proto = ip->protocol();
            if (proto == wire::ip_protocol::tcp || proto == wire::ip_protocol::udp) {
                if (!ip->is_first_fragment() || ip->payload_len() < 4) continue;
                const std::uint16_t dport = load_be16(ip->payload(), 2);
                if (dport < first_ || dport > last_) continue;
            } else if (proto != wire::ip_protocol::icmp) {
                continue;
            }
            ++ctr_.received;
            const bytes_span packet = bytes_span(buf).subspan(wire::ethernet_view::header_len, ip->packet().size());
            if (partial) complete_checksum(packet);
            f(packet);
        }
    }

    /// Sends a NATed IPv4 packet out (the kernel routes it).
    void send(bytes_view packet) {
        auto ip = wire::ipv4_view::parse(packet);
        if (!ip) return;
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_addr.s_addr = htonl(ip->dst().to_u32());
        if (::sendto(raw_fd_.get(), packet.data(), packet.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to),
                     sizeof to) < 0)
            ++ctr_.send_errors;
        else ++ctr_.sent;
    }

private:
    /// Computes the TCP or UDP checksum of an IPv4 packet whose sender left it to offload.
    void complete_checksum(bytes_span packet) {
        auto ip = wire::ipv4_view::parse(packet);
        if (!ip || ip->is_fragment()) return;
        const std::size_t at = ip->header_len();
        const std::size_t len = ip->payload_len();
        const std::size_t field = ip->protocol() == wire::ip_protocol::tcp ? 16 : 6;
        if (len < field + 2) return;
        store_be16(packet, at + field, 0);
        auto acc = wire::pseudo_header_v4(ip->src(), ip->dst(), ip->protocol(), static_cast<std::uint16_t>(len));
        std::uint16_t c = acc.add(bytes_view(packet).subspan(at, len)).finish();
        if (c == 0 && ip->protocol() == wire::ip_protocol::udp) c = 0xffff;
        store_be16(packet, at + field, c);
        ++ctr_.checksums_completed;
    }

    std::string ifname_;
    ipv4_address address_{};
    std::uint16_t first_ = 0, last_ = 0;
    io::unique_fd packet_fd_;
    io::unique_fd raw_fd_;
    nat_uplink_counters ctr_{};
};

}  // namespace vnet::lab
