package apply_test

import (
	"strings"
	"testing"
)

// TestTenantUserImport is the round trip of a tenant's import source: created with the
// tenant, unchanged on re-apply, changed, kept when the file omits it, removed with an
// empty url, and refused locally when the URL is not acceptable.
func TestTenantUserImport(t *testing.T) {
	e := setup(t)
	const first = "https://legacy.acme.example/check"
	e.mustRun(withTenantFields("user_import: {url: " + first + "}"))
	if got := importURL(e); got != first {
		t.Fatalf("user_import.url after create = %q, want %q", got, first)
	}
	e.reset()
	if out := e.mustRun(withTenantFields("user_import: {url: " + first + "}")); out != "no changes\n" || e.writes() != 0 {
		t.Errorf("re-apply printed %q with %d writes", out, e.writes())
	}

	const second = "http://127.0.0.1:9000/check"
	out := e.mustRun(withTenantFields("user_import:", "  url: "+second), dryRun)
	want := "~ tenant acme: user_import\n" +
		"    user_import: \"" + first + "\" → \"" + second + "\"\n" +
		"dry run: would create 0, update 1, delete 0; nothing was changed\n"
	if out != want {
		t.Errorf("dry run printed\n%s\nwant\n%s", out, want)
	}
	if got := importURL(e); got != first {
		t.Errorf("dry run changed user_import to %q", got)
	}
	e.mustRun(withTenantFields("user_import:", "  url: "+second))
	if got := importURL(e); got != second {
		t.Errorf("user_import.url after update = %q, want %q", got, second)
	}

	// Omitted (or null): not managed.
	e.reset()
	for _, file := range []string{example, withTenantFields("user_import: null")} {
		if out := e.mustRun(file); out != "no changes\n" || e.writes() != 0 {
			t.Errorf("without user_import printed %q with %d writes", out, e.writes())
		}
	}
	if got := importURL(e); got != second {
		t.Errorf("user_import.url after an apply without it = %q, want it kept", got)
	}

	// An empty url removes it.
	out = e.mustRun(withTenantFields(`user_import: {url: ""}`))
	if !strings.Contains(out, "~ tenant acme: user_import\n") {
		t.Errorf("removal printed %q", out)
	}
	if v, ok := tenantJSON(e)["user_import"]; !ok || v != nil {
		t.Errorf("user_import after removal = %v (present %v), want null", v, ok)
	}
	e.reset()
	if out := e.mustRun(withTenantFields(`user_import: {url: ""}`)); out != "no changes\n" || e.writes() != 0 {
		t.Errorf("re-apply of the removal printed %q with %d writes", out, e.writes())
	}
}

func TestTenantUserImportBadFile(t *testing.T) {
	e := setup(t)
	for _, tt := range []struct{ name, field, want string }{
		{"plain http elsewhere", "user_import: {url: http://legacy.example/check}", "tenants[0].user_import.url: must be https://"},
		{"userinfo", "user_import: {url: \"https://u:p@legacy.example/check\"}", "tenants[0].user_import.url: must not contain user information"},
		{"not a mapping", "user_import: https://legacy.example/check", "tenants[0].user_import: must be a mapping of fields"},
		{"unknown key", "user_import: {url: https://legacy.example/check, token: x}", "tenants[0].user_import.token: unknown field (known: url)"},
	} {
		e.reset()
		_, err := e.run(withTenantFields(tt.field))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if e.writes() != 0 {
			t.Errorf("%s: %d writes for a bad file", tt.name, e.writes())
		}
	}
}

func tenantJSON(e *env) map[string]any {
	e.t.Helper()
	var m map[string]any
	mustJSON(e.t, e.get("/admin/v1/tenants/acme"), &m)
	return m
}

func importURL(e *env) string {
	e.t.Helper()
	ui, _ := tenantJSON(e)["user_import"].(map[string]any)
	u, _ := ui["url"].(string)
	return u
}
