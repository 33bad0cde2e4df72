// The boundary between core and middleware (DESIGN: dependencies point one way; STYLE: "a
// boundary that is never crossed", libuv's uv_/uv__): middleware/ includes only public
// headers, never lithe/detail/, so core may change its internals without touching middleware.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace fs = std::filesystem;

TEST_CASE("No file under middleware/ includes a lithe/detail/ header") {
  const fs::path root = fs::path(LITHE_SOURCE_DIR) / "middleware";
  REQUIRE(fs::is_directory(root));
  static const std::regex include_detail(R"re(^\s*#\s*include\s*[<"]lithe/detail/)re");
  std::vector<std::string> offenders;
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    auto ext = entry.path().extension();
    if (ext != ".cpp" && ext != ".hpp" && ext != ".h" && ext != ".inl") continue;
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    for (int n = 1; std::getline(in, line); ++n)
      if (std::regex_search(line, include_detail))
        offenders.push_back(fs::relative(entry.path(), LITHE_SOURCE_DIR).string() + ":" +
                            std::to_string(n) + ": " + line);
  }
  CHECK(files > 20);
  std::string list;
  for (const auto& o : offenders)
    list += "\n  " + o;
  INFO("middleware must include only public headers (<lithe/...>, <lithe/mw/...>), never "
       "lithe/detail/: move what it needs into the public API (core/include/lithe) instead:"
       << list);
  CHECK(offenders.empty());
}
