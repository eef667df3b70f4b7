package postgres

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store/pgtest"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// cluster is the package's one PostgreSQL cluster: a primary and two streaming replicas,
// with a template database migrated by this package's Migrate. Tests that stop servers
// start them again in t.Cleanup and do not run in parallel.
var cluster = pgtest.NewShared(pgtest.Options{Replicas: 2, Template: migrateTemplate})

func TestMain(m *testing.M) { os.Exit(cluster.Run(m)) }

func migrateTemplate(ctx context.Context, url string) error {
	b, err := Open(ctx, Options{PrimaryURL: url, PrimaryFallback: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer b.Close() // the template must have no session left when it is cloned
	return b.Migrate(ctx)
}

// open opens a backend for the test and closes it in t.Cleanup. Logs are discarded
// unless opts has a Logger.
func open(t testing.TB, opts Options) *Backend {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// seedUser creates a tenant with one user on the primary.
func seedUser(t testing.TB, s *sqlstore.Store) (tenant.Tenant, user.User) {
	t.Helper()
	slug := "t" + uuid.NewString()[:8]
	ten, err := s.CreateTenant(t.Context(), tenant.Tenant{Slug: slug, DisplayName: slug, Status: tenant.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(t.Context(), ten.ID, user.User{Username: "alice", Status: user.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	return ten, u
}

func waitReplicated(t testing.TB, c *pgtest.Cluster) {
	t.Helper()
	if err := c.WaitReplicated(t.Context()); err != nil {
		t.Fatal(err)
	}
}
