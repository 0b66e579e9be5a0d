#include "sqlite_statement.h"

#include <climits>

namespace driftwatch::sqlite_plugin {

sqlite_api::sqlite3* Connection(soci::session& session) {
  return static_cast<soci::sqlite3_session_backend*>(session.get_backend())->conn_;
}

Statement::Statement(soci::session& session, const char* sql) : db_(Connection(session)) {
  // PERSISTENT: prepared once and kept for the store's lifetime.
  Check(sqlite_api::sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement_,
                                       nullptr));
}

Statement::~Statement() { sqlite_api::sqlite3_finalize(statement_); }

Statement& Statement::Bind(int index, long long value) {
  Check(sqlite_api::sqlite3_bind_int64(statement_, index, value));
  return *this;
}

Statement& Statement::Bind(int index, const std::string& text) {
  if (text.size() > INT_MAX) throw soci::sqlite3_soci_error("text too long", SQLITE_TOOBIG);
  Check(sqlite_api::sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()),
                                      SQLITE_STATIC));
  return *this;
}

Statement& Statement::BindBlob(int index, const void* data, size_t size) {
  if (size > INT_MAX) throw soci::sqlite3_soci_error("BLOB too long", SQLITE_TOOBIG);
  Check(sqlite_api::sqlite3_bind_blob(statement_, index, data, static_cast<int>(size),
                                      SQLITE_STATIC));
  return *this;
}

void Statement::Execute() {
  const ResetOnExit reset(*this);
  while (Step()) {
  }
}

long long Statement::Int(int column) const {
  return sqlite_api::sqlite3_column_int64(statement_, column);
}

double Statement::Double(int column) const {
  return sqlite_api::sqlite3_column_double(statement_, column);
}

bool Statement::IsNull(int column) const {
  return sqlite_api::sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

const uint8_t* Statement::Blob(int column) const {
  return static_cast<const uint8_t*>(sqlite_api::sqlite3_column_blob(statement_, column));
}

std::string Statement::Text(int column) const {
  const auto* text = sqlite_api::sqlite3_column_text(statement_, column);  // before Bytes: UTF-8
  const size_t size = Bytes(column);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), size);
}

size_t Statement::Bytes(int column) const {
  return static_cast<size_t>(sqlite_api::sqlite3_column_bytes(statement_, column));
}

bool Statement::Step() {
  const int result = sqlite_api::sqlite3_step(statement_);
  if (result == SQLITE_ROW) return true;
  if (result == SQLITE_DONE) return false;
  Check(result);
  return false;
}

void Statement::Reset() {
  // The result of the last step was already checked; the bindings point at the caller's buffers.
  sqlite_api::sqlite3_reset(statement_);
  sqlite_api::sqlite3_clear_bindings(statement_);
}

void Statement::Check(int result) const {
  if (result == SQLITE_OK) return;
  // The extended code keeps SQLITE_CORRUPT etc. in its low byte, which Translate() maps.
  throw soci::sqlite3_soci_error(sqlite_api::sqlite3_errmsg(db_), result);
}

}  // namespace driftwatch::sqlite_plugin
