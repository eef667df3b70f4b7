package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/ninesid/nines/internal/store"
)

// exec runs one writing statement on the primary, retried while the Dialect calls its
// failure retryable, and maps the error with writeErr.
func (s *Store) exec(ctx context.Context, op, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.retry(ctx, func() error {
		var err error
		res, err = s.db.ExecContext(ctx, query, args...)
		return err
	})
	return res, s.writeErr(op, err)
}

// deleteOne runs a DELETE (or another write) that must match one row; none is
// store.ErrNotFound.
func (s *Store) deleteOne(ctx context.Context, op, query string, args ...any) error {
	res, err := s.exec(ctx, op, query, args...)
	if err != nil {
		return err
	}
	return affectedOne(op, res)
}

// versioned is an optimistic-concurrency UPDATE … WHERE version = $n RETURNING <cols>,
// and the query that tells a missing row (store.ErrNotFound) from a stale version
// (store.ErrConflict) when the UPDATE matched nothing.
type versioned struct {
	op     string
	update string
	args   []any
	exists string // returns a row when the entity is in the tenant
	key    []any
}

// update runs v on the primary and scans the stored row with scan.
func update[T any](ctx context.Context, s *Store, v versioned, scan func(row) (T, error)) (T, error) {
	var out T
	err := s.retry(ctx, func() error {
		var err error
		out, err = scan(s.db.QueryRowContext(ctx, v.update, v.args...))
		return err
	})
	var zero T
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return zero, s.missOrConflict(ctx, v.exists, v.key...)
	case err != nil:
		return zero, s.writeErr(v.op, err)
	}
	return out, nil
}

// missOrConflict explains why a versioned UPDATE matched no row.
func (s *Store) missOrConflict(ctx context.Context, exists string, key ...any) error {
	var one int
	err := s.db.QueryRowContext(ctx, exists, key...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return s.readErr("check version", err)
	}
	return store.ErrConflict
}

// execOne runs a writing statement on q (no retry: inside a transaction the caller's
// InTx retries the whole of it) that must match one row; none is store.ErrNotFound.
func (s *Store) execOne(ctx context.Context, q querier, op, query string, args ...any) error {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return s.writeErr(op, err)
	}
	return affectedOne(op, res)
}
