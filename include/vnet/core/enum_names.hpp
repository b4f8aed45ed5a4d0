// vnet/core/enum_names.hpp - one name table per enum.
//
// An enum's names are written once, in a table beside the enum, and everything that needs
// them reads that table: to_string, parse_enum, the fmt formatter and the counter lists
// ("drops: reflect=1 table_full=2"). The idea is that of VPP's error lists (one list of
// reasons gives the counter names and the strings) and smoltcp's enum macro (one list of
// values gives the conversions both ways and Display).
//
// An enum opts in with a table and a lookup function found by argument-dependent lookup:
//
//   enum class drop_reason : std::uint8_t { malformed, reflect, count_ };
//   inline constexpr enum_name<drop_reason> drop_reason_names[] = {
//       {drop_reason::malformed, "malformed"}, {drop_reason::reflect, "reflect"}};
//   constexpr std::span<const enum_name<drop_reason>> enum_names(drop_reason) noexcept {
//       return drop_reason_names;
//   }
//
// and its namespace says `using vnet::to_string;`, so that `to_string(r)` and
// `ns::to_string(r)` find the generic one. A value missing from the table prints "?", or
// what `enum_unnamed(E)` returns where the enum's namespace declares it.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

namespace vnet {

/// One row of an enum's name table.
template <class E>
struct enum_name {
    E value;
    std::string_view name;
};

/// An enum whose namespace declares `enum_names(E)`, returning its table (a range of
/// enum_name<E>).
template <class E>
concept named_enum = std::is_enum_v<E> && requires(E e) {
    { *enum_names(e).begin() } -> std::convertible_to<const enum_name<E>&>;
};

/// The table's name for `e`; for a value the table does not name, what the enum's
/// `enum_unnamed(E)` says if its namespace declares one, else "?".
template <named_enum E>
constexpr std::string_view to_string(E e) noexcept {
    for (const auto& n : enum_names(e))
        if (n.value == e) return n.name;
    if constexpr (requires {
                      { enum_unnamed(e) } -> std::convertible_to<std::string_view>;
                  })
        return enum_unnamed(e);
    else return "?";
}

/// Exact comparison, the default for parse_enum.
struct exact_match {
    constexpr bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};

/// The value whose table name is `s` (compared with `same`), nullopt when none is.
template <named_enum E, class Same = exact_match>
constexpr std::optional<E> parse_enum(std::string_view s, Same same = {}) noexcept {
    for (const auto& n : enum_names(E{}))
        if (same(n.name, s)) return n.value;
    return std::nullopt;
}

/// Counters indexed by an enum's values, printed as the non-zero ones in table order,
/// " name=count" each, or " none" when all are zero: what follows "drops:" in every
/// counters formatter.
template <named_enum E, class Out, std::size_t N>
Out format_counters(Out out, const std::array<std::uint64_t, N>& counts) {
    bool any = false;
    for (const auto& n : enum_names(E{})) {
        const auto i = static_cast<std::size_t>(n.value);
        if (i >= N || counts[i] == 0) continue;
        out = fmt::format_to(out, " {}={}", n.name, counts[i]);
        any = true;
    }
    if (!any) out = fmt::format_to(out, " none");
    return out;
}

}  // namespace vnet

/// Every enum with a name table prints its name (and takes the string format specs).
template <vnet::named_enum E, class Char>
struct fmt::formatter<E, Char> : fmt::formatter<std::string_view, Char> {
    template <class Ctx>
    auto format(E e, Ctx& ctx) const {
        return fmt::formatter<std::string_view, Char>::format(vnet::to_string(e), ctx);
    }
};
