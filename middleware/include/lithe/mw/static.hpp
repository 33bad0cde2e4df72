// Static and Files (Rack::Static, Rack::Files): serve a folder; bodies are FileRange/FileParts
// that the engine sends from the file (Static reads nothing); validators and 304 (RFC 9110 §13),
// If-Range and bounded Range requests on GET, one range or multipart/byteranges (§14); nothing
// outside the root, no dotfiles, no FIFOs or devices. docs/static.md has the rules and the bounds.
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
