// vnet/lab/fleet.hpp - the VMs of a running lab: boot, restart, commands through the guest
// agent, DHCP leases.
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
#include <vnet/core/mutant.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/process.hpp>
#include <vnet/io/tap.hpp>
#include <vnet/lab/qmp.hpp>
#include <vnet/lab/dhcp_host.hpp>
#include <vnet/lab/guest_agent.hpp>
#include <vnet/lab/ics_host.hpp>
#include <vnet/wire/arp.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/lab/mac_store.hpp>
#include <vnet/lab/nat_host.hpp>
#include <vnet/lab/plan.hpp>
#include <vnet/lab/qemu.hpp>
#include <vnet/lab/report.hpp>
#include <vnet/lab/verdicts.hpp>
#include <vnet/lab/vm_store.hpp>
#include <vnet/lab/switch_pump.hpp>
#include <vnet/lab/run_registry.hpp>
#include <vnet/lab/topology.hpp>

namespace vnet::lab {

/// The lab's VMs: QEMU started from each slot's configuration, the guest agents, boot
/// results, restarts (the configuration, MACs included, is kept as Hyper-V keeps a VM's
/// settings) and the wait for DHCP leases.
class vm_fleet {
public:
    using clock = std::chrono::steady_clock;

    vm_fleet(const std::vector<vm_slot>& slots, run_options opt, std::string state_dir)
            : opt_(std::move(opt)), state_dir_(std::move(state_dir)) {
        for (const auto& s : slots) {
            vm_state st;
            st.config = s.config;
            st.ports = s.ports;
            st.boot.name = s.config.name;
            vms_.push_back(std::move(st));
        }
    }
    vm_fleet(const vm_fleet&) = delete;
    vm_fleet& operator=(const vm_fleet&) = delete;
    ~vm_fleet() { stop(); }

    /// Boots every VM, `parallel` at a time, and waits for each guest agent. Progress goes
    /// to options.progress. The boots (also in report()).
    const std::vector<vm_boot>& boot() {
        auto par = opt_.parallel ? opt_.parallel : std::max(1u, std::thread::hardware_concurrency());
        std::size_t next = 0, done = 0;
        struct waiter {
            std::thread t;
            std::atomic<bool> finished{false};
            result<agent_client> agent = fail(layer::lab, errc::io, "agent.not_started");
        };
        std::vector<std::unique_ptr<waiter>> waiters(vms_.size());
        std::size_t active = 0;
        auto last_note = clock::now();
        while (done < vms_.size()) {
            while (active < par && next < vms_.size() && !stopping()) {
                auto i = next++;
                auto& v = vms_[i];
                // The VM is created: the host stores its settings (vm_store.hpp).
                if (auto s = save_vm_settings(state_dir_, v.config.name, v.config.nics); !s) {
                    v.boot.error = s.error();
                    note(fmt::format("{}: {}", v.boot.name, v.boot.error));
                    ++done;
                    continue;
                }
                auto q = qemu_vm::start(v.config);
                if (!q) {
                    v.boot.error = fmt::format("cannot start QEMU: {}", q.error().message());
                    note(fmt::format("{}: {}", v.boot.name, v.boot.error));
                    ++done;
                    continue;
                }
                v.vm = std::move(*q);
                v.pci_slots = pci_slots_at_start(v.config);
                detail::append_line(state_dir_ + "/pids",
                                    fmt::format("{} {}", v.vm.pid(), detail::process_start_time(v.vm.pid())));
                note(fmt::format("{}: booting (QEMU pid {}, {} NIC{})", v.boot.name, v.vm.pid(), v.config.nics.size(),
                                 v.config.nics.size() == 1 ? "" : "s"));
                auto w = std::make_unique<waiter>();
                auto* wp = w.get();
                auto sock = v.config.agent_socket;
                auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(opt_.boot_timeout);
                pid_t qpid = v.vm.pid();
                w->t = std::thread([wp, sock, deadline, qpid, this] {
                    auto start = clock::now();
                    auto alive = [&] { return !stopping() && ::kill(qpid, 0) == 0 && !zombie(qpid); };
                    auto c = agent_client::connect(sock, deadline, alive);
                    if (c) {
                        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - (clock::now() - start));
                        auto r = c->wait_ready(std::max(left, std::chrono::milliseconds(1)));
                        if (!r) c = unexpected(r.error());
                    }
                    wp->agent = std::move(c);
                    wp->finished = true;
                });
                waiters[i] = std::move(w);
                ++active;
            }
            if (stopping() && active == 0) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            for (std::size_t i = 0; i < waiters.size(); ++i) {
                auto& w = waiters[i];
                if (!w || !w->finished) continue;
                w->t.join();
                auto& v = vms_[i];
                v.boot.seconds_to_agent = std::chrono::duration<double>(clock::now() - v.vm.started_at()).count();
                if (w->agent) {
                    v.agent = std::move(*w->agent);
                    v.boot.ready = true;
                    note(fmt::format("{}: agent ready after {:.2f} s", v.boot.name, v.boot.seconds_to_agent));
                } else {
                    v.boot.error = stopping() ? "stopped" : fmt::format("no guest agent: {}", w->agent.error().message());
                    note(fmt::format("{}: {} after {:.2f} s", v.boot.name, v.boot.error, v.boot.seconds_to_agent));
                }
                w.reset();
                --active;
                ++done;
            }
            if (active > 0 && clock::now() - last_note > std::chrono::seconds(10)) {
                last_note = clock::now();
                std::string waiting;
                for (std::size_t i = 0; i < waiters.size(); ++i)
                    if (waiters[i]) waiting += (waiting.empty() ? "" : ", ") + vms_[i].boot.name;
                note(fmt::format("still booting: {}", waiting));
            }
        }
        for (auto& w : waiters)
            if (w && w->t.joinable()) w->t.join();
        for (auto& v : vms_)
            if (!v.boot.ready && v.boot.error.empty()) v.boot.error = "not started (stopped)";
        boots_.clear();
        for (auto& v : vms_) boots_.push_back(v.boot);
        return boots_;
    }

    /// Runs a command in a VM through its agent.
    result<command_result> vm_exec(std::string_view vm, std::string_view command,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        auto* v = find_vm(vm);
        if (!v) return fail(layer::lab, errc::not_found, "vm");
        if (!v->agent.connected()) return fail(layer::lab, errc::not_found, "vm.agent");
        return v->agent.run(command, timeout);
    }

    /// Waits (once per VM, up to options.dhcp_wait) until every DHCP NIC of `vm` has a lease
    /// (or, in a guest with APIPA, its link-local address).
    void wait_for_leases(std::string_view vm) {
        auto* v = find_vm(vm);
        if (!v || v->leases_waited || !v->agent.connected()) return;
        v->leases_waited = true;
        std::string cmd;
        for (std::size_t k = 0; k < v->config.nics.size(); ++k)
            if (v->config.nics[k].mode == nic_mode::dhcp)
                cmd += v->config.apipa
                           ? fmt::format(" && {{ [ -e /run/vnet/lease.eth{0} ] || [ -e /run/vnet/apipa.eth{0} ]; }}", k)
                           : fmt::format(" && [ -e /run/vnet/lease.eth{} ]", k);
        if (cmd.empty()) return;
        cmd = "true" + cmd;
        auto deadline = clock::now() + opt_.dhcp_wait;
        while (clock::now() < deadline && !stopping()) {
            auto r = v->agent.run(cmd, std::chrono::seconds(5));
            if (r && r->ok()) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    }

    /// The switch port of NIC `nic` of VM `vm`.
    std::optional<sw::port_index> vm_port(std::string_view vm, std::size_t nic) const {
        for (const auto& v : vms_)
            if (v.config.name == vm && nic < v.ports.size()) return v.ports[nic];
        return std::nullopt;
    }
    /// The number of NICs of VM `vm` (nullopt: no such VM).
    std::optional<std::size_t> nic_count(std::string_view vm) const {
        for (const auto& v : vms_)
            if (v.config.name == vm) return v.config.nics.size();
        return std::nullopt;
    }

    /// The MAC NIC k of VM `vm` was started with (empty when there is no such NIC).
    std::string nic_mac(std::string_view vm, std::size_t k) const {
        for (const auto& v : vms_)
            if (v.config.name == vm && k < v.config.nics.size()) return v.config.nics[k].mac;
        return {};
    }

    /// The MAC of NIC k as the guest sees it (empty when it cannot be read).
    std::string guest_mac(std::string_view vm, std::size_t k) {
        auto m = vm_exec(vm, fmt::format("cat /sys/class/net/eth{}/address", k), std::chrono::seconds(5));
        if (!m || !m->ok()) return {};
        auto t = m->out;
        while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
        return t;
    }

    /// The IPv4 address/prefix of NIC k in the guest ("none" when it has none after up to
    /// 3 s; empty: unreadable).
    std::string guest_address(std::string_view vm, std::size_t k) {
        auto m = vm_exec(vm,
                         fmt::format("i=0; while [ $i -lt 12 ] && ! ip -o -4 addr show dev eth{0} | grep -q ' inet '; do "
                                     "i=$((i + 1)); sleep 0.25; done; ip -o -4 addr show dev eth{0}",
                                     k),
                         std::chrono::seconds(8));
        if (!m || !m->ok()) return {};
        auto p = first_inet(m->out);
        return p ? fmt::format("{}", *p) : std::string("none");
    }

    /// Restarts VM `vm`: the guest reboots itself (`reboot -f`); QEMU runs with
    /// -no-reboot, so the VM is started again with its stored configuration. True when the
    /// guest stopped by itself (else QEMU was stopped); the error says what failed.
    expected<bool, std::string> reboot(std::string_view vm) {
        auto* v = find_vm(vm);
        if (!v) return unexpected(fmt::format("no VM {}", vm));
        // The eflow guest has no reboot command (systemd without systemd-sysv): the kernel's
        // sysrq trigger reboots it at once, as reboot -f does the busybox guest.
        (void)v->agent.run("(sleep 1; reboot -f || echo b > /proc/sysrq-trigger) </dev/null >/dev/null 2>&1 &",
                           std::chrono::seconds(5));
        v->agent.close();
        bool by_guest = v->vm.wait_for(std::chrono::seconds(30)).has_value();
        v->vm.stop(std::chrono::seconds(2));
        if (auto s = start_again(*v); !s) return unexpected(s.error());
        return by_guest;
    }

    /// Turns VM `vm` off at once (QEMU stopped, as when the host loses power: the guest shuts
    /// nothing down and releases no lease); start_vm starts it again.
    expected<void, std::string> stop_vm(std::string_view vm) {
        auto* v = find_vm(vm);
        if (!v) return unexpected(fmt::format("no VM {}", vm));
        v->agent.close();
        v->vm.stop(std::chrono::seconds(2));
        return {};
    }

    /// Starts a VM turned off by stop_vm again from the host's stored state, as reboot() does.
    expected<void, std::string> start_vm(std::string_view vm) {
        auto* v = find_vm(vm);
        if (!v) return unexpected(fmt::format("no VM {}", vm));
        return start_again(*v);
    }

    /// An emulated host restart: every VM stops, then each starts again from the host's
    /// stored state (the MACs read back from the state directory, mac_store.hpp), as the
    /// VMs of a Hyper-V host come back after the host reboots.
    expected<void, std::string> restart_host() {
        for (auto& v : vms_) {
            v.agent.close();
            v.vm.stop(std::chrono::seconds(2));
        }
        for (auto& v : vms_)
            if (auto s = start_again(v); !s) return unexpected(fmt::format("VM {}: {}", v.config.name, s.error()));
        return {};
    }

    /// Hot-plugs NIC `nic` (its TAP and switch port made by lab_topology::add_vm_nic) into
    /// running VM `vm` through QEMU's QMP socket: a tap netdev and a device with the NIC's
    /// MAC. The NIC joins the VM's configuration, so a restarted VM has it from boot, as
    /// a Hyper-V VM keeps an added adapter. The guests boot with acpi=off (no hot-plug
    /// notification): the guest finds the device when it rescans its PCI bus. The NIC's
    /// index is returned.
    expected<std::size_t, std::string> hot_plug(std::string_view vm, vm_nic nic, sw::port_index port) {
        auto* v = find_vm(vm);
        if (!v) return unexpected(fmt::format("no VM {}", vm));
        if (v->pci_slots > last_routed_pci_slot)
            return unexpected(
                fmt::format("{} has no PCI slot left for a NIC: slots 0-{} are taken (a removed NIC keeps its slot "
                            "until the VM restarts), and a guest booted with acpi=off gets no interrupt beyond "
                            "slot {}",
                            vm, v->pci_slots - 1, last_routed_pci_slot));
        // The host stores the NIC first; a device QEMU refused is taken out of the store again.
        auto nics = v->config.nics;
        nics.push_back(nic);
        if (auto s = save_vm_settings(state_dir_, v->config.name, nics); !s) return unexpected(s.error());
        auto refused = [&](std::string why) {
            if (auto s = save_vm_settings(state_dir_, v->config.name, v->config.nics); !s) why += "; " + s.error();
            return unexpected(std::move(why));
        };
        auto q = qmp_client::connect(v->config.qmp_socket, std::chrono::seconds(10));
        if (!q) return refused(q.error());
        const auto id = fmt::format("hot{}", ++hot_plugs_);
        if (auto r = q->execute(
                qmp_command("netdev_add",
                            {{"type", "tap"}, {"id", "net-" + id}, {"ifname", nic.tap}, {"script", "no"}, {"downscript", "no"}}),
                std::chrono::seconds(10));
            !r)
            return refused(fmt::format("netdev_add {}: {}", nic.tap, r.error()));
        std::vector<std::pair<std::string, std::string>> dev = {
            {"driver", nic.model}, {"id", "nic-" + id}, {"netdev", "net-" + id}, {"mac", nic.mac}};
        if (nic.model == "virtio-net-pci") dev.emplace_back("romfile", "");
        if (auto r = q->execute(qmp_command("device_add", dev), std::chrono::seconds(10)); !r)
            return refused(fmt::format("device_add {}: {}", nic.mac, r.error()));
        v->config.nics = std::move(nics);
        v->ports.push_back(port);
        ++v->pci_slots;
        return v->config.nics.size() - 1;
    }

    /// Takes the NIC with MAC `mac` out of VM `vm`'s configuration (an endpoint removed from
    /// the running VM: a restart no longer has it); its index and switch port.
    expected<std::pair<std::size_t, sw::port_index>, std::string> unplug(std::string_view vm, std::string_view mac) {
        auto* v = find_vm(vm);
        if (!v) return unexpected(fmt::format("no VM {}", vm));
        for (std::size_t k = 0; k < v->config.nics.size(); ++k)
            if (v->config.nics[k].mac == mac) {
                auto nics = v->config.nics;
                nics.erase(nics.begin() + static_cast<std::ptrdiff_t>(k));
                if (auto s = save_vm_settings(state_dir_, v->config.name, nics); !s) return unexpected(s.error());
                auto port = v->ports[k];
                v->config.nics = std::move(nics);
                v->ports.erase(v->ports.begin() + static_cast<std::ptrdiff_t>(k));
                return std::pair{k, port};
            }
        return unexpected(fmt::format("VM {} has no NIC {}", vm, mac));
    }

    /// Closes the connections to the guest agents, so that another client (a user's, on
    /// the agent sockets in /run/vnet/<id>/) can connect; the guest agent serves one at a time.
    void release_agents() {
        for (auto& v : vms_) v.agent.close();
    }

    /// Stops every VM (agents closed, QEMU stopped).
    void stop() {
        for (auto& v : vms_) {
            v.agent.close();
            v.vm.stop();
        }
        vms_.clear();
    }

private:
    struct vm_state {
        qemu_vm_config config;
        qemu_vm vm;
        agent_client agent;
        vm_boot boot;
        std::vector<sw::port_index> ports;
        bool leases_waited = false;
        unsigned pci_slots = 0;  // PCI slots QEMU has filled since it started (removed NICs keep theirs)
    };
    unsigned hot_plugs_ = 0;  // QMP ids of hot-plugged NICs

    /// Starts a stopped VM with its stored configuration: the NICs' IP settings from the
    /// VM's settings file (vm_store.hpp), the dynamic MACs from the host's pool file, not
    /// from memory.
    expected<void, std::string> start_again(vm_state& v) {
        if (auto s = load_vm_settings(state_dir_, v.config.name, v.config.nics); !s) return unexpected(s.error());
        for (auto& n : v.config.nics)
            if (!n.pool_name.empty()) {
                auto m = stored_mac(state_dir_, n.pool_name);
                if (!m) return unexpected(m.error());
                n.mac = fmt::format("{}", *m);
            }
        auto q = qemu_vm::start(v.config);
        if (!q) return unexpected(fmt::format("cannot start QEMU again: {}", q.error().message()));
        v.vm = std::move(*q);
        v.pci_slots = pci_slots_at_start(v.config);
        detail::append_line(state_dir_ + "/pids", fmt::format("{} {}", v.vm.pid(), detail::process_start_time(v.vm.pid())));
        auto ag = v.vm.connect_agent(std::chrono::duration_cast<std::chrono::milliseconds>(opt_.boot_timeout));
        if (!ag) return unexpected(fmt::format("no guest agent after the restart: {}", ag.error().message()));
        v.agent = std::move(*ag);
        v.leases_waited = false;
        return {};
    }

    vm_state* find_vm(std::string_view name) {
        for (auto& v : vms_)
            if (v.config.name == name) return &v;
        return nullptr;
    }

    bool stopping() const { return opt_.should_stop && opt_.should_stop(); }
    static bool zombie(pid_t pid) {
        auto s = detail::slurp(fmt::format("/proc/{}/stat", pid));
        auto rp = s.rfind(')');
        return rp == std::string::npos || (rp + 2 < s.size() && s[rp + 2] == 'Z');
    }

    void note(const std::string& line) const {
        if (opt_.progress) opt_.progress(line);
    }

    run_options opt_;
    std::string state_dir_;
    std::vector<vm_state> vms_;
    std::vector<vm_boot> boots_;
};

}  // namespace vnet::lab
