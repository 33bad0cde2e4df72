// Test support: lithe-chat's publisher and message numbers (chat_client.hpp).
#include "chat_client.hpp"

#include "net_client.hpp"

#include <algorithm>
#include <regex>

namespace lithe::test {

ChatPublisher::ChatPublisher(std::uint16_t port)
    : thread_([this, port] {
        while (!stop_) {
          std::string body = "text=m" + std::to_string(sent_.load());
          RawClient c(port);
          c.send("POST /say HTTP/1.1\r\nHost: t\r\nContent-Type: "
                 "application/x-www-form-urlencoded\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body);
          auto r = c.read_response();
          if (!r || r->status != 204) {
            std::lock_guard lock(mu_);
            ++failed_;
            failures_ += "m" + std::to_string(sent_.load()) + ": " +
                         (r ? std::to_string(r->status) + " " + r->body : "no answer") + "\n";
          }
          {
            std::lock_guard lock(mu_);
            ++sent_;
          }
          progress_.notify_all();
        }
      }) {}

bool ChatPublisher::wait_sent(int n, std::chrono::milliseconds within) {
  std::unique_lock lock(mu_);
  return progress_.wait_for(lock, within, [&] { return sent_ >= n; });
}

int ChatPublisher::finish() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return sent_;
}

std::vector<int> chat_messages(const std::string& bytes) {
  std::vector<int> out;
  static const std::regex text(R"re("text":"m(\d+)")re");
  for (auto it = std::sregex_iterator(bytes.begin(), bytes.end(), text);
       it != std::sregex_iterator(); ++it)
    out.push_back(std::stoi((*it)[1]));
  return out;
}

std::vector<int> numbers(int n) {
  std::vector<int> all;
  for (int i = 0; i < n; ++i)
    all.push_back(i);
  return all;
}

std::vector<int> sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::string difference(const std::vector<int>& got, int n) {
  std::string out;
  std::vector<int> seen(static_cast<std::size_t>(n), 0);
  for (int g : got)
    if (g >= 0 && g < n) ++seen[static_cast<std::size_t>(g)];
  for (int i = 0; i < n; ++i)
    if (seen[static_cast<std::size_t>(i)] != 1)
      out += " m" + std::to_string(i) + "x" + std::to_string(seen[static_cast<std::size_t>(i)]);
  return out.empty() ? "none" : out;
}

std::string chat_text(int n) {
  return "\"text\":\"m" + std::to_string(n) + "\"";
}

} // namespace lithe::test
