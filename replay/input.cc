#include "replay/input.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>
#include <system_error>

#include "api/sample_parser.h"
#include "core/timestamp.h"

namespace driftwatch::replay {
namespace {

namespace fs = std::filesystem;

// The clock a JSON Lines sample is read under: no sample is "too far ahead" offline, and one
// without a timestamp gets this value, by which it is recognised (replay needs recorded times).
constexpr int64_t kNoTimestamp = std::numeric_limits<int64_t>::max() / 2;

bool HasInputExtension(const fs::path& path) {
  const std::string extension = path.extension().string();
  return extension == ".csv" || extension == ".jsonl" || extension == ".ndjson";
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  return text;
}

std::vector<std::string_view> SplitCsv(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (;;) {
    const size_t comma = line.find(',', start);
    fields.push_back(Trim(line.substr(start, comma == line.npos ? line.npos : comma - start)));
    if (comma == line.npos) return fields;
    start = comma + 1;
  }
}

// A decimal number as JSON writes one, read with strtod as the API reads numbers; nothing for
// anything else (hex, "inf", "nan", stray characters).
std::optional<double> ParseNumber(std::string_view text) {
  if (text.empty() || text.find_first_not_of("0123456789+-.eE") != text.npos) return std::nullopt;
  const std::string owned(text);
  char* end = nullptr;
  const double value = std::strtod(owned.c_str(), &end);
  if (end != owned.c_str() + owned.size()) return std::nullopt;
  return value;
}

// The columns of a CSV file's header.
struct Columns {
  bool nab = false;  // timestamp,value
  int service_id = -1;
  int latency_ms = -1;
  int payload_kb = -1;
  int timestamp = -1;
  size_t count = 0;
};

Status ReadHeader(std::string_view line, const std::string& where, Columns* columns) {
  const std::vector<std::string_view> names = SplitCsv(line);
  columns->count = names.size();
  if (names.size() == 2 && names[0] == "timestamp" && names[1] == "value") {
    columns->nab = true;
    columns->timestamp = 0;
    columns->latency_ms = 1;
    return Status::Ok();
  }
  for (size_t i = 0; i < names.size(); ++i) {
    const int index = static_cast<int>(i);
    if (names[i] == "service_id") columns->service_id = index;
    if (names[i] == "latency_ms") columns->latency_ms = index;
    if (names[i] == "payload_kb") columns->payload_kb = index;
    if (names[i] == "timestamp") columns->timestamp = index;
    // "endpoint" and any other column are read past, as the API ignores unknown fields.
  }
  if (columns->latency_ms < 0 || columns->timestamp < 0) {
    return Status::InvalidArgument(
        where +
        ": header not understood: expected 'timestamp,value' (NAB) or named columns with at "
        "least timestamp and latency_ms (service_id, latency_ms, payload_kb, endpoint, "
        "timestamp), got '" +
        std::string(line) + "'");
  }
  return Status::Ok();
}

// One CSV data row into *row; on failure the reason (without the file and line).
std::optional<std::string> ReadCsvRow(std::string_view line, const Columns& columns,
                                      const std::string& file_service, InputRow* row,
                                      int64_t* timestamp_ms) {
  const std::vector<std::string_view> fields = SplitCsv(line);
  if (fields.size() != columns.count) {
    return "expected " + std::to_string(columns.count) + " fields, got " +
           std::to_string(fields.size());
  }
  const std::string stamp(fields[static_cast<size_t>(columns.timestamp)]);
  if (!ParseRecordedTimestamp(stamp, timestamp_ms)) {
    return "timestamp: expected \"2014-04-01 00:00:00\" (UTC) or an RFC 3339 date-time, got '" +
           stamp + "'";
  }
  row->sample.timestamp_ms = *timestamp_ms;
  const char* value_name = columns.nab ? "value" : "latency_ms";
  const std::string_view latency = fields[static_cast<size_t>(columns.latency_ms)];
  const std::optional<double> value = ParseNumber(latency);
  if (!value)
    return std::string(value_name) + ": expected a number, got '" + std::string(latency) + "'";
  if (!std::isfinite(*value) || *value < 0) {
    return std::string(value_name) +
           ": must be a finite number >= 0 (the API refuses it too), got " + std::string(latency);
  }
  row->sample.latency_ms = *value;
  row->sample.payload_kb = std::nan("");
  if (columns.payload_kb >= 0) {
    const std::string_view text = fields[static_cast<size_t>(columns.payload_kb)];
    if (!text.empty()) {
      const std::optional<double> payload = ParseNumber(text);
      if (!payload || !std::isfinite(*payload) || *payload < 0) {
        return "payload_kb: must be empty or a finite number >= 0, got '" + std::string(text) + "'";
      }
      row->sample.payload_kb = *payload;
    }
  }
  row->service_id = file_service;
  if (columns.service_id >= 0) {
    row->service_id = std::string(fields[static_cast<size_t>(columns.service_id)]);
    if (!api::IsValidServiceId(row->service_id)) {
      return "service_id: must be 1-128 characters of A-Z a-z 0-9 . _ - :, got '" +
             row->service_id + "'";
    }
  }
  return std::nullopt;
}

std::optional<std::string> ReadJsonRow(std::string_view line, InputRow* row,
                                       int64_t* timestamp_ms) {
  IncomingSample incoming;
  const api::AcceptanceClock clock{kNoTimestamp, 0};
  if (std::optional<api::ApiError> error = api::ParseSampleBody(line, clock, &incoming)) {
    return error->message;
  }
  if (incoming.sample.timestamp_ms == kNoTimestamp) {
    return "timestamp: required (replay needs the time each sample was recorded)";
  }
  row->service_id = std::move(incoming.service_id);
  row->sample = incoming.sample;
  *timestamp_ms = row->sample.timestamp_ms;
  return std::nullopt;
}

}  // namespace

bool ParseRecordedTimestamp(const std::string& text, int64_t* out_ms) {
  std::optional<int64_t> parsed = ParseTimestamp(text);
  if (!parsed && text.size() >= 19 && text[10] == ' ' &&
      text.find_first_of("Zz+") == std::string::npos && text.find('-', 11) == std::string::npos) {
    // NAB: "2014-04-01 00:00:00[.ffffff]", no zone: UTC.
    std::string rfc3339 = text;
    rfc3339[10] = 'T';
    rfc3339 += 'Z';
    parsed = ParseTimestamp(rfc3339);
  }
  if (!parsed) return false;
  *out_ms = *parsed;
  return true;
}

Status ExpandInputs(const std::vector<std::string>& inputs, std::vector<std::string>* files) {
  for (const std::string& input : inputs) {
    std::error_code error;
    const fs::file_status status = fs::status(input, error);
    if (error || !fs::exists(status)) {
      return Status::NotFound(input + ": no such file or directory");
    }
    if (!fs::is_directory(status)) {
      files->push_back(input);
      continue;
    }
    std::vector<std::string> found;
    for (fs::recursive_directory_iterator it(input, error), end; !error && it != end;
         it.increment(error)) {
      if (it->is_regular_file() && HasInputExtension(it->path())) {
        found.push_back(it->path().string());
      }
    }
    if (error) return Status::IoError(input + ": cannot list the directory: " + error.message());
    if (found.empty()) {
      return Status::NotFound(input + ": no *.csv, *.jsonl or *.ndjson file in the directory");
    }
    std::sort(found.begin(), found.end());
    files->insert(files->end(), found.begin(), found.end());
  }
  return Status::Ok();
}

Status ReadInputFile(const std::string& path, bool skip_bad, InputFile* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot open the file");
  out->path = path;
  const fs::path as_path(path);
  const bool json_lines = as_path.extension() == ".jsonl" || as_path.extension() == ".ndjson";
  const std::string file_service = as_path.stem().string();

  Columns columns;
  bool header_read = json_lines;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines
    const std::string where = path + ":" + std::to_string(line_number);
    if (!header_read) {
      if (Status read = ReadHeader(line, where, &columns); !read.ok()) return read;
      if (columns.service_id < 0 && !api::IsValidServiceId(file_service)) {
        return Status::InvalidArgument(
            path + ": the file name '" + file_service +
            "' is not a valid service id (1-128 characters of A-Z a-z 0-9 . _ - :); rename it "
            "or add a service_id column");
      }
      header_read = true;
      continue;
    }
    InputRow row;
    row.row = out->data_rows;
    row.line = line_number;
    int64_t timestamp_ms = out->row_timestamps.empty() ? 0 : out->row_timestamps.back();
    std::optional<std::string> bad =
        json_lines ? ReadJsonRow(line, &row, &timestamp_ms)
                   : ReadCsvRow(line, columns, file_service, &row, &timestamp_ms);
    ++out->data_rows;
    out->row_timestamps.push_back(timestamp_ms);
    if (bad) {
      if (!skip_bad) {
        return Status::InvalidArgument(where + ": " + *bad +
                                       " (--skip-bad skips such rows and counts them)");
      }
      if (out->skipped++ == 0) out->first_skip_reason = where + ": " + *bad;
      continue;
    }
    out->rows.push_back(std::move(row));
  }
  if (in.bad()) return Status::IoError(path + ": read error");
  if (!header_read) return Status::InvalidArgument(path + ": empty file (no header)");
  return Status::Ok();
}

}  // namespace driftwatch::replay
