// `driftwatch replay` (docs/replay.md): recorded telemetry through the pipeline the server runs,
// offline. Each service's samples go, in file order, through a ServiceMonitor built with the same
// BaselineParams and DetectorSet (the same plugins, the same config) as the engine's, so the
// transitions are those the server would record for the same samples in the same order.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/detector.h"
#include "core/service_monitor.h"
#include "replay/input.h"

namespace driftwatch::replay {

// Every service of a replay, each with its own monitor, as the engine keeps them.
class Replayer {
 public:
  // `params` and `detectors` must outlive the replayer.
  Replayer(const BaselineParams& params, const DetectorSet& detectors)
      : params_(params), detectors_(detectors) {}

  // The monitor of `service_id`, created in INSUFFICIENT_DATA the first time (as the engine
  // creates a service on its first sample). The reference stays valid as long as the replayer.
  ServiceMonitor& Monitor(const std::string& service_id);
  size_t services() const { return monitors_.size(); }

 private:
  const BaselineParams& params_;
  const DetectorSet& detectors_;
  std::unordered_map<std::string, std::unique_ptr<ServiceMonitor>> monitors_;
};

struct ReplayOptions {
  std::vector<std::string> inputs;  // files and directories
  std::string labels_file;          // NAB combined_windows.json; "" for none
  bool json = false;
  // Rows the server would refuse (a negative value, a bad timestamp) are skipped and counted, as
  // the server would have refused them; false (--strict): the first one stops the run.
  bool skip_bad = true;
  // Progress on stderr once a run has taken this long, then about every second.
  double progress_after_seconds = 2.0;
};

// A transition as replay prints it: the event /v1/events/{service_id} would hold, plus where the
// sample came from. --json: {"service_id", "from_state", "to_state", "reason", "metadata",
// "timestamp", "sample_seq", "file", "line"}.
std::string TransitionJson(const std::string& service_id, const Transition& transition,
                           const std::string& file, int line);
std::string TransitionText(const std::string& service_id, const Transition& transition,
                           const std::string& file, int line);

// Runs the replay, printing transitions and the summary to `out` and progress and warnings to
// `err`. Returns the exit code: 0, or 1 with the reason on `err`.
int RunReplay(const ReplayOptions& options, const BaselineParams& params,
              const DetectorSet& detectors, std::FILE* out, std::FILE* err);

}  // namespace driftwatch::replay
