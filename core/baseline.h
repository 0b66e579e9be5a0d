// The baseline window W and the baseline statistics B computed from it (SPEC section 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace driftwatch {

// One sample as the engine sees it. payload_kb is NaN when the sample carried none.
struct Sample {
  int64_t timestamp_ms = 0;
  double latency_ms = 0.0;
  double payload_kb = 0.0;
};

// B: what a service's normal looks like. Valid once computed from at least min_samples samples.
struct Baseline {
  bool valid = false;
  double mean_latency = 0.0;
  double stddev_latency = 0.0;  // sample standard deviation (n - 1)
  double p50_latency = 0.0;     // percentiles: linear interpolation between closest ranks (numpy)
  double p95_latency = 0.0;
  double p99_latency = 0.0;
  bool has_payload = false;  // false when no sample of W carried a payload
  double mean_payload = 0.0;
  double stddev_payload = 0.0;  // 0 when fewer than two samples carried a payload
  uint32_t sample_count = 0;    // |W| at computation
  int64_t last_updated_ms = 0;  // timestamp of the sample that caused the computation
};

// W: the most recent `capacity` samples that entered it, oldest first. Appending to a full window
// drops its oldest sample. Storage is a ring buffer that grows as it fills, up to capacity.
//
// While every sample of W round-trips exactly through a 12-byte encoding (the timestamp as an
// int32 offset from a per-window base, latency and payload as uint32 thousandths), W stores that
// encoding: half the memory of a Sample. A sample that does not round-trip bit for bit switches W
// to full Samples; W tries to return to the compact encoding once per ring length of appends.
// Either way at() and Compute() see exactly the samples that were appended.
class BaselineWindow {
 public:
  explicit BaselineWindow(uint32_t capacity);

  void Append(const Sample& sample);
  void Clear();
  // Drops every sample with timestamp_ms < cutoff_ms, keeping the order of the rest.
  void EvictOlderThan(int64_t cutoff_ms);

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  // The i-th oldest sample, 0 <= i < size().
  Sample at(uint32_t i) const;
  // The largest timestamp in the window (0 when empty).
  int64_t NewestTimestamp() const;

  // Computes B from the whole window; last_updated_ms is the caller's. Requires size() >= 1.
  // Re-sorts nothing that it need not: percentiles come from partial selection on a scratch copy.
  Baseline Compute(int64_t last_updated_ms) const;

  // True while the samples are held in the 12-byte encoding. Exposed for tests.
  bool compact() const { return compact_; }
  // Samples the ring has room for before it grows (<= capacity()). Exposed for tests.
  uint32_t allocated() const { return slots_; }

  // A sample in the compact encoding.
  struct CompactSample {
    int32_t offset_ms = 0;  // timestamp_ms - base_ms_
    uint32_t latency_milli = 0;
    uint32_t payload_milli = 0;  // kNoPayload when payload_kb is NaN
  };

 private:
  // The ring index after `index` (no division: this is on the per-sample path).
  uint32_t Next(uint32_t index) const { return index + 1 == slots_ ? 0 : index + 1; }
  // The ring index of the i-th oldest sample.
  uint32_t Index(uint32_t i) const {
    const uint32_t index = head_ + i;
    return index >= slots_ ? index - slots_ : index;
  }
  bool Encode(const Sample& sample, CompactSample* out) const;
  Sample Decode(const CompactSample& compact) const;
  // Moves base_ms_ so that the window and `sample` fit int32 offsets; false when they cannot.
  bool RebaseFor(const Sample& sample);
  void SwitchToFull();
  void TrySwitchToCompact();
  template <typename T>
  void Put(std::vector<T>& ring, const T& item);
  template <typename T>
  void Grow(std::vector<T>& ring);

  uint32_t capacity_;
  uint32_t head_ = 0;  // index of the oldest sample
  uint32_t size_ = 0;
  uint32_t slots_ = 0;  // length of the ring in use
  bool compact_ = true;
  uint32_t appends_since_check_ = 0;  // full layout only: appends since the last compact attempt
  int64_t base_ms_ = 0;
  std::vector<CompactSample> compact_ring_;  // in use while compact_
  std::vector<Sample> full_ring_;            // in use otherwise
};

// numpy.percentile(values, q, method="linear") for q in [0, 100]; reorders `values`.
// Exposed for tests. Requires !values.empty().
double LinearPercentile(std::vector<double>& values, double q);

}  // namespace driftwatch
