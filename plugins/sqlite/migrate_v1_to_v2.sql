-- Schema v1 -> v2: an integer service key instead of the text id in every row, and telemetry
-- keyed by (service_key, seq) without a rowid (about half the bytes per sample). Runs in one
-- transaction with the other migrations; the new tables are written exactly as in schema.sql.

ALTER TABLE telemetry RENAME TO telemetry_v1;
ALTER TABLE events RENAME TO events_v1;
ALTER TABLE snapshots RENAME TO snapshots_v1;

CREATE TABLE services (
  service_key INTEGER PRIMARY KEY,
  service_id TEXT NOT NULL UNIQUE
);
INSERT INTO services (service_id)
  SELECT service_id FROM telemetry_v1
  UNION SELECT service_id FROM events_v1
  UNION SELECT service_id FROM snapshots_v1
  ORDER BY 1;

CREATE TABLE telemetry (
  service_key INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  payload_kb REAL,
  PRIMARY KEY (service_key, seq)
) WITHOUT ROWID;
INSERT INTO telemetry (service_key, seq, timestamp_ms, latency_ms, payload_kb)
  SELECT s.service_key, t.seq, t.timestamp_ms, t.latency_ms, t.payload_kb
  FROM telemetry_v1 AS t JOIN services AS s ON s.service_id = t.service_id;

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
INSERT INTO events (event_id, service_key, seq, timestamp_ms, from_state, to_state, reason,
                    metadata_json)
  SELECT e.event_id, s.service_key, e.seq, e.timestamp_ms, e.from_state, e.to_state, e.reason,
         e.metadata_json
  FROM events_v1 AS e JOIN services AS s ON s.service_id = e.service_id;

CREATE TABLE snapshots (
  service_key INTEGER PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  data BLOB
);
INSERT INTO snapshots (service_key, last_seq, data)
  SELECT s.service_key, p.last_seq, p.data
  FROM snapshots_v1 AS p JOIN services AS s ON s.service_id = p.service_id;

DROP TABLE telemetry_v1;
DROP TABLE events_v1;
DROP TABLE snapshots_v1;
CREATE INDEX events_by_service ON events (service_key);

PRAGMA user_version = 2;
