#include "core/service_monitor.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace driftwatch {
namespace {

constexpr double kSigmaFloorFraction = 0.001;  // s >= 0.001 * max(|mean|, 1.0)
constexpr double kMsPerHour = 3600.0 * 1000.0;
constexpr double kLargestExactInteger = 9007199254740992.0;  // 2^53

// Saved-state format: magic, version, then the fields in the order Save writes them.
constexpr char kSaveMagic[4] = {'D', 'W', 'S', 'M'};
constexpr uint32_t kSaveVersion = 2;  // 2: the window as BaselineWindow::Save's encoding

// ---- JSON metadata ---------------------------------------------------------------------------

void AppendJsonString(std::string* out, std::string_view text) {
  out->push_back('"');
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out->append("\\u00");
      out->push_back(kHex[(c >> 4) & 0xf]);
      out->push_back(kHex[c & 0xf]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

// Integers without a decimal point (5, not 5.0); other values in shortest round-trip form.
void AppendJsonNumber(std::string* out, double value) {
  if (!std::isfinite(value)) {
    out->append("null");  // JSON has no NaN or infinity
    return;
  }
  char text[32];
  std::to_chars_result written;
  if (value == std::trunc(value) && std::fabs(value) < kLargestExactInteger) {
    written = std::to_chars(text, text + sizeof text, static_cast<int64_t>(value));
  } else {
    written = std::to_chars(text, text + sizeof text, value);
  }
  out->append(text, written.ptr);
}

class JsonObject {
 public:
  JsonObject() : text_("{") {}
  void Add(std::string_view key, std::string_view value) {
    Key(key);
    AppendJsonString(&text_, value);
  }
  void Add(std::string_view key, double value) {
    Key(key);
    AppendJsonNumber(&text_, value);
  }
  std::string Finish() { return std::move(text_) + "}"; }

 private:
  void Key(std::string_view key) {
    if (text_.size() > 1) text_.push_back(',');
    AppendJsonString(&text_, key);
    text_.push_back(':');
  }
  std::string text_;
};

// {"reason":..., <detector fields>..., "detector":..., "detector_version":...}
std::string DetectorMetadata(std::string_view reason, const dw_type_verdict& verdict,
                             const ConfiguredDetector& detector) {
  JsonObject metadata;
  metadata.Add("reason", reason);
  for (uint32_t i = 0; i < verdict.field_count; ++i) {
    const std::string_view key = verdict.fields[i].key;
    // The host's own keys win: a field may not make the object ambiguous.
    if (key == "reason" || key == "detector" || key == "detector_version") continue;
    metadata.Add(key, verdict.fields[i].value);
  }
  metadata.Add("detector", detector.name());
  metadata.Add("detector_version", detector.version());
  return metadata.Finish();
}

std::string ReasonOf(const dw_type_verdict& verdict, const ConfiguredDetector& detector) {
  return verdict.reason[0] != '\0' ? std::string(verdict.reason) : std::string(detector.name());
}

void AppendError(std::string* errors, const ConfiguredDetector& detector, const Status& status) {
  if (!errors->empty()) errors->append("; ");
  errors->append(detector.name());
  errors->append(": ");
  errors->append(status.message());
}

// ---- Little-endian bytes for Save/Restore ------------------------------------------------------

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void U8(uint8_t value) { out_->push_back(static_cast<char>(value)); }
  void U32(uint32_t value) { Unsigned(value, 4); }
  void U64(uint64_t value) { Unsigned(value, 8); }
  void I64(int64_t value) { Unsigned(static_cast<uint64_t>(value), 8); }
  void F64(double value) { Unsigned(std::bit_cast<uint64_t>(value), 8); }
  void Text(std::string_view text) {
    U32(static_cast<uint32_t>(text.size()));
    out_->append(text);
  }
  void SampleValue(const Sample& sample) {
    I64(sample.timestamp_ms);
    F64(sample.latency_ms);
    F64(sample.payload_kb);
  }

 private:
  void Unsigned(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out_->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
  std::string* out_;
};

// Reads what ByteWriter wrote. Past the end it returns zeros and remembers the failure.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  bool failed() const { return failed_; }
  bool AtEnd() const { return offset_ == bytes_.size(); }
  size_t remaining() const { return bytes_.size() - offset_; }

  uint8_t U8() { return static_cast<uint8_t>(Unsigned(1)); }
  uint32_t U32() { return static_cast<uint32_t>(Unsigned(4)); }
  uint64_t U64() { return Unsigned(8); }
  int64_t I64() { return static_cast<int64_t>(Unsigned(8)); }
  double F64() { return std::bit_cast<double>(Unsigned(8)); }
  std::string Text() {
    const uint32_t size = U32();
    if (failed_ || remaining() < size) {
      failed_ = true;
      return {};
    }
    std::string text(bytes_.substr(offset_, size));
    offset_ += size;
    return text;
  }
  Sample SampleValue() {
    Sample sample;
    sample.timestamp_ms = I64();
    sample.latency_ms = F64();
    sample.payload_kb = F64();
    return sample;
  }
  // A count of fixed-size items, checked against the bytes left so a corrupt count cannot make
  // us allocate gigabytes.
  uint32_t Count(size_t item_bytes) {
    const uint32_t count = U32();
    if (failed_ || remaining() / item_bytes < count) {
      failed_ = true;
      return 0;
    }
    return count;
  }

 private:
  uint64_t Unsigned(int bytes) {
    if (failed_ || remaining() < static_cast<size_t>(bytes)) {
      failed_ = true;
      return 0;
    }
    uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) {
      value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[offset_ + i])) << (8 * i);
    }
    offset_ += bytes;
    return value;
  }
  std::string_view bytes_;
  size_t offset_ = 0;
  bool failed_ = false;
};

constexpr size_t kSavedSampleBytes = 8 + 8 + 8;

void WriteBaseline(ByteWriter& out, const Baseline& b) {
  out.U8(b.valid ? 1 : 0);
  out.F64(b.mean_latency);
  out.F64(b.stddev_latency);
  out.F64(b.p50_latency);
  out.F64(b.p95_latency);
  out.F64(b.p99_latency);
  out.U8(b.has_payload ? 1 : 0);
  out.F64(b.mean_payload);
  out.F64(b.stddev_payload);
  out.U32(b.sample_count);
  out.I64(b.last_updated_ms);
}

Baseline ReadBaseline(ByteReader& in) {
  Baseline b;
  b.valid = in.U8() != 0;
  b.mean_latency = in.F64();
  b.stddev_latency = in.F64();
  b.p50_latency = in.F64();
  b.p95_latency = in.F64();
  b.p99_latency = in.F64();
  b.has_payload = in.U8() != 0;
  b.mean_payload = in.F64();
  b.stddev_payload = in.F64();
  b.sample_count = in.U32();
  b.last_updated_ms = in.I64();
  return b;
}

bool ValidState(uint8_t value) {
  return value <= static_cast<uint8_t>(ServiceState::kDriftDetected);
}

// Everything Restore reads, parsed before anything in the monitor changes.
struct SavedMonitor {
  ServiceState state = ServiceState::kInsufficientData;
  uint64_t sample_count = 0;
  uint32_t entered_since_refresh = 0;
  BaselineWindow window{0};
  Baseline baseline;
  std::vector<Sample> held_back;
  std::vector<std::pair<std::string, std::string>> triggers;  // name, saved bytes
  std::pair<std::string, std::string> recovery;
  std::optional<Transition> last_transition;
};

// The window is loaded with `window_capacity` (the configured window_size).
Status ParseSaved(std::string_view bytes, uint32_t window_capacity, SavedMonitor* saved) {
  Status truncated = Status::Error("saved service state is truncated or corrupt");
  if (bytes.size() < sizeof kSaveMagic ||
      bytes.substr(0, sizeof kSaveMagic) != std::string_view(kSaveMagic, sizeof kSaveMagic)) {
    return Status::Error("saved service state has no DriftWatch header");
  }
  ByteReader in(bytes.substr(sizeof kSaveMagic));
  const uint32_t version = in.U32();
  if (in.failed()) return truncated;
  if (version != kSaveVersion) {
    return Status::Error("saved service state has format version " + std::to_string(version) +
                         "; this build reads version " + std::to_string(kSaveVersion));
  }
  const uint8_t state = in.U8();
  if (!in.failed() && !ValidState(state)) return Status::Error("saved service state is corrupt");
  saved->state = static_cast<ServiceState>(state);
  saved->sample_count = in.U64();
  saved->entered_since_refresh = in.U32();
  const std::string window = in.Text();
  saved->window = BaselineWindow(window_capacity);
  if (!in.failed() && !saved->window.Load(window)) return truncated;
  saved->baseline = ReadBaseline(in);
  saved->held_back.resize(in.Count(kSavedSampleBytes));
  for (Sample& sample : saved->held_back) sample = in.SampleValue();
  const uint32_t trigger_count = in.Count(2 * sizeof(uint32_t));
  for (uint32_t i = 0; i < trigger_count && !in.failed(); ++i) {
    std::string name = in.Text();
    saved->triggers.emplace_back(std::move(name), in.Text());
  }
  saved->recovery.first = in.Text();
  saved->recovery.second = in.Text();
  if (in.U8() != 0) {
    Transition transition;
    const uint8_t from = in.U8();
    const uint8_t to = in.U8();
    if (!in.failed() && (!ValidState(from) || !ValidState(to))) return truncated;
    transition.from = static_cast<ServiceState>(from);
    transition.to = static_cast<ServiceState>(to);
    transition.reason = in.Text();
    transition.metadata_json = in.Text();
    transition.timestamp_ms = in.I64();
    transition.seq = in.U64();
    saved->last_transition = std::move(transition);
  }
  if (in.failed() || !in.AtEnd()) return truncated;
  if (saved->state != ServiceState::kInsufficientData && !saved->baseline.valid) {
    return Status::Error("saved service state is corrupt: no baseline outside INSUFFICIENT_DATA");
  }
  return Status::Ok();
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
  JsonObject metadata;
  metadata.Add("reason", "baseline_established");
  metadata.Add("sample_count", static_cast<double>(baseline_.sample_count));
  Transit(ServiceState::kStable, "baseline_established", metadata.Finish(), sample.timestamp_ms,
          result);
}

void ServiceMonitor::StepStable(const Sample& sample, ProcessResult* result) {
  const dw_type_observation observation = Score(sample);
  // Every trigger sees every sample (each keeps its own history); the first to fire wins.
  std::optional<size_t> fired;
  dw_type_verdict fired_verdict{};
  for (size_t i = 0; i < detectors_.triggers.size(); ++i) {
    dw_type_verdict verdict{};
    const ConfiguredDetector& trigger = *detectors_.triggers[i];
    Status status = trigger.Observe(trigger_states_[i], observation, &verdict);
    if (!status.ok()) {
      AppendError(&result->detector_error, trigger, status);
      continue;
    }
    if (verdict.kind == DW_VERDICT_FIRE && !fired) {
      fired = i;
      fired_verdict = verdict;
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
  // B is frozen and nothing enters W: a drift never becomes the new normal by itself.
  const dw_type_observation observation = Score(sample);
  const ConfiguredDetector& recovery = *detectors_.recovery;
  dw_type_verdict verdict{};
  Status status = recovery.Observe(recovery_state_, observation, &verdict);
  if (!status.ok()) {
    AppendError(&result->detector_error, recovery, status);
    return;
  }
  if (verdict.kind != DW_VERDICT_RECOVERED) return;
  ResetTriggers();
  const std::string reason = ReasonOf(verdict, recovery);
  Transit(ServiceState::kStable, reason, DetectorMetadata(reason, verdict, recovery),
          sample.timestamp_ms, result);
}

dw_type_observation ServiceMonitor::Score(const Sample& sample) const {
  // The sigma floor keeps a constant series from yielding NaN or infinity.
  const double sigma =
      std::max(baseline_.stddev_latency,
               kSigmaFloorFraction * std::max(std::fabs(baseline_.mean_latency), 1.0));
  dw_type_observation observation{};
  observation.struct_size = sizeof(dw_type_observation);
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
  window_.EvictOlderThan(window_.NewestTimestamp() - window_ms);
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
  state_ = to;
  last_transition_ = transition;
  if (result != nullptr) result->transition = std::move(transition);
}

Transition ServiceMonitor::Reset(int64_t timestamp_ms) {
  window_.Clear();
  baseline_ = Baseline();
  held_back_.clear();
  entered_since_refresh_ = 0;
  ResetTriggers();
  detectors_.recovery->Reset(recovery_state_);
  JsonObject metadata;
  metadata.Add("reason", "reset");
  Transit(ServiceState::kInsufficientData, "reset", metadata.Finish(), timestamp_ms, nullptr);
  return *last_transition_;
}

// Replaces *out with the saved state. Layout (little-endian): "DWSM", u32 version, u8 state,
// u64 sample_count, u32 entered_since_refresh, window (u32 length, BaselineWindow::Save's bytes),
// B, held-back samples, u32 trigger count and per trigger (name, bytes), recovery (name, bytes),
// u8 has_last_transition and the transition.
Status ServiceMonitor::Save(std::string* out) const {
  std::string bytes(kSaveMagic, sizeof kSaveMagic);
  ByteWriter writer(&bytes);
  writer.U32(kSaveVersion);
  writer.U8(static_cast<uint8_t>(state_));
  writer.U64(sample_count_);
  writer.U32(entered_since_refresh_);
  std::string window;
  window_.Save(&window);
  writer.Text(window);
  WriteBaseline(writer, baseline_);
  writer.U32(static_cast<uint32_t>(held_back_.size()));
  for (const Sample& sample : held_back_) writer.SampleValue(sample);

  const auto save_detector = [&writer](const ConfiguredDetector& detector,
                                       const void* state) -> Status {
    std::string detector_bytes;
    Status status = detector.Save(state, &detector_bytes);
    if (!status.ok()) {
      return Status::Error("cannot save " + std::string(detector.name()) + ": " + status.message());
    }
    writer.Text(detector.name());
    writer.Text(detector_bytes);
    return Status::Ok();
  };
  writer.U32(static_cast<uint32_t>(trigger_states_.size()));
  for (size_t i = 0; i < trigger_states_.size(); ++i) {
    Status status = save_detector(*detectors_.triggers[i], trigger_states_[i]);
    if (!status.ok()) return status;
  }
  Status status = save_detector(*detectors_.recovery, recovery_state_);
  if (!status.ok()) return status;

  writer.U8(last_transition_ ? 1 : 0);
  if (last_transition_) {
    writer.U8(static_cast<uint8_t>(last_transition_->from));
    writer.U8(static_cast<uint8_t>(last_transition_->to));
    writer.Text(last_transition_->reason);
    writer.Text(last_transition_->metadata_json);
    writer.I64(last_transition_->timestamp_ms);
    writer.U64(last_transition_->seq);
  }
  *out = std::move(bytes);
  return Status::Ok();
}

Status ServiceMonitor::Restore(std::string_view bytes) {
  SavedMonitor saved;
  Status status = ParseSaved(bytes, params_.window_size, &saved);
  if (!status.ok()) return status;

  // The saved detector states must belong to the detectors configured now, in the same order.
  const auto describe = [](const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
    return "[" + text + "]";
  };
  std::vector<std::string> saved_names, configured_names;
  for (const auto& trigger : saved.triggers) saved_names.push_back(trigger.first);
  saved_names.push_back(saved.recovery.first);
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
  for (size_t i = 0; i < saved.triggers.size() && status.ok(); ++i) {
    status = restore_one(*detectors_.triggers[i], saved.triggers[i].second);
  }
  if (status.ok()) status = restore_one(*detectors_.recovery, saved.recovery.second);
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
  window_ = std::move(saved.window);  // Load kept the newest if the window is smaller now
  baseline_ = saved.baseline;
  held_back_ = std::move(saved.held_back);
  last_transition_ = std::move(saved.last_transition);
  return Status::Ok();
}

}  // namespace driftwatch
