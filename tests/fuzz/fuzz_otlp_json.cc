// libFuzzer target: OTLP/HTTP JSON bodies (api/otlp_decoder), as POST /v1/traces and /v1/metrics
// decode them: wrong types, 64-bit integers as strings and numbers, invalid UTF-8, deep nesting.
// Checks fuzz_otlp_common.h's promises.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_otlp_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  driftwatch::fuzz::DecodeAndCheck(std::string_view(reinterpret_cast<const char*>(data), size),
                                   driftwatch::api::OtlpEncoding::kJson);
  return 0;
}
