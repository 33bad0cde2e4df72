// lithe-api's data: each user's todos and avatar, in memory, shared by the worker threads. Every
// collection has a bound (todos per user, title length, avatar size), so no client can grow the
// process past them; the users are the fixed list the app was started with.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace api {

struct Todo {
  long id = 0;
  std::string title;
  bool done = false;
};

inline nlohmann::json to_json(const Todo& t) {
  return {{"id", t.id}, {"title", t.title}, {"done", t.done}};
}

struct Avatar {
  std::string type; // an image/* type the upload declared
  std::string bytes;
};

struct Limits {
  std::size_t max_todos = 1000;       // per user
  std::size_t max_title = 200;        // bytes of one title
  std::size_t max_avatar = 512 << 10; // bytes of one avatar
};

class Todos {
public:
  explicit Todos(Limits limits = {}) : limits_(limits) {}
  const Limits& limits() const noexcept { return limits_; }

  nlohmann::json list(const std::string& user) const {
    std::lock_guard lock(mu_);
    nlohmann::json out = nlohmann::json::array();
    if (auto it = todos_.find(user); it != todos_.end())
      for (const Todo& t : it->second)
        out.push_back(to_json(t));
    return out;
  }
  /// Nullopt when the user has max_todos already.
  std::optional<Todo> add(const std::string& user, std::string title) {
    std::lock_guard lock(mu_);
    std::vector<Todo>& list = todos_[user];
    if (list.size() >= limits_.max_todos) return std::nullopt;
    list.push_back({next_id_++, std::move(title), false});
    return list.back();
  }
  /// Applies `edit` to the user's todo `id`; nullopt when there is none.
  template <class F> std::optional<Todo> update(const std::string& user, long id, F&& edit) {
    std::lock_guard lock(mu_);
    for (Todo& t : todos_[user])
      if (t.id == id) {
        edit(t);
        return t;
      }
    return std::nullopt;
  }
  bool remove(const std::string& user, long id) {
    std::lock_guard lock(mu_);
    std::vector<Todo>& list = todos_[user];
    return std::erase_if(list, [id](const Todo& t) { return t.id == id; }) > 0;
  }

  void set_avatar(const std::string& user, Avatar a) {
    std::lock_guard lock(mu_);
    avatars_[user] = std::move(a);
  }
  std::optional<Avatar> avatar(const std::string& user) const {
    std::lock_guard lock(mu_);
    auto it = avatars_.find(user);
    if (it == avatars_.end()) return std::nullopt;
    return it->second;
  }

private:
  Limits limits_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Todo>> todos_;
  std::map<std::string, Avatar> avatars_;
  long next_id_ = 1;
};

} // namespace api
