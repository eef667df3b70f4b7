package oidc

import (
	"context"
	"crypto"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/keys"
)

// staticKeys is a KeyReader over a set (and its generation) a test swaps.
type staticKeys struct {
	mu  sync.Mutex
	set []keys.Key
	gen int64
}

func (s *staticKeys) SigningKeySet(context.Context, uuid.UUID) ([]keys.Key, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]keys.Key(nil), s.set...), s.gen, nil
}

// TestKeyCacheOpensEachKeyOnce: a sealed private key is opened once per process — not
// again for another token type, nor after each reload while the key stays listed — and
// a rotated-in key is opened when it first signs.
func TestKeyCacheOpensEachKeyOnce(t *testing.T) {
	kek := make([]byte, keys.KEKSize)
	_, _ = rand.Read(kek)
	tid := uuid.Must(uuid.NewV7())
	set, err := keys.NewSet(tid, kek)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		opened = map[string]int{}
	)
	orig := openKey
	openKey = func(k keys.Key, kek []byte) (crypto.Signer, error) {
		mu.Lock()
		opened[k.ID]++
		mu.Unlock()
		return orig(k, kek)
	}
	t.Cleanup(func() { openKey = orig })

	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	reader := &staticKeys{set: set}
	c := newKeyCache(reader, kek, time.Minute, func() time.Time { return now })
	cur, ok := keys.Find(set, keys.ES256, keys.Current)
	if !ok {
		t.Fatal("no current ES256 key")
	}
	for range 3 {
		for _, typ := range []string{"JWT", "at+jwt"} {
			if _, _, err := c.signer(t.Context(), tid, keys.ES256, typ); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(2 * time.Minute) // past the TTL: the next call reloads
	}
	if opened[cur.ID] != 1 {
		t.Fatalf("the current key was opened %d times over three reloads and two token types, want 1", opened[cur.ID])
	}

	// Rotation: next becomes current; the new current is opened once, when it signs.
	next, _ := keys.Find(set, keys.ES256, keys.Next)
	rotated := make([]keys.Key, 0, len(set))
	for _, k := range set {
		switch k.ID {
		case cur.ID:
			k.State = keys.Previous
		case next.ID:
			k.State = keys.Current
		}
		rotated = append(rotated, k)
	}
	reader.mu.Lock()
	reader.set = rotated
	reader.mu.Unlock()
	for range 2 {
		if _, _, err := c.signer(t.Context(), tid, keys.ES256, "JWT"); err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Minute)
	}
	if opened[next.ID] != 1 || opened[cur.ID] != 1 {
		t.Fatalf("after rotation: new current opened %d times, old %d; want 1 and 1", opened[next.ID], opened[cur.ID])
	}
}
