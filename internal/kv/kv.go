// Package kv is the short-lived and replicated state of the login tier (ARCHITECTURE.md
// §2): authorization requests, codes, SSO sessions, device codes, throttling counters
// and the sealed answers of requests the edge may repeat (internal/replay) in regional
// buckets; refresh-token families in a global bucket. It runs on NATS
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
// OpenBucket) and an in-memory bucket for tests (NewMemory, NewMemoryBucket). Errors are
// the sentinels below; anything that is not a statement about the key (a timeout, no
// responders, a closed connection, a cancelled context) is ErrUnavailable wrapping its
// cause.
//
// Every bucket of the login tier has a size of its own (MaxBytes) and a bound on each
// value (MaxValueSize), so that flooding one (anyone with a public client_id can make
// /authorize write an auth request) cannot take the space another needs: above all the
// throttle counters, which fail closed. A full bucket refuses new keys with ErrFull (an
// ErrUnavailable) until entries expire; deleting, consuming and rewriting a key with a
// value no larger still work. An oversized value is ErrTooLarge.
package kv

import (
	"context"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrNotFound: no such key (never written, deleted, consumed or expired).
	ErrNotFound = errors.New("kv: key not found")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("kv: key exists")
	// ErrConflict: the revision given to Update or Delete is no longer the latest.
	ErrConflict = errors.New("kv: revision conflict")
	// ErrUnavailable: the KV service did not answer, or could not store the write.
	ErrUnavailable = errors.New("kv: unavailable")
	// ErrFull: the bucket (or the server's store) has no room for the write. It is an
	// ErrUnavailable (errors.Is holds for both): to a caller a full bucket is a KV that
	// cannot take the write now, and fails closed the same way.
	ErrFull = fmt.Errorf("%w: bucket full", ErrUnavailable)
	// ErrTooLarge: the value is longer than the bucket's MaxValueSize. It is a statement
	// about the value (retrying cannot help), not ErrUnavailable.
	ErrTooLarge = errors.New("kv: value too large")
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
	Replay       Bucket // regional: sealed answers of requests the edge may repeat (TTL 2m)
}

// TTLs of the buckets, as named above.
const (
	AuthRequestTTL = 30 * time.Minute
	CodeTTL        = 10 * time.Minute
	SessionTTL     = 24 * time.Hour
	DeviceCodeTTL  = 30 * time.Minute
	ThrottleTTL    = 24 * time.Hour
	RefreshTTL     = 90 * 24 * time.Hour
	// ReplayTTL keeps a recorded answer beyond the edge's retry of its request (within
	// the login route's 15 s timeout; the first attempt runs for at most 30 s), and
	// bounds how long a pending marker left by a process that died holds up the
	// repeats of that one request; short, so that a flood of requests cannot hold much.
	ReplayTTL = time.Minute
)

// DefaultMaxValueSize bounds every value of the login tier's buckets: their records
// (auth requests, codes, sessions, device codes, counters, refresh families) are a few
// hundred bytes to a few KiB, and the authorization request's parameters are bounded
// well below it.
const DefaultMaxValueSize = 16 << 10

// ReplayMaxValueSize bounds a value of the Replay bucket: a recorded answer (status,
// headers and body, sealed) of the login surface — a token response or a page — is
// larger than the other buckets' records.
const ReplayMaxValueSize = 64 << 10

// Sizes of the buckets (MaxBytes), as shares of the embedded server's 1 GiB store
// (natsd.DefaultMaxStore). JetStream reserves each bucket's size when it is created, so
// the sum must fit the server's store (an external server needs at least TotalMaxBytes
// of JetStream file storage per replica); the rest stays free for other streams. A
// bucket holds at least its size divided by about 2 KiB entries (the largest records;
// a throttle counter takes about 250 bytes with its key).
const (
	AuthRequestMaxBytes = 64 << 20  // 30 min of pending requests: ~30k at 2 KiB
	CodeMaxBytes        = 32 << 20  // codes live 60 s
	SessionMaxBytes     = 224 << 20 // 24 h of SSO sessions
	DeviceCodeMaxBytes  = 32 << 20  // device grants live 10 min
	ThrottleMaxBytes    = 128 << 20 // ~500k counters: its own room, whatever floods the others
	RefreshMaxBytes     = 384 << 20 // 90 days of refresh families
	// ReplayMaxBytes holds 2 min of recorded answers: ~10k at 3 KiB (a token response).
	// When it is full, requests run without the protection (internal/replay), never fail.
	ReplayMaxBytes = 32 << 20
	// TotalMaxBytes is what Open reserves: 896 MiB.
	TotalMaxBytes = AuthRequestMaxBytes + CodeMaxBytes + SessionMaxBytes + DeviceCodeMaxBytes +
		ThrottleMaxBytes + RefreshMaxBytes + ReplayMaxBytes
)

// spec is one of the login tier's buckets, for Open and NewMemoryBuckets alike.
type spec struct {
	suffix       string
	ttl          time.Duration
	maxBytes     int64
	maxValueSize int
	dst          func(*Buckets) *Bucket
}

var specs = []spec{
	{AuthRequestsSuffix, AuthRequestTTL, AuthRequestMaxBytes, DefaultMaxValueSize, func(b *Buckets) *Bucket { return &b.AuthRequests }},
	{CodesSuffix, CodeTTL, CodeMaxBytes, DefaultMaxValueSize, func(b *Buckets) *Bucket { return &b.Codes }},
	{SessionsSuffix, SessionTTL, SessionMaxBytes, DefaultMaxValueSize, func(b *Buckets) *Bucket { return &b.Sessions }},
	{DeviceCodesSuffix, DeviceCodeTTL, DeviceCodeMaxBytes, DefaultMaxValueSize, func(b *Buckets) *Bucket { return &b.DeviceCodes }},
	{ThrottleSuffix, ThrottleTTL, ThrottleMaxBytes, DefaultMaxValueSize, func(b *Buckets) *Bucket { return &b.Throttle }},
	{RefreshSuffix, RefreshTTL, RefreshMaxBytes, DefaultMaxValueSize, func(b *Buckets) *Bucket { return &b.Refresh }},
	{ReplaySuffix, ReplayTTL, ReplayMaxBytes, ReplayMaxValueSize, func(b *Buckets) *Bucket { return &b.Replay }},
}

// checkValue refuses a value longer than max (0: no limit).
func checkValue(value []byte, max int) error {
	if max > 0 && len(value) > max {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(value), max)
	}
	return nil
}
