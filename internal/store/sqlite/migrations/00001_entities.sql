-- Entity tables for SQLite. Keep in step with ../../postgres/migrations/00001_entities.sql:
-- the same tables, columns and constraint/index names (sqlstore maps the names of unique
-- constraints to wire field names, and the SQLite Dialect maps SQLite's column lists back
-- to these names).
--
-- Types: ids are canonical lower-case UUID text; times are INTEGER Unix microseconds (UTC);
-- lists are JSON array text; booleans are INTEGER 0/1. Unique keys are named unique indexes
-- (SQLite ignores constraint names), and the composite (tenant_id, id) indexes are what the
-- membership foreign keys point at, so a membership can never cross tenants.

-- +goose Up
CREATE TABLE tenants (
    id           TEXT    NOT NULL PRIMARY KEY,
    slug         TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX tenants_slug_key ON tenants (slug);

CREATE TABLE users (
    tenant_id      TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             TEXT    NOT NULL PRIMARY KEY,
    username       TEXT    NOT NULL,
    email          TEXT    NOT NULL DEFAULT '',
    email_verified INTEGER NOT NULL DEFAULT 0,
    given_name     TEXT    NOT NULL DEFAULT '',
    family_name    TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL DEFAULT '',
    version        INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_tenant_id_id_key ON users (tenant_id, id);
CREATE UNIQUE INDEX users_username_key ON users (tenant_id, username);
CREATE UNIQUE INDEX users_email_key ON users (tenant_id, email) WHERE email <> '';

CREATE TABLE groups (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX groups_tenant_id_id_key ON groups (tenant_id, id);
CREATE UNIQUE INDEX groups_name_key ON groups (tenant_id, name);

CREATE TABLE group_members (
    tenant_id  TEXT    NOT NULL,
    group_id   TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, group_id, user_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX group_members_user_idx ON group_members (tenant_id, user_id, group_id);

CREATE TABLE applications (
    tenant_id                  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                         TEXT    NOT NULL PRIMARY KEY,
    client_id                  TEXT    NOT NULL,
    client_name                TEXT    NOT NULL,
    type                       TEXT    NOT NULL,
    secret_digest              BLOB,
    redirect_uris              TEXT    NOT NULL DEFAULT '[]',
    post_logout_redirect_uris  TEXT    NOT NULL DEFAULT '[]',
    grant_types                TEXT    NOT NULL DEFAULT '[]',
    response_types             TEXT    NOT NULL DEFAULT '[]',
    token_endpoint_auth_method TEXT    NOT NULL,
    version                    INTEGER NOT NULL,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX applications_tenant_id_id_key ON applications (tenant_id, id);
CREATE UNIQUE INDEX applications_client_id_key ON applications (tenant_id, client_id);

CREATE TABLE api_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    tenant_id  TEXT    REFERENCES tenants (id) ON DELETE CASCADE, -- NULL: a global token
    name       TEXT    NOT NULL,
    digest     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
) STRICT;
CREATE UNIQUE INDEX api_tokens_digest_key ON api_tokens (digest);
CREATE INDEX api_tokens_tenant_id_idx ON api_tokens (tenant_id);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE applications;
DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE users;
DROP TABLE tenants;
