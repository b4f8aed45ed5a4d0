// vnet/lab/checks.hpp - the checks of a lab, one function per check kind and one table of them;
// the verdicts they take are pure functions (lab/verdicts.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/process.hpp>
#include <vnet/io/tap.hpp>
#include <vnet/lab/dhcp_host.hpp>
#include <vnet/lab/guest_agent.hpp>
#include <vnet/lab/ics_host.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/lab/nat_host.hpp>
#include <vnet/lab/plan.hpp>
#include <vnet/lab/qemu.hpp>
#include <vnet/lab/report.hpp>
#include <vnet/lab/verdicts.hpp>
#include <vnet/lab/switch_pump.hpp>
#include <vnet/lab/check_env.hpp>
#include <vnet/lab/check_kinds.hpp>
#include <vnet/lab/port_capture.hpp>

namespace vnet::lab {

namespace detail {

/// A check whose probe never ran: nothing observed (agent or namespace error).
inline void not_run(const check_env::outcome& o, check_result& r) {
    r.observed = "error";
    r.detail = fmt::format("could not run the probe: {}", o.why);
}
inline void take(const verdict& v, check_result& r) {
    r.observed = std::string(to_string(v.observed));
    r.detail = v.detail;
}

}  // namespace detail

/// The NIC index a check's `to` names ("eth0", "eth1", ...; empty: eth0), or nullopt.
inline std::optional<std::size_t> nic_index(const std::string& to) {
    if (to.empty()) return 0;
    if (to.size() < 4 || to.substr(0, 3) != "eth" || to.find_first_not_of("0123456789", 3) != std::string::npos)
        return std::nullopt;
    return static_cast<std::size_t>(std::atoi(to.c_str() + 3));
}

/// The NIC of VM `vm` that check `c` names in `to` (empty: eth0); nullopt with the result
/// an error when `to` names none.
inline std::optional<std::size_t> check_nic(const vm_config& vm, const check_config& c, check_result& r) {
    auto k = nic_index(c.to);
    if (k && *k < vm.nics.size()) return k;
    r.observed = "error";
    r.detail = k ? fmt::format("{} has no eth{}", c.from, *k) : fmt::format("to = \"{}\": name a NIC as eth0, eth1, ...", c.to);
    return std::nullopt;
}

/// The DHCP range a NIC's switch leads to, if known.
inline std::optional<std::pair<ipv4_address, ipv4_address>> dhcp_range_for(const check_env& env, const nic_config& nic) {
    const auto* s = env.lf().find_switch(nic.switch_name);
    if (!s) return std::nullopt;
    if (s->kind == switch_kind::default_ && env.default_switch_subnet())
        return default_switch_range(*env.default_switch_subnet());
    if (s->kind == switch_kind::internal && s->dhcp) return std::pair{s->dhcp->range_first, s->dhcp->range_last};
    if (s->kind == switch_kind::external && s->network)
        if (const auto* n = env.lf().find_network(*s->network); n && n->dhcp)
            return std::pair{n->dhcp->range_first, n->dhcp->range_last};
    return std::nullopt;
}

/// The function of check kind K, one specialisation per row of check_kinds
/// (lab/check_kinds.hpp). Declared only: a kind without its function does not link.
template <check_kind K>
void run_check_kind(check_env& env, const check_config& c, check_result& r);

/// RFC 5227 section 2.1.1 ARP probes (sender IP 0.0.0.0) for the target from `from`'s
/// interface towards it: "ok" when some device answers for the address (in use /
/// reachable), "fail" when three probes 250 ms apart get nothing within a second. An
/// address of `from` itself is "ok" without a probe (the host answers for itself).
template <>
inline void run_check_kind<check_kind::arp>(check_env& env, const check_config& c, check_result& r) {
    auto a = env.target(c, r);
    if (!a) return;
    const auto target_ip = *a;
    auto addrs = env.ns_exec(c.from, {"ip", "-o", "-4", "addr", "show"});
    if (addrs && addrs->status == 0)
        for (const auto& p : all_inet(addrs->out))
            if (p.address() == target_ip) {
                r.observed = "ok";
                r.detail = fmt::format("{} is an address of {} itself", target_ip, c.from);
                return;
            }
    auto route = env.ns_exec(c.from, {"ip", "-o", "route", "get", fmt::format("{}", target_ip)});
    const auto dev = route && route->status == 0 ? route_field(route->out, "dev") : std::string{};
    if (dev.empty()) {
        r.observed = "error";
        r.detail = fmt::format("cannot probe: {} has no route to {}", c.from, target_ip);
        return;
    }
    auto link = env.ns_exec(c.from, {"ip", "-o", "link", "show", "dev", dev});
    auto mac = link && link->status == 0 ? mac_address::parse(route_field(link->out, "link/ether"))
                                         : result<mac_address>(fail(layer::lab, errc::not_found, "arp.mac"));
    auto fd = open_packet_socket(env.netns_of(c.from), dev);
    if (!mac || !fd) {
        r.observed = "error";
        r.detail = fmt::format("cannot probe from {} on {}: {}", c.from, dev,
                               !fd ? fd.error().message() : std::string("no MAC address"));
        return;
    }
    std::array<std::byte, 60> probe{};
    wire::ethernet_repr eth{mac_address::broadcast(), *mac, wire::ethertype::arp};
    (void)eth.emit(probe);
    (void)wire::arp_repr::make_probe(*mac, target_ip).emit(bytes_span(probe).subspan(wire::ethernet_view::header_len));
    std::optional<mac_address> answer;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    auto next_probe = std::chrono::steady_clock::now();
    int sent = 0;
    std::array<std::byte, 2048> buf{};
    while (!answer && std::chrono::steady_clock::now() < deadline) {
        if (sent < 3 && std::chrono::steady_clock::now() >= next_probe) {
            (void)::send(fd->get(), probe.data(), probe.size(), 0);
            ++sent;
            next_probe += std::chrono::milliseconds(250);
        }
        pollfd p{fd->get(), POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        for (;;) {
            const ssize_t n = ::recv(fd->get(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (n < 0) break;
            auto f = wire::ethernet_view::parse(bytes_view(buf.data(), static_cast<std::size_t>(n)));
            if (!f || f->ethertype() != wire::ethertype::arp) continue;
            auto v = wire::arp_view::parse(f->payload());
            // A reply, or another device's own probe or announcement, for the address
            // (RFC 5227 section 2.1.1: either is a conflict).
            if (v && v->sender_ip() == target_ip && v->sender_mac() != *mac) answer = v->sender_mac();
        }
    }
    fd->reset();
    r.observed = answer ? "ok" : "fail";
    r.detail = answer ? fmt::format("{} answered from {} ({} probe{} on {})", target_ip, *answer, sent, sent == 1 ? "" : "s", dev)
                      : fmt::format("no answer for {} to {} ARP probes on {}", target_ip, sent, dev);
}

/// The first switch VMs `a` and `b` both have a NIC on, with their ports on it.
struct shared_switch {
    std::size_t sw;
    sw::port_index a, b;
    std::size_t nic_a, nic_b;  // the VMs' NICs on it
};
inline std::optional<shared_switch> find_shared_switch(check_env& env, std::string_view a, std::string_view b) {
    const auto* va = env.lf().find_vm(a);
    const auto* vb = env.lf().find_vm(b);
    if (!va || !vb) return std::nullopt;
    for (std::size_t k = 0; k < va->nics.size(); ++k)
        for (std::size_t j = 0; j < vb->nics.size(); ++j)
            if (va->nics[k].switch_name == vb->nics[j].switch_name) {
                auto swi = env.switch_index(va->nics[k].switch_name);
                auto pa = env.vm_port(a, k);
                auto pb = env.vm_port(b, j);
                if (swi && pa && pb) return shared_switch{*swi, *pa, *pb, k, j};
            }
    return std::nullopt;
}

/// ping: `ping -c 3` from `from`. Between two VMs on one switch, a failure also says what
/// the switch's counters saw meanwhile: what the sender's port put into the switch and how
/// much of it was flooded (ARP broadcasts for a gateway nobody on the segment owns), and
/// what the destination's port was handed; a switch that routed would show unicast frames.
/// With captures (a report folder), the two ports' pcaps say the same frame by frame: the
/// ARP requests the sender made and the replies it got, and how many echo requests to the
/// target reached the destination's port (lab/port_capture.hpp).
template <>
inline void run_check_kind<check_kind::ping>(check_env& env, const check_config& c, check_result& r) {
    auto a = env.target(c, r);
    if (!a) return;
    auto shared = find_shared_switch(env, c.from, c.to);
    sw::port_counters from0{}, to0{};
    if (shared) {
        from0 = env.pump().counters(shared->sw, shared->a);
        to0 = env.pump().counters(shared->sw, shared->b);
    }
    const auto t0 = std::chrono::system_clock::now().time_since_epoch();
    auto o = env.run_from(c.from, ping_command(*a), std::chrono::seconds(8));
    if (!o.ran) return detail::not_run(o, r);
    detail::take(ping_verdict(o.status, o.out, *a), r);
    if (!shared || r.observed != "fail") return;
    auto from1 = env.pump().counters(shared->sw, shared->a);
    auto to1 = env.pump().counters(shared->sw, shared->b);
    const auto sent = from1.rx_frames - from0.rx_frames, flooded = from1.flooded - from0.flooded;
    r.detail += fmt::format(
        "; switch {} meanwhile: {}'s port sent {} frame{} into it, {} flooded ({} unicast), {}'s port "
        "was handed {}",
        env.lf().switches[shared->sw].name, c.from, sent, sent == 1 ? "" : "s", flooded, sent - flooded, c.to,
        to1.tx_frames - to0.tx_frames);
    const auto from_pcap = env.topology().vm_pcap(c.from, shared->nic_a);
    const auto to_pcap = env.topology().vm_pcap(c.to, shared->nic_b);
    if (from_pcap.empty() || to_pcap.empty()) return;  // no report folder: no captures
    env.pump().flush_captures();
    const ipv4_address target = *a;
    auto from_mac = mac_address::parse(env.fleet().nic_mac(c.from, shared->nic_a));
    auto to_mac = mac_address::parse(env.fleet().nic_mac(c.to, shared->nic_b));
    if (!from_mac || !to_mac) return;
    auto s = read_port_capture(from_pcap, t0, *from_mac, target);
    auto d = read_port_capture(to_pcap, t0, *to_mac, target);
    const auto from_port = fmt::format("{}-eth{}", c.from, shared->nic_a);
    const auto to_port = fmt::format("{}-eth{}", c.to, shared->nic_b);
    r.detail += "; " +
                (s ? describe_sender(from_port, *s, target) : fmt::format("{}'s capture: {}", from_port, s.error().message));
    r.detail += "; " + (d ? describe_receiver(to_port, *d, target) : fmt::format("{}'s capture: {}", to_port, d.error().message));
}

template <>
inline void run_check_kind<check_kind::tcp>(check_env& env, const check_config& c, check_result& r) {
    auto a = env.target(c, r);
    if (!a) return;
    if (c.listen) {
        // The question is the VM's inbound policy: something listens on the port, so a
        // connection that fails was stopped on the way (the guest's firewall), not refused
        // by a closed port.
        if (!env.is_vm(c.to)) {
            r.observed = "error";
            r.detail = fmt::format("listen = true needs a VM as the target, not {}", c.to);
            return;
        }
        auto l = env.run_from(c.to, listen_command(*c.port), std::chrono::seconds(8));
        if (!l.ran) return detail::not_run(l, r);
        if (l.status != 0) {
            r.observed = "error";
            r.detail = fmt::format("cannot start a listener on {}:{}: exit {}: {}", c.to, *c.port, l.status, l.out);
            return;
        }
        auto plain = c;
        plain.listen = false;
        run_check_kind<check_kind::tcp>(env, plain, r);
        (void)env.run_from(c.to, unlisten_command(*c.port), std::chrono::seconds(4));
        if (r.observed != "error")
            r.detail += fmt::format("; {} had a socket listening on port {} (/proc/net/tcp)", c.to, *c.port);
        return;
    }
    if (env.is_vm(c.from)) {
        auto o = env.run_from(c.from, tcp_command(*a, *c.port), std::chrono::seconds(6));
        if (!o.ran) return detail::not_run(o, r);
        detail::take(nc_verdict(o.status, o.out, *a, *c.port), r);
        return;
    }
    auto ns = env.netns_of(c.from);
    auto port = *c.port;
    auto addr = *a;
    constexpr int wait_ms = 3000;
    auto res = io::in_netns(ns, [&]() -> result<verdict> {
        int s = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s < 0) return fail(layer::io, errc::io, "tcp.socket");
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(addr.to_u32());
        int err = ::connect(s, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 ? 0 : errno;
        bool timed_out = false;
        if (err == EINPROGRESS) {
            pollfd p{s, POLLOUT, 0};
            if (::poll(&p, 1, wait_ms) == 1) {
                socklen_t len = sizeof err;
                if (::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
            } else {
                timed_out = true;
            }
        }
        ::close(s);
        return connect_verdict(err, timed_out, addr, port, wait_ms);
    });
    if (!res) {
        r.observed = "error";
        r.detail = fmt::format("cannot connect from {}: {}", c.from, res.error().message());
        return;
    }
    detail::take(*res, r);
}

template <>
inline void run_check_kind<check_kind::dns>(check_env& env, const check_config& c, check_result& r) {
    std::string cmd = dns_command(c.name);
    if (!env.is_vm(c.from)) {
        // A namespace has no resolver of its own: ask `to` or the network's gateway.
        std::optional<ipv4_address> server;
        if (!c.to.empty()) server = env.resolve(c.to);
        else if (const auto* n = env.lf().find_network(c.from)) server = n->gateway;
        else if (c.from == "host" && env.lf().host.network) server = env.lf().find_network(*env.lf().host.network)->gateway;
        else {
            for (const auto& net : env.lf().networks)
                for (const auto& p : net.peers)
                    if (p.name == c.from) server = net.gateway;
        }
        if (!server) {
            r.observed = "error";
            r.detail = "no DNS server to ask (set to = \"<server>\")";
            return;
        }
        cmd = fmt::format("busybox nslookup {} {}", c.name, *server);
    }
    auto o = env.run_from(c.from, cmd, std::chrono::seconds(10));
    if (!o.ran) return detail::not_run(o, r);
    // busybox nslookup also asks for AAAA, which the lab's DNS does not answer: its
    // exit status says nothing about the A answer, the answer section does.
    const auto addrs = nslookup_addresses(o.out);
    auto v = nslookup_verdict(o.status, o.out, c.name, addrs);
    // A name the lab declares must resolve to the declared address: a wrong answer is
    // a failure of the resolver path, not a success.
    std::optional<ipv4_address> declared;
    for (const auto& n : env.lf().networks)
        if (auto it = n.dns.find(c.name); it != n.dns.end()) declared = it->second;
    if (v.observed == observation::ok && declared && std::find(addrs.begin(), addrs.end(), *declared) == addrs.end())
        v = observed_fail(fmt::format("{} (the lab's DNS has {} = {})", v.detail, c.name, *declared));
    detail::take(v, r);
}

template <>
inline void run_check_kind<check_kind::dhcp>(check_env& env, const check_config& c, check_result& r) {
    if (!env.is_vm(c.from)) {
        auto o = env.ns_exec(c.from, {"ip", "-o", "-4", "addr", "show", "scope", "global"});
        if (!o || o->status != 0) {
            r.observed = "error";
            r.detail = o ? fmt::format("ip addr show exit {}: {}", o->status, detail::first_line(o->out + o->err))
                         : o.error().message();
            return;
        }
        auto p = first_inet(o->out);
        r.observed = p ? "ok" : "fail";
        r.detail = p ? fmt::format("{}", *p) : fmt::format("{} has no global IPv4 address", c.from);
        return;
    }
    const auto* vm = env.lf().find_vm(c.from);
    auto nic = check_nic(*vm, c, r);
    if (!nic) return;
    const std::size_t k = *nic;
    r.target = fmt::format("eth{}", k);
    env.wait_for_leases(c.from);
    auto o = env.run_from(c.from, fmt::format("cat /run/vnet/lease.eth{} 2>/dev/null; ip -o -4 addr show dev eth{}", k, k),
                          std::chrono::seconds(5));
    if (!o.ran) return detail::not_run(o, r);
    if (auto why = detail::could_not_run("ip addr show", o.status, o.out)) {
        r.observed = "error";
        r.detail = *why;
        return;
    }
    auto p = first_inet(o.out);
    detail::take(dhcp_lease_verdict(k, p, vm->nics[k].ip == ip_mode::dhcp, dhcp_range_for(env, vm->nics[k])), r);
}

/// link_local: whether `from` holds an IPv4 link-local address (169.254.0.0/16, RFC 3927;
/// Windows calls it APIPA). A VM: NIC `to` (default eth0), once its DHCP client settled
/// (a lease or its link-local address); the host, a network or a peer: any interface of
/// its namespace. "ok" names the address; "fail" lists what it holds instead, which
/// `ip addr` was run to show (so "none" is seen, not assumed).
template <>
inline void run_check_kind<check_kind::link_local>(check_env& env, const check_config& c, check_result& r) {
    std::string listing;
    if (const auto* vm = env.lf().find_vm(c.from)) {
        auto k = check_nic(*vm, c, r);
        if (!k) return;
        r.target = fmt::format("eth{}", *k);
        env.wait_for_leases(c.from);
        auto o = env.run_from(c.from, fmt::format("ip -o -4 addr show dev eth{}", *k), std::chrono::seconds(5));
        if (!o.ran) return detail::not_run(o, r);
        if (auto why = detail::could_not_run("ip addr show", o.status, o.out)) {
            r.observed = "error";
            r.detail = *why;
            return;
        }
        listing = o.out;
    } else {
        auto o = env.ns_exec(c.from, {"ip", "-o", "-4", "addr", "show"});
        if (!o || o->status != 0) {
            r.observed = "error";
            r.detail = o ? fmt::format("ip addr show exit {}: {}", o->status, detail::first_line(o->out + o->err))
                         : o.error().message();
            return;
        }
        listing = o->out;
    }
    detail::take(link_local_verdict(all_inet(listing)), r);
}

template <>
inline void run_check_kind<check_kind::route>(check_env& env, const check_config& c, check_result& r) {
    auto a = c.to.empty() ? std::optional<ipv4_address>(internet_server) : env.target(c, r);
    if (!a) return;
    r.target = fmt::format("{}", *a);
    auto o = env.run_from(c.from, fmt::format("ip route get {} && echo '--' && ip route show default", *a),
                          std::chrono::seconds(5));
    if (!o.ran) return detail::not_run(o, r);
    auto first = o.out.substr(0, o.out.find('\n'));
    auto dev = route_field(first, "dev");
    auto via = route_field(first, "via");
    std::string defaults;
    auto sep = o.out.find("--\n");
    if (sep != std::string::npos) {
        std::istringstream in(o.out.substr(sep + 3));
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("default", 0) != 0) continue;
            auto gw = route_field(" " + line, "via");
            auto d = route_field(" " + line, "dev");
            auto m = route_field(" " + line + " ", "metric");
            defaults += fmt::format("{}{} via {} metric {}", defaults.empty() ? "" : "; ", d, gw, m.empty() ? "0" : m);
        }
    }
    // name = "eth1": the route must leave through that interface.
    detail::take(route_verdict(o.status, first, dev, via, defaults, c.name), r);
}

/// flooding: `from` sends to `to` (two VMs on one switch) with the switch's MAC table
/// emptied, then again once the switch has learned both; each time the switch's own
/// port counters say whether the frame reached the switch's other ports (flooded) or
/// only the destination's. Frames the other ports flooded meanwhile (the guests' own
/// broadcasts and multicasts) are taken off what a third port received. Observed:
/// "first frame flooded|to one port, later frames flooded|to one port".
template <>
inline void run_check_kind<check_kind::flooding>(check_env& env, const check_config& c, check_result& r) {
    const auto* dst = env.lf().find_vm(c.to);
    auto shared = find_shared_switch(env, c.from, c.to);
    if (!shared || !dst) {
        r.detail = fmt::format("{} and {} share no switch", c.from, c.to);
        return;
    }
    const std::size_t swi = shared->sw;
    const sw::port_index in = shared->a, out = shared->b;
    std::vector<std::pair<sw::port_index, std::string>> ports, others;  // the switch's ports; all but from and to
    std::string in_name, out_name;
    for (const auto& p : env.pump().ports()) {
        if (p.sw != swi) continue;
        ports.emplace_back(p.id, p.name);
        if (p.id == in) in_name = p.name;
        else if (p.id == out) out_name = p.name;
        else others.emplace_back(p.id, p.name);
    }
    if (others.empty()) {
        r.detail = fmt::format("switch {} has no third port to see a flood", env.lf().switches[swi].name);
        return;
    }
    auto a = env.target(c, r);
    if (!a) return;
    // The sender knows the destination's MAC (the frames are unicast, not ARP broadcasts).
    auto warm = env.run_from(c.from, fmt::format("ping -c 2 -i 0.3 -W 2 {}", *a), std::chrono::seconds(6));
    if (!warm.ran) return detail::not_run(warm, r);
    if (warm.status != 0) {  // no unicast exchange to count: nothing observed about flooding
        r.observed = "error";
        r.detail = fmt::format("cannot make {} learn {}: {}", c.from, c.to, ping_verdict(warm.status, warm.out, *a).detail);
        return;
    }
    // Pinned, so that no ARP broadcast of the sender (its entry going stale on a busy
    // machine) is mistaken for a flood of the echo request.
    std::string pinned;
    for (std::size_t j = 0; j < dst->nics.size(); ++j)
        if (dst->nics[j].switch_name == env.lf().switches[swi].name) {
            auto mac = env.fleet().nic_mac(c.to, j);
            auto pin = env.run_from(c.from, fmt::format("arp -s {} {}", *a, mac), std::chrono::seconds(4));
            if (pin.ran && pin.status == 0) pinned = mac;
            break;
        }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto snapshot = [&] {
        std::map<sw::port_index, sw::port_counters> m;
        for (const auto& p : ports) m[p.first] = env.pump().counters(swi, p.first);
        return m;
    };
    auto one_frame = [&]() {
        flood_window w;
        auto before = snapshot();
        auto o = env.run_from(c.from, fmt::format("ping -c 1 -W 2 {}", *a), std::chrono::seconds(4));
        w.replied = o.ran && o.status == 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the pump has moved every frame
        auto after = snapshot();
        w.src_flooded = after[in].flooded_unknown - before[in].flooded_unknown;
        w.src_group = (after[in].flooded - before[in].flooded) - w.src_flooded;
        w.dst_tx = after[out].tx_frames - before[out].tx_frames;
        w.dst_rx = after[out].rx_frames - before[out].rx_frames;
        for (const auto& [id, name] : others) {
            w.others_tx.push_back(after[id].tx_frames - before[id].tx_frames);
            std::uint64_t own = 0;
            for (const auto& p : ports)
                if (p.first != in && p.first != id) own += after[p.first].flooded - before[p.first].flooded;
            w.others_own.push_back(own);
        }
        return w;
    };
    env.pump().clear_mac_table(swi);  // every destination is unknown again (as after aging)
    auto first = one_frame();
    // A window where the destination spoke first and nothing was flooded says nothing:
    // empty the table and measure again (a flood is never caused by such a frame).
    int remeasured = 0;
    for (; remeasured < 3 && flood_word(first) != "flooded" && destination_spoke_first(first); ++remeasured) {
        env.pump().clear_mac_table(swi);
        first = one_frame();
    }
    if (flood_word(first) != "flooded" && destination_spoke_first(first)) {
        r.observed = "error";
        r.detail = fmt::format(
            "{} sent its own frames in each of {} windows with an empty table: the switch learned it "
            "before the frame from {} could show a flood",
            c.to, remeasured + 1, c.from);
        return;
    }
    auto later = one_frame();
    r.observed = fmt::format("first frame {}, later frames {}", flood_word(first), flood_word(later));
    auto counts = [&](const flood_window& w) {
        std::string o;
        for (std::size_t i = 0; i < others.size(); ++i)
            o += fmt::format(", {} tx +{} ({} flooded by other ports)", others[i].second, w.others_tx[i], w.others_own[i]);
        return fmt::format("{} flooded +{} unknown unicast +{} broadcast/multicast, {} tx +{}{}{}", in_name, w.src_flooded,
                           w.src_group, out_name, w.dst_tx, o, w.replied ? "" : " (no reply)");
    };
    r.detail = fmt::format("switch {} port counters; unknown destination: {}; learned: {}{}{}", env.lf().switches[swi].name,
                           counts(first), counts(later), pinned.empty() ? "; the sender's ARP entry could not be pinned" : "",
                           remeasured ? fmt::format("; the unknown-destination window was measured again {} time{} ({} sent "
                                                    "its own frames first)",
                                                    remeasured, remeasured == 1 ? "" : "s", c.to)
                                      : std::string());
    if (!pinned.empty()) (void)env.run_from(c.from, fmt::format("arp -d {}", *a), std::chrono::seconds(4));
}

/// reboot: the guest reboots itself (`reboot -f`); QEMU runs with -no-reboot, so the VM
/// is started again with its stored configuration (NICs with their IP settings as deployed,
/// lab/vm_store.hpp, and the MACs the host generated at creation, mac_store.hpp, both read
/// back from the host's state); then the emulated host restarts (every VM stopped and
/// started again from that state). Hyper-V keeps a VM's MAC across both ([NW] "Static MAC
/// Address"); EFLOW keeps a static IP across both ([NW] "IP address allocations").
/// Observed (`read`): the MAC, or the IPv4 address/prefix ("none" without one), of NIC
/// `to` when it was the same before, after the reboot and after the host restart, else
/// "changed: A -> B -> C".
template <>
inline void run_check_kind<check_kind::reboot>(check_env& env, const check_config& c, check_result& r) {
    auto k = nic_index(c.to);
    auto nics = env.fleet().nic_count(c.from);
    if (!k || !nics || *k >= *nics) {
        r.detail = fmt::format("to = \"{}\": name a NIC of {} as eth0, eth1, ...", c.to, c.from);
        return;
    }
    r.target = fmt::format("eth{}", *k);
    const auto what = c.read == reboot_reads::mac ? "MAC" : "IPv4 address";
    auto read = [&] {
        return c.read == reboot_reads::mac ? env.fleet().guest_mac(c.from, *k) : env.fleet().guest_address(c.from, *k);
    };
    auto before = read();
    if (before.empty()) {
        r.detail = fmt::format("cannot read the {} of eth{} before the reboot", what, *k);
        return;
    }
    auto t0 = std::chrono::steady_clock::now();
    env.note(fmt::format("{}: rebooting", c.from));
    auto by_guest = env.fleet().reboot(c.from);
    if (!by_guest) {
        r.detail = by_guest.error();
        return;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    env.note(fmt::format("{}: agent ready again after {:.2f} s; restarting the host", c.from, secs));
    auto after = read();
    if (auto h = env.fleet().restart_host(); !h) {
        r.detail = fmt::format("host restart: {}", h.error());
        return;
    }
    auto after_host = read();
    auto shown = [](const std::string& m) { return m.empty() ? std::string("unreadable") : m; };
    r.observed = after == before && after_host == before
                     ? after
                     : fmt::format("changed: {} -> {} -> {}", before, shown(after), shown(after_host));
    r.detail = fmt::format(
        "eth{} {}: {} before, {} after the reboot ({}, agent back after {:.1f} s), {} after a host restart "
        "(every VM started again from the host's stored state)",
        *k, what, before, shown(after), *by_guest ? "the guest ran reboot -f" : "the guest did not stop: QEMU stopped", secs,
        shown(after_host));
}

/// lease_loss: VM `from`'s DHCP lease on eth0 is lost while the VM is off, and another
/// device, peer `to`, is given the address meanwhile ([NW] "IP address allocations": a
/// DHCP address "may change"). The VM is turned off at once (QEMU stopped, no
/// DHCPRELEASE), the check waits one lease time of the peer's network (network.dhcp.
/// lease_time, at most 120 s) past the stop, then runs busybox udhcpc in the peer's
/// namespace asking for the VM's address (option 50) and keeping the lease it gets
/// (renewing, the address on its interface), then starts the VM again and reads eth0.
/// Observed: "changed: A -> B" or "kept A". Which address the peer got is in the detail.
template <>
inline void run_check_kind<check_kind::lease_loss>(check_env& env, const check_config& c, check_result& r) {
    r.target = c.to;
    const network_config* net = nullptr;
    for (const auto& n : env.lf().networks)
        for (const auto& p : n.peers)
            if (p.name == c.to) net = &n;
    if (!net || !net->dhcp) {
        r.detail = net ? fmt::format("network {} of peer {} has no DHCP server", net->name, c.to)
                       : fmt::format("to = \"{}\": name a peer of a network", c.to);
        return;
    }
    const auto lease = net->dhcp->lease_time;
    if (lease > std::chrono::seconds(120)) {
        r.detail = fmt::format(
            "network {}: dhcp.lease_time is {} s; a lease_loss check waits one lease out, so it "
            "needs at most 120 s",
            net->name, lease.count());
        return;
    }
    const auto before = env.fleet().guest_address(c.from, 0);
    auto before_addr = ipv4_prefix::parse(before);
    if (!before_addr) {
        r.detail = fmt::format("eth0 of {} has no address before the lease is lost ({})", c.from,
                               before.empty() ? "unreadable" : before);
        return;
    }
    // The peer's DHCP client keeps the address it gets: a script that puts it on the
    // peer's interface (so renewals go out from it), registered for the lab's clean-up.
    const std::string dir = env.topology().names().state_dir();
    const std::string script = dir + "/lease-loss.sh", pidfile = dir + "/lease-loss.pid",
                      log = env.topology().log_dir() + "/lease-loss-" + c.to + ".log";
    std::ofstream(script) << "#!/bin/sh\n"
                             "case \"$1\" in bound|renew) ip addr replace \"$ip/$mask\" dev \"$interface\" ;; esac\n"
                             "exit 0\n";
    ::chmod(script.c_str(), 0755);
    // The peer's one interface (its namespace's /sys is the host's: ask ip).
    static constexpr std::string_view peer_ifname =
        "ip -o link show | sed -n 's/^[0-9]*: \\([^:@]*\\).*/\\1/p' | grep -vx lo | head -n 1";
    struct peer_client {
        check_env& env;
        std::string peer, pidfile;
        std::optional<ipv4_prefix> got;
        ~peer_client() {
            std::string cmd = fmt::format("[ -s {0} ] && kill $(cat {0}); rm -f {0}", pidfile);
            if (got) cmd += fmt::format("; ip addr del {} dev \"$({})\"", *got, peer_ifname);
            (void)env.run_from(peer, cmd, std::chrono::seconds(5));
        }
    } client{env, c.to, pidfile, std::nullopt};

    auto t0 = std::chrono::steady_clock::now();
    env.note(fmt::format("{}: turned off (its lease of {} runs out in at most {} s)", c.from, before, lease.count()));
    if (auto s = env.fleet().stop_vm(c.from); !s) {
        r.detail = s.error();
        return;
    }
    std::this_thread::sleep_for(lease + std::chrono::seconds(1));
    auto o = env.run_from(c.to,
                          fmt::format("IF=$({}); setsid -f timeout 600 busybox udhcpc -f "
                                      "-i \"$IF\" -r {} -s {} -p {} -T 1 -t 5 -A 1 >{} 2>&1 </dev/null",
                                      peer_ifname, before_addr->address(), script, pidfile, log),
                          std::chrono::seconds(5));
    std::string peer_said;
    if (o.ran && o.status == 0) {
        for (int i = 0; i < 40 && !client.got; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
            std::ifstream in(log);
            std::string line;
            while (std::getline(in, line))
                if (auto at = line.find("lease of "); at != std::string::npos) {
                    peer_said = line;
                    auto a = ipv4_address::parse(std::string_view(line).substr(at + 9, line.find(' ', at + 9) - at - 9));
                    if (a) client.got = ipv4_prefix(*a, before_addr->length());
                }
        }
        if (const pid_t pid = std::atoi(detail::slurp(pidfile).c_str()); pid > 1)
            detail::append_line(dir + "/pids", fmt::format("{} {}", pid, detail::process_start_time(pid)));
    }
    const std::string peer_part = !o.ran || o.status != 0 ? fmt::format("{}'s DHCP client did not start ({})", c.to,
                                                                        o.ran ? detail::first_line(o.out) : o.why)
                                  : client.got ? fmt::format("{}'s DHCP client asked for {} and was given {} (\"{}\")", c.to,
                                                             before_addr->address(), client.got->address(), peer_said)
                                               : fmt::format("{}'s DHCP client asked for {} and got no lease in 10 s", c.to,
                                                             before_addr->address());
    if (auto s = env.fleet().start_vm(c.from); !s) {
        r.detail = fmt::format("{}; {} did not start again: {}", peer_part, c.from, s.error());
        return;
    }
    // Without a lease for the peer the address was not taken: the situation the check is
    // about did not arise (an error, not an observation).
    if (!client.got) {
        r.detail = peer_part;
        return;
    }
    env.fleet().wait_for_leases(c.from);
    const double off = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto after = env.fleet().guest_address(c.from, 0);
    if (after.empty()) {
        r.detail = fmt::format("{}; cannot read eth0 of {} after it started again", peer_part, c.from);
        return;
    }
    r.observed = after == before ? fmt::format("kept {}", before) : fmt::format("changed: {} -> {}", before, after);
    r.detail = fmt::format(
        "eth0 of {} held {}; the VM was turned off (no DHCPRELEASE) and kept off past its lease time ({} s); {}; {} "
        "started again ({:.1f} s after it was turned off) and eth0 holds {}",
        c.from, before, lease.count(), peer_part, c.from, off, after);
}

/// metrics: the metric of each default route of VM `from`, read from its routing table at
/// this boot and after each of two reboots (the EFLOW VM draws them at every boot). Waits
/// for one default route per NIC with a gateway or DHCP. Observed: metrics_verdict.
template <>
inline void run_check_kind<check_kind::metrics>(check_env& env, const check_config& c, check_result& r) {
    std::size_t routed = 0;
    if (const auto* vm = env.lf().find_vm(c.from))
        for (const auto& n : vm->nics) routed += n.ip == ip_mode::dhcp || n.gateway.has_value();
    const auto command = fmt::format(
        "i=0; while [ $i -lt 40 ] && [ $(ip -4 route show default | grep -c '^default') -lt {} ]; do i=$((i + 1)); sleep 0.25; "
        "done; ip -4 route show default",
        routed);
    std::vector<std::string> boots;
    for (int b = 0; b < metrics_boots; ++b) {
        if (b > 0) {
            env.note(fmt::format("{}: rebooting ({} of {})", c.from, b, metrics_boots - 1));
            if (auto by_guest = env.fleet().reboot(c.from); !by_guest) {
                r.observed = "error";
                r.detail = fmt::format("reboot {}: {}", b, by_guest.error());
                return;
            }
        }
        auto o = env.run_from(c.from, command, std::chrono::seconds(15));
        if (!o.ran) return detail::not_run(o, r);
        auto m = default_route_metrics(o.out);
        if (o.status != 0 || m.empty()) {
            r.observed = "error";
            r.detail = fmt::format("boot {}: no default route to read (exit {}): {}", b + 1, o.status, o.out);
            return;
        }
        boots.push_back(std::move(m));
    }
    r.observed = metrics_verdict(boots);
    r.detail = "default route metrics in the guest:";
    for (std::size_t b = 0; b < boots.size(); ++b) r.detail += fmt::format("{} boot {} {}", b ? ";" : "", b + 1, boots[b]);
}

/// deploy: run by `vnet conformance` (the EFLOW model), never by the lab runtime.
template <>
inline void run_check_kind<check_kind::deploy>(check_env&, const check_config&, check_result& r) {
    r.observed = "error";
    r.detail = "deploy checks are run by vnet conformance, not by the lab runtime";
}

/// resolvers: the DNS servers VM `from` uses, read in the guest (/etc/resolv.conf, or
/// `resolvectl dns` where that file holds only systemd-resolved's stub 127.0.0.53).
/// Observed: the servers in order, ", " between them, or "none" when the guest lists none.
template <>
inline void run_check_kind<check_kind::resolvers>(check_env& env, const check_config& c, check_result& r) {
    auto o = env.run_from(c.from, std::string(resolvers_command), std::chrono::seconds(5));
    if (!o.ran) return detail::not_run(o, r);
    if (o.status != 0) {
        r.detail = fmt::format("reading the resolver configuration exited {}: {}", o.status, detail::first_line(o.out));
        return;
    }
    const auto servers = guest_resolvers(o.out);
    r.observed = servers.empty() ? "none" : fmt::format("{}", fmt::join(servers, ", "));
    r.detail = fmt::format("{} in the guest", detail::contains(o.out, "Link ") || detail::contains(o.out, "Global:")
                                                  ? "resolvectl dns"
                                                  : "/etc/resolv.conf");
}

/// Carries out check c with the function of its kind.
inline void run_check(check_env& env, const check_config& c, check_result& r) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (void)((c.kind == check_kinds[I].kind && (run_check_kind<check_kinds[I].kind>(env, c, r), true)) || ...);
    }
    (std::make_index_sequence<std::size(check_kinds)>{});
}

}  // namespace vnet::lab
