// pcap read/write through libpcap (include/vnet/wire/pcap.hpp).
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include <vnet/wire/pcap.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::wire;
using namespace std::chrono_literals;

namespace {
std::string temp_path(const char* name) {
    return (std::filesystem::temp_directory_path() / (std::string("vnet-test-") + std::to_string(::getpid()) + name)).string();
}
}  // namespace

BOOST_AUTO_TEST_SUITE(pcap_io)

BOOST_AUTO_TEST_CASE(write_then_read_back) {
    auto path = temp_path("-rw.pcap");
    auto f1 = test::hex("ffffffffffff00155d0000100806 0001080006040001");
    auto f2 = test::hex("00155d00002000155d0000100800 4500");
    {
        auto w = pcap_writer::create(path);
        BOOST_REQUIRE(w);
        w->write(test::view(f1), 1700000000s + 123456us);
        w->write(test::view(f2), 1700000001s);
        BOOST_TEST(w->flush().has_value());
    }
    auto r = pcap_reader::open(path);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->link_type() == linktype::ethernet);
    auto a = r->next();
    BOOST_REQUIRE(a);
    BOOST_REQUIRE(a->has_value());
    BOOST_TEST(equal_bytes((*a)->data, test::view(f1)));
    BOOST_TEST((*a)->timestamp.count() == std::chrono::nanoseconds(1700000000s + 123456us).count());
    BOOST_TEST((*a)->orig_len == f1.size());
    auto b = r->next();
    BOOST_REQUIRE(b);
    BOOST_REQUIRE(b->has_value());
    BOOST_TEST(equal_bytes((*b)->data, test::view(f2)));
    auto end = r->next();
    BOOST_REQUIRE(end);
    BOOST_TEST(!end->has_value());
    std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(snaplen_cuts_but_keeps_original_length) {
    auto path = temp_path("-snap.pcap");
    std::vector<std::byte> big(200, std::byte{0xab});
    {
        auto w = pcap_writer::create(path, linktype::ethernet, 64);
        BOOST_REQUIRE(w);
        w->write(big);
    }
    auto r = pcap_reader::open(path);
    BOOST_REQUIRE(r);
    auto a = r->next();
    BOOST_REQUIRE(a);
    BOOST_REQUIRE(a->has_value());
    BOOST_TEST((*a)->data.size() == 64u);
    BOOST_TEST((*a)->orig_len == 200u);
    std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(errors_carry_the_reason) {
    auto r = pcap_reader::open("/nonexistent/vnet.pcap");
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().message.find("No such file") != std::string::npos);
    auto path = temp_path("-garbage.pcap");
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        std::fputs("this is not a capture file at all", f);
        std::fclose(f);
    }
    auto g = pcap_reader::open(path);
    BOOST_TEST(!g);
    std::filesystem::remove(path);
    auto w = pcap_writer::create("/nonexistent/dir/out.pcap");
    BOOST_TEST(!w);
}

BOOST_AUTO_TEST_SUITE_END()
