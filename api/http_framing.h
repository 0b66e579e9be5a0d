// Finds where one HTTP/1.x request ends in the bytes a connection has sent, so the server can hand
// Pistache's parser exactly one request at a time. Pistache 0.0.5 parses one request per read and
// throws away whatever follows it in the same read: pipelined requests would be lost or, worse,
// mis-framed. Framing them here first makes every pipelined request get its own answer, in order.
//
// A request the framing finds plain (see Frame::plain) is taken from what it read, without
// Pistache's parser: that parser costs about 40 % of the CPU of a bare Pistache handler's request,
// and the framing has read everything the API needs already. Anything less ordinary goes through
// Pistache's parser as before, so its behaviour (what it refuses, and how) is unchanged.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace driftwatch::api {

// Request line and headers, blank line included: beyond this, 431.
constexpr size_t kMaxHeaderBytes = 16 * 1024;

struct FrameLimits {
  size_t max_header_bytes = kMaxHeaderBytes;
  size_t max_body_bytes = 1024 * 1024;  // Content-Length, or a chunked body as sent
};

enum class FrameStatus {
  kIncomplete,      // wait for more bytes
  kComplete,        // `length` bytes hold one whole request
  kHeaderTooLarge,  // 431
  kBodyTooLarge,    // 413
  kMalformed,       // 400: the request cannot be framed (bad Content-Length, chunk size, ...)
  kUnsupported,     // 501: a Transfer-Encoding other than chunked
};

struct Frame {
  FrameStatus status = FrameStatus::kIncomplete;
  size_t header_length = 0;  // bytes up to and including the blank line; 0 while not all here
  size_t length = 0;         // the whole request, when kComplete
  // What the headers say (valid once header_length > 0).
  bool http10 = false;            // "HTTP/1.0" request line
  bool connection_close = false;  // Connection: close
  bool connection_keep_alive = false;
  bool expects_continue = false;  // Expect: 100-continue
  std::string error;              // why, for kMalformed / kUnsupported
  // The request line's method and target, and the Authorization header's value: views into the
  // bytes given to FindRequest, set when `plain`.
  std::string_view method;
  std::string_view target;
  std::string_view authorization;
  // A GET or POST of HTTP/1.0 or 1.1 whose target is a plain path (no query), with a body of
  // Content-Length bytes (or none), and only headers Pistache's parser takes without a question:
  // Host, User-Agent, Accept (*/* or application/json), Content-Type (application/json),
  // Content-Length, Connection (keep-alive or close), Expect (100-continue), Authorization, and
  // X-* headers, with printable values, no tab and no trailing space. Such a request means exactly
  // what these fields say.
  bool plain = false;
};

// Looks at the start of `bytes` (which begins with a request line) and says whether a whole
// request is there and how long it is. Pure: no state, no allocation beyond `error`.
Frame FindRequest(std::string_view bytes, const FrameLimits& limits);

// Whether the connection stays open after answering: HTTP/1.1 unless "Connection: close";
// HTTP/1.0 only with "Connection: keep-alive".
bool KeepsAlive(const Frame& frame);

}  // namespace driftwatch::api
