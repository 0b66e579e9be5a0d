#include "simulator/driftwatch_api.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <thread>

#include "core/timestamp.h"

namespace driftwatch::sim {

using http::HttpResponse;

namespace {

constexpr size_t kMaxErrorBodyChars = 300;

std::string Excerpt(const std::string& body) {
  if (body.size() <= kMaxErrorBodyChars) return body;
  return body.substr(0, kMaxErrorBodyChars) + "...";
}

Status UnexpectedAnswer(std::string_view request, const HttpResponse& response) {
  std::string message = std::string(request) + " answered " + std::to_string(response.status);
  if (!response.body.empty()) message += ": " + Excerpt(response.body);
  return Status::Error(message);
}

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

std::string StringMember(const rapidjson::Value& object, const char* name) {
  const auto member = object.FindMember(name);
  if (member == object.MemberEnd() || !member->value.IsString()) return "";
  return member->value.GetString();
}

std::optional<int64_t> IntegerMember(const rapidjson::Value& object, const char* name) {
  const auto member = object.FindMember(name);
  if (member == object.MemberEnd() || !member->value.IsNumber()) return std::nullopt;
  if (member->value.IsInt64()) return member->value.GetInt64();
  return std::llround(member->value.GetDouble());
}

std::string ObjectMemberJson(const rapidjson::Value& object, const char* name) {
  const auto member = object.FindMember(name);
  if (member == object.MemberEnd() || !member->value.IsObject()) return "{}";
  return ToJson(member->value);
}

Status ParseObject(std::string_view request, const HttpResponse& response,
                   rapidjson::Document* document) {
  document->Parse<rapidjson::kParseFullPrecisionFlag>(response.body.data(), response.body.size());
  if (document->HasParseError() || !document->IsObject()) {
    return Status::Error(std::string(request) + " answered with something that is not a JSON " +
                         "object: " + Excerpt(response.body));
  }
  return Status::Ok();
}

void WriteSample(rapidjson::Writer<rapidjson::StringBuffer>& writer, const std::string& service_id,
                 const Telemetry& sample) {
  writer.StartObject();
  writer.Key("service_id");
  writer.String(service_id.c_str(), static_cast<rapidjson::SizeType>(service_id.size()));
  writer.Key("latency_ms");
  writer.Double(sample.latency_ms);
  writer.Key("payload_kb");
  writer.Double(sample.payload_kb);
  writer.Key("timestamp");
  const std::string timestamp = FormatTimestamp(sample.timestamp_ms);
  writer.String(timestamp.c_str(), static_cast<rapidjson::SizeType>(timestamp.size()));
  writer.EndObject();
}

}  // namespace

void RealSleep(std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); }

std::string TelemetryJson(const std::string& service_id, std::span<const Telemetry> samples,
                          bool as_array) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  if (as_array) writer.StartArray();
  for (const Telemetry& sample : samples) WriteSample(writer, service_id, sample);
  if (as_array) writer.EndArray();
  return buffer.GetString();
}

std::chrono::milliseconds RetryAfter(const HttpResponse& response) {
  const std::optional<std::string> text = response.Header("retry-after");
  int64_t seconds = 0;
  if (!text ||
      std::from_chars(text->data(), text->data() + text->size(), seconds).ec != std::errc() ||
      seconds < 0) {
    return DriftWatchApi::kDefaultRetryAfter;
  }
  return std::min<std::chrono::milliseconds>(std::chrono::seconds(seconds),
                                             DriftWatchApi::kMaxRetryAfter);
}

DriftWatchApi::DriftWatchApi(http::HttpClient* http, std::string service_id, Sleeper sleeper)
    : http_(http), service_id_(std::move(service_id)), sleeper_(std::move(sleeper)) {}

Status DriftWatchApi::Send(std::span<const Telemetry> samples) {
  if (samples.empty()) return Status::Ok();
  const bool batch = samples.size() > 1;
  const std::string path = batch ? "/v1/telemetry/batch" : "/v1/telemetry";
  const std::string request = "POST " + path;
  const std::string body = TelemetryJson(service_id_, samples, batch);
  for (int overloads = 0;; ++overloads) {
    HttpResponse response;
    if (Status sent = http_->Request("POST", path, body, &response); !sent.ok()) return sent;
    if (response.status == 202) return Status::Ok();
    if (response.status == 429) {
      return Status::Error(request + " answered 429: the server monitors as many services as " +
                           "it allows; " + Excerpt(response.body));
    }
    if (response.status != 503) return UnexpectedAnswer(request, response);
    ++overload_answers_;
    if (overloads == kMaxOverloadRetries) {
      return Status::Error(request + " answered 503 (overloaded) " + std::to_string(overloads + 1) +
                           " times in a row; giving up");
    }
    // Not accepted, so not counted: wait as asked, then send the same samples again, in order.
    sleeper_(RetryAfter(response));
    resent_samples_ += static_cast<int64_t>(samples.size());
    if (batch) {
      // In halves: a batch larger than the server's whole queue would never be accepted.
      const size_t half = samples.size() / 2;
      if (Status first = Send(samples.first(half)); !first.ok()) return first;
      return Send(samples.subspan(half));
    }
  }
}

Status DriftWatchApi::GetHealth(Health* health) {
  const std::string path = "/v1/health/" + service_id_;
  HttpResponse response;
  if (Status got = http_->Request("GET", path, "", &response); !got.ok()) return got;
  if (response.status == 404) {
    *health = Health{};
    return Status::Ok();
  }
  if (response.status != 200) return UnexpectedAnswer("GET " + path, response);
  rapidjson::Document document;
  if (Status parsed = ParseObject("GET " + path, response, &document); !parsed.ok()) return parsed;
  Health result;
  result.known = true;
  result.state = StringMember(document, "state");
  result.sample_count = IntegerMember(document, "sample_count").value_or(0);
  result.transition_timestamp = StringMember(document, "transition_timestamp");
  result.metadata_json = ObjectMemberJson(document, "metadata");
  if (result.state.empty()) {
    return Status::Error("GET " + path + " answered without a state: " + Excerpt(response.body));
  }
  *health = std::move(result);
  return Status::Ok();
}

Status DriftWatchApi::GetEvents(int limit, std::vector<DriftEvent>* events) {
  const std::string path = "/v1/events/" + service_id_ + "?limit=" + std::to_string(limit);
  HttpResponse response;
  if (Status got = http_->Request("GET", path, "", &response); !got.ok()) return got;
  events->clear();
  if (response.status == 404) return Status::Ok();
  if (response.status != 200) return UnexpectedAnswer("GET " + path, response);
  rapidjson::Document document;
  if (Status parsed = ParseObject("GET " + path, response, &document); !parsed.ok()) return parsed;
  const auto list = document.FindMember("events");
  if (!document.HasMember("events") || !list->value.IsArray()) {
    return Status::Error("GET " + path +
                         " answered without an events array: " + Excerpt(response.body));
  }
  for (const rapidjson::Value& item : list->value.GetArray()) {
    if (!item.IsObject()) continue;
    DriftEvent event;
    event.from_state = StringMember(item, "from_state");
    event.to_state = StringMember(item, "to_state");
    event.reason = StringMember(item, "reason");
    event.timestamp = StringMember(item, "timestamp");
    event.sample_seq = IntegerMember(item, "sample_seq");
    event.metadata_json = ObjectMemberJson(item, "metadata");
    events->push_back(std::move(event));
  }
  return Status::Ok();
}

}  // namespace driftwatch::sim
