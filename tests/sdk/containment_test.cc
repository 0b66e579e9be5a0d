// Containment through the real service: the fixture detector `fixture_throws`
// (tests/plugins/fixtures/test_detectors.cc), whose Observe throws a std::logic_error for a
// positive value and a non-standard exception (`throw 42`) otherwise, runs as a trigger in the
// real `driftwatch`. The SDK turns each exception into a status and a message; the host must keep
// serving, count and show every failure, lose no sample, and keep the other detectors working.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/sdk/telemetry.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::sdktest {
namespace {

namespace fs = std::filesystem;
using driftwatch::testing::TestDir;

constexpr uint64_t kSeed = 7;
constexpr double kMeanMs = 150.0;
constexpr double kStddevMs = 25.0;
constexpr size_t kBaselineSamples = 100;  // baseline.min_samples: no trigger runs before
constexpr size_t kStableSamples = 40;
constexpr size_t kSpikeSamples = 5;  // zscore_severe fires on the 5th in a row beyond 3 sigma
constexpr size_t kDriftSamples = 10;
constexpr size_t kZeroLatencyIndex = kBaselineSamples + 20;  // makes the fixture `throw 42`

TEST(DetectorContainment, ThrowingDetectorIsCountedShownAndLosesNoSample) {
  TestDir dir;
  const fs::path plugin_dir = dir.path() / "plugins";
  fs::create_directories(plugin_dir);
  fs::copy_file(DRIFTWATCH_TEST_FIXTURE_DETECTORS, plugin_dir / "fixture_detectors.so");
  const std::string config = "plugins:\n  dirs: [" + plugin_dir.string() +
                             "]\n"
                             "pipeline:\n"
                             "  triggers: [zscore_severe, moderate_window, fixture_throws]\n";
  ASSERT_TRUE(WriteText(dir.File("throws.yaml"), config));

  testing::ServerProcess service(dir.File("throws"));
  std::string error;
  ASSERT_TRUE(service.Start({"--config", dir.File("throws.yaml"), "--host", "127.0.0.1", "--port",
                             "0", "--db", dir.File("throws.db")},
                            &error))
      << error;
  const uint16_t port = service.port();

  StandardNormal normal(kSeed);
  std::vector<TimedSample> samples;
  AppendNormal(&samples, &normal, kBaselineSamples + kStableSamples, kMeanMs, kStddevMs,
               AnHourAgoMs());
  samples[kZeroLatencyIndex].latency_ms = 0.0;
  AppendNormal(&samples, &normal, kSpikeSamples, kMeanMs + 20 * kStddevMs, 1.0, 0);
  AppendNormal(&samples, &normal, kDriftSamples, kMeanMs, kStddevMs, 0);
  const std::string service_id = "containment";
  ASSERT_TRUE(SendSamples(port, service_id, samples, &error)) << error;
  ASSERT_TRUE(WaitForProcessed(port, service_id, samples.size()));

  // No sample lost: every one sent was accepted, processed and stored.
  const rapidjson::Document health = GetJson(port, "/v1/health/" + service_id);
  EXPECT_EQ(Number(health, "sample_count"), static_cast<double>(samples.size()));
  ASSERT_TRUE(testing::Eventually(
      [&] {
        return Number(GetJson(port, "/v1/system/status"), "total_telemetry_records") ==
               static_cast<double>(samples.size());
      },
      kPatience))
      << "the store never held every sample";

  // The other triggers still work: Rule 1 caught the spike.
  EXPECT_EQ(Text(health, "state"), "DRIFT_DETECTED");
  ASSERT_TRUE(health.HasMember("metadata"));
  EXPECT_EQ(Text(health["metadata"], "detector"), "zscore_severe");

  // One failure per sample the fixture saw (every sample scored while STABLE, the firing one
  // included), counted and shown with the detector's own message.
  const rapidjson::Document status = GetJson(port, "/v1/system/status");
  EXPECT_EQ(Number(status, "samples_accepted"), static_cast<double>(samples.size()));
  EXPECT_EQ(Number(status, "samples_processed"), static_cast<double>(samples.size()));
  EXPECT_EQ(Number(status, "detector_errors"), static_cast<double>(kStableSamples + kSpikeSamples));
  EXPECT_EQ(Text(status, "last_detector_error"),
            "service '" + service_id + "': fixture_throws: fixture observe exploded");

  // Logged, both kinds of exception.
  const std::string log = service.Stderr();
  EXPECT_NE(log.find("fixture_throws: fixture observe exploded"), std::string::npos) << log;
  EXPECT_NE(log.find("fixture_throws: unknown exception"), std::string::npos) << log;

  // Still serving, and it stops cleanly.
  EXPECT_EQ(Fetch(port, "GET", "/health").status, 200);
  EXPECT_EQ(service.Stop(), 0) << service.Stderr();
}

}  // namespace
}  // namespace driftwatch::sdktest
