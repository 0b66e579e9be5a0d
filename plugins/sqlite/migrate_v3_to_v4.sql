-- Schema v3 -> v4: committed samples wait in telemetry_log until their service's block is full
-- (see schema.sql). Runs in one transaction with the other migrations; v3 files have no such
-- samples, so the table starts empty.

CREATE TABLE telemetry_log (
  log_id INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);

PRAGMA user_version = 4;
