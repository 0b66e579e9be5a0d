// The open blocks: each service's newest block, filled in memory across commits while
// telemetry_log holds its samples, and written to telemetry_blocks once it is full (schema.sql).
// And their staging: a transaction's changes to open blocks are kept apart from them, applied only
// once it has committed, so a failed write or purge leaves the open blocks as they were.
//
// Not locked itself: the store stages changes under its write lock, and applies them (Apply) and
// lets readers look at the committed blocks (Committed) under the readers' lock as well.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
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

// A service's open block as the transaction being staged has it. Staging copies no committed
// block: while that block stays open, `block.encoder` holds only the samples the transaction adds
// to it (a tail, BlockEncoder::StartAfter), so a commit costs what it adds, not the size of the
// blocks it touches. The committed block is copied only to be written out (once per block).
struct StagedBlock {
  long long key = 0;
  // The block is the committed one (continues) with `block.encoder` as its tail; `block`'s other
  // fields are the whole block's. Otherwise `block` is all of it: the committed block (if any)
  // was written out, or there was none.
  bool continues = false;
  OpenBlock* committed = nullptr;  // the block it continues
  OpenBlock block;
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

  // Starts staging a transaction's changes, dropping any left by one that failed.
  void StartStaging();
  // The service's open block as this transaction has it so far (its bytes aside: they may be a
  // tail), or nullptr when it has none.
  const OpenBlock* Current(long long key) const;
  // The service's staged block, made on first use. Stays valid while the staging lasts.
  StagedBlock& Stage(long long key);
  // Appends a sample to a service's staged block, first writing the block out when it is full or
  // the seq does not follow its last. A tagged sample (tag_key != 0) also belongs to that series,
  // as its tag_seq (schema.sql).
  void Append(StagedBlock& staged, long long log_id, long long seq, int64_t timestamp_ms,
              double latency_ms, double payload_kb, long long tag_key = 0, long long tag_seq = 0);
  // Inserts the staged block (the committed part too) into telemetry_blocks and empties it.
  void WriteOut(StagedBlock& staged);
  // Writes out the open blocks that waited kMaxOpenBlockAge rows, `log_id` being the newest.
  void WriteOutAged(long long log_id);
  // Writes out every open block (for a clean close).
  void WriteOutAll();
  // Writes out every staged block that has samples (for the recovery at open).
  void WriteOutStaged();
  // Deletes the telemetry_log rows that no open block needs once the staged changes apply.
  // `none_needed`: the floor when no open block is left.
  void TrimLog(long long none_needed);
  // Makes what was staged the committed state: right after the commit, in the same step for
  // readers (see SqliteStore::CommitAndApply).
  void Apply();

 private:
  struct Entry {
    OpenBlock block;
    // The index in staged_ of its staged block, if staged_ has one for its key: written by the
    // writer while readers may read `block` (another memory location; they never read this).
    size_t staged = 0;
  };

  // The staged_ index of the entry's staged block, or staged_count_ when it has none.
  size_t StagedIndex(long long key, const Entry& entry) const;
  StagedBlock& NewStaged(long long key);

  Statement& insert_block_;
  Statement& delete_log_;
  // Each service's open block (only services that have one).
  std::unordered_map<long long, Entry> open_;
  std::set<std::pair<long long, long long>> open_by_age_;  // (first_log_id, service key)
  // This transaction's staged blocks: the first staged_count_ (the others are kept for their
  // buffers). A deque, so that a StagedBlock& stays valid as more are staged.
  std::deque<StagedBlock> staged_;
  size_t staged_count_ = 0;
  std::unordered_map<long long, size_t> staged_new_;  // staged_ index of keys not in open_
  BlockEncoder write_out_;   // a continued block, whole, while it is written out
  long long log_floor_ = 1;  // no telemetry_log row below this one
  long long staged_log_floor_ = 1;
};

}  // namespace driftwatch::sqlite_plugin
