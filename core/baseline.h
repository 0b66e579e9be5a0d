// The baseline window W and the baseline statistics B computed from it (SPEC section 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
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
// drops its oldest sample.
//
// Storage is lossless and variable-length, so that a window costs what its values need: the oldest
// sample is kept decoded, every later one is a record in a byte ring, encoded against the sample
// before it. A record is a control byte and up to three fields:
//   - the timestamp as the change of the delta from the previous sample (0, 1, 2 bytes or varint),
//   - latency and payload each in its cheapest exact form: a varint k with value == k / 1000
//     (clients sending three decimals) or k / 1024 (kilobytes of whole bytes), the XOR with the
//     previous value's bits with its zero bytes stripped (full-precision doubles), or "absent"
//     (payload only: any NaN payload, which comes back as quiet_NaN()). Every form is checked to
//     decode to the very same bits before it is chosen.
// The ring grows as the window fills, up to what the full window is projected to need.
class BaselineWindow {
 public:
  explicit BaselineWindow(uint32_t capacity);

  void Append(const Sample& sample);
  // Empties the window and gives its memory back.
  void Clear();
  // Drops every sample with timestamp_ms < cutoff_ms, keeping the order of the rest.
  void EvictOlderThan(int64_t cutoff_ms);

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  // The samples, oldest first (a decoding pass: there is no random access).
  std::vector<Sample> Samples() const;
  // The largest timestamp in the window (0 when empty).
  int64_t NewestTimestamp() const;

  // Computes B from the whole window; last_updated_ms is the caller's. Requires size() >= 1.
  // Decodes the window into scratch buffers in one pass; percentiles come from partial selection
  // on them.
  Baseline Compute(int64_t last_updated_ms) const;

  // Appends the window's encoded form to *out (little-endian, self-delimiting only together with
  // its length, which the caller stores).
  void Save(std::string* out) const;
  // Replaces the window with one saved by Save (if it holds more than capacity() samples, the
  // newest are kept). Returns false and leaves the window unchanged when `bytes` is not such a
  // form.
  bool Load(std::string_view bytes);

  // Bytes of the ring's allocation, its end padding included. Exposed for tests.
  size_t allocated_bytes() const { return ring_.size(); }

  // What decoding the next record needs: the previous sample's timestamp and timestamp delta,
  // its latency's bits, and the bits of the latest payload present.
  struct Cursor {
    int64_t timestamp_ms = 0;
    uint64_t delta_ms = 0;
    uint64_t latency_bits = 0;
    uint64_t payload_bits = 0;
  };

 private:
  // Calls visit(const Cursor&, bool has_payload) for every sample, oldest first.
  template <typename Visit>
  void ForEach(Visit visit) const;
  void PopOldest();
  // Writes `record` at the ring's tail, growing the ring when it does not fit.
  void Push(const uint8_t* record, size_t length);
  // Moves the records into a new ring of `bytes` usable bytes (>= the records), unwrapped.
  void Reallocate(size_t bytes);
  // Gives back most of the ring's slack once the records need much less than it holds.
  void ShrinkIfSlack();
  size_t RecordBytes() const;
  size_t RingBytes() const;  // the ring's usable bytes, padding excluded

  uint32_t capacity_;
  uint32_t size_ = 0;  // samples: the oldest, plus size_ - 1 records in the ring
  // Records whose timestamp is below their predecessor's. While there are none, the newest
  // timestamp is the last one and age eviction drops a prefix: no pass over the window.
  uint32_t descents_ = 0;
  // The ring holds records in [head_, tail_), or [head_, wrap_) then [0, tail_) when wrapped_:
  // a record never straddles the end, so decoding reads plain contiguous bytes.
  size_t head_ = 0;
  size_t tail_ = 0;
  size_t wrap_ = 0;
  bool wrapped_ = false;
  bool oldest_has_payload_ = false;
  Cursor oldest_;  // the oldest sample (payload_bits is its payload when oldest_has_payload_)
  Cursor newest_;  // the state after the newest sample: what the next record is encoded against
  std::vector<uint8_t> ring_;
};
// numpy.percentile(values, q, method="linear") for q in [0, 100]; reorders `values`.
// Exposed for tests. Requires !values.empty().
double LinearPercentile(std::vector<double>& values, double q);

}  // namespace driftwatch
