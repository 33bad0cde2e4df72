// SPEC.md and Lint in step (STYLE: "spec and checker in one place", as Rack builds SPEC.rdoc
// from lint.rb): the rules SPEC.md marks *(linted)* are exactly the rules Lint reports, each
// failure names its rule, and lint_test.cpp asserts every one of them by number.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path source_dir = LITHE_SOURCE_DIR;

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  INFO("reading " << path);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string join(const std::set<std::string>& rules) {
  std::string out;
  for (const auto& r : rules)
    out += (out.empty() ? "" : ", ") + r;
  return out.empty() ? "(none)" : out;
}

// SPEC.md's rules: a paragraph that starts with its number ("2.5 SERVER_NAME is...").
struct Spec {
  std::map<std::string, std::string> rules; // number → paragraph
  std::set<std::string> linted;             // numbers whose paragraph says *(linted)*
};

Spec read_spec() {
  Spec spec;
  std::istringstream in(read(source_dir / "SPEC.md"));
  static const std::regex head(R"re(^(\d+\.\d+) )re");
  std::string line, number, paragraph;
  auto close = [&] {
    if (!number.empty()) {
      spec.rules[number] = paragraph;
      if (paragraph.find("*(linted)*") != std::string::npos) spec.linted.insert(number);
    }
    number.clear();
    paragraph.clear();
  };
  bool starts = true; // the line starts a paragraph
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.empty() || line.starts_with("#")) {
      close();
      starts = true;
      continue;
    }
    if (starts && std::regex_search(line, m, head)) {
      number = m[1];
      paragraph = line;
    } else if (!number.empty()) {
      paragraph += "\n" + line;
    }
    starts = false;
  }
  close();
  return spec;
}

std::set<std::string> captures(const std::string& text, const std::regex& re) {
  std::set<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it)
    out.insert((*it)[1]);
  return out;
}

std::size_t count(const std::string& text, const std::regex& re) {
  return static_cast<std::size_t>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

// Where Lint reports: Checker::fail("3.6", ...) in lint.cpp, and detail::report_lint({"5.2",
// ...}) wherever the engine checks its handles (core/src, middleware/src).
const std::regex fail_call(R"re(\bfail\(\s*"(\d+\.\d+)")re");
const std::regex report_call(R"re(\breport_lint\(\s*\{\s*"(\d+\.\d+)")re");

struct Citations {
  std::map<std::string, std::set<std::string>> files; // rule → files that report it
  std::set<std::string> engine;                       // rules reported through report_lint
};

Citations lint_citations() {
  Citations c;
  fs::path lint_cpp = source_dir / "core/src/lint.cpp";
  for (const auto& rule : captures(read(lint_cpp), fail_call))
    c.files[rule].insert("core/src/lint.cpp");
  for (const char* dir : {"core/src", "middleware/src"}) {
    for (const auto& entry : fs::recursive_directory_iterator(source_dir / dir)) {
      if (!entry.is_regular_file()) continue;
      auto ext = entry.path().extension();
      if (ext != ".cpp" && ext != ".hpp") continue;
      for (const auto& rule : captures(read(entry.path()), report_call)) {
        c.files[rule].insert(fs::relative(entry.path(), source_dir).string());
        c.engine.insert(rule);
      }
    }
  }
  return c;
}

// A lint test names the rule it asserts: `c.has("3.6")` (Lint's report) or `log.has("5.2")`
// (the engine's, through the error log).
std::set<std::string> tested_rules() {
  return captures(read(source_dir / "tests/unit/lint_test.cpp"),
                  std::regex(R"re(\bhas\(\s*"(\d+\.\d+)"\s*\))re"));
}

} // namespace

TEST_CASE("SPEC.md numbers its rules and marks those Lint checks *(linted)*") {
  Spec spec = read_spec();
  CHECK(spec.rules.size() > 50);
  CHECK(spec.linted.size() > 10);
  CHECK(spec.rules.count("2.5") == 1);
  CHECK(spec.linted.count("2.5") == 1);
  CHECK(spec.linted.count("1.1") == 0);
}

TEST_CASE("Every rule SPEC.md marks *(linted)* is reported by Lint or the engine's checks") {
  Spec spec = read_spec();
  Citations cited = lint_citations();
  std::set<std::string> missing;
  for (const auto& rule : spec.linted)
    if (!cited.files.count(rule)) missing.insert(rule);
  INFO("SPEC.md marks these *(linted)* but no fail(\"N.N\", ...) in core/src/lint.cpp and no "
       "report_lint({\"N.N\", ...}) in core/src or middleware/src reports them: "
       << join(missing) << ". Lint them, or drop the mark.");
  CHECK(missing.empty());
}

TEST_CASE("Every rule Lint reports is in SPEC.md and marked *(linted)*") {
  Spec spec = read_spec();
  std::set<std::string> unknown, unmarked;
  for (const auto& [rule, files] : lint_citations().files) {
    std::string where;
    for (const auto& f : files)
      where += " " + f;
    if (!spec.rules.count(rule))
      unknown.insert(rule + " (" + where.substr(1) + ")");
    else if (!spec.linted.count(rule))
      unmarked.insert(rule + " (" + where.substr(1) + ")");
  }
  INFO("Lint cites rules SPEC.md does not have: " << join(unknown));
  CHECK(unknown.empty());
  INFO("Lint reports rules SPEC.md does not mark *(linted)*: " << join(unmarked)
                                                               << ". Mark them, or stop linting.");
  CHECK(unmarked.empty());
}

TEST_CASE("Every *(linted)* rule has a lint test that asserts Lint names it") {
  Spec spec = read_spec();
  std::set<std::string> tested = tested_rules(), untested, stray;
  for (const auto& rule : spec.linted)
    if (!tested.count(rule)) untested.insert(rule);
  for (const auto& rule : tested)
    if (!spec.linted.count(rule)) stray.insert(rule);
  INFO(
      "no has(\"N.N\") in tests/unit/lint_test.cpp for these *(linted)* rules: " << join(untested));
  CHECK(untested.empty());
  INFO("tests/unit/lint_test.cpp asserts rules SPEC.md does not mark *(linted)*: " << join(stray));
  CHECK(stray.empty());
}

TEST_CASE("Every failure lint.cpp reports names its rule as a literal number") {
  std::string lint_cpp = read(source_dir / "core/src/lint.cpp");
  // Calls of fail( and report_lint( other than their own definitions.
  std::size_t fails = count(lint_cpp, std::regex(R"re(\bfail\((?!std::string))re"));
  std::size_t cited = count(lint_cpp, fail_call);
  CHECK(cited > 10);
  INFO("a fail(...) call in core/src/lint.cpp does not start with a rule number (\"3.6\")");
  CHECK(fails == cited);
}

TEST_CASE("SPEC 9.1 lists exactly the rules the engine's own checks report") {
  // "async-aware checks (§4.6, 4.7, 5.1-5.4) included": ranges within one section.
  Spec spec = read_spec();
  const std::string& text = spec.rules["9.1"];
  std::smatch list;
  REQUIRE(std::regex_search(text, list, std::regex(R"re(async-aware checks \(([^)]*)\))re")));
  std::string items = list[1];
  std::set<std::string> listed;
  static const std::regex item(R"re((\d+)\.(\d+)(?:-(\d+)\.(\d+))?)re");
  for (std::sregex_iterator it(items.begin(), items.end(), item), end; it != end; ++it) {
    const std::smatch& m = *it;
    int section = std::stoi(m[1]), first = std::stoi(m[2]);
    int last = m[3].matched ? std::stoi(m[4]) : first;
    REQUIRE((!m[3].matched || std::stoi(m[3]) == section));
    for (int n = first; n <= last; ++n)
      listed.insert(std::to_string(section) + "." + std::to_string(n));
  }
  std::set<std::string> reported = lint_citations().engine;
  INFO("SPEC 9.1 lists " << join(listed) << "; report_lint reports " << join(reported));
  CHECK(listed == reported);
}
