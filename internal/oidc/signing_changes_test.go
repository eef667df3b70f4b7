package oidc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/tenant"
)

// SigningKeySet is the world's KeyReader: the tenant's keys and its key generation.
func (w *world) SigningKeySet(ctx context.Context, tid uuid.UUID) ([]keys.Key, int64, error) {
	ks, err := w.SigningKeys(ctx, tid)
	if err != nil {
		return nil, 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, tn := range w.tenants {
		if tn.ID == tid {
			return ks, tn.KeyGeneration, nil
		}
	}
	return ks, 0, nil
}

// rotateKeys rotates slug's keys as the admin API does (keys.Rotate, key_generation + 1)
// and returns the tenant after it.
func (w *world) rotateKeys(t *testing.T, slug string) tenant.Tenant {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	tn := w.tenants[slug]
	rotated, err := keys.Rotate(w.keys[tn.ID], tn.ID, w.kek)
	if err != nil {
		t.Fatal(err)
	}
	tn.KeyGeneration++
	w.keys[tn.ID], w.tenants[slug] = rotated, tn
	return tn
}

// kidOf returns the "kid" header of a compact JWS.
func kidOf(t *testing.T, jws string) string {
	t.Helper()
	h, _, _ := strings.Cut(jws, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("JWS header: %v", err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// jwksKids fetches slug's JWKS and returns its kids.
func jwksKids(t *testing.T, w *world, slug string) map[string]bool {
	t.Helper()
	resp, err := http.Get(w.issuer(slug) + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS: %d %v", resp.StatusCode, err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.Kid] = true
	}
	return kids
}

// TestKeysChangedSignsWithTheRotatedKey: without a notification a rotation waits for
// the cache TTL; with one, the next token is signed with the new current key and the
// JWKS publishes the new next key, with the clock still inside the TTL.
func TestKeysChangedSignsWithTheRotatedKey(t *testing.T) {
	w := newWorld(t)
	before, _ := grantTokens(t, w, "acme", "web")
	oldKid := kidOf(t, str(before, "id_token"))
	tn := w.rotateKeys(t, "acme")
	w.mu.Lock()
	cur, _ := keys.Find(w.keys[tn.ID], keys.RS256, keys.Current)
	next, _ := keys.Find(w.keys[tn.ID], keys.RS256, keys.Next)
	w.mu.Unlock()
	if cur.ID == oldKid {
		t.Fatal("the rotation kept the current key")
	}

	// No notification: the cached keys still sign (the TTL has not passed).
	stale, _ := grantTokens(t, w, "acme", "web")
	if k := kidOf(t, str(stale, "id_token")); k != oldKid {
		t.Fatalf("without a notification the ID token is signed by %s, want the cached %s", k, oldKid)
	}
	if jwksKids(t, w, "acme")[next.ID] {
		t.Fatal("the JWKS shows the new next key before any notification or TTL")
	}

	w.p.KeysChanged(t.Context(), tn.ID, tn.KeyGeneration)
	after, _ := grantTokens(t, w, "acme", "web")
	for name, tok := range map[string]string{"ID token": str(after, "id_token"), "access token": str(after, "access_token")} {
		if k := kidOf(t, tok); k != cur.ID {
			t.Errorf("after the notification the %s is signed by %s, want the new current key %s", name, k, cur.ID)
		}
	}
	if kids := jwksKids(t, w, "acme"); !kids[next.ID] || !kids[cur.ID] || !kids[oldKid] {
		t.Errorf("JWKS after the notification = %v, want the new next %s, current %s and previous %s", kids, next.ID, cur.ID, oldKid)
	}
	// The ID token verifies against the published keys.
	if _, err := newRP(t, w, "acme", "web").verifier.Verify(t.Context(), str(after, "id_token")); err != nil {
		t.Errorf("ID token after the notification: %v", err)
	}
}

// lagReader is a KeyReader in front of a replica that lags: the generation it shows
// switches from old to new after `lag` more reads once rotate is called, or never.
type lagReader struct {
	mu       sync.Mutex
	tid      uuid.UUID
	old, new []keys.Key
	rotated  bool
	lag      int // reads still answered with the old set after rotate; -1: forever
	reads    int
}

func (r *lagReader) SigningKeySet(context.Context, uuid.UUID) ([]keys.Key, int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	if !r.rotated {
		return r.old, 1, nil
	}
	if r.lag != 0 {
		if r.lag > 0 {
			r.lag--
		}
		return r.old, 1, nil
	}
	return r.new, 2, nil
}

func (r *lagReader) readCount() int { r.mu.Lock(); defer r.mu.Unlock(); return r.reads }

// rotate makes the primary's generation 2; the next lag reads still show 1.
func (r *lagReader) rotate(lag int) { r.mu.Lock(); r.rotated, r.lag = true, lag; r.mu.Unlock() }

// setLag changes how many more reads lag.
func (r *lagReader) setLag(lag int) { r.mu.Lock(); r.lag = lag; r.mu.Unlock() }

// lagCache is a key cache over a lagReader whose keys rotate from generation 1 to 2.
type lagCache struct {
	c            *keyCache
	r            *lagReader
	tid          uuid.UUID
	oldKid       string
	newKid       string
	mu           sync.Mutex // guards now
	now          time.Time
	logs         *lockedBuffer
	cancelNotify context.CancelFunc
	notifyCtx    context.Context
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newLagCache(t *testing.T, backoff ...time.Duration) *lagCache {
	t.Helper()
	kek := make([]byte, keys.KEKSize)
	_, _ = rand.Read(kek)
	tid := uuid.Must(uuid.NewV7())
	old, err := keys.NewSet(tid, kek)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := keys.Rotate(old, tid, kek)
	if err != nil {
		t.Fatal(err)
	}
	oldCur, _ := keys.Find(old, keys.ES256, keys.Current)
	newCur, _ := keys.Find(rotated, keys.ES256, keys.Current)
	lc := &lagCache{r: &lagReader{tid: tid, old: old, new: rotated}, tid: tid, oldKid: oldCur.ID, newKid: newCur.ID,
		now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC), logs: &lockedBuffer{}}
	lc.c = newKeyCache(lc.r, kek, time.Minute, func() time.Time { lc.mu.Lock(); defer lc.mu.Unlock(); return lc.now })
	lc.c.backoff = backoff
	lc.c.log = slog.New(slog.NewTextHandler(lc.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	lc.notifyCtx, lc.cancelNotify = context.WithCancel(context.Background())
	t.Cleanup(func() {
		lc.cancelNotify()
		lc.waitSettled(t) // no retry goroutine outlives the test
	})
	return lc
}

// kid signs with the cache and returns the key's kid.
func (lc *lagCache) kid(t *testing.T) string {
	t.Helper()
	s, _, err := lc.c.signer(t.Context(), lc.tid, keys.ES256, "JWT")
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sign(s, map[string]string{"sub": "x"})
	if err != nil {
		t.Fatal(err)
	}
	return kidOf(t, jws)
}

// pending reports whether an announced generation is still waited for.
func (lc *lagCache) pending() bool {
	lc.c.mu.Lock()
	defer lc.c.mu.Unlock()
	return lc.c.pending[lc.tid] != nil
}

// waitSettled waits, bounded, until nothing is waited for any more.
func (lc *lagCache) waitSettled(t *testing.T) {
	t.Helper()
	for range 1000 {
		if !lc.pending() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the announced generation was still pending after 10s")
}

// TestKeysChangedRetriesUntilTheReplicaShowsIt: the replica lags three reads behind
// the notification; the cache reads again with backoff, without any request, until it
// shows the new generation, then stops reading.
func TestKeysChangedRetriesUntilTheReplicaShowsIt(t *testing.T) {
	lc := newLagCache(t, time.Millisecond, 2*time.Millisecond, 4*time.Millisecond, 8*time.Millisecond, 16*time.Millisecond)
	if k := lc.kid(t); k != lc.oldKid {
		t.Fatalf("signed by %s, want %s", k, lc.oldKid)
	}
	lc.r.rotate(3)
	lc.c.keysChanged(lc.notifyCtx, lc.tid, 2)
	lc.waitSettled(t)
	// One read at start, three lagging ones, the one that shows generation 2.
	if n := lc.r.readCount(); n != 5 {
		t.Errorf("%d reads, want 5 (1 + 3 lagging + 1)", n)
	}
	if k := lc.kid(t); k != lc.newKid {
		t.Errorf("after the replica caught up: signed by %s, want the new current key %s", k, lc.newKid)
	}
	// Nothing more is read within the TTL; a repeated or older notification reads nothing.
	lc.c.keysChanged(lc.notifyCtx, lc.tid, 2)
	lc.c.keysChanged(lc.notifyCtx, lc.tid, 1)
	for range 20 {
		lc.kid(t)
	}
	if n := lc.r.readCount(); n != 5 || lc.pending() {
		t.Errorf("%d reads (pending %v) after signing within the TTL and stale notifications, want 5", n, lc.pending())
	}
}

// TestKeysChangedGivesUp: a replica that never shows the announced generation is read a
// bounded number of times; then the TTL takes over, and requests in the meantime do not
// read it again and again.
func TestKeysChangedGivesUp(t *testing.T) {
	lc := newLagCache(t, time.Millisecond, time.Millisecond, time.Millisecond)
	lc.kid(t)
	lc.r.rotate(-1)
	lc.c.keysChanged(lc.notifyCtx, lc.tid, 2)
	lc.waitSettled(t)
	if n := lc.r.readCount(); n != 1+1+3 { // start, the first reload, three retries
		t.Errorf("%d reads, want 5", n)
	}
	if !strings.Contains(lc.logs.String(), "does not show the announced generation") {
		t.Errorf("giving up was not logged at debug:\n%s", lc.logs.String())
	}
	for range 20 {
		if k := lc.kid(t); k != lc.oldKid {
			t.Fatalf("signed by %s while the replica shows the old generation", k)
		}
	}
	if n := lc.r.readCount(); n != 5 {
		t.Errorf("%d reads after 20 signatures within the TTL, want still 5", n)
	}
	// The TTL, as without notifications, once the replica has caught up.
	lc.r.setLag(0)
	lc.mu.Lock()
	lc.now = lc.now.Add(2 * time.Minute)
	lc.mu.Unlock()
	if k := lc.kid(t); k != lc.newKid {
		t.Errorf("after the TTL: signed by %s, want %s", k, lc.newKid)
	}
}

// TestKeysChangedDoesNotHammerTheReplica: while the cache waits between retries,
// requests sign with the keys they have instead of reading the lagging replica each.
func TestKeysChangedDoesNotHammerTheReplica(t *testing.T) {
	lc := newLagCache(t, time.Hour) // one retry, in an hour: the test ends it
	lc.kid(t)
	lc.r.rotate(-1)
	lc.c.keysChanged(lc.notifyCtx, lc.tid, 2)
	for range 50 {
		if k := lc.kid(t); k != lc.oldKid {
			t.Fatalf("signed by %s while the replica shows the old generation", k)
		}
	}
	// The read at start, one after the notification (by a request or the retry
	// goroutine), and at most one more when both started their own, one after the other.
	if n := lc.r.readCount(); n < 2 || n > 3 {
		t.Errorf("%d reads for 50 signatures after a notification, want 2 or 3", n)
	}
	if !lc.pending() {
		t.Error("the cache stopped waiting for the generation before its retry")
	}
	lc.cancelNotify() // the subscription ends: so do the retries
	lc.waitSettled(t)
}

// TestKeysChangedBeforeFirstUse: a tenant this process has not read yet is read on its
// first use; when that read lags the notification, the retries start then.
func TestKeysChangedBeforeFirstUse(t *testing.T) {
	lc := newLagCache(t, time.Millisecond, 2*time.Millisecond, 4*time.Millisecond, 8*time.Millisecond)
	lc.r.rotate(2)
	lc.c.keysChanged(lc.notifyCtx, lc.tid, 2)
	if n := lc.r.readCount(); n != 0 {
		t.Fatalf("a notification for a tenant not cached read its keys %d times", n)
	}
	if k := lc.kid(t); k != lc.oldKid { // the lagging replica answers the first use
		t.Fatalf("first use signed by %s, want the old key the replica still shows", k)
	}
	lc.waitSettled(t)
	if k := lc.kid(t); k != lc.newKid {
		t.Errorf("after the retries: signed by %s, want %s", k, lc.newKid)
	}
	if n := lc.r.readCount(); n != 3 {
		t.Errorf("%d reads, want 3 (two lagging, one current)", n)
	}
}

// TestKeyCacheNeverGoesBack: keys of a generation are not replaced by an older one read
// from a replica further behind.
func TestKeyCacheNeverGoesBack(t *testing.T) {
	kek := make([]byte, keys.KEKSize)
	_, _ = rand.Read(kek)
	tid := uuid.Must(uuid.NewV7())
	old, err := keys.NewSet(tid, kek)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := keys.Rotate(old, tid, kek)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	reader := &staticKeys{set: rotated, gen: 2}
	c := newKeyCache(reader, kek, time.Minute, func() time.Time { return now })
	c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	cur, _ := keys.Find(rotated, keys.ES256, keys.Current)
	signedBy := func() string {
		s, _, err := c.signer(t.Context(), tid, keys.ES256, "JWT")
		if err != nil {
			t.Fatal(err)
		}
		jws, err := sign(s, map[string]string{})
		if err != nil {
			t.Fatal(err)
		}
		return kidOf(t, jws)
	}
	if k := signedBy(); k != cur.ID {
		t.Fatalf("signed by %s, want %s", k, cur.ID)
	}
	reader.mu.Lock()
	reader.set, reader.gen = old, 1 // the next read hits a replica one rotation behind
	reader.mu.Unlock()
	now = now.Add(2 * time.Minute)
	if k := signedBy(); k != cur.ID {
		t.Errorf("after a read from a replica behind: signed by %s, want still %s", k, cur.ID)
	}
}
