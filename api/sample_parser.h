// Reading and validating the samples a client sends (docs/api.md, "Samples"), with RapidJSON's
// event reader: a body is read value by value and each sample checked as it ends. No HTTP here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "api/api_error.h"
#include "core/engine.h"

namespace driftwatch::api {

// The longest service id, and the characters it may use (docs/behaviour.md, Samples and
// timestamps).
constexpr size_t kMaxServiceIdLength = 128;
bool IsValidServiceId(std::string_view service_id);

// An endpoint: 1-256 printable ASCII characters (docs/behaviour.md, "Endpoint series").
constexpr size_t kMaxEndpointLength = 256;
bool IsValidEndpoint(std::string_view endpoint);

// The server's clock as a request's samples are accepted: a sample without a timestamp gets
// `now_ms`, and one timestamped after now_ms + max_future_ms (ingest.max_future_seconds) is
// refused.
struct AcceptanceClock {
  int64_t now_ms = 0;
  int64_t max_future_ms = 0;
};

// POST /v1/telemetry: one JSON object.
// Returns the error to answer with, or nothing when *out holds the sample.
std::optional<ApiError> ParseSampleBody(std::string_view body, const AcceptanceClock& clock,
                                        IncomingSample* out);

// POST /v1/telemetry/batch: a non-empty JSON array of samples, all valid or none taken. Items are
// validated as they are read, so memory follows the samples the body holds, not its JSON values.
std::optional<ApiError> ParseBatchBody(std::string_view body, const AcceptanceClock& clock,
                                       std::vector<IncomingSample>* out);

}  // namespace driftwatch::api
