package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// rp is a relying party built from real client libraries.
type rp struct {
	w        *world
	slug     string
	provider *gooidc.Provider
	conf     oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func newRP(t *testing.T, w *world, slug, clientID string, algs ...string) *rp {
	t.Helper()
	ctx := context.Background()
	prov, err := gooidc.NewProvider(ctx, w.issuer(slug))
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if len(algs) == 0 {
		algs = []string{"RS256"}
	}
	return &rp{w: w, slug: slug, provider: prov,
		conf: oauth2.Config{ClientID: clientID, ClientSecret: w.secret(slug, clientID), Endpoint: prov.Endpoint(),
			RedirectURL: callback, Scopes: []string{"openid", "profile", "email", "groups", "offline_access"}},
		verifier: prov.Verifier(&gooidc.Config{ClientID: clientID, SupportedSigningAlgs: algs})}
}

// signIn runs authorize → login form → callback and returns the code.
func (r *rp) signIn(t *testing.T, b *browser, verifier string, opts ...oauth2.AuthCodeOption) (code string) {
	t.Helper()
	opts = append(opts, oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n-0S6_WzA2Mj"))
	pg := b.get(r.conf.AuthCodeURL("st-123", opts...))
	if pg.status == http.StatusSeeOther || pg.status == http.StatusFound { // SSO: straight to the callback
		return r.code(t, pg)
	}
	if pg.status != http.StatusOK || !strings.Contains(pg.body, `name="password"`) {
		t.Fatalf("want the login form, got %d: %.300s", pg.status, pg.body)
	}
	return r.code(t, b.submit(pg, url.Values{"login": {"alice"}, "password": {testPassword}}))
}

func (r *rp) code(t *testing.T, pg page) string {
	t.Helper()
	q := callbackParams(t, pg)
	if q.Get("state") != "st-123" || q.Get("iss") != r.w.issuer(r.slug) {
		t.Fatalf("callback state %q iss %q", q.Get("state"), q.Get("iss"))
	}
	if q.Get("code") == "" {
		t.Fatalf("callback without code: %v", q)
	}
	return q.Get("code")
}

func TestCodeFlowWithRealClients(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, client, alg string
	}{
		{"RS256 confidential", "web", "RS256"},
		{"ES256 confidential", "web2", "ES256"},
		{"public client with PKCE", "spa", "RS256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRP(t, w, "acme", tc.client, tc.alg)
			verifier := oauth2.GenerateVerifier()
			code := r.signIn(t, newBrowser(t), verifier)
			tok, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := r.verifier.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("ID token: %v", err)
			}
			if idt.Nonce != "n-0S6_WzA2Mj" {
				t.Errorf("nonce %q", idt.Nonce)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			alice := w.userByName("acme", "alice")
			var claims struct {
				Email  string   `json:"email"`
				Groups []string `json:"groups"`
				Name   string   `json:"name"`
				AMR    []string `json:"amr"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if idt.Subject != alice.ID.String() || claims.Email != "alice@example.com" ||
				!slices.Equal(claims.Groups, []string{"admins", "dev"}) || claims.Name != "Alice Example" ||
				!slices.Equal(claims.AMR, []string{"pwd"}) {
				t.Errorf("ID token sub %s claims %+v", idt.Subject, claims)
			}
			ui, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if ui.Subject != alice.ID.String() || ui.Email != "alice@example.com" {
				t.Errorf("userinfo %+v", ui)
			}
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token with offline_access")
			}
			// Refresh: a new pair, and the old refresh token is spent.
			tok2, err := r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken || tok2.AccessToken == tok.AccessToken {
				t.Error("refresh did not rotate")
			}
			if raw2, _ := tok2.Extra("id_token").(string); raw2 != "" {
				if _, err := r.verifier.Verify(ctx, raw2); err != nil {
					t.Errorf("refreshed ID token: %v", err)
				}
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, id := range []string{"svc", "svc-es"} {
		cc := clientcredentials.Config{ClientID: id, ClientSecret: w.secret("acme", id), TokenURL: w.issuer("acme") + "/token"}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		in := introspectAs(t, w, "acme", "web", tok.AccessToken)
		if in["active"] != true || in["sub"] != id || in["client_id"] != id {
			t.Errorf("%s: introspection %v", id, in)
		}
	}
	bad := clientcredentials.Config{ClientID: "svc", ClientSecret: "wrong", TokenURL: w.issuer("acme") + "/token"}
	if _, err := bad.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("wrong secret: %v", err)
	}
}

// introspectAs calls the introspection endpoint of slug authenticated as clientID.
func introspectAs(t testing.TB, w *world, slug, clientID, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.issuer(slug)+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, w.secret(slug, clientID))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("introspection status %d: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspection status %d: %v", resp.StatusCode, out)
	}
	return out
}

// postForm posts to a tenant endpoint with optional basic auth and returns status + JSON.
func postForm(t testing.TB, u string, form url.Values, clientID, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" && secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
