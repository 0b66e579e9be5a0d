#include "core/service_registry.h"

#include <algorithm>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/series_key.h"

namespace driftwatch {

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
  return Status::Ok();
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

size_t ServiceRegistry::ShardOf(const std::string& service_id) const {
  return std::hash<std::string>{}(service_id) % shard_count_;
}

std::shared_ptr<ServiceEntry> ServiceRegistry::Find(const std::string& service_id) const {
  std::shared_lock lock(mutex_);
  auto it = services_.find(service_id);
  return it == services_.end() ? nullptr : it->second;
}

size_t ServiceRegistry::size() const {
  std::shared_lock lock(mutex_);
  return services_.size();
}

std::vector<std::shared_ptr<ServiceEntry>> ServiceRegistry::All() const {
  std::vector<std::shared_ptr<ServiceEntry>> all;
  std::shared_lock lock(mutex_);
  all.reserve(services_.size());
  for (const auto& [id, entry] : services_) all.push_back(entry);
  return all;
}

void ServiceRegistry::VisitInRuns(size_t per_hold,
                                  const std::function<void(const ServiceEntry&)>& visit,
                                  const std::function<void()>& restart,
                                  const std::function<void(bool taken)>& hold) const {
  // By bucket: while the bucket count stays the same, a series stays in its bucket whatever is
  // added or removed around it, so visiting buckets [0, n) in runs visits each one once. Only a
  // rehash moves series between buckets, and it always changes the count.
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
        ++visited;
      }
    }
    if (hold) hold(false);
    if (bucket >= buckets) return;
  }
}

ServiceRegistry::Resolved ServiceRegistry::Resolve(const std::vector<IncomingSample>& samples,
                                                   const Limits& limits,
                                                   std::vector<ServiceEntry*>* entries,
                                                   size_t* overflowed,
                                                   const std::function<void()>& then) {
  entries->assign(samples.size(), nullptr);
  *overflowed = 0;
  {
    // The common case: every series is known. Consecutive samples mostly share a series.
    std::shared_lock lock(mutex_);
    bool unknown = false;
    size_t refused = 0;
    ServiceEntry* last = nullptr;
    for (size_t i = 0; i < samples.size() && !unknown; ++i) {
      const std::string& key = samples[i].service_id;
      if (last == nullptr || *last->id != key) {
        auto it = services_.find(key);
        last = it == services_.end() ? nullptr : it->second.get();
      }
      // A service already at a limit refuses its new endpoints without the exclusive lock.
      if (last == nullptr && IsEndpointSeriesKey(key) && !RoomForEndpointOf(key, limits, 0)) {
        ++refused;
        continue;
      }
      unknown = last == nullptr;
      (*entries)[i] = last;
    }
    if (!unknown) {
      *overflowed = refused;
      then();
      return Resolved::kAll;
    }
  }
  // Series are added under the exclusive lock, and every sample is looked up again under it: a
  // series found above may have been forgotten since, so nothing found above is kept.
  std::unique_lock lock(mutex_);
  entries->assign(samples.size(), nullptr);
  std::unordered_set<std::string_view> fresh_services;
  std::unordered_set<std::string_view> fresh_endpoints;
  std::unordered_set<std::string_view> refused_endpoints;        // past a limit
  std::unordered_map<std::string_view, size_t> endpoints_added;  // by service
  for (const IncomingSample& incoming : samples) {
    if (!IsEndpointSeriesKey(incoming.service_id) && !services_.contains(incoming.service_id)) {
      fresh_services.insert(incoming.service_id);
    }
  }
  if (services_.size() + fresh_services.size() > limits.max_series) {
    return Resolved::kTooManyServices;
  }
  for (const IncomingSample& incoming : samples) {
    const std::string_view key = incoming.service_id;
    if (!IsEndpointSeriesKey(key) || services_.contains(incoming.service_id) ||
        fresh_endpoints.contains(key) || refused_endpoints.contains(key)) {
      continue;
    }
    const std::string_view service = SplitSeriesKey(key).service_id;
    const size_t adding = fresh_services.size() + fresh_endpoints.size();
    if (!RoomForEndpointOf(key, limits, adding, endpoints_added[service])) {
      refused_endpoints.insert(key);
      continue;
    }
    ++endpoints_added[service];
    fresh_endpoints.insert(key);
  }
  for (size_t i = 0; i < samples.size(); ++i) {
    const std::string& key = samples[i].service_id;
    if (refused_endpoints.contains(key)) {
      ++*overflowed;
      continue;
    }
    auto it = services_.find(key);
    (*entries)[i] = it == services_.end() ? AddLocked(key) : it->second.get();
  }
  then();
  return Resolved::kAll;
}

bool ServiceRegistry::RoomForEndpointOf(std::string_view key, const Limits& limits,
                                        size_t series_adding, size_t endpoints_adding) const {
  if (services_.size() + series_adding >= limits.max_series) return false;
  const auto known = endpoint_keys_.find(std::string(SplitSeriesKey(key).service_id));
  const size_t has = known == endpoint_keys_.end() ? 0 : known->second.size();
  return has + endpoints_adding < limits.max_endpoints_per_service;
}

bool ServiceRegistry::Remove(
    const std::string& key,
    const std::function<void(std::vector<std::shared_ptr<ServiceEntry>>)>& then) {
  std::unique_lock lock(mutex_);
  std::vector<std::shared_ptr<ServiceEntry>> removed;
  auto take = [&](const std::string& series) {
    auto it = services_.find(series);
    if (it == services_.end()) return;
    removed.push_back(std::move(it->second));
    services_.erase(it);
  };
  take(key);
  if (IsEndpointSeriesKey(key)) {
    if (!removed.empty()) {
      auto endpoints = endpoint_keys_.find(std::string(SplitSeriesKey(key).service_id));
      std::erase_if(endpoints->second, [&](const ServiceId& series) { return *series == key; });
      if (endpoints->second.empty()) endpoint_keys_.erase(endpoints);
    }
  } else if (auto endpoints = endpoint_keys_.find(key); endpoints != endpoint_keys_.end()) {
    for (const ServiceId& series : endpoints->second) take(*series);
    endpoint_keys_.erase(endpoints);
  }
  if (removed.empty()) return false;
  then(std::move(removed));
  return true;
}

ServiceEntry& ServiceRegistry::Add(const std::string& service_id) {
  std::unique_lock lock(mutex_);
  return *AddLocked(service_id);
}

ServiceEntry* ServiceRegistry::AddLocked(const std::string& service_id) {
  auto entry = std::make_shared<ServiceEntry>(service_id, ShardOf(service_id), params_, detectors_);
  ServiceEntry* raw = entry.get();
  services_.emplace(service_id, std::move(entry));
  if (raw->endpoint_series) {
    endpoint_keys_[std::string(SplitSeriesKey(service_id).service_id)].push_back(raw->id);
  }
  return raw;
}

}  // namespace driftwatch
