package app

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/natsd"
	"github.com/ninesid/nines/internal/store/pgtest"
	"github.com/ninesid/nines/internal/store/postgres"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// TestWorkerRoleAppliesCommands: `serve --role=worker` consumes the deployment's
// command stream (an external NATS) and applies a sign-in to the PostgreSQL primary.
func TestWorkerRoleAppliesCommands(t *testing.T) {
	cluster := pgtest.Start(t, pgtest.Options{})
	db := cluster.NewDatabase(t)
	srv, err := natsd.Start(t.Context(), natsd.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	cfg := testConfig(t, t.TempDir())
	cfg.DatabaseURL, cfg.NATSURL, cfg.KEK = db.PrimaryURL, srv.ClientURL(), testKEK
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(t.Context(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	// A user, written directly on the primary.
	b, err := postgres.Open(t.Context(), postgres.Options{PrimaryURL: db.PrimaryURL, PrimaryFallback: true, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ten, err := b.Store().CreateTenant(t.Context(), tenant.Tenant{Slug: "acme", DisplayName: "Acme", Status: tenant.StatusActive,
		Lockout: tenant.DefaultLockout})
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.Store().CreateUser(t.Context(), ten.ID, user.User{Username: "alice", Status: user.StatusActive})
	if err != nil {
		t.Fatal(err)
	}

	start(t, Options{Config: cfg, Role: RoleWorker})

	// A login process's command, published to the stream.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := bus.NewPublisher(bus.Config{JS: js, SpoolDir: filepath.Join(t.TempDir(), "spool"), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	at := time.Now().UTC().Truncate(time.Microsecond)
	cmd, err := command.NewSignedIn(ten.ID, u.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(t.Context(), cmd); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ { // applied asynchronously: poll, bounded
		got, err := b.Store().User(t.Context(), ten.ID, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastLoginAt.Equal(at) {
			break
		}
		if i == 200 {
			t.Fatalf("after 10 s the worker has not applied the sign-in: last_login_at %v, want %v", got.LastLoginAt, at)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
