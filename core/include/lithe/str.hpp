// Str: the string type of responses and env extras. It borrows string literals (static
// storage, so a response built from literals costs no allocation: SPEC rule 3.4) and owns
// every other string it is given, so nothing an app hands the server can dangle.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace lithe {

class Str {
public:
  Str() noexcept = default;

  /// From a string literal: borrowed. From std::string&&: moved in. Anything else that
  /// converts to std::string_view (std::string, const char*, string_view): copied.
  template <class T>
  requires(std::is_convertible_v<T, std::string_view> &&
           !std::is_same_v<std::remove_cvref_t<T>, Str>) Str(T&& s) { // NOLINT: implicit by design
    using U = std::remove_reference_t<T>;
    if constexpr (std::is_array_v<U> && std::is_const_v<std::remove_extent_t<U>>) {
      // A const char array: a literal. Stop at the first NUL in case it is a sized buffer.
      lit_ = s;
      len_ = std::char_traits<char>::length(s);
      borrowed_ = true;
    } else if constexpr (std::is_same_v<U, std::string> && !std::is_lvalue_reference_v<T>) {
      own_ = std::move(s);
    } else {
      own_.assign(std::string_view(s));
    }
  }

  /// Borrows memory the caller guarantees outlives every use of this Str (static data,
  /// a buffer owned by a long-lived object). Prefer the literal or owning forms.
  static Str borrow(std::string_view s) noexcept {
    Str r;
    r.lit_ = s.data();
    r.len_ = s.size();
    r.borrowed_ = true;
    return r;
  }

  std::string_view view() const noexcept {
    return borrowed_ ? std::string_view(lit_, len_) : std::string_view(own_);
  }
  operator std::string_view() const noexcept { return view(); } // NOLINT
  const char* data() const noexcept { return borrowed_ ? lit_ : own_.data(); }
  std::size_t size() const noexcept { return borrowed_ ? len_ : own_.size(); }
  bool empty() const noexcept { return size() == 0; }
  bool borrowed() const noexcept { return borrowed_; }

  /// The owned string (copied out of a borrowed one).
  std::string str() && { return borrowed_ ? std::string(lit_, len_) : std::move(own_); }
  std::string str() const& { return std::string(view()); }

  friend bool operator==(const Str& a, std::string_view b) noexcept { return a.view() == b; }

private:
  std::string own_;
  const char* lit_ = nullptr;
  std::size_t len_ = 0;
  bool borrowed_ = false;
};

/// ASCII case-insensitive comparison (header names, tokens).
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x != y && (x | 0x20) != (y | 0x20)) return false;
    if (x != y && !((x | 0x20) >= 'a' && (x | 0x20) <= 'z')) return false;
  }
  return true;
}

/// `v` without the optional whitespace (spaces and tabs, RFC 9110 §5.6.3) around it.
constexpr std::string_view trim_ows(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  return v;
}

/// A decimal unsigned number with nothing around it, or nullopt (empty, junk, overflow).
inline std::optional<std::uint64_t> parse_u64(std::string_view s) noexcept {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

/// Text made safe inside HTML elements and quoted attributes: & < > " ' as entities.
inline std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

/// Percent-decoding (RFC 3986 §2.1); with `plus_is_space`, '+' is a space as in HTML forms.
/// Malformed escapes are kept as they are.
inline std::string percent_decode(std::string_view s, bool plus_is_space = false) {
  auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += plus_is_space && s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

} // namespace lithe
