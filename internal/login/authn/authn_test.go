package authn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login/authn"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

var cheap = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// users is a fake login.UserReader over a slice, counting lookups.
type users struct {
	mu      sync.Mutex
	list    []user.User
	lookups int
	err     error // returned by every lookup when set
}

func (f *users) find(tenantID uuid.UUID, match func(user.User) bool) (user.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return user.User{}, f.err
	}
	for _, u := range f.list {
		if u.TenantID == tenantID && match(u) {
			return u, nil
		}
	}
	return user.User{}, store.ErrNotFound
}

func (f *users) User(_ context.Context, tenantID, id uuid.UUID) (user.User, error) {
	return f.find(tenantID, func(u user.User) bool { return u.ID == id })
}
func (f *users) UserByUsername(_ context.Context, tenantID uuid.UUID, name string) (user.User, error) {
	return f.find(tenantID, func(u user.User) bool { return u.Username == name })
}
func (f *users) UserByEmail(_ context.Context, tenantID uuid.UUID, email string) (user.User, error) {
	return f.find(tenantID, func(u user.User) bool { return u.Email != "" && u.Email == email })
}
func (f *users) GroupsOfUser(context.Context, uuid.UUID, uuid.UUID) ([]user.Group, error) {
	return nil, nil
}

func (f *users) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.lookups }

// recorder is a fake login.Recorder.
type recorder struct {
	mu       sync.Mutex
	signedIn []uuid.UUID
	rehashed map[uuid.UUID]string
	failed   []failedAttempt
	err      error // of SignedIn and PasswordRehashed
	failErr  error // of SignInFailed
}

type failedAttempt struct {
	user           uuid.UUID
	source, reason string
}

func (r *recorder) SignInFailed(_ context.Context, _, userID uuid.UUID, source, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failErr != nil {
		return r.failErr
	}
	r.failed = append(r.failed, failedAttempt{user: userID, source: source, reason: reason})
	return nil
}

func (r *recorder) SignedIn(_ context.Context, _, userID uuid.UUID, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signedIn = append(r.signedIn, userID)
	return r.err
}

func (r *recorder) PasswordRehashed(_ context.Context, _, userID uuid.UUID, hash string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rehashed == nil {
		r.rehashed = map[uuid.UUID]string{}
	}
	r.rehashed[userID] = hash
	return r.err
}

// faultyBucket fails the named operations with err.
type faultyBucket struct {
	kv.Bucket
	fail map[string]bool
	err  error
}

func (b faultyBucket) Get(ctx context.Context, k string) (kv.Entry, error) {
	if b.fail["get"] {
		return kv.Entry{}, b.err
	}
	return b.Bucket.Get(ctx, k)
}
func (b faultyBucket) Create(ctx context.Context, k string, v []byte) (uint64, error) {
	if b.fail["create"] {
		return 0, b.err
	}
	return b.Bucket.Create(ctx, k, v)
}
func (b faultyBucket) Delete(ctx context.Context, k string, rev uint64) error {
	if b.fail["delete"] {
		return b.err
	}
	return b.Bucket.Delete(ctx, k, rev)
}

const (
	alicePW = "correct horse battery"
	ip      = "192.0.2.10"
)

type fixture struct {
	tenant tenant.Tenant
	alice  user.User
	users  *users
	rec    *recorder
	clock  *clock
	kv     kv.Bucket
	hasher *password.Hasher
	cfg    authn.Config
	a      *authn.Authenticator
}

func newFixture(t testing.TB, mods ...func(*authn.Config)) *fixture {
	t.Helper()
	f := &fixture{
		tenant: tenant.Tenant{ID: uuid.New(), Slug: "acme", DisplayName: "Acme", Status: tenant.StatusActive,
			Lockout: tenant.LockoutPolicy{Threshold: 3, Duration: 15 * time.Minute}},
		rec:    &recorder{},
		clock:  &clock{now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)},
		hasher: password.New(password.Config{Params: cheap, Concurrency: 4}),
	}
	f.kv = kv.NewMemory(kv.ThrottleTTL, f.clock.Now)
	hash, err := f.hasher.Hash(context.Background(), alicePW)
	if err != nil {
		t.Fatal(err)
	}
	other := tenant.Tenant{ID: uuid.New()}
	f.alice = user.User{ID: uuid.New(), TenantID: f.tenant.ID, Username: "alice", Email: "alice@example.com",
		Status: user.StatusActive, PasswordHash: hash}
	f.users = &users{list: []user.User{
		f.alice,
		{ID: uuid.New(), TenantID: f.tenant.ID, Username: "bob", Status: user.StatusDisabled, PasswordHash: hash},
		{ID: uuid.New(), TenantID: f.tenant.ID, Username: "carol", Status: user.StatusActive},
		{ID: uuid.New(), TenantID: f.tenant.ID, Username: "dave@home", Status: user.StatusActive, PasswordHash: hash},
		{ID: uuid.New(), TenantID: other.ID, Username: "erin", Status: user.StatusActive, PasswordHash: hash},
	}}
	f.cfg = authn.Config{Users: f.users, Hasher: f.hasher, Throttle: f.kv, Recorder: f.rec, Now: f.clock.Now,
		IPLimit: 1000}
	for _, m := range mods {
		m(&f.cfg)
	}
	f.a = authn.New(f.cfg)
	return f
}

func (f *fixture) auth(name, pw string) (user.User, error) {
	return f.a.Authenticate(context.Background(), f.tenant, name, pw, ip)
}

// failures reads the failure count ("n") stored under key; 0 when there is none.
func failures(t *testing.T, b kv.Bucket, key string) int {
	t.Helper()
	e, err := b.Get(context.Background(), key)
	if errors.Is(err, kv.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ N int }
	if err := json.Unmarshal(e.Value, &v); err != nil {
		t.Fatal(err)
	}
	return v.N
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	disabled := f.tenant
	disabled.Status = tenant.StatusDisabled
	tests := []struct {
		name     string
		tenant   *tenant.Tenant
		login    string
		pw       string
		wantErr  error
		wantUser uuid.UUID
	}{
		{name: "username", login: "alice", pw: alicePW, wantUser: f.alice.ID},
		{name: "username normalised", login: "  ALICE ", pw: alicePW, wantUser: f.alice.ID},
		{name: "email", login: "Alice@Example.com", pw: alicePW, wantUser: f.alice.ID},
		{name: "username holding @", login: "dave@home", pw: alicePW, wantUser: f.users.list[3].ID},
		{name: "wrong password", login: "alice", pw: "wrong password", wantErr: authn.ErrInvalidCredentials},
		{name: "password differs in case", login: "alice", pw: "Correct horse battery", wantErr: authn.ErrInvalidCredentials},
		{name: "unknown user", login: "mallory", pw: alicePW, wantErr: authn.ErrInvalidCredentials},
		{name: "unknown email", login: "mallory@example.com", pw: alicePW, wantErr: authn.ErrInvalidCredentials},
		{name: "disabled user with right password", login: "bob", pw: alicePW, wantErr: authn.ErrInvalidCredentials},
		{name: "user without password", login: "carol", pw: alicePW, wantErr: authn.ErrInvalidCredentials},
		{name: "user of another tenant", login: "erin", pw: alicePW, wantErr: authn.ErrInvalidCredentials},
		{name: "empty password", login: "alice", pw: "", wantErr: authn.ErrInvalidCredentials},
		{name: "empty login", login: "  ", pw: alicePW, wantErr: authn.ErrInvalidCredentials},
		{name: "overlong password", login: "alice", pw: string(make([]byte, user.MaxPasswordLen+1)), wantErr: authn.ErrInvalidCredentials},
		{name: "disabled tenant", tenant: &disabled, login: "alice", pw: alicePW, wantErr: authn.ErrTenantDisabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := f.tenant
			if tt.tenant != nil {
				tn = *tt.tenant
			}
			before := len(f.rec.signedIn)
			u, err := f.a.Authenticate(context.Background(), tn, tt.login, tt.pw, ip)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if u.ID != tt.wantUser {
				t.Errorf("user = %v, want %v", u.ID, tt.wantUser)
			}
			if err == nil && u.PasswordHash != "" {
				t.Error("the returned user carries its password hash")
			}
			wantRecorded := 0
			if err == nil {
				wantRecorded = 1
			}
			if got := len(f.rec.signedIn) - before; got != wantRecorded {
				t.Errorf("SignedIn called %d times, want %d", got, wantRecorded)
			}
			// Reset the counters between cases so that no case is locked by the others.
			f.clock.Add(kv.ThrottleTTL + time.Hour)
		})
	}
}

// TestLockout walks an existing and an unknown name through the same sequence: both lock
// at the threshold with the same answers, refuse even the right password without
// verifying it (after the same one lookup) while locked, and open again when the lock
// has been served.
func TestLockout(t *testing.T) {
	for _, name := range []string{"alice", "nobody-here"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			h := &countingHasher{Hasher: f.hasher}
			authn.SetHasher(f.a, h)
			start := f.clock.Now()
			for i := 1; i <= 2; i++ {
				if _, err := f.auth(name, "wrong password"); !errors.Is(err, authn.ErrInvalidCredentials) {
					t.Fatalf("failure %d: err = %v, want ErrInvalidCredentials", i, err)
				}
			}
			_, err := f.auth(name, "wrong password")
			var le *authn.LockedError
			if !errors.As(err, &le) || !errors.Is(err, authn.ErrLocked) {
				t.Fatalf("failure at the threshold: err = %v, want a LockedError", err)
			}
			if want := start.Add(15 * time.Minute); !le.Until.Equal(want) {
				t.Errorf("locked until %v, want %v", le.Until, want)
			}
			lookups, verifies := f.users.count(), h.calls
			f.clock.Add(15*time.Minute - time.Second)
			if _, err := f.auth(name, alicePW); !errors.Is(err, authn.ErrLocked) {
				t.Fatalf("right password while locked: err = %v, want ErrLocked", err)
			}
			if h.calls != verifies {
				t.Error("a locked attempt verified a password")
			}
			if got := f.users.count() - lookups; got != 1 {
				t.Errorf("a locked attempt made %d lookups, want 1 for every name", got)
			}
			f.clock.Add(time.Second)
			_, err = f.auth(name, alicePW)
			wantErr := error(nil)
			if name != "alice" {
				wantErr = authn.ErrInvalidCredentials
			}
			if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
				t.Fatalf("after the lock: err = %v, want %v", err, wantErr)
			}
		})
	}
}

func TestSuccessResetsCounter(t *testing.T) {
	f := newFixture(t)
	for range 2 {
		if _, err := f.auth("alice", "wrong password"); !errors.Is(err, authn.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	if _, err := f.auth("alice", alicePW); err != nil {
		t.Fatal(err)
	}
	// Two more failures stay under the threshold of 3 only if the success reset the count.
	for i := range 2 {
		if _, err := f.auth("ALICE", "wrong password"); !errors.Is(err, authn.ErrInvalidCredentials) {
			t.Fatalf("failure %d after a success: %v", i+1, err)
		}
	}
}

func TestIPLimit(t *testing.T) {
	f := newFixture(t, func(c *authn.Config) { c.IPLimit = 4; c.IPWindow = 10 * time.Minute })
	try := func(name, pw, from string) error {
		_, err := f.a.Authenticate(context.Background(), f.tenant, name, pw, from)
		return err
	}
	// Four failures on four names (no account reaches its threshold) from one /64.
	for i, from := range []string{"2001:db8::1", "2001:db8::2", "[2001:db8::3]:443", "2001:db8:0:0:ffff::9"} {
		if err := try(fmt.Sprintf("user%d", i), "wrong password", from); !errors.Is(err, authn.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	tests := []struct {
		name    string
		advance time.Duration
		from    string
		wantErr error
	}{
		{name: "same /64 is blocked, even with the right password", from: "2001:db8::42", wantErr: authn.ErrLocked},
		{name: "another address signs in", from: "198.51.100.7"},
		{name: "another /64 signs in", from: "2001:db8:1::1"},
		{name: "still blocked just before the window ends", advance: 10*time.Minute - time.Millisecond, from: "2001:db8::1", wantErr: authn.ErrLocked},
		{name: "a new window opens", advance: time.Millisecond, from: "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.clock.Add(tt.advance)
			err := try("alice", alicePW, tt.from)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// gateBucket holds back the answers of the Gets numbered from..to (counted per key)
// until all of them have read, so that that many writers read the same revision and then
// race to write it: compare-and-swap conflicts are certain, not left to the scheduler.
type gateBucket struct {
	kv.Bucket
	mu    sync.Mutex
	gets  map[string]int
	gates map[string]*gate
}

type gate struct {
	from, to int
	open     chan struct{}
}

func (b *gateBucket) Get(ctx context.Context, key string) (kv.Entry, error) {
	b.mu.Lock()
	b.gets[key]++
	n, g := b.gets[key], b.gates[key]
	b.mu.Unlock()
	e, err := b.Bucket.Get(ctx, key)
	if g != nil && n >= g.from && n <= g.to {
		if n == g.to {
			close(g.open)
		}
		select {
		case <-g.open:
		case <-time.After(10 * time.Second): // a bug elsewhere must not hang the test
		}
	}
	return e, err
}

// TestConcurrentFailures proves that compare-and-swap counts every one of many
// simultaneous failures, per account and per source address, when all of them read the
// counter before any writes it.
func TestConcurrentFailures(t *testing.T) {
	const n = 30
	f := newFixture(t)
	f.tenant.Lockout.Threshold = 100
	acct, ipk := authn.UserKey(f.tenant.ID, f.alice.ID), authn.IPKey(f.tenant.ID, ip)
	gb := &gateBucket{Bucket: f.kv, gets: map[string]int{}, gates: map[string]*gate{
		acct: {from: 1, to: n, open: make(chan struct{})},         // the claims' first reads
		ipk:  {from: n + 1, to: 2 * n, open: make(chan struct{})}, // after n checks, the counting reads
	}}
	f.cfg.Throttle = gb
	a := authn.New(f.cfg)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := a.Authenticate(context.Background(), f.tenant, "alice", "wrong password", ip)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, authn.ErrInvalidCredentials) {
			t.Errorf("err = %v, want ErrInvalidCredentials", err)
		}
	}
	if got := failures(t, f.kv, acct); got != n {
		t.Errorf("account counter = %d, want %d", got, n)
	}
	if got := failures(t, f.kv, ipk); got != n {
		t.Errorf("source address counter = %d, want %d", got, n)
	}
	if gb.gets[acct] <= n || gb.gets[ipk] <= 2*n {
		t.Errorf("reads: account %d, address %d: the writers did not conflict", gb.gets[acct], gb.gets[ipk])
	}
}

// TestConcurrentGuessesStopAtThreshold: of many simultaneous guesses on one account,
// no more than the threshold get to verify a password.
func TestConcurrentGuessesStopAtThreshold(t *testing.T) {
	f := newFixture(t)
	h := &countingHasher{Hasher: f.hasher}
	authn.SetHasher(f.a, h)
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	for range 20 {
		wg.Go(func() {
			_, err := f.auth("alice", "wrong password")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, authn.ErrInvalidCredentials):
				got["invalid"]++
			case errors.Is(err, authn.ErrLocked):
				got["locked"]++
			default:
				got[fmt.Sprint(err)]++
			}
		})
	}
	wg.Wait()
	if got["invalid"] != 2 || got["locked"] != 18 {
		t.Errorf("answers = %v, want 2 invalid and 18 locked (threshold 3)", got)
	}
	if n := h.calls; n != 3 {
		t.Errorf("%d passwords verified, want 3: only the threshold's worth of guesses may verify", n)
	}
}

func TestBusyHasher(t *testing.T) {
	f := newFixture(t)
	authn.SetHasher(f.a, authn.BusyHasher{})
	if _, err := f.auth("alice", alicePW); !errors.Is(err, password.ErrBusy) {
		t.Fatalf("err = %v, want password.ErrBusy", err)
	}
	if got := failures(t, f.kv, authn.UserKey(f.tenant.ID, f.alice.ID)); got != 0 {
		t.Errorf("a busy attempt left %d failures on the account", got)
	}
}

func TestUserStoreError(t *testing.T) {
	f := newFixture(t)
	f.users.err = store.ErrUnavailable
	if _, err := f.auth("alice", alicePW); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v, want store.ErrUnavailable", err)
	}
	for _, key := range []string{authn.UserKey(f.tenant.ID, f.alice.ID), authn.AccountKey(f.tenant.ID, "alice")} {
		if got := failures(t, f.kv, key); got != 0 {
			t.Errorf("an attempt without a verdict left %d failures on the account", got)
		}
	}
}

func TestRehash(t *testing.T) {
	f := newFixture(t)
	weak := password.New(password.Config{Params: password.Params{Memory: 32, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}})
	old, err := weak.Hash(context.Background(), alicePW)
	if err != nil {
		t.Fatal(err)
	}
	f.users.list[0].PasswordHash = old
	if _, err := f.auth("alice", alicePW); err != nil {
		t.Fatal(err)
	}
	fresh := f.rec.rehashed[f.alice.ID]
	if fresh == "" || fresh == old {
		t.Fatalf("PasswordRehashed got %q, want a new hash", fresh)
	}
	ok, rehash, err := f.hasher.Verify(context.Background(), alicePW, fresh)
	if err != nil || !ok || rehash {
		t.Errorf("the new hash: ok=%v rehash=%v err=%v, want a current hash of the password", ok, rehash, err)
	}

	// A current hash is not rehashed.
	f.rec.rehashed = nil
	f.users.list[0].PasswordHash = fresh
	if _, err := f.auth("alice", alicePW); err != nil {
		t.Fatal(err)
	}
	if len(f.rec.rehashed) != 0 {
		t.Error("a current hash was rehashed")
	}
}

func TestFailures(t *testing.T) {
	kvDown := fmt.Errorf("%w: connection refused", kv.ErrUnavailable)
	tests := []struct {
		name      string
		fail      []string // bucket operations that fail
		kvErr     error
		recordErr error
		wantErr   error
	}{
		{name: "throttle unreadable before verifying fails closed", fail: []string{"get"}, kvErr: kvDown, wantErr: kv.ErrUnavailable},
		{name: "throttle unwritable before verifying fails closed", fail: []string{"create"}, kvErr: errors.New("disk full"), wantErr: kv.ErrUnavailable},
		{name: "throttle bucket full fails closed", fail: []string{"create"}, kvErr: kv.ErrFull, wantErr: kv.ErrUnavailable},
		{name: "counter reset failing after success signs in", fail: []string{"delete"}, kvErr: kvDown},
		{name: "recorder failing signs in", recordErr: errors.New("broker down")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.rec.err = tt.recordErr
			fail := map[string]bool{}
			for _, op := range tt.fail {
				fail[op] = true
			}
			f.cfg.Throttle = faultyBucket{Bucket: f.kv, fail: fail, err: tt.kvErr}
			a := authn.New(f.cfg)
			h := &countingHasher{Hasher: f.hasher}
			authn.SetHasher(a, h)
			u, err := a.Authenticate(context.Background(), f.tenant, "alice", alicePW, ip)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && u.ID != f.alice.ID {
				t.Errorf("user = %v, want alice", u.ID)
			}
			if err != nil && h.calls != 0 {
				t.Error("failed closed only after verifying the password")
			}
		})
	}
}

func TestKeysHoldNoName(t *testing.T) {
	id := uuid.New()
	for _, k := range []string{authn.AccountKey(id, "alice@example.com"), authn.IPKey(id, "2001:db8::1")} {
		if err := kv.CheckKey(k); err != nil {
			t.Errorf("key %q: %v", k, err)
		}
		for _, s := range []string{"alice", "example", "2001"} {
			if strings.Contains(k, s) {
				t.Errorf("key %q holds %q", k, s)
			}
		}
	}
	if authn.AccountKey(id, "alice") == authn.AccountKey(uuid.New(), "alice") {
		t.Error("two tenants share an account key")
	}
}

// countingHasher counts Verify calls and what they were given.
type countingHasher struct {
	*password.Hasher
	mu      sync.Mutex
	calls   int
	emptied int // calls with an empty stored hash (the dummy hash runs)
}

func (h *countingHasher) Verify(ctx context.Context, pw, hash string) (bool, bool, error) {
	h.mu.Lock()
	h.calls++
	if hash == "" {
		h.emptied++
	}
	h.mu.Unlock()
	return h.Hasher.Verify(ctx, pw, hash)
}

// TestSameWorkForEveryName: an unknown, disabled or password-less user costs one full
// Verify (against the dummy hash) and as many lookups as a real one spelled the same way.
func TestSameWorkForEveryName(t *testing.T) {
	tests := []struct {
		name        string
		login       string
		wantDummy   bool
		wantLookups int
	}{
		{name: "existing, wrong password", login: "alice", wantLookups: 1},
		{name: "unknown", login: "mallory", wantDummy: true, wantLookups: 1},
		{name: "disabled", login: "bob", wantDummy: true, wantLookups: 1},
		{name: "no password", login: "carol", wantDummy: true, wantLookups: 1},
		{name: "existing email", login: "alice@example.com", wantLookups: 2},
		{name: "unknown email", login: "mallory@example.com", wantDummy: true, wantLookups: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			h := &countingHasher{Hasher: f.hasher}
			authn.SetHasher(f.a, h)
			if _, err := f.auth(tt.login, "wrong password"); !errors.Is(err, authn.ErrInvalidCredentials) {
				t.Fatalf("err = %v", err)
			}
			if h.calls != 1 || (h.emptied == 1) != tt.wantDummy {
				t.Errorf("Verify calls %d, with the dummy hash %d; want 1, dummy %v", h.calls, h.emptied, tt.wantDummy)
			}
			if got := f.users.count(); got != tt.wantLookups {
				t.Errorf("%d lookups, want %d", got, tt.wantLookups)
			}
		})
	}
}

// TestLogsHoldNoSecrets signs in, fails, locks and rehashes with every log level on and
// checks that no name, password or hash reaches the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	f := newFixture(t, func(c *authn.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	f.rec.err = errors.New("recorder down") // logged
	for range 4 {
		_, _ = f.auth("Mallory.Secret", "hunter2-secret")
	}
	_, _ = f.auth("alice", "wrong-secret-pw")
	if _, err := f.auth("alice", alicePW); err != nil {
		t.Fatal(err)
	}
	log := strings.ToLower(buf.String())
	if !strings.Contains(log, "account locked") {
		t.Fatalf("the log lacks the lock event; it holds:\n%s", log)
	}
	for _, secret := range []string{"mallory", "secret", "alice", alicePW, "$argon2id"} {
		if strings.Contains(log, strings.ToLower(secret)) {
			t.Errorf("the log holds %q:\n%s", secret, log)
		}
	}
}

func FuzzAuthenticate(f *testing.F) {
	fx := newFixture(f)
	for _, s := range [][3]string{{"alice", "x", "192.0.2.1"}, {"ALICE@EXAMPLE.COM", alicePW, "::1"}, {"", "", ""},
		{"\x00\xff", "\xff", "[::1]:80"}, {"a@b@c", "pw", "fe80::1%eth0"}, {strings.Repeat("a", 300), "pw", "junk"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, name, pw, from string) {
		fx.clock.Add(time.Hour) // every lock has been served
		u, err := fx.a.Authenticate(context.Background(), fx.tenant, name, pw, from)
		switch {
		case err == nil && (u.ID != fx.alice.ID && u.ID != fx.users.list[3].ID):
			t.Errorf("signed in as %v", u.ID)
		case err != nil && !errors.Is(err, authn.ErrInvalidCredentials) && !errors.Is(err, authn.ErrLocked):
			t.Errorf("err = %v", err)
		}
	})
}

// TestLockoutSharedAcrossNames: a user's username and e-mail address spend one lockout
// budget, so alternating them does not double the guesses an attacker gets. Unknown
// names keep one counter per name, as before.
func TestLockoutSharedAcrossNames(t *testing.T) {
	tests := []struct {
		name  string
		names []string // tried in turn with a wrong password; the last one reaches the threshold of 3
		right string   // then refused with the right password while locked
	}{
		{name: "username then email", names: []string{"alice", "alice@example.com", "alice"}, right: "alice@example.com"},
		{name: "email then username", names: []string{"Alice@Example.com", "ALICE", "alice@example.com"}, right: "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			for i, n := range tt.names {
				_, err := f.auth(n, "wrong password")
				want := authn.ErrInvalidCredentials
				if i == len(tt.names)-1 {
					want = authn.ErrLocked
				}
				if !errors.Is(err, want) {
					t.Fatalf("attempt %d (%s): err = %v, want %v", i+1, n, err, want)
				}
			}
			for _, n := range []string{tt.right, "alice", "alice@example.com"} {
				if _, err := f.auth(n, alicePW); !errors.Is(err, authn.ErrLocked) {
					t.Fatalf("%s with the right password: err = %v, want ErrLocked", n, err)
				}
			}
			if got := failures(t, f.kv, authn.UserKey(f.tenant.ID, f.alice.ID)); got != 3 {
				t.Errorf("the user's counter = %d, want 3", got)
			}
		})
	}

	t.Run("unknown names count apart", func(t *testing.T) {
		f := newFixture(t)
		for _, n := range []string{"mallory", "mallory@example.com", "mallory", "mallory@example.com"} {
			if _, err := f.auth(n, "wrong password"); !errors.Is(err, authn.ErrInvalidCredentials) {
				t.Fatalf("%s: err = %v, want ErrInvalidCredentials", n, err)
			}
		}
	})
}

// TestTrustedProxySource: when the source is a trusted proxy (no client address could be
// found behind it), failures do not fill a window that every user behind the proxy
// shares; the account counters still apply. Other sources keep their limit.
func TestTrustedProxySource(t *testing.T) {
	const proxy = "10.0.0.1"
	f := newFixture(t, func(c *authn.Config) {
		c.IPLimit = 2
		c.TrustedProxy = func(s string) bool { return strings.HasPrefix(s, "10.") }
	})
	try := func(name, pw, from string) error {
		_, err := f.a.Authenticate(context.Background(), f.tenant, name, pw, from)
		return err
	}
	for i := range 5 {
		if err := try(fmt.Sprintf("user%d", i), "wrong password", proxy); !errors.Is(err, authn.ErrInvalidCredentials) {
			t.Fatalf("failure %d through the proxy: %v", i+1, err)
		}
	}
	if err := try("alice", alicePW, proxy); err != nil {
		t.Fatalf("sign-in through the proxy after others' failures: %v", err)
	}
	if got := failures(t, f.kv, authn.IPKey(f.tenant.ID, proxy)); got != 0 {
		t.Errorf("the proxy's window holds %d failures, want none", got)
	}
	// The account counter still locks through the proxy.
	for range 2 {
		_ = try("bob", "wrong password", proxy)
	}
	if err := try("bob", "wrong password", proxy); !errors.Is(err, authn.ErrLocked) {
		t.Fatalf("account through the proxy: err = %v, want ErrLocked", err)
	}
	// A client address keeps its window.
	for i := range 2 {
		_ = try(fmt.Sprintf("other%d", i), "wrong password", "198.51.100.7")
	}
	if err := try("alice", alicePW, "198.51.100.7"); !errors.Is(err, authn.ErrLocked) {
		t.Fatalf("client address over its limit: err = %v, want ErrLocked", err)
	}
}

// TestFailuresAreRecorded: every failed password attempt reaches the recorder for the
// audit trail — the account when the name matched one, the source, and why ("locked" for
// the failure that locked the account) — refusals of a locked account are not (they cost
// no hash: auditing each would let anyone write events without limit), and an attempt
// that cannot be recorded is refused as unavailable, whatever its verdict.
func TestFailuresAreRecorded(t *testing.T) {
	f := newFixture(t)
	// alice's third failure (threshold 3) locks her; then even her password is refused.
	for _, name := range []string{"alice", "alice@example.com", "nobody-here", "alice"} {
		if _, err := f.auth(name, "wrong password"); err == nil {
			t.Fatalf("%s with a wrong password signed in", name)
		}
	}
	if _, err := f.auth("alice", alicePW); !errors.Is(err, authn.ErrLocked) {
		t.Fatalf("alice after three failures: %v, want locked", err)
	}
	want := []failedAttempt{
		{f.alice.ID, ip, "invalid_credentials"},
		{f.alice.ID, ip, "invalid_credentials"},
		{uuid.Nil, ip, "invalid_credentials"},
		{f.alice.ID, ip, "locked"}, // the failure that locked her; the refusal after it is not audited
	}
	if diff := cmp.Diff(want, f.rec.failed, cmp.AllowUnexported(failedAttempt{})); diff != "" {
		t.Fatalf("recorded failures (-want +got):\n%s", diff)
	}
	if len(f.rec.signedIn) != 0 {
		t.Fatalf("sign-ins recorded: %v", f.rec.signedIn)
	}

	g := newFixture(t)
	g.rec.failErr = errors.New("spool full")
	if _, err := g.auth("alice", "wrong password"); !errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("a failure that cannot be recorded: %v, want kv.ErrUnavailable", err)
	}
	if _, err := g.auth("alice", alicePW); err != nil {
		t.Fatalf("a right password with the recorder failing: %v (only failures are refused)", err)
	}
}
