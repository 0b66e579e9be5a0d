// The baseline window W (docs/behaviour.md, Statistics): a service's most recent samples, in a
// compact lossless ring, and B computed from them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/baseline_statistics.h"
#include "core/sample.h"
#include "core/window_record.h"

namespace driftwatch {

// W: the most recent `capacity` samples that entered it, oldest first. Appending to a full window
// drops its oldest sample.
//
// Storage is lossless and variable-length, so that a window costs what its values need: the oldest
// sample is kept decoded, every later one is a record in a byte ring, encoded against the sample
// before it (core/window_record.h).
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
  // The largest timestamp in the window (0 when empty). Not const: when timestamps went down and
  // the largest one has left the window, it looks for the next largest and keeps it.
  int64_t NewestTimestamp();

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

  // Asks the CPU to load the ring's bytes that the next Append writes and reads (the new record's
  // place, and the oldest record when the window is full); changes nothing.
  void Prefetch() const {
    if (ring_.empty()) return;
    __builtin_prefetch(ring_.data() + tail_, 1);
    __builtin_prefetch(ring_.data() + head_);
  }

  // Bytes of the ring's allocation, its end padding included. Exposed for tests.
  size_t allocated_bytes() const { return ring_.size(); }

  using Cursor = WindowCursor;

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
  // Makes largest_ms_ and smallest_ms_ known, by a pass over the window when they are not.
  void FindExtremes();
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
  // The largest and smallest timestamps in the window, while known: they stop being known when
  // a sample holding one leaves, until FindExtremes looks for both again. Only needed while
  // descents_ > 0 (else newest_ and oldest_ hold them), where they spare age eviction a pass.
  bool extremes_known_ = true;
  int64_t largest_ms_ = 0;
  int64_t smallest_ms_ = 0;
  Cursor oldest_;  // the oldest sample (payload_bits is its payload when oldest_has_payload_)
  Cursor newest_;  // the state after the newest sample: what the next record is encoded against
  std::vector<uint8_t> ring_;
};

}  // namespace driftwatch
