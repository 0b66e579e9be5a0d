// The live progress of a run on stderr: one line redrawn in place on a terminal, a plain line
// every few seconds otherwise (logs, CI).
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace driftwatch::sim {

class Progress {
 public:
  // `total` is the scheduled sample count; `terminal` picks the redrawn line.
  Progress(std::ostream* out, bool terminal, std::string label, int64_t total);

  // Shows the samples sent so far, the send rate and the service's state, at most every
  // kTerminalInterval (terminal) or kLogInterval (otherwise), unless `force`.
  void Update(int64_t sent, const std::string& state, bool force = false);
  // Ends the redrawn line so that what follows starts on a fresh one.
  void Finish();

  static constexpr std::chrono::milliseconds kTerminalInterval{100};
  static constexpr std::chrono::seconds kLogInterval{5};

 private:
  std::ostream* out_;
  bool terminal_;
  std::string label_;
  int64_t total_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_shown_;
  bool shown_ = false;
};

}  // namespace driftwatch::sim
