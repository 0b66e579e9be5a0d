// DriftWatch SDK: the binary coding every DriftWatch codec uses, and plugins may use for their own
// saved state. Header-only, C++17, no dependencies. Everything is little-endian whatever the
// machine, so bytes saved on one machine read back on any other.
//   - fixed-width unsigned numbers of 1 to 8 bytes, little-endian;
//   - varints: 7 bits a byte, least significant first, the high bit set on every byte but the last
//     (at most 10 bytes for 64 bits);
//   - zigzag: a signed difference as an unsigned number, small either side of zero
//     (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...), for varints of deltas that may go down;
//   - doubles as their 8 bytes of IEEE 754 bits, so every value, NaNs included, comes back exactly.
// Readers never read past the end they are given: a short or corrupt input is a failure, never a
// crash.
#ifndef DRIFTWATCH_BYTE_CODING_HPP
#define DRIFTWATCH_BYTE_CODING_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace driftwatch {
namespace coding {

constexpr size_t kMaxVarintBytes = 10;

inline uint64_t BitsOf(double value) {
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

inline double DoubleOf(uint64_t bits) {
  double value = 0;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// `value` as a two's-complement signed number, zigzagged; the arithmetic wraps, so the difference
// of any two int64 values round-trips.
inline uint64_t ZigZag(uint64_t value) { return (value << 1) ^ (0 - (value >> 63)); }
inline uint64_t UnZigZag(uint64_t value) { return (value >> 1) ^ (0 - (value & 1)); }

// The bytes PutVarint writes for `value`.
inline size_t VarintLength(uint64_t value) {
  size_t length = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++length;
  }
  return length;
}

// Writes `value` at `out` (room for kMaxVarintBytes); returns the end of what it wrote.
inline uint8_t* PutVarint(uint64_t value, uint8_t* out) {
  while (value >= 0x80) {
    *out++ = static_cast<uint8_t>(value | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<uint8_t>(value);
  return out;
}

// Reads a varint from [*in, end) into *value and moves *in past it. False, with *in unchanged,
// when it runs past `end` or does not fit 64 bits.
inline bool GetVarint(const uint8_t** in, const uint8_t* end, uint64_t* value) {
  uint64_t result = 0;
  const uint8_t* at = *in;
  for (size_t i = 0; i < kMaxVarintBytes && at < end; ++i) {
    const uint8_t byte = *at++;
    if (i == kMaxVarintBytes - 1 && byte > 1) return false;  // bits beyond the 64th
    result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      *value = result;
      *in = at;
      return true;
    }
  }
  return false;
}

// The low `count` (1 to 8) bytes of `value`, little-endian, at `out`; returns their end.
inline uint8_t* PutFixed(uint64_t value, size_t count, uint8_t* out) {
  for (size_t i = 0; i < count; ++i) *out++ = static_cast<uint8_t>(value >> (8 * i));
  return out;
}

// The `count` (1 to 8) bytes at `in` as a little-endian number.
inline uint64_t GetFixed(const uint8_t* in, size_t count) {
  uint64_t value = 0;
  for (size_t i = 0; i < count; ++i) value |= static_cast<uint64_t>(in[i]) << (8 * i);
  return value;
}

// Appends values to a string.
class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void U8(uint8_t value) { out_->push_back(static_cast<char>(value)); }
  void U32(uint32_t value) { Fixed(value, 4); }
  void U64(uint64_t value) { Fixed(value, 8); }
  void I64(int64_t value) { Fixed(static_cast<uint64_t>(value), 8); }
  void F64(double value) { Fixed(BitsOf(value), 8); }
  void Varint(uint64_t value) {
    uint8_t bytes[kMaxVarintBytes];
    out_->append(reinterpret_cast<const char*>(bytes),
                 static_cast<size_t>(PutVarint(value, bytes) - bytes));
  }
  // A u32 length, then the bytes.
  void Text(std::string_view text) {
    U32(static_cast<uint32_t>(text.size()));
    out_->append(text.data(), text.size());
  }
  void Raw(std::string_view bytes) { out_->append(bytes.data(), bytes.size()); }

 private:
  void Fixed(uint64_t value, size_t count) {
    uint8_t bytes[8];
    PutFixed(value, count, bytes);
    out_->append(reinterpret_cast<const char*>(bytes), count);
  }
  std::string* out_;
};

// Reads what ByteWriter wrote. Past the end, or on a malformed varint, it returns zeros and
// remembers the failure: check failed() once, after the last read.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  bool failed() const { return failed_; }
  bool AtEnd() const { return offset_ == bytes_.size(); }
  size_t remaining() const { return bytes_.size() - offset_; }

  uint8_t U8() { return static_cast<uint8_t>(Fixed(1)); }
  uint32_t U32() { return static_cast<uint32_t>(Fixed(4)); }
  uint64_t U64() { return Fixed(8); }
  int64_t I64() { return static_cast<int64_t>(Fixed(8)); }
  double F64() { return DoubleOf(Fixed(8)); }
  uint64_t Varint() {
    const auto* begin = reinterpret_cast<const uint8_t*>(bytes_.data());
    const uint8_t* at = begin + offset_;
    uint64_t value = 0;
    if (failed_ || !GetVarint(&at, begin + bytes_.size(), &value)) {
      failed_ = true;
      return 0;
    }
    offset_ = static_cast<size_t>(at - begin);
    return value;
  }
  // A u32 length, then that many bytes (a view into the input).
  std::string_view Text() {
    const uint32_t size = U32();
    if (failed_ || remaining() < size) {
      failed_ = true;
      return {};
    }
    const std::string_view text = bytes_.substr(offset_, size);
    offset_ += size;
    return text;
  }
  // A u32 count of items of at least `item_bytes` each, checked against the bytes left, so that a
  // corrupt count cannot make the caller allocate gigabytes.
  uint32_t Count(size_t item_bytes) {
    const uint32_t count = U32();
    if (failed_ || (item_bytes > 0 && remaining() / item_bytes < count)) {
      failed_ = true;
      return 0;
    }
    return count;
  }

 private:
  uint64_t Fixed(size_t count) {
    if (failed_ || remaining() < count) {
      failed_ = true;
      return 0;
    }
    const uint64_t value =
        GetFixed(reinterpret_cast<const uint8_t*>(bytes_.data()) + offset_, count);
    offset_ += count;
    return value;
  }
  std::string_view bytes_;
  size_t offset_ = 0;
  bool failed_ = false;
};

}  // namespace coding
}  // namespace driftwatch

#endif  // DRIFTWATCH_BYTE_CODING_HPP
