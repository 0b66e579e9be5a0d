#include "bench/bench_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace driftwatch::bench {
namespace {

constexpr size_t kReadChunkBytes = 64 * 1024;

// Case-insensitive search for a header's value in the header block; "" when absent.
std::string HeaderValue(std::string_view head, std::string_view name) {
  size_t line = head.find("\r\n");
  while (line != std::string_view::npos && line + 2 < head.size()) {
    const size_t start = line + 2;
    const size_t end = head.find("\r\n", start);
    const std::string_view text = head.substr(start, end - start);
    if (text.size() > name.size() && text[name.size()] == ':' &&
        strncasecmp(text.data(), name.data(), name.size()) == 0) {
      std::string_view value = text.substr(name.size() + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      return std::string(value);
    }
    line = end;
  }
  return {};
}

}  // namespace

HttpConnection::~HttpConnection() { Close(); }

bool HttpConnection::Connect() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return false;
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  if (::inet_pton(AF_INET, host_.c_str(), &address.sin_addr) != 1 ||
      ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    Close();
    return false;
  }
  return true;
}

void HttpConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool HttpConnection::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

bool HttpConnection::ReadResponse(HttpResponse* out) {
  char chunk[kReadChunkBytes];
  size_t head_end = std::string::npos;
  for (;;) {
    head_end = buffer_.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const std::string_view head(buffer_.data(), head_end);
      const std::string length_text = HeaderValue(head, "Content-Length");
      const size_t body_length =
          length_text.empty() ? 0 : std::strtoul(length_text.c_str(), nullptr, 10);
      const size_t total = head_end + 4 + body_length;
      if (buffer_.size() >= total) {
        out->status = buffer_.size() > 12 ? std::atoi(buffer_.c_str() + 9) : 0;
        out->body.assign(buffer_, head_end + 4, body_length);
        const bool close = strncasecmp(HeaderValue(head, "Connection").c_str(), "close", 5) == 0;
        buffer_.erase(0, total);
        if (close) Close();
        return true;
      }
    }
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(got));
  }
}

HttpResponse HttpConnection::Send(std::string_view method, std::string_view path,
                                  std::string_view body) {
  std::string request;
  request.reserve(128 + body.size());
  request.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ");
  request.append(host_).append("\r\n");
  if (!body.empty() || method == "POST") {
    request.append("Content-Type: application/json\r\nContent-Length: ");
    request.append(std::to_string(body.size())).append("\r\n");
  }
  request.append("\r\n").append(body);
  // One retry on a fresh connection: the server may have closed an idle one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (fd_ < 0 && !Connect()) continue;
    HttpResponse response;
    if (WriteAll(request) && ReadResponse(&response)) return response;
    Close();
  }
  return HttpResponse{};
}

bool ParseUrl(std::string_view url, std::string* host, uint16_t* port) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return false;
  url.remove_prefix(kScheme.size());
  while (url.ends_with('/')) url.remove_suffix(1);
  const size_t colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const long value = std::strtol(std::string(url.substr(colon + 1)).c_str(), nullptr, 10);
  if (value <= 0 || value > 65535) return false;
  *host = std::string(url.substr(0, colon));
  if (*host == "localhost") *host = "127.0.0.1";
  *port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace driftwatch::bench
