// Params: Rack's nested names, the query and body merged, multipart fields and files, and
// every limit answered 400 or 413 with its reason.
#include <lithe/lithe.hpp>
#include <lithe/mw/params.hpp>
#include <lithe/mw/router.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace lithe;
using namespace lithe::mw;

namespace {

ParamTree tree(std::string_view form, ParamsOptions o = {}) {
  ParamTree t;
  REQUIRE(t.add_form(form, o) == ParamsError::none);
  return t;
}

/// An app behind params() that answers what `show` makes of them.
App with_params(std::function<std::string(const Params&)> show, ParamsOptions o = {}) {
  return Builder([&](Builder& b) {
           b.use(mw::params(std::move(o)));
           b.run([show](Env& env) -> Response { return {200, {}, show(mw::params(env))}; });
         })
      .to_app();
}

MockOptions typed(std::string type) {
  MockOptions o;
  o.headers = {{"Content-Type", std::move(type)}};
  return o;
}

std::string part(std::string_view name, std::string_view value, std::string_view filename = {},
                 std::string_view type = {}) {
  std::string p = "--XyZ\r\nContent-Disposition: form-data; name=\"" + std::string(name) + "\"";
  if (filename.data()) p += "; filename=\"" + std::string(filename) + "\"";
  p += "\r\n";
  if (!type.empty()) p += "Content-Type: " + std::string(type) + "\r\n";
  return p + "\r\n" + std::string(value) + "\r\n";
}
const std::string multipart_type = "multipart/form-data; boundary=XyZ";

} // namespace

TEST_CASE("Plain names decode with + as a space and percent escapes") {
  ParamTree t = tree("q=hello+world&x=%41%42%zz&empty=&bare&=nameless");
  CHECK(t.root()["q"].str() == "hello world");
  CHECK(t.root()["x"].str() == "AB%zz");
  CHECK(t.root()["empty"].is_string());
  CHECK(t.root()["bare"].str().empty());
  CHECK(t.root().size() == 4);
}

TEST_CASE("Nested names build hashes and lists as Rack does") {
  ParamTree t = tree("user[name]=ann&user[address][city]=Oslo&tags[]=a&tags[]=b&"
                     "items[][id]=1&items[][qty]=2&items[][id]=3&m[][]=x&m[][]=y");
  Param r = t.root();
  CHECK(r["user"].is_hash());
  CHECK(r["user"]["name"].str() == "ann");
  CHECK(r["user"]["address"]["city"].str() == "Oslo");
  REQUIRE(r["tags"].is_list());
  CHECK(r["tags"].size() == 2);
  CHECK(r["tags"].at(1).str() == "b");
  REQUIRE(r["items"].size() == 2); // {id:1, qty:2}, {id:3}
  CHECK(r["items"].at(0)["id"].str() == "1");
  CHECK(r["items"].at(0)["qty"].str() == "2");
  CHECK(r["items"].at(1)["id"].str() == "3");
  REQUIRE(r["m"].size() == 2);
  CHECK(r["m"].at(1).at(0).str() == "y");
}

TEST_CASE("Rack's a[][b][c] rule fills the last hash while it lacks the whole name") {
  ParamTree t = tree("a[][b][c]=1&a[][b][d]=2&a[][b][c]=3");
  REQUIRE(t.root()["a"].size() == 2);
  CHECK(t.root()["a"].at(0)["b"]["d"].str() == "2");
  CHECK(t.root()["a"].at(1)["b"]["c"].str() == "3");
}

TEST_CASE("Brackets that do not close make one plain name") {
  ParamTree t = tree("a[b=1&c]d=2&[x]=3&e[f]g=4");
  CHECK(t.root()["a[b"].str() == "1");
  CHECK(t.root()["c]d"].str() == "2");
  CHECK(t.root()["[x]"].str() == "3");
  CHECK(t.root()["e[f]g"].str() == "4");
}

TEST_CASE("A repeated name keeps every value: get gives the last, all gives them in order") {
  Params p;
  REQUIRE(p.query().add_form("a=1&a=2&a=3&t[]=x&t[]=y&h[k]=1&h[k]=2", {}) == ParamsError::none);
  CHECK(p.get("a") == "3");
  CHECK(p.all("a") == std::vector<std::string_view>{"1", "2", "3"});
  CHECK(p.all("t") == std::vector<std::string_view>{"x", "y"});
  CHECK(p.all("t[]") == std::vector<std::string_view>{"y"});
  CHECK(p.get("t[]") == "y");
  CHECK(p.get("h[k]") == "2");
  CHECK(p.all("h[k]") == std::vector<std::string_view>{"1", "2"});
  CHECK_FALSE(p.get("t"));
  CHECK_FALSE(p.get("nope"));
  CHECK(p.all("nope").empty());
  CHECK(p.names() == std::vector<std::string_view>{"a", "t", "h"});
}

TEST_CASE("A name used as a value and as a hash is a conflict") {
  ParamTree t;
  CHECK(t.add_form("a=1&a[b]=2", {}) == ParamsError::conflict);
  ParamTree u;
  CHECK(u.add_form("a[]=1&a[b]=2", {}) == ParamsError::conflict);
}

TEST_CASE("The params, depth and bytes limits are each reached") {
  ParamsOptions o;
  o.max_params = 3;
  ParamTree t;
  CHECK(t.add_form("a=1&b=2&c=3", o) == ParamsError::none);
  CHECK(t.add_form("d=4", o) == ParamsError::too_many);
  o = {};
  o.max_depth = 3;
  ParamTree d;
  CHECK(d.add_form("a[b][c][d]=1", o) == ParamsError::none);
  CHECK(d.add_form("a[b][c][d][e]=1", o) == ParamsError::too_deep);
  std::string deep = "a";
  for (int i = 0; i < 1000; ++i)
    deep += "[x]";
  ParamTree dd;
  CHECK(dd.add_form(deep + "=1", {}) == ParamsError::too_deep);
  o = {};
  o.max_field_bytes = 1000;
  ParamTree b;
  CHECK(b.add_form("a=" + std::string(500, 'x'), o) == ParamsError::none);
  CHECK(b.add_form("b=" + std::string(500, 'x'), o) == ParamsError::too_large);
}

TEST_CASE("The middleware merges the body over the query, as Rack does") {
  auto show = [](const Params& p) {
    return std::string(p.get("a").value_or("-")) + " " + std::string(p.get("b").value_or("-")) +
           " " + std::string(p.get("u[x]").value_or("-")) + " " +
           std::string(p.get("u[y]").value_or("-"));
  };
  auto r = MockRequest(with_params(show))
               .post("/?a=query&b=query&u[x]=1", "a=body&u[y]=2",
                     typed("application/x-www-form-urlencoded"));
  CHECK(r.status == 200);
  CHECK(r.body == "body query - 2"); // the body's u hides the query's whole
}

TEST_CASE("Without the middleware, params(env) is the query string's") {
  App app = [](Env& env) -> Response {
    return {200, {}, std::string(mw::params(env).get("q").value_or("-"))};
  };
  CHECK(MockRequest(app).get("/?q=x+y").body == "x y");
}

TEST_CASE("A multipart body's fields and files reach the app, files in unnamed temporary files") {
  std::string body = part("title", "Hello") + part("tags[]", "a") + part("tags[]", "b") +
                     part("doc", "file bytes\r\n--Xy", "notes.txt", "text/plain") +
                     part("pic", std::string("\x89PNG\0\x01", 6), "C:\\x\\a.png", "image/png") +
                     part("none", "", "") + "--XyZ--\r\n";
  auto show = [](const Params& p) {
    std::string out = std::string(p.get("title").value_or("-"));
    for (auto v : p.all("tags"))
      out += "," + std::string(v);
    const UploadedFile* f = p.file("doc");
    if (!f) return out + " no file";
    out +=
        " " + f->filename + " " + f->content_type + " " + std::to_string(f->size) + " " + f->read();
    const UploadedFile* g = p.file("pic");
    if (!g) return out + " no pic";
    out += " " + g->filename + " " + std::to_string(g->size);
    out += p.file("none") ? " none" : " skipped";
    return out;
  };
  auto r = MockRequest(with_params(show)).post("/", body, typed(multipart_type));
  CHECK(r.status == 200);
  CHECK(r.body == "Hello,a,b notes.txt text/plain 16 file bytes\r\n--Xy a.png 6 skipped");
}

TEST_CASE("An uploaded file can be linked to a name") {
  char dir[] = "/tmp/lithe-params-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  std::string target = std::string(dir) + "/kept.txt";
  auto keep = [target](const Params& p) {
    const UploadedFile* f = p.file("f");
    if (!f) return std::string("no file");
    std::error_code ec = f->link_to(target);
    return ec ? ec.message() : std::string("linked");
  };
  ParamsOptions o;
  o.dir = dir;
  auto r = MockRequest(with_params(keep, o))
               .post("/", part("f", "kept bytes", "k.txt") + "--XyZ--", typed(multipart_type));
  CHECK(r.body == "linked");
  char buf[32] = {};
  FILE* f = std::fopen(target.c_str(), "r");
  REQUIRE(f);
  CHECK(std::fread(buf, 1, sizeof buf, f) == 10);
  std::fclose(f);
  CHECK(std::string(buf) == "kept bytes");
  ::unlink(target.c_str());
  ::rmdir(dir);
}

TEST_CASE("Limits are answered 413 or 400 with the reason, and the app is not called") {
  auto never = [](const Params&) -> std::string {
    FAIL("the app was called");
    return {};
  };
  ParamsOptions o;
  o.max_file_bytes = 10;
  auto r =
      MockRequest(with_params(never, o))
          .post("/", part("f", std::string(11, 'x'), "big.bin") + "--XyZ--", typed(multipart_type));
  CHECK(r.status == 413);
  CHECK(r.body == "Payload Too Large: a file is larger than 10 bytes\n");

  o = {};
  o.max_files = 1;
  r = MockRequest(with_params(never, o))
          .post("/", part("a", "1", "a") + part("b", "2", "b") + "--XyZ--", typed(multipart_type));
  CHECK(r.status == 400);
  CHECK(r.body == "Bad Request: more than 1 files in one request\n");

  o = {};
  o.max_files_bytes = 15;
  r = MockRequest(with_params(never, o))
          .post("/",
                part("a", std::string(10, 'x'), "a") + part("b", std::string(10, 'x'), "b") +
                    "--XyZ--",
                typed(multipart_type));
  CHECK(r.status == 413);

  o = {};
  o.max_field_bytes = 100;
  r = MockRequest(with_params(never, o))
          .post("/", part("a", std::string(200, 'x')) + "--XyZ--", typed(multipart_type));
  CHECK(r.status == 413);
  r = MockRequest(with_params(never, o))
          .post("/", "a=" + std::string(200, 'x'), typed("application/x-www-form-urlencoded"));
  CHECK(r.status == 413);

  o = {};
  o.max_parts = 2;
  r = MockRequest(with_params(never, o))
          .post("/", part("a", "1") + part("b", "2") + part("c", "3") + "--XyZ--",
                typed(multipart_type));
  CHECK(r.status == 400);
  CHECK(r.body == "Bad Request: multipart: too many parts\n");

  o = {};
  o.max_params = 2;
  r = MockRequest(with_params(never, o)).get("/?a=1&b=2&c=3");
  CHECK(r.status == 400);
  CHECK(r.body == "Bad Request: the query string: too many parameters\n");
  r = MockRequest(with_params(never, o))
          .post("/?a=1", "b=2&c=3", typed("application/x-www-form-urlencoded"));
  CHECK(r.status == 400); // the query's pairs count against the body's

  o = {};
  o.max_depth = 2;
  r = MockRequest(with_params(never, o)).get("/?a[b][c][d]=1");
  CHECK(r.status == 400);
  CHECK(r.body == "Bad Request: the query string: a parameter name is nested too deep\n");

  r = MockRequest(with_params(never))
          .post("/", "a=1&a[b]=2", typed("application/x-www-form-urlencoded"));
  CHECK(r.status == 400);
}

TEST_CASE("A malformed multipart body is answered 400 with the parser's reason") {
  auto never = [](const Params&) -> std::string {
    FAIL("the app was called");
    return {};
  };
  auto r = MockRequest(with_params(never)).post("/", part("a", "1"), typed(multipart_type));
  CHECK(r.status == 400);
  CHECK(r.body == "Bad Request: multipart: the body ended before its final boundary\n");
  r = MockRequest(with_params(never)).post("/", "x", typed("multipart/form-data"));
  CHECK(r.status == 400);
  CHECK(r.body == "Bad Request: multipart: no valid boundary in the Content-Type\n");
  r = MockRequest(with_params(never))
          .post("/", "--XyZ\r\nbad header\r\n\r\n--XyZ--", typed(multipart_type));
  CHECK(r.body == "Bad Request: multipart: a part has a malformed header line\n");
}

TEST_CASE("Other bodies pass through untouched") {
  auto show = [](const Params& p) { return std::to_string(p.names().size()); };
  auto r = MockRequest(with_params(show)).post("/", "{\"a\":1}", typed("application/json"));
  CHECK(r.status == 200);
  CHECK(r.body == "0");
}

TEST_CASE("The router still sees form pairs decoded as before") {
  Router r;
  r.post("/f", [](Env& env) -> Response {
    return {200,
            {},
            std::string(env.param("a").value_or("-")) + "|" +
                std::string(env.param("b c").value_or("-"))};
  });
  auto res =
      MockRequest(r).post("/f?a=%2Fx", "b+c=d%20e&&=", typed("application/x-www-form-urlencoded"));
  CHECK(res.body == "/x|d e");
}
