-- Applied commands and events, for PostgreSQL. Keep in step with
-- ../../sqlite/migrations/00003_commands_events.sql (same tables, columns and names).
--
-- Expand only: two new tables, so a binary of the previous version keeps working.
--
-- applied_commands: the idempotency record of the worker. A command's row is inserted in
-- the same transaction as its effect, so a command redelivered by the broker (JetStream
-- delivers at least once) finds its row and changes nothing. No foreign key to tenants:
-- the record must outlive nothing and block nothing; it is pruned by applied_at.
--
-- events: audit and sign-in events, pruned by time (events_at_idx serves the bounded
-- DELETE of PruneEvents). Production may partition this table by month on "at" instead
-- (the primary key would then have to include "at"); a bounded delete is enough until
-- the volume asks for it. data is json, not jsonb, so it reads back as written.

-- +goose Up
CREATE TABLE applied_commands (
    id         text        NOT NULL,
    type       text        NOT NULL,
    tenant_id  uuid        NOT NULL,
    applied_at timestamptz NOT NULL,
    CONSTRAINT applied_commands_pkey PRIMARY KEY (id)
);
CREATE INDEX applied_commands_applied_at_idx ON applied_commands (applied_at);

CREATE TABLE events (
    tenant_id uuid        NOT NULL,
    id        uuid        NOT NULL,
    type      text        NOT NULL,
    user_id   uuid,
    at        timestamptz NOT NULL,
    data      json        NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT events_tenant_id_fkey FOREIGN KEY (tenant_id)
        REFERENCES tenants (id) ON DELETE CASCADE
);
CREATE INDEX events_tenant_at_idx ON events (tenant_id, at, id);
CREATE INDEX events_tenant_type_idx ON events (tenant_id, type, at);
CREATE INDEX events_tenant_user_idx ON events (tenant_id, user_id, at);
CREATE INDEX events_at_idx ON events (at);

-- +goose Down
DROP TABLE events;
DROP TABLE applied_commands;
