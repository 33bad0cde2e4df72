// The state behind a streamed request body (lithe/input.hpp, SPEC 2.12), between the engine
// that pushes bytes in as they are parsed and the app that reads them. Owned by the request's
// exchange; loop thread only.
#pragma once

#include <lithe/detail/ref.hpp>
#include <lithe/input.hpp>

#include <coroutine>
#include <optional>
#include <string>

namespace lithe::detail {

class Exchange;

/// The engine's side of a streamed body.
class InputSource {
public:
  /// The app started reading: time to send 100 Continue if the client waits for it.
  virtual void input_started() = 0;
  /// The app's unread bytes fell below the high-water mark: reading may go on.
  virtual void input_drained() = 0;
  virtual std::size_t input_high_water() const noexcept = 0;

protected:
  ~InputSource() = default;
};

class InputStream {
public:
  InputStream(Exchange& ex, InputSource* source, std::optional<std::uint64_t> length,
              std::uint64_t limit, bool streamed) noexcept;

  // Engine side.
  /// Body bytes, as parsed. False once the body is over its limit (it then ended).
  bool push(std::string_view bytes);
  /// The body's end: whole (none) or not.
  void finish(InputError e);
  /// The request ended (Exchange::finish): an app that has not heard the body's end hears
  /// `e` now, and every callback is dropped.
  void close(InputError e);
  /// Unread bytes held for the app (the engine pauses reading at the high-water mark).
  std::size_t buffered() const noexcept { return buf_.size(); }
  bool full() const noexcept;
  /// Memory held (the connection's budget counts it).
  std::size_t memory() const noexcept { return buf_.capacity() + handed_.capacity(); }
  bool started() const noexcept { return started_; }

  // App side (through Input).
  bool streamed() const noexcept { return streamed_; }
  std::optional<std::uint64_t> length() const noexcept { return length_; }
  std::uint64_t received() const noexcept { return received_; }
  bool ended() const noexcept { return ended_; }
  InputError error() const noexcept { return error_; }
  void set_limit(std::uint64_t bytes) noexcept;
  std::uint64_t limit() const noexcept { return limit_; }
  void on_data(Function<void(std::string_view)> fn);
  void on_end(Task fn);
  void on_error(Function<void(InputError)> fn);
  void pause();
  void resume();
  void read(Function<void(InputChunk)> fn);
  /// For the coroutine form: the next piece now if there is one, else false (and `h` is
  /// resumed when there is, with the piece in `*slot`).
  bool take_now(InputChunk& out);
  void wait(std::coroutine_handle<> h, InputChunk* slot);
  void cancel_wait() noexcept { waiter_ = {}; }

private:
  void start_reading();
  void schedule();
  void deliver();
  InputChunk take();

  Exchange* ex_;
  InputSource* source_;
  std::optional<std::uint64_t> length_;
  std::uint64_t limit_;
  std::uint64_t received_ = 0;
  std::string buf_;    // arrived, not yet handed to the app
  std::string handed_; // the piece handed by the last read() (its view lives here)
  Function<void(std::string_view)> on_data_;
  Task on_end_;
  Function<void(InputError)> on_error_;
  Function<void(InputChunk)> reader_;
  std::coroutine_handle<> waiter_;
  InputChunk* slot_ = nullptr;
  InputError error_ = InputError::none;
  bool streamed_;
  bool ended_ = false;
  bool end_told_ = false;
  bool paused_ = false;
  bool started_ = false;
  bool scheduled_ = false;
  bool delivering_ = false;
};

} // namespace lithe::detail
