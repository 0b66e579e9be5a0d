-- Schema v2 -> v3: telemetry as blocks of samples, one row per service and commit instead of one
-- per sample (see schema.sql for the block format). Runs in one transaction with the other
-- migrations. The blocks are encoded in C++: after this script, MoveSamplesIntoBlocks
-- (sqlite_schema.cc) reads the v2 telemetry table in (service_key, seq) order, writes its samples
-- into telemetry_blocks, and drops it. The new table is written exactly as in schema.sql.

CREATE TABLE telemetry_blocks (
  service_key INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  sample_count INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (service_key, last_seq)
) WITHOUT ROWID;

PRAGMA user_version = 3;
