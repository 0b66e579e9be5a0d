#include "notify/formats.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <string_view>

namespace driftwatch::notify {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// The member `name` of an object, or nullptr. (Through a const Value: RapidJSON's mutable member
// iterators compare ambiguously in C++20.)
const rapidjson::Value* Find(const rapidjson::Value& object, const char* name) {
  auto found = object.FindMember(name);
  return found == object.MemberEnd() ? nullptr : &found->value;
}

std::string Member(const rapidjson::Value& object, const char* name) {
  const rapidjson::Value* value = Find(object, name);
  if (value == nullptr || !value->IsString()) return "";
  return {value->GetString(), value->GetStringLength()};
}

std::string JsonOf(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

void Text(Writer& writer, const std::string& text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void Raw(Writer& writer, const std::string& json) {
  writer.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

std::string Number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

// "zscore_severe fired (consecutive_severe_anomalies): max_zscore 14.2, consecutive_count 5;
// baseline mean 152.3 ms, p95 190.1 ms".
std::string Description(const TransitionNotice& t) {
  std::string text =
      (t.detector.empty() ? t.reason : t.detector + " fired") + " (" + t.reason + ")";
  rapidjson::Document metadata;
  metadata.Parse(t.metadata_json.data(), t.metadata_json.size());
  std::string fields;
  const rapidjson::Value& object = metadata;
  if (object.IsObject()) {
    for (const auto& member : object.GetObject()) {
      if (!member.value.IsNumber()) continue;
      if (!fields.empty()) fields += ", ";
      fields += std::string(member.name.GetString()) + " " +
                (member.value.IsInt64() ? std::to_string(member.value.GetInt64())
                                        : Number(member.value.GetDouble()));
    }
  }
  if (!fields.empty()) text += ": " + fields;
  if (t.has_baseline) {
    text +=
        "; baseline mean " + Number(t.mean_latency) + " ms, p95 " + Number(t.p95_latency) + " ms";
  }
  return text;
}

// "checkout", or "checkout GET /api/orders/{id}" for an endpoint series.
std::string SeriesOf(const TransitionNotice& t) {
  return t.endpoint.empty() ? t.service_id : t.service_id + " " + t.endpoint;
}

std::string Summary(const TransitionNotice& t) {
  const std::string series = SeriesOf(t);
  if (t.drift) return series + ": latency drift detected (" + t.reason + ")";
  if (t.ends_drift) {
    return series +
           (t.reason == "reset" ? ": baseline reset, drift closed" : ": recovered from drift");
  }
  return series + ": " + t.from + " -> " + t.to + " (" + t.reason + ")";
}

// The alert's labels: those of the drift, also when it ends.
void Labels(Writer& writer, const TransitionNotice& t) {
  writer.Key("labels");
  writer.StartObject();
  writer.Key("alertname");
  writer.String("DriftWatchDrift");
  writer.Key("service_id");
  Text(writer, t.service_id);
  if (!t.endpoint.empty()) {
    writer.Key("endpoint");
    Text(writer, t.endpoint);
  }
  writer.Key("detector");
  Text(writer, t.ends_drift ? t.drift_detector : t.detector);
  writer.Key("reason");
  Text(writer, t.ends_drift ? t.drift_reason : t.reason);
  writer.Key("severity");
  writer.String("warning");
  writer.EndObject();
}

std::string Alert(const TransitionNotice& t) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  Labels(writer, t);
  writer.Key("annotations");
  writer.StartObject();
  writer.Key("summary");
  Text(writer, Summary(t));
  writer.Key("description");
  Text(writer, t.ends_drift ? Summary(t) + " at " + t.timestamp : Description(t));
  writer.EndObject();
  writer.Key("startsAt");
  Text(writer, t.ends_drift ? t.drift_timestamp : t.timestamp);
  if (t.ends_drift) {
    writer.Key("endsAt");
    Text(writer, t.timestamp);
  }
  if (!t.url.empty()) {
    writer.Key("generatorURL");
    Text(writer, t.url);
  }
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

// Text as Slack shows it, not as markup: its mrkdwn reads '&', '<' and '>' as control characters
// (a "<!channel>" in an endpoint would page a whole channel).
std::string SlackText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

PostRequest Slack(const NotifyTarget& target, const TransitionNotice& t) {
  const std::string headline =
      (t.drift ? ":rotating_light: "
               : (t.ends_drift ? ":white_check_mark: " : ":information_source: ")) +
      SlackText(Summary(t));
  std::string detail = SlackText(t.from + " \u2192 " + t.to + " at " + t.timestamp);
  if (t.drift) detail += "\n" + SlackText(Description(t));
  if (!t.url.empty()) detail += "\n<" + t.url + "|Open in DriftWatch>";
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  writer.Key("text");
  Text(writer, headline);
  writer.Key("blocks");
  writer.StartArray();
  writer.StartObject();
  writer.Key("type");
  writer.String("section");
  writer.Key("text");
  writer.StartObject();
  writer.Key("type");
  writer.String("mrkdwn");
  writer.Key("text");
  Text(writer, "*" + headline + "*\n" + detail);
  writer.EndObject();
  writer.EndObject();
  writer.StartObject();
  writer.Key("type");
  writer.String("context");
  writer.Key("elements");
  writer.StartArray();
  writer.StartObject();
  writer.Key("type");
  writer.String("mrkdwn");
  writer.Key("text");
  Text(writer, "DriftWatch \u00b7 service " + SlackText(SeriesOf(t)) + " \u00b7 incident " +
                   SlackText(t.incident_key));
  writer.EndObject();
  writer.EndArray();
  writer.EndObject();
  writer.EndArray();
  writer.EndObject();
  return {target.url, {}, {buffer.GetString(), buffer.GetSize()}};
}

PostRequest PagerDuty(const NotifyTarget& target, const TransitionNotice& t) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  writer.Key("routing_key");
  Text(writer, target.routing_key);
  writer.Key("event_action");
  writer.String(t.ends_drift ? "resolve" : "trigger");
  writer.Key("dedup_key");
  Text(writer, t.incident_key);
  writer.Key("payload");
  writer.StartObject();
  writer.Key("summary");
  Text(writer, Summary(t));
  writer.Key("source");
  Text(writer, t.service_id);
  writer.Key("severity");
  writer.String("warning");
  writer.Key("timestamp");
  Text(writer, t.timestamp);
  writer.Key("component");
  writer.String("driftwatch");
  writer.Key("custom_details");
  writer.StartObject();
  if (!t.endpoint.empty()) {
    writer.Key("endpoint");
    Text(writer, t.endpoint);
  }
  writer.Key("from");
  Text(writer, t.from);
  writer.Key("to");
  Text(writer, t.to);
  writer.Key("reason");
  Text(writer, t.reason);
  writer.Key("metadata");
  Raw(writer, t.metadata_json);
  writer.Key("baseline");
  Raw(writer, t.baseline_json);
  writer.EndObject();
  writer.EndObject();
  if (!t.url.empty()) {
    writer.Key("links");
    writer.StartArray();
    writer.StartObject();
    writer.Key("href");
    Text(writer, t.url);
    writer.Key("text");
    writer.String("Open in DriftWatch");
    writer.EndObject();
    writer.EndArray();
  }
  writer.EndObject();
  return {target.url, {}, {buffer.GetString(), buffer.GetSize()}};
}

}  // namespace

Status ParseTransition(const std::string& body, TransitionNotice* out) {
  rapidjson::Document parsed;
  parsed.Parse<rapidjson::kParseFullPrecisionFlag>(body.data(), body.size());
  if (parsed.HasParseError() || !parsed.IsObject()) {
    return Status::Corrupt("a stored notification body is not a JSON object");
  }
  TransitionNotice t;
  t.id = Member(parsed, "id");
  t.incident_key = Member(parsed, "incident_key");
  t.service_id = Member(parsed, "service_id");
  t.endpoint = Member(parsed, "endpoint");
  t.from = Member(parsed, "from");
  t.to = Member(parsed, "to");
  t.reason = Member(parsed, "reason");
  t.timestamp = Member(parsed, "transition_timestamp");
  t.url = Member(parsed, "url");
  t.metadata_json = "{}";
  const rapidjson::Value& root = parsed;
  if (const rapidjson::Value* metadata = Find(root, "metadata");
      metadata != nullptr && metadata->IsObject()) {
    t.metadata_json = JsonOf(*metadata);
    t.detector = Member(*metadata, "detector");
  }
  t.baseline_json = "null";
  if (const rapidjson::Value* baseline = Find(root, "baseline");
      baseline != nullptr && baseline->IsObject()) {
    t.baseline_json = JsonOf(*baseline);
    const rapidjson::Value* mean = Find(*baseline, "mean_latency");
    const rapidjson::Value* p95 = Find(*baseline, "p95_latency");
    if (mean != nullptr && mean->IsNumber() && p95 != nullptr && p95->IsNumber()) {
      t.has_baseline = true;
      t.mean_latency = mean->GetDouble();
      t.p95_latency = p95->GetDouble();
    }
  }
  t.drift = t.to == "DRIFT_DETECTED";
  if (const rapidjson::Value* drift = Find(root, "drift"); drift != nullptr && drift->IsObject()) {
    t.ends_drift = true;
    t.drift_reason = Member(*drift, "reason");
    t.drift_detector = Member(*drift, "detector");
    t.drift_timestamp = Member(*drift, "transition_timestamp");
    parsed.RemoveMember("drift");
  }
  if (t.id.empty() || t.service_id.empty() || t.timestamp.empty()) {
    return Status::Corrupt("a stored notification body lacks its id, service or timestamp");
  }
  t.webhook_body = JsonOf(parsed);
  *out = std::move(t);
  return Status::Ok();
}

std::string FiringAlert(const TransitionNotice& drift) { return Alert(drift); }

PostRequest AlertmanagerRequest(const NotifyTarget& target,
                                const std::vector<std::string>& alerts) {
  std::string body = "[";
  for (size_t i = 0; i < alerts.size(); ++i) body += (i > 0 ? "," : "") + alerts[i];
  body += "]";
  std::string url = target.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return {url + "/api/v2/alerts", {}, std::move(body)};
}

PostRequest RenderRequest(const NotifyTarget& target, const TransitionNotice& transition) {
  if (target.type == "alertmanager") return AlertmanagerRequest(target, {Alert(transition)});
  if (target.type == "slack") return Slack(target, transition);
  if (target.type == "pagerduty") return PagerDuty(target, transition);
  PostRequest request{target.url, target.headers, transition.webhook_body};
  request.headers.emplace_back("Idempotency-Key", transition.id);
  if (!target.secret.empty()) {
    request.headers.emplace_back("X-DriftWatch-Signature", Signature(target.secret, request.body));
  }
  return request;
}

std::string Signature(const std::string& secret, const std::string& body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    text += kHex[digest[i] >> 4];
    text += kHex[digest[i] & 0xf];
  }
  return text;
}

}  // namespace driftwatch::notify
