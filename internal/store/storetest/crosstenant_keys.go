package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/store"
)

// keyAndSignInCases are the cross-tenant cases of the signing-key and sign-in methods.
func keyAndSignInCases() map[string]func(t *testing.T, w *world) {
	return map[string]func(t *testing.T, w *world){
		"Store.SigningKeys": func(t *testing.T, w *world) {
			keysCase(t, w, func(tid uuid.UUID) ([]keys.Key, error) { return w.s.SigningKeys(ctxOf(w), tid) })
		},
		"Reader.SigningKeys": func(t *testing.T, w *world) {
			keysCase(t, w, func(tid uuid.UUID) ([]keys.Key, error) { return w.r.SigningKeys(ctxOf(w), tid) })
		},
		"Reader.SigningKeySet": func(t *testing.T, w *world) {
			keysCase(t, w, func(tid uuid.UUID) ([]keys.Key, error) {
				ks, _, err := w.r.SigningKeySet(ctxOf(w), tid)
				return ks, err
			})
		},
		"Store.RotateSigningKeys": func(t *testing.T, w *world) {
			replaceKeysCase(t, w, "RotateSigningKeys", w.s.RotateSigningKeys)
		},
		"Store.CompleteSigningKeys": func(t *testing.T, w *world) {
			replaceKeysCase(t, w, "CompleteSigningKeys", w.s.CompleteSigningKeys)
		},
		"Store.CreateTenantWithKeys": func(t *testing.T, w *world) {
			aKeys := res(w.s.SigningKeys(ctxOf(w), w.a.ID)).must(t)
			tn := newTenant(unique("t"))
			tn.ID = newV7(t)
			if _, err := w.s.CreateTenantWithKeys(ctxOf(w), tn, aKeys); err == nil {
				t.Error("CreateTenantWithKeys took tenant A's keys")
			}
			stolen := slices.Clone(aKeys)
			for i := range stolen {
				stolen[i].TenantID = tn.ID // relabelled: the kids are still A's
			}
			_, err := w.s.CreateTenantWithKeys(ctxOf(w), tn, stolen)
			wantExists(t, "CreateTenantWithKeys with A's kids", err, "kid")
			_, err = w.s.TenantBySlug(ctxOf(w), tn.Slug)
			wantErr(t, "the tenant of a refused create", err, store.ErrNotFound)
		},
		"Store.RecordSignIn": getCase(func(w *world, tid uuid.UUID) error {
			return w.s.RecordSignIn(ctxOf(w), tid, w.aUser.ID, time.Now().Add(time.Hour))
		}),
		"Store.SetPasswordHash": getCase(func(w *world, tid uuid.UUID) error {
			return w.s.SetPasswordHash(ctxOf(w), tid, w.aUser.ID, "attacker")
		}),
	}
}

// keysCase: from another tenant, only that tenant's own keys, never one of A's.
func keysCase(t *testing.T, w *world, list func(tid uuid.UUID) ([]keys.Key, error)) {
	t.Helper()
	aKids := kidStates(res(w.s.SigningKeys(ctxOf(w), w.a.ID)).must(t))
	for _, tid := range w.others() {
		ks, err := list(tid)
		if err != nil {
			t.Errorf("from tenant %v: %v", tid, err)
			continue
		}
		for _, k := range ks {
			if _, ok := aKids[k.ID]; ok || k.TenantID != tid {
				t.Errorf("from tenant %v: key %s of tenant %v", tid, k.ID, k.TenantID)
			}
		}
		// B has its own keys (more after the rotation cases ran); the others have none.
		if isB := tid == w.b.ID; isB != (len(ks) > 0) {
			t.Errorf("from tenant %v: %d keys", tid, len(ks))
		}
	}
}

type replaceFunc func(ctx context.Context, tenantID uuid.UUID, plan func([]keys.Key) ([]keys.Key, error)) ([]keys.Key, error)

// replaceKeysCase: a tenant that does not exist is ErrNotFound; B's plan sees only B's
// keys and can neither take A's keys nor reuse A's kids; B's own change leaves A alone.
func replaceKeysCase(t *testing.T, w *world, name string, replace replaceFunc) {
	t.Helper()
	ctx := ctxOf(w)
	aKeys := res(w.s.SigningKeys(ctx, w.a.ID)).must(t)
	for _, tid := range []uuid.UUID{uuid.Nil, randomID()} {
		called := false
		_, err := replace(ctx, tid, func(cur []keys.Key) ([]keys.Key, error) { called = true; return cur, nil })
		wantErr(t, fmt.Sprintf("%s of tenant %v", name, tid), err, store.ErrNotFound)
		if called {
			t.Errorf("%s of missing tenant %v ran the plan", name, tid)
		}
	}
	bBefore := res(w.s.SigningKeys(ctx, w.b.ID)).must(t)
	attacks := []struct {
		name string
		plan func(cur []keys.Key) ([]keys.Key, error)
		kid  bool // refused as AlreadyExists("kid")
	}{
		{"A's keys", func(cur []keys.Key) ([]keys.Key, error) { return aKeys, nil }, false},
		{"A's keys added to B's", func(cur []keys.Key) ([]keys.Key, error) { return append(slices.Clone(cur), aKeys[0]), nil }, false},
		{"A's kids relabelled", func(cur []keys.Key) ([]keys.Key, error) {
			next := res(fakeRotate(w.b.ID)(cur)).must(t)
			j := 0
			for i := range next {
				if next[i].State == keys.Next && j < len(aKeys) {
					next[i].ID = aKeys[j].ID
					j++
				}
			}
			return next, nil
		}, true},
	}
	for _, a := range attacks {
		var saw []keys.Key
		_, err := replace(ctx, w.b.ID, func(cur []keys.Key) ([]keys.Key, error) { saw = cur; return a.plan(cur) })
		switch {
		case a.kid:
			wantExists(t, name+" with "+a.name, err, "kid")
		case err == nil:
			t.Errorf("%s with %s succeeded", name, a.name)
		}
		for _, k := range saw {
			if k.TenantID != w.b.ID {
				t.Errorf("%s: B's plan was shown key %s of tenant %v", name, k.ID, k.TenantID)
			}
		}
		wantSame(t, "B's keys after "+a.name, bBefore, res(w.s.SigningKeys(ctx, w.b.ID)).must(t))
	}
	// B's own, legitimate change works and touches only B.
	var err error
	if name == "RotateSigningKeys" {
		_, err = replace(ctx, w.b.ID, fakeRotate(w.b.ID))
	} else {
		_, err = replace(ctx, w.b.ID, func(cur []keys.Key) ([]keys.Key, error) {
			return append(slices.Clone(cur), fakeKey(w.b.ID, keys.ES256, keys.Previous)), nil
		})
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s of B's own keys: %v", name, err)
	} else if err != nil {
		t.Errorf("%s of B's own keys: B not found", name)
	}
}
