// Waiting for something another thread or process does, with a deadline, so a test never hangs.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace driftwatch::testing {

// Polls `done` every `interval` until it holds or `patience` passes; returns its last answer.
inline bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds patience,
                       std::chrono::milliseconds interval = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace driftwatch::testing
