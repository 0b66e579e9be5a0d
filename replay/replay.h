// `driftwatch replay` (docs/replay.md): recorded telemetry through the pipeline the server runs,
// offline. Each service's samples go, in file order, through a ServiceMonitor built with the same
// BaselineParams and DetectorSet (the same plugins, the same config) as the engine's, so the
// transitions are those the server would record for the same samples in the same order.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/detector.h"
#include "core/service_monitor.h"
#include "core/service_registry.h"
#include "replay/input.h"

namespace driftwatch::replay {

// Every series of a replay, each with its own monitor, kept by the engine's own registry
// (core/service_registry.h): a service's own series, and with series.per_endpoint its endpoint
// series, added under the same cap as the server adds them.
class Replayer {
 public:
  // `params` and `detectors` must outlive the replayer.
  Replayer(const BaselineParams& params, const DetectorSet& detectors,
           size_t max_endpoints_per_service);

  // The monitor of `service_id`'s own series, created in INSUFFICIENT_DATA the first time (as the
  // engine creates a service on its first sample). The reference stays valid as long as the
  // replayer.
  ServiceMonitor& Monitor(const std::string& service_id);
  // The monitor of the endpoint series (service_id, endpoint), created the first time as the
  // engine creates it; null when the service already has max_endpoints_per_service endpoint
  // series (its samples are then endpoint overflow). ingest.max_services has no effect in
  // replay, so no other limit applies.
  ServiceMonitor* EndpointMonitor(const std::string& service_id, std::string_view endpoint);
  size_t services() const { return registry_.size() - endpoint_series_; }
  size_t endpoint_series() const { return endpoint_series_; }

 private:
  ServiceRegistry registry_;
  const size_t max_endpoints_per_service_;
  size_t endpoint_series_ = 0;
};

struct ReplayOptions {
  std::vector<std::string> inputs;  // files and directories
  std::string labels_file;          // NAB combined_windows.json; "" for none
  bool json = false;
  // The config's `series`: with per_endpoint, a sample that names an endpoint also goes to its
  // endpoint series (docs/behaviour.md, "Endpoint series").
  SeriesConfig series;
  // Rows the server would refuse (a negative value, a bad timestamp) are skipped and counted, as
  // the server would have refused them; false (--strict): the first one stops the run.
  bool skip_bad = true;
  // Progress on stderr once a run has taken this long, then about every second.
  double progress_after_seconds = 2.0;
};

// A transition as replay prints it: the event /v1/events/{service_id} would hold, plus where the
// sample came from. `endpoint` is empty for a service's own series. --json: {"service_id",
// "endpoint" (an endpoint series' only, as the API names a series), "from_state", "to_state",
// "reason", "metadata", "timestamp", "sample_seq", "file", "line"}; text: the series as
// "service_id" or "service_id [endpoint]".
std::string TransitionJson(const std::string& service_id, std::string_view endpoint,
                           const Transition& transition, const std::string& file, int line);
std::string TransitionText(const std::string& service_id, std::string_view endpoint,
                           const Transition& transition, const std::string& file, int line);

// Runs the replay, printing transitions and the summary to `out` and progress and warnings to
// `err`. Returns the exit code: 0, or 1 with the reason on `err`.
int RunReplay(const ReplayOptions& options, const BaselineParams& params,
              const DetectorSet& detectors, std::FILE* out, std::FILE* err);

}  // namespace driftwatch::replay
