// One intrusive doubly linked list for core, the backends and ManualLoop (the idea of libuv's
// src/queue.h: the links live in the element, the list is a circular ring through a sentinel,
// so linking and unlinking allocate nothing and unlinking needs no list at hand).
#pragma once

#include <cstddef>
#include <iterator>

namespace lithe::detail {

template <class T, class Tag = void> class IntrusiveList;

/// The links that put an object on one IntrusiveList. An object derives from it publicly, once
/// per list it can be on at the same time (a distinct Tag each). Two pointers; null when the
/// object is on no list. Destroying a linked object unlinks it.
template <class Tag = void> class ListHook {
public:
  ListHook() noexcept = default;
  ListHook(const ListHook&) noexcept {} // a copy is on no list
  ListHook& operator=(const ListHook&) noexcept { return *this; }
  ~ListHook() { unlink(); }

  bool linked() const noexcept { return next_ != nullptr; }
  /// Takes the object off its list, whichever that is; harmless when on none.
  void unlink() noexcept {
    if (!next_) return;
    prev_->next_ = next_;
    next_->prev_ = prev_;
    prev_ = next_ = nullptr;
  }

private:
  template <class, class> friend class IntrusiveList;
  ListHook* prev_ = nullptr;
  ListHook* next_ = nullptr;
};

/// A list of T that does not own its elements: T derives from ListHook<Tag>, and whoever owns
/// an element unlinks it (or destroys it) before it goes. Not copyable or movable (the ring
/// points at the list's own sentinel). Iterators stay valid while other elements are unlinked;
/// to remove elements while walking, take them with pop_front().
template <class T, class Tag> class IntrusiveList {
  using Hook = ListHook<Tag>;

public:
  IntrusiveList() noexcept { head_.prev_ = head_.next_ = &head_; }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;
  ~IntrusiveList() { clear(); }

  bool empty() const noexcept { return head_.next_ == &head_; }
  /// Walks the list: O(n). Keep a count beside the list where it is needed often.
  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const Hook* h = head_.next_; h != &head_; h = h->next_)
      ++n;
    return n;
  }

  T& front() noexcept { return as_t(head_.next_); }
  T& back() noexcept { return as_t(head_.prev_); }

  /// Appends `t`, taking it off the list it was on, if any.
  void push_back(T& t) noexcept { link_before(head_, t); }
  /// Prepends `t`, taking it off the list it was on, if any.
  void push_front(T& t) noexcept { link_before(*head_.next_, t); }
  /// Unlinks and returns the first element, or nullptr when empty.
  T* pop_front() noexcept {
    if (empty()) return nullptr;
    T& t = front();
    static_cast<Hook&>(t).unlink();
    return &t;
  }
  /// Unlinks `t`, which must be on this list (or on none).
  static void remove(T& t) noexcept { static_cast<Hook&>(t).unlink(); }
  /// Moves every element of `other` to the end of this list, in order; `other` ends empty.
  void splice_back(IntrusiveList& other) noexcept {
    if (other.empty() || &other == this) return;
    Hook* first = other.head_.next_;
    Hook* last = other.head_.prev_;
    other.head_.prev_ = other.head_.next_ = &other.head_;
    first->prev_ = head_.prev_;
    last->next_ = &head_;
    head_.prev_->next_ = first;
    head_.prev_ = last;
  }
  /// Unlinks every element (they are not destroyed).
  void clear() noexcept {
    while (!empty())
      head_.next_->unlink();
  }

  template <class V, class H> class Iter {
  public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = V*;
    using reference = V&;

    Iter() noexcept = default;
    explicit Iter(H* h) noexcept : h_(h) {}
    V& operator*() const noexcept { return static_cast<V&>(*h_); }
    V* operator->() const noexcept { return &**this; }
    Iter& operator++() noexcept {
      h_ = h_->next_;
      return *this;
    }
    Iter operator++(int) noexcept {
      Iter old = *this;
      ++*this;
      return old;
    }
    Iter& operator--() noexcept {
      h_ = h_->prev_;
      return *this;
    }
    Iter operator--(int) noexcept {
      Iter old = *this;
      --*this;
      return old;
    }
    bool operator==(const Iter& o) const noexcept { return h_ == o.h_; }

  private:
    H* h_ = nullptr;
  };
  using iterator = Iter<T, Hook>;
  using const_iterator = Iter<const T, const Hook>;

  iterator begin() noexcept { return iterator(head_.next_); }
  iterator end() noexcept { return iterator(&head_); }
  const_iterator begin() const noexcept { return const_iterator(head_.next_); }
  const_iterator end() const noexcept { return const_iterator(&head_); }

private:
  static T& as_t(Hook* h) noexcept { return static_cast<T&>(*h); }
  static void link_before(Hook& at, T& t) noexcept {
    Hook& n = t;
    if (&n == &at) return; // already in place
    n.unlink();
    n.prev_ = at.prev_;
    n.next_ = &at;
    at.prev_->next_ = &n;
    at.prev_ = &n;
  }

  Hook head_;
};

} // namespace lithe::detail
