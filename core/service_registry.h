// The service registry: every monitored service's entry, found by its id. It knows nothing of how
// samples are queued, processed or stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/detector.h"
#include "core/sample.h"
#include "core/service_monitor.h"
#include "core/status.h"
#include "core/storage.h"

namespace driftwatch {

// One monitored service. Shared by the registry and whoever reads it: a forgotten one (DELETE)
// leaves the registry at once, and lives on while something still refers to it.
struct ServiceEntry {
  ServiceEntry(std::string service_id, size_t shard_index, const BaselineParams& params,
               const DetectorSet& detectors);

  // The stored seq of the monitor's n-th sample is seq_offset + n. It is non-zero only when a
  // service's state was rebuilt from a log whose oldest samples retention had already purged.
  uint64_t seq() const { return seq_offset + monitor.sample_count(); }
  // The event a transition of this service is stored as.
  StoredEvent EventOf(const Transition& transition) const;
  // Adds the service's snapshot to `batch` and restarts the count of samples since the last one;
  // fails (adding nothing) when a detector cannot save its state.
  Status AddSnapshot(WriteBatch& batch);

  const ServiceId id;
  const size_t shard;  // the shard whose state lock guards what follows
  ServiceMonitor monitor;
  uint64_t seq_offset = 0;
  uint32_t samples_since_snapshot = 0;
  // Its forget was processed: it must write nothing more (a reset would bring it back to the
  // store), and reads and resets find no such service.
  bool forgotten = false;
};

class ServiceRegistry {
 public:
  ServiceRegistry(size_t shard_count, const BaselineParams& params, const DetectorSet& detectors);

  // The shard that processes a service: by hash of its id.
  size_t ShardOf(const std::string& service_id) const;
  std::shared_ptr<ServiceEntry> Find(const std::string& service_id) const;
  size_t size() const;
  // Every service, in no order; a service forgotten after the call is still in the list.
  std::vector<std::shared_ptr<ServiceEntry>> All() const;

  enum class Resolved { kAll, kTooManyServices };
  // Sets entries[i] to the service of samples[i], adding those it does not know (unless that would
  // make more than `max_services`: then nothing is added), and then calls `then` with the registry
  // still locked, so that no service can be forgotten between being found here and `then` queueing
  // its samples. Throws what a detector throws when it cannot create a new service's state.
  Resolved Resolve(const std::vector<IncomingSample>& samples, size_t max_services,
                   std::vector<ServiceEntry*>* entries, const std::function<void()>& then);
  // Removes the service and calls `then` with it, the registry still locked (so it comes after
  // every `then` of a Resolve that found it). Returns false for an unknown service.
  bool Remove(const std::string& service_id,
              const std::function<void(std::shared_ptr<ServiceEntry>)>& then);
  // At start-up, before any other thread uses the registry.
  ServiceEntry& Add(const std::string& service_id);

 private:
  ServiceEntry* AddLocked(const std::string& service_id);  // mutex_ held exclusively

  const size_t shard_count_;
  const BaselineParams& params_;
  const DetectorSet& detectors_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<ServiceEntry>> services_;  // guarded by mutex_
};

}  // namespace driftwatch
