// POST /v1/traces and POST /v1/metrics: OTLP/HTTP (docs/opentelemetry.md). The body is decoded
// here and its samples go through the same Router::Submit as a batch, as one submission.
#include <rapidjson/document.h>

#include <string>
#include <utility>

#include "api/otlp_decoder.h"
#include "api/router.h"
#include "core/timestamp.h"

namespace driftwatch::api {
namespace {

constexpr int kHttpOk = 200;

// google.rpc.Code for an HTTP status, as OTLP/HTTP pairs them.
int GrpcCode(int http_status) {
  switch (http_status) {
    case 400:
    case 413:
    case 415:
      return 3;  // INVALID_ARGUMENT
    case 401:
      return 16;  // UNAUTHENTICATED
    case 429:
      return 8;  // RESOURCE_EXHAUSTED
    case 503:
      return 14;  // UNAVAILABLE
    default:
      return 13;  // INTERNAL
  }
}

std::string_view ContentTypeOf(OtlpEncoding encoding) {
  return encoding == OtlpEncoding::kProtobuf ? "application/x-protobuf" : "application/json";
}

Reply OtlpError(OtlpEncoding encoding, int status, std::string_view code,
                std::string_view message) {
  Reply reply;
  reply.status = status;
  reply.content_type = ContentTypeOf(encoding);
  reply.body = OtlpStatus(encoding, GrpcCode(status), message, code);
  return reply;
}

// An answer of Router::Submit (the API's JSON error) in OTLP's form; success and deferral as
// they are.
Reply AsOtlp(OtlpEncoding encoding, Reply reply) {
  if (reply.deferred || reply.status == kHttpOk) return reply;
  rapidjson::Document error;
  error.Parse(reply.body.data(), reply.body.size());
  const bool readable = error.IsObject() && error.HasMember("error") && error["error"].IsString() &&
                        error.HasMember("message") && error["message"].IsString();
  Reply otlp = OtlpError(encoding, reply.status, readable ? error["error"].GetString() : "error",
                         readable ? error["message"].GetString() : "");
  otlp.retry_after_seconds = reply.retry_after_seconds;
  return otlp;
}

// The media type without parameters ("application/json; charset=utf-8"), lower-cased.
std::string MediaType(std::string_view content_type) {
  std::string type(content_type.substr(0, content_type.find(';')));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  for (char& c : type) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return type;
}

}  // namespace

Reply Router::PostTraces(const ApiRequest& request, const Params&,
                         const ReplyCallback& later) const {
  return PostOtlp(request, OtlpSignal::kTraces, later);
}

Reply Router::PostOtlpMetrics(const ApiRequest& request, const Params&,
                              const ReplyCallback& later) const {
  return PostOtlp(request, OtlpSignal::kMetrics, later);
}

Reply Router::PostOtlp(const ApiRequest& request, OtlpSignal signal,
                       const ReplyCallback& later) const {
  OtlpEncoding encoding = OtlpEncoding::kJson;
  const std::string type = MediaType(request.content_type);
  if (type == "application/x-protobuf") {
    encoding = OtlpEncoding::kProtobuf;
  } else if (type != "application/json") {
    return OtlpError(OtlpEncoding::kJson, 415, "unsupported_media_type",
                     "Content-Type must be application/x-protobuf or application/json");
  }

  std::string inflated;
  std::string_view body = request.body;
  const std::string encoding_name = MediaType(request.content_encoding);
  if (encoding_name == "gzip") {
    // The request size limit holds for what the body inflates to, too.
    const size_t limit = context_.config->server.max_request_bytes;
    switch (Gunzip(request.body, limit, &inflated)) {
      case InflateResult::kOk:
        body = inflated;
        break;
      case InflateResult::kTooLarge:
        counters_->body_too_large.fetch_add(1, std::memory_order_relaxed);
        return OtlpError(encoding, 413, "payload_too_large",
                         "the body inflates to more than " + std::to_string(limit) +
                             " bytes (server.max_request_bytes)");
      case InflateResult::kMalformed:
        return OtlpError(encoding, 400, "malformed_otlp", "the body is not valid gzip");
    }
  } else if (!encoding_name.empty() && encoding_name != "identity") {
    return OtlpError(encoding, 415, "unsupported_media_type",
                     "Content-Encoding must be gzip or identity");
  }

  OtlpBatch batch;
  std::string error;
  if (!DecodeOtlp(body, signal, encoding, Clock(), cumulative_.get(), &batch, &error)) {
    return OtlpError(encoding, 400, "malformed_otlp", error);
  }
  std::string message;
  if (batch.rejected > 0) {
    message = std::to_string(batch.rejected) +
              (signal == OtlpSignal::kTraces ? " spans" : " data points") +
              " rejected; the first for " + batch.rejected_message + " (see docs/opentelemetry.md)";
  }
  Reply accepted;
  accepted.status = kHttpOk;
  accepted.content_type = ContentTypeOf(encoding);
  accepted.body = OtlpResponse(signal, encoding, batch.rejected, message);
  if (batch.samples.empty()) {  // nothing to submit: nothing to refuse either
    cumulative_->Apply(batch.cumulative);
    return accepted;
  }

  ReplyCallback otlp_later;
  if (later)
    otlp_later = [later, encoding](Reply reply) { later(AsOtlp(encoding, std::move(reply))); };
  Reply reply = AsOtlp(encoding, Submit(std::move(batch.samples), std::move(accepted), otlp_later));
  // Running totals advance only with what was accepted, so a retried export counts once.
  if (reply.deferred || reply.status == kHttpOk) cumulative_->Apply(batch.cumulative);
  return reply;
}

}  // namespace driftwatch::api
