#include "sample_block.h"

#include <driftwatch/byte_coding.hpp>

#include <bit>
#include <limits>

namespace driftwatch::sqlite_plugin {
namespace {

// The host's "no payload" (plugin.h). Only these exact bits are stored as an absent payload; any
// other NaN is kept as its 8 bytes, so every double comes back bit for bit.
constexpr uint64_t kNoPayloadBits =
    std::bit_cast<uint64_t>(std::numeric_limits<double>::quiet_NaN());
using coding::kMaxVarintBytes;
constexpr uint64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Byte by byte and in place: inserting a few bytes from an array called memmove for each value
// (5-6 % of the writer's time with endpoint series, whose tags add two values a sample).
void PutVarint(uint64_t value, std::vector<uint8_t>& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<uint8_t>(value));
}

void PutBits(uint64_t bits, std::vector<uint8_t>& out) {
  const size_t at = out.size();
  out.resize(at + 8);
  coding::PutFixed(bits, 8, out.data() + at);
}

// False when the varint runs past `end` or does not fit 64 bits.
bool GetVarint(const uint8_t* data, size_t end, size_t* pos, uint64_t* value) {
  const uint8_t* at = data + *pos;
  if (!coding::GetVarint(&at, data + end, value)) return false;
  *pos = static_cast<size_t>(at - data);
  return true;
}

uint64_t GetBits(const uint8_t* data) { return coding::GetFixed(data, 8); }

// Zigzag maps small negative deltas (a clock stepping back) to small unsigned numbers.
using coding::UnZigZag;
using coding::ZigZag;

}  // namespace

void BlockEncoder::Clear() {
  bytes_.clear();
  has_payload_.clear();
  tags_.clear();
  tagged_ = false;
  head_bytes_ = 0;
  head_tag_bytes_ = 0;
  previous_timestamp_ = 0;
  count_ = 0;
}

void BlockEncoder::Add(int64_t timestamp_ms, double latency_ms, double payload_kb, int64_t tag_key,
                       uint64_t tag_seq) {
  const auto timestamp = static_cast<uint64_t>(timestamp_ms);
  PutVarint(ZigZag(timestamp - previous_timestamp_), bytes_);
  previous_timestamp_ = timestamp;
  PutBits(std::bit_cast<uint64_t>(latency_ms), bytes_);
  if (count_ % 8 == 0) has_payload_.push_back(0);
  const auto payload = std::bit_cast<uint64_t>(payload_kb);
  if (payload != kNoPayloadBits) {
    has_payload_.back() |= static_cast<uint8_t>(1u << (count_ % 8));
    PutBits(payload, bytes_);
  }
  // Every sample gets its entry, untagged ones too, so that a later first tag finds the section
  // ready; Finish() writes it only if that comes.
  if (tag_key != 0) {
    tagged_ = true;
    PutVarint(static_cast<uint64_t>(tag_key), tags_);
    PutVarint(tag_seq, tags_);
  } else {
    tags_.push_back(0);
  }
  ++count_;
}

bool BlockEncoder::full(bool next_tagged) const {
  if (count_ >= kMaxBlockSamples) return true;
  // The largest sample: a 10-byte timestamp, two doubles, and a new bitmap byte; a tagged one
  // also two 10-byte varints, and when it is the block's first tag, the section appears whole.
  constexpr size_t kMaxSampleBytes = kMaxVarintBytes + 16 + 1;
  constexpr size_t kMaxTagBytes = 2 * kMaxVarintBytes;
  const size_t tag_section = head_tag_bytes_ + tags_.size();
  size_t most = head_bytes_ + bytes_.size() + has_payload_.size() + kMaxSampleBytes;
  if (next_tagged) {
    most += tag_section + kMaxTagBytes;
  } else if (tagged_) {
    most += tag_section + 1;
  }
  return most > kMaxBlockBytes;
}

const std::vector<uint8_t>& BlockEncoder::Finish() {
  if (tagged_) bytes_.insert(bytes_.end(), tags_.begin(), tags_.end());
  bytes_.insert(bytes_.end(), has_payload_.begin(), has_payload_.end());
  return bytes_;
}

std::vector<uint8_t> BlockEncoder::FinishedCopy() const {
  std::vector<uint8_t> bytes;
  bytes.reserve(bytes_.size() + (tagged_ ? tags_.size() : 0) + has_payload_.size());
  bytes.insert(bytes.end(), bytes_.begin(), bytes_.end());
  if (tagged_) bytes.insert(bytes.end(), tags_.begin(), tags_.end());
  bytes.insert(bytes.end(), has_payload_.begin(), has_payload_.end());
  return bytes;
}

void BlockEncoder::StartAfter(const BlockEncoder& head) {
  bytes_.clear();
  has_payload_.clear();
  tags_.clear();
  tagged_ = head.tagged_;
  if (head.count_ % 8 != 0) has_payload_.push_back(head.has_payload_.back());
  head_bytes_ = head.bytes_.size() + head.has_payload_.size() - has_payload_.size();
  head_tag_bytes_ = head.tags_.size();
  previous_timestamp_ = head.previous_timestamp_;
  count_ = head.count_;
}

void BlockEncoder::AppendTo(BlockEncoder& head) const {
  head.bytes_.insert(head.bytes_.end(), bytes_.begin(), bytes_.end());
  if (head.count_ % 8 != 0) head.has_payload_.pop_back();  // the tail holds it, filled further
  head.has_payload_.insert(head.has_payload_.end(), has_payload_.begin(), has_payload_.end());
  head.tags_.insert(head.tags_.end(), tags_.begin(), tags_.end());
  head.tagged_ = tagged_;
  head.previous_timestamp_ = previous_timestamp_;
  head.count_ = count_;
}

const char* DecodeBlock(const uint8_t* data, size_t size, int64_t last_seq, int64_t count,
                        std::vector<BlockSample>* out) {
  out->clear();
  if (count < 1 || count > kMaxBlockSamples) return "its sample count is out of range";
  if (last_seq < count) return "its seqs would start below 1";
  const auto samples = static_cast<size_t>(count);
  const size_t bitmap_bytes = (samples + 7) / 8;
  if (data == nullptr || size < bitmap_bytes) return "it is truncated";
  const size_t end = size - bitmap_bytes;  // the samples; the bitmap follows
  const uint8_t* has_payload = data + end;
  if (samples % 8 != 0 && (has_payload[bitmap_bytes - 1] >> (samples % 8)) != 0) {
    return "its payload bitmap has bits past the last sample";
  }
  out->reserve(samples);
  uint64_t seq = static_cast<uint64_t>(last_seq - count + 1);
  uint64_t timestamp = 0;
  size_t pos = 0;
  for (size_t i = 0; i < samples; ++i, ++seq) {
    uint64_t delta = 0;
    if (!GetVarint(data, end, &pos, &delta)) return "it is truncated or has a malformed timestamp";
    timestamp += UnZigZag(delta);
    const bool payload = ((has_payload[i / 8] >> (i % 8)) & 1) != 0;
    if (end - pos < (payload ? 16u : 8u)) return "it is truncated";
    BlockSample sample;
    sample.seq = seq;
    sample.timestamp_ms = static_cast<int64_t>(timestamp);
    sample.latency_ms = std::bit_cast<double>(GetBits(data + pos));
    pos += 8;
    sample.payload_kb = std::bit_cast<double>(kNoPayloadBits);
    if (payload) {
      sample.payload_kb = std::bit_cast<double>(GetBits(data + pos));
      pos += 8;
    }
    out->push_back(sample);
  }
  if (pos == end) return nullptr;  // no sample is tagged
  // The rest is the tag section: one entry per sample, and at least one tag.
  bool tagged = false;
  for (BlockSample& sample : *out) {
    uint64_t key = 0;
    if (!GetVarint(data, end, &pos, &key) || key > kInt64Max) {
      return "its tag section is malformed";
    }
    if (key == 0) continue;
    uint64_t seq_in_tag = 0;
    if (!GetVarint(data, end, &pos, &seq_in_tag) || seq_in_tag == 0 || seq_in_tag > kInt64Max) {
      return "its tag section is malformed";
    }
    sample.tag_key = static_cast<int64_t>(key);
    sample.tag_seq = seq_in_tag;
    tagged = true;
  }
  if (pos != end || !tagged) return "its tag section is malformed";
  return nullptr;
}

void LogRowEncoder::Clear() {
  bytes_.clear();
  block_.Clear();
}

void LogRowEncoder::Add(int64_t service_key, int64_t seq, int64_t timestamp_ms, double latency_ms,
                        double payload_kb, int64_t tag_key, uint64_t tag_seq) {
  if (block_.count() > 0 &&
      (service_key != service_key_ || seq != last_seq_ + 1 || block_.full(tag_key != 0))) {
    EndEntry();
  }
  service_key_ = service_key;
  last_seq_ = seq;
  block_.Add(timestamp_ms, latency_ms, payload_kb, tag_key, tag_seq);
}

void LogRowEncoder::EndEntry() {
  const std::vector<uint8_t>& block = block_.Finish();
  PutVarint(static_cast<uint64_t>(service_key_), bytes_);
  PutVarint(static_cast<uint64_t>(last_seq_), bytes_);
  PutVarint(block_.count(), bytes_);
  PutVarint(block.size(), bytes_);
  bytes_.insert(bytes_.end(), block.begin(), block.end());
  block_.Clear();
}

const std::vector<uint8_t>& LogRowEncoder::Finish() {
  if (block_.count() > 0) EndEntry();
  return bytes_;
}

const char* DecodeLogRow(const uint8_t* data, size_t size, std::vector<LogEntry>* out) {
  out->clear();
  if (data == nullptr || size == 0) return "it is empty";
  size_t pos = 0;
  while (pos < size) {
    uint64_t key = 0;
    uint64_t last_seq = 0;
    uint64_t count = 0;
    uint64_t bytes = 0;
    if (!GetVarint(data, size, &pos, &key) || !GetVarint(data, size, &pos, &last_seq) ||
        !GetVarint(data, size, &pos, &count) || !GetVarint(data, size, &pos, &bytes)) {
      return "an entry's header is truncated or malformed";
    }
    if (key > kInt64Max || last_seq > kInt64Max || count > kMaxBlockSamples || bytes > size - pos) {
      return "an entry's header is out of range";
    }
    LogEntry& entry = out->emplace_back();
    entry.service_key = static_cast<int64_t>(key);
    const char* problem = DecodeBlock(data + pos, bytes, static_cast<int64_t>(last_seq),
                                      static_cast<int64_t>(count), &entry.samples);
    if (problem != nullptr) return problem;
    pos += bytes;
  }
  return nullptr;
}

}  // namespace driftwatch::sqlite_plugin
