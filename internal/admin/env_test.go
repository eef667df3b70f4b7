package admin

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/store/sqlite"
	"github.com/ninesid/nines/internal/store/sqlstore"

	"github.com/ninesid/nines/internal/testenv"
)

// cheapHasher is argon2id at toy cost, so tests spend their time on the API.
func cheapHasher() *password.Hasher {
	return password.New(password.Config{Params: password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}})
}

// env is an admin API on a fresh SQLite database in a temporary directory, with one
// global token (root).
type env struct {
	t     testing.TB
	store *sqlstore.Store
	h     http.Handler
	root  string
	logs  *testenv.Buffer
	kek   []byte
}

type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	b, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nines.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	e := &env{t: t, store: b.Store(), logs: &testenv.Buffer{}}
	e.kek = make([]byte, keys.KEKSize)
	_, _ = rand.Read(e.kek)
	cfg := Config{Store: e.store, Passwords: cheapHasher(), KEK: e.kek, PublicURL: "https://id.example.com/",
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, o := range opts {
		o(&cfg)
	}
	mux := http.NewServeMux()
	New(cfg).Mount(mux)
	e.h = requestid.Middleware(mux)
	e.root = e.token("root", nil, time.Time{})
	return e
}

// token stores a token directly (bypassing the API) and returns its bearer value.
func (e *env) token(name string, tenantSlug *string, expires time.Time) string {
	e.t.Helper()
	ctx := context.Background()
	tok, digest := apitoken.Generate()
	t := apitoken.Token{Name: name, Digest: digest, ExpiresAt: expires}
	if tenantSlug != nil {
		tn, err := e.store.TenantBySlug(ctx, *tenantSlug)
		if err != nil {
			e.t.Fatalf("tenant %q: %v", *tenantSlug, err)
		}
		t.TenantID = tn.ID
	}
	if _, err := e.store.CreateAPIToken(ctx, t); err != nil {
		e.t.Fatalf("create token: %v", err)
	}
	return tok
}

// req describes one request; Body is sent as application/json unless ContentType says
// otherwise ("-" sends none).
type req struct {
	Method, Path, Token, Body, ContentType string
	Header                                 map[string]string
}

type resp struct {
	*httptest.ResponseRecorder
	t testing.TB
}

func (e *env) do(r req) resp {
	e.t.Helper()
	var body io.Reader = http.NoBody
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	hr := httptest.NewRequest(r.Method, r.Path, body)
	switch {
	case r.ContentType == "-":
	case r.ContentType != "":
		hr.Header.Set("Content-Type", r.ContentType)
	case r.Body != "":
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	return resp{w, e.t}
}

// as sends a request with the root token.
func (e *env) as(method, path, body string) resp {
	e.t.Helper()
	return e.do(req{Method: method, Path: path, Token: e.root, Body: body})
}

// want fails unless the status is code; it returns the response for chaining.
func (r resp) want(code int) resp {
	r.t.Helper()
	if r.Code != code {
		r.t.Fatalf("status %d, want %d; body: %s", r.Code, code, r.Body.String())
	}
	return r
}

// json decodes the body into a map.
func (r resp) json() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body.Bytes(), &m); err != nil {
		r.t.Fatalf("body is not a JSON object: %v: %q", err, r.Body.String())
	}
	return m
}

func (r resp) str(key string) string {
	r.t.Helper()
	s, _ := r.json()[key].(string)
	return s
}

// problem checks that the response is problem+json of the given status and type suffix
// with a request_id, and returns it.
func (r resp) problem(status int, typ string) map[string]any {
	r.t.Helper()
	r.want(status)
	if ct := r.Header().Get("Content-Type"); ct != problemMediaType {
		r.t.Fatalf("Content-Type %q, want %q", ct, problemMediaType)
	}
	p := r.json()
	if p["type"] != typePrefix+typ {
		r.t.Fatalf("type %v, want %s; body %s", p["type"], typePrefix+typ, r.Body.String())
	}
	if p["status"] != float64(status) || p["title"] == "" || p["request_id"] == nil || p["request_id"] == "" {
		r.t.Fatalf("incomplete problem: %s", r.Body.String())
	}
	return p
}

// fieldErrors returns the field names of a validation or conflict problem.
func fieldErrors(p map[string]any) []string {
	var out []string
	es, _ := p["errors"].([]any)
	for _, e := range es {
		m, _ := e.(map[string]any)
		f, _ := m["field"].(string)
		out = append(out, f)
	}
	return out
}

// items returns the items of a list response.
func (r resp) items() []map[string]any {
	r.t.Helper()
	var l struct {
		Items      []map[string]any `json:"items"`
		NextCursor string           `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.Body.Bytes(), &l); err != nil || l.Items == nil {
		r.t.Fatalf("not a list (%v): %s", err, r.Body.String())
	}
	return l.Items
}

// mkTenant creates a tenant through the API and returns its slug.
func (e *env) mkTenant(slug string) string {
	e.t.Helper()
	e.as("POST", "/admin/v1/tenants", `{"slug":"`+slug+`","display_name":"`+slug+` Inc"}`).want(http.StatusCreated)
	return slug
}

// in returns e reporting to t: subtests must fail themselves, not their parent.
func (e *env) in(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}
