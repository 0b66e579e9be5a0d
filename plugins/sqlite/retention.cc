#include "retention.h"

#include <algorithm>
#include <climits>
#include <utility>
#include <vector>

namespace driftwatch::sqlite_plugin {
namespace {

constexpr long long kPurgeServicesPerPage = 256;

}  // namespace

Retention::Retention(WriteStatements& statements, OpenBlocks& open_blocks,
                     const ServicesByKey& services)
    : statements_(statements), open_blocks_(open_blocks), services_(services) {}

bool Retention::TagReflected(long long key, const BlockSample& sample) const {
  if (sample.tag_key == 0) return true;
  const auto series = services_.find(sample.tag_key);
  return series == services_.end() || series->second->tags.tagged_in != key ||
         sample.tag_seq <= static_cast<uint64_t>(series->second->tags.snapshot_seq);
}

uint64_t Retention::PurgeEvents(int64_t before_ms, uint64_t budget) {
  if (budget == 0) return 0;
  WriteStatements& w = statements_;
  w.purge_limit = static_cast<long long>(budget);
  uint64_t expired = 0;
  bool young_seen = false;
  ForEachRow(w.oldest_events, [&] {
    if (young_seen || w.row_timestamp >= before_ms) {
      young_seen = true;
      return;
    }
    w.purge_last = w.row_id;
    ++expired;
  });
  if (expired > 0) w.delete_events.execute(true);
  return expired;
}

uint64_t Retention::PurgeSamples(int64_t before_ms, uint64_t budget, long long* cursor) {
  WriteStatements& w = statements_;
  uint64_t deleted = 0;
  const long long start = *cursor;
  const std::pair<long long, long long> ranges[] = {{start, LLONG_MAX}, {0, start}};
  for (const auto& [from, upto] : ranges) {
    long long after = from;
    for (;;) {
      std::vector<std::pair<long long, long long>> page;  // (service key, snapshot last_seq)
      w.purge_after = after;
      w.purge_upto = upto;
      w.purge_limit = kPurgeServicesPerPage;
      ForEachRow(w.snapshot_keys, [&] { page.emplace_back(w.row_id, w.row_seq); });
      for (const auto& [key, last_seq] : page) {
        if (deleted == budget) return deleted;
        const uint64_t left = budget - deleted;
        const uint64_t removed = PurgeService(key, last_seq, before_ms, left);
        deleted += removed;
        *cursor = removed == left ? key - 1 : key;  // a full budget may have left rows behind
      }
      if (static_cast<long long>(page.size()) < kPurgeServicesPerPage) break;
      after = page.back().first;
    }
  }
  return deleted;
}

uint64_t Retention::PurgeService(long long key, long long snapshot_seq, int64_t before_ms,
                                 uint64_t budget) {
  // An open block holding an expired sample the snapshot covers is written out first, so that
  // its samples can go like any others.
  if (const OpenBlock* open = open_blocks_.Current(key);
      open != nullptr && open->oldest_timestamp_ms < before_ms &&
      open->last_seq - open->encoder.count() < snapshot_seq) {
    open_blocks_.WriteOut(open_blocks_.Stage(key));
  }
  // Never the last sample of the newest block: telemetry_log may still hold the samples of a
  // block written out, and recovery tells them by their seq not being above that one.
  WriteStatements& w = statements_;
  long long newest_block = 0;
  w.newest_block.Bind(1, key).ForEach([&] {
    newest_block = w.newest_block.IsNull(0) ? 0 : w.newest_block.Int(0);
    return false;
  });
  const long long bound = std::min(snapshot_seq, newest_block - 1);
  if (bound < 1) return 0;
  uint64_t deleted = 0;
  long long whole_upto = 0;    // the last block deleted whole (0: none)
  long long partial_last = 0;  // the block that loses only its oldest samples (0: none)
  size_t partial_kept = 0;     // the first of its samples it keeps
  w.oldest_blocks.Bind(1, key);
  w.oldest_blocks.ForEach([&] {
    DecodeRow(w.oldest_blocks, nullptr, key, &decoded_);
    size_t expired = 0;
    for (const BlockSample& sample : decoded_) {
      if (deleted + expired == budget || sample.seq > static_cast<uint64_t>(bound) ||
          sample.timestamp_ms >= before_ms || !TagReflected(key, sample)) {
        break;
      }
      ++expired;
    }
    deleted += expired;
    if (expired == decoded_.size()) {
      whole_upto = w.oldest_blocks.Int(0);
      return deleted < budget;
    }
    if (expired > 0) {
      partial_last = w.oldest_blocks.Int(0);
      partial_kept = expired;
    }
    return false;
  });
  if (whole_upto > 0) w.delete_blocks.Bind(1, key).Bind(2, whole_upto).Execute();
  if (partial_last > 0) {  // decoded_ still holds that block: it was the last one read
    encoder_.Clear();
    for (size_t i = partial_kept; i < decoded_.size(); ++i) {
      const BlockSample& kept = decoded_[i];
      encoder_.Add(kept.timestamp_ms, kept.latency_ms, kept.payload_kb, kept.tag_key, kept.tag_seq);
    }
    const std::vector<uint8_t>& data = encoder_.Finish();
    w.rewrite_block.Bind(1, key).Bind(2, partial_last).Bind(3, encoder_.count());
    w.rewrite_block.BindBlob(4, data.data(), data.size()).Execute();
    encoder_.Clear();
  }
  return deleted;
}

}  // namespace driftwatch::sqlite_plugin
