// HttpConnection: one HTTP/1.1 connection (RFC 9112) over a Transport. Parses with llhttp
// straight from the bytes the backend read (views, no copies), calls the app once per
// request in order, and serialises responses into the connection's output, which leaves in
// one writev per read burst. Limits answer 400/408/413/414/417/431/501/505 and close.
#include "http_connection.hpp"

#include <lithe/lint.hpp>
#include <lithe/log.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <unistd.h>

namespace lithe::http {

namespace {
constexpr std::uint64_t small_file_bytes = 16 * 1024;
}

namespace {

constexpr bool crlf_at(const char* p, std::size_t end) noexcept {
  return end >= 2 && p[end - 2] == '\r' && p[end - 1] == '\n';
}
constexpr const char* bare_lf = "a line of the request head ends in a bare LF";

// RFC 3986 §3.1: scheme ":" "//" ...; a scheme starts with a letter.
bool absolute_form(std::string_view t) noexcept {
  std::size_t sep = t.find("://");
  if (sep == 0 || sep == std::string_view::npos || !std::isalpha(static_cast<unsigned char>(t[0])))
    return false;
  for (char c : t.substr(0, sep))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      return false;
  return true;
}

// RFC 3986 §3.2.2 reg-name (and IPv4address): unreserved and sub-delims.
constexpr auto reg_name_char = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[static_cast<std::size_t>(c)] =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  for (unsigned char c : std::string_view("-._~!$&'()*+,;="))
    t[c] = true;
  return t;
}();

// ":" *DIGIT, a port of 0-65535 (or none after the colon), at `p` up to `end`.
bool valid_port(const char* p, const char* end) noexcept {
  if (p == end) return true;
  if (*p != ':' || end - p > 6) return false;
  std::uint32_t n = 0;
  for (++p; p < end; ++p) {
    if (*p < '0' || *p > '9') return false;
    n = n * 10 + static_cast<std::uint32_t>(*p - '0');
  }
  return n <= 65535;
}

// RFC 9110 §7.2, RFC 3986 §3.2.2: Host is uri-host [":" port]. An empty value is allowed (a
// target without authority); anything else that is not a host is refused, not passed on.
// Every request passes here: a name or an IPv4 address is one table-driven pass.
bool valid_host(std::string_view h) noexcept {
  const char* p = h.data();
  const char* end = p + h.size();
  if (p == end) return true;
  if (*p == '[') { // IP-literal (RFC 3986 §3.2.2, with RFC 6874's zone id)
    const char* close = static_cast<const char*>(std::memchr(p, ']', h.size()));
    if (!close || close - p < 2) return false;
    for (const char* q = p + 1; q < close; ++q)
      if (!std::isxdigit(static_cast<unsigned char>(*q)) && !std::strchr(":.%vV-_~", *q))
        return false;
    return valid_port(close + 1, end);
  }
  const char* q = p;
  for (;;) {
    while (q < end && reg_name_char[static_cast<unsigned char>(*q)])
      ++q;
    // pct-encoded
    if (q + 2 < end && *q == '%' && std::isxdigit(static_cast<unsigned char>(q[1])) &&
        std::isxdigit(static_cast<unsigned char>(q[2]))) {
      q += 3;
      continue;
    }
    break;
  }
  return q != p && valid_port(q, end);
}

// A response field name or value that is safe to emit: no CR, LF or NUL (no splitting).
bool field_ok(std::string_view s) noexcept {
  for (unsigned char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

void append_uint(std::string& b, std::uint64_t v, int base = 10) {
  char tmp[24];
  auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, v, base);
  b.append(tmp, static_cast<std::size_t>(end - tmp));
}

void append_status_line(std::string& b, int status) {
  if (status == 200) {
    b.append("HTTP/1.1 200 OK\r\n");
    return;
  }
  b.append("HTTP/1.1 ");
  append_uint(b, static_cast<std::uint64_t>(status));
  b.push_back(' ');
  b.append(reason_phrase(status));
  b.append("\r\n");
}

} // namespace

bool HttpContext::host_ok(std::string_view host) {
  // A worker sees the same Host again and again: the last one found valid is not rechecked.
  if (host.size() == last_host_.size() && host == last_host_) return true;
  if (!valid_host(host)) return false;
  if (host.size() <= 255) last_host_.assign(host);
  return true;
}

// ---- HttpExchange

void HttpExchange::prepare() {
  reset_for_reuse();
  url = {};
  header_spans.clear();
  in_value = false;
  body_span = {};
  body_copy.clear();
  if (body_copy.capacity() > 64 * 1024) body_copy.shrink_to_fit();
  body_copied = false;
  headers_done = false;
  error_status = 0;
  error_text = nullptr;
  req_ptr = nullptr;
  req_len = 0;
  pinned.clear();
  if (pinned.capacity() > 64 * 1024) pinned.shrink_to_fit();
  is_pinned = false;
  is_head = false;
  upgrade = false;
  framing = Framing::none;
  remaining = 0;
}

void HttpExchange::pin() {
  if (is_pinned || !req_ptr) return;
  (void)env.remote_addr(); // formatted now, while the connection is surely there
  pinned.assign(req_ptr, req_len);
  relocate(req_ptr, req_len, pinned.data());
  req_ptr = pinned.data();
  is_pinned = true;
}

// The idle budget (docs/backends.md): a 144-byte malloc chunk on 64-bit targets.
static_assert(sizeof(void*) != 8 || sizeof(HttpConnection) <= 136,
              "HttpConnection outgrew its budget");

// ---- HttpConnection: input

HttpConnection::HttpConnection(HttpContext& ctx, Transport& t) noexcept : ctx_(ctx), t_(t) {}

OutQueue& HttpConnection::out() {
  if (!out_) {
    out_ = ctx_.acquire_queue();
    out_->send_timer.conn = this;
  }
  return *out_;
}

std::size_t HttpConnection::memory() const noexcept {
  std::size_t n = (in_ ? in_->capacity() : 0) + (out_ ? out_->memory() : 0) +
                  (ex_ ? ex_->memory() : 0) + (sock_ ? sock_->charged() : 0);
  if (pending_)
    for (const PendingFinish& f : pending_->list)
      n += f.ex->memory();
  return n;
}

std::string HttpConnection::memory_breakdown() const {
  auto kib = [](std::size_t n) { return std::to_string((n + 1023) / 1024) + " KiB"; };
  std::string s = kib(memory()) + " held: input " + kib(in_ ? in_->capacity() : 0) + ", output " +
                  kib(out_ ? out_->memory() : 0) + " (" + kib(out_ ? out_->size() : 0) +
                  " unsent), request " + kib(ex_ ? ex_->memory() : 0);
  if (sock_) s += ", app " + kib(sock_->charged());
  return s + "; budget " + kib(ctx_.options().max_connection_memory) +
         " (HttpOptions::max_connection_memory)";
}

void HttpConnection::on_read(const char* data, std::size_t len) {
  switch (phase_) {
  case Phase::hijacked:
    processing_ = true;
    if (sock_) sock_->deliver_data({data, len});
    processing_ = false;
    flush();
    return;
  case Phase::closing:
  case Phase::lingering:
  case Phase::closed:
    // The rest of a refused request, or bytes after Connection: close: read and dropped,
    // so the client sees our answer rather than a reset. Bounded.
    discarded_ += static_cast<std::uint32_t>(std::min<std::size_t>(len, 1u << 20));
    if (discarded_ >= (1u << 20)) close_now(CloseReason::done);
    return;
  default:
    break;
  }
  processing_ = true;
  if (in_ && !in_->empty()) {
    // Grow by doubling up to what one request may take, so a large body costs its size and
    // not twice it (the budget counts capacity).
    std::size_t need = in_->size() + len;
    if (need > in_->capacity()) {
      const HttpOptions& o = ctx_.options();
      std::size_t cap = std::min(in_->capacity() * 2, o.max_header_bytes + o.max_body_bytes);
      in_->reserve(std::max(need, cap));
    }
    in_->append(data, len);
    parse(in_->data(), in_->size(), true);
  } else {
    parse(data, len, false);
  }
  processing_ = false;
  flush();
}

void HttpConnection::parse(const char* buf, std::size_t len, bool own) {
  const HttpOptions& opts = ctx_.options();
  std::size_t start = 0;
  std::size_t pos = own ? parsed_ : 0;
  // One request at a time, and none while the output waits above the high-water mark: a
  // client that pipelines and never reads gets no more answers queued (reading pauses too).
  while (pos < len && (phase_ == Phase::idle || phase_ == Phase::reading) && !output_full()) {
    if (!ex_) begin_request();
    base_ = buf + start;
    llhttp_errno_t err = llhttp_execute(&ex_->parser, buf + pos, len - pos);
    if (err == HPE_OK) {
      pos = len;
      // Body bytes came in this read: the body timeout runs from here (once per read, not
      // per chunk: a flood of 1-byte chunks is many callbacks).
      if (read_timer().list == static_cast<std::uint8_t>(Timeout::body))
        ctx_.arm(read_timer(), Timeout::body);
      std::size_t have = len - start + ex_->dropped;
      if (!ex_->headers_done && have > opts.max_header_bytes) {
        ex_->error_status = 431;
        ex_->error_text = "the request head is larger than the server accepts";
        fail_request(err);
        start = pos = len;
      } else if (have > opts.max_header_bytes + opts.max_body_bytes + 64 * 1024) {
        ex_->error_status = 413; // chunk framing and extensions count too
        ex_->error_text = "the request is larger than the server accepts";
        fail_request(err);
        start = pos = len;
      }
      break;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
      auto end = static_cast<std::size_t>(llhttp_get_error_pos(&ex_->parser) - buf);
      if (const char* why = line_ends_fault(buf + start, end - start)) {
        ex_->error_status = 400;
        ex_->error_text = why;
        fail_request(err);
        start = pos = len;
        break;
      }
      dispatch(buf + start, end - start);
      start = pos = end;
      continue;
    }
    fail_request(err);
    start = pos = len;
  }
  keep_input(buf, start, pos, len, own);
  if ((phase_ == Phase::reading || phase_ == Phase::idle) && in_ &&
      memory() > opts.max_connection_memory) {
    if (ex_) {
      ex_->error_status = 413;
      ex_->error_text = "the request needs more memory than a connection may hold";
    }
    lithe::log_error("a request needs more memory than a connection may hold (" +
                     memory_breakdown() + "); answered 413");
    fail_request(HPE_OK);
  }
}

void HttpConnection::keep_input(const char* buf, std::size_t start, std::size_t pos,
                                std::size_t len, bool own) {
  if (phase_ == Phase::hijacked) {
    // Bytes after the upgrade request belong to the new protocol.
    if (start < len && sock_) sock_->deliver_data({buf + start, len - start});
    if (in_) ctx_.release_input(std::exchange(in_, nullptr));
    parsed_ = 0;
    return;
  }
  if (phase_ >= Phase::closing) {
    if (in_) ctx_.release_input(std::exchange(in_, nullptr));
    parsed_ = 0;
    return;
  }
  // A chunked body already gathered into the exchange: its parsed framing and data bytes
  // past the head are dropped now, so a flood of small chunks holds nothing here. The last 4
  // parsed bytes stay: the request's end is checked for its CRLFs (line_ends_fault).
  std::size_t cut = 0; // bytes of [start + keep, pos - 4) dropped
  if (ex_ && ex_->body_copied && phase_ == Phase::reading && pos > start + ex_->keep + 4)
    cut = pos - start - ex_->keep - 4;
  if (own) {
    in_->erase(0, start);
    if (cut) in_->erase(ex_->keep, cut);
  } else if (start < len) {
    if (!in_) in_ = ctx_.acquire_input();
    if (cut) {
      in_->assign(buf + start, ex_->keep);
      in_->append(buf + pos - 4, len - pos + 4);
    } else {
      in_->assign(buf + start, len - start);
    }
  }
  if (cut) ex_->dropped += static_cast<std::uint32_t>(cut);
  if (in_ && in_->empty()) ctx_.release_input(std::exchange(in_, nullptr));
  parsed_ = static_cast<std::uint32_t>(pos - start - cut);
}

// RFC 9112 §2.2: every line of a request's head, and the last line of a chunked body, ends in
// CRLF. llhttp 8 also takes a bare LF there; a proxy in front may not, and two parsers that
// disagree on where a request ends is how requests are smuggled. Each header line's start was
// checked as it came (on_header_field); this checks the head's end, and a chunked body's.
// `req` holds the request as parsed (the spans point into it).
const char* HttpConnection::line_ends_fault(const char* req, std::size_t len) const noexcept {
  const HttpExchange& ex = *ex_;
  if (ex.parser.flags & F_CHUNKED) {
    std::size_t last = ex.url.off + ex.url.len; // the end of the head's last span
    if (!ex.header_spans.empty()) {
      const HttpExchange::HeaderSpan& h = ex.header_spans.back();
      last = h.value.len ? h.value.off + h.value.len : h.name.off + h.name.len;
    }
    // The head's last line, then the empty line; and the body's own last line.
    const void* lf = std::memchr(req + last, '\n', len - last);
    std::size_t eol = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - req) + 1 : 0;
    if (!crlf_at(req, eol) || !crlf_at(req, eol + 2)) return bare_lf;
    return crlf_at(req, len) && crlf_at(req, len - 2) ? nullptr
                                                      : "the chunked body ends in a bare LF";
  }
  // The head ends in CRLF CRLF, at the body if there is one, else at the request's end.
  std::size_t head_end = ex.body_span.len ? ex.body_span.off : len;
  return crlf_at(req, head_end) && crlf_at(req, head_end - 2) ? nullptr : bare_lf;
}

void HttpConnection::begin_request() {
  ex_ = ctx_.acquire_exchange();
  ex_->begin(ctx_.loop(), *this, &ctx_.counters());
  llhttp_init(&ex_->parser, HTTP_REQUEST, &ctx_.settings());
  ex_->parser.data = this;
  phase_ = Phase::reading;
  ctx_.arm(read_timer(), Timeout::head);
}

bool HttpConnection::limit_exceeded(const char* at, std::size_t len) {
  if (static_cast<std::size_t>(at + len - base_) <= ctx_.options().max_header_bytes) return false;
  ex_->error_status = 431;
  ex_->error_text = "the request head is larger than the server accepts";
  return true;
}

int HttpConnection::on_url(const char* at, std::size_t len) {
  HttpExchange& ex = *ex_;
  if (ex.url.len == 0) ex.url.off = static_cast<std::uint32_t>(at - base_);
  ex.url.len += static_cast<std::uint32_t>(len); // pieces of one URL are contiguous
  if (ex.url.len > ctx_.options().max_uri_bytes) {
    ex.error_status = 414;
    ex.error_text = "the request target is longer than the server accepts";
    return -1;
  }
  return 0;
}

int HttpConnection::on_header_field(const char* at, std::size_t len) {
  HttpExchange& ex = *ex_;
  if (ex.headers_done) return on_trailer(len);
  if (limit_exceeded(at, len)) return -1;
  if (ex.in_value || ex.header_spans.empty()) {
    if (ex.header_spans.size() >= ctx_.options().max_headers) {
      ex.error_status = 431;
      ex.error_text = "the request has more header fields than the server accepts";
      return -1;
    }
    const auto off = static_cast<std::uint32_t>(at - base_);
    if (!crlf_at(base_, off)) { // the line before this one (RFC 9112 §2.2; line_ends_fault)
      ex.error_status = 400;
      ex.error_text = bare_lf;
      return -1;
    }
    ex.header_spans.push_back({{off, 0}, {}});
    ex.in_value = false;
  }
  ex.header_spans.back().name.len += static_cast<std::uint32_t>(len);
  return 0;
}

int HttpConnection::on_header_value(const char* at, std::size_t len) {
  HttpExchange& ex = *ex_;
  if (ex.headers_done) return on_trailer(len);
  if (limit_exceeded(at, len)) return -1;
  // llhttp hands an obsolete line fold through inside the value; RFC 9112 §5.2 lets a
  // server refuse it, which is safer than guessing what a proxy before it made of it.
  if (std::memchr(at, '\n', len) || std::memchr(at, '\r', len)) {
    ex.error_status = 400;
    ex.error_text = "obsolete line folding is not accepted";
    return -1;
  }
  HttpExchange::HeaderSpan& h = ex.header_spans.back();
  auto off = static_cast<std::uint32_t>(at - base_);
  if (!ex.in_value) {
    h.value.off = off;
    ex.in_value = true;
  } else if (off != h.value.off + h.value.len) {
    // A second piece that does not follow the first: llhttp skipped a fold's CRLF between.
    ex.error_status = 400;
    ex.error_text = "obsolete line folding is not accepted";
    return -1;
  }
  h.value.len += static_cast<std::uint32_t>(len);
  return 0;
}

// Trailer fields (RFC 9112 §7.1.2) are parsed, bounded by the head's limit and dropped: they
// never become request headers (RFC 9110 §6.5.1 lets a recipient discard them), so a trailer
// cannot change what the app sees.
int HttpConnection::on_trailer(std::size_t len) {
  HttpExchange& ex = *ex_;
  ex.trailer_bytes += static_cast<std::uint32_t>(len);
  if (ex.trailer_bytes <= ctx_.options().max_header_bytes) return 0;
  ex.error_status = 431;
  ex.error_text = "the request's trailer fields are larger than the server accepts";
  return -1;
}

int HttpConnection::on_headers_complete() {
  HttpExchange& ex = *ex_;
  const llhttp_t& p = ex.parser;
  const HttpOptions& opts = ctx_.options();
  ex.headers_done = true;
  auto fail = [&ex](std::uint16_t status, const char* text) {
    ex.error_status = status;
    ex.error_text = text;
    return -1;
  };
  if (p.http_major != 1) return fail(505, "only HTTP/1.0 and HTTP/1.1 are served here");
  // RFC 9112 §3.2: origin-form ("/path"), absolute-form ("http://host/path"), asterisk-form
  // for OPTIONS only; authority-form is CONNECT's, and this is not a proxy.
  std::string_view target(base_ + ex.url.off, ex.url.len);
  if (p.method == HTTP_CONNECT) return fail(501, "CONNECT is for proxies; this server is not one");
  if (target == "*") {
    if (p.method != HTTP_OPTIONS) return fail(400, "the target * is for OPTIONS only");
  } else if (target.empty() || (target.front() != '/' && !absolute_form(target))) {
    return fail(400, "the request target is neither a path nor an absolute URL");
  }
  int hosts = 0;
  std::string_view te, expect, host;
  for (const HttpExchange::HeaderSpan& h : ex.header_spans) {
    std::string_view name(base_ + h.name.off, h.name.len);
    std::string_view value = trim_ows({base_ + h.value.off, h.value.len});
    if (iequals(name, "host")) {
      ++hosts;
      host = value;
    } else if (iequals(name, "transfer-encoding")) {
      if (!te.empty()) return fail(501, "only one Transfer-Encoding field is understood");
      te = value;
    } else if (iequals(name, "expect")) {
      expect = value;
    }
  }
  // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host.
  if (p.http_minor >= 1 && hosts == 0) return fail(400, "the request has no Host header");
  if (hosts > 1) return fail(400, "the request has more than one Host header");
  if (!ctx_.host_ok(host)) return fail(400, "the Host header is not a host name or address");
  if (!te.empty()) {
    // RFC 9112 §6.1: a 1.0 request with Transfer-Encoding has faulty framing; a coding other
    // than chunked is not implemented here.
    if (p.http_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (!iequals(te, "chunked")) return fail(501, "only the chunked transfer coding is understood");
  }
  bool has_body = (p.flags & F_CHUNKED) || ((p.flags & F_CONTENT_LENGTH) && p.content_length > 0);
  if ((p.flags & F_CONTENT_LENGTH) && p.content_length > opts.max_body_bytes)
    return fail(413, "the request body is larger than the server accepts");
  if (!expect.empty()) {
    if (!iequals(expect, "100-continue"))
      return fail(417, "only Expect: 100-continue is understood");
    if (p.http_minor >= 1 && has_body) out().append("HTTP/1.1 100 Continue\r\n\r\n");
  }
  if (has_body) ctx_.arm(read_timer(), Timeout::body);
  return 0;
}

int HttpConnection::on_body(const char* at, std::size_t len) {
  HttpExchange& ex = *ex_;
  std::size_t have = ex.body_copied ? ex.body_copy.size() : ex.body_span.len;
  if (have + len > ctx_.options().max_body_bytes) {
    ex.error_status = 413;
    ex.error_text = "the request body is larger than the server accepts";
    return -1;
  }
  auto off = static_cast<std::uint32_t>(at - base_);
  if (!ex.body_copied) {
    if (ex.body_span.len == 0) {
      ex.body_span = {off, static_cast<std::uint32_t>(len)};
      return 0;
    }
    if (ex.body_span.off + ex.body_span.len == off) { // contiguous (Content-Length): still a view
      ex.body_span.len += static_cast<std::uint32_t>(len);
      return 0;
    }
    ex.body_copy.assign(base_ + ex.body_span.off, ex.body_span.len); // chunked: gather the pieces
    ex.body_copied = true;
    ex.keep = ex.body_span.off; // the input from here on is dropped as it is parsed
  }
  ex.body_copy.append(at, len);
  return 0;
}

void HttpConnection::fail_request(llhttp_errno_t err) {
  int status = 400;
  std::string text = "Bad Request";
  if (ex_) {
    if (ex_->error_status) {
      status = ex_->error_status;
      text = std::string(reason_phrase(status)) + ": " + ex_->error_text;
    } else if (err == HPE_PAUSED_H2_UPGRADE) {
      status = 505;
      text = "HTTP Version Not Supported: only HTTP/1.0 and HTTP/1.1 are served here";
    } else if (const char* why = llhttp_get_error_reason(&ex_->parser)) {
      text = "Bad Request: ";
      text.append(why);
    }
  }
  text.push_back('\n');
  send_simple(status, text, CloseReason::error);
}

void HttpConnection::send_simple(int status, std::string_view text, CloseReason reason) {
  keep_alive_ = false;
  if (ex_) {
    ex_->finish(reason);
    drop_exchange();
  }
  OutQueue& o = out();
  std::string& b = o.tail();
  std::size_t before = b.size();
  append_status_line(b, status);
  b.append(ctx_.date_line());
  b.append(ctx_.server_line());
  b.append("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  append_uint(b, text.size());
  b.append("\r\nConnection: close\r\n\r\n");
  b.append(text);
  o.appended(b.size() - before);
  phase_ = Phase::closing;
  queue_changed();
}

void HttpConnection::dispatch(const char* req, std::size_t len) {
  HttpExchange& ex = *ex_;
  detail::Ref<HttpExchange> hold(&ex);
  ctx_.disarm(read_timer());
  const llhttp_t& p = ex.parser;
  ex.req_ptr = req;
  ex.req_len = len;
  ex.upgrade = p.upgrade != 0;
  ex.is_head = p.method == HTTP_HEAD;
  keep_alive_ = llhttp_should_keep_alive(&p) != 0;
  for (const HttpExchange::HeaderSpan& h : ex.header_spans)
    ex.add_request_header({req + h.name.off, h.name.len},
                          trim_ows({req + h.value.off, h.value.len}));
  std::string_view body = ex.body_copied
                              ? std::string_view(ex.body_copy)
                              : std::string_view(req + ex.body_span.off, ex.body_span.len);
  ex.set_request({.method = llhttp_method_name(static_cast<llhttp_method_t>(p.method)),
                  .target = {req + ex.url.off, ex.url.len},
                  .protocol = p.http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1",
                  .scheme = "http",
                  .remote_addr = {}, // formatted if the app asks (peer_address)
                  .default_port = ctx_.port_text(),
                  .body = body});
  phase_ = Phase::serving;
  ex.call(ctx_.app());
  // Still unanswered, or held by someone (a callback, a body, a finish hook): it outlives
  // this read's buffer, so its views move into its own copy of the request (SPEC 2.9).
  if (ex.ref_count() > 1) ex.pin();
}

void HttpConnection::drop_exchange() noexcept {
  HttpExchange* e = std::exchange(ex_, nullptr);
  if (e && e->drop_ref()) HttpExchange::last_ref_dropped(e);
}

// ---- Responses

void HttpConnection::write_head(HttpExchange& ex, const Response& r, bool streaming) {
  const int status = r.status;
  const bool hijack = r.body.kind() == Body::Kind::hijack;
  OutQueue& o = out();
  std::string& b = o.tail();
  const std::size_t before = b.size();
  append_status_line(b, status);
  bool has_date = false, has_server = false;
  std::string_view app_length;
  for (const Header& h : r.headers) {
    std::string_view n = h.name.view(), v = h.value.view();
    if (n.empty() || !field_ok(n) || !field_ok(v)) {
      log_error(ex, "dropped a response header with CR, LF or NUL in it (SPEC 3.3)");
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
        if (iequals(v, "close")) keep_alive_ = false;
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
    b.append(n);
    b.append(": ");
    b.append(v);
    b.append("\r\n");
  }

  using Framing = HttpExchange::Framing;
  const bool http10 = ex.parser.http_minor == 0;
  if (status_has_no_body(status) || hijack) {
    ex.framing = Framing::swallow;
    if (status == 304 && !app_length.empty()) {
      b.append("Content-Length: ");
      b.append(app_length);
      b.append("\r\n");
    }
  } else if (!streaming) {
    std::uint64_t size = *r.body.size();
    if (!app_length.empty() && parse_u64(app_length) != size)
      log_error(ex, "Content-Length " + std::string(app_length) + " does not match the body's " +
                        std::to_string(size) + " bytes; sent the body's (SPEC 3.6)");
    b.append("Content-Length: ");
    append_uint(b, size);
    b.append("\r\n");
    ex.framing = ex.is_head ? Framing::swallow : Framing::none;
  } else if (auto length = parse_u64(app_length)) {
    b.append("Content-Length: ");
    append_uint(b, *length);
    b.append("\r\n");
    ex.framing = ex.is_head ? Framing::swallow : Framing::length;
    ex.remaining = *length;
  } else if (ex.is_head) {
    ex.framing = Framing::swallow;
  } else if (!http10) {
    b.append("Transfer-Encoding: chunked\r\n");
    ex.framing = Framing::chunked;
  } else {
    ex.framing = Framing::close_delimited; // HTTP/1.0 has no chunked coding
    keep_alive_ = false;
  }
  if (!has_date) b.append(ctx_.date_line());
  if (!has_server) b.append(ctx_.server_line());
  if (!hijack) {
    if (!keep_alive_)
      b.append("Connection: close\r\n");
    else if (http10)
      b.append("Connection: keep-alive\r\n");
  }
  b.append("\r\n");
  o.appended(b.size() - before);
  ex.outcome().status = status;
  ex.outcome().head_bytes = b.size() - before;
}

void HttpConnection::respond(detail::Exchange& e, Response&& r) {
  auto& ex = static_cast<HttpExchange&>(e);
  if (&ex != ex_ || phase_ != Phase::serving) return;
  const Body::Kind kind = r.body.kind();
  if (ex.upgrade && kind != Body::Kind::hijack) keep_alive_ = false; // next bytes may not be HTTP
  if (ctx_.stopping()) keep_alive_ = false;
  const bool streaming = kind == Body::Kind::deferrable || kind == Body::Kind::stream;
  write_head(ex, r, streaming);
  const bool send = ex.framing != HttpExchange::Framing::swallow;
  Outcome& outcome = ex.outcome();

  switch (kind) {
  case Body::Kind::empty:
    break;
  case Body::Kind::bytes: {
    Str& s = *r.body.get_if<Str>();
    outcome.body_bytes = s.size();
    if (send) {
      if (s.borrowed())
        out().append_borrowed(s.view());
      else
        out().append_owned(std::move(s).str());
    }
    break;
  }
  case Body::Kind::chunks:
    for (Str& s : *r.body.get_if<Body::Chunks>()) {
      outcome.body_bytes += s.size();
      if (!send) continue;
      if (s.borrowed())
        out().append_borrowed(s.view());
      else
        out().append_owned(std::move(s).str());
    }
    break;
  case Body::Kind::file: {
    FileRange& f = *r.body.get_if<FileRange>();
    outcome.body_bytes = f.length;
    if (!send) break;
    if (f.length <= small_file_bytes) {
      // A small file is read now and goes out with the head in one writev: a separate
      // sendfile would cost a second syscall and a second TCP segment for a few bytes.
      std::string& b = out().tail();
      std::size_t before = b.size();
      b.resize(before + static_cast<std::size_t>(f.length));
      if (::pread(f.file.fd(), b.data() + before, static_cast<std::size_t>(f.length),
                  static_cast<off_t>(f.offset)) == static_cast<ssize_t>(f.length)) {
        out_->appended(static_cast<std::size_t>(f.length));
        break;
      }
      b.resize(before);
    }
    // Large, or unreadable now (the flush path reports it): sent from the file in bounded
    // steps, never read whole.
    int fd = f.file.fd();
    out().append_file(fd, f.offset, f.length, std::move(f.file));
    break;
  }
  case Body::Kind::file_parts: {
    FileParts& f = *r.body.get_if<FileParts>();
    outcome.body_bytes = *r.body.size();
    if (!send) break;
    const int fd = f.file.fd();
    // Each part's head, then its range from the file; the last range closes the file.
    std::size_t last = f.parts.size();
    while (last > 0 && f.parts[last - 1].length == 0)
      --last;
    for (std::size_t i = 0; i < f.parts.size(); ++i) {
      const FileParts::Part& p = f.parts[i];
      out().append_owned(std::string(p.before));
      out().append_file(fd, p.offset, p.length, i + 1 == last ? std::move(f.file) : File());
    }
    out().append_owned(std::move(f.after));
    break;
  }
  case Body::Kind::deferrable: {
    DeferrableBody body = std::move(*r.body.get_if<DeferrableBody>());
    queue_changed();
    body.state()->attach(ex); // pending writes flow now; an ended body completes here
    return;
  }
  case Body::Kind::stream: {
    StreamBody s = std::move(*r.body.get_if<StreamBody>());
    DeferrableBody body;
    body.state()->attach(ex);
    queue_changed();
    try {
      s.fn(body);
    } catch (const std::exception& err) {
      log_error(ex, std::string("streaming body threw: ") + err.what());
      body.fail();
      return;
    }
    if (!s.keep_open) body.succeed();
    return;
  }
  case Body::Kind::hijack: {
    HijackBody h = std::move(*r.body.get_if<HijackBody>());
    sock_ = new detail::SocketState(&ctx_.loop(), this, &ctx_.counters());
    sock_->add_ref();
    phase_ = Phase::hijacked;
    ctx_.count_request();
    ctx_.disarm(read_timer()); // the new protocol keeps its own (WebSocket: idle_timeout)
    ex.finish(CloseReason::done);
    drop_exchange();
    queue_changed();
    try {
      h.fn(Socket(detail::Ref<detail::SocketState>(sock_)));
    } catch (const std::exception& err) {
      lithe::log_error(std::string("hijack handler threw: ") + err.what());
      close_now(CloseReason::error);
    }
    return;
  }
  }
  complete_response(ex);
  queue_changed();
}

template <class S> void HttpConnection::write_body(HttpExchange& ex, S&& bytes) {
  if (&ex != ex_ || phase_ != Phase::serving) return;
  std::size_t n = bytes.size();
  ex.outcome().body_bytes += n;
  using Framing = HttpExchange::Framing;
  switch (ex.framing) {
  case Framing::swallow:
    return;
  case Framing::length:
    if (n > ex.remaining) {
      log_error(ex, "the body is longer than its Content-Length; the rest was dropped (SPEC 3.6)");
      out().append(std::string_view(bytes).substr(0, ex.remaining));
      ex.remaining = 0;
      queue_changed();
      return;
    }
    ex.remaining -= n;
    break;
  case Framing::chunked: {
    if (n == 0) return; // an empty chunk would end the body
    std::string& b = out().tail();
    std::size_t before = b.size();
    append_uint(b, n, 16);
    b.append("\r\n");
    out_->appended(b.size() - before);
    break;
  }
  default:
    break;
  }
  if constexpr (std::is_same_v<std::remove_cvref_t<S>, std::string>)
    out().append_owned(std::move(bytes));
  else
    out().append(bytes);
  if (ex.framing == Framing::chunked) out_->append("\r\n");
  if (over_budget("a body written faster than the client reads")) return;
  queue_changed();
}

void HttpConnection::body_write(detail::Exchange& ex, std::string_view bytes) {
  write_body(static_cast<HttpExchange&>(ex), bytes);
}

void HttpConnection::body_write(detail::Exchange& ex, std::string&& bytes) {
  write_body(static_cast<HttpExchange&>(ex), std::move(bytes));
}

void HttpConnection::body_end(detail::Exchange& e, bool ok) {
  auto& ex = static_cast<HttpExchange&>(e);
  if (&ex != ex_ || phase_ != Phase::serving) return;
  using Framing = HttpExchange::Framing;
  if (!ok) {
    // The body failed: leave it unterminated and close, so the client sees it incomplete.
    keep_alive_ = false;
    ex.finish(CloseReason::error);
    drop_exchange();
    phase_ = Phase::closing;
    queue_changed();
    return;
  }
  if (ex.framing == Framing::chunked) {
    out().append("0\r\n\r\n");
  } else if (ex.framing == Framing::length && ex.remaining > 0) {
    log_error(ex, "the body ended short of its Content-Length; closing (SPEC 3.6)");
    keep_alive_ = false;
  }
  complete_response(ex);
  queue_changed();
}

void HttpConnection::complete_response(HttpExchange& ex) {
  if (&ex != ex_) return;
  ctx_.count_request();
  if (out_ && !out_->empty() && ex.has_finish_hooks()) {
    // Finish hooks learn how the response ended once its last byte is written.
    if (!pending_) pending_ = new Finishing();
    ex.pin();
    ex.add_ref();
    pending_->list.push_back({pending_->written + out_->size(), &ex});
  } else {
    ex.finish(CloseReason::done);
  }
  drop_exchange();
  after_response();
}

void HttpConnection::after_response() {
  if (!keep_alive_) {
    phase_ = Phase::closing;
    return; // closes once the output is flushed
  }
  phase_ = Phase::idle;
  // The keep-alive wait starts once the answer has left; while it is still being written the
  // send timeout watches the connection (a slow download is not idle).
  if (!out_ || out_->empty())
    ctx_.arm(read_timer(), Timeout::idle);
  else
    ctx_.disarm(read_timer());
  if (!processing_ && ((in_ && !in_->empty()) || read_paused_ || eof_)) ctx_.schedule_flush(this);
}

void HttpConnection::queue_changed() {
  if (!processing_) ctx_.schedule_flush(this);
}

bool HttpConnection::over_budget(const char* what) {
  const std::size_t held = memory(), budget = ctx_.options().max_connection_memory;
  if (held <= budget) return false;
  lithe::log_error(std::string("closing a connection over its memory budget: ") + what + " (" +
                   memory_breakdown() + ")");
  close_now(CloseReason::error);
  return true;
}

// ---- Output

void HttpConnection::parse_waiting() {
  // Input that waited behind an answer that has now come (pipelining after async), or behind
  // output that has now drained below the high-water mark.
  if (processing_ || phase_ != Phase::idle) return;
  if (in_ && !in_->empty() && !output_full()) {
    processing_ = true;
    parse(in_->data(), in_->size(), true);
    processing_ = false;
  }
  if (eof_ && phase_ == Phase::idle && !in_) phase_ = Phase::closing;
}

void HttpConnection::update_reading() {
  // Reading stops while answers wait to be written (a client that sends and never reads is
  // held to the high-water mark), while a hijacking app asks, and while input waits behind an
  // unfinished answer beyond a head's worth. Closing phases read on: they drop what comes.
  bool pause = false;
  switch (phase_) {
  case Phase::idle:
  case Phase::reading:
    // Requests already read but left unparsed (parsing stopped at the mark) are read enough:
    // reading on would pile input up faster than answers leave.
    pause = output_full() || (in_ && parsed_ < in_->size());
    break;
  case Phase::serving:
    pause = output_full() || (in_ && in_->size() > ctx_.options().max_header_bytes);
    break;
  case Phase::hijacked:
    pause = app_paused_ || output_full();
    break;
  default:
    return; // closing, lingering, closed: start_close resumes reading itself
  }
  if (pause == read_paused_) return;
  read_paused_ = pause;
  if (pause)
    t_.pause_reading();
  else
    t_.resume_reading();
}

void HttpConnection::flush() {
  if (phase_ == Phase::closed) return;
  parse_waiting();
  if (phase_ == Phase::closed) return;
  if (!writing_) write_out();
  if (phase_ == Phase::closed) return;
  // Output drained while requests still wait in the input: another round, after the others.
  if (!writing_ && phase_ == Phase::idle && in_ && !in_->empty() && !output_full())
    ctx_.schedule_flush(this);
  // Below the mark again: a body or socket that was told to wait may write (SPEC 4.5).
  if (!output_full()) {
    if (ex_ && ex_->body()) ex_->body()->drained();
    if (sock_) sock_->drained();
    if (phase_ == Phase::closed) return;
  }
  update_reading();
}

void HttpConnection::write_out() {
  std::error_code ec;
  while (out_ && !out_->empty()) {
    if (out_->front_is_file()) {
      OutQueue::FileSpan f = out_->front_file();
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(f.length, max_write));
      if (t_.can_sendfile()) {
        std::size_t n = t_.try_sendfile(f.fd, f.offset, want, ec);
        if (ec) {
          close_now(CloseReason::client_gone);
          return;
        }
        if (n > 0) {
          out_->consume(n);
          count_written(n);
          continue;
        }
        writing_ = true;
        inflight_ = static_cast<std::uint32_t>(want);
        out_->write_started(1);
        ctx_.arm(out_->send_timer);
        t_.sendfile(f.fd, f.offset, want);
        return;
      }
      // No sendfile: one bounded read at a time, never the whole file.
      std::string chunk = ctx_.buffers().take();
      chunk.resize(std::min<std::size_t>(want, 64 * 1024));
      ssize_t n = ::pread(f.fd, chunk.data(), chunk.size(), static_cast<off_t>(f.offset));
      if (n <= 0) {
        lithe::log_error("a file body could not be read to its end; closing");
        close_now(CloseReason::error);
        return;
      }
      chunk.resize(static_cast<std::size_t>(n));
      out_->inline_front_file(std::move(chunk));
      continue;
    }
    iovec iov[64];
    std::size_t total = 0;
    int cnt = out_->gather(iov, 64, SIZE_MAX, total);
    std::size_t n = t_.try_write(iov, cnt, ec);
    if (ec) {
      close_now(CloseReason::client_gone);
      return;
    }
    out_->consume(n);
    count_written(n);
    if (n < total) {
      // The socket is full: at most max_write goes in the background (the send timeout
      // re-arms after each step); new output queues behind it.
      cnt = out_->gather(iov, 64, max_write, total);
      writing_ = true;
      inflight_ = static_cast<std::uint32_t>(total);
      out_->write_started(cnt);
      ctx_.arm(out_->send_timer);
      t_.write(iov, cnt);
      return;
    }
  }
  on_flushed();
}

void HttpConnection::on_write_done(std::error_code ec) {
  writing_ = false;
  if (phase_ == Phase::closed) return;
  if (ec) {
    close_now(CloseReason::client_gone);
    return;
  }
  out_->write_done();
  out_->consume(inflight_);
  count_written(inflight_);
  inflight_ = 0;
  flush();
}

void HttpConnection::on_flushed() {
  if (out_) ctx_.disarm(out_->send_timer);
  if (pending_) {
    auto& p = pending_->list;
    std::size_t done = 0;
    while (done < p.size() && p[done].mark <= pending_->written)
      ++done;
    std::vector<PendingFinish> ready(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(done));
    p.erase(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(done));
    if (p.empty()) {
      delete pending_;
      pending_ = nullptr;
    }
    for (PendingFinish& f : ready) {
      f.ex->finish(CloseReason::done);
      if (f.ex->drop_ref()) HttpExchange::last_ref_dropped(f.ex);
    }
  }
  if (phase_ == Phase::closing) {
    start_close();
    return;
  }
  if (phase_ == Phase::idle && read_timer().list == 0) ctx_.arm(read_timer(), Timeout::idle);
  if (out_ && out_->empty() && !writing_) ctx_.release_queue(std::exchange(out_, nullptr));
}

void HttpConnection::start_close() {
  if (phase_ == Phase::lingering || phase_ == Phase::closed) return;
  phase_ = Phase::lingering;
  if (eof_) {
    close_now(CloseReason::done);
    return;
  }
  // Lingering close: send FIN, then read and drop until the peer closes too (or a short
  // timeout), so an answer sent before the whole request was read is not lost to a reset.
  t_.shutdown_write();
  if (read_paused_) {
    read_paused_ = false;
    t_.resume_reading();
  }
  ctx_.arm(read_timer(), Timeout::linger);
}

void HttpConnection::close_now(CloseReason reason) {
  if (close_requested_) return;
  close_requested_ = true;
  close_reason_ = reason;
  phase_ = Phase::closed;
  ctx_.disarm(read_timer());
  if (out_) ctx_.disarm(out_->send_timer);
  ctx_.unschedule_flush(this);
  t_.close();
}

void HttpConnection::on_eof() {
  eof_ = true;
  switch (phase_) {
  case Phase::idle:
    if (out_ && !out_->empty())
      phase_ = Phase::closing; // answers still leaving: close after them
    else
      close_now(CloseReason::done);
    break;
  case Phase::reading:  // the client left in the middle of a request
  case Phase::serving:  // or before our answer came (a half-close counts as gone)
  case Phase::hijacked: // or closed the stream without a protocol close
    close_now(CloseReason::client_gone);
    break;
  case Phase::closing:
    if (!out_ || out_->empty()) close_now(CloseReason::done);
    break;
  case Phase::lingering:
    close_now(CloseReason::done);
    break;
  case Phase::closed:
    break;
  }
}

void HttpConnection::on_closed(CloseReason reason) {
  CloseReason why = close_requested_ ? close_reason_ : reason;
  CloseReason cut = why == CloseReason::done ? CloseReason::client_gone : why;
  phase_ = Phase::closed;
  if (ex_) {
    ex_->finish(cut);
    drop_exchange();
  }
  if (pending_) {
    for (PendingFinish& f : pending_->list) {
      f.ex->finish(cut);
      if (f.ex->drop_ref()) HttpExchange::last_ref_dropped(f.ex);
    }
    delete pending_;
    pending_ = nullptr;
  }
  if (sock_) {
    detail::SocketState* s = std::exchange(sock_, nullptr);
    s->closed(why);
    if (s->drop_ref()) detail::SocketState::last_ref_dropped(s);
  }
  if (in_) ctx_.release_input(std::exchange(in_, nullptr));
  if (out_) ctx_.release_queue(std::exchange(out_, nullptr));
  ctx_.remove_connection(this);
  std::unique_ptr<HttpConnection> self(this); // the last call: the connection ends here
}

// ---- Stop, timeouts

void HttpConnection::on_stop() {
  keep_alive_ = false;
  switch (phase_) {
  case Phase::idle:
    if (out_ && !out_->empty())
      phase_ = Phase::closing;
    else
      close_now(CloseReason::server_stopping);
    break;
  case Phase::serving:
    // An open-ended stream (chunked, no length) has no natural end: end it cleanly now.
    if (ex_ && ex_->body() && ex_->framing == HttpExchange::Framing::chunked) {
      HttpExchange& ex = *ex_;
      out().append("0\r\n\r\n");
      ctx_.count_request();
      ex.finish(CloseReason::server_stopping);
      drop_exchange();
      phase_ = Phase::closing;
      queue_changed();
    }
    break;
  case Phase::hijacked:
    if (sock_) sock_->stopping();
    break;
  default:
    break; // reading: answered with Connection: close; closing: on its way
  }
}

void HttpConnection::on_timeout(Timeout which) {
  switch (which) {
  case Timeout::head:
    if (phase_ == Phase::reading)
      send_simple(408, "Request Timeout: the request head did not arrive in time\n",
                  CloseReason::timeout);
    else if (phase_ == Phase::idle)
      close_now(CloseReason::timeout); // connected and said nothing
    break;
  case Timeout::body:
    if (phase_ == Phase::reading)
      send_simple(408, "Request Timeout: the request body stopped arriving\n",
                  CloseReason::timeout);
    break;
  case Timeout::idle:
    if (phase_ == Phase::idle) close_now(CloseReason::timeout);
    break;
  case Timeout::send:
    close_now(CloseReason::timeout);
    break;
  case Timeout::linger:
    close_now(CloseReason::done);
    break;
  default:
    break;
  }
}

std::string_view HttpConnection::peer_address(detail::Exchange& e) noexcept {
  auto& ex = static_cast<HttpExchange&>(e);
  return {ex.remote, t_.peer_address(ex.remote, sizeof ex.remote)};
}

void HttpConnection::log_error(const detail::Exchange& ex, std::string_view message) {
  std::string line(ex.env.method());
  line.push_back(' ');
  line.append(ex.env.target());
  line.append(": ");
  line.append(message);
  lithe::log_error(line);
}

// ---- Hijacked socket

bool HttpConnection::sock_write(std::string_view bytes) {
  if (phase_ != Phase::hijacked) return false;
  out().append(bytes);
  if (over_budget("a stream written faster than the peer reads")) return false;
  queue_changed();
  return buffered() < high_water();
}

bool HttpConnection::sock_write(std::string&& bytes) {
  if (phase_ != Phase::hijacked) return false;
  out().append_owned(std::move(bytes));
  if (over_budget("a stream written faster than the peer reads")) return false;
  queue_changed();
  return buffered() < high_water();
}

bool HttpConnection::sock_charged() {
  // Reported, not enforced here: the app closes in its own protocol's way (WebSocket 1009);
  // a write over the budget closes the connection regardless.
  return memory() <= ctx_.options().max_connection_memory;
}

void HttpConnection::sock_close(bool abort) {
  if (phase_ != Phase::hijacked) return;
  if (abort) {
    close_now(CloseReason::done);
    return;
  }
  phase_ = Phase::closing;
  queue_changed();
}

void HttpConnection::sock_pause(bool paused) {
  if (phase_ != Phase::hijacked) return;
  app_paused_ = paused;
  update_reading();
}

} // namespace lithe::http
