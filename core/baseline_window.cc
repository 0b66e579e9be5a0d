#include "core/baseline_window.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>

namespace driftwatch {
namespace {

using namespace window_record;  // NOLINT(google-build-using-namespace): the codec of this class

constexpr size_t kFirstRingBytes = 128;

// The room to grow a ring of `bytes` record bytes gets: the window's records vary in length.
size_t Slack(size_t bytes) { return bytes / 64 + 32; }

uint8_t* PutBytes(uint64_t value, size_t count, uint8_t* out) {
  return coding::PutFixed(value, count, out);
}

}  // namespace

BaselineWindow::BaselineWindow(uint32_t capacity) : capacity_(capacity) {}

size_t BaselineWindow::RingBytes() const { return ring_.empty() ? 0 : ring_.size() - kPadBytes; }

size_t BaselineWindow::RecordBytes() const {
  return wrapped_ ? (wrap_ - head_) + tail_ : tail_ - head_;
}

template <typename Visit>
void BaselineWindow::ForEach(Visit visit) const {
  if (size_ == 0) return;
  visit(oldest_, oldest_has_payload_);
  const uint8_t* const ring = ring_.data();
  const Cursor cursor =
      DecodeRange(ring + head_, ring + (wrapped_ ? wrap_ : tail_), oldest_, visit);
  if (wrapped_) DecodeRange(ring, ring + tail_, cursor, visit);
}

void BaselineWindow::Reallocate(size_t bytes) {
  const size_t records = RecordBytes();
  assert(bytes >= records);
  std::vector<uint8_t> ring(bytes + kPadBytes);
  if (wrapped_) {
    std::memcpy(ring.data(), ring_.data() + head_, wrap_ - head_);
    std::memcpy(ring.data() + (wrap_ - head_), ring_.data(), tail_);
  } else if (records > 0) {
    std::memcpy(ring.data(), ring_.data() + head_, records);
  }
  ring_ = std::move(ring);
  head_ = 0;
  tail_ = records;
  wrap_ = 0;
  wrapped_ = false;
}

void BaselineWindow::Push(const uint8_t* record, size_t length) {
  const size_t ring = RingBytes();
  if (!wrapped_ && ring - tail_ < length && head_ >= length) {
    wrap_ = tail_;  // the bytes past it stay unused until the head wraps too
    wrapped_ = true;
    tail_ = 0;
  }
  const size_t room = wrapped_ ? head_ - tail_ : ring - tail_;
  if (room < length) {
    const size_t needed = RecordBytes() + length;
    size_t bytes = needed + Slack(needed);
    // While the window fills, grow geometrically, and straight to what the full window is
    // projected to need once that is near: fewer steps, fewer freed blocks left between others.
    // size_ records will be in the ring, capacity_ - 1 once it is full.
    const size_t full_records = capacity_ - 1;
    if (size_ < full_records) {
      const size_t projected = needed * full_records / size_;
      const size_t full_bytes = projected + Slack(projected);
      const size_t doubled = std::max(2 * ring, kFirstRingBytes);
      bytes = std::max(bytes, full_bytes <= 3 * ring ? full_bytes : std::min(doubled, full_bytes));
    }
    Reallocate(bytes);
  }
  std::memcpy(ring_.data() + tail_, record, length);
  tail_ += length;
}

void BaselineWindow::PopOldest() {
  assert(size_ >= 1);
  --size_;
  if (oldest_.timestamp_ms == largest_ms_ || oldest_.timestamp_ms == smallest_ms_) {
    extremes_known_ = false;
  }
  if (size_ > 0) {
    Cursor next = oldest_;
    const uint8_t* const record = ring_.data() + head_;
    const uint8_t* const end = DecodeRecord(record, &next, &oldest_has_payload_);
    assert(end != nullptr);
    head_ += static_cast<size_t>(end - record);
    if (wrapped_ && head_ == wrap_) {
      head_ = 0;
      wrapped_ = false;
    }
    if (next.timestamp_ms < oldest_.timestamp_ms) --descents_;
    oldest_ = next;
  }
  if (size_ <= 1) {  // no record left
    head_ = 0;
    tail_ = 0;
    wrapped_ = false;
  }
}

void BaselineWindow::ShrinkIfSlack() {
  const size_t records = RecordBytes();
  if (records == 0) {
    ring_ = std::vector<uint8_t>();
    head_ = 0;
    tail_ = 0;
    wrapped_ = false;
  } else if (RingBytes() > records + records / 8 + 256) {
    Reallocate(records + Slack(records));
  }
}

void BaselineWindow::Append(const Sample& sample) {
  if (capacity_ == 0) return;
  uint8_t record[kMaxRecordBytes];
  Cursor next = newest_;
  bool has_payload = false;
  const size_t length = EncodeRecord(sample, &next, record, &has_payload);
  const bool full = size_ == capacity_;
  if (full) PopOldest();
  if (size_ == 0) {
    oldest_ = next;
    oldest_has_payload_ = has_payload;
    descents_ = 0;
    extremes_known_ = true;
    largest_ms_ = smallest_ms_ = sample.timestamp_ms;
  } else {
    // Not known, they stay so.
    largest_ms_ = std::max(largest_ms_, sample.timestamp_ms);
    smallest_ms_ = std::min(smallest_ms_, sample.timestamp_ms);
    if (sample.timestamp_ms < newest_.timestamp_ms) ++descents_;
    Push(record, length);
  }
  newest_ = next;
  ++size_;
  // Records that became shorter (say a client that moved to three decimals) free ring space.
  if (full) ShrinkIfSlack();
}

void BaselineWindow::Clear() {
  size_ = 0;
  descents_ = 0;
  head_ = 0;
  tail_ = 0;
  wrapped_ = false;
  extremes_known_ = true;
  largest_ms_ = smallest_ms_ = 0;
  oldest_ = Cursor{};
  newest_ = Cursor{};
  ring_ = std::vector<uint8_t>();
}

void BaselineWindow::EvictOlderThan(int64_t cutoff_ms) {
  const uint32_t size_before = size_;
  if (descents_ == 0) {
    // Timestamps never go down in the window: the samples to drop are the oldest ones.
    while (size_ > 0 && oldest_.timestamp_ms < cutoff_ms) PopOldest();
  } else {
    // Samples carry their own timestamps, in any order: re-encode the ones that stay.
    FindExtremes();
    if (smallest_ms_ >= cutoff_ms) return;
    std::vector<Sample> kept;
    ForEach([&](const Cursor& cursor, bool has_payload) {
      if (cursor.timestamp_ms >= cutoff_ms) kept.push_back(SampleAt(cursor, has_payload));
    });
    Clear();
    for (const Sample& sample : kept) Append(sample);
  }
  if (size_ < size_before) ShrinkIfSlack();
}

std::vector<Sample> BaselineWindow::Samples() const {
  std::vector<Sample> samples;
  samples.reserve(size_);
  ForEach([&](const Cursor& cursor, bool has_payload) {
    samples.push_back(SampleAt(cursor, has_payload));
  });
  return samples;
}

int64_t BaselineWindow::NewestTimestamp() {
  if (size_ == 0) return 0;
  if (descents_ == 0) return newest_.timestamp_ms;
  FindExtremes();
  return largest_ms_;
}

void BaselineWindow::FindExtremes() {
  if (extremes_known_) return;
  largest_ms_ = smallest_ms_ = oldest_.timestamp_ms;
  ForEach([&](const Cursor& cursor, bool) {
    largest_ms_ = std::max(largest_ms_, cursor.timestamp_ms);
    smallest_ms_ = std::min(smallest_ms_, cursor.timestamp_ms);
  });
  extremes_known_ = true;
}

Baseline BaselineWindow::Compute(int64_t last_updated_ms) const {
  assert(size_ >= 1);
  // One scratch buffer per thread: no allocation per computation once it has grown.
  thread_local std::vector<double> latencies;
  thread_local std::vector<double> payloads;
  latencies.resize(size_);
  payloads.resize(size_);
  size_t latency_count = 0;
  size_t payload_count = 0;
  ForEach([&](const Cursor& cursor, bool has_payload) {
    latencies[latency_count++] = Value(cursor.latency_bits);
    payloads[payload_count] = Value(cursor.payload_bits);
    payload_count += has_payload ? 1 : 0;
  });
  payloads.resize(payload_count);
  return ComputeBaseline(latencies, payloads, size_, last_updated_ms);
}

// ---- Save / Load: u32 size; when not empty, the oldest sample's cursor (i64 timestamp, u64 delta,
// u64 latency bits, u64 payload bits), u8 1 when it carries its payload, then the records.

constexpr size_t kSavedCursorBytes = 4 * 8 + 1;

void BaselineWindow::Save(std::string* out) const {
  uint8_t header[4 + kSavedCursorBytes];
  uint8_t* end = PutBytes(size_, 4, header);
  if (size_ > 0) {
    end = PutBytes(static_cast<uint64_t>(oldest_.timestamp_ms), 8, end);
    end = PutBytes(oldest_.delta_ms, 8, end);
    end = PutBytes(oldest_.latency_bits, 8, end);
    end = PutBytes(oldest_.payload_bits, 8, end);
    *end++ = oldest_has_payload_ ? 1 : 0;
  }
  out->append(reinterpret_cast<const char*>(header), static_cast<size_t>(end - header));
  const auto append = [&](size_t from, size_t to) {
    out->append(reinterpret_cast<const char*>(ring_.data() + from), to - from);
  };
  if (wrapped_) {
    append(head_, wrap_);
    append(0, tail_);
  } else {
    append(head_, tail_);
  }
}

bool BaselineWindow::Load(std::string_view bytes) {
  const auto* in = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 4) return false;
  uint32_t size = 0;
  for (int i = 0; i < 4; ++i) size |= static_cast<uint32_t>(in[i]) << (8 * i);
  BaselineWindow loaded(capacity_);
  if (size == 0) {
    if (bytes.size() != 4) return false;
    *this = std::move(loaded);
    return true;
  }
  if (bytes.size() < 4 + kSavedCursorBytes) return false;
  in += 4;
  loaded.oldest_.timestamp_ms = static_cast<int64_t>(GetBytes(in, 8));
  loaded.oldest_.delta_ms = GetBytes(in + 8, 8);
  loaded.oldest_.latency_bits = GetBytes(in + 16, 8);
  loaded.oldest_.payload_bits = GetBytes(in + 24, 8);
  if (in[32] > 1) return false;
  loaded.oldest_has_payload_ = in[32] == 1;
  in += kSavedCursorBytes;
  const size_t records = bytes.size() - 4 - kSavedCursorBytes;
  if (records < size - 1) return false;  // every record is at least its control byte

  // The slack covers the longest record a corrupt input could make the decoder read past the end.
  static_assert(kMaxRecordBytes <= 32);
  loaded.ring_.assign(records + Slack(records) + kPadBytes, 0);
  std::memcpy(loaded.ring_.data(), in, records);
  const uint8_t* record = loaded.ring_.data();
  const uint8_t* const end = record + records;
  Cursor cursor = loaded.oldest_;
  loaded.largest_ms_ = loaded.smallest_ms_ = cursor.timestamp_ms;
  for (uint32_t i = 1; i < size; ++i) {
    const int64_t previous_ms = cursor.timestamp_ms;
    bool has_payload = false;
    record = DecodeRecord(record, &cursor, &has_payload);
    if (record == nullptr || record > end) return false;
    if (cursor.timestamp_ms < previous_ms) ++loaded.descents_;
    loaded.largest_ms_ = std::max(loaded.largest_ms_, cursor.timestamp_ms);
    loaded.smallest_ms_ = std::min(loaded.smallest_ms_, cursor.timestamp_ms);
  }
  if (record != end) return false;
  loaded.newest_ = cursor;
  loaded.size_ = size;
  loaded.tail_ = records;
  if (capacity_ == 0) {
    loaded.Clear();
  } else {
    while (loaded.size_ > capacity_) loaded.PopOldest();
  }
  loaded.ShrinkIfSlack();
  *this = std::move(loaded);
  return true;
}

}  // namespace driftwatch
