-- DriftWatch SQLite schema, version 6 (the current one).
--
-- A new database gets this script in one transaction; an older one is brought here by the
-- migrations (migrate_v1_to_v2.sql, migrate_v2_to_v3.sql with its C++ step, migrate_v3_to_v4.sql,
-- migrate_v4_to_v5.sql, migrate_v5_to_v6.sql), which end in exactly the same tables. The plugin reads application_id and user_version from the two PRAGMAs
-- at the end (at build time): a file with another application_id is refused, and so is one with a
-- newer user_version.
--
-- Timestamps are Unix epoch milliseconds (UTC), as INTEGER; measurements are REAL.

-- Every service ever stored, with the small integer key the other tables use instead of its id.
-- A key is never given again once its service is forgotten (AUTOINCREMENT): the tags a forgotten
-- series left in its service's blocks must not become another series'.
-- A series whose samples are tags in another service's blocks (telemetry_blocks) has that
-- service's key in tagged_in, and in tag_position the seq of that service from which a scan finds
-- every sample of the series after its snapshot (NULL: from the first).
CREATE TABLE services (
  service_key INTEGER PRIMARY KEY AUTOINCREMENT,
  service_id TEXT NOT NULL UNIQUE,
  tagged_in INTEGER,
  tag_position INTEGER
);

-- Accepted samples: the log the engine replays after a service's snapshot. One row is a block of
-- one service's samples with contiguous seqs, last_seq - sample_count + 1 .. last_seq. A block is
-- filled across commits (in telemetry_log meanwhile) and written once full: its data within 960
-- bytes, about 50 samples (a longer record would spill into overflow pages), or earlier when its
-- seqs stop being contiguous, when it has waited for 600 commits, when retention or a clean close
-- needs it. A service's blocks hold its oldest samples, telemetry_log the rest. The primary key is
-- the table (WITHOUT ROWID): a scan from any seq is one seek.
--
-- data, the samples in seq order, each as
--   the timestamp: zigzag varint of (timestamp_ms - the previous sample's timestamp_ms), the first
--     relative to 0 (zigzag: n >= 0 -> 2n, n < 0 -> -2n - 1, in wrapping 64-bit arithmetic;
--     varint: 7 bits a byte, low bits first, high bit set on every byte but the last, at most 10
--     bytes);
--   latency_ms: the 8 bytes of the IEEE 754 double, little-endian;
--   payload_kb: the same 8 bytes, only when the sample's bit in the bitmap below is set;
-- then, only when at least one sample has a tag (it also belongs to a second series, the host's
-- endpoint series: the tag is that series' service_key and the sample's seq in it), the tag
-- section: for each sample in order, a varint (as above, not zigzagged) of its tag's service_key,
-- 0 for none, and, only after a key other than 0, a varint of its tag's seq (1 or more). A block
-- without tags has no section, so it is written as before tags existed;
-- then a bitmap of ceil(sample_count / 8) bytes, bit i (byte i / 8, bit i % 8, low bit first) set
-- when sample i carries payload bytes; unused high bits are 0. A clear bit means no payload (the
-- host's quiet NaN); any other value, another NaN included, is stored as its 8 bytes, so every
-- sample reads back bit for bit. A block that does not decode to exactly sample_count samples,
-- then nothing or a tag section of exactly sample_count entries with at least one tag, is
-- reported as corrupt.
CREATE TABLE telemetry_blocks (
  service_key INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  sample_count INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (service_key, last_seq)
) WITHOUT ROWID;

-- Samples committed but not yet in telemetry_blocks, in commit order: one row per commit that had
-- samples, so that a commit writes a few pages at the end of this table instead of one page per
-- service. The store keeps each service's unfinished block in memory and rebuilds it from here
-- when it opens the file after a crash (a clean close leaves this table empty). A row is deleted
-- once every sample in it is in telemetry_blocks; a sample here whose seq is not above its
-- service's highest last_seq in telemetry_blocks is already there (retention always keeps a
-- service's newest block).
--
-- data: entries, each a service_key, last_seq, sample_count and byte length (varints as above),
-- then that many bytes: a block of that service's samples in the telemetry_blocks.data format,
-- its tag section included when one of them has a tag.
CREATE TABLE telemetry_log (
  log_id INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);

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

-- The notification outbox: one row per transition and target, written in the same transaction as
-- its event, in the order made (outbox_id); state 1 pending, 2 delivered, 3 failed
-- (docs/behaviour.md, "Notifications").
CREATE TABLE notifications (
  outbox_id INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  target TEXT NOT NULL,
  service_key INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  UNIQUE (id, target)
);
CREATE INDEX notifications_by_service ON notifications (service_key);
CREATE INDEX notifications_by_state ON notifications (state, outbox_id);

PRAGMA application_id = 1146569044;
PRAGMA user_version = 6;
