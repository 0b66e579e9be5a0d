// The storage writer (group commit, retries, retention) and reads running alongside writes, with
// the real storage plugins and, to inject faults, a backend that wraps the memory plugin.
#include "core/storage_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <driftwatch/plugin.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "faulty_store.h"
#include "storage_test_support.h"
#include "tests/support/eventually.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr milliseconds kPatience{30000};  // generous: only a broken writer takes this long

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

WriteBatch SampleBatch(const char* service_id, uint64_t first, uint64_t last, int64_t start_ms) {
  WriteBatch batch;
  batch.samples = Samples(service_id, first, last, start_ms);
  return batch;
}

class StorageWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_store_faults = &faults_;
    ASSERT_NE(StorageBackend("memory"), nullptr);
  }
  void TearDown() override { g_store_faults = nullptr; }

  std::unique_ptr<Store> OpenFaulty() {
    std::unique_ptr<Store> store;
    const Status status = Store::Open(sdk::StorageType<FaultyStore>::Get(), {}, &store);
    EXPECT_TRUE(status.ok()) << status.message();
    return store;
  }

  StoreFaults faults_;
};

TEST_F(StorageWriterTest, ManySubmissionsShareFewCommits) {
  auto store = OpenStore("memory", "");
  ASSERT_NE(store, nullptr);
  StorageWriterOptions options;
  options.commit_interval_ms = 10000;  // longer than the test: only the flush commits early
  StorageWriter writer(store.get(), options);
  writer.Start();
  constexpr uint64_t kSubmissions = 500;
  for (uint64_t i = 0; i < kSubmissions; ++i) {
    writer.Submit(SampleBatch(kServiceA, i * 10 + 1, i * 10 + 10, 0));
  }
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_LE(writer.commits(), 5u);  // the first submission, maybe a few racing it, the flush
  EXPECT_EQ(writer.committed_samples(), kSubmissions * 10);
  EXPECT_EQ(writer.pending_samples(), 0u);
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, kSubmissions * 10));
}

TEST_F(StorageWriterTest, WaitCommittedReturnsOnceTheBatchIsStored) {
  auto store = OpenStore("memory", "");
  ASSERT_NE(store, nullptr);
  StorageWriter writer(store.get(), StorageWriterOptions());
  EXPECT_TRUE(writer.Flush(milliseconds(0)));  // nothing submitted: nothing to wait for
  writer.Start();
  const uint64_t first = writer.Submit(SampleBatch(kServiceA, 1, 5, 0));
  const uint64_t second = writer.Submit(SampleBatch(kServiceA, 6, 8, 0));
  EXPECT_LT(first, second);
  ASSERT_TRUE(writer.WaitCommitted(second, kPatience));
  EXPECT_TRUE(writer.WaitCommitted(first, milliseconds(0)));
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 8));
  const uint64_t empty = writer.Submit(WriteBatch());
  EXPECT_TRUE(writer.WaitCommitted(empty, kPatience));
}

TEST_F(StorageWriterTest, PendingEventsAreVisibleBeforeTheCommit) {
  auto store = OpenStore("memory", "");
  ASSERT_NE(store, nullptr);
  StorageWriter writer(store.get(), StorageWriterOptions());  // not started: nothing commits yet
  WriteBatch batch = SampleBatch(kServiceA, 1, 100, 0);
  batch.events = {Event(kServiceA, 100, 100, "STABLE", "baseline_established"),
                  Event(kServiceB, 7, 7, "STABLE", "baseline_established"),
                  Event(kServiceA, 100, 100, "INSUFFICIENT_DATA", "reset")};
  writer.Submit(std::move(batch));

  const auto pending = writer.PendingEvents(kServiceA);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].reason, "baseline_established");  // oldest first
  EXPECT_EQ(pending[1].reason, "reset");
  EXPECT_EQ(writer.pending_samples(), 100u);
  std::vector<StoredEvent> stored;
  ASSERT_TRUE(store->QueryEvents(kServiceA, 10, &stored).ok());
  EXPECT_TRUE(stored.empty());

  writer.Start();
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_TRUE(writer.PendingEvents(kServiceA).empty());
  EXPECT_EQ(writer.pending_samples(), 0u);
  ASSERT_TRUE(store->QueryEvents(kServiceA, 10, &stored).ok());
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].reason, "reset");  // the store answers newest first
}

TEST_F(StorageWriterTest, FailedCommitIsRetriedAndLosesNothing) {
  auto store = OpenFaulty();
  ASSERT_NE(store, nullptr);
  StorageWriterOptions options;
  options.commit_interval_ms = 5;
  options.retry_interval_ms = 10;
  StorageWriter writer(store.get(), options);
  faults_.fail_writes = true;
  writer.Start();
  WriteBatch first = SampleBatch(kServiceA, 1, 10, 0);
  first.events = {Event(kServiceA, 10, 10, "STABLE", "baseline_established")};
  writer.Submit(std::move(first));
  ASSERT_TRUE(Eventually([&] { return !writer.healthy(); }, kPatience));
  EXPECT_THAT(writer.last_error(), HasSubstr("faulty: disk full (injected)"));
  ASSERT_TRUE(
      Eventually([&] { return faults_.write_attempts >= 3; }, kPatience));  // it keeps retrying

  writer.Submit(SampleBatch(kServiceA, 11, 20, 0));  // accepted while storage is down
  EXPECT_EQ(writer.pending_samples(), 20u);
  EXPECT_EQ(writer.PendingEvents(kServiceA).size(), 1u);
  EXPECT_FALSE(writer.Flush(milliseconds(20)));
  EXPECT_TRUE(ReadSamples(*store, kServiceA).empty());

  faults_.fail_writes = false;  // the disk has room again
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_TRUE(writer.healthy());
  EXPECT_EQ(writer.last_error(), "");
  EXPECT_EQ(writer.pending_samples(), 0u);
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 20));
  std::vector<StoredEvent> events;
  ASSERT_TRUE(store->QueryEvents(kServiceA, 10, &events).ok());
  EXPECT_EQ(events.size(), 1u);
}

TEST_F(StorageWriterTest, StopCommitsEverythingSubmitted) {
  auto store = OpenStore("memory", "");
  ASSERT_NE(store, nullptr);
  StorageWriterOptions options;
  options.commit_interval_ms = 10000;
  StorageWriter writer(store.get(), options);
  writer.Start();
  for (uint64_t i = 0; i < 20; ++i) writer.Submit(SampleBatch(kServiceB, i * 5 + 1, i * 5 + 5, 0));
  EXPECT_TRUE(writer.Stop());
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceB)), Range(1, 100));
  EXPECT_TRUE(writer.Stop());  // a second stop has nothing left to do
}

TEST_F(StorageWriterTest, StopGivesUpAtItsDeadlineAndCanBeRetried) {
  auto store = OpenFaulty();
  ASSERT_NE(store, nullptr);
  StorageWriterOptions options;
  options.retry_interval_ms = 10;
  StorageWriter writer(store.get(), options);
  faults_.fail_writes = true;
  writer.Start();
  writer.Submit(SampleBatch(kServiceA, 1, 3, 0));
  EXPECT_FALSE(writer.Stop(milliseconds(50)));
  faults_.fail_writes = false;
  EXPECT_TRUE(writer.Stop(kPatience));
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 3));
}

TEST_F(StorageWriterTest, SubmitIsNotBlockedByAPurge) {
  auto store = OpenFaulty();
  ASSERT_NE(store, nullptr);
  StorageWriterOptions options;
  options.purge_interval_ms = 1;
  StorageWriter writer(store.get(), options);
  {
    std::lock_guard<std::mutex> lock(faults_.mutex);
    faults_.hold_purge = true;
  }
  writer.Start();
  {
    std::unique_lock<std::mutex> lock(faults_.mutex);
    ASSERT_TRUE(faults_.changed.wait_for(lock, kPatience, [&] { return faults_.purge_waiting; }));
  }
  // The writer thread is inside Purge; a Submit that needed it would hang here.
  const uint64_t ticket = writer.Submit(SampleBatch(kServiceA, 1, 4, 0));
  EXPECT_EQ(writer.pending_samples(), 4u);
  {
    std::lock_guard<std::mutex> lock(faults_.mutex);
    faults_.hold_purge = false;
  }
  faults_.changed.notify_all();
  ASSERT_TRUE(writer.WaitCommitted(ticket, kPatience));
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 4));
}

class StorageWriterBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string error;
    store_ = OpenStore(GetParam(), dir_.File("store.db"), &error);
    ASSERT_NE(store_, nullptr) << error;
  }
  TestDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StorageWriterBackendTest, RetentionDeletesOldRowsAndKeepsRecentOnes) {
  const int64_t now = NowMs();
  const int64_t old_ms = now - 10 * kMsPerDay;
  WriteBatch history = SampleBatch(kServiceA, 1, 500, old_ms);
  const auto recent = Samples(kServiceA, 501, 600, now - 3600 * 1000);
  history.samples.insert(history.samples.end(), recent.begin(), recent.end());
  history.snapshots = {Snapshot(kServiceA, 600, "state")};
  history.events = {Event(kServiceA, 1, now - 40 * kMsPerDay, "STABLE", "old"),
                    Event(kServiceA, 2, now - 20 * kMsPerDay, "STABLE", "recent")};
  ASSERT_TRUE(store_->Write(history).ok());

  StorageWriterOptions options;
  options.purge_interval_ms = 10;
  options.purge_step_rows = 37;
  StorageWriter writer(store_.get(), options);
  writer.Start();
  writer.Submit(SampleBatch(kServiceB, 1, 10, now));  // ingest goes on meanwhile
  ASSERT_TRUE(Eventually(
      [&] {
        dw_type_storage_stats stats{};
        return store_->Stats(&stats).ok() && stats.sample_count == 110 && stats.event_count == 1;
      },
      kPatience));
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceA)), Range(501, 600));
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceB)), Range(1, 10));
  std::vector<StoredEvent> events;
  ASSERT_TRUE(store_->QueryEvents(kServiceA, 10, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "recent");
}

// Reads (scans, event queries, stats) run on other threads while the writer commits: every read
// sees a consistent prefix of what was written, never an error, and a batch is seen whole: never
// its snapshot without its samples.
TEST_P(StorageWriterBackendTest, ReadsRunWhileWritesCommit) {
  StorageWriterOptions options;
  options.commit_interval_ms = 1;
  StorageWriter writer(store_.get(), options);
  writer.Start();
  constexpr uint64_t kBatches = 150;
  constexpr uint64_t kPerBatch = 40;
  std::atomic<bool> writing{true};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    uint64_t seen = 0;
    while (writing) {
      uint64_t snapshot_seq = 0;
      bool snapshot_ahead = false;
      const Status services = store_->ScanServices(
          [&](const std::string&, const StoredSnapshot* snapshot, uint64_t max_seq) {
            if (snapshot == nullptr) return;
            snapshot_seq = snapshot->last_seq;
            snapshot_ahead = snapshot->last_seq > max_seq;
          });
      std::vector<uint64_t> seqs;
      const Status status = store_->ScanSamples(
          kServiceA, 0, [&](const dw_type_stored_sample& s) { seqs.push_back(s.seq); });
      if (!services.ok() || snapshot_ahead || seqs.size() < snapshot_seq) ++failures;
      std::vector<StoredEvent> events;
      dw_type_storage_stats stats{};
      if (!status.ok() || !store_->QueryEvents(kServiceA, 5, &events).ok() ||
          !store_->Stats(&stats).ok() || seqs.size() < seen || seqs != Range(1, seqs.size())) {
        ++failures;
      }
      seen = seqs.size();
    }
  });
  for (uint64_t i = 0; i < kBatches; ++i) {
    WriteBatch batch = SampleBatch(kServiceA, i * kPerBatch + 1, (i + 1) * kPerBatch, 0);
    batch.events = {Event(kServiceA, (i + 1) * kPerBatch, 0, "STABLE", "x")};
    batch.snapshots = {Snapshot(kServiceA, (i + 1) * kPerBatch, std::string(512, 'z'))};
    writer.Submit(std::move(batch));
  }
  ASSERT_TRUE(writer.Flush(kPatience));
  writing = false;
  reader.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(ReadSamples(*store_, kServiceA).size(), kBatches * kPerBatch);
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageWriterBackendTest, ::testing::Values("memory", "sqlite"),
                         BackendName);

}  // namespace
}  // namespace driftwatch::testing
