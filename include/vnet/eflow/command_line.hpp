// vnet/eflow/command_line.hpp - the EFLOW PowerShell commands as the user types them.
//
//   Deploy-Eflow -vSwitchName "ExternalEflow" -vswitchType "External" -ip4Address 192.168.0.100
//       -ip4GatewayAddress 192.168.0.1 -ip4PrefixLength 24          ([NW], "Static IP")
//   Set-EflowVmDnsServers -vendpointName "eth0" -dnsServers @("10.0.0.1", "10.0.0.2")
//
// The verbs and parameter names are those of docs/eflow-facts.md "Deployment cmdlets [FN]";
// names compare case-insensitively as in PowerShell. Values stay text: validation
// (deploy.hpp) decides what is a valid address or prefix length, so invalid input can be
// tested exactly as the user would type it. A parameter is "-name value" or "-name:value";
// values may be quoted with "..." or '...'; an array is "a,b,c" or @("a","b").
// Parameters vnet does not model are kept in `unmodelled` (validation reports them as a
// warning) rather than refused, because Deploy-Eflow has many more (CPU, memory, disk).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/expected.hpp>
#include <vnet/eflow/support_matrix.hpp>

namespace vnet::eflow {

/// One named parameter and its raw value text (quotes removed).
struct parameter {
    std::string name;  // as typed, without the leading '-'
    std::string value;
    friend bool operator==(const parameter&, const parameter&) = default;
};

/// A parsed command: the verb and its named parameters in the order typed.
struct command_line {
    std::string verb;
    std::vector<parameter> parameters;

    /// The value of a parameter (case-insensitive name), or nullptr if absent.
    const std::string* find(std::string_view name) const noexcept {
        for (const auto& p : parameters)
            if (iequals(p.name, name)) return &p.value;
        return nullptr;
    }
};

/// Splits "a,b" or @("a","b") into its elements (quotes and blanks around each removed,
/// empty elements dropped).
inline std::vector<std::string> split_array(std::string_view v) {
    auto trim = [](std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
        return s;
    };
    v = trim(v);
    if (v.size() >= 3 && v[0] == '@' && v[1] == '(' && v.back() == ')') v = trim(v.substr(2, v.size() - 3));
    std::vector<std::string> out;
    while (true) {
        auto comma = v.find(',');
        auto item = trim(v.substr(0, comma));
        if (item.size() >= 2 && (item.front() == '"' || item.front() == '\'') && item.back() == item.front())
            item = item.substr(1, item.size() - 2);
        if (!item.empty()) out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
    return out;
}

/// PowerShell's message for a parameter the cmdlet does not have.
inline std::string unknown_parameter(std::string_view name) {
    return fmt::format("Error: A parameter cannot be found that matches parameter name '{}'", name);
}

/// Set-EflowVmDnsServers' parameters as typed: -vendpointName (absent: the caller's
/// default endpoint) and -dnsServers (split as an array); any other is unknown_parameter.
struct dns_parameters {
    std::optional<std::string> endpoint;
    std::vector<std::string> servers;
};
inline expected<dns_parameters, std::string> read_dns_parameters(const command_line& cmd) {
    dns_parameters d;
    for (const auto& p : cmd.parameters) {
        if (iequals(p.name, "vendpointName")) d.endpoint = p.value;
        else if (iequals(p.name, "dnsServers")) d.servers = split_array(p.value);
        else return unexpected(unknown_parameter(p.name));
    }
    return d;
}

/// Parses one command line. Errors are whole messages in the "Error: ..." style of the
/// reference deployment script.
inline expected<command_line, std::string> parse_command_line(std::string_view s) {
    // Tokens: blank-separated; a quote runs to its closing quote; @( ... ) is one token.
    std::vector<std::pair<std::string, bool>> tokens;  // text, was it quoted at its start
    std::size_t i = 0;
    while (i < s.size()) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ++i;
            continue;
        }
        std::string tok;
        bool quoted_start = (c == '"' || c == '\'');
        int paren = 0;
        while (i < s.size()) {
            c = s[i];
            if (paren == 0 && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) break;
            if (c == '"' || c == '\'') {
                auto close = s.find(c, i + 1);
                if (close == std::string_view::npos) return unexpected(std::string("Error: unterminated quote"));
                if (paren > 0) tok.append(s.substr(i, close - i + 1));  // arrays keep their quotes
                else tok.append(s.substr(i + 1, close - i - 1));
                i = close + 1;
                continue;
            }
            if (c == '(') ++paren;
            if (c == ')') {
                if (paren == 0) return unexpected(std::string("Error: unbalanced parenthesis"));
                --paren;
            }
            tok.push_back(c);
            ++i;
        }
        if (paren != 0) return unexpected(std::string("Error: unbalanced parenthesis"));
        tokens.emplace_back(std::move(tok), quoted_start);
    }
    if (tokens.empty()) return unexpected(std::string("Error: empty command"));

    command_line cmd;
    cmd.verb = tokens[0].first;
    auto is_name = [](const std::pair<std::string, bool>& t) {
        const auto& x = t.first;
        return !t.second && x.size() >= 2 && x[0] == '-' && ((x[1] >= 'a' && x[1] <= 'z') || (x[1] >= 'A' && x[1] <= 'Z'));
    };
    for (std::size_t k = 1; k < tokens.size(); ++k) {
        if (!is_name(tokens[k]))
            return unexpected(fmt::format("Error: positional value {} is not accepted; name its parameter", tokens[k].first));
        std::string name = tokens[k].first.substr(1);
        std::string value;
        auto colon = name.find(':');
        if (colon != std::string::npos) {
            value = name.substr(colon + 1);
            name.resize(colon);
        } else {
            if (k + 1 >= tokens.size() || is_name(tokens[k + 1]))
                return unexpected(fmt::format("Error: missing a value for parameter -{}", name));
            value = tokens[++k].first;
        }
        if (cmd.find(name) != nullptr) return unexpected(fmt::format("Error: parameter -{} is given more than once", name));
        cmd.parameters.push_back({std::move(name), std::move(value)});
    }
    return cmd;
}

}  // namespace vnet::eflow
