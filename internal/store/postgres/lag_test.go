package postgres

import (
	"context"
	"testing"
	"time"
)

// pollLag asks lags() every 20ms, at most 250 times, until done accepts the answer.
func pollLag(t *testing.T, what string, lags func() []Lag, done func([]Lag) bool) []Lag {
	t.Helper()
	var got []Lag
	for range 250 {
		if got = lags(); done(got) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: never; last %+v", what, got)
	return nil
}

func allKnown(ls []Lag) bool {
	for _, l := range ls {
		if !l.Known {
			return false
		}
	}
	return len(ls) > 0
}

// TestReplicaLag: the prober measures each replica's replay lag on the replica itself,
// with a primary (Backend) and without one (Replicas, the login tier's view); a replica
// that stops answering has no lag rather than a stale one; a primary has none.
func TestReplicaLag(t *testing.T) {
	c := cluster.Cluster(t)
	db := c.NewDatabase(t)
	b := open(t, Options{PrimaryURL: db.PrimaryURL, ReplicaURLs: db.ReplicaURLs, ProbeInterval: 50 * time.Millisecond})
	rs, err := OpenReplicas(t.Context(), Options{ReplicaURLs: db.ReplicaURLs, ProbeInterval: 50 * time.Millisecond,
		Logger: b.primary.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	if l := open(t, Options{PrimaryURL: db.PrimaryURL, PrimaryFallback: true}).ReplicaLag(); l != nil {
		t.Fatalf("a primary alone reports replica lag %+v", l)
	}

	seedUser(t, b.Store()) // a transaction for the replicas to replay
	waitReplicated(t, c)
	for name, lags := range map[string]func() []Lag{"backend": b.ReplicaLag, "replicas": rs.ReplicaLag} {
		got := pollLag(t, name+": every replica's lag measured", lags, allKnown)
		for i, l := range got {
			if l.Database != b.router.replicas[i].name {
				t.Errorf("%s: replica %d is %q, want %q", name, i, l.Database, b.router.replicas[i].name)
			}
			// The cluster was created by this test binary, so the newest transaction a
			// replica replayed is younger than the binary: a sanity bound, not a timing claim.
			if l.Seconds < 0 || l.Seconds > time.Since(testStart).Seconds()+60 || l.ReplayBacklogBytes < 0 || l.At.IsZero() {
				t.Errorf("%s: replica %d lag %+v", name, i, l)
			}
		}
	}

	t.Cleanup(func() { _ = c.StartReplica(context.Background(), 1) })
	if err := c.StopReplica(1); err != nil {
		t.Fatal(err)
	}
	got := pollLag(t, "the stopped replica's lag unknown", b.ReplicaLag, func(ls []Lag) bool { return !ls[1].Known })
	if !got[0].Known {
		t.Errorf("the running replica's lag became unknown: %+v", got)
	}
	if err := c.StartReplica(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	seedUser(t, b.Store())
	waitReplicated(t, c)
	pollLag(t, "the restarted replica's lag measured again", b.ReplicaLag, allKnown)
}

// testStart is when the test binary, which creates the cluster, started.
var testStart = time.Now()
