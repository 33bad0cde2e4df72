// Fuzzes Server-Sent Events' replay (docs/sse.md): an EventChannel on a Hub, a few events
// published, then a client reconnecting with any Last-Event-ID. The stream must replay exactly
// the kept events after that id, then the live ones, each id once and in order.
#include "fuzz_input.hpp"

#include <lithe/lithe.hpp>
#include <lithe/mw/hub.hpp>
#include <lithe/mw/sse.hpp>

#include <string>
#include <vector>

namespace {

using namespace lithe;

[[noreturn]] void broken() {
  __builtin_trap();
}

// The ids of the events in a stream, in order ("id: N" lines; data lines start "data: ").
std::vector<std::uint64_t> ids_in(std::string_view body) {
  std::vector<std::uint64_t> ids;
  for (std::size_t at = body.find("\nid: "); at != std::string_view::npos;
       at = body.find("\nid: ", at + 1)) {
    std::size_t from = at + 5, eol = body.find('\n', from);
    auto id = parse_u64(body.substr(from, eol - from));
    if (!id) broken();
    ids.push_back(*id);
  }
  return ids;
}

} // namespace

// Input: flags (history size, events before, live events, retry), then the Last-Event-ID.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    set_error_log([](std::string_view) {});
    return true;
  }();
  (void)quiet;
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t flags = in.byte();
  const std::size_t history = 1 + (flags & 7);
  const std::uint64_t before = (flags >> 3) & 7;
  const std::uint64_t live = (flags & 0x40) ? 2 : 0;
  std::string last_id;
  for (char c : in.rest())
    if (c != '\r' && c != '\n' && c != '\0') last_id += c; // what a request header can hold

  mw::Hub hub;
  mw::EventChannel channel(hub, "news", history);
  for (std::uint64_t i = 0; i < before; ++i)
    channel.publish(i % 2 ? "tick" : "", "event " + std::to_string(i) + "\nsecond line\r\nthird");
  mw::SseOptions sse{.heartbeat = Millis(10)};
  if (flags & 0x80) sse.retry = 1500;
  MockRequest mock(channel.app(std::move(sse)));
  for (std::uint64_t i = 0; i < live; ++i)
    mock.loop().add_timer(Millis(5 + 5 * static_cast<long>(i)),
                          [&channel] { channel.publish("tick", "live\r\n"); });

  std::size_t lint_before = lint_violation_count();
  MockResponse res = mock.get(
      "/events", {.headers = {{"Last-Event-ID", last_id}}, .client_leaves_after = Millis(50)});
  if (lint_violation_count() != lint_before || res.status != 200) broken();

  // Expected: the kept events (the last `history` of 1..before) after the id, then the live.
  std::vector<std::uint64_t> want;
  if (auto after = parse_u64(last_id))
    for (std::uint64_t id = before > history ? before - history + 1 : 1; id <= before; ++id)
      if (id > *after) want.push_back(id);
  for (std::uint64_t i = 1; i <= live; ++i)
    want.push_back(before + i);
  if (ids_in(res.body) != want) broken();
  return 0;
}
