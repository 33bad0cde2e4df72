// Static and Files (Rack::Static, Rack::Files): serve a folder. Files go out with sendfile
// (a FileRange body); Range requests get 206 (one range) or multipart/byteranges (several)
// and 416 when unsatisfiable; ETag and Last-Modified answer If-None-Match and
// If-Modified-Since with 304; directories serve their index file; a precompressed `.gz`
// sibling is sent to clients that accept gzip; no request reaches outside the root (`..`,
// encoded or not, NUL bytes, symlinks that lead out: 403 or 404).
#pragma once

#include <lithe/app.hpp>

#include <string>

namespace lithe::mw {

struct StaticOptions {
  std::string root = ".";
  std::string index = "index.html"; // served for a directory; "" for none
  bool gzip_siblings = true;        // serve file.gz for file when the client accepts gzip
  std::string cache_control;        // e.g. "public, max-age=3600"; "" for none
};

/// An App serving `options.root`: 404 for what is not there.
App files(StaticOptions options);
/// A Middleware: requests for files that exist are served, the rest go to the next app.
Middleware static_files(StaticOptions options);
/// The Content-Type for a file name ("application/octet-stream" when unknown).
std::string_view mime_type(std::string_view path);

} // namespace lithe::mw
