// Response bodies (SPEC §4): bytes, a list of chunks, a file range, a deferrable body the app
// writes later (Thin's DeferrableBody), a streaming body (Rack 3's callable body) and a
// hijack (Rack's partial hijack: the socket's byte stream after the response head).
#pragma once

#include <lithe/close.hpp>
#include <lithe/detail/ref.hpp>
#include <lithe/function.hpp>
#include <lithe/loop.hpp>
#include <lithe/str.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace lithe {

namespace detail {
class BodyState;
class SocketState;
} // namespace detail

/// An open file descriptor, closed when the last owner lets go (move-only).
class File {
public:
  File() noexcept = default;
  explicit File(int fd) noexcept : fd_(fd) {}
  File(File&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  File& operator=(File&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~File() { reset(); }
  /// Opens `path` read-only; an error code names why not.
  static File open(const std::string& path, std::error_code& ec) noexcept;
  int fd() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset() noexcept;

private:
  int fd_ = -1;
};

/// `length` bytes of `file` from `offset`, sent with sendfile(2) where the transport allows.
struct FileRange {
  File file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

/// Ranges of one file with bytes before each, sent from the file (sendfile where the transport
/// allows, else bounded reads) and never read whole into memory: multipart/byteranges
/// (RFC 9110 §14.6) is built from it.
struct FileParts {
  File file;
  struct Part {
    std::string before; // sent before this range (a part's boundary and head)
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };
  std::vector<Part> parts;
  std::string after; // sent after the last range (the closing boundary)
};

/// The writable end of a body that is produced over time (SPEC §4.4-4.5). A handle: copies
/// share one body; every member may be called from any thread (off the loop it is posted
/// there) and stays safe after the body ended or the client left.
class DeferrableBody {
public:
  /// A new body, bound to the loop of the calling thread (create it on a loop thread:
  /// inside `call`, or in a loop callback).
  DeferrableBody();
  DeferrableBody(const DeferrableBody& o) noexcept;
  DeferrableBody(DeferrableBody&& o) noexcept;
  DeferrableBody& operator=(DeferrableBody o) noexcept;
  ~DeferrableBody();

  /// Queues bytes (copied into the connection's output). Returns false when the body is
  /// closed, or when the unsent bytes reached the high-water mark: wait for on_drain then.
  bool write(std::string_view bytes) const;
  /// Queues a std::string it takes over without copying (rvalues only).
  template <class S>
  requires std::is_same_v<S, std::string>
  bool write(S&& bytes) const { return write_owned(std::move(bytes)); }
  /// Ends the body (EventMachine::Deferrable#succeed): the last chunk goes out.
  void succeed() const;
  /// Abandons the body (#fail): the connection is closed so the client sees it incomplete.
  void fail() const;
  /// True while the unsent bytes are below the high-water mark and the body is open.
  bool writable() const noexcept;
  /// Unsent bytes of this connection.
  std::size_t buffered() const noexcept;
  /// True once the body ended (succeed, fail, client gone, server stop).
  bool closed() const noexcept;
  /// Called on the loop each time the unsent bytes fall below the mark after a write
  /// returned false. Held until the body closes.
  void on_drain(Task fn) const;
  /// Called once, on the loop, when the body ends for any reason (CloseReason::done after
  /// succeed and the last byte was written). Held until then.
  void on_close(Function<void(CloseReason)> fn) const;
  /// Adds a transform applied to every chunk before it is sent (`last` is true once, at the
  /// end, with an empty chunk, so a compressor can flush). Used by middleware (Deflater).
  void add_filter(Function<std::string(std::string_view chunk, bool last)> fn) const;

  detail::BodyState* state() const noexcept { return state_.get(); }

private:
  bool write_owned(std::string&& bytes) const;
  detail::Ref<detail::BodyState> state_;
};

/// A streaming body (Rack 3): `fn` is handed the writable body after the response head is
/// sent. Unless keep_open is set the body ends when fn returns (Sinatra's stream without
/// :keep_open); with keep_open it ends at succeed/fail or when the client leaves.
struct StreamBody {
  Function<void(DeferrableBody)> fn;
  bool keep_open = false;
};

/// The byte stream of a connection taken over after the response head (Rack's hijack,
/// SPEC §7). WebSocket is built on it. A handle, safe after close; loop thread only,
/// except close(), which may be called from any thread.
class Socket {
public:
  // Every special member is out of line, so code that holds a Socket never needs the state
  // type (middleware includes public headers only).
  Socket() noexcept;
  Socket(const Socket& o) noexcept;
  Socket(Socket&& o) noexcept;
  Socket& operator=(Socket o) noexcept;
  ~Socket();

  /// Queues bytes (copied). False when closed or over the high-water mark (wait for on_drain).
  bool write(std::string_view bytes) const;
  template <class S>
  requires std::is_same_v<S, std::string>
  bool write(S&& bytes) const { return write_owned(std::move(bytes)); }
  /// Bytes from the peer, in order, as they arrive (views valid during the call only).
  void on_data(Function<void(std::string_view)> fn) const;
  /// The unsent bytes fell below the mark after a write returned false.
  void on_drain(Task fn) const;
  /// Called once when the socket closes, with why.
  void on_close(Function<void(CloseReason)> fn) const;
  /// The server is stopping gracefully: finish up (WebSocket sends close 1001) and close
  /// before the deadline. Without this handler the socket is closed at once.
  void on_stop(Task fn) const;
  /// Stops and restarts delivering on_data (flow control towards the peer).
  void pause() const;
  void resume() const;
  /// Closes after the queued bytes are written.
  void close() const;
  /// Closes at once, dropping what is queued.
  void abort() const;
  std::size_t buffered() const noexcept;
  bool closed() const noexcept;
  /// The high-water mark of unsent bytes (the server's option).
  std::size_t high_water() const noexcept;
  /// Counts `bytes` the app keeps for this connection (a message being assembled,
  /// compression state) against the connection's memory budget
  /// (HttpOptions::max_connection_memory), or gives them back when negative. False when the
  /// connection is now over its budget: the app should close it (WebSocket closes 1009).
  bool charge(std::ptrdiff_t bytes) const;
  /// The connection's memory budget (0 once closed).
  std::size_t budget() const noexcept;
  Loop& loop() const noexcept;

  explicit Socket(detail::Ref<detail::SocketState> s) noexcept;
  detail::SocketState* state() const noexcept { return state_.get(); }

private:
  bool write_owned(std::string&& bytes) const;
  detail::Ref<detail::SocketState> state_;
};

/// A hijack body: after the head (usually 101 Switching Protocols) is written, `fn` gets the
/// connection's byte stream. Bytes the client sent after the request come first in on_data.
struct HijackBody {
  Function<void(Socket)> fn;
};

class Body {
public:
  using Chunks = std::vector<Str>;
  enum class Kind { empty, bytes, chunks, file, deferrable, stream, hijack, file_parts };

  Body() noexcept = default;
  template <class T>
  requires std::is_constructible_v<Str, T&&> Body(T&& bytes)
      : v_(std::in_place_type<Str>, std::forward<T>(bytes)) {} // NOLINT
  Body(Chunks chunks) : v_(std::move(chunks)) {}               // NOLINT
  Body(FileRange f) : v_(std::move(f)) {}                      // NOLINT
  Body(DeferrableBody d) : v_(std::move(d)) {}                 // NOLINT
  Body(StreamBody s) : v_(std::move(s)) {}                     // NOLINT
  Body(HijackBody h) : v_(std::move(h)) {}                     // NOLINT
  Body(FileParts p) : v_(std::move(p)) {}                      // NOLINT

  Kind kind() const noexcept { return static_cast<Kind>(v_.index()); }
  bool empty() const noexcept { return kind() == Kind::empty; }
  /// The byte count when it is known before sending (bytes, chunks, file, file parts); else
  /// nullopt.
  std::optional<std::uint64_t> size() const noexcept;

  template <class T> T* get_if() noexcept { return std::get_if<T>(&v_); }
  template <class T> const T* get_if() const noexcept { return std::get_if<T>(&v_); }

  /// Concatenates a bytes or chunks body (for tests and transforms); empty otherwise.
  std::string to_string() const;

private:
  std::variant<std::monostate, Str, Chunks, FileRange, DeferrableBody, StreamBody, HijackBody,
               FileParts>
      v_;
};

/// Convenience constructors.
inline Body stream(Function<void(DeferrableBody)> fn, bool keep_open = false) {
  return Body(StreamBody{std::move(fn), keep_open});
}
inline Body hijack(Function<void(Socket)> fn) {
  return Body(HijackBody{std::move(fn)});
}

} // namespace lithe
