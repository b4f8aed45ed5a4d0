// Dynamic MAC addresses from the Hyper-V pool (include/vnet/switch/mac_pool.hpp).
#include <boost/test/unit_test.hpp>

#include <string>

#include <fmt/format.h>

#include <vnet/switch/mac_pool.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::sw;

BOOST_AUTO_TEST_SUITE(switch_mac_pool)

// docs/eflow-facts.md "Deployment cmdlets" [PS]: Hyper-V dynamic MACs are 00:15:5D:dd:ee:ff,
// dd-ee = last two octets of the host's IP, 256 addresses by default.
BOOST_AUTO_TEST_CASE(pool_comes_from_the_host_address) {
    mac_pool pool(ipv4_address(192, 168, 10, 100));
    BOOST_TEST(fmt::format("{}", pool.first()) == "00:15:5d:0a:64:00");
    BOOST_TEST(fmt::format("{}", pool.last()) == "00:15:5d:0a:64:ff");
    auto a = pool.allocate("eflow/eth0");
    BOOST_REQUIRE(a);
    BOOST_TEST(fmt::format("{}", *a) == "00:15:5d:0a:64:00");
    BOOST_TEST(fmt::format("{}", *pool.allocate("eflow/eth1")) == "00:15:5d:0a:64:01");
    BOOST_TEST(pool.contains(*a));
    BOOST_TEST(!pool.contains(mac_address{0x00, 0x15, 0x5d, 0x0a, 0x65, 0x00}));
}

// docs/eflow-facts.md [NW]: the MAC is "generated at creation, stored, kept across reboots":
// asking again for the same NIC gives the same address.
BOOST_AUTO_TEST_CASE(a_nic_keeps_its_mac) {
    mac_pool pool(ipv4_address(10, 0, 0, 5));
    auto first = *pool.allocate("vm1/nic");
    (void)pool.allocate("vm2/nic");
    BOOST_TEST(*pool.allocate("vm1/nic") == first);
    BOOST_TEST(pool.size() == 2u);
    BOOST_TEST(pool.release("vm1/nic"));
    BOOST_TEST(!pool.release("vm1/nic"));
    BOOST_TEST(*pool.allocate("vm3/nic") == first);  // freed addresses are reused
}

// [PS]: 256 addresses; the 257th NIC gets a clear error.
BOOST_AUTO_TEST_CASE(exhausted_pool_is_a_clear_error) {
    mac_pool pool(ipv4_address(192, 168, 0, 10));
    for (int i = 0; i < 256; ++i) BOOST_REQUIRE(pool.allocate(fmt::format("vm{}", i)));
    BOOST_TEST(pool.available() == 0u);
    auto e = pool.allocate("one-too-many");
    BOOST_REQUIRE(!e);
    BOOST_TEST(e.error().what == errc::exhausted);
    BOOST_TEST(e.error().message() == "switch.dynamic MAC address pool (256 addresses): exhausted");
    BOOST_TEST(pool.allocate("vm7").has_value());  // existing NICs still get theirs
    BOOST_TEST(!pool.allocate(""));
    BOOST_TEST(!pool.allocate("a\nb"));
}

// [NW] "stored, kept across reboots": save and load the pool's state.
BOOST_AUTO_TEST_CASE(save_and_load) {
    mac_pool pool(ipv4_address(192, 168, 10, 100));
    (void)pool.allocate("eflow/eth0");
    (void)pool.allocate("eflow/Ethernet 2");
    const std::string text = pool.save();
    BOOST_TEST(text ==
               "vnet-mac-pool 1\n"
               "prefix 00:15:5d:0a:64\n"
               "nic 00:15:5d:0a:64:01 eflow/Ethernet 2\n"
               "nic 00:15:5d:0a:64:00 eflow/eth0\n");
    auto back = mac_pool::load(text);
    BOOST_REQUIRE(back);
    BOOST_TEST(fmt::format("{}", *back->find("eflow/eth0")) == "00:15:5d:0a:64:00");
    BOOST_TEST(fmt::format("{}", *back->find("eflow/Ethernet 2")) == "00:15:5d:0a:64:01");
    BOOST_TEST(fmt::format("{}", *back->allocate("new")) == "00:15:5d:0a:64:02");
    BOOST_TEST(back->save() != text);
}

BOOST_AUTO_TEST_CASE(load_rejects_bad_state) {
    BOOST_TEST(!mac_pool::load(""));
    BOOST_TEST(!mac_pool::load("vnet-mac-pool 2\nprefix 00:15:5d:0a:64\n"));
    BOOST_TEST(!mac_pool::load("vnet-mac-pool 1\nprefix 00:16:5d:0a:64\n"));
    BOOST_TEST(!mac_pool::load("vnet-mac-pool 1\nprefix 00:15:5d:0a:64\nnic 00:15:5d:0a:65:00 x\n"));
    BOOST_TEST(!mac_pool::load("vnet-mac-pool 1\nprefix 00:15:5d:0a:64\nnic 00:15:5d:0a:64:00 x\nnic 00:15:5d:0a:64:00 y\n"));
    auto e = mac_pool::load("vnet-mac-pool 1\nprefix 00:15:5d:0a:64\nnic garbage\n");
    BOOST_REQUIRE(!e);
    BOOST_TEST(e.error().message() == "MAC pool state: expected \"nic <MAC> <name>\" with a MAC of the pool");
    auto ok = mac_pool::load("vnet-mac-pool 1\r\nprefix 00:15:5d:0a:64\r\n\r\nnic 00:15:5d:0a:64:07 a b\r\n");
    BOOST_REQUIRE(ok);
    BOOST_TEST(fmt::format("{}", *ok->find("a b")) == "00:15:5d:0a:64:07");
}

BOOST_AUTO_TEST_SUITE_END()
