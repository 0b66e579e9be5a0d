#include "core/window_record.h"

#include <algorithm>
#include <cmath>

namespace driftwatch::window_record {
namespace {

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
using coding::ZigZag;

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

}  // namespace

size_t EncodeRecord(const Sample& sample, WindowCursor* cursor, uint8_t* out, bool* has_payload) {
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

}  // namespace driftwatch::window_record
