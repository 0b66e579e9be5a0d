#include "open_blocks.h"

#include <algorithm>
#include <vector>

namespace driftwatch::sqlite_plugin {

OpenBlocks::OpenBlocks(Statement& insert_block, Statement& delete_log)
    : insert_block_(insert_block), delete_log_(delete_log) {}

const OpenBlock* OpenBlocks::Committed(long long key) const {
  const auto open = open_.find(key);
  return open != open_.end() ? &open->second.block : nullptr;
}

void OpenBlocks::StartStaging() {
  staged_count_ = 0;
  staged_new_.clear();
  staged_log_floor_ = log_floor_;
}

size_t OpenBlocks::StagedIndex(long long key, const Entry& entry) const {
  // An index left by an earlier transaction is either past staged_count_ or reused for another key.
  return entry.staged < staged_count_ && staged_[entry.staged].key == key ? entry.staged
                                                                          : staged_count_;
}

StagedBlock& OpenBlocks::NewStaged(long long key) {
  if (staged_count_ == staged_.size()) staged_.emplace_back();
  StagedBlock& staged = staged_[staged_count_++];
  staged.key = key;
  return staged;
}

const OpenBlock* OpenBlocks::Current(long long key) const {
  const StagedBlock* staged = nullptr;
  const OpenBlock* committed = nullptr;
  if (const auto open = open_.find(key); open != open_.end()) {
    const size_t index = StagedIndex(key, open->second);
    if (index < staged_count_) staged = &staged_[index];
    committed = &open->second.block;
  } else if (const auto fresh = staged_new_.find(key); fresh != staged_new_.end()) {
    staged = &staged_[fresh->second];
  }
  if (staged == nullptr) return committed;
  return staged->block.encoder.count() > 0 ? &staged->block : nullptr;
}

StagedBlock& OpenBlocks::Stage(long long key) {
  if (const auto open = open_.find(key); open != open_.end()) {
    Entry& entry = open->second;
    const size_t index = StagedIndex(key, entry);
    if (index < staged_count_) return staged_[index];
    entry.staged = staged_count_;
    StagedBlock& staged = NewStaged(key);
    staged.continues = true;
    staged.committed = &entry.block;
    staged.block.encoder.StartAfter(entry.block.encoder);
    staged.block.last_seq = entry.block.last_seq;
    staged.block.first_log_id = entry.block.first_log_id;
    staged.block.oldest_timestamp_ms = entry.block.oldest_timestamp_ms;
    return staged;
  }
  const auto [fresh, added] = staged_new_.try_emplace(key, staged_count_);
  if (!added) return staged_[fresh->second];
  StagedBlock& staged = NewStaged(key);
  staged.continues = false;
  staged.committed = nullptr;
  staged.block.encoder.Clear();
  return staged;
}

void OpenBlocks::Append(StagedBlock& staged, long long log_id, long long seq, int64_t timestamp_ms,
                        double latency_ms, double payload_kb, long long tag_key,
                        long long tag_seq) {
  OpenBlock& open = staged.block;
  if (open.encoder.count() > 0 && (open.encoder.full(tag_key != 0) || seq != open.last_seq + 1)) {
    WriteOut(staged);
  }
  if (open.encoder.count() == 0) {
    open.first_log_id = log_id;
    open.oldest_timestamp_ms = timestamp_ms;
  }
  open.encoder.Add(timestamp_ms, latency_ms, payload_kb, tag_key, static_cast<uint64_t>(tag_seq));
  open.last_seq = seq;
  open.oldest_timestamp_ms = std::min(open.oldest_timestamp_ms, timestamp_ms);
}

void OpenBlocks::WriteOut(StagedBlock& staged) {
  OpenBlock& open = staged.block;
  BlockEncoder* whole = &open.encoder;
  if (staged.continues) {  // the committed block stays as it is until the commit
    write_out_ = staged.committed->encoder;
    open.encoder.AppendTo(write_out_);
    whole = &write_out_;
  }
  const std::vector<uint8_t>& data = whole->Finish();
  insert_block_.Bind(1, staged.key).Bind(2, open.last_seq).Bind(3, whole->count());
  insert_block_.BindBlob(4, data.data(), data.size()).Execute();
  staged.continues = false;
  open.encoder = BlockEncoder();  // frees its buffers: a quiet service keeps next to nothing
}

void OpenBlocks::WriteOutAged(long long log_id) {
  for (const auto& [first_log_id, key] : open_by_age_) {
    if (first_log_id > log_id - kMaxOpenBlockAge) break;
    StagedBlock& staged = Stage(key);
    if (staged.block.encoder.count() > 0 &&
        staged.block.first_log_id <= log_id - kMaxOpenBlockAge) {
      WriteOut(staged);
    }
  }
}

void OpenBlocks::WriteOutAll() {
  for (const auto& [key, entry] : open_) WriteOut(Stage(key));
}

void OpenBlocks::WriteOutStaged() {
  for (size_t i = 0; i < staged_count_; ++i) {
    if (staged_[i].block.encoder.count() > 0) WriteOut(staged_[i]);
  }
}

void OpenBlocks::TrimLog(long long none_needed) {
  long long floor = none_needed;
  for (size_t i = 0; i < staged_count_; ++i) {  // blocks started by this transaction
    const StagedBlock& staged = staged_[i];
    if (!staged.continues && staged.block.encoder.count() > 0) {
      floor = std::min(floor, staged.block.first_log_id);
    }
  }
  for (const auto& [first_log_id, key] : open_by_age_) {
    if (first_log_id >= floor) break;
    const Entry& entry = open_.at(key);
    const size_t index = StagedIndex(key, entry);
    if (index == staged_count_ || staged_[index].continues) floor = first_log_id;  // still open
  }
  if (floor <= staged_log_floor_) return;
  delete_log_.Bind(1, floor).Execute();
  staged_log_floor_ = floor;
}

void OpenBlocks::Apply() {
  for (size_t i = 0; i < staged_count_; ++i) {
    StagedBlock& staged = staged_[i];
    OpenBlock& block = staged.block;
    if (staged.continues) {  // the same block, with the samples added: its age is unchanged
      OpenBlock& committed = *staged.committed;
      block.encoder.AppendTo(committed.encoder);
      committed.last_seq = block.last_seq;
      committed.oldest_timestamp_ms = block.oldest_timestamp_ms;
      continue;
    }
    const auto open = open_.find(staged.key);
    if (open != open_.end()) open_by_age_.erase({open->second.block.first_log_id, staged.key});
    if (block.encoder.count() == 0) {
      if (open != open_.end()) open_.erase(open);
      continue;
    }
    open_by_age_.emplace(block.first_log_id, staged.key);
    if (open != open_.end()) {
      open->second.block = std::move(block);
    } else {
      open_.emplace(staged.key, Entry{std::move(block)});
    }
  }
  staged_count_ = 0;
  staged_new_.clear();
  log_floor_ = staged_log_floor_;
}

}  // namespace driftwatch::sqlite_plugin
