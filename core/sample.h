// One telemetry sample as the engine sees it: what the API accepted, after validation.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace driftwatch {

// One sample as the engine sees it. payload_kb is NaN when the sample carried none.
struct Sample {
  int64_t timestamp_ms = 0;
  double latency_ms = 0.0;
  double payload_kb = 0.0;
};

// A sample and the service it belongs to, as the API hands it to the engine; `endpoint` is empty
// when the sample named none (docs/behaviour.md, "Endpoint series").
struct IncomingSample {
  IncomingSample() = default;
  IncomingSample(std::string id, Sample value, std::string endpoint_name = {})
      : service_id(std::move(id)), sample(value), endpoint(std::move(endpoint_name)) {}

  std::string service_id;
  Sample sample;
  std::string endpoint;
};

}  // namespace driftwatch
