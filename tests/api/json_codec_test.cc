// Parsing, validation and response bodies of the API (SPEC 3), without HTTP.
#include "api/json_codec.h"

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

struct Rejection {
  std::string body;
  int status;
  std::string code;
  std::string field;
};

TEST(ParseSampleBody, AcceptsAFullSampleAndNormalisesTheTimestampToUtc) {
  IncomingSample sample;
  auto error =
      ParseSampleBody(R"({"service_id":"pay-auth.prod:eu_1","latency_ms":156.7,"payload_kb":2.3,)"
                      R"("timestamp":"2026-01-12T12:30:45.5+02:00","unknown":{"nested":[1,2]}})",
                      kNow, &sample);
  ASSERT_FALSE(error) << error->message;
  EXPECT_EQ(sample.service_id, "pay-auth.prod:eu_1");
  EXPECT_EQ(sample.sample.latency_ms, 156.7);
  EXPECT_EQ(sample.sample.payload_kb, 2.3);
  EXPECT_EQ(FormatTimestamp(sample.sample.timestamp_ms), "2026-01-12T10:30:45.500Z");
  EXPECT_EQ(Parse(AcceptedJson(sample))["timestamp"].GetString(),
            std::string("2026-01-12T10:30:45.500Z"));
}

TEST(ParseSampleBody, MissingOrNullOptionalFieldsTakeTheirDefaults) {
  for (const char* body :
       {R"({"service_id":"a","latency_ms":0})",
        R"({"service_id":"a","latency_ms":0,"payload_kb":null,"timestamp":null})"}) {
    IncomingSample sample;
    ASSERT_FALSE(ParseSampleBody(body, kNow, &sample)) << body;
    EXPECT_TRUE(std::isnan(sample.sample.payload_kb)) << body;
    EXPECT_EQ(sample.sample.timestamp_ms, kNow) << body;
    EXPECT_EQ(sample.sample.latency_ms, 0.0);
  }
}

TEST(ParseSampleBody, IntegersAndExponentsAreNumbers) {
  IncomingSample sample;
  ASSERT_FALSE(ParseSampleBody(R"({"service_id":"a","latency_ms":18446744073709551615,)"
                               R"("payload_kb":2.5e-3})",
                               kNow, &sample));
  EXPECT_EQ(sample.sample.latency_ms, 18446744073709551615.0);
  EXPECT_EQ(sample.sample.payload_kb, 0.0025);
}

TEST(ParseSampleBody, WhenAKeyRepeatsTheLastOneCounts) {
  IncomingSample sample;
  ASSERT_FALSE(
      ParseSampleBody(R"({"service_id":"a","latency_ms":"x","latency_ms":7})", kNow, &sample));
  EXPECT_EQ(sample.sample.latency_ms, 7.0);
}

TEST(ParseSampleBody, ServiceIdLengthLimits) {
  IncomingSample sample;
  const std::string longest(kMaxServiceIdLength, 'x');
  EXPECT_FALSE(
      ParseSampleBody(R"({"service_id":")" + longest + R"(","latency_ms":1})", kNow, &sample));
  auto error =
      ParseSampleBody(R"({"service_id":")" + longest + R"(x","latency_ms":1})", kNow, &sample);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field, "service_id");
}

TEST(ParseSampleBody, RejectsEachKindOfBadInputWithTheRightStatusAndField) {
  const std::vector<Rejection> cases = {
      {"", 400, "malformed_json", ""},
      {"{", 400, "malformed_json", ""},
      {R"({"service_id":"a","latency_ms":1} trailing)", 400, "malformed_json", ""},
      {R"({"service_id":"a","latency_ms":NaN})", 400, "malformed_json", ""},
      {R"({"service_id":"a","latency_ms":Infinity})", 400, "malformed_json", ""},
      {R"({"service_id":"a","latency_ms":-Infinity})", 400, "malformed_json", ""},
      {"{\"service_id\":\"a\xff\",\"latency_ms\":1}", 400, "malformed_json", ""},
      {"{\"service_id\":\"a\",\"latency_ms\":1,\"x\":\"\xc3\x28\"}", 400, "malformed_json", ""},
      {"[]", 422, "validation_failed", "(body)"},
      {"42", 422, "validation_failed", "(body)"},
      {"null", 422, "validation_failed", "(body)"},
      {R"({"latency_ms":1})", 422, "validation_failed", "service_id"},
      {R"({"service_id":null,"latency_ms":1})", 422, "validation_failed", "service_id"},
      {R"({"service_id":7,"latency_ms":1})", 422, "validation_failed", "service_id"},
      {R"({"service_id":"","latency_ms":1})", 422, "validation_failed", "service_id"},
      {R"({"service_id":"a b","latency_ms":1})", 422, "validation_failed", "service_id"},
      {R"({"service_id":"a/b","latency_ms":1})", 422, "validation_failed", "service_id"},
      {R"({"service_id":"caf\u00e9","latency_ms":1})", 422, "validation_failed", "service_id"},
      {R"({"service_id":"a\u0000","latency_ms":1})", 422, "validation_failed", "service_id"},
      {R"({"service_id":"a"})", 422, "validation_failed", "latency_ms"},
      {R"({"service_id":"a","latency_ms":null})", 422, "validation_failed", "latency_ms"},
      {R"({"service_id":"a","latency_ms":"12"})", 422, "validation_failed", "latency_ms"},
      {R"({"service_id":"a","latency_ms":true})", 422, "validation_failed", "latency_ms"},
      {R"({"service_id":"a","latency_ms":-0.001})", 422, "validation_failed", "latency_ms"},
      {R"({"service_id":"a","latency_ms":1e400})", 422, "validation_failed", "latency_ms"},
      {R"({"service_id":"a","latency_ms":-1e400})", 422, "validation_failed", "latency_ms"},
      {R"({"service_id":"a","latency_ms":1,"payload_kb":-1})", 422, "validation_failed",
       "payload_kb"},
      {R"({"service_id":"a","latency_ms":1,"payload_kb":"2"})", 422, "validation_failed",
       "payload_kb"},
      {R"({"service_id":"a","latency_ms":1,"payload_kb":1e999})", 422, "validation_failed",
       "payload_kb"},
      {R"({"service_id":"a","latency_ms":1,"timestamp":"yesterday"})", 422, "validation_failed",
       "timestamp"},
      {R"({"service_id":"a","latency_ms":1,"timestamp":"2026-02-30T00:00:00Z"})", 422,
       "validation_failed", "timestamp"},
      {R"({"service_id":"a","latency_ms":1,"timestamp":1768213845})", 422, "validation_failed",
       "timestamp"},
  };
  for (const Rejection& rejection : cases) {
    IncomingSample sample;
    auto error = ParseSampleBody(rejection.body, kNow, &sample);
    ASSERT_TRUE(error) << rejection.body;
    EXPECT_EQ(error->http_status, rejection.status) << rejection.body;
    EXPECT_EQ(error->code, rejection.code) << rejection.body;
    EXPECT_EQ(error->field, rejection.field) << rejection.body;
    EXPECT_EQ(error->index, -1) << rejection.body;
    EXPECT_FALSE(error->message.empty());
  }
}

TEST(ParseSampleBody, NestingIsBoundedAndNeverRecursesDeeply) {
  auto nested = [](int levels) {
    return R"({"service_id":"a","latency_ms":1,"x":)" + std::string(levels, '[') +
           std::string(levels, ']') + "}";
  };
  IncomingSample sample;
  EXPECT_FALSE(ParseSampleBody(nested(60), kNow, &sample));
  // A recursive parser would overflow the stack long before a million levels.
  auto error = ParseSampleBody(nested(1000000), kNow, &sample);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, 400);
  EXPECT_EQ(error->code, "malformed_json");
}

TEST(ParseBatchBody, AcceptsAllItemsInOrder) {
  std::vector<IncomingSample> samples;
  ASSERT_FALSE(ParseBatchBody(R"([{"service_id":"a","latency_ms":1},)"
                              R"({"service_id":"b","latency_ms":2,"payload_kb":3}])",
                              kNow, &samples));
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].service_id, "a");
  EXPECT_EQ(samples[1].sample.latency_ms, 2.0);
  EXPECT_EQ(samples[1].sample.payload_kb, 3.0);
  EXPECT_EQ(Parse(BatchAcceptedJson(2))["accepted"].GetInt(), 2);
}

TEST(ParseBatchBody, NamesTheIndexAndFieldOfTheFirstBadItemAndTakesNothing) {
  std::vector<IncomingSample> samples;
  const std::string good = R"({"service_id":"a","latency_ms":1})";
  auto error = ParseBatchBody(
      "[" + good + "," + good + "," + good + R"(,{"service_id":"a","latency_ms":-5},)" + good + "]",
      kNow, &samples);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, 422);
  EXPECT_EQ(error->index, 3);
  EXPECT_EQ(error->field, "latency_ms");
  EXPECT_TRUE(samples.empty());
  const rapidjson::Document json = Parse(ErrorJson(*error));
  EXPECT_EQ(json["index"].GetInt(), 3);
  EXPECT_EQ(json["field"].GetString(), std::string("latency_ms"));
  EXPECT_EQ(json["error"].GetString(), std::string("validation_failed"));
}

TEST(ParseBatchBody, RejectsBadShapes) {
  const std::vector<Rejection> cases = {
      {"[]", 422, "validation_failed", "(body)"},
      {R"({"service_id":"a","latency_ms":1})", 422, "validation_failed", "(body)"},
      {"[1]", 422, "validation_failed", "(item)"},
      {"[[]]", 422, "validation_failed", "(item)"},
      {"[", 400, "malformed_json", ""},
  };
  for (const Rejection& rejection : cases) {
    std::vector<IncomingSample> samples;
    auto error = ParseBatchBody(rejection.body, kNow, &samples);
    ASSERT_TRUE(error) << rejection.body;
    EXPECT_EQ(error->http_status, rejection.status) << rejection.body;
    EXPECT_EQ(error->field, rejection.field) << rejection.body;
  }
}

TEST(ParseBatchBody, ANumberTooLargeForADoubleIsNamedByIndexAndField) {
  std::vector<IncomingSample> samples;
  auto error = ParseBatchBody(R"([{"service_id":"a","latency_ms":1},)"
                              R"({"service_id":"a","latency_ms":1},)"
                              R"({"service_id":"a","latency_ms":9e999}])",
                              kNow, &samples);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, 422);
  EXPECT_EQ(error->index, 2);
  EXPECT_EQ(error->field, "latency_ms");

  error = ParseBatchBody(R"([{"service_id":"a","latency_ms":1},1e999])", kNow, &samples);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->index, 1);
  EXPECT_EQ(error->field, "(item)");
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
