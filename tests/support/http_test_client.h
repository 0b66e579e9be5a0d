// A small HTTP/1.1 client over a raw loopback socket, for the API tests: it sends exactly the
// bytes a test asks for (so tests can check keep-alive, pipelining and malformed requests) and
// reads responses framed by Content-Length. Every read has a deadline, so a test never hangs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace driftwatch::testing {

struct HttpResponse {
  int status = 0;  // 0: no (complete) response was read
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The value of a header (name compared ignoring case); "" when absent.
  std::string Header(std::string_view name) const;
};

// "POST /path HTTP/1.1" with Host and Content-Length, plus `extra_headers` ("Name: value\r\n"
// lines, may be empty).
std::string BuildRequest(std::string_view method, std::string_view path, std::string_view body,
                         std::string_view extra_headers = "");

class HttpConnection {
 public:
  static constexpr std::chrono::seconds kDefaultTimeout{30};

  HttpConnection() = default;
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool Connect(uint16_t port);
  bool Send(std::string_view bytes);
  // Reads the next response; false (and status 0) on timeout, error or end of stream.
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

// One request on a fresh connection.
HttpResponse Fetch(uint16_t port, std::string_view method, std::string_view path,
                   std::string_view body = "", std::string_view extra_headers = "");

}  // namespace driftwatch::testing
