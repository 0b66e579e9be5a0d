// The storage writer: one thread that commits what the engine hands it, batched into one
// transaction per commit interval (group commit), so ingest never waits for a commit per sample.
// A batch whose submitter waits for its commit (a callback; durable ingest) is committed as soon as
// the thread is free, together with everything that arrived meanwhile. It also runs retention in
// small steps between commits. A failed commit is retried with the same batch (nothing accepted is
// dropped); while it fails, healthy() is false and ingest answers 503.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/storage.h"

namespace driftwatch {

struct StorageWriterOptions {
  uint32_t commit_interval_ms = 50;
  double telemetry_retention_days = 7.0;
  double events_retention_days = 30.0;
  uint32_t purge_interval_ms = 60000;  // how often retention looks for old rows
  uint32_t purge_step_rows = 2000;     // rows deleted per step, between commits
  uint32_t retry_interval_ms = 1000;   // wait before retrying a failed commit
};

class StorageWriter {
 public:
  // Called once per batch that was submitted with it: true once the batch is committed, false if
  // Stop gave up on it. Runs on the writer thread (or the one calling Stop), without the writer's
  // lock held; it must be quick and must not call the writer.
  using CommitCallback = std::function<void(bool committed)>;

  StorageWriter(Store* store, StorageWriterOptions options);
  ~StorageWriter();  // Stop()

  void Start();
  // Commits everything submitted (retrying until it succeeds or `deadline` passes), then ends
  // the thread. Returns false if something could not be committed.
  bool Stop(std::chrono::milliseconds deadline = std::chrono::seconds(30));

  // Hands over writes, committed in submission order. Returns a ticket for WaitCommitted.
  // `on_committed`, if any, is called once the batch is committed (see CommitCallback).
  uint64_t Submit(WriteBatch&& batch, CommitCallback on_committed = nullptr);
  // Blocks until every batch up to `ticket` is committed; false on timeout.
  bool WaitCommitted(uint64_t ticket, std::chrono::milliseconds timeout);
  // Commits everything submitted so far before returning (false on timeout).
  bool Flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  size_t pending_samples() const { return pending_samples_.load(std::memory_order_relaxed); }
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  std::string last_error() const;
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  uint64_t committed_samples() const { return committed_samples_.load(std::memory_order_relaxed); }

  // Events submitted but not yet committed for a service, oldest first; a read merges these with
  // the store's, so an event is visible as soon as the engine made it.
  std::vector<StoredEvent> PendingEvents(const std::string& service_id) const;

 private:
  void Run();
  bool CommitPending(std::unique_lock<std::mutex>& lock);
  // Calls `callbacks` with `committed`, with the lock released for the time of the calls.
  static void Report(std::vector<CommitCallback>&& callbacks, bool committed,
                     std::unique_lock<std::mutex>& lock);
  // One retention step (at most purge_step_rows rows); false when nothing was left to delete.
  bool PurgeStep(int64_t samples_before_ms, int64_t events_before_ms);

  Store* store_;
  StorageWriterOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;                     // new work or stop
  std::condition_variable committed_;                // a commit finished
  WriteBatch pending_;                               // submitted, not yet taken by a commit
  WriteBatch in_flight_;                             // being committed (kept until it succeeds)
  std::vector<CommitCallback> pending_callbacks_;    // of the batches in pending_
  std::vector<CommitCallback> in_flight_callbacks_;  // of the batches in in_flight_
  uint64_t submitted_ticket_ = 0;
  uint64_t committed_ticket_ = 0;
  bool stopping_ = false;
  uint32_t waiters_ = 0;  // threads in WaitCommitted: commit now instead of at the interval
  std::string last_error_;
  std::atomic<size_t> pending_samples_{0};
  std::atomic<bool> healthy_{true};
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> committed_samples_{0};
  std::chrono::steady_clock::time_point next_purge_;
  std::thread thread_;
};

}  // namespace driftwatch
