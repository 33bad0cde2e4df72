// The backend conformance suite, WebSocket part (RFC 6455, RFC 7692), in the spirit of the
// Autobahn testsuite: real clients (python3-websockets, node's ws) for the happy paths, raw
// frames for every protocol violation, hostile peers against the limits and the memory budget,
// and seeded random frames; every case on every backend.
#include "../../apps/echo/echo.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"
#include "support/ws_client.hpp"

#include <lithe/mw/ws_codec.hpp>

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <random>

using namespace lithe;
using namespace lithe::test;
namespace ws = lithe::mw::ws;

namespace {

const std::string clients = std::string(LITHE_SOURCE_DIR) + "/tests/integration/clients/";

std::string text(std::string_view s, bool fin = true) {
  return client_frame((fin ? 0x80 : 0) | ws::text, s);
}

/// Connects and upgrades (support's open_ws), requiring the 101 and its accept key; the head is
/// kept in `head` when asked.
std::unique_ptr<RawClient> upgraded(std::uint16_t port, std::string_view path = "/",
                                    std::string_view extra = "", std::string* head_out = nullptr) {
  std::string head;
  auto c = open_ws(port, path, extra, &head);
  REQUIRE(c);
  REQUIRE(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos);
  if (head_out) *head_out = head;
  return c;
}

const std::string_view deflate_offer =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// Raw DEFLATE as a client makes it for permessage-deflate: a sync flush, the tail removed.
std::string client_deflate(std::string_view text) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(text.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_SYNC_FLUSH) == Z_OK);
  out.resize(out.size() - z.avail_out - 4); // the trailing 00 00 ff ff
  deflateEnd(&z);
  return out;
}

/// A server's compressed payload, inflated as a client without context takeover would.
std::string client_inflate(std::string payload) {
  payload.append("\0\0\xff\xff", 4);
  z_stream z{};
  REQUIRE(inflateInit2(&z, -15) == Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(payload.data());
  z.avail_in = static_cast<uInt>(payload.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  CHECK(inflate(&z, Z_SYNC_FLUSH) == Z_OK);
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  return out;
}

/// The server's close code after `bytes`: reads frames until a close frame.
std::uint16_t close_code_after(RawClient& c, const std::string& bytes) {
  c.send(bytes);
  for (int i = 0; i < 100; ++i) {
    auto f = read_frame(c);
    if (!f) return 0;
    if (f->opcode == ws::close) return f->code();
  }
  return 0;
}

/// The client's half of a clean close: the server answers and ends the connection, and our
/// FIN spares it the lingering close.
bool close_ws(RawClient& c) {
  c.send(client_frame(0x80 | ws::close, ws::close_payload(1000, "")));
  bool closed = c.closed_by_peer();
  c.shutdown_write();
  return closed;
}

mw::WebSocketOptions small_limits() {
  mw::WebSocketOptions o;
  o.max_message = 1024;
  return o;
}

} // namespace

TEMPLATE_TEST_CASE("python3-websockets: echo, binary, 200 KB, ping, fragments, clean close",
                   "[ws][client]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app());
  auto r = run_process({"/usr/bin/python3", clients + "ws_client.py",
                        "ws://127.0.0.1:" + std::to_string(s.port()) + "/any/path", "echo"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "text hello\nbinary 0001ff\nbig 200000\npong ok\nfragmented fragmented ü\n"
                 "closed 1000 \n");
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("permessage-deflate is negotiated and round-trips compressed messages",
                   "[ws][client][deflate]", LITHE_BACKENDS) {
  // The default: no context takeover either way, zlib streams shared by the loop thread.
  TestServer s(TestType::name, echo::app());
  auto r = run_process({"/usr/bin/python3", clients + "ws_client.py",
                        "ws://127.0.0.1:" + std::to_string(s.port()) + "/", "compressed"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "extensions permessage-deflate\nanswer permessage-deflate; "
                 "server_no_context_takeover; client_no_context_takeover\nroundtrip True\n");
  // Dedicated streams: context taken over, as the client offered.
  TestServer s1(TestType::name,
                echo::app({.compression = true, .deflate = {.context_takeover = true}}));
  auto r1 = run_process({"/usr/bin/python3", clients + "ws_client.py",
                         "ws://127.0.0.1:" + std::to_string(s1.port()) + "/", "compressed"});
  INFO(r1.err);
  CHECK(r1.exit_code == 0);
  CHECK(r1.out == "extensions permessage-deflate\nanswer permessage-deflate\nroundtrip True\n");
  // Without the option the extension is declined: plain frames, which RFC 7692 allows.
  mw::WebSocketOptions plain;
  TestServer s2(TestType::name, echo::app(plain));
  auto r2 = run_process({"/usr/bin/python3", clients + "ws_client.py",
                         "ws://127.0.0.1:" + std::to_string(s2.port()) + "/", "compressed"});
  CHECK(r2.out == "extensions \nanswer \nroundtrip True\n");
}

TEMPLATE_TEST_CASE("node ws: compressed messages both ways, shared and dedicated streams",
                   "[ws][client][deflate]", LITHE_BACKENDS) {
  for (bool takeover : {false, true}) {
    TestServer s(TestType::name,
                 echo::app({.compression = true, .deflate = {.context_takeover = takeover}}));
    auto r = run_process({"node", clients + "ws_node_client.js",
                          "ws://127.0.0.1:" + std::to_string(s.port()) + "/", "compressed"},
                         20s, "", {"NODE_PATH=/usr/share/nodejs"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(takeover ? "extensions permessage-deflate\n"
                              : "extensions permessage-deflate; server_no_context_takeover; "
                                "client_no_context_takeover\n") != std::string::npos);
    CHECK(r.out.find("roundtrip true\n") != std::string::npos);
    CHECK(r.out.find("closed 4001") != std::string::npos);
    CHECK(s.settles());
  }
}

TEMPLATE_TEST_CASE("node ws: echo, binary, ping and a close code echoed", "[ws][client]",
                   LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app());
  auto r = run_process(
      {"node", clients + "ws_node_client.js", "ws://127.0.0.1:" + std::to_string(s.port()) + "/"},
      20s, "", {"NODE_PATH=/usr/share/nodejs"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("text from node\n") != std::string::npos);
  CHECK(r.out.find("binary 010203fa\n") != std::string::npos);
  CHECK(r.out.find("pong np\n") != std::string::npos);
  CHECK(r.out.find("closed 4001") != std::string::npos);
}

TEMPLATE_TEST_CASE("Bad handshakes get 400, 426 or a plain answer", "[ws][handshake]",
                   LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app());
  // A refused upgrade ends the connection (llhttp hands what follows an Upgrade request to
  // the upgrade), so each attempt gets its own.
  auto status = [&s](std::string req) {
    RawClient c(s.port());
    c.send(req);
    auto r = c.read_response();
    return r ? r->status : 0;
  };
  std::string no_key = upgrade_request();
  no_key.replace(no_key.find("Sec-WebSocket-Key"), 43, "X-Nothing: here");
  CHECK(status(no_key) == 400);
  std::string bad_key = upgrade_request();
  bad_key.replace(bad_key.find("dGhl"), 4, "$$$$");
  CHECK(status(bad_key) == 400);
  std::string v8 = upgrade_request();
  v8.replace(v8.find("Version: 13"), 11, "Version: 8");
  RawClient c(s.port());
  c.send(v8);
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 426);
  CHECK(r->header("Sec-WebSocket-Version") == "13");
  std::string no_conn = upgrade_request();
  no_conn.replace(no_conn.find("Connection: Upgrade"), 19, "Connection: keep-alive");
  CHECK(status(no_conn) == 400);
  // Tokens in any case, in lists.
  RawClient c2(s.port());
  c2.send("GET / HTTP/1.1\r\nHost: t\r\nUpgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  CHECK(c2.read_bytes(12).starts_with("HTTP/1.1 101"));
  // A WebSocket-only endpoint answers plain requests 426.
  TestServer only(TestType::name, mw::websocket({}));
  RawClient c3(only.port());
  c3.send(get("/"));
  auto plain = c3.read_response();
  REQUIRE(plain);
  CHECK(plain->status == 426);
}

TEMPLATE_TEST_CASE("Protocol violations close with 1002", "[ws][protocol]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app());
  auto code = [&s](const std::string& bytes) {
    auto c = upgraded(s.port());
    return close_code_after(*c, bytes);
  };
  CHECK(code(client_frame(0x80 | 0x40 | ws::text, "rsv1")) == ws::protocol_error);
  CHECK(code(client_frame(0x80 | 0x20 | ws::text, "rsv2")) == ws::protocol_error);
  CHECK(code(client_frame(0x80 | 0x3, "opcode 3")) == ws::protocol_error);
  CHECK(code(client_frame(0x80 | 0xB, "opcode 11")) == ws::protocol_error);
  CHECK(code(client_frame(ws::ping, "fragmented ping")) == ws::protocol_error);
  CHECK(code(client_frame(0x80 | ws::ping, std::string(126, 'p'))) == ws::protocol_error);
  CHECK(code(client_frame(0x80 | ws::text, "unmasked", false)) == ws::protocol_error);
  CHECK(code(client_frame(0x80 | ws::continuation, "orphan")) == ws::protocol_error);
  CHECK(code(text("first", false) + text("second")) == ws::protocol_error);
  CHECK(code(client_frame(0x80 | ws::close, "x")) == ws::protocol_error);
  for (std::uint16_t bad : {0, 999, 1004, 1005, 1006, 1015, 2999, 5000})
    CHECK(code(client_frame(0x80 | ws::close, ws::close_payload(bad, ""))) == ws::protocol_error);
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("Text must be UTF-8, checked across fragments split at every byte", "[ws][utf8]",
                   LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app());
  const std::string valid = "κόσμε \xF0\x9F\x98\x80 end"; // 2-, 4-byte sequences
  auto c = upgraded(s.port());
  for (std::size_t cut = 1; cut < valid.size(); ++cut) {
    c->send(text(valid.substr(0, cut), false) +
            client_frame(0x80 | ws::continuation, valid.substr(cut)));
    auto f = read_frame(*c);
    REQUIRE(f);
    CHECK(f->payload == valid);
  }
  std::string one_by_one = client_frame(ws::text, valid.substr(0, 1));
  for (std::size_t i = 1; i < valid.size(); ++i)
    one_by_one +=
        client_frame((i + 1 == valid.size() ? 0x80 : 0) | ws::continuation, valid.substr(i, 1));
  c->send(one_by_one);
  auto f = read_frame(*c);
  REQUIRE(f);
  CHECK(f->payload == valid);
  auto code = [&s](const std::string& bytes) {
    auto c2 = upgraded(s.port());
    return close_code_after(*c2, bytes);
  };
  CHECK(code(text("bad \xC0\xAF overlong")) == ws::invalid_payload);
  CHECK(code(text("surrogate \xED\xA0\x80")) == ws::invalid_payload);
  CHECK(code(text("too high \xF4\x90\x80\x80")) == ws::invalid_payload);
  CHECK(code(text("cut \xE2\x82")) == ws::invalid_payload);
  CHECK(code(text("ok so far \xE2", false) + client_frame(0x80, "x")) == ws::invalid_payload);
  CHECK(code(client_frame(0x80 | ws::close, ws::close_payload(1000, "\xFF"))) ==
        ws::invalid_payload);
}

TEMPLATE_TEST_CASE("Pings are answered between fragments, and the close handshake echoes the code",
                   "[ws][control]", LITHE_BACKENDS) {
  std::atomic<int> clean_closes{0}, last_code{0};
  mw::WebSocketOptions o;
  o.on_close = [&](mw::WebSocket&, std::uint16_t code, std::string_view, bool clean) {
    last_code = code;
    if (clean) ++clean_closes;
  };
  TestServer s(TestType::name, echo::app(o));
  auto c = upgraded(s.port());
  c->send(text("one ", false) + client_frame(0x80 | ws::ping, "mid") +
          client_frame(ws::continuation, "two ") + client_frame(0x80 | ws::pong, "unsolicited") +
          client_frame(0x80 | ws::continuation, "three"));
  auto pong = read_frame(*c);
  REQUIRE(pong);
  CHECK(pong->opcode == ws::pong);
  CHECK(pong->payload == "mid");
  auto msg = read_frame(*c);
  REQUIRE(msg);
  CHECK(msg->payload == "one two three");
  c->send(client_frame(0x80 | ws::close, ws::close_payload(4000, "bye")));
  auto close = read_frame(*c);
  REQUIRE(close);
  CHECK(close->opcode == ws::close);
  CHECK(close->code() == 4000);
  CHECK(c->closed_by_peer());
  CHECK(s.settles());
  CHECK(clean_closes == 1);
  CHECK(last_code == 4000);
}

TEMPLATE_TEST_CASE("Messages over the limit close with 1009, even before they arrive whole",
                   "[ws][limits]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app(small_limits()));
  auto c = upgraded(s.port());
  CHECK(close_code_after(*c, text(std::string(1025, 'x'))) == ws::too_big);
  auto c2 = upgraded(s.port());
  CHECK(close_code_after(*c2, text(std::string(600, 'x'), false) +
                                  client_frame(0x80, std::string(600, 'y'))) == ws::too_big);
  auto c3 = upgraded(s.port());
  // Only the header of a huge frame: refused at once, without waiting for the payload.
  std::string huge = client_frame(0x80 | ws::binary, std::string(70000, 'z')).substr(0, 14);
  CHECK(close_code_after(*c3, huge) == ws::too_big);
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("Seeded random frames never crash the server: echo or a valid close",
                   "[ws][fuzz]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app(small_limits()));
  std::mt19937 rng(20261124);
  for (int round = 0; round < 40; ++round) {
    auto c = upgraded(s.port());
    std::string bytes;
    for (int k = 0; k < 5; ++k) {
      std::uint8_t first = static_cast<std::uint8_t>(rng() & 0xFF);
      std::string payload(rng() % 200, '\0');
      for (char& ch : payload)
        ch = static_cast<char>(rng() & 0xFF);
      bytes += client_frame(first, payload, rng() % 8 != 0);
    }
    if (round % 3 == 0) bytes = bytes.substr(0, rng() % bytes.size()); // cut anywhere
    c->send(bytes);
    // Whatever arrives must be well-formed frames; a close frame carries a valid code.
    for (int i = 0; i < 20; ++i) {
      auto f = read_frame(*c, 300ms);
      if (!f) break;
      if (f->opcode == ws::close) {
        CHECK(ws::valid_close_code(f->code()));
        break;
      }
    }
  }
  CHECK(s.settles(5s));
}

TEMPLATE_TEST_CASE("A graceful stop closes WebSockets with 1001", "[ws][stop]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app());
  auto c = upgraded(s.port());
  c->send(text("still here"));
  REQUIRE(read_frame(*c));
  std::thread stopper([&s] { s.server().stop(); });
  auto f = read_frame(*c);
  REQUIRE(f);
  CHECK(f->opcode == ws::close);
  CHECK(f->code() == ws::going_away);
  c->send(client_frame(0x80 | ws::close, ws::close_payload(1001, "")));
  stopper.join();
}

TEMPLATE_TEST_CASE("A peer that does not read is closed with 1008, or its messages dropped",
                   "[ws][backpressure]", LITHE_BACKENDS) {
  for (auto policy : {mw::BackpressurePolicy::close, mw::BackpressurePolicy::drop}) {
    std::atomic<int> code{0}, dropped{0}, sent{0};
    mw::WebSocketOptions o;
    o.max_backpressure = 256 * 1024;
    o.backpressure = policy;
    o.on_message = [&](mw::WebSocket& ws, std::string_view) {
      const std::string chunk(64 * 1024, 'b');
      for (int i = 0; i < 400; ++i) { // 25 MiB, far more than socket buffers hold
        auto r = ws.send_binary(chunk);
        if (r == mw::SendResult::dropped) ++dropped;
        if (r == mw::SendResult::sent || r == mw::SendResult::backpressure) ++sent;
        if (r == mw::SendResult::closed) break;
      }
    };
    o.on_close = [&](mw::WebSocket&, std::uint16_t c, std::string_view, bool) { code = c; };
    TestServer s(TestType::name, mw::websocket(o));
    auto c = upgraded(s.port());
    c->send(text("flood me")); // and never read
    if (policy == mw::BackpressurePolicy::close) {
      auto deadline = std::chrono::steady_clock::now() + 5s;
      while (code == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
      CHECK(code == ws::policy);
      CHECK(sent < 400);
    } else {
      auto deadline = std::chrono::steady_clock::now() + 5s;
      while (dropped + sent < 400 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
      CHECK(dropped > 0);
      CHECK(code == 0); // still open
    }
  }
}

TEMPLATE_TEST_CASE("Compression is answered with no context takeover both ways by default",
                   "[ws][deflate]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app());
  std::string head;
  upgraded(s.port(), "/", deflate_offer, &head);
  CHECK(head.find("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                  "client_no_context_takeover\r\n") != std::string::npos);
  // Dedicated streams keep context, and a smaller window is asked of the client.
  TestServer d(
      TestType::name,
      echo::app({.compression = true, .deflate = {.context_takeover = true, .window_bits = 12}}));
  upgraded(d.port(), "/", deflate_offer, &head);
  CHECK(head.find("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=12\r\n") !=
        std::string::npos);
}

TEMPLATE_TEST_CASE(
    "A compressed message of one final block (03 00) is echoed empty, and all goes on",
    "[ws][deflate][hostile]", LITHE_BACKENDS) {
  for (bool takeover : {false, true}) {
    TestServer s(TestType::name,
                 echo::app({.compression = true, .deflate = {.context_takeover = takeover}}));
    auto c = upgraded(s.port(), "/", deflate_offer);
    const std::string frame = client_frame(0x80 | 0x40 | ws::text, std::string("\x03\x00", 2));
    REQUIRE(frame.size() == 8);
    c->send(frame);
    auto empty = read_frame(*c);
    REQUIRE(empty);
    CHECK(empty->opcode == ws::text);
    CHECK(empty->payload.empty());
    // The same connection still inflates, and compresses what it sends back.
    const std::string long_text(3000, 'L');
    c->send(client_frame(0x80 | 0x40 | ws::text, client_deflate("short")) +
            client_frame(0x80 | 0x40 | ws::text, client_deflate(long_text)));
    auto shrt = read_frame(*c);
    REQUIRE(shrt);
    CHECK(shrt->payload == "short");
    auto lng = read_frame(*c);
    REQUIRE(lng);
    CHECK(lng->rsv1);
    CHECK(client_inflate(lng->payload) == long_text);
    // And the worker answers HTTP on another connection.
    RawClient http(s.port());
    http.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok");
    auto r = http.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
    CHECK(close_ws(*c));
    CHECK(s.settles());
  }
}

TEMPLATE_TEST_CASE("A deflate bomb closes with 1009 once max_message is inflated",
                   "[ws][deflate][hostile]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app());
  const std::string bomb = client_deflate(std::string(16 << 20, 'a')); // 16 MiB in ~16 KiB
  REQUIRE(bomb.size() < 64 * 1024);
  auto c = upgraded(s.port(), "/", deflate_offer);
  CHECK(close_code_after(*c, client_frame(0x80 | 0x40 | ws::binary, bomb)) == ws::too_big);
  // Invalid DEFLATE data is 1007, and the worker is still there for others.
  auto g = upgraded(s.port(), "/", deflate_offer);
  CHECK(close_code_after(*g, client_frame(0x80 | 0x40 | ws::text, "\xff\xff\xff\xff")) ==
        ws::invalid_payload);
  auto n = upgraded(s.port(), "/", deflate_offer);
  n->send(text("normal"));
  auto f = read_frame(*n);
  REQUIRE(f);
  CHECK(f->payload == "normal");
  CHECK(close_ws(*n));
  c.reset(); // our side of the closed connections too, so the server need not linger
  g.reset();
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("A flood of 1-byte continuation frames past max_message closes with 1009",
                   "[ws][limits][hostile]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app());
  const std::size_t limit = mw::WebSocketOptions{}.max_message;
  REQUIRE(limit == 256 * 1024);
  // limit + 1 one-byte fragments, 7 bytes each on the wire: the last one is one too many.
  std::string flood = client_frame(ws::text, "x");
  flood.reserve(7 * (limit + 1));
  const std::string piece = client_frame(ws::continuation, "y");
  for (std::size_t i = 1; i <= limit; ++i)
    flood += piece;
  auto c = upgraded(s.port());
  auto start = std::chrono::steady_clock::now();
  CHECK(close_code_after(*c, flood) == ws::too_big);
  CHECK(std::chrono::steady_clock::now() - start < 10s); // linear work, not quadratic
  // The same flood against a smaller memory budget: 1009, and the reason names the budget.
  HttpOptions tight;
  tight.max_connection_memory = 128 * 1024;
  mw::WebSocketOptions big;
  big.max_message = 4 << 20;
  TestServer b(TestType::name, echo::app(big), tight);
  auto d = upgraded(b.port());
  d->send(flood);
  std::optional<ServerFrame> f;
  while ((f = read_frame(*d)) && f->opcode != ws::close) {
  }
  REQUIRE(f);
  CHECK(f->code() == ws::too_big);
  CHECK(f->payload.find("memory budget") != std::string::npos);
  c.reset();
  d.reset();
  CHECK(s.settles());
  CHECK(b.settles());
}

TEMPLATE_TEST_CASE("A ping flood from a peer that never reads: pongs stop at the mark, the "
                   "latest ping is answered, others are served",
                   "[ws][control][hostile]", LITHE_BACKENDS) {
  const std::size_t mark = HttpOptions{}.high_water;
  std::atomic<std::size_t> max_buffered{0};
  std::atomic<int> pings_seen{0};
  mw::WebSocketOptions o;
  o.on_ping = [&](mw::WebSocket& ws, std::string_view) {
    ++pings_seen;
    std::size_t b = ws.buffered_amount(), m = max_buffered.load();
    while (b > m && !max_buffered.compare_exchange_weak(m, b)) {
    }
  };
  TestServer s(TestType::name, echo::app(o));
  auto c = upgraded(s.port());
  // A small send buffer, so that the flood backs up into the server soon. (The receive buffer
  // stays: shrunk, TCP would crawl once we read. The server's own send buffer may grow to a
  // few MB, tcp_wmem, hence 10 MB of pings.)
  int small = 4096;
  ::setsockopt(c->fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);

  // 80000 pings of 125 bytes numbered in their payloads, then a message.
  constexpr int pings = 80000;
  std::string wire;
  wire.reserve(pings * 131 + 16);
  for (int i = 0; i < pings; ++i) {
    std::string id = std::to_string(i);
    wire += client_frame(0x80 | ws::ping, id + std::string(125 - id.size(), '.'));
  }
  wire += text("end");
  std::size_t sent = 0;
  auto send_some = [&] {
    while (sent < wire.size()) {
      ssize_t n =
          ::send(c->fd(), wire.data() + sent, wire.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
      sent += static_cast<std::size_t>(n);
    }
    return true;
  };

  // Flood without reading until the server's output reached the mark and it stopped reading.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline && sent < wire.size()) {
    REQUIRE(send_some());
    if (max_buffered >= mark - 200 && sent < wire.size()) {
      pollfd p{c->fd(), POLLOUT, 0};
      if (::poll(&p, 1, 100) == 0) break; // the server reads no more: its output is full
    } else {
      pollfd p{c->fd(), POLLOUT, 0};
      ::poll(&p, 1, 100);
    }
  }
  REQUIRE(sent < wire.size()); // the server held off before the flood was through
  CHECK(max_buffered <= mark + 256);

  // Meanwhile the same worker serves a normal client.
  auto other = upgraded(s.port());
  other->send(text("hello"));
  auto hello = read_frame(*other);
  REQUIRE(hello);
  CHECK(hello->payload == "hello");
  CHECK(close_ws(*other));

  // Now read: every pong in order, the latest ping answered, then the echo.
  std::string in;
  std::size_t at = 0;
  int pongs = 0, last_id = -1;
  bool in_order = true, got_end = false;
  char buf[65536];
  deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline && !(got_end && last_id == pings - 1)) {
    pollfd p{c->fd(), static_cast<short>(POLLIN | (sent < wire.size() ? POLLOUT : 0)), 0};
    ::poll(&p, 1, 100);
    if (p.revents & POLLOUT) REQUIRE(send_some());
    ssize_t n = ::recv(c->fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) break;
    if (n > 0) in.append(buf, static_cast<std::size_t>(n));
    while (in.size() - at >= 2) {
      const auto op = static_cast<std::uint8_t>(in[at] & 0x0F);
      const std::size_t len = static_cast<unsigned char>(in[at + 1]) & 0x7F;
      REQUIRE(len < 126);
      if (in.size() - at < 2 + len) break;
      std::string_view payload(in.data() + at + 2, len);
      if (op == ws::pong) {
        int id = std::stoi(std::string(payload.substr(0, payload.find('.'))));
        in_order = in_order && id > last_id;
        last_id = id;
        ++pongs;
      } else if (op == ws::text) {
        got_end = payload == "end";
      }
      at += 2 + len;
    }
    if (at > (1 << 20)) {
      in.erase(0, at);
      at = 0;
    }
  }
  INFO(pongs << " pongs for " << pings << " pings");
  CHECK(got_end);
  CHECK(last_id == pings - 1); // §5.5.3: the most recent ping gets its pong
  CHECK(in_order);
  CHECK(pongs > 0);
  CHECK(pongs < pings); // those that came while the output was full were not queued
  CHECK(pings_seen == pings);
  CHECK(max_buffered <= mark + 256);
  CHECK(close_ws(*c));
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("Dedicated zlib streams that do not fit the memory budget close with 1009",
                   "[ws][deflate][limits]", LITHE_BACKENDS) {
  HttpOptions tight;
  tight.max_connection_memory = 200 * 1024; // the inflater fits, the deflater does not
  TestServer s(TestType::name,
               echo::app({.compression = true, .deflate = {.context_takeover = true}}), tight);
  auto c = upgraded(s.port(), "/", deflate_offer);
  // A short message inflates (39 KiB of state) and is echoed uncompressed.
  c->send(client_frame(0x80 | 0x40 | ws::text, client_deflate("short")));
  auto f = read_frame(*c);
  REQUIRE(f);
  CHECK(f->payload == "short");
  // A long one would be compressed on the way back: 262 KiB of deflate state is refused.
  c->send(client_frame(0x80 | 0x40 | ws::text, client_deflate(std::string(1000, 'l'))));
  while ((f = read_frame(*c)) && f->opcode != ws::close) {
  }
  REQUIRE(f);
  CHECK(f->code() == ws::too_big);
  CHECK(f->payload.find("memory budget") != std::string::npos);
  CHECK(c->closed_by_peer());
  c.reset();
  CHECK(s.settles());
}
