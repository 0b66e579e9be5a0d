// The ingest queue: accepted samples wait here, in one queue per shard (services are spread over
// shards by hash of their id), until a thread processes them. One thread at a time processes a
// shard, taking its queue in order, so each service's samples are processed in the order they
// were accepted. What processing means is the engine's (the Processor); this file only decides
// who runs it and when.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/sample.h"

namespace driftwatch {

struct ServiceEntry;

// What became of an accepted submission's samples (or of a forget).
enum class CommitResult {
  kCommitted,  // every one of them is committed to the store
  kRefused,    // the store refused some of them for good: those were set aside, the others
               // committed
  kAbandoned,  // storage gave up at stop: they may or may not be stored
};
using CommitCallback = std::function<void(CommitResult result)>;

// An accepted submission whose caller waits for its commit (durable ingest), shared by its
// samples until they are settled: the last of them to be settled reports. A forget (DELETE)
// travels through the queue as one item whose PendingCommit has `forgets` set, so that it comes
// after every sample accepted for the service before it and before every one accepted after it.
struct PendingCommit {
  PendingCommit(uint64_t samples, CommitCallback callback)
      : unsettled(samples), done(std::move(callback)) {}
  std::atomic<uint64_t> unsettled;
  std::atomic<bool> refused{false};
  std::atomic<bool> abandoned{false};
  const CommitCallback done;
  std::shared_ptr<ServiceEntry> forgets;  // set on a forget: the service it forgets
};

// `count` samples of `commit` were settled with `result`.
void Settle(PendingCommit& commit, uint64_t count, CommitResult result);

// One sample, for its service's series and, when not null, for that service's series of the
// sample's endpoint, processed right after it (both are on the service's shard). The series stay
// valid while the item is queued: a forgotten series lives until its forget, queued after its
// samples, is processed.
struct QueuedSample {
  ServiceEntry* service;
  ServiceEntry* endpoint;
  Sample sample;
  std::shared_ptr<PendingCommit> commit;  // set when the submitter waits for the commit
};

class IngestQueue {
 public:
  // Processes some of a shard's items, in queue order, on whichever thread drains the shard.
  using Processor = std::function<void(size_t shard, const std::vector<QueuedSample>& items)>;
  // What Enqueue left to its caller, to do once its locks are released: per shard, nothing, wake
  // the shard's worker, or process the shard on the calling thread.
  enum class Action : uint8_t { kNone, kWake, kProcessHere };
  using Actions = std::vector<Action>;

  // `capacity`: most items accepted and not yet processed.
  IngestQueue(size_t shard_count, uint64_t capacity, Processor processor);
  ~IngestQueue();  // Stop()
  IngestQueue(const IngestQueue&) = delete;
  IngestQueue& operator=(const IngestQueue&) = delete;

  size_t shard_count() const { return shards_.size(); }
  uint64_t capacity() const { return capacity_; }
  uint64_t depth() const { return queued_.load(); }  // accepted, not yet processed

  // Makes room for `count` items; false (and nothing reserved) when that would pass the capacity,
  // unless `beyond_capacity` (a forget must never be refused for a full queue).
  bool Reserve(uint64_t count, bool beyond_capacity = false);
  // Gives back a reservation that was not used.
  void Unreserve(uint64_t count);
  // Appends reserved items to their shards' queues (service->shard), in order. A submission of at
  // most kInlineItems to a shard nobody is processing is left to the caller to process (Dispatch),
  // so a small request pays no hand-off between threads.
  Actions Enqueue(const std::vector<QueuedSample>& items, bool inline_allowed);
  // Does what Enqueue left to do; call it with no lock held.
  void Dispatch(const Actions& actions);

  // Starts one worker thread per shard, named `<thread_prefix><index>`.
  void Start(const std::string& thread_prefix);
  // Processes everything queued, then ends the workers.
  void Stop();
  // Waits until every item enqueued before the call has been processed.
  void WaitIdle();

  // Submissions at most this large may be processed by the submitting thread.
  static constexpr size_t kInlineItems = 64;

 private:
  struct Shard {
    std::mutex mutex;
    std::condition_variable wake;     // the worker: items it should take, or stop
    std::vector<QueuedSample> items;  // guarded by mutex
    bool busy = false;                // guarded by mutex: a thread is processing the shard
    bool stopping = false;            // guarded by mutex
    // What that thread took from `items`; swapped with it, so the two buffers are reused instead
    // of allocating one for every submission.
    std::vector<QueuedSample> taken;
    std::thread worker;
  };

  void Work(Shard& shard, size_t index);
  // Processes the shard's items until none is left, or until `budget` items are done and the rest
  // is left to the worker. The caller has set shard.busy; Drain clears it.
  void Drain(Shard& shard, size_t index, size_t budget);

  const uint64_t capacity_;
  const Processor processor_;
  std::vector<Shard> shards_;
  std::atomic<uint64_t> queued_{0};
  std::mutex idle_mutex_;
  std::condition_variable idle_;
  bool started_ = false;
};

}  // namespace driftwatch
