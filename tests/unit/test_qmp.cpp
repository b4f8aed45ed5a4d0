// QEMU's machine protocol (include/vnet/lab/qmp.hpp): the command lines the client sends,
// how it reads answers and events, and a whole exchange with a server that speaks QMP as
// QEMU does (greeting, qmp_capabilities, an event before an answer, an error answer).
// Source: QEMU's QMP specification (docs/interop/qmp-spec.rst).
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vnet/lab/qmp.hpp>

using namespace vnet;
using namespace vnet::lab;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(qmp)

BOOST_AUTO_TEST_CASE(command_lines_are_json_objects) {
    BOOST_TEST(qmp_command("qmp_capabilities") == "{\"execute\": \"qmp_capabilities\"}\n");
    BOOST_TEST(qmp_command("netdev_add", {{"type", "tap"}, {"id", "net-hot1"}, {"ifname", "vt0"}}) ==
               "{\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"tap\", \"id\": \"net-hot1\", \"ifname\": \"vt0\"}}\n");
    // quotes, backslashes and control characters are escaped
    BOOST_TEST(qmp_command("x", {{"a", "q\"b\\c\n"}}) ==
               "{\"execute\": \"x\", \"arguments\": {\"a\": \"q\\\"b\\\\c\\u000a\"}}\n");
}

BOOST_AUTO_TEST_CASE(answers_events_and_errors) {
    BOOST_TEST(!qmp_answer(R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": ["oob"]}})"));
    BOOST_TEST(!qmp_answer(R"({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "NIC_RX_FILTER_CHANGED", "data": {}})"));
    BOOST_REQUIRE(qmp_answer(R"({"return": {}})"));
    BOOST_TEST(qmp_answer(R"({"return": {}})")->empty());
    BOOST_TEST(*qmp_answer(R"({"error": {"class": "GenericError", "desc": "Duplicate ID 'net-hot1' for netdev"}})") ==
               "Duplicate ID 'net-hot1' for netdev");
    BOOST_TEST(*qmp_answer(R"({"error": {"class": "GenericError", "desc": "a \"quoted\" word"}})") == "a \"quoted\" word");
    // an error without a description is reported whole, never as a success
    BOOST_TEST(*qmp_answer(R"({"error": {"class": "GenericError"}})") == R"({"error": {"class": "GenericError"}})");
    // a return value that holds the word "error" is still a return
    BOOST_TEST(qmp_answer(R"({"return": {"error": 0}})")->empty());
}

namespace {
/// A QMP server on a unix socket that answers `answers` in turn, one per command line.
struct fake_qemu {
    std::string path;
    int ls = -1;
    std::thread t;
    std::vector<std::string> received;

    explicit fake_qemu(std::vector<std::string> answers) {
        path = (std::filesystem::temp_directory_path() / ("vnet-test-qmp-" + std::to_string(::getpid()))).string();
        ::unlink(path.c_str());
        ls = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::memcpy(sa.sun_path, path.data(), path.size());
        BOOST_REQUIRE(::bind(ls, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0);
        BOOST_REQUIRE(::listen(ls, 1) == 0);
        t = std::thread([this, answers] {
            int c = ::accept(ls, nullptr, nullptr);
            if (c < 0) return;
            auto say = [&](const std::string& s) { (void)!::write(c, s.data(), s.size()); };
            say("{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}\r\n");
            std::string buf;
            char tmp[512];
            for (const auto& a : answers) {
                while (buf.find('\n') == std::string::npos) {
                    auto n = ::read(c, tmp, sizeof tmp);
                    if (n <= 0) {
                        ::close(c);
                        return;
                    }
                    buf.append(tmp, static_cast<std::size_t>(n));
                }
                received.push_back(buf.substr(0, buf.find('\n')));
                buf.erase(0, buf.find('\n') + 1);
                say(a);
            }
            ::close(c);
        });
    }
    ~fake_qemu() {
        if (t.joinable()) t.join();
        ::close(ls);
        ::unlink(path.c_str());
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(an_exchange_with_a_server) {
    std::vector<std::string> received;
    {
        fake_qemu q({"{\"return\": {}}\r\n", "{\"event\": \"X\", \"data\": {}}\r\n{\"return\": {}}\r\n",
                     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Bus 'pci.0' does not support hotplugging\"}}\r\n"});
        auto c = qmp_client::connect(q.path, 5s);
        BOOST_REQUIRE_MESSAGE(c, (c ? std::string() : c.error()));
        auto a = c->execute(qmp_command("netdev_add", {{"type", "tap"}}), 5s);
        BOOST_TEST(a.has_value());  // the event before the answer is skipped
        auto b = c->execute(qmp_command("device_add", {{"driver", "virtio-net-pci"}}), 5s);
        BOOST_REQUIRE(!b);
        BOOST_TEST(b.error() == "Bus 'pci.0' does not support hotplugging");
        auto closed = c->execute(qmp_command("query-status"), 2s);
        BOOST_REQUIRE(!closed);
        // the server has gone: the send or the read says so (which one is a race)
        BOOST_TEST((closed.error() == "QEMU closed the QMP connection" || closed.error().rfind("QMP send: ", 0) == 0));
        c = qmp_client::connect("/nonexistent/qmp", 1s);
        BOOST_REQUIRE(!c);
        BOOST_TEST(c.error().find("cannot connect to QEMU's QMP socket /nonexistent/qmp") == 0);
        q.t.join();
        received = q.received;
    }
    BOOST_REQUIRE(received.size() == 3u);
    BOOST_TEST(received[0] == "{\"execute\": \"qmp_capabilities\"}");
    BOOST_TEST(received[1] == "{\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"tap\"}}");
}

BOOST_AUTO_TEST_SUITE_END()
