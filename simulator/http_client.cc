#include "simulator/http_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace driftwatch::sim {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;
constexpr size_t kReadChunkBytes = 16 * 1024;
constexpr std::string_view kHeaderEnd = "\r\n\r\n";

std::string Lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// strerror() text starting in lower case, to read well inside a sentence.
std::string ErrnoText(int error) {
  std::string text = std::strerror(error);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

int PollFor(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd entry{fd, events, 0};
  int ready;
  do {
    ready = ::poll(&entry, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  return ready;
}

}  // namespace

std::string Url::Origin() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return "http://" + (ipv6 ? "[" + host + "]" : host) + ":" + port;
}

Status ParseUrl(std::string_view text, Url* url) {
  constexpr std::string_view kScheme = "http://";
  if (Lower(text.substr(0, kScheme.size())) != kScheme) {
    return Status::Error("unsupported URL '" + std::string(text) +
                         "': it must start with http:// (https is not supported)");
  }
  std::string_view rest = text.substr(kScheme.size());
  const size_t path_start = rest.find('/');
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);

  Url parsed;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status::Error("invalid URL '" + std::string(text) + "': unclosed '['");
    }
    parsed.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Status::Error("invalid URL '" + std::string(text) + "': text after ']'");
      }
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (parsed.host.empty()) {
    return Status::Error("invalid URL '" + std::string(text) + "': no host");
  }
  if (parsed.host.find('@') != std::string::npos) {
    return Status::Error("invalid URL '" + std::string(text) + "': user info is not supported");
  }
  if (!port.empty() || authority.back() == ':') {
    int number = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || error != std::errc() || end != port.data() + port.size() || number < 1 ||
        number > 65535) {
      return Status::Error("invalid URL '" + std::string(text) + "': bad port '" +
                           std::string(port) + "'");
    }
    parsed.port = std::to_string(number);
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    return Status::Error("invalid URL '" + std::string(text) + "': no query or fragment allowed");
  }
  parsed.path = std::string(path);
  *url = std::move(parsed);
  return Status::Ok();
}

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

HttpClient::HttpClient(Url base, HttpTimeouts timeouts)
    : base_(std::move(base)), timeouts_(timeouts) {}

HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status HttpClient::Connect() {
  const std::string prefix = "cannot connect to " + base_.Origin() + ": ";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const int resolved = ::getaddrinfo(base_.host.c_str(), base_.port.c_str(), &hints, &addresses);
  if (resolved != 0) {
    return Status::Error(prefix + "cannot resolve '" + base_.host + "' (" +
                         ::gai_strerror(resolved) + ")");
  }
  // Try each address (localhost is often ::1 then 127.0.0.1); report why none answered.
  std::string failure = "no address";
  for (addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
    const int fd = ::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                            address->ai_protocol);
    if (fd < 0) {
      failure = ErrnoText(errno);
      continue;
    }
    int error = 0;
    if (::connect(fd, address->ai_addr, address->ai_addrlen) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        const int ready = PollFor(fd, POLLOUT, timeouts_.connect);
        socklen_t length = sizeof error;
        if (ready == 0) {
          error = ETIMEDOUT;
        } else if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
          error = errno;
        }
      }
    }
    if (error != 0) {
      ::close(fd);
      if (failure == ErrnoText(ECONNREFUSED)) continue;  // the most telling answer: keep it
      failure = error == ETIMEDOUT
                    ? "timed out after " + std::to_string(timeouts_.connect.count()) + " ms"
                    : ErrnoText(error);
      continue;
    }
    const int on = 1;  // small requests, one at a time: do not wait to coalesce them
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    fd_ = fd;
    ++connections_opened_;
    ::freeaddrinfo(addresses);
    return Status::Ok();
  }
  ::freeaddrinfo(addresses);
  return Status::Error(prefix + failure + " — is driftwatch running?");
}

bool HttpClient::ServerClosedIdleConnection() {
  // An idle kept-alive connection has nothing to read; readable means EOF (or stray bytes, which
  // would corrupt the next response): either way it cannot be reused.
  return PollFor(fd_, POLLIN, std::chrono::milliseconds(0)) != 0;
}

Status HttpClient::SendAll(std::string_view data) {
  while (!data.empty()) {
    const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (PollFor(fd_, POLLOUT, timeouts_.read) <= 0) {
          return Status::Error("timed out sending a request to " + base_.Origin());
        }
        continue;
      }
      return Status::Error("sending to " + base_.Origin() + " failed: " + ErrnoText(errno));
    }
    data.remove_prefix(static_cast<size_t>(sent));
  }
  return Status::Ok();
}

Status HttpClient::ReadMore(std::string* buffer, bool* at_eof) {
  char chunk[kReadChunkBytes];
  while (true) {
    const ssize_t received = ::recv(fd_, chunk, sizeof chunk, 0);
    if (received > 0) {
      buffer->append(chunk, static_cast<size_t>(received));
      return Status::Ok();
    }
    if (received == 0) {
      *at_eof = true;
      return Status::Ok();
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      const int ready = PollFor(fd_, POLLIN, timeouts_.read);
      if (ready == 0) {
        return Status::Error("no answer from " + base_.Origin() + " within " +
                             std::to_string(timeouts_.read.count()) + " ms");
      }
      if (ready < 0)
        return Status::Error("waiting for " + base_.Origin() + ": " + ErrnoText(errno));
      continue;
    }
    if (errno == ECONNRESET) {
      *at_eof = true;
      return Status::Ok();
    }
    return Status::Error("reading from " + base_.Origin() + " failed: " + ErrnoText(errno));
  }
}

Status HttpClient::ReadResponse(HttpResponse* response, bool* server_closes,
                                bool* received_nothing) {
  std::string buffer;
  bool at_eof = false;
  size_t header_end;
  while ((header_end = buffer.find(kHeaderEnd)) == std::string::npos) {
    if (buffer.size() > kMaxHeaderBytes) {
      return Status::Error("response headers from " + base_.Origin() + " are too large");
    }
    if (Status read = ReadMore(&buffer, &at_eof); !read.ok()) return read;
    if (at_eof) {
      *received_nothing = buffer.empty();
      return Status::Error(base_.Origin() + " closed the connection before answering");
    }
  }

  // Status line: "HTTP/1.1 202 Accepted".
  const std::string_view head(buffer.data(), header_end);
  const size_t line_end = std::min(head.find("\r\n"), head.size());
  const std::string_view status_line = head.substr(0, line_end);
  int status = 0;
  if (status_line.substr(0, 5) != "HTTP/" || status_line.size() < 12 ||
      std::from_chars(status_line.data() + 9, status_line.data() + 12, status).ec != std::errc()) {
    return Status::Error("malformed response from " + base_.Origin() + ": '" +
                         std::string(status_line) + "'");
  }
  HttpResponse parsed;
  parsed.status = status;
  size_t line_start = line_end + 2;
  while (line_start < head.size()) {
    const size_t next = std::min(head.find("\r\n", line_start), head.size());
    const std::string_view line = head.substr(line_start, next - line_start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      parsed.headers.emplace_back(Lower(Trim(line.substr(0, colon))),
                                  std::string(Trim(line.substr(colon + 1))));
    }
    line_start = next + 2;
  }

  const std::string connection = Lower(parsed.Header("connection").value_or(""));
  const bool http10 = status_line.substr(0, 8) == "HTTP/1.0";
  *server_closes = connection == "close" || (http10 && connection != "keep-alive");
  std::string body = buffer.substr(header_end + kHeaderEnd.size());
  const bool no_body = (status >= 100 && status < 200) || status == 204 || status == 304;
  if (parsed.Header("transfer-encoding").has_value()) {
    return Status::Error("unsupported response from " + base_.Origin() +
                         ": Transfer-Encoding is not supported, only Content-Length");
  }
  if (const auto length_text = parsed.Header("content-length"); length_text && !no_body) {
    size_t length = 0;
    const auto [end, error] =
        std::from_chars(length_text->data(), length_text->data() + length_text->size(), length);
    if (error != std::errc() || end != length_text->data() + length_text->size() ||
        length > kMaxBodyBytes) {
      return Status::Error("bad Content-Length from " + base_.Origin() + ": '" + *length_text +
                           "'");
    }
    while (body.size() < length) {
      if (Status read = ReadMore(&body, &at_eof); !read.ok()) return read;
      if (at_eof) return Status::Error(base_.Origin() + " closed the connection mid-response");
    }
    if (body.size() > length) {
      // Bytes after the body were never asked for (no pipelining): the connection is unusable.
      body.resize(length);
      *server_closes = true;
    }
  } else if (!no_body) {
    // No length: the body runs to the end of the connection.
    while (!at_eof) {
      if (body.size() > kMaxBodyBytes) {
        return Status::Error("response body from " + base_.Origin() + " is too large");
      }
      if (Status read = ReadMore(&body, &at_eof); !read.ok()) return read;
    }
    *server_closes = true;
  }
  parsed.body = std::move(body);
  *response = std::move(parsed);
  return Status::Ok();
}

Status HttpClient::Request(std::string_view method, std::string_view path, std::string_view body,
                           HttpResponse* response) {
  std::string request;
  request.reserve(256 + body.size());
  request.append(method).append(" ").append(base_.path).append(path).append(" HTTP/1.1\r\n");
  request.append("Host: ").append(base_.Origin().substr(7)).append("\r\n");
  // HTTP/1.1 keeps the connection by default; said anyway, for proxies in between that would not.
  request.append("Connection: keep-alive\r\n");
  request.append("Accept: application/json\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    request.append("Content-Type: application/json\r\n");
    request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  request.append("\r\n").append(body);

  // Attempt 2 happens only when a reused connection turns out to be dead: the server closed it
  // between our check and our request, so it never saw the request.
  for (int attempt = 1;; ++attempt) {
    bool reused = fd_ >= 0;
    if (reused && ServerClosedIdleConnection()) {
      Close();
      reused = false;
    }
    if (fd_ < 0) {
      if (Status connected = Connect(); !connected.ok()) return connected;
    }
    Status sent = SendAll(request);
    bool server_closes = false;
    bool received_nothing = false;
    if (sent.ok()) {
      sent = ReadResponse(response, &server_closes, &received_nothing);
    } else {
      received_nothing = true;
    }
    if (!sent.ok()) {
      Close();
      if (reused && received_nothing && attempt == 1) continue;
      return sent;
    }
    if (server_closes) Close();
    return Status::Ok();
  }
}

}  // namespace driftwatch::sim
