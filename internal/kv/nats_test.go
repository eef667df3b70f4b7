package kv_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/kv/kvtest"
	"github.com/ninesid/nines/internal/natsd"
)

var bucketSeq atomic.Int64

// newNATSBucket returns a fresh bucket on the shared server, deleted after the test.
func newNATSBucket(t *testing.T, ttl time.Duration) kv.Bucket {
	t.Helper()
	b, _ := newNamedNATSBucket(t, ttl)
	return b
}

func newNamedNATSBucket(t *testing.T, ttl time.Duration) (kv.Bucket, string) {
	t.Helper()
	name := fmt.Sprintf("test_%d", bucketSeq.Add(1))
	b, err := kv.OpenBucket(t.Context(), testJS, kv.BucketConfig{Name: name, TTL: ttl})
	if err != nil {
		t.Fatalf("OpenBucket: %v", err)
	}
	t.Cleanup(func() { deleteBucket(t, name) })
	return b, name
}

// deleteBucket removes a test's bucket; t.Context is already cancelled in a cleanup.
func deleteBucket(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := testJS.DeleteKeyValue(ctx, name); err != nil {
		t.Errorf("delete bucket %s: %v", name, err)
	}
}

func TestNATS(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Bucket { return newNATSBucket(t, time.Hour) })
}

func TestNATSExpiry(t *testing.T) {
	const ttl = time.Second
	kvtest.RunExpiry(t, kvtest.Expiry{
		TTL:     ttl,
		New:     func(t *testing.T) kv.Bucket { return newNATSBucket(t, ttl) },
		Advance: func(_ *testing.T, d time.Duration) { time.Sleep(d) },
	})
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	b, err := kv.Open(ctx, testJS, kv.Options{Prefix: "open"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	tests := []struct {
		name   string
		bucket kv.Bucket
		ttl    time.Duration
	}{
		{"open_authreq", b.AuthRequests, kv.AuthRequestTTL},
		{"open_codes", b.Codes, kv.CodeTTL},
		{"open_sessions", b.Sessions, kv.SessionTTL},
		{"open_devicecodes", b.DeviceCodes, kv.DeviceCodeTTL},
		{"open_throttle", b.Throttle, kv.ThrottleTTL},
		{"open_refresh", b.Refresh, kv.RefreshTTL},
		{"open_replay", b.Replay, kv.ReplayTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bucket == nil {
				t.Fatal("bucket is nil")
			}
			h, err := testJS.KeyValue(ctx, tt.name)
			if err != nil {
				t.Fatalf("KeyValue: %v", err)
			}
			st, err := h.Status(ctx)
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
			if st.TTL() != tt.ttl || st.History() != 1 || info.Config.Storage != jetstream.FileStorage || info.Config.Replicas != 1 {
				t.Fatalf("config: ttl %s history %d storage %s replicas %d; want %s, 1, file, 1",
					st.TTL(), st.History(), info.Config.Storage, info.Config.Replicas, tt.ttl)
			}
			// Each bucket is its own namespace.
			if _, err := tt.bucket.Create(ctx, "shared-key", []byte(tt.name)); err != nil {
				t.Fatalf("Create: %v", err)
			}
		})
	}
	// Opening again keeps the buckets and their data.
	if _, err := b.Codes.Put(ctx, "reopen", []byte("open_codes")); err != nil {
		t.Fatal(err)
	}
	again, err := kv.Open(ctx, testJS, kv.Options{Prefix: "open"})
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	e, err := again.Codes.Get(ctx, "reopen")
	if err != nil || string(e.Value) != "open_codes" {
		t.Fatalf("Get after reopen = %q, %v; want open_codes", e.Value, err)
	}
	t.Cleanup(func() {
		for _, tt := range tests {
			deleteBucket(t, tt.name)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		o    kv.Options
	}{
		{"prefix with a dot", kv.Options{Prefix: "a.b"}},
		{"prefix with a space", kv.Options{Prefix: "a b"}},
		{"more replicas than servers", kv.Options{Prefix: "r3", Replicas: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := kv.Open(t.Context(), testJS, tt.o); err == nil {
				t.Fatal("Open succeeded")
			}
		})
	}
}

// TestNATSUnavailable: a closed connection is ErrUnavailable, for every method.
func TestNATSUnavailable(t *testing.T) {
	nc, err := testServer.Connect()
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("unavail_%d", bucketSeq.Add(1))
	b, err := kv.OpenBucket(t.Context(), js, kv.BucketConfig{Name: name, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteBucket(t, name) })
	rev, err := b.Create(t.Context(), "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := b.Get(ctx, "k"); return err }},
		{"Create", func() error { _, err := b.Create(ctx, "n", []byte("v")); return err }},
		{"Update", func() error { _, err := b.Update(ctx, "k", []byte("v"), rev); return err }},
		{"Put", func() error { _, err := b.Put(ctx, "k", []byte("v")); return err }},
		{"Delete", func() error { return b.Delete(ctx, "k", 0) }},
		{"Consume", func() error { _, err := b.Consume(ctx, "k"); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, kv.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
		})
	}
}

// TestNATSDurable: what was written before the server stopped is there after it starts
// again on the same store, and a consume is durable too.
func TestNATSDurable(t *testing.T) {
	dir := t.TempDir()
	type step struct {
		name string
		run  func(t *testing.T, b kv.Buckets)
	}
	steps := []step{
		{"write", func(t *testing.T, b kv.Buckets) {
			if _, err := b.Sessions.Create(t.Context(), "sess", []byte("alive")); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Codes.Create(t.Context(), "code", []byte("once")); err != nil {
				t.Fatal(err)
			}
		}},
		{"read and consume", func(t *testing.T, b kv.Buckets) {
			e, err := b.Sessions.Get(t.Context(), "sess")
			if err != nil || string(e.Value) != "alive" {
				t.Fatalf("Get(sess) = %q, %v; want alive", e.Value, err)
			}
			e, err = b.Codes.Consume(t.Context(), "code")
			if err != nil || string(e.Value) != "once" {
				t.Fatalf("Consume(code) = %q, %v; want once", e.Value, err)
			}
		}},
		{"consumed stays consumed", func(t *testing.T, b kv.Buckets) {
			if _, err := b.Codes.Consume(t.Context(), "code"); !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("Consume(code) after restart: %v, want ErrNotFound", err)
			}
			if _, err := b.Sessions.Get(t.Context(), "sess"); err != nil {
				t.Fatalf("Get(sess): %v", err)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			srv, err := natsd.Start(t.Context(), natsd.Options{StoreDir: dir, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Shutdown()
			nc, err := srv.Connect()
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			b, err := kv.Open(t.Context(), js, kv.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.run(t, b)
		})
	}
}

// TestNATSPurgedKey: a key purged by another client (a PURGE marker, not a DEL) is gone
// for every method, and Create writes over the marker.
func TestNATSPurgedKey(t *testing.T) {
	ctx := t.Context()
	b, name := newNamedNATSBucket(t, time.Hour)
	rev, err := b.Create(ctx, "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := testJS.KeyValue(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Purge(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get(purged) = %v, want ErrNotFound", err)
	}
	if _, err := b.Consume(ctx, "k"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Consume(purged) = %v, want ErrNotFound", err)
	}
	if _, err := b.Update(ctx, "k", []byte("v2"), rev); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("Update(purged) = %v, want ErrConflict", err)
	}
	rev2, err := b.Create(ctx, "k", []byte("again"))
	if err != nil || rev2 <= rev {
		t.Fatalf("Create(purged) = %d, %v; want a revision > %d", rev2, err, rev)
	}
	if e, err := b.Consume(ctx, "k"); err != nil || string(e.Value) != "again" {
		t.Fatalf("Consume = %q, %v; want again", e.Value, err)
	}
}
