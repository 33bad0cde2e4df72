// EpollLoop: wait, dispatch, ticks, timers; posts wake it through an eventfd.
#include "epoll_loop.hpp"

#include <lithe/log.hpp>

#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace lithe::backend {

EpollLoop::EpollLoop() {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) throw std::system_error(errno, std::system_category(), "epoll");
  add(wakefd_, EPOLLIN, &waker_);
}

EpollLoop::~EpollLoop() {
  shut_down();
  ::close(wakefd_);
  ::close(epfd_);
}

void EpollLoop::wake() noexcept {
  std::uint64_t one = 1;
  ssize_t r = ::write(wakefd_, &one, sizeof one);
  (void)r; // a full counter still wakes the loop
}

bool EpollLoop::add(int fd, std::uint32_t events, Watcher* w) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = w;
  return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EpollLoop::modify(int fd, std::uint32_t events, Watcher* w) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = w;
  return ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EpollLoop::remove(int fd) noexcept {
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

int EpollLoop::wait_timeout_ms() const noexcept {
  if (!ticks_.empty()) return 0;
  if (timers_.empty()) return -1;
  auto left = timers_.next_deadline() - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  // Round up, so a timer never fires early.
  auto ms = std::chrono::duration_cast<Millis>(left + std::chrono::microseconds(999)).count();
  return ms > 60'000 ? 60'000 : static_cast<int>(ms);
}

void EpollLoop::drain_posts() {
  std::uint64_t n;
  ssize_t r = ::read(wakefd_, &n, sizeof n);
  (void)r;
  run_posts();
}

void EpollLoop::attach_thread() noexcept {
  own_thread();
  set_current(this);
}

void EpollLoop::run(const std::function<void()>& woke, const std::function<bool()>& after) {
  attach_thread();
  epoll_event events[256];
  bool more = false;
  while (!exit_) {
    int timeout = more ? 0 : wait_timeout_ms();
    int n = ::epoll_wait(epfd_, events, 256, timeout);
    now_ = std::chrono::steady_clock::now();
    woke();
    if (n < 0 && errno != EINTR) {
      log_error(std::string("epoll_wait failed: ") + std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i)
      static_cast<Watcher*>(events[i].data.ptr)->on_events(events[i].events);
    run_ticks();
    timers_.run_due(now_);
    run_ticks();
    more = after();
  }
  set_current(nullptr);
}

void EpollLoop::shut_down() {
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
