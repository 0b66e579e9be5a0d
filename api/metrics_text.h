// GET /metrics: the Prometheus text exposition format 0.0.4, rendered straight from copies of the
// engine's state taken at scrape time (docs/api.md, GET /metrics). No HTTP here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine.h"
#include "notify/sender.h"

namespace driftwatch::api {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

struct MetricsInput {
  std::string version;
  EngineStatus status;
  EngineMetrics metrics;
  std::vector<ServiceMetrics> services;
  uint32_t per_service_limit = 10000;  // metrics.per_service_limit
  std::vector<notify::TargetStatus> notification_targets;
};

std::string RenderMetrics(const MetricsInput& input);

// Appends `value` escaped as a label value: backslash, double quote and line feed.
void AppendLabelValue(std::string* out, std::string_view value);

}  // namespace driftwatch::api
