// Forward compatibility within ABI major 1: a plugin built against the v1.0 headers keeps loading
// and working when the host moves to a later minor.
//
// This file is compiled twice (see CMakeLists.txt):
//  - abi_current_host_test: against sdk/include (the host as it is today), linking driftwatch_core;
//  - abi_next_minor_host_test: against a header generated from today's plugin.h with the minor
//    bumped and a member appended to the descriptor, detector and storage structs (what a real
//    minor release does), linking every source of driftwatch_core compiled against that header.
// The production loader has no test hook: the "newer host" is the real core, rebuilt.
#include <driftwatch/plugin.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/pipeline.h"
#include "core/plugin_loader.h"
#include "core/service_monitor.h"

#if DW_ABI_VERSION_MINOR == DRIFTWATCH_LIVE_ABI_MINOR
constexpr bool kHostIsNextMinor = false;
#elif DW_ABI_VERSION_MINOR == DRIFTWATCH_LIVE_ABI_MINOR + 1
constexpr bool kHostIsNextMinor = true;
#else
#error "plugin.h is neither the live header nor the generated next minor"
#endif

namespace driftwatch {
namespace {

const std::string kProbeV1_0 = DRIFTWATCH_TEST_PROBE_V1_0;   // built against the frozen 1.0 header
const std::string kProbeNext = DRIFTWATCH_TEST_PROBE_NEXT;   // built against the next minor
const std::string kBundledDir = DRIFTWATCH_TEST_PLUGIN_DIR;  // built against sdk/include

// What the v1.0 structs measure: the end of their last v1.0 member (minors only append).
constexpr size_t kDetectorSizeV1_0 =
    offsetof(dw_type_detector, on_state_restore) + sizeof(dw_type_detector::on_state_restore);
constexpr size_t kPluginSizeV1_0 =
    offsetof(dw_type_plugin, storage_count) + sizeof(dw_type_plugin::storage_count);

std::string HostVersion() {
  return std::to_string(DW_ABI_VERSION_MAJOR) + "." + std::to_string(DW_ABI_VERSION_MINOR);
}

TEST(AbiForward, HostIsTheVersionThisBinarySimulates) {
  std::printf("host ABI %s (%s)\n", HostVersion().c_str(),
              kHostIsNextMinor ? "simulated next minor" : "live headers");
  if (kHostIsNextMinor) {
    // The generated header really grew the structs, so a v1.0 plugin's are smaller than the host's.
    EXPECT_GT(sizeof(dw_type_detector), kDetectorSizeV1_0);
    EXPECT_GT(sizeof(dw_type_plugin), kPluginSizeV1_0);
  }
}

TEST(AbiForward, PluginBuiltAgainstV1_0Loads) {
  PluginRegistry registry;
  const Status loaded = registry.LoadFile(kProbeV1_0);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0].abi_major, 1);
  EXPECT_EQ(registry.plugins()[0].abi_minor, 0);
  const dw_type_detector* detector = registry.FindDetector("abi_probe_v1_0");
  ASSERT_NE(detector, nullptr);
  EXPECT_EQ(detector->struct_size, kDetectorSizeV1_0);
}

// Everything the host calls in a detector (config, state, observe, save, restore, destroy), at
// this host's version, with the v1.0 plugin beside the bundled plugins built from today's headers.
TEST(AbiForward, PluginBuiltAgainstV1_0RunsInThePipeline) {
  PluginRegistry registry;
  std::vector<std::string> refusals;
  ASSERT_TRUE(registry.LoadDirectory(kBundledDir, &refusals).ok());
  EXPECT_TRUE(refusals.empty()) << refusals.front();
  const Status loaded = registry.LoadFile(kProbeV1_0);
  ASSERT_TRUE(loaded.ok()) << loaded.message();

  Config config;
  config.triggers.push_back({"abi_probe_v1_0", {{"fire_at", "1000"}}, {0}, 0});
  DetectorSet detectors;
  const Status built = BuildDetectorSet(config, registry, &detectors);
  ASSERT_TRUE(built.ok()) << built.message();

  constexpr int64_t kStartMs = 1'700'000'000'000;
  constexpr int64_t kSpacingMs = 1000;
  constexpr int kStableSamples = 20;
  int64_t timestamp_ms = kStartMs;
  auto normal = [&](int i) { return Sample{timestamp_ms += kSpacingMs, 100.0 + i % 10, 1.0}; };

  std::string saved;
  {
    ServiceMonitor monitor(config.baseline, detectors);
    for (uint32_t i = 0; i < config.baseline.min_samples; ++i) monitor.Process(normal(i));
    ASSERT_EQ(monitor.state(), ServiceState::kStable);
    for (int i = 0; i < kStableSamples; ++i) {
      const ProcessResult result = monitor.Process(normal(i));
      EXPECT_FALSE(result.transition) << result.transition->reason;
      EXPECT_EQ(result.detector_error, "");
    }
    const Status status = monitor.Save(&saved);
    ASSERT_TRUE(status.ok()) << status.message();
  }

  // A fresh monitor restored from the saved bytes: the probe's count carries over.
  ServiceMonitor restored(config.baseline, detectors);
  const Status status = restored.Restore(saved);
  ASSERT_TRUE(status.ok()) << status.message();
  const ProcessResult result = restored.Process(Sample{timestamp_ms + kSpacingMs, 5000.0, 1.0});
  ASSERT_TRUE(result.transition);
  EXPECT_EQ(result.transition->to, ServiceState::kDriftDetected);
  EXPECT_EQ(result.transition->reason, "probe_fired");
  const std::string& metadata = result.transition->metadata_json;
  EXPECT_NE(metadata.find("\"detector\":\"abi_probe_v1_0\""), std::string::npos) << metadata;
  EXPECT_NE(metadata.find("\"observed\":" + std::to_string(kStableSamples + 1)), std::string::npos)
      << metadata;
}

// The other direction: a plugin built for a newer minor than the host's is refused, with both
// versions named; the host of that minor loads it.
TEST(AbiForward, PluginBuiltAgainstTheNextMinor) {
  PluginRegistry registry;
  const Status loaded = registry.LoadFile(kProbeNext);
  const std::string next = "1." + std::to_string(DRIFTWATCH_LIVE_ABI_MINOR + 1);
  if (kHostIsNextMinor) {
    ASSERT_TRUE(loaded.ok()) << loaded.message();
    EXPECT_EQ(registry.FindDetector("abi_probe_next")->struct_size, sizeof(dw_type_detector));
  } else {
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.message().find(kProbeNext), std::string::npos) << loaded.message();
    EXPECT_NE(loaded.message().find("plugin requires DriftWatch ABI " + next + "; host provides " +
                                    HostVersion() + ": plugin is newer than the host"),
              std::string::npos)
        << loaded.message();
  }
}

}  // namespace
}  // namespace driftwatch
