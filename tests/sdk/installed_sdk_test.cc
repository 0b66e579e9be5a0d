// The SDK as a product, seen from outside: the ctest fixture `sdk_installed` has run
// `cmake --install` into a scratch prefix and built examples/cusum_detector as a separate CMake
// project against it (install_and_build_example.cmake). These tests check the installed layout,
// then run the INSTALLED service with the example plugin through its YAML config.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/sdk/telemetry.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::sdktest {
namespace {

namespace fs = std::filesystem;
using driftwatch::testing::TestDir;

const fs::path kPrefix = DRIFTWATCH_TEST_SDK_PREFIX;
const fs::path kExampleBuild = DRIFTWATCH_TEST_EXAMPLE_BUILD;
const fs::path kSourceDir = DRIFTWATCH_TEST_SOURCE_DIR;

// The scenario the default rules miss: a sustained mean shift of 1.5 sigma. Rule 1 needs 5
// samples in a row beyond 3 sigma (each ~7% likely after the shift) and Rule 2 needs 10 of 20
// beyond 2.5 sigma (each ~16% likely), while the shifted samples enter the baseline window, which
// follows the shift. CUSUM accumulates the small, persistent excess instead. The seed was chosen
// with margin on both sides (measured with the in-process engine): under the defaults no run
// beyond 3 sigma is longer than 1 and no 20-window holds more than 3 beyond 2.5; CUSUM stays
// below 2.1 (of 14) before the shift and fires on the 17th shifted sample.
constexpr uint64_t kSeed = 5;
constexpr double kNormalMeanMs = 150.0;
constexpr double kStddevMs = 25.0;
constexpr double kShiftedMeanMs = kNormalMeanMs + 1.5 * kStddevMs;  // 187.5
constexpr size_t kNormalSamples = 200;
constexpr size_t kShiftedSamples = 150;
constexpr size_t kMaxSamplesToDetect = 40;  // CUSUM's expected delay here is about 15

std::vector<TimedSample> MeanShiftScenario() {
  StandardNormal normal(kSeed);
  std::vector<TimedSample> samples;
  const int64_t first_ms = AnHourAgoMs();
  AppendNormal(&samples, &normal, kNormalSamples, kNormalMeanMs, kStddevMs, first_ms);
  AppendNormal(&samples, &normal, kShiftedSamples, kShiftedMeanMs, kStddevMs, first_ms);
  return samples;
}

std::string Installed(const std::string& relative) { return (kPrefix / relative).string(); }

TEST(InstalledSdk, StandardLayout) {
  const std::vector<std::string> files = {
      "bin/driftwatch",
      "bin/driftwatch-sim",
      "lib/driftwatch/plugins/zscore_severe.so",
      "lib/driftwatch/plugins/moderate_window.so",
      "lib/driftwatch/plugins/recovery.so",
      "lib/driftwatch/plugins/sqlite.so",
      "lib/driftwatch/plugins/memory.so",
      "include/driftwatch/plugin.h",
      "include/driftwatch/plugin.hpp",
      "lib/cmake/DriftWatchSDK/DriftWatchSDKConfig.cmake",
      "lib/cmake/DriftWatchSDK/DriftWatchSDKConfigVersion.cmake",
      "lib/cmake/DriftWatchSDK/DriftWatchSDKTargets.cmake",
      "lib/cmake/DriftWatchSDK/DriftWatchPlugin.cmake",
  };
  for (const std::string& file : files) {
    EXPECT_TRUE(fs::is_regular_file(kPrefix / file)) << "not installed: " << file;
  }
  for (const char* program : {"bin/driftwatch", "bin/driftwatch-sim"}) {
    const fs::perms perms = fs::status(kPrefix / program).permissions();
    EXPECT_NE(perms & fs::perms::owner_exec, fs::perms::none) << program << " is not executable";
  }
  // The headers a plugin author compiles against are the ones the host was built with.
  for (const char* header : {"plugin.h", "plugin.hpp"}) {
    EXPECT_EQ(testing::ReadFile(Installed(std::string("include/driftwatch/") + header)),
              testing::ReadFile((kSourceDir / "sdk/include/driftwatch" / header).string()))
        << header;
  }
  // Nothing only the tests read is installed: the headers are the SDK's own, and no frozen copy
  // of tests/fixtures (an old plugin.h, an old schema) or other SQL is shipped.
  const auto names_in = [](const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  };
  EXPECT_EQ(names_in(kPrefix / "include/driftwatch"),
            names_in(kSourceDir / "sdk/include/driftwatch"));
  for (const auto& entry : fs::recursive_directory_iterator(kPrefix)) {
    EXPECT_NE(entry.path().extension(), ".sql") << entry.path();
    EXPECT_EQ(entry.path().string().find("abi_v1_0"), std::string::npos) << entry.path();
  }
  // The example was built from the installed package, not from the source tree.
  const std::string cache = testing::ReadFile((kExampleBuild / "CMakeCache.txt").string());
  EXPECT_NE(cache.find("DriftWatchSDK_DIR:PATH=" + Installed("lib/cmake/DriftWatchSDK")),
            std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(kExampleBuild / "cusum.so"));
}

// One installed service on a free loopback port, with a fresh database.
struct RunningService {
  std::unique_ptr<testing::ServerProcess> process;
  uint16_t port = 0;
};

void StartInstalled(const TestDir& dir, const std::string& name, const std::string& config_yaml,
                    RunningService* service) {
  std::vector<std::string> args = {"--host", "127.0.0.1", "--port",
                                   "0",      "--db",      dir.File(name + ".db")};
  if (!config_yaml.empty()) {
    ASSERT_TRUE(WriteText(dir.File(name + ".yaml"), config_yaml));
    args.insert(args.end(), {"--config", dir.File(name + ".yaml")});
  }
  service->process =
      std::make_unique<testing::ServerProcess>(dir.File(name), Installed("bin/driftwatch"));
  std::string error;
  ASSERT_TRUE(service->process->Start(args, &error)) << error;
  service->port = service->process->port();
}

TEST(InstalledSdk, CusumPluginCatchesAMeanShiftTheDefaultsMiss) {
  TestDir dir;
  const std::vector<TimedSample> samples = MeanShiftScenario();
  const std::string service_id = "checkout-api";

  // The zero-config default pipeline, and the same with the example plugin after the defaults.
  RunningService defaults;
  ASSERT_NO_FATAL_FAILURE(StartInstalled(dir, "defaults", "", &defaults));
  RunningService with_cusum;
  const std::string config = "plugins:\n  dirs: [" + kExampleBuild.string() +
                             "]\n"
                             "pipeline:\n"
                             "  triggers: [zscore_severe, moderate_window, my_cusum]\n"
                             "  recovery: recovery\n"
                             "detectors:\n"
                             "  my_cusum: {slack: 0.5, limit: 14.0}\n";
  ASSERT_NO_FATAL_FAILURE(StartInstalled(dir, "cusum", config, &with_cusum));

  for (RunningService* service : {&defaults, &with_cusum}) {
    std::string error;
    ASSERT_TRUE(SendSamples(service->port, service_id, samples, &error)) << error;
  }
  for (RunningService* service : {&defaults, &with_cusum}) {
    ASSERT_TRUE(WaitForProcessed(service->port, service_id, samples.size()));
  }

  // The defaults miss it: the service is STABLE and never left STABLE.
  const rapidjson::Document default_health = GetJson(defaults.port, "/v1/health/" + service_id);
  EXPECT_EQ(Text(default_health, "state"), "STABLE");
  EXPECT_EQ(Number(default_health, "sample_count"), static_cast<double>(samples.size()));
  const rapidjson::Document default_events = GetJson(defaults.port, "/v1/events/" + service_id);
  ASSERT_TRUE(default_events.IsObject() && default_events.HasMember("events") &&
              default_events["events"].IsArray());
  ASSERT_EQ(default_events["events"].Size(), 1u) << "the default rules fired on this scenario";
  EXPECT_EQ(Text(default_events["events"][0], "reason"), "baseline_established");

  // CUSUM fires, after the shift's onset, and the event says which detector it was.
  const rapidjson::Document health = GetJson(with_cusum.port, "/v1/health/" + service_id);
  EXPECT_EQ(Text(health, "state"), "DRIFT_DETECTED");
  EXPECT_EQ(Number(health, "sample_count"), static_cast<double>(samples.size()));
  ASSERT_TRUE(health.HasMember("metadata"));
  EXPECT_EQ(Text(health["metadata"], "detector"), "my_cusum");
  EXPECT_EQ(Text(health["metadata"], "detector_version"), "1.0.0");
  EXPECT_EQ(Text(health["metadata"], "reason"), "cusum_mean_shift");
  EXPECT_GT(Number(health["metadata"], "cusum"), 14.0);
  EXPECT_EQ(Number(health["metadata"], "direction"), 1.0);
  // The drift event (newest first) names the sample that caused it: one after the shift's onset.
  const rapidjson::Document events = GetJson(with_cusum.port, "/v1/events/" + service_id);
  ASSERT_TRUE(events.IsObject() && events.HasMember("events") && events["events"].IsArray());
  ASSERT_EQ(events["events"].Size(), 2u);
  const rapidjson::Value& drift = events["events"][0];
  EXPECT_EQ(Text(drift, "to_state"), "DRIFT_DETECTED");
  EXPECT_EQ(Text(drift["metadata"], "detector"), "my_cusum");
  const double fired_seq = Number(drift, "sample_seq");
  EXPECT_GT(fired_seq, static_cast<double>(kNormalSamples)) << "CUSUM fired before the shift";
  EXPECT_LE(fired_seq, static_cast<double>(kNormalSamples + kMaxSamplesToDetect));
  EXPECT_EQ(Text(drift, "timestamp"), Text(health, "transition_timestamp"));
  std::printf("cusum fired on sample %.0f, %.0f samples after the shift's onset\n", fired_seq,
              fired_seq - static_cast<double>(kNormalSamples));

  // The system status shows the plugin, the pipeline, and no detector error.
  const rapidjson::Document status = GetJson(with_cusum.port, "/v1/system/status");
  ASSERT_TRUE(status.HasMember("plugins") && status["plugins"].IsArray());
  bool listed = false;
  for (const rapidjson::Value& plugin : status["plugins"].GetArray()) {
    if (Text(plugin, "name") == "my_cusum") {
      listed = true;
      EXPECT_EQ(Text(plugin, "version"), "1.0.0");
      EXPECT_EQ(fs::path(Text(plugin, "path")).parent_path(), kExampleBuild);
    }
  }
  EXPECT_TRUE(listed) << "GET /v1/system/status does not list the cusum plugin";
  ASSERT_TRUE(status.HasMember("pipeline") && status["pipeline"].HasMember("triggers"));
  std::vector<std::string> triggers;
  for (const rapidjson::Value& name : status["pipeline"]["triggers"].GetArray()) {
    triggers.push_back(name.GetString());
  }
  EXPECT_EQ(triggers, (std::vector<std::string>{"zscore_severe", "moderate_window", "my_cusum"}));
  EXPECT_EQ(Number(status, "detector_errors"), 0.0);

  for (RunningService* service : {&defaults, &with_cusum}) {
    EXPECT_EQ(service->process->Stop(), 0) << service->process->Stderr();
  }
}

}  // namespace
}  // namespace driftwatch::sdktest
