// permessage-deflate with zlib (RFC 7692 §7): raw streams, shared per loop thread when a
// direction's context is not taken over, else dedicated and created on first use. Every zlib
// loop below stops when a call neither consumes input nor produces output.
#include <lithe/mw/ws_deflate.hpp>

#include <lithe/str.hpp>

#include <zlib.h>

#include <algorithm>
#include <memory>

namespace lithe::mw::ws {

namespace {

constexpr std::string_view sync_tail{"\0\0\xff\xff", 4}; // §7.2.1, §7.2.2
// zlib counts in uInt: larger inputs go in pieces of this size.
constexpr std::size_t max_piece = std::size_t{1} << 30;
constexpr int shared_mem_level = 8;

int clamp_bits(int bits) {
  return std::clamp(bits, 9, 15);
}

bool init_deflate(z_stream& z, int window_bits, int mem_level) {
  z = z_stream{};
  return deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_bits, mem_level,
                      Z_DEFAULT_STRATEGY) == Z_OK;
}

bool init_inflate(z_stream& z, int window_bits) {
  z = z_stream{};
  return inflateInit2(&z, -window_bits) == Z_OK;
}

// The loop thread's streams for directions without context takeover: reset after every
// message, so one of each serves every connection of the thread. A 15-bit inflate window reads
// any client; a deflate stream must not reach further back than the client allows, so there is
// one per window size in use.
struct SharedStreams {
  z_stream in{};
  bool in_ready = false;
  z_stream out[16]{};
  bool out_ready[16]{};
  // inflateGetDictionary's destination when a dedicated inflater carries its window across
  // the end of a BFINAL block: 32 KiB is always enough (zlib.h). Made when first needed.
  std::unique_ptr<unsigned char[]> window;

  SharedStreams() = default;
  SharedStreams(const SharedStreams&) = delete;
  SharedStreams& operator=(const SharedStreams&) = delete;
  ~SharedStreams() {
    if (in_ready) inflateEnd(&in);
    for (int b = 0; b < 16; ++b)
      if (out_ready[b]) deflateEnd(&out[b]);
  }
  z_stream* inflater() {
    if (!in_ready) in_ready = init_inflate(in, 15);
    return in_ready ? &in : nullptr;
  }
  z_stream* deflater(int bits) {
    if (!out_ready[bits]) out_ready[bits] = init_deflate(out[bits], bits, shared_mem_level);
    return out_ready[bits] ? &out[bits] : nullptr;
  }
};

SharedStreams& shared() {
  thread_local SharedStreams s;
  return s;
}

using Status = PerMessageDeflate::Status;

// Compresses `message` with a sync flush, appending to `out`. Bounded: every call is handed
// input or at least 256 bytes of room, and a call that takes or gives nothing stops the loop.
Status run_deflate(z_stream& z, std::string_view message, std::string& out) {
  out.reserve(out.size() + deflateBound(&z, static_cast<uLong>(message.size())) + 16);
  do {
    std::string_view piece = message.substr(0, max_piece);
    message.remove_prefix(piece.size());
    const int flush = message.empty() ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
    z.avail_in = static_cast<uInt>(piece.size());
    for (;;) {
      const std::size_t have = out.size();
      const std::size_t room =
          std::min<std::size_t>(std::max<std::size_t>(out.capacity() - have, 256), max_piece);
      out.resize(have + room);
      z.next_out = reinterpret_cast<Bytef*>(out.data() + have);
      z.avail_out = static_cast<uInt>(room);
      const uInt in_before = z.avail_in;
      const int rc = deflate(&z, flush);
      out.resize(have + room - z.avail_out);
      if (rc == Z_STREAM_ERROR) return Status::invalid;
      // With input gone and room left over, the flush is complete (zlib.h, deflate()).
      if (z.avail_in == 0 && z.avail_out != 0) break;
      if (z.avail_in == in_before && z.avail_out == room) return Status::invalid;
    }
  } while (!message.empty());
  return Status::ok;
}

} // namespace

std::optional<DeflateParams> negotiate_deflate(std::string_view header) {
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view offer = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    std::size_t semi = offer.find(';');
    if (trim_ows(offer.substr(0, semi)) != "permessage-deflate") continue;
    DeflateParams p;
    bool ok = true;
    std::string_view params = semi == std::string_view::npos ? "" : offer.substr(semi + 1);
    while (ok && !params.empty()) {
      std::size_t sc = params.find(';');
      std::string_view param = trim_ows(params.substr(0, sc));
      params = sc == std::string_view::npos ? std::string_view{} : params.substr(sc + 1);
      std::size_t eq = param.find('=');
      std::string_view name = trim_ows(param.substr(0, eq));
      std::string_view value = eq == std::string_view::npos ? "" : trim_ows(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
      auto bits = [&](int& out, int least) {
        auto n = parse_u64(value);
        if (!n || *n < static_cast<std::uint64_t>(least) || *n > 15) return false;
        out = static_cast<int>(*n);
        return true;
      };
      if (name == "server_no_context_takeover" && value.empty()) {
        p.server_no_context_takeover = true;
      } else if (name == "client_no_context_takeover" && value.empty()) {
        p.client_no_context_takeover = true;
      } else if (name == "server_max_window_bits") {
        // zlib cannot make raw DEFLATE within a 256-byte window: decline 8 (§7.1.2.1).
        ok = bits(p.server_max_window_bits, 9);
        p.server_max_window_bits_offered = true;
      } else if (name == "client_max_window_bits") {
        ok = value.empty() || bits(p.client_max_window_bits, 8);
        p.client_max_window_bits_offered = true;
      } else {
        ok = false; // an unknown parameter: decline this offer (§7.1)
      }
    }
    if (ok) return p;
  }
  return std::nullopt;
}

DeflateParams answer_deflate(const DeflateParams& offer, const DeflateOptions& o) {
  DeflateParams a = offer;
  if (!o.context_takeover) {
    // §7.1.1.1 and §7.1.1.2 let a server impose both, offered or not: no state between messages.
    a.server_no_context_takeover = true;
    a.client_no_context_takeover = true;
    return a;
  }
  // Dedicated windows no larger than the options say: ours silently (any client inflater reads
  // a smaller window), the client's only where its offer lets us name a size (§7.1.2.2).
  const int bits = clamp_bits(o.window_bits);
  a.server_max_window_bits = std::min(a.server_max_window_bits, bits);
  if (a.client_max_window_bits_offered)
    a.client_max_window_bits = std::min(a.client_max_window_bits, bits);
  return a;
}

std::string deflate_response(const DeflateParams& p) {
  std::string out = "permessage-deflate";
  if (p.server_no_context_takeover) out += "; server_no_context_takeover";
  if (p.client_no_context_takeover) out += "; client_no_context_takeover";
  // An offered server_max_window_bits is accepted by naming it (§7.1.2.1).
  if (p.server_max_window_bits_offered)
    out += "; server_max_window_bits=" + std::to_string(p.server_max_window_bits);
  if (p.client_max_window_bits_offered && p.client_max_window_bits < 15)
    out += "; client_max_window_bits=" + std::to_string(p.client_max_window_bits);
  return out;
}

struct PerMessageDeflate::Dedicated {
  z_stream z{};
  bool deflater = false;
  int bits = 15;
  std::size_t cost = 0;
  Dedicated() = default;
  Dedicated(const Dedicated&) = delete;
  Dedicated& operator=(const Dedicated&) = delete;
  ~Dedicated() {
    if (deflater)
      deflateEnd(&z);
    else
      inflateEnd(&z);
  }
};

std::size_t PerMessageDeflate::deflate_cost(int window_bits, int mem_level) noexcept {
  // zconf.h: (1 << (windowBits+2)) + (1 << (memLevel+9)), "plus a few kilobytes".
  return (std::size_t{1} << (window_bits + 2)) + (std::size_t{1} << (mem_level + 9)) + 6 * 1024;
}

std::size_t PerMessageDeflate::inflate_cost(int window_bits) noexcept {
  // zconf.h: 1 << windowBits, "plus about 7 kilobytes".
  return (std::size_t{1} << window_bits) + 7 * 1024;
}

PerMessageDeflate::PerMessageDeflate(const DeflateParams& p, const DeflateOptions& o, Charge charge)
    : p_(p), o_(o), charge_(std::move(charge)) {
  p_.server_max_window_bits = clamp_bits(p_.server_max_window_bits);
  p_.client_max_window_bits = std::clamp(p_.client_max_window_bits, 8, 15);
  o_.window_bits = clamp_bits(o_.window_bits);
  o_.mem_level = std::clamp(o_.mem_level, 1, 9);
}

PerMessageDeflate::~PerMessageDeflate() = default;

std::size_t PerMessageDeflate::memory() const noexcept {
  return (out_ ? out_->cost : 0) + (in_ ? in_->cost : 0);
}

PerMessageDeflate::Status PerMessageDeflate::compress(std::string_view message, std::string& out) {
  out.clear();
  z_stream* z = nullptr;
  const bool takeover = !p_.server_no_context_takeover;
  if (takeover) {
    if (!out_) {
      auto d = std::make_unique<Dedicated>();
      d->bits = std::min(p_.server_max_window_bits, o_.window_bits);
      d->cost = deflate_cost(d->bits, o_.mem_level);
      if (charge_ && !charge_(static_cast<std::ptrdiff_t>(d->cost))) {
        charge_(-static_cast<std::ptrdiff_t>(d->cost));
        return Status::over_budget;
      }
      if (!init_deflate(d->z, d->bits, o_.mem_level)) {
        if (charge_) charge_(-static_cast<std::ptrdiff_t>(d->cost));
        return Status::no_memory;
      }
      d->deflater = true;
      out_ = std::move(d);
    }
    z = &out_->z;
  } else if (!(z = shared().deflater(p_.server_max_window_bits))) {
    return Status::no_memory;
  }
  Status st = run_deflate(*z, message, out);
  if (!takeover || st != Status::ok) deflateReset(z);
  if (st != Status::ok) return st;
  if (std::string_view(out).ends_with(sync_tail))
    out.resize(out.size() - sync_tail.size()); // §7.2.1: the receiver appends it back
  return Status::ok;
}

PerMessageDeflate::Status PerMessageDeflate::decompress(std::string_view payload, std::size_t limit,
                                                        std::string& out) {
  out.clear();
  // No DEFLATE data at all can only mean an empty message (§7.2.3.6 sends one 00 octet; some
  // senders send nothing): nothing to inflate, and no window to touch.
  if (payload.empty()) return Status::ok;
  z_stream* z = nullptr;
  const bool takeover = !p_.client_no_context_takeover;
  if (takeover) {
    if (!in_) {
      auto d = std::make_unique<Dedicated>();
      // A client that says 8 may still reach 512 bytes back (zlib makes 9 of 8): a larger
      // window reads any smaller one.
      d->bits = std::max(p_.client_max_window_bits, 9);
      d->cost = inflate_cost(d->bits);
      if (charge_ && !charge_(static_cast<std::ptrdiff_t>(d->cost))) {
        charge_(-static_cast<std::ptrdiff_t>(d->cost));
        return Status::over_budget;
      }
      if (!init_inflate(d->z, d->bits)) {
        if (charge_) charge_(-static_cast<std::ptrdiff_t>(d->cost));
        return Status::no_memory;
      }
      in_ = std::move(d);
    }
    z = &in_->z;
  } else if (!(z = shared().inflater())) {
    return Status::no_memory;
  }

  // The payload, then the 00 00 ff ff the sender removed (§7.2.2), fed without copying.
  std::string_view rest = payload;
  bool on_tail = false;
  auto refill = [&] {
    if (!rest.empty()) {
      std::string_view piece = rest.substr(0, max_piece);
      rest.remove_prefix(piece.size());
      z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
      z->avail_in = static_cast<uInt>(piece.size());
    } else {
      z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(sync_tail.data()));
      z->avail_in = static_cast<uInt>(sync_tail.size());
      on_tail = true;
    }
  };
  refill();

  Status st = Status::ok;
  bool final_block = false;
  // The output grows by doubling from a guess, never past `limit`; at the limit one byte of
  // scratch room tells whether the message would have gone further.
  std::size_t step = std::clamp<std::size_t>(payload.size() * 4, 1024, 64 * 1024);
  for (;;) {
    if (z->avail_in == 0 && !on_tail) refill();
    const std::size_t have = out.size();
    const std::size_t room = std::min({step, limit - have, max_piece});
    char probe;
    if (room > 0) {
      if (have + room > out.capacity()) {
        // Doubling, but never past the limit: std::string's own growth might double past it.
        std::string grown;
        grown.reserve(std::min(limit, std::max(have + room, 2 * out.capacity())));
        grown.append(out);
        out.swap(grown);
      }
      out.resize(have + room);
      z->next_out = reinterpret_cast<Bytef*>(out.data() + have);
      z->avail_out = static_cast<uInt>(room);
    } else {
      z->next_out = reinterpret_cast<Bytef*>(&probe);
      z->avail_out = 1;
    }
    const uInt in_before = z->avail_in, out_before = z->avail_out;
    const int rc = inflate(z, Z_SYNC_FLUSH);
    const std::size_t made = out_before - z->avail_out;
    if (room > 0) {
      out.resize(have + made);
      step = std::max(step, out.size());
    } else if (made > 0) {
      st = Status::too_big;
      break;
    }
    if (rc == Z_STREAM_END) {
      // A final block (BFINAL, §7.2.3.4) ends the message. What may follow it: nothing but the
      // appended tail, or one octet of an empty non-final block header before it.
      const std::size_t left = on_tail ? 0 : z->avail_in + rest.size();
      const unsigned char next = left == 0 ? 0 : z->avail_in > 0 ? *z->next_in : rest.front();
      if (on_tail || left > 1 || next != 0) st = Status::invalid;
      final_block = true;
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      st = Status::invalid;
      break;
    }
    if (on_tail && z->avail_in == 0 && z->avail_out != 0) {
      // All of it taken and all output flushed: a whole message ends on a block boundary, so
      // inflate must be waiting for the next block's header (zlib.h, data_type bit 128).
      if (!(z->data_type & 128)) st = Status::invalid;
      break;
    }
    if (z->avail_in == in_before && made == 0) {
      st = Status::invalid; // no progress: never spin
      break;
    }
  }

  if (st != Status::ok || !takeover) {
    inflateReset(z);
  } else if (final_block) {
    // The stream ended, but with context takeover the next message may still refer to this
    // one's window (§7.2.2): carry it into the reset stream.
    SharedStreams& s = shared();
    if (!s.window) s.window = std::make_unique<unsigned char[]>(1 << 15);
    uInt len = 0;
    inflateGetDictionary(z, s.window.get(), &len);
    inflateReset(z);
    if (len > 0 && inflateSetDictionary(z, s.window.get(), len) != Z_OK) st = Status::invalid;
  }
  if (st != Status::ok) out.clear();
  return st;
}

} // namespace lithe::mw::ws
