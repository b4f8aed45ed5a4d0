// tools/vnet/run_control.hpp - what every long-running vnet command shares: how it answers
// SIGINT, SIGTERM and SIGHUP, and how it writes a report file.
//
// The first stop signal is recorded and nothing else happens in the handler: blocking calls
// return EINTR (no SA_RESTART) and the command's loop sees stop_requested(), tears its lab
// down and exits. A second signal exits at once with 128 + its number, for a teardown that
// hangs. SIGPIPE is ignored so that a closed pipe is an error value, not a death.
#pragma once

#include <atomic>
#include <csignal>
#include <fstream>
#include <string>

#include <signal.h>
#include <unistd.h>

namespace vnet::cli {

namespace detail {
inline std::atomic<int> stop_signals{0};
inline std::atomic<int> last_stop_signal{0};

extern "C" inline void on_stop_signal(int sig) {
    last_stop_signal = sig;
    if (stop_signals.fetch_add(1) >= 1) ::_exit(128 + sig);  // second signal: force
}
}  // namespace detail

/// The signals that ask a command to stop: interrupt, terminate and a closed terminal.
inline constexpr int stop_signal_numbers[] = {SIGINT, SIGTERM, SIGHUP};

inline void install_stop_signals() {
    struct sigaction sa {};
    sa.sa_handler = detail::on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: blocking calls see EINTR
    for (int s : stop_signal_numbers) ::sigaction(s, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

/// True once a stop signal has arrived.
inline bool stop_requested() noexcept { return detail::stop_signals.load() > 0; }
/// The first stop signal's number, 0 before one arrived.
inline int stop_signal() noexcept { return detail::last_stop_signal.load(); }

/// Writes `text` to `path` (replacing it); false when it could not be written whole.
inline bool write_text(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    f.close();
    return !f.fail();
}

}  // namespace vnet::cli
