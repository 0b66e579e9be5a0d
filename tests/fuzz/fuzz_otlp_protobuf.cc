// libFuzzer target: OTLP/HTTP protobuf bodies (api/otlp_decoder), as POST /v1/traces and
// /v1/metrics decode them, plain and through Gunzip: truncated messages, wrong wire types, absurd
// lengths, invalid UTF-8. Checks fuzz_otlp_common.h's promises, and that inflating never passes
// its limit.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_otlp_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  driftwatch::fuzz::DecodeAndCheck(body, driftwatch::api::OtlpEncoding::kProtobuf);

  constexpr size_t kLimit = 64 * 1024;
  std::string inflated;
  const driftwatch::api::InflateResult result = driftwatch::api::Gunzip(body, kLimit, &inflated);
  driftwatch::fuzz::Require(inflated.size() <= kLimit);
  driftwatch::fuzz::Require(result == driftwatch::api::InflateResult::kOk || inflated.empty());
  if (result == driftwatch::api::InflateResult::kOk) {
    driftwatch::fuzz::DecodeAndCheck(inflated, driftwatch::api::OtlpEncoding::kProtobuf);
  }
  return 0;
}
