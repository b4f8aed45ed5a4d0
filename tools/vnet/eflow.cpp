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
// Exit status: 0 done, 1 the VM could not be reached or did not do it, 2 bad input (an
// unknown cmdlet or parameter, a bad value: the reference's "Error: ..." message).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/eflow/cmdlets.hpp>
#include <vnet/lab/lab_file.hpp>
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

int get_networks(const eflow::command_line& cmd, const std::optional<lab::lab_file>& lf, const std::string& vm) {
    auto filter = eflow::single_filter(cmd, "vswitchName");
    if (!filter) return report_error(what, filter.error());
    if (!lf) return report_error(what, "the lab's file was not recorded with the run: networks are unknown", exit_check_failed);
    const auto* v = lf->find_vm(vm);
    if (!v) return report_error(what, fmt::format("the lab file has no VM {}", vm), exit_check_failed);
    std::vector<std::string> shown;
    std::string out;
    for (const auto& nic : v->nics) {
        if (std::find(shown.begin(), shown.end(), nic.switch_name) != shown.end()) continue;
        if (*filter && !eflow::iequals(**filter, nic.switch_name)) continue;
        shown.push_back(nic.switch_name);
        const auto* sw = lf->find_switch(nic.switch_name);
        std::string cidr, type = sw ? std::string(to_string(sw->kind)) : "";
        if (sw && sw->network)
            if (const auto* net = lf->find_network(*sw->network)) cidr = fmt::format("{}", net->subnet.canonical());
        if (sw && sw->host_address) cidr = fmt::format("{}", sw->host_address->canonical());
        if (!type.empty()) type[0] = static_cast<char>(type[0] - 'a' + 'A');
        out += (out.empty() ? "" : "\n") +
               eflow::format_list({{"Name", nic.switch_name},
                                   {"AllocationMethod", nic.ip == lab::ip_mode::dhcp ? "Dhcp" : "Static"},
                                   {"Cidr", cidr},
                                   {"Type", type}});
    }
    if (*filter && shown.empty()) return report_error(what, fmt::format("Error: vswitchName {} not found", **filter));
    fmt::print("{}", out);
    return exit_ok;
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

}  // namespace

int run_eflow(const eflow_options& o) {
    auto line = command_text(o);
    auto cmd = eflow::parse_command_line(line);
    if (!cmd) return report_error(what, cmd.error());
    static constexpr std::string_view known[] = {"Get-EflowVmAddr", "Get-EflowVmEndpoint", "Get-EflowNetwork",
                                                 "Set-EflowVmDnsServers", "Connect-EflowVm"};
    static constexpr std::string_view hot_plug[] = {"Add-EflowNetwork", "Add-EflowVmEndpoint", "Remove-EflowVmEndpoint",
                                                    "Remove-EflowNetwork"};
    for (auto h : hot_plug)
        if (eflow::iequals(cmd->verb, h))
            return report_error(what, fmt::format("{} on a running lab is not implemented (hot-plug through QEMU's monitor); "
                                                  "the deployment model has it: vnet/eflow/endpoints.hpp",
                                                  h));
    if (std::none_of(std::begin(known), std::end(known), [&](std::string_view k) { return eflow::iequals(cmd->verb, k); }))
        return report_error(what, fmt::format("unknown cmdlet '{}' (one of: {})", cmd->verb, fmt::join(known, ", ")));
    if (::geteuid() != 0) return report_error(what, "needs root");
    auto l = find_running_lab(what, o.name);
    if (!l) return exit_bad_input;
    std::optional<lab::lab_file> lf;
    if (auto f = lab::load_lab(l->state_dir + "/lab.toml")) lf = std::move(*f);
    auto vm = pick_vm(*l, lf, o.vm);
    if (!vm) return exit_bad_input;

    if (eflow::iequals(cmd->verb, "Get-EflowNetwork")) return get_networks(*cmd, lf, *vm);
    if (eflow::iequals(cmd->verb, "Connect-EflowVm")) {
        if (auto p = eflow::single_filter(*cmd, ""); !p) return report_error(what, p.error());
        return connect_vm(*l, *vm);
    }
    auto agent = connect_agent(what, *l, *vm);
    if (!agent) return exit_check_failed;
    if (eflow::iequals(cmd->verb, "Set-EflowVmDnsServers")) return set_dns(*cmd, *agent, *vm);

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
    for (const auto& n : *nics)
        if (!*filter || eflow::iequals(**filter, n.ifname)) out += (out.empty() ? "" : "\n") + eflow::format_endpoint(n);
    if (out.empty()) return report_error(what, fmt::format("Error: vendpointName {} not found", **filter));
    fmt::print("{}", out);
    return exit_ok;
}

}  // namespace vnet::cli
