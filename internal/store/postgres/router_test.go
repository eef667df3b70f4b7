package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ninesid/nines/internal/store"

	"github.com/ninesid/nines/internal/testenv"
)

// These tests drive the router's logic with stand-in databases: fn never touches the
// *sql.DB, it only tells them apart. The tests against real replicas are in
// replica_test.go.

// fakeRouter returns a router over n healthy replicas (and a fallback when asked) whose
// databases are told apart by identity, and a lookup from database to name.
func fakeRouter(t *testing.T, n int, fallback bool, log *slog.Logger) (*router, map[*sql.DB]string) {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &router{}
	names := map[*sql.DB]string{}
	for i := range n {
		db := new(sql.DB)
		name := fmt.Sprintf("127.0.0.1:%d", 5001+i)
		names[db] = name
		h := newHealth(name, "replica", "", log, time.Now)
		h.set(nil, time.Now())
		r.replicas = append(r.replicas, &server{health: h, db: db, standby: true})
	}
	if fallback {
		r.fallback = new(sql.DB)
		names[r.fallback] = "primary"
	}
	r.rebuild()
	return r, names
}

var errReset = fmt.Errorf("read: %w", syscall.ECONNRESET)

// refusedConnect is a real *pgconn.ConnectError: a connect to a loopback port where
// nothing listens.
func refusedConnect(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2&sslmode=disable")
	if err == nil {
		c.Close(ctx)
		t.Fatal("a PostgreSQL server answers on 127.0.0.1:1")
	}
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("connect to 127.0.0.1:1: %T %v, want a *pgconn.ConnectError", err, err)
	}
	return err
}

// readOn runs one read; fail maps a database name to the error fn returns there.
func readOn(r *router, names map[*sql.DB]string, fail map[string]error) (served string, tried []string, err error) {
	err = r.Read(context.Background(), func(_ context.Context, db *sql.DB) error {
		name := names[db]
		tried = append(tried, name)
		served = name
		return fail[name]
	})
	return served, tried, err
}

func TestRouterRoundRobin(t *testing.T) {
	r, names := fakeRouter(t, 3, false, nil)
	count := map[string]int{}
	for range 300 {
		served, _, err := readOn(r, names, nil)
		if err != nil {
			t.Fatal(err)
		}
		count[served]++
	}
	for _, name := range []string{"127.0.0.1:5001", "127.0.0.1:5002", "127.0.0.1:5003"} {
		if count[name] != 100 {
			t.Errorf("reads per replica = %v, want 100 each", count)
		}
	}
}

func TestRouterOutcomes(t *testing.T) {
	down := "127.0.0.1:5001"
	tests := []struct {
		name      string
		fallback  bool
		fail      map[string]error
		wantErr   error // errors.Is; nil means success
		wantTries int
		wantDown  bool // is replica 5001 marked down afterwards
	}{
		{"domain error is the answer", false, map[string]error{down: store.ErrNotFound, "127.0.0.1:5002": store.ErrNotFound}, store.ErrNotFound, 1, false},
		{"SQL error is the answer", false, map[string]error{down: &pgconn.PgError{Code: "42P01"}, "127.0.0.1:5002": &pgconn.PgError{Code: "42P01"}}, &pgconn.PgError{}, 1, false},
		{"connection fault: once more there, then fails over", false, map[string]error{down: errReset}, nil, 3, true},
		{"refused connect fails over at once", false, map[string]error{down: refusedConnect(t)}, nil, 2, true},
		{"recovery conflict moves on, replica stays up", false, map[string]error{down: &pgconn.PgError{Code: "40001"}}, nil, 2, false},
		{"terminating recovery conflict moves on, replica stays up", false, map[string]error{down: &pgconn.PgError{Severity: "FATAL", Code: "40001",
			Message: "terminating connection due to conflict with recovery"}}, nil, 2, false},
		{"connection fault wrapped as unavailable fails over", false, map[string]error{down: fmt.Errorf("sqlstore: user: %w: %w", store.ErrUnavailable, errReset)}, nil, 3, true},
		{"every replica lost, no fallback", false, map[string]error{down: errReset, "127.0.0.1:5002": errReset}, store.ErrUnavailable, 4, true},
		{"every replica lost, fallback reads the primary", true, map[string]error{down: errReset, "127.0.0.1:5002": errReset}, nil, 5, true},
		{"fallback lost too", true, map[string]error{down: errReset, "127.0.0.1:5002": errReset, "primary": errReset}, store.ErrUnavailable, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, names := fakeRouter(t, 2, tt.fallback, nil)
			r.next.Store(uint64(len(r.replicas)) - 1) // the next read starts at replica 5001
			_, tried, err := readOn(r, names, tt.fail)
			if !matches(err, tt.wantErr) {
				t.Errorf("Read error = %v, want %v", err, tt.wantErr)
			}
			if len(tried) != tt.wantTries || tried[0] != down {
				t.Errorf("tried %v, want %d databases starting with %s", tried, tt.wantTries, down)
			}
			if got := !r.replicas[0].healthy(); got != tt.wantDown {
				t.Errorf("replica %s down = %v, want %v", down, got, tt.wantDown)
			}
		})
	}
}

// TestRouterSessionLostOnce: a session that died on an established connection (a proxy
// closed the pooled connections) is tried again on the same replica, which stays up
// when the fresh connection answers — with one replica in the region, marking it down
// would fail every read until the next probe.
func TestRouterSessionLostOnce(t *testing.T) {
	r, names := fakeRouter(t, 1, false, nil)
	calls := 0
	err := r.Read(context.Background(), func(_ context.Context, db *sql.DB) error {
		if names[db] != "127.0.0.1:5001" {
			t.Fatalf("read on %s", names[db])
		}
		calls++
		if calls == 1 {
			return fmt.Errorf("sqlstore: user: %w: %w", store.ErrUnavailable, io.ErrUnexpectedEOF)
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("Read = %v after %d calls, want success on the second", err, calls)
	}
	if !r.replicas[0].healthy() {
		t.Error("the replica was marked down for a connection that died alone")
	}
}

// TestRouterSessionRetryBounded: the second try on a fresh connection that hangs (a
// path that accepts and stays silent) is cut off and the read fails over, instead of
// waiting for the caller's deadline.
func TestRouterSessionRetryBounded(t *testing.T) {
	r, names := fakeRouter(t, 2, false, nil)
	r.next.Store(uint64(len(r.replicas)) - 1) // start at 5001
	calls := 0
	err := r.Read(context.Background(), func(ctx context.Context, db *sql.DB) error {
		if names[db] != "127.0.0.1:5001" {
			return nil
		}
		calls++
		if calls == 1 {
			return io.ErrUnexpectedEOF
		}
		<-ctx.Done() // the fresh connection never answers
		return ctx.Err()
	})
	if err != nil || calls != 2 {
		t.Fatalf("Read = %v after %d tries on 5001, want success on 5002 after 2", err, calls)
	}
	if r.replicas[0].healthy() {
		t.Error("the replica whose fresh connection hung is still up")
	}
}

func matches(err, want error) bool {
	if want == nil || err == nil {
		return err == want
	}
	var pe *pgconn.PgError
	if errors.As(want, &pe) {
		return errors.As(err, &pe)
	}
	return errors.Is(err, want)
}

func TestRouterSkipsDownReplicaAndLogsOnce(t *testing.T) {
	var buf testenv.Buffer
	r, names := fakeRouter(t, 2, false, slog.New(slog.NewTextHandler(&buf, nil)))
	fail := map[string]error{"127.0.0.1:5001": errReset}
	for range 10 {
		served, _, err := readOn(r, names, fail)
		if err != nil || served != "127.0.0.1:5002" {
			t.Fatalf("read served by %s, %v; want 127.0.0.1:5002, nil", served, err)
		}
	}
	if n := strings.Count(buf.String(), "database down"); n != 1 {
		t.Errorf("log has %d 'database down' lines, want 1:\n%s", n, buf.String())
	}
	h := r.health()
	if h[0].Healthy || !strings.Contains(h[0].Error, "connection reset") || !h[1].Healthy {
		t.Errorf("health = %+v, want 5001 down with its error, 5002 up", h)
	}
}

func TestHealthIgnoresStaleSuccess(t *testing.T) {
	h := newHealth("127.0.0.1:5001", "replica", "", slog.New(slog.DiscardHandler), time.Now)
	h.set(nil, time.Now())
	probeBegan := time.Now()
	h.set(errReset, time.Now()) // a read saw the server die while the probe ran
	steps := []struct {
		name  string
		began time.Time
		want  bool
	}{
		{"probe that began before the failure", probeBegan, false},
		{"probe that began after it", time.Now(), true},
	}
	for _, s := range steps {
		h.set(nil, s.began)
		if got := h.healthy(); got != s.want {
			t.Errorf("after a success from a %s: healthy = %v, want %v", s.name, got, s.want)
		}
	}
}
