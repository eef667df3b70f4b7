package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/apply"
	"github.com/ninesid/nines/internal/config"

	"github.com/ninesid/nines/internal/testenv"
)

// signinYAML is the tenant of the acceptance test; %[1]s is the relying party's base URL.
const signinYAML = `tenants:
  - slug: acme
    display_name: Acme Corp
    users:
      - username: alice
        email: alice@example.com
        email_verified: true
        given_name: Alice
        password: "correct horse battery staple"
    applications:
      - client_id: web
        client_name: Acme Web
        type: confidential
        redirect_uris: [%[1]s/callback]
        post_logout_redirect_uris: [%[1]s/]
        grant_types: [authorization_code, refresh_token]
`

// signinAdminToken is the bootstrap admin token of the sign-in tests' servers.
const signinAdminToken = "signin-test-admin-token-0123456789abcdef"

// startSignin starts the whole app on the embedded default, as `nines serve` runs it,
// and prints its log when the test fails.
func startSignin(t *testing.T, settings ...func(*config.Config)) *running {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	cfg.BootstrapAdminToken = config.Secret(signinAdminToken)
	cfg.LogLevel = "info"
	if len(settings) > 0 {
		for _, set := range settings {
			set(&cfg)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	r := start(t, Options{Config: cfg})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", r.log.String())
		}
	})
	return r
}

// TestSignIn is the acceptance test: a standard OIDC client that knows only the
// issuer URL (discovery) completes sign-in, refresh and logout against a tenant created
// with nines apply, on the whole app as `nines serve` runs it (embedded default).
func TestSignIn(t *testing.T) {
	r := startSignin(t)

	// The relying party's callback. The browser stops at its URL and the test plays the
	// RP, so nothing should ever reach it.
	var rpHits atomic.Int32
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		rpHits.Add(1)
		http.Error(w, "the test's browser should have stopped at this redirect", http.StatusTeapot)
	}))
	t.Cleanup(rp.Close)
	secret := applyTenant(t, r.base, rp.URL)

	// Everything below knows only the issuer URL and the client's credentials.
	issuer := r.base + "/t/acme"
	ctx := gooidc.ClientContext(t.Context(), &http.Client{Timeout: 30 * time.Second})
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil || meta.EndSession == "" {
		t.Fatalf("discovery has no end_session_endpoint (%v)", err)
	}
	f := &signinFlow{ctx: ctx, issuer: issuer, rp: rp.URL, verifier: provider.Verifier(&gooidc.Config{ClientID: "web"}),
		conf: oauth2.Config{ClientID: "web", ClientSecret: secret, Endpoint: provider.Endpoint(),
			RedirectURL: rp.URL + "/callback",
			Scopes:      []string{gooidc.ScopeOpenID, "profile", "email", gooidc.ScopeOfflineAccess}}}
	b := newSigninBrowser(t, rp.URL)

	// Sign in: authorize → the login form → the callback with a code.
	req := f.newRequest()
	pg := b.get(f.conf.AuthCodeURL(req.state, req.opts()...))
	if !pg.isLoginForm() {
		t.Fatalf("authorize: want the login form, got %d: %.500s", pg.status, pg.body)
	}
	pg = b.submit(pg, url.Values{"login": {"alice"}, "password": {"correct horse battery staple"}})
	tok, idt := f.redeem(t, req, pg)
	var claims struct {
		Email    string `json:"email"`
		Verified bool   `json:"email_verified"`
		Given    string `json:"given_name"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject == "" || claims.Email != "alice@example.com" || !claims.Verified || claims.Given != "Alice" {
		t.Errorf("ID token sub %q claims %+v", idt.Subject, claims)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != idt.Subject || ui.Email != "alice@example.com" {
		t.Errorf("userinfo sub %q email %q", ui.Subject, ui.Email)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}

	// SSO: a second authorization request skips the form and goes straight back.
	req2 := f.newRequest()
	f.redeem(t, req2, b.get(f.conf.AuthCodeURL(req2.state, req2.opts()...)))

	// Refresh: a token with no access token makes the token source call the provider.
	tok2, err := f.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken || tok2.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not return a new access token and a new refresh token")
	}
	if raw, _ := tok2.Extra("id_token").(string); raw != "" {
		if idt2, err := f.verifier.Verify(ctx, raw); err != nil {
			t.Errorf("refreshed ID token: %v", err)
		} else if idt2.Subject != idt.Subject {
			t.Errorf("refreshed ID token: sub %q, want %q", idt2.Subject, idt.Subject)
		}
	}
	if ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok2)); err != nil || ui.Email != "alice@example.com" {
		t.Errorf("userinfo with the refreshed access token: %v", err)
	}
	// The old refresh token is spent; presenting it revokes the family, the new one too.
	for _, rt := range []string{tok.RefreshToken, tok2.RefreshToken} {
		_, err := f.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
		if re := (*oauth2.RetrieveError)(nil); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("refresh token after reuse: %v, want invalid_grant", err)
		}
	}

	// Logout at the end_session_endpoint from discovery.
	raw, _ := tok.Extra("id_token").(string)
	home := rp.URL + "/"
	q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {home}, "state": {"bye-1"}}
	pg = b.get(meta.EndSession + "?" + q.Encode())
	if pg.status != http.StatusSeeOther && pg.status != http.StatusFound {
		t.Fatalf("end_session: status %d, want a redirect: %.500s", pg.status, pg.body)
	}
	if loc := pg.header.Get("Location"); loc != home+"?state=bye-1" {
		t.Errorf("end_session redirected to %q, want %q", loc, home+"?state=bye-1")
	}
	// The SSO session is gone: the next authorization request shows the form again.
	req3 := f.newRequest()
	if pg := b.get(f.conf.AuthCodeURL(req3.state, req3.opts()...)); !pg.isLoginForm() {
		t.Errorf("authorize after logout: want the login form, got %d: %.500s", pg.status, pg.body)
	}

	// An unregistered redirect URI gets the error page, never a redirect.
	bad := f.conf
	bad.RedirectURL = rp.URL + "/elsewhere"
	req4 := f.newRequest()
	pg = newSigninBrowser(t, rp.URL).get(bad.AuthCodeURL(req4.state, req4.opts()...))
	if pg.status < 400 || pg.header.Get("Location") != "" || !strings.Contains(pg.body, "<html") {
		t.Errorf("unregistered redirect URI: status %d Location %q, want the error page", pg.status, pg.header.Get("Location"))
	}
	if n := rpHits.Load(); n != 0 {
		t.Errorf("the relying party was called %d times", n)
	}
}

// applyTenant runs nines apply with signinYAML against the server at base and returns
// the client secret of acme/web from the secrets file.
func applyTenant(t *testing.T, base, rpURL string) string {
	t.Helper()
	dir := t.TempDir()
	file, secrets := filepath.Join(dir, "nines.yaml"), filepath.Join(dir, "secrets.jsonl")
	if err := os.WriteFile(file, fmt.Appendf(nil, signinYAML, rpURL), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := apply.Run(t.Context(), apply.Options{File: file, Server: base, Token: signinAdminToken, SecretsFile: secrets}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("apply: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	fh, err := os.Open(secrets)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	for sc := bufio.NewScanner(fh); sc.Scan(); {
		var line struct {
			Tenant       string `json:"tenant"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("secrets file: %v", err)
		}
		if line.Tenant == "acme" && line.ClientID == "web" && line.ClientSecret != "" {
			return line.ClientSecret
		}
	}
	t.Fatalf("no secret for acme/web in the secrets file; apply printed:\n%s", stdout.String())
	return ""
}

// signinFlow is the relying party's side of the code flow.
type signinFlow struct {
	ctx        context.Context // carries the HTTP client
	issuer, rp string
	conf       oauth2.Config
	verifier   *gooidc.IDTokenVerifier
}

// authRequest is one authorization request's state, nonce and PKCE verifier.
type authRequest struct{ state, nonce, verifier string }

func (f *signinFlow) newRequest() authRequest {
	return authRequest{state: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier()}
}

func (a authRequest) opts() []oauth2.AuthCodeOption {
	return []oauth2.AuthCodeOption{gooidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}
}

// redeem reads the code from pg, a redirect to the callback, checks state and iss
// (RFC 9207), redeems the code and verifies the ID token and its nonce.
func (f *signinFlow) redeem(t *testing.T, req authRequest, pg signinPage) (*oauth2.Token, *gooidc.IDToken) {
	t.Helper()
	loc, err := url.Parse(pg.header.Get("Location"))
	if (pg.status != http.StatusSeeOther && pg.status != http.StatusFound) || err != nil ||
		!strings.HasPrefix(loc.String(), f.rp+"/callback?") {
		t.Fatalf("status %d Location %q, want a redirect to the callback: %.500s", pg.status, pg.header.Get("Location"), pg.body)
	}
	q := loc.Query()
	if q.Get("state") != req.state || q.Get("iss") != f.issuer || q.Get("code") == "" {
		t.Fatalf("callback %v: want a code, state %q and iss %q", q, req.state, f.issuer)
	}
	tok, err := f.conf.Exchange(f.ctx, q.Get("code"), oauth2.VerifierOption(req.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := f.verifier.Verify(f.ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != req.nonce {
		t.Fatalf("ID token nonce %q, want %q", idt.Nonce, req.nonce)
	}
	return tok, idt
}

// signinBrowser is a user agent with a cookie jar. It follows at most 10 redirects and,
// when rp is not empty, stops at any redirect to the relying party and returns it.
type signinBrowser struct {
	t     *testing.T
	hc    *http.Client
	trail []string // the URLs redirected to, in order
}

func newSigninBrowser(t *testing.T, rp string) *signinBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &signinBrowser{t: t}
	b.hc = &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			b.trail = append(b.trail, req.URL.String())
			if rp != "" && strings.HasPrefix(req.URL.String(), rp+"/") {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("more than 10 redirects")
			}
			return nil
		}}
	return b
}

// signinPage is a fetched response.
type signinPage struct {
	status int
	body   string
	header http.Header
	url    *url.URL
}

func (p signinPage) isLoginForm() bool {
	return p.status == http.StatusOK && strings.Contains(p.body, `name="password"`)
}

func (b *signinBrowser) get(u string) signinPage {
	b.t.Helper()
	resp, err := b.hc.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.read(resp)
}

// post posts an empty form to u, as the example's buttons do.
func (b *signinBrowser) post(u string) signinPage {
	b.t.Helper()
	resp, err := b.hc.PostForm(u, url.Values{})
	if err != nil {
		b.t.Fatal(err)
	}
	return b.read(resp)
}

var (
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// submit posts the page's form: its hidden fields plus extra, to its action.
func (b *signinBrowser) submit(p signinPage, extra url.Values) signinPage {
	b.t.Helper()
	m := formAction.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no form on the page (status %d): %.500s", p.status, p.body)
	}
	action, err := p.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		b.t.Fatal(err)
	}
	form := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	for k, vs := range extra {
		form[k] = vs
	}
	resp, err := b.hc.PostForm(action.String(), form)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.read(resp)
}

func (b *signinBrowser) read(resp *http.Response) signinPage {
	b.t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		b.t.Fatal(err)
	}
	return signinPage{status: resp.StatusCode, body: string(body), header: resp.Header, url: resp.Request.URL}
}

// TestSignInExample builds examples/signin, runs it next to the app and signs in,
// refreshes and signs out through it, so the example a newcomer runs can't rot.
func TestSignInExample(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "signin")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH (go test puts it there): %v", err)
	}
	build := exec.Command(goBin, "build", "-o", bin, "./examples/signin")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/signin: %v\n%s", err, out)
	}

	r := startSignin(t)
	rpURL := "http://" + testenv.FreeAddr(t)
	secret := applyTenant(t, r.base, rpURL)
	home := runExample(t, bin, "NINES_CLIENT_SECRET="+secret, "-issuer", r.base+"/t/acme", "-url", rpURL)

	b := newSigninBrowser(t, "")
	if pg := b.get(home); pg.status != http.StatusOK || !strings.Contains(pg.body, `href="/login"`) {
		t.Fatalf("home page: %d %.500s", pg.status, pg.body)
	}
	pg := b.get(rpURL + "/login")
	if !pg.isLoginForm() {
		t.Fatalf("/login: want the login form, got %d at %s: %.500s", pg.status, pg.url, pg.body)
	}
	pg = b.submit(pg, url.Values{"login": {"alice"}, "password": {"correct horse battery staple"}})
	if pg.status != http.StatusOK || pg.url.String() != home || !strings.Contains(pg.body, "alice@example.com") {
		t.Fatalf("after sign-in: %d at %s, want the claims at %s: %.800s", pg.status, pg.url, home, pg.body)
	}
	pg = b.post(rpURL + "/refresh")
	if pg.status != http.StatusOK || !strings.Contains(pg.body, "Refreshed at") {
		t.Errorf("after refresh: %d %.800s", pg.status, pg.body)
	}
	b.trail = nil
	pg = b.post(rpURL + "/logout")
	if pg.status != http.StatusOK || pg.url.String() != home || !strings.Contains(pg.body, `href="/login"`) {
		t.Errorf("after logout: %d at %s: %.500s", pg.status, pg.url, pg.body)
	}
	if len(b.trail) != 2 || !strings.HasPrefix(b.trail[0], r.base+"/t/acme/end_session?") || b.trail[1] != home {
		t.Errorf("logout redirected through %q, want the end_session_endpoint and back home", b.trail)
	}
	if pg := b.get(rpURL + "/login"); !pg.isLoginForm() {
		t.Errorf("/login after logout: want the login form, got %d at %s", pg.status, pg.url)
	}
}

// runExample starts the example binary with only env in its environment and returns
// its home page URL once it listens: it logs "open <url>" after it has bound its port.
func runExample(t *testing.T, bin, env string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{env}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log, copied := &testenv.Buffer{}, make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-copied
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("example's log:\n%s", log.String())
		}
	})
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() {
		close(copied)
		t.Fatalf("the example exited without a word: %v", cmd.Wait())
	}
	first := sc.Text()
	go func() {
		defer close(copied)
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
		}
	}()
	_, home, ok := strings.Cut(first, " open ")
	if !ok {
		t.Fatalf("the example did not start: %s", first)
	}
	return strings.Fields(home)[0]
}
