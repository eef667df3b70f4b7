package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/store/storetest"
)

// TestConformance runs the shared suite on the primary, a fresh database per subtest.
func TestConformance(t *testing.T) {
	c := cluster.Cluster(t)
	storetest.Run(t, func(t *testing.T) *sqlstore.Store {
		db := c.NewDatabase(t)
		return open(t, Options{PrimaryURL: db.PrimaryURL}).Store()
	})
}

// TestUniqueConstraintsExist checks that every constraint name sqlstore maps to a field
// is a unique index of the migrated schema: the Dialect reports a violation by that name.
func TestUniqueConstraintsExist(t *testing.T) {
	db := cluster.Cluster(t).NewDatabase(t)
	conn, err := pgx.Connect(t.Context(), db.PrimaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for _, name := range sqlstore.UniqueConstraints() {
		t.Run(name, func(t *testing.T) {
			var unique bool
			err := conn.QueryRow(t.Context(), `SELECT i.indisunique FROM pg_index i
				JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1`, name).Scan(&unique)
			if errors.Is(err, pgx.ErrNoRows) || !unique {
				t.Errorf("no unique index or constraint %q in the migrated schema", name)
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
}
