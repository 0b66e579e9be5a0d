-- DriftWatch SQLite schema, version 2 (historical). Kept so the v2 -> v3 migration can be tested
-- from a real v2 file; a new database is created with schema.sql. Never edit a released version:
-- add a migration instead.
--
-- v2 stored one telemetry row per sample.
--
-- Timestamps are Unix epoch milliseconds (UTC), as INTEGER; measurements are REAL.

-- Every service ever stored, with the small integer key the other tables use instead of its id.
CREATE TABLE services (
  service_key INTEGER PRIMARY KEY,
  service_id TEXT NOT NULL UNIQUE
);

-- Accepted samples: the log the engine replays after a service's snapshot. The primary key is the
-- table (WITHOUT ROWID), so there is no second copy of the key in an index. payload_kb is NULL
-- when the sample carried none.
CREATE TABLE telemetry (
  service_key INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  payload_kb REAL,
  PRIMARY KEY (service_key, seq)
) WITHOUT ROWID;

-- Drift events (state transitions) in the order they were made; metadata_json is a JSON object.
CREATE TABLE events (
  event_id INTEGER PRIMARY KEY,
  service_key INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  reason TEXT NOT NULL,
  metadata_json TEXT NOT NULL
);
-- One service's events, newest first (the index entries end in event_id, the rowid).
CREATE INDEX events_by_service ON events (service_key);

-- Each service's last snapshot: the host's serialised state as of sample last_seq (NULL: empty).
CREATE TABLE snapshots (
  service_key INTEGER PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  data BLOB
);

PRAGMA application_id = 1146569044;
PRAGMA user_version = 2;
