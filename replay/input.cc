#include "replay/input.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>
#include <system_error>
#include <unordered_map>

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

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

// A CSV line's fields, quoted as RFC 4180 quotes them: a field in double quotes may hold commas,
// and "" in it stands for one quote (an endpoint may hold both). Spaces and tabs around a field
// are not part of it; a quote inside an unquoted field is an ordinary character. Reused from row
// to row, so that reading a row allocates nothing once its buffers have grown.
class CsvFields {
 public:
  // Splits `line`. Returns what is wrong with it, or nullptr. The fields stay valid until the
  // next call (they point into `line`, or into unquoted_ for a field that held "").
  const char* Split(std::string_view line) {
    fields_.clear();
    unquoted_.clear();
    unquoted_.reserve(line.size());  // never outgrown below: views into it stay valid
    size_t pos = 0;
    for (;;) {
      while (pos < line.size() && IsBlank(line[pos])) ++pos;
      if (pos < line.size() && line[pos] == '"') {
        const size_t begin = ++pos;
        bool doubled = false;
        for (;;) {
          pos = line.find('"', pos);
          if (pos == line.npos) return "a quoted field has no closing quote";
          if (pos + 1 >= line.size() || line[pos + 1] != '"') break;
          doubled = true;
          pos += 2;
        }
        std::string_view text = line.substr(begin, pos - begin);
        if (doubled) text = Unquote(text);
        ++pos;  // past the closing quote
        while (pos < line.size() && IsBlank(line[pos])) ++pos;
        if (pos < line.size() && line[pos] != ',') {
          return "a quoted field is followed by something other than a comma";
        }
        fields_.push_back(text);
      } else {
        const size_t comma = line.find(',', pos);
        fields_.push_back(Trim(line.substr(pos, comma == line.npos ? line.npos : comma - pos)));
        pos = comma;
      }
      if (pos >= line.size()) return nullptr;
      ++pos;  // past the comma: another field follows, empty if the line ends here
    }
  }

  const std::vector<std::string_view>& fields() const { return fields_; }

 private:
  // `text` with each "" made one ", kept in unquoted_.
  std::string_view Unquote(std::string_view text) {
    const size_t from = unquoted_.size();
    for (size_t i = 0; i < text.size(); ++i) {
      unquoted_.push_back(text[i]);
      if (text[i] == '"') ++i;  // the second of the pair
    }
    return std::string_view(unquoted_).substr(from);
  }

  std::vector<std::string_view> fields_;
  std::string unquoted_;
};

// A decimal number as JSON writes one, read with strtod as the API reads numbers; nothing for
// anything else (hex, "inf", "nan", stray characters).
// (std::from_chars rounds correctly, as strtod does: the same double from the same text.)
std::optional<double> ParseNumber(std::string_view text) {
  // A loop, not find_first_not_of: that costs a memchr per character, and this runs per row.
  const auto numeric = [](char c) {
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
  };
  if (text.empty() || !std::all_of(text.begin(), text.end(), numeric)) return std::nullopt;
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The columns of a CSV file's header.
struct Columns {
  bool nab = false;  // timestamp,value
  int service_id = -1;
  int latency_ms = -1;
  int payload_kb = -1;
  int timestamp = -1;
  int endpoint = -1;
  size_t count = 0;
};

Status ReadHeader(std::string_view line, const std::string& where, Columns* columns) {
  CsvFields split;
  if (const char* problem = split.Split(line)) {
    return Status::InvalidArgument(where + ": header not understood: " + problem + ", in '" +
                                   std::string(line) + "'");
  }
  const std::vector<std::string_view>& names = split.fields();
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
    if (names[i] == "endpoint") columns->endpoint = index;
    // Any other column is read past, as the API ignores unknown fields.
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
// The index of `service` in file->services, added if new.
uint32_t ServiceIndex(std::string_view service, InputFile* file) {
  // Rows of one service usually follow one another: look at the last one first.
  if (!file->services.empty() && file->services.back() == service) {
    return static_cast<uint32_t>(file->services.size() - 1);
  }
  const auto found = std::find(file->services.begin(), file->services.end(), service);
  if (found != file->services.end()) {
    return static_cast<uint32_t>(found - file->services.begin());
  }
  file->services.emplace_back(service);
  return static_cast<uint32_t>(file->services.size() - 1);
}

// The index of each endpoint in its file's `endpoints`, adding those not seen yet. A map, not a
// search of the list: a recording may name many endpoints, and its rows interleave them.
class EndpointIndex {
 public:
  explicit EndpointIndex(InputFile* file) : file_(file) {}

  uint32_t Of(std::string_view endpoint) {
    if (const auto found = index_.find(endpoint); found != index_.end()) return found->second;
    const auto index = static_cast<uint32_t>(file_->endpoints.size());
    file_->endpoints.emplace_back(endpoint);
    index_.emplace(std::string(endpoint), index);
    return index;
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  InputFile* file_;
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> index_;
};

std::optional<std::string> ReadCsvRow(std::string_view line, const Columns& columns,
                                      CsvFields& split, InputFile* file, EndpointIndex& endpoints,
                                      InputRow* row, int64_t* timestamp_ms) {
  if (const char* problem = split.Split(line)) return problem;
  const std::vector<std::string_view>& fields = split.fields();
  if (fields.size() != columns.count) {
    return "expected " + std::to_string(columns.count) + " fields, got " +
           std::to_string(fields.size());
  }
  const std::string_view stamp = fields[static_cast<size_t>(columns.timestamp)];
  if (!ParseRecordedTimestamp(stamp, timestamp_ms)) {
    return "timestamp: expected \"2014-04-01 00:00:00\" (UTC) or an RFC 3339 date-time, got '" +
           std::string(stamp) + "'";
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
  if (columns.service_id >= 0) {
    const std::string_view service = fields[static_cast<size_t>(columns.service_id)];
    if (!api::IsValidServiceId(service)) {
      return "service_id: must be 1-128 characters of A-Z a-z 0-9 . _ - :, got '" +
             std::string(service) + "'";
    }
    row->service = ServiceIndex(service, file);
  } else {
    row->service = 0;  // the file's own service, services[0]
  }
  row->endpoint = kNoEndpoint;
  if (columns.endpoint >= 0) {
    // Empty is none, as for payload_kb; otherwise checked as the API checks it, series on or off.
    const std::string_view endpoint = fields[static_cast<size_t>(columns.endpoint)];
    if (!endpoint.empty()) {
      if (!api::IsValidEndpoint(endpoint)) {
        return "endpoint: must be empty or 1-256 printable ASCII characters (space to '~'), got "
               "'" +
               std::string(endpoint) + "'";
      }
      row->endpoint = endpoints.Of(endpoint);
    }
  }
  return std::nullopt;
}

std::optional<std::string> ReadJsonRow(std::string_view line, InputFile* file,
                                       EndpointIndex& endpoints, InputRow* row,
                                       int64_t* timestamp_ms) {
  IncomingSample incoming;
  const api::AcceptanceClock clock{kNoTimestamp, 0};
  if (std::optional<api::ApiError> error = api::ParseSampleBody(line, clock, &incoming)) {
    return error->message;
  }
  if (incoming.sample.timestamp_ms == kNoTimestamp) {
    return "timestamp: required (replay needs the time each sample was recorded)";
  }
  row->service = ServiceIndex(incoming.service_id, file);
  // The API's parser has checked the endpoint; empty when absent or null.
  row->endpoint = incoming.endpoint.empty() ? kNoEndpoint : endpoints.Of(incoming.endpoint);
  row->sample = incoming.sample;
  *timestamp_ms = row->sample.timestamp_ms;
  return std::nullopt;
}

}  // namespace

bool ParseRecordedTimestamp(std::string_view text, int64_t* out_ms) {
  std::optional<int64_t> parsed;
  constexpr size_t kLongest = 40;
  const auto zone = [](char c) { return c == 'Z' || c == 'z' || c == '+' || c == '-'; };
  if (text.size() >= 19 && text.size() < kLongest && text[10] == ' ' &&
      std::none_of(text.begin() + 11, text.end(), zone)) {
    // NAB: "2014-04-01 00:00:00[.ffffff]", no zone: UTC, read as "2014-04-01T00:00:00Z".
    std::array<char, kLongest + 1> rfc3339{};
    std::copy(text.begin(), text.end(), rfc3339.begin());
    rfc3339[10] = 'T';
    rfc3339[text.size()] = 'Z';
    parsed = ParseTimestamp(std::string_view(rfc3339.data(), text.size() + 1));
  } else {
    parsed = ParseTimestamp(text);
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
  std::string content;
  {
    std::ostringstream whole;
    whole << in.rdbuf();
    if (in.bad()) return Status::IoError(path + ": read error");
    content = std::move(whole).str();
  }
  out->path = path;
  const fs::path as_path(path);
  const bool json_lines = as_path.extension() == ".jsonl" || as_path.extension() == ".ndjson";

  Columns columns;
  bool header_read = json_lines;
  CsvFields fields;
  EndpointIndex endpoints(out);
  int line_number = 0;
  for (size_t start = 0; start < content.size();) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    std::string_view line(content.data() + start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (std::all_of(line.begin(), line.end(), IsBlank)) {
      continue;  // blank lines
    }
    if (!header_read) {
      const std::string where = path + ":" + std::to_string(line_number);
      if (Status read = ReadHeader(line, where, &columns); !read.ok()) return read;
      if (columns.service_id < 0) {
        const std::string file_service = as_path.stem().string();
        if (!api::IsValidServiceId(file_service)) {
          return Status::InvalidArgument(
              path + ": the file name '" + file_service +
              "' is not a valid service id (1-128 characters of A-Z a-z 0-9 . _ - :); rename it "
              "or add a service_id column");
        }
        out->services.push_back(file_service);
      }
      header_read = true;
      continue;
    }
    InputRow row;
    row.row = out->data_rows;
    row.line = line_number;
    int64_t timestamp_ms = out->row_timestamps.empty() ? 0 : out->row_timestamps.back();
    std::optional<std::string> bad =
        json_lines ? ReadJsonRow(line, out, endpoints, &row, &timestamp_ms)
                   : ReadCsvRow(line, columns, fields, out, endpoints, &row, &timestamp_ms);
    ++out->data_rows;
    out->row_timestamps.push_back(timestamp_ms);
    if (bad) {
      const std::string where = path + ":" + std::to_string(line_number);
      if (!skip_bad) {
        return Status::InvalidArgument(where + ": " + *bad +
                                       " (without --strict such rows are skipped and counted)");
      }
      if (out->skipped++ == 0) out->first_skip_reason = where + ": " + *bad;
      continue;
    }
    out->rows.push_back(row);
  }
  if (!header_read) return Status::InvalidArgument(path + ": empty file (no header)");
  return Status::Ok();
}

}  // namespace driftwatch::replay
