#include "core/engine.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/monitor_snapshot.h"
#include "core/storage_writer.h"
#include "core/thread_name.h"
#include "core/timestamp.h"

namespace driftwatch {
namespace {

// Samples processed per hold of a shard's state lock, so reads never wait long behind a burst.
constexpr size_t kSamplesPerLock = 512;
// A submission of at most this many samples is processed by the submitting thread itself when no
// other thread is processing its shard: no hand-off, so no context switch per request.
constexpr size_t kInlineSamples = 64;
// A submitting thread processes at most this many samples (its own and any queued behind them)
// before it hands the rest to the shard's worker, so an HTTP thread is never held for long.
constexpr size_t kInlineBudget = 256;
// A shard keeps a buffer of its queue up to this many samples; a larger one, left by a burst, is
// freed once processed.
constexpr size_t kKeptQueueCapacity = 4096;
// The writer may fall this many samples behind the engine before ingest answers 503.
constexpr size_t kMaxWriterBacklogFactor = 4;
// How far back a rebuild looks for the service's last reset.
constexpr uint32_t kMaxEventsScannedForReset = 10000;
// Data the store refuses for good is set aside in a file named after the store's (`<path>` +
// this), an operator's to read and re-send (docs/operations.md, "Refused data").
constexpr const char* kRefusedFileSuffix = ".refused.jsonl";

}  // namespace

// One monitored service, shared by the registry and whoever reads it. A forgotten one (DELETE)
// leaves the registry at once, and lives on until the samples queued for it before are processed.
struct ServiceEntry {
  ServiceEntry(std::string service_id, size_t shard_index, const BaselineParams& params,
               const DetectorSet& detectors)
      : id(std::make_shared<const std::string>(std::move(service_id))),
        shard(shard_index),
        monitor(params, detectors) {}

  // The stored seq of the monitor's n-th sample is seq_offset + n. It is non-zero only when a
  // service's state was rebuilt from a log whose oldest samples retention had already purged.
  uint64_t seq() const { return seq_offset + monitor.sample_count(); }

  const ServiceId id;
  const size_t shard;
  ServiceMonitor monitor;               // guarded by the shard's state_mutex
  uint64_t seq_offset = 0;              // guarded by the shard's state_mutex
  uint32_t samples_since_snapshot = 0;  // guarded by the shard's state_mutex
  // Guarded by the shard's state_mutex: its forget was processed, so it must write nothing more
  // (a reset would bring it back to the store); reads and resets find no such service.
  bool forgotten = false;
};

namespace {

// An accepted submission whose caller waits for its commit (durable ingest), shared by its
// samples until they are settled: the last of them to be settled reports.
// A forget (DELETE) travels through the service's shard queue as one item with a PendingCommit
// whose `forgets` is set, so that it comes after every sample accepted for the service before it
// and before every sample accepted after it.
struct PendingCommit {
  PendingCommit(uint64_t samples, Engine::CommitCallback callback)
      : unsettled(samples), done(std::move(callback)) {}
  std::atomic<uint64_t> unsettled;
  std::atomic<bool> refused{false};
  std::atomic<bool> abandoned{false};
  const Engine::CommitCallback done;
  std::shared_ptr<ServiceEntry> forgets;  // set on a forget: the service it forgets
};

// `count` samples of `commit` were settled with `result`.
void Settle(PendingCommit& commit, uint64_t count, Engine::CommitResult result) {
  if (result == Engine::CommitResult::kRefused) commit.refused = true;
  if (result == Engine::CommitResult::kAbandoned) commit.abandoned = true;
  if (commit.unsettled.fetch_sub(count) != count) return;
  // A refusal is the more useful answer: a client may send again what was abandoned, while what
  // was refused waits for an operator.
  if (commit.refused) {
    commit.done(Engine::CommitResult::kRefused);
  } else {
    commit.done(commit.abandoned ? Engine::CommitResult::kAbandoned
                                 : Engine::CommitResult::kCommitted);
  }
}

// `count` consecutive samples of one service in a write batch, of a submission that waits.
struct CommitShare {
  std::shared_ptr<PendingCommit> commit;
  ServiceId service_id;
  uint64_t count;
};

// `service` stays valid while the item is queued: a forgotten service lives until its forget,
// queued after its samples, is processed.
struct QueuedSample {
  ServiceEntry* service;
  Sample sample;
  std::shared_ptr<PendingCommit> commit;  // set when the submitter waits for the commit
};

// The services with the same hash of their id, their queue, and the worker thread that processes
// what the submitting threads leave to it. One thread at a time processes a shard (`busy`), taking
// its queue in order, so each service's samples are processed in the order they were accepted.
struct Shard {
  std::mutex queue_mutex;
  std::condition_variable queue_wake;  // the worker: samples it should take, or stop
  std::vector<QueuedSample> queue;     // guarded by queue_mutex
  bool busy = false;                   // guarded by queue_mutex: a thread is processing the shard
  // What that thread took from the queue; swapped with it, so the two buffers are reused instead
  // of allocating one for every submission.
  std::vector<QueuedSample> taken;
  bool stopping = false;          // guarded by queue_mutex
  std::shared_mutex state_mutex;  // exclusive: processing; shared: reads
  std::thread worker;
};

StoredEvent MakeEvent(const ServiceEntry& service, const Transition& transition) {
  StoredEvent event;
  event.service_id = *service.id;
  event.seq = service.seq_offset + transition.seq;
  event.timestamp_ms = transition.timestamp_ms;
  event.from_state = ServiceStateName(transition.from);
  event.to_state = ServiceStateName(transition.to);
  event.reason = transition.reason;
  event.metadata_json = transition.metadata_json;
  return event;
}

// {"reason": ..., "old_pipeline": "a, b, c" (when known), "new_pipeline": ..., "error": ...}.
std::string RebuildMetadata(const std::string& reason, const std::string& old_pipeline,
                            const std::string& new_pipeline, const std::string& error) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("reason");
  writer.String(reason.c_str());
  if (!old_pipeline.empty()) {
    writer.Key("old_pipeline");
    writer.String(old_pipeline.c_str());
  }
  writer.Key("new_pipeline");
  writer.String(new_pipeline.c_str());
  writer.Key("error");
  writer.String(error.c_str());
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

struct Engine::Impl {
  Impl(const Config& engine_config, const DetectorSet& detector_set, Store* storage)
      : config(engine_config),
        detectors(detector_set),
        store(storage),
        writer(storage,
               StorageWriterOptions{
                   .commit_interval_ms = engine_config.storage.commit_interval_ms,
                   .telemetry_retention_days = engine_config.retention.telemetry_days,
                   .events_retention_days = engine_config.retention.events_days,
                   .refused_path = engine_config.storage.path + kRefusedFileSuffix,
               }),
        shards(std::max(1u, std::thread::hardware_concurrency() / 2)) {}

  Status Restore();
  Status RestoreService(const std::string& id, const StoredSnapshot* snapshot, uint64_t max_seq);
  void RecordRebuild(ServiceEntry& service, const StoredSnapshot& snapshot, const std::string& why);
  ServiceEntry* AddService(const std::string& id);  // registry_mutex held exclusively
  std::shared_ptr<ServiceEntry> FindService(const std::string& id) const;
  void Work(Shard& shard);
  // Processes the shard's queue until it is empty, or until `budget` samples are done and the rest
  // is handed to the worker. The caller has set shard.busy; Drain clears it.
  void Drain(Shard& shard, size_t budget);
  void ProcessTaken(Shard& shard, const std::vector<QueuedSample>& taken);
  // Hands the writer what ProcessTaken gathered, with a callback for the waiting submissions.
  void SubmitBatch(WriteBatch&& batch, std::vector<CommitShare>&& shares);
  // Processes a forget: the service writes nothing more, and the store is told to forget it.
  void ProcessForget(const std::shared_ptr<PendingCommit>& forget);
  // Queues `samples` (resolved) on their shards, registry_mutex held in either mode; says which
  // shards the caller must then wake (1) or process itself (2).
  void Enqueue(const std::vector<QueuedSample>& samples, bool inline_allowed,
               std::vector<uint8_t>* actions);
  // Wakes or processes the shards as Enqueue said, with no lock held.
  void Dispatch(const std::vector<uint8_t>& actions);
  void ProcessOne(ServiceEntry& service, const Sample& sample, WriteBatch& batch);
  void AddSnapshot(ServiceEntry& service, WriteBatch& batch);
  void RecordDetectorError(const std::string& message);
  ServiceHealth HealthOf(const ServiceEntry& service) const;

  const Config config;
  const DetectorSet& detectors;
  Store* store;
  StorageWriter writer;
  std::vector<Shard> shards;

  // Held (in either mode) from finding a sample's service to queueing the sample, so a forget,
  // which takes it exclusively, is queued after every sample of the service it forgets.
  mutable std::shared_mutex registry_mutex;
  std::unordered_map<std::string, std::shared_ptr<ServiceEntry>> services;

  std::atomic<bool> accepting{false};
  std::atomic<uint64_t> queued{0};  // accepted, not yet processed
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> processed{0};
  std::atomic<uint64_t> rejected_queue_full{0};
  std::atomic<uint64_t> rejected_too_many_services{0};
  std::mutex idle_mutex;
  std::condition_variable idle;

  mutable std::mutex error_mutex;
  uint64_t detector_errors = 0;     // guarded by error_mutex
  std::string last_detector_error;  // guarded by error_mutex
  bool started = false;
  // Written once the writer starts: what start-up found to record (rebuilt services' events).
  std::vector<WriteBatch> restored_batches;
  bool stopped = false;
};

ServiceEntry* Engine::Impl::AddService(const std::string& id) {
  const size_t shard = std::hash<std::string>{}(id) % shards.size();
  auto entry = std::make_shared<ServiceEntry>(id, shard, config.baseline, detectors);
  ServiceEntry* raw = entry.get();
  services.emplace(id, std::move(entry));
  return raw;
}

std::shared_ptr<ServiceEntry> Engine::Impl::FindService(const std::string& id) const {
  std::shared_lock lock(registry_mutex);
  auto it = services.find(id);
  return it == services.end() ? nullptr : it->second;
}

Status Engine::Impl::RestoreService(const std::string& id, const StoredSnapshot* snapshot,
                                    uint64_t max_seq) {
  ServiceEntry* service = AddService(id);
  uint64_t after_seq = 0;
  bool rebuild = snapshot == nullptr;
  std::string rebuild_reason;  // why a saved state was not used
  if (snapshot != nullptr) {
    Status restored = service->monitor.Restore(snapshot->data);
    if (restored.ok()) {
      after_seq = snapshot->last_seq;
      service->seq_offset = snapshot->last_seq - service->monitor.sample_count();
    } else {
      // Typically the detector pipeline changed since the snapshot. Rebuild the service under
      // the new pipeline from its stored samples since its last reset (resets are not samples).
      std::fprintf(stderr, "driftwatch: service '%s': %s; rebuilding it from its stored samples\n",
                   id.c_str(), restored.message().c_str());
      rebuild = true;
      rebuild_reason = restored.message();
      std::vector<StoredEvent> events;
      Status queried = store->QueryEvents(id, kMaxEventsScannedForReset, &events);
      if (!queried.ok()) return queried;
      for (const StoredEvent& event : events) {
        if (event.reason == "reset") {
          after_seq = event.seq;
          break;
        }
      }
    }
  }
  // Replay the samples committed after the snapshot: the engine is deterministic, so this
  // rebuilds exactly the state the service had when they were processed.
  bool first = true;
  Status scanned = store->ScanSamples(id, after_seq, [&](const StoredSample& stored) {
    if (first && rebuild) service->seq_offset = stored.seq - 1;
    first = false;
    service->monitor.Process(Sample{stored.timestamp_ms, stored.latency_ms, stored.payload_kb});
    ++service->samples_since_snapshot;
  });
  // Samples the store refused and the writer set aside leave gaps in the stored seqs, so a replay
  // may count fewer samples than the highest stored seq: new seqs must still rise above it, or the
  // store would refuse every new sample of the service until they did.
  if (scanned.ok() && service->seq() < max_seq) service->seq_offset += max_seq - service->seq();
  if (scanned.ok() && !rebuild_reason.empty()) RecordRebuild(*service, *snapshot, rebuild_reason);
  return scanned;
}

// A service rebuilt from its samples because its saved state did not fit (typically: the detector
// pipeline changed). The rebuild is an event of its own, so that GET /v1/health, which shows the
// rebuilt state, and the last event of GET /v1/events agree (docs/behaviour.md, Decisions where the
// contract is silent). The replay's own transitions are not events: the history stays what
// happened.
void Engine::Impl::RecordRebuild(ServiceEntry& service, const StoredSnapshot& snapshot,
                                 const std::string& why) {
  MonitorSnapshot saved;
  const bool readable = DecodeSnapshot(snapshot.data, &saved).ok();
  std::string old_pipeline;
  for (const auto& [name, state] : saved.detectors) {
    old_pipeline += (old_pipeline.empty() ? "" : ", ") + name;
  }
  std::string new_pipeline;
  for (const auto& trigger : detectors.triggers) {
    new_pipeline += (new_pipeline.empty() ? "" : ", ") + std::string(trigger->name());
  }
  new_pipeline += ", " + std::string(detectors.recovery->name());
  const bool pipeline_changed = readable && old_pipeline != new_pipeline;
  Transition transition;
  transition.from = readable ? saved.state : service.monitor.state();
  transition.to = service.monitor.state();
  transition.reason = pipeline_changed ? "pipeline_changed" : "state_rebuilt";
  transition.timestamp_ms = NowMs();
  transition.seq = service.monitor.sample_count();
  transition.metadata_json =
      RebuildMetadata(transition.reason, pipeline_changed ? old_pipeline : "", new_pipeline, why);
  service.monitor.SetLastTransition(transition);
  WriteBatch batch;
  batch.events.push_back(MakeEvent(service, transition));
  AddSnapshot(service, batch);  // the next start restores instead of rebuilding again
  restored_batches.push_back(std::move(batch));
}

Status Engine::Impl::Restore() {
  Status failure;
  std::unique_lock lock(registry_mutex);
  Status scanned = store->ScanServices(
      [&](const std::string& id, const StoredSnapshot* snapshot, uint64_t max_seq) {
        if (!failure.ok()) return;
        failure = RestoreService(id, snapshot, max_seq);
      });
  if (!scanned.ok()) return scanned;
  return failure;
}

void Engine::Impl::RecordDetectorError(const std::string& message) {
  std::lock_guard lock(error_mutex);
  if (message != last_detector_error) std::fprintf(stderr, "driftwatch: %s\n", message.c_str());
  ++detector_errors;
  last_detector_error = message;
}

void Engine::Impl::AddSnapshot(ServiceEntry& service, WriteBatch& batch) {
  StoredSnapshot snapshot;
  snapshot.service_id = *service.id;
  snapshot.last_seq = service.seq();
  Status saved = service.monitor.Save(&snapshot.data);
  if (!saved.ok()) {
    RecordDetectorError("service '" + *service.id + "': cannot save state: " + saved.message());
    return;  // the sample log still has everything; the next snapshot will try again
  }
  batch.snapshots.push_back(std::move(snapshot));
  service.samples_since_snapshot = 0;
}

void Engine::Impl::ProcessOne(ServiceEntry& service, const Sample& sample, WriteBatch& batch) {
  ProcessResult result = service.monitor.Process(sample);
  batch.samples.push_back(StoredSample{service.id, service.seq(), sample.timestamp_ms,
                                       sample.latency_ms, sample.payload_kb});
  if (!result.detector_error.empty()) {
    RecordDetectorError("service '" + *service.id + "': " + result.detector_error);
  }
  ++service.samples_since_snapshot;
  if (result.transition) {
    batch.events.push_back(MakeEvent(service, *result.transition));
    AddSnapshot(service, batch);  // transitions are rare: a cheap point to bound replay
  } else if (service.samples_since_snapshot >= config.storage.snapshot_every) {
    AddSnapshot(service, batch);
  }
}

void Engine::Impl::Work(Shard& shard) {
  for (;;) {
    {
      std::unique_lock lock(shard.queue_mutex);
      shard.queue_wake.wait(
          lock, [&] { return !shard.busy && (!shard.queue.empty() || shard.stopping); });
      if (shard.queue.empty()) return;  // stopping, and everything is processed
      shard.busy = true;
    }
    Drain(shard, std::numeric_limits<size_t>::max());
  }
}

void Engine::Impl::Drain(Shard& shard, size_t budget) {
  std::vector<QueuedSample>& taken = shard.taken;
  for (;;) {
    {
      std::unique_lock lock(shard.queue_mutex);
      if (shard.queue.empty() || budget == 0) {
        shard.busy = false;
        // The worker waits for the shard to be free: for what is left, or to stop.
        const bool wake = !shard.queue.empty() || shard.stopping;
        lock.unlock();
        if (wake) shard.queue_wake.notify_one();
        return;
      }
      taken.swap(shard.queue);
    }
    budget -= std::min(budget, taken.size());
    ProcessTaken(shard, taken);
    taken.clear();
    if (taken.capacity() > kKeptQueueCapacity) taken = {};  // after a burst: not kept for ever
  }
}

void Engine::Impl::ProcessTaken(Shard& shard, const std::vector<QueuedSample>& taken) {
  size_t forgets = 0;
  for (size_t begin = 0; begin < taken.size(); begin += kSamplesPerLock) {
    const size_t end = std::min(taken.size(), begin + kSamplesPerLock);
    WriteBatch batch;
    batch.samples.reserve(end - begin);
    // The waiting submissions with samples in this batch: how many, of which service (the store
    // may refuse one service's data and commit the rest). A submission's samples are next to each
    // other in a shard's queue.
    std::vector<CommitShare> shares;
    std::unique_lock lock(shard.state_mutex);
    for (size_t i = begin; i < end; ++i) {
      const std::shared_ptr<PendingCommit>& commit = taken[i].commit;
      if (commit != nullptr && commit->forgets != nullptr) {
        SubmitBatch(std::move(batch), std::move(shares));  // what came before goes first
        batch = WriteBatch();
        shares.clear();
        ProcessForget(commit);
        ++forgets;
        continue;
      }
      ServiceEntry& service = *taken[i].service;
      ProcessOne(service, taken[i].sample, batch);
      if (commit != nullptr) {
        if (shares.empty() || shares.back().commit != commit ||
            shares.back().service_id != service.id) {
          shares.push_back({commit, service.id, 0});
        }
        ++shares.back().count;
      }
    }
    // Submitted under the state lock, so a concurrent Reset's snapshot is always ordered after
    // the samples it reflects (no stored state is ever ahead of its samples).
    SubmitBatch(std::move(batch), std::move(shares));
  }
  processed.fetch_add(taken.size() - forgets, std::memory_order_relaxed);
  if (queued.fetch_sub(taken.size()) == taken.size()) {
    std::lock_guard lock(idle_mutex);
    idle.notify_all();
  }
}

void Engine::Impl::SubmitBatch(WriteBatch&& batch, std::vector<CommitShare>&& shares) {
  if (batch.empty() && shares.empty()) return;
  StorageWriter::CommitCallback on_committed;
  if (!shares.empty()) {
    on_committed = [shares = std::move(shares)](const CommitReport& report) {
      for (const CommitShare& share : shares) {
        CommitResult result = CommitResult::kCommitted;
        if (report.Refused(*share.service_id)) {
          result = CommitResult::kRefused;
        } else if (!report.committed) {
          result = CommitResult::kAbandoned;
        }
        Settle(*share.commit, share.count, result);
      }
    };
  }
  writer.Submit(std::move(batch), std::move(on_committed));
}

void Engine::Impl::ProcessForget(const std::shared_ptr<PendingCommit>& forget) {
  ServiceEntry& service = *forget->forgets;
  service.forgotten = true;
  WriteBatch batch;
  batch.forgotten.push_back(*service.id);
  std::fprintf(stderr,
               "driftwatch: service '%s' is forgotten (DELETE /v1/services): its state, window, "
               "stored samples and events are deleted after %llu samples\n",
               service.id->c_str(), static_cast<unsigned long long>(service.seq()));
  writer.Submit(std::move(batch), [forget, id = service.id](const CommitReport& report) {
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

ServiceHealth Engine::Impl::HealthOf(const ServiceEntry& service) const {
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
  auto impl = std::make_unique<Impl>(config, detectors, store);
  Status restored;
  try {
    restored = impl->Restore();
  } catch (const std::exception& e) {  // a detector that cannot create an empty state
    restored = Status::Error(e.what());
  }
  if (!restored.ok()) return restored;
  out->reset(new Engine(std::move(impl)));
  return Status::Ok();
}

void Engine::Start() {
  Impl& impl = *impl_;
  if (impl.started) return;
  impl.started = true;
  impl.writer.Start();
  for (WriteBatch& batch : impl.restored_batches) impl.writer.Submit(std::move(batch));
  impl.restored_batches.clear();
  for (size_t index = 0; index < impl.shards.size(); ++index) {
    Shard& shard = impl.shards[index];
    shard.worker = std::thread([&impl, &shard, index] {
      NameThisThread("dw-engine-" + std::to_string(index));
      impl.Work(shard);
    });
  }
  impl.accepting = true;
}

bool Engine::Stop() {
  Impl& impl = *impl_;
  if (!impl.started || impl.stopped) return true;
  impl.stopped = true;
  impl.accepting = false;
  for (Shard& shard : impl.shards) {
    {
      std::lock_guard lock(shard.queue_mutex);
      shard.stopping = true;
    }
    shard.queue_wake.notify_all();
  }
  for (Shard& shard : impl.shards) shard.worker.join();
  // Snapshot every service that changed since its last snapshot, so a restart replays nothing.
  WriteBatch batch;
  {
    std::shared_lock registry(impl.registry_mutex);
    for (auto& [id, service] : impl.services) {
      if (service->samples_since_snapshot > 0) impl.AddSnapshot(*service, batch);
    }
  }
  impl.writer.Submit(std::move(batch));
  return impl.writer.Stop();
}

SubmitResult Engine::Submit(std::vector<IncomingSample>&& samples, CommitCallback on_committed) {
  Impl& impl = *impl_;
  if (!impl.accepting) return SubmitResult::kShuttingDown;
  if (!impl.writer.healthy()) return SubmitResult::kStorageUnavailable;
  const uint64_t count = samples.size();
  const uint64_t capacity = impl.config.ingest.queue_capacity;
  if (impl.writer.pending_samples() > kMaxWriterBacklogFactor * capacity) {
    impl.rejected_queue_full.fetch_add(1, std::memory_order_relaxed);
    return SubmitResult::kQueueFull;
  }
  // Reserve room first, so concurrent submitters never overshoot the capacity.
  if (impl.queued.fetch_add(count) + count > capacity) {
    impl.queued.fetch_sub(count);
    impl.rejected_queue_full.fetch_add(1, std::memory_order_relaxed);
    return SubmitResult::kQueueFull;
  }

  std::shared_ptr<PendingCommit> commit;
  if (on_committed) commit = std::make_shared<PendingCommit>(count, std::move(on_committed));
  std::vector<QueuedSample> resolved;
  resolved.reserve(samples.size());
  std::vector<uint8_t> actions;
  {
    std::shared_lock shared(impl.registry_mutex);
    bool unknown = false;  // a sample of a service not seen before
    ServiceEntry* last = nullptr;
    for (const IncomingSample& incoming : samples) {
      if (last == nullptr || *last->id != incoming.service_id) {
        auto it = impl.services.find(incoming.service_id);
        last = it == impl.services.end() ? nullptr : it->second.get();
      }
      unknown = unknown || last == nullptr;
      resolved.push_back(QueuedSample{last, incoming.sample, commit});
    }
    if (!unknown) {
      impl.Enqueue(resolved, count <= kInlineSamples, &actions);
    } else {
      // Services are added under the exclusive lock, and every sample is looked up again under
      // it: a service found above may have been forgotten since.
      shared.unlock();
      std::unique_lock exclusive(impl.registry_mutex);
      std::unordered_set<std::string_view> fresh;  // distinct services this batch would add
      for (const IncomingSample& incoming : samples) {
        if (!impl.services.contains(incoming.service_id)) fresh.insert(incoming.service_id);
      }
      if (impl.services.size() + fresh.size() > impl.config.ingest.max_services) {
        exclusive.unlock();
        impl.queued.fetch_sub(count);
        impl.rejected_too_many_services.fetch_add(1, std::memory_order_relaxed);
        return SubmitResult::kTooManyServices;
      }
      try {
        for (size_t i = 0; i < samples.size(); ++i) {
          auto it = impl.services.find(samples[i].service_id);
          resolved[i].service =
              it == impl.services.end() ? impl.AddService(samples[i].service_id) : it->second.get();
        }
      } catch (const std::exception& e) {  // a detector could not create a service's state
        exclusive.unlock();
        impl.queued.fetch_sub(count);
        impl.RecordDetectorError(e.what());
        return SubmitResult::kDetectorFailure;
      }
      impl.Enqueue(resolved, count <= kInlineSamples, &actions);
    }
  }
  impl.accepted.fetch_add(count, std::memory_order_relaxed);
  impl.Dispatch(actions);
  return SubmitResult::kAccepted;
}

// Hands each shard its samples in one go, in order. A small submission to a shard nobody is
// processing is processed by the submitting thread (after Dispatch); otherwise the thread
// processing the shard takes them (the worker is woken only when no thread is).
void Engine::Impl::Enqueue(const std::vector<QueuedSample>& samples, bool inline_allowed,
                           std::vector<uint8_t>* actions) {
  actions->assign(shards.size(), 0);
  for (size_t index = 0; index < shards.size(); ++index) {
    Shard& shard = shards[index];
    std::lock_guard lock(shard.queue_mutex);
    const size_t before = shard.queue.size();
    for (const QueuedSample& item : samples) {
      if (item.service->shard == index) shard.queue.push_back(item);
    }
    if (shard.queue.size() > before && !shard.busy) {
      shard.busy = inline_allowed;
      (*actions)[index] = inline_allowed ? 2 : 1;
    }
  }
}

void Engine::Impl::Dispatch(const std::vector<uint8_t>& actions) {
  for (size_t index = 0; index < shards.size(); ++index) {
    if (actions[index] == 1) shards[index].queue_wake.notify_one();
    if (actions[index] == 2) Drain(shards[index], kInlineBudget);
  }
}

Engine::ForgetResult Engine::Forget(const std::string& service_id, CommitCallback on_forgotten) {
  Impl& impl = *impl_;
  if (!impl.accepting) return ForgetResult::kShuttingDown;
  if (!impl.store->CanForget()) return ForgetResult::kNotSupported;
  if (!impl.writer.healthy()) return ForgetResult::kStorageUnavailable;
  auto forget = std::make_shared<PendingCommit>(
      1, on_forgotten ? std::move(on_forgotten) : [](CommitResult) {});
  std::vector<uint8_t> actions;
  {
    std::unique_lock lock(impl.registry_mutex);
    auto it = impl.services.find(service_id);
    if (it == impl.services.end()) return ForgetResult::kUnknown;
    forget->forgets = std::move(it->second);
    impl.services.erase(it);
    // A later sample of the id makes a new service, whose samples queue after this.
    impl.queued.fetch_add(1);
    impl.Enqueue({QueuedSample{forget->forgets.get(), Sample{}, forget}}, false, &actions);
  }
  impl.Dispatch(actions);
  return ForgetResult::kForgetting;
}

void Engine::WaitIdle() {
  Impl& impl = *impl_;
  std::unique_lock lock(impl.idle_mutex);
  impl.idle.wait(lock, [&] { return impl.queued.load() == 0; });
}

bool Engine::HasService(const std::string& service_id) const {
  return impl_->FindService(service_id) != nullptr;
}

bool Engine::GetHealth(const std::string& service_id, ServiceHealth* out) const {
  const std::shared_ptr<ServiceEntry> service = impl_->FindService(service_id);
  if (service == nullptr) return false;
  std::shared_lock lock(impl_->shards[service->shard].state_mutex);
  if (service->forgotten) return false;
  *out = impl_->HealthOf(*service);
  return true;
}

std::vector<ServiceHealth> Engine::ListServices() const {
  Impl& impl = *impl_;
  std::vector<ServiceHealth> list;
  std::shared_lock registry(impl.registry_mutex);
  std::vector<std::shared_lock<std::shared_mutex>> locks;
  for (Shard& shard : impl.shards) locks.emplace_back(shard.state_mutex);
  list.reserve(impl.services.size());
  for (const auto& [id, service] : impl.services) list.push_back(impl.HealthOf(*service));
  std::sort(list.begin(), list.end(), [](const ServiceHealth& a, const ServiceHealth& b) {
    return a.service_id < b.service_id;
  });
  return list;
}

bool Engine::Reset(const std::string& service_id, int64_t timestamp_ms) {
  Impl& impl = *impl_;
  const std::shared_ptr<ServiceEntry> service = impl.FindService(service_id);
  if (service == nullptr) return false;
  std::unique_lock lock(impl.shards[service->shard].state_mutex);
  if (service->forgotten) return false;  // a forget processed meanwhile
  Transition transition = service->monitor.Reset(timestamp_ms);
  WriteBatch batch;
  batch.events.push_back(MakeEvent(*service, transition));
  // A reset is not in the sample log, so the snapshot is what makes it survive a restart.
  impl.AddSnapshot(*service, batch);
  impl.writer.Submit(std::move(batch));
  return true;
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
  {
    std::shared_lock lock(impl.registry_mutex);
    status.services_monitored = impl.services.size();
  }
  status.samples_accepted = impl.accepted.load();
  status.samples_processed = impl.processed.load();
  status.queue_depth = impl.queued.load();
  status.queue_capacity = impl.config.ingest.queue_capacity;
  status.rejected_queue_full = impl.rejected_queue_full.load();
  status.rejected_too_many_services = impl.rejected_too_many_services.load();
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

}  // namespace driftwatch
