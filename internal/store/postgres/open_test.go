package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ninesid/nines/internal/testenv"
)

func TestOpenRefusesSimpleProtocol(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		wantErr bool
	}{
		{"default", "", false},
		{"cache_describe", "default_query_exec_mode=cache_describe", false},
		{"describe_exec", "default_query_exec_mode=describe_exec", false},
		{"simple_protocol", "default_query_exec_mode=simple_protocol", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := "postgres://nines@127.0.0.1:1/nines?" + tt.query
			for _, opts := range []Options{{PrimaryURL: u, PrimaryFallback: true}, {PrimaryURL: "postgres://127.0.0.1:1/x", ReplicaURLs: []string{u}}} {
				opts.Logger = slog.New(slog.DiscardHandler)
				b, err := Open(t.Context(), opts)
				if err == nil {
					_ = b.Close()
				}
				if (err != nil) != tt.wantErr {
					t.Errorf("Open(%+v) error = %v, want error %v", opts, err, tt.wantErr)
				}
			}
		})
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestPrimaryDownReplicasServe: a login process starts and reads while the primary is
// unreachable, and nothing it reports or logs carries a password.
func TestPrimaryDownReplicasServe(t *testing.T) {
	const password = "s3cret-Pa55word"
	c := cluster.Cluster(t)
	db := c.NewDatabase(t)
	seed := open(t, Options{PrimaryURL: db.PrimaryURL, PrimaryFallback: true})
	ten, u := seedUser(t, seed.Store())
	waitReplicated(t, c)

	withPassword := func(raw string) string { // trust authentication ignores it
		pu, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		pu.User = url.UserPassword("postgres", password)
		return pu.String()
	}
	var logs testenv.Buffer
	deadPrimary := withPassword(fmt.Sprintf("postgres://127.0.0.1:%d/%s", closedPort(t), db.Name))
	replicas := []string{withPassword(db.ReplicaURLs[0]), withPassword(db.ReplicaURLs[1]),
		withPassword(fmt.Sprintf("postgres://127.0.0.1:%d/%s", closedPort(t), db.Name))}
	b := open(t, Options{PrimaryURL: deadPrimary, ReplicaURLs: replicas, Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	got, err := b.Store().Reader().UserByUsername(t.Context(), ten.ID, u.Username)
	if err != nil || got.ID != u.ID {
		t.Errorf("read with the primary down: %v, %v; want user %v", got.ID, err, u.ID)
	}
	h := b.Health(t.Context())
	want := []struct {
		role    string
		healthy bool
	}{{"primary", false}, {"replica", true}, {"replica", true}, {"replica", false}}
	if len(h) != len(want) {
		t.Fatalf("Health = %+v, want %d entries", h, len(want))
	}
	for i, w := range want {
		if h[i].Role != w.role || h[i].Healthy != w.healthy || (h[i].Error == "") != w.healthy {
			t.Errorf("Health[%d] = %+v, want role %s healthy %v (with an error when down)", i, h[i], w.role, w.healthy)
		}
		if _, _, err := net.SplitHostPort(h[i].Name); err != nil {
			t.Errorf("Health[%d].Name = %q, want host:port", i, h[i].Name)
		}
	}
	if s := fmt.Sprintf("%+v", h) + logs.String(); strings.Contains(s, password) {
		t.Errorf("the password shows in Health or the log:\n%s", s)
	}
}

func TestConcurrentMigrate(t *testing.T) {
	c := cluster.Cluster(t)
	conn, err := pgx.Connect(t.Context(), c.PrimaryURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `CREATE DATABASE migrate_race`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DropDatabase(context.Background(), "migrate_race") })
	u := strings.Replace(c.PrimaryURL(), "/postgres?", "/migrate_race?", 1)

	const migrators = 4
	var wg sync.WaitGroup
	errs := make([]error, migrators)
	for i := range migrators {
		b := open(t, Options{PrimaryURL: u, PrimaryFallback: true})
		wg.Go(func() { errs[i] = b.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	var dup int
	err = open(t, Options{PrimaryURL: u, PrimaryFallback: true}).primary.db.QueryRowContext(t.Context(), `SELECT count(*) FROM
		(SELECT version_id FROM goose_db_version GROUP BY version_id HAVING count(*) > 1) d`).Scan(&dup)
	if err != nil || dup != 0 {
		t.Errorf("migrations applied more than once: %d versions (%v)", dup, err)
	}
}
