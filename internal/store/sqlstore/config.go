package sqlstore

import (
	"context"
	"database/sql"
	"time"
)

// Config configures a Store.
type Config struct {
	Dialect Dialect
	// Primary is the read-write database.
	Primary *sql.DB
	// Replicas serves Reader calls. Nil: Reader calls run on Primary (embedded default).
	Replicas ReadRouter
	// Now is the clock; nil means time.Now. Stored times are truncated to microseconds.
	Now func() time.Time
}

// ReadRouter runs a read-only query function on one of several databases. It picks a
// healthy database, and when fn fails with an error the router classifies as a
// connection fault (not a domain error such as store.ErrNotFound), it marks that database
// unhealthy and runs fn again on another, so a replica that dies mid-loop costs no failed
// read. It returns store.ErrUnavailable when no database could serve fn.
type ReadRouter interface {
	Read(ctx context.Context, fn func(ctx context.Context, db *sql.DB) error) error
}

// Dialect is what differs between SQLite and PostgreSQL.
type Dialect interface {
	// Name is "sqlite" or "postgres".
	Name() string
	// UniqueViolation reports whether err is a unique-constraint violation, and if so
	// the name of the constraint or index (as named in the migrations).
	UniqueViolation(err error) (constraint string, ok bool)
	// ForeignKeyViolation reports whether err is a foreign-key violation.
	ForeignKeyViolation(err error) bool
	// Retryable reports whether a transaction failed for a reason that a retry of the
	// whole transaction can fix (serialization failure, deadlock, SQLITE_BUSY).
	Retryable(err error) bool
	// Unavailable reports whether err says the database cannot serve at all (it refused
	// or lost the connection, is shutting down or starting, cannot open its file), as
	// opposed to an answer to the statement. The Store reports such errors as
	// store.ErrUnavailable, which the admin tier answers with 503. The caller's own
	// context ending mid-statement is not unavailability.
	Unavailable(err error) bool
	// Time converts a time for a query argument; ScanTime reads one back.
	Time(t time.Time) any
	ScanTime(src any) (time.Time, error)
}
