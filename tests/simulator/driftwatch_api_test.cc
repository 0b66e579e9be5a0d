// The simulator's DriftWatch API calls (and its retries on 503), through the tools' HTTP client
// against a scripted server on a real loopback socket.
#include "simulator/driftwatch_api.h"

#include <gtest/gtest.h>

#include "tests/support/scripted_http_server.h"

namespace driftwatch::sim {
namespace {

using http::HttpClient;
using http::HttpResponse;
using testing::TestHttpServer;

http::Url MustParse(const std::string& text) {
  http::Url url;
  const Status parsed = http::ParseUrl(text, &url);
  EXPECT_TRUE(parsed.ok()) << parsed.message();
  return url;
}

Telemetry At(double latency_ms, int64_t timestamp_ms) { return {latency_ms, 2.5, timestamp_ms}; }

TEST(DriftWatchApiTest, PostsOneSampleAloneAndSeveralAsABatch) {
  TestHttpServer server({{202, R"({"status":"accepted"})"}});
  HttpClient client(MustParse(server.url()));
  DriftWatchApi api(&client, "svc-1");
  ASSERT_TRUE(api.Send(std::vector<Telemetry>{At(150.5, 1768213845123)}).ok());
  ASSERT_TRUE(api.Send(std::vector<Telemetry>{At(1, 0), At(2, 100)}).ok());
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].head.substr(0, 25), "POST /v1/telemetry HTTP/1");
  EXPECT_EQ(requests[0].body, R"({"service_id":"svc-1","latency_ms":150.5,"payload_kb":2.5,)"
                              R"("timestamp":"2026-01-12T10:30:45.123Z"})");
  EXPECT_EQ(requests[1].head.substr(0, 31), "POST /v1/telemetry/batch HTTP/1");
  EXPECT_EQ(requests[1].body, R"([{"service_id":"svc-1","latency_ms":1.0,"payload_kb":2.5,)"
                              R"("timestamp":"1970-01-01T00:00:00.000Z"},)"
                              R"({"service_id":"svc-1","latency_ms":2.0,"payload_kb":2.5,)"
                              R"("timestamp":"1970-01-01T00:00:00.100Z"}])");
}

TEST(DriftWatchApiTest, ResendsTheSameSampleAfterA503AsRetryAfterSays) {
  TestHttpServer server({{503, R"({"error":"queue full"})", {"Retry-After: 2"}},
                         {503, R"({"error":"queue full"})"},
                         {202, R"({"status":"accepted"})"}});
  HttpClient client(MustParse(server.url()));
  std::vector<std::chrono::milliseconds> waits;
  DriftWatchApi api(&client, "svc", [&](std::chrono::milliseconds wait) { waits.push_back(wait); });
  ASSERT_TRUE(api.Send(std::vector<Telemetry>{At(1, 0)}).ok());
  // Retry-After: 2 means two seconds; no Retry-After means the default second.
  ASSERT_EQ(waits.size(), 2u);
  EXPECT_EQ(waits[0], std::chrono::milliseconds(2000));
  EXPECT_EQ(waits[1], std::chrono::milliseconds(1000));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].body, requests[0].body);
  EXPECT_EQ(requests[2].body, requests[0].body);
  EXPECT_EQ(api.overload_answers(), 2);
  EXPECT_EQ(api.resent_samples(), 2);
  EXPECT_EQ(server.connections(), 1);
}

TEST(DriftWatchApiTest, ABatchRefusedWith503IsResentInHalvesInOrder) {
  TestHttpServer server(
      {{503, "{}", {"Retry-After: 1"}}, {202, "{}"}, {503, "{}", {"Retry-After: 1"}}, {202, "{}"}});
  HttpClient client(MustParse(server.url()));
  int waits = 0;
  DriftWatchApi api(&client, "svc", [&](std::chrono::milliseconds) { ++waits; });
  const std::vector<Telemetry> samples = {At(1, 0), At(2, 100), At(3, 200), At(4, 300)};
  ASSERT_TRUE(api.Send(samples).ok());
  // [1 2 3 4] refused; [1 2] accepted; [3 4] refused; then [3] and [4] (the last answer repeats).
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(requests[0].body, TelemetryJson("svc", samples, true));
  EXPECT_EQ(requests[1].body, TelemetryJson("svc", {samples.begin(), samples.begin() + 2}, true));
  EXPECT_EQ(requests[2].body, TelemetryJson("svc", {samples.begin() + 2, samples.end()}, true));
  EXPECT_EQ(requests[3].body,
            TelemetryJson("svc", {samples.begin() + 2, samples.begin() + 3}, false));
  EXPECT_EQ(requests[4].body, TelemetryJson("svc", {samples.begin() + 3, samples.end()}, false));
  EXPECT_EQ(waits, 2);
  EXPECT_EQ(api.resent_samples(), 6);
}

TEST(DriftWatchApiTest, GivesUpOnlyAfterManyOverloadsInARow) {
  TestHttpServer server({{503, "{}", {"Retry-After: 0"}}});
  HttpClient client(MustParse(server.url()));
  int waits = 0;
  DriftWatchApi api(&client, "svc", [&](std::chrono::milliseconds) { ++waits; });
  const Status status = api.Send(std::vector<Telemetry>{At(1, 0)});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("503"), std::string::npos) << status.message();
  EXPECT_EQ(waits, DriftWatchApi::kMaxOverloadRetries);
  EXPECT_EQ(server.requests().size(), static_cast<size_t>(DriftWatchApi::kMaxOverloadRetries + 1));
}

TEST(DriftWatchApiTest, RetryAfterIsReadAsSecondsAndBounded) {
  HttpResponse response;
  EXPECT_EQ(RetryAfter(response), DriftWatchApi::kDefaultRetryAfter);
  response.headers = {{"retry-after", "5"}};
  EXPECT_EQ(RetryAfter(response), std::chrono::seconds(5));
  response.headers = {{"retry-after", "0"}};
  EXPECT_EQ(RetryAfter(response), std::chrono::seconds(0));
  response.headers = {{"retry-after", "3600"}};
  EXPECT_EQ(RetryAfter(response), DriftWatchApi::kMaxRetryAfter);
  response.headers = {{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}};
  EXPECT_EQ(RetryAfter(response), DriftWatchApi::kDefaultRetryAfter);
}

TEST(DriftWatchApiTest, OtherRefusalsAreErrorsThatQuoteTheServer) {
  TestHttpServer server(
      {{429, R"({"error":"too many services"})"}, {422, R"({"error":"latency_ms must be >= 0"})"}});
  HttpClient client(MustParse(server.url()));
  DriftWatchApi api(&client, "svc", [](std::chrono::milliseconds) { FAIL() << "no wait"; });
  Status status = api.Send(std::vector<Telemetry>{At(1, 0)});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("429"), std::string::npos);
  EXPECT_NE(status.message().find("too many services"), std::string::npos);
  status = api.Send(std::vector<Telemetry>{At(-1, 0)});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("422: {\"error\":\"latency_ms must be >= 0\"}"),
            std::string::npos)
      << status.message();
}

TEST(DriftWatchApiTest, ReadsHealthAndKnowsAnUnknownService) {
  TestHttpServer server(
      {{404, R"({"error":"unknown service"})"},
       {200, R"({"service_id":"svc","state":"DRIFT_DETECTED","sample_count":275,)"
             R"("transition_timestamp":"2026-01-12T10:30:45.123Z","baseline":{"mean_latency":150},)"
             R"("metadata":{"reason":"consecutive_severe_anomalies","max_zscore":14.2}})"}});
  HttpClient client(MustParse(server.url()));
  DriftWatchApi api(&client, "svc");
  Health health;
  ASSERT_TRUE(api.GetHealth(&health).ok());
  EXPECT_FALSE(health.known);
  EXPECT_EQ(health.sample_count, 0);
  ASSERT_TRUE(api.GetHealth(&health).ok());
  EXPECT_TRUE(health.known);
  EXPECT_EQ(health.state, "DRIFT_DETECTED");
  EXPECT_EQ(health.sample_count, 275);
  EXPECT_EQ(health.transition_timestamp, "2026-01-12T10:30:45.123Z");
  EXPECT_EQ(health.metadata_json, R"({"reason":"consecutive_severe_anomalies","max_zscore":14.2})");
  EXPECT_EQ(server.requests()[0].head.substr(0, 27), "GET /v1/health/svc HTTP/1.1");
}

TEST(DriftWatchApiTest, ReadsEventsWithTheirSampleNumbers) {
  TestHttpServer server(
      {{200,
        R"({"service_id":"svc","events":[)"
        R"({"from_state":"STABLE","to_state":"DRIFT_DETECTED","reason":"consecutive_severe_anomalies",)"
        R"("metadata":{"consecutive_count":5},"timestamp":"2026-01-12T10:30:45.123Z","sample_seq":275},)"
        R"({"from_state":"INSUFFICIENT_DATA","to_state":"STABLE","reason":"baseline_established",)"
        R"("metadata":{},"timestamp":"2026-01-12T10:30:20.000Z","sample_seq":100}]})"},
       {200, "not json"}});
  HttpClient client(MustParse(server.url()));
  DriftWatchApi api(&client, "svc");
  std::vector<DriftEvent> events;
  ASSERT_TRUE(api.GetEvents(50, &events).ok());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].to_state, "DRIFT_DETECTED");
  EXPECT_EQ(events[0].sample_seq, 275);
  EXPECT_EQ(events[0].metadata_json, R"({"consecutive_count":5})");
  EXPECT_EQ(events[1].reason, "baseline_established");
  EXPECT_EQ(events[1].sample_seq, 100);
  EXPECT_EQ(server.requests()[0].head.substr(0, 34), "GET /v1/events/svc?limit=50 HTTP/1");
  const Status garbage = api.GetEvents(50, &events);
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.message().find("not a JSON object"), std::string::npos);
}

}  // namespace
}  // namespace driftwatch::sim
