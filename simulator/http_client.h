// A small HTTP/1.1 client over POSIX sockets: one kept-alive connection, one request at a time
// (no pipelining), Content-Length bodies, connect and read timeouts. Enough to talk to DriftWatch.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace driftwatch::sim {

// http://HOST[:PORT][/PATH]. HOST may be a name, an IPv4 address or a bracketed IPv6 address.
struct Url {
  std::string host;         // without brackets
  std::string port = "80";  // decimal
  std::string path;         // "" or "/prefix", never with a trailing '/'

  // "http://host:port", as used in messages.
  std::string Origin() const;
};

// Fills *url, or says what is wrong with `text` (only http:// is supported).
Status ParseUrl(std::string_view text, Url* url);

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;

  // The first header called `name` (lower case), if any.
  std::optional<std::string> Header(std::string_view name) const;
};

struct HttpTimeouts {
  std::chrono::milliseconds connect{3000};
  std::chrono::milliseconds read{30000};  // the longest wait for the next byte of a response
};

class HttpClient {
 public:
  explicit HttpClient(Url base, HttpTimeouts timeouts = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `method` base-path + `path` with `body` (JSON when not empty, or whenever the method is
  // POST) and reads the whole response into *response. Reuses the open connection; opens a new one
  // when there is none or the server has closed it, transparently. A failure to connect says so in
  // words a user can act on ("cannot connect to http://localhost:8000: connection refused — is
  // driftwatch running?"); any other failure (timeout, malformed response) is an error too.
  Status Request(std::string_view method, std::string_view path, std::string_view body,
                 HttpResponse* response);

  // How many TCP connections this client has opened so far (keep-alive makes it 1 for many calls).
  int connections_opened() const { return connections_opened_; }

 private:
  Status Connect();
  void Close();
  bool ServerClosedIdleConnection();
  Status SendAll(std::string_view data);
  // *received_nothing tells apart a server that closed the connection before answering at all.
  Status ReadResponse(HttpResponse* response, bool* server_closes, bool* received_nothing);
  Status ReadMore(std::string* buffer, bool* at_eof);

  Url base_;
  HttpTimeouts timeouts_;
  int fd_ = -1;
  int connections_opened_ = 0;
};

}  // namespace driftwatch::sim
