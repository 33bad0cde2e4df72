// UringLoop: submit and wait in one io_uring_enter, dispatch completions, ticks, timers; posts
// wake it through an eventfd whose read is an SQE.
#include "uring_loop.hpp"

#include <lithe/log.hpp>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <system_error>
#include <unistd.h>

namespace lithe::backend {

namespace {

constexpr std::uint64_t wake_tag = 7; // no owner: the loop's own eventfd read
constexpr unsigned ring_entries = 512;
constexpr unsigned cq_entries = 4096;

} // namespace

UringLoop::UringLoop() {
  wakefd_ = ::eventfd(0, EFD_CLOEXEC);
  if (wakefd_ < 0) throw std::system_error(errno, std::system_category(), "eventfd");
}

UringLoop::~UringLoop() {
  shut_down();
  close_ring();
  ::close(wakefd_);
}

bool UringLoop::open(std::string& why) {
  io_uring_params p{};
  // Newest first: DEFER_TASKRUN (6.1) runs completions only inside our own io_uring_enter,
  // SINGLE_ISSUER (6.0) lets the kernel skip locking, COOP_TASKRUN (5.19) at least spares the
  // interrupting signals.
  const unsigned tries[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
      0,
  };
  int r = -EINVAL;
  for (unsigned extra : tries) {
    p = {};
    p.flags = extra | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = cq_entries;
    r = io_uring_queue_init_params(ring_entries, &ring_, &p);
    if (r != -EINVAL) break;
  }
  if (r < 0) {
    why = std::string("io_uring_setup: ") + std::strerror(-r);
    return false;
  }
  ring_open_ = true;
  // The provided buffers in one mapping: each group's ring of entries (a page each), then
  // each group's buffers.
  constexpr std::size_t ring_bytes = 4096;
  static_assert(buffer_count * sizeof(io_uring_buf) <= ring_bytes);
  map_bytes_ = 2 * ring_bytes;
  for (unsigned size : buffer_size)
    map_bytes_ += std::size_t(buffer_count) * size;
  map_ = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {
    why = std::string("mmap: ") + std::strerror(errno);
    map_ = nullptr;
    map_bytes_ = 0;
    return false;
  }
  char* at = static_cast<char*>(map_) + 2 * ring_bytes;
  for (unsigned short g : {small_group, large_group}) {
    Provided& pg = groups_[g];
    pg.ring = reinterpret_cast<io_uring_buf_ring*>(static_cast<char*>(map_) + g * ring_bytes);
    pg.bufs = at;
    at += std::size_t(buffer_count) * buffer_size[g];
    io_uring_buf_ring_init(pg.ring);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(pg.ring);
    reg.ring_entries = buffer_count;
    reg.bgid = g;
    r = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (r < 0) {
      why = std::string("io_uring_register_buf_ring: ") + std::strerror(-r);
      return false;
    }
    const int mask = io_uring_buf_ring_mask(buffer_count);
    for (unsigned i = 0; i < buffer_count; ++i)
      io_uring_buf_ring_add(pg.ring, pg.bufs + std::size_t(i) * buffer_size[g], buffer_size[g],
                            static_cast<unsigned short>(i), mask, static_cast<int>(i));
    io_uring_buf_ring_advance(pg.ring, buffer_count);
  }
  arm_wake();
  return true;
}

void UringLoop::close_ring() noexcept {
  if (ring_open_) {
    io_uring_queue_exit(&ring_); // cancels and waits for what is in flight
    ring_open_ = false;
  }
  if (map_) {
    ::munmap(map_, map_bytes_);
    map_ = nullptr;
    map_bytes_ = 0;
    groups_[small_group] = groups_[large_group] = {};
  }
}

io_uring_sqe* UringLoop::sqe() noexcept {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (!s) {
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

void UringLoop::cancel(std::uint64_t tag) noexcept {
  io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, tag, 0);
  io_uring_sqe_set_data64(s, 0);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void UringLoop::close_fd(int fd) noexcept {
  if (!ring_open_) {
    ::close(fd);
    return;
  }
  io_uring_sqe* s = sqe();
  io_uring_prep_close(s, fd);
  io_uring_sqe_set_data64(s, 0);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void UringLoop::give_back(Group g, unsigned id) noexcept {
  Provided& pg = groups_[g];
  io_uring_buf_ring_add(pg.ring, pg.bufs + std::size_t(id) * buffer_size[g], buffer_size[g],
                        static_cast<unsigned short>(id), io_uring_buf_ring_mask(buffer_count), 0);
  io_uring_buf_ring_advance(pg.ring, 1);
}

void UringLoop::wake() noexcept {
  std::uint64_t one = 1;
  ssize_t r = ::write(wakefd_, &one, sizeof one);
  (void)r; // a full counter still wakes the loop
}

void UringLoop::arm_wake() noexcept {
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, wakefd_, &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(s, wake_tag);
}

void UringLoop::reap() {
  // Copied out and the CQ advanced before dispatch: a handler may submit (a full SQ submits),
  // and what it completes is reaped in the next round.
  io_uring_cqe* cqes[256];
  struct Done {
    std::uint64_t tag;
    int res;
    unsigned flags;
  } done[256];
  for (int round = 0; round < 8; ++round) {
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, 256);
    for (unsigned i = 0; i < n; ++i)
      done[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
    io_uring_cq_advance(&ring_, n);
    for (unsigned i = 0; i < n; ++i) {
      const Done& d = done[i];
      if (d.tag == 0) continue; // a cancel or close that failed: nothing waits on it
      if (d.tag == wake_tag) {
        arm_wake();
        run_posts();
        continue;
      }
      dispatch_(reinterpret_cast<void*>(d.tag & ~std::uint64_t(7)),
                static_cast<unsigned>(d.tag & 7), d.res, d.flags);
    }
    if (n < 256) break;
  }
}

void UringLoop::submit() noexcept {
  if (ring_open_) io_uring_submit(&ring_);
}

void UringLoop::turn(bool block, const std::function<void()>& woke) {
  // One io_uring_enter: what this turn queued is submitted and the wait is for the first
  // completion or the nearest timer (the timeout rides in the same call: EXT_ARG).
  if (!block || !ticks_.empty()) {
    io_uring_submit_and_get_events(&ring_);
  } else if (timers_.empty()) {
    io_uring_submit_and_wait(&ring_, 1);
  } else {
    auto left = timers_.next_deadline() - std::chrono::steady_clock::now();
    if (left < std::chrono::steady_clock::duration::zero()) left = {};
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    __kernel_timespec ts{};
    ts.tv_sec = ns / 1'000'000'000;
    ts.tv_nsec = ns % 1'000'000'000;
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  now_ = std::chrono::steady_clock::now();
  woke();
  reap();
  run_ticks();
  timers_.run_due(now_);
  run_ticks();
}

void UringLoop::run(const std::function<void()>& woke, const std::function<bool()>& after) {
  own_thread();
  set_current(this);
  bool more = false;
  while (!exit_) {
    turn(!more, woke);
    more = after();
  }
  set_current(nullptr);
}

void UringLoop::drain(const std::function<bool()>& done, const std::function<bool()>& after,
                      Millis within) {
  if (!ring_open_) return;
  set_current(this);
  auto deadline = std::chrono::steady_clock::now() + within;
  bool more = after();
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    if (!more && timers_.empty()) {
      // Bounded: a short timeout instead of an open-ended wait.
      __kernel_timespec ts{0, 10'000'000};
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      now_ = std::chrono::steady_clock::now();
      reap();
      run_ticks();
    } else {
      turn(false, [] {});
    }
    more = after();
  }
  set_current(nullptr);
}

void UringLoop::shut_down() {
  std::vector<Task> posted = close_posts();
  // Destroyed, not run: their captures let go (an exchange returns to nothing, and frees).
  Loop* prev = Loop::current();
  set_current(this);
  posted.clear();
  ticks_.clear();
  timers_.clear();
  set_current(prev);
}

} // namespace lithe::backend
