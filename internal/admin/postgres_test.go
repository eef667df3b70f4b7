package admin

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/store/pgtest"
	"github.com/ninesid/nines/internal/store/postgres"

	"github.com/ninesid/nines/internal/testenv"
)

// newPGEnv is newEnv on a real PostgreSQL primary. PostgreSQL refuses bytes SQLite
// stores (NUL, invalid UTF-8), so hostile input must be stopped before the database.
func newPGEnv(t *testing.T) *env {
	t.Helper()
	c := pgtest.Start(t, pgtest.Options{})
	b, err := postgres.Open(t.Context(), postgres.Options{PrimaryURL: c.PrimaryURL(), PrimaryFallback: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: b.Store(), logs: &testenv.Buffer{}}
	e.kek = make([]byte, keys.KEKSize)
	_, _ = rand.Read(e.kek)
	mux := http.NewServeMux()
	New(Config{Store: e.store, Passwords: cheapHasher(), KEK: e.kek, PublicURL: "https://id.example.com",
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil))}).Mount(mux)
	e.h = requestid.Middleware(mux)
	e.root = e.token("root", nil, time.Time{})
	return e
}

func TestHostileBytesOnPostgres(t *testing.T) {
	e := newPGEnv(t)
	e.mkTenant("acme")
	tests := []struct {
		name         string
		method, path string
		body         string
		want         int
	}{
		{"NUL in a tenant name", "POST", "/admin/v1/tenants", `{"slug":"x1","display_name":"a\u0000b"}`, 422},
		{"control character in a tenant name", "POST", "/admin/v1/tenants", `{"slug":"x2","display_name":"a\u001bb"}`, 422},
		{"NUL in a user's name", "POST", "/admin/v1/tenants/acme/users", `{"username":"bob","given_name":"B\u0000"}`, 422},
		{"NUL in a group description", "POST", "/admin/v1/tenants/acme/groups", `{"name":"g","description":"\u0000"}`, 422},
		{"NUL in a client name", "POST", "/admin/v1/tenants/acme/applications",
			`{"client_name":"\u0000","redirect_uris":["https://a.example/cb"]}`, 422},
		{"invalid UTF-8 in the tenant path", "GET", "/admin/v1/tenants/%FF/users", "", 404},
		{"NUL in the tenant path", "GET", "/admin/v1/tenants/a%00b", "", 404},
		{"NUL in a filter", "GET", "/admin/v1/tenants/acme/users?username=a%00b", "", 400},
		{"invalid UTF-8 in a filter", "GET", "/admin/v1/tenants/acme/applications?client_id=%FF", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.as(tt.method, tt.path, tt.body)
			if r.Code != tt.want || r.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d (%s), want %d problem+json; body %s", r.Code, r.Header().Get("Content-Type"), tt.want, r.Body)
			}
		})
	}
	if n := countLevel(e.logs.String(), "ERROR"); n != 0 {
		t.Errorf("hostile input logged %d errors: %s", n, e.logs.String())
	}
}

func countLevel(logs, level string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"`+level+`"`) {
			n++
		}
	}
	return n
}
