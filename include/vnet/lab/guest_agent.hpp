// vnet/lab/guest_agent.hpp - client of the vnet guest agent (vm-images/guest/agent).
//
// The agent listens on the virtio-serial port "org.vnet.agent", which QEMU exposes on the
// host as a unix socket (lab/qemu.hpp). The protocol is line framed, one request and one
// reply per line, every free-form field base64 encoded, so no byte of a command or its
// output can break the framing:
//
//   host -> guest   <id> hello
//                   <id> run <timeout-seconds> <base64 command | ->
//   guest -> host   0 ready <banner>                         on every (re)connection
//                   <id> ready <banner>                      answer to hello
//                   <id> done <status> <b64 stdout|-> <b64 stderr|->
//                   <id> timeout <status> <b64 stdout|-> <b64 stderr|->
//                   <id> error <reason>                      request not understood
//
// "-" is an empty field. The guest runs each command with `sh -c` under `timeout -s KILL`
// and answers in order; a reply whose id is not the one awaited (a late answer to a
// request the client gave up on, the banner) is skipped, as is a line that does not parse
// and does not carry the awaited id.
//
// Every failure is an error value (layer::lab): socket missing, connection closed (the
// guest or QEMU died), no reply before the deadline, command killed by the guest-side
// timeout, malformed reply. Nothing blocks past the deadline given.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vnet/core/error.hpp>

namespace vnet::lab {

namespace agent_proto {

inline constexpr std::string_view b64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

inline std::string base64_encode(std::string_view in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto u = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[k])); };
    for (; i + 3 <= in.size(); i += 3) {
        std::uint32_t v = (u(i) << 16) | (u(i + 1) << 8) | u(i + 2);
        for (int s = 18; s >= 0; s -= 6) out.push_back(b64_alphabet[(v >> s) & 63]);
    }
    if (std::size_t rest = in.size() - i; rest > 0) {
        std::uint32_t v = u(i) << 16;
        if (rest == 2) v |= u(i + 1) << 8;
        out.push_back(b64_alphabet[(v >> 18) & 63]);
        out.push_back(b64_alphabet[(v >> 12) & 63]);
        out.push_back(rest == 2 ? b64_alphabet[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

/// Strict RFC 4648 decoding (padding required, no whitespace).
inline result<std::string> base64_decode(std::string_view in) {
    if (in.size() % 4 != 0) return fail(layer::lab, errc::bad_length, "agent.base64");
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    out.reserve(in.size() / 4 * 3);
    for (std::size_t i = 0; i < in.size(); i += 4) {
        bool last = i + 4 == in.size();
        int pad = 0;
        if (last && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
        std::uint32_t v = 0;
        for (int k = 0; k < 4; ++k) {
            int d = 0;
            if (k < 4 - pad) {
                d = val(in[i + static_cast<std::size_t>(k)]);
                if (d < 0) return fail(layer::lab, errc::bad_value, "agent.base64");
            }
            v = (v << 6) | static_cast<std::uint32_t>(d);
        }
        out.push_back(static_cast<char>((v >> 16) & 0xff));
        if (pad < 2) out.push_back(static_cast<char>((v >> 8) & 0xff));
        if (pad < 1) out.push_back(static_cast<char>(v & 0xff));
    }
    return out;
}

inline std::string encode_field(std::string_view s) { return s.empty() ? std::string("-") : base64_encode(s); }

inline result<std::string> decode_field(std::string_view s) {
    if (s == "-") return std::string();
    return base64_decode(s);
}

inline std::string hello_request(std::uint64_t id) { return fmt::format("{} hello\n", id); }

inline std::string run_request(std::uint64_t id, unsigned timeout_seconds, std::string_view command) {
    return fmt::format("{} run {} {}\n", id, timeout_seconds, encode_field(command));
}

enum class reply_kind : std::uint8_t { ready, done, timeout, error };

struct reply {
    std::uint64_t id = 0;
    reply_kind kind = reply_kind::error;
    int status = -1;   // done / timeout
    std::string out;   // done / timeout: decoded stdout
    std::string err;   // done / timeout: decoded stderr
    std::string text;  // ready: the banner; error: the reason
};

namespace detail {
inline std::string_view next_token(std::string_view& s) {
    auto sp = s.find(' ');
    auto tok = s.substr(0, sp);
    s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp + 1);
    return tok;
}
inline std::optional<std::uint64_t> parse_uint(std::string_view s, std::uint64_t max) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (max - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}
}  // namespace detail

/// The id at the start of a line, if it has one (used to tell garbage from a bad reply).
inline std::optional<std::uint64_t> line_id(std::string_view line) {
    return detail::parse_uint(detail::next_token(line), UINT64_MAX);
}

/// Parses one reply line (without the newline).
inline result<reply> parse_reply(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    reply r;
    auto id = detail::parse_uint(detail::next_token(line), UINT64_MAX);
    if (!id) return fail(layer::lab, errc::bad_value, "agent.reply_id");
    r.id = *id;
    auto kind = detail::next_token(line);
    if (kind == "ready" || kind == "error") {
        r.kind = kind == "ready" ? reply_kind::ready : reply_kind::error;
        r.text = std::string(line);
        return r;
    }
    if (kind != "done" && kind != "timeout") return fail(layer::lab, errc::bad_value, "agent.reply_kind");
    r.kind = kind == "done" ? reply_kind::done : reply_kind::timeout;
    auto st = detail::parse_uint(detail::next_token(line), 65535);
    if (!st) return fail(layer::lab, errc::bad_value, "agent.reply_status");
    r.status = static_cast<int>(*st);
    auto out = detail::next_token(line);
    auto err = detail::next_token(line);
    if (out.empty() || err.empty() || !line.empty()) return fail(layer::lab, errc::bad_value, "agent.reply_fields");
    auto o = decode_field(out);
    if (!o) return unexpected(o.error());
    auto e = decode_field(err);
    if (!e) return unexpected(e.error());
    r.out = std::move(*o);
    r.err = std::move(*e);
    return r;
}

}  // namespace agent_proto

/// What a command did in the guest.
struct command_result {
    int exit_status = -1;                  // the command's exit code (128 + signal when killed)
    std::string out;                       // stdout
    std::string err;                       // stderr
    std::chrono::milliseconds elapsed{0};  // round trip seen by the host
    bool ok() const noexcept { return exit_status == 0; }
};

/// A connection to one guest agent. Move-only; closes the socket on destruction.
/// Not thread-safe: one request at a time per client.
class agent_client {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::size_t max_line = 64u << 20;

    agent_client() = default;
    /// Takes ownership of a connected stream socket (or one end of a socketpair).
    explicit agent_client(int fd) noexcept : fd_(fd) {}
    agent_client(const agent_client&) = delete;
    agent_client& operator=(const agent_client&) = delete;
    agent_client(agent_client&& o) noexcept
            : fd_(std::exchange(o.fd_, -1)),
              next_id_(o.next_id_),
              grace_(o.grace_),
              buf_(std::move(o.buf_)),
              scanned_(std::exchange(o.scanned_, 0)) {}
    agent_client& operator=(agent_client&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = std::exchange(o.fd_, -1);
            next_id_ = o.next_id_;
            grace_ = o.grace_;
            buf_ = std::move(o.buf_);
            scanned_ = std::exchange(o.scanned_, 0);
        }
        return *this;
    }
    ~agent_client() { close(); }

    /// Connects to the unix socket at `path`, retrying while it does not exist or refuses,
    /// until `timeout`. `alive` (optional) is polled between attempts: when it returns
    /// false (QEMU exited) the wait ends at once with io "agent.guest_exited".
    static result<agent_client> connect(const std::string& path, std::chrono::milliseconds timeout,
                                        const std::function<bool()>& alive = {}) {
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        if (path.empty() || path.size() >= sizeof sa.sun_path) return fail(layer::lab, errc::bad_value, "agent.socket_path");
        std::memcpy(sa.sun_path, path.data(), path.size());
        auto deadline = clock::now() + timeout;
        bool seen = false;
        for (;;) {
            int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) return fail(layer::lab, errc::io, "agent.socket");
            if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0) return agent_client(fd);
            int e = errno;
            ::close(fd);
            if (e != ENOENT && e != ECONNREFUSED && e != EAGAIN && e != EINTR) return fail(layer::lab, errc::io, "agent.connect");
            seen = seen || e != ENOENT;
            if (alive && !alive()) return fail(layer::lab, errc::io, "agent.guest_exited");
            if (clock::now() >= deadline)
                return fail(layer::lab, seen ? errc::io : errc::not_found, seen ? "agent.connect" : "agent.socket");
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    bool connected() const noexcept { return fd_ >= 0; }
    int fd() const noexcept { return fd_; }

    /// Extra time the client waits beyond a command's own timeout before it gives up on
    /// the reply (covers the round trip and a slow TCG guest). Default 5 s.
    void set_reply_grace(std::chrono::milliseconds g) noexcept { grace_ = g; }

    /// Waits for the agent's ready banner (sent on connection, or as the answer to the
    /// hello this sends). Returns the banner text, e.g. "vnet-agent/1 2.41".
    result<std::string> wait_ready(std::chrono::milliseconds timeout) {
        auto deadline = clock::now() + timeout;
        auto id = next_id_++;
        if (auto w = send_all(agent_proto::hello_request(id), deadline); !w) return unexpected(w.error());
        for (;;) {
            auto line = read_line(deadline);
            if (!line) return unexpected(line.error());
            auto r = agent_proto::parse_reply(*line);
            if (r && r->kind == agent_proto::reply_kind::ready && (r->id == 0 || r->id == id)) return r->text;
        }
    }

    /// Runs `command` with `sh -c` in the guest. The guest kills it after `timeout`
    /// (rounded up to whole seconds, at least 1 s): io "agent.command_timeout". No reply
    /// within timeout + grace: io "agent.reply_timeout".
    result<command_result> run(std::string_view command, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        auto start = clock::now();
        auto secs = static_cast<unsigned>(std::max<long long>(1, (timeout.count() + 999) / 1000));
        auto deadline = start + timeout + grace_;
        auto id = next_id_++;
        if (auto w = send_all(agent_proto::run_request(id, secs, command), deadline); !w) return unexpected(w.error());
        for (;;) {
            auto line = read_line(deadline);
            if (!line) return unexpected(line.error());
            auto r = agent_proto::parse_reply(*line);
            if (!r) {
                if (agent_proto::line_id(*line) == id) return fail(layer::lab, errc::bad_value, "agent.reply");
                continue;  // garbage or a late reply we cannot read: not ours
            }
            if (r->id != id) continue;
            switch (r->kind) {
                case agent_proto::reply_kind::done: {
                    command_result c;
                    c.exit_status = r->status;
                    c.out = std::move(r->out);
                    c.err = std::move(r->err);
                    c.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
                    return c;
                }
                case agent_proto::reply_kind::timeout: return fail(layer::lab, errc::io, "agent.command_timeout");
                case agent_proto::reply_kind::error: return fail(layer::lab, errc::bad_value, "agent.request");
                case agent_proto::reply_kind::ready: return fail(layer::lab, errc::bad_value, "agent.reply");
            }
        }
    }

    void close() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buf_.clear();
        scanned_ = 0;
    }

private:
    static int ms_left(clock::time_point deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) return 0;
        return left > 60'000 ? 60'000 : static_cast<int>(left);
    }

    result<void> send_all(std::string_view data, clock::time_point deadline) {
        if (fd_ < 0) return fail(layer::lab, errc::io, "agent.connection_closed");
        while (!data.empty()) {
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                data.remove_prefix(static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                pollfd p{fd_, POLLOUT, 0};
                int t = ms_left(deadline);
                if (t == 0) return fail(layer::lab, errc::io, "agent.write_timeout");
                if (::poll(&p, 1, t) < 0 && errno != EINTR) return fail(layer::lab, errc::io, "agent.poll");
                continue;
            }
            if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return fail(layer::lab, errc::io, "agent.connection_closed");
            return fail(layer::lab, errc::io, "agent.write");
        }
        return {};
    }

    result<std::string> read_line(clock::time_point deadline) {
        if (fd_ < 0) return fail(layer::lab, errc::io, "agent.connection_closed");
        for (;;) {
            if (auto nl = buf_.find('\n', scanned_); nl != std::string::npos) {
                std::string line = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                scanned_ = 0;
                return line;
            }
            scanned_ = buf_.size();  // never scan the same bytes twice (long replies)
            if (buf_.size() > max_line) return fail(layer::lab, errc::too_long, "agent.reply");
            int t = ms_left(deadline);
            if (t == 0) return fail(layer::lab, errc::io, "agent.reply_timeout");
            pollfd p{fd_, POLLIN, 0};
            int k = ::poll(&p, 1, t);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) return fail(layer::lab, errc::io, "agent.poll");
            if (k == 0) continue;
            char chunk[65536];
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n > 0) {
                buf_.append(chunk, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
            if (n == 0 || errno == ECONNRESET) return fail(layer::lab, errc::io, "agent.connection_closed");
            return fail(layer::lab, errc::io, "agent.read");
        }
    }

    int fd_ = -1;
    std::uint64_t next_id_ = 1;
    std::chrono::milliseconds grace_{5000};
    std::string buf_;
    std::size_t scanned_ = 0;
};

}  // namespace vnet::lab
