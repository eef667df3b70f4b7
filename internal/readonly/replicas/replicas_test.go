package replicas_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/readonly/replicas"
	"github.com/ninesid/nines/internal/store/pgtest"
	"github.com/ninesid/nines/internal/store/postgres"
	"github.com/ninesid/nines/internal/tenant"
)

func migrateTemplate(ctx context.Context, url string) error {
	b, err := postgres.Open(ctx, postgres.Options{PrimaryURL: url, PrimaryFallback: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer b.Close()
	return b.Migrate(ctx)
}

// poll retries cond for a bounded while: the backend's prober notices a stopped replica
// in the background. The assertion is on the outcome, never on the time it took.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 400 {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// TestHealthyFollowsTheBackend: reads go to a replica the backend reports healthy, move
// to the other when one stops, and there is no store once none is left.
func TestHealthyFollowsTheBackend(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{Replicas: 2, Template: migrateTemplate})
	db := c.NewDatabase(t)
	b, err := postgres.Open(t.Context(), postgres.Options{PrimaryURL: db.PrimaryURL, ReplicaURLs: db.ReplicaURLs,
		PrimaryFallback: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if _, err := b.Store().CreateTenant(t.Context(), tenant.Tenant{Slug: "acme", DisplayName: "Acme", Status: tenant.StatusActive}); err != nil {
		t.Fatal(err)
	}
	rs, err := replicas.Open(db.ReplicaURLs, b.Health)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	readsAcme := func() bool {
		st := rs.Healthy()
		if st == nil {
			return false
		}
		_, err := st.TenantBySlug(t.Context(), "acme")
		return err == nil
	}
	poll(t, "the tenant is read from a replica", readsAcme)

	if err := c.StopReplica(0); err != nil {
		t.Fatal(err)
	}
	poll(t, "the backend sees replica 1 down", func() bool {
		for _, h := range b.Health(t.Context()) {
			if h.Role == "replica" && !h.Healthy {
				return true
			}
		}
		return false
	})
	if !readsAcme() {
		t.Fatal("no read from the remaining replica")
	}

	if err := c.StopReplica(1); err != nil {
		t.Fatal(err)
	}
	poll(t, "no healthy replica left", func() bool { return rs.Healthy() == nil })
	if _, err := b.Store().TenantBySlug(t.Context(), "acme"); err != nil { // the primary still serves
		t.Fatal(err)
	}
}
