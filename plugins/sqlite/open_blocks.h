// The open blocks: each service's newest block, filled in memory across commits while
// telemetry_log holds its samples, and written to telemetry_blocks once it is full (schema.sql).
// And their staging: changes to open blocks are made to copies, applied only once their
// transaction has committed, so a failed write or purge leaves the open blocks as they were.
//
// Not locked itself: the store stages changes under its write lock, and applies them (Apply) and
// lets readers look at the committed blocks (Committed) under the readers' lock as well.
#pragma once

#include <cstdint>
#include <set>
#include <unordered_map>
#include <utility>

#include "sample_block.h"
#include "sqlite_statement.h"

namespace driftwatch::sqlite_plugin {

// An open block is written out, full or not, once this many telemetry_log rows are newer than its
// first sample's (30 s at the default commit interval), so a quiet service does not keep old rows
// of the log, which are deleted only once no open block needs them.
inline constexpr long long kMaxOpenBlockAge = 600;

// A service's newest samples: committed (in telemetry_log), not yet in telemetry_blocks.
struct OpenBlock {
  BlockEncoder encoder;
  long long last_seq = 0;
  long long first_log_id = 0;       // the oldest telemetry_log row with one of its samples
  int64_t oldest_timestamp_ms = 0;  // for retention
};

class OpenBlocks {
 public:
  // The write session's statements that write a block out ("INSERT INTO telemetry_blocks ...")
  // and trim the log ("DELETE FROM telemetry_log WHERE log_id < ?1"); they run inside the
  // session's transaction. Both must outlive this.
  OpenBlocks(Statement& insert_block, Statement& delete_log);
  OpenBlocks(const OpenBlocks&) = delete;
  OpenBlocks& operator=(const OpenBlocks&) = delete;

  // The committed state, as readers see it.
  // The service's open block, or nullptr when it has none.
  const OpenBlock* Committed(long long key) const;
  bool empty() const { return open_.empty(); }
  long long log_floor() const { return log_floor_; }  // no telemetry_log row below this one

  // Changes to open blocks are made to copies (staged_), applied only once their transaction has
  // committed, so a failed write or purge leaves the open blocks as they were.
  void StartStaging();
  // The service's open block as this transaction has it so far, or nullptr when it has none.
  const OpenBlock* Current(long long key) const;
  // The service's staged open block (empty when it has none), copied on first use.
  OpenBlock& Stage(long long key);
  // Appends a sample to a service's open block, first writing the block out when it is full or
  // the seq does not follow its last.
  void Append(long long key, OpenBlock& open, long long log_id, long long seq, int64_t timestamp_ms,
              double latency_ms, double payload_kb);
  // Inserts the open block into telemetry_blocks and empties it.
  void WriteOut(long long key, OpenBlock& open);
  // Writes out the open blocks that waited kMaxOpenBlockAge rows, `log_id` being the newest.
  void WriteOutAged(long long log_id);
  // Writes out every open block (for a clean close).
  void WriteOutAll();
  // Writes out every staged open block that has samples (for the recovery at open).
  void WriteOutStaged();
  // Deletes the telemetry_log rows that no open block needs once the staged changes apply.
  // `none_needed`: the floor when no open block is left.
  void TrimLog(long long none_needed);
  // Makes what was staged the committed state: right after the commit, in the same step for
  // readers (see SqliteStore::CommitAndApply).
  void Apply();

 private:
  Statement& insert_block_;
  Statement& delete_log_;
  // Each service's open block (only services that have one).
  std::unordered_map<long long, OpenBlock> open_;
  std::set<std::pair<long long, long long>> open_by_age_;  // (first_log_id, service key)
  std::unordered_map<long long, OpenBlock> staged_;        // this transaction's open blocks
  long long log_floor_ = 1;                                // no telemetry_log row below this one
  long long staged_log_floor_ = 1;
};

}  // namespace driftwatch::sqlite_plugin
