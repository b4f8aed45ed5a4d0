// The one range over options, TLVs and records (include/vnet/wire/tlv.hpp), with a toy
// layout (type, length, data; type 0 ends the list), then the codecs that use it.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

#include <vnet/wire/dns.hpp>
#include <vnet/wire/ipv4.hpp>
#include <vnet/wire/ndp.hpp>
#include <vnet/wire/tcp.hpp>
#include <vnet/wire/tlv.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using vnet::test::hex;
using vnet::test::view;

namespace {

/// Type, length (of the data), data; type 0 ends the list; a length past the end is an error.
struct toy_layout {
    using value_type = result<bytes_view>;
    struct cursor {
        std::size_t off = 0;
    };
    static constexpr bool next(bytes_view b, cursor& c, value_type& out) noexcept {
        if (c.off >= b.size()) return false;
        if (load_u8(b, c.off) == 0) {
            out = b.subspan(c.off, 1);
            c.off = b.size();
            return true;
        }
        if (!in_bounds(b.size(), c.off, 2) || !in_bounds(b.size(), c.off + 2, load_u8(b, c.off + 1))) {
            out = fail(layer::none, errc::bad_option, "toy");
            return true;
        }
        const std::size_t len = load_u8(b, c.off + 1);
        out = b.subspan(c.off + 2, len);
        c.off += 2 + len;
        return true;
    }
};
using toy_range = tlv_range<toy_layout>;
static_assert(tlv_layout<toy_layout>);
static_assert(std::input_iterator<tlv_iterator<toy_layout>>);
static_assert(std::sentinel_for<std::default_sentinel_t, tlv_iterator<toy_layout>>);

/// Counts up to `n` (a layout that cannot fail and reads nothing).
struct count_layout {
    using value_type = int;
    struct cursor {
        int at = 0;
        int n = 0;
    };
    static constexpr bool next(bytes_view, cursor& c, value_type& out) noexcept {
        if (c.at == c.n) return false;
        out = c.at++;
        return true;
    }
};

std::vector<std::size_t> sizes(const toy_range& r) {
    std::vector<std::size_t> out;
    for (const auto& e : r) out.push_back(e ? e->size() : 999);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tlv)

BOOST_AUTO_TEST_CASE(walks_every_element_then_stops) {
    const auto b = hex("01 02 aa bb 02 00 03 01 cc");
    BOOST_TEST(sizes(toy_range(view(b))) == (std::vector<std::size_t>{2, 0, 1}));
    BOOST_TEST(toy_range(view(b)).validate().has_value());
    BOOST_TEST(!toy_range(view(b)).empty());
    BOOST_TEST(toy_range(bytes_view{}).empty());
}

BOOST_AUTO_TEST_CASE(a_terminator_ends_the_walk) {
    const auto b = hex("01 01 aa 00 09 09 09");  // what follows the terminator is padding
    BOOST_TEST(sizes(toy_range(view(b))) == (std::vector<std::size_t>{1, 1}));
}

BOOST_AUTO_TEST_CASE(the_walk_ends_after_the_first_error) {
    const auto b = hex("01 01 aa 05 09 01");  // the second element runs past the end
    BOOST_TEST(sizes(toy_range(view(b))) == (std::vector<std::size_t>{1, 999}));
    auto v = toy_range(view(b)).validate();
    BOOST_REQUIRE(!v.has_value());
    BOOST_TEST((v.error() == error{layer::none, errc::bad_option, "toy"}));
}

BOOST_AUTO_TEST_CASE(iterators_copy_the_walk) {
    const auto b = hex("01 00 01 01 aa");
    auto it = toy_range(view(b)).begin();  // the range is gone; the iterator holds the span
    auto first = it++;
    BOOST_TEST((*first)->size() == 0u);
    BOOST_TEST((*it)->size() == 1u);
    BOOST_TEST(it.position().off == 5u);  // just past the current element
    ++it;
    BOOST_TEST((it == std::default_sentinel));
    BOOST_TEST((first != std::default_sentinel));
}

BOOST_AUTO_TEST_CASE(plain_values_and_cursors_with_state) {
    std::vector<int> seen;
    for (int v : tlv_range<count_layout>(bytes_view{}, {0, 4})) seen.push_back(v);
    BOOST_TEST(seen == (std::vector<int>{0, 1, 2, 3}));
    BOOST_TEST(tlv_range<count_layout>(bytes_view{}, {0, 0}).empty());
}

// The codecs walk their lists through it: one example each, against bytes written out here.
BOOST_AUTO_TEST_CASE(the_codecs_use_it) {
    // IPv4: NOP, router alert (RFC 2113), EOL, padding.
    const auto v4 = hex("01 94 04 00 00 00 00 00");
    std::vector<std::uint8_t> types;
    for (const auto& o : ipv4_options(view(v4))) types.push_back(o ? o->type() : 0xff);
    BOOST_TEST(types == (std::vector<std::uint8_t>{1, 148, 0}));
    BOOST_TEST(ipv4_options::validate(view(v4)).has_value());
    // TCP: MSS 1460, NOP, window scale 7, EOL.
    const auto t = hex("02 04 05 b4 01 03 03 07 00");
    types.clear();
    for (const auto& o : tcp_options(view(t))) types.push_back(o ? o->kind() : 0xff);
    BOOST_TEST(types == (std::vector<std::uint8_t>{2, 1, 3, 0}));
    // NDP: a source link-layer address option, then a zero length (an error, the end).
    const auto n = hex("01 01 00 15 5d 00 00 01 03 00");
    types.clear();
    for (const auto& o : ndp_option_range(view(n))) types.push_back(o ? o->type() : 0xff);
    BOOST_TEST(types == (std::vector<std::uint8_t>{1, 0xff}));
    // DNS character-strings: "ab", "".
    const auto s = hex("02 61 62 00");
    std::vector<std::size_t> lens;
    for (const auto& c : dns_character_strings(view(s))) lens.push_back(c ? c->size() : 999);
    BOOST_TEST(lens == (std::vector<std::size_t>{2, 0}));
}

BOOST_AUTO_TEST_SUITE_END()
