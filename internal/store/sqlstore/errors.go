package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/ninesid/nines/internal/store"
)

// uniqueFields maps the unique constraints and indexes of the migrations (the same names
// in both dialects) to the wire name of the field that collided.
var uniqueFields = map[string]string{
	"tenants_pkey":                  "id",
	"tenants_slug_key":              "slug",
	"users_pkey":                    "id",
	"users_tenant_id_id_key":        "id",
	"users_username_key":            "username",
	"users_email_key":               "email",
	"groups_pkey":                   "id",
	"groups_tenant_id_id_key":       "id",
	"groups_name_key":               "name",
	"group_members_pkey":            "user_id",
	"applications_pkey":             "id",
	"applications_tenant_id_id_key": "id",
	"applications_client_id_key":    "client_id",
	"api_tokens_pkey":               "id",
	"api_tokens_digest_key":         "digest",
	"signing_keys_pkey":             "kid",
	"signing_keys_state_key":        "state",
	"applied_commands_pkey":         "id",
	"events_pkey":                   "id",
}

// UniqueConstraints returns the names of every unique constraint and index the
// migrations must create, so that a backend can test that its Dialect reports each of
// them by the same name.
func UniqueConstraints() []string {
	names := make([]string, 0, len(uniqueFields))
	for n := range uniqueFields {
		names = append(names, n)
	}
	return names
}

// writeErr turns an error of a statement that writes into the store's vocabulary: unique
// violations become store.AlreadyExists, foreign-key violations store.ErrNotFound (the
// tenant, group or user referred to is not there), anything else is wrapped with op.
// Driver errors never carry the values of the row, so no secret reaches the text.
func (s *Store) writeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if c, ok := s.d.UniqueViolation(err); ok {
		if f, ok := uniqueFields[c]; ok {
			return store.AlreadyExists(f)
		}
	}
	if s.d.ForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return s.opErr(op, err)
}

// opErr wraps err with op, and with store.ErrUnavailable when the Dialect says the
// database could not serve (the admin tier answers that with 503, anything else 500).
func (s *Store) opErr(op string, err error) error {
	if s.d.Unavailable(err) && !errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("sqlstore: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// readErr maps sql.ErrNoRows to store.ErrNotFound, an error the Dialect calls
// unavailability to store.ErrUnavailable, and wraps anything else with op.
func (s *Store) readErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case errors.Is(err, store.ErrNotFound):
		return err
	}
	return s.opErr(op, err)
}

// affectedOne reports store.ErrNotFound when a DELETE matched no row.
func affectedOne(op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
