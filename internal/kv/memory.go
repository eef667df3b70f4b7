package kv

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how many writes a Memory bucket takes between two sweeps of expired
// entries, which bounds its memory by the live set plus that many entries' worth of churn.
const sweepEvery = 1024

// Memory is a Bucket held in this process's memory, with the semantics of the NATS
// buckets (the kvtest suite runs on both): revisions increase across the whole bucket and
// every write, a delete included, takes one; an entry expires ttl after its last write;
// Create succeeds on a deleted or expired key. It is for tests and for a single process
// that may lose its state; it is not replicated and does not survive a restart.
type Memory struct {
	ttl          time.Duration
	now          func() time.Time
	maxBytes     int64
	maxValueSize int

	mu      sync.Mutex
	seq     uint64
	writes  int
	bytes   int64 // the live entries' keys and values
	entries map[string]memEntry
}

type memEntry struct {
	value   []byte
	rev     uint64
	expires time.Time // zero: never
}

// MemoryConfig configures NewMemoryBucket.
type MemoryConfig struct {
	TTL time.Duration    // entries expire this long after their last write; ≤ 0: never
	Now func() time.Time // nil: time.Now
	// MaxBytes is the bucket's size, counted as the live entries' keys and values (NATS
	// also counts a per-entry overhead): a write that would pass it is ErrFull, unless it
	// rewrites a key with a value no larger, as on NATS. 0: no limit.
	MaxBytes int64
	// MaxValueSize bounds each value (ErrTooLarge beyond it); 0: no limit.
	MaxValueSize int
}

// NewMemory returns an empty in-memory bucket whose entries expire ttl after their last
// write (ttl ≤ 0: never), reading the time from now (nil: time.Now), without size limits.
func NewMemory(ttl time.Duration, now func() time.Time) Bucket {
	return NewMemoryBucket(MemoryConfig{TTL: ttl, Now: now})
}

// NewMemoryBucket returns an empty in-memory bucket configured by c.
func NewMemoryBucket(c MemoryConfig) Bucket {
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Memory{ttl: c.TTL, now: c.Now, maxBytes: max(c.MaxBytes, 0), maxValueSize: max(c.MaxValueSize, 0),
		entries: make(map[string]memEntry)}
}

func entrySize(key string, value []byte) int64 { return int64(len(key) + len(value)) }

// drop removes key's entry. m.mu must be held.
func (m *Memory) drop(key string) {
	if e, ok := m.entries[key]; ok {
		m.bytes -= entrySize(key, e.value)
		delete(m.entries, key)
	}
}

// live returns key's entry unless it is absent or expired. m.mu must be held.
func (m *Memory) live(key string) (memEntry, bool) {
	e, ok := m.entries[key]
	if !ok {
		return memEntry{}, false
	}
	if !e.expires.IsZero() && !m.now().Before(e.expires) {
		m.drop(key)
		return memEntry{}, false
	}
	return e, true
}

// write stores value under key with the next revision, within the bucket's limits.
// m.mu must be held.
func (m *Memory) write(key string, value []byte) (uint64, error) {
	if err := checkValue(value, m.maxValueSize); err != nil {
		return 0, err
	}
	if m.maxBytes > 0 && !m.fits(key, value) {
		m.sweepAll() // expired entries still count until swept
		if !m.fits(key, value) {
			return 0, ErrFull
		}
	}
	m.seq++
	e := memEntry{value: append([]byte(nil), value...), rev: m.seq}
	if m.ttl > 0 {
		e.expires = m.now().Add(m.ttl)
	}
	m.drop(key)
	m.entries[key] = e
	m.bytes += entrySize(key, value)
	m.sweep()
	return e.rev, nil
}

// fits reports whether writing value under key stays within MaxBytes, or replaces a
// value at least as large (which JetStream's discard-new policy also lets through).
// m.mu must be held.
func (m *Memory) fits(key string, value []byte) bool {
	size := entrySize(key, value)
	old, ok := m.entries[key]
	if ok && size <= entrySize(key, old.value) {
		return true
	}
	oldSize := int64(0)
	if ok {
		oldSize = entrySize(key, old.value)
	}
	return m.bytes-oldSize+size <= m.maxBytes
}

// sweep drops expired entries once every sweepEvery writes. m.mu must be held.
func (m *Memory) sweep() {
	m.writes++
	if m.writes < sweepEvery {
		return
	}
	m.sweepAll()
}

// sweepAll drops every expired entry. m.mu must be held.
func (m *Memory) sweepAll() {
	m.writes = 0
	if m.ttl <= 0 {
		return
	}
	now := m.now()
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			m.drop(k)
		}
	}
}

// Get returns key's latest value.
func (m *Memory) Get(ctx context.Context, key string) (Entry, error) {
	if err := begin(ctx, key); err != nil {
		return Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.live(key)
	if !ok {
		return Entry{}, ErrNotFound
	}
	return Entry{Key: key, Value: append([]byte(nil), e.value...), Revision: e.rev}, nil
}

// Create writes key only if it is absent.
func (m *Memory) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live(key); ok {
		return 0, ErrExists
	}
	return m.write(key, value)
}

// Update writes key only if its latest revision is rev.
func (m *Memory) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	if rev == 0 {
		return 0, ErrInvalidRevision
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.live(key); !ok || e.rev != rev {
		return 0, ErrConflict
	}
	return m.write(key, value)
}

// Put writes key unconditionally.
func (m *Memory) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live(key) // an expired value does not count as one being replaced
	return m.write(key, value)
}

// Delete removes key; with rev > 0 only if its latest revision is rev. Deleting an absent
// key without a revision succeeds; with one it is ErrConflict, as on NATS.
func (m *Memory) Delete(ctx context.Context, key string, rev uint64) error {
	if err := begin(ctx, key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.live(key)
	if rev > 0 && (!ok || e.rev != rev) {
		return ErrConflict
	}
	// A delete takes a revision, like the delete marker NATS writes.
	m.seq++
	m.drop(key)
	return nil
}

// Consume returns key's entry and deletes it; of concurrent callers exactly one gets it.
func (m *Memory) Consume(ctx context.Context, key string) (Entry, error) {
	if err := begin(ctx, key); err != nil {
		return Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.live(key)
	if !ok {
		return Entry{}, ErrNotFound
	}
	m.seq++
	m.drop(key)
	return Entry{Key: key, Value: e.value, Revision: e.rev}, nil
}

var _ Bucket = (*Memory)(nil)

// NewMemoryBuckets returns the login tier's buckets in memory, each with the TTL and
// the limits Open gives it on NATS, for tests of the packages that use them.
func NewMemoryBuckets(now func() time.Time) Buckets {
	var b Buckets
	for _, s := range specs {
		*s.dst(&b) = NewMemoryBucket(MemoryConfig{TTL: s.ttl, Now: now, MaxBytes: s.maxBytes, MaxValueSize: s.maxValueSize})
	}
	return b
}
