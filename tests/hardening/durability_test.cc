// Hard kills under load, through HTTP against the real binary. In durable mode (ingest.durable)
// a 202 is sent only once the sample is committed, so SIGKILL at any moment loses no acknowledged
// sample. In the default mode, a kill may lose what was acknowledged within the last commit
// interval (and what was still queued), never anything older.
//
// Samples of one service are stored in the order they were accepted, and each client below is
// the only one sending for its service, one request at a time: the stored samples of a service
// are therefore the first N it sent, and "every acknowledged sample is stored" is "N >= the
// number acknowledged".
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/hardening/service.h"

namespace driftwatch::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Sends samples of one service on one kept-alive connection, alternating single samples and
// batches of kBatch, until the connection breaks (the service was killed) or `stop` is set.
// Records how many samples were acknowledged (202), and when.
class Client {
 public:
  static constexpr int kBatch = 5;

  Client(uint16_t port, std::string service_id) : port_(port), service_id_(std::move(service_id)) {}

  void Run(const std::atomic<bool>& stop) {
    http::HttpClient client(http::LoopbackUrl(port_),
                            {std::chrono::seconds(30), std::chrono::seconds(60)});
    for (int i = 0; !stop; ++i) {
      const bool batch = i % 2 == 1;
      const std::string path = batch ? "/v1/telemetry/batch" : "/v1/telemetry";
      const std::string body =
          batch ? BatchJson(service_id_, kBatch, 100) : SampleJson(service_id_, 100 + i % 7);
      HttpResponse response;
      if (!client.Post(path, body, &response).ok()) return;  // the service was killed
      if (response.status != 202) {
        unexpected_ = std::to_string(response.status) + " " + response.body;
        return;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      acknowledged_ += batch ? kBatch : 1;
      acks_.push_back({Clock::now(), acknowledged_});
    }
  }

  // Acknowledged samples in total, and those acknowledged no later than `until`.
  uint64_t Acknowledged() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return acknowledged_;
  }
  uint64_t AcknowledgedBy(Clock::time_point until) const {
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t count = 0;
    for (const Ack& ack : acks_) {
      if (ack.at <= until) count = ack.total;
    }
    return count;
  }
  const std::string& unexpected() const { return unexpected_; }

 private:
  struct Ack {
    Clock::time_point at;
    uint64_t total;  // acknowledged so far, this one included
  };
  const uint16_t port_;
  const std::string service_id_;
  mutable std::mutex mutex_;
  uint64_t acknowledged_ = 0;  // guarded by mutex_
  std::vector<Ack> acks_;      // guarded by mutex_
  std::string unexpected_;
};

TEST(Durability, DurableModeLosesNoAcknowledgedSampleAcrossHardKills) {
  constexpr int kCycles = 4;
  constexpr int kClients = 4;
  constexpr milliseconds kLoadTime{600};
  Service service("ingest:\n  durable: true\n");
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  std::vector<int64_t> stored(kClients, 0);  // per service, as the last restart found it
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<Client>> clients;
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c) {
      clients.push_back(std::make_unique<Client>(service.port(), "durable-" + std::to_string(c)));
      threads.emplace_back([&client = *clients.back(), &stop] { client.Run(stop); });
    }
    std::this_thread::sleep_for(kLoadTime);  // the load runs; then the kill comes without warning
    service.Kill();
    stop = true;
    for (std::thread& thread : threads) thread.join();
    // A sanitizer build reports what it found on stderr, which a kill does not stop.
    EXPECT_EQ(service.process().Stderr().find("Sanitizer"), std::string::npos)
        << service.process().Stderr();

    ASSERT_TRUE(service.Start(&error)) << error;
    uint64_t acknowledged_total = 0;
    for (int c = 0; c < kClients; ++c) {
      const std::string id = "durable-" + std::to_string(c);
      EXPECT_EQ(clients[c]->unexpected(), "");
      const int64_t count = std::max<int64_t>(service.SampleCount(id), 0);
      const uint64_t acknowledged = clients[c]->Acknowledged();
      acknowledged_total += acknowledged;
      // Everything stored before, plus everything acknowledged since (a sample whose answer the
      // kill cut off may be stored too).
      EXPECT_GE(count, stored[c] + static_cast<int64_t>(acknowledged)) << id;
      stored[c] = count;
    }
    std::printf("cycle %d: %llu samples acknowledged, then SIGKILL\n", cycle,
                static_cast<unsigned long long>(acknowledged_total));
    EXPECT_GT(acknowledged_total, 0u) << "no load reached the service";
  }

  // Pipelined requests are still answered in order: the read after three durable writes sees
  // them processed, because it is answered only after their (committed) answers.
  const int64_t before = service.SampleCount("durable-0");
  RawConnection connection;
  ASSERT_TRUE(connection.Connect(service.port()));
  std::string requests;
  for (int i = 0; i < 3; ++i) {
    requests += BuildRequest("POST", "/v1/telemetry", SampleJson("durable-0", 100));
  }
  requests += BuildRequest("GET", "/v1/health/durable-0", "");
  ASSERT_TRUE(connection.Send(requests));
  for (int i = 0; i < 3; ++i) {
    HttpResponse response;
    ASSERT_TRUE(connection.Read(&response));
    EXPECT_EQ(response.status, 202) << response.body;
  }
  HttpResponse health;
  ASSERT_TRUE(connection.Read(&health));
  ASSERT_EQ(health.status, 200);
  EXPECT_EQ(ParseStrictJson(health.body)["sample_count"].GetInt64(), before + 3);
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

TEST(Durability, DefaultModeLosesAtMostTheLastCommitIntervalOnAHardKill) {
  // The documented window is the commit interval; the margin is for slow (sanitizer) builds,
  // where a sample may wait in the queue a little before it is even processed.
  constexpr milliseconds kCommitInterval{50};
  constexpr milliseconds kMargin{1000};
  constexpr milliseconds kLoadTime{1500};
  Service service("storage:\n  commit_interval_ms: 50\n");
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  std::atomic<bool> stop{false};
  Client client(service.port(), "window");
  std::thread thread([&] { client.Run(stop); });
  std::this_thread::sleep_for(kLoadTime);
  const Clock::time_point killed_at = Clock::now();
  service.Kill();
  stop = true;
  thread.join();
  EXPECT_EQ(client.unexpected(), "");
  EXPECT_EQ(service.process().Stderr().find("Sanitizer"), std::string::npos)
      << service.process().Stderr();

  const uint64_t old_enough = client.AcknowledgedBy(killed_at - kCommitInterval - kMargin);
  const uint64_t acknowledged = client.Acknowledged();
  ASSERT_GT(old_enough, 0u) << "the load did not last long enough";
  ASSERT_TRUE(service.Start(&error)) << error;
  const int64_t stored = service.SampleCount("window");
  std::printf(
      "acknowledged %llu samples, %llu of them more than %lld ms before the kill; %lld "
      "stored\n",
      static_cast<unsigned long long>(acknowledged), static_cast<unsigned long long>(old_enough),
      static_cast<long long>((kCommitInterval + kMargin).count()), static_cast<long long>(stored));
  EXPECT_GE(stored, static_cast<int64_t>(old_enough));
  // What is stored is what was sent, in order: never more than was sent (at most one request
  // whose answer the kill cut off).
  EXPECT_LE(stored, static_cast<int64_t>(acknowledged + Client::kBatch));
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

}  // namespace
}  // namespace driftwatch::testing
