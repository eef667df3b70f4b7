package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

const provToken = "nines_provisioning-test-token"

var acme = tenant.Tenant{ID: uuid.MustParse("0193a4a0-0000-7000-8000-00000000acde"), Slug: "acme",
	UserImport: tenant.UserImport{URL: "http://127.0.0.1:1/unused"}}

// fakeAdmin plays the admin API's user routes: create answers with create(body), the
// lookup by username with find(username). It records every request.
type fakeAdmin struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	create func(in map[string]any) (int, string)
	find   func(username string) (int, string)
}

type recorded struct {
	method, path, query, auth, requestID string
	body                                 map[string]any
}

func newFakeAdmin(t *testing.T) *fakeAdmin {
	t.Helper()
	f := &fakeAdmin{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorded{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, auth: r.Header.Get("Authorization"),
			requestID: r.Header.Get(requestid.Header)}
		if r.Body != nil {
			b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			_ = json.Unmarshal(b, &rec.body)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		create, find := f.create, f.find
		f.mu.Unlock()
		var code int
		var body string
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/admin/v1/tenants/acme/users" && create != nil:
			code, body = create(rec.body)
		case r.Method == http.MethodGet && r.URL.Path == "/admin/v1/tenants/acme/users" && find != nil:
			code, body = find(r.URL.Query().Get("username"))
		default:
			code, body = 404, `{"type":"urn:nines:problem:not-found","status":404}`
		}
		if code >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAdmin) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// userBody is the admin API's JSON of a user.
func userBody(id uuid.UUID, username string, version int64, created time.Time, hasPassword bool) string {
	b, _ := json.Marshal(map[string]any{"id": id, "username": username, "email": "", "email_verified": false,
		"given_name": "New", "family_name": "Bie", "status": "active", "has_password": hasPassword,
		"last_login_at": nil, "version": version, "created_at": created, "updated_at": created})
	return string(b)
}

// created answers a create with 201 and the user asked for.
func created(id uuid.UUID) func(map[string]any) (int, string) {
	return func(in map[string]any) (int, string) {
		name, _ := in["username"].(string)
		return 201, userBody(id, name, 1, time.Now().UTC(), in["password"] != nil)
	}
}

func fixed(code int, body string) func(map[string]any) (int, string) {
	return func(map[string]any) (int, string) { return code, body }
}

func adminClient(f *fakeAdmin, token string) AdminClient {
	return AdminClient{BaseURL: f.srv.URL + "/", Token: token, HTTP: NewHTTPClient(), Timeout: 2 * time.Second}
}

var newbie = user.User{Username: "newbie", Email: "newbie@example.com", GivenName: "New", FamilyName: "Bie"}

func TestAdminCreateUser(t *testing.T) {
	f := newFakeAdmin(t)
	id := uuid.Must(uuid.NewV7())
	f.create = created(id)
	ctx := requestid.WithID(t.Context(), "req-provision-1")
	u, err := adminClient(f, provToken).CreateUser(ctx, acme, newbie, legacyPW)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if u.ID != id || u.TenantID != acme.ID || u.Username != "newbie" || u.Status != user.StatusActive || u.Version != 1 {
		t.Errorf("user %+v", u)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != "POST" || r.path != "/admin/v1/tenants/acme/users" || r.auth != "Bearer "+provToken || r.requestID != "req-provision-1" {
		t.Errorf("request %+v", r)
	}
	want := map[string]any{"username": "newbie", "email": "newbie@example.com", "given_name": "New", "family_name": "Bie",
		"status": "active", "password": legacyPW}
	if fmt.Sprint(r.body) != fmt.Sprint(want) {
		t.Errorf("body %v, want %v", r.body, want)
	}
}

func TestAdminCreateUserFailures(t *testing.T) {
	problem := func(status int, typ string) string {
		return fmt.Sprintf(`{"type":"urn:nines:problem:%s","title":"x","status":%d,"detail":"echo newbie@example.com","errors":[{"field":"email","detail":"newbie@example.com"}]}`, typ, status)
	}
	tests := []struct {
		name    string
		create  func(map[string]any) (int, string)
		wantErr error
		want    string // in the error
	}{
		{"conflict", fixed(409, problem(409, "conflict")), ErrConflict, "409 urn:nines:problem:conflict (fields email)"},
		{"read-only", fixed(503, problem(503, "read-only")), ErrAdminUnavailable, "503 urn:nines:problem:read-only"},
		{"busy hasher", fixed(503, problem(503, "busy")), ErrAdminUnavailable, "503"},
		{"internal", fixed(500, "not JSON"), ErrAdminUnavailable, "500"},
		{"gateway", fixed(502, ""), ErrAdminUnavailable, "502"},
		{"unauthorized", fixed(401, problem(401, "unauthorized")), ErrCredential, "401"},
		{"forbidden", fixed(403, problem(403, "forbidden")), ErrCredential, "403"},
		{"validation", fixed(422, problem(422, "validation")), ErrRefused, "422 urn:nines:problem:validation (fields email)"},
		{"tenant gone", fixed(404, problem(404, "not-found")), ErrRefused, "404"},
		{"too many requests", fixed(429, ""), ErrAdminUnavailable, "429"},
		{"redirect", fixed(302, ""), ErrAdminUnavailable, "302"},
		{"201 not JSON", fixed(201, "{"), ErrAdminUnavailable, "does not parse"},
		{"201 without ID", fixed(201, `{"username":"newbie","status":"active"}`), ErrAdminUnavailable, "lacks an ID"},
		{"201 of another user", fixed(201, userBody(uuid.New(), "mallory", 1, time.Now(), true)), ErrAdminUnavailable, "another user"},
		{"201 oversized", fixed(201, `{"username":"`+strings.Repeat("n", MaxBody)+`"}`), ErrAdminUnavailable, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAdmin(t)
			f.create = tt.create
			_, err := adminClient(f, provToken).CreateUser(t.Context(), acme, newbie, legacyPW)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %v with %q", err, tt.wantErr, tt.want)
			}
			noSecrets(t, err.Error())
			if strings.Contains(err.Error(), provToken) {
				t.Errorf("error holds the token: %v", err)
			}
		})
	}
}

func TestAdminUnreachable(t *testing.T) {
	// Slow: the call gives up at its timeout.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	defer close(release)
	c := AdminClient{BaseURL: slow.URL, Token: provToken, HTTP: NewHTTPClient(), Timeout: 200 * time.Millisecond}
	if _, err := c.CreateUser(t.Context(), acme, newbie, legacyPW); !errors.Is(err, ErrAdminUnavailable) || !strings.Contains(err.Error(), "no answer in time") {
		t.Fatalf("slow admin: err = %v, want unavailable (no answer in time)", err)
	}
	// Down: connection refused.
	down := httptest.NewServer(http.NotFoundHandler())
	c.BaseURL = down.URL
	down.Close()
	if _, err := c.CreateUser(t.Context(), acme, newbie, legacyPW); !errors.Is(err, ErrAdminUnavailable) {
		t.Fatalf("admin down: err = %v, want unavailable", err)
	}
	if _, _, err := c.UserByUsername(t.Context(), acme, "newbie"); !errors.Is(err, ErrAdminUnavailable) {
		t.Fatalf("admin down, lookup: err = %v, want unavailable", err)
	}
}

func TestAdminWithoutToken(t *testing.T) {
	f := newFakeAdmin(t)
	f.create = created(uuid.New())
	_, err := adminClient(f, "").CreateUser(t.Context(), acme, newbie, legacyPW)
	if !errors.Is(err, ErrCredential) || !strings.Contains(err.Error(), "NINES_PROVISIONING_TOKEN") {
		t.Fatalf("err = %v, want the credential error naming the setting", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests without a token, want none", n)
	}
}

func TestAdminRedirectNotFollowed(t *testing.T) {
	var leaked atomic.Value
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization") + "|")
	}))
	t.Cleanup(target.Close)
	f := newFakeAdmin(t)
	f.create = nil
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redir.Close)
	c := AdminClient{BaseURL: redir.URL, Token: provToken, HTTP: NewHTTPClient(), Timeout: 2 * time.Second}
	if _, err := c.CreateUser(t.Context(), acme, newbie, legacyPW); !errors.Is(err, ErrAdminUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if v := leaked.Load(); v != nil {
		t.Fatalf("the redirect was followed (Authorization %q)", v)
	}
}

func TestAdminUserByUsername(t *testing.T) {
	f := newFakeAdmin(t)
	id := uuid.New()
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	f.find = func(username string) (int, string) {
		if username != "a+b@example.com" {
			return 200, `{"items":[],"next_cursor":null}`
		}
		return 200, `{"items":[` + userBody(id, username, 3, at, true) + `],"next_cursor":null}`
	}
	c := adminClient(f, provToken)
	u, hasPW, err := c.UserByUsername(t.Context(), acme, "a+b@example.com")
	if err != nil || u.ID != id || !hasPW || u.Version != 3 || !u.CreatedAt.Equal(at) || u.TenantID != acme.ID {
		t.Fatalf("UserByUsername = %+v %v %v", u, hasPW, err)
	}
	if r := f.requests()[0]; r.method != "GET" || r.query != "username=a%2Bb%40example.com" || r.auth != "Bearer "+provToken {
		t.Errorf("request %+v", r)
	}
	if _, _, err := c.UserByUsername(t.Context(), acme, "nobody"); !errors.Is(err, errNoUser) {
		t.Errorf("unknown username: err = %v, want errNoUser", err)
	}
	f.find = func(string) (int, string) {
		return 200, `{"items":[` + userBody(id, "x", 1, at, true) + `,` + userBody(id, "x", 1, at, true) + `]}`
	}
	if _, _, err := c.UserByUsername(t.Context(), acme, "x"); !errors.Is(err, ErrAdminUnavailable) {
		t.Errorf("two answers: err = %v, want unavailable", err)
	}
	f.find = func(string) (int, string) { return 403, `{"type":"urn:nines:problem:forbidden"}` }
	if _, _, err := c.UserByUsername(t.Context(), acme, "x"); !errors.Is(err, ErrCredential) {
		t.Errorf("403: err = %v, want the credential error", err)
	}
}
