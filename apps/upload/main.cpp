// lithe-upload: request bodies streamed to the app as they arrive (SPEC 2.12), with
// backpressure down to the socket, so an upload larger than memory costs a few buffers.
//   POST /sha256        hashes the body as it comes (a coroutine reading env.input()) and
//                       answers its SHA-256 in hex
//   PUT  /files/:name   writes the body to --dir/NAME (push callbacks), at most --max-file
//                       bytes; 201 with the size, 413 past the limit
//   POST /form          a form (urlencoded or multipart, through mw::params: files spooled to
//                       unnamed files in --dir or /tmp, at most --max-file bytes each and in
//                       all); answers one line per value, "name=value" or "name: file NAME
//                       TYPE SIZE" (and the file's SHA-256 with ?sha256=1)
//   GET  /              what it does
#include <lithe/co.hpp>
#include <lithe/lithe.hpp>
#include <lithe/mw/params.hpp>
#include <lithe/mw/router.hpp>
#include <lithe/server.hpp>

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using lithe::Co;
using lithe::Env;
using lithe::InputChunk;
using lithe::InputError;
using lithe::Response;

Response text(int status, std::string body) {
  return {status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
}

struct DigestDeleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

// The digest in hex, as sha256sum prints it.
std::string hex_digest(EVP_MD_CTX* md) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(md, digest, &n);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

Co<Response> sha256(Env& env) {
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> md(EVP_MD_CTX_new());
  if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1)
    co_return text(500, "Internal Server Error: no SHA-256 in this OpenSSL\n");
  for (;;) {
    InputChunk c = co_await env.input().read();
    if (c.end) {
      if (c.error != InputError::none) // the engine answered already (413, 408) or the client left
        co_return text(400, "Bad Request: " + std::string(lithe::to_string(c.error)) + "\n");
      break;
    }
    EVP_DigestUpdate(md.get(), c.data.data(), c.data.size());
  }
  co_return text(200, hex_digest(md.get()) + "\n");
}

// A file name this app writes: letters, digits, '.', '-', '_', not starting with '.'.
bool safe_name(std::string_view n) {
  if (n.empty() || n.size() > 200 || n.front() == '.') return false;
  for (char c : n)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
      return false;
  return true;
}

// An upload in progress: written to NAME.part, renamed when whole, removed if not.
struct Upload {
  std::string part, path;
  int fd = -1;
  std::uint64_t size = 0;
  ~Upload() {
    if (fd >= 0) {
      ::close(fd);
      ::unlink(part.c_str());
    }
  }
  bool write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t w = ::write(fd, bytes.data(), bytes.size());
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(w));
      size += static_cast<std::size_t>(w);
    }
    return true;
  }
};

Response put_file(Env& env, const std::string& dir) {
  std::string name(env.param("name").value_or(""));
  if (!safe_name(name))
    return text(400, "Bad Request: a file name is letters, digits, '.', '-' and '_'\n");
  auto up = std::make_shared<Upload>();
  up->path = dir + "/" + name;
  up->part = up->path + ".part";
  up->fd = ::open(up->part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (up->fd < 0)
    return text(500, "Internal Server Error: " + std::string(std::strerror(errno)) + "\n");
  lithe::AsyncCallback done = env.async_callback();
  lithe::Input& in = env.input();
  // Writes to a local disk land in the page cache: short enough to do on the loop.
  in.on_data([up, &in, done](std::string_view bytes) {
    if (up->fd >= 0 && !up->write_all(bytes)) {
      done(text(507, "Insufficient Storage: " + std::string(std::strerror(errno)) + "\n"));
      ::close(std::exchange(up->fd, -1));
      ::unlink(up->part.c_str());
      in.pause(); // nothing more to write; the engine closes after the answer
    }
  });
  in.on_end([up, done] {
    if (up->fd < 0) return;
    ::close(std::exchange(up->fd, -1));
    if (::rename(up->part.c_str(), up->path.c_str()) != 0) {
      done(text(500, "Internal Server Error: " + std::string(std::strerror(errno)) + "\n"));
      return;
    }
    done(text(201, std::to_string(up->size) + " bytes\n"));
  });
  in.on_error(
      [up](InputError) {}); // the engine answered (413, 408) or the client left; ~Upload cleans
  return lithe::async;
}

std::string hex_sha256(int fd) {
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> md(EVP_MD_CTX_new());
  if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1) return "?";
  char buf[1 << 16];
  off_t at = 0;
  for (ssize_t n; (n = ::pread(fd, buf, sizeof buf, at)) > 0; at += n)
    EVP_DigestUpdate(md.get(), buf, static_cast<std::size_t>(n));
  return hex_digest(md.get());
}

// What params saw, one line per value, under its Rack name (user[name], tags[]).
void describe(lithe::mw::Param p, const std::string& name, bool digest, std::string& out) {
  if (p.is_string()) {
    out += name + "=" + std::string(p.str()) + "\n";
  } else if (const lithe::mw::UploadedFile* f = p.file()) {
    out += name + ": file " + f->filename + " " + f->content_type + " " + std::to_string(f->size) +
           (digest ? " " + hex_sha256(f->file.fd()) : "") + "\n";
  } else {
    for (lithe::mw::Param c : p)
      describe(c, name.empty() ? std::string(c.key()) : name + "[" + std::string(c.key()) + "]",
               digest, out);
  }
}

Response form(Env& env) {
  const lithe::mw::Params& p = lithe::mw::params(env);
  bool digest = p.query().root()["sha256"].str() == "1";
  std::string out;
  describe(p.body().root(), "", digest, out);
  return text(200, out);
}

} // namespace

int main(int argc, char** argv) {
  lithe::Program program;
  program.name = "lithe-upload";
  program.description = "Streams request bodies: POST /sha256, PUT /files/:name, POST /form";
  program.defaults.http.stream_bodies = true;
  program.defaults.http.max_stream_body_bytes = 64ULL << 30;
  program.extra_flags = {{"dir", "where PUT /files/:name writes (required for PUT)", ""},
                         {"max-file", "the largest file PUT accepts, in bytes", "1073741824"}};
  return lithe::run(program, argc, argv, [](const lithe::CommandLine& cl) {
    std::string dir = cl.extra.at("dir");
    std::uint64_t max_file = std::strtoull(cl.extra.at("max-file").c_str(), nullptr, 10);
    lithe::mw::ParamsOptions po;
    po.max_file_bytes = po.max_files_bytes = max_file;
    if (!dir.empty()) po.dir = dir;
    lithe::mw::Router r;
    r.get("/", [](Env&) {
      return text(200,
                  "lithe-upload: POST /sha256 (the body's SHA-256), PUT /files/NAME, POST /form\n");
    });
    r.post("/sha256", sha256, {.stream = true, .max_body = cl.server.http.max_stream_body_bytes});
    r.put("/files/:name",
          [dir](Env& env) {
            if (dir.empty())
              return text(403, "Forbidden: start lithe-upload with --dir to allow PUT\n");
            return put_file(env, dir);
          },
          {.stream = true, .max_body = max_file});
    r.post("/form", lithe::mw::params(po)(form),
           {.stream = true, .max_body = cl.server.http.max_stream_body_bytes});
    return lithe::App(r);
  });
}
