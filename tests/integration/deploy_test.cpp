// The deployment of docs/deploy.md, tested whole: two lithe-chat processes sharing their room
// through a redis-server of the test's own (--redis), behind Debian's haproxy (HTTP, SSE and
// WebSocket on one frontend, round robin). A message posted through haproxy reaches SSE and
// WebSocket subscribers on both processes; then one process restarts (SIGUSR2) while a client
// posts messages in a loop, and nothing is lost: subscribers that stayed connected get every
// message, and SSE subscribers whose stream ended catch up with Last-Event-ID.
#include "support/app_process.hpp"
#include "support/backends.hpp"
#include "support/chat_client.hpp"
#include "support/haproxy.hpp"
#include "support/net_client.hpp"
#include "support/redis_server.hpp"
#include "support/ws_client.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <thread>

using namespace lithe;
using namespace lithe::test;

namespace {

/// The configuration docs/deploy.md documents ("HAProxy in front"), with the test's ports.
std::string haproxy_config(std::uint16_t port, std::uint16_t a, std::uint16_t b) {
  return R"(global
  maxconn 4096

defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout tunnel 1h
  timeout http-request 10s
  timeout http-keep-alive 10s
  # SSE and request bodies stream through as they come
  no option http-buffer-request
  # a request sent on a pooled keep-alive connection just as lithe closed it (a restart's
  # drain) went unread: sent again
  retries 3
  retry-on conn-failure empty-response

frontend web
  bind 127.0.0.1:)" +
         std::to_string(port) + R"(
  default_backend chat

backend chat
  balance roundrobin
  http-response set-header X-Served-By %s
  server a 127.0.0.1:)" +
         std::to_string(a) + R"(
  server b 127.0.0.1:)" +
         std::to_string(b) + "\n";
}

// The last messages, one posted to each process directly: each process publishes in the order
// it was asked, so once both arrived every message before them has too.
const std::string end_a = "\"text\":\"end-a\"", end_b = "\"text\":\"end-b\"";
bool has_both_ends(const std::string& bytes) {
  return bytes.find(end_a) != std::string::npos && bytes.find(end_b) != std::string::npos;
}

/// Which server (haproxy's name, "a" or "b") answered, from a response head.
std::string served_by(const std::string& head) {
  std::smatch m;
  static const std::regex by(R"(\r\nx-served-by: *(\w+)\r\n)", std::regex::icase);
  return std::regex_search(head, m, by) ? std::string(m[1]) : std::string();
}

void say(std::uint16_t port, std::string_view text) {
  RawClient c(port);
  std::string body = "text=" + std::string(text);
  c.send("POST /say HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body);
  auto r = c.read_response();
  REQUIRE(r);
  REQUIRE(r->status == 204);
}

/// An SSE subscriber through the balancer, reading on a thread of its own until both end
/// messages; when its stream ends (its process restarted) it connects again with
/// Last-Event-ID, as EventSource does (at once: the room's history holds 200 events, fewer
/// than a second of this test's publisher).
struct SseSubscriber {
  std::uint16_t port;
  std::unique_ptr<RawClient> c;
  std::string server, bytes;
  int reconnects = 0;
  bool ended_well = false;
  std::thread reader;

  explicit SseSubscriber(std::uint16_t lb) : port(lb), c(std::make_unique<RawClient>(lb)) {
    c->send(get("/events"));
    bytes = c->read_until(": connected\n\n");
    server = served_by(bytes);
  }
  void start() {
    reader = std::thread([this] {
      auto deadline = std::chrono::steady_clock::now() + 60s;
      std::size_t stream_start = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        bytes += c->read_until(end_b, 10ms); // a slice: then look for the stream's end
        if (has_both_ends(bytes)) {
          ended_well = true;
          return;
        }
        if (bytes.find("\r\n0\r\n\r\n", stream_start) == std::string::npos) continue;
        std::string last;
        static const std::regex id(R"(\nid: (\d+)\n)");
        for (auto it = std::sregex_iterator(bytes.begin(), bytes.end(), id);
             it != std::sregex_iterator(); ++it)
          last = (*it)[1];
        stream_start = bytes.size();
        c = std::make_unique<RawClient>(port);
        c->send(get("/events", "Last-Event-ID: " + last + "\r\n"));
        ++reconnects;
      }
    });
  }
};

/// A WebSocket subscriber through the balancer, reading on a thread of its own until both end
/// messages or a close frame.
struct WsSubscriber {
  std::unique_ptr<RawClient> c;
  std::string server, bytes;
  std::uint16_t close_code = 0;
  bool ended_well = false;
  std::thread reader;

  explicit WsSubscriber(std::uint16_t lb) {
    std::string head;
    c = open_ws(lb, "/ws?name=ws", "", &head);
    server = served_by(head);
  }
  void start() {
    reader = std::thread([this] {
      while (auto f = read_frame(*c, 30s)) {
        if (f->opcode == 0x8) {
          close_code = f->code();
          c->send(client_frame(0x88, std::string("\x03\xe9", 2)));
          return;
        }
        bytes += f->payload;
        if (has_both_ends(bytes)) {
          ended_well = true;
          return;
        }
      }
    });
  }
};

} // namespace

TEMPLATE_TEST_CASE("Two lithe-chat processes sharing Redis behind haproxy are one room, and "
                   "restarting one under load loses no message",
                   "[deploy][redis][restart]", LITHE_BACKENDS) {
  RedisServer redis;
  RestartingApp a("chat", TestType::name, {"--redis", redis.url()});
  RestartingApp b("chat", TestType::name, {"--redis", redis.url()});
  HaProxy lb([&](std::uint16_t port) { return haproxy_config(port, a.port(), b.port()); });

  // Round robin spreads the subscribers: one of each kind on each process at least.
  std::vector<std::unique_ptr<SseSubscriber>> sse;
  std::vector<std::unique_ptr<WsSubscriber>> ws;
  auto covers = [](const auto& subs) {
    bool on_a = false, on_b = false;
    for (const auto& s : subs) {
      on_a = on_a || s->server == "a";
      on_b = on_b || s->server == "b";
    }
    return on_a && on_b;
  };
  for (int i = 0; i < 6 && !covers(sse); ++i)
    sse.push_back(std::make_unique<SseSubscriber>(lb.port()));
  for (int i = 0; i < 6 && !covers(ws); ++i)
    ws.push_back(std::make_unique<WsSubscriber>(lb.port()));
  REQUIRE(covers(sse));
  REQUIRE(covers(ws));

  // One message through the balancer reaches every subscriber, on both processes.
  say(lb.port(), "hello");
  for (auto& s : sse)
    CHECK(s->c->read_until("\"text\":\"hello\"").ends_with("\"text\":\"hello\""));
  for (auto& w : ws) {
    std::string got;
    while (got.find("\"text\":\"hello\"") == std::string::npos)
      if (auto f = read_frame(*w->c))
        got += f->payload;
      else
        break;
    CHECK(got.find("\"text\":\"hello\"") != std::string::npos);
  }

  // Process a restarts while a client posts in a loop through the balancer.
  for (auto& s : sse)
    s->start();
  for (auto& w : ws)
    w->start();
  ChatPublisher publisher(lb.port());
  REQUIRE(publisher.wait_sent(50));
  const pid_t old = a.pid();
  const pid_t now = a.restart();
  REQUIRE(now > 0);
  CHECK(now != old);
  REQUIRE(publisher.wait_sent(publisher.sent() + 50)); // and on, with the new process
  const int sent = publisher.finish();
  say(a.port(), "end-a");
  say(b.port(), "end-b");
  for (auto& s : sse)
    s->reader.join();
  for (auto& w : ws)
    w->reader.join();

  INFO(a.err() << b.err() << publisher.failures());
  CHECK(publisher.failed() == 0); // every POST answered 204 through haproxy
  // Each process publishes to Redis on its own: two messages posted one after the other through
  // different processes may reach Redis in either order. So: each message once, in any order.
  const std::vector<int> all = numbers(sent);
  for (auto& s : sse) {
    INFO("SSE subscriber on " << s->server << ", reconnected " << s->reconnects << " times");
    CHECK(s->ended_well);
    INFO("lacking or repeated:" << difference(chat_messages(s->bytes), sent));
    CHECK(sorted(chat_messages(s->bytes)) == all); // once each, across its streams
    if (s->server == "b") CHECK(s->reconnects == 0);
    if (s->server == "a") CHECK(s->reconnects == 1);
  }
  for (auto& w : ws) {
    INFO("WebSocket subscriber on " << w->server);
    std::vector<int> got = sorted(chat_messages(w->bytes));
    INFO("lacking or repeated:" << difference(got, sent));
    if (w->server == "b") {
      CHECK(w->ended_well); // stayed connected: every message
      CHECK(got == all);
    } else {
      CHECK(w->close_code == 1001); // the restart closed it cleanly, each message once till then
      CHECK(std::adjacent_find(got.begin(), got.end()) == got.end());
      CHECK(!got.empty());
    }
  }
}
