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
    CloseOutput();  // a test may run more than once
    out_ = std::tmpfile();
    err_ = std::tmpfile();
    return RunReplay(options, config_.baseline, detectors_, out_, err_);
  }
  void TearDown() override { CloseOutput(); }
  void CloseOutput() {
    if (out_ != nullptr) std::fclose(out_);
    if (err_ != nullptr) std::fclose(err_);
    out_ = err_ = nullptr;
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

// With series.per_endpoint, an endpoint series' transitions name it, in text as "service
// [endpoint]" and in JSON as "endpoint"; the service's own name none. Past
// series.max_endpoints_per_service, an endpoint's samples go to the service alone, and the summary
// counts them. Without per_endpoint, endpoints are read past.
TEST_F(ReplayRunTest, EndpointSeriesAreNamedCappedAndCounted) {
  std::ofstream csv(dir_.File("endpoints.csv"));
  csv << "service_id,endpoint,latency_ms,timestamp\n";
  for (int i = 0; i < 240; ++i) {
    csv << "svc," << (i % 2 == 0 ? "/a" : "/b") << "," << 100 + i % 7 << ",2014-04-01T"
        << (i / 60 < 10 ? "0" : "") << i / 60 << ":" << (i % 60 < 10 ? "0" : "") << i % 60
        << ":00Z\n";
  }
  csv.close();
  ReplayOptions options;
  options.inputs = {dir_.File("endpoints.csv")};
  options.series.per_endpoint = true;
  options.series.max_endpoints_per_service = 1;
  ASSERT_EQ(Run(options), 0);
  std::string out = Contents(out_);
  EXPECT_NE(out.find("svc  INSUFFICIENT_DATA -> STABLE  baseline_established"), std::string::npos)
      << out;
  EXPECT_NE(out.find("svc [/a]  INSUFFICIENT_DATA -> STABLE  baseline_established"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("[/b]"), std::string::npos) << out;
  EXPECT_NE(out.find("replay: 1 files, 1 services and 1 endpoint series, 240 samples"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("endpoint overflow: 120 samples went to their service's series only: their "
                     "endpoint series would pass series.max_endpoints_per_service (1)\n"),
            std::string::npos)
      << out;

  options.json = true;
  ASSERT_EQ(Run(options), 0);
  out = Contents(out_);
  EXPECT_NE(out.find("{\"service_id\":\"svc\",\"from_state\":\"INSUFFICIENT_DATA\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("{\"service_id\":\"svc\",\"endpoint\":\"/a\",\"from_state\":"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\"endpoint_series\":1,\"endpoint_overflow\":120,"), std::string::npos) << out;

  options.json = false;
  options.series.per_endpoint = false;
  ASSERT_EQ(Run(options), 0);
  out = Contents(out_);
  EXPECT_EQ(out.find("[/a]"), std::string::npos) << out;
  EXPECT_EQ(out.find("endpoint series"), std::string::npos) << out;
  EXPECT_EQ(out.find("endpoint overflow"), std::string::npos) << out;
  EXPECT_NE(out.find("replay: 1 files, 1 services, 240 samples"), std::string::npos) << out;
}

}  // namespace
}  // namespace driftwatch::replay
