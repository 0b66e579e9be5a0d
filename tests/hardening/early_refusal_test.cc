// An early refusal (413 from the headers alone) through HTTP against the real binary, while the
// client is still sending the body it refused: the answer must reach the client without waiting
// for it to stop, and the connection must still be closed within a bounded time however long the
// client goes on sending (docs/operations.md, "Limits").
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/hardening/service.h"

namespace driftwatch::testing {
namespace {

constexpr char kConfig[] = "server:\n  max_request_bytes: 65536\n";
constexpr size_t kChunk = 16 * 1024;

// The headers of a request whose body is far over the limit, and the body's first bytes.
std::string OversizedStart() {
  return "POST /v1/telemetry/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
         "application/json\r\nContent-Length: 1000000000\r\n\r\n[" +
         std::string(kChunk, ' ');
}

TEST(EarlyRefusal, TheAnswerArrivesWhileTheClientIsStillSending) {
  Service service(kConfig);
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;

  // Each round keeps sending for a while without reading, as a client that reads only once it
  // has sent everything does; the answer must be there before the client stops.
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    RawConnection connection;
    ASSERT_TRUE(connection.Connect(service.port()));
    ASSERT_TRUE(connection.Send(OversizedStart()));
    HttpResponse response;
    bool answered = false;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (!answered && std::chrono::steady_clock::now() < until) {
      if (!connection.Send(std::string(kChunk, ' '))) break;  // closed: any answer is read below
      answered = connection.Read(&response, std::chrono::milliseconds(10));
    }
    if (!answered) answered = connection.Read(&response, std::chrono::milliseconds(200));
    ASSERT_TRUE(answered) << "no answer while the client was still sending";
    EXPECT_EQ(response.status, 413) << response.body;
    EXPECT_NE(response.body.find("payload_too_large"), std::string::npos) << response.body;
    EXPECT_EQ(response.Header("Connection"), "Close");
  }
  EXPECT_EQ(service.Status()["limits"]["max_request_bytes"]["rejected"].GetUint64(), 20u);
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

TEST(EarlyRefusal, AClientThatNeverStopsSendingIsCutOff) {
  Service service(kConfig);
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  RawConnection connection;
  ASSERT_TRUE(connection.Connect(service.port()));
  ASSERT_TRUE(connection.Send(OversizedStart()));
  HttpResponse response;
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 413) << response.body;

  // The server has stopped writing (end of stream) but still reads what comes, for a while: a
  // trickle of bytes must not keep the connection open. Once the server closes it, a send fails.
  EXPECT_TRUE(connection.ClosedByServer());
  const auto start = std::chrono::steady_clock::now();
  bool cut_off = false;
  while (!cut_off && std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    cut_off = !connection.Send(" ");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(cut_off) << "the connection was still open after 20 s";

  // The server goes on serving.
  EXPECT_EQ(service.Post("/v1/telemetry", SampleJson("after", 1)).status, 202);
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

}  // namespace
}  // namespace driftwatch::testing
