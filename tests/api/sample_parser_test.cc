// Reading and validating samples (docs/api.md, "Samples"), without HTTP.
#include "api/sample_parser.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cmath>
#include <string>
#include <vector>

#include "api/response_json.h"

#include "core/timestamp.h"

namespace driftwatch::api {
namespace {

constexpr int64_t kNow = 1768213845123;  // 2026-01-12T10:30:45.123Z
constexpr int64_t kHourMs = 3600 * 1000;
constexpr AcceptanceClock kClock{kNow, kHourMs};  // ingest.max_future_seconds' default

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
                      kClock, &sample);
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
    ASSERT_FALSE(ParseSampleBody(body, kClock, &sample)) << body;
    EXPECT_TRUE(std::isnan(sample.sample.payload_kb)) << body;
    EXPECT_EQ(sample.sample.timestamp_ms, kNow) << body;
    EXPECT_EQ(sample.sample.latency_ms, 0.0);
  }
}

TEST(ParseSampleBody, IntegersAndExponentsAreNumbers) {
  IncomingSample sample;
  ASSERT_FALSE(ParseSampleBody(R"({"service_id":"a","latency_ms":18446744073709551615,)"
                               R"("payload_kb":2.5e-3})",
                               kClock, &sample));
  EXPECT_EQ(sample.sample.latency_ms, 18446744073709551615.0);
  EXPECT_EQ(sample.sample.payload_kb, 0.0025);
}

TEST(ParseSampleBody, WhenAKeyRepeatsTheLastOneCounts) {
  IncomingSample sample;
  ASSERT_FALSE(
      ParseSampleBody(R"({"service_id":"a","latency_ms":"x","latency_ms":7})", kClock, &sample));
  EXPECT_EQ(sample.sample.latency_ms, 7.0);
}

TEST(ParseSampleBody, WhenAKeyRepeatsTheLastOneCountsWhateverItsType) {
  IncomingSample sample;
  ASSERT_FALSE(ParseSampleBody(
      R"({"service_id":"bad id","latency_ms":1,"timestamp":"yesterday","service_id":"ok",)"
      R"("timestamp":null})",
      kClock, &sample));
  EXPECT_EQ(sample.service_id, "ok");
  EXPECT_EQ(sample.sample.timestamp_ms, kNow);
  auto error =
      ParseSampleBody(R"({"service_id":"a","latency_ms":1,"service_id":["a"]})", kClock, &sample);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field, "service_id");
  EXPECT_EQ(error->message, "service_id must be a string");
}

TEST(ParseSampleBody, KnownKeysInsideAnUnknownFieldAreNotTheSamples) {
  IncomingSample sample;
  ASSERT_FALSE(ParseSampleBody(R"({"x":{"service_id":7,"latency_ms":-1},"service_id":"a",)"
                               R"("y":[{"latency_ms":"z"}],"latency_ms":2})",
                               kClock, &sample));
  EXPECT_EQ(sample.service_id, "a");
  EXPECT_EQ(sample.sample.latency_ms, 2.0);
}

TEST(ParseSampleBody, ServiceIdLengthLimits) {
  IncomingSample sample;
  const std::string longest(kMaxServiceIdLength, 'x');
  EXPECT_FALSE(
      ParseSampleBody(R"({"service_id":")" + longest + R"(","latency_ms":1})", kClock, &sample));
  auto error =
      ParseSampleBody(R"({"service_id":")" + longest + R"(x","latency_ms":1})", kClock, &sample);
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
    auto error = ParseSampleBody(rejection.body, kClock, &sample);
    ASSERT_TRUE(error) << rejection.body;
    EXPECT_EQ(error->http_status, rejection.status) << rejection.body;
    EXPECT_EQ(error->code, rejection.code) << rejection.body;
    EXPECT_EQ(error->field, rejection.field) << rejection.body;
    EXPECT_EQ(error->index, -1) << rejection.body;
    EXPECT_FALSE(error->message.empty());
  }
}

TEST(ParseSampleBody, ATimestampUpToTheLimitAheadOfTheClockIsAccepted) {
  IncomingSample sample;
  const std::string at_limit = FormatTimestamp(kNow + kHourMs);
  ASSERT_FALSE(ParseSampleBody(
      R"({"service_id":"a","latency_ms":1,"timestamp":")" + at_limit + R"("})", kClock, &sample));
  EXPECT_EQ(sample.sample.timestamp_ms, kNow + kHourMs);
  // Past timestamps have no limit.
  ASSERT_FALSE(ParseSampleBody(
      R"({"service_id":"a","latency_ms":1,"timestamp":"1970-01-01T00:00:00Z"})", kClock, &sample));
  EXPECT_EQ(sample.sample.timestamp_ms, 0);
}

TEST(ParseSampleBody, ATimestampFurtherAheadIsRefusedNamingTheField) {
  IncomingSample sample;
  const std::string beyond = FormatTimestamp(kNow + kHourMs + 1);
  for (const std::string& timestamp : {beyond, std::string("3000-01-01T00:00:00Z")}) {
    auto error = ParseSampleBody(
        R"({"service_id":"a","latency_ms":1,"timestamp":")" + timestamp + R"("})", kClock, &sample);
    ASSERT_TRUE(error) << timestamp;
    EXPECT_EQ(error->http_status, 422);
    EXPECT_EQ(error->code, "validation_failed");
    EXPECT_EQ(error->field, "timestamp");
    EXPECT_EQ(error->index, -1);
  }
  auto error = ParseSampleBody(
      R"({"service_id":"a","latency_ms":1,"timestamp":"3000-01-01T01:00:00+01:00"})", kClock,
      &sample);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message,
            "timestamp must be at most 3600 s ahead of the server's clock "
            "(ingest.max_future_seconds), got 3000-01-01T00:00:00.000Z at "
            "2026-01-12T10:30:45.123Z");
  // With a limit of 0, nothing after the clock is accepted.
  EXPECT_TRUE(ParseSampleBody(
      R"({"service_id":"a","latency_ms":1,"timestamp":")" + FormatTimestamp(kNow + 1) + R"("})",
      AcceptanceClock{kNow, 0}, &sample));
  EXPECT_FALSE(ParseSampleBody(
      R"({"service_id":"a","latency_ms":1,"timestamp":")" + FormatTimestamp(kNow) + R"("})",
      AcceptanceClock{kNow, 0}, &sample));
}

TEST(ParseSampleBody, NestingIsBoundedAndNeverRecursesDeeply) {
  auto nested = [](int levels) {
    return R"({"service_id":"a","latency_ms":1,"x":)" + std::string(levels, '[') +
           std::string(levels, ']') + "}";
  };
  IncomingSample sample;
  EXPECT_FALSE(ParseSampleBody(nested(60), kClock, &sample));
  // A recursive parser would overflow the stack long before a million levels.
  auto error = ParseSampleBody(nested(1000000), kClock, &sample);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, 400);
  EXPECT_EQ(error->code, "malformed_json");
}

TEST(ParseBatchBody, AcceptsAllItemsInOrder) {
  std::vector<IncomingSample> samples;
  ASSERT_FALSE(ParseBatchBody(R"([{"service_id":"a","latency_ms":1},)"
                              R"({"service_id":"b","latency_ms":2,"payload_kb":3}])",
                              kClock, &samples));
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
      kClock, &samples);
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

TEST(ParseBatchBody, AnItemTimestampedTooFarAheadRefusesTheWholeBatch) {
  std::vector<IncomingSample> samples;
  const std::string good = R"({"service_id":"a","latency_ms":1})";
  auto error = ParseBatchBody("[" + good + "," + good +
                                  R"(,{"service_id":"a","latency_ms":1,"timestamp":")" +
                                  FormatTimestamp(kNow + kHourMs + 1) + R"("},)" + good + "]",
                              kClock, &samples);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, 422);
  EXPECT_EQ(error->index, 2);
  EXPECT_EQ(error->field, "timestamp");
  EXPECT_EQ(error->message.rfind("item 2: timestamp must be at most 3600 s ahead", 0), 0u)
      << error->message;
  EXPECT_TRUE(samples.empty());
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
    auto error = ParseBatchBody(rejection.body, kClock, &samples);
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
                              kClock, &samples);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, 422);
  EXPECT_EQ(error->index, 2);
  EXPECT_EQ(error->field, "latency_ms");

  error = ParseBatchBody(R"([{"service_id":"a","latency_ms":1},1e999])", kClock, &samples);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->index, 1);
  EXPECT_EQ(error->field, "(item)");
}

TEST(ParseBatchBody, AfterAnInvalidItemTheRestIsStillCheckedForSyntax) {
  std::vector<IncomingSample> samples;
  auto error = ParseBatchBody(R"([1,{"service_id":"a","latency_ms":1},{)", kClock, &samples);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, 400);
  EXPECT_EQ(error->code, "malformed_json");

  // A number too large for a double is a syntax error to the parser: it is named where it is.
  error = ParseBatchBody(R"([{"service_id":"a"},{"service_id":"a","latency_ms":1e999}])", kClock,
                         &samples);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->index, 1);
  EXPECT_EQ(error->field, "latency_ms");
  EXPECT_TRUE(samples.empty());
}

TEST(ParseBatchBody, ManyValuesThatAreNotSamplesAreRefusedAtTheFirst) {
  std::string ones = "[1";
  for (int i = 0; i < 500000; ++i) ones += ",1";
  std::vector<IncomingSample> samples;
  auto error = ParseBatchBody(ones + "]", kClock, &samples);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, 422);
  EXPECT_EQ(error->index, 0);
  EXPECT_EQ(error->field, "(item)");
  EXPECT_EQ(error->message, "item 0: the item must be a JSON object");
}

TEST(ParseBatchBody, TheShortestValidItemsFillTheBody) {
  const std::string item = R"({"service_id":"a","latency_ms":0})";
  std::string body = "[" + item;
  for (int i = 1; i < 1000; ++i) body += "," + item;
  std::vector<IncomingSample> samples;
  ASSERT_FALSE(ParseBatchBody(body + "]", kClock, &samples));
  ASSERT_EQ(samples.size(), 1000u);
  EXPECT_EQ(samples[999].service_id, "a");
  EXPECT_TRUE(std::isnan(samples[999].sample.payload_kb));
}

}  // namespace
}  // namespace driftwatch::api
