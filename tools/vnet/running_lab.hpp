// A lab kept by `vnet lab up` / `lab run --keep`, as the commands that act on it find it
// (`vnet lab exec`, `vnet eflow`): its run, its state folder, and a VM's guest agent.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fmt/format.h>

#include <vnet/core/expected.hpp>
#include <vnet/io/packet_fd.hpp>
#include <vnet/lab/guest_agent.hpp>
#include <vnet/lab/plan.hpp>
#include <vnet/lab/run_registry.hpp>

#include "commands.hpp"

namespace vnet::cli {

struct running_lab {
    lab::recorded_run run;
    std::string state_dir;

    /// The VMs with a guest agent socket, in name order.
    std::vector<std::string> vms() const {
        std::vector<std::string> out;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(state_dir, ec))
            if (e.path().extension() == ".agent") out.push_back(e.path().stem().string());
        std::sort(out.begin(), out.end());
        return out;
    }
    std::string socket(const std::string& vm, std::string_view kind) const {
        return fmt::format("{}/{}.{}", state_dir, vm, kind);
    }
};

/// The blank-separated words of a line (the runner's requests, the state folder's records).
inline std::vector<std::string> split_words(const std::string& line) {
    std::istringstream in(line);
    return {std::istream_iterator<std::string>(in), std::istream_iterator<std::string>()};
}

/// The control socket of a kept lab's runner (`vnet lab up`), in its state folder: one
/// request line per connection, one answer line ("ok ..." or "error MESSAGE"):
///   add-nic VM SWITCH dhcp                          -> ok MAC TAP
///   add-nic VM SWITCH static ADDRESS/LEN [GATEWAY]  -> ok MAC TAP
///   remove-nic VM MAC                               -> ok
inline std::string control_socket(const std::string& state_dir) { return state_dir + "/control"; }

/// Sends one request to the runner of lab `l` and returns its answer after "ok " (or the
/// error it gave, or why it could not be asked).
inline expected<std::string, std::string> ask_runner(const running_lab& l, const std::string& request,
                                                     std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto path = control_socket(l.state_dir);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) return unexpected(fmt::format("control socket path too long: {}", path));
    std::memcpy(sa.sun_path, path.data(), path.size());
    io::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0)
        return unexpected(fmt::format("cannot reach the runner of lab {} ({}): {}", l.run.lab, path, std::strerror(errno)));
    const auto line = request + "\n";
    if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
        return unexpected(fmt::format("cannot send to the runner of lab {}: {}", l.run.lab, std::strerror(errno)));
    std::string answer;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[512];
    while (answer.find('\n') == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        pollfd p{fd.get(), POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
            return unexpected(fmt::format("the runner of lab {} did not answer '{}'", l.run.lab, request));
        auto n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n <= 0) break;
        answer.append(buf, static_cast<std::size_t>(n));
    }
    answer = answer.substr(0, answer.find('\n'));
    if (answer.rfind("ok", 0) == 0) return answer.size() > 3 ? answer.substr(3) : std::string();
    if (answer.rfind("error ", 0) == 0) return unexpected(answer.substr(6));
    return unexpected(fmt::format("the runner of lab {} answered '{}'", l.run.lab, answer));
}

/// The one run whose id or lab name is `name`; prints the error (for `what`) otherwise.
inline std::optional<running_lab> find_running_lab(const std::string& what, const std::string& name) {
    std::vector<lab::recorded_run> runs;
    for (auto& run : lab::list_runs())
        if (run.id == name || run.lab == name) runs.push_back(std::move(run));
    if (runs.empty()) {
        report_error(what, fmt::format("no lab or run id '{}' is running", name));
        return std::nullopt;
    }
    if (runs.size() > 1) {
        report_error(what, fmt::format("{} runs of lab '{}' are up: name one by its run id ({}, ...)", runs.size(), name,
                                       runs.front().id));
        return std::nullopt;
    }
    running_lab l{runs.front(), lab::run_names{runs.front().id}.state_dir()};
    return l;
}

/// Whether the lab has the VM; prints the error naming the VMs it has otherwise.
inline bool has_vm(const std::string& what, const running_lab& l, const std::string& vm) {
    auto vms = l.vms();
    if (std::find(vms.begin(), vms.end(), vm) != vms.end()) return true;
    std::string list;
    for (const auto& v : vms) list += (list.empty() ? "" : ", ") + v;
    report_error(what,
                 fmt::format("lab {} (run {}) has no VM '{}' (VMs: {})", l.run.lab, l.run.id, vm, list.empty() ? "none" : list));
    return false;
}

/// The VM's guest agent, ready for a request; prints the error (exit 1) otherwise.
inline std::optional<lab::agent_client> connect_agent(const std::string& what, const running_lab& l, const std::string& vm) {
    const auto socket = l.socket(vm, "agent");
    auto agent = lab::agent_client::connect(socket, std::chrono::seconds(10));
    if (!agent) {
        report_error(what, fmt::format("cannot reach the guest agent of {} ({}): {}", vm, socket, agent.error().message()), 1);
        return std::nullopt;
    }
    // The agent reopens its port after the previous client left and says so ("0 ready");
    // a request sent before that would be lost.
    if (auto ready = agent->wait_ready(std::chrono::seconds(10)); !ready) {
        report_error(what, fmt::format("the guest agent of {} did not answer: {}", vm, ready.error().message()), 1);
        return std::nullopt;
    }
    return std::move(*agent);
}

}  // namespace vnet::cli
