// io::unique_fd closes what it owns exactly once, and io::open_packet_fd names what failed.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <utility>

#include <vnet/io/packet_fd.hpp>

namespace {
bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
}  // namespace

BOOST_AUTO_TEST_SUITE(packet_fd)

BOOST_AUTO_TEST_CASE(unique_fd_closes_once_and_moves) {
    int p[2];
    BOOST_REQUIRE(::pipe(p) == 0);
    {
        vnet::io::unique_fd a(p[0]);
        BOOST_TEST(static_cast<bool>(a));
        vnet::io::unique_fd b(std::move(a));
        BOOST_TEST(!a);  // NOLINT(bugprone-use-after-move): a moved-from fd owns nothing
        BOOST_TEST(b.get() == p[0]);
        BOOST_TEST(is_open(p[0]));
    }
    BOOST_TEST(!is_open(p[0]));  // closed when its last owner went

    vnet::io::unique_fd w(p[1]);
    const int raw = w.release();
    BOOST_TEST(raw == p[1]);
    BOOST_TEST(!w);
    BOOST_TEST(is_open(p[1]));  // released: the caller owns it now
    w.reset(raw);
    w.reset();
    BOOST_TEST(!is_open(p[1]));
}

BOOST_AUTO_TEST_CASE(open_packet_fd_on_a_missing_interface_is_an_error_naming_the_call) {
    auto fd = vnet::io::open_packet_fd("vnet-no-such0");
    BOOST_REQUIRE(!fd.has_value());
    BOOST_TEST((fd.error().what == vnet::errc::not_found));
    BOOST_TEST(fd.error().message().find("packet_socket.if_nametoindex") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
