#include "core/baseline.h"

#include <driftwatch/byte_coding.hpp>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>

namespace driftwatch {
namespace {

// numpy's _lerp: exact at both ends, and monotonic, because it interpolates from the nearer end.
double Lerp(double a, double b, double t) {
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

struct Moments {
  double mean = 0.0;
  double stddev = 0.0;
};

// Sums f(value) over four interleaved partial sums: independent additions pipeline (a single
// running sum waits on itself at every step), and the rounding error is a little smaller too.
template <typename F>
double Sum(const std::vector<double>& values, F f) {
  double partial[4] = {0.0, 0.0, 0.0, 0.0};
  size_t i = 0;
  for (; i + 4 <= values.size(); i += 4) {
    for (size_t lane = 0; lane < 4; ++lane) partial[lane] += f(values[i + lane]);
  }
  for (; i < values.size(); ++i) partial[0] += f(values[i]);
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

// Mean and sample standard deviation (n - 1), two-pass for accuracy.
Moments ComputeMoments(const std::vector<double>& values) {
  Moments result;
  if (values.empty()) return result;
  const double n = static_cast<double>(values.size());
  result.mean = Sum(values, [](double value) { return value; }) / n;
  if (values.size() < 2) return result;
  const double mean = result.mean;
  const double squares =
      Sum(values, [mean](double value) { return (value - mean) * (value - mean); });
  result.stddev = std::sqrt(squares / (n - 1.0));
  return result;
}

// Moves the values that `keep` accepts to the front, keeping no order; returns how many.
// Branchless: the swap is unconditional and the comparison only advances the index (random data
// defeats the predictor).
template <typename Keep>
size_t Partition(double* values, size_t n, Keep keep) {
  size_t store = 0;
  for (size_t i = 0; i < n; ++i) {
    const double value = values[i];
    values[i] = values[store];
    values[store] = value;
    store += static_cast<size_t>(keep(value));
  }
  return store;
}

double MedianOfThree(double a, double b, double c) {
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

// Like std::nth_element(values, values + k, values + n) for values without NaN: afterwards
// values[k] is the k-th smallest, nothing before it is greater and nothing after it is smaller.
// The k-th smallest is one value whatever the algorithm, so the percentiles are unchanged.
void SelectNth(double* values, size_t n, size_t k) {
  constexpr size_t kSortBelow = 16;
  size_t low = 0;  // values[k] lies in [low, high)
  size_t high = n;
  while (high - low > kSortBelow) {
    double* range = values + low;
    const size_t count = high - low;
    // An element of the range, so [less, high) holds at least one value equal to it: progress.
    const double pivot = MedianOfThree(range[0], range[count / 2], range[count - 1]);
    const size_t less = low + Partition(range, count, [pivot](double v) { return v < pivot; });
    if (k < less) {
      high = less;
      continue;
    }
    const size_t not_greater =
        less + Partition(values + less, high - less, [pivot](double v) { return v <= pivot; });
    if (k < not_greater) return;  // values[k] == pivot, in place
    low = not_greater;
  }
  std::sort(values + low, values + high);
}

// Below this many values std::nth_element is faster (measured: 0.5 vs 0.7 us for 100 samples).
constexpr size_t kBranchlessSelectFrom = 256;

// Linear percentiles for ascending qs, reusing each selection: after selecting rank k, everything
// past k is >= values[k], so the next (larger) rank is selected in the tail only.
void LinearPercentiles(std::vector<double>& values, const double* qs, double* out, size_t count) {
  const size_t n = values.size();
  // NaN has no rank, and the quickselect relies on every comparison being meaningful.
  const bool branchless =
      n >= kBranchlessSelectFrom &&
      std::none_of(values.begin(), values.end(), [](double value) { return std::isnan(value); });
  size_t selected_from = 0;  // values[0, selected_from) are the smallest, already in place
  for (size_t i = 0; i < count; ++i) {
    // numpy: virtual index = (n - 1) * (q / 100); at or past the last rank, the maximum.
    const double virtual_index = static_cast<double>(n - 1) * (qs[i] / 100.0);
    const double lower_index = std::floor(virtual_index);
    const size_t lower = static_cast<size_t>(lower_index);
    const bool at_top = virtual_index >= static_cast<double>(n - 1);
    const size_t rank = at_top ? n - 1 : lower;
    if (rank >= selected_from) {
      if (branchless) {
        SelectNth(values.data() + selected_from, n - selected_from, rank - selected_from);
      } else {
        std::nth_element(values.begin() + static_cast<std::ptrdiff_t>(selected_from),
                         values.begin() + static_cast<std::ptrdiff_t>(rank), values.end());
      }
      selected_from = rank + 1;
    }
    const double a = values[rank];
    if (at_top) {
      out[i] = a;
      continue;
    }
    const double b =
        *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(rank + 1), values.end());
    out[i] = Lerp(a, b, virtual_index - lower_index);
  }
}

// ---- The record codec ---------------------------------------------------------------------------

// Control byte: bits 0-1 the timestamp's size class, bits 2-4 the latency's form, 5-7 the
// payload's.
enum TimestampClass : uint8_t { kDeltaUnchanged = 0, kOneByte = 1, kTwoBytes = 2, kVarint = 3 };
enum Form : uint8_t {
  kMilli = 0,        // varint k, value = k / 1000
  kBinary = 1,       // varint k, value = k / 1024
  kSame = 2,         // the previous value's bits
  kXor6 = 3,         // the XOR with the previous bits, its low 6 bytes (the top two are zero)
  kXor7 = 4,         // ... its low 7 bytes
  kXor8 = 5,         // ... all 8 bytes
  kXorStripped = 6,  // a byte (zero bytes below << 4 | length), then the XOR's nonzero span
  kAbsent = 7,       // payload only: the sample carried none
};
constexpr int kLatencyShift = 2;
constexpr int kPayloadShift = 5;

// The longest record: control byte and three 10-byte varints.
constexpr size_t kMaxRecordBytes = 1 + 3 * 10;
// Decoding an XOR loads 8 bytes at once, up to 7 past the record's end: the ring has room for them.
constexpr size_t kPadBytes = 8;
constexpr size_t kFirstRingBytes = 128;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kTwoTo64 = 18446744073709551616.0;

uint64_t Bits(double value) { return std::bit_cast<uint64_t>(value); }
double Value(uint64_t bits) { return std::bit_cast<double>(bits); }

// The room to grow a ring of `bytes` record bytes gets: the window's records vary in length.
size_t Slack(size_t bytes) { return bytes / 64 + 32; }

double MilliValue(uint64_t k) { return static_cast<double>(k) / 1000.0; }
double BinaryValue(uint64_t k) { return static_cast<double>(k) * 0x1p-10; }

// k with MilliValue(k) bit for bit `value`, when there is one.
bool MilliOf(double value, uint64_t* k) {
  const double scaled = value * 1000.0;
  // Rounds to an integer without a call into libm (past 2^52 every double is one).
  const double rounded = scaled < 0x1p52 ? (scaled + 0x1p52) - 0x1p52 : scaled;
  // k / 1000 times 1000 lands within a few ulps of k: anything farther (a full-precision double)
  // skips the division. Only a shortcut: the round trip below decides.
  if (!(std::fabs(scaled - rounded) <= scaled * 0x1p-50)) return false;
  if (!(rounded < kTwoTo64)) return false;
  *k = static_cast<uint64_t>(rounded);
  return Bits(MilliValue(*k)) == Bits(value);
}

// k with BinaryValue(k) bit for bit `value`, when there is one.
bool BinaryOf(double value, uint64_t* k) {
  const double scaled = value * 1024.0;
  if (!(scaled >= 0.0 && scaled < kTwoTo64) || scaled != std::floor(scaled)) return false;
  *k = static_cast<uint64_t>(scaled);
  return Bits(BinaryValue(*k)) == Bits(value);
}

using coding::PutVarint;
size_t VarintBytes(uint64_t value) { return coding::VarintLength(value); }
uint8_t* PutBytes(uint64_t value, size_t count, uint8_t* out) {
  return coding::PutFixed(value, count, out);
}
using coding::UnZigZag;
using coding::ZigZag;

// The decoders below are byte_coding.hpp's without its end checks: they run over the ring, whose
// padding and slack leave room for the longest record a corrupt input could make them read, and
// Load checks where each record ended. Refreshes decode the whole window (docs/performance.md).

// nullptr when the varint runs over 10 bytes (only a corrupt saved window can).
[[gnu::always_inline]] inline const uint8_t* GetVarint(const uint8_t* in, uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    const uint8_t byte = *in++;
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) {
      *value = result;
      return in;
    }
  }
  return nullptr;
}

// The `count` (1..8) bytes at `in` as a little-endian number; reads 8 bytes.
[[gnu::always_inline]] inline uint64_t GetBytes(const uint8_t* in, size_t count) {
  uint64_t value = 0;
  std::memcpy(&value, in, sizeof value);
  if constexpr (std::endian::native == std::endian::big) value = __builtin_bswap64(value);
  const size_t unused_bits = 64 - 8 * count;
  return value << unused_bits >> unused_bits;
}

// Writes `bits` in its cheapest exact form against `previous`; returns the form.
Form PutValue(uint64_t bits, uint64_t previous, uint8_t** out) {
  const uint64_t xor_bits = bits ^ previous;
  if (xor_bits == 0) return kSame;
  const size_t zero_top = static_cast<size_t>(std::countl_zero(xor_bits)) / 8;
  const size_t zero_bottom = static_cast<size_t>(std::countr_zero(xor_bits)) / 8;
  const size_t span = 8 - zero_top - zero_bottom;
  const size_t low_bytes = std::max<size_t>(6, 8 - zero_top);
  size_t best_bytes = std::min(low_bytes, 1 + span);
  Form best = low_bytes <= 1 + span ? static_cast<Form>(kXor6 + (low_bytes - 6)) : kXorStripped;
  uint64_t milli = 0;
  uint64_t binary = 0;
  const bool has_milli = MilliOf(Value(bits), &milli);
  const bool has_binary = BinaryOf(Value(bits), &binary);
  // On a tie, k / 1024 wins over k / 1000: decoding multiplies instead of dividing.
  if (has_milli && VarintBytes(milli) < best_bytes) {
    best = kMilli;
    best_bytes = VarintBytes(milli);
  }
  if (has_binary && VarintBytes(binary) <= best_bytes) best = kBinary;
  switch (best) {
    case kMilli:
      *out = PutVarint(milli, *out);
      break;
    case kBinary:
      *out = PutVarint(binary, *out);
      break;
    case kXorStripped:
      *(*out)++ = static_cast<uint8_t>(zero_bottom << 4 | span);
      *out = PutBytes(xor_bits >> (8 * zero_bottom), span, *out);
      break;
    default:
      *out = PutBytes(xor_bits, low_bytes, *out);
      break;
  }
  return best;
}

// Reads a value in `form` into *bits (holding the previous bits); nullptr when malformed.
[[gnu::always_inline]] inline const uint8_t* GetValue(Form form, const uint8_t* in,
                                                      uint64_t* bits) {
  uint64_t k = 0;
  switch (form) {
    case kMilli:
      in = GetVarint(in, &k);
      *bits = Bits(MilliValue(k));
      return in;
    case kBinary:
      in = GetVarint(in, &k);
      *bits = Bits(BinaryValue(k));
      return in;
    case kSame:
      return in;
    case kXor6:
    case kXor7:
    case kXor8: {
      const size_t count = static_cast<size_t>(form - kXor6) + 6;
      *bits ^= GetBytes(in, count);
      return in + count;
    }
    case kXorStripped: {
      const size_t zero_bottom = *in >> 4;
      const size_t span = *in & 0x0f;
      if (span == 0 || zero_bottom + span > 8) return nullptr;
      *bits ^= GetBytes(in + 1, span) << (8 * zero_bottom);
      return in + 1 + span;
    }
    case kAbsent:
      break;
  }
  return nullptr;
}

// Encodes `sample` against *cursor into `out` (kMaxRecordBytes), advances the cursor; returns the
// record's length.
size_t EncodeRecord(const Sample& sample, BaselineWindow::Cursor* cursor, uint8_t* out,
                    bool* has_payload) {
  uint8_t* const start = out++;
  // Unsigned arithmetic: any two int64 timestamps have a delta modulo 2^64.
  const uint64_t delta_ms =
      static_cast<uint64_t>(sample.timestamp_ms) - static_cast<uint64_t>(cursor->timestamp_ms);
  const uint64_t change = ZigZag(delta_ms - cursor->delta_ms);
  TimestampClass timestamp_class = kVarint;
  if (change == 0) {
    timestamp_class = kDeltaUnchanged;
  } else if (change <= 0xff) {
    timestamp_class = kOneByte;
    out = PutBytes(change, 1, out);
  } else if (change <= 0xffff) {
    timestamp_class = kTwoBytes;
    out = PutBytes(change, 2, out);
  } else {
    out = PutVarint(change, out);
  }
  cursor->timestamp_ms = sample.timestamp_ms;
  cursor->delta_ms = delta_ms;

  const Form latency = PutValue(Bits(sample.latency_ms), cursor->latency_bits, &out);
  cursor->latency_bits = Bits(sample.latency_ms);
  // Any NaN means no payload (it would not enter the payload statistics either).
  *has_payload = !std::isnan(sample.payload_kb);
  Form payload = kAbsent;
  if (*has_payload) {
    payload = PutValue(Bits(sample.payload_kb), cursor->payload_bits, &out);
    cursor->payload_bits = Bits(sample.payload_kb);
  }
  *start =
      static_cast<uint8_t>(timestamp_class | latency << kLatencyShift | payload << kPayloadShift);
  return static_cast<size_t>(out - start);
}

// Decodes the record at `in` into *cursor; returns its end, or nullptr when it is malformed.
[[gnu::always_inline]] inline const uint8_t* DecodeRecord(const uint8_t* in,
                                                          BaselineWindow::Cursor* cursor,
                                                          bool* has_payload) {
  const uint8_t control = *in++;
  uint64_t change = 0;
  switch (static_cast<TimestampClass>(control & 3)) {
    case kDeltaUnchanged:
      break;
    case kOneByte:
      change = in[0];
      in += 1;
      break;
    case kTwoBytes:
      change = static_cast<uint64_t>(in[0]) | static_cast<uint64_t>(in[1]) << 8;
      in += 2;
      break;
    case kVarint:
      in = GetVarint(in, &change);
      if (in == nullptr) return nullptr;
      break;
  }
  cursor->delta_ms += UnZigZag(change);
  cursor->timestamp_ms =
      static_cast<int64_t>(static_cast<uint64_t>(cursor->timestamp_ms) + cursor->delta_ms);
  in = GetValue(static_cast<Form>(control >> kLatencyShift & 7), in, &cursor->latency_bits);
  const auto payload = static_cast<Form>(control >> kPayloadShift);
  *has_payload = payload != kAbsent;
  if (in != nullptr && *has_payload) in = GetValue(payload, in, &cursor->payload_bits);
  return in;
}

// Decodes the records in [in, end) after the sample `cursor` describes, calling
// visit(const Cursor&, bool has_payload) for each; returns the cursor after the last. The cursor
// is a local here, so that it lives in registers.
template <typename Visit>
[[gnu::always_inline]] inline BaselineWindow::Cursor DecodeRange(const uint8_t* in,
                                                                 const uint8_t* end,
                                                                 BaselineWindow::Cursor cursor,
                                                                 Visit& visit) {
  while (in < end) {
    bool has_payload = false;
    in = DecodeRecord(in, &cursor, &has_payload);
    assert(in != nullptr);  // Append wrote these records, or Load checked them
    if (in == nullptr) break;
    visit(cursor, has_payload);
  }
  return cursor;
}

// The sample a decoding cursor stands on.
Sample SampleAt(const BaselineWindow::Cursor& cursor, bool has_payload) {
  return {cursor.timestamp_ms, Value(cursor.latency_bits),
          has_payload ? Value(cursor.payload_bits) : kNaN};
}

}  // namespace

double LinearPercentile(std::vector<double>& values, double q) {
  assert(!values.empty());
  double result = 0.0;
  LinearPercentiles(values, &q, &result, 1);
  return result;
}

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
  } else {
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
    bool evicts = false;
    ForEach([&](const Cursor& cursor, bool) { evicts |= cursor.timestamp_ms < cutoff_ms; });
    if (!evicts) return;
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

int64_t BaselineWindow::NewestTimestamp() const {
  if (size_ == 0) return 0;
  if (descents_ == 0) return newest_.timestamp_ms;
  int64_t newest = oldest_.timestamp_ms;
  ForEach([&](const Cursor& cursor, bool) { newest = std::max(newest, cursor.timestamp_ms); });
  return newest;
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

  Baseline baseline;
  baseline.valid = true;
  baseline.sample_count = size_;
  baseline.last_updated_ms = last_updated_ms;
  const Moments latency = ComputeMoments(latencies);
  baseline.mean_latency = latency.mean;
  baseline.stddev_latency = latency.stddev;
  const Moments payload = ComputeMoments(payloads);
  baseline.has_payload = !payloads.empty();
  baseline.mean_payload = payload.mean;
  baseline.stddev_payload = payload.stddev;

  static constexpr double kQuantiles[] = {50.0, 95.0, 99.0};
  double percentiles[3];
  LinearPercentiles(latencies, kQuantiles, percentiles, 3);
  baseline.p50_latency = percentiles[0];
  baseline.p95_latency = percentiles[1];
  baseline.p99_latency = percentiles[2];
  return baseline;
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
  for (uint32_t i = 1; i < size; ++i) {
    const int64_t previous_ms = cursor.timestamp_ms;
    bool has_payload = false;
    record = DecodeRecord(record, &cursor, &has_payload);
    if (record == nullptr || record > end) return false;
    if (cursor.timestamp_ms < previous_ms) ++loaded.descents_;
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
