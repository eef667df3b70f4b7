package kv_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/kv/kvtest"
)

// flaky is a primary bucket that can be taken down (every call ErrUnavailable) or made
// to hang until its context ends, and counts its calls.
type flaky struct {
	kv.Bucket
	down, hang atomic.Bool
	calls      atomic.Int64
}

func newFlaky() *flaky { return &flaky{Bucket: kv.NewMemory(time.Hour, nil)} }

func (p *flaky) check(ctx context.Context) error {
	p.calls.Add(1)
	if p.hang.Load() {
		<-ctx.Done()
		return fmt.Errorf("%w: %w", kv.ErrUnavailable, ctx.Err())
	}
	if p.down.Load() {
		return fmt.Errorf("%w: nats: connection closed", kv.ErrUnavailable)
	}
	return nil
}

func (p *flaky) Get(ctx context.Context, key string) (kv.Entry, error) {
	if err := p.check(ctx); err != nil {
		return kv.Entry{}, err
	}
	return p.Bucket.Get(ctx, key)
}

func (p *flaky) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := p.check(ctx); err != nil {
		return 0, err
	}
	return p.Bucket.Create(ctx, key, value)
}

func (p *flaky) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := p.check(ctx); err != nil {
		return 0, err
	}
	return p.Bucket.Update(ctx, key, value, rev)
}

func (p *flaky) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := p.check(ctx); err != nil {
		return 0, err
	}
	return p.Bucket.Put(ctx, key, value)
}

func (p *flaky) Delete(ctx context.Context, key string, rev uint64) error {
	if err := p.check(ctx); err != nil {
		return err
	}
	return p.Bucket.Delete(ctx, key, rev)
}

func (p *flaky) Consume(ctx context.Context, key string) (kv.Entry, error) {
	if err := p.check(ctx); err != nil {
		return kv.Entry{}, err
	}
	return p.Bucket.Consume(ctx, key)
}

// clockAt is a fake clock whose Cooldown tests skip by moving it.
func newFallback(p kv.Bucket, c kv.FallbackConfig) *kv.Fallback {
	if c.TTL == 0 {
		c.TTL = time.Hour
	}
	return kv.NewFallback(p, c)
}

// With its primary up, a Fallback is the primary: the whole conformance suite.
func TestFallbackPrimaryUp(t *testing.T) {
	kvtest.Run(t, func(*testing.T) kv.Bucket { return newFallback(kv.NewMemory(time.Hour, nil), kv.FallbackConfig{}) })
}

// With its primary down for good, a Fallback whose misses are ErrNotFound is a bucket in
// memory with the same semantics: the whole conformance suite again.
func TestFallbackPrimaryDown(t *testing.T) {
	kvtest.Run(t, func(*testing.T) kv.Bucket {
		p := newFlaky()
		p.down.Store(true)
		return newFallback(p, kv.FallbackConfig{MissWhileDown: kv.ErrNotFound})
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// up brings p back and moves past the fallback's cooldown.
func up(p *flaky, clock *fakeClock) {
	p.down.Store(false)
	clock.Advance(time.Minute)
}

func newClocked(p kv.Bucket, c kv.FallbackConfig) (*kv.Fallback, *fakeClock, *kv.FallbackStats) {
	clock := &fakeClock{now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	c.Now, c.Stats = clock.Now, new(kv.FallbackStats)
	return newFallback(p, c), clock, c.Stats
}

// A flow started before the outage finishes during it: the code written while the
// primary was up is consumed from memory, by exactly one of 50 concurrent consumers,
// and the consume is replayed on the primary once it is back.
func TestFallbackFinishesAFlowStartedBeforeTheOutage(t *testing.T) {
	p := newFlaky()
	f, clock, st := newClocked(p, kv.FallbackConfig{})
	if _, err := f.Create(ctx(t), "code.1", []byte("alice")); err != nil {
		t.Fatal(err)
	}
	p.down.Store(true)
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			e, err := f.Consume(ctx(t), "code.1")
			switch {
			case err == nil && string(e.Value) == "alice":
				wins.Add(1)
			case err != nil && !errors.Is(err, kv.ErrUnavailable):
				t.Errorf("Consume = %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d consumers won, want exactly 1", wins.Load())
	}
	if _, err := p.Bucket.Get(ctx(t), "code.1"); err != nil {
		t.Fatalf("the primary lost the code during the outage: %v", err)
	}
	up(p, clock)
	if n, err := f.Sync(ctx(t), 100); err != nil || n != 0 {
		t.Fatalf("Sync = %d, %v", n, err)
	}
	if _, err := p.Bucket.Get(ctx(t), "code.1"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("the consume was not replayed on the primary: Get = %v", err)
	}
	if st.TombstonesApplied.Load() != 1 {
		t.Errorf("TombstonesApplied = %d, want 1", st.TombstonesApplied.Load())
	}
}

// Entries written during the outage are served from memory, win over the primary's
// stale copy after it is back, and are promoted to the primary by Sync; after that the
// primary's revisions work again.
func TestFallbackWritesDuringTheOutage(t *testing.T) {
	p := newFlaky()
	f, clock, st := newClocked(p, kv.FallbackConfig{})
	rev, err := f.Create(ctx(t), "session.a", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	p.down.Store(true)
	// New artifacts, and a change to a mirrored one.
	lrev, err := f.Create(ctx(t), "code.new", []byte("fresh"))
	if err != nil || lrev&kv.LocalRevision == 0 {
		t.Fatalf("Create during the outage = %d, %v; want a local revision", lrev, err)
	}
	if _, err := f.Create(ctx(t), "code.new", []byte("again")); !errors.Is(err, kv.ErrExists) {
		t.Fatalf("second Create during the outage = %v, want ErrExists", err)
	}
	if _, err := f.Update(ctx(t), "session.a", []byte("v2"), rev+1); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("Update with a wrong revision = %v, want ErrConflict", err)
	}
	urev, err := f.Update(ctx(t), "session.a", []byte("v2"), rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx(t), "unknown.key"); !errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("Get of a key nobody can vouch for = %v, want ErrUnavailable", err)
	}
	if st.LocalWrites.Load() != 2 || st.DownSince.Load() == 0 {
		t.Errorf("stats: %d local writes (want 2), down since %d", st.LocalWrites.Load(), st.DownSince.Load())
	}

	up(p, clock)
	// Before Sync: the local value wins over the primary's stale v1.
	if e, err := f.Get(ctx(t), "session.a"); err != nil || string(e.Value) != "v2" || e.Revision != urev {
		t.Fatalf("Get after the outage = %q@%d, %v; want v2@%d", e.Value, e.Revision, err, urev)
	}
	if n, err := f.Sync(ctx(t), 100); err != nil || n != 0 {
		t.Fatalf("Sync = %d, %v", n, err)
	}
	for k, want := range map[string]string{"session.a": "v2", "code.new": "fresh"} {
		e, err := p.Bucket.Get(ctx(t), k)
		if err != nil || string(e.Value) != want {
			t.Fatalf("primary %s = %q, %v; want %q", k, e.Value, err, want)
		}
		got, err := f.Get(ctx(t), k)
		if err != nil || got.Revision != e.Revision {
			t.Fatalf("%s after Sync: revision %d, %v; want the primary's %d", k, got.Revision, err, e.Revision)
		}
	}
	e, _ := f.Get(ctx(t), "code.new")
	if _, err := f.Update(ctx(t), "code.new", []byte("on the primary"), e.Revision); err != nil {
		t.Fatalf("Update with the primary's revision after promotion: %v", err)
	}
	if st.Promoted.Load() != 2 || st.LocalEntries.Load() != 0 {
		t.Errorf("stats: promoted %d (want 2), local entries %d (want 0)", st.Promoted.Load(), st.LocalEntries.Load())
	}
}

// A key another process created on the primary during the outage (a throttle counter)
// is the primary's: Sync drops this process's local entry instead of keeping it, so a
// lockout set elsewhere is not ignored here.
func TestFallbackPromotionConflict(t *testing.T) {
	p := newFlaky()
	f, clock, _ := newClocked(p, kv.FallbackConfig{MissWhileDown: kv.ErrNotFound})
	p.down.Store(true)
	if _, err := f.Create(ctx(t), "throttle.u", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Bucket.Create(ctx(t), "throttle.u", []byte("7")); err != nil { // elsewhere
		t.Fatal(err)
	}
	up(p, clock)
	if n, err := f.Sync(ctx(t), 100); err != nil || n != 0 {
		t.Fatalf("Sync = %d, %v; want nothing pending", n, err)
	}
	if e, err := f.Get(ctx(t), "throttle.u"); err != nil || string(e.Value) != "7" {
		t.Fatalf("Get = %q, %v; want the primary's 7", e.Value, err)
	}
}

// A bucket full of mirrors (every write of normal operation leaves one) still takes
// local writes during an outage: mirrors are evicted for them.
func TestFallbackFullOfMirrorsStillTakesLocalWrites(t *testing.T) {
	p := newFlaky()
	f, _, st := newClocked(p, kv.FallbackConfig{MaxBytes: 2000})
	for i := range 100 {
		if _, err := f.Create(ctx(t), fmt.Sprintf("up%03d", i), make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	p.down.Store(true)
	for i := range 10 {
		if _, err := f.Create(ctx(t), fmt.Sprintf("down%02d", i), make([]byte, 100)); err != nil {
			t.Fatalf("local write %d in a bucket full of mirrors: %v", i, err)
		}
	}
	if st.LocalEntries.Load() != 10 {
		t.Fatalf("%d local entries, want 10", st.LocalEntries.Load())
	}
	// Local entries are never evicted for other local entries: the bound holds.
	var full error
	for i := range 20 {
		if _, err := f.Create(ctx(t), fmt.Sprintf("more%02d", i), make([]byte, 100)); err != nil {
			full = err
			break
		}
	}
	if !errors.Is(full, kv.ErrFull) {
		t.Fatalf("local writes past MaxBytes: %v, want ErrFull", full)
	}
}

// An entry consumed here during the outage is never served again by the primary to this
// process, even before Sync ran: the queued delete is replayed first.
func TestFallbackReplaysTheDeleteBeforeThePrimary(t *testing.T) {
	p := newFlaky()
	f, clock, _ := newClocked(p, kv.FallbackConfig{})
	if _, err := f.Create(ctx(t), "authreq.1", []byte("r")); err != nil {
		t.Fatal(err)
	}
	p.down.Store(true)
	if _, err := f.Consume(ctx(t), "authreq.1"); err != nil {
		t.Fatal(err)
	}
	up(p, clock) // no Sync
	if _, err := f.Consume(ctx(t), "authreq.1"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("second Consume after the outage = %v, want ErrNotFound", err)
	}
	if _, err := p.Bucket.Get(ctx(t), "authreq.1"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("the primary still has the consumed entry: %v", err)
	}
}

// When the connection says it is down, the primary is not called at all; a primary that
// hangs costs one AttemptTimeout, then the cooldown keeps later calls off it.
func TestFallbackSkipsADeadPrimary(t *testing.T) {
	p := newFlaky()
	var connected atomic.Bool
	f := newFallback(p, kv.FallbackConfig{Up: connected.Load})
	if _, err := f.Create(ctx(t), "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if p.calls.Load() != 0 {
		t.Fatalf("the primary was called %d times with the connection down", p.calls.Load())
	}

	p2 := newFlaky()
	p2.hang.Store(true)
	f2 := newFallback(p2, kv.FallbackConfig{AttemptTimeout: 50 * time.Millisecond, Cooldown: time.Hour})
	for i := range 20 {
		if _, err := f2.Create(ctx(t), fmt.Sprintf("k%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if n := p2.calls.Load(); n != 1 {
		t.Fatalf("a hanging primary was called %d times, want 1 (then the cooldown)", n)
	}
}

// Memory is bounded: mirrors past MaxBytes evict older mirrors, and local writes past
// it are ErrFull (an ErrUnavailable), never an unbounded map.
func TestFallbackBounded(t *testing.T) {
	p := newFlaky()
	f, _, _ := newClocked(p, kv.FallbackConfig{MaxBytes: 1000})
	for i := range 20 {
		if _, err := f.Create(ctx(t), fmt.Sprintf("up%02d", i), make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	p.down.Store(true)
	kept := 0
	for i := range 20 {
		if _, err := f.Get(ctx(t), fmt.Sprintf("up%02d", i)); err == nil {
			kept++
		}
	}
	if kept == 0 || kept*(4+100) > 1000 {
		t.Fatalf("%d mirrors of 104 bytes kept in 1000 bytes", kept)
	}
	locals := 0
	var err error
	for i := range 20 {
		if _, err = f.Create(ctx(t), fmt.Sprintf("dn%02d", i), make([]byte, 100)); err != nil {
			break
		}
		locals++
	}
	if !errors.Is(err, kv.ErrFull) || !errors.Is(err, kv.ErrUnavailable) || locals*(4+100) > 1000 {
		t.Fatalf("after %d local writes: %v, want ErrFull within 1000 bytes", locals, err)
	}
}

// A logout during the outage (an unconditional delete) is replayed on the primary.
func TestFallbackDeleteReplayed(t *testing.T) {
	p := newFlaky()
	f, clock, _ := newClocked(p, kv.FallbackConfig{})
	if _, err := p.Bucket.Create(ctx(t), "session.b", []byte("other process")); err != nil {
		t.Fatal(err)
	}
	p.down.Store(true)
	if err := f.Delete(ctx(t), "session.b", 0); err != nil {
		t.Fatal(err)
	}
	up(p, clock)
	if _, err := f.Sync(ctx(t), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Bucket.Get(ctx(t), "session.b"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("the delete was not replayed: Get = %v", err)
	}
}

// After an outage with nothing to hand back, Sync finds out that the primary answers
// again and clears DownSince.
func TestFallbackSyncEndsTheOutage(t *testing.T) {
	p := newFlaky()
	f, clock, st := newClocked(p, kv.FallbackConfig{})
	p.down.Store(true)
	if _, err := f.Get(ctx(t), "a"); !errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("Get = %v", err)
	}
	if st.DownSince.Load() == 0 {
		t.Fatal("the outage is not on record")
	}
	up(p, clock)
	if _, err := f.Sync(ctx(t), 10); err != nil {
		t.Fatal(err)
	}
	if st.DownSince.Load() != 0 {
		t.Fatal("Sync did not notice the primary answering again")
	}
}

// An operation that finds no answer on a connection that reports itself up tells the
// stall hook (a blackholed path looks connected for minutes); one whose connection is
// known down does not, and neither does an answered one.
func TestFallbackStalledHook(t *testing.T) {
	p := newFlaky()
	var connected atomic.Bool
	connected.Store(true)
	var calls atomic.Int64
	f := newFallback(p, kv.FallbackConfig{Up: connected.Load, AttemptTimeout: 50 * time.Millisecond, Cooldown: time.Millisecond})
	f.SetStalled(func() { calls.Add(1) })

	if _, err := f.Create(ctx(t), "answered", []byte("x")); err != nil || calls.Load() != 0 {
		t.Fatalf("answered Create = %v, hook calls %d; want nil, 0", err, calls.Load())
	}
	p.hang.Store(true)
	if _, err := f.Create(ctx(t), "hangs", []byte("x")); err != nil {
		t.Fatalf("Create on a hanging primary = %v, want it done locally", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("hook calls after a timeout on a connection that looks up = %d, want 1", calls.Load())
	}
	connected.Store(false)
	time.Sleep(5 * time.Millisecond) // past the cooldown
	if _, err := f.Create(ctx(t), "down", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("hook calls with the connection known down = %d, want still 1", calls.Load())
	}
	f.SetStalled(nil)
	connected.Store(true)
	time.Sleep(5 * time.Millisecond)
	if _, err := f.Create(ctx(t), "unhooked", []byte("x")); err != nil || calls.Load() != 1 {
		t.Fatalf("Create after SetStalled(nil) = %v, hook calls %d; want nil, 1", err, calls.Load())
	}
}
