// Response headers: an ordered list of name/value pairs in which a name may repeat
// (Set-Cookie). SPEC rules 3.2-3.3. Names compare case-insensitively.
#pragma once

#include <lithe/small_vector.hpp>
#include <lithe/str.hpp>

#include <initializer_list>
#include <optional>
#include <string_view>

namespace lithe {

struct Header {
  Str name;
  Str value;
};

class Headers {
public:
  Headers() = default;
  Headers(std::initializer_list<Header> init) : items_(init) {}

  /// Appends a header; an existing header of the same name stays (use set to replace).
  void add(Str name, Str value) { items_.push_back(Header{std::move(name), std::move(value)}); }
  /// Replaces every header of this name by one.
  void set(Str name, Str value) {
    remove(name.view());
    add(std::move(name), std::move(value));
  }
  /// The first value of `name`, if any.
  std::optional<std::string_view> get(std::string_view name) const noexcept {
    for (const Header& h : items_)
      if (iequals(h.name.view(), name)) return h.value.view();
    return std::nullopt;
  }
  bool has(std::string_view name) const noexcept { return get(name).has_value(); }
  /// Removes every header of this name; returns how many.
  std::size_t remove(std::string_view name) {
    return items_.erase_if([name](const Header& h) { return iequals(h.name.view(), name); });
  }

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  const Header* begin() const noexcept { return items_.begin(); }
  const Header* end() const noexcept { return items_.end(); }
  Header* begin() noexcept { return items_.begin(); }
  Header* end() noexcept { return items_.end(); }
  void clear() noexcept { items_.clear(); }

private:
  SmallVector<Header, 4> items_;
};

} // namespace lithe
