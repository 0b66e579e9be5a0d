#include "core/ingest_queue.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/service_registry.h"
#include "core/thread_name.h"

namespace driftwatch {
namespace {

// A submitting thread processes at most this many items (its own and any queued behind them)
// before it leaves the rest to the shard's worker, so an HTTP thread is never held for long.
constexpr size_t kInlineBudget = 256;
// A shard keeps a buffer of its queue up to this many items; a larger one, left by a burst, is
// freed once processed.
constexpr size_t kKeptQueueCapacity = 4096;

}  // namespace

void Settle(PendingCommit& commit, uint64_t count, CommitResult result) {
  if (result == CommitResult::kRefused) commit.refused = true;
  if (result == CommitResult::kAbandoned) commit.abandoned = true;
  if (commit.unsettled.fetch_sub(count) != count) return;
  // A refusal is the more useful answer: a client may send again what was abandoned, while what
  // was refused waits for an operator.
  if (commit.refused) {
    commit.done(CommitResult::kRefused);
  } else {
    commit.done(commit.abandoned ? CommitResult::kAbandoned : CommitResult::kCommitted);
  }
}

IngestQueue::IngestQueue(size_t shard_count, uint64_t capacity, Processor processor)
    : capacity_(capacity), processor_(std::move(processor)), shards_(shard_count) {}

IngestQueue::~IngestQueue() { Stop(); }

bool IngestQueue::Reserve(uint64_t count, bool beyond_capacity) {
  // Reserved first, so concurrent submitters never overshoot the capacity.
  if (queued_.fetch_add(count) + count > capacity_ && !beyond_capacity) {
    queued_.fetch_sub(count);
    return false;
  }
  return true;
}

void IngestQueue::Unreserve(uint64_t count) {
  if (queued_.fetch_sub(count) == count) {
    std::lock_guard lock(idle_mutex_);
    idle_.notify_all();
  }
}

IngestQueue::Actions IngestQueue::Enqueue(const std::vector<QueuedSample>& items,
                                          bool inline_allowed) {
  Actions actions(shards_.size(), Action::kNone);
  for (size_t index = 0; index < shards_.size(); ++index) {
    Shard& shard = shards_[index];
    std::lock_guard lock(shard.mutex);
    const size_t before = shard.items.size();
    for (const QueuedSample& item : items) {
      if (item.service->shard == index) shard.items.push_back(item);
    }
    if (shard.items.size() > before && !shard.busy) {
      shard.busy = inline_allowed;
      actions[index] = inline_allowed ? Action::kProcessHere : Action::kWake;
    }
  }
  return actions;
}

void IngestQueue::Dispatch(const Actions& actions) {
  for (size_t index = 0; index < shards_.size(); ++index) {
    if (actions[index] == Action::kWake) shards_[index].wake.notify_one();
    if (actions[index] == Action::kProcessHere) Drain(shards_[index], index, kInlineBudget);
  }
}

void IngestQueue::Start(const std::string& thread_prefix) {
  if (started_) return;
  started_ = true;
  for (size_t index = 0; index < shards_.size(); ++index) {
    Shard& shard = shards_[index];
    shard.worker = std::thread([this, &shard, index, thread_prefix] {
      NameThisThread(thread_prefix + std::to_string(index));
      Work(shard, index);
    });
  }
}

void IngestQueue::Stop() {
  for (Shard& shard : shards_) {
    {
      std::lock_guard lock(shard.mutex);
      shard.stopping = true;
    }
    shard.wake.notify_all();
  }
  for (Shard& shard : shards_) {
    if (shard.worker.joinable()) shard.worker.join();
  }
}

void IngestQueue::WaitIdle() {
  std::unique_lock lock(idle_mutex_);
  idle_.wait(lock, [&] { return queued_.load() == 0; });
}

void IngestQueue::Work(Shard& shard, size_t index) {
  for (;;) {
    {
      std::unique_lock lock(shard.mutex);
      shard.wake.wait(lock,
                      [&] { return !shard.busy && (!shard.items.empty() || shard.stopping); });
      if (shard.items.empty()) return;  // stopping, and everything is processed
      shard.busy = true;
    }
    Drain(shard, index, std::numeric_limits<size_t>::max());
  }
}

void IngestQueue::Drain(Shard& shard, size_t index, size_t budget) {
  std::vector<QueuedSample>& taken = shard.taken;
  for (;;) {
    {
      std::unique_lock lock(shard.mutex);
      if (shard.items.empty() || budget == 0) {
        shard.busy = false;
        // The worker waits for the shard to be free: for what is left, or to stop.
        const bool wake = !shard.items.empty() || shard.stopping;
        lock.unlock();
        if (wake) shard.wake.notify_one();
        return;
      }
      taken.swap(shard.items);
    }
    budget -= std::min(budget, taken.size());
    processor_(index, taken);
    const size_t done = taken.size();
    taken.clear();
    if (taken.capacity() > kKeptQueueCapacity) taken = {};  // after a burst: not kept for ever
    Unreserve(done);
  }
}

}  // namespace driftwatch
