#include "api/http_framing.h"

#include <optional>

namespace driftwatch::api {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr size_t kMaxChunkLine = 256;    // chunk size, extensions (ignored) and CRLF
constexpr size_t kMaxLengthDigits = 18;  // below 2^63
// A request line longer than the longest target allows, with room for a method and version.
constexpr size_t kRequestLineSlack = 64;

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view text) {
  while (!text.empty() && IsOws(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsOws(text.back())) text.remove_suffix(1);
  return text;
}

// Calls `visit` with each comma-separated element of a header value, trimmed.
template <typename Visit>
void ForEachElement(std::string_view value, Visit visit) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    visit(TrimOws(value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > kMaxLengthDigits) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (!IsDigit(c)) return std::nullopt;
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
    if (IsDigit(lower)) {
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

// RFC 9110 5.6.2 "tchar": what a method and a field name are made of.
bool IsTokenChar(char c) {
  return IsAlnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// RFC 9110 5.5: a field value is visible characters, spaces, tabs and obs-text; no other control.
bool IsFieldValue(std::string_view value) {
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) return false;
  }
  return true;
}

// A request-target is visible ASCII only: no space, control or byte beyond ASCII.
bool IsTargetChar(char c) { return c > ' ' && c < 0x7f; }

// RFC 3986 host [":" port], as Host carries it: an IP literal in brackets or a reg-name (letters,
// digits, unreserved and sub-delims, %-escapes), then digits after a colon. Empty is allowed
// (RFC 9112 3.2).
bool IsHostValue(std::string_view value) {
  std::string_view host = value;
  std::string_view port;
  if (value.starts_with('[')) {
    const size_t close = value.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : value.substr(1, close - 1)) {
      if (!IsAlnum(c) && c != ':' && c != '.') return false;
    }
    host = {};
    if (close + 1 < value.size()) {
      if (value[close + 1] != ':') return false;
      port = value.substr(close + 2);
    }
  } else if (const size_t colon = value.find(':'); colon != std::string_view::npos) {
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  for (char c : host) {
    if (!IsAlnum(c) && std::string_view("-._~%!$&'()*+,;=").find(c) == std::string_view::npos) {
      return false;
    }
  }
  for (char c : port) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

Span SpanOf(std::string_view part, std::string_view whole) {
  return {static_cast<uint32_t>(part.data() - whole.data()), static_cast<uint32_t>(part.size())};
}

Frame Fail(Frame frame, FrameStatus status, std::string error) {
  frame.status = status;
  frame.error = std::move(error);
  return frame;
}

// Splits a target into path and query. Origin-form ("/path?query") and absolute-form
// ("http://host/path?query", which a server must accept: RFC 9112 3.2.2) are taken.
bool ReadTarget(std::string_view target, std::string_view bytes, Frame* frame) {
  if (target.find('#') != std::string_view::npos) return false;  // never sent by a client
  std::string_view rest = target;
  if (!target.starts_with('/')) {
    const size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos ||
        (!EqualsIgnoringCase(target.substr(0, scheme_end), "http") &&
         !EqualsIgnoringCase(target.substr(0, scheme_end), "https"))) {
      return false;
    }
    rest = target.substr(scheme_end + 3);
    const size_t path_start = rest.find_first_of("/?");
    if (!IsHostValue(rest.substr(0, path_start)) || rest.substr(0, path_start).empty()) {
      return false;
    }
    // No path ("http://host"): an empty one where the target ends, so its span stays inside it.
    rest = rest.substr(path_start == std::string_view::npos ? rest.size() : path_start);
  }
  const size_t question = rest.find('?');
  frame->path = SpanOf(rest.substr(0, question), bytes);
  if (question != std::string_view::npos) frame->query = SpanOf(rest.substr(question + 1), bytes);
  return true;
}

// "METHOD SP request-target SP HTTP-version", exactly (RFC 9112 3).
Frame ReadRequestLine(std::string_view line, std::string_view bytes, const FrameLimits& limits,
                      Frame frame) {
  const size_t method_end = line.find(' ');
  const size_t target_end =
      method_end == std::string_view::npos ? method_end : line.find(' ', method_end + 1);
  if (target_end == std::string_view::npos) {
    return Fail(frame, FrameStatus::kMalformed, "malformed request line");
  }
  const std::string_view method = line.substr(0, method_end);
  const std::string_view target = line.substr(method_end + 1, target_end - method_end - 1);
  const std::string_view version = line.substr(target_end + 1);
  if (!IsToken(method)) return Fail(frame, FrameStatus::kMalformed, "malformed method");
  if (target.size() > limits.max_target_bytes) {
    return Fail(frame, FrameStatus::kTargetTooLong,
                "request target longer than " + std::to_string(limits.max_target_bytes) + " bytes");
  }
  for (char c : target) {
    if (!IsTargetChar(c)) {
      return Fail(frame, FrameStatus::kMalformed, "invalid character in the request target");
    }
  }
  const bool version_syntax = version.size() == 8 && version.starts_with("HTTP/") &&
                              IsDigit(version[5]) && version[6] == '.' && IsDigit(version[7]);
  if (!version_syntax) return Fail(frame, FrameStatus::kMalformed, "malformed HTTP version");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return Fail(frame, FrameStatus::kVersionUnsupported,
                "HTTP version " + std::string(version.substr(5)) + " is not supported");
  }
  frame.http10 = version == "HTTP/1.0";
  frame.method = SpanOf(method, bytes);
  if (target.empty() || !ReadTarget(target, bytes, &frame)) {
    return Fail(frame, FrameStatus::kMalformed, "unsupported request target");
  }
  return frame;
}

// What the header fields say about framing and about the few things the API reads. Every other
// field is only checked for syntax: a field the API does not use is never an error of its own.
struct HeaderFacts {
  int hosts = 0;
  std::optional<uint64_t> content_length;
  int transfer_encodings = 0;
  int authorizations = 0;
};

Frame ReadField(std::string_view line, std::string_view bytes, HeaderFacts* facts, Frame frame) {
  if (IsOws(line.front())) {
    return Fail(frame, FrameStatus::kMalformed, "folded header line (obs-fold)");
  }
  const size_t colon = line.find(':');
  const std::string_view name = line.substr(0, colon);
  if (colon == std::string_view::npos || !IsToken(name)) {
    return Fail(frame, FrameStatus::kMalformed,
                "malformed header line (a field name is a token, then a colon at once)");
  }
  const std::string_view value = TrimOws(line.substr(colon + 1));
  if (!IsFieldValue(value)) {
    return Fail(frame, FrameStatus::kMalformed, "control character in a header value");
  }
  if (EqualsIgnoringCase(name, "host")) {
    ++facts->hosts;
    if (!IsHostValue(value)) return Fail(frame, FrameStatus::kMalformed, "invalid Host");
  } else if (EqualsIgnoringCase(name, "content-length")) {
    const std::optional<uint64_t> length = ParseDecimal(value);
    if (!length || (facts->content_length && *facts->content_length != *length)) {
      return Fail(frame, FrameStatus::kMalformed, "invalid Content-Length");
    }
    facts->content_length = length;
  } else if (EqualsIgnoringCase(name, "transfer-encoding")) {
    ++facts->transfer_encodings;
    if (!EqualsIgnoringCase(value, "chunked")) {
      return Fail(frame, FrameStatus::kUnsupported,
                  "unsupported Transfer-Encoding (only chunked is)");
    }
    frame.chunked = true;
  } else if (EqualsIgnoringCase(name, "connection")) {
    ForEachElement(value, [&frame](std::string_view element) {
      if (EqualsIgnoringCase(element, "close")) frame.connection_close = true;
      if (EqualsIgnoringCase(element, "keep-alive")) frame.connection_keep_alive = true;
    });
  } else if (EqualsIgnoringCase(name, "expect")) {
    // An HTTP/1.0 client does not know 100 Continue (RFC 9110 10.1.1).
    frame.expects_continue = !frame.http10 && EqualsIgnoringCase(value, "100-continue");
  } else if (EqualsIgnoringCase(name, "authorization")) {
    ++facts->authorizations;
    frame.authorization = SpanOf(value, bytes);
  } else if (EqualsIgnoringCase(name, "content-type")) {
    frame.content_type = SpanOf(value, bytes);
  } else if (EqualsIgnoringCase(name, "content-encoding")) {
    frame.content_encoding = SpanOf(value, bytes);
  }
  return frame;
}

// Reads the request line and header fields of `head` (the bytes up to the blank line).
Frame ReadHead(std::string_view bytes, size_t header_length, const FrameLimits& limits) {
  Frame frame;
  std::string_view head = bytes.substr(0, header_length - 2 * kCrlf.size());
  const size_t line_end = head.find(kCrlf);
  frame = ReadRequestLine(head.substr(0, line_end), bytes, limits, frame);
  if (!frame.error.empty()) return frame;

  HeaderFacts facts;
  head = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  while (!head.empty()) {
    const size_t end = head.find(kCrlf);
    frame = ReadField(head.substr(0, end), bytes, &facts, frame);
    if (!frame.error.empty()) return frame;
    head = end == std::string_view::npos ? std::string_view() : head.substr(end + 2);
  }

  if (frame.http10 ? facts.hosts > 1 : facts.hosts != 1) {
    return Fail(frame, FrameStatus::kMalformed, "an HTTP/1.1 request needs exactly one Host");
  }
  if (facts.authorizations > 1) {
    return Fail(frame, FrameStatus::kMalformed, "more than one Authorization header");
  }
  if (facts.transfer_encodings > 0 && (frame.http10 || facts.transfer_encodings > 1)) {
    return Fail(frame, FrameStatus::kMalformed,
                frame.http10 ? "Transfer-Encoding in an HTTP/1.0 request"
                             : "more than one Transfer-Encoding header");
  }
  if (frame.chunked && facts.content_length) {
    return Fail(frame, FrameStatus::kMalformed,
                "both Content-Length and Transfer-Encoding are present");
  }
  if (facts.content_length.value_or(0) > limits.max_body_bytes) {
    return Fail(frame, FrameStatus::kBodyTooLarge, "request body too large");
  }
  frame.header_length = header_length;
  frame.length = header_length + facts.content_length.value_or(0);  // the chunked one comes later
  return frame;
}

// Looks for the blank line that ends the head, from where the last call stopped. Every line must
// end in CRLF: a bare CR or LF, or a NUL, is refused at once (RFC 9112 2.2). Returns the head's
// length, 0 while it is not all here, or a refusal in *refused.
size_t FindHeadEnd(std::string_view bytes, const FrameLimits& limits, FrameProgress* progress,
                   std::optional<Frame>* refused) {
  const size_t end = std::min(bytes.size(), limits.max_header_bytes);
  size_t i = progress->head_scanned;
  for (; i < end; ++i) {
    // Checked byte by byte, like the rest: the answer must not depend on how the bytes were cut
    // into reads.
    if (!progress->request_line_ended && i > limits.max_target_bytes + kRequestLineSlack) {
      *refused = Fail({}, FrameStatus::kTargetTooLong, "request line too long");
      return 0;
    }
    const char c = bytes[i];
    if (c == '\0') {
      *refused = Fail({}, FrameStatus::kMalformed, "NUL byte in the request head");
      return 0;
    }
    if (c == '\r') {
      if (i + 1 == bytes.size()) break;  // its LF may be next
      if (bytes[i + 1] != '\n') {
        *refused = Fail({}, FrameStatus::kMalformed, "bare CR in the request head");
        return 0;
      }
    } else if (c == '\n') {
      if (i == 0 || bytes[i - 1] != '\r') {
        *refused = Fail({}, FrameStatus::kMalformed, "bare LF in the request head");
        return 0;
      }
      progress->request_line_ended = true;
      if (i >= 3 && bytes.substr(i - 3, 4) == "\r\n\r\n") return i + 1;
    }
  }
  progress->head_scanned = i;
  if (i == limits.max_header_bytes) {
    *refused = Fail({}, FrameStatus::kHeaderTooLarge, "request headers too large");
  }
  return 0;
}

// One line of a chunked body from `position` (chunk size or trailer field): its end, or npos
// while it is not all here; a bare LF is refused.
std::optional<size_t> ChunkLineEnd(std::string_view bytes, size_t position, bool* bare_lf) {
  // Only the first kMaxChunkLine bytes can end the line: a longer one is refused the same way
  // whether its LF has arrived yet or not.
  const size_t lf =
      bytes.substr(0, std::min(bytes.size(), position + kMaxChunkLine)).find('\n', position);
  if (lf == std::string_view::npos) return std::nullopt;
  if (lf == position || bytes[lf - 1] != '\r') {
    *bare_lf = true;
    return std::nullopt;
  }
  return lf - 1;
}

// Frames a chunked body (RFC 9112 7.1): chunks, the last chunk, trailer fields, blank line. Goes
// on from where `progress` says the last call stopped; only whole chunks move it on.
Frame FrameChunked(std::string_view bytes, const FrameLimits& limits, FrameProgress* progress,
                   Frame frame) {
  const auto too_large = [&] {
    return Fail(frame, FrameStatus::kBodyTooLarge, "chunked body too large");
  };
  for (;;) {
    size_t& position = progress->chunk_next;
    bool bare_lf = false;
    const std::optional<size_t> line_end = ChunkLineEnd(bytes, position, &bare_lf);
    if (bare_lf) return Fail(frame, FrameStatus::kMalformed, "bare LF in a chunked body");
    if (!line_end) {
      if (bytes.size() - position > kMaxChunkLine) {
        return progress->in_trailers ? too_large()
                                     : Fail(frame, FrameStatus::kMalformed, "chunk line too long");
      }
      return frame;  // incomplete
    }
    const std::string_view line = bytes.substr(position, *line_end - position);
    const size_t after_line = *line_end + kCrlf.size();
    if (progress->in_trailers) {
      if (after_line - frame.header_length > limits.max_body_bytes + limits.max_header_bytes) {
        return too_large();
      }
      position = after_line;
      if (!line.empty()) continue;  // a trailer field: ignored
      frame.status = FrameStatus::kComplete;
      frame.length = after_line;
      return frame;
    }
    // chunk-size [ ";" extensions, which are ignored ]
    const std::string_view size_text = TrimOws(line.substr(0, line.find(';')));
    const std::optional<uint64_t> size = ParseHex(size_text);
    if (!size || !IsFieldValue(line)) {
      return Fail(frame, FrameStatus::kMalformed, "invalid chunk size");
    }
    if (*size > limits.max_body_bytes - progress->chunk_data) return too_large();
    if (*size == 0) {
      progress->in_trailers = true;
      position = after_line;
      continue;
    }
    const size_t data_end = after_line + *size;
    if (bytes.size() < data_end + kCrlf.size()) return frame;  // incomplete
    if (bytes.substr(data_end, kCrlf.size()) != kCrlf) {
      return Fail(frame, FrameStatus::kMalformed, "chunk data not followed by CRLF");
    }
    progress->chunk_data += *size;
    position = data_end + kCrlf.size();
  }
}

}  // namespace

Frame FindRequest(std::string_view bytes, const FrameLimits& limits, FrameProgress* progress) {
  if (progress->head.header_length == 0) {
    std::optional<Frame> refused;
    const size_t header_length = FindHeadEnd(bytes, limits, progress, &refused);
    if (refused) return *refused;
    if (header_length == 0) return {};
    Frame head = ReadHead(bytes, header_length, limits);
    if (!head.error.empty()) return head;
    progress->head = head;
    progress->chunk_next = header_length;
  }
  Frame frame = progress->head;
  if (frame.chunked) return FrameChunked(bytes, limits, progress, frame);
  if (bytes.size() < frame.length) return frame;  // incomplete
  frame.status = FrameStatus::kComplete;
  return frame;
}

Frame FindRequest(std::string_view bytes, const FrameLimits& limits) {
  FrameProgress progress;
  return FindRequest(bytes, limits, &progress);
}

std::string_view RequestBody(std::string_view bytes, const Frame& frame, std::string* scratch) {
  if (!frame.chunked) {
    return bytes.substr(frame.header_length, frame.length - frame.header_length);
  }
  // The framing has checked every line: sizes are valid hex and each chunk is complete.
  scratch->clear();
  size_t position = frame.header_length;
  for (;;) {
    const size_t line_end = bytes.find(kCrlf, position);
    const std::string_view line = bytes.substr(position, line_end - position);
    const uint64_t size = ParseHex(TrimOws(line.substr(0, line.find(';')))).value_or(0);
    if (size == 0) break;
    position = line_end + kCrlf.size();
    scratch->append(bytes.substr(position, size));
    position += size + kCrlf.size();
  }
  return *scratch;
}

bool KeepsAlive(const Frame& frame) {
  if (frame.connection_close) return false;
  return !frame.http10 || frame.connection_keep_alive;
}

}  // namespace driftwatch::api
