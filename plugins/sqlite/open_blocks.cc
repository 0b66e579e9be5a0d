#include "open_blocks.h"

#include <algorithm>
#include <vector>

namespace driftwatch::sqlite_plugin {

OpenBlocks::OpenBlocks(Statement& insert_block, Statement& delete_log)
    : insert_block_(insert_block), delete_log_(delete_log) {}

const OpenBlock* OpenBlocks::Committed(long long key) const {
  const auto open = open_.find(key);
  return open != open_.end() ? &open->second : nullptr;
}

void OpenBlocks::StartStaging() {
  staged_.clear();
  staged_log_floor_ = log_floor_;
}

const OpenBlock* OpenBlocks::Current(long long key) const {
  if (const auto staged = staged_.find(key); staged != staged_.end()) {
    return staged->second.encoder.count() > 0 ? &staged->second : nullptr;
  }
  const auto open = open_.find(key);
  return open != open_.end() ? &open->second : nullptr;
}

OpenBlock& OpenBlocks::Stage(long long key) {
  auto [staged, added] = staged_.try_emplace(key);
  if (added) {
    const auto open = open_.find(key);
    if (open != open_.end()) staged->second = open->second;
  }
  return staged->second;
}

void OpenBlocks::Append(long long key, OpenBlock& open, long long log_id, long long seq,
                        int64_t timestamp_ms, double latency_ms, double payload_kb) {
  if (open.encoder.count() > 0 && (open.encoder.full() || seq != open.last_seq + 1)) {
    WriteOut(key, open);
  }
  if (open.encoder.count() == 0) {
    open.first_log_id = log_id;
    open.oldest_timestamp_ms = timestamp_ms;
  }
  open.encoder.Add(timestamp_ms, latency_ms, payload_kb);
  open.last_seq = seq;
  open.oldest_timestamp_ms = std::min(open.oldest_timestamp_ms, timestamp_ms);
}

void OpenBlocks::WriteOut(long long key, OpenBlock& open) {
  const std::vector<uint8_t>& data = open.encoder.Finish();
  insert_block_.Bind(1, key).Bind(2, open.last_seq).Bind(3, open.encoder.count());
  insert_block_.BindBlob(4, data.data(), data.size()).Execute();
  open.encoder = BlockEncoder();  // frees its buffers: a quiet service keeps next to nothing
}

void OpenBlocks::WriteOutAged(long long log_id) {
  for (const auto& [first_log_id, key] : open_by_age_) {
    if (first_log_id > log_id - kMaxOpenBlockAge) break;
    OpenBlock& open = Stage(key);
    if (open.encoder.count() > 0 && open.first_log_id <= log_id - kMaxOpenBlockAge) {
      WriteOut(key, open);
    }
  }
}

void OpenBlocks::WriteOutAll() {
  for (const auto& [key, open] : open_) WriteOut(key, Stage(key));
}

void OpenBlocks::WriteOutStaged() {
  for (auto& [key, open] : staged_) {
    if (open.encoder.count() > 0) WriteOut(key, open);
  }
}

void OpenBlocks::TrimLog(long long none_needed) {
  long long floor = none_needed;
  for (const auto& [key, open] : staged_) {
    if (open.encoder.count() > 0) floor = std::min(floor, open.first_log_id);
  }
  for (const auto& [first_log_id, key] : open_by_age_) {
    if (first_log_id >= floor) break;
    if (!staged_.contains(key)) floor = first_log_id;  // unchanged by this transaction
  }
  if (floor <= staged_log_floor_) return;
  delete_log_.Bind(1, floor).Execute();
  staged_log_floor_ = floor;
}

void OpenBlocks::Apply() {
  for (auto& [key, staged] : staged_) {
    const auto open = open_.find(key);
    if (open != open_.end()) open_by_age_.erase({open->second.first_log_id, key});
    if (staged.encoder.count() == 0) {
      if (open != open_.end()) open_.erase(open);
      continue;
    }
    open_by_age_.emplace(staged.first_log_id, key);
    if (open != open_.end()) {
      open->second = std::move(staged);
    } else {
      open_.emplace(key, std::move(staged));
    }
  }
  staged_.clear();
  log_floor_ = staged_log_floor_;
}

}  // namespace driftwatch::sqlite_plugin
