// RequestReader (request_reader.hpp): llhttp's callbacks, the checks of a request head, and
// the body gathered or streamed. RFC 9112; SPEC §11.
#include "request_reader.hpp"

#include <lithe/response.hpp>
#include <lithe/str.hpp>

#include <array>
#include <cctype>
#include <cstring>

namespace lithe::http {

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

RequestReader& reader(llhttp_t* p) noexcept {
  return *static_cast<RequestReader*>(p->data);
}
template <int (RequestReader::*F)(const char*, std::size_t)>
int data_cb(llhttp_t* p, const char* at, std::size_t len) {
  return (reader(p).*F)(at, len);
}
int headers_complete_cb(llhttp_t* p) {
  return reader(p).on_headers_complete();
}
// Stop after each request, so the next pipelined one is parsed only once this one is
// answered, and the request's bytes are known to end here.
int message_complete_cb(llhttp_t*) {
  return HPE_PAUSED;
}

llhttp_settings_t make_settings() noexcept {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_url = data_cb<&RequestReader::on_url>;
  s.on_header_field = data_cb<&RequestReader::on_header_field>;
  s.on_header_value = data_cb<&RequestReader::on_header_value>;
  s.on_headers_complete = headers_complete_cb;
  s.on_body = data_cb<&RequestReader::on_body>;
  s.on_message_complete = message_complete_cb;
  return s;
}
const llhttp_settings_t settings = make_settings(); // no guard on the per-request path

} // namespace

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

bool HostCache::ok(std::string_view host) {
  if (host.size() == last_.size() && host == last_) return true;
  if (!valid_host(host)) return false;
  if (host.size() <= 255) last_.assign(host);
  return true;
}

void RequestReader::begin(const HttpOptions& opts, HostCache& hosts, bool stream_bodies) {
  opts_ = &opts;
  hosts_ = &hosts;
  allow_stream_ = stream_bodies;
  llhttp_init(&parser_, HTTP_REQUEST, &settings);
  parser_.data = this;
  sink_ = nullptr;
  url_ = {};
  headers_.clear();
  body_span_ = {};
  body_copy_.clear();
  head_end_ = keep_ = dropped_ = trailer_bytes_ = 0;
  status_ = 0;
  reason_ = nullptr;
  err_ = HPE_OK;
  tail_len_ = 0;
  stream_ = in_value_ = headers_done_ = copied_ = continue_ = false;
}

void RequestReader::release_memory() {
  body_copy_.clear();
  if (body_copy_.capacity() > 64 * 1024) body_copy_.shrink_to_fit();
}

int RequestReader::reject(std::uint16_t status, const char* reason) noexcept {
  if (!status_) {
    status_ = status;
    reason_ = reason;
  }
  return -1;
}

std::optional<std::uint64_t> RequestReader::content_length() const noexcept {
  if (parser_.flags & F_CHUNKED) return std::nullopt;
  if (!(parser_.flags & F_CONTENT_LENGTH)) return 0;
  // llhttp counts content_length down as the body is parsed; at the head it is whole.
  return parser_.content_length;
}

RequestReader::Event RequestReader::feed(const char* base, const char* p, std::size_t len,
                                         std::size_t& used) {
  base_ = base;
  end_ = p + len;
  const bool at_head = stream_ && llhttp_get_errno(&parser_) == HPE_PAUSED;
  if (at_head) llhttp_resume(&parser_); // the body of a streamed request, after its head
  const bool streaming_body = stream_ && headers_done_;
  llhttp_errno_t err = llhttp_execute(&parser_, p, len);
  err_ = err;
  if (err == HPE_OK) {
    used = len;
    if (streaming_body) {
      note_tail(p, len);
      return Event::more;
    }
    const std::size_t have = static_cast<std::size_t>(end_ - base) + dropped_;
    if (!headers_done_ && have > opts_->max_header_bytes) {
      reject(431, "the request head is larger than the server accepts");
      return Event::error;
    }
    if (have > opts_->max_header_bytes + opts_->max_body_bytes + 64 * 1024) {
      reject(413, "the request is larger than the server accepts"); // framing counts too
      return Event::error;
    }
    return Event::more;
  }
  if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
    const char* at = llhttp_get_error_pos(&parser_);
    used = static_cast<std::size_t>(at - p);
    const auto upto = static_cast<std::size_t>(at - base);
    if (stream_ && !streaming_body) { // paused at a streamed body's head
      head_end_ = static_cast<std::uint32_t>(upto);
      if (!crlf_at(base, upto) || !crlf_at(base, upto - 2)) {
        reject(400, bare_lf);
        return Event::error;
      }
      return Event::head;
    }
    if (stream_) {
      note_tail(p, used);
      if ((parser_.flags & F_CHUNKED) &&
          (tail_len_ < 4 || std::memcmp(tail_, "\r\n\r\n", 4) != 0)) {
        reject(400, "the chunked body ends in a bare LF");
        return Event::error;
      }
      return Event::end;
    }
    if (const char* why = line_ends_fault(upto)) {
      reject(400, why);
      return Event::error;
    }
    return Event::end;
  }
  used = len;
  return Event::error;
}

void RequestReader::note_tail(const char* p, std::size_t n) noexcept {
  if (n >= 4) {
    std::memcpy(tail_, p + n - 4, 4);
    tail_len_ = 4;
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (tail_len_ == 4) {
      std::memmove(tail_, tail_ + 1, 3);
      --tail_len_;
    }
    tail_[tail_len_++] = p[i];
  }
}

std::uint16_t RequestReader::error_status() const noexcept {
  if (status_) return status_;
  return err_ == HPE_PAUSED_H2_UPGRADE ? 505 : 400;
}

std::string RequestReader::error_text() const {
  if (status_) return std::string(reason_phrase(status_)) + ": " + reason_;
  if (err_ == HPE_PAUSED_H2_UPGRADE)
    return "HTTP Version Not Supported: only HTTP/1.0 and HTTP/1.1 are served here";
  std::string text = "Bad Request";
  if (const char* why = llhttp_get_error_reason(&parser_)) {
    text += ": ";
    text += why;
  }
  return text;
}

// RFC 9112 §2.2: every line of a request's head, and the last line of a chunked body, ends in
// CRLF. llhttp 8 also takes a bare LF there; a proxy in front may not, and two parsers that
// disagree on where a request ends is how requests are smuggled. Each header line's start was
// checked as it came (on_header_field); this checks the head's end, and a chunked body's.
// base_ holds the request as parsed, `len` bytes (the spans point into it).
const char* RequestReader::line_ends_fault(std::size_t len) const noexcept {
  const char* req = base_;
  if (parser_.flags & F_CHUNKED) {
    std::size_t last = url_.off + url_.len; // the end of the head's last span
    if (!headers_.empty()) {
      const HeaderSpan& h = headers_.back();
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
  std::size_t head_end = body_span_.len ? body_span_.off : len;
  return crlf_at(req, head_end) && crlf_at(req, head_end - 2) ? nullptr : bare_lf;
}

bool RequestReader::over_head_limit(const char* at, std::size_t len) {
  if (static_cast<std::size_t>(at + len - base_) <= opts_->max_header_bytes) return false;
  reject(431, "the request head is larger than the server accepts");
  return true;
}

int RequestReader::on_url(const char* at, std::size_t len) {
  if (url_.len == 0) url_.off = static_cast<std::uint32_t>(at - base_);
  url_.len += static_cast<std::uint32_t>(len); // pieces of one URL are contiguous
  if (url_.len > opts_->max_uri_bytes)
    return reject(414, "the request target is longer than the server accepts");
  return 0;
}

int RequestReader::on_header_field(const char* at, std::size_t len) {
  if (headers_done_) return on_trailer(len);
  if (over_head_limit(at, len)) return -1;
  if (in_value_ || headers_.empty()) {
    if (headers_.size() >= opts_->max_headers)
      return reject(431, "the request has more header fields than the server accepts");
    const auto off = static_cast<std::uint32_t>(at - base_);
    if (!crlf_at(base_, off)) return reject(400, bare_lf); // the line before this one
    headers_.push_back({{off, 0}, {}});
    in_value_ = false;
  }
  headers_.back().name.len += static_cast<std::uint32_t>(len);
  return 0;
}

int RequestReader::on_header_value(const char* at, std::size_t len) {
  if (headers_done_) return on_trailer(len);
  if (over_head_limit(at, len)) return -1;
  // llhttp hands an obsolete line fold through inside the value; RFC 9112 §5.2 lets a
  // server refuse it, which is safer than guessing what a proxy before it made of it.
  if (std::memchr(at, '\n', len) || std::memchr(at, '\r', len))
    return reject(400, "obsolete line folding is not accepted");
  HeaderSpan& h = headers_.back();
  auto off = static_cast<std::uint32_t>(at - base_);
  if (!in_value_) {
    h.value.off = off;
    in_value_ = true;
  } else if (off != h.value.off + h.value.len) {
    // A second piece that does not follow the first: llhttp skipped a fold's CRLF between.
    return reject(400, "obsolete line folding is not accepted");
  }
  h.value.len += static_cast<std::uint32_t>(len);
  return 0;
}

// Trailer fields (RFC 9112 §7.1.2) are parsed, bounded by the head's limit and dropped: they
// never become request headers (RFC 9110 §6.5.1 lets a recipient discard them), so a trailer
// cannot change what the app sees.
int RequestReader::on_trailer(std::size_t len) {
  trailer_bytes_ += static_cast<std::uint32_t>(len);
  if (trailer_bytes_ <= opts_->max_header_bytes) return 0;
  return reject(431, "the request's trailer fields are larger than the server accepts");
}

int RequestReader::on_headers_complete() {
  const llhttp_t& p = parser_;
  headers_done_ = true;
  if (p.http_major != 1) return reject(505, "only HTTP/1.0 and HTTP/1.1 are served here");
  // RFC 9112 §3.2: origin-form ("/path"), absolute-form ("http://host/path"), asterisk-form
  // for OPTIONS only; authority-form is CONNECT's, and this is not a proxy.
  std::string_view target(base_ + url_.off, url_.len);
  if (p.method == HTTP_CONNECT)
    return reject(501, "CONNECT is for proxies; this server is not one");
  if (target == "*") {
    if (p.method != HTTP_OPTIONS) return reject(400, "the target * is for OPTIONS only");
  } else if (target.empty() || (target.front() != '/' && !absolute_form(target))) {
    return reject(400, "the request target is neither a path nor an absolute URL");
  }
  int hosts = 0;
  std::string_view te, expect, host;
  for (const HeaderSpan& h : headers_) {
    std::string_view name(base_ + h.name.off, h.name.len);
    std::string_view value = trim_ows({base_ + h.value.off, h.value.len});
    if (iequals(name, "host")) {
      ++hosts;
      host = value;
    } else if (iequals(name, "transfer-encoding")) {
      if (!te.empty()) return reject(501, "only one Transfer-Encoding field is understood");
      te = value;
    } else if (iequals(name, "expect")) {
      expect = value;
    }
  }
  // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host.
  if (p.http_minor >= 1 && hosts == 0) return reject(400, "the request has no Host header");
  if (hosts > 1) return reject(400, "the request has more than one Host header");
  if (!hosts_->ok(host)) return reject(400, "the Host header is not a host name or address");
  if (!te.empty()) {
    // RFC 9112 §6.1: a 1.0 request with Transfer-Encoding has faulty framing; a coding other
    // than chunked is not implemented here.
    if (p.http_minor == 0) return reject(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (!iequals(te, "chunked"))
      return reject(501, "only the chunked transfer coding is understood");
  }
  const bool chunked = p.flags & F_CHUNKED;
  const bool has_body = chunked || ((p.flags & F_CONTENT_LENGTH) && p.content_length > 0);
  if (!expect.empty() && !iequals(expect, "100-continue"))
    return reject(417, "only Expect: 100-continue is understood");
  if (has_body && allow_stream_ && !p.upgrade) {
    // Streamed, unless the whole Content-Length body is here already (then the app gets it
    // whole, as without streaming: one call, no copy).
    std::size_t last = url_.off + url_.len;
    if (!headers_.empty()) {
      const HeaderSpan& h = headers_.back();
      last = h.value.len ? h.value.off + h.value.len : h.name.off + h.name.len;
    }
    std::string_view rest(base_ + last, static_cast<std::size_t>(end_ - (base_ + last)));
    std::size_t blank = rest.find("\r\n\r\n");
    std::size_t here = blank == std::string_view::npos ? 0 : rest.size() - blank - 4;
    stream_ = chunked || p.content_length > here;
  }
  const std::uint64_t max = stream_ ? opts_->max_stream_body_bytes : opts_->max_body_bytes;
  if ((p.flags & F_CONTENT_LENGTH) && p.content_length > max)
    return reject(413, "the request body is larger than the server accepts");
  continue_ = has_body && p.http_minor >= 1 && !expect.empty();
  return stream_ ? HPE_PAUSED : 0;
}

int RequestReader::on_body(const char* at, std::size_t len) {
  if (stream_) {
    if (!sink_ || sink_->push({at, len})) return 0;
    return reject(413, "the request body is larger than allowed");
  }
  std::size_t have = copied_ ? body_copy_.size() : body_span_.len;
  if (have + len > opts_->max_body_bytes)
    return reject(413, "the request body is larger than the server accepts");
  auto off = static_cast<std::uint32_t>(at - base_);
  if (!copied_) {
    if (body_span_.len == 0) {
      body_span_ = {off, static_cast<std::uint32_t>(len)};
      return 0;
    }
    if (body_span_.off + body_span_.len == off) { // contiguous (Content-Length): still a view
      body_span_.len += static_cast<std::uint32_t>(len);
      return 0;
    }
    body_copy_.assign(base_ + body_span_.off, body_span_.len); // chunked: gather the pieces
    copied_ = true;
    keep_ = body_span_.off; // the input from here on is dropped as it is parsed
  }
  body_copy_.append(at, len);
  return 0;
}

} // namespace lithe::http
