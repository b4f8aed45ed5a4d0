// libFuzzer target: frames of any shape through a switch whose ports use every VLAN mode,
// guard, ACL, storm limit and mirroring. Input: one byte per frame choosing the input port,
// a 16-bit big-endian length, then the frame; repeated. Invariants: no crash or
// out-of-bounds read (ASan / UBSan), the table never grows past its limit, every delivered
// frame still has an Ethernet header.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <vnet/core/bytes.hpp>
#include <vnet/switch/vswitch.hpp>

namespace {

using namespace vnet;
using namespace vnet::sw;

struct checking_port {
    std::size_t frames = 0;
    void receive(std::span<const bytes_view> batch) {
        for (auto f : batch) {
            if (f.size() < 14) __builtin_trap();
            frames += 1;
        }
    }
};

using fuzz_switch = vswitch<checking_port, manual_clock>;

fuzz_switch make_switch() {
    fuzz_switch sw(switch_spec{"fuzz", switch_kind::external, "eth0", true}, manual_clock{},
                   mac_table_config{64, std::chrono::seconds(300), table_full_policy::evict_fair});
    auto add = [&](port_config c) { (void)sw.add_port(std::move(c), checking_port{}); };
    auto vm = [](int n, vlan_setting v) {
        auto c = port_config::vm("vm", mac_address::from_u64(0x00155d000000ULL + static_cast<std::uint64_t>(n)));
        c.vlan = v;
        return c;
    };
    add(port_config::uplink("eth0"));
    auto guarded = vm(1, vlan_setting::untagged());
    guarded.dhcp_guard = guarded.router_guard = true;
    guarded.storm_limit = 5;
    guarded.acls.add(acl_rule{acl_direction::both,
                              acl_action::deny,
                              ip_match::any(),
                              ip_match::of(ipv4_prefix(ipv4_address(10, 0, 0, 0), 8)),
                              ip_proto::tcp,
                              port_range{1, 1024},
                              {},
                              1});
    guarded.acls.add(acl_rule{acl_direction::inbound,
                              acl_action::deny,
                              ip_match::of(ipv6_address::all_nodes(), 8),
                              ip_match::any(),
                              std::nullopt,
                              {},
                              {},
                              0});
    add(guarded);
    auto spoofer = vm(2, vlan_setting::access(10));
    spoofer.mac_spoofing = true;
    spoofer.mirror = mirror_mode::source;
    add(spoofer);
    add(vm(3, vlan_setting::trunk({10, 20, 100, 101, 102}, 20)));
    add(vm(4, vlan_setting::isolated(100, 101)));
    add(vm(5, vlan_setting::community(100, 102)));
    add(vm(6, vlan_setting::promiscuous(100)));
    auto monitor = vm(7, vlan_setting::access(20));
    monitor.mirror = mirror_mode::destination;
    add(monitor);
    add(port_config::host("vEthernet (fuzz)", mac_address::from_u64(0x00155d0000ffULL)));
    return sw;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static fuzz_switch sw = make_switch();
    bytes_view in = as_bytes_view({data, size});
    std::vector<bytes_view> batch;
    port_index port = 0;
    std::size_t off = 0;
    while (in_bounds(in.size(), off, 3)) {
        const port_index p = load_u8(in, off) % static_cast<port_index>(sw.ports().size());
        std::size_t len = load_be16(in, off + 1);
        off += 3;
        if (len > in.size() - off) len = in.size() - off;
        if (p != port && !batch.empty()) {
            sw.send(port, batch);
            batch.clear();
        }
        port = p;
        batch.push_back(in.subspan(off, len));
        off += len;
        if (len != 0 && load_u8(in, off - 1) == 0xee) sw.clock().advance(std::chrono::milliseconds(700));
    }
    if (!batch.empty()) sw.send(port, batch);
    if (sw.table().size() > sw.table().capacity()) __builtin_trap();
    return 0;
}
