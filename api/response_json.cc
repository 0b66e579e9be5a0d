#include "api/response_json.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_writing.h"
#include "core/series_key.h"
#include "core/timestamp.h"

namespace driftwatch::api {
namespace {

using json::Metadata;
using json::Number;
using json::SeriesFields;
using json::Text;

using rapidjson::SizeType;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr double kBytesPerMegabyte = 1024.0 * 1024.0;

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

void Timestamp(JsonWriter& writer, int64_t epoch_ms) { Text(writer, FormatTimestamp(epoch_ms)); }

void OptionalTimestamp(JsonWriter& writer, const std::optional<int64_t>& epoch_ms) {
  if (epoch_ms) {
    Timestamp(writer, *epoch_ms);
  } else {
    writer.Null();
  }
}

void TransitionTimestamp(JsonWriter& writer, const ServiceHealth& health) {
  OptionalTimestamp(writer, health.transition_timestamp_ms);
}

std::string Finish(const rapidjson::StringBuffer& buffer) {
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

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
  if (!sample.endpoint.empty()) {
    writer.Key("endpoint");
    Text(writer, sample.endpoint);
  }
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
  SeriesFields(writer, health.service_id);
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
  SeriesFields(writer, health.service_id);
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

std::string ForgottenJson(const std::string& service_id) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("status");
  writer.String("forgotten");
  SeriesFields(writer, service_id);
  writer.EndObject();
  return Finish(buffer);
}

std::string ResetJson(const std::string& service_id) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("status");
  writer.String("reset");
  SeriesFields(writer, service_id);
  writer.Key("state");
  writer.String(ServiceStateName(ServiceState::kInsufficientData));
  writer.EndObject();
  return Finish(buffer);
}

std::string EventsJson(const std::string& service_id, const std::vector<StoredEvent>& events) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  SeriesFields(writer, service_id);
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

std::string TelemetryJson(const std::string& service_id, const std::vector<StoredSample>& samples,
                          std::optional<uint64_t> next_after_seq) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  SeriesFields(writer, service_id);
  writer.Key("samples");
  writer.StartArray();
  for (const StoredSample& sample : samples) {
    writer.StartObject();
    writer.Key("seq");
    writer.Uint64(sample.seq);
    writer.Key("timestamp");
    Timestamp(writer, sample.timestamp_ms);
    writer.Key("latency_ms");
    Number(writer, sample.latency_ms);
    writer.Key("payload_kb");
    if (std::isnan(sample.payload_kb)) {
      writer.Null();
    } else {
      Number(writer, sample.payload_kb);
    }
    writer.EndObject();
  }
  writer.EndArray();
  writer.Key("next_after_seq");
  if (next_after_seq) {
    writer.Uint64(*next_after_seq);
  } else {
    writer.Null();
  }
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
    SeriesFields(writer, health.service_id);
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
    // MiB with two decimals (docs/api.md, GET /v1/system/status); the exact size is in
    // database_size_bytes.
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
  writer.Key("notifications");
  writer.StartObject();
  writer.Key("targets");
  writer.StartArray();
  for (const notify::TargetStatus& target : status.notification_targets) {
    writer.StartObject();
    writer.Key("name");
    Text(writer, target.name);
    writer.Key("type");
    Text(writer, target.type);
    writer.Key("pending");
    writer.Uint64(target.pending);
    writer.Key("delivered");
    writer.Uint64(target.delivered);
    writer.Key("failed");
    writer.Uint64(target.failed);
    writer.Key("retried");
    writer.Uint64(target.retried);
    writer.Key("last_error");
    if (target.last_error.empty()) {
      writer.Null();
    } else {
      Text(writer, target.last_error);
    }
    writer.Key("last_error_at");
    OptionalTimestamp(writer, target.last_error_ms);
    writer.Key("last_success_at");
    OptionalTimestamp(writer, target.last_success_ms);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
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

std::string NotificationsJson(const std::vector<StoredNotification>& rows) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("notifications");
  writer.StartArray();
  for (const StoredNotification& row : rows) {
    writer.StartObject();
    writer.Key("id");
    Text(writer, row.id);
    writer.Key("target");
    Text(writer, row.target);
    SeriesFields(writer, row.service_id);
    writer.Key("state");
    writer.String(NotificationStateName(row.state));
    writer.Key("attempts");
    writer.Uint(row.attempts);
    writer.Key("created_at");
    Timestamp(writer, row.created_ms);
    writer.Key("updated_at");
    Timestamp(writer, row.updated_ms);
    writer.Key("last_error");
    if (row.last_error.empty()) {
      writer.Null();
    } else {
      Text(writer, row.last_error);
    }
    writer.Key("transition");  // the stored body: the transition, as the webhook target gets it
    Metadata(writer, row.body);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return Finish(buffer);
}

}  // namespace driftwatch::api
