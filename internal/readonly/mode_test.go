package readonly

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/kv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestAutomaticEntersAndLeavesWithoutFlapping(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	healthy := true
	m := New(Config{PrimaryHealthy: func() bool { return healthy }, EnterAfter: time.Second,
		LeaveAfter: 3 * time.Second, Logger: quiet, Now: clk.now})
	step := func(d time.Duration) string {
		clk.add(d)
		m.Refresh(context.Background())
		mode, _, _ := m.State()
		return mode
	}
	steps := []struct {
		name    string
		healthy bool
		after   time.Duration
		want    string
	}{
		{"healthy", true, 0, Normal},
		{"just down", false, 250 * time.Millisecond, Normal},
		{"down 750ms", false, 500 * time.Millisecond, Normal},
		{"down 1s", false, 500 * time.Millisecond, ReadOnly},
		{"back briefly", true, 250 * time.Millisecond, ReadOnly},
		{"down again", false, 250 * time.Millisecond, ReadOnly},
		{"back", true, 250 * time.Millisecond, ReadOnly},
		{"back 2s", true, 2 * time.Second, ReadOnly},
		{"back 3s", true, time.Second, Normal},
		{"stays normal", true, time.Minute, Normal},
	}
	for _, s := range steps {
		healthy = s.healthy
		if got := step(s.after); got != s.want {
			t.Fatalf("%s: mode %q, want %q (status %+v)", s.name, got, s.want, m.Status())
		}
	}
}

func TestAutomaticReasonAndSince(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := New(Config{PrimaryHealthy: func() bool { return false }, Logger: quiet, Now: clk.now})
	m.Refresh(t.Context())
	clk.add(DefaultEnterAfter)
	m.Refresh(t.Context())
	s := m.Status()
	if !s.ReadOnly() || !s.Automatic || s.Reason == "" || !s.Since.Equal(clk.now()) {
		t.Fatalf("status %+v, want automatic read-only since %v with a reason", s, clk.now())
	}
}

func TestExplicitSwitch(t *testing.T) {
	m := New(Config{Logger: quiet})
	s, err := m.Set(t.Context(), true, "database upgrade", "token ops")
	if err != nil {
		t.Fatal(err)
	}
	if !s.ReadOnly() || s.Automatic || s.Explicit.By != "token ops" || s.Reason != "switched on by an operator: database upgrade" {
		t.Fatalf("after on: %+v", s)
	}
	if s, _ = m.Set(t.Context(), false, "", "token ops"); s.ReadOnly() {
		t.Fatalf("after off: %+v", s)
	}
	if _, err := m.Set(t.Context(), true, string(make([]byte, MaxReasonLen+1)), "x"); err == nil {
		t.Fatal("an over-long reason was accepted")
	}
}

// TestSharedSwitch: two processes on one control bucket see each other's switch.
func TestSharedSwitch(t *testing.T) {
	bucket := kv.NewMemoryBucket(kv.MemoryConfig{})
	a := New(Config{Control: bucket, Logger: quiet})
	b := New(Config{Control: bucket, Logger: quiet})
	if _, err := a.Set(t.Context(), true, "maintenance", "token a"); err != nil {
		t.Fatal(err)
	}
	b.Refresh(t.Context())
	if s := b.Status(); !s.ReadOnly() || !s.Shared || s.Explicit.Reason != "maintenance" {
		t.Fatalf("the other process: %+v", s)
	}
	if _, err := b.Set(t.Context(), false, "", "token b"); err != nil {
		t.Fatal(err)
	}
	a.Refresh(t.Context())
	if s := a.Status(); s.ReadOnly() {
		t.Fatalf("the first process after off elsewhere: %+v", s)
	}
}

// failingBucket fails every call, like a KV whose server is down.
type failingBucket struct{ kv.Bucket }

func (failingBucket) Get(context.Context, string) (kv.Entry, error) {
	return kv.Entry{}, kv.ErrUnavailable
}
func (failingBucket) Put(context.Context, string, []byte) (uint64, error) {
	return 0, kv.ErrUnavailable
}

func TestSharedSwitchUnavailable(t *testing.T) {
	m := New(Config{Control: failingBucket{}, Logger: quiet})
	if _, err := m.Set(t.Context(), true, "", "x"); err == nil {
		t.Fatal("Set succeeded with the KV down")
	}
	m.Refresh(t.Context())
	if s := m.Status(); s.ReadOnly() {
		t.Fatalf("status %+v after a failed Set", s)
	}
}
