// A store that refuses one service's data for good, through the real binary and a real SQLite
// file (a trigger makes SQLite refuse that service: a constraint, as the store reports it). The
// other services' samples are still committed; the refused ones are set aside in
// <db>.refused.jsonl, counted in /v1/system/status, answered 500 storage_refused in durable mode,
// and can be sent again as they are once the cause is gone (docs/operations.md, "Refused data").
#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sqlite3.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/hardening/service.h"

namespace driftwatch::testing {
namespace {

constexpr const char* kRefused = "quarantined";
constexpr const char* kHealthy = "checkout-api";

// Runs `sql` on the database file while the service is stopped.
void RunSql(const std::string& db, const std::string& sql) {
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  char* error = nullptr;
  const int result = sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(handle);
  ASSERT_EQ(result, SQLITE_OK) << message;
}

// Every write that would add the service kRefused to the store fails, as a constraint does.
void RefuseTheService(const std::string& db) {
  RunSql(db, std::string("CREATE TRIGGER refuse_service BEFORE INSERT ON services WHEN "
                         "NEW.service_id = '") +
                 kRefused + "' BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END;");
}

std::vector<rapidjson::Document> Lines(const std::string& path) {
  std::vector<rapidjson::Document> lines;
  std::ifstream in(path);
  std::string text;
  while (std::getline(in, text)) {
    lines.emplace_back();
    lines.back().Parse<rapidjson::kParseFullPrecisionFlag>(text.c_str());
    EXPECT_FALSE(lines.back().HasParseError()) << text;
  }
  return lines;
}

// The "sample" of every sample line, as one JSON array: what
// `jq -s '[.[] | select(.sample) | .sample]' FILE` makes (docs/operations.md).
std::string ReplayBatch(const std::vector<rapidjson::Document>& lines) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartArray();
  for (const rapidjson::Document& line : lines) {
    if (line.IsObject() && line.HasMember("sample")) line["sample"].Accept(writer);
  }
  writer.EndArray();
  return buffer.GetString();
}

uint64_t Counter(const rapidjson::Document& status, const char* name) {
  return status.HasMember(name) && status[name].IsUint64() ? status[name].GetUint64() : 9999;
}

// Which samples to expect in the file: those sent for kRefused, in order.
std::vector<double> RefusedLatencies(const std::vector<rapidjson::Document>& lines) {
  std::vector<double> latencies;
  for (const rapidjson::Document& line : lines) {
    EXPECT_STREQ(line["kind"].GetString(), "invalid_argument");
    EXPECT_NE(std::string(line["reason"].GetString()).find("refused by a test trigger"),
              std::string::npos);
    EXPECT_STREQ(line["sample"]["service_id"].GetString(), kRefused);
    latencies.push_back(line["sample"]["latency_ms"].GetDouble());
  }
  return latencies;
}

TEST(Refusal, DurableIngestAnswersTheRefusalAndCommitsTheOthers) {
  Service service("ingest:\n  durable: true\n");
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;  // creates the database
  ASSERT_EQ(service.Stop(), 0);
  const std::string db = service.dir().File("driftwatch.db");
  RefuseTheService(db);
  ASSERT_TRUE(service.Start(&error)) << error;

  HttpResponse refused = service.Post("/v1/telemetry", SampleJson(kRefused, 101.5));
  EXPECT_EQ(refused.status, 500) << refused.body;
  EXPECT_NE(refused.body.find("\"storage_refused\""), std::string::npos) << refused.body;
  EXPECT_FALSE(refused.Header("Retry-After").has_value());  // sending again may be refused again
  EXPECT_EQ(service.Post("/v1/telemetry", SampleJson(kHealthy, 150)).status, 202);
  // A batch with samples of both: the healthy service's are committed, the answer says refused.
  std::string mixed = BatchJson(kHealthy, 3, 151);
  mixed.back() = ',';
  mixed += SampleJson(kRefused, 102.5) + "," + SampleJson(kRefused, 103.5) + "]";
  refused = service.Post("/v1/telemetry/batch", mixed);
  EXPECT_EQ(refused.status, 500) << refused.body;
  EXPECT_EQ(service.Post("/v1/telemetry", SampleJson(kHealthy, 154)).status, 202);

  ASSERT_TRUE(service.WaitForStoredSamples(5));  // the healthy service's, all of them
  const rapidjson::Document status = service.Status();
  EXPECT_STREQ(status["status"].GetString(), "healthy");
  EXPECT_TRUE(status["storage_healthy"].GetBool());
  EXPECT_EQ(Counter(status, "refused_samples"), 3u);
  EXPECT_EQ(Counter(status, "refused_events"), 0u);
  EXPECT_NE(std::string(status["last_refusal"].GetString()).find("'quarantined'"),
            std::string::npos);
  const std::string file = db + ".refused.jsonl";
  EXPECT_EQ(status["refused_file"].GetString(), file);

  // The file holds exactly the refused samples.
  std::vector<rapidjson::Document> lines = Lines(file);
  EXPECT_EQ(RefusedLatencies(lines), (std::vector<double>{101.5, 102.5, 103.5}));
  ASSERT_EQ(service.Stop(), 0);  // its final snapshot of the refused service is refused too

  // The cause is gone: the samples are sent again, as the file has them.
  RunSql(db, "DROP TRIGGER refuse_service;");
  ASSERT_TRUE(service.Start(&error)) << error;
  const HttpResponse replayed = service.Post("/v1/telemetry/batch", ReplayBatch(lines));
  EXPECT_EQ(replayed.status, 202) << replayed.body;
  ASSERT_TRUE(service.WaitForStoredSamples(8));
  EXPECT_EQ(service.SampleCount(kRefused), 3);
  EXPECT_EQ(Counter(service.Status(), "refused_samples"), 0u);  // counted since start
  EXPECT_EQ(Lines(file).size(), 3u);                            // the file is the operator's
  ASSERT_EQ(service.Stop(), 0);
}

TEST(Refusal, DefaultIngestSetsAsideAndCountsAndKeepsAccepting) {
  Service service;
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  ASSERT_EQ(service.Stop(), 0);
  const std::string db = service.dir().File("driftwatch.db");
  RefuseTheService(db);
  ASSERT_TRUE(service.Start(&error)) << error;

  // 202 means queued, in this mode: the refusal comes later, and is counted.
  EXPECT_EQ(service.Post("/v1/telemetry/batch", BatchJson(kRefused, 4, 200)).status, 202);
  EXPECT_EQ(service.Post("/v1/telemetry/batch", BatchJson(kHealthy, 6, 100)).status, 202);
  ASSERT_TRUE(
      Eventually([&] { return Counter(service.Status(), "refused_samples") == 4; }, kPatience));
  ASSERT_TRUE(service.WaitForStoredSamples(6));
  // Ingest is not refused meanwhile, for either service (before, every request got 503 until a
  // restart).
  EXPECT_EQ(service.Post("/v1/telemetry", SampleJson(kHealthy, 107)).status, 202);
  EXPECT_EQ(service.Post("/v1/telemetry", SampleJson(kRefused, 204)).status, 202);
  ASSERT_TRUE(service.WaitForStoredSamples(7));
  ASSERT_TRUE(
      Eventually([&] { return Counter(service.Status(), "refused_samples") == 5; }, kPatience));
  EXPECT_STREQ(service.Status()["status"].GetString(), "healthy");
  EXPECT_EQ(RefusedLatencies(Lines(db + ".refused.jsonl")),
            (std::vector<double>{200, 201, 202, 203, 204}));
  ASSERT_EQ(service.Stop(), 0);
}

// A DELETE the store refuses is answered as refused (not as a stop), and the store still holds the
// service, which the next start restores with all its samples.
TEST(Refusal, AForgetTheStoreRefusesIsAnsweredSoAndTheServiceComesBack) {
  Service service;
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  ASSERT_EQ(service.Post("/v1/telemetry/batch", BatchJson(kRefused, 3)).status, 202);
  ASSERT_TRUE(service.WaitForStoredSamples(3));
  ASSERT_EQ(service.Stop(), 0);
  const std::string db = service.dir().File("driftwatch.db");
  RunSql(db, std::string("CREATE TRIGGER keep_service BEFORE DELETE ON services WHEN "
                         "OLD.service_id = '") +
                 kRefused + "' BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END;");
  ASSERT_TRUE(service.Start(&error)) << error;

  const HttpResponse refused =
      Fetch(service.port(), "DELETE", std::string("/v1/services/") + kRefused, "");
  EXPECT_EQ(refused.status, 500) << refused.body;
  EXPECT_NE(refused.body.find("\"storage_refused\""), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("refused to forget"), std::string::npos) << refused.body;
  const rapidjson::Document status = service.Status();
  EXPECT_NE(std::string(status["last_refusal"].GetString()).find("'quarantined'"),
            std::string::npos);
  EXPECT_STREQ(status["status"].GetString(), "healthy");
  ASSERT_EQ(service.Stop(), 0);

  ASSERT_TRUE(service.Start(&error)) << error;
  EXPECT_EQ(service.SampleCount(kRefused), 3);
  ASSERT_EQ(service.Stop(), 0);
}

}  // namespace
}  // namespace driftwatch::testing
