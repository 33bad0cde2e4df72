// Spool (spool.hpp): memory up to a threshold, then an O_TMPFILE file; written on the loop (a
// local disk's page cache takes it at memory speed; docs/input.md says when not to).
#include <lithe/mw/spool.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <unistd.h>

namespace lithe::mw {

namespace {

struct Spooler {
  SpoolOptions o;
  Function<void(SpooledBody&)> done;
  SpooledBody body;
  bool failed = false;

  void add(std::string_view bytes) {
    if (failed) return;
    body.size += bytes.size();
    if (!body.file && body.memory.size() + bytes.size() <= o.memory_limit) {
      body.memory.append(bytes);
      return;
    }
    if (!body.file && !to_file()) return;
    write_all(body.memory); // what was in memory first, once
    body.memory.clear();
    body.memory.shrink_to_fit();
    write_all(bytes);
  }

  bool to_file() {
    int fd = ::open(o.dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) return fail("cannot make a temporary file in " + o.dir);
    body.file = File(fd);
    return true;
  }

  void write_all(std::string_view b) {
    while (!failed && !b.empty()) {
      ssize_t n = ::write(body.file.fd(), b.data(), b.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fail("writing the temporary file");
        return;
      }
      b.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  bool fail(std::string what) {
    failed = true;
    body.file_error = what + ": " + std::strerror(errno);
    body.file.reset();
    body.memory.clear();
    return false;
  }

  void end(InputError e) {
    body.error = e;
    if (failed && e == InputError::none) body.error = InputError::finished;
    done(body);
  }
};

} // namespace

void spool(Env& env, SpoolOptions options, Function<void(SpooledBody&)> done) {
  auto s = std::make_shared<Spooler>();
  s->o = std::move(options);
  s->done = std::move(done);
  Input& in = env.input();
  in.set_limit(s->o.max_bytes);
  if (in.length() && *in.length() > s->o.max_bytes) {
    env.loop().next_tick([s] { s->end(InputError::too_large); });
    return;
  }
  in.on_data([s](std::string_view bytes) { s->add(bytes); });
  in.on_end([s] { s->end(InputError::none); });
  in.on_error([s](InputError e) { s->end(e); });
}

} // namespace lithe::mw
