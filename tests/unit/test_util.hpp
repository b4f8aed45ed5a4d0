// Helpers shared by the unit tests: hex byte vectors and malformed-input sweeps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <iterator>
#include <ostream>
#include <type_traits>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>

namespace vnet::test {

/// "45 00 00 1c" or "4500001c" -> bytes. Whitespace and ':' are ignored.
inline std::vector<std::byte> hex(std::string_view s) {
    std::vector<std::byte> out;
    int hi = -1;
    for (char c : s) {
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else if (c == ' ' || c == '\n' || c == '\t' || c == ':') continue;
        else throw std::invalid_argument("hex: bad character");
        if (hi < 0) hi = v;
        else {
            out.push_back(std::byte(hi * 16 + v));
            hi = -1;
        }
    }
    if (hi >= 0) throw std::invalid_argument("hex: odd digit count");
    return out;
}

inline bytes_view view(const std::vector<std::byte>& v) { return {v.data(), v.size()}; }

/// The source and build folders, from VNET_SOURCE_DIR / VNET_BINARY_DIR in the environment
/// (CTest sets both for every test; they are not compiled in, so a build cache can share
/// the objects between checkouts).
inline std::string env_dir(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) throw std::runtime_error(std::string(name) + " is not set: run the tests through ctest");
    return v;
}
inline std::string source_dir() { return env_dir("VNET_SOURCE_DIR"); }
inline std::string binary_dir() { return env_dir("VNET_BINARY_DIR"); }

/// An independent one's-complement sum of 16-bit big-endian words (RFC 1071 section 4.1),
/// written out here so that tests do not check wire::checksum_acc against itself.
inline std::uint16_t hand_sum(const std::vector<std::byte>& b) {
    std::uint32_t s = 0;
    for (std::size_t i = 0; i < b.size(); i += 2) {
        std::uint32_t hi = static_cast<std::uint8_t>(b[i]);
        std::uint32_t lo = i + 1 < b.size() ? static_cast<std::uint8_t>(b[i + 1]) : 0;
        s += (hi << 8) | lo;
    }
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(s);
}

/// a followed by b.
inline std::vector<std::byte> cat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

/// Calls f(prefix) for every strict prefix of b (lengths 0 .. size-1). Tests use it to
/// check that a parser rejects or safely handles input truncated at every byte.
template <class F>
void for_each_truncation(bytes_view b, F&& f) {
    for (std::size_t n = 0; n < b.size(); ++n) f(b.first(n));
}

}  // namespace vnet::test

// Boost.Test prints values of failed assertions with operator<< found by ADL: everything
// vnet formats with fmt prints that way, and enums with a to_string() print their names.
// A test of another namespace says VNET_TEST_PRINTABLE_NAMESPACE(vnet::that) once.
#define VNET_TEST_PRINTABLE_NAMESPACE(ns)                                          \
    namespace ns {                                                                 \
    template <class T>                                                             \
    requires(fmt::is_formattable<T>::value && std::is_class_v<T> &&                \
             !std::is_convertible_v<const T&, std::string_view>) std::ostream&     \
    operator<<(std::ostream& os, const T& v) {                                     \
        auto s = fmt::format("{}", v);                                             \
        return os.write(s.data(), static_cast<std::streamsize>(s.size()));         \
    }                                                                              \
    template <class E>                                                             \
    requires std::is_enum_v<E> && requires(E e) { to_string(e); }                  \
    std::ostream& operator<<(std::ostream& os, E e) {                              \
        const auto s = to_string(e);                                               \
        return os.write(std::data(s), static_cast<std::streamsize>(std::size(s))); \
    }                                                                              \
    }
VNET_TEST_PRINTABLE_NAMESPACE(vnet)
VNET_TEST_PRINTABLE_NAMESPACE(vnet::wire)
