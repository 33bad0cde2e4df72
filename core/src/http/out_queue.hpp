// The unsent output of one connection: segments in order. Small writes (heads, chunk
// framing, small bodies) are copied into pooled buffers so a burst of pipelined responses
// leaves in one writev; large bodies, literals and files stay where they are.
#pragma once

#include <lithe/body.hpp>
#include <lithe/small_vector.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <sys/uio.h>
#include <vector>

namespace lithe::http {

/// Pooled buffers of one worker (so the steady state allocates nothing).
class BufferPool {
public:
  static constexpr std::size_t buffer_capacity = 16 * 1024;
  static constexpr std::size_t max_pooled = 1024;

  std::string take() {
    if (free_.empty()) {
      std::string s;
      s.reserve(buffer_capacity);
      return s;
    }
    std::string s = std::move(free_.back());
    free_.pop_back();
    return s;
  }
  void give(std::string&& s) {
    if (s.capacity() < buffer_capacity || s.capacity() > 4 * buffer_capacity ||
        free_.size() >= max_pooled)
      return; // let it go
    s.clear();
    free_.push_back(std::move(s));
  }

private:
  std::vector<std::string> free_;
};

class OutQueue {
public:
  /// Bytes at most copied into a pooled buffer; larger ones get a segment of their own.
  static constexpr std::size_t copy_limit = 4096;

  explicit OutQueue(BufferPool& pool) noexcept : pool_(&pool) {}
  OutQueue(const OutQueue&) = delete;
  OutQueue& operator=(const OutQueue&) = delete;
  ~OutQueue() { clear(); }

  /// The buffer to append small bytes to (a pooled one at the tail, not in flight).
  std::string& tail();
  void append(std::string_view bytes) {
    if (bytes.empty()) return;
    tail().append(bytes);
    size_ += bytes.size();
  }
  /// Call after appending `n` bytes directly to tail().
  void appended(std::size_t n) noexcept { size_ += n; }
  void append_owned(std::string&& bytes);
  void append_borrowed(std::string_view bytes);
  void append_file(FileRange&& file);

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  /// The front is a file segment: its fd, offset and remaining length.
  bool front_is_file() const noexcept { return !segs_.empty() && segs_[0].kind == Kind::file; }
  const FileRange& front_file() const noexcept { return segs_[0].file; }
  /// Replaces the front file segment's next `n` bytes by `bytes` read from it (for
  /// transports without sendfile).
  void inline_front_file(std::string&& bytes);
  /// iovecs for the memory segments at the front, up to a file segment or `max`.
  int gather(iovec* iov, int max) const noexcept;
  /// Drops `n` written bytes from the front.
  void consume(std::size_t n);
  /// While a background write holds pointers into the queue, appends go to a new segment.
  void set_in_flight(bool on) noexcept { in_flight_ = on; }
  void clear();

private:
  enum class Kind : std::uint8_t { buffer, owned, borrowed, file };
  struct Seg {
    Kind kind = Kind::buffer;
    std::string data;      // buffer (pooled) or owned
    std::string_view view; // borrowed
    FileRange file;        // its offset and length advance as it is sent
    std::size_t off = 0;   // bytes of data/view already written
  };
  void pop_front();

  BufferPool* pool_;
  SmallVector<Seg, 3> segs_;
  std::size_t size_ = 0;
  bool in_flight_ = false;
};

} // namespace lithe::http
