// bare_pistache: the reference the service's single-sample ingest is measured against. A Pistache
// 0.0.5 endpoint with the service's threads and socket options whose one handler parses
// POST /v1/telemetry exactly as DriftWatch does (api/sample_parser.h) and answers 202 with the same
// JSON. No engine, no routing table, no request framing of its own: what is left is the floor.
//
//   bare_pistache [--port N] [--threads N]     (prints "listening on http://127.0.0.1:PORT")
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/response_json.h"
#include "api/sample_parser.h"
#include "core/config.h"
#include "core/timestamp.h"

namespace {

namespace Http = Pistache::Http;

// ingest.max_future_seconds as the service has it by default.
constexpr int64_t kMaxFutureMs = int64_t{driftwatch::IngestConfig{}.max_future_seconds} * 1000;

class BareHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(BareHandler)

  void onRequest(const Http::Request& request, Http::ResponseWriter response) override {
    const Http::Mime::MediaType json(Http::Mime::Type::Application, Http::Mime::Subtype::Json);
    if (request.method() != Http::Method::Post || request.resource() != "/v1/telemetry") {
      response.send(Http::Code::Not_Found, R"({"error":"not_found"})", json);
      return;
    }
    driftwatch::IncomingSample sample;
    const driftwatch::api::AcceptanceClock clock{driftwatch::NowMs(), kMaxFutureMs};
    const auto error = driftwatch::api::ParseSampleBody(request.body(), clock, &sample);
    if (error) {
      response.send(static_cast<Http::Code>(error->http_status), driftwatch::api::ErrorJson(*error),
                    json);
      return;
    }
    response.send(Http::Code::Accepted, driftwatch::api::AcceptedJson(sample), json);
  }
};

int Usage() {
  std::fprintf(stderr, "usage: bare_pistache [--port N] [--threads N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint16_t port = 0;
  int threads = 2;  // the service's default server.threads
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--port") {
      port = static_cast<uint16_t>(std::atoi(argv[i + 1]));
    } else if (flag == "--threads") {
      threads = std::atoi(argv[i + 1]);
    } else {
      return Usage();
    }
  }
  if (argc % 2 == 0 || threads < 1) return Usage();

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Http::Endpoint endpoint(Pistache::Address("127.0.0.1", Pistache::Port(port)));
  endpoint.init(Http::Endpoint::options().threads(threads).flags(Pistache::Tcp::Options::ReuseAddr |
                                                                 Pistache::Tcp::Options::NoDelay));
  endpoint.setHandler(Http::make_handler<BareHandler>());
  endpoint.serveThreaded();
  std::printf("listening on http://127.0.0.1:%u\n", static_cast<unsigned>(endpoint.getPort()));
  std::fflush(stdout);

  int received = 0;
  sigwait(&stop_signals, &received);
  endpoint.shutdown();
  return 0;
}
