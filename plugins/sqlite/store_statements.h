// The store's prepared statements, one set per session, and what runs them: ForEachRow for a SOCI
// query, Transaction around a write, DecodeRow for a telemetry_blocks row. Every statement is
// prepared once and bound to parameters; only the constant schema scripts and PRAGMAs are run as
// text.
#pragma once

#include <soci/soci.h>

#include <string>
#include <vector>

#include "sample_block.h"
#include "sqlite_statement.h"

namespace driftwatch::sqlite_plugin {

// Runs a prepared query and calls `row` after each row is fetched. Always reads to the end (the
// queries are LIMITed), so the statement keeps no read transaction open afterwards.
template <typename Row>
void ForEachRow(soci::statement& statement, Row&& row) {
  if (!statement.execute(true)) return;
  do {
    row();
  } while (statement.fetch());
}

// Rolls back unless committed, so a failed write leaves nothing behind.
class Transaction {
 public:
  explicit Transaction(soci::session& session) : session_(session) { session_.begin(); }
  ~Transaction() {
    if (committed_) return;
    try {
      session_.rollback();
    } catch (const soci::soci_error&) {  // SQLite may have rolled back already (e.g. disk full)
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void Commit() {
    session_.commit();
    committed_ = true;
  }

 private:
  soci::session& session_;
  bool committed_ = false;
};

// The write session's statements, prepared once. Each SOCI statement is bound to the members
// declared above it, which are set before every execution; the telemetry_blocks statements
// (SQLite's own API, see sqlite_statement.h) are bound at each execution.
struct WriteStatements {
  explicit WriteStatements(soci::session& session);

  std::string service_id;
  long long service_tagged_in = 0;
  soci::indicator service_tagged_in_flag = soci::i_null;
  long long event_key = 0;
  long long event_seq = 0;
  long long event_timestamp = 0;
  std::string event_from;
  std::string event_to;
  std::string event_reason;
  std::string event_metadata;
  long long snapshot_key = 0;
  long long snapshot_seq = 0;
  soci::blob snapshot_data;
  soci::indicator snapshot_flag = soci::i_ok;
  long long purge_limit = 0;
  long long purge_last = 0;
  long long purge_after = 0;
  long long purge_upto = 0;
  long long row_id = 0;
  long long row_seq = 0;
  long long row_timestamp = 0;

  soci::statement insert_service;
  soci::statement insert_event;
  soci::statement upsert_snapshot;
  soci::statement oldest_events;
  soci::statement delete_events;
  soci::statement snapshot_keys;
  Statement insert_block;
  Statement oldest_blocks;
  Statement delete_blocks;
  Statement rewrite_block;
  Statement newest_block;
  Statement blocks_from;    // (service key, from seq): its blocks that hold that seq or later ones
  Statement set_tagged_in;  // (service key, series key)
  Statement set_tag_position;  // (position, series key)
  Statement insert_log;
  Statement delete_log;
  Statement log_rows;
  Statement insert_notification;
  Statement update_notification;
};

// The read session's statements, prepared once (bound like WriteStatements).
struct ReadStatements {
  explicit ReadStatements(soci::session& session);

  std::string service_id;
  long long after_key = 0;
  long long before_id = 0;
  long long limit = 0;
  long long row_key = 0;
  std::string row_service_id;
  long long row_last_seq = 0;
  soci::indicator row_last_seq_flag = soci::i_ok;
  soci::blob snapshot_data;
  soci::indicator snapshot_flag = soci::i_ok;
  long long row_max_seq = 0;
  soci::indicator row_max_seq_flag = soci::i_ok;
  long long row_seq = 0;
  long long row_timestamp = 0;
  std::string row_from;
  std::string row_to;
  std::string row_reason;
  std::string row_metadata;

  soci::statement services_page;
  soci::statement events_page;
  soci::statement page_count;
  soci::statement page_size;
  Statement sample_blocks;
  Statement blocks_from;             // as WriteStatements::blocks_from
  Statement notifications_forward;   // (after outbox_id, target or "", state or 0, limit)
  Statement notifications_backward;  // (before outbox_id, target or "", state or 0, limit)
  std::vector<BlockSample> decoded;  // one block, reused
};

// Decodes one block row (last_seq, sample_count, data) of `statement` into *out. Names the service
// by its id, or by its key when service_id is null. Throws StorageError (DW_STATUS_CORRUPT).
void DecodeRow(const Statement& statement, const char* service_id, long long service_key,
               std::vector<BlockSample>* out);

}  // namespace driftwatch::sqlite_plugin
