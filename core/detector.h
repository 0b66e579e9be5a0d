// The host's side of the detector ABI: one configured detector type, and its per-service state.
// The engine reaches detector logic only through these wrappers (never linking a detector).
#pragma once

#include <driftwatch/plugin.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace driftwatch {

struct Param {
  std::string key;
  std::string value;
};

// One sample scored against its service's baseline: what a detector judges (docs/behaviour.md).
struct Observation {
  double value = 0;  // the sample's latency_ms
  double zscore = 0;
  double abs_zscore = 0;
  int64_t timestamp_ms = 0;
};

enum class VerdictKind { kNone, kFire, kRecovered };

// What a detector concluded. reason and fields are filled only with a verdict (kFire or
// kRecovered): observing allocates nothing otherwise.
struct Verdict {
  VerdictKind kind = VerdictKind::kNone;
  std::string reason;                                  // "" when the detector gave none
  std::vector<std::pair<std::string, double>> fields;  // for the event's metadata
};

// A detector type from a plugin, configured with its parameters (on_config_new). Shared by every
// service; read-only after creation, so safe to use from several threads.
class ConfiguredDetector {
 public:
  // On failure returns the plugin's message; *bad_param_index is the index of the parameter at
  // fault, or -1.
  static Status Create(const dw_type_detector* vtable, const std::vector<Param>& params,
                       std::unique_ptr<ConfiguredDetector>* out, int32_t* bad_param_index);
  ~ConfiguredDetector();
  ConfiguredDetector(const ConfiguredDetector&) = delete;
  ConfiguredDetector& operator=(const ConfiguredDetector&) = delete;

  std::string_view name() const { return vtable_->name; }
  std::string_view version() const { return vtable_->version; }
  dw_type_detector_role role() const { return static_cast<dw_type_detector_role>(vtable_->role); }

  // Per-service state operations; `state` comes from NewState and is destroyed by DestroyState.
  Status NewState(void** state) const;
  void DestroyState(void* state) const;
  // Sets *verdict from one observation (kNone on failure).
  Status Observe(void* state, const Observation& observation, Verdict* verdict) const;
  void Reset(void* state) const;
  Status Save(const void* state, std::string* out) const;  // appends nothing on failure
  Status Restore(void* state, std::string_view bytes) const;

 private:
  ConfiguredDetector(const dw_type_detector* vtable, void* config)
      : vtable_(vtable), config_(config) {}
  const dw_type_detector* vtable_;
  void* config_;
};

// The detectors a service runs: trigger detectors in order, then one recovery detector.
struct DetectorSet {
  std::vector<std::unique_ptr<ConfiguredDetector>> triggers;
  std::unique_ptr<ConfiguredDetector> recovery;
};

}  // namespace driftwatch
