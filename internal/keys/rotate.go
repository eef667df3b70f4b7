package keys

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Find returns the key of ks with alg in state.
func Find(ks []Key, alg Alg, state State) (Key, bool) {
	for _, k := range ks {
		if k.Alg == alg && k.State == state {
			return k, true
		}
	}
	return Key{}, false
}

// IsComplete reports whether ks has, for every algorithm of Algs, a current and a next
// key (a previous key is optional: a new tenant has none).
func IsComplete(ks []Key) bool {
	for _, alg := range Algs {
		_, cur := Find(ks, alg, Current)
		_, next := Find(ks, alg, Next)
		if !cur || !next {
			return false
		}
	}
	return true
}

// NewSet returns a new tenant's keys: for every algorithm a current and a next key.
func NewSet(tenantID uuid.UUID, kek []byte) ([]Key, error) {
	return Complete(nil, tenantID, kek)
}

// Complete returns current plus a new key for every algorithm and state (current, next)
// that current lacks. A complete set comes back unchanged (same keys, same order).
func Complete(current []Key, tenantID uuid.UUID, kek []byte) ([]Key, error) {
	if err := ValidateSet(current, tenantID); err != nil {
		return nil, err
	}
	out := append([]Key(nil), current...)
	for _, alg := range Algs {
		for _, st := range []State{Current, Next} {
			if _, ok := Find(current, alg, st); ok {
				continue
			}
			k, err := Generate(alg, tenantID, st, kek)
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
	}
	return out, nil
}

// Rotate plans one rotation of a tenant's keys, per algorithm: the previous key is
// dropped, current becomes previous, next becomes current (a new current is generated
// when there is no next), and a new next is generated. Verifiers have cached the next
// key since the last rotation, so tokens signed by the new current verify at once, and
// tokens signed by the old current keep verifying while it is previous.
func Rotate(current []Key, tenantID uuid.UUID, kek []byte) ([]Key, error) {
	if err := ValidateKEK(kek); err != nil {
		return nil, err
	}
	if err := ValidateSet(current, tenantID); err != nil {
		return nil, err
	}
	var out []Key
	for _, alg := range Algs {
		if k, ok := Find(current, alg, Current); ok {
			k.State = Previous
			out = append(out, k)
		}
		k, ok := Find(current, alg, Next)
		if !ok {
			var err error
			if k, err = Generate(alg, tenantID, Current, kek); err != nil {
				return nil, err
			}
		}
		k.State = Current
		out = append(out, k)
		n, err := Generate(alg, tenantID, Next, kek)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// ValidateSet checks that ks is a well-formed set of tenantID's keys: each has a kid, a
// known algorithm and state, public and sealed parts, belongs to tenantID; kids are
// unique, and there is at most one key per algorithm and state. It does not open keys.
func ValidateSet(ks []Key, tenantID uuid.UUID) error {
	if tenantID == uuid.Nil {
		return errors.New("keys: a key set needs a tenant")
	}
	kids := map[string]bool{}
	slots := map[[2]string]bool{}
	for i, k := range ks {
		switch {
		case k.ID == "":
			return fmt.Errorf("keys: key %d has no kid", i)
		case k.TenantID != tenantID:
			return fmt.Errorf("keys: key %s belongs to another tenant", k.ID)
		case !k.Alg.Valid():
			return fmt.Errorf("keys: key %s: unsupported algorithm %q", k.ID, k.Alg)
		case !k.State.Valid():
			return fmt.Errorf("keys: key %s: unknown state %q", k.ID, k.State)
		case len(k.PublicJWK) == 0 || len(k.Sealed) == 0:
			return fmt.Errorf("keys: key %s lacks its public or sealed part", k.ID)
		case kids[k.ID]:
			return fmt.Errorf("keys: kid %s appears twice", k.ID)
		}
		slot := [2]string{string(k.Alg), string(k.State)}
		if slots[slot] {
			return fmt.Errorf("keys: two %s keys in state %s", k.Alg, k.State)
		}
		kids[k.ID], slots[slot] = true, true
	}
	return nil
}
