#include "core/service_registry.h"

#include <mutex>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace driftwatch {

ServiceEntry::ServiceEntry(std::string service_id, size_t shard_index, const BaselineParams& params,
                           const DetectorSet& detectors)
    : id(std::make_shared<const std::string>(std::move(service_id))),
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

ServiceRegistry::Resolved ServiceRegistry::Resolve(const std::vector<IncomingSample>& samples,
                                                   size_t max_services,
                                                   std::vector<ServiceEntry*>* entries,
                                                   const std::function<void()>& then) {
  entries->assign(samples.size(), nullptr);
  {
    // The common case: every service is known. Consecutive samples mostly share a service.
    std::shared_lock lock(mutex_);
    bool unknown = false;
    ServiceEntry* last = nullptr;
    for (size_t i = 0; i < samples.size() && !unknown; ++i) {
      if (last == nullptr || *last->id != samples[i].service_id) {
        auto it = services_.find(samples[i].service_id);
        last = it == services_.end() ? nullptr : it->second.get();
      }
      unknown = last == nullptr;
      (*entries)[i] = last;
    }
    if (!unknown) {
      then();
      return Resolved::kAll;
    }
  }
  // Services are added under the exclusive lock, and every sample is looked up again under it: a
  // service found above may have been forgotten since.
  std::unique_lock lock(mutex_);
  std::unordered_set<std::string_view> fresh;  // distinct services this batch would add
  for (const IncomingSample& incoming : samples) {
    if (!services_.contains(incoming.service_id)) fresh.insert(incoming.service_id);
  }
  if (services_.size() + fresh.size() > max_services) return Resolved::kTooManyServices;
  for (size_t i = 0; i < samples.size(); ++i) {
    auto it = services_.find(samples[i].service_id);
    (*entries)[i] = it == services_.end() ? AddLocked(samples[i].service_id) : it->second.get();
  }
  then();
  return Resolved::kAll;
}

bool ServiceRegistry::Remove(const std::string& service_id,
                             const std::function<void(std::shared_ptr<ServiceEntry>)>& then) {
  std::unique_lock lock(mutex_);
  auto it = services_.find(service_id);
  if (it == services_.end()) return false;
  std::shared_ptr<ServiceEntry> entry = std::move(it->second);
  services_.erase(it);
  then(std::move(entry));
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
  return raw;
}

}  // namespace driftwatch
