#include "core/engine.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "core/ingest_queue.h"
#include "core/log.h"
#include "core/notifications.h"
#include "core/series_key.h"
#include "core/service_registry.h"
#include "core/startup_recovery.h"
#include "core/storage_writer.h"
#include "core/timestamp.h"

namespace driftwatch {
namespace {

// Samples processed per hold of a shard's state lock, so reads never wait long behind a burst.
constexpr size_t kSamplesPerLock = 512;
// Series a metrics scrape lists per hold of the registry's lock (shared): about 50 us of copying,
// mostly cache misses (at 256 a hold took up to 190 us), so that a hold stretched by preemption
// seldom reaches a millisecond (docs/performance.md, section 9).
constexpr size_t kSeriesPerRegistryHold = 64;
// The writer may fall this many samples behind the engine before ingest answers 503.
constexpr size_t kMaxWriterBacklogFactor = 4;
// Data the store refuses for good is set aside in a file named after the store's (`<path>` +
// this), an operator's to read and re-send (docs/operations.md, "Refused data").
constexpr const char* kRefusedFileSuffix = ".refused.jsonl";
// An endpoint series whose samples are tags in its service's rows takes a snapshot at the latest
// with the 10th snapshot of its service since its own last one: its samples then wait at most
// about 10 * storage.snapshot_every of its service's for retention, and a restart reads as many.
constexpr uint32_t kSnapshotsLaggedAtMost = 10;

// `count` consecutive samples of one series in a write batch, of a submission that waits.
struct CommitShare {
  std::shared_ptr<PendingCommit> commit;
  ServiceId series_id;
  uint64_t count;
};

// Times the holds of the registry's lock into LockHoldTimes when there is one to fill; otherwise
// does nothing.
class HoldTimer {
 public:
  explicit HoldTimer(LockHoldTimes* holds) : holds_(holds) {}
  void Taken() {
    if (holds_ == nullptr) return;
    wall_ = std::chrono::steady_clock::now();
    cpu_ns_ = ThreadCpuNs();
  }
  void Released() {
    if (holds_ == nullptr) return;
    const int64_t wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - wall_)
                                .count();
    const int64_t cpu_ns = ThreadCpuNs() - cpu_ns_;
    holds_->longest_registry_ns = std::max(holds_->longest_registry_ns, wall_ns);
    holds_->longest_registry_cpu_ns = std::max(holds_->longest_registry_cpu_ns, cpu_ns);
    ++holds_->registry_holds;
    if (wall_ns > 1'000'000) ++holds_->registry_holds_over_1ms;
    holds_->registry_hold_ns.push_back(wall_ns);
  }

 private:
  static int64_t ThreadCpuNs() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  }

  LockHoldTimes* holds_;
  std::chrono::steady_clock::time_point wall_{};
  int64_t cpu_ns_ = 0;
};

}  // namespace

struct Engine::Impl {
  Impl(const Config& engine_config, const DetectorSet& detector_set, Store* storage)
      : config(engine_config),
        detectors(detector_set),
        store(storage),
        tag_endpoint_samples(storage->KeepsSampleTags()),
        writer(storage,
               StorageWriterOptions{
                   .commit_interval_ms = engine_config.storage.commit_interval_ms,
                   .telemetry_retention_days = engine_config.retention.telemetry_days,
                   .events_retention_days = engine_config.retention.events_days,
                   .refused_path = engine_config.storage.path + kRefusedFileSuffix,
                   .on_notifications_committed =
                       [this](std::vector<StoredNotification>&& rows) {
                         if (NotificationSink* sink = notification_sink.load()) {
                           sink->Committed(std::move(rows));
                         }
                       },
               }),
        planner(engine_config.notify),
        state_locks(std::max(1u, std::thread::hardware_concurrency() / 2)),
        registry(state_locks.size(), config.baseline, detectors),
        queue(state_locks.size(), config.ingest.queue_capacity,
              [this](size_t shard, const std::vector<QueuedSample>& items) {
                Process(shard, items);
              }) {}

  // The queue's Processor: processes a shard's items in order, under the shard's state lock.
  void Process(size_t shard, const std::vector<QueuedSample>& items);
  void ProcessOne(ServiceEntry& service, const Sample& sample, WriteBatch& batch);
  // Processes a forget: the service writes nothing more, and the store is told to forget it.
  void ProcessForget(const std::shared_ptr<PendingCommit>& forget);
  // Hands the writer what Process gathered, with a callback for the waiting submissions.
  void SubmitBatch(WriteBatch&& batch, std::vector<CommitShare>&& shares);
  // Adds the series' snapshot, and those of its endpoint series that lag (ListIfLagging).
  void AddSnapshot(ServiceEntry& service, WriteBatch& batch);
  // Lists an endpoint series with samples its snapshot does not reflect in its service's
  // lagging_endpoints, when the store keeps them as tags; the shard's lock held.
  void ListIfLagging(ServiceEntry& series);
  void RecordDetectorError(const std::string& message,
                           const std::vector<std::string>& detector_names = {});
  void CountRejected(RejectReason reason, uint64_t samples) {
    rejected_samples[static_cast<size_t>(reason)].fetch_add(samples, std::memory_order_relaxed);
  }
  static ServiceHealth HealthOf(const ServiceEntry& service);
  // Counts a transition of a service of `shard`.
  void CountTransition(size_t shard, const std::string& reason);

  // The drift a reset would end, when notifications need it: the service's last event while it
  // is DRIFT_DETECTED.
  std::optional<StoredEvent> DriftToEnd(const ServiceEntry& service) const;

  const Config config;
  const DetectorSet& detectors;
  Store* store;
  // An endpoint series' sample is stored once, as a tag on its service's row, when the store
  // keeps tags; else as a row of its own (docs/behaviour.md, "Endpoint series").
  const bool tag_endpoint_samples;
  StorageWriter writer;
  const NotificationPlanner planner;
  std::atomic<NotificationSink*> notification_sink{nullptr};
  // Per shard: exclusive while the shard's services process samples, shared for reads.
  std::vector<std::shared_mutex> state_locks;
  ServiceRegistry registry;
  IngestQueue queue;

  std::atomic<bool> accepting{false};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> processed{0};
  std::atomic<uint64_t> rejected_queue_full{0};
  std::atomic<uint64_t> rejected_too_many_services{0};
  // Samples whose endpoint series could not be added (a limit): their services still took them.
  std::atomic<uint64_t> endpoint_overflow{0};
  std::atomic<uint64_t> rejected_samples[kRejectReasons] = {};
  // Transitions by reason, per shard, under their own small mutex rather than the shard's state
  // lock, so that a scrape copying a few counts never holds up processing. Transitions are rare.
  struct TransitionCounts {
    mutable std::mutex mutex;
    std::map<std::string, uint64_t> by_reason;  // guarded by mutex
  };
  std::vector<TransitionCounts> transitions_by_reason =
      std::vector<TransitionCounts>(state_locks.size());

  mutable std::mutex error_mutex;
  uint64_t detector_errors = 0;                             // guarded by error_mutex
  std::string last_detector_error;                          // guarded by error_mutex
  std::map<std::string, uint64_t> detector_errors_by_name;  // guarded by error_mutex
  bool started = false;
  // Written once the writer starts: what start-up recovery found to record.
  std::vector<WriteBatch> recovered_writes;
  bool stopped = false;
};

void Engine::Impl::RecordDetectorError(const std::string& message,
                                       const std::vector<std::string>& detector_names) {
  std::lock_guard lock(error_mutex);
  if (message != last_detector_error) log::Error(message);
  ++detector_errors;
  if (detector_names.empty()) ++detector_errors_by_name["unknown"];
  for (const std::string& name : detector_names) ++detector_errors_by_name[name];
  last_detector_error = message;
}

void Engine::Impl::CountTransition(size_t shard, const std::string& reason) {
  TransitionCounts& counts = transitions_by_reason[shard];
  std::lock_guard lock(counts.mutex);
  ++counts.by_reason[reason];
}

void Engine::Impl::AddSnapshot(ServiceEntry& service, WriteBatch& batch) {
  if (Status saved = service.AddSnapshot(batch); !saved.ok()) {
    RecordDetectorError("service '" + *service.id + "': cannot save state: " + saved.message());
  }
  // An endpoint series whose samples wait in its service's rows for its snapshot holds them back
  // from retention, and a restart reads them from its last snapshot's place on: one that lags
  // through kSnapshotsLaggedAtMost of its service's snapshots takes one with them.
  std::vector<ServiceEntry*>& lagging = service.lagging_endpoints;
  size_t kept = 0;
  for (ServiceEntry* series : lagging) {
    if (series->samples_since_snapshot > 0 &&
        ++series->snapshots_lagged >= kSnapshotsLaggedAtMost) {
      AddSnapshot(*series, batch);  // an endpoint series lists no lagging series of its own
    }
    series->listed_as_lagging = series->samples_since_snapshot > 0;
    if (series->listed_as_lagging) lagging[kept++] = series;
  }
  lagging.resize(kept);
}

void Engine::Impl::ListIfLagging(ServiceEntry& series) {
  if (!tag_endpoint_samples || series.listed_as_lagging || series.samples_since_snapshot == 0 ||
      series.owning_service == nullptr) {
    return;
  }
  series.owning_service->lagging_endpoints.push_back(&series);
  series.listed_as_lagging = true;
}

std::optional<StoredEvent> Engine::Impl::DriftToEnd(const ServiceEntry& service) const {
  if (!planner.enabled() || service.monitor.state() != ServiceState::kDriftDetected ||
      !service.monitor.last_transition()) {
    return std::nullopt;
  }
  return service.EventOf(*service.monitor.last_transition());
}

void Engine::Impl::ProcessOne(ServiceEntry& service, const Sample& sample, WriteBatch& batch) {
  ProcessResult result = service.monitor.Process(sample);
  // The row points at the series' id without owning it: Process keeps the id in the batch's ids.
  const ServiceId id(ServiceId(), service.id.get());
  if (service.endpoint_series && tag_endpoint_samples) {
    // Process hands an endpoint series its sample right after its service: the last row is the
    // service's, for the same sample.
    StoredSample& row = batch.samples.back();
    row.tag_series = id;
    row.tag_seq = service.seq();
  } else {
    batch.samples.push_back(
        StoredSample{id, service.seq(), sample.timestamp_ms, sample.latency_ms, sample.payload_kb});
    if (service.endpoint_series) ++batch.endpoint_rows;
  }
  if (!result.detector_error.empty()) {
    RecordDetectorError("service '" + *service.id + "': " + result.detector_error,
                        result.failed_detectors);
  }
  ++service.samples_since_snapshot;
  if (result.transition) {
    CountTransition(service.shard, result.transition->reason);
    batch.events.push_back(service.EventOf(*result.transition));
    if (planner.enabled()) {
      std::optional<StoredEvent> drift;
      if (result.ended_drift) drift = service.EventOf(*result.ended_drift);
      planner.Plan(batch.events.back(), drift ? &*drift : nullptr, service.monitor.baseline(),
                   NowMs(), &batch.notifications);
    }
    AddSnapshot(service, batch);  // transitions are rare: a cheap point to bound replay
  } else if (service.samples_since_snapshot >= config.storage.snapshot_every) {
    AddSnapshot(service, batch);
  }
}

void Engine::Impl::Process(size_t shard, const std::vector<QueuedSample>& items) {
  size_t forgets = 0;
  // The series whose figures changed since they were last published (core/series_figures.h):
  // each is published once per hold of the lock, always before the lock is let go.
  std::vector<ServiceEntry*> stale;
  auto publish = [&stale] {
    constexpr size_t kAhead = 8;  // a hold touches more series than the cache keeps
    for (size_t i = 0; i < stale.size(); ++i) {
      if (i + kAhead < stale.size()) stale[i + kAhead]->PrefetchFigures();
      stale[i]->PublishFigures();
      stale[i]->figures_stale = false;
    }
    stale.clear();
  };
  for (size_t begin = 0; begin < items.size(); begin += kSamplesPerLock) {
    const size_t end = std::min(items.size(), begin + kSamplesPerLock);
    WriteBatch batch;
    batch.samples.reserve(end - begin);
    // The waiting submissions with samples in this batch: how many, of which series (the store
    // may refuse one series' data and commit the rest). A submission's samples are next to each
    // other in a shard's queue.
    std::vector<CommitShare> shares;
    auto share = [&shares](const std::shared_ptr<PendingCommit>& commit, const ServiceId& series,
                           uint64_t count) {
      if (shares.empty() || shares.back().commit != commit || shares.back().series_id != series) {
        shares.push_back({commit, series, 0});
      }
      shares.back().count += count;
    };
    auto process = [&](ServiceEntry& series, const Sample& sample) {
      ProcessOne(series, sample, batch);
      // Its figures go stale with its first sample since the last publish(), which comes before
      // each SubmitBatch: that is its first row in this batch, whose ids keep its id.
      if (!series.figures_stale) {
        series.figures_stale = true;
        stale.push_back(&series);
        batch.ids.push_back(series.id);
      }
    };
    // How many items ahead the series' memory is asked for (ServiceEntry::PrefetchEntry): the
    // entries first, what they point to once those have had time to load.
    constexpr size_t kEntriesAhead = 8;
    constexpr size_t kStateAhead = 4;
    auto prefetch = [&items, end](size_t i, auto step) {
      if (i >= end) return;
      if (items[i].service != nullptr) step(*items[i].service);
      if (items[i].endpoint != nullptr) step(*items[i].endpoint);
    };
    for (size_t i = begin; i < std::min(end, begin + kEntriesAhead); ++i) {
      prefetch(i, [](const ServiceEntry& series) { series.PrefetchEntry(); });
    }
    std::unique_lock lock(state_locks[shard]);
    for (size_t i = begin; i < end; ++i) {
      prefetch(i + kEntriesAhead, [](const ServiceEntry& series) { series.PrefetchEntry(); });
      prefetch(i + kStateAhead, [](const ServiceEntry& series) { series.PrefetchState(); });
      const QueuedSample& item = items[i];
      const std::shared_ptr<PendingCommit>& commit = item.commit;
      if (commit != nullptr && commit->forgets != nullptr) {
        publish();
        SubmitBatch(std::move(batch), std::move(shares));  // what came before goes first
        batch = WriteBatch();
        shares.clear();
        ProcessForget(commit);
        ++forgets;
        continue;
      }
      process(*item.service, item.sample);
      if (item.endpoint != nullptr) {
        process(*item.endpoint, item.sample);
        ListIfLagging(*item.endpoint);
      }
      if (commit != nullptr) {
        share(commit, item.service->id, 1);
        // The sample is settled once, with its service's share; its endpoint series' share
        // counts nothing and only says whether the store refused that series' data.
        if (item.endpoint != nullptr) share(commit, item.endpoint->id, 0);
      }
    }
    publish();
    // Submitted under the state lock, so a concurrent Reset's snapshot is always ordered after
    // the samples it reflects (no stored state is ever ahead of its samples).
    SubmitBatch(std::move(batch), std::move(shares));
  }
  processed.fetch_add(items.size() - forgets, std::memory_order_relaxed);
}

void Engine::Impl::SubmitBatch(WriteBatch&& batch, std::vector<CommitShare>&& shares) {
  if (batch.empty() && shares.empty()) return;
  StorageWriter::CommitCallback on_committed;
  if (!shares.empty()) {
    on_committed = [shares = std::move(shares)](const CommitReport& report) {
      // Refusals first: a submission settled by one share must already know that the store
      // refused a series of another (an endpoint series' share settles no sample of its own).
      for (const CommitShare& share : shares) {
        if (report.Refused(*share.series_id)) share.commit->refused = true;
      }
      const CommitResult result =
          report.committed ? CommitResult::kCommitted : CommitResult::kAbandoned;
      for (const CommitShare& share : shares) {
        if (share.count > 0) Settle(*share.commit, share.count, result);
      }
    };
  }
  writer.Submit(std::move(batch), std::move(on_committed));
}

void Engine::Impl::ProcessForget(const std::shared_ptr<PendingCommit>& forget) {
  ServiceEntry& service = *forget->forgets;
  service.forgotten = true;
  if (service.listed_as_lagging) {  // it writes nothing more
    std::erase(service.owning_service->lagging_endpoints, &service);
    service.listed_as_lagging = false;
  }
  service.PublishFigures();
  WriteBatch batch;
  batch.forgotten.push_back(*service.id);
  log::Notice("service '" + *service.id +
              "' is forgotten (DELETE /v1/services): its state, window, stored samples and "
              "events are deleted after " +
              std::to_string(service.seq()) + " samples");
  writer.Submit(std::move(batch), [this, forget, id = service.id](const CommitReport& report) {
    NotificationSink* sink = notification_sink.load();
    if (sink != nullptr && report.committed && !report.Refused(*id)) sink->Forgotten(*id);
    CommitResult result = CommitResult::kCommitted;
    if (report.Refused(*id)) {
      result = CommitResult::kRefused;
    } else if (!report.committed) {
      result = CommitResult::kAbandoned;
    }
    Settle(*forget, 1, result);
  });
  forget->forgets.reset();  // the service's last queued item: nothing refers to it any more
}

ServiceHealth Engine::Impl::HealthOf(const ServiceEntry& service) {
  ServiceHealth health;
  health.service_id = *service.id;
  health.state = service.monitor.state();
  health.sample_count = service.seq();
  health.baseline = service.monitor.baseline();
  health.window_samples = service.monitor.window().size();
  health.aged_out = service.monitor.aged_out();
  if (const auto& transition = service.monitor.last_transition()) {
    health.transition_timestamp_ms = transition->timestamp_ms;
    health.metadata_json = transition->metadata_json;
  }
  return health;
}

// ---------------------------------------------------------------------------------------------

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() { Stop(); }

Status Engine::Create(const Config& config, const DetectorSet& detectors, Store* store,
                      std::unique_ptr<Engine>* out) {
  if (!config.notify.targets.empty() && !store->HasOutbox()) {
    return Status::InvalidArgument(
        "notify.targets: the storage backend '" + std::string(store->name()) + "' " +
        std::string(store->version()) +
        " keeps no notification outbox (plugin ABI 1.2), so notifications could be lost; use a "
        "backend that has one (sqlite, memory, postgresql) or remove notify.targets");
  }
  auto impl = std::make_unique<Impl>(config, detectors, store);
  Status recovered = RecoverServices(*store, detectors, impl->registry, &impl->recovered_writes);
  if (!recovered.ok()) return recovered;
  // Recovery restored and replayed the services before any other thread could read them.
  for (const std::shared_ptr<ServiceEntry>& service : impl->registry.All()) {
    service->PublishFigures();
    impl->ListIfLagging(*service);
  }
  out->reset(new Engine(std::move(impl)));
  return Status::Ok();
}

void Engine::SetNotificationSink(NotificationSink* sink) { impl_->notification_sink = sink; }

void Engine::RecordNotificationUpdates(std::vector<StoredNotification>&& updates) {
  if (updates.empty()) return;
  WriteBatch batch;
  batch.notification_updates = std::move(updates);
  impl_->writer.Submit(std::move(batch));
}

Status Engine::Notifications(const Store::NotificationFilter& filter,
                             std::vector<StoredNotification>* out) const {
  out->clear();
  if (!impl_->store->HasOutbox()) return Status::Ok();  // a store without one has none
  Status status = impl_->store->ScanNotifications(
      filter, [out](StoredNotification&& row) { out->push_back(std::move(row)); });
  if (!status.ok()) out->clear();
  return status;
}

void Engine::Start() {
  Impl& impl = *impl_;
  if (impl.started) return;
  impl.started = true;
  impl.writer.Start();
  for (WriteBatch& batch : impl.recovered_writes) impl.writer.Submit(std::move(batch));
  impl.recovered_writes.clear();
  impl.queue.Start("dw-engine-");
  impl.accepting = true;
}

bool Engine::Stop() {
  Impl& impl = *impl_;
  if (!impl.started || impl.stopped) return true;
  impl.stopped = true;
  impl.accepting = false;
  impl.queue.Stop();
  // Snapshot every service that changed since its last snapshot, so a restart replays nothing.
  WriteBatch batch;
  for (const std::shared_ptr<ServiceEntry>& service : impl.registry.All()) {
    if (service->samples_since_snapshot > 0) impl.AddSnapshot(*service, batch);
  }
  impl.writer.Submit(std::move(batch));
  return impl.writer.Stop();
}

SubmitResult Engine::Submit(std::vector<IncomingSample>&& samples, CommitCallback on_committed) {
  Impl& impl = *impl_;
  const uint64_t count = samples.size();
  if (!impl.accepting) {
    impl.CountRejected(RejectReason::kShuttingDown, count);
    return SubmitResult::kShuttingDown;
  }
  if (!impl.writer.healthy()) {
    impl.CountRejected(RejectReason::kStorageUnavailable, count);
    return SubmitResult::kStorageUnavailable;
  }
  if (impl.writer.pending_samples() > kMaxWriterBacklogFactor * impl.queue.capacity() ||
      !impl.queue.Reserve(count)) {
    impl.rejected_queue_full.fetch_add(1, std::memory_order_relaxed);
    impl.CountRejected(RejectReason::kQueueFull, count);
    return SubmitResult::kQueueFull;
  }

  std::vector<SampleSeries> series;
  size_t overflowed = 0;
  IngestQueue::Actions actions;
  ServiceRegistry::Resolved resolved = ServiceRegistry::Resolved::kAll;
  const ServiceRegistry::Limits limits{impl.config.series.per_endpoint,
                                       impl.config.ingest.max_services,
                                       impl.config.series.max_endpoints_per_service};
  try {
    resolved = impl.registry.Resolve(samples, limits, &series, &overflowed, [&] {
      std::shared_ptr<PendingCommit> commit;
      if (on_committed) commit = std::make_shared<PendingCommit>(count, std::move(on_committed));
      std::vector<QueuedSample> queued;
      queued.reserve(count);
      for (size_t i = 0; i < samples.size(); ++i) {
        queued.push_back(
            QueuedSample{series[i].service, series[i].endpoint, samples[i].sample, commit});
      }
      actions = impl.queue.Enqueue(queued, count <= IngestQueue::kInlineItems);
    });
  } catch (const std::exception& e) {  // a detector could not create a series' state
    impl.queue.Unreserve(count);
    impl.RecordDetectorError(e.what());
    impl.CountRejected(RejectReason::kDetectorFailure, count);
    return SubmitResult::kDetectorFailure;
  }
  if (resolved == ServiceRegistry::Resolved::kTooManyServices) {
    impl.queue.Unreserve(count);
    impl.rejected_too_many_services.fetch_add(1, std::memory_order_relaxed);
    impl.CountRejected(RejectReason::kTooManyServices, count);
    return SubmitResult::kTooManyServices;
  }
  if (overflowed > 0) impl.endpoint_overflow.fetch_add(overflowed, std::memory_order_relaxed);
  impl.accepted.fetch_add(count, std::memory_order_relaxed);
  impl.queue.Dispatch(actions);
  return SubmitResult::kAccepted;
}

Engine::ForgetResult Engine::Forget(const std::string& service_id, CommitCallback on_forgotten) {
  Impl& impl = *impl_;
  if (!impl.accepting) return ForgetResult::kShuttingDown;
  if (!impl.store->CanForget()) return ForgetResult::kNotSupported;
  if (!impl.writer.healthy()) return ForgetResult::kStorageUnavailable;
  IngestQueue::Actions actions;
  const bool known =
      impl.registry.Remove(service_id, [&](std::vector<std::shared_ptr<ServiceEntry>> removed) {
        // One forget per series, each queued after that series' samples; the caller hears once
        // all of them are done. A later sample of the id makes a new series, queued after this.
        auto all = std::make_shared<PendingCommit>(
            removed.size(), on_forgotten ? std::move(on_forgotten) : [](CommitResult) {});
        std::vector<QueuedSample> items;
        for (std::shared_ptr<ServiceEntry>& entry : removed) {
          auto forget = std::make_shared<PendingCommit>(
              1, [all](CommitResult result) { Settle(*all, 1, result); });
          forget->forgets = std::move(entry);
          items.push_back(QueuedSample{forget->forgets.get(), nullptr, Sample{}, forget});
        }
        impl.queue.Reserve(items.size(), /*beyond_capacity=*/true);
        actions = impl.queue.Enqueue(items, false);
      });
  if (!known) return ForgetResult::kUnknown;
  impl.queue.Dispatch(actions);
  return ForgetResult::kForgetting;
}

void Engine::WaitIdle() { impl_->queue.WaitIdle(); }

bool Engine::HasService(const std::string& service_id) const {
  return impl_->registry.Find(service_id) != nullptr;
}

bool Engine::GetHealth(const std::string& service_id, ServiceHealth* out) const {
  const std::shared_ptr<ServiceEntry> service = impl_->registry.Find(service_id);
  if (service == nullptr) return false;
  std::shared_lock lock(impl_->state_locks[service->shard]);
  if (service->forgotten) return false;
  *out = Impl::HealthOf(*service);
  return true;
}

std::vector<ServiceHealth> Engine::ListServices(bool with_endpoint_series,
                                                std::string_view service_id) const {
  Impl& impl = *impl_;
  const std::vector<std::shared_ptr<ServiceEntry>> services = impl.registry.All();
  std::vector<ServiceHealth> list;
  list.reserve(services.size());
  {
    std::vector<std::shared_lock<std::shared_mutex>> locks;
    for (std::shared_mutex& state : impl.state_locks) locks.emplace_back(state);
    for (const std::shared_ptr<ServiceEntry>& service : services) {
      if (service->forgotten || (service->endpoint_series && !with_endpoint_series)) continue;
      if (!service_id.empty() && SplitSeriesKey(*service->id).service_id != service_id) continue;
      list.push_back(Impl::HealthOf(*service));
    }
  }
  std::sort(list.begin(), list.end(), [](const ServiceHealth& a, const ServiceHealth& b) {
    return a.service_id < b.service_id;
  });
  return list;
}

bool Engine::Reset(const std::string& service_id, int64_t timestamp_ms) {
  Impl& impl = *impl_;
  const std::shared_ptr<ServiceEntry> service = impl.registry.Find(service_id);
  if (service == nullptr) return false;
  std::unique_lock lock(impl.state_locks[service->shard]);
  if (service->forgotten) return false;  // a forget processed meanwhile
  const std::optional<StoredEvent> drift = impl.DriftToEnd(*service);
  const Baseline baseline = service->monitor.baseline();  // what the reset ends
  Transition transition = service->monitor.Reset(timestamp_ms);
  impl.CountTransition(service->shard, transition.reason);
  WriteBatch batch;
  batch.events.push_back(service->EventOf(transition));
  impl.planner.Plan(batch.events.back(), drift ? &*drift : nullptr, baseline, NowMs(),
                    &batch.notifications);
  // A reset is not in the sample log, so the snapshot is what makes it survive a restart.
  impl.AddSnapshot(*service, batch);
  impl.writer.Submit(std::move(batch));
  service->PublishFigures();
  return true;
}

Status Engine::StoredSamples(const std::string& service_id, uint64_t after_seq,
                             const std::function<void(const StoredSample&)>& visit) {
  return impl_->store->ScanSamples(service_id, after_seq, visit);
}

Status Engine::Events(const std::string& service_id, uint32_t limit,
                      std::vector<StoredEvent>* out) {
  Impl& impl = *impl_;
  out->clear();
  // Pending first: an event committed between the two reads then shows up in both, never in
  // neither; duplicates are dropped below.
  std::vector<StoredEvent> pending = impl.writer.PendingEvents(service_id);
  std::vector<StoredEvent> stored;
  Status status = impl.store->QueryEvents(service_id, limit, &stored);
  if (!status.ok()) return status;
  auto same = [](const StoredEvent& a, const StoredEvent& b) {
    return a.seq == b.seq && a.to_state == b.to_state && a.reason == b.reason &&
           a.timestamp_ms == b.timestamp_ms;
  };
  for (auto it = pending.rbegin(); it != pending.rend() && out->size() < limit; ++it) {
    out->push_back(std::move(*it));
  }
  const size_t from_pending = out->size();
  for (StoredEvent& event : stored) {
    if (out->size() >= limit) break;
    bool duplicate = false;
    for (size_t i = 0; i < from_pending && !duplicate; ++i) duplicate = same((*out)[i], event);
    if (!duplicate) out->push_back(std::move(event));
  }
  return Status::Ok();
}

EngineStatus Engine::GetStatus() const {
  const Impl& impl = *impl_;
  EngineStatus status;
  status.services_monitored = impl.registry.size();
  status.samples_accepted = impl.accepted.load();
  status.samples_processed = impl.processed.load();
  status.queue_depth = impl.queue.depth();
  status.queue_capacity = impl.queue.capacity();
  status.rejected_queue_full = impl.rejected_queue_full.load();
  status.rejected_too_many_services = impl.rejected_too_many_services.load();
  status.endpoint_overflow = impl.endpoint_overflow.load();
  status.storage_pending_samples = impl.writer.pending_samples();
  status.storage_healthy = impl.writer.healthy();
  status.storage_error = impl.writer.last_error();
  status.refused_samples = impl.writer.refused_samples();
  status.refused_events = impl.writer.refused_events();
  status.last_refusal = impl.writer.last_refusal();
  status.refused_file = impl.writer.refused_path();
  std::lock_guard lock(impl.error_mutex);
  status.detector_errors = impl.detector_errors;
  status.last_detector_error = impl.last_detector_error;
  return status;
}

const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kQueueFull:
      return "queue_full";
    case RejectReason::kStorageUnavailable:
      return "storage_unavailable";
    case RejectReason::kTooManyServices:
      return "too_many_services";
    case RejectReason::kShuttingDown:
      return "shutting_down";
    case RejectReason::kDetectorFailure:
      return "detector_failure";
  }
  return "unknown";
}

EngineMetrics Engine::GetMetrics() const {
  const Impl& impl = *impl_;
  EngineMetrics metrics;
  for (size_t i = 0; i < kRejectReasons; ++i) {
    metrics.samples_rejected[i] = impl.rejected_samples[i].load(std::memory_order_relaxed);
  }
  for (const Impl::TransitionCounts& counts : impl.transitions_by_reason) {
    std::lock_guard lock(counts.mutex);
    for (const auto& [reason, count] : counts.by_reason) metrics.drift_events[reason] += count;
  }
  {
    std::lock_guard lock(impl.error_mutex);
    metrics.detector_errors = impl.detector_errors_by_name;
  }
  metrics.commit_durations = impl.writer.commit_durations();
  return metrics;
}

std::vector<ServiceMetrics> Engine::CollectServiceMetrics(LockHoldTimes* holds) const {
  const Impl& impl = *impl_;
  std::vector<ServiceMetrics> out;
  // Room for series added during the listing too, so that it rarely grows under the lock.
  const size_t known = impl.registry.size();
  out.reserve(known + known / 8 + kSeriesPerRegistryHold);
  HoldTimer timer(holds);
  uint64_t rereads = 0;
  impl.registry.VisitInRuns(
      kSeriesPerRegistryHold,
      [&](const ServiceEntry& service) {
        ServiceMetrics& metrics = out.emplace_back();
        rereads += service.figures.Read(&metrics);
        if (metrics.forgotten) {
          out.pop_back();
          return;
        }
        metrics.service_id = service.id;
      },
      [&] {
        out.clear();
        if (holds != nullptr) ++holds->listing_restarts;
      },
      [&](bool taken) {
        if (taken) {
          timer.Taken();
        } else {
          timer.Released();
        }
      });
  if (holds != nullptr) holds->figure_rereads += rereads;
  return out;
}

}  // namespace driftwatch
