// The HTTP front end: a Pistache 0.0.5 endpoint whose connection handler frames requests itself
// and answers through the Router. What it does about Pistache 0.0.5's defaults (measured):
//  - HTTP/1.1 keep-alive is the default: Pistache answers "Connection: Close" to a request without
//    a Connection header but keeps the socket open; we send the right header for the request's
//    version instead, and really close (after the answer is written) when we say "close".
//  - Pipelined requests: Pistache parses one request per read and drops the rest of the read. We
//    frame requests ourselves (api/http_framing.h) and feed Pistache's parser one at a time, so
//    each gets an answer, in order.
//  - Body limit: server.max_request_bytes (1 MiB), enforced from Content-Length before the body is
//    read: 413 in JSON, then the connection is closed. Headers beyond 16 KiB: 431.
//  - Closing after an answer: the answer is written at once (Pistache alone would hold it while
//    the client keeps sending), then the write side is shut and what still arrives is dropped;
//    input more than 2 s after the answer, or beyond 8 MiB, resets the connection. Closing with
//    unread input would reset it at once, and the reset can destroy the answer before the
//    client reads it.
//  - Timeouts: server.header_timeout_ms / body_timeout_ms and keepalive_timeout_ms, enforced by
//    Pistache's transport (checked every 500 ms). A request that does not arrive in time gets
//    Pistache's own 408 with an empty body, then the connection is closed: that answer is sent
//    by the transport and never reaches a handler, so it is the one answer that is not JSON.
//    An idle kept-alive connection is closed without an answer.
//  - Every other answer, error or not, is JSON (except /docs); no exception escapes a handler.
//  - Durable ingest (ingest.durable): the answer is made on the storage writer's thread once the
//    samples are committed. It goes back to the connection's own reactor thread (Pistache 0.0.5
//    has no call for that, but a timer armed from any thread fires there), and out only if the
//    connection is still the one that asked. Requests pipelined behind it wait until then, so
//    answers stay in order; no reactor thread ever waits for a commit.
//  - Limits it enforces itself (413, 431, 408) are counted in the router's LimitCounters, for
//    /v1/system/status. A 408 is Pistache's: it is counted when Pistache drops the connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/router.h"
#include "core/config.h"
#include "core/status.h"

namespace Pistache::Http {
class Endpoint;
}

namespace driftwatch::api {

struct ServerShared;

class HttpServer {
 public:
  // Binds config.host:config.port (0: any free port) and serves on config.threads reactor
  // threads. `router` must outlive the server. On failure returns "cannot listen on HOST:PORT:
  // <reason>" (e.g. "address already in use").
  static Status Start(const ServerConfig& config, const Router* router,
                      std::unique_ptr<HttpServer>* out);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Stops accepting and joins the reactor threads: once it returns, no handler runs any more.
  void Stop();

  uint16_t port() const { return port_; }
  // "http://HOST:PORT" as clients would write it (IPv6 hosts in brackets).
  std::string url() const;

 private:
  HttpServer() = default;
  std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
  std::shared_ptr<ServerShared> shared_;
  std::string host_;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

}  // namespace driftwatch::api
