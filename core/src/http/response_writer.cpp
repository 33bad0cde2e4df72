// ResponseWriter (response_writer.hpp): status line, header block and body framing.
#include "response_writer.hpp"

#include <lithe/str.hpp>

#include <charconv>

namespace lithe::http {

namespace {

// A response field name or value that is safe to emit: no CR, LF or NUL (no splitting).
bool field_ok(std::string_view s) noexcept {
  for (unsigned char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

void append_field(std::string& b, std::string_view name, std::string_view value) {
  b.append(name);
  b.append(": ");
  b.append(value);
  b.append("\r\n");
}

} // namespace

void append_decimal(std::string& b, std::uint64_t v) {
  char tmp[24];
  auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, v);
  b.append(tmp, static_cast<std::size_t>(end - tmp));
}

void append_status_line(std::string& b, int status) {
  if (status == 200) {
    b.append("HTTP/1.1 200 OK\r\n");
    return;
  }
  b.append("HTTP/1.1 ");
  append_decimal(b, static_cast<std::uint64_t>(status));
  b.push_back(' ');
  b.append(reason_phrase(status));
  b.append("\r\n");
}

HeadResult write_head(std::string& b, const Response& r, const HeadParams& p) {
  HeadResult out;
  out.keep_alive = p.keep_alive;
  const int status = r.status;
  const bool hijack = r.body.kind() == Body::Kind::hijack;
  const std::size_t before = b.size();
  append_status_line(b, status);
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
    append_field(b, n, v);
  }

  // The one place the body's framing is chosen (RFC 9112 §6.1-6.3).
  if (status_has_no_body(status) || hijack) {
    out.framing = Framing::swallow;
    if (status == 304 && !app_length.empty()) append_field(b, "Content-Length", app_length);
  } else if (!p.streaming) {
    std::uint64_t size = r.body.size().value_or(0);
    if (!app_length.empty() && parse_u64(app_length) != size) {
      out.app_length = app_length;
      out.body_size = size;
    }
    b.append("Content-Length: ");
    append_decimal(b, size);
    b.append("\r\n");
    out.framing = p.is_head ? Framing::swallow : Framing::none;
  } else if (auto length = parse_u64(app_length)) {
    b.append("Content-Length: ");
    append_decimal(b, *length);
    b.append("\r\n");
    out.framing = p.is_head ? Framing::swallow : Framing::length;
    out.length = *length;
  } else if (p.is_head) {
    out.framing = Framing::swallow;
  } else if (!p.http10) {
    b.append("Transfer-Encoding: chunked\r\n");
    out.framing = Framing::chunked;
  } else {
    out.framing = Framing::close_delimited; // HTTP/1.0 has no chunked coding
    out.keep_alive = false;
  }
  if (!has_date) b.append(p.date);
  if (!has_server) b.append(p.server);
  if (!hijack) {
    if (!out.keep_alive)
      b.append("Connection: close\r\n");
    else if (p.http10)
      b.append("Connection: keep-alive\r\n");
  }
  b.append("\r\n");
  out.bytes = b.size() - before;
  return out;
}

std::size_t write_simple(std::string& b, int status, std::string_view text, std::string_view date,
                         std::string_view server) {
  const std::size_t before = b.size();
  append_status_line(b, status);
  b.append(date);
  b.append(server);
  b.append("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  append_decimal(b, text.size());
  b.append("\r\nConnection: close\r\n\r\n");
  b.append(text);
  return b.size() - before;
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
