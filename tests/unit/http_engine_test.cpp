// The HTTP/1.1 engine in-process (DESIGN: "each piece is unit-tested through a fake transport
// on ManualLoop"): reads arrive exactly as the test splits them, time is virtual, and the
// output queue is reached directly, so limits, pauses and timers are checked deterministically.
#include "fake_transport.hpp"

#include "http/out_queue.hpp"

#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>

#include <cstdlib>
#include <string>
#include <unistd.h>

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
  e.t.set_write_cap(1);      // the socket takes one byte, then a background write...
  e.t.set_hold_writes(true); // ...that the peer never reads
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

// ---- Streamed request bodies (SPEC 2.13)

namespace {

HttpOptions streaming(std::size_t high_water = 64 * 1024) {
  HttpOptions o;
  o.stream_bodies = true;
  o.high_water = high_water;
  return o;
}

/// What a streaming app saw.
struct Seen {
  bool called = false;
  std::string data;
  int pieces = 0;
  bool ended = false;
  InputError error = InputError::none;
  AsyncCallback answer;
  Input* input = nullptr;
};

/// Reads the body with push callbacks and answers its size once it ended.
App counting(Seen& s) {
  return [&s](Env& env) -> Response {
    s.called = true;
    s.input = &env.input();
    s.answer = env.async_callback();
    env.input().on_data([&s](std::string_view b) {
      s.data.append(b);
      ++s.pieces;
    });
    env.input().on_end([&s] {
      s.ended = true;
      s.answer({200, {}, std::to_string(s.data.size())});
    });
    env.input().on_error([&s](InputError e) { s.error = e; });
    return lithe::async;
  };
}

} // namespace

TEST_CASE("A streamed body reaches the app after its head, in pieces, and the next pipelined "
          "request waits for the answer") {
  Seen s;
  Engine e(counting(s), streaming());
  e.read("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  CHECK(s.called); // at the head: 7 bytes are still to come
  CHECK(s.data == "abc");
  CHECK(e.t.output().empty());
  e.read("defghij"
         "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(s.ended);
  CHECK(s.data == "abcdefghij");
  CHECK(s.pieces == 2);
  CHECK(e.count("HTTP/1.1 200 OK") == 2); // the body's answer, then the pipelined GET's
  CHECK(e.t.output().find("\r\n\r\n10") != std::string::npos);
  CHECK(e.t.open());
}

TEST_CASE("A body that arrived whole with its head is given whole, streaming or not") {
  Engine e(echo, streaming());
  e.read("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  CHECK(e.t.output().ends_with("\r\n\r\nhello"));
}

TEST_CASE("A streamed chunked body is decoded as it arrives, read with co_await") {
  std::string got;
  bool whole = false;
  Engine e(co_app([&](Env& env) -> Co<Response> {
             for (;;) {
               InputChunk c = co_await env.input().read();
               if (c.end) {
                 whole = c.error == InputError::none;
                 break;
               }
               got.append(c.data);
             }
             co_return Response{200, {}, got};
           }),
           streaming());
  e.read("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  CHECK(got == "abc");
  e.read("2\r\nde\r\n0\r\n\r\n");
  CHECK(whole);
  CHECK(e.t.output().ends_with("\r\n\r\nabcde"));
}

TEST_CASE("Reading pauses while the app holds a high-water mark unread and resumes as it reads") {
  Input* in = nullptr;
  AsyncCallback cb;
  std::size_t read = 0;
  Engine e(
      [&](Env& env) -> Response {
        in = &env.input();
        cb = env.async_callback();
        return lithe::async; // reads nothing yet
      },
      streaming(4096));
  e.read("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
  for (int i = 0; i < 20 && !e.t.paused(); ++i)
    e.read(std::string(1024, 'x'));
  CHECK(e.t.paused());
  REQUIRE(in != nullptr);
  CHECK(in->received() < 8192); // held to the mark (plus what one read brings)
  ManualLoop::Scope scope(e.loop);
  std::function<void()> pull = [&] {
    in->read([&](InputChunk c) {
      read += c.data.size();
      if (!c.end) pull();
    });
  };
  pull();
  e.loop.run_ready();
  e.t.settle();
  CHECK_FALSE(e.t.paused());
  CHECK(read == in->received());
}

TEST_CASE("100 Continue goes out only once the app starts reading") {
  Input* in = nullptr;
  AsyncCallback cb;
  Engine e(
      [&](Env& env) -> Response {
        in = &env.input();
        cb = env.async_callback();
        return lithe::async;
      },
      streaming());
  e.read("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
  CHECK(e.count("100 Continue") == 0);
  ManualLoop::Scope scope(e.loop);
  in->on_data([](std::string_view) {});
  e.t.settle();
  CHECK(e.count("HTTP/1.1 100 Continue\r\n\r\n") == 1);
}

TEST_CASE("An app that answers before reading gets no 100 Continue, and the connection closes "
          "after its answer") {
  Engine e([](Env&) -> Response { return {403, {}, "no"}; }, streaming());
  e.read("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
  CHECK(e.count("100 Continue") == 0);
  CHECK(e.t.output().starts_with("HTTP/1.1 403"));
  CHECK(e.count("Connection: close") == 1);
}

TEST_CASE("A streamed body past its limit is answered 413 and the app hears too_large") {
  Seen s;
  App app = counting(s);
  Engine e(
      [&app](Env& env) -> Response {
        env.input().set_limit(8);
        return app(env);
      },
      streaming());
  e.read("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n");
  e.read("5\r\nfghij\r\n");
  CHECK(e.t.output().starts_with("HTTP/1.1 413"));
  CHECK(e.count("Connection: close") == 1);
  CHECK(s.error == InputError::too_large);
}

TEST_CASE("A declared length over the app's limit is refused before the body is sent") {
  Seen s;
  App app = counting(s);
  Engine e(
      [&app](Env& env) -> Response {
        env.input().set_limit(100);
        return app(env);
      },
      streaming());
  e.read("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n");
  CHECK(e.t.output().starts_with("HTTP/1.1 413"));
  CHECK(e.count("100 Continue") == 0);
}

TEST_CASE("A streamed body that stalls gets 408 and the app hears timeout") {
  Seen s;
  HttpOptions o = streaming();
  o.body_timeout = 500ms;
  Engine e(counting(s), o);
  e.read("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  e.advance(300ms);
  e.read("de"); // progress re-arms the timer
  e.advance(300ms);
  CHECK(e.t.output().empty());
  e.advance(400ms);
  CHECK(e.t.output().starts_with("HTTP/1.1 408"));
  CHECK(s.error == InputError::timeout);
}

TEST_CASE("A client that leaves in the middle of a streamed body: the app hears client_gone") {
  Seen s;
  Engine e(counting(s), streaming());
  e.read("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  {
    ManualLoop::Scope scope(e.loop);
    e.t.eof();
    e.t.settle();
  }
  CHECK(s.error == InputError::client_gone);
  CHECK_FALSE(s.ended);
  CHECK_FALSE(s.answer.pending());
  ManualLoop::Scope scope(e.loop);
  s.answer = {}; // the app lets go: nothing of the request is left
  CHECK(e.service->stats().exchanges == 0);
}

TEST_CASE("A streaming body or a hijack handler that throws anything closes the connection "
          "cleanly") {
  App app = [](Env& env) -> Response {
    if (env.path() == "/hijack")
      return {101, {{"Connection", "Upgrade"}, {"Upgrade", "x"}}, hijack([](Socket) { throw 42; })};
    return {200, {}, stream([](DeferrableBody out) {
              out.write("partial");
              throw 42;
            })};
  };
  Engine s(app);
  s.read("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(s.count("partial") == 1);
  CHECK(s.t.output().find("0\r\n\r\n") == std::string::npos); // cut short, never ended
  s.advance(3s);                                              // past the lingering close
  CHECK_FALSE(s.t.open());
  Engine h(app);
  h.read("GET /hijack HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n");
  CHECK_FALSE(h.t.open());
}

TEST_CASE("A coroutine waiting on a body that stalls is answered 408, its frame ended, no 500") {
  bool after = false;
  HttpOptions o = streaming();
  o.body_timeout = 500ms;
  Engine e(co_app([&](Env& env) -> Co<Response> {
             while (!(co_await env.input().read()).end) {
             }
             after = true; // never: the frame is destroyed while it waits
             co_return Response{200, {}, "read"};
           }),
           o);
  e.read("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  e.advance(1s);
  CHECK(e.t.output().starts_with("HTTP/1.1 408"));
  CHECK_FALSE(after);
  CHECK(e.service->stats().exchanges == 0);
}

// ---- The output queue's flusher

TEST_CASE("The flusher writes what the socket takes, then one bounded background write") {
  ManualLoop loop;
  ManualLoop::Scope scope(loop);
  FakeTransport t(loop);
  t.set_capture(true);
  t.set_write_cap(1000); // the socket takes 1,000 bytes a call
  t.set_hold_writes(true);
  http::BufferPool pool;
  http::OutQueue q(pool);
  q.append(std::string(3000, 'a'));
  q.append_owned(std::string(300000, 'b'));
  std::size_t written = 0;
  CHECK(q.flush(t, 65536, written) == http::OutQueue::Flush::waiting);
  CHECK(written == 1000);        // what try_write took
  CHECK(q.in_flight() == 65536); // then at most max_write in the background
  CHECK(t.writing());
  q.append("more");                    // queued behind the write in flight, never into its memory
  CHECK(q.background_done() == 65536); // (the transport's on_write_done, as the engine sees it)
  CHECK(q.size() == 3000 + 300000 + 4 - 1000 - 65536);
}

TEST_CASE("Without sendfile a file goes out in bounded reads, never whole") {
  ManualLoop loop;
  ManualLoop::Scope scope(loop);
  FakeTransport t(loop); // no sendfile
  t.set_capture(true);
  char path[] = "/tmp/lithe-flush-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);
  std::string data(200000, 'f');
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  http::BufferPool pool;
  http::OutQueue q(pool);
  q.append_file(fd, 0, data.size(), File(fd));
  std::size_t written = 0;
  CHECK(q.flush(t, 256 * 1024, written) == http::OutQueue::Flush::done);
  CHECK(written == data.size());
  CHECK(t.output() == data);
  CHECK(q.memory() <= 2 * 64 * 1024); // one read's buffer at a time
}

TEST_CASE("A body held unread when its request ends frees the app's callbacks, which hear why") {
  InputError heard = InputError::none;
  Engine e(
      [&heard](Env& env) -> Response {
        Input& in = env.input();
        // The callbacks hold the request's callback: a cycle only the request's end breaks.
        in.on_data([&in, cb = env.async_callback()](std::string_view) { in.pause(); });
        in.on_end([cb = env.async_callback()] { cb({200, {}, "never"}); });
        in.on_error([&heard](InputError why) { heard = why; });
        return lithe::async;
      },
      streaming(16));
  e.read("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\r\n0123456789");
  e.read(std::string(30, 'x')); // the end arrives while the app is paused
  {
    ManualLoop::Scope scope(e.loop);
    e.t.reset(); // the client goes
    e.t.settle();
  }
  CHECK(heard == InputError::client_gone);
  CHECK(e.service->stats().exchanges == 0); // nothing kept alive by the cycle
}
