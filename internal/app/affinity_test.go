package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/affinity"
	"github.com/ninesid/nines/internal/config"
)

// TestSignInInstanceTag runs the sign-in flow on the whole app started with
// NINES_INSTANCE_TAG: the login page's request ID, the code, the session cookie and
// the refresh tokens carry the tag (the edge routes by it), and sign-in, code exchange,
// refresh and SSO work. The userinfo counter is on /metrics.
func TestSignInInstanceTag(t *testing.T) {
	const tag = "all-1"
	r := startSignin(t, func(c *config.Config) { c.InstanceTag = tag })
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the test's browser should have stopped at this redirect", http.StatusTeapot)
	}))
	t.Cleanup(rp.Close)
	secret := applyTenant(t, r.base, rp.URL)

	issuer := r.base + "/t/acme"
	ctx := gooidc.ClientContext(t.Context(), &http.Client{Timeout: 30 * time.Second})
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	f := &signinFlow{ctx: ctx, issuer: issuer, rp: rp.URL, verifier: provider.Verifier(&gooidc.Config{ClientID: "web"}),
		conf: oauth2.Config{ClientID: "web", ClientSecret: secret, Endpoint: provider.Endpoint(),
			RedirectURL: rp.URL + "/callback",
			Scopes:      []string{gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess}}}
	tagged := func(what, v string) {
		t.Helper()
		if v == "" || affinity.TagOf(v) != tag || !strings.HasPrefix(v, tag+affinity.Sep) {
			t.Errorf("%s %q: want the instance tag %q", what, v, tag)
		}
	}
	code := func(pg signinPage) string {
		t.Helper()
		loc, err := url.Parse(pg.header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		return loc.Query().Get("code")
	}

	b := newSigninBrowser(t, rp.URL)
	req := f.newRequest()
	pg := b.get(f.conf.AuthCodeURL(req.state, req.opts()...))
	if !pg.isLoginForm() {
		t.Fatalf("authorize: want the login form, got %d: %.500s", pg.status, pg.body)
	}
	tagged("login page id", pg.url.Query().Get("id"))
	pg = b.submit(pg, url.Values{"login": {"alice"}, "password": {"correct horse battery staple"}})
	tagged("code", code(pg))
	var cookie string
	for _, c := range b.hc.Jar.Cookies(pg.url) {
		if strings.HasPrefix(c.Name, "nines-") || strings.HasPrefix(c.Name, "__Host-nines-") {
			cookie = c.Value
		}
	}
	tagged("session cookie", cookie)
	tok, _ := f.redeem(t, req, pg)
	tagged("refresh token", tok.RefreshToken)
	if ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil || ui.Email != "alice@example.com" {
		t.Errorf("userinfo: %v", err)
	}

	// SSO with the tagged cookie: straight back with a tagged code.
	req2 := f.newRequest()
	pg = b.get(f.conf.AuthCodeURL(req2.state, req2.opts()...))
	tagged("SSO code", code(pg))
	f.redeem(t, req2, pg)

	tok2, err := f.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	tagged("rotated refresh token", tok2.RefreshToken)

	resp, err := http.Get(r.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := `nines_oidc_userinfo_unchecked_revocations_total{cluster="",region="",role="all",zone=""} 0`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
