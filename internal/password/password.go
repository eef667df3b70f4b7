// Package password hashes and verifies end-user passwords with argon2id (RFC 9106) at
// OWASP's recommended parameters, encoded as PHC strings. Hashing is memory-hard (19 MiB
// per hash at the defaults), so a Hasher bounds how many hashes run at once: a burst of
// sign-ins queues or is refused, it never exhausts memory.
//
// This package must never log a password or a hash.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLen     uint32
	KeyLen      uint32
}

// OWASP is the OWASP Password Storage Cheat Sheet's argon2id configuration
// (m=19 MiB, t=2, p=1).
var OWASP = Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}

var (
	// ErrBusy: every hashing slot stayed taken until the wait ran out. Callers answer
	// 503 with Retry-After.
	ErrBusy = errors.New("password hashing is saturated")
	// ErrMalformed: a stored hash is not a PHC argon2id string this package can read.
	ErrMalformed = errors.New("malformed password hash")
)

// Hasher hashes and verifies passwords with a bound on concurrent hashing.
type Hasher struct {
	params Params
	slots  chan struct{}
	wait   time.Duration
	dummy  string // a hash of a random password, verified for unknown users
}

// Config configures a Hasher. Zero values take the defaults.
type Config struct {
	Params      Params        // default OWASP
	Concurrency int           // default runtime.GOMAXPROCS(0)
	MaxWait     time.Duration // how long to queue for a slot; default 2s
}

// New returns a Hasher.
func New(cfg Config) *Hasher {
	if cfg.Params == (Params{}) {
		cfg.Params = OWASP
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Second
	}
	h := &Hasher{params: cfg.Params, slots: make(chan struct{}, cfg.Concurrency), wait: cfg.MaxWait}
	salt := make([]byte, cfg.Params.SaltLen)
	_, _ = rand.Read(salt)
	h.dummy = encode(cfg.Params, salt, argon2.IDKey(salt, salt, cfg.Params.Iterations, cfg.Params.Memory, cfg.Params.Parallelism, cfg.Params.KeyLen))
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of pw with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt := make([]byte, h.params.SaltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, h.params.Iterations, h.params.Memory, h.params.Parallelism, h.params.KeyLen)
	return encode(h.params, salt, key), nil
}

// Verify reports whether pw matches the PHC string hash, comparing in constant time.
// An empty hash (unknown user, or a user without a password) is verified against a
// dummy hash so that it costs the same time as a real one, and then reports false.
// rehash is true when the hash uses weaker parameters than the Hasher's: the caller
// should store a fresh Hash after a successful sign-in. A hash that cannot be read, or
// whose parameters are beyond what this Hasher affords (see affordable), is ErrMalformed
// and is never computed.
func (h *Hasher) Verify(ctx context.Context, pw, hash string) (ok, rehash bool, err error) {
	target, known := hash, hash != ""
	if !known {
		target = h.dummy
	}
	p, salt, key, err := decode(target)
	if err != nil {
		return false, false, err
	}
	if !h.affordable(p) {
		return false, false, ErrMalformed
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(pw), salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(key)))
	match := subtle.ConstantTimeCompare(got, key) == 1
	return match && known, match && known && weaker(p, h.params), nil
}

func weaker(p, want Params) bool {
	return p.Memory < want.Memory || p.Iterations < want.Iterations || p.Parallelism < want.Parallelism
}

var b64 = base64.RawStdEncoding

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Bounds on the parameters of a stored hash, relative to the Hasher's own: a hash above
// them is an attacker's row or a misconfiguration, and verifying it would cost many times
// the memory and time a sign-in is budgeted for (the slots bound how many hashes run, not
// what one costs). Raising the policy up to fourfold keeps the old hashes verifiable.
const (
	boundFactor    = 4
	minMaxIter     = 8 // the iteration bound is never below this, for policies with t=1 or 2
	maxParallelism = 16
)

// affordable reports whether a stored hash's parameters are within the bounds above.
func (h *Hasher) affordable(p Params) bool {
	maxIter := max(boundFactor*uint64(h.params.Iterations), minMaxIter)
	return uint64(p.Memory) <= boundFactor*uint64(h.params.Memory) &&
		uint64(p.Iterations) <= maxIter && p.Parallelism <= maxParallelism
}

func decode(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, ErrMalformed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, ErrMalformed
	}
	if p.Memory == 0 || p.Iterations == 0 || p.Parallelism == 0 { // upper bounds: Hasher.affordable
		return p, nil, nil, ErrMalformed
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformed
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, ErrMalformed
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
