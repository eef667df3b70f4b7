package apply_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

const (
	examplePassword = "correct horse battery staple"
	filePassword    = "tr0ub4dor&3-from-a-file"
)

// example is the file the tests start from; its password_file is written by setup.
const example = `
tenants:
  - slug: acme
    display_name: Acme Corp
    users:
      - username: Alice
        email: Alice@Example.com
        given_name: Alice
        family_name: Liddell
        password: "correct horse battery staple"
      - username: bob
        email: bob@example.com
        password_file: bob.password
    groups:
      - name: admins
        description: Administrators
        members: [alice]
      - name: everyone
    applications:
      - client_id: web
        client_name: Acme Web
        type: confidential
        redirect_uris: [https://app.acme.example/callback]
        post_logout_redirect_uris: [https://app.acme.example/]
        grant_types: [authorization_code, refresh_token]
      - client_id: cli
        client_name: Acme CLI
        type: public
        redirect_uris: [http://127.0.0.1/callback]
`

func setup(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.file("bob.password", filePassword+"\n")
	return e
}

var secretBlockAny = regexp.MustCompile(`(?m)^-----BEGIN CLIENT SECRET \S+----- .*\n.*\n-----END CLIENT SECRET \S+-----\n`)

var secretBlock = regexp.MustCompile(`(?m)^-----BEGIN CLIENT SECRET acme/web----- \(shown only this once: store it now\)\n([A-Za-z0-9_-]{43})\n-----END CLIENT SECRET acme/web-----$`)

func TestFirstApplyCreatesAndSecondChangesNothing(t *testing.T) {
	e := setup(t)
	out := e.mustRun(example)
	t.Logf("first apply:\n%s", out)

	wantLines := []string{
		"+ tenant acme",
		"+ user acme/alice",
		"+ user acme/bob",
		"+ group acme/admins",
		"+ member acme/admins ← alice",
		"+ group acme/everyone",
		"+ application acme/web (client_id=web)",
		"+ application acme/cli (client_id=cli)",
		"8 created, 0 updated, 0 deleted",
	}
	if got := changeLines(out); strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("first apply printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
	}
	if n := len(secretBlock.FindAllString(out, -1)); n != 1 {
		t.Errorf("want exactly one client secret block for acme/web, found %d in\n%s", n, out)
	}
	if strings.Count(out, "CLIENT SECRET") != 2 { // BEGIN and END of the one block; the public client has none
		t.Errorf("unexpected secret blocks in\n%s", out)
	}
	if e.count("POST") != 8 {
		t.Errorf("first apply sent %d POSTs, want 8", e.count("POST"))
	}

	// The server holds what the file says, normalised.
	var users struct {
		Items []struct {
			Username, Email string
			HasPassword     bool `json:"has_password"`
		}
	}
	for _, name := range []string{"alice", "bob"} {
		mustJSON(t, e.get("/admin/v1/tenants/acme/users?username="+name), &users)
		if len(users.Items) != 1 || !users.Items[0].HasPassword {
			t.Errorf("user %s: %+v, want one user with a password", name, users.Items)
		}
	}
	if users.Items[0].Email != "bob@example.com" {
		t.Errorf("bob's email = %q", users.Items[0].Email)
	}

	e.reset()
	out = e.mustRun(example)
	if out != "no changes\n" {
		t.Errorf("second apply printed %q, want %q", out, "no changes\n")
	}
	if e.writes() != 0 {
		t.Errorf("second apply sent %d write requests, want 0 (%v)", e.writes(), e.counts)
	}
}

// changeLines drops the secret block, leaving the change lines and the summary.
func changeLines(out string) []string {
	out = secretBlock.ReplaceAllString(out, "")
	var lines []string
	for l := range strings.SplitSeq(out, "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

func TestChangedFieldIsOneUpdate(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replaced in example
		want     string // the one change line; "" for no change
	}{
		{"tenant display name", "display_name: Acme Corp", "display_name: Acme Corporation", "~ tenant acme: display_name"},
		{"tenant status", "display_name: Acme Corp", "display_name: Acme Corp\n    status: disabled", "~ tenant acme: status"},
		{"user given name", "given_name: Alice", "given_name: Alicia", "~ user acme/alice: given_name"},
		{"user two fields", "given_name: Alice\n        family_name: Liddell", "given_name: Alicia\n        family_name: Smith", "~ user acme/alice: given_name, family_name"},
		{"user email", "email: Alice@Example.com", "email: alice@example.org", "~ user acme/alice: email"},
		{"email case only", "email: Alice@Example.com", "email: ALICE@example.COM", ""},
		{"username case only", "username: Alice", "username: ALICE", ""},
		{"password is set on create only", examplePassword, "a brand new password", ""},
		{"omitted name is not managed", "        given_name: Alice\n", "", ""},
		{"empty name clears", "given_name: Alice", `given_name: ""`, "~ user acme/alice: given_name"},
		{"email verified", "family_name: Liddell", "family_name: Liddell\n        email_verified: true", "~ user acme/alice: email_verified"},
		{"group description", "description: Administrators", "description: Admins", "~ group acme/admins: description"},
		{"application name", "client_name: Acme Web", "client_name: Acme Web App", "~ application acme/web: client_name"},
		{"application redirect added", "[https://app.acme.example/callback]", "[https://app.acme.example/callback, https://app.acme.example/cb2]", "~ application acme/web: redirect_uris"},
		{"application grant order", "[authorization_code, refresh_token]", "[refresh_token, authorization_code]", ""},
		{"application defaults spelt out", "type: public\n", "type: public\n        grant_types: [authorization_code]\n        response_types: [code]\n        token_endpoint_auth_method: none\n", ""},
		{"application auth method", "grant_types: [authorization_code, refresh_token]", "grant_types: [authorization_code, refresh_token]\n        token_endpoint_auth_method: client_secret_post", "~ application acme/web: token_endpoint_auth_method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(example, tt.old) {
				t.Fatalf("example does not contain %q", tt.old)
			}
			e := setup(t)
			e.mustRun(example)
			e.reset()
			out := e.mustRun(strings.Replace(example, tt.old, tt.new, 1))
			if tt.want == "" {
				if out != "no changes\n" || e.writes() != 0 {
					t.Errorf("printed %q with %d writes, want no changes", out, e.writes())
				}
				return
			}
			want := tt.want + "\n0 created, 1 updated, 0 deleted\n"
			if out != want {
				t.Errorf("printed\n%s\nwant\n%s", out, want)
			}
			if e.count("PATCH") != 1 || e.writes() != 1 {
				t.Errorf("sent %v, want exactly one PATCH", e.counts)
			}
			e.reset()
			if out := e.mustRun(strings.Replace(example, tt.old, tt.new, 1)); out != "no changes\n" {
				t.Errorf("re-apply after the update printed %q", out)
			}
		})
	}
}
