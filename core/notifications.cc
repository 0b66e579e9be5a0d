#include "core/notifications.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

#include "core/json_writing.h"
#include "core/series_key.h"
#include "core/timestamp.h"

namespace driftwatch {
namespace {

constexpr const char* kDrift = "DRIFT_DETECTED";

// The name in `notify.on` that selects the event (docs/configuration.md, "notify").
const char* KindOf(const StoredEvent& event) {
  if (event.reason == "reset") return "reset";
  if (event.to_state == kDrift) return "drift_detected";
  if (event.from_state == kDrift) return "recovered";
  if (event.from_state == "INSUFFICIENT_DATA" && event.to_state == "STABLE") {
    return "baseline_established";
  }
  return "";
}

// The detector named in an event's metadata ("" when none).
std::string DetectorOf(const std::string& metadata_json) {
  rapidjson::Document parsed;
  parsed.Parse(metadata_json.data(), metadata_json.size());
  if (parsed.HasParseError() || !parsed.IsObject()) return "";
  const rapidjson::Value& object = parsed;  // RapidJSON's mutable iterators compare ambiguously
  auto detector = object.FindMember("detector");
  if (detector == object.MemberEnd() || !detector->value.IsString()) return "";
  return detector->value.GetString();
}

void WriteBaseline(json::Writer& writer, const Baseline& baseline) {
  if (!baseline.valid) {
    writer.Null();
    return;
  }
  writer.StartObject();
  const std::pair<const char*, double> latency[] = {{"mean_latency", baseline.mean_latency},
                                                    {"stddev_latency", baseline.stddev_latency},
                                                    {"p50_latency", baseline.p50_latency},
                                                    {"p95_latency", baseline.p95_latency},
                                                    {"p99_latency", baseline.p99_latency}};
  for (const auto& [key, value] : latency) {
    writer.Key(key);
    json::Number(writer, value);
  }
  writer.Key("sample_count");
  writer.Uint(baseline.sample_count);
  writer.EndObject();
}

}  // namespace

std::string EventId(const StoredEvent& event) {
  if (event.reason == "reset") {
    return std::to_string(event.seq) + "-reset-" + std::to_string(event.timestamp_ms);
  }
  return std::to_string(event.seq);
}

// RFC 3986 percent-encoding of everything but the unreserved characters (as JavaScript's
// encodeURIComponent, which the dashboard decodes with).
std::string PercentEncoded(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xF]);
    }
  }
  return out;
}

std::string IncidentKey(const std::string& service_id, const std::string& drift_event_id) {
  std::string key = "driftwatch/" + service_id + "/" + drift_event_id;
  if (key.size() <= kMaxIncidentKeyLength) return key;
  // PagerDuty refuses longer dedup keys (a long endpoint series key): the series key is cut and
  // followed by a hash of all of it, so the key stays the same for the drift and what ends it.
  uint64_t hash = 14695981039346656037ULL;  // FNV-1a, 64 bits
  for (const char c : service_id) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  char suffix[18];
  std::snprintf(suffix, sizeof suffix, "~%016llx", static_cast<unsigned long long>(hash));
  const size_t fixed = std::strlen("driftwatch/") + std::strlen(suffix) + 1 + drift_event_id.size();
  key = "driftwatch/";
  key.append(service_id, 0, kMaxIncidentKeyLength - std::min(fixed, kMaxIncidentKeyLength));
  key.append(suffix).append("/").append(drift_event_id);
  return key;
}

NotificationPlanner::NotificationPlanner(const NotifyConfig& config) : config_(config) {}

bool NotificationPlanner::Wanted(const StoredEvent& event, const StoredEvent* ended_drift) const {
  const auto listed = [this](std::string_view kind) {
    return std::find(config_.on.begin(), config_.on.end(), kind) != config_.on.end();
  };
  // A reset that ends a drift closes the incident wherever the drift was told, even when resets
  // are not listed: an alert or a page must not stay open forever.
  if (ended_drift != nullptr && listed("drift_detected")) return true;
  return listed(KindOf(event));
}

void NotificationPlanner::Plan(const StoredEvent& event, const StoredEvent* ended_drift,
                               const Baseline& baseline, int64_t now_ms,
                               std::vector<StoredNotification>* out) const {
  if (!enabled() || !Wanted(event, ended_drift)) return;
  const std::string event_id = EventId(event);
  const std::string id = event.service_id + "/" + event_id;
  rapidjson::StringBuffer buffer;
  json::Writer writer(buffer);
  writer.StartObject();
  writer.Key("version");
  writer.String("1");
  writer.Key("id");
  json::Text(writer, id);
  writer.Key("incident_key");
  json::Text(writer, IncidentKey(event.service_id,
                                 ended_drift != nullptr ? EventId(*ended_drift) : event_id));
  json::SeriesFields(writer, event.service_id);
  writer.Key("from");
  json::Text(writer, event.from_state);
  writer.Key("to");
  json::Text(writer, event.to_state);
  writer.Key("reason");
  json::Text(writer, event.reason);
  writer.Key("metadata");
  json::Metadata(writer, event.metadata_json);
  writer.Key("transition_timestamp");
  json::Text(writer, FormatTimestamp(event.timestamp_ms));
  writer.Key("baseline");
  WriteBaseline(writer, baseline);
  writer.Key("url");
  if (config_.public_url.empty()) {
    writer.Null();
  } else {
    // The dashboard's page of the series (ui/app.js routes).
    const SeriesName series = SplitSeriesKey(event.service_id);
    std::string page = config_.public_url + "/ui/#/service/" + PercentEncoded(series.service_id);
    if (!series.endpoint.empty()) {
      page.push_back('/');  // not "/" + ...: GCC 12's -O3 -Wrestrict false positive
      page += PercentEncoded(series.endpoint);
    }
    json::Text(writer, page);
  }
  if (ended_drift != nullptr) {  // what the end of an alert repeats (the sender's, not sent as is)
    writer.Key("drift");
    writer.StartObject();
    writer.Key("id");
    json::Text(writer, event.service_id + "/" + EventId(*ended_drift));
    writer.Key("reason");
    json::Text(writer, ended_drift->reason);
    writer.Key("detector");
    json::Text(writer, DetectorOf(ended_drift->metadata_json));
    writer.Key("transition_timestamp");
    json::Text(writer, FormatTimestamp(ended_drift->timestamp_ms));
    writer.EndObject();
  }
  writer.EndObject();
  const std::string body(buffer.GetString(), buffer.GetSize());
  const bool incident = event.to_state == kDrift || ended_drift != nullptr;
  for (const NotifyTarget& target : config_.targets) {
    // Alertmanager and PagerDuty deal in incidents: a drift and what ends it, nothing else.
    if (!incident && (target.type == "alertmanager" || target.type == "pagerduty")) continue;
    StoredNotification row;
    row.id = id;
    row.target = target.name;
    row.service_id = event.service_id;
    row.body = body;
    row.created_ms = now_ms;
    row.updated_ms = now_ms;
    out->push_back(std::move(row));
  }
}

}  // namespace driftwatch
