package kv_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/natsd"
)

// TestBudgetFitsEmbeddedStore: JetStream reserves every bucket's MaxBytes, so the login
// tier's buckets must fit the embedded server's store, with room left for other streams.
func TestBudgetFitsEmbeddedStore(t *testing.T) {
	if kv.TotalMaxBytes > natsd.DefaultMaxStore*7/8 {
		t.Fatalf("buckets take %d bytes of a %d-byte store", kv.TotalMaxBytes, natsd.DefaultMaxStore)
	}
}

// testLimits runs the limit checks every implementation shares on a bucket whose values
// are at most 1 KiB and which fills up after a few of them.
func testLimits(t *testing.T, b kv.Bucket, other kv.Bucket) {
	ctx := t.Context()
	const maxValue = 1 << 10
	exact, over := bytes.Repeat([]byte("v"), maxValue), bytes.Repeat([]byte("v"), maxValue+1)

	t.Run("value size", func(t *testing.T) {
		rev, err := b.Create(ctx, "exact", exact)
		if err != nil {
			t.Fatalf("Create(%d bytes): %v", len(exact), err)
		}
		calls := []struct {
			name string
			call func() error
		}{
			{"Create", func() error { _, err := b.Create(ctx, "over", over); return err }},
			{"Update", func() error { _, err := b.Update(ctx, "exact", over, rev); return err }},
			{"Put", func() error { _, err := b.Put(ctx, "exact", over); return err }},
		}
		for _, c := range calls {
			if err := c.call(); !errors.Is(err, kv.ErrTooLarge) || errors.Is(err, kv.ErrUnavailable) {
				t.Errorf("%s(%d bytes) = %v, want ErrTooLarge", c.name, len(over), err)
			}
		}
		if err := b.Delete(ctx, "exact", 0); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("full", func(t *testing.T) {
		var full error
		var keys []string
		for i := range 200 { // the bucket holds far fewer
			k := fmt.Sprintf("k%d", i)
			if _, err := b.Create(ctx, k, exact); err != nil {
				full = err
				break
			}
			keys = append(keys, k)
		}
		if !errors.Is(full, kv.ErrFull) || !errors.Is(full, kv.ErrUnavailable) {
			t.Fatalf("after %d values: err = %v, want ErrFull (an ErrUnavailable)", len(keys), full)
		}
		if len(keys) == 0 {
			t.Fatal("the bucket took nothing")
		}
		// Another bucket is not affected.
		if _, err := other.Create(ctx, "elsewhere", exact); err != nil {
			t.Fatalf("another bucket: %v", err)
		}
		// A full bucket still rewrites a key with a value no larger, consumes and deletes.
		if _, err := b.Put(ctx, keys[0], exact[:10]); err != nil {
			t.Fatalf("rewrite smaller in a full bucket: %v", err)
		}
		if e, err := b.Consume(ctx, keys[1]); err != nil || len(e.Value) != maxValue {
			t.Fatalf("Consume in a full bucket: %d bytes, %v", len(e.Value), err)
		}
		if err := b.Delete(ctx, keys[2], 0); err != nil {
			t.Fatalf("Delete in a full bucket: %v", err)
		}
		// The room freed takes new keys again.
		if _, err := b.Create(ctx, "again", exact); err != nil {
			t.Fatalf("Create after freeing room: %v", err)
		}
	})
}

func TestMemoryLimits(t *testing.T) {
	cfg := kv.MemoryConfig{TTL: time.Hour, MaxBytes: 8 << 10, MaxValueSize: 1 << 10}
	testLimits(t, kv.NewMemoryBucket(cfg), kv.NewMemoryBucket(cfg))
}

// TestMemoryFullUntilExpiry: expired entries give their room back, whether read since
// or not.
func TestMemoryFullUntilExpiry(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	b := kv.NewMemoryBucket(kv.MemoryConfig{TTL: time.Minute, Now: clock.Now, MaxBytes: 100})
	if _, err := b.Create(t.Context(), "a", make([]byte, 99)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(t.Context(), "b", []byte("x")); !errors.Is(err, kv.ErrFull) {
		t.Fatalf("Create in a full bucket = %v, want ErrFull", err)
	}
	clock.Advance(time.Minute)
	if _, err := b.Create(t.Context(), "b", make([]byte, 99)); err != nil {
		t.Fatalf("Create after the others expired: %v", err)
	}
}

func TestNATSLimits(t *testing.T) {
	open := func(name string, maxBytes int64) kv.Bucket {
		b, err := kv.OpenBucket(t.Context(), testJS, kv.BucketConfig{Name: name, TTL: time.Hour,
			MaxBytes: maxBytes, MaxValueSize: 1 << 10})
		if err != nil {
			t.Fatalf("OpenBucket: %v", err)
		}
		t.Cleanup(func() { deleteBucket(t, name) })
		return b
	}
	n := bucketSeq.Add(1)
	b := open(fmt.Sprintf("tiny_%d", n), 8<<10)
	other := open(fmt.Sprintf("neighbour_%d", n), 8<<10)
	testLimits(t, b, other)
}

// TestOpenLimits: every bucket Open makes has its size and the value bound, and the
// server enforces them too (for writers that are not this package).
func TestOpenLimits(t *testing.T) {
	ctx := t.Context()
	if _, err := kv.Open(ctx, testJS, kv.Options{Prefix: "limits"}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	tests := []struct {
		suffix   string
		maxBytes int64
		maxValue int
	}{
		{kv.AuthRequestsSuffix, kv.AuthRequestMaxBytes, kv.DefaultMaxValueSize},
		{kv.CodesSuffix, kv.CodeMaxBytes, kv.DefaultMaxValueSize},
		{kv.SessionsSuffix, kv.SessionMaxBytes, kv.DefaultMaxValueSize},
		{kv.DeviceCodesSuffix, kv.DeviceCodeMaxBytes, kv.DefaultMaxValueSize},
		{kv.ThrottleSuffix, kv.ThrottleMaxBytes, kv.DefaultMaxValueSize},
		{kv.RefreshSuffix, kv.RefreshMaxBytes, kv.DefaultMaxValueSize},
		{kv.ReplaySuffix, kv.ReplayMaxBytes, kv.ReplayMaxValueSize},
	}
	var total int64
	for _, tt := range tests {
		name := "limits_" + tt.suffix
		t.Cleanup(func() { deleteBucket(t, name) })
		t.Run(tt.suffix, func(t *testing.T) {
			h, err := testJS.KeyValue(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			st, err := h.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
			if c.MaxBytes != tt.maxBytes || int(c.MaxMsgSize) <= tt.maxValue || int(c.MaxMsgSize) > tt.maxValue+4<<10 {
				t.Fatalf("MaxBytes %d MaxMsgSize %d; want %d and a little over %d", c.MaxBytes, c.MaxMsgSize, tt.maxBytes, tt.maxValue)
			}
			total += c.MaxBytes
			// A raw write beyond the server's bound is refused by the server.
			if _, err := h.Put(ctx, "raw", make([]byte, c.MaxMsgSize+1)); err == nil {
				t.Fatal("the server took a value over its bound")
			}
		})
	}
	if total != kv.TotalMaxBytes {
		t.Errorf("buckets reserve %d bytes, TotalMaxBytes says %d", total, kv.TotalMaxBytes)
	}
}

// TestNewMemoryBucketsLimits: the in-memory buckets have the value bound of the NATS
// ones, so packages tested on memory meet it too.
func TestNewMemoryBucketsLimits(t *testing.T) {
	b := kv.NewMemoryBuckets(nil)
	for _, tt := range []struct {
		name     string
		bk       kv.Bucket
		maxValue int
	}{
		{"authreq", b.AuthRequests, kv.DefaultMaxValueSize}, {"codes", b.Codes, kv.DefaultMaxValueSize},
		{"sessions", b.Sessions, kv.DefaultMaxValueSize}, {"devicecodes", b.DeviceCodes, kv.DefaultMaxValueSize},
		{"throttle", b.Throttle, kv.DefaultMaxValueSize}, {"refresh", b.Refresh, kv.DefaultMaxValueSize},
		{"replay", b.Replay, kv.ReplayMaxValueSize},
	} {
		if tt.bk == nil {
			t.Errorf("%s: not made", tt.name)
			continue
		}
		if _, err := tt.bk.Put(t.Context(), "k", make([]byte, tt.maxValue+1)); !errors.Is(err, kv.ErrTooLarge) {
			t.Errorf("%s: Put over the bound = %v, want ErrTooLarge", tt.name, err)
		}
		if _, err := tt.bk.Put(t.Context(), "k", make([]byte, tt.maxValue)); err != nil {
			t.Errorf("%s: Put at the bound = %v", tt.name, err)
		}
	}
}
