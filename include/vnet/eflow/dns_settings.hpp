// vnet/eflow/dns_settings.hpp - the EFLOW guest's DNS servers per endpoint, and the
// resolv.conf files it ends up with.
//
// Sources:
// - Default servers, docs/eflow-facts.md "Validation messages ... [AD]" (Invoke-EadEflowDeploy):
//   -dnsServers given -> those; else an Internal switch -> "the host's gateway next hops
//   plus the host's DNS servers" (duplicates and empty entries removed, order kept).
// - DHCP: the servers of the lease ([NW] "DHCP": "the DHCP server provides all the
//   information"); the Default Switch: the ICS host address, whose DNS proxy answers
//   (docs/eflow-facts.md "Hyper-V port and switch features": "Default Switch: an Internal switch
//   with DHCP, ICS NAT and a DNS proxy to the host").
// - Static IP on an External switch without servers: none, and name resolution fails
//   ("static IP without DNS -> Temporary failure in name resolution", issues #221 #219 #246).
// - Set-EflowVmDnsServers (vendpointName, dnsServers) replaces an endpoint's servers
//   (docs/eflow-facts.md "Deployment cmdlets [FN]"; [NW] "DNS").
// - "By default, the EFLOW VM DNS configuration file contains the local stub 127.0.0.53 as
//   the only DNS server", forwarding to the per-interface servers that `resolvectl status`
//   lists ([NW] "DNS"): stub_resolv_conf() is that file, upstream_resolv_conf() lists
//   the per-link servers (systemd-resolved's /run/systemd/resolve/resolv.conf form, which
//   a guest without systemd-resolved uses directly).
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/eflow/command_line.hpp>
#include <vnet/eflow/deploy.hpp>

namespace vnet::eflow {

/// The local stub resolver of systemd-resolved ([NW] "DNS").
inline constexpr ipv4_address resolved_stub{127, 0, 0, 53};

/// An endpoint's DNS servers and where they came from.
struct link_dns {
    std::string endpoint;  // vendpointName
    std::string ifname;    // eth0, eth1, ...
    dns_origin origin = dns_origin::dhcp_lease;
    std::vector<ipv4_address> servers;
};

/// The default servers of an endpoint that was given none.
/// `lease_servers`: DHCP option 6 of the lease (empty before a lease);
/// `ics_address`: the Default Switch's host address (ICS gateway and DNS proxy).
inline std::pair<dns_origin, std::vector<ipv4_address>> default_dns(switch_type type, ip_mode mode, const host_state& host,
                                                                    const std::vector<ipv4_address>& lease_servers,
                                                                    std::optional<ipv4_address> ics_address) {
    std::vector<ipv4_address> out;
    auto add = [&](ipv4_address a) {
        if (!a.is_unspecified() && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    };
    switch (type) {
        case switch_type::internal: return {dns_origin::host_next_hops, host_dns_servers(host)};
        case switch_type::default_switch:
            if (ics_address) add(*ics_address);
            return {dns_origin::default_switch, out};
        case switch_type::external:
            if (mode == ip_mode::static_ip) return {dns_origin::none, out};
            for (auto a : lease_servers) add(a);
            return {dns_origin::dhcp_lease, out};
        case switch_type::private_: break;  // not EFLOW's: nothing gives it a server
    }
    return {dns_origin::none, out};
}

/// The VM's DNS configuration, one link per endpoint (primary first).
class dns_settings {
public:
    /// From the deployment plan: the primary endpoint's servers.
    explicit dns_settings(const deploy_plan& plan, std::string primary_endpoint = "eth0",
                          std::optional<ipv4_address> ics_address = std::nullopt) {
        link_dns l;
        l.endpoint = std::move(primary_endpoint);
        l.ifname = "eth0";
        l.origin = plan.dns;
        l.servers = plan.dns_servers;
        if (plan.dns == dns_origin::default_switch && ics_address) l.servers = {*ics_address};
        links_.push_back(std::move(l));
    }

    /// An endpoint added later, with its default servers.
    void add_link(std::string endpoint, std::string ifname, switch_type type, ip_mode mode, const host_state& host,
                  std::optional<ipv4_address> ics_address = std::nullopt) {
        auto [origin, servers] = default_dns(type, mode, host, {}, ics_address);
        links_.push_back({std::move(endpoint), std::move(ifname), origin, std::move(servers)});
    }

    /// A DHCP lease arrived on an endpoint: its servers are used where the lease is the
    /// origin; servers the user set, or the host's, are kept.
    bool apply_lease(std::string_view endpoint, const std::vector<ipv4_address>& lease_servers) {
        link_dns* l = find_mut(endpoint);
        if (!l || l->origin != dns_origin::dhcp_lease) return false;
        l->servers.clear();
        for (auto a : lease_servers)
            if (std::find(l->servers.begin(), l->servers.end(), a) == l->servers.end()) l->servers.push_back(a);
        return true;
    }

    /// Set-EflowVmDnsServers: replaces the servers of one endpoint (the primary when no
    /// name is given).
    expected<void, finding> set_dns_servers(std::optional<std::string_view> endpoint, const std::vector<std::string>& texts) {
        link_dns* l = endpoint ? find_mut(*endpoint) : &links_.front();
        if (!l) return unexpected(finding{check::endpoint_not_found, severity::error, msg_endpoint_not_found(*endpoint)});
        if (texts.empty())
            return unexpected(finding{check::dns_servers_missing, severity::error, std::string(msg_dns_servers_missing)});
        findings f;
        auto servers = check_dns_servers(texts, f);
        if (!servers) return unexpected(*f.error);
        l->servers.clear();
        for (auto a : *servers)
            if (std::find(l->servers.begin(), l->servers.end(), a) == l->servers.end()) l->servers.push_back(a);
        l->origin = dns_origin::user;
        return {};
    }

    /// "Set-EflowVmDnsServers [-vendpointName x] -dnsServers a,b" as typed.
    expected<void, finding> set_dns_servers_command(std::string_view line) {
        auto cmd = parse_command_line(line);
        if (!cmd) return unexpected(finding{check::command_syntax, severity::error, cmd.error()});
        if (!iequals(cmd->verb, "Set-EflowVmDnsServers"))
            return unexpected(finding{check::command_syntax, severity::error,
                                      fmt::format("Error: expected Set-EflowVmDnsServers, got {}", cmd->verb)});
        auto d = read_dns_parameters(*cmd);
        if (!d) return unexpected(finding{check::command_syntax, severity::error, d.error()});
        std::optional<std::string_view> ep;
        if (d->endpoint) ep = *d->endpoint;
        return set_dns_servers(ep, d->servers);
    }

    const link_dns* find(std::string_view endpoint) const noexcept {
        for (const auto& l : links_)
            if (iequals(l.endpoint, endpoint)) return &l;
        return nullptr;
    }
    const std::vector<link_dns>& links() const noexcept { return links_; }

    /// /etc/resolv.conf of the EFLOW VM: the local stub only ([NW] "DNS").
    static std::string stub_resolv_conf() { return fmt::format("nameserver {}\n", resolved_stub); }

    /// The upstream servers of every link, primary first, each once. Empty servers: the
    /// file has no nameserver line and every lookup fails.
    std::string upstream_resolv_conf() const {
        std::vector<ipv4_address> all;
        for (const auto& l : links_)
            for (auto a : l.servers)
                if (std::find(all.begin(), all.end(), a) == all.end()) all.push_back(a);
        std::string out;
        for (auto a : all) out += fmt::format("nameserver {}\n", a);
        return out;
    }

private:
    link_dns* find_mut(std::string_view endpoint) noexcept {
        for (auto& l : links_)
            if (iequals(l.endpoint, endpoint)) return &l;
        return nullptr;
    }
    std::vector<link_dns> links_;
};

}  // namespace vnet::eflow

template <>
struct fmt::formatter<vnet::eflow::link_dns> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::eflow::link_dns& l, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "Link {} ({}) DNS Servers:", l.ifname, l.endpoint);
        for (auto a : l.servers) out = fmt::format_to(out, " {}", a);
        return fmt::format_to(out, " [{}]", l.origin);
    }
};
