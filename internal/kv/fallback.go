package kv

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Fallback is a Bucket that keeps the login tier signing people in while its primary
// bucket (NATS JetStream KV) cannot be reached: every NATS node down, or the moments of
// a leader election after one node dies (ARCHITECTURE.md §6, "broker down: nothing").
//
// It keeps two kinds of entries in this process's memory, bounded by MaxBytes:
//
//   - mirrors: a copy of each entry this process wrote to (or read from) the primary,
//     kept MirrorTTL at most, with the primary's revision. They are used only while the
//     primary is unreachable, so that a flow started before the outage (an
//     authorization request, a code, a session) finishes during it on this process.
//   - local entries: written while the primary is unreachable (or that changed a mirror
//     then). Their revisions have LocalRevision set, and they take precedence over the
//     primary for their key until they are consumed, deleted, expire, or are promoted.
//
// While the primary is unreachable, a key that is in neither is MissWhileDown:
// ErrUnavailable by default (nobody can say it is absent), ErrNotFound for buckets
// whose callers may start afresh (throttle counters: a local window instead of none).
//
// Deletes and consumes of mirrored entries done during an outage are queued as
// tombstones and replayed on the primary (a delete conditional on the revision) when it
// answers again — by Sync, and before any later operation on the same key reaches the
// primary; local entries are then promoted: created on the primary, after which they are
// ordinary mirrors. The process runs Sync every second.
//
// What this cannot give (documented in the README): entries written during an outage
// are visible to this process only until they are promoted, so a flow whose requests
// reach another login process during a full outage fails there; and a single-use
// artifact mirrored here and consumed during an outage stays redeemable at another
// process that can still reach the primary (a partition rather than an outage) until
// its tombstone is replayed.
type Fallback struct {
	primary Bucket
	c       FallbackConfig

	openUntil atomic.Int64 // Unix nanoseconds until which the primary is not tried
	// stalled, when set, is told that an operation found no answer while Up reported
	// the connection up (SetStalled).
	stalled atomic.Pointer[func()]

	mu      sync.Mutex
	seq     uint64
	bytes   int64
	entries map[string]fbEntry
	// tombs are the deletes of primary entries done here during an outage, by key, with
	// the revision each is conditional on (0: unconditional). Sync replays them; and
	// before any operation on the primary touches such a key, its delete is replayed
	// first, so that an entry consumed here during the outage is never served again by
	// the primary to this process.
	tombs map[string]uint64
}

// probeKey is read by Sync to learn that the primary answers again.
const probeKey = "nines-fallback-probe"

// LocalRevision marks the revisions of entries that live only in a Fallback's memory.
// A primary's revisions (JetStream stream sequences) never reach it.
const LocalRevision = uint64(1) << 63

// FallbackConfig configures NewFallback.
type FallbackConfig struct {
	TTL          time.Duration // the primary bucket's TTL: local entries live as long
	MirrorTTL    time.Duration // how long a mirror is kept; ≤ 0 or > TTL: TTL
	MaxBytes     int64         // the memory taken by keys and values; 0: DefaultFallbackMaxBytes
	MaxValueSize int           // the primary's bound on a value; 0: none
	// MissWhileDown is returned for a key that is neither mirrored nor local while the
	// primary is unreachable: ErrUnavailable (nil means it) or ErrNotFound.
	MissWhileDown error
	// Up reports whether the primary's connection is up; nil: always. A false answer
	// skips the primary at once instead of waiting for an attempt to time out.
	Up func() bool
	// AttemptTimeout bounds one operation on the primary (DefaultFallbackAttempt if 0):
	// past it the operation is done locally.
	AttemptTimeout time.Duration
	// Cooldown is how long the primary is not tried after it failed (default 1s).
	Cooldown time.Duration
	// MaxTombstones bounds the queue of deletes to replay (default 100,000; the oldest
	// are dropped, and counted, beyond it).
	MaxTombstones int
	Now           func() time.Time // nil: time.Now
	Stats         *FallbackStats   // counters shared by a set of buckets; nil: none kept
}

// Defaults of FallbackConfig.
const (
	DefaultFallbackMaxBytes = 16 << 20
	DefaultFallbackAttempt  = 2 * time.Second
	DefaultFallbackCooldown = time.Second
	DefaultMaxTombstones    = 100_000
)

// FallbackStats counts what a set of Fallback buckets did, for /metrics and /readyz.
type FallbackStats struct {
	LocalWrites       atomic.Int64 // entries written locally because the primary was unreachable
	LocalReads        atomic.Int64 // reads served from memory because the primary was unreachable
	PrimaryFailures   atomic.Int64 // primary operations that failed as unavailable
	Promoted          atomic.Int64 // local entries created on the primary after an outage
	TombstonesApplied atomic.Int64 // deletes replayed on the primary
	TombstonesDropped atomic.Int64 // deletes lost to MaxTombstones
	MirrorsSkipped    atomic.Int64 // mirrors not kept for want of room
	LocalEntries      atomic.Int64 // local (not yet promoted) entries now
	// DownSince is when a primary of the set was last found unreachable (Unix
	// nanoseconds), 0 once one answered again.
	DownSince atomic.Int64
}

type fbEntry struct {
	value   []byte
	rev     uint64 // LocalRevision set: local
	expires time.Time
}

func (e fbEntry) local() bool { return e.rev&LocalRevision != 0 }

// NewFallback wraps primary.
func NewFallback(primary Bucket, c FallbackConfig) *Fallback {
	if c.MirrorTTL <= 0 || (c.TTL > 0 && c.MirrorTTL > c.TTL) {
		c.MirrorTTL = c.TTL
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultFallbackMaxBytes
	}
	if c.MissWhileDown == nil {
		c.MissWhileDown = ErrUnavailable
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultFallbackAttempt
	}
	if c.Cooldown <= 0 {
		c.Cooldown = DefaultFallbackCooldown
	}
	if c.MaxTombstones <= 0 {
		c.MaxTombstones = DefaultMaxTombstones
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Stats == nil {
		c.Stats = new(FallbackStats)
	}
	return &Fallback{primary: primary, c: c, entries: make(map[string]fbEntry), tombs: make(map[string]uint64)}
}

// SetStalled sets fn to be called when an operation on the primary failed as
// unavailable while Up reported the connection up: a connection that looks up but
// carries nothing (a path that blackholes its traffic) stays "up" for minutes, until
// the client's pings notice; fn may check it and reconnect. fn must not block: it is
// called on the request's path.
func (f *Fallback) SetStalled(fn func()) {
	if fn == nil {
		f.stalled.Store(nil)
		return
	}
	f.stalled.Store(&fn)
}

// usable reports whether the primary may be tried now.
func (f *Fallback) usable() bool {
	if f.c.Up != nil && !f.c.Up() {
		f.markDown()
		return false
	}
	return f.c.Now().UnixNano() >= f.openUntil.Load()
}

func (f *Fallback) markDown() {
	now := f.c.Now()
	f.openUntil.Store(now.Add(f.c.Cooldown).UnixNano())
	f.c.Stats.DownSince.CompareAndSwap(0, now.UnixNano())
}

// attempt runs op on the primary within AttemptTimeout. It reports false when the
// primary could not answer (the operation is then done locally); ErrFull and every
// statement about the key are the primary's answer.
func (f *Fallback) attempt(ctx context.Context, op func(ctx context.Context) error) (error, bool) {
	actx, cancel := context.WithTimeout(ctx, f.c.AttemptTimeout)
	err := op(actx)
	cancel()
	if err == nil || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrFull) {
		f.c.Stats.DownSince.Store(0)
		return err, true
	}
	if ctx.Err() != nil { // the caller gave up: not the primary's fault
		return err, true
	}
	f.c.Stats.PrimaryFailures.Add(1)
	f.markDown()
	if fn := f.stalled.Load(); fn != nil && (f.c.Up == nil || f.c.Up()) {
		(*fn)()
	}
	return err, false
}

// live returns key's entry unless it is absent or expired. f.mu must be held.
func (f *Fallback) live(key string) (fbEntry, bool) {
	e, ok := f.entries[key]
	if !ok {
		return fbEntry{}, false
	}
	if !f.c.Now().Before(e.expires) {
		f.drop(key)
		return fbEntry{}, false
	}
	return e, true
}

// drop removes key's entry. f.mu must be held.
func (f *Fallback) drop(key string) {
	if e, ok := f.entries[key]; ok {
		f.bytes -= int64(len(key) + len(e.value))
		if e.local() {
			f.c.Stats.LocalEntries.Add(-1)
		}
		delete(f.entries, key)
	}
}

// store puts an entry for key with rev, kept for ttl, if it fits. f.mu must be held.
func (f *Fallback) store(key string, value []byte, rev uint64, ttl time.Duration) bool {
	size := int64(len(key) + len(value))
	old, had := f.entries[key]
	oldSize := int64(0)
	if had {
		oldSize = int64(len(key) + len(old.value))
	}
	if f.bytes-oldSize+size > f.c.MaxBytes && !f.evict(f.bytes-oldSize+size-f.c.MaxBytes, key) {
		return false
	}
	f.drop(key)
	f.entries[key] = fbEntry{value: append([]byte(nil), value...), rev: rev, expires: f.c.Now().Add(ttl)}
	f.bytes += size
	if rev&LocalRevision != 0 {
		f.c.Stats.LocalEntries.Add(1)
	}
	return true
}

// evictScan bounds the entries evict looks at for one write.
const evictScan = 4096

// evict frees at least need bytes by dropping expired entries and mirrors (never local
// entries, never keep), looking at no more than evictScan entries; it reports whether it
// freed enough. Map iteration starts at a random entry, so the mirrors dropped are a
// random sample: a full bucket keeps taking new mirrors and local entries. f.mu must be
// held.
func (f *Fallback) evict(need int64, keep string) bool {
	now := f.c.Now()
	seen := 0
	for k, e := range f.entries {
		if need <= 0 || seen == evictScan {
			break
		}
		seen++
		if k == keep || (e.local() && now.Before(e.expires)) {
			continue
		}
		need -= int64(len(k) + len(e.value))
		f.drop(k)
	}
	return need <= 0
}

// sweep drops every expired entry. f.mu must be held.
func (f *Fallback) sweep() {
	now := f.c.Now()
	for k, e := range f.entries {
		if !now.Before(e.expires) {
			f.drop(k)
		}
	}
}

// mirror keeps a copy of the primary's entry key@rev, unless a local entry or a newer
// mirror is there.
func (f *Fallback) mirror(key string, value []byte, rev uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.live(key); ok && (e.local() || e.rev >= rev) {
		return
	}
	if !f.store(key, value, rev, f.c.MirrorTTL) {
		f.c.Stats.MirrorsSkipped.Add(1)
	}
}

// forget drops key's mirror (not a local entry) at or below rev (0: any).
func (f *Fallback) forget(key string, rev uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.entries[key]; ok && !e.local() && (rev == 0 || e.rev <= rev) {
		f.drop(key)
	}
}

// writeLocal stores value as a local entry. f.mu must be held.
func (f *Fallback) writeLocal(key string, value []byte) (uint64, error) {
	f.seq++
	rev := LocalRevision | f.seq
	if !f.store(key, value, rev, f.c.TTL) {
		return 0, ErrFull
	}
	f.c.Stats.LocalWrites.Add(1)
	return rev, nil
}

// bury queues a delete of the primary's key at rev (0: unconditional). Past
// MaxTombstones an arbitrary queued delete is dropped (counted). f.mu must be held.
func (f *Fallback) bury(key string, rev uint64) {
	if _, ok := f.tombs[key]; !ok && len(f.tombs) >= f.c.MaxTombstones {
		for k := range f.tombs {
			delete(f.tombs, k)
			f.c.Stats.TombstonesDropped.Add(1)
			break
		}
	}
	f.tombs[key] = rev
}

// settle replays key's queued delete on the primary before an operation there, so that
// the primary never serves this process an entry it consumed or replaced during an
// outage. It reports false when the primary did not answer (the operation is then done
// locally).
func (f *Fallback) settle(ctx context.Context, key string) bool {
	f.mu.Lock()
	rev, ok := f.tombs[key]
	f.mu.Unlock()
	if !ok {
		return true
	}
	_, answered := f.attempt(ctx, func(ctx context.Context) error { return f.primary.Delete(ctx, key, rev) })
	if !answered {
		return false
	}
	f.mu.Lock()
	if r, still := f.tombs[key]; still && r == rev {
		delete(f.tombs, key)
	}
	f.mu.Unlock()
	f.c.Stats.TombstonesApplied.Add(1)
	return true
}

// localEntry returns key's local entry, if any.
func (f *Fallback) localEntry(key string) (fbEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.live(key)
	return e, ok && e.local()
}

func (f *Fallback) Get(ctx context.Context, key string) (Entry, error) {
	if err := begin(ctx, key); err != nil {
		return Entry{}, err
	}
	if e, ok := f.localEntry(key); ok {
		return Entry{Key: key, Value: append([]byte(nil), e.value...), Revision: e.rev}, nil
	}
	if f.usable() && f.settle(ctx, key) {
		var got Entry
		err, answered := f.attempt(ctx, func(ctx context.Context) (err error) {
			got, err = f.primary.Get(ctx, key)
			return err
		})
		if answered {
			switch {
			case err == nil:
				f.mirror(key, got.Value, got.Revision)
			case errors.Is(err, ErrNotFound):
				f.forget(key, 0)
			}
			return got, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.live(key); ok {
		f.c.Stats.LocalReads.Add(1)
		return Entry{Key: key, Value: append([]byte(nil), e.value...), Revision: e.rev}, nil
	}
	return Entry{}, f.c.MissWhileDown
}

func (f *Fallback) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	if err := checkValue(value, f.c.MaxValueSize); err != nil {
		return 0, err
	}
	if _, ok := f.localEntry(key); ok {
		return 0, ErrExists
	}
	if f.usable() && f.settle(ctx, key) {
		var rev uint64
		err, answered := f.attempt(ctx, func(ctx context.Context) (err error) {
			rev, err = f.primary.Create(ctx, key, value)
			return err
		})
		if answered {
			if err == nil {
				f.mirror(key, value, rev)
			}
			return rev, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.live(key); ok {
		return 0, ErrExists
	}
	return f.writeLocal(key, value)
}

func (f *Fallback) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	if rev == 0 {
		return 0, ErrInvalidRevision
	}
	if err := checkValue(value, f.c.MaxValueSize); err != nil {
		return 0, err
	}
	if rev&LocalRevision != 0 {
		f.mu.Lock()
		defer f.mu.Unlock()
		if e, ok := f.live(key); !ok || e.rev != rev {
			return 0, ErrConflict
		}
		return f.writeLocal(key, value)
	}
	if _, ok := f.localEntry(key); ok {
		return 0, ErrConflict // a local entry supersedes the primary's revisions
	}
	if f.usable() && f.settle(ctx, key) {
		var nrev uint64
		err, answered := f.attempt(ctx, func(ctx context.Context) (err error) {
			nrev, err = f.primary.Update(ctx, key, value, rev)
			return err
		})
		if answered {
			if err == nil {
				f.mirror(key, value, nrev)
			}
			return nrev, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.live(key)
	switch {
	case !ok:
		return 0, f.missWrite()
	case e.local() || e.rev != rev:
		return 0, ErrConflict
	}
	nrev, err := f.writeLocal(key, value)
	if err == nil {
		f.bury(key, rev) // the primary's copy is stale now
	}
	return nrev, err
}

// missWrite is the answer to a conditional write on a key this process does not hold
// while the primary is unreachable: with MissWhileDown ErrNotFound (start afresh), the
// key is absent as far as anyone can tell, so a revision cannot match.
func (f *Fallback) missWrite() error {
	if errors.Is(f.c.MissWhileDown, ErrNotFound) {
		return ErrConflict
	}
	return f.c.MissWhileDown
}

func (f *Fallback) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	if err := checkValue(value, f.c.MaxValueSize); err != nil {
		return 0, err
	}
	if f.usable() && f.settle(ctx, key) {
		var rev uint64
		err, answered := f.attempt(ctx, func(ctx context.Context) (err error) {
			rev, err = f.primary.Put(ctx, key, value)
			return err
		})
		if answered {
			if err == nil {
				f.mu.Lock()
				f.drop(key) // a local entry is superseded by the unconditional write
				f.mu.Unlock()
				f.mirror(key, value, rev)
			}
			return rev, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.live(key); ok && !e.local() {
		f.bury(key, e.rev)
	}
	return f.writeLocal(key, value)
}

func (f *Fallback) Delete(ctx context.Context, key string, rev uint64) error {
	if err := begin(ctx, key); err != nil {
		return err
	}
	if rev&LocalRevision != 0 {
		f.mu.Lock()
		defer f.mu.Unlock()
		if e, ok := f.live(key); !ok || e.rev != rev {
			return ErrConflict
		}
		f.drop(key)
		return nil
	}
	if rev == 0 { // unconditional: the local entry goes too
		f.mu.Lock()
		f.drop(key)
		f.mu.Unlock()
	} else if _, ok := f.localEntry(key); ok {
		return ErrConflict
	}
	if f.usable() && f.settle(ctx, key) {
		err, answered := f.attempt(ctx, func(ctx context.Context) error { return f.primary.Delete(ctx, key, rev) })
		if answered {
			if err == nil {
				f.forget(key, 0)
			}
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.live(key)
	switch {
	case rev == 0:
		f.bury(key, 0)
		return nil
	case !ok:
		return f.missWrite()
	case e.rev != rev:
		return ErrConflict
	}
	f.drop(key)
	f.bury(key, rev)
	return nil
}

func (f *Fallback) Consume(ctx context.Context, key string) (Entry, error) {
	if err := begin(ctx, key); err != nil {
		return Entry{}, err
	}
	f.mu.Lock()
	if e, ok := f.live(key); ok && e.local() {
		f.drop(key)
		f.mu.Unlock()
		return Entry{Key: key, Value: e.value, Revision: e.rev}, nil
	}
	f.mu.Unlock()
	if f.usable() && f.settle(ctx, key) {
		var got Entry
		err, answered := f.attempt(ctx, func(ctx context.Context) (err error) {
			got, err = f.primary.Consume(ctx, key)
			return err
		})
		if answered {
			if err == nil || errors.Is(err, ErrNotFound) {
				f.forget(key, 0)
			}
			return got, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.live(key)
	if !ok {
		return Entry{}, f.c.MissWhileDown
	}
	f.drop(key)
	if !e.local() {
		f.bury(key, e.rev)
	}
	f.c.Stats.LocalReads.Add(1)
	return Entry{Key: key, Value: e.value, Revision: e.rev}, nil
}

// Sync brings the primary up to date after an outage, if it answers: it replays the
// queued deletes (each conditional on the revision this process last saw), then creates
// every local entry on the primary, after which it is an ordinary mirror. A local entry
// whose key the primary already has (another process wrote it meanwhile: a throttle
// counter) is dropped: the primary is authoritative. It also drops expired entries. At
// most batch deletes and batch promotions per call. It reports how many are still
// waiting and the first error that left work undone.
func (f *Fallback) Sync(ctx context.Context, batch int) (pending int, err error) {
	f.mu.Lock()
	f.sweep()
	f.mu.Unlock()
	if !f.usable() {
		return f.pending(), nil
	}
	if f.c.Stats.DownSince.Load() != 0 && f.pending() == 0 {
		// Nothing to hand back, but the outage is still on record: one read tells
		// whether the primary answers again (absent is an answer).
		_, _ = f.attempt(ctx, func(ctx context.Context) error {
			_, err := f.primary.Get(ctx, probeKey)
			return err
		})
	}
	f.mu.Lock()
	keys := make([]string, 0, min(batch, len(f.tombs)))
	for k := range f.tombs {
		if len(keys) == batch {
			break
		}
		keys = append(keys, k)
	}
	f.mu.Unlock()
	for _, k := range keys {
		// Deleted, or changed since (a newer write wins), or gone: done either way.
		if !f.settle(ctx, k) {
			return f.pending(), ErrUnavailable
		}
	}
	type promotion struct {
		key   string
		value []byte
		rev   uint64
	}
	var locals []promotion
	f.mu.Lock()
	for k, e := range f.entries {
		if len(locals) == batch {
			break
		}
		if e.local() && f.c.Now().Before(e.expires) {
			locals = append(locals, promotion{k, e.value, e.rev})
		}
	}
	f.mu.Unlock()
	for _, p := range locals {
		var rev uint64
		cerr, answered := f.attempt(ctx, func(ctx context.Context) (err error) {
			rev, err = f.primary.Create(ctx, p.key, p.value)
			return err
		})
		if !answered {
			return f.pending(), cerr
		}
		f.mu.Lock()
		e, ok := f.live(p.key)
		switch {
		case cerr != nil: // the primary has the key: it wins
			if ok && e.rev == p.rev {
				f.drop(p.key)
			}
		case ok && e.rev == p.rev: // promoted: an ordinary mirror now
			f.drop(p.key)
			f.store(p.key, p.value, rev, f.c.MirrorTTL)
			f.c.Stats.Promoted.Add(1)
		default: // changed or gone meanwhile: the primary's copy is stale
			f.bury(p.key, rev)
		}
		f.mu.Unlock()
	}
	return f.pending(), nil
}

// pending counts the tombstones and local entries Sync has still to bring over.
func (f *Fallback) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.tombs)
	for _, e := range f.entries {
		if e.local() {
			n++
		}
	}
	return n
}
