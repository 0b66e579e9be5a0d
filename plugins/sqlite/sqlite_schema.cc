#include "sqlite_schema.h"

#include <fcntl.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <system_error>

#include "sqlite_schema_sql.h"

namespace driftwatch::sqlite_plugin {
namespace {

using sdk::StorageError;

static_assert(kSchemaVersion == 1 + static_cast<int>(std::size(kMigrations)),
              "every schema version before the current one needs a migration");

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
          ExecScript(session, kMigrations[version - 1]);
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
