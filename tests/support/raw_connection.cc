// RawConnection: the exact bytes a test writes, and the raw answers, on a loopback socket.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "tests/support/http_test_client.h"

namespace driftwatch::testing {
namespace {

std::string Lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

// Splits an answer at the start of `bytes` by its Content-Length (only what the tests' answers
// use); returns its length, or 0 if it is not all there. `no_body`: the answer to a HEAD request.
size_t ParseResponse(std::string_view bytes, HttpResponse* response, bool no_body = false) {
  const size_t head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return 0;
  HttpResponse parsed;
  std::string_view head = bytes.substr(0, head_end);
  const size_t line_end = head.find("\r\n");
  const std::string status_line(head.substr(0, line_end));
  if (status_line.size() >= 12) parsed.status = std::atoi(status_line.c_str() + 9);
  head = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  while (!head.empty()) {
    const size_t end = head.find("\r\n");
    const std::string_view line = head.substr(0, end);
    head = end == std::string_view::npos ? std::string_view() : head.substr(end + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    parsed.headers.emplace_back(Lower(line.substr(0, colon)), std::string(value));
  }
  const size_t length =
      no_body
          ? 0
          : static_cast<size_t>(std::atoll(parsed.Header("Content-Length").value_or("").c_str()));
  const size_t total = head_end + 4 + length;
  if (bytes.size() < total) return 0;
  parsed.body = std::string(bytes.substr(head_end + 4, length));
  *response = std::move(parsed);
  return total;
}

}  // namespace

std::string BuildRequest(std::string_view method, std::string_view path, std::string_view body,
                         std::string_view extra_headers) {
  std::string request;
  request.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  request.append(extra_headers);
  if (!body.empty() || method == "POST") {
    request.append("Content-Type: application/json\r\nContent-Length: ")
        .append(std::to_string(body.size()))
        .append("\r\n");
  }
  request.append("\r\n").append(body);
  return request;
}

RawConnection::~RawConnection() { Close(); }

void RawConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConnection::Connect(uint16_t port) {
  Close();
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    Close();
    return false;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  eof_ = false;
  buffer_.clear();
  return true;
}

bool RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
  return true;
}

bool RawConnection::Fill(std::chrono::steady_clock::time_point deadline) {
  if (fd_ < 0 || eof_) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd readable{fd_, POLLIN, 0};
  const int ready = ::poll(&readable, 1, static_cast<int>(left.count()));
  if (ready < 0 && errno == EINTR) return true;
  if (ready <= 0) return false;
  char chunk[65536];
  const ssize_t received = ::recv(fd_, chunk, sizeof chunk, 0);
  if (received < 0 && errno == EINTR) return true;
  if (received <= 0) {
    eof_ = true;
    return false;
  }
  buffer_.append(chunk, static_cast<size_t>(received));
  return true;
}

bool RawConnection::Read(HttpResponse* response, std::chrono::milliseconds timeout) {
  *response = HttpResponse{};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const size_t length = ParseResponse(buffer_, response)) {
      buffer_.erase(0, length);
      return true;
    }
    if (!Fill(deadline)) return false;
  }
}

bool RawConnection::ReadHead(HttpResponse* response, std::chrono::milliseconds timeout) {
  *response = HttpResponse{};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const size_t length = ParseResponse(buffer_, response, true)) {
      buffer_.erase(0, length);
      return true;
    }
    if (!Fill(deadline)) return false;
  }
}

bool RawConnection::ShutdownWrite() { return fd_ >= 0 && ::shutdown(fd_, SHUT_WR) == 0; }

bool RawConnection::ClosedByServer(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_) {
    if (!Fill(deadline) && !eof_) return false;
  }
  return buffer_.empty();
}

}  // namespace driftwatch::testing
