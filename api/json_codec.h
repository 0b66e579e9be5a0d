// The API's JSON: parsing and validating samples (SPEC 3) with RapidJSON, and writing every
// response body. No HTTP in here, so all of it is testable on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/engine.h"
#include "core/plugin_loader.h"

namespace driftwatch::api {

// A client error as the API reports it: {"error": code, "message": ..., "field"?, "index"?}.
struct ApiError {
  int http_status = 400;
  std::string code;     // "malformed_json", "validation_failed", "not_found", ...
  std::string message;  // for humans
  std::string field;    // the field at fault ("(body)", "(item)", "limit", ...); "" for none
  int64_t index = -1;   // the batch item at fault; -1 for none
  // More numeric fields, e.g. {"samples": 99, "needed": 100} for no_baseline.
  std::vector<std::pair<std::string, uint64_t>> numbers;
};

// An error with no field or index (most of the API's own refusals).
ApiError MakeError(int status, std::string code, std::string message);

// The longest service id, and the characters it may use (SPEC 3).
constexpr size_t kMaxServiceIdLength = 128;
bool IsValidServiceId(std::string_view service_id);

// The server's clock as a request's samples are accepted: a sample without a timestamp gets
// `now_ms`, and one timestamped after now_ms + max_future_ms (ingest.max_future_seconds) is
// refused.
struct AcceptanceClock {
  int64_t now_ms = 0;
  int64_t max_future_ms = 0;
};

// POST /v1/telemetry: one JSON object.
// Returns the error to answer with, or nothing when *out holds the sample.
std::optional<ApiError> ParseSampleBody(std::string_view body, const AcceptanceClock& clock,
                                        IncomingSample* out);

// POST /v1/telemetry/batch: a non-empty JSON array of samples, all valid or none taken. Items are
// validated as they are read, so memory follows the samples the body holds, not its JSON values.
std::optional<ApiError> ParseBatchBody(std::string_view body, const AcceptanceClock& clock,
                                       std::vector<IncomingSample>* out);

// --- Response bodies --------------------------------------------------------------------------

std::string ErrorJson(const ApiError& error);
std::string AcceptedJson(const IncomingSample& sample);
std::string BatchAcceptedJson(size_t accepted);
std::string HealthJson(const ServiceHealth& health);
std::string BaselineJson(const ServiceHealth& health);  // requires health.baseline.valid
std::string ResetJson(const std::string& service_id);
std::string EventsJson(const std::string& service_id, const std::vector<StoredEvent>& events);
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
};
std::string StatusJson(const SystemStatus& status);

}  // namespace driftwatch::api
