// CommonLogger: one line per request in Apache's Common Log Format (as Rack::CommonLogger
// writes it, with the duration appended) or as JSON lines. The line is written when the
// response ended (env.on_finished, SPEC 6.3), so late, streaming and upgraded responses are
// logged with their real status, bytes and duration. Fields from the request are escaped
// (Apache's mod_log_config rules; JSON strings), so no request forges a line. Lines go to a
// background writer thread: the loop never blocks on the log's file descriptor.
#pragma once

#include <lithe/app.hpp>

#include <string>

namespace lithe::mw {

enum class LogFormat { common, json };

struct CommonLoggerOptions {
  LogFormat format = LogFormat::common;
  /// Where lines go: a file descriptor the logger does not own (1 = stdout).
  int fd = 1;
};

/// 127.0.0.1 - - [24/Nov/2026:13:55:36 +0000] "GET /a?b=1 HTTP/1.1" 200 13 0.0004
/// {"time":"2026-11-24T13:55:36Z","remote":"127.0.0.1","method":"GET","path":"/a",
///  "query":"b=1","protocol":"HTTP/1.1","status":200,"bytes":13,"duration":0.0004,
///  "outcome":"done"}
Middleware common_logger(CommonLoggerOptions options = {});

/// Waits until every line logged so far has been written (tests, shutdown).
void flush_logs();

} // namespace lithe::mw
