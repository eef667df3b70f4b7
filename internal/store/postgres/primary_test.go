package postgres

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/pgtest"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"

	"github.com/ninesid/nines/internal/testenv"
)

// TestOpenNeedsReplicasOrFallback: without replicas the Reader could only read the
// primary, which the login tier must never do; Open refuses unless that is asked for.
func TestOpenNeedsReplicasOrFallback(t *testing.T) {
	const primary, replica = "postgres://nines@127.0.0.1:1/nines", "postgres://nines@127.0.0.1:2/nines"
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"no replicas, no fallback", Options{PrimaryURL: primary}, true},
		{"no replicas, fallback", Options{PrimaryURL: primary, PrimaryFallback: true}, false},
		{"replicas, no fallback", Options{PrimaryURL: primary, ReplicaURLs: []string{replica}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Logger = slog.New(slog.DiscardHandler)
			b, err := Open(t.Context(), tt.opts)
			if err == nil {
				_ = b.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("Open error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestHealthNeverTouchesThePrimary: Health reports the prober's view and takes no
// connection, so /readyz cannot block on a primary that hangs.
func TestHealthNeverTouchesThePrimary(t *testing.T) {
	db := cluster.Cluster(t).NewDatabase(t)
	b := open(t, Options{PrimaryURL: db.PrimaryURL, PrimaryFallback: true})
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	before := b.primary.pool.Stat().AcquireCount()
	for range 3 {
		if h := b.Health(cancelled); len(h) != 1 || !h[0].Healthy || h[0].Role != "primary" {
			t.Errorf("Health = %+v, want the healthy primary as probed", h)
		}
	}
	if n := b.primary.pool.Stat().AcquireCount() - before; n != 0 {
		t.Errorf("Health took %d connections from the primary's pool, want 0", n)
	}
}

// waitPrimary waits (at most 10s) until the prober reports the primary up or down.
func waitPrimary(t *testing.T, b *Backend, up bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.primary.healthy() != up {
		if time.Now().After(deadline) {
			t.Fatalf("primary not reported healthy=%v after 10s: %+v", up, b.Health(t.Context()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPrimaryDownIsUnavailable: with the primary stopped, the Store's writes and reads
// fail with store.ErrUnavailable (the admin tier's 503, ARCHITECTURE.md §6), Health
// shows the primary down, and once it is back the same calls succeed. It has a cluster
// of its own: after a primary restart, a hot standby of the shared cluster was seen to
// answer a session from a stale snapshot for a moment after WaitReplicated, which made
// the replica tests that run next flaky.
func TestPrimaryDownIsUnavailable(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{Template: migrateTemplate})
	db := c.NewDatabase(t)
	b := open(t, Options{PrimaryURL: db.PrimaryURL, PrimaryFallback: true, ProbeInterval: 50 * time.Millisecond})
	s := b.Store()
	ten, u := seedUser(t, s)
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"CreateUser (statement)", func(ctx context.Context) error {
			_, err := s.CreateUser(ctx, ten.ID, user.User{Username: "u" + uuid.NewString()[:8], Status: user.StatusActive})
			return err
		}},
		{"UpdateUser (versioned update)", func(ctx context.Context) error {
			got, err := s.User(ctx, ten.ID, u.ID)
			if err != nil {
				return err
			}
			_, err = s.UpdateUser(ctx, ten.ID, got)
			return err
		}},
		{"CreateTenant (transaction)", func(ctx context.Context) error {
			slug := "t" + uuid.NewString()[:8]
			_, err := s.CreateTenant(ctx, tenant.Tenant{Slug: slug, DisplayName: slug, Status: tenant.StatusActive})
			return err
		}},
		{"Tenant (read)", func(ctx context.Context) error { _, err := s.Tenant(ctx, ten.ID); return err }},
		{"ListUsers (read)", func(ctx context.Context) error { _, err := s.ListUsers(ctx, ten.ID, store.ListOptions{}); return err }},
	}

	t.Cleanup(func() { _ = c.StartPrimary(context.Background()) })
	if err := c.StopPrimary(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range calls {
		t.Run("down/"+tt.name, func(t *testing.T) {
			if err := tt.call(t.Context()); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("err = %v, want store.ErrUnavailable", err)
			}
		})
	}
	waitPrimary(t, b, false)
	if h := b.Health(t.Context()); h[0].Role != "primary" || h[0].Error == "" {
		t.Errorf("Health with the primary down = %+v, want the primary down with its error", h[0])
	}

	if err := c.StartPrimary(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitPrimary(t, b, true)
	for _, tt := range calls {
		t.Run("back/"+tt.name, func(t *testing.T) {
			if err := tt.call(t.Context()); err != nil {
				t.Errorf("err = %v, want success once the primary is back", err)
			}
		})
	}
}

// TestNonStandbyReplicaServesNoRead: a replica URL that leads to a primary (a promoted
// replica, a configuration mistake) is down, says why, and serves no read: without
// fallback the Reader is unavailable rather than loading a primary.
func TestNonStandbyReplicaServesNoRead(t *testing.T) {
	db := cluster.Cluster(t).NewDatabase(t)
	var logs testenv.Buffer
	b := open(t, Options{PrimaryURL: db.PrimaryURL, ReplicaURLs: []string{db.PrimaryURL},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ten, u := seedUser(t, b.Store())

	for i := range 3 {
		if _, err := b.Store().Reader().UserByUsername(t.Context(), ten.ID, u.Username); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("read %d: err = %v, want store.ErrUnavailable", i, err)
		}
	}
	if n := acquires(b)[0]; n != 0 {
		t.Errorf("the non-standby served %d reads, want 0", n)
	}
	const why = "not a standby (pg_is_in_recovery() = false)"
	h := b.Health(t.Context())
	if len(h) != 2 || !h[0].Healthy || h[1].Healthy || h[1].Error != why {
		t.Errorf("Health = %+v, want the primary up and the replica down with %q", h, why)
	}
	if l := logs.String(); !strings.Contains(l, "database down") || !strings.Contains(l, why) {
		t.Errorf("log does not say why the replica is down:\n%s", l)
	}
}
