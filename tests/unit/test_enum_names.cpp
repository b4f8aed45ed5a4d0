// One name table per enum (include/vnet/core/enum_names.hpp): to_string, parse_enum, the
// fmt formatter and the counter lists all read the table, and the converted enums print
// the names they printed before.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include <vnet/core/enum_names.hpp>
#include <vnet/core/error.hpp>
#include <vnet/eflow/support_matrix.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/services/dhcp_server.hpp>
#include <vnet/switch/counters.hpp>
#include <vnet/switch/kinds.hpp>
#include <vnet/wire/dhcp.hpp>

namespace sample {
using vnet::to_string;
enum class colour : std::uint8_t { red, green, blue, count_ };
inline constexpr vnet::enum_name<colour> colour_names[] = {{colour::red, "red"}, {colour::green, "green"}};
constexpr std::span<const vnet::enum_name<colour>> enum_names(colour) noexcept { return colour_names; }

enum class mood : std::uint8_t { calm = 3, cross = 7 };
inline constexpr vnet::enum_name<mood> mood_names[] = {{mood::calm, "Calm"}, {mood::cross, "Cross"}};
constexpr std::span<const vnet::enum_name<mood>> enum_names(mood) noexcept { return mood_names; }
constexpr std::string_view enum_unnamed(mood) noexcept { return "unknown"; }
}  // namespace sample

using namespace vnet;

BOOST_AUTO_TEST_SUITE(enum_names_table)

BOOST_AUTO_TEST_CASE(to_string_reads_the_table) {
    static_assert(named_enum<sample::colour>);
    static_assert(!named_enum<int>);
    static_assert(to_string(sample::colour::green) == "green");
    BOOST_TEST(sample::to_string(sample::colour::red) == "red");
    BOOST_TEST(to_string(sample::colour::blue) == "?");  // not in the table
    BOOST_TEST(to_string(static_cast<sample::mood>(5)) == "unknown");
    BOOST_TEST(to_string(sample::mood::cross) == "Cross");
}

BOOST_AUTO_TEST_CASE(parse_is_the_inverse) {
    static_assert(parse_enum<sample::colour>("green") == sample::colour::green);
    BOOST_TEST(!parse_enum<sample::colour>("blue").has_value());
    BOOST_TEST(!parse_enum<sample::mood>("calm").has_value());  // exact by default
    auto ci = [](std::string_view a, std::string_view b) { return eflow::iequals(a, b); };
    BOOST_TEST((parse_enum<sample::mood>("calm", ci) == sample::mood::calm));
}

BOOST_AUTO_TEST_CASE(fmt_prints_the_name_with_string_specs) {
    BOOST_TEST(fmt::format("{}", sample::colour::green) == "green");
    BOOST_TEST(fmt::format("[{:>6}]", sample::colour::red) == "[   red]");
    BOOST_TEST(fmt::format("{}", sample::colour::blue) == "?");
}

BOOST_AUTO_TEST_CASE(counters_list_the_non_zero_in_table_order) {
    std::array<std::uint64_t, 3> c{};
    std::string s;
    format_counters<sample::colour>(std::back_inserter(s), c);
    BOOST_TEST(s == " none");
    c = {2, 0, 9};  // blue has no name: not listed
    s.clear();
    format_counters<sample::colour>(std::back_inserter(s), c);
    BOOST_TEST(s == " red=2");
    c = {0, 1, 0};
    s.clear();
    format_counters<sample::colour>(std::back_inserter(s), c);
    BOOST_TEST(s == " green=1");
}

// The converted vocabularies print what their hand-written switches printed.
BOOST_AUTO_TEST_CASE(converted_enums_keep_their_names) {
    BOOST_TEST(to_string(layer::ipv4) == "ip");
    BOOST_TEST(to_string(errc::loop) == "pointer loop");
    BOOST_TEST((error{layer::vswitch, errc::conflict, "port"}.message() == "switch.port: conflict"));
    BOOST_TEST(sw::to_string(sw::drop_reason::reflect) == "reflect");
    BOOST_TEST(fmt::format("{}", sw::switch_kind::default_switch) == "default");
    BOOST_TEST(wire::to_string(wire::dhcp_message_type::ack) == "DHCPACK");
    BOOST_TEST(wire::to_string(static_cast<wire::dhcp_message_type>(42)) == "unknown");
    BOOST_TEST(eflow::hyperv_name(eflow::switch_type::default_switch) == "Default Switch");
    BOOST_TEST((std::is_same_v<eflow::switch_type, sw::switch_kind>));  // one switch-kind type
    BOOST_TEST((eflow::parse_host_sku("Server") == eflow::host_sku::server));
    sw::port_counters pc;
    BOOST_TEST(fmt::format("{}", pc) == "rx 0 frames 0 bytes, tx 0 frames 0 bytes, flooded 0, mirrored 0, drops: none");
    pc.count_drop(sw::drop_reason::table_full);
    pc.count_drop(sw::drop_reason::malformed);
    BOOST_TEST(fmt::format("{}", pc) ==
               "rx 0 frames 0 bytes, tx 0 frames 0 bytes, flooded 0, mirrored 0, drops: malformed=1 table_full=1");
}

// One switch-kind type: the lab file's kinds are the switch's.
BOOST_AUTO_TEST_CASE(one_switch_kind) {
    static_assert(std::is_same_v<lab::switch_kind, sw::switch_kind>);
    static_assert(lab::switch_kind::default_ == sw::switch_kind::default_switch);
    BOOST_TEST((parse_enum<sw::switch_kind>("private") == sw::switch_kind::private_));
    BOOST_TEST(lab::to_string(lab::switch_kind::default_) == "default");
}

BOOST_AUTO_TEST_SUITE_END()
