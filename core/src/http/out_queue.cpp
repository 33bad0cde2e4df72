// OutQueue: segment bookkeeping for one connection's unsent output.
#include "out_queue.hpp"

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

} // namespace lithe::http
