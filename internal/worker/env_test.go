package worker

import (
	"context"
	"database/sql"
	"errors"
	"github.com/ninesid/nines/internal/bus"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/natsd"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlite"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"

	"github.com/ninesid/nines/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testPrefix = "t"

// env is an embedded NATS server with the commands stream, a migrated SQLite store with
// one tenant and user, in temporary directories.
type env struct {
	t     testing.TB
	js    jetstream.JetStream
	store *sqlstore.Store
	tn    tenant.Tenant
	u     user.User
	logs  *testenv.Buffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	ns, err := natsd.Start(ctx, natsd.Options{StoreDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The settings of bus.StreamConfig: a file-backed work queue with a dedupe window.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: bus.StreamName(testPrefix),
		Subjects: []string{testPrefix + ".cmd.>"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Discard: jetstream.DiscardNew, Duplicates: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	b, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nines.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, js: js, store: b.Store(), logs: &testenv.Buffer{}}
	e.tn, err = e.store.CreateTenant(ctx, tenant.Tenant{Slug: "acme", DisplayName: "Acme", Status: tenant.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	e.u, err = e.store.CreateUser(ctx, e.tn.ID, user.User{Username: "alice", Status: user.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// config is a worker configuration with short pauses, so retries happen within a test.
func (e *env) config(st Applier) Config {
	if st == nil {
		st = e.store
	}
	return Config{JS: e.js, Prefix: testPrefix, Store: st, MaxDeliver: 3,
		Backoff: []time.Duration{20 * time.Millisecond}, AckWait: time.Second,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

// start runs w until the test ends (or stop is called) and checks that Run returned nil.
func (e *env) start(w *Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// publish sends c with Nats-Msg-Id msgID ("" for c.ID).
func (e *env) publish(c command.Command, msgID string) {
	e.t.Helper()
	b, err := c.Encode()
	if err != nil {
		e.t.Fatal(err)
	}
	e.publishRaw(c.Subject(testPrefix), b, cmp(msgID, c.ID))
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (e *env) publishRaw(subject string, data []byte, msgID string) {
	e.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	ack, err := e.js.PublishMsg(context.Background(), m)
	if err != nil || ack.Duplicate {
		e.t.Fatalf("publish: %v (duplicate %v)", err, ack != nil && ack.Duplicate)
	}
}

// waitFor polls cond until it holds: at most 3000 polls of 10 ms (30 s on a slow
// machine); the test fails when it never does. Time bounds the wait, it is not asserted.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("gave up waiting for %s; logs:\n%s", what, e.logs.String())
}

// events lists every event of the tenant.
func (e *env) events(f event.Filter) []event.Event {
	e.t.Helper()
	p, err := e.store.ListEvents(context.Background(), e.tn.ID, f, store.ListOptions{Limit: store.MaxLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Items
}

func (e *env) user() user.User {
	e.t.Helper()
	u, err := e.store.User(context.Background(), e.tn.ID, e.u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) applied(id string) bool {
	e.t.Helper()
	ok, err := e.store.CommandApplied(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

// faultyStore is the real store with injected failures of ApplyCommand: fail returns
// the error for a command ID (nil: apply it). It counts calls per command.
type faultyStore struct {
	*sqlstore.Store
	mu    sync.Mutex
	fail  func(id string, call int) error
	calls map[string]int
}

func (f *faultyStore) ApplyCommand(ctx context.Context, id, typ string, tenantID uuid.UUID, fn func(tx *sql.Tx) error) (bool, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[id]++
	n, fail := f.calls[id], f.fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(id, n); err != nil {
			return false, err
		}
	}
	return f.Store.ApplyCommand(ctx, id, typ, tenantID, fn)
}

func (f *faultyStore) setFail(fn func(id string, call int) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

func (f *faultyStore) callsOf(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

var errBoom = errors.New("injected failure")

func mustCmd(t testing.TB) func(command.Command, error) command.Command {
	return func(c command.Command, err error) command.Command {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

var _ Applier = (*sqlstore.Store)(nil)
