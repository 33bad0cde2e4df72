// ETag (Rack::ETag): a weak ETag from a digest of the body, for 200 responses whose body is
// in memory and that carry no ETag or Last-Modified yet; ConditionalGet then answers 304.
#pragma once

#include <lithe/app.hpp>

namespace lithe::mw {

Middleware etag();

} // namespace lithe::mw
