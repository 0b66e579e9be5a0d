// The REST API without the HTTP plumbing: one route table, and a handler per route that turns a
// request into a reply by calling the engine. Handlers only validate, call Engine (which queues
// samples and reads in-memory state) and format JSON: no disk and no detector work here.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/api_error.h"
#include "api/otlp_decoder.h"
#include "api/response_json.h"
#include "api/sample_parser.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/plugin_loader.h"

namespace driftwatch::api {

class MetricsRenderThread;

struct ApiRequest {
  std::string_view method;  // "GET", "POST", ...
  std::string_view path;    // without the query, still percent-encoded
  std::vector<std::pair<std::string, std::string>> query;  // still percent-encoded
  std::string_view body;
  std::string authorization;  // the Authorization header ("" when absent)
  // Read only by the OTLP routes, which take protobuf or JSON, compressed or not.
  std::string_view content_type;
  std::string_view content_encoding;
};

struct Reply {
  int status = 200;
  std::string body;
  std::string_view content_type = "application/json";  // always a string literal
  uint32_t retry_after_seconds = 0;                    // > 0: send a Retry-After header
  std::vector<std::string> allow;                      // 405: the methods the path accepts
  bool challenge = false;                              // 401: send "WWW-Authenticate: Bearer"
  std::string_view location;  // a redirect's target: sent as Location (a string literal)
  // Sent as Content-Security-Policy (a string literal); when empty, HTML gets the /docs policy.
  std::string_view security_policy;
  bool no_cache = false;  // send "Cache-Control: no-cache": revalidate (the dashboard's files)
  bool deferred = false;  // no answer yet: it comes later through a ReplyCallback
};

// Where an answer that is not ready at once goes (durable ingest: once the samples are committed).
// Called once, from another thread.
using ReplyCallback = std::function<void(Reply)>;

// How often each limit was hit since start. The HTTP layer counts what never reaches a handler.
struct LimitCounters {
  std::atomic<uint64_t> body_too_large{0};     // 413
  std::atomic<uint64_t> headers_too_large{0};  // 431
  std::atomic<uint64_t> header_timeouts{0};    // 408: headers not complete in time
  std::atomic<uint64_t> body_timeouts{0};      // 408: body not complete in time
  std::atomic<uint64_t> unauthorized{0};       // 401
  // Connections: the limit in force (server.max_connections, or what the open-file limit allows),
  // how many are open, how many were refused for it, and how many were cut off because their
  // client left its answers unread for server.keepalive_timeout_ms.
  std::atomic<uint64_t> max_connections{0};
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> unread_answers_cutoffs{0};
};

// One entry of the route table (and of the OpenAPI document's paths).
struct RouteSpec {
  std::string_view method;
  std::string_view path;  // "/v1/health/{service_id}"
};
// Every route the server answers, in table order.
std::vector<RouteSpec> Routes();

// What the handlers serve from. The pointers must outlive the Router.
struct ApiContext {
  Engine* engine = nullptr;
  const Config* config = nullptr;
  std::vector<LoadedPlugin> plugins;
  std::string version;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  // The store's latest statistics, gathered off the request threads (see StoreStatsPoller).
  std::function<bool(StoreStats*)> store_stats;
  std::string openapi_json;  // served at /openapi.json
  std::string docs_html;     // served at /docs
  // The notification sender (null without notify.targets): its per-target figures.
  const notify::NotificationSender* notifications = nullptr;
};

class Router {
 public:
  explicit Router(ApiContext context);

  // Never throws: an exception inside a handler becomes a 500 with a generic message. With
  // ingest.durable, an accepted ingest is answered only once its samples are committed: HandleAsync
  // then returns nothing and calls `later` once, from another thread (202, or 503 if the commit
  // cannot happen); every other request is answered at once, and so is every request when `later`
  // is empty. Handle waits for such an answer.
  std::optional<Reply> HandleAsync(const ApiRequest& request, const ReplyCallback& later) const;
  Reply Handle(const ApiRequest& request) const;

  // Whether HandleAsync may answer a request with this method and path later, so needs a
  // ReplyCallback: ingest with ingest.durable, DELETE (answered once the store has forgotten the
  // service) and /metrics (rendered on a low-priority thread: docs/behaviour.md, "Decisions about
  // HTTP").
  bool may_defer(std::string_view method, std::string_view path) const {
    return method == "DELETE" || path == "/metrics" || context_.config->ingest.durable;
  }

  // Shared with the HTTP layer, which counts the limits it enforces itself.
  const std::shared_ptr<LimitCounters>& limit_counters() const { return counters_; }

  // Replies the HTTP layer makes itself, in the API's JSON error format.
  static Reply Error(const ApiError& error);

 private:
  using Params = std::vector<std::string>;  // decoded path parameters, in order
  // `later` is for handlers that may answer later (Reply::deferred); the others ignore it.
  using Handler = Reply (Router::*)(const ApiRequest&, const Params&,
                                    const ReplyCallback& later) const;
  struct Route {
    std::string_view method;
    std::string_view path;
    Handler handler;
  };
  static const Route kRoutes[];
  friend std::vector<RouteSpec> Routes();

  // The series a per-service path names (a key, core/series_key.h): the service, or with
  // ?endpoint= one of its endpoint series. An answer (404 or 422) when the request names none.
  std::optional<Reply> SeriesOf(const ApiRequest& request, const Params& params,
                                std::string* key) const;

  Reply PostTelemetry(const ApiRequest& request, const Params& params,
                      const ReplyCallback& later) const;
  Reply PostTelemetryBatch(const ApiRequest& request, const Params& params,
                           const ReplyCallback& later) const;
  Reply GetHealth(const ApiRequest& request, const Params& params,
                  const ReplyCallback& later) const;
  Reply GetBaseline(const ApiRequest& request, const Params& params,
                    const ReplyCallback& later) const;
  Reply ResetBaseline(const ApiRequest& request, const Params& params,
                      const ReplyCallback& later) const;
  Reply GetEvents(const ApiRequest& request, const Params& params,
                  const ReplyCallback& later) const;
  Reply GetTelemetry(const ApiRequest& request, const Params& params,
                     const ReplyCallback& later) const;
  Reply GetServices(const ApiRequest& request, const Params& params,
                    const ReplyCallback& later) const;
  Reply DeleteService(const ApiRequest& request, const Params& params,
                      const ReplyCallback& later) const;
  Reply GetSystemStatus(const ApiRequest& request, const Params& params,
                        const ReplyCallback& later) const;
  Reply GetNotifications(const ApiRequest& request, const Params& params,
                         const ReplyCallback& later) const;
  // OTLP/HTTP (api/otlp_route.cc).
  Reply PostTraces(const ApiRequest& request, const Params& params,
                   const ReplyCallback& later) const;
  Reply PostOtlpMetrics(const ApiRequest& request, const Params& params,
                        const ReplyCallback& later) const;
  Reply PostOtlp(const ApiRequest& request, OtlpSignal signal, const ReplyCallback& later) const;
  Reply GetMetrics(const ApiRequest& request, const Params& params,
                   const ReplyCallback& later) const;
  Reply GetLiveness(const ApiRequest& request, const Params& params,
                    const ReplyCallback& later) const;
  Reply GetDocs(const ApiRequest& request, const Params& params, const ReplyCallback& later) const;
  Reply GetOpenApi(const ApiRequest& request, const Params& params,
                   const ReplyCallback& later) const;
  Reply GetRoot(const ApiRequest& request, const Params& params, const ReplyCallback& later) const;
  Reply GetDashboard(const ApiRequest& request, const Params& params,
                     const ReplyCallback& later) const;

  Reply Dispatch(const ApiRequest& request, const ReplyCallback& later) const;
  // True when server.auth_tokens is empty or the request carries one of them as a Bearer token.
  bool Authorized(const ApiRequest& request) const;
  Reply Submit(std::vector<IncomingSample>&& samples, Reply accepted,
               const ReplyCallback& later) const;
  // The server's clock now, and how far ahead of it a sample's timestamp may be.
  AcceptanceClock Clock() const;

  ApiContext context_;
  std::shared_ptr<LimitCounters> counters_ = std::make_shared<LimitCounters>();
  // Cumulative histograms' running totals, per series (docs/opentelemetry.md, Metrics).
  std::shared_ptr<CumulativeTotals> cumulative_ = std::make_shared<CumulativeTotals>();
  // Renders GET /metrics when the answer may come later (api/metrics_text.h).
  std::shared_ptr<MetricsRenderThread> metrics_renderer_;
};

// Decodes %XX escapes; false for a malformed escape.
bool PercentDecode(std::string_view text, std::string* out);

}  // namespace driftwatch::api
