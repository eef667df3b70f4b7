package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// countingRouter counts Reader calls and can fail them all.
type countingRouter struct {
	db    *sql.DB
	calls int
	fail  error
}

func (r *countingRouter) Read(ctx context.Context, fn func(ctx context.Context, db *sql.DB) error) error {
	r.calls++
	if r.fail != nil {
		return r.fail
	}
	return fn(ctx, r.db)
}

// TestReaderUsesReplicas: every Reader call goes through Config.Replicas, and the
// router's error reaches the caller.
func TestReaderUsesReplicas(t *testing.T) {
	b := openBackend(t)
	ctx := t.Context()
	tn, err := b.Store().CreateTenant(ctx, tenantFixture("acme"))
	if err != nil {
		t.Fatal(err)
	}
	rr := &countingRouter{db: b.read}
	r := sqlstore.New(sqlstore.Config{Dialect: Dialect{}, Primary: b.write, Replicas: rr}).Reader()
	calls := []struct {
		name string
		call func() error
	}{
		{"Tenant", func() error { _, err := r.Tenant(ctx, tn.ID); return err }},
		{"TenantBySlug", func() error { _, err := r.TenantBySlug(ctx, "acme"); return err }},
		{"User", func() error { _, err := r.User(ctx, tn.ID, tn.ID); return err }},
		{"UserByUsername", func() error { _, err := r.UserByUsername(ctx, tn.ID, "x"); return err }},
		{"UserByEmail", func() error { _, err := r.UserByEmail(ctx, tn.ID, "x@example.com"); return err }},
		{"GroupsOfUser", func() error { _, err := r.GroupsOfUser(ctx, tn.ID, tn.ID); return err }},
		{"ApplicationByClientID", func() error { _, err := r.ApplicationByClientID(ctx, tn.ID, "x"); return err }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			rr.calls, rr.fail = 0, nil
			err := tc.call()
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("err = %v", err)
			}
			if rr.calls != 1 {
				t.Errorf("router saw %d calls, want 1", rr.calls)
			}
			rr.fail = store.ErrUnavailable
			if err := tc.call(); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("with the router failing: err = %v, want ErrUnavailable", err)
			}
		})
	}
}

// flakyDialect calls errFlaky retryable.
type flakyDialect struct{ Dialect }

var errFlaky = errors.New("flaky")

func (flakyDialect) Retryable(err error) bool { return errors.Is(err, errFlaky) }

func TestInTxRetries(t *testing.T) {
	b := openBackend(t)
	s := sqlstore.New(sqlstore.Config{Dialect: flakyDialect{}, Primary: b.write})
	errOther := errors.New("other")
	tests := []struct {
		name      string
		failures  int   // attempts that fail before one succeeds
		failWith  error // error of a failing attempt
		wantErr   error
		wantTries int
	}{
		{"success", 0, nil, nil, 1},
		{"retryable then success", 2, errFlaky, nil, 3},
		{"retryable every time", 100, errFlaky, errFlaky, 5},
		{"not retryable", 100, errOther, errOther, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tries := 0
			err := s.InTx(t.Context(), func(tx *sql.Tx) error {
				tries++
				if _, err := tx.ExecContext(t.Context(), `SELECT 1`); err != nil {
					return err
				}
				if tries <= tc.failures {
					return tc.failWith
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if tries != tc.wantTries {
				t.Errorf("fn ran %d times, want %d", tries, tc.wantTries)
			}
		})
	}
	// A failed transaction is rolled back, and the single connection is released.
	err := s.InTx(t.Context(), func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(t.Context(), `INSERT INTO tenants (id, slug, display_name, status, version, created_at, updated_at)
			VALUES ('x', 'x', 'x', 'active', 1, 0, 0)`); err != nil {
			return err
		}
		return errOther
	})
	if !errors.Is(err, errOther) {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.TenantBySlug(t.Context(), "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("row of a failed transaction: err = %v, want ErrNotFound", err)
	}
}
