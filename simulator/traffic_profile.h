// The synthetic traffic of docs/behaviour.md, Simulator: NORMAL, SPIKE and CREEP, reproducible from
// a seed.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace driftwatch::sim {

enum class Mode { kNormal, kSpike, kCreep };

// "NORMAL", "SPIKE", "CREEP" (any case); nothing for anything else.
std::optional<Mode> ParseMode(std::string_view text);
std::string ModeName(Mode mode);

// The normal profile.
constexpr double kNormalLatencyMeanMs = 150.0;
constexpr double kNormalLatencyStddevMs = 25.0;
constexpr double kMinLatencyMs = 1.0;
constexpr double kNormalPayloadMeanKb = 2.45;
constexpr double kNormalPayloadStddevKb = 0.76;
constexpr double kMinPayloadKb = 0.0;
constexpr double kDegradedLatencyFactor = 3.0;  // SPIKE's spike, CREEP's plateau

// Where a run's phases start and end, as 0-based sample indices; each range is half-open
// [begin, end). A SPIKE run's spike is [spike_begin, spike_end) (30% to 50% of the samples); a
// CREEP run's ramp is [ramp_begin, ramp_end) (25% to 65%) and its plateau [ramp_end, total).
struct Phases {
  int64_t total = 0;
  int64_t spike_begin = 0;
  int64_t spike_end = 0;
  int64_t ramp_begin = 0;
  int64_t ramp_end = 0;
};
Phases PhasesFor(int64_t total_samples);

// The factor applied to the normal latency draw of sample `index` (0-based) of a run of `mode`.
// 1 outside the degraded phases; SPIKE: 3 in the spike; CREEP: rises linearly over the ramp, so
// its first sample is at 1 + 2/ramp_length and its last at exactly 3, then 3 to the end.
// Indices at or past the end of the run (the extra NORMAL traffic of --verify) get 1.
double LatencyFactor(Mode mode, const Phases& phases, int64_t index);

struct Sample {
  double latency_ms = 0;
  double payload_kb = 0;
};

// A sample from two standard normal draws: latency = max(1, 150 + 25 z) x factor,
// payload = max(0, 2.45 + 0.76 z).
Sample ShapeSample(double latency_z, double payload_z, double latency_factor);

// Draws the samples of one run in order. The same seed gives the same samples on every platform:
// std::mt19937_64 is fully specified, and the normal draws use our own Box-Muller transform
// rather than std::normal_distribution, whose algorithm each standard library picks.
class TrafficGenerator {
 public:
  TrafficGenerator(Mode mode, int64_t total_samples, uint64_t seed);

  // The next sample: a normal draw, clamped, then scaled by LatencyFactor. Past the scheduled
  // samples it keeps drawing NORMAL samples.
  Sample Next();

  int64_t next_index() const { return next_index_; }
  const Phases& phases() const { return phases_; }

 private:
  Mode mode_;
  Phases phases_;
  std::mt19937_64 random_;
  int64_t next_index_ = 0;
};

}  // namespace driftwatch::sim
