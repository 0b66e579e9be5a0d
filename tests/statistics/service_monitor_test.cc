// docs/behaviour.md, State machine, sample by sample, through the real detector plugins.
#include "core/service_monitor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/statistics/detectors.h"

namespace driftwatch {
namespace {

using testing::Configure;
using testing::DefaultDetectors;

constexpr int64_t kStartMs = 1768176000000;  // 2026-01-12T00:00:00Z
constexpr int64_t kSampleSpacingMs = 1000;
constexpr int64_t kHourMs = 3600 * 1000;
constexpr double kNoPayload = std::numeric_limits<double>::quiet_NaN();

// With the baseline the tests establish (100 samples alternating 90 and 110: mean 100, sd 10.05):
constexpr double kNormal = 100.0;    // z = 0
constexpr double kModerate = 128.0;  // z = 2.79: above 2.5, not held back
constexpr double kSevere = 150.0;    // z = 4.97

std::string Shortest(double value) {
  char text[32];
  const auto written = std::to_chars(text, text + sizeof text, value);
  return std::string(text, written.ptr);
}

// z exactly as docs/behaviour.md, Statistics, defines it, against the monitor's current baseline.
double Sigma(const Baseline& b) {
  return std::max(b.stddev_latency, 0.001 * std::max(std::fabs(b.mean_latency), 1.0));
}
double ZOf(const ServiceMonitor& monitor, double value) {
  return (value - monitor.baseline().mean_latency) / Sigma(monitor.baseline());
}
double AtZ(const ServiceMonitor& monitor, double z) {
  return monitor.baseline().mean_latency + z * Sigma(monitor.baseline());
}

class ServiceMonitorTest : public ::testing::Test {
 protected:
  Sample Next(double latency_ms, double payload_kb = kNoPayload) {
    clock_ms_ += kSampleSpacingMs;
    return Sample{clock_ms_, latency_ms, payload_kb};
  }
  ProcessResult Feed(ServiceMonitor& monitor, double latency_ms) {
    ProcessResult result = monitor.Process(Next(latency_ms));
    EXPECT_EQ(result.detector_error, "");
    return result;
  }
  // Feeds every value and expects none of them to cause a transition.
  void FeedQuietly(ServiceMonitor& monitor, const std::vector<double>& values) {
    for (double value : values) {
      const ProcessResult result = Feed(monitor, value);
      EXPECT_FALSE(result.transition)
          << "value " << value << " at sample " << monitor.sample_count() << ": "
          << result.transition->reason;
    }
  }
  void FeedQuietly(ServiceMonitor& monitor, double value, int times) {
    FeedQuietly(monitor, std::vector<double>(times, value));
  }
  // 100 samples alternating 90 and 110: STABLE at the last one.
  void Establish(ServiceMonitor& monitor) {
    for (int i = 0; i < 99; ++i) FeedQuietly(monitor, {i % 2 == 0 ? 90.0 : 110.0});
    const ProcessResult result = Feed(monitor, 110.0);
    ASSERT_TRUE(result.transition);
    ASSERT_EQ(monitor.state(), ServiceState::kStable);
  }
  // STABLE -> DRIFT_DETECTED with five severe samples.
  void Drift(ServiceMonitor& monitor) {
    FeedQuietly(monitor, kSevere, 4);
    const ProcessResult result = Feed(monitor, kSevere);
    ASSERT_TRUE(result.transition);
    ASSERT_EQ(monitor.state(), ServiceState::kDriftDetected);
  }

  BaselineParams params_;
  DetectorSet detectors_ = DefaultDetectors();
  int64_t clock_ms_ = kStartMs;
};

// ---- INSUFFICIENT_DATA -> STABLE --------------------------------------------------------------

TEST_F(ServiceMonitorTest, BaselineIsEstablishedAtTheHundredthSample) {
  ServiceMonitor monitor(params_, detectors_);
  EXPECT_EQ(monitor.state(), ServiceState::kInsufficientData);
  for (int i = 0; i < 99; ++i) FeedQuietly(monitor, {i % 2 == 0 ? 90.0 : 110.0});
  EXPECT_EQ(monitor.state(), ServiceState::kInsufficientData);
  EXPECT_FALSE(monitor.baseline().valid);
  EXPECT_EQ(monitor.window().size(), 99u);
  EXPECT_EQ(monitor.sample_count(), 99u);
  EXPECT_FALSE(monitor.last_transition());

  const ProcessResult result = Feed(monitor, 110.0);
  ASSERT_TRUE(result.transition);
  const Transition& t = *result.transition;
  EXPECT_EQ(t.from, ServiceState::kInsufficientData);
  EXPECT_EQ(t.to, ServiceState::kStable);
  EXPECT_EQ(t.reason, "baseline_established");
  EXPECT_EQ(t.metadata_json, R"({"reason":"baseline_established","sample_count":100})");
  EXPECT_EQ(t.seq, 100u);
  EXPECT_EQ(t.timestamp_ms, clock_ms_);
  EXPECT_EQ(monitor.last_transition()->metadata_json, t.metadata_json);

  const Baseline& b = monitor.baseline();
  EXPECT_TRUE(b.valid);
  EXPECT_EQ(b.sample_count, 100u);
  EXPECT_EQ(b.last_updated_ms, clock_ms_);
  EXPECT_DOUBLE_EQ(b.mean_latency, 100.0);
  EXPECT_DOUBLE_EQ(b.stddev_latency, std::sqrt(10000.0 / 99.0));
  EXPECT_EQ(b.p50_latency, 100.0);
  EXPECT_EQ(b.p95_latency, 110.0);
  EXPECT_FALSE(b.has_payload);
  EXPECT_EQ(ServiceStateName(monitor.state()), std::string("STABLE"));
}

TEST_F(ServiceMonitorTest, SamplesOlderThanTheWindowDoNotCountTowardTheFirstBaseline) {
  ServiceMonitor monitor(params_, detectors_);
  FeedQuietly(monitor, kNormal, 60);
  clock_ms_ += 25 * kHourMs;
  FeedQuietly(monitor, kNormal, 40);  // the 100th sample: the 60 old ones are evicted first
  EXPECT_EQ(monitor.state(), ServiceState::kInsufficientData);
  EXPECT_EQ(monitor.window().size(), 40u);
  FeedQuietly(monitor, kNormal, 59);
  const ProcessResult result = Feed(monitor, kNormal);
  ASSERT_TRUE(result.transition);
  EXPECT_EQ(result.transition->seq, 160u);
  EXPECT_EQ(monitor.baseline().sample_count, 100u);
}

// ---- Rule 1 -----------------------------------------------------------------------------------

TEST_F(ServiceMonitorTest, FifthConsecutiveSevereSampleFiresAndNoneEntersTheWindow) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  const std::vector<double> run = {150.0, 160.0, 155.0, 150.0};
  for (size_t i = 0; i < run.size(); ++i) {
    FeedQuietly(monitor, {run[i]});
    EXPECT_EQ(monitor.held_back_count(), i + 1);
    EXPECT_EQ(monitor.window().size(), 100u);
  }
  const std::string max_zscore = Shortest(ZOf(monitor, 160.0));
  const ProcessResult result = Feed(monitor, 152.0);
  ASSERT_TRUE(result.transition);
  const Transition& t = *result.transition;
  EXPECT_EQ(t.from, ServiceState::kStable);
  EXPECT_EQ(t.to, ServiceState::kDriftDetected);
  EXPECT_EQ(t.reason, "consecutive_severe_anomalies");
  EXPECT_EQ(t.metadata_json, R"({"reason":"consecutive_severe_anomalies","consecutive_count":5,)"
                             R"("max_zscore":)" +
                                 max_zscore +
                                 R"(,"detector":"zscore_severe","detector_version":"1.0.0"})");
  EXPECT_EQ(t.seq, 105u);
  EXPECT_EQ(t.timestamp_ms, clock_ms_);
  // The onset of a drift never widens the baseline.
  EXPECT_EQ(monitor.held_back_count(), 0u);
  ASSERT_EQ(monitor.window().size(), 100u);
  for (const Sample& sample : monitor.window().Samples()) EXPECT_LE(sample.latency_ms, 110.0);
}

TEST_F(ServiceMonitorTest, ANormalSampleBreaksTheSevereRunAndReleasesHeldBackSamplesInOrder) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  FeedQuietly(monitor, {150.0, 151.0, 152.0, 153.0});
  EXPECT_EQ(monitor.held_back_count(), 4u);
  const int64_t first_held_ms = clock_ms_ - 3 * kSampleSpacingMs;
  FeedQuietly(monitor, {kNormal});
  EXPECT_EQ(monitor.held_back_count(), 0u);
  ASSERT_EQ(monitor.window().size(), 105u);
  const std::vector<double> expected = {150.0, 151.0, 152.0, 153.0, kNormal};
  const std::vector<Sample> window = monitor.window().Samples();
  for (uint32_t i = 0; i < expected.size(); ++i) {
    const Sample& entered = window[100 + i];
    EXPECT_EQ(entered.latency_ms, expected[i]);
    EXPECT_EQ(entered.timestamp_ms, first_held_ms + i * kSampleSpacingMs);
  }
  FeedQuietly(monitor, kSevere, 4);  // a new run of four: still no drift
  EXPECT_EQ(monitor.state(), ServiceState::kStable);
  EXPECT_EQ(monitor.held_back_count(), 4u);
}

// ---- Rule 2 -----------------------------------------------------------------------------------

TEST_F(ServiceMonitorTest, TenModerateSamplesAmongTheLastTwentyFire) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  // Samples 0..19: moderate at 0, 2, ..., 16 (nine), normal otherwise.
  for (int i = 0; i < 20; ++i) FeedQuietly(monitor, {i % 2 == 0 && i <= 16 ? kModerate : kNormal});
  FeedQuietly(monitor, {kModerate});  // sample 20 pushes sample 0 out: still nine
  EXPECT_EQ(monitor.window().size(), 121u);
  const std::string max_zscore = Shortest(ZOf(monitor, kModerate));
  const ProcessResult result = Feed(monitor, kModerate);  // ten
  ASSERT_TRUE(result.transition);
  EXPECT_EQ(result.transition->reason, "moderate_anomaly_rate");
  EXPECT_EQ(result.transition->metadata_json,
            R"({"reason":"moderate_anomaly_rate","anomaly_count":10,"window_size":20,)"
            R"("max_zscore":)" +
                max_zscore + R"(,"detector":"moderate_window","detector_version":"1.0.0"})");
  EXPECT_EQ(monitor.window().size(), 121u);
}

TEST_F(ServiceMonitorTest, TheFirstTriggerInOrderWinsATie) {
  // Five moderate then five severe samples: on the last one both rules fire.
  for (const bool severe_first : {true, false}) {
    DetectorSet detectors;
    detectors.triggers.push_back(Configure(severe_first ? "zscore_severe" : "moderate_window"));
    detectors.triggers.push_back(Configure(severe_first ? "moderate_window" : "zscore_severe"));
    detectors.recovery = Configure("recovery");
    ServiceMonitor monitor(params_, detectors);
    Establish(monitor);
    FeedQuietly(monitor, kModerate, 5);
    FeedQuietly(monitor, kSevere, 4);
    const ProcessResult result = Feed(monitor, kSevere);
    ASSERT_TRUE(result.transition);
    EXPECT_EQ(result.transition->reason,
              severe_first ? "consecutive_severe_anomalies" : "moderate_anomaly_rate");
  }
}

// ---- DRIFT_DETECTED -> STABLE -----------------------------------------------------------------

TEST_F(ServiceMonitorTest, FiftyConsecutiveNormalSamplesRecover) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  const Baseline before = monitor.baseline();
  Drift(monitor);
  FeedQuietly(monitor, kNormal, 30);
  FeedQuietly(monitor, {AtZ(monitor, 2.1)});  // breaks the run
  FeedQuietly(monitor, kNormal, 49);
  EXPECT_EQ(monitor.state(), ServiceState::kDriftDetected);
  // B is frozen and nothing entered W.
  EXPECT_EQ(monitor.window().size(), 100u);
  EXPECT_EQ(monitor.baseline().last_updated_ms, before.last_updated_ms);
  EXPECT_EQ(monitor.baseline().mean_latency, before.mean_latency);

  const ProcessResult result = Feed(monitor, kNormal);
  ASSERT_TRUE(result.transition);
  EXPECT_EQ(result.transition->from, ServiceState::kDriftDetected);
  EXPECT_EQ(result.transition->to, ServiceState::kStable);
  EXPECT_EQ(result.transition->reason, "recovered");
  EXPECT_EQ(result.transition->metadata_json,
            R"({"reason":"recovered","consecutive_normal":50,"detector":"recovery",)"
            R"("detector_version":"1.0.0"})");
  EXPECT_EQ(result.transition->seq, 100u + 5 + 30 + 1 + 50);
  EXPECT_EQ(monitor.window().size(), 100u);
}

TEST_F(ServiceMonitorTest, TriggersStartEmptyAfterRecovery) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  FeedQuietly(monitor, kModerate, 4);
  Drift(monitor);  // zscore_severe's run is 5, moderate_window holds 9 anomalies
  FeedQuietly(monitor, kNormal, 49);
  ASSERT_TRUE(Feed(monitor, kNormal).transition);
  // Kept states would fire on the next moderate (10 anomalies) or severe sample (a run of 6).
  FeedQuietly(monitor, {kModerate});
  FeedQuietly(monitor, kSevere, 4);
  EXPECT_EQ(monitor.state(), ServiceState::kStable);
}

TEST_F(ServiceMonitorTest, RecoveryStartsEmptyOnEachDrift) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  Drift(monitor);
  FeedQuietly(monitor, kNormal, 49);
  ASSERT_TRUE(Feed(monitor, kNormal).transition);
  Drift(monitor);
  FeedQuietly(monitor, kNormal, 49);  // a kept run of 50 would recover on the first
  EXPECT_EQ(monitor.state(), ServiceState::kDriftDetected);
  EXPECT_TRUE(Feed(monitor, kNormal).transition);
}

// ---- Baseline refresh -------------------------------------------------------------------------

TEST_F(ServiceMonitorTest, BaselineIsRecomputedAfterExactlyFiftyEntries) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  const int64_t established_ms = clock_ms_;
  FeedQuietly(monitor, 120.0, 49);  // z = 1.99
  EXPECT_EQ(monitor.baseline().last_updated_ms, established_ms);
  EXPECT_EQ(monitor.baseline().sample_count, 100u);
  FeedQuietly(monitor, {120.0});
  EXPECT_EQ(monitor.baseline().last_updated_ms, clock_ms_);
  EXPECT_EQ(monitor.baseline().sample_count, 150u);
  EXPECT_DOUBLE_EQ(monitor.baseline().mean_latency, (100.0 * 100 + 50 * 120.0) / 150);
  // The count restarted: the next refresh is 50 entries later.
  const int64_t refreshed_ms = clock_ms_;
  FeedQuietly(monitor, kNormal, 49);
  EXPECT_EQ(monitor.baseline().last_updated_ms, refreshed_ms);
  FeedQuietly(monitor, {kNormal});
  EXPECT_EQ(monitor.baseline().sample_count, 200u);
}

TEST_F(ServiceMonitorTest, HeldBackSamplesCountTowardTheRefreshWhenTheyEnter) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  const int64_t established_ms = clock_ms_;
  FeedQuietly(monitor, kNormal, 47);
  FeedQuietly(monitor, kSevere, 2);  // held back: not entries yet
  EXPECT_EQ(monitor.baseline().last_updated_ms, established_ms);
  FeedQuietly(monitor, {kNormal});  // three entries: 50
  EXPECT_EQ(monitor.baseline().last_updated_ms, clock_ms_);
  EXPECT_EQ(monitor.baseline().sample_count, 150u);
}

TEST_F(ServiceMonitorTest, RefreshEvictsSamplesOlderThanTheWindowAndKeepsATooThinBaseline) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  const Baseline established = monitor.baseline();
  clock_ms_ += 25 * kHourMs;
  FeedQuietly(monitor, 105.0, 50);  // the refresh drops all 100 old samples
  EXPECT_EQ(monitor.window().size(), 50u);
  EXPECT_EQ(monitor.baseline().last_updated_ms, established.last_updated_ms);
  EXPECT_EQ(monitor.baseline().sample_count, 100u);
  EXPECT_EQ(monitor.baseline().mean_latency, established.mean_latency);
  FeedQuietly(monitor, 105.0, 49);  // the count restarted at 0 anyway
  EXPECT_EQ(monitor.baseline().last_updated_ms, established.last_updated_ms);
  FeedQuietly(monitor, {105.0});
  EXPECT_EQ(monitor.baseline().last_updated_ms, clock_ms_);
  EXPECT_EQ(monitor.baseline().sample_count, 100u);
  EXPECT_EQ(monitor.baseline().mean_latency, 105.0);
  EXPECT_EQ(monitor.baseline().stddev_latency, 0.0);
}

TEST_F(ServiceMonitorTest, ASampleExactlyWindowHoursOldStays) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);  // samples at start+1s .. start+100s
  clock_ms_ = kStartMs + 1000 + 24 * kHourMs - 50 * kSampleSpacingMs;
  FeedQuietly(monitor, kNormal, 50);  // newest: exactly 24 h after the first sample
  EXPECT_EQ(monitor.window().size(), 150u);
  EXPECT_EQ(monitor.baseline().sample_count, 150u);
}

TEST_F(ServiceMonitorTest, SmallerWindowAndRefreshParameters) {
  params_.min_samples = 10;
  params_.window_size = 20;
  params_.refresh_every = 5;
  ServiceMonitor monitor(params_, detectors_);
  FeedQuietly(monitor, {90, 110, 90, 110, 90, 110, 90, 110, 90});
  ASSERT_TRUE(Feed(monitor, 110).transition);
  FeedQuietly(monitor, kNormal, 14);
  EXPECT_EQ(monitor.window().size(), 20u);
  EXPECT_EQ(monitor.baseline().sample_count, 20u);
  EXPECT_EQ(monitor.baseline().last_updated_ms, clock_ms_ - 4 * kSampleSpacingMs);
}

// ---- baseline.freeze_in_drift -----------------------------------------------------------------

// kSevere is |z| = 4.97 against the established B: never normal for the recovery detector.
TEST_F(ServiceMonitorTest, AFrozenDriftNeitherEntersTheWindowNorRefreshes) {
  params_.freeze_in_drift = true;
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  const Baseline established = monitor.baseline();
  Drift(monitor);
  FeedQuietly(monitor, kSevere, 100);
  EXPECT_EQ(monitor.state(), ServiceState::kDriftDetected);
  EXPECT_EQ(monitor.window().size(), 100u);
  EXPECT_EQ(monitor.held_back_count(), 0u);
  EXPECT_EQ(monitor.baseline().last_updated_ms, established.last_updated_ms);
  EXPECT_EQ(monitor.baseline().sample_count, 100u);
  EXPECT_EQ(monitor.baseline().mean_latency, established.mean_latency);
}

// The same samples unfrozen: they enter W, B follows them, and the recovery detector, scoring
// against the current B, ends the drift.
TEST_F(ServiceMonitorTest, AnUnfrozenDriftEntersTheWindowRefreshesAndRecoversAgainstTheNewB) {
  params_.freeze_in_drift = false;
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  const int64_t established_ms = clock_ms_;
  Drift(monitor);
  // The drift began under STABLE's rule: its five samples were dropped.
  EXPECT_EQ(monitor.window().size(), 100u);
  for (uint32_t i = 1; i < 50; ++i) {
    FeedQuietly(monitor, {kSevere});
    EXPECT_EQ(monitor.held_back_count(), 0u);  // holding back is a STABLE rule
    EXPECT_EQ(monitor.window().size(), 100u + i);
  }
  EXPECT_EQ(monitor.baseline().last_updated_ms, established_ms);
  FeedQuietly(monitor, {kSevere});  // the 50th entry
  EXPECT_EQ(monitor.state(), ServiceState::kDriftDetected);
  EXPECT_EQ(monitor.baseline().last_updated_ms, clock_ms_);
  EXPECT_EQ(monitor.baseline().sample_count, 150u);
  EXPECT_DOUBLE_EQ(monitor.baseline().mean_latency, (100.0 * 100 + 50 * kSevere) / 150);
  EXPECT_LE(std::fabs(ZOf(monitor, kSevere)), 2.0);  // 1.33: normal now

  FeedQuietly(monitor, kSevere, 49);
  const ProcessResult result = Feed(monitor, kSevere);
  ASSERT_TRUE(result.transition);
  EXPECT_EQ(result.transition->reason, "recovered");
  EXPECT_EQ(result.transition->seq, 100u + 5 + 100);
  // The sample that completed the recovery entered W too: the 50th entry since the refresh.
  EXPECT_EQ(monitor.window().size(), 200u);
  EXPECT_EQ(monitor.baseline().sample_count, 200u);
  EXPECT_EQ(monitor.baseline().last_updated_ms, clock_ms_);
}

TEST_F(ServiceMonitorTest, AnUnfrozenDriftCountsEntriesOnFromStableAndBackInto) {
  params_.freeze_in_drift = false;
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  const int64_t established_ms = clock_ms_;
  FeedQuietly(monitor, kNormal, 30);
  Drift(monitor);
  FeedQuietly(monitor, kNormal, 19);
  EXPECT_EQ(monitor.baseline().last_updated_ms, established_ms);
  FeedQuietly(monitor, {kNormal});  // 30 + 20 entries
  const int64_t refreshed_ms = clock_ms_;
  EXPECT_EQ(monitor.baseline().last_updated_ms, refreshed_ms);
  EXPECT_EQ(monitor.baseline().sample_count, 150u);
  FeedQuietly(monitor, kNormal, 29);
  ASSERT_TRUE(Feed(monitor, kNormal).transition);  // recovered: 30 entries since the refresh
  FeedQuietly(monitor, kNormal, 19);
  EXPECT_EQ(monitor.baseline().last_updated_ms, refreshed_ms);
  FeedQuietly(monitor, {kNormal});
  EXPECT_EQ(monitor.baseline().last_updated_ms, clock_ms_);
  EXPECT_EQ(monitor.baseline().sample_count, 200u);
}

TEST_F(ServiceMonitorTest, AnUnfrozenDriftKeepsTheAgeRuleAndATooThinBaseline) {
  params_.freeze_in_drift = false;
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  const Baseline established = monitor.baseline();
  Drift(monitor);
  clock_ms_ += 25 * kHourMs;
  FeedQuietly(monitor, kSevere, 50);  // the refresh drops the 100 old samples: too few left
  EXPECT_EQ(monitor.window().size(), 50u);
  EXPECT_EQ(monitor.baseline().last_updated_ms, established.last_updated_ms);
  EXPECT_EQ(monitor.baseline().mean_latency, established.mean_latency);
  FeedQuietly(monitor, kSevere, 50);
  EXPECT_EQ(monitor.state(), ServiceState::kDriftDetected);
  EXPECT_EQ(monitor.baseline().last_updated_ms, clock_ms_);
  EXPECT_EQ(monitor.baseline().sample_count, 100u);
  EXPECT_EQ(monitor.baseline().mean_latency, kSevere);
}

TEST_F(ServiceMonitorTest, AnUnfrozenDriftKeepsTheWindowSize) {
  params_.min_samples = 10;
  params_.window_size = 20;
  params_.refresh_every = 5;
  params_.freeze_in_drift = false;
  ServiceMonitor monitor(params_, detectors_);
  FeedQuietly(monitor, {90, 110, 90, 110, 90, 110, 90, 110, 90});
  ASSERT_TRUE(Feed(monitor, 110).transition);
  Drift(monitor);
  FeedQuietly(monitor, 120.0, 25);
  EXPECT_EQ(monitor.state(), ServiceState::kDriftDetected);
  ASSERT_EQ(monitor.window().size(), 20u);
  for (const Sample& sample : monitor.window().Samples()) EXPECT_EQ(sample.latency_ms, 120.0);
  EXPECT_EQ(monitor.baseline().sample_count, 20u);
  EXPECT_EQ(monitor.baseline().mean_latency, 120.0);
}

// A recovery detector's failure gives no opinion; the sample is still processed.
TEST_F(ServiceMonitorTest, AnUnfrozenDriftEntersASampleTheRecoveryDetectorFailedOn) {
  for (const bool freeze : {true, false}) {
    params_.freeze_in_drift = freeze;
    DetectorSet detectors;
    detectors.triggers.push_back(Configure("zscore_severe"));
    detectors.recovery = Configure("scripted_recovery");
    ServiceMonitor monitor(params_, detectors);
    Establish(monitor);
    Drift(monitor);
    const ProcessResult failed = monitor.Process(Next(666.0));
    EXPECT_EQ(failed.detector_error, "scripted_recovery: scripted failure");
    EXPECT_EQ(monitor.window().size(), freeze ? 100u : 101u) << "freeze_in_drift=" << freeze;
    EXPECT_EQ(monitor.window().Samples().back().latency_ms, freeze ? 110.0 : 666.0);
  }
}

// ---- The sigma floor --------------------------------------------------------------------------

TEST_F(ServiceMonitorTest, ConstantSeriesUsesTheSigmaFloor) {
  ServiceMonitor monitor(params_, detectors_);
  FeedQuietly(monitor, 200.0, 99);
  ASSERT_TRUE(Feed(monitor, 200.0).transition);
  EXPECT_EQ(monitor.baseline().stddev_latency, 0.0);
  EXPECT_EQ(monitor.baseline().p99_latency, 200.0);
  FeedQuietly(monitor, {200.1});  // sigma = 0.001 * 200: z = 0.5
  EXPECT_EQ(monitor.held_back_count(), 0u);
  FeedQuietly(monitor, 201.0, 4);  // z = 5: held back
  EXPECT_EQ(monitor.held_back_count(), 4u);
  const ProcessResult result = Feed(monitor, 201.0);
  ASSERT_TRUE(result.transition);
  EXPECT_NE(result.transition->metadata_json.find(
                R"("max_zscore":)" + Shortest((201.0 - 200.0) / (0.001 * 200.0)) + ","),
            std::string::npos)
      << result.transition->metadata_json;
}

TEST_F(ServiceMonitorTest, ConstantZeroSeriesStaysFinite) {
  ServiceMonitor monitor(params_, detectors_);
  FeedQuietly(monitor, 0.0, 99);
  ASSERT_TRUE(Feed(monitor, 0.0).transition);
  FeedQuietly(monitor, {0.0});  // z = 0, not NaN: enters W
  EXPECT_EQ(monitor.window().size(), 101u);
  FeedQuietly(monitor, 0.01, 4);  // sigma = 0.001: z = 10
  EXPECT_EQ(monitor.held_back_count(), 4u);
  const ProcessResult result = Feed(monitor, 0.01);
  ASSERT_TRUE(result.transition);
  for (const char* bad : {"nan", "inf", "null"}) {
    EXPECT_EQ(result.transition->metadata_json.find(bad), std::string::npos)
        << result.transition->metadata_json;
  }
}

// ---- Reset ------------------------------------------------------------------------------------

TEST_F(ServiceMonitorTest, ResetForgetsEverythingButTheSampleCount) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  FeedQuietly(monitor, kSevere, 4);  // a severe run of 4, held back
  const int64_t reset_ms = clock_ms_ + 500;
  const Transition t = monitor.Reset(reset_ms);
  EXPECT_EQ(t.from, ServiceState::kStable);
  EXPECT_EQ(t.to, ServiceState::kInsufficientData);
  EXPECT_EQ(t.reason, "reset");
  EXPECT_EQ(t.metadata_json, R"({"reason":"reset"})");
  EXPECT_EQ(t.timestamp_ms, reset_ms);
  EXPECT_EQ(t.seq, 104u);
  EXPECT_EQ(monitor.last_transition()->reason, "reset");
  EXPECT_EQ(monitor.state(), ServiceState::kInsufficientData);
  EXPECT_EQ(monitor.sample_count(), 104u);
  EXPECT_EQ(monitor.window().size(), 0u);
  EXPECT_EQ(monitor.held_back_count(), 0u);
  EXPECT_FALSE(monitor.baseline().valid);

  // A new normal needs 100 new samples, and the detectors start empty.
  FeedQuietly(monitor, 300.0, 99);
  const ProcessResult result = Feed(monitor, 300.0);
  ASSERT_TRUE(result.transition);
  EXPECT_EQ(result.transition->seq, 204u);
  EXPECT_EQ(monitor.baseline().mean_latency, 300.0);
  FeedQuietly(monitor, {310.0});  // severe against the new baseline: a run of 1, not 5
  EXPECT_EQ(monitor.held_back_count(), 1u);
}

TEST_F(ServiceMonitorTest, ResetFromDriftDetected) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  Drift(monitor);
  FeedQuietly(monitor, kNormal, 30);
  EXPECT_EQ(monitor.Reset(clock_ms_).from, ServiceState::kDriftDetected);
  Establish(monitor);
  Drift(monitor);
  FeedQuietly(monitor, kNormal, 49);  // the recovery run restarted from 0
  EXPECT_EQ(monitor.state(), ServiceState::kDriftDetected);
}

// ---- Detector errors and configuration failures -----------------------------------------------

TEST_F(ServiceMonitorTest, DetectorErrorsAreReportedAndCountAsNoVerdict) {
  DetectorSet detectors;
  detectors.triggers.push_back(Configure("scripted_trigger"));
  detectors.triggers.push_back(Configure("zscore_severe"));
  detectors.recovery = Configure("recovery");
  ServiceMonitor monitor(params_, detectors);
  Establish(monitor);
  const ProcessResult failed = monitor.Process(Next(666.0));
  EXPECT_EQ(failed.detector_error, "scripted_trigger: scripted failure");
  EXPECT_FALSE(failed.transition);
  EXPECT_EQ(monitor.held_back_count(), 1u);  // zscore_severe still saw it

  const ProcessResult fired = monitor.Process(Next(777.0));
  EXPECT_EQ(fired.detector_error, "");
  ASSERT_TRUE(fired.transition);
  EXPECT_EQ(fired.transition->reason, "scripted \"fire\"\n");
  EXPECT_EQ(fired.transition->metadata_json,
            R"({"reason":"scripted \"fire\"\n","count":3,"ratio":0.1,"negative":-2,)"
            R"("nan":null,"seen":2,"detector":"scripted_trigger","detector_version":"0.0.1"})");
}

TEST_F(ServiceMonitorTest, ADetectorThatCannotCreateAStateIsAConfigurationFailure) {
  DetectorSet detectors;
  detectors.triggers.push_back(Configure("zscore_severe"));
  detectors.triggers.push_back(Configure("scripted_trigger", {{"fail_state_new", "1"}}));
  detectors.recovery = Configure("recovery");
  try {
    ServiceMonitor monitor(params_, detectors);
    ADD_FAILURE() << "constructed";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("scripted_trigger"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no state for you"), std::string::npos) << e.what();
  }
}

// ---- Save / Restore ---------------------------------------------------------------------------

std::string Saved(const ServiceMonitor& monitor) {
  std::string bytes;
  const Status status = monitor.Save(&bytes);
  EXPECT_TRUE(status.ok()) << status.message();
  return bytes;
}

void ExpectSameTransition(const std::optional<Transition>& a, const std::optional<Transition>& b) {
  ASSERT_EQ(a.has_value(), b.has_value());
  if (!a) return;
  EXPECT_EQ(a->from, b->from);
  EXPECT_EQ(a->to, b->to);
  EXPECT_EQ(a->reason, b->reason);
  EXPECT_EQ(a->metadata_json, b->metadata_json);
  EXPECT_EQ(a->timestamp_ms, b->timestamp_ms);
  EXPECT_EQ(a->seq, b->seq);
}

void ExpectSameBaseline(const Baseline& a, const Baseline& b) {
  EXPECT_EQ(a.valid, b.valid);
  EXPECT_EQ(a.mean_latency, b.mean_latency);
  EXPECT_EQ(a.stddev_latency, b.stddev_latency);
  EXPECT_EQ(a.p50_latency, b.p50_latency);
  EXPECT_EQ(a.p95_latency, b.p95_latency);
  EXPECT_EQ(a.p99_latency, b.p99_latency);
  EXPECT_EQ(a.has_payload, b.has_payload);
  EXPECT_EQ(a.mean_payload, b.mean_payload);
  EXPECT_EQ(a.stddev_payload, b.stddev_payload);
  EXPECT_EQ(a.sample_count, b.sample_count);
  EXPECT_EQ(a.last_updated_ms, b.last_updated_ms);
}

void ExpectSameMonitor(const ServiceMonitor& a, const ServiceMonitor& b) {
  EXPECT_EQ(a.state(), b.state());
  EXPECT_EQ(a.sample_count(), b.sample_count());
  EXPECT_EQ(a.held_back_count(), b.held_back_count());
  ExpectSameBaseline(a.baseline(), b.baseline());
  ExpectSameTransition(a.last_transition(), b.last_transition());
  ASSERT_EQ(a.window().size(), b.window().size());
  const std::vector<Sample> a_window = a.window().Samples();
  const std::vector<Sample> b_window = b.window().Samples();
  for (uint32_t i = 0; i < a.window().size(); ++i) {
    EXPECT_EQ(a_window[i].timestamp_ms, b_window[i].timestamp_ms);
    EXPECT_EQ(a_window[i].latency_ms, b_window[i].latency_ms);
    EXPECT_EQ(std::isnan(a_window[i].payload_kb), std::isnan(b_window[i].payload_kb));
  }
  EXPECT_EQ(Saved(a), Saved(b));  // includes the detector states and the refresh count
}

class ServiceMonitorSaveTest : public ServiceMonitorTest {
 protected:
  // Saves `original`, restores the bytes into a new monitor, then feeds both the same samples:
  // every result and every counter must agree. Returns the transitions seen.
  int ExpectSameFuture(ServiceMonitor& original, const std::vector<double>& future) {
    const std::string bytes = Saved(original);
    ServiceMonitor restored(params_, detectors_);
    const Status status = restored.Restore(bytes);
    EXPECT_TRUE(status.ok()) << status.message();
    ExpectSameMonitor(original, restored);
    int transitions = 0;
    for (size_t i = 0; i < future.size(); ++i) {
      // Every third sample carries a payload, so the payload statistics are exercised too.
      const Sample sample = Next(future[i], i % 3 == 0 ? 2.0 + 0.01 * i : kNoPayload);
      const ProcessResult a = original.Process(sample);
      const ProcessResult b = restored.Process(sample);
      ExpectSameTransition(a.transition, b.transition);
      transitions += a.transition ? 1 : 0;
      if (::testing::Test::HasFailure()) return transitions;
    }
    ExpectSameMonitor(original, restored);
    return transitions;
  }

  // Normal traffic, a held-back pair, a drift, a recovery and two refreshes.
  static std::vector<double> Future() {
    std::vector<double> future = {kSevere, kSevere, kNormal};
    for (int i = 0; i < 60; ++i) future.push_back(i % 2 == 0 ? 92.0 : 108.0);
    for (int i = 0; i < 5; ++i) future.push_back(kSevere + 30.0);
    for (int i = 0; i < 120; ++i) future.push_back(i % 2 == 0 ? 95.0 : 105.0);
    return future;
  }
};

TEST_F(ServiceMonitorSaveTest, RoundTripInInsufficientData) {
  ServiceMonitor monitor(params_, detectors_);
  FeedQuietly(monitor, {90, 110, 90, 110, 90});
  std::vector<double> future;
  for (int i = 0; i < 95; ++i) future.push_back(i % 2 == 0 ? 110.0 : 90.0);
  for (double value : Future()) future.push_back(value);
  EXPECT_GE(ExpectSameFuture(monitor, future), 3);
}

TEST_F(ServiceMonitorSaveTest, RoundTripInStableWithHeldBackSamples) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  FeedQuietly(monitor, kNormal, 30);
  FeedQuietly(monitor, {kSevere, kSevere + 5.0, kSevere});
  ASSERT_EQ(monitor.held_back_count(), 3u);
  EXPECT_GE(ExpectSameFuture(monitor, Future()), 2);
  // The same state, but the severe run goes on to a drift right after the restore.
  ServiceMonitor other(params_, detectors_);
  Establish(other);
  FeedQuietly(other, kSevere, 3);
  EXPECT_GE(ExpectSameFuture(other, {kSevere, kSevere, kNormal, kNormal}), 1);
}

TEST_F(ServiceMonitorSaveTest, RoundTripInDriftDetectedHalfwayToRecovery) {
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  FeedQuietly(monitor, kModerate, 3);
  Drift(monitor);
  FeedQuietly(monitor, kNormal, 25);
  std::vector<double> future(25, kNormal);  // recovers on the 25th
  for (double value : Future()) future.push_back(value);
  EXPECT_GE(ExpectSameFuture(monitor, future), 3);
}

// The snapshot needs nothing for an unfrozen drift: the entry count it already keeps moves on.
TEST_F(ServiceMonitorSaveTest, RoundTripInAnUnfrozenDrift) {
  params_.freeze_in_drift = false;
  ServiceMonitor monitor(params_, detectors_);
  Establish(monitor);
  FeedQuietly(monitor, kNormal, 10);
  Drift(monitor);
  FeedQuietly(monitor, kModerate, 25);  // 35 entries toward the next refresh
  std::vector<double> future(15, kModerate);
  for (double value : Future()) future.push_back(value);
  EXPECT_GE(ExpectSameFuture(monitor, future), 1);
}

// A full window of full-precision latencies and payloads of whole bytes / 1024, as the README's
// client sends them: the snapshot stores the window's encoding, well under the 24 bytes per sample
// of plain samples, and comes back bit for bit, also into a smaller window.
TEST_F(ServiceMonitorSaveTest, RoundTripOfAFullWindowOfFullPrecisionValues) {
  ServiceMonitor monitor(params_, detectors_);
  std::vector<Sample> entered;
  for (int i = 0; i < 1200; ++i) {
    const double latency_ms = 100.0 + 5.0 * std::sin(i * 0.7) + 1.0 / (3.0 + i);
    const double payload_kb = i % 2 == 0 ? (2000.0 + i % 500) / 1024.0 : kNoPayload;
    const Sample sample = Next(latency_ms, payload_kb);
    const ProcessResult result = monitor.Process(sample);
    ASSERT_TRUE(i == 99 || !result.transition) << i;  // the 100th establishes the baseline
    entered.push_back(sample);
  }
  ASSERT_EQ(monitor.state(), ServiceState::kStable);
  ASSERT_EQ(monitor.window().size(), params_.window_size);
  const std::string bytes = Saved(monitor);
  EXPECT_LT(bytes.size(), params_.window_size * 12u);

  std::vector<double> future;
  for (int i = 0; i < 120; ++i) future.push_back(100.0 + 4.0 * std::cos(i * 0.3));
  EXPECT_EQ(ExpectSameFuture(monitor, future), 0);

  BaselineParams smaller_params = params_;
  smaller_params.window_size = 300;
  smaller_params.min_samples = 100;
  ServiceMonitor smaller(smaller_params, detectors_);
  const Status status = smaller.Restore(bytes);
  ASSERT_TRUE(status.ok()) << status.message();
  const std::vector<Sample> kept = smaller.window().Samples();
  ASSERT_EQ(kept.size(), 300u);
  for (size_t i = 0; i < kept.size(); ++i) {
    const Sample& expected = entered[entered.size() - 300 + i];
    EXPECT_EQ(kept[i].timestamp_ms, expected.timestamp_ms);
    EXPECT_EQ(std::bit_cast<uint64_t>(kept[i].latency_ms),
              std::bit_cast<uint64_t>(expected.latency_ms));
    EXPECT_EQ(std::bit_cast<uint64_t>(kept[i].payload_kb),
              std::bit_cast<uint64_t>(expected.payload_kb));
  }
}

TEST_F(ServiceMonitorSaveTest, RestoreRefusesGarbageAndLeavesTheMonitorUnchanged) {
  ServiceMonitor source(params_, detectors_);
  Establish(source);
  FeedQuietly(source, kSevere, 2);
  const std::string bytes = Saved(source);

  ServiceMonitor target(params_, detectors_);
  FeedQuietly(target, {1, 2, 3});
  const std::string before = Saved(target);

  std::string wrong_version = bytes;
  wrong_version[4] = 1;  // the first format, which stored the window as 24-byte samples
  std::string bad_state = bytes;
  bad_state[8] = 7;
  std::vector<std::string> corrupt = {"", "hello", "DWSM", wrong_version, bad_state, bytes + "!"};
  for (size_t size = 0; size < bytes.size(); ++size) corrupt.push_back(bytes.substr(0, size));
  for (const std::string& data : corrupt) {
    const Status status = target.Restore(data);
    EXPECT_FALSE(status.ok()) << data.size() << " bytes";
    EXPECT_FALSE(status.message().empty());
    EXPECT_EQ(Saved(target), before);
  }
  EXPECT_NE(target.Restore(wrong_version).message().find("version 1"), std::string::npos);
  EXPECT_EQ(target.state(), ServiceState::kInsufficientData);
  EXPECT_EQ(target.sample_count(), 3u);
}

TEST_F(ServiceMonitorSaveTest, RestoreRefusesStateSavedWithOtherDetectors) {
  ServiceMonitor source(params_, detectors_);
  Establish(source);
  const std::string bytes = Saved(source);

  for (const bool reordered : {false, true}) {
    DetectorSet detectors;
    detectors.triggers.push_back(Configure("moderate_window"));
    if (reordered) detectors.triggers.push_back(Configure("zscore_severe"));
    detectors.recovery = Configure("recovery");
    ServiceMonitor target(params_, detectors);
    const std::string before = Saved(target);
    const Status status = target.Restore(bytes);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find("[zscore_severe, moderate_window, recovery]"),
              std::string::npos)
        << status.message();
    EXPECT_EQ(Saved(target), before);
  }
}

TEST_F(ServiceMonitorSaveTest, RestoreRefusesCorruptDetectorStateAndKeepsTheOldStates) {
  ServiceMonitor source(params_, detectors_);
  Establish(source);
  std::string bytes = Saved(source);
  // The recovery detector's saved bytes follow its name: u32 length, "recovery", u32 length, then
  // its version byte.
  const std::string name("\x08\x00\x00\x00recovery", 12);
  const size_t at = bytes.find(name);
  ASSERT_NE(at, std::string::npos);
  bytes[at + name.size() + 4] = 99;

  ServiceMonitor target(params_, detectors_);
  Establish(target);
  FeedQuietly(target, kSevere, 4);  // trigger states worth keeping
  const std::string before = Saved(target);
  const Status status = target.Restore(bytes);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "cannot restore recovery: unknown saved state version");
  EXPECT_EQ(Saved(target), before);
  EXPECT_TRUE(Feed(target, kSevere).transition);  // the kept severe run still fires
}

}  // namespace
}  // namespace driftwatch
