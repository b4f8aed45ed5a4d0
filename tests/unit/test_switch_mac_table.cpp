// The learning table (include/vnet/switch/mac_table.hpp): (VLAN, MAC) keys in 64 bits,
// idle aging, capacity limit with fair eviction, no multicast sources, MAC moves.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>

#include <fmt/format.h>

#include <vnet/switch/mac_table.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::sw;
using namespace std::chrono_literals;

namespace vnet::sw {
inline std::ostream& operator<<(std::ostream& os, learn_outcome o) { return os << static_cast<int>(o); }
}  // namespace vnet::sw

namespace {
constexpr std::uint64_t mac_a = 0x00155d000001ULL;
constexpr std::uint64_t mac_b = 0x00155d000002ULL;
}  // namespace

BOOST_AUTO_TEST_SUITE(switch_mac_table)

// docs/style.md (VPP l2_fib): the key is (VLAN, MAC) packed into one 64-bit integer.
BOOST_AUTO_TEST_CASE(key_packs_vlan_and_mac) {
    const auto k = mac_key(10, mac_address{0x00, 0x15, 0x5d, 0x00, 0x00, 0x10});
    BOOST_TEST(k == ((std::uint64_t{10} << 48) | 0x00155d000010ULL));
    BOOST_TEST(key_vlan(k) == 10);
    BOOST_TEST(key_mac(k) == (mac_address{0x00, 0x15, 0x5d, 0x00, 0x00, 0x10}));
    static_assert(sizeof(k) == 8);
}

// The same MAC on two VLANs is two stations (learning is per VLAN).
BOOST_AUTO_TEST_CASE(learn_and_lookup_per_vlan) {
    mac_table t;
    t.ensure_port(3);
    BOOST_TEST(t.learn(mac_key(10, mac_a), 1, 0s) == learn_outcome::learned);
    BOOST_TEST(t.learn(mac_key(20, mac_a), 2, 0s) == learn_outcome::learned);
    BOOST_TEST(t.lookup(mac_key(10, mac_a), 1s) == 1u);
    BOOST_TEST(t.lookup(mac_key(20, mac_a), 1s) == 2u);
    BOOST_TEST(t.lookup(mac_key(30, mac_a), 1s) == no_port);
    BOOST_TEST(t.learn(mac_key(10, mac_a), 1, 2s) == learn_outcome::refreshed);
    BOOST_TEST(t.size() == 2u);
}

// docs/style.md (Open vSwitch mac-learning): never learn a multicast source.
BOOST_AUTO_TEST_CASE(multicast_and_broadcast_sources_are_not_learned) {
    mac_table t;
    t.ensure_port(1);
    BOOST_TEST(t.learn(mac_key(0, 0x01005e000001ULL), 1, 0s) == learn_outcome::ignored);
    BOOST_TEST(t.learn(mac_key(0, 0xffffffffffffULL), 1, 0s) == learn_outcome::ignored);
    BOOST_TEST(t.learn(mac_key(0, 0x333300000001ULL), 1, 0s) == learn_outcome::ignored);
    BOOST_TEST(t.size() == 0u);
}

// docs/style.md (Open vSwitch / VPP MAC_MOVE): a station that shows up on another port moves.
BOOST_AUTO_TEST_CASE(mac_move) {
    mac_table t;
    t.ensure_port(2);
    BOOST_REQUIRE(t.learn(mac_key(0, mac_a), 1, 0s) == learn_outcome::learned);
    BOOST_TEST(t.learn(mac_key(0, mac_a), 2, 1s) == learn_outcome::moved);
    BOOST_TEST(t.lookup(mac_key(0, mac_a), 1s) == 2u);
    BOOST_TEST(t.count(1) == 0u);
    BOOST_TEST(t.count(2) == 1u);
    BOOST_TEST(t.stats().moved == 1u);
}

// docs/style.md (Open vSwitch): idle expiry 300 s by default; time comes from the caller.
BOOST_AUTO_TEST_CASE(idle_aging_300_seconds) {
    mac_table t;
    t.ensure_port(2);
    BOOST_TEST(t.config().aging == std::chrono::nanoseconds(300s));
    BOOST_REQUIRE(t.learn(mac_key(0, mac_a), 1, 0s) == learn_outcome::learned);
    BOOST_REQUIRE(t.learn(mac_key(0, mac_b), 2, 100s) == learn_outcome::learned);
    BOOST_TEST(t.lookup(mac_key(0, mac_a), 299s) == 1u);
    BOOST_TEST(t.lookup(mac_key(0, mac_a), 300s) == no_port);  // idle for the aging time
    BOOST_TEST(t.expire(300s) == 1u);
    BOOST_TEST(t.size() == 1u);
    // traffic refreshes an entry
    BOOST_TEST(t.learn(mac_key(0, mac_b), 2, 350s) == learn_outcome::refreshed);
    BOOST_TEST(t.expire(449s) == 0u);
    BOOST_TEST(t.lookup(mac_key(0, mac_b), 649s) == 2u);
    BOOST_TEST(t.expire(650s) == 1u);
    BOOST_TEST(t.size() == 0u);
    BOOST_TEST(t.stats().aged == 2u);
}

// docs/style.md (Open vSwitch): max entries with fair eviction: the oldest entry of the port
// with the most entries goes. A MAC flood from one port never grows the table past its
// limit and never pushes out the other ports' stations.
BOOST_AUTO_TEST_CASE(mac_flood_is_bounded_and_evicts_fairly) {
    mac_table t(mac_table_config{64, 300s, table_full_policy::evict_fair});
    t.ensure_port(3);
    for (std::uint64_t i = 0; i < 10; ++i) BOOST_REQUIRE(t.learn(mac_key(0, mac_a + i), 1, 0s) == learn_outcome::learned);
    for (std::uint64_t i = 0; i < 4; ++i)
        BOOST_REQUIRE(t.learn(mac_key(0, 0x00155d100000ULL + i), 2, 0s) == learn_outcome::learned);
    std::mt19937_64 rng(42);
    for (int i = 0; i < 100000; ++i) {
        const std::uint64_t m = rng() & 0xfeffffffffffULL;  // unicast sources only
        t.learn(mac_key(0, m), 3, std::chrono::seconds(1 + i / 1000));
        BOOST_REQUIRE(t.size() <= 64u);
    }
    BOOST_TEST(t.size() == 64u);
    // port 3 flooded; once it held the most entries only its own entries were evicted
    BOOST_TEST(t.count(1) == 10u);
    BOOST_TEST(t.count(2) == 4u);
    BOOST_TEST(t.count(3) == 50u);
    BOOST_TEST(t.lookup(mac_key(0, mac_a), 2s) == 1u);
    BOOST_TEST(t.stats().evicted > 90000u);
}

// The port with the most entries loses its oldest (least recently seen) entry.
BOOST_AUTO_TEST_CASE(eviction_takes_the_oldest_entry_of_the_biggest_port) {
    mac_table t(mac_table_config{4, 300s, table_full_policy::evict_fair});
    t.ensure_port(2);
    t.learn(mac_key(0, 0x00155d000011ULL), 1, 1s);
    t.learn(mac_key(0, 0x00155d000012ULL), 1, 2s);
    t.learn(mac_key(0, 0x00155d000013ULL), 1, 3s);
    t.learn(mac_key(0, 0x00155d000021ULL), 2, 4s);
    t.learn(mac_key(0, 0x00155d000011ULL), 1, 5s);  // refresh: ...12 is now port 1's oldest
    BOOST_TEST(t.learn(mac_key(0, 0x00155d000022ULL), 2, 6s) == learn_outcome::evicted_and_learned);
    BOOST_TEST(t.lookup(mac_key(0, 0x00155d000012ULL), 6s) == no_port);
    BOOST_TEST(t.lookup(mac_key(0, 0x00155d000011ULL), 6s) == 1u);
    BOOST_TEST(t.size() == 4u);
}

// An expired entry makes room before anything is evicted.
BOOST_AUTO_TEST_CASE(full_table_expires_before_evicting) {
    mac_table t(mac_table_config{2, 10s, table_full_policy::evict_fair});
    t.ensure_port(1);
    t.learn(mac_key(0, mac_a), 1, 0s);
    t.learn(mac_key(0, mac_b), 1, 5s);
    BOOST_TEST(t.learn(mac_key(0, 0x00155d000003ULL), 1, 12s) == learn_outcome::learned);
    BOOST_TEST(t.stats().evicted == 0u);
    BOOST_TEST(t.stats().aged == 1u);
}

// docs/style.md (VPP learn limit, LIMIT counter): with the refuse policy new sources are not learned.
BOOST_AUTO_TEST_CASE(refuse_policy_keeps_the_table) {
    mac_table t(mac_table_config{2, 300s, table_full_policy::refuse});
    t.ensure_port(1);
    t.learn(mac_key(0, mac_a), 1, 0s);
    t.learn(mac_key(0, mac_b), 1, 0s);
    BOOST_TEST(t.learn(mac_key(0, 0x00155d000003ULL), 1, 1s) == learn_outcome::refused);
    BOOST_TEST(t.learn(mac_key(0, mac_a), 1, 1s) == learn_outcome::refreshed);
    BOOST_TEST(t.stats().refused == 1u);
    BOOST_TEST(t.size() == 2u);
}

// Removing many keys keeps every remaining key reachable (backward-shift deletion).
BOOST_AUTO_TEST_CASE(erase_and_flush_keep_lookups_right) {
    mac_table t(mac_table_config{4096, 300s, table_full_policy::evict_fair});
    t.ensure_port(4);
    for (std::uint64_t i = 0; i < 4000; ++i)
        t.learn(mac_key(static_cast<std::uint16_t>(i % 7), mac_a + i * 2), static_cast<port_index>(1 + i % 4), 0s);
    BOOST_TEST(t.size() == 4000u);
    BOOST_TEST(t.flush_port(2) == 1000u);
    for (std::uint64_t i = 0; i < 4000; i += 3) t.erase(mac_key(static_cast<std::uint16_t>(i % 7), mac_a + i * 2));
    for (std::uint64_t i = 0; i < 4000; ++i) {
        const auto p = t.lookup(mac_key(static_cast<std::uint16_t>(i % 7), mac_a + i * 2), 1s);
        const bool gone = (1 + i % 4) == 2 || i % 3 == 0;
        BOOST_REQUIRE(p == (gone ? no_port : static_cast<port_index>(1 + i % 4)));
    }
}

// fmt output for `vnet lab` and debugging: one sorted line per entry.
BOOST_AUTO_TEST_CASE(format_table) {
    mac_table t;
    t.ensure_port(2);
    t.learn(mac_key(10, 0x00155d000020ULL), 2, 12s);
    t.learn(mac_key(0, 0x00155d000010ULL), 1, 1500ms);
    BOOST_TEST(fmt::format("{}", t) ==
               "VLAN  MAC                PORT  LAST SEEN\n"
               "   0  00:15:5d:00:00:10     1  1.500s\n"
               "  10  00:15:5d:00:00:20     2  12.000s\n");
}

BOOST_AUTO_TEST_SUITE_END()
