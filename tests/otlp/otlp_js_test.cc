// Real OpenTelemetry exporters against the real service: tests/otlp/js/export.mjs sends SERVER
// spans and http.server.request.duration histograms of two services through the OpenTelemetry
// JS SDK's OTLP/HTTP exporters (JSON and protobuf; versions pinned in package.json, installed
// by `npm ci`, which scripts/install-deps.sh runs), and this test checks what driftwatch then
// shows: both services, the right sample counts and latencies, and the spiking one in drift.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>

#include "tests/support/child_process.h"
#include "tests/support/eventually.h"
#include "tests/support/http_test_client.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

const std::string kJsDir = DRIFTWATCH_OTLP_JS_DIR;
const std::string kNode = DRIFTWATCH_NODE;
constexpr auto kWaitDeadline = std::chrono::seconds(60);

rapidjson::Document Get(uint16_t port, const std::string& path) {
  rapidjson::Document document;
  document.Parse(Fetch(port, "GET", path).body.c_str());
  return document;
}

int64_t SampleCount(uint16_t port, const std::string& service_id) {
  rapidjson::Document health = Get(port, "/v1/health/" + service_id);
  return health.IsObject() && health.HasMember("sample_count") ? health["sample_count"].GetInt64()
                                                               : -1;
}

// signal ("traces" or "metrics"), encoding ("json" or "proto")
class OtlpJsExporter : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(OtlpJsExporter, DrivesDetectionEndToEnd) {
  const auto& [signal, encoding] = GetParam();
  if (!std::filesystem::exists(kJsDir + "/node_modules/@opentelemetry/sdk-trace-base")) {
    FAIL() << "the OpenTelemetry JS packages are not installed: run `npm ci` in " << kJsDir
           << " (scripts/install-deps.sh does).";
  }
  TestDir dir;
  std::ofstream(dir.File("config.yaml")) << "baseline:\n  min_samples: 50\n  refresh_every: 10\n";
  ServerProcess server(dir.File("driftwatch"));
  std::string error;
  ASSERT_TRUE(server.Start({"--host", "127.0.0.1", "--port", "0", "--db", dir.File("dw.db"),
                            "--config", dir.File("config.yaml")},
                           &error))
      << error;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  const RunResult run =
      RunToExit({kNode, kJsDir + "/export.mjs", url, signal, encoding, "js"}, dir.File("node"));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;

  // Traces: 70 SERVER spans of js-shop, 60 of js-search (its CLIENT and INTERNAL spans are not
  // samples). Metrics: one sample per export and service, 70 exports.
  const bool traces = signal == "traces";
  const uint16_t port = server.port();
  EXPECT_TRUE(Eventually([&] { return SampleCount(port, "js-shop") == 70; }, kWaitDeadline));
  EXPECT_TRUE(Eventually([&] { return SampleCount(port, "js-search") == (traces ? 60 : 70); },
                         kWaitDeadline));
  EXPECT_STREQ(Get(port, "/v1/health/js-shop")["state"].GetString(), "DRIFT_DETECTED");
  EXPECT_STREQ(Get(port, "/v1/health/js-search")["state"].GetString(), "STABLE");

  // The latencies as sent: spans of 40, 41 and 42 ms in turn; histogram means of 40 ms (the
  // cumulative histogram's increments, in milliseconds). JSON's numbers for nanoseconds carry
  // a double's precision, hence the tolerance.
  rapidjson::Document baseline = Get(port, "/v1/baseline/js-search");
  ASSERT_TRUE(baseline.IsObject() && baseline.HasMember("mean_latency"));
  EXPECT_NEAR(baseline["mean_latency"].GetDouble(), traces ? 41.0 : 40.0, 0.01);
  // js-shop's baseline, frozen in the drift: 100-104 ms spans, or interval means of 100-115 ms.
  baseline = Get(port, "/v1/baseline/js-shop");
  EXPECT_NEAR(baseline["mean_latency"].GetDouble(), traces ? 102.0 : 107.5, 0.01);
  EXPECT_EQ(server.Stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Exporters, OtlpJsExporter,
                         ::testing::Combine(::testing::Values("traces", "metrics"),
                                            ::testing::Values("json", "proto")),
                         [](const auto& param_info) {
                           return std::get<0>(param_info.param) + "_" +
                                  std::get<1>(param_info.param);
                         });

}  // namespace
}  // namespace driftwatch::testing
