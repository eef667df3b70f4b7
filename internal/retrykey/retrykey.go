// Package retrykey is the contract between the edge and the login tier that makes a
// non-idempotent request safe to send twice.
//
// The edge gives every login-tier request that is not idempotent (a token POST, a
// sign-in form) a random key, the same on each attempt, in Header; it removes any
// Header a client sent. The login tier runs a request with a key once: the first
// attempt records its answer under the key (sealed with a key derived from it, for a
// short time, in a bucket every login process of the region shares), and a later
// attempt with the same key — the edge's retry after the first answer was lost on the
// way — gets that recorded answer instead of running the request again (a code
// redeemed twice would otherwise fail as invalid_grant). See internal/replay.
package retrykey

import (
	"crypto/rand"
	"encoding/base64"
)

// Header carries the key from the edge to the login tier.
const Header = "Nines-Retry-Key"

// ReplayedHeader is set to "1" on an answer the login tier replayed from its record
// rather than produced by running the request.
const ReplayedHeader = "Nines-Replayed"

// Len is the length of a key: 16 random bytes in unpadded base64url.
const Len = 22

// New returns a fresh key.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Valid reports whether s has the shape of a key made by New.
func Valid(s string) bool {
	if len(s) != Len {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 16
}
