// vnet/lab/qmp.hpp - a client of QEMU's machine protocol (QMP) on a unix socket: what a
// running lab needs to hot-plug a NIC into a VM (Add-EflowVmEndpoint).
//
// QMP (qemu.org docs/interop/qmp-spec) is one JSON object per line. On connection the
// server greets with {"QMP": {...}}; the client enters command mode with
// qmp_capabilities; every command is answered by {"return": ...} or
// {"error": {"class": ..., "desc": ...}}, and asynchronous {"event": ...} lines may come
// in between. The commands used here: netdev_add (a TAP backend by interface name) and
// device_add (a virtio-net-pci device on it with the NIC's MAC).
#pragma once

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/expected.hpp>

namespace vnet::lab {

/// A QMP command line: {"execute": NAME, "arguments": {K: V, ...}} with string values
/// (JSON-escaped), newline-terminated.
inline std::string qmp_command(std::string_view name, const std::vector<std::pair<std::string, std::string>>& args = {}) {
    auto quote = [](std::string_view s) {
        std::string o = "\"";
        for (char c : s) {
            if (c == '"' || c == '\\') o += '\\';
            if (static_cast<unsigned char>(c) < 0x20) o += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
            else o += c;
        }
        return o + "\"";
    };
    std::string out = "{\"execute\": " + quote(name);
    if (!args.empty()) {
        out += ", \"arguments\": {";
        for (std::size_t i = 0; i < args.size(); ++i)
            out += (i ? ", " : "") + quote(args[i].first) + ": " + quote(args[i].second);
        out += "}";
    }
    return out + "}\n";
}

/// What one line from the server is: nullopt for anything but an answer (the greeting, an
/// event); an empty string for {"return": ...}; the error's "desc" (or the whole line when
/// it has none) for {"error": ...}.
inline std::optional<std::string> qmp_answer(std::string_view line) {
    auto key = [&](std::string_view k) { return line.find(fmt::format("\"{}\"", k)); };
    const auto ret = key("return"), err = key("error"), ev = key("event");
    if (ev != std::string_view::npos && (ret == std::string_view::npos || ev < ret) &&
        (err == std::string_view::npos || ev < err))
        return std::nullopt;
    if (err != std::string_view::npos && (ret == std::string_view::npos || err < ret)) {
        auto d = line.find("\"desc\"", err);
        if (d == std::string_view::npos) return std::string(line);
        auto q = line.find('"', line.find(':', d) + 1);
        std::string desc;
        for (auto i = q + 1; q != std::string_view::npos && i < line.size() && line[i] != '"'; ++i) {
            if (line[i] == '\\' && i + 1 < line.size()) ++i;
            desc += line[i];
        }
        return desc.empty() ? std::string(line) : desc;
    }
    if (ret != std::string_view::npos) return std::string();
    return std::nullopt;
}

class qmp_client {
public:
    using clock = std::chrono::steady_clock;

    /// Connects, reads the greeting and enters command mode, within timeout.
    static expected<qmp_client, std::string> connect(const std::string& path, std::chrono::milliseconds timeout) {
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        if (path.empty() || path.size() >= sizeof sa.sun_path) return unexpected(fmt::format("bad QMP socket path '{}'", path));
        std::memcpy(sa.sun_path, path.data(), path.size());
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return unexpected(fmt::format("QMP socket: {}", std::strerror(errno)));
        qmp_client c(fd);
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0)
            return unexpected(fmt::format("cannot connect to QEMU's QMP socket {}: {}", path, std::strerror(errno)));
        const auto deadline = clock::now() + timeout;
        auto greeting = c.read_line(deadline);
        if (!greeting) return unexpected(greeting.error());
        if (greeting->find("\"QMP\"") == std::string::npos) return unexpected(fmt::format("not a QMP greeting: {}", *greeting));
        if (auto r = c.execute(qmp_command("qmp_capabilities"), timeout); !r) return unexpected(r.error());
        return c;
    }

    qmp_client(qmp_client&& o) noexcept : fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)) {}
    qmp_client& operator=(qmp_client&& o) noexcept {
        if (this != &o) {
            if (fd_ >= 0) ::close(fd_);
            fd_ = std::exchange(o.fd_, -1);
            buf_ = std::move(o.buf_);
        }
        return *this;
    }
    qmp_client(const qmp_client&) = delete;
    qmp_client& operator=(const qmp_client&) = delete;
    ~qmp_client() {
        if (fd_ >= 0) ::close(fd_);
    }

    /// Sends one command line (qmp_command) and waits for its answer; the error is QEMU's
    /// description of why it refused.
    expected<void, std::string> execute(const std::string& command, std::chrono::milliseconds timeout) {
        const auto deadline = clock::now() + timeout;
        for (std::size_t off = 0; off < command.size();) {
            auto n = ::send(fd_, command.data() + off, command.size() - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return unexpected(fmt::format("QMP send: {}", std::strerror(errno)));
            off += static_cast<std::size_t>(n);
        }
        for (;;) {
            auto line = read_line(deadline);
            if (!line) return unexpected(line.error());
            auto a = qmp_answer(*line);
            if (!a) continue;  // an event
            if (!a->empty()) return unexpected(*a);
            return {};
        }
    }

private:
    explicit qmp_client(int fd) noexcept : fd_(fd) {}

    expected<std::string, std::string> read_line(clock::time_point deadline) {
        for (;;) {
            if (auto nl = buf_.find('\n'); nl != std::string::npos) {
                auto line = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                return line;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
            if (left <= 0) return unexpected(std::string("QEMU did not answer on QMP in time"));
            pollfd p{fd_, POLLIN, 0};
            int r = ::poll(&p, 1, static_cast<int>(left));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) continue;
            char tmp[4096];
            auto n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return unexpected(std::string("QEMU closed the QMP connection"));
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
    }

    int fd_ = -1;
    std::string buf_;
};

}  // namespace vnet::lab
