// The one HTTP/1.1 client of DriftWatch's own tools: driftwatch-sim, the benchmarks and the tests
// (the service never links it). It wraps one libcurl easy handle: one kept-alive connection to one
// base URL, one request at a time, connect and total timeouts, errors as values.
//
// Not thread-safe: give each thread its own HttpClient (libcurl's easy handles are per thread).
// Creating clients from many threads at once is safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "http_client/url.h"

namespace driftwatch::http {

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in order; names in lower case
  std::string body;

  // The first header called `name` (compared ignoring case), if any.
  std::optional<std::string> Header(std::string_view name) const;
};

struct HttpTimeouts {
  std::chrono::milliseconds connect{3000};
  // A whole request: from the start of connecting (or reusing) to the answer's last byte.
  std::chrono::milliseconds total{30000};
};

// "Name: value" lines for one request. Each replaces the client's own header of that name;
// "Name:" with no value removes it.
using HeaderLines = std::vector<std::string>;

class HttpClient {
 public:
  explicit HttpClient(Url base, HttpTimeouts timeouts = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `method` base-path + `path` and reads the whole answer into *response. Every request
  // says "Accept: application/json" and "Connection: keep-alive" (for proxies in between that would
  // close the connection otherwise); a body (sent when not empty, or whenever the method is POST
  // or PUT) goes with its Content-Length and "Content-Type: application/json". HEAD reads no body.
  //
  // The open connection is reused; a new one is opened when there is none or the server has closed
  // it. When the server closes a reused connection before answering at all, the request is sent
  // once more on a new one. An answer of any status is OK here; an error means there was no
  // complete answer, in words a user can act on ("cannot connect to http://localhost:8000:
  // connection refused — is driftwatch running?").
  Status Request(std::string_view method, std::string_view path, std::string_view body,
                 HttpResponse* response, const HeaderLines& headers = {});

  Status Get(std::string_view path, HttpResponse* response, const HeaderLines& headers = {}) {
    return Request("GET", path, {}, response, headers);
  }
  Status Head(std::string_view path, HttpResponse* response, const HeaderLines& headers = {}) {
    return Request("HEAD", path, {}, response, headers);
  }
  Status Post(std::string_view path, std::string_view body, HttpResponse* response,
              const HeaderLines& headers = {}) {
    return Request("POST", path, body, response, headers);
  }

  // TCP connections opened so far (libcurl's CURLINFO_NUM_CONNECTS, summed): keep-alive makes it
  // 1 for many requests.
  int connections_opened() const { return connections_opened_; }
  const Url& base() const { return base_; }

 private:
  Url base_;
  std::string prefix_;  // origin and base path, to which a request's path is appended
  HttpTimeouts timeouts_;
  void* easy_ = nullptr;  // CURL*; curl.h stays out of this header
  int connections_opened_ = 0;
};

}  // namespace driftwatch::http
