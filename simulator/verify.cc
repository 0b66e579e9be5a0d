#include "simulator/verify.h"

#include <cmath>
#include <cstdio>

namespace driftwatch::sim {
namespace {

constexpr const char* kInsufficientData = "INSUFFICIENT_DATA";
constexpr const char* kStable = "STABLE";
constexpr const char* kDriftDetected = "DRIFT_DETECTED";

std::string Fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string SecondsText(int64_t samples, double rate_per_s) {
  return Fixed(SampleSeconds(samples, rate_per_s), 1) + " s";
}

// "consecutive_severe_anomalies {...}": why a transition happened.
std::string Why(const Transition& transition) {
  return transition.event.reason + " " + transition.event.metadata_json;
}

const Transition* FirstTo(const RunFacts& facts, const std::string& state, int64_t from_index) {
  for (const Transition& transition : facts.transitions) {
    if (transition.event.to_state == state && transition.sample_index >= from_index) {
      return &transition;
    }
  }
  return nullptr;
}

class VerdictBuilder {
 public:
  void Check(std::string name, bool passed, std::string detail) {
    verdict_.criteria.push_back({std::move(name), passed, std::move(detail)});
  }
  void Count(std::string name, int64_t value) {
    verdict_.measurements.push_back({std::move(name), std::to_string(value)});
  }
  void Seconds(std::string name, double value) {
    verdict_.measurements.push_back({std::move(name), Fixed(value, 3)});
  }
  void Number(std::string name, double value) {
    verdict_.measurements.push_back({std::move(name), Fixed(value, 4)});
  }
  void Flag(std::string name, bool value) {
    verdict_.measurements.push_back({std::move(name), value ? "true" : "false"});
  }
  void Null(std::string name) { verdict_.measurements.push_back({std::move(name), "null"}); }
  Verdict Finish() {
    verdict_.passed = true;
    for (const Criterion& criterion : verdict_.criteria) {
      verdict_.passed = verdict_.passed && criterion.passed;
    }
    return std::move(verdict_);
  }

 private:
  Verdict verdict_;
};

void VerifyNormal(const RunFacts& facts, VerdictBuilder* out) {
  const int64_t limit =
      static_cast<int64_t>(std::floor(kStableWithinSampleSeconds * facts.rate_per_s + 1e-9));
  const std::string limit_text = "limit " + Fixed(kStableWithinSampleSeconds, 0) + " s";
  if (facts.initial_state == kStable) {
    out->Check("stable_within_60s", true, "already STABLE before the first sample");
    out->Flag("already_stable", true);
    out->Count("stable_at_sample", 0);
    out->Seconds("seconds_to_stable", 0);
    return;
  }
  out->Flag("already_stable", false);
  const Transition* stable = FirstTo(facts, kStable, 1);
  if (stable == nullptr) {
    out->Check("stable_within_60s", false,
               "not STABLE after " + std::to_string(facts.samples_sent) + " samples (" +
                   SecondsText(facts.samples_sent, facts.rate_per_s) + " of sample time; " +
                   limit_text + "), still " + StateBefore(facts, facts.samples_sent + 1));
    out->Null("stable_at_sample");
    out->Null("seconds_to_stable");
    return;
  }
  out->Check("stable_within_60s", stable->sample_index <= limit,
             "STABLE at sample " + std::to_string(stable->sample_index) + " (" +
                 SecondsText(stable->sample_index, facts.rate_per_s) + " of sample time; " +
                 limit_text + ") from " + stable->event.from_state + ": " + Why(*stable));
  out->Count("stable_at_sample", stable->sample_index);
  out->Seconds("seconds_to_stable", SampleSeconds(stable->sample_index, facts.rate_per_s));
}

void VerifySpike(const RunFacts& facts, VerdictBuilder* out) {
  const int64_t onset = facts.phases.spike_begin + 1;
  const int64_t last_spike_sample = facts.phases.spike_end;
  out->Count("onset_sample", onset);
  out->Count("last_spike_sample", last_spike_sample);
  out->Count("extra_normal_samples", facts.extra_normal_samples);

  const Transition* detected = FirstTo(facts, kDriftDetected, onset);
  if (detected == nullptr) {
    const std::string state_at_onset = StateBefore(facts, onset);
    std::string detail =
        "no DRIFT_DETECTED after the spike began at sample " + std::to_string(onset);
    if (state_at_onset != kStable) {
      detail += "; the service was " + state_at_onset +
                " when it began, and drift is detected only from STABLE";
    }
    out->Check("drift_within_5_samples", false, detail);
    out->Check("stable_after_spike", false, "no drift was detected, so none could end");
    for (const char* name : {"detected_at_sample", "samples_to_detect", "seconds_to_detect",
                             "recovered_at_sample", "samples_to_recover", "seconds_to_recover"}) {
      out->Null(name);
    }
    return;
  }
  const int64_t samples_to_detect = detected->sample_index - onset + 1;
  out->Check("drift_within_5_samples", samples_to_detect <= kDetectWithinSamples,
             "DRIFT_DETECTED at sample " + std::to_string(detected->sample_index) + ", " +
                 std::to_string(samples_to_detect) + " samples into the spike that began at " +
                 "sample " + std::to_string(onset) + " (limit " +
                 std::to_string(kDetectWithinSamples) + "): " + Why(*detected));
  out->Count("detected_at_sample", detected->sample_index);
  out->Count("samples_to_detect", samples_to_detect);
  out->Seconds("seconds_to_detect", SampleSeconds(samples_to_detect, facts.rate_per_s));

  const Transition* recovered = FirstTo(facts, kStable, detected->sample_index + 1);
  const std::string extra = std::to_string(facts.extra_normal_samples) + " extra NORMAL samples";
  if (recovered == nullptr) {
    const int64_t after = facts.samples_sent - last_spike_sample;
    out->Check("stable_after_spike", false,
               "still " + StateBefore(facts, facts.samples_sent + 1) + " " + std::to_string(after) +
                   " samples (" + SecondsText(after, facts.rate_per_s) +
                   ") after the spike's last sample " + std::to_string(last_spike_sample) +
                   ", with " + extra);
    out->Null("recovered_at_sample");
    out->Null("samples_to_recover");
    out->Null("seconds_to_recover");
    return;
  }
  const int64_t samples_to_recover = recovered->sample_index - last_spike_sample;
  out->Check("stable_after_spike", true,
             "STABLE again at sample " + std::to_string(recovered->sample_index) + ", " +
                 std::to_string(samples_to_recover) + " samples (" +
                 SecondsText(samples_to_recover, facts.rate_per_s) +
                 " of sample time) after the spike's last sample " +
                 std::to_string(last_spike_sample) + ", with " + extra + ": " + Why(*recovered));
  out->Count("recovered_at_sample", recovered->sample_index);
  out->Count("samples_to_recover", samples_to_recover);
  out->Seconds("seconds_to_recover", SampleSeconds(samples_to_recover, facts.rate_per_s));
}

void VerifyCreep(const RunFacts& facts, VerdictBuilder* out) {
  const int64_t ramp_first = facts.phases.ramp_begin + 1;
  const int64_t last = facts.phases.total;
  out->Count("ramp_start_sample", ramp_first);
  const Transition* detected = FirstTo(facts, kDriftDetected, ramp_first);
  if (detected == nullptr || detected->sample_index > last) {
    const std::string state_at_ramp = StateBefore(facts, ramp_first);
    std::string detail = "no DRIFT_DETECTED between the ramp's first sample " +
                         std::to_string(ramp_first) + " and the last sample " +
                         std::to_string(last);
    if (state_at_ramp != kStable) {
      detail += "; the service was " + state_at_ramp +
                " when the ramp began, and drift is detected only from STABLE";
    }
    out->Check("drift_before_end", false, detail);
    for (const char* name : {"detected_at_sample", "samples_into_ramp", "seconds_into_ramp",
                             "latency_factor_at_detection"}) {
      out->Null(name);
    }
    return;
  }
  const int64_t into_ramp = detected->sample_index - ramp_first + 1;
  const double factor = LatencyFactor(facts.mode, facts.phases, detected->sample_index - 1);
  out->Check("drift_before_end", true,
             "DRIFT_DETECTED at sample " + std::to_string(detected->sample_index) + " of " +
                 std::to_string(last) + ", " + std::to_string(into_ramp) + " samples (" +
                 SecondsText(into_ramp, facts.rate_per_s) + ") into the ramp, at latency x" +
                 Fixed(factor, 2) + ": " + Why(*detected));
  out->Count("detected_at_sample", detected->sample_index);
  out->Count("samples_into_ramp", into_ramp);
  out->Seconds("seconds_into_ramp", SampleSeconds(into_ramp, facts.rate_per_s));
  out->Number("latency_factor_at_detection", factor);
}

// Normal samples never justify a drift; a DRIFT_DETECTED caused by one is a false alarm.
void VerifyNoFalseAlarm(const RunFacts& facts, VerdictBuilder* out) {
  for (const Transition& transition : facts.transitions) {
    if (transition.event.to_state != kDriftDetected) continue;
    if (LatencyFactor(facts.mode, facts.phases, transition.sample_index - 1) != 1.0) continue;
    out->Check("no_drift_on_normal_traffic", false,
               "DRIFT_DETECTED at sample " + std::to_string(transition.sample_index) +
                   ", a sample of normal traffic: " + Why(transition));
    return;
  }
  out->Check("no_drift_on_normal_traffic", true, "no DRIFT_DETECTED caused by normal traffic");
}

}  // namespace

double SampleSeconds(int64_t samples, double rate_per_s) {
  return static_cast<double>(samples) / rate_per_s;
}

std::string StateBefore(const RunFacts& facts, int64_t index) {
  std::string state = facts.initial_state.empty() ? kInsufficientData : facts.initial_state;
  for (const Transition& transition : facts.transitions) {
    if (transition.sample_index >= index) break;
    state = transition.event.to_state;
  }
  return state;
}

Verdict Verify(const RunFacts& facts) {
  VerdictBuilder out;
  switch (facts.mode) {
    case Mode::kNormal:
      VerifyNormal(facts, &out);
      break;
    case Mode::kSpike:
      VerifySpike(facts, &out);
      break;
    case Mode::kCreep:
      VerifyCreep(facts, &out);
      break;
  }
  VerifyNoFalseAlarm(facts, &out);
  return out.Finish();
}

}  // namespace driftwatch::sim
