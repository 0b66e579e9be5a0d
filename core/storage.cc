#include "core/storage.h"

#include <algorithm>
#include <cstddef>
#include <exception>
#include <iterator>
#include <type_traits>
#include <utility>

#include "core/plugin_status.h"

namespace driftwatch {
namespace {

dw_type_error NewError() {
  dw_type_error error;
  error.message[0] = '\0';
  error.param_index = -1;
  return error;
}

// "<backend>: <message>", of the kind the plugin's code means (core/plugin_status.h), the backend
// named once.
Status Failure(const dw_type_storage* vtable, dw_type_status status, dw_type_error& error) {
  return PluginFailure(status, error, std::string(vtable->name) + ": ", vtable->name);
}

// Takes `from`'s buffer only when `to` has no room for it, and gives it `to`'s in exchange: the
// writer's two batches and the engine's are refilled many times a second, and a buffer kept is one
// not allocated (and freed on another thread) again.
template <typename T>
void MoveAppend(std::vector<T>& to, std::vector<T>& from) {
  if (to.empty() && to.capacity() < from.size()) {
    to.swap(from);
  } else {
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  }
  from.clear();
}

// The context of a scan callback: the visitor, and whether it threw (an exception must not cross
// the plugin's C frames, so it stops the scan and becomes an error instead).
template <typename Visit>
struct ScanContext {
  const Visit* visit;
  std::string exception;
};

template <typename Visit, typename Body>
int GuardVisit(void* context, Body&& body) {
  auto* scan = static_cast<ScanContext<Visit>*>(context);
  try {
    body(*scan->visit);
    return 0;
  } catch (const std::exception& e) {
    scan->exception = e.what();
  } catch (...) {
    scan->exception = "unknown exception";
  }
  return 1;
}

StoredEvent CopyEvent(const dw_type_stored_event& event) {
  StoredEvent copy;
  copy.service_id = event.service_id;
  copy.seq = event.seq;
  copy.timestamp_ms = event.timestamp_ms;
  copy.from_state = event.from_state;
  copy.to_state = event.to_state;
  copy.reason = event.reason;
  copy.metadata_json = event.metadata_json;
  return copy;
}

StoredNotification CopyNotification(const dw_type_notification& row) {
  StoredNotification copy;
  copy.id = row.id;
  copy.target = row.target;
  copy.service_id = row.service_id;
  copy.body = row.body;
  copy.created_ms = row.created_ms;
  copy.state = static_cast<NotificationState>(row.state);
  copy.attempts = row.attempts;
  copy.updated_ms = row.updated_ms;
  copy.last_error = row.last_error;
  return copy;
}

std::vector<dw_type_notification> RawNotifications(const std::vector<StoredNotification>& rows) {
  std::vector<dw_type_notification> raw;
  raw.reserve(rows.size());
  for (const StoredNotification& row : rows) {
    raw.push_back({row.id.c_str(), row.target.c_str(), row.service_id.c_str(), row.body.c_str(),
                   row.created_ms, static_cast<int32_t>(row.state), row.attempts, row.updated_ms,
                   row.last_error.c_str()});
  }
  return raw;
}

}  // namespace

const char* NotificationStateName(NotificationState state) {
  switch (state) {
    case NotificationState::kPending:
      return "pending";
    case NotificationState::kDelivered:
      return "delivered";
    case NotificationState::kFailed:
      return "failed";
  }
  return "pending";
}

void WriteBatch::Append(WriteBatch&& other) {
  if (!other.forgotten.empty()) {
    const auto gone = [&other](const std::string& service_id) {
      return std::find(other.forgotten.begin(), other.forgotten.end(), service_id) !=
             other.forgotten.end();
    };
    std::erase_if(samples, [&](const StoredSample& sample) { return gone(*sample.service_id); });
    for (StoredSample& sample : samples) {
      // Written before the forget, the tag would be deleted by it; written after, it would
      // feed the series that starts again at seq 1.
      if (sample.tag_series != nullptr && gone(*sample.tag_series)) {
        sample.tag_series = nullptr;
        sample.tag_seq = 0;
      }
    }
    endpoint_rows = 0;  // rare: every row left counts, which may count a sample twice
    std::erase_if(events, [&](const StoredEvent& event) { return gone(event.service_id); });
    std::erase_if(snapshots,
                  [&](const StoredSnapshot& snapshot) { return gone(snapshot.service_id); });
    const auto gone_row = [&](const StoredNotification& row) { return gone(row.service_id); };
    std::erase_if(notifications, gone_row);
    std::erase_if(notification_updates, gone_row);
  }
  MoveAppend(forgotten, other.forgotten);
  MoveAppend(samples, other.samples);
  endpoint_rows += std::exchange(other.endpoint_rows, 0);
  MoveAppend(events, other.events);
  MoveAppend(snapshots, other.snapshots);
  MoveAppend(notifications, other.notifications);
  MoveAppend(notification_updates, other.notification_updates);
  MoveAppend(ids, other.ids);
}

void WriteBatch::Clear() {
  forgotten.clear();
  samples.clear();
  endpoint_rows = 0;
  events.clear();
  snapshots.clear();
  notifications.clear();
  notification_updates.clear();
  ids.clear();
}

Status Store::Open(const dw_type_storage* vtable, const std::vector<Param>& params,
                   std::unique_ptr<Store>* out) {
  if (vtable == nullptr) return Status::NotFound("no storage backend to open");
  std::vector<dw_type_param> raw;
  raw.reserve(params.size());
  for (const Param& param : params) raw.push_back({param.key.c_str(), param.value.c_str()});
  dw_type_error error = NewError();
  void* handle = nullptr;
  const dw_type_status status = vtable->on_open(raw.data(), raw.size(), &handle, &error);
  if (status != DW_STATUS_OK) return Failure(vtable, status, error);
  out->reset(new Store(vtable, handle));
  return Status::Ok();
}

Status Store::Open(const PluginRegistry& registry, std::string_view backend,
                   const std::vector<Param>& params, std::unique_ptr<Store>* out) {
  const dw_type_storage* vtable = registry.FindStorage(backend);
  if (vtable == nullptr) {
    return Status::NotFound("no loaded plugin provides the storage backend '" +
                            std::string(backend) + "' (storage.plugin)");
  }
  return Open(vtable, params, out);
}

Store::~Store() { vtable_->on_close(handle_); }

bool Store::CanForget() const {
  return vtable_->struct_size >= offsetof(dw_type_storage, on_forget) + sizeof vtable_->on_forget &&
         vtable_->on_forget != nullptr;
}

bool Store::HasOutbox() const {
  return vtable_->struct_size >= offsetof(dw_type_storage, on_scan_notifications) +
                                     sizeof vtable_->on_scan_notifications &&
         vtable_->on_scan_notifications != nullptr;
}

bool Store::KeepsSampleTags() const {
  return vtable_->struct_size >= offsetof(dw_type_storage, features) + sizeof vtable_->features &&
         (vtable_->features & DW_STORAGE_FEATURE_SAMPLE_TAGS) != 0;
}

Status Store::Write(const WriteBatch& batch) {
  if ((!batch.notifications.empty() || !batch.notification_updates.empty()) && !HasOutbox()) {
    return Status::Internal(std::string(name()) +
                            ": this storage backend keeps no notification outbox");
  }
  // Built before anything is forgotten, so that a batch refused for a tag changes nothing; the
  // tags only from the first tagged sample on, so that a batch without costs no array.
  const bool keeps_tags = KeepsSampleTags();
  std::vector<dw_type_stored_sample> samples;
  std::vector<dw_type_sample_tag> tags;
  samples.reserve(batch.samples.size());
  for (size_t i = 0; i < batch.samples.size(); ++i) {
    const StoredSample& sample = batch.samples[i];
    samples.push_back({sample.service_id != nullptr ? sample.service_id->c_str() : nullptr,
                       sample.seq, sample.timestamp_ms, sample.latency_ms, sample.payload_kb});
    if (sample.tag_series == nullptr) continue;
    if (!keeps_tags) {
      return Status::Internal(std::string(name()) + ": this storage backend keeps no sample tags");
    }
    if (tags.empty()) tags.assign(batch.samples.size(), dw_type_sample_tag{nullptr, 0});
    tags[i] = {sample.tag_series->c_str(), sample.tag_seq};
  }
  for (const std::string& service_id : batch.forgotten) {
    if (!CanForget()) {
      return Status::Internal(std::string(name()) +
                              ": this storage backend cannot forget a service");
    }
    // Forgotten before the rest is written: should that fail, the batch is retried whole, and
    // forgetting again deletes nothing new.
    dw_type_error error = NewError();
    const dw_type_status status = vtable_->on_forget(handle_, service_id.c_str(), &error);
    if (status != DW_STATUS_OK) return Failure(vtable_, status, error);
  }
  if (batch.samples.empty() && batch.events.empty() && batch.snapshots.empty() &&
      batch.notifications.empty() && batch.notification_updates.empty()) {
    return Status::Ok();
  }
  std::vector<dw_type_stored_event> events;
  events.reserve(batch.events.size());
  for (const StoredEvent& event : batch.events) {
    events.push_back({event.service_id.c_str(), event.seq, event.timestamp_ms,
                      event.from_state.c_str(), event.to_state.c_str(), event.reason.c_str(),
                      event.metadata_json.c_str()});
  }
  std::vector<dw_type_stored_snapshot> snapshots;
  snapshots.reserve(batch.snapshots.size());
  for (const StoredSnapshot& snapshot : batch.snapshots) {
    snapshots.push_back({snapshot.service_id.c_str(), snapshot.last_seq,
                         reinterpret_cast<const uint8_t*>(snapshot.data.data()),
                         snapshot.data.size()});
  }
  dw_type_write_batch raw{};  // every member, even one a later minor appends, starts zeroed
  raw.struct_size = sizeof raw;
  raw.samples = samples.data();
  raw.sample_count = samples.size();
  raw.events = events.data();
  raw.event_count = events.size();
  raw.snapshots = snapshots.data();
  raw.snapshot_count = snapshots.size();
  const std::vector<dw_type_notification> notifications = RawNotifications(batch.notifications);
  const std::vector<dw_type_notification> updates = RawNotifications(batch.notification_updates);
  raw.notifications = notifications.data();
  raw.notification_count = notifications.size();
  raw.notification_updates = updates.data();
  raw.notification_update_count = updates.size();
  raw.sample_tags = tags.empty() ? nullptr : tags.data();
  dw_type_error error = NewError();
  const dw_type_status status = vtable_->on_write(handle_, &raw, &error);
  if (status != DW_STATUS_OK) return Failure(vtable_, status, error);
  return Status::Ok();
}

Status Store::ScanServices(
    const std::function<void(const std::string& service_id, const StoredSnapshot* snapshot,
                             uint64_t max_seq)>& visit) {
  using Visit = std::remove_reference_t<decltype(visit)>;
  ScanContext<Visit> context{&visit, {}};
  auto callback = [](void* raw_context, const char* service_id,
                     const dw_type_stored_snapshot* snapshot, uint64_t max_seq) -> int {
    return GuardVisit<Visit>(raw_context, [&](const Visit& fn) {
      const std::string id = service_id;
      if (snapshot == nullptr) {
        fn(id, nullptr, max_seq);
        return;
      }
      StoredSnapshot copy;
      copy.service_id = id;
      copy.last_seq = snapshot->last_seq;
      copy.data.assign(reinterpret_cast<const char*>(snapshot->data), snapshot->size);
      fn(id, &copy, max_seq);
    });
  };
  dw_type_error error = NewError();
  const dw_type_status status = vtable_->on_scan_services(handle_, callback, &context, &error);
  if (status != DW_STATUS_OK) return Failure(vtable_, status, error);
  if (!context.exception.empty()) {
    return Status::Error(std::string(name()) + ": service scan stopped: " + context.exception);
  }
  return Status::Ok();
}

Status Store::ScanSamples(const std::string& service_id, uint64_t after_seq,
                          const std::function<void(const StoredSample&)>& visit) {
  using Visit = std::remove_reference_t<decltype(visit)>;
  ScanContext<Visit> context{&visit, {}};
  auto callback = [](void* raw_context, const dw_type_stored_sample* sample) -> int {
    return GuardVisit<Visit>(raw_context, [&](const Visit& fn) {
      fn(StoredSample{nullptr, sample->seq, sample->timestamp_ms, sample->latency_ms,
                      sample->payload_kb});
    });
  };
  dw_type_error error = NewError();
  const dw_type_status status =
      vtable_->on_scan_samples(handle_, service_id.c_str(), after_seq, callback, &context, &error);
  if (status != DW_STATUS_OK) return Failure(vtable_, status, error);
  if (!context.exception.empty()) {
    return Status::Error(std::string(name()) + ": sample scan stopped: " + context.exception);
  }
  return Status::Ok();
}

Status Store::QueryEvents(const std::string& service_id, uint32_t limit,
                          std::vector<StoredEvent>* out) {
  out->clear();
  const std::function<void(const dw_type_stored_event&)> append =
      [out](const dw_type_stored_event& event) { out->push_back(CopyEvent(event)); };
  using Visit = std::remove_reference_t<decltype(append)>;
  ScanContext<Visit> context{&append, {}};
  auto callback = [](void* raw_context, const dw_type_stored_event* event) -> int {
    return GuardVisit<Visit>(raw_context, [&](const Visit& fn) { fn(*event); });
  };
  dw_type_error error = NewError();
  const dw_type_status status =
      vtable_->on_query_events(handle_, service_id.c_str(), limit, callback, &context, &error);
  if (status != DW_STATUS_OK) {
    out->clear();
    return Failure(vtable_, status, error);
  }
  if (!context.exception.empty()) {
    out->clear();
    return Status::Error(std::string(name()) + ": event query stopped: " + context.exception);
  }
  return Status::Ok();
}

Status Store::ScanNotifications(const NotificationFilter& filter,
                                const std::function<void(StoredNotification&&)>& visit) {
  if (!HasOutbox()) {
    return Status::Internal(std::string(name()) +
                            ": this storage backend keeps no notification outbox");
  }
  using Visit = std::remove_reference_t<decltype(visit)>;
  ScanContext<Visit> context{&visit, {}};
  auto callback = [](void* raw_context, const dw_type_notification* row) -> int {
    return GuardVisit<Visit>(raw_context, [&](const Visit& fn) { fn(CopyNotification(*row)); });
  };
  const int32_t state = filter.state ? static_cast<int32_t>(*filter.state) : 0;
  dw_type_error error = NewError();
  const dw_type_status status =
      vtable_->on_scan_notifications(handle_, filter.target.c_str(), state, filter.limit,
                                     filter.newest_first ? 1 : 0, callback, &context, &error);
  if (status != DW_STATUS_OK) return Failure(vtable_, status, error);
  if (!context.exception.empty()) {
    return Status::Error(std::string(name()) + ": notification scan stopped: " + context.exception);
  }
  return Status::Ok();
}

Status Store::Stats(StoreStats* out) {
  dw_type_storage_stats stats{};
  stats.struct_size = sizeof stats;
  dw_type_error error = NewError();
  const dw_type_status status = vtable_->on_stats(handle_, &stats, &error);
  if (status != DW_STATUS_OK) return Failure(vtable_, status, error);
  *out = StoreStats{stats.sample_count, stats.event_count, stats.size_bytes};
  return Status::Ok();
}

Status Store::Purge(int64_t samples_before_ms, int64_t events_before_ms, uint32_t max_rows,
                    uint64_t* deleted) {
  *deleted = 0;
  dw_type_error error = NewError();
  const dw_type_status status =
      vtable_->on_purge(handle_, samples_before_ms, events_before_ms, max_rows, deleted, &error);
  if (status != DW_STATUS_OK) return Failure(vtable_, status, error);
  return Status::Ok();
}

}  // namespace driftwatch
