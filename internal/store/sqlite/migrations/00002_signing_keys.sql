-- Signing keys and the fields of the OIDC provider, for SQLite. Keep in step with
-- ../../postgres/migrations/00002_signing_keys.sql (same tables, columns and names).
--
-- Expand only: new columns have defaults and new tables are new, so a binary of the
-- previous version keeps working against this schema.
--
-- signing_keys: one row per key; "sealed" is the private key sealed with the KEK
-- (AES-256-GCM, bound to tenant, kid and alg); public_jwk is JSON text. Per tenant and
-- algorithm there is at most one key in each state (next, current, previous).

-- +goose Up
CREATE TABLE signing_keys (
    tenant_id  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kid        TEXT    NOT NULL PRIMARY KEY,
    alg        TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    public_jwk TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX signing_keys_state_key ON signing_keys (tenant_id, alg, state);

ALTER TABLE tenants ADD COLUMN primary_color TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN lockout_threshold INTEGER NOT NULL DEFAULT 10;
ALTER TABLE tenants ADD COLUMN lockout_duration_seconds INTEGER NOT NULL DEFAULT 900;
ALTER TABLE tenants ADD COLUMN key_generation INTEGER NOT NULL DEFAULT 0;

ALTER TABLE applications ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256';
ALTER TABLE applications ADD COLUMN jwks TEXT;

ALTER TABLE users ADD COLUMN last_login_at INTEGER;

-- +goose Down
ALTER TABLE users DROP COLUMN last_login_at;
ALTER TABLE applications DROP COLUMN jwks;
ALTER TABLE applications DROP COLUMN id_token_signed_response_alg;
ALTER TABLE tenants DROP COLUMN key_generation;
ALTER TABLE tenants DROP COLUMN lockout_duration_seconds;
ALTER TABLE tenants DROP COLUMN lockout_threshold;
ALTER TABLE tenants DROP COLUMN primary_color;
DROP TABLE signing_keys;
