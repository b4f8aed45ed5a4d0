// vnet/switch/clock.hpp - the injected clock of the switch.
//
// The switch never reads a system clock by itself (docs/design.md "Principles": time is
// injected). A clock is any object with now() returning a std::chrono::nanoseconds
// count from an arbitrary, monotonic epoch. Programs use steady_clock_source; tests use
// manual_clock and advance it by hand, so MAC aging and storm intervals are tested
// without sleeping.
#pragma once

#include <chrono>
#include <concepts>

namespace vnet::sw {

template <class C>
concept clock_source = requires(C& c) {
    { c.now() } -> std::convertible_to<std::chrono::nanoseconds>;
};

/// std::chrono::steady_clock as a clock_source.
struct steady_clock_source {
    std::chrono::nanoseconds now() const noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch());
    }
};

/// A clock that moves only when told to.
class manual_clock {
public:
    constexpr manual_clock() noexcept = default;
    constexpr explicit manual_clock(std::chrono::nanoseconds start) noexcept : now_(start) {}
    constexpr std::chrono::nanoseconds now() const noexcept { return now_; }
    constexpr void advance(std::chrono::nanoseconds d) noexcept { now_ += d; }
    constexpr void set(std::chrono::nanoseconds t) noexcept { now_ = t; }

private:
    std::chrono::nanoseconds now_{0};
};

static_assert(clock_source<steady_clock_source>);
static_assert(clock_source<manual_clock>);

}  // namespace vnet::sw
