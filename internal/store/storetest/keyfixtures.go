package storetest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/keys"
)

// The store keeps keys as opaque rows: it never opens them. Most tests therefore use fake
// keys (random kid, JSON placeholder, random "sealed" bytes), which cost nothing to make;
// testSigningKeysRoundTrip uses real ones.

func fakeKey(tenantID uuid.UUID, alg keys.Alg, state keys.State) keys.Key {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	kid := base64.RawURLEncoding.EncodeToString(b)
	sealed := make([]byte, 48)
	_, _ = rand.Read(sealed)
	return keys.Key{ID: kid, TenantID: tenantID, Alg: alg, State: state,
		PublicJWK: fmt.Appendf(nil, `{"kid":%q,"kty":"fake"}`, kid), Sealed: sealed}
}

// fakeKeys is a new tenant's set: a current and a next key per algorithm.
func fakeKeys(tenantID uuid.UUID) []keys.Key {
	var ks []keys.Key
	for _, alg := range keys.Algs {
		ks = append(ks, fakeKey(tenantID, alg, keys.Current), fakeKey(tenantID, alg, keys.Next))
	}
	return ks
}

// fakeRotate is keys.Rotate with fake keys.
func fakeRotate(tenantID uuid.UUID) func([]keys.Key) ([]keys.Key, error) {
	return func(current []keys.Key) ([]keys.Key, error) {
		var out []keys.Key
		for _, alg := range keys.Algs {
			if k, ok := keys.Find(current, alg, keys.Current); ok {
				k.State = keys.Previous
				out = append(out, k)
			}
			k, ok := keys.Find(current, alg, keys.Next)
			if !ok {
				k = fakeKey(tenantID, alg, keys.Current)
			}
			k.State = keys.Current
			out = append(out, k, fakeKey(tenantID, alg, keys.Next))
		}
		return out, nil
	}
}

// kidStates maps each kid of ks to its state.
func kidStates(ks []keys.Key) map[string]keys.State {
	m := make(map[string]keys.State, len(ks))
	for _, k := range ks {
		m[k.ID] = k.State
	}
	return m
}
