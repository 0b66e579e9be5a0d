// A block of one service's samples with contiguous seqs, as stored in telemetry_blocks.data (the
// format is described in schema.sql). Self-contained: no SQLite, no host types, so the migration
// and the store share it and it can be tested on its own.
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
};

// Builds one block. Reuse one encoder: Clear() keeps the buffers' capacity.
class BlockEncoder {
 public:
  // Starts a new, empty block.
  void Clear();
  // Appends the next sample (the caller keeps the seqs contiguous and the count within
  // kMaxBlockSamples).
  void Add(int64_t timestamp_ms, double latency_ms, double payload_kb);
  // Ends the block and returns its bytes, valid until the next Clear(); Add() must not follow.
  const std::vector<uint8_t>& Finish();
  uint32_t count() const { return count_; }
  // True when another sample might take the block past kMaxBlockSamples or kMaxBlockBytes.
  bool full() const;

 private:
  std::vector<uint8_t> bytes_;
  std::vector<uint8_t> has_payload_;  // the trailing bitmap, built beside the samples
  uint64_t previous_timestamp_ = 0;
  uint32_t count_ = 0;
};

// Decodes the block of `count` samples whose last seq is `last_seq` into *out (cleared first).
// Returns nullptr, or what is wrong with the block (the data came from a file: nothing is
// trusted), in which case *out holds no meaningful samples.
const char* DecodeBlock(const uint8_t* data, size_t size, int64_t last_seq, int64_t count,
                        std::vector<BlockSample>* out);

}  // namespace driftwatch::sqlite_plugin
