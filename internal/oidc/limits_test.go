package oidc

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// TestStoredValuesAreBounded: state and nonce longer than 512 bytes are invalid_request
// (and such a state is not echoed); a login_hint longer than any login is dropped; a
// scope repeated to fill the URL or the body is stored once. One stored authorization
// request or device grant stays a couple of KiB at most.
func TestStoredValuesAreBounded(t *testing.T) {
	ars, dcs := newFaultBucket(), newFaultBucket()
	w := newWorld(t, wrapBucket(ars, func(b *kv.Buckets) *kv.Bucket { return &b.AuthRequests }),
		wrapBucket(dcs, func(b *kv.Buckets) *kv.Bucket { return &b.DeviceCodes }))
	b := newBrowser(t)
	long := strings.Repeat("s", maxValueLen+1)
	for _, tc := range []struct {
		name, state string // the state expected back
		q           url.Values
	}{
		{"state", "", url.Values{"state": {long}}},
		{"nonce", "st-123", url.Values{"nonce": {long}}},
	} {
		t.Run(tc.name+" too long", func(t *testing.T) {
			q := callbackParams(t, b.get(authorizeURL(w, "acme", "web", tc.q)))
			if q.Get("error") != "invalid_request" || q.Get("state") != tc.state || q.Get("code") != "" {
				t.Errorf("callback %v", q)
			}
		})
	}
	t.Run("login_hint too long", func(t *testing.T) {
		hint := strings.Repeat("h", maxLoginLen+1)
		pg := b.get(authorizeURL(w, "acme", "web", url.Values{"login_hint": {hint}}))
		if !isLoginForm(pg) || strings.Contains(pg.body, hint) {
			t.Errorf("status %d, hint echoed: %v", pg.status, strings.Contains(pg.body, hint))
		}
	})
	t.Run("largest accepted request", func(t *testing.T) {
		max := strings.Repeat("m", maxValueLen)
		hint := strings.Repeat("h", maxLoginLen)
		scope := strings.TrimSpace(strings.Repeat("openid ", maxParamLen/len("openid ")))
		pg := b.get(authorizeURL(w, "acme", "web", url.Values{"state": {max}, "nonce": {max}, "login_hint": {hint}, "scope": {scope}}))
		if !isLoginForm(pg) || !strings.Contains(pg.body, hint) {
			t.Fatalf("want the login form with the hint, got %d", pg.status)
		}
		if n := ars.largest(); n > 2<<10 {
			t.Errorf("stored authorization request of %d bytes", n)
		}
	})
	t.Run("device grant", func(t *testing.T) {
		scope := strings.TrimSpace(strings.Repeat("openid ", 60<<10/len("openid ")))
		status, out := postForm(t, w.issuer("acme")+"/device_authorization", url.Values{"client_id": {"tv"}, "scope": {scope}}, "", "")
		if status != http.StatusOK {
			t.Fatalf("device authorization: %d %v", status, out)
		}
		if n := dcs.largest(); n > 1<<10 {
			t.Errorf("stored device grant of %d bytes", n)
		}
	})
}

// TestLibraryEndpointsBoundTheBody: a body over 64 KiB at the token endpoint is
// invalid_request, even when the request in it is otherwise valid.
func TestLibraryEndpointsBoundTheBody(t *testing.T) {
	w := newWorld(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	if status, out := postForm(t, w.issuer("acme")+"/token", form, "svc", w.secret("acme", "svc")); status != http.StatusOK {
		t.Fatalf("control: %d %v", status, out)
	}
	form.Set("padding", strings.Repeat("p", maxLibraryBody))
	for _, path := range []string{"/token", "/introspect", "/revoke", "/device_authorization"} {
		if status, out := postForm(t, w.issuer("acme")+path, form, "svc", w.secret("acme", "svc")); status != http.StatusBadRequest || out["error"] != "invalid_request" {
			t.Errorf("%s with an oversized body: %d %v", path, status, out)
		}
	}
}

// recordingAuthn records the source address the Provider hands to the authenticator.
type recordingAuthn struct {
	Authenticator
	mu      sync.Mutex
	sources []string
}

func (a *recordingAuthn) Authenticate(ctx context.Context, t tenant.Tenant, login, pw, sourceIP string) (user.User, error) {
	a.mu.Lock()
	a.sources = append(a.sources, sourceIP)
	a.mu.Unlock()
	return a.Authenticator.Authenticate(ctx, t, login, pw, sourceIP)
}

// TestClientIPReachesTheAuthenticator: the source address given to authn (throttling,
// lockout) is Config.ClientIP's answer, and by default the TCP peer.
func TestClientIPReachesTheAuthenticator(t *testing.T) {
	for _, tc := range []struct {
		name     string
		clientIP func(*http.Request) string
		want     string
	}{
		{"default: the peer", nil, "127.0.0.1"},
		{"resolver", func(*http.Request) string { return "203.0.113.7" }, "203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ra := &recordingAuthn{}
			w := newWorld(t, func(c *Config) { ra.Authenticator = c.Authn; c.Authn = ra; c.ClientIP = tc.clientIP })
			b := newBrowser(t)
			if callbackParams(t, signInForm(t, b, b.get(authorizeURL(w, "acme", "web", nil)))).Get("code") == "" {
				t.Fatal("no code")
			}
			ra.mu.Lock()
			defer ra.mu.Unlock()
			if len(ra.sources) != 1 || ra.sources[0] != tc.want {
				t.Errorf("source addresses %q, want %q", ra.sources, tc.want)
			}
		})
	}
}

// TestLoginNameIsEchoedAsTyped: a failed sign-in shows the form again with the name as
// it was typed, not cut short.
func TestLoginNameIsEchoedAsTyped(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t)
	name := "alice.with.a.rather.long.username.for.the.test"
	w.addUser(w.tenant("acme"), name, "long@example.com")
	out := b.submit(b.get(authorizeURL(w, "acme", "web", nil)), url.Values{"login": {name}, "password": {"wrong"}})
	if out.status != http.StatusBadRequest || !strings.Contains(out.body, `value="`+name+`"`) {
		t.Errorf("status %d; name not echoed as typed", out.status)
	}
}
