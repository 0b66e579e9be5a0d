// One service's drift state machine, exactly as docs/behaviour.md, State machine, states it:
// INSUFFICIENT_DATA -> STABLE -> DRIFT_DETECTED -> STABLE, with reset back to INSUFFICIENT_DATA.
// Not thread-safe: the engine serialises every call for one service.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/baseline_window.h"
#include "core/detector.h"
#include "core/status.h"

namespace driftwatch {

enum class ServiceState : uint8_t { kInsufficientData = 0, kStable = 1, kDriftDetected = 2 };

// "INSUFFICIENT_DATA", "STABLE", "DRIFT_DETECTED".
const char* ServiceStateName(ServiceState state);

struct BaselineParams {
  uint32_t min_samples = 100;
  uint32_t window_size = 1000;
  double window_hours = 24.0;
  uint32_t refresh_every = 50;
  double holdback_zscore = 3.0;
  // false: samples keep entering W during a drift and B keeps refreshing, so a long drift can
  // become the new normal (docs/behaviour.md, State machine, DRIFT_DETECTED).
  bool freeze_in_drift = true;
};

// A state change, as recorded in the drift events.
struct Transition {
  ServiceState from = ServiceState::kInsufficientData;
  ServiceState to = ServiceState::kInsufficientData;
  std::string reason;         // "baseline_established", "consecutive_severe_anomalies", ...
  std::string metadata_json;  // JSON object: reason, the detector's fields, detector name/version
  int64_t timestamp_ms = 0;   // timestamp of the sample that caused it (reset: the reset time)
  uint64_t seq = 0;           // the service's sample count when it happened
};

// What one Process call did.
struct ProcessResult {
  std::optional<Transition> transition;
  // The drift `transition` ends (a recovery): the transition that entered DRIFT_DETECTED.
  std::optional<Transition> ended_drift;
  std::string detector_error;  // non-empty when a detector failed (its verdict counts as none)
  std::vector<std::string> failed_detectors;  // the names of those that failed, for the metrics
};

class ServiceMonitor {
 public:
  // `params` and `detectors` must outlive the monitor.
  ServiceMonitor(const BaselineParams& params, const DetectorSet& detectors);
  ~ServiceMonitor();
  ServiceMonitor(const ServiceMonitor&) = delete;
  ServiceMonitor& operator=(const ServiceMonitor&) = delete;

  // Processes the service's next sample (docs/behaviour.md, State machine).
  ProcessResult Process(const Sample& sample);

  // Forgets W, B, held-back samples and detector state; back to INSUFFICIENT_DATA (reason "reset").
  Transition Reset(int64_t timestamp_ms);

  // Makes `transition` the last transition without a change of state: the engine records a
  // rebuild under a new detector pipeline this way (docs/behaviour.md, Decisions where the contract
  // is silent), so that GET /v1/health and the last event agree. Its `to` must be state().
  void SetLastTransition(Transition transition) { last_transition_ = std::move(transition); }

  // The whole state (everything Process depends on, and the counters the API shows) as bytes in a
  // versioned host format, and back. Restore of bytes it does not understand fails and leaves the
  // monitor as it was.
  Status Save(std::string* out) const;
  Status Restore(std::string_view bytes);

  // Asks the CPU to load some of the memory outside the monitor that the next Process reads (the
  // window's ring, the list of detector states); changes nothing.
  void Prefetch() const {
    window_.Prefetch();
    __builtin_prefetch(trigger_states_.data());
    __builtin_prefetch(recovery_state_);
  }

  ServiceState state() const { return state_; }
  uint64_t sample_count() const { return sample_count_; }  // samples processed
  const Baseline& baseline() const { return baseline_; }
  const BaselineWindow& window() const { return window_; }
  size_t held_back_count() const { return held_back_.size(); }
  // Samples the 24 h eviction dropped from W since this process started or the last reset (not
  // saved): the reason a sparse series has no baseline (docs/behaviour.md, Decisions where the
  // contract is silent).
  uint64_t aged_out() const { return aged_out_; }
  // The last transition (its timestamp and metadata feed GET /v1/health); none before the first.
  const std::optional<Transition>& last_transition() const { return last_transition_; }
  // The signed z-score of the last sample scored against B (STABLE or DRIFT_DETECTED), 0 before
  // any; not saved, so 0 again after a restart until the next sample (GET /metrics).
  double last_zscore() const { return last_zscore_; }

 private:
  // (implementation detail; see service_monitor.cc)
  void ComputeBaseline(int64_t timestamp_ms);
  void ResetTriggers();
  void StepInsufficientData(const Sample& sample, ProcessResult* result);
  void StepStable(const Sample& sample, ProcessResult* result);
  void StepDriftDetected(const Sample& sample, ProcessResult* result);
  void Enter(const Sample& sample);         // appends to W and counts toward the next refresh
  void EvictByAge();                        // drops samples older than window_hours
  void RefreshIfDue(int64_t timestamp_ms);  // recomputes B after refresh_every entries
  void Transit(ServiceState to, std::string reason, std::string metadata_json, int64_t timestamp_ms,
               ProcessResult* result);
  Observation Score(const Sample& sample) const;

  const BaselineParams& params_;
  const DetectorSet& detectors_;
  ServiceState state_ = ServiceState::kInsufficientData;
  uint64_t sample_count_ = 0;
  uint32_t entered_since_refresh_ = 0;
  BaselineWindow window_;
  Baseline baseline_;
  std::vector<Sample> held_back_;
  std::vector<void*> trigger_states_;  // one per detectors_.triggers, same order
  void* recovery_state_ = nullptr;
  std::optional<Transition> last_transition_;
  uint64_t aged_out_ = 0;
  double last_zscore_ = 0.0;
};

}  // namespace driftwatch
