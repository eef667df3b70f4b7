package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ninesid/nines/internal/store/pgtest"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/store/storetest"
)

// TestConformance runs the shared suite on the primary, a fresh database per subtest.
func TestConformance(t *testing.T) {
	c := cluster.Cluster(t)
	storetest.Run(t, func(t *testing.T) *sqlstore.Store {
		db := c.NewDatabase(t)
		return open(t, Options{PrimaryURL: db.PrimaryURL, PrimaryFallback: true}).Store()
	})
}

// TestConformanceThroughReplicas runs the shared suite with the Reader on two streaming
// replicas and no fallback to the primary, so the Reader and cross-tenant cases are
// answered by replicas. The suite reads right after it writes; its cluster has
// synchronous replication and the Store commits with synchronous_commit=remote_apply,
// so a commit returns only once both replicas have applied it, as the suite expects of
// a store. Production does not do this: there the login tier's reads may lag.
func TestConformanceThroughReplicas(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{Replicas: 2, Template: migrateTemplate})
	syncReplication(t, c)
	storetest.Run(t, func(t *testing.T) *sqlstore.Store {
		db := c.NewDatabase(t)
		b := open(t, Options{PrimaryURL: db.PrimaryURL + "&synchronous_commit=remote_apply", ReplicaURLs: db.ReplicaURLs})
		if h := b.Health(t.Context()); len(h) != 3 || !h[1].Healthy || !h[2].Healthy {
			t.Fatalf("Health = %+v, want both replicas up", h)
		}
		if name := t.Name(); strings.HasSuffix(name, "/Reader") || strings.HasSuffix(name, "/CrossTenant") {
			t.Cleanup(func() { // runs before open's Close
				if n := acquires(b); n[0] == 0 || n[1] == 0 {
					t.Errorf("reads per replica = %v, want the Reader's calls on both replicas", n)
				}
			})
		}
		return b.Store()
	})
}

// syncReplication makes every commit that asks for it (synchronous_commit=remote_apply)
// wait until both replicas have applied it. The setting is read at server start, so the
// primary restarts: a reload would leave a moment in which commits do not wait yet.
func syncReplication(t *testing.T, c *pgtest.Cluster) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), c.PrimaryURL())
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(t.Context(), `ALTER SYSTEM SET synchronous_standby_names = 'ANY 2 (*)'`)
	conn.Close(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StopPrimary(); err != nil {
		t.Fatal(err)
	}
	if err := c.StartPrimary(t.Context()); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(t.Context(), c.PrimaryURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var names string
	if err := conn.QueryRow(t.Context(), `SHOW synchronous_standby_names`).Scan(&names); err != nil || names != "ANY 2 (*)" {
		t.Fatalf("synchronous_standby_names = %q, %v; want ANY 2 (*)", names, err)
	}
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
