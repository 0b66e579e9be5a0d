// Runs the real `driftwatch` binary as a child process for the API tests: its stdout and stderr
// go to files (so the child can never block on a full pipe), and the port it listens on is read
// from its banner ("API listening on http://127.0.0.1:PORT").
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace driftwatch::testing {

// Generous: the suite also runs under ASan and TSan, which slow start-up and shutdown a lot.
constexpr std::chrono::seconds kProcessDeadline{120};

class ServerProcess {
 public:
  // `output_prefix`: where stdout/stderr go (<prefix>.out, <prefix>.err).
  explicit ServerProcess(std::string output_prefix);
  ~ServerProcess();  // kills the child if it still runs
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts driftwatch with `args` and waits for its banner. False (with the child's output in
  // *error) if it exits or prints no banner before the deadline.
  bool Start(const std::vector<std::string>& args, std::string* error);
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }  // -1 once it has exited

  bool Signal(int signal_number);
  // The exit code (128 + n for a death by signal n) once it has exited, or nothing at the
  // deadline.
  std::optional<int> WaitForExit(std::chrono::seconds deadline = kProcessDeadline);

  std::string Stdout() const;
  std::string Stderr() const;

 private:
  bool Spawn(const std::vector<std::string>& args);
  // The exit code if the child has exited (reaping it), else nothing. Never blocks.
  std::optional<int> TryReap();

  std::string stdout_path_;
  std::string stderr_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  uint16_t port_ = 0;
};

struct RunResult {
  int exit_code = -1;  // -1: did not exit before the deadline (and was killed)
  std::string out;
  std::string err;
};

// Runs driftwatch to its end (e.g. --help, or a start-up that must fail).
RunResult RunToExit(const std::vector<std::string>& args, const std::string& output_prefix);

}  // namespace driftwatch::testing
