// The parts of DriftWatch's REST API (docs/api.md) the simulator uses, for one service.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "http_client/http_client.h"

namespace driftwatch::sim {

struct Telemetry {
  double latency_ms = 0;
  double payload_kb = 0;
  int64_t timestamp_ms = 0;  // epoch milliseconds, sent as RFC 3339
};

// GET /v1/health/{id}.
struct Health {
  bool known = false;  // false: the service has never been seen (404)
  std::string state;   // INSUFFICIENT_DATA, STABLE or DRIFT_DETECTED; "" when unknown
  int64_t sample_count = 0;
  std::string transition_timestamp;
  std::string metadata_json = "{}";  // the last transition's metadata, as JSON text
};

// One entry of GET /v1/events/{id}.
struct DriftEvent {
  std::string from_state;
  std::string to_state;
  std::string reason;
  std::string timestamp;
  std::optional<int64_t> sample_seq;  // the service's 1-based number of the causing sample
  std::string metadata_json = "{}";
};

// Waits; tests pass one that records instead of sleeping.
using Sleeper = std::function<void(std::chrono::milliseconds)>;
void RealSleep(std::chrono::milliseconds duration);

class DriftWatchApi {
 public:
  // `http` must outlive this object.
  DriftWatchApi(http::HttpClient* http, std::string service_id, Sleeper sleeper = RealSleep);

  // Posts the samples, in order: one POST /v1/telemetry for a single sample, else one
  // all-or-nothing POST /v1/telemetry/batch. On 503 (the server's queue is full) it waits as long
  // as Retry-After says and sends the same samples again (a batch in two halves, so that a batch
  // larger than the server's queue gets through too), so none is lost; it gives up after
  // kMaxOverloadRetries answers of 503 in a row for the same samples. Any other answer than 202
  // is an error.
  Status Send(std::span<const Telemetry> samples);

  Status GetHealth(Health* health);
  // The service's events, newest first, at most `limit`; none for an unknown service.
  Status GetEvents(int limit, std::vector<DriftEvent>* events);

  // Samples sent again after a 503, and the number of 503 answers.
  int64_t resent_samples() const { return resent_samples_; }
  int64_t overload_answers() const { return overload_answers_; }

  static constexpr int kMaxOverloadRetries = 120;
  static constexpr std::chrono::seconds kDefaultRetryAfter{1};
  static constexpr std::chrono::seconds kMaxRetryAfter{60};

 private:
  http::HttpClient* http_;
  std::string service_id_;
  Sleeper sleeper_;
  int64_t resent_samples_ = 0;
  int64_t overload_answers_ = 0;
};

// The body of a telemetry POST: one object, or an array when `as_array`.
std::string TelemetryJson(const std::string& service_id, std::span<const Telemetry> samples,
                          bool as_array);

// How long a 503's Retry-After asks to wait (delta-seconds; a missing or unreadable value, e.g.
// an HTTP date, means kDefaultRetryAfter), at most kMaxRetryAfter.
std::chrono::milliseconds RetryAfter(const http::HttpResponse& response);

}  // namespace driftwatch::sim
