// vnet/io/tap.hpp - TAP devices with RAII (Linux only, needs CAP_NET_ADMIN).
//
// tap::create(netns, name) makes a TAP device inside a named network namespace (empty:
// the caller's) with ioctl(TUNSETIFF, IFF_TAP | IFF_NO_PI).
//   persistent = true:  TUNSETPERSIST, the fd is closed; a program such as QEMU attaches
//                       later by name (-netdev tap,ifname=NAME). Destruction re-attaches
//                       and clears the persist flag, which deletes the device.
//   persistent = false: this object holds the fd (fd() reads and writes frames); the
//                       device disappears when the object is destroyed.
//   tun = true:         a TUN device instead (IFF_TUN: fd() reads and writes IP packets
//                       without a link header); held only (persistent = false).
// A TAP also disappears with its namespace.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <vnet/core/error.hpp>
#include <vnet/io/netns.hpp>

namespace vnet::io {

struct tap_options {
    bool persistent = true;  // see the header comment
    bool up = true;          // set IFF_UP after creation
    bool tun = false;        // IFF_TUN (IP packets) instead of IFF_TAP (frames); needs persistent = false
};

class tap {
public:
    tap() = default;
    tap(const tap&) = delete;
    tap& operator=(const tap&) = delete;
    tap(tap&& o) noexcept
            : netns_(std::exchange(o.netns_, {})),
              name_(std::exchange(o.name_, {})),
              fd_(std::exchange(o.fd_, -1)),
              persistent_(o.persistent_) {}
    tap& operator=(tap&& o) noexcept {
        if (this != &o) {
            (void)remove();
            netns_ = std::exchange(o.netns_, {});
            name_ = std::exchange(o.name_, {});
            fd_ = std::exchange(o.fd_, -1);
            persistent_ = o.persistent_;
        }
        return *this;
    }
    ~tap() { (void)remove(); }

    /// Creates TAP `name` (1-15 characters) in namespace `netns_name`; errc::conflict when
    /// an interface of that name exists there already.
    static result<tap> create(std::string_view netns_name, std::string_view name, tap_options opt = {}) {
        if (!detail::valid_name(name, IFNAMSIZ - 1)) return fail(layer::io, errc::bad_value, "tap.name");
        if (opt.tun && opt.persistent) return fail(layer::io, errc::bad_value, "tap.tun_persistent");
        std::string ifname(name);
        auto fd = in_netns(netns_name, [&]() -> result<int> {
            if (::if_nametoindex(ifname.c_str()) != 0) return fail(layer::io, errc::conflict, "tap.name");
            int f = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
            if (f < 0) return fail(layer::io, errno == ENOENT ? errc::not_found : errc::io, "tap.dev_net_tun");
            ifreq ifr{};
            ifr.ifr_flags = static_cast<short>((opt.tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI);
            std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
            if (::ioctl(f, TUNSETIFF, &ifr) != 0) {
                int e = errno;
                ::close(f);
                return fail(layer::io, e == EBUSY ? errc::conflict : errc::io, "tap.tunsetiff");
            }
            if (opt.persistent && ::ioctl(f, TUNSETPERSIST, 1) != 0) {
                ::close(f);
                return fail(layer::io, errc::io, "tap.tunsetpersist");
            }
            if (opt.up) {
                if (auto u = detail::set_link_up(ifname); !u) {
                    if (opt.persistent) ::ioctl(f, TUNSETPERSIST, 0);
                    ::close(f);
                    return unexpected(u.error());
                }
            }
            if (opt.persistent) {
                ::close(f);
                return -1;
            }
            return f;
        });
        if (!fd) return unexpected(fd.error());
        tap t;
        t.netns_ = std::string(netns_name);
        t.name_ = std::move(ifname);
        t.fd_ = *fd;
        t.persistent_ = opt.persistent;
        return t;
    }

    /// Deletes a persistent TAP by name. Fine when it (or its namespace) no longer exists;
    /// errc::conflict while a program (QEMU) is attached to it.
    static result<void> remove(std::string_view netns_name, std::string_view name) {
        if (!detail::valid_name(name, IFNAMSIZ - 1)) return fail(layer::io, errc::bad_value, "tap.name");
        if (!netns_name.empty() && ::access(netns_path(netns_name).c_str(), F_OK) != 0) return {};
        std::string ifname(name);
        return in_netns(netns_name, [&]() -> result<void> {
            if (::if_nametoindex(ifname.c_str()) == 0) return {};
            int f = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
            if (f < 0) return fail(layer::io, errc::io, "tap.dev_net_tun");
            ifreq ifr{};
            ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
            std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
            if (::ioctl(f, TUNSETIFF, &ifr) != 0) {
                int e = errno;
                ::close(f);
                return fail(layer::io, e == EBUSY ? errc::conflict : errc::io, "tap.tunsetiff");
            }
            int r = ::ioctl(f, TUNSETPERSIST, 0);
            ::close(f);
            if (r != 0) return fail(layer::io, errc::io, "tap.tunsetpersist");
            return {};
        });
    }

    const std::string& name() const noexcept { return name_; }
    const std::string& netns() const noexcept { return netns_; }
    /// The frame fd of a non-persistent TAP, else -1.
    int fd() const noexcept { return fd_; }
    bool valid() const noexcept { return !name_.empty(); }

    /// Deletes the device now (idempotent).
    result<void> remove() {
        if (name_.empty()) return {};
        result<void> r;
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        } else if (persistent_) {
            r = remove(netns_, name_);
        }
        name_.clear();
        netns_.clear();
        return r;
    }

private:
    std::string netns_;
    std::string name_;
    int fd_ = -1;
    bool persistent_ = true;
};

}  // namespace vnet::io
