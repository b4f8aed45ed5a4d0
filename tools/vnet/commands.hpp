// The vnet command's subcommands. Each returns the process exit status:
// 0 success, 1 a check observed something other than what it expected, 2 bad input.
#pragma once

#include <string>

#include <fmt/format.h>

namespace vnet::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_check_failed = 1;
inline constexpr int exit_bad_input = 2;

/// "vnet: <what>: <why>" on stderr.
inline int report_error(const std::string& what, const std::string& why, int status = exit_bad_input) {
    fmt::print(stderr, "vnet: {}: {}\n", what, why);
    return status;
}

struct decode_options {
    std::string file;
    bool json = false;
    bool compare_tshark = false;
};
int run_decode(const decode_options& o);
/// Decodes with vnet and with tshark and compares every field both name (exit 1 on any difference).
int run_compare_tshark(const decode_options& o);

struct graph_options {
    std::string file;
};
int run_lab_graph(const graph_options& o);

}  // namespace vnet::cli
