// How the tests talk HTTP to the real `driftwatch` binary. Two ways, for two kinds of test:
//
// - Fetch(): an ordinary, well-formed request through the tools' libcurl client (http_client/),
//   on a fresh connection. For several requests on one kept-alive connection, an
//   http::HttpClient on http::LoopbackUrl(port). Use these whenever a test is about the answer.
//
// - RawConnection: exactly the bytes a test writes, on a socket of its own, and the raw answers.
//   Use it only when the bytes on the wire are the point: malformed or ambiguous requests
//   (smuggling attempts), pipelined requests, a request split or dribbled, Expect and chunked
//   framing written by hand, a half-close, slow or flooding senders, answers to HEAD read off the
//   wire, and whether and when the server closes the connection. libcurl would refuse, fix up or
//   hide each of these.
//
// Both give an http::HttpResponse (header names in lower case, looked up ignoring case). Every
// wait has a deadline, so a test never hangs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "http_client/http_client.h"

namespace driftwatch::testing {

using http::HttpResponse;

// One request on a fresh connection, through libcurl. `extra_headers`: "Name: value\r\n" lines,
// possibly none. No answer (refused, timed out) gives status 0, and the reason on stderr.
HttpResponse Fetch(uint16_t port, std::string_view method, std::string_view path,
                   std::string_view body = "", std::string_view extra_headers = "");

// The bytes of "METHOD /path HTTP/1.1" with Host, then `extra_headers` ("Name: value\r\n"
// lines, may be empty), then Content-Type and Content-Length when there is a body or it is a POST.
std::string BuildRequest(std::string_view method, std::string_view path, std::string_view body,
                         std::string_view extra_headers = "");

class RawConnection {
 public:
  static constexpr std::chrono::seconds kDefaultTimeout{30};

  RawConnection() = default;
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Connects to 127.0.0.1:port (closing any connection this object had).
  bool Connect(uint16_t port);
  bool Send(std::string_view bytes);
  // Reads the next answer, framed by its Content-Length; false (and status 0) on timeout, error or
  // end of stream.
  bool Read(HttpResponse* response, std::chrono::milliseconds timeout = kDefaultTimeout);
  // Reads the next answer to a HEAD request: its headers, and no body whatever Content-Length
  // says.
  bool ReadHead(HttpResponse* response, std::chrono::milliseconds timeout = kDefaultTimeout);
  // Shuts the sending side (the server sees the end of the stream); reading goes on.
  bool ShutdownWrite();
  int fd() const { return fd_; }
  // True when the server closes the connection (end of stream) before `timeout`, with nothing
  // more to read.
  bool ClosedByServer(std::chrono::milliseconds timeout = kDefaultTimeout);
  void Close();

 private:
  // Appends whatever arrives before `deadline` to buffer_; false on timeout, error or EOF.
  bool Fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  bool eof_ = false;
  std::string buffer_;  // received, not yet consumed
};

}  // namespace driftwatch::testing
