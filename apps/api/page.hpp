// lithe-api's one page: the login form, or the todo list with its avatar. The page's script
// talks to the JSON API with the session cookie and the CSRF token from the meta tag.
#pragma once

#include <lithe/str.hpp>

#include <string>
#include <string_view>

namespace api {

using lithe::html_escape;

inline std::string page_head(std::string_view token) {
  return R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lithe-api</title>
<meta name="csrf-token" content=")" +
         html_escape(token) + R"(">
<style>
body { font: 16px system-ui, sans-serif; max-width: 36em; margin: 2em auto; }
li.done span { text-decoration: line-through; color: #777; }
#avatar { width: 64px; height: 64px; object-fit: cover; border-radius: 50%; background: #ddd; }
.error { color: #b00; }
</style></head><body>
)";
}

inline std::string login_page(std::string_view token, std::string_view error) {
  std::string html = page_head(token);
  html += "<h1>lithe-api</h1>\n";
  if (!error.empty()) html += "<p class=\"error\" id=\"error\">" + html_escape(error) + "</p>\n";
  html += R"(<form method="post" action="/login" id="login">
<input type="hidden" name="authenticity_token" value=")" +
          html_escape(token) + R"(">
<label>User <input name="user" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button>Log in</button>
</form></body></html>
)";
  return html;
}

inline std::string todo_page(std::string_view token, std::string_view user) {
  std::string html = page_head(token);
  html += "<h1><img id=\"avatar\" src=\"/avatar\" alt=\"\"> Todos of <span id=\"user\">" +
          html_escape(user) + "</span></h1>\n";
  html += R"(<form id="add"><input id="title" maxlength="200" placeholder="Something to do">
<button>Add</button></form>
<ul id="list"></ul>
<form id="upload"><input type="file" id="file" name="avatar" accept="image/*">
<button>Upload avatar</button> <span id="uploaded"></span></form>
<form method="post" action="/logout"><input type="hidden" name="authenticity_token" value=")" +
          html_escape(token) + R"("><button>Log out</button></form>
<script>
const token = document.querySelector('meta[name=csrf-token]').content;
const list = document.getElementById('list');
async function api(method, path, body) {
  const r = await fetch(path, { method, headers: { 'Content-Type': 'application/json',
    'X-CSRF-Token': token }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) throw new Error(method + ' ' + path + ': ' + r.status);
  return r.status === 204 ? null : r.json();
}
function show(todo) {
  const li = document.createElement('li');
  li.dataset.id = todo.id;
  li.className = todo.done ? 'done' : '';
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = todo.done;
  box.onchange = async () => {
    const t = await api('PATCH', '/todos/' + todo.id, { done: box.checked });
    li.className = t.done ? 'done' : '';
  };
  const title = document.createElement('span');
  title.textContent = todo.title;
  const del = document.createElement('button');
  del.textContent = 'Delete';
  del.onclick = async () => { await api('DELETE', '/todos/' + todo.id); li.remove(); };
  li.append(box, ' ', title, ' ', del);
  list.append(li);
}
document.getElementById('add').onsubmit = async (e) => {
  e.preventDefault();
  const input = document.getElementById('title');
  if (!input.value) return;
  show(await api('POST', '/todos', { title: input.value }));
  input.value = '';
};
document.getElementById('upload').onsubmit = async (e) => {
  e.preventDefault();
  const form = new FormData();
  form.append('avatar', document.getElementById('file').files[0]);
  const r = await fetch('/avatar', { method: 'POST', headers: { 'X-CSRF-Token': token },
    body: form });
  document.getElementById('uploaded').textContent = r.ok ? 'uploaded' : 'refused: ' + r.status;
  document.getElementById('avatar').src = '/avatar?' + Date.now();
};
api('GET', '/todos').then((todos) => { todos.forEach(show); document.body.dataset.ready = '1'; });
</script></body></html>
)";
  return html;
}

} // namespace api
