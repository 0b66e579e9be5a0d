// The Numenta Anomaly Benchmark's scoring method (NAB v1.1, its sweeper), for the detections of
// `driftwatch replay --labels` (docs/replay.md, NAB scoring):
//  - the first min(floor(0.15 n), 750) of a file's n rows are probation: never scored;
//  - a detection inside a label window scores tpWeight * S(p) / S(-1), p = -(right - i + 1) /
//    width being its place in the window (-1 at its first row) and S(p) = 2 sigmoid(-5 p) - 1;
//    only the window's best (earliest) detection counts; a window with none costs fnWeight;
//  - a detection outside every window scores fpWeight * S(d), d = |i - right of the previous
//    window| / (its width - 1), or 3 (S = -1) before the first window;
//  - normalised over a corpus as 100 (raw - null) / (perfect - null), null being the score of no
//    detection at all and perfect tpWeight for every window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace driftwatch::replay {

struct CostMatrix {
  double tp_weight = 1.0;
  double fp_weight = 0.11;
  double fn_weight = 1.0;
};

struct NabProfile {
  const char* name;
  CostMatrix costs;
};

// NAB's three application profiles (its config/profiles.json): standard, reward_low_FP_rate,
// reward_low_FN_rate, in that order.
constexpr NabProfile kNabProfiles[] = {
    {"standard", {1.0, 0.11, 1.0}},
    {"reward_low_FP_rate", {1.0, 0.22, 1.0}},
    {"reward_low_FN_rate", {1.0, 0.11, 2.0}},
};
constexpr size_t kNabProfileCount = sizeof(kNabProfiles) / sizeof(kNabProfiles[0]);

// One label window, by time (both ends included).
struct LabelWindow {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

// combined_windows.json: file (relative to the corpus' data directory) -> its windows.
using NabLabels = std::map<std::string, std::vector<LabelWindow>>;

// Reads NAB's combined_windows.json format; a failure names the file and what is wrong.
Status LoadNabLabels(const std::string& path, NabLabels* out);

// The scaled sigmoid: 2 / (1 + e^(5 p)) - 1, and -1 from p = 3 on.
double ScaledSigmoid(double relative_position);

// NAB's probationary period of a file of `rows` rows.
size_t ProbationRows(size_t rows);

// A window as rows of its file (both ends included).
struct RowWindow {
  size_t first = 0;
  size_t last = 0;
};

// Places windows on rows by timestamp: from the first row at or after the start to the last row
// at or before the end. A window over no row is dropped.
std::vector<RowWindow> PlaceWindows(const std::vector<int64_t>& row_timestamps,
                                    const std::vector<LabelWindow>& windows);

// What one file's detections came to under one profile.
struct FileScore {
  double raw = 0;             // NAB's raw score
  double null_raw = 0;        // the raw score of no detections (-fnWeight per scored window)
  size_t scored_windows = 0;  // windows with a row after probation
  size_t detected_windows = 0;
  size_t in_windows = 0;            // detections after probation inside a window
  size_t outside_windows = 0;       // detections after probation outside every window
  size_t in_probation = 0;          // detections during probation (not scored)
  std::vector<size_t> delays_rows;  // per detected window: rows from its first row to the first
                                    // scored detection in it
};

// Scores detections (row indices, any order) on a file of `rows` rows with `windows` (sorted,
// not overlapping) and `probation` rows of probation.
FileScore ScoreFile(size_t rows, const std::vector<RowWindow>& windows,
                    const std::vector<size_t>& detections, const CostMatrix& costs,
                    size_t probation);

// 100 (raw - null) / (perfect - null), perfect = tpWeight * windows.
double NormalisedScore(double raw, double null_raw, size_t windows, const CostMatrix& costs);

}  // namespace driftwatch::replay
