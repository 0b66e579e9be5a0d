#include "store_statements.h"

#include <driftwatch/plugin.hpp>

#include <string>
#include <vector>

namespace driftwatch::sqlite_plugin {

using sdk::StorageError;
using soci::into;
using soci::use;

namespace {
// A block holds the seqs from last_seq - sample_count + 1 to last_seq.
constexpr const char* kBlocksFromSql =
    "SELECT last_seq, sample_count, data FROM telemetry_blocks "
    "WHERE service_key = ?1 AND last_seq >= ?2 ORDER BY last_seq";
}  // namespace

WriteStatements::WriteStatements(soci::session& session)
    : snapshot_data(session),
      insert_service((session.prepare << "INSERT INTO services (service_id, tagged_in) "
                                         "VALUES (:id, :tagged_in)",
                      use(service_id), use(service_tagged_in, service_tagged_in_flag))),
      insert_event((session.prepare << "INSERT INTO events (service_key, seq, timestamp_ms, "
                                       "from_state, to_state, reason, metadata_json) VALUES "
                                       "(:key, :seq, :ts, :from, :to, :reason, :metadata)",
                    use(event_key), use(event_seq), use(event_timestamp), use(event_from),
                    use(event_to), use(event_reason), use(event_metadata))),
      upsert_snapshot((session.prepare << "INSERT INTO snapshots (service_key, last_seq, data) "
                                          "VALUES (:key, :seq, :data) ON CONFLICT (service_key) "
                                          "DO UPDATE SET last_seq = excluded.last_seq, "
                                          "data = excluded.data",
                       use(snapshot_key), use(snapshot_seq), use(snapshot_data, snapshot_flag))),
      oldest_events((session.prepare << "SELECT event_id, timestamp_ms FROM events "
                                        "ORDER BY event_id LIMIT :limit",
                     into(row_id), into(row_timestamp), use(purge_limit))),
      delete_events(
          (session.prepare << "DELETE FROM events WHERE event_id <= :last", use(purge_last))),
      snapshot_keys((session.prepare << "SELECT service_key, last_seq FROM snapshots "
                                        "WHERE service_key > :after AND service_key <= :upto "
                                        "ORDER BY service_key LIMIT :limit",
                     into(row_id), into(row_seq), use(purge_after), use(purge_upto),
                     use(purge_limit))),
      insert_block(session,
                   "INSERT INTO telemetry_blocks (service_key, last_seq, sample_count, data) "
                   "VALUES (?1, ?2, ?3, ?4)"),
      oldest_blocks(session,
                    "SELECT last_seq, sample_count, data FROM telemetry_blocks "
                    "WHERE service_key = ?1 ORDER BY last_seq"),
      delete_blocks(session,
                    "DELETE FROM telemetry_blocks WHERE service_key = ?1 AND last_seq <= ?2"),
      rewrite_block(session,
                    "UPDATE telemetry_blocks SET sample_count = ?3, data = ?4 "
                    "WHERE service_key = ?1 AND last_seq = ?2"),
      newest_block(session, "SELECT max(last_seq) FROM telemetry_blocks WHERE service_key = ?1"),
      blocks_from(session, kBlocksFromSql),
      set_tagged_in(session, "UPDATE services SET tagged_in = ?1 WHERE service_key = ?2"),
      set_tag_position(session, "UPDATE services SET tag_position = ?1 WHERE service_key = ?2"),
      insert_log(session, "INSERT INTO telemetry_log (log_id, data) VALUES (?1, ?2)"),
      delete_log(session, "DELETE FROM telemetry_log WHERE log_id < ?1"),
      log_rows(session, "SELECT log_id, data FROM telemetry_log ORDER BY log_id"),
      insert_notification(
          session,
          "INSERT INTO notifications (id, target, service_key, body, created_ms, "
          "state, attempts, updated_ms, last_error) VALUES "
          "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id, target) DO NOTHING"),
      update_notification(session,
                          "UPDATE notifications SET state = ?3, attempts = ?4, updated_ms = ?5, "
                          "last_error = ?6 WHERE id = ?1 AND target = ?2") {}

namespace {
// The outbox's rows after (or before) an outbox_id, with the filters of on_scan_notifications.
constexpr const char* kNotificationColumns =
    "SELECT n.outbox_id, n.id, n.target, s.service_id, n.body, n.created_ms, n.state, "
    "n.attempts, n.updated_ms, n.last_error FROM notifications AS n "
    "JOIN services AS s ON s.service_key = n.service_key ";
constexpr const char* kNotificationFilter =
    " AND (?2 = '' OR n.target = ?2) "
    "AND (?3 = 0 OR n.state = ?3) ";
const std::string kForwardSql = std::string(kNotificationColumns) + "WHERE n.outbox_id > ?1" +
                                kNotificationFilter + "ORDER BY n.outbox_id LIMIT ?4";
const std::string kBackwardSql = std::string(kNotificationColumns) + "WHERE n.outbox_id < ?1" +
                                 kNotificationFilter + "ORDER BY n.outbox_id DESC LIMIT ?4";
}  // namespace

ReadStatements::ReadStatements(soci::session& session)
    : snapshot_data(session),
      services_page((session.prepare
                         << "SELECT s.service_key, s.service_id, p.last_seq, p.data, "
                            "(SELECT MAX(t.last_seq) FROM telemetry_blocks AS t "
                            "WHERE t.service_key = s.service_key) "
                            "FROM services AS s "
                            "LEFT JOIN snapshots AS p ON p.service_key = s.service_key "
                            "WHERE s.service_key > :after ORDER BY s.service_key LIMIT :limit",
                     into(row_key), into(row_service_id), into(row_last_seq, row_last_seq_flag),
                     into(snapshot_data, snapshot_flag), into(row_max_seq, row_max_seq_flag),
                     use(after_key), use(limit))),
      events_page((session.prepare << "SELECT event_id, seq, timestamp_ms, from_state, to_state, "
                                      "reason, metadata_json FROM events WHERE service_key = "
                                      "(SELECT service_key FROM services WHERE service_id = :id)"
                                      " AND event_id < :before ORDER BY event_id DESC "
                                      "LIMIT :limit",
                   into(row_key), into(row_seq), into(row_timestamp), into(row_from), into(row_to),
                   into(row_reason), into(row_metadata), use(service_id), use(before_id),
                   use(limit))),
      page_count((session.prepare << "PRAGMA page_count", into(row_seq))),
      page_size((session.prepare << "PRAGMA page_size", into(row_key))),
      sample_blocks(session,
                    "SELECT last_seq, sample_count, data FROM telemetry_blocks WHERE "
                    "service_key = (SELECT service_key FROM services WHERE service_id = ?1) "
                    "AND last_seq > ?2 ORDER BY last_seq"),
      blocks_from(session, kBlocksFromSql),
      notifications_forward(session, kForwardSql.c_str()),
      notifications_backward(session, kBackwardSql.c_str()) {}

void DecodeRow(const Statement& statement, const char* service_id, long long service_key,
               std::vector<BlockSample>* out) {
  const long long last_seq = statement.Int(0);
  const char* problem =
      DecodeBlock(statement.Blob(2), statement.Bytes(2), last_seq, statement.Int(1), out);
  if (problem != nullptr) {
    // std::string("'") + ...: GCC 12 at -O3 takes "'" + std::string(...) for an overlapping copy
    // (-Wrestrict, a false positive).
    const std::string service = service_id != nullptr
                                    ? std::string("'") + service_id + "'"
                                    : "service key " + std::to_string(service_key);
    throw StorageError(DW_STATUS_CORRUPT, "the sample block of " + service + " ending at seq " +
                                              std::to_string(last_seq) + " is corrupt: " + problem);
  }
}

}  // namespace driftwatch::sqlite_plugin
