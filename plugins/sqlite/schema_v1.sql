-- DriftWatch SQLite schema, version 1 (historical). Kept so the v1 -> v2 migration can be tested
-- from a real v1 file; a new database is created with schema.sql. Never edit a released version:
-- add a migration instead.
--
-- v1 repeated the text service id in every row and indexed it beside the table's rowid.

CREATE TABLE telemetry (
  service_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  payload_kb REAL
);
CREATE UNIQUE INDEX telemetry_by_service ON telemetry (service_id, seq);

CREATE TABLE events (
  event_id INTEGER PRIMARY KEY,
  service_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  reason TEXT NOT NULL,
  metadata_json TEXT NOT NULL
);
CREATE INDEX events_by_service ON events (service_id, event_id);

CREATE TABLE snapshots (
  service_id TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  data BLOB
);

PRAGMA application_id = 1146569044;
PRAGMA user_version = 1;
