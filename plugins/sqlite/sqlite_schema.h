// Opening a DriftWatch SQLite file safely: refuse what is not ours, or is newer, before writing a
// single byte; then create the schema in a new file, or migrate an older one, in one transaction.
#pragma once

#include <soci/soci.h>
#include <driftwatch/plugin.hpp>

#include <string>

namespace driftwatch::sqlite_plugin {

// The SOCI connection string for `path`. Throws StorageError for a path SOCI cannot quote.
std::string ConnectString(const std::string& path, bool read_only);

// Returns when `path` does not exist yet, is empty, or is a DriftWatch database this build can
// open (schema version <= kSchemaVersion); otherwise throws StorageError with a message that says
// why. Opens the file read-only, so a refused file is left byte-for-byte as it was.
void CheckExistingFile(const std::string& path);

// Holds an exclusive flock(2) on the database file for as long as it lives, so a second
// DriftWatch (or a second store in this process) cannot open the same file and interleave its own
// sequence numbers with ours. Creates the file when it does not exist (SQLite takes an empty file
// as a new database). flock locks are separate from the POSIX locks SQLite takes on the same file,
// but closing any descriptor of the file drops SQLite's POSIX locks: destroy this only after every
// SQLite connection to the file is closed. Throws StorageError when the file is locked already.
class FileOwnership {
 public:
  explicit FileOwnership(const std::string& path);
  ~FileOwnership();
  FileOwnership(const FileOwnership&) = delete;
  FileOwnership& operator=(const FileOwnership&) = delete;

 private:
  int fd_ = -1;
};

// Creates the current schema in a new database, or applies the migrations an older one needs, in
// one transaction (nothing changes if it fails). Throws StorageError.
void PrepareSchema(soci::session& session, const std::string& path);

// Runs a script of several statements (constant SQL from this plugin, never user input).
void ExecScript(soci::session& session, const char* sql);

// A SOCI/SQLite failure as a StorageError: DW_STATUS_CORRUPT for data SQLite cannot read,
// DW_STATUS_INVALID_ARGUMENT for a constraint a write broke, DW_STATUS_IO_ERROR otherwise (disk
// full, locked, read-only, I/O).
sdk::StorageError Translate(const soci::soci_error& error, const std::string& what);

}  // namespace driftwatch::sqlite_plugin
