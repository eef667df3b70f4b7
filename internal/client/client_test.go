package client

import (
	"strings"
	"testing"
)

func TestValidateRedirectURI(t *testing.T) {
	tests := []struct {
		name string
		uri  string
		typ  Type
		ok   bool
	}{
		{"https", "https://app.example.com/callback", Confidential, true},
		{"https with port and query", "https://app.example.com:8443/cb?x=1", Confidential, true},
		{"http loopback ip", "http://127.0.0.1:5555/cb", Public, true},
		{"http localhost", "http://localhost/cb", Confidential, true},
		{"http ipv6 loopback", "http://[::1]:80/cb", Public, true},
		{"private-use scheme, public", "com.example.app:/oauth2redirect", Public, true},
		{"private-use scheme, confidential", "com.example.app:/oauth2redirect", Confidential, false},
		{"http remote", "http://app.example.com/cb", Confidential, false},
		{"http localhost lookalike", "http://localhost.evil.example/cb", Confidential, false},
		{"fragment", "https://app.example.com/cb#frag", Confidential, false},
		{"empty fragment", "https://app.example.com/cb#", Confidential, false},
		{"userinfo", "https://user@app.example.com/cb", Confidential, false},
		{"userinfo trick", "https://app.example.com@evil.example/cb", Confidential, false},
		{"wildcard host", "https://*.example.com/cb", Confidential, false},
		{"relative", "/callback", Confidential, false},
		{"no host", "https:///cb", Confidential, false},
		{"javascript", "javascript:alert(1)", Public, false},
		{"data", "data:text/html,hi", Public, false},
		{"white space", "https://app.example.com/c b", Confidential, false},
		{"backslash", `https://app.example.com\@evil.example/`, Confidential, false},
		{"empty", "", Confidential, false},
		{"too long", "https://app.example.com/" + strings.Repeat("a", 2000), Confidential, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason := ValidateRedirectURI(tt.uri, tt.typ)
			if (reason == "") != tt.ok {
				t.Errorf("ValidateRedirectURI(%q, %s) = %q, want ok=%v", tt.uri, tt.typ, reason, tt.ok)
			}
		})
	}
}

func FuzzValidateRedirectURI(f *testing.F) {
	for _, s := range []string{"https://a.example/cb", "http://127.0.0.1:1/x", "com.x.y:/z", "https://u@h/#f", "%zz", "http://[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		reason := ValidateRedirectURI(raw, Public)
		if reason != "" {
			return
		}
		// Whatever is accepted must be absolute, fragment-free and without user info.
		if strings.Contains(raw, "#") || strings.ContainsAny(raw, " \t\r\n\\*") {
			t.Fatalf("accepted %q", raw)
		}
	})
}

func TestApplicationValidate(t *testing.T) {
	base := func() Application {
		return Application{ClientID: "web", ClientName: "Web", RedirectURIs: []string{"https://app.example.com/cb"}}
	}
	tests := []struct {
		name   string
		mutate func(*Application)
		fields []string // fields expected to have a problem; none means valid
	}{
		{"defaults are valid", func(*Application) {}, nil},
		{"public with none", func(a *Application) { a.Type = Public }, nil},
		{"bad client id", func(a *Application) { a.ClientID = "a b" }, []string{"client_id"}},
		{"no name", func(a *Application) { a.ClientName = " " }, []string{"client_name"}},
		{"unknown grant", func(a *Application) { a.GrantTypes = []string{"implicit"} }, []string{"grant_types"}},
		{"public client credentials", func(a *Application) {
			a.Type = Public
			a.GrantTypes = []string{GrantClientCredentials}
		}, []string{"grant_types"}},
		{"token response type", func(a *Application) { a.ResponseTypes = []string{"token"} }, []string{"response_types"}},
		{"public with secret", func(a *Application) { a.Type = Public; a.TokenEndpointAuthMethod = AuthSecretBasic },
			[]string{"token_endpoint_auth_method"}},
		{"confidential with none", func(a *Application) { a.TokenEndpointAuthMethod = AuthNone }, []string{"token_endpoint_auth_method"}},
		{"code without redirect", func(a *Application) { a.RedirectURIs = nil }, []string{"redirect_uris"}},
		{"client credentials only needs no redirect", func(a *Application) {
			a.RedirectURIs = nil
			a.GrantTypes = []string{GrantClientCredentials}
		}, nil},
		{"duplicate redirect", func(a *Application) { a.RedirectURIs = []string{"https://a.example/", "https://a.example/"} },
			[]string{"redirect_uris"}},
		{"bad logout uri", func(a *Application) { a.PostLogoutRedirectURIs = []string{"http://evil.example/"} },
			[]string{"post_logout_redirect_uris"}},
		{"every problem at once", func(a *Application) { a.ClientID = ""; a.ClientName = ""; a.GrantTypes = []string{"x"} },
			[]string{"client_id", "client_name", "grant_types"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base()
			tt.mutate(&a)
			a.ApplyDefaults()
			got := map[string]bool{}
			for _, e := range a.Validate() {
				got[e.Field] = true
			}
			if len(got) != len(tt.fields) {
				t.Fatalf("problems on %v, want %v: %v", got, tt.fields, a.Validate())
			}
			for _, f := range tt.fields {
				if !got[f] {
					t.Errorf("no problem on %s: %v", f, a.Validate())
				}
			}
		})
	}
}

func TestSecret(t *testing.T) {
	s1, d1 := GenerateSecret()
	s2, _ := GenerateSecret()
	if s1 == s2 || len(s1) < 43 {
		t.Fatalf("secrets not unique or short: %q %q", s1, s2)
	}
	a := Application{SecretDigest: d1}
	if !a.SecretMatches(s1) {
		t.Error("own secret does not match")
	}
	if a.SecretMatches(s2) || a.SecretMatches("") {
		t.Error("another secret matches")
	}
	if (Application{}).SecretMatches("") {
		t.Error("an application without a digest matches the empty secret")
	}
}
