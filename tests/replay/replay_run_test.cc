// RunReplay in-process: the progress line of a long run, the summary's counts, and a detector
// pipeline built from a config exactly as the service builds it.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/config.h"
#include "core/pipeline.h"
#include "core/plugin_loader.h"
#include "replay/replay.h"
#include "tests/support/test_dir.h"

namespace driftwatch::replay {
namespace {

// What a FILE* received, as text.
std::string Contents(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  while (const size_t read = std::fread(buffer, 1, sizeof(buffer), file)) {
    text.append(buffer, read);
  }
  return text;
}

class ReplayRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> refusals;
    ASSERT_TRUE(registry_.LoadDirectory(DRIFTWATCH_TEST_PLUGIN_DIR, &refusals).ok());
    ASSERT_TRUE(refusals.empty());
    ASSERT_TRUE(BuildDetectorSet(config_, registry_, &detectors_).ok());
    // 300 rows: a baseline at row 100, then a spike of 10 rows from row 200.
    std::ofstream csv(dir_.File("series.csv"));
    csv << "timestamp,value\n";
    for (int i = 0; i < 300; ++i) {
      csv << "2014-04-01 " << (i / 60 < 10 ? "0" : "") << i / 60 << ":" << (i % 60 < 10 ? "0" : "")
          << i % 60 << ":00," << (i >= 200 && i < 210 ? 500 : 100 + i % 7) << "\n";
    }
  }

  int Run(const ReplayOptions& options) {
    out_ = std::tmpfile();
    err_ = std::tmpfile();
    return RunReplay(options, config_.baseline, detectors_, out_, err_);
  }
  void TearDown() override {
    if (out_ != nullptr) std::fclose(out_);
    if (err_ != nullptr) std::fclose(err_);
  }

  testing::TestDir dir_;
  Config config_;
  PluginRegistry registry_;
  DetectorSet detectors_;
  std::FILE* out_ = nullptr;
  std::FILE* err_ = nullptr;
};

TEST_F(ReplayRunTest, ALongRunReportsProgressOnStderrOnly) {
  ReplayOptions options;
  options.inputs = {dir_.File("series.csv"), dir_.File("series.csv")};
  options.progress_after_seconds = 0;  // every run is "long"
  ASSERT_EQ(Run(options), 0);
  const std::string err = Contents(err_);
  EXPECT_NE(err.find("driftwatch replay: 1 of 2 files, 300 samples, "), std::string::npos) << err;
  const std::string out = Contents(out_);
  EXPECT_EQ(out.find("of 2 files"), std::string::npos) << out;
}

TEST_F(ReplayRunTest, AShortRunIsQuietAndTheSummaryCounts) {
  ReplayOptions options;
  options.inputs = {dir_.File("series.csv")};
  ASSERT_EQ(Run(options), 0);
  EXPECT_EQ(Contents(err_), "");
  const std::string out = Contents(out_);
  // The baseline at sample 100, the spike at its 5th row (Rule 1), the recovery 50 rows after it.
  EXPECT_NE(out.find("series  INSUFFICIENT_DATA -> STABLE  baseline_established"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("series  STABLE -> DRIFT_DETECTED  consecutive_severe_anomalies"),
            std::string::npos);
  EXPECT_NE(out.find("(" + dir_.File("series.csv") + ":206, sample 205)"), std::string::npos)
      << out;
  EXPECT_NE(out.find("replay: 1 files, 1 services, 300 samples (0 bad rows skipped), 3 "
                     "transitions (1 into DRIFT_DETECTED)"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace driftwatch::replay
