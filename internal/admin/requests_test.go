package admin

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestBadRequests(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 256 })
	e.mkTenant("acme")
	big := `{"username":"` + strings.Repeat("a", 300) + `"}`
	tests := []struct {
		name   string
		r      req
		status int
		typ    string
		detail string // a substring of detail, when it matters
	}{
		{"malformed JSON", req{Method: "POST", Path: usersURL, Body: `{"username":`}, 400, "malformed-request", ""},
		{"syntax error", req{Method: "POST", Path: usersURL, Body: `{"username" "x"}`}, 400, "malformed-request", "byte"},
		{"unknown field", req{Method: "POST", Path: usersURL, Body: `{"username":"a","role":"root"}`}, 400, "malformed-request", `"role"`},
		{"wrong type", req{Method: "POST", Path: usersURL, Body: `{"username":7}`}, 400, "malformed-request", `"username" must be a string`},
		{"wrong type in patch", req{Method: "PATCH", Path: "/admin/v1/tenants/acme", Body: `{"display_name":["x"]}`}, 400, "malformed-request", `"display_name" must be a string`},
		{"array body", req{Method: "POST", Path: usersURL, Body: `[]`}, 400, "malformed-request", "object"},
		{"trailing data", req{Method: "POST", Path: usersURL, Body: `{"username":"a"} {}`}, 400, "malformed-request", "after"},
		{"trailing garbage", req{Method: "POST", Path: usersURL, Body: `{"username":"a"}x`}, 400, "malformed-request", ""},
		{"empty body", req{Method: "POST", Path: usersURL, ContentType: "application/json"}, 400, "malformed-request", "empty"},
		{"oversize body", req{Method: "POST", Path: usersURL, Body: big}, 413, "payload-too-large", "256"},
		{"oversize after value", req{Method: "POST", Path: usersURL, Body: `{"username":"a"}` + strings.Repeat(" ", 300)}, 413, "payload-too-large", ""},
		{"text content type", req{Method: "POST", Path: usersURL, Body: `{"username":"a"}`, ContentType: "text/plain"}, 415, "unsupported-media-type", ""},
		{"no content type", req{Method: "POST", Path: usersURL, Body: `{"username":"a"}`, ContentType: "-"}, 415, "unsupported-media-type", ""},
		{"merge patch on create", req{Method: "POST", Path: usersURL, Body: `{"username":"a"}`, ContentType: mediaMergePatch}, 415, "unsupported-media-type", ""},
		{"limit zero", req{Method: "GET", Path: usersURL + "?limit=0"}, 400, "malformed-request", "limit"},
		{"limit too big", req{Method: "GET", Path: usersURL + "?limit=501"}, 400, "malformed-request", "limit"},
		{"limit not a number", req{Method: "GET", Path: usersURL + "?limit=ten"}, 400, "malformed-request", "limit"},
		{"limit twice", req{Method: "GET", Path: usersURL + "?limit=1&limit=2"}, 400, "malformed-request", "limit"},
		{"cursor not base64", req{Method: "GET", Path: usersURL + "?cursor=***"}, 400, "malformed-request", "cursor"},
		{"cursor wrong length", req{Method: "GET", Path: usersURL + "?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("short"))}, 400, "malformed-request", "cursor"},
		{"unknown route", req{Method: "GET", Path: "/admin/v1/nothing"}, 404, "not-found", ""},
		{"unknown nested route", req{Method: "GET", Path: "/admin/v1/tenants/acme/widgets"}, 404, "not-found", ""},
		{"trailing slash", req{Method: "GET", Path: "/admin/v1/tenants/"}, 404, "not-found", ""},
		{"bare prefix", req{Method: "GET", Path: "/admin/v1"}, 404, "not-found", ""},
		{"wrong method", req{Method: "PUT", Path: "/admin/v1/tenants/acme"}, 405, "method-not-allowed", ""},
		{"wrong method on collection", req{Method: "DELETE", Path: usersURL}, 405, "method-not-allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.Token = e.root
			p := e.in(t).do(tt.r).problem(tt.status, tt.typ)
			if d, _ := p["detail"].(string); !strings.Contains(d, tt.detail) {
				t.Errorf("detail %q does not mention %q", d, tt.detail)
			}
		})
	}
}

func TestMethodNotAllowedAllow(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path, allow string
	}{
		{"tenant", "PUT", "/admin/v1/tenants/acme", "GET, HEAD, PATCH, DELETE"},
		{"tokens", "PATCH", "/admin/v1/tokens", "POST, GET, HEAD"},
		{"openapi", "POST", "/admin/v1/openapi.json", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.in(t).do(req{Method: tt.method, Path: tt.path})
			r.problem(http.StatusMethodNotAllowed, "method-not-allowed")
			if got := r.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	const n = 7
	for i := range n {
		e.as("POST", usersURL, `{"username":"user`+string(rune('a'+i))+`"}`).want(http.StatusCreated)
	}
	seen := map[string]bool{}
	var sizes []int
	path := usersURL + "?limit=3"
	for page := 0; page < n; page++ { // bounded: never more pages than users
		r := e.as("GET", path, "").want(http.StatusOK)
		items := r.items()
		sizes = append(sizes, len(items))
		for _, it := range items {
			id := it["id"].(string)
			if seen[id] {
				t.Fatalf("user %s on two pages", id)
			}
			seen[id] = true
		}
		next := r.str("next_cursor")
		if next == "" {
			break
		}
		path = usersURL + "?limit=3&cursor=" + next
	}
	if len(seen) != n || len(sizes) != 3 || sizes[0] != 3 || sizes[2] != 1 {
		t.Fatalf("pages %v covered %d users, want [3 3 1] and %d", sizes, len(seen), n)
	}
}

func TestOpenAPINeedsNoToken(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{Method: "GET", Path: "/admin/v1/openapi.json"}).want(http.StatusOK)
	if r.Header().Get("Content-Type") != "application/json" || r.json()["openapi"] == nil {
		t.Fatalf("openapi.json: %v", r.Header())
	}
}
