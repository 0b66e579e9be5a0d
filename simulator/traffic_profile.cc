#include "simulator/traffic_profile.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numbers>

namespace driftwatch::sim {
namespace {

// Phase boundaries in percent of the run's samples (docs/behaviour.md, Simulator).
constexpr int64_t kSpikeBeginPercent = 30;
constexpr int64_t kSpikeEndPercent = 50;
constexpr int64_t kRampBeginPercent = 25;
constexpr int64_t kRampEndPercent = 65;

int64_t PercentOf(int64_t total, int64_t percent) { return total * percent / 100; }

// A uniform double in (0, 1]: the top 53 bits of one draw, shifted off zero so log() is finite.
double UniformOpenClosed(std::mt19937_64& random) {
  constexpr double kTwoToMinus53 = 1.0 / 9007199254740992.0;
  return (static_cast<double>(random() >> 11) + 1.0) * kTwoToMinus53;
}

}  // namespace

std::optional<Mode> ParseMode(std::string_view text) {
  std::string upper(text);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (upper == "NORMAL") return Mode::kNormal;
  if (upper == "SPIKE") return Mode::kSpike;
  if (upper == "CREEP") return Mode::kCreep;
  return std::nullopt;
}

std::string ModeName(Mode mode) {
  switch (mode) {
    case Mode::kNormal:
      return "NORMAL";
    case Mode::kSpike:
      return "SPIKE";
    case Mode::kCreep:
      return "CREEP";
  }
  return "NORMAL";
}

Phases PhasesFor(int64_t total_samples) {
  Phases phases;
  phases.total = total_samples;
  phases.spike_begin = PercentOf(total_samples, kSpikeBeginPercent);
  phases.spike_end = PercentOf(total_samples, kSpikeEndPercent);
  phases.ramp_begin = PercentOf(total_samples, kRampBeginPercent);
  phases.ramp_end = PercentOf(total_samples, kRampEndPercent);
  return phases;
}

double LatencyFactor(Mode mode, const Phases& phases, int64_t index) {
  if (index < 0 || index >= phases.total) return 1.0;
  switch (mode) {
    case Mode::kNormal:
      return 1.0;
    case Mode::kSpike:
      return index >= phases.spike_begin && index < phases.spike_end ? kDegradedLatencyFactor : 1.0;
    case Mode::kCreep: {
      if (index < phases.ramp_begin) return 1.0;
      if (index >= phases.ramp_end) return kDegradedLatencyFactor;
      const double ramp_length = static_cast<double>(phases.ramp_end - phases.ramp_begin);
      const double progress = static_cast<double>(index - phases.ramp_begin + 1) / ramp_length;
      return 1.0 + (kDegradedLatencyFactor - 1.0) * progress;
    }
  }
  return 1.0;
}

TrafficGenerator::TrafficGenerator(Mode mode, int64_t total_samples, uint64_t seed)
    : mode_(mode), phases_(PhasesFor(total_samples)), random_(seed) {}

Sample TrafficGenerator::Next() {
  // Box-Muller: two uniform draws give two independent standard normal draws, one for each field.
  const double radius = std::sqrt(-2.0 * std::log(UniformOpenClosed(random_)));
  const double angle = 2.0 * std::numbers::pi * UniformOpenClosed(random_);
  const double latency_z = radius * std::cos(angle);
  const double payload_z = radius * std::sin(angle);

  const Sample sample =
      ShapeSample(latency_z, payload_z, LatencyFactor(mode_, phases_, next_index_));
  ++next_index_;
  return sample;
}

Sample ShapeSample(double latency_z, double payload_z, double latency_factor) {
  Sample sample;
  const double normal_latency =
      std::max(kMinLatencyMs, kNormalLatencyMeanMs + kNormalLatencyStddevMs * latency_z);
  sample.latency_ms = normal_latency * latency_factor;
  sample.payload_kb =
      std::max(kMinPayloadKb, kNormalPayloadMeanKb + kNormalPayloadStddevKb * payload_z);
  return sample;
}

}  // namespace driftwatch::sim
