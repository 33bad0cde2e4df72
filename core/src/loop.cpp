// Loop's shared half: the current loop of a thread, the reference-counted post queue behind
// post() and LoopHandle, and defer() onto the server's thread pool (SPEC 5.5-5.8).
#include <lithe/detail/post_queue.hpp>
#include <lithe/log.hpp>
#include <lithe/loop.hpp>
#include <lithe/thread_pool.hpp>

#include <exception>
#include <string>

namespace lithe {

namespace {
thread_local Loop* current_loop = nullptr;
} // namespace

Loop* Loop::current() noexcept {
  return current_loop;
}

void Loop::set_current(Loop* loop) noexcept {
  current_loop = loop;
}

LoopHandle::LoopHandle() noexcept = default;
LoopHandle::LoopHandle(detail::PostQueue* q) noexcept : q_(q) {}
LoopHandle::LoopHandle(const LoopHandle& o) noexcept = default;
LoopHandle::LoopHandle(LoopHandle&& o) noexcept = default;
LoopHandle& LoopHandle::operator=(LoopHandle o) noexcept {
  q_ = std::move(o.q_);
  return *this;
}
LoopHandle::~LoopHandle() = default;

bool LoopHandle::post(Task fn) const {
  return q_ && q_->push(std::move(fn));
}

bool LoopHandle::in_loop_thread() const noexcept {
  return q_ && q_->on_owner_thread();
}

Loop::Loop()
    : queue_(new detail::PostQueue([](void* self) noexcept { static_cast<Loop*>(self)->wake(); },
                                   this)) {
  handle_ = LoopHandle(queue_);
  queue_->set_owner(std::this_thread::get_id());
}

Loop::~Loop() {
  close_posts(); // normally done already by the derived loop, before wake() lost its means
}

void Loop::own_thread() noexcept {
  queue_->set_owner(std::this_thread::get_id());
}

void Loop::take_posts(std::vector<Task>& out) {
  queue_->take(out);
}

std::vector<Task> Loop::close_posts() {
  std::vector<Task> rest;
  queue_->close(rest);
  return rest;
}

bool Loop::wait_for_post(std::chrono::steady_clock::time_point deadline) {
  return queue_->wait(deadline);
}

bool Loop::defer(Task work, Task done) {
  if (!pool_) {
    work.reset();
    done.reset();
    return false;
  }
  return pool_->submit([work = std::move(work), done = std::move(done), loop = handle_]() mutable {
    try {
      work();
    } catch (const std::exception& e) {
      log_error(std::string("deferred work threw: ") + e.what());
    } catch (...) {
      log_error("deferred work threw (not a std::exception)");
    }
    work.reset();
    loop.post(std::move(done)); // a loop that has ended destroys `done` here instead
  });
}

} // namespace lithe
