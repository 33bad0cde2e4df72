// The HTTP/1.1 engine in-process (DESIGN: "each piece is unit-tested through a fake transport
// on ManualLoop"): reads arrive exactly as the test splits them, time is virtual, and the
// output queue is reached directly, so limits, pauses and timers are checked deterministically.
#include "fake_transport.hpp"

#include "http/out_queue.hpp"

#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>

#include <string>

using namespace lithe;
using namespace std::chrono_literals;
using lithe::fuzz::FakeTransport;

namespace {

/// One connection to the engine on a virtual clock.
struct Engine {
  ManualLoop loop;
  std::unique_ptr<Service> service;
  FakeTransport t{loop};

  Engine(App app, HttpOptions o = {}) {
    ManualLoop::Scope scope(loop);
    service = http_service(std::move(app), std::move(o))(loop, ListenInfo{.port = 8080});
    t.set_capture(true);
    t.attach(service->accept(t));
    t.settle();
  }
  ~Engine() {
    ManualLoop::Scope scope(loop);
    t.reset();
    t.settle();
  }
  void read(std::string_view bytes) {
    ManualLoop::Scope scope(loop);
    t.read(bytes);
    t.settle();
  }
  void advance(Millis by) {
    ManualLoop::Scope scope(loop);
    loop.advance(by);
    t.settle();
  }
  std::size_t count(std::string_view what) const {
    std::size_t n = 0;
    for (std::size_t at = t.output().find(what); at != std::string::npos;
         at = t.output().find(what, at + 1))
      ++n;
    return n;
  }
};

Response hello(Env&) {
  return {200, {{"Content-Type", "text/plain"}}, "Hello, World!"};
}

Response echo(Env& env) {
  return {200, {}, std::string(env.body())};
}

} // namespace

TEST_CASE("A chunked body read one byte at a time arrives whole, its end checked for CRLF") {
  Engine e(echo);
  std::string req = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  for (char c : req)
    e.read(std::string_view(&c, 1));
  CHECK(e.t.output().find("HTTP/1.1 200 OK") == 0);
  CHECK(e.t.output().ends_with("\r\n\r\nabcde"));
}

TEST_CASE("A flood of small chunks keeps only the head and the decoded body") {
  Engine e(echo);
  e.read("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string chunks;
  for (int i = 0; i < 20000; ++i)
    chunks += "1\r\nx\r\n"; // 120,000 bytes on the wire for 20,000 of body
  for (std::size_t at = 0; at < chunks.size(); at += 4096)
    e.read(std::string_view(chunks).substr(at, 4096));
  e.read("0\r\n\r\n");
  CHECK(e.t.output().ends_with(std::string(20000, 'x')));
}

TEST_CASE("Pipelined requests are parsed only as their answers drain, and reading pauses") {
  HttpOptions o;
  o.high_water = 4096;
  Engine e(hello, o);
  e.t.set_write_cap(1);       // the socket takes one byte, then a background write...
  e.t.set_hold_writes(true);  // ...that the peer never reads
  std::string burst;
  for (int i = 0; i < 1000; ++i)
    burst += "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  e.read(burst);
  CHECK(e.t.paused()); // output above the mark: no more reading
  // Only about a high-water mark's worth of answers was made, not a thousand.
  std::size_t answered = static_cast<std::size_t>(e.service->stats().requests);
  CHECK(answered < 100);
  e.t.set_write_cap(0); // the peer reads now
  e.t.set_hold_writes(false);
  ManualLoop::Scope scope(e.loop);
  e.t.release_write();
  e.t.settle();
  e.loop.run_ready();
  e.t.settle();
  CHECK(e.service->stats().requests == 1000);
  CHECK_FALSE(e.t.paused());
  CHECK(e.count("HTTP/1.1 200 OK") == 1000);
}

TEST_CASE("The head timeout fires while earlier output waits, and the send timeout still "
          "watches the output") {
  HttpOptions o;
  o.header_timeout = 300ms;
  o.send_timeout = 2s;
  o.high_water = 1 << 20;
  Engine e([](Env&) -> Response { return {200, {}, std::string(100000, 'b')}; }, o);
  e.t.set_write_cap(1000);
  e.t.set_hold_writes(true);
  e.read("GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHo"); // then half a request
  REQUIRE(e.t.writing());
  e.advance(400ms); // past the head timeout: the 408 is queued behind the first answer
  CHECK(e.t.open());
  e.advance(2s); // the output made no progress for the send timeout: closed
  CHECK_FALSE(e.t.open());
}

TEST_CASE("Trailer fields are dropped, never request headers") {
  Engine e([](Env& env) -> Response {
    return {200, {}, std::string(env.header("x-trailer").value_or("none"))};
  });
  e.read("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
         "X-Trailer: yes\r\n\r\n");
  CHECK(e.t.output().ends_with("\r\n\r\nnone"));
}

TEST_CASE("Small appends while a write is in flight share one buffer") {
  http::BufferPool pool;
  http::OutQueue q(pool);
  q.append(std::string(100, 'a'));
  iovec iov[8];
  std::size_t total = 0;
  int n = q.gather(iov, 8, SIZE_MAX, total);
  q.write_started(n); // a background write points into the first buffer now
  for (int i = 0; i < 1000; ++i)
    q.append("0123456789"); // 10 KB in 1,000 appends
  CHECK(q.size() == 100 + 10000);
  CHECK(q.memory() <= 2 * http::BufferPool::buffer_capacity + 4096); // two buffers, not 1,000
  q.write_done();
  q.consume(total);
  CHECK(q.size() == 10000);
}
