// Every JSON body the API answers with, written with RapidJSON's writer: errors, accepted samples,
// health, baselines, events, services, the system status. No HTTP here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/api_error.h"
#include "core/engine.h"
#include "core/plugin_loader.h"
#include "notify/sender.h"

namespace driftwatch::api {

std::string ErrorJson(const ApiError& error);
std::string AcceptedJson(const IncomingSample& sample);
std::string BatchAcceptedJson(size_t accepted);
std::string HealthJson(const ServiceHealth& health);
std::string BaselineJson(const ServiceHealth& health);  // requires health.baseline.valid
// DELETE /v1/services/{id}: {"status":"forgotten","service_id":...}.
std::string ForgottenJson(const std::string& service_id);
std::string ResetJson(const std::string& service_id);
std::string EventsJson(const std::string& service_id, const std::vector<StoredEvent>& events);
// GET /v1/telemetry/{id}: the samples in the order given, and the cursor of the next page
// (null when this is the last).
std::string TelemetryJson(const std::string& service_id, const std::vector<StoredSample>& samples,
                          std::optional<uint64_t> next_after_seq);
std::string ServicesJson(const std::vector<ServiceHealth>& services);

// A limit as configured, and how many requests it refused since start.
struct LimitStatus {
  std::string name;  // the config key without its section, e.g. "max_request_bytes"
  uint64_t limit = 0;
  uint64_t rejected = 0;
};

// Everything GET /v1/system/status shows.
struct SystemStatus {
  EngineStatus engine;
  int64_t uptime_seconds = 0;
  bool have_store_stats = false;  // false until the store answered its first Stats call
  uint64_t stored_samples = 0;
  uint64_t stored_events = 0;
  uint64_t database_size_bytes = 0;
  std::string version;
  std::string storage_plugin;
  std::vector<LoadedPlugin> plugins;
  std::vector<std::string> trigger_detectors;
  std::string recovery_detector;
  std::vector<LimitStatus> limits;
  bool durable = false;        // ingest.durable: 202 only once committed
  bool auth_required = false;  // server.auth_tokens is set
  uint64_t rejected_unauthorized = 0;
  uint64_t open_connections = 0;
  std::vector<notify::TargetStatus> notification_targets;  // none without notify.targets
};
std::string StatusJson(const SystemStatus& status);

// GET /v1/notifications: the rows, newest first.
std::string NotificationsJson(const std::vector<StoredNotification>& rows);

}  // namespace driftwatch::api
