#include "core/pipeline.h"

#include <memory>
#include <string>
#include <utility>

#include "core/plugin_status.h"

namespace driftwatch {
namespace {

// "cfg.yaml:9: key: " for a key in the file; "key (built-in default): " for one that is not.
std::string Where(const Config& config, int line, const std::string& key) {
  if (line <= 0) return key + " (built-in default): ";
  return config.source + ":" + std::to_string(line) + ": " + key + ": ";
}

std::string Joined(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// Finds, checks and configures one detector of the pipeline; `key` is where the config names it.
Status Build(const Config& config, const PluginRegistry& registry, const DetectorConfig& wanted,
             dw_type_detector_role role, const std::string& key,
             std::unique_ptr<ConfiguredDetector>* out) {
  const dw_type_detector* vtable = registry.FindDetector(wanted.name);
  if (vtable == nullptr) {
    return Status::Error(Where(config, wanted.line, key) + "no loaded plugin provides detector '" +
                         wanted.name + "' (loaded: " + Joined(registry.DetectorNames()) + ")");
  }
  if (vtable->role != role) {
    const bool want_trigger = role == DW_DETECTOR_ROLE_TRIGGER;
    return Status::Error(Where(config, wanted.line, key) + "detector '" + wanted.name + "' is a " +
                         (want_trigger ? "recovery" : "trigger") + " detector, not a " +
                         (want_trigger ? "trigger" : "recovery") + " detector");
  }
  int32_t bad_param_index = -1;
  Status status = ConfiguredDetector::Create(vtable, wanted.params, out, &bad_param_index);
  if (status.ok()) return status;

  const std::string why = status.message().empty()
                              ? "the detector refused its configuration and gave no reason"
                              : status.message();
  const std::string section = "detectors." + wanted.name;
  if (bad_param_index >= 0 && static_cast<size_t>(bad_param_index) < wanted.params.size()) {
    const size_t index = static_cast<size_t>(bad_param_index);
    const int line = index < wanted.param_lines.size() ? wanted.param_lines[index] : 0;
    const std::string& param = wanted.params[index].key;
    return Status::Error(Where(config, line, section + "." + param) +
                         WithoutLeadingName(why, param));
  }
  // Not one parameter in particular: point at the detector's parameters, or where it is named.
  if (wanted.param_lines.empty()) return Status::Error(Where(config, wanted.line, key) + why);
  return Status::Error(Where(config, wanted.param_lines.front(), section) + why);
}

}  // namespace

Status BuildDetectorSet(const Config& config, const PluginRegistry& registry, DetectorSet* out) {
  DetectorSet built;
  for (size_t i = 0; i < config.triggers.size(); ++i) {
    std::unique_ptr<ConfiguredDetector> detector;
    Status status = Build(config, registry, config.triggers[i], DW_DETECTOR_ROLE_TRIGGER,
                          "pipeline.triggers[" + std::to_string(i) + "]", &detector);
    if (!status.ok()) return status;
    built.triggers.push_back(std::move(detector));
  }
  Status status = Build(config, registry, config.recovery, DW_DETECTOR_ROLE_RECOVERY,
                        "pipeline.recovery", &built.recovery);
  if (!status.ok()) return status;
  *out = std::move(built);
  return Status::Ok();
}

}  // namespace driftwatch
