// The JSON module: bounded parsing (size, depth, a megabyte of '[' under ASan), parser messages
// with a position, json_response, the json_body middleware's 400/413/415, and read_json in an
// async app.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/json_body.hpp>

#include <catch2/catch.hpp>

using namespace lithe;
using nlohmann::json;

namespace {

MockOptions typed(std::string type) {
  MockOptions o;
  o.headers = {{"Content-Type", std::move(type)}};
  return o;
}

App echo_name() {
  return [](Env& env) -> Response {
    const json* body = mw::request_json(env);
    if (!body) return mw::json_response(200, {{"body", nullptr}});
    return mw::json_response(201, {{"name", body->value("name", "?")}});
  };
}

} // namespace

TEST_CASE("parse_json parses within the limits and refuses what is past them") {
  auto ok = mw::parse_json(R"({"a":[1,2,{"b":null}],"c":"\u00e9"})");
  REQUIRE(ok);
  CHECK(ok.value["a"][2].contains("b"));
  CHECK(ok.value["c"] == "\xc3\xa9");
  auto big = mw::parse_json(std::string(2000, ' ') + "1", {.max_bytes = 1000});
  CHECK(big.status == 413);
  CHECK(big.error.find("1000") != std::string::npos);
  CHECK(mw::parse_json("[[[1]]]", {.max_depth = 3}));
  auto deep = mw::parse_json("[[[[1]]]]", {.max_depth = 3});
  CHECK(deep.status == 400);
  CHECK(deep.error.find("deeper than 3") != std::string::npos);
  CHECK(mw::parse_json(R"({"a":{"b":{"c":{}}}})", {.max_depth = 3}).status == 400);
}

TEST_CASE("A megabyte of '[' or '{\"a\":' is refused at the depth limit without recursing") {
  auto arrays = mw::parse_json(std::string(1 << 20, '['), {.max_bytes = 2 << 20});
  CHECK(arrays.status == 400);
  std::string objects;
  for (int i = 0; i < 200000; ++i)
    objects += "{\"a\":";
  CHECK(mw::parse_json(objects, {.max_bytes = 2 << 20}).status == 400);
}

TEST_CASE("Malformed JSON is 400 with the parser's message and the byte it stopped at") {
  auto r = mw::parse_json(R"({"a": tru})");
  CHECK(r.status == 400);
  CHECK(r.error.starts_with("malformed JSON at byte "));
  CHECK(r.error.find("invalid literal") != std::string::npos);
  CHECK(r.error.find("[json.exception") == std::string::npos);
  CHECK(mw::parse_json("").status == 400);
  CHECK(mw::parse_json("{} x").status == 400);
  CHECK(mw::parse_json("\"\xff\"").status == 400); // invalid UTF-8
  CHECK(mw::parse_json("[1,]").status == 400);
  CHECK(mw::parse_json("NaN").status == 400);
}

TEST_CASE("json_response sends application/json and replaces invalid UTF-8 instead of throwing") {
  Response r = mw::json_response(200, {{"s", "a\xff"}}, {{"X-A", "1"}});
  CHECK(r.headers.get("content-type") == "application/json");
  CHECK(r.headers.get("x-a") == "1");
  CHECK(r.body.to_string() == "{\"s\":\"a\xef\xbf\xbd\"}");
}

TEST_CASE("Content types: application/json and any +json, parameters ignored") {
  CHECK(mw::is_json_type("application/json"));
  CHECK(mw::is_json_type("Application/JSON; charset=utf-8"));
  CHECK(mw::is_json_type("application/merge-patch+json"));
  CHECK_FALSE(mw::is_json_type("text/plain"));
  CHECK_FALSE(mw::is_json_type("application/jsonx"));
  CHECK_FALSE(mw::is_json_type("+json"));
  CHECK_FALSE(mw::is_json_type(""));
}

TEST_CASE("json_body hands a parsed body to the app and answers bad ones itself") {
  MockRequest m(mw::json_body({.limits = {.max_bytes = 100, .max_depth = 4}})(echo_name()));
  auto r = m.post("/", R"({"name":"lithe"})", typed("application/json"));
  CHECK(r.status == 201);
  CHECK(r.body == R"({"name":"lithe"})");
  r = m.post("/", "{\"name\":", typed("application/vnd.api+json"));
  CHECK(r.status == 400);
  CHECK(r.header("Content-Type") == "application/json");
  CHECK(json::parse(r.body)["error"].get<std::string>().starts_with("malformed JSON"));
  CHECK(m.post("/", "[[[[[1]]]]]", typed("application/json")).status == 400);
  CHECK(m.post("/", std::string(101, ' '), typed("application/json")).status == 413);
  // Not JSON: passed on untouched unless JSON is required.
  CHECK(m.post("/", "a=b", typed("application/x-www-form-urlencoded")).body == R"({"body":null})");
  MockRequest strict(mw::json_body({.require_json = true})(echo_name()));
  CHECK(strict.post("/", "a=b", typed("text/plain")).status == 415);
  CHECK(strict.get("/").status == 200);
}

TEST_CASE("read_json in an async app answers from its callback") {
  App app = [](Env& env) -> Response {
    mw::read_json(env, {.max_bytes = 64}, [cb = env.async_callback()](mw::JsonResult r) {
      if (!r)
        cb(mw::json_error(r));
      else
        cb(mw::json_response(200, {{"n", r.value.size()}}));
    });
    return async;
  };
  MockRequest m(app);
  CHECK(m.post("/", "[1,2,3]").body == R"({"n":3})");
  CHECK(m.post("/", std::string(65, '1')).status == 413);
  CHECK(m.post("/", "[1,").status == 400);
}
