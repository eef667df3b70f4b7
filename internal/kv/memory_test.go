package kv_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/kv/kvtest"
)

func TestMemory(t *testing.T) {
	kvtest.Run(t, func(*testing.T) kv.Bucket { return kv.NewMemory(time.Hour, nil) })
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMemoryExpiry(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	kvtest.RunExpiry(t, kvtest.Expiry{
		TTL:     10 * time.Minute,
		New:     func(*testing.T) kv.Bucket { return kv.NewMemory(10*time.Minute, clock.Now) },
		Advance: func(_ *testing.T, d time.Duration) { clock.Advance(d) },
		Exact:   true,
	})
}

// TestMemorySweep: expired entries are dropped from memory by later writes, not only
// when read again.
func TestMemorySweep(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	b := kv.NewMemory(time.Minute, clock.Now).(*kv.Memory)
	ctx := t.Context()
	for i := range 2000 {
		if _, err := b.Put(ctx, "old"+strconv.Itoa(i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	for i := range 2000 {
		if _, err := b.Put(ctx, "new"+strconv.Itoa(i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Len(); n > 2000+1024 {
		t.Fatalf("%d entries held after 2000 expired and 2000 live, want at most %d", n, 2000+1024)
	}
}

// TestMemoryBuckets: each bucket is its own namespace with its own TTL.
func TestMemoryBuckets(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	b := kv.NewMemoryBuckets(clock.Now)
	tests := []struct {
		name   string
		bucket kv.Bucket
		ttl    time.Duration
	}{
		{"authreq", b.AuthRequests, kv.AuthRequestTTL},
		{"codes", b.Codes, kv.CodeTTL},
		{"sessions", b.Sessions, kv.SessionTTL},
		{"devicecodes", b.DeviceCodes, kv.DeviceCodeTTL},
		{"throttle", b.Throttle, kv.ThrottleTTL},
		{"refresh", b.Refresh, kv.RefreshTTL},
		{"replay", b.Replay, kv.ReplayTTL},
	}
	for _, tt := range tests {
		if _, err := tt.bucket.Create(t.Context(), "k", []byte(tt.name)); err != nil {
			t.Fatalf("%s: Create: %v", tt.name, err)
		}
	}
	var elapsed time.Duration
	for _, tt := range []time.Duration{kv.ReplayTTL, kv.CodeTTL, kv.AuthRequestTTL, kv.SessionTTL, kv.RefreshTTL} {
		clock.Advance(tt - elapsed)
		elapsed = tt
		for _, b := range tests {
			_, err := b.bucket.Get(t.Context(), "k")
			if gone := errors.Is(err, kv.ErrNotFound); gone != (b.ttl <= elapsed) {
				t.Fatalf("after %s: %s Get = %v, want gone=%v", elapsed, b.name, err, b.ttl <= elapsed)
			}
		}
	}
}
