// Overload, through HTTP against the real binary: many clients outrun a deliberately small ingest
// queue. The service must answer 503 with Retry-After (accepting nothing of such a request), keep
// its memory under the documented cap, and store every sample it answered 202 for.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tests/hardening/service.h"

namespace driftwatch::testing {
namespace {

constexpr int kClients = 8;
constexpr int kRequestsPerClient = 400;
constexpr int kBatchSize = 32;
// docs/operations.md: at most about 560 bytes of queued and uncommitted samples per sample of
// ingest.queue_capacity, plus 2 x (max_request_bytes + 16 KiB) per connection and about
// 2 x max_request_bytes per HTTP thread while a body is parsed. For this config (64 samples,
// 64 KiB bodies, 8 connections, 2 threads) that is under 2 MiB; the bound below leaves room for
// the allocator and the thread stacks of a loaded process.
constexpr uint64_t kMaxGrowthKiB = 64 * 1024;
constexpr char kConfig[] =
    "ingest:\n  queue_capacity: 64\n"
    "storage:\n  commit_interval_ms: 20\n"
    "server:\n  threads: 2\n  max_request_bytes: 65536\n";

struct ClientResult {
  uint64_t accepted_samples = 0;
  uint64_t overloaded = 0;  // 503 overloaded, with Retry-After: 1
  uint64_t unexpected = 0;  // anything else
  std::string first_unexpected;
  int connections = 0;  // TCP connections opened: 1 when the server kept it open throughout
};

// Sends batches on one kept-alive connection, without pausing after a 503.
void RunClient(uint16_t port, const std::string& service_id, ClientResult* result) {
  http::HttpClient client(http::LoopbackUrl(port),
                          {std::chrono::seconds(30), std::chrono::seconds(60)});
  for (int i = 0; i < kRequestsPerClient; ++i) {
    const std::string body = BatchJson(service_id, kBatchSize, 100 + i % 10);
    HttpResponse response;
    if (const Status sent = client.Post("/v1/telemetry/batch", body, &response); !sent.ok()) {
      ++result->unexpected;
      result->first_unexpected = "no answer: " + sent.message();
      result->connections = client.connections_opened();
      return;
    }
    const rapidjson::Document json = ParseStrictJson(response.body);
    const std::string error =
        json.IsObject() && json.HasMember("error") ? json["error"].GetString() : "";
    if (response.status == 202) {
      result->accepted_samples += kBatchSize;
    } else if (response.status == 503 && error == "overloaded" &&
               response.Header("Retry-After") == "1") {
      ++result->overloaded;
    } else {
      ++result->unexpected;
      if (result->first_unexpected.empty()) {
        result->first_unexpected = std::to_string(response.status) + " " + response.body;
      }
    }
  }
  result->connections = client.connections_opened();
}

TEST(Overload, ExcessIsRefusedWith503MemoryStaysBoundedAndEveryAcceptedSampleIsStored) {
  Service service(kConfig);
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  // Warm up (allocator, connections, plugin state), then take the baseline.
  // One batch at a time: the queue holds only two, and the load comes later.
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(service.Post("/v1/telemetry/batch", BatchJson("warm-up", kBatchSize)).status, 202);
    ASSERT_TRUE(Eventually([&] { return service.SampleCount("warm-up") == (i + 1) * kBatchSize; },
                           kPatience));
  }
  const uint64_t baseline_kib = service.ResidentKiB();
  ASSERT_GT(baseline_kib, 0u);

  std::vector<ClientResult> results(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back(RunClient, service.port(), "load-" + std::to_string(c), &results[c]);
  }
  for (std::thread& client : clients) client.join();

  uint64_t accepted = 5 * kBatchSize;  // the warm-up
  uint64_t overloaded = 0;
  for (const ClientResult& result : results) {
    EXPECT_EQ(result.unexpected, 0u) << result.first_unexpected;
    EXPECT_EQ(result.connections, 1) << "the service closed a kept-alive connection";
    accepted += result.accepted_samples;
    overloaded += result.overloaded;
  }
  EXPECT_GT(overloaded, 0u) << "the clients never outran the service";
  EXPECT_GT(accepted, 5u * kBatchSize) << "nothing got through";

  // The service counted exactly what the clients saw, and memory stayed under the cap. (Under a
  // sanitizer, its own allocator and shadow memory dominate the process's size.)
  const rapidjson::Document status = service.Status();
  EXPECT_EQ(status["samples_accepted"].GetUint64(), accepted);
  EXPECT_EQ(status["rejected_queue_full"].GetUint64(), overloaded);
  EXPECT_EQ(status["limits"]["queue_capacity"]["rejected"].GetUint64(), overloaded);
  const uint64_t peak_kib = service.PeakResidentKiB();
  std::printf("accepted %llu samples, %llu requests answered 503\n",
              static_cast<unsigned long long>(accepted),
              static_cast<unsigned long long>(overloaded));
  std::printf("resident memory: %llu KiB before the load, peak %llu KiB\n",
              static_cast<unsigned long long>(baseline_kib),
              static_cast<unsigned long long>(peak_kib));
  if (!DRIFTWATCH_SANITIZED) {
    EXPECT_LE(peak_kib, baseline_kib + kMaxGrowthKiB);
  }

  // A graceful stop stores everything accepted: the restarted service has all of it.
  ASSERT_EQ(service.Stop(), 0) << service.process().Stderr();
  ASSERT_TRUE(service.Start(&error)) << error;
  EXPECT_TRUE(service.WaitForStoredSamples(accepted));
  for (int c = 0; c < kClients; ++c) {
    const std::string id = "load-" + std::to_string(c);
    EXPECT_EQ(service.SampleCount(id), results[c].accepted_samples == 0
                                           ? -1
                                           : static_cast<int64_t>(results[c].accepted_samples))
        << id;
  }
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

}  // namespace
}  // namespace driftwatch::testing
