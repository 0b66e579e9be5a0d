#include "core/service_registry.h"

#include <algorithm>
#include <mutex>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "core/series_key.h"

namespace driftwatch {
namespace {

// What ServiceEntry::endpoints keeps of each endpoint, so that finding one reads no other series.
size_t EndpointHash(std::string_view endpoint) { return std::hash<std::string_view>{}(endpoint); }

}  // namespace

ServiceEntry::ServiceEntry(std::string service_id, size_t shard_index, const BaselineParams& params,
                           const DetectorSet& detectors)
    : id(std::make_shared<const std::string>(std::move(service_id))),
      endpoint_series(IsEndpointSeriesKey(*id)),
      shard(shard_index),
      monitor(params, detectors) {}

StoredEvent ServiceEntry::EventOf(const Transition& transition) const {
  StoredEvent event;
  event.service_id = *id;
  event.seq = seq_offset + transition.seq;
  event.timestamp_ms = transition.timestamp_ms;
  event.from_state = ServiceStateName(transition.from);
  event.to_state = ServiceStateName(transition.to);
  event.reason = transition.reason;
  event.metadata_json = transition.metadata_json;
  return event;
}

Status ServiceEntry::AddSnapshot(WriteBatch& batch) {
  StoredSnapshot snapshot;
  snapshot.service_id = *id;
  snapshot.last_seq = seq();
  Status saved = monitor.Save(&snapshot.data);
  if (!saved.ok()) return saved;  // the sample log still has everything: a later one may work
  batch.snapshots.push_back(std::move(snapshot));
  samples_since_snapshot = 0;
  snapshots_lagged = 0;
  return Status::Ok();
}

ServiceEntry* ServiceEntry::FindEndpoint(std::string_view endpoint) const {
  const size_t hash = EndpointHash(endpoint);
  for (const EndpointSeries& known : endpoints) {
    if (known.hash == hash && EndpointOf(known) == endpoint) {
      return known.series;
    }
  }
  return nullptr;
}

void ServiceEntry::AddEndpoint(std::string_view endpoint, ServiceEntry* series) {
  endpoints.push_back({EndpointHash(endpoint), static_cast<uint32_t>(endpoint_texts.size()),
                       static_cast<uint32_t>(endpoint.size()), series});
  endpoint_texts += endpoint;
  // Endpoint series are added once each, and the lists are kept per service: no slack.
  endpoints.shrink_to_fit();
  endpoint_texts.shrink_to_fit();
}

void ServiceEntry::RemoveEndpoint(const ServiceEntry* series) {
  std::string texts;
  std::vector<EndpointSeries> kept;
  for (EndpointSeries known : endpoints) {
    if (known.series == series) continue;
    texts += EndpointOf(known);
    known.offset = static_cast<uint32_t>(texts.size() - known.length);
    kept.push_back(known);
  }
  endpoints = std::move(kept);
  endpoint_texts = std::move(texts);
}

void ServiceEntry::PrefetchEntry() const {
  constexpr size_t kLine = 64;
  const auto* const begin = reinterpret_cast<const char*>(this);
  for (size_t offset = 0; offset < sizeof(ServiceEntry); offset += kLine) {
    __builtin_prefetch(begin + offset);
  }
  __builtin_prefetch(begin + sizeof(ServiceEntry) - 1);
}

void ServiceEntry::PrefetchState() const {
  __builtin_prefetch(id.get());  // made by make_shared: its count is next to it
  monitor.Prefetch();
}

void ServiceEntry::PrefetchFigures() const {
  __builtin_prefetch(&figures, 1);
  __builtin_prefetch(reinterpret_cast<const char*>(&figures + 1) - 1, 1);
  __builtin_prefetch(&monitor);  // its first line, with the state that is published
}

void ServiceEntry::PublishFigures() {
  SeriesFigures published;
  published.state = monitor.state();
  published.zscore = monitor.last_zscore();
  published.baseline = monitor.baseline();
  published.sample_count = seq();
  if (const auto& transition = monitor.last_transition()) {
    published.transition_timestamp_ms = transition->timestamp_ms;
  }
  published.forgotten = forgotten;
  figures.Publish(published);
}

ServiceRegistry::ServiceRegistry(size_t shard_count, const BaselineParams& params,
                                 const DetectorSet& detectors)
    : shard_count_(shard_count), params_(params), detectors_(detectors) {}

size_t ServiceRegistry::ShardOf(std::string_view key) const {
  return std::hash<std::string_view>{}(SplitSeriesKey(key).service_id) % shard_count_;
}

ServiceRegistry::SeriesMap& ServiceRegistry::MapOf(std::string_view key) {
  return IsEndpointSeriesKey(key) ? endpoint_series_ : services_;
}

const ServiceRegistry::SeriesMap& ServiceRegistry::MapOf(std::string_view key) const {
  return IsEndpointSeriesKey(key) ? endpoint_series_ : services_;
}

std::shared_ptr<ServiceEntry> ServiceRegistry::Find(const std::string& service_id) const {
  std::shared_lock lock(mutex_);
  const SeriesMap& map = MapOf(service_id);
  auto it = map.find(service_id);
  return it == map.end() ? nullptr : it->second;
}

size_t ServiceRegistry::size() const {
  std::shared_lock lock(mutex_);
  return SeriesCount();
}

std::vector<std::shared_ptr<ServiceEntry>> ServiceRegistry::All() const {
  std::vector<std::shared_ptr<ServiceEntry>> all;
  std::shared_lock lock(mutex_);
  all.reserve(SeriesCount());
  for (const SeriesMap* map : {&services_, &endpoint_series_}) {
    for (const auto& [id, entry] : *map) all.push_back(entry);
  }
  return all;
}

void ServiceRegistry::VisitInRuns(size_t per_hold,
                                  const std::function<void(const ServiceEntry&)>& visit,
                                  const std::function<void()>& restart,
                                  const std::function<void(bool taken)>& hold) const {
  // By bucket of services_, each service with its endpoint series: while the bucket count stays
  // the same, a service stays in its bucket whatever is added or removed around it, so visiting
  // buckets [0, n) in runs visits each one once. Only a rehash moves services between buckets,
  // and it always changes the count.
  size_t bucket = 0;
  size_t buckets = 0;
  bool first = true;
  while (true) {
    std::shared_lock lock(mutex_);
    if (hold) hold(true);
    if (first) {
      buckets = services_.bucket_count();
      first = false;
    } else if (services_.bucket_count() != buckets) {
      buckets = services_.bucket_count();
      bucket = 0;
      restart();
    }
    size_t visited = 0;
    // Empty buckets count too, a little, so a table emptied by DELETEs is not scanned at once.
    const size_t bucket_end = std::min(buckets, bucket + 4 * per_hold);
    for (; bucket < bucket_end && visited < per_hold; ++bucket) {
      for (auto it = services_.begin(bucket); it != services_.end(bucket); ++it) {
        visit(*it->second);
        for (const ServiceEntry::EndpointSeries& endpoint : it->second->endpoints) {
          visit(*endpoint.series);
        }
        visited += 1 + it->second->endpoints.size();
      }
    }
    if (hold) hold(false);
    if (bucket >= buckets) return;
  }
}

ServiceRegistry::Resolved ServiceRegistry::Resolve(const std::vector<IncomingSample>& samples,
                                                   const Limits& limits,
                                                   std::vector<SampleSeries>* series,
                                                   size_t* overflowed,
                                                   const std::function<void()>& then) {
  std::vector<size_t> unresolved;
  uint64_t removals = 0;
  {
    std::shared_lock lock(mutex_);  // the common case: every series is known
    FindKnown(samples, limits, series, overflowed, &unresolved);
    if (unresolved.empty()) {
      then();
      return Resolved::kAll;
    }
    removals = removals_;
  }
  // Series are added under the exclusive lock. What was found above is kept unless a series was
  // removed in between (it may have been one of them); anything added meanwhile is found below.
  std::unique_lock lock(mutex_);
  if (removals_ != removals) FindKnown(samples, limits, series, overflowed, &unresolved);
  std::unordered_set<std::string_view> fresh_services;
  for (const size_t i : unresolved) {
    const std::string& service_id = samples[i].service_id;
    if ((*series)[i].service == nullptr && !services_.contains(service_id)) {
      fresh_services.insert(service_id);
    }
  }
  if (SeriesCount() + fresh_services.size() > limits.max_series) {
    return Resolved::kTooManyServices;
  }
  // Every new service first, so that endpoint series never take the room they need.
  for (const size_t i : unresolved) {
    ServiceEntry*& service = (*series)[i].service;
    if (service != nullptr) continue;
    auto it = services_.find(samples[i].service_id);
    service = it == services_.end() ? AddLocked(samples[i].service_id) : it->second.get();
  }
  for (const size_t i : unresolved) {
    const std::string& endpoint = samples[i].endpoint;
    if (endpoint.empty() || !limits.per_endpoint) continue;
    ServiceEntry& service = *(*series)[i].service;
    ServiceEntry* found = service.FindEndpoint(endpoint);
    if (found == nullptr && RoomForEndpointOf(service, limits)) {
      found = AddLocked(EndpointSeriesKey(*service.id, endpoint));
    }
    if (found == nullptr) ++*overflowed;
    (*series)[i].endpoint = found;
  }
  then();
  return Resolved::kAll;
}

void ServiceRegistry::FindKnown(const std::vector<IncomingSample>& samples, const Limits& limits,
                                std::vector<SampleSeries>* series, size_t* overflowed,
                                std::vector<size_t>* unresolved) const {
  series->assign(samples.size(), SampleSeries{});
  *overflowed = 0;
  unresolved->clear();
  ServiceEntry* last = nullptr;
  for (size_t i = 0; i < samples.size(); ++i) {
    const IncomingSample& incoming = samples[i];
    // Against the previous sample's id, which was just read, not the series' own: reading that
    // would reach into a series that may be out of the cache. Consecutive samples mostly share a
    // service.
    if (i == 0 || samples[i - 1].service_id != incoming.service_id) {
      auto it = services_.find(incoming.service_id);
      last = it == services_.end() ? nullptr : it->second.get();
    }
    (*series)[i].service = last;
    if (last == nullptr) {
      unresolved->push_back(i);
    } else if (limits.per_endpoint) {
      last->PrefetchEndpoints();
    }
  }
  if (!limits.per_endpoint) return;
  // Then the endpoint series: each service's list is asked for a few samples ahead, its entry
  // having been asked for above (ServiceEntry::PrefetchEndpoints).
  constexpr size_t kListAhead = 8;
  const size_t new_services = unresolved->size();
  for (size_t i = 0; i < samples.size(); ++i) {
    if (i + kListAhead < samples.size()) {
      if (const ServiceEntry* ahead = (*series)[i + kListAhead].service) {
        ahead->PrefetchEndpointList();
      }
    }
    const ServiceEntry* const service = (*series)[i].service;
    // A new service's sample is unresolved already.
    if (samples[i].endpoint.empty() || service == nullptr) continue;
    ServiceEntry* endpoint = service->FindEndpoint(samples[i].endpoint);
    if (endpoint != nullptr) {
      (*series)[i].endpoint = endpoint;
    } else if (RoomForEndpointOf(*service, limits)) {
      unresolved->push_back(i);
    } else {
      ++*overflowed;  // a service already at a limit refuses its new endpoints
    }
  }
  // In sample order, so that the endpoint series added take the room left in that order.
  std::inplace_merge(unresolved->begin(),
                     unresolved->begin() + static_cast<std::ptrdiff_t>(new_services),
                     unresolved->end());
}

bool ServiceRegistry::RoomForEndpointOf(const ServiceEntry& service, const Limits& limits) const {
  return SeriesCount() < limits.max_series &&
         service.endpoints.size() < limits.max_endpoints_per_service;
}

bool ServiceRegistry::Remove(
    const std::string& key,
    const std::function<void(std::vector<std::shared_ptr<ServiceEntry>>)>& then) {
  std::unique_lock lock(mutex_);
  SeriesMap& map = MapOf(key);
  auto it = map.find(key);
  if (it == map.end()) return false;
  std::vector<std::shared_ptr<ServiceEntry>> removed;
  removed.push_back(std::move(it->second));
  map.erase(it);
  ++removals_;
  ServiceEntry& entry = *removed.front();
  if (entry.endpoint_series) {
    auto service = services_.find(std::string(SplitSeriesKey(key).service_id));
    if (service != services_.end()) {
      service->second->RemoveEndpoint(&entry);
    }
  } else {
    for (const ServiceEntry::EndpointSeries& endpoint : entry.endpoints) {
      auto found = endpoint_series_.find(*endpoint.series->id);
      removed.push_back(std::move(found->second));
      endpoint_series_.erase(found);
    }
    entry.endpoints.clear();
    entry.endpoint_texts.clear();
  }
  then(std::move(removed));
  return true;
}

ServiceEntry& ServiceRegistry::Add(const std::string& key) {
  std::unique_lock lock(mutex_);
  SeriesMap& map = MapOf(key);
  auto it = map.find(key);
  return it == map.end() ? *AddLocked(key) : *it->second;
}

ServiceEntry* ServiceRegistry::AddLocked(const std::string& key) {
  const SeriesName name = SplitSeriesKey(key);
  std::shared_ptr<ServiceEntry> service;
  if (!name.endpoint.empty()) {
    // Never missing but at start-up from a store that kept an endpoint series and not its
    // service: the service is then monitored afresh beside it.
    const std::string service_id(name.service_id);
    if (!services_.contains(service_id)) AddLocked(service_id);
    service = services_.find(service_id)->second;
  }
  auto entry = std::make_shared<ServiceEntry>(key, ShardOf(key), params_, detectors_);
  entry->owning_service = service;
  ServiceEntry* raw = entry.get();
  MapOf(key).emplace(key, std::move(entry));
  if (service != nullptr) service->AddEndpoint(name.endpoint, raw);
  return raw;
}

}  // namespace driftwatch
