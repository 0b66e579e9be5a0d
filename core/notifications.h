// Which transitions the notification targets are told about, and the outbox rows the engine
// stores with each (docs/behaviour.md, "Notifications"). Delivering them is the sender's job
// (notify/); the engine only decides and records, in the same commit as the event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/baseline_statistics.h"
#include "core/config.h"
#include "core/storage.h"

namespace driftwatch {

// An event's id within its service: "<seq>" for a transition a sample caused (a sample causes at
// most one), "<seq>-reset-<timestamp_ms>" for a reset (which takes the service's last seq).
std::string EventId(const StoredEvent& event);

// The longest incident key: PagerDuty's limit for a dedup key.
inline constexpr size_t kMaxIncidentKeyLength = 255;

// "driftwatch/<service_id>/<event id of the drift>": what a drift and the transition that ends it
// share, for targets that de-duplicate. `service_id` is the series key; when the whole would pass
// kMaxIncidentKeyLength, the key is cut and followed by "~<16 hex digits>", a hash of all of it
// (docs/behaviour.md, "Notifications").
std::string IncidentKey(const std::string& service_id, const std::string& drift_event_id);

class NotificationPlanner {
 public:
  explicit NotificationPlanner(const NotifyConfig& config);

  // False without targets: the engine then keeps no drift references and adds no rows.
  bool enabled() const { return !config_.targets.empty(); }

  // The rows for `event` (one per target, none when `on` does not list it) appended to `out`.
  // `ended_drift` is the drift event this transition ends (a recovery or a reset during a drift),
  // nullptr otherwise; `baseline` is the service's baseline when the transition happened.
  void Plan(const StoredEvent& event, const StoredEvent* ended_drift, const Baseline& baseline,
            int64_t now_ms, std::vector<StoredNotification>* out) const;

 private:
  bool Wanted(const StoredEvent& event, const StoredEvent* ended_drift) const;

  const NotifyConfig config_;
};

}  // namespace driftwatch
