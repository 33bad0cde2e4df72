// Multipart (multipart.hpp). The delimiter is "\r\n--" + boundary, with a CRLF assumed before
// the body so that a body starting with "--boundary" matches too. A boundary holds no CR (RFC
// 2046 bchars), so a delimiter can only start at a CR: memchr finds the candidates, a compare
// settles each, and since the bytes a compare matched hold no CR the next search starts past
// them. Every byte is looked at a bounded number of times, however the body is split: a
// delimiter cut by a feed is carried as the count of its bytes matched, and if it turns out
// not to be one those bytes are data, handed out as a view of the parser's own delimiter.
#include <lithe/mw/multipart.hpp>

#include <lithe/str.hpp>

#include <cstring>

namespace lithe::mw {

std::string_view to_string(MultipartError e) noexcept {
  switch (e) {
  case MultipartError::none:
    return "none";
  case MultipartError::bad_boundary:
    return "the boundary is not 1 to 70 valid characters";
  case MultipartError::preamble_too_large:
    return "too many bytes before the first boundary";
  case MultipartError::bad_delimiter:
    return "a boundary line is followed by junk";
  case MultipartError::header_too_large:
    return "a part's headers are too large";
  case MultipartError::too_many_headers:
    return "a part has too many header lines";
  case MultipartError::bad_header:
    return "a part has a malformed header line";
  case MultipartError::too_many_parts:
    return "too many parts";
  case MultipartError::epilogue_too_large:
    return "too many bytes after the final boundary";
  case MultipartError::truncated:
    return "the body ended before its final boundary";
  case MultipartError::aborted:
    return "aborted";
  }
  return "unknown";
}

std::optional<std::string_view> PartHead::header(std::string_view n) const noexcept {
  for (const RequestHeader& h : headers)
    if (iequals(h.name, n)) return h.value;
  return std::nullopt;
}

namespace {

// RFC 2046 §5.1.1: bchars := bcharsnospace / " ", and the last is not a space.
bool bchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::strchr("'()+_,-./:=? ", c) != nullptr;
}

bool valid_boundary(std::string_view b) {
  if (b.empty() || b.size() > 70 || b.back() == ' ') return false;
  for (char c : b)
    if (c == '\0' || !bchar(c)) return false;
  return true;
}

bool tchar(char c) { // RFC 9110 §5.6.2
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

int hex(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

// RFC 5987 §3.2: charset "'" [ language ] "'" value-chars, percent-encoded. UTF-8 as it is,
// ISO-8859-1 widened to UTF-8; false for another charset or a bad escape.
bool ext_value(std::string_view v, std::string& out) {
  std::size_t q1 = v.find('\'');
  if (q1 == std::string_view::npos) return false;
  std::size_t q2 = v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return false;
  std::string_view charset = v.substr(0, q1);
  bool latin1 = iequals(charset, "iso-8859-1");
  if (!latin1 && !iequals(charset, "utf-8")) return false;
  out.clear();
  for (std::size_t i = q2 + 1; i < v.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c == '%') {
      if (i + 2 >= v.size() || hex(v[i + 1]) < 0 || hex(v[i + 2]) < 0) return false;
      c = static_cast<unsigned char>(hex(v[i + 1]) * 16 + hex(v[i + 2]));
      i += 2;
    }
    if (latin1 && c >= 0x80) {
      out.push_back(static_cast<char>(0xc0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return true;
}

// RFC 7578 §4.2: a filename's directory part is not to be used (old browsers sent whole paths).
std::string_view base_name(std::string_view f) {
  std::size_t slash = f.find_last_of("/\\");
  return slash == std::string_view::npos ? f : f.substr(slash + 1);
}

} // namespace

bool disposition_param(std::string_view d, std::string_view param, std::string& out) {
  std::size_t semi = d.find(';');
  if (semi == std::string_view::npos) return false;
  d.remove_prefix(semi + 1);
  while (!d.empty()) {
    d = trim_ows(d);
    std::size_t i = 0;
    while (i < d.size() && tchar(d[i]))
      ++i;
    std::string_view key = d.substr(0, i);
    d.remove_prefix(i);
    d = trim_ows(d);
    std::string value;
    bool has_value = !d.empty() && d.front() == '=';
    if (has_value) {
      d = trim_ows(d.substr(1));
      if (!d.empty() && d.front() == '"') { // quoted-string; \" and \\ are escapes, a lone \ is
        std::size_t j = 1;                  // kept (browsers send Windows paths unescaped)
        for (; j < d.size() && d[j] != '"'; ++j) {
          if (d[j] == '\\' && j + 1 < d.size() && (d[j + 1] == '"' || d[j + 1] == '\\')) ++j;
          value.push_back(d[j]);
        }
        d.remove_prefix(std::min(j + 1, d.size()));
      } else {
        std::size_t end = d.find(';');
        value = std::string(trim_ows(d.substr(0, end)));
        d.remove_prefix(end == std::string_view::npos ? d.size() : end);
      }
    }
    std::size_t next = d.find(';'); // skip whatever is left of this parameter
    d.remove_prefix(next == std::string_view::npos ? d.size() : next + 1);
    if (has_value && !key.empty() && iequals(key, param)) {
      out = std::move(value);
      return true;
    }
    if (key.empty() && !has_value && next == std::string_view::npos) break;
  }
  return false;
}

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  std::string b;
  if (!disposition_param(content_type, "boundary", b) || !valid_boundary(b)) return std::nullopt;
  return b;
}

MultipartParser::MultipartParser(std::string_view boundary, MultipartCallbacks callbacks,
                                 MultipartLimits limits)
    : cb_(std::move(callbacks)), lim_(limits) {
  delim_ = "\r\n--";
  delim_.append(boundary);
  if (!valid_boundary(boundary)) fail(MultipartError::bad_boundary);
}

MultipartError MultipartParser::fail(MultipartError e) noexcept {
  if (state_ != State::failed) {
    state_ = State::failed;
    error_ = e;
  }
  return error_;
}

void MultipartParser::abort() noexcept {
  fail(MultipartError::aborted);
}

// Searches `in` for the delimiter, handing what comes before it to on_data (in the body) or
// counting it (the preamble). True when a whole delimiter was consumed; false when `in` is
// used up (a partial delimiter at its end is carried in matched_) or the parser failed.
bool MultipartParser::scan(std::string_view& in, bool body) {
  auto emit = [&](std::string_view d) {
    if (d.empty()) return;
    if (body) {
      if (cb_.on_data) cb_.on_data(d);
    } else if ((count_ += d.size()) > lim_.max_preamble) {
      fail(MultipartError::preamble_too_large);
    }
  };
  if (matched_ > 0) { // the delimiter begun in the last feed
    std::size_t n = std::min(delim_.size() - matched_, in.size());
    if (std::memcmp(in.data(), delim_.data() + matched_, n) == 0) {
      in.remove_prefix(n);
      matched_ += n;
      if (matched_ < delim_.size()) return false;
      matched_ = 0;
      return true;
    }
    emit(std::string_view(delim_).substr(0, matched_)); // it was data after all
    matched_ = 0;
    if (state_ == State::failed) return false;
  }
  std::size_t from = 0, at = 0;
  while (at < in.size()) {
    const void* cr = std::memchr(in.data() + at, '\r', in.size() - at);
    if (!cr) break;
    at = static_cast<std::size_t>(static_cast<const char*>(cr) - in.data());
    std::size_t n = std::min(delim_.size(), in.size() - at);
    if (std::memcmp(in.data() + at, delim_.data(), n) == 0) {
      emit(in.substr(from, at - from));
      in.remove_prefix(at + n);
      if (n == delim_.size()) return state_ != State::failed;
      matched_ = n; // cut by the end of this feed
      return false;
    }
    ++at;
  }
  emit(in.substr(from));
  in = {};
  return false;
}

// Takes header bytes up to the end of the section (an empty line). True when it ended.
bool MultipartParser::header_bytes(std::string_view& in) {
  while (!in.empty()) {
    const void* lf = std::memchr(in.data(), '\n', in.size());
    std::size_t n =
        lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - in.data()) + 1 : in.size();
    if (head_.size() + n > lim_.max_header_bytes) {
      fail(MultipartError::header_too_large);
      return false;
    }
    head_.append(in.data(), n);
    in.remove_prefix(n);
    if (!lf) return false;
    std::string_view line = std::string_view(head_).substr(line_start_);
    line_start_ = head_.size();
    if (line.size() < 2 || line[line.size() - 2] != '\r') {
      fail(MultipartError::bad_header); // a bare LF
      return false;
    }
    if (line.size() == 2) return end_headers();
    if (part_.headers.size() + 1 > lim_.max_headers) {
      fail(MultipartError::too_many_headers);
      return false;
    }
    line.remove_suffix(2);
    std::size_t colon = line.find(':');
    bool ok = colon != std::string_view::npos && colon > 0;
    for (std::size_t i = 0; ok && i < line.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      ok = i < colon ? tchar(line[i]) : (c >= 0x20 && c != 0x7f) || c == '\t';
    }
    if (!ok) {
      fail(MultipartError::bad_header);
      return false;
    }
    part_.headers.push_back({line.substr(0, colon), trim_ows(line.substr(colon + 1))});
  }
  return false;
}

bool MultipartParser::end_headers() {
  // The views of part_.headers point into head_, which has not moved since they were taken:
  // re-take them, as appending may have reallocated it.
  std::string_view h = head_;
  std::size_t i = 0;
  while (true) {
    std::size_t eol = h.find("\r\n");
    if (eol == 0) break;
    std::string_view line = h.substr(0, eol);
    std::size_t colon = line.find(':');
    part_.headers[i++] = {line.substr(0, colon), trim_ows(line.substr(colon + 1))};
    h.remove_prefix(eol + 2);
  }
  part_.content_type = part_.header("content-type").value_or("");
  std::string_view disposition = part_.header("content-disposition").value_or("");
  part_.has_filename = false;
  name_.clear();
  filename_.clear();
  if (disposition_param(disposition, "filename*", filename_) &&
      ext_value(std::string(filename_), filename_)) {
    part_.has_filename = true;
  } else {
    part_.has_filename = disposition_param(disposition, "filename", filename_);
  }
  disposition_param(disposition, "name", name_);
  part_.name = name_;
  part_.filename = base_name(filename_);
  state_ = State::body;
  if (cb_.on_part) cb_.on_part(part_);
  return state_ != State::failed;
}

MultipartError MultipartParser::feed(std::string_view in) {
  while (!in.empty() && state_ != State::failed) {
    switch (state_) {
    case State::preamble:
    case State::body: {
      bool body = state_ == State::body;
      if (!scan(in, body)) break;
      if (body && cb_.on_part_end) cb_.on_part_end();
      if (state_ == State::failed) break;
      state_ = State::after_delimiter;
      count_ = 0;
      break;
    }
    case State::after_delimiter:
    case State::padding: {
      char c = in.front();
      in.remove_prefix(1);
      if (c == '-' && state_ == State::after_delimiter) {
        state_ = State::dash;
      } else if (c == ' ' || c == '\t') { // transport padding (RFC 2046 §5.1.1)
        state_ = State::padding;
        if (++count_ > lim_.max_header_bytes) fail(MultipartError::bad_delimiter);
      } else if (c == '\r') {
        state_ = State::cr;
      } else {
        fail(MultipartError::bad_delimiter);
      }
      break;
    }
    case State::dash:
      if (in.front() != '-') {
        fail(MultipartError::bad_delimiter);
        break;
      }
      in.remove_prefix(1);
      state_ = State::epilogue;
      count_ = 0;
      if (cb_.on_end) cb_.on_end();
      break;
    case State::cr:
      if (in.front() != '\n') {
        fail(MultipartError::bad_delimiter);
        break;
      }
      in.remove_prefix(1);
      if (++parts_ > lim_.max_parts) {
        fail(MultipartError::too_many_parts);
        break;
      }
      head_.clear();
      line_start_ = 0;
      part_.headers.clear();
      state_ = State::headers;
      break;
    case State::headers:
      header_bytes(in);
      break;
    case State::epilogue:
      count_ += in.size();
      in = {};
      if (count_ > lim_.max_epilogue) fail(MultipartError::epilogue_too_large);
      break;
    case State::failed:
      break;
    }
  }
  return error_;
}

MultipartError MultipartParser::finish() {
  if (state_ == State::failed || state_ == State::epilogue) return error_;
  return fail(MultipartError::truncated);
}

} // namespace lithe::mw
