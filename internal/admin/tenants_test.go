package admin

import (
	"net/http"
	"strings"
	"testing"
)

func TestTenantLifecycle(t *testing.T) {
	e := newEnv(t)
	r := e.as("POST", "/admin/v1/tenants", `{"slug":"acme","display_name":"Acme"}`).want(http.StatusCreated)
	if got := r.Header().Get("Location"); got != "/admin/v1/tenants/acme" {
		t.Errorf("Location %q", got)
	}
	if got := r.Header().Get("ETag"); got != `"1"` {
		t.Errorf("ETag %q, want \"1\"", got)
	}
	m := r.json()
	if m["issuer"] != "https://id.example.com/t/acme" || m["status"] != "active" || m["version"] != float64(1) {
		t.Errorf("created tenant: %v", m)
	}

	e.as("GET", "/admin/v1/tenants/acme", "").want(http.StatusOK)
	if n := len(e.as("GET", "/admin/v1/tenants", "").want(http.StatusOK).items()); n != 1 {
		t.Errorf("list has %d tenants, want 1", n)
	}

	r = e.as("PATCH", "/admin/v1/tenants/acme", `{"display_name":"Acme Corp","status":"disabled"}`).want(http.StatusOK)
	if m := r.json(); m["display_name"] != "Acme Corp" || m["status"] != "disabled" || m["slug"] != "acme" {
		t.Errorf("patched tenant: %v", m)
	}
	if got := r.Header().Get("ETag"); got != `"2"` {
		t.Errorf("ETag after patch %q, want \"2\"", got)
	}

	e.as("DELETE", "/admin/v1/tenants/acme", "").want(http.StatusNoContent)
	e.as("GET", "/admin/v1/tenants/acme", "").problem(http.StatusNotFound, "not-found")
}

func TestTenantErrors(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		header map[string]string
		status int
		typ    string
		fields []string
	}{
		{"duplicate slug", "POST", "/admin/v1/tenants", `{"slug":"acme","display_name":"x"}`, nil, 409, "conflict", []string{"slug"}},
		{"every field problem at once", "POST", "/admin/v1/tenants", `{"slug":"Bad Slug","display_name":"","status":"paused"}`, nil, 422, "validation", []string{"slug", "display_name", "status"}},
		{"reserved slug", "POST", "/admin/v1/tenants", `{"slug":"admin","display_name":"x"}`, nil, 422, "validation", []string{"slug"}},
		{"slug is immutable", "PATCH", "/admin/v1/tenants/acme", `{"slug":"other"}`, nil, 422, "validation", []string{"slug"}},
		{"null display name", "PATCH", "/admin/v1/tenants/acme", `{"display_name":null}`, nil, 422, "validation", []string{"display_name"}},
		{"stale If-Match", "PATCH", "/admin/v1/tenants/acme", `{"display_name":"y"}`, map[string]string{"If-Match": `"7"`}, 412, "precondition-failed", nil},
		{"garbage If-Match", "PATCH", "/admin/v1/tenants/acme", `{"display_name":"y"}`, map[string]string{"If-Match": `W/"x"`}, 412, "precondition-failed", nil},
		{"unknown tenant", "GET", "/admin/v1/tenants/nope", "", nil, 404, "not-found", nil},
		{"patch unknown tenant", "PATCH", "/admin/v1/tenants/nope", `{}`, nil, 404, "not-found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.in(t).do(req{Method: tt.method, Path: tt.path, Token: e.root, Body: tt.body, Header: tt.header}).problem(tt.status, tt.typ)
			if got := strings.Join(fieldErrors(p), ","); got != strings.Join(tt.fields, ",") {
				t.Errorf("field errors %q, want %q", got, strings.Join(tt.fields, ","))
			}
		})
	}
}

func TestTenantPatchIfMatch(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	tests := []struct {
		name    string
		ifMatch string
		status  int
	}{
		{"current version", `"1"`, 200},
		{"now stale", `"1"`, 412},
		{"star", `*`, 200},
		{"new current version", `"3"`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.in(t).do(req{Method: "PATCH", Path: "/admin/v1/tenants/acme", Token: e.root, Body: `{"display_name":"v"}`,
				ContentType: "application/merge-patch+json", Header: map[string]string{"If-Match": tt.ifMatch}}).want(tt.status)
		})
	}
}
