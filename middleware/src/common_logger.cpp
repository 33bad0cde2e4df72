// CommonLogger: format at the response's end, write on a background thread.
#include <lithe/mw/common_logger.hpp>

#include <lithe/env.hpp>
#include <lithe/mw/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
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

/// `script` and `path` are SCRIPT_NAME and PATH_INFO as the logger saw them on the way in:
/// inner middleware (URLMap, routers) may have moved them since.
std::string format_line(const Env& env, std::string_view script, std::string_view path,
                        const Outcome& o, LogFormat format) {
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
    line += env.remote_addr().empty() ? "-" : env.remote_addr();
    line += " - - [";
    line += when;
    line += "] \"";
    line += env.method();
    line += ' ';
    line += script;
    line += path;
    if (!env.query().empty()) {
      line += '?';
      line += env.query();
    }
    line += ' ';
    line += env.protocol();
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
  line += "\",\"remote\":";
  append_json_string(line, env.remote_addr());
  line += ",\"method\":";
  append_json_string(line, env.method());
  line += ",\"path\":";
  append_json_string(line, std::string(script) + std::string(path));
  line += ",\"query\":";
  append_json_string(line, env.query());
  line += ",\"protocol\":";
  append_json_string(line, env.protocol());
  std::snprintf(num, sizeof num, ",\"status\":%d,\"bytes\":%llu,\"duration\":%.6f", o.status,
                static_cast<unsigned long long>(o.body_bytes), secs);
  line += num;
  line += ",\"outcome\":";
  append_json_string(line, to_string(o.reason));
  line += "}\n";
  return line;
}

} // namespace

Middleware common_logger(CommonLoggerOptions options) {
  return [options](App next) -> App {
    return [options, next = std::move(next)](Env& env) {
      env.on_finished([options, script = env.script_name(), path = env.path()](Env& e,
                                                                               const Outcome& o) {
        LogWriter::instance().append(options.fd, format_line(e, script, path, o, options.format));
      });
      return next(env);
    };
  };
}

void flush_logs() {
  LogWriter::instance().flush();
}

} // namespace lithe::mw
