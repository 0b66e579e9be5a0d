// The engine's façade: what the API, the tests and the benchmarks call. Independent of HTTP and of
// any one store. Behind it: the service registry (core/service_registry.h), the ingest queue and
// the threads that drain it (core/ingest_queue.h), start-up recovery (core/startup_recovery.h),
// and the storage writer (core/storage_writer.h); processing a sample is here.
//
// Flow: Submit (any thread) -> queue of the service's shard (by hash of its id) -> processed by
// the submitting thread (small submissions) or the shard's worker -> ServiceMonitor::Process ->
// detectors (plugins) -> WriteBatch -> StorageWriter -> Store (plugin).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/baseline_window.h"
#include "core/config.h"
#include "core/detector.h"
#include "core/ingest_queue.h"
#include "core/sample.h"
#include "core/series_figures.h"
#include "core/service_monitor.h"
#include "core/status.h"
#include "core/storage.h"
#include "core/storage_writer.h"

namespace driftwatch {

enum class SubmitResult {
  kAccepted,
  kQueueFull,           // 503 + Retry-After: the engine or the writer is behind
  kStorageUnavailable,  // 503: commits are failing; nothing accepted is lost meanwhile
  kTooManyServices,     // 429: the batch would add services beyond ingest.max_services
  kShuttingDown,        // 503
  kDetectorFailure,     // 500: a detector plugin could not create a new service's state
};

struct ServiceHealth {
  std::string service_id;
  ServiceState state = ServiceState::kInsufficientData;
  std::optional<int64_t> transition_timestamp_ms;  // none before the first transition
  uint64_t sample_count = 0;                       // samples processed
  Baseline baseline;
  std::string metadata_json = "{}";  // the last transition's metadata
  uint32_t window_samples = 0;       // |W|: samples toward (or in) the baseline window
  uint64_t aged_out = 0;             // samples W dropped for age (ServiceMonitor::aged_out)
};

struct EngineStatus {
  uint64_t services_monitored = 0;
  uint64_t samples_accepted = 0;   // since start
  uint64_t samples_processed = 0;  // since start
  uint64_t queue_depth = 0;
  uint64_t queue_capacity = 0;
  uint64_t rejected_queue_full = 0;
  uint64_t rejected_too_many_services = 0;
  // Samples taken by their service whose endpoint series could not be added (a limit).
  uint64_t endpoint_overflow = 0;
  uint64_t storage_pending_samples = 0;
  bool storage_healthy = true;
  std::string storage_error;
  // Refused by the store for good and set aside in refused_file, since start (docs/operations.md).
  uint64_t refused_samples = 0;
  uint64_t refused_events = 0;
  std::string last_refusal;
  std::string refused_file;
  uint64_t detector_errors = 0;
  std::string last_detector_error;
};

// Why Submit refused samples (the SubmitResult other than kAccepted), as GET /metrics labels them.
enum class RejectReason : uint8_t {
  kQueueFull,
  kStorageUnavailable,
  kTooManyServices,
  kShuttingDown,
  kDetectorFailure,
};
inline constexpr size_t kRejectReasons = 5;
// "queue_full", "storage_unavailable", "too_many_services", "shutting_down", "detector_failure".
const char* RejectReasonName(RejectReason reason);

// Counters since start for GET /metrics (docs/api.md, GET /metrics).
struct EngineMetrics {
  uint64_t samples_rejected[kRejectReasons] = {};   // samples, by RejectReason
  std::map<std::string, uint64_t> drift_events;     // transitions, by reason
  std::map<std::string, uint64_t> detector_errors;  // by detector name ("unknown": not known)
  CommitDurations commit_durations;
};

// One series' figures for GET /metrics: as its shard published them (never a forgotten one).
struct ServiceMetrics : SeriesFigures {
  ServiceId service_id;
};

// How long a scrape held the engine's locks, for bench/metrics_scrape.cc: measured only when a
// caller asks for it (two clock reads per hold), never otherwise. A scrape takes no shard lock:
// it reads each series' published figures (core/series_figures.h) and the published transition
// counts. What it still holds is the registry's lock, shared, while it lists the series in runs.
struct LockHoldTimes {
  int64_t longest_registry_ns = 0;      // one hold of the registry's lock, wall time
  int64_t longest_registry_cpu_ns = 0;  // one hold, CPU time of the holding thread (no preemption)
  uint64_t registry_holds = 0;
  uint64_t registry_holds_over_1ms = 0;   // wall time
  std::vector<int64_t> registry_hold_ns;  // every hold's wall time, in the order taken
  // Reads of a series' figures made again because its shard published them meanwhile.
  uint64_t figure_rereads = 0;
  uint64_t listing_restarts = 0;  // the registry grew (rehashed) during a listing
};

// Told what the outbox gains and loses (the notification sender, notify/). Called on the storage
// writer's thread: each method must be quick and must not call the engine.
class NotificationSink {
 public:
  virtual ~NotificationSink() = default;
  // New rows, once committed, in the order made.
  virtual void Committed(std::vector<StoredNotification>&& rows) = 0;
  // The service was forgotten (DELETE /v1/services/{id}); its stored rows are deleted.
  virtual void Forgotten(const std::string& service_id) = 0;
};

class Engine {
 public:
  // Builds the engine and restores every service the store knows: its last snapshot, then a
  // replay of the samples stored after it, so a restart resumes exactly where the service was.
  // `detectors` and `store` must outlive the engine. Threads start with Start().
  static Status Create(const Config& config, const DetectorSet& detectors, Store* store,
                       std::unique_ptr<Engine>* out);
  ~Engine();  // Stop()

  // Where committed notifications go (nullptr: nowhere), set before Start; one being destroyed is
  // replaced by nullptr first. Only with notification targets configured (Create refuses those
  // when the store has no outbox).
  void SetNotificationSink(NotificationSink* sink);
  // Records what became of notifications (state, attempts, updated_ms, last_error of each row)
  // with the next commit.
  void RecordNotificationUpdates(std::vector<StoredNotification>&& updates);
  // The outbox's committed rows (GET /v1/notifications).
  Status Notifications(const Store::NotificationFilter& filter,
                       std::vector<StoredNotification>* out) const;

  void Start();
  // Stops accepting, processes everything queued, snapshots every service, commits, and joins the
  // threads. Returns false if storage could not take everything.
  bool Stop();

  // What became of an accepted submission's samples (core/ingest_queue.h). A CommitCallback is
  // called once for a submission that was accepted, once all of its samples are settled. It runs
  // on the storage writer's thread (or the one calling Stop), never inside Submit; it must be
  // quick and must not call the engine.
  using CommitResult = driftwatch::CommitResult;
  using CommitCallback = driftwatch::CommitCallback;

  // All or nothing: either every sample is queued (kAccepted) or none is. `on_committed`, if any,
  // is called as described above when the result is kAccepted, and dropped otherwise; `samples`
  // must then not be empty. A small submission may be processed on the calling thread before
  // Submit returns; the caller must hold no lock the engine or a commit callback could need.
  SubmitResult Submit(std::vector<IncomingSample>&& samples, CommitCallback on_committed = nullptr);
  // Waits until every sample accepted before the call has been processed (tests, shutdown).
  void WaitIdle();

  // Series are named by their key (core/series_key.h): a service's own by its id, an endpoint
  // series by EndpointSeriesKey. The methods below that take a `service_id` take either.
  bool GetHealth(const std::string& service_id, ServiceHealth* out) const;
  // Sorted by key; endpoint series only when asked for; only `service_id`'s series when it is
  // not empty.
  std::vector<ServiceHealth> ListServices(bool with_endpoint_series = false,
                                          std::string_view service_id = {}) const;
  // False when the service is unknown.
  bool Reset(const std::string& service_id, int64_t timestamp_ms);

  enum class ForgetResult {
    kForgetting,          // gone from every read at once; the store forgets it in order (callback)
    kUnknown,             // 404
    kNotSupported,        // the storage backend cannot forget a service (an ABI 1.0 plugin)
    kShuttingDown,        // 503
    kStorageUnavailable,  // 503: commits are failing; nothing is forgotten meanwhile
  };
  // Forgets a decommissioned service (DELETE /v1/services/{id}): its state and window at once,
  // and, once every sample accepted for it before has been processed, its stored samples, events
  // and snapshot. A sample of the id accepted afterwards starts a new service. A service's id
  // forgets its endpoint series with it; an endpoint series' key forgets that series alone.
  // `on_forgotten`, if any, is called as a CommitCallback once the store has forgotten all of it
  // (kForgetting only).
  ForgetResult Forget(const std::string& service_id, CommitCallback on_forgotten = nullptr);
  // Newest first, at most `limit`, committed and not-yet-committed alike.
  Status Events(const std::string& service_id, uint32_t limit, std::vector<StoredEvent>* out);
  bool HasService(const std::string& service_id) const;
  // The service's committed samples with seq > after_seq, in rising seq order (the order it sent
  // them), straight from the store: samples still queued or not yet committed are not visited.
  Status StoredSamples(const std::string& service_id, uint64_t after_seq,
                       const std::function<void(const StoredSample&)>& visit);

  EngineStatus GetStatus() const;
  // Takes no shard lock: the transition counts are read as their shards published them.
  EngineMetrics GetMetrics() const;
  // Every service's figures, in no order, as each series' shard last published them: no shard
  // lock is taken, so ingest never waits on a scrape; the registry's lock is held (shared) for a
  // few dozen series at a time (docs/architecture.md, "The flow of one sample";
  // docs/performance.md, section 9). `holds`, if any, gathers how long each hold of the registry's
  // lock took (LockHoldTimes).
  std::vector<ServiceMetrics> CollectServiceMetrics(LockHoldTimes* holds = nullptr) const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftwatch
