package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/affinity"
	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login/session"
	"github.com/ninesid/nines/internal/login/ui"
)

// withInstanceTag is a Config option: the Provider and its session manager mint their
// secrets with tag ("" for none), as internal/app wires them from NINES_INSTANCE_TAG.
func withInstanceTag(tag string) func(*Config) {
	return func(c *Config) {
		c.InstanceTag = tag
		c.Sessions = session.New(session.Config{Bucket: c.Buckets.Sessions, Now: c.Now, InstanceTag: tag})
	}
}

// sessionCookie returns the value of the browser's session cookie at slug.
func sessionCookie(t *testing.T, w *world, b *browser, slug string) string {
	t.Helper()
	u, err := url.Parse(w.issuer(slug) + "/")
	if err != nil {
		t.Fatal(err)
	}
	name := session.CookieName(w.tenant(slug), false)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	t.Fatalf("no session cookie %s in the browser", name)
	return ""
}

// TestInstanceTagOnEveryArtifact drives every flow with and without an instance tag:
// each secret a later request of the flow carries (the login page's request ID, the
// code, the session cookie, the refresh tokens, the device code) carries the tag, and
// the flows work; the user code, typed by a human, never does.
func TestInstanceTagOnEveryArtifact(t *testing.T) {
	longest := "login-" + strings.Repeat("9", affinity.MaxTagLen-len("login-"))
	for _, tag := range []string{"login-a", longest, ""} {
		t.Run(fmt.Sprintf("tag %q", tag), func(t *testing.T) {
			w := newWorld(t, withInstanceTag(tag))
			ctx := context.Background()
			check := func(what, v string) {
				t.Helper()
				switch {
				case v == "":
					t.Fatalf("%s: empty", what)
				case affinity.TagOf(v) != tag:
					t.Errorf("%s %q: tag %q, want %q", what, v, affinity.TagOf(v), tag)
				case tag == "" && strings.Contains(v, affinity.Sep):
					t.Errorf("%s %q: untagged Provider minted a value with %q", what, v, affinity.Sep)
				case tag != "" && len(v) != len(tag)+len(affinity.Sep)+secretLen:
					t.Errorf("%s %q: want the tag, %q and %d characters", what, v, affinity.Sep, secretLen)
				}
			}

			// Sign-in: the login page's ?id= (and the form's hidden id), the code and
			// the session cookie.
			r := newRP(t, w, "acme", "web")
			verifier := oauth2.GenerateVerifier()
			b := newBrowser(t)
			pg := b.get(r.conf.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n-1")))
			if !isLoginForm(pg) || !strings.HasSuffix(pg.url.Path, "/login") {
				t.Fatalf("want the login form at /login, got %d at %s", pg.status, pg.url)
			}
			id := pg.url.Query().Get("id")
			check("login page id", id)
			if !strings.Contains(pg.body, `name="id" value="`+id+`"`) {
				t.Errorf("the login form does not carry id %q", id)
			}
			code := r.code(t, b.submit(pg, url.Values{"login": {"alice"}, "password": {testPassword}}))
			check("code", code)
			check("session cookie", sessionCookie(t, w, b, "acme"))

			// Code exchange, userinfo, refresh, introspection.
			tok, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			check("refresh token", tok.RefreshToken)
			if status := userinfoStatus(t, w, "acme", tok.AccessToken); status != http.StatusOK {
				t.Errorf("userinfo: %d", status)
			}
			if in := introspectAs(t, w, "acme", "web", tok.RefreshToken); in["active"] != true {
				t.Errorf("introspection of the refresh token: %v", in)
			}
			status, out := refreshWith(t, w, "acme", "web", tok.RefreshToken)
			if status != http.StatusOK || str(out, "refresh_token") == tok.RefreshToken {
				t.Fatalf("refresh: %d %v", status, out)
			}
			check("rotated refresh token", str(out, "refresh_token"))
			if status, out := refreshWith(t, w, "acme", "web", str(out, "refresh_token")); status != http.StatusOK {
				t.Fatalf("second refresh: %d %v", status, out)
			}

			// SSO with the cookie: straight back to the client with a new code.
			verifier2 := oauth2.GenerateVerifier()
			sso := b.get(r.conf.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifier2), gooidc.Nonce("n-2")))
			if sso.status != http.StatusFound && sso.status != http.StatusSeeOther {
				t.Fatalf("SSO: want a redirect to the client, got %d: %.300s", sso.status, sso.body)
			}
			code2 := r.code(t, sso)
			check("SSO code", code2)
			if status, out := redeem(t, w, "acme", "web", code2, verifier2); status != http.StatusOK {
				t.Fatalf("SSO code exchange: %d %v", status, out)
			}

			// Device flow: the device code is tagged, the user code is not.
			status, da := postForm(t, w.issuer("acme")+"/device_authorization",
				url.Values{"client_id": {"tv"}, "scope": {"openid offline_access"}}, "", "")
			if status != http.StatusOK {
				t.Fatalf("device authorization: %d %v", status, da)
			}
			check("device code", str(da, "device_code"))
			if uc := str(da, "user_code"); len(uc) != 9 || strings.Contains(uc, affinity.Sep) || affinity.TagOf(uc) != "" ||
				strings.Contains(strings.ToLower(uc), "login") {
				t.Errorf("user code %q: want 9 characters (XXXX-XXXX), untagged", uc)
			}
			pg = b.get(str(da, "verification_uri_complete"))
			if isLoginForm(pg) {
				pg = signInForm(t, b, pg)
			}
			if done := b.submit(pg, url.Values{ui.FieldDecision: {ui.DecisionApprove}}); done.status != http.StatusOK {
				t.Fatalf("device approval: %d", done.status)
			}
			status, dt := postForm(t, w.issuer("acme")+"/token", url.Values{"grant_type": {client.GrantDeviceCode},
				"device_code": {str(da, "device_code")}, "client_id": {"tv"}}, "", "")
			if status != http.StatusOK {
				t.Fatalf("device token: %d %v", status, dt)
			}
			check("device flow refresh token", str(dt, "refresh_token"))
		})
	}
}

// serveVia sends req to h and returns the response.
func serveVia(h http.Handler, req *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// TestArtifactsSurviveATagChange checks that the secrets of a tagged process are
// accepted by an untagged one and the other way round (a restart that adds or drops
// NINES_INSTANCE_TAG, or the edge sending a flow elsewhere while its process is down):
// the state is in the shared KV, the tag only routes.
func TestArtifactsSurviveATagChange(t *testing.T) {
	w := newWorld(t, withInstanceTag("login-a"))
	cfg := w.p.cfg
	cfg.InstanceTag = ""
	cfg.Sessions = session.New(session.Config{Bucket: cfg.Buckets.Sessions, Now: cfg.Now})
	untagged, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	untagged.Mount(mux)
	tokenAt := func(h http.Handler, form url.Values) (int, map[string]any) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, w.issuer("acme")+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", w.secret("acme", "web"))
		resp := serveVia(h, req)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	untaggedValue := func(what, v string) {
		t.Helper()
		if v == "" || strings.Contains(v, affinity.Sep) {
			t.Errorf("%s %q from the untagged Provider: want an untagged value", what, v)
		}
	}

	// Signed in at the tagged process; the tagged code is redeemed at the untagged one.
	r := newRP(t, w, "acme", "web")
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t)
	code := r.signIn(t, b, verifier)
	cookie := sessionCookie(t, w, b, "acme")
	if affinity.TagOf(code) != "login-a" || affinity.TagOf(cookie) != "login-a" {
		t.Fatalf("code %q / cookie %q: want both tagged login-a", code, cookie)
	}
	status, tok := tokenAt(mux, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("tagged code at the untagged Provider: %d %v", status, tok)
	}
	rt := str(tok, "refresh_token")
	untaggedValue("refresh token", rt)
	// The untagged refresh token at the tagged process, and back.
	status, out := refreshWith(t, w, "acme", "web", rt)
	if status != http.StatusOK || affinity.TagOf(str(out, "refresh_token")) != "login-a" {
		t.Fatalf("untagged refresh token at the tagged Provider: %d %v", status, out)
	}
	if status, out := tokenAt(mux, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(out, "refresh_token")}}); status != http.StatusOK {
		t.Fatalf("tagged refresh token at the untagged Provider: %d %v", status, out)
	}

	// SSO at the untagged process with the tagged cookie; its code at the tagged one.
	const pkce = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // authorizeURL's verifier
	req := httptest.NewRequest(http.MethodGet, authorizeURL(w, "acme", "web", nil), nil)
	req.AddCookie(&http.Cookie{Name: session.CookieName(w.tenant("acme"), false), Value: cookie})
	resp := serveVia(mux, req)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if redirected := resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther; !redirected || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("SSO with a tagged cookie at the untagged Provider: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	untaggedValue("SSO code", loc.Query().Get("code"))
	if status, out := redeem(t, w, "acme", "web", loc.Query().Get("code"), pkce); status != http.StatusOK {
		t.Fatalf("untagged code at the tagged Provider: %d %v", status, out)
	}

	// An authorization request begun at the untagged process, signed in at the tagged one.
	resp = serveVia(mux, httptest.NewRequest(http.MethodGet, authorizeURL(w, "acme", "web", nil), nil))
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasSuffix(loc.Path, "/login") {
		t.Fatalf("authorize at the untagged Provider: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	untaggedValue("login page id", loc.Query().Get("id"))
	b2 := newBrowser(t)
	code = r.code(t, signInForm(t, b2, b2.get(loc.String())))
	if affinity.TagOf(code) != "login-a" {
		t.Errorf("code %q minted by the tagged Provider: want tag login-a", code)
	}
	if status, out := redeem(t, w, "acme", "web", code, pkce); status != http.StatusOK {
		t.Fatalf("code of an untagged request: %d %v", status, out)
	}
}

// outageBucket stands in front of a bucket during a NATS outage. With misses set, a
// key it does not hold is ErrUnavailable, not ErrNotFound, as the KV fallback answers
// while NATS is down (only what this process wrote is known; nobody can say a key is
// absent). With all set, every read is ErrUnavailable.
type outageBucket struct {
	kv.Bucket
	misses, all atomic.Bool
}

func (b *outageBucket) Get(ctx context.Context, key string) (kv.Entry, error) {
	if b.all.Load() {
		return kv.Entry{}, fmt.Errorf("%w: nats: connection closed", kv.ErrUnavailable)
	}
	e, err := b.Bucket.Get(ctx, key)
	if b.misses.Load() && errors.Is(err, kv.ErrNotFound) {
		return kv.Entry{}, fmt.Errorf("%w: nats: connection closed", kv.ErrUnavailable)
	}
	return e, err
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestUserinfoDuringARevocationOutage: while the revocation check is unavailable,
// userinfo honours a verified access token (counted, logged at debug without the
// token), a grant known to be revoked is still refused, and refresh and introspection
// still fail closed (503).
func TestUserinfoDuringARevocationOutage(t *testing.T) {
	ob := &outageBucket{}
	logs := &syncBuffer{}
	w := newWorld(t, func(c *Config) {
		ob.Bucket = c.Buckets.Refresh
		c.Buckets.Refresh = ob
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	tok, _ := grantTokens(t, w, "acme", "web")
	at, rt := str(tok, "access_token"), str(tok, "refresh_token")
	unchecked := func(want uint64) {
		t.Helper()
		if got := w.p.UserinfoUncheckedRevocations(); got != want {
			t.Errorf("UserinfoUncheckedRevocations = %d, want %d", got, want)
		}
	}
	unavailable := func(what string, status int, out map[string]any) {
		t.Helper()
		if status != http.StatusServiceUnavailable || out["error"] != CodeTemporarilyUnavailable {
			t.Errorf("%s during the outage: %d %v, want 503 temporarily_unavailable", what, status, out)
		}
	}
	introspect := func() (int, map[string]any) {
		return postForm(t, w.issuer("acme")+"/introspect", url.Values{"token": {at}}, "web", w.secret("acme", "web"))
	}

	if status := userinfoStatus(t, w, "acme", at); status != http.StatusOK {
		t.Fatalf("userinfo before the outage: %d", status)
	}
	unchecked(0)

	for _, mode := range []struct {
		name string
		flag *atomic.Bool
	}{{"revocation record unknown here", &ob.misses}, {"every read unavailable", &ob.all}} {
		t.Run(mode.name, func(t *testing.T) {
			before := w.p.UserinfoUncheckedRevocations()
			mode.flag.Store(true)
			defer mode.flag.Store(false)
			if status := userinfoStatus(t, w, "acme", at); status != http.StatusOK {
				t.Errorf("userinfo during the outage: %d, want 200", status)
			}
			unchecked(before + 1)
			status, out := refreshWith(t, w, "acme", "web", rt)
			unavailable("refresh", status, out)
			status, out = introspect()
			unavailable("introspection", status, out)
			if status := userinfoStatus(t, w, "acme", "eyJhbGciOiJub25lIn0.e30."); status != http.StatusUnauthorized {
				t.Errorf("userinfo with an unsigned token during the outage: %d, want 401", status)
			}
			unchecked(before + 1)
		})
	}
	if out := logs.String(); !strings.Contains(out, "without a revocation check") || !strings.Contains(out, "level=DEBUG") {
		t.Errorf("no debug log of the unchecked userinfo:\n%s", out)
	} else if strings.Contains(out, at) || strings.Contains(out, at[strings.LastIndex(at, ".")+1:]) || strings.Contains(out, rt) {
		t.Errorf("the log holds token content:\n%s", out)
	}

	// A revocation this process knows of is honoured during the outage too.
	if status, _ := postForm(t, w.issuer("acme")+"/revoke", url.Values{"token": {at}}, "web", w.secret("acme", "web")); status != http.StatusOK {
		t.Fatalf("revocation: %d", status)
	}
	n := w.p.UserinfoUncheckedRevocations()
	ob.misses.Store(true)
	if status := userinfoStatus(t, w, "acme", at); status != http.StatusUnauthorized {
		t.Errorf("userinfo of a revoked grant during the outage: %d, want 401", status)
	}
	ob.misses.Store(false)
	if status := userinfoStatus(t, w, "acme", at); status != http.StatusUnauthorized {
		t.Errorf("userinfo of a revoked grant: %d, want 401", status)
	}
	unchecked(n)
}
