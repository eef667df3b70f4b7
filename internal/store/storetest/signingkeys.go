package storetest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/tenant"
)

// testSigningKeysRoundTrip: real keys survive the store byte for byte and still open
// and sign; Store and Reader agree.
func testSigningKeysRoundTrip(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	kek := make([]byte, keys.KEKSize)
	_, _ = rand.Read(kek)
	tn := newTenant(unique("t"))
	tn.ID = newV7(t)
	set, err := keys.NewSet(tn.ID, kek)
	if err != nil {
		t.Fatal(err)
	}
	created := res(s.CreateTenantWithKeys(ctx, tn, set)).must(t)
	if created.KeyGeneration != 0 || created.ID != tn.ID {
		t.Errorf("CreateTenantWithKeys = %+v, want the given ID at key generation 0", created)
	}
	got := res(s.SigningKeys(ctx, tn.ID)).must(t)
	if len(got) != len(set) || !keys.IsComplete(got) {
		t.Fatalf("SigningKeys returned %d keys, complete=%v", len(got), keys.IsComplete(got))
	}
	byKid := map[string]keys.Key{}
	for _, k := range set {
		byKid[k.ID] = k
	}
	for _, k := range got {
		want, ok := byKid[k.ID]
		switch {
		case !ok:
			t.Errorf("unknown kid %s", k.ID)
			continue
		case k.TenantID != tn.ID || k.Alg != want.Alg || k.State != want.State:
			t.Errorf("key %s = %s/%s/%v, want %s/%s/%v", k.ID, k.Alg, k.State, k.TenantID, want.Alg, want.State, tn.ID)
		case !bytes.Equal(k.PublicJWK, want.PublicJWK) || !bytes.Equal(k.Sealed, want.Sealed):
			t.Errorf("key %s: public or sealed bytes changed in the store", k.ID)
		case !k.CreatedAt.Equal(want.CreatedAt):
			t.Errorf("key %s: CreatedAt %v, want %v", k.ID, k.CreatedAt, want.CreatedAt)
		}
		checkStamp(t, "key CreatedAt", k.CreatedAt)
		if _, err := k.Signer(kek); err != nil {
			t.Errorf("key %s does not open after the store: %v", k.ID, err)
		}
	}
	if _, err := keys.PublicJWKS(got); err != nil {
		t.Errorf("PublicJWKS of stored keys: %v", err)
	}
	wantSame(t, "Reader.SigningKeys", got, res(s.Reader().SigningKeys(ctx, tn.ID)).must(t))
	// An unknown tenant has no keys; that is not an error.
	if ks := res(s.SigningKeys(ctx, randomID())).must(t); len(ks) != 0 {
		t.Errorf("SigningKeys of an unknown tenant = %d keys", len(ks))
	}
}

// testCreateTenantWithKeys: the tenant and its keys are created together or not at all.
func testCreateTenantWithKeys(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	taken := mkTenant(t, s)
	takenKeys := res(s.SigningKeys(ctx, taken.ID)).must(t)
	tests := []struct {
		name  string
		keys  func(id uuid.UUID) []keys.Key
		noID  bool
		field string // AlreadyExists field, or "" for any error
	}{
		{"keys of another tenant", func(uuid.UUID) []keys.Key { return fakeKeys(randomID()) }, false, ""},
		{"no tenant ID", func(id uuid.UUID) []keys.Key { return fakeKeys(id) }, true, ""},
		{"two current keys", func(id uuid.UUID) []keys.Key {
			return append(fakeKeys(id), fakeKey(id, keys.RS256, keys.Current))
		}, false, ""},
		{"a taken kid", func(id uuid.UUID) []keys.Key {
			ks := fakeKeys(id)
			ks[len(ks)-1].ID = takenKeys[0].ID
			return ks
		}, false, "kid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTenant(unique("t"))
			id := newV7(t)
			ks := tc.keys(id)
			if !tc.noID {
				tn.ID = id
			}
			_, err := s.CreateTenantWithKeys(ctx, tn, ks)
			switch {
			case tc.field != "":
				wantExists(t, "CreateTenantWithKeys", err, tc.field)
			case err == nil:
				t.Fatal("CreateTenantWithKeys succeeded")
			}
			_, err = s.TenantBySlug(ctx, tn.Slug)
			wantErr(t, "the tenant after a failed create", err, store.ErrNotFound)
			if left := res(s.SigningKeys(ctx, id)).must(t); len(left) != 0 {
				t.Errorf("%d keys left behind", len(left))
			}
		})
	}
	wantSame(t, "the other tenant's keys", takenKeys, res(s.SigningKeys(ctx, taken.ID)).must(t))
	// A slug collision leaves no keys either.
	dup := newTenant(taken.Slug)
	dup.ID = newV7(t)
	_, err := s.CreateTenantWithKeys(ctx, dup, fakeKeys(dup.ID))
	wantExists(t, "CreateTenantWithKeys with a taken slug", err, "slug")
	if left := res(s.SigningKeys(ctx, dup.ID)).must(t); len(left) != 0 {
		t.Errorf("a failed create left %d keys", len(left))
	}
}

// testRotateSigningKeys: rotation follows the plan, increments KeyGeneration (not
// Version) and changes nothing when the plan fails.
func testRotateSigningKeys(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	before := res(s.SigningKeys(ctx, tn.ID)).must(t)
	var seen []keys.Key
	after, err := s.RotateSigningKeys(ctx, tn.ID, func(cur []keys.Key) ([]keys.Key, error) {
		seen = cur
		return fakeRotate(tn.ID)(cur)
	})
	mustDo(t, err)
	wantSame(t, "the plan's input", before, seen)
	if len(after) != 3*len(keys.Algs) || !keys.IsComplete(after) {
		t.Fatalf("after rotation: %d keys, complete=%v", len(after), keys.IsComplete(after))
	}
	wantSame(t, "SigningKeys after rotation", after, res(s.SigningKeys(ctx, tn.ID)).must(t))
	old, now := kidStates(before), kidStates(after)
	for kid, st := range old {
		want := map[keys.State]keys.State{keys.Current: keys.Previous, keys.Next: keys.Current}[st]
		if now[kid] != want {
			t.Errorf("key %s: %s → %q, want %s", kid, st, now[kid], want)
		}
	}
	got := res(s.Tenant(ctx, tn.ID)).must(t)
	if got.KeyGeneration != 1 || got.Version != tn.Version || !got.UpdatedAt.Equal(tn.UpdatedAt) {
		t.Errorf("tenant after rotation: generation %d version %d, want 1 and %d (UpdatedAt kept)", got.KeyGeneration, got.Version, tn.Version)
	}
	// The login tier's read: the keys with the generation they belong to.
	setKeys, gen, err := s.Reader().SigningKeySet(ctx, tn.ID)
	mustDo(t, err)
	wantSame(t, "Reader.SigningKeySet after rotation", after, setKeys)
	if gen != 1 {
		t.Errorf("Reader.SigningKeySet generation after one rotation = %d, want 1", gen)
	}
	if ks, gen, err := s.Reader().SigningKeySet(ctx, randomID()); err != nil || len(ks) != 0 || gen != 0 {
		t.Errorf("Reader.SigningKeySet of an unknown tenant = %d keys, generation %d, %v; want none, 0, nil", len(ks), gen, err)
	}

	// A second rotation drops the first set's current keys (previous now).
	after2 := res(s.RotateSigningKeys(ctx, tn.ID, fakeRotate(tn.ID))).must(t)
	for kid, st := range old {
		if _, ok := kidStates(after2)[kid]; ok && st == keys.Current {
			t.Errorf("key %s, previous before the second rotation, is still there", kid)
		}
	}

	failures := []struct {
		name string
		plan func([]keys.Key) ([]keys.Key, error)
	}{
		{"plan fails", func([]keys.Key) ([]keys.Key, error) { return nil, errors.New("no entropy today") }},
		{"plan returns two current keys", func(cur []keys.Key) ([]keys.Key, error) {
			return append(slices.Clone(cur), fakeKey(tn.ID, keys.ES256, keys.Current)), nil
		}},
		{"plan returns another tenant's key", func(cur []keys.Key) ([]keys.Key, error) {
			return append(fakeKeys(randomID()), cur...), nil
		}},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.RotateSigningKeys(ctx, tn.ID, tc.plan); err == nil {
				t.Fatal("RotateSigningKeys succeeded")
			}
			wantSame(t, "keys after a failed rotation", after2, res(s.SigningKeys(ctx, tn.ID)).must(t))
			if g := res(s.Tenant(ctx, tn.ID)).must(t).KeyGeneration; g != 2 {
				t.Errorf("KeyGeneration after a failed rotation = %d, want 2", g)
			}
		})
	}
	_, err = s.RotateSigningKeys(ctx, randomID(), fakeRotate(tn.ID))
	wantErr(t, "RotateSigningKeys of a missing tenant", err, store.ErrNotFound)
	_, err = s.CompleteSigningKeys(ctx, randomID(), fakeRotate(tn.ID))
	wantErr(t, "CompleteSigningKeys of a missing tenant", err, store.ErrNotFound)
	// UpdateTenant neither resets nor bumps the generation.
	upd := res(s.Tenant(ctx, tn.ID)).must(t)
	upd.DisplayName = "renamed"
	if got := res(s.UpdateTenant(ctx, upd)).must(t); got.KeyGeneration != 2 {
		t.Errorf("UpdateTenant changed KeyGeneration to %d", got.KeyGeneration)
	}
}

// testCompleteSigningKeys: a tenant created without keys gets a set, without a new
// generation; a complete set is left alone.
func testCompleteSigningKeys(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	bare := res(s.CreateTenant(ctx, newTenant(unique("t")))).must(t)
	if ks := res(s.SigningKeys(ctx, bare.ID)).must(t); len(ks) != 0 {
		t.Fatalf("CreateTenant made %d keys", len(ks))
	}
	fill := func(cur []keys.Key) ([]keys.Key, error) {
		out := slices.Clone(cur)
		for _, alg := range keys.Algs {
			for _, st := range []keys.State{keys.Current, keys.Next} {
				if _, ok := keys.Find(cur, alg, st); !ok {
					out = append(out, fakeKey(bare.ID, alg, st))
				}
			}
		}
		return out, nil
	}
	first := res(s.CompleteSigningKeys(ctx, bare.ID, fill)).must(t)
	if !keys.IsComplete(first) || len(first) != 2*len(keys.Algs) {
		t.Fatalf("CompleteSigningKeys: %d keys, complete=%v", len(first), keys.IsComplete(first))
	}
	again := res(s.CompleteSigningKeys(ctx, bare.ID, fill)).must(t)
	wantSame(t, "a second CompleteSigningKeys", first, again)
	if g := res(s.Tenant(ctx, bare.ID)).must(t).KeyGeneration; g != 0 {
		t.Errorf("KeyGeneration after CompleteSigningKeys = %d, want 0", g)
	}
}

// testConcurrentRotations: rotations of one tenant raced by many goroutines all land,
// one after the other: the generation counts every one, and the set is whole.
func testConcurrentRotations(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	const rotators = 8
	seen := make([][]keys.Key, rotators)
	errs := make([]error, rotators)
	start := make(chan struct{})
	done := make(chan struct{}, rotators)
	for i := range rotators {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			_, errs[i] = s.RotateSigningKeys(ctx, tn.ID, func(cur []keys.Key) ([]keys.Key, error) {
				seen[i] = cur // the last attempt's input is the one that committed
				return fakeRotate(tn.ID)(cur)
			})
		}()
	}
	close(start)
	for range rotators {
		<-done
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("rotation %d: %v", i, err)
		}
	}
	final := res(s.SigningKeys(ctx, tn.ID)).must(t)
	if err := keys.ValidateSet(final, tn.ID); err != nil || !keys.IsComplete(final) || len(final) != 3*len(keys.Algs) {
		t.Fatalf("set after concurrent rotations: %d keys, complete=%v, %v", len(final), keys.IsComplete(final), err)
	}
	if g := res(s.Tenant(ctx, tn.ID)).must(t).KeyGeneration; g != rotators {
		t.Errorf("KeyGeneration = %d, want %d", g, rotators)
	}
	// Serialised rotations each planned from a different set: no two saw the same one.
	inputs := map[string]bool{}
	for i, cur := range seen {
		k := fmt.Sprint(kidStates(cur))
		if inputs[k] {
			t.Errorf("rotation %d planned from a set another rotation also planned from", i)
		}
		inputs[k] = true
	}
}

// testTenantsWithIncompleteKeys: exactly the tenants lacking a current or next key of
// some algorithm are listed, page by page.
func testTenantsWithIncompleteKeys(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	complete := mkTenant(t, s)
	rotated := mkTenant(t, s)
	res(s.RotateSigningKeys(ctx, rotated.ID, fakeRotate(rotated.ID))).must(t)
	bare := res(s.CreateTenant(ctx, newTenant(unique("t")))).must(t)
	partial := newTenant(unique("t"))
	partial.ID = newV7(t)
	partial = res(s.CreateTenantWithKeys(ctx, partial, fakeKeys(partial.ID)[:2*len(keys.Algs)-1])).must(t)
	// A full set of previous keys is no substitute for a next key.
	prevOnly := newTenant(unique("t"))
	prevOnly.ID = newV7(t)
	var ks []keys.Key
	for _, alg := range keys.Algs {
		ks = append(ks, fakeKey(prevOnly.ID, alg, keys.Current), fakeKey(prevOnly.ID, alg, keys.Previous))
	}
	prevOnly = res(s.CreateTenantWithKeys(ctx, prevOnly, ks)).must(t)

	var got []uuid.UUID
	opts := store.ListOptions{Limit: 1}
	for range maxPages {
		p := res(s.TenantsWithIncompleteKeys(ctx, opts)).must(t)
		for _, tn := range p.Items {
			got = append(got, tn.ID)
		}
		if p.Next == uuid.Nil {
			break
		}
		opts.After = p.Next
	}
	want := []uuid.UUID{bare.ID, partial.ID, prevOnly.ID}
	slices.SortFunc(want, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	wantSame(t, "TenantsWithIncompleteKeys", want, got)
	for _, id := range []uuid.UUID{complete.ID, rotated.ID} {
		if slices.Contains(got, id) {
			t.Errorf("tenant %v with a complete set is listed", id)
		}
	}
	// Once completed, a tenant drops out of the list.
	res(s.CompleteSigningKeys(ctx, bare.ID, func(cur []keys.Key) ([]keys.Key, error) { return fakeKeys(bare.ID), nil })).must(t)
	p := res(s.TenantsWithIncompleteKeys(ctx, store.ListOptions{})).must(t)
	if slices.ContainsFunc(p.Items, func(tn tenant.Tenant) bool { return tn.ID == bare.ID }) {
		t.Error("a completed tenant is still listed")
	}
}
