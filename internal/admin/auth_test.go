package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	expired := e.token("old", nil, time.Now().Add(-time.Minute))
	tests := []struct {
		name   string
		header string
	}{
		{"missing", ""},
		{"not bearer", "Basic " + e.root},
		{"empty bearer", "Bearer "},
		{"unknown token", "Bearer nines_unknown"},
		{"expired token", "Bearer " + expired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.in(t).do(req{Method: "GET", Path: "/admin/v1/tenants", Header: map[string]string{"Authorization": tt.header}})
			r.problem(http.StatusUnauthorized, "unauthorized")
			if got := r.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate %q", got)
			}
		})
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "admin auth failed") {
		t.Errorf("auth failures not logged")
	}
	if strings.Contains(logs, expired) || strings.Contains(logs, e.root) {
		t.Errorf("a token reached the log")
	}
	e.do(req{Method: "GET", Path: "/admin/v1/tenants", Header: map[string]string{"Authorization": "bearer " + e.root}}).want(http.StatusOK)
}

func TestScopedToken(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	e.mkTenant("other")
	slug := "acme"
	scoped := e.token("acme-admin", &slug, time.Time{})
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"own tenant", "GET", "/admin/v1/tenants/acme", "", 200},
		{"own users", "POST", "/admin/v1/tenants/acme/users", `{"username":"alice"}`, 201},
		{"own user list", "GET", "/admin/v1/tenants/acme/users", "", 200},
		{"own groups", "POST", "/admin/v1/tenants/acme/groups", `{"name":"g"}`, 201},
		{"own applications", "GET", "/admin/v1/tenants/acme/applications", "", 200},
		{"other tenant", "GET", "/admin/v1/tenants/other", "", 403},
		{"other tenant's users", "GET", "/admin/v1/tenants/other/users", "", 403},
		{"other tenant's user create", "POST", "/admin/v1/tenants/other/users", `{"username":"eve"}`, 403},
		{"tenant that does not exist", "GET", "/admin/v1/tenants/ghost/users", "", 403},
		{"tenant list", "GET", "/admin/v1/tenants", "", 403},
		{"tenant create", "POST", "/admin/v1/tenants", `{"slug":"new","display_name":"n"}`, 403},
		{"own tenant patch", "PATCH", "/admin/v1/tenants/acme", `{"display_name":"x"}`, 403},
		{"own tenant delete", "DELETE", "/admin/v1/tenants/acme", "", 403},
		{"token list", "GET", "/admin/v1/tokens", "", 403},
		{"token create", "POST", "/admin/v1/tokens", `{"name":"x"}`, 403},
		{"token delete", "DELETE", "/admin/v1/tokens/0193a4a0-0000-7000-8000-000000000000", "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.in(t).do(req{Method: tt.method, Path: tt.path, Token: scoped, Body: tt.body})
			if tt.status == 403 {
				r.problem(403, "forbidden")
				return
			}
			r.want(tt.status)
		})
	}
	if n := len(e.as("GET", "/admin/v1/tenants/other/users", "").want(200).items()); n != 0 {
		t.Errorf("the scoped token's denied create reached the other tenant")
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	r := e.as("POST", "/admin/v1/tokens", `{"name":"ci","tenant":"acme","expires_at":"2999-01-01T00:00:00Z"}`).want(http.StatusCreated)
	m := r.json()
	tok, _ := m["token"].(string)
	if !strings.HasPrefix(tok, "nines_") || m["tenant"] != "acme" || m["expires_at"] != "2999-01-01T00:00:00Z" {
		t.Fatalf("created token: %v", m)
	}
	e.do(req{Method: "GET", Path: "/admin/v1/tenants/acme/users", Token: tok}).want(http.StatusOK)

	g := e.as("POST", "/admin/v1/tokens", `{"name":"global"}`).want(http.StatusCreated).json()
	if _, has := g["tenant"]; has {
		t.Errorf("global token has a tenant: %v", g)
	}
	e.do(req{Method: "GET", Path: "/admin/v1/tenants", Token: g["token"].(string)}).want(http.StatusOK)

	list := e.as("GET", "/admin/v1/tokens", "").want(http.StatusOK)
	if strings.Contains(list.Body.String(), tok) || strings.Contains(list.Body.String(), `"token"`) {
		t.Fatalf("list shows a token: %s", list.Body.String())
	}
	if n := len(list.items()); n != 3 {
		t.Errorf("%d tokens listed, want 3 (root, ci, global)", n)
	}
	e.as("DELETE", "/admin/v1/tokens/"+m["id"].(string), "").want(http.StatusNoContent)
	e.do(req{Method: "GET", Path: "/admin/v1/tenants/acme/users", Token: tok}).problem(http.StatusUnauthorized, "unauthorized")
	e.as("DELETE", "/admin/v1/tokens/"+m["id"].(string), "").problem(http.StatusNotFound, "not-found")

	tests := []struct {
		name, body string
		fields     []string
	}{
		{"no name", `{}`, []string{"name"}},
		{"past expiry and unknown tenant", `{"name":"x","tenant":"ghost","expires_at":"2001-01-01T00:00:00Z"}`, []string{"expires_at", "tenant"}},
		{"expiry not a date", `{"name":"x","expires_at":"tomorrow"}`, []string{"expires_at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.in(t).as("POST", "/admin/v1/tokens", tt.body).problem(http.StatusUnprocessableEntity, "validation")
			if got := strings.Join(fieldErrors(p), ","); got != strings.Join(tt.fields, ",") {
				t.Errorf("fields %q, want %q", got, strings.Join(tt.fields, ","))
			}
		})
	}
}
