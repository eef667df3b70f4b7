// Package kvtest is the conformance suite every kv.Bucket implementation passes: the
// in-memory bucket and the NATS one run the same tests, so a test that passes on memory
// says the same thing about production. It is imported by tests only and must never
// depend on a particular implementation.
package kvtest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/kv"
)

// opTimeout bounds every call the suite makes.
const opTimeout = 10 * time.Second

// Run runs the suite. newBucket returns a fresh, empty bucket whose entries live at
// least a minute; the suite calls it once per subtest.
func Run(t *testing.T, newBucket func(t *testing.T) kv.Bucket) {
	t.Run("get", func(t *testing.T) { testGet(t, newBucket(t)) })
	t.Run("create", func(t *testing.T) { testCreate(t, newBucket(t)) })
	t.Run("update", func(t *testing.T) { testUpdate(t, newBucket(t)) })
	t.Run("put", func(t *testing.T) { testPut(t, newBucket(t)) })
	t.Run("delete", func(t *testing.T) { testDelete(t, newBucket(t)) })
	t.Run("consume", func(t *testing.T) { testConsume(t, newBucket(t)) })
	t.Run("values", func(t *testing.T) { testValues(t, newBucket(t)) })
	t.Run("keys", func(t *testing.T) { testKeys(t, newBucket(t)) })
	t.Run("cancelled", func(t *testing.T) { testCancelled(t, newBucket(t)) })
	t.Run("race", func(t *testing.T) { runRaces(t, newBucket) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// mustCreate creates key and returns its revision.
func mustCreate(t *testing.T, b kv.Bucket, key, value string) uint64 {
	t.Helper()
	rev, err := b.Create(ctxT(t), key, []byte(value))
	if err != nil {
		t.Fatalf("Create(%s): %v", key, err)
	}
	if rev == 0 {
		t.Fatalf("Create(%s): revision 0", key)
	}
	return rev
}

// wantValue checks that key holds value at revision rev (rev 0: any).
func wantValue(t *testing.T, b kv.Bucket, key, value string, rev uint64) {
	t.Helper()
	e, err := b.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	if e.Key != key || string(e.Value) != value || (rev != 0 && e.Revision != rev) {
		t.Fatalf("Get(%s) = {%s %q %d}, want {%s %q %d}", key, e.Key, e.Value, e.Revision, key, value, rev)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func wantGone(t *testing.T, b kv.Bucket, key string) {
	t.Helper()
	_, err := b.Get(ctxT(t), key)
	wantErr(t, "Get("+key+")", err, kv.ErrNotFound)
}

func testGet(t *testing.T, b kv.Bucket) {
	ctx := ctxT(t)
	_, err := b.Get(ctx, "never")
	wantErr(t, "Get(never)", err, kv.ErrNotFound)
	rev := mustCreate(t, b, "k", "v1")
	wantValue(t, b, "k", "v1", rev)
	// Another key is untouched by k.
	_, err = b.Get(ctx, "k2")
	wantErr(t, "Get(k2)", err, kv.ErrNotFound)
}

func testCreate(t *testing.T, b kv.Bucket) {
	ctx := ctxT(t)
	rev := mustCreate(t, b, "k", "v1")
	_, err := b.Create(ctx, "k", []byte("v2"))
	wantErr(t, "Create(existing)", err, kv.ErrExists)
	wantValue(t, b, "k", "v1", rev)

	// After a delete or a consume the key can be created again, with a newer revision.
	if err := b.Delete(ctx, "k", 0); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	rev2 := mustCreate(t, b, "k", "v3")
	if rev2 <= rev {
		t.Fatalf("revision after re-create = %d, want > %d", rev2, rev)
	}
	wantValue(t, b, "k", "v3", rev2)
	if _, err := b.Consume(ctx, "k"); err != nil {
		t.Fatalf("Consume: %v", err)
	}
	rev3 := mustCreate(t, b, "k", "v4")
	if rev3 <= rev2 {
		t.Fatalf("revision after consume and create = %d, want > %d", rev3, rev2)
	}
	wantValue(t, b, "k", "v4", rev3)
}

func testUpdate(t *testing.T, b kv.Bucket) {
	ctx := ctxT(t)
	rev := mustCreate(t, b, "k", "v1")
	rev2, err := b.Update(ctx, "k", []byte("v2"), rev)
	if err != nil {
		t.Fatalf("Update(latest): %v", err)
	}
	if rev2 <= rev {
		t.Fatalf("Update revision = %d, want > %d", rev2, rev)
	}
	wantValue(t, b, "k", "v2", rev2)

	tests := []struct {
		name string
		key  string
		rev  uint64
		want error
	}{
		{"stale revision", "k", rev, kv.ErrConflict},
		{"future revision", "k", rev2 + 1000, kv.ErrConflict},
		{"missing key", "missing", rev2, kv.ErrConflict},
		{"revision zero", "k", 0, kv.ErrInvalidRevision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Update(ctxT(t), tt.key, []byte("bad"), tt.rev)
			wantErr(t, "Update", err, tt.want)
			wantValue(t, b, "k", "v2", rev2)
		})
	}

	t.Run("deleted key", func(t *testing.T) {
		ctx := ctxT(t)
		r := mustCreate(t, b, "d", "x")
		if err := b.Delete(ctx, "d", 0); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		_, err := b.Update(ctx, "d", []byte("y"), r)
		wantErr(t, "Update(deleted)", err, kv.ErrConflict)
		wantGone(t, b, "d")
	})
}

func testPut(t *testing.T, b kv.Bucket) {
	ctx := ctxT(t)
	rev, err := b.Put(ctx, "k", []byte("v1"))
	if err != nil || rev == 0 {
		t.Fatalf("Put(new) = %d, %v", rev, err)
	}
	wantValue(t, b, "k", "v1", rev)
	rev2, err := b.Put(ctx, "k", []byte("v2"))
	if err != nil || rev2 <= rev {
		t.Fatalf("Put(existing) = %d, %v; want revision > %d", rev2, err, rev)
	}
	wantValue(t, b, "k", "v2", rev2)
	// The old revision no longer updates.
	_, err = b.Update(ctx, "k", []byte("v3"), rev)
	wantErr(t, "Update(old revision)", err, kv.ErrConflict)
}

func testDelete(t *testing.T, b kv.Bucket) {
	tests := []struct {
		name    string
		create  bool
		rev     func(created uint64) uint64
		want    error
		remains bool
	}{
		{"unconditional", true, func(uint64) uint64 { return 0 }, nil, false},
		{"latest revision", true, func(r uint64) uint64 { return r }, nil, false},
		{"stale revision", true, func(r uint64) uint64 { return r - 1 }, kv.ErrConflict, true},
		{"future revision", true, func(r uint64) uint64 { return r + 1000 }, kv.ErrConflict, true},
		{"absent, unconditional", false, func(uint64) uint64 { return 0 }, nil, false},
		{"absent, with revision", false, func(uint64) uint64 { return 1 }, kv.ErrConflict, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctxT(t)
			key := "k" + string(rune('a'+i))
			var rev uint64
			if tt.create {
				// Two writes, so that rev-1 is a real, older revision of another write.
				mustCreate(t, b, key+"x", "other")
				rev = mustCreate(t, b, key, "v")
			}
			err := b.Delete(ctx, key, tt.rev(rev))
			if tt.want == nil && err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if tt.want != nil {
				wantErr(t, "Delete", err, tt.want)
			}
			if tt.remains {
				wantValue(t, b, key, "v", rev)
			} else {
				wantGone(t, b, key)
			}
		})
	}
}

func testConsume(t *testing.T, b kv.Bucket) {
	ctx := ctxT(t)
	_, err := b.Consume(ctx, "missing")
	wantErr(t, "Consume(missing)", err, kv.ErrNotFound)

	rev := mustCreate(t, b, "k", "v1")
	e, err := b.Consume(ctx, "k")
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if e.Key != "k" || string(e.Value) != "v1" || e.Revision != rev {
		t.Fatalf("Consume = {%s %q %d}, want {k \"v1\" %d}", e.Key, e.Value, e.Revision, rev)
	}
	_, err = b.Consume(ctx, "k")
	wantErr(t, "second Consume", err, kv.ErrNotFound)
	wantGone(t, b, "k")
	_, err = b.Update(ctx, "k", []byte("again"), rev)
	wantErr(t, "Update(consumed)", err, kv.ErrConflict)

	// Consume takes the latest value, not the first one.
	rev = mustCreate(t, b, "u", "old")
	rev2, err := b.Update(ctx, "u", []byte("new"), rev)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	e, err = b.Consume(ctx, "u")
	if err != nil || string(e.Value) != "new" || e.Revision != rev2 {
		t.Fatalf("Consume(updated) = {%q %d}, %v; want {\"new\" %d}", e.Value, e.Revision, err, rev2)
	}

	// A deleted key cannot be consumed.
	mustCreate(t, b, "d", "x")
	if err := b.Delete(ctx, "d", 0); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = b.Consume(ctx, "d")
	wantErr(t, "Consume(deleted)", err, kv.ErrNotFound)
}

// testValues: values are opaque bytes, copied in and out.
func testValues(t *testing.T, b kv.Bucket) {
	ctx := ctxT(t)
	tests := []struct {
		name  string
		value []byte
	}{
		{"empty", []byte{}},
		{"binary", []byte{0, 1, 2, 0xff, '\r', '\n'}},
		{"session sized", bytes.Repeat([]byte("s"), 300)},
		{"large", bytes.Repeat([]byte("L"), 64<<10)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "v" + string(rune('a'+i))
			in := append([]byte(nil), tt.value...)
			if _, err := b.Create(ctx, key, in); err != nil {
				t.Fatalf("Create: %v", err)
			}
			for j := range in {
				in[j] ^= 0xff // the caller's slice is not kept
			}
			e, err := b.Get(ctx, key)
			if err != nil || !bytes.Equal(e.Value, tt.value) {
				t.Fatalf("Get = %d bytes, %v; want the %d bytes written", len(e.Value), err, len(tt.value))
			}
			for j := range e.Value {
				e.Value[j] ^= 0xff // nor is the returned one shared
			}
			e, err = b.Consume(ctx, key)
			if err != nil || !bytes.Equal(e.Value, tt.value) {
				t.Fatalf("Consume = %d bytes, %v; want the %d bytes written", len(e.Value), err, len(tt.value))
			}
		})
	}
}

func testKeys(t *testing.T, b kv.Bucket) {
	valid := []string{"a", "A-b_c=d.e", "tenant.0190b7e4.code.q83vEjRWeJA", strings.Repeat("k", kv.MaxKeyLen)}
	for _, key := range valid {
		t.Run("valid "+key[:min(len(key), 20)], func(t *testing.T) {
			mustCreate(t, b, key, "v")
			wantValue(t, b, key, "v", 0)
		})
	}
	invalid := []struct{ name, key string }{
		{"empty", ""},
		{"too long", strings.Repeat("k", kv.MaxKeyLen+1)},
		{"space", "a b"},
		{"wildcard star", "a.*"},
		{"wildcard gt", "a.>"},
		{"slash", "a/b"},
		{"non-ascii", "clé"},
		{"leading dot", ".a"},
		{"trailing dot", "a."},
		{"empty token", "a..b"},
		{"nul", "a\x00b"},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.name, func(t *testing.T) {
			ctx := ctxT(t)
			_, err := b.Get(ctx, tt.key)
			wantErr(t, "Get", err, kv.ErrInvalidKey)
			_, err = b.Create(ctx, tt.key, []byte("v"))
			wantErr(t, "Create", err, kv.ErrInvalidKey)
			_, err = b.Update(ctx, tt.key, []byte("v"), 1)
			wantErr(t, "Update", err, kv.ErrInvalidKey)
			_, err = b.Put(ctx, tt.key, []byte("v"))
			wantErr(t, "Put", err, kv.ErrInvalidKey)
			wantErr(t, "Delete", b.Delete(ctx, tt.key, 0), kv.ErrInvalidKey)
			_, err = b.Consume(ctx, tt.key)
			wantErr(t, "Consume", err, kv.ErrInvalidKey)
		})
	}
}

// testCancelled: a cancelled context is ErrUnavailable wrapping the context's error, and
// changes nothing.
func testCancelled(t *testing.T, b kv.Bucket) {
	rev := mustCreate(t, b, "k", "v")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := b.Get(ctx, "k"); return err }},
		{"Create", func() error { _, err := b.Create(ctx, "new", []byte("v")); return err }},
		{"Update", func() error { _, err := b.Update(ctx, "k", []byte("v2"), rev); return err }},
		{"Put", func() error { _, err := b.Put(ctx, "k", []byte("v2")); return err }},
		{"Delete", func() error { return b.Delete(ctx, "k", 0) }},
		{"Consume", func() error { _, err := b.Consume(ctx, "k"); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			wantErr(t, c.name, err, kv.ErrUnavailable)
			wantErr(t, c.name, err, context.Canceled)
		})
	}
	wantValue(t, b, "k", "v", rev)
	wantGone(t, b, "new")
}
