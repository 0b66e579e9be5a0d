// libFuzzer target: request bodies, as POST /v1/telemetry and /v1/telemetry/batch parse and
// validate them (api/sample_parser, api/response_json), and the error answers written from what
// they refuse. Beyond "no crash, leak or undefined behaviour" it checks what the API promises: a
// sample that passes is valid (docs/behaviour.md, Samples and timestamps: the fields' rules and the
// limit on timestamps ahead of the clock), a refusal is a 400 or a 422, and every answer is valid
// UTF-8 JSON.
#include <rapidjson/document.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/response_json.h"
#include "api/sample_parser.h"

namespace {

using driftwatch::IncomingSample;
using driftwatch::api::ApiError;

// 2026-01-12T00:00:00.000Z; timestamps up to an hour later are accepted (the default).
constexpr driftwatch::api::AcceptanceClock kClock{1768176000000, 3600 * 1000};

void Require(bool condition) {
  if (!condition) std::abort();  // libFuzzer reports the input that broke a promise
}

void RequireJsonObject(const std::string& json) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  Require(!document.HasParseError() && document.IsObject());
}

void CheckSample(const IncomingSample& sample) {
  Require(driftwatch::api::IsValidServiceId(sample.service_id));
  Require(std::isfinite(sample.sample.latency_ms) && sample.sample.latency_ms >= 0);
  Require(sample.sample.timestamp_ms <= kClock.now_ms + kClock.max_future_ms);
  Require(std::isnan(sample.sample.payload_kb) ||
          (std::isfinite(sample.sample.payload_kb) && sample.sample.payload_kb >= 0));
  RequireJsonObject(driftwatch::api::AcceptedJson(sample));
}

void CheckError(const ApiError& error, bool batch, size_t items_at_most) {
  Require(error.http_status == 400 || error.http_status == 422);
  Require(error.code == (error.http_status == 400 ? "malformed_json" : "validation_failed"));
  Require(error.http_status == 400 || !error.field.empty());
  Require(error.index == -1 || (batch && static_cast<size_t>(error.index) < items_at_most));
  RequireJsonObject(driftwatch::api::ErrorJson(error));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  IncomingSample sample;
  if (auto error = driftwatch::api::ParseSampleBody(body, kClock, &sample)) {
    CheckError(*error, false, 0);
  } else {
    CheckSample(sample);
  }

  std::vector<IncomingSample> samples;
  if (auto error = driftwatch::api::ParseBatchBody(body, kClock, &samples)) {
    Require(samples.empty());  // all or nothing
    CheckError(*error, true, size);
  } else {
    Require(!samples.empty());
    for (const IncomingSample& item : samples) CheckSample(item);
    RequireJsonObject(driftwatch::api::BatchAcceptedJson(samples.size()));
  }
  return 0;
}
