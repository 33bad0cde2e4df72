// CommonLogger: format at the response's end, write on a background thread. Every field taken
// from the request is escaped as Apache's mod_log_config does (CLF) or as JSON strings (RFC
// 8259 §7), so no request can end a quoted field or forge a line.
#include <lithe/mw/common_logger.hpp>

#include <lithe/env.hpp>
#include <lithe/mw/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace lithe::mw {

namespace {

/// One writer thread for the process: loops append lines under a lock (a memcpy), the
/// thread writes them out in batches. Lives until exit.
class LogWriter {
public:
  static LogWriter& instance() {
    static LogWriter* w = new LogWriter(); // never destroyed: workers may log until exit
    return *w;
  }
  void append(int fd, std::string&& line) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back({fd, std::move(line)});
      ++appended_;
    }
    wake_.notify_one();
  }
  void flush() {
    std::unique_lock lock(mu_);
    std::uint64_t target = appended_;
    done_.wait(lock, [&] { return written_ >= target; });
  }

private:
  struct Line {
    int fd;
    std::string text;
  };
  LogWriter() {
    std::thread([this] { run(); }).detach();
  }
  void run() {
    std::vector<Line> batch;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return !queue_.empty(); });
        batch.swap(queue_);
      }
      std::string out;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        out += batch[i].text;
        if (i + 1 == batch.size() || batch[i + 1].fd != batch[i].fd) {
          write_all(batch[i].fd, out);
          out.clear();
        }
      }
      {
        std::lock_guard lock(mu_);
        written_ += batch.size();
      }
      batch.clear();
      done_.notify_all();
    }
  }
  static void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::write(fd, s.data(), s.size());
      if (n <= 0) return; // a closed or broken log: lines are dropped, never the server
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<Line> queue_;
  std::uint64_t appended_ = 0, written_ = 0;
};

/// SCRIPT_NAME and PATH_INFO as the logger saw them on the way in (inner middleware, URLMap and
/// routers, may move them later), kept without a copy or an allocation: as offsets into
/// REQUEST_URI, which the engine moves with the request's bytes when the request outlives the
/// read buffer (SPEC 2.9), where views captured at call time would dangle. Views that are not
/// inside the target (a middleware's own strings) are copied once into the env (env.keep),
/// whose storage stays put until the response finished.
class SeenPath {
public:
  explicit SeenPath(Env& env) {
    const std::string_view target = env.target(), script = env.script_name(), path = env.path();
    if (inside(script, target) && inside(path, target) &&
        target.size() <= std::numeric_limits<std::uint32_t>::max()) {
      script_ = span(script, target.data());
      path_ = span(path, target.data());
      return;
    }
    std::string copy;
    copy.reserve(script.size() + path.size());
    copy.append(script).append(path);
    kept_ = env.keep(std::move(copy)).data();
    script_ = {0, static_cast<std::uint32_t>(script.size())};
    path_ = {static_cast<std::uint32_t>(script.size()), static_cast<std::uint32_t>(path.size())};
  }
  std::string_view script(const Env& env) const { return view(env, script_); }
  std::string_view path(const Env& env) const { return view(env, path_); }

private:
  struct Span {
    std::uint32_t offset = 0, length = 0;
  };
  static bool inside(std::string_view v, std::string_view in) {
    if (v.empty()) return true;
    std::less_equal<const char*> le; // a total order, also for unrelated pointers
    return le(in.data(), v.data()) && le(v.data() + v.size(), in.data() + in.size());
  }
  static Span span(std::string_view v, const char* base) {
    if (v.empty()) return {};
    return {static_cast<std::uint32_t>(v.data() - base), static_cast<std::uint32_t>(v.size())};
  }
  std::string_view view(const Env& env, Span s) const {
    if (s.length == 0) return {};
    return {(kept_ ? kept_ : env.target().data()) + s.offset, s.length};
  }

  const char* kept_ = nullptr; // the env's copy, or null: offsets into env.target()
  Span script_, path_;
};

/// Apache's log escaping (mod_log_config since 2.0.46, ap_escape_logitem): `"` and `\` take a
/// backslash, whitespace controls their C form (\n, \t, ...), every other byte outside
/// printable ASCII is \xhh. A field can then neither end its quotes nor start a new line.
void append_clf(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '"' && c != '\\') {
      out += c;
      continue;
    }
    out += '\\';
    switch (c) {
    case '"':
    case '\\':
      out += c;
      break;
    case '\b':
      out += 'b';
      break;
    case '\n':
      out += 'n';
      break;
    case '\r':
      out += 'r';
      break;
    case '\t':
      out += 't';
      break;
    case '\v':
      out += 'v';
      break;
    default:
      out += 'x';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
}

/// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629 §4: no overlong forms, no
/// surrogates, nothing past U+10FFFF), or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto at = [&s](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf; // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
  return n;
}

/// The inside of a JSON string (RFC 8259 §7) for bytes from the request: `"`, `\`, controls
/// and DEL escaped; a byte that is not part of well-formed UTF-8 is written as the text
/// \xhh, as the common format writes it, so the line stays valid JSON and loses nothing.
void append_json_text(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size();) {
    auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x80) {
      if (u == '"' || u == '\\') {
        out += '\\';
        out += s[i];
      } else if (u < 0x20 || u == 0x7f) {
        out += "\\u00";
        out += hex[u >> 4];
        out += hex[u & 0xf];
      } else {
        out += s[i];
      }
      ++i;
    } else if (std::size_t n = utf8_sequence(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\\\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
      ++i;
    }
  }
}

void append_json_field(std::string& out, std::string_view name, std::string_view a,
                       std::string_view b = {}) {
  out += ",\"";
  out += name;
  out += "\":\"";
  append_json_text(out, a);
  append_json_text(out, b);
  out += '"';
}

std::string format_line(const Env& env, const SeenPath& seen, const Outcome& o, LogFormat format) {
  using namespace std::chrono;
  const double secs = duration<double>(o.duration).count();
  // The request's wall-clock start: now, less how long it took.
  std::time_t start = system_clock::to_time_t(system_clock::now() -
                                              duration_cast<system_clock::duration>(o.duration));
  std::tm tm{};
  ::gmtime_r(&start, &tm);
  char when[40], num[64];
  std::string line;
  line.reserve(160);
  if (format == LogFormat::common) {
    std::strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    if (env.remote_addr().empty())
      line += '-';
    else
      append_clf(line, env.remote_addr());
    line += " - - [";
    line += when;
    line += "] \"";
    append_clf(line, env.method());
    line += ' ';
    append_clf(line, seen.script(env));
    append_clf(line, seen.path(env));
    if (!env.query().empty()) {
      line += '?';
      append_clf(line, env.query());
    }
    line += ' ';
    append_clf(line, env.protocol());
    std::snprintf(num, sizeof num, "\" %d ", o.status);
    line += num;
    if (o.body_bytes == 0)
      line += '-';
    else
      line += std::to_string(o.body_bytes);
    std::snprintf(num, sizeof num, " %.4f\n", secs);
    line += num;
    return line;
  }
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  line += "{\"time\":\"";
  line += when;
  line += '"';
  append_json_field(line, "remote", env.remote_addr());
  append_json_field(line, "method", env.method());
  append_json_field(line, "path", seen.script(env), seen.path(env));
  append_json_field(line, "query", env.query());
  append_json_field(line, "protocol", env.protocol());
  std::snprintf(num, sizeof num, ",\"status\":%d,\"bytes\":%llu,\"duration\":%.6f", o.status,
                static_cast<unsigned long long>(o.body_bytes), secs);
  line += num;
  line += ",\"outcome\":";
  append_json_string(line, to_string(o.reason));
  line += "}\n";
  return line;
}

/// The finish hook: small enough for lithe::Function's inline buffer, so logging a request
/// allocates nothing but its line.
struct LogLine {
  CommonLoggerOptions options;
  SeenPath seen;
  void operator()(Env& env, const Outcome& o) const {
    LogWriter::instance().append(options.fd, format_line(env, seen, o, options.format));
  }
};
static_assert(sizeof(LogLine) <= 4 * sizeof(void*), "LogLine outgrew Function's inline buffer");

} // namespace

Middleware common_logger(CommonLoggerOptions options) {
  return [options](App next) -> App {
    return [options, next = std::move(next)](Env& env) {
      env.on_finished(LogLine{options, SeenPath(env)});
      return next(env);
    };
  };
}

void flush_logs() {
  LogWriter::instance().flush();
}

} // namespace lithe::mw
