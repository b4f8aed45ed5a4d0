// vnet/wire/tlv.hpp - one range over the elements of a byte span: options, TLVs, records,
// extension headers.
//
// Every list in a header is walked the same way: start at some offset, decode one element,
// move past it, stop at the end of the data, at a terminator or after the first malformed
// element. What differs is the layout, which a policy says:
//
//   struct ndp_option_layout {
//       using value_type = result<ndp_option>;  // or a plain value when walking cannot fail
//       struct cursor { std::size_t off = 0; };  // where the walk is; anything the layout needs
//       /// Decodes the element at `c` into `out` and moves `c` past it; false when none is left.
//       static constexpr bool next(bytes_view area, cursor& c, value_type& out) noexcept;
//   };
//
// tlv_range<Layout> is then `for (const auto& o : tlv_range<ndp_option_layout>(bytes))`.
// When value_type is a result, the walk ends after yielding an error: nothing behind a
// malformed element is read. The iterator copies the span and the cursor, so it outlives
// the range it came from, and it never reads outside the span (the layouts check bounds).
#pragma once

#include <concepts>
#include <cstddef>
#include <iterator>
#include <utility>

#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>

namespace vnet::wire {

namespace detail {
template <class V>
concept yields_results = requires(const V& v) {
    { v.has_value() } -> std::convertible_to<bool>;
    v.error();
};
}  // namespace detail

/// A layout for tlv_range: its value_type, its cursor, and next().
template <class L>
concept tlv_layout = requires(bytes_view b, typename L::cursor& c, typename L::value_type& v) {
    { L::next(b, c, v) } -> std::convertible_to<bool>;
};

template <tlv_layout L>
class tlv_iterator {
public:
    using layout = L;
    using cursor_type = typename L::cursor;
    using value_type = typename L::value_type;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;  // multi-pass: a copy walks on its own

    constexpr tlv_iterator() noexcept = default;
    constexpr tlv_iterator(bytes_view area, cursor_type start) noexcept : b_(area), c_(start), done_(false) { load(); }

    constexpr const value_type& operator*() const noexcept { return cur_; }
    constexpr const value_type* operator->() const noexcept { return &cur_; }
    constexpr tlv_iterator& operator++() noexcept {
        if constexpr (detail::yields_results<value_type>) {
            if (!cur_.has_value()) {
                done_ = true;
                return *this;
            }
        }
        load();
        return *this;
    }
    constexpr tlv_iterator operator++(int) noexcept {
        tlv_iterator old = *this;
        ++*this;
        return old;
    }
    friend constexpr bool operator==(const tlv_iterator& i, std::default_sentinel_t) noexcept { return i.done_; }

    /// Where the walk stands: just past the current element.
    constexpr const cursor_type& position() const noexcept { return c_; }

private:
    static constexpr value_type initial() noexcept {
        if constexpr (detail::yields_results<value_type>) return unexpected(error{});
        else return value_type{};
    }
    constexpr void load() noexcept {
        if (!L::next(b_, c_, cur_)) done_ = true;
    }

    bytes_view b_{};
    cursor_type c_{};
    bool done_ = true;
    value_type cur_ = initial();
};

/// The elements of `area` as a range, the walk starting at `start`.
template <tlv_layout L>
class tlv_range {
public:
    using iterator = tlv_iterator<L>;
    using cursor_type = typename L::cursor;

    constexpr tlv_range() noexcept = default;
    constexpr explicit tlv_range(bytes_view area, cursor_type start = {}) noexcept : b_(area), start_(start) {}

    constexpr iterator begin() const noexcept { return iterator(b_, start_); }
    constexpr std::default_sentinel_t end() const noexcept { return {}; }
    constexpr bytes_view bytes() const noexcept { return b_; }
    /// True when the walk yields nothing.
    constexpr bool empty() const noexcept { return begin() == end(); }

    /// The first error the walk meets, or success (for layouts that can fail).
    constexpr result<void> validate() const noexcept requires detail::yields_results<typename L::value_type> {
        for (auto it = begin(); it != end(); ++it)
            if (!it->has_value()) return unexpected(it->error());
        return {};
    }

private:
    bytes_view b_{};
    cursor_type start_{};
};

}  // namespace vnet::wire
