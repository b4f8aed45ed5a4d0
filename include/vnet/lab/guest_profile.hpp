// vnet/lab/guest_profile.hpp - which guest operating system a lab VM boots.
//
// busybox: the small initramfs of vm-images/build.sh (fast; /init configures the NICs).
// eflow:   the EFLOW-like guest of vm-images/build-eflow.sh: systemd as init,
//          systemd-networkd with .network files under /etc/systemd/network/,
//          systemd-resolved with 127.0.0.53 as the only entry of /etc/resolv.conf and
//          per-link DNS servers, one default route per ethX with a random metric drawn by
//          the guest at every boot, and an inbound iptables policy (docs/eflow-facts.md,
//          [NW] "DNS", [TS] "Check IP addresses", [RT]). Slower to boot, for the rows whose rule is about
//          the VM's own operating system.
// Both take the same kernel command line (vnet.nicN=...) and serve the same guest agent.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <vnet/core/enum_names.hpp>

namespace vnet::lab {

enum class guest_profile : std::uint8_t { busybox, eflow };

inline constexpr enum_name<guest_profile> guest_profile_names[] = {{guest_profile::busybox, "busybox"},
                                                                   {guest_profile::eflow, "eflow"}};
constexpr std::span<const enum_name<guest_profile>> enum_names(guest_profile) noexcept { return guest_profile_names; }
using vnet::to_string;

/// "busybox" | "eflow"; nullopt for anything else.
constexpr std::optional<guest_profile> parse_guest_profile(std::string_view s) noexcept { return parse_enum<guest_profile>(s); }

/// The image recipe of a profile, relative to the source tree.
constexpr std::string_view build_script(guest_profile p) noexcept {
    return p == guest_profile::eflow ? "vm-images/build-eflow.sh" : "vm-images/build.sh";
}

/// Where a profile's image is cached: ${VNET_IMAGE_DIR:-/var/cache/vnet/image} for busybox,
/// ${VNET_EFLOW_IMAGE_DIR:-/var/cache/vnet/image-eflow} for eflow.
inline std::string default_image_dir(guest_profile p) {
    const bool eflow = p == guest_profile::eflow;
    const char* d = std::getenv(eflow ? "VNET_EFLOW_IMAGE_DIR" : "VNET_IMAGE_DIR");
    if (d && *d) return d;
    return eflow ? "/var/cache/vnet/image-eflow" : "/var/cache/vnet/image";
}

/// Guest memory a profile needs at least. The eflow initramfs unpacks to about 150 MiB
/// into the kernel's rootfs, a tmpfs limited to half of the guest's memory: with 512 MiB
/// the unpacking fails ("Initramfs unpacking failed: write error").
constexpr unsigned min_memory_mib(guest_profile p) noexcept { return p == guest_profile::eflow ? 768 : 128; }

/// The start of the kernel command line for a profile (qemu_vm_config::base_append).
/// busybox: cryptomgr.notests and acpi=off save about 1.5 s of a TCG boot
/// (vm-images/README.md, "Boot time"). eflow adds net.ifnames=0 (NICs keep the kernel's
/// ethN names; the .link files of the guest pin them to their MACs) and keeps systemd's
/// status lines off the console.
constexpr std::string_view base_append(guest_profile p) noexcept {
    return p == guest_profile::eflow
               ? "console=ttyS0 quiet panic=-1 cryptomgr.notests acpi=off net.ifnames=0 systemd.show_status=0 "
                 "rd.udev.log_level=3"
               : "console=ttyS0 quiet panic=-1 cryptomgr.notests acpi=off";
}

}  // namespace vnet::lab
