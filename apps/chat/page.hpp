// lithe-chat's one page: SSE + POST by default, a WebSocket with ?transport=ws.
#pragma once

namespace chat {

inline constexpr const char* page = R"HTML(<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>lithe chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40em; margin: 2em auto; }
  #log { list-style: none; padding: 0; min-height: 12em; border: 1px solid #ccc; }
  #log li { padding: .2em .5em; } .note { color: #777; font-style: italic; }
  form { display: flex; gap: .5em; } #text { flex: 1; }
</style>
<h1>lithe chat <small id="transport"></small></h1>
<ul id="log"></ul>
<form id="form"><input id="text" autocomplete="off" placeholder="say something">
<button>send</button></form>
<script>
const params = new URLSearchParams(location.search);
const transport = params.get('transport') === 'ws' ? 'ws' : 'sse';
const name = params.get('name') || 'guest' + Math.floor(Math.random() * 1000);
document.getElementById('transport').textContent = `(${name}, ${transport})`;
const log = document.getElementById('log');
function show(m) {
  const li = document.createElement('li');
  if (m.type === 'message') li.textContent = `${m.name}: ${m.text}`;
  else { li.className = 'note'; li.textContent = `* ${m.name} ${m.type === 'join' ? 'joined' : m.type === 'leave' ? 'left' : 'error: ' + m.text}`; }
  log.appendChild(li);
}
let send;
if (transport === 'ws') {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?name=${encodeURIComponent(name)}`);
  ws.onmessage = (e) => show(JSON.parse(e.data));
  ws.onopen = () => document.body.dataset.ready = 'yes';
  send = (text) => ws.send(text);
} else {
  const es = new EventSource(`/events?name=${encodeURIComponent(name)}`);
  for (const type of ['message', 'join', 'leave']) es.addEventListener(type, (e) => show(JSON.parse(e.data)));
  es.onopen = () => document.body.dataset.ready = 'yes';
  send = (text) => fetch('/say', { method: 'POST', body: new URLSearchParams({ name, text }) });
}
document.getElementById('form').onsubmit = (e) => {
  e.preventDefault();
  const input = document.getElementById('text');
  if (input.value) send(input.value);
  input.value = '';
};
</script>
</html>
)HTML";

} // namespace chat
