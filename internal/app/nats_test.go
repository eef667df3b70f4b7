package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/natsd"
	"github.com/ninesid/nines/internal/store"
)

// captureBuckets sets the test hook and returns what the next serving process opens.
func captureBuckets(t *testing.T) func() kv.Buckets {
	t.Helper()
	var mu sync.Mutex
	var got kv.Buckets
	testHookBuckets = func(b kv.Buckets) {
		mu.Lock()
		got = b
		mu.Unlock()
	}
	t.Cleanup(func() { testHookBuckets = nil })
	return func() kv.Buckets {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

func readyzBody(t *testing.T, base string) (int, readiness) {
	t.Helper()
	code, body := get(t, base+"/readyz", "")
	var rd readiness
	if err := json.Unmarshal(body, &rd); err != nil {
		t.Fatalf("readyz %d %s: %v", code, body, err)
	}
	return code, rd
}

// TestServeEmbeddedNATS: the default starts an in-process NATS under <data dir>/nats,
// reports it, keeps the login tier's state across a restart of the whole process, and
// leaves no goroutine behind.
func TestServeEmbeddedNATS(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := filepath.Join(t.TempDir(), "data")
	buckets := captureBuckets(t)

	r := start(t, Options{Config: testConfig(t, dir)})
	code, rd := readyzBody(t, r.base)
	want := natsHealth{Embedded: true, Server: "embedded", Connected: true, JetStream: true, Replicas: 1}
	if code != 200 || rd.Status != "ready" || rd.NATS == nil || *rd.NATS != want {
		t.Fatalf("readyz = %d %+v nats %+v; want ready with %+v", code, rd, rd.NATS, want)
	}
	b := buckets()
	if b.Sessions == nil || b.Codes == nil || b.Refresh == nil {
		t.Fatalf("buckets not opened: %+v", b)
	}
	if _, err := b.Sessions.Create(t.Context(), "sess1", []byte("state")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Codes.Create(t.Context(), "code1", []byte("once")); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nats", "jetstream")); err != nil {
		t.Fatalf("no JetStream store under the data dir: %v", err)
	}
	// HTTP drains, then NATS closes (then the store, which logs nothing).
	log := r.log.String()
	drained, closed := strings.Index(log, `"msg":"http server drained"`), strings.Index(log, `"msg":"nats closed"`)
	if drained < 0 || closed < drained {
		t.Fatalf("shutdown order: drained at %d, nats closed at %d\n%s", drained, closed, log)
	}

	r2 := start(t, Options{Config: testConfig(t, dir)})
	b = buckets()
	e, err := b.Sessions.Get(t.Context(), "sess1")
	if err != nil || string(e.Value) != "state" {
		t.Fatalf("session after restart = %q, %v", e.Value, err)
	}
	if e, err := b.Codes.Consume(t.Context(), "code1"); err != nil || string(e.Value) != "once" {
		t.Fatalf("code after restart = %q, %v", e.Value, err)
	}
	if err := r2.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestServeExternalNATS: with NINES_NATS_URL the process connects to that server,
// reports it without credentials, turns degraded when it goes down — and stays ready
// while it is down, the login surface working from the KV fallback — and recovers,
// handing the entries written meanwhile to NATS.
func TestServeExternalNATS(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	storeDir := t.TempDir()
	srv, err := natsd.Start(t.Context(), natsd.Options{StoreDir: storeDir, Listen: "127.0.0.1:0", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown() }()
	url := srv.ClientURL()

	buckets := captureBuckets(t)
	cfg := testConfig(t, t.TempDir())
	cfg.NATSURL = url
	r := start(t, Options{Config: cfg})
	code, rd := readyzBody(t, r.base)
	want := natsHealth{Server: url, Connected: true, JetStream: true, Replicas: 1}
	if code != 200 || rd.Status != "ready" || rd.NATS == nil || *rd.NATS != want {
		t.Fatalf("readyz = %d %+v nats %+v; want ready with %+v", code, rd, rd.NATS, want)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "nats")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an external NATS must not start the embedded one: %v", err)
	}

	// The server goes away: still serving, degraded, NATS reported down...
	srv.Shutdown()
	rd = pollReadyz(t, r.base, func(rd readiness) bool { return rd.NATS != nil && !rd.NATS.Connected })
	if (rd.Status != "degraded" && rd.Status != "unavailable") || rd.NATS.Error == "" || rd.NATS.DownSince.IsZero() {
		t.Fatalf("readyz with NATS down: %+v nats %+v", rd, rd.NATS)
	}
	// ...and once it has stayed down, still ready: the login surface works from the KV
	// fallback's memory (kvfallback.go), so the process stays in the load balancer.
	time.Sleep(natsUnreadyAfter + time.Second) // past the old unready threshold; nothing measures it
	if code, rd := readyzBody(t, r.base); code != http.StatusOK || rd.Status != "degraded" ||
		rd.NATS == nil || rd.NATS.Connected || len(rd.Databases) == 0 || !rd.Databases[0].Healthy ||
		rd.KVFallback == nil {
		t.Fatalf("readyz with NATS down for long = %d %+v nats %+v; want 200 degraded with the KV fallback", code, rd, rd.NATS)
	}
	if _, err := buckets().Codes.Create(t.Context(), "during", []byte("x")); err != nil {
		t.Fatalf("write with NATS down: %v", err)
	}
	if _, rd := readyzBody(t, r.base); !rd.KVFallback.Active || rd.KVFallback.LocalEntries != 1 {
		t.Fatalf("kv_fallback after a write with NATS down = %+v; want active, one local entry", rd.KVFallback)
	}

	// It comes back on the same address and store: the client reconnects by itself.
	srv, err = natsd.Start(t.Context(), natsd.Options{StoreDir: storeDir, Listen: strings.TrimPrefix(url, "nats://"), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	rd = pollReadyz(t, r.base, func(rd readiness) bool { return rd.Status == "ready" })
	if *rd.NATS != want {
		t.Fatalf("nats after recovery = %+v, want %+v", rd.NATS, want)
	}
	if _, err := buckets().Codes.Create(t.Context(), "after", []byte("x")); err != nil {
		t.Fatalf("write after reconnect: %v", err)
	}
	if e, err := buckets().Codes.Get(t.Context(), "during"); err != nil || e.Revision&kv.LocalRevision != 0 {
		t.Fatalf("the entry written during the outage after recovery: rev %d, %v; want it on NATS", e.Revision, err)
	}

	// A shutdown while the broker is down is still a clean one.
	srv.Shutdown()
	pollReadyz(t, r.base, func(rd readiness) bool { return rd.NATS != nil && !rd.NATS.Connected })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run with NATS down = %v", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pollReadyz asks /readyz until done says yes, a bounded number of times.
func pollReadyz(t *testing.T, base string, done func(readiness) bool) readiness {
	t.Helper()
	const polls, wait = 300, 100 * time.Millisecond
	var rd readiness
	for range polls {
		if _, rd = readyzBody(t, base); done(rd) {
			return rd
		}
		time.Sleep(wait)
	}
	t.Fatalf("readyz never reached the expected state; last: %+v nats %+v", rd, rd.NATS)
	return rd
}

func TestServeNATSUnreachable(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := testConfig(t, t.TempDir())
	cfg.NATSURL = "nats://nines:natspass@127.0.0.1:1,nats://natstoken@127.0.0.1:2"
	err := Run(context.Background(), Options{Config: cfg, Role: RoleAll, Log: io.Discard, Console: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "connect to nats nats://127.0.0.1:1,nats://127.0.0.1:2") {
		t.Fatalf("Run = %v, want a connect error naming the servers", err)
	}
	for _, secret := range []string{"natspass", "natstoken"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error leaks %q: %v", secret, err)
		}
	}
}

func TestServeAdminWithoutNATS(t *testing.T) {
	buckets := captureBuckets(t)
	cfg := testConfig(t, t.TempDir())
	r := start(t, Options{Config: cfg, Role: RoleAdmin})
	code, rd := readyzBody(t, r.base)
	if code != 200 || rd.NATS != nil {
		t.Fatalf("readyz of admin = %d, nats %+v; want no nats entry", code, rd.NATS)
	}
	if b := buckets(); b.Sessions != nil {
		t.Fatal("admin opened buckets")
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "nats")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin started NATS: %v", err)
	}
}

func TestConnectionName(t *testing.T) {
	tests := []struct {
		name                  string
		role                  Role
		region, cluster, zone string
		want                  string
	}{
		{"no labels", RoleAll, "", "", "", "nines role=all"},
		{"every label", RoleLogin, "eu", "c1", "eu-a", "nines role=login region=eu cluster=c1 zone=eu-a"},
		{"some labels", RoleAll, "eu", "", "eu-b", "nines role=all region=eu zone=eu-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			cfg.Region, cfg.Cluster, cfg.Zone = tt.region, tt.cluster, tt.zone
			if got := connectionName(tt.role, cfg); got != tt.want {
				t.Fatalf("connectionName = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReconnectDelay(t *testing.T) {
	tests := []struct {
		name     string
		attempts int
		lo, hi   time.Duration
	}{
		{"first", 0, natsReconnectMin / 2, natsReconnectMin},
		{"third", 2, natsReconnectMin * 2, natsReconnectMin * 4},
		{"capped", 50, natsReconnectMax / 2, natsReconnectMax},
		{"negative", -1, natsReconnectMin / 2, natsReconnectMin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 100 {
				if d := reconnectDelay(tt.attempts); d < tt.lo || d > tt.hi {
					t.Fatalf("reconnectDelay(%d) = %s, want in [%s, %s]", tt.attempts, d, tt.lo, tt.hi)
				}
			}
		})
	}
}

func TestRedactURLs(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "nats://a:4222", "nats://a:4222"},
		{"user and password", "nats://u:p@a:4222", "nats://a:4222"},
		{"token as user", "tls://s3cret@a:4222", "tls://a:4222"},
		{"list", "nats://u:p@a:4222, nats://b:4222", "nats://a:4222,nats://b:4222"},
		{"unparsable", "nats://a b:%zz", config.Redacted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactURLs(tt.in); got != tt.want {
				t.Fatalf("redactURLs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadyzNATS(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	db := []store.DBHealth{{Name: "nines.db", Role: "primary", Healthy: true}}
	deadDB := []store.DBHealth{{Name: "nines.db", Role: "primary", Error: "gone"}}
	up := natsHealth{Server: "nats://a:4222", Connected: true, JetStream: true, Replicas: 1}
	down := natsHealth{Server: "nats://a:4222", Error: "not connected (RECONNECTING)"}
	justDown := down
	justDown.DownSince = now.Add(-natsUnreadyAfter + time.Millisecond)
	longDown := down
	longDown.DownSince = now.Add(-natsUnreadyAfter)
	noJS := natsHealth{Server: "nats://a:4222", Connected: true, Error: "jetstream: timeout", DownSince: now.Add(-time.Second)}
	noJSLong := noJS
	noJSLong.DownSince = now.Add(-time.Minute)
	tests := []struct {
		name       string
		dbs        []store.DBHealth
		nats       *natsHealth
		login      bool // the login surface is mounted
		wantCode   int
		wantStatus string
	}{
		{"without nats", db, nil, false, 200, "ready"},
		{"nats up", db, &up, true, 200, "ready"},
		{"nats disconnected", db, &down, true, 200, "degraded"},
		{"nats disconnected just now", db, &justDown, true, 200, "degraded"},
		{"nats disconnected for long, login mounted", db, &longDown, true, 503, "unavailable"},
		{"nats disconnected for long, no login surface", db, &longDown, false, 200, "degraded"},
		{"jetstream not answering", db, &noJS, true, 200, "degraded"},
		{"jetstream not answering for long", db, &noJSLong, true, 503, "unavailable"},
		{"database down, nats up", deadDB, &up, true, 503, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &health{role: RoleAll, databases: func(context.Context) []store.DBHealth { return tt.dbs },
				loginNeedsNATS: tt.login, now: func() time.Time { return now }}
			if tt.nats != nil {
				h.nats = func(context.Context) natsHealth { return *tt.nats }
			}
			h.set(phaseReady)
			mux := http.NewServeMux()
			h.mount(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			var body readiness
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.wantCode || body.Status != tt.wantStatus {
				t.Fatalf("readyz = %d %s; want %d %s", rec.Code, rec.Body, tt.wantCode, tt.wantStatus)
			}
			if (tt.nats == nil) != (body.NATS == nil) || (tt.nats != nil && *body.NATS != *tt.nats) {
				t.Fatalf("nats entry = %+v, want %+v", body.NATS, tt.nats)
			}
		})
	}
}
