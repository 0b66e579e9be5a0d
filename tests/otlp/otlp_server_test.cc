// POST /v1/traces and /v1/metrics end to end (docs/opentelemetry.md): the real `driftwatch`
// binary on a free loopback port, OTLP requests built with the generated protobuf messages or
// written as OTLP JSON, and what the service then shows. Every wait polls with a deadline.
#include <gtest/gtest.h>
#include <otlp.pb.h>
#include <rapidjson/document.h>
#include <zlib.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/timestamp.h"
#include "tests/support/eventually.h"
#include "tests/support/http_test_client.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

namespace pb = driftwatch::otlp;

constexpr auto kWaitDeadline = std::chrono::seconds(60);
constexpr const char* kProtobuf = "Content-Type: application/x-protobuf\r\n";
constexpr const char* kJson = "Content-Type: application/json\r\n";

class Server {
 public:
  explicit Server(const std::string& config_yaml = "") {
    process_ = std::make_unique<ServerProcess>(dir_.File("driftwatch"));
    std::vector<std::string> args = {"--host", "127.0.0.1", "--port",
                                     "0",      "--db",      dir_.File("driftwatch.db")};
    if (!config_yaml.empty()) {
      std::ofstream(dir_.File("config.yaml")) << config_yaml;
      args.push_back("--config");
      args.push_back(dir_.File("config.yaml"));
    }
    std::string error;
    started_ = process_->Start(args, &error);
    EXPECT_TRUE(started_) << error;
  }
  bool started() const { return started_; }

  HttpResponse Post(const std::string& path, const std::string& body, const std::string& headers) {
    return Fetch(process_->port(), "POST", path, body, headers);
  }
  HttpResponse GetResponse(const std::string& path) { return Fetch(process_->port(), "GET", path); }
  rapidjson::Document Get(const std::string& path) {
    rapidjson::Document document;
    const HttpResponse response = GetResponse(path);
    document.Parse(response.body.c_str());
    return document;
  }
  int64_t SampleCount(const std::string& service_id) {
    rapidjson::Document health = Get("/v1/health/" + service_id);
    return health.IsObject() && health.HasMember("sample_count") ? health["sample_count"].GetInt64()
                                                                 : -1;
  }
  bool WaitForSampleCount(const std::string& service_id, int64_t count) {
    return Eventually([&] { return SampleCount(service_id) == count; }, kWaitDeadline);
  }
  std::string State(const std::string& service_id) {
    rapidjson::Document health = Get("/v1/health/" + service_id);
    return health.IsObject() && health.HasMember("state") ? health["state"].GetString() : "";
  }

 private:
  TestDir dir_;
  std::unique_ptr<ServerProcess> process_;
  bool started_ = false;
};

uint64_t NowNs() { return static_cast<uint64_t>(NowMs()) * 1'000'000; }

// One resource with `latencies_ms.size()` SERVER spans, ending one millisecond apart from `end_ns`
// back in time.
void AddSpans(pb::ExportTraceServiceRequest* request, const std::string& service,
              const std::vector<double>& latencies_ms, uint64_t end_ns) {
  pb::ResourceSpans* resource_spans = request->add_resource_spans();
  pb::KeyValue* name = resource_spans->mutable_resource()->add_attributes();
  name->set_key("service.name");
  name->mutable_value()->set_string_value(service);
  pb::ScopeSpans* scope = resource_spans->add_scope_spans();
  for (size_t i = 0; i < latencies_ms.size(); ++i) {
    pb::Span* span = scope->add_spans();
    span->set_kind(pb::Span::SPAN_KIND_SERVER);
    const uint64_t end = end_ns - (latencies_ms.size() - i) * 1'000'000;
    span->set_end_time_unix_nano(end);
    span->set_start_time_unix_nano(end - static_cast<uint64_t>(latencies_ms[i] * 1e6));
  }
}

// A SERVER span's latency and its http.route: none when nullopt (the attribute is left out).
struct RoutedSpan {
  std::optional<std::string> route;
  double latency_ms;
};

// AddSpans, each span with its http.route attribute, if any.
void AddRoutedSpans(pb::ExportTraceServiceRequest* request, const std::string& service,
                    const std::vector<RoutedSpan>& spans, uint64_t end_ns) {
  std::vector<double> latencies;
  for (const RoutedSpan& span : spans) latencies.push_back(span.latency_ms);
  AddSpans(request, service, latencies, end_ns);
  pb::ScopeSpans* scope =
      request->mutable_resource_spans(request->resource_spans_size() - 1)->mutable_scope_spans(0);
  for (size_t i = 0; i < spans.size(); ++i) {
    if (!spans[i].route) continue;
    pb::KeyValue* route = scope->mutable_spans(static_cast<int>(i))->add_attributes();
    route->set_key("http.route");
    route->mutable_value()->set_string_value(*spans[i].route);
  }
}

// Every byte but the unreserved ones as %XX, for ?endpoint=.
std::string PercentEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out += {'%', kHex[byte >> 4], kHex[byte & 0xF]};
    }
  }
  return out;
}

std::string Gzip(const std::string& data) {
  z_stream stream{};
  deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

TEST(OtlpServer, ProtobufSpansOfTwoServicesBecomeTheirSamples) {
  Server server;
  ASSERT_TRUE(server.started());
  pb::ExportTraceServiceRequest request;
  AddSpans(&request, "checkout", {100, 200, 300}, NowNs());
  AddSpans(&request, "payments", {50, 50}, NowNs());
  const HttpResponse response = server.Post("/v1/traces", request.SerializeAsString(), kProtobuf);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("Content-Type"), "application/x-protobuf");
  pb::ExportTraceServiceResponse answer;
  ASSERT_TRUE(answer.ParseFromString(response.body));
  EXPECT_FALSE(answer.has_partial_success());  // all accepted
  EXPECT_TRUE(server.WaitForSampleCount("checkout", 3));
  EXPECT_TRUE(server.WaitForSampleCount("payments", 2));
}

TEST(OtlpServer, JsonSpansWithARejectedOneAnswerPartialSuccess) {
  Server server;
  ASSERT_TRUE(server.started());
  const std::string end = std::to_string(NowNs());
  const std::string start = std::to_string(NowNs() - 120'000'000);
  const std::string body =
      R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},)"
      R"("scopeSpans":[{"spans":[{"kind":2,"startTimeUnixNano":")" +
      start + R"(","endTimeUnixNano":")" + end + R"("},{"kind":2,"startTimeUnixNano":")" + end +
      R"(","endTimeUnixNano":")" + start + R"("}]}]}]})";
  const HttpResponse response = server.Post("/v1/traces", body, kJson);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("Content-Type"), "application/json");
  rapidjson::Document answer;
  answer.Parse(response.body.c_str());
  ASSERT_TRUE(answer.IsObject()) << response.body;
  EXPECT_STREQ(answer["partialSuccess"]["rejectedSpans"].GetString(), "1");
  EXPECT_NE(std::string(answer["partialSuccess"]["errorMessage"].GetString()).find("ends before"),
            std::string::npos);
  EXPECT_TRUE(server.WaitForSampleCount("web", 1));
  EXPECT_EQ(server.Get("/v1/health/web")["sample_count"].GetInt(), 1);
}

TEST(OtlpServer, RefusalsUseTheOtlpStatusCodesAndChangeNothing) {
  Server server("server:\n  max_request_bytes: 65536\n");
  ASSERT_TRUE(server.started());
  pb::ExportTraceServiceRequest request;
  AddSpans(&request, "refused", {10}, NowNs());
  const std::string good = request.SerializeAsString();

  HttpResponse response = server.Post("/v1/traces", good, "Content-Type: text/plain\r\n");
  EXPECT_EQ(response.status, 415);
  response = server.Post("/v1/traces", good, std::string(kProtobuf) + "Content-Encoding: br\r\n");
  EXPECT_EQ(response.status, 415);

  response = server.Post("/v1/traces", good.substr(0, good.size() - 2), kProtobuf);
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.Header("Content-Type"), "application/x-protobuf");
  pb::Status status;
  ASSERT_TRUE(status.ParseFromString(response.body));
  EXPECT_EQ(status.code(), 3);  // INVALID_ARGUMENT
  EXPECT_FALSE(status.message().empty());

  response = server.Post("/v1/traces", "{not json", kJson);
  EXPECT_EQ(response.status, 400);
  rapidjson::Document json_status;
  json_status.Parse(response.body.c_str());
  ASSERT_TRUE(json_status.IsObject());
  EXPECT_EQ(json_status["code"].GetInt(), 3);
  EXPECT_STREQ(json_status["error"].GetString(), "malformed_otlp");

  // A gzip bomb: 64 KiB compressed to a few hundred bytes, then far more of it.
  const std::string bomb = Gzip(std::string(10 * 1024 * 1024, '\0'));
  ASSERT_LT(bomb.size(), 65536u);
  response = server.Post("/v1/traces", bomb, std::string(kProtobuf) + "Content-Encoding: gzip\r\n");
  EXPECT_EQ(response.status, 413);
  response =
      server.Post("/v1/traces", "garbage", std::string(kProtobuf) + "Content-Encoding: gzip\r\n");
  EXPECT_EQ(response.status, 400);

  rapidjson::Document system = server.Get("/v1/system/status");
  EXPECT_EQ(system["services_monitored"].GetInt(), 0);
  EXPECT_EQ(system["samples_accepted"].GetInt(), 0);

  // The same spans, gzip-compressed, are taken.
  response =
      server.Post("/v1/traces", Gzip(good), std::string(kProtobuf) + "Content-Encoding: gzip\r\n");
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(server.WaitForSampleCount("refused", 1));
}

TEST(OtlpServer, AFullQueueAnswers503WithRetryAfterAndTakesNothing) {
  Server server("ingest:\n  queue_capacity: 1\n");
  ASSERT_TRUE(server.started());
  pb::ExportTraceServiceRequest request;
  AddSpans(&request, "full", {10, 20, 30}, NowNs());
  const HttpResponse response = server.Post("/v1/traces", request.SerializeAsString(), kProtobuf);
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.Header("Retry-After"), "1");
  pb::Status status;
  ASSERT_TRUE(status.ParseFromString(response.body));
  EXPECT_EQ(status.code(), 14);  // UNAVAILABLE
  EXPECT_EQ(server.SampleCount("full"), -1);
}

TEST(OtlpServer, DurableIngestAnswersInTheRequestsEncodingOnceCommitted) {
  Server server("ingest:\n  durable: true\n");
  ASSERT_TRUE(server.started());
  pb::ExportTraceServiceRequest request;
  AddSpans(&request, "durable", {10, 20}, NowNs());
  const HttpResponse response = server.Post("/v1/traces", request.SerializeAsString(), kProtobuf);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("Content-Type"), "application/x-protobuf");
  pb::ExportTraceServiceResponse answer;
  EXPECT_TRUE(answer.ParseFromString(response.body));
  EXPECT_EQ(server.SampleCount("durable"), 2);  // committed, so processed
}

TEST(OtlpServer, HistogramPointsBecomeSamples) {
  Server server;
  ASSERT_TRUE(server.started());
  pb::ExportMetricsServiceRequest request;
  pb::ResourceMetrics* resource_metrics = request.add_resource_metrics();
  pb::KeyValue* name = resource_metrics->mutable_resource()->add_attributes();
  name->set_key("service.name");
  name->mutable_value()->set_string_value("orders");
  pb::Metric* metric = resource_metrics->add_scope_metrics()->add_metrics();
  metric->set_name("http.server.request.duration");
  metric->mutable_histogram()->set_aggregation_temporality(1);
  pb::HistogramDataPoint* point = metric->mutable_histogram()->add_data_points();
  point->set_start_time_unix_nano(NowNs() - 10'000'000'000);
  point->set_time_unix_nano(NowNs());
  point->set_count(4);
  point->set_sum(1.0);
  const HttpResponse response = server.Post("/v1/metrics", request.SerializeAsString(), kProtobuf);
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(server.WaitForSampleCount("orders", 1));
}

TEST(OtlpServer, ALatencySpikeInSpansDrivesDrift) {
  Server server("baseline:\n  min_samples: 20\n  refresh_every: 10\n");
  ASSERT_TRUE(server.started());
  std::vector<double> normal;
  for (int i = 0; i < 40; ++i) normal.push_back(100 + i % 5);
  pb::ExportTraceServiceRequest baseline;
  AddSpans(&baseline, "spiky", normal, NowNs() - 1'000'000'000);
  ASSERT_EQ(server.Post("/v1/traces", baseline.SerializeAsString(), kProtobuf).status, 200);
  ASSERT_TRUE(server.WaitForSampleCount("spiky", 40));
  EXPECT_EQ(server.State("spiky"), "STABLE");
  pb::ExportTraceServiceRequest spike;
  AddSpans(&spike, "spiky", std::vector<double>(10, 2000), NowNs());
  ASSERT_EQ(server.Post("/v1/traces", spike.SerializeAsString(), kProtobuf).status, 200);
  EXPECT_TRUE(server.WaitForSampleCount("spiky", 50));
  EXPECT_EQ(server.State("spiky"), "DRIFT_DETECTED");
}

// --- Endpoint series (docs/behaviour.md, Endpoint series) ------------------------------------

constexpr const char* kEndpointsOn = "series:\n  per_endpoint: true\n";

// Posts `request` as protobuf and expects every span in it accepted.
void PostAllAccepted(Server& server, const pb::ExportTraceServiceRequest& request) {
  const HttpResponse response = server.Post("/v1/traces", request.SerializeAsString(), kProtobuf);
  ASSERT_EQ(response.status, 200);
  pb::ExportTraceServiceResponse answer;
  ASSERT_TRUE(answer.ParseFromString(response.body));
  EXPECT_FALSE(answer.has_partial_success());
}

// The listing of one service's series, as "service endpoint" ("-" for the service's own).
std::vector<std::string> SeriesListed(Server& server, const std::string& service_id) {
  rapidjson::Document services =
      server.Get("/v1/services?endpoints=true&service_id=" + PercentEncode(service_id));
  std::vector<std::string> listed;
  if (!services.IsObject() || !services.HasMember("services")) return listed;
  for (const auto& series : services["services"].GetArray()) {
    listed.push_back(std::string(series["service_id"].GetString()) + " " +
                     (series.HasMember("endpoint") ? series["endpoint"].GetString() : "-"));
  }
  return listed;
}

// The sample_count of one endpoint series; -1 when it does not answer 200.
int64_t EndpointSampleCount(Server& server, const std::string& service_id,
                            const std::string& endpoint) {
  const HttpResponse response =
      server.GetResponse("/v1/health/" + service_id + "?endpoint=" + PercentEncode(endpoint));
  rapidjson::Document health;
  health.Parse(response.body.c_str());
  if (response.status != 200 || !health.IsObject()) return -1;
  return health["sample_count"].GetInt64();
}

// Each span's http.route feeds an endpoint series of its own through the real server, as a
// REST sample's endpoint does (tests/api AnEndpointDriftsWhileItsServiceMixStaysStable, with
// spans): /search slows by 30 %, 40 sigma of its own series and under 2 of the service's mix.
TEST(OtlpServer, SpanRoutesFeedEndpointSeriesThatDriftOnTheirOwn) {
  Server server(kEndpointsOn);
  ASSERT_TRUE(server.started());
  std::vector<RoutedSpan> spans;
  for (int i = 0; i < 120; ++i) {
    spans.push_back({"GET /health", 10.0 + i % 3});
    spans.push_back({"GET /search", 100.0 + i % 3});
    if (i % 10 == 0) spans.push_back({std::nullopt, 55.0});  // no route: the service's alone
  }
  spans.push_back({"", 55.0});  // an empty route is no endpoint
  for (int i = 0; i < 10; ++i) {
    spans.push_back({"GET /health", 10.0 + i % 3});
    spans.push_back({"GET /search", 130.0});
  }
  ASSERT_EQ(spans.size(), 273u);  // 130 + 130 + 12 + 1
  pb::ExportTraceServiceRequest request;
  AddRoutedSpans(&request, "shop", spans, NowNs());
  ASSERT_NO_FATAL_FAILURE(PostAllAccepted(server, request));

  // The service's own series counts every span; each endpoint series only its own.
  ASSERT_TRUE(server.WaitForSampleCount("shop", 273));
  EXPECT_TRUE(Eventually(
      [&] {
        return EndpointSampleCount(server, "shop", "GET /health") == 130 &&
               EndpointSampleCount(server, "shop", "GET /search") == 130;
      },
      kWaitDeadline))
      << EndpointSampleCount(server, "shop", "GET /health") << " "
      << EndpointSampleCount(server, "shop", "GET /search");
  EXPECT_EQ(server.SampleCount("shop"), 273);
  EXPECT_EQ(SeriesListed(server, "shop"),
            (std::vector<std::string>{"shop -", "shop GET /health", "shop GET /search"}));
  rapidjson::Document health = server.Get("/v1/health/shop?endpoint=GET%20%2Fsearch");
  ASSERT_TRUE(health.IsObject());
  EXPECT_STREQ(health["service_id"].GetString(), "shop");
  EXPECT_STREQ(health["endpoint"].GetString(), "GET /search");
  EXPECT_EQ(server.GetResponse("/v1/health/shop?endpoint=%2Fnone").status, 404);

  EXPECT_EQ(server.State("shop"), "STABLE");
  EXPECT_EQ(server.State("shop?endpoint=GET+%2Fhealth"), "STABLE");
  EXPECT_EQ(server.State("shop?endpoint=GET%20%2Fsearch"), "DRIFT_DETECTED");
  rapidjson::Document events = server.Get("/v1/events/shop?endpoint=GET%20%2Fsearch");
  ASSERT_TRUE(events.IsObject());
  EXPECT_STREQ(events["endpoint"].GetString(), "GET /search");
  ASSERT_EQ(events["events"].Size(), 2u);
  EXPECT_STREQ(events["events"][0]["to_state"].GetString(), "DRIFT_DETECTED");
  EXPECT_EQ(events["events"][0]["sample_seq"].GetInt(), 125);  // its 5th slow span
  events = server.Get("/v1/events/shop");
  ASSERT_TRUE(events.IsObject());
  EXPECT_EQ(events["events"].Size(), 1u);  // baseline_established only
}

// docs/opentelemetry.md, Mapping: an http.route that is not a valid endpoint is made one (every
// character outside printable ASCII one '_', cut at 256 characters), not rejected; so routes
// that differ only there share a series, and the route as sent is no endpoint to ask for.
TEST(OtlpServer, RoutesThatAreNotValidEndpointsAreMadeValid) {
  Server server(kEndpointsOn);
  ASSERT_TRUE(server.started());
  const std::string long_route = "/caf\u00e9/" + std::string(300, 'x');  // 2-byte character
  const std::string long_endpoint = "/caf_/" + std::string(250, 'x');
  pb::ExportTraceServiceRequest request;
  AddRoutedSpans(&request, "odd",
                 {{long_route, 10},
                  {"/caf\u00fc/" + std::string(300, 'x') + "tail", 20},  // the same 256
                  {"\u65e5\u672c", 30},                                  // two 3-byte characters
                  {"\U0001F600", 40},                                    // one 4-byte character
                  {"/tab\there\x7f", 50}},                               // control characters
                 NowNs());
  ASSERT_NO_FATAL_FAILURE(PostAllAccepted(server, request));
  ASSERT_TRUE(server.WaitForSampleCount("odd", 5));
  EXPECT_TRUE(Eventually(
      [&] {
        return EndpointSampleCount(server, "odd", long_endpoint) == 2 &&
               EndpointSampleCount(server, "odd", "__") == 1 &&
               EndpointSampleCount(server, "odd", "_") == 1 &&
               EndpointSampleCount(server, "odd", "/tab_here_") == 1;
      },
      kWaitDeadline));
  EXPECT_EQ(SeriesListed(server, "odd"),
            (std::vector<std::string>{"odd -", "odd " + long_endpoint, "odd /tab_here_", "odd _",
                                      "odd __"}));
  // The routes as sent are not valid endpoints: asking for one is 422 naming endpoint.
  for (const std::string& route :
       {long_route, std::string("/tab\there"), "/" + std::string(300, 'x')}) {
    const HttpResponse refused =
        server.GetResponse("/v1/health/odd?endpoint=" + PercentEncode(route));
    EXPECT_EQ(refused.status, 422) << route;
    rapidjson::Document error;
    error.Parse(refused.body.c_str());
    ASSERT_TRUE(error.IsObject()) << refused.body;
    EXPECT_STREQ(error["field"].GetString(), "endpoint");
  }
}

}  // namespace
}  // namespace driftwatch::testing
