// The storage writer: one thread that commits what the engine hands it, batched into one
// transaction per commit interval (group commit), so ingest never waits for a commit per sample.
// A batch whose submitter waits for its commit (a callback; durable ingest) is committed as soon as
// the thread is free, together with everything that arrived meanwhile. It also runs retention in
// small steps between commits.
//
// A failed commit is decided by the kind of its failure (docs/behaviour.md, "Decisions about
// storage failures"):
// - the store refuses the data (invalid argument: a sequence that does not rise, a constraint):
//   the writer finds the services whose data is refused, by committing the batch in halves by
//   service, sets their data aside in a file (RefusedLog) and commits the rest;
// - anything else (an I/O error, a busy or corrupt store, an internal error) is retried with the
//   same batch after a pause (nothing accepted is dropped); while it fails, healthy() is false and
//   ingest answers 503.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/refused_log.h"
#include "core/status.h"
#include "core/storage.h"

namespace driftwatch {

struct StorageWriterOptions {
  uint32_t commit_interval_ms = 50;
  double telemetry_retention_days = 7.0;
  double events_retention_days = 30.0;
  uint32_t purge_interval_ms = 60000;  // how often retention looks for old rows
  uint32_t purge_step_rows = 2000;     // rows deleted per step, between commits
  uint32_t retry_interval_ms = 1000;   // wait before retrying a failed commit
  // Where data the store refuses is set aside (JSON lines; docs/operations.md). Empty: nowhere, so
  // a refusal is retried like any other failure.
  std::string refused_path;
  uint64_t refused_max_bytes = RefusedLog::kDefaultMaxBytes;
  // Called on the writer thread, without its lock, with the new notifications of each commit once
  // they are stored (the sender delivers only what a restart would find again). Must be quick.
  std::function<void(std::vector<StoredNotification>&& committed)> on_notifications_committed;
};

// What became of a submitted batch, for its callback.
// How long store writes took, since start: a Prometheus histogram (GET /metrics). Cumulative
// counts per upper bound, as the exposition format wants them.
struct CommitDurations {
  static constexpr double kBoundsSeconds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  static constexpr size_t kBuckets = sizeof(kBoundsSeconds) / sizeof(kBoundsSeconds[0]);
  uint64_t cumulative[kBuckets] = {};
  uint64_t count = 0;
  double sum_seconds = 0.0;
};

struct CommitReport {
  // False when Stop gave up before the batch was settled: it may or may not be stored.
  bool committed = true;
  // The services whose data the store refused while this batch was being committed: their data
  // (in this batch or others committed with it) was set aside instead of stored. Sorted.
  std::vector<std::string> refused;

  bool Refused(std::string_view service_id) const;
};

class StorageWriter {
 public:
  // Called once per batch that was submitted with it, once every part of it is committed or set
  // aside (see CommitReport), or when Stop gives up on it. Runs on the writer thread (or the one
  // calling Stop), without the writer's lock held; it must be quick and must not call the writer.
  using CommitCallback = std::function<void(const CommitReport& report)>;

  StorageWriter(Store* store, StorageWriterOptions options);
  ~StorageWriter();  // Stop()

  void Start();
  // Commits (or sets aside) everything submitted, retrying until it succeeds or `deadline` passes,
  // then ends the thread. Returns false if something could not be settled.
  bool Stop(std::chrono::milliseconds deadline = std::chrono::seconds(30));

  // Hands over writes, committed in submission order. Returns a ticket for WaitCommitted.
  // `on_committed`, if any, is called once the batch is committed (see CommitCallback).
  uint64_t Submit(WriteBatch&& batch, CommitCallback on_committed = nullptr);
  // Blocks until every batch up to `ticket` is committed (or set aside); false on timeout.
  bool WaitCommitted(uint64_t ticket, std::chrono::milliseconds timeout);
  // Commits (or sets aside) everything submitted so far before returning (false on timeout).
  bool Flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  size_t pending_samples() const { return pending_samples_.load(std::memory_order_relaxed); }
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  std::string last_error() const;
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  uint64_t committed_samples() const { return committed_samples_.load(std::memory_order_relaxed); }
  // Refused by the store and set aside, since start; and the last refusal ("" for none).
  uint64_t refused_samples() const { return refused_samples_.load(std::memory_order_relaxed); }
  uint64_t refused_events() const { return refused_events_.load(std::memory_order_relaxed); }
  std::string last_refusal() const;
  CommitDurations commit_durations() const;
  // Where refused data is set aside ("" for nowhere).
  const std::string& refused_path() const { return refused_log_.path(); }

  // Events submitted but not yet committed for a service, oldest first; a read merges these with
  // the store's, so an event is visible as soon as the engine made it.
  std::vector<StoredEvent> PendingEvents(const std::string& service_id) const;

 private:
  // A callback of a batch being committed, and the services refused meanwhile.
  struct Waiter {
    CommitCallback call;
    std::vector<std::string> refused;
  };
  // What committing in_flight_ in parts did, once the store refused it as a whole.
  struct Isolation {
    WriteBatch unsettled;  // neither committed nor set aside: kept for the next attempt
    Status failure;        // why `unsettled` is not empty
    uint64_t commits = 0;
    uint64_t committed_samples = 0;
    uint64_t refused_samples = 0;
    uint64_t refused_events = 0;
    std::vector<StoredNotification> committed_notifications;
    std::vector<std::pair<std::string, Status>> refusals;  // each service set aside, and why
  };

  void Run();
  bool CommitPending(std::unique_lock<std::mutex>& lock);
  void RecordWriteDuration(std::chrono::nanoseconds duration);
  // Runs without the lock: finds the services whose data the store refuses (`refusal` is the
  // whole batch's), sets it aside, commits the rest.
  Isolation Isolate(const Status& refusal);
  // Records what Isolate did (the lock held): counts, logs, and tells the waiters.
  void Settle(Isolation& isolation);
  // Calls `waiters` with `committed`, with the lock released for the time of the calls.
  static void Report(std::vector<Waiter>&& waiters, bool committed,
                     std::unique_lock<std::mutex>& lock);
  // Sets pending_samples_ from pending_ and in_flight_ (the lock held): a batch that forgets a
  // service drops the samples of it that wait, so counting what comes and goes would drift.
  void CountPending();
  // One retention step (at most purge_step_rows rows); false when nothing was left to delete.
  bool PurgeStep(int64_t samples_before_ms, int64_t events_before_ms);

  Store* store_;
  StorageWriterOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;                   // new work or stop
  std::condition_variable committed_;              // a commit finished
  WriteBatch pending_;                             // submitted, not yet taken by a commit
  WriteBatch in_flight_;                           // being committed (kept until it succeeds)
  std::vector<CommitCallback> pending_callbacks_;  // of the batches in pending_
  std::vector<Waiter> in_flight_callbacks_;        // of the batches in in_flight_
  uint64_t submitted_ticket_ = 0;
  uint64_t committed_ticket_ = 0;
  bool stopping_ = false;
  uint32_t waiters_ = 0;  // threads in WaitCommitted: commit now instead of at the interval
  std::string last_error_;
  const RefusedLog refused_log_;
  std::string last_refusal_;
  std::set<std::string> logged_refusals_;  // "kind service" already logged (bounded)
  std::atomic<size_t> pending_samples_{0};
  std::atomic<bool> healthy_{true};
  std::atomic<uint64_t> commits_{0};
  // Store writes by duration bucket (the last one: beyond every bound), and their total time.
  std::atomic<uint64_t> write_buckets_[CommitDurations::kBuckets + 1] = {};
  std::atomic<uint64_t> write_nanoseconds_{0};
  std::atomic<uint64_t> committed_samples_{0};
  std::atomic<uint64_t> refused_samples_{0};
  std::atomic<uint64_t> refused_events_{0};
  std::chrono::steady_clock::time_point next_purge_;
  std::thread thread_;
};

}  // namespace driftwatch
