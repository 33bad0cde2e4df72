// Intrusive reference counting for the few engine objects an app may hold past `call`
// (the exchange behind an async callback, a body stream, a hijacked socket). Atomic,
// because an app may hold and drop its handles on any thread.
#pragma once

#include <atomic>
#include <utility>

namespace lithe::detail {

class RefCounted {
public:
  void add_ref() const noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  /// Returns true when this was the last reference.
  bool drop_ref() const noexcept { return refs_.fetch_sub(1, std::memory_order_acq_rel) == 1; }
  int ref_count() const noexcept { return refs_.load(std::memory_order_relaxed); }

protected:
  RefCounted() = default;
  ~RefCounted() = default;

private:
  mutable std::atomic<int> refs_{0};
};

/// An owning pointer to a RefCounted T; T::release(T*) decides what the last drop does.
template <class T> class Ref {
public:
  Ref() noexcept = default;
  explicit Ref(T* p) noexcept : p_(p) {
    if (p_) p_->add_ref();
  }
  Ref(const Ref& o) noexcept : Ref(o.p_) {}
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Ref& operator=(Ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~Ref() { reset(); }
  void reset() noexcept {
    if (T* p = std::exchange(p_, nullptr); p && p->drop_ref()) T::last_ref_dropped(p);
  }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

private:
  T* p_ = nullptr;
};

} // namespace lithe::detail
