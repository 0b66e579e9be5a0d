// A prepared statement on a SOCI session's SQLite connection, through SQLite's own API. Used for
// the sample blocks: it binds and reads BLOBs in place, where SOCI 4.0 would copy each one into a
// soci::blob first. It runs inside whatever transaction the session has open.
#pragma once

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace driftwatch::sqlite_plugin {

class Statement {
 public:
  // Prepares `sql` (constant SQL of this plugin) once. Throws soci::sqlite3_soci_error.
  Statement(soci::session& session, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are numbered from 1. Text and BLOBs are not copied: they must stay valid until the
  // statement has run (Execute or ForEach), which unbinds them.
  Statement& Bind(int index, long long value);
  Statement& Bind(int index, const std::string& text);
  Statement& BindBlob(int index, const void* data, size_t size);

  // Runs a statement that returns no rows. Throws soci::sqlite3_soci_error.
  void Execute();

  // Calls row() for each result row while it returns true. Always resets the statement afterwards,
  // also when row() throws, so no read transaction stays open. Throws soci::sqlite3_soci_error.
  template <typename Row>
  void ForEach(Row&& row) {
    const ResetOnExit reset(*this);
    while (Step() && row()) {
    }
  }

  // The current row's columns, numbered from 0; a BLOB's bytes are valid until the next step.
  long long Int(int column) const;
  double Double(int column) const;
  bool IsNull(int column) const;
  const uint8_t* Blob(int column) const;  // nullptr for NULL and for an empty BLOB
  size_t Bytes(int column) const;
  std::string Text(int column) const;  // "" for NULL

 private:
  class ResetOnExit {
   public:
    explicit ResetOnExit(Statement& statement) : statement_(statement) {}
    ~ResetOnExit() { statement_.Reset(); }
    ResetOnExit(const ResetOnExit&) = delete;
    ResetOnExit& operator=(const ResetOnExit&) = delete;

   private:
    Statement& statement_;
  };

  bool Step();   // true: a row is ready
  void Reset();  // ends the execution and unbinds every parameter
  void Check(int result) const;

  sqlite_api::sqlite3* db_;
  sqlite_api::sqlite3_stmt* statement_ = nullptr;
};

// The SQLite connection under a SOCI session.
sqlite_api::sqlite3* Connection(soci::session& session);

}  // namespace driftwatch::sqlite_plugin
