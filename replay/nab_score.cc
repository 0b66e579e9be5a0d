#include "replay/nab_score.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "replay/input.h"

namespace driftwatch::replay {

Status LoadNabLabels(const std::string& path, NabLabels* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot open the labels file");
  std::stringstream text;
  text << in.rdbuf();
  const std::string content = text.str();
  rapidjson::Document document;
  document.Parse(content.c_str(), content.size());
  if (document.HasParseError()) {
    return Status::InvalidArgument(path + ": not JSON at offset " +
                                   std::to_string(document.GetErrorOffset()) + ": " +
                                   rapidjson::GetParseError_En(document.GetParseError()));
  }
  if (!document.IsObject()) {
    return Status::InvalidArgument(path +
                                   ": expected an object of file -> windows (NAB's "
                                   "combined_windows.json format)");
  }
  NabLabels labels;
  const rapidjson::Document& parsed = document;  // const iteration: C++20-clean in RapidJSON
  for (const auto& file : parsed.GetObject()) {
    const std::string name = file.name.GetString();
    if (!file.value.IsArray()) {
      return Status::InvalidArgument(path + ": " + name + ": expected an array of windows");
    }
    std::vector<LabelWindow>& windows = labels[name];
    for (const auto& window : file.value.GetArray()) {
      const bool pair =
          window.IsArray() && window.Size() == 2 && window[0].IsString() && window[1].IsString();
      LabelWindow placed;
      if (!pair || !ParseRecordedTimestamp(window[0].GetString(), &placed.start_ms) ||
          !ParseRecordedTimestamp(window[1].GetString(), &placed.end_ms) ||
          placed.end_ms < placed.start_ms) {
        return Status::InvalidArgument(path + ": " + name + ": window " +
                                       std::to_string(windows.size()) +
                                       ": expected [\"start\", \"end\"] timestamps, start <= end");
      }
      windows.push_back(placed);
    }
    std::sort(windows.begin(), windows.end(),
              [](const LabelWindow& a, const LabelWindow& b) { return a.start_ms < b.start_ms; });
  }
  *out = std::move(labels);
  return Status::Ok();
}

double ScaledSigmoid(double relative_position) {
  if (relative_position >= 3.0) return -1.0;
  return 2.0 / (1.0 + std::exp(5.0 * relative_position)) - 1.0;
}

size_t ProbationRows(size_t rows) {
  return std::min(static_cast<size_t>(std::floor(0.15 * static_cast<double>(rows))), size_t{750});
}

std::vector<RowWindow> PlaceWindows(const std::vector<int64_t>& row_timestamps,
                                    const std::vector<LabelWindow>& windows) {
  std::vector<RowWindow> placed;
  for (const LabelWindow& window : windows) {
    const auto first =
        std::lower_bound(row_timestamps.begin(), row_timestamps.end(), window.start_ms);
    const auto after =
        std::upper_bound(row_timestamps.begin(), row_timestamps.end(), window.end_ms);
    if (first >= after) continue;
    placed.push_back(RowWindow{static_cast<size_t>(first - row_timestamps.begin()),
                               static_cast<size_t>(after - row_timestamps.begin()) - 1});
  }
  return placed;
}

FileScore ScoreFile(size_t rows, const std::vector<RowWindow>& windows,
                    const std::vector<size_t>& detections, const CostMatrix& costs,
                    size_t probation) {
  std::vector<bool> detected(rows, false);
  for (size_t row : detections) {
    if (row < rows) detected[row] = true;
  }
  const double max_tp = ScaledSigmoid(-1.0);
  FileScore score;
  std::vector<double> best(windows.size(), -costs.fn_weight);  // NAB's scoreParts
  std::vector<bool> scored(windows.size(), false);
  std::vector<bool> hit(windows.size(), false);
  size_t next = 0;  // the next window to enter
  bool inside = false;
  bool after_window = false;  // a window has been left
  double previous_width = 0;
  size_t previous_last = 0;
  for (size_t i = 0; i < rows; ++i) {
    if (!inside && next < windows.size() && windows[next].first == i) inside = true;
    const bool scorable = i >= probation;
    if (inside) {
      const RowWindow& window = windows[next];
      const double width = static_cast<double>(window.last - window.first + 1);
      if (scorable) scored[next] = true;
      if (detected[i]) {
        if (!scorable) {
          ++score.in_probation;
        } else {
          const double position = -static_cast<double>(window.last - i + 1) / width;
          best[next] = std::max(best[next], ScaledSigmoid(position) * costs.tp_weight / max_tp);
          ++score.in_windows;
          if (!hit[next]) score.delays_rows.push_back(i - window.first);
          hit[next] = true;
        }
      }
      if (i == window.last) {
        inside = false;
        after_window = true;
        previous_width = width;
        previous_last = i;
        ++next;
      }
    } else if (detected[i]) {
      if (!scorable) {
        ++score.in_probation;
      } else {
        // NAB divides by (width - 1): a window of one row would divide by zero there; it is
        // taken as far past instead.
        const double position = after_window && previous_width > 1
                                    ? static_cast<double>(i - previous_last) / (previous_width - 1)
                                    : 3.0;
        score.raw += ScaledSigmoid(position) * costs.fp_weight;
        ++score.outside_windows;
      }
    }
  }
  for (size_t w = 0; w < windows.size(); ++w) {
    if (!scored[w]) continue;
    ++score.scored_windows;
    score.raw += best[w];
    score.null_raw -= costs.fn_weight;
    if (hit[w]) ++score.detected_windows;
  }
  return score;
}

double NormalisedScore(double raw, double null_raw, size_t windows, const CostMatrix& costs) {
  const double perfect = costs.tp_weight * static_cast<double>(windows);
  if (perfect == null_raw) return 0.0;
  return 100.0 * (raw - null_raw) / (perfect - null_raw);
}

}  // namespace driftwatch::replay
