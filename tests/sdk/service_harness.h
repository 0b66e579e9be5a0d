// What the SDK tests need to drive the real `driftwatch` binary from outside: the process (its
// output in files, its port read from the banner) and a small HTTP/1.1 client over a raw loopback
// socket that keeps one connection alive. Every wait has a deadline, so a test never hangs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace driftwatch::sdktest {

// Generous: the suite also runs under ASan and TSan, which slow everything down a lot.
constexpr std::chrono::seconds kDeadline{120};

// The real service as a child process.
class ServiceProcess {
 public:
  ServiceProcess() = default;
  ~ServiceProcess();  // kills the child if it still runs
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  // Runs `binary args...` with stdout/stderr in <output_prefix>.out/.err and waits for the banner
  // line "API listening on http://HOST:PORT". False, with the reason and the child's output in
  // *error, if it exits first or prints no banner before the deadline.
  bool Start(const std::string& binary, const std::vector<std::string>& args,
             const std::string& output_prefix, std::string* error);
  uint16_t port() const { return port_; }

  // SIGTERM, then waits: the exit code (128 + n for a death by signal n), or nothing at the
  // deadline.
  std::optional<int> Stop();

  std::string Stdout() const;
  std::string Stderr() const;

 private:
  std::optional<int> TryReap();  // never blocks

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  uint16_t port_ = 0;
  std::string stdout_path_;
  std::string stderr_path_;
};

struct HttpResponse {
  int status = 0;  // 0: no complete response arrived (the error says why)
  std::string body;
  std::string error;
};

// One persistent connection to 127.0.0.1:port. Every request says `Connection: keep-alive`; if
// the server has closed an idle connection, the request is sent again on a new one.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : port_(port) {}
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse Get(std::string_view path) { return Request("GET", path, ""); }
  HttpResponse Post(std::string_view path, std::string_view json) {
    return Request("POST", path, json);
  }
  HttpResponse Request(std::string_view method, std::string_view path, std::string_view body);

 private:
  bool Connect();
  void Close();
  // Sends the request and reads one response on the open connection; false when the connection
  // turned out to be closed before any byte of the response arrived.
  bool Exchange(const std::string& request, HttpResponse* response);

  uint16_t port_;
  int fd_ = -1;
};

// Calls `done` until it returns true or the deadline passes; returns its last answer.
bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds deadline = kDeadline);

// "2026-01-12T10:30:45.123Z" for epoch milliseconds (the format DriftWatch writes).
std::string FormatTimestamp(int64_t epoch_ms);

// Whole file as text ("" when it cannot be read).
std::string ReadText(const std::string& path);
bool WriteText(const std::string& path, std::string_view text);

}  // namespace driftwatch::sdktest
