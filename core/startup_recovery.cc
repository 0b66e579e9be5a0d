#include "core/startup_recovery.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <exception>
#include <string>

#include "core/log.h"
#include "core/monitor_snapshot.h"
#include "core/series_key.h"
#include "core/timestamp.h"

namespace driftwatch {
namespace {

// How far back a rebuild looks for the service's last reset.
constexpr uint32_t kMaxEventsScannedForReset = 10000;

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

class Recovery {
 public:
  Recovery(Store& store, const DetectorSet& detectors, ServiceRegistry& registry,
           std::vector<WriteBatch>* to_write)
      : store_(store), detectors_(detectors), registry_(registry), to_write_(to_write) {}

  Status Run() {
    Status failure;
    Status scanned = store_.ScanServices(
        [&](const std::string& id, const StoredSnapshot* snapshot, uint64_t max_seq) {
          if (!failure.ok()) return;
          // Never written by the engine, but a store (another plugin, a hand edit) may hold one:
          // it could not be addressed, and would show as its service twice.
          const SeriesName name = SplitSeriesKey(id);
          if (IsEndpointSeriesKey(id) && (name.service_id.empty() || name.endpoint.empty())) {
            log::Warning("stored series '" + id +
                         "' names no service or no endpoint: left in the store, not monitored");
            return;
          }
          failure = RestoreService(id, snapshot, max_seq);
        });
    if (!scanned.ok()) return scanned;
    return failure;
  }

 private:
  Status RestoreService(const std::string& id, const StoredSnapshot* snapshot, uint64_t max_seq);
  void RecordRebuild(ServiceEntry& service, const StoredSnapshot& snapshot, const std::string& why);

  Store& store_;
  const DetectorSet& detectors_;
  ServiceRegistry& registry_;
  std::vector<WriteBatch>* to_write_;
};

Status Recovery::RestoreService(const std::string& id, const StoredSnapshot* snapshot,
                                uint64_t max_seq) {
  ServiceEntry& service = registry_.Add(id);
  uint64_t after_seq = 0;
  bool rebuild = snapshot == nullptr;
  std::string rebuild_reason;  // why a saved state was not used
  if (snapshot != nullptr) {
    Status restored = service.monitor.Restore(snapshot->data);
    if (restored.ok()) {
      after_seq = snapshot->last_seq;
      service.seq_offset = snapshot->last_seq - service.monitor.sample_count();
    } else {
      // Typically the detector pipeline changed since the snapshot. Rebuild the service under
      // the new pipeline from its stored samples since its last reset (resets are not samples).
      log::Warning("service '" + id + "': " + restored.message() +
                   "; rebuilding it from its stored samples");
      rebuild = true;
      rebuild_reason = restored.message();
      std::vector<StoredEvent> events;
      Status queried = store_.QueryEvents(id, kMaxEventsScannedForReset, &events);
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
  Status scanned = store_.ScanSamples(id, after_seq, [&](const StoredSample& stored) {
    if (first && rebuild) service.seq_offset = stored.seq - 1;
    first = false;
    service.monitor.Process(Sample{stored.timestamp_ms, stored.latency_ms, stored.payload_kb});
    ++service.samples_since_snapshot;
  });
  // Samples the store refused and the writer set aside leave gaps in the stored seqs, so a replay
  // may count fewer samples than the highest stored seq: new seqs must still rise above it, or the
  // store would refuse every new sample of the service until they did.
  if (scanned.ok() && service.seq() < max_seq) service.seq_offset += max_seq - service.seq();
  if (scanned.ok() && !rebuild_reason.empty()) RecordRebuild(service, *snapshot, rebuild_reason);
  return scanned;
}

// A service rebuilt from its samples because its saved state did not fit (typically: the detector
// pipeline changed). The rebuild is an event of its own, so that GET /v1/health, which shows the
// rebuilt state, and the last event of GET /v1/events agree (docs/behaviour.md, Decisions where the
// contract is silent). The replay's own transitions are not events: the history stays what
// happened.
void Recovery::RecordRebuild(ServiceEntry& service, const StoredSnapshot& snapshot,
                             const std::string& why) {
  MonitorSnapshot saved;
  const bool readable = DecodeSnapshot(snapshot.data, &saved).ok();
  std::string old_pipeline;
  for (const auto& [name, state] : saved.detectors) {
    old_pipeline += (old_pipeline.empty() ? "" : ", ") + name;
  }
  std::string new_pipeline;
  for (const auto& trigger : detectors_.triggers) {
    new_pipeline += (new_pipeline.empty() ? "" : ", ") + std::string(trigger->name());
  }
  new_pipeline += ", " + std::string(detectors_.recovery->name());
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
  batch.events.push_back(service.EventOf(transition));
  // The next start restores instead of rebuilding again; should saving fail, it rebuilds again.
  if (Status saved_now = service.AddSnapshot(batch); !saved_now.ok()) {
    log::Error("service '" + *service.id +
               "': cannot save its rebuilt state: " + saved_now.message());
  }
  to_write_->push_back(std::move(batch));
}

}  // namespace

Status RecoverServices(Store& store, const DetectorSet& detectors, ServiceRegistry& registry,
                       std::vector<WriteBatch>* to_write) {
  try {
    return Recovery(store, detectors, registry, to_write).Run();
  } catch (const std::exception& e) {  // a detector that cannot create an empty state
    return Status::Error(e.what());
  }
}

}  // namespace driftwatch
