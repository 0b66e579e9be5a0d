// Reproducible telemetry for the SDK tests, and the few API calls they make with it.
#pragma once

#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/eventually.h"
#include "tests/support/http_test_client.h"

namespace driftwatch::sdktest {

using testing::Fetch;
using testing::HttpResponse;

// Generous: the suite also runs under the sanitizers.
constexpr std::chrono::seconds kPatience{120};

// "2026-01-12T10:30:45.123Z" for epoch milliseconds (the format DriftWatch writes).
inline std::string FormatTimestamp(int64_t epoch_ms) {
  const std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(epoch_ms % 1000));
  return text;
}

inline bool WriteText(const std::string& path, std::string_view text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  return static_cast<bool>(file);
}

struct TimedSample {
  int64_t timestamp_ms;
  double latency_ms;
};

// N(0, 1) from the raw output of std::mt19937_64 (whose sequence the standard fixes) by
// Box-Muller, so the same seed gives the same numbers with any standard library; the standard's
// normal_distribution does not promise that.
class StandardNormal {
 public:
  explicit StandardNormal(uint64_t seed) : engine_(seed) {}
  double Next() {
    if (spare_) {
      const double value = *spare_;
      spare_.reset();
      return value;
    }
    constexpr double kTwoPi = 6.283185307179586;
    const double u1 = Uniform();
    const double u2 = Uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    spare_ = radius * std::sin(kTwoPi * u2);
    return radius * std::cos(kTwoPi * u2);
  }

 private:
  double Uniform() {  // in (0, 1]: never 0, so log() is finite
    return (static_cast<double>(engine_() >> 11) + 1.0) * 0x1.0p-53;
  }
  std::mt19937_64 engine_;
  std::optional<double> spare_;
};

// Appends `count` samples ~ N(mean, stddev) (clamped at >= 1 ms, as the simulator does), one
// second apart, continuing from the last sample's timestamp (or from `first_ms`).
inline void AppendNormal(std::vector<TimedSample>* samples, StandardNormal* normal, size_t count,
                         double mean, double stddev, int64_t first_ms) {
  constexpr int64_t kSpacingMs = 1000;
  int64_t next_ms = samples->empty() ? first_ms : samples->back().timestamp_ms + kSpacingMs;
  for (size_t i = 0; i < count; ++i, next_ms += kSpacingMs) {
    samples->push_back({next_ms, std::max(1.0, mean + stddev * normal->Next())});
  }
}

// Sample timestamps start an hour ago: recent enough that retention never touches them, and
// still in the past when the last one is sent.
inline int64_t AnHourAgoMs() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::seconds>(now).count() * 1000 - 3600 * 1000;
}

// POSTs the samples to /v1/telemetry/batch in batches; false (with the answer in *error) when a
// batch is not accepted.
inline bool SendSamples(uint16_t port, const std::string& service_id,
                        const std::vector<TimedSample>& samples, std::string* error) {
  constexpr size_t kBatchSize = 50;
  for (size_t begin = 0; begin < samples.size(); begin += kBatchSize) {
    std::string body = "[";
    for (size_t i = begin; i < std::min(samples.size(), begin + kBatchSize); ++i) {
      char latency[64];
      std::snprintf(latency, sizeof latency, "%.6f", samples[i].latency_ms);
      if (i != begin) body += ",";
      body += "{\"service_id\":\"" + service_id + "\",\"latency_ms\":" + latency +
              ",\"timestamp\":\"" + FormatTimestamp(samples[i].timestamp_ms) + "\"}";
    }
    body += "]";
    const HttpResponse response = Fetch(port, "POST", "/v1/telemetry/batch", body);
    if (response.status != 202) {
      *error = "batch at " + std::to_string(begin) + ": " + std::to_string(response.status) + " " +
               response.body;
      return false;
    }
  }
  return true;
}

// GET `path` as a JSON object; an empty object when the answer is not 200 with a JSON object.
inline rapidjson::Document GetJson(uint16_t port, const std::string& path) {
  rapidjson::Document document;
  const HttpResponse response = Fetch(port, "GET", path);
  document.Parse(response.body.c_str());
  if (response.status != 200 || document.HasParseError() ||
      (!document.IsObject() && !document.IsArray())) {
    document.SetObject();
  }
  return document;
}

// A member as text/number, or a fallback when it is missing or of another type.
inline std::string Text(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject()) return "";
  const auto member = object.FindMember(key);
  return member != object.MemberEnd() && member->value.IsString() ? member->value.GetString() : "";
}
inline double Number(const rapidjson::Value& object, const char* key, double fallback = -1.0) {
  if (!object.IsObject()) return fallback;
  const auto member = object.FindMember(key);
  return member != object.MemberEnd() && member->value.IsNumber() ? member->value.GetDouble()
                                                                  : fallback;
}

// Waits until the service has processed `count` samples (GET /v1/health sample_count).
inline bool WaitForProcessed(uint16_t port, const std::string& service_id, double count) {
  return testing::Eventually(
      [&] { return Number(GetJson(port, "/v1/health/" + service_id), "sample_count") >= count; },
      kPatience);
}

}  // namespace driftwatch::sdktest
