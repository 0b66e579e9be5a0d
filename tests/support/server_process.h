// The real `driftwatch` service as a child process (see child_process.h), on the port its banner
// names ("API listening on http://HOST:PORT"), so tests can run it with `--port 0`.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/child_process.h"

namespace driftwatch::testing {

// The driftwatch executable of this build tree.
std::string DriftwatchBinary();

class ServerProcess {
 public:
  // `binary`: the service to run (another one than this build's, e.g. an installed copy).
  explicit ServerProcess(std::string output_prefix, std::string binary = DriftwatchBinary());

  // Starts the service with `args` and waits for its banner. False (with the child's output in
  // *error) if it exits or prints no banner before the deadline.
  bool Start(const std::vector<std::string>& args, std::string* error);
  uint16_t port() const { return port_; }
  pid_t pid() const { return child_.pid(); }  // -1 once it has exited

  bool Signal(int signal_number) { return child_.Signal(signal_number); }
  // The exit code (128 + n for a death by signal n) once it has exited, or nothing at the
  // deadline.
  std::optional<int> WaitForExit(std::chrono::seconds deadline = kProcessDeadline) {
    return child_.WaitForExit(deadline);
  }
  // A graceful stop: SIGTERM, then the exit code as WaitForExit gives it.
  std::optional<int> Stop();

  std::string Stdout() const { return child_.Stdout(); }
  std::string Stderr() const { return child_.Stderr(); }

 private:
  std::string binary_;
  ChildProcess child_;
  uint16_t port_ = 0;
};

// Runs this build's driftwatch with `args` to its end (e.g. --help, or a start-up that must fail);
// a service that does start is stopped gracefully.
RunResult RunServiceToExit(const std::vector<std::string>& args, const std::string& output_prefix);

}  // namespace driftwatch::testing
