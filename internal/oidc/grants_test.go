package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/keys"
)

// grantTokens runs the code flow for clientID at slug and returns the token response.
func grantTokens(t *testing.T, w *world, slug, clientID string) (map[string]any, string) {
	t.Helper()
	r := newRP(t, w, slug, clientID)
	verifier := oauth2.GenerateVerifier()
	code := r.signIn(t, newBrowser(t), verifier)
	status, out := redeem(t, w, slug, clientID, code, verifier)
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, out)
	}
	return out, code
}

func redeem(t testing.TB, w *world, slug, clientID, code, verifier string) (int, map[string]any) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	secret := w.secret(slug, clientID)
	if secret == "" {
		form.Set("client_id", clientID)
	}
	return postForm(t, w.issuer(slug)+"/token", form, clientID, secret)
}

func refreshWith(t testing.TB, w *world, slug, clientID, rt string) (int, map[string]any) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	secret := w.secret(slug, clientID)
	if secret == "" {
		form.Set("client_id", clientID)
	}
	return postForm(t, w.issuer(slug)+"/token", form, clientID, secret)
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func TestCodeUsedTwiceRevokesItsTokens(t *testing.T) {
	w := newWorld(t)
	r := newRP(t, w, "acme", "web")
	verifier := oauth2.GenerateVerifier()
	code := r.signIn(t, newBrowser(t), verifier)
	status, first := redeem(t, w, "acme", "web", code, verifier)
	if status != http.StatusOK {
		t.Fatalf("first redemption: %d %v", status, first)
	}
	if in := introspectAs(t, w, "acme", "web", str(first, "access_token")); in["active"] != true {
		t.Fatalf("fresh access token inactive: %v", in)
	}
	status, second := redeem(t, w, "acme", "web", code, verifier)
	if status != http.StatusBadRequest || second["error"] != "invalid_grant" {
		t.Fatalf("second redemption: %d %v", status, second)
	}
	if in := introspectAs(t, w, "acme", "web", str(first, "access_token")); in["active"] != false {
		t.Errorf("access token of a reused code still active: %v", in)
	}
	if in := introspectAs(t, w, "acme", "web", str(first, "refresh_token")); in["active"] != false {
		t.Errorf("refresh token of a reused code still active: %v", in)
	}
	if status, out := refreshWith(t, w, "acme", "web", str(first, "refresh_token")); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("refresh after code reuse: %d %v", status, out)
	}
}

func TestCodeRaceExactlyOneWins(t *testing.T) {
	w := newWorld(t)
	r := newRP(t, w, "acme", "web")
	verifier := oauth2.GenerateVerifier()
	code := r.signIn(t, newBrowser(t), verifier)
	const n = 50
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = redeem(t, w, "acme", "web", code, verifier)
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusBadRequest:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent redemptions succeeded, want exactly 1", ok, n)
	}
}

func TestArtifactsAreBoundToTheirClient(t *testing.T) {
	w := newWorld(t)
	r := newRP(t, w, "acme", "web")
	verifier := oauth2.GenerateVerifier()
	code := r.signIn(t, newBrowser(t), verifier)
	if status, out := redeem(t, w, "acme", "web2", code, verifier); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("code presented by another client: %d %v", status, out)
	}
	// The thief's attempt did not burn the code.
	status, tok := redeem(t, w, "acme", "web", code, verifier)
	if status != http.StatusOK {
		t.Fatalf("owner's redemption after a foreign attempt: %d %v", status, tok)
	}
	if status, out := refreshWith(t, w, "acme", "web2", str(tok, "refresh_token")); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("refresh token presented by another client: %d %v", status, out)
	}
	if status, _ := refreshWith(t, w, "acme", "web", str(tok, "refresh_token")); status != http.StatusOK {
		t.Errorf("owner's refresh after a foreign attempt: %d", status)
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	w := newWorld(t)
	first, _ := grantTokens(t, w, "acme", "web")
	rt1 := str(first, "refresh_token")
	status, second := refreshWith(t, w, "acme", "web", rt1)
	if status != http.StatusOK {
		t.Fatalf("rotation: %d %v", status, second)
	}
	rt2 := str(second, "refresh_token")
	if status, out := refreshWith(t, w, "acme", "web", rt1); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("replayed refresh token: %d %v", status, out)
	}
	if status, out := refreshWith(t, w, "acme", "web", rt2); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("newest refresh token after a replay: %d %v", status, out)
	}
	if in := introspectAs(t, w, "acme", "web", str(second, "access_token")); in["active"] != false {
		t.Errorf("access token of a revoked family: %v", in)
	}
}

// TestRefreshScopeMayOnlyNarrow: a refresh may ask for less than was granted, for the
// tokens of that response only; the new refresh token keeps the scope of the one
// presented (RFC 6749 §6), and nothing beyond the original grant is ever given.
func TestRefreshScopeMayOnlyNarrow(t *testing.T) {
	w := newWorld(t)
	r := newRP(t, w, "acme", "web")
	r.conf.Scopes = []string{"openid", "profile", "email", "offline_access"} // not groups
	verifier := oauth2.GenerateVerifier()
	status, tok := redeem(t, w, "acme", "web", r.signIn(t, newBrowser(t), verifier), verifier)
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	refresh := func(rt, scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if scope != "" {
			form.Set("scope", scope)
		}
		return postForm(t, w.issuer("acme")+"/token", form, "web", w.secret("acme", "web"))
	}
	status, narrow := refresh(str(tok, "refresh_token"), "openid email")
	if status != http.StatusOK || narrow["scope"] != "openid email" || str(narrow, "refresh_token") == "" {
		t.Fatalf("narrowed refresh: %d %v", status, narrow)
	}
	if in := introspectAs(t, w, "acme", "web", str(narrow, "access_token")); in["scope"] != "openid email" {
		t.Errorf("narrowed access token scope: %v", in["scope"])
	}
	if in := introspectAs(t, w, "acme", "web", str(narrow, "refresh_token")); in["scope"] != "openid profile email offline_access" {
		t.Errorf("refresh token after a narrowed refresh has scope %v, want the original", in["scope"])
	}
	// The family kept its scope, so profile can be asked for again...
	status, again := refresh(str(narrow, "refresh_token"), "openid profile")
	if status != http.StatusOK || again["scope"] != "openid profile" {
		t.Fatalf("refresh for a scope of the original grant: %d %v", status, again)
	}
	// ...and no scope asks for the whole original grant.
	status, full := refresh(str(again, "refresh_token"), "")
	if status != http.StatusOK || full["scope"] != "openid profile email offline_access" {
		t.Fatalf("refresh without scope: %d %v", status, full)
	}
	// Never more than the original grant.
	if status, out := refresh(str(full, "refresh_token"), "openid groups"); status != http.StatusBadRequest || out["error"] != "invalid_scope" {
		t.Errorf("widened refresh: %d %v", status, out)
	}
}

func TestPKCE(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)
	authz := func(client string, q url.Values) page {
		q.Set("client_id", client)
		q.Set("redirect_uri", callback)
		q.Set("response_type", "code")
		q.Set("scope", "openid")
		q.Set("state", "st-123")
		return b.get(w.issuer("acme") + "/authorize?" + q.Encode())
	}
	challenge := digest(strings.Repeat("v", 43))
	for _, tc := range []struct {
		name, client string
		q            url.Values
	}{
		{"public client without PKCE", "spa", url.Values{}},
		{"plain method", "spa", url.Values{"code_challenge": {strings.Repeat("v", 43)}, "code_challenge_method": {"plain"}}},
		{"method missing", "web", url.Values{"code_challenge": {challenge}}},
		{"malformed challenge", "web", url.Values{"code_challenge": {"short"}, "code_challenge_method": {"S256"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := callbackParams(t, authz(tc.client, tc.q))
			if q.Get("error") != "invalid_request" || q.Get("state") != "st-123" || q.Get("code") != "" {
				t.Errorf("callback %v", q)
			}
		})
	}
	t.Run("wrong verifier", func(t *testing.T) {
		r := newRP(t, w, "acme", "spa")
		code := r.signIn(t, newBrowser(t), oauth2.GenerateVerifier())
		if status, out := redeem(t, w, "acme", "spa", code, oauth2.GenerateVerifier()); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("%d %v", status, out)
		}
	})
	t.Run("verifier missing", func(t *testing.T) {
		r := newRP(t, w, "acme", "spa")
		code := r.signIn(t, newBrowser(t), oauth2.GenerateVerifier())
		if status, out := redeem(t, w, "acme", "spa", code, ""); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("%d %v", status, out)
		}
	})
	t.Run("downgrade: verifier without challenge", func(t *testing.T) {
		pg := authz("web", url.Values{"nonce": {"n"}})
		code := callbackParams(t, newBrowser(t).submit(pg, url.Values{"login": {"alice"}, "password": {testPassword}})).Get("code")
		if code == "" {
			t.Fatal("no code")
		}
		if status, out := redeem(t, w, "acme", "web", code, oauth2.GenerateVerifier()); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("%d %v", status, out)
		}
	})
}

func TestRevocation(t *testing.T) {
	w := newWorld(t)
	for _, which := range []string{"refresh_token", "access_token"} {
		t.Run(which, func(t *testing.T) {
			tok, _ := grantTokens(t, w, "acme", "web")
			// Another client's revocation changes nothing (RFC 7009 §2.1) and says 200.
			if status, _ := postForm(t, w.issuer("acme")+"/revoke", url.Values{"token": {str(tok, which)}}, "web2", w.secret("acme", "web2")); status != http.StatusOK {
				t.Fatalf("foreign revocation status %d", status)
			}
			if in := introspectAs(t, w, "acme", "web", str(tok, "access_token")); in["active"] != true {
				t.Fatalf("foreign revocation took effect: %v", in)
			}
			status, _ := postForm(t, w.issuer("acme")+"/revoke", url.Values{"token": {str(tok, which)}, "token_type_hint": {which}}, "web", w.secret("acme", "web"))
			if status != http.StatusOK {
				t.Fatalf("revocation status %d", status)
			}
			for _, k := range []string{"access_token", "refresh_token"} {
				if in := introspectAs(t, w, "acme", "web", str(tok, k)); in["active"] != false {
					t.Errorf("%s still active after revoking the %s: %v", k, which, in)
				}
			}
		})
	}
	t.Run("unknown token", func(t *testing.T) {
		if status, _ := postForm(t, w.issuer("acme")+"/revoke", url.Values{"token": {"nonsense"}}, "web", w.secret("acme", "web")); status != http.StatusOK {
			t.Errorf("status %d", status)
		}
	})
}

func TestIntrospectionNeedsAConfidentialClient(t *testing.T) {
	w := newWorld(t)
	tok, _ := grantTokens(t, w, "acme", "web")
	if status, out := postForm(t, w.issuer("acme")+"/introspect", url.Values{"token": {str(tok, "access_token")}, "client_id": {"spa"}}, "", ""); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("public client: %d %v", status, out)
	}
	if status, out := postForm(t, w.issuer("acme")+"/introspect", url.Values{"token": {str(tok, "access_token")}}, "web", "wrong"); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", status, out)
	}
	// A refresh token is described only to its own client.
	if in := introspectAs(t, w, "acme", "web2", str(tok, "refresh_token")); in["active"] != false {
		t.Errorf("refresh token introspected by another client: %v", in)
	}
	if in := introspectAs(t, w, "acme", "web", str(tok, "refresh_token")); in["active"] != true || in["token_type"] != "refresh_token" {
		t.Errorf("own refresh token: %v", in)
	}
}

func TestKeyRotationIsPickedUp(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	r := newRP(t, w, "acme", "web")
	before, _ := grantTokens(t, w, "acme", "web")
	tn := w.tenant("acme")
	w.mu.Lock()
	rotated, err := keys.Rotate(w.keys[tn.ID], tn.ID, w.kek)
	if err == nil {
		w.keys[tn.ID] = rotated
	}
	w.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(2 * time.Minute) // past KeyCacheTTL
	after, _ := grantTokens(t, w, "acme", "web")
	r2 := newRP(t, w, "acme", "web")
	for name, tok := range map[string]map[string]any{"before": before, "after": after} {
		if _, err := r2.verifier.Verify(ctx, str(tok, "id_token")); err != nil && name == "after" {
			t.Errorf("ID token %s rotation: %v", name, err)
		}
		if in := introspectAs(t, w, "acme", "web", str(tok, "access_token")); in["active"] != true {
			t.Errorf("access token %s rotation inactive: %v", name, in)
		}
	}
	_ = r
	kidOf := func(tok string) string {
		h, _, _ := strings.Cut(tok, ".")
		return h
	}
	if kidOf(str(before, "access_token")) == kidOf(str(after, "access_token")) {
		t.Error("the rotation was not picked up: same signing key header")
	}
}

// flakyKeys fails SigningKeySet on demand.
type flakyKeys struct {
	w    *world
	fail bool
}

func (f *flakyKeys) SigningKeySet(ctx context.Context, tid uuid.UUID) ([]keys.Key, int64, error) {
	f.w.mu.Lock()
	fail := f.fail
	f.w.mu.Unlock()
	if fail {
		return nil, 0, errors.New("replica down")
	}
	return f.w.SigningKeySet(ctx, tid)
}

func TestSigningSurvivesAKeyStoreOutage(t *testing.T) {
	fk := &flakyKeys{}
	w := newWorld(t, func(c *Config) { c.Keys = fk })
	fk.w = w
	grantCC := func() int {
		status, _ := postForm(t, w.issuer("acme")+"/token", url.Values{"grant_type": {"client_credentials"}}, "svc", w.secret("acme", "svc"))
		return status
	}
	if s := grantCC(); s != http.StatusOK {
		t.Fatalf("healthy: %d", s)
	}
	w.mu.Lock()
	fk.fail = true
	w.mu.Unlock()
	w.clock.Advance(5 * time.Minute) // cache stale, store down: keep signing
	if s := grantCC(); s != http.StatusOK {
		t.Errorf("store down, keys 5 minutes old: %d", s)
	}
	w.clock.Advance(2 * time.Hour) // too stale: refuse rather than sign with keys that may be retired
	if s := grantCC(); s != http.StatusServiceUnavailable {
		t.Errorf("store down, keys 2 hours old: %d", s)
	}
}
