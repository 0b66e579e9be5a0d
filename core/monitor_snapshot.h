// The saved form of one service's state (ServiceMonitor::Save and Restore): what the store keeps
// as the service's snapshot, so that a restart resumes exactly where the service was. A versioned
// host format, little-endian (sdk/include/driftwatch/byte_coding.hpp):
//   "DWSM", u32 version, u8 state, u64 sample_count, u32 entered_since_refresh,
//   window (u32 length, BaselineWindow::Save's bytes), the baseline B, held-back samples (u32
//   count, each i64 timestamp and two f64), u32 detector count and per detector (name, bytes),
//   the triggers in order then the recovery detector, u8 has_last_transition and the transition
//   (u8 from, u8 to, reason, metadata JSON, i64 timestamp, u64 seq). Texts are u32 length + bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/baseline_window.h"
#include "core/service_monitor.h"
#include "core/status.h"

namespace driftwatch {

struct MonitorSnapshot {
  ServiceState state = ServiceState::kInsufficientData;
  uint64_t sample_count = 0;
  uint32_t entered_since_refresh = 0;
  std::string window;  // BaselineWindow::Save's bytes
  Baseline baseline;
  std::vector<Sample> held_back;
  std::vector<std::pair<std::string, std::string>> detectors;  // name, saved state
  std::optional<Transition> last_transition;
};

// Appends the snapshot's bytes to *out.
void EncodeSnapshot(const MonitorSnapshot& snapshot, std::string* out);

// Reads bytes EncodeSnapshot wrote. Fails, naming why, on anything else (another format version,
// truncation, an impossible state, no detector); *out is then unspecified.
Status DecodeSnapshot(std::string_view bytes, MonitorSnapshot* out);

}  // namespace driftwatch
