#include "api/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pistache/net.h>
#include <pistache/peer.h>
#include <pistache/reactor.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "api/http_response.h"
#include "api/http_transport.h"
#include "core/thread_name.h"

namespace driftwatch::api {
namespace {

namespace Aio = Pistache::Aio;
namespace Tcp = Pistache::Tcp;

constexpr int kListenBacklog = 1024;
constexpr int kAcceptsPerWake = 64;        // then the stop signal is looked at again
constexpr int kPauseWhenOutOfFdsMs = 100;  // accepting pauses this long after EMFILE / ENFILE
constexpr uint64_t kMinFdReserve = 32;
constexpr uint64_t kMaxDefaultConnections = 1000000;

std::string Lowercase(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// The one answer the accepting thread writes itself: to a connection beyond the limit.
std::string TooManyConnectionsAnswer() {
  Reply reply = Router::Error(
      MakeError(503, "too_many_connections",
                "the server has as many connections as it takes (server.max_connections)"));
  reply.retry_after_seconds = 1;
  std::string bytes;
  WriteAnswer(reply, {false, false}, &bytes);
  return bytes;
}

}  // namespace

uint64_t DefaultMaxConnections() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return kMaxDefaultConnections;
  }
  const uint64_t fds = limit.rlim_cur;
  const uint64_t reserve = std::max(kMinFdReserve, fds / 8);
  if (fds <= 2 * reserve) return std::max<uint64_t>(1, fds / 2);
  return std::min(fds - reserve, kMaxDefaultConnections);
}

Status HttpServer::Start(const ServerConfig& config, const Router* router,
                         std::unique_ptr<HttpServer>* out) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  auto shared = std::make_shared<HttpShared>();
  shared->router = router;
  shared->frame_limits.max_body_bytes = config.max_request_bytes;
  shared->header_timeout = std::chrono::milliseconds(config.header_timeout_ms);
  shared->body_timeout = std::chrono::milliseconds(config.body_timeout_ms);
  shared->keepalive_timeout = std::chrono::milliseconds(config.keepalive_timeout_ms);
  shared->limits = router->limit_counters();
  if (!config.access_log.empty()) {
    Status opened = AccessLog::Open(config.access_log, &shared->access_log);
    if (!opened.ok()) return opened;
  }
  server->shared_ = shared;
  server->max_connections_ =
      config.max_connections > 0 ? config.max_connections : DefaultMaxConnections();
  shared->limits->max_connections.store(server->max_connections_);

  if (Status listening = server->Listen(config); !listening.ok()) return listening;
  server->stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  server->spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  try {
    server->reactor_ = Aio::Reactor::create();
    server->reactor_->init(Aio::AsyncContext(config.threads, "dw-http"));
    const Aio::Reactor::Key key =
        server->reactor_->addHandler(std::make_shared<ConnectionTransport>(shared));
    for (const auto& handler : server->reactor_->handlers(key)) {
      server->transports_.push_back(static_cast<ConnectionTransport*>(handler.get()));
    }
    server->reactor_->run();  // starts the reactor threads
  } catch (const std::exception& e) {
    return Status::Error("cannot start the HTTP threads: " + Lowercase(e.what()));
  }
  server->acceptor_ = std::thread([raw = server.get()] { raw->AcceptLoop(); });
  *out = std::move(server);
  return Status::Ok();
}

Status HttpServer::Listen(const ServerConfig& config) {
  const bool ipv6 = config.host.find(':') != std::string::npos;
  host_ = ipv6 && !config.host.starts_with('[') ? "[" + config.host + "]" : config.host;
  std::string host = config.host;
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  const std::string port = std::to_string(config.port);
  const auto fail = [&](const std::string& reason) {
    return Status::Error("cannot listen on " + host_ + ":" + port + ": " + reason);
  };

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int error = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); error != 0) {
    return fail(Lowercase(::gai_strerror(error)));
  }
  std::string reason = "no address to listen on";
  for (addrinfo* address = found; address != nullptr; address = address->ai_next) {
    const int fd =
        ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      reason = Lowercase(std::strerror(errno));
      continue;
    }
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, address->ai_addr, address->ai_addrlen) == 0 &&
        ::listen(fd, kListenBacklog) == 0) {
      listen_fd_ = fd;
      break;
    }
    reason = Lowercase(std::strerror(errno));
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (listen_fd_ < 0) return fail(reason);

  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &length);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return Status::Ok();
}

void HttpServer::AcceptLoop() {
  NameThisThread("dw-accept");
  pollfd watched[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (::poll(watched, 2, -1) < 0 && errno != EINTR) break;
    if (watched[1].revents != 0) break;
    if (watched[0].revents != 0) AcceptReady();
  }
}

// Takes the connections waiting in the backlog, a bounded number at a time.
void HttpServer::AcceptReady() {
  LimitCounters& limits = *shared_->limits;
  for (int i = 0; i < kAcceptsPerWake; ++i) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) ShedWithSpareDescriptor();
      return;  // EAGAIN: none left; anything else: tried again at the next wake
    }
    if (limits.connections_open.load(std::memory_order_relaxed) >= max_connections_) {
      Refuse(fd);
      continue;
    }
    limits.connections_open.fetch_add(1, std::memory_order_relaxed);
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    ConnectionTransport* transport = transports_[next_transport_++ % transports_.size()];
    transport->Adopt(
        Tcp::Peer::Create(fd, Pistache::Address::fromUnix(reinterpret_cast<sockaddr*>(&address))));
  }
}

// A connection beyond server.max_connections: a 503 it can read, then the end. What it sent
// already is read first, so that closing does not reset the connection under the answer.
void HttpServer::Refuse(int fd) {
  static const std::string answer = TooManyConnectionsAnswer();
  shared_->limits->connections_refused.fetch_add(1, std::memory_order_relaxed);
  char discard[4096];
  while (::recv(fd, discard, sizeof discard, MSG_DONTWAIT) > 0) {
  }
  (void)!::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

// Out of descriptors: the waiting connection would make the listening socket readable for ever,
// and a loop on accept() would spin. So one descriptor is kept spare: freed to take the
// connection and close it at once, then taken back; and accepting pauses for a moment.
void HttpServer::ShedWithSpareDescriptor() {
  shared_->limits->connections_refused.fetch_add(1, std::memory_order_relaxed);
  if (spare_fd_ >= 0) {
    ::close(spare_fd_);
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) ::close(fd);
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  pollfd stop = {stop_fd_, POLLIN, 0};
  ::poll(&stop, 1, kPauseWhenOutOfFdsMs);
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (stopped_ || !shared_) return;
  stopped_ = true;
  if (acceptor_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    acceptor_.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  {
    // An answer still on its way (a durable ingest being committed) is dropped from here on: its
    // connection closes without it, and its samples are stored all the same.
    std::lock_guard<std::mutex> lock(shared_->reply_mutex);
    shared_->accepting_replies = false;
  }
  if (reactor_) {
    reactor_->shutdown();
    reactor_.reset();  // joins the reactor threads: no handler runs after this
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (spare_fd_ >= 0) ::close(spare_fd_);
}

std::string HttpServer::url() const { return "http://" + host_ + ":" + std::to_string(port_); }

}  // namespace driftwatch::api
