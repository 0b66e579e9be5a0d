// The storage writer (group commit, retries, refusals set aside, retention) and reads running
// alongside writes, with the real storage plugins and, to inject faults, a backend that wraps the
// memory plugin.
#include "core/storage_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <driftwatch/plugin.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/series_key.h"
#include "core/timestamp.h"

#include "faulty_store.h"
#include "storage_test_support.h"
#include "tests/support/eventually.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
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

// A refused-data file, as a test reads it back.
struct RefusedFile {
  struct Line {
    std::string kind;    // of the refusal
    std::string reason;  // the store's message
    bool is_sample = false;
    // A sample line: its service, seq and values, as the API would read them.
    std::string service_id;
    uint64_t seq = 0;
    int64_t timestamp_ms = 0;
    double latency_ms = 0;
    double payload_kb = kNoPayload;
    // An event line: its service and reason.
    std::string event_reason;
  };
  std::vector<Line> lines;
  bool exists = false;

  // (service, seq) of every sample line, in file order.
  std::vector<std::pair<std::string, uint64_t>> Samples() const {
    std::vector<std::pair<std::string, uint64_t>> samples;
    for (const Line& line : lines) {
      if (line.is_sample) samples.emplace_back(line.service_id, line.seq);
    }
    return samples;
  }
  size_t Events() const {
    return static_cast<size_t>(std::count_if(lines.begin(), lines.end(),
                                             [](const Line& line) { return !line.is_sample; }));
  }
};

RefusedFile ReadRefusedFile(const std::string& path) {
  RefusedFile file;
  std::ifstream in(path);
  file.exists = in.is_open();
  std::string text;
  while (std::getline(in, text)) {
    rapidjson::Document json;
    json.Parse<rapidjson::kParseFullPrecisionFlag>(text.c_str());
    EXPECT_FALSE(json.HasParseError()) << text;
    if (json.HasParseError() || !json.IsObject()) continue;
    RefusedFile::Line line;
    line.kind = json["kind"].GetString();
    line.reason = json["reason"].GetString();
    EXPECT_TRUE(ParseTimestamp(json["refused_at"].GetString()).has_value()) << text;
    if (json.HasMember("sample")) {
      const auto& sample = json["sample"];
      line.is_sample = true;
      line.seq = json["seq"].GetUint64();
      line.service_id = sample["service_id"].GetString();
      line.timestamp_ms = ParseTimestamp(sample["timestamp"].GetString()).value_or(-1);
      line.latency_ms = sample["latency_ms"].GetDouble();
      if (sample.HasMember("payload_kb")) line.payload_kb = sample["payload_kb"].GetDouble();
    } else {
      line.service_id = json["event"]["service_id"].GetString();
      line.event_reason = json["event"]["reason"].GetString();
    }
    file.lines.push_back(std::move(line));
  }
  return file;
}

// The reports of a writer's callbacks, which run on its thread after the commit (Flush may return
// before they ran): a test waits for them.
class ReportLog {
 public:
  StorageWriter::CommitCallback Callback() {
    return [this](const CommitReport& report) {
      std::lock_guard<std::mutex> lock(mutex_);
      reports_.push_back(report);
      changed_.notify_all();
    };
  }
  // Waits for `count` reports, and returns them all.
  std::vector<CommitReport> WaitFor(size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, kPatience, [&] { return reports_.size() >= count; });
    return reports_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<CommitReport> reports_;
};

// Appends `more` to `batch`.
void Add(WriteBatch& batch, WriteBatch&& more) { batch.Append(std::move(more)); }

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

  // The store refuses every write that holds data of `service_id`, for good.
  void Refuse(const std::string& service_id) {
    std::lock_guard<std::mutex> lock(faults_.mutex);
    faults_.refused_services.insert(service_id);
  }

  StoreFaults faults_;
  TestDir dir_;
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

// The backlog counts samples, as the queue does: an endpoint series' copy of a sample whose
// service's row waits beside it is not a second sample (docs/behaviour.md, "Endpoint series").
TEST_F(StorageWriterTest, PendingSamplesCountAnEndpointSeriesCopyOnce) {
  auto store = OpenStore("memory", "");
  ASSERT_NE(store, nullptr);
  StorageWriter writer(store.get(), StorageWriterOptions());  // not started: nothing commits yet
  const std::string endpoint_series = EndpointSeriesKey(kServiceA, "GET /orders");
  for (uint64_t seq = 1; seq <= 3; ++seq) {  // as the engine makes them, in turns
    WriteBatch batch = SampleBatch(kServiceA, seq, seq, 0);
    Add(batch, SampleBatch(endpoint_series.c_str(), seq, seq, 0));
    batch.endpoint_rows = 1;
    writer.Submit(std::move(batch));
  }
  writer.Submit(SampleBatch(kServiceB, 1, 2, 0));
  EXPECT_EQ(writer.pending_samples(), 5u);  // 3 of A, each also in its endpoint series, 2 of B

  writer.Start();
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_EQ(writer.pending_samples(), 0u);
  EXPECT_EQ(Seqs(ReadSamples(*store, endpoint_series.c_str())), Range(1, 3));
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 3));
}

// A forget drops what still waits of the service, wherever it waits (submitted, or in a commit
// that fails and is retried), and never what was submitted after it.
TEST_F(StorageWriterTest, ForgetDropsTheServicesWaitingDataAndKeepsWhatCameAfter) {
  auto store = OpenFaulty();
  ASSERT_NE(store, nullptr);
  StorageWriterOptions options;
  options.commit_interval_ms = 5;
  options.retry_interval_ms = 20;
  StorageWriter writer(store.get(), options);
  writer.Start();
  writer.Submit(SampleBatch(kServiceA, 1, 10, 0));
  ASSERT_TRUE(writer.Flush(kPatience));  // A 1-10 stored

  faults_.fail_writes = true;
  WriteBatch waiting = SampleBatch(kServiceA, 11, 20, 0);  // fails, and waits for the retry
  WriteBatch other = SampleBatch(kServiceB, 1, 5, 0);
  waiting.Append(std::move(other));
  waiting.events = {Event(kServiceA, 15, 15, "STABLE", "baseline_established")};
  writer.Submit(std::move(waiting));
  ASSERT_TRUE(Eventually([&] { return !writer.healthy(); }, kPatience));
  WriteBatch forget;
  forget.forgotten = {kServiceA};
  forget.samples = Samples(kServiceA, 1, 3, 1000);  // the new service of the same id
  writer.Submit(std::move(forget));
  // Once the retry takes it in, A's old data is gone from what waits: B 1-5 and the new A 1-3.
  ASSERT_TRUE(Eventually([&] { return writer.pending_samples() == 8u; }, kPatience));
  EXPECT_TRUE(writer.PendingEvents(kServiceA).empty());

  faults_.fail_writes = false;
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_EQ(writer.pending_samples(), 0u);
  const auto samples = ReadSamples(*store, kServiceA);
  EXPECT_EQ(Seqs(samples), Range(1, 3));
  EXPECT_EQ(samples[0].timestamp_ms, 1001);
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceB)), Range(1, 5));
  std::vector<StoredEvent> events;
  ASSERT_TRUE(store->QueryEvents(kServiceA, 10, &events).ok());
  EXPECT_TRUE(events.empty());
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

// A permanent refusal of one service's data (the store's invalid argument) no longer blocks the
// others: that service's data is set aside in the file, counted and logged once, the rest is
// committed, and the writer stays healthy and keeps going.
TEST_F(StorageWriterTest, RefusedServiceIsSetAsideAndTheOthersCommit) {
  const char* const kServiceC = "inventory";
  auto store = OpenFaulty();
  ASSERT_NE(store, nullptr);
  StorageWriterOptions options;
  options.commit_interval_ms = 5;
  options.refused_path = dir_.File("store.refused.jsonl");
  StorageWriter writer(store.get(), options);
  Refuse(kServiceB);

  WriteBatch batch = SampleBatch(kServiceA, 1, 10, 1000);
  Add(batch, SampleBatch(kServiceB, 1, 5, 2000));
  Add(batch, SampleBatch(kServiceC, 1, 3, 3000));
  batch.events = {Event(kServiceB, 5, 2005, "STABLE", "baseline_established"),
                  Event(kServiceA, 10, 1010, "STABLE", "baseline_established")};
  batch.snapshots = {Snapshot(kServiceB, 5, "b-state"), Snapshot(kServiceA, 10, "a-state")};
  ReportLog reports;
  writer.Submit(std::move(batch), reports.Callback());

  ::testing::internal::CaptureStderr();
  writer.Start();
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_TRUE(writer.healthy());
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 10));
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceC)), Range(1, 3));
  EXPECT_TRUE(ReadSamples(*store, kServiceB).empty());
  const auto services = ReadServices(*store);
  ASSERT_EQ(services.size(), 2u);  // B's snapshot went with its data
  EXPECT_EQ(services[0].service_id, kServiceA);
  EXPECT_EQ(services[0].snapshot_data, "a-state");
  std::vector<StoredEvent> events;
  ASSERT_TRUE(store->QueryEvents(kServiceB, 10, &events).ok());
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(writer.PendingEvents(kServiceB).empty());

  EXPECT_EQ(writer.refused_samples(), 5u);
  EXPECT_EQ(writer.refused_events(), 1u);
  EXPECT_EQ(writer.pending_samples(), 0u);
  EXPECT_EQ(writer.committed_samples(), 13u);
  EXPECT_THAT(writer.last_refusal(), HasSubstr(std::string("service '") + kServiceB + "'"));
  EXPECT_THAT(writer.last_refusal(), HasSubstr("invalid_argument"));
  const std::vector<CommitReport> told = reports.WaitFor(1);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_TRUE(told[0].committed);
  EXPECT_THAT(told[0].refused, ElementsAre(kServiceB));
  EXPECT_TRUE(told[0].Refused(kServiceB));
  EXPECT_FALSE(told[0].Refused(kServiceA));

  // The file holds exactly the refused part, each sample as it was accepted.
  RefusedFile file = ReadRefusedFile(options.refused_path);
  const std::vector<std::pair<std::string, uint64_t>> refused_b = {
      {kServiceB, 1}, {kServiceB, 2}, {kServiceB, 3}, {kServiceB, 4}, {kServiceB, 5}};
  EXPECT_EQ(file.Samples(), refused_b);
  ASSERT_EQ(file.Events(), 1u);
  const auto expected = Samples(kServiceB, 1, 5, 2000);
  for (size_t i = 0; i < expected.size(); ++i) {
    const RefusedFile::Line& line = file.lines[i];
    EXPECT_EQ(line.kind, "invalid_argument");
    EXPECT_EQ(line.reason, std::string("faulty: data of '") + kServiceB + "' refused (injected)");
    EXPECT_EQ(line.timestamp_ms, expected[i].timestamp_ms);
    EXPECT_TRUE(SameDouble(line.latency_ms, expected[i].latency_ms)) << i;
    EXPECT_TRUE(SameDouble(line.payload_kb, expected[i].payload_kb)) << i;
  }
  EXPECT_EQ(file.lines.back().event_reason, "baseline_established");

  // It keeps going: B is refused again and set aside again, A commits.
  WriteBatch next = SampleBatch(kServiceB, 6, 7, 2006);
  Add(next, SampleBatch(kServiceA, 11, 12, 1011));
  writer.Submit(std::move(next));
  ASSERT_TRUE(writer.Flush(kPatience));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 12));
  EXPECT_EQ(writer.refused_samples(), 7u);
  file = ReadRefusedFile(options.refused_path);
  EXPECT_EQ(file.Samples().size(), 7u);
  EXPECT_EQ(file.Samples().back(), std::make_pair(std::string(kServiceB), uint64_t{7}));
  EXPECT_TRUE(writer.healthy());
  // Logged once: one line for the service, not one per refusal, nor per sample.
  size_t lines = 0;
  for (size_t at = log.find("refused the data of service"); at != std::string::npos;
       at = log.find("refused the data of service", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << log;
  EXPECT_THAT(log, HasSubstr(options.refused_path));
}

// Only a refusal of the data is isolated: an I/O error, a corrupt store or a plugin's plain error
// is retried with the whole batch as before, and nothing is set aside.
TEST_F(StorageWriterTest, OtherFailuresAreRetriedAndNothingIsSetAside) {
  for (const dw_type_status code : {DW_STATUS_IO_ERROR, DW_STATUS_CORRUPT, DW_STATUS_ERROR}) {
    SCOPED_TRACE(code);
    auto store = OpenFaulty();
    ASSERT_NE(store, nullptr);
    StorageWriterOptions options;
    options.commit_interval_ms = 5;
    options.retry_interval_ms = 10;
    options.refused_path = dir_.File("store.refused.jsonl");
    StorageWriter writer(store.get(), options);
    faults_.fail_status = code;
    faults_.fail_writes = true;
    WriteBatch batch = SampleBatch(kServiceA, 1, 5, 0);
    Add(batch, SampleBatch(kServiceB, 1, 5, 0));
    writer.Submit(std::move(batch));
    const int attempts = faults_.write_attempts;
    writer.Start();
    ASSERT_TRUE(Eventually([&] { return faults_.write_attempts >= attempts + 3; }, kPatience));
    EXPECT_FALSE(writer.healthy());
    EXPECT_EQ(writer.refused_samples(), 0u);
    EXPECT_FALSE(std::filesystem::exists(options.refused_path));
    faults_.fail_writes = false;
    ASSERT_TRUE(writer.Flush(kPatience));
    EXPECT_TRUE(writer.healthy());
    EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 5));
    EXPECT_EQ(Seqs(ReadSamples(*store, kServiceB)), Range(1, 5));
    EXPECT_EQ(writer.refused_samples(), 0u);
  }
}

// Makes the rows of one service point at its id without owning it, the batch keeping the id
// (WriteBatch::ids), as the engine's rows do: a fresh id, as long as a real one, that only the
// batch owns.
void ShareTheId(WriteBatch& rows) {
  rows.ids.push_back(std::make_shared<const std::string>(*rows.samples[0].service_id));
  for (StoredSample& row : rows.samples) row.service_id = ServiceId(ServiceId(), rows.ids[0].get());
}

// Run with rows that own their ids, and with rows that share them as the engine's do: what
// isolation leaves for the retry must keep the ids too (under ASan, reading one it lost fails).
class IsolationTest : public StorageWriterTest, public ::testing::WithParamInterface<bool> {};

// A transient failure while the refused service is being found stops the search; what is not
// settled yet is retried, and nothing is committed or set aside twice.
TEST_P(IsolationTest, FailureWhileIsolatingKeepsTheRestForTheRetry) {
  auto store = OpenFaulty();
  ASSERT_NE(store, nullptr);
  StorageWriterOptions options;
  options.retry_interval_ms = 10;
  options.refused_path = dir_.File("store.refused.jsonl");
  StorageWriter writer(store.get(), options);
  Refuse("svc-b");
  WriteBatch batch;
  for (const char* service : {"svc-a", "svc-b", "svc-c", "svc-d"}) {
    WriteBatch rows = SampleBatch(service, 1, 4, 0);
    if (GetParam()) ShareTheId(rows);
    Add(batch, std::move(rows));
  }
  ReportLog reports;
  writer.Submit(std::move(batch), reports.Callback());
  // Attempts: 1 all four (refused), 2 a+b (refused), 3 a (commits), 4 b (refused: set aside),
  // 5 c+d: the disk fails from here on.
  faults_.fail_from_attempt = 5;
  writer.Start();
  ASSERT_TRUE(Eventually([&] { return faults_.write_attempts >= 7; }, kPatience));
  EXPECT_FALSE(writer.healthy());
  EXPECT_EQ(Seqs(ReadSamples(*store, "svc-a")), Range(1, 4));
  EXPECT_TRUE(ReadSamples(*store, "svc-c").empty());
  EXPECT_EQ(writer.refused_samples(), 4u);
  EXPECT_EQ(writer.pending_samples(), 8u);  // c and d

  faults_.fail_from_attempt = 0;
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_TRUE(writer.healthy());
  for (const char* service : {"svc-a", "svc-c", "svc-d"}) {
    EXPECT_EQ(Seqs(ReadSamples(*store, service)), Range(1, 4)) << service;
  }
  EXPECT_TRUE(ReadSamples(*store, "svc-b").empty());
  EXPECT_EQ(ReadStats(*store).sample_count, 12u);
  EXPECT_EQ(writer.refused_samples(), 4u);
  const std::vector<std::pair<std::string, uint64_t>> set_aside = {
      {"svc-b", 1}, {"svc-b", 2}, {"svc-b", 3}, {"svc-b", 4}};
  EXPECT_EQ(ReadRefusedFile(options.refused_path).Samples(), set_aside);  // once only
  const std::vector<CommitReport> told = reports.WaitFor(1);
  ASSERT_EQ(told.size(), 1u);  // once, when all of it was settled
  EXPECT_THAT(told[0].refused, ElementsAre("svc-b"));
}

INSTANTIATE_TEST_SUITE_P(RowsOwningOrSharingTheirIds, IsolationTest, ::testing::Bool());

// Refused data that cannot be set aside (here: the file's directory is missing) is kept in memory
// and retried, as any failure; the others' data is committed meanwhile.
TEST_F(StorageWriterTest, RefusedDataThatCannotBeSetAsideIsKept) {
  auto store = OpenFaulty();
  ASSERT_NE(store, nullptr);
  StorageWriterOptions options;
  options.retry_interval_ms = 10;
  options.refused_path = dir_.File("missing/store.refused.jsonl");
  StorageWriter writer(store.get(), options);
  Refuse(kServiceB);
  WriteBatch batch = SampleBatch(kServiceA, 1, 5, 0);
  Add(batch, SampleBatch(kServiceB, 1, 3, 0));
  writer.Submit(std::move(batch));
  writer.Start();
  ASSERT_TRUE(Eventually([&] { return !writer.healthy(); }, kPatience));
  EXPECT_THAT(writer.last_error(), HasSubstr("cannot be set aside"));
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 5));
  EXPECT_EQ(writer.refused_samples(), 0u);
  EXPECT_EQ(writer.pending_samples(), 3u);

  std::filesystem::create_directory(dir_.File("missing"));
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_TRUE(writer.healthy());
  EXPECT_EQ(writer.refused_samples(), 3u);
  EXPECT_EQ(ReadRefusedFile(options.refused_path).Samples().size(), 3u);
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
        StoreStats stats;
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

// The real stores refuse samples whose seqs do not rise above what they hold (the sqlite backend:
// "does not follow seq"; the memory one: "already stored"): that service's part is set aside and
// the rest of the batch is committed.
TEST_P(StorageWriterBackendTest, RefusalOfOneServiceLeavesTheOthersCommitted) {
  const int64_t now = NowMs();
  ASSERT_TRUE(store_->Write(SampleBatch(kServiceA, 1, 10, now)).ok());
  StorageWriterOptions options;
  options.refused_path = dir_.File("store.db.refused.jsonl");
  StorageWriter writer(store_.get(), options);
  WriteBatch batch = SampleBatch(kServiceA, 5, 8, now);  // stored already
  Add(batch, SampleBatch(kServiceB, 1, 10, now));
  batch.events = {Event(kServiceB, 10, now, "STABLE", "baseline_established")};
  writer.Submit(std::move(batch));
  writer.Start();
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_TRUE(writer.healthy());
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceA)), Range(1, 10));
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceB)), Range(1, 10));
  std::vector<StoredEvent> events;
  ASSERT_TRUE(store_->QueryEvents(kServiceB, 10, &events).ok());
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(writer.refused_samples(), 4u);
  EXPECT_EQ(writer.refused_events(), 0u);

  const RefusedFile file = ReadRefusedFile(options.refused_path);
  const std::vector<std::pair<std::string, uint64_t>> refused = {
      {kServiceA, 5}, {kServiceA, 6}, {kServiceA, 7}, {kServiceA, 8}};
  EXPECT_EQ(file.Samples(), refused);
  for (const RefusedFile::Line& line : file.lines) {
    EXPECT_EQ(line.kind, "invalid_argument");
    EXPECT_THAT(line.reason, HasSubstr(GetParam() + ": "));
  }

  writer.Submit(SampleBatch(kServiceA, 11, 12, now));  // later samples of A are welcome
  ASSERT_TRUE(writer.Flush(kPatience));
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceA)), Range(1, 12));
  EXPECT_EQ(writer.refused_samples(), 4u);
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
      const Status status =
          store_->ScanSamples(kServiceA, 0, [&](const StoredSample& s) { seqs.push_back(s.seq); });
      if (!services.ok() || snapshot_ahead || seqs.size() < snapshot_seq) ++failures;
      std::vector<StoredEvent> events;
      StoreStats stats;
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
