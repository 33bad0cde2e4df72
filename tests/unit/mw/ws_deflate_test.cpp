// permessage-deflate (RFC 7692) against zlib as the peer: final (BFINAL) blocks, context
// takeover across them, deflate bombs and garbage refused with bounded work, shared streams
// any raw inflater reads, and dedicated streams that cost nothing until first used.
#include <lithe/mw/ws_deflate.hpp>

#include <catch2/catch.hpp>

#include <zlib.h>

#include <chrono>
#include <random>
#include <string>

using namespace lithe::mw;
using Status = ws::PerMessageDeflate::Status;

namespace {

const std::string tail("\0\0\xff\xff", 4);

/// What a peer's zlib makes of `text`: raw DEFLATE with `flush` (Z_SYNC_FLUSH: the tail is
/// removed, as §7.2.1 says; Z_FINISH: a final block), optionally after a preset dictionary.
std::string zlib_deflate(std::string_view text, int flush, std::string_view dictionary = {}) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  if (!dictionary.empty())
    deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(dictionary.data()),
                         static_cast<uInt>(dictionary.size()));
  std::string out(deflateBound(&z, static_cast<uLong>(text.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, flush);
  REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
  REQUIRE(z.avail_in == 0);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (flush == Z_SYNC_FLUSH) {
    REQUIRE(out.ends_with(tail));
    out.resize(out.size() - 4);
  }
  return out;
}

/// A standard raw inflater (windowBits -15), as any client has: payload + tail → text.
struct ZlibInflater {
  z_stream z{};
  ZlibInflater() { REQUIRE(inflateInit2(&z, -15) == Z_OK); }
  ~ZlibInflater() { inflateEnd(&z); }
  std::string operator()(std::string payload) {
    payload += tail;
    std::string out(1 << 20, '\0');
    z.next_in = reinterpret_cast<Bytef*>(payload.data());
    z.avail_in = static_cast<uInt>(payload.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&z, Z_SYNC_FLUSH);
    CHECK(rc == Z_OK);
    CHECK(z.avail_in == 0);
    out.resize(out.size() - z.avail_out);
    return out;
  }
};

ws::DeflateParams agreed(const ws::DeflateOptions& o,
                         std::string_view offer = "permessage-deflate; client_max_window_bits") {
  auto p = ws::negotiate_deflate(offer);
  REQUIRE(p);
  return ws::answer_deflate(*p, o);
}

const ws::DeflateOptions shared_mode{};
const ws::DeflateOptions dedicated_mode{.context_takeover = true};

std::string chat_line(int i) {
  return "{\"user\":\"alice\",\"room\":\"lobby\",\"text\":\"message number " + std::to_string(i) +
         " says hello to everyone in the room\"}";
}

} // namespace

TEST_CASE("A message that is one final block (03 00) inflates, promptly, to an empty message") {
  for (const auto& mode : {shared_mode, dedicated_mode}) {
    ws::PerMessageDeflate pmd(agreed(mode), mode);
    std::string out = "stale";
    auto start = std::chrono::steady_clock::now();
    CHECK(pmd.decompress(std::string("\x03\x00", 2), 1024, out) == Status::ok);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    CHECK(out.empty());
    // RFC 7692 §7.2.3.4's example: "Hello" in a BFINAL block, then one 00 octet.
    CHECK(pmd.decompress(std::string("\xf3\x48\xcd\xc9\xc9\x07\x00\x00", 8), 1024, out) ==
          Status::ok);
    CHECK(out == "Hello");
    // And the next ordinary message still inflates.
    CHECK(pmd.decompress(zlib_deflate("after the end", Z_SYNC_FLUSH), 1024, out) == Status::ok);
    CHECK(out == "after the end");
  }
}

TEST_CASE("Only the appended tail, or one empty block header, may follow a final block") {
  ws::PerMessageDeflate pmd(agreed(shared_mode), shared_mode);
  std::string finished = zlib_deflate("a finished stream", Z_FINISH), out;
  CHECK(pmd.decompress(finished, 1024, out) == Status::ok);
  CHECK(out == "a finished stream");
  CHECK(pmd.decompress(finished + std::string(1, '\0'), 1024, out) == Status::ok);
  CHECK(pmd.decompress(finished + "\x01", 1024, out) == Status::invalid);
  CHECK(out.empty());
  CHECK(pmd.decompress(finished + "more bytes", 1024, out) == Status::invalid);
  // "03" alone ends its final block inside the appended tail: not a message of its own.
  CHECK(pmd.decompress("\x03", 1024, out) == Status::invalid);
}

TEST_CASE("With context takeover the window carries over a final block to the next message") {
  const std::string first = "The quick brown fox jumps over the lazy dog; " + chat_line(1);
  const std::string second = chat_line(2) + " The quick brown fox jumps over the lazy dog; ";
  const std::string first_payload = zlib_deflate(first, Z_FINISH);
  // The peer's next message refers back into the first one's window.
  const std::string second_payload = zlib_deflate(second, Z_SYNC_FLUSH, first);
  REQUIRE(second_payload.size() < second.size() / 3);

  ws::PerMessageDeflate keeps(agreed(dedicated_mode), dedicated_mode);
  std::string out;
  REQUIRE(keeps.decompress(first_payload, 4096, out) == Status::ok);
  CHECK(out == first);
  REQUIRE(keeps.decompress(second_payload, 4096, out) == Status::ok);
  CHECK(out == second);

  // Without takeover (the default answer) the window is gone: the reference is refused.
  ws::PerMessageDeflate resets(agreed(shared_mode), shared_mode);
  REQUIRE(resets.decompress(first_payload, 4096, out) == Status::ok);
  CHECK(resets.decompress(second_payload, 4096, out) == Status::invalid);
}

TEST_CASE("A deflate bomb is refused as too big once the limit is reached, not after") {
  const std::string zeros(32 << 20, '\0'); // 32 MiB in about 32 KiB
  const std::string bomb = zlib_deflate(zeros, Z_SYNC_FLUSH);
  REQUIRE(bomb.size() < 64 * 1024);
  const std::size_t limit = 256 * 1024;
  for (const auto& mode : {shared_mode, dedicated_mode}) {
    ws::PerMessageDeflate pmd(agreed(mode), mode);
    std::string out;
    auto start = std::chrono::steady_clock::now();
    CHECK(pmd.decompress(bomb, limit, out) == Status::too_big);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    CHECK(out.empty());
    CHECK(out.capacity() <= limit); // never grown past the limit
    // Exactly at the limit is fine, one byte over is not.
    std::string exact(limit, 'e');
    CHECK(pmd.decompress(zlib_deflate(exact, Z_SYNC_FLUSH), limit, out) == Status::ok);
    CHECK(out == exact);
    CHECK(pmd.decompress(zlib_deflate(exact + "!", Z_SYNC_FLUSH), limit, out) == Status::too_big);
  }
}

TEST_CASE("Garbage is refused, and a shared stream is clean for the next message") {
  ws::PerMessageDeflate pmd(agreed(shared_mode), shared_mode);
  std::string out;
  CHECK(pmd.decompress("\xff\xff\xff\xff", 1024, out) == Status::invalid); // BTYPE 11
  CHECK(pmd.decompress("\xf2\x48", 1024, out) == Status::invalid);         // cut in a block
  CHECK(pmd.decompress(std::string("\x00\x05\x00\x00\x00", 5), 1024, out) ==
        Status::invalid); // stored block whose NLEN is not LEN's complement
  std::mt19937 rng(7692);
  ws::PerMessageDeflate other(agreed(shared_mode), shared_mode); // same thread, same streams
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk)
      c = static_cast<char>(rng());
    Status st = pmd.decompress(junk, 1024, out);
    CHECK((st == Status::ok || st == Status::invalid || st == Status::too_big));
    CHECK(out.size() <= 1024);
    REQUIRE(other.decompress(zlib_deflate("still fine", Z_SYNC_FLUSH), 1024, out) == Status::ok);
    REQUIRE(out == "still fine");
  }
}

TEST_CASE("Shared streams make messages any raw inflater reads, each on its own") {
  ws::DeflateParams p = agreed(shared_mode);
  CHECK(p.server_no_context_takeover);
  CHECK(p.client_no_context_takeover);
  ws::PerMessageDeflate a(p, shared_mode), b(p, shared_mode);
  for (int i = 0; i < 20; ++i) {
    const std::string text = chat_line(i) + std::string(static_cast<std::size_t>(i) * 100, 'z');
    std::string packed;
    REQUIRE((i % 2 ? a : b).compress(text, packed) == Status::ok);
    CHECK_FALSE(packed.ends_with(tail));
    ZlibInflater fresh; // no context: each message stands alone
    CHECK(fresh(packed) == text);
  }
  CHECK(a.memory() == 0);
  CHECK(b.memory() == 0);
}

TEST_CASE("Dedicated streams cost nothing until used, then are charged, and keep context") {
  std::ptrdiff_t charged = 0;
  int calls = 0;
  ws::PerMessageDeflate pmd(agreed(dedicated_mode), dedicated_mode, [&](std::ptrdiff_t n) {
    ++calls;
    charged += n;
    return true;
  });
  CHECK(pmd.memory() == 0);
  CHECK(calls == 0);

  ZlibInflater client; // the client keeps its window too
  std::string packed;
  REQUIRE(pmd.compress(chat_line(1), packed) == Status::ok);
  const std::size_t first_size = packed.size();
  CHECK(client(packed) == chat_line(1));
  const std::size_t deflater = ws::PerMessageDeflate::deflate_cost(15, 8);
  CHECK(deflater == (128u << 10) + (128u << 10) + 6 * 1024);
  CHECK(pmd.memory() == deflater);
  CHECK(charged == static_cast<std::ptrdiff_t>(deflater));
  REQUIRE(pmd.compress(chat_line(2), packed) == Status::ok);
  CHECK(packed.size() < first_size / 2); // the second line refers to the first
  CHECK(client(packed) == chat_line(2));

  std::string out;
  REQUIRE(pmd.decompress(zlib_deflate("hi", Z_SYNC_FLUSH), 64, out) == Status::ok);
  CHECK(pmd.memory() == deflater + ws::PerMessageDeflate::inflate_cost(15));
  CHECK(charged == static_cast<std::ptrdiff_t>(pmd.memory()));
}

TEST_CASE("Dedicated streams are sized by the options, and refused when the charge is") {
  const ws::DeflateOptions small{.context_takeover = true, .window_bits = 10, .mem_level = 4};
  ws::DeflateParams p = agreed(small);
  CHECK(p.client_max_window_bits == 10);
  CHECK(ws::deflate_response(p) == "permessage-deflate; client_max_window_bits=10");
  std::ptrdiff_t charged = 0;
  bool allow = false;
  ws::PerMessageDeflate pmd(p, small, [&](std::ptrdiff_t n) {
    charged += n;
    return allow || n < 0;
  });
  std::string out;
  CHECK(pmd.compress("refused", out) == Status::over_budget);
  CHECK(pmd.decompress(zlib_deflate("refused", Z_SYNC_FLUSH), 64, out) == Status::over_budget);
  CHECK(pmd.memory() == 0);
  CHECK(charged == 0); // what was refused was given back
  allow = true;
  REQUIRE(pmd.compress(std::string(3000, 'k'), out) == Status::ok);
  ZlibInflater client;
  CHECK(client(out) == std::string(3000, 'k'));
  CHECK(pmd.memory() == ws::PerMessageDeflate::deflate_cost(10, 4));
  CHECK(charged == static_cast<std::ptrdiff_t>(pmd.memory()));
}

TEST_CASE("Negotiation: the default answer imposes no context takeover both ways") {
  auto answer = [](std::string_view offer, const ws::DeflateOptions& o) {
    auto p = ws::negotiate_deflate(offer);
    return p ? ws::deflate_response(ws::answer_deflate(*p, o)) : std::string("declined");
  };
  CHECK(answer("permessage-deflate; client_max_window_bits", shared_mode) ==
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  CHECK(answer("permessage-deflate", shared_mode) ==
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  CHECK(answer("permessage-deflate; server_max_window_bits=12", shared_mode) ==
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=12");
  // Dedicated streams keep what the client offered.
  CHECK(answer("permessage-deflate; client_max_window_bits", dedicated_mode) ==
        "permessage-deflate");
  CHECK(answer("permessage-deflate; client_no_context_takeover", dedicated_mode) ==
        "permessage-deflate; client_no_context_takeover");
  CHECK(answer("permessage-deflate; client_max_window_bits=8", dedicated_mode) ==
        "permessage-deflate; client_max_window_bits=8");
  // A window zlib cannot make is declined rather than answered larger than offered.
  CHECK(answer("permessage-deflate; server_max_window_bits=8", shared_mode) == "declined");
  CHECK(answer("permessage-deflate; server_max_window_bits=8, permessage-deflate", shared_mode) ==
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
}

TEST_CASE("A shared deflater honours the window size the client asked for") {
  ws::DeflateParams p = agreed(shared_mode, "permessage-deflate; server_max_window_bits=9");
  ws::PerMessageDeflate pmd(p, shared_mode);
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += chat_line(i % 7);
  std::string packed;
  REQUIRE(pmd.compress(text, packed) == Status::ok);
  // A client with a 512-byte window reads it.
  z_stream z{};
  REQUIRE(inflateInit2(&z, -9) == Z_OK);
  std::string in = packed + tail, out(text.size() + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  CHECK(inflate(&z, Z_SYNC_FLUSH) == Z_OK);
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  CHECK(out == text);
}
