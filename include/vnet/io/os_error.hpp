// vnet/io/os_error.hpp - error values for failed system calls, with the errno text.
//
// vnet::error holds its field as a string_view that must outlive the error (a literal).
// A syscall failure should also say *why* ("No such device"), so os_fail() interns the
// text "<call> (<ENAME>: <description>)" once per distinct (call, errno) pair for the
// lifetime of the process and uses it as the field:
//     "io.packet_socket.bind (ENODEV: No such device): not found"
// The set of pairs is bounded by the call sites times the errno values, so the interned
// storage stays small; interning happens on failure paths only.
#pragma once

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <vnet/core/error.hpp>

namespace vnet::io {

/// The vnet reason for an errno value.
constexpr errc errc_from_errno(int e) noexcept {
    switch (e) {
        case ENOENT:
        case ENODEV:
        case ENXIO:
        case ESRCH: return errc::not_found;
        case EEXIST:
        case EBUSY:
        case EADDRINUSE: return errc::conflict;
        case ENOMEM:
        case ENOBUFS:
        case ENOSPC:
        case EMFILE:
        case ENFILE: return errc::exhausted;
        case EINVAL:
        case ERANGE: return errc::bad_value;
        case EMSGSIZE:
        case ENAMETOOLONG: return errc::too_long;
        case EOPNOTSUPP:
        case EPROTONOSUPPORT:
        case EAFNOSUPPORT: return errc::unsupported;
        default: return errc::io;
    }
}

/// "<what> (<ENAME>: <description>)", stored for the lifetime of the process.
inline std::string_view errno_field(std::string_view what, int e) {
    static std::mutex m;
    static std::set<std::string, std::less<>> interned;
    const char* name = ::strerrorname_np(e);
    const char* desc = ::strerrordesc_np(e);
    auto text = fmt::format("{} ({}: {})", what, name ? name : "errno", desc ? desc : "unknown error");
    std::lock_guard<std::mutex> lock(m);
    return *interned.insert(std::move(text)).first;
}

/// An io-layer error for a failed call; `what` names the call ("packet_socket.bind").
inline unexpected<error> os_fail(std::string_view what, int e) {
    return unexpected<error>(error{layer::io, errc_from_errno(e), errno_field(what, e)});
}

}  // namespace vnet::io
