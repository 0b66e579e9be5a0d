-- Schema v4 -> v5: the notification outbox (see schema.sql). Runs in one transaction with the other
-- migrations; v4 files have no notifications, so the table starts empty.

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

PRAGMA user_version = 5;
