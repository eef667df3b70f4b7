-- Applied commands and events, for SQLite. Keep in step with
-- ../../postgres/migrations/00003_commands_events.sql (same tables, columns and names).
--
-- Expand only: two new tables, so a binary of the previous version keeps working.
--
-- applied_commands: the worker's idempotency record, inserted in the same transaction as
-- the command's effect. events: audit and sign-in events, pruned by time (events_at_idx).

-- +goose Up
CREATE TABLE applied_commands (
    id         TEXT    NOT NULL PRIMARY KEY,
    type       TEXT    NOT NULL,
    tenant_id  TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT;
CREATE INDEX applied_commands_applied_at_idx ON applied_commands (applied_at);

CREATE TABLE events (
    tenant_id TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id        TEXT    NOT NULL,
    type      TEXT    NOT NULL,
    user_id   TEXT,
    at        INTEGER NOT NULL,
    data      TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX events_tenant_at_idx ON events (tenant_id, at, id);
CREATE INDEX events_tenant_type_idx ON events (tenant_id, type, at);
CREATE INDEX events_tenant_user_idx ON events (tenant_id, user_id, at);
CREATE INDEX events_at_idx ON events (at);

-- +goose Down
DROP TABLE events;
DROP TABLE applied_commands;
