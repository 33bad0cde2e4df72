// Params: Rack::Request#params. The query string, an application/x-www-form-urlencoded body and
// a multipart/form-data body (RFC 7578, streamed through MultipartParser as it arrives, file
// parts spooled to unlinked temporary files) decoded before the app is called, with Rack's
// nested names (user[name], tags[], a[b][c], a[][b]) and Rack's limits, each answered 400 or
// 413 with a plain-text reason. docs/params.md.
#pragma once

#include <lithe/app.hpp>
#include <lithe/body.hpp>
#include <lithe/env.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace lithe::mw {

struct ParamsOptions {
  std::size_t max_params = 4096;               // name=value pairs and parts (Rack's params_limit)
  std::size_t max_depth = 32;                  // brackets in a name (Rack's param_depth_limit)
  std::size_t max_field_bytes = 1 << 20;       // names and values held in memory, in all
  std::uint64_t max_file_bytes = 1ULL << 30;   // one uploaded file
  std::uint64_t max_files_bytes = 1ULL << 30;  // every uploaded file of a request together
  std::size_t max_files = 128;                 // Rack's multipart_file_limit
  std::size_t max_parts = 4096;                // Rack's multipart_total_part_limit
  std::size_t max_part_header_bytes = 8 << 10; // one part's header section
  std::size_t max_part_headers = 16;           // header lines of one part
  std::string dir = "/tmp";                    // where file parts are spooled (unnamed files)
};

/// Why decoding stopped. too_large is answered 413, the others 400.
enum class ParamsError : std::uint8_t {
  none,
  too_many,   // more than max_params pairs, max_parts parts or max_files files
  too_deep,   // a name nested deeper than max_depth
  conflict,   // a name used as a value and as a hash or list (a=1&a[b]=2)
  too_large,  // max_field_bytes, max_file_bytes or max_files_bytes
  malformed,  // a multipart body the parser refused (the reason says why)
  file_error, // a temporary file could not be made or written
};
std::string_view to_string(ParamsError e) noexcept;

/// An uploaded file: its bytes in an unlinked temporary file (read it with pread from 0).
struct UploadedFile {
  std::string filename;     // as sent, without a directory part (RFC 7578 §4.2); untrusted
  std::string content_type; // as sent; "" when the part had none
  std::uint64_t size = 0;
  File file;
  /// Gives the file a name (linkat through /proc/self/fd; `path` must not exist and must be on
  /// the temporary folder's file system).
  std::error_code link_to(const std::string& path) const;
  /// The whole file read back into memory (for small files and tests).
  std::string read() const;
};

class ParamTree;

/// One node of a decoded tree: a string, a list (tags[]), a hash (user[name]) or a file. A
/// handle, valid while the Params it came from; a missing node is empty (bool false).
class Param {
public:
  enum class Kind : std::uint8_t { none, string, list, hash, file };
  Param() noexcept = default;
  Kind kind() const noexcept;
  explicit operator bool() const noexcept { return kind() != Kind::none; }
  bool is_string() const noexcept { return kind() == Kind::string; }
  bool is_list() const noexcept { return kind() == Kind::list; }
  bool is_hash() const noexcept { return kind() == Kind::hash; }
  /// A string's value ("" for any other kind).
  std::string_view str() const noexcept;
  /// Its name in its hash ("" in a list).
  std::string_view key() const noexcept;
  /// A hash's entry (the last one when a name came several times), or empty.
  Param operator[](std::string_view key) const;
  /// A list's (or hash's) n-th entry, or empty.
  Param at(std::size_t n) const noexcept;
  /// Entries of a list or hash.
  std::size_t size() const noexcept;
  /// The uploaded file, for a file node.
  const UploadedFile* file() const noexcept;

  class iterator {
  public:
    Param operator*() const noexcept { return {t_, i_}; }
    iterator& operator++() noexcept;
    bool operator==(const iterator& o) const noexcept { return i_ == o.i_; }

  private:
    friend class Param;
    iterator(const ParamTree* t, std::uint32_t i) noexcept : t_(t), i_(i) {}
    const ParamTree* t_;
    std::uint32_t i_;
  };
  /// Entries of a list or hash, in arrival order (a repeated name appears each time).
  iterator begin() const noexcept;
  iterator end() const noexcept;

private:
  friend class ParamTree;
  friend class Params;
  Param(const ParamTree* t, std::uint32_t i) noexcept : t_(t), i_(i) {}
  const ParamTree* t_ = nullptr;
  std::uint32_t i_ = 0;
};

/// One decoded tree (the query's or the body's).
class ParamTree {
public:
  ParamTree();
  Param root() const noexcept { return {this, 0}; }
  /// Adds `value` under a Rack name ("user[name]", "tags[]"): Rack's normalize_params.
  ParamsError add(std::string_view name, std::string_view value, const ParamsOptions& o);
  ParamsError add_file(std::string_view name, UploadedFile file, const ParamsOptions& o);
  /// Decodes "a=1&b[c]=2" (a query string or an urlencoded body), counting against `o`.
  ParamsError add_form(std::string_view form, const ParamsOptions& o);
  /// Pairs and bytes added so far (for the limits).
  std::size_t count() const noexcept { return count_; }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t files() const noexcept { return files_.size(); }

private:
  friend class Param;
  struct Node {
    Param::Kind kind = Param::Kind::hash;
    std::uint32_t parent = 0;
    std::uint32_t first = 0, last = 0, next = 0; // children and siblings (0: none)
    std::uint32_t size = 0;
    std::uint32_t file = 0;
    std::string key, value;
  };
  std::uint32_t child(std::uint32_t parent, std::string_view key) const;
  std::uint32_t append(std::uint32_t parent, std::string_view key, Param::Kind kind);
  ParamsError place(std::string_view name, Param::Kind kind, std::string_view value,
                    std::uint32_t& leaf, const ParamsOptions& o);
  std::vector<Node> nodes_;
  std::vector<UploadedFile> files_;
  std::unordered_map<std::string, std::uint32_t> index_; // parent + '\0' + key -> last child
  std::size_t count_ = 0, bytes_ = 0;
};

/// What a request brought: the query's and the body's trees, merged as Rack merges them (a
/// body name hides the query's of the same top-level name).
class Params {
public:
  /// A value by Rack name ("q", "user[name]", "tags[]" gives the list's last): the body's over
  /// the query's; nullopt when absent or not a string.
  std::optional<std::string_view> get(std::string_view name) const;
  /// Every string value under a name: a repeated name's values in order, a list's strings.
  std::vector<std::string_view> all(std::string_view name) const;
  /// A node by Rack name ("user", "user[address]"), or empty.
  Param child(std::string_view name) const;
  /// An uploaded file by Rack name, or null.
  const UploadedFile* file(std::string_view name) const;
  /// The top-level names, body first then the query's not hidden by it, each once.
  std::vector<std::string_view> names() const;
  ParamTree& query() noexcept { return query_; }
  ParamTree& body() noexcept { return body_; }
  const ParamTree& query() const noexcept { return query_; }
  const ParamTree& body() const noexcept { return body_; }

private:
  ParamTree query_, body_;
};

/// Decodes the query string and a form or multipart body before calling the app; a limit
/// reached is answered 400 or 413 (text/plain, the reason) and the app is not called. A body
/// that streams (HttpOptions::stream_bodies) is parsed as it arrives; file parts never sit in
/// memory.
Middleware params(ParamsOptions options = {});

/// The request's params: what the middleware decoded, or (without it) the query string's.
const Params& params(Env& env);

/// The pairs of an application/x-www-form-urlencoded string ("a=1&b=2", a query string), still
/// encoded, empty ones skipped: fn(name, value) for each, until it returns false.
template <class F> void for_each_form_pair(std::string_view form, F&& fn) {
  while (!form.empty()) {
    std::size_t amp = form.find('&');
    std::string_view pair = form.substr(0, amp);
    form = amp == std::string_view::npos ? std::string_view{} : form.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string_view v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (!fn(pair.substr(0, eq), v)) return;
  }
}

/// A form-encoded name or value decoded ('+' a space, %XX a byte): `raw` itself when it holds
/// neither, else decoded into `scratch`.
std::string_view form_decode(std::string_view raw, std::string& scratch);

} // namespace lithe::mw
