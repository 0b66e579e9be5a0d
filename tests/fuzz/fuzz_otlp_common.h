// What both OTLP fuzz targets check of a decoded request (docs/opentelemetry.md): every sample is
// one the API could have accepted (docs/behaviour.md, Samples and timestamps), a refusal says why,
// and the answers decode in their own encoding.
#pragma once

#include <rapidjson/document.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/otlp_decoder.h"
#include "api/sample_parser.h"

namespace driftwatch::fuzz {

// 2026-01-12T00:00:00.000Z; timestamps up to an hour later are accepted (the default).
constexpr api::AcceptanceClock kClock{1768176000000, 3600 * 1000};

inline void Require(bool condition) {
  if (!condition) std::abort();  // libFuzzer reports the input that broke a promise
}

inline void RequireJsonObject(const std::string& json) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  Require(!document.HasParseError() && document.IsObject());
}

inline void DecodeAndCheck(std::string_view body, api::OtlpEncoding encoding) {
  for (const api::OtlpSignal signal : {api::OtlpSignal::kTraces, api::OtlpSignal::kMetrics}) {
    api::CumulativeTotals totals;
    api::OtlpBatch batch;
    std::string error;
    if (!api::DecodeOtlp(body, signal, encoding, kClock, &totals, &batch, &error)) {
      Require(!error.empty() && batch.samples.empty());
      RequireJsonObject(api::OtlpStatus(api::OtlpEncoding::kJson, 3, error, "malformed_otlp"));
      continue;
    }
    Require((batch.rejected == 0) == batch.rejected_message.empty());
    for (const IncomingSample& sample : batch.samples) {
      Require(api::IsValidServiceId(sample.service_id));
      Require(std::isfinite(sample.sample.latency_ms) && sample.sample.latency_ms >= 0);
      Require(sample.sample.timestamp_ms >= 0 &&
              sample.sample.timestamp_ms <= kClock.now_ms + kClock.max_future_ms);
      Require(std::isnan(sample.sample.payload_kb) ||
              (std::isfinite(sample.sample.payload_kb) && sample.sample.payload_kb >= 0));
    }
    totals.Apply(batch.cumulative);
    RequireJsonObject(api::OtlpResponse(signal, api::OtlpEncoding::kJson, batch.rejected,
                                        batch.rejected_message));
  }
}

}  // namespace driftwatch::fuzz
