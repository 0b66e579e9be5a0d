// The API's response bodies, without HTTP.
#include "api/response_json.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/timestamp.h"

namespace driftwatch::api {
namespace {

constexpr int64_t kNow = 1768213845123;  // 2026-01-12T10:30:45.123Z

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str());
  EXPECT_FALSE(document.HasParseError()) << json;
  return document;
}

TEST(ResponseJson, HealthBeforeAndAfterTheFirstBaseline) {
  ServiceHealth health;
  health.service_id = "svc";
  health.sample_count = 99;
  rapidjson::Document json = Parse(HealthJson(health));
  EXPECT_EQ(json["state"].GetString(), std::string("INSUFFICIENT_DATA"));
  EXPECT_TRUE(json["transition_timestamp"].IsNull());
  EXPECT_TRUE(json["baseline"].IsNull());
  EXPECT_TRUE(json["metadata"].IsObject());
  EXPECT_EQ(json["metadata"].MemberCount(), 0u);
  EXPECT_EQ(json["sample_count"].GetInt(), 99);

  health.state = ServiceState::kDriftDetected;
  health.transition_timestamp_ms = kNow;
  health.baseline.valid = true;
  health.baseline.mean_latency = 150.25;
  health.baseline.stddev_latency = 24.5;
  health.baseline.sample_count = 100;
  health.metadata_json =
      R"({"reason":"consecutive_severe_anomalies","consecutive_count":5,"max_zscore":14.2})";
  json = Parse(HealthJson(health));
  EXPECT_EQ(json["state"].GetString(), std::string("DRIFT_DETECTED"));
  EXPECT_EQ(json["transition_timestamp"].GetString(), std::string("2026-01-12T10:30:45.123Z"));
  EXPECT_EQ(json["baseline"]["mean_latency"].GetDouble(), 150.25);
  EXPECT_EQ(json["baseline"]["stddev_latency"].GetDouble(), 24.5);
  EXPECT_EQ(json["baseline"]["sample_count"].GetInt(), 100);
  EXPECT_EQ(json["metadata"]["consecutive_count"].GetInt(), 5);
  EXPECT_EQ(json["metadata"]["max_zscore"].GetDouble(), 14.2);
}

TEST(ResponseJson, BaselinePayloadIsNullWhenNoSampleCarriedOne) {
  ServiceHealth health;
  health.service_id = "svc";
  health.baseline.valid = true;
  health.baseline.sample_count = 100;
  health.baseline.mean_latency = 1;
  health.baseline.p99_latency = 9;
  health.baseline.last_updated_ms = kNow;
  rapidjson::Document json = Parse(BaselineJson(health));
  EXPECT_TRUE(json["mean_payload"].IsNull());
  EXPECT_TRUE(json["stddev_payload"].IsNull());
  EXPECT_EQ(json["p99_latency"].GetDouble(), 9.0);
  EXPECT_EQ(json["last_updated"].GetString(), std::string("2026-01-12T10:30:45.123Z"));

  health.baseline.has_payload = true;
  health.baseline.mean_payload = 2.45;
  health.baseline.stddev_payload = std::nan("");  // never written as NaN
  json = Parse(BaselineJson(health));
  EXPECT_EQ(json["mean_payload"].GetDouble(), 2.45);
  EXPECT_TRUE(json["stddev_payload"].IsNull());
}

TEST(ResponseJson, EventsKeepOrderAndMetadataAndNeverEmitBrokenJson) {
  StoredEvent drift{"svc",
                    105,
                    kNow,
                    "STABLE",
                    "DRIFT_DETECTED",
                    "consecutive_severe_anomalies",
                    R"({"consecutive_count":5})"};
  StoredEvent broken{
      "svc", 100, kNow - 1, "INSUFFICIENT_DATA", "STABLE", "baseline_established", "not json"};
  rapidjson::Document json = Parse(EventsJson("svc", {drift, broken}));
  ASSERT_EQ(json["events"].Size(), 2u);
  EXPECT_EQ(json["events"][0]["sample_seq"].GetInt(), 105);
  EXPECT_EQ(json["events"][0]["metadata"]["consecutive_count"].GetInt(), 5);
  EXPECT_EQ(json["events"][1]["from_state"].GetString(), std::string("INSUFFICIENT_DATA"));
  EXPECT_TRUE(json["events"][1]["metadata"].IsObject());
}

TEST(ResponseJson, ErrorCarriesExtraNumbers) {
  ApiError error;
  error.http_status = 404;
  error.code = "no_baseline";
  error.message = "has 3 of 100";
  error.numbers = {{"samples", 3}, {"needed", 100}};
  const rapidjson::Document json = Parse(ErrorJson(error));
  EXPECT_EQ(json["samples"].GetInt(), 3);
  EXPECT_EQ(json["needed"].GetInt(), 100);
  EXPECT_FALSE(json.HasMember("field"));
  EXPECT_FALSE(json.HasMember("index"));
}

TEST(ResponseJson, StatusIsDegradedWhileStorageFails) {
  SystemStatus status;
  status.engine.storage_healthy = false;
  status.engine.storage_error = "disk full";
  rapidjson::Document json = Parse(StatusJson(status));
  EXPECT_EQ(json["status"].GetString(), std::string("degraded"));
  EXPECT_TRUE(json["total_telemetry_records"].IsNull());

  status.engine.storage_healthy = true;
  status.have_store_stats = true;
  status.stored_samples = 12450;
  status.database_size_bytes = 2411725;  // 2.3 MiB
  json = Parse(StatusJson(status));
  EXPECT_EQ(json["status"].GetString(), std::string("healthy"));
  EXPECT_EQ(json["total_telemetry_records"].GetInt(), 12450);
  EXPECT_EQ(json["database_size_mb"].GetDouble(), 2.3);
  EXPECT_EQ(json["refused_samples"].GetUint64(), 0u);
  EXPECT_EQ(json["last_refusal"].GetString(), std::string());
}

// Refused data does not make the status degraded: it is counted, and where it went is named.
TEST(ResponseJson, StatusCountsRefusedData) {
  SystemStatus status;
  status.engine.refused_samples = 7;
  status.engine.refused_events = 1;
  status.engine.last_refusal = "service 'x': invalid_argument: sqlite: refused";
  status.engine.refused_file = "driftwatch.db.refused.jsonl";
  const rapidjson::Document json = Parse(StatusJson(status));
  EXPECT_EQ(json["status"].GetString(), std::string("healthy"));
  EXPECT_EQ(json["refused_samples"].GetUint64(), 7u);
  EXPECT_EQ(json["refused_events"].GetUint64(), 1u);
  EXPECT_EQ(json["last_refusal"].GetString(), status.engine.last_refusal);
  EXPECT_EQ(json["refused_file"].GetString(), status.engine.refused_file);
}

}  // namespace
}  // namespace driftwatch::api
