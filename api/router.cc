#include "api/router.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "api/http_framing.h"
#include "api/metrics_text.h"
#include "api/ui_files.h"
#include "core/series_key.h"
#include "core/timestamp.h"

namespace driftwatch::api {
namespace {

constexpr int kHttpOk = 200;
constexpr int kHttpFound = 302;
constexpr int kHttpAccepted = 202;
constexpr int kHttpUnauthorized = 401;
constexpr int kHttpNotFound = 404;
constexpr int kHttpMethodNotAllowed = 405;
constexpr int kHttpUnprocessable = 422;
constexpr int kHttpTooManyRequests = 429;
constexpr int kHttpInternalError = 500;
constexpr int kHttpNotImplemented = 501;
constexpr int kHttpUnavailable = 503;

constexpr uint32_t kRetryAfterSeconds = 1;  // overload and storage trouble are usually brief
constexpr uint32_t kDefaultEventLimit = 100;
constexpr uint32_t kMaxEventLimit = 1000;
constexpr uint32_t kMaxTelemetryLimit = 10000;  // samples per GET /v1/telemetry answer

Reply Json(int status, std::string body) {
  Reply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}

Reply Unavailable(std::string code, std::string message) {
  Reply reply = Router::Error(MakeError(kHttpUnavailable, std::move(code), std::move(message)));
  reply.retry_after_seconds = kRetryAfterSeconds;
  return reply;
}

// `service_id` as the path gave it: not a series key, even when it holds a '#' (no valid id does).
Reply UnknownService(const std::string& service_id) {
  std::string message = "no service '";  // appended: GCC 12's -O3 -Wrestrict false positive
  message += service_id;
  message += "': it has sent no telemetry";
  return Router::Error(MakeError(kHttpNotFound, "not_found", std::move(message)));
}

// A series' key that names no series: the service, or one of its endpoints.
Reply UnknownSeries(const std::string& key, const Config& config) {
  if (!IsEndpointSeriesKey(key)) return UnknownService(key);
  std::string message = "no ";
  message += SeriesTitle(key) + ": ";
  message += config.series.per_endpoint ? "the service has sent no telemetry for that endpoint"
                                        : "endpoint series are off (series.per_endpoint: false)";
  return Router::Error(MakeError(kHttpNotFound, "not_found", std::move(message)));
}

// Compares in time that depends only on the length of what the client sent, never on the
// secret's content or length, so a token cannot be guessed byte by byte. `secret` is not empty.
bool SameSecret(std::string_view given, std::string_view secret) {
  if (secret.empty()) return false;
  unsigned char difference = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) {
    difference |= static_cast<unsigned char>(given[i] ^ secret[i % secret.size()]);
  }
  return difference == 0;
}

// The dashboard's own files: a browser loads them without a token (it asks for one afterwards and
// sends it with its API calls). They hold no data.
constexpr std::string_view kDashboardPrefix = "/ui/";

// The dashboard: scripts and styles from its own origin only, nothing inline, API calls to the
// same origin only, no frames, no forms, no <base>.
constexpr std::string_view kDashboardPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Liveness probes and the dashboard's files (and the redirect to them) need no token: everything
// else, the documentation included, may tell an anonymous client more than it should know.
bool IsPublic(const ApiRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  return request.path == "/health" || request.path == "/" ||
         request.path.starts_with(kDashboardPrefix);
}

// HEAD is GET without the body (RFC 9110 9.3.2): the HTTP layer drops the body.
std::string_view RouteMethodOf(std::string_view method) {
  return method == "HEAD" ? "GET" : method;
}

// A path's segments, one at a time and without copies: "/v1/health/x" gives "v1", "health", "x".
class Segments {
 public:
  explicit Segments(std::string_view path)
      : rest_(path), done_(path.empty() || path.front() != '/') {
    if (!done_) rest_.remove_prefix(1);
  }

  // False once every segment was taken.
  bool Next(std::string_view* segment) {
    if (done_) return false;
    const size_t slash = rest_.find('/');
    *segment = rest_.substr(0, slash);
    done_ = slash == std::string_view::npos;
    if (!done_) rest_.remove_prefix(slash + 1);
    return true;
  }

 private:
  std::string_view rest_;
  bool done_;
};

// Matches a request path against a route path such as "/v1/health/{service_id}"; a parameter
// matches any non-empty segment and is stored decoded (a bad escape is kept as sent, which no
// valid service id can contain).
bool Matches(std::string_view pattern, std::string_view path, std::vector<std::string>* params) {
  Segments expected(pattern);
  Segments actual(path);
  std::string_view want;
  std::string_view got;
  std::string decoded;
  for (;;) {
    const bool more = expected.Next(&want);
    if (more != actual.Next(&got)) return false;  // not as many segments
    if (!more) return true;
    std::string_view value = got;  // decoded, when it has escapes
    if (got.find('%') != std::string_view::npos) {
      if (!PercentDecode(got, &decoded)) decoded.assign(got);
      value = decoded;
    }
    if (want.starts_with('{')) {
      if (value.empty()) return false;
      params->emplace_back(value);
    } else if (value != want) {
      return false;
    }
  }
}

}  // namespace

const Router::Route Router::kRoutes[] = {
    {"POST", "/v1/telemetry", &Router::PostTelemetry},
    {"POST", "/v1/telemetry/batch", &Router::PostTelemetryBatch},
    {"POST", "/v1/traces", &Router::PostTraces},
    {"POST", "/v1/metrics", &Router::PostOtlpMetrics},
    {"GET", "/v1/health/{service_id}", &Router::GetHealth},
    {"GET", "/v1/baseline/{service_id}", &Router::GetBaseline},
    {"POST", "/v1/baseline/{service_id}/reset", &Router::ResetBaseline},
    {"GET", "/v1/events/{service_id}", &Router::GetEvents},
    {"GET", "/v1/telemetry/{service_id}", &Router::GetTelemetry},
    {"GET", "/v1/services", &Router::GetServices},
    {"DELETE", "/v1/services/{service_id}", &Router::DeleteService},
    {"GET", "/v1/system/status", &Router::GetSystemStatus},
    {"GET", "/v1/notifications", &Router::GetNotifications},
    {"GET", "/metrics", &Router::GetMetrics},
    {"GET", "/health", &Router::GetLiveness},
    {"GET", "/docs", &Router::GetDocs},
    {"GET", "/openapi.json", &Router::GetOpenApi},
    {"GET", "/", &Router::GetRoot},
    {"GET", "/ui/", &Router::GetDashboard},
    {"GET", "/ui/{file}", &Router::GetDashboard},
};

std::vector<RouteSpec> Routes() {
  std::vector<RouteSpec> routes;
  for (const Router::Route& route : Router::kRoutes) routes.push_back({route.method, route.path});
  return routes;
}

bool PercentDecode(std::string_view text, std::string* out) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out->push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    const int high = hex(text[i + 1]);
    const int low = hex(text[i + 2]);
    if (high < 0 || low < 0) return false;
    out->push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return true;
}

std::optional<Reply> Router::SeriesOf(const ApiRequest& request, const Params& params,
                                      std::string* key) const {
  const std::string& service_id = params[0];
  if (!IsValidServiceId(service_id)) return UnknownService(service_id);
  *key = service_id;
  for (const auto& [name, raw_value] : request.query) {
    if (name != "endpoint") continue;
    // Form encoding's '+' for a space is taken too: a literal '+' comes as %2B.
    std::string plus_as_space(raw_value);
    std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
    std::string endpoint;
    if (!PercentDecode(plus_as_space, &endpoint) || !IsValidEndpoint(endpoint)) {
      ApiError error = MakeError(kHttpUnprocessable, "validation_failed",
                                 "endpoint must be 1-256 printable ASCII characters (space to "
                                 "'~'), percent-encoded");
      error.field = "endpoint";
      return Error(error);
    }
    *key = EndpointSeriesKey(service_id, endpoint);
  }
  return std::nullopt;
}

Router::Router(ApiContext context)
    : context_(std::move(context)), metrics_renderer_(std::make_shared<MetricsRenderThread>()) {}

Reply Router::Error(const ApiError& error) { return Json(error.http_status, ErrorJson(error)); }

std::optional<Reply> Router::HandleAsync(const ApiRequest& request,
                                         const ReplyCallback& later) const {
  try {
    Reply reply = Dispatch(request, later);
    if (reply.deferred) return std::nullopt;
    return reply;
  } catch (...) {
    // Never e.what(): it may describe internals. The cause is for the logs, not the client.
    return Error(MakeError(kHttpInternalError, "internal_error", "internal server error"));
  }
}

Reply Router::Handle(const ApiRequest& request) const {
  auto answer = std::make_shared<std::promise<Reply>>();
  std::optional<Reply> now =
      HandleAsync(request, [answer](Reply reply) { answer->set_value(std::move(reply)); });
  return now ? std::move(*now) : answer->get_future().get();
}

bool Router::Authorized(const ApiRequest& request) const {
  const std::vector<std::string>& tokens = context_.config->server.auth_tokens;
  if (tokens.empty()) return true;
  constexpr std::string_view kScheme = "bearer ";
  std::string_view credentials = request.authorization;
  if (credentials.size() <= kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(credentials[i])) != kScheme[i]) return false;
  }
  credentials.remove_prefix(kScheme.size());
  while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
  bool accepted = false;
  for (const std::string& token : tokens) accepted = SameSecret(credentials, token) || accepted;
  return accepted;
}

Reply Router::Dispatch(const ApiRequest& request, const ReplyCallback& later) const {
  if (!IsPublic(request) && !Authorized(request)) {
    counters_->unauthorized.fetch_add(1, std::memory_order_relaxed);
    Reply reply = Error(MakeError(kHttpUnauthorized, "unauthorized",
                                  "a valid token is required: send \"Authorization: Bearer "
                                  "<token>\" (server.auth_tokens)"));
    reply.challenge = true;
    return reply;
  }
  std::vector<std::string> allow;
  for (const Route& route : kRoutes) {
    Params params;
    if (!Matches(route.path, request.path, &params)) continue;
    if (route.method == RouteMethodOf(request.method)) {
      return (this->*route.handler)(request, params, later);
    }
    allow.emplace_back(route.method);
    if (route.method == "GET") allow.emplace_back("HEAD");
  }
  if (!allow.empty()) {
    std::string methods;
    for (const std::string& method : allow) methods += (methods.empty() ? "" : ", ") + method;
    Reply reply = Error(MakeError(kHttpMethodNotAllowed, "method_not_allowed",
                                  std::string(request.method) + " is not allowed on " +
                                      std::string(request.path) + " (allowed: " + methods + ")"));
    reply.allow = std::move(allow);
    return reply;
  }
  return Error(MakeError(kHttpNotFound, "not_found",
                         "no such path: " + std::string(request.path) + " (see /docs)"));
}

Reply Router::Submit(std::vector<IncomingSample>&& samples, Reply accepted,
                     const ReplyCallback& later) const {
  // Durable: the answer waits for the commit, and is sent from the thread that made it.
  const bool durable = context_.config->ingest.durable && later;
  Engine::CommitCallback on_committed;
  if (durable) {
    on_committed = [later, accepted](Engine::CommitResult result) {
      switch (result) {
        case Engine::CommitResult::kCommitted:
          later(accepted);
          return;
        case Engine::CommitResult::kRefused:
          // Not 503: sending the same samples again may well be refused again. They are not
          // lost: an operator finds them in the refused file (docs/operations.md).
          later(Error(MakeError(kHttpInternalError, "storage_refused",
                                "the store refused some of these samples: they were set aside, "
                                "not stored (see refused_samples and refused_file in "
                                "/v1/system/status); the others were committed")));
          return;
        case Engine::CommitResult::kAbandoned:
          break;
      }
      later(Unavailable("storage_unavailable", "the samples could not be committed; retry later"));
    };
  }
  switch (context_.engine->Submit(std::move(samples), std::move(on_committed))) {
    case SubmitResult::kAccepted:
      if (durable) {
        Reply deferred;
        deferred.deferred = true;
        return deferred;
      }
      return accepted;
    case SubmitResult::kQueueFull:
      return Unavailable("overloaded",
                         "the ingest queue is full; nothing was accepted, retry later");
    case SubmitResult::kStorageUnavailable:
      return Unavailable("storage_unavailable",
                         "storage is failing to commit; nothing was accepted, retry later");
    case SubmitResult::kShuttingDown:
      return Unavailable("shutting_down", "the service is shutting down; nothing was accepted");
    case SubmitResult::kTooManyServices:
      return Error(MakeError(kHttpTooManyRequests, "too_many_services",
                             "the batch would exceed the limit of " +
                                 std::to_string(context_.config->ingest.max_services) +
                                 " monitored services (ingest.max_services); nothing was "
                                 "accepted"));
    case SubmitResult::kDetectorFailure:
      return Error(MakeError(kHttpInternalError, "detector_failure",
                             "a detector plugin could not create the new service's state (see "
                             "last_detector_error in /v1/system/status); nothing was accepted"));
  }
  return Error(MakeError(kHttpInternalError, "internal_error", "internal server error"));
}

AcceptanceClock Router::Clock() const {
  constexpr int64_t kMsPerSecond = 1000;
  return {NowMs(), static_cast<int64_t>(context_.config->ingest.max_future_seconds) * kMsPerSecond};
}

Reply Router::PostTelemetry(const ApiRequest& request, const Params&,
                            const ReplyCallback& later) const {
  IncomingSample sample;
  if (auto error = ParseSampleBody(request.body, Clock(), &sample)) return Error(*error);
  Reply accepted = Json(kHttpAccepted, AcceptedJson(sample));
  std::vector<IncomingSample> samples;
  samples.push_back(std::move(sample));
  return Submit(std::move(samples), std::move(accepted), later);
}

Reply Router::PostTelemetryBatch(const ApiRequest& request, const Params&,
                                 const ReplyCallback& later) const {
  std::vector<IncomingSample> samples;
  if (auto error = ParseBatchBody(request.body, Clock(), &samples)) return Error(*error);
  Reply accepted = Json(kHttpAccepted, BatchAcceptedJson(samples.size()));
  return Submit(std::move(samples), std::move(accepted), later);
}

Reply Router::GetHealth(const ApiRequest& request, const Params& params,
                        const ReplyCallback&) const {
  std::string key;
  if (auto refused = SeriesOf(request, params, &key)) return std::move(*refused);
  ServiceHealth health;
  if (!context_.engine->GetHealth(key, &health)) return UnknownSeries(key, *context_.config);
  return Json(kHttpOk, HealthJson(health));
}

Reply Router::GetBaseline(const ApiRequest& request, const Params& params,
                          const ReplyCallback&) const {
  std::string key;
  if (auto refused = SeriesOf(request, params, &key)) return std::move(*refused);
  ServiceHealth health;
  if (!context_.engine->GetHealth(key, &health)) return UnknownSeries(key, *context_.config);
  if (!health.baseline.valid) {
    const BaselineParams& baseline = context_.config->baseline;
    const uint32_t needed = baseline.min_samples;
    std::string message = SeriesTitle(key) + " has no baseline yet: it has " +
                          std::to_string(health.window_samples) + " of the " +
                          std::to_string(needed) + " samples it needs";
    if (health.aged_out > 0) {
      // A series sparser than min_samples per window_hours never gets a baseline.
      char minutes[32];
      std::snprintf(minutes, sizeof minutes, "%.1f",
                    baseline.window_hours * 60.0 / static_cast<double>(needed));
      message += "; " + std::to_string(health.aged_out) +
                 " samples left the window for being older than baseline.window_hours: a "
                 "service needs a sample at least every " +
                 minutes + " minutes to get a baseline";
    }
    ApiError error = MakeError(kHttpNotFound, "no_baseline", std::move(message));
    error.numbers = {{"samples", health.window_samples}, {"needed", needed}};
    if (health.aged_out > 0) error.numbers.emplace_back("aged_out", health.aged_out);
    return Error(error);
  }
  return Json(kHttpOk, BaselineJson(health));
}

Reply Router::ResetBaseline(const ApiRequest& request, const Params& params,
                            const ReplyCallback&) const {
  std::string key;
  if (auto refused = SeriesOf(request, params, &key)) return std::move(*refused);
  if (!context_.engine->Reset(key, NowMs())) return UnknownSeries(key, *context_.config);
  return Json(kHttpOk, ResetJson(key));
}

Reply Router::GetEvents(const ApiRequest& request, const Params& params,
                        const ReplyCallback&) const {
  std::string series;
  if (auto refused = SeriesOf(request, params, &series)) return std::move(*refused);

  uint32_t limit = kDefaultEventLimit;
  for (const auto& [key, raw_value] : request.query) {
    if (key != "limit") continue;
    std::string value;
    const bool decoded = PercentDecode(raw_value, &value);
    const bool digits = decoded && !value.empty() && value.size() <= 4 &&
                        value.find_first_not_of("0123456789") == std::string::npos;
    const uint32_t number = digits ? static_cast<uint32_t>(std::stoul(value)) : 0;
    if (number < 1 || number > kMaxEventLimit) {
      ApiError error = MakeError(kHttpUnprocessable, "validation_failed",
                                 "limit must be a whole number from 1 to 1000");
      error.field = "limit";
      return Error(error);
    }
    limit = number;
  }

  if (!context_.engine->HasService(series)) return UnknownSeries(series, *context_.config);
  std::vector<StoredEvent> events;
  Status status = context_.engine->Events(series, limit, &events);
  if (!status.ok()) {
    return Unavailable("storage_unavailable", "cannot read the events from storage right now");
  }
  return Json(kHttpOk, EventsJson(series, events));
}

Reply Router::GetTelemetry(const ApiRequest& request, const Params& params,
                           const ReplyCallback&) const {
  std::string series;
  if (auto refused = SeriesOf(request, params, &series)) return std::move(*refused);

  uint32_t limit = kMaxTelemetryLimit;
  uint64_t after_seq = 0;
  std::optional<int64_t> since;
  std::optional<int64_t> until;
  for (const auto& [key, raw_value] : request.query) {
    std::string value;
    const bool decoded = PercentDecode(raw_value, &value);
    ApiError error = MakeError(kHttpUnprocessable, "validation_failed", "");
    error.field = key;
    const bool digits = decoded && !value.empty() && value.size() <= 19 &&
                        value.find_first_not_of("0123456789") == std::string::npos;
    if (key == "limit") {
      const uint64_t number = digits ? std::stoull(value) : 0;
      if (number < 1 || number > kMaxTelemetryLimit) {
        error.message = "limit must be a whole number from 1 to 10000";
        return Error(error);
      }
      limit = static_cast<uint32_t>(number);
    } else if (key == "after_seq") {
      if (!digits) {
        error.message = "after_seq must be a sample number (a whole number >= 0)";
        return Error(error);
      }
      after_seq = std::stoull(value);
    } else if (key == "since" || key == "until") {
      std::optional<int64_t> at = decoded ? ParseTimestamp(value) : std::nullopt;
      if (!at) {
        error.message = key + " must be an RFC 3339 timestamp, e.g. 2026-01-12T10:30:45.123Z";
        return Error(error);
      }
      (key == "since" ? since : until) = at;
    }
  }
  if (since && until && *since >= *until) {
    ApiError error =
        MakeError(kHttpUnprocessable, "validation_failed", "since must be earlier than until");
    error.field = "until";
    return Error(error);
  }

  if (!context_.engine->HasService(series)) return UnknownSeries(series, *context_.config);
  std::vector<StoredSample> samples;
  bool more = false;
  Status status =
      context_.engine->StoredSamples(series, after_seq, [&](const StoredSample& sample) {
        if ((since && sample.timestamp_ms < *since) || (until && sample.timestamp_ms >= *until)) {
          return;
        }
        if (samples.size() < limit) {
          samples.push_back(sample);
        } else {
          more = true;
        }
      });
  if (!status.ok()) {
    return Unavailable("storage_unavailable", "cannot read the samples from storage right now");
  }
  std::optional<uint64_t> next_after_seq;
  if (more) next_after_seq = samples.back().seq;
  return Json(kHttpOk, TelemetryJson(series, samples, next_after_seq));
}

Reply Router::GetNotifications(const ApiRequest& request, const Params&,
                               const ReplyCallback&) const {
  Store::NotificationFilter filter;
  filter.newest_first = true;
  filter.limit = kDefaultEventLimit;
  for (const auto& [key, raw_value] : request.query) {
    std::string value;
    const bool decoded = PercentDecode(raw_value, &value);
    ApiError error = MakeError(kHttpUnprocessable, "validation_failed", "");
    error.field = key;
    if (key == "limit") {
      const bool digits = decoded && !value.empty() && value.size() <= 4 &&
                          value.find_first_not_of("0123456789") == std::string::npos;
      const uint32_t number = digits ? static_cast<uint32_t>(std::stoul(value)) : 0;
      if (number < 1 || number > kMaxEventLimit) {
        error.message = "limit must be a whole number from 1 to 1000";
        return Error(error);
      }
      filter.limit = number;
    } else if (key == "state") {
      for (NotificationState state : {NotificationState::kPending, NotificationState::kDelivered,
                                      NotificationState::kFailed}) {
        if (decoded && value == NotificationStateName(state)) filter.state = state;
      }
      if (!filter.state) {
        error.message = "state must be pending, delivered or failed";
        return Error(error);
      }
    } else if (key == "target") {
      if (!decoded || value.empty()) {
        error.message = "target must name a notification target";
        return Error(error);
      }
      filter.target = value;
    }
  }
  std::vector<StoredNotification> rows;
  if (!context_.engine->Notifications(filter, &rows).ok()) {
    return Unavailable("storage_unavailable",
                       "cannot read the notifications from storage right now");
  }
  return Json(kHttpOk, NotificationsJson(rows));
}

Reply Router::GetServices(const ApiRequest& request, const Params&, const ReplyCallback&) const {
  bool with_endpoints = false;
  std::string service_id;
  for (const auto& [key, value] : request.query) {
    if (key == "service_id") {
      if (!PercentDecode(value, &service_id) || !IsValidServiceId(service_id)) {
        ApiError error = MakeError(kHttpUnprocessable, "validation_failed",
                                   "service_id must be 1-128 characters of A-Z a-z 0-9 . _ - :");
        error.field = "service_id";
        return Error(error);
      }
    }
    if (key != "endpoints") continue;
    if (value != "true" && value != "false") {
      ApiError error =
          MakeError(kHttpUnprocessable, "validation_failed", "endpoints must be true or false");
      error.field = "endpoints";
      return Error(error);
    }
    with_endpoints = value == "true";
  }
  return Json(kHttpOk, ServicesJson(context_.engine->ListServices(with_endpoints, service_id)));
}

Reply Router::DeleteService(const ApiRequest& request, const Params& params,
                            const ReplyCallback& later) const {
  std::string key;
  if (auto refused = SeriesOf(request, params, &key)) return std::move(*refused);
  Reply forgotten = Json(kHttpOk, ForgottenJson(key));
  Engine::CommitCallback on_forgotten;
  if (later) {
    on_forgotten = [later, forgotten](Engine::CommitResult result) {
      switch (result) {
        case Engine::CommitResult::kCommitted:
          later(forgotten);
          return;
        case Engine::CommitResult::kRefused:
          // Not 503: the same DELETE may well be refused again. The store still holds the data.
          later(Error(MakeError(kHttpInternalError, "storage_refused",
                                "the store refused to forget the service (see last_refusal in "
                                "/v1/system/status): it still holds its data, which the next "
                                "start restores")));
          return;
        case Engine::CommitResult::kAbandoned:
          break;
      }
      // The service stopped before the store could forget it: it comes back at the next start.
      later(Error(MakeError(kHttpInternalError, "storage_failure",
                            "the store could not forget the service before the server stopped: "
                            "it is restored at the next start; send the DELETE again then")));
    };
  }
  switch (context_.engine->Forget(key, std::move(on_forgotten))) {
    case Engine::ForgetResult::kForgetting:
      if (later) {
        Reply deferred;
        deferred.deferred = true;
        return deferred;
      }
      return forgotten;
    case Engine::ForgetResult::kUnknown:
      return UnknownSeries(key, *context_.config);
    case Engine::ForgetResult::kNotSupported:
      return Error(MakeError(kHttpNotImplemented, "not_supported",
                             "the storage backend '" + context_.config->storage.plugin +
                                 "' cannot forget a service (it was built against plugin ABI "
                                 "1.0; on_forget came with 1.1); nothing was changed"));
    case Engine::ForgetResult::kShuttingDown:
      return Unavailable("shutting_down", "the service is shutting down; nothing was forgotten");
    case Engine::ForgetResult::kStorageUnavailable:
      return Unavailable("storage_unavailable",
                         "storage is failing to commit; nothing was forgotten, retry later");
  }
  return Error(MakeError(kHttpInternalError, "internal_error", "internal server error"));
}

Reply Router::GetSystemStatus(const ApiRequest&, const Params&, const ReplyCallback&) const {
  SystemStatus status;
  status.engine = context_.engine->GetStatus();
  status.uptime_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::steady_clock::now() - context_.started)
                              .count();
  StoreStats stats;
  if (context_.store_stats && context_.store_stats(&stats)) {
    status.have_store_stats = true;
    status.stored_samples = stats.sample_count;
    status.stored_events = stats.event_count;
    status.database_size_bytes = stats.size_bytes;
  }
  if (context_.notifications != nullptr) {
    status.notification_targets = context_.notifications->Targets();
  }
  status.version = context_.version;
  status.storage_plugin = context_.config->storage.plugin;
  status.plugins = context_.plugins;
  for (const DetectorConfig& trigger : context_.config->triggers) {
    status.trigger_detectors.push_back(trigger.name);
  }
  status.recovery_detector = context_.config->recovery.name;

  const Config& config = *context_.config;
  const LimitCounters& hits = *counters_;
  status.limits = {
      {"queue_capacity", config.ingest.queue_capacity, status.engine.rejected_queue_full},
      {"max_services", config.ingest.max_services, status.engine.rejected_too_many_services},
      {"max_endpoints_per_service", config.series.max_endpoints_per_service,
       status.engine.endpoint_overflow},
      {"max_request_bytes", config.server.max_request_bytes, hits.body_too_large.load()},
      {"max_header_bytes", kMaxHeaderBytes, hits.headers_too_large.load()},
      {"header_timeout_ms", config.server.header_timeout_ms, hits.header_timeouts.load()},
      {"body_timeout_ms", config.server.body_timeout_ms, hits.body_timeouts.load()},
      {"max_connections", hits.max_connections.load(), hits.connections_refused.load()},
      {"keepalive_timeout_ms", config.server.keepalive_timeout_ms,
       hits.unread_answers_cutoffs.load()},
  };
  status.open_connections = hits.connections_open.load();
  status.durable = config.ingest.durable;
  status.auth_required = !config.server.auth_tokens.empty();
  status.rejected_unauthorized = hits.unauthorized.load();
  return Json(kHttpOk, StatusJson(status));
}

Reply Router::GetMetrics(const ApiRequest&, const Params&, const ReplyCallback& later) const {
  MetricsInput input;
  input.version = context_.version;
  input.status = context_.engine->GetStatus();
  input.metrics = context_.engine->GetMetrics();
  input.services = context_.engine->CollectServiceMetrics();
  input.per_service_limit = context_.config->metrics.per_service_limit;
  if (context_.notifications != nullptr) {
    input.notification_targets = context_.notifications->Targets();
  }
  // The copy above is taken here, at this thread's priority (it holds the engine's locks); the
  // text is written on the low-priority thread when the answer may come later.
  if (later) {
    metrics_renderer_->Render(std::move(input), [later](std::string text) {
      Reply reply;
      reply.body = std::move(text);
      reply.content_type = kMetricsContentType;
      later(std::move(reply));
    });
    Reply deferred;
    deferred.deferred = true;
    return deferred;
  }
  Reply reply;
  reply.body = RenderMetrics(input);
  reply.content_type = kMetricsContentType;
  return reply;
}

Reply Router::GetLiveness(const ApiRequest&, const Params&, const ReplyCallback&) const {
  return Json(kHttpOk, R"({"status":"ok"})");
}

Reply Router::GetDocs(const ApiRequest&, const Params&, const ReplyCallback&) const {
  Reply reply = Json(kHttpOk, context_.docs_html);
  reply.content_type = "text/html; charset=utf-8";
  return reply;
}

Reply Router::GetOpenApi(const ApiRequest&, const Params&, const ReplyCallback&) const {
  return Json(kHttpOk, context_.openapi_json);
}

Reply Router::GetRoot(const ApiRequest&, const Params&, const ReplyCallback&) const {
  Reply reply = Json(kHttpFound, R"({"location":"/ui/"})");
  reply.location = kDashboardPrefix;
  return reply;
}

Reply Router::GetDashboard(const ApiRequest& request, const Params& params,
                           const ReplyCallback&) const {
  const std::string name = params.empty() ? "index.html" : params[0];
  std::optional<UiFile> file = FindUiFile(name);
  if (!file) {
    return Error(MakeError(kHttpNotFound, "not_found",
                           "no such path: " + std::string(request.path) + " (see /docs)"));
  }
  Reply reply;
  reply.body.assign(file->body);
  reply.content_type = file->content_type;
  reply.security_policy = kDashboardPolicy;
  reply.no_cache = true;
  return reply;
}

}  // namespace driftwatch::api
