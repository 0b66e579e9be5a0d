// NAB scoring against NAB's own numbers: the cases of its scorer unit tests (numenta/NAB,
// tests/unit/scorer_test.py: 7 rows, 5-minute steps, its cost matrix tp 1.1, fp 0.11, fn 1.2),
// the values its sweeper documents for the scaled sigmoid, its probationary period, and the null
// and perfect detectors normalising to 0 and 100.
#include "replay/nab_score.h"

#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "tests/support/test_dir.h"

namespace driftwatch::replay {
namespace {

constexpr CostMatrix kScorerTestCosts{1.1, 0.11, 1.2};  // tp, fp, fn of scorer_test.py
constexpr double kEarliest = 0.9866142981514305;        // scaledSigmoid(-1.0), as NAB hard-codes
constexpr double kHalfway = 0.8482836399575131;         // scaledSigmoid(-0.5)

double Raw(size_t rows, const std::vector<RowWindow>& windows, const std::vector<size_t>& hits,
           size_t probation = 0) {
  return ScoreFile(rows, windows, hits, kScorerTestCosts, probation).raw;
}

TEST(NabScore, ScaledSigmoidHasNabsValues) {
  EXPECT_NEAR(ScaledSigmoid(-1.0), kEarliest, 1e-15);
  EXPECT_NEAR(ScaledSigmoid(-0.5), kHalfway, 1e-15);
  EXPECT_DOUBLE_EQ(ScaledSigmoid(0.0), 0.0);
  EXPECT_NEAR(ScaledSigmoid(1.0), -kEarliest, 1e-15);
  EXPECT_DOUBLE_EQ(ScaledSigmoid(3.0), -1.0);  // far past a window
  EXPECT_DOUBLE_EQ(ScaledSigmoid(7.5), -1.0);
}

TEST(NabScore, ProbationIsFifteenPercentAtMostSevenHundredFifty) {
  EXPECT_EQ(ProbationRows(0), 0u);
  EXPECT_EQ(ProbationRows(7), 1u);       // floor(1.05)
  EXPECT_EQ(ProbationRows(4032), 604u);  // floor(604.8): a typical NAB file
  EXPECT_EQ(ProbationRows(5000), 750u);
  EXPECT_EQ(ProbationRows(22695), 750u);
}

// scorer_test.py, each case by name.
TEST(NabScore, NullIsZero) { EXPECT_DOUBLE_EQ(Raw(5, {}, {}), 0.0); }

TEST(NabScore, FalsePositivesBeforeAnyWindowCostFpWeightEach) {
  EXPECT_NEAR(Raw(5, {}, {1, 3}), -2.0 * 0.11, 1e-12);
}

TEST(NabScore, FalseNegativesCostFnWeightEach) {
  EXPECT_NEAR(Raw(7, {{1, 2}, {4, 5}}, {}), -2.0 * 1.2, 1e-12);
}

TEST(NabScore, FalsePositivesInProbationAreNotScored) {
  EXPECT_DOUBLE_EQ(Raw(5, {}, {1, 3}, 4), 0.0);
  EXPECT_NEAR(Raw(5, {}, {1, 3}, 3), -0.11, 1e-12);  // ...BeforeAndAfterProbationary
}

TEST(NabScore, TruePositives) {
  // TruePositives1: the last row of a two-row window is halfway in.
  EXPECT_NEAR(Raw(7, {{1, 2}}, {2}), kHalfway * 1.1 / kEarliest, 1e-12);
  // TruePositives1WithFN.
  EXPECT_NEAR(Raw(7, {{1, 2}, {4, 5}}, {2}), kHalfway * 1.1 / kEarliest - 1.2, 1e-12);
  // TruePositives2: the first row scores the full tpWeight.
  EXPECT_NEAR(Raw(7, {{4, 5}}, {4}), 1.1, 1e-12);
  // TruePositives3: only the earliest detection in a window counts.
  EXPECT_NEAR(Raw(7, {{4, 5}}, {4, 5}), 1.1, 1e-12);
  // TruePositivesMultiple.
  EXPECT_NEAR(Raw(7, {{1, 2}, {4, 5}}, {2, 4}), kHalfway * 1.1 / kEarliest + 1.1, 1e-12);
}

TEST(NabScore, AFalsePositiveAfterAWindowCostsLessTheCloserItIs) {
  // Window rows 10..19 (width 10); a detection d rows after its last row is at d / 9.
  const std::vector<RowWindow> window = {{10, 19}};
  const double near = Raw(100, window, {10, 21}) - 1.1;
  const double far = Raw(100, window, {10, 60}) - 1.1;
  EXPECT_NEAR(near, 0.11 * ScaledSigmoid(2.0 / 9.0), 1e-12);
  EXPECT_NEAR(far, -0.11, 1e-12);  // 41 / 9 > 3
  EXPECT_GT(near, far);
}

TEST(NabScore, CountsDetectionsAndDelays) {
  const FileScore score =
      ScoreFile(100, {{20, 29}, {50, 59}, {80, 89}}, {3, 25, 27, 40, 52, 95}, kScorerTestCosts, 10);
  EXPECT_EQ(score.in_probation, 1u);
  EXPECT_EQ(score.in_windows, 3u);
  EXPECT_EQ(score.outside_windows, 2u);
  EXPECT_EQ(score.scored_windows, 3u);
  EXPECT_EQ(score.detected_windows, 2u);
  EXPECT_EQ(score.delays_rows, (std::vector<size_t>{5, 2}));
  EXPECT_DOUBLE_EQ(score.null_raw, -3.0 * 1.2);
}

TEST(NabScore, NullAndPerfectDetectorsNormaliseToZeroAndHundred) {
  const std::vector<RowWindow> windows = {{200, 239}, {500, 539}, {900, 999}};
  for (const NabProfile& profile : kNabProfiles) {
    const FileScore none = ScoreFile(1000, windows, {}, profile.costs, ProbationRows(1000));
    EXPECT_DOUBLE_EQ(NormalisedScore(none.raw, none.null_raw, 3, profile.costs), 0.0)
        << profile.name;
    const FileScore perfect =
        ScoreFile(1000, windows, {200, 500, 900}, profile.costs, ProbationRows(1000));
    EXPECT_NEAR(NormalisedScore(perfect.raw, perfect.null_raw, 3, profile.costs), 100.0, 1e-9)
        << profile.name;
    // Late detections score less than early ones, and a false alarm costs.
    const FileScore late =
        ScoreFile(1000, windows, {230, 530, 990, 700}, profile.costs, ProbationRows(1000));
    const double late_score = NormalisedScore(late.raw, late.null_raw, 3, profile.costs);
    EXPECT_GT(late_score, 0.0) << profile.name;
    EXPECT_LT(late_score, 100.0) << profile.name;
  }
}

TEST(NabScore, ProfilesAreNabs) {
  ASSERT_EQ(kNabProfileCount, 3u);
  EXPECT_STREQ(kNabProfiles[0].name, "standard");
  EXPECT_DOUBLE_EQ(kNabProfiles[0].costs.fp_weight, 0.11);
  EXPECT_STREQ(kNabProfiles[1].name, "reward_low_FP_rate");
  EXPECT_DOUBLE_EQ(kNabProfiles[1].costs.fp_weight, 0.22);
  EXPECT_STREQ(kNabProfiles[2].name, "reward_low_FN_rate");
  EXPECT_DOUBLE_EQ(kNabProfiles[2].costs.fn_weight, 2.0);
}

TEST(NabScore, WindowsArePlacedOnRowsByTime) {
  const std::vector<int64_t> rows = {0, 300000, 600000, 900000, 1200000};
  const std::vector<RowWindow> placed =
      PlaceWindows(rows, {{300000, 900000}, {1000000, 1100000}, {1100000, 5000000}});
  ASSERT_EQ(placed.size(), 2u);  // the second covers no row
  EXPECT_EQ(placed[0].first, 1u);
  EXPECT_EQ(placed[0].last, 3u);
  EXPECT_EQ(placed[1].first, 4u);
  EXPECT_EQ(placed[1].last, 4u);
}

TEST(NabScore, LoadsNabLabelsAndNamesWhatIsWrong) {
  testing::TestDir dir;
  const std::string good = dir.File("labels.json");
  std::ofstream(good) << R"({"a/b.csv": [["2014-04-01 00:05:00.000000",
      "2014-04-01 00:10:00.000000"]], "c.csv": []})";
  NabLabels labels;
  ASSERT_TRUE(LoadNabLabels(good, &labels).ok());
  ASSERT_EQ(labels.size(), 2u);
  ASSERT_EQ(labels["a/b.csv"].size(), 1u);
  EXPECT_EQ(labels["a/b.csv"][0].start_ms, 1396310700000);
  EXPECT_EQ(labels["a/b.csv"][0].end_ms, 1396311000000);

  const std::string bad = dir.File("bad.json");
  std::ofstream(bad) << R"({"a.csv": [["2014-04-01 00:05:00", "yesterday"]]})";
  const Status status = LoadNabLabels(bad, &labels);
  EXPECT_EQ(status.message(),
            bad + ": a.csv: window 0: expected [\"start\", \"end\"] timestamps, start <= end");
  EXPECT_EQ(labels.size(), 2u);  // unchanged
  EXPECT_FALSE(LoadNabLabels(dir.File("missing.json"), &labels).ok());
}

}  // namespace
}  // namespace driftwatch::replay
