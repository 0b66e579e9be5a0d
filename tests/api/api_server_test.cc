// The REST API end to end: the real `driftwatch` binary on a free loopback port with a temporary
// database, driven through the tools' libcurl client, and over raw sockets where the bytes on the
// wire are the point (tests/support/http_test_client.h). Every wait polls with a deadline; nothing
// relies on timing.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "api/router.h"
#include "core/timestamp.h"
#include "tests/support/eventually.h"
#include "tests/support/http_test_client.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

constexpr int64_t kT0 = 1768176000000;  // 2026-01-12T00:00:00.000Z
constexpr auto kWaitDeadline = std::chrono::seconds(60);

rapidjson::Document Json(const HttpResponse& response) {
  rapidjson::Document document;
  document.Parse(response.body.c_str());
  EXPECT_FALSE(document.HasParseError()) << response.status << "\n" << response.body;
  EXPECT_EQ(response.Header("Content-Type"), "application/json") << response.body;
  return document;
}

std::string ErrorCode(const HttpResponse& response) {
  rapidjson::Document json = Json(response);
  return json.IsObject() && json.HasMember("error") && json["error"].IsString()
             ? json["error"].GetString()
             : "";
}

std::string SampleJson(const std::string& service_id, double latency_ms,
                       std::optional<int64_t> timestamp_ms = std::nullopt) {
  char latency[64];
  std::snprintf(latency, sizeof latency, "%.17g", latency_ms);
  std::string json = R"({"service_id":")" + service_id + R"(","latency_ms":)" + latency;
  if (timestamp_ms) json += R"(,"timestamp":")" + FormatTimestamp(*timestamp_ms) + "\"";
  return json + "}";
}

std::string BatchJson(const std::vector<std::string>& items) {
  std::string json = "[";
  for (const std::string& item : items) json += (json.size() > 1 ? "," : "") + item;
  return json + "]";
}

// numpy.percentile(values, q) with the default (linear) method.
double Percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double rank = q / 100.0 * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (rank - static_cast<double>(below)) * (values[above] - values[below]);
}

class Server {
 public:
  // Starts driftwatch on 127.0.0.1, port 0, with a database (and optional config) in a fresh
  // temporary directory.
  explicit Server(const std::string& config_yaml = "", std::vector<std::string> extra_args = {}) {
    Start(config_yaml, std::move(extra_args));
  }

  void Start(const std::string& config_yaml = "", std::vector<std::string> extra_args = {}) {
    process_ = std::make_unique<ServerProcess>(dir_.File("driftwatch" + std::to_string(runs_++)));
    std::vector<std::string> args = {"--host", "127.0.0.1", "--port",
                                     "0",      "--db",      dir_.File("driftwatch.db")};
    if (!config_yaml.empty()) {
      std::ofstream(dir_.File("config.yaml")) << config_yaml;
      args.push_back("--config");
      args.push_back(dir_.File("config.yaml"));
    }
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::string error;
    started_ = process_->Start(args, &error);
    EXPECT_TRUE(started_) << error;
  }

  bool started() const { return started_; }
  uint16_t port() const { return process_->port(); }
  ServerProcess& process() { return *process_; }
  const TestDir& dir() const { return dir_; }

  HttpResponse Get(const std::string& path, const std::string& headers = "") {
    return Fetch(port(), "GET", path, "", headers);
  }
  HttpResponse Post(const std::string& path, const std::string& body,
                    const std::string& headers = "") {
    return Fetch(port(), "POST", path, body, headers);
  }

  // The service's sample_count, or -1 while it is unknown.
  int64_t SampleCount(const std::string& service_id) {
    HttpResponse response = Get("/v1/health/" + service_id);
    if (response.status != 200) return -1;
    return Json(response)["sample_count"].GetInt64();
  }
  bool WaitForSampleCount(const std::string& service_id, int64_t count) {
    return Eventually([&] { return SampleCount(service_id) == count; }, kWaitDeadline);
  }

 private:
  TestDir dir_;
  std::unique_ptr<ServerProcess> process_;
  int runs_ = 0;
  bool started_ = false;
};

// --- Ingest --------------------------------------------------------------------------------

TEST(ApiServer, LivenessAnswersOk) {
  Server server;
  ASSERT_TRUE(server.started());
  HttpResponse response = server.Get("/health");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(std::string(Json(response)["status"].GetString()), "ok");
}

TEST(ApiServer, TelemetryIsAcceptedWithTheSampleTimestampInUtc) {
  Server server;
  ASSERT_TRUE(server.started());
  HttpResponse response = server.Post(
      "/v1/telemetry", R"({"service_id":"ts-svc","latency_ms":156.7,"payload_kb":2.3,)"
                       R"("timestamp":"2026-01-12T12:30:45.123+02:00","ignored":[1,{"x":null}]})");
  ASSERT_EQ(response.status, 202) << response.body;
  rapidjson::Document json = Json(response);
  EXPECT_EQ(std::string(json["status"].GetString()), "accepted");
  EXPECT_EQ(std::string(json["service_id"].GetString()), "ts-svc");
  EXPECT_EQ(std::string(json["timestamp"].GetString()), "2026-01-12T10:30:45.123Z");

  // Without a timestamp, the time of acceptance.
  const int64_t before = NowMs();
  response = server.Post("/v1/telemetry", R"({"service_id":"ts-svc","latency_ms":1})");
  const int64_t after = NowMs();
  ASSERT_EQ(response.status, 202) << response.body;
  std::optional<int64_t> stamped = ParseTimestamp(Json(response)["timestamp"].GetString());
  ASSERT_TRUE(stamped);
  EXPECT_GE(*stamped, before);
  EXPECT_LE(*stamped, after);
  EXPECT_TRUE(server.WaitForSampleCount("ts-svc", 2));
}

TEST(ApiServer, BadSamplesGetJsonErrorsNamingTheField) {
  Server server;
  ASSERT_TRUE(server.started());
  struct Case {
    std::string body;
    int status;
    std::string error;
    std::string field;
  };
  const std::vector<Case> cases = {
      {R"({"service_id":"v","latency_ms":)", 400, "malformed_json", ""},
      {"{\"service_id\":\"v\xfe\",\"latency_ms\":1}", 400, "malformed_json", ""},
      {R"({"service_id":"v","latency_ms":NaN})", 400, "malformed_json", ""},
      {R"(["not","an","object"])", 422, "validation_failed", "(body)"},
      {R"({"latency_ms":1})", 422, "validation_failed", "service_id"},
      {R"({"service_id":"has space","latency_ms":1})", 422, "validation_failed", "service_id"},
      {R"({"service_id":"v","latency_ms":-1})", 422, "validation_failed", "latency_ms"},
      {R"({"service_id":"v","latency_ms":1e999})", 422, "validation_failed", "latency_ms"},
      {R"({"service_id":"v","latency_ms":1,"payload_kb":"big"})", 422, "validation_failed",
       "payload_kb"},
      {R"({"service_id":"v","latency_ms":1,"timestamp":"12/01/2026"})", 422, "validation_failed",
       "timestamp"},
  };
  for (const Case& c : cases) {
    HttpResponse response = server.Post("/v1/telemetry", c.body);
    EXPECT_EQ(response.status, c.status) << c.body << "\n" << response.body;
    rapidjson::Document json = Json(response);
    ASSERT_TRUE(json.IsObject()) << c.body;
    EXPECT_EQ(std::string(json["error"].GetString()), c.error) << c.body;
    EXPECT_TRUE(json["message"].IsString());
    if (c.field.empty()) {
      EXPECT_FALSE(json.HasMember("field")) << c.body;
    } else {
      EXPECT_EQ(std::string(json["field"].GetString()), c.field) << c.body;
    }
  }
  // Nothing bad was accepted: the service never came to exist.
  EXPECT_EQ(server.Get("/v1/health/v").status, 404);
}

TEST(ApiServer, BatchIsAllOrNothing) {
  Server server;
  ASSERT_TRUE(server.started());
  std::vector<std::string> good;
  for (int i = 0; i < 5; ++i) good.push_back(SampleJson("aon", 10 + i));
  HttpResponse response = server.Post("/v1/telemetry/batch", BatchJson(good));
  ASSERT_EQ(response.status, 202) << response.body;
  EXPECT_EQ(Json(response)["accepted"].GetInt(), 5);
  ASSERT_TRUE(server.WaitForSampleCount("aon", 5));

  // Item 3 is bad: the batch is refused, naming it, and none of it is taken.
  std::vector<std::string> mixed = {SampleJson("aon", 1), SampleJson("aon-new", 1),
                                    SampleJson("aon", 2), R"({"service_id":"aon","latency_ms":-3})",
                                    SampleJson("aon", 4)};
  response = server.Post("/v1/telemetry/batch", BatchJson(mixed));
  ASSERT_EQ(response.status, 422) << response.body;
  rapidjson::Document json = Json(response);
  EXPECT_EQ(std::string(json["error"].GetString()), "validation_failed");
  EXPECT_EQ(json["index"].GetInt(), 3);
  EXPECT_EQ(std::string(json["field"].GetString()), "latency_ms");

  // One more good sample; samples of a service are processed in order, so once it is counted
  // anything accepted before it would have been counted too.
  ASSERT_EQ(server.Post("/v1/telemetry", SampleJson("aon", 20)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("aon", 6));
  EXPECT_EQ(server.Get("/v1/health/aon-new").status, 404);

  response = server.Post("/v1/telemetry/batch", "[]");
  EXPECT_EQ(response.status, 422);
  EXPECT_EQ(std::string(Json(response)["field"].GetString()), "(body)");
  response = server.Post("/v1/telemetry/batch", SampleJson("aon", 1));
  EXPECT_EQ(response.status, 422);
  EXPECT_EQ(std::string(Json(response)["field"].GetString()), "(body)");
  response = server.Post("/v1/telemetry/batch", "[1,");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(ErrorCode(response), "malformed_json");
  EXPECT_EQ(server.SampleCount("aon"), 6);
}

// A sample `offset_ms` after the test's clock, which is the server's (the same machine).
std::string SampleAhead(const std::string& service_id, int64_t offset_ms) {
  return SampleJson(service_id, 100, NowMs() + offset_ms);
}

std::string MessageOf(const HttpResponse& response) {
  rapidjson::Document json = Json(response);
  return json.IsObject() && json.HasMember("message") ? json["message"].GetString() : "";
}

TEST(ApiServer, TimestampsMoreThanAnHourAheadAreRefusedByDefault) {
  Server server;
  ASSERT_TRUE(server.started());
  constexpr int64_t kMinuteMs = 60 * 1000;
  HttpResponse response = server.Post("/v1/telemetry", SampleAhead("future", 59 * kMinuteMs));
  ASSERT_EQ(response.status, 202) << response.body;

  for (const std::string& body :
       {SampleAhead("future", 61 * kMinuteMs),
        std::string(
            R"({"service_id":"future","latency_ms":1,"timestamp":"3000-01-01T00:00:00Z"})")}) {
    response = server.Post("/v1/telemetry", body);
    ASSERT_EQ(response.status, 422) << body << "\n" << response.body;
    rapidjson::Document json = Json(response);
    EXPECT_EQ(std::string(json["error"].GetString()), "validation_failed");
    EXPECT_EQ(std::string(json["field"].GetString()), "timestamp");
    EXPECT_EQ(MessageOf(response).rfind("timestamp must be at most 3600 s ahead of the server's "
                                        "clock (ingest.max_future_seconds), got ",
                                        0),
              0u)
        << response.body;
  }

  // In a batch the item is named, and nothing of the batch is taken.
  response = server.Post(
      "/v1/telemetry/batch",
      BatchJson({SampleAhead("future", 0), SampleAhead("future-new", -kMinuteMs),
                 R"({"service_id":"future","latency_ms":1,"timestamp":"3000-01-01T00:00:00Z"})",
                 SampleAhead("future", 0)}));
  ASSERT_EQ(response.status, 422) << response.body;
  rapidjson::Document json = Json(response);
  EXPECT_EQ(json["index"].GetInt(), 2);
  EXPECT_EQ(std::string(json["field"].GetString()), "timestamp");
  EXPECT_EQ(MessageOf(response).rfind("item 2: timestamp must be at most 3600 s ahead", 0), 0u)
      << response.body;

  ASSERT_EQ(server.Post("/v1/telemetry", SampleAhead("future", 0)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("future", 2));
  EXPECT_EQ(server.Get("/v1/health/future-new").status, 404);
}

TEST(ApiServer, TheFutureLimitIsConfigurable) {
  Server server("ingest:\n  max_future_seconds: 60\n");
  ASSERT_TRUE(server.started());
  ASSERT_EQ(server.Post("/v1/telemetry", SampleAhead("soon", 30 * 1000)).status, 202);
  HttpResponse response = server.Post("/v1/telemetry", SampleAhead("soon", 5 * 60 * 1000));
  ASSERT_EQ(response.status, 422) << response.body;
  EXPECT_EQ(std::string(Json(response)["field"].GetString()), "timestamp");
  EXPECT_NE(MessageOf(response).find("at most 60 s ahead"), std::string::npos) << response.body;
  ASSERT_TRUE(server.WaitForSampleCount("soon", 1));
}

// --- The state machine through HTTP (docs/behaviour.md) --------------------------------------

// The state machine's contract, for a service's own series and for an endpoint series (addressed
// with ?endpoint=, its samples interleaved with another endpoint's, much slower ones, which only
// its service's own series sees).
class Contract : public ::testing::TestWithParam<bool> {
 protected:
  bool endpoint_series() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(ApiServer, Contract, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "EndpointSeries" : "ServiceSeries";
                         });

TEST_P(Contract, TransitionsHappenAtTheExactSample) {
  Server server(endpoint_series() ? "series:\n  per_endpoint: true\n" : "");
  ASSERT_TRUE(server.started());
  const std::string id = "e2e-payments";
  const std::string endpoint = "GET /api/orders/{id}";
  // The series' path: with ?endpoint= (percent-encoded) for the endpoint series.
  auto at = [&](const std::string& path, const std::string& query = "") {
    std::string full = path;
    if (endpoint_series()) full += "?endpoint=GET%20%2Fapi%2Forders%2F%7Bid%7D";
    if (!query.empty()) full += (endpoint_series() ? "&" : "?") + query;
    return full;
  };
  auto sample = [&](double latency, int64_t timestamp_ms) {
    std::string json = SampleJson(id, latency, timestamp_ms);
    if (endpoint_series()) json.insert(json.size() - 1, R"(,"endpoint":")" + endpoint + "\"");
    return json;
  };
  auto other = [&](int64_t timestamp_ms) {  // another endpoint of the service, 50x slower
    std::string json = SampleJson(id, 5000.0, timestamp_ms);
    return json.insert(json.size() - 1, R"(,"endpoint":"POST /api/reports")");
  };
  auto sample_count = [&] {
    HttpResponse response = server.Get(at("/v1/health/" + id));
    return response.status == 200 ? Json(response)["sample_count"].GetInt64() : -1;
  };
  auto wait_for = [&](int64_t count) {
    return Eventually([&] { return sample_count() == count; }, kWaitDeadline);
  };
  auto timestamp = [](int i) { return kT0 + int64_t{1000} * i; };
  std::vector<double> latencies;
  std::vector<std::string> first99;
  for (int i = 0; i < 99; ++i) {
    latencies.push_back(100.0 + i % 10);
    first99.push_back(sample(latencies.back(), timestamp(i)));
    if (endpoint_series()) first99.push_back(other(timestamp(i)));
  }
  ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(first99)).status, 202);
  ASSERT_TRUE(wait_for(99));

  rapidjson::Document health = Json(server.Get(at("/v1/health/" + id)));
  EXPECT_EQ(std::string(health["state"].GetString()), "INSUFFICIENT_DATA");
  EXPECT_TRUE(health["transition_timestamp"].IsNull());
  EXPECT_TRUE(health["baseline"].IsNull());
  EXPECT_TRUE(health["metadata"].IsObject());
  EXPECT_EQ(health["metadata"].MemberCount(), 0u);

  HttpResponse response = server.Get(at("/v1/baseline/" + id));
  EXPECT_EQ(response.status, 404);
  rapidjson::Document missing = Json(response);
  EXPECT_EQ(std::string(missing["error"].GetString()), "no_baseline");
  EXPECT_EQ(missing["samples"].GetInt(), 99);
  EXPECT_EQ(missing["needed"].GetInt(), 100);
  EXPECT_NE(std::string(missing["message"].GetString()).find("99"), std::string::npos);
  EXPECT_EQ(Json(server.Get(at("/v1/events/" + id)))["events"].Size(), 0u);

  // The 100th sample establishes the baseline.
  latencies.push_back(109.0);
  ASSERT_EQ(server.Post("/v1/telemetry", sample(109.0, timestamp(99))).status, 202);
  ASSERT_TRUE(wait_for(100));
  health = Json(server.Get(at("/v1/health/" + id)));
  EXPECT_EQ(std::string(health["state"].GetString()), "STABLE");
  EXPECT_EQ(std::string(health["transition_timestamp"].GetString()),
            FormatTimestamp(timestamp(99)));
  double mean = 0;
  for (double x : latencies) mean += x;
  mean /= static_cast<double>(latencies.size());
  double squares = 0;
  for (double x : latencies) squares += (x - mean) * (x - mean);
  const double stddev = std::sqrt(squares / static_cast<double>(latencies.size() - 1));
  EXPECT_NEAR(health["baseline"]["mean_latency"].GetDouble(), mean, 1e-9);
  EXPECT_NEAR(health["baseline"]["stddev_latency"].GetDouble(), stddev, 1e-9);
  EXPECT_EQ(health["baseline"]["sample_count"].GetInt(), 100);

  response = server.Get(at("/v1/baseline/" + id));
  ASSERT_EQ(response.status, 200) << response.body;
  rapidjson::Document baseline = Json(response);
  EXPECT_EQ(std::string(baseline["service_id"].GetString()), id);
  EXPECT_EQ(baseline["sample_count"].GetInt(), 100);
  EXPECT_NEAR(baseline["mean_latency"].GetDouble(), mean, 1e-9);
  EXPECT_NEAR(baseline["stddev_latency"].GetDouble(), stddev, 1e-9);
  EXPECT_NEAR(baseline["p50_latency"].GetDouble(), Percentile(latencies, 50), 1e-9);
  EXPECT_NEAR(baseline["p95_latency"].GetDouble(), Percentile(latencies, 95), 1e-9);
  EXPECT_NEAR(baseline["p99_latency"].GetDouble(), Percentile(latencies, 99), 1e-9);
  EXPECT_TRUE(baseline["mean_payload"].IsNull());
  EXPECT_TRUE(baseline["stddev_payload"].IsNull());
  EXPECT_EQ(std::string(baseline["last_updated"].GetString()), FormatTimestamp(timestamp(99)));

  // Four severe samples: still STABLE. The fifth: DRIFT_DETECTED.
  for (int i = 100; i < 104; ++i) {
    ASSERT_EQ(server.Post("/v1/telemetry", sample(1000.0, timestamp(i))).status, 202);
  }
  ASSERT_TRUE(wait_for(104));
  EXPECT_EQ(std::string(Json(server.Get(at("/v1/health/" + id)))["state"].GetString()), "STABLE");
  ASSERT_EQ(server.Post("/v1/telemetry", sample(1000.0, timestamp(104))).status, 202);
  ASSERT_TRUE(wait_for(105));
  health = Json(server.Get(at("/v1/health/" + id)));
  EXPECT_EQ(std::string(health["state"].GetString()), "DRIFT_DETECTED");
  EXPECT_EQ(std::string(health["transition_timestamp"].GetString()),
            FormatTimestamp(timestamp(104)));
  EXPECT_EQ(std::string(health["metadata"]["reason"].GetString()), "consecutive_severe_anomalies");
  EXPECT_EQ(health["metadata"]["consecutive_count"].GetInt(), 5);
  EXPECT_NEAR(health["metadata"]["max_zscore"].GetDouble(), (1000.0 - mean) / stddev, 1e-6);
  // The baseline stays as it was: the drift did not enter it.
  EXPECT_EQ(health["baseline"]["sample_count"].GetInt(), 100);

  // Events, newest first.
  rapidjson::Document events = Json(server.Get(at("/v1/events/" + id)));
  EXPECT_EQ(std::string(events["service_id"].GetString()), id);
  ASSERT_EQ(events["events"].Size(), 2u);
  const auto& drift = events["events"][0];
  EXPECT_EQ(std::string(drift["from_state"].GetString()), "STABLE");
  EXPECT_EQ(std::string(drift["to_state"].GetString()), "DRIFT_DETECTED");
  EXPECT_EQ(std::string(drift["reason"].GetString()), "consecutive_severe_anomalies");
  EXPECT_EQ(drift["metadata"]["consecutive_count"].GetInt(), 5);
  EXPECT_EQ(std::string(drift["timestamp"].GetString()), FormatTimestamp(timestamp(104)));
  EXPECT_EQ(drift["sample_seq"].GetInt(), 105);
  const auto& established = events["events"][1];
  EXPECT_EQ(std::string(established["from_state"].GetString()), "INSUFFICIENT_DATA");
  EXPECT_EQ(std::string(established["to_state"].GetString()), "STABLE");
  EXPECT_EQ(std::string(established["reason"].GetString()), "baseline_established");
  EXPECT_EQ(established["sample_seq"].GetInt(), 100);
  rapidjson::Document limited = Json(server.Get(at("/v1/events/" + id, "limit=1")));
  ASSERT_EQ(limited["events"].Size(), 1u);
  EXPECT_EQ(limited["events"][0]["sample_seq"].GetInt(), 105);

  rapidjson::Document services = Json(server.Get("/v1/services"));
  ASSERT_EQ(services["count"].GetInt(), 1);  // endpoint series only when asked for
  ASSERT_EQ(services["services"].Size(), 1u);
  EXPECT_EQ(std::string(services["services"][0]["service_id"].GetString()), id);
  EXPECT_FALSE(services["services"][0].HasMember("endpoint"));
  size_t listed = 0;  // the series under test
  if (endpoint_series()) {
    // The service's own series saw both endpoints' samples.
    ASSERT_TRUE(Eventually(
        [&] {
          services = Json(server.Get("/v1/services"));
          return services["services"][0]["sample_count"].GetInt() == 2 * 99 + 6;
        },
        kWaitDeadline));
    services = Json(server.Get("/v1/services?endpoints=true"));
    ASSERT_EQ(services["count"].GetInt(), 3);  // sorted: the service, then its endpoints
    ASSERT_EQ(services["services"].Size(), 3u);
    listed = 1;
    EXPECT_EQ(std::string(services["services"][1]["endpoint"].GetString()), endpoint);
    EXPECT_EQ(std::string(services["services"][2]["endpoint"].GetString()), "POST /api/reports");
    EXPECT_EQ(std::string(services["services"][2]["service_id"].GetString()), id);
    EXPECT_EQ(services["services"][2]["sample_count"].GetInt(), 99);
    EXPECT_EQ(Json(server.Get(at("/v1/health/" + id)))["endpoint"].GetString(), endpoint);
    EXPECT_EQ(std::string(events["endpoint"].GetString()), endpoint);
    EXPECT_EQ(std::string(baseline["endpoint"].GetString()), endpoint);
  }
  const auto& series = services["services"][static_cast<rapidjson::SizeType>(listed)];
  EXPECT_EQ(std::string(series["service_id"].GetString()), id);
  EXPECT_EQ(std::string(series["state"].GetString()), "DRIFT_DETECTED");
  EXPECT_EQ(series["sample_count"].GetInt(), 105);
  EXPECT_EQ(std::string(series["transition_timestamp"].GetString()),
            FormatTimestamp(timestamp(104)));

  // Recovery: 49 samples at the baseline's mean keep the drift; the 50th ends it. B stays as it
  // was (frozen in the drift), so each one's z is 0.
  auto state = [&] {
    return std::string(Json(server.Get(at("/v1/health/" + id)))["state"].GetString());
  };
  auto send_batch = [&](int from, int to, double latency) {
    std::vector<std::string> batch;
    for (int i = from; i < to; ++i) batch.push_back(sample(latency, timestamp(i)));
    return server.Post("/v1/telemetry/batch", BatchJson(batch)).status;
  };
  ASSERT_EQ(send_batch(105, 154, mean), 202);
  ASSERT_TRUE(wait_for(154));
  EXPECT_EQ(state(), "DRIFT_DETECTED");
  ASSERT_EQ(send_batch(154, 155, mean), 202);
  ASSERT_TRUE(wait_for(155));
  health = Json(server.Get(at("/v1/health/" + id)));
  EXPECT_EQ(std::string(health["state"].GetString()), "STABLE");
  EXPECT_EQ(std::string(health["transition_timestamp"].GetString()),
            FormatTimestamp(timestamp(154)));
  EXPECT_EQ(std::string(health["metadata"]["reason"].GetString()), "recovered");
  EXPECT_EQ(health["metadata"]["consecutive_normal"].GetInt(), 50);
  // Rule 2: nine samples of |z| 2.75 (moderate, not severe) keep it STABLE; the tenth is a drift.
  const double moderate = mean + 2.75 * stddev;
  ASSERT_EQ(send_batch(155, 164, moderate), 202);
  ASSERT_TRUE(wait_for(164));
  EXPECT_EQ(state(), "STABLE");
  ASSERT_EQ(send_batch(164, 165, moderate), 202);
  ASSERT_TRUE(wait_for(165));
  health = Json(server.Get(at("/v1/health/" + id)));
  EXPECT_EQ(std::string(health["state"].GetString()), "DRIFT_DETECTED");
  EXPECT_EQ(std::string(health["metadata"]["reason"].GetString()), "moderate_anomaly_rate");
  EXPECT_EQ(health["metadata"]["anomaly_count"].GetInt(), 10);
  EXPECT_EQ(health["metadata"]["window_size"].GetInt(), 20);
  EXPECT_NEAR(health["metadata"]["max_zscore"].GetDouble(), 2.75, 1e-9);
  events = Json(server.Get(at("/v1/events/" + id, "limit=2")));
  ASSERT_EQ(events["events"].Size(), 2u);
  EXPECT_EQ(std::string(events["events"][0]["reason"].GetString()), "moderate_anomaly_rate");
  EXPECT_EQ(events["events"][0]["sample_seq"].GetInt(), 165);
  EXPECT_EQ(std::string(events["events"][1]["reason"].GetString()), "recovered");
  EXPECT_EQ(events["events"][1]["sample_seq"].GetInt(), 155);

  // Reset: back to INSUFFICIENT_DATA, recorded as an event, the baseline forgotten.
  response = server.Post(at("/v1/baseline/" + id + "/reset"), "");
  ASSERT_EQ(response.status, 200) << response.body;
  rapidjson::Document reset = Json(response);
  EXPECT_EQ(std::string(reset["status"].GetString()), "reset");
  EXPECT_EQ(std::string(reset["service_id"].GetString()), id);
  EXPECT_EQ(std::string(reset["state"].GetString()), "INSUFFICIENT_DATA");
  health = Json(server.Get(at("/v1/health/" + id)));
  EXPECT_EQ(std::string(health["state"].GetString()), "INSUFFICIENT_DATA");
  EXPECT_TRUE(health["baseline"].IsNull());
  EXPECT_EQ(health["sample_count"].GetInt(), 165);
  missing = Json(server.Get(at("/v1/baseline/" + id)));
  EXPECT_EQ(std::string(missing["error"].GetString()), "no_baseline");
  EXPECT_EQ(missing["samples"].GetInt(), 0);
  events = Json(server.Get(at("/v1/events/" + id)));
  ASSERT_EQ(events["events"].Size(), 5u);
  EXPECT_EQ(std::string(events["events"][0]["reason"].GetString()), "reset");
  EXPECT_EQ(std::string(events["events"][0]["from_state"].GetString()), "DRIFT_DETECTED");
  EXPECT_EQ(std::string(events["events"][0]["to_state"].GetString()), "INSUFFICIENT_DATA");
}

// baseline.freeze_in_drift from the config file: unfrozen, the samples of a drift enter the
// baseline the API reports.
TEST(ApiServer, FreezeInDriftDecidesWhetherADriftRefreshesTheBaseline) {
  for (const bool freeze : {true, false}) {
    Server server(std::string("baseline:\n  min_samples: 10\n  refresh_every: 5\n") +
                  "  freeze_in_drift: " + (freeze ? "true" : "false") + "\n");
    ASSERT_TRUE(server.started());
    const std::string id = "freeze";
    std::vector<std::string> batch;
    for (int i = 0; i < 10; ++i) batch.push_back(SampleJson(id, i % 2 == 0 ? 90 : 110, kT0 + i));
    for (int i = 10; i < 20; ++i) batch.push_back(SampleJson(id, 1000, kT0 + i));
    ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(batch)).status, 202);
    ASSERT_TRUE(server.WaitForSampleCount(id, 20));
    // Samples 11 to 15 start the drift; 16 to 20 follow it.
    rapidjson::Document health = Json(server.Get("/v1/health/" + id));
    EXPECT_EQ(std::string(health["state"].GetString()), "DRIFT_DETECTED") << freeze;
    rapidjson::Document baseline = Json(server.Get("/v1/baseline/" + id));
    EXPECT_EQ(baseline["sample_count"].GetInt(), freeze ? 10 : 15) << freeze;
    EXPECT_DOUBLE_EQ(baseline["mean_latency"].GetDouble(), freeze ? 100.0 : 400.0) << freeze;
    EXPECT_EQ(std::string(baseline["last_updated"].GetString()),
              FormatTimestamp(kT0 + (freeze ? 9 : 19)))
        << freeze;
  }
}

// --- Endpoint series -----------------------------------------------------------------------

constexpr const char* kEndpointsOn = "series:\n  per_endpoint: true\n";

std::string EndpointSampleJson(const std::string& service_id, const std::string& endpoint,
                               double latency_ms, int64_t timestamp_ms) {
  std::string json = SampleJson(service_id, latency_ms, timestamp_ms);
  return json.insert(json.size() - 1, R"(,"endpoint":")" + endpoint + "\"");
}

std::string StateOf(Server& server, const std::string& path) {
  HttpResponse response = server.Get(path);
  if (response.status != 200) return "HTTP " + std::to_string(response.status);
  return Json(response)["state"].GetString();
}

// A slow endpoint drifting inside a mix dominated by a fast one: its own series sees it, its
// service's (a wide, two-humped baseline) does not.
TEST(ApiServer, AnEndpointDriftsWhileItsServiceMixStaysStable) {
  Server server(kEndpointsOn);
  ASSERT_TRUE(server.started());
  std::vector<std::string> batch;
  int64_t t = kT0;
  for (int i = 0; i < 120; ++i) {
    batch.push_back(EndpointSampleJson("shop", "GET /health", 10.0 + i % 3, t++));
    batch.push_back(EndpointSampleJson("shop", "GET /search", 100.0 + i % 3, t++));
  }
  for (int i = 0; i < 10; ++i) {  // /search slows by 30 %: 40 sigma of its own, < 2 of the mix
    batch.push_back(EndpointSampleJson("shop", "GET /health", 10.0 + i % 3, t++));
    batch.push_back(EndpointSampleJson("shop", "GET /search", 130.0, t++));
  }
  ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(batch)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("shop", 260));
  ASSERT_TRUE(Eventually(
      [&] {
        for (const char* endpoint : {"GET%20%2Fsearch", "GET%20%2Fhealth"}) {
          HttpResponse response = server.Get(std::string("/v1/health/shop?endpoint=") + endpoint);
          if (response.status != 200 || Json(response)["sample_count"].GetInt() != 130) {
            return false;
          }
        }
        return true;
      },
      kWaitDeadline));

  EXPECT_EQ(StateOf(server, "/v1/health/shop"), "STABLE");
  EXPECT_EQ(StateOf(server, "/v1/health/shop?endpoint=GET+%2Fhealth"), "STABLE");
  EXPECT_EQ(StateOf(server, "/v1/health/shop?endpoint=GET%20%2Fsearch"), "DRIFT_DETECTED");
  rapidjson::Document events = Json(server.Get("/v1/events/shop?endpoint=GET%20%2Fsearch"));
  EXPECT_STREQ(events["service_id"].GetString(), "shop");
  EXPECT_STREQ(events["endpoint"].GetString(), "GET /search");
  ASSERT_EQ(events["events"].Size(), 2u);
  EXPECT_STREQ(events["events"][0]["to_state"].GetString(), "DRIFT_DETECTED");
  EXPECT_EQ(events["events"][0]["sample_seq"].GetInt(), 125);  // its 5th slow sample
  events = Json(server.Get("/v1/events/shop"));
  ASSERT_EQ(events["events"].Size(), 1u);  // baseline_established only
  EXPECT_FALSE(events.HasMember("endpoint"));

  // Its stored samples are its own, in order (listed once committed).
  rapidjson::Document samples;
  ASSERT_TRUE(Eventually(
      [&] {
        samples = Json(server.Get("/v1/telemetry/shop?endpoint=GET%20%2Fsearch&after_seq=120"));
        return samples["samples"].Size() == 10;
      },
      kWaitDeadline));
  EXPECT_STREQ(samples["endpoint"].GetString(), "GET /search");
  ASSERT_EQ(samples["samples"].Size(), 10u);
  EXPECT_EQ(samples["samples"][0]["latency_ms"].GetDouble(), 130.0);
}

// series.max_endpoints_per_service: a service's further endpoints get no series of their own;
// their samples still feed the service and are counted.
TEST(ApiServer, EndpointSeriesAreCappedPerServiceAndTheRestCounted) {
  Server server(std::string(kEndpointsOn) + "  max_endpoints_per_service: 2\n");
  ASSERT_TRUE(server.started());
  std::vector<std::string> batch;
  for (const char* endpoint : {"/a", "/b", "/c", "/c", "/a", "/d"}) {
    batch.push_back(EndpointSampleJson("capped", endpoint, 10, kT0));
  }
  batch.push_back(EndpointSampleJson("other", "/c", 10, kT0));  // a cap per service
  ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(batch)).status, 202);
  ASSERT_EQ(server.Post("/v1/telemetry", EndpointSampleJson("capped", "/e", 10, kT0)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("capped", 7));
  ASSERT_TRUE(server.WaitForSampleCount("other", 1));

  rapidjson::Document services = Json(server.Get("/v1/services?endpoints=true"));
  std::vector<std::string> listed;
  for (const auto& series : services["services"].GetArray()) {
    listed.push_back(std::string(series["service_id"].GetString()) + " " +
                     (series.HasMember("endpoint") ? series["endpoint"].GetString() : "-"));
  }
  EXPECT_EQ(listed, (std::vector<std::string>{"capped -", "capped /a", "capped /b", "other -",
                                              "other /c"}));
  EXPECT_TRUE(Eventually(
      [&] {
        return Json(server.Get("/v1/health/capped?endpoint=%2Fa"))["sample_count"].GetInt() == 2;
      },
      kWaitDeadline));
  EXPECT_EQ(server.Get("/v1/health/capped?endpoint=%2Fc").status, 404);
  rapidjson::Document status = Json(server.Get("/v1/system/status"));
  const auto& limit = status["limits"]["max_endpoints_per_service"];
  EXPECT_EQ(limit["limit"].GetUint64(), 2u);
  EXPECT_EQ(limit["rejected"].GetUint64(), 4u);           // /c, /c, /d, /e
  EXPECT_EQ(status["samples_accepted"].GetUint64(), 8u);  // samples, not series updates
  EXPECT_TRUE(Eventually(
      [&] { return Json(server.Get("/v1/system/status"))["samples_processed"].GetUint64() == 8; },
      kWaitDeadline));
  EXPECT_EQ(Json(server.Get("/v1/services?endpoints=false"))["count"].GetInt(), 2);
  EXPECT_EQ(Json(server.Get("/v1/services?endpoints=true&service_id=other"))["count"].GetInt(), 2);
  EXPECT_EQ(server.Get("/v1/services?service_id=bad%20id").status, 422);
  HttpResponse bad = server.Get("/v1/services?endpoints=yes");
  EXPECT_EQ(bad.status, 422);
  EXPECT_STREQ(Json(bad)["field"].GetString(), "endpoints");

  // Forgetting an endpoint series frees its place under the cap: the next new endpoint takes it.
  ASSERT_EQ(Fetch(server.port(), "DELETE", "/v1/services/capped?endpoint=%2Fb").status, 200);
  ASSERT_EQ(server.Post("/v1/telemetry", EndpointSampleJson("capped", "/c", 10, kT0)).status, 202);
  EXPECT_TRUE(Eventually(
      [&] {
        HttpResponse c = server.Get("/v1/health/capped?endpoint=%2Fc");
        return c.status == 200 && Json(c)["sample_count"].GetInt() == 1;
      },
      kWaitDeadline));
  EXPECT_EQ(server.Get("/v1/health/capped?endpoint=%2Fb").status, 404);
  EXPECT_EQ(Json(server.Get("/v1/system/status"))["limits"]["max_endpoints_per_service"]["rejected"]
                .GetUint64(),
            4u);
}

// The global cap counts series: a new endpoint series past it is counted like one past its
// service's cap (its sample still feeds the service); a new service past it is refused (429).
TEST(ApiServer, TheServiceCapCountsEndpointSeries) {
  Server server(std::string(kEndpointsOn) + "ingest:\n  max_services: 3\n");
  ASSERT_TRUE(server.started());
  ASSERT_EQ(server.Post("/v1/telemetry", EndpointSampleJson("one", "/a", 10, kT0)).status, 202);
  ASSERT_EQ(server.Post("/v1/telemetry", EndpointSampleJson("two", "/a", 10, kT0)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("two", 1));
  ASSERT_EQ(server.Post("/v1/telemetry", EndpointSampleJson("one", "/b", 10, kT0)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("one", 2));
  EXPECT_EQ(server.Post("/v1/telemetry", SampleJson("three", 10)).status, 429);
  EXPECT_EQ(Json(server.Get("/v1/services?endpoints=true"))["count"].GetInt(), 3);
  rapidjson::Document status = Json(server.Get("/v1/system/status"));
  EXPECT_EQ(status["limits"]["max_endpoints_per_service"]["rejected"].GetUint64(), 2u);
}

// Retention purges an endpoint series' stored samples with its service's, whose rows they are
// (stored once, SQLite keeps them as tags): by the wall clock (the first step runs seconds after
// start), only what the snapshots of both series reflect; the service keeps its newest sample
// whatever its age, an endpoint series its snapshot (docs/behaviour.md, "Endpoint series" and
// "Storage"). What the series say is unchanged.
TEST(ApiServer, RetentionPurgesEndpointSeriesAsItPurgesServices) {
  Server server(std::string(kEndpointsOn) + "retention:\n  telemetry_days: 1\n");
  ASSERT_TRUE(server.started());
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::vector<std::string> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(EndpointSampleJson("svc", "/e", 10 + i, kT0 + i));
  for (int i = 0; i < 5; ++i) batch.push_back(EndpointSampleJson("svc", "/old", 20 + i, kT0 + i));
  for (int i = 0; i < 3; ++i) batch.push_back(EndpointSampleJson("svc", "/e", 30 + i, now + i));
  ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(batch)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("svc", 18));
  auto sample_count = [&](const std::string& query) {
    HttpResponse response = server.Get("/v1/health/svc" + query);
    return response.status == 200 ? Json(response)["sample_count"].GetInt() : -1;
  };
  ASSERT_TRUE(Eventually(
      [&] { return sample_count("?endpoint=%2Fe") == 13 && sample_count("?endpoint=%2Fold") == 5; },
      kWaitDeadline));
  // Retention deletes only samples a series' snapshot reflects: a reset writes one.
  for (const char* query : {"", "?endpoint=%2Fe", "?endpoint=%2Fold"}) {
    ASSERT_EQ(server.Post(std::string("/v1/baseline/svc/reset") + query, "").status, 200) << query;
  }
  // The seqs each series' stored samples have left.
  auto stored = [&](const std::string& path) {
    std::vector<int> seqs;
    HttpResponse response = server.Get(path);
    if (response.status != 200) return std::vector<int>{-response.status};
    const rapidjson::Document listed = Json(response);  // named: it must outlive the loop
    for (const auto& sample : listed["samples"].GetArray()) {
      seqs.push_back(sample["seq"].GetInt());
    }
    return seqs;
  };
  ASSERT_TRUE(Eventually(
      [&] {
        return stored("/v1/telemetry/svc") == std::vector<int>{16, 17, 18} &&
               stored("/v1/telemetry/svc?endpoint=%2Fe") == std::vector<int>{11, 12, 13} &&
               stored("/v1/telemetry/svc?endpoint=%2Fold").empty();
      },
      kWaitDeadline))
      << "svc: " << stored("/v1/telemetry/svc").size()
      << ", /e: " << stored("/v1/telemetry/svc?endpoint=%2Fe").size()
      << ", /old: " << stored("/v1/telemetry/svc?endpoint=%2Fold").size();
  // The status reads the store's count about once a second (docs/api.md): it may lag.
  EXPECT_TRUE(Eventually(
      [&] {
        const rapidjson::Document status = Json(server.Get("/v1/system/status"));
        return status["total_telemetry_records"].IsUint64() &&
               status["total_telemetry_records"].GetUint64() == 3;
      },
      kWaitDeadline));
  EXPECT_EQ(sample_count(""), 18);
  EXPECT_EQ(sample_count("?endpoint=%2Fe"), 13);
  EXPECT_EQ(sample_count("?endpoint=%2Fold"), 5);
}

// Endpoint series resume exactly after a graceful stop and after a SIGKILL (durable ingest), and
// a DELETE forgets one endpoint series, or a service with all of its own, for good.
TEST(ApiServer, EndpointSeriesResumeAfterARestartAndAreForgottenWithTheirService) {
  Server server(std::string(kEndpointsOn) + "ingest:\n  durable: true\n");
  ASSERT_TRUE(server.started());
  auto send = [&](int from, int to) {
    std::vector<std::string> batch;
    for (int i = from; i < to; ++i) {
      batch.push_back(EndpointSampleJson("svc", i % 2 == 0 ? "/even" : "/odd",
                                         100.0 + (i % 7) + (i % 2) * 50, kT0 + i));
    }
    return server.Post("/v1/telemetry/batch", BatchJson(batch)).status;
  };
  auto everything = [&] {
    std::string all;
    for (const char* path :
         {"/v1/services?endpoints=true", "/v1/baseline/svc?endpoint=%2Feven",
          "/v1/events/svc?endpoint=%2Fodd", "/v1/baseline/svc", "/v1/health/svc?endpoint=%2Fodd"}) {
      all += server.Get(path).body + "\n";
    }
    return all;
  };
  ASSERT_EQ(send(0, 300), 202);
  const std::string before_stop = everything();
  EXPECT_NE(before_stop.find(R"("state":"STABLE")"), std::string::npos) << before_stop;
  ASSERT_EQ(server.process().Stop(), 0);
  server.Start(std::string(kEndpointsOn) + "ingest:\n  durable: true\n");
  ASSERT_TRUE(server.started());
  EXPECT_EQ(everything(), before_stop);

  ASSERT_EQ(send(300, 420), 202);  // committed before the answer
  const std::string before_kill = everything();
  server.process().Signal(SIGKILL);
  server.process().WaitForExit(kWaitDeadline);
  server.Start(std::string(kEndpointsOn) + "ingest:\n  durable: true\n");
  ASSERT_TRUE(server.started());
  EXPECT_EQ(everything(), before_kill);

  ASSERT_EQ(Fetch(server.port(), "DELETE", "/v1/services/svc?endpoint=%2Fodd").status, 200);
  EXPECT_EQ(server.Get("/v1/health/svc?endpoint=%2Fodd").status, 404);
  EXPECT_EQ(server.Get("/v1/health/svc?endpoint=%2Feven").status, 200);
  ASSERT_EQ(Fetch(server.port(), "DELETE", "/v1/services/svc").status, 200);
  EXPECT_EQ(server.Get("/v1/health/svc?endpoint=%2Feven").status, 404);
  EXPECT_EQ(Json(server.Get("/v1/services?endpoints=true"))["count"].GetInt(), 0);
  ASSERT_EQ(server.process().Stop(), 0);
  server.Start(std::string(kEndpointsOn) + "ingest:\n  durable: true\n");
  ASSERT_TRUE(server.started());
  EXPECT_EQ(Json(server.Get("/v1/services?endpoints=true"))["count"].GetInt(), 0);
  EXPECT_EQ(Json(server.Get("/v1/system/status"))["total_telemetry_records"].GetUint64(), 0u);
}

// A reset with ?endpoint= resets that series alone; turned off, stored endpoint series are
// restored, readable and counted, but take no new samples; turned on again, they go on.
TEST(ApiServer, AnEndpointResetIsItsOwnAndSeriesTurnedOffStayAsTheyWere) {
  Server server(kEndpointsOn);
  ASSERT_TRUE(server.started());
  std::vector<std::string> batch;
  for (int i = 0; i < 240; ++i) {
    batch.push_back(EndpointSampleJson("svc", i % 2 == 0 ? "/a" : "/b", 100.0 + i % 5, kT0 + i));
  }
  ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(batch)).status, 202);
  auto count = [&](const std::string& path) {
    HttpResponse response = server.Get(path);
    return response.status == 200 ? Json(response)["sample_count"].GetInt() : -response.status;
  };
  ASSERT_TRUE(Eventually(
      [&] {
        return count("/v1/health/svc?endpoint=%2Fa") == 120 &&
               count("/v1/health/svc?endpoint=%2Fb") == 120 && count("/v1/health/svc") == 240;
      },
      kWaitDeadline));
  ASSERT_EQ(StateOf(server, "/v1/health/svc?endpoint=%2Fa"), "STABLE");

  ASSERT_EQ(server.Post("/v1/baseline/svc/reset?endpoint=%2Fa", "").status, 200);
  EXPECT_EQ(StateOf(server, "/v1/health/svc?endpoint=%2Fa"), "INSUFFICIENT_DATA");
  EXPECT_EQ(StateOf(server, "/v1/health/svc?endpoint=%2Fb"), "STABLE");
  EXPECT_EQ(StateOf(server, "/v1/health/svc"), "STABLE");
  rapidjson::Document events = Json(server.Get("/v1/events/svc?endpoint=%2Fa"));
  EXPECT_STREQ(events["events"][0]["reason"].GetString(), "reset");
  EXPECT_STREQ(Json(server.Get("/v1/events/svc"))["events"][0]["reason"].GetString(),
               "baseline_established");

  ASSERT_EQ(server.process().Stop(), 0);
  server.Start("");  // endpoint series off
  ASSERT_TRUE(server.started());
  const std::string b_before = server.Get("/v1/baseline/svc?endpoint=%2Fb").body;
  ASSERT_EQ(server.Post("/v1/telemetry", EndpointSampleJson("svc", "/b", 100, kT0 + 240)).status,
            202);
  ASSERT_TRUE(server.WaitForSampleCount("svc", 241));
  EXPECT_EQ(count("/v1/health/svc?endpoint=%2Fb"), 120);
  EXPECT_EQ(server.Get("/v1/baseline/svc?endpoint=%2Fb").body, b_before);
  EXPECT_EQ(Json(server.Get("/v1/system/status"))["services_monitored"].GetInt(), 3);

  ASSERT_EQ(server.process().Stop(), 0);
  server.Start(kEndpointsOn);
  ASSERT_TRUE(server.started());
  ASSERT_EQ(server.Post("/v1/telemetry", EndpointSampleJson("svc", "/b", 100, kT0 + 241)).status,
            202);
  EXPECT_TRUE(
      Eventually([&] { return count("/v1/health/svc?endpoint=%2Fb") == 121; }, kWaitDeadline));
  EXPECT_EQ(count("/v1/health/svc"), 242);
}

TEST(ApiServer, BadEndpointsAre422NamingTheField) {
  Server server(kEndpointsOn);
  ASSERT_TRUE(server.started());
  for (const std::string& endpoint :
       {std::string(R"("")"), "\"" + std::string(257, 'x') + "\"", std::string(R"("GET \u0001")"),
        std::string(R"("caf\u00e9")"), std::string("\"tab\\there\""), std::string("5")}) {
    const std::string body = R"({"service_id":"svc","latency_ms":1,"endpoint":)" + endpoint + "}";
    HttpResponse response = server.Post("/v1/telemetry", body);
    EXPECT_EQ(response.status, 422) << body;
    EXPECT_STREQ(Json(response)["field"].GetString(), "endpoint") << body;
    response = server.Post("/v1/telemetry/batch", "[" + SampleJson("svc", 1) + "," + body + "]");
    EXPECT_EQ(response.status, 422) << body;
    EXPECT_EQ(Json(response)["index"].GetInt(), 1) << body;
  }
  // 256 printable characters, and null (no endpoint), are fine.
  ASSERT_EQ(
      server.Post("/v1/telemetry", EndpointSampleJson("svc", std::string(256, '~'), 1, kT0)).status,
      202);
  ASSERT_EQ(
      server.Post("/v1/telemetry", R"({"service_id":"svc","latency_ms":1,"endpoint":null})").status,
      202);
  ASSERT_TRUE(server.WaitForSampleCount("svc", 2));
  EXPECT_EQ(Json(server.Get("/v1/services?endpoints=true"))["count"].GetInt(), 2);
  EXPECT_EQ(Json(server.Get("/v1/system/status"))["samples_accepted"].GetUint64(), 2u);

  // Every per-service path checks ?endpoint= alike: 422 naming it, or 404 for a series the service
  // does not have; none of them changes anything.
  const std::vector<std::pair<const char*, std::string>> paths = {
      {"GET", "/v1/health/svc"}, {"GET", "/v1/baseline/svc"},  {"POST", "/v1/baseline/svc/reset"},
      {"GET", "/v1/events/svc"}, {"GET", "/v1/telemetry/svc"}, {"DELETE", "/v1/services/svc"}};
  for (const auto& [method, path] : paths) {
    for (const std::string& query :
         {std::string("?endpoint="), std::string("?endpoint=%01"), std::string("?endpoint=%ZZ"),
          std::string("?endpoint=caf%C3%A9"), std::string("?endpoint=%7F"),
          "?endpoint=" + std::string(257, 'x')}) {
      HttpResponse response = Fetch(server.port(), method, path + query);
      EXPECT_EQ(response.status, 422) << method << " " << path << query;
      EXPECT_STREQ(Json(response)["field"].GetString(), "endpoint") << method << " " << path;
    }
    HttpResponse unknown = Fetch(server.port(), method, path + "?endpoint=%2Fnever");
    EXPECT_EQ(unknown.status, 404) << method << " " << path;
    EXPECT_NE(unknown.body.find("no endpoint series '/never' of service 'svc'"), std::string::npos)
        << method << " " << path << ": " << unknown.body;
  }
  EXPECT_EQ(Json(server.Get("/v1/services?endpoints=true"))["count"].GetInt(), 2);
  EXPECT_EQ(Json(server.Get("/v1/health/svc"))["sample_count"].GetInt(), 2);

  // Off (the default): endpoints are checked, then only the service's own series is kept.
  Server off;
  ASSERT_TRUE(off.started());
  ASSERT_EQ(off.Post("/v1/telemetry", EndpointSampleJson("svc", "/a", 1, kT0)).status, 202);
  ASSERT_EQ(
      off.Post("/v1/telemetry", R"({"service_id":"svc","latency_ms":1,"endpoint":""})").status,
      422);
  ASSERT_TRUE(off.WaitForSampleCount("svc", 1));
  HttpResponse unknown = off.Get("/v1/health/svc?endpoint=%2Fa");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("series.per_endpoint: false"), std::string::npos) << unknown.body;
}

// An endpoint may hold '+', '#', '%' and spaces: each is addressed by its percent-encoding ('+'
// in a query reads as a space), and the series is never reachable as a service id with a '#'.
TEST(ApiServer, AnEndpointIsAddressedByItsPercentEncodingOnly) {
  Server server(kEndpointsOn);
  ASSERT_TRUE(server.started());
  const std::string endpoint = "GET /a+b#c 100%";
  ASSERT_EQ(server.Post("/v1/telemetry", EndpointSampleJson("svc", endpoint, 10, kT0)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("svc", 1));
  const std::string encoded = "GET%20%2Fa%2Bb%23c%20100%25";
  ASSERT_TRUE(
      Eventually([&] { return server.Get("/v1/health/svc?endpoint=" + encoded).status == 200; },
                 kWaitDeadline));
  EXPECT_STREQ(Json(server.Get("/v1/health/svc?endpoint=" + encoded))["endpoint"].GetString(),
               endpoint.c_str());
  // '+' for the space, as forms send it: the same series.
  EXPECT_EQ(server.Get("/v1/health/svc?endpoint=GET+%2Fa%2Bb%23c+100%25").status, 200);
  // A literal '+' where the endpoint has one reads as a space: another endpoint, never seen.
  EXPECT_EQ(server.Get("/v1/health/svc?endpoint=GET%20%2Fa+b%23c%20100%25").status, 404);
  // A truncated escape is not an endpoint.
  HttpResponse truncated = server.Get("/v1/health/svc?endpoint=100%2");
  EXPECT_EQ(truncated.status, 422);
  EXPECT_STREQ(Json(truncated)["field"].GetString(), "endpoint");
  // The series key through the path is no service.
  HttpResponse alias = server.Get("/v1/health/svc%23" + encoded);
  EXPECT_EQ(alias.status, 404);
  EXPECT_NE(alias.body.find("no service 'svc#GET /a+b#c 100%'"), std::string::npos) << alias.body;
}

// --- Reads and errors ------------------------------------------------------------------------

TEST(ApiServer, UnknownOrImpossibleServicesAre404) {
  Server server;
  ASSERT_TRUE(server.started());
  ASSERT_EQ(server.Post("/v1/telemetry", SampleJson("ns:svc", 1)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("ns:svc", 1));
  EXPECT_EQ(server.Get("/v1/health/ns%3Asvc").status, 200);  // percent-encoded ':'

  for (const std::string& id :
       std::vector<std::string>{"ghost", "bad%20id", std::string(129, 'x'), "a%ZZ"}) {
    for (const std::string& path : {"/v1/health/" + id, "/v1/baseline/" + id, "/v1/events/" + id}) {
      HttpResponse response = server.Get(path);
      EXPECT_EQ(response.status, 404) << path;
      EXPECT_EQ(ErrorCode(response), "not_found") << path;
    }
    HttpResponse response = server.Post("/v1/baseline/" + id + "/reset", "");
    EXPECT_EQ(response.status, 404) << id;
    EXPECT_EQ(ErrorCode(response), "not_found") << id;
  }
}

// DELETE forgets a decommissioned service for good: its state, its samples, its events; a later
// sample of the id starts a new service, and a restart brings nothing of the old one back.
TEST(ApiServer, DeleteForgetsAServiceAndALaterSampleStartsItAnew) {
  Server server;
  ASSERT_TRUE(server.started());
  std::vector<std::string> items;
  for (int i = 0; i < 120; ++i) items.push_back(SampleJson("retired", 100.0 + i % 5, kT0 + i));
  ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(items)).status, 202);
  ASSERT_EQ(server.Post("/v1/telemetry", SampleJson("kept", 50.0)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("retired", 120));
  ASSERT_TRUE(server.WaitForSampleCount("kept", 1));

  HttpResponse response = Fetch(server.port(), "DELETE", "/v1/services/retired");
  ASSERT_EQ(response.status, 200) << response.body;
  rapidjson::Document json = Json(response);
  EXPECT_STREQ(json["status"].GetString(), "forgotten");
  EXPECT_STREQ(json["service_id"].GetString(), "retired");
  EXPECT_NE(server.process().Stderr().find("service 'retired' is forgotten"), std::string::npos);

  for (const char* path : {"/v1/health/retired", "/v1/baseline/retired", "/v1/events/retired"}) {
    EXPECT_EQ(server.Get(path).status, 404) << path;
  }
  response = Fetch(server.port(), "DELETE", "/v1/services/retired");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(ErrorCode(response), "not_found");
  response = Fetch(server.port(), "DELETE", "/v1/services/bad%20id");
  EXPECT_EQ(response.status, 404);
  response = server.Get("/v1/services/kept");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.Header("Allow"), "DELETE");
  json = Json(server.Get("/v1/services"));
  ASSERT_EQ(json["services"].Size(), 1u);
  EXPECT_STREQ(json["services"][0]["service_id"].GetString(), "kept");

  ASSERT_EQ(server.Post("/v1/telemetry", SampleJson("retired", 300.0)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("retired", 1));
  json = Json(server.Get("/v1/health/retired"));
  EXPECT_STREQ(json["state"].GetString(), "INSUFFICIENT_DATA");
  json = Json(server.Get("/v1/events/retired"));
  EXPECT_EQ(json["events"].Size(), 0u);

  ASSERT_EQ(server.process().Stop(), 0);
  server.Start();
  ASSERT_TRUE(server.started());
  EXPECT_EQ(server.SampleCount("retired"), 1);
  EXPECT_EQ(server.SampleCount("kept"), 1);
  json = Json(server.Get("/v1/system/status"));
  EXPECT_EQ(json["total_telemetry_records"].GetUint64(), 2u);
}

// A series sparser than min_samples per window_hours (one sample every 14.4 minutes by default)
// never gets a baseline: the 24 h eviction keeps its window short. The 404 says so.
TEST(ApiServer, ASparseSeriesIsToldWhyItHasNoBaseline) {
  Server server;
  ASSERT_TRUE(server.started());
  std::vector<std::string> batch;
  constexpr int64_t kHalfHourMs = 30 * 60 * 1000;
  for (int i = 0; i < 150; ++i)
    batch.push_back(SampleJson("sparse", 100 + i % 5, kT0 + i * kHalfHourMs));
  ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(batch)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("sparse", 150));
  const HttpResponse response = server.Get("/v1/baseline/sparse");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(ErrorCode(response), "no_baseline");
  const rapidjson::Document json = Json(response);
  EXPECT_LT(json["samples"].GetUint64(), 100u);
  EXPECT_GT(json["aged_out"].GetUint64(), 0u);
  EXPECT_NE(std::string(json["message"].GetString()).find("at least every 14.4 minutes"),
            std::string::npos)
      << response.body;

  // A dense series' 404 says only how many samples it still needs.
  ASSERT_EQ(server.Post("/v1/telemetry", SampleJson("dense", 1)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("dense", 1));
  const rapidjson::Document dense = Json(server.Get("/v1/baseline/dense"));
  EXPECT_FALSE(dense.HasMember("aged_out"));
}

TEST(ApiServer, EventLimitIsValidated) {
  Server server;
  ASSERT_TRUE(server.started());
  ASSERT_EQ(server.Post("/v1/telemetry", SampleJson("lim", 1)).status, 202);
  ASSERT_TRUE(server.WaitForSampleCount("lim", 1));
  for (const char* limit : {"0", "1001", "abc", "-1", "", "1.5", "99999"}) {
    HttpResponse response = server.Get(std::string("/v1/events/lim?limit=") + limit);
    EXPECT_EQ(response.status, 422) << limit;
    rapidjson::Document json = Json(response);
    EXPECT_EQ(std::string(json["field"].GetString()), "limit") << limit;
  }
  EXPECT_EQ(server.Get("/v1/events/lim?limit=1000").status, 200);
  EXPECT_EQ(server.Get("/v1/events/lim?limit=1").status, 200);
}

// --- Stored samples ------------------------------------------------------------------------

std::vector<uint64_t> Seqs(const rapidjson::Document& telemetry) {
  std::vector<uint64_t> seqs;
  for (const auto& sample : telemetry["samples"].GetArray())
    seqs.push_back(sample["seq"].GetUint64());
  return seqs;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> seqs;
  for (uint64_t seq = first; seq <= last; ++seq) seqs.push_back(seq);
  return seqs;
}

TEST(ApiServer, TelemetryListsTheStoredSamplesInOrderAPageAtATime) {
  Server server;
  ASSERT_TRUE(server.started());
  // 25 samples one second apart; the even ones carry a payload.
  std::vector<std::string> items;
  for (int i = 0; i < 25; ++i) {
    std::string item = SampleJson("tel", 100 + i, kT0 + i * 1000);
    if (i % 2 == 0) item.insert(item.size() - 1, R"(,"payload_kb":)" + std::to_string(i));
    items.push_back(item);
  }
  ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(items)).status, 202);
  // Listed once committed.
  ASSERT_TRUE(Eventually(
      [&] {
        HttpResponse response = server.Get("/v1/telemetry/tel");
        return response.status == 200 && Json(response)["samples"].Size() == 25;
      },
      kWaitDeadline));

  rapidjson::Document all = Json(server.Get("/v1/telemetry/tel"));
  EXPECT_EQ(std::string(all["service_id"].GetString()), "tel");
  EXPECT_EQ(Seqs(all), Range(1, 25));
  EXPECT_TRUE(all["next_after_seq"].IsNull());
  const rapidjson::Value& first = all["samples"][0];
  EXPECT_EQ(std::string(first["timestamp"].GetString()), FormatTimestamp(kT0));
  EXPECT_EQ(first["latency_ms"].GetDouble(), 100);
  EXPECT_EQ(first["payload_kb"].GetDouble(), 0);
  const rapidjson::Value& second = all["samples"][1];
  EXPECT_EQ(std::string(second["timestamp"].GetString()), FormatTimestamp(kT0 + 1000));
  EXPECT_EQ(second["latency_ms"].GetDouble(), 101);
  EXPECT_TRUE(second["payload_kb"].IsNull());

  // Pages: next_after_seq is the cursor, null on the last page.
  rapidjson::Document page = Json(server.Get("/v1/telemetry/tel?limit=10"));
  EXPECT_EQ(Seqs(page), Range(1, 10));
  ASSERT_TRUE(page["next_after_seq"].IsUint64());
  EXPECT_EQ(page["next_after_seq"].GetUint64(), 10u);
  page = Json(server.Get("/v1/telemetry/tel?limit=10&after_seq=10"));
  EXPECT_EQ(Seqs(page), Range(11, 20));
  EXPECT_EQ(page["next_after_seq"].GetUint64(), 20u);
  page = Json(server.Get("/v1/telemetry/tel?limit=10&after_seq=20"));
  EXPECT_EQ(Seqs(page), Range(21, 25));
  EXPECT_TRUE(page["next_after_seq"].IsNull());
  page = Json(server.Get("/v1/telemetry/tel?limit=5&after_seq=20"));  // exactly the rest
  EXPECT_EQ(Seqs(page), Range(21, 25));
  EXPECT_TRUE(page["next_after_seq"].IsNull());

  // since (inclusive) and until (exclusive), in any offset; paging within them.
  const std::string since = "2026-01-12T01:00:05%2B01:00";  // kT0 + 5 s
  const std::string until = FormatTimestamp(kT0 + 8000);
  EXPECT_EQ(Seqs(Json(server.Get("/v1/telemetry/tel?since=" + since + "&until=" + until))),
            Range(6, 8));
  page = Json(server.Get("/v1/telemetry/tel?since=" + since + "&limit=2"));
  EXPECT_EQ(Seqs(page), Range(6, 7));
  EXPECT_EQ(page["next_after_seq"].GetUint64(), 7u);
  page = Json(server.Get("/v1/telemetry/tel?since=" + since + "&limit=19&after_seq=7"));
  EXPECT_EQ(Seqs(page), Range(8, 25));
  EXPECT_TRUE(page["next_after_seq"].IsNull());
  EXPECT_EQ(Json(server.Get("/v1/telemetry/tel?until=" + FormatTimestamp(kT0)))["samples"].Size(),
            0u);

  // Bad bounds name the parameter.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"limit=0", "limit"},
      {"limit=10001", "limit"},
      {"limit=abc", "limit"},
      {"limit=", "limit"},
      {"since=yesterday", "since"},
      {"until=12/01/2026", "until"},
      {"after_seq=-1", "after_seq"},
      {"after_seq=x", "after_seq"},
      {"since=" + until + "&until=" + until, "until"},
  };
  for (const auto& [query, field] : bad) {
    HttpResponse response = server.Get("/v1/telemetry/tel?" + query);
    EXPECT_EQ(response.status, 422) << query;
    EXPECT_EQ(ErrorCode(response), "validation_failed") << query;
    rapidjson::Document json = Json(response);
    ASSERT_TRUE(json.HasMember("field")) << query;
    EXPECT_EQ(std::string(json["field"].GetString()), field) << query;
  }
  EXPECT_EQ(server.Get("/v1/telemetry/tel?limit=10000").status, 200);

  // Unknown and impossible services.
  EXPECT_EQ(ErrorCode(server.Get("/v1/telemetry/nobody")), "not_found");
  EXPECT_EQ(server.Get("/v1/telemetry/nobody").status, 404);
  EXPECT_EQ(server.Get("/v1/telemetry/has%20space").status, 404);
}

// --- The dashboard ---------------------------------------------------------------------------

const char* const kDashboardPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

TEST(ApiServer, TheDashboardIsServedFromTheBinaryUnderAStrictPolicy) {
  Server server;
  ASSERT_TRUE(server.started());
  HttpResponse root = server.Get("/");
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.Header("Location"), "/ui/");

  HttpResponse page = server.Get("/ui/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(page.Header("Content-Security-Policy"), kDashboardPolicy);
  EXPECT_EQ(page.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(page.Header("Cache-Control"), "no-cache");
  EXPECT_EQ(server.Get("/ui/index.html").body, page.body);
  // Scripts come from files only; nothing from another origin.
  for (size_t at = page.body.find("<script"); at != std::string::npos;
       at = page.body.find("<script", at + 1)) {
    const std::string tag = page.body.substr(at, page.body.find('>', at) - at);
    EXPECT_NE(tag.find(" src=\""), std::string::npos) << tag;
  }
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(page.body.find(" style=\""), std::string::npos);

  const std::vector<std::pair<std::string, std::string>> files = {
      {"app.js", "text/javascript; charset=utf-8"},
      {"app.css", "text/css; charset=utf-8"},
      {"uPlot.iife.min.js", "text/javascript; charset=utf-8"},
      {"uPlot.min.css", "text/css; charset=utf-8"},
  };
  for (const auto& [name, type] : files) {
    HttpResponse file = server.Get("/ui/" + name);
    EXPECT_EQ(file.status, 200) << name;
    EXPECT_EQ(file.Header("Content-Type"), type) << name;
    EXPECT_EQ(file.Header("Content-Security-Policy"), kDashboardPolicy) << name;
    EXPECT_EQ(file.Header("X-Content-Type-Options"), "nosniff") << name;
    EXPECT_GT(file.body.size(), 1000u) << name;
    EXPECT_NE(page.body.find("\"" + name + "\""), std::string::npos) << name << " is not used";
  }
  EXPECT_NE(server.Get("/ui/uPlot.iife.min.js").body.find("uPlot"), std::string::npos);

  HttpResponse head = Fetch(server.port(), "HEAD", "/ui/app.js");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.Header("Content-Type"), "text/javascript; charset=utf-8");

  HttpResponse missing = server.Get("/ui/secrets.txt");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(ErrorCode(missing), "not_found");
  EXPECT_EQ(server.Get("/ui/..%2Fdocs").status, 404);
  EXPECT_EQ(server.Get("/ui").status, 404);
  EXPECT_EQ(server.Post("/ui/", "").status, 405);
}

TEST(ApiServer, UnknownPathsAre404AndWrongMethods405WithAllow) {
  Server server;
  ASSERT_TRUE(server.started());
  HttpResponse response = server.Get("/v2/nothing");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(ErrorCode(response), "not_found");

  response = server.Get("/v1/telemetry");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(ErrorCode(response), "method_not_allowed");
  EXPECT_EQ(response.Header("Allow"), "POST");
  response = Fetch(server.port(), "DELETE", "/v1/services");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.Header("Allow"), "GET, HEAD");
  response = server.Post("/v1/health/x", "{}");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.Header("Allow"), "GET, HEAD");
}

TEST(ApiServer, SystemStatusCountsWhatWasStored) {
  Server server;
  ASSERT_TRUE(server.started());
  std::vector<std::string> samples;
  for (int i = 0; i < 30; ++i) samples.push_back(SampleJson(i % 2 ? "st-a" : "st-b", i));
  ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(samples)).status, 202);
  ASSERT_TRUE(Eventually(
      [&] {
        rapidjson::Document status = Json(server.Get("/v1/system/status"));
        return status["total_telemetry_records"].IsUint64() &&
               status["total_telemetry_records"].GetUint64() == 30;
      },
      kWaitDeadline));
  rapidjson::Document status = Json(server.Get("/v1/system/status"));
  EXPECT_EQ(std::string(status["status"].GetString()), "healthy");
  EXPECT_GE(status["uptime_seconds"].GetInt64(), 0);
  EXPECT_EQ(status["services_monitored"].GetInt(), 2);
  EXPECT_GT(status["database_size_mb"].GetDouble(), 0.0);
  EXPECT_EQ(std::string(status["version"].GetString()), DRIFTWATCH_VERSION);
  EXPECT_EQ(status["queue_capacity"].GetInt(), 65536);
  EXPECT_EQ(status["samples_accepted"].GetInt(), 30);
  EXPECT_EQ(status["rejected_queue_full"].GetInt(), 0);
  EXPECT_TRUE(status["storage_healthy"].GetBool());
  EXPECT_EQ(std::string(status["storage_plugin"].GetString()), "sqlite");
  std::set<std::string> plugins;
  for (const auto& plugin : status["plugins"].GetArray()) {
    plugins.insert(plugin["name"].GetString());
    EXPECT_NE(std::string(plugin["path"].GetString()).find(".so"), std::string::npos);
  }
  for (const char* name : {"sqlite", "zscore_severe", "moderate_window", "recovery"}) {
    EXPECT_EQ(plugins.count(name), 1u) << name;
  }

  rapidjson::Document services = Json(server.Get("/v1/services"));
  EXPECT_EQ(services["count"].GetInt(), 2);
  ASSERT_EQ(services["services"].Size(), 2u);
  EXPECT_EQ(std::string(services["services"][0]["service_id"].GetString()), "st-a");
  EXPECT_EQ(services["services"][0]["sample_count"].GetInt(), 15);
  EXPECT_EQ(std::string(services["services"][0]["state"].GetString()), "INSUFFICIENT_DATA");
  EXPECT_TRUE(services["services"][0]["transition_timestamp"].IsNull());
}

TEST(ApiServer, DocsAndOpenApiDescribeTheLiveRoutes) {
  Server server;
  ASSERT_TRUE(server.started());
  HttpResponse docs = server.Get("/docs");
  EXPECT_EQ(docs.status, 200);
  EXPECT_EQ(docs.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(docs.body.find("DriftWatch API"), std::string::npos);

  rapidjson::Document openapi = Json(server.Get("/openapi.json"));
  ASSERT_TRUE(openapi.IsObject());
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& path : openapi["paths"].GetObject()) {
    for (const auto& operation : path.value.GetObject()) {
      std::string method = operation.name.GetString();
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      documented.emplace(method, path.name.GetString());
      EXPECT_NE(docs.body.find(std::string("<code>") + path.name.GetString() + "</code>"),
                std::string::npos);
      // Every documented operation is served: no "no such path", no 405.
      std::string live = path.name.GetString();
      if (const size_t at = live.find("{service_id}"); at != std::string::npos) {
        live.replace(at, 12, "docs-probe");
      }
      if (const size_t at = live.find("{file}"); at != std::string::npos) {
        live.replace(at, 6, "app.js");
      }
      HttpResponse response = Fetch(server.port(), method, live, method == "POST" ? "{}" : "");
      EXPECT_NE(response.status, 405) << method << " " << live;
      EXPECT_EQ(response.body.find("no such path"), std::string::npos) << method << " " << live;
    }
  }
  std::set<std::pair<std::string, std::string>> registered;
  for (const api::RouteSpec& route : api::Routes()) {
    registered.emplace(std::string(route.method), std::string(route.path));
  }
  EXPECT_EQ(documented, registered);
}

// --- HTTP behaviour --------------------------------------------------------------------------

TEST(ApiServer, PlainHttp11ClientsKeepTheirConnection) {
  Server server;
  ASSERT_TRUE(server.started());
  RawConnection connection;
  ASSERT_TRUE(connection.Connect(server.port()));
  // No "Connection" header at all: HTTP/1.1 means keep-alive.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(connection.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    HttpResponse response;
    ASSERT_TRUE(connection.Read(&response)) << "request " << i;
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.Header("Connection") == "Keep-Alive" ||
                response.Header("Connection") == "keep-alive")
        << response.Header("Connection").value_or("(none)");
  }
  ASSERT_TRUE(connection.Send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  HttpResponse response;
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(connection.ClosedByServer());

  // HTTP/1.0: closed unless asked otherwise.
  ASSERT_TRUE(connection.Connect(server.port()));
  ASSERT_TRUE(connection.Send("GET /health HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(connection.ClosedByServer());
  ASSERT_TRUE(connection.Connect(server.port()));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(connection.Send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    ASSERT_TRUE(connection.Read(&response)) << "request " << i;
    EXPECT_EQ(response.status, 200);
  }
}

TEST(ApiServer, PipelinedRequestsAreEachAnsweredInOrder) {
  Server server;
  ASSERT_TRUE(server.started());
  const std::string pipeline =
      BuildRequest("POST", "/v1/telemetry", SampleJson("pipe", 1)) +
      BuildRequest("GET", "/health", "") +
      BuildRequest("POST", "/v1/telemetry/batch",
                   BatchJson({SampleJson("pipe", 2), SampleJson("pipe", 3)})) +
      BuildRequest("POST", "/v1/telemetry", R"({"service_id":"pipe","latency_ms":-1})") +
      BuildRequest("GET", "/v1/health/nobody", "") +
      BuildRequest("POST", "/v1/telemetry", SampleJson("pipe", 4));
  const std::vector<int> expected = {202, 200, 202, 422, 404, 202};

  // All in one write, then the same bytes dribbled in small pieces.
  for (size_t piece : {pipeline.size(), size_t{7}}) {
    RawConnection connection;
    ASSERT_TRUE(connection.Connect(server.port()));
    for (size_t at = 0; at < pipeline.size(); at += piece) {
      ASSERT_TRUE(connection.Send(std::string_view(pipeline).substr(at, piece)));
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      HttpResponse response;
      ASSERT_TRUE(connection.Read(&response)) << "response " << i << " (piece " << piece << ")";
      EXPECT_EQ(response.status, expected[i]) << "response " << i << ": " << response.body;
    }
  }
  // Every sample that was answered 202 was processed: 2 passes x 4 samples.
  EXPECT_TRUE(server.WaitForSampleCount("pipe", 8));
}

TEST(ApiServer, OversizedBodiesGet413AndTheConnectionCloses) {
  Server server;
  ASSERT_TRUE(server.started());
  constexpr size_t kLimit = 1024 * 1024;
  // Exactly at the limit is fine.
  std::string body = SampleJson("big", 1);
  body.resize(kLimit, ' ');
  HttpResponse response = server.Post("/v1/telemetry", body);
  EXPECT_EQ(response.status, 202) << response.body;

  RawConnection connection;
  ASSERT_TRUE(connection.Connect(server.port()));
  body.push_back(' ');
  // Refused from the headers alone, before the body is read.
  ASSERT_TRUE(connection.Send(
      BuildRequest("POST", "/v1/telemetry", body).substr(0, 200 /* headers only */)));
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 413);
  EXPECT_EQ(ErrorCode(response), "payload_too_large");
  EXPECT_EQ(response.Header("Connection"), "Close");
  EXPECT_TRUE(connection.ClosedByServer());
}

TEST(ApiServer, ExpectContinueGetsAnInterimAnswer) {
  Server server;
  ASSERT_TRUE(server.started());
  const std::string body = SampleJson("cont", 1);
  RawConnection connection;
  ASSERT_TRUE(connection.Connect(server.port()));
  ASSERT_TRUE(
      connection.Send("POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      "Content-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n"));
  HttpResponse response;
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 100);
  ASSERT_TRUE(connection.Send(body));
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 202);
}

TEST(ApiServer, ChunkedBodiesAreAccepted) {
  Server server;
  ASSERT_TRUE(server.started());
  RawConnection connection;
  ASSERT_TRUE(connection.Connect(server.port()));
  ASSERT_TRUE(
      connection.Send("POST /v1/telemetry HTTP/1.1\r\nHost: x\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "10\r\n{\"service_id\":\"c\r\n"
                      "15\r\nhunk\",\"latency_ms\":5}\r\n0\r\n\r\n"));
  HttpResponse response;
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 202) << response.body;
  EXPECT_TRUE(server.WaitForSampleCount("chunk", 1));
}

TEST(ApiServer, MalformedHttpGets4xxJsonAndTheConnectionCloses) {
  Server server;
  ASSERT_TRUE(server.started());
  const std::vector<std::tuple<std::string, int, std::string>> cases = {
      {"BREW /pot HTTP/1.1\r\n\r\n", 400, "bad_request"},
      {"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"},
      {"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n", 400, "bad_request"},
  };
  for (const auto& [request, status, code] : cases) {
    RawConnection connection;
    ASSERT_TRUE(connection.Connect(server.port()));
    ASSERT_TRUE(connection.Send(request));
    HttpResponse response;
    ASSERT_TRUE(connection.Read(&response)) << request;
    EXPECT_EQ(response.status, status) << request;
    EXPECT_EQ(ErrorCode(response), code) << request;
    EXPECT_TRUE(connection.ClosedByServer()) << request;
  }
}

TEST(ApiServer, SlowClientsAreCutOffAndIdleConnectionsClosed) {
  Server server("server:\n  header_timeout_ms: 2000\n  body_timeout_ms: 2000\n");
  ASSERT_TRUE(server.started());
  RawConnection slow;
  ASSERT_TRUE(slow.Connect(server.port()));
  ASSERT_TRUE(slow.Send("GET /health HTTP/1.1\r\nHo"));
  HttpResponse response;
  ASSERT_TRUE(slow.Read(&response));
  EXPECT_EQ(response.status, 408);
  EXPECT_EQ(ErrorCode(response), "request_timeout");
  EXPECT_TRUE(slow.ClosedByServer());

  // A kept-alive connection that was idle for longer than the header timeout, then sends a
  // request in two parts within it, is answered: the header timeout counts from the request's
  // first byte, not from the previous answer. (Timeouts are checked ten times a second, so
  // the pause between the parts spans many checks.) The sleeps are the scenario.
  RawConnection idle;
  ASSERT_TRUE(idle.Connect(server.port()));
  ASSERT_TRUE(idle.Send(BuildRequest("GET", "/health", "")));
  ASSERT_TRUE(idle.Read(&response));
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  ASSERT_TRUE(idle.Send("GET /health HTTP/1.1\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  ASSERT_TRUE(idle.Send("Host: x\r\n\r\n"));
  ASSERT_TRUE(idle.Read(&response));
  EXPECT_EQ(response.status, 200);

  Server short_keepalive("server:\n  keepalive_timeout_ms: 200\n");
  ASSERT_TRUE(short_keepalive.started());
  ASSERT_TRUE(idle.Connect(short_keepalive.port()));
  ASSERT_TRUE(idle.Send(BuildRequest("GET", "/health", "")));
  ASSERT_TRUE(idle.Read(&response));
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(idle.ClosedByServer());
}

// --- Overload, shutdown, start-up ------------------------------------------------------------

TEST(ApiServer, FullQueueAnswers503WithRetryAfterAndAcceptsNothing) {
  Server server("ingest:\n  queue_capacity: 1\n");
  ASSERT_TRUE(server.started());
  std::vector<std::string> batch;
  for (int i = 0; i < 50; ++i) batch.push_back(SampleJson("full", i));
  HttpResponse response = server.Post("/v1/telemetry/batch", BatchJson(batch));
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.Header("Retry-After"), "1");
  EXPECT_EQ(ErrorCode(response), "overloaded");
  EXPECT_EQ(server.Get("/v1/health/full").status, 404);  // nothing of it was taken

  rapidjson::Document status = Json(server.Get("/v1/system/status"));
  EXPECT_EQ(status["queue_capacity"].GetInt(), 1);
  EXPECT_GE(status["rejected_queue_full"].GetInt(), 1);
  EXPECT_EQ(status["samples_accepted"].GetInt(), 0);

  // One sample fits once the queue has room.
  EXPECT_TRUE(
      Eventually([&] { return server.Post("/v1/telemetry", SampleJson("full", 1)).status == 202; },
                 kWaitDeadline));
  EXPECT_TRUE(server.WaitForSampleCount("full", 1));
}

TEST(ApiServer, GracefulShutdownStoresEveryAcceptedSample) {
  Server server;
  ASSERT_TRUE(server.started());
  constexpr int kBatches = 20;
  constexpr int kBatchSize = 1000;
  const std::vector<std::string> services = {"sd-a", "sd-b", "sd-c", "sd-d"};
  for (int b = 0; b < kBatches; ++b) {
    std::vector<std::string> batch;
    for (int i = 0; i < kBatchSize; ++i) {
      batch.push_back(SampleJson(services[i % services.size()], 100 + i % 7,
                                 kT0 + int64_t{b} * kBatchSize + i));
    }
    ASSERT_EQ(server.Post("/v1/telemetry/batch", BatchJson(batch)).status, 202);
  }
  // Straight after the last 202, with samples most likely still queued.
  ASSERT_TRUE(server.process().Signal(SIGTERM));
  std::optional<int> code = server.process().WaitForExit();
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << server.process().Stderr();
  EXPECT_NE(server.process().Stdout().find("stopped"), std::string::npos);

  server.Start();  // same database
  ASSERT_TRUE(server.started());
  for (const std::string& service : services) {
    EXPECT_EQ(server.SampleCount(service), kBatches * kBatchSize / 4) << service;
  }
  EXPECT_TRUE(Eventually(
      [&] {
        rapidjson::Document status = Json(server.Get("/v1/system/status"));
        return status["total_telemetry_records"].IsUint64() &&
               status["total_telemetry_records"].GetUint64() == kBatches * kBatchSize;
      },
      kWaitDeadline));
  ASSERT_TRUE(server.process().Signal(SIGINT));
  code = server.process().WaitForExit();
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << server.process().Stderr();
}

TEST(ApiServer, ThePortInUseIsReportedClearly) {
  Server first;
  ASSERT_TRUE(first.started());
  TestDir dir;
  const std::string port = std::to_string(first.port());
  RunResult second = RunServiceToExit(
      {"--host", "127.0.0.1", "--port", port, "--db", dir.File("second.db")}, dir.File("second"));
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("driftwatch: cannot listen on 127.0.0.1:" + port +
                            ": address already in use"),
            std::string::npos)
      << second.err;
  EXPECT_EQ(first.Get("/health").status, 200);  // the first one is unharmed
}

TEST(ApiServer, ADatabaseInUseIsReportedClearly) {
  Server first;
  ASSERT_TRUE(first.started());
  const std::string db = first.dir().File("driftwatch.db");
  RunResult second = RunServiceToExit({"--host", "127.0.0.1", "--port", "0", "--db", db},
                                      first.dir().File("second"));
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("'" + db + "' is in use by another DriftWatch process"),
            std::string::npos)
      << second.err;
  EXPECT_EQ(first.Post("/v1/telemetry", R"({"service_id": "a", "latency_ms": 5})").status, 202);
}

TEST(ApiServer, CommandLine) {
  TestDir dir;
  RunResult help = RunServiceToExit({"--help"}, dir.File("help"));
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out.rfind("Usage: driftwatch", 0), 0u) << help.out;
  EXPECT_NE(help.out.find("--plugin-dir"), std::string::npos);

  RunResult version = RunServiceToExit({"--version"}, dir.File("version"));
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, std::string("driftwatch ") + DRIFTWATCH_VERSION + "\n");

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--bogus"}, {"--port", "70000"}, {"--port"}, {"--port", "8x"}, {"extra"}}) {
    RunResult usage = RunServiceToExit(args, dir.File("usage"));
    EXPECT_EQ(usage.exit_code, 2) << args[0];
    EXPECT_NE(usage.err.find("driftwatch: "), std::string::npos) << usage.err;
  }

  const std::string db = dir.File("cli.db");
  RunResult missing_config = RunServiceToExit(
      {"--port", "0", "--db", db, "--config", dir.File("nope.yaml")}, dir.File("cfg"));
  EXPECT_EQ(missing_config.exit_code, 1);
  EXPECT_NE(missing_config.err.find("nope.yaml"), std::string::npos) << missing_config.err;

  RunResult missing_dir = RunServiceToExit(
      {"--port", "0", "--db", db, "--plugin-dir", dir.File("no-such-dir")}, dir.File("dir"));
  EXPECT_EQ(missing_dir.exit_code, 1);
  EXPECT_NE(missing_dir.err.find("no-such-dir"), std::string::npos) << missing_dir.err;
}

TEST(ApiServer, TokensProtectTheApiWhenConfigured) {
  Server server("server:\n  auth_tokens: [s3cret]\n");
  ASSERT_TRUE(server.started());
  HttpResponse response = server.Get("/v1/services");
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(ErrorCode(response), "unauthorized");
  EXPECT_EQ(response.Header("WWW-Authenticate"), "Bearer realm=\"driftwatch\"");
  EXPECT_EQ(server.Post("/v1/telemetry", SampleJson("auth", 1)).status, 401);
  EXPECT_EQ(server.Get("/v1/services", "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(server.Get("/v1/services", "Authorization: Bearer s3cret\r\n").status, 200);
  EXPECT_EQ(server.Post("/v1/telemetry", SampleJson("auth", 1), "Authorization: Bearer s3cret\r\n")
                .status,
            202);
  EXPECT_EQ(server.Get("/health").status, 200);
  EXPECT_EQ(server.Get("/docs").status, 401);  // only GET /health and the dashboard's files
  EXPECT_EQ(server.Get("/docs", "Authorization: Bearer s3cret\r\n").status, 200);
  // The dashboard's files hold no data: a browser loads them, then asks for a token.
  EXPECT_EQ(server.Get("/").status, 302);
  EXPECT_EQ(server.Get("/ui/").status, 200);
  EXPECT_EQ(server.Get("/ui/app.js").status, 200);
  EXPECT_EQ(server.Get("/ui/nothing.js").status, 404);
  EXPECT_EQ(server.Get("/v1/telemetry/auth").status, 401);
}

}  // namespace
}  // namespace driftwatch::testing
