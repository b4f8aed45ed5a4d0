// vnet eflow NAME [--vm VM] CMDLET [-param value ...]: the EFLOW host cmdlets against a
// lab that is up (`vnet lab up`), as a user troubleshooting EFLOW runs them
// (docs/design.md "CLI"; the outputs are in vnet/eflow/cmdlets.hpp).
//
//   Get-EflowVmAddr                 the VM's eth0 IP and MAC, read from the VM
//   Get-EflowVmEndpoint             each ethX: Name, MacAddress, HealthStatus, IpConfiguration
//   Get-EflowNetwork                the networks (switches) the VM is on, from the lab file
//   Set-EflowVmDnsServers -vendpointName eth0 -dnsServers @("192.168.0.1")
//                                   sets the endpoint's DNS servers in the VM (resolvectl
//                                   on the systemd guest, /etc/resolv.conf on busybox) and
//                                   prints them as read back from the VM
//   Connect-EflowVm                 an interactive login shell in the VM on its virtio
//                                   console (a terminal: job control, Ctrl-C); Ctrl-]
//                                   leaves, `exit` ends the shell
//   Add-EflowNetwork -vswitchName S -vswitchType External|Internal
//                                   makes switch S of the lab one of the VM's networks
//   Add-EflowVmEndpoint -vswitchName S -vendpointName N [-ip4Address A -ip4PrefixLength L
//                       -ip4GatewayAddress G]
//                                   hot-plugs a NIC on S into the running VM (QEMU's
//                                   monitor, QMP): eth1 for the first added, static or DHCP
//   Remove-EflowVmEndpoint -vendpointName N
//                                   takes an endpoint other than the primary out of the VM
//   Remove-EflowNetwork -vswitchName S
//                                   S is no longer one of the VM's networks (not the primary
//                                   network, and only once its endpoints are removed)
// Exit status: 0 done, 1 the VM could not be reached or did not do it, 2 bad input (an
// unknown cmdlet or parameter, a bad value: the reference's "Error: ..." message).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vnet/eflow/cmdlets.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/switch/kinds.hpp>
#include <vnet/lab/verdicts.hpp>

#include "commands.hpp"
#include "running_lab.hpp"

namespace vnet::cli {

namespace {

constexpr const char* what = "eflow";

/// The cmdlet line as PowerShell would see it: words quoted where they hold blanks.
std::string command_text(const eflow_options& o) {
    std::string s = o.cmdlet;
    for (const auto& w : o.args) {
        if (w.find_first_of(" \t") != std::string::npos && w.find('"') == std::string::npos) s += fmt::format(" \"{}\"", w);
        else s += " " + w;
    }
    return s;
}

/// The EFLOW VM of the lab: --vm, else its only VM with profile eflow, else its only VM.
std::optional<std::string> pick_vm(const running_lab& l, const std::optional<lab::lab_file>& lf, const std::string& vm) {
    if (!vm.empty()) return has_vm(what, l, vm) ? std::optional<std::string>(vm) : std::nullopt;
    auto vms = l.vms();
    if (lf) {
        std::vector<std::string> eflow;
        for (const auto& v : lf->vms)
            if (v.profile == lab::guest_profile::eflow) eflow.push_back(v.name);
        if (eflow.size() == 1) return eflow.front();
    }
    if (vms.size() == 1) return vms.front();
    std::string list;
    for (const auto& v : vms) list += (list.empty() ? "" : ", ") + v;
    report_error(what, fmt::format("lab {} has {} VMs ({}): name one with --vm", l.run.lab, vms.size(), list));
    return std::nullopt;
}

/// Runs one command in the VM; prints the error and returns nullopt when it could not run.
std::optional<lab::command_result> in_vm(lab::agent_client& agent, const std::string& vm, const std::string& command) {
    auto r = agent.run(command, std::chrono::seconds(30));
    if (!r) {
        report_error(what, fmt::format("{}: {}", vm, r.error().message()), exit_check_failed);
        return std::nullopt;
    }
    return std::move(*r);
}

std::optional<std::vector<eflow::guest_nic>> guest_nics(lab::agent_client& agent, const std::string& vm) {
    auto r = in_vm(agent, vm, std::string(eflow::guest_nics_command));
    if (!r) return std::nullopt;
    auto nics = eflow::parse_guest_nics(r->out);
    if (r->exit_status != 0 || nics.empty()) {
        report_error(what, fmt::format("{} reported no ethX interface (exit {}): {}", vm, r->exit_status, r->err),
                     exit_check_failed);
        return std::nullopt;
    }
    return nics;
}

/// Lines of a file in the run's state folder, split in words (none when it is missing).
std::vector<std::vector<std::string>> state_records(const running_lab& l, const std::string& file) {
    std::vector<std::vector<std::string>> out;
    std::ifstream f(l.state_dir + "/" + file);
    for (std::string line; std::getline(f, line);) {
        if (auto w = split_words(line); !w.empty()) out.push_back(std::move(w));
    }
    return out;
}

/// Writes <state>/FILE again without the records `drop` selects.
template <class Pred>
void drop_state_records(const running_lab& l, const std::string& file, Pred drop) {
    std::string kept;
    for (const auto& r : state_records(l, file))
        if (!drop(r)) kept += fmt::format("{}\n", fmt::join(r, " "));
    std::ofstream(l.state_dir + "/" + file, std::ios::trunc) << kept;
}

/// The networks (switch names) the VM's endpoints may use: the switches its NICs were
/// deployed on (the lab file), then those Add-EflowNetwork registered on the running lab
/// (<state>/eflow-networks: "VM SWITCH" lines).
std::vector<std::string> vm_networks(const running_lab& l, const lab::lab_file& lf, const std::string& vm) {
    std::vector<std::string> out;
    if (const auto* v = lf.find_vm(vm))
        for (const auto& n : v->nics)
            if (std::find(out.begin(), out.end(), n.switch_name) == out.end()) out.push_back(n.switch_name);
    for (const auto& r : state_records(l, "eflow-networks"))
        if (r.size() == 2 && r[0] == vm && std::find(out.begin(), out.end(), r[1]) == out.end()) out.push_back(r[1]);
    return out;
}

/// The endpoint names Add-EflowVmEndpoint gave (<state>/eflow-endpoints: "VM IFNAME NAME
/// SWITCH").
std::string endpoint_name(const running_lab& l, const std::string& vm, const std::string& ifname) {
    for (const auto& r : state_records(l, "eflow-endpoints"))
        if (r.size() >= 3 && r[0] == vm && r[1] == ifname) return r[2];
    return ifname;
}

/// One network as Get-EflowNetwork / Add-EflowNetwork print it.
std::string format_network(const lab::lab_file& lf, const std::string& name, bool dhcp) {
    const auto* sw = lf.find_switch(name);
    std::string cidr, type = sw ? std::string(to_string(sw->kind)) : "";
    if (sw && sw->network)
        if (const auto* net = lf.find_network(*sw->network)) cidr = fmt::format("{}", net->subnet.canonical());
    if (sw && sw->host_address) cidr = fmt::format("{}", sw->host_address->canonical());
    if (!type.empty()) type[0] = static_cast<char>(type[0] - 'a' + 'A');
    return eflow::format_list({{"Name", name}, {"AllocationMethod", dhcp ? "Dhcp" : "Static"}, {"Cidr", cidr}, {"Type", type}});
}

int get_networks(const eflow::command_line& cmd, const running_lab& l, const std::optional<lab::lab_file>& lf,
                 const std::string& vm) {
    auto filter = eflow::single_filter(cmd, "vswitchName");
    if (!filter) return report_error(what, filter.error());
    if (!lf) return report_error(what, "the lab's file was not recorded with the run: networks are unknown", exit_check_failed);
    const auto* v = lf->find_vm(vm);
    if (!v) return report_error(what, fmt::format("the lab file has no VM {}", vm), exit_check_failed);
    std::string out;
    bool shown = false;
    for (const auto& name : vm_networks(l, *lf, vm)) {
        if (*filter && !eflow::iequals(**filter, name)) continue;
        bool dhcp = true;
        for (const auto& nic : v->nics)
            if (nic.switch_name == name) dhcp = nic.ip == lab::ip_mode::dhcp;
        out += (out.empty() ? "" : "\n") + format_network(*lf, name, dhcp);
        shown = true;
    }
    if (*filter && !shown) return report_error(what, fmt::format("Error: vswitchName {} not found", **filter));
    fmt::print("{}", out);
    return exit_ok;
}

/// Add-EflowNetwork -vswitchName NAME -vswitchType External|Internal: makes an existing
/// switch of the lab one of the VM's networks (it does not create the switch, as in
/// EFLOW); the type rules and messages of the deployment's checks 2-5.
int add_network(const eflow::command_line& cmd, const running_lab& l, const lab::lab_file& lf, const std::string& vm) {
    std::optional<std::string> name, type;
    for (const auto& p : cmd.parameters) {
        if (eflow::iequals(p.name, "vswitchName")) name = p.value;
        else if (eflow::iequals(p.name, "vswitchType")) type = p.value;
        else return report_error(what, eflow::unknown_parameter(p.name));
    }
    auto t = type ? eflow::parse_switch_type(*type) : std::nullopt;
    if (!t || *t == eflow::switch_type::default_switch || (*t == eflow::switch_type::internal && lf.sku == lab::host_sku::client))
        return report_error(what, std::string(eflow::msg_switch_type_incorrect));
    if (!name || name->empty()) return report_error(what, eflow::msg_switch_name_required(*t));
    const auto* sw = lf.find_switch(*name);
    if (!sw)
        return report_error(what, fmt::format("Error: virtual switch {} not found; Add-EflowNetwork does not create it", *name));
    const auto kind = sw->kind == sw::switch_kind::external   ? std::optional(eflow::switch_type::external)
                      : sw->kind == sw::switch_kind::internal ? std::optional(eflow::switch_type::internal)
                                                              : std::nullopt;
    if (kind != t)
        return report_error(what, eflow::msg_switch_type_mismatch(*name, kind ? eflow::hyperv_name(*kind) : to_string(sw->kind),
                                                                  eflow::hyperv_name(*t)));
    auto nets = vm_networks(l, lf, vm);
    if (std::find(nets.begin(), nets.end(), *name) != nets.end()) return report_error(what, eflow::msg_network_exists(*name));
    std::ofstream(l.state_dir + "/eflow-networks", std::ios::app) << vm << " " << *name << "\n";
    fmt::print("{}", format_network(lf, *name, true));
    return exit_ok;
}

/// Add-EflowVmEndpoint -vswitchName NAME -vendpointName NAME [-ip4Address A
/// -ip4PrefixLength N -ip4GatewayAddress G]: a NIC hot-plugged into the running VM on that
/// network (the runner adds the TAP, the switch port and QEMU's device), named by the guest
/// eth1 for the first added, configured static or by DHCP; prints the endpoint as read
/// back from the VM. The static parameters get the deployment's checks 9-20 (without its
/// probes of the network: 12 and 16).
int add_endpoint(const std::string& line, const running_lab& l, const lab::lab_file& lf, const std::string& vm,
                 lab::agent_client& agent) {
    auto o = eflow::endpoint_options::parse(line);
    if (!o) return report_error(what, o.error());
    if (!o->vswitch_name) return report_error(what, std::string(eflow::msg_vswitch_name_missing));
    if (!o->vendpoint_name) return report_error(what, std::string(eflow::msg_vendpoint_name_missing));
    if (o->vendpoint_name->find_first_of(" \t") != std::string::npos)
        return report_error(what, fmt::format("Error: vendpointName '{}': a name without blanks, please", *o->vendpoint_name));
    auto nets = vm_networks(l, lf, vm);
    auto net = std::find_if(nets.begin(), nets.end(), [&](const auto& n) { return eflow::iequals(n, *o->vswitch_name); });
    if (net == nets.end()) return report_error(what, eflow::msg_network_not_found(*o->vswitch_name));
    auto nics = guest_nics(agent, vm);
    if (!nics) return exit_check_failed;
    unsigned next = 0;
    for (const auto& n : *nics) {
        if (eflow::iequals(endpoint_name(l, vm, n.ifname), *o->vendpoint_name) || eflow::iequals(n.ifname, *o->vendpoint_name))
            return report_error(what, eflow::msg_endpoint_exists(*o->vendpoint_name));
        next = std::max(next, eflow::eth_number(n.ifname) + 1);
    }
    eflow::hot_plug_nic hp;
    hp.ifname = fmt::format("eth{}", next);
    const auto* sw = lf.find_switch(*net);
    if (o->ip4_address || o->ip4_gateway_address || o->ip4_prefix_length) {
        eflow::findings f;
        const auto type = sw && sw->kind == sw::switch_kind::internal ? eflow::switch_type::internal
                                                                      : eflow::switch_type::external;
        hp.static_ip = eflow::check_static(o->ip4_address, o->ip4_gateway_address, o->ip4_prefix_length, {type, true, *net}, {},
                                           f);
        if (!hp.static_ip) return report_error(what, f.error ? f.error->message : "Error: invalid static configuration");
    }
    const auto* v = lf.find_vm(vm);
    hp.networkd = v && v->profile == lab::guest_profile::eflow;
    auto request = fmt::format("add-nic {} {} {}", vm, *net, hp.static_ip ? "static" : "dhcp");
    if (hp.static_ip) request += fmt::format(" {} {}", hp.static_ip->address, hp.static_ip->gateway);
    auto added = ask_runner(l, request);
    if (!added) return report_error(what, fmt::format("cannot add the NIC: {}", added.error()), exit_check_failed);
    auto mac = mac_address::parse(added->substr(0, added->find(' ')));
    if (!mac) return report_error(what, fmt::format("the runner answered '{}'", *added), exit_check_failed);
    hp.mac = *mac;
    auto r = in_vm(agent, vm, eflow::hot_plug_script(hp));
    if (!r) return exit_check_failed;
    if (r->exit_status != 0) {  // the NIC goes again: nothing half-made stays in the lab
        auto undone = ask_runner(l, fmt::format("remove-nic {} {}", vm, *mac));
        return report_error(what,
                            fmt::format("{} did not take the NIC {} (exit {}): {}{}{}", vm, *mac, r->exit_status, r->out, r->err,
                                        undone ? "" : "; removing it again failed: " + undone.error()),
                            exit_check_failed);
    }
    std::ofstream(l.state_dir + "/eflow-endpoints", std::ios::app)
        << vm << " " << hp.ifname << " " << *o->vendpoint_name << " " << *net << "\n";
    // The endpoint as the VM reports it, once it has its address (a DHCP lease takes a moment).
    std::optional<eflow::guest_nic> seen;
    for (int i = 0; i < 40; ++i) {
        auto now = guest_nics(agent, vm);
        if (!now) return exit_check_failed;
        for (const auto& n : *now)
            if (n.ifname == hp.ifname) seen = n;
        if (seen && seen->up && seen->address && (!hp.static_ip || seen->gateway)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    if (!seen) return report_error(what, fmt::format("{} has no {} after the hot-plug", vm, hp.ifname), exit_check_failed);
    auto shown = *seen;
    shown.ifname = *o->vendpoint_name;
    fmt::print("{}", eflow::format_endpoint(shown));
    return seen->address ? exit_ok : report_error(what, fmt::format("{} got no address on {}", vm, hp.ifname), exit_check_failed);
}

int set_dns(const eflow::command_line& cmd, lab::agent_client& agent, const std::string& vm) {
    auto nics = guest_nics(agent, vm);
    if (!nics) return exit_check_failed;
    std::vector<std::string> names;
    for (const auto& n : *nics) names.push_back(n.ifname);
    auto req = eflow::parse_set_dns_servers(cmd, names);
    if (!req) return report_error(what, req.error());
    std::string list;
    for (auto a : req->servers) list += fmt::format(" {}", a);
    // systemd-resolved keeps servers per link; the busybox guest has one resolv.conf.
    auto r = in_vm(agent, vm,
                   fmt::format("if command -v resolvectl >/dev/null 2>&1; then resolvectl dns {0}{1} && resolvectl dns {0}; "
                               "else printf 'nameserver %s\\n'{1} > /etc/resolv.conf && cat /etc/resolv.conf; fi",
                               req->endpoint, list));
    if (!r) return exit_check_failed;
    auto now = lab::guest_resolvers(r->out);
    std::vector<std::string> want;
    for (auto a : req->servers) want.push_back(fmt::format("{}", a));
    if (r->exit_status != 0 || now != want)
        return report_error(what,
                            fmt::format("{} did not take the servers (exit {}): it reports [{}] {}", vm, r->exit_status,
                                        fmt::join(now, ", "), r->err),
                            exit_check_failed);
    fmt::print("DNS servers of {} ({}), read back from the VM: {}\n", req->endpoint, vm, fmt::join(now, ", "));
    return exit_ok;
}

/// The local terminal in raw mode for as long as this lives (when stdin is a terminal).
class raw_terminal {
public:
    raw_terminal() {
        if (!::isatty(0) || ::tcgetattr(0, &saved_) != 0) return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
    }
    ~raw_terminal() {
        if (active_) ::tcsetattr(0, TCSANOW, &saved_);
    }
    raw_terminal(const raw_terminal&) = delete;
    raw_terminal& operator=(const raw_terminal&) = delete;
    bool active() const noexcept { return active_; }

private:
    termios saved_{};
    bool active_ = false;
};

/// Writes everything; to the console socket with send(MSG_NOSIGNAL), so a VM that went
/// away is an error here rather than a SIGPIPE.
bool write_all(int fd, const char* p, std::size_t n, bool socket = true) {
    while (n > 0) {
        auto w = socket ? ::send(fd, p, n, MSG_NOSIGNAL) : ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

/// Connect-EflowVm: relays the terminal (or a piped script) to the VM's console shell
/// until the shell ends ("[vnet-console: session ended]"), Ctrl-] (a terminal), or, with
/// piped input, 10 s of silence after the input ended (the shell then keeps running).
int connect_vm(const running_lab& l, const std::string& vm) {
    const auto path = l.socket(vm, "console");
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (fd < 0 || path.size() >= sizeof(sa.sun_path)) return report_error(what, "cannot open a unix socket", exit_check_failed);
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
        auto e = errno;
        ::close(fd);
        return report_error(what, fmt::format("cannot reach the console of {} ({}): {}", vm, path, std::strerror(e)),
                            exit_check_failed);
    }
    static constexpr std::string_view ended = "[vnet-console: session ended]";
    raw_terminal term;
    if (term.active()) {
        fmt::print(stderr, "Connected to {} (Ctrl-] leaves, exit ends the shell)\r\n", vm);
        write_all(fd, "\r", 1);  // a fresh prompt: the shell's first one went to nobody
    }
    bool input = true;
    int status = exit_ok;
    std::string tail;  // the last bytes received, to find the end marker across reads
    auto idle_since = std::chrono::steady_clock::now();
    char buf[4096];
    while (true) {
        pollfd p[2] = {{fd, POLLIN, 0}, {0, POLLIN, 0}};
        int n = ::poll(p, input ? 2 : 1, 500);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            auto r = ::read(fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EINTR) continue;
                fmt::print(stderr, "\r\nvnet: eflow: the console of {} closed\r\n", vm);
                status = exit_check_failed;
                break;
            }
            write_all(1, buf, static_cast<std::size_t>(r), false);
            tail.append(buf, static_cast<std::size_t>(r));
            if (tail.find(ended) != std::string::npos) break;
            if (tail.size() > ended.size()) tail.erase(0, tail.size() - ended.size());
            idle_since = std::chrono::steady_clock::now();
        }
        if (input && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            auto r = ::read(0, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                input = false;
                idle_since = std::chrono::steady_clock::now();
                continue;
            }
            auto len = static_cast<std::size_t>(r);
            if (term.active()) {
                if (auto* esc = static_cast<char*>(std::memchr(buf, 0x1d, len))) {  // Ctrl-]
                    write_all(fd, buf, static_cast<std::size_t>(esc - buf));
                    fmt::print(stderr, "\r\nLeft the console of {} (the shell keeps running)\r\n", vm);
                    break;
                }
            } else {
                std::replace(buf, buf + len, '\n', '\r');  // what a terminal's Enter sends
            }
            if (!write_all(fd, buf, len)) {
                status = exit_check_failed;
                break;
            }
        }
        if (!input && std::chrono::steady_clock::now() - idle_since > std::chrono::seconds(10)) {
            fmt::print(stderr, "vnet: eflow: input ended and {} has been silent for 10 s; its shell keeps running\n", vm);
            break;
        }
    }
    ::close(fd);
    return status;
}

/// Remove-EflowVmEndpoint -vendpointName N: the guest lets go of the NIC (the PCI device
/// under its virtio device removed, its network file and DHCP client gone), then the runner takes it off its switch and out of the
/// VM's configuration. The primary endpoint (eth0) is refused [MN].
int remove_endpoint(const eflow::command_line& cmd, const running_lab& l, const std::string& vm, lab::agent_client& agent) {
    auto name = eflow::single_filter(cmd, "vendpointName");
    if (!name) return report_error(what, name.error());
    if (!*name) return report_error(what, std::string(eflow::msg_vendpoint_name_missing));
    auto nics = guest_nics(agent, vm);
    if (!nics) return exit_check_failed;
    auto it = std::find_if(nics->begin(), nics->end(), [&](const auto& n) {
        return eflow::iequals(endpoint_name(l, vm, n.ifname), **name) || eflow::iequals(n.ifname, **name);
    });
    if (it == nics->end()) return report_error(what, eflow::msg_endpoint_not_found(**name));
    if (it->ifname == "eth0") return report_error(what, eflow::msg_primary_endpoint(**name));
    auto r = in_vm(agent, vm,
                   fmt::format("ip link set dev {0} down; rm -f /etc/systemd/network/20-vnet-{0}.network; "
                               "pkill -f 'udhcpc -b -i {0} ' 2>/dev/null; echo {1} >> /run/vnet/removed-macs; "
                               "echo 1 > \"$(readlink -f /sys/class/net/{0}/device)/../remove\" && ! [ -e /sys/class/net/{0} ]",
                               it->ifname, it->mac));
    if (!r) return exit_check_failed;
    if (r->exit_status != 0)
        return report_error(what, fmt::format("{} did not let go of {} (exit {}): {}", vm, it->ifname, r->exit_status, r->err),
                            exit_check_failed);
    auto done = ask_runner(l, fmt::format("remove-nic {} {}", vm, it->mac));
    if (!done) return report_error(what, fmt::format("cannot remove the NIC: {}", done.error()), exit_check_failed);
    drop_state_records(l, "eflow-endpoints",
                       [&](const auto& rec) { return rec.size() >= 3 && rec[0] == vm && rec[1] == it->ifname; });
    return exit_ok;
}

/// Remove-EflowNetwork -vswitchName NAME: a network Add-EflowNetwork gave the VM stops being
/// one of its networks. The deployment's networks (the lab file's NICs) carry the VM's
/// lifecycle and stay; a network with endpoints left on it is refused until
/// Remove-EflowVmEndpoint took them out (vnet's message: the reference has none).
int remove_network(const eflow::command_line& cmd, const running_lab& l, const lab::lab_file& lf, const std::string& vm) {
    std::optional<std::string> name;
    for (const auto& p : cmd.parameters) {
        if (eflow::iequals(p.name, "vswitchName")) name = p.value;
        else return report_error(what, eflow::unknown_parameter(p.name));
    }
    if (!name || name->empty()) return report_error(what, std::string(eflow::msg_vswitch_name_missing));
    if (const auto* v = lf.find_vm(vm))
        for (const auto& n : v->nics)
            if (eflow::iequals(n.switch_name, *name)) return report_error(what, eflow::msg_primary_network(n.switch_name));
    const auto records = state_records(l, "eflow-networks");
    auto added = std::find_if(records.begin(), records.end(),
                              [&](const auto& r) { return r.size() == 2 && r[0] == vm && eflow::iequals(r[1], *name); });
    if (added == records.end()) return report_error(what, eflow::msg_network_not_found(*name));
    const std::string net = (*added)[1];
    for (const auto& r : state_records(l, "eflow-endpoints"))
        if (r.size() >= 4 && r[0] == vm && r[3] == net) return report_error(what, eflow::msg_network_has_endpoint(net, r[2]));
    drop_state_records(l, "eflow-networks", [&](const auto& r) { return r.size() == 2 && r[0] == vm && r[1] == net; });
    return exit_ok;
}

}  // namespace

int run_eflow(const eflow_options& o) {
    auto line = command_text(o);
    auto cmd = eflow::parse_command_line(line);
    if (!cmd) return report_error(what, cmd.error());
    static constexpr std::string_view known[] = {"Get-EflowVmAddr",       "Get-EflowVmEndpoint",    "Get-EflowNetwork",
                                                 "Set-EflowVmDnsServers", "Connect-EflowVm",        "Add-EflowNetwork",
                                                 "Add-EflowVmEndpoint",   "Remove-EflowVmEndpoint", "Remove-EflowNetwork"};
    if (std::none_of(std::begin(known), std::end(known), [&](std::string_view k) { return eflow::iequals(cmd->verb, k); }))
        return report_error(what, fmt::format("unknown cmdlet '{}' (one of: {})", cmd->verb, fmt::join(known, ", ")));
    if (::geteuid() != 0) return report_error(what, "needs root");
    auto l = find_running_lab(what, o.name);
    if (!l) return exit_bad_input;
    std::optional<lab::lab_file> lf;
    if (auto f = lab::load_lab(l->state_dir + "/lab.toml")) lf = std::move(*f);
    auto vm = pick_vm(*l, lf, o.vm);
    if (!vm) return exit_bad_input;

    if (eflow::iequals(cmd->verb, "Get-EflowNetwork")) return get_networks(*cmd, *l, lf, *vm);
    const bool needs_file = eflow::iequals(cmd->verb, "Add-EflowNetwork") || eflow::iequals(cmd->verb, "Add-EflowVmEndpoint") ||
                            eflow::iequals(cmd->verb, "Remove-EflowNetwork");
    if (needs_file && !lf) return report_error(what, "the lab's file was not recorded with the run", exit_check_failed);
    if (eflow::iequals(cmd->verb, "Add-EflowNetwork")) return add_network(*cmd, *l, *lf, *vm);
    if (eflow::iequals(cmd->verb, "Remove-EflowNetwork")) return remove_network(*cmd, *l, *lf, *vm);
    if (eflow::iequals(cmd->verb, "Connect-EflowVm")) {
        if (auto p = eflow::single_filter(*cmd, ""); !p) return report_error(what, p.error());
        return connect_vm(*l, *vm);
    }
    auto agent = connect_agent(what, *l, *vm);
    if (!agent) return exit_check_failed;
    if (eflow::iequals(cmd->verb, "Set-EflowVmDnsServers")) return set_dns(*cmd, *agent, *vm);
    if (eflow::iequals(cmd->verb, "Add-EflowVmEndpoint")) return add_endpoint(line, *l, *lf, *vm, *agent);
    if (eflow::iequals(cmd->verb, "Remove-EflowVmEndpoint")) return remove_endpoint(*cmd, *l, *vm, *agent);

    const bool endpoints = eflow::iequals(cmd->verb, "Get-EflowVmEndpoint");
    auto filter = eflow::single_filter(*cmd, endpoints ? "vendpointName" : "");
    if (!filter) return report_error(what, filter.error());
    auto nics = guest_nics(*agent, *vm);
    if (!nics) return exit_check_failed;
    if (!endpoints) {  // Get-EflowVmAddr: the primary endpoint, eth0
        if (nics->front().ifname != "eth0") return report_error(what, fmt::format("{} has no eth0", *vm), exit_check_failed);
        fmt::print("{}", eflow::format_vm_addr(*vm, nics->front()));
        return exit_ok;
    }
    std::string out;
    for (const auto& n : *nics) {
        auto shown = n;  // an endpoint Add-EflowVmEndpoint named shows its name
        shown.ifname = endpoint_name(*l, *vm, n.ifname);
        if (!*filter || eflow::iequals(**filter, shown.ifname) || eflow::iequals(**filter, n.ifname))
            out += (out.empty() ? "" : "\n") + eflow::format_endpoint(shown);
    }
    if (out.empty()) return report_error(what, eflow::msg_endpoint_not_found(**filter));
    fmt::print("{}", out);
    return exit_ok;
}

}  // namespace vnet::cli
