// GET /metrics end to end: the real `driftwatch` binary on a free loopback port with a temporary
// database, its exposition checked by Prometheus' own `promtool check metrics`, and by reading the
// series back. Every wait polls with a deadline.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/metrics_text.h"
#include "core/timestamp.h"
#include "tests/support/child_process.h"
#include "tests/support/eventually.h"
#include "tests/support/http_test_client.h"
#include "tests/support/scripted_http_server.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

constexpr int64_t kT0 = 1768176000000;  // 2026-01-12T00:00:00.000Z
constexpr auto kWaitDeadline = std::chrono::seconds(60);
constexpr int kMinSamples = 20;
const char* const kConfig =
    "baseline:\n  min_samples: 20\n  window_size: 100\n  refresh_every: 10\n";

// Every family docs/api.md lists for GET /metrics, with its TYPE.
const std::map<std::string, std::string> kFamilies = {
    {"driftwatch_build_info", "gauge"},
    {"driftwatch_services", "gauge"},
    {"driftwatch_samples_accepted_total", "counter"},
    {"driftwatch_endpoint_overflow_total", "counter"},
    {"driftwatch_samples_rejected_total", "counter"},
    {"driftwatch_drift_events_total", "counter"},
    {"driftwatch_ingest_queue_depth", "gauge"},
    {"driftwatch_storage_pending_samples", "gauge"},
    {"driftwatch_storage_commit_duration_seconds", "histogram"},
    {"driftwatch_storage_healthy", "gauge"},
    {"driftwatch_detector_errors_total", "counter"},
    {"driftwatch_notifications_total", "counter"},
    {"driftwatch_notifications_pending", "gauge"},
    {"driftwatch_metrics_services_omitted", "gauge"},
    {"driftwatch_service_state", "gauge"},
    {"driftwatch_service_zscore", "gauge"},
    {"driftwatch_service_baseline_latency_seconds", "gauge"},
    {"driftwatch_service_samples_total", "counter"},
    {"driftwatch_service_last_transition_timestamp_seconds", "gauge"},
    {"process_cpu_seconds_total", "counter"},
    {"process_resident_memory_bytes", "gauge"},
    {"process_virtual_memory_bytes", "gauge"},
    {"process_start_time_seconds", "gauge"},
    {"process_open_fds", "gauge"},
    {"process_max_fds", "gauge"},
};

// The value of the series written exactly as `series` (name and labels), or -1 when absent.
double Value(const std::string& body, const std::string& series) {
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

class Server {
 public:
  explicit Server(const std::string& config_yaml) {
    process_ = std::make_unique<ServerProcess>(dir_.File("driftwatch"));
    std::ofstream(dir_.File("config.yaml")) << config_yaml;
    std::string error;
    started_ = process_->Start({"--host", "127.0.0.1", "--port", "0", "--db",
                                dir_.File("driftwatch.db"), "--config", dir_.File("config.yaml")},
                               &error);
    EXPECT_TRUE(started_) << error;
  }
  bool started() const { return started_; }
  uint16_t port() const { return process_->port(); }
  const TestDir& dir() const { return dir_; }

  // `count` samples of `latency_ms` (a little jitter) from `*t`, one second apart.
  void Send(const std::string& service_id, int count, double latency_ms, int64_t* t,
            const std::string& headers = "") {
    std::string batch = "[";
    for (int i = 0; i < count; ++i) {
      char item[256];
      std::snprintf(item, sizeof item, R"(%s{"service_id":"%s","latency_ms":%g,"timestamp":"%s"})",
                    i == 0 ? "" : ",", service_id.c_str(), latency_ms + (i % 5),
                    FormatTimestamp(*t).c_str());
      batch += item;
      *t += 1000;
    }
    batch += "]";
    EXPECT_EQ(Fetch(port(), "POST", "/v1/telemetry/batch", batch, headers).status, 202);
  }
  // Stable after min_samples, then drifting after a spike.
  void MakeStates(const std::string& headers = "") {
    int64_t t = kT0;
    Send("insufficient-1", 3, 100, &t, headers);
    Send("stable.svc:A_1", kMinSamples, 100, &t, headers);
    Send("drifting-svc", kMinSamples, 100, &t, headers);
    Send("drifting-svc", 10, 5000, &t, headers);  // a SPIKE: zscore_severe fires after 5
  }
  std::string Metrics(const std::string& headers = "") {
    HttpResponse response = Fetch(port(), "GET", "/metrics", "", headers);
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.Header("Content-Type"), api::kMetricsContentType);
    return response.body;
  }

 private:
  TestDir dir_;
  std::unique_ptr<ServerProcess> process_;
  bool started_ = false;
};

std::string State(const std::string& id, const char* state) {
  return "driftwatch_service_state{service_id=\"" + id + "\",state=\"" + state + "\"}";
}

TEST(Metrics, EveryFamilyWithHelpAndTypeAndThePerServiceSeries) {
  Server server(kConfig);
  ASSERT_TRUE(server.started());
  server.MakeStates();
  std::string body;
  ASSERT_TRUE(Eventually(
      [&] {
        body = server.Metrics();
        return Value(body, State("drifting-svc", "DRIFT_DETECTED")) == 1 &&
               Value(body, "driftwatch_samples_accepted_total") == 3 + 2 * kMinSamples + 10;
      },
      kWaitDeadline))
      << body;
  for (const auto& [name, type] : kFamilies) {
    EXPECT_NE(body.find("# HELP " + name + " "), std::string::npos) << name;
    EXPECT_NE(body.find("# TYPE " + name + " " + type + "\n"), std::string::npos) << name;
  }
  EXPECT_EQ(Value(body, "driftwatch_build_info{version=\"" DRIFTWATCH_VERSION "\"}"), 1);
  EXPECT_EQ(Value(body, "driftwatch_services{state=\"INSUFFICIENT_DATA\"}"), 1);
  EXPECT_EQ(Value(body, "driftwatch_services{state=\"STABLE\"}"), 1);
  EXPECT_EQ(Value(body, "driftwatch_services{state=\"DRIFT_DETECTED\"}"), 1);
  EXPECT_EQ(Value(body, State("drifting-svc", "STABLE")), 0);
  EXPECT_EQ(Value(body, State("stable.svc:A_1", "STABLE")), 1);
  EXPECT_EQ(Value(body, State("stable.svc:A_1", "DRIFT_DETECTED")), 0);
  EXPECT_EQ(Value(body, State("insufficient-1", "INSUFFICIENT_DATA")), 1);
  EXPECT_EQ(Value(body, "driftwatch_drift_events_total{reason=\"baseline_established\"}"), 2);
  EXPECT_EQ(Value(body, "driftwatch_drift_events_total{reason=\"consecutive_severe_anomalies\"}"),
            1);
  EXPECT_EQ(Value(body, "driftwatch_samples_rejected_total{reason=\"queue_full\"}"), 0);
  EXPECT_EQ(Value(body, "driftwatch_service_samples_total{service_id=\"drifting-svc\"}"),
            kMinSamples + 10);
  EXPECT_EQ(Value(body, "driftwatch_metrics_services_omitted"), 0);
  EXPECT_EQ(Value(body, "driftwatch_storage_healthy"), 1);
  // Base units: the baseline in seconds (latencies around 100 ms), the z-score signed.
  const double mean = Value(body,
                            "driftwatch_service_baseline_latency_seconds{service_id=\"stable.svc:"
                            "A_1\",stat=\"mean\"}");
  EXPECT_GT(mean, 0.099);
  EXPECT_LT(mean, 0.105);
  EXPECT_GT(Value(body, "driftwatch_service_zscore{service_id=\"drifting-svc\"}"), 3.0);
  EXPECT_EQ(body.find("driftwatch_service_baseline_latency_seconds{service_id=\"insufficient-1\""),
            std::string::npos);  // no baseline yet
  // The last transition: the 5th spike sample, at kT0 + (3 + 20 + 20 + 4) s.
  EXPECT_EQ(Value(body,
                  "driftwatch_service_last_transition_timestamp_seconds{service_id=\"drifting-"
                  "svc\"}"),
            static_cast<double>(kT0) / 1000 + 3 + 2 * kMinSamples + 4);
  EXPECT_GT(Value(body, "process_resident_memory_bytes"), 0);
  // Commits come every commit interval: the first may follow this scrape.
  EXPECT_TRUE(Eventually(
      [&] {
        return Value(server.Metrics(), "driftwatch_storage_commit_duration_seconds_count") > 0;
      },
      kWaitDeadline));

  // Prometheus' own check of the format and its naming rules.
  const std::string file = server.dir().File("metrics.txt");
  std::ofstream(file) << body;
  RunResult check = RunToExit({"/bin/sh", "-c", "promtool check metrics < '" + file + "'"},
                              server.dir().File("promtool"));
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "");  // lint findings are printed, even with exit code 0
}

// Endpoint series get their service's labels and an `endpoint` label (escaped: an endpoint may
// hold quotes and backslashes); driftwatch_services counts services only; the endpoints past the
// cap are counted. promtool takes the whole exposition.
TEST(Metrics, EndpointSeriesCarryAnEndpointLabel) {
  Server server(std::string(kConfig) +
                "series:\n  per_endpoint: true\n  max_endpoints_per_service: 2\n");
  ASSERT_TRUE(server.started());
  const std::vector<std::string> endpoints = {R"(GET /a/{id})", R"(POST /b \"x\" \\ y)", "/c"};
  std::string batch = "[";
  for (int i = 0; i < 3 * kMinSamples; ++i) {
    if (i > 0) batch += ",";
    batch += R"({"service_id":"svc","latency_ms":)" + std::to_string(100 + i % 5) +
             R"(,"timestamp":")" + FormatTimestamp(kT0 + int64_t{1000} * i) + R"(","endpoint":")" +
             endpoints[i % 3] + "\"}";
  }
  batch += "]";
  ASSERT_EQ(Fetch(server.port(), "POST", "/v1/telemetry/batch", batch).status, 202);
  std::string body;
  ASSERT_TRUE(Eventually(
      [&] {
        body = server.Metrics();
        return Value(body, "driftwatch_service_samples_total{service_id=\"svc\"}") ==
                   3 * kMinSamples &&
               Value(body,
                     "driftwatch_service_samples_total{service_id=\"svc\",endpoint=\"GET "
                     "/a/{id}\"}") == kMinSamples &&
               Value(body,
                     "driftwatch_service_samples_total{service_id=\"svc\",endpoint=\"POST "
                     "/b \\\"x\\\" \\\\ y\"}") == kMinSamples;
      },
      kWaitDeadline))
      << body;
  EXPECT_EQ(Value(body, "driftwatch_services{state=\"STABLE\"}"), 1);
  EXPECT_EQ(Value(body, "driftwatch_services{state=\"INSUFFICIENT_DATA\"}"), 0);
  EXPECT_EQ(Value(body,
                  "driftwatch_service_samples_total{service_id=\"svc\",endpoint=\"GET "
                  "/a/{id}\"}"),
            kMinSamples);
  EXPECT_EQ(Value(body,
                  "driftwatch_service_state{service_id=\"svc\",endpoint=\"POST /b "
                  "\\\"x\\\" \\\\ y\",state=\"STABLE\"}"),
            1);
  EXPECT_EQ(body.find("endpoint=\"/c\""), std::string::npos);  // past the cap
  EXPECT_EQ(Value(body, "driftwatch_endpoint_overflow_total"), kMinSamples);
  // Every per-service family has the endpoint series, with the series' own figures: its baseline
  // as GET /v1/baseline?endpoint= gives it, and its transition at its own 20th sample (the
  // batch's 58th), where the service's own came at the batch's 20th.
  const std::string a = R"(service_id="svc",endpoint="GET /a/{id}")";
  HttpResponse baseline =
      Fetch(server.port(), "GET", "/v1/baseline/svc?endpoint=GET%20%2Fa%2F%7Bid%7D");
  ASSERT_EQ(baseline.status, 200) << baseline.body;
  rapidjson::Document json;
  ASSERT_FALSE(json.Parse(baseline.body.c_str()).HasParseError()) << baseline.body;
  for (const char* stat : {"mean", "stddev", "p50", "p95", "p99"}) {
    EXPECT_NEAR(
        Value(body, "driftwatch_service_baseline_latency_seconds{" + a + ",stat=\"" + stat + "\"}"),
        json[(std::string(stat) + "_latency").c_str()].GetDouble() / 1000, 1e-9)
        << stat;
  }
  EXPECT_NE(body.find("driftwatch_service_zscore{" + a + "} "), std::string::npos);
  EXPECT_EQ(Value(body, "driftwatch_service_last_transition_timestamp_seconds{" + a + "}"),
            static_cast<double>(kT0 + int64_t{1000} * (3 * (kMinSamples - 1))) / 1000);
  EXPECT_EQ(
      Value(body, R"(driftwatch_service_last_transition_timestamp_seconds{service_id="svc"})"),
      static_cast<double>(kT0 + int64_t{1000} * (kMinSamples - 1)) / 1000);

  const std::string file = server.dir().File("metrics.txt");
  std::ofstream(file) << body;
  RunResult check = RunToExit({"/bin/sh", "-c", "promtool check metrics < '" + file + "'"},
                              server.dir().File("promtool"));
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "");
}

TEST(Metrics, AboveTheLimitOnlyServicesNotStableGetSeries) {
  Server server(std::string(kConfig) + "metrics:\n  per_service_limit: 2\n");
  ASSERT_TRUE(server.started());
  server.MakeStates();
  std::string body;
  ASSERT_TRUE(Eventually(
      [&] {
        body = server.Metrics();
        return Value(body, State("drifting-svc", "DRIFT_DETECTED")) == 1;
      },
      kWaitDeadline))
      << body;
  EXPECT_EQ(Value(body, "driftwatch_metrics_services_omitted"), 1);
  EXPECT_EQ(body.find("service_id=\"stable.svc:A_1\""), std::string::npos);
  EXPECT_EQ(Value(body, State("insufficient-1", "INSUFFICIENT_DATA")), 1);
  EXPECT_EQ(Value(body, "driftwatch_services{state=\"STABLE\"}"), 1);  // still counted
}

// An answer larger than one 64 KiB write goes out as its head, then its body in pieces, not copied
// behind the head first: a scrape of 700 services (about 350 KB, rendered on the render thread and
// delivered later) and a large list of services (answered at once) each arrive whole, in order, on
// one kept-alive connection, and a HEAD gets the GET's headers without the body.
TEST(Metrics, LargeAnswersArriveWholeAndInOrderOnOneConnection) {
  constexpr int kServices = 700;
  Server server(kConfig);
  ASSERT_TRUE(server.started());
  std::string batch = "[";
  for (int i = 0; i < kServices; ++i) {
    char item[160];
    std::snprintf(
        item, sizeof item,
        R"(%s{"service_id":"large-answer-service-%04d","latency_ms":100,"timestamp":"%s"})",
        i == 0 ? "" : ",", i, FormatTimestamp(kT0).c_str());
    batch += item;
  }
  batch += "]";
  ASSERT_EQ(Fetch(server.port(), "POST", "/v1/telemetry/batch", batch).status, 202);
  const std::string last =
      "driftwatch_service_samples_total{service_id=\"large-answer-service-0699\"}";
  ASSERT_TRUE(Eventually([&] { return Value(server.Metrics(), last) == 1; }, kWaitDeadline));

  RawConnection connection;
  ASSERT_TRUE(connection.Connect(server.port()));
  ASSERT_TRUE(connection.Send(
      BuildRequest("GET", "/metrics", "") + BuildRequest("GET", "/v1/services", "") +
      BuildRequest("HEAD", "/metrics", "") + BuildRequest("GET", "/metrics", "")));
  HttpResponse first;
  ASSERT_TRUE(connection.Read(&first));
  EXPECT_EQ(first.status, 200);
  EXPECT_GT(first.body.size(), size_t{64 * 1024});
  for (int i = 0; i < kServices; ++i) {
    char series[128];
    std::snprintf(series, sizeof series,
                  "driftwatch_service_samples_total{service_id=\"large-answer-service-%04d\"}", i);
    EXPECT_EQ(Value(first.body, series), 1) << series;
  }
  EXPECT_NE(first.body.rfind("process_max_fds "), std::string::npos);  // the text's last family
  EXPECT_EQ(first.body.back(), '\n');

  HttpResponse services;
  ASSERT_TRUE(connection.Read(&services));
  EXPECT_EQ(services.status, 200);
  EXPECT_GT(services.body.size(), size_t{64 * 1024});
  rapidjson::Document json;
  ASSERT_FALSE(json.Parse(services.body.c_str()).HasParseError()) << services.body.size();
  ASSERT_TRUE(json.HasMember("services"));
  EXPECT_EQ(json["services"].Size(), rapidjson::SizeType{kServices});

  HttpResponse head;
  ASSERT_TRUE(connection.ReadHead(&head));
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  ASSERT_TRUE(head.Header("Content-Length"));
  EXPECT_GT(std::stoul(*head.Header("Content-Length")), 64UL * 1024);

  HttpResponse second;
  ASSERT_TRUE(connection.Read(&second));
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(Value(second.body, last), 1);
  EXPECT_NE(second.body.rfind("process_max_fds "), std::string::npos);
}

TEST(Metrics, RejectedSamplesAreCountedBySampleAndReason) {
  Server server(std::string(kConfig) + "ingest:\n  max_services: 1\n");
  ASSERT_TRUE(server.started());
  int64_t t = kT0;
  server.Send("first", 2, 100, &t);
  // A batch of 3 for a second service: 429, and each of its samples counts.
  std::string batch = "[";
  for (int i = 0; i < 3; ++i) {
    batch += std::string(i == 0 ? "" : ",") + R"({"service_id":"second","latency_ms":1})";
  }
  batch += "]";
  EXPECT_EQ(Fetch(server.port(), "POST", "/v1/telemetry/batch", batch).status, 429);
  const std::string body = server.Metrics();
  EXPECT_EQ(Value(body, "driftwatch_samples_rejected_total{reason=\"too_many_services\"}"), 3);
  EXPECT_EQ(Value(body, "driftwatch_samples_rejected_total{reason=\"queue_full\"}"), 0);
  EXPECT_EQ(Value(body, "driftwatch_samples_accepted_total"), 2);
}

TEST(Metrics, NeedTheSameTokenAsTheApi) {
  Server server(std::string(kConfig) + "server:\n  auth_tokens: [s3cret-token]\n");
  ASSERT_TRUE(server.started());
  EXPECT_EQ(Fetch(server.port(), "GET", "/metrics").status, 401);
  EXPECT_EQ(Fetch(server.port(), "GET", "/metrics", "", "Authorization: Bearer wrong\r\n").status,
            401);
  const std::string body = server.Metrics("Authorization: Bearer s3cret-token\r\n");
  EXPECT_NE(body.find("# TYPE driftwatch_services gauge"), std::string::npos);
}

// The value Prometheus' query API gives for `query` (an instant vector of one series), or -1
// while it has none.
double Query(uint16_t port, const std::string& query) {
  std::string encoded;
  for (unsigned char c : query) {
    char hex[4];
    std::snprintf(hex, sizeof hex, "%%%02X", c);
    encoded += std::isalnum(c) != 0 ? std::string(1, static_cast<char>(c)) : hex;
  }
  HttpResponse response = Fetch(port, "GET", "/api/v1/query?query=" + encoded);
  if (response.status != 200) return -1;
  rapidjson::Document json;
  json.Parse(response.body.c_str());
  if (json.HasParseError() || !json.IsObject() || !json.HasMember("data")) return -1;
  const rapidjson::Value& result = json["data"]["result"];
  if (!result.IsArray() || result.Size() != 1) return -1;
  return std::stod(result[0]["value"][1].GetString());
}

// A real Prometheus server (Debian's `prometheus`) scraping the real service every second.
TEST(Metrics, PrometheusScrapesTheServiceAndSeesTheDrift) {
  Server server(kConfig);
  ASSERT_TRUE(server.started());
  const TestDir& dir = server.dir();
  // Prometheus takes no port 0.
  const auto prometheus_port = static_cast<uint16_t>(UnusedPort());
  ASSERT_NE(prometheus_port, 0);
  std::ofstream(dir.File("prometheus.yml"))
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "scrape_configs:\n  - job_name: driftwatch\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << server.port() << "']\n";
  ChildProcess prometheus(dir.File("prometheus"));
  ASSERT_TRUE(
      prometheus.Spawn({"/usr/bin/prometheus", "--config.file=" + dir.File("prometheus.yml"),
                        "--storage.tsdb.path=" + dir.File("prometheus-data"),
                        "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)}))
      << "is Debian's prometheus package installed? (scripts/install-deps.sh)";

  const std::string drifting =
      R"(driftwatch_service_state{service_id="drifting-svc",state="DRIFT_DETECTED"})";
  const std::string stable =
      R"(driftwatch_service_state{service_id="drifting-svc",state="STABLE"})";
  int64_t t = kT0;
  server.Send("drifting-svc", kMinSamples, 100, &t);
  // Scraped while STABLE first, so the drift below is a change Prometheus saw.
  ASSERT_TRUE(Eventually([&] { return Query(prometheus_port, stable) == 1; }, kWaitDeadline))
      << prometheus.Stderr();
  EXPECT_EQ(Query(prometheus_port, drifting), 0);
  server.Send("drifting-svc", 10, 5000, &t);  // a SPIKE
  EXPECT_TRUE(Eventually([&] { return Query(prometheus_port, drifting) == 1; }, kWaitDeadline))
      << prometheus.Stderr();
  EXPECT_EQ(Query(prometheus_port, "up{job=\"driftwatch\"}"), 1);
  prometheus.Signal(SIGTERM);
  EXPECT_TRUE(prometheus.WaitForExit().has_value());
}

// Every string a Grafana query is written in: targets' `expr` and template variables' queries.
void CollectQueries(const rapidjson::Value& value, std::vector<std::string>* out) {
  if (value.IsObject()) {
    for (const auto& member : value.GetObject()) {
      const std::string key = member.name.GetString();
      if ((key == "expr" || key == "definition") && member.value.IsString()) {
        out->push_back(member.value.GetString());
      }
      CollectQueries(member.value, out);
    }
  } else if (value.IsArray()) {
    for (const rapidjson::Value& item : value.GetArray()) CollectQueries(item, out);
  }
}

TEST(Metrics, GrafanaDashboardQueriesOnlyExposedMetrics) {
  Server server(kConfig);
  ASSERT_TRUE(server.started());
  server.MakeStates();
  std::string body;
  ASSERT_TRUE(Eventually(
      [&] {
        body = server.Metrics();
        return Value(body, State("drifting-svc", "DRIFT_DETECTED")) == 1;
      },
      kWaitDeadline));
  // What /metrics exposes: every family it types, and a histogram's three series names.
  std::set<std::string> exposed;
  const std::regex type_line(R"(# TYPE (\S+) (\S+))");
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch match;
    if (!std::regex_match(line, match, type_line)) continue;
    exposed.insert(match[1]);
    if (match[2] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        exposed.insert(match[1].str() + suffix);
    }
  }

  std::ifstream file(DRIFTWATCH_SOURCE_DIR "/docs/grafana/driftwatch-dashboard.json");
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  rapidjson::Document dashboard;
  dashboard.Parse(text.c_str());
  ASSERT_FALSE(dashboard.HasParseError());
  // Import-ready with a data source variable, which every query goes through.
  bool has_datasource_variable = false;
  for (const rapidjson::Value& variable : dashboard["templating"]["list"].GetArray()) {
    has_datasource_variable =
        has_datasource_variable || (std::string(variable["type"].GetString()) == "datasource" &&
                                    std::string(variable["name"].GetString()) == "datasource");
  }
  EXPECT_TRUE(has_datasource_variable);

  std::vector<std::string> queries;
  CollectQueries(dashboard, &queries);
  ASSERT_GE(queries.size(), 10U);
  // Metric names: the identifiers with DriftWatch's or the process metrics' prefix (no label,
  // function or variable has one).
  const std::regex name(R"(\b(driftwatch_|process_)[A-Za-z0-9_:]*)");
  for (const std::string& query : queries) {
    int names = 0;
    for (auto it = std::sregex_iterator(query.begin(), query.end(), name);
         it != std::sregex_iterator(); ++it) {
      ++names;
      EXPECT_TRUE(exposed.count(it->str()) == 1) << it->str() << " in: " << query;
    }
    EXPECT_GT(names, 0) << "a query on no DriftWatch metric: " << query;
  }
}

TEST(MetricsText, LabelValuesAreEscaped) {
  std::string out;
  api::AppendLabelValue(&out, "a\\b\"c\nd");
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd");
  out.clear();
  api::AppendLabelValue(&out, "plain");
  EXPECT_EQ(out, "plain");
}

// The text up to the process_* families, which change between two renderings.
std::string BeforeProcessMetrics(const std::string& text) {
  return text.substr(0, text.find("# HELP process_"));
}

TEST(MetricsText, RenderThreadWritesTheSameTextAtALowerPriorityInOrder) {
  api::MetricsInput input;
  input.version = "test";
  input.per_service_limit = 10;
  for (int i = 0; i < 3; ++i) {
    ServiceMetrics& service = input.services.emplace_back();
    service.service_id = std::make_shared<const std::string>("svc-" + std::to_string(i));
    service.state = ServiceState::kStable;
    service.zscore = 0.5 * i;
    service.sample_count = 100 + i;
  }
  const std::string expected = BeforeProcessMetrics(api::RenderMetrics(input));
  ASSERT_NE(expected.find("driftwatch_service_samples_total{service_id=\"svc-2\"} 102"),
            std::string::npos);

  errno = 0;
  const int caller_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  ASSERT_EQ(errno, 0);
  struct Rendered {
    std::string text;
    pid_t tid = 0;
    int nice = 0;
  };
  std::vector<std::promise<Rendered>> answers(2);
  std::vector<int> order;  // written on the render thread only, read after both answers
  {
    api::MetricsRenderThread renderer;
    for (int i = 0; i < 2; ++i) {
      api::MetricsInput copy = input;
      renderer.Render(std::move(copy), [&answers, &order, i](std::string text) {
        order.push_back(i);
        answers[i].set_value(
            {std::move(text), gettid(), getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()))});
      });
    }
    for (int i = 0; i < 2; ++i) {
      const Rendered rendered = answers[i].get_future().get();
      EXPECT_EQ(BeforeProcessMetrics(rendered.text), expected);
      EXPECT_NE(rendered.tid, gettid());
      EXPECT_EQ(rendered.nice, std::min(19, caller_nice + api::kMetricsRenderNiceIncrement));
    }
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1}));
  // The caller's own priority is left alone.
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())), caller_nice);
}

TEST(MetricsText, RenderThreadRendersWhatIsQueuedBeforeItStops) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  int rendered = 0;
  std::thread releaser;
  {
    api::MetricsRenderThread renderer;
    api::MetricsInput input;
    input.version = "test";
    // The first job waits, so the second is still queued when the renderer is destroyed.
    renderer.Render(api::MetricsInput(input), [&rendered, released](const std::string&) {
      released.wait();
      ++rendered;
    });
    renderer.Render(api::MetricsInput(input), [&rendered](const std::string& text) {
      EXPECT_NE(text.find("driftwatch_build_info{version=\"test\"} 1"), std::string::npos);
      ++rendered;
    });
    // Let the first go once the renderer is (almost surely) being destroyed.
    releaser = std::thread([&release] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      release.set_value();
    });
  }
  releaser.join();
  EXPECT_EQ(rendered, 2);
}

}  // namespace
}  // namespace driftwatch::testing
