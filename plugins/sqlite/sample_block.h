// A block of one service's samples with contiguous seqs, as stored in telemetry_blocks.data, and a
// telemetry_log row of blocks of several services (the formats are described in schema.sql).
// Self-contained: no SQLite, no host types, so the migration and the store share it and it can be
// tested on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace driftwatch::sqlite_plugin {

// A longer run of samples is split into several blocks, so that a scan that starts inside a block
// decodes at most this many samples it skips, and a retention step rewrites at most one block.
inline constexpr uint32_t kMaxBlockSamples = 1024;
// A block ends before its data could pass this many bytes. SQLite keeps a record of up to about
// 1000 bytes inside a 4 KiB page of a WITHOUT ROWID table; a larger one spills into overflow pages
// of its own, which a block of a few hundred samples leaves mostly empty (up to 2.3x the bytes per
// sample). Blocks this small fill their pages: about 50 samples, 19 bytes each with a payload.
inline constexpr size_t kMaxBlockBytes = 960;

struct BlockSample {
  uint64_t seq = 0;
  int64_t timestamp_ms = 0;
  double latency_ms = 0;
  double payload_kb = 0;  // NaN: no payload
  // The sample's tag (schema.sql): it is also sample tag_seq of the series whose service_key is
  // tag_key (an endpoint series). 0 and 0: untagged.
  int64_t tag_key = 0;
  uint64_t tag_seq = 0;
};

// Builds one block. Reuse one encoder: Clear() keeps the buffers' capacity.
class BlockEncoder {
 public:
  // Starts a new, empty block.
  void Clear();
  // Appends the next sample (the caller keeps the seqs contiguous and the count within
  // kMaxBlockSamples). A tagged sample has tag_key > 0 and tag_seq in 1..INT64_MAX; tag_key 0
  // means untagged (tag_seq is then ignored).
  void Add(int64_t timestamp_ms, double latency_ms, double payload_kb, int64_t tag_key = 0,
           uint64_t tag_seq = 0);
  // Ends the block and returns its bytes, valid until the next Clear(); Add() must not follow.
  const std::vector<uint8_t>& Finish();
  uint32_t count() const { return count_; }
  // True when another sample, tagged or not as `next_tagged` says, might take the block past
  // kMaxBlockSamples or kMaxBlockBytes. The first tag of a block adds a byte for every sample
  // before it: a caller about to add a tagged sample must say so.
  bool full(bool next_tagged = false) const;
  // The bytes Finish() would return, leaving this block open for more samples.
  std::vector<uint8_t> FinishedCopy() const;

  // Makes this the tail of `head`: it encodes the samples that follow head's, apart from head, so
  // that a transaction stages only what it adds to a block (open_blocks.h). count() and full()
  // are then those of head and tail together. A tail ends with AppendTo, not Finish().
  void StartAfter(const BlockEncoder& head);
  // Appends this tail's samples to `head`, the block StartAfter was given, as it was then.
  void AppendTo(BlockEncoder& head) const;

 private:
  std::vector<uint8_t> bytes_;
  std::vector<uint8_t> has_payload_;  // the trailing bitmap, built beside the samples
  // The tag section, built beside the samples (a 0 for each untagged sample), and whether the
  // block (with its head, for a tail) has a tag: Finish() writes the section only then.
  std::vector<uint8_t> tags_;
  bool tagged_ = false;
  // A tail's: its head's bytes, but for the bitmap's last byte when partial (the tail fills it),
  // and the bytes of its head's tag entries.
  size_t head_bytes_ = 0;
  size_t head_tag_bytes_ = 0;
  uint64_t previous_timestamp_ = 0;
  uint32_t count_ = 0;
};

// Decodes the block of `count` samples whose last seq is `last_seq`, tags included, into *out
// (cleared first). Returns nullptr, or what is wrong with the block (the data came from a file:
// nothing is trusted), in which case *out holds no meaningful samples.
const char* DecodeBlock(const uint8_t* data, size_t size, int64_t last_seq, int64_t count,
                        std::vector<BlockSample>* out);

// One entry of a telemetry_log row: a block of one service's samples.
struct LogEntry {
  int64_t service_key = 0;
  std::vector<BlockSample> samples;
};

// Builds one telemetry_log row from samples given in order, grouped by service. Reuse one encoder:
// Clear() keeps the buffers' capacity.
class LogRowEncoder {
 public:
  void Clear();
  void Add(int64_t service_key, int64_t seq, int64_t timestamp_ms, double latency_ms,
           double payload_kb, int64_t tag_key = 0, uint64_t tag_seq = 0);
  bool empty() const { return bytes_.empty() && block_.count() == 0; }
  // Ends the row and returns its bytes, valid until the next Clear(); Add() must not follow.
  const std::vector<uint8_t>& Finish();

 private:
  void EndEntry();

  std::vector<uint8_t> bytes_;
  BlockEncoder block_;
  int64_t service_key_ = 0;
  int64_t last_seq_ = 0;
};

// Decodes a telemetry_log row into *out (cleared first). Returns nullptr, or what is wrong with it.
const char* DecodeLogRow(const uint8_t* data, size_t size, std::vector<LogEntry>* out);

}  // namespace driftwatch::sqlite_plugin
