// The three default detectors through the real C vtable (ConfiguredDetector over the loaded .so).
#include "core/detector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/statistics/detectors.h"

namespace driftwatch {
namespace {

using testing::Configure;

// One per-service state of a configured detector, fed |z| values.
class Driver {
 public:
  explicit Driver(const ConfiguredDetector& detector) : detector_(detector) {
    const Status status = detector_.NewState(&state_);
    EXPECT_TRUE(status.ok()) << status.message();
  }
  ~Driver() { detector_.DestroyState(state_); }

  Verdict Feed(double zscore) {
    Observation observation;
    observation.value = 100.0 + zscore;
    observation.zscore = zscore;
    observation.abs_zscore = std::fabs(zscore);
    observation.timestamp_ms = ++clock_ms_;
    Verdict verdict;
    const Status status = detector_.Observe(state_, observation, &verdict);
    EXPECT_TRUE(status.ok()) << status.message();
    return verdict;
  }
  // Feeds every value; returns the kinds answered, in order.
  std::vector<VerdictKind> FeedAll(const std::vector<double>& zscores) {
    std::vector<VerdictKind> kinds;
    for (double z : zscores) kinds.push_back(Feed(z).kind);
    return kinds;
  }
  std::string Save() const {
    std::string bytes;
    const Status status = detector_.Save(state_, &bytes);
    EXPECT_TRUE(status.ok()) << status.message();
    return bytes;
  }
  Status Restore(std::string_view bytes) { return detector_.Restore(state_, bytes); }
  void Reset() { detector_.Reset(state_); }

 private:
  const ConfiguredDetector& detector_;
  void* state_ = nullptr;
  int64_t clock_ms_ = 0;
};

std::vector<double> Repeat(double z, int times) { return std::vector<double>(times, z); }

std::vector<double> Concat(std::initializer_list<std::vector<double>> parts) {
  std::vector<double> all;
  for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

double Field(const Verdict& verdict, const std::string& key) {
  for (const auto& [name, value] : verdict.fields) {
    if (key == name) return value;
  }
  ADD_FAILURE() << "no field " << key;
  return std::nan("");
}

int CountFires(const std::vector<VerdictKind>& kinds) {
  int fires = 0;
  for (VerdictKind kind : kinds) fires += kind == VerdictKind::kFire ? 1 : 0;
  return fires;
}

// ---- zscore_severe ----------------------------------------------------------------------------

TEST(ZscoreSevereTest, FiresOnTheFifthConsecutiveSevereScore) {
  auto detector = Configure("zscore_severe");
  EXPECT_EQ(detector->name(), "zscore_severe");
  EXPECT_EQ(detector->role(), DW_DETECTOR_ROLE_TRIGGER);
  Driver driver(*detector);
  EXPECT_EQ(CountFires(driver.FeedAll({3.5, -4.0, 6.25, 3.01})), 0);
  const Verdict verdict = driver.Feed(-3.2);
  EXPECT_EQ(verdict.kind, VerdictKind::kFire);
  EXPECT_EQ(verdict.reason, "consecutive_severe_anomalies");
  EXPECT_EQ(Field(verdict, "consecutive_count"), 5.0);
  EXPECT_EQ(Field(verdict, "max_zscore"), 6.25);  // the largest |z| of the run
}

TEST(ZscoreSevereTest, ANormalScoreBreaksTheRun) {
  auto detector = Configure("zscore_severe");
  Driver driver(*detector);
  // 4 severe, one at exactly the threshold (not above it), 4 severe: never 5 in a row.
  EXPECT_EQ(CountFires(driver.FeedAll(Concat({Repeat(9.0, 4), {3.0}, Repeat(4.0, 4)}))), 0);
  const Verdict verdict = driver.Feed(3.5);
  EXPECT_EQ(verdict.kind, VerdictKind::kFire);
  EXPECT_EQ(Field(verdict, "max_zscore"), 4.0);  // the 9.0s were in an earlier run
}

TEST(ZscoreSevereTest, ParametersChangeBehaviour) {
  auto detector = Configure("zscore_severe", {{"threshold", "4.0"}, {"consecutive", "2"}});
  Driver driver(*detector);
  EXPECT_EQ(CountFires(driver.FeedAll(Repeat(3.9, 10))), 0);
  EXPECT_EQ(driver.Feed(4.1).kind, VerdictKind::kNone);
  const Verdict verdict = driver.Feed(-4.5);
  EXPECT_EQ(verdict.kind, VerdictKind::kFire);
  EXPECT_EQ(Field(verdict, "consecutive_count"), 2.0);
}

TEST(ZscoreSevereTest, ResetForgetsTheRun) {
  auto detector = Configure("zscore_severe");
  Driver driver(*detector);
  driver.FeedAll(Repeat(5.0, 4));
  driver.Reset();
  EXPECT_EQ(CountFires(driver.FeedAll(Repeat(5.0, 4))), 0);
  EXPECT_EQ(driver.Feed(5.0).kind, VerdictKind::kFire);
}

// ---- moderate_window --------------------------------------------------------------------------

TEST(ModerateWindowTest, FiresWhenTenOfTheLastTwentyAreAboveTheThreshold) {
  auto detector = Configure("moderate_window");
  Driver driver(*detector);
  // Nine moderate scores among normal ones, then another: ten of the last twenty.
  std::vector<double> zscores;
  for (int i = 0; i < 9; ++i) zscores.insert(zscores.end(), {2.6, 0.5});
  EXPECT_EQ(CountFires(driver.FeedAll(zscores)), 0);
  const Verdict verdict = driver.Feed(-2.75);
  EXPECT_EQ(verdict.kind, VerdictKind::kFire);
  EXPECT_EQ(verdict.reason, "moderate_anomaly_rate");
  EXPECT_EQ(Field(verdict, "anomaly_count"), 10.0);
  EXPECT_EQ(Field(verdict, "window_size"), 20.0);
  EXPECT_EQ(Field(verdict, "max_zscore"), 2.75);
}

TEST(ModerateWindowTest, OnlyTheLastTwentyCount) {
  auto detector = Configure("moderate_window");
  Driver driver(*detector);
  // Scores 0..19: moderate at even indices up to 16 (nine), normal after.
  std::vector<double> zscores;
  for (int i = 0; i < 20; ++i) zscores.push_back(i % 2 == 0 && i <= 16 ? 2.6 : 2.5);
  EXPECT_EQ(CountFires(driver.FeedAll(zscores)), 0);  // 2.5 is not above 2.5
  // Index 20 pushes index 0 out: still nine. Index 21 makes ten.
  EXPECT_EQ(driver.Feed(2.6).kind, VerdictKind::kNone);
  const Verdict verdict = driver.Feed(2.6);
  EXPECT_EQ(verdict.kind, VerdictKind::kFire);
  EXPECT_EQ(Field(verdict, "anomaly_count"), 10.0);
}

TEST(ModerateWindowTest, ParametersChangeBehaviour) {
  auto detector =
      Configure("moderate_window", {{"threshold", "4.0"}, {"count", "3"}, {"window", "5"}});
  Driver driver(*detector);
  EXPECT_EQ(CountFires(driver.FeedAll(Repeat(3.9, 10))), 0);
  EXPECT_EQ(CountFires(driver.FeedAll({4.5, 0, 0, 0, 4.5, 0, 4.5})), 0);  // 4.5s 6 apart
  const Verdict verdict = driver.Feed(4.25);
  EXPECT_EQ(verdict.kind, VerdictKind::kFire);
  EXPECT_EQ(Field(verdict, "anomaly_count"), 3.0);
  EXPECT_EQ(Field(verdict, "window_size"), 5.0);
  EXPECT_EQ(Field(verdict, "max_zscore"), 4.5);
}

// The plugin keeps its window as a ring with a running count; a plain list of the last `window`
// values, counted afresh every time, must give the same verdict and fields at every step, across
// many wraps of the ring, resets, and saves restored into a new state (which continues from it).
TEST(ModerateWindowTest, AnswersLikeAPlainListOfTheLastValues) {
  auto detector =
      Configure("moderate_window", {{"threshold", "2.0"}, {"count", "4"}, {"window", "7"}});
  std::mt19937 random(11);
  std::uniform_real_distribution<double> zscore(-3.5, 3.5);
  auto driver = std::make_unique<Driver>(*detector);
  std::deque<double> recent;
  for (int step = 0; step < 5000; ++step) {
    if (step % 997 == 500) {
      driver->Reset();
      recent.clear();
    }
    if (step % 313 == 100) {  // carry on in a new state restored from this one's save
      const std::string bytes = driver->Save();
      driver = std::make_unique<Driver>(*detector);
      ASSERT_TRUE(driver->Restore(bytes).ok());
    }
    const double z = zscore(random);
    recent.push_back(std::fabs(z));
    if (recent.size() > 7) recent.pop_front();
    const auto above =
        std::count_if(recent.begin(), recent.end(), [](double v) { return v > 2.0; });
    const Verdict verdict = driver->Feed(z);
    ASSERT_EQ(verdict.kind, above >= 4 ? VerdictKind::kFire : VerdictKind::kNone)
        << "step " << step;
    if (above >= 4) {
      EXPECT_EQ(Field(verdict, "anomaly_count"), static_cast<double>(above));
      EXPECT_EQ(Field(verdict, "max_zscore"), *std::max_element(recent.begin(), recent.end()));
    }
  }
}

// ---- recovery ---------------------------------------------------------------------------------

TEST(RecoveryTest, RecoversOnTheFiftiethConsecutiveNormalScore) {
  auto detector = Configure("recovery");
  EXPECT_EQ(detector->role(), DW_DETECTOR_ROLE_RECOVERY);
  Driver driver(*detector);
  // 2.0 is normal (|z| <= 2.0), and so is -2.0.
  std::vector<double> zscores = Repeat(0.3, 47);
  zscores.insert(zscores.end(), {2.0, -2.0});
  for (VerdictKind kind : driver.FeedAll(zscores)) EXPECT_EQ(kind, VerdictKind::kNone);
  const Verdict verdict = driver.Feed(0.0);
  EXPECT_EQ(verdict.kind, VerdictKind::kRecovered);
  EXPECT_EQ(verdict.reason, "recovered");
  EXPECT_EQ(Field(verdict, "consecutive_normal"), 50.0);
}

TEST(RecoveryTest, AnAbnormalScoreRestartsTheRun) {
  auto detector = Configure("recovery");
  Driver driver(*detector);
  driver.FeedAll(Repeat(1.0, 49));
  EXPECT_EQ(driver.Feed(2.1).kind, VerdictKind::kNone);
  for (VerdictKind kind : driver.FeedAll(Repeat(1.0, 49))) EXPECT_EQ(kind, VerdictKind::kNone);
  EXPECT_EQ(driver.Feed(1.0).kind, VerdictKind::kRecovered);
}

TEST(RecoveryTest, ParametersChangeBehaviour) {
  auto detector = Configure("recovery", {{"threshold", "4.0"}, {"consecutive", "3"}});
  Driver driver(*detector);
  EXPECT_EQ(driver.Feed(3.9).kind, VerdictKind::kNone);
  EXPECT_EQ(driver.Feed(-3.0).kind, VerdictKind::kNone);
  EXPECT_EQ(driver.Feed(4.0).kind, VerdictKind::kRecovered);
}

// ---- configuration errors ---------------------------------------------------------------------

struct BadParams {
  const char* detector;
  std::vector<Param> params;
  int32_t bad_index;
};

TEST(DetectorParamsTest, BadValuesAreRejectedNamingTheParameter) {
  const std::vector<BadParams> cases = {
      {"zscore_severe", {{"threshold", "abc"}}, 0},
      {"zscore_severe", {{"threshold", "4"}, {"consecutive", "0"}}, 1},
      {"zscore_severe", {{"consecutive", "2.5"}}, 0},
      {"zscore_severe", {{"threshold", "-1"}}, 0},
      {"zscore_severe", {{"threshold", "nan"}}, 0},
      {"zscore_severe", {{"threshold", "3"}, {"treshold", "3"}}, 1},  // unknown key
      {"moderate_window", {{"window", "0"}}, 0},
      {"moderate_window", {{"window", "5"}, {"count", "6"}}, 1},  // count cannot exceed window
      {"moderate_window", {{"count", "21"}}, 0},                  // nor the default window
      {"moderate_window", {{"threshold", ""}}, 0},
      {"recovery", {{"consecutive", "-3"}}, 0},
      {"recovery", {{"threshold", "2"}, {"window", "3"}}, 1},
      {"cusum", {{"k", "-0.5"}}, 0},
      {"cusum", {{"k", "1"}, {"h", "0"}}, 1},
      {"ewma", {{"lambda", "0"}}, 0},
      {"ewma", {{"lambda", "1.5"}}, 0},
      {"ewma", {{"limit", "x"}}, 0},
      {"median_z", {{"window", "0"}}, 0},
      {"median_z", {{"threshold", "-2"}}, 0},
  };
  for (const BadParams& bad : cases) {
    std::unique_ptr<ConfiguredDetector> detector;
    int32_t bad_index = -7;
    const Status status = ConfiguredDetector::Create(testing::Plugins().FindDetector(bad.detector),
                                                     bad.params, &detector, &bad_index);
    const std::string where =
        std::string(bad.detector) + " " + bad.params.back().key + "=" + bad.params.back().value;
    EXPECT_FALSE(status.ok()) << where;
    EXPECT_FALSE(status.message().empty()) << where;
    EXPECT_EQ(bad_index, bad.bad_index) << where << ": " << status.message();
    EXPECT_EQ(detector, nullptr) << where;
  }
}

TEST(DetectorParamsTest, AcceptedValuesLeaveNoBadIndex) {
  std::unique_ptr<ConfiguredDetector> detector;
  int32_t bad_index = 7;
  const Status status = ConfiguredDetector::Create(testing::Plugins().FindDetector("recovery"),
                                                   {{"threshold", "1.5"}}, &detector, &bad_index);
  EXPECT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(bad_index, -1);
  ASSERT_NE(detector, nullptr);
  EXPECT_EQ(detector->version(), "1.0.0");
}

// ---- saved state ------------------------------------------------------------------------------

struct SaveCase {
  const char* detector;
  std::vector<Param> params;
  std::vector<double> before;  // fed, then saved
  std::vector<double> after;   // fed to the original and to the restored copy
};

TEST(DetectorStateTest, RestoredStateAnswersLikeTheOriginal) {
  std::vector<double> long_window;
  for (int i = 0; i < 150; ++i) long_window.push_back(i % 3 == 0 ? 2.7 : 1.0);
  const std::vector<SaveCase> cases = {
      {"zscore_severe", {}, {1.0, 3.5, 4.5, 3.2}, {3.3, 3.1, 1.0, 4, 4, 4, 4, 4, 4}},
      {"moderate_window", {}, Concat({Repeat(2.6, 7), Repeat(0.0, 5)}), Repeat(2.6, 6)},
      // More than fits the first save buffer: exercises the BUFFER_TOO_SMALL protocol.
      {"moderate_window", {{"window", "120"}, {"count", "41"}}, long_window, Repeat(2.7, 3)},
      {"recovery", {}, Concat({Repeat(3.0, 3), Repeat(0.5, 25)}), Repeat(1.0, 30)},
  };
  for (const SaveCase& c : cases) {
    SCOPED_TRACE(c.detector);
    auto detector = Configure(c.detector, c.params);
    Driver original(*detector);
    original.FeedAll(c.before);
    const std::string bytes = original.Save();
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(bytes[0], 1) << "saved state starts with its version";

    Driver restored(*detector);
    const Status status = restored.Restore(bytes);
    ASSERT_TRUE(status.ok()) << status.message();
    EXPECT_EQ(restored.Save(), bytes);
    const std::vector<VerdictKind> expected = original.FeedAll(c.after);
    EXPECT_EQ(restored.FeedAll(c.after), expected);
    EXPECT_GT(CountFires(expected) + static_cast<int>(std::count(expected.begin(), expected.end(),
                                                                 VerdictKind::kRecovered)),
              0)
        << "the continuation should reach a verdict";
  }
}

TEST(DetectorStateTest, CorruptBytesAreRefusedAndLeaveTheStateAlone) {
  for (const char* name : {"zscore_severe", "moderate_window", "recovery"}) {
    SCOPED_TRACE(name);
    auto detector = Configure(name);
    Driver driver(*detector);
    driver.FeedAll({3.5, 3.5, 2.7, 0.1});
    const std::string bytes = driver.Save();

    std::string wrong_version = bytes;
    wrong_version[0] = 9;
    std::vector<std::string> corrupt = {"", wrong_version, bytes + "x"};
    for (size_t size = 1; size < bytes.size(); ++size) corrupt.push_back(bytes.substr(0, size));
    for (const std::string& data : corrupt) {
      const Status status = driver.Restore(data);
      EXPECT_FALSE(status.ok()) << "restored " << data.size() << " bytes";
      EXPECT_EQ(driver.Save(), bytes);
    }
  }
}

// ---- opt-in detectors (docs/detectors.md) -----------------------------------------------------

TEST(CusumTest, AccumulatesASmallSustainedShiftInEitherDirection) {
  auto detector = Configure("cusum");  // k = 1, h = 16
  Driver driver(*detector);
  // Noise within k never accumulates.
  EXPECT_EQ(CountFires(driver.FeedAll(Concat({Repeat(0.9, 500), Repeat(-0.9, 500)}))), 0);
  // z = 1.5 adds 0.5 a sample: above 16 at the 33rd.
  EXPECT_EQ(CountFires(driver.FeedAll(Repeat(1.5, 32))), 0);
  const Verdict verdict = driver.Feed(1.5);
  EXPECT_EQ(verdict.kind, VerdictKind::kFire);
  EXPECT_EQ(verdict.reason, "cumulative_shift");
  EXPECT_DOUBLE_EQ(Field(verdict, "cusum_high"), 16.5);
  EXPECT_EQ(Field(verdict, "direction"), 1.0);
  driver.Reset();
  // z = -3 adds 2 a sample to S-: above 16 at the 9th.
  EXPECT_EQ(CountFires(driver.FeedAll(Repeat(-3.0, 8))), 0);
  const Verdict down = driver.Feed(-3.0);
  EXPECT_EQ(down.kind, VerdictKind::kFire);
  EXPECT_EQ(Field(down, "direction"), -1.0);
}

TEST(CusumTest, ParametersAndSavedStateCount) {
  auto detector = Configure("cusum", {{"k", "0.5"}, {"h", "2"}});
  Driver driver(*detector);
  EXPECT_EQ(CountFires(driver.FeedAll(Repeat(1.5, 2))), 0);  // S+ = 2: not above h
  const std::string saved = driver.Save();
  Driver restored(*detector);
  ASSERT_TRUE(restored.Restore(saved).ok());
  EXPECT_EQ(restored.Feed(1.5).kind, VerdictKind::kFire);  // S+ = 3 after the restore
}

TEST(EwmaTest, FiresWhenTheAverageLeavesItsControlLimit) {
  auto detector = Configure("ewma");  // lambda 0.05, limit 5: bound 5 sqrt(0.05 / 1.95)
  Driver driver(*detector);
  EXPECT_EQ(CountFires(driver.FeedAll(Repeat(0.7, 1000))), 0);  // E -> 0.7 < 0.80
  driver.Reset();
  // E_n = 2 (1 - 0.95^n) passes 0.8006 at n = 10.
  EXPECT_EQ(CountFires(driver.FeedAll(Repeat(2.0, 9))), 0);
  const Verdict verdict = driver.Feed(2.0);
  EXPECT_EQ(verdict.kind, VerdictKind::kFire);
  EXPECT_EQ(verdict.reason, "ewma_shift");
  EXPECT_NEAR(Field(verdict, "control_limit"), 5.0 * std::sqrt(0.05 / 1.95), 1e-12);
  EXPECT_NEAR(Field(verdict, "ewma_zscore"), 2.0 * (1.0 - std::pow(0.95, 10)), 1e-12);
}

TEST(EwmaTest, WarmupDelaysTheFirstVerdict) {
  auto detector = Configure("ewma", {{"lambda", "1"}, {"limit", "3"}, {"warmup", "4"}});
  Driver driver(*detector);  // lambda 1: E is z, bound 3
  EXPECT_EQ(CountFires(driver.FeedAll(Repeat(-5.0, 3))), 0);
  EXPECT_EQ(driver.Feed(-5.0).kind, VerdictKind::kFire);
  const std::string saved = driver.Save();
  Driver restored(*detector);
  ASSERT_TRUE(restored.Restore(saved).ok());
  EXPECT_EQ(restored.Feed(-5.0).kind, VerdictKind::kFire);  // warm after the restore too
}

TEST(MedianZTest, IgnoresIsolatedSpikesButNotAShiftOfMostSamples) {
  auto detector = Configure("median_z");  // window 30, threshold 2
  Driver driver(*detector);
  // 14 spikes of |z| = 10 in every 30: the rules would count them; the median stays at 0.5.
  std::vector<double> spiky;
  for (int i = 0; i < 300; ++i) spiky.push_back(i % 30 < 14 ? 10.0 : 0.5);
  EXPECT_EQ(CountFires(driver.FeedAll(spiky)), 0);
  driver.Reset();
  EXPECT_EQ(CountFires(driver.FeedAll(Repeat(2.5, 29))), 0);  // the window is not full yet
  const Verdict verdict = driver.Feed(-2.5);
  EXPECT_EQ(verdict.kind, VerdictKind::kFire);
  EXPECT_EQ(verdict.reason, "median_zscore_high");
  EXPECT_EQ(Field(verdict, "median_zscore"), 2.5);
}

}  // namespace
}  // namespace driftwatch
