package kvtest

import (
	"errors"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/kv"
)

// Expiry describes how to test a bucket's TTL.
type Expiry struct {
	// TTL of the buckets New returns.
	TTL time.Duration
	// New returns a fresh, empty bucket whose entries expire TTL after their last write.
	New func(t *testing.T) kv.Bucket
	// Advance lets at least d pass for the bucket: a fake clock moves, a real one sleeps.
	Advance func(t *testing.T, d time.Duration)
	// Exact says that Advance moves the bucket's clock by exactly d (a fake clock); the
	// suite then also checks that an entry is alive just before its TTL and that a write
	// restarts the TTL, which would be timing assertions on a real clock.
	Exact bool
}

// Expiry bounds: a real server removes expired entries on its own timer, so after TTL
// has passed the suite polls until the entry is gone, at most this many times.
const (
	expiryPolls    = 200
	expiryPollWait = 100 * time.Millisecond
)

// RunExpiry runs the TTL tests.
func RunExpiry(t *testing.T, x Expiry) {
	t.Run("expires", func(t *testing.T) {
		b := x.New(t)
		ctx := ctxT(t)
		rev := mustCreate(t, b, "k", "v")
		mustCreate(t, b, "c", "v")
		if x.Exact {
			x.Advance(t, x.TTL-time.Millisecond)
			wantValue(t, b, "k", "v", rev)
			x.Advance(t, time.Millisecond)
		} else {
			x.Advance(t, x.TTL)
		}
		waitGone(t, b, "k")
		_, err := b.Consume(ctx, "c")
		wantErr(t, "Consume(expired)", err, kv.ErrNotFound)
		_, err = b.Update(ctx, "k", []byte("v2"), rev)
		wantErr(t, "Update(expired)", err, kv.ErrConflict)
		wantErr(t, "Delete(expired, rev)", b.Delete(ctx, "k", rev), kv.ErrConflict)
		rev2 := mustCreate(t, b, "k", "again")
		wantValue(t, b, "k", "again", rev2)
	})
	if !x.Exact {
		return
	}
	t.Run("write restarts TTL", func(t *testing.T) {
		b := x.New(t)
		ctx := ctxT(t)
		rev := mustCreate(t, b, "k", "v")
		x.Advance(t, x.TTL/2)
		rev, err := b.Update(ctx, "k", []byte("v2"), rev)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		x.Advance(t, x.TTL/2)
		wantValue(t, b, "k", "v2", rev)
		if _, err := b.Put(ctx, "k", []byte("v3")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		x.Advance(t, x.TTL-time.Millisecond)
		wantValue(t, b, "k", "v3", 0)
		x.Advance(t, time.Millisecond)
		wantGone(t, b, "k")
	})
}

// waitGone polls until key is gone, a bounded number of times.
func waitGone(t *testing.T, b kv.Bucket, key string) {
	t.Helper()
	for range expiryPolls {
		_, err := b.Get(ctxT(t), key)
		if errors.Is(err, kv.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("Get(%s): %v", key, err)
		}
		time.Sleep(expiryPollWait)
	}
	t.Fatalf("%s still there %s after its TTL", key, expiryPolls*expiryPollWait)
}
