// What GET /metrics reads of one series, published by the thread that processes it so that a
// scrape takes no shard lock at all (docs/architecture.md, "The flow of one sample";
// docs/performance.md, section 9).
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>

#include "core/baseline_statistics.h"
#include "core/service_monitor.h"

namespace driftwatch {

// One series' figures as a scrape exposes them.
struct SeriesFigures {
  ServiceState state = ServiceState::kInsufficientData;
  double zscore = 0.0;  // ServiceMonitor::last_zscore
  Baseline baseline;
  uint64_t sample_count = 0;  // ServiceEntry::seq, as GET /v1/health counts them
  std::optional<int64_t> transition_timestamp_ms;
  bool forgotten = false;  // its forget was processed (DELETE /v1/services)
};

// A seqlock over SeriesFigures: one writer at a time (the series' shard, under its state lock
// held exclusively), any number of readers that never block the writer. Every field is kept in
// an atomic word, so a reader that overlaps a write sees words from both, never undefined
// behaviour; the version around them, odd while a write is under way, tells it to read again.
// The words are stored with release and loaded with acquire order (no standalone fences, which
// ThreadSanitizer does not model): a reader that loads a word of a newer write therefore also
// sees that write's odd version, or a later one, when it looks at the version again, and reads
// again. On x86 these are plain moves.
class PublishedFigures {
 public:
  void Publish(const SeriesFigures& figures) {
    const std::array<uint64_t, kWords> words = Encode(figures);
    const uint64_t version = version_.load(std::memory_order_relaxed);
    version_.store(version + 1, std::memory_order_relaxed);
    // Release: whoever loads one of these words sees the odd version above, or a later one.
    for (size_t i = 0; i < kWords; ++i) words_[i].store(words[i], std::memory_order_release);
    version_.store(version + 2, std::memory_order_release);
  }

  // The figures of one publish, whole. Returns how many times it had to read again because a
  // publish overlapped (each publish is a dozen stores, so that is rare and short).
  uint32_t Read(SeriesFigures* out) const {
    std::array<uint64_t, kWords> words{};
    for (uint32_t retries = 0;; ++retries) {
      const uint64_t before = version_.load(std::memory_order_acquire);
      if ((before & 1U) != 0) {  // a write under way: its writer may be preempted; let it run
        std::this_thread::yield();
        continue;
      }
      // Acquire: the version is looked at again only after every word is loaded.
      for (size_t i = 0; i < kWords; ++i) words[i] = words_[i].load(std::memory_order_acquire);
      if (version_.load(std::memory_order_relaxed) == before) {
        *out = Decode(words);
        return retries;
      }
    }
  }

 private:
  static constexpr size_t kWords = 12;
  // Word 0: state in bits 0-7, then flags; the baseline's sample count in bits 32-63.
  static constexpr uint64_t kForgotten = 1U << 8U;
  static constexpr uint64_t kHasTransition = 1U << 9U;
  static constexpr uint64_t kBaselineValid = 1U << 10U;
  static constexpr uint64_t kBaselineHasPayload = 1U << 11U;
  static constexpr unsigned kBaselineCountShift = 32;

  static std::array<uint64_t, kWords> Encode(const SeriesFigures& f) {
    const Baseline& b = f.baseline;
    uint64_t head = static_cast<uint64_t>(f.state);
    if (f.forgotten) head |= kForgotten;
    if (f.transition_timestamp_ms) head |= kHasTransition;
    if (b.valid) head |= kBaselineValid;
    if (b.has_payload) head |= kBaselineHasPayload;
    head |= static_cast<uint64_t>(b.sample_count) << kBaselineCountShift;
    return {head,
            std::bit_cast<uint64_t>(f.zscore),
            f.sample_count,
            static_cast<uint64_t>(f.transition_timestamp_ms.value_or(0)),
            std::bit_cast<uint64_t>(b.mean_latency),
            std::bit_cast<uint64_t>(b.stddev_latency),
            std::bit_cast<uint64_t>(b.p50_latency),
            std::bit_cast<uint64_t>(b.p95_latency),
            std::bit_cast<uint64_t>(b.p99_latency),
            std::bit_cast<uint64_t>(b.mean_payload),
            std::bit_cast<uint64_t>(b.stddev_payload),
            static_cast<uint64_t>(b.last_updated_ms)};
  }

  static SeriesFigures Decode(const std::array<uint64_t, kWords>& w) {
    constexpr uint64_t kStateMask = 0xff;
    SeriesFigures f;
    f.state = static_cast<ServiceState>(w[0] & kStateMask);
    f.forgotten = (w[0] & kForgotten) != 0;
    if ((w[0] & kHasTransition) != 0) f.transition_timestamp_ms = static_cast<int64_t>(w[3]);
    f.zscore = std::bit_cast<double>(w[1]);
    f.sample_count = w[2];
    Baseline& b = f.baseline;
    b.valid = (w[0] & kBaselineValid) != 0;
    b.has_payload = (w[0] & kBaselineHasPayload) != 0;
    b.sample_count = static_cast<uint32_t>(w[0] >> kBaselineCountShift);
    b.mean_latency = std::bit_cast<double>(w[4]);
    b.stddev_latency = std::bit_cast<double>(w[5]);
    b.p50_latency = std::bit_cast<double>(w[6]);
    b.p95_latency = std::bit_cast<double>(w[7]);
    b.p99_latency = std::bit_cast<double>(w[8]);
    b.mean_payload = std::bit_cast<double>(w[9]);
    b.stddev_payload = std::bit_cast<double>(w[10]);
    b.last_updated_ms = static_cast<int64_t>(w[11]);
    return f;
  }

  std::atomic<uint64_t> version_{0};                   // even: no write under way
  std::array<std::atomic<uint64_t>, kWords> words_{};  // all zero: the figures of a new series
};

}  // namespace driftwatch
