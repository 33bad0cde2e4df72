// HttpConnection: one HTTP/1.1 connection (RFC 9112) over a Transport, the state machine
// that wires the engine's parts together: a RequestReader parses each request straight from
// the bytes the backend read (views, no copies), the exchange calls the app once per request
// in order, the response writer frames the answers and the OutQueue sends them, one writev
// per read burst. A streamed request body (SPEC 2.12) flows to the app between its head and
// its response. Limits answer 400/408/413/414/417/431/501/505 and close. docs/engine.md.
#include "http_connection.hpp"

#include <lithe/lint.hpp>
#include <lithe/log.hpp>

#include <algorithm>
#include <cstring>
#include <unistd.h>

namespace lithe::http {

namespace {
constexpr std::uint64_t small_file_bytes = 16 * 1024;
} // namespace

// ---- HttpExchange

void HttpExchange::prepare() {
  reset_for_reuse();
  if (reader.memory()) reader.release_memory();
  conn = nullptr;
  req_ptr = nullptr;
  req_len = 0;
  pinned.clear();
  if (pinned.capacity() > 64 * 1024) pinned.shrink_to_fit();
  is_pinned = false;
  is_head = false;
  http10 = false;
  upgrade = false;
  body_open = false;
  continue_sent = false;
  encoder = {};
}

void HttpExchange::pin() {
  if (is_pinned || !req_ptr) return;
  (void)env.remote_addr(); // formatted now, while the connection is surely there
  pinned.assign(req_ptr, req_len);
  relocate(req_ptr, req_len, pinned.data());
  req_ptr = pinned.data();
  is_pinned = true;
}

void HttpExchange::input_started() {
  if (conn) conn->input_started(*this);
}
void HttpExchange::input_drained() {
  if (conn) conn->input_drained();
}
std::size_t HttpExchange::input_high_water() const noexcept {
  return ctx_->options().high_water;
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
                  (ex_ ? ex_->memory() : 0) + (sock_ ? sock_->charged() : 0) + t_.memory();
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
  if (std::size_t tls = t_.memory()) s += ", TLS " + kib(tls);
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

// One request at a time, and none while the output waits above the high-water mark: a client
// that pipelines and never reads gets no more answers queued (reading pauses too). A streamed
// body is parsed while its request is served.
bool HttpConnection::can_parse() const noexcept {
  if (phase_ == Phase::serving) return body_open();
  return (phase_ == Phase::idle || phase_ == Phase::reading) && !output_full();
}

void HttpConnection::parse(const char* buf, std::size_t len, bool own) {
  using Event = RequestReader::Event;
  std::size_t start = 0;
  std::size_t pos = own ? parsed_ : 0;
  while (pos < len && can_parse()) {
    if (!ex_) begin_request();
    HttpExchange& ex = *ex_;
    const bool body = ex.body_open;
    std::size_t used = 0;
    // A streamed body's bytes leave the input as they are parsed (they go to the app's
    // stream); a request read whole stays until it is dispatched.
    Event ev = ex.reader.feed(body ? buf + pos : buf + start, buf + pos, len - pos, used);
    pos += used;
    if (body) start = pos;
    if (ev == Event::more) {
      // Body bytes came in this read: the body timeout runs from here (once per read, not
      // per chunk: a flood of 1-byte chunks is many callbacks).
      if (ex.reader.head_done()) ctx_.arm(read_timer(), Timeout::body);
      if (!body && ex.reader.continue_due() && !ex.continue_sent) send_continue(ex);
      break;
    }
    if (ev == Event::head) {
      dispatch_head(buf + start, pos - start);
      start = pos;
      continue;
    }
    if (ev == Event::end) {
      if (body) {
        end_body(InputError::none);
      } else {
        dispatch(buf + start, pos - start);
        start = pos;
      }
      continue;
    }
    if (body) {
      const bool too_large = ex.reader.status() == 413;
      refuse_body(too_large ? 413 : 400, ex.reader.error_text().c_str(),
                  too_large ? InputError::too_large : InputError::malformed);
    } else {
      fail_request();
    }
    start = pos = len;
  }
  keep_input(buf, start, pos, len, own);
  const HttpOptions& opts = ctx_.options();
  if ((phase_ == Phase::reading || phase_ == Phase::idle) && in_ &&
      memory() > opts.max_connection_memory) {
    if (ex_) ex_->reader.reject(413, "the request needs more memory than a connection may hold");
    lithe::log_error("a request needs more memory than a connection may hold (" +
                     memory_breakdown() + "); answered 413");
    fail_request();
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
  // A chunked body already gathered into the reader: its parsed framing and data bytes past
  // the head are dropped now, so a flood of small chunks holds nothing here. The last 4
  // parsed bytes stay: the request's end is checked for its CRLFs.
  std::size_t cut = 0; // bytes of [start + keep, pos - 4) dropped
  const RequestReader* r = ex_ ? &ex_->reader : nullptr;
  if (r && r->body_gathered() && phase_ == Phase::reading && pos > start + r->keep() + 4)
    cut = pos - start - r->keep() - 4;
  if (own) {
    in_->erase(0, start);
    if (cut) in_->erase(r->keep(), cut);
  } else if (start < len) {
    if (!in_) in_ = ctx_.acquire_input();
    if (cut) {
      in_->assign(buf + start, r->keep());
      in_->append(buf + pos - 4, len - pos + 4);
    } else {
      in_->assign(buf + start, len - start);
    }
  }
  if (cut) ex_->reader.dropped(static_cast<std::uint32_t>(cut));
  if (in_ && in_->empty()) ctx_.release_input(std::exchange(in_, nullptr));
  parsed_ = static_cast<std::uint32_t>(pos - start - cut);
}

void HttpConnection::begin_request() {
  ex_ = ctx_.acquire_exchange();
  ex_->begin(ctx_.loop(), *this, &ctx_.counters());
  ex_->conn = this;
  const HttpOptions& opts = ctx_.options();
  ex_->reader.begin(opts, ctx_.hosts(), opts.stream_bodies);
  phase_ = Phase::reading;
  ctx_.arm(read_timer(), Timeout::head);
}

void HttpConnection::send_continue(HttpExchange& ex) {
  ex.continue_sent = true;
  out().append("HTTP/1.1 100 Continue\r\n\r\n");
  queue_changed();
}

void HttpConnection::fail_request() {
  std::string text = ex_ ? ex_->reader.error_text() : std::string("Bad Request");
  text.push_back('\n');
  send_simple(ex_ ? ex_->reader.error_status() : 400, text, CloseReason::error);
}

void HttpConnection::send_simple(int status, std::string_view text, CloseReason reason) {
  keep_alive_ = false;
  if (ex_) {
    if (ex_->body_open) end_body(InputError::finished);
    ex_->finish(reason);
    drop_exchange();
  }
  OutQueue& o = out();
  std::string& b = o.tail();
  o.appended(write_simple(b, status, text, ctx_.date_line(), ctx_.server_line()));
  phase_ = Phase::closing;
  queue_changed();
}

// The env's views of the request: into the bytes at `req` (the head, and a whole body).
void HttpConnection::bind(HttpExchange& ex, const char* req, std::size_t len) {
  const RequestReader& r = ex.reader;
  const llhttp_t& p = r.parser();
  ex.req_ptr = req;
  ex.req_len = len;
  ex.upgrade = p.upgrade != 0;
  ex.is_head = p.method == HTTP_HEAD;
  ex.http10 = p.http_minor == 0;
  keep_alive_ = llhttp_should_keep_alive(&p) != 0;
  for (const RequestReader::HeaderSpan& h : r.headers())
    ex.add_request_header({req + h.name.off, h.name.len},
                          trim_ows({req + h.value.off, h.value.len}));
  std::string_view body;
  if (r.body_gathered())
    body = r.body_copy();
  else if (!r.streams())
    body = {req + r.body_span().off, r.body_span().len};
  RequestReader::Span url = r.url();
  ex.set_request({.method = llhttp_method_name(static_cast<llhttp_method_t>(p.method)),
                  .target = {req + url.off, url.len},
                  .protocol = ex.http10 ? "HTTP/1.0" : "HTTP/1.1",
                  .scheme = ctx_.scheme(),
                  .remote_addr = {}, // formatted if the app asks (peer_address)
                  .default_port = ctx_.port_text(),
                  .body = body});
}

void HttpConnection::dispatch(const char* req, std::size_t len) {
  HttpExchange& ex = *ex_;
  detail::Ref<HttpExchange> hold(&ex);
  ctx_.disarm(read_timer());
  bind(ex, req, len);
  phase_ = Phase::serving;
  ex.call(ctx_.app());
  // Still unanswered, or held by someone (a callback, a body, a finish hook): it outlives
  // this read's buffer, so its views move into its own copy of the request (SPEC 2.9).
  if (ex.ref_count() > 1) ex.pin();
}

// A streamed body's head (SPEC 2.12): the app is called now and reads the body as it comes.
void HttpConnection::dispatch_head(const char* req, std::size_t len) {
  HttpExchange& ex = *ex_;
  detail::Ref<HttpExchange> hold(&ex);
  const HttpOptions& opts = ctx_.options();
  bind(ex, req, len);
  ex.pin(); // the head outlives this read: the body's bytes come in later reads
  detail::InputStream& in =
      ex.open_input(&ex, ex.reader.content_length(), opts.max_stream_body_bytes, true);
  ex.reader.stream_to(&in);
  ex.body_open = true;
  ctx_.arm(read_timer(), Timeout::body);
  phase_ = Phase::serving;
  ex.call(ctx_.app());
  // The app may have lowered the limit below the declared length: refuse it now, before the
  // client sends it (and before any 100 Continue).
  if (ex_ == &ex && ex.body_open && in.length() && *in.length() > in.limit())
    refuse_body(413, "Payload Too Large: the request body is larger than allowed",
                InputError::too_large);
}

void HttpConnection::end_body(InputError e) {
  HttpExchange& ex = *ex_;
  ex.body_open = false;
  ex.reader.stream_to(nullptr);
  if (detail::InputStream* in = ex.input()) in->finish(e);
  if (phase_ == Phase::serving) ctx_.disarm(read_timer());
}

// A streamed body cannot go on (too large, malformed, too slow): the app hears why, and the
// client gets `status` unless the app answered already; the connection closes after.
void HttpConnection::refuse_body(int status, const char* reason, InputError e) {
  HttpExchange& ex = *ex_;
  detail::Ref<HttpExchange> hold(&ex);
  end_body(e);
  keep_alive_ = false;
  std::string text(reason);
  text.push_back('\n');
  if (!ex.responded())
    ex.abandon(e == InputError::timeout ? CloseReason::timeout : CloseReason::error,
               Response(status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(text)));
  if (ex_ == &ex && !ex.responded()) {
    // The app was still in its call or gave no answer the engine could send: close.
    send_simple(status, reason, CloseReason::error);
  }
}

void HttpConnection::input_started(HttpExchange& ex) {
  if (&ex != ex_ || !ex.body_open || ex.responded()) return;
  const detail::InputStream* in = ex.input();
  if (in->length() && *in->length() > in->limit()) return; // refused after the call instead
  if (ex.reader.continue_due() && !ex.continue_sent) send_continue(ex);
}

void HttpConnection::drop_exchange() noexcept {
  HttpExchange* e = std::exchange(ex_, nullptr);
  if (!e) return;
  e->conn = nullptr;
  if (e->drop_ref()) HttpExchange::last_ref_dropped(e);
}

// ---- Responses

void HttpConnection::respond(detail::Exchange& e, Response&& r) {
  auto& ex = static_cast<HttpExchange&>(e);
  if (&ex != ex_ || phase_ != Phase::serving) return;
  const Body::Kind kind = r.body.kind();
  if (ex.upgrade && kind != Body::Kind::hijack) keep_alive_ = false; // next bytes may not be HTTP
  if (ctx_.stopping()) keep_alive_ = false;
  // A body still arriving when the answer starts: the connection closes after the answer
  // (what is left of the request is not read).
  if (ex.body_open) keep_alive_ = false;
  HeadParams params{.http10 = ex.http10,
                    .is_head = ex.is_head,
                    .streaming = kind == Body::Kind::deferrable || kind == Body::Kind::stream,
                    .keep_alive = keep_alive_,
                    .date = ctx_.date_line(),
                    .server = ctx_.server_line()};
  OutQueue& o = out();
  std::string& b = o.tail();
  HeadResult head = write_head(b, r, params);
  o.appended(head.bytes);
  keep_alive_ = head.keep_alive;
  ex.encoder = BodyEncoder(head.framing, head.length);
  Outcome& outcome = ex.outcome();
  outcome.status = r.status;
  outcome.head_bytes = head.bytes;
  if (head.dropped_header)
    log_error(ex, "dropped a response header with CR, LF or NUL in it (SPEC 3.3)");
  if (!head.app_length.empty())
    log_error(ex, "Content-Length " + std::string(head.app_length) + " does not match the body's " +
                      std::to_string(head.body_size) + " bytes; sent the body's (SPEC 3.6)");
  const bool send = head.framing != Framing::swallow;

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
    } catch (...) {
      log_error(ex, "streaming body threw (not a std::exception)");
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
    } catch (...) {
      lithe::log_error("hijack handler threw (not a std::exception)");
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
  ex.outcome().body_bytes += bytes.size();
  BodyEncoder& enc = ex.encoder;
  const std::size_t n = enc.admit(bytes.size());
  if (enc.truncated())
    log_error(ex, "the body is longer than its Content-Length; the rest was dropped (SPEC 3.6)");
  if (n == 0) return; // swallowed, or an empty piece (which would end a chunked body)
  OutQueue& o = out();
  if (enc.framing() == Framing::chunked) {
    std::string& b = o.tail();
    std::size_t before = b.size();
    enc.before(b, n);
    o.appended(b.size() - before);
  }
  if constexpr (std::is_same_v<std::remove_cvref_t<S>, std::string>) {
    if (n == bytes.size())
      o.append_owned(std::move(bytes));
    else
      o.append(std::string_view(bytes).substr(0, n));
  } else {
    o.append(std::string_view(bytes).substr(0, n));
  }
  o.append(enc.after());
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
  if (!ok) {
    // The body failed: leave it unterminated and close, so the client sees it incomplete.
    keep_alive_ = false;
    if (ex.body_open) end_body(InputError::finished);
    ex.finish(CloseReason::error);
    drop_exchange();
    phase_ = Phase::closing;
    queue_changed();
    return;
  }
  out().append(ex.encoder.end());
  if (!ex.encoder.complete()) {
    log_error(ex, "the body ended short of its Content-Length; closing (SPEC 3.6)");
    keep_alive_ = false;
  }
  complete_response(ex);
  queue_changed();
}

void HttpConnection::complete_response(HttpExchange& ex) {
  if (&ex != ex_) return;
  ctx_.count_request();
  if (ex.body_open) { // answered before the body ended: the rest is not read
    keep_alive_ = false;
    end_body(InputError::finished);
  }
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
    if (body_open()) {
      // A streamed body: read while the app keeps up. The body timeout measures the client,
      // so it stops while the app holds its bytes unread.
      pause = output_full() || (ex_->input() && ex_->input()->full());
      if (pause)
        ctx_.disarm(read_timer());
      else if (read_timer().list == 0)
        ctx_.arm(read_timer(), Timeout::body);
      break;
    }
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
  if (!out_) {
    on_flushed();
    return;
  }
  std::size_t written = 0;
  OutQueue::Flush f = out_->flush(t_, max_write, written);
  count_written(written);
  switch (f) {
  case OutQueue::Flush::done:
    on_flushed();
    return;
  case OutQueue::Flush::waiting:
    // The send timeout re-arms after each background step: it measures progress.
    writing_ = true;
    ctx_.arm(out_->send_timer);
    return;
  case OutQueue::Flush::peer_gone:
    close_now(CloseReason::client_gone);
    return;
  case OutQueue::Flush::unreadable:
    lithe::log_error("a file body could not be read to its end; closing");
    close_now(CloseReason::error);
    return;
  }
}

void HttpConnection::on_write_done(std::error_code ec) {
  writing_ = false;
  if (phase_ == Phase::closed) return;
  if (ec) {
    close_now(CloseReason::client_gone);
    return;
  }
  count_written(out_->background_done());
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
  if (reason == CloseReason::done || reason == CloseReason::server_stopping)
    t_.close(); // what is still leaving leaves
  else
    t_.abort();
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
    if (ex_->body_open)
      end_body(why == CloseReason::timeout ? InputError::timeout : InputError::client_gone);
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
    if (out_ && !out_->empty()) {
      phase_ = Phase::closing;
    } else if (in_ && !in_->empty()) {
      ctx_.schedule_flush(this); // a request already here is answered, with Connection: close
    } else {
      // Closing a kept-alive connection now would race a request the client may be sending
      // (it would see the close instead of an answer). A request that comes within the drain
      // wait is answered with Connection: close; a connection still quiet then is closed.
      ctx_.arm(read_timer(), Timeout::drain);
    }
    break;
  case Phase::serving:
    // An open-ended stream (chunked, no length) has no natural end: end it cleanly now.
    if (ex_ && ex_->body() && ex_->encoder.framing() == Framing::chunked) {
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
    else if (phase_ == Phase::serving && body_open())
      refuse_body(408, "Request Timeout: the request body stopped arriving", InputError::timeout);
    break;
  case Timeout::idle:
    if (phase_ == Phase::idle) close_now(CloseReason::timeout);
    break;
  case Timeout::send:
    close_now(CloseReason::timeout);
    break;
  case Timeout::drain:
    if (phase_ == Phase::idle) close_now(CloseReason::server_stopping);
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
