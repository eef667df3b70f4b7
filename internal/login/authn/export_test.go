package authn

import (
	"context"

	"github.com/ninesid/nines/internal/password"
)

// BusyHasher wraps a Hasher and makes every call report password.ErrBusy, the way a
// saturated Hasher does (the password package tests the saturation itself).
type BusyHasher struct{}

func (BusyHasher) Verify(context.Context, string, string) (bool, bool, error) {
	return false, false, password.ErrBusy
}
func (BusyHasher) Hash(context.Context, string) (string, error) { return "", password.ErrBusy }

// SetHasher replaces a's hasher.
func SetHasher(a *Authenticator, h hasher) { a.hasher = h }

// Key derivations, for tests that read the counters.
var (
	AccountKey = accountKey
	UserKey    = userKey
	IPKey      = ipKey
)
