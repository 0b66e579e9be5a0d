#include "tests/sdk/service_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace driftwatch::sdktest {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(10);
constexpr char kBannerPrefix[] = "API listening on http://";
constexpr size_t kReadChunkBytes = 16 * 1024;

// The port in "... API listening on http://HOST:PORT\n", or 0 while that line is incomplete.
uint16_t PortFromBanner(const std::string& out) {
  const size_t at = out.find(kBannerPrefix);
  if (at == std::string::npos) return 0;
  const size_t end = out.find('\n', at);
  if (end == std::string::npos) return 0;
  const size_t colon = out.rfind(':', end);
  if (colon == std::string::npos || colon < at + sizeof kBannerPrefix - 1) return 0;
  return static_cast<uint16_t>(std::strtoul(out.c_str() + colon + 1, nullptr, 10));
}

std::string Lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The value of header `name` (lowercase) in a response head, or nothing.
std::optional<std::string> HeaderValue(const std::string& head, const std::string& name) {
  std::istringstream lines(head);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (colon == std::string::npos || Lowercase(line.substr(0, colon)) != name) continue;
    const size_t start = line.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return std::nullopt;
}

}  // namespace

// ---- ServiceProcess ----------------------------------------------------------------------------

ServiceProcess::~ServiceProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool ServiceProcess::Start(const std::string& binary, const std::vector<std::string>& args,
                           const std::string& output_prefix, std::string* error) {
  stdout_path_ = output_prefix + ".out";
  stderr_path_ = output_prefix + ".err";
  std::vector<std::string> argv_strings = {binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int spawned = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    pid_ = -1;
    *error = "cannot run " + binary;
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    port_ = PortFromBanner(Stdout());
    if (port_ != 0) return true;
    if (TryReap()) {
      *error = binary + " exited during start-up:\n" + Stdout() + Stderr();
      return false;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  *error = binary + " printed no banner before the deadline:\n" + Stdout() + Stderr();
  return false;
}

std::optional<int> ServiceProcess::TryReap() {
  if (exit_code_ || pid_ <= 0) return exit_code_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

std::optional<int> ServiceProcess::Stop() {
  if (pid_ > 0) ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  for (;;) {
    if (std::optional<int> code = TryReap()) return code;
    if (pid_ <= 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string ServiceProcess::Stdout() const { return ReadText(stdout_path_); }
std::string ServiceProcess::Stderr() const { return ReadText(stderr_path_); }

// ---- HttpClient --------------------------------------------------------------------------------

HttpClient::~HttpClient() { Close(); }

bool HttpClient::Connect() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    Close();
    return false;
  }
  return true;
}

void HttpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

HttpResponse HttpClient::Request(std::string_view method, std::string_view path,
                                 std::string_view body) {
  std::string request = std::string(method) + " " + std::string(path) + " HTTP/1.1\r\n";
  request += "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n";
  request += "Connection: keep-alive\r\n";
  if (!body.empty()) request += "Content-Type: application/json\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  request += body;

  HttpResponse response;
  const bool reused = fd_ >= 0;
  if (!reused && !Connect()) {
    response.error = "cannot connect to port " + std::to_string(port_);
    return response;
  }
  if (Exchange(request, &response) || !reused) return response;
  // The server had closed the idle connection before reading this request: send it again.
  Close();
  response = HttpResponse();
  if (!Connect()) {
    response.error = "cannot reconnect to port " + std::to_string(port_);
    return response;
  }
  Exchange(request, &response);
  return response;
}

bool HttpClient::Exchange(const std::string& request, HttpResponse* response) {
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      Close();
      response->error = "send failed";
      return false;
    }
    sent += static_cast<size_t>(n);
  }

  std::string received;
  size_t head_end = std::string::npos;
  std::optional<size_t> body_size;
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  for (;;) {
    if (head_end == std::string::npos) {
      head_end = received.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::optional<std::string> length =
            HeaderValue(received.substr(0, head_end), "content-length");
        if (!length) {
          Close();
          response->error = "response without Content-Length";
          return true;
        }
        body_size = std::strtoull(length->c_str(), nullptr, 10);
      }
    }
    if (body_size && received.size() >= head_end + 4 + *body_size) break;

    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd ready{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) <= 0) {
      Close();
      response->error = "no complete response before the deadline";
      return true;
    }
    char chunk[kReadChunkBytes];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Close();
      response->error = "connection closed by the server";
      return !received.empty();  // closed before answering: the caller may retry
    }
    received.append(chunk, static_cast<size_t>(n));
  }

  // "HTTP/1.1 202 Accepted"
  const size_t space = received.find(' ');
  response->status = space == std::string::npos ? 0 : std::atoi(received.c_str() + space + 1);
  response->body = received.substr(head_end + 4, *body_size);
  const std::optional<std::string> connection =
      HeaderValue(received.substr(0, head_end), "connection");
  if (connection && Lowercase(*connection) == "close") Close();
  return true;
}

// ---- Helpers -----------------------------------------------------------------------------------

bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string FormatTimestamp(int64_t epoch_ms) {
  const std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(epoch_ms % 1000));
  return text;
}

std::string ReadText(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

bool WriteText(const std::string& path, std::string_view text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  return static_cast<bool>(file);
}

}  // namespace driftwatch::sdktest
