package admin

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/readonly"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/tenant"
)

// dyingStore is the real store whose reads used by authentication and tenant lookups
// fail with store.ErrUnavailable once dead is set: a primary that went away.
type dyingStore struct {
	Store
	dead atomic.Bool
}

func (d *dyingStore) APITokenByDigest(ctx context.Context, digest []byte) (apitoken.Token, error) {
	if d.dead.Load() {
		return apitoken.Token{}, store.ErrUnavailable
	}
	return d.Store.APITokenByDigest(ctx, digest)
}

func (d *dyingStore) TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error) {
	if d.dead.Load() {
		return tenant.Tenant{}, store.ErrUnavailable
	}
	return d.Store.TenantBySlug(ctx, slug)
}

func (d *dyingStore) ListTenants(ctx context.Context, o store.ListOptions) (store.Page[tenant.Tenant], error) {
	if d.dead.Load() {
		return store.Page[tenant.Tenant]{}, store.ErrUnavailable
	}
	return d.Store.ListTenants(ctx, o)
}

// countingStore is a replica: the same data, and a count of the reads it served.
type countingStore struct {
	Store
	reads atomic.Int32
}

func (c *countingStore) APITokenByDigest(ctx context.Context, digest []byte) (apitoken.Token, error) {
	c.reads.Add(1)
	return c.Store.APITokenByDigest(ctx, digest)
}

func (c *countingStore) ListTenants(ctx context.Context, o store.ListOptions) (store.Page[tenant.Tenant], error) {
	c.reads.Add(1)
	return c.Store.ListTenants(ctx, o)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// writePath fills a route's path parameters; in read-only mode a write is refused
// before anything is looked up, so the entities need not exist.
func writePath(p string) string {
	return strings.NewReplacer("{tenant}", "acme", "{id}", uuid.NewString(), "{user_id}", uuid.NewString(),
		"{seq}", "1").Replace(p)
}

// wantReadOnly checks a write refused in read-only mode.
func wantReadOnly(t *testing.T, r resp, retryAfter, detail string) {
	t.Helper()
	p := r.problem(http.StatusServiceUnavailable, "read-only")
	if got := r.Header().Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After %q, want %q", got, retryAfter)
	}
	if d, _ := p["detail"].(string); !strings.Contains(d, detail) {
		t.Errorf("detail %q does not say %q", d, detail)
	}
}

func TestReadOnlyExplicit(t *testing.T) {
	var primary dyingStore
	var replica countingStore
	e := newEnv(t, func(c *Config) {
		primary.Store, replica.Store = c.Store, c.Store
		c.Store, c.Replica = &primary, func() Store { return &replica }
	})
	slug := e.mkTenant("acme")
	scoped := e.token("acme-ops", &slug, time.Time{})

	st := e.as("GET", "/admin/v1/readonly", "").want(http.StatusOK).json()
	if st["mode"] != "normal" || st["read_only"] != false || st["shared"] != false {
		t.Fatalf("initial state %v", st)
	}
	e.do(req{Method: "PUT", Path: "/admin/v1/readonly", Token: scoped, Body: `{"enabled":true}`}).problem(http.StatusForbidden, "forbidden")
	e.as("PUT", "/admin/v1/readonly", `{"reason":"x"}`).problem(http.StatusUnprocessableEntity, "validation")
	e.as("PUT", "/admin/v1/readonly", `{"enabled":true,"reason":"`+strings.Repeat("x", 201)+`"}`).problem(http.StatusUnprocessableEntity, "validation")

	st = e.as("PUT", "/admin/v1/readonly", `{"enabled":true,"reason":"database upgrade"}`).want(http.StatusOK).json()
	ex, _ := st["explicit"].(map[string]any)
	if st["mode"] != "read_only" || st["read_only"] != true || st["automatic"] != false ||
		ex["reason"] != "database upgrade" || !strings.Contains(ex["by"].(string), "root") {
		t.Fatalf("after on: %v", st)
	}
	primary.dead.Store(true) // from now on, reads that reach the primary fail

	for _, rt := range routes {
		if rt.Method == http.MethodGet || offSwitch(rt) {
			continue
		}
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			r := e.in(t).as(rt.Method, writePath(rt.Path), `{}`)
			wantReadOnly(t, r, "30", "database upgrade")
		})
	}
	t.Run("a tenant-scoped token", func(t *testing.T) {
		r := e.in(t).do(req{Method: "POST", Path: "/admin/v1/tenants/acme/users", Token: scoped, Body: `{"username":"bob"}`})
		wantReadOnly(t, r, "30", "database upgrade")
	})
	t.Run("reads are served from the replica", func(t *testing.T) {
		before := replica.reads.Load()
		e := e.in(t)
		e.as("GET", "/admin/v1/tenants", "").want(http.StatusOK)
		e.as("GET", "/admin/v1/tenants/acme", "").want(http.StatusOK)
		e.do(req{Method: "GET", Path: "/admin/v1/tenants/acme/users", Token: scoped}).want(http.StatusOK)
		if n := replica.reads.Load() - before; n < 4 {
			t.Errorf("%d reads on the replica, want at least 4 (three tokens, one list)", n)
		}
	})
	t.Run("no token is still 401", func(t *testing.T) {
		e.in(t).do(req{Method: "POST", Path: "/admin/v1/tenants", Body: `{}`}).problem(http.StatusUnauthorized, "unauthorized")
	})

	primary.dead.Store(false)
	st = e.as("PUT", "/admin/v1/readonly", `{"enabled":false}`).want(http.StatusOK).json()
	if st["mode"] != "normal" {
		t.Fatalf("after off: %v", st)
	}
	e.mkTenant("beta") // writes work again
	if !strings.Contains(e.logs.String(), `"route":"/admin/v1/readonly"`) {
		t.Error("the switch was not audited")
	}
}

func TestReadOnlyAutomatic(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var healthy atomic.Bool
	healthy.Store(true)
	mode := readonly.New(readonly.Config{PrimaryHealthy: healthy.Load, EnterAfter: time.Second,
		LeaveAfter: 2 * time.Second, Now: clk.now, Logger: slog.New(slog.DiscardHandler)})
	e := newEnv(t, func(c *Config) { c.ReadOnly = mode })
	step := func(d time.Duration) {
		clk.add(d)
		mode.Refresh(context.Background())
	}

	healthy.Store(false)
	step(0)
	e.mkTenant("acme") // down for less than EnterAfter: still writable
	step(time.Second)
	wantReadOnly(t, e.as("POST", "/admin/v1/tenants", `{"slug":"b","display_name":"b"}`), "5", "primary database is unreachable")
	st := e.as("GET", "/admin/v1/readonly", "").want(http.StatusOK).json()
	if st["read_only"] != true || st["automatic"] != true {
		t.Fatalf("state %v", st)
	}
	e.as("GET", "/admin/v1/tenants/acme", "").want(http.StatusOK) // no replica: reads stay on the one database

	// The explicit switch cannot end automatic mode.
	st = e.as("PUT", "/admin/v1/readonly", `{"enabled":false}`).want(http.StatusOK).json()
	if st["read_only"] != true {
		t.Fatalf("switching off ended automatic mode: %v", st)
	}
	healthy.Store(true)
	step(time.Second) // back, not for long enough
	wantReadOnly(t, e.as("DELETE", "/admin/v1/tenants/acme", ""), "5", "unreachable")
	healthy.Store(false)
	step(time.Second) // flaps: the clock of "healthy for LeaveAfter" starts over
	healthy.Store(true)
	step(time.Second)
	step(time.Second)
	wantReadOnly(t, e.as("DELETE", "/admin/v1/tenants/acme", ""), "5", "unreachable")
	step(time.Second) // healthy for LeaveAfter
	e.as("DELETE", "/admin/v1/tenants/acme", "").want(http.StatusNoContent)
}
