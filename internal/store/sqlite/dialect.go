package sqlite

import (
	"errors"
	"fmt"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ninesid/nines/internal/store/sqlstore"
)

// Dialect is the sqlstore.Dialect of SQLite (modernc.org/sqlite).
type Dialect struct{}

// uniqueIndexes maps what SQLite reports for a unique violation — the constrained columns
// as "table.col, table.col", not the index name — to the index or constraint name of the
// migrations. TestUniqueIndexesMatchSchema checks it against the migrated schema.
var uniqueIndexes = map[string]string{
	"tenants.id":                      "tenants_pkey",
	"tenants.slug":                    "tenants_slug_key",
	"users.id":                        "users_pkey",
	"users.tenant_id, users.id":       "users_tenant_id_id_key",
	"users.tenant_id, users.username": "users_username_key",
	"users.tenant_id, users.email":    "users_email_key",
	"groups.id":                       "groups_pkey",
	"groups.tenant_id, groups.id":     "groups_tenant_id_id_key",
	"groups.tenant_id, groups.name":   "groups_name_key",
	"group_members.tenant_id, group_members.group_id, group_members.user_id": "group_members_pkey",
	"applications.id":                                "applications_pkey",
	"applications.tenant_id, applications.id":        "applications_tenant_id_id_key",
	"applications.tenant_id, applications.client_id": "applications_client_id_key",
	"api_tokens.id":                                  "api_tokens_pkey",
	"api_tokens.digest":                              "api_tokens_digest_key",
	"signing_keys.kid":                               "signing_keys_pkey",
	"signing_keys.tenant_id, signing_keys.alg, signing_keys.state": "signing_keys_state_key",
	"applied_commands.id":         "applied_commands_pkey",
	"events.tenant_id, events.id": "events_pkey",
}

const uniquePrefix = "UNIQUE constraint failed: "

// Name is "sqlite".
func (Dialect) Name() string { return "sqlite" }

// UniqueViolation reports a SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY error and the name of
// the violated index, read from the column list in SQLite's message.
func (Dialect) UniqueViolation(err error) (string, bool) {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return "", false
	}
	if c := e.Code(); c != sqlite3.SQLITE_CONSTRAINT_UNIQUE && c != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return "", false
	}
	msg := e.Error()
	i := strings.Index(msg, uniquePrefix)
	if i < 0 {
		return "", true
	}
	cols := msg[i+len(uniquePrefix):]
	if j := strings.Index(cols, " ("); j >= 0 {
		cols = cols[:j]
	}
	return uniqueIndexes[strings.TrimSpace(cols)], true
}

// ForeignKeyViolation reports a SQLITE_CONSTRAINT_FOREIGNKEY error.
func (Dialect) ForeignKeyViolation(err error) bool {
	var e *msqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// Retryable reports SQLITE_BUSY and SQLITE_LOCKED with their extended codes: another
// connection (another process, since this one has a single writer) held the lock past
// busy_timeout.
func (Dialect) Retryable(err error) bool {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// Unavailable reports SQLITE_CANTOPEN and SQLITE_IOERR (the file or its directory is
// gone, unreadable or on a failing disk) and SQLITE_BUSY, with their extended codes. A
// busy database reaches a caller only after busy_timeout and the Store's retries, so
// it is as unavailable as a dead server.
func (Dialect) Unavailable(err error) bool {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY:
		return true
	}
	return false
}

// Time stores t as INTEGER Unix microseconds.
func (Dialect) Time(t time.Time) any { return t.UnixMicro() }

// ScanTime reads an INTEGER Unix-microsecond time as UTC.
func (Dialect) ScanTime(src any) (time.Time, error) {
	v, ok := src.(int64)
	if !ok {
		return time.Time{}, fmt.Errorf("sqlite: time column holds %T, want int64", src)
	}
	return time.UnixMicro(v).UTC(), nil
}

var _ sqlstore.Dialect = Dialect{}
