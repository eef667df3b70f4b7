package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/apitoken"
)

// provisionToken stores a provision-scoped token (global, or of tenantSlug) and returns
// its bearer value.
func (e *env) provisionToken(tenantSlug string) string {
	e.t.Helper()
	ctx := context.Background()
	tok, digest := apitoken.Generate()
	t := apitoken.Token{Name: "jit", Digest: digest, Scope: apitoken.ScopeProvision}
	if tenantSlug != "" {
		tn, err := e.store.TenantBySlug(ctx, tenantSlug)
		if err != nil {
			e.t.Fatalf("tenant %q: %v", tenantSlug, err)
		}
		t.TenantID = tn.ID
	}
	if _, err := e.store.CreateAPIToken(ctx, t); err != nil {
		e.t.Fatalf("create token: %v", err)
	}
	return tok
}

// mkImportTenant creates a tenant with an import source (user_import): the tenants a
// provision-scoped token may create users in.
func (e *env) mkImportTenant(slug string) string {
	e.t.Helper()
	e.as("POST", "/admin/v1/tenants", `{"slug":"`+slug+`","display_name":"`+slug+` Inc","user_import":{"url":"https://legacy.example.com/check"}}`).
		want(http.StatusCreated)
	return slug
}

// TestProvisionScopeAllowsOnlyUserCreateAndRead walks the whole route table with a
// provision-scoped token: the three user routes of just-in-time provisioning work in any
// tenant with an import source; every other route (tenants, tokens, keys, groups,
// applications, user changes, read-only switch, dead letters, events) is 403
// problem+json, and changes nothing.
func TestProvisionScopeAllowsOnlyUserCreateAndRead(t *testing.T) {
	e := newEnv(t)
	e.mkImportTenant("acme")
	e.mkImportTenant("other")
	prov := e.provisionToken("")

	// The allowed routes, in two tenants.
	for _, slug := range []string{"acme", "other"} {
		r := e.do(req{Method: "POST", Path: "/admin/v1/tenants/" + slug + "/users", Token: prov,
			Body: `{"username":"Alice","email":"alice@example.com","given_name":"Alice","password":"correct horse battery"}`}).want(http.StatusCreated)
		u := r.json()
		id, _ := u["id"].(string)
		if u["username"] != "alice" || u["has_password"] != true || id == "" {
			t.Fatalf("%s: created user %v", slug, u)
		}
		items := e.do(req{Method: "GET", Path: "/admin/v1/tenants/" + slug + "/users?username=ALICE", Token: prov}).want(http.StatusOK).items()
		if len(items) != 1 || items[0]["id"] != id {
			t.Errorf("%s: find by username = %v", slug, items)
		}
		if got := e.do(req{Method: "GET", Path: "/admin/v1/tenants/" + slug + "/users/" + id, Token: prov}).want(http.StatusOK).str("id"); got != id {
			t.Errorf("%s: get by ID = %q", slug, got)
		}
		e.do(req{Method: "HEAD", Path: "/admin/v1/tenants/" + slug + "/users/" + id, Token: prov}).want(http.StatusOK)
	}
	users := e.as("GET", "/admin/v1/tenants/acme/users", "").want(http.StatusOK).items()
	userID, _ := users[0]["id"].(string)

	// Every other route, from the table itself: a new route is denied unless it is added
	// to provisionRoutes on purpose.
	const someID = "0193a4a0-0000-7000-8000-000000000000"
	bodies := map[string]string{"POST": `{}`, "PATCH": `{"display_name":"x"}`, "PUT": `{"enabled":true}`}
	denied := 0
	for _, rt := range routes {
		if rt.Access == public || provisionRoutes[rt.Method+" "+rt.Path] {
			continue
		}
		path := strings.NewReplacer("{tenant}", "acme", "{id}", userID, "{user_id}", userID, "{seq}", "1").Replace(rt.Path)
		if !strings.Contains(rt.Path, usersPath+"/{id}") {
			path = strings.ReplaceAll(path, userID, someID)
		}
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			e.in(t).do(req{Method: rt.Method, Path: path, Token: prov, Body: bodies[rt.Method]}).problem(http.StatusForbidden, "forbidden")
		})
		denied++
	}
	if denied < 30 {
		t.Fatalf("only %d routes checked; the table walk is broken", denied)
	}
	// Nothing the denied calls aimed at changed.
	after := e.as("GET", "/admin/v1/tenants/acme/users/"+userID, "").want(http.StatusOK).json()
	if after["version"] != float64(1) || after["status"] != "active" {
		t.Errorf("user changed by denied calls: %v", after)
	}
	if ro := e.as("GET", "/admin/v1/readonly", "").want(http.StatusOK).json(); ro["read_only"] != false {
		t.Errorf("read-only switched by a provision token: %v", ro)
	}
	if n := len(e.as("GET", "/admin/v1/tokens", "").want(http.StatusOK).items()); n != 2 {
		t.Errorf("%d tokens, want 2 (root, jit)", n)
	}
	if !strings.Contains(e.logs.String(), "route outside the token's scope provision") {
		t.Errorf("no denial logged:\n%s", e.logs.String())
	}
}

// TestProvisionScopeOfOneTenant: a provision token scoped to a tenant has both limits.
func TestProvisionScopeOfOneTenant(t *testing.T) {
	e := newEnv(t)
	e.mkImportTenant("acme")
	e.mkImportTenant("other")
	prov := e.provisionToken("acme")
	e.do(req{Method: "POST", Path: "/admin/v1/tenants/acme/users", Token: prov, Body: `{"username":"bob"}`}).want(http.StatusCreated)
	e.do(req{Method: "POST", Path: "/admin/v1/tenants/other/users", Token: prov, Body: `{"username":"bob"}`}).problem(http.StatusForbidden, "forbidden")
	e.do(req{Method: "GET", Path: "/admin/v1/tenants/other/users?username=bob", Token: prov}).problem(http.StatusForbidden, "forbidden")
	e.do(req{Method: "GET", Path: "/admin/v1/tenants/acme", Token: prov}).problem(http.StatusForbidden, "forbidden")
	if n := len(e.as("GET", "/admin/v1/tenants/other/users", "").want(200).items()); n != 0 {
		t.Errorf("the denied create reached the other tenant")
	}
}

// TestProvisionScopeInReadOnlyMode: in read-only mode the provision token can still
// read users, and its create gets 503 read-only like any write.
func TestProvisionScopeInReadOnlyMode(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	prov := e.provisionToken("")
	e.as("PUT", "/admin/v1/readonly", `{"enabled":true,"reason":"drill"}`).want(http.StatusOK)
	e.do(req{Method: "POST", Path: "/admin/v1/tenants/acme/users", Token: prov, Body: `{"username":"carol"}`}).problem(http.StatusServiceUnavailable, "read-only")
	e.do(req{Method: "GET", Path: "/admin/v1/tenants/acme/users?username=carol", Token: prov}).want(http.StatusOK)
	// A denied route stays 403 whatever the mode: scope is checked first.
	e.do(req{Method: "PUT", Path: "/admin/v1/readonly", Token: prov, Body: `{"enabled":false}`}).problem(http.StatusForbidden, "forbidden")
}

func TestTokenScopeThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	e.mkImportTenant("acme")
	m := e.as("POST", "/admin/v1/tokens", `{"name":"jit","scope":"provision"}`).want(http.StatusCreated).json()
	tok, _ := m["token"].(string)
	if m["scope"] != "provision" || tok == "" {
		t.Fatalf("created provision token: %v", m)
	}
	if d := e.as("POST", "/admin/v1/tokens", `{"name":"default"}`).want(http.StatusCreated).json(); d["scope"] != "admin" {
		t.Errorf("token without a scope: %v, want scope admin", d)
	}
	e.do(req{Method: "POST", Path: "/admin/v1/tenants/acme/users", Token: tok, Body: `{"username":"dave"}`}).want(http.StatusCreated)
	e.do(req{Method: "POST", Path: "/admin/v1/tokens", Token: tok, Body: `{"name":"escalate"}`}).problem(http.StatusForbidden, "forbidden")

	scopes := map[string]string{}
	for _, it := range e.as("GET", "/admin/v1/tokens", "").want(http.StatusOK).items() {
		scopes[it["name"].(string)], _ = it["scope"].(string)
	}
	if scopes["jit"] != "provision" || scopes["default"] != "admin" || scopes["root"] != "admin" {
		t.Errorf("listed scopes %v", scopes)
	}
	for _, body := range []string{`{"name":"x","scope":"root"}`, `{"name":"x","scope":"PROVISION"}`} {
		p := e.as("POST", "/admin/v1/tokens", body).problem(http.StatusUnprocessableEntity, "validation")
		if got := strings.Join(fieldErrors(p), ","); got != "scope" {
			t.Errorf("%s: fields %q, want scope", body, got)
		}
	}
	e.as("POST", "/admin/v1/tokens", `{"name":"x","scope":7}`).problem(http.StatusBadRequest, "malformed-request")
}

// TestTenantUserImport: the import source is created, shown, replaced, removed and
// validated through the API, and a tenant-scoped token cannot change it.
func TestTenantUserImport(t *testing.T) {
	e := newEnv(t)
	m := e.as("POST", "/admin/v1/tenants", `{"slug":"acme","display_name":"Acme","user_import":{"url":"https://legacy.example.com/check"}}`).
		want(http.StatusCreated).json()
	if ui, _ := m["user_import"].(map[string]any); ui["url"] != "https://legacy.example.com/check" {
		t.Fatalf("created tenant's user_import = %v", m["user_import"])
	}
	if m := e.as("POST", "/admin/v1/tenants", `{"slug":"plain","display_name":"Plain"}`).want(http.StatusCreated).json(); m["user_import"] != nil {
		t.Errorf("tenant without import: user_import = %v, want null", m["user_import"])
	}
	if v, ok := e.as("GET", "/admin/v1/tenants/plain", "").want(http.StatusOK).json()["user_import"]; !ok || v != nil {
		t.Errorf("user_import must be present and null, got %v (present %v)", v, ok)
	}

	m = e.as("PATCH", "/admin/v1/tenants/acme", `{"user_import":{"url":"http://127.0.0.1:9000/check"}}`).want(http.StatusOK).json()
	if ui, _ := m["user_import"].(map[string]any); ui["url"] != "http://127.0.0.1:9000/check" {
		t.Errorf("patched user_import = %v", m["user_import"])
	}
	// A patch of another field keeps it.
	m = e.as("PATCH", "/admin/v1/tenants/acme", `{"display_name":"Acme Corp"}`).want(http.StatusOK).json()
	if ui, _ := m["user_import"].(map[string]any); ui["url"] != "http://127.0.0.1:9000/check" {
		t.Errorf("user_import after an unrelated patch = %v", m["user_import"])
	}
	if m := e.as("PATCH", "/admin/v1/tenants/acme", `{"user_import":null}`).want(http.StatusOK).json(); m["user_import"] != nil {
		t.Errorf("user_import after null = %v", m["user_import"])
	}
	if m := e.as("GET", "/admin/v1/tenants/acme", "").want(http.StatusOK).json(); m["user_import"] != nil {
		t.Errorf("user_import stored after null = %v", m["user_import"])
	}

	for _, tt := range []struct{ name, body string }{
		{"http elsewhere", `{"user_import":{"url":"http://legacy.example.com/check"}}`},
		{"relative", `{"user_import":{"url":"/check"}}`},
		{"userinfo", `{"user_import":{"url":"https://u:p@legacy.example.com/check"}}`},
		{"fragment", `{"user_import":{"url":"https://legacy.example.com/check#f"}}`},
		{"too long", `{"user_import":{"url":"https://legacy.example.com/` + strings.Repeat("a", 2100) + `"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := e.in(t).as("PATCH", "/admin/v1/tenants/acme", tt.body).problem(http.StatusUnprocessableEntity, "validation")
			if got := strings.Join(fieldErrors(p), ","); got != "user_import.url" {
				t.Errorf("fields %q, want user_import.url", got)
			}
		})
	}
	e.as("PATCH", "/admin/v1/tenants/acme", `{"user_import":{"url":"https://x.example","secret":"y"}}`).problem(http.StatusBadRequest, "malformed-request")
	e.as("PATCH", "/admin/v1/tenants/acme", `{"user_import":"https://x.example"}`).problem(http.StatusBadRequest, "malformed-request")
	e.as("POST", "/admin/v1/tenants", `{"slug":"bad","display_name":"B","user_import":{"url":"ftp://x"}}`).problem(http.StatusUnprocessableEntity, "validation")

	slug := "acme"
	scoped := e.token("acme-admin", &slug, time.Time{})
	e.do(req{Method: "PATCH", Path: "/admin/v1/tenants/acme", Token: scoped, Body: `{"user_import":{"url":"https://evil.example/"}}`}).
		problem(http.StatusForbidden, "forbidden")
}

// TestProvisionScopeLimits: within its three routes a provision-scoped token creates
// only what just-in-time provisioning creates — an active user with an unverified
// e-mail address, in a tenant with an import source — and finds users only by name. Each
// refusal is 403 problem+json, changes nothing and is logged; an admin token may do all
// of it.
func TestProvisionScopeLimits(t *testing.T) {
	e := newEnv(t)
	e.mkImportTenant("acme")
	e.mkTenant("plain")
	prov := e.provisionToken("")
	const pw = `"password":"correct horse battery"`
	for _, tt := range []struct {
		name, method, path, body string
		want                     int // 403: refused for the provision token
		reason                   string
	}{
		{name: "create in a tenant without user_import", method: "POST", path: "/admin/v1/tenants/plain/users",
			body: `{"username":"u1",` + pw + `}`, want: http.StatusForbidden, reason: "tenant without user_import"},
		{name: "create with malformed body in a tenant without user_import", method: "POST", path: "/admin/v1/tenants/plain/users",
			body: `{"username":`, want: http.StatusForbidden, reason: "tenant without user_import"},
		{name: "create a verified e-mail", method: "POST", path: "/admin/v1/tenants/acme/users",
			body: `{"username":"u2","email":"u2@example.com","email_verified":true,` + pw + `}`, want: http.StatusForbidden, reason: "setting email_verified"},
		{name: "create disabled", method: "POST", path: "/admin/v1/tenants/acme/users",
			body: `{"username":"u3","status":"disabled",` + pw + `}`, want: http.StatusForbidden, reason: "status other than active"},
		{name: "create with an unknown status", method: "POST", path: "/admin/v1/tenants/acme/users",
			body: `{"username":"u4","status":"locked",` + pw + `}`, want: http.StatusForbidden, reason: "status other than active"},
		{name: "list every user", method: "GET", path: "/admin/v1/tenants/acme/users", want: http.StatusForbidden,
			reason: "without the username filter"},
		{name: "list every user of a tenant without user_import", method: "GET", path: "/admin/v1/tenants/plain/users",
			want: http.StatusForbidden, reason: "without the username filter"},
		{name: "list a page", method: "GET", path: "/admin/v1/tenants/acme/users?limit=1", want: http.StatusForbidden,
			reason: "without the username filter"},
		{name: "find by e-mail", method: "GET", path: "/admin/v1/tenants/acme/users?email=x@example.com", want: http.StatusForbidden,
			reason: "without the username filter"},
		// What the login tier sends (provision.AdminClient): allowed.
		{name: "create as the login tier does", method: "POST", path: "/admin/v1/tenants/acme/users",
			body: `{"username":"u5","email":"u5@example.com","given_name":"U","family_name":"Five","status":"active",` + pw + `}`, want: http.StatusCreated},
		{name: "create with email_verified false", method: "POST", path: "/admin/v1/tenants/acme/users",
			body: `{"username":"u6","email_verified":false,` + pw + `}`, want: http.StatusCreated},
		{name: "create without a status", method: "POST", path: "/admin/v1/tenants/acme/users",
			body: `{"username":"u7",` + pw + `}`, want: http.StatusCreated},
		{name: "find by username", method: "GET", path: "/admin/v1/tenants/acme/users?username=U5", want: http.StatusOK},
		{name: "find by username in a tenant without user_import", method: "GET", path: "/admin/v1/tenants/plain/users?username=u1",
			want: http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			before := e.logs.String()
			r := e.do(req{Method: tt.method, Path: tt.path, Token: prov, Body: tt.body})
			if tt.want != http.StatusForbidden {
				r.want(tt.want)
				return
			}
			p := r.problem(http.StatusForbidden, "forbidden")
			if p["detail"] != "this token may not perform this operation" {
				t.Errorf("problem %v", p)
			}
			if logs := strings.TrimPrefix(e.logs.String(), before); !strings.Contains(logs, "admin access denied") || !strings.Contains(logs, tt.reason) {
				t.Errorf("denial not logged with %q:\n%s", tt.reason, logs)
			}
		})
	}
	// Only the allowed creations happened.
	for slug, want := range map[string]string{"acme": "u5,u6,u7", "plain": ""} {
		var names []string
		for _, it := range e.as("GET", "/admin/v1/tenants/"+slug+"/users", "").want(http.StatusOK).items() {
			names = append(names, it["username"].(string))
			if slug == "acme" && (it["email_verified"] != false || it["status"] != "active") {
				t.Errorf("provisioned user %v", it)
			}
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%s users %q, want %q", slug, got, want)
		}
	}
	if items := e.do(req{Method: "GET", Path: "/admin/v1/tenants/acme/users?username=u5", Token: prov}).want(http.StatusOK).items(); len(items) != 1 {
		t.Fatalf("find by username: %v", items)
	} else if id, _ := items[0]["id"].(string); e.do(req{Method: "GET", Path: "/admin/v1/tenants/acme/users/" + id, Token: prov}).want(http.StatusOK).str("id") != id {
		t.Errorf("get by ID")
	}

	// An admin-scoped token keeps every one of these.
	e.as("POST", "/admin/v1/tenants/plain/users", `{"username":"a1","email":"a1@example.com","email_verified":true,"status":"disabled"}`).
		want(http.StatusCreated)
	if items := e.as("GET", "/admin/v1/tenants/plain/users", "").want(http.StatusOK).items(); len(items) != 1 ||
		items[0]["email_verified"] != true || items[0]["status"] != "disabled" {
		t.Errorf("admin-created user %v", items)
	}
	e.as("GET", "/admin/v1/tenants/plain/users?email=a1@example.com", "").want(http.StatusOK)
	slug := "plain"
	scoped := e.token("plain-admin", &slug, time.Time{})
	e.do(req{Method: "GET", Path: "/admin/v1/tenants/plain/users", Token: scoped}).want(http.StatusOK)
}
