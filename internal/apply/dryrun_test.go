package apply_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/apply"
)

func TestDryRunPrintsTheDiffAndWritesNothing(t *testing.T) {
	e := setup(t)
	out := e.mustRun(example, dryRun)
	want := strings.Join([]string{
		"+ tenant acme",
		"+ user acme/alice",
		"+ user acme/bob",
		"+ group acme/admins",
		"+ member acme/admins ← alice",
		"+ group acme/everyone",
		"+ application acme/web (client_id=web)",
		"+ application acme/cli (client_id=cli)",
		"dry run: would create 8, update 0, delete 0; nothing was changed",
	}, "\n") + "\n"
	if out != want {
		t.Errorf("dry run on an empty server printed\n%s\nwant\n%s", out, want)
	}
	if e.writes() != 0 {
		t.Fatalf("dry run sent %d writes", e.writes())
	}

	e.mustRun(example)
	e.reset()
	changed := strings.Replace(example, "given_name: Alice", "given_name: Alicia", 1)
	changed = strings.Replace(changed, "members: [alice]", "members: [bob]", 1)
	out = e.mustRun(changed, dryRun)
	want = `~ user acme/alice: given_name
    given_name: "Alice" → "Alicia"
+ member acme/admins ← bob
- member acme/admins ← alice
dry run: would create 1, update 1, delete 1; nothing was changed
`
	if out != want {
		t.Errorf("dry run of a change printed\n%s\nwant\n%s", out, want)
	}
	if e.writes() != 0 {
		t.Errorf("dry run sent %d writes", e.writes())
	}
	if out := e.mustRun(example, dryRun); out != "no changes (dry run)\n" {
		t.Errorf("dry run of the applied file printed %q", out)
	}
}

func TestSecretsFileGetsTheSecretAndStdoutDoesNot(t *testing.T) {
	e := setup(t)
	path := filepath.Join(t.TempDir(), "secrets.jsonl")
	withFile := func(o *apply.Options) { o.SecretsFile = path }

	out := e.mustRun(example, withFile)
	if strings.Contains(out, "BEGIN CLIENT SECRET") {
		t.Errorf("stdout shows a secret block although a secrets file was given:\n%s", out)
	}
	if !strings.Contains(out, "+ application acme/web (client_id=web)\n  client secret for acme/web written to "+path+"\n") {
		t.Errorf("stdout does not say where the secret went:\n%s", out)
	}
	lines := secretLines(t, path)
	if len(lines) != 1 || lines[0].Tenant != "acme" || lines[0].ClientID != "web" || len(lines[0].ClientSecret) != 43 {
		t.Fatalf("secrets file holds %+v, want one secret for acme/web", lines)
	}
	if strings.Contains(out, lines[0].ClientSecret) {
		t.Error("the secret is on stdout")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}

	// A second application is appended; the first secret stays.
	more := example + `      - client_id: api
        client_name: Acme API
        grant_types: [client_credentials]
`
	e.mustRun(more, withFile)
	lines = secretLines(t, path)
	if len(lines) != 2 || lines[1].ClientID != "api" || lines[0].ClientID != "web" {
		t.Errorf("after a second application the file holds %+v", lines)
	}
}

func TestSecretsFileReadableByOthersIsRefusedBeforeAnyWrite(t *testing.T) {
	e := setup(t)
	path := filepath.Join(t.TempDir(), "secrets.jsonl")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // the umask may have narrowed it
		t.Fatal(err)
	}
	_, err := e.run(example, func(o *apply.Options) { o.SecretsFile = path })
	if err == nil || !strings.Contains(err.Error(), "lets others read it") || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want a refusal naming %s", err, path)
	}
	if e.writes() != 0 {
		t.Errorf("sent %d writes before refusing", e.writes())
	}
}

type secretLine struct {
	Tenant       string `json:"tenant"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func secretLines(t *testing.T, path string) []secretLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []secretLine
	for l := range strings.Lines(string(b)) {
		var s secretLine
		mustJSON(t, []byte(l), &s)
		out = append(out, s)
	}
	return out
}

func TestSwitchingToASecretMethodGeneratesTheSecretOnce(t *testing.T) {
	e := setup(t)
	jwt := replace("grant_types: [authorization_code, refresh_token]",
		"grant_types: [authorization_code, refresh_token]\n        token_endpoint_auth_method: private_key_jwt\n"+
			"        jwks: {keys: [{kty: OKP, crv: Ed25519, kid: k1, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo}]}")()
	if out := e.mustRun(jwt); strings.Contains(out, "CLIENT SECRET") {
		t.Fatalf("a private_key_jwt client got a secret:\n%s", out)
	}
	e.reset()
	out := e.mustRun(example, dryRun)
	want := "~ application acme/web: token_endpoint_auth_method, jwks\n" +
		"    token_endpoint_auth_method: \"private_key_jwt\" → \"client_secret_basic\"\n" +
		"    jwks: 1 keys [\"k1\"] → none\n" +
		"    a client secret will be generated\n" +
		"dry run: would create 0, update 1, delete 0; nothing was changed\n"
	if out != want || e.writes() != 0 {
		t.Errorf("dry run printed\n%s\nwant\n%s", out, want)
	}
	out = e.mustRun(example)
	if !strings.HasPrefix(out, "~ application acme/web: token_endpoint_auth_method, jwks\n-----BEGIN CLIENT SECRET acme/web") ||
		len(secretBlock.FindAllString(out, -1)) != 1 {
		t.Errorf("printed\n%s\nwant the update followed by one secret block", out)
	}
	if e.count("PATCH") != 1 || e.count("POST") != 1 {
		t.Errorf("sent %v, want one PATCH and one POST (the secret)", e.counts)
	}
	e.reset()
	if out := e.mustRun(example); out != "no changes\n" {
		t.Errorf("re-apply printed %q", out)
	}
}
