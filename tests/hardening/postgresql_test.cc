// The real binary with `storage.plugin: postgresql`, on the tests' PostgreSQL server (ctest
// fixture `postgres`): in durable mode no acknowledged sample is lost across SIGKILLs of
// DriftWatch, nor while the PostgreSQL server itself is stopped and started under load; and an
// owner frozen past its lease, whose namespace a standby took over, exits when it wakes without
// writing anything; endpoint series, keyed `<service_id>#<endpoint>`, resume exactly across a
// graceful stop and a SIGKILL, and one forgotten stays forgotten.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/hardening/service.h"

namespace driftwatch::testing {
namespace {

using std::chrono::milliseconds;

constexpr int kExitFenced = 75;  // plugins/postgresql: the namespace was taken over

std::string StateFile(const std::string& name) {
  std::ifstream file(std::string(DRIFTWATCH_TEST_POSTGRES_DIR) + "/" + name);
  std::string line;
  std::getline(file, line);
  return line;
}

std::string PostgresConfig(const std::string& ns, const std::string& more = "") {
  const std::string url = StateFile("url");
  EXPECT_FALSE(url.empty()) << "no test PostgreSQL server: run the tests through ctest";
  return "storage:\n  plugin: postgresql\n  url: " + url + "\n  namespace: " + ns +
         "\n  lease_seconds: 2\n" + more + "ingest:\n  durable: true\n";
}

std::string Namespace(const char* what) {
  return std::string("hard_") + what + "_" + std::to_string(getpid());
}

// Every byte but the unreserved ones percent-encoded, as a query parameter's value.
std::string PercentEncoded(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char escape[4];
      std::snprintf(escape, sizeof escape, "%%%02X", c);
      out += escape;
    }
  }
  return out;
}

// SampleJson with an "endpoint", its '"' and '\\' escaped for JSON.
std::string EndpointSampleJson(const std::string& service_id, const std::string& endpoint,
                               double latency_ms) {
  std::string escaped;
  for (const char c : endpoint) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  std::string json = SampleJson(service_id, latency_ms);
  return json.insert(json.size() - 1, R"(,"endpoint":")" + escaped + "\"");
}

// Sends single samples of one service, one request at a time, counting the 202s, until `stop`.
// A refused or failed request is simply sent again: what matters is what was acknowledged.
struct Client {
  uint16_t port;
  std::string service_id;
  std::atomic<uint64_t> acknowledged{0};
  std::atomic<uint64_t> unavailable{0};  // 503 answers (storage unavailable, queue full)

  void Run(const std::atomic<bool>& stop) {
    while (!stop) {
      http::HttpClient client(http::LoopbackUrl(port),
                              {std::chrono::seconds(30), std::chrono::seconds(60)});
      HttpResponse response;
      if (!client.Post("/v1/telemetry", SampleJson(service_id, 100), &response).ok()) return;
      if (response.status == 202) {
        ++acknowledged;
      } else if (response.status == 503) {
        ++unavailable;
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
  }
};

// A Client on its own thread, stopped and joined however the test ends.
class Load {
 public:
  Load(uint16_t port, std::string service_id) : client_{port, std::move(service_id)} {
    thread_ = std::thread([this] { client_.Run(stop_); });
  }
  ~Load() { Finish(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;
  void Finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t acknowledged() const { return client_.acknowledged.load(); }

 private:
  Client client_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(PostgresqlService, DurableModeLosesNoAcknowledgedSampleAcrossHardKills) {
  Service service(PostgresConfig(Namespace("kill")));
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  EXPECT_NE(service.process().Stdout().find("PostgreSQL namespace"), std::string::npos);
  int64_t stored = 0;
  for (int cycle = 0; cycle < 3; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    Load load(service.port(), "pg-durable");
    std::this_thread::sleep_for(milliseconds(600));
    service.Kill();
    load.Finish();
    ASSERT_GT(load.acknowledged(), 0u) << "no load reached the service";
    // At once: the killed holder is a process of this machine that is gone.
    ASSERT_TRUE(service.Start(&error)) << error;
    const int64_t count = service.SampleCount("pg-durable");
    EXPECT_GE(count, stored + static_cast<int64_t>(load.acknowledged()));
    stored = count;
  }
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

TEST(PostgresqlService, DurableModeLosesNothingWhileThePostgresqlServerRestarts) {
  const std::string data = StateFile("data");
  ASSERT_FALSE(data.empty());
  const std::string as_server = getuid() == 0 ? "setpriv --reuid=nobody --regid=nogroup "
                                                "--clear-groups "
                                              : "";
  const std::string pg_ctl = as_server +
                             "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl -D " +
                             data + "/pgdata ";
  Service service(PostgresConfig(Namespace("restart")));
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  Load load(service.port(), "pg-restart");
  std::this_thread::sleep_for(milliseconds(400));
  // -m fast: the server ends every connection at once, as a crash or failover would.
  const int stopped = std::system((pg_ctl + "-m fast -w stop >/dev/null").c_str());
  const uint64_t before_outage = load.acknowledged();
  std::this_thread::sleep_for(milliseconds(700));
  const uint64_t during_outage = load.acknowledged() - before_outage;
  const int started =
      std::system((pg_ctl + "-l " + data + "/server.log -w start >/dev/null").c_str());
  ASSERT_EQ(stopped, 0);
  ASSERT_EQ(started, 0) << "the shared test server is down: the tests after this one fail";
  std::this_thread::sleep_for(milliseconds(1500));  // reconnected, with backoff
  load.Finish();
  EXPECT_LE(during_outage, 1u) << "acknowledged while nothing could be committed";
  EXPECT_GT(load.acknowledged(), before_outage) << "never recovered from the restart";
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
  ASSERT_TRUE(service.Start(&error)) << error;
  EXPECT_GE(service.SampleCount("pg-restart"), static_cast<int64_t>(load.acknowledged()));
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

TEST(PostgresqlService, AFrozenOwnerIsFencedWhenAStandbyTookOver) {
  const std::string ns = Namespace("fence");
  Service owner(PostgresConfig(ns));
  std::string error;
  ASSERT_TRUE(owner.Start(&error)) << error;
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(owner.Post("/v1/telemetry", SampleJson("pg-fence", 100)).status, 202);
  }
  ASSERT_TRUE(owner.process().Signal(SIGSTOP));

  Service standby(PostgresConfig(ns, "  standby: true\n"));
  ASSERT_TRUE(standby.Start(&error)) << error;  // waits out the frozen owner's lease
  EXPECT_NE(standby.process().Stderr().find("standing by"), std::string::npos);
  EXPECT_EQ(standby.SampleCount("pg-fence"), 20);  // resumes from the stored state
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(standby.Post("/v1/telemetry", SampleJson("pg-fence", 100)).status, 202);
  }

  ASSERT_TRUE(owner.process().Signal(SIGCONT));
  // It may take one more sample into its queue; it never acknowledges it, and never stores it.
  const HttpResponse late = owner.Post("/v1/telemetry", SampleJson("pg-fence", 100));
  EXPECT_NE(late.status, 202);
  const std::optional<int> exit_code = owner.process().WaitForExit(std::chrono::seconds(30));
  ASSERT_TRUE(exit_code.has_value()) << "the fenced owner is still running";
  EXPECT_EQ(*exit_code, kExitFenced);
  EXPECT_NE(owner.process().Stderr().find("is no longer ours"), std::string::npos)
      << owner.process().Stderr();
  EXPECT_EQ(standby.SampleCount("pg-fence"), 25);
  EXPECT_EQ(standby.Stop(), 0) << standby.process().Stderr();
  ASSERT_TRUE(standby.Start(&error)) << error;
  EXPECT_EQ(standby.SampleCount("pg-fence"), 25);  // nothing of the old owner's, nothing twice
  EXPECT_EQ(standby.Stop(), 0) << standby.process().Stderr();
}

// The PostgreSQL store keeps endpoint series keys (`<service_id>#<endpoint>`) byte for byte, with
// '#', '+', '%', quotes, a backslash and spaces in them: every series resumes exactly after a
// graceful stop and after a SIGKILL, and one forgotten with ?endpoint= does not come back.
TEST(PostgresqlService, EndpointSeriesResumeAcrossRestartsAndOneForgottenStaysForgotten) {
  const std::string config =
      PostgresConfig(Namespace("endpoints"), "series:\n  per_endpoint: true\n");
  Service service(config);
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  const std::string id = "pg-ep";
  const std::string drifting = "GET /a+b#c 100%";
  const std::string stable = R"(POST /q?x="y"&z=1)";
  const std::string young = R"(it's a \ path)";
  const std::vector<std::string> endpoints = {drifting, stable, young};
  auto query = [](const std::string& endpoint) { return "?endpoint=" + PercentEncoded(endpoint); };
  auto post = [&](const std::vector<std::string>& samples) {
    std::string json = "[";
    for (const std::string& sample : samples) json += (json.size() > 1 ? "," : "") + sample;
    return service.Post("/v1/telemetry/batch", json + "]").status;
  };
  auto state = [&](const std::string& suffix) {
    const HttpResponse response = service.Get("/v1/health/" + id + suffix);
    if (response.status != 200) return "HTTP " + std::to_string(response.status);
    const rapidjson::Document health = ParseStrictJson(response.body);
    return std::string(health["state"].GetString());
  };
  // What every series says: its health, baseline, events and stored samples, and the listing.
  // Durable ingest: a 202 is answered once its samples are processed and committed.
  auto everything = [&] {
    std::string all = service.Get("/v1/services?endpoints=true").body + "\n";
    std::vector<std::string> suffixes = {""};
    for (const std::string& endpoint : endpoints) suffixes.push_back(query(endpoint));
    for (const std::string& suffix : suffixes) {
      for (const char* path : {"/v1/health/", "/v1/baseline/", "/v1/events/", "/v1/telemetry/"}) {
        const HttpResponse response = service.Get(path + id + suffix);
        all += std::to_string(response.status) + " " + path + suffix + " " + response.body + "\n";
      }
    }
    return all;
  };

  std::vector<std::string> batch;
  for (int i = 0; i < 130; ++i) {
    batch.push_back(SampleJson(id, 50));  // the service's own series alone
    batch.push_back(EndpointSampleJson(id, drifting, 100.0 + i % 3));
    batch.push_back(EndpointSampleJson(id, stable, 200.0 + i % 5));
    if (i < 20) batch.push_back(EndpointSampleJson(id, young, 300.0 + i));
  }
  for (int i = 0; i < 10; ++i) batch.push_back(EndpointSampleJson(id, drifting, 130.0));
  ASSERT_EQ(post(batch), 202);
  EXPECT_EQ(state(query(drifting)), "DRIFT_DETECTED");
  EXPECT_EQ(state(query(stable)), "STABLE");
  EXPECT_EQ(state(query(young)), "INSUFFICIENT_DATA");
  EXPECT_EQ(service.SampleCount(id), 130 * 3 + 20 + 10);
  const rapidjson::Document listing =
      ParseStrictJson(service.Get("/v1/services?endpoints=true").body);
  ASSERT_TRUE(listing.IsObject() && listing.HasMember("services"));
  ASSERT_EQ(listing["count"].GetInt(), 4);
  std::vector<std::string> listed;
  for (const auto& series : listing["services"].GetArray()) {
    EXPECT_STREQ(series["service_id"].GetString(), id.c_str());
    if (series.HasMember("endpoint")) listed.push_back(series["endpoint"].GetString());
  }
  std::vector<std::string> expected = endpoints;
  std::sort(expected.begin(), expected.end());
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, expected);

  const std::string before_stop = everything();
  ASSERT_EQ(service.Stop(), 0) << service.process().Stderr();
  ASSERT_TRUE(service.Start(&error)) << error;
  EXPECT_EQ(everything(), before_stop);

  // Each series goes on from where it was, and resumes again after a SIGKILL.
  batch.clear();
  for (int i = 0; i < 30; ++i) {
    batch.push_back(EndpointSampleJson(id, drifting, 130.0 + i % 2));
    batch.push_back(EndpointSampleJson(id, stable, 200.0 + i % 5));
    batch.push_back(EndpointSampleJson(id, young, 300.0 + i));
  }
  ASSERT_EQ(post(batch), 202);
  EXPECT_EQ(service.SampleCount(id), 130 * 3 + 20 + 10 + 90);
  EXPECT_EQ(state(query(drifting)), "DRIFT_DETECTED");
  const std::string before_kill = everything();
  service.Kill();
  ASSERT_TRUE(service.Start(&error)) << error;
  EXPECT_EQ(everything(), before_kill);

  // Forgetting one endpoint series: the others untouched; gone for good, after a stop and a kill.
  ASSERT_TRUE(service.WaitForStoredSamples(2 * (130 * 3 + 20 + 10 + 90) - 130));
  const int64_t stable_count = 130 + 30;
  ASSERT_EQ(Fetch(service.port(), "DELETE", "/v1/services/" + id + query(stable)).status, 200);
  EXPECT_EQ(state(query(stable)), "HTTP 404");
  const std::string after_forget = everything();
  EXPECT_EQ(ParseStrictJson(service.Get("/v1/services?endpoints=true").body)["count"].GetInt(), 3);
  ASSERT_EQ(service.Stop(), 0) << service.process().Stderr();
  ASSERT_TRUE(service.Start(&error)) << error;
  EXPECT_EQ(everything(), after_forget);
  service.Kill();
  ASSERT_TRUE(service.Start(&error)) << error;
  EXPECT_EQ(everything(), after_forget);
  EXPECT_TRUE(service.WaitForStoredSamples(2 * (130 * 3 + 20 + 10 + 90) - 130 - stable_count));
  // A sample of it afterwards starts a new series, with none of the old one's.
  ASSERT_EQ(post({EndpointSampleJson(id, stable, 200)}), 202);
  EXPECT_EQ(state(query(stable)), "INSUFFICIENT_DATA");
  const rapidjson::Document health =
      ParseStrictJson(service.Get("/v1/health/" + id + query(stable)).body);
  EXPECT_EQ(health["sample_count"].GetInt(), 1);
  EXPECT_STREQ(health["endpoint"].GetString(), stable.c_str());

  // The service forgotten: every one of its endpoint series with it, for good.
  ASSERT_EQ(Fetch(service.port(), "DELETE", "/v1/services/" + id).status, 200);
  EXPECT_EQ(state(query(drifting)), "HTTP 404");
  ASSERT_EQ(service.Stop(), 0) << service.process().Stderr();
  ASSERT_TRUE(service.Start(&error)) << error;
  EXPECT_EQ(ParseStrictJson(service.Get("/v1/services?endpoints=true").body)["count"].GetInt(), 0);
  EXPECT_TRUE(service.WaitForStoredSamples(0));
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

}  // namespace
}  // namespace driftwatch::testing
