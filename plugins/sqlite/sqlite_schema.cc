#include "sqlite_schema.h"

#include <fcntl.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include "sample_block.h"
#include "sqlite_schema_sql.h"
#include "sqlite_statement.h"

namespace driftwatch::sqlite_plugin {
namespace {

using sdk::StorageError;

constexpr int kBusyTimeoutSeconds = 5;  // wait this long for a lock another connection holds

// What identifies a database file as DriftWatch's, and which schema it has.
struct FileHeader {
  int application_id = 0;
  int schema_version = 0;
  int schema_objects = 0;  // tables, indexes, ... already in the file
};

FileHeader ReadHeader(soci::session& session) {
  FileHeader header;
  session << "PRAGMA application_id", soci::into(header.application_id);
  session << "PRAGMA user_version", soci::into(header.schema_version);
  session << "SELECT count(*) FROM sqlite_master", soci::into(header.schema_objects);
  return header;
}

// True for a new (empty) database; throws for one this build must not touch.
bool IsNewDatabase(const FileHeader& header, const std::string& path) {
  if (header.application_id == 0 && header.schema_objects == 0) return true;
  if (header.application_id != kApplicationId) {
    throw StorageError(DW_STATUS_CORRUPT,
                       "'" + path +
                           "' is an SQLite database of another application (application_id " +
                           std::to_string(header.application_id) +
                           "), not a DriftWatch database; refusing to touch it");
  }
  if (header.schema_version > kSchemaVersion) {
    throw StorageError(
        DW_STATUS_CORRUPT,
        "'" + path + "' has schema version " + std::to_string(header.schema_version) +
            ", newer than this DriftWatch understands (" + std::to_string(kSchemaVersion) +
            "); upgrade DriftWatch or use another file (this one is left untouched)");
  }
  if (header.schema_version < 1) {
    throw StorageError(DW_STATUS_CORRUPT,
                       "'" + path + "' is marked as DriftWatch's but has no schema version");
  }
  return false;
}

// SOCI's messages start with the backend function that failed; keep what SQLite said.
std::string SqliteMessage(const soci::soci_error& error) {
  std::string message = error.get_error_message();
  if (message.rfind("sqlite3_", 0) == 0) {
    const size_t colon = message.find(": ");
    if (colon != std::string::npos) message.erase(0, colon + 2);
  }
  return message;
}

int ResultCode(const soci::soci_error& error) {
  const auto* sqlite_error = dynamic_cast<const soci::sqlite3_soci_error*>(&error);
  return sqlite_error == nullptr ? 0 : (sqlite_error->result() & 0xff);
}

// Schema v2 -> v3, after migrate_v2_to_v3.sql: the v2 telemetry rows, read in (service_key, seq)
// order a page at a time, become blocks of contiguous seqs exactly as the store writes them.
void MoveSamplesIntoBlocks(soci::session& session, const std::string& path) {
  constexpr long long kRowsPerPage = 65536;
  constexpr long long kProgressEvery = 1000000;  // samples; a small file migrates silently
  const auto started = std::chrono::steady_clock::now();
  long long total = 0;
  session << "SELECT count(*) FROM telemetry", soci::into(total);
  if (total >= kProgressEvery) {
    std::fprintf(stderr, "sqlite: '%s': migrating %lld samples to schema v3 (sample blocks)...\n",
                 path.c_str(), total);
  }
  Statement page(session,
                 "SELECT service_key, seq, timestamp_ms, latency_ms, payload_kb FROM telemetry "
                 "WHERE (service_key, seq) > (?1, ?2) ORDER BY service_key, seq LIMIT ?3");
  Statement insert(session,
                   "INSERT INTO telemetry_blocks (service_key, last_seq, sample_count, data) "
                   "VALUES (?1, ?2, ?3, ?4)");
  BlockEncoder block;
  long long block_key = 0;
  long long block_last = 0;
  const auto flush = [&] {
    if (block.count() == 0) return;
    const std::vector<uint8_t>& data = block.Finish();
    insert.Bind(1, block_key).Bind(2, block_last).Bind(3, block.count());
    insert.BindBlob(4, data.data(), data.size()).Execute();
    block.Clear();
  };
  long long after_key = LLONG_MIN;
  long long after_seq = LLONG_MIN;
  long long moved = 0;
  for (long long rows = kRowsPerPage; rows == kRowsPerPage;) {
    rows = 0;
    page.Bind(1, after_key).Bind(2, after_seq).Bind(3, kRowsPerPage);
    page.ForEach([&] {
      const long long key = page.Int(0);
      const long long seq = page.Int(1);
      if (seq < 1) {
        throw StorageError(DW_STATUS_CORRUPT,
                           "'" + path + "': cannot migrate to schema v3: service key " +
                               std::to_string(key) + " has a sample with seq " +
                               std::to_string(seq) + " (seqs start at 1); the file is unchanged");
      }
      const bool continues =
          block.count() > 0 && key == block_key && seq == block_last + 1 && !block.full();
      if (!continues) flush();
      block_key = key;
      block_last = seq;
      block.Add(page.Int(2), page.Double(3),
                page.IsNull(4) ? std::numeric_limits<double>::quiet_NaN() : page.Double(4));
      after_key = key;
      after_seq = seq;
      ++rows;
      if (++moved % kProgressEvery == 0) {
        std::fprintf(stderr, "sqlite: '%s': %lld of %lld samples migrated\n", path.c_str(), moved,
                     total);
      }
      return true;
    });
  }
  flush();
  ExecScript(session, "DROP TABLE telemetry");
  if (total >= kProgressEvery) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "sqlite: '%s': %lld samples migrated in %.1f s\n", path.c_str(), moved,
                 seconds);
  }
}

// One step from schema version `from` to `from` + 1: a SQL script, then (if not null) C++ for what
// SQL cannot do, in the same transaction as every other step.
struct Migration {
  int from;
  const char* sql;
  void (*code)(soci::session& session, const std::string& path);
};

constexpr Migration kMigrations[] = {
    {1, kMigrationSql[0], nullptr}, {2, kMigrationSql[1], &MoveSamplesIntoBlocks},
    {3, kMigrationSql[2], nullptr}, {4, kMigrationSql[3], nullptr},
    {5, kMigrationSql[4], nullptr},
};

constexpr bool MigrationsChainUp() {
  for (size_t i = 0; i < std::size(kMigrations); ++i) {
    if (kMigrations[i].from != static_cast<int>(i) + 1) return false;
  }
  return true;
}
static_assert(std::size(kMigrations) == std::size(kMigrationSql),
              "every migrate_v*.sql needs its entry in kMigrations");
static_assert(kSchemaVersion == 1 + static_cast<int>(std::size(kMigrations)) && MigrationsChainUp(),
              "every schema version before the current one needs a migration, in order");

}  // namespace

std::string ConnectString(const std::string& path, bool read_only) {
  if (path.find('"') != std::string::npos) {
    throw StorageError(DW_STATUS_INVALID_ARGUMENT,
                       "path: '" + path + "' contains a double quote, which SOCI cannot pass on");
  }
  std::string connect = "db=\"" + path + "\" timeout=" + std::to_string(kBusyTimeoutSeconds);
  if (read_only) connect += " readonly=1";
  return connect;
}

void CheckExistingFile(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) return;  // created later, with the schema
  if (std::filesystem::is_directory(status)) {
    throw StorageError(DW_STATUS_IO_ERROR, "'" + path + "' is a directory, not a database file");
  }
  FileHeader header;
  try {
    soci::session probe(*soci::factory_sqlite3(), ConnectString(path, /*read_only=*/true));
    header = ReadHeader(probe);
  } catch (const soci::soci_error& e) {
    if (ResultCode(e) == SQLITE_NOTADB) {
      throw StorageError(DW_STATUS_CORRUPT,
                         "'" + path +
                             "' is not an SQLite database (nor a DriftWatch one); refusing to "
                             "touch it");
    }
    throw StorageError(DW_STATUS_IO_ERROR, "cannot read '" + path + "': " + SqliteMessage(e));
  }
  IsNewDatabase(header, path);
}

FileOwnership::FileOwnership(const std::string& path)
    : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
  if (fd_ < 0) {
    throw StorageError(DW_STATUS_IO_ERROR, "cannot open '" + path + "': " + std::strerror(errno));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    if (error == EWOULDBLOCK) {
      throw StorageError(DW_STATUS_IO_ERROR,
                         "'" + path +
                             "' is in use by another DriftWatch process; stop it first, or give "
                             "this one another database (--db)");
    }
    throw StorageError(DW_STATUS_IO_ERROR, "cannot lock '" + path + "': " + std::strerror(error));
  }
}

FileOwnership::~FileOwnership() { ::close(fd_); }  // releases the flock

void ExecScript(soci::session& session, const char* sql) {
  auto* backend = static_cast<soci::sqlite3_session_backend*>(session.get_backend());
  char* message = nullptr;
  const int result = sqlite_api::sqlite3_exec(backend->conn_, sql, nullptr, nullptr, &message);
  if (result != SQLITE_OK) {
    const std::string text = message != nullptr ? message : sqlite_api::sqlite3_errstr(result);
    sqlite_api::sqlite3_free(message);
    throw soci::sqlite3_soci_error(text, result);
  }
}

void PrepareSchema(soci::session& session, const std::string& path) {
  try {
    ExecScript(session, "BEGIN IMMEDIATE");
    try {
      const FileHeader header = ReadHeader(session);  // again: another process may have been first
      if (IsNewDatabase(header, path)) {
        ExecScript(session, kSchemaSql);
      } else {
        for (int version = header.schema_version; version < kSchemaVersion; ++version) {
          const Migration& migration = kMigrations[version - 1];
          ExecScript(session, migration.sql);
          if (migration.code != nullptr) migration.code(session, path);
        }
      }
      ExecScript(session, "COMMIT");
    } catch (...) {
      ExecScript(session, "ROLLBACK");
      throw;
    }
  } catch (const soci::soci_error& e) {
    throw Translate(e, "cannot prepare the schema of '" + path + "'");
  }
}

sdk::StorageError Translate(const soci::soci_error& error, const std::string& what) {
  dw_type_status status = DW_STATUS_IO_ERROR;
  switch (ResultCode(error)) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      status = DW_STATUS_CORRUPT;
      break;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      status = DW_STATUS_INVALID_ARGUMENT;
      break;
    default:
      break;
  }
  return StorageError(status, what + ": " + SqliteMessage(error));
}

}  // namespace driftwatch::sqlite_plugin
