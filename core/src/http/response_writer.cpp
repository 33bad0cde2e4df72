// ResponseWriter (response_writer.hpp): status line, header block and body framing.
#include "response_writer.hpp"

#include <lithe/str.hpp>

#include <charconv>
#include <cstring>

namespace lithe::http {

namespace {

// A response field name or value that is safe to emit: no CR, LF or NUL (no splitting).
// Every header of every response passes here: eight bytes at a time (a word has a zero byte
// when (w - 0x01..) & ~w & 0x80.. is not zero; CR and LF become zero bytes by xor).
bool field_ok(std::string_view s) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  auto bad = [](std::uint64_t w) {
    auto zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
    return zero(w) | zero(w ^ (ones * '\r')) | zero(w ^ (ones * '\n'));
  };
  const char* p = s.data();
  std::size_t n = s.size();
  if (n >= 8) {
    std::uint64_t w;
    for (; n >= 8; p += 8, n -= 8) {
      std::memcpy(&w, p, 8);
      if (bad(w)) return false;
    }
    if (n == 0) return true;
    std::memcpy(&w, p + n - 8, 8); // the last eight bytes, overlapping the word before
    return !bad(w);
  }
  for (; n; --n, ++p)
    if (*p == '\r' || *p == '\n' || *p == '\0') return false;
  return true;
}

/// Writes a head into `b` grown once to the most it can take: memcpy per piece, not an append
/// (with its capacity check) per piece.
class Cursor {
public:
  Cursor(std::string& b, std::size_t most) : b_(b), before_(b.size()) {
    b.resize(before_ + most);
    p_ = b.data() + before_;
  }
  void put(std::string_view s) noexcept {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void field(std::string_view name, std::string_view value) noexcept {
    put(name);
    put(": ");
    put(value);
    put("\r\n");
  }
  void decimal(std::uint64_t v) noexcept { p_ = std::to_chars(p_, p_ + 20, v).ptr; }
  // Inlined into write_head, every response's path, though write_simple calls it too.
  [[gnu::always_inline]] void status_line(int status) noexcept {
    if (status == 200) {
      put("HTTP/1.1 200 OK\r\n");
      return;
    }
    put("HTTP/1.1 ");
    decimal(static_cast<std::uint64_t>(status));
    put(" ");
    put(reason_phrase(status));
    put("\r\n");
  }
  /// Trims the buffer to what was written; returns its size.
  std::size_t finish() {
    auto n = static_cast<std::size_t>(p_ - (b_.data() + before_));
    b_.resize(before_ + n);
    return n;
  }

private:
  std::string& b_;
  std::size_t before_;
  char* p_;
};

constexpr std::size_t status_line_most = 16 + 64; // the longest reason phrase
constexpr std::size_t framing_most = sizeof "Content-Length: \r\n" + 20 + 32; // or chunked
constexpr std::size_t connection_most = sizeof "Connection: keep-alive\r\n\r\n";

} // namespace

HeadResult write_head(std::string& b, const Response& r, const HeadParams& p) {
  HeadResult out;
  out.keep_alive = p.keep_alive;
  const int status = r.status;
  const bool hijack = r.body.kind() == Body::Kind::hijack;
  std::size_t most =
      status_line_most + framing_most + connection_most + p.date.size() + p.server.size();
  for (const Header& h : r.headers)
    most += h.name.view().size() + h.value.view().size() + 4;
  Cursor c(b, most);
  c.status_line(status);
  bool has_date = false, has_server = false;
  std::string_view app_length;
  for (const Header& h : r.headers) {
    std::string_view n = h.name.view(), v = h.value.view();
    if (n.empty() || !field_ok(n) || !field_ok(v)) {
      out.dropped_header = true;
      continue;
    }
    switch (n.size()) {
    case 4:
      has_date |= iequals(n, "date");
      break;
    case 6:
      has_server |= iequals(n, "server");
      break;
    case 10:
      if (iequals(n, "connection")) {
        if (iequals(v, "close")) out.keep_alive = false;
        if (!hijack) continue; // the server writes its own
      }
      break;
    case 14:
      if (iequals(n, "content-length")) {
        app_length = v;
        continue;
      }
      break;
    case 17:
      if (iequals(n, "transfer-encoding")) continue; // the server's to choose (SPEC 3.7)
      break;
    default:
      break;
    }
    c.field(n, v);
  }

  // The one place the body's framing is chosen (RFC 9112 §6.1-6.3).
  if (status_has_no_body(status) || hijack) {
    out.framing = Framing::swallow;
    if (status == 304 && !app_length.empty()) c.field("Content-Length", app_length);
  } else if (!p.streaming) {
    std::uint64_t size = r.body.size().value_or(0);
    if (!app_length.empty() && parse_u64(app_length) != size) {
      out.app_length = app_length;
      out.body_size = size;
    }
    c.put("Content-Length: ");
    c.decimal(size);
    c.put("\r\n");
    out.framing = p.is_head ? Framing::swallow : Framing::none;
  } else if (auto length = parse_u64(app_length)) {
    c.put("Content-Length: ");
    c.decimal(*length);
    c.put("\r\n");
    out.framing = p.is_head ? Framing::swallow : Framing::length;
    out.length = *length;
  } else if (p.is_head) {
    out.framing = Framing::swallow;
  } else if (!p.http10) {
    c.put("Transfer-Encoding: chunked\r\n");
    out.framing = Framing::chunked;
  } else {
    out.framing = Framing::close_delimited; // HTTP/1.0 has no chunked coding
    out.keep_alive = false;
  }
  if (!has_date) c.put(p.date);
  if (!has_server) c.put(p.server);
  if (!hijack) {
    if (!out.keep_alive)
      c.put("Connection: close\r\n");
    else if (p.http10)
      c.put("Connection: keep-alive\r\n");
  }
  c.put("\r\n");
  out.bytes = c.finish();
  return out;
}

std::size_t write_simple(std::string& b, int status, std::string_view text, std::string_view date,
                         std::string_view server) {
  constexpr std::string_view type = "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ";
  constexpr std::string_view close = "\r\nConnection: close\r\n\r\n";
  Cursor c(b, status_line_most + date.size() + server.size() + type.size() + 20 + close.size() +
                  text.size());
  c.status_line(status);
  c.put(date);
  c.put(server);
  c.put(type);
  c.decimal(text.size());
  c.put(close);
  c.put(text);
  return c.finish();
}

std::size_t BodyEncoder::admit(std::size_t n) noexcept {
  switch (framing_) {
  case Framing::swallow:
    return 0;
  case Framing::length:
    if (n > remaining_) {
      truncated_ = true;
      n = static_cast<std::size_t>(remaining_);
    }
    remaining_ -= n;
    return n;
  default:
    return n;
  }
}

void BodyEncoder::before(std::string& b, std::size_t n) const {
  if (framing_ != Framing::chunked) return;
  char tmp[24];
  auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, n, 16);
  b.append(tmp, static_cast<std::size_t>(end - tmp));
  b.append("\r\n");
}

} // namespace lithe::http
