// Retention's purge steps, run by the store inside its write transaction (SqliteStore::Purge):
// events in the order they were stored, then each service's samples in seq order, only those its
// snapshot already reflects (and, for a tagged sample, its tag's series' snapshot too) and never
// the last sample of its newest block. An open block is
// written out through OpenBlocks' staging, so a failed step changes nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "open_blocks.h"
#include "sample_block.h"
#include "service_keys.h"
#include "store_statements.h"

namespace driftwatch::sqlite_plugin {

class Retention {
 public:
  // Runs the write session's statements; reads the snapshots of tags' series in `services` (the
  // store's committed records). All three must outlive this.
  Retention(WriteStatements& statements, OpenBlocks& open_blocks, const ServicesByKey& services);
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  // Deletes the oldest events, at most `budget`, stopping at the first whose timestamp is not
  // before `before_ms`. Returns how many it deleted.
  uint64_t PurgeEvents(int64_t before_ms, uint64_t budget);
  // Visits services with a snapshot, starting after *cursor and wrapping round once, until the
  // budget is spent; *cursor becomes where the next step goes on. Returns the samples deleted.
  uint64_t PurgeSamples(int64_t before_ms, uint64_t budget, long long* cursor);

 private:
  // Deletes the service's oldest samples, in seq order, while they are expired and within the
  // bound: whole blocks, then at most one block rewritten with the samples it keeps.
  uint64_t PurgeService(long long key, long long snapshot_seq, int64_t before_ms, uint64_t budget);
  // Whether the sample's tag, if it has one, is one its series' snapshot reflects (a tag whose
  // series is gone holds nothing back).
  bool TagReflected(long long key, const BlockSample& sample) const;

  WriteStatements& statements_;
  OpenBlocks& open_blocks_;
  const ServicesByKey& services_;
  // Scratch space, reused so that a step allocates little.
  BlockEncoder encoder_;
  std::vector<BlockSample> decoded_;
};

}  // namespace driftwatch::sqlite_plugin
