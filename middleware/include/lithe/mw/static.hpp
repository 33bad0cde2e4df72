// Static and Files (Rack::Static, Rack::Files): serve a folder. Files go out with sendfile
// (FileRange and FileParts bodies, never read into memory); Range requests on GET get 206
// (RFC 9110 §14.2, bounded by RangeLimits), several ranges multipart/byteranges (§14.6),
// 416 when unsatisfiable; If-Range (§13.1.5); ETag and Last-Modified answer If-None-Match and
// If-Modified-Since with 304; directories serve their index file; a precompressed `.gz`
// sibling is sent to clients that accept gzip; no request reaches outside the root (`..`,
// encoded or not, NUL bytes, symlinks that lead out: 403 or 404), nor a dotfile, nor anything
// but a regular file (a FIFO or a device: 404, never opened for long).
#pragma once

#include <lithe/app.hpp>
#include <lithe/mw/byte_ranges.hpp>

#include <string>

namespace lithe::mw {

struct StaticOptions {
  /// The folder to serve. Required: there is no default (a server that serves its working
  /// directory publishes its sources and secrets); files() throws std::invalid_argument
  /// when it is empty and std::runtime_error when it cannot be opened.
  std::string root;
  std::string index = "index.html"; // served for a directory; "" for none
  bool gzip_siblings = true;        // serve file.gz for file when the client accepts gzip
  std::string cache_control;        // e.g. "public, max-age=3600"; "" for none
  /// Serve paths with a segment that starts with "." (.git, .env, .htpasswd, .well-known).
  /// Off, such a path is 404, as if it were not there.
  bool dotfiles = false;
  /// How many ranges one request may ask for (docs/static.md); {.max_ranges = 0} turns
  /// Range off and stops announcing Accept-Ranges.
  RangeLimits ranges;
};

/// An App serving `options.root`: 404 for what is not there.
App files(StaticOptions options);
/// A Middleware: requests for files that exist are served, the rest go to the next app.
Middleware static_files(StaticOptions options);
/// The Content-Type for a file name ("application/octet-stream" when unknown).
std::string_view mime_type(std::string_view path);

} // namespace lithe::mw
