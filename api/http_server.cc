#include "api/http_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <pistache/transport.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "api/http_framing.h"

namespace driftwatch::api {

// What the server shares with its connections and with answers made on other threads, all of which
// may outlive Stop().
struct ServerShared {
  std::shared_ptr<LimitCounters> limits;
  std::atomic<bool> stopping{false};  // connections closed from now on did not time out
  std::mutex reply_mutex;             // held while an answer is handed to a reactor
  bool accepting_replies = true;      // guarded by reply_mutex; false once the reactors stop
};

namespace {

namespace Http = Pistache::Http;
namespace Tcp = Pistache::Tcp;

// Short enough for std::string's inline buffer: Pistache takes the key as a std::string each time.
constexpr char kConnectionStateKey[] = "dw.connection";
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
// The shortest timer Pistache can arm (0 would disarm it): how late a reply made on another
// thread leaves for the reactor thread.
constexpr std::chrono::milliseconds kHopDelay{1};
// After an answer with "Connection: close" the rest of the client's input is still read, and
// dropped, for this long and up to this much; input beyond either resets the connection. Closing a
// socket with unread input makes the kernel reset the connection, and a reset can destroy the
// answer before the client has read it (a client typically reads only once it has sent everything).
constexpr std::chrono::milliseconds kDrainTime{2000};
constexpr size_t kMaxDrainBytes = 8 * 1024 * 1024;

class RetryAfter : public Http::Header::Header {
 public:
  NAME("Retry-After")
  explicit RetryAfter(uint32_t seconds = 0) : seconds_(seconds) {}
  void parseRaw(const char*, size_t) override {}  // only ever sent, never parsed
  void write(std::ostream& os) const override { os << seconds_; }

 private:
  uint32_t seconds_;
};

class WwwAuthenticate : public Http::Header::Header {
 public:
  NAME("WWW-Authenticate")
  void parseRaw(const char*, size_t) override {}
  void write(std::ostream& os) const override { os << "Bearer realm=\"driftwatch\""; }
};

// What a connection has sent that is not answered yet. Lives in the Pistache peer, and is only
// touched on the peer's reactor thread.
struct ConnectionState {
  explicit ConnectionState(std::shared_ptr<ServerShared> server) : shared(std::move(server)) {}

  // Pistache's transport closes a connection without telling the handler only at a timeout (and
  // when the server stops): a request still in progress then was answered 408.
  ~ConnectionState() {
    if (disconnected || closing || awaiting || buffer.empty() || shared->stopping) return;
    LimitCounters& limits = *shared->limits;
    (fed > 0 ? limits.body_timeouts : limits.header_timeouts).fetch_add(1);
  }
  ConnectionState(const ConnectionState&) = delete;
  ConnectionState& operator=(const ConnectionState&) = delete;

  std::shared_ptr<ServerShared> shared;
  // Pistache's parser of this connection, looked up once (Pistache finds it by name each time).
  std::shared_ptr<Http::Private::ParserImpl<Http::Request>> parser;
  std::string buffer;          // the current request's bytes, then any pipelined after it
  size_t fed = 0;              // how many of them Pistache's parser has been given
  bool continue_sent = false;  // "100 Continue" already sent for the current request
  bool closing = false;        // we answered "Connection: close": drop whatever else arrives
  std::chrono::steady_clock::time_point drain_until;  // when closing: see kDrainTime
  size_t dropped = 0;                                 // bytes dropped since, up to kMaxDrainBytes
  bool disconnected = false;                          // the client closed the connection
  // A request is answered later (durable ingest): what follows it waits in `buffer` until then.
  bool awaiting = false;
  bool overflowed = false;  // more arrived meanwhile than a request may hold: close after it
};

// Pistache 0.0.5 keeps a transport's connections in its protected member `peers`. A peer that is
// no longer there was closed, and its file descriptor may already serve another client.
struct PeerTable : Tcp::Transport {
  static bool Contains(Tcp::Transport* transport, const Tcp::Peer& peer) {
    const auto& peers = transport->*(&PeerTable::peers);
    const auto it = peers.find(peer.fd());
    return it != peers.end() && it->second.get() == &peer;
  }
};

// Runs `work` on the reactor thread of `transport`, soon. Pistache 0.0.5 has no call to post work
// to a reactor, but a timer armed from any thread fires on the transport's own thread.
bool RunOnReactor(Tcp::Transport* transport, std::function<void()> work) {
  const int timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer < 0) return false;
  Pistache::Async::Deferred<uint64_t> deferred;
  {
    Pistache::Async::Promise<uint64_t> fired(
        [&deferred](Pistache::Async::Deferred<uint64_t> made) { deferred = std::move(made); });
    // Attached before the timer is armed, so `work` runs where the timer fires, never here.
    fired.then(
        [timer, work = std::move(work)](uint64_t) {
          ::close(timer);
          work();
        },
        [timer](const std::exception_ptr&) { ::close(timer); });
  }  // from here only the timer holds the promise, so the reactor thread is the one to free it
  transport->armTimer(timer, kHopDelay, std::move(deferred));
  return true;
}

Http::Method MethodFromName(const std::string& name) {
  return name == "POST" ? Http::Method::Post : Http::Method::Get;
}

const Http::Mime::MediaType& MediaTypeOf(std::string_view content_type) {
  static const Http::Mime::MediaType kJson(Http::Mime::Type::Application,
                                           Http::Mime::Subtype::Json);
  static const Http::Mime::MediaType kHtml =
      Http::Mime::MediaType::fromString("text/html; charset=utf-8");
  return content_type == "application/json" ? kJson : kHtml;
}

std::string LowercaseFirst(std::string text) {
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') text[0] = static_cast<char>(text[0] + 32);
  return text;
}

// One per reactor thread (Pistache clones it); per-connection state is in each peer.
class ConnectionHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(ConnectionHandler)

  ConnectionHandler(const Router* router, FrameLimits limits, std::shared_ptr<ServerShared> shared)
      : router_(router), limits_(limits), shared_(std::move(shared)) {}

  // Replaces Pistache's own onInput (which parses one request per read and drops the rest).
  void onInput(const char* data, size_t length, const std::shared_ptr<Tcp::Peer>& peer) override {
    ConnectionState& state = StateOf(peer);
    if (state.closing) {  // draining: see kDrainTime
      state.dropped += length;
      if (state.dropped > kMaxDrainBytes || std::chrono::steady_clock::now() > state.drain_until) {
        StopDraining(*peer);
      }
      return;
    }
    if (state.awaiting) {  // keep what follows, within what one request may hold, for later
      if (state.buffer.size() + length > limits_.max_header_bytes + limits_.max_body_bytes) {
        state.overflowed = true;
      } else {
        state.buffer.append(data, length);
      }
      return;
    }
    if (state.buffer.empty()) BeginRequest(peer, state);
    state.buffer.append(data, length);
    AnswerSafely(peer, state);
  }

  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    if (std::shared_ptr<void> data = peer->tryGetData(kConnectionStateKey)) {
      std::static_pointer_cast<ConnectionState>(data)->disconnected = true;
    }
    Http::Handler::onDisconnection(peer);
  }

  // Pistache calls this only from its own onInput, which onInput above replaces.
  void onRequest(const Http::Request& request, Http::ResponseWriter response) override {
    Respond(response, router_->Handle(ToApiRequest(request)), true, nullptr);
  }

 private:
  ConnectionState& StateOf(const std::shared_ptr<Tcp::Peer>& peer) const {
    std::shared_ptr<void> data = peer->tryGetData(kConnectionStateKey);
    if (!data) {
      auto state = std::make_shared<ConnectionState>(shared_);
      state->parser = getParser(peer);
      data = state;
      peer->putData(kConnectionStateKey, data);
    }
    return *std::static_pointer_cast<ConnectionState>(data);
  }

  // The first bytes of a request: restart Pistache's request clock (header and body timeouts
  // count from here, not from the previous answer) and mark the connection busy, not idle.
  static void BeginRequest(const std::shared_ptr<Tcp::Peer>& peer, ConnectionState& state) {
    state.parser->reset();
    peer->setIdle(false);
  }

  static ApiRequest PlainRequest(std::string_view bytes, const Frame& frame) {
    ApiRequest api;
    api.method = frame.method;
    api.path = frame.target;
    api.body = bytes.substr(frame.header_length, frame.length - frame.header_length);
    api.authorization = frame.authorization;
    return api;
  }

  static ApiRequest ToApiRequest(const Http::Request& request) {
    ApiRequest api;
    api.method = Http::methodString(request.method());
    api.path = request.resource();
    const auto& query = request.query();
    for (auto it = query.parameters_begin(); it != query.parameters_end(); ++it) {
      api.query.emplace_back(it->first, it->second);
    }
    api.body = request.body();
    if (auto authorization = request.headers().tryGet<Http::Header::Authorization>()) {
      api.authorization = authorization->value();
    }
    return api;
  }

  void AnswerSafely(const std::shared_ptr<Tcp::Peer>& peer, ConnectionState& state) {
    try {
      AnswerBuffered(peer, state);
    } catch (const Http::HttpError& error) {
      // Pistache's parser refused the request line or headers: the client's fault.
      const int status = error.code() >= 400 && error.code() < 600 ? error.code() : 400;
      Fail(peer, state, Router::Error(MakeError(status, "bad_request", error.reason())));
    } catch (...) {
      Fail(peer, state, Router::Error(MakeError(500, "internal_error", "internal server error")));
    }
  }

  // Answers every whole request in the buffer, in order; keeps a partial one for later. Stops at
  // a request that is answered later (durable ingest): SendLater goes on from there.
  void AnswerBuffered(const std::shared_ptr<Tcp::Peer>& peer, ConnectionState& state) {
    while (!state.closing && !state.awaiting) {
      // Blank lines between requests are allowed (RFC 9112 section 2.2).
      while (state.fed == 0 && state.buffer.starts_with("\r\n")) state.buffer.erase(0, 2);
      if (state.buffer.empty()) {
        peer->setIdle(true);  // nothing but blank lines: still between requests
        return;
      }

      const Frame frame = FindRequest(state.buffer, limits_);
      switch (frame.status) {
        case FrameStatus::kIncomplete:
          WaitForBody(peer, state, frame);
          return;
        case FrameStatus::kHeaderTooLarge:
          shared_->limits->headers_too_large.fetch_add(1, std::memory_order_relaxed);
          Fail(peer, state,
               Router::Error(MakeError(431, "headers_too_large",
                                       "request line and headers must fit in " +
                                           std::to_string(limits_.max_header_bytes) + " bytes")));
          return;
        case FrameStatus::kBodyTooLarge:
          shared_->limits->body_too_large.fetch_add(1, std::memory_order_relaxed);
          Fail(peer, state,
               Router::Error(MakeError(413, "payload_too_large",
                                       "request body larger than " +
                                           std::to_string(limits_.max_body_bytes) +
                                           " bytes (server.max_request_bytes)")));
          return;
        case FrameStatus::kMalformed:
          Fail(peer, state, Router::Error(MakeError(400, "bad_request", frame.error)));
          return;
        case FrameStatus::kUnsupported:
          Fail(peer, state, Router::Error(MakeError(501, "not_implemented", frame.error)));
          return;
        case FrameStatus::kComplete:
          break;
      }

      Http::Private::ParserImpl<Http::Request>* parser = state.parser.get();
      Http::Version version = frame.http10 ? Http::Version::Http10 : Http::Version::Http11;
      ApiRequest request;
      if (frame.plain) {  // the framing read all of it (http_framing.h)
        request = PlainRequest(state.buffer, frame);
      } else {
        if (!parser->feed(state.buffer.data() + state.fed, frame.length - state.fed) ||
            parser->parse() != Http::Private::State::Done) {
          Fail(peer, state,
               Router::Error(MakeError(400, "bad_request", "the request could not be parsed")));
          return;
        }
        version = parser->request.version();
        request = ToApiRequest(parser->request);
      }
      const bool keep_alive = KeepsAlive(frame);
      std::optional<Reply> reply = router_->HandleAsync(
          request, router_->may_defer() ? Later(peer, version, keep_alive) : nullptr);
      parser->reset();  // frees the body now; also starts the keep-alive clock

      state.buffer.erase(0, frame.length);
      state.fed = 0;
      state.continue_sent = false;
      if (!reply) {
        state.awaiting = true;
        return;
      }
      Http::ResponseWriter response(version, transport(), this, peer);
      Respond(response, *reply, keep_alive, peer);
      if (!Continue(peer, state, keep_alive)) return;
    }
  }

  // After an answer: false when the connection closes; otherwise starts the clock of a pipelined
  // request that is already here.
  static bool Continue(const std::shared_ptr<Tcp::Peer>& peer, ConnectionState& state,
                       bool keep_alive) {
    if (!keep_alive) {
      StartDraining(state);
      return false;
    }
    if (!state.buffer.empty()) BeginRequest(peer, state);
    return true;
  }

  // Where an answer made on another thread goes: to this connection's reactor thread, and out
  // only if the connection is still the one that asked (its descriptor may have been reused).
  // Without a timer for the hop (no file descriptor left) the answer is lost, and the request
  // times out like one the client never finished.
  ReplyCallback Later(const std::shared_ptr<Tcp::Peer>& peer, Http::Version version,
                      bool keep_alive) {
    Tcp::Transport* reactor = transport();
    std::weak_ptr<Tcp::Peer> weak_peer = peer;
    return [this, reactor, weak_peer, version, keep_alive, shared = shared_](Reply reply) {
      std::lock_guard<std::mutex> lock(shared->reply_mutex);
      if (!shared->accepting_replies) return;  // the reactors are stopping or gone
      RunOnReactor(reactor,
                   [this, reactor, weak_peer, version, keep_alive, reply = std::move(reply)] {
                     std::shared_ptr<Tcp::Peer> alive = weak_peer.lock();
                     if (!alive || !PeerTable::Contains(reactor, *alive)) return;
                     SendLater(alive, reply, version, keep_alive);
                   });
    };
  }

  // On the reactor thread: the answer of the request the connection waits for, then the requests
  // that arrived meanwhile.
  void SendLater(const std::shared_ptr<Tcp::Peer>& peer, const Reply& reply, Http::Version version,
                 bool keep_alive) {
    ConnectionState& state = StateOf(peer);
    if (!state.awaiting || state.closing) return;
    state.awaiting = false;
    keep_alive = keep_alive && !state.overflowed;
    Http::ResponseWriter response(version, transport(), this, peer);
    Respond(response, reply, keep_alive, peer);
    if (Continue(peer, state, keep_alive)) AnswerSafely(peer, state);
  }

  // Headers are complete but the body is not: give Pistache's parser the headers, so its body
  // timeout applies from now on, and tell a client that waits for it to send the body.
  void WaitForBody(const std::shared_ptr<Tcp::Peer>& peer, ConnectionState& state,
                   const Frame& frame) {
    if (frame.header_length == 0) return;
    if (state.fed == 0) {
      Http::Private::ParserImpl<Http::Request>* parser = state.parser.get();
      if (!parser->feed(state.buffer.data(), frame.header_length)) {
        Fail(peer, state, Router::Error(MakeError(431, "headers_too_large", "headers too large")));
        return;
      }
      parser->parse();  // throws Http::HttpError on a bad request line or header
      state.fed = frame.header_length;
    }
    if (frame.expects_continue && !state.continue_sent &&
        state.buffer.size() == frame.header_length) {
      peer->send(Pistache::RawBuffer(kContinue, sizeof(kContinue) - 1));
      state.continue_sent = true;
    }
  }

  // Answers with `reply` and closes the connection once the answer is written.
  void Fail(const std::shared_ptr<Tcp::Peer>& peer, ConnectionState& state, const Reply& reply) {
    const std::string_view request_line =
        std::string_view(state.buffer).substr(0, state.buffer.find("\r\n"));
    const bool http10 = request_line.ends_with(" HTTP/1.0");
    StartDraining(state);
    state.fed = 0;
    Http::ResponseWriter response(http10 ? Http::Version::Http10 : Http::Version::Http11,
                                  transport(), this, peer);
    Respond(response, reply, false, peer);
  }

  // Sends `reply`, on the reactor thread. Without keep-alive, once the answer is out, shuts the
  // socket down for writing (the client sees the end of the stream): Pistache closes the socket
  // when the client does, or when StopDraining ends the drain.
  void Respond(Http::ResponseWriter& response, const Reply& reply, bool keep_alive,
               const std::shared_ptr<Tcp::Peer>& peer) {
    auto& headers = response.headers();
    headers.remove<Http::Header::Connection>();
    headers.add<Http::Header::Connection>(keep_alive ? Http::ConnectionControl::KeepAlive
                                                     : Http::ConnectionControl::Close);
    if (reply.retry_after_seconds > 0) headers.add<RetryAfter>(reply.retry_after_seconds);
    if (reply.challenge) headers.add<WwwAuthenticate>();
    if (!reply.allow.empty()) {
      std::vector<Http::Method> methods;
      for (const std::string& method : reply.allow) methods.push_back(MethodFromName(method));
      headers.add<Http::Header::Allow>(methods);
    }
    auto sent = response.send(static_cast<Http::Code>(reply.status), reply.body,
                              MediaTypeOf(reply.content_type));
    if (!keep_alive && peer) {
      sent.then([peer](ssize_t) { ::shutdown(peer->fd(), SHUT_WR); },
                [peer](const std::exception_ptr&) { StopDraining(*peer); });
    }
    // Pistache 0.0.5 queues the answer and writes it on an epoll event that says "writable" but
    // not "readable": it handles an event that says both as a read only, and its edge-triggered
    // epoll reports no other until more arrives. So while a client keeps sending (the rest of a
    // body refused early), a queued answer could wait for as long as it does, or for ever. Such an
    // answer always closes the connection, and is written now. A keep-alive answer is not: its
    // client waits for it, and writing it here, in the middle of the reactor's batch of events,
    // wakes the client at once, which preempts the reactor: twice the context switches and about
    // 8 % of single-sample throughput (docs/performance.md).
    if (!keep_alive) transport()->flush();
  }

  // The connection closes after its answer: what else arrives is dropped, within kDrainTime and
  // kMaxDrainBytes, which onInput checks whenever more arrives.
  static void StartDraining(ConnectionState& state) {
    state.closing = true;
    state.buffer.clear();
    state.drain_until = std::chrono::steady_clock::now() + kDrainTime;
  }

  // Ends the drain of a connection that was answered "Connection: close": Pistache's next read
  // sees the end of the stream and closes the socket, which then resets the connection. A
  // graceful close could leave the client blocked on a full window for minutes.
  static void StopDraining(const Tcp::Peer& peer) {
    const linger reset{1, 0};
    ::setsockopt(peer.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::shutdown(peer.fd(), SHUT_RDWR);
  }

  const Router* router_;
  FrameLimits limits_;
  std::shared_ptr<ServerShared> shared_;
};

}  // namespace

Status HttpServer::Start(const ServerConfig& config, const Router* router,
                         std::unique_ptr<HttpServer>* out) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  // Pistache wants IPv6 addresses in brackets.
  server->host_ = config.host.find(':') != std::string::npos && !config.host.starts_with('[')
                      ? "[" + config.host + "]"
                      : config.host;
  FrameLimits limits;
  limits.max_header_bytes = kMaxHeaderBytes;
  limits.max_body_bytes = config.max_request_bytes;
  try {
    server->endpoint_ = std::make_unique<Http::Endpoint>(
        Pistache::Address(server->host_, Pistache::Port(config.port)));
    auto options = Http::Endpoint::options()
                       .threads(static_cast<int>(config.threads))
                       .flags(Tcp::Options::ReuseAddr | Tcp::Options::NoDelay)
                       // One whole request at most: our framing rejects anything bigger first.
                       .maxRequestSize(limits.max_header_bytes + limits.max_body_bytes)
                       .headerTimeout(std::chrono::milliseconds(config.header_timeout_ms))
                       .bodyTimeout(std::chrono::milliseconds(config.body_timeout_ms))
                       .keepaliveTimeout(std::chrono::milliseconds(config.keepalive_timeout_ms));
    server->endpoint_->init(options);
    server->shared_ = std::make_shared<ServerShared>();
    server->shared_->limits = router->limit_counters();
    server->endpoint_->setHandler(
        Http::make_handler<ConnectionHandler>(router, limits, server->shared_));
    server->endpoint_->serveThreaded();  // binds, listens, starts the reactor threads
    server->port_ = static_cast<uint16_t>(server->endpoint_->getPort());
  } catch (const std::exception& e) {
    server->endpoint_.reset();
    return Status::Error("cannot listen on " + server->host_ + ":" + std::to_string(config.port) +
                         ": " + LowercaseFirst(e.what()));
  }
  *out = std::move(server);
  return Status::Ok();
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (stopped_ || !endpoint_) return;
  stopped_ = true;
  shared_->stopping = true;
  {
    // An answer still on its way (a durable ingest being committed) is dropped from here on: its
    // connection closes without it, and its samples are stored all the same.
    std::lock_guard<std::mutex> lock(shared_->reply_mutex);
    shared_->accepting_replies = false;
  }
  endpoint_->shutdown();
  // Pistache's shutdown only tells the reactor threads to stop; they are joined when the endpoint
  // is destroyed. Only then does no handler run any more.
  endpoint_.reset();
}

std::string HttpServer::url() const { return "http://" + host_ + ":" + std::to_string(port_); }

}  // namespace driftwatch::api
