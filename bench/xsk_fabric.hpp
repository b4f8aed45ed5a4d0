// bench/xsk_fabric.hpp - experiment: the vnet switch on AF_XDP sockets (bench/xsk_fabric.cpp),
// the vnet_switch_xdp rows of bench_io_switch. A separate translation unit because
// <linux/bpf.h> (libxdp) and <pcap/bpf.h> (vnet's pcap writer) both define struct bpf_insn.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <vnet/switch/kinds.hpp>
#include <vnet/switch/port.hpp>

namespace vnet::bench_xsk {

struct xsk_counters {
    std::uint64_t rx = 0, tx = 0, tx_no_buffer = 0, kicks = 0, kick_errors = 0;
};

/// Two (or more) AF_XDP ports joined by a vswitch, forwarded by one thread.
class xsk_switch {
public:
    virtual ~xsk_switch() = default;
    /// Opens an xsk socket on `ifname` in namespace `ns` as a port; the error says what failed.
    virtual std::optional<std::string> add(const std::string& ns, const std::string& ifname, sw::port_config cfg) = 0;
    virtual void start() = 0;
    virtual void stop() = 0;
    virtual xsk_counters totals() const = 0;
    /// XDP_STATISTICS: rx_dropped + rx_ring_full + rx_fill_ring_empty_descs.
    virtual std::uint64_t kernel_drops() const = 0;
};

std::unique_ptr<xsk_switch> make_xsk_switch(sw::switch_spec spec);

}  // namespace vnet::bench_xsk
