// Acceptance: the real driftwatch service (fresh database, free loopback port) and the real
// driftwatch-sim, in synthetic time with fixed seeds, checking the acceptance criteria
// (docs/behaviour.md, Simulator) with --verify; then the README's quick start in sequence on one
// service, without and with a restart of the service between modes.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <unistd.h>

#include <csignal>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/timestamp.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::sim {
namespace {

using driftwatch::testing::RunResult;

// One driftwatch process on `db`; Start() may be called again after Stop() (a restart).
class DriftWatchServer {
 public:
  DriftWatchServer(std::string db, std::string dir, std::vector<std::string> extra_flags = {})
      : db_(std::move(db)), dir_(std::move(dir)), extra_flags_(std::move(extra_flags)) {}

  // Starts the service on a free port and waits for its banner to name the port.
  ::testing::AssertionResult Start() {
    process_ = std::make_unique<driftwatch::testing::ServerProcess>(dir_ + "/driftwatch-" +
                                                                    std::to_string(++starts_));
    std::vector<std::string> args = {"--host", "127.0.0.1", "--port", "0", "--db", db_};
    args.insert(args.end(), extra_flags_.begin(), extra_flags_.end());
    std::string error;
    if (!process_->Start(args, &error)) return ::testing::AssertionFailure() << error;
    return ::testing::AssertionSuccess();
  }

  // A graceful stop (SIGTERM drains the queue); returns the exit code (-1: it did not exit).
  int Stop() { return process_->Stop().value_or(-1); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(process_->port()); }
  std::string Logs() const { return process_ ? process_->Stdout() + process_->Stderr() : ""; }

 private:
  std::string db_;
  std::string dir_;
  std::vector<std::string> extra_flags_;
  std::unique_ptr<driftwatch::testing::ServerProcess> process_;
  int starts_ = 0;
};

struct Scenario {
  const char* mode;
  int duration_s;
  uint64_t seed;
};

// The README's quick start, in its order and with the default seed, then NORMAL again:
// after CREEP's drift the service must be STABLE again within 60 s of normal traffic.
constexpr Scenario kSeedSequence[] = {
    {"NORMAL", 60, 42}, {"SPIKE", 90, 42}, {"CREEP", 120, 42}, {"NORMAL", 60, 42}};

class AcceptanceTest : public ::testing::Test {
 protected:
  // Runs driftwatch-sim --synthetic-time --verify --json and parses what it printed.
  rapidjson::Document Simulate(const DriftWatchServer& server, const Scenario& scenario,
                               const std::string& service = "test-payment-service") {
    const RunResult run = driftwatch::testing::RunToExit(
        {DRIFTWATCH_SIM_BINARY, "--mode", scenario.mode, "--duration",
         std::to_string(scenario.duration_s), "--seed", std::to_string(scenario.seed), "--service",
         service, "--url", server.url(), "--synthetic-time", "--verify", "--json"},
        dir_.File("sim"), std::chrono::seconds(300));
    rapidjson::Document result;
    result.Parse<rapidjson::kParseFullPrecisionFlag>(run.out.c_str());
    EXPECT_EQ(run.exit_code, 0) << scenario.mode << " failed:\n"
                                << run.out << run.err << "\nserver log:\n"
                                << server.Logs();
    EXPECT_FALSE(result.HasParseError()) << "not JSON: " << run.out;
    if (!result.HasParseError() && result.IsObject()) {
      EXPECT_TRUE(result["verify"]["passed"].GetBool()) << run.out;
      // What was measured, in the test report (--gtest_output=json:...), one entry per run.
      ::testing::Test::RecordProperty("run" + std::to_string(++runs_) + "_" + scenario.mode +
                                          "_seed" + std::to_string(scenario.seed),
                                      Measured(result));
    } else {
      result.Parse("{}");
    }
    return result;
  }

  static std::string Measured(const rapidjson::Value& result) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    result["verify"]["measured"].Accept(writer);
    return buffer.GetString();
  }

  // The transitions as "index from->to reason metadata" lines, comparable across runs.
  static std::string Transitions(const rapidjson::Value& result) {
    if (!result.IsObject() || !result.HasMember("transitions")) return "(none)";
    std::string lines;
    for (const auto& transition : result["transitions"].GetArray()) {
      rapidjson::StringBuffer metadata;
      rapidjson::Writer<rapidjson::StringBuffer> writer(metadata);
      transition["metadata"].Accept(writer);
      lines += std::to_string(transition["sample_index"].GetInt64()) + " " +
               transition["from_state"].GetString() + "->" + transition["to_state"].GetString() +
               " " + transition["reason"].GetString() + " " + metadata.GetString() + "\n";
    }
    return lines;
  }

  static int64_t Measure(const rapidjson::Value& result, const char* name) {
    if (!result.IsObject() || !result.HasMember("verify")) return -1;
    const auto& value = result["verify"]["measured"][name];
    return value.IsInt64() ? value.GetInt64() : -1;
  }

  driftwatch::testing::TestDir dir_;
  int runs_ = 0;
};

TEST_F(AcceptanceTest, NormalReachesStableOnAFreshService) {
  DriftWatchServer server(dir_.File("normal.db"), dir_.path().string());
  ASSERT_TRUE(server.Start());
  const auto result = Simulate(server, {"NORMAL", 60, 1});
  // min_samples is 100: the 100th sample establishes the baseline, 10 s into the run.
  EXPECT_EQ(Measure(result, "stable_at_sample"), 100);
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(AcceptanceTest, SpikeIsDetectedWithinFiveSamplesAndRecoversOnAFreshService) {
  DriftWatchServer server(dir_.File("spike.db"), dir_.path().string());
  ASSERT_TRUE(server.Start());
  const auto result = Simulate(server, {"SPIKE", 90, 2});
  EXPECT_GE(Measure(result, "samples_to_detect"), 1);
  EXPECT_LE(Measure(result, "samples_to_detect"), 5);
  EXPECT_GE(Measure(result, "samples_to_recover"), 50);  // 50 normal samples at the very least
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(AcceptanceTest, CreepIsDetectedBeforeTheEndOnAFreshService) {
  DriftWatchServer server(dir_.File("creep.db"), dir_.path().string());
  ASSERT_TRUE(server.Start());
  const auto result = Simulate(server, {"CREEP", 120, 3});
  EXPECT_GE(Measure(result, "detected_at_sample"), 301);
  EXPECT_LE(Measure(result, "detected_at_sample"), 1200);
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(AcceptanceTest, SpikeVerificationKeepsSendingNormalTrafficUntilRecovered) {
  DriftWatchServer server(dir_.File("short-spike.db"), dir_.path().string());
  ASSERT_TRUE(server.Start());
  Simulate(server, {"NORMAL", 60, 4});
  // 90 samples: the spike is samples 28-45, and the 45 normal ones after it are fewer than the
  // 50 that recovery needs, so only the extra NORMAL traffic can bring the service back.
  const auto result = Simulate(server, {"SPIKE", 9, 5});
  EXPECT_EQ(Measure(result, "onset_sample"), 28);
  EXPECT_LE(Measure(result, "samples_to_detect"), 5);
  EXPECT_GT(Measure(result, "extra_normal_samples"), 0);
  EXPECT_GT(Measure(result, "recovered_at_sample"), 90);
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(AcceptanceTest, AnOverloadedServerLosesNoSample) {
  // A queue of 30 samples refuses the simulator's batches of 100 with 503 + Retry-After.
  const std::string config = dir_.File("small-queue.yaml");
  std::ofstream(config) << "ingest:\n  queue_capacity: 30\n";
  DriftWatchServer server(dir_.File("small-queue.db"), dir_.path().string(), {"--config", config});
  ASSERT_TRUE(server.Start());
  const auto result = Simulate(server, {"NORMAL", 12, 6});
  ASSERT_TRUE(result.HasMember("samples")) << server.Logs();
  EXPECT_GT(result["samples"]["resent_after_503"].GetInt64(), 0);
  // Every sample processed exactly once: the count and the baseline's sample are exact.
  EXPECT_EQ(result["final"]["sample_count"].GetInt64(), 120);
  EXPECT_EQ(Measure(result, "stable_at_sample"), 100);
  EXPECT_EQ(server.Stop(), 0);
}

// In synthetic time every sample is sent at once, while the server refuses timestamps more than
// ingest.max_future_seconds (an hour by default) ahead of its clock: a run with more sample time
// than that must still get every sample accepted, and so must a SPIKE's extra NORMAL traffic on
// a server that accepts nothing ahead of its clock.
TEST_F(AcceptanceTest, SyntheticTimeStaysWithinTheServersLimitOnFutureTimestamps) {
  DriftWatchServer server(dir_.File("long.db"), dir_.path().string());
  ASSERT_TRUE(server.Start());
  constexpr int kSeconds = 3700;  // 37000 samples at 10/s, more than an hour of sample time
  const auto result = Simulate(server, {"NORMAL", kSeconds, 7});
  const int64_t finished_ms = NowMs();
  ASSERT_TRUE(result.HasMember("samples")) << server.Logs();
  EXPECT_EQ(result["samples"]["sent"].GetInt64(), kSeconds * 10);
  EXPECT_EQ(result["final"]["sample_count"].GetInt64(), kSeconds * 10);
  const std::optional<int64_t> first_ms = ParseTimestamp(result["first_timestamp"].GetString());
  ASSERT_TRUE(first_ms);
  const int64_t last_ms = *first_ms + (kSeconds * 10 - 1) * 100;
  EXPECT_LE(last_ms, finished_ms) << "the run's last sample is stamped after it ended";
  EXPECT_EQ(server.Stop(), 0);

  const std::string config = dir_.File("no-future.yaml");
  std::ofstream(config) << "ingest:\n  max_future_seconds: 0\n";
  DriftWatchServer strict(dir_.File("no-future.db"), dir_.path().string(), {"--config", config});
  ASSERT_TRUE(strict.Start());
  Simulate(strict, {"NORMAL", 60, 8});
  const auto spike = Simulate(strict, {"SPIKE", 9, 9});  // recovers on extra NORMAL traffic
  EXPECT_GT(Measure(spike, "extra_normal_samples"), 0);
  EXPECT_EQ(strict.Stop(), 0);
}

TEST_F(AcceptanceTest, SeedSequenceOnOneService) {
  DriftWatchServer server(dir_.File("sequence.db"), dir_.path().string());
  ASSERT_TRUE(server.Start());
  for (const Scenario& scenario : kSeedSequence) {
    SCOPED_TRACE(scenario.mode);
    Simulate(server, scenario);
  }
  EXPECT_EQ(server.Stop(), 0);
}

// docs/behaviour.md, Storage: after a graceful stop and restart the service resumes exactly where
// it was, so the same samples cause the same transitions, at the same samples, as without the
// restarts.
TEST_F(AcceptanceTest, SeedSequenceWithRestartsBetweenModesGivesTheSameTransitions) {
  std::vector<std::string> uninterrupted;
  {
    DriftWatchServer server(dir_.File("uninterrupted.db"), dir_.path().string());
    ASSERT_TRUE(server.Start());
    for (const Scenario& scenario : kSeedSequence) {
      uninterrupted.push_back(Transitions(Simulate(server, scenario)));
    }
    EXPECT_EQ(server.Stop(), 0);
  }
  DriftWatchServer server(dir_.File("restarted.db"), dir_.path().string());
  for (size_t i = 0; i < std::size(kSeedSequence); ++i) {
    SCOPED_TRACE(kSeedSequence[i].mode);
    ASSERT_TRUE(server.Start());
    EXPECT_EQ(Transitions(Simulate(server, kSeedSequence[i])), uninterrupted[i]);
    ASSERT_EQ(server.Stop(), 0) << server.Logs();
  }
}

// The same on the PostgreSQL store (the tests' server, fixture `postgres`): every scenario passes
// its acceptance criteria, and with a graceful restart between modes the transitions are those of
// the uninterrupted run on SQLite, at the same samples: docs/behaviour.md, Storage, holds for it.
TEST_F(AcceptanceTest, SeedSequenceOnPostgresqlWithRestartsGivesTheSameTransitionsAsOnSqlite) {
  std::ifstream url_file(std::string(DRIFTWATCH_TEST_POSTGRES_DIR) + "/url");
  std::string url;
  std::getline(url_file, url);
  ASSERT_FALSE(url.empty()) << "no test PostgreSQL server: run the tests through ctest";
  const std::string config = dir_.File("postgresql.yaml");
  std::ofstream(config) << "storage:\n  plugin: postgresql\n  url: " << url
                        << "\n  namespace: acceptance_" << getpid() << "\n";

  std::vector<std::string> on_sqlite;
  {
    DriftWatchServer server(dir_.File("reference.db"), dir_.path().string());
    ASSERT_TRUE(server.Start());
    for (const Scenario& scenario : kSeedSequence) {
      on_sqlite.push_back(Transitions(Simulate(server, scenario)));
    }
    EXPECT_EQ(server.Stop(), 0);
  }
  DriftWatchServer server(dir_.File("unused.db"), dir_.path().string(), {"--config", config});
  for (size_t i = 0; i < std::size(kSeedSequence); ++i) {
    SCOPED_TRACE(kSeedSequence[i].mode);
    ASSERT_TRUE(server.Start());
    EXPECT_NE(server.Logs().find("PostgreSQL namespace 'acceptance_"), std::string::npos);
    EXPECT_EQ(Transitions(Simulate(server, kSeedSequence[i])), on_sqlite[i]);
    ASSERT_EQ(server.Stop(), 0) << server.Logs();
  }
}

}  // namespace
}  // namespace driftwatch::sim
