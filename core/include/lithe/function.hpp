// A move-only callable (C++23's std::move_only_function, which C++20 lacks) with a small
// inline buffer, so the loop's tasks and the engine's hooks cost no allocation when their
// captures are small. Callbacks that hold a Response or a unique handle need move-only.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace lithe {

template <class Signature> class Function;

template <class R, class... Args> class Function<R(Args...)> {
  static constexpr std::size_t inline_size = 4 * sizeof(void*);

  struct Ops {
    R (*call)(void* self, Args&&... args);
    void (*move)(void* from, void* to) noexcept; // move-construct into `to`, destroy `from`
    void (*destroy)(void* self) noexcept;
  };

  template <class F>
  static constexpr bool fits_inline =
      sizeof(F) <= inline_size &&
      alignof(F) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<F>;

  template <class F> static F* as(void* p) noexcept {
    if constexpr (fits_inline<F>)
      return std::launder(reinterpret_cast<F*>(p));
    else
      return *static_cast<F**>(p);
  }

  template <class F>
  static constexpr Ops ops_for{
      [](void* self, Args&&... args) -> R { return (*as<F>(self))(std::forward<Args>(args)...); },
      [](void* from, void* to) noexcept {
        if constexpr (fits_inline<F>) {
          ::new (to) F(std::move(*as<F>(from)));
          as<F>(from)->~F();
        } else {
          *static_cast<F**>(to) = *static_cast<F**>(from);
        }
      },
      [](void* self) noexcept {
        if constexpr (fits_inline<F>)
          as<F>(self)->~F();
        else
          delete as<F>(self);
      }};

public:
  Function() noexcept = default;
  Function(std::nullptr_t) noexcept {}

  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, Function> &&
           std::is_invocable_r_v<R, std::decay_t<F>&, Args...>)
      Function(F&& f) { // NOLINT: implicit like std::function
    using D = std::decay_t<F>;
    if constexpr (std::is_pointer_v<D> || std::is_member_pointer_v<D>) {
      if (f == nullptr) return;
    }
    if constexpr (fits_inline<D>)
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
    else
      *reinterpret_cast<D**>(buf_) = new D(std::forward<F>(f));
    ops_ = &ops_for<D>;
  }

  Function(Function&& o) noexcept : ops_(o.ops_) {
    if (ops_) ops_->move(o.buf_, buf_);
    o.ops_ = nullptr;
  }
  Function& operator=(Function&& o) noexcept {
    if (this != &o) {
      reset();
      ops_ = o.ops_;
      if (ops_) ops_->move(o.buf_, buf_);
      o.ops_ = nullptr;
    }
    return *this;
  }
  Function(const Function&) = delete;
  Function& operator=(const Function&) = delete;
  ~Function() { reset(); }

  void reset() noexcept {
    if (ops_) ops_->destroy(buf_);
    ops_ = nullptr;
  }
  explicit operator bool() const noexcept { return ops_ != nullptr; }
  R operator()(Args... args) { return ops_->call(buf_, std::forward<Args>(args)...); }

private:
  alignas(std::max_align_t) unsigned char buf_[inline_size];
  const Ops* ops_ = nullptr;
};

/// A task for the loop: run once (next_tick, post, add_timer) or repeatedly (periodic timers).
using Task = Function<void()>;

} // namespace lithe
