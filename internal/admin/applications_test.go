package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/client"
)

const appsURL = "/admin/v1/tenants/acme/applications"

// storedApp reads an application straight from the store.
func (e *env) storedApp(slug, id string) client.Application {
	e.t.Helper()
	ctx := context.Background()
	tn, err := e.store.TenantBySlug(ctx, slug)
	if err != nil {
		e.t.Fatal(err)
	}
	app, err := e.store.Application(ctx, tn.ID, uuid.MustParse(id))
	if err != nil {
		e.t.Fatal(err)
	}
	return app
}

func TestApplicationSecret(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	r := e.as("POST", appsURL, `{"client_name":"Web","redirect_uris":["https://app.example.com/cb"]}`).want(http.StatusCreated)
	m := r.json()
	secret, _ := m["client_secret"].(string)
	id := m["id"].(string)
	if secret == "" || m["client_id"] == "" || m["type"] != "confidential" || m["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Fatalf("created: %v", m)
	}
	for _, k := range []string{"post_logout_redirect_uris", "grant_types", "response_types"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("%s is %v, want an array", k, m[k])
		}
	}
	app := e.storedApp("acme", id)
	if !app.SecretMatches(secret) || len(app.SecretDigest) != 32 {
		t.Fatalf("stored digest does not match the secret shown")
	}

	got := e.as("GET", appsURL+"/"+id, "").want(http.StatusOK)
	list := e.as("GET", appsURL, "").want(http.StatusOK)
	for _, body := range []string{got.Body.String(), list.Body.String(), e.logs.String()} {
		if strings.Contains(body, secret) || strings.Contains(body, "client_secret\"") {
			t.Fatalf("secret shown again: %s", body)
		}
	}

	rot := e.as("POST", appsURL+"/"+id+"/secret", "").want(http.StatusOK)
	newSecret := rot.str("client_secret")
	if rot.str("client_id") != m["client_id"] || newSecret == "" || newSecret == secret {
		t.Fatalf("rotation: %s", rot.Body.String())
	}
	app = e.storedApp("acme", id)
	if app.SecretMatches(secret) || !app.SecretMatches(newSecret) {
		t.Fatalf("after rotation old matches=%v new matches=%v", app.SecretMatches(secret), app.SecretMatches(newSecret))
	}
}

func TestApplicationLifecycle(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	r := e.as("POST", appsURL, `{"client_id":"cli","client_name":"CLI","type":"public",
		"redirect_uris":["http://127.0.0.1/cb","com.example.cli:/cb"],"grant_types":["authorization_code","refresh_token"]}`).want(http.StatusCreated)
	m := r.json()
	id := m["id"].(string)
	if _, has := m["client_secret"]; has || m["token_endpoint_auth_method"] != "none" {
		t.Fatalf("public client: %v", m)
	}
	if e.storedApp("acme", id).SecretDigest != nil {
		t.Errorf("public client has a digest")
	}
	e.as("POST", appsURL+"/"+id+"/secret", "").problem(http.StatusConflict, "conflict")

	items := e.as("GET", appsURL+"?client_id=cli", "").want(http.StatusOK).items()
	if len(items) != 1 || items[0]["id"] != id {
		t.Errorf("filter: %v", items)
	}
	r = e.as("PATCH", appsURL+"/"+id, `{"client_name":"CLI 2","redirect_uris":["http://localhost:8080/cb"],"type":"public"}`).want(http.StatusOK)
	if m := r.json(); m["client_name"] != "CLI 2" || len(m["redirect_uris"].([]any)) != 1 || m["version"] != float64(2) {
		t.Errorf("patched: %v", m)
	}
	e.as("DELETE", appsURL+"/"+id, "").want(http.StatusNoContent)
	e.as("GET", appsURL+"/"+id, "").problem(http.StatusNotFound, "not-found")
}

func TestApplicationAuthMethodChange(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	id := e.as("POST", appsURL, `{"client_name":"M2M","grant_types":["client_credentials"]}`).want(http.StatusCreated).str("id")
	e.as("PATCH", appsURL+"/"+id, `{"token_endpoint_auth_method":"private_key_jwt"}`).problem(http.StatusUnprocessableEntity, "validation")
	e.as("PATCH", appsURL+"/"+id, `{"token_endpoint_auth_method":"private_key_jwt","jwks":`+testJWKS(t)+`}`).want(http.StatusOK)
	if e.storedApp("acme", id).SecretDigest != nil {
		t.Fatalf("digest kept after switching to private_key_jwt")
	}
	e.as("POST", appsURL+"/"+id+"/secret", "").problem(http.StatusConflict, "conflict")
	e.as("PATCH", appsURL+"/"+id, `{"token_endpoint_auth_method":"client_secret_post"}`).problem(http.StatusUnprocessableEntity, "validation")
	e.as("PATCH", appsURL+"/"+id, `{"token_endpoint_auth_method":"client_secret_post","jwks":null}`).want(http.StatusOK)
	secret := e.as("POST", appsURL+"/"+id+"/secret", "").want(http.StatusOK).str("client_secret")
	if !e.storedApp("acme", id).SecretMatches(secret) {
		t.Fatalf("secret after switching back does not match")
	}
}

func TestApplicationErrors(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	id := e.as("POST", appsURL, `{"client_id":"web","client_name":"Web","redirect_uris":["https://a.example/cb"]}`).want(http.StatusCreated).str("id")
	tests := []struct {
		name, method, path, body string
		status                   int
		typ                      string
		fields                   []string
	}{
		{"duplicate client_id", "POST", appsURL, `{"client_id":"web","client_name":"x","redirect_uris":["https://a.example/cb"]}`, 409, "conflict", []string{"client_id"}},
		{"invalid redirect uri", "POST", appsURL, `{"client_name":"x","redirect_uris":["http://evil.example/cb"]}`, 422, "validation", []string{"redirect_uris"}},
		{"fragment and missing name", "POST", appsURL, `{"redirect_uris":["https://a.example/cb#x"]}`, 422, "validation", []string{"client_name", "redirect_uris"}},
		{"public with client_credentials", "POST", appsURL, `{"client_name":"x","type":"public","grant_types":["client_credentials"]}`, 422, "validation", []string{"grant_types"}},
		{"redirect_uris not an array", "POST", appsURL, `{"client_name":"x","redirect_uris":"https://a.example/cb"}`, 400, "malformed-request", nil},
		{"client_id immutable", "PATCH", appsURL + "/" + id, `{"client_id":"other"}`, 422, "validation", []string{"client_id"}},
		{"type immutable", "PATCH", appsURL + "/" + id, `{"type":"public"}`, 422, "validation", []string{"type"}},
		{"patch to invalid redirect", "PATCH", appsURL + "/" + id, `{"redirect_uris":["https://a.example/*"]}`, 422, "validation", []string{"redirect_uris"}},
		{"patch removes every redirect", "PATCH", appsURL + "/" + id, `{"redirect_uris":null}`, 422, "validation", []string{"redirect_uris"}},
		{"rotate unknown", "POST", appsURL + "/" + uuid.NewString() + "/secret", "", 404, "not-found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.in(t).as(tt.method, tt.path, tt.body).problem(tt.status, tt.typ)
			if got := strings.Join(fieldErrors(p), ","); got != strings.Join(tt.fields, ",") {
				t.Errorf("field errors %q, want %q", got, strings.Join(tt.fields, ","))
			}
		})
	}
}
