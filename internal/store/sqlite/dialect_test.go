package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/user"
)

// TestUnavailable classifies errors the driver really returns: a database that cannot be
// opened and one that stays busy are unavailable; a statement's own errors are not.
func TestUnavailable(t *testing.T) {
	b := openBackend(t)
	ctx := t.Context()

	cantOpen := func() error {
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.PingContext(ctx)
	}
	busy := func() error {
		path := filepath.Join(t.TempDir(), "busy.db")
		holder, err := sql.Open("sqlite", dsn(path))
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
		conn, err := holder.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `CREATE TABLE t (x int); BEGIN IMMEDIATE; INSERT INTO t VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		defer func() { _, _ = conn.ExecContext(ctx, `ROLLBACK`) }()
		other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		_, err = other.ExecContext(ctx, `INSERT INTO t VALUES (2)`)
		return err
	}
	constraint := func() error {
		_, err := b.write.ExecContext(ctx, `INSERT INTO tenants (id) VALUES (NULL)`)
		return err
	}
	syntax := func() error {
		_, err := b.write.ExecContext(ctx, `SELEC 1`)
		return err
	}

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"cannot open", cantOpen(), true},
		{"busy", busy(), true},
		{"busy, wrapped", fmt.Errorf("sqlstore: create tenant: %w", busy()), true},
		{"constraint", constraint(), false},
		{"syntax", syntax(), false},
		{"no rows", sql.ErrNoRows, false},
		{"other", errors.New("scan: bad column"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want && tt.err == nil {
				t.Fatal("the driver returned no error")
			}
			if got := (Dialect{}).Unavailable(tt.err); got != tt.want {
				t.Errorf("Unavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestStoreUnavailable: on a database that cannot be opened, writes and reads of the
// Store report store.ErrUnavailable (the admin tier's 503), not a generic error.
func TestStoreUnavailable(t *testing.T) {
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s := sqlstore.New(sqlstore.Config{Dialect: Dialect{}, Primary: db})
	ctx := t.Context()
	id := uuid.New()
	tests := []struct {
		name string
		call func() error
	}{
		{"CreateUser (statement)", func() error { _, err := s.CreateUser(ctx, id, user.User{Username: "a"}); return err }},
		{"CreateTenant (transaction)", func() error { _, err := s.CreateTenant(ctx, tenantFixture("acme")); return err }},
		{"Tenant (read)", func() error { _, err := s.Tenant(ctx, id); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("err = %v, want store.ErrUnavailable", err)
			}
		})
	}
}
