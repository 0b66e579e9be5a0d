// OTLP/HTTP ingest without the HTTP: decoding ExportTraceServiceRequest and
// ExportMetricsServiceRequest bodies (protobuf or the OTLP JSON mapping, gzip-compressed or not)
// and mapping their SERVER spans and request-duration histograms to samples, with the rules of
// docs/opentelemetry.md. The answers' bodies are written here too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/sample_parser.h"
#include "core/sample.h"

namespace driftwatch::api {

enum class OtlpSignal { kTraces, kMetrics };
enum class OtlpEncoding { kProtobuf, kJson };

// A cumulative histogram point as seen in a request: its series, and its running totals.
struct CumulativePoint {
  std::string series;  // service, metric name and attributes
  uint64_t start_ns = 0;
  uint64_t count = 0;
  double sum = 0;
};

// The running totals of cumulative histograms, per series, so that a cumulative point becomes the
// mean of what it added since the series' previous point (docs/opentelemetry.md, Metrics).
// Thread-safe. Holds at most kMaxSeries series; a point of a series beyond that counts whole.
class CumulativeTotals {
 public:
  static constexpr size_t kMaxSeries = 100000;

  // What `point` added since the last point applied for its series: all of it when there is none,
  // or when the series restarted (another start time, or a count that went down).
  void Increment(const CumulativePoint& point, uint64_t* count, double* sum) const;
  // Remembers the points of an accepted request.
  void Apply(const std::vector<CumulativePoint>& points);

 private:
  struct Totals {
    uint64_t start_ns = 0;
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Totals> series_;
};

// What a request gave: the samples to submit (in the request's order), and what was refused.
struct OtlpBatch {
  std::vector<IncomingSample> samples;
  uint64_t rejected = 0;  // spans or data points refused, for partial_success
  std::string rejected_message;
  std::vector<CumulativePoint> cumulative;  // to CumulativeTotals::Apply once accepted
};

// Decodes a whole (already decompressed) body. False, with *error, when it does not decode: not
// protobuf or JSON, wrong types, truncated, invalid UTF-8 in a string it reads (400). `totals` may
// be null for traces.
bool DecodeOtlp(std::string_view body, OtlpSignal signal, OtlpEncoding encoding,
                const AcceptanceClock& clock, const CumulativeTotals* totals, OtlpBatch* out,
                std::string* error);

// The Export*ServiceResponse, in the request's encoding: empty (all accepted), or with
// partial_success saying how many were rejected and why.
std::string OtlpResponse(OtlpSignal signal, OtlpEncoding encoding, uint64_t rejected,
                         std::string_view message);

// An error answer's body: a google.rpc.Status, in the request's encoding. The JSON form also
// carries the API's own error code (`error`), as every other error of the API does.
std::string OtlpStatus(OtlpEncoding encoding, int grpc_code, std::string_view message,
                       std::string_view api_code);

enum class InflateResult { kOk, kTooLarge, kMalformed };
// Decompresses a gzip body (one or more members) into *out, stopping as soon as it would exceed
// `limit` bytes: a small bomb never inflates past the limit.
InflateResult Gunzip(std::string_view compressed, size_t limit, std::string* out);

}  // namespace driftwatch::api
