// The engine end to end through real plugins and a real SQLite file: exact restarts (graceful and
// after a hard kill), resets, admission control.
#include "core/engine.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "core/pipeline.h"
#include "core/plugin_loader.h"
#include "core/series_figures.h"
#include "core/series_key.h"
#include "core/service_registry.h"
#include "tests/support/test_dir.h"

namespace driftwatch {
namespace {

constexpr int64_t kStartMs = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr int64_t kStepMs = 100;             // 10 samples per second
constexpr const char* kService = "checkout-api";

// What a test does to a service: a sample, or a reset.
struct Step {
  double latency_ms;
  bool reset = false;
};

std::vector<Step> Normal(int count, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::normal_distribution<double> latency(150.0, 25.0);
  std::vector<Step> steps;
  for (int i = 0; i < count; ++i) steps.push_back({std::max(1.0, latency(random))});
  return steps;
}

std::vector<Step> Constant(int count, double latency_ms) {
  return std::vector<Step>(count, Step{latency_ms});
}

std::vector<Step> Concat(std::initializer_list<std::vector<Step>> parts) {
  std::vector<Step> all;
  for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

// The bundled plugins, loaded once for the whole test program (libraries are never unloaded).
const PluginRegistry& Plugins() {
  static PluginRegistry* registry = [] {
    auto* loaded = new PluginRegistry;
    std::vector<std::string> errors;
    Status status = loaded->LoadDirectory(DRIFTWATCH_TEST_PLUGIN_DIR, &errors);
    if (!status.ok() || !errors.empty()) std::abort();
    return loaded;
  }();
  return *registry;
}

// One running engine on a SQLite file.
class Running {
 public:
  Running(const std::string& db_path, uint32_t snapshot_every = 1000, uint32_t queue = 65536,
          uint32_t max_services = 200000, const std::function<void(Config&)>& adjust = {}) {
    if (adjust) adjust(config_);
    config_.storage.path = db_path;
    config_.storage.snapshot_every = snapshot_every;
    config_.ingest.queue_capacity = queue;
    config_.ingest.max_services = max_services;
    Status status = BuildDetectorSet(config_, Plugins(), &detectors_);
    EXPECT_TRUE(status.ok()) << status.message();
    status = Store::Open(Plugins().FindStorage("sqlite"), {{"path", db_path}}, &store_);
    EXPECT_TRUE(status.ok()) << status.message();
    status = Engine::Create(config_, detectors_, store_.get(), &engine_);
    EXPECT_TRUE(status.ok()) << status.message();
    engine_->Start();
  }

  Engine& engine() { return *engine_; }
  Store& store() { return *store_; }

  // Feeds steps; sample i of the service's life has timestamp kStartMs + i * kStepMs.
  void Run(const std::vector<Step>& steps, int64_t first_index) {
    int64_t index = first_index;
    std::vector<IncomingSample> pending;
    auto flush = [&] {
      if (pending.empty()) return;
      ASSERT_EQ(engine_->Submit(std::move(pending)), SubmitResult::kAccepted);
      pending.clear();
    };
    for (const Step& step : steps) {
      if (step.reset) {
        flush();
        engine_->WaitIdle();
        ASSERT_TRUE(engine_->Reset(kService, kStartMs + index * kStepMs));
        continue;
      }
      pending.push_back({kService, Sample{kStartMs + index * kStepMs, step.latency_ms, 2.5}});
      ++index;
      if (pending.size() == 64) flush();
    }
    flush();
    engine_->WaitIdle();
  }

 private:
  Config config_;
  DetectorSet detectors_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Engine> engine_;
};

int64_t SampleCount(const std::vector<Step>& steps) {
  int64_t count = 0;
  for (const Step& step : steps) count += step.reset ? 0 : 1;
  return count;
}

// Everything observable about the service, as text, for exact comparison.
std::string Observe(Engine& engine) {
  ServiceHealth health;
  if (!engine.GetHealth(kService, &health)) return "unknown service";
  std::string out = std::string(ServiceStateName(health.state)) +
                    " samples=" + std::to_string(health.sample_count) +
                    " transition=" + std::to_string(health.transition_timestamp_ms.value_or(-1)) +
                    " metadata=" + health.metadata_json;
  const Baseline& b = health.baseline;
  char numbers[512];
  std::snprintf(
      numbers, sizeof numbers, " baseline=%d %.17g %.17g %.17g %.17g %.17g %.17g %.17g %u %lld",
      b.valid, b.mean_latency, b.stddev_latency, b.p50_latency, b.p95_latency, b.p99_latency,
      b.mean_payload, b.stddev_payload, b.sample_count, static_cast<long long>(b.last_updated_ms));
  out += numbers;
  std::vector<StoredEvent> events;
  Status status = engine.Events(kService, 1000, &events);
  if (!status.ok()) return "events failed: " + status.message();
  for (const StoredEvent& event : events) {
    out += "\n  event " + std::to_string(event.seq) + " " + event.from_state + "->" +
           event.to_state + " " + event.reason + " " + std::to_string(event.timestamp_ms) + " " +
           event.metadata_json;
  }
  return out;
}

struct Scenario {
  const char* name;
  std::vector<Step> before;  // fed before the restart
  std::vector<Step> after;   // fed after it
  ServiceState state_at_restart;
};

std::vector<Scenario> Scenarios() {
  const std::vector<Step> after = Concat(
      {Normal(120, 7), Constant(6, 900.0), Normal(80, 8), Constant(3, 700.0), Normal(200, 9)});
  return {
      {"insufficient_data", Normal(60, 1), after, ServiceState::kInsufficientData},
      {"stable", Normal(230, 2), after, ServiceState::kStable},
      {"stable_with_held_back_samples", Concat({Normal(230, 3), Constant(3, 800.0)}), after,
       ServiceState::kStable},
      {"drift_with_half_full_recovery_run",
       Concat({Normal(150, 4), Constant(6, 900.0), Normal(25, 5)}), after,
       ServiceState::kDriftDetected},
      {"after_reset", Concat({Normal(150, 6), {Step{0, true}}, Normal(40, 10)}), after,
       ServiceState::kInsufficientData},
  };
}

class RestartTest : public ::testing::TestWithParam<size_t> {};

TEST_P(RestartTest, GracefulRestartResumesExactly) {
  const Scenario scenario = Scenarios()[GetParam()];
  testing::TestDir dir;
  std::string reference;
  {
    Running uninterrupted(dir.File("reference.db"));
    uninterrupted.Run(scenario.before, 0);
    ServiceHealth health;
    ASSERT_TRUE(uninterrupted.engine().GetHealth(kService, &health));
    ASSERT_EQ(health.state, scenario.state_at_restart);
    uninterrupted.Run(scenario.after, SampleCount(scenario.before));
    reference = Observe(uninterrupted.engine());
  }
  {
    Running first(dir.File("restarted.db"));
    first.Run(scenario.before, 0);
    ASSERT_TRUE(first.engine().Stop());
  }
  Running second(dir.File("restarted.db"));
  second.Run(scenario.after, SampleCount(scenario.before));
  EXPECT_EQ(Observe(second.engine()), reference);
}

// A hard kill after the samples were committed but before any shutdown snapshot: the restart
// replays the stored samples after the last snapshot and must reach the same state.
TEST_P(RestartTest, RestartAfterHardKillReplaysToTheSameState) {
  const Scenario scenario = Scenarios()[GetParam()];
  for (uint32_t snapshot_every : {1000u, 7u}) {
    testing::TestDir dir;
    std::string reference;
    {
      Running uninterrupted(dir.File("reference.db"), snapshot_every);
      uninterrupted.Run(scenario.before, 0);
      uninterrupted.Run(scenario.after, SampleCount(scenario.before));
      reference = Observe(uninterrupted.engine());
    }
    const std::string db = dir.File("killed.db");
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      Running doomed(db, snapshot_every);
      doomed.Run(scenario.before, 0);
      // Wait for the commit of every sample, then die without any orderly stop.
      const uint64_t want = SampleCount(scenario.before);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      StoreStats stats;
      while (std::chrono::steady_clock::now() < deadline) {
        if (doomed.store().Stats(&stats).ok() && stats.sample_count >= want) _exit(0);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      _exit(3);
    }
    int wait_status = 0;
    ASSERT_EQ(waitpid(child, &wait_status, 0), child);
    ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
        << "child status " << wait_status;
    Running revived(db, snapshot_every);
    revived.Run(scenario.after, SampleCount(scenario.before));
    EXPECT_EQ(Observe(revived.engine()), reference) << "snapshot_every=" << snapshot_every;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryState, RestartTest, ::testing::Range<size_t>(0, 5),
                         [](const ::testing::TestParamInfo<size_t>& param_info) {
                           return std::string(Scenarios()[param_info.param].name);
                         });

// baseline.freeze_in_drift is configuration, not state: a graceful restart in the middle of an
// unfrozen drift resumes exactly, with the snapshot as it was.
TEST(EngineTest, AnUnfrozenDriftRestartsExactly) {
  const auto unfrozen = [](Config& config) { config.baseline.freeze_in_drift = false; };
  const std::vector<Step> before =
      Concat({Normal(150, 21), Constant(6, 900.0), Constant(30, 600.0)});
  const std::vector<Step> after = Concat({Constant(40, 600.0), Normal(200, 22)});
  testing::TestDir dir;
  std::string reference;
  {
    Running uninterrupted(dir.File("reference.db"), 1000, 65536, 200000, unfrozen);
    uninterrupted.Run(before, 0);
    ServiceHealth health;
    ASSERT_TRUE(uninterrupted.engine().GetHealth(kService, &health));
    ASSERT_EQ(health.state, ServiceState::kDriftDetected);
    uninterrupted.Run(after, SampleCount(before));
    reference = Observe(uninterrupted.engine());
  }
  {
    Running frozen(dir.File("frozen.db"));
    frozen.Run(before, 0);
    frozen.Run(after, SampleCount(before));
    EXPECT_NE(Observe(frozen.engine()), reference) << "the setting changed nothing";
  }
  {
    Running first(dir.File("restarted.db"), 1000, 65536, 200000, unfrozen);
    first.Run(before, 0);
    ASSERT_TRUE(first.engine().Stop());
  }
  Running second(dir.File("restarted.db"), 1000, 65536, 200000, unfrozen);
  second.Run(after, SampleCount(before));
  EXPECT_EQ(Observe(second.engine()), reference);
}

TEST(EngineTest, SpikeDriftsAtTheFifthSevereSampleAndRecordsTheDetector) {
  testing::TestDir dir;
  Running running(dir.File("spike.db"));
  running.Run(Concat({Normal(150, 11), Constant(5, 900.0)}), 0);
  ServiceHealth health;
  ASSERT_TRUE(running.engine().GetHealth(kService, &health));
  EXPECT_EQ(health.state, ServiceState::kDriftDetected);
  EXPECT_EQ(health.sample_count, 155u);
  EXPECT_EQ(health.transition_timestamp_ms, kStartMs + 154 * kStepMs);
  std::vector<StoredEvent> events;
  ASSERT_TRUE(running.engine().Events(kService, 10, &events).ok());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].to_state, "DRIFT_DETECTED");
  EXPECT_EQ(events[0].seq, 155u);
  EXPECT_NE(events[0].metadata_json.find("\"detector\":\"zscore_severe\""), std::string::npos)
      << events[0].metadata_json;
  EXPECT_EQ(events[1].to_state, "STABLE");
  EXPECT_EQ(events[1].seq, 100u);
}

TEST(EngineTest, StoppedEngineHasCommittedEverySampleAndEvent) {
  testing::TestDir dir;
  {
    Running running(dir.File("stop.db"));
    running.Run(Concat({Normal(150, 12), Constant(5, 900.0)}), 0);
    ASSERT_TRUE(running.engine().Stop());
    StoreStats stats;
    ASSERT_TRUE(running.store().Stats(&stats).ok());
    EXPECT_EQ(stats.sample_count, 155u);
    EXPECT_EQ(stats.event_count, 2u);
  }
}

// Submissions small enough to be processed on the submitting thread, batches left to the worker,
// and threads racing for the same shard: every service's samples are still processed, and
// stored, exactly in the order each was accepted.
TEST(EngineTest, ConcurrentSubmittersKeepEachServicesOrder) {
  testing::TestDir dir;
  constexpr int kThreads = 4;
  constexpr int kServicesPerThread = 3;
  constexpr int kSamplesPerService = 2000;
  Running running(dir.File("order.db"), /*snapshot_every=*/1000, /*queue=*/1 << 20);
  auto service_id = [](int thread, int service) {
    return "svc-" + std::to_string(thread) + "-" + std::to_string(service);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(t);
      int next = 0;  // index of the next sample of every one of this thread's services
      while (next < kSamplesPerService) {
        // 1 sample (processed here), a few, or a large batch (the worker's), each of them
        // interleaving this thread's services.
        const int sizes[] = {1, 1, 1, 5, 40, 300};
        const int rounds = std::min(sizes[random() % 6], kSamplesPerService - next);
        std::vector<IncomingSample> batch;
        for (int i = 0; i < rounds; ++i, ++next) {
          for (int s = 0; s < kServicesPerThread; ++s) {
            batch.push_back(
                {service_id(t, s), Sample{kStartMs + next * kStepMs, 100.0 + next, 1.0}});
          }
        }
        ASSERT_EQ(running.engine().Submit(std::move(batch)), SubmitResult::kAccepted);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  running.engine().WaitIdle();
  ASSERT_TRUE(running.engine().Stop());
  for (int t = 0; t < kThreads; ++t) {
    for (int s = 0; s < kServicesPerThread; ++s) {
      int64_t expected = 0;
      const Status scanned =
          running.store().ScanSamples(service_id(t, s), 0, [&](const StoredSample& stored) {
            EXPECT_EQ(stored.seq, static_cast<uint64_t>(expected + 1));
            EXPECT_EQ(stored.timestamp_ms, kStartMs + expected * kStepMs) << service_id(t, s);
            ++expected;
          });
      ASSERT_TRUE(scanned.ok()) << scanned.message();
      EXPECT_EQ(expected, kSamplesPerService) << service_id(t, s);
    }
  }
  const EngineStatus status = running.engine().GetStatus();
  EXPECT_EQ(status.samples_processed, status.samples_accepted);
  EXPECT_EQ(status.samples_accepted, uint64_t{kThreads} * kServicesPerThread * kSamplesPerService);
}

// GET /metrics reads each series' figures without the shard's lock, as the shard last published
// them (core/series_figures.h). Scrapes made while the engine processes must each see one
// publish of a series, whole: the baseline's fields agree with the sample that computed it, the
// state and last transition with the sample count, the z-score with the baseline it was scored
// against; a series' count never goes back from one scrape to the next; and once the engine is
// idle every scrape sees the last sample, a reset and a forget.
TEST(EngineTest, ScrapesDuringProcessingSeeEachSeriesWholeAndUpToDate) {
  testing::TestDir dir;
  constexpr int kServices = 6;
  constexpr int kSamples = 400;  // per service
  constexpr uint32_t kMinSamples = 20;
  constexpr uint32_t kWindow = 100;
  constexpr uint32_t kRefresh = 10;  // B is recomputed at samples 20, 30, 40, ...
  Running running(dir.File("scrape.db"), 1000, 1 << 20, 200000, [](Config& config) {
    config.baseline.min_samples = kMinSamples;
    config.baseline.window_size = kWindow;
    config.baseline.refresh_every = kRefresh;
  });
  // The k-th sample of a service (from 1): a mild cycle of 7 over windows of multiples of 10, so
  // B's mean differs from one refresh to the next and tells which sample computed it.
  auto latency = [](int64_t k) { return 100.0 + static_cast<double>(k % 7); };
  auto timestamp = [](int64_t k) { return kStartMs + k * kStepMs; };
  auto id = [](int s) { return "scraped-" + std::to_string(s); };

  // Checks one series' figures against what its first `n` samples make, n its sample count.
  auto check = [&](const ServiceMetrics& m) {
    const auto n = static_cast<int64_t>(m.sample_count);
    ASSERT_LE(n, kSamples) << *m.service_id;
    if (n < kMinSamples) {
      EXPECT_EQ(m.state, ServiceState::kInsufficientData) << *m.service_id << " n=" << n;
      EXPECT_FALSE(m.baseline.valid) << *m.service_id << " n=" << n;
      EXPECT_FALSE(m.transition_timestamp_ms) << *m.service_id << " n=" << n;
      EXPECT_EQ(m.zscore, 0.0) << *m.service_id << " n=" << n;
      return;
    }
    EXPECT_EQ(m.state, ServiceState::kStable) << *m.service_id << " n=" << n;
    EXPECT_EQ(m.transition_timestamp_ms, timestamp(kMinSamples)) << *m.service_id << " n=" << n;
    ASSERT_TRUE(m.baseline.valid) << *m.service_id << " n=" << n;
    // The sample that computed B: the last multiple of 10 up to n.
    const int64_t computed_at = (m.baseline.last_updated_ms - kStartMs) / kStepMs;
    EXPECT_EQ(computed_at, n - n % kRefresh) << *m.service_id << " n=" << n;
    const int64_t size = std::min<int64_t>(computed_at, kWindow);
    EXPECT_EQ(m.baseline.sample_count, size) << *m.service_id << " n=" << n;
    double sum = 0;
    for (int64_t k = computed_at - size + 1; k <= computed_at; ++k) sum += latency(k);
    const double mean = sum / static_cast<double>(size);
    EXPECT_NEAR(m.baseline.mean_latency, mean, 1e-9) << *m.service_id << " n=" << n;
    if (n == kMinSamples) {
      EXPECT_EQ(m.zscore, 0.0) << *m.service_id;  // the sample that made B was not scored
    } else if (n != computed_at) {  // (at a refresh, the sample was scored against the B before)
      EXPECT_NEAR(m.zscore, (latency(n) - m.baseline.mean_latency) / m.baseline.stddev_latency,
                  1e-9)
          << *m.service_id << " n=" << n;
    }
  };

  std::atomic<bool> feeding{true};
  std::thread feeder([&] {
    std::mt19937 random(5);
    int64_t next = 1;
    while (next <= kSamples) {
      // One sample (processed on this thread), a few, or a batch (the worker's).
      const int sizes[] = {1, 1, 3, 25};
      const int64_t rounds = std::min<int64_t>(sizes[random() % 4], kSamples - next + 1);
      std::vector<IncomingSample> batch;
      for (int64_t r = 0; r < rounds; ++r, ++next) {
        for (int s = 0; s < kServices; ++s) {
          batch.emplace_back(id(s), Sample{timestamp(next), latency(next), 1.0});
        }
      }
      ASSERT_EQ(running.engine().Submit(std::move(batch)), SubmitResult::kAccepted);
    }
    feeding = false;
  });
  std::map<std::string, uint64_t> last_count;
  int scrapes = 0;
  uint64_t last_established = 0;
  while (feeding || scrapes < 3) {
    for (const ServiceMetrics& m : running.engine().CollectServiceMetrics()) {
      check(m);
      uint64_t& seen = last_count[*m.service_id];
      EXPECT_GE(m.sample_count, seen) << *m.service_id;
      seen = m.sample_count;
    }
    const EngineMetrics metrics = running.engine().GetMetrics();
    const auto established = metrics.drift_events.find("baseline_established");
    const uint64_t count = established == metrics.drift_events.end() ? 0 : established->second;
    EXPECT_GE(count, last_established);
    EXPECT_LE(count, uint64_t{kServices});
    last_established = count;
    ++scrapes;
  }
  feeder.join();
  running.engine().WaitIdle();

  std::vector<ServiceMetrics> idle = running.engine().CollectServiceMetrics();
  ASSERT_EQ(idle.size(), size_t{kServices});
  for (const ServiceMetrics& m : idle) {
    check(m);
    EXPECT_EQ(m.sample_count, uint64_t{kSamples}) << *m.service_id;
  }
  EXPECT_EQ(running.engine().GetMetrics().drift_events.at("baseline_established"),
            uint64_t{kServices});

  ASSERT_TRUE(running.engine().Reset(id(0), timestamp(kSamples) + 1));
  ASSERT_EQ(running.engine().Forget(id(1)), Engine::ForgetResult::kForgetting);
  running.engine().WaitIdle();
  idle = running.engine().CollectServiceMetrics();
  ASSERT_EQ(idle.size(), size_t{kServices - 1});
  for (const ServiceMetrics& m : idle) {
    EXPECT_NE(*m.service_id, id(1));
    if (*m.service_id != id(0)) continue;
    EXPECT_EQ(m.state, ServiceState::kInsufficientData);
    EXPECT_FALSE(m.baseline.valid);
    EXPECT_EQ(m.zscore, 0.0);
    EXPECT_EQ(m.sample_count, uint64_t{kSamples});
    EXPECT_EQ(m.transition_timestamp_ms, timestamp(kSamples) + 1);
  }
  EXPECT_EQ(running.engine().GetMetrics().drift_events.at("reset"), 1u);
}

// The seqlock itself, hammered: one thread publishes figures whose every field is made from the
// same counter, another reads as fast as it can. Every read must be one publish, whole, and no
// older than the one before it.
TEST(SeriesFiguresTest, ReadsAreNeverTornOrOlderThanTheLast) {
  // The writer goes on until the reader has seen this many publishes it had not seen before: reads
  // truly made between publishes, which are the ones that could catch one half written.
  constexpr uint64_t kPublishes = 50000;
  constexpr uint64_t kChangesSeen = 5000;
  auto figures_of = [](uint64_t i) {
    SeriesFigures f;
    f.state = static_cast<ServiceState>(i % 3);
    f.zscore = -static_cast<double>(i);
    f.sample_count = i;
    if (i % 2 == 0) f.transition_timestamp_ms = static_cast<int64_t>(i) * 10;
    f.forgotten = i % 5 == 0;
    Baseline& b = f.baseline;
    b.valid = i % 7 != 0;
    b.has_payload = i % 11 != 0;
    b.sample_count = static_cast<uint32_t>(i % 100000);
    b.mean_latency = static_cast<double>(i) + 0.5;
    b.stddev_latency = static_cast<double>(i) + 0.25;
    b.p50_latency = static_cast<double>(i) + 1;
    b.p95_latency = static_cast<double>(i) + 2;
    b.p99_latency = static_cast<double>(i) + 3;
    b.mean_payload = static_cast<double>(i) + 4;
    b.stddev_payload = static_cast<double>(i) + 5;
    b.last_updated_ms = static_cast<int64_t>(i) * 100;
    return f;
  };
  auto same = [](const SeriesFigures& a, const SeriesFigures& b) {
    const Baseline& x = a.baseline;
    const Baseline& y = b.baseline;
    return a.state == b.state && a.zscore == b.zscore && a.sample_count == b.sample_count &&
           a.transition_timestamp_ms == b.transition_timestamp_ms && a.forgotten == b.forgotten &&
           x.valid == y.valid && x.has_payload == y.has_payload &&
           x.sample_count == y.sample_count && x.mean_latency == y.mean_latency &&
           x.stddev_latency == y.stddev_latency && x.p50_latency == y.p50_latency &&
           x.p95_latency == y.p95_latency && x.p99_latency == y.p99_latency &&
           x.mean_payload == y.mean_payload && x.stddev_payload == y.stddev_payload &&
           x.last_updated_ms == y.last_updated_ms;
  };
  PublishedFigures published;
  SeriesFigures first;
  published.Read(&first);
  EXPECT_TRUE(same(first, SeriesFigures{}));  // a new series: the figures of no sample
  std::atomic<bool> done{false};
  std::atomic<uint64_t> changes{0};
  uint64_t publishes = 0;  // the writer's; read after the join
  std::thread writer([&] {
    while (publishes < kPublishes || changes.load(std::memory_order_relaxed) < kChangesSeen) {
      published.Publish(figures_of(++publishes));
    }
    done = true;
  });
  uint64_t reads = 0;
  uint64_t torn = 0;
  uint64_t older = 0;
  uint64_t last = 0;
  while (!done) {
    SeriesFigures read;
    published.Read(&read);
    ++reads;
    if (read.sample_count == 0) continue;  // before the first publish
    if (!same(read, figures_of(read.sample_count))) ++torn;
    if (read.sample_count < last) ++older;
    if (read.sample_count != last) changes.fetch_add(1, std::memory_order_relaxed);
    last = read.sample_count;
  }
  writer.join();
  EXPECT_EQ(torn, 0u) << "of " << reads << " reads";
  EXPECT_EQ(older, 0u) << "of " << reads << " reads";
  SeriesFigures after;
  published.Read(&after);
  EXPECT_TRUE(same(after, figures_of(publishes)));
}

TEST(EngineTest, FullQueueRefusesTheWholeBatch) {
  testing::TestDir dir;
  Running running(dir.File("queue.db"), 1000, /*queue=*/8);
  std::vector<IncomingSample> batch(9, IncomingSample{kService, Sample{kStartMs, 100.0, 1.0}});
  EXPECT_EQ(running.engine().Submit(std::move(batch)), SubmitResult::kQueueFull);
  running.engine().WaitIdle();
  EXPECT_FALSE(running.engine().HasService(kService));  // nothing of a refused batch remains
  EXPECT_GE(running.engine().GetStatus().rejected_queue_full, 1u);
}

// The queue counts samples: one that also feeds an endpoint series is one item, processed for
// both series, so a batch as large as the queue is taken with endpoint series on too.
TEST(EngineTest, ASampleFeedingAnEndpointSeriesTakesOnePlaceInTheQueue) {
  testing::TestDir dir;
  Running running(dir.File("queue.db"), 1000, /*queue=*/8, 200000,
                  [](Config& config) { config.series.per_endpoint = true; });
  std::vector<IncomingSample> batch;
  for (int i = 0; i < 8; ++i) {
    batch.emplace_back(kService, Sample{kStartMs + i * kStepMs, 100.0 + i, 1.0},
                       i % 2 == 0 ? "/a" : "/b");
  }
  ASSERT_EQ(running.engine().Submit(std::move(batch)), SubmitResult::kAccepted);
  running.engine().WaitIdle();
  ServiceHealth health;
  ASSERT_TRUE(running.engine().GetHealth(kService, &health));
  EXPECT_EQ(health.sample_count, 8u);
  for (const char* endpoint : {"/a", "/b"}) {
    ASSERT_TRUE(running.engine().GetHealth(EndpointSeriesKey(kService, endpoint), &health));
    EXPECT_EQ(health.sample_count, 4u) << endpoint;
  }
  const EngineStatus status = running.engine().GetStatus();
  EXPECT_EQ(status.samples_processed, 8u);
  EXPECT_EQ(status.services_monitored, 3u);
}

// Forgetting one endpoint series leaves the service's other endpoint series found by their
// endpoints (the service keeps their texts together, and moves them up when one goes).
TEST(EngineTest, AfterAnEndpointSeriesIsForgottenTheOthersStillTakeTheirSamples) {
  testing::TestDir dir;
  Running running(dir.File("forget.db"), 1000, 65536, 200000,
                  [](Config& config) { config.series.per_endpoint = true; });
  const std::vector<std::string> endpoints = {"/a", "/bb", "/ccc"};
  int64_t timestamp_ms = kStartMs;
  auto send = [&](const std::vector<std::string>& to) {
    std::vector<IncomingSample> batch;
    batch.reserve(to.size());
    for (const std::string& endpoint : to) {
      batch.emplace_back(kService, Sample{timestamp_ms += kStepMs, 100.0, 1.0}, endpoint);
    }
    ASSERT_EQ(running.engine().Submit(std::move(batch)), SubmitResult::kAccepted);
    running.engine().WaitIdle();
  };
  send(endpoints);
  ASSERT_EQ(running.engine().Forget(EndpointSeriesKey(kService, "/a")),
            Engine::ForgetResult::kForgetting);
  running.engine().WaitIdle();
  send(endpoints);
  ServiceHealth health;
  for (const auto& [endpoint, count] :
       std::vector<std::pair<std::string, uint64_t>>{{"/a", 1}, {"/bb", 2}, {"/ccc", 2}}) {
    ASSERT_TRUE(running.engine().GetHealth(EndpointSeriesKey(kService, endpoint), &health));
    EXPECT_EQ(health.sample_count, count) << endpoint;
  }
  EXPECT_EQ(running.engine().GetStatus().services_monitored, 4u);
}

// An endpoint series whose samples are tags in its service's rows (SQLite) and that stops getting
// samples takes a snapshot with one of its service's, at the latest the 10th since its own: its
// samples then neither wait for it in the store for ever (retention) nor make a restart read its
// service's rows from far back.
TEST(EngineTest, AnEndpointSeriesThatLagsTakesASnapshotWithItsService) {
  testing::TestDir dir;
  Running running(dir.File("lag.db"), /*snapshot_every=*/5, 65536, 200000,
                  [](Config& config) { config.series.per_endpoint = true; });
  std::vector<IncomingSample> batch;
  for (int i = 0; i < 3; ++i) {
    batch.emplace_back(kService, Sample{kStartMs + i * kStepMs, 100.0 + i, 1.0}, "/rare");
  }
  for (int i = 3; i < 103; ++i) {  // 100 more of the service alone: 20 of its snapshots at least
    batch.emplace_back(kService, Sample{kStartMs + i * kStepMs, 100.0 + i % 7, 1.0});
  }
  ASSERT_EQ(running.engine().Submit(std::move(batch)), SubmitResult::kAccepted);
  running.engine().WaitIdle();
  const std::string series = EndpointSeriesKey(kService, "/rare");
  uint64_t snapshot_seq = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (snapshot_seq == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(
        running.store()
            .ScanServices([&](const std::string& id, const StoredSnapshot* snapshot, uint64_t) {
              if (id == series && snapshot != nullptr) snapshot_seq = snapshot->last_seq;
            })
            .ok());
  }
  EXPECT_EQ(snapshot_seq, 3u);
}

TEST(EngineTest, ServiceCapRefusesNewServicesOnly) {
  testing::TestDir dir;
  Running running(dir.File("cap.db"), 1000, 65536, /*max_services=*/2);
  auto sample = [](const char* id) { return IncomingSample{id, Sample{kStartMs, 100.0, 1.0}}; };
  EXPECT_EQ(running.engine().Submit({sample("a"), sample("b"), sample("a")}),
            SubmitResult::kAccepted);
  EXPECT_EQ(running.engine().Submit({sample("a"), sample("c")}), SubmitResult::kTooManyServices);
  EXPECT_EQ(running.engine().Submit({sample("b")}), SubmitResult::kAccepted);
  running.engine().WaitIdle();
  EXPECT_FALSE(running.engine().HasService("c"));
  ServiceHealth health;
  ASSERT_TRUE(running.engine().GetHealth("a", &health));
  EXPECT_EQ(health.sample_count, 2u);  // the refused batch's sample for "a" was not taken
}

TEST(EngineTest, ResetIsRecordedAndStartsOver) {
  testing::TestDir dir;
  Running running(dir.File("reset.db"));
  running.Run(Normal(120, 13), 0);
  EXPECT_FALSE(running.engine().Reset("no-such-service", kStartMs));
  ASSERT_TRUE(running.engine().Reset(kService, kStartMs + 999));
  ServiceHealth health;
  ASSERT_TRUE(running.engine().GetHealth(kService, &health));
  EXPECT_EQ(health.state, ServiceState::kInsufficientData);
  EXPECT_EQ(health.sample_count, 120u);
  EXPECT_FALSE(health.baseline.valid);
  std::vector<StoredEvent> events;
  ASSERT_TRUE(running.engine().Events(kService, 1, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "reset");
  EXPECT_EQ(events[0].from_state, "STABLE");
}

TEST(EngineTest, PipelineChangeRebuildsStateFromStoredSamplesSinceTheLastReset) {
  testing::TestDir dir;
  const std::string db = dir.File("pipeline.db");
  {
    Running before(db);
    before.Run(Concat({Normal(150, 14), {Step{0, true}}, Normal(120, 15)}), 0);
    ASSERT_TRUE(before.engine().Stop());
  }
  // Only Rule 1 now: the saved detector states no longer match, so the service is rebuilt from
  // the 120 samples after its reset, under the new pipeline.
  Running after(db, 1000, 65536, 200000, [](Config& config) { config.triggers.resize(1); });
  ServiceHealth health;
  ASSERT_TRUE(after.engine().GetHealth(kService, &health));
  EXPECT_EQ(health.state, ServiceState::kStable);
  EXPECT_EQ(health.sample_count, 270u);
  EXPECT_EQ(health.baseline.sample_count, 100u);
  // The rebuild is an event, and the health shows it: the two agree.
  std::vector<StoredEvent> events;
  ASSERT_TRUE(after.engine().Events(kService, 1, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "pipeline_changed");
  EXPECT_EQ(events[0].from_state, "STABLE");  // as the old pipeline left it
  EXPECT_EQ(events[0].to_state, "STABLE");
  EXPECT_EQ(events[0].metadata_json, health.metadata_json);
  EXPECT_NE(
      health.metadata_json.find(R"("old_pipeline":"zscore_severe, moderate_window, recovery")"),
      std::string::npos)
      << health.metadata_json;
  EXPECT_NE(health.metadata_json.find(R"("new_pipeline":"zscore_severe, recovery")"),
            std::string::npos)
      << health.metadata_json;
  after.Run(Constant(5, 900.0), 270);
  ASSERT_TRUE(after.engine().GetHealth(kService, &health));
  EXPECT_EQ(health.state, ServiceState::kDriftDetected);
  EXPECT_EQ(health.sample_count, 275u);
}

// Samples the store refused were set aside, not stored, so the stored seqs of a service have a gap
// (here 11..15). After a restart that replays the stored samples (no snapshot: a hard kill), the
// next sample's seq must still follow the highest stored one, or the store would refuse it too.
TEST(EngineTest, RestoreKeepsNewSeqsAboveTheStoredOnesAcrossAGap) {
  testing::TestDir dir;
  const std::string db = dir.File("gap.db");
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(Plugins().FindStorage("sqlite"), {{"path", db}}, &store).ok());
    WriteBatch batch;
    const ServiceId id = std::make_shared<const std::string>(kService);
    for (uint64_t seq : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 17, 18, 19, 20}) {
      batch.samples.push_back(
          {id, seq, kStartMs + static_cast<int64_t>(seq) * kStepMs, 150.0, 2.5});
    }
    const Status written = store->Write(batch);
    ASSERT_TRUE(written.ok()) << written.message();
  }
  Running revived(db);
  ServiceHealth health;
  ASSERT_TRUE(revived.engine().GetHealth(kService, &health));
  EXPECT_EQ(health.sample_count, 20u);  // its highest seq: the refused samples were processed too
  revived.Run(Constant(2, 150.0), 21);
  EXPECT_TRUE(revived.engine().Stop());
  const EngineStatus status = revived.engine().GetStatus();
  EXPECT_EQ(status.refused_samples, 0u) << status.last_refusal;
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(revived.store()
                  .ScanSamples(kService, 15, [&](const StoredSample& s) { seqs.push_back(s.seq); })
                  .ok());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{16, 17, 18, 19, 20, 21, 22}));
}

// Forgets `service_id` and waits for the store to have forgotten it.
Engine::CommitResult ForgetAndWait(Engine& engine, const std::string& service_id) {
  auto done = std::make_shared<std::promise<Engine::CommitResult>>();
  const Engine::ForgetResult result =
      engine.Forget(service_id, [done](Engine::CommitResult r) { done->set_value(r); });
  EXPECT_EQ(result, Engine::ForgetResult::kForgetting);
  if (result != Engine::ForgetResult::kForgetting) return Engine::CommitResult::kAbandoned;
  auto future = done->get_future();
  EXPECT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  return future.get();
}

size_t StoredSampleCount(Store& store, const std::string& service_id) {
  size_t count = 0;
  EXPECT_TRUE(store.ScanSamples(service_id, 0, [&](const StoredSample&) { ++count; }).ok());
  return count;
}

// A stored key that no sample could have made (an endpoint series with no service or no endpoint,
// written by another plugin or by hand) is left in the store, not monitored: it could not be
// addressed, and would show as its service twice.
TEST(EngineTest, AStoredKeyWithNoServiceOrNoEndpointIsNotRestored) {
  testing::TestDir dir;
  const std::string db = dir.File("keys.db");
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(Plugins().FindStorage("sqlite"), {{"path", db}}, &store).ok());
    WriteBatch batch;
    for (const char* key : {"svc#", "#/a", "svc#/a"}) {
      batch.samples.push_back({std::make_shared<const std::string>(key), 1, kStartMs, 100.0, 1.0});
    }
    ASSERT_TRUE(store->Write(batch).ok());
  }
  Running running(db, 1000, 65536, 200000,
                  [](Config& config) { config.series.per_endpoint = true; });
  EXPECT_TRUE(running.engine().HasService("svc#/a"));
  // Its service kept nothing: it is monitored afresh beside its endpoint series.
  EXPECT_TRUE(running.engine().HasService("svc"));
  EXPECT_FALSE(running.engine().HasService("svc#"));
  EXPECT_FALSE(running.engine().HasService("#/a"));
  EXPECT_EQ(StoredSampleCount(running.store(), "svc#"), 1u);  // still stored
}

TEST(EngineTest, ForgetDeletesTheServiceAndALaterSampleStartsItAnew) {
  testing::TestDir dir;
  const std::string db = dir.File("forget.db");
  {
    Running running(db);
    running.Run(Concat({Normal(150, 21), Constant(5, 900.0)}), 0);
    ASSERT_EQ(running.engine().Submit({{"other", Sample{kStartMs, 120.0, 1.0}}}),
              SubmitResult::kAccepted);
    running.engine().WaitIdle();
    ServiceHealth health;
    ASSERT_TRUE(running.engine().GetHealth(kService, &health));
    ASSERT_EQ(health.state, ServiceState::kDriftDetected);

    EXPECT_EQ(ForgetAndWait(running.engine(), kService), Engine::CommitResult::kCommitted);
    EXPECT_FALSE(running.engine().GetHealth(kService, &health));
    EXPECT_FALSE(running.engine().HasService(kService));
    EXPECT_FALSE(running.engine().Reset(kService, kStartMs));
    EXPECT_EQ(running.engine().Forget(kService), Engine::ForgetResult::kUnknown);
    const std::vector<ServiceHealth> listed = running.engine().ListServices();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].service_id, "other");
    EXPECT_EQ(StoredSampleCount(running.store(), kService), 0u);
    std::vector<StoredEvent> events;
    ASSERT_TRUE(running.store().QueryEvents(kService, 100, &events).ok());
    EXPECT_TRUE(events.empty());
    EXPECT_EQ(StoredSampleCount(running.store(), "other"), 1u);

    ASSERT_EQ(running.engine().Submit({{kService, Sample{kStartMs, 150.0, 2.5}}}),
              SubmitResult::kAccepted);
    running.engine().WaitIdle();
    ASSERT_TRUE(running.engine().GetHealth(kService, &health));
    EXPECT_EQ(health.state, ServiceState::kInsufficientData);
    EXPECT_EQ(health.sample_count, 1u);
    EXPECT_EQ(health.window_samples, 1u);
    ASSERT_TRUE(running.engine().Events(kService, 100, &events).ok());
    EXPECT_TRUE(events.empty());
  }
  Running restarted(db);  // nothing of the old service comes back
  ServiceHealth health;
  ASSERT_TRUE(restarted.engine().GetHealth(kService, &health));
  EXPECT_EQ(health.sample_count, 1u);
  EXPECT_EQ(health.state, ServiceState::kInsufficientData);
  EXPECT_EQ(StoredSampleCount(restarted.store(), kService), 1u);
  EXPECT_TRUE(restarted.engine().HasService("other"));
}

// Samples accepted before the forget are forgotten with the service, whether still queued or
// waiting for a commit; those accepted after it make the new service, numbered from 1.
TEST(EngineTest, ForgetIsOrderedBetweenTheSamplesAroundIt) {
  testing::TestDir dir;
  const std::string db = dir.File("order.db");
  constexpr int kBefore = 5000;
  constexpr int kAfter = 700;
  {
    Running running(db);
    std::vector<IncomingSample> before;
    for (int i = 0; i < kBefore; ++i) {
      before.push_back({kService, Sample{kStartMs + i * kStepMs, 150.0 + i % 7, 2.5}});
    }
    ASSERT_EQ(running.engine().Submit(std::move(before)), SubmitResult::kAccepted);
    auto done = std::make_shared<std::promise<Engine::CommitResult>>();
    ASSERT_EQ(
        running.engine().Forget(kService, [done](Engine::CommitResult r) { done->set_value(r); }),
        Engine::ForgetResult::kForgetting);
    for (int i = 0; i < kAfter; ++i) {
      ASSERT_EQ(running.engine().Submit(
                    {{kService, Sample{kStartMs + (kBefore + i) * kStepMs, 90.0, 1.0}}}),
                SubmitResult::kAccepted);
    }
    running.engine().WaitIdle();
    auto future = done->get_future();
    ASSERT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    EXPECT_EQ(future.get(), Engine::CommitResult::kCommitted);
    ServiceHealth health;
    ASSERT_TRUE(running.engine().GetHealth(kService, &health));
    EXPECT_EQ(health.sample_count, static_cast<uint64_t>(kAfter));
  }
  Running restarted(db);
  ServiceHealth health;
  ASSERT_TRUE(restarted.engine().GetHealth(kService, &health));
  EXPECT_EQ(health.sample_count, static_cast<uint64_t>(kAfter));
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(restarted.store()
                  .ScanSamples(kService, 0,
                               [&](const StoredSample& s) {
                                 EXPECT_EQ(s.latency_ms, 90.0);
                                 seqs.push_back(s.seq);
                               })
                  .ok());
  ASSERT_EQ(seqs.size(), static_cast<size_t>(kAfter));
  EXPECT_EQ(seqs.front(), 1u);
  EXPECT_EQ(seqs.back(), static_cast<uint64_t>(kAfter));
}

// A storage backend built against ABI 1.0 has no on_forget: the engine says so and changes
// nothing.
TEST(EngineTest, ForgetNeedsABackendThatCanForget) {
  testing::TestDir dir;
  dw_type_storage v1_0 = *Plugins().FindStorage("sqlite");
  v1_0.struct_size = offsetof(dw_type_storage, on_forget);  // as a 1.0 plugin's struct ends
  Config config;
  config.storage.path = dir.File("old.db");
  DetectorSet detectors;
  ASSERT_TRUE(BuildDetectorSet(config, Plugins(), &detectors).ok());
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(&v1_0, {{"path", config.storage.path}}, &store).ok());
  EXPECT_FALSE(store->CanForget());
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Create(config, detectors, store.get(), &engine).ok());
  engine->Start();
  ASSERT_EQ(engine->Submit({{kService, Sample{kStartMs, 150.0, 2.5}}}), SubmitResult::kAccepted);
  engine->WaitIdle();
  EXPECT_EQ(engine->Forget(kService), Engine::ForgetResult::kNotSupported);
  EXPECT_TRUE(engine->HasService(kService));
  ASSERT_TRUE(engine->Stop());
  EXPECT_EQ(StoredSampleCount(*store, kService), 1u);
}

// A storage backend built before ABI 1.2 keeps no outbox: with notification targets configured the
// engine refuses to start, naming the backend, rather than lose what it should send.
TEST(EngineTest, NotificationTargetsNeedABackendWithAnOutbox) {
  testing::TestDir dir;
  dw_type_storage v1_1 = *Plugins().FindStorage("sqlite");
  v1_1.struct_size = offsetof(dw_type_storage, on_scan_notifications);  // as a 1.1 struct ends
  Config config;
  config.storage.path = dir.File("old.db");
  config.notify.targets.push_back({"hook", "webhook", "http://127.0.0.1:9", "", "", {}, 1});
  DetectorSet detectors;
  ASSERT_TRUE(BuildDetectorSet(config, Plugins(), &detectors).ok());
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(&v1_1, {{"path", config.storage.path}}, &store).ok());
  EXPECT_FALSE(store->HasOutbox());
  std::unique_ptr<Engine> engine;
  const Status created = Engine::Create(config, detectors, store.get(), &engine);
  EXPECT_EQ(created.kind(), Status::Kind::kInvalidArgument);
  EXPECT_NE(created.message().find("'sqlite'"), std::string::npos) << created.message();
  EXPECT_NE(created.message().find("no notification outbox"), std::string::npos);
  EXPECT_EQ(engine, nullptr);
  config.notify.targets.clear();  // without targets the same store serves as before
  EXPECT_TRUE(Engine::Create(config, detectors, store.get(), &engine).ok());
}

// What the sender is handed, with the order of events.
class RecordingSink : public NotificationSink {
 public:
  void Committed(std::vector<StoredNotification>&& rows) override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (StoredNotification& row : rows) committed.push_back(std::move(row));
  }
  void Forgotten(const std::string& service_id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    forgotten.push_back(service_id);
  }
  std::vector<StoredNotification> committed;
  std::vector<std::string> forgotten;

 private:
  std::mutex mutex_;
};

// Each transition `notify.on` lists makes one row per target, stored with its event and handed to
// the sink once committed; a drift's end shares its incident key.
TEST(EngineTest, TransitionsAreStoredInTheOutboxAndHandedOnOnceCommitted) {
  testing::TestDir dir;
  Running running(dir.File("outbox.db"), 1000, 65536, 200000, [](Config& config) {
    config.notify.on = {"drift_detected", "recovered", "baseline_established"};
    config.notify.targets.push_back({"am", "alertmanager", "http://127.0.0.1:9", "", "", {}, 1});
    config.notify.targets.push_back({"hook", "webhook", "http://127.0.0.1:9", "", "", {}, 2});
  });
  RecordingSink sink;
  running.engine().SetNotificationSink(&sink);
  running.Run(Concat({Normal(150, 11), Constant(5, 900.0), Normal(60, 12)}), 0);
  ASSERT_TRUE(running.engine().Stop());
  std::vector<StoredNotification> stored;
  ASSERT_TRUE(running.store()
                  .ScanNotifications(
                      {}, [&](StoredNotification&& row) { stored.push_back(std::move(row)); })
                  .ok());
  // baseline_established goes to the webhook only; the drift and the recovery to both.
  std::vector<std::string> rows;
  for (const StoredNotification& row : stored) rows.push_back(row.target + " " + row.id);
  const std::string service = kService;
  const std::vector<std::string> expected = {"hook " + service + "/100", "am " + service + "/155",
                                             "hook " + service + "/155"};
  ASSERT_GE(rows.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(rows.begin(), rows.begin() + 3), expected);
  EXPECT_EQ(rows[3].substr(0, 3), "am ");
  EXPECT_EQ(rows[4].substr(0, 5), "hook ");
  EXPECT_EQ(rows.size(), 5u);
  for (const StoredNotification& row : stored) {
    EXPECT_EQ(row.state, NotificationState::kPending);
    EXPECT_EQ(row.attempts, 0u);
  }
  EXPECT_NE(stored[4].body.find("\"incident_key\":\"driftwatch/" + service + "/155\""),
            std::string::npos)
      << stored[4].body;
  ASSERT_EQ(sink.committed.size(), stored.size());
  for (size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(sink.committed[i].id, stored[i].id);
}

// A batch that finds an endpoint series, then has to take the exclusive lock for a new service,
// while a DELETE of that endpoint series lands in between: the series found first must not be
// handed on, or its sample would be queued on a forgotten series (freed once its forget is
// processed).
TEST(ServiceRegistryTest, ASeriesForgottenBetweenTheTwoLookupsIsNotHandedOn) {
  Config config;
  DetectorSet detectors;
  ASSERT_TRUE(BuildDetectorSet(config, Plugins(), &detectors).ok());
  ServiceRegistry registry(1, config.baseline, detectors);
  const ServiceRegistry::Limits limits{true, 1000, 2};
  // Each key names a series: "service" or "service#endpoint".
  auto resolve = [&](const std::vector<std::string>& keys,
                     const std::function<void(const std::vector<SampleSeries>&)>& check) {
    std::vector<IncomingSample> samples;
    for (const std::string& key : keys) {
      const SeriesName name = SplitSeriesKey(key);
      samples.emplace_back(std::string(name.service_id), Sample{}, std::string(name.endpoint));
    }
    std::vector<SampleSeries> series;
    size_t overflowed = 0;
    registry.Resolve(samples, limits, &series, &overflowed, [&] { check(series); });
  };
  auto ignore = [](const std::vector<SampleSeries>&) {};
  resolve({"svc#/a", "svc#/b"}, ignore);
  // Forgotten entries are kept alive here, so that a stale one is seen as forgotten, not freed.
  std::vector<std::shared_ptr<ServiceEntry>> forgotten;
  auto forget = [&](const std::string& key) {
    registry.Remove(key, [&](std::vector<std::shared_ptr<ServiceEntry>> removed) {
      for (auto& entry : removed) {
        entry->forgotten = true;  // under the registry's exclusive lock, as the check reads it
        forgotten.push_back(std::move(entry));
      }
    });
  };
  std::atomic<bool> done{false};
  std::thread deleter([&] {
    while (!done.load()) {
      forget("svc#/a");
      forget("svc#/c");
      resolve({"svc#/a"}, ignore);
    }
  });
  int stale = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string fresh = "new-" + std::to_string(i);
    resolve({"svc#/c", "svc#/a", fresh}, [&](const std::vector<SampleSeries>& series) {
      for (const SampleSeries& found : series) {
        if (found.service->forgotten) ++stale;
        if (found.endpoint != nullptr && found.endpoint->forgotten) ++stale;
      }
    });
    forget(fresh);
  }
  done = true;
  deleter.join();
  EXPECT_EQ(stale, 0);
}

}  // namespace
}  // namespace driftwatch
