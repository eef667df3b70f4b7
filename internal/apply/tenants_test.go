package apply_test

import (
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/apply"
)

const twoTenants = `
tenants:
  - slug: acme
    display_name: Acme
    users: [{username: alice}]
    groups: [{name: staff, members: [alice]}]
    applications:
      - {client_id: web, client_name: Web, redirect_uris: ["https://acme.example/cb"]}
  - slug: globex
    display_name: Globex
    status: disabled
    users: [{username: alice}]
    groups: [{name: staff, members: [alice]}]
    applications:
      - {client_id: web, client_name: Web, type: public, redirect_uris: ["https://globex.example/cb"]}
`

func TestTenantsAreIndependent(t *testing.T) {
	e := newEnv(t)
	out := e.mustRun(twoTenants)
	want := strings.Join([]string{
		"+ tenant acme", "+ user acme/alice", "+ group acme/staff", "+ member acme/staff ← alice",
		"+ application acme/web (client_id=web)",
		"+ tenant globex", "+ user globex/alice", "+ group globex/staff", "+ member globex/staff ← alice",
		"+ application globex/web (client_id=web)",
		"10 created, 0 updated, 0 deleted",
	}, "\n")
	if got := strings.Join(changeLines(secretBlockAny.ReplaceAllString(out, "")), "\n"); got != want {
		t.Errorf("printed\n%s\nwant\n%s", got, want)
	}
	var tn struct{ Status string }
	mustJSON(t, e.get("/admin/v1/tenants/globex"), &tn)
	if tn.Status != "disabled" {
		t.Errorf("globex status = %q, want the file's status on create", tn.Status)
	}
	e.reset()
	if out := e.mustRun(twoTenants); out != "no changes\n" || e.writes() != 0 {
		t.Errorf("re-apply printed %q with %d writes", out, e.writes())
	}
}

func TestTenantScopedTokenCannotCreateTenants(t *testing.T) {
	e := newEnv(t)
	e.mustRun(twoTenants)
	scoped := e.scopedToken("acme")
	e.reset()
	// Within its tenant the scoped token works.
	file := strings.Replace(twoTenants, "client_name: Web, redirect", "client_name: Acme Web, redirect", 1)
	out := e.mustRun(file, func(o *apply.Options) { o.Token = scoped; o.File = e.file("acme.yaml", acmeOnly(file)) })
	if out != "~ application acme/web: client_name\n0 created, 1 updated, 0 deleted\n" {
		t.Errorf("printed %q", out)
	}
	// A new tenant needs a global token.
	e.reset()
	_, err := e.run(strings.Replace(twoTenants, "slug: globex", "slug: initech", 1), func(o *apply.Options) { o.Token = scoped })
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "HTTP 403") || !strings.Contains(err.Error(), "tenant-scoped token") {
		t.Errorf("err = %v, want a 403 explained", err)
	}
}

// acmeOnly cuts the second tenant out of twoTenants.
func acmeOnly(s string) string {
	i := strings.Index(s, "  - slug: globex")
	return s[:i]
}
