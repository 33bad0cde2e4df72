// A vector that keeps its first N elements inline, so the usual handful of headers or
// hooks of a request costs no allocation. Only what lithe uses: append, erase, iterate.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <new>
#include <utility>

namespace lithe {

template <class T, std::size_t N> class SmallVector {
  static_assert(N > 0, "SmallVector needs an inline capacity");

public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  SmallVector() noexcept = default;
  SmallVector(std::initializer_list<T> init) {
    reserve(init.size());
    for (const T& v : init)
      push_back(v);
  }
  SmallVector(const SmallVector& o) {
    reserve(o.size_);
    for (const T& v : o)
      push_back(v);
  }
  SmallVector(SmallVector&& o) noexcept { take(std::move(o)); }
  SmallVector& operator=(const SmallVector& o) {
    if (this != &o) {
      clear();
      reserve(o.size_);
      for (const T& v : o)
        push_back(v);
    }
    return *this;
  }
  SmallVector& operator=(SmallVector&& o) noexcept {
    if (this != &o) {
      clear();
      release_heap();
      take(std::move(o));
    }
    return *this;
  }
  ~SmallVector() {
    clear();
    release_heap();
  }

  T* data() noexcept { return ptr_; }
  const T* data() const noexcept { return ptr_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return cap_; }
  bool empty() const noexcept { return size_ == 0; }
  T* begin() noexcept { return ptr_; }
  T* end() noexcept { return ptr_ + size_; }
  const T* begin() const noexcept { return ptr_; }
  const T* end() const noexcept { return ptr_ + size_; }
  T& operator[](std::size_t i) noexcept { return ptr_[i]; }
  const T& operator[](std::size_t i) const noexcept { return ptr_[i]; }
  T& front() noexcept { return ptr_[0]; }
  T& back() noexcept { return ptr_[size_ - 1]; }
  const T& back() const noexcept { return ptr_[size_ - 1]; }

  void reserve(std::size_t n) {
    if (n <= cap_) return;
    std::size_t cap = std::max(n, cap_ * 2);
    T* p = static_cast<T*>(::operator new(cap * sizeof(T), std::align_val_t(alignof(T))));
    for (std::size_t i = 0; i < size_; ++i) {
      ::new (p + i) T(std::move(ptr_[i]));
      ptr_[i].~T();
    }
    release_heap();
    ptr_ = p;
    cap_ = cap;
  }

  template <class... A> T& emplace_back(A&&... args) {
    if (size_ == cap_) reserve(cap_ * 2);
    T* p = ::new (ptr_ + size_) T(std::forward<A>(args)...);
    ++size_;
    return *p;
  }
  void push_back(const T& v) { emplace_back(v); }
  void push_back(T&& v) { emplace_back(std::move(v)); }
  void pop_back() noexcept { ptr_[--size_].~T(); }

  T* erase(T* pos) {
    std::move(pos + 1, end(), pos);
    pop_back();
    return pos;
  }
  template <class Pred> std::size_t erase_if(Pred pred) {
    T* out = std::remove_if(begin(), end(), pred);
    std::size_t n = static_cast<std::size_t>(end() - out);
    while (end() != out)
      pop_back();
    return n;
  }
  void clear() noexcept {
    while (size_)
      pop_back();
  }

private:
  T* inline_ptr() noexcept { return std::launder(reinterpret_cast<T*>(storage_)); }
  bool on_heap() const noexcept {
    return ptr_ != reinterpret_cast<const T*>(static_cast<const void*>(storage_));
  }
  void release_heap() noexcept {
    if (on_heap()) ::operator delete(ptr_, std::align_val_t(alignof(T)));
    ptr_ = inline_ptr();
    cap_ = N;
  }
  void take(SmallVector&& o) noexcept {
    if (o.on_heap()) {
      ptr_ = o.ptr_;
      cap_ = o.cap_;
      size_ = o.size_;
      o.ptr_ = o.inline_ptr();
      o.cap_ = N;
      o.size_ = 0;
      return;
    }
    for (std::size_t i = 0; i < o.size_; ++i)
      ::new (ptr_ + i) T(std::move(o.ptr_[i]));
    size_ = o.size_;
    o.clear();
  }

  alignas(T) unsigned char storage_[N * sizeof(T)];
  T* ptr_ = inline_ptr();
  std::size_t size_ = 0;
  std::size_t cap_ = N;
};

} // namespace lithe
