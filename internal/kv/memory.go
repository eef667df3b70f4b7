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
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	seq     uint64
	writes  int
	entries map[string]memEntry
}

type memEntry struct {
	value   []byte
	rev     uint64
	expires time.Time // zero: never
}

// NewMemory returns an empty in-memory bucket whose entries expire ttl after their last
// write (ttl ≤ 0: never), reading the time from now (nil: time.Now).
func NewMemory(ttl time.Duration, now func() time.Time) Bucket {
	if now == nil {
		now = time.Now
	}
	return &Memory{ttl: ttl, now: now, entries: make(map[string]memEntry)}
}

// live returns key's entry unless it is absent or expired. m.mu must be held.
func (m *Memory) live(key string) (memEntry, bool) {
	e, ok := m.entries[key]
	if !ok {
		return memEntry{}, false
	}
	if !e.expires.IsZero() && !m.now().Before(e.expires) {
		delete(m.entries, key)
		return memEntry{}, false
	}
	return e, true
}

// write stores value under key with the next revision. m.mu must be held.
func (m *Memory) write(key string, value []byte) uint64 {
	m.seq++
	e := memEntry{value: append([]byte(nil), value...), rev: m.seq}
	if m.ttl > 0 {
		e.expires = m.now().Add(m.ttl)
	}
	m.entries[key] = e
	m.sweep()
	return e.rev
}

// sweep drops expired entries once every sweepEvery writes. m.mu must be held.
func (m *Memory) sweep() {
	m.writes++
	if m.writes < sweepEvery || m.ttl <= 0 {
		return
	}
	m.writes = 0
	now := m.now()
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, k)
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
	return m.write(key, value), nil
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
	return m.write(key, value), nil
}

// Put writes key unconditionally.
func (m *Memory) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.write(key, value), nil
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
	delete(m.entries, key)
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
	delete(m.entries, key)
	return Entry{Key: key, Value: e.value, Revision: e.rev}, nil
}

var _ Bucket = (*Memory)(nil)

// NewMemoryBuckets returns the login tier's buckets in memory, each with its TTL, for
// tests of the packages that use them.
func NewMemoryBuckets(now func() time.Time) Buckets {
	return Buckets{
		AuthRequests: NewMemory(AuthRequestTTL, now),
		Codes:        NewMemory(CodeTTL, now),
		Sessions:     NewMemory(SessionTTL, now),
		DeviceCodes:  NewMemory(DeviceCodeTTL, now),
		Throttle:     NewMemory(ThrottleTTL, now),
		Refresh:      NewMemory(RefreshTTL, now),
	}
}
