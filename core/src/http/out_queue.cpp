// OutQueue: one connection's unsent output (segment bookkeeping) and its flusher (writev, sendfile
// or bounded preads, one background write at a time).
#include "out_queue.hpp"

#include <algorithm>
#include <unistd.h>

namespace lithe::http {

namespace {
constexpr std::size_t max_buffer_segment = 64 * 1024;
}

OutQueue::Seg& OutQueue::push(Kind kind) {
  Seg& s = segs_.emplace_back();
  s.kind = kind;
  return s;
}

void OutQueue::recount(Seg& s) noexcept {
  std::size_t cap = s.kind == Kind::buffer || s.kind == Kind::owned ? s.data.capacity() : 0;
  memory_ = memory_ - s.counted + cap;
  s.counted = cap;
}

std::string& OutQueue::tail() {
  if (segs_.size() > static_cast<std::size_t>(in_flight_)) {
    Seg& last = segs_.back();
    if (last.kind == Kind::buffer && last.data.size() < max_buffer_segment) return last.data;
  }
  Seg& s = push(Kind::buffer);
  s.data = pool_->take();
  recount(s);
  return s.data;
}

void OutQueue::append_owned(std::string&& bytes) {
  if (bytes.size() <= copy_limit) {
    append(bytes);
    return;
  }
  size_ += bytes.size();
  Seg& s = push(Kind::owned);
  s.data = std::move(bytes);
  recount(s);
}

void OutQueue::append_borrowed(std::string_view bytes) {
  if (bytes.size() <= copy_limit) {
    append(bytes);
    return;
  }
  size_ += bytes.size();
  push(Kind::borrowed).view = bytes;
}

void OutQueue::append_file(int fd, std::uint64_t offset, std::uint64_t length, File owner) {
  if (length == 0) return;
  size_ += static_cast<std::size_t>(length);
  Seg& s = push(Kind::file);
  s.fd = fd;
  s.offset = offset;
  s.length = length;
  s.owner = std::move(owner);
}

void OutQueue::inline_front_file(std::string&& bytes) {
  Seg& f = segs_[0];
  f.offset += bytes.size();
  f.length -= bytes.size();
  Seg mem;
  mem.kind = Kind::owned;
  mem.data = std::move(bytes);
  if (f.length == 0) {
    mem.counted = f.counted;
    f = std::move(mem); // the file's owner, if any, closes it here
    recount(f);
    return;
  }
  // Insert the bytes before the rest of the file: rebuild the front.
  SmallVector<Seg, 3> rebuilt;
  rebuilt.push_back(std::move(mem));
  for (Seg& s : segs_)
    rebuilt.push_back(std::move(s));
  segs_ = std::move(rebuilt);
  recount(segs_[0]);
}

int OutQueue::gather(iovec* iov, int max, std::size_t limit, std::size_t& total) const noexcept {
  int n = 0;
  total = 0;
  for (const Seg& s : segs_) {
    if (n == max || s.kind == Kind::file || total == limit) break;
    std::string_view v = s.kind == Kind::borrowed ? s.view : std::string_view(s.data);
    if (v.size() == s.off) continue;
    std::size_t len = v.size() - s.off;
    if (len > limit - total) len = limit - total;
    iov[n].iov_base = const_cast<char*>(v.data() + s.off);
    iov[n].iov_len = len;
    total += len;
    ++n;
  }
  return n;
}

void OutQueue::consume(std::size_t n) {
  size_ -= n;
  while (n > 0 && !segs_.empty()) {
    Seg& s = segs_[0];
    if (s.kind == Kind::file) {
      std::uint64_t take = n < s.length ? n : s.length;
      s.offset += take;
      s.length -= take;
      n -= static_cast<std::size_t>(take);
      if (s.length == 0) pop_front();
      continue;
    }
    std::size_t left = s.left();
    if (n < left) {
      s.off += n;
      return;
    }
    n -= left;
    pop_front();
  }
  // Drop emptied segments left at the front (e.g. a fully written head before a file).
  while (!segs_.empty() && segs_[0].left() == 0)
    pop_front();
}

void OutQueue::pop_front() {
  Seg& s = segs_[0];
  memory_ -= s.counted;
  if (s.kind == Kind::buffer) pool_->give(std::move(s.data));
  segs_.erase(segs_.begin());
}

void OutQueue::clear() {
  while (!segs_.empty())
    pop_front();
  size_ = 0;
  memory_ = 0;
  in_flight_ = 0;
}

OutQueue::Flush OutQueue::flush(Transport& t, std::size_t max_write, std::size_t& written) {
  std::error_code ec;
  written = 0;
  while (!empty()) {
    if (front_is_file()) {
      FileSpan f = front_file();
      auto want = static_cast<std::size_t>(std::min<std::uint64_t>(f.length, max_write));
      if (t.can_sendfile()) {
        std::size_t n = t.try_sendfile(f.fd, f.offset, want, ec);
        if (ec) return Flush::peer_gone;
        if (n > 0) {
          consume(n);
          written += n;
          continue;
        }
        write_started(1);
        in_flight_bytes_ = want;
        t.sendfile(f.fd, f.offset, want);
        return Flush::waiting;
      }
      // No sendfile: one bounded read at a time, never the whole file.
      std::string chunk = pool_->take();
      chunk.resize(std::min<std::size_t>(want, 64 * 1024));
      ssize_t n = ::pread(f.fd, chunk.data(), chunk.size(), static_cast<off_t>(f.offset));
      if (n <= 0) return Flush::unreadable;
      chunk.resize(static_cast<std::size_t>(n));
      inline_front_file(std::move(chunk));
      continue;
    }
    iovec iov[64];
    std::size_t total = 0;
    int cnt = gather(iov, 64, SIZE_MAX, total);
    std::size_t n = t.try_write(iov, cnt, ec);
    if (ec) return Flush::peer_gone;
    consume(n);
    written += n;
    if (n < total) {
      // The socket is full: at most max_write goes in the background; new output queues
      // behind it.
      cnt = gather(iov, 64, max_write, total);
      write_started(cnt);
      in_flight_bytes_ = total;
      t.write(iov, cnt);
      return Flush::waiting;
    }
  }
  return Flush::done;
}

std::size_t OutQueue::background_done() noexcept {
  write_done();
  std::size_t n = std::exchange(in_flight_bytes_, 0);
  consume(n);
  return n;
}

} // namespace lithe::http
