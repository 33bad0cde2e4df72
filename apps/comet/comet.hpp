// lithe-comet's app: a Comet push server. Clients wait for messages either by long polling
// (GET /poll?since=ID answers with the messages after ID, or waits for the next one) or by
// streaming (GET /stream: one chunked response, a line per message). POST /publish with a
// text body reaches every waiting client, on every worker thread. The async callbacks and
// bodies it holds are thread-safe handles (SPEC 4.4, 5.5), so a publish on one worker simply
// calls them; each posts itself to its own connection's loop.
#pragma once

#include <lithe/lithe.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace comet {

class Hub {
public:
  static constexpr std::size_t history = 100;          // messages kept for ?since=
  static constexpr std::size_t max_message = 64 << 10; // a larger publish is 413

  /// Answers now (the messages after `since`) or holds `cb` until the next publish.
  /// Returns the waiter's key, or 0 when it answered at once.
  std::uint64_t poll(std::uint64_t since, lithe::AsyncCallback cb) {
    std::unique_lock lock(mu_);
    if (since < last_id_ && !log_.empty()) {
      lithe::Response r = answer(since);
      lock.unlock(); // a callback may close the connection, whose hook takes the lock
      cb(std::move(r));
      return 0;
    }
    waiters_.emplace(++next_key_, std::move(cb));
    return next_key_;
  }
  void forget(std::uint64_t key) {
    std::lock_guard lock(mu_);
    waiters_.erase(key);
  }
  std::uint64_t stream(lithe::DeferrableBody body) {
    std::lock_guard lock(mu_);
    streams_.emplace(++next_key_, std::move(body));
    return next_key_;
  }
  void unstream(std::uint64_t key) {
    std::lock_guard lock(mu_);
    streams_.erase(key);
  }
  /// Delivers `text` to every waiter and stream; returns how many it reached.
  std::size_t publish(std::string text) {
    std::unique_lock lock(mu_);
    log_.push_back({++last_id_, std::move(text)});
    if (log_.size() > history) log_.pop_front();
    const Message& m = log_.back();
    lithe::Response r = answer(m.id - 1);
    std::string line = std::to_string(m.id) + " " + m.text + "\n";
    std::map<std::uint64_t, lithe::AsyncCallback> waiters;
    waiters.swap(waiters_);
    std::vector<lithe::DeferrableBody> streams;
    for (auto& [key, body] : streams_)
      streams.push_back(body);
    lock.unlock(); // delivering may close connections, whose hooks take the lock
    std::size_t reached = 0;
    for (auto& [key, cb] : waiters)
      reached += cb({r.status, r.headers, std::string(r.body.to_string())}) ? 1 : 0;
    for (const lithe::DeferrableBody& body : streams)
      // A stream over its high-water mark skips this message rather than buffer without bound.
      reached += body.writable() && body.write(std::string_view(line)) ? 1 : 0;
    return reached;
  }

private:
  struct Message {
    std::uint64_t id;
    std::string text;
  };
  lithe::Response answer(std::uint64_t since) const {
    std::string out;
    for (const Message& m : log_)
      if (m.id > since) out += std::to_string(m.id) + " " + m.text + "\n";
    return {200,
            {{"Content-Type", "text/plain; charset=utf-8"}, {"Cache-Control", "no-cache"}},
            std::move(out)};
  }

  std::mutex mu_;
  std::deque<Message> log_;
  std::uint64_t last_id_ = 0, next_key_ = 0;
  std::map<std::uint64_t, lithe::AsyncCallback> waiters_;
  std::map<std::uint64_t, lithe::DeferrableBody> streams_;
};

inline lithe::Response text(int status, std::string body) {
  return {status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
}

/// The app: `hub` must outlive the server.
inline lithe::App app(Hub& hub) {
  return [&hub](lithe::Env& env) -> lithe::Response {
    std::string_view path = env.path(), method = env.method();
    if (path == "/publish") {
      if (method != "POST") return {405, {{"Allow", "POST"}}, "POST a message\n"};
      if (env.body().empty()) return text(400, "empty message\n");
      if (env.body().size() > Hub::max_message) return text(413, "message over 64 KiB\n");
      if (env.body().find('\n') != std::string_view::npos)
        return text(400, "a message is one line\n");
      std::size_t n = hub.publish(std::string(env.body()));
      return text(202, "delivered to " + std::to_string(n) + "\n");
    }
    if (method != "GET" && method != "HEAD") return {405, {{"Allow", "GET, HEAD"}}, ""};
    if (path == "/poll") {
      std::uint64_t since = ~std::uint64_t{0}; // no ?since=: wait for the next message
      std::string_view q = env.query();
      if (q.starts_with("since=")) {
        auto n = lithe::parse_u64(q.substr(6));
        if (!n) return text(400, "since must be a message id\n");
        since = *n;
      }
      std::uint64_t key = hub.poll(since, env.async_callback());
      if (key != 0) env.on_close([&hub, key](lithe::CloseReason) { hub.forget(key); });
      return lithe::async;
    }
    if (path == "/stream") {
      return {200,
              {{"Content-Type", "text/plain; charset=utf-8"}, {"Cache-Control", "no-cache"}},
              lithe::stream(
                  [&hub](lithe::DeferrableBody out) {
                    out.write(std::string_view("subscribed\n"));
                    std::uint64_t key = hub.stream(out);
                    out.on_close([&hub, key](lithe::CloseReason) { hub.unstream(key); });
                  },
                  true)};
    }
    if (path == "/")
      return text(200, "lithe-comet: GET /poll[?since=ID], GET /stream, POST /publish\n");
    return text(404, "Not Found\n");
  };
}

} // namespace comet
