package sqlite

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/store/storetest"
)

// openBackend opens and migrates a fresh database in a temporary directory.
func openBackend(t testing.TB) *Backend {
	t.Helper()
	b, err := Open(t.Context(), filepath.Join(t.TempDir(), "nines.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return b
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *sqlstore.Store { return openBackend(t).Store() })
}

func TestPragmas(t *testing.T) {
	b := openBackend(t)
	tests := []struct {
		name   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"write journal_mode", b.write, "journal_mode", "wal"},
		{"write foreign_keys", b.write, "foreign_keys", "1"},
		{"write synchronous", b.write, "synchronous", "1"}, // NORMAL
		{"write busy_timeout", b.write, "busy_timeout", "5000"},
		{"write query_only", b.write, "query_only", "0"},
		{"read journal_mode", b.read, "journal_mode", "wal"},
		{"read foreign_keys", b.read, "foreign_keys", "1"},
		{"read busy_timeout", b.read, "busy_timeout", "5000"},
		{"read query_only", b.read, "query_only", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if err := tc.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
			}
			if !strings.EqualFold(got, tc.want) {
				t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
	if n := b.write.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("write pool allows %d connections, want 1 (SQLite has one writer)", n)
	}
}

// TestReadPoolCannotWrite: the Reader's pool is query_only, so a bug that sent a write
// there would fail instead of writing.
func TestReadPoolCannotWrite(t *testing.T) {
	b := openBackend(t)
	_, err := b.read.ExecContext(t.Context(), `DELETE FROM tenants`)
	if err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Errorf("write on the read pool: err = %v, want a read-only error", err)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	b := openBackend(t) // migrated once
	ctx := t.Context()
	tn, err := b.Store().CreateTenant(ctx, tenantFixture("keep"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if _, err := b.Store().Tenant(ctx, tn.ID); err != nil {
		t.Errorf("tenant after second Migrate: %v", err)
	}
}

// TestReopen: data survives Close and Open, and Open does not need Migrate again.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd ?#% name.db")
	ctx := t.Context()
	b, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := b.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	tn, err := b.Store().CreateTenant(ctx, tenantFixture("persist"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
	b, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer func() { _ = b.Close() }()
	if got, err := b.Store().Reader().TenantBySlug(ctx, "persist"); err != nil || got.ID != tn.ID {
		t.Errorf("after reopen: %+v, %v", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{"empty", ""},
		{"blank", "  "},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "dir", "nines.db")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Open(t.Context(), tc.path, Options{})
			if err == nil {
				_ = b.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.path)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := Open(t.Context(), filepath.Join(t.TempDir(), "h.db"), Options{Now: func() time.Time { return start }})
	if err != nil {
		t.Fatal(err)
	}
	h := b.Health(t.Context())
	if len(h) != 1 || !h[0].Healthy || h[0].Role != "primary" || h[0].Error != "" || !h[0].Since.Equal(start) {
		t.Errorf("Health = %+v, want one healthy primary since %v", h, start)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	h = b.Health(t.Context())
	if len(h) != 1 || h[0].Healthy || h[0].Error == "" {
		t.Errorf("Health after Close = %+v, want unhealthy with an error", h)
	}
}

// TestUniqueIndexesMatchSchema checks the Dialect's column-list map against the migrated
// schema: every unique index is mapped, by its own name or <table>_pkey, and every name
// sqlstore knows is one of them.
func TestUniqueIndexesMatchSchema(t *testing.T) {
	b := openBackend(t)
	ctx := t.Context()
	found := map[string]string{} // column list → name
	tables := queryStrings(t, b.write, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'goose%' AND name NOT LIKE 'sqlite%'`)
	for _, table := range tables {
		rows, err := b.write.QueryContext(ctx, `SELECT name, "unique", origin FROM pragma_index_list(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		type idx struct{ name, origin string }
		var idxs []idx
		for rows.Next() {
			var (
				x      idx
				unique int
			)
			if err := rows.Scan(&x.name, &unique, &x.origin); err != nil {
				t.Fatal(err)
			}
			if unique == 1 {
				idxs = append(idxs, x)
			}
		}
		_ = rows.Close()
		for _, x := range idxs {
			cols := queryStrings(t, b.write, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, x.name)
			for i, c := range cols {
				cols[i] = table + "." + c
			}
			name := x.name
			if x.origin == "pk" {
				name = table + "_pkey"
			}
			found[strings.Join(cols, ", ")] = name
		}
	}
	if !mapsEqual(found, uniqueIndexes) {
		t.Errorf("schema's unique indexes:\n%v\nDialect's map:\n%v", found, uniqueIndexes)
	}
	names := sqlstore.UniqueConstraints()
	for _, n := range names {
		if !slices.Contains(mapValues(found), n) {
			t.Errorf("sqlstore knows constraint %q, which the schema does not have", n)
		}
	}
	for _, n := range mapValues(found) {
		if !slices.Contains(names, n) {
			t.Errorf("schema has unique index %q, which sqlstore cannot map to a field", n)
		}
	}
}

func queryStrings(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b) // fmt prints maps sorted by key
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
