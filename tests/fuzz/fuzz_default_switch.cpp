// libFuzzer target: the Default Switch bundle (include/vnet/services/default_switch.hpp)
// and its gateway responder (gateway.hpp) fed arbitrary frames and packets. The first
// input octet picks the path (bits 0-1: 0 a frame into the host vNIC port, 1 a frame a VM
// sends into the switch, 2 an IPv4 packet from the uplink, 3 a message from the upstream
// DNS server) and advances the injected clock by its upper six bits in seconds; the rest is
// the input. An input of the single octet 0xff moves the bundle to its other range. One
// bundle lives across inputs, on 172.31.96.0/20 (or 172.30.0.0/20), with two VMs.
// Checks: no crash or out-of-bounds access (ASan/UBSan); every frame the services send is
// an Ethernet frame from the host vNIC MAC whose IPv4 header checksum verifies; every
// uplink packet comes from the uplink address with a verifying header checksum; the DHCP
// lease table stays consistent; every registered name points into the current range; the
// queues stay within their bounds.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vnet/services/default_switch.hpp>
#include <vnet/switch/clock.hpp>
#include <vnet/switch/port.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/ipv4.hpp>

namespace {

using namespace vnet;
using ds_type = svc::default_switch<sw::memory_port, sw::manual_clock>;

const ipv4_prefix range_a(ipv4_address(172, 31, 96, 0), 20);
const ipv4_prefix range_b(ipv4_address(172, 30, 0, 0), 20);
const ipv4_address uplink(192, 168, 0, 10);
const svc::dns_endpoint upstream{ipv4_address(192, 168, 0, 1), 53};
const mac_address vm1(0x00, 0x15, 0x5d, 0x00, 0x00, 0x10);
const mac_address vm2(0x00, 0x15, 0x5d, 0x00, 0x00, 0x11);

struct bench {
    ds_type ds;
    sw::port_index p1 = 0, p2 = 0;
};

bench& the_bundle() {
    static bench b = [] {
        svc::default_switch_config c;
        c.host_networks = {ipv4_prefix(ipv4_address(192, 168, 0, 0), 24)};
        c.uplink_address = uplink;
        c.dns_upstreams = {upstream};
        c.range = range_a;
        c.lease_time = std::chrono::seconds(300);
        c.max_nat_flows = 256;
        c.uplink_queue = 8;
        c.dns_queue = 8;
        c.service_queue = 16;
        auto fixed = [] { return std::uint64_t{0}; };
        auto made = ds_type::make(c, fixed, sw::manual_clock(std::chrono::seconds(1000)));
        if (!made) __builtin_trap();
        bench x{std::move(*made)};
        auto a = x.ds.add_vm("vm1", vm1, sw::memory_port{});
        auto b2 = x.ds.add_vm("vm2", vm2, sw::memory_port{});
        if (!a || !b2) __builtin_trap();
        x.p1 = *a;
        x.p2 = *b2;
        return x;
    }();
    return b;
}

void check_port(const ds_type& ds, const sw::memory_port& p) {
    for (std::size_t i = 0; i < p.size(); ++i) {
        auto e = wire::ethernet_view::parse(p.frame(i));
        if (!e) __builtin_trap();
        if (e->src() != ds.host_mac()) continue;  // another VM's frame, switched as sent
        if (e->ethertype() == wire::ethertype::ipv4) {
            auto ip = wire::ipv4_view::parse(e->payload());
            if (!ip || !ip->checksum_ok()) __builtin_trap();
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    bench& b = the_bundle();
    ds_type& ds = b.ds;
    if (size == 1 && data[0] == 0xff) {
        if (!ds.move_to(ds.range() == range_a ? range_b : range_a)) __builtin_trap();
        return 0;
    }
    const std::uint8_t mode = data[0] & 0x3;
    ds.clock().advance(std::chrono::seconds(data[0] >> 2));
    const bytes_view in(reinterpret_cast<const std::byte*>(data + 1), size - 1);
    switch (mode) {
        case 0: ds.service_receive(in); break;
        case 1: ds.send(b.p1, in); break;
        case 2: ds.on_uplink(in); break;
        default: ds.on_dns_answer(upstream, in); break;
    }
    ds.poll();

    check_port(ds, ds.port(b.p1));
    check_port(ds, ds.port(b.p2));
    for (const auto& pkt : ds.uplink()) {
        auto ip = wire::ipv4_view::parse(pkt);
        if (!ip || !ip->checksum_ok() || ip->src() != uplink) __builtin_trap();
    }
    if (ds.uplink().size() > ds.config().uplink_queue || ds.dns_upstream().size() > ds.config().dns_queue) __builtin_trap();
    if (!ds.dhcp().leases().consistent()) __builtin_trap();
    for (const auto& n : ds.names())
        if (!ds.range().contains(n.address)) __builtin_trap();
    ds.port(b.p1).clear();
    ds.port(b.p2).clear();
    ds.clear_uplink();
    ds.clear_dns_upstream();
    return 0;
}
