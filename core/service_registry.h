// The service registry: every monitored service's entry, found by its id. It knows nothing of how
// samples are queued, processed or stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/detector.h"
#include "core/sample.h"
#include "core/series_figures.h"
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
  // Publishes what GET /metrics reads of the series (its monitor's state, last z-score, baseline,
  // seq, last transition, and whether it is forgotten) into `figures`. Called by whoever changed
  // them, with the shard's state lock held exclusively, before releasing it.
  void PublishFigures();
  // Ask the CPU to load what processing a sample of this series reads, in two steps a few samples
  // ahead of it: with thousands of series each one's state is out of the cache, and loading it
  // line by line as processing reaches it would be most of the engine's time (docs/performance.md,
  // section 12). The first step loads the entry; the second reads it, to load what it points to,
  // so it comes later. They change nothing; the second needs the shard's lock.
  void PrefetchEntry() const;
  void PrefetchState() const;
  // The same for PublishFigures.
  void PrefetchFigures() const;
  // This service's series of `endpoint`, if it has one; the registry's lock held.
  ServiceEntry* FindEndpoint(std::string_view endpoint) const;
  // Ask the CPU to load what FindEndpoint reads, in two steps as above (the registry's lock
  // held for the second).
  void PrefetchEndpoints() const { __builtin_prefetch(&endpoints); }
  void PrefetchEndpointList() const {
    __builtin_prefetch(endpoints.data());
    __builtin_prefetch(endpoint_texts.data());
  }

  const ServiceId id;  // the series key (core/series_key.h): the service id, or an endpoint's
  const bool endpoint_series;  // an endpoint series of a service, not a service's own
  // An endpoint series' service (null for a service), set as the series is added; kept alive as
  // long as the series is, so the series may reach it until its forget is processed.
  std::shared_ptr<ServiceEntry> owning_service;
  // The shard whose state lock guards the monitor and what follows it: an endpoint series is on
  // its service's, so that both are processed from one queue item.
  const size_t shard;
  // A service's endpoint series (none for an endpoint series itself), owned by the registry, each
  // with the hash of its endpoint and where its text is in endpoint_texts, so that finding one
  // reads no other series and only the service's own memory (ingest looks one up per sample,
  // and with thousands of series theirs is out of the cache); guarded by the registry's lock,
  // not the shard's. Changed by AddEndpoint and RemoveEndpoint alone.
  struct EndpointSeries {
    size_t hash;
    uint32_t offset;  // its endpoint is endpoint_texts.substr(offset, length)
    uint32_t length;
    ServiceEntry* series;
  };
  std::vector<EndpointSeries> endpoints;
  std::string endpoint_texts;  // every endpoint's text, one after another
  std::string_view EndpointOf(const EndpointSeries& listed) const {
    return std::string_view(endpoint_texts).substr(listed.offset, listed.length);
  }
  void AddEndpoint(std::string_view endpoint, ServiceEntry* series);
  void RemoveEndpoint(const ServiceEntry* series);
  // What processing changes starts on a cache line of its own: ingest's HTTP threads read the
  // lines above (the endpoints) while the shard writes these.
  alignas(64) ServiceMonitor monitor;
  uint64_t seq_offset = 0;
  uint32_t samples_since_snapshot = 0;
  // With sample tags, an endpoint series' samples are kept in its service's rows until its own
  // snapshot reflects them (docs/behaviour.md, "Endpoint series"), so one that lags is brought up
  // to date at its service's snapshots: a service lists its endpoint series with samples no
  // snapshot of theirs reflects, and an endpoint series counts the service's snapshots it has
  // lagged through. Guarded by the shard's lock, like the monitor.
  std::vector<ServiceEntry*> lagging_endpoints;
  uint32_t snapshots_lagged = 0;
  bool listed_as_lagging = false;
  // Its forget was processed: it must write nothing more (a reset would bring it back to the
  // store), and reads and resets find no such service.
  bool forgotten = false;
  // Processing changed the figures and has not published them yet (guarded by the shard's lock).
  bool figures_stale = false;
  // The figures a scrape reads without the shard's lock (PublishFigures); read from any thread.
  PublishedFigures figures;
};

// The series one sample goes to: its service's own, and, with endpoint series on, its endpoint's
// (null when it names none or that series is past a limit).
struct SampleSeries {
  ServiceEntry* service = nullptr;
  ServiceEntry* endpoint = nullptr;
};

class ServiceRegistry {
 public:
  ServiceRegistry(size_t shard_count, const BaselineParams& params, const DetectorSet& detectors);

  // The shard that processes a series: by hash of its service's id.
  size_t ShardOf(std::string_view key) const;
  std::shared_ptr<ServiceEntry> Find(const std::string& service_id) const;
  size_t size() const;
  // Every service, in no order; a service forgotten after the call is still in the list. Holds
  // the registry's lock for the whole copy: for start-up, shutdown and small listings.
  std::vector<std::shared_ptr<ServiceEntry>> All() const;
  // Calls `visit` with every series that is in the registry for the whole call, exactly once,
  // holding the registry's lock (shared) for a run of about `per_hold` series at a time and
  // letting go in between, so that adding a series or a DELETE (which take the lock exclusively)
  // never waits behind a whole listing. A series added or removed during the call may or may not
  // be visited. When the table grows meanwhile (a rehash), the listing starts over: `restart` is
  // called first, so the caller can drop what it gathered. `hold`, if any, is called with true
  // right after taking the lock and false right before letting go (timing).
  void VisitInRuns(size_t per_hold, const std::function<void(const ServiceEntry&)>& visit,
                   const std::function<void()>& restart,
                   const std::function<void(bool taken)>& hold = {}) const;

  // Whether samples' endpoints make series, and how many series Resolve may add: in all
  // (services and endpoint series), and endpoint series per service.
  struct Limits {
    bool per_endpoint = false;
    size_t max_series = 0;
    size_t max_endpoints_per_service = 0;
  };
  enum class Resolved { kAll, kTooManyServices };
  // Sets series[i] to the series samples[i] goes to, adding those it does not know, and then
  // calls `then` with the registry still locked, so that no series can be forgotten between being
  // found here and `then` queueing its samples. A new service beyond max_series refuses the whole
  // call (nothing is added); a new endpoint series beyond either limit is not added: its samples
  // get a null endpoint and are counted in *overflowed. Throws what a detector throws when it
  // cannot create a new series' state.
  Resolved Resolve(const std::vector<IncomingSample>& samples, const Limits& limits,
                   std::vector<SampleSeries>* series, size_t* overflowed,
                   const std::function<void()>& then);
  // Removes a series and calls `then` with what was removed, the registry still locked (so it
  // comes after every `then` of a Resolve that found it): a service's key removes it and every
  // endpoint series of it; an endpoint series' key, that series alone. Returns false when there
  // was nothing to remove.
  bool Remove(const std::string& key,
              const std::function<void(std::vector<std::shared_ptr<ServiceEntry>>)>& then);
  // At start-up, before any other thread uses the registry: the series of `key`, added when it is
  // not known (an endpoint series' service too).
  ServiceEntry& Add(const std::string& key);

 private:
  // Adds the series of `key`, its service's entry first when that is missing; mutex_ held
  // exclusively.
  ServiceEntry* AddLocked(const std::string& key);
  // Sets series[i] to the known series of samples[i] and lists in *unresolved, in order, the
  // samples whose service or endpoint series is not known (an endpoint series only when its
  // service has room for it; the others are counted in *overflowed); mutex_ held.
  void FindKnown(const std::vector<IncomingSample>& samples, const Limits& limits,
                 std::vector<SampleSeries>* series, size_t* overflowed,
                 std::vector<size_t>* unresolved) const;
  // Whether `service` may have one more endpoint series; mutex_ held.
  bool RoomForEndpointOf(const ServiceEntry& service, const Limits& limits) const;

  // The map that holds the series of `key`: services_ or endpoint_series_; mutex_ held.
  using SeriesMap = std::unordered_map<std::string, std::shared_ptr<ServiceEntry>>;
  SeriesMap& MapOf(std::string_view key);
  const SeriesMap& MapOf(std::string_view key) const;
  size_t SeriesCount() const { return services_.size() + endpoint_series_.size(); }

  const size_t shard_count_;
  const BaselineParams& params_;
  const DetectorSet& detectors_;
  mutable std::shared_mutex mutex_;
  // Services by id, and endpoint series by key, each also listed by its service (ServiceEntry::
  // endpoints); guarded by mutex_. Apart, so that ingest, which looks up a service per sample,
  // searches a table that endpoint series do not make ten times larger.
  SeriesMap services_;
  SeriesMap endpoint_series_;
  uint64_t removals_ = 0;  // how many times Remove removed something; guarded by mutex_
};

}  // namespace driftwatch
