// The PROXY protocol, versions 1 and 2 (haproxy.org/download/2.8/doc/proxy-protocol.txt): the
// header's parser, and a layer between a backend's transport and the service above it that
// takes the header off the front and reports its source as the peer's address.
#include <lithe/proxy_protocol.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

namespace lithe {

namespace {

constexpr std::string_view v1_prefix = "PROXY ";
constexpr std::size_t v1_max = 107; // §2.1: the longest line, CRLF included
constexpr std::string_view v2_signature("\r\n\r\n\0\r\nQUIT\n", 12);

bool is_prefix_of(std::string_view in, std::string_view whole) {
  return whole.substr(0, in.size()) == in.substr(0, std::min(in.size(), whole.size()));
}

// Decimal port, 0-65535, 1 to 5 digits.
bool parse_port(std::string_view s, std::uint16_t& out) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

// Checks an address and writes its canonical text into out.source.
bool parse_address(std::string_view text, int af, ProxyHeader* out) {
  char buf[64];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  unsigned char bin[16];
  if (::inet_pton(af, buf, bin) != 1) return false;
  if (out) {
    if (!::inet_ntop(af, bin, out->source, sizeof out->source)) return false;
    out->source_len = static_cast<std::uint8_t>(std::strlen(out->source));
  }
  return true;
}

ProxyHeader::Result parse_v1(std::string_view in, ProxyHeader& out) {
  std::size_t end = in.substr(0, v1_max).find("\r\n");
  if (end == std::string_view::npos)
    return in.size() < v1_max ? ProxyHeader::Result::need_more : ProxyHeader::Result::bad;
  std::string_view line = in.substr(v1_prefix.size(), end - v1_prefix.size());
  out.length = end + 2;
  auto next = [&line]() {
    std::size_t sp = line.find(' ');
    std::string_view field = line.substr(0, sp);
    line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    return field;
  };
  std::string_view proto = next();
  if (proto == "UNKNOWN") { // §2.1: the rest of the line is ignored
    out.local = true;
    return ProxyHeader::Result::done;
  }
  int af = proto == "TCP4" ? AF_INET : proto == "TCP6" ? AF_INET6 : -1;
  if (af < 0) return ProxyHeader::Result::bad;
  std::string_view src = next(), dst = next(), sport = next(), dport = line;
  std::uint16_t ignored = 0;
  if (!parse_address(src, af, &out) || !parse_address(dst, af, nullptr) ||
      !parse_port(sport, out.source_port) || !parse_port(dport, ignored))
    return ProxyHeader::Result::bad;
  return ProxyHeader::Result::done;
}

ProxyHeader::Result parse_v2(std::string_view in, ProxyHeader& out) {
  if (in.size() < 16) return ProxyHeader::Result::need_more;
  auto byte = [&in](std::size_t i) { return static_cast<unsigned char>(in[i]); };
  const unsigned ver = byte(12) >> 4, cmd = byte(12) & 0x0f;
  const unsigned family = byte(13) >> 4, transport = byte(13) & 0x0f;
  const std::size_t len = (std::size_t{byte(14)} << 8) | byte(15);
  if (ver != 2 || cmd > 1 || 16 + len > max_proxy_header) return ProxyHeader::Result::bad;
  if (in.size() < 16 + len) return ProxyHeader::Result::need_more;
  out.length = 16 + len;
  if (cmd == 0) { // LOCAL: the balancer's own connection (a health check)
    out.local = true;
    return ProxyHeader::Result::done;
  }
  if (transport == 2) return ProxyHeader::Result::bad; // datagrams on a stream listener
  int af = 0;
  std::size_t addr_len = 0;
  if (family == 1) {
    af = AF_INET;
    addr_len = 4;
  } else if (family == 2) {
    af = AF_INET6;
    addr_len = 16;
  } else { // UNSPEC or a unix socket: no address to use (§2.2), the connection's own counts
    out.local = true;
    return ProxyHeader::Result::done;
  }
  if (transport != 1 || len < 2 * addr_len + 4) return ProxyHeader::Result::bad;
  const char* src = in.data() + 16;
  if (!::inet_ntop(af, src, out.source, sizeof out.source)) return ProxyHeader::Result::bad;
  out.source_len = static_cast<std::uint8_t>(std::strlen(out.source));
  out.source_port =
      static_cast<std::uint16_t>((byte(16 + 2 * addr_len) << 8) | byte(16 + 2 * addr_len + 1));
  return ProxyHeader::Result::done; // TLVs, if any, are skipped
}

// One connection behind the layer: holds the header's bytes until it is whole, then passes
// everything through, answering peer_address() with the header's source.
class ProxyConnection final : public Transport, public TransportHandler {
public:
  explicit ProxyConnection(Transport& raw) noexcept : raw_(raw) {}
  void attach(TransportHandler* inner) noexcept { inner_ = inner; }

  Loop& loop() noexcept override { return raw_.loop(); }
  std::size_t try_write(const iovec* iov, int n, std::error_code& ec) noexcept override {
    return raw_.try_write(iov, n, ec);
  }
  void write(const iovec* iov, int n) noexcept override { raw_.write(iov, n); }
  bool can_sendfile() const noexcept override { return raw_.can_sendfile(); }
  std::size_t try_sendfile(int fd, std::uint64_t off, std::size_t len,
                           std::error_code& ec) noexcept override {
    return raw_.try_sendfile(fd, off, len, ec);
  }
  void sendfile(int fd, std::uint64_t off, std::size_t len) noexcept override {
    raw_.sendfile(fd, off, len);
  }
  void pause_reading() noexcept override { raw_.pause_reading(); }
  void resume_reading() noexcept override { raw_.resume_reading(); }
  void shutdown_write() noexcept override { raw_.shutdown_write(); }
  void close() noexcept override {
    closed_ = true;
    raw_.close();
  }
  void abort() noexcept override {
    closed_ = true;
    raw_.abort();
  }
  std::size_t peer_address(char* out, std::size_t cap) const noexcept override {
    if (header_.source_len == 0) return raw_.peer_address(out, cap);
    std::size_t n = std::min<std::size_t>(cap, header_.source_len);
    std::memcpy(out, header_.source, n);
    return n;
  }
  std::size_t memory() const noexcept override { return raw_.memory() + head_.capacity(); }
  std::string tls_info(std::string_view name) const override { return raw_.tls_info(name); }

  void on_read(const char* data, std::size_t len) override {
    if (closed_) return;
    if (done_) {
      inner_->on_read(data, len);
      return;
    }
    std::string_view in(data, len);
    const std::size_t before = head_.size(); // bytes of earlier reads, kept
    if (before) {
      head_.append(data, std::min(len, max_proxy_header));
      in = head_;
    }
    switch (parse_proxy_header(in, header_)) {
    case ProxyHeader::Result::need_more:
      if (!before) head_.assign(data, len); // need_more: len < max_proxy_header
      return;
    case ProxyHeader::Result::bad:
      close();
      return;
    case ProxyHeader::Result::done:
      break;
    }
    done_ = true;
    // What followed the header in this read (the request's first bytes) goes on.
    std::size_t used_of_data = header_.length - before;
    std::string().swap(head_);
    if (used_of_data < len) inner_->on_read(data + used_of_data, len - used_of_data);
  }
  void on_eof() override {
    if (closed_) return;
    if (!done_) {
      close(); // gone before saying who it is
      return;
    }
    inner_->on_eof();
  }
  void on_write_done(std::error_code ec) override { inner_->on_write_done(ec); }
  void on_closed(CloseReason reason) override {
    std::unique_ptr<ProxyConnection> self(this);
    inner_->on_closed(reason);
  }
  void on_stop() override {
    if (closed_) return;
    if (!done_) {
      close();
      return;
    }
    inner_->on_stop();
  }

private:
  Transport& raw_;
  TransportHandler* inner_ = nullptr;
  std::string head_; // a header that came in pieces
  ProxyHeader header_;
  bool done_ = false;
  bool closed_ = false;
};

class ProxyService final : public Service {
public:
  explicit ProxyService(std::unique_ptr<Service> inner) : inner_(std::move(inner)) {}
  TransportHandler* accept(Transport& transport) override {
    auto conn = std::make_unique<ProxyConnection>(transport);
    ProxyConnection* c = conn.release(); // frees itself in on_closed
    c->attach(inner_->accept(*c));
    return c;
  }
  void stop() override { inner_->stop(); }
  std::size_t connections() const noexcept override { return inner_->connections(); }
  WorkerStats stats() const noexcept override { return inner_->stats(); }

private:
  std::unique_ptr<Service> inner_;
};

} // namespace

ProxyHeader::Result parse_proxy_header(std::string_view in, ProxyHeader& out) noexcept {
  out = ProxyHeader{};
  if (in.empty()) return ProxyHeader::Result::need_more;
  if (in[0] == 'P') {
    if (in.size() < v1_prefix.size())
      return is_prefix_of(in, v1_prefix) ? ProxyHeader::Result::need_more
                                         : ProxyHeader::Result::bad;
    if (in.substr(0, v1_prefix.size()) != v1_prefix) return ProxyHeader::Result::bad;
    return parse_v1(in, out);
  }
  if (in.size() < v2_signature.size())
    return is_prefix_of(in, v2_signature) ? ProxyHeader::Result::need_more
                                          : ProxyHeader::Result::bad;
  if (in.substr(0, v2_signature.size()) != v2_signature) return ProxyHeader::Result::bad;
  return parse_v2(in, out);
}

ServiceFactory proxy_protocol_service(ServiceFactory inner) {
  return
      [inner = std::move(inner)](Loop& loop, const ListenInfo& listen) -> std::unique_ptr<Service> {
        return std::make_unique<ProxyService>(inner(loop, listen));
      };
}

} // namespace lithe
