// OTLP decoding and mapping (docs/opentelemetry.md), without HTTP: protobuf built with the
// generated messages, JSON written by hand as the OTLP JSON mapping has it.
#include "api/otlp_decoder.h"

#include <gtest/gtest.h>
#include <otlp.pb.h>
#include <zlib.h>

#include <cmath>
#include <string>

namespace driftwatch::api {
namespace {

namespace pb = driftwatch::otlp;

constexpr int64_t kNow = 1768213845123;  // 2026-01-12T10:30:45.123Z
constexpr AcceptanceClock kClock{kNow, 3600 * 1000};
constexpr uint64_t kStartNs = 1768213800000000000;  // 45.123 s before kNow

void SetString(pb::Resource* resource, const std::string& key, const std::string& value) {
  pb::KeyValue* attribute = resource->add_attributes();
  attribute->set_key(key);
  attribute->mutable_value()->set_string_value(value);
}

pb::Span* AddSpan(pb::ExportTraceServiceRequest* request, const std::string& service,
                  uint64_t start_ns, uint64_t duration_ns, int kind = pb::Span::SPAN_KIND_SERVER) {
  pb::ResourceSpans* resource_spans = request->add_resource_spans();
  SetString(resource_spans->mutable_resource(), "service.name", service);
  pb::Span* span = resource_spans->add_scope_spans()->add_spans();
  span->set_kind(static_cast<pb::Span_SpanKind>(kind));
  span->set_start_time_unix_nano(start_ns);
  span->set_end_time_unix_nano(start_ns + duration_ns);
  return span;
}

OtlpBatch Decode(const std::string& body, OtlpSignal signal, OtlpEncoding encoding,
                 const CumulativeTotals* totals = nullptr) {
  OtlpBatch batch;
  std::string error;
  EXPECT_TRUE(DecodeOtlp(body, signal, encoding, kClock, totals, &batch, &error)) << error;
  return batch;
}

std::string DecodeError(const std::string& body, OtlpSignal signal, OtlpEncoding encoding) {
  OtlpBatch batch;
  std::string error;
  EXPECT_FALSE(DecodeOtlp(body, signal, encoding, kClock, nullptr, &batch, &error));
  EXPECT_TRUE(batch.samples.empty());
  return error;
}

TEST(OtlpTraces, ServerSpansBecomeSamplesAndOtherKindsAreIgnored) {
  pb::ExportTraceServiceRequest request;
  pb::Span* span = AddSpan(&request, "checkout", kStartNs, 156'700'000);
  pb::KeyValue* size = span->add_attributes();
  size->set_key("http.response.body.size");
  size->mutable_value()->set_int_value(2048);
  AddSpan(&request, "checkout", kStartNs, 5'000'000, pb::Span::SPAN_KIND_CLIENT);
  AddSpan(&request, "checkout", kStartNs, 5'000'000, pb::Span::SPAN_KIND_INTERNAL);

  const OtlpBatch batch =
      Decode(request.SerializeAsString(), OtlpSignal::kTraces, OtlpEncoding::kProtobuf);
  ASSERT_EQ(batch.samples.size(), 1u);
  EXPECT_EQ(batch.rejected, 0u);
  EXPECT_EQ(batch.samples[0].service_id, "checkout");
  EXPECT_DOUBLE_EQ(batch.samples[0].sample.latency_ms, 156.7);
  EXPECT_EQ(batch.samples[0].sample.timestamp_ms, 1768213800156);  // the end, in ms
  EXPECT_DOUBLE_EQ(batch.samples[0].sample.payload_kb, 2.0);
}

TEST(OtlpTraces, TheOlderContentLengthAttributeGivesThePayloadToo) {
  pb::ExportTraceServiceRequest request;
  pb::KeyValue* size = AddSpan(&request, "a", kStartNs, 1'000'000)->add_attributes();
  size->set_key("http.response_content_length");
  size->mutable_value()->set_int_value(512);
  AddSpan(&request, "a", kStartNs, 1'000'000);
  const OtlpBatch batch =
      Decode(request.SerializeAsString(), OtlpSignal::kTraces, OtlpEncoding::kProtobuf);
  ASSERT_EQ(batch.samples.size(), 2u);
  EXPECT_DOUBLE_EQ(batch.samples[0].sample.payload_kb, 0.5);
  EXPECT_TRUE(std::isnan(batch.samples[1].sample.payload_kb));
}

TEST(OtlpTraces, ServiceNamesAreMappedToValidIds) {
  pb::ExportTraceServiceRequest request;
  AddSpan(&request, "my service/été", kStartNs, 1'000'000);
  AddSpan(&request, std::string(200, 'x'), kStartNs, 1'000'000);
  const OtlpBatch batch =
      Decode(request.SerializeAsString(), OtlpSignal::kTraces, OtlpEncoding::kProtobuf);
  ASSERT_EQ(batch.samples.size(), 2u);
  EXPECT_EQ(batch.samples[0].service_id, "my_service__t_");  // one '_' per character
  EXPECT_EQ(batch.samples[1].service_id, std::string(128, 'x'));
}

TEST(OtlpTraces, BadSpansAreRejectedOneByOneWithTheFirstReason) {
  pb::ExportTraceServiceRequest request;
  AddSpan(&request, "", kStartNs, 1'000'000);                  // empty service.name
  AddSpan(&request, "ok", 0, 1'000'000);                       // start of 0
  pb::Span* backwards = AddSpan(&request, "ok", kStartNs, 0);  // ends before it starts
  backwards->set_end_time_unix_nano(kStartNs - 1);
  AddSpan(&request, "ok", kStartNs + 7'200'000'000'000, 1);  // two hours ahead
  request.add_resource_spans()->add_scope_spans()->add_spans()->set_kind(
      pb::Span::SPAN_KIND_SERVER);               // no resource at all
  AddSpan(&request, "ok", kStartNs, 2'000'000);  // the one good span

  const OtlpBatch batch =
      Decode(request.SerializeAsString(), OtlpSignal::kTraces, OtlpEncoding::kProtobuf);
  ASSERT_EQ(batch.samples.size(), 1u);
  EXPECT_DOUBLE_EQ(batch.samples[0].sample.latency_ms, 2.0);
  EXPECT_EQ(batch.rejected, 5u);
  EXPECT_EQ(batch.rejected_message, "service.name is empty");
}

TEST(OtlpTraces, MalformedProtobufIsAnError) {
  pb::ExportTraceServiceRequest request;
  AddSpan(&request, "a", kStartNs, 1'000'000);
  const std::string good = request.SerializeAsString();
  EXPECT_FALSE(DecodeError(good.substr(0, good.size() - 3), OtlpSignal::kTraces,
                           OtlpEncoding::kProtobuf)
                   .empty());  // truncated
  EXPECT_FALSE(DecodeError(std::string("\x0f\x01", 2), OtlpSignal::kTraces,
                           OtlpEncoding::kProtobuf)
                   .empty());  // wire type 7 does not exist
  EXPECT_FALSE(DecodeError(std::string("\x0d\x01", 2), OtlpSignal::kTraces,
                           OtlpEncoding::kProtobuf)
                   .empty());  // a fixed32 cut short
  EXPECT_FALSE(DecodeError(std::string("\x0a\xff\xff\xff\xff\x0f", 6), OtlpSignal::kTraces,
                           OtlpEncoding::kProtobuf)
                   .empty());  // an absurd length
}

TEST(OtlpTraces, UnknownFieldsAreSkipped) {
  pb::ExportTraceServiceRequest request;
  AddSpan(&request, "a", kStartNs, 1'000'000);
  // Field 99 (varint) at the top, and field 15 (a nested status message) inside nothing known.
  const std::string body = request.SerializeAsString() + std::string("\x98\x06\x01", 3);
  EXPECT_EQ(Decode(body, OtlpSignal::kTraces, OtlpEncoding::kProtobuf).samples.size(), 1u);
  // A known field with another wire type is an unknown field to protobuf: skipped too.
  EXPECT_TRUE(Decode(std::string("\x08\x01", 2), OtlpSignal::kTraces, OtlpEncoding::kProtobuf)
                  .samples.empty());
}

TEST(OtlpTraces, InvalidUtf8InAnAttributeIsAnError) {
  pb::ExportTraceServiceRequest request;
  pb::KeyValue* attribute = AddSpan(&request, "a", kStartNs, 1'000'000)->add_attributes();
  attribute->set_key("http.route");
  attribute->mutable_value()->set_string_value("\xc3\x28");
  EXPECT_EQ(DecodeError(request.SerializeAsString(), OtlpSignal::kTraces, OtlpEncoding::kProtobuf),
            "an attribute is not valid UTF-8");
}

TEST(OtlpTraces, JsonMappingWithIntegersAsStringsOrNumbers) {
  const std::string body = R"({"resourceSpans":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"checkout"}}]},
    "scopeSpans":[{"scope":{"name":"x"},"spans":[
      {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","kind":2,
       "startTimeUnixNano":"1768213800000000000","endTimeUnixNano":"1768213800250000000",
       "attributes":[{"key":"http.response.body.size","value":{"intValue":"1024"}}]},
      {"kind":2,"startTimeUnixNano":1768213800000000000,"endTimeUnixNano":1768213800100000000},
      {"kind":3,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]})";
  const OtlpBatch batch = Decode(body, OtlpSignal::kTraces, OtlpEncoding::kJson);
  ASSERT_EQ(batch.samples.size(), 2u);
  EXPECT_EQ(batch.samples[0].service_id, "checkout");
  EXPECT_DOUBLE_EQ(batch.samples[0].sample.latency_ms, 250.0);
  EXPECT_DOUBLE_EQ(batch.samples[0].sample.payload_kb, 1.0);
  EXPECT_DOUBLE_EQ(batch.samples[1].sample.latency_ms, 100.0);
}

TEST(OtlpTraces, JsonEnumsMayBeNames) {
  const std::string body = R"({"resourceSpans":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"a"}}]},"scopeSpans":[{"spans":[
      {"kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1768213800000000000",
       "endTimeUnixNano":"1768213800001000000"},
      {"kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"1768213800000000000",
       "endTimeUnixNano":"1768213800001000000"}]}]}]})";
  EXPECT_EQ(Decode(body, OtlpSignal::kTraces, OtlpEncoding::kJson).samples.size(), 1u);
}

TEST(OtlpTraces, BadJsonIsAnError) {
  EXPECT_EQ(DecodeError("{", OtlpSignal::kTraces, OtlpEncoding::kJson),
            "the body is not valid JSON");
  EXPECT_EQ(DecodeError("[]", OtlpSignal::kTraces, OtlpEncoding::kJson),
            "the body is not a JSON object");
  EXPECT_EQ(DecodeError(R"({"resourceSpans":{}})", OtlpSignal::kTraces, OtlpEncoding::kJson),
            "resourceSpans is not an array");
  EXPECT_EQ(DecodeError(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":2,
      "startTimeUnixNano":"-5"}]}]}]})",
                        OtlpSignal::kTraces, OtlpEncoding::kJson),
            "startTimeUnixNano is not an unsigned 64-bit integer");
  EXPECT_EQ(
      DecodeError("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"\xc3\x28\"}]}}]}",
                  OtlpSignal::kTraces, OtlpEncoding::kJson),
      "the body is not valid JSON");  // invalid UTF-8
}

TEST(OtlpTraces, AnEmptyRequestIsFine) {
  EXPECT_TRUE(Decode("", OtlpSignal::kTraces, OtlpEncoding::kProtobuf).samples.empty());
  EXPECT_TRUE(Decode("{}", OtlpSignal::kTraces, OtlpEncoding::kJson).samples.empty());
}

pb::HistogramDataPoint* AddPoint(pb::ExportMetricsServiceRequest* request,
                                 const std::string& service, const std::string& name,
                                 int temporality) {
  pb::ResourceMetrics* resource_metrics = request->add_resource_metrics();
  SetString(resource_metrics->mutable_resource(), "service.name", service);
  pb::Metric* metric = resource_metrics->add_scope_metrics()->add_metrics();
  metric->set_name(name);
  metric->mutable_histogram()->set_aggregation_temporality(temporality);
  pb::HistogramDataPoint* point = metric->mutable_histogram()->add_data_points();
  point->set_start_time_unix_nano(kStartNs);
  point->set_time_unix_nano(kStartNs + 10'000'000'000);
  return point;
}

// http.route becomes the sample's endpoint: printable ASCII kept, the rest made '_', cut at 256
// characters; none (or an empty one) gives no endpoint.
TEST(OtlpTraces, TheRouteIsTheEndpoint) {
  pb::ExportTraceServiceRequest request;
  auto route = [](pb::Span* span, const std::string& value) {
    pb::KeyValue* attribute = span->add_attributes();
    attribute->set_key("http.route");
    attribute->mutable_value()->set_string_value(value);
  };
  route(AddSpan(&request, "a", kStartNs, 1'000'000), "GET /api/orders/{id}");
  route(AddSpan(&request, "a", kStartNs, 1'000'000), "/caf\u00e9\t" + std::string(300, 'x'));
  route(AddSpan(&request, "a", kStartNs, 1'000'000), "");
  AddSpan(&request, "a", kStartNs, 1'000'000);
  const OtlpBatch batch =
      Decode(request.SerializeAsString(), OtlpSignal::kTraces, OtlpEncoding::kProtobuf);
  ASSERT_EQ(batch.samples.size(), 4u);
  EXPECT_EQ(batch.samples[0].endpoint, "GET /api/orders/{id}");
  EXPECT_EQ(batch.samples[1].endpoint, "/caf__" + std::string(250, 'x'));
  EXPECT_EQ(batch.samples[2].endpoint, "");
  EXPECT_EQ(batch.samples[3].endpoint, "");

  pb::ExportMetricsServiceRequest metrics;
  pb::HistogramDataPoint* point = AddPoint(&metrics, "a", "http.server.request.duration", 1);
  point->set_count(1);
  point->set_sum(0.1);
  pb::KeyValue* attribute = point->add_attributes();
  attribute->set_key("http.route");
  attribute->mutable_value()->set_string_value("POST /pay");
  const OtlpBatch points =
      Decode(metrics.SerializeAsString(), OtlpSignal::kMetrics, OtlpEncoding::kProtobuf);
  ASSERT_EQ(points.samples.size(), 1u);
  EXPECT_EQ(points.samples[0].endpoint, "POST /pay");
}

TEST(OtlpMetrics, HistogramMeansBecomeSamplesInMilliseconds) {
  pb::ExportMetricsServiceRequest request;
  pb::HistogramDataPoint* seconds = AddPoint(&request, "a", "http.server.request.duration", 1);
  seconds->set_count(4);
  seconds->set_sum(0.6);  // 0.15 s each
  pb::HistogramDataPoint* millis = AddPoint(&request, "b", "http.server.duration", 1);
  millis->set_count(2);
  millis->set_sum(300);
  AddPoint(&request, "c", "http.server.request.duration", 1)->set_sum(0);  // count 0: nothing
  pb::HistogramDataPoint* other = AddPoint(&request, "d", "db.client.duration", 1);
  other->set_count(1);
  other->set_sum(1);
  AddPoint(&request, "e", "http.server.duration", 1)->set_count(3);  // no sum: rejected

  const OtlpBatch batch =
      Decode(request.SerializeAsString(), OtlpSignal::kMetrics, OtlpEncoding::kProtobuf);
  ASSERT_EQ(batch.samples.size(), 2u);
  EXPECT_EQ(batch.samples[0].service_id, "a");
  EXPECT_NEAR(batch.samples[0].sample.latency_ms, 150.0, 1e-9);
  EXPECT_EQ(batch.samples[0].sample.timestamp_ms, 1768213810000);
  EXPECT_EQ(batch.samples[1].service_id, "b");
  EXPECT_DOUBLE_EQ(batch.samples[1].sample.latency_ms, 150.0);
  EXPECT_EQ(batch.rejected, 1u);
}

// A finite sum can still give an infinite mean in milliseconds (found by fuzzing): rejected, never
// an infinite latency.
TEST(OtlpMetrics, AMeanBeyondADoubleIsRejected) {
  pb::ExportMetricsServiceRequest request;
  pb::HistogramDataPoint* point = AddPoint(&request, "a", "http.server.request.duration", 1);
  point->set_count(4);
  point->set_sum(1e308);  // seconds: 2.5e310 ms
  const OtlpBatch batch =
      Decode(request.SerializeAsString(), OtlpSignal::kMetrics, OtlpEncoding::kProtobuf);
  EXPECT_TRUE(batch.samples.empty());
  EXPECT_EQ(batch.rejected, 1u);
  EXPECT_NE(batch.rejected_message.find("finite"), std::string::npos) << batch.rejected_message;
}

TEST(OtlpMetrics, CumulativePointsCountWhatTheyAddedSinceTheLastAcceptedOne) {
  CumulativeTotals totals;
  auto export_once = [&](uint64_t count, double sum) {
    pb::ExportMetricsServiceRequest request;
    pb::HistogramDataPoint* point = AddPoint(&request, "a", "http.server.request.duration", 2);
    point->set_count(count);
    point->set_sum(sum);
    OtlpBatch batch =
        Decode(request.SerializeAsString(), OtlpSignal::kMetrics, OtlpEncoding::kProtobuf, &totals);
    totals.Apply(batch.cumulative);
    return batch;
  };
  OtlpBatch first = export_once(10, 1.0);  // 100 ms each
  ASSERT_EQ(first.samples.size(), 1u);
  EXPECT_NEAR(first.samples[0].sample.latency_ms, 100.0, 1e-9);
  OtlpBatch second = export_once(20, 6.0);  // ten more, 500 ms each
  ASSERT_EQ(second.samples.size(), 1u);
  EXPECT_NEAR(second.samples[0].sample.latency_ms, 500.0, 1e-9);
  EXPECT_TRUE(export_once(20, 6.0).samples.empty());  // nothing new
  OtlpBatch restarted = export_once(2, 0.4);          // the count went down: the exporter restarted
  ASSERT_EQ(restarted.samples.size(), 1u);
  EXPECT_NEAR(restarted.samples[0].sample.latency_ms, 200.0, 1e-9);
}

TEST(OtlpMetrics, JsonHistogram) {
  const std::string body = R"({"resourceMetrics":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"api"}}]},
    "scopeMetrics":[{"metrics":[{"name":"http.server.request.duration","unit":"s",
      "histogram":{"aggregationTemporality":1,"dataPoints":[{"startTimeUnixNano":"1768213800000000000",
        "timeUnixNano":1768213810000000000,"count":"3","sum":0.9,"bucketCounts":["0","3"],
        "explicitBounds":[0.1],"attributes":[{"key":"http.route","value":{"stringValue":"/x"}}]}]}}]}]}]})";
  const OtlpBatch batch = Decode(body, OtlpSignal::kMetrics, OtlpEncoding::kJson);
  ASSERT_EQ(batch.samples.size(), 1u);
  EXPECT_NEAR(batch.samples[0].sample.latency_ms, 300.0, 1e-9);
}

TEST(OtlpAnswers, PartialSuccessInBothEncodings) {
  EXPECT_EQ(OtlpResponse(OtlpSignal::kTraces, OtlpEncoding::kJson, 0, ""), "{}");
  EXPECT_EQ(OtlpResponse(OtlpSignal::kTraces, OtlpEncoding::kJson, 2, "why"),
            R"({"partialSuccess":{"rejectedSpans":"2","errorMessage":"why"}})");
  EXPECT_EQ(OtlpResponse(OtlpSignal::kMetrics, OtlpEncoding::kJson, 1, "why"),
            R"({"partialSuccess":{"rejectedDataPoints":"1","errorMessage":"why"}})");
  EXPECT_EQ(OtlpResponse(OtlpSignal::kTraces, OtlpEncoding::kProtobuf, 0, ""), "");
  pb::ExportMetricsServiceResponse response;
  ASSERT_TRUE(response.ParseFromString(
      OtlpResponse(OtlpSignal::kMetrics, OtlpEncoding::kProtobuf, 3, "why")));
  EXPECT_EQ(response.partial_success().rejected_data_points(), 3);
  EXPECT_EQ(response.partial_success().error_message(), "why");
}

std::string Gzip(const std::string& data) {
  z_stream stream{};
  EXPECT_EQ(
      deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
      Z_OK);
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

TEST(Gunzip, InflatesWithinTheLimitAndRefusesBeyondIt) {
  const std::string data(100000, 'a');
  const std::string compressed = Gzip(data);
  std::string out;
  EXPECT_EQ(Gunzip(compressed, data.size(), &out), InflateResult::kOk);
  EXPECT_EQ(out, data);
  EXPECT_EQ(Gunzip(compressed + compressed, 2 * data.size(), &out), InflateResult::kOk);
  EXPECT_EQ(out.size(), 2 * data.size());  // two members
  EXPECT_EQ(Gunzip(compressed, data.size() - 1, &out), InflateResult::kTooLarge);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(Gunzip(compressed.substr(0, compressed.size() / 2), data.size(), &out),
            InflateResult::kMalformed);
  EXPECT_EQ(Gunzip("not gzip", data.size(), &out), InflateResult::kMalformed);
}

}  // namespace
}  // namespace driftwatch::api
