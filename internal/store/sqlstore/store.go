package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
)

// Store is the primary's view of the entity store: every read and write. Reads are
// read-after-write consistent because they run on Primary.
type Store struct {
	d    Dialect
	db   *sql.DB
	rr   ReadRouter
	now  func() time.Time
	read *Reader
}

// New returns a Store over cfg. cfg.Dialect and cfg.Primary are required; a Store
// without them is a programming error, reported by New's panic at wiring time rather
// than by a nil dereference in the first request.
func New(cfg Config) *Store {
	if cfg.Dialect == nil || cfg.Primary == nil {
		panic("sqlstore.New: Config.Dialect and Config.Primary are required")
	}
	s := &Store{d: cfg.Dialect, db: cfg.Primary, rr: cfg.Replicas, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.read = &Reader{s: s}
	return s
}

// Reader returns the read-only view that runs through Config.Replicas.
func (s *Store) Reader() *Reader { return s.read }

// Ping checks that the primary answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	return nil
}

// maxAttempts bounds the retries of a transaction (or single statement) that failed for a
// reason the Dialect calls retryable.
const maxAttempts = 5

// InTx runs fn in a transaction on the primary and commits when fn returns nil. When the
// transaction fails for a reason Dialect.Retryable accepts (serialization failure,
// deadlock, SQLITE_BUSY), the whole of fn runs again, at most maxAttempts times in all,
// so fn must have no effect outside the transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.retry(ctx, func() error { return s.inTxOnce(ctx, fn) })
}

func (s *Store) inTxOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.opErr("begin", err)
	}
	// Rollback after Commit is a no-op; deferring it also releases the connection when
	// fn panics, which matters on SQLite's single writer connection.
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.opErr("commit", err)
	}
	return nil
}

// retry runs fn until it succeeds, fails for a reason that is not retryable, the context
// ends, or maxAttempts is reached. The pause between attempts grows with jitter.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range maxAttempts {
		if err = fn(); err == nil || !s.d.Retryable(err) {
			return err
		}
		if attempt == maxAttempts-1 {
			break
		}
		pause := time.Duration(1<<attempt)*5*time.Millisecond + rand.N(5*time.Millisecond)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
	return err
}

// stamp is the time stored for a write now: UTC, truncated to microseconds because that
// is what both databases keep.
func (s *Store) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// newID returns id, or a new UUIDv7 when id is uuid.Nil.
func newID(id uuid.UUID) (uuid.UUID, error) {
	if id != uuid.Nil {
		return id, nil
	}
	v, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, fmt.Errorf("sqlstore: new id: %w", err)
	}
	return v, nil
}

// querier is what the shared query functions need; *sql.DB, *sql.Tx and *sql.Conn have it.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
