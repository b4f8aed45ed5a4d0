// The guest agent protocol and client (include/vnet/lab/guest_agent.hpp), against a fake
// agent on the other end of a socketpair: no root, no VM.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vnet/lab/guest_agent.hpp>

#include "test_util.hpp"

using namespace vnet;
using namespace vnet::lab;
using namespace std::chrono_literals;

namespace {

/// The agent's end of a socketpair, driven by a script on its own thread.
class fake_agent {
public:
    explicit fake_agent(std::function<void(fake_agent&)> script) {
        int sv[2];
        BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        client_fd_ = sv[0];
        fd_ = sv[1];
        thread_ = std::thread([this, s = std::move(script)] { s(*this); });
    }
    ~fake_agent() {
        if (thread_.joinable()) thread_.join();
        close();
    }

    /// Boost.Test assertions are not thread-safe: the script records what went wrong and
    /// the test checks it on its own thread through finish().
    void expect(bool ok, std::string_view what) {
        if (!ok) problems_ += std::string(what) + "; ";
    }
    std::string finish() {
        if (thread_.joinable()) thread_.join();
        return problems_;
    }
    fake_agent(const fake_agent&) = delete;
    fake_agent& operator=(const fake_agent&) = delete;

    /// The client end (ownership goes to the agent_client).
    int client_fd() const { return client_fd_; }

    /// One request line without the newline; empty at EOF.
    std::string read_line() {
        std::string line;
        char c;
        while (::read(fd_, &c, 1) == 1) {
            if (c == '\n') return line;
            line.push_back(c);
        }
        return line;
    }
    void write(std::string_view s) {
        while (!s.empty()) {
            auto n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) return;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    /// Splits "<id> run <secs> <b64>" into id and decoded command.
    static std::pair<std::string, std::string> parse_run(const std::string& line) {
        auto a = line.find(' ');
        auto b = line.find(' ', a + 1);
        auto c = line.find(' ', b + 1);
        std::string id = line.substr(0, a);
        auto cmd = agent_proto::decode_field(line.substr(c + 1));
        return {id, cmd ? *cmd : std::string("<bad base64>")};
    }

private:
    int fd_ = -1;
    int client_fd_ = -1;
    std::string problems_;
    std::thread thread_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(guest_agent)

BOOST_AUTO_TEST_CASE(base64_known_vectors) {
    // RFC 4648 section 10.
    const std::pair<std::string_view, std::string_view> v[] = {{"", ""},
                                                               {"f", "Zg=="},
                                                               {"fo", "Zm8="},
                                                               {"foo", "Zm9v"},
                                                               {"foob", "Zm9vYg=="},
                                                               {"fooba", "Zm9vYmE="},
                                                               {"foobar", "Zm9vYmFy"}};
    for (auto [plain, enc] : v) {
        BOOST_TEST(agent_proto::base64_encode(plain) == enc);
        auto d = agent_proto::base64_decode(enc);
        BOOST_REQUIRE(d);
        BOOST_TEST(*d == plain);
    }
}

BOOST_AUTO_TEST_CASE(base64_round_trips_every_byte) {
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    for (std::size_t n = 0; n <= all.size(); n += 37) {
        auto s = all.substr(0, n) + "\n \r\t";
        auto d = agent_proto::base64_decode(agent_proto::base64_encode(s));
        BOOST_REQUIRE(d);
        BOOST_TEST(*d == s);
    }
}

BOOST_AUTO_TEST_CASE(base64_rejects_malformed) {
    for (std::string_view bad : {"Zg=", "Zg", "Z===", "Zg=a", "Zm9v!mFy", "Zg==Zg==", "Zm 9", "====", "Zm9\n"}) {
        BOOST_TEST_INFO(bad);
        auto d = agent_proto::base64_decode(bad);
        BOOST_TEST(!d);
    }
    BOOST_TEST(agent_proto::base64_decode("Zg=").error().what == errc::bad_length);
    BOOST_TEST(agent_proto::base64_decode("Zm9v!mFy").error().what == errc::bad_value);
}

BOOST_AUTO_TEST_CASE(request_lines) {
    BOOST_TEST(agent_proto::hello_request(3) == "3 hello\n");
    BOOST_TEST(agent_proto::run_request(7, 5, "uname -r") == "7 run 5 dW5hbWUgLXI=\n");
    BOOST_TEST(agent_proto::run_request(8, 1, "") == "8 run 1 -\n");
    // A command with newlines and spaces stays on one line.
    auto line = agent_proto::run_request(9, 2, "echo a\necho 'b c'\n");
    BOOST_TEST(line.find('\n') == line.size() - 1);
}

BOOST_AUTO_TEST_CASE(parse_replies) {
    auto d = agent_proto::parse_reply("12 done 3 aGkK -");
    BOOST_REQUIRE(d);
    BOOST_TEST(d->id == 12u);
    BOOST_TEST((d->kind == agent_proto::reply_kind::done));
    BOOST_TEST(d->status == 3);
    BOOST_TEST(d->out == "hi\n");
    BOOST_TEST(d->err == "");

    auto t = agent_proto::parse_reply("4 timeout 137 - ZXJy\r");
    BOOST_REQUIRE(t);
    BOOST_TEST((t->kind == agent_proto::reply_kind::timeout));
    BOOST_TEST(t->status == 137);
    BOOST_TEST(t->err == "err");

    auto r = agent_proto::parse_reply("0 ready vnet-agent/1 2.53");
    BOOST_REQUIRE(r);
    BOOST_TEST((r->kind == agent_proto::reply_kind::ready));
    BOOST_TEST(r->text == "vnet-agent/1 2.53");

    auto e = agent_proto::parse_reply("5 error bad-base64");
    BOOST_REQUIRE(e);
    BOOST_TEST((e->kind == agent_proto::reply_kind::error));
    BOOST_TEST(e->text == "bad-base64");
}

BOOST_AUTO_TEST_CASE(parse_rejects_garbage) {
    for (std::string_view bad : {"", "x", "1", "-1 done 0 - -", "1 done", "1 done 0", "1 done 0 -", "1 done 0 - - extra",
                                 "1 done x - -", "1 done 70000 - -", "1 done 0 !!!! -", "1 done 0 - Zg=", "1 bogus 0 - -",
                                 "1  done 0 - -", "99999999999999999999999 done 0 - -", "Login: root"}) {
        BOOST_TEST_INFO(bad);
        BOOST_TEST(!agent_proto::parse_reply(bad));
    }
    BOOST_TEST((agent_proto::line_id("17 whatever") == std::optional<std::uint64_t>(17)));
    BOOST_TEST(!agent_proto::line_id("garbage 17"));
}

BOOST_AUTO_TEST_CASE(ready_then_run) {
    fake_agent peer([](fake_agent& a) {
        a.write("0 ready vnet-agent/1 1.25\n");
        a.expect(a.read_line() == "1 hello", "hello line");
        a.write("1 ready vnet-agent/1 1.30\n");
        auto [id, cmd] = fake_agent::parse_run(a.read_line());
        a.expect(id == "2", "run id");
        a.expect(cmd == "printf 'a b\\n'; echo oops >&2; exit 3", "decoded command");
        a.write(id + " done 3 " + agent_proto::base64_encode("a b\n") + " " + agent_proto::base64_encode("oops\n") + "\n");
    });
    agent_client c(peer.client_fd());
    auto banner = c.wait_ready(2s);
    BOOST_REQUIRE(banner);
    BOOST_TEST(*banner == "vnet-agent/1 1.25");
    auto r = c.run("printf 'a b\\n'; echo oops >&2; exit 3", 5s);
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message()));
    BOOST_TEST(r->exit_status == 3);
    BOOST_TEST(!r->ok());
    BOOST_TEST(r->out == "a b\n");
    BOOST_TEST(r->err == "oops\n");
    BOOST_TEST(peer.finish() == "");
}

BOOST_AUTO_TEST_CASE(ready_answer_to_hello_counts) {
    fake_agent peer([](fake_agent& a) {
        auto line = a.read_line();  // no unsolicited banner: the hello answer must do
        a.write(line.substr(0, line.find(' ')) + " ready vnet-agent/1 9.99\n");
    });
    agent_client c(peer.client_fd());
    auto banner = c.wait_ready(2s);
    BOOST_REQUIRE(banner);
    BOOST_TEST(*banner == "vnet-agent/1 9.99");
}

BOOST_AUTO_TEST_CASE(partial_lines_are_reassembled) {
    fake_agent peer([](fake_agent& a) {
        auto [id, cmd] = fake_agent::parse_run(a.read_line());
        std::string reply = id + " done 0 " + agent_proto::base64_encode(cmd + " output") + " -\n";
        for (char ch : reply) {
            a.write(std::string_view(&ch, 1));
            std::this_thread::sleep_for(1ms);
        }
    });
    agent_client c(peer.client_fd());
    auto r = c.run("uname -r", 5s);
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message()));
    BOOST_TEST(r->ok());
    BOOST_TEST(r->out == "uname -r output");
}

BOOST_AUTO_TEST_CASE(garbage_and_stale_replies_are_skipped) {
    fake_agent peer([](fake_agent& a) {
        auto [id, cmd] = fake_agent::parse_run(a.read_line());
        a.write("\n");
        a.write("random console noise\n");
        a.write("0 ready vnet-agent/1 3.00\n");  // banner of a reconnection
        a.write("0 error bad-id\n");
        a.write("777 done 0 c3RhbGU= -\n");   // a late reply to another request
        a.write("778 done 0 !!!bad!!! -\n");  // unreadable and not ours
        a.write(id + " done 0 " + agent_proto::base64_encode("fresh") + " -\n");
    });
    agent_client c(peer.client_fd());
    auto r = c.run("true", 5s);
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message()));
    BOOST_TEST(r->out == "fresh");
}

BOOST_AUTO_TEST_CASE(malformed_reply_to_our_request_is_an_error) {
    fake_agent peer([](fake_agent& a) {
        auto [id, cmd] = fake_agent::parse_run(a.read_line());
        a.write(id + " done zero - -\n");
    });
    agent_client c(peer.client_fd());
    auto r = c.run("true", 5s);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().where == layer::lab);
    BOOST_TEST(r.error().what == errc::bad_value);
    BOOST_TEST(r.error().field == "agent.reply");
}

BOOST_AUTO_TEST_CASE(agent_error_and_guest_timeout_are_errors) {
    fake_agent peer([](fake_agent& a) {
        auto [id1, c1] = fake_agent::parse_run(a.read_line());
        a.write(id1 + " error bad-base64\n");
        auto [id2, c2] = fake_agent::parse_run(a.read_line());
        a.write(id2 + " timeout 137 " + agent_proto::base64_encode("partial") + " -\n");
    });
    agent_client c(peer.client_fd());
    auto r1 = c.run("x", 5s);
    BOOST_REQUIRE(!r1);
    BOOST_TEST(r1.error().field == "agent.request");
    auto r2 = c.run("sleep 100", 1s);
    BOOST_REQUIRE(!r2);
    BOOST_TEST(r2.error().what == errc::io);
    BOOST_TEST(r2.error().field == "agent.command_timeout");
    BOOST_TEST(r2.error().message() == "lab.agent.command_timeout: I/O error");
}

BOOST_AUTO_TEST_CASE(dead_peer_is_an_error_not_a_hang) {
    fake_agent peer([](fake_agent& a) {
        (void)a.read_line();
        a.close();
    });
    agent_client c(peer.client_fd());
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.run("uname -r", 30s);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().field == "agent.connection_closed");
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 5s));
    auto again = c.run("uname -r", 30s);  // the write or the read sees the dead peer
    BOOST_REQUIRE(!again);
    BOOST_TEST(again.error().what == errc::io);
    auto ready = c.wait_ready(30s);
    BOOST_REQUIRE(!ready);
}

BOOST_AUTO_TEST_CASE(silent_peer_times_out) {
    fake_agent peer([](fake_agent& a) {
        (void)a.read_line();
        (void)a.read_line();  // hold the connection open, never answer
    });
    agent_client c(peer.client_fd());
    c.set_reply_grace(0ms);
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.run("sleep 1000", 200ms);
    auto took = std::chrono::steady_clock::now() - t0;
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().field == "agent.reply_timeout");
    BOOST_TEST((took >= 190ms));
    BOOST_TEST((took < 3s));
    auto w = c.wait_ready(100ms);
    BOOST_REQUIRE(!w);
    BOOST_TEST(w.error().field == "agent.reply_timeout");
    c.close();  // lets the peer's second read end
}

BOOST_AUTO_TEST_CASE(late_reply_after_client_timeout_is_skipped) {
    fake_agent peer([](fake_agent& a) {
        auto [id1, c1] = fake_agent::parse_run(a.read_line());
        auto [id2, c2] = fake_agent::parse_run(a.read_line());  // the client gave up on id1
        a.write(id1 + " done 0 " + agent_proto::base64_encode("late") + " -\n");
        a.write(id2 + " done 0 " + agent_proto::base64_encode("second") + " -\n");
    });
    agent_client c(peer.client_fd());
    c.set_reply_grace(0ms);
    auto r1 = c.run("first", 100ms);
    BOOST_REQUIRE(!r1);
    auto r2 = c.run("second", 5s);
    BOOST_REQUIRE_MESSAGE(r2.has_value(), (r2 ? std::string() : r2.error().message()));
    BOOST_TEST(r2->out == "second");
}

BOOST_AUTO_TEST_CASE(overlong_reply_is_refused) {
    fake_agent peer([](fake_agent& a) {
        (void)a.read_line();
        std::string chunk(1 << 20, 'A');
        for (std::size_t i = 0; i <= agent_client::max_line / chunk.size() + 1; ++i) a.write(chunk);
        a.close();
    });
    agent_client c(peer.client_fd());
    auto r = c.run("yes", 30s);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().what == errc::too_long);
    c.close();
}

BOOST_AUTO_TEST_CASE(connect_to_missing_socket_gives_up) {
    auto path = fmt::format("/tmp/vnet-test-agent-missing-{}.sock", ::getpid());
    ::unlink(path.c_str());
    auto t0 = std::chrono::steady_clock::now();
    auto c = agent_client::connect(path, 150ms);
    BOOST_REQUIRE(!c);
    BOOST_TEST(c.error().what == errc::not_found);
    BOOST_TEST(c.error().field == "agent.socket");
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));

    auto dead = agent_client::connect(path, 10s, [] { return false; });
    BOOST_REQUIRE(!dead);
    BOOST_TEST(dead.error().field == "agent.guest_exited");

    auto bad = agent_client::connect(std::string(200, 'x'), 10ms);
    BOOST_REQUIRE(!bad);
    BOOST_TEST(bad.error().field == "agent.socket_path");
}

BOOST_AUTO_TEST_CASE(connect_retries_until_the_socket_appears) {
    auto path = fmt::format("/tmp/vnet-test-agent-{}.sock", ::getpid());
    ::unlink(path.c_str());
    std::thread server([&] {
        std::this_thread::sleep_for(100ms);
        int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::memcpy(sa.sun_path, path.data(), path.size());
        if (::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(s, 1) != 0) {
            ::close(s);
            return;
        }
        int a = ::accept(s, nullptr, nullptr);
        const char banner[] = "0 ready vnet-agent/1 0.50\n";
        (void)::send(a, banner, sizeof banner - 1, MSG_NOSIGNAL);
        char buf[64];
        while (::read(a, buf, sizeof buf) > 0) {}
        ::close(a);
        ::close(s);
    });
    auto c = agent_client::connect(path, 5s);
    BOOST_REQUIRE_MESSAGE(c.has_value(), (c ? std::string() : c.error().message()));
    auto banner = c->wait_ready(2s);
    BOOST_REQUIRE(banner);
    BOOST_TEST(*banner == "vnet-agent/1 0.50");
    c->close();
    server.join();
    ::unlink(path.c_str());
}

BOOST_AUTO_TEST_SUITE_END()
