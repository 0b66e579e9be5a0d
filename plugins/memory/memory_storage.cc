// The "memory" storage backend: the sqlite backend's contract kept in process memory, for tests and
// throwaway runs (`storage.plugin: memory`). Nothing survives the process. Callbacks are never
// called with the lock held, so a callback may read the store again.
#include <driftwatch/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

using driftwatch::sdk::StorageError;

constexpr size_t kSamplesPerScanPage = 1024;  // copied per lock, then handed to the callback

const char* Text(const char* text) { return text == nullptr ? "" : text; }

std::string ServiceId(const char* service_id) {
  if (service_id == nullptr || *service_id == '\0') {
    throw StorageError(DW_STATUS_INVALID_ARGUMENT, "a write names no service_id");
  }
  return service_id;
}

class MemoryStore {
 public:
  static constexpr const char* kName = "memory";
  static constexpr const char* kVersion = "1.2.0";

  static MemoryStore* Open(driftwatch::sdk::Params& params) {
    params.String("path", "");  // accepted so a config can switch backends; nothing is written
    params.Finish();
    return new MemoryStore();
  }

  void Write(const dw_type_write_batch& batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    CheckNoDuplicates(batch);  // all or nothing: fail before changing anything
    for (size_t i = 0; i < batch.sample_count; ++i) {
      const dw_type_stored_sample& sample = batch.samples[i];
      services_[sample.service_id].samples[sample.seq] = {sample.timestamp_ms, sample.latency_ms,
                                                          sample.payload_kb};
    }
    for (size_t i = 0; i < batch.event_count; ++i) {
      const dw_type_stored_event& raw = batch.events[i];
      const uint64_t id = next_event_id_++;
      Service& service = services_[raw.service_id];
      service.events[id] = {
          raw.seq,          raw.timestamp_ms,       Text(raw.from_state), Text(raw.to_state),
          Text(raw.reason), Text(raw.metadata_json)};
      event_owners_[id] = raw.service_id;
    }
    for (size_t i = 0; i < batch.snapshot_count; ++i) {
      const dw_type_stored_snapshot& raw = batch.snapshots[i];
      Service& service = services_[raw.service_id];
      service.has_snapshot = true;
      service.snapshot_seq = raw.last_seq;
      service.snapshot.assign(raw.data, raw.data + raw.size);
    }
    sample_count_ += batch.sample_count;
    event_count_ += batch.event_count;
    WriteNotifications(batch);
  }

  void ScanServices(dw_type_service_callback callback, void* context) {
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& entry : services_) ids.push_back(entry.first);
    }
    for (const std::string& id : ids) {
      bool has_snapshot = false;
      uint64_t last_seq = 0;
      uint64_t max_seq = 0;
      std::vector<uint8_t> data;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = services_.find(id);
        if (found == services_.end()) continue;  // forgotten since the list was taken
        const Service& service = found->second;
        has_snapshot = service.has_snapshot;
        last_seq = service.snapshot_seq;
        data = service.snapshot;
        if (!service.samples.empty()) max_seq = service.samples.rbegin()->first;
      }
      const dw_type_stored_snapshot snapshot = {id.c_str(), last_seq, data.data(), data.size()};
      if (callback(context, id.c_str(), has_snapshot ? &snapshot : nullptr, max_seq) != 0) return;
    }
  }

  void ScanSamples(const char* service_id, uint64_t after_seq, dw_type_sample_callback callback,
                   void* context) {
    const std::string id = ServiceId(service_id);
    std::vector<dw_type_stored_sample> page;
    for (;;) {
      page.clear();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto service = services_.find(id);
        if (service == services_.end()) return;
        const auto& samples = service->second.samples;
        for (auto it = samples.upper_bound(after_seq);
             it != samples.end() && page.size() < kSamplesPerScanPage; ++it) {
          page.push_back({id.c_str(), it->first, it->second.timestamp_ms, it->second.latency_ms,
                          it->second.payload_kb});
        }
      }
      for (const dw_type_stored_sample& sample : page) {
        if (callback(context, &sample) != 0) return;
      }
      if (page.size() < kSamplesPerScanPage) return;
      after_seq = page.back().seq;
    }
  }

  void QueryEvents(const char* service_id, uint32_t limit, dw_type_event_callback callback,
                   void* context) {
    const std::string id = ServiceId(service_id);
    std::vector<Event> events;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto service = services_.find(id);
      if (service == services_.end()) return;
      for (auto it = service->second.events.rbegin();
           it != service->second.events.rend() && events.size() < limit; ++it) {
        events.push_back(it->second);
      }
    }
    for (const Event& event : events) {
      const dw_type_stored_event raw = {id.c_str(),
                                        event.seq,
                                        event.timestamp_ms,
                                        event.from_state.c_str(),
                                        event.to_state.c_str(),
                                        event.reason.c_str(),
                                        event.metadata_json.c_str()};
      if (callback(context, &raw) != 0) return;
    }
  }

  void Stats(dw_type_storage_stats& stats) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats.sample_count = sample_count_;
    stats.event_count = event_count_;
    stats.size_bytes = 0;  // not a file: nothing meaningful to report
  }

  void Forget(const char* service_id) {
    const std::string id = ServiceId(service_id);
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto row = notifications_.begin(); row != notifications_.end();) {
      row = row->second.service_id == id ? EraseNotification(row) : std::next(row);
    }
    const auto service = services_.find(id);
    if (service == services_.end()) return;  // unknown: nothing to forget
    for (const auto& entry : service->second.events) event_owners_.erase(entry.first);
    sample_count_ -= service->second.samples.size();
    event_count_ -= service->second.events.size();
    services_.erase(service);
  }

  // The same rule as the sqlite backend: the oldest rows first, stopping at the first row that is
  // still young; a service's samples only up to its snapshot, and never its newest sample.
  uint64_t Purge(int64_t samples_before_ms, int64_t events_before_ms, uint32_t max_rows) {
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t deleted = 0;
    while (deleted < max_rows && !event_owners_.empty()) {
      const auto owner = event_owners_.begin();
      auto& events = services_.at(owner->second).events;
      const auto event = events.find(owner->first);
      if (event->second.timestamp_ms >= events_before_ms) break;
      events.erase(event);
      event_owners_.erase(owner);
      --event_count_;
      ++deleted;
    }
    // Outbox rows in the order written; a pending row is never deleted, whatever its age.
    for (auto row = notifications_.begin(); row != notifications_.end() && deleted < max_rows;) {
      const Notification& n = row->second;
      if (n.state != DW_NOTIFICATION_PENDING && n.updated_ms < events_before_ms) {
        row = EraseNotification(row);
        ++deleted;
      } else {
        ++row;
      }
    }
    for (auto& entry : services_) {
      Service& service = entry.second;
      if (!service.has_snapshot || service.samples.empty()) continue;
      const uint64_t bound = std::min(service.snapshot_seq, service.samples.rbegin()->first - 1);
      while (deleted < max_rows) {
        const auto oldest = service.samples.begin();
        if (oldest->first > bound || oldest->second.timestamp_ms >= samples_before_ms) break;
        service.samples.erase(oldest);
        --sample_count_;
        ++deleted;
      }
    }
    return deleted;
  }

  // Copies the matching rows under the lock, then calls back without it.
  void ScanNotifications(const char* target, int32_t state, uint32_t limit, bool newest_first,
                         dw_type_notification_callback callback, void* context) {
    const std::string wanted = Text(target);
    std::vector<Notification> rows;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto keep = [&](const Notification& n) {
        if ((!wanted.empty() && n.target != wanted) || (state != 0 && n.state != state)) return;
        if (limit == 0 || rows.size() < limit) rows.push_back(n);
      };
      if (newest_first) {
        for (auto it = notifications_.rbegin(); it != notifications_.rend(); ++it) {
          keep(it->second);
        }
      } else {
        for (const auto& entry : notifications_) keep(entry.second);
      }
    }
    for (const Notification& n : rows) {
      const dw_type_notification raw = {n.id.c_str(),   n.target.c_str(), n.service_id.c_str(),
                                        n.body.c_str(), n.created_ms,     n.state,
                                        n.attempts,     n.updated_ms,     n.last_error.c_str()};
      if (callback(context, &raw) != 0) return;
    }
  }

 private:
  struct Sample {
    int64_t timestamp_ms;
    double latency_ms;
    double payload_kb;
  };
  struct Event {
    uint64_t seq;
    int64_t timestamp_ms;
    std::string from_state;
    std::string to_state;
    std::string reason;
    std::string metadata_json;
  };
  struct Service {
    std::map<uint64_t, Sample> samples;  // by seq
    std::map<uint64_t, Event> events;    // by event id (insertion order)
    bool has_snapshot = false;
    uint64_t snapshot_seq = 0;
    std::vector<uint8_t> snapshot;
  };
  struct Notification {
    std::string id;
    std::string target;
    std::string service_id;
    std::string body;
    int64_t created_ms;
    int32_t state;
    uint32_t attempts;
    int64_t updated_ms;
    std::string last_error;
  };

  // The outbox part of a batch (docs/storage-guide.md, "The notification outbox"): new rows after
  // the events, a known (id, target) skipped; then the updates, an unknown one skipped.
  void WriteNotifications(const dw_type_write_batch& batch) {
    for (size_t i = 0; i < batch.notification_count; ++i) {
      const dw_type_notification& raw = batch.notifications[i];
      if (Find(raw) != notifications_.end()) continue;
      notification_order_[{Text(raw.id), Text(raw.target)}] = next_notification_;
      notifications_[next_notification_++] = {
          Text(raw.id), Text(raw.target), Text(raw.service_id), Text(raw.body),      raw.created_ms,
          raw.state,    raw.attempts,     raw.updated_ms,       Text(raw.last_error)};
    }
    for (size_t i = 0; i < batch.notification_update_count; ++i) {
      const dw_type_notification& raw = batch.notification_updates[i];
      const auto row = Find(raw);
      if (row == notifications_.end()) continue;
      row->second.state = raw.state;
      row->second.attempts = raw.attempts;
      row->second.updated_ms = raw.updated_ms;
      row->second.last_error = Text(raw.last_error);
    }
  }

  // The stored row of raw's (id, target), or end().
  std::map<uint64_t, Notification>::iterator Find(const dw_type_notification& raw) {
    const auto found = notification_order_.find({Text(raw.id), Text(raw.target)});
    return found == notification_order_.end() ? notifications_.end()
                                              : notifications_.find(found->second);
  }

  std::map<uint64_t, Notification>::iterator EraseNotification(
      std::map<uint64_t, Notification>::iterator row) {
    notification_order_.erase({row->second.id, row->second.target});
    return notifications_.erase(row);
  }

  // A sample whose (service, seq) is already stored, or twice in the batch, fails the whole batch,
  // as the sqlite backend's primary key does.
  void CheckNoDuplicates(const dw_type_write_batch& batch) const {
    std::set<std::pair<std::string, uint64_t>> seen;
    for (size_t i = 0; i < batch.sample_count; ++i) {
      const dw_type_stored_sample& sample = batch.samples[i];
      const std::string id = ServiceId(sample.service_id);
      const auto service = services_.find(id);
      const bool stored =
          service != services_.end() && service->second.samples.count(sample.seq) != 0;
      if (stored || !seen.emplace(id, sample.seq).second) {
        throw StorageError(DW_STATUS_INVALID_ARGUMENT, "sample " + std::to_string(sample.seq) +
                                                           " of '" + id + "' is already stored");
      }
    }
    for (size_t i = 0; i < batch.event_count; ++i) ServiceId(batch.events[i].service_id);
    for (size_t i = 0; i < batch.snapshot_count; ++i) ServiceId(batch.snapshots[i].service_id);
    for (size_t i = 0; i < batch.notification_count; ++i) {
      ServiceId(batch.notifications[i].service_id);
    }
  }

  std::mutex mutex_;
  std::map<std::string, Service> services_;
  std::map<uint64_t, std::string> event_owners_;  // event id -> service, oldest first
  uint64_t next_event_id_ = 1;
  std::map<uint64_t, Notification> notifications_;  // the outbox, by order written
  std::map<std::pair<std::string, std::string>, uint64_t> notification_order_;  // (id, target)
  uint64_t next_notification_ = 1;
  uint64_t sample_count_ = 0;
  uint64_t event_count_ = 0;
};

}  // namespace

DRIFTWATCH_PLUGIN("memory", "1.2.0", DRIFTWATCH_NO_DETECTORS,
                  DRIFTWATCH_STORAGES(driftwatch::sdk::StorageType<MemoryStore>::Get()));
