-- Just-in-time provisioning, for PostgreSQL. Keep in step with
-- ../../sqlite/migrations/00004_user_import_token_scope.sql (same columns and names).
--
-- Expand only: both columns have constant defaults (no table rewrite on PostgreSQL 11+),
-- so a binary of the previous version keeps working against this schema.
--
-- tenants.user_import_url: the tenant's legacy password-check endpoint ('' = none).
-- api_tokens.scope: 'admin' (everything the token's tenant reach allows) or 'provision'
-- (create and read users only); every existing token keeps full rights.

-- +goose Up
ALTER TABLE tenants ADD COLUMN user_import_url text NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN scope text NOT NULL DEFAULT 'admin';

-- +goose Down
ALTER TABLE api_tokens DROP COLUMN scope;
ALTER TABLE tenants DROP COLUMN user_import_url;
