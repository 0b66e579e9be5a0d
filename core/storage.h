// The host's side of the storage ABI: an opened storage backend with a C++ interface.
#pragma once

#include <driftwatch/plugin.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/detector.h"
#include "core/plugin_loader.h"
#include "core/sample.h"
#include "core/status.h"

namespace driftwatch {

struct StoredEvent {
  std::string service_id;
  uint64_t seq = 0;
  int64_t timestamp_ms = 0;
  std::string from_state;
  std::string to_state;
  std::string reason;
  std::string metadata_json;
};

struct StoredSnapshot {
  std::string service_id;
  uint64_t last_seq = 0;
  std::string data;
};

// A service's id as the engine owns it. Every queued write of the service shares it, so a service
// that is forgotten (DELETE /v1/services/{id}) while its writes wait for a commit keeps its id as
// long as they do.
using ServiceId = std::shared_ptr<const std::string>;

// One accepted sample and its place in its service's log (docs/behaviour.md, "Storage").
struct StoredSample {
  // Null in what ScanSamples visits: the caller named the service. In the engine's rows it owns
  // nothing (WriteBatch::ids keeps the id alive).
  ServiceId service_id;
  uint64_t seq = 0;
  int64_t timestamp_ms = 0;
  double latency_ms = 0.0;
  double payload_kb = 0.0;  // NaN when the sample carried none
  // A second series the sample also feeds, and its seq there: stored once, with the tag, by a
  // backend that keeps sample tags (plugin.h, "Sample tags"). Null: untagged (always, in what
  // ScanSamples visits). Kept alive like service_id.
  ServiceId tag_series = nullptr;
  uint64_t tag_seq = 0;
};

// What the store holds now, for GET /v1/system/status.
struct StoreStats {
  uint64_t sample_count = 0;
  uint64_t event_count = 0;
  uint64_t size_bytes = 0;  // 0 when not meaningful
};

enum class NotificationState : int32_t {
  kPending = DW_NOTIFICATION_PENDING,
  kDelivered = DW_NOTIFICATION_DELIVERED,
  kFailed = DW_NOTIFICATION_FAILED,
};
// "pending", "delivered", "failed".
const char* NotificationStateName(NotificationState state);

// One transition to tell one target: a row of the store's outbox (docs/behaviour.md,
// "Notifications").
struct StoredNotification {
  std::string id;  // "<service_id>/<event id>"
  std::string target;
  std::string service_id;
  std::string body;  // the transition as JSON (core/notification_body.h)
  int64_t created_ms = 0;
  NotificationState state = NotificationState::kPending;
  uint32_t attempts = 0;
  int64_t updated_ms = 0;
  std::string last_error;
};

// What one commit writes: first every trace of the `forgotten` services is deleted, then the
// samples, events, snapshots and new notifications are stored, then the notification updates
// (state, attempts, updated_ms, last_error of stored rows) applied.
struct WriteBatch {
  std::vector<std::string> forgotten;
  std::vector<StoredSample> samples;
  // How many of `samples` are an endpoint series' copy of a sample whose service's row is also
  // here (docs/behaviour.md, "Endpoint series"), so that the writer's backlog counts samples, as
  // the queue does. Never more than that: a row not known to be such a copy counts as a sample.
  size_t endpoint_rows = 0;
  std::vector<StoredEvent> events;
  std::vector<StoredSnapshot> snapshots;
  std::vector<StoredNotification> notifications;
  std::vector<StoredNotification> notification_updates;
  // The ids that samples' service_id and tag_series point at without owning them, one for each
  // series: the engine's rows share their series' id this way, as counting a copy of the id per
  // row, and again at its release by the writer, cost the engine and the writer a few per cent
  // of their time (docs/performance.md, section 12). A sample whose id owns itself needs none.
  std::vector<ServiceId> ids;

  bool empty() const {
    return forgotten.empty() && samples.empty() && events.empty() && snapshots.empty() &&
           notifications.empty() && notification_updates.empty();
  }
  // Afterwards this batch writes what writing it and then `other` would: the data `other`'s
  // forgotten services had here is dropped, as `other` would delete it anyway, and so are the
  // tags naming them (the samples stay, their services' own).
  void Append(WriteBatch&& other);
  void Clear();
  // The samples this batch stores, each counted once whatever number of series it feeds.
  size_t SampleCount() const { return samples.size() - endpoint_rows; }
};

class Store {
 public:
  // Opens the backend with its parameters (e.g. {"path", "driftwatch.db"}); on failure returns the
  // backend's message.
  static Status Open(const dw_type_storage* vtable, const std::vector<Param>& params,
                     std::unique_ptr<Store>* out);
  // The same for the backend named `backend` among the registry's plugins (NotFound if none).
  static Status Open(const PluginRegistry& registry, std::string_view backend,
                     const std::vector<Param>& params, std::unique_ptr<Store>* out);
  ~Store();  // closes the backend
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  std::string_view name() const { return vtable_->name; }
  std::string_view version() const { return vtable_->version; }

  // Whether the backend can forget a service (ABI 1.1 on_forget); a batch that forgets one is
  // refused otherwise.
  bool CanForget() const;
  // Whether the backend keeps a notification outbox (ABI 1.2 on_scan_notifications); a batch with
  // notifications is refused otherwise.
  bool HasOutbox() const;
  // Whether the backend keeps sample tags (ABI 1.3, DW_STORAGE_FEATURE_SAMPLE_TAGS); a batch with
  // a tagged sample is refused otherwise, so a series' samples go as rows of their own instead.
  bool KeepsSampleTags() const;
  Status Write(const WriteBatch& batch);
  // `snapshot` is nullptr for a service with samples but no snapshot.
  Status ScanServices(
      const std::function<void(const std::string& service_id, const StoredSnapshot* snapshot,
                               uint64_t max_seq)>& visit);
  // The service's samples with seq > after_seq, in rising seq order (service_id left null).
  Status ScanSamples(const std::string& service_id, uint64_t after_seq,
                     const std::function<void(const StoredSample&)>& visit);
  // Newest first, at most `limit`.
  Status QueryEvents(const std::string& service_id, uint32_t limit, std::vector<StoredEvent>* out);
  // The outbox's rows in the order written (or the reverse), of `target` ("" for all) and in
  // `state` (none for all), at most `limit` (0 for no limit).
  struct NotificationFilter {
    std::string target;
    std::optional<NotificationState> state;
    uint32_t limit = 0;
    bool newest_first = false;
  };
  Status ScanNotifications(const NotificationFilter& filter,
                           const std::function<void(StoredNotification&&)>& visit);
  Status Stats(StoreStats* out);
  Status Purge(int64_t samples_before_ms, int64_t events_before_ms, uint32_t max_rows,
               uint64_t* deleted);

 private:
  Store(const dw_type_storage* vtable, void* handle) : vtable_(vtable), handle_(handle) {}
  const dw_type_storage* vtable_;
  void* handle_;
};

}  // namespace driftwatch
