#include <catch2/catch.hpp>
#include <lithe/detail/intrusive_list.hpp>

#include <string>
#include <vector>

using lithe::detail::IntrusiveList;
using lithe::detail::ListHook;

namespace {

struct Other; // a second list an item can be on at the same time
struct Item : ListHook<>, ListHook<Other> {
  explicit Item(int v) : value(v) {}
  int value;
};

std::vector<int> values(const IntrusiveList<Item>& l) {
  std::vector<int> out;
  for (const Item& i : l)
    out.push_back(i.value);
  return out;
}

} // namespace

TEST_CASE("IntrusiveList keeps its elements in the order they were linked") {
  IntrusiveList<Item> l;
  Item a(1), b(2), c(3);
  CHECK(l.empty());
  l.push_back(b);
  l.push_back(c);
  l.push_front(a);
  CHECK_FALSE(l.empty());
  CHECK(l.size() == 3);
  CHECK(values(l) == std::vector<int>{1, 2, 3});
  CHECK(&l.front() == &a);
  CHECK(&l.back() == &c);
}

TEST_CASE("IntrusiveList unlinks an element from the middle without the list at hand") {
  IntrusiveList<Item> l;
  Item a(1), b(2), c(3);
  l.push_back(a);
  l.push_back(b);
  l.push_back(c);
  CHECK(static_cast<ListHook<>&>(b).linked());
  static_cast<ListHook<>&>(b).unlink();
  CHECK_FALSE(static_cast<ListHook<>&>(b).linked());
  CHECK(values(l) == std::vector<int>{1, 3});
  static_cast<ListHook<>&>(b).unlink(); // twice is harmless
  IntrusiveList<Item>::remove(a);
  CHECK(values(l) == std::vector<int>{3});
}

TEST_CASE("IntrusiveList moves an element that is on another list") {
  IntrusiveList<Item> open, closing;
  Item a(1), b(2), c(3);
  open.push_back(a);
  open.push_back(b);
  open.push_back(c);
  closing.push_back(b);
  CHECK(values(open) == std::vector<int>{1, 3});
  CHECK(values(closing) == std::vector<int>{2});
  closing.push_back(b); // already last: stays
  CHECK(values(closing) == std::vector<int>{2});
  open.push_back(a); // to the back of its own list
  CHECK(values(open) == std::vector<int>{3, 1});
}

TEST_CASE("IntrusiveList pops from the front until empty, and pop on empty is null") {
  IntrusiveList<Item> l;
  Item a(1), b(2);
  l.push_back(a);
  l.push_back(b);
  std::string order;
  while (Item* i = l.pop_front()) {
    order += std::to_string(i->value);
    CHECK_FALSE(static_cast<ListHook<>&>(*i).linked());
  }
  CHECK(order == "12");
  CHECK(l.pop_front() == nullptr);
}

TEST_CASE("IntrusiveList splices another list onto its end, leaving that one empty") {
  IntrusiveList<Item> l, m;
  Item a(1), b(2), c(3), d(4);
  l.push_back(a);
  m.push_back(b);
  m.push_back(c);
  l.splice_back(m);
  CHECK(m.empty());
  CHECK(values(l) == std::vector<int>{1, 2, 3});
  m.push_back(d); // the emptied list works as new
  CHECK(values(m) == std::vector<int>{4});
  l.splice_back(m);
  l.splice_back(m); // an empty one adds nothing
  CHECK(values(l) == std::vector<int>{1, 2, 3, 4});
  IntrusiveList<Item> empty;
  empty.splice_back(l);
  CHECK(values(empty) == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("IntrusiveList holds an element on two lists at once through two hooks") {
  IntrusiveList<Item> all;
  IntrusiveList<Item, Other> some;
  Item a(1), b(2);
  all.push_back(a);
  all.push_back(b);
  some.push_back(b);
  static_cast<ListHook<>&>(b).unlink();
  CHECK(values(all) == std::vector<int>{1});
  CHECK(&some.front() == &b);
}

TEST_CASE("IntrusiveList: a destroyed element leaves its list, a destroyed list frees none") {
  IntrusiveList<Item> l;
  Item a(1);
  {
    Item b(2);
    l.push_back(a);
    l.push_back(b);
  }
  CHECK(values(l) == std::vector<int>{1});
  Item c(3);
  {
    IntrusiveList<Item> gone;
    gone.push_back(c);
  }
  CHECK_FALSE(static_cast<ListHook<>&>(c).linked());
  Item copy = a; // a copy is on no list
  CHECK_FALSE(static_cast<ListHook<>&>(copy).linked());
  CHECK(l.size() == 1);
}

TEST_CASE("IntrusiveList iterates both ways") {
  IntrusiveList<Item> l;
  Item a(1), b(2), c(3);
  l.push_back(a);
  l.push_back(b);
  l.push_back(c);
  std::vector<int> back;
  for (auto it = l.end(); it != l.begin();)
    back.push_back((--it)->value);
  CHECK(back == std::vector<int>{3, 2, 1});
}
