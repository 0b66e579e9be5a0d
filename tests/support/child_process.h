// A child process for the tests that run the real binaries: its stdin is /dev/null and its stdout
// and stderr go to files (so a chatty child never blocks on a full pipe, and a test can read what
// it printed at any time). Every wait has a deadline, so a test never hangs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace driftwatch::testing {

// Generous: the suite also runs under ASan and TSan, which slow start-up and shutdown a lot.
constexpr std::chrono::seconds kProcessDeadline{120};

class ChildProcess {
 public:
  // Output goes to <output_prefix>.out and <output_prefix>.err.
  explicit ChildProcess(std::string output_prefix);
  ~ChildProcess();  // kills the child if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] (a path) with argv; false when it cannot be started.
  bool Spawn(const std::vector<std::string>& argv);
  pid_t pid() const { return pid_; }  // -1 once it has exited (or before it started)

  bool Signal(int signal_number);
  // The exit code (128 + n for a death by signal n) if it has exited, reaping it; never blocks.
  std::optional<int> TryReap();
  // The exit code once it has exited, or nothing at the deadline (the child still runs).
  std::optional<int> WaitForExit(std::chrono::seconds deadline = kProcessDeadline);

  std::string Stdout() const;
  std::string Stderr() const;

 private:
  std::string stdout_path_;
  std::string stderr_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

struct RunResult {
  int exit_code = -1;  // -1: could not start, or did not exit before the deadline (then killed)
  std::string out;
  std::string err;
};

// Runs argv to its end, killing it at the deadline.
RunResult RunToExit(const std::vector<std::string>& argv, const std::string& output_prefix,
                    std::chrono::seconds deadline = kProcessDeadline);

// A whole file as text ("" when it cannot be read).
std::string ReadFile(const std::string& path);

}  // namespace driftwatch::testing
