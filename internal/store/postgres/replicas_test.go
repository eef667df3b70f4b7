package postgres

import (
	"errors"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/pgtest"
)

func TestOpenReplicasRefusesThePrimary(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
	}{
		{"primary URL", Options{PrimaryURL: "postgres://127.0.0.1:1/x", ReplicaURLs: []string{"postgres://127.0.0.1:2/x"}}},
		{"primary fallback", Options{PrimaryFallback: true, ReplicaURLs: []string{"postgres://127.0.0.1:2/x"}}},
		{"no replicas", Options{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if rs, err := OpenReplicas(t.Context(), tt.opts); err == nil {
				_ = rs.Close()
				t.Fatal("OpenReplicas accepted a configuration that could reach the primary or nothing")
			}
		})
	}
}

// TestReplicasReaderSurvivesAReplica: the login tier's replica-only reader serves
// reads from either replica and keeps serving, without failures, when one is stopped.
func TestReplicasReaderSurvivesAReplica(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{Replicas: 2, Template: migrateTemplate})
	db := c.NewDatabase(t)
	b := open(t, Options{PrimaryURL: db.PrimaryURL, ReplicaURLs: db.ReplicaURLs})
	ten, u := seedUser(t, b.Store())
	waitReplicated(t, c)

	rs, err := OpenReplicas(t.Context(), Options{ReplicaURLs: db.ReplicaURLs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	read := func() error {
		got, err := rs.Reader().UserByUsername(t.Context(), ten.ID, u.Username)
		if err == nil && got.ID != u.ID {
			return errors.New("wrong user")
		}
		return err
	}
	for i := 0; read() != nil; i++ { // bounded wait for visibility on the replicas
		if i == 100 {
			t.Fatalf("user not visible on the replicas: %v", read())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.StopReplica(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.StartReplica(t.Context(), 0) })
	for i := range 200 {
		if err := read(); err != nil {
			t.Fatalf("read %d after a replica stopped: %v", i, err)
		}
	}
	if err := c.StopReplica(1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.StartReplica(t.Context(), 1) })
	if err := read(); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("with every replica down: %v, want store.ErrUnavailable (never the primary)", err)
	}
}
