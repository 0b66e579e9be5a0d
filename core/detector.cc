#include "core/detector.h"

#include <algorithm>

#include "core/plugin_status.h"

namespace driftwatch {
namespace {

constexpr size_t kFirstSaveBufferBytes = 256;  // the bundled detectors' states fit easily
constexpr int kSaveAttempts = 3;               // a state may grow between the size query and copy

dw_type_error EmptyError() {
  dw_type_error error{};  // message[0] = '\0'
  error.param_index = -1;
  return error;
}

}  // namespace

Status ConfiguredDetector::Create(const dw_type_detector* vtable, const std::vector<Param>& params,
                                  std::unique_ptr<ConfiguredDetector>* out,
                                  int32_t* bad_param_index) {
  *bad_param_index = -1;
  if (vtable == nullptr) return Status::NotFound("no such detector");
  std::vector<dw_type_param> raw_params;
  raw_params.reserve(params.size());
  for (const Param& param : params) raw_params.push_back({param.key.c_str(), param.value.c_str()});
  void* config = nullptr;
  dw_type_error error = EmptyError();
  const dw_type_status status =
      vtable->on_config_new(raw_params.data(), raw_params.size(), &config, &error);
  if (status != DW_STATUS_OK) {
    if (error.param_index >= 0 && static_cast<size_t>(error.param_index) < params.size()) {
      *bad_param_index = error.param_index;
    }
    return PluginFailure(status, error, {}, vtable->name);
  }
  out->reset(new ConfiguredDetector(vtable, config));
  return Status::Ok();
}

ConfiguredDetector::~ConfiguredDetector() { vtable_->on_config_destroy(config_); }

Status ConfiguredDetector::NewState(void** state) const {
  *state = nullptr;
  dw_type_error error = EmptyError();
  const dw_type_status status = vtable_->on_state_new(config_, state, &error);
  if (status != DW_STATUS_OK) return PluginFailure(status, error, {}, vtable_->name);
  return Status::Ok();
}

void ConfiguredDetector::DestroyState(void* state) const {
  if (state != nullptr) vtable_->on_state_destroy(config_, state);
}

Status ConfiguredDetector::Observe(void* state, const Observation& observation,
                                   Verdict* verdict) const {
  dw_type_observation raw{};
  raw.struct_size = sizeof(dw_type_observation);
  raw.value = observation.value;
  raw.zscore = observation.zscore;
  raw.abs_zscore = observation.abs_zscore;
  raw.timestamp_ms = observation.timestamp_ms;
  dw_type_verdict out;
  out.struct_size = sizeof(dw_type_verdict);
  out.kind = DW_VERDICT_NONE;
  out.reason[0] = '\0';
  out.field_count = 0;
  dw_type_error error = EmptyError();
  const dw_type_status status = vtable_->on_observe(config_, state, &raw, &out, &error);
  verdict->kind = VerdictKind::kNone;
  if (status != DW_STATUS_OK) return PluginFailure(status, error, {}, vtable_->name);
  if (out.kind != DW_VERDICT_FIRE && out.kind != DW_VERDICT_RECOVERED) return Status::Ok();
  verdict->kind = out.kind == DW_VERDICT_FIRE ? VerdictKind::kFire : VerdictKind::kRecovered;
  // Never trust what crossed the boundary further than its buffers.
  out.reason[sizeof out.reason - 1] = '\0';
  verdict->reason = out.reason;
  verdict->fields.clear();
  for (uint32_t i = 0; i < std::min<uint32_t>(out.field_count, DW_VERDICT_MAX_FIELDS); ++i) {
    out.fields[i].key[sizeof out.fields[i].key - 1] = '\0';
    verdict->fields.emplace_back(out.fields[i].key, out.fields[i].value);
  }
  return Status::Ok();
}

void ConfiguredDetector::Reset(void* state) const { vtable_->on_reset(config_, state); }

Status ConfiguredDetector::Save(const void* state, std::string* out) const {
  std::string buffer(kFirstSaveBufferBytes, '\0');
  for (int attempt = 0; attempt < kSaveAttempts; ++attempt) {
    size_t size = 0;
    dw_type_error error = EmptyError();
    const dw_type_status status = vtable_->on_state_save(
        config_, state, reinterpret_cast<uint8_t*>(buffer.data()), buffer.size(), &size, &error);
    if (status == DW_STATUS_BUFFER_TOO_SMALL && size > buffer.size()) {
      buffer.resize(size);
      continue;
    }
    if (status != DW_STATUS_OK) return PluginFailure(status, error, {}, vtable_->name);
    if (size > buffer.size()) return Status::Error("reported a saved size larger than its buffer");
    out->append(buffer.data(), size);
    return Status::Ok();
  }
  return Status::Error("saved state kept growing while being saved");
}

Status ConfiguredDetector::Restore(void* state, std::string_view bytes) const {
  dw_type_error error = EmptyError();
  const dw_type_status status = vtable_->on_state_restore(
      config_, state, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &error);
  if (status != DW_STATUS_OK) return PluginFailure(status, error, {}, vtable_->name);
  return Status::Ok();
}

}  // namespace driftwatch
