#include "api/http_framing.h"

#include <cstdint>
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
    }
  }
  if (chunked && content_length) {
    return Fail(frame, FrameStatus::kMalformed,
                "both Content-Length and Transfer-Encoding are present");
  }
  frame.header_length = header_length;
  if (chunked) return FrameChunked(bytes, header_length, limits, frame);

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
