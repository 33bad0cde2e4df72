// Fuzzes the multipart/form-data parser (middleware/include/lithe/mw/multipart.hpp) fed the
// body whole and in input-chosen pieces, and checks: both feeds see the same callbacks and
// the same error; no callback runs after an error or an abort; a body parsed without error
// delivers, part by part, exactly the bytes a reference split at the delimiters finds.
#include "fuzz_input.hpp"

#include <lithe/mw/multipart.hpp>

#include <string>
#include <vector>

namespace {

using namespace lithe::mw;

struct Run {
  std::string log;
  std::vector<std::string> data;
  MultipartError error = MultipartError::none;
  bool stopped = false;
  std::size_t calls = 0;
};

void run(std::string_view boundary, const std::vector<std::string_view>& pieces,
         MultipartLimits limits, std::size_t abort_at, Run& r) {
  MultipartParser* self = nullptr;
  auto called = [&](bool structural = true) {
    if (r.stopped) __builtin_trap();           // a callback after an error or an abort
    if (structural && ++r.calls == abort_at) { // data callbacks differ in number by split
      self->abort();
      r.stopped = true;
    }
  };
  MultipartParser p(boundary,
                    {.on_part =
                         [&](const PartHead& h) {
                           called();
                           r.log += "[" + std::string(h.name) + "|" + std::string(h.filename) +
                                    "|" + std::string(h.content_type) + "]";
                           r.data.emplace_back();
                         },
                     .on_data =
                         [&](std::string_view d) {
                           if (d.empty()) __builtin_trap();
                           called(false);
                           r.data.back().append(d);
                         },
                     .on_part_end =
                         [&] {
                           called();
                           r.log += "/";
                         },
                     .on_end =
                         [&] {
                           called();
                           r.log += "$";
                         }},
                    limits);
  self = &p;
  for (std::string_view piece : pieces) {
    r.error = p.feed(piece);
    if (r.error != MultipartError::none) r.stopped = true;
  }
  r.error = p.finish();
  if (r.error != MultipartError::none) r.stopped = true;
  if (p.error() != r.error) __builtin_trap();
}

/// The parts' data as a reference finds them: the text between one delimiter line's header
/// section and the next delimiter, with a CRLF assumed before the body.
std::vector<std::string> reference(std::string_view boundary, std::string_view body) {
  std::string all = "\r\n" + std::string(body);
  std::string delim = "\r\n--" + std::string(boundary);
  std::vector<std::string> parts;
  std::size_t at = all.find(delim);
  while (at != std::string::npos) {
    std::size_t line = at + delim.size();
    if (all.compare(line, 2, "--") == 0) break;
    std::size_t eol = all.find("\r\n", line);
    std::size_t start =
        all.compare(eol + 2, 2, "\r\n") == 0 ? eol + 4 : all.find("\r\n\r\n", eol) + 4;
    std::size_t next = all.find(delim, start);
    parts.push_back(all.substr(start, next - start));
    at = next;
  }
  return parts;
}

} // namespace

// Input: a choice byte (bit 0: small limits; bit 1: abort after N callbacks; bit 2: boundary
// from the input, else "b"), a boundary length and bytes, N, five cut points; then the body.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t choice = in.byte();
  std::string boundary = "b";
  if (choice & 4) {
    static constexpr char chars[] = "abcXYZ09'()+_,-./:=? ";
    boundary.clear();
    std::size_t n = 1 + in.byte() % 72; // past 70 too: refused
    for (std::size_t i = 0; i < n; ++i)
      boundary += chars[in.byte() % (sizeof chars - 1)];
  }
  MultipartLimits limits;
  if (choice & 1)
    limits = {.max_header_bytes = 1u + in.byte(),
              .max_headers = in.byte() % 5u,
              .max_parts = in.byte() % 8u,
              .max_preamble = in.byte(),
              .max_epilogue = in.byte()};
  std::size_t abort_at = (choice & 2) ? 1u + in.byte() : 0;
  std::vector<std::size_t> cuts = lithe::fuzz::read_cuts(in, 5);
  std::string_view body = in.rest();

  Run whole, split;
  run(boundary, {body}, limits, abort_at, whole);
  run(boundary, lithe::fuzz::split(body, cuts), limits, abort_at, split);
  if (whole.log != split.log || whole.data != split.data || whole.error != split.error)
    __builtin_trap();
  if (whole.error == MultipartError::none) {
    if (whole.log.empty() || whole.log.back() != '$') __builtin_trap();
    if (reference(boundary, body) != whole.data) __builtin_trap();
  }
  return 0;
}
