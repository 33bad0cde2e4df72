// Deflater (Rack::Deflater): gzip (zlib) for clients that accept it (Accept-Encoding with
// q-values), skipping bodies that are small, already encoded, of compressed types, or marked
// Cache-Control: no-transform. Deferrable and streaming bodies are compressed chunk by chunk
// with a flush after each, so an SSE event through Deflater still arrives at once. File
// bodies keep sendfile (serve precompressed .gz siblings with Static instead).
#pragma once

#include <lithe/app.hpp>

namespace lithe::mw {

struct DeflaterOptions {
  std::size_t min_size = 860; // smaller known-size bodies are sent as they are
  int level = 6;              // zlib's default trade-off
};

Middleware deflater(DeflaterOptions options = {});

/// The q-value the client gives `coding` in an Accept-Encoding value (0 when refused or
/// absent; "*" counts; identity is acceptable unless refused).
double accept_q(std::string_view accept_encoding, std::string_view coding);

} // namespace lithe::mw
