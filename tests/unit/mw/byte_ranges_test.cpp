// Byte ranges: RFC 9110 §14.1.2's syntax (suffixes, open ends, whitespace, empty elements),
// what is unsatisfiable or invalid, coalescing and its order, the limits, and invariants over
// generated headers.
#include <lithe/mw/byte_ranges.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <string>

using namespace lithe::mw;
using Ranges = std::vector<ByteRange>;

namespace {

std::optional<Ranges> parse(std::string_view h, std::uint64_t size, RangeLimits l = {}) {
  return parse_byte_ranges(h, size, l);
}

} // namespace

TEST_CASE("A range is first-last, first- to the end, or -N for the last N bytes") {
  CHECK(parse("bytes=2-5", 10) == Ranges{{2, 5}});
  CHECK(parse("bytes=8-", 10) == Ranges{{8, 9}});
  CHECK(parse("bytes=-3", 10) == Ranges{{7, 9}});
  CHECK(parse("bytes=0-0", 10) == Ranges{{0, 0}});
  CHECK(parse("bytes=9-9", 10) == Ranges{{9, 9}});
  CHECK(parse("bytes=0-", 10) == Ranges{{0, 9}});
  CHECK(parse("bytes=2-5", 10)->front().length() == 4);
}

TEST_CASE("Ranges past the end are clamped to it, even past 64 bits") {
  CHECK(parse("bytes=5-100", 10) == Ranges{{5, 9}});
  CHECK(parse("bytes=-100", 10) == Ranges{{0, 9}});
  CHECK(parse("bytes=5-99999999999999999999999999", 10) == Ranges{{5, 9}});
  CHECK(parse("bytes=-99999999999999999999999999", 10) == Ranges{{0, 9}});
  CHECK(parse("bytes=18446744073709551615-", 10) == Ranges{});
}

TEST_CASE("The unit is case-insensitive; whitespace and empty elements around commas are "
          "allowed") {
  CHECK(parse("BYTES=1-2", 10) == Ranges{{1, 2}});
  CHECK(parse("bytes=1-2 , 5-6", 10) == Ranges{{1, 2}, {5, 6}});
  CHECK(parse("bytes=\t1-2,\t5-6\t", 10) == Ranges{{1, 2}, {5, 6}});
  CHECK(parse("bytes=,1-2,,5-6,", 10) == Ranges{{1, 2}, {5, 6}});
}

TEST_CASE("Nothing satisfiable is an empty list (416)") {
  CHECK(parse("bytes=10-20", 10) == Ranges{});
  CHECK(parse("bytes=10-", 10) == Ranges{});
  CHECK(parse("bytes=-0", 10) == Ranges{});
  CHECK(parse("bytes=10-20,30-", 10) == Ranges{});
  // An unsatisfiable spec beside a satisfiable one is just left out.
  CHECK(parse("bytes=50-60,1-2", 10) == Ranges{{1, 2}});
}

TEST_CASE("A header to ignore is nullopt: another unit, bad syntax, an empty file") {
  for (const char* h :
       {"items=0-1", "bytes 0-1", "bytes=", "bytes=,", "bytes=5", "bytes=-", "bytes=a-b",
        "bytes=1-a", "bytes=5-2", "bytes=1-2-3", "bytes=1 -2", "bytes=0x1-2", "bytes=+1-2",
        "bytes=1-2,5-2", "bytes=1-2,x", "bytes =1-2", "=1-2", "", "bytes=--1"}) {
    INFO(h);
    CHECK_FALSE(parse(h, 10));
  }
  // An invalid spec spoils the header even after an unsatisfiable one (nothing is a 416 then).
  CHECK_FALSE(parse("bytes=50-60,9-1", 10));
  CHECK_FALSE(parse("bytes=0-1", 0)); // no content: RFC 9110 §14.2 lets the server ignore it
  CHECK_FALSE(parse("bytes=-1", 0));
}

TEST_CASE("Overlapping and adjacent ranges are coalesced, in the order the header gave them") {
  CHECK(parse("bytes=0-4,2-8", 100) == Ranges{{0, 8}});
  CHECK(parse("bytes=0-4,5-8", 100) == Ranges{{0, 8}});         // adjacent
  CHECK(parse("bytes=0-4,6-8", 100) == Ranges{{0, 4}, {6, 8}}); // a gap: two parts
  CHECK(parse("bytes=50-59,0-9", 100) == Ranges{{50, 59}, {0, 9}});
  // The merged range takes its earliest member's place: 20-29 came before 0-9.
  CHECK(parse("bytes=20-29,50-59,0-9,25-34", 100) == Ranges{{20, 34}, {50, 59}, {0, 9}});
  CHECK(parse("bytes=-10,0-9", 100) == Ranges{{90, 99}, {0, 9}});
  CHECK(parse("bytes=3-3,3-3", 100) == Ranges{{3, 3}});
}

TEST_CASE("Ranges that add up to more than the file are ignored: the whole file instead") {
  // The range bomb: 16 overlapping open ranges of a big file would be 16 copies of it.
  std::string bomb = "bytes=0-";
  for (int i = 1; i < 16; ++i) // appended piece by piece: g++ 12 -O3 warns on "," + s
    bomb.append(",").append(std::to_string(i)).append("-");
  CHECK_FALSE(parse(bomb, 100'000'000));
  CHECK_FALSE(parse("bytes=0-,0-", 10));
  CHECK_FALSE(parse("bytes=0-5,2-7", 10)); // 6 + 6 > 10, though they coalesce to 0-7
  CHECK(parse("bytes=0-4,5-9", 10) == Ranges{{0, 9}});
  CHECK(parse("bytes=0-4,-5", 10) == Ranges{{0, 9}});
}

TEST_CASE("More ranges than max_ranges after coalescing are ignored; 0 turns ranges off") {
  CHECK(parse("bytes=0-0,2-2,4-4", 100, {.max_ranges = 2}) == std::nullopt);
  CHECK(parse("bytes=0-0,1-1,4-4", 100, {.max_ranges = 2}) == Ranges{{0, 1}, {4, 4}});
  CHECK(parse("bytes=0-0", 100, {.max_ranges = 0}) == std::nullopt);
  std::string seventeen = "bytes=0-0";
  for (int i = 1; i < 17; ++i)
    seventeen.append(",").append(std::to_string(2 * i)).append("-").append(std::to_string(2 * i));
  CHECK_FALSE(parse(seventeen, 1000)); // default: 16
  CHECK(parse(seventeen, 1000, {.max_ranges = 17})->size() == 17);
}

TEST_CASE("Parsing stops after max_specs specs, so a huge header costs little") {
  CHECK(parse("bytes=0-0,1-1,2-2", 100, {.max_specs = 2}) == std::nullopt);
  CHECK(parse("bytes=0-0,,,1-1", 100, {.max_specs = 2}) == Ranges{{0, 1}});
  // 16 KiB of "0-0,": refused at the 65th spec, nothing kept beyond 64 ranges.
  std::string huge = "bytes=";
  while (huge.size() < 16 * 1024)
    huge += "0-0,";
  CHECK_FALSE(parse(huge, 1 << 30));
  // A long header of distinct one-byte ranges, and a large max_specs: still linear, and the
  // count limit applies after coalescing.
  std::string spread = "bytes=";
  for (int i = 0; i < 4000; ++i)
    spread += std::to_string(2 * i) + "-" + std::to_string(2 * i) + ",";
  CHECK_FALSE(parse(spread, 1 << 20, {.max_ranges = 16, .max_specs = 100'000}));
  CHECK(parse(spread, 1 << 20, {.max_ranges = 4000, .max_specs = 100'000})->size() == 4000);
}

TEST_CASE("Any header parses to ranges that are within the file, disjoint and bounded") {
  // Headers drawn from the grammar's alphabet and its near misses, with a fixed seed: what
  // a fuzzer would try first.
  std::mt19937_64 rng(20261207);
  const std::string alphabet = "0123456789-,, \t=bytesBX";
  const RangeLimits limits{.max_ranges = 5, .max_specs = 12};
  for (int round = 0; round < 20000; ++round) {
    std::uint64_t size = rng() % 3 == 0 ? rng() % 5 : rng() % 100'000;
    std::string h = rng() % 4 ? "bytes=" : "";
    std::size_t len = rng() % 40;
    for (std::size_t i = 0; i < len; ++i)
      h += rng() % 3 ? alphabet[rng() % 12] : alphabet[rng() % alphabet.size()];
    auto r = parse(h, size, limits);
    if (!r) continue;
    INFO(h << " against " << size);
    REQUIRE(size > 0);
    REQUIRE(r->size() <= limits.max_ranges);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < r->size(); ++i) {
      const ByteRange& a = (*r)[i];
      REQUIRE(a.first <= a.last);
      REQUIRE(a.last < size);
      total += a.length();
      for (std::size_t j = i + 1; j < r->size(); ++j) {
        const ByteRange& b = (*r)[j];
        REQUIRE((a.last + 1 < b.first || b.last + 1 < a.first)); // neither overlap nor touch
      }
    }
    REQUIRE(total <= size);
  }
}
