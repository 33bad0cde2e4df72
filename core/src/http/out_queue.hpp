// The unsent output of one connection: segments in order. Small writes (heads, chunk
// framing, small bodies) are copied into pooled buffers so a burst of pipelined responses
// leaves in one writev; large bodies, literals and file ranges stay where they are. It knows
// the memory it holds (the connection's budget counts it) and which segments a background
// write still points into, so appends never touch those.
#pragma once

#include "timeouts.hpp"

#include <lithe/body.hpp>
#include <lithe/small_vector.hpp>
#include <lithe/transport.hpp>

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

  /// The buffer to append small bytes to: a pooled one at the tail that no write in flight
  /// points into. Call appended() after appending to it directly.
  std::string& tail();
  void appended(std::size_t n) noexcept {
    size_ += n;
    Seg& t = segs_.back();
    if (t.data.capacity() != t.counted) recount(t); // the tail buffer grew: count it
  }
  void append(std::string_view bytes) {
    if (bytes.empty()) return;
    tail().append(bytes);
    appended(bytes.size());
  }
  void append_owned(std::string&& bytes);
  void append_borrowed(std::string_view bytes);
  /// `length` bytes of the file `fd` from `offset`. `owner` (if set) closes it once this
  /// segment is sent or dropped: give it to the last segment of that file.
  void append_file(int fd, std::uint64_t offset, std::uint64_t length, File owner = File());

  /// Unsent bytes, files included.
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// Memory held: the capacity of buffers and owned strings (files and borrowed bytes hold
  /// none of the connection's).
  std::size_t memory() const noexcept { return memory_; }

  /// The front is a file segment: its fd, offset and remaining length.
  bool front_is_file() const noexcept { return !segs_.empty() && segs_[0].kind == Kind::file; }
  struct FileSpan {
    int fd;
    std::uint64_t offset, length;
  };
  FileSpan front_file() const noexcept { return {segs_[0].fd, segs_[0].offset, segs_[0].length}; }
  /// Replaces the front file segment's next bytes by `bytes` read from it (for transports
  /// without sendfile).
  void inline_front_file(std::string&& bytes);
  /// iovecs for the memory segments at the front, up to a file segment, `max` entries or
  /// `limit` bytes; `total` gets their sum.
  int gather(iovec* iov, int max, std::size_t limit, std::size_t& total) const noexcept;
  /// A background write now points into the first `segments` segments (those gather()
  /// returned, or one file segment): appends go behind them until write_done().
  void write_started(int segments) noexcept { in_flight_ = segments; }
  void write_done() noexcept { in_flight_ = 0; }
  /// Drops `n` written bytes from the front.
  void consume(std::size_t n);
  void clear();

  /// The flusher: writes what `t` takes now, memory with writev and files with sendfile (or
  /// bounded preads where the transport has none), and when the socket is full starts one
  /// background write of at most `max_write` bytes. `written` gets the bytes written now.
  enum class Flush : std::uint8_t {
    done,      // all written
    waiting,   // a background write of `in_flight()` bytes started: on_write_done follows
    peer_gone, // the transport failed (reset, broken pipe)
    unreadable // a file could not be read to its end
  };
  Flush flush(Transport& t, std::size_t max_write, std::size_t& written);
  /// The background write finished: its bytes leave the queue.
  std::size_t background_done() noexcept;
  std::size_t in_flight() const noexcept { return in_flight_bytes_; }

  /// Armed while a background write is in flight (the context's send list).
  SendTimeout send_timer;

private:
  enum class Kind : std::uint8_t { buffer, owned, borrowed, file };
  struct Seg {
    Kind kind = Kind::buffer;
    std::string data;      // buffer (pooled) or owned
    std::string_view view; // borrowed
    File owner;            // file: closes the descriptor when the segment goes
    int fd = -1;
    std::uint64_t offset = 0, length = 0; // file: what is left to send
    std::size_t off = 0;                  // bytes of data/view already written
    std::size_t counted = 0;              // capacity counted in memory_
    std::size_t left() const noexcept {
      return kind == Kind::file ? static_cast<std::size_t>(length)
                                : (kind == Kind::borrowed ? view.size() : data.size()) - off;
    }
  };
  Seg& push(Kind kind);
  void recount(Seg& s) noexcept;
  void pop_front();

  BufferPool* pool_;
  SmallVector<Seg, 3> segs_;
  std::size_t size_ = 0;
  std::size_t memory_ = 0;
  int in_flight_ = 0; // segments at the front a background write points into
  std::size_t in_flight_bytes_ = 0;
};

} // namespace lithe::http
