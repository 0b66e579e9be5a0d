// Request framing: where one request ends in a connection's bytes (pipelining, chunked bodies,
// limits), and when a connection stays open.
#include "api/http_framing.h"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace driftwatch::api
