// What durable ingest rests on, in process: the storage writer calls a batch's callback once,
// after the batch is committed (or with false when Stop gives up on it), and batches that wait
// for a commit share one (group commit); the engine calls a submission's callback once, when
// every one of its samples, across shards and batches, is committed, never for a submission it
// refused, and says "refused" to exactly the submissions with samples the store refused.
#include <gtest/gtest.h>
#include <driftwatch/plugin.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/pipeline.h"
#include "core/storage_writer.h"
#include "tests/storage/faulty_store.h"
#include "tests/storage/storage_test_support.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kPatience{60000};

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Recent samples, so retention leaves them alone.
WriteBatch SampleBatch(const char* service_id, uint64_t first, uint64_t last) {
  WriteBatch batch;
  batch.samples = Samples(service_id, first, last, NowMs());
  return batch;
}

uint64_t StoredSamples(Store& store, const std::string& service_id) {
  uint64_t count = 0;
  EXPECT_TRUE(store.ScanSamples(service_id, 0, [&](const StoredSample&) { ++count; }).ok());
  return count;
}

// Counts callbacks, and what they said, for a test to wait on.
struct Reports {
  std::mutex mutex;
  std::condition_variable changed;
  int committed = 0;
  int failed = 0;
  int refused = 0;  // the engine's kRefused; a writer's report that names a refused service

  void Add(int Reports::*outcome) {
    std::lock_guard<std::mutex> lock(mutex);
    ++(this->*outcome);
    changed.notify_all();
  }
  // For StorageWriter::Submit.
  StorageWriter::CommitCallback Callback(const std::function<void()>& also = {}) {
    return [this, also](const CommitReport& report) {
      if (also) also();
      Add(!report.committed        ? &Reports::failed
          : report.refused.empty() ? &Reports::committed
                                   : &Reports::refused);
    };
  }
  // For Engine::Submit.
  Engine::CommitCallback EngineCallback(const std::function<void()>& also = {}) {
    return [this, also](Engine::CommitResult result) {
      if (also) also();
      Add(result == Engine::CommitResult::kCommitted ? &Reports::committed
          : result == Engine::CommitResult::kRefused ? &Reports::refused
                                                     : &Reports::failed);
    };
  }
  int Total() {
    std::lock_guard<std::mutex> lock(mutex);
    return committed + failed + refused;
  }
  bool WaitFor(int total) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, kPatience, [&] { return committed + failed + refused >= total; });
  }
};

class CommitCallbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_store_faults = &faults_;
    const Status status = Store::Open(sdk::StorageType<FaultyStore>::Get(), {}, &store_);
    ASSERT_TRUE(status.ok()) << status.message();
  }
  void TearDown() override {
    Release();
    g_store_faults = nullptr;
  }

  void Hold() {
    std::lock_guard<std::mutex> lock(faults_.mutex);
    faults_.hold_writes = true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(faults_.mutex);
      faults_.hold_writes = false;
    }
    faults_.changed.notify_all();
  }
  bool WaitUntilWriting() {
    std::unique_lock<std::mutex> lock(faults_.mutex);
    return faults_.changed.wait_for(lock, kPatience, [&] { return faults_.write_waiting; });
  }

  StoreFaults faults_;
  std::unique_ptr<Store> store_;
};

TEST_F(CommitCallbackTest, WriterReportsOnceAfterTheCommit) {
  StorageWriterOptions options;
  options.commit_interval_ms = 60000;  // only a waiting callback makes it commit now
  StorageWriter writer(store_.get(), options);
  writer.Start();
  Reports reports;
  uint64_t stored_at_callback = 0;
  writer.Submit(SampleBatch(kServiceA, 1, 10),
                reports.Callback([&] { stored_at_callback = StoredSamples(*store_, kServiceA); }));
  ASSERT_TRUE(reports.WaitFor(1));
  EXPECT_EQ(stored_at_callback, 10u);  // committed before the callback ran
  EXPECT_EQ(reports.committed, 1);
  EXPECT_TRUE(writer.Stop());
  EXPECT_EQ(reports.committed, 1);  // once only
  EXPECT_EQ(reports.failed, 0);
}

TEST_F(CommitCallbackTest, BatchesThatWaitShareOneCommit) {
  StorageWriter writer(store_.get(), StorageWriterOptions{});
  writer.Start();
  Reports reports;
  Hold();
  writer.Submit(SampleBatch(kServiceA, 1, 1), reports.Callback());
  ASSERT_TRUE(WaitUntilWriting());  // the first commit is under way
  const uint64_t commits_before = writer.commits();
  for (uint64_t seq = 2; seq <= 21; ++seq) {
    writer.Submit(SampleBatch(kServiceA, seq, seq), reports.Callback());
  }
  Release();
  ASSERT_TRUE(reports.WaitFor(21));
  EXPECT_EQ(reports.committed, 21);
  EXPECT_EQ(writer.commits() - commits_before, 2u);  // the first, then the 20 that waited
  EXPECT_EQ(StoredSamples(*store_, kServiceA), 21u);
  EXPECT_TRUE(writer.Stop());
}

TEST_F(CommitCallbackTest, StopThatGivesUpReportsFailure) {
  StorageWriterOptions options;
  options.retry_interval_ms = 10;
  StorageWriter writer(store_.get(), options);
  faults_.fail_writes = true;
  writer.Start();
  Reports reports;
  writer.Submit(SampleBatch(kServiceA, 1, 3), reports.Callback());
  writer.Submit(SampleBatch(kServiceA, 4, 6), reports.Callback());
  EXPECT_FALSE(writer.Stop(milliseconds(50)));
  EXPECT_EQ(reports.failed, 2);
  EXPECT_EQ(reports.committed, 0);
  faults_.fail_writes = false;
  EXPECT_TRUE(writer.Stop());  // the samples themselves are not dropped
  EXPECT_EQ(StoredSamples(*store_, kServiceA), 6u);
  EXPECT_EQ(reports.failed + reports.committed, 2);
}

// The bundled detector plugins, loaded once (libraries are never unloaded).
const PluginRegistry& Plugins() {
  static PluginRegistry* registry = [] {
    auto* loaded = new PluginRegistry;
    std::vector<std::string> errors;
    const Status status = loaded->LoadDirectory(DRIFTWATCH_TEST_PLUGIN_DIR, &errors);
    if (!status.ok() || !errors.empty()) std::abort();
    return loaded;
  }();
  return *registry;
}

std::vector<IncomingSample> Spread(int services, int per_service, const std::string& prefix) {
  std::vector<IncomingSample> samples;
  for (int i = 0; i < per_service; ++i) {
    for (int s = 0; s < services; ++s) {
      samples.push_back(
          {prefix + std::to_string(s), driftwatch::Sample{NowMs(), 100.0 + i % 9, 1}});
    }
  }
  return samples;
}

TEST_F(CommitCallbackTest, EngineReportsOnceEverySampleOfASubmissionIsCommitted) {
  Config config;
  config.ingest.queue_capacity = 5000;
  config.ingest.max_services = 30;
  DetectorSet detectors;
  ASSERT_TRUE(BuildDetectorSet(config, Plugins(), &detectors).ok());
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Create(config, detectors, store_.get(), &engine).ok());
  engine->Start();

  // 20 services (every shard), 3000 samples (several batches of the writer): one report, once all
  // of them are stored.
  Reports reports;
  uint64_t stored_at_callback = 0;
  ASSERT_EQ(engine->Submit(Spread(20, 150, "svc-"), reports.EngineCallback([&] {
    for (int s = 0; s < 20; ++s)
      stored_at_callback += StoredSamples(*store_, "svc-" + std::to_string(s));
  })),
            SubmitResult::kAccepted);
  ASSERT_TRUE(reports.WaitFor(1));
  EXPECT_EQ(stored_at_callback, 3000u);

  // Refused submissions never report.
  EXPECT_EQ(engine->Submit(Spread(1, 6000, "big-"), reports.EngineCallback()),
            SubmitResult::kQueueFull);
  EXPECT_EQ(engine->Submit(Spread(11, 1, "new-"), reports.EngineCallback()),
            SubmitResult::kTooManyServices);
  // Many small ones at once: each reports once.
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(engine->Submit(Spread(2, 3, "svc-"), reports.EngineCallback()),
              SubmitResult::kAccepted);
  }
  ASSERT_TRUE(reports.WaitFor(51));
  EXPECT_TRUE(engine->Stop());
  EXPECT_EQ(reports.committed, 51);
  EXPECT_EQ(reports.failed, 0);
}

std::vector<IncomingSample> SamplesOf(const std::string& service_id, int count) {
  std::vector<IncomingSample> samples;
  for (int i = 0; i < count; ++i) {
    samples.push_back({service_id, driftwatch::Sample{NowMs(), 100.0 + i, 1}});
  }
  return samples;
}

// The store refuses the data of one service for good: the submissions that hold samples of it are
// told kRefused (the API answers 500 storage_refused), the others kCommitted; the refused samples
// are set aside in the file named after the store's path and counted in the engine's status.
TEST_F(CommitCallbackTest, EngineReportsARefusalOnlyToSubmissionsWithRefusedSamples) {
  TestDir dir;
  Config config;
  config.storage.path = dir.File("store.db");
  DetectorSet detectors;
  ASSERT_TRUE(BuildDetectorSet(config, Plugins(), &detectors).ok());
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Create(config, detectors, store_.get(), &engine).ok());
  {
    std::lock_guard<std::mutex> lock(faults_.mutex);
    faults_.refused_services.insert("bad");
  }
  engine->Start();

  Reports good;
  Reports bad;
  Reports mixed;
  ASSERT_EQ(engine->Submit(SamplesOf("good", 5), good.EngineCallback()), SubmitResult::kAccepted);
  ASSERT_EQ(engine->Submit(SamplesOf("bad", 3), bad.EngineCallback()), SubmitResult::kAccepted);
  std::vector<IncomingSample> both = SamplesOf("good", 2);
  for (IncomingSample& sample : SamplesOf("bad", 2)) both.push_back(std::move(sample));
  ASSERT_EQ(engine->Submit(std::move(both), mixed.EngineCallback()), SubmitResult::kAccepted);
  ASSERT_TRUE(good.WaitFor(1));
  ASSERT_TRUE(bad.WaitFor(1));
  ASSERT_TRUE(mixed.WaitFor(1));
  EXPECT_EQ(good.committed, 1);
  EXPECT_EQ(bad.refused, 1);
  EXPECT_EQ(mixed.refused, 1);

  EXPECT_EQ(StoredSamples(*store_, "good"), 7u);
  EXPECT_EQ(StoredSamples(*store_, "bad"), 0u);
  const EngineStatus status = engine->GetStatus();
  EXPECT_TRUE(status.storage_healthy);
  EXPECT_EQ(status.refused_samples, 5u);
  EXPECT_EQ(status.refused_file, dir.File("store.db.refused.jsonl"));
  EXPECT_NE(status.last_refusal.find("service 'bad'"), std::string::npos) << status.last_refusal;

  // Ingest goes on, for every service (the refused one's samples are set aside again).
  Reports later;
  ASSERT_EQ(engine->Submit(SamplesOf("good", 1), later.EngineCallback()), SubmitResult::kAccepted);
  ASSERT_TRUE(later.WaitFor(1));
  EXPECT_EQ(later.committed, 1);
  EXPECT_TRUE(engine->Stop());  // its last snapshot of "bad" is refused too: set aside, not retried
  EXPECT_EQ(StoredSamples(*store_, "good"), 8u);
  EXPECT_EQ(good.Total() + bad.Total() + mixed.Total() + later.Total(), 4);  // once each
}

// The engine's rows point at their series' id without owning it; their batch keeps it
// (WriteBatch::ids). A service forgotten while its samples are being written: they are not waited
// for, so the batch and the forget's own write are all that keep its id until that write is done
// (under ASan, a write that reads an id nothing kept fails here).
TEST_F(CommitCallbackTest, SamplesBeingWrittenKeepTheIdOfAServiceForgottenMeanwhile) {
  Config config;
  DetectorSet detectors;
  ASSERT_TRUE(BuildDetectorSet(config, Plugins(), &detectors).ok());
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Create(config, detectors, store_.get(), &engine).ok());
  engine->Start();
  const std::string id = "a-service-whose-id-is-on-the-heap";
  Hold();
  ASSERT_EQ(engine->Submit(SamplesOf(id, 5)), SubmitResult::kAccepted);
  ASSERT_TRUE(WaitUntilWriting());
  Reports forgotten;
  ASSERT_EQ(engine->Forget(id, forgotten.EngineCallback()), Engine::ForgetResult::kForgetting);
  engine->WaitIdle();  // the forget is processed: the engine no longer has the service
  Release();
  ASSERT_TRUE(forgotten.WaitFor(1));
  EXPECT_EQ(forgotten.committed, 1);
  EXPECT_EQ(StoredSamples(*store_, id), 0u);
  EXPECT_TRUE(engine->Stop());
}

}  // namespace
}  // namespace driftwatch::testing
