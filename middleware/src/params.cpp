// Params (params.hpp). A tree is one vector of nodes (children linked in arrival order) plus a
// hash index from (parent, key) to the last child of that name, so decoding stays linear in
// the pairs however many share a hash. Every node is charged to max_field_bytes with its own
// size, so the memory a form can make is bounded by the bytes it may bring.
#include <lithe/mw/multipart.hpp>
#include <lithe/mw/params.hpp>

#include <lithe/str.hpp>

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace lithe::mw {

std::string_view to_string(ParamsError e) noexcept {
  switch (e) {
  case ParamsError::none:
    return "none";
  case ParamsError::too_many:
    return "too many parameters";
  case ParamsError::too_deep:
    return "a parameter name is nested too deep";
  case ParamsError::conflict:
    return "a parameter name is used both as a value and a hash or list";
  case ParamsError::too_large:
    return "the parameters are too large";
  case ParamsError::malformed:
    return "the multipart body is malformed";
  case ParamsError::file_error:
    return "an uploaded file could not be stored";
  }
  return "unknown";
}

std::string_view form_decode(std::string_view raw, std::string& scratch) {
  if (raw.find_first_of("%+") == std::string_view::npos) return raw;
  scratch = percent_decode(raw, true);
  return scratch;
}

std::error_code UploadedFile::link_to(const std::string& path) const {
  std::string proc = "/proc/self/fd/" + std::to_string(file.fd());
  if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0)
    return {errno, std::generic_category()};
  return {};
}

std::string UploadedFile::read() const {
  std::string out(static_cast<std::size_t>(size), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(file.fd(), out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

namespace {

/// A Rack name cut into its key and bracket segments ("a[b][]" -> a, b, ""); a name whose
/// brackets do not close is one plain key.
struct Path {
  std::string_view segs[64];
  std::size_t n = 0;
  bool too_deep = false;
};

void split_name(std::string_view name, std::size_t max_depth, Path& p) {
  std::size_t open = name.size() > 1 ? name.find('[', 1) : std::string_view::npos;
  p.n = 0;
  p.segs[p.n++] = name.substr(0, open);
  if (open == std::string_view::npos) return;
  std::string_view rest = name.substr(open);
  while (!rest.empty()) {
    std::size_t close = rest.front() == '[' ? rest.find(']') : std::string_view::npos;
    if (close == std::string_view::npos) { // unclosed or junk after a bracket: a plain key
      p.n = 1;
      p.segs[0] = name;
      return;
    }
    if (p.n - 1 >= max_depth || p.n == std::size(p.segs)) {
      p.too_deep = true;
      return;
    }
    p.segs[p.n++] = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
  }
}

constexpr std::size_t node_cost = 96; // a node's own bookkeeping, charged to max_field_bytes

} // namespace

// ---- Param

Param::Kind Param::kind() const noexcept {
  return t_ ? t_->nodes_[i_].kind : Kind::none;
}
std::string_view Param::str() const noexcept {
  return kind() == Kind::string ? std::string_view(t_->nodes_[i_].value) : std::string_view{};
}
std::string_view Param::key() const noexcept {
  return t_ ? std::string_view(t_->nodes_[i_].key) : std::string_view{};
}
Param Param::operator[](std::string_view key) const {
  if (kind() != Kind::hash) return {};
  std::uint32_t c = t_->child(i_, key);
  return c ? Param(t_, c) : Param();
}
Param Param::at(std::size_t n) const noexcept {
  if (kind() != Kind::list && kind() != Kind::hash) return {};
  for (std::uint32_t c = t_->nodes_[i_].first; c; c = t_->nodes_[c].next)
    if (n-- == 0) return {t_, c};
  return {};
}
std::size_t Param::size() const noexcept {
  return t_ ? t_->nodes_[i_].size : 0;
}
const UploadedFile* Param::file() const noexcept {
  return kind() == Kind::file ? &t_->files_[t_->nodes_[i_].file] : nullptr;
}
Param::iterator& Param::iterator::operator++() noexcept {
  i_ = t_->nodes_[i_].next;
  return *this;
}
Param::iterator Param::begin() const noexcept {
  bool container = kind() == Kind::list || kind() == Kind::hash;
  return {t_, container ? t_->nodes_[i_].first : 0};
}
Param::iterator Param::end() const noexcept {
  return {t_, 0};
}

// ---- ParamTree

namespace {
std::string index_key(std::uint32_t parent, std::string_view key) {
  std::string k(reinterpret_cast<const char*>(&parent), sizeof parent);
  k.append(key);
  return k;
}
} // namespace

ParamTree::ParamTree() {
  nodes_.emplace_back(); // the root hash
}

std::uint32_t ParamTree::child(std::uint32_t parent, std::string_view key) const {
  auto it = index_.find(index_key(parent, key));
  return it == index_.end() ? 0 : it->second;
}

std::uint32_t ParamTree::append(std::uint32_t parent, std::string_view key, Param::Kind kind) {
  auto i = static_cast<std::uint32_t>(nodes_.size());
  Node& n = nodes_.emplace_back();
  n.kind = kind;
  n.parent = parent;
  n.key = key;
  Node& p = nodes_[parent];
  if (p.last)
    nodes_[p.last].next = i;
  else
    p.first = i;
  p.last = i;
  ++p.size;
  if (p.kind == Param::Kind::hash) index_[index_key(parent, key)] = i;
  bytes_ += node_cost + key.size();
  return i;
}

ParamsError ParamTree::place(std::string_view name, Param::Kind kind, std::string_view value,
                             std::uint32_t& leaf, const ParamsOptions& o) {
  if (count_ + 1 > o.max_params) return ParamsError::too_many;
  ++count_;
  Path path;
  split_name(name, o.max_depth, path);
  if (path.too_deep) return ParamsError::too_deep;
  if (path.segs[0].empty()) return ParamsError::none; // Rack ignores a nameless pair
  if (bytes_ + name.size() + value.size() + path.n * node_cost > o.max_field_bytes)
    return ParamsError::too_large;
  std::uint32_t at = 0;
  for (std::size_t i = 0; i < path.n; ++i) {
    const bool last = i + 1 == path.n;
    const Param::Kind need = last                       ? kind
                             : path.segs[i + 1].empty() ? Param::Kind::list
                                                        : Param::Kind::hash;
    if (nodes_[at].kind == Param::Kind::hash) {
      std::uint32_t c = last ? 0 : child(at, path.segs[i]);
      if (!c) c = append(at, path.segs[i], need);
      if (nodes_[c].kind != need) return ParamsError::conflict;
      at = c;
      continue;
    }
    // A list, reached through "[]": this segment is "" and says "a new entry", except that
    // a[][b] fills the last hash while it lacks the rest of the name (Rack's rule).
    if (need == Param::Kind::hash) {
      std::uint32_t h = nodes_[at].last;
      bool fits = h && nodes_[h].kind == Param::Kind::hash;
      std::uint32_t walk = h;
      for (std::size_t j = i + 1; fits && j < path.n && walk; ++j)
        walk = path.segs[j].empty() || nodes_[walk].kind != Param::Kind::hash
                   ? 0
                   : child(walk, path.segs[j]);
      if (fits && !walk) {
        at = h;
        continue;
      }
    }
    at = append(at, {}, need);
  }
  if (kind == Param::Kind::string) {
    nodes_[at].value = value;
    bytes_ += value.size();
  }
  leaf = at;
  return ParamsError::none;
}

ParamsError ParamTree::add(std::string_view name, std::string_view value, const ParamsOptions& o) {
  std::uint32_t leaf = 0;
  return place(name, Param::Kind::string, value, leaf, o);
}

ParamsError ParamTree::add_file(std::string_view name, UploadedFile file, const ParamsOptions& o) {
  std::uint32_t leaf = 0;
  if (ParamsError e = place(name, Param::Kind::file, {}, leaf, o); e != ParamsError::none) return e;
  if (leaf) {
    nodes_[leaf].file = static_cast<std::uint32_t>(files_.size());
    files_.push_back(std::move(file));
  }
  return ParamsError::none;
}

ParamsError ParamTree::add_form(std::string_view form, const ParamsOptions& o) {
  ParamsError e = ParamsError::none;
  std::string n, v;
  for_each_form_pair(form, [&](std::string_view name, std::string_view value) {
    e = add(form_decode(name, n), form_decode(value, v), o);
    return e == ParamsError::none;
  });
  return e;
}

// ---- Params

namespace {
/// The node a Rack name leads to from `root` (a "[]" segment takes a list's last entry), and
/// the hash that holds its last step (for repeated names).
Param walk(Param root, const Path& p, Param* holder = nullptr) {
  Param at = root;
  for (std::size_t i = 0; i < p.n && at; ++i) {
    if (holder) *holder = at;
    if (at.is_hash())
      at = at[p.segs[i]];
    else if (at.is_list() && p.segs[i].empty())
      at = at.size() ? at.at(at.size() - 1) : Param();
    else
      return {};
  }
  return at;
}
} // namespace

Param Params::child(std::string_view name) const {
  Path p;
  split_name(name, 64, p);
  if (p.too_deep) return {};
  Param b = body_.root()[p.segs[0]];
  return walk(b ? body_.root() : query_.root(), p);
}

std::optional<std::string_view> Params::get(std::string_view name) const {
  Param c = child(name);
  if (!c.is_string()) return std::nullopt;
  return c.str();
}

std::vector<std::string_view> Params::all(std::string_view name) const {
  std::vector<std::string_view> out;
  Path p;
  split_name(name, 64, p);
  if (p.too_deep) return out;
  Param b = body_.root()[p.segs[0]];
  Param holder;
  Param target = walk(b ? body_.root() : query_.root(), p, &holder);
  if (!target) return out;
  if (target.is_list()) {
    for (Param e : target)
      if (e.is_string()) out.push_back(e.str());
    return out;
  }
  if (!holder.is_hash()) {
    if (target.is_string()) out.push_back(target.str());
    return out;
  }
  for (Param e : holder) // every entry of the repeated name, in order
    if (e.key() == target.key() && e.is_string()) out.push_back(e.str());
  return out;
}

const UploadedFile* Params::file(std::string_view name) const {
  return child(name).file();
}

std::vector<std::string_view> Params::names() const {
  std::vector<std::string_view> out;
  auto add = [&](Param root, bool skip_body) {
    for (Param e : root) {
      if (skip_body && body_.root()[e.key()]) continue;
      if (root[e.key()].key().data() == e.key().data()) out.push_back(e.key()); // the last one
    }
  };
  add(body_.root(), false);
  add(query_.root(), true);
  return out;
}

// ---- The middleware

namespace {

Response refuse(ParamsError e, std::string_view why) {
  int status = e == ParamsError::too_large ? 413 : e == ParamsError::file_error ? 500 : 400;
  std::string text = status == 413   ? "Payload Too Large: "
                     : status == 500 ? "Internal Server Error: "
                                     : "Bad Request: ";
  text.append(why.empty() ? to_string(e) : why);
  text.push_back('\n');
  return {status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(text)};
}

std::string_view media_type(std::string_view ct) {
  return trim_ows(ct.substr(0, ct.find(';')));
}

File temp_file(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string path = dir + "/lithe-upload-XXXXXX"; // no O_TMPFILE here: unlinked at once
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(path.c_str());
  }
  return File(fd);
}

/// One multipart body being decoded into the body tree.
struct FormReader {
  std::shared_ptr<Params> p;
  ParamsOptions o; // the body's share: what the query left of the counts and bytes
  MultipartParser parser;
  ParamsError error = ParamsError::none;
  std::string reason;
  enum class Part : std::uint8_t { skip, field, file } part = Part::skip;
  std::string name, value;
  UploadedFile upload;
  std::uint64_t files_bytes = 0;

  FormReader(std::shared_ptr<Params> params, ParamsOptions opts, std::string_view boundary)
      : p(std::move(params)), o(std::move(opts)),
        parser(boundary,
               {.on_part = [this](const PartHead& h) { begin(h); },
                .on_data = [this](std::string_view d) { data(d); },
                .on_part_end = [this] { end(); },
                .on_end = {}},
               {.max_header_bytes = o.max_part_header_bytes,
                .max_headers = o.max_part_headers,
                .max_parts = o.max_parts}) {}

  void stop(ParamsError e, std::string why) {
    error = e;
    reason = std::move(why);
    parser.abort();
  }

  void begin(const PartHead& h) {
    name.assign(h.name);
    value.clear();
    part = Part::field;
    if (h.name.empty() || (h.has_filename && h.filename.empty())) { // no name; no file chosen
      part = Part::skip;
      return;
    }
    if (!h.has_filename) return;
    if (p->body().files() + 1 > o.max_files)
      return stop(ParamsError::too_many,
                  "more than " + std::to_string(o.max_files) + " files in one request");
    upload =
        UploadedFile{std::string(h.filename), std::string(h.content_type), 0, temp_file(o.dir)};
    if (!upload.file)
      return stop(ParamsError::file_error, "cannot make a temporary file in " + o.dir);
    part = Part::file;
  }

  void data(std::string_view d) {
    if (part == Part::field) {
      if (p->body().bytes() + name.size() + value.size() + d.size() > o.max_field_bytes)
        return stop(ParamsError::too_large, "the form's fields are larger than " +
                                                std::to_string(o.max_field_bytes) + " bytes");
      value.append(d);
    } else if (part == Part::file) {
      upload.size += d.size();
      files_bytes += d.size();
      if (upload.size > o.max_file_bytes)
        return stop(ParamsError::too_large,
                    "a file is larger than " + std::to_string(o.max_file_bytes) + " bytes");
      if (files_bytes > o.max_files_bytes)
        return stop(ParamsError::too_large,
                    "the files are larger than " + std::to_string(o.max_files_bytes) + " bytes");
      while (!d.empty()) {
        ssize_t n = ::write(upload.file.fd(), d.data(), d.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return stop(ParamsError::file_error, "writing an uploaded file failed");
        d.remove_prefix(static_cast<std::size_t>(n));
      }
    }
  }

  void end() {
    ParamsError e = ParamsError::none;
    if (part == Part::field) e = p->body().add(name, value, o);
    if (part == Part::file) e = p->body().add_file(name, std::move(upload), o);
    part = Part::skip;
    if (e != ParamsError::none) stop(e, {});
  }

  /// The refusal, if the body was refused; called once the input ended (or failed).
  std::optional<Response> verdict() {
    if (error == ParamsError::none) {
      MultipartError m = parser.finish();
      if (m != MultipartError::none) {
        error = ParamsError::malformed;
        reason = "multipart: " + std::string(to_string(m));
      }
    }
    if (error == ParamsError::none) return std::nullopt;
    return refuse(error, reason);
  }
};

/// Calls the app and hands its answer to `cb` (a late answer reaches cb by itself).
void call_late(const App& next, Env& env, const AsyncCallback& cb) {
  try {
    Response r = next(env);
    if (!r.is_async()) cb(std::move(r));
  } catch (const std::exception& e) {
    env.error(std::string("params: the app threw: ") + e.what());
    cb(refuse(ParamsError::file_error, "the app failed"));
  } catch (...) {
    env.error("params: the app threw (not a std::exception)");
    cb(refuse(ParamsError::file_error, "the app failed"));
  }
}

const Params empty_params;

} // namespace

const Params& params(Env& env) {
  if (auto* p = env.get<std::shared_ptr<Params>>("lithe.params")) return **p;
  auto p = std::make_shared<Params>();
  p->query().add_form(env.query(), ParamsOptions{}); // past a limit: what came before it
  return *env.emplace<std::shared_ptr<Params>>("lithe.params", std::move(p));
}

Middleware params(ParamsOptions options) {
  auto shared = std::make_shared<const ParamsOptions>(std::move(options));
  return [shared](App next) -> App {
    return [shared, next = std::move(next)](Env& env) -> Response {
      const ParamsOptions& o = *shared;
      auto p = std::make_shared<Params>();
      env.emplace<std::shared_ptr<Params>>("lithe.params", p);
      if (ParamsError e = p->query().add_form(env.query(), o); e != ParamsError::none)
        return refuse(e, "the query string: " + std::string(to_string(e)));
      std::string_view type = media_type(env.content_type());
      bool form = iequals(type, "application/x-www-form-urlencoded");
      bool multipart = iequals(type, "multipart/form-data");
      if (!form && !multipart) return next(env);

      // The body's share of the limits: what the query left.
      ParamsOptions ob = o;
      ob.max_params -= p->query().count();
      ob.max_field_bytes -= std::min(ob.max_field_bytes, p->query().bytes());
      Input& in = env.input();
      const bool whole = !in.streaming() || in.ended();
      std::uint64_t bound = form ? ob.max_field_bytes
                                 : ob.max_files_bytes + ob.max_field_bytes +
                                       ob.max_parts * (ob.max_part_header_bytes + 80) + (32 << 10);
      if (in.length() && *in.length() > bound)
        return refuse(ParamsError::too_large,
                      "the body is larger than " + std::to_string(bound) + " bytes");

      if (form) {
        if (whole) {
          if (ParamsError e = p->body().add_form(env.body(), ob); e != ParamsError::none)
            return refuse(e, "the form: " + std::string(to_string(e)));
          return next(env);
        }
        AsyncCallback cb = env.async_callback();
        in.read_all(ob.max_field_bytes, [p, ob, &env, cb, next](InputError ie) {
          if (ie == InputError::too_large) {
            cb(refuse(ParamsError::too_large,
                      "the form is larger than " + std::to_string(ob.max_field_bytes) + " bytes"));
            return;
          }
          if (ie != InputError::none) return; // the client left or stalled: the engine answers
          if (ParamsError e = p->body().add_form(env.body(), ob); e != ParamsError::none) {
            cb(refuse(e, "the form: " + std::string(to_string(e))));
            return;
          }
          call_late(next, env, cb);
        });
        return lithe::async;
      }

      std::optional<std::string> boundary = multipart_boundary(env.content_type());
      if (!boundary)
        return refuse(ParamsError::malformed, "multipart: no valid boundary in the Content-Type");
      auto reader = std::make_shared<FormReader>(p, ob, *boundary);
      if (whole) {
        reader->parser.feed(env.body());
        if (std::optional<Response> no = reader->verdict()) return std::move(*no);
        return next(env);
      }
      AsyncCallback cb = env.async_callback();
      in.on_data([reader, cb](std::string_view bytes) {
        if (reader->parser.error() != MultipartError::none) return;
        reader->parser.feed(bytes);
        if (reader->error != ParamsError::none || reader->parser.error() != MultipartError::none)
          if (std::optional<Response> no = reader->verdict()) cb(std::move(*no)); // answer now
      });
      in.on_end([reader, cb, next, &env] {
        if (reader->parser.error() != MultipartError::none) return; // answered already
        if (std::optional<Response> no = reader->verdict()) {
          cb(std::move(*no));
          return;
        }
        call_late(next, env, cb);
      });
      in.on_error([](InputError) {}); // the engine answers (413, 408) or the client left
      return lithe::async;
    };
  };
}

} // namespace lithe::mw
