// raw_sqlite: the reference for batch ingest, and the disk meter.
//
//   raw_sqlite insert --db PATH --samples N --services S
//     Inserts the rows the batch benchmark sends to DriftWatch (bench_rows.h) straight into SQLite:
//     one row per sample (the layout of the service's schema 2; schema 3 stores blocks of samples),
//     the service's PRAGMAs (plugins/sqlite), one prepared INSERT, 1000 rows per transaction.
//     Prints {"rows":..., "seconds":..., "rows_per_second":...}.
//   raw_sqlite disk --db PATH
//     Prints the file's size, the samples it stores (telemetry_rows: the rows of this program's
//     telemetry table, or the samples in DriftWatch's telemetry_blocks) and the bytes each table
//     and index takes (SQLite's dbstat), as JSON.
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bench/bench_rows.h"

namespace {

constexpr int kRowsPerTransaction = 1000;
constexpr int64_t kOneHourMs = 3600 * 1000;

// Exits with SQLite's message: this is a benchmark, not a service.
void Check(sqlite3* db, int code, const char* what) {
  if (code == SQLITE_OK || code == SQLITE_DONE || code == SQLITE_ROW) return;
  std::fprintf(stderr, "raw_sqlite: %s: %s\n", what, sqlite3_errmsg(db));
  std::exit(1);
}

void Exec(sqlite3* db, const char* sql) {
  Check(db, sqlite3_exec(db, sql, nullptr, nullptr, nullptr), sql);
}

int64_t FileSize(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? static_cast<int64_t>(info.st_size) : 0;
}

int Insert(const std::string& path, uint64_t samples, uint32_t services) {
  sqlite3* db = nullptr;
  Check(db, sqlite3_open(path.c_str(), &db), "open");
  // As plugins/sqlite opens its store, with a row per sample as its schema 2 stored them.
  Exec(db, "PRAGMA journal_mode = WAL");
  Exec(db, "PRAGMA synchronous = NORMAL");
  Exec(db, "PRAGMA cache_size = -32768");
  Exec(db,
       "CREATE TABLE services (service_key INTEGER PRIMARY KEY, service_id TEXT NOT NULL UNIQUE);"
       "CREATE TABLE telemetry (service_key INTEGER NOT NULL, seq INTEGER NOT NULL,"
       " timestamp_ms INTEGER NOT NULL, latency_ms REAL NOT NULL, payload_kb REAL,"
       " PRIMARY KEY (service_key, seq)) WITHOUT ROWID;");

  const auto start = std::chrono::steady_clock::now();
  sqlite3_stmt* insert_service = nullptr;
  Check(db,
        sqlite3_prepare_v2(db, "INSERT INTO services (service_key, service_id) VALUES (?, ?)", -1,
                           &insert_service, nullptr),
        "prepare");
  Exec(db, "BEGIN");
  for (uint32_t i = 0; i < services; ++i) {
    const std::string name = driftwatch::bench::ServiceName(i);
    sqlite3_bind_int64(insert_service, 1, i + 1);
    sqlite3_bind_text(insert_service, 2, name.c_str(), static_cast<int>(name.size()),
                      SQLITE_TRANSIENT);
    Check(db, sqlite3_step(insert_service), "insert service");
    sqlite3_reset(insert_service);
  }
  Exec(db, "COMMIT");
  sqlite3_finalize(insert_service);

  sqlite3_stmt* insert = nullptr;
  Check(db,
        sqlite3_prepare_v2(db,
                           "INSERT INTO telemetry (service_key, seq, timestamp_ms, latency_ms, "
                           "payload_kb) VALUES (?, ?, ?, ?, ?)",
                           -1, &insert, nullptr),
        "prepare");
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  driftwatch::bench::RowGenerator rows(services, now_ms - kOneHourMs);
  for (uint64_t done = 0; done < samples;) {
    Exec(db, "BEGIN");
    for (int i = 0; i < kRowsPerTransaction && done < samples; ++i, ++done) {
      const driftwatch::bench::BenchRow row = rows.Next();
      sqlite3_bind_int64(insert, 1, row.service + 1);
      sqlite3_bind_int64(insert, 2, static_cast<sqlite3_int64>(row.seq));
      sqlite3_bind_int64(insert, 3, row.timestamp_ms);
      sqlite3_bind_double(insert, 4, row.latency_ms);
      sqlite3_bind_double(insert, 5, row.payload_kb);
      Check(db, sqlite3_step(insert), "insert");
      sqlite3_reset(insert);
    }
    Exec(db, "COMMIT");
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sqlite3_finalize(insert);
  sqlite3_close(db);
  std::printf("{\"rows\":%llu,\"seconds\":%.6f,\"rows_per_second\":%.1f}\n",
              static_cast<unsigned long long>(samples), seconds,
              static_cast<double>(samples) / seconds);
  return 0;
}

int Disk(const std::string& path) {
  const int64_t file_bytes = FileSize(path) + FileSize(path + "-wal");
  sqlite3* db = nullptr;
  Check(db, sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), "open");
  // DriftWatch's schema 3 stores blocks of samples; this program's reference table, a row each.
  sqlite3_stmt* count = nullptr;
  Check(db,
        sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = "
                           "'telemetry_blocks'",
                           -1, &count, nullptr),
        "schema");
  Check(db, sqlite3_step(count), "schema");
  const bool blocks = sqlite3_column_int64(count, 0) > 0;
  sqlite3_finalize(count);
  const char* count_sql = blocks ? "SELECT COALESCE(SUM(sample_count), 0) FROM telemetry_blocks"
                                 : "SELECT COUNT(*) FROM telemetry";
  Check(db, sqlite3_prepare_v2(db, count_sql, -1, &count, nullptr), "count");
  Check(db, sqlite3_step(count), "count");
  const int64_t rows = sqlite3_column_int64(count, 0);
  sqlite3_finalize(count);

  std::printf("{\"file_bytes\":%lld,\"telemetry_rows\":%lld,\"objects\":{",
              static_cast<long long>(file_bytes), static_cast<long long>(rows));
  sqlite3_stmt* objects = nullptr;
  Check(db,
        sqlite3_prepare_v2(db,
                           "SELECT name, SUM(pgsize), SUM(payload) FROM dbstat GROUP BY name "
                           "ORDER BY name",
                           -1, &objects, nullptr),
        "dbstat (SQLite built without SQLITE_ENABLE_DBSTAT_VTAB?)");
  bool first = true;
  while (sqlite3_step(objects) == SQLITE_ROW) {
    std::printf("%s\"%s\":{\"bytes\":%lld,\"payload\":%lld}", first ? "" : ",",
                reinterpret_cast<const char*>(sqlite3_column_text(objects, 0)),
                static_cast<long long>(sqlite3_column_int64(objects, 1)),
                static_cast<long long>(sqlite3_column_int64(objects, 2)));
    first = false;
  }
  sqlite3_finalize(objects);
  sqlite3_close(db);
  std::printf("}}\n");
  return 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: raw_sqlite insert --db PATH --samples N --services S\n"
               "       raw_sqlite disk --db PATH\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string_view command = argv[1];
  std::string db;
  uint64_t samples = 0;
  uint32_t services = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--db") {
      db = argv[i + 1];
    } else if (flag == "--samples") {
      samples = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--services") {
      services = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    } else {
      return Usage();
    }
  }
  if (db.empty() || argc % 2 != 0) return Usage();
  if (command == "insert" && samples > 0 && services > 0) return Insert(db, samples, services);
  if (command == "disk") return Disk(db);
  return Usage();
}
