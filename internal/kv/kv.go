// Package kv is the short-lived and replicated state of the login tier (ARCHITECTURE.md
// §2): authorization requests, codes, SSO sessions, device codes and throttling counters
// in regional buckets; refresh-token families in a global bucket. It runs on NATS
// JetStream KV (an embedded server on the default, a cluster in production).
//
// A single-use artifact is consumed with Consume, a compare-and-swap delete: of many
// concurrent consumers exactly one gets the entry. Validity is never decided from a plain
// Get (a KV replica may lag); Get is for display and for the read half of Update.
//
// Keys are made by the caller from tenant IDs and digests (never raw codes or tokens) and
// must match [-_=.a-zA-Z0-9]+, at most MaxKeyLen bytes, with no empty dot-separated token
// (CheckKey); other keys are ErrInvalidKey. This package must never log values.
//
// Two implementations pass the same conformance suite (kvtest): NATS JetStream KV (Open,
// OpenBucket) and an in-memory bucket for tests (NewMemory). Errors are the sentinels
// below; anything that is not a statement about the key (a timeout, no responders, a
// closed connection, a cancelled context) is ErrUnavailable wrapping its cause.
package kv

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound: no such key (never written, deleted, consumed or expired).
	ErrNotFound = errors.New("kv: key not found")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("kv: key exists")
	// ErrConflict: the revision given to Update or Delete is no longer the latest.
	ErrConflict = errors.New("kv: revision conflict")
	// ErrUnavailable: the KV service did not answer.
	ErrUnavailable = errors.New("kv: unavailable")
)

// Entry is one value and the revision that wrote it.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
}

// Bucket is one KV bucket. Entries expire after the bucket's TTL counted from their last
// write; callers still keep their own expiry time inside values where it matters
// (bucket TTL is garbage collection, not a security boundary).
type Bucket interface {
	Get(ctx context.Context, key string) (Entry, error)
	// Create writes key only if it does not exist (ErrExists otherwise).
	Create(ctx context.Context, key string, value []byte) (revision uint64, err error)
	// Update writes key only if its latest revision is rev (ErrConflict otherwise, also
	// when the key is absent). Revision 0 is ErrInvalidRevision: use Create.
	Update(ctx context.Context, key string, value []byte, rev uint64) (revision uint64, err error)
	// Put writes key unconditionally.
	Put(ctx context.Context, key string, value []byte) (revision uint64, err error)
	// Delete removes key; with rev > 0 only if its latest revision is rev (ErrConflict,
	// also when the key is absent). Deleting an absent key with rev 0 succeeds.
	Delete(ctx context.Context, key string, rev uint64) error
	// Consume reads key and deletes it with a compare-and-swap on the revision it read,
	// returning the entry only to the one caller whose delete won. Losers and later
	// callers get ErrNotFound. A key that keeps being rewritten (Put, Update) while
	// Consume retries its compare-and-swap a bounded number of times is ErrConflict.
	Consume(ctx context.Context, key string) (Entry, error)
}

// Buckets are the login tier's buckets. Regional ones hold state that may be lost with a
// region (users sign in again); Global ones must survive a region's loss.
type Buckets struct {
	AuthRequests Bucket // regional: pending authorization requests (TTL 30m)
	Codes        Bucket // regional: authorization codes (TTL 10m)
	Sessions     Bucket // regional: SSO sessions (TTL 24h, sliding)
	DeviceCodes  Bucket // regional: device authorization grants (TTL 30m)
	Throttle     Bucket // regional: failed-attempt counters and lockouts (TTL 24h)
	Refresh      Bucket // global: refresh-token families (TTL 90 days)
}

// TTLs of the buckets, as named above.
const (
	AuthRequestTTL = 30 * time.Minute
	CodeTTL        = 10 * time.Minute
	SessionTTL     = 24 * time.Hour
	DeviceCodeTTL  = 30 * time.Minute
	ThrottleTTL    = 24 * time.Hour
	RefreshTTL     = 90 * 24 * time.Hour
)
