// A lab kept by `vnet lab up` / `lab run --keep`, as the commands that act on it find it
// (`vnet lab exec`, `vnet eflow`): its run, its state folder, and a VM's guest agent.
#pragma once

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

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
