package apply_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/apply"
)

// withTenantFields adds lines under acme's display_name.
func withTenantFields(lines ...string) string {
	return strings.Replace(example, "    display_name: Acme Corp\n",
		"    display_name: Acme Corp\n    "+strings.Join(lines, "\n    ")+"\n", 1)
}

// runStderr applies the text and returns stdout, stderr and the error.
func (e *env) runStderr(text string, mod ...func(*apply.Options)) (string, string, error) {
	e.t.Helper()
	opts := apply.Options{File: e.file("nines.yaml", text), Server: e.url, Token: e.token}
	for _, m := range mod {
		m(&opts)
	}
	var stdout, stderr bytes.Buffer
	err := apply.Run(context.Background(), opts, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func (e *env) tenantField(name string) any {
	e.t.Helper()
	var m map[string]any
	mustJSON(e.t, e.get("/admin/v1/tenants/acme"), &m)
	return m[name]
}

func TestKeyGeneration(t *testing.T) {
	e := setup(t)
	out := e.mustRun(withTenantFields("key_generation: 2"))
	for _, want := range []string{"+ tenant acme\n", "~ keys acme: rotated (generation 1)\n", "~ keys acme: rotated (generation 2)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("first apply lacks %q:\n%s", want, out)
		}
	}
	if g := e.tenantField("key_generation"); g != float64(2) {
		t.Fatalf("server key_generation = %v, want 2", g)
	}
	e.reset()
	if out := e.mustRun(withTenantFields("key_generation: 2")); out != "no changes\n" || e.writes() != 0 {
		t.Errorf("re-apply printed %q with %d writes", out, e.writes())
	}

	// One step up: the dry run shows it and writes nothing, the apply rotates once.
	e.reset()
	out = e.mustRun(withTenantFields("key_generation: 3"), dryRun)
	if out != "~ keys acme: rotated (generation 3)\ndry run: would create 0, update 1, delete 0; nothing was changed\n" || e.writes() != 0 {
		t.Errorf("dry run printed %q with %d writes", out, e.writes())
	}
	out = e.mustRun(withTenantFields("key_generation: 3"))
	if out != "~ keys acme: rotated (generation 3)\n0 created, 1 updated, 0 deleted\n" || e.count("POST") != 1 {
		t.Errorf("apply printed %q with %v", out, e.counts)
	}
	var ks struct {
		Items []map[string]any `json:"items"`
	}
	mustJSON(t, e.get("/admin/v1/tenants/acme/keys"), &ks)
	if len(ks.Items) != 9 {
		t.Errorf("%d keys after rotations, want 9", len(ks.Items))
	}

	// Behind the server: nothing happens, and stderr says why.
	e.reset()
	out, stderr, err := e.runStderr(withTenantFields("key_generation: 1"))
	if err != nil || out != "no changes\n" || e.writes() != 0 {
		t.Errorf("a lower key_generation: %v, printed %q with %d writes", err, out, e.writes())
	}
	if !strings.Contains(stderr, "note: keys acme: the file says key_generation 1 and the server is at 3") {
		t.Errorf("stderr %q lacks the note", stderr)
	}
	// Omitted: not managed.
	if out := e.mustRun(example); out != "no changes\n" {
		t.Errorf("without key_generation printed %q", out)
	}
	if g := e.tenantField("key_generation"); g != float64(3) {
		t.Errorf("server key_generation = %v, want 3", g)
	}
}

func TestTenantPolicyFields(t *testing.T) {
	e := setup(t)
	fields := []string{`primary_color: "#1a73e8"`, "lockout_threshold: 5", "lockout_duration_seconds: 600"}
	e.mustRun(withTenantFields(fields...))
	for name, want := range map[string]any{"primary_color": "#1a73e8", "lockout_threshold": float64(5), "lockout_duration_seconds": float64(600)} {
		if got := e.tenantField(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	e.reset()
	if out := e.mustRun(withTenantFields(fields...)); out != "no changes\n" || e.writes() != 0 {
		t.Errorf("re-apply printed %q", out)
	}
	out := e.mustRun(withTenantFields(`primary_color: ""`, "lockout_threshold: 0", "lockout_duration_seconds: 600"), dryRun)
	want := "~ tenant acme: primary_color, lockout_threshold\n" +
		"    primary_color: \"#1a73e8\" → \"\"\n" +
		"    lockout_threshold: 5 → 10\n" +
		"dry run: would create 0, update 1, delete 0; nothing was changed\n"
	if out != want {
		t.Errorf("dry run printed\n%s\nwant (0 is the default, 10)\n%s", out, want)
	}
	e.mustRun(withTenantFields(`primary_color: ""`, "lockout_threshold: 0"))
	if out := e.mustRun(withTenantFields(`primary_color: ""`, "lockout_threshold: 0")); out != "no changes\n" {
		t.Errorf("re-apply of a default printed %q", out)
	}
}

const partnerApp = `
      - client_id: partner
        client_name: Partner service
        grant_types: [client_credentials]
        token_endpoint_auth_method: private_key_jwt
        id_token_signed_response_alg: ES256
        jwks:
          keys:
            - kty: OKP
              crv: Ed25519
              kid: partner-2026
              x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo
`

func TestApplicationSigningFields(t *testing.T) {
	e := setup(t)
	out := e.mustRun(example + partnerApp[1:])
	if !strings.Contains(out, "+ application acme/partner (client_id=partner)\n") || strings.Contains(out, "SECRET acme/partner") {
		t.Fatalf("first apply printed\n%s", out)
	}
	var apps struct {
		Items []struct {
			Alg  string          `json:"id_token_signed_response_alg"`
			JWKS json.RawMessage `json:"jwks"`
		} `json:"items"`
	}
	mustJSON(t, e.get("/admin/v1/tenants/acme/applications?client_id=partner"), &apps)
	if len(apps.Items) != 1 || apps.Items[0].Alg != "ES256" || !strings.Contains(string(apps.Items[0].JWKS), `"kid":"partner-2026"`) {
		t.Fatalf("stored: %+v", apps.Items)
	}
	e.reset()
	if out := e.mustRun(example + partnerApp[1:]); out != "no changes\n" || e.writes() != 0 {
		t.Errorf("re-apply printed %q with %d writes", out, e.writes())
	}
	changed := strings.Replace(strings.Replace(example+partnerApp[1:], "ES256", "EdDSA", 1), "partner-2026", "partner-2027", 1)
	out = e.mustRun(changed, dryRun)
	want := "~ application acme/partner: id_token_signed_response_alg, jwks\n" +
		"    id_token_signed_response_alg: \"ES256\" → \"EdDSA\"\n" +
		"    jwks: 1 keys [\"partner-2026\"] → 1 keys [\"partner-2027\"]\n" +
		"dry run: would create 0, update 1, delete 0; nothing was changed\n"
	if out != want {
		t.Errorf("dry run printed\n%s\nwant\n%s", out, want)
	}
	e.mustRun(changed)
	if out := e.mustRun(changed); out != "no changes\n" {
		t.Errorf("re-apply after the change printed %q", out)
	}
}
