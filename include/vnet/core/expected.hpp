// vnet/core/expected.hpp - a small expected<T, E> (clang 14 with libstdc++ 12 has no std::expected).
//
// The subset of std::expected that vnet uses: has_value/operator bool, value(), error(),
// operator*/->, value_or, and expected<void, E>. Construction of an error goes through
// vnet::unexpected(e) exactly as with the standard type, so code can move to
// std::expected later by changing this header only.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>
#include <stdexcept>

namespace vnet {

template <class E>
class unexpected {
public:
    constexpr explicit unexpected(E e) noexcept(std::is_nothrow_move_constructible_v<E>) : e_(std::move(e)) {}
    constexpr const E& error() const& noexcept { return e_; }
    constexpr E& error() & noexcept { return e_; }
    constexpr E&& error() && noexcept { return std::move(e_); }

private:
    E e_;
};

template <class E>
unexpected(E) -> unexpected<E>;

/// Thrown by value() on an expected that holds an error (a programming error in the caller).
class bad_expected_access : public std::logic_error {
public:
    bad_expected_access() : std::logic_error("vnet::expected: value() called on an error") {}
};

template <class T, class E>
class [[nodiscard]] expected {
    static_assert(!std::is_reference_v<T> && !std::is_reference_v<E>);

public:
    using value_type = T;
    using error_type = E;

    constexpr expected() requires std::is_default_constructible_v<T> : has_(true) { std::construct_at(&v_); }
    constexpr expected(const T& v) : has_(true) { std::construct_at(&v_, v); }        // NOLINT: implicit like std
    constexpr expected(T&& v) : has_(true) { std::construct_at(&v_, std::move(v)); }  // NOLINT
    template <class G>
    constexpr expected(const unexpected<G>& u) : has_(false) {
        std::construct_at(&e_, u.error());
    }  // NOLINT
    template <class G>
    constexpr expected(unexpected<G>&& u) : has_(false) {
        std::construct_at(&e_, std::move(u).error());
    }  // NOLINT

    constexpr expected(const expected& o) : has_(o.has_) {
        if (has_) std::construct_at(&v_, o.v_);
        else std::construct_at(&e_, o.e_);
    }
    constexpr expected(expected&& o) noexcept(std::is_nothrow_move_constructible_v<T>&& std::is_nothrow_move_constructible_v<E>)
            : has_(o.has_) {
        if (has_) std::construct_at(&v_, std::move(o.v_));
        else std::construct_at(&e_, std::move(o.e_));
    }
    constexpr expected& operator=(const expected& o) {
        if (this != &o) {
            destroy();
            has_ = o.has_;
            if (has_) std::construct_at(&v_, o.v_);
            else std::construct_at(&e_, o.e_);
        }
        return *this;
    }
    constexpr expected& operator=(expected&& o) noexcept(
        std::is_nothrow_move_constructible_v<T>&& std::is_nothrow_move_constructible_v<E>) {
        if (this != &o) {
            destroy();
            has_ = o.has_;
            if (has_) std::construct_at(&v_, std::move(o.v_));
            else std::construct_at(&e_, std::move(o.e_));
        }
        return *this;
    }
    constexpr ~expected() { destroy(); }

    constexpr bool has_value() const noexcept { return has_; }
    constexpr explicit operator bool() const noexcept { return has_; }

    constexpr T& value() & {
        check();
        return v_;
    }
    constexpr const T& value() const& {
        check();
        return v_;
    }
    constexpr T&& value() && {
        check();
        return std::move(v_);
    }
    template <class U>
    constexpr T value_or(U&& d) const& {
        return has_ ? v_ : static_cast<T>(std::forward<U>(d));
    }

    /// Precondition: has_value(). Checked in debug builds through value().
    constexpr T& operator*() & noexcept { return v_; }
    constexpr const T& operator*() const& noexcept { return v_; }
    constexpr T&& operator*() && noexcept { return std::move(v_); }
    constexpr T* operator->() noexcept { return &v_; }
    constexpr const T* operator->() const noexcept { return &v_; }

    /// Precondition: !has_value().
    constexpr const E& error() const& noexcept { return e_; }
    constexpr E& error() & noexcept { return e_; }

private:
    constexpr void check() const {
        if (!has_) throw bad_expected_access();
    }
    constexpr void destroy() noexcept {
        if (has_) std::destroy_at(&v_);
        else std::destroy_at(&e_);
    }
    union {
        T v_;
        E e_;
    };
    bool has_;
};

template <class E>
class [[nodiscard]] expected<void, E> {
public:
    using value_type = void;
    using error_type = E;

    constexpr expected() noexcept : has_(true), e_() {}
    template <class G>
    constexpr expected(const unexpected<G>& u) : has_(false), e_(u.error()) {}  // NOLINT
    template <class G>
    constexpr expected(unexpected<G>&& u) : has_(false), e_(std::move(u).error()) {}  // NOLINT

    constexpr bool has_value() const noexcept { return has_; }
    constexpr explicit operator bool() const noexcept { return has_; }
    constexpr void value() const {
        if (!has_) throw bad_expected_access();
    }
    constexpr const E& error() const& noexcept { return e_; }

private:
    bool has_;
    E e_;
};

}  // namespace vnet
