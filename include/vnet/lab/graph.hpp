// vnet/lab/graph.hpp - a lab's topology as Graphviz dot: the host, the networks and their
// peers, the switches with their uplinks and host vNICs, the VMs with one edge per NIC
// (its address or DHCP, VLAN, metric, NIC model). `vnet lab graph` prints it; the HTML
// reports draw it with `dot -Tsvg`.
#pragma once

#include <cstddef>
#include <string>

#include <fmt/format.h>

#include <vnet/lab/lab_file.hpp>

namespace vnet::lab {

namespace detail {
/// A dot identifier: double-quoted with quotes and backslashes escaped.
inline std::string dot_id(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}
}  // namespace detail

/// The lab's topology as a Graphviz `graph`.
inline std::string to_dot(const lab_file& lf) {
    auto q = [](const std::string& s) { return detail::dot_id(s); };
    std::string d = fmt::format(
        "graph {} {{\n  label={};\n  node [fontname=\"sans\"];\n", q(lf.name),
        q(fmt::format("lab {} (host SKU {})", lf.name, lf.sku == lab::host_sku::server ? "server" : "client")));
    std::string host_label = "host";
    if (lf.host.address) host_label += fmt::format("\\n{}", *lf.host.address);
    else if (lf.host.dhcp) host_label += "\\ndhcp";
    d += fmt::format("  {} [shape=box3d, label={}];\n", q("host"), q(host_label));
    for (auto& n : lf.networks) {
        d += fmt::format("  {} [shape=ellipse, label={}];\n", q("net:" + n.name),
                         q(fmt::format("{}\\n{} gw {}{}", n.name, n.subnet, n.gateway, n.dhcp ? "\\nDHCP" : "")));
        for (auto& p : n.peers) {
            d += fmt::format("  {} [shape=component, label={}];\n", q("peer:" + p.name),
                             q(fmt::format("{}\\n{}", p.name, p.address)));
            d += fmt::format("  {} -- {};\n", q("peer:" + p.name), q("net:" + n.name));
        }
    }
    if (lf.host.network) d += fmt::format("  {} -- {} [label=\"physical adapter\"];\n", q("host"), q("net:" + *lf.host.network));
    for (auto& s : lf.switches) {
        d += fmt::format("  {} [shape=hexagon, label={}];\n", q("sw:" + s.name),
                         q(fmt::format("{}\\n{}{}", s.name, lab::to_string(s.kind), s.nat ? " + NAT" : "")));
        switch (s.kind) {
            case lab::switch_kind::external:
                d += fmt::format("  {} -- {} [label=\"uplink\"];\n", q("sw:" + s.name), q("net:" + *s.network));
                if (s.allow_management_os) d += fmt::format("  {} -- {} [label=\"host vNIC\"];\n", q("sw:" + s.name), q("host"));
                break;
            case lab::switch_kind::internal:
            case lab::switch_kind::default_:
                d += fmt::format("  {} -- {} [label={}];\n", q("sw:" + s.name), q("host"),
                                 q(s.host_address ? fmt::format("host vNIC {}", *s.host_address) : std::string("host vNIC")));
                break;
            case lab::switch_kind::private_: break;
        }
    }
    for (auto& vm : lf.vms) {
        d += fmt::format("  {} [shape=box, style=rounded, label={}];\n", q("vm:" + vm.name), q(vm.name));
        for (std::size_t i = 0; i < vm.nics.size(); ++i) {
            auto& nic = vm.nics[i];
            std::string label = fmt::format("eth{} ", i);
            label += nic.ip == lab::ip_mode::dhcp ? std::string("dhcp")
                     : nic.address                ? fmt::format("{}", *nic.address)
                                                  : std::string("static");
            if (nic.vlan) label += fmt::format(" vlan {}", *nic.vlan);
            if (nic.metric) label += fmt::format(" metric {}", *nic.metric);
            if (nic.model == lab::nic_model::netvsc) label += " netvsc";
            d += fmt::format("  {} -- {} [label={}];\n", q("vm:" + vm.name), q("sw:" + nic.switch_name), q(label));
        }
    }
    d += "}\n";
    return d;
}

}  // namespace vnet::lab
