// The HTTP front end: a listening socket, the thread that accepts connections, and the reactor
// threads (Pistache's) whose transports read and answer them (api/http_transport.h). Its promises
// to an operator, in docs/operations.md ("Connections and memory"):
//  - at most server.max_connections connections at once (default: what the open-file limit
//    allows, less a reserve for the database and the service's own descriptors); a connection
//    beyond it is answered 503 with "Connection: close" and closed at once;
//  - when the process runs out of file descriptors anyway, a connection is accepted on a spare
//    descriptor and closed at once, and accepting pauses briefly: never a busy loop;
//  - idle connections close after server.keepalive_timeout_ms, slow requests get 408 after
//    server.header_timeout_ms / body_timeout_ms, and a client that leaves its answers unread for
//    server.keepalive_timeout_ms is cut off;
//  - each connection holds at most one request, one read and a bounded amount of unwritten
//    answers in memory (api/http_transport.h), and returns it when it closes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/router.h"
#include "core/config.h"
#include "core/status.h"

namespace Pistache::Aio {
class Reactor;
}

namespace driftwatch::api {

struct HttpShared;
class ConnectionTransport;

class HttpServer {
 public:
  // Binds config.host:config.port (0: any free port) and serves on config.threads reactor
  // threads. `router` must outlive the server. On failure returns "cannot listen on HOST:PORT:
  // <reason>" (e.g. "address already in use"), or why the access log cannot be opened.
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
  Status Listen(const ServerConfig& config);
  void AcceptLoop();
  void AcceptReady();
  void Refuse(int fd);
  void ShedWithSpareDescriptor();

  std::shared_ptr<HttpShared> shared_;
  std::shared_ptr<Pistache::Aio::Reactor> reactor_;
  std::vector<ConnectionTransport*> transports_;  // owned by reactor_, one per thread
  size_t next_transport_ = 0;
  uint64_t max_connections_ = 0;
  int listen_fd_ = -1;
  int stop_fd_ = -1;   // eventfd: tells the accepting thread to stop
  int spare_fd_ = -1;  // kept open to accept with when no other descriptor is left
  std::thread acceptor_;
  std::string host_;  // as clients write it
  uint16_t port_ = 0;
  bool stopped_ = false;
};

// The connection limit server.max_connections = 0 stands for: the soft open-file limit less a
// reserve (an eighth of it, at least 32) for the service's other descriptors.
uint64_t DefaultMaxConnections();

}  // namespace driftwatch::api
