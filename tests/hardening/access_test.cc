// Access tokens and the limits against abuse, through HTTP against the real binary: with
// server.auth_tokens set, every request but GET /health needs a valid bearer token, and no token
// ever reaches the logs; the service cap, body size, header size and header/body timeouts each
// refuse what exceeds them and show the limit and how often it was hit in /v1/system/status.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/hardening/service.h"

namespace driftwatch::testing {
namespace {

constexpr char kToken[] = "alpha-7Hq2-token";
constexpr char kOtherToken[] = "beta-token-x9";

std::string Bearer(const std::string& token) { return "Authorization: Bearer " + token + "\r\n"; }

std::string ErrorCode(const HttpResponse& response) {
  const rapidjson::Document json = ParseStrictJson(response.body);
  return !json.HasParseError() && json.IsObject() && json.HasMember("error") &&
                 json["error"].IsString()
             ? json["error"].GetString()
             : "";
}

struct Route {
  std::string method;
  std::string path;
  std::string body;
};

std::vector<Route> EveryRoute() {
  return {{"POST", "/v1/telemetry", SampleJson("svc", 1)},
          {"POST", "/v1/telemetry/batch", BatchJson("svc", 2)},
          {"GET", "/v1/health/svc", ""},
          {"GET", "/v1/baseline/svc", ""},
          {"POST", "/v1/baseline/svc/reset", ""},
          {"GET", "/v1/events/svc", ""},
          {"GET", "/v1/services", ""},
          {"GET", "/v1/system/status", ""},
          {"GET", "/docs", ""},
          {"GET", "/openapi.json", ""},
          {"POST", "/health", ""},
          {"GET", "/no/such/path", ""},
          {"DELETE", "/v1/services", ""}};
}

HttpResponse Send(const Service& service, const Route& route, const std::string& headers) {
  return Fetch(service.port(), route.method, route.path, route.body, headers);
}

TEST(Access, EveryRequestButLivenessNeedsAValidToken) {
  Service service(std::string("server:\n  auth_tokens: [") + kToken + ", " + kOtherToken + "]\n");
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  const HttpResponse liveness = service.Get("/health");
  EXPECT_EQ(liveness.status, 200);

  uint64_t refused = 0;
  const std::vector<std::string> bad_credentials = {
      "",
      Bearer("wrong"),
      Bearer(std::string(kToken).substr(1)),  // a suffix
      Bearer(std::string(kToken) + "x"),      // a longer one
      Bearer(std::string(kToken, sizeof kToken - 2)),
      Bearer(""),
      "Authorization: Basic " + std::string(kToken) + "\r\n",
      "Authorization: " + std::string(kToken) + "\r\n",
      "Authorization: Bearer" + std::string(kToken) + "\r\n",
      "X-Api-Key: " + std::string(kToken) + "\r\n",
  };
  for (const Route& route : EveryRoute()) {
    for (const std::string& credentials : bad_credentials) {
      SCOPED_TRACE(route.method + " " + route.path + " with '" + credentials + "'");
      const HttpResponse response = Send(service, route, credentials);
      ++refused;
      EXPECT_EQ(response.status, 401) << response.body;
      EXPECT_EQ(ErrorCode(response), "unauthorized");
      EXPECT_EQ(response.Header("WWW-Authenticate"), "Bearer realm=\"driftwatch\"");
      EXPECT_EQ(response.Header("Content-Type"), "application/json");
      EXPECT_EQ(response.body.find(kToken), std::string::npos);
    }
  }
  // The token in the query string is no token either.
  EXPECT_EQ(service.Get(std::string("/v1/services?access_token=") + kToken).status, 401);
  ++refused;
  // Refused requests changed nothing.
  rapidjson::Document status =
      ParseStrictJson(service.Get("/v1/system/status", Bearer(kToken)).body);
  ASSERT_TRUE(status.IsObject());
  EXPECT_EQ(status["samples_accepted"].GetUint64(), 0u);
  EXPECT_EQ(status["services_monitored"].GetUint64(), 0u);
  EXPECT_TRUE(status["auth_required"].GetBool());
  EXPECT_EQ(status["rejected_unauthorized"].GetUint64(), refused);

  // Either token opens everything; the scheme's case does not matter.
  const std::vector<std::pair<std::string, int>> expected = {{"/v1/telemetry", 202},
                                                             {"/v1/telemetry/batch", 202},
                                                             {"/v1/health/svc", 200},
                                                             {"/v1/baseline/svc", 404},
                                                             {"/v1/baseline/svc/reset", 200},
                                                             {"/v1/events/svc", 200},
                                                             {"/v1/services", 200},
                                                             {"/v1/system/status", 200},
                                                             {"/docs", 200},
                                                             {"/openapi.json", 200},
                                                             {"/health", 405},
                                                             {"/no/such/path", 404},
                                                             {"/v1/services", 405}};
  const std::vector<Route> routes = EveryRoute();
  for (size_t i = 0; i < routes.size(); ++i) {
    const std::string token = i % 2 == 0 ? kToken : kOtherToken;
    const std::string header =
        i % 3 == 0 ? "Authorization: bearer " + token + "\r\n" : Bearer(token);
    SCOPED_TRACE(routes[i].method + " " + routes[i].path);
    ASSERT_EQ(routes[i].path, expected[i].first);
    if (routes[i].path == "/v1/health/svc") {
      ASSERT_TRUE(
          Eventually([&] { return Send(service, routes[i], header).status == 200; }, kPatience));
      continue;
    }
    EXPECT_EQ(Send(service, routes[i], header).status, expected[i].second);
  }

  // Tokens are never logged, not even at start-up or stop.
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
  const std::string logs = service.process().Stdout() + service.process().Stderr();
  EXPECT_EQ(logs.find(kToken), std::string::npos) << logs;
  EXPECT_EQ(logs.find(kOtherToken), std::string::npos) << logs;
}

TEST(Access, AMistakeInTheTokenListDoesNotPrintTheToken) {
  TestDir dir;
  const std::string config = dir.File("config.yaml");
  for (const std::string& yaml :
       {"server:\n  auth_tokens: " + std::string(kToken) + "\n",
        "server:\n  auth_tokens: [" + std::string(kToken) + ", '']\n",
        "server:\n  auth_tokens: [" + std::string(kToken) + ", {a: b}]\n"}) {
    std::ofstream(config) << yaml;
    const RunResult run = RunServiceToExit(
        {"--port", "0", "--db", dir.File("db"), "--config", config}, dir.File("run"));
    EXPECT_EQ(run.exit_code, 1) << yaml;
    EXPECT_NE(run.err.find("server.auth_tokens"), std::string::npos) << run.err;
    EXPECT_EQ((run.out + run.err).find(kToken), std::string::npos) << run.err;
  }
}

// The limit of one kind in /v1/system/status: {"limit": N, "rejected": M}.
std::pair<uint64_t, uint64_t> Limit(const Service& service, const char* name) {
  const rapidjson::Document status = service.Status();
  if (!status.HasMember("limits") || !status["limits"].HasMember(name)) return {0, 0};
  const auto& limit = status["limits"][name];
  return {limit["limit"].GetUint64(), limit["rejected"].GetUint64()};
}

TEST(Limits, EachLimitRefusesWhatExceedsItAndShowsInTheStatus) {
  Service service(
      "server:\n  max_request_bytes: 4096\n  header_timeout_ms: 1000\n  body_timeout_ms: 1500\n"
      "ingest:\n  max_services: 3\n");
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  EXPECT_EQ(Limit(service, "max_services"), std::make_pair(uint64_t{3}, uint64_t{0}));
  EXPECT_EQ(Limit(service, "max_request_bytes"), std::make_pair(uint64_t{4096}, uint64_t{0}));
  EXPECT_EQ(Limit(service, "max_header_bytes"), std::make_pair(uint64_t{16384}, uint64_t{0}));
  EXPECT_EQ(Limit(service, "header_timeout_ms"), std::make_pair(uint64_t{1000}, uint64_t{0}));
  EXPECT_EQ(Limit(service, "body_timeout_ms"), std::make_pair(uint64_t{1500}, uint64_t{0}));
  EXPECT_EQ(Limit(service, "queue_capacity"), std::make_pair(uint64_t{65536}, uint64_t{0}));

  // The service cap: a new service past it is refused, known ones go on.
  for (const char* id : {"cap-a", "cap-b", "cap-c"}) {
    EXPECT_EQ(service.Post("/v1/telemetry", SampleJson(id, 1)).status, 202);
  }
  HttpResponse response = service.Post("/v1/telemetry", SampleJson("cap-d", 1));
  EXPECT_EQ(response.status, 429);
  EXPECT_EQ(ErrorCode(response), "too_many_services");
  response = service.Post("/v1/telemetry/batch",
                          "[" + SampleJson("cap-a", 2) + "," + SampleJson("cap-e", 1) + "]");
  EXPECT_EQ(response.status, 429);
  EXPECT_EQ(service.Post("/v1/telemetry", SampleJson("cap-a", 3)).status, 202);
  EXPECT_EQ(Limit(service, "max_services").second, 2u);
  EXPECT_EQ(service.Get("/v1/health/cap-d").status, 404);

  // Body and header size.
  response = service.Post("/v1/telemetry", std::string(4097, ' '));
  EXPECT_EQ(response.status, 413);
  EXPECT_EQ(Limit(service, "max_request_bytes").second, 1u);
  response = service.Get("/v1/services", "X-Filler: " + std::string(17000, 'x') + "\r\n");
  EXPECT_EQ(response.status, 431);
  EXPECT_EQ(Limit(service, "max_header_bytes").second, 1u);

  // A client that hangs up in the middle of a request does not count as a timeout.
  RawConnection gone;
  ASSERT_TRUE(gone.Connect(service.port()));
  ASSERT_TRUE(gone.Send("GET /v1/services HTTP/1.1\r\nHo"));
  gone.Close();

  // A client that stops in the middle of its headers, and one in the middle of its body, are cut
  // off with 408 (Pistache's own answer, empty) once their time is up.
  RawConnection slow_headers;
  ASSERT_TRUE(slow_headers.Connect(service.port()));
  ASSERT_TRUE(slow_headers.Send("GET /v1/services HTTP/1.1\r\nHost: x\r\n"));
  RawConnection slow_body;
  ASSERT_TRUE(slow_body.Connect(service.port()));
  ASSERT_TRUE(slow_body.Send(
      "POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"service_id\""));
  ASSERT_TRUE(slow_headers.Read(&response));
  EXPECT_EQ(response.status, 408);
  EXPECT_TRUE(slow_headers.ClosedByServer());
  ASSERT_TRUE(slow_body.Read(&response));
  EXPECT_EQ(response.status, 408);
  EXPECT_TRUE(slow_body.ClosedByServer());
  // Counted when the transport drops the connection (the one that hung up was dropped long
  // before: had it counted, the count would be 2).
  EXPECT_TRUE(Eventually(
      [&] {
        return Limit(service, "header_timeout_ms").second >= 1 &&
               Limit(service, "body_timeout_ms").second >= 1;
      },
      kPatience));
  EXPECT_EQ(Limit(service, "header_timeout_ms").second, 1u);
  EXPECT_EQ(Limit(service, "body_timeout_ms").second, 1u);
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

}  // namespace
}  // namespace driftwatch::testing
