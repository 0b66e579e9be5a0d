// BuildDetectorSet: the config's pipeline, built from real plugin files. Errors name the config
// key and line; detector parameters are checked by the plugins themselves.
#include "core/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/plugin_loader.h"

namespace driftwatch {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;

const std::string kBundledDir = DRIFTWATCH_TEST_PLUGIN_DIR;
const std::string kFixtureDir = DRIFTWATCH_TEST_FIXTURE_DIR;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Loaded one by one so the "(loaded: ...)" list has a known order.
    for (const char* name : {"zscore_severe", "moderate_window", "recovery"}) {
      Status status = registry_.LoadFile(kBundledDir + "/" + name + ".so");
      ASSERT_TRUE(status.ok()) << status.message();
    }
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("driftwatch_pipeline_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "cfg.yaml").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void LoadFixtures() {
    Status status = registry_.LoadFile(kFixtureDir + "/fixture_detectors.so");
    ASSERT_TRUE(status.ok()) << status.message();
  }

  // Loads `yaml` as cfg.yaml and builds its pipeline; returns the error with the path shortened
  // to "cfg.yaml", or "" on success.
  std::string Build(const std::string& yaml, DetectorSet* set) {
    std::ofstream(path_) << yaml;
    Config config;
    Status status = LoadConfigFile(path_, &config);
    if (!status.ok()) return "config: " + status.message();
    status = BuildDetectorSet(config, registry_, set);
    if (status.ok()) return "";
    std::string message = status.message();
    if (message.rfind(path_, 0) == 0) message.replace(0, path_.size(), "cfg.yaml");
    return message;
  }

  PluginRegistry registry_;
  std::filesystem::path dir_;
  std::string path_;
};

// Feeds |z| values to one detector's fresh state; returns the 1-based position of the first
// verdict, or 0 if none came.
size_t FirstVerdict(const ConfiguredDetector& detector, const std::vector<double>& abs_zscores) {
  void* state = nullptr;
  EXPECT_TRUE(detector.NewState(&state).ok());
  size_t position = 0;
  for (size_t i = 0; i < abs_zscores.size() && position == 0; ++i) {
    Observation observation{100.0, abs_zscores[i], abs_zscores[i], 0};
    Verdict verdict;
    Status status = detector.Observe(state, observation, &verdict);
    EXPECT_TRUE(status.ok()) << status.message();
    if (verdict.kind != VerdictKind::kNone) position = i + 1;
  }
  detector.DestroyState(state);
  return position;
}

std::vector<double> Repeat(double value, size_t count) { return std::vector<double>(count, value); }

TEST_F(PipelineTest, DefaultConfigBuildsTheDefaultPipeline) {
  DetectorSet set;
  Status status = BuildDetectorSet(Config{}, registry_, &set);
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_THAT(set.triggers, SizeIs(2));
  EXPECT_EQ(set.triggers[0]->name(), "zscore_severe");
  EXPECT_EQ(set.triggers[1]->name(), "moderate_window");
  ASSERT_NE(set.recovery, nullptr);
  EXPECT_EQ(set.recovery->name(), "recovery");
  EXPECT_EQ(set.recovery->role(), DW_DETECTOR_ROLE_RECOVERY);

  // The detector defaults of docs/behaviour.md, Defaults, as the plugins apply them.
  EXPECT_EQ(FirstVerdict(*set.triggers[0], Repeat(3.01, 10)), 5u);  // 5 in a row above 3.0
  EXPECT_EQ(FirstVerdict(*set.triggers[0], Repeat(3.0, 10)), 0u);   // 3.0 itself is not above
  std::vector<double> ten_of_twenty = Repeat(0.5, 10);
  ten_of_twenty.insert(ten_of_twenty.end(), 10, 2.51);
  EXPECT_EQ(FirstVerdict(*set.triggers[1], ten_of_twenty), 20u);  // 10 of the last 20 above 2.5
  EXPECT_EQ(FirstVerdict(*set.recovery, Repeat(2.0, 60)), 50u);   // 50 in a row at most 2.0
}

TEST_F(PipelineTest, FileParametersReachThePlugin) {
  DetectorSet set;
  ASSERT_EQ(
      Build("detectors:\n  zscore_severe:\n    consecutive: 2\n  recovery: {consecutive: 3}\n",
            &set),
      "");
  EXPECT_EQ(FirstVerdict(*set.triggers[0], Repeat(3.5, 5)), 2u);
  EXPECT_EQ(FirstVerdict(*set.recovery, Repeat(0.0, 5)), 3u);
}

TEST_F(PipelineTest, UnknownDetectorNamesKeyLineAndWhatIsLoaded) {
  DetectorSet set;
  EXPECT_EQ(
      Build("# a comment\npipeline:\n  triggers:\n    - zscore_severe\n    - moderate_window\n"
            "    - ewma\n",
            &set),
      "cfg.yaml:6: pipeline.triggers[2]: no loaded plugin provides detector 'ewma' (loaded: "
      "zscore_severe, moderate_window, recovery)");
  EXPECT_EQ(Build("pipeline:\n  recovery: slow_recovery\n", &set),
            "cfg.yaml:2: pipeline.recovery: no loaded plugin provides detector 'slow_recovery' "
            "(loaded: zscore_severe, moderate_window, recovery)");
  EXPECT_TRUE(set.triggers.empty());  // untouched on failure
  EXPECT_EQ(set.recovery, nullptr);

  PluginRegistry empty;
  Status status = BuildDetectorSet(Config{}, empty, &set);
  EXPECT_EQ(status.message(),
            "pipeline.triggers[0] (built-in default): no loaded plugin provides detector "
            "'zscore_severe' (loaded: none)");
}

TEST_F(PipelineTest, ADetectorMustHaveTheRoleItIsUsedFor) {
  DetectorSet set;
  EXPECT_EQ(Build("pipeline:\n  triggers: [zscore_severe, recovery]\n", &set),
            "cfg.yaml:2: pipeline.triggers[1]: detector 'recovery' is a recovery detector, not a "
            "trigger detector");
  EXPECT_EQ(Build("pipeline:\n  triggers: [zscore_severe]\n  recovery: moderate_window\n", &set),
            "cfg.yaml:3: pipeline.recovery: detector 'moderate_window' is a trigger detector, not "
            "a recovery detector");
}

TEST_F(PipelineTest, BadParametersNameTheirKeyAndLineWithThePluginsReason) {
  DetectorSet set;
  // Bundled plugins: the reason is theirs; the key and line are the host's.
  EXPECT_THAT(
      Build("detectors:\n  zscore_severe:\n    consecutive: 5\n    threshold: -1\n", &set),
      AllOf(StartsWith("cfg.yaml:4: detectors.zscore_severe.threshold: "), HasSubstr("-1")));
  EXPECT_EQ(Build("detectors:\n  recovery:\n    treshold: 2\n", &set),
            "cfg.yaml:3: detectors.recovery.treshold: unknown parameter 'treshold'");

  LoadFixtures();
  EXPECT_EQ(Build("detectors:\n  fixture_trigger:\n    count: 2\n    threshold: 500\n"
                  "pipeline:\n  triggers: [fixture_trigger]\n",
                  &set),
            "cfg.yaml:4: detectors.fixture_trigger.threshold: 500 is out of range [0, 100]");
  EXPECT_EQ(Build("detectors:\n  fixture_trigger: {count: many}\n"
                  "pipeline:\n  triggers: [fixture_trigger]\n  recovery: fixture_recovery\n",
                  &set),
            "cfg.yaml:2: detectors.fixture_trigger.count: expected a whole number, got 'many'");
  EXPECT_EQ(Build("detectors:\n  fixture_trigger: {count: 1}\n"
                  "pipeline:\n  triggers: [fixture_trigger]\n  recovery: fixture_recovery\n",
                  &set),
            "");
  EXPECT_EQ(set.triggers[0]->name(), "fixture_trigger");
  EXPECT_EQ(set.recovery->name(), "fixture_recovery");
}

TEST_F(PipelineTest, AConfigurationRefusedAsAWholeNamesTheDetector) {
  LoadFixtures();
  DetectorSet set;
  EXPECT_EQ(Build("pipeline:\n  triggers: [zscore_severe, fixture_config_fails]\n", &set),
            "cfg.yaml:2: pipeline.triggers[1]: fixture refuses every config");
  EXPECT_EQ(Build("detectors:\n  fixture_config_fails:\n    anything: 1\n"
                  "pipeline:\n  triggers: [fixture_config_fails]\n",
                  &set),
            "cfg.yaml:3: detectors.fixture_config_fails: fixture refuses every config");
  // A plugin that gives no reason still gets a message that says which detector and where.
  const std::string silent =
      Build("pipeline:\n  triggers: [fixture_config_fails_silently]\n", &set);
  EXPECT_THAT(silent, StartsWith("cfg.yaml:2: pipeline.triggers[0]: "));
  EXPECT_GT(silent.size(), std::string("cfg.yaml:2: pipeline.triggers[0]: ").size());
}

TEST_F(PipelineTest, AThrowingDetectorYieldsAStatusAndAMessage) {
  LoadFixtures();
  DetectorSet set;
  ASSERT_EQ(Build("pipeline:\n  triggers: [fixture_throws]\n", &set), "");
  void* state = nullptr;
  ASSERT_TRUE(set.triggers[0]->NewState(&state).ok());
  Observation observation{1.0, 9.0, 9.0, 0};
  Verdict verdict;
  Status status = set.triggers[0]->Observe(state, observation, &verdict);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("fixture observe exploded"));
  EXPECT_EQ(verdict.kind, VerdictKind::kNone);
  set.triggers[0]->DestroyState(state);
}

// A plugin that starts its messages with its own name or the parameter's key, as the guide's first
// examples did: the host names each once.
TEST_F(PipelineTest, ThePluginAndTheKeyAreNamedOnce) {
  LoadFixtures();
  DetectorSet set;
  EXPECT_EQ(Build("detectors:\n  fixture_self_naming:\n    limit: -1\n"
                  "pipeline:\n  triggers: [fixture_self_naming]\n",
                  &set),
            "cfg.yaml:3: detectors.fixture_self_naming.limit: must be positive");
  EXPECT_EQ(Build("detectors:\n  fixture_self_naming:\n    other: 1\n"
                  "pipeline:\n  triggers: [fixture_self_naming]\n",
                  &set),
            "cfg.yaml:3: detectors.fixture_self_naming: cannot configure");
  ASSERT_EQ(Build("pipeline:\n  triggers: [fixture_self_naming]\n", &set), "");
  void* state = nullptr;
  ASSERT_TRUE(set.triggers[0]->NewState(&state).ok());
  Observation observation{1.0, 9.0, 9.0, 0};
  Verdict verdict;
  EXPECT_EQ(set.triggers[0]->Observe(state, observation, &verdict).message(), "observe failed");
  set.triggers[0]->DestroyState(state);
}

// on_reset has no status: the SDK reports a throwing Reset from the calls after it, with the
// detector's message, instead of letting the state observe as if it had been reset.
TEST_F(PipelineTest, AThrowingResetIsReportedByTheNextCalls) {
  LoadFixtures();
  DetectorSet set;
  ASSERT_EQ(Build("pipeline:\n  triggers: [fixture_reset_throws]\n", &set), "");
  const ConfiguredDetector& detector = *set.triggers[0];
  void* state = nullptr;
  ASSERT_TRUE(detector.NewState(&state).ok());
  std::string saved;
  ASSERT_TRUE(detector.Save(state, &saved).ok());

  detector.Reset(state);
  Status status = detector.Save(state, &saved);
  EXPECT_EQ(status.message(), "reset failed: fixture reset exploded");
  Observation observation{1.0, 9.0, 9.0, 0};
  Verdict verdict;
  status = detector.Observe(state, observation, &verdict);
  EXPECT_EQ(status.message(), "reset failed: fixture reset exploded");
  EXPECT_EQ(verdict.kind, VerdictKind::kNone);
  detector.DestroyState(state);
}

}  // namespace
}  // namespace driftwatch
