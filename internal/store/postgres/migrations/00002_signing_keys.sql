-- Signing keys and the fields of the OIDC provider, for PostgreSQL. Keep in step with
-- ../../sqlite/migrations/00002_signing_keys.sql (same tables, columns and names).
--
-- Expand only: new columns have constant defaults (no table rewrite on PostgreSQL 11+)
-- and new tables are new, so a binary of the previous version keeps working.
--
-- signing_keys: one row per key; "sealed" is the private key sealed with the KEK
-- (AES-256-GCM, bound to tenant, kid and alg). Per tenant and algorithm there is at most
-- one key in each state (next, current, previous). public_jwk and applications.jwks are
-- json, not jsonb: json keeps the text as written, so what is read back is byte for byte
-- what was stored (jsonb would reorder members).

-- +goose Up
CREATE TABLE signing_keys (
    tenant_id  uuid        NOT NULL,
    kid        text        NOT NULL,
    alg        text        NOT NULL,
    state      text        NOT NULL,
    public_jwk json        NOT NULL,
    sealed     bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (kid),
    CONSTRAINT signing_keys_state_key UNIQUE (tenant_id, alg, state),
    CONSTRAINT signing_keys_tenant_id_fkey FOREIGN KEY (tenant_id)
        REFERENCES tenants (id) ON DELETE CASCADE
);

ALTER TABLE tenants ADD COLUMN primary_color text NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN lockout_threshold integer NOT NULL DEFAULT 10;
ALTER TABLE tenants ADD COLUMN lockout_duration_seconds integer NOT NULL DEFAULT 900;
ALTER TABLE tenants ADD COLUMN key_generation bigint NOT NULL DEFAULT 0;

ALTER TABLE applications ADD COLUMN id_token_signed_response_alg text NOT NULL DEFAULT 'RS256';
ALTER TABLE applications ADD COLUMN jwks json;

ALTER TABLE users ADD COLUMN last_login_at timestamptz;

-- +goose Down
ALTER TABLE users DROP COLUMN last_login_at;
ALTER TABLE applications DROP COLUMN jwks;
ALTER TABLE applications DROP COLUMN id_token_signed_response_alg;
ALTER TABLE tenants DROP COLUMN key_generation;
ALTER TABLE tenants DROP COLUMN lockout_duration_seconds;
ALTER TABLE tenants DROP COLUMN lockout_threshold;
ALTER TABLE tenants DROP COLUMN primary_color;
DROP TABLE signing_keys;
