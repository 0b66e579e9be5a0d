// Reads one HTTP/1.x request from the bytes a connection has sent: where it ends (so pipelined
// requests are each answered, in order) and what it says (method, path, query, body, the few
// headers the API uses). Strict to RFC 9112: whatever two readers of the same bytes could frame
// differently (a space before a colon, a bare CR or LF, two Host headers, an obs-fold) is refused,
// so that no proxy in front of DriftWatch can be made to see other requests than it does. The
// rules, with the status each refusal gets, are in docs/api.md ("HTTP").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace driftwatch::api {

// Request line and headers, blank line included: beyond this, 431.
constexpr size_t kMaxHeaderBytes = 16 * 1024;
// The request-target: beyond this, 414.
constexpr size_t kMaxTargetBytes = 8 * 1024;

struct FrameLimits {
  size_t max_header_bytes = kMaxHeaderBytes;
  size_t max_target_bytes = kMaxTargetBytes;
  size_t max_body_bytes = 1024 * 1024;  // Content-Length, or a chunked body's data
};

enum class FrameStatus {
  kIncomplete,          // wait for more bytes
  kComplete,            // `length` bytes hold one whole request
  kMalformed,           // 400: not a request RFC 9112 allows (`error` says why)
  kTargetTooLong,       // 414
  kBodyTooLarge,        // 413
  kHeaderTooLarge,      // 431
  kUnsupported,         // 501: a Transfer-Encoding other than chunked
  kVersionUnsupported,  // 505: a well-formed HTTP version other than 1.0 and 1.1
};

// A part of the request's bytes, by position: it stays valid when the buffer holding the bytes
// grows (and moves) while the rest of the request arrives.
struct Span {
  uint32_t offset = 0;
  uint32_t length = 0;
  std::string_view In(std::string_view bytes) const { return bytes.substr(offset, length); }
};

struct Frame {
  FrameStatus status = FrameStatus::kIncomplete;
  std::string error;         // why, when refused
  size_t header_length = 0;  // bytes up to and including the blank line; 0 while not all here
  size_t length = 0;         // the whole request, when kComplete
  // What the request line and headers say (valid once header_length > 0).
  bool http10 = false;  // "HTTP/1.0"; otherwise HTTP/1.1
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool expects_continue = false;  // Expect: 100-continue (HTTP/1.1 only)
  bool chunked = false;           // Transfer-Encoding: chunked
  Span method;
  Span path;   // from an origin-form or absolute-form target, still percent-encoded
  Span query;  // after '?', without it ("" when none)
  Span authorization;
  Span content_type;      // the last Content-Type ("" when none)
  Span content_encoding;  // the last Content-Encoding ("" when none)
};

// Where reading the current request got to, so that the next call, with more bytes, goes on from
// there instead of from the start: a request that arrives in many small pieces costs time in
// proportion to its size. Reset it (= {}) when a request has been taken from the buffer.
struct FrameProgress {
  size_t head_scanned = 0;          // how far the blank line was searched for
  bool request_line_ended = false;  // a CRLF was found there
  Frame head;             // the request line and headers, once read (head.header_length > 0)
  size_t chunk_next = 0;  // chunked: where the next chunk-size or trailer line starts
  size_t chunk_data = 0;  // chunked: data bytes so far
  bool in_trailers = false;
};

// Looks at `bytes`, which begin with a request (blank lines before it already skipped), and says
// whether a whole request is there and how long it is. `progress` must be the one used with the
// same request's earlier, shorter bytes (or a fresh one).
Frame FindRequest(std::string_view bytes, const FrameLimits& limits, FrameProgress* progress);
// The same without remembering: for one-off reads and tests.
Frame FindRequest(std::string_view bytes, const FrameLimits& limits);

// The body of a complete request: a view of its Content-Length bytes, or a chunked body's data
// joined into *scratch.
std::string_view RequestBody(std::string_view bytes, const Frame& frame, std::string* scratch);

// Whether the connection stays open after answering: HTTP/1.1 unless "Connection: close";
// HTTP/1.0 only with "Connection: keep-alive".
bool KeepsAlive(const Frame& frame);

}  // namespace driftwatch::api
