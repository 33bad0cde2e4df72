// Multipart: the RFCs' examples, every split of a body, delimiters that are not quite ones, and
// each limit reached.
#include <lithe/mw/multipart.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace lithe;
using namespace lithe::mw;

namespace {

/// What the callbacks saw, as text: "[name|filename|type]data/" per part, "$" at the end.
struct Log {
  std::string text;
  std::vector<std::string> data; // each part's bytes
  int after_error = 0;
};

MultipartCallbacks logging(Log& log) {
  return {.on_part =
              [&log](const PartHead& h) {
                log.text += "[" + std::string(h.name) + "|" +
                            (h.has_filename ? std::string(h.filename) : "-") + "|" +
                            std::string(h.content_type) + "]";
                log.data.emplace_back();
              },
          .on_data =
              [&log](std::string_view d) {
                log.text.append(d);
                log.data.back().append(d);
              },
          .on_part_end = [&log] { log.text += "/"; },
          .on_end = [&log] { log.text += "$"; }};
}

struct Result {
  Log log;
  MultipartError error = MultipartError::none;
};

Result parse(std::string_view boundary, const std::vector<std::string_view>& pieces,
             MultipartLimits limits = {}) {
  Result r;
  MultipartParser p(boundary, logging(r.log), limits);
  for (std::string_view piece : pieces) {
    r.error = p.feed(piece);
    if (r.error != MultipartError::none) return r;
  }
  r.error = p.finish();
  return r;
}

Result parse(std::string_view boundary, std::string_view body, MultipartLimits limits = {}) {
  return parse(boundary, std::vector<std::string_view>{body}, limits);
}

std::string crlf(std::string_view lf) { // the examples written with \n, sent with CRLF
  std::string out;
  for (char c : lf) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

const std::string rfc7578 = crlf("--AaB03x\n"
                                 "content-disposition: form-data; name=\"field1\"\n"
                                 "content-type: text/plain;charset=UTF-8\n"
                                 "content-transfer-encoding: quoted-printable\n"
                                 "\n"
                                 "Joe owes =E2=82=AC100.\n"
                                 "--AaB03x--\n");

const std::string rfc2046 = crlf("This is the preamble.  It is to be ignored, though it\n"
                                 "is a handy place for composition agents to include an\n"
                                 "explanatory note to non-MIME conformant readers.\n"
                                 "\n"
                                 "--simple boundary\n"
                                 "\n"
                                 "This is implicitly typed plain US-ASCII text.\n"
                                 "It does NOT end with a linebreak.\n"
                                 "--simple boundary\n"
                                 "Content-type: text/plain; charset=us-ascii\n"
                                 "\n"
                                 "This is explicitly typed plain US-ASCII text.\n"
                                 "It DOES end with a linebreak.\n"
                                 "\n"
                                 "--simple boundary--\n"
                                 "\n"
                                 "This is the epilogue.  It is also to be ignored.\n");

const std::string rfc2046_parts = "[|-|]This is implicitly typed plain US-ASCII text.\r\n"
                                  "It does NOT end with a linebreak./"
                                  "[|-|text/plain; charset=us-ascii]This is explicitly typed "
                                  "plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n/$";

} // namespace

TEST_CASE("RFC 7578's example parses into one field with its type") {
  Result r = parse("AaB03x", rfc7578);
  CHECK(r.error == MultipartError::none);
  CHECK(r.log.text == "[field1|-|text/plain;charset=UTF-8]Joe owes =E2=82=AC100./$");
}

TEST_CASE("RFC 2046's example skips the preamble and epilogue and keeps each part's bytes") {
  Result r = parse("simple boundary", rfc2046);
  CHECK(r.error == MultipartError::none);
  CHECK(r.log.text == rfc2046_parts);
}

TEST_CASE("Every split of a body into three pieces gives the same parts") {
  for (std::size_t i = 0; i <= rfc2046.size(); ++i)
    for (std::size_t j = i; j <= rfc2046.size(); j += 7) {
      std::string_view b = rfc2046;
      Result r = parse("simple boundary", {b.substr(0, i), b.substr(i, j - i), b.substr(j)});
      REQUIRE(r.error == MultipartError::none);
      REQUIRE(r.log.text == rfc2046_parts);
    }
}

TEST_CASE("A body fed one byte at a time gives the same parts") {
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < rfc2046.size(); ++i)
    bytes.push_back(std::string_view(rfc2046).substr(i, 1));
  Result r = parse("simple boundary", bytes);
  CHECK(r.error == MultipartError::none);
  CHECK(r.log.text == rfc2046_parts);
}

TEST_CASE("Data that looks like the start of a delimiter is data") {
  std::string data = "a\r\n--AaB03\r\n--AaB0\r\r\n-\r\n--AaB03y\r\r\n--AaB03";
  std::string body = "--AaB03x\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n" + data +
                     "\r\n--AaB03x--\r\n";
  Result whole = parse("AaB03x", body);
  CHECK(whole.error == MultipartError::none);
  REQUIRE(whole.log.data.size() == 1);
  CHECK(whole.log.data[0] == data);
  for (std::size_t i = 0; i <= body.size(); ++i) {
    Result r =
        parse("AaB03x", {std::string_view(body).substr(0, i), std::string_view(body).substr(i)});
    REQUIRE(r.error == MultipartError::none);
    REQUIRE(r.log.data.size() == 1);
    REQUIRE(r.log.data[0] == data);
  }
}

TEST_CASE("A megabyte of near-delimiters fed a byte at a time is data, parsed whole") {
  std::string data;
  while (data.size() < (1 << 20))
    data += "\r\n--AaB03\r\n--AaB0\r";
  std::string body =
      "--AaB03x\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n" + data + "\r\n--AaB03x--";
  Log log;
  MultipartParser p("AaB03x", logging(log));
  for (char c : body)
    REQUIRE(p.feed(std::string_view(&c, 1)) == MultipartError::none);
  CHECK(p.finish() == MultipartError::none);
  REQUIRE(log.data.size() == 1);
  CHECK(log.data[0] == data);
}

TEST_CASE("A body that starts with its delimiter has no preamble, and an empty part is empty") {
  Result r = parse("b", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n--b--");
  CHECK(r.error == MultipartError::none);
  CHECK(r.log.text == "[a|-|]/$");
}

TEST_CASE("Transport padding after a delimiter is allowed") {
  Result r = parse("b", "--b  \t\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--");
  CHECK(r.error == MultipartError::none);
  CHECK(r.log.text == "[a|-|]x/$");
}

TEST_CASE("A body without its close delimiter is truncated") {
  CHECK(parse("b", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz").error ==
        MultipartError::truncated);
  CHECK(parse("b", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz\r\n--b").error ==
        MultipartError::truncated);
  CHECK(parse("b", "").error == MultipartError::truncated);
}

TEST_CASE("Bare LF line ends are refused, in headers and after a delimiter") {
  CHECK(parse("b", "--b\nContent-Disposition: form-data; name=\"a\"\n\nx\n--b--").error ==
        MultipartError::bad_delimiter);
  CHECK(parse("b", "--b\r\nContent-Disposition: form-data; name=\"a\"\n\r\nx\r\n--b--").error ==
        MultipartError::bad_header);
}

TEST_CASE("A delimiter followed by junk is refused") {
  CHECK(parse("b", "--bX\r\n\r\n").error == MultipartError::bad_delimiter);
  CHECK(parse("b", "--b-X").error == MultipartError::bad_delimiter);
}

TEST_CASE("A header line without a name or colon, or with a control byte, is refused") {
  CHECK(parse("b", "--b\r\nno colon here\r\n\r\n").error == MultipartError::bad_header);
  CHECK(parse("b", "--b\r\n: empty name\r\n\r\n").error == MultipartError::bad_header);
  CHECK(parse("b", std::string("--b\r\nX: a") + '\0' + "b\r\n\r\n").error ==
        MultipartError::bad_header);
  CHECK(parse("b", "--b\r\n folded: x\r\n\r\n").error == MultipartError::bad_header);
}

TEST_CASE("Content-Disposition's name, filename and filename* are read as RFC 7578 says") {
  auto head = [](std::string_view disposition) {
    std::string body = "--b\r\nContent-Disposition: " + std::string(disposition) +
                       "\r\nContent-Type: image/png\r\n\r\nx\r\n--b--";
    return parse("b", body).log.text;
  };
  CHECK(head("form-data; name=\"file\"; filename=\"a.png\"") == "[file|a.png|image/png]x/$");
  CHECK(head("form-data; name=file; filename=a.png") == "[file|a.png|image/png]x/$");
  CHECK(head("form-data; name=\"f\"; filename=\"C:\\dir\\a.png\"") == "[f|a.png|image/png]x/$");
  CHECK(head("form-data; name=\"f\"; filename=\"../../etc/passwd\"") == "[f|passwd|image/png]x/$");
  CHECK(head("form-data; name=\"q\\\"x\"; filename=\"\"") == "[q\"x||image/png]x/$");
  CHECK(head("form-data; name=\"f\"; filename=\"a.png\"; filename*=UTF-8''%e2%82%ac.png") ==
        "[f|\xe2\x82\xac.png|image/png]x/$");
  CHECK(head("form-data; name=\"f\"; filename*=iso-8859-1'en'%A3.png") ==
        "[f|\xc2\xa3.png|image/png]x/$");
  CHECK(head("FORM-DATA;NAME=\"f\" ; FileName=\"a;b.png\"") == "[f|a;b.png|image/png]x/$");
  CHECK(head("form-data") == "[|-|image/png]x/$");
}

TEST_CASE("The boundary comes from the Content-Type, quoted or not, and is checked") {
  CHECK(multipart_boundary("multipart/form-data; boundary=AaB03x") == "AaB03x");
  CHECK(multipart_boundary("multipart/form-data; charset=utf-8; boundary=\"a b:c\"") == "a b:c");
  CHECK(multipart_boundary("multipart/form-data; BOUNDARY=----WebKitFormBoundary7MA4YWxkTrZu0gW") ==
        "----WebKitFormBoundary7MA4YWxkTrZu0gW");
  CHECK_FALSE(multipart_boundary("multipart/form-data"));
  CHECK_FALSE(multipart_boundary("multipart/form-data; boundary="));
  CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=\"ends in space \""));
  CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'a')));
  CHECK(multipart_boundary("multipart/form-data; boundary=" + std::string(70, 'a')));
  CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=\"a\rb\""));
  MultipartParser bad(std::string(71, 'a'), {});
  CHECK(bad.error() == MultipartError::bad_boundary);
  CHECK(bad.feed("--") == MultipartError::bad_boundary);
}

TEST_CASE("Each limit ends the body with its own error") {
  MultipartLimits small{.max_header_bytes = 64,
                        .max_headers = 2,
                        .max_parts = 2,
                        .max_preamble = 10,
                        .max_epilogue = 10};
  std::string part = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
  CHECK(parse("b", part + part + "--b--", small).error == MultipartError::none);
  CHECK(parse("b", part + part + part + "--b--", small).error == MultipartError::too_many_parts);
  CHECK(parse("b", "--b\r\nX-Long: " + std::string(64, 'h') + "\r\n\r\n", small).error ==
        MultipartError::header_too_large);
  CHECK(parse("b", "--b\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", small).error ==
        MultipartError::too_many_headers);
  CHECK(parse("b", "0123456789\r\n" + part + "--b--", small).error ==
        MultipartError::preamble_too_large);
  CHECK(parse("b", part + "--b--\r\n0123456789", small).error ==
        MultipartError::epilogue_too_large);
  CHECK(parse("b", "--b" + std::string(100, ' ') + "\r\n", small).error ==
        MultipartError::bad_delimiter);
}

TEST_CASE("A header section without an end is refused at its limit, fed a byte at a time") {
  MultipartLimits small{.max_header_bytes = 1000};
  MultipartParser p("b", {}, small);
  std::string body = "--b\r\n" + std::string(5000, 'x');
  MultipartError e = MultipartError::none;
  for (char c : body)
    if ((e = p.feed(std::string_view(&c, 1))) != MultipartError::none) break;
  CHECK(e == MultipartError::header_too_large);
}

TEST_CASE("After abort() no callback runs and every feed reports it") {
  int parts = 0;
  MultipartParser* self = nullptr;
  MultipartParser p("b", {.on_part =
                              [&](const PartHead&) {
                                ++parts;
                                self->abort();
                              },
                          .on_data = [&](std::string_view) { FAIL("data after abort"); },
                          .on_part_end = [&] { FAIL("end after abort"); },
                          .on_end = [&] { FAIL("end after abort"); }});
  self = &p;
  std::string part = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
  CHECK(p.feed(part + part + "--b--") == MultipartError::aborted);
  CHECK(p.feed(part) == MultipartError::aborted);
  CHECK(p.finish() == MultipartError::aborted);
  CHECK(parts == 1);
}

TEST_CASE("Part headers are there by name, case-insensitively") {
  std::vector<std::string> seen;
  MultipartParser p("b", {.on_part = [&](const PartHead& h) {
                      seen.push_back(std::string(h.header("x-custom").value_or("none")));
                      seen.push_back(std::to_string(h.headers.size()));
                    }});
  p.feed("--b\r\nX-Custom:  v  \r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b--");
  CHECK(p.finish() == MultipartError::none);
  CHECK(seen == std::vector<std::string>{"v", "2"});
}
