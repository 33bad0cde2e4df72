// OutQueue: segment bookkeeping for one connection's unsent output.
#include "out_queue.hpp"

namespace lithe::http {

namespace {
constexpr std::size_t max_buffer_segment = 64 * 1024;
}

std::string& OutQueue::tail() {
  if (!segs_.empty() && !in_flight_) {
    Seg& last = segs_.back();
    if (last.kind == Kind::buffer && last.data.size() < max_buffer_segment) return last.data;
  }
  Seg& s = segs_.emplace_back();
  s.kind = Kind::buffer;
  s.data = pool_->take();
  return s.data;
}

void OutQueue::append_owned(std::string&& bytes) {
  if (bytes.size() <= copy_limit) {
    append(bytes);
    return;
  }
  size_ += bytes.size();
  Seg& s = segs_.emplace_back();
  s.kind = Kind::owned;
  s.data = std::move(bytes);
}

void OutQueue::append_borrowed(std::string_view bytes) {
  if (bytes.size() <= copy_limit) {
    append(bytes);
    return;
  }
  size_ += bytes.size();
  Seg& s = segs_.emplace_back();
  s.kind = Kind::borrowed;
  s.view = bytes;
}

void OutQueue::append_file(FileRange&& file) {
  if (file.length == 0) return;
  size_ += file.length;
  Seg& s = segs_.emplace_back();
  s.kind = Kind::file;
  s.file = std::move(file);
}

void OutQueue::inline_front_file(std::string&& bytes) {
  Seg& f = segs_[0];
  f.file.offset += bytes.size();
  f.file.length -= bytes.size();
  Seg mem;
  mem.kind = Kind::owned;
  mem.data = std::move(bytes);
  if (f.file.length == 0) {
    f = std::move(mem);
    return;
  }
  // Insert the bytes before the rest of the file: rebuild the front.
  SmallVector<Seg, 3> rebuilt;
  rebuilt.push_back(std::move(mem));
  for (Seg& s : segs_)
    rebuilt.push_back(std::move(s));
  segs_ = std::move(rebuilt);
}

int OutQueue::gather(iovec* iov, int max) const noexcept {
  int n = 0;
  for (const Seg& s : segs_) {
    if (n == max || s.kind == Kind::file) break;
    std::string_view v = s.kind == Kind::borrowed ? s.view : std::string_view(s.data);
    if (v.size() == s.off) continue;
    iov[n].iov_base = const_cast<char*>(v.data() + s.off);
    iov[n].iov_len = v.size() - s.off;
    ++n;
  }
  return n;
}

void OutQueue::consume(std::size_t n) {
  size_ -= n;
  while (n > 0 && !segs_.empty()) {
    Seg& s = segs_[0];
    std::size_t left;
    if (s.kind == Kind::file) {
      left = s.file.length;
      std::size_t take = n < left ? n : left;
      s.file.offset += take;
      s.file.length -= take;
      n -= take;
      if (s.file.length == 0) pop_front();
      continue;
    }
    left = (s.kind == Kind::borrowed ? s.view.size() : s.data.size()) - s.off;
    if (n < left) {
      s.off += n;
      return;
    }
    n -= left;
    pop_front();
  }
  // Drop emptied buffers left at the front (e.g. a fully written head before a file).
  while (!segs_.empty() && segs_[0].kind != Kind::file &&
         (segs_[0].kind == Kind::borrowed ? segs_[0].view.size() : segs_[0].data.size()) ==
             segs_[0].off)
    pop_front();
}

void OutQueue::pop_front() {
  if (segs_[0].kind == Kind::buffer) pool_->give(std::move(segs_[0].data));
  segs_.erase(segs_.begin());
}

void OutQueue::clear() {
  while (!segs_.empty())
    pop_front();
  size_ = 0;
  in_flight_ = false;
}

} // namespace lithe::http
