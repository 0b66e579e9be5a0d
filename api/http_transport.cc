#include "api/http_transport.h"

#include <pistache/peer.h>
#include <pistache/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <utility>

#include "api/http_response.h"

namespace driftwatch::api {

namespace Aio = Pistache::Aio;
namespace Polling = Pistache::Polling;
namespace Tcp = Pistache::Tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kReadChunk = 16 * 1024;           // one recv
constexpr size_t kReadBudget = 64 * 1024;          // read by one connection in one turn
constexpr int kAnswersPerTurn = 64;                // answered for one connection in one turn
constexpr size_t kOutputHighWater = 256 * 1024;    // unwritten answers: stop reading
constexpr size_t kOutputLowWater = 64 * 1024;      // ... and go on once below this
constexpr size_t kWriteChunk = 64 * 1024;          // the pieces an answer is written in
constexpr size_t kKeepBufferCapacity = 64 * 1024;  // an idle connection keeps no more
constexpr auto kTickInterval = std::chrono::milliseconds(100);  // how often timeouts are checked
// After an answer with "Connection: close" the rest of the client's input is still read, and
// dropped, for this long and up to this much; input beyond either resets the connection. Closing a
// socket with unread input makes the kernel reset the connection, and a reset can destroy the
// answer before the client has read it (a client typically reads only once it has sent everything).
constexpr auto kDrainTime = std::chrono::milliseconds(2000);
constexpr size_t kMaxDrainBytes = 8 * 1024 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Tells the transport what Pistache does with its peers. Pistache calls onInput only from its own
// reading, which ConnectionTransport replaces, and onDisconnection only from there too.
class PeerEvents final : public Tcp::Handler {
 public:
  PROTOTYPE_OF(Tcp::Handler, PeerEvents)
  void onInput(const char*, size_t, const std::shared_ptr<Tcp::Peer>&) override {}
  void onConnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    static_cast<ConnectionTransport*>(transport())->Opened(peer);
  }
};

std::vector<std::pair<std::string, std::string>> SplitQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> parameters;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    if (!item.empty()) {
      const size_t equals = item.find('=');
      parameters.emplace_back(
          std::string(item.substr(0, equals)),
          equals == std::string_view::npos ? std::string() : std::string(item.substr(equals + 1)));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return parameters;
}

// The methods of RFC 9110 9.3 and PATCH: a path that does not take one answers 405.
bool IsKnownMethod(std::string_view method) {
  for (std::string_view known :
       {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}) {
    if (method == known) return true;
  }
  return false;
}

int64_t MicrosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

}  // namespace

// One client connection. Lives in ConnectionTransport::connections_ from Opened to Close.
struct Connection {
  std::shared_ptr<Tcp::Peer> peer;
  int fd = -1;
  uint64_t id = 0;        // tells this connection from a later one on the same file descriptor
  std::string peer_name;  // "address:port", for the access log

  // Input not answered yet: bytes [start, size) of `buffer`; `progress` is how far the framing of
  // the request at `start` got.
  std::string buffer;
  size_t start = 0;
  FrameProgress progress;
  Clock::time_point request_started;  // the current request's first byte
  bool continue_sent = false;         // "100 Continue" sent for the current request

  size_t unwritten = 0;             // bytes of answers handed to Pistache and not yet written
  Clock::time_point last_progress;  // last answer written, or the connection opened
  bool paused = false;              // too many answers unwritten: reading stopped

  bool awaiting = false;  // a request is answered later (durable ingest); what follows waits
  bool awaiting_keep_alive = true;
  bool awaiting_head = false;
  std::string awaiting_method, awaiting_path;  // for the access log
  Clock::time_point awaiting_started;

  bool read_closed = false;  // the client shut its sending side: answer, then close
  bool draining = false;     // answered "Connection: close": drop input, close when written
  bool write_shut = false;   // the end of the stream was sent
  Clock::time_point drain_until;
  size_t dropped = 0;
  bool scheduled = false;  // in ready_
  bool doomed = false;     // in closing_, or closed: no more reading or answering
  bool reset = false;      // close with a reset, not the end of the stream
  bool retiring = false;   // closed; its descriptor goes back to Pistache at a tick (Retire)
  uint64_t retire_after_tick = 0;

  std::string_view Unanswered() const { return std::string_view(buffer).substr(start); }
  bool InRequest() const { return start < buffer.size(); }
};

ConnectionTransport::ConnectionTransport(std::shared_ptr<HttpShared> shared)
    : Tcp::Transport(std::make_shared<PeerEvents>()), shared_(std::move(shared)) {}

ConnectionTransport::~ConnectionTransport() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (tick_fd_ >= 0) ::close(tick_fd_);
}

std::shared_ptr<Aio::Handler> ConnectionTransport::clone() const {
  return std::make_shared<ConnectionTransport>(shared_);
}

void ConnectionTransport::registerPoller(Polling::Epoll& poller) {
  Tcp::Transport::registerPoller(poller);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  tick_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (wake_fd_ < 0 || tick_fd_ < 0) throw std::runtime_error("cannot create the reactor's timers");
  const auto interval_ns = std::chrono::nanoseconds(kTickInterval).count();
  itimerspec spec{};
  spec.it_interval.tv_nsec = interval_ns;
  spec.it_value.tv_nsec = interval_ns;
  ::timerfd_settime(tick_fd_, 0, &spec, nullptr);
  const Pistache::Flags<Polling::NotifyOn> read(Polling::NotifyOn::Read);
  poller.addFd(wake_fd_, read, Polling::Tag(static_cast<uint64_t>(wake_fd_)));
  poller.addFd(tick_fd_, read, Polling::Tag(static_cast<uint64_t>(tick_fd_)));
}

void ConnectionTransport::Post(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    posted_.push_back(std::move(work));
  }
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

// Not Pistache's handleNewPeer on the accepting thread: it pushes the peer onto a lock-free queue
// inside libpistache, which is not instrumented, so TSan sees only the eventfd write that follows
// the push, and a reactor still emptying the queue can take the peer before that write. TSan then
// reported the reactor's first use of the Peer (Opened) as racing with its creation. Post's mutex
// orders the two where TSan sees it. The peer is moved, not copied: the accepting thread keeps no
// reference to release later. On its own thread handleNewPeer adds the peer at once.
void ConnectionTransport::Adopt(std::shared_ptr<Tcp::Peer> peer) {
  Post([this, peer = std::move(peer)] { handleNewPeer(peer); });
}

void ConnectionTransport::Opened(const std::shared_ptr<Tcp::Peer>& peer) {
  auto c = std::make_unique<Connection>();
  c->peer = peer;
  c->fd = peer->fd();
  c->id = next_id_++;
  c->last_progress = Clock::now();
  if (shared_->access_log) {
    c->peer_name = peer->address().host() + ":" + std::to_string(uint16_t(peer->address().port()));
  }
  connections_[c->fd] = std::move(c);
}

Connection* ConnectionTransport::Find(int fd, uint64_t id) {
  const auto it = connections_.find(fd);
  if (it == connections_.end() || it->second->id != id || it->second->doomed) return nullptr;
  return it->second.get();
}

// Reads are DriftWatch's; everything else (writes, Pistache's queues) is Pistache's, and goes
// first: Pistache throws on a "writable" event for a descriptor whose answers are all written, and
// the reads below may write them all (a closing answer is flushed at once).
void ConnectionTransport::onReady(const Aio::FdSet& fds) {
  std::vector<Polling::Event> theirs;
  std::vector<uint64_t> ours;
  for (const auto& entry : fds) {
    const uint64_t tag = entry.getTag().value();
    const bool connection = connections_.contains(static_cast<int>(tag));
    const bool readable = entry.isReadable() || entry.isHangup();
    if (tag == static_cast<uint64_t>(wake_fd_) || tag == static_cast<uint64_t>(tick_fd_) ||
        (connection && readable)) {
      ours.push_back(tag);
    }
    // Pistache 0.0.5 takes an event that says "readable" and "writable" as a read only, and its
    // edge-triggered epoll may not report "writable" again: it gets the write half on its own.
    if (connection && readable && !entry.isWritable()) continue;
    if (tag == static_cast<uint64_t>(wake_fd_) || tag == static_cast<uint64_t>(tick_fd_)) continue;
    Polling::Event event(entry.getTag());
    if (entry.isWritable()) event.flags.setFlag(Polling::NotifyOn::Write);
    if (!connection && entry.isReadable()) event.flags.setFlag(Polling::NotifyOn::Read);
    if (!connection && entry.isHangup()) event.flags.setFlag(Polling::NotifyOn::Hangup);
    theirs.push_back(event);
  }
  if (!theirs.empty()) Tcp::Transport::onReady(Aio::FdSet(std::move(theirs)));
  for (const uint64_t tag : ours) {
    if (tag == static_cast<uint64_t>(wake_fd_)) {
      OnWake();
    } else if (tag == static_cast<uint64_t>(tick_fd_)) {
      OnTick();
    } else if (const auto it = connections_.find(static_cast<int>(tag));
               it != connections_.end() && !it->second->doomed) {
      ReadFrom(*it->second);
    }
  }
  FinishCloses();
}

// Reads what the client sent, within this turn's budget; stops while the connection cannot take
// more (paused, awaiting an answer, too much answered this turn).
void ConnectionTransport::ReadFrom(Connection& c) {
  char chunk[kReadChunk];
  size_t budget = kReadBudget;
  while (!c.read_closed && !c.doomed) {
    if (!c.draining && (c.paused || c.awaiting || c.scheduled)) return;
    if (budget == 0) {
      Schedule(c);  // more may be waiting: the other connections first
      return;
    }
    const ssize_t got = ::recv(c.fd, chunk, std::min(sizeof chunk, budget), 0);
    if (got > 0) {
      budget -= static_cast<size_t>(got);
      Input(c, chunk, static_cast<size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (got < 0 || c.draining) {  // reset, or the client closed after our "close"
      Close(c, false);
      return;
    }
    // The client will send no more. What it sent is answered first (RFC 9112 9.6).
    c.read_closed = true;
    FinishIfHalfClosed(c);
  }
}

// A client that sent all it will send is closed once every whole request it sent is answered and
// written; a request it left unfinished never will be, and is dropped.
void ConnectionTransport::FinishIfHalfClosed(Connection& c) {
  if (!c.read_closed || c.awaiting || c.paused || c.scheduled || c.draining) return;
  c.buffer.clear();
  c.start = 0;
  if (c.unwritten == 0) Close(c, false);
}

void ConnectionTransport::Input(Connection& c, const char* data, size_t length) {
  if (c.draining) {
    c.dropped += length;
    if (c.dropped > kMaxDrainBytes) Close(c, true);
    return;
  }
  if (!c.InRequest()) c.request_started = Clock::now();
  c.buffer.append(data, length);
  if (AnswerSafely(c) == Outcome::kBlocked && !c.paused && !c.awaiting && !c.draining) {
    Schedule(c);  // this turn's answers are used up: go on in the next
  }
}

// A fault of ours while answering (an exception the code above does not expect) costs the
// connection a 500 and its end, never the reactor thread and every connection on it.
ConnectionTransport::Outcome ConnectionTransport::AnswerSafely(Connection& c) {
  try {
    return AnswerBuffered(c);
  } catch (const std::exception&) {
    Respond(c, Router::Error(MakeError(500, "internal_error", "internal server error")), false);
    StartDraining(c);
    return Outcome::kBlocked;
  }
}

// Answers the whole requests in the buffer, in order, within this turn's budget.
ConnectionTransport::Outcome ConnectionTransport::AnswerBuffered(Connection& c) {
  for (int answered = 0;; ++answered) {
    if (c.draining || c.awaiting || c.paused || c.doomed) return Outcome::kBlocked;
    // Blank lines before a request are allowed (RFC 9112 2.2).
    while (c.progress.head_scanned == 0 && c.Unanswered().starts_with("\r\n")) c.start += 2;
    if (!c.InRequest()) {
      // The buffer keeps its memory while the client goes on sending: a client of large batches
      // would otherwise have each one's buffer allocated, faulted in and grown afresh, 15-20 % of
      // the HTTP threads' time (docs/performance.md, section 12). An idle connection gives it
      // back at a tick (CheckTimeouts).
      c.buffer.clear();
      c.start = 0;
      return Outcome::kNeedInput;
    }
    if (answered == kAnswersPerTurn) return Outcome::kBlocked;
    if (c.unwritten >= kOutputHighWater) {
      c.paused = true;
      return Outcome::kBlocked;
    }
    const std::string_view bytes = c.Unanswered();
    const Frame frame = FindRequest(bytes, shared_->frame_limits, &c.progress);
    if (frame.status == FrameStatus::kIncomplete) {
      HandleIncomplete(c, frame);
      return Outcome::kNeedInput;
    }
    if (frame.status != FrameStatus::kComplete) {
      Refuse(c, frame);
      return Outcome::kBlocked;
    }
    if (!AnswerOne(c, frame, bytes)) return Outcome::kBlocked;
  }
}

// Answers the complete request `frame` at the start of `bytes`, and takes it off the buffer. False
// when the connection must not go on with the next one yet.
bool ConnectionTransport::AnswerOne(Connection& c, const Frame& frame, std::string_view bytes) {
  const std::string_view method = frame.method.In(bytes);
  if (!IsKnownMethod(method)) {  // RFC 9110 9.1: an unknown method is 501, not 404 or 405
    Frame refused = frame;
    refused.status = FrameStatus::kUnsupported;
    refused.error = "unknown method '" + std::string(method) + "'";
    Refuse(c, refused);
    return false;
  }
  const bool head = method == "HEAD";
  ApiRequest request;
  request.method = method;
  request.path = frame.path.In(bytes);
  if (request.path.empty()) request.path = "/";
  request.query = SplitQuery(frame.query.In(bytes));
  request.body = RequestBody(bytes, frame, &scratch_);
  request.authorization = frame.authorization.In(bytes);
  request.content_type = frame.content_type.In(bytes);
  request.content_encoding = frame.content_encoding.In(bytes);
  const bool keep_alive = KeepsAlive(frame);

  std::optional<Reply> reply = shared_->router->HandleAsync(
      request, shared_->router->may_defer(method, request.path) ? Later(c) : nullptr);
  if (!reply) {
    c.awaiting = true;
    c.awaiting_keep_alive = keep_alive;
    c.awaiting_head = head;
    c.awaiting_started = c.request_started;
    if (shared_->access_log) {
      c.awaiting_method = method;
      c.awaiting_path = request.path;
    }
  } else {
    const size_t body_bytes = SendAnswer(c, *reply, keep_alive, head);
    if (shared_->access_log) {
      shared_->access_log->Write({c.peer_name, method, request.path, reply->status, body_bytes,
                                  MicrosSince(c.request_started)});
    }
  }
  c.start += frame.length;
  c.progress = {};
  c.continue_sent = false;
  c.request_started = Clock::now();  // a pipelined request that is already here starts now
  if (reply && !keep_alive) {
    StartDraining(c);
    return false;
  }
  return !c.awaiting;
}

// The head is here but not the body: tell a client that waits for it to send the body.
void ConnectionTransport::HandleIncomplete(Connection& c, const Frame& frame) {
  if (frame.header_length == 0 || !frame.expects_continue || c.continue_sent) return;
  if (c.Unanswered().size() != frame.header_length) return;  // the body is coming already
  Send(c, std::string(kContinue));
  c.continue_sent = true;
}

void ConnectionTransport::Refuse(Connection& c, const Frame& frame) {
  LimitCounters& limits = *shared_->limits;
  ApiError error;
  switch (frame.status) {
    case FrameStatus::kHeaderTooLarge:
      limits.headers_too_large.fetch_add(1, std::memory_order_relaxed);
      error = MakeError(431, "headers_too_large",
                        "request line and headers must fit in " +
                            std::to_string(shared_->frame_limits.max_header_bytes) + " bytes");
      break;
    case FrameStatus::kBodyTooLarge:
      limits.body_too_large.fetch_add(1, std::memory_order_relaxed);
      error = MakeError(413, "payload_too_large",
                        "request body larger than " +
                            std::to_string(shared_->frame_limits.max_body_bytes) +
                            " bytes (server.max_request_bytes)");
      break;
    case FrameStatus::kTargetTooLong:
      error = MakeError(414, "uri_too_long", frame.error);
      break;
    case FrameStatus::kUnsupported:
      error = MakeError(501, "not_implemented", frame.error);
      break;
    case FrameStatus::kVersionUnsupported:
      error = MakeError(505, "http_version_not_supported", frame.error);
      break;
    default:
      error = MakeError(400, "bad_request", frame.error);
      break;
  }
  Respond(c, Router::Error(error), false);
  StartDraining(c);
}

// An answer the connection makes itself (a refusal, a timeout): logged with what is known.
void ConnectionTransport::Respond(Connection& c, const Reply& reply, bool keep_alive) {
  std::string bytes;
  WriteAnswer(reply, {keep_alive, false}, &bytes);
  Send(c, std::move(bytes));
  if (shared_->access_log) {
    shared_->access_log->Write(
        {c.peer_name, "-", "-", reply.status, reply.body.size(), MicrosSince(c.request_started)});
  }
}

size_t ConnectionTransport::SendAnswer(Connection& c, Reply& reply, bool keep_alive, bool head) {
  const size_t body_bytes = reply.body.size();
  std::string bytes;
  if (head || body_bytes <= kWriteChunk) {
    WriteAnswer(reply, {keep_alive, head}, &bytes);
    Send(c, std::move(bytes));
    return body_bytes;
  }
  // A large body (a /metrics of 100 MB) goes out as it is, after its head, rather than copied
  // behind the head first: that copy, into memory fresh from the kernel, cost a /metrics scrape
  // about as much CPU as writing its text (docs/performance.md, "What limits each figure").
  WriteAnswer(reply, {keep_alive, /*head=*/true}, &bytes);
  Send(c, std::move(bytes));
  Send(c, std::move(reply.body));
  return body_bytes;
}

void ConnectionTransport::Send(Connection& c, std::string bytes) {
  if (c.unwritten == 0) c.last_progress = Clock::now();
  c.unwritten += bytes.size();
  const int fd = c.fd;
  const uint64_t id = c.id;
  const auto write = [this, fd, id](std::string piece) {
    const size_t size = piece.size();
    asyncWrite(fd, Pistache::RawBuffer(std::move(piece), size))
        .then([this, fd, id, size](ssize_t) { Written(fd, id, size); },
              [this, fd, id](const std::exception_ptr&) {
                if (Connection* failed = Find(fd, id)) Close(*failed, true);
              });
  };
  if (bytes.size() <= kWriteChunk) {
    write(std::move(bytes));
    return;
  }
  // In pieces: after a partial write Pistache 0.0.5 copies the rest of the buffer, so one large
  // answer (a /metrics of 100 MB) would cost time in the square of its size (bench/analysis.md).
  // Pistache keeps a connection's buffers in order.
  for (size_t offset = 0; offset < bytes.size(); offset += kWriteChunk) {
    write(bytes.substr(offset, kWriteChunk));
  }
}

// Pistache wrote an answer out (on this thread, from inside its write loop: nothing here may
// write or close; what must happen next is scheduled).
void ConnectionTransport::Written(int fd, uint64_t id, size_t bytes) {
  Connection* c = Find(fd, id);
  if (c == nullptr) return;
  c->unwritten -= bytes;
  c->last_progress = Clock::now();
  if (c->draining && c->unwritten == 0 && !c->write_shut) {
    ::shutdown(fd, SHUT_WR);  // the client sees the end of the stream once it has the answer
    c->write_shut = true;
  }
  if (c->paused && c->unwritten <= kOutputLowWater) {
    c->paused = false;
    Schedule(*c);
  }
  if (c->read_closed && c->unwritten == 0) Schedule(*c);
}

// Where an answer made on another thread goes: to this connection's reactor thread, and out only
// if the connection is still the one that asked (its descriptor may serve another by then).
ReplyCallback ConnectionTransport::Later(const Connection& c) {
  return [this, fd = c.fd, id = c.id, shared = shared_](Reply reply) {
    std::lock_guard<std::mutex> lock(shared->reply_mutex);
    if (!shared->accepting_replies) return;  // the reactors are stopping or gone
    Post([this, fd, id, reply = std::move(reply)]() mutable { Deliver(fd, id, reply); });
  };
}

void ConnectionTransport::Deliver(int fd, uint64_t id, Reply& reply) {
  Connection* c = Find(fd, id);
  if (c == nullptr || !c->awaiting) return;
  c->awaiting = false;
  const size_t body_bytes = SendAnswer(*c, reply, c->awaiting_keep_alive, c->awaiting_head);
  if (shared_->access_log) {
    shared_->access_log->Write({c->peer_name, c->awaiting_method, c->awaiting_path, reply.status,
                                body_bytes, MicrosSince(c->awaiting_started)});
  }
  if (!c->awaiting_keep_alive) {
    StartDraining(*c);
    return;
  }
  Schedule(*c);  // the requests that arrived meanwhile, then more input
}

// The connection closes after the answers sent so far: they are written at once, then the end of
// the stream follows (see Written), and input is dropped until the client closes (kDrainTime).
void ConnectionTransport::StartDraining(Connection& c) {
  c.draining = true;
  c.paused = false;
  c.buffer.clear();
  c.start = 0;
  c.drain_until = Clock::now() + kDrainTime;
  if (c.unwritten == 0 && !c.write_shut) {
    ::shutdown(c.fd, SHUT_WR);
    c.write_shut = true;
  }
  // Never Pistache's flush() here: on a socket whose buffer is full (a client that does not read)
  // Pistache 0.0.5's write loop retries until it is not, holding the reactor thread and every
  // connection on it. The answer leaves on the next writable event, which onReady hands Pistache.
}

void ConnectionTransport::Schedule(Connection& c) {
  if (c.scheduled) return;
  c.scheduled = true;
  if (ready_.empty()) {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
  ready_.emplace_back(c.fd, c.id);
}

void ConnectionTransport::OnWake() {
  uint64_t count = 0;
  (void)!::read(wake_fd_, &count, sizeof count);
  std::vector<std::function<void()>> posted;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    posted.swap(posted_);
  }
  for (auto& work : posted) work();

  std::vector<std::pair<int, uint64_t>> ready;
  ready.swap(ready_);
  for (const auto& [fd, id] : ready) {
    Connection* c = Find(fd, id);
    if (c == nullptr) continue;
    c->scheduled = false;
    if (AnswerSafely(*c) == Outcome::kBlocked) {
      if (!c->paused && !c->awaiting && !c->draining) Schedule(*c);
      continue;
    }
    if (c->read_closed) {
      FinishIfHalfClosed(*c);
      continue;
    }
    ReadFrom(*c);
  }
}

void ConnectionTransport::OnTick() {
  uint64_t expirations = 0;
  (void)!::read(tick_fd_, &expirations, sizeof expirations);
  ++ticks_;
  Retire();
  const Clock::time_point now = Clock::now();
  for (auto& [fd, c] : connections_) {
    if (!c->doomed) CheckTimeouts(*c, now);
  }
}

void ConnectionTransport::CheckTimeouts(Connection& c, Clock::time_point now) {
  LimitCounters& limits = *shared_->limits;
  if (c.draining) {
    if (now > c.drain_until) Close(c, true);
    return;
  }
  if (c.unwritten > 0) {  // the client does not read its answers
    if (now - c.last_progress > shared_->keepalive_timeout) {
      limits.unread_answers_cutoffs.fetch_add(1, std::memory_order_relaxed);
      Close(c, true);
    }
    return;
  }
  if (c.awaiting || c.read_closed) return;
  if (!c.InRequest()) {
    if (now - c.last_progress > shared_->keepalive_timeout) {
      Close(c, false);
    } else if (now - c.last_progress > kTickInterval && c.buffer.capacity() > kKeepBufferCapacity) {
      std::string().swap(c.buffer);
    }
    return;
  }
  const bool in_head = c.progress.head.header_length == 0;
  if (now - c.request_started <= (in_head ? shared_->header_timeout : shared_->body_timeout)) {
    return;
  }
  (in_head ? limits.header_timeouts : limits.body_timeouts).fetch_add(1, std::memory_order_relaxed);
  Respond(c,
          Router::Error(MakeError(408, "request_timeout",
                                  in_head ? "the request's headers did not arrive in time "
                                            "(server.header_timeout_ms)"
                                          : "the request's body did not arrive in time "
                                            "(server.body_timeout_ms)")),
          false);
  StartDraining(c);
}

// Marks the connection for closing at the end of this turn: nothing that is running now loses it.
// `reset` sends a reset instead of the end of the stream: for clients that will not finish.
void ConnectionTransport::Close(Connection& c, bool reset) {
  if (c.doomed) return;
  c.doomed = true;
  if (reset) {
    const linger hard{1, 0};
    ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    c.reset = true;
  }
  closing_.emplace_back(c.fd, c.id);
}

// Ends the connections closed this turn: the client sees the end of the stream (or a reset) at
// once. The descriptor stays Pistache's until a tick later (Retire): answers still queued for it
// are then already handed to the socket and refused there, and cannot reach a later connection
// that gets the same descriptor. (Pistache's flush() would hand them over at once, but it can
// hold the thread: see StartDraining.)
void ConnectionTransport::FinishCloses() {
  if (closing_.empty()) return;
  std::vector<std::pair<int, uint64_t>> closing;
  closing.swap(closing_);
  for (const auto& [fd, id] : closing) {
    const auto it = connections_.find(fd);
    if (it == connections_.end() || it->second->id != id || it->second->retiring) continue;
    Connection& c = *it->second;
    c.retiring = true;
    c.retire_after_tick = ticks_ + 1;
    if (!c.reset) ::shutdown(fd, SHUT_RDWR);  // a reset is sent when the descriptor closes
    retiring_.emplace_back(fd, id);
  }
}

// Gives Pistache back the descriptors of connections closed at least one tick ago.
void ConnectionTransport::Retire() {
  std::vector<std::pair<int, uint64_t>> keep;
  for (const auto& [fd, id] : retiring_) {
    const auto it = connections_.find(fd);
    if (it == connections_.end() || it->second->id != id) continue;
    if (it->second->retire_after_tick > ticks_) {
      keep.emplace_back(fd, id);
      continue;
    }
    const std::shared_ptr<Tcp::Peer> peer = std::move(it->second->peer);
    connections_.erase(it);
    removePeer(peer);  // Pistache forgets it and closes the descriptor
    // Counted open until now: the limit bounds descriptors, and this one was still held.
    shared_->limits->connections_open.fetch_sub(1, std::memory_order_relaxed);
  }
  retiring_.swap(keep);
}

}  // namespace driftwatch::api
