#include "core/monitor_snapshot.h"

#include <driftwatch/byte_coding.hpp>

namespace driftwatch {
namespace {

using coding::ByteReader;
using coding::ByteWriter;

constexpr std::string_view kMagic = "DWSM";
constexpr uint32_t kVersion = 2;  // 2: the window as BaselineWindow::Save's encoding
constexpr size_t kSampleBytes = 8 + 8 + 8;

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

Status Corrupt() { return Status::Error("saved service state is truncated or corrupt"); }

bool ReadState(ByteReader& in, ServiceState* state) {
  const uint8_t value = in.U8();
  if (value > static_cast<uint8_t>(ServiceState::kDriftDetected)) return false;
  *state = static_cast<ServiceState>(value);
  return true;
}

}  // namespace

void EncodeSnapshot(const MonitorSnapshot& snapshot, std::string* out) {
  ByteWriter writer(out);
  writer.Raw(kMagic);
  writer.U32(kVersion);
  writer.U8(static_cast<uint8_t>(snapshot.state));
  writer.U64(snapshot.sample_count);
  writer.U32(snapshot.entered_since_refresh);
  writer.Text(snapshot.window);
  WriteBaseline(writer, snapshot.baseline);
  writer.U32(static_cast<uint32_t>(snapshot.held_back.size()));
  for (const Sample& sample : snapshot.held_back) {
    writer.I64(sample.timestamp_ms);
    writer.F64(sample.latency_ms);
    writer.F64(sample.payload_kb);
  }
  writer.U32(static_cast<uint32_t>(snapshot.detectors.size()));
  for (const auto& [name, bytes] : snapshot.detectors) {
    writer.Text(name);
    writer.Text(bytes);
  }
  writer.U8(snapshot.last_transition ? 1 : 0);
  if (const auto& transition = snapshot.last_transition) {
    writer.U8(static_cast<uint8_t>(transition->from));
    writer.U8(static_cast<uint8_t>(transition->to));
    writer.Text(transition->reason);
    writer.Text(transition->metadata_json);
    writer.I64(transition->timestamp_ms);
    writer.U64(transition->seq);
  }
}

Status DecodeSnapshot(std::string_view bytes, MonitorSnapshot* out) {
  if (!bytes.starts_with(kMagic)) {
    return Status::Error("saved service state has no DriftWatch header");
  }
  ByteReader in(bytes.substr(kMagic.size()));
  const uint32_t version = in.U32();
  if (in.failed()) return Corrupt();
  if (version != kVersion) {
    return Status::Error("saved service state has format version " + std::to_string(version) +
                         "; this build reads version " + std::to_string(kVersion));
  }
  if (!ReadState(in, &out->state)) return Corrupt();
  out->sample_count = in.U64();
  out->entered_since_refresh = in.U32();
  out->window = std::string(in.Text());
  out->baseline = ReadBaseline(in);
  out->held_back.resize(in.Count(kSampleBytes));
  for (Sample& sample : out->held_back) {
    sample.timestamp_ms = in.I64();
    sample.latency_ms = in.F64();
    sample.payload_kb = in.F64();
  }
  // Each detector: at least two u32 lengths.
  out->detectors.resize(in.Count(2 * sizeof(uint32_t)));
  for (auto& [name, state] : out->detectors) {
    name = std::string(in.Text());
    state = std::string(in.Text());
  }
  out->last_transition.reset();
  if (in.U8() != 0) {
    Transition transition;
    if (!ReadState(in, &transition.from) || !ReadState(in, &transition.to)) return Corrupt();
    transition.reason = std::string(in.Text());
    transition.metadata_json = std::string(in.Text());
    transition.timestamp_ms = in.I64();
    transition.seq = in.U64();
    out->last_transition = std::move(transition);
  }
  if (in.failed() || !in.AtEnd() || out->detectors.empty()) return Corrupt();
  if (out->state != ServiceState::kInsufficientData && !out->baseline.valid) {
    return Status::Error("saved service state is corrupt: no baseline outside INSUFFICIENT_DATA");
  }
  return Status::Ok();
}

}  // namespace driftwatch
