package oidc

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/login/authn"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// authorizeURL builds an authorization request for clientID at slug with PKCE.
func authorizeURL(w *world, slug, clientID string, extra url.Values) string {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {callback}, "response_type": {"code"},
		"scope": {"openid profile"}, "state": {"st-123"}, "code_challenge": {digest(strings.Repeat("a", 43))},
		"code_challenge_method": {"S256"}}
	for k, vs := range extra {
		q[k] = vs
	}
	return w.issuer(slug) + "/authorize?" + q.Encode()
}

func isLoginForm(pg page) bool {
	return pg.status == http.StatusOK && strings.Contains(pg.body, `name="password"`)
}

func signInForm(t *testing.T, b *browser, pg page) page {
	t.Helper()
	if !isLoginForm(pg) {
		t.Fatalf("want the login form, got %d: %.300s", pg.status, pg.body)
	}
	return b.submit(pg, url.Values{"login": {"alice"}, "password": {testPassword}})
}

func TestSSOAndPrompt(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)

	// prompt=none without a session: login_required back to the client.
	q := callbackParams(t, b.get(authorizeURL(w, "acme", "web", url.Values{"prompt": {"none"}})))
	if q.Get("error") != "login_required" || q.Get("state") != "st-123" {
		t.Fatalf("prompt=none without session: %v", q)
	}
	// Sign in once, for "web".
	if callbackParams(t, signInForm(t, b, b.get(authorizeURL(w, "acme", "web", nil)))).Get("code") == "" {
		t.Fatal("no code after sign-in")
	}
	// SSO: a second app signs in without a prompt, and so does prompt=none.
	for _, extra := range []url.Values{nil, {"prompt": {"none"}}} {
		q := callbackParams(t, b.get(authorizeURL(w, "acme", "web2", extra)))
		if q.Get("code") == "" {
			t.Fatalf("SSO %v: %v", extra, q)
		}
	}
	// prompt=login always shows the form, even with a session.
	if pg := b.get(authorizeURL(w, "acme", "web2", url.Values{"prompt": {"login"}})); !isLoginForm(pg) {
		t.Errorf("prompt=login: status %d", pg.status)
	}
	// max_age: a session older than max_age needs the form again; prompt=none then fails.
	w.clock.Advance(10 * time.Minute)
	if pg := b.get(authorizeURL(w, "acme", "web2", url.Values{"max_age": {"60"}})); !isLoginForm(pg) {
		t.Errorf("max_age=60 with a 10-minute-old session: status %d", pg.status)
	}
	q = callbackParams(t, b.get(authorizeURL(w, "acme", "web2", url.Values{"max_age": {"60"}, "prompt": {"none"}})))
	if q.Get("error") != "login_required" {
		t.Errorf("max_age with prompt=none: %v", q)
	}
	if q := callbackParams(t, b.get(authorizeURL(w, "acme", "web2", url.Values{"max_age": {"3600"}}))); q.Get("code") == "" {
		t.Errorf("max_age=3600 with a 10-minute-old session: %v", q)
	}
	// The session is per tenant: globex still asks.
	if pg := b.get(authorizeURL(w, "globex", "web", nil)); !isLoginForm(pg) {
		t.Errorf("session leaked to another tenant: status %d", pg.status)
	}
}

// TestPromptConsent: nines has no consent screen (the administrator's registration of
// the client is the consent), so prompt=consent proceeds like a request without prompt,
// and discovery does not claim to support it.
func TestPromptConsent(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)
	pg := b.get(authorizeURL(w, "acme", "web", url.Values{"prompt": {"consent"}, "scope": {"openid offline_access"}}))
	if q := callbackParams(t, signInForm(t, b, pg)); q.Get("code") == "" {
		t.Errorf("prompt=consent: %v", q)
	}
	if slices.Contains(w.p.discoveryDocument(tenantCtx{T: w.tenant("acme"), Issuer: w.issuer("acme")}).PromptValuesSupported, "consent") {
		t.Error("discovery advertises prompt=consent")
	}
}

func TestLoginHintAndFormPost(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)
	pg := b.get(authorizeURL(w, "acme", "web", url.Values{"login_hint": {"alice@example.com"}, "response_mode": {"form_post"}}))
	if !strings.Contains(pg.body, `value="alice@example.com"`) {
		t.Errorf("login_hint not prefilled")
	}
	out := b.submit(pg, url.Values{"login": {"alice"}, "password": {testPassword}})
	if out.status != http.StatusOK || !strings.Contains(out.body, `action="`+callback+`"`) {
		t.Fatalf("form_post response: %d %.400s", out.status, out.body)
	}
	fields := map[string]string{}
	for _, m := range hiddenPattern.FindAllStringSubmatch(out.body, -1) {
		fields[m[1]] = htmlUnescape(m[2])
	}
	if fields["code"] == "" || fields["state"] != "st-123" || fields["iss"] != w.issuer("acme") {
		t.Errorf("form_post fields %v", fields)
	}
	if status, tok := redeem(t, w, "acme", "web", fields["code"], strings.Repeat("a", 43)); status != http.StatusOK {
		t.Errorf("form_post code: %d %v", status, tok)
	}
}

func TestAuthorizeNeverRedirectsToUnregisteredURIs(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)
	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"unregistered", url.Values{"redirect_uri": {"https://evil.example/cb"}}},
		{"prefix of registered", url.Values{"redirect_uri": {"http://127.0.0.1/c"}}},
		{"registered plus path", url.Values{"redirect_uri": {callback + "/x"}}},
		{"registered plus query", url.Values{"redirect_uri": {callback + "?a=b"}}},
		{"userinfo trick", url.Values{"redirect_uri": {"http://127.0.0.1@evil.example/cb"}}},
		{"other port", url.Values{"redirect_uri": {"http://127.0.0.1:8080/cb"}}},
		{"case changed", url.Values{"redirect_uri": {"HTTP://127.0.0.1/cb"}}},
		{"missing", url.Values{"redirect_uri": {""}}},
		{"unknown client", url.Values{"client_id": {"nobody"}}},
		{"client of another tenant only", url.Values{"client_id": {"globex-only"}}},
		{"repeated redirect_uri", url.Values{"redirect_uri": {callback, "https://evil.example/cb"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := b.get(authorizeURL(w, "acme", "web", tc.q))
			if pg.status < 400 || pg.header.Get("Location") != "" || !strings.Contains(pg.body, "<html") {
				t.Errorf("status %d Location %q: want the error page", pg.status, pg.header.Get("Location"))
			}
		})
	}
}

func TestAuthorizeErrorsGoBackToTheClient(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)
	for _, tc := range []struct {
		name, code string
		q          url.Values
	}{
		{"response_type token", "unsupported_response_type", url.Values{"response_type": {"token"}}},
		{"unknown scope", "invalid_scope", url.Values{"scope": {"openid admin"}}},
		{"no openid", "invalid_scope", url.Values{"scope": {"profile"}}},
		{"request object", "request_not_supported", url.Values{"request": {"eyJ"}}},
		{"request_uri", "request_uri_not_supported", url.Values{"request_uri": {"https://x"}}},
		{"prompt none and login", "invalid_request", url.Values{"prompt": {"none login"}}},
		{"prompt none and consent", "invalid_request", url.Values{"prompt": {"none consent"}}},
		{"bad max_age", "invalid_request", url.Values{"max_age": {"-1"}}},
		{"bad response_mode", "invalid_request", url.Values{"response_mode": {"fragment"}}},
		{"repeated nonce", "invalid_request", url.Values{"nonce": {"a", "b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := callbackParams(t, b.get(authorizeURL(w, "acme", "web", tc.q)))
			if q.Get("error") != tc.code || q.Get("code") != "" {
				t.Errorf("callback %v, want error %s", q, tc.code)
			}
		})
	}
	// A client without the code flow has no redirect URI: the error page.
	if pg := b.get(authorizeURL(w, "acme", "svc", nil)); pg.status != http.StatusBadRequest || pg.header.Get("Location") != "" {
		t.Errorf("svc: %d %q", pg.status, pg.header.Get("Location"))
	}
}

func TestLockoutAndExpiry(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)
	pg := b.get(authorizeURL(w, "acme", "web", nil))
	for i := range 3 {
		out := b.submit(pg, url.Values{"login": {"alice"}, "password": {"wrong password " + string(rune('a'+i))}})
		if out.status != http.StatusBadRequest && out.status != http.StatusTooManyRequests {
			t.Fatalf("attempt %d: status %d", i, out.status)
		}
	}
	out := b.submit(pg, url.Values{"login": {"alice"}, "password": {testPassword}})
	if out.status != http.StatusTooManyRequests || out.header.Get("Retry-After") == "" {
		t.Fatalf("locked account with the right password: %d Retry-After %q", out.status, out.header.Get("Retry-After"))
	}
	w.clock.Advance(16 * time.Minute)
	if q := callbackParams(t, b.submit(pg, url.Values{"login": {"alice"}, "password": {testPassword}})); q.Get("code") == "" {
		t.Errorf("after the lock expired: %v", q)
	}
}

// busyAuthn reports hashing saturation.
type busyAuthn struct{}

func (busyAuthn) Authenticate(context.Context, tenant.Tenant, string, string, string) (user.User, error) {
	return user.User{}, password.ErrBusy
}

func TestBusyHasherIs503(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.Authn = busyAuthn{} })
	b := newBrowser(t)
	out := b.submit(b.get(authorizeURL(w, "acme", "web", nil)), url.Values{"login": {"alice"}, "password": {testPassword}})
	if out.status != http.StatusServiceUnavailable || out.header.Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q", out.status, out.header.Get("Retry-After"))
	}
}

func TestUnknownAndDisabledTenants(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)
	if pg := b.get(w.srv.URL + "/t/nope/.well-known/openid-configuration"); pg.status != http.StatusNotFound || !strings.Contains(pg.body, `"not_found"`) {
		t.Errorf("unknown tenant discovery: %d %s", pg.status, pg.body)
	}
	if status, out := postForm(t, w.srv.URL+"/t/nope/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "x"); status != http.StatusNotFound || out["error"] != "not_found" {
		t.Errorf("unknown tenant token: %d %v", status, out)
	}
	if pg := b.get(w.srv.URL + "/t/nope/authorize?client_id=web"); pg.status != http.StatusNotFound || !strings.Contains(pg.body, "<html") {
		t.Errorf("unknown tenant authorize: %d", pg.status)
	}
	tn := w.tenant("acme")
	tn.Status = tenant.StatusDisabled
	w.mu.Lock()
	w.tenants["acme"] = tn
	w.mu.Unlock()
	if pg := b.get(authorizeURL(w, "acme", "web", nil)); pg.status != http.StatusForbidden || pg.header.Get("Location") != "" {
		t.Errorf("disabled tenant authorize: %d", pg.status)
	}
	if status, _ := postForm(t, w.issuer("acme")+"/token", url.Values{"grant_type": {"client_credentials"}}, "svc", w.secret("acme", "svc")); status != http.StatusForbidden {
		t.Errorf("disabled tenant token: %d", status)
	}
	if pg := b.get(w.issuer("acme") + "/keys"); pg.status != http.StatusOK {
		t.Errorf("disabled tenant JWKS: %d", pg.status)
	}
}

func TestTokenEndpointIsPostOnly(t *testing.T) {
	w := newWorld(t)
	for _, path := range []string{"/token", "/introspect", "/revoke", "/device_authorization"} {
		resp, err := http.Get(w.issuer("acme") + path + "?grant_type=client_credentials")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	// Credentials in the query string of a POST are refused too.
	req, _ := http.NewRequest(http.MethodPost, w.issuer("acme")+"/token?client_secret=x", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("POST with query: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestLogout(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)
	tok, _ := func() (map[string]any, string) {
		r := newRP(t, w, "acme", "web")
		verifier := oauth2.GenerateVerifier()
		code := r.signIn(t, b, verifier)
		_, out := redeem(t, w, "acme", "web", code, verifier)
		return out, code
	}()
	idt := str(tok, "id_token")
	end := w.issuer("acme") + "/end_session?"
	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"unregistered target", url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://evil.example/"}}},
		{"target of another client", url.Values{"client_id": {"web2"}, "post_logout_redirect_uri": {"http://127.0.0.1/bye"}}},
		{"target without client", url.Values{"post_logout_redirect_uri": {"http://127.0.0.1/bye"}}},
		{"forged hint", url.Values{"id_token_hint": {idt + "x"}, "post_logout_redirect_uri": {"http://127.0.0.1/bye"}}},
		{"client_id contradicts hint", url.Values{"id_token_hint": {idt}, "client_id": {"web2"}, "post_logout_redirect_uri": {"http://127.0.0.1/bye"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := b.get(end + tc.q.Encode())
			if pg.status != http.StatusBadRequest || pg.header.Get("Location") != "" {
				t.Errorf("status %d Location %q", pg.status, pg.header.Get("Location"))
			}
		})
	}
	// The session survived the refused attempts.
	if q := callbackParams(t, b.get(authorizeURL(w, "acme", "web", url.Values{"prompt": {"none"}}))); q.Get("code") == "" {
		t.Fatalf("session ended by a refused logout: %v", q)
	}
	pg := b.get(end + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"http://127.0.0.1/bye"}, "state": {"s1"}}.Encode())
	if pg.status != http.StatusSeeOther || pg.header.Get("Location") != "http://127.0.0.1/bye?state=s1" {
		t.Fatalf("logout: %d %q", pg.status, pg.header.Get("Location"))
	}
	q := callbackParams(t, b.get(authorizeURL(w, "acme", "web", url.Values{"prompt": {"none"}})))
	if q.Get("error") != "login_required" {
		t.Errorf("session survived logout: %v", q)
	}
	// Without a target: the signed-out page.
	if pg := b.get(end); pg.status != http.StatusOK {
		t.Errorf("plain logout: %d", pg.status)
	}
}

var _ = authn.ErrLocked

func TestLoginFormIsCSRFProtectedAndStyled(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)
	pg := b.get(authorizeURL(w, "acme", "web", nil))
	id := ""
	for _, m := range hiddenPattern.FindAllStringSubmatch(pg.body, -1) {
		if m[1] == "id" {
			id = m[2]
		}
	}
	form := url.Values{"id": {id}, "login": {"alice"}, "password": {testPassword}}
	req, _ := http.NewRequest(http.MethodPost, w.issuer("acme")+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login POST: %d", resp.StatusCode)
	}
	css := b.get(w.issuer("acme") + "/login.css")
	if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") || css.header.Get("ETag") == "" {
		t.Fatalf("stylesheet: %d %q", css.status, css.header.Get("Content-Type"))
	}
	req, _ = http.NewRequest(http.MethodGet, w.issuer("acme")+"/login.css", nil)
	req.Header.Set("If-None-Match", css.header.Get("ETag"))
	resp, err = b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional stylesheet: %d", resp.StatusCode)
	}
}

func TestUserinfoForms(t *testing.T) {
	w := newWorld(t)
	tok, _ := grantTokens(t, w, "acme", "web")
	at := str(tok, "access_token")
	status, out := postForm(t, w.issuer("acme")+"/userinfo", url.Values{"access_token": {at}}, "", "")
	if status != http.StatusOK || out["sub"] != w.userByName("acme", "alice").ID.String() || out["preferred_username"] != "alice" {
		t.Errorf("userinfo POST form: %d %v", status, out)
	}
	// The token in the query string is not accepted (RFC 6750 §2.3 is not supported).
	resp, err := http.Get(w.issuer("acme") + "/userinfo?access_token=" + url.QueryEscape(at))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("query token: %d", resp.StatusCode)
	}
	// A client_credentials token has no user and no openid scope.
	status, cc := postForm(t, w.issuer("acme")+"/token", url.Values{"grant_type": {"client_credentials"}}, "svc", w.secret("acme", "svc"))
	if status != http.StatusOK {
		t.Fatal(status)
	}
	if s := userinfoStatus(t, w, "acme", str(cc, "access_token")); s != http.StatusForbidden {
		t.Errorf("client_credentials token at userinfo: %d", s)
	}
	// A disabled user's token stops working at userinfo.
	alice := w.userByName("acme", "alice")
	alice.Status = "disabled"
	w.mu.Lock()
	w.users[alice.ID] = alice
	w.mu.Unlock()
	if s := userinfoStatus(t, w, "acme", at); s != http.StatusUnauthorized {
		t.Errorf("disabled user's token: %d", s)
	}
	if status, out := refreshWith(t, w, "acme", "web", str(tok, "refresh_token")); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("disabled user's refresh: %d %v", status, out)
	}
}
