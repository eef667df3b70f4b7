package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ninesid/nines/internal/store/sqlstore"
)

// SQLSTATE codes the Dialect and the read router act on
// (https://www.postgresql.org/docs/15/errcodes-appendix.html).
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// Dialect is the sqlstore.Dialect of PostgreSQL through pgx.
type Dialect struct{}

// Name is "postgres".
func (Dialect) Name() string { return "postgres" }

// UniqueViolation reports a unique_violation and the violated constraint or index.
func (Dialect) UniqueViolation(err error) (string, bool) {
	if pe := pgError(err); pe != nil && pe.Code == codeUniqueViolation {
		return pe.ConstraintName, true
	}
	return "", false
}

// ForeignKeyViolation reports a foreign_key_violation.
func (Dialect) ForeignKeyViolation(err error) bool {
	pe := pgError(err)
	return pe != nil && pe.Code == codeForeignKeyViolation
}

// Retryable reports a serialization failure or a deadlock: running the whole
// transaction again can succeed.
func (Dialect) Retryable(err error) bool {
	pe := pgError(err)
	return pe != nil && (pe.Code == codeSerializationFailure || pe.Code == codeDeadlockDetected)
}

// Unavailable reports the errors on which the read router fails over (classify): no
// connection, a lost one, a server shutting down or starting, 08xxx, too many
// connections. A deadline that ran out while connecting is unavailability; the caller's
// context ending on an established session, or cancelling the connect, is not.
func (Dialect) Unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return fault(err) == failover
}

// Time passes t as it is: pgx encodes time.Time as timestamptz.
func (Dialect) Time(t time.Time) any { return t }

// ScanTime accepts the time.Time pgx decodes a timestamptz into, as UTC.
func (Dialect) ScanTime(src any) (time.Time, error) {
	t, ok := src.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("postgres: time column holds %T, want time.Time", src)
	}
	return t.UTC(), nil
}

// pgError is the server error in err's chain, or nil.
func pgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

var _ sqlstore.Dialect = Dialect{}
