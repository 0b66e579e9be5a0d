// libFuzzer target: the YAML config loader (core/config.cc), given the file's text. A config it
// accepts must hold the promises start-up relies on; one it refuses must say where, and leave the
// defaults it was given untouched.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/config.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  driftwatch::Config config;
  const driftwatch::Status status = driftwatch::LoadConfigText(text, "fuzz.yaml", &config);
  if (!status.ok()) {
    Require(status.message().rfind("fuzz.yaml:", 0) == 0);
    Require(config.source.empty());  // unchanged on failure
    return 0;
  }
  const driftwatch::BaselineParams& baseline = config.baseline;
  Require(baseline.min_samples >= 2 && baseline.min_samples <= baseline.window_size);
  Require(baseline.window_hours > 0 && baseline.refresh_every >= 1);
  Require(!config.triggers.empty() && !config.recovery.name.empty());
  for (const driftwatch::DetectorConfig& trigger : config.triggers) {
    Require(!trigger.name.empty() && trigger.params.size() == trigger.param_lines.size());
  }
  for (const std::string& token : config.server.auth_tokens) Require(!token.empty());
  Require(config.server.threads >= 1 && config.server.max_request_bytes >= 1);
  Require(config.storage.commit_interval_ms >= 1 && config.ingest.queue_capacity >= 1);
  Require(config.retention.telemetry_days > 0 && config.retention.events_days > 0);
  return 0;
}
