// MockRequest: an exchange whose sink records the response instead of writing a socket
// (Rack::MockRequest), driven by a ManualLoop so late and streaming responses finish at once.
#include <lithe/detail/exchange.hpp>
#include <lithe/lint.hpp>
#include <lithe/log.hpp>
#include <lithe/mock_request.hpp>

#include <unistd.h>

#include <exception>
#include <string>

namespace lithe {

using detail::Exchange;
using detail::Ref;

namespace {

class MockExchange final : public Exchange, public detail::Sink {
public:
  MockResponse res;
  // The request's bytes; the env's views point here.
  std::string method, target, body, remote, scheme, protocol;
  std::vector<std::pair<std::string, std::string>> headers;

  void recycle() noexcept override { delete this; }

  void respond(Exchange&, Response&& r) override {
    res.status = r.status;
    for (const Header& h : r.headers)
      res.headers.emplace_back(std::string(h.name.view()), std::string(h.value.view()));
    outcome().status = r.status;
    switch (r.body.kind()) {
    case Body::Kind::empty:
    case Body::Kind::bytes:
    case Body::Kind::chunks:
      if (!r.body.empty()) record(r.body.to_string());
      end(CloseReason::done);
      break;
    case Body::Kind::file: {
      FileRange* f = r.body.get_if<FileRange>();
      record(read_range(f->file.fd(), f->offset, f->length));
      end(CloseReason::done);
      break;
    }
    case Body::Kind::file_parts: {
      FileParts* f = r.body.get_if<FileParts>();
      std::string all;
      for (const FileParts::Part& p : f->parts)
        all += p.before + read_range(f->file.fd(), p.offset, p.length);
      record(all + f->after);
      end(CloseReason::done);
      break;
    }
    case Body::Kind::deferrable: {
      DeferrableBody b = std::move(*r.body.get_if<DeferrableBody>());
      b.state()->attach(*this);
      break;
    }
    case Body::Kind::stream: {
      StreamBody s = std::move(*r.body.get_if<StreamBody>());
      DeferrableBody b;
      b.state()->attach(*this);
      // As the engine does: a throw fails the body (the client sees it cut short), logged.
      try {
        s.fn(b);
      } catch (const std::exception& e) {
        lithe::log_error(std::string("streaming body threw: ") + e.what());
        b.fail();
        break;
      } catch (...) {
        lithe::log_error("streaming body threw (not a std::exception)");
        b.fail();
        break;
      }
      if (!s.keep_open) b.succeed();
      break;
    }
    case Body::Kind::hijack:
      res.hijacked = true;
      end(CloseReason::done);
      break;
    }
  }

  static std::string read_range(int fd, std::uint64_t offset, std::uint64_t length) {
    std::string data(length, '\0');
    ssize_t n = ::pread(fd, data.data(), data.size(), static_cast<off_t>(offset));
    data.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return data;
  }

  void record(std::string bytes) {
    outcome().body_bytes += bytes.size();
    res.body.append(bytes);
    res.chunks.push_back(std::move(bytes));
  }
  void body_write(Exchange&, std::string_view bytes) override { record(std::string(bytes)); }
  void body_write(Exchange&, std::string&& bytes) override { record(std::move(bytes)); }
  void body_end(Exchange&, bool ok) override { end(ok ? CloseReason::done : CloseReason::error); }
  std::size_t buffered() const noexcept override { return 0; }
  std::size_t high_water() const noexcept override { return 64 * 1024; }
  void log_error(const Exchange&, std::string_view message) override { lithe::log_error(message); }

  void end(CloseReason reason) {
    if (res.finished) return;
    res.finished = true;
    res.reason = reason;
    finish(reason);
  }
};

} // namespace

std::optional<std::string_view> MockResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return std::string_view(v);
  return std::nullopt;
}

MockRequest::MockRequest(App app)
    : app_(std::move(app)), pool_(std::make_unique<ThreadPool>(ThreadPoolOptions{.threads = 2})),
      loop_(std::make_unique<ManualLoop>()) {
  loop_->set_thread_pool(pool_.get());
}
MockRequest::~MockRequest() = default;

ManualLoop& MockRequest::loop() noexcept {
  return *loop_;
}

ThreadPool& MockRequest::thread_pool() noexcept {
  return *pool_;
}

MockResponse MockRequest::get(std::string_view target, MockOptions opts) {
  return request("GET", target, std::move(opts));
}

MockResponse MockRequest::post(std::string_view target, std::string body, MockOptions opts) {
  opts.body = std::move(body);
  return request("POST", target, std::move(opts));
}

MockResponse MockRequest::request(std::string_view method, std::string_view target,
                                  MockOptions opts) {
  Ref<MockExchange> ex(new MockExchange);
  MockExchange& m = *ex;
  m.method = method;
  m.target = target;
  m.body = std::move(opts.body);
  m.remote = std::move(opts.remote_addr);
  m.scheme = std::move(opts.url_scheme);
  m.protocol = std::move(opts.protocol);
  m.headers = std::move(opts.headers);
  bool has_host = false, has_length = false;
  for (const auto& [n, v] : m.headers) {
    has_host |= iequals(n, "host");
    has_length |= iequals(n, "content-length");
  }
  if (!has_host) m.headers.emplace_back("Host", "example.org");
  if (!has_length && !m.body.empty())
    m.headers.emplace_back("Content-Length", std::to_string(m.body.size()));

  ManualLoop::Scope scope(*loop_);
  m.begin(*loop_, m, nullptr);
  for (const auto& [n, v] : m.headers)
    m.add_request_header(n, v);
  m.set_request({.method = m.method,
                 .target = m.target,
                 .protocol = m.protocol,
                 .scheme = m.scheme,
                 .remote_addr = m.remote,
                 .default_port = m.scheme == "https" ? "443" : "80",
                 .body = m.body});
  if (opts.client_leaves_after)
    loop_->add_timer(*opts.client_leaves_after, [ex] { ex->end(CloseReason::client_gone); });
  m.call(opts.lint ? lint(app_) : app_);
  bool completed = loop_->run_until([&] { return m.res.finished; }, opts.timeout);
  if (!completed) m.end(CloseReason::client_gone); // the mock client gives up
  loop_->run_ready();
  MockResponse out = std::move(m.res);
  out.finished = completed;
  return out;
}

} // namespace lithe
