package apply_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/apply"
)

func TestBadFilesAreReportedWithPathsBeforeAnyWrite(t *testing.T) {
	tests := []struct {
		name string
		file func() string
		want []string // substrings of the error, after the file name
	}{
		{"unknown field", replace("email: bob@example.com", "emial: bob@example.com"),
			[]string{"tenants[0].users[1].emial: unknown field (known: email, email_verified, family_name, given_name, password, password_file, status, username)"}},
		{"unknown top-level field", func() string { return "tenant:\n  - slug: acme\n" },
			[]string{"tenant: unknown field (known: tenants)"}},
		{"bad YAML", replace("    display_name: Acme Corp", "   display_name: Acme Corp"),
			[]string{"invalid YAML", "line 3"}},
		{"duplicate YAML key", replace("given_name: Alice", "given_name: Alice\n        given_name: Alicia"),
			[]string{"invalid YAML", "given_name"}},
		{"invalid email", replace("email: bob@example.com", "email: bob at example"),
			[]string{"tenants[0].users[1].email: must be a plain e-mail address"}},
		{"duplicate usernames", replace("username: bob", "username: ALICE"),
			[]string{`tenants[0].users[1].username: "alice" is declared twice (first at tenants[0].users[0].username)`}},
		{"duplicate client_id", replace("client_id: cli", "client_id: web"),
			[]string{`tenants[0].applications[1].client_id: "web" is declared twice`}},
		{"duplicate member", replace("members: [alice]", "members: [alice, Alice]"),
			[]string{`tenants[0].groups[0].members[1]: "alice" is declared twice`}},
		{"member not declared and not on the server", replace("members: [alice]", "members: [alice, zed]"),
			[]string{`tenants[0].groups[0].members[1]: user "zed" is neither declared in tenants[0].users nor on the server`}},
		{"type change", replace("type: confidential", "type: public"),
			[]string{`tenants[0].applications[0].type: is "confidential" on the server and the file says "public"`, "cannot change"}},
		{"omitted type means confidential", replace("        type: public\n", ""),
			[]string{`tenants[0].applications[1].type: is "public" on the server and the file says "confidential" (the default when type is omitted)`}},
		{"wrong kind", replace("family_name: Liddell", "family_name: Liddell\n        email_verified: maybe"),
			[]string{"tenants[0].users[0].email_verified: must be true or false, not a string"}},
		{"number for a string", replace("client_name: Acme CLI", "client_name: 42"),
			[]string{"tenants[0].applications[1].client_name: must be a string, not a number (quote it)"}},
		{"list where a mapping belongs", replace("      - name: everyone", "      - [everyone]"),
			[]string{"tenants[0].groups[1]: must be a mapping of fields, not a list"}},
		{"password and password file", replace("password_file: bob.password", "password_file: bob.password\n        password: hunter2hunter2"),
			[]string{"tenants[0].users[1].password_file: give either password or password_file, not both"}},
		{"missing password file", replace("password_file: bob.password", "password_file: nope.password"),
			[]string{"tenants[0].users[1].password_file: cannot be read", "nope.password"}},
		{"short password", replace(examplePassword, "short"),
			[]string{"tenants[0].users[0].password: the password must be at least 8 characters"}},
		{"missing client_id", replace("      - client_id: cli\n", "      - client_id: \"\"\n"),
			[]string{"tenants[0].applications[1].client_id: is required"}},
		{"bad slug", replace("slug: acme", "slug: Acme!"),
			[]string{"tenants[0].slug: must be 1-63 lowercase letters"}},
		{"bad redirect URI", replace("[https://app.acme.example/callback]", "[http://app.acme.example/callback]"),
			[]string{"tenants[0].applications[0].redirect_uris:"}},
		{"bad colour", replace("display_name: Acme Corp", "display_name: Acme Corp\n    primary_color: red"),
			[]string{`tenants[0].primary_color: must be a colour like "#1a73e8"`}},
		{"lockout not a number", replace("display_name: Acme Corp", "display_name: Acme Corp\n    lockout_threshold: ten"),
			[]string{"tenants[0].lockout_threshold: must be a whole number, not a string"}},
		{"fractional lockout", replace("display_name: Acme Corp", "display_name: Acme Corp\n    lockout_duration_seconds: 90.5"),
			[]string{"tenants[0].lockout_duration_seconds: must be a whole number"}},
		{"lockout out of range", replace("display_name: Acme Corp", "display_name: Acme Corp\n    lockout_duration_seconds: 30\n    lockout_threshold: 5000"),
			[]string{"tenants[0].lockout_duration_seconds: must be a whole number of seconds between 60 and 86400",
				"tenants[0].lockout_threshold: must be between 1 and 1000"}},
		{"negative key generation", replace("display_name: Acme Corp", "display_name: Acme Corp\n    key_generation: -1"),
			[]string{"tenants[0].key_generation: must be 0 or more"}},
		{"key generation too far ahead", replace("display_name: Acme Corp", "display_name: Acme Corp\n    key_generation: 6"),
			[]string{"tenants[0].key_generation: is 6 and the server is at 0: at most 5 rotations per apply"}},
		{"jwks a list", replace("grant_types: [authorization_code, refresh_token]", "grant_types: [authorization_code, refresh_token]\n        jwks: [k1]"),
			[]string{"tenants[0].applications[0].jwks: must be a mapping, not a list"}},
		{"jwks with a secret method", replace("grant_types: [authorization_code, refresh_token]",
			"grant_types: [authorization_code, refresh_token]\n        jwks: {keys: [{kty: OKP, crv: Ed25519, kid: k1, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo}]}"),
			[]string{"tenants[0].applications[0].jwks: is allowed only with token_endpoint_auth_method private_key_jwt"}},
		{"private key in jwks", replace("grant_types: [authorization_code, refresh_token]",
			"grant_types: [authorization_code, refresh_token]\n        token_endpoint_auth_method: private_key_jwt\n"+
				"        jwks: {keys: [{kty: OKP, crv: Ed25519, kid: k1, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo, d: nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A}]}"),
			[]string{"tenants[0].applications[0].jwks: key 0 holds private or symmetric key material"}},
		{"private_key_jwt without jwks", replace("grant_types: [authorization_code, refresh_token]",
			"grant_types: [authorization_code, refresh_token]\n        token_endpoint_auth_method: private_key_jwt"),
			[]string{"tenants[0].applications[0].jwks: is required with token_endpoint_auth_method private_key_jwt"}},
		{"unknown signing alg", replace("grant_types: [authorization_code, refresh_token]",
			"grant_types: [authorization_code, refresh_token]\n        id_token_signed_response_alg: HS256"),
			[]string{`tenants[0].applications[0].id_token_signed_response_alg: must be "RS256", "ES256" or "EdDSA"`}},
		{"empty file", func() string { return "\n# nothing\n" },
			[]string{"the file is empty"}},
		{"not a mapping", func() string { return "- acme\n" },
			[]string{"(document): must be a mapping of fields, not a list"}},
		{"every problem at once", replace("email: bob@example.com", "email: nope", "slug: acme", "slug: ACME"),
			[]string{"2 problems:", "\n  tenants[0].slug:", "\n  tenants[0].users[1].email:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			e.mustRun(example) // some problems are contradictions with the server's state
			e.reset()
			_, err := e.run(tt.file())
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			var fe *apply.FileError
			if !errors.As(err, &fe) {
				t.Errorf("error is %T, want *apply.FileError", err)
			}
			if !strings.HasPrefix(err.Error(), e.dir+"/nines.yaml: ") {
				t.Errorf("error does not start with the file name: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
			if e.writes() != 0 {
				t.Errorf("sent %d writes for a bad file", e.writes())
			}
		})
	}
}

func TestServerErrors(t *testing.T) {
	tests := []struct {
		name string
		opts func(*apply.Options, *env)
		want []string
	}{
		{"wrong token", func(o *apply.Options, _ *env) { o.Token = "nines_not-a-real-token" },
			[]string{"GET /admin/v1/tenants/acme: HTTP 401", "check NINES_ADMIN_TOKEN"}},
		{"no token", func(o *apply.Options, _ *env) { o.Token = "" },
			[]string{"no admin token: set NINES_ADMIN_TOKEN"}},
		{"clear text to a remote host", func(o *apply.Options, _ *env) { o.Server = "http://idp.example.com" },
			[]string{"refusing to send the admin token in clear text to idp.example.com"}},
		{"not a URL", func(o *apply.Options, _ *env) { o.Server = "idp.example.com" },
			[]string{`the server must be an http(s) URL such as https://idp.example.com (got "idp.example.com")`}},
		{"credentials in the URL", func(o *apply.Options, e *env) { o.Server = strings.Replace(e.url, "//", "//u:p@", 1) },
			[]string{"must not hold credentials"}},
		{"no file", func(o *apply.Options, _ *env) { o.File = "" },
			[]string{"no file given"}},
		{"missing file", func(o *apply.Options, e *env) { o.File = e.dir + "/missing.yaml" },
			[]string{"missing.yaml", "no such file"}},
		{"no server listening", func(o *apply.Options, _ *env) { o.Server = "http://127.0.0.1:1" },
			[]string{"reading the server's state", "GET /admin/v1/tenants/acme", "refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			out, err := e.run(example, func(o *apply.Options) { tt.opts(o, e) })
			if err == nil {
				t.Fatalf("no error; printed %q", out)
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if out != "" || e.writes() != 0 {
				t.Errorf("printed %q and sent %d writes", out, e.writes())
			}
		})
	}
}
