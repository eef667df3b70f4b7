package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTenantPolicyFields(t *testing.T) {
	e := newEnv(t)
	m := e.as("POST", "/admin/v1/tenants", `{"slug":"acme","display_name":"Acme","primary_color":"#1a73e8",
		"lockout_threshold":5,"lockout_duration_seconds":600}`).want(http.StatusCreated).json()
	if m["primary_color"] != "#1a73e8" || m["lockout_threshold"] != float64(5) || m["lockout_duration_seconds"] != float64(600) {
		t.Errorf("created: %v", m)
	}
	d := e.as("POST", "/admin/v1/tenants", `{"slug":"dflt","display_name":"Defaults"}`).want(http.StatusCreated).json()
	if d["primary_color"] != "" || d["lockout_threshold"] != float64(10) || d["lockout_duration_seconds"] != float64(900) || d["key_generation"] != float64(0) {
		t.Errorf("defaults: %v", d)
	}
	p := e.as("PATCH", "/admin/v1/tenants/acme", `{"primary_color":"","lockout_threshold":20,"key_generation":0}`).want(http.StatusOK).json()
	if p["primary_color"] != "" || p["lockout_threshold"] != float64(20) || p["lockout_duration_seconds"] != float64(600) {
		t.Errorf("patched: %v", p)
	}
	p = e.as("PATCH", "/admin/v1/tenants/acme", `{"lockout_threshold":null,"lockout_duration_seconds":null}`).want(http.StatusOK).json()
	if p["lockout_threshold"] != float64(10) || p["lockout_duration_seconds"] != float64(900) {
		t.Errorf("null did not reset to the defaults: %v", p)
	}

	tests := []struct {
		name, method, path, body string
		status                   int
		typ                      string
		fields                   []string
	}{
		{"bad colour", "POST", "/admin/v1/tenants", `{"slug":"b","display_name":"B","primary_color":"blue"}`, 422, "validation", []string{"primary_color"}},
		{"threshold too high", "POST", "/admin/v1/tenants", `{"slug":"b","display_name":"B","lockout_threshold":1001}`, 422, "validation", []string{"lockout_threshold"}},
		{"duration too short", "POST", "/admin/v1/tenants", `{"slug":"b","display_name":"B","lockout_duration_seconds":59}`, 422, "validation", []string{"lockout_duration_seconds"}},
		{"negative duration", "PATCH", "/admin/v1/tenants/acme", `{"lockout_duration_seconds":-5}`, 422, "validation", []string{"lockout_duration_seconds"}},
		{"huge duration", "PATCH", "/admin/v1/tenants/acme", `{"lockout_duration_seconds":9223372036854775807}`, 422, "validation", []string{"lockout_duration_seconds"}},
		{"duration not a number", "PATCH", "/admin/v1/tenants/acme", `{"lockout_duration_seconds":"15m"}`, 400, "malformed-request", nil},
		{"key_generation is read-only", "PATCH", "/admin/v1/tenants/acme", `{"key_generation":5}`, 422, "validation", []string{"key_generation"}},
		{"key_generation not on create", "POST", "/admin/v1/tenants", `{"slug":"b","display_name":"B","key_generation":1}`, 400, "malformed-request", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.in(t).as(tt.method, tt.path, tt.body).problem(tt.status, tt.typ)
			if got := strings.Join(fieldErrors(p), ","); got != strings.Join(tt.fields, ",") {
				t.Errorf("field errors %q, want %q", got, strings.Join(tt.fields, ","))
			}
		})
	}
	if g := e.as("GET", "/admin/v1/tenants/acme", "").want(http.StatusOK).json(); g["lockout_threshold"] != float64(10) {
		t.Errorf("a refused patch changed the tenant: %v", g)
	}
}

func TestApplicationSigningFields(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	jwks := testJWKS(t)
	m := e.as("POST", appsURL, `{"client_name":"M2M","grant_types":["client_credentials"],
		"token_endpoint_auth_method":"private_key_jwt","id_token_signed_response_alg":"EdDSA","jwks":`+jwks+`}`).want(http.StatusCreated).json()
	keysOf := func(m map[string]any) []any {
		j, _ := m["jwks"].(map[string]any)
		ks, _ := j["keys"].([]any)
		return ks
	}
	if m["id_token_signed_response_alg"] != "EdDSA" || len(keysOf(m)) != 1 || m["client_secret"] != nil {
		t.Fatalf("created: %v", m)
	}
	id := m["id"].(string)
	if got := e.as("GET", appsURL+"/"+id, "").want(http.StatusOK).json(); len(keysOf(got)) != 1 {
		t.Errorf("read back: %v", got)
	}
	web := e.as("POST", appsURL, `{"client_name":"Web","redirect_uris":["https://a.example/cb"]}`).want(http.StatusCreated).json()
	if web["id_token_signed_response_alg"] != "RS256" || web["jwks"] != nil {
		t.Errorf("defaults: alg %v jwks %v", web["id_token_signed_response_alg"], web["jwks"])
	}
	p := e.as("PATCH", appsURL+"/"+id, `{"id_token_signed_response_alg":"ES256"}`).want(http.StatusOK).json()
	if p["id_token_signed_response_alg"] != "ES256" || len(keysOf(p)) != 1 {
		t.Errorf("patched: %v", p)
	}

	privateJWK := `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"p","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}`
	tests := []struct {
		name, method, path, body string
		status                   int
		typ                      string
		fields                   []string
	}{
		{"unknown alg", "PATCH", appsURL + "/" + id, `{"id_token_signed_response_alg":"none"}`, 422, "validation", []string{"id_token_signed_response_alg"}},
		{"HS256", "POST", appsURL, `{"client_name":"x","redirect_uris":["https://a.example/cb"],"id_token_signed_response_alg":"HS256"}`, 422, "validation", []string{"id_token_signed_response_alg"}},
		{"private key in jwks", "PATCH", appsURL + "/" + id, `{"jwks":` + privateJWK + `}`, 422, "validation", []string{"jwks"}},
		{"jwks removed under private_key_jwt", "PATCH", appsURL + "/" + id, `{"jwks":null}`, 422, "validation", []string{"jwks"}},
		{"jwks with a secret", "POST", appsURL, `{"client_name":"x","redirect_uris":["https://a.example/cb"],"jwks":` + jwks + `}`, 422, "validation", []string{"jwks"}},
		{"jwks a string", "PATCH", appsURL + "/" + id, `{"jwks":"https://a.example/jwks"}`, 422, "validation", []string{"jwks"}},
		{"jwks empty set", "PATCH", appsURL + "/" + id, `{"jwks":{"keys":[]}}`, 422, "validation", []string{"jwks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.in(t).as(tt.method, tt.path, tt.body)
			p := r.problem(tt.status, tt.typ)
			if got := strings.Join(fieldErrors(p), ","); got != strings.Join(tt.fields, ",") {
				t.Errorf("field errors %q, want %q", got, strings.Join(tt.fields, ","))
			}
			if strings.Contains(r.Body.String(), "nWGxne_9") {
				t.Error("the problem echoes the private key")
			}
		})
	}
	if strings.Contains(e.logs.String(), "nWGxne_9") {
		t.Error("the private key reached the log")
	}
}

func TestUserLastLogin(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	m := e.as("POST", usersURL, `{"username":"alice"}`).want(http.StatusCreated).json()
	if v, ok := m["last_login_at"]; !ok || v != nil {
		t.Fatalf("last_login_at of a new user = %v (present %v), want null", v, ok)
	}
	tn, err := e.store.TenantBySlug(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.store.UserByUsername(context.Background(), tn.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	if err := e.store.RecordSignIn(context.Background(), tn.ID, u.ID, at); err != nil {
		t.Fatal(err)
	}
	got := e.as("GET", usersURL+"/"+u.ID.String(), "").want(http.StatusOK).json()
	if got["last_login_at"] != "2026-11-21T08:00:00Z" || got["version"] != float64(1) {
		t.Errorf("after a sign-in: last_login_at %v version %v", got["last_login_at"], got["version"])
	}
	e.as("PATCH", usersURL+"/"+u.ID.String(), `{"last_login_at":"2030-01-01T00:00:00Z"}`).problem(http.StatusBadRequest, "malformed-request")
}
