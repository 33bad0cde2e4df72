// The one zlib loop Deflater and permessage-deflate share: compress all of `in` with the
// given flush mode, appending to `out` until zlib has nothing more to write.
#pragma once

#include <string>
#include <string_view>
#include <zlib.h>

namespace lithe::mw::detail {

inline void deflate_into(z_stream& z, std::string_view in, int flush, std::string& out) {
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[16384];
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    deflate(&z, flush);
    out.append(buf, sizeof buf - z.avail_out);
  } while (z.avail_out == 0);
}

} // namespace lithe::mw::detail
