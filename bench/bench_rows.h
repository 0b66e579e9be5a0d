// The rows the batch benchmarks send: deterministic, so DriftWatch (over HTTP) and the raw SQLite
// reference store exactly the same services, sequence numbers, timestamps and values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

namespace driftwatch::bench {

struct BenchRow {
  uint32_t service = 0;  // index; its id is ServiceName(service)
  uint64_t seq = 0;      // 1, 2, 3, ... per service
  int64_t timestamp_ms = 0;
  double latency_ms = 0.0;
  double payload_kb = 0.0;
};

inline std::string ServiceName(uint32_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "bench-svc-%06u", index);
  return name;
}

// Rounds to the three decimals a client would send as text.
inline double Milli(double value) { return std::round(value * 1000.0) / 1000.0; }

// Row k goes to service k % services, one millisecond after row k - 1: round-robin, the order a
// fleet of services reporting at the same rate produces. Values follow the simulator's NORMAL mode.
class RowGenerator {
 public:
  RowGenerator(uint32_t services, int64_t first_timestamp_ms, uint64_t seed = 42)
      : services_(services), first_timestamp_ms_(first_timestamp_ms), random_(seed) {}

  BenchRow Next() {
    BenchRow row;
    row.service = static_cast<uint32_t>(index_ % services_);
    row.seq = index_ / services_ + 1;
    row.timestamp_ms = first_timestamp_ms_ + static_cast<int64_t>(index_);
    row.latency_ms = Milli(std::max(1.0, latency_(random_)));
    row.payload_kb = Milli(std::max(0.0, payload_(random_)));
    ++index_;
    return row;
  }

 private:
  uint32_t services_;
  int64_t first_timestamp_ms_;
  uint64_t index_ = 0;
  std::mt19937_64 random_;
  std::normal_distribution<double> latency_{150.0, 25.0};
  std::normal_distribution<double> payload_{2.45, 0.76};
};

}  // namespace driftwatch::bench
