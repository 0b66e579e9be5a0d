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
  const std::string request =
      "POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
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
  const std::string first = "POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
  const std::string second = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  const Frame frame = FindRequest(first + second + "GET /x HT", SmallLimits());
  ASSERT_EQ(frame.status, FrameStatus::kComplete);
  EXPECT_EQ(frame.length, first.size());
  const Frame next = FindRequest(second + "GET /x HT", SmallLimits());
  ASSERT_EQ(next.status, FrameStatus::kComplete);
  EXPECT_EQ(next.length, second.size());
}

TEST(FindRequest, FramesChunkedBodiesWithTrailers) {
  const std::string head = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n";
  const std::string body = "3\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
  const std::string request = head + body;
  for (size_t cut = head.size(); cut < request.size(); ++cut) {
    EXPECT_EQ(FindRequest(request.substr(0, cut), SmallLimits()).status, FrameStatus::kIncomplete)
        << cut;
  }
  const Frame frame = FindRequest(request + "GET / HTTP/1.1\r\nHost: x\r\n\r\n", SmallLimits());
  ASSERT_EQ(frame.status, FrameStatus::kComplete);
  EXPECT_EQ(frame.length, request.size());
}

TEST(FindRequest, RefusesWhatItCannotFrameOrWillNotTake) {
  const FrameLimits limits = SmallLimits();
  EXPECT_EQ(FindRequest("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n", limits).status,
            FrameStatus::kBodyTooLarge);  // refused before the body is sent
  EXPECT_EQ(FindRequest("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 64\r\n\r\n", limits).status,
            FrameStatus::kIncomplete);
  EXPECT_EQ(FindRequest("GET /a HTTP/1.1\r\nHost: x\r\nX: " + std::string(300, 'x'), limits).status,
            FrameStatus::kHeaderTooLarge);
  EXPECT_EQ(
      FindRequest("GET /a HTTP/1.1\r\nHost: x\r\nX: " + std::string(300, 'x') + "\r\n\r\n", limits)
          .status,
      FrameStatus::kHeaderTooLarge);
  EXPECT_EQ(FindRequest("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", limits).status,
            FrameStatus::kMalformed);
  EXPECT_EQ(FindRequest("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", limits).status,
            FrameStatus::kMalformed);
  EXPECT_EQ(
      FindRequest("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                  limits)
          .status,
      FrameStatus::kMalformed);
  EXPECT_EQ(
      FindRequest("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked"
                  "\r\n\r\n",
                  limits)
          .status,
      FrameStatus::kMalformed);
  EXPECT_EQ(
      FindRequest("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", limits).status,
      FrameStatus::kUnsupported);
  EXPECT_EQ(
      FindRequest("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", limits)
          .status,
      FrameStatus::kMalformed);
  EXPECT_EQ(
      FindRequest("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", limits)
          .status,
      FrameStatus::kBodyTooLarge);
  EXPECT_EQ(
      FindRequest("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
                  limits)
          .status,
      FrameStatus::kMalformed);
  EXPECT_EQ(FindRequest("GET /a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", limits).status,
            FrameStatus::kMalformed);
}

TEST(FindRequest, ReadsConnectionAndExpectHeaders) {
  Frame frame = FindRequest("GET / HTTP/1.1\r\nHost: x\r\n\r\n", SmallLimits());
  EXPECT_TRUE(KeepsAlive(frame));
  frame = FindRequest("GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n", SmallLimits());
  EXPECT_FALSE(KeepsAlive(frame));
  frame = FindRequest("GET / HTTP/1.0\r\n\r\n", SmallLimits());
  EXPECT_TRUE(frame.http10);
  EXPECT_FALSE(KeepsAlive(frame));
  frame = FindRequest("GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n", SmallLimits());
  EXPECT_TRUE(KeepsAlive(frame));
  frame =
      FindRequest("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
                  SmallLimits());
  EXPECT_EQ(frame.status, FrameStatus::kIncomplete);
  EXPECT_TRUE(frame.expects_continue);
  EXPECT_GT(frame.header_length, 0u);
}

// What a frame says, as the server reads it.
struct Reading {
  std::string method, path, query, body, authorization;
};

Reading Read(std::string_view request, const Frame& frame) {
  std::string scratch;
  Reading reading;
  reading.method = frame.method.In(request);
  reading.path = frame.path.In(request);
  reading.query = frame.query.In(request);
  reading.body = RequestBody(request, frame, &scratch);
  reading.authorization = frame.authorization.In(request);
  return reading;
}

TEST(FindRequest, ReadsContentTypeAndContentEncodingForTheOtlpRoutes) {
  const std::string request =
      "POST /v1/traces HTTP/1.1\r\nHost: x\r\ncontent-type:  application/x-protobuf \r\n"
      "Content-Encoding: gzip\r\nContent-Length: 0\r\n\r\n";
  const Frame frame = FindRequest(request, FrameLimits());
  ASSERT_EQ(frame.status, FrameStatus::kComplete) << frame.error;
  EXPECT_EQ(frame.content_type.In(request), "application/x-protobuf");
  EXPECT_EQ(frame.content_encoding.In(request), "gzip");
}

TEST(FindRequest, ReadsTheTargetTheBodyAndTheFieldsTheApiUses) {
  std::string request =
      "GET /v1/events/a%3Ab?limit=5&x HTTP/1.1\r\nHost: [::1]:8000\r\n"
      "Authorization:   Bearer t0ken  \r\nDate: x\r\nCookie: =;;\r\nAccept: zz\r\n\r\n";
  Frame frame = FindRequest(request, FrameLimits());
  ASSERT_EQ(frame.status, FrameStatus::kComplete) << frame.error;
  Reading reading = Read(request, frame);
  EXPECT_EQ(reading.method, "GET");
  EXPECT_EQ(reading.path, "/v1/events/a%3Ab");
  EXPECT_EQ(reading.query, "limit=5&x");
  EXPECT_EQ(reading.authorization, "Bearer t0ken");

  // Absolute form (RFC 9112 3.2.2), and a chunked body with an extension and a trailer.
  request =
      "POST http://localhost:8000/v1/telemetry HTTP/1.1\r\nHost: localhost:8000\r\n"
      "Transfer-Encoding: chunked \r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
  frame = FindRequest(request, FrameLimits());
  ASSERT_EQ(frame.status, FrameStatus::kComplete) << frame.error;
  reading = Read(request, frame);
  EXPECT_EQ(reading.path, "/v1/telemetry");
  EXPECT_EQ(reading.body, "abcde");
  EXPECT_EQ(frame.length, request.size());

  // An absolute-form target without a path: an empty path inside the request (found by fuzzing:
  // its span pointed nowhere).
  request = "HEAD http://example HTTP/1.0\r\n\r\n";
  frame = FindRequest(request, FrameLimits());
  ASSERT_EQ(frame.status, FrameStatus::kComplete) << frame.error;
  EXPECT_LE(frame.path.offset + frame.path.length, frame.header_length);
  EXPECT_EQ(Read(request, frame).path, "");

  // HTTP/1.0 needs no Host, and knows no 100 Continue.
  request = "POST /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  frame = FindRequest(request, FrameLimits());
  EXPECT_EQ(frame.status, FrameStatus::kIncomplete);
  EXPECT_GT(frame.header_length, 0u);
  EXPECT_FALSE(frame.expects_continue);
}

// Each of these is read one way by one HTTP reader and another way by another (a proxy in front
// of DriftWatch, say): refused, with the status RFC 9110 / 9112 give it.
TEST(FindRequest, RefusesWhatTwoReadersCouldReadDifferently) {
  const std::vector<std::pair<std::string, FrameStatus>> cases = {
      {"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length : 38\r\n\r\n", FrameStatus::kMalformed},
      {"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length\t: 38\r\n\r\n", FrameStatus::kMalformed},
      {"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
       FrameStatus::kMalformed},
      {"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\nContent-Length: 38\r\n\r\n", FrameStatus::kMalformed},
      {"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", FrameStatus::kMalformed},
      {std::string("GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 37), FrameStatus::kMalformed},
      {"GET /a HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n", FrameStatus::kMalformed},
      {std::string("GET /a HTTP/1.1\r\nHost: x\r\nX\0A: 1\r\n\r\n", 35), FrameStatus::kMalformed},
      {"GET /a HTTP/1.1\nHost: x\n\n", FrameStatus::kMalformed},
      {"GET /v1/services HTTP/1\r\nHost: x\r\n\r\n", FrameStatus::kMalformed},
      {"GET /v1/services \r\nHost: x\r\n\r\n", FrameStatus::kMalformed},
      {"GET /health?\r\nX-A: H\r\n\r\n", FrameStatus::kMalformed},
      {"GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", FrameStatus::kMalformed},
      {"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", FrameStatus::kMalformed},
      {"GET  /a HTTP/1.1\r\nHost: x\r\n\r\n", FrameStatus::kMalformed},
      {"GET /a HTTP/1.1 \r\nHost: x\r\n\r\n", FrameStatus::kMalformed},
      {"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", FrameStatus::kMalformed},
      {"G@T /a HTTP/1.1\r\nHost: x\r\n\r\n", FrameStatus::kMalformed},
      {"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", FrameStatus::kVersionUnsupported},
      {"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", FrameStatus::kVersionUnsupported},
      {"GET /" + std::string(17 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
       FrameStatus::kTargetTooLong},
      {"GET /a HTTP/1.1\r\n\r\n", FrameStatus::kMalformed},
      {"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", FrameStatus::kMalformed},
      {"GET /a HTTP/1.1\r\nHost: a b/c\r\n\r\n", FrameStatus::kMalformed},
      {"GET /a HTTP/1.1\r\nHost: a:b\r\n\r\n", FrameStatus::kMalformed},
      {"GET /a HTTP/1.1\r\nHost: x\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
       FrameStatus::kMalformed},
      {"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
       FrameStatus::kMalformed},
      {"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n",
       FrameStatus::kMalformed},
      {"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
       FrameStatus::kUnsupported},
  };
  for (const auto& [request, status] : cases) {
    const Frame frame = FindRequest(request, FrameLimits());
    EXPECT_EQ(frame.status, status) << testing::PrintToString(request);
    EXPECT_FALSE(frame.error.empty()) << testing::PrintToString(request);
  }
}

// Read a byte at a time with one FrameProgress, a request frames as it does at once, and the
// progress moves with the bytes instead of starting over (a body in many small pieces costs time
// in proportion to its size).
TEST(FindRequest, ReadingInPiecesGoesOnWhereItStopped) {
  std::string chunks;
  for (int i = 0; i < 200; ++i) chunks += "1\r\na\r\n";
  const std::string request =
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + "0\r\n\r\n";
  FrameProgress progress;
  Frame frame;
  for (size_t cut = 1; cut <= request.size(); ++cut) {
    frame = FindRequest(std::string_view(request).substr(0, cut), FrameLimits(), &progress);
    if (cut < request.size()) {
      ASSERT_EQ(frame.status, FrameStatus::kIncomplete) << cut;
      if (progress.head.header_length > 0) {
        EXPECT_GE(progress.chunk_next + 8, cut) << "framing fell behind the bytes at " << cut;
      }
    }
  }
  ASSERT_EQ(frame.status, FrameStatus::kComplete);
  EXPECT_EQ(frame.length, request.size());
  std::string scratch;
  EXPECT_EQ(RequestBody(request, frame, &scratch), std::string(200, 'a'));
}

// What Pistache's own parser makes of a request, in the fields the API reads.
struct PistacheView {
  bool parsed = false;
  std::string method, resource, body, authorization;
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
  if (auto authorization = parsed.headers().tryGet<Http::Header::Authorization>()) {
    view.authorization = authorization->value();
  }
  view.http10 = parsed.version() == Http::Version::Http10;
  return view;
}

// Ordinary requests, made at random: whenever both DriftWatch and Pistache's parser take one,
// they read the same method, path, body, Authorization and version. (DriftWatch is the stricter
// reader; Pistache is a second opinion on what the ordinary requests mean.)
TEST(FindRequest, OrdinaryRequestsReadAsPistacheReadsThem) {
  std::mt19937 random(2026);
  const auto pick = [&](const std::vector<std::string>& choices) {
    return choices[random() % choices.size()];
  };
  const std::string path_chars = "abcXYZ019-._~%!$&'()*+,;=:@/";
  int compared = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string target = "/";
    for (size_t n = random() % 12; n > 0; --n) target += path_chars[random() % path_chars.size()];
    const std::string body(random() % 3 == 0 ? 0 : random() % 40, 'b');
    std::vector<std::string> headers = {
        pick({"User-Agent", "user-agent"}) + ": " + pick({"wrk", "curl/8 (x)", "a\tb"}),
        pick({"Accept", "accept"}) + ": " + pick({"*/*", "application/json"}),
        pick({"Connection", "connection"}) + ": " + pick({"keep-alive", "Close"}),
        pick({"Authorization", "authorization"}) + ":" + pick({" Bearer t", "Bearer  t", " "}),
        pick({"X-Trace", "x-id"}) + ": " + pick({"1", "", "a b"}),
        pick({"Content-Type", "Content-type"}) + ": application/json",
    };
    std::shuffle(headers.begin(), headers.end(), random);
    headers.resize(random() % headers.size());
    headers.push_back(pick({"Host", "host"}) + ": " + pick({"a.b", "x:8080", "127.0.0.1"}));
    if (!body.empty() || random() % 2 == 0) {
      headers.push_back("Content-Length: " + std::to_string(body.size()));
    }
    std::string request =
        pick({"GET", "POST"}) + " " + target + " " + pick({"HTTP/1.1", "HTTP/1.0"}) + "\r\n";
    for (const std::string& header : headers) request += header + "\r\n";
    request += "\r\n" + body;
    const Frame frame = FindRequest(request, FrameLimits());
    const PistacheView pistache = ParseWithPistache(request);
    if (frame.status != FrameStatus::kComplete || !pistache.parsed) continue;
    ++compared;
    SCOPED_TRACE(request);
    const Reading reading = Read(request, frame);
    EXPECT_EQ(reading.method, pistache.method);
    EXPECT_EQ(reading.path, pistache.resource);
    EXPECT_EQ(reading.body, pistache.body);
    EXPECT_EQ(reading.authorization, pistache.authorization);
    EXPECT_EQ(frame.http10, pistache.http10);
    if (HasFailure()) return;  // the first request read differently is the one to look at
  }
  EXPECT_GT(compared, 3000);  // most of them are ordinary enough for both
}

}  // namespace
}  // namespace driftwatch::api
