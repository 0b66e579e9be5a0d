// The baseline statistics B of a window (docs/behaviour.md, Statistics): mean, sample standard
// deviation and percentiles of the latencies, mean and standard deviation of the payloads present.
#pragma once

#include <cstdint>
#include <vector>

namespace driftwatch {

// B: what a service's normal looks like. Valid once computed from at least min_samples samples.
struct Baseline {
  bool valid = false;
  double mean_latency = 0.0;
  double stddev_latency = 0.0;  // sample standard deviation (n - 1)
  double p50_latency = 0.0;     // percentiles: linear interpolation between closest ranks (numpy)
  double p95_latency = 0.0;
  double p99_latency = 0.0;
  bool has_payload = false;  // false when no sample of W carried a payload
  double mean_payload = 0.0;
  double stddev_payload = 0.0;  // 0 when fewer than two samples carried a payload
  uint32_t sample_count = 0;    // |W| at computation
  int64_t last_updated_ms = 0;  // timestamp of the sample that caused the computation
};

// B from a window's latencies and the payloads its samples carried (both reordered). Requires
// !latencies.empty(); last_updated_ms and the sample count are the caller's.
Baseline ComputeBaseline(std::vector<double>& latencies, std::vector<double>& payloads,
                         uint32_t sample_count, int64_t last_updated_ms);

// numpy.percentile(values, q, method="linear") for q in [0, 100]; reorders `values`.
// Exposed for tests. Requires !values.empty().
double LinearPercentile(std::vector<double>& values, double q);

}  // namespace driftwatch
