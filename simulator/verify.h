// --verify: judges one run against the acceptance criteria (docs/behaviour.md, Simulator), from
// what the server reported (its transitions, located by the sample that caused each). No I/O in
// here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "simulator/driftwatch_api.h"
#include "simulator/traffic_profile.h"

namespace driftwatch::sim {

constexpr double kStableWithinSampleSeconds = 60.0;  // NORMAL
constexpr int64_t kDetectWithinSamples = 5;          // SPIKE, counted from the onset sample
constexpr int64_t kMaxExtraRecoverySamples = 2000;   // SPIKE: extra NORMAL traffic to recover

// A transition of this run: sample_index is the 1-based position, within the run, of the sample
// that caused it (its sample_seq minus the service's sample_count before the run).
struct Transition {
  int64_t sample_index = 0;
  DriftEvent event;
};

struct RunFacts {
  Mode mode = Mode::kNormal;
  Phases phases;  // of the scheduled samples
  double rate_per_s = 0;
  std::string initial_state;            // "" for a service never seen before
  std::vector<Transition> transitions;  // ascending sample_index
  int64_t samples_sent = 0;             // scheduled plus extra NORMAL samples
  int64_t extra_normal_samples = 0;
};

struct Criterion {
  std::string name;
  bool passed = false;
  std::string detail;  // what was measured, in a sentence
};

// A measured value, already as JSON text ("271", "27.1", "true", "null").
struct Measurement {
  std::string name;
  std::string json;
};

struct Verdict {
  bool passed = false;
  std::vector<Criterion> criteria;
  std::vector<Measurement> measurements;
};

Verdict Verify(const RunFacts& facts);

// The service's state after samples 1..index-1 of the run (before sample `index`).
std::string StateBefore(const RunFacts& facts, int64_t index);

// Seconds of sample time that `samples` samples span at `rate_per_s`.
double SampleSeconds(int64_t samples, double rate_per_s);

}  // namespace driftwatch::sim
