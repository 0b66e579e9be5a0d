#include "replay/replay.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "core/json_writing.h"
#include "core/series_key.h"
#include "core/timestamp.h"
#include "replay/nab_score.h"

namespace driftwatch::replay {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One input file's detections (transitions into DRIFT_DETECTED), by row, for NAB scoring.
struct FileDetections {
  std::string path;
  size_t rows = 0;
  std::vector<int64_t> row_timestamps;
  std::vector<size_t> detections;
};

// The label key of `path`: the key itself, or the one it ends with after a '/'; "" for none.
std::string LabelKeyOf(const std::string& path, const NabLabels& labels) {
  std::string found;
  for (const auto& [key, windows] : labels) {
    const bool match =
        path == key ||
        (path.size() > key.size() && path.compare(path.size() - key.size(), key.size(), key) == 0 &&
         path[path.size() - key.size() - 1] == '/');
    if (match && key.size() > found.size()) found = key;
  }
  return found;
}

double Median(std::vector<size_t> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  if (values.size() % 2 == 1) return static_cast<double>(values[middle]);
  return (static_cast<double>(values[middle - 1]) + static_cast<double>(values[middle])) / 2.0;
}

double Mean(const std::vector<size_t>& values) {
  if (values.empty()) return 0;
  return static_cast<double>(std::accumulate(values.begin(), values.end(), size_t{0})) /
         static_cast<double>(values.size());
}

struct ScoredFile {
  std::string key;
  size_t rows = 0;
  std::array<FileScore, kNabProfileCount> scores;
};

struct NabTotals {
  size_t files = 0;
  size_t unlabelled = 0;
  size_t windows = 0;  // every label window of the scored files (NAB's perfect count)
  std::array<double, kNabProfileCount> raw{};
  std::array<double, kNabProfileCount> null_raw{};
  std::array<double, kNabProfileCount> normalised{};
  size_t scored_windows = 0;
  size_t detected_windows = 0;
  size_t in_windows = 0;
  size_t outside_windows = 0;
  size_t in_probation = 0;
  std::vector<size_t> delays_rows;
  std::vector<ScoredFile> per_file;
};

NabTotals ScoreNab(const std::vector<FileDetections>& files, const NabLabels& labels,
                   std::FILE* err) {
  NabTotals totals;
  for (const FileDetections& file : files) {
    const std::string key = LabelKeyOf(file.path, labels);
    if (key.empty()) {
      ++totals.unlabelled;
      std::fprintf(err, "driftwatch replay: warning: %s: not in the labels file; not scored\n",
                   file.path.c_str());
      continue;
    }
    const std::vector<LabelWindow>& windows = labels.at(key);
    const std::vector<RowWindow> placed = PlaceWindows(file.row_timestamps, windows);
    ScoredFile scored;
    scored.key = key;
    scored.rows = file.rows;
    for (size_t p = 0; p < kNabProfileCount; ++p) {
      scored.scores[p] = ScoreFile(file.rows, placed, file.detections, kNabProfiles[p].costs,
                                   ProbationRows(file.rows));
      totals.raw[p] += scored.scores[p].raw;
      totals.null_raw[p] += scored.scores[p].null_raw;
    }
    const FileScore& standard = scored.scores[0];
    ++totals.files;
    totals.windows += windows.size();
    totals.scored_windows += standard.scored_windows;
    totals.detected_windows += standard.detected_windows;
    totals.in_windows += standard.in_windows;
    totals.outside_windows += standard.outside_windows;
    totals.in_probation += standard.in_probation;
    totals.delays_rows.insert(totals.delays_rows.end(), standard.delays_rows.begin(),
                              standard.delays_rows.end());
    totals.per_file.push_back(std::move(scored));
  }
  for (size_t p = 0; p < kNabProfileCount; ++p) {
    totals.normalised[p] =
        NormalisedScore(totals.raw[p], totals.null_raw[p], totals.windows, kNabProfiles[p].costs);
  }
  return totals;
}

void PrintNabText(const NabTotals& nab, const std::string& labels_file, std::FILE* out) {
  std::fprintf(out, "\nNAB scoring (labels %s): %zu files scored, %zu not in the labels\n",
               labels_file.c_str(), nab.files, nab.unlabelled);
  std::fprintf(out, "%-58s %7s %7s %5s %6s %5s %5s %9s %9s\n", "file", "rows", "windows", "hit",
               "missed", "in", "out", "delay", "standard");
  for (const ScoredFile& file : nab.per_file) {
    const FileScore& s = file.scores[0];
    std::fprintf(out, "%-58s %7zu %7zu %5zu %6zu %5zu %5zu %9.1f %9.3f\n", file.key.c_str(),
                 file.rows, s.scored_windows, s.detected_windows,
                 s.scored_windows - s.detected_windows, s.in_windows, s.outside_windows,
                 Mean(s.delays_rows), s.raw);
  }
  std::fprintf(out,
               "total: %zu windows, %zu detected, %zu missed; detections: %zu in windows, %zu "
               "outside, %zu in probation (not scored); delay to the first detection in a "
               "window: median %.1f rows, mean %.1f rows\n",
               nab.scored_windows, nab.detected_windows, nab.scored_windows - nab.detected_windows,
               nab.in_windows, nab.outside_windows, nab.in_probation, Median(nab.delays_rows),
               Mean(nab.delays_rows));
  std::fprintf(out, "NAB score (0 = no detection, 100 = perfect):");
  for (size_t p = 0; p < kNabProfileCount; ++p) {
    std::fprintf(out, "%s %s %.2f", p == 0 ? "" : ",", kNabProfiles[p].name, nab.normalised[p]);
  }
  std::fprintf(out, "\n");
}

void WriteNabJson(json::Writer& writer, const NabTotals& nab, const std::string& labels_file) {
  writer.Key("nab");
  writer.StartObject();
  writer.Key("labels");
  json::Text(writer, labels_file);
  writer.Key("files_scored");
  writer.Uint64(nab.files);
  writer.Key("files_not_in_labels");
  writer.Uint64(nab.unlabelled);
  writer.Key("windows");
  writer.Uint64(nab.scored_windows);
  writer.Key("detected_windows");
  writer.Uint64(nab.detected_windows);
  writer.Key("missed_windows");
  writer.Uint64(nab.scored_windows - nab.detected_windows);
  writer.Key("detections_in_windows");
  writer.Uint64(nab.in_windows);
  writer.Key("detections_outside_windows");
  writer.Uint64(nab.outside_windows);
  writer.Key("detections_in_probation");
  writer.Uint64(nab.in_probation);
  writer.Key("median_delay_rows");
  json::Number(writer, Median(nab.delays_rows));
  writer.Key("mean_delay_rows");
  json::Number(writer, Mean(nab.delays_rows));
  writer.Key("scores");
  writer.StartObject();
  for (size_t p = 0; p < kNabProfileCount; ++p) {
    writer.Key(kNabProfiles[p].name);
    json::Number(writer, nab.normalised[p]);
  }
  writer.EndObject();
  writer.Key("raw_scores");
  writer.StartObject();
  for (size_t p = 0; p < kNabProfileCount; ++p) {
    writer.Key(kNabProfiles[p].name);
    json::Number(writer, nab.raw[p]);
  }
  writer.EndObject();
  writer.Key("files");
  writer.StartArray();
  for (const ScoredFile& file : nab.per_file) {
    const FileScore& s = file.scores[0];
    writer.StartObject();
    writer.Key("file");
    json::Text(writer, file.key);
    writer.Key("rows");
    writer.Uint64(file.rows);
    writer.Key("windows");
    writer.Uint64(s.scored_windows);
    writer.Key("detected_windows");
    writer.Uint64(s.detected_windows);
    writer.Key("missed_windows");
    writer.Uint64(s.scored_windows - s.detected_windows);
    writer.Key("detections_in_windows");
    writer.Uint64(s.in_windows);
    writer.Key("detections_outside_windows");
    writer.Uint64(s.outside_windows);
    writer.Key("mean_delay_rows");
    json::Number(writer, Mean(s.delays_rows));
    writer.Key("raw_scores");
    writer.StartObject();
    for (size_t p = 0; p < kNabProfileCount; ++p) {
      writer.Key(kNabProfiles[p].name);
      json::Number(writer, file.scores[p].raw);
    }
    writer.EndObject();
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
}

}  // namespace

Replayer::Replayer(const BaselineParams& params, const DetectorSet& detectors,
                   size_t max_endpoints_per_service)
    : registry_(1, params, detectors), max_endpoints_per_service_(max_endpoints_per_service) {}

ServiceMonitor& Replayer::Monitor(const std::string& service_id) {
  if (const std::shared_ptr<ServiceEntry> found = registry_.Find(service_id)) {
    return found->monitor;
  }
  return registry_.Add(service_id).monitor;
}

ServiceMonitor* Replayer::EndpointMonitor(const std::string& service_id,
                                          std::string_view endpoint) {
  std::vector<IncomingSample> sample;
  sample.emplace_back(service_id, Sample{}, std::string(endpoint));
  // The registry's own rule decides whether the series may be added, as for the engine.
  const ServiceRegistry::Limits limits{true, std::numeric_limits<size_t>::max(),
                                       max_endpoints_per_service_};
  std::vector<SampleSeries> series;
  size_t overflowed = 0;
  const size_t before = registry_.size();
  registry_.Resolve(sample, limits, &series, &overflowed, [] {});
  if (series[0].endpoint == nullptr) return nullptr;
  if (registry_.size() > before) ++endpoint_series_;
  return &series[0].endpoint->monitor;
}

namespace {

void WriteSeries(json::Writer& writer, const std::string& service_id, std::string_view endpoint) {
  writer.Key("service_id");
  json::Text(writer, service_id);
  if (!endpoint.empty()) {
    writer.Key("endpoint");
    json::Text(writer, endpoint);
  }
}

}  // namespace

std::string TransitionJson(const std::string& service_id, std::string_view endpoint,
                           const Transition& transition, const std::string& file, int line) {
  rapidjson::StringBuffer buffer;
  json::Writer writer(buffer);
  writer.StartObject();
  WriteSeries(writer, service_id, endpoint);
  writer.Key("from_state");
  writer.String(ServiceStateName(transition.from));
  writer.Key("to_state");
  writer.String(ServiceStateName(transition.to));
  writer.Key("reason");
  json::Text(writer, transition.reason);
  writer.Key("metadata");
  json::Metadata(writer, transition.metadata_json);
  writer.Key("timestamp");
  json::Text(writer, FormatTimestamp(transition.timestamp_ms));
  writer.Key("sample_seq");
  writer.Uint64(transition.seq);
  writer.Key("file");
  json::Text(writer, file);
  writer.Key("line");
  writer.Int(line);
  writer.EndObject();
  return buffer.GetString();
}

std::string TransitionText(const std::string& service_id, std::string_view endpoint,
                           const Transition& transition, const std::string& file, int line) {
  rapidjson::StringBuffer buffer;
  json::Writer writer(buffer);
  json::Metadata(writer, transition.metadata_json);
  std::string series = service_id;
  if (!endpoint.empty()) series.append(" [").append(endpoint).append("]");
  return FormatTimestamp(transition.timestamp_ms) + "  " + series + "  " +
         ServiceStateName(transition.from) + " -> " + ServiceStateName(transition.to) + "  " +
         transition.reason + "  " + buffer.GetString() + "  (" + file + ":" + std::to_string(line) +
         ", sample " + std::to_string(transition.seq) + ")";
}

int RunReplay(const ReplayOptions& options, const BaselineParams& params,
              const DetectorSet& detectors, std::FILE* out, std::FILE* err) {
  const Clock::time_point start = Clock::now();
  NabLabels labels;
  if (!options.labels_file.empty()) {
    if (Status loaded = LoadNabLabels(options.labels_file, &labels); !loaded.ok()) {
      std::fprintf(err, "driftwatch replay: %s\n", loaded.message().c_str());
      return 1;
    }
  }
  std::vector<std::string> paths;
  if (Status expanded = ExpandInputs(options.inputs, &paths); !expanded.ok()) {
    std::fprintf(err, "driftwatch replay: %s\n", expanded.message().c_str());
    return 1;
  }

  Replayer replayer(params, detectors, options.series.max_endpoints_per_service);
  std::vector<FileDetections> detections;
  uint64_t samples = 0;
  uint64_t skipped = 0;
  uint64_t transitions = 0;
  uint64_t drifts = 0;
  uint64_t detector_errors = 0;
  uint64_t endpoint_overflow = 0;  // samples whose endpoint series is past the cap
  std::string last_detector_error;
  double pipeline_seconds = 0;  // in the pipeline, not reading files
  double next_progress = options.progress_after_seconds;
  for (size_t f = 0; f < paths.size(); ++f) {
    InputFile file;
    if (Status read = ReadInputFile(paths[f], options.skip_bad, &file); !read.ok()) {
      std::fprintf(err, "driftwatch replay: %s\n", read.message().c_str());
      return 1;
    }
    if (file.skipped > 0) {
      std::fprintf(err, "driftwatch replay: %s: skipped %zu bad rows (the first: %s)\n",
                   file.path.c_str(), file.skipped, file.first_skip_reason.c_str());
    }
    skipped += file.skipped;
    FileDetections found;
    found.path = file.path;
    found.rows = file.data_rows;
    const Clock::time_point pipeline_start = Clock::now();
    std::vector<ServiceMonitor*> monitors;  // by the file's service index
    monitors.reserve(file.services.size());
    for (const std::string& service : file.services) monitors.push_back(&replayer.Monitor(service));
    // By (service index << 32 | endpoint index), once seen in this file; null: past the cap.
    std::unordered_map<uint64_t, ServiceMonitor*> endpoint_monitors;
    // One series takes one sample; the endpoint is empty for a service's own series.
    const auto process = [&](ServiceMonitor& monitor, const InputRow& row,
                             const std::string& service_id, std::string_view endpoint) {
      const ProcessResult result = monitor.Process(row.sample);
      if (!result.detector_error.empty()) {
        ++detector_errors;
        if (result.detector_error != last_detector_error) {
          const std::string series =
              endpoint.empty() ? service_id : EndpointSeriesKey(service_id, endpoint);
          std::fprintf(err, "driftwatch replay: %s: %s\n", SeriesTitle(series).c_str(),
                       result.detector_error.c_str());
          last_detector_error = result.detector_error;
        }
      }
      if (!result.transition) return;
      ++transitions;
      const Transition& transition = *result.transition;
      if (transition.to == ServiceState::kDriftDetected) {
        ++drifts;
        // NAB scores a file's service series: its rows are the service's samples.
        if (endpoint.empty()) found.detections.push_back(row.row);
      }
      const std::string line =
          options.json ? TransitionJson(service_id, endpoint, transition, file.path, row.line)
                       : TransitionText(service_id, endpoint, transition, file.path, row.line);
      std::fprintf(out, "%s\n", line.c_str());
    };
    for (const InputRow& row : file.rows) {
      const std::string& service_id = file.services[row.service];
      ++samples;
      // The service's own series first, then the endpoint's, as the engine queues them.
      process(*monitors[row.service], row, service_id, {});
      if (!options.series.per_endpoint || row.endpoint == kNoEndpoint) continue;
      const uint64_t pair = (uint64_t{row.service} << 32) | row.endpoint;
      auto [known, fresh] = endpoint_monitors.try_emplace(pair, nullptr);
      if (fresh) known->second = replayer.EndpointMonitor(service_id, file.endpoints[row.endpoint]);
      if (known->second == nullptr) {
        ++endpoint_overflow;
        continue;
      }
      process(*known->second, row, service_id, file.endpoints[row.endpoint]);
    }
    pipeline_seconds += SecondsSince(pipeline_start);
    found.row_timestamps = std::move(file.row_timestamps);
    detections.push_back(std::move(found));
    if (const double elapsed = SecondsSince(start); elapsed >= next_progress) {
      std::fprintf(err, "driftwatch replay: %zu of %zu files, %" PRIu64 " samples, %.1f s\n", f + 1,
                   paths.size(), samples, elapsed);
      next_progress = elapsed + 1.0;
    }
  }
  const double seconds = SecondsSince(start);
  std::optional<NabTotals> nab;
  if (!options.labels_file.empty()) nab = ScoreNab(detections, labels, err);

  if (options.json) {
    rapidjson::StringBuffer buffer;
    json::Writer writer(buffer);
    writer.StartObject();
    writer.Key("summary");
    writer.StartObject();
    writer.Key("files");
    writer.Uint64(paths.size());
    writer.Key("services");
    writer.Uint64(replayer.services());
    writer.Key("endpoint_series");
    writer.Uint64(replayer.endpoint_series());
    writer.Key("endpoint_overflow");
    writer.Uint64(endpoint_overflow);
    writer.Key("samples");
    writer.Uint64(samples);
    writer.Key("skipped_rows");
    writer.Uint64(skipped);
    writer.Key("transitions");
    writer.Uint64(transitions);
    writer.Key("drifts");
    writer.Uint64(drifts);
    writer.Key("detector_errors");
    writer.Uint64(detector_errors);
    writer.Key("seconds");
    json::Number(writer, seconds);
    writer.Key("pipeline_seconds");
    json::Number(writer, pipeline_seconds);
    if (nab) WriteNabJson(writer, *nab, options.labels_file);
    writer.EndObject();
    writer.EndObject();
    std::fprintf(out, "%s\n", buffer.GetString());
  } else {
    std::string series;
    if (options.series.per_endpoint) {
      series = " and " + std::to_string(replayer.endpoint_series()) + " endpoint series";
    }
    std::fprintf(out,
                 "replay: %zu files, %zu services%s, %" PRIu64 " samples (%" PRIu64
                 " bad rows skipped), %" PRIu64 " transitions (%" PRIu64
                 " into DRIFT_DETECTED) "
                 "in %.3f s (%.3f s of it in the pipeline)\n",
                 paths.size(), replayer.services(), series.c_str(), samples, skipped, transitions,
                 drifts, seconds, pipeline_seconds);
    if (endpoint_overflow > 0) {
      std::fprintf(out,
                   "endpoint overflow: %" PRIu64
                   " samples went to their service's series only: their endpoint series would "
                   "pass series.max_endpoints_per_service (%" PRIu32 ")\n",
                   endpoint_overflow, options.series.max_endpoints_per_service);
    }
    if (nab) PrintNabText(*nab, options.labels_file, out);
  }
  std::fflush(out);
  return 0;
}

}  // namespace driftwatch::replay
