// Actions: one Binding per transport turns render/finish/keep-alive into SSE or WebSocket
// writes; the action object lives as long as its connection.
#include <lithe/mw/action.hpp>

#include <lithe/mw/sse.hpp>

namespace lithe::mw {

struct Action::Binding {
  virtual ~Binding() = default;
  virtual bool render(std::string_view data, std::string_view event) = 0;
  virtual void finish() = 0;
  virtual void keep_alive() = 0;
};

namespace {

struct SseBinding final : Action::Binding {
  explicit SseBinding(DeferrableBody b) : body(std::move(b)) {}
  bool render(std::string_view data, std::string_view event) override {
    return body.write(format_sse({.event = event, .data = data}));
  }
  void finish() override { body.succeed(); }
  void keep_alive() override { body.write(std::string_view(": ping\n\n")); }
  DeferrableBody body;
};

struct WsBinding final : Action::Binding {
  explicit WsBinding(WebSocket w) : ws(std::move(w)) {}
  bool render(std::string_view data, std::string_view) override {
    return ws.send(data) == SendResult::sent;
  }
  void finish() override { ws.close(ws::normal, "finished"); }
  void keep_alive() override { ws.ping(); }
  WebSocket ws;
};

} // namespace

Action::Action() = default;
Action::~Action() = default;

void Action::bind(std::unique_ptr<Binding> b, Handshake request, Loop& loop) {
  binding_ = std::move(b);
  request_ = std::move(request);
  loop_ = &loop;
}

bool Action::render(std::string_view data, std::string_view event) {
  return !finished_ && binding_ && binding_->render(data, event);
}

void Action::finish() {
  if (!finished_ && binding_) binding_->finish();
}

void Action::periodic_timer(Task fn, std::chrono::milliseconds every) {
  if (!finished_) timers_.push_back(loop_->add_periodic_timer(every, std::move(fn)));
}

void Action::keep_connection_alive(std::chrono::milliseconds every) {
  periodic_timer([this] { binding_->keep_alive(); }, every);
}

void Action::end() {
  if (finished_) return;
  finished_ = true;
  for (TimerId t : timers_)
    loop_->cancel_timer(t);
  timers_.clear();
  on_finish();
  binding_.reset(); // lets go of the body or socket handle
}

App sse_action(std::function<std::shared_ptr<Action>()> make) {
  return [make](Env& env) -> Response {
    std::shared_ptr<Action> a = make();
    Handshake request = Handshake::from(env);
    return {200, sse_headers(),
            stream(
                [a, request = std::move(request)](DeferrableBody out) mutable {
                  a->bind(std::make_unique<SseBinding>(out), std::move(request), *Loop::current());
                  out.on_close([a](CloseReason) { a->end(); });
                  out.write(std::string_view(": connected\n\n"));
                  a->on_start();
                },
                true)};
  };
}

WebSocketOptions websocket_action(std::function<std::shared_ptr<Action>()> make,
                                  WebSocketOptions base) {
  base.on_open = [make](WebSocket& ws) {
    std::shared_ptr<Action> a = make();
    ws.attachment() = a;
    a->bind(std::make_unique<WsBinding>(ws), ws.handshake(), ws.loop());
    a->on_start();
  };
  base.on_message = [](WebSocket& ws, std::string_view text) {
    static_cast<Action*>(ws.attachment().get())->on_data(text);
  };
  auto user_close = base.on_close;
  base.on_close = [user_close](WebSocket& ws, std::uint16_t code, std::string_view reason,
                               bool clean) {
    if (auto a = std::static_pointer_cast<Action>(ws.attachment())) a->end();
    ws.attachment().reset();
    if (user_close) user_close(ws, code, reason, clean);
  };
  return base;
}

} // namespace lithe::mw
