// The HTTP front end against clients that try to take it down for everyone, or to be read
// differently by DriftWatch than by a proxy in front of it: the real binary, raw sockets, the
// bytes of each attack (docs/operations.md, "Connections and memory").
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/hardening/service.h"
#include "tests/support/eventually.h"
#include "tests/support/http_test_client.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr bool kSanitized = DRIFTWATCH_SANITIZED != 0;
constexpr bool kUndefinedBehaviourSanitized = DRIFTWATCH_UBSAN != 0;
// What the flood tests allow: memory above idle, and how long /health may take meanwhile.
constexpr uint64_t kFloodMemoryBoundKiB = 64 * 1024;
constexpr milliseconds kProbeBound{kSanitized ? 2000 : 100};

void StartOrFail(Service* service) {
  std::string error;
  ASSERT_TRUE(service->Start(&error)) << error;
}

// User and system CPU time the process has used, in seconds (/proc/PID/stat).
double CpuSeconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Asks GET /health on a fresh connection every few milliseconds while it runs, and keeps the
// longest wait for an answer (a probe that gets none counts as a minute).
class HealthProbe {
 public:
  explicit HealthProbe(uint16_t port)
      : thread_([this, port] {
          while (!stop_) {
            const auto start = Clock::now();
            const HttpResponse response = Fetch(port, "GET", "/health");
            const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
            longest_ =
                std::max(longest_.load(), response.status == 200 ? took : milliseconds(60000));
            ++probes_;
            std::this_thread::sleep_for(milliseconds(20));
          }
        }) {}
  ~HealthProbe() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  milliseconds longest() const { return longest_; }
  int probes() const { return probes_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<milliseconds> longest_{milliseconds(0)};
  std::atomic<int> probes_{0};
  std::thread thread_;
};

// Sends `bytes` for at most `duration`, never blocking for long: what the server does not read
// stays unsent. Returns how much was sent.
size_t SendFor(int fd, std::string_view bytes, milliseconds duration) {
  const auto deadline = Clock::now() + duration;
  size_t sent = 0;
  while (sent < bytes.size() && Clock::now() < deadline) {
    const ssize_t n =
        ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) break;
    pollfd writable{fd, POLLOUT, 0};
    ::poll(&writable, 1, 10);
  }
  return sent;
}

std::string Repeat(const std::string& request, int times) {
  std::string all;
  all.reserve(request.size() * static_cast<size_t>(times));
  for (int i = 0; i < times; ++i) all += request;
  return all;
}

// A client pipelines `request` 50,000 times and never reads an answer. The server must stop
// reading it (its sends block) instead of queueing answers, and everyone else is served.
void ExpectNeverReadFloodIsBounded(Service& service, const std::string& request) {
  const uint64_t idle_kib = service.ResidentKiB();
  RawConnection flooder;
  ASSERT_TRUE(flooder.Connect(service.port()));
  const std::string flood = Repeat(request, 50000);
  HealthProbe probe(service.port());
  size_t sent = 0;
  const auto until = Clock::now() + milliseconds(3000);
  while (Clock::now() < until) sent += SendFor(flooder.fd(), flood, milliseconds(100));
  const uint64_t flooding_kib = service.ResidentKiB();
  probe.Stop();
  std::printf(
      "flood: %zu bytes sent; GET /health took %lld ms at most (%d probes); RSS %llu KiB "
      "idle, %llu KiB flooding\n",
      sent, static_cast<long long>(probe.longest().count()), probe.probes(),
      static_cast<unsigned long long>(idle_kib), static_cast<unsigned long long>(flooding_kib));
  EXPECT_GT(sent, 0u);
  EXPECT_GE(probe.probes(), 10);
  EXPECT_LT(probe.longest(), kProbeBound) << "GET /health waited while another client flooded";
  if (!kSanitized) {
    EXPECT_LT(flooding_kib, idle_kib + kFloodMemoryBoundKiB)
        << "idle " << idle_kib << " KiB, flooding " << flooding_kib << " KiB, " << sent
        << " bytes sent";
  }
  flooder.Close();
  EXPECT_TRUE(Eventually([&] { return service.Get("/health").status == 200; }, kPatience));
  if (!kSanitized) {
    EXPECT_LT(service.ResidentKiB(), idle_kib + kFloodMemoryBoundKiB);
  }
}

TEST(Flood, APipelineThatIsNeverReadStaysBounded) {
  Service service;
  StartOrFail(&service);
  ExpectNeverReadFloodIsBounded(service, "GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

TEST(Flood, UnauthenticatedRequestsNeverReadStayBounded) {
  // One thread: the flooder and the probes share it (a sanitized run once showed it held).
  Service service("server:\n  threads: 1\n  auth_tokens: [\"s3cret\"]\n");
  StartOrFail(&service);
  ExpectNeverReadFloodIsBounded(service, "GET /v1/services HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

// A client floods GET /health and reads its answers: it gets them while it floods, and the
// others on its reactor thread are served meanwhile.
TEST(Flood, AReadingFlooderIsAnsweredAndSharesTheThread) {
  Service service("server:\n  threads: 1\n");
  StartOrFail(&service);
  RawConnection flooder;
  ASSERT_TRUE(flooder.Connect(service.port()));
  std::atomic<bool> flooding{true};
  std::atomic<size_t> received_while_flooding{0};
  std::thread reader([&] {
    char buffer[65536];
    while (true) {
      pollfd readable{flooder.fd(), POLLIN, 0};
      if (::poll(&readable, 1, 200) <= 0) {
        if (!flooding) break;
        continue;
      }
      const ssize_t n = ::recv(flooder.fd(), buffer, sizeof buffer, 0);
      if (n <= 0) break;
      if (flooding) received_while_flooding += static_cast<size_t>(n);
    }
  });
  const std::string burst = Repeat("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
  HealthProbe probe(service.port());
  const auto until = Clock::now() + milliseconds(3000);
  while (Clock::now() < until) SendFor(flooder.fd(), burst, milliseconds(100));
  probe.Stop();
  flooding = false;
  flooder.ShutdownWrite();
  reader.join();
  EXPECT_GT(received_while_flooding.load(), 100000u);
  EXPECT_LT(probe.longest(), kProbeBound);
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

// More answers than a connection may leave unwritten (256 KiB) pause its reading, and reading
// goes on as the client reads them: every answer arrives, in order. (This rests on Pistache
// telling when an answer is written: api/http_transport.h.)
TEST(Flood, AnswersBeyondWhatMayWaitUnwrittenAllArrive) {
  Service service;
  StartOrFail(&service);
  const size_t document = service.Get("/openapi.json").body.size();
  ASSERT_GT(document, 1000u);
  const int count = static_cast<int>(4 * 256 * 1024 / document) + 2;
  RawConnection connection;
  ASSERT_TRUE(connection.Connect(service.port()));
  ASSERT_TRUE(connection.Send(Repeat("GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n", count) +
                              BuildRequest("GET", "/health", "")));
  HttpResponse response;
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(connection.Read(&response)) << i;
    ASSERT_EQ(response.body.size(), document) << i;
  }
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.body, R"({"status":"ok"})");
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

// Every connection the server closes, whichever way, gives its descriptor back (Pistache's
// removePeer closes it: api/http_transport.cc).
TEST(Connections, ClosingGivesEveryDescriptorBack) {
  Service service("server:\n  keepalive_timeout_ms: 300\n");
  StartOrFail(&service);
  const auto descriptors = [&] {
    int count = 0;
    for (const auto& entry :
         std::filesystem::directory_iterator("/proc/" + std::to_string(service.pid()) + "/fd")) {
      (void)entry;
      ++count;
    }
    return count;
  };
  EXPECT_EQ(service.Get("/health").status, 200);
  std::this_thread::sleep_for(milliseconds(kSanitized ? 2000 : 500));
  const int before = descriptors();
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<RawConnection>());
    RawConnection& connection = *idle.back();
    ASSERT_TRUE(connection.Connect(service.port()));
    switch (i % 4) {
      case 0:  // answered, then closed by the client
        ASSERT_TRUE(connection.Send(BuildRequest("GET", "/health", "")));
        break;
      case 1:  // refused: closed by the server
        ASSERT_TRUE(connection.Send("GET /health HTTP/7.0\r\nHost: x\r\n\r\n"));
        break;
      case 2:  // half-closed
        ASSERT_TRUE(connection.Send(BuildRequest("GET", "/health", "")));
        ASSERT_TRUE(connection.ShutdownWrite());
        break;
      default:  // idle: closed by the server after keepalive_timeout_ms
        break;
    }
    if (i % 4 != 3) {
      HttpResponse response;
      ASSERT_TRUE(connection.Read(&response)) << i;
      idle.pop_back();  // closed by the client
    }
  }
  for (auto& connection : idle) EXPECT_TRUE(connection->ClosedByServer());
  EXPECT_TRUE(Eventually([&] { return descriptors() <= before; }, kPatience))
      << before << " descriptors before, " << descriptors() << " after";
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

// Connections beyond server.max_connections (by default what the open-file limit allows, less a
// reserve) get a 503 at once; the service keeps its CPU; freed slots serve again.
TEST(Connections, BeyondTheLimitAreRefusedAtOnceAndNothingSpins) {
  Service service("server:\n  keepalive_timeout_ms: 60000\n", 128);
  StartOrFail(&service);
  const rapidjson::Document status = service.Status();
  ASSERT_TRUE(status.HasMember("limits"));
  const uint64_t limit = status["limits"]["max_connections"]["limit"].GetUint64();
  EXPECT_EQ(limit, 96u);  // 128 less the reserve of 32
  EXPECT_TRUE(
      Eventually([&] { return service.Status()["open_connections"].GetUint64() == 1; }, kPatience));
  // That status request's own connection closes on the server's side soon after, not at once.
  std::this_thread::sleep_for(milliseconds(kSanitized ? 2000 : 500));

  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 150; ++i) {
    idle.push_back(std::make_unique<RawConnection>());
    ASSERT_TRUE(idle.back()->Connect(service.port())) << i;
  }
  // The refused ones have their answer waiting; the others have nothing to read. Waits for all of
  // them at once (a loaded machine may take a while to accept 150 connections), then a moment more.
  const int expected = 150 - static_cast<int>(limit);
  const auto readable = [&] {
    std::vector<pollfd> fds;
    for (auto& connection : idle) fds.push_back({connection->fd(), POLLIN, 0});
    ::poll(fds.data(), fds.size(), 0);
    return static_cast<int>(
        std::count_if(fds.begin(), fds.end(), [](const pollfd& fd) { return fd.revents != 0; }));
  };
  EXPECT_TRUE(Eventually([&] { return readable() >= expected; }, kPatience));
  std::this_thread::sleep_for(milliseconds(200));
  int refused = 0;
  for (auto& connection : idle) {
    pollfd fd{connection->fd(), POLLIN, 0};
    if (::poll(&fd, 1, 0) <= 0) continue;
    HttpResponse response;
    ASSERT_TRUE(connection->Read(&response));
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.Header("Retry-After"), "1");
    ++refused;
  }
  EXPECT_EQ(refused, expected);

  const auto start = Clock::now();
  EXPECT_EQ(service.Get("/health").status, 503);  // at once, not after a time-out
  EXPECT_LT(Clock::now() - start, milliseconds(kSanitized ? 10000 : 3000));

  const double cpu_before = CpuSeconds(service.pid());
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_LT(CpuSeconds(service.pid()) - cpu_before, 0.3) << "the service spins while full";

  idle.clear();
  EXPECT_TRUE(Eventually([&] { return service.Get("/health").status == 200; }, kPatience));
  const rapidjson::Document after = service.Status();
  EXPECT_GE(after["limits"]["max_connections"]["rejected"].GetUint64(), 150 - limit + 1);
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

// With a connection limit above what the descriptors allow, accept() itself fails: the connection
// is shed on a spare descriptor, and accepting pauses instead of spinning.
TEST(Connections, RunningOutOfDescriptorsNeverSpins) {
  // UBSan's type check asks the kernel, through a pipe, whether an object's vtable is readable. In
  // a process with no descriptor left the pipe fails, and each check that misses UBSan's cache is
  // reported as an object of the wrong type (seen on shared_ptr copies in the reactors, whose
  // objects gdb showed intact). The finding is the sanitizer's own; the plain build and TSan run
  // this test.
  if (kUndefinedBehaviourSanitized) GTEST_SKIP() << "UBSan's type check needs a free descriptor";
  Service service("server:\n  max_connections: 1000\n", 64);
  StartOrFail(&service);
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<RawConnection>());
    ASSERT_TRUE(idle.back()->Connect(service.port())) << i;
  }
  std::this_thread::sleep_for(milliseconds(300));
  const double cpu_before = CpuSeconds(service.pid());
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_LT(CpuSeconds(service.pid()) - cpu_before, 0.3) << "the service spins without fds";
  idle.clear();
  EXPECT_TRUE(Eventually([&] { return service.Get("/health").status == 200; }, kPatience));
  EXPECT_GE(service.Status()["limits"]["max_connections"]["rejected"].GetUint64(), 1u);
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

// A chunked body of 1 MB sent in 12-byte pieces: framing goes on where it stopped, so it costs
// about what the same bytes cost at once (it took 19 s of CPU when every read started over).
TEST(Framing, AChunkedBodyInTinyPiecesCostsLittleCpu) {
  Service service;
  StartOrFail(&service);
  std::string body;
  while (body.size() < 1000000) body += "1\r\na\r\n";
  body += "0\r\n\r\n";
  RawConnection connection;
  ASSERT_TRUE(connection.Connect(service.port()));
  ASSERT_TRUE(connection.Send(
      "POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const double cpu_before = CpuSeconds(service.pid());
  for (size_t at = 0; at < body.size(); at += 12) {
    ASSERT_TRUE(connection.Send(std::string_view(body).substr(at, 12)));
  }
  HttpResponse response;
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 400) << response.body;  // not JSON; what matters is the cost
  if (!kSanitized) {
    EXPECT_LT(CpuSeconds(service.pid()) - cpu_before, 3.0);
  }
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

// A client that shuts its sending side after a request still gets the answer (RFC 9112 9.6).
TEST(HalfClose, TheAnswerArrivesThenTheEnd) {
  Service service;
  StartOrFail(&service);
  RawConnection connection;
  ASSERT_TRUE(connection.Connect(service.port()));
  ASSERT_TRUE(connection.Send(BuildRequest("GET", "/health", "")));
  ASSERT_TRUE(connection.ShutdownWrite());
  HttpResponse response;
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(connection.ClosedByServer());

  // A sample: answered 202, and stored once (a client that got no answer would send it again).
  ASSERT_TRUE(connection.Connect(service.port()));
  ASSERT_TRUE(connection.Send(BuildRequest("POST", "/v1/telemetry", SampleJson("half", 5)) +
                              BuildRequest("POST", "/v1/telemetry", SampleJson("half", 6)) +
                              "GET /v1/ser"));  // unfinished: dropped
  ASSERT_TRUE(connection.ShutdownWrite());
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 202);
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 202);
  EXPECT_TRUE(connection.ClosedByServer());
  EXPECT_TRUE(Eventually([&] { return service.SampleCount("half") == 2; }, kPatience));
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

// Each of these is answered with its status and the connection closed; the bytes after it are
// never read as a request of their own.
TEST(Strictness, RequestsTwoReadersCouldReadDifferentlyAreRefused) {
  Service service;
  StartOrFail(&service);
  const std::string hidden = "GET /v1/services HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<std::pair<std::string, int>> cases = {
      {"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Length : 38\r\n\r\n" + hidden, 400},
      {"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Length\t: 38\r\n\r\n" + hidden, 400},
      {"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n" + hidden,
       400},
      {"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\nContent-Length: 38\r\n\r\n" + hidden, 400},
      {"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400},
      {std::string("GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 42), 400},
      {"GET /health HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n", 400},
      {"GET /v1/services HTTP/1\r\nHost: x\r\n\r\n", 400},
      {"GET /v1/services \r\nHost: x\r\n\r\n", 400},
      {"GET /health?\r\nX-A: H\r\n\r\n", 400},
      {"GET /health\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET /health HTTP/3.0\r\nHost: x\r\n\r\n", 505},
      {"GET /" + std::string(17 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"GET /health HTTP/1.1\r\n\r\n", 400},
      {"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"GET /health HTTP/1.1\r\nHost: a b/c\r\n\r\n", 400},
      {"GET /health HTTP/1.1\r\nHost: a:b\r\n\r\n", 400},
      {"POST /v1/telemetry HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive"
       "\r\n\r\n0\r\n\r\n",
       400},
  };
  for (const auto& [request, status] : cases) {
    SCOPED_TRACE(::testing::PrintToString(request.substr(0, 120)));
    RawConnection connection;
    ASSERT_TRUE(connection.Connect(service.port()));
    ASSERT_TRUE(connection.Send(request));
    HttpResponse response;
    ASSERT_TRUE(connection.Read(&response));
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_FALSE(ParseStrictJson(response.body).HasParseError());
    EXPECT_TRUE(connection.ClosedByServer());  // and no second answer before the end
  }
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

// Fields the API does not use are never its errors; the forms RFC 9112 allows are taken.
TEST(Strictness, WhatRfc9112AllowsIsAnswered) {
  Service service;
  StartOrFail(&service);
  const std::vector<std::pair<std::string, int>> cases = {
      {"GET /health HTTP/1.1\r\nHost: x\r\nDate: x\r\n\r\n", 200},
      {"GET /health HTTP/1.1\r\nHost: x\r\nCookie: =;;\r\n\r\n", 200},
      {"GET /health HTTP/1.1\r\nHost: x\r\nAccept: zz\r\n\r\n", 200},
      {"GET http://localhost:8000/health HTTP/1.1\r\nHost: localhost:8000\r\n\r\n", 200},
      {"GET /health HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n", 200},
      {"GET /health HTTP/1.0\r\n\r\n", 200},
      {"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked \r\n\r\n"
       "22\r\n{\"service_id\":\"te\",\"latency_ms\":1}\r\n0\r\n\r\n",
       202},
  };
  for (const auto& [request, status] : cases) {
    SCOPED_TRACE(::testing::PrintToString(request));
    RawConnection connection;
    ASSERT_TRUE(connection.Connect(service.port()));
    ASSERT_TRUE(connection.Send(request));
    HttpResponse response;
    ASSERT_TRUE(connection.Read(&response));
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_NE(response.Header("Date").value_or(""), "");
    EXPECT_EQ(response.Header("X-Content-Type-Options"), "nosniff");
  }

  // HTTP/1.0 and Expect: 100-continue: no interim answer (RFC 9110 10.1.1), just the answer.
  RawConnection connection;
  ASSERT_TRUE(connection.Connect(service.port()));
  const std::string sample = SampleJson("expect10", 5);
  ASSERT_TRUE(
      connection.Send("POST /v1/telemetry HTTP/1.0\r\nExpect: 100-continue\r\n"
                      "Content-Length: " +
                      std::to_string(sample.size()) + "\r\n\r\n" + sample));
  HttpResponse response;
  ASSERT_TRUE(connection.Read(&response));
  EXPECT_EQ(response.status, 202);
  EXPECT_TRUE(connection.ClosedByServer());
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

TEST(Head, IsGetWithoutTheBody) {
  Service service;
  StartOrFail(&service);
  const HttpResponse get = service.Get("/openapi.json");
  ASSERT_EQ(get.status, 200);
  RawConnection connection;
  ASSERT_TRUE(connection.Connect(service.port()));
  ASSERT_TRUE(
      connection.Send("HEAD /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
                      "HEAD /v1/telemetry HTTP/1.1\r\nHost: x\r\n\r\n" +
                      BuildRequest("GET", "/health", "")));
  HttpResponse head;
  ASSERT_TRUE(connection.ReadHead(&head));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(get.body.size()));
  EXPECT_EQ(head.Header("Content-Type"), get.Header("Content-Type"));
  ASSERT_TRUE(connection.ReadHead(&head));
  EXPECT_EQ(head.status, 405);
  EXPECT_EQ(head.Header("Allow"), "POST");
  HttpResponse next;  // follows at once: the HEAD answers carried no body
  ASSERT_TRUE(connection.Read(&next));
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, R"({"status":"ok"})");

  const HttpResponse docs = service.Get("/docs");
  EXPECT_EQ(docs.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(docs.Header("Content-Security-Policy").value_or("").find("default-src 'none'"),
            std::string::npos);
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

TEST(AccessLog, OneLinePerRequestAndNeverAToken) {
  TestDir dir;
  const std::string log = dir.File("access.log");
  Service service("server:\n  access_log: " + log + "\n  auth_tokens: [\"s3cret-token\"]\n");
  StartOrFail(&service);
  EXPECT_EQ(service.Get("/health").status, 200);
  EXPECT_EQ(service.Get("/v1/services", "Authorization: Bearer s3cret-token\r\n").status, 200);
  EXPECT_EQ(service.Get("/v1/services", "Authorization: Bearer wrong-token\r\n").status, 401);
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();

  std::ifstream file(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find(" GET /health 200 15 "), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(" 127.0.0.1:"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(" GET /v1/services 200 "), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find(" GET /v1/services 401 "), std::string::npos) << lines[2];
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find("token"), std::string::npos) << line;
    ASSERT_GT(line.size(), 24u);
    EXPECT_EQ(line[23], 'Z') << line;  // the time first, in UTC to the millisecond
  }
}

}  // namespace
}  // namespace driftwatch::testing
