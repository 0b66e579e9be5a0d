#include "simulator/report.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>

#include "core/timestamp.h"
#include "http_client/url.h"

namespace driftwatch::sim {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

std::string Fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// The rate without needless decimals: "10", "2.5".
std::string RateText(double rate) {
  char text[64];
  std::snprintf(text, sizeof text, "%g", rate);
  return text;
}

std::string StateText(const Health& health) {
  if (!health.known) return "unknown (new service)";
  return health.state + " (sample_count " + std::to_string(health.sample_count) + ")";
}

std::string OriginOf(const std::string& url_text) {
  http::Url url;
  if (!http::ParseUrl(url_text, &url).ok()) return url_text;
  return url.Origin() + url.path;
}

void String(JsonWriter& json, const std::string& text) {
  json.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
}

void Raw(JsonWriter& json, const std::string& text, rapidjson::Type type) {
  json.RawValue(text.c_str(), text.size(), type);
}

void HealthJson(JsonWriter& json, const Health& health) {
  json.StartObject();
  json.Key("known");
  json.Bool(health.known);
  json.Key("state");
  if (health.known) {
    String(json, health.state);
  } else {
    json.Null();
  }
  json.Key("sample_count");
  json.Int64(health.sample_count);
  json.Key("metadata");
  Raw(json, health.metadata_json, rapidjson::kObjectType);
  json.EndObject();
}

}  // namespace

void PrintSummary(const Options& options, const RunResult& result, std::ostream& out) {
  const double rate = options.rate_per_s;
  out << "driftwatch-sim " << ModeName(options.mode) << ": " << options.service << " at "
      << OriginOf(options.url) << ", " << RateText(rate) << " samples/s, seed " << options.seed
      << (options.synthetic_time ? ", synthetic time" : ", real time") << "\n";
  out << "  samples sent  " << result.sent_samples << " (" << result.scheduled_samples
      << " scheduled";
  if (result.extra_normal_samples > 0) {
    out << " + " << result.extra_normal_samples << " extra NORMAL";
  }
  out << "), resent after 503: " << result.resent_samples;
  if (result.overload_answers > 0) out << " (" << result.overload_answers << " answers of 503)";
  out << "\n";
  out << "  elapsed       " << Fixed(result.elapsed_s, 2) << " s wall clock, "
      << Fixed(SampleSeconds(result.sent_samples, rate), 1) << " s of sample time\n";
  out << "  state         " << StateText(result.initial) << " -> " << StateText(result.final)
      << "\n";
  if (result.transitions.empty()) {
    out << "  transitions   none\n";
  } else {
    out << "  transitions   (sample of this run, sample time, change, reason, metadata)\n";
    for (const Transition& transition : result.transitions) {
      char index[32];
      std::snprintf(index, sizeof index, "#%-6lld",
                    static_cast<long long>(transition.sample_index));
      out << "    " << index << " " << Fixed(SampleSeconds(transition.sample_index, rate), 1)
          << " s  " << transition.event.from_state << " -> " << transition.event.to_state << "  "
          << transition.event.reason << " " << transition.event.metadata_json << "\n";
    }
  }
  if (!result.verdict) return;
  const Verdict& verdict = *result.verdict;
  out << "  verify        " << (verdict.passed ? "PASS" : "FAIL") << "\n";
  for (const Criterion& criterion : verdict.criteria) {
    out << "    " << (criterion.passed ? "pass  " : "FAIL  ") << criterion.name << ": "
        << criterion.detail << "\n";
  }
  out << "    measured:";
  for (const Measurement& measurement : verdict.measurements) {
    out << " " << measurement.name << "=" << measurement.json;
  }
  out << "\n";
}

std::string ResultJson(const Options& options, const RunResult& result) {
  rapidjson::StringBuffer buffer;
  JsonWriter json(buffer);
  json.StartObject();
  json.Key("mode");
  String(json, ModeName(options.mode));
  json.Key("service_id");
  String(json, options.service);
  json.Key("url");
  String(json, options.url);
  json.Key("seed");
  json.Uint64(options.seed);
  json.Key("rate_per_s");
  json.Double(options.rate_per_s);
  json.Key("duration_s");
  json.Double(options.duration_s);
  json.Key("synthetic_time");
  json.Bool(options.synthetic_time);
  json.Key("first_timestamp");
  String(json, FormatTimestamp(result.first_timestamp_ms));

  json.Key("samples");
  json.StartObject();
  json.Key("scheduled");
  json.Int64(result.scheduled_samples);
  json.Key("extra_normal");
  json.Int64(result.extra_normal_samples);
  json.Key("sent");
  json.Int64(result.sent_samples);
  json.Key("resent_after_503");
  json.Int64(result.resent_samples);
  json.Key("answers_503");
  json.Int64(result.overload_answers);
  json.EndObject();

  json.Key("elapsed_s");
  Raw(json, Fixed(result.elapsed_s, 3), rapidjson::kNumberType);
  json.Key("sample_time_s");
  Raw(json, Fixed(SampleSeconds(result.sent_samples, options.rate_per_s), 3),
      rapidjson::kNumberType);
  json.Key("initial");
  HealthJson(json, result.initial);
  json.Key("final");
  HealthJson(json, result.final);

  json.Key("transitions");
  json.StartArray();
  for (const Transition& transition : result.transitions) {
    json.StartObject();
    json.Key("sample_index");
    json.Int64(transition.sample_index);
    json.Key("sample_seq");
    json.Int64(transition.event.sample_seq.value_or(0));
    json.Key("sample_time_s");
    Raw(json, Fixed(SampleSeconds(transition.sample_index, options.rate_per_s), 3),
        rapidjson::kNumberType);
    json.Key("from_state");
    String(json, transition.event.from_state);
    json.Key("to_state");
    String(json, transition.event.to_state);
    json.Key("reason");
    String(json, transition.event.reason);
    json.Key("timestamp");
    String(json, transition.event.timestamp);
    json.Key("metadata");
    Raw(json, transition.event.metadata_json, rapidjson::kObjectType);
    json.EndObject();
  }
  json.EndArray();

  if (result.verdict) {
    json.Key("verify");
    json.StartObject();
    json.Key("passed");
    json.Bool(result.verdict->passed);
    json.Key("criteria");
    json.StartArray();
    for (const Criterion& criterion : result.verdict->criteria) {
      json.StartObject();
      json.Key("name");
      String(json, criterion.name);
      json.Key("passed");
      json.Bool(criterion.passed);
      json.Key("detail");
      String(json, criterion.detail);
      json.EndObject();
    }
    json.EndArray();
    json.Key("measured");
    json.StartObject();
    for (const Measurement& measurement : result.verdict->measurements) {
      json.Key(measurement.name.c_str());
      Raw(json, measurement.json,
          measurement.json == "null"                                  ? rapidjson::kNullType
          : measurement.json == "true" || measurement.json == "false" ? rapidjson::kTrueType
                                                                      : rapidjson::kNumberType);
    }
    json.EndObject();
    json.EndObject();
  }
  json.EndObject();
  return buffer.GetString();
}

}  // namespace driftwatch::sim
