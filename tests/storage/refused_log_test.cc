// The file where refused data is set aside: its lines (what an operator reads and re-sends), its
// bound, and all-or-nothing appends.
#include "core/refused_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "storage_test_support.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kRefusedAt = 1767225600123;  // 2026-01-01T00:00:00.123Z

std::string Contents(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

WriteBatch Part() {
  WriteBatch part;
  part.samples = {Sample(kServiceA, 41, 1767225600000, 156.7, 2.5),
                  Sample(kServiceA, 42, 1767225600250, 0.1)};  // no payload
  part.events = {Event(kServiceA, 42, 1767225600250, "DRIFT_DETECTED", "consecutive_severe")};
  part.snapshots = {Snapshot(kServiceA, 42, "state")};  // not written: the engine's own state
  return part;
}

TEST(RefusedLog, OneLinePerSampleAndEventWithTheReason) {
  const Status reason = Status::InvalidArgument("sqlite: sample 41 of 'checkout-api' is old");
  EXPECT_EQ(
      RefusedLog::Lines(Part(), reason, kRefusedAt),
      R"({"refused_at":"2026-01-01T00:00:00.123Z","kind":"invalid_argument","reason":"sqlite: sample 41 of 'checkout-api' is old","seq":41,"sample":{"service_id":"checkout-api","timestamp":"2026-01-01T00:00:00.000Z","latency_ms":156.7,"payload_kb":2.5}})"
      "\n"
      R"({"refused_at":"2026-01-01T00:00:00.123Z","kind":"invalid_argument","reason":"sqlite: sample 41 of 'checkout-api' is old","seq":42,"sample":{"service_id":"checkout-api","timestamp":"2026-01-01T00:00:00.250Z","latency_ms":0.1}})"
      "\n"
      R"({"refused_at":"2026-01-01T00:00:00.123Z","kind":"invalid_argument","reason":"sqlite: sample 41 of 'checkout-api' is old","event":{"service_id":"checkout-api","from_state":"STABLE","to_state":"DRIFT_DETECTED","reason":"consecutive_severe","metadata":{"reason":"consecutive_severe"},"timestamp":"2026-01-01T00:00:00.250Z","sample_seq":42}})"
      "\n");
}

// An endpoint series' data is named as the API names it, so that its sample can be sent again
// as is: the service id and the endpoint, not the series key.
TEST(RefusedLog, AnEndpointSeriesIsNamedByServiceAndEndpoint) {
  WriteBatch part;
  part.samples = {Sample("checkout-api#GET /a", 7, 1767225600000, 156.7, 2.5)};
  part.events = {Event("checkout-api#GET /a", 7, 1767225600000, "DRIFT_DETECTED", "spike")};
  const std::string lines = RefusedLog::Lines(part, Status::InvalidArgument("no"), kRefusedAt);
  EXPECT_THAT(lines, HasSubstr(R"("sample":{"service_id":"checkout-api","endpoint":"GET /a",)"));
  EXPECT_THAT(lines, HasSubstr(R"("event":{"service_id":"checkout-api","endpoint":"GET /a",)"));
  EXPECT_THAT(lines, ::testing::Not(HasSubstr("#")));
}

// A sample stored once for its service and its endpoint series (a tag) is one line that names the
// endpoint: sent again, it feeds both series again.
TEST(RefusedLog, ATaggedSampleIsOneLineNamingItsEndpoint) {
  WriteBatch part;
  part.samples = {Sample("checkout-api", 41, 1767225600000, 156.7, 2.5)};
  part.samples[0].tag_series = std::make_shared<const std::string>("checkout-api#GET /a");
  part.samples[0].tag_seq = 7;
  EXPECT_EQ(
      RefusedLog::Lines(part, Status::InvalidArgument("no"), kRefusedAt),
      R"({"refused_at":"2026-01-01T00:00:00.123Z","kind":"invalid_argument","reason":"no","seq":41,"sample":{"service_id":"checkout-api","endpoint":"GET /a","timestamp":"2026-01-01T00:00:00.000Z","latency_ms":156.7,"payload_kb":2.5}})"
      "\n");
}

TEST(RefusedLog, AppendsAndCreatesTheFileOnlyWhenThereIsSomethingToWrite) {
  TestDir dir;
  const RefusedLog log(dir.File("db.refused.jsonl"));
  WriteBatch snapshot_only;
  snapshot_only.snapshots = {Snapshot(kServiceA, 1, "state")};
  ASSERT_TRUE(log.Append(snapshot_only, Status::InvalidArgument("x"), kRefusedAt).ok());
  EXPECT_FALSE(std::filesystem::exists(log.path()));

  const Status reason = Status::InvalidArgument("refused");
  ASSERT_TRUE(log.Append(Part(), reason, kRefusedAt).ok());
  ASSERT_TRUE(log.Append(Part(), reason, kRefusedAt).ok());
  const std::string lines = RefusedLog::Lines(Part(), reason, kRefusedAt);
  EXPECT_EQ(Contents(log.path()), lines + lines);
  EXPECT_EQ(std::filesystem::status(log.path()).permissions() & std::filesystem::perms::others_all,
            std::filesystem::perms::none);
}

TEST(RefusedLog, IsBoundedAndAllOrNothing) {
  TestDir dir;
  const Status reason = Status::InvalidArgument("refused");
  const std::string lines = RefusedLog::Lines(Part(), reason, kRefusedAt);
  const RefusedLog log(dir.File("db.refused.jsonl"), lines.size() + lines.size() / 2);
  ASSERT_TRUE(log.Append(Part(), reason, kRefusedAt).ok());
  const Status full = log.Append(Part(), reason, kRefusedAt);
  EXPECT_EQ(full.kind(), Status::Kind::kIoError);
  EXPECT_THAT(full.message(), HasSubstr("is full"));
  EXPECT_EQ(Contents(log.path()), lines);  // nothing of the second part

  // Moved away by an operator: the next refusal starts a new file.
  std::filesystem::rename(log.path(), dir.File("kept.jsonl"));
  EXPECT_TRUE(log.Append(Part(), reason, kRefusedAt).ok());
  EXPECT_EQ(Contents(log.path()), lines);
}

TEST(RefusedLog, AFileThatCannotBeWrittenIsAnIoError) {
  TestDir dir;
  const RefusedLog log(dir.File("no-such-dir/db.refused.jsonl"));
  const Status status = log.Append(Part(), Status::InvalidArgument("refused"), kRefusedAt);
  EXPECT_EQ(status.kind(), Status::Kind::kIoError);
  EXPECT_THAT(status.message(), HasSubstr("no-such-dir"));
}

}  // namespace
}  // namespace driftwatch::testing
