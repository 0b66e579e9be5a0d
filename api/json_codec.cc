#include "api/json_codec.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>

#include "core/timestamp.h"

namespace driftwatch::api {
namespace {

using rapidjson::SizeType;
using rapidjson::Value;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;
// Stack space for the parsed values of one sample's body (a few members; more spills to the heap).
constexpr size_t kSampleValueBytes = 2048;

constexpr int kHttpBadRequest = 400;
constexpr int kHttpUnprocessable = 422;
constexpr double kBytesPerMegabyte = 1024.0 * 1024.0;
// A sample is two levels deep; unknown fields may nest, but not without bound (each level costs
// memory while parsing).
constexpr size_t kMaxNestingDepth = 64;

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

// Builds the document from the reader's events and remembers where in the body the reader is,
// so that a number too large for a double can be reported against its field.
class PathTrackingHandler {
 public:
  struct Frame {
    bool is_array = false;
    size_t count = 0;  // arrays: values begun so far
    std::string key;   // objects: the last key read
  };

  explicit PathTrackingHandler(rapidjson::Document& document) : document_(document) {}

  bool Null() { return BeginValue() && document_.Null(); }
  bool Bool(bool value) { return BeginValue() && document_.Bool(value); }
  bool Int(int value) { return BeginValue() && document_.Int(value); }
  bool Uint(unsigned value) { return BeginValue() && document_.Uint(value); }
  bool Int64(int64_t value) { return BeginValue() && document_.Int64(value); }
  bool Uint64(uint64_t value) { return BeginValue() && document_.Uint64(value); }
  bool Double(double value) { return BeginValue() && document_.Double(value); }
  // Every number, as its text (kParseNumbersAsStringsFlag). The process runs in the "C" locale,
  // so strtod reads "." as the decimal point; a number beyond a double becomes an infinity, which
  // validation refuses (the largest ones RapidJSON already refuses as too big).
  bool RawNumber(const char* text, SizeType length, bool) {
    return BeginValue() &&
           document_.Double(std::strtod(std::string(text, length).c_str(), nullptr));
  }
  bool String(const char* text, SizeType length, bool copy) {
    return BeginValue() && document_.String(text, length, copy);
  }
  bool StartObject() {
    BeginValue();
    if (path_.size() >= kMaxNestingDepth) return TooDeep();
    path_.push_back(Frame{});
    return document_.StartObject();
  }
  bool Key(const char* text, SizeType length, bool copy) {
    path_.back().key.assign(text, length);
    return document_.Key(text, length, copy);
  }
  bool EndObject(SizeType members) {
    path_.pop_back();
    return document_.EndObject(members);
  }
  bool StartArray() {
    BeginValue();
    if (path_.size() >= kMaxNestingDepth) return TooDeep();
    path_.push_back(Frame{true, 0, {}});
    return document_.StartArray();
  }
  bool EndArray(SizeType elements) {
    path_.pop_back();
    return document_.EndArray(elements);
  }

  const std::vector<Frame>& path() const { return path_; }
  bool too_deep() const { return too_deep_; }

 private:
  bool TooDeep() {
    too_deep_ = true;
    return false;  // stops the reader
  }

  bool BeginValue() {
    if (!path_.empty() && path_.back().is_array) ++path_.back().count;
    return true;
  }

  rapidjson::Document& document_;
  std::vector<Frame> path_;
  bool too_deep_ = false;
};

// The array index of the value the reader stopped in, for frame `depth` of `path`: a container
// inside the array was begun (counted); a scalar that failed to parse was not.
size_t IndexAt(const std::vector<PathTrackingHandler::Frame>& path, size_t depth) {
  const size_t count = path[depth].count;
  return depth + 1 < path.size() ? count - 1 : count;
}

// Parses `body` into *document. On failure returns the error; `batch` says how to name the place
// of a number too large for a double (which RapidJSON reports as a parse error).
std::optional<ApiError> ParseJson(std::string_view body, bool batch,
                                  rapidjson::Document* document) {
  rapidjson::Reader reader;
  rapidjson::MemoryStream stream(body.data(), body.size());
  PathTrackingHandler handler(*document);
  auto generate = [&](rapidjson::Document&) { return reader.Parse<kParseFlags>(stream, handler); };
  document->Populate(generate);
  if (!reader.HasParseError()) return std::nullopt;

  const rapidjson::ParseErrorCode code = reader.GetParseErrorCode();
  if (code == rapidjson::kParseErrorNumberTooBig) {
    const auto& path = handler.path();
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
  if (handler.too_deep()) {
    error.message =
        "JSON nested deeper than " + std::to_string(kMaxNestingDepth) + " levels is not accepted";
    return error;
  }
  error.message = std::string("body is not valid JSON: ") + rapidjson::GetParseError_En(code) +
                  " (at byte " + std::to_string(reader.GetErrorOffset()) + ")";
  return error;
}

// The member called `name`; when a key repeats, the last one counts (as in JavaScript/Python).
const Value* FindMember(const Value& object, std::string_view name) {
  const Value* found = nullptr;
  for (const auto& member : object.GetObject()) {
    if (std::string_view(member.name.GetString(), member.name.GetStringLength()) == name) {
      found = &member.value;
    }
  }
  return found;
}

// A required or optional non-negative finite number. Null counts as absent.
std::optional<ApiError> ReadAmount(const Value& object, const char* field, bool required,
                                   double* out, bool* present) {
  const Value* value = FindMember(object, field);
  *present = value != nullptr && !value->IsNull();
  if (!*present) {
    if (required) return Unprocessable(field, std::string(field) + " is required");
    return std::nullopt;
  }
  if (!value->IsNumber()) return Unprocessable(field, std::string(field) + " must be a number");
  const double number = value->GetDouble();
  if (!std::isfinite(number) || number < 0) {
    return Unprocessable(field, std::string(field) + " must be a finite number >= 0");
  }
  *out = number;
  return std::nullopt;
}

std::optional<ApiError> ReadSample(const Value& item, int64_t now_ms, IncomingSample* out) {
  const Value* service_id = FindMember(item, "service_id");
  if (service_id == nullptr || service_id->IsNull()) {
    return Unprocessable("service_id", "service_id is required");
  }
  if (!service_id->IsString()) return Unprocessable("service_id", "service_id must be a string");
  const std::string_view id(service_id->GetString(), service_id->GetStringLength());
  if (!IsValidServiceId(id)) {
    return Unprocessable("service_id",
                         "service_id must be 1-128 characters of A-Z a-z 0-9 . _ - :");
  }

  Sample sample;
  bool present = false;
  if (auto error = ReadAmount(item, "latency_ms", true, &sample.latency_ms, &present)) {
    return error;
  }
  if (auto error = ReadAmount(item, "payload_kb", false, &sample.payload_kb, &present)) {
    return error;
  }
  if (!present) sample.payload_kb = std::nan("");

  sample.timestamp_ms = now_ms;
  const Value* timestamp = FindMember(item, "timestamp");
  if (timestamp != nullptr && !timestamp->IsNull()) {
    std::optional<int64_t> parsed;
    if (timestamp->IsString()) {
      parsed =
          ParseTimestamp(std::string_view(timestamp->GetString(), timestamp->GetStringLength()));
    }
    if (!parsed) {
      return Unprocessable("timestamp",
                           "timestamp must be an RFC 3339 date-time string, e.g. "
                           "\"2026-01-12T10:30:45.123Z\" or \"2026-01-12T12:30:45+02:00\"");
    }
    sample.timestamp_ms = *parsed;
  }

  out->service_id.assign(id);
  out->sample = sample;
  return std::nullopt;
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

std::optional<ApiError> ParseSampleBody(std::string_view body, int64_t now_ms,
                                        IncomingSample* out) {
  // A sample's values fit in a buffer on the stack: RapidJSON's default pool would allocate a
  // 64 KiB chunk for every request (and a larger body still gets chunks from the heap).
  char values[kSampleValueBytes];
  rapidjson::MemoryPoolAllocator<> allocator(values, sizeof values);
  rapidjson::Document document(&allocator);
  if (auto error = ParseJson(body, false, &document)) return error;
  if (!document.IsObject()) return Unprocessable("(body)", "the body must be a JSON object");
  return ReadSample(document, now_ms, out);
}

std::optional<ApiError> ParseBatchBody(std::string_view body, int64_t now_ms,
                                       std::vector<IncomingSample>* out) {
  rapidjson::Document document;
  if (auto error = ParseJson(body, true, &document)) return error;
  if (!document.IsArray()) return Unprocessable("(body)", "the body must be a JSON array");
  if (document.Empty()) return Unprocessable("(body)", "the batch is empty");
  std::vector<IncomingSample> samples(document.Size());
  for (SizeType i = 0; i < document.Size(); ++i) {
    const Value& item = document[i];
    std::optional<ApiError> error;
    if (!item.IsObject()) {
      error = Unprocessable("(item)", "the item must be a JSON object");
    } else {
      error = ReadSample(item, now_ms, &samples[i]);
    }
    if (error) {
      error->index = i;
      error->message = "item " + std::to_string(i) + ": " + error->message;
      return error;
    }
  }
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
  writer.Key("refused_samples");
  writer.Uint64(engine.refused_samples);
  writer.Key("refused_events");
  writer.Uint64(engine.refused_events);
  writer.Key("last_refusal");
  Text(writer, engine.last_refusal);
  writer.Key("refused_file");
  Text(writer, engine.refused_file);
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
