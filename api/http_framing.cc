#include "api/http_framing.h"

#include <cstdint>
#include <iterator>
#include <optional>

namespace driftwatch::api {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr size_t kMaxChunkSizeLine = 32;  // hex digits and CRLF; extensions are not supported
constexpr size_t kMaxLengthDigits = 18;   // below 2^63

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Calls `visit` with each comma-separated token of a header value, trimmed.
template <typename Visit>
void ForEachToken(std::string_view value, Visit visit) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    visit(Trim(value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > kMaxLengthDigits) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

std::optional<uint64_t> ParseHex(std::string_view text) {
  if (text.empty() || text.size() > 15) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    const char lower = Lower(c);
    uint64_t digit = 0;
    if (lower >= '0' && lower <= '9') {
      digit = static_cast<uint64_t>(lower - '0');
    } else if (lower >= 'a' && lower <= 'f') {
      digit = static_cast<uint64_t>(lower - 'a') + 10;
    } else {
      return std::nullopt;
    }
    value = value * 16 + digit;
  }
  return value;
}

// RFC 9110 "tchar": what a header name (and a method) may be made of.
bool IsAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool IsTokenChar(char c) {
  if (IsAlnum(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// A path of a plain target: "/" then RFC 3986 pchars and slashes, no query or fragment.
bool IsPlainPath(std::string_view target) {
  if (target.empty() || target.front() != '/') return false;
  for (char c : target) {
    if (!IsAlnum(c) && std::string_view("-._~%!$&'()*+,;=:@/").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Visible ASCII and spaces: no control character (tab included), nothing beyond ASCII.
bool IsPrintable(std::string_view value) {
  for (char c : value) {
    if (c < ' ' || c > '~') return false;
  }
  return true;
}

// "name" or "name:port", the name of letters, digits, dots and dashes.
bool IsPlainHost(std::string_view host) {
  const size_t colon = host.find(':');
  const std::string_view name = host.substr(0, colon);
  if (name.empty()) return false;
  for (char c : name) {
    if (!IsAlnum(c) && c != '.' && c != '-') return false;
  }
  if (colon == std::string_view::npos) return true;
  const std::string_view port = host.substr(colon + 1);
  return port.size() <= 5 && ParseDecimal(port).has_value();
}

// The headers a plain request may have (Frame::plain), each at most once, with the values
// Pistache's parser takes as they are; X-* headers besides. Content-Length is checked by the
// framing itself.
struct PlainHeader {
  std::string_view name;
  bool (*accepts)(std::string_view value);
};
constexpr PlainHeader kPlainHeaders[] = {
    {"host", &IsPlainHost},
    {"user-agent", [](std::string_view) { return true; }},
    {"authorization", [](std::string_view) { return true; }},
    {"content-length", [](std::string_view) { return true; }},
    {"accept", [](std::string_view v) { return v == "*/*" || v == "application/json"; }},
    {"content-type", [](std::string_view v) { return v == "application/json"; }},
    {"connection",
     [](std::string_view v) {
       return EqualsIgnoringCase(v, "keep-alive") || EqualsIgnoringCase(v, "close");
     }},
    {"expect", [](std::string_view v) { return EqualsIgnoringCase(v, "100-continue"); }},
};

// Whether a header keeps the request plain; `raw` is its value as sent, `value` trimmed; `seen`
// marks the kPlainHeaders already there.
bool IsPlainHeader(std::string_view name, std::string_view raw, std::string_view value,
                   unsigned* seen) {
  if (!IsToken(name) || !IsPrintable(raw)) return false;
  if (name.size() > 2 && EqualsIgnoringCase(name.substr(0, 2), "x-")) return true;
  for (size_t i = 0; i < std::size(kPlainHeaders); ++i) {
    if (!EqualsIgnoringCase(name, kPlainHeaders[i].name)) continue;
    const unsigned bit = 1u << i;
    if ((*seen & bit) != 0 || !kPlainHeaders[i].accepts(value)) return false;
    *seen |= bit;
    return true;
  }
  return false;
}

Frame Fail(Frame frame, FrameStatus status, std::string error) {
  frame.status = status;
  frame.error = std::move(error);
  return frame;
}

// Frames a chunked body starting at `begin`: chunks, the last (zero) chunk, trailers, blank line.
Frame FrameChunked(std::string_view bytes, size_t begin, const FrameLimits& limits, Frame frame) {
  size_t position = begin;
  for (;;) {
    if (position - begin > limits.max_body_bytes) {
      return Fail(frame, FrameStatus::kBodyTooLarge, "chunked body too large");
    }
    const size_t line_end = bytes.find(kCrlf, position);
    if (line_end == std::string_view::npos) {
      if (bytes.size() - position > kMaxChunkSizeLine) {
        return Fail(frame, FrameStatus::kMalformed, "invalid chunk size line");
      }
      return frame;  // incomplete
    }
    const std::optional<uint64_t> size = ParseHex(bytes.substr(position, line_end - position));
    if (!size) return Fail(frame, FrameStatus::kMalformed, "invalid chunk size");
    position = line_end + kCrlf.size();
    if (*size == 0) break;
    if (*size > limits.max_body_bytes) {
      return Fail(frame, FrameStatus::kBodyTooLarge, "chunked body too large");
    }
    const size_t data_end = position + *size;
    if (bytes.size() < data_end + kCrlf.size()) {
      if (data_end - begin > limits.max_body_bytes) {
        return Fail(frame, FrameStatus::kBodyTooLarge, "chunked body too large");
      }
      return frame;  // incomplete
    }
    if (bytes.substr(data_end, kCrlf.size()) != kCrlf) {
      return Fail(frame, FrameStatus::kMalformed, "chunk data not followed by CRLF");
    }
    position = data_end + kCrlf.size();
  }
  // Trailer fields (ignored), then the blank line.
  for (;;) {
    const size_t line_end = bytes.find(kCrlf, position);
    if (line_end == std::string_view::npos) {
      if (bytes.size() - begin > limits.max_body_bytes) {
        return Fail(frame, FrameStatus::kBodyTooLarge, "chunked body too large");
      }
      return frame;  // incomplete
    }
    const bool blank = line_end == position;
    position = line_end + kCrlf.size();
    if (blank) break;
  }
  if (position - begin > limits.max_body_bytes) {
    return Fail(frame, FrameStatus::kBodyTooLarge, "chunked body too large");
  }
  frame.status = FrameStatus::kComplete;
  frame.length = position;
  return frame;
}

}  // namespace

Frame FindRequest(std::string_view bytes, const FrameLimits& limits) {
  Frame frame;
  const size_t blank_line = bytes.find("\r\n\r\n");
  if (blank_line == std::string_view::npos) {
    if (bytes.size() > limits.max_header_bytes) {
      return Fail(frame, FrameStatus::kHeaderTooLarge, "request headers too large");
    }
    return frame;
  }
  const size_t header_length = blank_line + 4;
  if (header_length > limits.max_header_bytes) {
    return Fail(frame, FrameStatus::kHeaderTooLarge, "request headers too large");
  }

  std::string_view head = bytes.substr(0, blank_line);
  const size_t request_line_end = head.find(kCrlf);
  const std::string_view request_line = head.substr(0, request_line_end);
  frame.http10 = request_line.ends_with(" HTTP/1.0");
  head = request_line_end == std::string_view::npos ? std::string_view()
                                                    : head.substr(request_line_end + 2);
  // "METHOD SP target SP version", exactly.
  const size_t method_end = request_line.find(' ');
  const size_t target_end = request_line.find(' ', method_end + 1);
  bool plain = method_end != std::string_view::npos && target_end != std::string_view::npos;
  unsigned plain_headers_seen = 0;
  std::string_view method;
  std::string_view target;
  std::string_view authorization;
  if (plain) {
    method = request_line.substr(0, method_end);
    target = request_line.substr(method_end + 1, target_end - method_end - 1);
    const std::string_view version = request_line.substr(target_end + 1);
    plain = (method == "GET" || method == "POST") && IsPlainPath(target) &&
            (version == "HTTP/1.1" || version == "HTTP/1.0");
  }

  std::optional<uint64_t> content_length;
  bool chunked = false;
  while (!head.empty()) {
    const size_t line_end = head.find(kCrlf);
    const std::string_view line = head.substr(0, line_end);
    head = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || line.front() == ' ' ||
        line.front() == '\t') {
      return Fail(frame, FrameStatus::kMalformed, "malformed header line");
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));
    // Pistache keeps a value's trailing spaces (in Authorization, say): not plain.
    plain = plain && !line.ends_with(' ') &&
            IsPlainHeader(name, line.substr(colon + 1), value, &plain_headers_seen);
    if (EqualsIgnoringCase(name, "content-length")) {
      const std::optional<uint64_t> length = ParseDecimal(value);
      if (!length || (content_length && *content_length != *length)) {
        return Fail(frame, FrameStatus::kMalformed, "invalid Content-Length");
      }
      content_length = length;
    } else if (EqualsIgnoringCase(name, "transfer-encoding")) {
      if (!EqualsIgnoringCase(value, "chunked")) {
        return Fail(frame, FrameStatus::kUnsupported,
                    "unsupported Transfer-Encoding (only chunked is)");
      }
      chunked = true;
    } else if (EqualsIgnoringCase(name, "connection")) {
      ForEachToken(value, [&](std::string_view token) {
        if (EqualsIgnoringCase(token, "close")) frame.connection_close = true;
        if (EqualsIgnoringCase(token, "keep-alive")) frame.connection_keep_alive = true;
      });
    } else if (EqualsIgnoringCase(name, "expect")) {
      frame.expects_continue = EqualsIgnoringCase(value, "100-continue");
    } else if (EqualsIgnoringCase(name, "authorization")) {
      authorization = value;
    }
  }
  if (chunked && content_length) {
    return Fail(frame, FrameStatus::kMalformed,
                "both Content-Length and Transfer-Encoding are present");
  }
  frame.header_length = header_length;
  if (chunked) return FrameChunked(bytes, header_length, limits, frame);
  if (plain) {
    frame.plain = true;
    frame.method = method;
    frame.target = target;
    frame.authorization = authorization;
  }

  const uint64_t body_length = content_length.value_or(0);
  if (body_length > limits.max_body_bytes) {
    return Fail(frame, FrameStatus::kBodyTooLarge, "request body too large");
  }
  if (bytes.size() - header_length < body_length) return frame;  // incomplete
  frame.status = FrameStatus::kComplete;
  frame.length = header_length + body_length;
  return frame;
}

bool KeepsAlive(const Frame& frame) {
  if (frame.connection_close) return false;
  return !frame.http10 || frame.connection_keep_alive;
}

}  // namespace driftwatch::api
