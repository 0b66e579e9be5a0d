// The record codec of the baseline window (core/baseline_window.h): a sample encoded against the
// one before it, in as few bytes as its values allow, losslessly. A record is a control byte
// (bits 0-1 the timestamp's size class, 2-4 the latency's form, 5-7 the payload's) and up to
// three fields:
//   - the timestamp as the change of the delta from the previous sample (0, 1, 2 bytes or varint),
//   - latency and payload each in its cheapest exact form: a varint k with value == k / 1000
//     (clients sending three decimals) or k / 1024 (kilobytes of whole bytes), the XOR with the
//     previous value's bits with its zero bytes stripped (full-precision doubles), or "absent"
//     (payload only: any NaN payload, which comes back as quiet_NaN()). Every form is checked to
//     decode to the very same bits before it is chosen.
// The decoders are inline: a refresh decodes the whole window.
#pragma once

#include <driftwatch/byte_coding.hpp>

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/sample.h"

namespace driftwatch {

// What decoding the next record needs: the previous sample's timestamp and timestamp delta,
// its latency's bits, and the bits of the latest payload present.
struct WindowCursor {
  int64_t timestamp_ms = 0;
  uint64_t delta_ms = 0;
  uint64_t latency_bits = 0;
  uint64_t payload_bits = 0;
};

namespace window_record {

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
inline constexpr int kLatencyShift = 2;
inline constexpr int kPayloadShift = 5;

// The longest record: control byte and three 10-byte varints.
inline constexpr size_t kMaxRecordBytes = 1 + 3 * 10;
// Decoding an XOR loads 8 bytes at once, up to 7 past the record's end: the ring has room for them.
inline constexpr size_t kPadBytes = 8;
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kTwoTo64 = 18446744073709551616.0;

inline uint64_t Bits(double value) { return std::bit_cast<uint64_t>(value); }
inline double Value(uint64_t bits) { return std::bit_cast<double>(bits); }
inline double MilliValue(uint64_t k) { return static_cast<double>(k) / 1000.0; }
inline double BinaryValue(uint64_t k) { return static_cast<double>(k) * 0x1p-10; }
using coding::UnZigZag;

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

// Decodes the record at `in` into *cursor; returns its end, or nullptr when it is malformed.
[[gnu::always_inline]] inline const uint8_t* DecodeRecord(const uint8_t* in, WindowCursor* cursor,
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
[[gnu::always_inline]] inline WindowCursor DecodeRange(const uint8_t* in, const uint8_t* end,
                                                       WindowCursor cursor, Visit& visit) {
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
inline Sample SampleAt(const WindowCursor& cursor, bool has_payload) {
  return {cursor.timestamp_ms, Value(cursor.latency_bits),
          has_payload ? Value(cursor.payload_bits) : kNaN};
}

// Encodes `sample` against *cursor into `out` (kMaxRecordBytes), advances the cursor; returns the
// record's length.
size_t EncodeRecord(const Sample& sample, WindowCursor* cursor, uint8_t* out, bool* has_payload);

}  // namespace window_record
}  // namespace driftwatch
