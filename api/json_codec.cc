#include "api/json_codec.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

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
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr int kHttpBadRequest = 400;
constexpr int kHttpUnprocessable = 422;
constexpr double kBytesPerMegabyte = 1024.0 * 1024.0;
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
  std::optional<int64_t> timestamp_ms;  // a string timestamp, parsed; nothing if not RFC 3339

  // The field a key names; nullptr for a key the API does not know (ignored).
  Field* Find(std::string_view key) {
    if (key == "service_id") return &service_id;
    if (key == "latency_ms") return &latency_ms;
    if (key == "payload_kb") return &payload_kb;
    if (key == "timestamp") return &timestamp;
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
// (docs/behaviour.md).
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

// --- Writing ----------------------------------------------------------------------------------

// The length of the valid UTF-8 sequence at the start of `text` (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 if it does not start with one.
size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80;  // the range of the second byte
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD: error messages quote
// what the client sent (a path, a service id), and the answer must stay valid JSON.
std::string ValidUtf8(std::string_view text) {
  std::string valid;
  valid.reserve(text.size());
  while (!text.empty()) {
    const size_t length = Utf8SequenceLength(text);
    if (length == 0) {
      valid.append("\xEF\xBF\xBD");
      text.remove_prefix(1);
    } else {
      valid.append(text.substr(0, length));
      text.remove_prefix(length);
    }
  }
  return valid;
}

void Number(JsonWriter& writer, double value) {
  if (std::isfinite(value)) {
    writer.Double(value);
  } else {
    writer.Null();  // JSON has no NaN or infinity
  }
}

void Text(JsonWriter& writer, std::string_view text) {
  writer.String(text.data(), static_cast<SizeType>(text.size()));
}

void Timestamp(JsonWriter& writer, int64_t epoch_ms) { Text(writer, FormatTimestamp(epoch_ms)); }

// Metadata is JSON made by the engine; anything that is not an object is shown as {}.
void Metadata(JsonWriter& writer, const std::string& metadata_json) {
  rapidjson::Document parsed;
  parsed.Parse<rapidjson::kParseFullPrecisionFlag>(metadata_json.data(), metadata_json.size());
  if (parsed.HasParseError() || !parsed.IsObject()) {
    writer.StartObject();
    writer.EndObject();
    return;
  }
  parsed.Accept(writer);
}

void TransitionTimestamp(JsonWriter& writer, const ServiceHealth& health) {
  if (health.transition_timestamp_ms) {
    Timestamp(writer, *health.transition_timestamp_ms);
  } else {
    writer.Null();
  }
}

std::string Finish(const rapidjson::StringBuffer& buffer) {
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

ApiError MakeError(int status, std::string code, std::string message) {
  ApiError error;
  error.http_status = status;
  error.code = std::move(code);
  error.message = std::move(message);
  return error;
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

std::string ErrorJson(const ApiError& error) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("error");
  Text(writer, error.code);
  writer.Key("message");
  Text(writer, ValidUtf8(error.message));
  if (!error.field.empty()) {
    writer.Key("field");
    Text(writer, ValidUtf8(error.field));
  }
  if (error.index >= 0) {
    writer.Key("index");
    writer.Int64(error.index);
  }
  for (const auto& [key, value] : error.numbers) {
    writer.Key(key.data(), static_cast<SizeType>(key.size()));
    writer.Uint64(value);
  }
  writer.EndObject();
  return Finish(buffer);
}

std::string AcceptedJson(const IncomingSample& sample) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("status");
  writer.String("accepted");
  writer.Key("service_id");
  Text(writer, sample.service_id);
  writer.Key("timestamp");
  Timestamp(writer, sample.sample.timestamp_ms);
  writer.EndObject();
  return Finish(buffer);
}

std::string BatchAcceptedJson(size_t accepted) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("status");
  writer.String("accepted");
  writer.Key("accepted");
  writer.Uint64(accepted);
  writer.EndObject();
  return Finish(buffer);
}

std::string HealthJson(const ServiceHealth& health) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("service_id");
  Text(writer, health.service_id);
  writer.Key("state");
  writer.String(ServiceStateName(health.state));
  writer.Key("transition_timestamp");
  TransitionTimestamp(writer, health);
  writer.Key("sample_count");
  writer.Uint64(health.sample_count);
  writer.Key("baseline");
  if (health.baseline.valid) {
    writer.StartObject();
    writer.Key("mean_latency");
    Number(writer, health.baseline.mean_latency);
    writer.Key("stddev_latency");
    Number(writer, health.baseline.stddev_latency);
    writer.Key("sample_count");
    writer.Uint(health.baseline.sample_count);
    writer.EndObject();
  } else {
    writer.Null();
  }
  writer.Key("metadata");
  Metadata(writer, health.metadata_json);
  writer.EndObject();
  return Finish(buffer);
}

std::string BaselineJson(const ServiceHealth& health) {
  const Baseline& baseline = health.baseline;
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("service_id");
  Text(writer, health.service_id);
  writer.Key("sample_count");
  writer.Uint(baseline.sample_count);
  const std::pair<const char*, double> latency[] = {{"mean_latency", baseline.mean_latency},
                                                    {"stddev_latency", baseline.stddev_latency},
                                                    {"p50_latency", baseline.p50_latency},
                                                    {"p95_latency", baseline.p95_latency},
                                                    {"p99_latency", baseline.p99_latency}};
  for (const auto& [key, value] : latency) {
    writer.Key(key);
    Number(writer, value);
  }
  writer.Key("mean_payload");
  if (baseline.has_payload) {
    Number(writer, baseline.mean_payload);
  } else {
    writer.Null();
  }
  writer.Key("stddev_payload");
  if (baseline.has_payload) {
    Number(writer, baseline.stddev_payload);
  } else {
    writer.Null();
  }
  writer.Key("last_updated");
  Timestamp(writer, baseline.last_updated_ms);
  writer.EndObject();
  return Finish(buffer);
}

std::string ResetJson(const std::string& service_id) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("status");
  writer.String("reset");
  writer.Key("service_id");
  Text(writer, service_id);
  writer.Key("state");
  writer.String(ServiceStateName(ServiceState::kInsufficientData));
  writer.EndObject();
  return Finish(buffer);
}

std::string EventsJson(const std::string& service_id, const std::vector<StoredEvent>& events) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("service_id");
  Text(writer, service_id);
  writer.Key("events");
  writer.StartArray();
  for (const StoredEvent& event : events) {
    writer.StartObject();
    writer.Key("from_state");
    Text(writer, event.from_state);
    writer.Key("to_state");
    Text(writer, event.to_state);
    writer.Key("reason");
    Text(writer, event.reason);
    writer.Key("metadata");
    Metadata(writer, event.metadata_json);
    writer.Key("timestamp");
    Timestamp(writer, event.timestamp_ms);
    writer.Key("sample_seq");
    writer.Uint64(event.seq);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return Finish(buffer);
}

std::string ServicesJson(const std::vector<ServiceHealth>& services) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("services");
  writer.StartArray();
  for (const ServiceHealth& health : services) {
    writer.StartObject();
    writer.Key("service_id");
    Text(writer, health.service_id);
    writer.Key("state");
    writer.String(ServiceStateName(health.state));
    writer.Key("sample_count");
    writer.Uint64(health.sample_count);
    writer.Key("transition_timestamp");
    TransitionTimestamp(writer, health);
    writer.EndObject();
  }
  writer.EndArray();
  writer.Key("count");
  writer.Uint64(services.size());
  writer.EndObject();
  return Finish(buffer);
}

std::string StatusJson(const SystemStatus& status) {
  const EngineStatus& engine = status.engine;
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("status");
  writer.String(engine.storage_healthy ? "healthy" : "degraded");
  writer.Key("uptime_seconds");
  writer.Int64(status.uptime_seconds);
  writer.Key("services_monitored");
  writer.Uint64(engine.services_monitored);
  writer.Key("total_telemetry_records");
  if (status.have_store_stats) {
    writer.Uint64(status.stored_samples);
  } else {
    writer.Null();
  }
  writer.Key("total_drift_events");
  if (status.have_store_stats) {
    writer.Uint64(status.stored_events);
  } else {
    writer.Null();
  }
  writer.Key("database_size_mb");
  if (status.have_store_stats) {
    // Two decimals, as the seed shows it; the exact size is in database_size_bytes.
    Number(writer, std::round(status.database_size_bytes / kBytesPerMegabyte * 100.0) / 100.0);
  } else {
    writer.Null();
  }
  writer.Key("database_size_bytes");
  if (status.have_store_stats) {
    writer.Uint64(status.database_size_bytes);
  } else {
    writer.Null();
  }
  writer.Key("version");
  Text(writer, status.version);

  const std::pair<const char*, uint64_t> counters[] = {
      {"samples_accepted", engine.samples_accepted},
      {"samples_processed", engine.samples_processed},
      {"queue_depth", engine.queue_depth},
      {"queue_capacity", engine.queue_capacity},
      {"rejected_queue_full", engine.rejected_queue_full},
      {"rejected_too_many_services", engine.rejected_too_many_services},
      {"storage_pending_samples", engine.storage_pending_samples},
  };
  for (const auto& [key, value] : counters) {
    writer.Key(key);
    writer.Uint64(value);
  }
  writer.Key("storage_healthy");
  writer.Bool(engine.storage_healthy);
  writer.Key("storage_error");
  Text(writer, engine.storage_error);
  writer.Key("storage_plugin");
  Text(writer, status.storage_plugin);
  writer.Key("detector_errors");
  writer.Uint64(engine.detector_errors);
  writer.Key("last_detector_error");
  Text(writer, engine.last_detector_error);

  writer.Key("pipeline");
  writer.StartObject();
  writer.Key("triggers");
  writer.StartArray();
  for (const std::string& name : status.trigger_detectors) Text(writer, name);
  writer.EndArray();
  writer.Key("recovery");
  Text(writer, status.recovery_detector);
  writer.EndObject();

  writer.Key("durable");
  writer.Bool(status.durable);
  writer.Key("auth_required");
  writer.Bool(status.auth_required);
  writer.Key("rejected_unauthorized");
  writer.Uint64(status.rejected_unauthorized);
  writer.Key("open_connections");
  writer.Uint64(status.open_connections);
  writer.Key("limits");
  writer.StartObject();
  for (const LimitStatus& limit : status.limits) {
    Text(writer, limit.name);
    writer.StartObject();
    writer.Key("limit");
    writer.Uint64(limit.limit);
    writer.Key("rejected");
    writer.Uint64(limit.rejected);
    writer.EndObject();
  }
  writer.EndObject();

  writer.Key("plugins");
  writer.StartArray();
  for (const LoadedPlugin& plugin : status.plugins) {
    writer.StartObject();
    writer.Key("name");
    Text(writer, plugin.name);
    writer.Key("version");
    Text(writer, plugin.version);
    writer.Key("path");
    Text(writer, plugin.path);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return Finish(buffer);
}

}  // namespace driftwatch::api
