package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/tenant"
)

// faultyStore is the real store with injected failures: UpdateTenant reports a version
// conflict for its first conflicts calls, ListTenants fails with listErr.
type faultyStore struct {
	Store
	conflicts atomic.Int32
	listErr   error
}

func (f *faultyStore) UpdateTenant(ctx context.Context, t tenant.Tenant) (tenant.Tenant, error) {
	if f.conflicts.Add(-1) >= 0 {
		return tenant.Tenant{}, store.ErrConflict
	}
	return f.Store.UpdateTenant(ctx, t)
}

func (f *faultyStore) ListTenants(ctx context.Context, o store.ListOptions) (store.Page[tenant.Tenant], error) {
	if f.listErr != nil {
		return store.Page[tenant.Tenant]{}, f.listErr
	}
	return f.Store.ListTenants(ctx, o)
}

func faulty(f *faultyStore) envOption {
	return func(c *Config) { f.Store = c.Store; c.Store = f }
}

func TestUpdateRetriesConflicts(t *testing.T) {
	tests := []struct {
		name      string
		conflicts int32
		ifMatch   string
		status    int
	}{
		{"one conflict is retried", 1, "", 200},
		{"conflicts up to the bound are retried", maxUpdateAttempts - 1, "", 200},
		{"persistent conflict is 409", maxUpdateAttempts, "", 409},
		{"with If-Match a conflict is 412", 1, `"1"`, 412},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &faultyStore{}
			e := newEnv(t, faulty(f))
			e.mkTenant("acme")
			f.conflicts.Store(tt.conflicts)
			var h map[string]string
			if tt.ifMatch != "" {
				h = map[string]string{"If-Match": tt.ifMatch}
			}
			e.in(t).do(req{Method: "PATCH", Path: "/admin/v1/tenants/acme", Token: e.root, Body: `{"display_name":"x"}`, Header: h}).want(tt.status)
		})
	}
}

type busyHasher struct{}

func (busyHasher) Hash(context.Context, string) (string, error) { return "", password.ErrBusy }

func TestBusyHasher(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Passwords = busyHasher{} })
	e.mkTenant("acme")
	r := e.as("POST", usersURL, `{"username":"alice","password":"long enough pw"}`)
	r.problem(http.StatusServiceUnavailable, "busy")
	if r.Header().Get("Retry-After") == "" {
		t.Errorf("no Retry-After")
	}
	e.as("POST", usersURL, `{"username":"bob"}`).want(http.StatusCreated) // no password, no hash
}

func TestUnexpectedErrorIsHidden(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		typ    string
	}{
		{"database error", errors.New("pq: relation secret_table does not exist"), 500, "internal"},
		{"store unavailable", store.ErrUnavailable, 503, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, faulty(&faultyStore{listErr: tt.err}))
			r := e.in(t).as("GET", "/admin/v1/tenants", "")
			p := r.problem(tt.status, tt.typ)
			if strings.Contains(r.Body.String(), "secret_table") {
				t.Fatalf("cause reached the client: %s", r.Body.String())
			}
			if tt.status == 500 && !strings.Contains(e.logs.String(), p["request_id"].(string)) {
				t.Errorf("cause not logged with the request id: %s", e.logs.String())
			}
		})
	}
}

func TestAuditLog(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	id := e.as("POST", usersURL, `{"username":"alice","password":"hunter2hunter2"}`).want(http.StatusCreated).str("id")
	logs := e.logs.String()
	var line string
	for l := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(l, `"admin change"`) && strings.Contains(l, id) {
			line = l
		}
	}
	for _, want := range []string{`"method":"POST"`, `"route":"/admin/v1/tenants/{tenant}/users"`, `"tenant":"acme"`, `"token_id"`} {
		if !strings.Contains(line, want) {
			t.Errorf("audit line %q lacks %s", line, want)
		}
	}
	if strings.Contains(logs, "hunter2") || strings.Contains(logs, e.root) {
		t.Errorf("a secret reached the log")
	}
}
