// Every setting DriftWatch has, with its default in exactly one place (the member initialisers
// below; detector parameters default inside each detector plugin). An optional YAML file
// overrides any of them; see docs/configuration.md for the keys.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/detector.h"
#include "core/service_monitor.h"
#include "core/status.h"

namespace driftwatch {

// One detector in the pipeline, with the parameters the config gave it (as text) and where.
struct DetectorConfig {
  std::string name;
  std::vector<Param> params;
  std::vector<int> param_lines;  // 1-based line of each parameter in the config file (0: none)
  int line = 0;                  // where the detector was named (0: the built-in default)
};

struct RetentionConfig {
  double telemetry_days = 7.0;
  double events_days = 30.0;
};

struct ServerConfig {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;
  uint32_t threads = 2;                      // HTTP reactor threads
  uint32_t max_request_bytes = 1024 * 1024;  // larger bodies get 413
  uint32_t header_timeout_ms = 10000;        // slow clients are cut off after these
  uint32_t body_timeout_ms = 30000;
  uint32_t keepalive_timeout_ms = 60000;  // idle connections, and answers left unread, this long
  uint32_t max_connections = 0;           // 0: sized from the open-file limit at start
  std::string access_log;                 // "": none; "-": standard output; else a file
  std::vector<std::string> auth_tokens;   // empty: no authentication (the default)
};

struct StorageConfig {
  std::string plugin = "sqlite";
  std::string path = "driftwatch.db";
  uint32_t commit_interval_ms = 50;  // the default mode's loss window after a hard kill
  uint32_t snapshot_every = 1000;    // samples between a service's state snapshots
  // The backend's own keys (url, namespace, lease_seconds, standby), as text, only those the file
  // set: the backend checks them, and one it does not take (a url for sqlite) is refused there.
  std::vector<Param> backend_params;
  std::vector<int> backend_param_lines;  // 1-based line of each, for messages
};

struct IngestConfig {
  uint32_t queue_capacity = 65536;  // samples waiting for the engine; beyond: 503
  uint32_t max_services = 200000;   // a new service beyond this gets 429
  bool durable = false;             // answer 202 only after the sample is committed
  // A sample timestamped further ahead of the server's clock gets 422: it would be its service's
  // newest sample for that long, holding back the baseline window's eviction and retention.
  uint32_t max_future_seconds = 3600;
};

// Where transitions are sent (docs/configuration.md, "notify"). Secrets are resolved from the
// environment at load time and must never be printed.
struct NotifyTarget {
  std::string name;         // unique among the targets: [a-z0-9_-], 1-64 characters
  std::string type;         // alertmanager, webhook, slack or pagerduty
  std::string url;          // http(s); for pagerduty, the Events API v2 URL by default
  std::string secret;       // webhook: the HMAC-SHA256 key ("" for unsigned)
  std::string routing_key;  // pagerduty
  std::vector<std::pair<std::string, std::string>> headers;  // webhook: extra request headers
  int line = 0;
};

struct NotifyConfig {
  std::string public_url;  // "" for none: links are left out
  // The transitions sent, by the state or reason they lead to.
  std::vector<std::string> on = {"drift_detected", "recovered"};
  uint32_t resend_interval_seconds = 60;       // alertmanager: a firing alert is re-sent this often
  uint32_t timeout_seconds = 10;               // one delivery attempt
  uint32_t give_up_after_seconds = 24 * 3600;  // then a notification is marked failed
  std::vector<NotifyTarget> targets;           // none: nothing is sent (the default)
};

struct MetricsConfig {
  // GET /metrics: above this many services, only those not STABLE get per-service series.
  uint32_t per_service_limit = 10000;
};

// Per-endpoint series (docs/behaviour.md, "Endpoint series").
struct SeriesConfig {
  bool per_endpoint = false;  // also monitor each (service, endpoint) pair as its own series
  uint32_t max_endpoints_per_service = 100;  // beyond: counted as endpoint_overflow
};

struct Config {
  BaselineParams baseline;
  // Trigger detectors run in this order; the first to fire wins.
  std::vector<DetectorConfig> triggers = {{"zscore_severe", {}, {}, 0},
                                          {"moderate_window", {}, {}, 0}};
  DetectorConfig recovery = {"recovery", {}, {}, 0};
  RetentionConfig retention;
  ServerConfig server;
  StorageConfig storage;
  IngestConfig ingest;
  NotifyConfig notify;
  MetricsConfig metrics;
  SeriesConfig series;
  std::vector<std::string> plugin_dirs;  // searched after the bundled plugin directory
  std::string source;                    // the file it was loaded from ("" for defaults)
};

// Loads `path` over the defaults. On failure returns a message that names the file, the line and
// the key: "cfg.yaml:7: baseline.window_size: expected a whole number >= 1, got 'abc'".
// Unknown keys, wrong types and out-of-range values are all failures.
Status LoadConfigFile(const std::string& path, Config* config);

// The same for a file's content, already read; `path` only names it in messages.
Status LoadConfigText(const std::string& text, const std::string& path, Config* config);

}  // namespace driftwatch
