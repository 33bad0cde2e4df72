// Multipart forms under attack (mw::params behind lithe-upload's POST /form, streamed): floods
// of tiny parts, a part whose headers never end, delimiter-like byte soup sent slowly, and a
// file past the limit. Each holds its limits' worth of memory per connection at most, uses no
// CPU while the attackers hold still, and normal clients are answered meanwhile.
#include "hostile.hpp"
#include "support/backends.hpp"

#include <catch2/catch.hpp>

using namespace lithe::hostile;

namespace {

const std::string form_head =
    "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
    "boundary=XyZ\r\nContent-Length: 30000000\r\n\r\n";

void warm(Target& t) {
  for (int i = 0; i < 20; ++i)
    REQUIRE(probe(t.port(), "/"));
}

int answered(const std::vector<int>& fds, std::string_view status) {
  int n = 0;
  for (int fd : fds)
    n += read_head(fd, 5s).starts_with("HTTP/1.1 " + std::string(status));
  return n;
}

} // namespace

TEMPLATE_TEST_CASE("A flood of tiny multipart parts is cut at the part limit with 400", "[hostile]",
                   LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("upload", TestType::name, {"--max-file", "1048576"});
  warm(t);
  Attack o{.name = "multipart-parts", .backend = TestType::name, .connections = 100};
  std::vector<int> fds = open_connections(t.port(), o.connections);
  std::this_thread::sleep_for(200ms); // connected
  o.rss_before_kib = t.rss_kib();
  send_each(fds, form_head);
  std::string parts;
  for (int i = 0; i < 1000; ++i)
    parts +=
        "--XyZ\r\nContent-Disposition: form-data; name=\"p" + std::to_string(i) + "\"\r\n\r\nx\r\n";
  auto until = std::chrono::steady_clock::now() + 2s;
  o.rss_peak_kib = peak_rss(
      t,
      [&] {
        send_each(fds, parts);
        return std::chrono::steady_clock::now() > until;
      },
      3s);
  probe_during(o, t);
  CHECK(answered(fds, "400") == static_cast<int>(o.connections)); // 4096 parts, then 400
  finish(o, t);
  close_all(fds);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("A part whose headers never end is refused at 8 KiB of them", "[hostile]",
                   LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("upload", TestType::name, {"--max-file", "1048576"});
  warm(t);
  Attack o{.name = "multipart-headers", .backend = TestType::name, .connections = 200};
  std::vector<int> fds = open_connections(t.port(), o.connections);
  std::this_thread::sleep_for(200ms); // connected
  o.rss_before_kib = t.rss_kib();
  send_each(fds, form_head + "--XyZ\r\n");
  std::string line = "X-Pad: " + std::string(90, 'h') + "\r\n";
  for (int i = 0; i < 200; ++i)
    send_each(fds, line);
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 500ms);
  probe_during(o, t);
  CHECK(answered(fds, "400") == static_cast<int>(o.connections));
  finish(o, t);
  close_all(fds);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("Delimiter-like byte soup sent slowly costs a file's bytes on disk and no CPU",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("upload", TestType::name, {"--max-file", "1048576"});
  warm(t);
  Attack o{.name = "multipart-soup", .backend = TestType::name, .connections = 200};
  std::vector<int> fds = open_connections(t.port(), o.connections);
  std::this_thread::sleep_for(200ms); // connected
  o.rss_before_kib = t.rss_kib();
  send_each(fds, form_head +
                     "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"s\"\r\n\r\n");
  std::string soup;
  while (soup.size() < 512)
    soup += "\r\n--XyY\r\n--Xy\r\r\n--X";
  auto until = std::chrono::steady_clock::now() + 2s;
  o.rss_peak_kib = peak_rss(
      t,
      [&] {
        send_each(fds, soup); // 512 bytes per connection every 20 ms
        return std::chrono::steady_clock::now() > until;
      },
      3s);
  probe_during(o, t);
  finish(o, t);
  // Still within the file's limit: no answer yet.
  CHECK(read_head(fds.front(), 100ms).empty());
  close_all(fds);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("A file past the limit is answered 413 as it streams, and leaves no file",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  TempDir dir;
  Target t("upload", TestType::name, {"--max-file", "1048576", "--dir", dir.path()});
  warm(t);
  Attack o{.name = "multipart-big-file", .backend = TestType::name, .connections = 20};
  std::vector<int> fds = open_connections(t.port(), o.connections);
  std::this_thread::sleep_for(200ms); // connected
  o.rss_before_kib = t.rss_kib();
  send_each(fds,
            form_head +
                "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big\"\r\n\r\n");
  const std::string chunk(64 * 1024, 'f');
  auto until = std::chrono::steady_clock::now() + 2s;
  o.rss_peak_kib = peak_rss(
      t,
      [&] {
        send_each(fds, chunk);
        return std::chrono::steady_clock::now() > until;
      },
      3s);
  probe_during(o, t);
  CHECK(answered(fds, "413") == static_cast<int>(o.connections));
  finish(o, t);
  close_all(fds);
  CHECK(t.stop() == 0);
  auto r = lithe::test::run_process({"find", dir.path(), "-mindepth", "1"});
  CHECK(r.out.empty()); // the spooled files had no name
}
