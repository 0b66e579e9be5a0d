#include "simulator/progress.h"

#include <cstdio>

namespace driftwatch::sim {

Progress::Progress(std::ostream* out, bool terminal, std::string label, int64_t total)
    : out_(out),
      terminal_(terminal),
      label_(std::move(label)),
      total_(total),
      start_(std::chrono::steady_clock::now()) {}

void Progress::Update(int64_t sent, const std::string& state, bool force) {
  const auto now = std::chrono::steady_clock::now();
  const auto interval =
      terminal_ ? std::chrono::duration_cast<std::chrono::milliseconds>(kTerminalInterval)
                : std::chrono::duration_cast<std::chrono::milliseconds>(kLogInterval);
  if (shown_ && !force && now - last_shown_ < interval) return;
  shown_ = true;
  last_shown_ = now;

  const double elapsed_s = std::chrono::duration<double>(now - start_).count();
  // The first sample goes out at 0 s, so n samples span n - 1 intervals.
  const double rate = elapsed_s > 0 && sent > 1 ? static_cast<double>(sent - 1) / elapsed_s : 0.0;
  char line[256];
  if (sent <= total_) {
    std::snprintf(line, sizeof line, "%s %lld/%lld samples sent, %.1f/s, state %s", label_.c_str(),
                  static_cast<long long>(sent), static_cast<long long>(total_), rate,
                  state.empty() ? "(new service)" : state.c_str());
  } else {
    std::snprintf(line, sizeof line,
                  "%s %lld/%lld samples sent + %lld extra NORMAL, %.1f/s, state %s", label_.c_str(),
                  static_cast<long long>(total_), static_cast<long long>(total_),
                  static_cast<long long>(sent - total_), rate,
                  state.empty() ? "(new service)" : state.c_str());
  }
  if (terminal_) {
    *out_ << '\r' << line << "\x1b[K" << std::flush;  // ESC[K clears what a longer line left
  } else {
    *out_ << line << '\n' << std::flush;
  }
}

void Progress::Finish() {
  if (terminal_ && shown_) *out_ << '\n' << std::flush;
}

}  // namespace driftwatch::sim
