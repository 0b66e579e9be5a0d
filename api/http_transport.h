// The connections of one HTTP reactor thread: reading, framing, answering and closing them. It is
// a Pistache 0.0.5 Tcp::Transport, so Pistache's reactor, peers and write queue carry the bytes,
// but DriftWatch reads the sockets itself, because Pistache's own reading cannot be bounded:
//  - Pistache reads a socket until it would block, and hands every read on. One client that keeps
//    sending would hold the reactor thread, and every other client on it, for as long as it likes,
//    and a client that never reads its answers would make them pile up without a bound.
//    Here a connection reads at most kReadBudget and answers at most kAnswersPerTurn requests
//    before the others on the thread get their turn; and with kOutputHighWater of answers
//    unwritten it stops reading (the client's sends then block: backpressure) until the client
//    has read them down to kOutputLowWater. So a connection holds at most one request's bytes
//    plus a read, and a bounded amount of answers.
//  - Pistache closes a connection at once when the client shuts its sending side, losing the
//    answers still to be sent; here they are sent first (RFC 9112 9.6).
//  - Pistache's timeouts answer 408 with an empty body; here every answer is JSON.
// Everything here runs on the transport's reactor thread, except Post and Adopt.
#pragma once

#include <pistache/transport.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/access_log.h"
#include "api/http_framing.h"
#include "api/router.h"

namespace driftwatch::api {

// What the server shares with every transport, and with answers made on other threads.
struct HttpShared {
  const Router* router = nullptr;
  FrameLimits frame_limits;
  std::chrono::milliseconds header_timeout{0};
  std::chrono::milliseconds body_timeout{0};
  std::chrono::milliseconds keepalive_timeout{0};  // idle connections, and answers left unread
  std::shared_ptr<LimitCounters> limits;
  std::unique_ptr<AccessLog> access_log;  // null: no access log

  // Held while an answer made on another thread is handed to a reactor: once `accepting_replies`
  // is false (the server is stopping) no transport may be reached any more.
  std::mutex reply_mutex;
  bool accepting_replies = true;
};

struct Connection;

class ConnectionTransport final : public Pistache::Tcp::Transport {
 public:
  explicit ConnectionTransport(std::shared_ptr<HttpShared> shared);
  ~ConnectionTransport() override;
  ConnectionTransport(const ConnectionTransport&) = delete;
  ConnectionTransport& operator=(const ConnectionTransport&) = delete;

  void registerPoller(Pistache::Polling::Epoll& poller) override;
  void onReady(const Pistache::Aio::FdSet& fds) override;
  std::shared_ptr<Pistache::Aio::Handler> clone() const override;

  // Any thread: runs `work` on this transport's thread, soon. The caller holds
  // HttpShared::reply_mutex and has seen accepting_replies.
  void Post(std::function<void()> work);

  // The accepting thread: hands a new connection to this transport's thread (through Post). The
  // accepting thread stops before the reactors do, so it needs no reply_mutex.
  void Adopt(std::shared_ptr<Pistache::Tcp::Peer> peer);

  // Called by Pistache (through the transport's Tcp::Handler) when a peer is added.
  void Opened(const std::shared_ptr<Pistache::Tcp::Peer>& peer);

 private:
  enum class Outcome { kNeedInput, kBlocked };

  Connection* Find(int fd, uint64_t id);
  void ReadFrom(Connection& c);
  void FinishIfHalfClosed(Connection& c);
  void Input(Connection& c, const char* data, size_t length);
  Outcome AnswerSafely(Connection& c);
  Outcome AnswerBuffered(Connection& c);
  bool AnswerOne(Connection& c, const Frame& frame, std::string_view bytes);
  void HandleIncomplete(Connection& c, const Frame& frame);
  void Refuse(Connection& c, const Frame& frame);
  void Respond(Connection& c, const Reply& reply, bool keep_alive);
  void Send(Connection& c, std::string bytes);
  // Sends `reply` (its body may be moved out). Returns the body's size, for the access log.
  size_t SendAnswer(Connection& c, Reply& reply, bool keep_alive, bool head);
  void Written(int fd, uint64_t id, size_t bytes);
  ReplyCallback Later(const Connection& c);
  void Deliver(int fd, uint64_t id, Reply& reply);
  void StartDraining(Connection& c);
  void Schedule(Connection& c);
  void OnWake();
  void OnTick();
  void CheckTimeouts(Connection& c, std::chrono::steady_clock::time_point now);
  void Close(Connection& c, bool reset);
  void FinishCloses();
  void Retire();

  std::shared_ptr<HttpShared> shared_;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;  // by file descriptor
  uint64_t next_id_ = 1;
  std::vector<std::pair<int, uint64_t>> ready_;     // connections to go on with at the next wake
  std::vector<std::pair<int, uint64_t>> closing_;   // to close at the end of this turn
  std::vector<std::pair<int, uint64_t>> retiring_;  // closed, descriptor still Pistache's
  uint64_t ticks_ = 0;
  std::string scratch_;  // a chunked body, joined
  int wake_fd_ = -1;     // eventfd: Post and ready_
  int tick_fd_ = -1;     // timerfd: timeouts
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;  // guarded by posted_mutex_
};

}  // namespace driftwatch::api
