#include "api/otlp_decoder.h"

#include <google/protobuf/arena.h>
#include <otlp.pb.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>

namespace driftwatch::api {
namespace {

namespace pb = driftwatch::otlp;
using JsonValue = rapidjson::Value;

constexpr double kNanosPerMs = 1e6;
constexpr double kBytesPerKb = 1024;
constexpr int kCumulative = 2;  // AggregationTemporality
// Numbers arrive as text and are converted here (see api/sample_parser.cc for why); nesting is
// read iteratively, so no body can exhaust the stack.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseNumbersAsStringsFlag |
                                 rapidjson::kParseValidateEncodingFlag;

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t extra = 0;
    unsigned low = 0x80;
    unsigned high = 0xBF;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (next < (k == 1 ? low : 0x80) || next > (k == 1 ? high : 0xBF)) return false;
    }
    i += extra + 1;
  }
  return true;
}

bool AttributesValid(const google::protobuf::RepeatedPtrField<pb::KeyValue>& attributes) {
  return std::all_of(attributes.begin(), attributes.end(), [](const pb::KeyValue& attribute) {
    return IsValidUtf8(attribute.key()) && IsValidUtf8(attribute.value().string_value());
  });
}

const pb::AnyValue* Find(const google::protobuf::RepeatedPtrField<pb::KeyValue>& attributes,
                         std::string_view key) {
  for (const pb::KeyValue& attribute : attributes) {
    if (attribute.key() == key && attribute.has_value()) return &attribute.value();
  }
  return nullptr;
}

// docs/opentelemetry.md, Service names: every character outside the service id's alphabet becomes
// '_', and the id is cut at 128 characters. "" when the resource has no usable service.name.
std::string ServiceIdOf(const pb::Resource& resource, std::string* why) {
  const pb::AnyValue* name = Find(resource.attributes(), "service.name");
  if (name == nullptr || name->value_case() != pb::AnyValue::kStringValue) {
    *why = "the resource has no service.name";
    return {};
  }
  std::string id;
  for (size_t i = 0; i < name->string_value().size() && id.size() < kMaxServiceIdLength; ++i) {
    const char c = name->string_value()[i];
    const auto byte = static_cast<unsigned char>(c);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: its character is written
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == ':';
    id.push_back(allowed ? c : '_');
  }
  if (id.empty()) *why = "service.name is empty";
  return id;
}

// docs/opentelemetry.md, Endpoints: a span's or point's http.route, with every character outside
// printable ASCII made '_' and cut at 256 characters; "" (no endpoint) when there is none.
std::string EndpointOf(const google::protobuf::RepeatedPtrField<pb::KeyValue>& attributes) {
  const pb::AnyValue* route = Find(attributes, "http.route");
  std::string endpoint;
  if (route == nullptr || route->value_case() != pb::AnyValue::kStringValue) return endpoint;
  for (const char c : route->string_value()) {
    if (endpoint.size() == kMaxEndpointLength) break;
    if ((static_cast<unsigned char>(c) & 0xC0) == 0x80) continue;  // its character is written
    endpoint.push_back(c >= ' ' && c <= '~' ? c : '_');
  }
  return endpoint;
}

// Counts refusals, keeping the first reason for the message.
void Reject(OtlpBatch* out, const std::string& why) {
  if (out->rejected == 0) out->rejected_message = why;
  ++out->rejected;
}

// Checks a timestamp in nanoseconds and turns it into milliseconds; "" when it is fine.
std::string CheckTime(uint64_t nanos, const AcceptanceClock& clock, int64_t* ms) {
  if (nanos == 0) return "a timestamp of 0";
  *ms = static_cast<int64_t>(nanos / static_cast<uint64_t>(kNanosPerMs));
  if (*ms > clock.now_ms + clock.max_future_ms) {
    return "a timestamp more than ingest.max_future_seconds ahead of the server's clock";
  }
  return {};
}

void MapSpans(const pb::ExportTraceServiceRequest& request, const AcceptanceClock& clock,
              OtlpBatch* out) {
  for (const pb::ResourceSpans& resource_spans : request.resource_spans()) {
    std::string why;
    const std::string service_id = ServiceIdOf(resource_spans.resource(), &why);
    for (const pb::ScopeSpans& scope : resource_spans.scope_spans()) {
      for (const pb::Span& span : scope.spans()) {
        if (span.kind() != pb::Span::SPAN_KIND_SERVER) continue;  // only SERVER spans are samples
        if (service_id.empty()) {
          Reject(out, why);
          continue;
        }
        IncomingSample sample{service_id, {}};
        std::string fault =
            CheckTime(span.start_time_unix_nano(), clock, &sample.sample.timestamp_ms);
        if (fault.empty())
          fault = CheckTime(span.end_time_unix_nano(), clock, &sample.sample.timestamp_ms);
        if (fault.empty() && span.end_time_unix_nano() < span.start_time_unix_nano()) {
          fault = "a span that ends before it starts";
        }
        if (!fault.empty()) {
          Reject(out, fault);
          continue;
        }
        sample.sample.latency_ms =
            static_cast<double>(span.end_time_unix_nano() - span.start_time_unix_nano()) /
            kNanosPerMs;
        sample.sample.payload_kb = std::numeric_limits<double>::quiet_NaN();
        for (const std::string_view key :
             {"http.response.body.size", "http.response_content_length"}) {
          const pb::AnyValue* size = Find(span.attributes(), key);
          if (size == nullptr) continue;
          double bytes = -1;
          if (size->value_case() == pb::AnyValue::kIntValue)
            bytes = static_cast<double>(size->int_value());
          if (size->value_case() == pb::AnyValue::kDoubleValue) bytes = size->double_value();
          if (std::isfinite(bytes) && bytes >= 0) sample.sample.payload_kb = bytes / kBytesPerKb;
          break;
        }
        sample.endpoint = EndpointOf(span.attributes());
        out->samples.push_back(std::move(sample));
      }
    }
  }
}

// The series of a cumulative point: its service, metric and attributes (in a stable order).
std::string SeriesOf(const std::string& service_id, const pb::Metric& metric,
                     const pb::HistogramDataPoint& point) {
  std::vector<std::string> attributes;
  attributes.reserve(static_cast<size_t>(point.attributes_size()));
  for (const pb::KeyValue& attribute : point.attributes()) {
    attributes.push_back(attribute.SerializeAsString());
  }
  std::sort(attributes.begin(), attributes.end());
  std::string series = service_id + '\n' + metric.name();
  for (const std::string& attribute : attributes) series += '\n' + attribute;
  return series;
}

void MapMetrics(const pb::ExportMetricsServiceRequest& request, const AcceptanceClock& clock,
                const CumulativeTotals* totals, OtlpBatch* out) {
  for (const pb::ResourceMetrics& resource_metrics : request.resource_metrics()) {
    std::string why;
    const std::string service_id = ServiceIdOf(resource_metrics.resource(), &why);
    for (const pb::ScopeMetrics& scope : resource_metrics.scope_metrics()) {
      for (const pb::Metric& metric : scope.metrics()) {
        // Seconds by the current semantic conventions, milliseconds by the older ones; a unit
        // that says otherwise wins.
        double to_ms = 0;
        if (metric.name() == "http.server.request.duration") to_ms = 1000;
        if (metric.name() == "http.server.duration") to_ms = 1;
        if (to_ms == 0 || !metric.has_histogram()) continue;
        if (metric.unit() == "s") to_ms = 1000;
        if (metric.unit() == "ms") to_ms = 1;
        const bool cumulative = metric.histogram().aggregation_temporality() == kCumulative;
        for (const pb::HistogramDataPoint& point : metric.histogram().data_points()) {
          if (point.count() == 0) continue;  // no request in the interval: nothing to judge
          IncomingSample sample{service_id, {}};
          std::string fault = service_id.empty() ? why : "";
          if (fault.empty())
            fault = CheckTime(point.time_unix_nano(), clock, &sample.sample.timestamp_ms);
          if (fault.empty() &&
              (!point.has_sum() || !std::isfinite(point.sum()) || point.sum() < 0)) {
            fault = "a histogram point without a finite, non-negative sum";
          }
          if (!fault.empty()) {
            Reject(out, fault);
            continue;
          }
          uint64_t count = point.count();
          double sum = point.sum();
          if (cumulative) {
            CumulativePoint totals_now{SeriesOf(service_id, metric, point),
                                       point.start_time_unix_nano(), count, sum};
            if (totals != nullptr) totals->Increment(totals_now, &count, &sum);
            out->cumulative.push_back(std::move(totals_now));
            if (count == 0) continue;
          }
          sample.sample.latency_ms = std::max(0.0, sum / static_cast<double>(count) * to_ms);
          if (!std::isfinite(sample.sample.latency_ms)) {  // a sum near DBL_MAX, times 1000
            Reject(out, "a histogram point whose mean is beyond a finite number of milliseconds");
            continue;
          }
          sample.sample.payload_kb = std::numeric_limits<double>::quiet_NaN();
          sample.endpoint = EndpointOf(point.attributes());
          out->samples.push_back(std::move(sample));
        }
      }
    }
  }
}

// --- The OTLP JSON mapping, into the same messages ---------------------------------------------

// The JSON readers below fill a message from a RapidJSON value and return "" or what is wrong.
// Unknown members are skipped; null counts as absent, as in protobuf's JSON mapping.

const JsonValue* Member(const JsonValue& object, const char* name) {
  const auto found = object.FindMember(name);
  if (found == object.MemberEnd() || found->value.IsNull()) return nullptr;
  return &found->value;
}

// 64-bit integers come as strings (the OTLP rule) or as numbers (what some exporters send); with
// kParseNumbersAsStringsFlag both arrive as text.
bool ParseUint64(const JsonValue& value, uint64_t* out) {
  if (!value.IsString()) return false;
  const std::string_view text(value.GetString(), value.GetStringLength());
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (error == std::errc() && end == text.data() + text.size()) return true;
  // 1.5e18, as a number written in floating point: whole and in range only.
  const std::string copy(text);
  char* stop = nullptr;
  const double number = std::strtod(copy.c_str(), &stop);
  if (copy.empty() || stop != copy.c_str() + copy.size() || !std::isfinite(number) || number < 0 ||
      number >= 18446744073709551616.0 || std::floor(number) != number) {
    return false;
  }
  *out = static_cast<uint64_t>(number);
  return true;
}

bool ParseInt64(const JsonValue& value, int64_t* out) {
  if (!value.IsString()) return false;
  const std::string_view text(value.GetString(), value.GetStringLength());
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

bool ParseDouble(const JsonValue& value, double* out) {
  if (!value.IsString()) return false;
  const std::string text(value.GetString(), value.GetStringLength());
  if (text == "NaN" || text == "Infinity" || text == "-Infinity") {
    *out = text == "NaN" ? std::numeric_limits<double>::quiet_NaN()
                         : (text[0] == '-' ? -1 : 1) * std::numeric_limits<double>::infinity();
    return true;
  }
  char* stop = nullptr;
  *out = std::strtod(text.c_str(), &stop);
  return !text.empty() && stop == text.c_str() + text.size();
}

std::string ReadAttributes(const JsonValue* array,
                           google::protobuf::RepeatedPtrField<pb::KeyValue>* out) {
  if (array == nullptr) return {};
  if (!array->IsArray()) return "attributes is not an array";
  for (const JsonValue& item : array->GetArray()) {
    if (!item.IsObject()) return "an attribute is not an object";
    pb::KeyValue* attribute = out->Add();
    if (const JsonValue* key = Member(item, "key")) {
      if (!key->IsString()) return "an attribute's key is not a string";
      attribute->set_key(key->GetString(), key->GetStringLength());
    }
    const JsonValue* value = Member(item, "value");
    if (value == nullptr) continue;
    if (!value->IsObject()) return "an attribute's value is not an object";
    pb::AnyValue* any = attribute->mutable_value();
    if (const JsonValue* text = Member(*value, "stringValue")) {
      if (!text->IsString()) return "stringValue is not a string";
      any->set_string_value(text->GetString(), text->GetStringLength());
    } else if (const JsonValue* number = Member(*value, "intValue")) {
      int64_t parsed = 0;
      if (!ParseInt64(*number, &parsed)) return "intValue is not a 64-bit integer";
      any->set_int_value(parsed);
    } else if (const JsonValue* real = Member(*value, "doubleValue")) {
      double parsed = 0;
      if (!ParseDouble(*real, &parsed)) return "doubleValue is not a number";
      any->set_double_value(parsed);
    }  // boolValue, arrayValue, kvlistValue, bytesValue: read by no rule, so not kept
  }
  return {};
}

std::string ReadResource(const JsonValue& parent, pb::Resource* out) {
  const JsonValue* resource = Member(parent, "resource");
  if (resource == nullptr) return {};
  if (!resource->IsObject()) return "resource is not an object";
  return ReadAttributes(Member(*resource, "attributes"), out->mutable_attributes());
}

// Calls `read` for each object of the array `name` of `parent`.
template <typename Read>
std::string ForEachObject(const JsonValue& parent, const char* name, Read read) {
  const JsonValue* array = Member(parent, name);
  if (array == nullptr) return {};
  if (!array->IsArray()) return std::string(name) + " is not an array";
  for (const JsonValue& item : array->GetArray()) {
    if (!item.IsObject()) return std::string("an item of ") + name + " is not an object";
    if (std::string error = read(item); !error.empty()) return error;
  }
  return {};
}

std::string ReadUint64(const JsonValue& object, const char* name, uint64_t* out) {
  const JsonValue* value = Member(object, name);
  if (value == nullptr) return {};
  return ParseUint64(*value, out) ? "" : std::string(name) + " is not an unsigned 64-bit integer";
}

std::string ReadSpan(const JsonValue& json, pb::Span* span) {
  if (const JsonValue* kind = Member(json, "kind")) {
    uint64_t number = 0;
    const std::string_view name(kind->IsString() ? kind->GetString() : "");
    if (name.starts_with("SPAN_KIND_")) {  // an enum's name: only SERVER matters here
      number = name == "SPAN_KIND_SERVER" ? pb::Span::SPAN_KIND_SERVER : 0;
    } else if (!ParseUint64(*kind, &number) || number > std::numeric_limits<int32_t>::max()) {
      return "kind is not a span kind";
    }
    span->set_kind(static_cast<pb::Span_SpanKind>(number));  // open enum: any value is kept
  }
  uint64_t start = 0;
  uint64_t end = 0;
  std::string error = ReadUint64(json, "startTimeUnixNano", &start);
  if (error.empty()) error = ReadUint64(json, "endTimeUnixNano", &end);
  if (error.empty()) error = ReadAttributes(Member(json, "attributes"), span->mutable_attributes());
  span->set_start_time_unix_nano(start);
  span->set_end_time_unix_nano(end);
  return error;
}

std::string ReadTraces(const JsonValue& root, pb::ExportTraceServiceRequest* request) {
  return ForEachObject(root, "resourceSpans", [&](const JsonValue& json) {
    pb::ResourceSpans* resource_spans = request->add_resource_spans();
    if (std::string error = ReadResource(json, resource_spans->mutable_resource());
        !error.empty()) {
      return error;
    }
    return ForEachObject(json, "scopeSpans", [&](const JsonValue& scope_json) {
      pb::ScopeSpans* scope = resource_spans->add_scope_spans();
      return ForEachObject(scope_json, "spans", [&](const JsonValue& span_json) {
        return ReadSpan(span_json, scope->add_spans());
      });
    });
  });
}

std::string ReadPoint(const JsonValue& json, pb::HistogramDataPoint* point) {
  uint64_t start = 0;
  uint64_t time = 0;
  uint64_t count = 0;
  std::string error = ReadUint64(json, "startTimeUnixNano", &start);
  if (error.empty()) error = ReadUint64(json, "timeUnixNano", &time);
  if (error.empty()) error = ReadUint64(json, "count", &count);
  if (error.empty())
    error = ReadAttributes(Member(json, "attributes"), point->mutable_attributes());
  if (!error.empty()) return error;
  point->set_start_time_unix_nano(start);
  point->set_time_unix_nano(time);
  point->set_count(count);
  if (const JsonValue* sum = Member(json, "sum")) {
    double parsed = 0;
    if (!ParseDouble(*sum, &parsed)) return "sum is not a number";
    point->set_sum(parsed);
  }
  return {};
}

std::string ReadMetric(const JsonValue& json, pb::Metric* metric) {
  for (const auto& [name, field] :
       {std::pair{"name", metric->mutable_name()}, std::pair{"unit", metric->mutable_unit()}}) {
    if (const JsonValue* text = Member(json, name)) {
      if (!text->IsString()) return std::string(name) + " is not a string";
      field->assign(text->GetString(), text->GetStringLength());
    }
  }
  const JsonValue* histogram = Member(json, "histogram");
  if (histogram == nullptr) return {};
  if (!histogram->IsObject()) return "histogram is not an object";
  pb::Histogram* out = metric->mutable_histogram();
  if (const JsonValue* temporality = Member(*histogram, "aggregationTemporality")) {
    uint64_t number = 0;
    const std::string_view name(temporality->IsString() ? temporality->GetString() : "");
    if (name.starts_with("AGGREGATION_TEMPORALITY_")) {
      number = name == "AGGREGATION_TEMPORALITY_CUMULATIVE" ? kCumulative
               : name == "AGGREGATION_TEMPORALITY_DELTA"    ? 1
                                                            : 0;
    } else if (!ParseUint64(*temporality, &number) || number > 2) {
      return "aggregationTemporality is not a temporality";
    }
    out->set_aggregation_temporality(static_cast<int32_t>(number));
  }
  return ForEachObject(*histogram, "dataPoints", [&](const JsonValue& point) {
    return ReadPoint(point, out->add_data_points());
  });
}

std::string ReadMetrics(const JsonValue& root, pb::ExportMetricsServiceRequest* request) {
  return ForEachObject(root, "resourceMetrics", [&](const JsonValue& json) {
    pb::ResourceMetrics* resource_metrics = request->add_resource_metrics();
    if (std::string error = ReadResource(json, resource_metrics->mutable_resource());
        !error.empty()) {
      return error;
    }
    return ForEachObject(json, "scopeMetrics", [&](const JsonValue& scope_json) {
      pb::ScopeMetrics* scope = resource_metrics->add_scope_metrics();
      return ForEachObject(scope_json, "metrics", [&](const JsonValue& metric_json) {
        return ReadMetric(metric_json, scope->add_metrics());
      });
    });
  });
}

// Parses `body` into `request`, as protobuf or JSON; "" or what is wrong.
template <typename Request, typename ReadJson>
std::string Parse(std::string_view body, OtlpEncoding encoding, Request* request,
                  ReadJson read_json) {
  if (encoding == OtlpEncoding::kProtobuf) {
    if (body.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
        !request->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return "the body is not a valid protobuf message";
    }
    return {};
  }
  rapidjson::Document document;
  document.Parse<kParseFlags>(body.data(), body.size());
  if (document.HasParseError()) return "the body is not valid JSON";
  if (!document.IsObject()) return "the body is not a JSON object";
  return read_json(document, request);
}

std::string JsonText(const rapidjson::StringBuffer& buffer) {
  return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace

void CumulativeTotals::Increment(const CumulativePoint& point, uint64_t* count, double* sum) const {
  const std::lock_guard lock(mutex_);
  const auto found = series_.find(point.series);
  if (found == series_.end() || found->second.start_ns != point.start_ns ||
      found->second.count > point.count) {
    return;  // new or restarted: the whole point
  }
  *count = point.count - found->second.count;
  *sum = point.sum - found->second.sum;
}

void CumulativeTotals::Apply(const std::vector<CumulativePoint>& points) {
  const std::lock_guard lock(mutex_);
  for (const CumulativePoint& point : points) {
    auto found = series_.find(point.series);
    if (found == series_.end()) {
      if (series_.size() >= kMaxSeries) continue;
      found = series_.emplace(point.series, Totals{}).first;
    }
    found->second = {point.start_ns, point.count, point.sum};
  }
}

bool DecodeOtlp(std::string_view body, OtlpSignal signal, OtlpEncoding encoding,
                const AcceptanceClock& clock, const CumulativeTotals* totals, OtlpBatch* out,
                std::string* error) {
  google::protobuf::Arena arena;
  if (signal == OtlpSignal::kTraces) {
    auto* request = google::protobuf::Arena::CreateMessage<pb::ExportTraceServiceRequest>(&arena);
    *error = Parse(body, encoding, request, ReadTraces);
    for (const pb::ResourceSpans& resource_spans : request->resource_spans()) {
      bool valid = AttributesValid(resource_spans.resource().attributes());
      for (const pb::ScopeSpans& scope : resource_spans.scope_spans()) {
        for (const pb::Span& span : scope.spans())
          valid = valid && AttributesValid(span.attributes());
      }
      if (error->empty() && !valid) *error = "an attribute is not valid UTF-8";
    }
    if (!error->empty()) return false;
    MapSpans(*request, clock, out);
    return true;
  }
  auto* request = google::protobuf::Arena::CreateMessage<pb::ExportMetricsServiceRequest>(&arena);
  *error = Parse(body, encoding, request, ReadMetrics);
  for (const pb::ResourceMetrics& resource_metrics : request->resource_metrics()) {
    bool valid = AttributesValid(resource_metrics.resource().attributes());
    for (const pb::ScopeMetrics& scope : resource_metrics.scope_metrics()) {
      for (const pb::Metric& metric : scope.metrics()) {
        valid = valid && IsValidUtf8(metric.name());
        for (const pb::HistogramDataPoint& point : metric.histogram().data_points()) {
          valid = valid && AttributesValid(point.attributes());
        }
      }
    }
    if (error->empty() && !valid) *error = "an attribute or metric name is not valid UTF-8";
  }
  if (!error->empty()) return false;
  MapMetrics(*request, clock, totals, out);
  return true;
}

std::string OtlpResponse(OtlpSignal signal, OtlpEncoding encoding, uint64_t rejected,
                         std::string_view message) {
  const bool traces = signal == OtlpSignal::kTraces;
  if (encoding == OtlpEncoding::kProtobuf) {
    if (traces) {
      pb::ExportTraceServiceResponse response;
      if (rejected > 0) {
        response.mutable_partial_success()->set_rejected_spans(static_cast<int64_t>(rejected));
        response.mutable_partial_success()->set_error_message(std::string(message));
      }
      return response.SerializeAsString();
    }
    pb::ExportMetricsServiceResponse response;
    if (rejected > 0) {
      response.mutable_partial_success()->set_rejected_data_points(static_cast<int64_t>(rejected));
      response.mutable_partial_success()->set_error_message(std::string(message));
    }
    return response.SerializeAsString();
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  if (rejected > 0) {
    writer.Key("partialSuccess");
    writer.StartObject();
    writer.Key(traces ? "rejectedSpans" : "rejectedDataPoints");
    writer.String(std::to_string(rejected).c_str());  // int64 as a string (OTLP JSON)
    writer.Key("errorMessage");
    writer.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
    writer.EndObject();
  }
  writer.EndObject();
  return JsonText(buffer);
}

std::string OtlpStatus(OtlpEncoding encoding, int grpc_code, std::string_view message,
                       std::string_view api_code) {
  if (encoding == OtlpEncoding::kProtobuf) {
    pb::Status status;
    status.set_code(grpc_code);
    status.set_message(std::string(message));
    return status.SerializeAsString();
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("code");
  writer.Int(grpc_code);
  writer.Key("message");
  writer.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  writer.Key("error");
  writer.String(api_code.data(), static_cast<rapidjson::SizeType>(api_code.size()));
  writer.EndObject();
  return JsonText(buffer);
}

InflateResult Gunzip(std::string_view compressed, size_t limit, std::string* out) {
  out->clear();
  z_stream stream{};
  constexpr int kGzipOnly = 16 + MAX_WBITS;
  if (inflateInit2(&stream, kGzipOnly) != Z_OK) return InflateResult::kMalformed;
  // zlib's interface takes non-const input it never writes.
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  constexpr size_t kChunk = 64 * 1024;
  InflateResult result = InflateResult::kMalformed;
  for (;;) {
    const size_t room = std::min(kChunk, limit + 1 - out->size());  // +1: to see an excess
    const size_t before = out->size();
    out->resize(before + room);
    stream.next_out = reinterpret_cast<Bytef*>(out->data() + before);
    stream.avail_out = static_cast<uInt>(room);
    const int status = inflate(&stream, Z_NO_FLUSH);
    out->resize(before + room - stream.avail_out);
    if (out->size() > limit) {
      result = InflateResult::kTooLarge;
      break;
    }
    if (status == Z_STREAM_END) {
      if (stream.avail_in == 0) {
        result = InflateResult::kOk;
        break;
      }
      if (inflateReset(&stream) != Z_OK) break;  // another gzip member follows
      continue;
    }
    if (status != Z_OK && status != Z_BUF_ERROR) break;
    if (status == Z_BUF_ERROR && stream.avail_in == 0) break;  // truncated
  }
  inflateEnd(&stream);
  if (result != InflateResult::kOk) out->clear();
  return result;
}

}  // namespace driftwatch::api
