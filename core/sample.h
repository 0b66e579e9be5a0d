// One telemetry sample as the engine sees it: what the API accepted, after validation.
#pragma once

#include <cstdint>
#include <string>

namespace driftwatch {

// One sample as the engine sees it. payload_kb is NaN when the sample carried none.
struct Sample {
  int64_t timestamp_ms = 0;
  double latency_ms = 0.0;
  double payload_kb = 0.0;
};

// A sample and the service it belongs to, as the API hands it to the engine.
struct IncomingSample {
  std::string service_id;
  Sample sample;
};

}  // namespace driftwatch
