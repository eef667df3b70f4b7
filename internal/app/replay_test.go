package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/retrykey"
	"github.com/ninesid/nines/internal/store/pgtest"
)

// TestTokenExchangeReplayed: on the whole app, a code exchange the edge sends again with
// the same retry key (its answer lost on the way) gets the same tokens instead of
// invalid_grant, while the same code without a key, or with another key, is refused as
// a second redemption.
func TestTokenExchangeReplayed(t *testing.T) {
	// The test plays the edge from loopback: trusted, as the edges are in production.
	r := startSignin(t, func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.1"} })
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the test's browser should have stopped at this redirect", http.StatusTeapot)
	}))
	t.Cleanup(rp.Close)
	secret := applyTenant(t, r.base, rp.URL)

	issuer := r.base + "/t/acme"
	conf := oauth2.Config{ClientID: "web", ClientSecret: secret, RedirectURL: rp.URL + "/callback",
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/authorize", TokenURL: issuer + "/token"},
		Scopes:   []string{"openid", "offline_access"}}
	f := &signinFlow{}
	req := f.newRequest()
	b := newSigninBrowser(t, rp.URL)
	pg := b.get(conf.AuthCodeURL(req.state, req.opts()...))
	if !pg.isLoginForm() {
		t.Fatalf("authorize: want the login form, got %d: %.500s", pg.status, pg.body)
	}
	pg = b.submit(pg, url.Values{"login": {"alice"}, "password": {"correct horse battery staple"}})
	loc, err := url.Parse(pg.header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("sign-in: status %d Location %q, want a code", pg.status, pg.header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {conf.RedirectURL}, "code_verifier": {req.verifier}}.Encode()

	// exchange posts the code as the edge forwards it, with key unless "".
	hc := &http.Client{Timeout: 30 * time.Second}
	exchange := func(key string) (int, http.Header, []byte) {
		t.Helper()
		hr, err := http.NewRequest(http.MethodPost, conf.Endpoint.TokenURL, strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.SetBasicAuth(url.QueryEscape(conf.ClientID), url.QueryEscape(conf.ClientSecret))
		if key != "" {
			hr.Header.Set(retrykey.Header, key)
		}
		resp, err := hc.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, body
	}
	errorCode := func(body []byte) string {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return e.Error
	}

	key := retrykey.New()
	code1, h1, body1 := exchange(key)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
	}
	if err := json.Unmarshal(body1, &tok); code1 != 200 || err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("first exchange: %d %s", code1, body1)
	}
	if h1.Get(retrykey.ReplayedHeader) != "" {
		t.Fatal("the first exchange says it was replayed")
	}
	// The edge's retry after the answer was lost: the same tokens, not invalid_grant.
	code2, h2, body2 := exchange(key)
	if code2 != 200 || !bytes.Equal(body2, body1) || h2.Get(retrykey.ReplayedHeader) != "1" {
		t.Fatalf("repeated exchange: %d replayed=%q %s; want the first answer replayed", code2,
			h2.Get(retrykey.ReplayedHeader), body2)
	}
	if h2.Get("Cache-Control") != h1.Get("Cache-Control") || h2.Get("Content-Type") != h1.Get("Content-Type") {
		t.Errorf("replayed headers %v, first %v", h2, h1)
	}
	// The code is still single-use for anyone else.
	for name, k := range map[string]string{"without a key": "", "with another key": retrykey.New()} {
		code, h, body := exchange(k)
		if code != http.StatusBadRequest || errorCode(body) != "invalid_grant" || h.Get(retrykey.ReplayedHeader) != "" {
			t.Errorf("the code again %s: %d %s, want invalid_grant", name, code, body)
		}
	}
	// A malformed key is refused before anything runs.
	if code, _, body := exchange("not-a-retry-key"); code != http.StatusBadRequest || !strings.Contains(string(body), "malformed-request") {
		t.Errorf("malformed key: %d %s", code, body)
	}

	// The outcome counters (the first exchange recorded; the refused one with another
	// key not: an error answer is not kept) and the route label of the replayed answer.
	_, metrics := get(t, r.base+"/metrics", "")
	for _, want := range []string{
		`nines_replay_requests_total{cluster="",outcome="recorded",region="",role="all",zone=""} 1`,
		`nines_replay_requests_total{cluster="",outcome="not_recorded",region="",role="all",zone=""} 1`,
		`nines_replay_requests_total{cluster="",outcome="rejected",region="",role="all",zone=""} 1`,
		`nines_replay_requests_total{cluster="",outcome="replayed",region="",role="all",zone=""} 1`,
		`nines_http_requests_total{cluster="",code="200",region="",role="all",route="POST /t/{tenant}/token",zone=""} 2`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestLoginRoleReplayMiddleware: the login role puts the replay middleware in front of
// the login surface too: a malformed retry key is refused before the token endpoint
// runs, on the role's route, and the outcomes are exported.
func TestLoginRoleReplayMiddleware(t *testing.T) {
	cluster := pgtest.Start(t, pgtest.Options{Replicas: 2})
	db := cluster.NewDatabase(t)
	broker := startExternalNATS(t)
	cfg := loginConfig(t, db.ReplicaURLs, broker.url)
	cfg.TrustedProxies = []string{"127.0.0.1"} // the test plays the edge
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := startRole(t, "login", Options{Config: cfg, Role: RoleLogin})
	pollLoginReadyz(t, r.base, func(_ int, rd readiness) bool { return rd.Status == "ready" })

	hr, err := http.NewRequest(http.MethodPost, r.base+"/t/acme/token", strings.NewReader("grant_type=authorization_code"))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set(retrykey.Header, "not-a-retry-key")
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(string(body), "urn:nines:problem:malformed-request") {
		t.Fatalf("malformed retry key on the login role: %d %s", resp.StatusCode, body)
	}
	_, metrics := get(t, r.base+"/metrics", "")
	for _, want := range []string{
		`nines_replay_requests_total{cluster="",outcome="rejected",region="",role="login",zone=""} 1`,
		`nines_http_requests_total{cluster="",code="400",region="",role="login",route="POST /t/{tenant}/token",zone=""} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
