// One behavioural suite for every storage backend: the same tests run against the sqlite, memory
// and postgresql plugins, loaded from their .so files and driven through driftwatch::Store (the
// postgresql one on the tests' real server).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <algorithm>
#include <driftwatch/plugin.hpp>

#include <atomic>
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage_test_support.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1767225600000;  // 2026-01-01T00:00:00Z: the "now" of the purge tests

class StorageBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string error;
    store_ = OpenStore(GetParam(), dir_.File("store.db"), &error);
    ASSERT_NE(store_, nullptr) << error;
  }

  void Write(const WriteBatch& batch) {
    const Status status = store_->Write(batch);
    ASSERT_TRUE(status.ok()) << status.message();
  }

  void WriteSamples(std::vector<StoredSample> samples) {
    WriteBatch batch;
    batch.samples = std::move(samples);
    Write(batch);
  }

  std::vector<StoredEvent> Events(const std::string& service_id, uint32_t limit) {
    std::vector<StoredEvent> events;
    const Status status = store_->QueryEvents(service_id, limit, &events);
    EXPECT_TRUE(status.ok()) << status.message();
    return events;
  }

  TestDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StorageBackendTest, SamplesRoundTripBitForBit) {
  const auto written_a = Samples(kServiceA, 1, 50, kNow);
  const auto written_b = Samples(kServiceB, 1, 5, kNow + 1000);
  WriteBatch batch;
  batch.samples = written_a;
  batch.samples.insert(batch.samples.end(), written_b.begin(), written_b.end());
  Write(batch);

  const auto read_a = ReadSamples(*store_, kServiceA);
  ASSERT_EQ(read_a.size(), written_a.size());
  for (size_t i = 0; i < read_a.size(); ++i) {
    EXPECT_EQ(read_a[i].seq, written_a[i].seq);
    EXPECT_EQ(read_a[i].timestamp_ms, written_a[i].timestamp_ms);
    EXPECT_TRUE(SameDouble(read_a[i].latency_ms, written_a[i].latency_ms)) << i;
    EXPECT_TRUE(SameDouble(read_a[i].payload_kb, written_a[i].payload_kb)) << i;
  }
  EXPECT_TRUE(std::isnan(read_a[2].payload_kb));  // seq 3 carried no payload
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceB)), Range(1, 5));
}

TEST_P(StorageBackendTest, ExtremeNumbersRoundTripBitForBit) {
  // Values whose text forms are awkward (the postgresql backend sends binary): signed zero, the
  // smallest subnormal, the largest finite double, digits that need all 17 places; timestamps
  // before 1970 and near the int64 limits; seqs above 2^53 (not exact as a double).
  const ServiceId id = std::make_shared<const std::string>(kServiceA);
  const double latencies[] = {-0.0,
                              std::numeric_limits<double>::denorm_min(),
                              std::numeric_limits<double>::max(),
                              0.1 + 0.2,
                              1e-300,
                              123456789.98765432};
  const double payloads[] = {
      0.0, -0.0, kNoPayload, std::numeric_limits<double>::min(), 5e-324, 1.7976931348623157e308};
  const int64_t times[] = {std::numeric_limits<int64_t>::min() + 1, -1, 0, kNow, int64_t{1} << 53,
                           std::numeric_limits<int64_t>::max()};
  std::vector<StoredSample> written;
  for (size_t i = 0; i < std::size(latencies); ++i) {
    written.push_back({id, (uint64_t{1} << 53) + 1 + 2 * i, times[i], latencies[i], payloads[i]});
  }
  WriteSamples(written);

  const auto read = ReadSamples(*store_, kServiceA);
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].seq, written[i].seq) << i;
    EXPECT_EQ(read[i].timestamp_ms, written[i].timestamp_ms) << i;
    EXPECT_TRUE(SameDouble(read[i].latency_ms, written[i].latency_ms)) << i;
    EXPECT_TRUE(SameDouble(read[i].payload_kb, written[i].payload_kb)) << i;
  }
  EXPECT_TRUE(std::signbit(read[0].latency_ms));  // -0 stays -0
  EXPECT_TRUE(std::isnan(read[2].payload_kb));    // no payload stays none
}

TEST_P(StorageBackendTest, ScanStartsAfterTheGivenSeq) {
  WriteSamples(Samples(kServiceA, 1, 50, kNow));
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceA, 45)), Range(46, 50));
  EXPECT_TRUE(ReadSamples(*store_, kServiceA, 50).empty());
  EXPECT_TRUE(ReadSamples(*store_, "no-such-service").empty());
}

TEST_P(StorageBackendTest, LongScanReturnsEverySampleInOrder) {
  WriteSamples(Samples(kServiceA, 1, 2500, kNow));
  WriteSamples(Samples(kServiceA, 2501, 5000, kNow));
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceA)), Range(1, 5000));
}

TEST_P(StorageBackendTest, EventsComeNewestFirstUpToTheLimit) {
  WriteBatch first;
  first.events = {Event(kServiceA, 100, kNow + 100, "STABLE", "baseline_established"),
                  Event(kServiceB, 100, kNow + 150, "STABLE", "baseline_established"),
                  Event(kServiceA, 200, kNow + 200, "DRIFT_DETECTED", "moderate_anomaly_rate")};
  Write(first);
  WriteBatch second;
  second.events = {
      Event(kServiceA, 300, kNow + 300, "STABLE", "recovered"),
      Event(kServiceA, 400, kNow + 400, "DRIFT_DETECTED", "consecutive_severe_anomalies")};
  second.events.back().metadata_json = R"({"consecutive_count":5,"max_zscore":7.25})";
  Write(second);

  const auto newest = Events(kServiceA, 3);
  ASSERT_EQ(newest.size(), 3u);
  EXPECT_EQ(newest[0].seq, 400u);
  EXPECT_EQ(newest[1].seq, 300u);
  EXPECT_EQ(newest[2].seq, 200u);
  EXPECT_EQ(newest[0].service_id, kServiceA);
  EXPECT_EQ(newest[0].timestamp_ms, kNow + 400);
  EXPECT_EQ(newest[0].from_state, "STABLE");
  EXPECT_EQ(newest[0].to_state, "DRIFT_DETECTED");
  EXPECT_EQ(newest[0].reason, "consecutive_severe_anomalies");
  EXPECT_EQ(newest[0].metadata_json, R"({"consecutive_count":5,"max_zscore":7.25})");

  EXPECT_EQ(Events(kServiceA, 100).size(), 4u);
  ASSERT_EQ(Events(kServiceB, 100).size(), 1u);
  EXPECT_EQ(Events(kServiceB, 100)[0].service_id, kServiceB);
  EXPECT_TRUE(Events(kServiceA, 0).empty());
  EXPECT_TRUE(Events("no-such-service", 10).empty());
}

TEST_P(StorageBackendTest, ManyEventsComeNewestFirstAcrossPages) {
  WriteBatch batch;
  for (uint64_t seq = 1; seq <= 600; ++seq) {
    batch.events.push_back(Event(kServiceA, seq, kNow + static_cast<int64_t>(seq), "STABLE", "x"));
  }
  Write(batch);
  const auto events = Events(kServiceA, 1000);
  ASSERT_EQ(events.size(), 600u);
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].seq, 600 - i);
  const auto limited = Events(kServiceA, 300);
  ASSERT_EQ(limited.size(), 300u);
  EXPECT_EQ(limited.back().seq, 301u);
}

TEST_P(StorageBackendTest, SnapshotReplacesTheOlderOne) {
  WriteBatch first;
  first.samples = Samples(kServiceA, 1, 20, kNow);
  first.snapshots = {Snapshot(kServiceA, 10, "old state")};
  Write(first);
  const std::string binary("new\0state\xff\x01\0", 12);  // NUL bytes inside and at the end
  WriteBatch second;
  second.snapshots = {Snapshot(kServiceA, 20, binary)};
  Write(second);

  const auto services = ReadServices(*store_);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].service_id, kServiceA);
  EXPECT_TRUE(services[0].has_snapshot);
  EXPECT_EQ(services[0].snapshot_seq, 20u);
  EXPECT_EQ(services[0].snapshot_data, binary);
  EXPECT_EQ(services[0].max_seq, 20u);

  WriteBatch shorter;  // a shorter state leaves nothing of the longer one behind
  shorter.snapshots = {Snapshot(kServiceA, 20, "s")};
  Write(shorter);
  EXPECT_EQ(ReadServices(*store_).at(0).snapshot_data, "s");
}

TEST_P(StorageBackendTest, EmptySnapshotIsStillASnapshot) {
  WriteBatch batch;
  batch.snapshots = {Snapshot(kServiceA, 0, "")};
  Write(batch);
  const auto services = ReadServices(*store_);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_TRUE(services[0].has_snapshot);
  EXPECT_EQ(services[0].snapshot_data, "");
  EXPECT_EQ(services[0].max_seq, 0u);  // a snapshot and no samples
}

TEST_P(StorageBackendTest, ServiceWithSamplesButNoSnapshotIsListed) {
  WriteBatch batch;
  batch.samples = Samples(kServiceB, 1, 7, kNow);
  batch.snapshots = {Snapshot(kServiceA, 3, "a")};
  Write(batch);
  const auto services = ReadServices(*store_);
  ASSERT_EQ(services.size(), 2u);
  const ScannedService& b = services[0].service_id == kServiceB ? services[0] : services[1];
  EXPECT_EQ(b.service_id, kServiceB);
  EXPECT_FALSE(b.has_snapshot);
  EXPECT_EQ(b.max_seq, 7u);
}

TEST_P(StorageBackendTest, ManyServicesAreAllScanned) {
  std::vector<std::string> ids;
  ids.reserve(300);
  for (int i = 0; i < 300; ++i) ids.push_back("service-" + std::to_string(i));
  WriteBatch batch;
  for (const std::string& id : ids) batch.samples.push_back(Sample(id.c_str(), 1, kNow, 1.0));
  Write(batch);
  EXPECT_EQ(ReadServices(*store_).size(), ids.size());
}

TEST_P(StorageBackendTest, StatsCountStoredRows) {
  WriteBatch batch;
  batch.samples = Samples(kServiceA, 1, 30, kNow);
  batch.events = {Event(kServiceA, 30, kNow, "STABLE", "baseline_established")};
  Write(batch);
  WriteSamples(Samples(kServiceB, 1, 12, kNow));
  const StoreStats stats = ReadStats(*store_);
  EXPECT_EQ(stats.sample_count, 42u);
  EXPECT_EQ(stats.event_count, 1u);
  if (GetParam() == "sqlite") {
    EXPECT_GT(stats.size_bytes, 0u);
  }
}

// Retention deletes the oldest rows in steps of at most max_rows: samples only up to the service's
// snapshot (a restart replays the rest) and never a service's newest one; events by age.
TEST_P(StorageBackendTest, PurgeDeletesOldRowsInSmallSteps) {
  const int64_t old_ms = kNow - 10 * kMsPerDay;
  const int64_t recent_ms = kNow - kMsPerDay / 24;
  const char* const kServiceC = "service-c";
  WriteBatch batch;
  batch.samples = Samples(kServiceA, 1, 100, old_ms);
  const auto recent = Samples(kServiceA, 101, 120, recent_ms);
  batch.samples.insert(batch.samples.end(), recent.begin(), recent.end());
  const auto unsnapshotted = Samples(kServiceB, 1, 50, old_ms);  // no snapshot: all kept
  batch.samples.insert(batch.samples.end(), unsnapshotted.begin(), unsnapshotted.end());
  const auto all_old = Samples(kServiceC, 1, 30, old_ms);  // all old: the newest stays
  batch.samples.insert(batch.samples.end(), all_old.begin(), all_old.end());
  batch.snapshots = {Snapshot(kServiceA, 60, "a"), Snapshot(kServiceC, 30, "c")};
  for (int i = 0; i < 10; ++i) {
    batch.events.push_back(Event(kServiceA, 1, kNow - 40 * kMsPerDay + i, "STABLE", "old"));
  }
  for (int i = 0; i < 3; ++i) {
    batch.events.push_back(Event(kServiceA, 2, kNow - kMsPerDay + i, "STABLE", "recent"));
  }
  Write(batch);

  const uint32_t kStep = 16;
  uint64_t total = 0;
  int steps = 0;
  for (;;) {
    uint64_t deleted = 0;
    const Status status =
        store_->Purge(kNow - 7 * kMsPerDay, kNow - 30 * kMsPerDay, kStep, &deleted);
    ASSERT_TRUE(status.ok()) << status.message();
    ASSERT_LE(deleted, kStep);
    if (deleted == 0) break;
    total += deleted;
    ASSERT_LT(++steps, 100) << "purge never finishes";
  }
  EXPECT_EQ(total, 10u + 60u + 29u);
  EXPECT_GT(steps, 1);

  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceA)), Range(61, 120));
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceB)), Range(1, 50));
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceC)), Range(30, 30));
  const auto events = Events(kServiceA, 100);
  ASSERT_EQ(events.size(), 3u);
  for (const auto& event : events) EXPECT_EQ(event.reason, "recent");
  const StoreStats stats = ReadStats(*store_);
  EXPECT_EQ(stats.sample_count, 60u + 50u + 1u);
  EXPECT_EQ(stats.event_count, 3u);
  for (const ScannedService& service : ReadServices(*store_)) {
    EXPECT_LE(service.snapshot_seq, service.max_seq) << service.service_id;
  }
}

TEST_P(StorageBackendTest, BatchIsAllOrNothing) {
  WriteBatch base;
  base.samples = Samples(kServiceA, 1, 10, kNow);
  base.snapshots = {Snapshot(kServiceA, 10, "kept")};
  Write(base);
  const char* const kNewService = "new-service";

  WriteBatch bad;
  bad.samples = Samples(kNewService, 1, 3, kNow);
  bad.samples.push_back(Sample(kServiceA, 11, kNow, 1.0));
  bad.samples.push_back(Sample(kServiceA, 5, kNow, 1.0));  // already stored: fails the batch
  bad.events = {Event(kNewService, 3, kNow, "STABLE", "baseline_established")};
  bad.snapshots = {Snapshot(kServiceA, 11, "replaced"), Snapshot(kNewService, 3, "new")};
  const Status refused = store_->Write(bad);
  EXPECT_FALSE(refused.ok());
  // The backend's DW_STATUS_INVALID_ARGUMENT reaches the host as a kind: the storage writer sets
  // such data aside instead of retrying it (docs/behaviour.md, Decisions about storage failures).
  EXPECT_EQ(refused.kind(), Status::Kind::kInvalidArgument) << refused.message();

  const auto services = ReadServices(*store_);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].snapshot_data, "kept");
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceA)), Range(1, 10));
  EXPECT_TRUE(ReadSamples(*store_, kNewService).empty());
  EXPECT_TRUE(Events(kNewService, 10).empty());
  EXPECT_EQ(ReadStats(*store_).sample_count, 10u);

  bad.samples.pop_back();  // the same batch without the duplicate goes in whole
  Write(bad);
  EXPECT_EQ(Seqs(ReadSamples(*store_, kNewService)), Range(1, 3));
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceA)), Range(1, 11));
  EXPECT_EQ(Events(kNewService, 10).size(), 1u);
  EXPECT_EQ(ReadStats(*store_).sample_count, 14u);
}

TEST_P(StorageBackendTest, ThrowingVisitorStopsTheScanWithAnError) {
  WriteSamples(Samples(kServiceA, 1, 10, kNow));
  int visited = 0;
  const Status status = store_->ScanSamples(kServiceA, 0, [&](const StoredSample&) {
    if (++visited == 3) throw std::runtime_error("visitor gave up");
  });
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("visitor gave up"));
  EXPECT_EQ(visited, 3);
  EXPECT_EQ(ReadSamples(*store_, kServiceA).size(), 10u);  // the store is still fine
}

TEST_P(StorageBackendTest, UnknownParameterIsRefused) {
  std::unique_ptr<Store> store;
  std::vector<Param> params = StoreParams(GetParam(), dir_.File("other.db"));
  params.push_back({"cache_size", "100"});
  const Status status = Store::Open(StorageBackend(GetParam()), params, &store);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(GetParam() + ": "));
  EXPECT_THAT(status.message(), HasSubstr("cache_size"));
}

// A reader on another thread while batches commit, each with its samples and a snapshot as of its
// last one: a batch is seen whole, so a snapshot is never ahead of the samples a scan finds (the
// host restores a service from its snapshot and the samples after it).
TEST_P(StorageBackendTest, ReadersSeeWholeBatches) {
  std::atomic<bool> writing{true};
  std::atomic<int> torn{0};
  std::atomic<int> scans{0};
  std::thread reader([&] {
    while (writing) {
      uint64_t snapshot_seq = 0;
      const Status services = store_->ScanServices(
          [&](const std::string&, const StoredSnapshot* snapshot, uint64_t max_seq) {
            if (snapshot == nullptr) return;
            snapshot_seq = snapshot->last_seq;
            if (snapshot->last_seq > max_seq) ++torn;
          });
      const auto samples = ReadSamples(*store_, kServiceA);
      if (!services.ok() || samples.size() < snapshot_seq ||
          Seqs(samples) != Range(1, samples.size())) {
        ++torn;
      }
      ++scans;
    }
  });
  for (uint64_t round = 0; round < 4000; ++round) {
    WriteBatch batch;
    batch.samples = Samples(kServiceA, round * 7 + 1, round * 7 + 7, kNow);
    batch.snapshots = {Snapshot(kServiceA, round * 7 + 7, "s")};
    Write(batch);
  }
  writing = false;
  reader.join();
  EXPECT_GT(scans, 0);
  EXPECT_EQ(torn, 0);
}

TEST_P(StorageBackendTest, ForgetDeletesEverythingOfOneServiceOnly) {
  ASSERT_TRUE(store_->CanForget());
  WriteBatch batch;
  batch.samples = Samples(kServiceA, 1, 120, kNow);
  const auto kept = Samples(kServiceB, 1, 30, kNow);
  batch.samples.insert(batch.samples.end(), kept.begin(), kept.end());
  batch.events = {Event(kServiceA, 100, kNow, "STABLE", "baseline_established"),
                  Event(kServiceB, 20, kNow, "STABLE", "baseline_established")};
  batch.snapshots = {Snapshot(kServiceA, 120, "state-a"), Snapshot(kServiceB, 30, "state-b")};
  Write(batch);

  WriteBatch forget;
  forget.forgotten = {kServiceA};
  Write(forget);
  EXPECT_TRUE(ReadSamples(*store_, kServiceA).empty());
  EXPECT_TRUE(Events(kServiceA, 10).empty());
  const auto services = ReadServices(*store_);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].service_id, kServiceB);
  EXPECT_EQ(services[0].snapshot_data, "state-b");
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceB)), Range(1, 30));
  EXPECT_EQ(Events(kServiceB, 10).size(), 1u);
  const StoreStats stats = ReadStats(*store_);
  EXPECT_EQ(stats.sample_count, 30u);
  EXPECT_EQ(stats.event_count, 1u);

  Write(forget);                                 // again: an unknown service is no error
  WriteSamples(Samples(kServiceA, 1, 3, kNow));  // the id starts over at seq 1
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceA)), Range(1, 3));
  EXPECT_EQ(ReadStats(*store_).sample_count, 33u);
}

// Endpoint series are stored under keys such as "shop#GET /api/orders/{id}" (docs/behaviour.md,
// "Endpoint series"): every printable character comes back as written, and one key's rows are
// its own, apart from its service's.
TEST_P(StorageBackendTest, EndpointSeriesKeysAreKeptAsWritten) {
  const std::string service = "shop";
  const std::string endpoint = "shop#GET /api/orders/{id}?x='1' \"%20\\ ~";
  WriteBatch batch;
  batch.samples = Samples(service, 1, 10, kNow);
  const auto own = Samples(endpoint, 1, 4, kNow);
  batch.samples.insert(batch.samples.end(), own.begin(), own.end());
  batch.events = {Event(endpoint, 3, kNow, "STABLE", "baseline_established")};
  batch.snapshots = {Snapshot(endpoint, 4, "state-e")};
  Write(batch);
  EXPECT_EQ(Seqs(ReadSamples(*store_, endpoint)), Range(1, 4));
  EXPECT_EQ(Seqs(ReadSamples(*store_, service)), Range(1, 10));
  ASSERT_EQ(Events(endpoint, 10).size(), 1u);
  EXPECT_EQ(Events(endpoint, 10)[0].service_id, endpoint);
  EXPECT_TRUE(Events(service, 10).empty());
  std::vector<std::string> ids;
  for (const auto& stored : ReadServices(*store_)) {
    ids.push_back(stored.service_id);
    if (stored.service_id == endpoint) {
      EXPECT_EQ(stored.snapshot_data, "state-e");
    }
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{service, endpoint}));
  WriteBatch forget;
  forget.forgotten = {endpoint};
  Write(forget);
  EXPECT_TRUE(ReadSamples(*store_, endpoint).empty());
  EXPECT_EQ(Seqs(ReadSamples(*store_, service)), Range(1, 10));
}

// A batch forgets first, then writes: the new service's first samples survive its own forget.
TEST_P(StorageBackendTest, ABatchForgetsBeforeItWrites) {
  WriteSamples(Samples(kServiceA, 1, 10, kNow));
  WriteBatch batch;
  batch.forgotten = {kServiceA};
  batch.samples = Samples(kServiceA, 1, 2, kNow + 5000);
  Write(batch);
  const auto samples = ReadSamples(*store_, kServiceA);
  EXPECT_EQ(Seqs(samples), Range(1, 2));
  EXPECT_EQ(samples[0].timestamp_ms, kNow + 5001);
}

// The notification outbox (docs/storage-guide.md, "The notification outbox"): every bundled
// backend keeps one.
TEST_P(StorageBackendTest, EveryBundledBackendHasAnOutbox) { EXPECT_TRUE(store_->HasOutbox()); }

using State = NotificationState;

// A filter of ScanNotifications (spelled out: the struct's members are not all defaulted).
Store::NotificationFilter Filter(const std::string& target, std::optional<State> state = {},
                                 uint32_t limit = 0, bool newest_first = false) {
  Store::NotificationFilter filter;
  filter.target = target;
  filter.state = state;
  filter.limit = limit;
  filter.newest_first = newest_first;
  return filter;
}

// Rows come back exactly as written, in the order written (across batches), or the reverse; by
// target, by state, and up to a limit.
TEST_P(StorageBackendTest, NotificationsComeBackAsWrittenInOrder) {
  ASSERT_TRUE(store_->HasOutbox());
  StoredNotification odd = Notification(kServiceB, 7, "pager", INT64_MIN);
  odd.body = "{\"text\":\"q\\\"uote\\\\ back, {brace}, NULL, \xc3\xa9t\xc3\xa9\\n\"}\n\t";
  odd = Update(odd, State::kFailed, UINT32_MAX, INT64_MAX, "HTTP 500: \"oops\" \\ {x}");
  WriteBatch first;
  first.events = {Event(kServiceA, 1, kNow, "DRIFT_DETECTED", "x")};
  first.notifications = {Notification(kServiceA, 1, "hook", kNow),
                         Notification(kServiceA, 1, "pager", kNow), odd};
  Write(first);
  WriteBatch second;
  second.notifications = {
      Update(Notification(kServiceA, 2, "hook", kNow + 1), State::kDelivered, 1, kNow + 2),
      Notification(kServiceB, 3, "", kNow + 3)};
  Write(second);
  std::vector<StoredNotification> written = first.notifications;
  written.insert(written.end(), second.notifications.begin(), second.notifications.end());

  const auto all = Fields(written);
  EXPECT_EQ(Fields(ReadNotifications(*store_)), all);
  EXPECT_EQ(Fields(ReadNotifications(*store_, Filter("", {}, 0, true))),
            std::vector(all.rbegin(), all.rend()));
  EXPECT_EQ(Fields(ReadNotifications(*store_, Filter("pager"))), (std::vector{all[1], all[2]}));
  EXPECT_EQ(Fields(ReadNotifications(*store_, Filter("", State::kPending))),
            (std::vector{all[0], all[1], all[4]}));
  EXPECT_EQ(Fields(ReadNotifications(*store_, Filter("pager", State::kFailed))),
            (std::vector{all[2]}));
  EXPECT_EQ(Fields(ReadNotifications(*store_, Filter("", {}, 2))), (std::vector{all[0], all[1]}));
  EXPECT_EQ(Fields(ReadNotifications(*store_, Filter("", {}, 2, true))),
            (std::vector{all[4], all[3]}));
  EXPECT_EQ(Fields(ReadNotifications(*store_, Filter("", State::kPending, 1, true))),
            (std::vector{all[4]}));
  EXPECT_TRUE(ReadNotifications(*store_, Filter("nobody")).empty());
}

TEST_P(StorageBackendTest, ManyNotificationsComeInOrderAcrossPages) {
  ASSERT_TRUE(store_->HasOutbox());
  WriteBatch batch;
  for (uint64_t event = 1; event <= 600; ++event) {
    batch.notifications.push_back(Notification(kServiceA, event, "hook", kNow));
  }
  Write(batch);
  const auto rows = ReadNotifications(*store_);
  ASSERT_EQ(rows.size(), 600u);
  for (size_t i = 0; i < rows.size(); ++i) ASSERT_EQ(rows[i].id, batch.notifications[i].id);
  const auto newest = ReadNotifications(*store_, Filter("", {}, 300, true));
  ASSERT_EQ(newest.size(), 300u);
  EXPECT_EQ(newest.front().id, batch.notifications[599].id);
  EXPECT_EQ(newest.back().id, batch.notifications[300].id);
}

// (id, target) names one notification: writing it again, in a later batch or the same one, stores
// nothing and keeps the first.
TEST_P(StorageBackendTest, ADuplicateNotificationIsSkippedKeepingTheFirst) {
  ASSERT_TRUE(store_->HasOutbox());
  const StoredNotification kept = Notification(kServiceA, 1, "hook", kNow);
  WriteBatch first;
  first.notifications = {kept};
  Write(first);
  StoredNotification again = Update(kept, State::kFailed, 3, kNow + 9, "again");
  again.body = "{}";
  again.created_ms = kNow + 9;
  const StoredNotification other_target = Notification(kServiceA, 1, "pager", kNow);
  WriteBatch second;
  second.notifications = {again, other_target, Update(other_target, State::kDelivered, 1, kNow)};
  Write(second);
  EXPECT_EQ(Fields(ReadNotifications(*store_)), Fields({kept, other_target}));
}

// An update sets state, attempts, updated_ms and last_error of the stored row, nothing else; the
// last update of a row in a batch wins; an update of a row that is not stored is skipped.
TEST_P(StorageBackendTest, NotificationUpdatesChangeOnlyTheDeliveryFields) {
  ASSERT_TRUE(store_->HasOutbox());
  const StoredNotification a = Notification(kServiceA, 1, "hook", kNow);
  const StoredNotification b = Notification(kServiceB, 2, "hook", kNow);
  WriteBatch first;
  first.notifications = {a, b};
  Write(first);

  StoredNotification update = Update(a, State::kPending, 1, kNow + 10, "timeout after 5 s");
  update.body = "changed";
  update.service_id = kServiceB;
  update.created_ms = 1;
  WriteBatch second;
  second.notification_updates = {update, Update(b, State::kFailed, 1, kNow + 20, "HTTP 400"),
                                 Update(b, State::kDelivered, 2, kNow + 30),
                                 Update(Notification(kServiceA, 99, "hook", kNow),
                                        State::kDelivered, 1, kNow)};  // never stored
  Write(second);
  EXPECT_EQ(Fields(ReadNotifications(*store_)),
            Fields({Update(a, State::kPending, 1, kNow + 10, "timeout after 5 s"),
                    Update(b, State::kDelivered, 2, kNow + 30)}));

  // New rows are stored before the updates of the same batch are applied.
  const StoredNotification c = Notification(kServiceA, 3, "hook", kNow + 40);
  WriteBatch third;
  third.notifications = {c};
  third.notification_updates = {Update(c, State::kDelivered, 1, kNow + 41)};
  Write(third);
  EXPECT_EQ(Fields(ReadNotifications(*store_, Filter("", {}, 1, true))),
            Fields({Update(c, State::kDelivered, 1, kNow + 41)}));

  WriteBatch unknown;  // only an unknown update: no error, nothing stored
  unknown.notification_updates = {
      Update(Notification(kServiceB, 5, "pager", kNow), State::kFailed, 1, kNow)};
  Write(unknown);
  EXPECT_EQ(ReadNotifications(*store_).size(), 3u);
}

// A batch the store refuses stores none of its notifications and applies none of its updates: an
// event is never stored without its notifications, nor a notification without its event.
TEST_P(StorageBackendTest, ARefusedBatchStoresNoneOfItsNotifications) {
  ASSERT_TRUE(store_->HasOutbox());
  const StoredNotification stored = Notification(kServiceA, 1, "hook", kNow);
  WriteBatch base;
  base.samples = Samples(kServiceA, 1, 10, kNow);
  base.notifications = {stored};
  Write(base);

  WriteBatch bad;
  bad.samples = {Sample(kServiceA, 11, kNow, 1.0), Sample(kServiceA, 5, kNow, 1.0)};  // 5: stored
  bad.events = {Event(kServiceA, 11, kNow, "DRIFT_DETECTED", "x")};
  bad.notifications = {Notification(kServiceA, 2, "hook", kNow)};
  bad.notification_updates = {Update(stored, State::kDelivered, 1, kNow + 1)};
  const Status refused = store_->Write(bad);
  EXPECT_EQ(refused.kind(), Status::Kind::kInvalidArgument) << refused.message();
  EXPECT_EQ(Fields(ReadNotifications(*store_)), Fields({stored}));
  EXPECT_TRUE(Events(kServiceA, 10).empty());

  bad.samples.pop_back();  // without the duplicate it goes in whole
  Write(bad);
  EXPECT_EQ(Fields(ReadNotifications(*store_)),
            Fields({Update(stored, State::kDelivered, 1, kNow + 1), bad.notifications[0]}));
  EXPECT_EQ(Events(kServiceA, 10).size(), 1u);
}

TEST_P(StorageBackendTest, ForgetDeletesOnlyThatServicesNotifications) {
  ASSERT_TRUE(store_->HasOutbox());
  const StoredNotification a = Notification(kServiceA, 1, "hook", kNow);
  const StoredNotification b = Notification(kServiceB, 1, "hook", kNow);
  WriteBatch batch;
  batch.events = {Event(kServiceA, 1, kNow, "DRIFT_DETECTED", "x"),
                  Event(kServiceB, 1, kNow, "DRIFT_DETECTED", "x")};
  batch.notifications = {a, Notification(kServiceA, 1, "pager", kNow), b};
  Write(batch);

  WriteBatch forget;
  forget.forgotten = {kServiceA};
  Write(forget);
  EXPECT_EQ(Fields(ReadNotifications(*store_)), Fields({b}));

  // The id starts over with the service: its first notification again is a new row, and an update
  // of a forgotten one is skipped.
  WriteBatch after;
  after.notifications = {Update(a, State::kPending, 0, kNow + 5)};
  after.notification_updates = {
      Update(Notification(kServiceA, 1, "pager", kNow), State::kDelivered, 1, kNow + 5)};
  Write(after);
  EXPECT_EQ(Fields(ReadNotifications(*store_)),
            Fields({b, Update(a, State::kPending, 0, kNow + 5)}));
}

// Retention deletes delivered and failed rows last updated before events_before_ms, in steps
// counted with the other rows; a pending row is kept whatever its age (it is still to be sent).
TEST_P(StorageBackendTest, PurgeDeletesOldSettledNotificationsNeverPendingOnes) {
  ASSERT_TRUE(store_->HasOutbox());
  const int64_t old_ms = kNow - 40 * kMsPerDay;
  const int64_t recent_ms = kNow - kMsPerDay;
  std::vector<StoredNotification> kept;
  WriteBatch batch;
  for (uint64_t i = 0; i < 5; ++i) {
    batch.notifications.push_back(
        Update(Notification(kServiceA, i, "hook", old_ms), State::kDelivered, 1, old_ms));
    batch.notifications.push_back(
        Update(Notification(kServiceA, i, "pager", old_ms), State::kFailed, 9, old_ms, "HTTP 400"));
    const StoredNotification pending =
        Update(Notification(kServiceB, i, "hook", old_ms), State::kPending, 8, old_ms, "timeout");
    const StoredNotification recent =
        Update(Notification(kServiceB, i, "pager", old_ms), State::kDelivered, 1, recent_ms);
    batch.notifications.push_back(pending);
    batch.notifications.push_back(recent);
    kept.push_back(pending);
    kept.push_back(recent);
  }
  Write(batch);

  uint64_t total = 0;
  for (int step = 0;; ++step) {
    ASSERT_LT(step, 100) << "purge never finishes";
    uint64_t deleted = 0;
    const Status status = store_->Purge(kNow - 7 * kMsPerDay, kNow - 30 * kMsPerDay, 3, &deleted);
    ASSERT_TRUE(status.ok()) << status.message();
    ASSERT_LE(deleted, 3u);
    if (deleted == 0) break;
    total += deleted;
  }
  EXPECT_EQ(total, 10u);
  EXPECT_EQ(Fields(ReadNotifications(*store_)), Fields(kept));
}

// What a backend that persists was told is stored is found again after a close and a reopen, and
// still names its rows (a duplicate is skipped).
TEST_P(StorageBackendTest, NotificationsSurviveAReopen) {
  if (GetParam() == "memory") GTEST_SKIP() << "nothing of the memory backend survives a close";
  ASSERT_TRUE(store_->HasOutbox());
  const StoredNotification a = Notification(kServiceA, 1, "hook", kNow);
  const StoredNotification b = Notification(kServiceB, 2, "pager", kNow + 1);
  WriteBatch batch;
  batch.events = {Event(kServiceA, 1, kNow, "DRIFT_DETECTED", "x")};
  batch.notifications = {a, b};
  batch.notification_updates = {Update(a, State::kFailed, 4, kNow + 2, "HTTP 400")};
  Write(batch);
  const auto written = Fields(ReadNotifications(*store_));
  store_.reset();
  std::string error;
  store_ = OpenStore(GetParam(), dir_.File("store.db"), &error);
  ASSERT_NE(store_, nullptr) << error;
  EXPECT_EQ(Fields(ReadNotifications(*store_)), written);
  WriteBatch again;
  again.notifications = {b, Notification(kServiceA, 3, "hook", kNow + 3)};
  Write(again);
  const auto rows = ReadNotifications(*store_);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].id, again.notifications[1].id);  // after the rows stored before the reopen
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageBackendTest,
                         ::testing::Values("memory", "sqlite", "postgresql"), BackendName);

// A backend that names itself in its own messages, as the plugin guide's first examples did: the
// host names the backend once.
class SelfNamingStore {
 public:
  static constexpr const char* kName = "self_naming";
  static constexpr const char* kVersion = "1.0.0";
  static SelfNamingStore* Open(sdk::Params&) {
    throw sdk::StorageError(DW_STATUS_IO_ERROR, "self_naming: disk on fire");
  }
  void Write(const dw_type_write_batch&) {}
  void ScanServices(dw_type_service_callback, void*) {}
  void ScanSamples(const char*, uint64_t, dw_type_sample_callback, void*) {}
  void QueryEvents(const char*, uint32_t, dw_type_event_callback, void*) {}
  void Stats(dw_type_storage_stats&) {}
  uint64_t Purge(int64_t, int64_t, uint32_t) { return 0; }
};

TEST(StorageMessageTest, TheBackendIsNamedOnce) {
  std::unique_ptr<Store> store;
  const Status status = Store::Open(sdk::StorageType<SelfNamingStore>::Get(), {}, &store);
  EXPECT_EQ(status.message(), "self_naming: disk on fire");
}

}  // namespace
}  // namespace driftwatch::testing
