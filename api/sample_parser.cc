#include "api/sample_parser.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/timestamp.h"

namespace driftwatch::api {
namespace {

using rapidjson::SizeType;

constexpr int kHttpBadRequest = 400;
constexpr int kHttpUnprocessable = 422;
constexpr int64_t kMsPerSecond = 1000;
// A sample is two levels deep; unknown fields may nest, but not without bound (each level costs
// memory while parsing).
constexpr size_t kMaxNestingDepth = 64;
// The shortest batch item that can be valid. A batch of n items takes at least n times this plus
// n - 1 commas and two brackets, which bounds the samples a body can hold.
constexpr std::string_view kShortestSample = R"({"service_id":"a","latency_ms":0})";

// Iterative: a deeply nested body cannot exhaust the reactor thread's stack. Numbers arrive as
// text and are converted by strtod, which rounds correctly (RapidJSON 1.1.0's own full-precision
// conversion has undefined behaviour on a zero with an exponent, such as 0e40; found by fuzzing).
// Invalid UTF-8 and NaN/Infinity are parse errors.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseNumbersAsStringsFlag |
                                 rapidjson::kParseValidateEncodingFlag;

ApiError Unprocessable(std::string field, std::string message) {
  ApiError error;
  error.http_status = kHttpUnprocessable;
  error.code = "validation_failed";
  error.message = std::move(message);
  error.field = std::move(field);
  return error;
}

// The most samples a batch body of `body_bytes` can hold: each takes kShortestSample and a comma.
size_t MaxSamplesIn(size_t body_bytes) {
  return body_bytes == 0 ? 0 : (body_bytes - 1) / (kShortestSample.size() + 1);
}

// A field's JSON type, as far as validation tells types apart.
enum class FieldType { kAbsent, kNull, kNumber, kString, kOther };

struct Field {
  FieldType type = FieldType::kAbsent;
  double number = 0;  // kNumber, for latency_ms and payload_kb
};

// What validation needs of one sample's object, gathered while the reader goes through it. No text
// is kept here: a service id goes straight into the sample being built, and a timestamp is parsed
// where it is read. Each occurrence of a key overwrites the one before, so when a key repeats the
// last one counts (as in JavaScript and Python).
struct SampleFields {
  Field service_id;  // a string's text is in the sample being built
  Field latency_ms;
  Field payload_kb;
  Field timestamp;
  Field endpoint;                       // a string's text is in the sample being built
  std::optional<int64_t> timestamp_ms;  // a string timestamp, parsed; nothing if not RFC 3339

  // The field a key names; nullptr for a key the API does not know (ignored).
  Field* Find(std::string_view key) {
    if (key == "service_id") return &service_id;
    if (key == "latency_ms") return &latency_ms;
    if (key == "payload_kb") return &payload_kb;
    if (key == "timestamp") return &timestamp;
    if (key == "endpoint") return &endpoint;
    return nullptr;
  }
};

// A required or optional non-negative finite number. Null counts as absent.
std::optional<ApiError> ReadAmount(const Field& value, const char* field, bool required,
                                   double* out, bool* present) {
  *present = value.type != FieldType::kAbsent && value.type != FieldType::kNull;
  if (!*present) {
    if (required) return Unprocessable(field, std::string(field) + " is required");
    return std::nullopt;
  }
  if (value.type != FieldType::kNumber) {
    return Unprocessable(field, std::string(field) + " must be a number");
  }
  if (!std::isfinite(value.number) || value.number < 0) {
    return Unprocessable(field, std::string(field) + " must be a finite number >= 0");
  }
  *out = value.number;
  return std::nullopt;
}

// A timestamp far ahead would stay its service's newest sample until the server's clock caught up
// with it: the baseline window's 24 h eviction measures from it, and retention stops at it
// (docs/behaviour.md, Decisions where the contract is silent).
std::optional<ApiError> CheckNotTooFarAhead(int64_t timestamp_ms, const AcceptanceClock& clock) {
  if (timestamp_ms <= clock.now_ms + clock.max_future_ms) return std::nullopt;
  const std::string limit = std::to_string(clock.max_future_ms / kMsPerSecond);
  return Unprocessable("timestamp", "timestamp must be at most " + limit +
                                        " s ahead of the server's clock "
                                        "(ingest.max_future_seconds), got " +
                                        FormatTimestamp(timestamp_ms) + " at " +
                                        FormatTimestamp(clock.now_ms));
}

// Checks a sample's fields in the documented order; out->service_id already holds the id's text
// when the id is a string. On success out->sample holds the sample.
std::optional<ApiError> ReadSample(const SampleFields& fields, const AcceptanceClock& clock,
                                   IncomingSample* out) {
  const FieldType id_type = fields.service_id.type;
  if (id_type == FieldType::kAbsent || id_type == FieldType::kNull) {
    return Unprocessable("service_id", "service_id is required");
  }
  if (id_type != FieldType::kString) {
    return Unprocessable("service_id", "service_id must be a string");
  }
  if (!IsValidServiceId(out->service_id)) {
    return Unprocessable("service_id",
                         "service_id must be 1-128 characters of A-Z a-z 0-9 . _ - :");
  }

  Sample sample;
  bool present = false;
  if (auto error =
          ReadAmount(fields.latency_ms, "latency_ms", true, &sample.latency_ms, &present)) {
    return error;
  }
  if (auto error =
          ReadAmount(fields.payload_kb, "payload_kb", false, &sample.payload_kb, &present)) {
    return error;
  }
  if (!present) sample.payload_kb = std::nan("");

  sample.timestamp_ms = clock.now_ms;
  const FieldType timestamp_type = fields.timestamp.type;
  if (timestamp_type != FieldType::kAbsent && timestamp_type != FieldType::kNull) {
    if (timestamp_type != FieldType::kString || !fields.timestamp_ms) {
      return Unprocessable("timestamp",
                           "timestamp must be an RFC 3339 date-time string, e.g. "
                           "\"2026-01-12T10:30:45.123Z\" or \"2026-01-12T12:30:45+02:00\"");
    }
    if (auto error = CheckNotTooFarAhead(*fields.timestamp_ms, clock)) return error;
    sample.timestamp_ms = *fields.timestamp_ms;
  }

  const FieldType endpoint_type = fields.endpoint.type;
  if (endpoint_type == FieldType::kAbsent || endpoint_type == FieldType::kNull) {
    out->endpoint.clear();
  } else if (endpoint_type != FieldType::kString) {
    return Unprocessable("endpoint", "endpoint must be a string");
  } else if (!IsValidEndpoint(out->endpoint)) {
    return Unprocessable("endpoint",
                         "endpoint must be 1-256 printable ASCII characters (space to '~'), "
                         "e.g. \"GET /api/orders/{id}\"");
  }
  out->sample = sample;
  return std::nullopt;
}

// Reads a body event by event (RapidJSON's SAX interface) and builds its samples as it goes. Of
// the JSON it keeps only the known fields of the sample being read, and where in the body the
// reader is (so that a number too large for a double can be named by its field): a body costs
// the samples it holds, not a tree of every value in it, so a batch of half a million `1`s costs
// nothing. After the first invalid item nothing more is built, but the rest is still read, so that
// a body that is not JSON is refused as such (400) wherever its syntax error lies.
class SampleReader {
 public:
  struct Frame {
    bool is_array = false;
    size_t count = 0;  // arrays: values begun so far
    std::string key;   // objects: the last key read
  };

  // A body of one sample, built into *single; or, when `single` is null, a batch whose valid
  // samples are appended to *batch.
  SampleReader(const AcceptanceClock& clock, IncomingSample* single,
               std::vector<IncomingSample>* batch)
      : clock_(clock),
        single_(single),
        batch_(batch),
        item_depth_(single != nullptr ? 0 : 1),
        target_(single != nullptr ? single : &scratch_) {}
  SampleReader(const SampleReader&) = delete;  // target_ may point into this object
  SampleReader& operator=(const SampleReader&) = delete;

  bool Null() {
    Scalar(FieldType::kNull);
    return true;
  }
  bool Bool(bool) {
    Scalar(FieldType::kOther);
    return true;
  }
  // Numbers arrive as text (kParseNumbersAsStringsFlag); these complete RapidJSON's interface.
  bool Int(int value) { return Number(value); }
  bool Uint(unsigned value) { return Number(value); }
  bool Int64(int64_t value) { return Number(static_cast<double>(value)); }
  bool Uint64(uint64_t value) { return Number(static_cast<double>(value)); }
  bool Double(double value) { return Number(value); }
  // The process runs in the "C" locale, so strtod reads "." as the decimal point; a number beyond
  // a double becomes an infinity, which validation refuses (the largest ones RapidJSON already
  // refuses as too big).
  bool RawNumber(const char* text, SizeType length, bool) {
    Field* field = Scalar(FieldType::kNumber);
    if (field != nullptr) field->number = std::strtod(std::string(text, length).c_str(), nullptr);
    return true;
  }
  bool String(const char* text, SizeType length, bool) {
    const Field* field = Scalar(FieldType::kString);
    const std::string_view value(text, length);
    if (field == &fields_.service_id) target_->service_id.assign(value);
    if (field == &fields_.timestamp) fields_.timestamp_ms = ParseTimestamp(value);
    if (field == &fields_.endpoint) target_->endpoint.assign(value);
    return true;
  }
  bool StartObject() { return Open(false); }
  bool Key(const char* text, SizeType length, bool) {
    path_.back().key.assign(text, length);
    if (in_item_ && path_.size() == item_depth_ + 1) field_ = fields_.Find(path_.back().key);
    return true;
  }
  bool EndObject(SizeType) {
    path_.pop_back();
    if (in_item_ && path_.size() == item_depth_) FinishItem();
    return true;
  }
  bool StartArray() { return Open(true); }
  bool EndArray(SizeType) {
    path_.pop_back();
    return true;
  }

  const std::vector<Frame>& path() const { return path_; }
  bool too_deep() const { return too_deep_; }

  // Once the whole body has parsed: the first thing wrong with its shape or its samples, if any.
  std::optional<ApiError> Verdict() const {
    if (!root_ok_) {
      return Unprocessable("(body)", batch_ != nullptr ? "the body must be a JSON array"
                                                       : "the body must be a JSON object");
    }
    if (batch_ != nullptr && items_ == 0) return Unprocessable("(body)", "the batch is empty");
    return error_;
  }

 private:
  enum class Shape { kScalar, kObject, kArray };

  bool Number(double value) {
    Field* field = Scalar(FieldType::kNumber);
    if (field != nullptr) field->number = value;
    return true;
  }

  // A scalar value begins (and ends): the known field it is the value of, if any.
  Field* Scalar(FieldType type) { return BeginValue(type, Shape::kScalar); }

  bool Open(bool is_array) {
    BeginValue(FieldType::kOther, is_array ? Shape::kArray : Shape::kObject);
    if (path_.size() >= kMaxNestingDepth) {
      too_deep_ = true;
      return false;  // stops the reader
    }
    path_.push_back(Frame{is_array, 0, {}});
    return true;
  }

  // Counts the value in its array, and says what it is to the samples: the body itself, a batch
  // item, or the value of a sample's field (returned, with its type set, when the API knows it).
  Field* BeginValue(FieldType type, Shape shape) {
    if (!path_.empty() && path_.back().is_array) ++path_.back().count;
    const size_t depth = path_.size();
    if (depth == 0) {
      root_ok_ = shape == (batch_ != nullptr ? Shape::kArray : Shape::kObject);
      if (root_ok_ && single_ != nullptr) BeginItem();
      return nullptr;
    }
    if (root_ok_ && batch_ != nullptr && depth == 1) {
      index_ = items_++;
      if (shape == Shape::kObject) {
        BeginItem();
      } else if (!error_) {
        error_ = AtItem(Unprocessable("(item)", "the item must be a JSON object"));
      }
      return nullptr;
    }
    if (!in_item_ || depth != item_depth_ + 1 || field_ == nullptr) return nullptr;
    field_->type = type;
    return field_;
  }

  // Nothing is read once an item was refused: the answer is that item's error.
  void BeginItem() {
    in_item_ = !error_;
    fields_ = SampleFields{};
    field_ = nullptr;
  }

  void FinishItem() {
    in_item_ = false;
    if (auto error = ReadSample(fields_, clock_, target_)) {
      error_ = batch_ != nullptr ? AtItem(std::move(*error)) : std::move(*error);
    } else if (batch_ != nullptr) {
      batch_->push_back(std::move(scratch_));
    }
  }

  ApiError AtItem(ApiError error) const {
    error.index = static_cast<int64_t>(index_);
    error.message = "item " + std::to_string(index_) + ": " + error.message;
    return error;
  }

  const AcceptanceClock clock_;
  IncomingSample* const single_;
  std::vector<IncomingSample>* const batch_;
  const size_t item_depth_;  // how many containers hold a sample's object: 0 alone, 1 in a batch
  IncomingSample* const target_;  // the sample being built
  IncomingSample scratch_;        // a batch's sample, until it is valid
  std::vector<Frame> path_;
  bool too_deep_ = false;
  bool root_ok_ = false;  // the body is an object (one sample) or an array (a batch)
  size_t items_ = 0;      // a batch's items so far
  size_t index_ = 0;      // the batch item being read
  bool in_item_ = false;  // inside a sample's object, reading its fields
  SampleFields fields_;
  Field* field_ = nullptr;  // the known field whose value comes next, if any
  std::optional<ApiError> error_;
};

// The array index of the value the reader stopped in, for frame `depth` of `path`: a container
// inside the array was begun (counted); a scalar that failed to parse was not.
size_t IndexAt(const std::vector<SampleReader::Frame>& path, size_t depth) {
  const size_t count = path[depth].count;
  return depth + 1 < path.size() ? count - 1 : count;
}

// Runs `handler` over `body`. On a syntax error returns the error; `batch` says how to name the
// place of a number too large for a double (which RapidJSON reports as a parse error).
std::optional<ApiError> ReadBody(std::string_view body, bool batch, SampleReader* handler) {
  rapidjson::Reader reader;
  rapidjson::MemoryStream stream(body.data(), body.size());
  reader.Parse<kParseFlags>(stream, *handler);
  if (!reader.HasParseError()) return std::nullopt;

  const rapidjson::ParseErrorCode code = reader.GetParseErrorCode();
  if (code == rapidjson::kParseErrorNumberTooBig) {
    const auto& path = handler->path();
    const std::string message = "is out of range: numbers must fit in a double";
    if (path.empty() || path[0].is_array != batch)
      return Unprocessable("(body)", "(body) " + message);
    // The field the number is in; a key may be empty (found by fuzzing), and is then shown as "".
    const auto field_at = [&](size_t depth) {
      return path[depth].key.empty() ? std::string("\"\"") : path[depth].key;
    };
    if (!batch) return Unprocessable(field_at(0), field_at(0) + " " + message);
    ApiError error = path.size() >= 2 && !path[1].is_array
                         ? Unprocessable(field_at(1), field_at(1) + " " + message)
                         : Unprocessable("(item)", "the item " + message);
    error.index = static_cast<int64_t>(IndexAt(path, 0));
    error.message = "item " + std::to_string(error.index) + ": " + error.message;
    return error;
  }
  ApiError error;
  error.http_status = kHttpBadRequest;
  error.code = "malformed_json";
  if (handler->too_deep()) {
    error.message =
        "JSON nested deeper than " + std::to_string(kMaxNestingDepth) + " levels is not accepted";
    return error;
  }
  error.message = std::string("body is not valid JSON: ") + rapidjson::GetParseError_En(code) +
                  " (at byte " + std::to_string(reader.GetErrorOffset()) + ")";
  return error;
}

}  // namespace

bool IsValidEndpoint(std::string_view endpoint) {
  if (endpoint.empty() || endpoint.size() > kMaxEndpointLength) return false;
  return std::all_of(endpoint.begin(), endpoint.end(), [](char c) { return c >= ' ' && c <= '~'; });
}

bool IsValidServiceId(std::string_view service_id) {
  if (service_id.empty() || service_id.size() > kMaxServiceIdLength) return false;
  for (char c : service_id) {
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == ':';
    if (!allowed) return false;
  }
  return true;
}

std::optional<ApiError> ParseSampleBody(std::string_view body, const AcceptanceClock& clock,
                                        IncomingSample* out) {
  SampleReader reader(clock, out, nullptr);
  if (auto error = ReadBody(body, false, &reader)) return error;
  return reader.Verdict();
}

std::optional<ApiError> ParseBatchBody(std::string_view body, const AcceptanceClock& clock,
                                       std::vector<IncomingSample>* out) {
  // Room for every sample the body can hold, so that the vector never grows by copying; only the
  // pages its samples fill become resident.
  std::vector<IncomingSample> samples;
  samples.reserve(MaxSamplesIn(body.size()));
  SampleReader reader(clock, nullptr, &samples);
  if (auto error = ReadBody(body, true, &reader)) return error;
  if (auto error = reader.Verdict()) return error;
  *out = std::move(samples);
  return std::nullopt;
}

}  // namespace driftwatch::api
