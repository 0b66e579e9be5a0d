// The sqlite backend's own promises, through real files: what is committed survives a reopen and a
// SIGKILL; an older schema is migrated; a file that is not ours (or is newer) is refused and left
// byte-for-byte as it was; the storage is compact.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "plugins/sqlite/address_groups.h"
#include "storage_test_support.h"
#include "tests/support/child_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1767225600000;  // 2026-01-01T00:00:00Z
const std::string kSqliteSourceDir = DRIFTWATCH_SQLITE_SOURCE_DIR;
// The released schemas, frozen, to build old files that the migrations must bring up to date.
const std::string kOldSchemaDir = DRIFTWATCH_SQLITE_FIXTURE_DIR;

// The value a PRAGMA at the end of plugins/sqlite/schema.sql sets (-1 if it has none).
int SchemaPragma(const std::string& name) {
  const std::string schema = ReadFile(kSqliteSourceDir + "/schema.sql");
  const std::string prefix = "PRAGMA " + name + " = ";
  const size_t at = schema.find(prefix);
  return at == std::string::npos ? -1 : std::atoi(schema.c_str() + at + prefix.size());
}

// `text` with every run of whitespace made one space.
std::string CollapseSpace(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (!space) {
      out += c;
    } else if (out.empty() || out.back() != ' ') {
      out += ' ';
    }
  }
  return out;
}

// The file through SQLite itself, to craft files and to check what the plugin wrote.
class RawDatabase {
 public:
  explicit RawDatabase(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) ADD_FAILURE() << sqlite3_errmsg(db_);
  }
  ~RawDatabase() { sqlite3_close(db_); }
  RawDatabase(const RawDatabase&) = delete;
  RawDatabase& operator=(const RawDatabase&) = delete;

  void Exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (error != nullptr ? error : "?");
    }
    sqlite3_free(error);
  }

  // Every row of a query, its columns joined by '|'.
  std::vector<std::string> Rows(const std::string& sql) {
    std::vector<std::string> rows;
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return rows;
    }
    while (sqlite3_step(statement) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(statement); ++i) {
        if (i > 0) row += "|";
        const auto* text = sqlite3_column_text(statement, i);
        row += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
      }
      rows.push_back(row);
    }
    sqlite3_finalize(statement);
    return rows;
  }

  std::string Value(const std::string& sql) {
    const auto rows = Rows(sql);
    return rows.empty() ? "" : rows[0];
  }

  // Inserts samples into a schema v2 file's telemetry table, binding the doubles so that they go
  // in bit for bit (a NaN payload as NULL, as v2 stored it).
  void InsertV2Samples(long long service_key, const std::vector<StoredSample>& samples) {
    sqlite3_stmt* insert = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db_,
                                 "INSERT INTO telemetry (service_key, seq, timestamp_ms, "
                                 "latency_ms, payload_kb) VALUES (?, ?, ?, ?, ?)",
                                 -1, &insert, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db_);
    for (const StoredSample& sample : samples) {
      sqlite3_bind_int64(insert, 1, service_key);
      sqlite3_bind_int64(insert, 2, static_cast<sqlite3_int64>(sample.seq));
      sqlite3_bind_int64(insert, 3, sample.timestamp_ms);
      sqlite3_bind_double(insert, 4, sample.latency_ms);
      if (std::isnan(sample.payload_kb)) {
        sqlite3_bind_null(insert, 5);
      } else {
        sqlite3_bind_double(insert, 5, sample.payload_kb);
      }
      EXPECT_EQ(sqlite3_step(insert), SQLITE_DONE) << sqlite3_errmsg(db_);
      sqlite3_reset(insert);
    }
    sqlite3_finalize(insert);
  }

 private:
  sqlite3* db_ = nullptr;
};

// The schema as SQLite keeps it, whitespace collapsed, so two files can be compared.
std::vector<std::string> SchemaOf(const std::string& path) {
  RawDatabase db(path);
  std::vector<std::string> schema;
  for (const std::string& row :
       db.Rows("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")) {
    schema.push_back(CollapseSpace(row));
  }
  return schema;
}

void Write(Store& store, const WriteBatch& batch) {
  const Status status = store.Write(batch);
  ASSERT_TRUE(status.ok()) << status.message();
}

// The write's table of ids by address (address_groups.h): every address added is found with its
// group and no other is, through growth; Clear forgets them all and keeps the slots, so a small
// write after a large one finds nothing of it.
TEST(SqliteStoreTest, AddressGroupsFindWhatWasAddedUntilCleared) {
  sqlite_plugin::AddressGroups groups;
  std::vector<char> ids(200000);
  for (const size_t stride : {size_t{1}, size_t{16}}) {  // packed, and as aligned as strings are
    const size_t count = ids.size() / stride;
    for (size_t i = 0; i < count; ++i) groups.Add(&ids[i * stride], i);
    ASSERT_EQ(groups.size(), count);
    for (size_t i = 0; i < count; ++i) {
      const size_t* group = groups.Find(&ids[i * stride]);
      ASSERT_NE(group, nullptr) << i;
      ASSERT_EQ(*group, i);
    }
    if (stride > 1) {
      EXPECT_EQ(groups.Find(&ids[1]), nullptr);
    }
    EXPECT_EQ(groups.Find(nullptr), nullptr);
    groups.Clear();
    EXPECT_EQ(groups.size(), 0u);
    for (size_t i = 0; i < ids.size(); i += 97) {
      ASSERT_EQ(groups.Find(&ids[i]), nullptr) << i;
    }
  }
  const size_t slots = groups.slot_count();
  EXPECT_GE(slots, 2 * ids.size());
  groups.Add(&ids[5], 7);
  ASSERT_NE(groups.Find(&ids[5]), nullptr);
  EXPECT_EQ(*groups.Find(&ids[5]), 7u);
  EXPECT_EQ(groups.Find(&ids[6]), nullptr);
  EXPECT_EQ(groups.slot_count(), slots);
}

TEST(SqliteStoreTest, ReopenKeepsEverything) {
  TestDir dir;
  const std::string path = dir.File("driftwatch.db");
  const std::string state("state\0bytes", 11);
  {
    auto store = OpenStore("sqlite", path);
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.samples = Samples(kServiceA, 1, 20, kNow);
    const auto b = Samples(kServiceB, 1, 4, kNow);
    batch.samples.insert(batch.samples.end(), b.begin(), b.end());
    batch.events = {Event(kServiceA, 20, kNow + 20, "STABLE", "baseline_established")};
    batch.snapshots = {Snapshot(kServiceA, 20, state)};
    Write(*store, batch);
  }
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  const auto samples = ReadSamples(*store, kServiceA);
  const auto written = Samples(kServiceA, 1, 20, kNow);
  ASSERT_EQ(samples.size(), written.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    EXPECT_TRUE(SameDouble(samples[i].latency_ms, written[i].latency_ms));
    EXPECT_TRUE(SameDouble(samples[i].payload_kb, written[i].payload_kb));
    EXPECT_EQ(samples[i].timestamp_ms, written[i].timestamp_ms);
  }
  std::vector<StoredEvent> events;
  ASSERT_TRUE(store->QueryEvents(kServiceA, 10, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "baseline_established");
  const auto services = ReadServices(*store);
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[0].snapshot_data, state);
  const StoreStats stats = ReadStats(*store);
  EXPECT_EQ(stats.sample_count, 24u);  // counted again at open
  EXPECT_EQ(stats.event_count, 1u);

  WriteBatch more;  // a known service keeps its key: no duplicate service appears
  more.samples = Samples(kServiceA, 21, 25, kNow);
  Write(*store, more);
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 25));
  EXPECT_EQ(ReadServices(*store).size(), 2u);
}

TEST(SqliteStoreTest, NewFileIsAWalDriftWatchDatabase) {
  TestDir dir;
  const std::string path = dir.File("new.db");
  {
    auto store = OpenStore("sqlite", path);
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.samples = Samples(kServiceA, 1, 3, kNow);
    Write(*store, batch);
  }
  ASSERT_GT(SchemaPragma("application_id"), 0);
  RawDatabase db(path);
  EXPECT_EQ(db.Value("PRAGMA application_id"), std::to_string(SchemaPragma("application_id")));
  EXPECT_EQ(db.Value("PRAGMA user_version"), std::to_string(SchemaPragma("user_version")));
  EXPECT_EQ(db.Value("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(db.Value("PRAGMA integrity_check"), "ok");
  // The compact layout: an integer service key, telemetry without a rowid, no telemetry index.
  EXPECT_EQ(db.Value("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = "
                     "'telemetry_blocks'"),
            "0");
  EXPECT_THAT(db.Value("SELECT sql FROM sqlite_master WHERE name = 'telemetry_blocks'"),
              HasSubstr("WITHOUT ROWID"));
}

TEST(SqliteStoreTest, MigratesASchemaV1File) {
  TestDir dir;
  const std::string path = dir.File("v1.db");
  {
    RawDatabase db(path);
    db.Exec(ReadFile(kOldSchemaDir + "/schema_v1.sql"));
    db.Exec(
        "INSERT INTO telemetry VALUES ('svc-a', 1, 1000, 150.25, 2.5), ('svc-a', 2, 2000, 151.5, "
        "NULL), ('svc-b', 1, 1500, 99.0, 1.0);"
        "INSERT INTO events (service_id, seq, timestamp_ms, from_state, to_state, reason, "
        "metadata_json) VALUES ('svc-a', 1, 1000, 'INSUFFICIENT_DATA', 'STABLE', "
        "'baseline_established', '{}'), ('svc-a', 2, 2000, 'STABLE', 'DRIFT_DETECTED', "
        "'moderate_anomaly_rate', '{\"anomaly_count\":10}');"
        "INSERT INTO snapshots VALUES ('svc-a', 2, x'00ff10');");
    ASSERT_EQ(db.Value("PRAGMA user_version"), "1");
  }
  {
    auto store = OpenStore("sqlite", path);
    ASSERT_NE(store, nullptr);
    const auto samples = ReadSamples(*store, "svc-a");
    ASSERT_EQ(samples.size(), 2u);
    EXPECT_EQ(samples[0].timestamp_ms, 1000);
    EXPECT_EQ(samples[0].latency_ms, 150.25);
    EXPECT_EQ(samples[0].payload_kb, 2.5);
    EXPECT_TRUE(std::isnan(samples[1].payload_kb));
    EXPECT_EQ(ReadSamples(*store, "svc-b").size(), 1u);
    std::vector<StoredEvent> events;
    ASSERT_TRUE(store->QueryEvents("svc-a", 10, &events).ok());
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].reason, "moderate_anomaly_rate");
    EXPECT_EQ(events[0].metadata_json, "{\"anomaly_count\":10}");
    const auto services = ReadServices(*store);
    ASSERT_EQ(services.size(), 2u);
    EXPECT_EQ(services[0].service_id, "svc-a");
    EXPECT_EQ(services[0].snapshot_seq, 2u);
    EXPECT_EQ(services[0].snapshot_data, std::string("\x00\xff\x10", 3));
    EXPECT_EQ(ReadStats(*store).sample_count, 3u);

    WriteBatch more;
    more.samples = {Sample("svc-a", 3, 3000, 152.0)};
    Write(*store, more);
    EXPECT_EQ(Seqs(ReadSamples(*store, "svc-a")), Range(1, 3));
  }
  const std::string fresh = dir.File("fresh.db");
  ASSERT_NE(OpenStore("sqlite", fresh), nullptr);
  const auto fresh_schema = SchemaOf(fresh);
  // 7 tables (sqlite_sequence for the keys of services), the unique indexes of services and
  // notifications, events_by_service and the two of notifications
  EXPECT_EQ(fresh_schema.size(), 12u);
  EXPECT_EQ(SchemaOf(path), fresh_schema);  // the migration ends where a new file starts
  RawDatabase db(path);
  EXPECT_EQ(db.Value("PRAGMA user_version"), std::to_string(SchemaPragma("user_version")));
  EXPECT_EQ(db.Value("PRAGMA integrity_check"), "ok");
}

// Every sample of `expected` reads back from `store`, bit for bit and in order.
void ExpectSamples(Store& store, const std::string& service_id,
                   const std::vector<StoredSample>& expected, uint64_t after_seq = 0) {
  SCOPED_TRACE(service_id + " after seq " + std::to_string(after_seq));
  std::vector<StoredSample> wanted;
  for (const auto& sample : expected) {
    if (sample.seq > after_seq) wanted.push_back(sample);
  }
  const auto read = ReadSamples(store, service_id, after_seq);
  ASSERT_EQ(read.size(), wanted.size());
  for (size_t i = 0; i < read.size(); ++i) {
    ASSERT_EQ(read[i].seq, wanted[i].seq) << i;
    ASSERT_EQ(read[i].timestamp_ms, wanted[i].timestamp_ms) << i;
    ASSERT_EQ(std::memcmp(&read[i].latency_ms, &wanted[i].latency_ms, sizeof(double)), 0) << i;
    ASSERT_EQ(std::memcmp(&read[i].payload_kb, &wanted[i].payload_kb, sizeof(double)), 0) << i;
  }
}

// The blocks one commit makes of one service's samples, as "key|last seq|sample count": the split
// documented in sample_block.h and schema.sql, worked out here from the encoding. A block ends at
// a gap in the seqs, at 1024 samples, or when one more sample of the largest encoding (a 10-byte
// timestamp, two doubles and a new bitmap byte) could take its data past 960 bytes.
std::vector<std::string> ExpectedBlocks(int key, const std::vector<StoredSample>& samples) {
  constexpr size_t kMaxBytes = 960;
  constexpr size_t kLargestSample = 10 + 16 + 1;
  std::vector<std::string> blocks;
  size_t count = 0;
  size_t bytes = 0;  // the samples' bytes, without the bitmap
  uint64_t last_seq = 0;
  uint64_t previous_ms = 0;
  for (const StoredSample& sample : samples) {
    const bool full = count == 1024 || bytes + (count + 7) / 8 + kLargestSample > kMaxBytes;
    if (count > 0 && (sample.seq != last_seq + 1 || full)) {
      blocks.push_back(std::to_string(key) + "|" + std::to_string(last_seq) + "|" +
                       std::to_string(count));
      count = 0;
      bytes = 0;
      previous_ms = 0;
    }
    const uint64_t delta = static_cast<uint64_t>(sample.timestamp_ms) - previous_ms;
    uint64_t zigzag = (delta << 1) ^ (0 - (delta >> 63));
    for (++bytes; zigzag >= 0x80; zigzag >>= 7) ++bytes;  // the varint
    bytes +=
        std::bit_cast<uint64_t>(sample.payload_kb) == std::bit_cast<uint64_t>(kNoPayload) ? 8 : 16;
    previous_ms = static_cast<uint64_t>(sample.timestamp_ms);
    last_seq = sample.seq;
    ++count;
  }
  if (count > 0) {
    blocks.push_back(std::to_string(key) + "|" + std::to_string(last_seq) + "|" +
                     std::to_string(count));
  }
  return blocks;
}

// A v2 file (one telemetry row per sample) becomes blocks: every sample reads back bit for bit,
// runs longer than a block and gaps in the seqs split blocks, and the file ends where a new one
// starts.
TEST(SqliteStoreTest, MigratesASchemaV2File) {
  TestDir dir;
  const std::string path = dir.File("v2.db");
  auto long_run = Samples("svc-long", 1, 2500, kNow);  // > 2 blocks, every third without payload
  long_run[10].timestamp_ms = kNow - 5000;             // the clock stepped back
  auto with_gap = Samples("svc-gap", 1, 10, kNow);
  const auto after_gap = Samples("svc-gap", 20, 25, kNow + 100);
  with_gap.insert(with_gap.end(), after_gap.begin(), after_gap.end());
  const auto single = Samples("svc-one", 7, 7, kNow);
  {
    RawDatabase db(path);
    db.Exec(ReadFile(kOldSchemaDir + "/schema_v2.sql"));
    db.Exec(
        "INSERT INTO services VALUES (1, 'svc-long'), (2, 'svc-gap'), (3, 'svc-one'), "
        "(4, 'svc-quiet');"
        "INSERT INTO events (service_key, seq, timestamp_ms, from_state, to_state, reason, "
        "metadata_json) VALUES (1, 100, 1000, 'INSUFFICIENT_DATA', 'STABLE', "
        "'baseline_established', '{}');"
        "INSERT INTO snapshots VALUES (1, 2400, x'00ff10'), (4, 0, NULL);");
    db.Exec("BEGIN");
    db.InsertV2Samples(1, long_run);
    db.InsertV2Samples(2, with_gap);
    db.InsertV2Samples(3, single);
    db.Exec("COMMIT");
    ASSERT_EQ(db.Value("PRAGMA user_version"), "2");
    ASSERT_EQ(db.Value("SELECT count(*) FROM telemetry"), "2517");
  }
  {
    auto store = OpenStore("sqlite", path);
    ASSERT_NE(store, nullptr);
    ExpectSamples(*store, "svc-long", long_run);
    ExpectSamples(*store, "svc-long", long_run, 1024);
    ExpectSamples(*store, "svc-long", long_run, 1500);
    ExpectSamples(*store, "svc-gap", with_gap);
    ExpectSamples(*store, "svc-gap", with_gap, 10);
    ExpectSamples(*store, "svc-one", single);
    EXPECT_EQ(ReadStats(*store).sample_count, 2517u);
    EXPECT_EQ(ReadStats(*store).event_count, 1u);
    const auto services = ReadServices(*store);
    ASSERT_EQ(services.size(), 4u);
    EXPECT_EQ(services[0].service_id, "svc-long");
    EXPECT_EQ(services[0].max_seq, 2500u);
    EXPECT_EQ(services[0].snapshot_seq, 2400u);
    EXPECT_EQ(services[0].snapshot_data, std::string("\x00\xff\x10", 3));
    EXPECT_EQ(services[1].max_seq, 25u);
    EXPECT_EQ(services[2].max_seq, 7u);
    EXPECT_EQ(services[3].max_seq, 0u);
    EXPECT_TRUE(services[3].has_snapshot);

    WriteBatch more;  // the stored seqs carry on: the next one goes in, an old one does not
    more.samples = Samples("svc-long", 2501, 2502, kNow);
    Write(*store, more);
    more.samples = Samples("svc-gap", 25, 25, kNow);
    const Status status = store->Write(more);
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(status.message(), HasSubstr("sample 25 of 'svc-gap'"));
  }
  RawDatabase db(path);
  std::vector<std::string> expected = ExpectedBlocks(1, long_run);
  expected.push_back("1|2502|2");  // the write after the migration
  for (const std::string& block : ExpectedBlocks(2, with_gap)) expected.push_back(block);
  for (const std::string& block : ExpectedBlocks(3, single)) expected.push_back(block);
  EXPECT_EQ(expected.size(), ExpectedBlocks(1, long_run).size() + 4);  // 2 for svc-gap's gap
  EXPECT_EQ(db.Rows("SELECT service_key, last_seq, sample_count FROM telemetry_blocks "
                    "ORDER BY service_key, last_seq"),
            expected);
  EXPECT_EQ(db.Value("SELECT max(length(data)) <= 960 FROM telemetry_blocks"), "1");
  const std::string fresh = dir.File("fresh.db");
  ASSERT_NE(OpenStore("sqlite", fresh), nullptr);
  EXPECT_EQ(SchemaOf(path), SchemaOf(fresh));
  EXPECT_EQ(db.Value("PRAGMA user_version"), std::to_string(SchemaPragma("user_version")));
  EXPECT_EQ(db.Value("PRAGMA integrity_check"), "ok");
}

// A migration that fails (here: a seq the block format cannot hold) changes nothing in the file.
TEST(SqliteStoreTest, FailedMigrationLeavesTheFileUntouched) {
  TestDir dir;
  const std::string path = dir.File("v2.db");
  {
    RawDatabase db(path);
    db.Exec("PRAGMA journal_mode = WAL");  // as DriftWatch left it: opening it changes no byte
    db.Exec(ReadFile(kOldSchemaDir + "/schema_v2.sql"));
    db.Exec("BEGIN; INSERT INTO services VALUES (1, 'svc-a'), (2, 'svc-b')");
    db.InsertV2Samples(1, Samples("svc-a", 1, 3000, kNow));
    db.InsertV2Samples(2, {Sample("svc-b", 0, kNow, 1.0)});
    db.Exec("COMMIT");
  }
  const std::string before = ReadFile(path);
  std::string error;
  EXPECT_EQ(OpenStore("sqlite", path, &error), nullptr);
  EXPECT_THAT(error, HasSubstr(path));
  EXPECT_THAT(error, HasSubstr("seq 0"));
  EXPECT_EQ(ReadFile(path), before);
  RawDatabase db(path);
  EXPECT_EQ(db.Value("PRAGMA user_version"), "2");
  EXPECT_EQ(db.Value("SELECT count(*) FROM telemetry"), "3001");
  EXPECT_EQ(db.Value("SELECT count(*) FROM sqlite_master WHERE name = 'telemetry_blocks'"), "0");
}

// Opening `path` fails with a message containing `reason` and leaves its bytes as they were.
void ExpectRefusedAndUntouched(const std::string& path, const std::string& reason) {
  const std::string before = ReadFile(path);
  ASSERT_FALSE(before.empty());
  std::string error;
  EXPECT_EQ(OpenStore("sqlite", path, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("sqlite: "));
  EXPECT_THAT(error, HasSubstr(path));
  EXPECT_THAT(error, HasSubstr(reason));
  EXPECT_EQ(ReadFile(path), before);
}

TEST(SqliteStoreTest, RefusesAFileThatIsNotSQLite) {
  TestDir dir;
  const std::string path = dir.File("notes.txt");
  std::ofstream(path) << std::string(8192, 'n') << "\nnot a database\n";
  ExpectRefusedAndUntouched(path, "not an SQLite database");
}

TEST(SqliteStoreTest, RefusesAnotherApplicationsDatabase) {
  TestDir dir;
  const std::string tables = dir.File("tables.db");
  RawDatabase(tables).Exec(
      "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT);"
      "INSERT INTO accounts VALUES (1, 'alice');");
  ExpectRefusedAndUntouched(tables, "another application");

  const std::string marked = dir.File("marked.db");
  RawDatabase(marked).Exec("PRAGMA application_id = 1234; CREATE TABLE t (x);");
  ExpectRefusedAndUntouched(marked, "another application");
}

TEST(SqliteStoreTest, RefusesANewerSchema) {
  TestDir dir;
  const std::string path = dir.File("future.db");
  {
    auto store = OpenStore("sqlite", path);
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.samples = Samples(kServiceA, 1, 5, kNow);
    Write(*store, batch);
  }
  RawDatabase(path).Exec("PRAGMA user_version = " +
                         std::to_string(SchemaPragma("user_version") + 1));
  ExpectRefusedAndUntouched(path, "newer");
}

TEST(SqliteStoreTest, UnopenablePathsAreReported) {
  TestDir dir;
  std::string error;
  const std::string missing_dir = dir.File("no/such/dir/driftwatch.db");
  EXPECT_EQ(OpenStore("sqlite", missing_dir, &error), nullptr);
  EXPECT_THAT(error, HasSubstr(missing_dir));
  EXPECT_FALSE(std::filesystem::exists(missing_dir));

  EXPECT_EQ(OpenStore("sqlite", dir.path().string(), &error), nullptr);
  EXPECT_THAT(error, HasSubstr("is a directory"));

  std::unique_ptr<Store> store;
  const Status status = Store::Open(StorageBackend("sqlite"), {}, &store);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("path"));
}

// Two stores on one file would interleave their sequence numbers: the second is refused, with the
// first left working, until the first is closed.
TEST(SqliteStoreTest, RefusesAFileAnotherStoreHasOpen) {
  TestDir dir;
  const std::string path = dir.File("driftwatch.db");
  auto first = OpenStore("sqlite", path);
  ASSERT_NE(first, nullptr);
  WriteBatch batch;
  batch.samples = Samples(kServiceA, 1, 3, kNow);
  Write(*first, batch);

  std::string error;
  EXPECT_EQ(OpenStore("sqlite", path, &error), nullptr);
  EXPECT_THAT(error, HasSubstr(path));
  EXPECT_THAT(error, HasSubstr("in use by another DriftWatch process"));

  batch.samples = Samples(kServiceA, 4, 5, kNow);
  Write(*first, batch);  // the refusal took nothing from the first store
  EXPECT_EQ(Seqs(ReadSamples(*first, kServiceA)), Range(1, 5));
  first.reset();

  auto second = OpenStore("sqlite", path, &error);
  ASSERT_NE(second, nullptr) << error;
  EXPECT_EQ(Seqs(ReadSamples(*second, kServiceA)), Range(1, 5));
}

// A child writes batches (samples and a snapshot as of the batch's last seq, as the engine does)
// until it is killed with SIGKILL; the file must then open cleanly and be consistent.
TEST(SqliteStoreTest, HardKillLeavesAConsistentFile) {
  TestDir dir;
  const std::string path = dir.File("crash.db");
  ASSERT_NE(StorageBackend("sqlite"), nullptr);  // loaded before fork, so the child has it
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    auto store = OpenStore("sqlite", path);
    if (store == nullptr) _exit(2);
    constexpr uint64_t kPerRound = 50;
    for (uint64_t round = 0;; ++round) {
      WriteBatch batch;
      const uint64_t first = round * kPerRound + 1;
      const uint64_t last = first + kPerRound - 1;
      for (const char* id : {kServiceA, kServiceB}) {
        const auto samples = Samples(id, first, last, kNow);
        batch.samples.insert(batch.samples.end(), samples.begin(), samples.end());
        batch.snapshots.push_back(
            Snapshot(id, last, std::string(4000, 's') + std::to_string(last)));
      }
      if (round % 7 == 0) batch.events.push_back(Event(kServiceA, last, kNow, "STABLE", "x"));
      if (!store->Write(batch).ok()) _exit(3);
      if (round == 20 && write(ready[1], "r", 1) != 1) _exit(4);
    }
  }
  close(ready[1]);
  char signal_byte = 0;
  ASSERT_EQ(read(ready[0], &signal_byte, 1), 1) << "the child never wrote";
  close(ready[0]);
  usleep(150 * 1000);  // let it write on: the kill lands mid-transaction or between two
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int child_status = 0;
  ASSERT_EQ(waitpid(child, &child_status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(child_status)) << "child exited with " << WEXITSTATUS(child_status);

  EXPECT_EQ(RawDatabase(path).Value("PRAGMA integrity_check"), "ok");
  std::string error;
  auto store = OpenStore("sqlite", path, &error);
  ASSERT_NE(store, nullptr) << error;
  const auto services = ReadServices(*store);
  ASSERT_EQ(services.size(), 2u);
  for (const ScannedService& service : services) {
    SCOPED_TRACE(service.service_id);
    const auto samples = ReadSamples(*store, service.service_id);
    ASSERT_GE(samples.size(), 21u * 50u);
    EXPECT_EQ(Seqs(samples), Range(1, samples.size()));  // contiguous: no hole, no torn batch
    EXPECT_EQ(service.max_seq, samples.size());
    ASSERT_TRUE(service.has_snapshot);
    EXPECT_LE(service.snapshot_seq, service.max_seq);  // never ahead of its samples
    EXPECT_EQ(service.snapshot_data, std::string(4000, 's') + std::to_string(service.snapshot_seq));
  }
  EXPECT_EQ(ReadStats(*store).sample_count, 2 * services[0].max_seq);
}

// Bytes per 10,000 stored samples, written in commit-sized batches and measured on the closed file.
uint64_t FileBytesPer10kSamples(int services, bool with_payload, size_t per_commit = 500) {
  TestDir dir;
  const std::string path = dir.File("size.db");
  constexpr uint64_t kSamples = 50000;
  std::vector<std::string> ids;
  for (int i = 0; i < services; ++i)
    ids.push_back("payment-authorization-prod-" + std::to_string(i));
  {
    auto store = OpenStore("sqlite", path);
    if (store == nullptr) return 0;
    WriteBatch batch;
    for (uint64_t n = 0; n < kSamples; ++n) {
      const auto& id = ids[n % ids.size()];
      const uint64_t seq = n / ids.size() + 1;
      const double latency = 150.0 + static_cast<double>((n * 7919) % 5000) / 97.0;
      batch.samples.push_back(
          Sample(id.c_str(), seq, kNow + static_cast<int64_t>(n) * 100, latency,
                 with_payload ? 2.45 + static_cast<double>(n % 97) / 50.0 : kNoPayload));
      if (batch.samples.size() == per_commit) {  // 500: one commit interval at 10k samples/s
        if (!store->Write(batch).ok()) return 0;
        batch.Clear();
      }
    }
  }
  return std::filesystem::file_size(path) * 10000 / kSamples;
}

TEST(SqliteStoreTest, StorageIsCompact) {
  constexpr uint64_t kTargetBytesPer10k = 400 * 1000;  // 0.4 MB
  const uint64_t one_service = FileBytesPer10kSamples(1, true);
  const uint64_t many_services = FileBytesPer10kSamples(50, true);
  // A few hundred samples per service and commit would spill past a page (sample_block.h).
  const uint64_t one_service_100 = FileBytesPer10kSamples(1, true, 100);
  const uint64_t many_services_100_each = FileBytesPer10kSamples(50, true, 5000);
  const uint64_t no_payload = FileBytesPer10kSamples(1, false);
  std::printf(
      "bytes per 10,000 samples: %llu (1 service), %llu (50 services interleaved), %llu and %llu "
      "(100 samples a service per commit, 1 and 50 services), %llu (no payload)\n",
      static_cast<unsigned long long>(one_service), static_cast<unsigned long long>(many_services),
      static_cast<unsigned long long>(one_service_100),
      static_cast<unsigned long long>(many_services_100_each),
      static_cast<unsigned long long>(no_payload));
  RecordProperty("bytes_per_10k_samples", std::to_string(one_service));
  EXPECT_GT(one_service, 0u);
  EXPECT_LE(one_service, kTargetBytesPer10k);
  EXPECT_LE(many_services, kTargetBytesPer10k);
  EXPECT_LE(one_service_100, kTargetBytesPer10k);
  EXPECT_LE(many_services_100_each, kTargetBytesPer10k);
  EXPECT_LT(no_payload, one_service);
}

// The plugin through its C functions, for the status codes that Store keeps only as messages.
class PluginStore {
 public:
  explicit PluginStore(const std::string& path) : vtable_(StorageBackend("sqlite")) {
    const dw_type_param param = {"path", path.c_str()};
    dw_type_error error = {};
    error.param_index = -1;
    const dw_type_status status = vtable_->on_open(&param, 1, &handle_, &error);
    EXPECT_EQ(status, DW_STATUS_OK) << error.message;
  }
  ~PluginStore() {
    if (handle_ != nullptr) vtable_->on_close(handle_);
  }
  PluginStore(const PluginStore&) = delete;
  PluginStore& operator=(const PluginStore&) = delete;

  // Scans the service's samples after `after_seq`; *visited counts the samples it was given.
  dw_type_status Scan(const char* service_id, uint64_t after_seq, size_t* visited,
                      std::string* message) {
    dw_type_error error = {};
    error.param_index = -1;
    *visited = 0;
    const auto count = +[](void* context, const dw_type_stored_sample*) -> int {
      ++*static_cast<size_t*>(context);
      return 0;
    };
    const dw_type_status status =
        vtable_->on_scan_samples(handle_, service_id, after_seq, count, visited, &error);
    *message = error.message;
    return status;
  }

  dw_type_status Write(const std::vector<StoredSample>& samples, std::string* message) {
    const std::vector<dw_type_stored_sample> raw = RawSamples(samples);
    dw_type_write_batch batch = {};
    batch.struct_size = sizeof batch;
    batch.samples = raw.data();
    batch.sample_count = raw.size();
    dw_type_error error = {};
    error.param_index = -1;
    const dw_type_status status = vtable_->on_write(handle_, &batch, &error);
    *message = error.message;
    return status;
  }

  dw_type_status Purge(int64_t samples_before_ms, uint32_t max_rows, std::string* message) {
    dw_type_error error = {};
    error.param_index = -1;
    uint64_t deleted = 0;
    const dw_type_status status =
        vtable_->on_purge(handle_, samples_before_ms, 0, max_rows, &deleted, &error);
    *message = error.message;
    return status;
  }

 private:
  const dw_type_storage* vtable_;
  void* handle_ = nullptr;
};

// (service key, last seq, sample count) of every stored block, in key order.
std::vector<std::string> Blocks(const std::string& path) {
  return RawDatabase(path).Rows(
      "SELECT service_key, last_seq, sample_count FROM telemetry_blocks ORDER BY 1, 2");
}

// Samples written in many commits of several interleaved services, some of them longer than a
// block and some with gaps in their seqs, read back exactly from any seq: from the start, inside a
// block, at either edge of one, past the end, while their newest blocks are still open (in
// memory and telemetry_log) and after they were written out at close.
TEST(SqliteStoreTest, BlocksReadBackFromAnySeq) {
  TestDir dir;
  const std::string path = dir.File("blocks.db");
  const std::vector<std::string> ids = {"svc-0", "svc-1", "svc-2", "svc-3"};
  std::vector<std::vector<StoredSample>> written(ids.size());
  std::vector<uint64_t> next_seq(ids.size(), 1);
  {
    auto store = OpenStore("sqlite", path);
    ASSERT_NE(store, nullptr);
    for (int commit = 0; commit < 40; ++commit) {
      std::vector<std::vector<uint64_t>> seqs(ids.size());
      for (size_t s = 0; s < ids.size(); ++s) {
        size_t count = (commit * 7 + s * 3) % 13;  // 0 now and then: not in this commit
        if (s == 0 && commit == 5) count = 2100;   // many blocks
        for (size_t n = 0; n < count; ++n) {
          if (s == 2 && n == 4) next_seq[s] += 3;  // a gap inside a commit: two blocks
          seqs[s].push_back(next_seq[s]++);
        }
        if (s == 3) next_seq[s] += 5;  // gaps between commits
      }
      WriteBatch batch;  // the services interleaved, as the engine's workers hand them over
      for (size_t n = 0; n < 2100; ++n) {
        for (size_t s = 0; s < ids.size(); ++s) {
          if (n >= seqs[s].size()) continue;
          const uint64_t seq = seqs[s][n];
          const int64_t timestamp =
              kNow + static_cast<int64_t>(seq) * 10 - (seq % 17 == 0 ? 5000 : 0);
          const double payload = seq % 3 == 0 ? kNoPayload : 2.45 + static_cast<double>(seq) * 1e-7;
          batch.samples.push_back(Sample(ids[s].c_str(), seq, timestamp,
                                         100.0 + static_cast<double>(seq + s) / 3.0, payload));
          written[s].push_back(batch.samples.back());
        }
      }
      Write(*store, batch);
    }
    for (size_t s = 0; s < ids.size(); ++s) {  // the open blocks read back too
      for (const uint64_t seq : {0ul, 2000ul, written[s].back().seq - 3, written[s].back().seq}) {
        ExpectSamples(*store, ids[s], written[s], seq);
      }
    }
  }
  // Blocks span commits: each service's blocks are those of all its samples in one go.
  size_t expected_blocks = 0;
  for (size_t s = 0; s < ids.size(); ++s) {
    expected_blocks += ExpectedBlocks(static_cast<int>(s) + 1, written[s]).size();
  }
  EXPECT_EQ(Blocks(path).size(), expected_blocks);
  EXPECT_EQ(RawDatabase(path).Value("SELECT count(*) FROM telemetry_log"), "0");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  size_t total = 0;
  for (size_t s = 0; s < ids.size(); ++s) {
    total += written[s].size();
    std::vector<uint64_t> after = {0, written[s].back().seq, written[s].back().seq + 1, UINT64_MAX};
    for (const std::string& row : RawDatabase(path).Rows(
             "SELECT b.last_seq, b.sample_count FROM telemetry_blocks AS b JOIN services AS s "
             "USING (service_key) WHERE s.service_id = '" +
             ids[s] + "'")) {
      const uint64_t last = std::stoull(row.substr(0, row.find('|')));
      const uint64_t first = last + 1 - std::stoull(row.substr(row.find('|') + 1));
      for (const uint64_t seq : {first - 1, first, first + 1, last - 1, last, last + 1}) {
        after.push_back(seq);
      }
    }
    for (const uint64_t seq : after) ExpectSamples(*store, ids[s], written[s], seq);
  }
  EXPECT_EQ(ReadStats(*store).sample_count, total);
  for (const ScannedService& service : ReadServices(*store)) {
    const size_t s = static_cast<size_t>(service.service_id.back() - '0');
    EXPECT_EQ(service.max_seq, written[s].back().seq) << service.service_id;
  }
}

// What a hard kill leaves while `path` is open: its files as they are, the WAL with them.
std::string CrashCopy(const std::string& path, const std::string& copy) {
  std::filesystem::copy_file(path, copy);
  std::filesystem::copy_file(path + "-wal", copy + "-wal");
  return copy;
}

// A forgotten service's samples may wait in telemetry_log rows shared with other services; a
// recovery after a crash must not bring them back, under the old key or a reused one.
TEST(SqliteStoreTest, AForgottenServiceStaysForgottenAfterACrash) {
  TestDir dir;
  const std::string path = dir.File("forget.db");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  std::vector<StoredSample> kept;
  for (uint64_t commit = 0; commit < 5; ++commit) {  // 5 samples each: blocks stay open
    WriteBatch batch;
    batch.samples = Samples("svc-gone", commit * 5 + 1, commit * 5 + 5, kNow);
    const auto other = Samples("svc-kept", commit * 5 + 1, commit * 5 + 5, kNow);
    batch.samples.insert(batch.samples.end(), other.begin(), other.end());
    kept.insert(kept.end(), other.begin(), other.end());
    Write(*store, batch);
  }
  ASSERT_GT(std::stoi(RawDatabase(path).Value("SELECT count(*) FROM telemetry_log")), 0);
  WriteBatch forget;
  forget.forgotten = {"svc-gone"};
  Write(*store, forget);
  WriteBatch fresh;  // a new service, which may get the freed key
  fresh.samples = Samples("svc-new", 1, 2, kNow);
  Write(*store, fresh);

  const std::string crashed = CrashCopy(path, dir.File("crashed.db"));
  auto reopened = OpenStore("sqlite", crashed);
  ASSERT_NE(reopened, nullptr);
  EXPECT_TRUE(ReadSamples(*reopened, "svc-gone").empty());
  ExpectSamples(*reopened, "svc-kept", kept);
  EXPECT_EQ(Seqs(ReadSamples(*reopened, "svc-new")), Range(1, 2));
  std::vector<std::string> ids;
  for (const auto& service : ReadServices(*reopened)) ids.push_back(service.service_id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"svc-kept", "svc-new"}));
  EXPECT_EQ(ReadStats(*reopened).sample_count, 27u);
  EXPECT_EQ(
      RawDatabase(crashed).Value("SELECT count(*) FROM services WHERE service_id = 'svc-gone'"),
      "0");
}

// Samples wait in telemetry_log until their block is full: a commit writes one log row, not a row
// per service. After a crash they are all there, in the same blocks a clean close would write.
TEST(SqliteStoreTest, OpenBlocksSurviveACrash) {
  TestDir dir;
  const std::string path = dir.File("open.db");
  std::vector<std::vector<StoredSample>> written(3);
  const char* ids[] = {"svc-0", "svc-1", "svc-2"};
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  std::vector<uint64_t> next(3, 1);
  for (int64_t commit = 0; commit < 10; ++commit) {
    WriteBatch batch;
    for (size_t s = 0; s < 3; ++s) {  // 10, 9 and 8 samples a commit
      const auto samples = Samples(ids[s], next[s], next[s] + 9 - s, kNow + commit * 1000);
      next[s] += 10 - s;
      batch.samples.insert(batch.samples.end(), samples.begin(), samples.end());
      written[s].insert(written[s].end(), samples.begin(), samples.end());
    }
    Write(*store, batch);
  }
  RawDatabase db(path);
  // One full block each; the rest is open, and the log keeps the rows that hold it.
  EXPECT_EQ(db.Value("SELECT count(*) FROM telemetry_blocks"), "3");
  const int log_rows = std::stoi(db.Value("SELECT count(*) FROM telemetry_log"));
  EXPECT_GT(log_rows, 0);
  EXPECT_LT(log_rows, 10);  // the older ones are in blocks
  for (size_t s = 0; s < 3; ++s) ExpectSamples(*store, ids[s], written[s]);
  const auto services = ReadServices(*store);
  ASSERT_EQ(services.size(), 3u);
  for (size_t s = 0; s < 3; ++s) EXPECT_EQ(services[s].max_seq, written[s].back().seq);

  const std::string crashed = CrashCopy(path, dir.File("crashed.db"));
  store.reset();  // a clean close
  const auto clean_blocks = Blocks(path);
  EXPECT_EQ(db.Value("SELECT count(*) FROM telemetry_log"), "0");
  std::vector<std::string> expected;
  for (size_t s = 0; s < 3; ++s) {
    for (const auto& block : ExpectedBlocks(static_cast<int>(s) + 1, written[s])) {
      expected.push_back(block);
    }
  }
  EXPECT_EQ(clean_blocks, expected);

  ASSERT_GT(std::stoi(RawDatabase(crashed).Value("SELECT count(*) FROM telemetry_log")), 0);
  auto reopened = OpenStore("sqlite", crashed);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(RawDatabase(crashed).Value("SELECT count(*) FROM telemetry_log"), "0");
  EXPECT_EQ(Blocks(crashed), clean_blocks);
  for (size_t s = 0; s < 3; ++s) ExpectSamples(*reopened, ids[s], written[s]);
  EXPECT_EQ(ReadStats(*reopened).sample_count, 270u);
  WriteBatch more;  // and the seqs go on
  more.samples = Samples(ids[0], 101, 101, kNow);
  Write(*reopened, more);
  more.samples = Samples(ids[1], 90, 90, kNow);
  EXPECT_FALSE(reopened->Write(more).ok());
}

// A write that fails leaves the open blocks as they were, though it had added to some of them.
TEST(SqliteStoreTest, FailedWriteLeavesOpenBlocksAsTheyWere) {
  TestDir dir;
  const std::string path = dir.File("failed.db");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  batch.samples = Samples(kServiceA, 1, 10, kNow);
  const auto b = Samples(kServiceB, 1, 10, kNow);
  batch.samples.insert(batch.samples.end(), b.begin(), b.end());
  Write(*store, batch);
  batch.samples = Samples(kServiceA, 11, 70, kNow);           // fills and writes out a block of A's
  batch.samples.push_back(Sample(kServiceB, 10, kNow, 1.0));  // then B's seq does not increase
  const Status status = store->Write(batch);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("sample 10 of '" + std::string(kServiceB) + "'"));
  ExpectSamples(*store, kServiceA, Samples(kServiceA, 1, 10, kNow));
  EXPECT_EQ(Blocks(path), std::vector<std::string>{});
  batch.samples = Samples(kServiceA, 11, 70, kNow);
  Write(*store, batch);
  ExpectSamples(*store, kServiceA, Samples(kServiceA, 1, 70, kNow));
  store.reset();
  auto expected = ExpectedBlocks(1, Samples(kServiceA, 1, 70, kNow));
  expected.push_back(ExpectedBlocks(2, b).at(0));
  EXPECT_EQ(Blocks(path), expected);
}

// A commit stages only the samples it adds to an open block (open_blocks.h): however the samples
// are split into commits, failed ones included, the blocks hold the same bytes as when they are
// written in one commit, and read back bit for bit while open.
TEST(SqliteStoreTest, OpenBlocksFilledAcrossCommitsHoldTheSameBytes) {
  TestDir dir;
  const auto all = Samples(kServiceA, 1, 300, kNow);  // payloads absent at every third seq
  const auto blocks = [](const std::string& path) {
    return RawDatabase(path).Rows(
        "SELECT service_key, last_seq, sample_count, hex(data) FROM telemetry_blocks "
        "ORDER BY 1, 2");
  };
  const std::string whole = dir.File("whole.db");
  {
    auto store = OpenStore("sqlite", whole);
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.samples = all;
    Write(*store, batch);
  }
  const std::string split = dir.File("split.db");
  {
    auto store = OpenStore("sqlite", split);
    ASSERT_NE(store, nullptr);
    size_t next = 0;
    for (size_t size = 1; next < all.size(); size = size % 11 + 1) {  // tails at every bit offset
      const size_t end = std::min(all.size(), next + size);
      WriteBatch batch;
      batch.samples.assign(all.begin() + static_cast<std::ptrdiff_t>(next),
                           all.begin() + static_cast<std::ptrdiff_t>(end));
      if (size % 4 == 0) {  // first fails: a later sample does not follow
        batch.samples.push_back(Sample(kServiceA, all[next].seq, kNow, 1.0));
        ASSERT_FALSE(store->Write(batch).ok());
        batch.samples.pop_back();
      }
      Write(*store, batch);
      next = end;
      ExpectSamples(
          *store, kServiceA,
          std::vector<StoredSample>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(next)));
    }
  }
  EXPECT_EQ(blocks(split), blocks(whole));
  EXPECT_EQ(Blocks(whole), ExpectedBlocks(1, all));
}

// A quiet service's open block is written out after 600 newer commits, so that the log rows it
// holds can go: the log stays short whatever the services do.
TEST(SqliteStoreTest, QuietServicesDoNotHoldTheLog) {
  TestDir dir;
  const std::string path = dir.File("quiet.db");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  batch.samples = Samples("svc-quiet", 1, 3, kNow);
  Write(*store, batch);
  RawDatabase db(path);
  for (uint64_t seq = 1; seq <= 700; ++seq) {
    batch.samples = Samples("svc-busy", seq, seq, kNow);
    Write(*store, batch);
    const int rows = std::stoi(db.Value("SELECT count(*) FROM telemetry_log"));
    if (seq < 600) {
      ASSERT_EQ(rows, static_cast<int>(seq) + 1) << seq;
    } else {
      ASSERT_LE(rows, 80) << seq;  // only what svc-busy's open block needs
    }
  }
  EXPECT_EQ(db.Rows("SELECT service_key, last_seq, sample_count FROM telemetry_blocks "
                    "WHERE service_key = 1"),
            std::vector<std::string>{"1|3|3"});
  ExpectSamples(*store, "svc-quiet", Samples("svc-quiet", 1, 3, kNow));
  ExpectSamples(*store, "svc-busy", Samples("svc-busy", 1, 700, kNow));
}

// A log row that does not decode stops the open with DW_STATUS_CORRUPT, naming the row, and
// leaves the file as it was; any damage is either refused or read without reading out of bounds.
TEST(SqliteStoreTest, DamagedLogRowsAreRefused) {
  TestDir dir;
  const std::string path = dir.File("log.db");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  batch.samples = Samples(kServiceA, 1, 20, kNow);
  const auto b = Samples(kServiceB, 1, 5, kNow);
  batch.samples.insert(batch.samples.end(), b.begin(), b.end());
  Write(*store, batch);
  const std::string pristine = CrashCopy(path, dir.File("pristine.db"));
  store.reset();
  // Closing SQLite's last connection to the copy moves its WAL into it: one file to copy.
  const std::string hex = RawDatabase(pristine).Value("SELECT hex(data) FROM telemetry_log");
  ASSERT_FALSE(hex.empty());
  {
    const std::string damaged = dir.File("damaged.db");
    std::filesystem::copy_file(pristine, damaged);
    RawDatabase(damaged).Exec("UPDATE telemetry_log SET data = x'01020304'");
    const std::string before = ReadFile(damaged);
    std::string error;
    EXPECT_EQ(OpenStore("sqlite", damaged, &error), nullptr);
    EXPECT_THAT(error, HasSubstr("telemetry_log row 1 is corrupt"));
    EXPECT_EQ(ReadFile(damaged), before);
  }
  uint32_t random = 12345;
  int refused = 0;
  int opened_count = 0;
  for (int attempt = 0; attempt < 60; ++attempt) {
    std::string bytes = hex;
    for (int flips = 0; flips < 1 + attempt % 4; ++flips) {
      random = random * 1103515245u + 12345u;
      const size_t at = (random >> 8) % bytes.size();
      bytes[at] = "0123456789ABCDEF"[(random >> 4) % 16];
    }
    if (attempt % 5 == 4) bytes.resize(bytes.size() - 2 * (1 + attempt % 7));
    const std::string damaged = dir.File("random-" + std::to_string(attempt) + ".db");
    std::filesystem::copy_file(pristine, damaged);
    RawDatabase(damaged).Exec("UPDATE telemetry_log SET data = x'" + bytes + "'");
    std::string error;
    auto opened = OpenStore("sqlite", damaged, &error);
    if (opened == nullptr) {
      EXPECT_THAT(error, HasSubstr("is corrupt")) << bytes;
      ++refused;
      continue;
    }
    ++opened_count;
    for (const char* id : {kServiceA, kServiceB}) {  // what decoded reads back in order
      const auto samples = ReadSamples(*opened, id);
      for (size_t i = 1; i < samples.size(); ++i) ASSERT_GT(samples[i].seq, samples[i - 1].seq);
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(opened_count, 0);  // damage to a measurement's bytes still decodes
}

// A model run: five services write in random runs with gaps, snapshots and retention steps of
// small budgets; one is quiet. At random points a crash copy (what a hard kill leaves) must read
// back exactly what the live store reads.
TEST(SqliteStoreTest, CrashAtAnyPointReadsBackWhatWasCommitted) {
  TestDir dir;
  const std::string path = dir.File("model.db");
  const char* ids[] = {"s0", "s1", "s2", "s3", "s4"};
  std::mt19937 rng(7);
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  std::vector<uint64_t> next(5, 1);
  int64_t now = kNow;
  int copies = 0;
  uint64_t purged = 0;
  for (int commit = 0; commit < 1500; ++commit) {
    WriteBatch batch;
    for (int s = 0; s < 5; ++s) {
      // s4 is quiet (one sample every 700 commits): its open block ages out
      const bool write = s == 4 ? commit % 700 == 0 : rng() % (s + 1) == 0;
      if (!write) continue;
      if (rng() % 20 == 0) next[s] += 1 + rng() % 5;  // gap
      const int n = 1 + rng() % 30;
      for (int i = 0; i < n; ++i) {
        batch.samples.push_back(
            Sample(ids[s], next[s]++, now + i, 1.0 + i, i % 2 ? kNoPayload : 2.0));
      }
      if (rng() % 3 == 0) batch.snapshots.push_back(Snapshot(ids[s], next[s] - 1, "x"));
    }
    now += 100;
    if (!batch.empty()) Write(*store, batch);
    if (rng() % 10 == 0) {
      uint64_t deleted = 0;
      ASSERT_TRUE(store->Purge(now - 20000, 0, 1 + rng() % 40, &deleted).ok());
      purged += deleted;
    }
    if (rng() % 100 == 0) {
      std::vector<std::vector<StoredSample>> live;
      for (const char* id : ids) live.push_back(ReadSamples(*store, id));
      const uint64_t live_count = ReadStats(*store).sample_count;
      const std::string copy =
          CrashCopy(path, dir.File("copy-" + std::to_string(copies++) + ".db"));
      auto reopened = OpenStore("sqlite", copy);
      ASSERT_NE(reopened, nullptr);
      size_t total = 0;
      for (int s = 0; s < 5; ++s) {
        const auto got = ReadSamples(*reopened, ids[s]);
        ASSERT_EQ(Seqs(got), Seqs(live[s])) << "commit " << commit << " service " << s;
        total += got.size();
      }
      EXPECT_EQ(ReadStats(*reopened).sample_count, live_count);
      EXPECT_EQ(total, live_count);
    }
  }
  EXPECT_GE(copies, 5);
  EXPECT_GT(purged, 0u);
}

// SQL that fails after some of a transaction's statements ran (made to by triggers): in a write
// after its blocks and log row, in retention, in the close. Nothing is lost or written twice.
TEST(SqliteStoreTest, SqlFailuresLeaveNothingHalfDone) {
  TestDir dir;
  const std::string path = dir.File("faults.db");
  std::vector<StoredSample> all;
  {
    auto store = OpenStore("sqlite", path);
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.samples = Samples(kServiceA, 1, 40, kNow);
    Write(*store, batch);
    RawDatabase db(path);
    db.Exec("CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'x'); END");
    batch.samples = Samples(kServiceA, 41, 140, kNow);  // writes out blocks, then the event fails
    batch.events = {Event(kServiceA, 140, kNow, "DRIFT", "r")};
    EXPECT_FALSE(store->Write(batch).ok());
    ExpectSamples(*store, kServiceA, Samples(kServiceA, 1, 40, kNow));
    db.Exec("DROP TRIGGER no_events");
    Write(*store, batch);
    ExpectSamples(*store, kServiceA, Samples(kServiceA, 1, 140, kNow));
    batch.events.clear();
    batch.samples = Samples(kServiceA, 141, 150, kNow);
    batch.snapshots = {Snapshot(kServiceA, 150, "a")};
    Write(*store, batch);
    db.Exec(
        "CREATE TRIGGER no_purge BEFORE DELETE ON telemetry_blocks BEGIN "
        "SELECT RAISE(ABORT, 'y'); END");
    uint64_t deleted = 0;
    EXPECT_FALSE(store->Purge(kNow + 1000, 0, 1000, &deleted).ok());
    ExpectSamples(*store, kServiceA, Samples(kServiceA, 1, 150, kNow));
    db.Exec("DROP TRIGGER no_purge");
    db.Exec(
        "CREATE TRIGGER no_blocks BEFORE INSERT ON telemetry_blocks BEGIN "
        "SELECT RAISE(ABORT, 'z'); END");
    store.reset();  // the close fails: the log keeps the open block
    EXPECT_NE(db.Value("SELECT count(*) FROM telemetry_log"), "0");
    db.Exec("DROP TRIGGER no_blocks");
  }
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  ExpectSamples(*store, kServiceA, Samples(kServiceA, 1, 150, kNow));
  EXPECT_EQ(ReadStats(*store).sample_count, 150u);
}

// A v3 file (no telemetry_log) opens as v4 and reads back what it held.
// A file of schema `version` (3 or later: blocks as today's, untagged), made from its frozen
// schema, holding the services and blocks the store of today writes for `samples`.
std::string OldFileWithBlocks(const TestDir& dir, int version,
                              const std::vector<StoredSample>& samples) {
  const std::string written = dir.File("written-v" + std::to_string(version) + ".db");
  {
    auto store = OpenStore("sqlite", written);
    EXPECT_NE(store, nullptr);
    WriteBatch batch;
    batch.samples = samples;
    Write(*store, batch);
  }  // a clean close: every sample in telemetry_blocks
  std::string path = dir.File("v" + std::to_string(version) + ".db");
  RawDatabase db(path);
  db.Exec(ReadFile(kOldSchemaDir + "/schema_v" + std::to_string(version) + ".sql"));
  db.Exec("ATTACH '" + written +
          "' AS written; "
          "INSERT INTO services SELECT service_key, service_id FROM written.services; "
          "INSERT INTO telemetry_blocks SELECT * FROM written.telemetry_blocks; "
          "DETACH written");
  return path;
}

TEST(SqliteStoreTest, MigratesASchemaV3File) {
  TestDir dir;
  const auto samples = Samples(kServiceA, 1, 150, kNow);
  const std::string path = OldFileWithBlocks(dir, 3, samples);
  const std::string v3 = dir.File("v3-schema.db");
  RawDatabase(v3).Exec(ReadFile(kOldSchemaDir + "/schema_v3.sql"));
  ASSERT_EQ(SchemaOf(path), SchemaOf(v3));  // the blocks a v3 store writes, in a v3 file
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  ExpectSamples(*store, kServiceA, samples);
  const std::string fresh = dir.File("fresh.db");
  ASSERT_NE(OpenStore("sqlite", fresh), nullptr);
  EXPECT_EQ(SchemaOf(path), SchemaOf(fresh));
  EXPECT_EQ(RawDatabase(path).Value("PRAGMA user_version"),
            std::to_string(SchemaPragma("user_version")));
}

// A v4 file (no notification outbox) opens as v5, reads back what it held, and takes notifications.
TEST(SqliteStoreTest, MigratesASchemaV4File) {
  TestDir dir;
  const auto samples = Samples(kServiceA, 1, 150, kNow);
  const std::string path = OldFileWithBlocks(dir, 4, samples);
  const std::string v4 = dir.File("v4-schema.db");
  RawDatabase(v4).Exec(ReadFile(kOldSchemaDir + "/schema_v4.sql"));
  ASSERT_EQ(SchemaOf(path), SchemaOf(v4));
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  ExpectSamples(*store, kServiceA, samples);
  const std::string fresh = dir.File("fresh.db");
  ASSERT_NE(OpenStore("sqlite", fresh), nullptr);
  EXPECT_EQ(SchemaOf(path), SchemaOf(fresh));
  EXPECT_EQ(RawDatabase(path).Value("PRAGMA user_version"),
            std::to_string(SchemaPragma("user_version")));
  WriteBatch batch;
  StoredNotification written;
  written.id = "a/150";
  written.target = "hook";
  written.service_id = kServiceA;
  written.body = "{}";
  batch.notifications.push_back(written);
  Write(*store, batch);
  std::vector<StoredNotification> rows;
  ASSERT_TRUE(
      store
          ->ScanNotifications({}, [&](StoredNotification&& row) { rows.push_back(std::move(row)); })
          .ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].id, "a/150");
}

// Whatever the host hands over comes back bit for bit: any NaN (the host's "no payload" is only
// one of them), infinities, -0.0, denormals, and timestamps at both ends of int64 and going back.
TEST(SqliteStoreTest, ExtremeValuesRoundTripBitForBit) {
  TestDir dir;
  const std::string path = dir.File("extreme.db");
  const uint64_t doubles[] = {0x7ff8000000000000, 0x7ff8000000000001, 0xfff8000000000000,
                              0x7ff0000000000001, 0x8000000000000000, 0x7ff0000000000000,
                              0xfff0000000000000, 0x0000000000000001, 0x3ff0000000000000};
  const int64_t timestamps[] = {0,         INT64_MAX, INT64_MIN, -1,        kNow, kNow - 1,
                                INT64_MAX, 1,         INT64_MIN, INT64_MAX, 0};
  std::vector<StoredSample> samples;
  for (uint64_t i = 0; i < 60; ++i) {
    samples.push_back(Sample(kServiceA, i + 1, timestamps[i % std::size(timestamps)],
                             std::bit_cast<double>(doubles[i % std::size(doubles)]),
                             std::bit_cast<double>(doubles[(i * 4 + 1) % std::size(doubles)])));
  }
  {
    auto store = OpenStore("sqlite", path);
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.samples.assign(samples.begin(), samples.begin() + 23);
    Write(*store, batch);
    batch.samples.assign(samples.begin() + 23, samples.end());
    Write(*store, batch);
    ExpectSamples(*store, kServiceA, samples);
  }
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  ExpectSamples(*store, kServiceA, samples);
  ExpectSamples(*store, kServiceA, samples, 30);
}

// A service's seqs must increase, within a batch and above what is stored (an older seq would not
// collide with the block that holds it): a batch that breaks this fails whole, with
// DW_STATUS_INVALID_ARGUMENT naming the service and the seq.
TEST(SqliteStoreTest, SeqsThatDoNotIncreaseFailTheBatch) {
  TestDir dir;
  PluginStore store(dir.File("seqs.db"));
  std::string message;
  ASSERT_EQ(store.Write(Samples(kServiceA, 1, 10, kNow), &message), DW_STATUS_OK) << message;
  const std::vector<std::vector<StoredSample>> bad = {
      {Sample(kServiceA, 11, kNow, 1.0), Sample(kServiceA, 11, kNow, 1.0)},  // twice
      {Sample(kServiceA, 12, kNow, 1.0), Sample(kServiceA, 11, kNow, 1.0)},  // backwards
      {Sample(kServiceB, 1, kNow, 1.0), Sample(kServiceA, 10, kNow, 1.0)},   // stored
      {Sample(kServiceA, 5, kNow, 1.0)},                                     // older than stored
      {Sample(kServiceB, 0, kNow, 1.0)},                                     // seqs start at 1
  };
  for (const auto& samples : bad) {
    const uint64_t seq = samples.back().seq;
    SCOPED_TRACE(seq);
    EXPECT_EQ(store.Write(samples, &message), DW_STATUS_INVALID_ARGUMENT);
    EXPECT_THAT(message, HasSubstr("sample " + std::to_string(seq) + " of '" +
                                   *samples.back().service_id + "'"));
  }
  size_t visited = 0;
  EXPECT_EQ(store.Scan(kServiceA, 0, &visited, &message), DW_STATUS_OK);
  EXPECT_EQ(visited, 10u);
  EXPECT_EQ(store.Scan(kServiceB, 0, &visited, &message), DW_STATUS_OK);
  EXPECT_EQ(visited, 0u);
  const std::vector<StoredSample> with_gap = {Sample(kServiceA, 12, kNow, 1.0),
                                              Sample(kServiceA, 15, kNow, 1.0)};
  EXPECT_EQ(store.Write(with_gap, &message), DW_STATUS_OK) << message;
  EXPECT_EQ(store.Scan(kServiceA, 11, &visited, &message), DW_STATUS_OK);
  EXPECT_EQ(visited, 2u);
}

// Retention deletes samples one by one even inside a block: a block it empties goes, one it
// empties in part is rewritten with the samples it keeps (same last seq, smaller count).
TEST(SqliteStoreTest, PurgeRewritesAPartlyExpiredBlock) {
  TestDir dir;
  const std::string path = dir.File("purge.db");
  const int64_t old_ms = kNow - 10 * kMsPerDay;
  const int64_t cutoff_ms = kNow - 7 * kMsPerDay;
  auto a = Samples(kServiceA, 1, 60, old_ms);
  const auto recent = Samples(kServiceA, 61, 100, kNow - kMsPerDay);
  a.insert(a.end(), recent.begin(), recent.end());
  const auto b = Samples(kServiceB, 1, 30, old_ms);
  const auto tail = [](const std::vector<StoredSample>& samples, uint64_t after) {
    std::vector<StoredSample> kept;
    for (const auto& sample : samples) {
      if (sample.seq > after) kept.push_back(sample);
    }
    return kept;
  };
  const auto purge = [&](Store& store, uint32_t max_rows) {
    uint64_t deleted = 0;
    const Status status = store.Purge(cutoff_ms, 0, max_rows, &deleted);
    EXPECT_TRUE(status.ok()) << status.message();
    return deleted;
  };
  {
    auto store = OpenStore("sqlite", path);
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.samples = a;
    batch.snapshots = {Snapshot(kServiceA, 100, "a")};
    Write(*store, batch);
    // 1..64 is a full block (960 bytes at most); 65..100, recent, waits in the open block.
    ASSERT_EQ(Blocks(path), (std::vector<std::string>{"1|64|64"}));

    EXPECT_EQ(purge(*store, 25), 25u);
    EXPECT_EQ(Blocks(path), (std::vector<std::string>{"1|64|39"}));
    ExpectSamples(*store, kServiceA, tail(a, 25));
    EXPECT_EQ(ReadStats(*store).sample_count, 75u);
    EXPECT_EQ(purge(*store, 25), 25u);
    EXPECT_EQ(Blocks(path), (std::vector<std::string>{"1|64|14"}));
    EXPECT_EQ(purge(*store, 25), 10u);  // 51..60; 61 is recent
    EXPECT_EQ(purge(*store, 25), 0u);
    EXPECT_EQ(Blocks(path), (std::vector<std::string>{"1|64|4"}));
    ExpectSamples(*store, kServiceA, tail(a, 60));
    ExpectSamples(*store, kServiceA, tail(a, 60), 70);

    for (uint64_t first = 1; first <= 21; first += 10) {  // three commits, one open block
      WriteBatch more;
      more.samples.assign(b.begin() + static_cast<long>(first - 1),
                          b.begin() + static_cast<long>(first + 9));
      if (first == 21) more.snapshots = {Snapshot(kServiceB, 25, "b")};
      Write(*store, more);
      if (first == 11) {  // expired, but no snapshot covers them yet: they stay open
        EXPECT_EQ(purge(*store, 100), 0u);
        EXPECT_EQ(Blocks(path), (std::vector<std::string>{"1|64|4"}));
      }
    }
    EXPECT_EQ(Blocks(path), (std::vector<std::string>{"1|64|4"}));
    // Expired samples in an open block: it is written out, then purged up to the snapshot.
    EXPECT_EQ(purge(*store, 100), 25u);
    EXPECT_EQ(Blocks(path), (std::vector<std::string>{"1|64|4", "2|30|5"}));
    ExpectSamples(*store, kServiceB, tail(b, 25));
    EXPECT_EQ(ReadStats(*store).sample_count, 45u);
  }
  EXPECT_EQ(Blocks(path), (std::vector<std::string>{"1|64|4", "1|100|36", "2|30|5"}));
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ReadStats(*store).sample_count, 45u);
  ExpectSamples(*store, kServiceA, tail(a, 60));
  ExpectSamples(*store, kServiceB, tail(b, 25));
  const auto services = ReadServices(*store);
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[0].max_seq, 100u);
  EXPECT_EQ(services[1].max_seq, 30u);
}

// A block that does not decode is reported as DW_STATUS_CORRUPT, naming the service and the
// block, by a scan and by retention; it is never read past its end, and the rest still reads.
TEST(SqliteStoreTest, CorruptBlockIsReportedNotRead) {
  TestDir dir;
  const std::string pristine = dir.File("pristine.db");
  {
    auto store = OpenStore("sqlite", pristine);
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.samples = Samples(kServiceA, 1, 50, kNow);
    Write(*store, batch);
    batch.samples = Samples(kServiceA, 52, 61, kNow);  // the gap ends the first block
    batch.snapshots = {Snapshot(kServiceA, 61, "a")};
    const auto b = Samples(kServiceB, 1, 5, kNow);
    batch.samples.insert(batch.samples.end(), b.begin(), b.end());
    Write(*store, batch);
  }
  const std::string block_50 = " WHERE service_key = 1 AND last_seq = 50";
  const std::vector<std::string> damages = {
      "UPDATE telemetry_blocks SET data = x'0102030405'" + block_50,
      "UPDATE telemetry_blocks SET data = 'not a block'" + block_50,
      "UPDATE telemetry_blocks SET data = x''" + block_50,
      "UPDATE telemetry_blocks SET data = substr(data, 1, length(data) - 3)" + block_50,
      "UPDATE telemetry_blocks SET data = substr(data, 1, 9)" + block_50,
      "UPDATE telemetry_blocks SET sample_count = 51" + block_50,
      "UPDATE telemetry_blocks SET sample_count = 49" + block_50,
      "UPDATE telemetry_blocks SET sample_count = 5000" + block_50,
      "UPDATE telemetry_blocks SET sample_count = 0" + block_50,
      "UPDATE telemetry_blocks SET sample_count = -3" + block_50,
      "UPDATE telemetry_blocks SET data = x'ffffffffffffffffffffff'" + block_50,
      "UPDATE telemetry_blocks SET last_seq = 20, sample_count = 50" + block_50,
  };
  for (size_t i = 0; i < damages.size(); ++i) {
    SCOPED_TRACE(damages[i]);
    const std::string path = dir.File("damaged-" + std::to_string(i) + ".db");
    std::filesystem::copy_file(pristine, path);
    RawDatabase(path).Exec(damages[i]);
    PluginStore store(path);
    std::string message;
    size_t visited = 0;
    EXPECT_EQ(store.Scan(kServiceA, 0, &visited, &message), DW_STATUS_CORRUPT);
    EXPECT_THAT(message, HasSubstr(std::string("'") + kServiceA + "'"));
    EXPECT_THAT(message, HasSubstr("corrupt"));
    EXPECT_EQ(visited, 0u);  // the damaged block is the first one, and a page is checked whole
    EXPECT_EQ(store.Scan(kServiceA, 50, &visited, &message), DW_STATUS_OK) << message;
    EXPECT_EQ(visited, 10u);  // the blocks after it
    EXPECT_EQ(store.Scan(kServiceB, 0, &visited, &message), DW_STATUS_OK) << message;
    EXPECT_EQ(visited, 5u);
    EXPECT_EQ(store.Purge(kNow + kMsPerDay, 100, &message), DW_STATUS_CORRUPT);
    EXPECT_THAT(message, HasSubstr("corrupt"));
  }
}

// Damaged blocks, byte by byte: any damage either still decodes or is reported as corrupt, and a
// decoder that read out of bounds would stop the ASan build.
TEST(SqliteStoreTest, DamagedBlockBytesNeverCrashAScan) {
  TestDir dir;
  const std::string path = dir.File("damaged.db");
  {
    auto store = OpenStore("sqlite", path);
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.samples = Samples(kServiceA, 1, 40, kNow);
    Write(*store, batch);
  }
  RawDatabase db(path);
  db.Exec("PRAGMA synchronous = OFF");
  const std::string pristine = db.Value("SELECT hex(data) FROM telemetry_blocks");
  ASSERT_FALSE(pristine.empty());
  std::vector<std::string> variants;  // as hex
  for (size_t bytes = 0; bytes < pristine.size() / 2; ++bytes) {
    variants.push_back(pristine.substr(0, bytes * 2));
  }
  uint32_t random = 12345;
  for (int n = 0; n < 200; ++n) {
    std::string damaged = pristine;
    for (int flips = 0; flips <= n % 3; ++flips) {
      random = random * 1103515245 + 12345;
      const size_t at = (random >> 8) % damaged.size();
      damaged[at] = "0123456789ABCDEF"[(random >> 4) % 16];
    }
    variants.push_back(damaged);
  }
  PluginStore store(path);
  for (const std::string& hex : variants) {
    db.Exec("UPDATE telemetry_blocks SET data = x'" + hex + "'");
    std::string message;
    size_t visited = 0;
    const dw_type_status status = store.Scan(kServiceA, 0, &visited, &message);
    ASSERT_TRUE(status == DW_STATUS_OK || status == DW_STATUS_CORRUPT) << hex << ": " << message;
    EXPECT_EQ(visited, status == DW_STATUS_OK ? 40u : 0u) << hex;
  }
}

// Sample tags (plugin.h, "Sample tags"; schema.sql): a service's samples, every `every`-th from
// `first` tagged as the next sample of `series`, whose seq goes on from *series_seq. Appends the
// series' own view of the tagged ones to *series_samples.
std::vector<StoredSample> Tagged(const std::string& service_id, uint64_t first, uint64_t last,
                                 int64_t start_ms, const ServiceId& series, uint64_t every,
                                 uint64_t* series_seq, std::vector<StoredSample>* series_samples) {
  auto samples = Samples(service_id, first, last, start_ms);
  for (StoredSample& sample : samples) {
    if ((sample.seq - first) % every != 0) continue;
    sample.tag_series = series;
    sample.tag_seq = ++*series_seq;
    StoredSample own = sample;
    own.service_id = series;
    own.seq = sample.tag_seq;
    own.tag_series = nullptr;
    own.tag_seq = 0;
    series_samples->push_back(own);
  }
  return samples;
}

StoredSnapshot SnapshotOf(const std::string& service_id, uint64_t last_seq) {
  return StoredSnapshot{service_id, last_seq, "state@" + std::to_string(last_seq)};
}

// A tagged sample is stored once and read as a sample of both series, from blocks, open blocks
// and telemetry_log alike, after a clean close and after a crash.
TEST(SqliteStoreTest, TaggedSamplesAreStoredOnceAndReadForBothSeries) {
  TestDir dir;
  const std::string path = dir.File("tags.db");
  const auto series = std::make_shared<const std::string>("svc#GET /x");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  std::vector<StoredSample> service_samples;
  std::vector<StoredSample> series_samples;
  uint64_t series_seq = 0;
  for (uint64_t commit = 0; commit < 5; ++commit) {  // 5 x 40: full blocks and an open one
    WriteBatch batch;
    batch.samples = Tagged("svc", commit * 40 + 1, commit * 40 + 40, kNow, series, 2, &series_seq,
                           &series_samples);
    service_samples.insert(service_samples.end(), batch.samples.begin(), batch.samples.end());
    Write(*store, batch);
  }
  ASSERT_EQ(series_seq, 100u);
  const auto check = [&](Store& opened) {
    ExpectSamples(opened, "svc", service_samples);
    for (const uint64_t after : {0, 1, 37, 99, 100}) {
      ExpectSamples(opened, *series, series_samples, after);
    }
    EXPECT_EQ(ReadStats(opened).sample_count, 200u);  // each sample once
    const auto services = ReadServices(opened);
    ASSERT_EQ(services.size(), 2u);
    EXPECT_EQ(services[0].service_id, "svc");
    EXPECT_EQ(services[0].max_seq, 200u);
    EXPECT_EQ(services[1].service_id, *series);
    EXPECT_EQ(services[1].max_seq, 100u);
  };
  check(*store);
  EXPECT_EQ(RawDatabase(path).Value("SELECT count(*) FROM telemetry_blocks WHERE service_key = "
                                    "(SELECT service_key FROM services WHERE service_id = '" +
                                    *series + "')"),
            "0");  // the series has no rows of its own
  const std::string crashed = CrashCopy(path, dir.File("crashed.db"));
  store.reset();
  auto reopened = OpenStore("sqlite", path);
  ASSERT_NE(reopened, nullptr);
  check(*reopened);
  auto recovered = OpenStore("sqlite", crashed);
  ASSERT_NE(recovered, nullptr);
  check(*recovered);
  // The series' seqs go on from where its tags ended, and only from there.
  WriteBatch stale;
  stale.samples = Samples("svc", 201, 201, kNow);
  stale.samples[0].tag_series = series;
  stale.samples[0].tag_seq = 100;
  const Status refused = recovered->Write(stale);
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr("does not follow seq 100"));
  ExpectSamples(*recovered, "svc", service_samples);  // nothing of the batch was stored
  WriteBatch next;
  next.samples = Tagged("svc", 201, 201, kNow, series, 1, &series_seq, &series_samples);
  service_samples.push_back(next.samples[0]);
  Write(*recovered, next);
  ExpectSamples(*recovered, *series, series_samples);
  ExpectSamples(*recovered, "svc", service_samples);
}

// A tagged series' snapshot records where its samples start among its service's, whether its tag
// is in the same write, was the newest one before, or neither; every scan after any seq finds the
// same samples, before and after a reopen.
TEST(SqliteStoreTest, ATaggedSeriesScansFromItsSnapshotsPlace) {
  TestDir dir;
  const std::string path = dir.File("positions.db");
  const auto series = std::make_shared<const std::string>("svc#POST /y");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  std::vector<StoredSample> series_samples;
  uint64_t series_seq = 0;
  RawDatabase db(path);
  const auto position = [&] {
    return db.Value("SELECT tag_position FROM services WHERE service_id = '" + *series + "'");
  };
  WriteBatch first;  // series seq 10 is service seq 28; its snapshot comes in the same write
  first.samples = Tagged("svc", 1, 90, kNow, series, 3, &series_seq, &series_samples);
  first.snapshots.push_back(SnapshotOf(*series, 10));
  Write(*store, first);
  EXPECT_EQ(position(), "28");
  WriteBatch second;  // the newest tag (seq 30, service seq 88) before this write
  second.snapshots.push_back(SnapshotOf(*series, 30));
  Write(*store, second);
  EXPECT_EQ(position(), "88");
  WriteBatch third;  // neither: seq 31 is in no write since; the place before it is kept
  third.samples = Tagged("svc", 91, 150, kNow, series, 3, &series_seq, &series_samples);
  Write(*store, third);
  WriteBatch fourth;
  fourth.snapshots.push_back(SnapshotOf(*series, 35));
  Write(*store, fourth);
  EXPECT_EQ(position(), "88");
  ASSERT_EQ(series_seq, 50u);
  const auto check = [&](Store& opened) {
    for (uint64_t after = 0; after <= 50; ++after) {
      ExpectSamples(opened, *series, series_samples, after);
    }
  };
  check(*store);
  store.reset();
  auto reopened = OpenStore("sqlite", path);
  ASSERT_NE(reopened, nullptr);
  check(*reopened);
  const auto services = ReadServices(*reopened);
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[1].snapshot_seq, 35u);
  EXPECT_EQ(services[1].max_seq, 50u);
}

// Retention deletes a tagged sample only once the snapshots of both its series reflect it; the
// series keeps its place (its highest seq) when its newest samples go.
TEST(SqliteStoreTest, RetentionWaitsForTheSnapshotsOfBothSeries) {
  TestDir dir;
  const std::string path = dir.File("retention.db");
  const auto series = std::make_shared<const std::string>("svc#GET /z");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  const int64_t old_ms = kNow - 10 * kMsPerDay;
  const int64_t cutoff_ms = kNow - 7 * kMsPerDay;
  std::vector<StoredSample> series_samples;
  uint64_t series_seq = 0;
  WriteBatch batch;  // 300 old samples, every 10th tagged (series seqs 1..30)
  batch.samples = Tagged("svc", 1, 300, old_ms, series, 10, &series_seq, &series_samples);
  const auto recent = Samples("svc", 301, 310, kNow);
  batch.samples.insert(batch.samples.end(), recent.begin(), recent.end());
  batch.snapshots.push_back(SnapshotOf("svc", 310));
  batch.snapshots.push_back(SnapshotOf(*series, 5));  // reflects service seqs up to 41
  Write(*store, batch);
  const auto purge = [&](Store& opened) {
    uint64_t total = 0;
    for (;;) {
      uint64_t deleted = 0;
      const Status status = opened.Purge(cutoff_ms, 0, 1000, &deleted);
      EXPECT_TRUE(status.ok()) << status.message();
      if (deleted == 0) return total;
      total += deleted;
    }
  };
  EXPECT_EQ(purge(*store), 50u);  // up to service seq 50, before the tag of series seq 6 (51)
  EXPECT_EQ(ReadSamples(*store, "svc").front().seq, 51u);
  ExpectSamples(*store, *series, series_samples, 5);
  EXPECT_EQ(Seqs(ReadSamples(*store, *series)), Range(6, 30));
  WriteBatch caught_up;
  caught_up.snapshots.push_back(SnapshotOf(*series, 30));
  Write(*store, caught_up);
  const uint64_t more = purge(*store);
  EXPECT_GE(more, 200u);  // every old sample but those the service's newest block keeps
  EXPECT_TRUE(ReadSamples(*store, *series).empty());
  store.reset();
  auto reopened = OpenStore("sqlite", path);
  ASSERT_NE(reopened, nullptr);
  const auto services = ReadServices(*reopened);
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[1].max_seq, 30u);  // its snapshot's, its newest samples gone
  WriteBatch next;
  next.samples = Tagged("svc", 311, 311, kNow, series, 1, &series_seq, &series_samples);
  Write(*reopened, next);
  EXPECT_EQ(Seqs(ReadSamples(*reopened, *series)), Range(31, 31));
}

// Forgetting a tagged series hides its tags for good: a later series of the same id starts at
// seq 1 with a key never used before, and sees none of them, also after a reopen.
TEST(SqliteStoreTest, AForgottenTaggedSeriesLeavesNoTags) {
  TestDir dir;
  const std::string path = dir.File("forget-tags.db");
  const auto series = std::make_shared<const std::string>("svc#GET /gone");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  std::vector<StoredSample> old_samples;
  uint64_t series_seq = 0;
  WriteBatch batch;
  batch.samples = Tagged("svc", 1, 100, kNow, series, 2, &series_seq, &old_samples);
  std::vector<StoredSample> service_samples = batch.samples;
  Write(*store, batch);
  RawDatabase db(path);
  const std::string old_key =
      db.Value("SELECT service_key FROM services WHERE service_id = '" + *series + "'");
  WriteBatch forget;
  forget.forgotten.push_back(*series);
  Write(*store, forget);
  EXPECT_TRUE(ReadSamples(*store, *series).empty());
  EXPECT_EQ(ReadServices(*store).size(), 1u);
  ExpectSamples(*store, "svc", service_samples);  // the samples stay, their service's
  std::vector<StoredSample> new_samples;
  series_seq = 0;
  WriteBatch again;
  again.samples = Tagged("svc", 101, 110, kNow, series, 1, &series_seq, &new_samples);
  Write(*store, again);
  EXPECT_NE(db.Value("SELECT service_key FROM services WHERE service_id = '" + *series + "'"),
            old_key);
  ExpectSamples(*store, *series, new_samples);
  store.reset();
  auto reopened = OpenStore("sqlite", path);
  ASSERT_NE(reopened, nullptr);
  ExpectSamples(*reopened, *series, new_samples);
  EXPECT_EQ(ReadServices(*reopened)[1].max_seq, 10u);
}

// Several series tagged in one service, write after write: each keeps its own samples (a write
// finds a series met before in its service's list, SqliteStore::StageTag), also once one of them
// is forgotten and a series of the same id starts again beside a new one, and after a reopen.
TEST(SqliteStoreTest, SeriesTaggedInOneServiceKeepTheirOwnSamples) {
  TestDir dir;
  const std::string path = dir.File("several-tags.db");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  std::map<std::string, ServiceId> series;
  std::map<std::string, uint64_t> seqs;
  std::map<std::string, std::vector<StoredSample>> expected;
  uint64_t service_seq = 0;
  // `count` samples of "svc", the i-th tagged with names[i % names.size()].
  const auto write = [&](const std::vector<std::string>& names, uint64_t count) {
    WriteBatch batch;
    batch.samples = Samples("svc", service_seq + 1, service_seq + count, kNow);
    service_seq += count;
    for (size_t i = 0; i < batch.samples.size(); ++i) {
      const std::string& name = names[i % names.size()];
      if (series[name] == nullptr) series[name] = std::make_shared<const std::string>(name);
      StoredSample& sample = batch.samples[i];
      sample.tag_series = series[name];
      sample.tag_seq = ++seqs[name];
      StoredSample own = sample;
      own.service_id = series[name];
      own.seq = sample.tag_seq;
      own.tag_series = nullptr;
      own.tag_seq = 0;
      expected[name].push_back(own);
    }
    Write(*store, batch);
  };
  for (int commit = 0; commit < 4; ++commit) write({"svc#/a", "svc#/b", "svc#/c"}, 30);
  WriteBatch forget;
  forget.forgotten.emplace_back("svc#/b");
  Write(*store, forget);
  series.erase("svc#/b");  // a new string: the series starts again
  seqs.erase("svc#/b");
  expected.erase("svc#/b");
  for (int commit = 0; commit < 3; ++commit) write({"svc#/c", "svc#/b", "svc#/d", "svc#/a"}, 20);
  for (const auto& [name, samples] : expected) ExpectSamples(*store, name, samples);
  store.reset();
  auto reopened = OpenStore("sqlite", path);
  ASSERT_NE(reopened, nullptr);
  for (const auto& [name, samples] : expected) ExpectSamples(*reopened, name, samples);
  EXPECT_EQ(expected["svc#/b"].size(), 15u);
}

// A batch whose tags break the rules is refused whole: a tag of the sample's own service, one
// series tagged in two services, a series seq that does not rise.
TEST(SqliteStoreTest, BadTagsFailTheBatch) {
  TestDir dir;
  const std::string path = dir.File("bad-tags.db");
  const auto series = std::make_shared<const std::string>("a#GET /x");
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  std::vector<StoredSample> series_samples;
  uint64_t series_seq = 0;
  WriteBatch good;
  good.samples = Tagged("a", 1, 10, kNow, series, 1, &series_seq, &series_samples);
  Write(*store, good);
  const auto refused = [&](const WriteBatch& batch, const std::string& why) {
    const Status status = store->Write(batch);
    EXPECT_FALSE(status.ok()) << why;
    EXPECT_THAT(status.message(), HasSubstr(why));
    EXPECT_EQ(Seqs(ReadSamples(*store, "a")), Range(1, 10));
    EXPECT_TRUE(ReadSamples(*store, "b").empty());
    ExpectSamples(*store, *series, series_samples);
  };
  WriteBatch own;
  own.samples = Samples("a", 11, 11, kNow);
  own.samples[0].tag_series = own.samples[0].service_id;
  own.samples[0].tag_seq = 1;
  refused(own, "tagged with its own service");
  WriteBatch elsewhere;
  elsewhere.samples = Samples("b", 1, 1, kNow);
  elsewhere.samples[0].tag_series = series;
  elsewhere.samples[0].tag_seq = 11;
  refused(elsewhere, "in another service's samples");
  WriteBatch backwards;
  backwards.samples = Samples("a", 11, 12, kNow);
  backwards.samples[0].tag_series = series;
  backwards.samples[0].tag_seq = 12;
  backwards.samples[1].tag_series = series;
  backwards.samples[1].tag_seq = 11;
  refused(backwards, "does not follow seq 12");
}

// A v5 file (before tags) whose endpoint series has rows of its own opens as v6, with the tables
// of a new file; the series' own rows come first, then its tags.
TEST(SqliteStoreTest, MigratesASchemaV5File) {
  TestDir dir;
  const std::string series = "svc#GET /old";
  std::vector<StoredSample> series_samples = Samples(series, 1, 20, kNow);
  std::vector<StoredSample> samples = Samples("svc", 1, 20, kNow);
  samples.insert(samples.end(), series_samples.begin(), series_samples.end());
  // a series' samples as rows of its own, as v5 kept them
  const std::string path = OldFileWithBlocks(dir, 5, samples);
  const std::string v5 = dir.File("v5-schema.db");
  RawDatabase(v5).Exec(ReadFile(kOldSchemaDir + "/schema_v5.sql"));
  ASSERT_EQ(SchemaOf(path), SchemaOf(v5));
  auto store = OpenStore("sqlite", path);
  ASSERT_NE(store, nullptr);
  const std::string fresh = dir.File("fresh.db");
  ASSERT_NE(OpenStore("sqlite", fresh), nullptr);
  EXPECT_EQ(SchemaOf(path), SchemaOf(fresh));
  EXPECT_EQ(RawDatabase(path).Value("PRAGMA user_version"),
            std::to_string(SchemaPragma("user_version")));
  ExpectSamples(*store, series, series_samples);
  const auto id = std::make_shared<const std::string>(series);
  uint64_t series_seq = 20;
  WriteBatch tagged;
  tagged.samples = Tagged("svc", 21, 40, kNow, id, 2, &series_seq, &series_samples);
  Write(*store, tagged);
  ExpectSamples(*store, series, series_samples);
  store.reset();
  auto reopened = OpenStore("sqlite", path);
  ASSERT_NE(reopened, nullptr);
  ExpectSamples(*reopened, series, series_samples);
  ExpectSamples(*reopened, series, series_samples, 15);
  ExpectSamples(*reopened, series, series_samples, 25);
}

}  // namespace
}  // namespace driftwatch::testing
