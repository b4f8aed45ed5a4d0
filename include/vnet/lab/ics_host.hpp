// vnet/lab/ics_host.hpp - vnet's Default Switch services (svc::default_switch: DHCP, the
// DNS proxy, ICS NAT) serving a real host vNIC in a lab (Linux only, root).
//
// The host vNIC stays a kernel interface, as "vEthernet (Default Switch)" is a Windows
// interface: the host's own IP stack answers ARP and ping for the vNIC address and talks
// to its VMs. Beside it, this class runs the ICS services on that interface from one
// thread:
//   vNIC packet socket   frames the VMs send to the vNIC (its MAC, broadcast) that are
//                        DHCP (UDP 67), DNS to the vNIC address (UDP 53) or routed (an
//                        address beyond the host's) go to the bundle; what the bundle
//                        answers is sent out of the vNIC, so the switch sees it come from
//                        the vNIC MAC. ARP, ICMP and TCP to the host's own addresses are
//                        the kernel's.
//   uplink               lab/nat_uplink.hpp: packets to the host's uplink address for a
//                        port of the NAT's range (and ICMP) go to the bundle's NAT inbound;
//                        NATed packets leave through the host's routing table.
//   UDP / TCP sockets    the DNS proxy's queries to the host's DNS servers.
// The owner keeps the kernel out of the way (nft, ics_kernel_rules()): no forwarding from
// the vNIC, no local delivery of DHCP and DNS on the vNIC, none of the NAT's port range
// from the uplink, and the kernel's own ephemeral ports below that range.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/core/mutant.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/packet_fd.hpp>
#include <vnet/io/os_error.hpp>
#include <vnet/lab/nat_uplink.hpp>
#include <vnet/lab/service_thread.hpp>
#include <vnet/services/default_switch.hpp>
#include <vnet/switch/port.hpp>
#include <vnet/wire/checksum.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/udp.hpp>

namespace vnet::lab {

struct ics_host_options {
    std::string netns;  // the host's namespace
    std::string vnic;   // the Default Switch's host vNIC (kernel side)
    mac_address vnic_mac{};
    ipv4_prefix range{};  // the Default Switch's /20 (the vNIC holds its first host)
    std::string uplink;   // the interface holding the uplink address; empty: no NAT out
    ipv4_address uplink_address{};
    std::vector<ipv4_prefix> host_networks;  // the host's other networks (not routed through ICS)
    std::vector<svc::dns_endpoint> dns_upstreams;
    std::uint16_t nat_port_first = 49152;  // the kernel's ephemeral ports must stay below
    std::uint16_t nat_port_last = 65535;
    std::chrono::milliseconds tick{100};  // DNS retries, lease and NAT expiry
};

/// Counters of the glue, beside the bundle's own.
struct ics_host_counters {
    std::uint64_t vnic_frames = 0;   // frames taken from the vNIC for the bundle
    std::uint64_t vnic_left = 0;     // frames left to the host's IP stack
    std::uint64_t vnic_sent = 0;     // frames the bundle sent out of the vNIC
    std::uint64_t dns_sent = 0;      // queries sent to upstream servers (UDP and TCP)
    std::uint64_t dns_received = 0;  // upstream answers
    std::uint64_t send_errors = 0;   // send() / sendto() to the vNIC or DNS servers refused
    nat_uplink_counters uplink{};
};

/// The nft ruleset (table inet vnet_ics) that keeps the host's kernel from answering
/// what the ICS services answer (see the file comment). Its forward chain is also what
/// keeps other computers from reaching the VMs: ICS translates what the VMs open, and the
/// host routes nothing else to or from the Default Switch.
inline std::string ics_kernel_rules(const ics_host_options& o) {
    const std::string_view forward_verdict = mutant::on(mutant::id::ics_routes_inbound) ? "accept" : "drop";
    return (o.uplink.empty() ? std::string{} : nat_uplink_rules(o.uplink, o.uplink_address, o.nat_port_first, o.nat_port_last)) +
           fmt::format(
               "table inet vnet_ics {{\n"
               "  chain input {{\n"
               "    type filter hook input priority filter; policy accept;\n"
               "    iifname \"{0}\" udp dport {{ 53, 67 }} drop\n"
               "  }}\n"
               "  chain forward {{\n"
               "    type filter hook forward priority filter; policy accept;\n"
               "    iifname \"{0}\" {1}\n"
               "    oifname \"{0}\" {1}\n"
               "  }}\n"
               "}}\n",
               o.vnic, forward_verdict);
}

class ics_host {
public:
    using bundle_type = svc::default_switch<sw::memory_port>;

    /// Opens the sockets in the host's namespace and makes the bundle (not yet running).
    static result<std::unique_ptr<ics_host>> make(ics_host_options o) {
        std::unique_ptr<ics_host> h(new ics_host(std::move(o)));
        if (auto r = h->open(); !r) return unexpected(r.error());
        return h;
    }

    ics_host(const ics_host&) = delete;
    ics_host& operator=(const ics_host&) = delete;
    ~ics_host() { stop(); }

    result<void> start() {
        std::vector<int> fds{vnic_fd_.get(), udp_fd_.get()};
        if (uplink_) fds.push_back(uplink_->fd());
        return thread_.start(std::move(fds), o_.tick,
                             {[this](std::size_t i) { on_ready(i); },
                              [this] {
                                  std::lock_guard lock(mu_);
                                  bundle_->poll();
                                  flush();
                              }});
    }

    void stop() { thread_.stop(); }

    /// ICS port forwarding (svc::default_switch::add_port_mapping), before or while running.
    result<void> add_port_mapping(const svc::nat_static_mapping& m) {
        std::lock_guard lock(mu_);
        return bundle_->add_port_mapping(m);
    }

    /// Runs f(const bundle_type&, const ics_host_counters&) under the lock.
    template <class F>
    auto inspect(F&& f) const {
        std::lock_guard lock(mu_);
        return f(static_cast<const bundle_type&>(*bundle_), counters_);
    }

    std::string summary() const {
        return inspect([](const bundle_type& b, const ics_host_counters& c) {
            return fmt::format(
                "{}\nlab glue: vnic_frames={} vnic_left={} vnic_sent={} dns_sent={} dns_received={} send_errors={}, "
                "uplink received={} sent={} send_errors={} checksums_completed={}",
                b, c.vnic_frames, c.vnic_left, c.vnic_sent, c.dns_sent, c.dns_received, c.send_errors, c.uplink.received,
                c.uplink.sent, c.uplink.send_errors, c.uplink.checksums_completed);
        });
    }

    const ics_host_options& options() const noexcept { return o_; }

private:
    static constexpr std::size_t max_frame = 2048;

    explicit ics_host(ics_host_options o) : o_(std::move(o)) {}

    result<void> open() {
        svc::default_switch_config c;
        c.host_mac = o_.vnic_mac;
        c.host_networks = o_.host_networks;
        c.uplink_address = o_.uplink_address;
        c.dns_upstreams = o_.dns_upstreams;
        c.range = o_.range;
        c.nat_port_first = o_.nat_port_first;
        c.nat_port_last = o_.nat_port_last;
        c.wall_epoch = std::chrono::system_clock::now() - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                                              std::chrono::steady_clock::now().time_since_epoch());
        std::random_device rd;
        std::mt19937_64 rng((std::uint64_t{rd()} << 32) | rd());
        c.dns_id_seed = rng();
        c.nat_hash_seed = rng();
        auto b = bundle_type::make(std::move(c), rng);
        if (!b) return unexpected(b.error());
        bundle_.emplace(std::move(*b));
        // One link port stands for every VM behind the vNIC (its frames carry their MACs).
        sw::port_config link = sw::port_config::vm("vEthernet link", mac_address{});
        link.mac.reset();
        link.mac_spoofing = true;
        auto id = bundle_->add_port(std::move(link), sw::memory_port{});
        if (!id) return unexpected(id.error());
        link_ = *id;

        if (!o_.uplink.empty()) {
            auto u = nat_uplink::open(o_.netns, o_.uplink, o_.uplink_address, o_.nat_port_first, o_.nat_port_last);
            if (!u) return unexpected(u.error());
            uplink_.emplace(std::move(*u));
        }
        return io::in_netns(o_.netns, [&]() -> result<void> {
            auto v = io::open_packet_fd(o_.vnic);
            if (!v) return unexpected(v.error());
            vnic_fd_ = std::move(*v);
            udp_fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            if (!udp_fd_) return io::os_fail("ics.udp_socket", errno);
            return {};
        });
    }

    void on_ready(std::size_t i) {
        std::lock_guard lock(mu_);
        if (i == 0) drain_vnic(buf_);
        else if (i == 1) drain_dns(buf_);
        else drain_uplink(buf_);
        flush();
    }

    /// Whether the bundle serves this frame from a VM (else it is the kernel's).
    bool for_bundle(bytes_view fr) const {
        auto f = wire::frame_view::parse(fr);
        if (!f || f->ethertype() != wire::ethertype::ipv4) return false;
        const mac_address dst = f->dst();
        if (dst != o_.vnic_mac && !dst.is_broadcast()) return false;
        auto ip = wire::ipv4_view::parse(f->payload());
        if (!ip) return false;
        const auto dport = wire::udp_dst_port(*ip);
        if (dport == wire::dhcp_port::server) return true;
        if (dst.is_broadcast()) return false;
        const ipv4_address d = ip->dst();
        if (d == bundle_->host_address()) return dport == wire::dns_port;
        if (d == o_.uplink_address) return false;
        for (const auto& n : o_.host_networks)
            if (n.address() == d) return false;  // one of the host's own addresses
        return !o_.range.contains(d);
    }

    void drain_vnic(std::vector<std::byte>& buf) {
        for (int i = 0; i < 64; ++i) {
            sockaddr_ll from{};
            socklen_t fl = sizeof from;
            const ssize_t r = ::recvfrom(vnic_fd_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
            if (r < 0) return;
            if (from.sll_pkttype == PACKET_OUTGOING) continue;  // the kernel's sends and ours
            const bytes_view f(buf.data(), static_cast<std::size_t>(r));
            if (!for_bundle(f)) {
                ++counters_.vnic_left;
                continue;
            }
            ++counters_.vnic_frames;
            bundle_->send(link_, f);
        }
    }

    void drain_uplink(std::vector<std::byte>& buf) {
        uplink_->drain(buf, [&](bytes_span packet) { bundle_->on_uplink(bytes_view(packet)); });
        counters_.uplink = uplink_->counters();
    }

    void drain_dns(std::vector<std::byte>& buf) {
        for (int i = 0; i < 64; ++i) {
            sockaddr_in from{};
            socklen_t fl = sizeof from;
            const ssize_t r = ::recvfrom(udp_fd_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
            if (r < 0) return;
            ++counters_.dns_received;
            const svc::dns_endpoint src{ipv4_address(ntohl(from.sin_addr.s_addr)), ntohs(from.sin_port)};
            bundle_->on_dns_answer(src, bytes_view(buf.data(), static_cast<std::size_t>(r)));
        }
    }

    /// Sends what the bundle queued: frames to the VMs, packets to the uplink, queries upstream.
    void flush() {
        auto& out = bundle_->port(link_);
        for (const auto& f : out.frames) {
            if (::send(vnic_fd_.get(), f.data(), f.size(), MSG_DONTWAIT) < 0) ++counters_.send_errors;
            else ++counters_.vnic_sent;
        }
        out.clear();
        if (uplink_) {
            for (const auto& p : bundle_->uplink()) uplink_->send(p);
            counters_.uplink = uplink_->counters();
        }
        bundle_->clear_uplink();
        // Copies: a TCP answer goes back into the bundle, which may queue more queries.
        std::vector<svc::dns_outgoing> qs(bundle_->dns_upstream().begin(), bundle_->dns_upstream().end());
        bundle_->clear_dns_upstream();
        for (const auto& q : qs) {
            sockaddr_in to{};
            to.sin_family = AF_INET;
            to.sin_addr.s_addr = htonl(q.endpoint.address.to_u32());
            to.sin_port = htons(q.endpoint.port);
            if (q.transport == svc::dns_transport::udp) {
                if (::sendto(udp_fd_.get(), q.payload.data(), q.payload.size(), MSG_DONTWAIT,
                             reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0)
                    ++counters_.send_errors;
                else ++counters_.dns_sent;
                continue;
            }
            ++counters_.dns_sent;
            if (auto answer = tcp_exchange(to, q.payload)) {
                ++counters_.dns_received;
                bundle_->on_dns_answer(q.endpoint, *answer, svc::dns_transport::tcp);
            }
        }
        if (!bundle_->port(link_).frames.empty() || !bundle_->uplink().empty()) flush();
    }

    /// One DNS query over TCP (RFC 7766; payload already carries the length prefix), at most
    /// two seconds; the TCP-framed answer, or nothing (the proxy then times out).
    std::optional<std::vector<std::byte>> tcp_exchange(const sockaddr_in& to, bytes_view payload) {
        auto s = io::in_netns(o_.netns, [&]() -> result<int> {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) return io::os_fail("ics.tcp_socket", errno);
            timeval tv{2, 0};
            (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            return fd;
        });
        if (!s) return std::nullopt;
        const int fd = *s;
        std::optional<std::vector<std::byte>> out;
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0 &&
            ::send(fd, payload.data(), payload.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(payload.size())) {
            std::vector<std::byte> a(2 + 65535);
            std::size_t got = 0;
            while (got < a.size()) {
                const ssize_t r = ::recv(fd, a.data() + got, a.size() - got, 0);
                if (r <= 0) break;
                got += static_cast<std::size_t>(r);
                if (got >= 2 && got >= 2 + std::size_t{load_be16(bytes_view(a), 0)}) break;
            }
            if (got >= 2 && got >= 2 + std::size_t{load_be16(bytes_view(a), 0)}) {
                a.resize(2 + std::size_t{load_be16(bytes_view(a), 0)});
                out = std::move(a);
            }
        }
        ::close(fd);
        return out;
    }

    ics_host_options o_;
    std::optional<bundle_type> bundle_;
    std::optional<nat_uplink> uplink_;
    std::vector<std::byte> buf_ = std::vector<std::byte>(max_frame);  // one received frame or message
    sw::port_index link_ = 0;
    ics_host_counters counters_{};
    mutable std::mutex mu_;
    service_thread thread_;  // after what its callbacks use: destroyed (joined) before them
    io::unique_fd vnic_fd_;
    io::unique_fd udp_fd_;
};

}  // namespace vnet::lab
