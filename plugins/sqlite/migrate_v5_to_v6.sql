-- Schema v5 -> v6: sample tags (see schema.sql). Runs in one transaction with the other
-- migrations. services is made again, with AUTOINCREMENT and every key kept: a key is then never
-- given again once its service is forgotten, so the tags a forgotten series left in its
-- service's blocks never become another series'. No v5 sample has a tag, so tagged_in and
-- tag_position start empty.

ALTER TABLE services RENAME TO services_v5;
CREATE TABLE services (
  service_key INTEGER PRIMARY KEY AUTOINCREMENT,
  service_id TEXT NOT NULL UNIQUE,
  tagged_in INTEGER,
  tag_position INTEGER
);
INSERT INTO services (service_key, service_id) SELECT service_key, service_id FROM services_v5;
DROP TABLE services_v5;

PRAGMA user_version = 6;
