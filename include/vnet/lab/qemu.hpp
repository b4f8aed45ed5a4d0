// vnet/lab/qemu.hpp - boot a vnet guest in QEMU (Linux only).
//
// A guest is the kernel + initramfs from vm-images/build.sh, or build-eflow.sh for the
// eflow profile (guest_profile.hpp, use_profile()), or the user's own pair,
// booted with -kernel/-initrd; its NIC configuration travels on the kernel command line
// (vnet.nicN=..., see vm-images/README.md), each NIC is a QEMU tap netdev attached to an
// existing TAP in the VM's network namespace, the serial console goes to a log file and
// the guest agent's virtio-serial port "org.vnet.agent" to a unix socket (guest_agent.hpp).
//
// qemu_vm owns the QEMU process: it is started inside the given namespace (setns in the
// child before exec) and killed and reaped on destruction; the agent socket is removed.
// TCG is the default accelerator; probe_kvm() tries KVM with a short timeout and
// answers tcg unless a KVM guest really booted.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/core/mutant.hpp>
#include <vnet/io/netns.hpp>
#include <vnet/io/process.hpp>
#include <vnet/lab/guest_agent.hpp>
#include <vnet/lab/guest_profile.hpp>

namespace vnet::lab {

using vnet::to_string;

enum class accel : std::uint8_t { tcg, kvm };

inline constexpr enum_name<accel> accel_names[] = {
    {accel::tcg, "tcg"},
    {accel::kvm, "kvm"},
};
constexpr std::span<const enum_name<accel>> enum_names(accel) noexcept { return accel_names; }

enum class nic_mode : std::uint8_t { none, static_ip, dhcp };

/// The guest's spelling of a NIC mode (vnet.nicN, the host's stored VM settings).
inline constexpr enum_name<nic_mode> nic_mode_names[] = {
    {nic_mode::none, "none"},
    {nic_mode::static_ip, "static"},
    {nic_mode::dhcp, "dhcp"},
};
constexpr std::span<const enum_name<nic_mode>> enum_names(nic_mode) noexcept { return nic_mode_names; }

/// One guest NIC: the host-side TAP it is attached to and the guest's configuration.
struct vm_nic {
    std::string tap;        // TAP name in the VM's namespace (must exist)
    std::string mac;        // "00:15:5d:00:00:10" (also "-" separated or bare hex)
    std::string pool_name;  // non-empty: the host's dynamic MAC, stored under this name (mac_store.hpp)
    std::string model = "virtio-net-pci";
    nic_mode mode = nic_mode::none;
    std::string address;             // static: "192.168.0.100/24"
    std::string gateway;             // optional default gateway
    std::optional<unsigned> metric;  // optional default-route metric (static and dhcp)
    std::vector<std::string> dns;    // static: the servers; dhcp: replace the lease's
};

/// A kernel + initramfs pair.
struct guest_image {
    std::string kernel;
    std::string initrd;

    /// <dir>/vmlinuz and <dir>/initrd.img; errc::not_found when either is missing.
    static result<guest_image> in_dir(std::string_view dir) {
        guest_image g{std::string(dir) + "/vmlinuz", std::string(dir) + "/initrd.img"};
        if (::access(g.kernel.c_str(), R_OK) != 0) return fail(layer::lab, errc::not_found, "image.vmlinuz");
        if (::access(g.initrd.c_str(), R_OK) != 0) return fail(layer::lab, errc::not_found, "image.initrd");
        return g;
    }
};

/// ${VNET_IMAGE_DIR:-/var/cache/vnet/image}
inline std::string default_image_dir() {
    const char* d = std::getenv("VNET_IMAGE_DIR");
    return d && *d ? std::string(d) : std::string("/var/cache/vnet/image");
}

/// Runs <source_dir>/vm-images/build.sh OUT_DIR (a no-op when the cached image is current)
/// and returns the image. On failure the script's stderr goes to *log when given.
inline result<guest_image> build_image(std::string_view source_dir, std::string out_dir = default_image_dir(),
                                       std::string* log = nullptr, std::chrono::milliseconds timeout = std::chrono::minutes(15)) {
    auto script = std::string(source_dir) + "/vm-images/build.sh";
    if (::access(script.c_str(), R_OK) != 0) return fail(layer::lab, errc::not_found, "image.build_script");
    auto r = io::run({"bash", script, out_dir}, {}, timeout);
    if (!r) return unexpected(r.error());
    if (log) *log = r->err;
    if (r->status != 0) return fail(layer::lab, errc::io, "image.build");
    return guest_image::in_dir(out_dir);
}

/// Runs the recipe of `profile` (<source_dir>/vm-images/build.sh or build-eflow.sh) into
/// OUT_DIR (a no-op when the cached image is current) and returns the image.
inline result<guest_image> build_image(std::string_view source_dir, guest_profile profile, std::string out_dir,
                                       std::string* log = nullptr, std::chrono::milliseconds timeout = std::chrono::minutes(15)) {
    auto script = std::string(source_dir) + "/" + std::string(build_script(profile));
    if (::access(script.c_str(), R_OK) != 0) return fail(layer::lab, errc::not_found, "image.build_script");
    auto r = io::run({"bash", script, out_dir}, {}, timeout);
    if (!r) return unexpected(r.error());
    if (log) *log = r->err;
    if (r->status != 0) return fail(layer::lab, errc::io, "image.build");
    return guest_image::in_dir(out_dir);
}

/// Everything needed to boot one guest. (Named apart from lab_file.hpp's vm_config, a
/// [[vm]] of a lab file, so both headers can be used in one translation unit.)
struct qemu_vm_config {
    std::string name;  // QEMU -name; also the hostname unless `hostname` is set
    std::string hostname;
    guest_image image;
    std::vector<vm_nic> nics;
    std::string netns;         // namespace QEMU runs in (where the TAPs are); empty: caller's
    std::string agent_socket;  // unix socket for the agent; empty: no agent channel
    // unix socket of the virtio console (guest /dev/hvc0, a login shell: Connect-EflowVm);
    // empty: none. Needs the agent's virtio-serial bus.
    std::string console_socket;
    // unix socket of QEMU's machine protocol (QMP): NICs hot-plugged into the running VM
    // (Add-EflowVmEndpoint); empty: none
    std::string qmp_socket;
    std::string serial_log;  // console log file; empty: discarded
    std::string qemu_log;    // QEMU's own stdout/stderr; empty: discarded
    lab::accel accel = accel::tcg;
    unsigned memory_mib = 128;
    unsigned cpus = 1;
    /// The start of the kernel command line. cryptomgr.notests skips the crypto self-tests
    /// and acpi=off the ACPI interpreter (PCI interrupts route through the BIOS tables):
    /// together about 1.5 s of a TCG boot. Replace for a kernel that needs ACPI.
    std::string base_append = "console=ttyS0 quiet panic=-1 cryptomgr.notests acpi=off";
    std::string extra_append;  // appended to the kernel command line
    // vnet.apipa=1: a DHCP NIC that gets no lease takes an APIPA address (vm-images/README.md)
    bool apipa = false;
    // vnet.forwarding=bridge|router: the guest bridges its NICs or routes between them
    // (vm-images/README.md); empty: neither
    std::string forwarding;
    std::vector<std::string> extra_args;  // appended to QEMU's argv
    std::string qemu_binary = "qemu-system-x86_64";
    bool die_with_parent = true;  // see io::spawn_options::die_with_parent
};

/// The last PCI slot whose interrupt a guest booted with acpi=off can route: the BIOS's
/// interrupt routing table ends there (a NIC hot-plugged into slot 7 logs "can't find IRQ
/// for PCI INT A" and never comes up).
inline constexpr unsigned last_routed_pci_slot = 6;

/// The PCI slots QEMU fills when it starts `c` (qemu_argv, -nodefaults): the host bridge
/// (0), PIIX3 (1), one per NIC, and the agent's virtio-serial controller. A hot-plugged
/// device takes the next free slot.
inline unsigned pci_slots_at_start(const qemu_vm_config& c) {
    return 2 + static_cast<unsigned>(c.nics.size()) + (c.agent_socket.empty() ? 0u : 1u);
}

/// Prepares `c` to boot `image` of `profile`: the image, the profile's kernel command line
/// start (guest_profile.hpp base_append) and at least the memory the profile needs.
inline void use_profile(qemu_vm_config& c, guest_profile profile, guest_image image) {
    c.image = std::move(image);
    c.base_append = std::string(base_append(profile));
    if (c.memory_mib < min_memory_mib(profile)) c.memory_mib = min_memory_mib(profile);
}

namespace detail {
/// QEMU option values double their commas.
inline std::string qemu_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        out.push_back(c);
        if (c == ',') out.push_back(',');
    }
    return out;
}
inline bool valid_hostname(std::string_view h) {
    if (h.empty() || h.size() > 63 || h.front() == '-') return false;
    for (char c : h)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
    return true;
}
inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}
}  // namespace detail

/// The vnet.nicN value: MAC,MODE,ADDRESS/PREFIX,GATEWAY,METRIC,DNS1+DNS2 (empty fields
/// allowed; MODE is static | dhcp | none).
inline result<std::string> nic_arg(const vm_nic& n) {
    auto mac = mac_address::parse(n.mac);
    if (!mac) return fail(layer::lab, errc::bad_value, "vm.nic.mac");
    const std::string_view mode = to_string(n.mode);
    std::string address;
    if (!n.address.empty()) {
        if (n.mode != nic_mode::static_ip) return fail(layer::lab, errc::conflict, "vm.nic.address");
        if (n.address.find('/') == std::string::npos || !ipv4_prefix::parse(n.address))
            return fail(layer::lab, errc::bad_value, "vm.nic.address");
        address = n.address;
    } else if (n.mode == nic_mode::static_ip) {
        return fail(layer::lab, errc::bad_value, "vm.nic.address");
    }
    if (!n.gateway.empty()) {
        if (n.mode != nic_mode::static_ip) return fail(layer::lab, errc::conflict, "vm.nic.gateway");
        if (!ipv4_address::parse(n.gateway)) return fail(layer::lab, errc::bad_value, "vm.nic.gateway");
    }
    std::string dns;
    for (const auto& d : n.dns) {
        if (!ipv4_address::parse(d)) return fail(layer::lab, errc::bad_value, "vm.nic.dns");
        if (!dns.empty()) dns += '+';
        dns += d;
    }
    return fmt::format("{},{},{},{},{},{}", *mac, mode, address, n.gateway,
                       n.metric                                      ? fmt::format("{}", *n.metric)
                       : mutant::on(mutant::id::guest_metrics_fixed) ? "100"
                                                                     : std::string(),
                       dns);
}

/// The kernel command line for the guest image of vm-images/.
inline result<std::string> kernel_cmdline(const qemu_vm_config& c) {
    auto host = c.hostname.empty() ? c.name : c.hostname;
    if (host.empty()) host = "vnet-guest";
    if (!detail::valid_hostname(host)) return fail(layer::lab, errc::bad_value, "vm.hostname");
    auto s = fmt::format("{}{}vnet.hostname={}", c.base_append, c.base_append.empty() ? "" : " ", host);
    for (std::size_t i = 0; i < c.nics.size(); ++i) {
        auto a = nic_arg(c.nics[i]);
        if (!a) return unexpected(a.error());
        s += fmt::format(" vnet.nic{}={}", i, *a);
    }
    if (c.apipa) s += " vnet.apipa=1";
    if (!c.forwarding.empty()) {
        if (c.forwarding != "bridge" && c.forwarding != "router") return fail(layer::lab, errc::bad_value, "vm.forwarding");
        s += fmt::format(" vnet.forwarding={}", c.forwarding);
    }
    if (!c.extra_append.empty()) s += " " + c.extra_append;
    return s;
}

/// What every lab guest gets beyond its NICs: the tools its agent must not run
/// (VNET_GUEST_HIDE=ping,nc, or mutant agent-cannot-run-ping: a guest that lacks a tool,
/// whose checks must come out as errors, never as observed fails) and mutant
/// guest-firewall-open. Offloads stay as virtio-net negotiates them (QEMU's defaults:
/// checksum offload and TSO both ways): the switch pump carries them through its packet
/// sockets with their virtio-net headers (switch_pump.hpp "Offloads").
inline expected<void, std::string> apply_guest_switches(qemu_vm_config& c) {
    if (mutant::on(mutant::id::agent_cannot_run_ping)) c.extra_append = "vnet.hide=ping";
    if (mutant::on(mutant::id::guest_firewall_open)) c.extra_append += " systemd.mask=iptables.service";
    if (const char* hide = std::getenv("VNET_GUEST_HIDE"); hide && *hide) {
        if (std::string_view(hide).find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789,._-") != std::string_view::npos)
            return unexpected(std::string("VNET_GUEST_HIDE: tool names (a-z 0-9 . _ -) separated by commas"));
        c.extra_append = fmt::format("vnet.hide={}", hide);
    }
    return {};
}

/// QEMU's argv for the configuration (argv[0] is c.qemu_binary).
inline result<std::vector<std::string>> qemu_argv(const qemu_vm_config& c) {
    if (c.image.kernel.empty() || c.image.initrd.empty()) return fail(layer::lab, errc::not_found, "vm.image");
    if (c.memory_mib < 32) return fail(layer::lab, errc::bad_value, "vm.memory_mib");
    if (c.cpus < 1) return fail(layer::lab, errc::bad_value, "vm.cpus");
    auto append = kernel_cmdline(c);
    if (!append) return unexpected(append.error());
    std::vector<std::string> a = {c.qemu_binary};
    if (!c.name.empty()) a.insert(a.end(), {"-name", detail::qemu_escape(c.name)});
    a.insert(a.end(), {"-accel", std::string(to_string(c.accel))});
    if (c.accel == accel::kvm) a.insert(a.end(), {"-cpu", "host"});
    a.insert(a.end(), {"-m", fmt::format("{}", c.memory_mib), "-smp", fmt::format("{}", c.cpus), "-nodefaults", "-no-user-config",
                       "-nographic", "-no-reboot", "-monitor", "none", "-kernel", c.image.kernel, "-initrd", c.image.initrd,
                       "-append", *append});
    if (!c.serial_log.empty())
        a.insert(a.end(),
                 {"-chardev", "file,id=console,path=" + detail::qemu_escape(c.serial_log), "-serial", "chardev:console"});
    else a.insert(a.end(), {"-serial", "null"});
    for (std::size_t i = 0; i < c.nics.size(); ++i) {
        const auto& n = c.nics[i];
        if (!io::detail::valid_name(n.tap, 15)) return fail(layer::lab, errc::bad_value, "vm.nic.tap");
        if (n.model.empty() || n.model.find(',') != std::string::npos) return fail(layer::lab, errc::bad_value, "vm.nic.model");
        auto mac = mac_address::parse(n.mac);
        if (!mac) return fail(layer::lab, errc::bad_value, "vm.nic.mac");
        a.insert(a.end(),
                 {"-netdev", fmt::format("tap,id=net{},ifname={},script=no,downscript=no", i, n.tap), "-device",
                  fmt::format("{},netdev=net{},mac={}{}", n.model, i, *mac, n.model == "virtio-net-pci" ? ",romfile=" : "")});
    }
    if (!c.agent_socket.empty())
        a.insert(a.end(), {"-device", "virtio-serial-pci,id=vser0", "-chardev",
                           "socket,id=agent,path=" + detail::qemu_escape(c.agent_socket) + ",server=on,wait=off", "-device",
                           "virtserialport,bus=vser0.0,chardev=agent,name=org.vnet.agent"});
    if (!c.agent_socket.empty() && !c.console_socket.empty())
        a.insert(a.end(), {"-chardev", "socket,id=vcon,path=" + detail::qemu_escape(c.console_socket) + ",server=on,wait=off",
                           "-device", "virtconsole,bus=vser0.0,chardev=vcon,name=org.vnet.console"});
    if (!c.qmp_socket.empty()) a.insert(a.end(), {"-qmp", "unix:" + detail::qemu_escape(c.qmp_socket) + ",server=on,wait=off"});
    a.insert(a.end(), c.extra_args.begin(), c.extra_args.end());
    return a;
}

/// A running QEMU guest. Move-only; the destructor kills QEMU, reaps it and removes the
/// agent socket.
class qemu_vm {
public:
    using clock = std::chrono::steady_clock;

    qemu_vm() = default;
    qemu_vm(qemu_vm&& o) noexcept : cfg_(std::move(o.cfg_)), proc_(std::move(o.proc_)), started_(o.started_) {
        o.cfg_.agent_socket.clear();
        o.cfg_.console_socket.clear();
        o.cfg_.qmp_socket.clear();
    }
    qemu_vm& operator=(qemu_vm&& o) noexcept {
        if (this != &o) {
            stop();
            cfg_ = std::move(o.cfg_);
            proc_ = std::move(o.proc_);
            started_ = o.started_;
            o.cfg_.agent_socket.clear();
            o.cfg_.console_socket.clear();
            o.cfg_.qmp_socket.clear();
        }
        return *this;
    }
    qemu_vm(const qemu_vm&) = delete;
    qemu_vm& operator=(const qemu_vm&) = delete;
    ~qemu_vm() { stop(); }

    /// Starts QEMU (a stale agent socket at the same path is removed first).
    static result<qemu_vm> start(qemu_vm_config cfg) {
        auto argv = qemu_argv(cfg);
        if (!argv) return unexpected(argv.error());
        if (!cfg.agent_socket.empty()) ::unlink(cfg.agent_socket.c_str());
        if (!cfg.console_socket.empty()) ::unlink(cfg.console_socket.c_str());
        if (!cfg.qmp_socket.empty()) ::unlink(cfg.qmp_socket.c_str());
        io::spawn_options o;
        o.netns = cfg.netns;
        o.stdout_path = cfg.qemu_log;
        o.stderr_path = cfg.qemu_log;
        o.die_with_parent = cfg.die_with_parent;
        auto started = clock::now();
        auto p = io::spawn(*argv, o);
        if (!p) return unexpected(p.error());
        qemu_vm vm;
        vm.cfg_ = std::move(cfg);
        vm.proc_ = std::move(*p);
        vm.started_ = started;
        return vm;
    }

    pid_t pid() const noexcept { return proc_.pid(); }
    const qemu_vm_config& config() const noexcept { return cfg_; }
    clock::time_point started_at() const noexcept { return started_; }
    bool running() { return proc_.running(); }

    /// Waits for QEMU to exit: its exit status, or nullopt when it still runs.
    std::optional<int> wait_for(std::chrono::milliseconds timeout) { return proc_.wait_for(timeout); }

    /// Kills QEMU (SIGTERM, `grace`, SIGKILL), reaps it, removes the agent, console and QMP sockets.
    /// Idempotent; returns QEMU's exit status (-1 when there was none).
    int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0)) {
        int st = proc_.valid() ? proc_.stop(grace) : -1;
        if (!cfg_.agent_socket.empty()) ::unlink(cfg_.agent_socket.c_str());
        if (!cfg_.console_socket.empty()) ::unlink(cfg_.console_socket.c_str());
        if (!cfg_.qmp_socket.empty()) ::unlink(cfg_.qmp_socket.c_str());
        return st;
    }

    /// Connects to the agent socket and waits for the ready banner, both within
    /// `timeout`; fails early (io "agent.guest_exited" / "agent.connection_closed") when
    /// QEMU dies.
    result<agent_client> connect_agent(std::chrono::milliseconds timeout) {
        if (cfg_.agent_socket.empty()) return fail(layer::lab, errc::not_found, "vm.agent_socket");
        auto deadline = clock::now() + timeout;
        auto c = agent_client::connect(cfg_.agent_socket, timeout, [this] { return running(); });
        if (!c) return unexpected(c.error());
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        auto r = c->wait_ready(std::max(left, std::chrono::milliseconds(1)));
        if (!r) return unexpected(r.error());
        return std::move(*c);
    }

    /// The serial console log so far (empty when there is none).
    std::string serial_text() const { return cfg_.serial_log.empty() ? std::string() : detail::read_file(cfg_.serial_log); }
    /// QEMU's own output so far (empty when there is none).
    std::string qemu_text() const { return cfg_.qemu_log.empty() ? std::string() : detail::read_file(cfg_.qemu_log); }

private:
    qemu_vm_config cfg_;
    io::child proc_;
    clock::time_point started_{};
};

/// The outcome of probe_kvm().
struct kvm_probe {
    lab::accel accel = accel::tcg;
    std::string reason;  // why TCG was chosen, or "kvm guest booted in N ms"
};

/// Boots `image` once with KVM (no NICs, kernel argument vnet.probe=1: the vm-images /init
/// prints "vnet-probe: ok" and reboots, which ends QEMU because of -no-reboot). Answers kvm only when that marker appears
/// before `timeout`; otherwise tcg with the reason. Never fails.
inline kvm_probe probe_kvm(const guest_image& image, std::chrono::milliseconds timeout = std::chrono::seconds(8),
                           const std::string& qemu_binary = "qemu-system-x86_64") {
    int kfd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kfd < 0) return {accel::tcg, fmt::format("/dev/kvm: {}", std::strerror(errno))};
    ::close(kfd);
    char log[] = "/tmp/vnet-kvm-probe.XXXXXX";
    int lfd = ::mkstemp(log);
    if (lfd < 0) return {accel::tcg, "cannot create a temporary log file"};
    ::close(lfd);
    qemu_vm_config c;
    c.name = "vnet-kvm-probe";
    c.image = image;
    c.accel = accel::kvm;
    c.serial_log = log;
    c.extra_append = "vnet.probe=1";
    c.qemu_binary = qemu_binary;
    kvm_probe out{accel::tcg, ""};
    auto t0 = std::chrono::steady_clock::now();
    auto vm = qemu_vm::start(c);
    if (!vm) {
        out.reason = "cannot start QEMU: " + vm.error().message();
    } else {
        auto st = vm->wait_for(timeout);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
        bool marker = vm->serial_text().find("vnet-probe: ok") != std::string::npos;
        if (!st) out.reason = fmt::format("no KVM guest boot within {} ms", timeout.count());
        else if (!marker) out.reason = fmt::format("QEMU with KVM exited with status {} before the guest booted", *st);
        else out = {accel::kvm, fmt::format("kvm guest booted in {} ms", ms.count())};
    }
    ::unlink(log);
    return out;
}

}  // namespace vnet::lab
