// Request framing: where one request ends in a connection's bytes (pipelining, chunked bodies,
// limits), and when a connection stays open.
#include "api/http_framing.h"

#include <gtest/gtest.h>
#include <pistache/http.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace driftwatch::api {
namespace {

FrameLimits SmallLimits() {
  FrameLimits limits;
  limits.max_header_bytes = 256;
  limits.max_body_bytes = 64;
  return limits;
}

TEST(FindRequest, WaitsForTheHeadersAndTheWholeBody) {
  const std::string request = "POST /v1/telemetry HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  for (size_t cut = 0; cut < request.size(); ++cut) {
    const Frame frame = FindRequest(request.substr(0, cut), SmallLimits());
    EXPECT_EQ(frame.status, FrameStatus::kIncomplete) << cut;
  }
  const Frame frame = FindRequest(request, SmallLimits());
  EXPECT_EQ(frame.status, FrameStatus::kComplete);
  EXPECT_EQ(frame.length, request.size());
  EXPECT_EQ(frame.header_length, request.size() - 5);
}

TEST(FindRequest, FramesOnlyTheFirstOfPipelinedRequests) {
  const std::string first = "POST /a HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}";
  const std::string second = "GET /health HTTP/1.1\r\n\r\n";
  const Frame frame = FindRequest(first + second + "GET /x HT", SmallLimits());
  ASSERT_EQ(frame.status, FrameStatus::kComplete);
  EXPECT_EQ(frame.length, first.size());
  const Frame next = FindRequest(second + "GET /x HT", SmallLimits());
  ASSERT_EQ(next.status, FrameStatus::kComplete);
  EXPECT_EQ(next.length, second.size());
}

TEST(FindRequest, FramesChunkedBodiesWithTrailers) {
  const std::string head = "POST /a HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n";
  const std::string body = "3\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
  const std::string request = head + body;
  for (size_t cut = head.size(); cut < request.size(); ++cut) {
    EXPECT_EQ(FindRequest(request.substr(0, cut), SmallLimits()).status, FrameStatus::kIncomplete)
        << cut;
  }
  const Frame frame = FindRequest(request + "GET / HTTP/1.1\r\n\r\n", SmallLimits());
  ASSERT_EQ(frame.status, FrameStatus::kComplete);
  EXPECT_EQ(frame.length, request.size());
}

TEST(FindRequest, RefusesWhatItCannotFrameOrWillNotTake) {
  const FrameLimits limits = SmallLimits();
  EXPECT_EQ(FindRequest("POST /a HTTP/1.1\r\nContent-Length: 65\r\n\r\n", limits).status,
            FrameStatus::kBodyTooLarge);  // refused before the body is sent
  EXPECT_EQ(FindRequest("POST /a HTTP/1.1\r\nContent-Length: 64\r\n\r\n", limits).status,
            FrameStatus::kIncomplete);
  EXPECT_EQ(FindRequest("GET /a HTTP/1.1\r\nX: " + std::string(300, 'x'), limits).status,
            FrameStatus::kHeaderTooLarge);
  EXPECT_EQ(
      FindRequest("GET /a HTTP/1.1\r\nX: " + std::string(300, 'x') + "\r\n\r\n", limits).status,
      FrameStatus::kHeaderTooLarge);
  EXPECT_EQ(FindRequest("POST /a HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", limits).status,
            FrameStatus::kMalformed);
  EXPECT_EQ(FindRequest("POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", limits).status,
            FrameStatus::kMalformed);
  EXPECT_EQ(
      FindRequest("POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", limits)
          .status,
      FrameStatus::kMalformed);
  EXPECT_EQ(FindRequest("POST /a HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked"
                        "\r\n\r\n",
                        limits)
                .status,
            FrameStatus::kMalformed);
  EXPECT_EQ(FindRequest("POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", limits).status,
            FrameStatus::kUnsupported);
  EXPECT_EQ(
      FindRequest("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", limits).status,
      FrameStatus::kMalformed);
  EXPECT_EQ(
      FindRequest("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", limits).status,
      FrameStatus::kBodyTooLarge);
  EXPECT_EQ(
      FindRequest("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", limits).status,
      FrameStatus::kMalformed);
  EXPECT_EQ(FindRequest("GET /a HTTP/1.1\r\n folded\r\n\r\n", limits).status,
            FrameStatus::kMalformed);
}

TEST(FindRequest, ReadsConnectionAndExpectHeaders) {
  Frame frame = FindRequest("GET / HTTP/1.1\r\nHost: x\r\n\r\n", SmallLimits());
  EXPECT_TRUE(KeepsAlive(frame));
  frame = FindRequest("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", SmallLimits());
  EXPECT_FALSE(KeepsAlive(frame));
  frame = FindRequest("GET / HTTP/1.0\r\n\r\n", SmallLimits());
  EXPECT_TRUE(frame.http10);
  EXPECT_FALSE(KeepsAlive(frame));
  frame = FindRequest("GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n", SmallLimits());
  EXPECT_TRUE(KeepsAlive(frame));
  frame = FindRequest("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
                      SmallLimits());
  EXPECT_EQ(frame.status, FrameStatus::kIncomplete);
  EXPECT_TRUE(frame.expects_continue);
  EXPECT_GT(frame.header_length, 0u);
}

// What Pistache's own parser makes of a request, in the fields the API reads.
struct PistacheView {
  bool parsed = false;
  std::string method, resource, body, authorization;
  size_t query_parameters = 0;
  bool http10 = false;
};

PistacheView ParseWithPistache(const std::string& request) {
  namespace Http = Pistache::Http;
  PistacheView view;
  Http::Private::ParserImpl<Http::Request> parser(64 * 1024);
  try {
    view.parsed =
        parser.feed(request.data(), request.size()) && parser.parse() == Http::Private::State::Done;
  } catch (const std::exception&) {
    return view;  // refused
  }
  const Http::Request& parsed = parser.request;
  view.method = Http::methodString(parsed.method());
  view.resource = parsed.resource();
  view.body = parsed.body();
  for (auto it = parsed.query().parameters_begin(); it != parsed.query().parameters_end(); ++it) {
    ++view.query_parameters;
  }
  if (auto authorization = parsed.headers().tryGet<Http::Header::Authorization>()) {
    view.authorization = authorization->value();
  }
  view.http10 = parsed.version() == Http::Version::Http10;
  return view;
}

// Checks that a plain request's frame says what Pistache's parser reads in it.
void ExpectReadAsPistacheReadsIt(const std::string& request, const Frame& frame) {
  SCOPED_TRACE(request);
  const PistacheView pistache = ParseWithPistache(request);
  ASSERT_TRUE(pistache.parsed);
  EXPECT_EQ(frame.method, pistache.method);
  EXPECT_EQ(frame.target, pistache.resource);
  EXPECT_EQ(std::string_view(request).substr(frame.header_length), pistache.body);
  EXPECT_EQ(frame.authorization, pistache.authorization);
  EXPECT_EQ(frame.http10, pistache.http10);
  EXPECT_EQ(pistache.query_parameters, 0u);
}

// A plain request (Frame::plain) means to the API exactly what it means to Pistache's parser,
// which the server then skips: the same method, path, body, Authorization, version, and no query.
TEST(FindRequest, PlainRequestsReadAsPistacheReadsThem) {
  const std::string body = R"({"service_id":"checkout-api","latency_ms":151.2,"payload_kb":2.4})";
  const std::string length = "Content-Length: " + std::to_string(body.size()) + "\r\n";
  const std::vector<std::string> requests = {
      "POST /v1/telemetry HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n" + length +
          "Content-Type: application/json\r\nConnection: keep-alive\r\n\r\n" + body,
      "POST /v1/telemetry/batch HTTP/1.0\r\nconnection: Keep-Alive\r\n" + length +
          "accept: */*\r\n\r\n" + body,
      "GET /v1/health/ns%3Asvc HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\n"
      "Accept: application/json\r\n\r\n",
      "GET /v1/services HTTP/1.1\r\nAuthorization:    Bearer s3cret-token\r\n"
      "X-Request-Id: 42\r\n\r\n",
      "POST /v1/baseline/a-b_c.d~e/reset HTTP/1.1\r\nExpect: 100-continue\r\n"
      "Content-Length: 0\r\nConnection: close\r\n\r\n",
      "GET /health HTTP/1.0\r\n\r\n",
      "GET / HTTP/1.1\r\nUSER-AGENT: wrk\r\nX-Empty:\r\n\r\n",
  };
  for (const std::string& request : requests) {
    SCOPED_TRACE(request);
    const Frame frame = FindRequest(request, FrameLimits());
    ASSERT_EQ(frame.status, FrameStatus::kComplete);
    ASSERT_TRUE(frame.plain);
    ExpectReadAsPistacheReadsIt(request, frame);
  }
}

// Random plain-looking requests: whenever the framing calls one plain, Pistache reads it the same.
TEST(FindRequest, RandomPlainRequestsReadAsPistacheReadsThem) {
  std::mt19937 random(2026);
  const auto pick = [&](const std::vector<std::string>& choices) {
    return choices[random() % choices.size()];
  };
  const std::string path_chars = "abcXYZ019-._~%!$&'()*+,;=:@/ \"<>?#[]{}|\\^`\x7f\x80";
  int plain = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string target = "/";
    for (size_t n = random() % 12; n > 0; --n) target += path_chars[random() % path_chars.size()];
    const std::string body(random() % 3 == 0 ? 0 : random() % 40, 'b');
    std::vector<std::string> headers = {
        pick({"Host", "host", "HOST"}) + ":" + pick({" a.b", "  x:8080", " y:", " [::1]", " z:1a"}),
        pick({"User-Agent", "user-agent"}) + ": " + pick({"wrk", "curl/8 (x)", "a\tb"}),
        pick({"Accept", "accept"}) + ": " + pick({"*/*", "application/json", "text/*"}),
        pick({"Connection", "connection"}) + ": " + pick({"keep-alive", "Close", "upgrade"}),
        pick({"Authorization", "authorization"}) + ":" +
            pick({" Bearer t", "Bearer  t", "   Basic x ", " "}),
        pick({"X-Trace", "x-id", "X-"}) + ": " + pick({"1", "", "a b", "\x01"}),
        pick({"Content-Type", "Content-type"}) + ": " + pick({"application/json", "text/plain"}),
    };
    std::shuffle(headers.begin(), headers.end(), random);
    headers.resize(random() % headers.size());
    if (!body.empty() || random() % 2 == 0) {
      headers.push_back("Content-Length: " + std::to_string(body.size()));
    }
    std::string request =
        pick({"GET", "POST"}) + " " + target + " " + pick({"HTTP/1.1", "HTTP/1.0"}) + "\r\n";
    for (const std::string& header : headers) request += header + "\r\n";
    request += "\r\n" + body;
    const Frame frame = FindRequest(request, FrameLimits());
    if (frame.status != FrameStatus::kComplete || !frame.plain) continue;
    ++plain;
    ExpectReadAsPistacheReadsIt(request, frame);
    if (HasFailure()) return;  // the first request read differently is the one to look at
  }
  EXPECT_GT(plain, 300);  // the generator makes plain requests often enough to mean something
}

// Anything less ordinary is not plain, and goes to Pistache's parser: what it refuses stays
// refused.
TEST(FindRequest, OtherRequestsAreNotPlain) {
  const std::vector<std::string> requests = {
      "PUT /v1/telemetry HTTP/1.1\r\n\r\n",
      "BREW /pot HTTP/1.1\r\n\r\n",
      "get /health HTTP/1.1\r\n\r\n",
      "GET /v1/events/a?limit=5 HTTP/1.1\r\n\r\n",
      "GET /a#b HTTP/1.1\r\n\r\n",
      "GET http://x/health HTTP/1.1\r\n\r\n",
      "GET /a\"b HTTP/1.1\r\n\r\n",
      "GET  /health HTTP/1.1\r\n\r\n",
      "GET /health HTTP/2.0\r\n\r\n",
      "GET /health HTTP/1.1 \r\n\r\n",
      "GET /health\r\n\r\n",
      "GET /health HTTP/1.1\r\nHost: x:abc\r\n\r\n",
      "GET /health HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
      "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "GET /health HTTP/1.1\r\nAccept: text/html\r\n\r\n",
      "GET /health HTTP/1.1\r\nCache-Control: no-cache\r\n\r\n",
      "GET /health HTTP/1.1\r\nDate: yesterday\r\n\r\n",
      "GET /health HTTP/1.1\r\nConnection: upgrade\r\n\r\n",
      "GET /health HTTP/1.1\r\nExpect: 200-ok\r\n\r\n",
      "GET /health HTTP/1.1\r\nX-Bin: caf\xc3\xa9\r\n\r\n",
      "GET /health HTTP/1.1\r\nX-Ctl: a\x01\r\n\r\n",
      "GET /health HTTP/1.1\r\nBad Header: 1\r\n\r\n",
      "GET /health HTTP/1.1\r\nAuthorization: Bearer t \r\n\r\n",
      "GET /health HTTP/1.1\r\nAuthorization:\tBearer t\r\n\r\n",
      "POST /v1/telemetry HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
      "POST /v1/telemetry HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      "POST /v1/telemetry HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
  };
  for (const std::string& request : requests) {
    const Frame frame = FindRequest(request, FrameLimits());
    EXPECT_FALSE(frame.plain) << request;
    EXPECT_TRUE(frame.method.empty() && frame.target.empty()) << request;
  }
}

}  // namespace
}  // namespace driftwatch::api
