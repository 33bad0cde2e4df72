#include <catch2/catch.hpp>
#include <lithe/small_vector.hpp>
#include <lithe/str.hpp>

#include <string>

using lithe::Str;

TEST_CASE("Str borrows a string literal without copying") {
  Str s("text/plain");
  CHECK(s.borrowed());
  CHECK(s.view() == "text/plain");
}

TEST_CASE("Str owns a std::string, moved or copied, and any view") {
  std::string a = "a long value that would not fit a small string buffer";
  Str copied(a);
  CHECK_FALSE(copied.borrowed());
  CHECK(copied.view() == a);
  CHECK(copied.data() != a.data());
  const char* heap = a.data();
  Str moved(std::move(a));
  CHECK(moved.data() == heap);
  std::string_view v = "view";
  Str from_view(v);
  CHECK_FALSE(from_view.borrowed());
  const char* p = "pointer";
  Str from_ptr(p);
  CHECK_FALSE(from_ptr.borrowed());
  CHECK(from_ptr == "pointer");
}

TEST_CASE("Str from a sized char array stops at its NUL") {
  const char buf[16] = "abc";
  Str s(buf);
  CHECK(s.size() == 3);
}

TEST_CASE("iequals compares ASCII case-insensitively and nothing else") {
  CHECK(lithe::iequals("Content-Type", "content-type"));
  CHECK_FALSE(lithe::iequals("a-b", "a\rb"));
  CHECK_FALSE(lithe::iequals("@", "`")); // differ by 0x20 but are not letters
  CHECK_FALSE(lithe::iequals("abc", "abcd"));
}

TEST_CASE("parse_u64 accepts plain decimal numbers only") {
  CHECK(lithe::parse_u64("0") == 0u);
  CHECK(lithe::parse_u64("18446744073709551615") == UINT64_MAX);
  CHECK_FALSE(lithe::parse_u64("18446744073709551616"));
  CHECK_FALSE(lithe::parse_u64(""));
  CHECK_FALSE(lithe::parse_u64(" 1"));
  CHECK_FALSE(lithe::parse_u64("1x"));
  CHECK_FALSE(lithe::parse_u64("-1"));
}

TEST_CASE("SmallVector keeps N inline and grows onto the heap") {
  lithe::SmallVector<std::string, 2> v;
  v.push_back("a");
  v.push_back("b");
  const std::string* inline_data = v.data();
  v.push_back("c");
  CHECK(v.size() == 3);
  CHECK(v.data() != inline_data);
  CHECK(v[2] == "c");
  lithe::SmallVector<std::string, 2> moved(std::move(v));
  CHECK(moved.size() == 3);
  CHECK(v.empty());
  moved.erase(moved.begin());
  CHECK(moved[0] == "b");
  CHECK(moved.erase_if([](const std::string& s) { return s == "c"; }) == 1);
  CHECK(moved.size() == 1);
  lithe::SmallVector<std::string, 2> copy = moved;
  CHECK(copy[0] == "b");
}
