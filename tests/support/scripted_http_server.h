// A tiny scripted HTTP/1.1 server on a loopback port, for testing the HTTP client (http_client/)
// and the simulator's API calls over real sockets. One thread serves one connection at a time;
// each request gets the next scripted answer (the last one repeats), and the server records what
// it received.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace driftwatch::testing {

struct ScriptedAnswer {
  ScriptedAnswer(int status_code = 200, std::string body_text = "{}",
                 std::vector<std::string> headers = {}, bool close = false)
      : status(status_code),
        body(std::move(body_text)),
        extra_headers(std::move(headers)),
        close_after(close) {}

  int status;
  std::string body;
  std::vector<std::string> extra_headers;  // "Retry-After: 2"
  bool close_after;                        // close the connection once answered
  bool never_answer = false;               // read the request, then stay silent
  bool drop_unanswered = false;            // read the request, then reset the connection
};

struct ReceivedRequest {
  int connection = 0;  // 1 for the first accepted connection, and so on
  std::string head;    // request line and headers
  std::string body;
};

class TestHttpServer {
 public:
  explicit TestHttpServer(std::vector<ScriptedAnswer> script) : script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_, 8) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      std::abort();
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }

  ~TestHttpServer() {
    stopping_ = true;
    thread_.join();
    ::close(listener_);
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<ReceivedRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  int connections() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return connections_;
  }

 private:
  // Waits for `fd` to be readable, checking now and then whether the test is over.
  bool WaitReadable(int fd) {
    while (!stopping_) {
      pollfd entry{fd, POLLIN, 0};
      if (::poll(&entry, 1, 20) > 0) return true;
    }
    return false;
  }

  void Serve() {
    while (WaitReadable(listener_)) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      int connection;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        connection = ++connections_;
      }
      ServeConnection(fd, connection);
      ::close(fd);
    }
  }

  void ServeConnection(int fd, int connection) {
    std::string buffer;
    while (true) {
      size_t head_end;
      while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!ReadSome(fd, &buffer)) return;
      }
      ReceivedRequest request{connection, buffer.substr(0, head_end), ""};
      size_t length = 0;
      if (const size_t at = request.head.find("Content-Length: "); at != std::string::npos) {
        length = std::stoul(request.head.substr(at + 16));
      }
      while (buffer.size() < head_end + 4 + length) {
        if (!ReadSome(fd, &buffer)) return;
      }
      request.body = buffer.substr(head_end + 4, length);
      buffer.erase(0, head_end + 4 + length);
      ScriptedAnswer answer;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        answer = script_[std::min(requests_.size(), script_.size() - 1)];
        requests_.push_back(request);
      }
      if (answer.never_answer) {
        WaitReadable(fd);  // until the client gives up and closes, or the test ends
        return;
      }
      if (answer.drop_unanswered) {
        const linger abort{1, 0};  // close() sends a reset, not an orderly end
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        return;
      }
      std::string response = "HTTP/1.1 " + std::to_string(answer.status) + " Scripted\r\n";
      response += "Content-Type: application/json\r\n";
      response += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n";
      for (const std::string& header : answer.extra_headers) response += header + "\r\n";
      response += "\r\n";
      if (request.head.rfind("HEAD ", 0) != 0) response += answer.body;  // HEAD: headers only
      if (::send(fd, response.data(), response.size(), MSG_NOSIGNAL) < 0) return;
      if (answer.close_after) return;
    }
  }

  bool ReadSome(int fd, std::string* buffer) {
    if (!WaitReadable(fd)) return false;
    char chunk[4096];
    const ssize_t received = ::recv(fd, chunk, sizeof chunk, 0);
    if (received <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(received));
    return true;
  }

  std::vector<ScriptedAnswer> script_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  int connections_ = 0;
  std::thread thread_;
};

// A loopback port with nothing listening on it (bound, then released).
inline int UnusedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), length);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace driftwatch::testing
