// The error log: each line is formatted in a stack buffer and written with one write(2),
// so lines from different threads never interleave.
#include <lithe/log.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <unistd.h>

namespace lithe {

namespace {
Function<void(std::string_view)>& custom_sink() {
  static Function<void(std::string_view)> sink;
  return sink;
}
} // namespace

void set_error_log(Function<void(std::string_view line)> sink) {
  custom_sink() = std::move(sink);
}

void log_error(std::string_view message) noexcept {
  char buf[1024];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ lithe: ", &tm);
  std::size_t take = std::min(message.size(), sizeof buf - n - 1);
  std::memcpy(buf + n, message.data(), take);
  n += take;
  if (auto& sink = custom_sink()) {
    sink(std::string_view(buf, n));
    return;
  }
  buf[n++] = '\n';
  ssize_t r = ::write(STDERR_FILENO, buf, n);
  (void)r;
}

} // namespace lithe
