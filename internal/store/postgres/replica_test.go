package postgres

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/pgtest"

	"github.com/ninesid/nines/internal/testenv"
)

// acquires is how many connections each replica's pool has handed out: one per read.
func acquires(b *Backend) []int64 {
	n := make([]int64, len(b.router.replicas))
	for i, rep := range b.router.replicas {
		n[i] = rep.pool.Stat().AcquireCount()
	}
	return n
}

func TestReplicaReadsAreSpread(t *testing.T) {
	c := cluster.Cluster(t)
	db := c.NewDatabase(t)
	b := open(t, Options{PrimaryURL: db.PrimaryURL, ReplicaURLs: db.ReplicaURLs})
	ten, u := seedUser(t, b.Store())
	waitReplicated(t, c)
	// Replay is not always visibility to a pooled standby session at the same instant
	// (seen about once in ten runs): wait, bounded, until each replica has served the row.
	for i := 0; ; i++ {
		_, err1 := b.Store().Reader().UserByUsername(t.Context(), ten.ID, u.Username)
		_, err2 := b.Store().Reader().UserByUsername(t.Context(), ten.ID, u.Username)
		if err1 == nil && err2 == nil {
			break
		}
		if i == 100 {
			t.Fatalf("the user is not visible on both replicas after 100 tries: %v, %v", err1, err2)
		}
		time.Sleep(50 * time.Millisecond)
	}

	const reads = 200
	before, primaryBefore := acquires(b), b.primary.pool.Stat().AcquireCount()
	for i := range reads {
		got, err := b.Store().Reader().UserByUsername(t.Context(), ten.ID, u.Username)
		if err != nil || got.ID != u.ID {
			t.Fatalf("read %d: %v, %v; want user %v", i, got.ID, err, u.ID)
		}
	}
	after := acquires(b)
	t.Logf("reads per replica: %d, %d", after[0]-before[0], after[1]-before[1])
	for i := range after {
		if n := after[i] - before[i]; n < reads/2-reads/10 || n > reads/2+reads/10 {
			t.Errorf("replica %d served %d of %d reads, want about half", i+1, n, reads)
		}
	}
	if n := b.primary.pool.Stat().AcquireCount() - primaryBefore; n != 0 {
		t.Errorf("the primary served %d Reader calls, want 0", n)
	}
}

func TestNoReplicasReaderReadsPrimary(t *testing.T) {
	db := cluster.Cluster(t).NewDatabase(t)
	b := open(t, Options{PrimaryURL: db.PrimaryURL, PrimaryFallback: true})
	if b.router != nil {
		t.Fatal("a backend without replica URLs has a read router")
	}
	ten, u := seedUser(t, b.Store())
	if got, err := b.Store().Reader().UserByUsername(t.Context(), ten.ID, u.Username); err != nil || got.ID != u.ID {
		t.Errorf("Reader on the primary: %v, %v; want user %v", got.ID, err, u.ID)
	}
	if h := b.Health(t.Context()); len(h) != 1 || h[0].Role != "primary" || !h[0].Healthy {
		t.Errorf("Health = %+v, want the healthy primary only", h)
	}
}

// readLoop reads the user until maxReads reads or maxTime, calling at(i) before read i,
// and reports the reads that failed.
func readLoop(t *testing.T, b *Backend, read func() error, maxReads int, maxTime time.Duration, at func(i int) bool) (done, failed int) {
	t.Helper()
	deadline := time.Now().Add(maxTime)
	for done = 0; done < maxReads && time.Now().Before(deadline); done++ {
		if at != nil && at(done) {
			break
		}
		if err := read(); err != nil {
			failed++
			t.Errorf("read %d failed: %v", done, err)
		}
	}
	return done, failed
}

func TestReplicaStoppedMidLoopCostsNoRead(t *testing.T) {
	tests := []struct {
		name string
		stop func(c *pgtest.Cluster, i int) error
	}{
		{"fast shutdown", (*pgtest.Cluster).StopReplica},
		{"kill", (*pgtest.Cluster).KillReplica},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { testStoppedMidLoop(t, tt.stop) })
	}
}

func testStoppedMidLoop(t *testing.T, stop func(c *pgtest.Cluster, i int) error) {
	c := cluster.Cluster(t)
	db := c.NewDatabase(t)
	var logs testenv.Buffer
	b := open(t, Options{PrimaryURL: db.PrimaryURL, ReplicaURLs: db.ReplicaURLs,
		ProbeInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ten, u := seedUser(t, b.Store())
	waitReplicated(t, c)
	t.Cleanup(func() { _ = c.StartReplica(context.Background(), 0) })
	read := func() error {
		_, err := b.Store().Reader().UserByUsername(t.Context(), ten.ID, u.Username)
		return err
	}

	// Stop replica 1 from another goroutine after 200 reads, while reads go on; end 500
	// reads after the stop returned. A fast shutdown takes from 2ms to about a second
	// here, while a read takes about 0.1ms: the loop is bounded by time, not by count.
	stopped := make(chan error, 1)
	stopAt, afterStop := -1, 0
	loopStart := time.Now()
	done, failed := readLoop(t, b, read, 500000, 10*time.Second, func(i int) bool {
		if i == 200 {
			go func() {
				t0 := time.Now()
				err := stop(c, 0)
				t.Logf("stopping replica 1 took %v", time.Since(t0))
				stopped <- err
			}()
		}
		select {
		case err := <-stopped:
			if err != nil {
				t.Fatal(err)
			}
			stopAt = i
		default:
		}
		if stopAt >= 0 {
			afterStop++
		}
		return afterStop > 500
	})
	t.Logf("%d reads, %d failed; replica 1 stopped before read %d; %v", done, failed, stopAt, time.Since(loopStart))
	if stopAt < 0 || afterStop <= 500 {
		t.Fatalf("the loop ended (%d reads) before 500 reads after the stop", done)
	}
	name := b.router.replicas[0].name
	if h := b.Health(t.Context()); h[1].Healthy || h[1].Name != name || !h[2].Healthy {
		t.Errorf("Health after the stop = %+v, want replica %s down, the other up", h, name)
	}
	if !strings.Contains(logs.String(), "database down") || !strings.Contains(logs.String(), name) {
		t.Errorf("log does not report %s down:\n%s", name, logs.String())
	}

	if err := c.StartReplica(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, b, 0)
	before := acquires(b)
	readLoop(t, b, read, 100, 10*time.Second, nil)
	if after := acquires(b); after[0] == before[0] {
		t.Error("the restarted replica serves no read")
	}
}

// waitHealthy waits (at most 10s) until the prober reports replica i healthy.
func waitHealthy(t *testing.T, b *Backend, i int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !b.router.replicas[i].healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("replica %d not healthy again after 10s: %+v", i+1, b.Health(t.Context()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAllReplicasDown(t *testing.T) {
	c := cluster.Cluster(t)
	db := c.NewDatabase(t)
	strict := open(t, Options{PrimaryURL: db.PrimaryURL, ReplicaURLs: db.ReplicaURLs})
	lenient := open(t, Options{PrimaryURL: db.PrimaryURL, ReplicaURLs: db.ReplicaURLs, PrimaryFallback: true})
	ten, u := seedUser(t, strict.Store())
	waitReplicated(t, c)
	t.Cleanup(func() {
		for i := range 2 {
			_ = c.StartReplica(context.Background(), i)
		}
	})
	for i := range 2 {
		if err := c.StopReplica(i); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		b       *Backend
		wantErr error
	}{
		{"without fallback: unavailable, primary untouched", strict, store.ErrUnavailable},
		{"with fallback: the primary serves", lenient, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primaryBefore := tt.b.primary.pool.Stat().AcquireCount()
			for i := range 3 { // the first read finds the replicas gone, the next know it
				got, err := tt.b.Store().Reader().UserByUsername(t.Context(), ten.ID, u.Username)
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("read %d: err = %v, want %v", i, err, tt.wantErr)
				}
				if tt.wantErr == nil && (err != nil || got.ID != u.ID) {
					t.Errorf("read %d: %v, %v; want user %v", i, got.ID, err, u.ID)
				}
			}
			primaryReads := tt.b.primary.pool.Stat().AcquireCount() - primaryBefore
			if (tt.wantErr != nil) != (primaryReads == 0) {
				t.Errorf("the primary served %d reads", primaryReads)
			}
			for _, h := range tt.b.Health(t.Context())[1:] {
				if h.Healthy {
					t.Errorf("Health reports stopped replica %s healthy", h.Name)
				}
			}
		})
	}
}
