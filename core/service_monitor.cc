#include "core/service_monitor.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "core/monitor_snapshot.h"

namespace driftwatch {
namespace {

constexpr double kSigmaFloorFraction = 0.001;  // s >= 0.001 * max(|mean|, 1.0)
constexpr double kMsPerHour = 3600.0 * 1000.0;
constexpr double kLargestExactInteger = 9007199254740992.0;  // 2^53

// ---- JSON metadata ---------------------------------------------------------------------------

// A transition's metadata object, written with RapidJSON (docs/behaviour.md, Detectors).
class MetadataObject {
 public:
  MetadataObject() : writer_(buffer_) { writer_.StartObject(); }
  void Add(std::string_view key, std::string_view value) {
    writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    writer_.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }
  // Integers without a decimal point (5, not 5.0); NaN and infinities, which JSON lacks, as null.
  void Add(std::string_view key, double value) {
    writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    if (!std::isfinite(value)) {
      writer_.Null();
    } else if (value == std::trunc(value) && std::fabs(value) < kLargestExactInteger) {
      writer_.Int64(static_cast<int64_t>(value));
    } else {
      writer_.Double(value);
    }
  }
  std::string Finish() {
    writer_.EndObject();
    return std::string(buffer_.GetString(), buffer_.GetSize());
  }

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

// {"reason":..., <detector fields>..., "detector":..., "detector_version":...}
std::string DetectorMetadata(std::string_view reason, const Verdict& verdict,
                             const ConfiguredDetector& detector) {
  MetadataObject metadata;
  metadata.Add("reason", reason);
  for (const auto& [key, value] : verdict.fields) {
    // The host's own keys win: a field may not make the object ambiguous.
    if (key == "reason" || key == "detector" || key == "detector_version") continue;
    metadata.Add(key, value);
  }
  metadata.Add("detector", detector.name());
  metadata.Add("detector_version", detector.version());
  return metadata.Finish();
}

std::string ReasonOf(const Verdict& verdict, const ConfiguredDetector& detector) {
  return !verdict.reason.empty() ? verdict.reason : std::string(detector.name());
}

void AppendError(ProcessResult* result, const ConfiguredDetector& detector, const Status& status) {
  std::string* errors = &result->detector_error;
  result->failed_detectors.emplace_back(detector.name());
  if (!errors->empty()) errors->append("; ");
  errors->append(detector.name());
  errors->append(": ");
  errors->append(status.message());
}

}  // namespace

const char* ServiceStateName(ServiceState state) {
  switch (state) {
    case ServiceState::kInsufficientData:
      return "INSUFFICIENT_DATA";
    case ServiceState::kStable:
      return "STABLE";
    case ServiceState::kDriftDetected:
      return "DRIFT_DETECTED";
  }
  return "UNKNOWN";
}

ServiceMonitor::ServiceMonitor(const BaselineParams& params, const DetectorSet& detectors)
    : params_(params), detectors_(detectors), window_(params.window_size) {
  // Detectors that cannot even create an empty state are a configuration failure: caught at
  // start-up, when the first monitor is made.
  const auto fail = [this](const ConfiguredDetector& detector, const Status& status) {
    for (size_t i = 0; i < trigger_states_.size(); ++i) {
      detectors_.triggers[i]->DestroyState(trigger_states_[i]);
    }
    throw std::runtime_error("detector " + std::string(detector.name()) +
                             " cannot create a state: " + status.message());
  };
  if (detectors_.recovery == nullptr) throw std::runtime_error("no recovery detector configured");
  for (const auto& trigger : detectors_.triggers) {
    void* state = nullptr;
    Status status = trigger->NewState(&state);
    if (!status.ok()) fail(*trigger, status);
    trigger_states_.push_back(state);
  }
  Status status = detectors_.recovery->NewState(&recovery_state_);
  if (!status.ok()) fail(*detectors_.recovery, status);
}

ServiceMonitor::~ServiceMonitor() {
  for (size_t i = 0; i < trigger_states_.size(); ++i) {
    detectors_.triggers[i]->DestroyState(trigger_states_[i]);
  }
  detectors_.recovery->DestroyState(recovery_state_);
}

ProcessResult ServiceMonitor::Process(const Sample& sample) {
  ProcessResult result;
  ++sample_count_;
  switch (state_) {
    case ServiceState::kInsufficientData:
      StepInsufficientData(sample, &result);
      break;
    case ServiceState::kStable:
      StepStable(sample, &result);
      break;
    case ServiceState::kDriftDetected:
      StepDriftDetected(sample, &result);
      break;
  }
  return result;
}

void ServiceMonitor::StepInsufficientData(const Sample& sample, ProcessResult* result) {
  window_.Append(sample);
  if (window_.size() < params_.min_samples) return;
  EvictByAge();
  if (window_.size() < params_.min_samples) return;  // old samples did not count: keep collecting
  ComputeBaseline(sample.timestamp_ms);
  MetadataObject metadata;
  metadata.Add("reason", "baseline_established");
  metadata.Add("sample_count", static_cast<double>(baseline_.sample_count));
  Transit(ServiceState::kStable, "baseline_established", metadata.Finish(), sample.timestamp_ms,
          result);
}

void ServiceMonitor::StepStable(const Sample& sample, ProcessResult* result) {
  const Observation observation = Score(sample);
  last_zscore_ = observation.zscore;
  // Every trigger sees every sample (each keeps its own history); the first to fire wins.
  std::optional<size_t> fired;
  Verdict fired_verdict;
  Verdict verdict;
  for (size_t i = 0; i < detectors_.triggers.size(); ++i) {
    const ConfiguredDetector& trigger = *detectors_.triggers[i];
    Status status = trigger.Observe(trigger_states_[i], observation, &verdict);
    if (!status.ok()) {
      AppendError(result, trigger, status);
      continue;
    }
    if (verdict.kind == VerdictKind::kFire && !fired) {
      fired = i;
      fired_verdict = std::move(verdict);
    }
  }

  if (fired) {
    // The onset of a drift never widens the baseline: neither this sample nor the held-back ones
    // enter W.
    held_back_.clear();
    detectors_.recovery->Reset(recovery_state_);
    const ConfiguredDetector& trigger = *detectors_.triggers[*fired];
    const std::string reason = ReasonOf(fired_verdict, trigger);
    Transit(ServiceState::kDriftDetected, reason, DetectorMetadata(reason, fired_verdict, trigger),
            sample.timestamp_ms, result);
    return;
  }

  if (observation.abs_zscore > params_.holdback_zscore) {
    held_back_.push_back(sample);
    // A run of held-back samples longer than W (possible only when no trigger caps the run, e.g.
    // zscore_severe removed from the pipeline) would replace all of W anyway: let the oldest
    // enter now, so memory stays bounded by window_size.
    if (held_back_.size() > params_.window_size) {
      Enter(held_back_.front());
      held_back_.erase(held_back_.begin());
    }
  } else {
    for (const Sample& held : held_back_) Enter(held);
    held_back_.clear();
    Enter(sample);
  }
  RefreshIfDue(sample.timestamp_ms);
}

void ServiceMonitor::StepDriftDetected(const Sample& sample, ProcessResult* result) {
  // Scored against the B in force before this sample can enter W.
  const Observation observation = Score(sample);
  last_zscore_ = observation.zscore;
  // By default B is frozen and nothing enters W: a drift never becomes the new normal by itself.
  // Unfrozen, the sample enters before the recovery detector is asked, so it enters even when
  // that detector fails or this sample completes the recovery; never held back, as holding back
  // is a STABLE rule.
  if (!params_.freeze_in_drift) {
    Enter(sample);
    RefreshIfDue(sample.timestamp_ms);
  }
  const ConfiguredDetector& recovery = *detectors_.recovery;
  Verdict verdict;
  Status status = recovery.Observe(recovery_state_, observation, &verdict);
  if (!status.ok()) {
    AppendError(result, recovery, status);
    return;
  }
  if (verdict.kind != VerdictKind::kRecovered) return;
  ResetTriggers();
  const std::string reason = ReasonOf(verdict, recovery);
  Transit(ServiceState::kStable, reason, DetectorMetadata(reason, verdict, recovery),
          sample.timestamp_ms, result);
}

Observation ServiceMonitor::Score(const Sample& sample) const {
  // The sigma floor keeps a constant series from yielding NaN or infinity.
  const double sigma =
      std::max(baseline_.stddev_latency,
               kSigmaFloorFraction * std::max(std::fabs(baseline_.mean_latency), 1.0));
  Observation observation;
  observation.value = sample.latency_ms;
  observation.zscore = (sample.latency_ms - baseline_.mean_latency) / sigma;
  observation.abs_zscore = std::fabs(observation.zscore);
  observation.timestamp_ms = sample.timestamp_ms;
  return observation;
}

void ServiceMonitor::Enter(const Sample& sample) {
  window_.Append(sample);
  ++entered_since_refresh_;
}

void ServiceMonitor::EvictByAge() {
  const auto window_ms = static_cast<int64_t>(std::llround(params_.window_hours * kMsPerHour));
  const uint32_t before = window_.size();
  window_.EvictOlderThan(window_.NewestTimestamp() - window_ms);
  aged_out_ += before - window_.size();
}

void ServiceMonitor::RefreshIfDue(int64_t timestamp_ms) {
  if (entered_since_refresh_ < params_.refresh_every) return;
  EvictByAge();
  // Too few recent samples: keep the previous B rather than trust a thin one.
  if (window_.size() >= params_.min_samples) ComputeBaseline(timestamp_ms);
  entered_since_refresh_ = 0;
}

void ServiceMonitor::ComputeBaseline(int64_t timestamp_ms) {
  baseline_ = window_.Compute(timestamp_ms);
  entered_since_refresh_ = 0;
}

void ServiceMonitor::ResetTriggers() {
  for (size_t i = 0; i < trigger_states_.size(); ++i) {
    detectors_.triggers[i]->Reset(trigger_states_[i]);
  }
}

void ServiceMonitor::Transit(ServiceState to, std::string reason, std::string metadata_json,
                             int64_t timestamp_ms, ProcessResult* result) {
  Transition transition;
  transition.from = state_;
  transition.to = to;
  transition.reason = std::move(reason);
  transition.metadata_json = std::move(metadata_json);
  transition.timestamp_ms = timestamp_ms;
  transition.seq = sample_count_;
  if (result != nullptr && state_ == ServiceState::kDriftDetected) {
    result->ended_drift = std::move(last_transition_);
  }
  state_ = to;
  last_transition_ = transition;
  if (result != nullptr) result->transition = std::move(transition);
}

Transition ServiceMonitor::Reset(int64_t timestamp_ms) {
  window_.Clear();
  baseline_ = Baseline();
  held_back_.clear();
  aged_out_ = 0;
  last_zscore_ = 0.0;
  entered_since_refresh_ = 0;
  ResetTriggers();
  detectors_.recovery->Reset(recovery_state_);
  MetadataObject metadata;
  metadata.Add("reason", "reset");
  Transit(ServiceState::kInsufficientData, "reset", metadata.Finish(), timestamp_ms, nullptr);
  return *last_transition_;
}

Status ServiceMonitor::Save(std::string* out) const {
  MonitorSnapshot snapshot;
  snapshot.state = state_;
  snapshot.sample_count = sample_count_;
  snapshot.entered_since_refresh = entered_since_refresh_;
  window_.Save(&snapshot.window);
  snapshot.baseline = baseline_;
  snapshot.held_back = held_back_;
  const auto save_detector = [&snapshot](const ConfiguredDetector& detector,
                                         const void* state) -> Status {
    std::string bytes;
    Status status = detector.Save(state, &bytes);
    if (!status.ok()) {
      return Status::Error("cannot save " + std::string(detector.name()) + ": " + status.message());
    }
    snapshot.detectors.emplace_back(std::string(detector.name()), std::move(bytes));
    return Status::Ok();
  };
  for (size_t i = 0; i < trigger_states_.size(); ++i) {
    Status status = save_detector(*detectors_.triggers[i], trigger_states_[i]);
    if (!status.ok()) return status;
  }
  Status status = save_detector(*detectors_.recovery, recovery_state_);
  if (!status.ok()) return status;
  snapshot.last_transition = last_transition_;
  out->clear();
  EncodeSnapshot(snapshot, out);
  return Status::Ok();
}

Status ServiceMonitor::Restore(std::string_view bytes) {
  MonitorSnapshot saved;
  Status status = DecodeSnapshot(bytes, &saved);
  if (!status.ok()) return status;
  BaselineWindow window(params_.window_size);  // keeps the newest if the window is smaller now
  if (!window.Load(saved.window))
    return Status::Error("saved service state is truncated or corrupt");

  // The saved detector states must belong to the detectors configured now, in the same order.
  const auto describe = [](const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
    return "[" + text + "]";
  };
  std::vector<std::string> saved_names, configured_names;
  for (const auto& detector : saved.detectors) saved_names.push_back(detector.first);
  for (const auto& trigger : detectors_.triggers) configured_names.emplace_back(trigger->name());
  configured_names.emplace_back(detectors_.recovery->name());
  if (saved_names != configured_names) {
    return Status::Error("saved service state was made with detectors " + describe(saved_names) +
                         " but " + describe(configured_names) + " are configured");
  }

  // Restore into fresh detector states, so a failure leaves the current ones untouched.
  std::vector<std::pair<const ConfiguredDetector*, void*>> fresh;
  const auto discard_fresh = [&fresh] {
    for (auto& [detector, state] : fresh) detector->DestroyState(state);
  };
  const auto restore_one = [&fresh](const ConfiguredDetector& detector, std::string_view data) {
    void* state = nullptr;
    Status result = detector.NewState(&state);
    if (result.ok()) {
      fresh.emplace_back(&detector, state);
      result = detector.Restore(state, data);
    }
    if (!result.ok()) {
      return Status::Error("cannot restore " + std::string(detector.name()) + ": " +
                           result.message());
    }
    return Status::Ok();
  };
  // saved.detectors holds the triggers in order, then the recovery detector (checked above).
  for (size_t i = 0; i < detectors_.triggers.size() && status.ok(); ++i) {
    status = restore_one(*detectors_.triggers[i], saved.detectors[i].second);
  }
  if (status.ok()) status = restore_one(*detectors_.recovery, saved.detectors.back().second);
  if (!status.ok()) {
    discard_fresh();
    return status;
  }

  // Commit: nothing below can fail.
  for (size_t i = 0; i < trigger_states_.size(); ++i) {
    detectors_.triggers[i]->DestroyState(trigger_states_[i]);
    trigger_states_[i] = fresh[i].second;
  }
  detectors_.recovery->DestroyState(recovery_state_);
  recovery_state_ = fresh.back().second;

  state_ = saved.state;
  sample_count_ = saved.sample_count;
  entered_since_refresh_ = saved.entered_since_refresh;
  window_ = std::move(window);
  baseline_ = saved.baseline;
  held_back_ = std::move(saved.held_back);
  last_transition_ = std::move(saved.last_transition);
  return Status::Ok();
}

}  // namespace driftwatch
