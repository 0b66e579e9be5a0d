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
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "storage_test_support.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1767225600000;  // 2026-01-01T00:00:00Z
const std::string kSqliteSourceDir = DRIFTWATCH_SQLITE_SOURCE_DIR;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The value a PRAGMA at the end of plugins/sqlite/schema.sql sets (-1 if it has none).
int SchemaPragma(const std::string& name) {
  const std::string schema = ReadText(kSqliteSourceDir + "/schema.sql");
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

std::vector<uint64_t> Seqs(const std::vector<dw_type_stored_sample>& samples) {
  std::vector<uint64_t> seqs;
  for (const auto& sample : samples) seqs.push_back(sample.seq);
  return seqs;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> seqs;
  for (uint64_t seq = first; seq <= last; ++seq) seqs.push_back(seq);
  return seqs;
}

void Write(Store& store, const WriteBatch& batch) {
  const Status status = store.Write(batch);
  ASSERT_TRUE(status.ok()) << status.message();
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
  const dw_type_storage_stats stats = ReadStats(*store);
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
                     "'telemetry'"),
            "0");
  EXPECT_THAT(db.Value("SELECT sql FROM sqlite_master WHERE name = 'telemetry'"),
              HasSubstr("WITHOUT ROWID"));
}

TEST(SqliteStoreTest, MigratesASchemaV1File) {
  TestDir dir;
  const std::string path = dir.File("v1.db");
  {
    RawDatabase db(path);
    db.Exec(ReadText(kSqliteSourceDir + "/schema_v1.sql"));
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
  EXPECT_EQ(fresh_schema.size(), 6u);       // 4 tables, services' unique index, events_by_service
  EXPECT_EQ(SchemaOf(path), fresh_schema);  // the migration ends where a new file starts
  RawDatabase db(path);
  EXPECT_EQ(db.Value("PRAGMA user_version"), std::to_string(SchemaPragma("user_version")));
  EXPECT_EQ(db.Value("PRAGMA integrity_check"), "ok");
}

// Opening `path` fails with a message containing `reason` and leaves its bytes as they were.
void ExpectRefusedAndUntouched(const std::string& path, const std::string& reason) {
  const std::string before = FileBytes(path);
  ASSERT_FALSE(before.empty());
  std::string error;
  EXPECT_EQ(OpenStore("sqlite", path, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("sqlite: "));
  EXPECT_THAT(error, HasSubstr(path));
  EXPECT_THAT(error, HasSubstr(reason));
  EXPECT_EQ(FileBytes(path), before);
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
uint64_t FileBytesPer10kSamples(int services, bool with_payload) {
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
      if (batch.samples.size() == 500) {  // about one commit interval at 10k samples/s
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
  const uint64_t no_payload = FileBytesPer10kSamples(1, false);
  std::printf(
      "bytes per 10,000 samples: %llu (1 service), %llu (50 services interleaved), %llu "
      "(no payload)\n",
      static_cast<unsigned long long>(one_service), static_cast<unsigned long long>(many_services),
      static_cast<unsigned long long>(no_payload));
  RecordProperty("bytes_per_10k_samples", std::to_string(one_service));
  EXPECT_GT(one_service, 0u);
  EXPECT_LE(one_service, kTargetBytesPer10k);
  EXPECT_LE(many_services, kTargetBytesPer10k);
  EXPECT_LT(no_payload, one_service);
}

}  // namespace
}  // namespace driftwatch::testing
