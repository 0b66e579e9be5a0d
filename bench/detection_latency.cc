// detection_latency: how long after its 202 a sample's effect is visible in GET /v1/health.
//
//   detection_latency --url http://127.0.0.1:PORT [--probes 500] [--prefix probe]
//
// Each probe uses a new service: 99 normal samples in one batch, then the 100th alone; the clock
// runs from its 202 until GET /v1/health says STABLE (baseline established). Then 4 severe
// samples, and when they are processed the 5th alone: from its 202 until the health says
// DRIFT_DETECTED (Rule 1). Health is polled back to back on a second keep-alive connection.
// Run it while other traffic loads the server. Prints one JSON object with percentiles in us.
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "http_client/http_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using driftwatch::http::HttpClient;
using driftwatch::http::HttpResponse;

constexpr int kMinSamples = 100;  // docs/behaviour.md, Defaults: baseline.min_samples
constexpr int kSevereRun = 5;     // docs/behaviour.md, Defaults: zscore_severe.consecutive
constexpr double kSevereLatencyMs = 5000.0;
constexpr auto kWaitTimeout = std::chrono::seconds(10);

struct Health {
  bool ok = false;
  std::string state;
  uint64_t sample_count = 0;
};

Health ReadHealth(HttpClient& connection, const std::string& path) {
  Health health;
  HttpResponse response;
  rapidjson::Document json;
  if (!connection.Get(path, &response).ok() || response.status != 200 ||
      json.Parse(response.body.c_str()).HasParseError()) {
    return health;
  }
  health.ok = json.HasMember("state") && json["state"].IsString();
  if (health.ok) health.state = json["state"].GetString();
  if (json.HasMember("sample_count") && json["sample_count"].IsUint64()) {
    health.sample_count = json["sample_count"].GetUint64();
  }
  return health;
}

std::string Sample(const std::string& service, double latency_ms) {
  char text[192];
  std::snprintf(text, sizeof text, "{\"service_id\":\"%s\",\"latency_ms\":%.3f}", service.c_str(),
                latency_ms);
  return text;
}

// Polls until `done(health)`; returns the microseconds from `since`, or -1 on timeout.
template <typename Done>
double WaitFor(HttpClient& connection, const std::string& path, Clock::time_point since,
               Done done) {
  for (;;) {
    const Health health = ReadHealth(connection, path);
    const Clock::time_point now = Clock::now();
    if (health.ok && done(health)) {
      return std::chrono::duration<double, std::micro>(now - since).count();
    }
    if (now - since > kWaitTimeout) return -1.0;
  }
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double rank = q / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lower = static_cast<size_t>(rank);
  const size_t upper = std::min(lower + 1, values.size() - 1);
  return values[lower] + (values[upper] - values[lower]) * (rank - static_cast<double>(lower));
}

void PrintSeries(const char* name, const std::vector<double>& values, bool last) {
  std::printf(
      "\"%s\":{\"count\":%zu,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
      "\"max_us\":%.1f}%s",
      name, values.size(), Percentile(values, 50), Percentile(values, 90), Percentile(values, 99),
      Percentile(values, 100), last ? "" : ",");
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  std::string prefix = "probe";
  int probes = 500;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--url") {
      url = argv[i + 1];
    } else if (flag == "--probes") {
      probes = std::atoi(argv[i + 1]);
    } else if (flag == "--prefix") {
      prefix = argv[i + 1];
    } else {
      url.clear();
      break;
    }
  }
  driftwatch::http::Url base;
  if (argc % 2 == 0 || probes < 1 || !driftwatch::http::ParseUrl(url, &base).ok()) {
    std::fprintf(stderr,
                 "usage: detection_latency --url http://127.0.0.1:PORT [--probes N] "
                 "[--prefix NAME]\n");
    return 2;
  }

  HttpClient sender(base);
  HttpClient poller(base);
  // 202 from a POST; a request without an answer counts as a failed probe, as any other status.
  const auto accepted = [&sender](const std::string& path, const std::string& body) {
    HttpResponse response;
    return sender.Post(path, body, &response).ok() && response.status == 202;
  };
  std::mt19937_64 random(7);
  std::normal_distribution<double> normal(150.0, 25.0);
  std::vector<double> established;
  std::vector<double> drifted;
  int failures = 0;
  for (int probe = 0; probe < probes; ++probe) {
    const std::string service = prefix + "-" + std::to_string(probe);
    const std::string health_path = "/v1/health/" + service;

    std::string batch = "[";
    for (int i = 0; i < kMinSamples - 1; ++i) {
      if (i > 0) batch += ",";
      batch += Sample(service, std::max(1.0, normal(random)));
    }
    batch += "]";
    if (!accepted("/v1/telemetry/batch", batch) ||
        !accepted("/v1/telemetry", Sample(service, 150.0))) {
      ++failures;
      continue;
    }
    const double to_stable = WaitFor(poller, health_path, Clock::now(),
                                     [](const Health& h) { return h.state == "STABLE"; });
    if (to_stable < 0) {
      ++failures;
      continue;
    }
    established.push_back(to_stable);

    batch = "[";
    for (int i = 0; i < kSevereRun - 1; ++i) {
      if (i > 0) batch += ",";
      batch += Sample(service, kSevereLatencyMs);
    }
    batch += "]";
    if (!accepted("/v1/telemetry/batch", batch) ||
        WaitFor(poller, health_path, Clock::now(),
                [](const Health& h) { return h.sample_count >= kMinSamples + kSevereRun - 1; }) <
            0 ||
        !accepted("/v1/telemetry", Sample(service, kSevereLatencyMs))) {
      ++failures;
      continue;
    }
    const double to_drift = WaitFor(poller, health_path, Clock::now(),
                                    [](const Health& h) { return h.state == "DRIFT_DETECTED"; });
    if (to_drift < 0) {
      ++failures;
      continue;
    }
    drifted.push_back(to_drift);
  }

  std::printf("{\"probes\":%d,\"failures\":%d,", probes, failures);
  PrintSeries("baseline_established", established, false);
  PrintSeries("drift_detected", drifted, true);
  std::printf("}\n");
  return failures == 0 ? 0 : 1;
}
