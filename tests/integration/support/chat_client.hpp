// Test support: lithe-chat's clients for the tests that restart or balance it (restart_test,
// deploy_test): a publisher posting numbered messages in a loop, and the numbers a stream's
// bytes (SSE or WebSocket frames) carried.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lithe::test {

/// POSTs "m0", "m1", ... to lithe-chat's /say on `port`, one connection each and each answer
/// awaited, on a thread of its own until finish(); counts the answers that were not 204.
class ChatPublisher {
public:
  explicit ChatPublisher(std::uint16_t port);
  ~ChatPublisher() { finish(); }
  ChatPublisher(const ChatPublisher&) = delete;
  ChatPublisher& operator=(const ChatPublisher&) = delete;
  /// Stops after the message on its way; the number sent.
  int finish();
  int sent() const { return sent_; }
  /// Waits (bounded) until at least `n` were sent; false at the deadline.
  bool wait_sent(int n, std::chrono::milliseconds within = std::chrono::seconds(20));
  int failed() const { return failed_; }
  /// What each failed POST got: "m12: 502 <body>" or "m12: no answer", a line each.
  std::string failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }

private:
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0}, failed_{0};
  std::mutex mu_;
  std::condition_variable progress_;
  std::string failures_; // under mu_
  std::thread thread_;
};

/// The numbers N of the chat messages "mN" in `bytes`, in order.
std::vector<int> chat_messages(const std::string& bytes);
/// 0, 1, ..., n - 1: what chat_messages should find when nothing was lost.
std::vector<int> numbers(int n);
/// `v` in ascending order: messages published through two processes may reach Redis, and so
/// every subscriber, in either order (each process publishes in its own order).
std::vector<int> sorted(std::vector<int> v);
/// What `got` lacks or repeats of 0..n-1, as " m7x0 m9x2", or "none": a failure's message.
std::string difference(const std::vector<int>& got, int n);
/// The JSON text of message N as it appears in the stream: "text":"mN".
std::string chat_text(int n);

} // namespace lithe::test
