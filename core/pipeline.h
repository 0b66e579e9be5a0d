// Builds the detectors a service runs from the config and the loaded plugins: each name in
// pipeline.triggers and pipeline.recovery is looked up, checked for its role, and configured with
// the parameters under detectors.<name>.
#pragma once

#include "core/config.h"
#include "core/detector.h"
#include "core/plugin_loader.h"
#include "core/status.h"

namespace driftwatch {

// Fills *out on success. On failure returns a message naming the config file, line and key, e.g.
// "cfg.yaml:9: pipeline.triggers[2]: no loaded plugin provides detector 'ewma' (loaded: ...)" or
// "cfg.yaml:12: detectors.zscore_severe.threshold: <the plugin's message>", and leaves *out as it
// was. `registry` must outlive *out (the detectors live in its libraries).
Status BuildDetectorSet(const Config& config, const PluginRegistry& registry, DetectorSet* out);

}  // namespace driftwatch
