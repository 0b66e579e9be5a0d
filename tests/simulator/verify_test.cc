// --verify's judgement (docs/behaviour.md, Simulator) from the transitions a server reported, and
// the JSON report.
#include "simulator/verify.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "simulator/report.h"

namespace driftwatch::sim {
namespace {

Transition At(int64_t index, std::string from, std::string to, std::string reason,
              std::string metadata = "{}") {
  Transition transition;
  transition.sample_index = index;
  transition.event.from_state = std::move(from);
  transition.event.to_state = std::move(to);
  transition.event.reason = std::move(reason);
  transition.event.metadata_json = std::move(metadata);
  return transition;
}

RunFacts Facts(Mode mode, int64_t total, std::string initial_state,
               std::vector<Transition> transitions, int64_t extra = 0) {
  RunFacts facts;
  facts.mode = mode;
  facts.phases = PhasesFor(total);
  facts.rate_per_s = 10;
  facts.initial_state = std::move(initial_state);
  facts.transitions = std::move(transitions);
  facts.samples_sent = total + extra;
  facts.extra_normal_samples = extra;
  return facts;
}

const Criterion& Find(const Verdict& verdict, const std::string& name) {
  for (const Criterion& criterion : verdict.criteria) {
    if (criterion.name == name) return criterion;
  }
  static const Criterion missing{"missing", false, "no such criterion"};
  ADD_FAILURE() << "no criterion " << name;
  return missing;
}

std::string Measured(const Verdict& verdict, const std::string& name) {
  for (const Measurement& measurement : verdict.measurements) {
    if (measurement.name == name) return measurement.json;
  }
  ADD_FAILURE() << "no measurement " << name;
  return "";
}

TEST(VerifyNormalTest, StableWithinSixtySecondsOfSampleTimePasses) {
  const Verdict verdict = Verify(Facts(
      Mode::kNormal, 600, "", {At(100, "INSUFFICIENT_DATA", "STABLE", "baseline_established")}));
  EXPECT_TRUE(verdict.passed);
  EXPECT_EQ(Find(verdict, "stable_within_60s").detail,
            "STABLE at sample 100 (10.0 s of sample time; limit 60 s) from INSUFFICIENT_DATA: "
            "baseline_established {}");
  EXPECT_EQ(Measured(verdict, "stable_at_sample"), "100");
  EXPECT_EQ(Measured(verdict, "seconds_to_stable"), "10.000");
}

TEST(VerifyNormalTest, TheSixHundredthSampleIsTheLastInTime) {
  // At 10/s, 600 samples span 60 s: sample 600 is in time, sample 601 is not.
  EXPECT_TRUE(Verify(Facts(Mode::kNormal, 900, "DRIFT_DETECTED",
                           {At(600, "DRIFT_DETECTED", "STABLE", "recovered")}))
                  .passed);
  const Verdict late = Verify(Facts(Mode::kNormal, 900, "DRIFT_DETECTED",
                                    {At(601, "DRIFT_DETECTED", "STABLE", "recovered")}));
  EXPECT_FALSE(late.passed);
  EXPECT_FALSE(Find(late, "stable_within_60s").passed);
}

TEST(VerifyNormalTest, AlreadyStablePassesAndSaysSo) {
  const Verdict verdict = Verify(Facts(Mode::kNormal, 600, "STABLE", {}));
  EXPECT_TRUE(verdict.passed);
  EXPECT_EQ(Find(verdict, "stable_within_60s").detail, "already STABLE before the first sample");
  EXPECT_EQ(Measured(verdict, "already_stable"), "true");
}

TEST(VerifyNormalTest, NeverStableFails) {
  const Verdict verdict = Verify(Facts(Mode::kNormal, 50, "", {}));
  EXPECT_FALSE(verdict.passed);
  EXPECT_EQ(Find(verdict, "stable_within_60s").detail,
            "not STABLE after 50 samples (5.0 s of sample time; limit 60 s), still "
            "INSUFFICIENT_DATA");
  EXPECT_EQ(Measured(verdict, "stable_at_sample"), "null");
}

TEST(VerifyNormalTest, DriftOnNormalTrafficIsAFalseAlarm) {
  const Verdict verdict =
      Verify(Facts(Mode::kNormal, 600, "",
                   {At(100, "INSUFFICIENT_DATA", "STABLE", "baseline_established"),
                    At(420, "STABLE", "DRIFT_DETECTED", "moderate_anomaly_rate")}));
  EXPECT_FALSE(verdict.passed);
  EXPECT_TRUE(Find(verdict, "stable_within_60s").passed);
  EXPECT_FALSE(Find(verdict, "no_drift_on_normal_traffic").passed);
  EXPECT_NE(Find(verdict, "no_drift_on_normal_traffic").detail.find("sample 420"),
            std::string::npos);
}

// SPIKE --duration 90 at 10/s: the spike is samples 271..450 of the run.
TEST(VerifySpikeTest, DetectionOnTheFifthSpikeSampleAndRecoveryPass) {
  const Verdict verdict = Verify(
      Facts(Mode::kSpike, 900, "STABLE",
            {At(275, "STABLE", "DRIFT_DETECTED", "consecutive_severe_anomalies",
                R"({"consecutive_count":5,"max_zscore":14.2})"),
             At(620, "DRIFT_DETECTED", "STABLE", "recovered", R"({"consecutive_normal":50})")}));
  EXPECT_TRUE(verdict.passed);
  EXPECT_EQ(
      Find(verdict, "drift_within_5_samples").detail,
      "DRIFT_DETECTED at sample 275, 5 samples into the spike that began at sample 271 "
      "(limit 5): consecutive_severe_anomalies {\"consecutive_count\":5,\"max_zscore\":14.2}");
  EXPECT_EQ(Measured(verdict, "onset_sample"), "271");
  EXPECT_EQ(Measured(verdict, "samples_to_detect"), "5");
  EXPECT_EQ(Measured(verdict, "seconds_to_detect"), "0.500");
  EXPECT_EQ(Measured(verdict, "last_spike_sample"), "450");
  EXPECT_EQ(Measured(verdict, "samples_to_recover"), "170");
  EXPECT_EQ(Measured(verdict, "seconds_to_recover"), "17.000");
}

TEST(VerifySpikeTest, DetectionOnTheSixthSpikeSampleFails) {
  const Verdict verdict =
      Verify(Facts(Mode::kSpike, 900, "STABLE",
                   {At(276, "STABLE", "DRIFT_DETECTED", "consecutive_severe_anomalies"),
                    At(620, "DRIFT_DETECTED", "STABLE", "recovered")}));
  EXPECT_FALSE(verdict.passed);
  EXPECT_FALSE(Find(verdict, "drift_within_5_samples").passed);
  EXPECT_TRUE(Find(verdict, "stable_after_spike").passed);
  EXPECT_EQ(Measured(verdict, "samples_to_detect"), "6");
}

TEST(VerifySpikeTest, RecoveryAfterExtraNormalTrafficPassesAndCountsIt) {
  const Verdict verdict =
      Verify(Facts(Mode::kSpike, 900, "STABLE",
                   {At(271 + 4, "STABLE", "DRIFT_DETECTED", "consecutive_severe_anomalies"),
                    At(1130, "DRIFT_DETECTED", "STABLE", "recovered")},
                   250));
  EXPECT_TRUE(verdict.passed);
  EXPECT_EQ(Measured(verdict, "samples_to_recover"), "680");
  EXPECT_EQ(Measured(verdict, "extra_normal_samples"), "250");
  EXPECT_NE(Find(verdict, "stable_after_spike").detail.find("250 extra NORMAL samples"),
            std::string::npos);
}

TEST(VerifySpikeTest, NoRecoveryFails) {
  const Verdict verdict =
      Verify(Facts(Mode::kSpike, 900, "STABLE",
                   {At(275, "STABLE", "DRIFT_DETECTED", "consecutive_severe_anomalies")}, 2000));
  EXPECT_FALSE(verdict.passed);
  EXPECT_EQ(Find(verdict, "stable_after_spike").detail,
            "still DRIFT_DETECTED 2450 samples (245.0 s) after the spike's last sample 450, with "
            "2000 extra NORMAL samples");
}

TEST(VerifySpikeTest, ASpikeMetOutsideStableCannotBeDetected) {
  const Verdict verdict = Verify(Facts(Mode::kSpike, 900, "DRIFT_DETECTED", {}));
  EXPECT_FALSE(verdict.passed);
  EXPECT_EQ(Find(verdict, "drift_within_5_samples").detail,
            "no DRIFT_DETECTED after the spike began at sample 271; the service was "
            "DRIFT_DETECTED when it began, and drift is detected only from STABLE");
}

TEST(VerifySpikeTest, DriftBeforeTheSpikeIsAFalseAlarm) {
  const Verdict verdict =
      Verify(Facts(Mode::kSpike, 900, "STABLE",
                   {At(100, "STABLE", "DRIFT_DETECTED", "moderate_anomaly_rate"),
                    At(200, "DRIFT_DETECTED", "STABLE", "recovered"),
                    At(275, "STABLE", "DRIFT_DETECTED", "consecutive_severe_anomalies"),
                    At(600, "DRIFT_DETECTED", "STABLE", "recovered")}));
  EXPECT_FALSE(verdict.passed);
  EXPECT_TRUE(Find(verdict, "drift_within_5_samples").passed);
  EXPECT_FALSE(Find(verdict, "no_drift_on_normal_traffic").passed);
}

// CREEP --duration 120 at 10/s: the ramp is samples 301..780 of the run.
TEST(VerifyCreepTest, DetectionDuringTheRampPassesWithTheFactorReached) {
  const Verdict verdict = Verify(Facts(
      Mode::kCreep, 1200, "STABLE",
      {At(420, "STABLE", "DRIFT_DETECTED", "moderate_anomaly_rate", R"({"anomaly_count":10})")}));
  EXPECT_TRUE(verdict.passed);
  EXPECT_EQ(Measured(verdict, "ramp_start_sample"), "301");
  EXPECT_EQ(Measured(verdict, "samples_into_ramp"), "120");
  EXPECT_EQ(Measured(verdict, "latency_factor_at_detection"), "1.5000");
  EXPECT_EQ(Find(verdict, "drift_before_end").detail,
            "DRIFT_DETECTED at sample 420 of 1200, 120 samples (12.0 s) into the ramp, at "
            "latency x1.50: moderate_anomaly_rate {\"anomaly_count\":10}");
}

TEST(VerifyCreepTest, NoDetectionFailsAndExplainsADriftAlreadyUnderway) {
  EXPECT_FALSE(Verify(Facts(Mode::kCreep, 1200, "STABLE", {})).passed);
  const Verdict verdict = Verify(Facts(Mode::kCreep, 1200, "DRIFT_DETECTED", {}));
  EXPECT_FALSE(verdict.passed);
  EXPECT_NE(Find(verdict, "drift_before_end").detail.find("the service was DRIFT_DETECTED"),
            std::string::npos);
}

TEST(VerifyTest, StateBeforeReplaysTheTransitions) {
  const RunFacts facts =
      Facts(Mode::kNormal, 600, "", {At(100, "INSUFFICIENT_DATA", "STABLE", "x")});
  EXPECT_EQ(StateBefore(facts, 1), "INSUFFICIENT_DATA");
  EXPECT_EQ(StateBefore(facts, 100), "INSUFFICIENT_DATA");
  EXPECT_EQ(StateBefore(facts, 101), "STABLE");
}

TEST(ReportTest, JsonCarriesTheMeasurementsAndTransitions) {
  Options options;
  options.mode = Mode::kSpike;
  options.duration_s = 90;
  options.synthetic_time = true;
  RunResult result;
  result.initial = {true, "STABLE", 600, "", "{}"};
  result.final = {true, "STABLE", 1500, "", R"({"reason":"recovered"})"};
  result.scheduled_samples = 900;
  result.sent_samples = 900;
  result.transitions = {At(275, "STABLE", "DRIFT_DETECTED", "consecutive_severe_anomalies",
                           R"({"consecutive_count":5,"max_zscore":14.2})"),
                        At(620, "DRIFT_DETECTED", "STABLE", "recovered")};
  result.transitions[0].event.sample_seq = 875;
  RunFacts facts = Facts(Mode::kSpike, 900, "STABLE", result.transitions);
  result.verdict = Verify(facts);

  rapidjson::Document json;
  json.Parse(ResultJson(options, result).c_str());
  ASSERT_FALSE(json.HasParseError());
  EXPECT_STREQ(json["mode"].GetString(), "SPIKE");
  EXPECT_EQ(json["seed"].GetUint64(), 42u);
  EXPECT_EQ(json["samples"]["sent"].GetInt64(), 900);
  EXPECT_EQ(json["initial"]["sample_count"].GetInt64(), 600);
  EXPECT_EQ(json["transitions"].Size(), 2u);
  EXPECT_EQ(json["transitions"][0]["sample_index"].GetInt64(), 275);
  EXPECT_EQ(json["transitions"][0]["sample_seq"].GetInt64(), 875);
  EXPECT_DOUBLE_EQ(json["transitions"][0]["metadata"]["max_zscore"].GetDouble(), 14.2);
  EXPECT_TRUE(json["verify"]["passed"].GetBool());
  EXPECT_EQ(json["verify"]["measured"]["samples_to_detect"].GetInt64(), 5);
  EXPECT_TRUE(json["verify"]["measured"]["samples_to_recover"].IsNumber());

  std::ostringstream text;
  PrintSummary(options, result, text);
  EXPECT_NE(text.str().find("verify        PASS"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("#275"), std::string::npos) << text.str();
}

}  // namespace
}  // namespace driftwatch::sim
